/* Replay cache; see replay.h. Open addressing over 64-bit keyed hashes (0 marks an empty
 * slot), one mutex per shard, one table per shard and epoch instead of per-entry expiry so
 * there is never a scan on the request path. Tables start small and double as they fill,
 * so memory follows the traffic actually seen, up to max_entries in all.
 *
 * Each user's share is counted the same way: per epoch, a small table of user id -> pairs
 * recorded, dropped with the epoch; a user's live pairs are the counts of the current and
 * the previous epoch. Lock order: pair shard, then user shard. */
#include "replay.h"

#include "common/crypto.h"
#include "common/date.h"
#include "common/file.h"
#include "common/lock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

#define SHARDS      64
#define USER_SHARDS 16
#define MIN_SLOTS   64
#define NO_EPOCH    INT64_MIN

struct table {
	uint64_t *slots;
	size_t cap; /* power of two */
	size_t count;
	int64_t epoch; /* NO_EPOCH: unused */
};

struct shard {
	pthread_mutex_t mu;
	struct table gen[2]; /* gen[E & 1] holds the pairs recorded in epoch E */
};

struct uent {
	int64_t uid; /* 0: empty */
	uint32_t n;
};

struct utable {
	struct uent *v;
	size_t cap, count;
	int64_t epoch;
};

struct ushard {
	pthread_mutex_t mu;
	struct utable gen[2];
};

/* Pairs that must survive a restart: 16-byte records (pair hash, wall second until which
 * it matters), one file per skew-long bucket of that second, so whole files expire. */
struct journal {
	pthread_mutex_t mu;
	int on;
	int fd; /* -1: none open */
	int64_t bucket;
	char dir[PATH_MAX - 64];
};

struct replay {
	unsigned char key[crypto_generichash_KEYBYTES];
	size_t max_entries;
	size_t per_user;
	int skew;
	atomic_size_t entries; /* in all shards and epochs */
	_Atomic int64_t epoch; /* the newest epoch any call has seen */
	int64_t period;
	struct shard shards[SHARDS];
	struct ushard ushards[USER_SHARDS];
	struct journal j;
};

struct replay *replay_new(size_t max_entries, size_t per_user, int skew_s, const unsigned char *key)
{
	struct replay *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	crypto_init();
	if (key)
		memcpy(r->key, key, sizeof(r->key));
	else
		random_bytes(RND_INTERNAL, r->key, sizeof(r->key));
	r->max_entries = max_entries;
	r->per_user = per_user;
	r->skew = skew_s > 0 ? skew_s : 1;
	r->period = (int64_t)r->skew * 2;
	atomic_init(&r->epoch, 0);
	for (int i = 0; i < SHARDS; i++) {
		lock_init(&r->shards[i].mu);
		r->shards[i].gen[0].epoch = r->shards[i].gen[1].epoch = NO_EPOCH;
	}
	for (int i = 0; i < USER_SHARDS; i++) {
		lock_init(&r->ushards[i].mu);
		r->ushards[i].gen[0].epoch = r->ushards[i].gen[1].epoch = NO_EPOCH;
	}
	pthread_mutex_init(&r->j.mu, NULL);
	r->j.fd = -1;
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
	for (int i = 0; i < USER_SHARDS; i++) {
		free(r->ushards[i].gen[0].v);
		free(r->ushards[i].gen[1].v);
		pthread_mutex_destroy(&r->ushards[i].mu);
	}
	if (r->j.fd >= 0)
		close(r->j.fd);
	pthread_mutex_destroy(&r->j.mu);
	free(r);
}

/* The current epoch: never older than one another thread has already used, so a shard
 * is never asked to go back (call with the shard's lock held). */
static int64_t epoch_of(struct replay *r, int64_t now_s)
{
	int64_t e = now_s / r->period, seen = atomic_load(&r->epoch);

	while (e > seen && !atomic_compare_exchange_weak(&r->epoch, &seen, e))
		;
	return e > seen ? e : seen;
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

void replay_pair_hash(const struct replay *r, const char *ak, size_t ak_len, const char *req_id,
                      unsigned char out[REPLAY_PAIR_LEN])
{
	crypto_generichash_state st;
	unsigned char sep = 0;

	/* A keyed hash of (access key, 0, request id): unpredictable to clients, so they
	 * cannot aim collisions at each other's entries. */
	crypto_generichash_init(&st, r->key, sizeof(r->key), REPLAY_PAIR_LEN);
	crypto_generichash_update(&st, (const unsigned char *)ak, ak_len);
	crypto_generichash_update(&st, &sep, 1);
	crypto_generichash_update(&st, (const unsigned char *)req_id, strlen(req_id));
	crypto_generichash_final(&st, out, REPLAY_PAIR_LEN);
}

static uint64_t pair_h(const unsigned char pair[REPLAY_PAIR_LEN])
{
	uint64_t h;

	memcpy(&h, pair, sizeof(h));
	return h ? h : 1;
}

static uint64_t pair_hash(const struct replay *r, const char *ak, size_t ak_len, const char *req_id)
{
	unsigned char out[REPLAY_PAIR_LEN];

	replay_pair_hash(r, ak, ak_len, req_id, out);
	return pair_h(out);
}

/* Drops the tables older than the previous epoch and makes gen[e & 1] epoch e's
 * (caller holds s->mu). */
static void advance(struct replay *r, struct shard *s, int64_t e)
{
	for (int g = 0; g < 2; g++) {
		struct table *t = &s->gen[g];
		if (t->epoch != NO_EPOCH && t->epoch < e - 1) {
			atomic_fetch_sub(&r->entries, t->count);
			free(t->slots);
			memset(t, 0, sizeof(*t));
			t->epoch = NO_EPOCH;
		}
	}
	s->gen[e & 1].epoch = e;
}

static void uadvance(struct ushard *u, int64_t e)
{
	for (int g = 0; g < 2; g++) {
		struct utable *t = &u->gen[g];
		if (t->epoch != NO_EPOCH && t->epoch < e - 1) {
			free(t->v);
			memset(t, 0, sizeof(*t));
			t->epoch = NO_EPOCH;
		}
	}
	u->gen[e & 1].epoch = e;
}

static size_t uhash(int64_t uid)
{
	uint64_t x = (uint64_t)uid * 0x9e3779b97f4a7c15ULL;
	return (size_t)(x ^ (x >> 29));
}

static struct ushard *ushard_of(struct replay *r, int64_t uid)
{
	return &r->ushards[(uhash(uid) >> 7) % USER_SHARDS];
}

/* The entry of uid in t, added if add (NULL if absent or out of memory). */
static struct uent *ufind(struct utable *t, int64_t uid, int add)
{
	size_t i;

	if (add && (!t->cap || (t->count + 1) * 2 > t->cap)) {
		size_t ncap = t->cap ? t->cap * 2 : 16, j;
		struct uent *nv = calloc(ncap, sizeof(*nv));
		if (!nv)
			return NULL;
		for (i = 0; i < t->cap; i++) {
			if (!t->v[i].uid)
				continue;
			for (j = uhash(t->v[i].uid) & (ncap - 1); nv[j].uid;
			     j = (j + 1) & (ncap - 1))
				;
			nv[j] = t->v[i];
		}
		free(t->v);
		t->v = nv;
		t->cap = ncap;
	}
	if (!t->cap)
		return NULL;
	for (i = uhash(uid) & (t->cap - 1); t->v[i].uid; i = (i + 1) & (t->cap - 1))
		if (t->v[i].uid == uid)
			return &t->v[i];
	if (!add)
		return NULL;
	t->v[i].uid = uid;
	t->count++;
	return &t->v[i];
}

static size_t ucount(struct ushard *u, int64_t uid)
{
	size_t n = 0;

	for (int g = 0; g < 2; g++) {
		struct uent *x = u->gen[g].epoch != NO_EPOCH ? ufind(&u->gen[g], uid, 0) : NULL;
		n += x ? x->n : 0;
	}
	return n;
}

/* Charges one pair of epoch e to uid: 0, MC_ERR_TOO_LARGE over its share, MC_ERR_NOMEM. */
static int user_take(struct replay *r, int64_t uid, int64_t e, int64_t now_s, int *retry_after_s)
{
	struct ushard *u = ushard_of(r, uid);
	struct uent *x;
	int rc = 0;

	pthread_mutex_lock(&u->mu);
	uadvance(u, e);
	if (r->per_user && ucount(u, uid) >= r->per_user) {
		/* the oldest pairs go when the previous epoch's table does, or else the current's
		 */
		struct uent *old = ufind(&u->gen[(e - 1) & 1], uid, 0);
		int64_t at = (old && old->n && u->gen[(e - 1) & 1].epoch == e - 1 ? e + 1 : e + 2) *
		             r->period;
		if (retry_after_s)
			*retry_after_s = at - now_s < 1 ? 1 : (int)(at - now_s);
		rc = MC_ERR_TOO_LARGE;
	} else if (!(x = ufind(&u->gen[e & 1], uid, 1))) {
		rc = MC_ERR_NOMEM;
	} else {
		x->n++;
	}
	pthread_mutex_unlock(&u->mu);
	return rc;
}

/* Gives back one pair of epoch e (if that epoch's count is still held). */
static void user_give(struct replay *r, int64_t uid, int64_t e)
{
	struct ushard *u = ushard_of(r, uid);
	struct uent *x;

	pthread_mutex_lock(&u->mu);
	if (u->gen[e & 1].epoch == e && (x = ufind(&u->gen[e & 1], uid, 0)) && x->n)
		x->n--;
	pthread_mutex_unlock(&u->mu);
}

/* Records h in epoch e of its shard; 0, MC_ERR_EXISTS or a refusal. Takes s->mu. */
static int insert_hash(struct replay *r, uint64_t h, int64_t user_id, int64_t now_s, int charge_cap,
                       int *retry_after_s)
{
	struct shard *s = &r->shards[h >> 58];
	struct table *cur;
	size_t slot = 0, dummy;
	int64_t e;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	e = epoch_of(r, now_s);
	advance(r, s, e);
	cur = &s->gen[e & 1];
	if (lookup(&s->gen[0], h, &dummy) || lookup(&s->gen[1], h, &dummy)) {
		rc = MC_ERR_EXISTS;
	} else if (charge_cap && atomic_load(&r->entries) >= r->max_entries) {
		rc = MC_ERR_UNAVAILABLE;
	} else if (user_id > 0 && (rc = user_take(r, user_id, e, now_s, retry_after_s)) != 0) {
		if (rc != MC_ERR_TOO_LARGE)
			rc = MC_ERR_UNAVAILABLE;
	} else if (reserve(cur) != 0) {
		if (user_id > 0)
			user_give(r, user_id, e);
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

/* ---- journal ---- */

static int journal_path(const struct journal *j, int64_t bucket, char *dst, size_t size)
{
	int n = snprintf(dst, size, "%s/replay-%" PRId64 ".j", j->dir, bucket);
	return n > 0 && (size_t)n < size ? 0 : MC_ERR_INVALID;
}

/* Parses "replay-<bucket>.j"; 0 on success. */
static int journal_name(const char *name, int64_t *bucket)
{
	char *end;
	long long b;

	if (strncmp(name, "replay-", 7) != 0)
		return -1;
	errno = 0;
	b = strtoll(name + 7, &end, 10);
	if (errno || end == name + 7 || strcmp(end, ".j") != 0)
		return -1;
	*bucket = b;
	return 0;
}

/* Removes the files whose records have all expired (wall_s); with load, records the live
 * ones of the others. Caller holds j->mu or runs before the server starts. */
static int journal_scan(struct replay *r, int64_t wall_s, int load, struct err *e)
{
	struct journal *j = &r->j;
	DIR *d = opendir(j->dir);
	struct dirent *de;
	char path[PATH_MAX];
	int64_t bucket, now_s = mono_ms() / 1000;
	int rc = 0;

	if (!d)
		return err_set(e, MC_ERR_IO, "cannot read the replay journal '%s': %s", j->dir,
		               strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (journal_name(de->d_name, &bucket) != 0 ||
		    journal_path(j, bucket, path, sizeof(path)))
			continue;
		if ((bucket + 1) * (int64_t)r->skew <= wall_s) {
			unlink(path); /* every record of it has expired */
			continue;
		}
		if (!load)
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		unsigned char rec[256 * 16];
		ssize_t n;
		if (fd < 0) {
			rc = err_set(e, MC_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		/* reads stay multiples of 16 bytes; a torn last record is ignored */
		while ((n = read(fd, rec, sizeof(rec))) > 0) {
			for (ssize_t i = 0; i + 16 <= n; i += 16) {
				uint64_t h;
				int64_t until;
				memcpy(&h, rec + i, 8);
				memcpy(&until, rec + i + 8, 8);
				if (h && until > wall_s)
					insert_hash(r, h, 0, now_s, 0, NULL);
			}
			if (n % 16)
				break;
		}
		close(fd);
	}
	closedir(d);
	return rc;
}

int replay_journal_open(struct replay *r, const char *dir, int64_t wall_s, struct err *e)
{
	struct journal *j = &r->j;
	int rc;

	if (strlen(dir) >= sizeof(j->dir))
		return err_set(e, MC_ERR_INVALID, "replay journal path '%s' is too long", dir);
	memcpy(j->dir, dir, strlen(dir) + 1);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_set(e, MC_ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
	if ((rc = journal_scan(r, wall_s, 1, e)) != 0)
		return rc;
	j->on = 1;
	return 0;
}

/* Appends (h, until_s); several processes may append to one directory (O_APPEND writes of
 * one record are not interleaved). */
static int journal_append(struct replay *r, uint64_t h, int64_t until_s)
{
	struct journal *j = &r->j;
	unsigned char rec[16];
	int64_t bucket = until_s / r->skew;
	int rc = 0;

	memcpy(rec, &h, 8);
	memcpy(rec + 8, &until_s, 8);
	pthread_mutex_lock(&j->mu);
	if (j->fd < 0 || j->bucket != bucket) {
		char path[PATH_MAX];
		if (j->fd >= 0)
			close(j->fd);
		j->fd = -1;
		if (journal_path(j, bucket, path, sizeof(path)) == 0)
			j->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		j->bucket = bucket;
		if (j->fd >= 0) /* a new bucket: the oldest file may have expired */
			journal_scan(r, real_now_ms() / 1000, 0, NULL);
	}
	if (j->fd < 0 || file_write_all(j->fd, rec, sizeof(rec)) != 0)
		rc = MC_ERR_UNAVAILABLE;
	pthread_mutex_unlock(&j->mu);
	return rc;
}

static void forget_hash(struct replay *r, int64_t user_id, uint64_t h);

static int check_insert(struct replay *r, int64_t user_id, uint64_t h, int64_t now_s,
                        int64_t journal_until_s, int *retry_after_s)
{
	int rc = insert_hash(r, h, user_id, now_s, 1, retry_after_s);

	if (rc == 0 && journal_until_s > 0 && r->j.on && journal_append(r, h, journal_until_s)) {
		forget_hash(r, user_id, h);
		rc = MC_ERR_UNAVAILABLE;
	}
	return rc;
}

int replay_check_insert(struct replay *r, int64_t user_id, const char *access_key, size_t ak_len,
                        const char *req_id, int64_t now_s, int64_t journal_until_s,
                        int *retry_after_s)
{
	return check_insert(r, user_id, pair_hash(r, access_key, ak_len, req_id), now_s,
	                    journal_until_s, retry_after_s);
}

int replay_check_insert_pair(struct replay *r, int64_t user_id,
                             const unsigned char pair[REPLAY_PAIR_LEN], int64_t now_s,
                             int64_t journal_until_s, int *retry_after_s)
{
	return check_insert(r, user_id, pair_h(pair), now_s, journal_until_s, retry_after_s);
}

static int held(struct replay *r, uint64_t h, int64_t now_s)
{
	struct shard *s = &r->shards[h >> 58];
	size_t dummy;
	int seen;

	pthread_mutex_lock(&s->mu);
	advance(r, s, epoch_of(r, now_s));
	seen = lookup(&s->gen[0], h, &dummy) || lookup(&s->gen[1], h, &dummy);
	pthread_mutex_unlock(&s->mu);
	return seen;
}

int replay_seen(struct replay *r, const char *access_key, size_t ak_len, const char *req_id,
                int64_t now_s)
{
	return held(r, pair_hash(r, access_key, ak_len, req_id), now_s);
}

int replay_seen_pair(struct replay *r, const unsigned char pair[REPLAY_PAIR_LEN], int64_t now_s)
{
	return held(r, pair_h(pair), now_s);
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

static void forget_hash(struct replay *r, int64_t user_id, uint64_t h)
{
	struct shard *s = &r->shards[h >> 58];

	pthread_mutex_lock(&s->mu);
	for (int g = 0; g < 2; g++) {
		if (s->gen[g].epoch != NO_EPOCH && table_remove(&s->gen[g], h)) {
			atomic_fetch_sub(&r->entries, 1);
			if (user_id > 0)
				user_give(r, user_id, s->gen[g].epoch);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

void replay_forget(struct replay *r, int64_t user_id, const char *access_key, size_t ak_len,
                   const char *req_id)
{
	forget_hash(r, user_id, pair_hash(r, access_key, ak_len, req_id));
}

size_t replay_user_count(struct replay *r, int64_t user_id, int64_t now_s)
{
	struct ushard *u = ushard_of(r, user_id);
	size_t n;

	pthread_mutex_lock(&u->mu);
	uadvance(u, epoch_of(r, now_s));
	n = ucount(u, user_id);
	pthread_mutex_unlock(&u->mu);
	return n;
}
