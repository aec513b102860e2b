-- 013: the state that several mcapid nodes on one database share (API.md §15,
-- docs/postgres.md): the replay set, the rate-limit buckets and per-IP counters, and the
-- notifications that keep every node's caches in step. SQLite's 013 is empty: one process
-- keeps these in memory.

-- (access key, x-mc-req-id) pairs that ran, as a keyed hash; expires is the wall-clock
-- second after which the request's date no longer passes the skew check, so a row past it
-- can be dropped or overwritten. Logged: a replay must stay refused after a PostgreSQL
-- restart (the gate commits asynchronously, see pg_shared.c).
CREATE TABLE replay_ids (
	pair bytea PRIMARY KEY,
	expires bigint NOT NULL
);
CREATE INDEX replay_ids_expires ON replay_ids(expires);

-- Token buckets (ratelimit.h): kind 1 = a user's buckets, 2 = client IPs. Unlogged: a
-- crash of the database refills every bucket, which is harmless, and writes skip the WAL.
CREATE UNLOGGED TABLE rl_buckets (
	kind smallint NOT NULL,
	key bigint NOT NULL,
	tokens bigint NOT NULL,
	last_ms bigint NOT NULL,
	lim bigint NOT NULL,
	refill_ms bigint NOT NULL,
	ok boolean NOT NULL DEFAULT true, -- the last take found a call (pg_shared.c sql_gate)
	PRIMARY KEY (kind, key)
);

-- rl_bucket_step() of ratelimit.c on the database clock (nodes' clocks may differ), under
-- the row lock of the upsert: concurrent calls on any node see each other's takes.
CREATE FUNCTION mc_rl_step(p_kind smallint, p_key bigint, p_lim bigint, p_refill bigint,
                           p_take boolean, OUT allowed boolean, OUT remaining bigint,
                           OUT reset_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
	now_ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
	t bigint;
	l bigint;
	n bigint;
BEGIN
	p_lim := greatest(p_lim, 1);
	p_refill := greatest(p_refill, 1);
	IF p_take THEN
		INSERT INTO rl_buckets AS b (kind, key, tokens, last_ms, lim, refill_ms)
		VALUES (p_kind, p_key, p_lim, now_ms, p_lim, p_refill)
		ON CONFLICT (kind, key) DO UPDATE SET lim = excluded.lim
		RETURNING b.tokens, b.last_ms INTO t, l;
	ELSE
		SELECT b.tokens, b.last_ms INTO t, l FROM rl_buckets b
		WHERE b.kind = p_kind AND b.key = p_key;
		IF NOT FOUND THEN
			t := p_lim;
			l := now_ms;
		END IF;
	END IF;
	t := least(t, p_lim);
	IF t >= p_lim THEN
		l := now_ms;
	ELSIF now_ms >= l THEN
		n := (now_ms - l) / p_refill;
		IF n >= p_lim - t THEN
			t := p_lim;
			l := now_ms;
		ELSIF n > 0 THEN
			t := t + n;
			l := l + n * p_refill;
		END IF;
	END IF;
	allowed := t > 0;
	IF allowed AND p_take THEN
		t := t - 1;
	END IF;
	remaining := t;
	reset_ms := 0;
	IF t < p_lim THEN
		reset_ms := greatest(p_refill - greatest(now_ms - l, 0), 0);
	END IF;
	IF p_take THEN
		UPDATE rl_buckets SET tokens = t, last_ms = l, refill_ms = p_refill
		WHERE kind = p_kind AND key = p_key;
	END IF;
END $$;

-- A signed call's one round trip is one plain statement (pg_shared.c sql_gate, no PL/pgSQL:
-- it is the hot path): it refuses a pair that ran, takes a call from the user's bucket with
-- the arithmetic of mc_rl_step written into the upsert (ok records whether a call was
-- left), records the pair when one was and the function will run, and reads cache_gen.

-- Cache invalidation: a write that changes what a node caches (authcache: applications,
-- accounts, users, bindings; listcache and the gateway: domains, policies) notifies channel
-- mcapi_cache with the table's name, sent at commit (and only then) to every node's listener
-- (store_shared.h). Equal payloads of one transaction are sent once. The notification may
-- reach a node a moment after the writer's client has its answer, so the same transaction
-- also counts the change in cache_gen, which every signed call reads in the gate: a call that
-- follows a logout, on any node, is refused however late the notification is. These tables
-- are written under the store's write lock (pg.c), so the one row is no new contention.
CREATE TABLE cache_gen (
	id integer PRIMARY KEY CHECK (id = 1),
	gen bigint NOT NULL
);
INSERT INTO cache_gen VALUES (1, 1);

CREATE FUNCTION mc_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE cache_gen SET gen = gen + 1 WHERE id = 1;
	PERFORM pg_notify('mcapi_cache', TG_TABLE_NAME);
	RETURN NULL;
END $$;

CREATE TRIGGER bindings_notify AFTER UPDATE OR DELETE ON bindings
	FOR EACH STATEMENT EXECUTE FUNCTION mc_cache_notify();
CREATE TRIGGER applications_notify AFTER UPDATE OR DELETE ON applications
	FOR EACH STATEMENT EXECUTE FUNCTION mc_cache_notify();
CREATE TRIGGER accounts_notify AFTER UPDATE OR DELETE ON accounts
	FOR EACH STATEMENT EXECUTE FUNCTION mc_cache_notify();
-- a login's failure counter and a rehash change nothing a signed call reads
CREATE TRIGGER users_notify AFTER UPDATE ON users FOR EACH ROW
	WHEN ((OLD.account_id, OLD.email, OLD.name, OLD.perms, OLD.binding_ttl_ms,
	       OLD.extend_on_validate, OLD.disabled, OLD.name_key, OLD.domain)
	      IS DISTINCT FROM
	      (NEW.account_id, NEW.email, NEW.name, NEW.perms, NEW.binding_ttl_ms,
	       NEW.extend_on_validate, NEW.disabled, NEW.name_key, NEW.domain))
	EXECUTE FUNCTION mc_cache_notify();
CREATE TRIGGER users_delete_notify AFTER DELETE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION mc_cache_notify();
CREATE TRIGGER domains_notify AFTER INSERT OR UPDATE OR DELETE ON domains
	FOR EACH STATEMENT EXECUTE FUNCTION mc_cache_notify();
CREATE TRIGGER sender_policies_notify AFTER INSERT OR UPDATE OR DELETE ON sender_policies
	FOR EACH STATEMENT EXECUTE FUNCTION mc_cache_notify();
