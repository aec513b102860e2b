-- 011: indexed look-ups for the SMTP front (issue 9, performance). Sender policies are no
-- longer read whole on every transaction: the store selects only those that can match one
-- (sender, recipient) pair (store_policy_candidates): by a side's value (an address, a domain,
-- or a group's row id in decimal), or, for policies whose sides take no value, through a
-- partial index of those. The value indexes leave out the empty values (of everyone and the
-- like): with them, SQLite's statistics saw 10,000 policies of one to_value ('') and it walked
-- that run for each look-up. Users get name_key, the display name as impersonation checks compare
-- it (NFKC, case-folded, blanks collapsed; computed by mcapid, src/server/namekey.c), so the
-- process stage finds the internal users of one display name with one indexed look-up. NULL =
-- not computed yet (rows older than this migration, or written by other programs): mcapid fills
-- it at start, and the look-up also returns such rows so that they are compared in C.

CREATE INDEX sender_policies_from ON sender_policies(account_id, from_value)
	WHERE from_value <> '';
CREATE INDEX sender_policies_to ON sender_policies(account_id, to_value)
	WHERE to_value <> '';
CREATE INDEX sender_policies_valueless ON sender_policies(account_id, id)
	WHERE from_type IN ('everyone', 'internal_addresses', 'external_addresses')
	AND to_type IN ('everyone', 'internal_addresses', 'external_addresses');

ALTER TABLE users ADD COLUMN name_key TEXT;
CREATE INDEX users_account_name_key ON users(account_id, name_key);
