-- 003: login and audit queries; the PostgreSQL twin of schema/sqlite/003_login_audit.sql.
-- Failed-login counters of names that are not users, keyed by a keyed hash of the name.
CREATE TABLE login_failures (
	name_key text COLLATE "C" PRIMARY KEY,
	failures integer NOT NULL CHECK (failures >= 0),
	locked_until bigint NOT NULL DEFAULT 0,
	updated bigint NOT NULL
);
CREATE INDEX login_failures_updated ON login_failures(updated);

-- get-audit-events pages newest first on (event_time, public_id)
CREATE INDEX audit_events_page ON audit_events(account_id, event_time, public_id);
