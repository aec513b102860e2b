-- 007: the directory (API.md §17; store_directory.h). Users are the rows of `users` (001): the
-- directory lists them by domain, a column computed from the address so that it can be
-- indexed. Groups (Mimecast's "folders") nest through parent_id (NULL = under the account's
-- root folder, which is not stored); their members are addresses or whole domains, stored
-- lower-case. Times are INTEGER ms (UTC).

ALTER TABLE users ADD COLUMN domain TEXT
	GENERATED ALWAYS AS (substr(email, instr(email, '@') + 1)) VIRTUAL;
-- get-internal-users: one account (and one domain), keyset pages in address order
CREATE INDEX users_account_domain ON users(account_id, domain, email);
CREATE INDEX users_account_email ON users(account_id, email);

CREATE TABLE groups (
	id INTEGER PRIMARY KEY AUTOINCREMENT, -- ids the API showed once never name another group
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
	parent_id INTEGER REFERENCES groups(id),
	source TEXT NOT NULL DEFAULT 'cloud',
	created INTEGER NOT NULL
) STRICT;
-- find-groups: keyset pages on (name, id) within one account
CREATE INDEX groups_account_name ON groups(account_id, name, id);
CREATE INDEX groups_parent ON groups(parent_id);

CREATE TABLE group_members (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	kind TEXT NOT NULL CHECK (kind IN ('email', 'domain')),
	value TEXT NOT NULL CHECK (length(value) BETWEEN 1 AND 255 AND value = lower(value)),
	created INTEGER NOT NULL,
	UNIQUE (group_id, kind, value)
) STRICT;
-- policies (§18) ask "which groups hold this address or domain"
CREATE INDEX group_members_value ON group_members(kind, value);
