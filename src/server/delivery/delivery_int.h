/* Internals of delivery/, one small module per job so that each is tested without a store
 * or threads: route.c (what a route string means and where a recipient's mail goes), retry.c
 * (back-off and expiry, pure arithmetic), penalty.c (per-destination penalties in memory),
 * smtpc.c (one SMTP transaction with libcurl), maildir.c (one Maildir delivery), dsn.c (the
 * RFC 3464 bounce) and delivery_event.c (the SIEM "delivery" event). delivery.c is the thin
 * worker loop that ties them to the store.
 *
 * Every attempt ends in a struct deliv_result: sent, deferred or failed, the SMTP reply (or
 * for a Maildir its equivalent, "452 4.3.1 ..."), and whether the destination as a whole
 * failed (connection, greeting, time-out), which penalises it for the other recipients. */
#ifndef MCAPI_SERVER_DELIVERY_DELIVERY_INT_H
#define MCAPI_SERVER_DELIVERY_DELIVERY_INT_H

#include "server/store/store_mail.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct account;
struct buf;
struct config;
struct err;
struct server;
struct store;

/* ---- outcome of one attempt ---- */

enum deliv_status {
	DELIV_SENT = 0,  /* 2xx: delivered */
	DELIV_DEFER = 1, /* 4xx, connection failure, time-out, local temporary error */
	DELIV_FAIL = 2,  /* 5xx or a permanent local error */
};

struct deliv_result {
	int status;       /* enum deliv_status */
	int code;         /* the SMTP reply code, or its equivalent; 0 = none */
	int site;         /* the destination failed as a whole: penalise it */
	int64_t sent;     /* bytes of the message handed over */
	int new_unsynced; /* Maildir, deliv_dest.maildir_batch: in new/, new/ not fsync'd yet */
	char reply[MAIL_REPLY_SIZE]; /* "250 2.0.0 Ok", "451 4.4.1 connection refused ..." */
};

/* Sets res to status with code and a printf-style reply (the code is written first).
 * Returns status. */
int deliv_result_set(struct deliv_result *res, int status, int code, int site, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* ---- routes (route.c) ---- */

enum deliv_kind { DEST_SMTP = 1, DEST_MAILDIR = 2 };

struct deliv_dest {
	int kind;                   /* enum deliv_kind */
	char host[256];             /* SMTP: a name, an IPv4 address or [IPv6] */
	unsigned port;              /* SMTP: default 25 */
	char root[MAIL_ROUTE_SIZE]; /* Maildir: <root>/<domain>/<local part>/ */
	char name[MAIL_ROUTE_SIZE]; /* smtp://host:port | maildir:ROOT (Route of the event) */
	uint64_t maildir_key;       /* Maildir: the recipient row, or 0 (see maildir_deliver_key) */
	int maildir_batch; /* Maildir: leave new/'s fsync to the caller (maildir_sync_new) */
};

/* Parses a route: "smtp://host[:port][/]" (host a name, IPv4 or [IPv6]; port 1-65535,
 * default 25) or "maildir:PATH" (an absolute or relative directory). Returns 0 or
 * MC_ERR_INVALID with the reason in e. */
int route_parse(const char *s, struct deliv_dest *out, struct err *e);

/* Where one recipient's mail goes: dest (the domain's route) when set; otherwise outbound
 * mail goes to cfg->smarthost when set; everything else to the Maildirs under
 * cfg->maildir_root. There is no MX lookup: nothing goes to the internet. route is an enum
 * mail_route. 0 or MC_ERR_INVALID (a route that does not parse). */
int route_resolve(const char *dest, int route, const struct config *cfg, struct deliv_dest *out,
                  struct err *e);

/* How an SMTP destination is reached. */
struct smtpc_opts {
	const char *helo; /* our name in EHLO/HELO */
	long connect_timeout_ms;
	long timeout_ms; /* the whole transaction */
};

/* Delivers data[0..len) to rcpt from env_from ("" = the null sender) at d: smtpc_send or
 * maildir_deliver. Returns res->status. */
int route_deliver(const struct deliv_dest *d, const struct smtpc_opts *o, const char *env_from,
                  const char *rcpt, const char *data, size_t len, struct deliv_result *res);

/* ---- back-off and expiry (retry.c) ---- */

/* Seconds to wait after the attempts-th failed attempt (1 = the first):
 * clamp(retry_min * 2^(attempts - 1), retry_min, retry_max), without overflow. */
int64_t retry_backoff(int attempts, int retry_min, int retry_max);

/* The recipient state that records an attempt's status (enum deliv_status): RCPT_DELIVERED,
 * RCPT_FAILED, or for a deferral RCPT_DEFERRED with *next_attempt = now + backoff — unless
 * the message has waited longer than queue_max_age seconds since it was received: then
 * RCPT_EXPIRED. Times in ms; *next_attempt is 0 for final states. */
int32_t retry_decide(int status, int attempts, int64_t now, int64_t received, int retry_min,
                     int retry_max, int queue_max_age, int64_t *next_attempt);

/* ---- per-destination penalties (penalty.c) ---- */

#define PENALTY_SLOTS 64
#define PENALTY_MS    60000 /* a penalty decays after a minute */

struct penalty_slot {
	char key[300]; /* host:port; "" = free */
	int64_t until;
	char reply[MAIL_REPLY_SIZE];
};

/* After a destination failed as a whole, the other recipients for it are deferred without
 * a connection until the penalty decays (OpenSMTPD's route penalty); a success lifts it.
 * Shared by the workers, guarded by its mutex. Full table: the slot that ends first goes. */
struct penalty_table {
	pthread_mutex_t mu;
	struct penalty_slot slot[PENALTY_SLOTS];
};

void penalty_init(struct penalty_table *t);
void penalty_release(struct penalty_table *t);
/* 1 and the failure's reply in reply (size bytes) if key is penalised at now; else 0. */
int penalty_check(struct penalty_table *t, const char *key, int64_t now, char *reply, size_t size);
/* Penalises key until now + PENALTY_MS with reply as the reason. */
void penalty_add(struct penalty_table *t, const char *key, int64_t now, const char *reply);
/* Lifts key's penalty (the destination answered). */
void penalty_clear(struct penalty_table *t, const char *key);

/* ---- SMTP client (smtpc.c) ---- */

/* One SMTP transaction with libcurl: EHLO (HELO fallback), MAIL FROM:<env_from> (<> for
 * ""), RCPT TO:<rcpt>, DATA with data[0..len) (CRLF line ends expected; curl dot-stuffs),
 * no TLS. The server's reply decides: 2xx sent; 4xx deferred; 5xx failed; a connection
 * failure, a time-out or a 4xx/5xx before MAIL (greeting, EHLO) deferred and res->site set.
 * res->reply is the server's reply to the command that decided (lines joined by spaces) or
 * curl's error. Returns res->status. */
int smtpc_send(const char *host, unsigned port, const struct smtpc_opts *o, const char *env_from,
               const char *rcpt, const char *data, size_t len, struct deliv_result *res);

/* ---- Maildir (maildir.c) ---- */

/* The Maildir of rcpt under root: <root>/<domain>/<local part>, both lower-cased, '/' and
 * control bytes turned into '_', a leading '.' into '_' (so no name climbs out of root).
 * 0, or MC_ERR_INVALID for an address without '@' or a local part or domain that is empty,
 * or MC_ERR_TOO_LARGE past size. */
int maildir_path(const char *root, const char *rcpt, char *out, size_t size);

/* Delivers data[0..len) into the Maildir of rcpt under root: creates <dir>/{cur,new,tmp}
 * (0700) as needed, writes tmp/<unique> with O_EXCL, fsyncs it, renames it into new/ and
 * fsyncs new/ (and any directory it created), so a 2xx-equivalent result means the mail
 * survives power loss. Errors go through maildir_errno_status. Returns res->status. */
int maildir_deliver(const char *root, const char *rcpt, const char *data, size_t len,
                    struct deliv_result *res);

/* The same with a file name made from key (the recipient row) instead of a unique one: a
 * delivery repeated after a crash between the rename and the recorded outcome replaces the
 * same file in new/ rather than adding a second copy, so each recipient gets a message once.
 * key 0 = maildir_deliver. */
int maildir_deliver_key(const char *root, const char *rcpt, const char *data, size_t len,
                        uint64_t key, struct deliv_result *res);

/* maildir_deliver_key without the last step, new/'s fsync, for a caller that delivers a
 * batch and syncs each directory once (maildir_sync_new) before it records any outcome:
 * on success res->new_unsynced is 1 and the file is durable but its name in new/ is not
 * yet. key must not be 0 (a failed sync is then repaired by the next attempt, which
 * writes the same name). */
int maildir_deliver_batch(const char *root, const char *rcpt, const char *data, size_t len,
                          uint64_t key, struct deliv_result *res);

/* fsync of the new/ directory of rcpt's Maildir under root; its path in dir (size bytes).
 * 0, or a deferral in res (maildir_errno_status) returning its status. */
int maildir_sync_new(const char *root, const char *rcpt, char *dir, size_t size,
                     struct deliv_result *res);

/* The one mapping of a system error to a delivery status: temporary trouble (ENOSPC,
 * EDQUOT, EIO, EROFS, EMFILE, ENOMEM, ... and anything unknown) defers with a 4.x.x
 * status, a mailbox that cannot work as configured (EACCES, EPERM, ENOTDIR, EISDIR, ELOOP,
 * ENAMETOOLONG, EFBIG, ...) fails with a 5.x.x one. what and path name the step for the
 * reply ("create", "/var/mail/x/tmp/..."). Returns res->status. */
int maildir_errno_status(int err, const char *what, const char *path, struct deliv_result *res);

/* ---- bounces (dsn.c) ---- */

struct dsn_rcpt {
	const char *addr;
	int32_t state;     /* RCPT_FAILED or RCPT_EXPIRED */
	const char *reply; /* the last reply, "" if none */
};

struct dsn_input {
	const char *hostname; /* Reporting-MTA and MAILER-DAEMON@hostname */
	const char *env_from; /* the original sender: the DSN's To: */
	const char *acode;    /* makes the boundary and Message-ID unique */
	int64_t arrival;      /* when the original was received (ms) */
	int64_t now;
	const struct dsn_rcpt *rcpts;
	int nrcpts;
	const char *orig; /* the original message; its header block is attached */
	size_t orig_len;
};

#define DSN_MAX_HEADERS 65536 /* bytes of the original header block attached */

/* Appends an RFC 3464 multipart/report (report-type=delivery-status) to out: a text part
 * naming each failed recipient and its last reply, a message/delivery-status part and the
 * original header block as text/rfc822-headers, CRLF line ends. 0 or a buf error. */
int dsn_build(const struct dsn_input *in, struct buf *out);

/* Length of the header block of data (up to and without the empty line ending it). */
size_t dsn_header_len(const char *data, size_t len);

/* The unfolded value of the first header name (case-insensitive) in the header block of
 * data, into out (size bytes, truncated). 1 if found, 0 if not. */
int dsn_header_get(const char *data, size_t len, const char *name, char *out, size_t size);

/* 1 if data is itself a delivery status notification (Content-Type multipart/report with
 * report-type=delivery-status): it never gets a bounce. */
int dsn_is_report(const char *data, size_t len);

/* ---- the SIEM event (delivery_event.c) ---- */

struct delivery_event_in {
	const struct delivery_job *job;
	const struct message *msg;     /* NULL if it could not be read */
	const char *acc;               /* accountCode, "" if unknown */
	const struct deliv_dest *dest; /* NULL if the route did not parse */
	const struct deliv_result *res;
	int attempt;     /* 1 = the first */
	int32_t state;   /* the recipient state recorded */
	int64_t at;      /* when the attempt ended (ms) */
	int64_t latency; /* ms the attempt took */
};

/* Appends the "delivery" event's JSON object to out: at, acc, aCode, Delivered, Attempt,
 * Latency, Snt, UseTls, Dir, Route, Rcpt, Sender ("<>" for the null sender), MsgId, Subject,
 * IP, AttCnt, AttSize, MsgSize, ReceiptAck (the 2xx reply, else null), and for an attempt
 * that did not deliver RejType, RejCode, RejInfo. 0 or a buf error. */
int delivery_event_json(const struct delivery_event_in *in, struct buf *out);

/* ---- the workers (delivery.c) ---- */

/* The store calls the workers make, as a table: delivery_store_ops (delivery_store.c) holds
 * the store's own functions; tests give a queue in memory. */
struct delivery_store_ops {
	int (*lease)(struct store *st, int64_t now, int64_t lease_ms, struct delivery_job *jobs,
	             int max, int *n, struct err *e);
	int (*done)(struct store *st, int64_t rcpt_id, int64_t lease_until, int32_t state,
	            int64_t next_attempt, const char *reply, const struct mail_event *ev,
	            int *bounce, struct err *e);
	int (*body_get)(struct store *st, int64_t body_id, char **data, size_t *len, struct err *e);
	int (*message_get)(struct store *st, int64_t account_id, int64_t id, struct message *out,
	                   struct err *e);
	void (*message_release)(struct message *m);
	int (*account_get)(struct store *st, int64_t id, struct account *out, struct err *e);
	int (*message_rcpts)(struct store *st, int64_t message_id,
	                     int (*fn)(void *arg, const struct mail_rcpt *r), void *arg,
	                     struct err *e);
	int (*mail_domain)(struct store *st, const char *name, struct mail_domain *out,
	                   struct err *e);
	/* optional (NULL: each outcome is a transaction of its own): the outcomes of a batch
	 * recorded in one transaction */
	int (*tx_begin)(struct store *st, struct err *e);
	int (*tx_commit)(struct store *st, struct err *e);
	void (*tx_rollback)(struct store *st);
};

extern const struct delivery_store_ops delivery_store_ops;

/* delivery_start with the store calls of ops and an idle poll every poll_ms (0: 1 s). */
struct delivery *delivery_start_ops(struct server *srv, const struct delivery_store_ops *ops,
                                    int poll_ms, struct err *e);

#endif
