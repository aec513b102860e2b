/* Token buckets (API.md §7). Two users of one mechanism:
 *  - the per-user limit of authenticated calls: a bucket of `rate_limit` calls refilled
 *    one call per `rate_refill_ms`, shared by all bindings of the user; endpoints listed in
 *    `rate_overrides` get a bucket of their own with their own numbers;
 *  - the per-client-IP limit of unauthenticated calls and failed authentications
 *    (`ip_limit` per minute).
 * State lives in memory behind this interface, so a shared (PostgreSQL) implementation can
 * replace it. Memory is bounded: idle (full) buckets are evicted when a shard fills up. */
#ifndef MCAPI_SERVER_RATELIMIT_H
#define MCAPI_SERVER_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct err;
struct ratelimit;
struct iplimit;

struct rl_verdict {
	int allowed;      /* 1 if the call may run */
	int64_t limit;    /* X-RateLimit-Limit */
	int64_t remaining;/* X-RateLimit-Remaining after this call */
	int64_t reset_ms; /* X-RateLimit-Reset: ms until one call is added back (0 if full) */
};

/* Builds the limiter from cfg (rate_limit, rate_refill_ms, rate_overrides). NULL + e on a
 * malformed override list. */
struct ratelimit *ratelimit_new(const struct config *cfg, struct err *e);
void ratelimit_free(struct ratelimit *rl);

/* Takes one call from the bucket of user for endpoint path (now: monotonic ms). */
void ratelimit_take(struct ratelimit *rl, int64_t user_id, const char *path, int64_t now,
		    struct rl_verdict *out);

/* per_minute calls per client IP. NULL on allocation failure. */
struct iplimit *iplimit_new(int per_minute);
void iplimit_free(struct iplimit *l);

/* 1 if ip has calls left (nothing is taken), 0 if it is over its limit. */
int iplimit_allowed(struct iplimit *l, const char *ip, int64_t now);

/* Counts one unauthenticated call or one failed authentication of ip. */
void iplimit_count(struct iplimit *l, const char *ip, int64_t now);

#endif
