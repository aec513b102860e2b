/* A short-lived in-process cache of what authentication reads on every call: the
 * application by x-mc-app-id, and the binding with its user and account by access key.
 * It takes the store off the request hot path. Entries live `auth_cache_ms` (default one
 * second); changes this process makes (logout, refresh, revocation, extension) drop the
 * entry at once, changes made by another process (`mcapid admin`, another node) take
 * effect within the TTL, or at once where the store tells of them (authcache_flush from the
 * PostgreSQL listener, server/nodes.h). Memory is bounded; cached secrets are wiped on eviction.
 * All functions are thread-safe and accept a NULL cache (caching disabled). */
#ifndef MCAPI_SERVER_AUTH_AUTHCACHE_H
#define MCAPI_SERVER_AUTH_AUTHCACHE_H

#include "common/crypto.h"
#include "server/store/store.h"

#include <stdint.h>

struct authcache;

struct auth_rows {
	struct binding binding;
	struct user user;
	struct account account;
	struct hmac_sha1_key key; /* binding.secret made ready for signature checks */
};

/* ttl_ms 0 returns NULL: no caching. max_entries bounds each of the two maps. */
struct authcache *authcache_new(int ttl_ms, size_t max_entries);
void authcache_free(struct authcache *c);

/* 1 and *b, *u, *a, *k filled if a fresh entry exists, else 0 (nothing written). now:
 * monotonic ms. k may be NULL. */
int authcache_get_rows(struct authcache *c, const char *access_key, int64_t now, struct binding *b,
                       struct user *u, struct account *a, struct hmac_sha1_key *k);
void authcache_put_rows(struct authcache *c, const struct auth_rows *rows, int64_t now);
/* Drops the entry of access_key (after this process changed the binding). */
void authcache_forget(struct authcache *c, const char *access_key);

/* Makes every entry stale at once (O(1)), also one being put by a thread whose store read
 * began at or before now (monotonic ms): put's now must be taken before the read. Any
 * thread. */
void authcache_flush(struct authcache *c, int64_t now);

/* gen: the shared store's change generation just read (store_shared.h); since: when the
 * call began reading its rows (monotonic ms). If gen is newer than any seen before,
 * flushes (as authcache_flush) and returns 1: rows the call took from the cache may predate
 * a committed change and must be read again; also 1 when a flush came at or after since.
 * 0 otherwise (also for a NULL cache: nothing was cached). */
int authcache_sync(struct authcache *c, int64_t gen, int64_t since, int64_t now);

int authcache_get_app(struct authcache *c, const char *app_id, int64_t now,
                      struct application *out);
void authcache_put_app(struct authcache *c, const struct application *app, int64_t now);

#endif
