/* One SMTP session as a state machine without sockets (RFC 5321, with the extensions
 * SIZE, 8BITMIME, PIPELINING, ENHANCEDSTATUSCODES and STARTTLS): an enum of states and a
 * command table (verb, states it is allowed in, flags, handler), as in OpenSMTPD's
 * smtp_session.c and Postfix's smtpd_cmd_table. It takes bytes or lines and gives back
 * replies and what the driver (smtp.c) must do next; the driver owns the socket, the
 * deadlines and TLS. So every command, limit and byte sequence is unit-tested and fuzzed
 * without a network.
 *
 * The session asks the pipeline (mail/mail.h) at MAIL, RCPT and the end of DATA, and spools
 * the message body to an unlinked file in the spool directory while it streams in
 * (dot-unstuffed, CRLF line ends, a Received: header first), a file reused from message
 * to message when the driver gives it a smtp_spool_pool. Memory is fixed per session:
 * a 16 KiB input buffer and a 16 KiB spool buffer, whatever the client sends.
 *
 * Limits (struct config): smtp_max_size (552 5.3.4, declared at MAIL or counted in DATA),
 * smtp_max_rcpts (452 4.5.3), smtp_max_commands: at most that many commands per
 * transaction (accepted RCPTs do not count: smtp_max_rcpts bounds them) and that many
 * error replies per session, past which the session ends with 421 4.7.0. A command line
 * is at most 512 octets with its CRLF (500 5.5.2, the rest of the line skipped); a line
 * of message text at most SMTP_DATA_LINE_MAX (then 554 5.6.0 at the final dot). Lines
 * may end in CRLF or a bare LF (stored as CRLF), but only CRLF "." CRLF ends the message
 * text, so a bare-LF dot cannot smuggle a second message past a relay in front. */
#ifndef MCAPI_SERVER_SMTP_SMTP_SESSION_H
#define MCAPI_SERVER_SMTP_SMTP_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct err;
struct emu;
struct mail;
struct smtp_session;

#define SMTP_LINE_MAX      512   /* a command line with its CRLF (RFC 5321 §4.5.3.1.4) */
#define SMTP_DATA_LINE_MAX 10000 /* a text line with its CRLF (RFC: 1000; taken up to this) */
#define SMTP_IN_SIZE       16384 /* the input buffer */
#define SMTP_SPOOL_BUF     16384 /* bytes gathered before a write to the spool file */
#define SMTP_DATA_CHUNK    4096  /* a text line longer than this is handed on in pieces */
#define SMTP_MAX_HOPS      50    /* Received: headers before a message is a loop (554 5.4.6) */
#define SMTP_REPLY_MAX     1024  /* one reply, all its lines */

enum smtp_state {
	SMTP_ST_INIT, /* connected, no HELO/EHLO yet (also after STARTTLS) */
	SMTP_ST_HELO, /* greeted, no transaction */
	SMTP_ST_MAIL, /* MAIL accepted, no recipient yet */
	SMTP_ST_RCPT, /* at least one recipient accepted */
	SMTP_ST_DATA, /* receiving message text */
	SMTP_ST_QUIT, /* the session is over: the driver closes */
};

/* What the driver does after sending the reply. */
enum smtp_next {
	SMTP_NEXT_COMMAND, /* read the next command */
	SMTP_NEXT_DATA,    /* read message text (after 354) */
	SMTP_NEXT_TLS,     /* run the TLS handshake, then smtp_session_tls_on */
	SMTP_NEXT_CLOSE,   /* close the connection */
	SMTP_NEXT_INPUT,   /* smtp_session_step only: no reply; more input is needed */
};

/* Why the driver ends a session itself. */
enum smtp_end {
	SMTP_END_TIMEOUT,      /* 421 4.4.2: a command took smtp_timeout to come */
	SMTP_END_SESSION_TIME, /* 421 4.4.2: the session lasted smtp_session_max */
	SMTP_END_TXN_TIME,     /* 421 4.4.2: no DATA within smtp_txn_timeout */
	SMTP_END_DATA_SLOW,    /* 421 4.4.2: message text below smtp_data_min_rate */
	SMTP_END_SHUTDOWN,     /* 421 4.3.2: mcapid is stopping */
};

/* One reply: one or more lines, each ending in CRLF; len 0 = nothing to send. */
struct smtp_reply {
	int code; /* of the last line */
	size_t len;
	char text[SMTP_REPLY_MAX];
};

/* Spool files kept for reuse by the sessions of one front: a message's spool file is
 * emptied (ftruncate) and kept when the message is done, and the next DATA of any session
 * takes it, instead of each message creating and deleting an unlinked file. That is an
 * inode allocated and freed per message; on ext4 without a journal the allocation also
 * searches past every inode freed in the last minute or so, and creating spool and Maildir
 * files took ~40% of mcapid's CPU at 20 parallel sessions (bench/smtp.sh). Thread-safe. */
struct smtp_spool_pool;

/* A pool of unlinked files in dir (copied) keeping at most max of them. NULL: no memory. */
struct smtp_spool_pool *smtp_spool_pool_new(const char *dir, int max);

/* Closes the files kept; NULL is fine. */
void smtp_spool_pool_free(struct smtp_spool_pool *p);

/* An empty spool file at offset 0: one kept, or a new unlinked file; -1 with errno. */
int smtp_spool_take(struct smtp_spool_pool *p);

/* Gives fd back: emptied and kept, or closed when the pool is full or it cannot be
 * emptied. A file is never kept with data in it. */
void smtp_spool_give(struct smtp_spool_pool *p, int fd);

/* Files kept now, for tests. */
int smtp_spool_kept(struct smtp_spool_pool *p);

/* The memory budget of accepting messages (smtp_accept_memory): at the final dot a
 * message's text is read into memory for the checks (mail_accept), so without a budget
 * smtp_max_sessions sessions ending DATA at once would hold smtp_max_sessions times
 * smtp_max_size. A session takes its message's size from the gate before mail_accept and
 * gives it back after; when there is no room it waits up to SMTP_GATE_WAIT_MS, then
 * answers 451 4.3.1 and keeps nothing. A message larger than the whole budget passes
 * alone. Thread-safe. */
struct smtp_gate;

#define SMTP_GATE_WAIT_MS 20000

/* A gate of budget bytes. NULL: no memory. */
struct smtp_gate *smtp_gate_new(int64_t budget);

/* Takes n bytes of g's budget, waiting up to SMTP_GATE_WAIT_MS for room: 0, or -1 when
 * there is none (then nothing was taken). NULL g: 0. */
int smtp_gate_take(struct smtp_gate *g, int64_t n);

/* Gives back what smtp_gate_take took. NULL g is fine. */
void smtp_gate_give(struct smtp_gate *g, int64_t n);

/* From now on nobody waits: those waiting and those that would have to wait get -1 (451);
 * a message with room still passes. For smtp_stop, which must not wait 20 s. */
void smtp_gate_close(struct smtp_gate *g);

/* NULL is fine; nobody may be waiting. */
void smtp_gate_free(struct smtp_gate *g);

/* Bytes taken now, for tests. */
int64_t smtp_gate_used(struct smtp_gate *g);

struct smtp_session_params {
	const struct config *cfg; /* smtp_hostname and the limits; outlives the session */
	struct mail *mail;        /* handed to mail_check_* and mail_accept */
	struct emu *emu;          /* fault rules of the control plane (emu/emu.h), or NULL */
	const char *client_ip;    /* textual address, copied */
	const char *spool_dir;    /* where message text is spooled (unlinked files), copied */
	struct smtp_spool_pool *spool_pool; /* outlives the session; NULL: a file per message */
	int tls_available;                  /* STARTTLS may be offered */
	struct smtp_gate *gate;             /* outlives the session; NULL: no budget */
};

/* A new session in SMTP_ST_INIT (the greeting is still to be sent). Returns NULL with e
 * filled (MC_ERR_NOMEM) on failure. The caller owns it: smtp_session_free. */
struct smtp_session *smtp_session_new(const struct smtp_session_params *p, struct err *e);

/* Logs the end of the session (commands, messages, errors), drops a message still being
 * spooled and frees s. NULL is fine. */
void smtp_session_free(struct smtp_session *s);

/* The greeting: "220 <smtp_hostname> ESMTP mcapid". */
void smtp_session_greeting(struct smtp_session *s, struct smtp_reply *r);

/* One command line without its line end (len bytes, any content). Fills r with the reply
 * and returns what comes next: SMTP_NEXT_COMMAND, SMTP_NEXT_DATA (after 354),
 * SMTP_NEXT_TLS (after 220 to STARTTLS) or SMTP_NEXT_CLOSE. A line longer than
 * SMTP_LINE_MAX - 2 gets 500 5.5.2. In SMTP_ST_DATA the line is message text (ending in
 * CRLF) for smtp_session_data; in SMTP_ST_QUIT, r is empty and the answer SMTP_NEXT_CLOSE. */
enum smtp_next smtp_session_command(struct smtp_session *s, const char *line, size_t len,
                                    struct smtp_reply *r);

/* How a piece of message text given to smtp_session_data ends. */
enum smtp_eol {
	SMTP_EOL_NONE, /* a piece of a long line: more of it follows */
	SMTP_EOL_CRLF,
	SMTP_EOL_LF, /* a bare LF */
};

/* In SMTP_ST_DATA: one line of message text (or a piece of one) without its line end, as
 * it came (dot-stuffed). Returns SMTP_NEXT_DATA with r empty while the text goes on; at
 * the final "." the message is refused (552 5.3.4 too big, 554 5.6.0 line too long,
 * 554 5.4.6 too many hops, 451 4.3.0 spool error) or handed to mail_accept, whose reply
 * is given, and the result is SMTP_NEXT_COMMAND. */
enum smtp_next smtp_session_data(struct smtp_session *s, const char *p, size_t n, enum smtp_eol eol,
                                 struct smtp_reply *r);

/* The input buffer, for the driver: smtp_session_room gives the free space (never 0 after
 * smtp_session_step returned SMTP_NEXT_INPUT), smtp_session_filled says how many bytes
 * were read into it. */
size_t smtp_session_room(struct smtp_session *s, char **p);
void smtp_session_filled(struct smtp_session *s, size_t n);

/* Takes the buffered input apart into command lines and text lines (the capped line
 * reader: a command line past SMTP_LINE_MAX is answered 500 5.5.2 once and skipped up to
 * its LF, so the session stays in step) and hands them to smtp_session_command or
 * smtp_session_data until one gives a reply, returned with what comes next, or the input
 * is used up: SMTP_NEXT_INPUT with r empty. Pipelined commands give their replies one
 * call at a time, in order; once SMTP_NEXT_CLOSE was returned, it is returned again. */
enum smtp_next smtp_session_step(struct smtp_session *s, struct smtp_reply *r);

/* Bytes waiting in the input buffer. */
size_t smtp_session_buffered(const struct smtp_session *s);

/* The TLS handshake after STARTTLS succeeded: input buffered before it is discarded
 * (STARTTLS injection), the session starts again in SMTP_ST_INIT (RFC 3207 §4.2) and the
 * transaction records version and cipher ("TLSv1.3", "TLS_AES_256_GCM_SHA384"). */
void smtp_session_tls_on(struct smtp_session *s, const char *version, const char *cipher);

/* The driver ends the session: r gets the 421 for why, a message being received is
 * dropped, and the state is SMTP_ST_QUIT. */
void smtp_session_end(struct smtp_session *s, enum smtp_end why, struct smtp_reply *r);

/* The reply to a connection refused before a session exists (too many sessions in all,
 * or from client_ip when per_ip): 421 4.7.0, logged unless quiet (the driver logs at
 * most one refusal a second, so a flood cannot flood the log too). */
void smtp_reply_refuse(struct smtp_reply *r, const struct config *cfg, const char *client_ip,
                       int per_ip, int quiet);

enum smtp_state smtp_session_state(const struct smtp_session *s);
const char *smtp_session_id(const struct smtp_session *s); /* 12 hex digits, for logs */

#endif
