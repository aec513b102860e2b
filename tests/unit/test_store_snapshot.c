/* Unit tests for store snapshots (store_snapshot.h) on the SQLite backend in a temporary
 * directory: an export names every table with its columns (no generated ones) and blobs as
 * base64 objects; export, change, import gives the same tables back and a sealed secret
 * opens again; refusals (another schema version, another server key, a duplicate row, an
 * unknown column) change nothing; the column-name rule. */
#include "common/err.h"
#include "server/store/store.h"
#include "server/store/store_snapshot.h"
#include "server/store/store_snapshot_int.h"
#include "tap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static struct store *open_at(const char *name, unsigned char seed)
{
	unsigned char key[STORE_KEY_LEN];
	struct store_config cfg = {0};
	struct store *st = NULL;
	char path[128];
	struct err e = {0};

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 7 + seed);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cfg.path = path;
	cfg.key = key;
	if (store_open(&cfg, &st, &e) != 0)
		printf("store_open: %s\n", e.msg);
	return st;
}

static json_t *export_doc(struct store *st)
{
	struct err e = {0};
	char *text = NULL;
	size_t len = 0;
	json_t *doc;

	if (store_snapshot_export(st, &text, &len, &e) != 0) {
		printf("export: %s\n", e.msg);
		return NULL;
	}
	doc = json_loadb(text, len, 0, NULL);
	free(text);
	return doc;
}

static int import_doc(struct store *st, json_t *doc, struct err *e)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	int rc = store_snapshot_import(st, text, strlen(text), e);

	free(text);
	return rc;
}

/* One account with an application, a user and a binding whose secret is known. */
static void fill(struct store *st, const char *name, const char *email, const char *access_key)
{
	struct err e = {0};
	struct account a;
	struct application app;
	struct user u;
	struct binding b;

	store_account_init(&a);
	snprintf(a.name, sizeof(a.name), "%s", name);
	snprintf(a.region, sizeof(a.region), "eu");
	CHECK_INT(store_account_create(st, &a, &e), 0);
	memset(&app, 0, sizeof(app));
	app.account_id = a.id;
	CHECK_INT(store_app_create(st, &app, &e), 0);
	memset(&u, 0, sizeof(u));
	u.account_id = a.id;
	snprintf(u.email, sizeof(u.email), "%s", email);
	CHECK_INT(store_user_create(st, &u, &e), 0);
	memset(&b, 0, sizeof(b));
	b.user_id = u.id;
	b.app_row_id = app.id;
	snprintf(b.access_key, sizeof(b.access_key), "%s", access_key);
	memset(b.secret, 0x5a, 32);
	b.secret_len = 32;
	b.ttl_ms = STORE_TTL_NEVER;
	CHECK_INT(store_binding_create(st, &b, &e), 0);
}

static void test_names(void)
{
	CHECK(store_snapshot_name_ok("user_count"));
	CHECK(store_snapshot_name_ok("a1"));
	CHECK(!store_snapshot_name_ok(""));
	CHECK(!store_snapshot_name_ok("1a"));
	CHECK(!store_snapshot_name_ok("Name"));
	CHECK(!store_snapshot_name_ok("a\"b"));
	CHECK(!store_snapshot_name_ok("a b"));
	CHECK(store_snapshot_listed("accounts") && !store_snapshot_listed("store_meta"));
	CHECK(store_snapshot_excluded("store_meta") && store_snapshot_excluded("sqlite_sequence"));
	CHECK(!store_snapshot_excluded("accounts"));
}

static void test_round_trip(struct store *st)
{
	struct err e = {0};
	struct binding b;
	json_t *doc = export_doc(st), *again, *users, *apps, *cell;
	int64_t n;

	CHECK(doc != NULL);
	if (!doc)
		return;
	CHECK_STR(json_string_value(json_object_get(doc, "format")), "mcapid-snapshot");
	CHECK_INT(json_integer_value(json_object_get(doc, "schema_version")),
	          store_schema_version(st));
	CHECK_INT(json_object_size(json_object_get(doc, "tables")), store_snapshot_ntables);
	users = json_object_get(json_object_get(doc, "tables"), "users");
	CHECK(json_array_size(json_object_get(users, "rows")) == 1);
	for (size_t i = 0; i < json_array_size(json_object_get(users, "columns")); i++)
		CHECK(strcmp(json_string_value(
		                     json_array_get(json_object_get(users, "columns"), i)),
		             "domain") != 0); /* generated */
	apps = json_object_get(json_object_get(doc, "tables"), "applications");
	cell = json_array_get(json_array_get(json_object_get(apps, "rows"), 0), 3); /* app_key */
	CHECK(json_is_string(json_object_get(cell, "base64")));

	fill(st, "Later", "later@example.com", "later-access-key");
	CHECK_INT(import_doc(st, doc, &e), 0);
	again = export_doc(st);
	CHECK(again &&
	      json_equal(json_object_get(again, "tables"), json_object_get(doc, "tables")));
	/* the sealed secret opens again, the later key is gone, the count is right */
	CHECK_INT(store_binding_get(st, "first-access-key", &b, &e), 0);
	CHECK(b.secret_len == 32 && b.secret[0] == 0x5a && b.secret[31] == 0x5a);
	CHECK_INT(store_binding_get(st, "later-access-key", &b, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_account_user_count(st, 1, &n, &e), 0);
	CHECK_INT(n, 1);
	json_decref(again);
	json_decref(doc);
}

static void test_refusals(struct store *st)
{
	struct err e = {0};
	json_t *doc = export_doc(st), *bad, *after, *rows;
	struct store *other = open_at("other.db", 11);

	CHECK(doc && other);
	if (!doc || !other)
		return;
	bad = json_deep_copy(doc);
	json_object_set_new(bad, "schema_version", json_integer(store_schema_version(st) + 1));
	CHECK_INT(import_doc(st, bad, &e), MC_ERR_STATE);
	json_decref(bad);

	CHECK_INT(import_doc(other, doc, &e), MC_ERR_CRYPTO); /* another server key */

	bad = json_deep_copy(doc);
	rows = json_object_get(json_object_get(json_object_get(bad, "tables"), "accounts"), "rows");
	json_array_append(rows, json_array_get(rows, 0)); /* the same id twice */
	CHECK_INT(import_doc(st, bad, &e), MC_ERR_INVALID);
	json_decref(bad);

	bad = json_deep_copy(doc);
	json_array_set_new(
	        json_object_get(json_object_get(json_object_get(bad, "tables"), "domains"),
	                        "columns"),
	        1, json_string("no_such_column"));
	CHECK_INT(import_doc(st, bad, &e), MC_ERR_INVALID);
	json_decref(bad);

	bad = json_deep_copy(doc);
	json_object_del(json_object_get(bad, "tables"), "users");
	CHECK_INT(import_doc(st, bad, &e), MC_ERR_INVALID);
	json_decref(bad);

	CHECK_INT(store_snapshot_import(st, "[]", 2, &e), MC_ERR_INVALID);
	after = export_doc(st);
	CHECK(after &&
	      json_equal(json_object_get(after, "tables"), json_object_get(doc, "tables")));
	json_decref(after);
	json_decref(doc);
	store_close(other);
}

int main(void)
{
	struct store *st;
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/mcapi-snapshot-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_names();
	st = open_at("store.db", 3);
	CHECK(st != NULL);
	if (st) {
		fill(st, "First", "first@example.com", "first-access-key");
		test_round_trip(st);
		test_refusals(st);
		store_close(st);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
	return tap_done();
}
