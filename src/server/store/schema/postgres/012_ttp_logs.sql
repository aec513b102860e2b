-- 012: the TTP and DLP logs (API.md §14.2; store_ttp.h) read the events of one account and
-- type in a time window, in (at, id) order either way: keyset pages need this index so that
-- a page costs the same at the start and the end of a large window.
CREATE INDEX mail_events_type_at ON mail_events(account_id, type, at, id);
