/* Token buckets; see ratelimit.h. A bucket is (tokens, last refill time); refilling adds
 * whole calls only and keeps the remainder of elapsed time, so X-RateLimit-Reset is exact.
 * Buckets sit in a sharded chained hash table keyed by a 64-bit key. */
#include "ratelimit.h"

#include "common/err.h"
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SHARDS 64
#define SHARD_BUCKETS 1024
#define SHARD_MAX_ENTRIES 16384

struct bucket {
	uint64_t key;
	int64_t tokens;
	int64_t last;
	int64_t limit, refill;
	struct bucket *next;
};

struct table {
	struct {
		pthread_mutex_t mu;
		size_t count;
		struct bucket *slots[SHARD_BUCKETS];
	} shard[SHARDS];
};

static struct table *table_new(void)
{
	struct table *t = calloc(1, sizeof(*t));
	if (t)
		for (int i = 0; i < SHARDS; i++)
			pthread_mutex_init(&t->shard[i].mu, NULL);
	return t;
}

static void table_free(struct table *t)
{
	if (!t)
		return;
	for (int i = 0; i < SHARDS; i++) {
		for (int j = 0; j < SHARD_BUCKETS; j++) {
			struct bucket *b = t->shard[i].slots[j], *n;
			for (; b; b = n) {
				n = b->next;
				free(b);
			}
		}
		pthread_mutex_destroy(&t->shard[i].mu);
	}
	free(t);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static void refill(struct bucket *b, int64_t now)
{
	if (b->tokens >= b->limit) {
		b->last = now;
		return;
	}
	int64_t add = (now - b->last) / b->refill;
	if (add <= 0)
		return;
	if (b->tokens + add >= b->limit) {
		b->tokens = b->limit;
		b->last = now;
	} else {
		b->tokens += add;
		b->last += add * b->refill;
	}
}

/* Drops buckets that have refilled completely: they carry no state. */
static void evict_full(struct table *t, int si, int64_t now)
{
	for (int j = 0; j < SHARD_BUCKETS; j++) {
		struct bucket **pp = &t->shard[si].slots[j];
		while (*pp) {
			struct bucket *b = *pp;
			refill(b, now);
			if (b->tokens >= b->limit) {
				*pp = b->next;
				free(b);
				t->shard[si].count--;
			} else {
				pp = &b->next;
			}
		}
	}
}

/* Runs one operation on the bucket of key under its shard lock. take: 1 to take a call,
 * 0 to look only. Returns 1 if allowed. */
static int table_op(struct table *t, uint64_t key, int64_t limit, int64_t refill_ms, int take,
		    int64_t now, struct rl_verdict *v)
{
	uint64_t h = mix(key);
	int si = (int)(h % SHARDS);
	size_t bi = (size_t)((h / SHARDS) % SHARD_BUCKETS);
	struct bucket *b;
	int allowed;

	pthread_mutex_lock(&t->shard[si].mu);
	for (b = t->shard[si].slots[bi]; b && b->key != key; b = b->next)
		;
	if (!b && take) {
		if (t->shard[si].count >= SHARD_MAX_ENTRIES)
			evict_full(t, si, now);
		b = calloc(1, sizeof(*b));
		if (b) {
			b->key = key;
			b->tokens = limit;
			b->last = now;
			b->next = t->shard[si].slots[bi];
			t->shard[si].slots[bi] = b;
			t->shard[si].count++;
		}
	}
	if (!b) {
		/* Unknown key on a look, or no memory: the bucket is full. */
		allowed = 1;
		if (v)
			*v = (struct rl_verdict){1, limit, take ? limit - 1 : limit, 0};
		pthread_mutex_unlock(&t->shard[si].mu);
		return allowed;
	}
	b->limit = limit;
	b->refill = refill_ms;
	refill(b, now);
	allowed = b->tokens > 0;
	if (allowed && take)
		b->tokens--;
	if (v) {
		v->allowed = allowed;
		v->limit = limit;
		v->remaining = b->tokens;
		v->reset_ms = b->tokens >= limit ? 0 : b->refill - (now - b->last);
		if (v->reset_ms < 0)
			v->reset_ms = 0;
	}
	pthread_mutex_unlock(&t->shard[si].mu);
	return allowed;
}

struct override {
	char path[128];
	int64_t limit, refill;
};

struct ratelimit {
	struct table *t;
	int64_t limit, refill;
	int noverrides;
	struct override overrides[32];
};

static int parse_overrides(struct ratelimit *rl, const char *spec, struct err *e)
{
	const char *p = spec;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char item[256], *eq, *colon, *x;
		struct override *o;

		if (n == 0 || n >= sizeof(item))
			return err_set(e, MC_ERR_INVALID, "rate_overrides: bad entry near '%.20s'", p);
		memcpy(item, p, n);
		item[n] = '\0';
		eq = strchr(item, '=');
		if (!eq || eq == item || (size_t)(eq - item) >= sizeof(o->path) ||
		    rl->noverrides >= (int)(sizeof(rl->overrides) / sizeof(rl->overrides[0])))
			return err_set(e, MC_ERR_INVALID,
				       "rate_overrides: '%s' is not /api/area/function=limit:refill_ms", item);
		o = &rl->overrides[rl->noverrides];
		memcpy(o->path, item, (size_t)(eq - item));
		o->path[eq - item] = '\0';
		o->limit = strtoll(eq + 1, &colon, 10);
		if (o->limit <= 0 || (*colon != ':' && *colon != '\0'))
			return err_set(e, MC_ERR_INVALID, "rate_overrides: bad limit in '%s'", item);
		o->refill = rl->refill;
		if (*colon == ':') {
			o->refill = strtoll(colon + 1, &x, 10);
			if (o->refill <= 0 || *x)
				return err_set(e, MC_ERR_INVALID, "rate_overrides: bad refill in '%s'", item);
		}
		rl->noverrides++;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

struct ratelimit *ratelimit_new(const struct config *cfg, struct err *e)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl || !(rl->t = table_new())) {
		free(rl);
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	rl->limit = cfg->rate_limit;
	rl->refill = cfg->rate_refill_ms;
	if (parse_overrides(rl, cfg->rate_overrides, e) != 0) {
		ratelimit_free(rl);
		return NULL;
	}
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	table_free(rl->t);
	free(rl);
}

void ratelimit_take(struct ratelimit *rl, int64_t user_id, const char *path, int64_t now,
		    struct rl_verdict *out)
{
	int64_t limit = rl->limit, refill_ms = rl->refill;
	uint64_t key = (uint64_t)user_id << 8;

	for (int i = 0; i < rl->noverrides; i++) {
		if (strcmp(rl->overrides[i].path, path) == 0) {
			limit = rl->overrides[i].limit;
			refill_ms = rl->overrides[i].refill;
			key |= (uint64_t)(i + 1);
			break;
		}
	}
	table_op(rl->t, key, limit, refill_ms, 1, now, out);
}

struct iplimit {
	struct table *t;
	int64_t limit, refill;
};

struct iplimit *iplimit_new(int per_minute)
{
	struct iplimit *l = calloc(1, sizeof(*l));

	if (!l || !(l->t = table_new())) {
		free(l);
		return NULL;
	}
	l->limit = per_minute;
	l->refill = 60000 / per_minute > 0 ? 60000 / per_minute : 1;
	return l;
}

void iplimit_free(struct iplimit *l)
{
	if (!l)
		return;
	table_free(l->t);
	free(l);
}

static uint64_t ip_key(const char *ip)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a, then mixed */
	for (const unsigned char *p = (const unsigned char *)ip; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return mix(h);
}

int iplimit_allowed(struct iplimit *l, const char *ip, int64_t now)
{
	return table_op(l->t, ip_key(ip), l->limit, l->refill, 0, now, NULL);
}

void iplimit_count(struct iplimit *l, const char *ip, int64_t now)
{
	table_op(l->t, ip_key(ip), l->limit, l->refill, 1, now, NULL);
}
