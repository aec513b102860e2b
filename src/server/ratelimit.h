/* Token buckets (API.md §7). Two users of one mechanism:
 *  - the per-user limit of authenticated calls: a bucket of `rate_limit` calls refilled
 *    one call per `rate_refill_ms`, shared by all bindings of the user; an endpoint listed
 *    in `rate_overrides` gets a bucket of its own with its own numbers (calls to it do not
 *    draw on the user's main bucket);
 *  - the per-client-IP limit of unauthenticated calls and failed authentications
 *    (`ip_limit` per minute; IPv6 addresses count per /64, as one host usually holds one).
 *
 * The arithmetic is rl_bucket_step(), a pure function on (tokens, last refill time). The
 * state lives behind struct rl_backend: the default keeps buckets in process memory
 * (bounded: idle, full buckets are evicted; past the bound new keys are admitted without
 * state rather than refused); a shared backend (e.g. PostgreSQL, for several mcapid
 * processes) loads the bucket, calls rl_bucket_step and writes it back atomically. */
#ifndef MCAPI_SERVER_RATELIMIT_H
#define MCAPI_SERVER_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct err;
struct ratelimit;
struct iplimit;

struct rl_verdict {
	int allowed;       /* 1 if the call may run */
	int64_t limit;     /* X-RateLimit-Limit */
	int64_t remaining; /* X-RateLimit-Remaining after this call */
	int64_t reset_ms;  /* X-RateLimit-Reset: ms until one call is added back (0 if full) */
};

/* One bucket's state. A new bucket is {limit, now}. */
struct rl_bucket {
	int64_t tokens;
	int64_t last; /* time of the last refill step; elapsed time below one refill is kept */
};

/* Refills b for the time up to now (whole calls only), then takes one call if take and
 * one is left. Fills v (may be NULL) and returns 1 if the call is allowed. Clocks that go
 * backwards refill nothing. limit >= 1 and refill_ms >= 1. */
int rl_bucket_step(struct rl_bucket *b, int64_t limit, int64_t refill_ms, int take, int64_t now,
                   struct rl_verdict *v);

/* Where buckets live. op runs rl_bucket_step on the bucket of key (creating it full) under
 * whatever exclusion the backend needs; take = 0 only looks. free releases state. */
struct rl_backend {
	int (*op)(void *state, uint64_t key, int64_t limit, int64_t refill_ms, int take,
	          int64_t now, struct rl_verdict *v);
	void (*free)(void *state);
	void (*clear)(void *state); /* every bucket full again; NULL: the backend's own business */
	void *state;
};

/* The in-memory backend (what ratelimit_new and iplimit_new use). 0 or MC_ERR_NOMEM. */
int rl_memory_backend(struct rl_backend *out);

/* The backend of a shared store (store_shared.h; kind: STORE_BUCKET_USER or _IP): one
 * statement per call on the store's clock (now is ignored). Store trouble admits the call
 * (as a full bucket would): the call then meets the store itself. 0 or MC_ERR_NOMEM. */
struct store;
int rl_store_backend(struct rl_backend *out, struct store *st, int kind);

/* Builds the limiter from cfg (rate_limit, rate_refill_ms, rate_overrides) on the memory
 * backend. NULL + e on a malformed override list or no memory. Free with ratelimit_free. */
struct ratelimit *ratelimit_new(const struct config *cfg, struct err *e);

/* The same on backend b (taken over: freed with the limiter, also on failure). */
struct ratelimit *ratelimit_new_backend(const struct config *cfg, const struct rl_backend *b,
                                        struct err *e);
void ratelimit_free(struct ratelimit *rl);

/* Every bucket full again (the emulator's reset, docs/emulator.md). NULL is harmless. */
void ratelimit_clear(struct ratelimit *rl);

/* Takes one call from the bucket of user for endpoint path (now: the clock of the
 * backend, monotonic ms for the memory one). Fills out; out->allowed = 0 means 429. */
void ratelimit_take(struct ratelimit *rl, int64_t user_id, const char *path, int64_t now,
                    struct rl_verdict *out);

/* The same without taking a call: what the headers of an answer that ran nothing show. */
void ratelimit_peek(struct ratelimit *rl, int64_t user_id, const char *path, int64_t now,
                    struct rl_verdict *out);

/* The bucket a call of user to path draws on: its key and numbers (auth.c hands them to
 * the shared store's gate, which takes the call together with the replay claim). */
void ratelimit_bucket(const struct ratelimit *rl, int64_t user_id, const char *path, uint64_t *key,
                      int64_t *limit, int64_t *refill_ms);

/* per_minute calls per client IP. NULL on allocation failure. */
struct iplimit *iplimit_new(int per_minute);

/* The same on backend b (taken over: freed with the limiter, also on failure). */
struct iplimit *iplimit_new_backend(int per_minute, const struct rl_backend *b);
void iplimit_free(struct iplimit *l);

/* Every address's bucket full again. NULL is harmless. */
void iplimit_clear(struct iplimit *l);

/* 1 if ip has calls left (nothing is taken), 0 if it is over its limit. */
int iplimit_allowed(struct iplimit *l, const char *ip, int64_t now);

/* The state of ip's bucket, without counting (X-RateLimit-* of unauthenticated answers). */
void iplimit_peek(struct iplimit *l, const char *ip, int64_t now, struct rl_verdict *out);

/* Counts one unauthenticated call or one failed authentication of ip. */
void iplimit_count(struct iplimit *l, const char *ip, int64_t now);

/* iplimit_allowed and iplimit_count as one atomic step (one statement on a shared store):
 * 1 and one call counted if ip had calls left, 0 (nothing counted) if not. */
int iplimit_take(struct iplimit *l, const char *ip, int64_t now);

#endif
