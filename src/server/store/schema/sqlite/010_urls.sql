-- 010: TTP URL protection (API.md §16.3; store_urls.h). Managed URLs: an account's block or
-- permit entries for a URL (match_type 'explicit': that URL) or a domain and its subdomains
-- (match_type 'domain'). The parts are kept apart, as get-all-managed-urls shows them
-- (scheme, domain, port -1 = the scheme's default, path, query); domain is lower-case. One
-- entry per account and (parts, match type): the real service refuses a second one
-- ("delete and recreate"). Clicks themselves are mail_events rows of type 'ttp_url'
-- (006_mail.sql), written in batches by the click logger.

CREATE TABLE managed_urls (
	id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: ids the API showed stay dead
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	scheme TEXT NOT NULL CHECK (scheme IN ('', 'http', 'https')),
	domain TEXT NOT NULL CHECK (length(domain) BETWEEN 1 AND 253 AND domain = lower(domain)),
	port INTEGER NOT NULL DEFAULT -1,
	path TEXT NOT NULL DEFAULT '',
	query TEXT NOT NULL DEFAULT '',
	match_type TEXT NOT NULL CHECK (match_type IN ('explicit', 'domain')),
	action TEXT NOT NULL CHECK (action IN ('block', 'permit')),
	comment TEXT NOT NULL DEFAULT '',
	disable_user_awareness INTEGER NOT NULL DEFAULT 0,
	disable_rewrite INTEGER NOT NULL DEFAULT 0,
	disable_log_click INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX managed_urls_entry
	ON managed_urls(account_id, domain, scheme, port, path, query, match_type);
