/* The start of a unit test that runs store cases on PostgreSQL: the DSN comes from
 * MCAPI_TEST_PG_DSN; without it the test runs itself again under tests/e2e/pgserver.py, which
 * starts a throw-away PostgreSQL (as test_store_pg.c does). Include after tap.h and the store
 * headers (the *_cases.h headers bring both). */
#ifndef MCAPI_TESTS_UNIT_PG_UNIT_H
#define MCAPI_TESTS_UNIT_PG_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The store of the test's PostgreSQL (key of 7s), its schema version checked against
 * version; NULL (after a TAP note) when it cannot be opened. Does not return when it re-runs
 * the test under pgserver.py. */
static struct store *pg_unit_open(char **argv, int version)
{
	static unsigned char key[STORE_KEY_LEN];
	struct store_config cfg = {0};
	struct store *st = NULL;
	const char *dsn = getenv("MCAPI_TEST_PG_DSN");
	struct err e;

	if (!dsn || !*dsn) {
		const char *src = getenv("MCAPI_SOURCE_DIR");
		char script[1024];
		snprintf(script, sizeof(script), "%s/tests/e2e/pgserver.py", src ? src : ".");
		execl("/usr/bin/python3", "python3", script, "--run", argv[0], (char *)NULL);
		perror("exec pgserver.py");
		exit(1);
	}
	memset(key, 7, sizeof(key));
	cfg.backend = "postgres";
	cfg.dsn = dsn;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st) {
		printf("# store_open: %s\n", e.msg);
		return NULL;
	}
	CHECK_INT(store_schema_version(st), version);
	return st;
}

#endif
