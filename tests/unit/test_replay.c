/* The replay cache (server/auth/replay.c): expiry by epochs, the global cap, each user's
 * share, giving slots back, threads racing on one pair, and the journal that carries
 * future-dated pairs across a restart. */
#include "common/err.h"
#include "server/auth/replay.h"
#include "tap.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

static const unsigned char KEY[REPLAY_KEY_LEN] = "0123456789abcdef0123456789abcde";

static int ins(struct replay *r, int64_t uid, const char *ak, const char *id, int64_t now)
{
	return replay_check_insert(r, uid, ak, strlen(ak), id, now, 0, NULL);
}

static void test_expiry(void)
{
	struct replay *r = replay_new(1000, 0, 900, NULL);
	CHECK(r != NULL);
	CHECK_INT(ins(r, 1, "ak", "id-1", 100), 0);
	CHECK_INT(ins(r, 1, "ak", "id-1", 100), MC_ERR_EXISTS);
	CHECK_INT(ins(r, 1, "ak2", "id-1", 100), 0);
	/* still remembered one period (2 * skew) later, forgotten after two */
	CHECK_INT(ins(r, 1, "ak", "id-1", 100 + 1800), MC_ERR_EXISTS);
	CHECK_INT(ins(r, 1, "ak", "id-x", 100 + 1800), 0);
	CHECK_INT(ins(r, 1, "ak", "id-1", 100 + 3600 + 1), 0);
	/* a pair is kept at least 2 * skew whenever it was recorded in its epoch */
	CHECK_INT(ins(r, 1, "ak", "late", 3599), 0);
	CHECK_INT(ins(r, 1, "ak", "late", 3599 + 1800), MC_ERR_EXISTS);
	/* a thread with an older clock reading does not move an epoch back */
	CHECK_INT(ins(r, 1, "ak", "old-clock", 10), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "old-clock", 3700), 1);
	replay_free(r);

	/* a full cache refuses rather than forgets */
	r = replay_new(1000, 0, 900, NULL);
	int full = 0;
	char id[32];
	for (int i = 0; i < 5000 && !full; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		full = ins(r, 1, "ak", id, 1) == MC_ERR_UNAVAILABLE;
	}
	CHECK(full);
	replay_free(r);
}

/* One user over its share is refused alone, with a Retry-After when its oldest pairs go;
 * others proceed; forgetting gives a slot back; the share frees with the epochs. */
static void test_per_user(void)
{
	struct replay *r = replay_new(100000, 10, 900, NULL);
	char id[32];
	int ra = 0;

	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "a-%d", i);
		CHECK_INT(ins(r, 7, "ak7", id, 100), 0);
	}
	CHECK_INT(replay_user_count(r, 7, 100), 10);
	CHECK_INT(replay_check_insert(r, 7, "ak7", 3, "a-10", 100, 0, &ra), MC_ERR_TOO_LARGE);
	CHECK_INT(ra, 3600 - 100); /* all in epoch 0: dropped when epoch 2 begins */
	/* another key of the same user shares the share; another user does not */
	CHECK_INT(ins(r, 7, "ak7b", "b-1", 100), MC_ERR_TOO_LARGE);
	CHECK_INT(ins(r, 8, "ak8", "a-10", 100), 0);
	CHECK_INT(ins(r, 0, "ak0", "uncharged", 100), 0);
	/* a replay is still a replay, not a share refusal */
	CHECK_INT(ins(r, 7, "ak7", "a-3", 100), MC_ERR_EXISTS);
	/* a forgotten pair (the call failed) gives its slot back */
	replay_forget(r, 7, "ak7", 3, "a-3");
	CHECK_INT(replay_user_count(r, 7, 100), 9);
	CHECK_INT(ins(r, 7, "ak7", "a-11", 100), 0);
	CHECK_INT(ins(r, 7, "ak7", "a-12", 100), MC_ERR_TOO_LARGE);
	/* next epoch: the pairs are still held, and so is the share */
	CHECK_INT(replay_check_insert(r, 7, "ak7", 3, "a-12", 1900, 0, &ra), MC_ERR_TOO_LARGE);
	CHECK_INT(ra, 3600 - 1900); /* the previous epoch's go first */
	/* two epochs on: all dropped, the share is free again */
	CHECK_INT(replay_user_count(r, 7, 3600), 0);
	CHECK_INT(ins(r, 7, "ak7", "a-12", 3600), 0);
	/* forgetting after the epoch ended gives nothing back twice */
	replay_forget(r, 7, "ak7", 3, "a-0"); /* long gone */
	CHECK_INT(replay_user_count(r, 7, 3600), 1);
	replay_free(r);
}

/* replay_seen only looks; replay_forget frees a pair again and keeps every other pair
 * findable (backward-shift deletion in a table that has wrapped and grown). */
static void test_forget(void)
{
	struct replay *r = replay_new(100000, 0, 900, NULL);
	char id[32];

	CHECK_INT(replay_seen(r, "ak", 2, "a", 10), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "a", 10), 0); /* looking records nothing */
	CHECK_INT(ins(r, 1, "ak", "a", 10), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "a", 10), 1);
	replay_forget(r, 1, "ak", 2, "a");
	CHECK_INT(replay_seen(r, "ak", 2, "a", 10), 0);
	CHECK_INT(ins(r, 1, "ak", "a", 10), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		CHECK_INT(ins(r, 1, "ak", id, 11), 0);
	}
	for (int i = 0; i < 5000; i += 2) {
		snprintf(id, sizeof(id), "id-%d", i);
		replay_forget(r, 1, "ak", 2, id);
	}
	int wrong = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		wrong += replay_seen(r, "ak", 2, id, 12) != (i % 2);
	}
	CHECK_INT(wrong, 0);
	CHECK_INT(replay_user_count(r, 1, 12), 2501);
	replay_forget(r, 1, "ak", 2, "never-there"); /* harmless */
	CHECK_INT(replay_seen(r, "ak", 2, "a", 12), 1);
	replay_free(r);
}

/* Threads race on the same ids: each id is won exactly once, and a user's count ends
 * equal to the pairs recorded for it. */
struct race {
	struct replay *r;
	int won;
};

static void *racer(void *arg)
{
	struct race *x = arg;
	char id[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(id, sizeof(id), "r-%d", i);
		if (ins(x->r, 3, "ak", id, 5) == 0)
			x->won++;
	}
	return NULL;
}

static void test_threads(void)
{
	struct race x[4] = {{0}};
	pthread_t t[4];
	struct replay *r = replay_new(1000000, 15000, 900, NULL);
	int total = 0;

	for (int i = 0; i < 4; i++) {
		x[i].r = r;
		pthread_create(&t[i], NULL, racer, &x[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += x[i].won;
	}
	CHECK_INT(total, 15000); /* the share stops it; no id is won twice */
	CHECK_INT(replay_user_count(r, 3, 5), 15000);
	replay_free(r);
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Journaled pairs come back in a new cache with the same key until their time is up;
 * unjournaled ones do not; expired files are removed. */
static void test_journal(void)
{
	char dir[] = "/tmp/mcapi-replay-XXXXXX";
	struct err e = {0};
	struct replay *r;
	int64_t wall = (int64_t)time(NULL); /* appends clean up by the real clock */

	CHECK(mkdtemp(dir) != NULL);
	r = replay_new(1000, 0, 900, KEY);
	CHECK_INT(replay_journal_open(r, dir, wall, &e), 0);
	CHECK_INT(replay_check_insert(r, 1, "ak", 2, "future", 10, wall + 1000, NULL), 0);
	CHECK_INT(replay_check_insert(r, 1, "ak", 2, "far", 10, wall + 5000, NULL), 0);
	CHECK_INT(replay_check_insert(r, 1, "ak", 2, "plain", 10, 0, NULL), 0);
	replay_free(r); /* as kill -9 would: nothing more is written at the end */
	CHECK_INT(count_files(dir), 2);

	/* a new process (monotonic clock from 0 again) with the same key */
	r = replay_new(1000, 0, 900, KEY);
	CHECK_INT(replay_journal_open(r, dir, wall + 10, &e), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "future", 0), 1);
	CHECK_INT(ins(r, 1, "ak", "future", 0), MC_ERR_EXISTS);
	CHECK_INT(replay_seen(r, "ak", 2, "far", 0), 1);
	CHECK_INT(replay_seen(r, "ak", 2, "plain", 0), 0); /* its date refuses it (auth.c) */
	replay_free(r);

	/* another key: nothing matches (the journal is only good with the server key) */
	r = replay_new(1000, 0, 900, NULL);
	CHECK_INT(replay_journal_open(r, dir, wall + 10, &e), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "future", 0), 0);
	replay_free(r);

	/* later: the first pair's time is up (its file too), the second still holds */
	r = replay_new(1000, 0, 900, KEY);
	CHECK_INT(replay_journal_open(r, dir, wall + 2000, &e), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "future", 0), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "far", 0), 1);
	CHECK_INT(count_files(dir), 1);
	replay_free(r);

	r = replay_new(1000, 0, 900, KEY);
	CHECK_INT(replay_journal_open(r, dir, wall + 6000, &e), 0);
	CHECK_INT(count_files(dir), 0);
	replay_free(r);

	/* a torn last record (a crash mid-write) is ignored, the whole ones are loaded */
	r = replay_new(1000, 0, 900, KEY);
	CHECK_INT(replay_journal_open(r, dir, wall, &e), 0);
	CHECK_INT(replay_check_insert(r, 1, "ak", 2, "whole", 10, wall + 100, NULL), 0);
	replay_free(r);
	char p[512];
	snprintf(p, sizeof(p), "%s/replay-%lld.j", dir, (long long)((wall + 100) / 900));
	FILE *f = fopen(p, "ab");
	CHECK(f != NULL);
	if (f) {
		fwrite("torn", 1, 4, f);
		fclose(f);
	}
	r = replay_new(1000, 0, 900, KEY);
	CHECK_INT(replay_journal_open(r, dir, wall, &e), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "whole", 0), 1);
	replay_free(r);

	/* a directory that cannot be made is an error with a message */
	r = replay_new(1000, 0, 900, KEY);
	CHECK(replay_journal_open(r, "/proc/no/such/dir", wall, &e) != 0 && e.msg[0]);
	replay_free(r);
	rm_dir(dir);
}

int main(void)
{
	test_expiry();
	test_per_user();
	test_forget();
	test_threads();
	test_journal();
	return tap_done();
}
