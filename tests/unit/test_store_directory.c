/* Unit tests of the directory store (store_directory.h) on SQLite: the cases of
 * store_directory_cases.h on a fresh database. */
#include "store_directory_cases.h"

#include "common/crypto.h"

#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	unsigned char key[STORE_KEY_LEN];
	struct store_config cfg = {0};
	struct store *st = NULL;
	char dir[64], path[128], cmd[160];
	struct err e;

	crypto_init();
	random_bytes(RND_INTERNAL, key, sizeof(key));
	snprintf(dir, sizeof(dir), "/tmp/mcapi-test-directory-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/test.db", dir);
	cfg.path = path;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st)
		return tap_done();
	CHECK_INT(store_schema_version(st), 13);
	directory_cases(st);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
	return tap_done();
}
