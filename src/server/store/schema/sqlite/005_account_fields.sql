-- 005: every field get-account answers (API.md §12, docs/account.md). Existing accounts get
-- the documented defaults, a random support code and the database code region || 'term1';
-- their codes, mimecast ids and packages stay as they are. Flags are 0 or 1.
ALTER TABLE accounts ADD COLUMN passphrase TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN support_code TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN database_code TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN content_admin_view TEXT NOT NULL DEFAULT 'Metadata';
ALTER TABLE accounts ADD COLUMN contact_email TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN contact_name TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN telephone TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN admin_session_timeout INTEGER NOT NULL DEFAULT 60;
ALTER TABLE accounts ADD COLUMN archive INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN max_retention_confirmed INTEGER NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN min_retention_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN automated_segment_purge INTEGER NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN policy_inheritance INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN search_reason INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN export_api INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN exgest_allow_query INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET support_code = upper(hex(randomblob(2))), database_code = region || 'term1';
