/* Unit tests of the shared state on PostgreSQL (store_shared.h, migration 013): the gate
 * refuses a pair that ran and claims only when told to; a forgotten pair is free again; an
 * expired one may run again; buckets count down to a refusal and report the reset; the
 * listener is told of a committed change (and of "*" when it starts, and again when its
 * connection was killed and it connected anew: changes may have been missed). Runs under
 * tests/e2e/pgserver.py as the other *_pg tests do. */
#include "tap.h"

#include "server/store/store.h"
#include "server/store/store_shared.h"

#include "common/date.h"
#include "common/err.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "pg_unit.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char seen[256];

static void changed(void *arg, const char *what)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	if (strlen(seen) + strlen(what) + 2 < sizeof(seen)) {
		strncat(seen, what, sizeof(seen) - strlen(seen) - 1);
		strncat(seen, ",", sizeof(seen) - strlen(seen) - 1);
	}
	pthread_mutex_unlock(&mu);
}

/* Clears what the listener reported so far. */
static void seen_clear(void)
{
	pthread_mutex_lock(&mu);
	seen[0] = '\0';
	pthread_mutex_unlock(&mu);
}

/* Ends the listener's server connection, as a PostgreSQL restart or a network cut would. */
static int kill_listener(void)
{
	PGconn *db = PQconnectdb(getenv("MCAPI_TEST_PG_DSN"));
	PGresult *r;
	int n = 0;

	if (PQstatus(db) == CONNECTION_OK) {
		r = PQexec(db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
		               "WHERE application_name = 'mcapid cache listener'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			n = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	PQfinish(db);
	return n;
}

/* 1 once `what` was reported (waits up to 5 s). */
static int wait_seen(const char *what)
{
	for (int i = 0; i < 500; i++) {
		int found;
		struct timespec ts = {0, 10000000L};
		pthread_mutex_lock(&mu);
		found = strstr(seen, what) != NULL;
		pthread_mutex_unlock(&mu);
		if (found)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void test_gate(struct store *st)
{
	unsigned char a[STORE_PAIR_LEN], b[STORE_PAIR_LEN];
	int64_t now = now_ms() / 1000;
	struct store_gate g;
	struct err e;

	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	CHECK(store_shared(st));
	/* not run (a 403): nothing claimed, the id stays free */
	CHECK_INT(store_shared_gate(st, a, now + 60, now, 0, 1 << 8, 100, 100, &g, &e), 0);
	CHECK(g.allowed && !g.claimed && !g.replayed);
	CHECK_INT(g.remaining, 99);
	CHECK_INT(store_shared_gate(st, a, now + 60, now, 1, 1 << 8, 100, 100, &g, &e), 0);
	CHECK(g.allowed && g.claimed && !g.replayed);
	/* the same pair again: replayed, and no call taken */
	CHECK_INT(store_shared_gate(st, a, now + 60, now, 1, 1 << 8, 100, 100, &g, &e), 0);
	CHECK(g.replayed && !g.claimed && !g.allowed);
	CHECK_INT(store_shared_gate(st, b, now + 60, now, 1, 1 << 8, 100, 100, &g, &e), 0);
	CHECK_INT(g.remaining, 97);
	/* forgotten (a 503): it may run again */
	CHECK_INT(store_shared_forget(st, a, &e), 0);
	CHECK_INT(store_shared_gate(st, a, now + 60, now, 1, 1 << 8, 100, 100, &g, &e), 0);
	CHECK(g.claimed && !g.replayed);
	/* past its expiry a pair is no replay: its date fails the skew check anyway */
	CHECK_INT(store_shared_gate(st, a, now + 200, now + 61, 1, 1 << 8, 100, 100, &g, &e), 0);
	CHECK(g.claimed && !g.replayed);
	/* an empty bucket: refused, nothing claimed */
	memset(a, 0xc3, sizeof(a));
	memset(b, 0xd4, sizeof(b)); /* never claimed: each gate takes a call */
	for (int i = 0; i < 2; i++)
		CHECK_INT(store_shared_gate(st, b, now + 60, now, 0, 2 << 8, 2, 60000, &g, &e), 0);
	CHECK_INT(store_shared_gate(st, a, now + 60, now, 1, 2 << 8, 2, 60000, &g, &e), 0);
	CHECK(!g.allowed && !g.claimed && !g.replayed);
	CHECK(g.reset_ms > 0 && g.reset_ms <= 60000);
	CHECK_INT(store_shared_gate(st, a, now + 60, now, 1, 3 << 8, 2, 60000, &g, &e), 0);
	CHECK(g.allowed && g.claimed);
}

static void test_buckets(struct store *st)
{
	struct store_gate g;
	struct err e;

	/* a look at an unknown bucket: full, nothing stored */
	CHECK_INT(store_shared_bucket(st, STORE_BUCKET_IP, 77, 3, 20000, 0, &g, &e), 0);
	CHECK(g.allowed);
	CHECK_INT(g.remaining, 3);
	CHECK_INT(g.reset_ms, 0);
	for (int i = 2; i >= 0; i--) {
		CHECK_INT(store_shared_bucket(st, STORE_BUCKET_IP, 77, 3, 20000, 1, &g, &e), 0);
		CHECK(g.allowed);
		CHECK_INT(g.remaining, i);
	}
	CHECK_INT(store_shared_bucket(st, STORE_BUCKET_IP, 77, 3, 20000, 1, &g, &e), 0);
	CHECK(!g.allowed);
	CHECK(g.reset_ms > 0 && g.reset_ms <= 20000);
	/* the user kind with the same key is another bucket */
	CHECK_INT(store_shared_bucket(st, STORE_BUCKET_USER, 77, 3, 20000, 1, &g, &e), 0);
	CHECK(g.allowed);
	CHECK_INT(g.remaining, 2);
	/* a refill of 1 ms: full again almost at once */
	CHECK_INT(store_shared_bucket(st, STORE_BUCKET_IP, 78, 1, 1, 1, &g, &e), 0);
	CHECK(g.allowed);
	struct timespec ts = {0, 5000000L};
	nanosleep(&ts, NULL);
	CHECK_INT(store_shared_bucket(st, STORE_BUCKET_IP, 78, 1, 1, 1, &g, &e), 0);
	CHECK(g.allowed);
}

static void test_listener(struct store *st)
{
	struct store_listener *l;
	struct store_gate g;
	unsigned char pair[STORE_PAIR_LEN];
	int64_t now = now_ms() / 1000, gen;
	struct account a;
	struct err e;

	memset(pair, 0xe5, sizeof(pair));
	CHECK_INT(store_shared_gate(st, pair, now + 60, now, 0, 9 << 8, 100, 100, &g, &e), 0);
	gen = g.gen;
	CHECK(gen >= 1);

	l = store_listen_start(st, changed, NULL, &e);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK(wait_seen("*,"));
	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "shared");
	snprintf(a.region, sizeof(a.region), "eu");
	CHECK_INT(store_account_create(st, &a, &e), 0);
	/* an insert of an account notifies nothing; its update does */
	snprintf(a.name, sizeof(a.name), "shared 2");
	CHECK_INT(store_account_update(st, &a, &e), 0);
	CHECK(wait_seen("accounts,"));
	/* the change is counted in the same transaction: the next gate sees it at once */
	CHECK_INT(store_shared_gate(st, pair, now + 60, now, 0, 9 << 8, 100, 100, &g, &e), 0);
	CHECK(g.gen > gen);
	/* a lost connection: the listener says "*" when it sees the loss and again once it
	 * listens anew (a change in between is covered by that second one) */
	seen_clear();
	CHECK_INT(kill_listener(), 1);
	CHECK(wait_seen("*,*,"));
	snprintf(a.name, sizeof(a.name), "shared 3");
	CHECK_INT(store_account_update(st, &a, &e), 0);
	CHECK(wait_seen("accounts,"));
	store_listen_stop(l);
}

int main(int argc, char **argv)
{
	struct store *st;

	(void)argc;
	st = pg_unit_open(argv, 13);
	if (!st)
		return tap_done();
	test_gate(st);
	test_buckets(st);
	test_listener(st);
	store_close(st);
	return tap_done();
}
