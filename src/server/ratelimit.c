/* Token buckets; see ratelimit.h. Refilling adds whole calls only and keeps the remainder
 * of elapsed time, so X-RateLimit-Reset is exact: a call made that many milliseconds
 * later finds a token. The memory backend is a sharded chained hash table keyed by a
 * 64-bit key (user id and endpoint, or a hash of the client address). */
#include "ratelimit.h"

#include "common/err.h"
#include "common/lock.h"
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SHARDS            64
#define SHARD_BUCKETS     1024
#define SHARD_MAX_ENTRIES 16384 /* ~1M buckets in all, ~48 MiB at most */
#define MAX_OVERRIDES     32
#define RATE_MAX          1000000 /* bounds of rate_limit and rate_refill_ms in config.c */
#define REFILL_MAX        3600000

int rl_bucket_step(struct rl_bucket *b, int64_t limit, int64_t refill_ms, int take, int64_t now,
                   struct rl_verdict *v)
{
	int allowed;

	if (limit < 1)
		limit = 1;
	if (refill_ms < 1)
		refill_ms = 1;
	if (b->tokens > limit)
		b->tokens = limit; /* the limit was lowered */
	if (b->tokens >= limit || now < b->last) {
		if (b->tokens >= limit)
			b->last = now;
	} else {
		int64_t add = (now - b->last) / refill_ms;
		if (add >= limit - b->tokens) {
			b->tokens = limit;
			b->last = now;
		} else if (add > 0) {
			b->tokens += add;
			b->last += add * refill_ms;
		}
	}
	allowed = b->tokens > 0;
	if (allowed && take)
		b->tokens--;
	if (v) {
		v->allowed = allowed;
		v->limit = limit;
		v->remaining = b->tokens;
		v->reset_ms = 0;
		if (b->tokens < limit) {
			int64_t since = now > b->last ? now - b->last : 0;
			v->reset_ms = since < refill_ms ? refill_ms - since : 0;
		}
	}
	return allowed;
}

/* ---- the memory backend ---- */

struct bucket {
	uint64_t key;
	struct rl_bucket s;
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

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static void table_free(void *state)
{
	struct table *t = state;

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

/* Drops the shard's buckets that have refilled completely: they carry no state. */
static void evict_full(struct table *t, int si, int64_t now)
{
	for (int j = 0; j < SHARD_BUCKETS; j++) {
		struct bucket **pp = &t->shard[si].slots[j];
		while (*pp) {
			struct bucket *b = *pp;
			rl_bucket_step(&b->s, b->limit, b->refill, 0, now, NULL);
			if (b->s.tokens >= b->limit) {
				*pp = b->next;
				free(b);
				t->shard[si].count--;
			} else {
				pp = &b->next;
			}
		}
	}
}

static int table_op(void *state, uint64_t key, int64_t limit, int64_t refill_ms, int take,
                    int64_t now, struct rl_verdict *v)
{
	struct table *t = state;
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
		if (t->shard[si].count < SHARD_MAX_ENTRIES)
			b = calloc(1, sizeof(*b));
		if (b) {
			b->key = key;
			b->s.tokens = limit;
			b->s.last = now;
			b->next = t->shard[si].slots[bi];
			t->shard[si].slots[bi] = b;
			t->shard[si].count++;
		}
	}
	if (!b) {
		/* No state (a look at an unknown key, or the table is at its bound): a full
		 * bucket. Refusing instead would let a flood of new keys lock everyone out. */
		struct rl_bucket tmp = {limit, now};
		allowed = rl_bucket_step(&tmp, limit, refill_ms, take, now, v);
	} else {
		b->limit = limit;
		b->refill = refill_ms;
		allowed = rl_bucket_step(&b->s, limit, refill_ms, take, now, v);
	}
	pthread_mutex_unlock(&t->shard[si].mu);
	return allowed;
}

/* Forgets every bucket: a forgotten bucket is a full one. */
static void table_clear(void *state)
{
	struct table *t = state;

	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&t->shard[i].mu);
		for (int j = 0; j < SHARD_BUCKETS; j++) {
			struct bucket *b = t->shard[i].slots[j], *n;
			for (; b; b = n) {
				n = b->next;
				free(b);
			}
			t->shard[i].slots[j] = NULL;
		}
		t->shard[i].count = 0;
		pthread_mutex_unlock(&t->shard[i].mu);
	}
}

int rl_memory_backend(struct rl_backend *out)
{
	struct table *t = calloc(1, sizeof(*t));

	memset(out, 0, sizeof(*out));
	if (!t)
		return MC_ERR_NOMEM;
	for (int i = 0; i < SHARDS; i++)
		lock_init(&t->shard[i].mu);
	out->op = table_op;
	out->free = table_free;
	out->clear = table_clear;
	out->state = t;
	return 0;
}

static void backend_release(struct rl_backend *b)
{
	if (b->free)
		b->free(b->state);
	memset(b, 0, sizeof(*b));
}

/* ---- per-user limits ---- */

struct override {
	char path[128];
	int64_t limit, refill;
};

struct ratelimit {
	struct rl_backend b;
	int64_t limit, refill;
	int noverrides;
	struct override overrides[MAX_OVERRIDES];
};

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses a decimal in [1, max] from s[0..n); 0 or MC_ERR_INVALID. */
static int parse_num(const char *s, size_t n, int64_t max, int64_t *out)
{
	int64_t v = 0;

	while (n && is_space(*s))
		s++, n--;
	while (n && is_space(s[n - 1]))
		n--;
	if (n == 0 || n > 10)
		return MC_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return MC_ERR_INVALID;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > max)
		return MC_ERR_INVALID;
	*out = v;
	return 0;
}

/* "/api/area/function=limit[:refill_ms],..." with spaces around items allowed. */
static int parse_overrides(struct ratelimit *rl, const char *spec, struct err *e)
{
	const char *p = spec;

	while (p && *p) {
		const char *end = strchr(p, ',');
		const char *a = p, *z = end ? end : p + strlen(p), *eq, *colon;
		struct override *o;

		p = end ? end + 1 : z;
		while (a < z && is_space(*a))
			a++;
		while (z > a && is_space(z[-1]))
			z--;
		if (a == z)
			continue;
		eq = memchr(a, '=', (size_t)(z - a));
		const char *pe = eq;
		while (pe && pe > a && is_space(pe[-1]))
			pe--;
		if (!eq || pe - a < 6 || strncmp(a, "/api/", 5) != 0 ||
		    (size_t)(pe - a) >= sizeof(o->path) || memchr(a, ' ', (size_t)(pe - a)))
			return err_set(e, MC_ERR_INVALID,
			               "rate_overrides: '%.*s' is not "
			               "/api/area/function=limit[:refill_ms]",
			               (int)(z - a), a);
		if (rl->noverrides >= MAX_OVERRIDES)
			return err_set(e, MC_ERR_INVALID, "rate_overrides: more than %d endpoints",
			               MAX_OVERRIDES);
		o = &rl->overrides[rl->noverrides];
		memcpy(o->path, a, (size_t)(pe - a));
		o->path[pe - a] = '\0';
		for (int i = 0; i < rl->noverrides; i++)
			if (strcmp(rl->overrides[i].path, o->path) == 0)
				return err_set(e, MC_ERR_INVALID,
				               "rate_overrides: '%s' is given twice", o->path);
		eq++;
		while (eq < z && is_space(*eq))
			eq++;
		colon = memchr(eq, ':', (size_t)(z - eq));
		o->refill = rl->refill;
		if (parse_num(eq, (size_t)((colon ? colon : z) - eq), RATE_MAX, &o->limit) != 0)
			return err_set(e, MC_ERR_INVALID,
			               "rate_overrides: bad limit in '%.*s' (1 to %d)",
			               (int)(z - a), a, RATE_MAX);
		if (colon &&
		    parse_num(colon + 1, (size_t)(z - colon - 1), REFILL_MAX, &o->refill) != 0)
			return err_set(e, MC_ERR_INVALID,
			               "rate_overrides: bad refill in '%.*s' (1 to %d ms)",
			               (int)(z - a), a, REFILL_MAX);
		rl->noverrides++;
	}
	return 0;
}

struct ratelimit *ratelimit_new_backend(const struct config *cfg, const struct rl_backend *b,
                                        struct err *e)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl) {
		struct rl_backend tmp = *b;
		backend_release(&tmp);
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	rl->b = *b;
	rl->limit = cfg->rate_limit;
	rl->refill = cfg->rate_refill_ms;
	if (parse_overrides(rl, cfg->rate_overrides, e) != 0) {
		ratelimit_free(rl);
		return NULL;
	}
	return rl;
}

struct ratelimit *ratelimit_new(const struct config *cfg, struct err *e)
{
	struct rl_backend b;

	if (rl_memory_backend(&b) != 0) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return ratelimit_new_backend(cfg, &b, e);
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	backend_release(&rl->b);
	free(rl);
}

void ratelimit_clear(struct ratelimit *rl)
{
	if (rl && rl->b.clear)
		rl->b.clear(rl->b.state);
}

void ratelimit_bucket(const struct ratelimit *rl, int64_t user_id, const char *path, uint64_t *key,
                      int64_t *limit, int64_t *refill_ms)
{
	*limit = rl->limit;
	*refill_ms = rl->refill;
	*key = (uint64_t)user_id << 8; /* low byte: 0 = main bucket, i + 1 = override i */
	for (int i = 0; i < rl->noverrides; i++) {
		if (strcmp(rl->overrides[i].path, path) == 0) {
			*limit = rl->overrides[i].limit;
			*refill_ms = rl->overrides[i].refill;
			*key |= (uint64_t)(i + 1);
			break;
		}
	}
}

static void user_op(struct ratelimit *rl, int64_t user_id, const char *path, int64_t now, int take,
                    struct rl_verdict *out)
{
	int64_t limit, refill_ms;
	uint64_t key;

	ratelimit_bucket(rl, user_id, path, &key, &limit, &refill_ms);
	rl->b.op(rl->b.state, key, limit, refill_ms, take, now, out);
}

void ratelimit_take(struct ratelimit *rl, int64_t user_id, const char *path, int64_t now,
                    struct rl_verdict *out)
{
	user_op(rl, user_id, path, now, 1, out);
}

void ratelimit_peek(struct ratelimit *rl, int64_t user_id, const char *path, int64_t now,
                    struct rl_verdict *out)
{
	user_op(rl, user_id, path, now, 0, out);
}

/* ---- per-client-IP limits ---- */

struct iplimit {
	struct rl_backend b;
	int64_t limit, refill;
};

struct iplimit *iplimit_new(int per_minute)
{
	struct rl_backend b;

	if (rl_memory_backend(&b) != 0)
		return NULL;
	return iplimit_new_backend(per_minute, &b);
}

struct iplimit *iplimit_new_backend(int per_minute, const struct rl_backend *b)
{
	struct iplimit *l = calloc(1, sizeof(*l));

	if (!l) {
		struct rl_backend tmp = *b;
		backend_release(&tmp);
		return NULL;
	}
	l->b = *b;
	if (per_minute < 1)
		per_minute = 1;
	l->limit = per_minute;
	l->refill = 60000 / per_minute > 0 ? 60000 / per_minute : 1;
	return l;
}

void iplimit_free(struct iplimit *l)
{
	if (!l)
		return;
	backend_release(&l->b);
	free(l);
}

void iplimit_clear(struct iplimit *l)
{
	if (l && l->b.clear)
		l->b.clear(l->b.state);
}

/* FNV-1a of the address bytes, then mixed. IPv6 counts per /64 (IPv4-mapped addresses
 * per address); anything unparsable is hashed as text. */
static uint64_t ip_key(const char *ip)
{
	unsigned char a[16];
	const unsigned char *p = (const unsigned char *)ip;
	size_t n = strlen(ip);
	uint64_t h = 1469598103934665603ULL;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (strchr(ip, ':') && inet_pton(AF_INET6, ip, a) == 1) {
		p = a;
		n = memcmp(a, mapped, sizeof(mapped)) == 0 ? 16 : 8;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return mix(h ^ n);
}

int iplimit_allowed(struct iplimit *l, const char *ip, int64_t now)
{
	return l->b.op(l->b.state, ip_key(ip), l->limit, l->refill, 0, now, NULL);
}

void iplimit_peek(struct iplimit *l, const char *ip, int64_t now, struct rl_verdict *out)
{
	l->b.op(l->b.state, ip_key(ip), l->limit, l->refill, 0, now, out);
}

void iplimit_count(struct iplimit *l, const char *ip, int64_t now)
{
	l->b.op(l->b.state, ip_key(ip), l->limit, l->refill, 1, now, NULL);
}

int iplimit_take(struct iplimit *l, const char *ip, int64_t now)
{
	return l->b.op(l->b.state, ip_key(ip), l->limit, l->refill, 1, now, NULL);
}
