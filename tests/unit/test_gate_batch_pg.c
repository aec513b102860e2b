/* Unit tests of the batched gate on PostgreSQL (store_shared_gate_batch, and the batcher
 * behind store_shared_gate, docs/postgres.md): a batch gives each call what the same calls
 * one after another give (mixed users, a bucket that runs dry in the middle, a pair that ran
 * before); two calls with one pair are refused in a direct batch, and through the batcher
 * the second is a replay; threads that gate at once take exactly the bucket's calls and
 * claim each pair once; one failing statement (a bucket row held by another connection
 * past the lock timeout) fails every call of its batch and takes or claims nothing. With
 * rate-limit leases (pg_gate_lease): threads still get exactly the bucket's calls, the
 * shared bucket is never short by more than one lease, and a replay gives its leased call
 * back. Jobs submitted without holding the thread (store_shared_gate_submit) get the same
 * verdicts, and closing the store completes the ones still queued. Runs under
 * tests/e2e/pgserver.py as the other *_pg tests do. */
#include "tap.h"

#include "server/store/store.h"
#include "server/store/store_shared.h"

#include "common/date.h"
#include "common/err.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "pg_unit.h"

/* A call of bucket key with pair bytes (tag, n). */
static void call_set(struct store_gate_call *c, unsigned char tag, int n, uint64_t key,
                     int64_t limit, int claim)
{
	int64_t now = now_ms() / 1000;

	memset(c, 0, sizeof(*c));
	memset(c->pair, tag, sizeof(c->pair));
	c->pair[0] = (unsigned char)n;
	c->pair[1] = (unsigned char)(n >> 8);
	c->expires_s = now + 60;
	c->now_s = now;
	c->claim = claim;
	c->bucket = key;
	c->limit = limit;
	c->refill_ms = 600000;
}

/* Runs calls one after another through store_shared_gate (a lone call: sql_gate). */
static void run_serial(struct store *st, struct store_gate_call *c, size_t n)
{
	struct err e;

	for (size_t i = 0; i < n; i++)
		CHECK_INT(store_shared_gate(st, c[i].pair, c[i].expires_s, c[i].now_s, c[i].claim,
		                            c[i].bucket, c[i].limit, c[i].refill_ms, &c[i].out, &e),
		          0);
}

/* The same scenario as a batch and one after another (on other buckets and pairs): each
 * call's verdict must be the same. */
static void check_like_serial(struct store *st, struct store_gate_call *b, size_t n)
{
	struct store_gate_call s[16];
	struct err e;

	for (size_t i = 0; i < n; i++) {
		s[i] = b[i];
		s[i].bucket += 1;      /* keys are user << 8 | class: another bucket */
		s[i].pair[15] ^= 0x5a; /* other pairs */
	}
	CHECK_INT(store_shared_gate_batch(st, b, n, &e), 0);
	run_serial(st, s, n);
	for (size_t i = 0; i < n; i++) {
		printf("# call %zu: batch r%d a%d c%d rem %lld / serial r%d a%d c%d rem %lld\n", i,
		       b[i].out.replayed, b[i].out.allowed, b[i].out.claimed,
		       (long long)b[i].out.remaining, s[i].out.replayed, s[i].out.allowed,
		       s[i].out.claimed, (long long)s[i].out.remaining);
		CHECK_INT(b[i].out.replayed, s[i].out.replayed);
		CHECK_INT(b[i].out.allowed, s[i].out.allowed);
		CHECK_INT(b[i].out.claimed, s[i].out.claimed);
		CHECK_INT(b[i].out.remaining, s[i].out.remaining);
		CHECK((b[i].out.reset_ms == 0) == (s[i].out.reset_ms == 0));
		CHECK(b[i].out.gen > 0);
	}
}

static void test_mixed(struct store *st)
{
	struct store_gate_call c[6];

	/* user 1: 3 calls; user 2: 100; interleaved, one of user 1's only looks (claim 0) */
	call_set(&c[0], 0x11, 0, 1u << 8, 3, 1);
	call_set(&c[1], 0x11, 1, 2u << 8, 100, 1);
	call_set(&c[2], 0x11, 2, 1u << 8, 3, 0);
	call_set(&c[3], 0x11, 3, 2u << 8, 100, 1);
	call_set(&c[4], 0x11, 4, 1u << 8, 3, 1);
	call_set(&c[5], 0x11, 5, 1u << 8, 3, 1); /* user 1's bucket is dry by now */
	check_like_serial(st, c, 6);
	CHECK(c[0].out.allowed && c[0].out.claimed && c[0].out.remaining == 2);
	CHECK(c[2].out.allowed && !c[2].out.claimed && c[2].out.remaining == 1);
	CHECK(c[4].out.allowed && c[4].out.claimed && c[4].out.remaining == 0);
	CHECK(!c[5].out.allowed && !c[5].out.claimed && !c[5].out.replayed);
	CHECK(c[5].out.reset_ms > 0 && c[5].out.reset_ms <= 600000);
	CHECK(c[1].out.claimed && c[1].out.remaining == 99);
	CHECK(c[3].out.claimed && c[3].out.remaining == 98);
}

static void test_dry_mid_batch(struct store *st)
{
	struct store_gate_call c[5];

	/* an existing bucket (one call taken before) with 2 left: calls 3..5 are refused */
	call_set(&c[0], 0x22, 0, 4u << 8, 3, 1);
	call_set(&c[1], 0x22, 100, (4u << 8) + 1, 3, 1); /* the serial twin's bucket */
	run_serial(st, c, 2);
	for (int i = 0; i < 5; i++)
		call_set(&c[i], 0x22, i + 1, 4u << 8, 3, 1);
	check_like_serial(st, c, 5);
	CHECK(c[0].out.allowed && c[1].out.allowed && !c[2].out.allowed && !c[4].out.allowed);
	CHECK_INT(c[1].out.remaining, 0);
	/* a refused call claimed nothing: the same pair may run once the bucket has calls */
	call_set(&c[0], 0x22, 3, 6u << 8, 3, 1);
	run_serial(st, c, 1);
	CHECK(c[0].out.claimed && !c[0].out.replayed);
}

static void test_seen(struct store *st)
{
	struct store_gate_call c[3];
	struct err e;

	call_set(&c[0], 0x33, 1, 7u << 8, 5, 1);
	run_serial(st, c, 1);
	CHECK(c[0].out.claimed);
	/* the pair that ran, between two new ones: a replay that takes nothing */
	call_set(&c[0], 0x33, 0, 7u << 8, 5, 1);
	call_set(&c[1], 0x33, 1, 7u << 8, 5, 1);
	call_set(&c[2], 0x33, 2, 7u << 8, 5, 1);
	CHECK_INT(store_shared_gate_batch(st, c, 3, &e), 0);
	CHECK(c[0].out.claimed && c[0].out.remaining == 3);
	CHECK(c[1].out.replayed && !c[1].out.allowed && !c[1].out.claimed);
	CHECK(c[2].out.claimed && c[2].out.remaining == 2);
	/* a pair twice in one direct batch is the caller's mistake */
	call_set(&c[0], 0x33, 7, 7u << 8, 5, 1);
	call_set(&c[1], 0x33, 7, 7u << 8, 5, 1);
	CHECK_INT(store_shared_gate_batch(st, c, 2, &e), MC_ERR_INVALID);
}

/* ---- threads through the batcher ---- */

#define THREADS 8
#define CALLS   25

struct runner {
	struct store *st;
	int id;
	int same_pair; /* every call of every thread has one pair */
	uint64_t key;
	int64_t limit;
	int allowed, claimed, replayed, failed;
};

static unsigned char run_tag = 0x55; /* the pairs' tag of run(): a new one, new pairs */

static void *run(void *arg)
{
	struct runner *r = arg;

	for (int i = 0; i < CALLS; i++) {
		struct store_gate_call c;
		struct err e;
		call_set(&c, r->same_pair ? 0x44 : run_tag, r->same_pair ? 0 : r->id * CALLS + i,
		         r->key, r->limit, 1);
		if (store_shared_gate(r->st, c.pair, c.expires_s, c.now_s, 1, c.bucket, c.limit,
		                      c.refill_ms, &c.out, &e) != 0) {
			r->failed++;
			continue;
		}
		r->allowed += c.out.allowed;
		r->claimed += c.out.claimed;
		r->replayed += c.out.replayed;
	}
	return NULL;
}

static void run_threads(struct store *st, int same_pair, uint64_t key, int64_t limit,
                        struct runner *sum)
{
	struct runner r[THREADS];
	pthread_t t[THREADS];

	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < THREADS; i++) {
		r[i] = (struct runner){
		        .st = st, .id = i, .same_pair = same_pair, .key = key, .limit = limit};
		pthread_create(&t[i], NULL, run, &r[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		sum->allowed += r[i].allowed;
		sum->claimed += r[i].claimed;
		sum->replayed += r[i].replayed;
		sum->failed += r[i].failed;
	}
}

static void test_threads(struct store *st)
{
	struct runner sum;

	/* 200 calls of one user with 150 in the bucket: exactly 150 run */
	run_threads(st, 0, 8u << 8, 150, &sum);
	CHECK_INT(sum.failed, 0);
	CHECK_INT(sum.allowed, 150);
	CHECK_INT(sum.claimed, 150);
	CHECK_INT(sum.replayed, 0);
	/* 200 copies of one request: one runs, every other one is a replay */
	run_threads(st, 1, 9u << 8, 1000, &sum);
	CHECK_INT(sum.failed, 0);
	CHECK_INT(sum.claimed, 1);
	CHECK_INT(sum.replayed, THREADS * CALLS - 1);
}

/* ---- jobs that do not hold their thread (store_shared_gate_submit) ---- */

#define JOBS 120

static atomic_int jobs_done;

static void job_done(struct store_gate_job *j)
{
	(void)j;
	atomic_fetch_add(&jobs_done, 1);
}

/* Waits until n jobs are done (at most 10 s): 1 when they are. */
static int jobs_wait(int n)
{
	for (int i = 0; i < 10000 && atomic_load(&jobs_done) < n; i++)
		usleep(1000);
	return atomic_load(&jobs_done) == n;
}

static void test_submit(const char *dsn)
{
	static unsigned char key[STORE_KEY_LEN];
	static struct store_gate_job j[JOBS];
	struct store_config cfg = {0};
	struct store *st = NULL;
	int allowed = 0, claimed = 0, replayed = 0, failed = 0, n;
	struct err e;

	memset(key, 7, sizeof(key));
	cfg.backend = "postgres";
	cfg.dsn = dsn;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st)
		return;
	CHECK(store_shared_gate_async(st));
	/* one thread submits 120 calls of one user with 90 in the bucket, every tenth a copy
	 * of the call before it: the batches give each its verdict as one after another */
	atomic_store(&jobs_done, 0);
	for (int i = 0; i < JOBS; i++) {
		memset(&j[i], 0, sizeof(j[i]));
		call_set(&j[i].call, 0x4e, i % 10 == 9 ? i - 1 : i, 30u << 8, 90, 1);
		j[i].done = job_done;
		CHECK_INT(store_shared_gate_submit(st, &j[i]), 0);
	}
	CHECK(jobs_wait(JOBS));
	for (int i = 0; i < JOBS; i++) {
		/* a copy is a replay exactly when the call it copies ran */
		if (i % 10 == 9)
			CHECK_INT(j[i].call.out.replayed, j[i - 1].call.out.claimed);
		else
			CHECK(!j[i].call.out.replayed);
		failed += j[i].rc != 0;
		allowed += j[i].call.out.allowed;
		claimed += j[i].call.out.claimed;
		replayed += j[i].call.out.replayed;
	}
	CHECK_INT(failed, 0);
	CHECK_INT(replayed, 10); /* the copies of 8, 18, ... 98; 108 and 118 found no call */
	CHECK_INT(allowed, 90);
	CHECK_INT(claimed, 90);
	/* closing the store with jobs queued completes every one of them (a result, or
	 * MC_ERR_UNAVAILABLE for those it did not run) */
	atomic_store(&jobs_done, 0);
	for (int i = 0; i < JOBS; i++) {
		memset(&j[i], 0, sizeof(j[i]));
		call_set(&j[i].call, 0x4f, i, 31u << 8, 1000, 1);
		j[i].done = job_done;
		CHECK_INT(store_shared_gate_submit(st, &j[i]), 0);
	}
	store_close(st);
	CHECK_INT(atomic_load(&jobs_done), JOBS);
	n = 0;
	for (int i = 0; i < JOBS; i++)
		n += j[i].rc == 0 || j[i].rc == MC_ERR_UNAVAILABLE;
	CHECK_INT(n, JOBS);
}

/* ---- leases ---- */

/* The shared bucket's token count (no refill in these tests: 600 s per call). */
static long long bucket_tokens(PGconn *db, uint64_t key)
{
	char sql[128];
	PGresult *r;
	long long v = -1;

	snprintf(sql, sizeof(sql), "SELECT tokens FROM rl_buckets WHERE kind = 1 AND key = %llu",
	         (unsigned long long)key);
	r = PQexec(db, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static void test_leases(const char *dsn)
{
	static unsigned char key[STORE_KEY_LEN];
	struct store_config cfg = {0};
	struct store *st = NULL;
	struct store_gate_call a, b, c;
	PGconn *db = PQconnectdb(dsn);
	struct runner sum;
	long long tokens;
	struct err e;

	memset(key, 7, sizeof(key));
	cfg.backend = "postgres";
	cfg.dsn = dsn;
	cfg.key = key;
	cfg.gate_lease = 64;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	CHECK(PQstatus(db) == CONNECTION_OK);
	if (!st || PQstatus(db) != CONNECTION_OK)
		goto out;
	/* 200 calls with 150 in the bucket: leases while half is left, then call by call;
	 * the last lease is used before the bucket itself, so exactly 150 run */
	run_tag = 0x58;
	run_threads(st, 0, 20u << 8, 150, &sum);
	CHECK_INT(sum.failed, 0);
	CHECK_INT(sum.allowed, 150);
	CHECK_INT(sum.claimed, 150);
	CHECK_INT(bucket_tokens(db, 20u << 8), 0);
	/* a large bucket: every call runs; the shared bucket lacks at most one lease (62 =
	 * 1000/16) beyond the calls made */
	run_tag = 0x59;
	run_threads(st, 0, 21u << 8, 1000, &sum);
	CHECK_INT(sum.failed, 0);
	CHECK_INT(sum.allowed, THREADS * CALLS);
	CHECK_INT(sum.claimed, THREADS * CALLS);
	tokens = bucket_tokens(db, 21u << 8);
	CHECK(tokens <= 1000 - THREADS * CALLS && tokens >= 1000 - THREADS * CALLS - 62);
	/* a replay gives its call back: a, a again (replay), b: b has one call fewer than a */
	call_set(&a, 0x77, 1, 21u << 8, 1000, 1);
	call_set(&b, 0x77, 1, 21u << 8, 1000, 1);
	call_set(&c, 0x77, 2, 21u << 8, 1000, 1);
	run_serial(st, &a, 1);
	run_serial(st, &b, 1);
	run_serial(st, &c, 1);
	CHECK(a.out.allowed && a.out.claimed && !a.out.replayed);
	CHECK(!b.out.allowed && !b.out.claimed && b.out.replayed);
	CHECK(c.out.allowed && c.out.claimed);
	CHECK_INT(c.out.remaining, a.out.remaining - 1);
out:
	PQfinish(db);
	store_close(st);
}

/* ---- a failing statement ---- */

static void test_failure(const char *dsn)
{
	static unsigned char key[STORE_KEY_LEN];
	struct store_config cfg = {0};
	struct store *st = NULL;
	struct store_gate_call c[3];
	PGconn *db = PQconnectdb(dsn);
	PGresult *r;
	struct err e;

	memset(key, 7, sizeof(key));
	cfg.backend = "postgres";
	cfg.dsn = dsn;
	cfg.key = key;
	cfg.busy_timeout_ms = 300; /* the statement's lock_timeout */
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	CHECK(PQstatus(db) == CONNECTION_OK);
	if (!st || PQstatus(db) != CONNECTION_OK)
		goto out;
	/* user 10's bucket exists and another connection holds its row */
	call_set(&c[0], 0x66, 0, 10u << 8, 5, 1);
	run_serial(st, c, 1);
	r = PQexec(db, "BEGIN; SELECT 1 FROM rl_buckets WHERE kind = 1 AND key = 2560 FOR UPDATE");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
	call_set(&c[0], 0x66, 1, 11u << 8, 5, 1); /* a user nobody holds */
	call_set(&c[1], 0x66, 2, 10u << 8, 5, 1);
	call_set(&c[2], 0x66, 3, 11u << 8, 5, 1);
	CHECK_INT(store_shared_gate_batch(st, c, 3, &e), MC_ERR_UNAVAILABLE);
	for (int i = 0; i < 3; i++)
		CHECK(!c[i].out.allowed && !c[i].out.claimed && !c[i].out.replayed);
	r = PQexec(db, "ROLLBACK");
	PQclear(r);
	/* nothing was taken or claimed: user 11's calls run as if they had never come */
	CHECK_INT(store_shared_gate_batch(st, c, 3, &e), 0);
	CHECK(c[0].out.claimed && c[0].out.remaining == 4);
	CHECK(c[1].out.claimed && c[1].out.remaining == 3);
	CHECK(c[2].out.claimed && c[2].out.remaining == 3);
out:
	PQfinish(db);
	store_close(st);
}

int main(int argc, char **argv)
{
	struct store *st;

	(void)argc;
	st = pg_unit_open(argv, 13);
	if (!st)
		return tap_done();
	test_mixed(st);
	test_dry_mid_batch(st);
	test_seen(st);
	test_threads(st);
	test_failure(getenv("MCAPI_TEST_PG_DSN"));
	test_submit(getenv("MCAPI_TEST_PG_DSN"));
	test_leases(getenv("MCAPI_TEST_PG_DSN"));
	store_close(st);
	return tap_done();
}
