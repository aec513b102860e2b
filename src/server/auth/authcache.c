/* The authentication cache; see authcache.h. Two maps (rows by access key, applications by
 * app id) of fixed-size entries in sharded chained hash tables; a shard that reaches its
 * share of max_entries drops its expired entries, then its oldest. */
#include "authcache.h"

#include "common/crypto.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SHARDS  32
#define BUCKETS 256

struct entry {
	struct entry *next;
	int64_t at;
	uint64_t h;
	char key[96];
	size_t size;
	/* followed by size bytes of value */
};

struct map {
	struct {
		pthread_rwlock_t rw; /* readers share it: lookups of one hot key do not queue */
		size_t count;
		struct entry *b[BUCKETS];
	} s[SHARDS];
};

struct authcache {
	int64_t ttl;
	_Atomic int64_t flushed; /* entries read at or before this time are stale */
	_Atomic int64_t gen;     /* the store's change generation last seen (authcache_sync) */
	size_t per_shard;
	struct map rows, apps;
};

static uint64_t hash(const char *k)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)k; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static void entry_free(struct entry *e)
{
	secure_zero(e, sizeof(*e) + e->size);
	free(e);
}

static void map_init(struct map *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < SHARDS; i++)
		pthread_rwlock_init(&m->s[i].rw, NULL);
}

static void map_release(struct map *m)
{
	for (int i = 0; i < SHARDS; i++) {
		for (int j = 0; j < BUCKETS; j++) {
			struct entry *e = m->s[i].b[j], *n;
			for (; e; e = n) {
				n = e->next;
				entry_free(e);
			}
		}
		pthread_rwlock_destroy(&m->s[i].rw);
	}
}

/* Copies a found entry's value out (under the shard's lock). */
typedef void (*copy_fn)(const void *val, void *arg);

static int map_get(struct authcache *c, struct map *m, const char *key, int64_t now, size_t size,
                   copy_fn copy, void *arg)
{
	uint64_t h = hash(key);
	int si = (int)(h % SHARDS), found = 0;
	struct entry *e;

	pthread_rwlock_rdlock(&m->s[si].rw);
	for (e = m->s[si].b[(h / SHARDS) % BUCKETS]; e; e = e->next) {
		if (e->h == h && strcmp(e->key, key) == 0) {
			if (now - e->at < c->ttl && e->size == size &&
			    e->at > atomic_load_explicit(&c->flushed, memory_order_acquire)) {
				copy(e + 1, arg);
				found = 1;
			}
			break;
		}
	}
	pthread_rwlock_unlock(&m->s[si].rw);
	return found;
}

/* Removes expired entries of shard si, then the oldest if still full. Lock held. */
static void shard_trim(struct authcache *c, struct map *m, int si, int64_t now)
{
	struct entry **oldest = NULL;

	for (int j = 0; j < BUCKETS; j++) {
		struct entry **pp = &m->s[si].b[j];
		while (*pp) {
			if (now - (*pp)->at >= c->ttl) {
				struct entry *e = *pp;
				*pp = e->next;
				entry_free(e);
				m->s[si].count--;
				continue;
			}
			if (!oldest || (*pp)->at < (*oldest)->at)
				oldest = pp;
			pp = &(*pp)->next;
		}
	}
	if (m->s[si].count >= c->per_shard && oldest) {
		struct entry *e = *oldest;
		*oldest = e->next;
		entry_free(e);
		m->s[si].count--;
	}
}

static void map_put(struct authcache *c, struct map *m, const char *key, const void *val,
                    size_t size, int64_t now)
{
	uint64_t h = hash(key);
	int si = (int)(h % SHARDS);
	struct entry **pp, *e;

	if (strlen(key) >= sizeof(e->key))
		return;
	/* read from the store before a flush: it may hold what the flush was about */
	if (now <= atomic_load_explicit(&c->flushed, memory_order_acquire))
		return;
	pthread_rwlock_wrlock(&m->s[si].rw);
	for (pp = &m->s[si].b[(h / SHARDS) % BUCKETS]; *pp; pp = &(*pp)->next) {
		if ((*pp)->h == h && strcmp((*pp)->key, key) == 0) {
			e = *pp;
			*pp = e->next;
			entry_free(e);
			m->s[si].count--;
			break;
		}
	}
	if (m->s[si].count >= c->per_shard)
		shard_trim(c, m, si, now);
	e = malloc(sizeof(*e) + size);
	if (e) {
		e->at = now;
		e->h = h;
		e->size = size;
		memcpy(e->key, key, strlen(key) + 1);
		memcpy(e + 1, val, size);
		pp = &m->s[si].b[(h / SHARDS) % BUCKETS];
		e->next = *pp;
		*pp = e;
		m->s[si].count++;
	}
	pthread_rwlock_unlock(&m->s[si].rw);
}

static void map_forget(struct map *m, const char *key)
{
	uint64_t h = hash(key);
	int si = (int)(h % SHARDS);

	pthread_rwlock_wrlock(&m->s[si].rw);
	for (struct entry **pp = &m->s[si].b[(h / SHARDS) % BUCKETS]; *pp; pp = &(*pp)->next) {
		if ((*pp)->h == h && strcmp((*pp)->key, key) == 0) {
			struct entry *e = *pp;
			*pp = e->next;
			entry_free(e);
			m->s[si].count--;
			break;
		}
	}
	pthread_rwlock_unlock(&m->s[si].rw);
}

struct authcache *authcache_new(int ttl_ms, size_t max_entries)
{
	struct authcache *c;

	if (ttl_ms <= 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ttl = ttl_ms;
	c->per_shard = max_entries / SHARDS > 0 ? max_entries / SHARDS : 1;
	map_init(&c->rows);
	map_init(&c->apps);
	return c;
}

void authcache_free(struct authcache *c)
{
	if (!c)
		return;
	map_release(&c->rows);
	map_release(&c->apps);
	free(c);
}

struct rows_out {
	struct binding *b;
	struct user *u;
	struct account *a;
	struct hmac_sha1_key *k;
};

/* Straight into the caller's structs: no intermediate copy that would need wiping. */
static void copy_rows(const void *val, void *arg)
{
	const struct auth_rows *r = val;
	const struct rows_out *o = arg;

	*o->b = r->binding;
	*o->u = r->user;
	*o->a = r->account;
	if (o->k)
		*o->k = r->key;
}

int authcache_get_rows(struct authcache *c, const char *access_key, int64_t now, struct binding *b,
                       struct user *u, struct account *a, struct hmac_sha1_key *k)
{
	struct rows_out o = {b, u, a, k};

	return c ? map_get(c, &c->rows, access_key, now, sizeof(struct auth_rows), copy_rows, &o)
	         : 0;
}

void authcache_put_rows(struct authcache *c, const struct auth_rows *rows, int64_t now)
{
	if (c)
		map_put(c, &c->rows, rows->binding.access_key, rows, sizeof(*rows), now);
}

void authcache_forget(struct authcache *c, const char *access_key)
{
	if (c)
		map_forget(&c->rows, access_key);
}

void authcache_flush(struct authcache *c, int64_t now)
{
	if (c)
		atomic_store_explicit(&c->flushed, now, memory_order_release);
}

int authcache_sync(struct authcache *c, int64_t gen, int64_t since, int64_t now)
{
	int64_t seen;

	if (!c)
		return 0;
	seen = atomic_load_explicit(&c->gen, memory_order_acquire);
	while (gen > seen) {
		if (atomic_compare_exchange_weak(&c->gen, &seen, gen)) {
			authcache_flush(c, now);
			return 1;
		}
	}
	/* another thread saw gen first: its flush may have come after our rows were read */
	return since <= atomic_load_explicit(&c->flushed, memory_order_acquire);
}

static void copy_app(const void *val, void *arg)
{
	memcpy(arg, val, sizeof(struct application));
}

int authcache_get_app(struct authcache *c, const char *app_id, int64_t now, struct application *out)
{
	return c ? map_get(c, &c->apps, app_id, now, sizeof(*out), copy_app, out) : 0;
}

void authcache_put_app(struct authcache *c, const struct application *app, int64_t now)
{
	if (c)
		map_put(c, &c->apps, app->app_id, app, sizeof(*app), now);
}
