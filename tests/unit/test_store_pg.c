/* Unit tests for the store with the PostgreSQL backend against a real server: the DSN comes
 * from MCAPI_TEST_PG_DSN; without it the test runs itself again under
 * tests/e2e/pgserver.py, which starts a throw-away PostgreSQL (and the test fails, not
 * skips, if that cannot start). Covered: migrations and reopen, records and their errors,
 * user_count by trigger, sealed secrets, a clash inside a transaction, the first
 * verification wins, keyset lists, audit queries, login counters, the write lock timing out
 * as MC_ERR_UNAVAILABLE, a wrong server key, and every account field through create and
 * update. */
#include "common/err.h"
#include "server/store/store.h"
#include "server/store/store_audit.h"
#include "server/store/store_domain.h"
#include "server/store/store_login.h"
#include "tap.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dsn;
static unsigned char key[STORE_KEY_LEN];

static struct store *open_with(const unsigned char *k, int busy_ms, int *rc_out)
{
	struct store_config cfg = {0};
	struct store *st = NULL;
	struct err e = {0};

	cfg.backend = "postgres";
	cfg.dsn = dsn;
	cfg.key = k;
	cfg.busy_timeout_ms = busy_ms;
	*rc_out = store_open(&cfg, &st, &e);
	if (*rc_out)
		printf("# store_open: %s\n", e.msg);
	return st;
}

static int64_t raw_int(const char *sql)
{
	PGconn *db = PQconnectdb(dsn);
	PGresult *r = PQexec(db, sql);
	int64_t v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(db);
	return v;
}

static int count_fn(void *arg, const void *rec)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

static int count_dom(void *arg, const struct domain *d)
{
	return count_fn(arg, d);
}

static int count_audit(void *arg, const struct audit_record *r)
{
	return count_fn(arg, r);
}

/* Re-entrant: a store call from inside a list callback. */
static int reenter_fn(void *arg, const struct account *a)
{
	struct account b;
	struct err e;

	CHECK_INT(store_account_get(arg, a->id, &b, &e), 0);
	return 0;
}

struct holder {
	struct store *st;
	int started, release;
	pthread_mutex_t mu;
};

static void *hold_lock(void *p)
{
	struct holder *h = p;
	struct err e;

	CHECK_INT(store_tx_begin(h->st, &e), 0);
	pthread_mutex_lock(&h->mu);
	h->started = 1;
	pthread_mutex_unlock(&h->mu);
	for (;;) {
		int done;
		pthread_mutex_lock(&h->mu);
		done = h->release;
		pthread_mutex_unlock(&h->mu);
		if (done)
			break;
		usleep(10000);
	}
	store_tx_rollback(h->st);
	return NULL;
}

static void test_records(struct store *st)
{
	struct account a = {0}, a2 = {0}, got;
	struct application app = {0}, app2;
	struct user u = {0}, u2 = {0}, ug;
	struct binding b = {0}, bg;
	struct err e;
	int64_t n = -1;
	int cnt = 0;

	snprintf(a.name, sizeof(a.name), "Acme");
	snprintf(a.region, sizeof(a.region), "eu");
	CHECK_INT(store_account_create(st, &a, &e), 0);
	CHECK(a.id > 0 && a.code[0] == 'C');
	a2 = a;
	a2.mimecast_id[0] = '\0';
	CHECK_INT(store_account_create(st, &a2, &e), MC_ERR_EXISTS); /* same code */
	CHECK_INT(store_account_get_by_code(st, a.code, &got, &e), 0);
	CHECK_STR(got.name, "Acme");
	CHECK_INT(store_account_get(st, 999999, &got, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_account_list(st, reenter_fn, st, &e), 0);
	/* the real formats and the defaults create fills */
	CHECK(strlen(a.mimecast_id) == 13 && strncmp(a.mimecast_id, "01-", 3) == 0);
	CHECK(strncmp(a.code, "CEUA", 4) == 0);
	CHECK_STR(got.database_code, "euterm1");
	CHECK_INT(strlen(got.support_code), 4);
	CHECK_STR(got.content_view, "Metadata");
	CHECK_INT(got.admin_session_timeout, 60);
	/* every mutable field round-trips through update; the identity does not change */
	{
		struct account w = got, back;
		snprintf(w.name, sizeof(w.name), "Acme Renamed");
		snprintf(w.admin_email, sizeof(w.admin_email), "admin@acme.example");
		snprintf(w.type, sizeof(w.type), "lite");
		snprintf(w.domain, sizeof(w.domain), "acme.example");
		snprintf(w.packages, sizeof(w.packages), "[\"A [1]\"]");
		snprintf(w.passphrase, sizeof(w.passphrase), "pass \xc3\xa9");
		snprintf(w.support_code, sizeof(w.support_code), "ABCD");
		snprintf(w.database_code, sizeof(w.database_code), "euterm9");
		snprintf(w.content_view, sizeof(w.content_view), "Content");
		snprintf(w.contact_email, sizeof(w.contact_email), "c@acme.example");
		snprintf(w.contact_name, sizeof(w.contact_name), "Sam");
		snprintf(w.telephone, sizeof(w.telephone), "801-369-0000");
		snprintf(w.region, sizeof(w.region), "za");
		w.max_retention = 90;
		w.admin_session_timeout = 15;
		w.archive = w.min_retention_enabled = w.policy_inheritance = w.search_reason = 1;
		w.export_api = w.exgest_allow_query = 1;
		w.max_retention_confirmed = w.automated_segment_purge = 0;
		CHECK_INT(store_account_update(st, &w, &e), 0);
		CHECK_INT(store_account_get(st, a.id, &back, &e), 0);
		CHECK_STR(back.region, "eu");
		CHECK_STR(back.code, a.code);
		CHECK_STR(back.name, "Acme Renamed");
		CHECK_STR(back.admin_email, "admin@acme.example");
		CHECK_STR(back.type, "lite");
		CHECK_STR(back.domain, "acme.example");
		CHECK_STR(back.packages, "[\"A [1]\"]");
		CHECK_STR(back.passphrase, "pass \xc3\xa9");
		CHECK_STR(back.support_code, "ABCD");
		CHECK_STR(back.database_code, "euterm9");
		CHECK_STR(back.content_view, "Content");
		CHECK_STR(back.contact_email, "c@acme.example");
		CHECK_STR(back.contact_name, "Sam");
		CHECK_STR(back.telephone, "801-369-0000");
		CHECK_INT(back.max_retention, 90);
		CHECK_INT(back.admin_session_timeout, 15);
		CHECK_INT(back.archive + back.min_retention_enabled + back.policy_inheritance +
		                  back.search_reason + back.export_api + back.exgest_allow_query,
		          6);
		CHECK_INT(back.max_retention_confirmed + back.automated_segment_purge, 0);
		w.id = 999999;
		CHECK_INT(store_account_update(st, &w, &e), MC_ERR_NOT_FOUND);
	}

	app.account_id = a.id;
	snprintf(app.name, sizeof(app.name), "app");
	CHECK_INT(store_app_create(st, &app, &e), 0);
	CHECK_INT(store_app_get(st, app.app_id, &app2, &e), 0);
	CHECK_STR(app2.app_key, app.app_key);
	CHECK_INT(store_app_get(st, "no\xff\xfe", &app2, &e), MC_ERR_NOT_FOUND); /* not UTF-8 */
	CHECK_INT(raw_int("SELECT count(*) FROM applications WHERE position(convert_to(name, "
	                  "'UTF8') in app_key) > 0"),
	          0);
	app2 = app;
	app2.app_id[0] = '\0';
	app2.account_id = 424242;
	CHECK_INT(store_app_create(st, &app2, &e), MC_ERR_NOT_FOUND);

	u.account_id = a.id;
	snprintf(u.email, sizeof(u.email), "Alice@Example.com");
	CHECK_INT(store_user_create(st, &u, &e), 0);
	u2 = u;
	CHECK_INT(store_user_create(st, &u2, &e), MC_ERR_EXISTS);
	CHECK_INT(store_user_get_by_email(st, "ALICE@example.COM", &ug, &e), 0);
	CHECK_INT(ug.id, u.id);
	CHECK_INT(store_account_get(st, a.id, &got, &e), 0);
	CHECK_INT(got.user_count, 1);
	ug.failed_logins = 3;
	CHECK_INT(store_user_update(st, &ug, &e), 0);
	CHECK_INT(store_user_get(st, u.id, &ug, &e), 0);
	CHECK_INT(ug.failed_logins, 3);

	b.user_id = u.id;
	b.app_row_id = app.id;
	snprintf(b.access_key, sizeof(b.access_key), "ak-1");
	memcpy(b.secret, "0123456789abcdef0123456789abcdef", 32);
	b.secret_len = 32;
	b.ttl_ms = STORE_TTL_NEVER;
	CHECK_INT(store_binding_create(st, &b, &e), 0);
	CHECK_INT(store_binding_create(st, &b, &e), MC_ERR_EXISTS);
	CHECK_INT(store_binding_get(st, "ak-1", &bg, &e), 0);
	CHECK(bg.secret_len == 32 && memcmp(bg.secret, b.secret, 32) == 0);
	CHECK_INT(raw_int("SELECT count(*) FROM bindings WHERE position("
	                  "'\\x30313233343536373839616263646566'::bytea in secret) > 0"),
	          0);
	CHECK_INT(store_binding_set_expiry(st, b.id, 77, &e), 0);
	CHECK_INT(store_binding_count(st, u.id, &n, &e), 0);
	CHECK_INT(n, 1);
	CHECK_INT(store_binding_revoke(st, b.id, 5, &e), 0);
	CHECK_INT(store_binding_count(st, u.id, &n, &e), 0);
	CHECK_INT(n, 0);
	CHECK_INT(store_binding_revoke(st, 999999, 5, &e), MC_ERR_NOT_FOUND);

	/* a clash inside a transaction leaves it usable */
	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_tx_begin(st, &e), MC_ERR_INTERNAL);
	CHECK_INT(store_user_create(st, &u2, &e), MC_ERR_EXISTS);
	u2.email[0] = 'b';
	CHECK_INT(store_user_create(st, &u2, &e), 0);
	CHECK_INT(store_tx_commit(st, &e), 0);
	CHECK_INT(store_account_user_count(st, a.id, &n, &e), 0);
	CHECK_INT(n, 2);
	/* rollback undoes */
	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_auditf(st, a.id, "x", "account_logs", "T", 1000, &e, "rolled back"), 0);
	store_tx_rollback(st);

	/* audit: ids random, newest first, text filter, cut UTF-8 made valid */
	CHECK_INT(store_auditf(st, a.id, "Alice", "account_logs", "Domain Created", 2000, &e,
	                       "one \xc3"),
	          0);
	CHECK_INT(store_auditf(st, a.id, "bob", "authentication_logs", "Logon", 3000, &e, "two"),
	          0);
	{
		struct audit_query q = {0};
		q.account_id = a.id;
		q.start = 0;
		q.end = 10000;
		q.limit = 10;
		CHECK_INT(store_audit_query(st, &q, count_audit, &cnt, &e), 0);
		CHECK_INT(cnt, 2);
		cnt = 0;
		q.text = "ALICE";
		CHECK_INT(store_audit_query(st, &q, count_audit, &cnt, &e), 0);
		CHECK_INT(cnt, 1);
		cnt = 0;
		q.text = NULL;
		q.categories[0] = "authentication_logs";
		CHECK_INT(store_audit_query(st, &q, count_audit, &cnt, &e), 0);
		CHECK_INT(cnt, 1);
	}

	/* login counters */
	{
		struct login_failure f = {2, 0, 100}, g;
		CHECK_INT(store_login_failure_put(st, "k1", &f, 0, &e), 0);
		CHECK_INT(store_login_failure_get(st, "k1", &g, &e), 0);
		CHECK_INT(g.failures, 2);
		CHECK_INT(store_login_failure_put(st, "k2", &f, 101, &e), 0); /* purges k1 */
		CHECK_INT(store_login_failure_get(st, "k1", &g, &e), 0);
		CHECK_INT(g.failures, 0);
	}
}

static void test_domains(struct store *st)
{
	struct account a = {0}, b = {0};
	struct domain d = {0}, d2, got;
	struct err e;
	int64_t owner = 0, deleted = 0;
	int cnt = 0;

	snprintf(a.name, sizeof(a.name), "A");
	snprintf(b.name, sizeof(b.name), "B");
	CHECK_INT(store_account_create(st, &a, &e), 0);
	CHECK_INT(store_account_create(st, &b, &e), 0);
	d.account_id = a.id;
	snprintf(d.name, sizeof(d.name), "x.example");
	snprintf(d.inbound_type, sizeof(d.inbound_type), "any");
	d.created = 1;
	d.expiry = 1000;
	CHECK_INT(store_domain_create(st, &d, &e), 0);
	CHECK_INT(store_domain_create(st, &d, &e), MC_ERR_EXISTS);
	d2 = d;
	d2.account_id = b.id;
	CHECK_INT(store_domain_create(st, &d2, &e), 0); /* pending claims in many accounts */
	d.state = DOMAIN_INTERNAL;
	CHECK_INT(store_domain_update(st, &d, &e), 0);
	d2.state = DOMAIN_INTERNAL;
	CHECK_INT(store_domain_update(st, &d2, &e), MC_ERR_EXISTS); /* first verification wins */
	CHECK_INT(store_domain_internal_owner(st, "x.example", &owner, &e), 0);
	CHECK_INT(owner, a.id);
	CHECK_INT(store_domain_get_by_row(st, a.id, d.row, &got, &e), 0);
	CHECK_STR(got.name, "x.example");
	CHECK_INT(store_domain_set_check(st, d2.row, 5, "verified", &e), 0);
	/* keyset pages, bytewise order ("-" before "a") */
	snprintf(d2.name, sizeof(d2.name), "a-b.example");
	d2.state = DOMAIN_PENDING;
	d2.account_id = a.id;
	CHECK_INT(store_domain_create(st, &d2, &e), 0);
	snprintf(d2.name, sizeof(d2.name), "ab.example");
	CHECK_INT(store_domain_create(st, &d2, &e), 0);
	CHECK_INT(store_domain_list(st, a.id, DOMAIN_LIST_ALL, "a-b.example", 0, 10, count_dom,
	                            &cnt, &e),
	          0);
	CHECK_INT(cnt, 2);
	cnt = 0;
	CHECK_INT(store_domain_list(st, a.id, DOMAIN_LIST_PENDING, NULL, 0, 1, count_dom, &cnt, &e),
	          0);
	CHECK_INT(cnt, 1);
	CHECK_INT(store_domain_purge(st, 2000, &deleted, &e), 0);
	CHECK_INT(deleted, 3);
	CHECK_INT(store_domain_delete(st, d.row, &e), 0);
	CHECK_INT(store_domain_delete(st, d.row, &e), MC_ERR_NOT_FOUND);
}

static void test_lock_timeout(void)
{
	struct holder h = {0};
	struct store *st;
	struct account a = {0};
	struct err e;
	pthread_t t;
	int rc, started = 0;

	st = open_with(key, 200, &rc);
	CHECK_INT(rc, 0);
	if (!st)
		return;
	h.st = st;
	pthread_mutex_init(&h.mu, NULL);
	pthread_create(&t, NULL, hold_lock, &h);
	while (!started) {
		usleep(5000);
		pthread_mutex_lock(&h.mu);
		started = h.started;
		pthread_mutex_unlock(&h.mu);
	}
	CHECK_INT(store_tx_begin(st, &e), MC_ERR_UNAVAILABLE);
	snprintf(a.name, sizeof(a.name), "waits");
	CHECK_INT(store_account_create(st, &a, &e), MC_ERR_UNAVAILABLE); /* writes too */
	CHECK_INT(store_ping(st), 0);                                    /* reads do not wait */
	pthread_mutex_lock(&h.mu);
	h.release = 1;
	pthread_mutex_unlock(&h.mu);
	pthread_join(t, NULL);
	CHECK_INT(store_account_create(st, &a, &e), 0);
	pthread_mutex_destroy(&h.mu);
	store_close(st);
}

int main(int argc, char **argv)
{
	struct store *st;
	unsigned char other[STORE_KEY_LEN];
	int rc;

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
	memset(key, 7, sizeof(key));
	st = open_with(key, 0, &rc);
	CHECK_INT(rc, 0);
	if (!st)
		return tap_done();
	CHECK_INT(store_schema_version(st), 13);
	CHECK_INT(store_ping(st), 0);
	test_records(st);
	test_domains(st);
	store_close(st);
	/* reopen: nothing to migrate, same key opens it */
	st = open_with(key, 0, &rc);
	CHECK_INT(rc, 0);
	CHECK_INT(raw_int("SELECT count(*) FROM schema_migrations"), 13); /* 001..013 */
	store_close(st);
	memset(other, 8, sizeof(other));
	st = open_with(other, 0, &rc);
	CHECK_INT(rc, MC_ERR_CRYPTO);
	store_close(st);
	test_lock_timeout();
	return tap_done();
}
