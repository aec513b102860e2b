-- 009: the SIEM logs (API.md §14.1): each account's time zone, an IANA name in which
-- get-siem-logs writes datetime (checked by the admin command; default UTC).
ALTER TABLE accounts ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 63);
