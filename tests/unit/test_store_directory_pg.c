/* Unit tests of the directory store on PostgreSQL: the cases of store_directory_cases.h
 * against a real server. The DSN comes from MCAPI_TEST_PG_DSN; without it the test runs
 * itself again under tests/e2e/pgserver.py, which starts a throw-away PostgreSQL (as
 * test_store_pg.c does). */
#include "store_directory_cases.h"

#include "pg_unit.h"

int main(int argc, char **argv)
{
	struct store *st;

	(void)argc;
	st = pg_unit_open(argv, 13);
	if (!st)
		return tap_done();
	directory_cases(st);
	store_close(st);
	return tap_done();
}
