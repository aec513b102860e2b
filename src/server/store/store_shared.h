/* The state that several mcapid nodes on one store share (API.md §15, docs/postgres.md):
 * the replay set of request ids that ran, the rate-limit buckets (per user and per client
 * IP), and a listener that tells this node when another one changed what its caches hold.
 * Only a store that several processes open has it (PostgreSQL); with SQLite store_shared()
 * is 0 and the callers keep their in-process versions (replay.h, ratelimit.h, the caches'
 * time-outs). Every function here is one statement, one round trip. */
#ifndef MCAPI_SERVER_STORE_STORE_SHARED_H
#define MCAPI_SERVER_STORE_STORE_SHARED_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_listener;

#define STORE_PAIR_LEN 16 /* a keyed hash of (access key, request id): replay.h */

/* Bucket kinds: their keys are separate spaces. */
#define STORE_BUCKET_USER 1
#define STORE_BUCKET_IP   2

/* What a bucket operation or a gate saw. The bucket fields are those of rl_verdict. */
struct store_gate {
	int replayed;      /* the pair ran already (then nothing was taken) */
	int claimed;       /* the pair is recorded now: the function may run */
	int allowed;       /* a call was left in the bucket */
	int64_t remaining; /* calls left after this one */
	int64_t reset_ms;  /* until one call is added back (0 if full) */
	int64_t gen;       /* gate: the store's change generation (grows with every committed
	                    * change that store_listen_start reports), read in the same
	                    * statement: a cache older than it may be stale */
};

/* 1 if st is shared by several processes and has the functions below. */
int store_shared(struct store *st);

/* A signed call's one round trip: refuses pair if it ran and has not expired by now_s
 * (wall-clock seconds); else takes a call from the user bucket `bucket` (limit, refill_ms),
 * and if one was left and claim is set, records the pair until expires_s. 0 and *out, or
 * MC_ERR_UNAVAILABLE / MC_ERR_STORE with e. */
int store_shared_gate(struct store *st, const unsigned char pair[STORE_PAIR_LEN], int64_t expires_s,
                      int64_t now_s, int claim, uint64_t bucket, int64_t limit, int64_t refill_ms,
                      struct store_gate *out, struct err *e);

/* One call of store_shared_gate_batch: the arguments of store_shared_gate and its result. */
struct store_gate_call {
	unsigned char pair[STORE_PAIR_LEN];
	int64_t expires_s;
	int64_t now_s;
	int claim;
	uint64_t bucket;
	int64_t limit;
	int64_t refill_ms;
	struct store_gate out;
};

#define STORE_GATE_BATCH_MAX 256

/* The gates of n calls (1..STORE_GATE_BATCH_MAX, distinct pairs) in one statement: each
 * call's out is what store_shared_gate would have given had the calls run one after another
 * in array order at one instant (calls of one bucket take its calls in that order and share
 * the limit of the first of them). One failure fails them all: nothing is taken or claimed
 * and the code is store_shared_gate's. Two calls with one pair: MC_ERR_INVALID. On a shared
 * store store_shared_gate combines the calls of threads that wait at the same moment into
 * one such batch (docs/postgres.md); this entry point is for tests and tools. */
int store_shared_gate_batch(struct store *st, struct store_gate_call *calls, size_t n,
                            struct err *e);

/* A gate that does not hold the calling thread (store_shared_gate_submit): the caller
 * fills call, done and arg; the store runs it in one of its batches on a thread of its own
 * and then calls done(job) there, once, with rc (0, or store_shared_gate's codes) and err
 * set, and call.out on success. The job must stay in place until then; the fields below
 * the line are the store's. */
struct store_gate_job {
	struct store_gate_call call;
	void (*done)(struct store_gate_job *job);
	void *arg;
	int rc;
	struct err err;
	/* ---- the store's ---- */
	int leased; /* its bucket call came from lease slot `slot` of generation `gen` */
	int slot;
	unsigned gen;
	int64_t wish;  /* calls to lease for its bucket (0: none) */
	int64_t grant; /* calls the statement leased for its bucket */
	struct store_gate_job *next;
};

/* 1 if st runs gates without holding the caller (a shared store batching its gates). */
int store_shared_gate_async(struct store *st);

/* Queues job (see above): 0, or MC_ERR_UNAVAILABLE when the store is closing or cannot
 * start its thread (then done is not called). Any thread, never inside a transaction. */
int store_shared_gate_submit(struct store *st, struct store_gate_job *job);

/* Removes pair again (a call that failed without doing anything: 500/503). */
int store_shared_forget(struct store *st, const unsigned char pair[STORE_PAIR_LEN], struct err *e);

/* rl_bucket_step on bucket (kind, key) with the store's clock; take = 0 only looks. */
int store_shared_bucket(struct store *st, int kind, uint64_t key, int64_t limit, int64_t refill_ms,
                        int take, struct store_gate *out, struct err *e);

/* Starts a thread with a connection of its own that calls fn(arg, what) for each change
 * another node (or this one) committed: what names the table ("bindings", "users",
 * "applications", "accounts", "domains", "sender_policies"), or is "*" when notifications
 * may have been missed (at start, and when the connection broke and is made again, with
 * backoff up to 5 s): then everything cached must go. The thread also deletes expired
 * pairs and full buckets every 30 s. fn runs on that thread. NULL + e if st is not shared
 * or the thread cannot start; a database that is down is not an error (it retries). */
struct store_listener *store_listen_start(struct store *st, void (*fn)(void *arg, const char *what),
                                          void *arg, struct err *e);

/* Stops and joins the thread. NULL is a no-op. */
void store_listen_stop(struct store_listener *l);

#endif
