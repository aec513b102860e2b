-- 003: login and audit queries (issue 4).
-- Failed-login counters of names that are not users, so an unknown name locks out like a
-- real one (no user enumeration). name_key is a keyed hash of the lower-cased name chosen
-- by the server: attempted names are never stored.
CREATE TABLE login_failures (
	name_key TEXT PRIMARY KEY,
	failures INTEGER NOT NULL CHECK (failures >= 0),
	locked_until INTEGER NOT NULL DEFAULT 0,
	updated INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX login_failures_updated ON login_failures(updated);

-- get-audit-events pages newest first on (event_time, public_id): the cursor holds only
-- what the API shows anyway.
CREATE INDEX audit_events_page ON audit_events(account_id, event_time, public_id);
