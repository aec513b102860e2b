/* Unit tests of the sender policy selection on PostgreSQL: the cases of store_policy_cases.h
 * against a real server. The DSN comes from MCAPI_TEST_PG_DSN; without it the test runs
 * itself again under tests/e2e/pgserver.py, which starts a throw-away PostgreSQL (as
 * test_store_pg.c does). */
#include "store_policy_cases.h"

#include "pg_unit.h"

int main(int argc, char **argv)
{
	struct store *st;

	(void)argc;
	st = pg_unit_open(argv, 13);
	if (!st)
		return tap_done();
	store_policy_cases(st);
	store_close(st);
	return tap_done();
}
