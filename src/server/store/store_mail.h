/* The store's mail records (API.md §13, §16): messages the gateway accepted, their bodies,
 * their recipients' delivery state, the events each check writes (the SIEM/TTP logs of
 * §14 read them), each internal domain's mail route and each account's outbound relay
 * addresses. Same conventions as store.h: fixed-size records copied by value (the two
 * JSON texts of struct message are the exception: see message_release), times in ms since
 * the epoch (UTC), errors 0, MC_ERR_NOT_FOUND, MC_ERR_EXISTS, MC_ERR_UNAVAILABLE or
 * MC_ERR_STORE (message in e); MC_ERR_STATE where a record is not in the state an action
 * needs (a message released twice).
 *
 * Durability: store_message_accept is the SMTP 250 commit point. When it returns 0, the
 * message, its body and one row per recipient are committed so that they survive power loss
 * (SQLite: that commit is made with synchronous=FULL; PostgreSQL: synchronous_commit on).
 * Concurrent accepts may be committed together (group commit); each caller still returns
 * only once its own message is durable.
 *
 * Bodies: a body is written before the accept in chunks, each chunk in a short transaction
 * of its own (store_body_put), so a large message never holds the write lock for long; the
 * accept then refers to it by id. A body that no message refers to an hour after it was
 * written is garbage and is deleted (store_mail_gc). Bodies live in the database, so every
 * node sharing it can deliver, release or show any message.
 *
 * Queue: each recipient row moves pending → inflight (a lease with an end) → delivered |
 * deferred (next_attempt, an indexed column, written in the same transaction as the
 * attempt's outcome) | failed | expired; held recipients wait for hold-release. A lease
 * that ran out (the node died mid-delivery) is leased again. The processing stage (§13.2
 * "process") leases unprocessed messages the same way. */
#ifndef MCAPI_SERVER_STORE_STORE_MAIL_H
#define MCAPI_SERVER_STORE_STORE_MAIL_H

#include "server/store/store.h"

#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

#define MAIL_ADDR_SIZE    321 /* an address: 64 + 1 + 255, + NUL */
#define MAIL_NAME_SIZE    256 /* a display name */
#define MAIL_SUBJECT_SIZE 512
#define MAIL_MSGID_SIZE   256 /* Message-ID without the angle brackets */
#define MAIL_REASON_SIZE  128
#define MAIL_ROUTE_SIZE   512 /* smtp://host:port | maildir:PATH */
#define MAIL_REPLY_SIZE   512 /* the last SMTP reply or error of a delivery attempt */
#define MAIL_ACODE_SIZE   24  /* ties the events of one message together (SIEM aCode) */

enum mail_route { MAIL_INBOUND = 0, MAIL_OUTBOUND = 1, MAIL_INTERNAL = 2 };

/* §13.2 message states, as the API shows them (msg_status_name). */
enum msg_status {
	MSG_RECEIVED = 0,   /* accepted, not yet processed */
	MSG_HELD = 1,       /* held by a check: waits for hold-release or hold-reject */
	MSG_PROCESSING = 2, /* processed, delivery under way (some recipients deferred) */
	MSG_DELIVERED = 3,  /* every recipient delivered */
	MSG_REJECTED = 4,   /* refused during the SMTP session, or rejected from the hold queue */
	MSG_BOUNCED = 5,    /* a recipient failed permanently or expired; a DSN was sent */
	MSG_RELEASED = 6,   /* released from the hold queue (then delivered) */
	MSG_DISCARDED = 7,  /* dropped by a check (never bounced) */
};

enum rcpt_state {
	RCPT_PENDING = 0,
	RCPT_INFLIGHT = 1,
	RCPT_DELIVERED = 2,
	RCPT_DEFERRED = 3,
	RCPT_FAILED = 4,
	RCPT_EXPIRED = 5,
	RCPT_HELD = 6,
	RCPT_REJECTED = 7, /* the message was rejected from the hold queue */
};

const char *mail_route_name(enum mail_route r); /* inbound | outbound | internal */
const char *msg_status_name(enum msg_status s); /* received | held | ... */
const char *rcpt_state_name(enum rcpt_state s);

struct message {
	int64_t id; /* row key; the API shows it only as an opaque id */
	int64_t account_id;
	int64_t received; /* when the 250 was given */
	int64_t body_id;
	char acode[MAIL_ACODE_SIZE];
	char msg_id[MAIL_MSGID_SIZE];
	char env_from[MAIL_ADDR_SIZE];  /* "" = the null sender <> */
	char from_addr[MAIL_ADDR_SIZE]; /* From: header address */
	char from_name[MAIL_NAME_SIZE]; /* From: header display name */
	char subject[MAIL_SUBJECT_SIZE];
	int64_t size;
	char client_ip[64];
	char helo[256];
	char tls_version[16]; /* "" without TLS, else e.g. "TLSv1.3" */
	char tls_cipher[64];
	int32_t route;                         /* enum mail_route */
	int32_t status;                        /* enum msg_status */
	char hold_reason[MAIL_REASON_SIZE];    /* policyInfo, e.g. "Relaxed Spam Detection" */
	char hold_reason_id[MAIL_REASON_SIZE]; /* e.g. MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY */
	int64_t held;                          /* when it was held; 0 = never */
	int32_t spam_score;
	int32_t processed; /* the process stage has run */
	int32_t has_attachments;
	int32_t nrcpt;
	char *attachments; /* JSON array [{name, type, size, md5, sha1, sha256, verdict}] or NULL */
	char *urls;        /* JSON array of the URLs found, or NULL */
};

/* Frees the JSON texts of m (not m itself) and NULLs them. */
void message_release(struct message *m);

struct mail_rcpt {
	int64_t id;
	int64_t message_id;
	char addr[MAIL_ADDR_SIZE];
	int64_t domain_id; /* the internal domain it was accepted for; 0 for outbound */
	int32_t state;     /* enum rcpt_state */
	int32_t attempts;
	int64_t next_attempt;
	int64_t lease_until;
	int64_t done; /* when it reached a final state */
	char last_reply[MAIL_REPLY_SIZE];
};

/* One event of a check, recorded in the same transaction as the state it changes. type is
 * a SIEM log type (receipt, process, delivery, av, spam, ttp_ap, ttp_ip, ttp_url, jrnl,
 * dlp); data is a JSON object with that type's keys (API.md §14.1), owned by the caller. */
struct mail_event {
	const char *type;
	const char *data;
};

/* ---- bodies ---- */

/* Writes size bytes read from fd (from its current offset) as a new body, in chunks of at
 * most 256 KiB, each in its own short transaction; *body_id gets its id. MC_ERR_IO if fd
 * ends early (nothing is left behind); MC_ERR_INTERNAL inside a store transaction. */
int store_body_put(struct store *st, int fd, int64_t size, int64_t *body_id, struct err *e);

/* Reads a whole body into a malloc'd buffer (*data, caller frees; *len its size). */
int store_body_get(struct store *st, int64_t body_id, char **data, size_t *len, struct err *e);

/* ---- intake ---- */

/* The 250 commit point (see above): inserts m (id and received filled in; status
 * MSG_RECEIVED unless m says MSG_REJECTED), one recipient row per rcpts[i] (state
 * RCPT_PENDING, next_attempt = now), and the events, in one durable transaction. A
 * rejected message (refused in the SMTP session, e.g. a virus) is recorded with no
 * recipients' delivery and no body (body_id 0) so that tracking and the logs show it.
 * Details: a received time the caller sets (> 0: inject, generate) is kept; an empty acode
 * gets 22 random base64url characters; nrcpt becomes nrcpts; a rejected message's
 * recipients are recorded in state RCPT_REJECTED; each event's data must be a JSON object
 * (else MC_ERR_INVALID). A body belongs to one message: MC_ERR_NOT_FOUND if body_id does not
 * exist or another message has it. MC_ERR_INTERNAL if the calling thread has a store
 * transaction open (the accept is a durable commit of its own). */
int store_message_accept(struct store *st, struct message *m, const struct mail_rcpt *rcpts,
                         int nrcpts, const struct mail_event *events, int nevents, struct err *e);

/* store_body_put and store_message_accept in one call, the body given in memory: a small
 * body (64 KiB at most) on a backend with one writer (SQLite) is written in the accept's own
 * durable transaction, so it costs no transaction of its own and shares the batch's page
 * writes; a larger one (and on PostgreSQL) in chunks first, as store_body_put does. m must
 * have no body_id yet and not be MSG_REJECTED (MC_ERR_INVALID); m->body_id gets the body's
 * id on success. Nothing is left behind on failure. */
int store_message_accept_body(struct store *st, struct message *m, const void *body, size_t len,
                              const struct mail_rcpt *rcpts, int nrcpts,
                              const struct mail_event *events, int nevents, struct err *e);

/* ---- the process stage ---- */

/* Leases the oldest message not yet processed whose lease is free or ran out, until
 * now + lease_ms. MC_ERR_NOT_FOUND when there is none. The caller releases *out. */
int store_message_lease_unprocessed(struct store *st, int64_t now, int64_t lease_ms,
                                    struct message *out, struct err *e);

/* Records the outcome of the process stage for m (status MSG_RECEIVED → delivery goes on,
 * MSG_HELD, MSG_DISCARDED; hold_reason*, held, spam_score, has_attachments, attachments,
 * urls), sets processed, moves its recipients to RCPT_PENDING (now) or RCPT_HELD, and writes
 * the events, in one transaction. The stored status of a message going on to delivery is
 * MSG_PROCESSING; a discarded message's recipients become RCPT_REJECTED (final, never
 * bounced); held = now if m->held is 0. MC_ERR_STATE if the message was processed already
 * (its lease ran out and another worker recorded it first); MC_ERR_INVALID for any other
 * status. */
int store_message_processed(struct store *st, const struct message *m,
                            const struct mail_event *events, int nevents, struct err *e);

/* ---- reading messages (API §16) ---- */

/* account_id 0 = any account, here and in lists, release and reject; otherwise a message
 * of another account is MC_ERR_NOT_FOUND. The caller releases *out. */
int store_message_get(struct store *st, int64_t account_id, int64_t id, struct message *out,
                      struct err *e);

/* The recipients of a message in row order; fn's non-zero return stops and is returned. */
int store_message_rcpts(struct store *st, int64_t message_id,
                        int (*fn)(void *arg, const struct mail_rcpt *r), void *arg, struct err *e);

/* What a list of messages may be filtered by; zero/empty fields are not filters. */
struct message_query {
	int64_t account_id;
	int64_t from_time, to_time; /* received in [from, to] */
	int32_t status;             /* -1 = any */
	int32_t route;              /* -1 = any */
	int32_t held_only;          /* held messages only (the hold queue) */
	int32_t processing_only;    /* messages with a recipient deferred or in flight */
	char msg_id[MAIL_MSGID_SIZE];
	char from[MAIL_ADDR_SIZE];       /* envelope or header sender (case-insensitive equality) */
	char to[MAIL_ADDR_SIZE];         /* any recipient */
	char subject[MAIL_SUBJECT_SIZE]; /* substring, case-insensitive */
	char client_ip[64];
	char hold_reason[MAIL_REASON_SIZE]; /* policyInfo equality */
	int32_t oldest_first;
};

/* Lists messages newest first (oldest_first: the reverse) by (received, id), after the
 * keyset cursor (after_received, after_id; 0, 0 = from the start), at most limit; fn gets
 * each (its JSON texts are the store's, valid during the call only). to is compared
 * case-insensitively too; held_only with another status lists nothing. */
int store_message_list(struct store *st, const struct message_query *q, int64_t after_received,
                       int64_t after_id, int limit, int (*fn)(void *arg, const struct message *m),
                       void *arg, struct err *e);

/* Held messages of the account counted by hold_reason: fn(reason, count). */
int store_hold_summary(struct store *st, int64_t account_id,
                       int (*fn)(void *arg, const char *reason, int64_t count), void *arg,
                       struct err *e);

/* Counts of the account's recipients per route and state bucket received in [from, to]:
 * fn(route, "pending" | "deferred" | "delivered" | "failed" | "held", count). pending
 * counts in-flight recipients too, failed expired ones; rejected recipients count nowhere;
 * only non-zero counts are reported, routes in enum order, buckets in the order above. to
 * 0 = no upper bound. */
int store_mail_queue_counts(struct store *st, int64_t account_id, int64_t from, int64_t to,
                            int (*fn)(void *arg, int route, const char *bucket, int64_t n),
                            void *arg, struct err *e);

/* ---- the hold queue ---- */

/* Releases a held message: status MSG_RELEASED, its held recipients RCPT_PENDING now, the
 * event (ev may be NULL). The audit row is the caller's: store_auditf in a transaction of
 * the caller (store_tx_begin), which this call joins, so both or neither are written.
 * MC_ERR_NOT_FOUND if the account has no such message; MC_ERR_STATE if it is not held (e.g.
 * released or rejected already). */
int store_message_release_hold(struct store *st, int64_t account_id, int64_t id, int64_t now,
                               const struct mail_event *ev, struct err *e);

/* Rejects a held message: status MSG_REJECTED, its held recipients RCPT_REJECTED. Same
 * errors as release. */
int store_message_reject_hold(struct store *st, int64_t account_id, int64_t id, int64_t now,
                              const struct mail_event *ev, struct err *e);

/* ---- delivery ---- */

struct delivery_job {
	struct mail_rcpt rcpt;
	int64_t account_id;
	int64_t body_id;
	int64_t received;
	int32_t route; /* enum mail_route */
	char env_from[MAIL_ADDR_SIZE];
	char acode[MAIL_ACODE_SIZE];
	char dest[MAIL_ROUTE_SIZE]; /* the domain's mail route, or "" for the default */
	int no_urls; /* not the store's: delivery sets it when the message's urls are "[]" */
};

/* Leases up to max due recipients (pending or deferred with next_attempt <= now, or in
 * flight with an expired lease; their message not held) until now + lease_ms, oldest
 * first. *n gets how many. */
int store_delivery_lease(struct store *st, int64_t now, int64_t lease_ms, struct delivery_job *jobs,
                         int max, int *n, struct err *e);

/* Records one attempt's outcome (state RCPT_DELIVERED, RCPT_DEFERRED with next_attempt,
 * RCPT_FAILED or RCPT_EXPIRED) with its reply, the attempt counted, and the event, in one
 * transaction; when every recipient of the message is final, the message's status becomes
 * MSG_DELIVERED, or MSG_BOUNCED if any failed or expired (*bounce = 1 then, once per
 * message: the caller sends one DSN unless the sender is null). MC_ERR_STATE if the lease
 * was lost (another node holds the recipient now): the outcome is not written. */
int store_delivery_done(struct store *st, int64_t rcpt_id, int64_t lease_until, int32_t state,
                        int64_t next_attempt, const char *reply, const struct mail_event *ev,
                        int *bounce, struct err *e);

/* ---- routes and relays ---- */

/* The internal domain of name (exact match) with its account; MC_ERR_NOT_FOUND if the name
 * is not internal anywhere (pending domains receive nothing). */
struct mail_domain {
	int64_t domain_id;
	int64_t account_id;
	char inbound_type[8];
	char route[MAIL_ROUTE_SIZE]; /* "" = the default route */
};
int store_mail_domain(struct store *st, const char *name, struct mail_domain *out, struct err *e);

/* Sets the mail route of an internal domain of the account ("" = default). */
int store_mail_set_route(struct store *st, int64_t account_id, const char *domain,
                         const char *route, struct err *e);

/* Outbound relay addresses (exact IPs or CIDR prefixes as text) of an account. Add and
 * remove take any spelling and store the canonical one: inet_ntop's text, host bits
 * cleared, "/len" unless the prefix is the whole address ("10.1.2.3/8" is "10.0.0.0/8",
 * "192.0.2.7/32" is "192.0.2.7"). MC_ERR_INVALID if it is neither; MC_ERR_EXISTS if it is
 * listed already; remove: MC_ERR_NOT_FOUND if not listed. Lists in text order. */
int store_relay_add(struct store *st, int64_t account_id, const char *cidr, struct err *e);
int store_relay_remove(struct store *st, int64_t account_id, const char *cidr, struct err *e);
int store_relay_list(struct store *st, int64_t account_id, int (*fn)(void *arg, const char *cidr),
                     void *arg, struct err *e);

/* ---- housekeeping ---- */

/* At start-up: frees every process-stage and delivery lease, so work in flight when the
 * server stopped (kill -9 included) is taken up at once. SQLite only, where one server owns
 * the store's mail; with PostgreSQL, where nodes cannot tell an orphaned lease from another
 * node's live one, it does nothing and leases run out (mail_lease). */
int store_mail_reclaim(struct store *st, int64_t now, struct err *e);

/* Deletes bodies no message refers to that are older than now - 1 h, and messages (with
 * bodies, recipients, events) received before now - retention_ms. */
int store_mail_gc(struct store *st, int64_t now, int64_t retention_ms, struct err *e);

#endif
