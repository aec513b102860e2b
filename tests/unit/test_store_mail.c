/* Unit tests of the mail store on SQLite: the shared cases of store_mail_cases.h, then
 * what only SQLite shows: the connection is back at synchronous=NORMAL after a durable
 * accept, the hold queue and the delivery queue are read through their indexes (query
 * plans), and concurrent accepts from 8 threads (group commit; run under TSan too). The
 * accepts/s figure is printed; MCAPI_BENCH_ACCEPTS=THREADS,PER_THREAD runs a larger one. */
#include "store_mail_cases.h"

#include <sqlite3.h>

static char dir[64];
static char db_path[128];

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open(db_path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		printf("# raw_int: %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

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

/* 1 if the query plan of sql mentions index and no full scan of table. */
static int uses_index(const char *sql, const char *index, const char *table)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char scan[64];
	int uses = 0, scans = 0;
	size_t n = strlen(sql) + 32;
	char *q = malloc(n);

	snprintf(q, n, "EXPLAIN QUERY PLAN %s", sql);
	snprintf(scan, sizeof(scan), "SCAN %s", table);
	if (sqlite3_open(db_path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK) {
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(s, 3);
			printf("#   %s\n", d);
			uses |= strstr(d, index) != NULL;
			scans |= strncmp(d, scan, strlen(scan)) == 0 && !strstr(d, "INDEX");
		}
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(q);
	return uses && !scans;
}

static void test_plans(void)
{
	/* the shapes of sqlite_mail.c's statements, with the planner's own choice */
	CHECK(uses_index("SELECT id FROM messages m WHERE m.account_id = 1 AND m.status = 1 "
	                 "AND (m.received, m.id) < (9, 9) ORDER BY m.received DESC, m.id DESC "
	                 "LIMIT 10",
	                 "messages_account_status", "m"));
	CHECK(uses_index("SELECT hold_reason, count(*) FROM messages WHERE account_id = 1 AND "
	                 "status = 1 GROUP BY hold_reason",
	                 "messages_account_status", "messages"));
	CHECK(uses_index("SELECT id FROM recipients WHERE queued = 1 AND state = 3 AND "
	                 "next_attempt <= 5 ORDER BY next_attempt, id LIMIT 8",
	                 "recipients_due", "recipients"));
	CHECK(uses_index("SELECT id FROM messages WHERE processed = 0 AND status = 0 AND "
	                 "lease_until <= 5 ORDER BY received, id LIMIT 1",
	                 "messages_unprocessed", "messages"));
	CHECK(uses_index("SELECT id FROM bodies WHERE claimed = 0 AND created < 5 "
	                 "ORDER BY created LIMIT 10",
	                 "bodies_unclaimed", "bodies"));
}

int main(void)
{
	static const struct mail_backend sqlite_backend = {"sqlite", raw_int, raw_exec};
	struct store_config cfg = {0};
	unsigned char key[STORE_KEY_LEN];
	struct store *st = NULL;
	const char *bench = getenv("MCAPI_BENCH_ACCEPTS");
	int64_t acct, dom;
	struct err e;
	double rate;
	char cmd[160];

	snprintf(dir, sizeof(dir), "/tmp/mcapi-mail-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(db_path, sizeof(db_path), "%s/store.db", dir);
	memset(key, 5, sizeof(key));
	cfg.path = db_path;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st) {
		printf("# store_open: %s\n", e.msg);
		return tap_done();
	}
	CHECK_INT(store_schema_version(st), 13);
	mail_cases(st, &sqlite_backend);
	test_plans();

	/* 8 threads accepting at once: group commit */
	acct = new_account(st, "Load");
	dom = new_domain(st, acct, "load.example", DOMAIN_INTERNAL);
	rate = mail_threads(st, acct, dom, 8, 25, 10 * 1024);
	printf("# sqlite: 8 threads x 25 accepts of 10 KiB: %.0f accepts/s\n", rate);
	if (bench && *bench) {
		int threads = 8, per = 250;
		if (sscanf(bench, "%d,%d", &threads, &per) >= 1 && threads > 0 && per > 0) {
			acct = new_account(st, "Bench");
			rate = mail_threads(st, acct, dom, threads, per, 10 * 1024);
			printf("# sqlite: %d threads x %d accepts of 10 KiB: %.0f accepts/s\n",
			       threads, per, rate);
			acct = new_account(st, "Bench 1");
			rate = mail_threads(st, acct, dom, 1, per, 10 * 1024);
			printf("# sqlite: 1 thread x %d accepts of 10 KiB: %.0f accepts/s\n", per,
			       rate);
		}
	}
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
