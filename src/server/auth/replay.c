/* Replay cache; see replay.h. Open addressing over 64-bit keyed hashes (0 marks an empty
 * slot), one mutex per shard, two generations per shard instead of per-entry expiry so
 * there is never a scan on the request path. Tables start small and double as they fill,
 * so memory follows the traffic actually seen, up to max_entries in all. */
#include "replay.h"

#include "common/crypto.h"
#include "common/err.h"
#include "common/lock.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SHARDS    64
#define MIN_SLOTS 64

struct table {
	uint64_t *slots;
	size_t cap; /* power of two */
	size_t count;
};

struct shard {
	pthread_mutex_t mu;
	struct table gen[2];
	int cur;
	int64_t rotated_at;
};

struct replay {
	unsigned char key[crypto_shorthash_KEYBYTES];
	size_t max_entries;
	atomic_size_t entries; /* in all shards and generations */
	int64_t period;
	struct shard shards[SHARDS];
};

struct replay *replay_new(size_t max_entries, int skew_s)
{
	struct replay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	crypto_init();
	random_bytes(r->key, sizeof(r->key));
	r->max_entries = max_entries;
	r->period = (int64_t)skew_s * 2;
	for (int i = 0; i < SHARDS; i++)
		lock_init(&r->shards[i].mu);
	return r;
}

void replay_free(struct replay *r)
{
	if (!r)
		return;
	for (int i = 0; i < SHARDS; i++) {
		free(r->shards[i].gen[0].slots);
		free(r->shards[i].gen[1].slots);
		pthread_mutex_destroy(&r->shards[i].mu);
	}
	free(r);
}

/* 1 if h is in t; otherwise 0 and *slot is where it would go. */
static int lookup(const struct table *t, uint64_t h, size_t *slot)
{
	size_t i;

	if (!t->cap) {
		*slot = 0;
		return 0;
	}
	i = (size_t)h & (t->cap - 1);
	while (t->slots[i]) {
		if (t->slots[i] == h)
			return 1;
		i = (i + 1) & (t->cap - 1);
	}
	*slot = i;
	return 0;
}

/* Makes room for one more entry (load stays at or under one half). */
static int reserve(struct table *t)
{
	size_t ncap, i, j;
	uint64_t *ns;

	if (t->cap && (t->count + 1) * 2 <= t->cap)
		return 0;
	ncap = t->cap ? t->cap * 2 : MIN_SLOTS;
	ns = calloc(ncap, sizeof(uint64_t));
	if (!ns)
		return MC_ERR_NOMEM;
	for (i = 0; i < t->cap; i++) {
		if (!t->slots[i])
			continue;
		for (j = (size_t)t->slots[i] & (ncap - 1); ns[j]; j = (j + 1) & (ncap - 1))
			;
		ns[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
	return 0;
}

static uint64_t pair_hash(const struct replay *r, const char *ak, size_t ak_len, const char *req_id)
{
	crypto_generichash_state st;
	unsigned char out[16];
	unsigned char sep = 0;
	uint64_t h;

	/* A keyed hash of (access key, 0, request id): unpredictable to clients, so they
	 * cannot aim collisions at each other's entries. */
	crypto_generichash_init(&st, r->key, sizeof(r->key), sizeof(out));
	crypto_generichash_update(&st, (const unsigned char *)ak, ak_len);
	crypto_generichash_update(&st, &sep, 1);
	crypto_generichash_update(&st, (const unsigned char *)req_id, strlen(req_id));
	crypto_generichash_final(&st, out, sizeof(out));
	memcpy(&h, out, sizeof(h));
	return h ? h : 1;
}

/* Drops the older generation once it is a period old (caller holds s->mu). */
static void rotate(struct replay *r, struct shard *s, int64_t now_s)
{
	if (now_s - s->rotated_at >= r->period) {
		/* Entries of the older generation are at least one period old: drop them. */
		struct table *old = &s->gen[1 - s->cur];
		atomic_fetch_sub(&r->entries, old->count);
		free(old->slots);
		memset(old, 0, sizeof(*old));
		s->cur = 1 - s->cur;
		s->rotated_at = now_s;
	}
}

int replay_check_insert(struct replay *r, const char *access_key, size_t ak_len, const char *req_id,
                        int64_t now_s)
{
	uint64_t h = pair_hash(r, access_key, ak_len, req_id);
	struct shard *s = &r->shards[h >> 58];
	struct table *cur;
	size_t slot, dummy;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	rotate(r, s, now_s);
	cur = &s->gen[s->cur];
	if (lookup(&s->gen[1 - s->cur], h, &dummy) || lookup(cur, h, &slot)) {
		rc = MC_ERR_EXISTS;
	} else if (atomic_load(&r->entries) >= r->max_entries) {
		rc = MC_ERR_UNAVAILABLE;
	} else if (reserve(cur) != 0) {
		rc = MC_ERR_UNAVAILABLE;
	} else {
		lookup(cur, h, &slot); /* the table may have grown */
		cur->slots[slot] = h;
		cur->count++;
		atomic_fetch_add(&r->entries, 1);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int replay_seen(struct replay *r, const char *access_key, size_t ak_len, const char *req_id,
                int64_t now_s)
{
	uint64_t h = pair_hash(r, access_key, ak_len, req_id);
	struct shard *s = &r->shards[h >> 58];
	size_t dummy;
	int seen;

	pthread_mutex_lock(&s->mu);
	rotate(r, s, now_s);
	seen = lookup(&s->gen[0], h, &dummy) || lookup(&s->gen[1], h, &dummy);
	pthread_mutex_unlock(&s->mu);
	return seen;
}

/* Removes h from t by backward-shift deletion (linear probing keeps no tombstones). */
static int table_remove(struct table *t, uint64_t h)
{
	size_t mask, i, j;

	if (!t->cap)
		return 0;
	mask = t->cap - 1;
	for (i = (size_t)h & mask; t->slots[i] && t->slots[i] != h; i = (i + 1) & mask)
		;
	if (!t->slots[i])
		return 0;
	for (j = i;;) {
		size_t home;
		j = (j + 1) & mask;
		if (!t->slots[j])
			break;
		home = (size_t)t->slots[j] & mask;
		/* the entry at j may move to the hole at i unless its home lies in (i, j] */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		t->slots[i] = t->slots[j];
		i = j;
	}
	t->slots[i] = 0;
	t->count--;
	return 1;
}

void replay_forget(struct replay *r, const char *access_key, size_t ak_len, const char *req_id)
{
	uint64_t h = pair_hash(r, access_key, ak_len, req_id);
	struct shard *s = &r->shards[h >> 58];

	pthread_mutex_lock(&s->mu);
	for (int g = 0; g < 2; g++) {
		if (table_remove(&s->gen[g], h)) {
			atomic_fetch_sub(&r->entries, 1);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}
