-- 005: every field get-account answers; the PostgreSQL twin of
-- schema/sqlite/005_account_fields.sql (same columns, defaults and back-fill).
ALTER TABLE accounts
	ADD COLUMN passphrase text NOT NULL DEFAULT '',
	ADD COLUMN support_code text NOT NULL DEFAULT '',
	ADD COLUMN database_code text NOT NULL DEFAULT '',
	ADD COLUMN content_admin_view text NOT NULL DEFAULT 'Metadata',
	ADD COLUMN contact_email text NOT NULL DEFAULT '',
	ADD COLUMN contact_name text NOT NULL DEFAULT '',
	ADD COLUMN telephone text NOT NULL DEFAULT '',
	ADD COLUMN admin_session_timeout bigint NOT NULL DEFAULT 60,
	ADD COLUMN archive bigint NOT NULL DEFAULT 0,
	ADD COLUMN max_retention_confirmed bigint NOT NULL DEFAULT 1,
	ADD COLUMN min_retention_enabled bigint NOT NULL DEFAULT 0,
	ADD COLUMN automated_segment_purge bigint NOT NULL DEFAULT 1,
	ADD COLUMN policy_inheritance bigint NOT NULL DEFAULT 0,
	ADD COLUMN search_reason bigint NOT NULL DEFAULT 0,
	ADD COLUMN export_api bigint NOT NULL DEFAULT 0,
	ADD COLUMN exgest_allow_query bigint NOT NULL DEFAULT 0;
UPDATE accounts SET support_code = upper(lpad(to_hex(floor(random() * 65536)::int), 4, '0')),
	database_code = region || 'term1';
