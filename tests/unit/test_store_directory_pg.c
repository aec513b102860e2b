/* Unit tests of the directory store on PostgreSQL: the cases of store_directory_cases.h
 * against a real server. The DSN comes from MCAPI_TEST_PG_DSN; without it the test runs
 * itself again under tests/e2e/pgserver.py, which starts a throw-away PostgreSQL (as
 * test_store_pg.c does). */
#include "store_directory_cases.h"

#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct store_config cfg = {0};
	unsigned char key[STORE_KEY_LEN];
	struct store *st = NULL;
	const char *dsn;
	struct err e;

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
	cfg.backend = "postgres";
	cfg.dsn = dsn;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st) {
		printf("# store_open: %s\n", e.msg);
		return tap_done();
	}
	CHECK_INT(store_schema_version(st), 9);
	directory_cases(st);
	store_close(st);
	return tap_done();
}
