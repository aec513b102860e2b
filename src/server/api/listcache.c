/* The list-answer cache; see listcache.h. Sharded chained hash tables under read-write
 * locks; an entry is fresh while its generation is current and it is younger than the
 * TTL. A shard over its byte budget drops stale entries, then its oldest. */
#include "listcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SHARDS  16
#define BUCKETS 256

struct entry {
	struct entry *next;
	uint64_t h, gen;
	int64_t at;
	size_t key_len, len;
	char *key, *body;
};

struct listcache {
	int64_t ttl;
	size_t shard_budget;
	atomic_uint_fast64_t gen;
	struct {
		pthread_rwlock_t rw;
		size_t bytes;
		struct entry *b[BUCKETS];
	} s[SHARDS];
};

static uint64_t hash(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
	return h ^ (h >> 31);
}

static void entry_free(struct entry *e)
{
	free(e->key);
	free(e->body);
	free(e);
}

struct listcache *listcache_new(int ttl_ms, size_t max_bytes)
{
	struct listcache *c;

	if (ttl_ms <= 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ttl = ttl_ms;
	c->shard_budget = max_bytes / SHARDS;
	atomic_init(&c->gen, 1);
	for (int i = 0; i < SHARDS; i++)
		pthread_rwlock_init(&c->s[i].rw, NULL);
	return c;
}

void listcache_free(struct listcache *c)
{
	if (!c)
		return;
	for (int i = 0; i < SHARDS; i++) {
		for (int j = 0; j < BUCKETS; j++) {
			struct entry *e = c->s[i].b[j], *n;
			for (; e; e = n) {
				n = e->next;
				entry_free(e);
			}
		}
		pthread_rwlock_destroy(&c->s[i].rw);
	}
	free(c);
}

uint64_t listcache_generation(const struct listcache *c)
{
	return c ? atomic_load(&c->gen) : 0;
}

void listcache_invalidate(struct listcache *c)
{
	if (c)
		atomic_fetch_add(&c->gen, 1);
}

static int fresh(const struct listcache *c, const struct entry *e, int64_t now)
{
	return e->gen == atomic_load(&c->gen) && now - e->at < c->ttl;
}

int listcache_get(struct listcache *c, const char *key, size_t key_len, int64_t now, char **body,
                  size_t *len)
{
	uint64_t h;
	int si, found = 0;

	if (!c)
		return 0;
	h = hash(key, key_len);
	si = (int)(h % SHARDS);
	pthread_rwlock_rdlock(&c->s[si].rw);
	for (struct entry *e = c->s[si].b[(h / SHARDS) % BUCKETS]; e; e = e->next) {
		if (e->h != h || e->key_len != key_len || memcmp(e->key, key, key_len) != 0)
			continue;
		if (fresh(c, e, now) && (*body = malloc(e->len + 1)) != NULL) {
			memcpy(*body, e->body, e->len + 1);
			*len = e->len;
			found = 1;
		}
		break;
	}
	pthread_rwlock_unlock(&c->s[si].rw);
	return found;
}

/* Under the shard's write lock: drop stale entries, then the oldest, until the shard has
 * room for need more bytes. */
static void make_room(struct listcache *c, int si, size_t need, int64_t now)
{
	for (int pass = 0; pass < 2 && c->s[si].bytes + need > c->shard_budget; pass++) {
		for (int j = 0; j < BUCKETS; j++) {
			struct entry **pp = &c->s[si].b[j];
			while (*pp) {
				struct entry *e = *pp;
				if (pass == 1 || !fresh(c, e, now)) {
					*pp = e->next;
					c->s[si].bytes -= e->len + e->key_len;
					entry_free(e);
				} else {
					pp = &e->next;
				}
			}
		}
	}
}

void listcache_put(struct listcache *c, const char *key, size_t key_len, uint64_t gen, int64_t now,
                   const char *body, size_t len)
{
	struct entry *e, **pp;
	uint64_t h;
	int si;

	if (!c || len + key_len > c->shard_budget || gen != atomic_load(&c->gen))
		return;
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->key = malloc(key_len);
	e->body = malloc(len + 1);
	if (!e->key || !e->body) {
		entry_free(e);
		return;
	}
	memcpy(e->key, key, key_len);
	memcpy(e->body, body, len);
	e->body[len] = '\0';
	e->key_len = key_len;
	e->len = len;
	e->gen = gen;
	e->at = now;
	e->h = h = hash(key, key_len);
	si = (int)(h % SHARDS);
	pthread_rwlock_wrlock(&c->s[si].rw);
	for (pp = &c->s[si].b[(h / SHARDS) % BUCKETS]; *pp; pp = &(*pp)->next) {
		struct entry *old = *pp;
		if (old->h == h && old->key_len == key_len && memcmp(old->key, key, key_len) == 0) {
			*pp = old->next;
			c->s[si].bytes -= old->len + old->key_len;
			entry_free(old);
			break;
		}
	}
	make_room(c, si, len + key_len, now);
	pp = &c->s[si].b[(h / SHARDS) % BUCKETS];
	e->next = *pp;
	*pp = e;
	c->s[si].bytes += len + key_len;
	pthread_rwlock_unlock(&c->s[si].rw);
}
