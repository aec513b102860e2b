/* A short-lived cache of whole answers of list calls (get-pending-domain,
 * get-internal-domain), keyed by endpoint, account and the request's data and meta, for
 * integrations that poll the same list again and again. Every domain change this process
 * commits makes all cached answers stale at once (a generation counter read before the
 * store is read, so an answer computed from older data is never kept as fresh); changes
 * made by another process sharing the store apply within the TTL (`list_cache_ms`,
 * default one second). Memory is bounded by max_bytes. Thread-safe; NULL = off. */
#ifndef MCAPI_SERVER_API_LISTCACHE_H
#define MCAPI_SERVER_API_LISTCACHE_H

#include <stddef.h>
#include <stdint.h>

struct listcache;

/* ttl_ms 0 returns NULL: no caching. */
struct listcache *listcache_new(int ttl_ms, size_t max_bytes);
void listcache_free(struct listcache *c);

/* The current generation; read it before reading the store for an answer to put. */
uint64_t listcache_generation(const struct listcache *c);

/* After a commit that changed domains: every cached answer is stale. */
void listcache_invalidate(struct listcache *c);

/* 1 with a malloc'd copy of a fresh answer for key in *body (caller frees), else 0. */
int listcache_get(struct listcache *c, const char *key, size_t key_len, int64_t now, char **body,
                  size_t *len);

/* Keeps body for key, computed from data of generation gen (now: monotonic ms). */
void listcache_put(struct listcache *c, const char *key, size_t key_len, uint64_t gen, int64_t now,
                   const char *body, size_t len);

#endif
