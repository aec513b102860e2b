-- 013: nothing. PostgreSQL's 013 adds the state several nodes share (replay set, rate-limit
-- buckets, cache notifications); one SQLite process keeps that in memory. The version keeps
-- both schema directories in step.
SELECT 1;
