/* The store parts of issue 4 against a real SQLite file: audit-event queries (time range,
 * text and category filters, keyset pages newest first, other accounts invisible) and the
 * failed-login counters of unknown names (upsert, delete at zero, purge when idle). */
#include "common/err.h"
#include "server/store/store.h"
#include "server/store/store_audit.h"
#include "server/store/store_login.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/mcapi-test-login-XXXXXX";
static char path[256];

static struct store *open_store(void)
{
	unsigned char key[STORE_KEY_LEN];
	struct store_config sc = {0};
	struct store *st = NULL;
	struct err e = {0};

	memset(key, 7, sizeof(key));
	sc.backend = "sqlite";
	sc.path = path;
	sc.key = key;
	if (store_open(&sc, &st, &e) != 0)
		fprintf(stderr, "store_open: %s\n", e.msg);
	return st;
}

struct collect {
	int n;
	struct audit_record r[64];
};

static int collect(void *arg, const struct audit_record *r)
{
	struct collect *c = arg;
	if (c->n < 64)
		c->r[c->n++] = *r;
	return 0;
}

static int add(struct store *st, int64_t account, const char *user, const char *type,
               const char *cat, const char *info, int64_t t)
{
	struct audit_event ev = {account, user, type, cat, info, t};
	return store_audit_add(st, &ev, NULL);
}

static void test_audit(struct store *st, int64_t a1, int64_t a2)
{
	struct audit_query q;
	struct collect c;
	int i;

	/* 20 events in a1 at t = 1000..1019 (two at each of some times), 3 in a2 */
	for (i = 0; i < 20; i++) {
		char info[64];
		snprintf(info, sizeof(info), "event number %d", i);
		CHECK_INT(add(st, a1, i % 2 ? "Alice@Example.com" : "bob@example.com",
		              i % 3 ? "Logon Authentication Failed" : "Domain Created",
		              i % 3 ? "authentication_logs" : "account_logs", info, 1000 + i / 2),
		          0);
	}
	for (i = 0; i < 3; i++)
		CHECK_INT(add(st, a2, "eve@other.test", "Logoff", "authentication_logs", "x", 1005),
		          0);
	CHECK_INT(add(st, 0, "nobody@x", "Logon Authentication Failed", "authentication_logs",
	              "unknown", 1005),
	          0);

	memset(&q, 0, sizeof(q));
	q.account_id = a1;
	q.start = 0;
	q.end = 5000;
	q.limit = 100;
	c.n = 0;
	CHECK_INT(store_audit_query(st, &q, collect, &c, NULL), 0);
	CHECK_INT(c.n, 20);
	for (i = 1; i < c.n; i++)
		CHECK(c.r[i - 1].time > c.r[i].time ||
		      (c.r[i - 1].time == c.r[i].time && strcmp(c.r[i - 1].id, c.r[i].id) > 0));
	CHECK_INT(strlen(c.r[0].id), 22);

	/* time range, inclusive */
	q.start = 1002;
	q.end = 1003;
	c.n = 0;
	store_audit_query(st, &q, collect, &c, NULL);
	CHECK_INT(c.n, 4);

	/* text: case-insensitive over user, type and info */
	q.start = 0;
	q.end = 5000;
	q.text = "ALICE@";
	c.n = 0;
	store_audit_query(st, &q, collect, &c, NULL);
	CHECK_INT(c.n, 10);
	q.text = "domain cre";
	c.n = 0;
	store_audit_query(st, &q, collect, &c, NULL);
	CHECK_INT(c.n, 7);
	q.text = "number 13";
	c.n = 0;
	store_audit_query(st, &q, collect, &c, NULL);
	CHECK_INT(c.n, 1);
	q.text = "50%_";
	c.n = 0;
	store_audit_query(st, &q, collect, &c, NULL);
	CHECK_INT(c.n, 0);
	q.text = NULL;

	/* categories */
	q.categories[0] = "account_logs";
	c.n = 0;
	store_audit_query(st, &q, collect, &c, NULL);
	CHECK_INT(c.n, 7);
	for (i = 0; i < c.n; i++)
		CHECK_STR(c.r[i].category, "account_logs");
	q.categories[1] = "authentication_logs";
	c.n = 0;
	store_audit_query(st, &q, collect, &c, NULL);
	CHECK_INT(c.n, 20);
	q.categories[0] = q.categories[1] = NULL;

	/* keyset pages of 3 walk every event once, in order */
	struct collect all;
	char seen[20][AUDIT_ID_SIZE];
	int total = 0, pages = 0;
	q.limit = 3;
	q.has_cursor = 0;
	for (;;) {
		all.n = 0;
		CHECK_INT(store_audit_query(st, &q, collect, &all, NULL), 0);
		for (i = 0; i < all.n && total < 20; i++)
			memcpy(seen[total++], all.r[i].id, AUDIT_ID_SIZE);
		pages++;
		if (all.n < 3 || pages > 10)
			break;
		q.has_cursor = 1;
		q.cursor_time = all.r[all.n - 1].time;
		q.cursor_id = seen[total - 1];
	}
	CHECK_INT(total, 20);
	CHECK_INT(pages, 7);
	for (i = 0; i < 20; i++)
		for (int j = i + 1; j < 20; j++)
			CHECK(strcmp(seen[i], seen[j]) != 0);

	/* another account sees only its own */
	memset(&q, 0, sizeof(q));
	q.account_id = a2;
	q.end = 5000;
	q.limit = 100;
	c.n = 0;
	store_audit_query(st, &q, collect, &c, NULL);
	CHECK_INT(c.n, 3);
	q.limit = 0;
	CHECK_INT(store_audit_query(st, &q, collect, &c, NULL), MC_ERR_INVALID);
}

static void test_failures(struct store *st)
{
	struct login_failure f = {0}, g;

	CHECK_INT(store_login_failure_get(st, "k1", &g, NULL), 0);
	CHECK_INT(g.failures, 0);
	f.failures = 2;
	f.locked_until = 0;
	f.updated = 100;
	CHECK_INT(store_login_failure_put(st, "k1", &f, 0, NULL), 0);
	f.failures = 5;
	f.locked_until = 900100;
	f.updated = 200;
	CHECK_INT(store_login_failure_put(st, "k1", &f, 0, NULL), 0);
	CHECK_INT(store_login_failure_get(st, "k1", &g, NULL), 0);
	CHECK_INT(g.failures, 5);
	CHECK_INT(g.locked_until, 900100);
	CHECK_INT(g.updated, 200);
	f.failures = 1;
	f.locked_until = 0;
	f.updated = 300;
	CHECK_INT(store_login_failure_put(st, "k2", &f, 0, NULL), 0);
	/* purge: k2 idle since 300 and not locked goes; k1 is still locked */
	f.failures = 1;
	f.updated = 5000;
	CHECK_INT(store_login_failure_put(st, "k3", &f, 1000, NULL), 0);
	CHECK_INT(store_login_failure_get(st, "k2", &g, NULL), 0);
	CHECK_INT(g.failures, 0);
	CHECK_INT(store_login_failure_get(st, "k1", &g, NULL), 0);
	CHECK_INT(g.failures, 5);
	/* zero deletes */
	f.failures = 0;
	CHECK_INT(store_login_failure_put(st, "k3", &f, 0, NULL), 0);
	CHECK_INT(store_login_failure_get(st, "k3", &g, NULL), 0);
	CHECK_INT(g.failures, 0);
	CHECK_INT(store_login_failure_get(st, "", &g, NULL), MC_ERR_INVALID);
}

int main(void)
{
	struct store *st;
	struct account a1, a2;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	st = open_store();
	CHECK(st != NULL);
	if (!st)
		return tap_done();
	memset(&a1, 0, sizeof(a1));
	memset(&a2, 0, sizeof(a2));
	snprintf(a1.name, sizeof(a1.name), "one");
	snprintf(a2.name, sizeof(a2.name), "two");
	CHECK_INT(store_account_create(st, &a1, NULL), 0);
	CHECK_INT(store_account_create(st, &a2, NULL), 0);
	test_audit(st, a1.id, a2.id);
	test_failures(st);
	store_close(st);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
