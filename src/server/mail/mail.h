/* The mail pipeline (API.md §13.2): the gateway's decisions on a message, from the checks
 * made while it is received to the process stage after the 250. It never sees an SMTP
 * session, as API handlers never see HTTP: the SMTP front (smtp/) copies the session's
 * facts into a struct mail_txn, asks mail_check_* at MAIL and RCPT, spools the body to a
 * file and hands it to mail_accept at the end of DATA. `mcapid admin mail inject` feeds the
 * same functions, so injected mail takes the same path.
 *
 * Each check returns a full SMTP reply or nothing (Postfix smtpd_check style): 0 with
 * reply->code 0 means "go on"; otherwise the reply to send. A lookup that fails is a 4xx
 * (451 4.3.0), never a 5xx: a store hiccup must not bounce mail.
 *
 * After the 250, a process worker (mail_start) leases each new message, parses it
 * (mime.h), runs the checks (checks.h) and records the outcome — deliver, hold, tag or
 * discard, never a bounce — with its events in one transaction; delivery/ then takes
 * over. */
#ifndef MCAPI_SERVER_MAIL_MAIL_H
#define MCAPI_SERVER_MAIL_MAIL_H

#include "server/store/store_mail.h"

#include <stddef.h>
#include <stdint.h>

struct config;
struct err;
struct mime_msg;
struct server;
struct mail;

#define MAIL_REPLY_TEXT 256

struct mail_reply {
	int code;                   /* 0 = go on; else the SMTP code (250, 451, 550, ...) */
	char text[MAIL_REPLY_TEXT]; /* enhanced status and text: "5.7.1 relay denied" */
};

/* One SMTP transaction (MAIL ... DATA) as the pipeline sees it: copied session facts, the
 * sender and the recipients accepted so far. Owned by the caller; reset it per
 * transaction with mail_txn_reset. */
struct mail_txn {
	char client_ip[64];
	char helo[256];
	char tls_version[16];
	char tls_cipher[64];
	char env_from[MAIL_ADDR_SIZE]; /* "" = <> */
	int64_t account_id;            /* the account whose mail this is (set by the checks) */
	int32_t route;                 /* enum mail_route, set by the first recipient */
	int nrcpt, cap;
	struct mail_rcpt *rcpts; /* accepted recipients (addr, domain_id), cap of them */
};

/* Allocates room for max_rcpts recipients. 0 or MC_ERR_NOMEM. */
int mail_txn_init(struct mail_txn *t, int max_rcpts);
/* Forgets the sender and the recipients (RSET, or after DATA); keeps the session facts. */
void mail_txn_reset(struct mail_txn *t);
void mail_txn_release(struct mail_txn *t);

/* Starts the pipeline's process worker on srv (its store and config). NULL + e on error. */
struct mail *mail_start(struct server *srv, struct err *e);
/* The checks only, without a worker (mcapid admin mail inject/generate): a running server
 * processes and delivers what is accepted through it. Free with mail_stop. */
struct mail *mail_open(struct server *srv, struct err *e);

/* Stops the worker (a message in progress finishes, or its lease runs out and another
 * worker or node takes it). NULL is fine. */
void mail_stop(struct mail *m);
/* New work: wake the process worker now rather than at its next poll. */
void mail_kick(struct mail *m);

/* The parse mail_accept made of message id on this node (mime.h; the caller frees it), or
 * NULL: the process worker then reads and parses the stored body. m NULL is fine. */
struct mime_msg *mail_parsed_take(struct mail *m, int64_t id);

/* Lowers the calling thread's CPU priority to cfg->mail_nice (Linux: nice is per thread,
 * and threads it starts inherit it). The mail side's threads call it first thing, so that
 * on a busy machine the API's threads are scheduled first; with idle cores it changes
 * nothing. A failure is logged once and ignored. */
void mail_thread_nice(const struct config *cfg);

/* MAIL FROM: the sender as given (without <>; "" = the null sender). Blocked-sender
 * policies act here once they exist (§18). Fills t->env_from on success. */
int mail_check_sender(struct mail *m, struct mail_txn *t, const char *from,
                      struct mail_reply *reply);

/* RCPT TO: route and recipient rules of §13.1 (inbound to an internal domain, its
 * inboundType; outbound from an internal domain via the account's relay addresses;
 * internal; otherwise 550 5.7.1 relay denied; 452 past max recipients). On success the
 * recipient is added to t. */
int mail_check_rcpt(struct mail *m, struct mail_txn *t, const char *rcpt, struct mail_reply *reply);

/* End of DATA: the message (size bytes in spool_fd from offset 0, dot-unstuffed, CRLF line
 * ends) is checked (anti-virus: EICAR in any decoded part → 554 5.7.1 and a rejected
 * record), stored (store_message_accept_body: durable) and answered 250
 * with its id; 451 4.3.0 when the store fails, leaving nothing behind. */
int mail_accept(struct mail *m, struct mail_txn *t, int spool_fd, int64_t size,
                struct mail_reply *reply);
/* The same for a message held in memory (data[0..size)), e.g. one that fit the session's
 * spool buffer and never went to the file. */
int mail_accept_mem(struct mail *m, struct mail_txn *t, const char *data, int64_t size,
                    struct mail_reply *reply);

#endif
