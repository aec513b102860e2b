-- 009: the PostgreSQL twin of schema/sqlite/009_siem.sql: each account's time zone, an IANA
-- name in which get-siem-logs writes datetime (checked by the admin command; default UTC).
ALTER TABLE accounts ADD COLUMN timezone text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 63);
