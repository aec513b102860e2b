/* libmcapi profile editing that the CLI's "profile delete" and "logout" rely on: a whole
 * profile removed (the others and their order kept, the file rewritten without it), and the
 * keys of one profile removed. */
#include "mcapi/mcapi.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static void test_delete(void)
{
	static const char text[] = "[a]\nbase_url = http://a\n[b]\nbase_url = http://b\n"
	                           "access_key = k\nsecret_key = s\n[c]\napp_id = c\n";
	struct mcapi_config *cfg = NULL, *back = NULL;
	char path[] = "/tmp/mcapi-profiles-XXXXXX", *msg = NULL;
	FILE *f;
	int fd;

	CHECK_INT(mcapi_config_parse(text, sizeof(text) - 1, &cfg, &msg), 0);
	CHECK_INT(mcapi_config_delete(cfg, "nope"), MCAPI_E_NOT_FOUND);
	CHECK_INT(mcapi_config_delete(cfg, NULL), MCAPI_E_NOT_FOUND);
	/* logout: the keys go, the rest of the profile stays */
	CHECK_INT(mcapi_config_set(cfg, "b", "access_key", NULL), 0);
	CHECK_INT(mcapi_config_set(cfg, "b", "secret_key", NULL), 0);
	CHECK(mcapi_config_get(cfg, "b", "access_key") == NULL);
	CHECK_STR(mcapi_config_get(cfg, "b", "base_url"), "http://b");
	CHECK_INT(mcapi_config_delete(cfg, "b"), 0);
	CHECK_INT(mcapi_config_count(cfg), 2);
	CHECK_STR(mcapi_config_name(cfg, 0), "a");
	CHECK_STR(mcapi_config_name(cfg, 1), "c");
	CHECK(!mcapi_config_has(cfg, "b"));
	CHECK_STR(mcapi_config_get(cfg, "c", "app_id"), "c");
	CHECK_INT(mcapi_config_delete(cfg, "b"), MCAPI_E_NOT_FOUND);
	/* the last one, then one added again */
	CHECK_INT(mcapi_config_delete(cfg, "c"), 0);
	CHECK_INT(mcapi_config_set(cfg, "d", "app_id", "d"), 0);
	CHECK_STR(mcapi_config_name(cfg, 1), "d");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		f = fdopen(fd, "w");
		if (f)
			fclose(f);
	}
	CHECK_INT(mcapi_config_save(cfg, path, &msg), 0);
	CHECK_INT(mcapi_config_load(path, &back, &msg), 0);
	CHECK_INT(mcapi_config_count(back), 2);
	CHECK(!mcapi_config_has(back, "b") && !mcapi_config_has(back, "c"));
	CHECK_STR(mcapi_config_get(back, "d", "app_id"), "d");
	remove(path);
	mcapi_config_free(back);
	mcapi_config_free(cfg);
	free(msg);
}

int main(void)
{
	test_delete();
	return tap_done();
}
