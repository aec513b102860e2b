/* Replay cache; see replay.h. Open addressing over 64-bit keyed hashes (0 marks an empty
 * slot), one mutex per shard, two generations per shard instead of per-entry expiry so
 * there is never a scan on the request path. */
#include "replay.h"

#include "common/crypto.h"
#include "common/err.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SHARDS 64

struct shard {
	pthread_mutex_t mu;
	uint64_t *gen[2];
	size_t count[2];
	int cur;
	int64_t rotated_at;
};

struct replay {
	unsigned char key[crypto_shorthash_KEYBYTES];
	size_t cap;   /* slots per generation table (power of two) */
	size_t limit; /* most entries per generation table */
	int64_t period;
	struct shard shards[SHARDS];
};

struct replay *replay_new(size_t max_entries, int skew_s)
{
	struct replay *r = calloc(1, sizeof(*r));
	size_t per = max_entries / SHARDS / 2 + 1;

	if (!r)
		return NULL;
	crypto_init();
	random_bytes(r->key, sizeof(r->key));
	r->cap = 16;
	while (r->cap < per * 2)
		r->cap *= 2;
	r->limit = r->cap / 2 > per ? per : r->cap / 2;
	r->period = (int64_t)skew_s * 2;
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&r->shards[i].mu, NULL);
		/* calloc: untouched pages stay unallocated until used. */
		r->shards[i].gen[0] = calloc(r->cap, sizeof(uint64_t));
		r->shards[i].gen[1] = calloc(r->cap, sizeof(uint64_t));
		if (!r->shards[i].gen[0] || !r->shards[i].gen[1]) {
			replay_free(r);
			return NULL;
		}
	}
	return r;
}

void replay_free(struct replay *r)
{
	if (!r)
		return;
	for (int i = 0; i < SHARDS; i++) {
		free(r->shards[i].gen[0]);
		free(r->shards[i].gen[1]);
		pthread_mutex_destroy(&r->shards[i].mu);
	}
	free(r);
}

static int lookup(const uint64_t *t, size_t cap, uint64_t h, size_t *slot)
{
	size_t i = (size_t)h & (cap - 1);
	while (t[i]) {
		if (t[i] == h)
			return 1;
		i = (i + 1) & (cap - 1);
	}
	*slot = i;
	return 0;
}

int replay_check_insert(struct replay *r, const char *access_key, size_t ak_len, const char *req_id,
			int64_t now_s)
{
	unsigned char buf[512], out[8];
	size_t rl = strlen(req_id), n = ak_len + 1 + rl;
	uint64_t h;
	struct shard *s;
	size_t slot, dummy;
	int rc = 0;

	if (n > sizeof(buf)) {
		/* Hash long inputs in two steps: hash of the request id, then of the pair. */
		crypto_shorthash(out, (const unsigned char *)req_id, rl, r->key);
		if (ak_len > sizeof(buf) - 9)
			ak_len = sizeof(buf) - 9;
		memcpy(buf, access_key, ak_len);
		buf[ak_len] = 0;
		memcpy(buf + ak_len + 1, out, 8);
		n = ak_len + 9;
	} else {
		memcpy(buf, access_key, ak_len);
		buf[ak_len] = 0;
		memcpy(buf + ak_len + 1, req_id, rl);
	}
	crypto_shorthash(out, buf, n, r->key);
	memcpy(&h, out, sizeof(h));
	if (!h)
		h = 1;
	s = &r->shards[h >> 58];
	pthread_mutex_lock(&s->mu);
	if (now_s - s->rotated_at >= r->period) {
		/* Entries of the older generation are at least one period old: drop them. */
		int old = 1 - s->cur;
		memset(s->gen[old], 0, r->cap * sizeof(uint64_t));
		s->count[old] = 0;
		s->cur = old;
		s->rotated_at = now_s;
	}
	if (lookup(s->gen[1 - s->cur], r->cap, h, &dummy) || lookup(s->gen[s->cur], r->cap, h, &slot)) {
		rc = MC_ERR_EXISTS;
	} else if (s->count[s->cur] >= r->limit) {
		rc = MC_ERR_UNAVAILABLE;
	} else {
		s->gen[s->cur][slot] = h;
		s->count[s->cur]++;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}
