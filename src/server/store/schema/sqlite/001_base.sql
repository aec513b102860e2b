-- 001: accounts, applications, users, bindings, audit events, and store metadata.
-- Times are INTEGER milliseconds since the epoch (UTC); 0 means "not set" (never revoked,
-- never expires, not locked). Secrets are BLOBs sealed with the server key (keyfile.h):
-- applications.app_key with additional data 'app:' || app_id, bindings.secret with
-- 'binding:' || access_key. Migrations run inside a transaction each: no BEGIN/COMMIT here.

CREATE TABLE store_meta (
	name TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE accounts (
	id INTEGER PRIMARY KEY,
	code TEXT NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 31),
	name TEXT NOT NULL,
	region TEXT NOT NULL,
	admin_email TEXT NOT NULL DEFAULT '',
	mimecast_id TEXT NOT NULL UNIQUE CHECK (length(mimecast_id) BETWEEN 1 AND 63),
	type TEXT NOT NULL DEFAULT '',
	domain TEXT NOT NULL DEFAULT '',
	packages TEXT NOT NULL DEFAULT '[]',
	max_retention INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
) STRICT;

CREATE TABLE applications (
	id INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	app_id TEXT NOT NULL UNIQUE CHECK (length(app_id) BETWEEN 1 AND 63),
	app_key BLOB NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	revoked INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX applications_account ON applications(account_id, id);

CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	email TEXT NOT NULL UNIQUE CHECK (length(email) BETWEEN 1 AND 255 AND email = lower(email)),
	name TEXT NOT NULL DEFAULT '',
	perms INTEGER NOT NULL DEFAULT 0,
	password_hash TEXT NOT NULL DEFAULT '',
	binding_ttl_ms INTEGER NOT NULL DEFAULT 0 CHECK (binding_ttl_ms >= -1),
	extend_on_validate INTEGER NOT NULL DEFAULT 0,
	failed_logins INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL,
	disabled INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX users_account ON users(account_id, id);

CREATE TABLE bindings (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id),
	app_row_id INTEGER NOT NULL REFERENCES applications(id),
	access_key TEXT NOT NULL UNIQUE CHECK (length(access_key) BETWEEN 1 AND 95),
	secret BLOB NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL DEFAULT 0,
	ttl_ms INTEGER NOT NULL CHECK (ttl_ms = -1 OR ttl_ms > 0),
	extend_on_validate INTEGER NOT NULL DEFAULT 0,
	revoked INTEGER NOT NULL DEFAULT 0
) STRICT;
-- a user's active bindings, oldest first (list, count, the max-bindings limit)
CREATE INDEX bindings_user ON bindings(user_id, revoked, created, id);
CREATE INDEX bindings_app ON bindings(app_row_id);

-- public_id is what the API shows (random, URL-safe); id orders and pages internally.
-- account_id is NULL for events outside any account (a failed login for an unknown name).
CREATE TABLE audit_events (
	id INTEGER PRIMARY KEY,
	public_id TEXT NOT NULL UNIQUE,
	account_id INTEGER REFERENCES accounts(id),
	event_time INTEGER NOT NULL,
	user_name TEXT NOT NULL DEFAULT '',
	audit_type TEXT NOT NULL,
	category TEXT NOT NULL,
	info TEXT NOT NULL DEFAULT ''
) STRICT;
-- get-audit-events: one account, a time range, keyset pages on (event_time, id)
CREATE INDEX audit_events_account_time ON audit_events(account_id, event_time, id);
