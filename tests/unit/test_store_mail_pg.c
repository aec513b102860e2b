/* Unit tests of the mail store on PostgreSQL: the cases of store_mail_cases.h against a real
 * server, and concurrent accepts from 8 threads. The DSN comes from MCAPI_TEST_PG_DSN;
 * without it the test runs itself again under tests/e2e/pgserver.py, which starts a
 * throw-away PostgreSQL (as test_store_pg.c does). */
#include "store_mail_cases.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

static const char *dsn;

static int64_t raw_int(const char *sql)
{
	PGconn *db = PQconnectdb(dsn);
	PGresult *r = PQexec(db, sql);
	int64_t v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		printf("# raw_int: %s: %s\n", sql, PQerrorMessage(db));
	PQclear(r);
	PQfinish(db);
	return v;
}

static int raw_exec(const char *sql)
{
	PGconn *db = PQconnectdb(dsn);
	PGresult *r = PQexec(db, sql);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;

	if (rc)
		printf("# raw_exec: %s: %s\n", sql, PQerrorMessage(db));
	PQclear(r);
	PQfinish(db);
	return rc;
}

struct horizon_call {
	struct store *st;
	int64_t hi;
	atomic_int done;
};

static void *horizon_thread(void *p)
{
	struct horizon_call *h = p;
	struct err e;

	CHECK_INT(store_siem_horizon(h->st, &h->hi, &e), 0);
	atomic_store(&h->done, 1);
	return NULL;
}

/* The event write lock (pg_int.h): a writer that holds it shared has an id assigned but not
 * committed; the horizon waits for it, then sees that id. Without the wait a later commit
 * of a lower id would be skipped by every SIEM chain. */
static void test_event_lock(struct store *st, int64_t acct)
{
	PGconn *db = PQconnectdb(dsn);
	PGresult *r;
	struct horizon_call h = {st, 0, 0};
	pthread_t t;
	char sql[256];
	int64_t id = 0;

	PQclear(PQexec(db, "BEGIN"));
	PQclear(PQexec(db, "SELECT pg_advisory_xact_lock_shared(1835229552, 3)"));
	snprintf(sql, sizeof(sql),
	         "INSERT INTO mail_events(account_id, type, at, data) VALUES (%lld, 'receipt', "
	         "1, '{}') RETURNING id",
	         (long long)acct);
	r = PQexec(db, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	CHECK(id > 0);
	pthread_create(&t, NULL, horizon_thread, &h);
	usleep(300 * 1000);
	CHECK_INT(atomic_load(&h.done), 0); /* waits for the writer */
	PQclear(PQexec(db, "COMMIT"));
	pthread_join(t, NULL);
	CHECK(h.hi >= id);
	PQfinish(db);
}

struct accept_call {
	struct store *st;
	int64_t acct;
	atomic_int done;
};

static void *accept_thread(void *p)
{
	struct accept_call *a = p;

	siem_msg(a->st, a->acct, now_ms(), "receipt", "{}", "process", "{}");
	atomic_store(&a->done, 1);
	return NULL;
}

/* ... and the other side: an accept (sql_accept) takes the lock shared before its events'
 * ids, so it waits while a horizon holds it exclusively. */
static void test_event_lock_writer(struct store *st, int64_t acct)
{
	PGconn *db = PQconnectdb(dsn);
	struct accept_call a = {st, acct, 0};
	pthread_t t;

	PQclear(PQexec(db, "BEGIN"));
	PQclear(PQexec(db, "SELECT pg_advisory_xact_lock(1835229552, 3)"));
	pthread_create(&t, NULL, accept_thread, &a);
	usleep(300 * 1000);
	CHECK_INT(atomic_load(&a.done), 0);
	PQclear(PQexec(db, "COMMIT"));
	pthread_join(t, NULL);
	CHECK_INT(atomic_load(&a.done), 1);
	PQfinish(db);
}

int main(int argc, char **argv)
{
	static const struct mail_backend pg_backend = {"postgres", raw_int, raw_exec};
	struct store_config cfg = {0};
	unsigned char key[STORE_KEY_LEN];
	struct store *st = NULL;
	int64_t acct, dom;
	struct err e;
	double rate;

	(void)argc;
	dsn = getenv("MCAPI_TEST_PG_DSN");
	if (!dsn || !*dsn) {
		const char *src = getenv("MCAPI_SOURCE_DIR");
		char script[1024];
		snprintf(script, sizeof(script), "%s/tests/e2e/pgserver.py", src ? src : ".");
		execl("/usr/bin/python3", "python3", script, "--run", argv[0], (char *)NULL);
		perror("exec pgserver.py");
		return 1;
	}
	memset(key, 5, sizeof(key));
	cfg.backend = "postgres";
	cfg.dsn = dsn;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st) {
		printf("# store_open: %s\n", e.msg);
		return tap_done();
	}
	CHECK_INT(store_schema_version(st), 13);
	mail_cases(st, &pg_backend);
	test_event_lock(st, new_account(st, "Lock"));
	test_event_lock_writer(st, new_account(st, "Lock writer"));
	acct = new_account(st, "Load");
	dom = new_domain(st, acct, "load.example", DOMAIN_INTERNAL);
	rate = mail_threads(st, acct, dom, 8, 25, 10 * 1024);
	printf("# postgres: 8 threads x 25 accepts of 10 KiB: %.0f accepts/s\n", rate);
	store_close(st);
	return tap_done();
}
