-- 002: domains (API.md §5). One row per (account, name) claim; state 0 = pending, 1 = internal.
-- The API's opaque id is not stored: it is the row id under a keyed permutation (AES with a
-- key derived from the server key, see src/server/api/domain_id.h), so no random-valued index
-- scatters every insert over the whole file. Names are normalised A-labels. Times are INTEGER
-- ms (UTC); 0 = not set. last_result is 'verified' or the code of the last failed attempt.

CREATE TABLE domains (
	id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: ids of deleted domains stay dead
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	name TEXT NOT NULL CHECK (length(name) BETWEEN 3 AND 253 AND name = lower(name)),
	state INTEGER NOT NULL CHECK (state IN (0, 1)),
	inbound_type TEXT NOT NULL CHECK (inbound_type IN ('any', 'smtp', 'ldap', 'known')),
	token TEXT NOT NULL DEFAULT '' CHECK (length(token) <= 100),
	created INTEGER NOT NULL,
	expiry INTEGER NOT NULL DEFAULT 0,
	verified INTEGER NOT NULL DEFAULT 0,
	send_only INTEGER NOT NULL DEFAULT 0,
	local INTEGER NOT NULL DEFAULT 0,
	last_check INTEGER NOT NULL DEFAULT 0,
	last_result TEXT NOT NULL DEFAULT '',
	-- one claim per account and name; also the keyset index of get-provision-status
	UNIQUE (account_id, name)
) STRICT;

-- a name is internal in at most one account: the first verification wins, atomically
CREATE UNIQUE INDEX domains_internal_name ON domains(name) WHERE state = 1;

-- keyset pages of get-pending-domain and get-internal-domain: (account, state, name)
CREATE INDEX domains_account_state_name ON domains(account_id, state, name);

-- the purge of expired pending claims
CREATE INDEX domains_pending_expiry ON domains(expiry) WHERE state = 0;
