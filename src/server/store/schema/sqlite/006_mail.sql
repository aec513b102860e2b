-- 006: the gateway's mail (API.md §13, §16; store_mail.h): bodies in chunks, messages, their
-- recipients' delivery state, the events of every check (the SIEM logs read them), each
-- internal domain's mail route and each account's outbound relay addresses. Times are
-- INTEGER ms (UTC); 0 = not set. States are the enums of store_mail.h.

-- A body: written in chunks of at most 256 KiB (each in its own transaction) before the
-- message that claims it; an unclaimed body older than an hour is garbage (store_mail_gc).
CREATE TABLE bodies (
	id INTEGER PRIMARY KEY,
	size INTEGER NOT NULL CHECK (size >= 0),
	created INTEGER NOT NULL,
	claimed INTEGER NOT NULL DEFAULT 0 -- a message refers to it
) STRICT;
CREATE INDEX bodies_unclaimed ON bodies(created) WHERE claimed = 0;

CREATE TABLE message_bodies (
	id INTEGER PRIMARY KEY,
	body_id INTEGER NOT NULL REFERENCES bodies(id),
	seq INTEGER NOT NULL,
	data BLOB NOT NULL,
	UNIQUE (body_id, seq)
) STRICT;

-- AUTOINCREMENT: ids the API showed once never name another message
CREATE TABLE messages (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	received INTEGER NOT NULL,
	body_id INTEGER NOT NULL DEFAULT 0, -- bodies.id; 0 = none (a rejected message)
	acode TEXT NOT NULL,
	msg_id TEXT NOT NULL DEFAULT '',
	env_from TEXT NOT NULL DEFAULT '',
	from_addr TEXT NOT NULL DEFAULT '',
	from_name TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	size INTEGER NOT NULL DEFAULT 0,
	client_ip TEXT NOT NULL DEFAULT '',
	helo TEXT NOT NULL DEFAULT '',
	tls_version TEXT NOT NULL DEFAULT '',
	tls_cipher TEXT NOT NULL DEFAULT '',
	route INTEGER NOT NULL CHECK (route BETWEEN 0 AND 2),
	status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 7),
	hold_reason TEXT NOT NULL DEFAULT '',
	hold_reason_id TEXT NOT NULL DEFAULT '',
	held INTEGER NOT NULL DEFAULT 0,
	spam_score INTEGER NOT NULL DEFAULT 0,
	processed INTEGER NOT NULL DEFAULT 0,
	has_attachments INTEGER NOT NULL DEFAULT 0,
	nrcpt INTEGER NOT NULL DEFAULT 0,
	attachments TEXT, -- JSON array or NULL
	urls TEXT,        -- JSON array or NULL
	lease_until INTEGER NOT NULL DEFAULT 0 -- the process stage's lease
) STRICT;
-- tracking and every list of one account, keyset pages on (received, id)
CREATE INDEX messages_account_received ON messages(account_id, received, id);
-- the hold queue (status 1) and any other status filter, in the same order; hold summaries
CREATE INDEX messages_account_status ON messages(account_id, status, received, id);
-- lists across accounts and the retention purge
CREATE INDEX messages_received ON messages(received, id);
-- searches by Message-ID
CREATE INDEX messages_msg_id ON messages(msg_id) WHERE msg_id <> '';
-- the process stage: accepted messages not yet processed, oldest first
CREATE INDEX messages_unprocessed ON messages(received, id) WHERE processed = 0 AND status = 0;

-- One row per recipient. queued = 1 once the process stage (or hold-release) handed the
-- recipient to delivery: only those are in the delivery index, so a backlog of unprocessed
-- mail costs the delivery workers nothing. An in-flight recipient's next_attempt is its lease
-- end, so an expired lease is due like a deferred retry.
CREATE TABLE recipients (
	id INTEGER PRIMARY KEY,
	message_id INTEGER NOT NULL REFERENCES messages(id),
	addr TEXT NOT NULL,
	domain_id INTEGER NOT NULL DEFAULT 0, -- domains.id of an internal domain; 0 = outbound
	state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 7),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL DEFAULT 0,
	lease_until INTEGER NOT NULL DEFAULT 0,
	done INTEGER NOT NULL DEFAULT 0,
	last_reply TEXT NOT NULL DEFAULT '',
	queued INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX recipients_message ON recipients(message_id);
-- the delivery queue: due recipients per state in retry-time order
CREATE INDEX recipients_due ON recipients(state, next_attempt) WHERE queued = 1;

-- The events of the checks (SIEM log types). AUTOINCREMENT: ids only grow, so a reader that
-- pages through one type by id never sees an id reused.
CREATE TABLE mail_events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	message_id INTEGER REFERENCES messages(id),
	type TEXT NOT NULL CHECK (length(type) BETWEEN 1 AND 31),
	at INTEGER NOT NULL,
	data TEXT NOT NULL -- a JSON object (checked by store_mail.c)
) STRICT;
CREATE INDEX mail_events_type ON mail_events(account_id, type, id);
CREATE INDEX mail_events_message ON mail_events(message_id);

-- The mail route of an internal domain: smtp://host:port | maildir:PATH; '' = the default.
ALTER TABLE domains ADD COLUMN mail_route TEXT NOT NULL DEFAULT '';

-- Outbound relay addresses of an account: a canonical address or CIDR prefix as text.
CREATE TABLE relay_ips (
	id INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	cidr TEXT NOT NULL CHECK (length(cidr) BETWEEN 2 AND 49),
	created INTEGER NOT NULL,
	UNIQUE (account_id, cidr)
) STRICT;
