/* Internals of the store's mail records: the sub-table of operations each backend fills
 * (reached through store_ops.mail), the request that group commit hands a backend, and the
 * intake queue store.c creates with every store. store_mail.c checks the arguments, runs
 * group commit, then dispatches here. Not for use outside src/server/store/.
 *
 * Group commit: store_message_accept queues its request; the first caller to find no batch
 * under way becomes the leader, takes every queued request (up to MAIL_BATCH_MAX) and hands
 * them to accept_batch, which commits them in one durable transaction; the others wait and
 * return once the batch holding their request is committed. */
#ifndef MCAPI_SERVER_STORE_STORE_MAIL_INT_H
#define MCAPI_SERVER_STORE_STORE_MAIL_INT_H

#include "server/store/store_mail.h"

#include "common/err.h"

#define MAIL_BATCH_MAX 64           /* accepts committed together at most */
#define MAIL_CHUNK     (256 * 1024) /* the largest body chunk, and each chunk's transaction */
#define MAIL_INLINE    (64 * 1024)  /* bodies up to this size go in their accept's batch */

/* One queued accept. The backend sets m->id for each message it wrote, and rc (with err) for
 * each it could not write; the others of the batch are committed all the same. */
struct mail_accept_req {
	struct message *m;
	const struct mail_rcpt *rcpts;
	int nrcpts;
	const struct mail_event *events;
	int nevents;
	/* a small body to write in the batch (one_writer backends; m->body_id 0): the
	 * backend sets m->body_id */
	const void *body;
	size_t body_len;
	int rc;
	struct err err;
	int done; /* under the intake mutex */
	struct mail_accept_req *next;
};

struct store_mail_ops {
	/* 1 if the backend has one writer at a time (SQLite): body chunks and accept batches
	 * then take turns through the intake's write gate (store_mail.c). */
	int one_writer;
	/* 1 if the calling thread has a store transaction open. */
	int (*in_tx)(struct store *st);
	/* Writes reqs[0..n) in one durable transaction of the calling thread (SQLite:
	 * synchronous=FULL for its commit; PostgreSQL: synchronous_commit on). A failure of one
	 * message is its req->rc and does not stop the others; a failure of the transaction
	 * itself (begin, commit) is the return value, and then nothing was written. */
	int (*accept_batch)(struct store *st, struct mail_accept_req *const *reqs, int n,
	                    struct err *e);

	int (*body_new)(struct store *st, int64_t size, int64_t created, int64_t *body_id,
	                struct err *e);
	int (*body_chunk)(struct store *st, int64_t body_id, int seq, const void *data, size_t n,
	                  struct err *e);
	/* Best effort: deletes an unclaimed body (a put that failed half-way). */
	void (*body_drop)(struct store *st, int64_t body_id);
	int (*body_get)(struct store *st, int64_t body_id, char **data, size_t *len, struct err *e);

	int (*lease_unprocessed)(struct store *st, int64_t now, int64_t lease_until,
	                         struct message *out, struct err *e);
	/* status is what the message becomes (MSG_PROCESSING, MSG_HELD, MSG_DISCARDED). */
	int (*processed)(struct store *st, const struct message *m, int32_t status, int64_t now,
	                 const struct mail_event *events, int nevents, struct err *e);

	int (*message_get)(struct store *st, int64_t account_id, int64_t id, struct message *out,
	                   struct err *e);
	int (*message_rcpts)(struct store *st, int64_t message_id,
	                     int (*fn)(void *arg, const struct mail_rcpt *r), void *arg,
	                     struct err *e);
	/* q as normalised by store_mail.c: to_time set, status/route -1 or a value, held_only
	 * folded into status, the cursor given as sentinels when starting. */
	int (*message_list)(struct store *st, const struct message_query *q, int64_t after_received,
	                    int64_t after_id, int limit,
	                    int (*fn)(void *arg, const struct message *m), void *arg,
	                    struct err *e);
	int (*hold_summary)(struct store *st, int64_t account_id,
	                    int (*fn)(void *arg, const char *reason, int64_t count), void *arg,
	                    struct err *e);
	/* fn(route, state, count) per enum rcpt_state; store_mail.c folds states into buckets. */
	int (*queue_counts)(struct store *st, int64_t account_id, int64_t from, int64_t to,
	                    int (*fn)(void *arg, int route, int state, int64_t n), void *arg,
	                    struct err *e);

	/* release: status MSG_RELEASED, held recipients pending; reject: MSG_REJECTED, held
	 * recipients RCPT_REJECTED. */
	int (*hold_action)(struct store *st, int64_t account_id, int64_t id, int64_t now,
	                   int release, const struct mail_event *ev, struct err *e);

	int (*delivery_lease)(struct store *st, int64_t now, int64_t lease_until,
	                      struct delivery_job *jobs, int max, int *n, struct err *e);
	int (*delivery_done)(struct store *st, int64_t rcpt_id, int64_t lease_until, int32_t state,
	                     int64_t next_attempt, int64_t now, const char *reply,
	                     const struct mail_event *ev, int *bounce, struct err *e);

	int (*mail_domain)(struct store *st, const char *name, struct mail_domain *out,
	                   struct err *e);
	int (*set_route)(struct store *st, int64_t account_id, const char *domain,
	                 const char *route, struct err *e);
	int (*relay_add)(struct store *st, int64_t account_id, const char *cidr, int64_t now,
	                 struct err *e);
	int (*relay_remove)(struct store *st, int64_t account_id, const char *cidr, struct err *e);
	int (*relay_list)(struct store *st, int64_t account_id,
	                  int (*fn)(void *arg, const char *cidr), void *arg, struct err *e);

	/* One bounded step of the purge (a transaction of its own): deletes up to `batch`
	 * unclaimed bodies created before body_cutoff and up to `batch` messages received before
	 * msg_cutoff with everything of theirs; *more = 1 if there may be more to delete. */
	int (*gc_step)(struct store *st, int64_t body_cutoff, int64_t msg_cutoff, int batch,
	               int *more, struct err *e);
	/* Start-up: every lease becomes free at now (NULL where several nodes share the store
	 * and cannot tell an orphaned lease from a live one: there leases run out). */
	int (*reclaim)(struct store *st, int64_t now, struct err *e);
};

/* sqlite_mail.c, pg_mail.c */
extern const struct store_mail_ops sqlite_mail_ops;
extern const struct store_mail_ops pg_mail_ops;

/* The intake queue of group commit (store_mail.c); store_open creates it, store_close frees
 * it. */
struct mail_intake;
int mail_intake_new(struct mail_intake **out);
void mail_intake_free(struct mail_intake *in);

/* The states of store_mail.h by number, for the SQL of both backends. */
#define MS_RECEIVED   "0"
#define MS_HELD       "1"
#define MS_PROCESSING "2"
#define MS_DELIVERED  "3"
#define MS_REJECTED   "4"
#define MS_BOUNCED    "5"
#define MS_RELEASED   "6"
#define MS_DISCARDED  "7"
#define RS_PENDING    "0"
#define RS_INFLIGHT   "1"
#define RS_DELIVERED  "2"
#define RS_DEFERRED   "3"
#define RS_FAILED     "4"
#define RS_EXPIRED    "5"
#define RS_HELD       "6"
#define RS_REJECTED   "7"

#endif
