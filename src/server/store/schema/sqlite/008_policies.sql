-- 008: sender policies (API.md §18; store_policy.h). One table holds both kinds: kind 0 is a
-- blocked-senders policy (/api/policy/blockedsenders/*, action 0 block_sender or 2
-- no_action), kind 1 a managed sender (/api/managedsender/permit-or-block-sender, action 0
-- block or 1 permit; one entry per account, sender and recipient, replaced by the next
-- call). from/to name everyone, an address, a domain, the account's internal or external
-- addresses, or a group (profile_group: value is the group's row id in decimal). Values are
-- stored lower-case. Times are INTEGER ms (UTC); from_date/to_date apply unless *_eternal.
-- The SMTP front reads this table on every transaction (no cache), so a policy made on one
-- node acts on the next message of every node.

CREATE TABLE sender_policies (
	id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: ids the API showed stay dead
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	kind INTEGER NOT NULL CHECK (kind IN (0, 1)),
	action INTEGER NOT NULL CHECK (action IN (0, 1, 2)),
	description TEXT NOT NULL DEFAULT '',
	comment TEXT NOT NULL DEFAULT '',
	from_part TEXT NOT NULL CHECK (from_part IN ('envelope_from', 'header_from', 'both')),
	from_type TEXT NOT NULL,
	from_value TEXT NOT NULL DEFAULT '' CHECK (from_value = lower(from_value)),
	to_type TEXT NOT NULL,
	to_value TEXT NOT NULL DEFAULT '' CHECK (to_value = lower(to_value)),
	from_eternal INTEGER NOT NULL DEFAULT 1,
	to_eternal INTEGER NOT NULL DEFAULT 1,
	from_date INTEGER NOT NULL DEFAULT 0,
	to_date INTEGER NOT NULL DEFAULT 0,
	override INTEGER NOT NULL DEFAULT 0,
	bidirectional INTEGER NOT NULL DEFAULT 0,
	enforced INTEGER NOT NULL DEFAULT 0,
	enabled INTEGER NOT NULL DEFAULT 1,
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL
) STRICT;
-- get-policy pages and the SMTP-time evaluation: one account's policies of one kind
CREATE INDEX sender_policies_account ON sender_policies(account_id, kind, id);
-- permit-or-block-sender replaces the entry of the same sender and recipient
CREATE UNIQUE INDEX sender_policies_managed ON sender_policies(account_id, from_value, to_value)
	WHERE kind = 1;
