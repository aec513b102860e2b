-- 011: indexed look-ups for the SMTP front; the PostgreSQL twin of
-- schema/sqlite/011_policy_lookup.sql (same indexes, same column, same meaning): sender
-- policies selected by a side's value or through the partial index of value-less policies;
-- users.name_key, the display name as impersonation checks compare it (computed by mcapid;
-- NULL = not yet, filled at start and still compared in C until then).

CREATE INDEX sender_policies_from ON sender_policies(account_id, from_value)
	WHERE from_value <> '';
CREATE INDEX sender_policies_to ON sender_policies(account_id, to_value)
	WHERE to_value <> '';
CREATE INDEX sender_policies_valueless ON sender_policies(account_id, id)
	WHERE from_type IN ('everyone', 'internal_addresses', 'external_addresses')
	AND to_type IN ('everyone', 'internal_addresses', 'external_addresses');

ALTER TABLE users ADD COLUMN name_key text COLLATE "C";
CREATE INDEX users_account_name_key ON users(account_id, name_key);
