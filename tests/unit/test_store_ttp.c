/* Unit tests of the TTP/DLP log query of the store (store_ttp.h) on SQLite: events written
 * behind the store's back (messages with 0, 1 and 3 recipients, equal times, an event
 * without a message, another account's and another type's events), then every page size
 * walked in both orders from cursors — including cursors inside one event's recipients —
 * must give the whole ordered list once; the route and result filters; the window's edges;
 * malformed queries; and the query plan's use of the (account, type, at, id) index. The
 * PostgreSQL twin of the query runs under the end-to-end tests (tests/e2e/test_ttp_logs.py
 * with MCAPI_E2E_STORE=postgres). */
#include "common/err.h"
#include "server/store/store.h"
#include "server/store/store_ttp.h"
#include "tap.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 64

static char dir[64];
static char db_path[128];

static int raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(db_path, &db);

	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK)
		printf("# raw_exec: %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc;
}

struct seen {
	int n;
	int64_t at[MAX_ROWS], id[MAX_ROWS], rcpt[MAX_ROWS];
	char addr[MAX_ROWS][64], ip[MAX_ROWS][32], name[MAX_ROWS][32];
};

static int collect(void *arg, const struct ttp_log_row *r)
{
	struct seen *s = arg;

	if (s->n == MAX_ROWS)
		return MC_ERR_INTERNAL;
	s->at[s->n] = r->at;
	s->id[s->n] = r->id;
	s->rcpt[s->n] = r->rcpt_id;
	snprintf(s->addr[s->n], sizeof(s->addr[0]), "%s", r->rcpt);
	snprintf(s->ip[s->n], sizeof(s->ip[0]), "%s", r->client_ip);
	snprintf(s->name[s->n], sizeof(s->name[0]), "%s", r->from_name);
	CHECK(r->data_len == strlen(r->data) && r->data[0] == '{');
	s->n++;
	return 0;
}

static int run(struct store *st, const struct ttp_log_query *q, struct seen *s)
{
	struct err e = {0};

	memset(s, 0, sizeof(*s));
	return store_ttp_log_query(st, q, collect, s, &e);
}

/* Walks q in pages of size and checks the result equals all (same rows, same order). */
static void walk(struct store *st, struct ttp_log_query q, int size, const struct seen *all)
{
	struct seen page, got = {0};
	int pages = 0, ok = 1;

	q.limit = (size_t)size;
	q.has_cursor = 0;
	for (;;) {
		if (run(st, &q, &page) != 0 || pages++ > MAX_ROWS) {
			ok = 0;
			break;
		}
		for (int i = 0; i < page.n && got.n < MAX_ROWS; i++, got.n++) {
			got.at[got.n] = page.at[i];
			got.id[got.n] = page.id[i];
			got.rcpt[got.n] = page.rcpt[i];
		}
		if (page.n < size)
			break;
		q.has_cursor = 1;
		q.cursor_at = page.at[page.n - 1];
		q.cursor_id = page.id[page.n - 1];
		q.cursor_rcpt = page.rcpt[page.n - 1];
	}
	ok = ok && got.n == all->n;
	for (int i = 0; ok && i < all->n; i++)
		ok = got.at[i] == all->at[i] && got.id[i] == all->id[i] &&
		     got.rcpt[i] == all->rcpt[i];
	if (!ok)
		printf("# walk: size %d, oldest_first %d: %d rows of %d\n", size, q.oldest_first,
		       got.n, all->n);
	CHECK(ok);
}

static int ordered(const struct seen *s, int asc)
{
	for (int i = 1; i < s->n; i++) {
		int64_t a[3] = {s->at[i - 1], s->id[i - 1], s->rcpt[i - 1]};
		int64_t b[3] = {s->at[i], s->id[i], s->rcpt[i]};
		int c = 0;
		for (int k = 0; k < 3 && !c; k++)
			c = a[k] < b[k] ? -1 : a[k] > b[k] ? 1 : 0;
		if (c == 0 || (asc ? c > 0 : c < 0))
			return 0;
	}
	return 1;
}

static const char seed[] =
        "INSERT INTO accounts(id, code, name, region, mimecast_id, created) VALUES "
        "(901, 'CTTP1', 'T1', 'eu', 'm901', 1), (902, 'CTTP2', 'T2', 'eu', 'm902', 1);"
        "INSERT INTO messages(id, account_id, received, acode, route, status, client_ip, "
        "from_name, from_addr) VALUES "
        "(1, 901, 1000, 'a1', 0, 4, '192.0.2.1', 'Ann', 'ann@x.example'),"
        "(2, 901, 1000, 'a2', 0, 4, '192.0.2.2', '', 'bob@x.example'),"
        "(3, 901, 1000, 'a3', 2, 4, '10.0.0.3', 'Cy', 'cy@in.example'),"
        "(4, 902, 1000, 'a4', 0, 4, '192.0.2.4', '', 'z@x.example');"
        "INSERT INTO recipients(id, message_id, addr, state) VALUES "
        "(11, 1, 'r1@in.example', 2),"
        "(21, 2, 'r2a@in.example', 2), (22, 2, 'r2b@in.example', 2), "
        "(23, 2, 'r2c@in.example', 2),"
        "(41, 4, 'r4@in.example', 2);"
        /* message 3 has no recipients; event 105 has no message */
        "INSERT INTO mail_events(id, account_id, message_id, type, at, data) VALUES "
        "(101, 901, 1, 'ttp_ap', 5000, '{\"Route\":\"Inbound\",\"Result\":\"safe\"}'),"
        "(102, 901, 2, 'ttp_ap', 5000, '{\"Route\":\"Inbound\",\"Result\":\"malicious\"}'),"
        "(103, 901, 2, 'ttp_ap', 6000, '{\"Route\":\"Inbound\",\"Result\":\"safe\"}'),"
        "(104, 901, 3, 'ttp_ap', 4000, '{\"Route\":\"Internal\",\"Result\":\"safe\"}'),"
        "(105, 901, NULL, 'ttp_ap', 7000, '{\"Route\":\"Outbound\",\"Result\":\"safe\"}'),"
        "(106, 901, 1, 'dlp', 5000, '{\"Route\":\"Inbound\"}'),"
        "(107, 902, 4, 'ttp_ap', 5000, '{\"Route\":\"Inbound\",\"Result\":\"safe\"}'),"
        "(108, 901, 1, 'ttp_ap', 9000, '{\"Route\":\"Inbound\",\"Result\":\"safe\"}');";

static void cases(struct store *st)
{
	struct ttp_log_query q;
	struct seen all, s;
	struct err e;

	memset(&q, 0, sizeof(q));
	q.account_id = 901;
	q.type = "ttp_ap";
	q.from = 0;
	q.to = 8000;
	q.per_recipient = 1;
	q.oldest_first = 1;
	q.limit = 100;

	/* per recipient: 101 (1 rcpt) + 102 (3) + 103 (3) + 104 (none: 1 row) + 105 (1 row) */
	CHECK_INT(run(st, &q, &all), 0);
	CHECK_INT(all.n, 9);
	CHECK(ordered(&all, 1));
	CHECK_INT(all.id[0], 104);
	CHECK_INT(all.rcpt[0], 0);
	CHECK_STR(all.addr[0], "");
	CHECK_STR(all.ip[0], "10.0.0.3");
	CHECK_STR(all.name[0], "Cy");
	CHECK_INT(all.id[1], 101);
	CHECK_STR(all.addr[1], "r1@in.example");
	CHECK_STR(all.name[1], "Ann");
	CHECK_INT(all.id[2], 102);
	CHECK_INT(all.rcpt[2], 21);
	CHECK_INT(all.rcpt[4], 23);
	CHECK_INT(all.id[8], 105);
	CHECK_STR(all.ip[8], "");
	for (int size = 1; size <= 10; size++)
		walk(st, q, size, &all);

	q.oldest_first = 0;
	CHECK_INT(run(st, &q, &all), 0);
	CHECK_INT(all.n, 9);
	CHECK(ordered(&all, 0));
	CHECK_INT(all.id[0], 105);
	for (int size = 1; size <= 10; size++)
		walk(st, q, size, &all);

	/* one row per event without per_recipient */
	q.per_recipient = 0;
	CHECK_INT(run(st, &q, &s), 0);
	CHECK_INT(s.n, 5);
	CHECK_STR(s.addr[0], "");
	for (int size = 1; size <= 6; size++) {
		q.oldest_first = size % 2;
		CHECK_INT(run(st, &q, &all), 0);
		walk(st, q, size, &all);
	}
	q.per_recipient = 1;
	q.oldest_first = 1;

	/* the window's edges are inclusive */
	q.from = 5000;
	q.to = 6000;
	CHECK_INT(run(st, &q, &s), 0);
	CHECK_INT(s.n, 7);
	q.from = 5001;
	q.to = 5999;
	CHECK_INT(run(st, &q, &s), 0);
	CHECK_INT(s.n, 0);
	q.from = 0;
	q.to = 8000;

	/* filters on the event's JSON */
	q.route = "Internal";
	CHECK_INT(run(st, &q, &s), 0);
	CHECK_INT(s.n, 1);
	CHECK_INT(s.id[0], 104);
	q.route = "internal"; /* any case */
	CHECK_INT(run(st, &q, &s), 0);
	CHECK_INT(s.n, 1);
	q.route = "Inbound";
	q.result_key = "Result";
	q.result = "MALICIOUS";
	CHECK_INT(run(st, &q, &s), 0);
	CHECK_INT(s.n, 3);
	CHECK(s.id[0] == 102 && s.id[2] == 102);
	q.result = "safe";
	CHECK_INT(run(st, &q, &all), 0);
	CHECK_INT(all.n, 4); /* 101, 103 x 3 */
	for (int size = 1; size <= 5; size++)
		walk(st, q, size, &all);
	q.route = NULL;
	q.result_key = NULL;
	q.result = NULL;

	/* another type, another account */
	q.type = "dlp";
	CHECK_INT(run(st, &q, &s), 0);
	CHECK(s.n == 1 && s.id[0] == 106);
	q.type = "ttp_ap";
	q.account_id = 902;
	CHECK_INT(run(st, &q, &s), 0);
	CHECK(s.n == 1 && s.id[0] == 107 && s.rcpt[0] == 41);
	q.account_id = 901;

	/* a cursor past the window, and malformed queries */
	q.has_cursor = 1;
	q.cursor_at = 9000;
	q.cursor_id = 108;
	CHECK_INT(run(st, &q, &s), 0);
	CHECK_INT(s.n, 0);
	q.has_cursor = 0;
	q.limit = 0;
	CHECK_INT(run(st, &q, &s), 0);
	CHECK_INT(s.n, 0);
	q.limit = 10;
	q.result_key = "Result') OR 1=1 --";
	q.result = "x";
	CHECK_INT(store_ttp_log_query(st, &q, collect, &s, &e), MC_ERR_INVALID);
	q.result_key = NULL;
	q.from = 10;
	q.to = 9;
	CHECK_INT(store_ttp_log_query(st, &q, collect, &s, &e), MC_ERR_INVALID);
	q.from = 0;
	q.type = NULL;
	CHECK_INT(store_ttp_log_query(st, &q, collect, &s, &e), MC_ERR_INVALID);
}

/* The page reads a range of the (account, type, at, id) index, never the whole table. */
static void plan(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int uses = 0;
	const char *sql =
	        "EXPLAIN QUERY PLAN SELECT e.id FROM mail_events e "
	        "LEFT JOIN messages m ON m.id = e.message_id "
	        "LEFT JOIN recipients r ON 1 = 1 AND r.message_id = e.message_id "
	        "WHERE e.account_id = 901 AND e.type = 'ttp_ap' AND e.at >= 0 AND e.at <= 9 "
	        "ORDER BY e.at DESC, e.id DESC, COALESCE(r.id, 0) DESC LIMIT 5";

	if (sqlite3_open(db_path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(s, 3);
			printf("#   %s\n", d);
			if (strstr(d, "mail_events_type_at"))
				uses = 1;
		}
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	CHECK(uses);
}

int main(void)
{
	struct store_config cfg = {0};
	unsigned char key[STORE_KEY_LEN];
	struct store *st = NULL;
	struct err e;
	char cmd[160];

	snprintf(dir, sizeof(dir), "/tmp/mcapi-ttp-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(db_path, sizeof(db_path), "%s/store.db", dir);
	memset(key, 7, sizeof(key));
	cfg.path = db_path;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st) {
		printf("# store_open: %s\n", e.msg);
		return tap_done();
	}
	CHECK_INT(raw_exec(seed), SQLITE_OK);
	cases(st);
	plan();
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
