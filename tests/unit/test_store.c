/* Unit tests for the store with the SQLite backend on a temporary directory: every
 * function, unique clashes, migrations on reopen, transactions (rollback, nesting, a clash
 * inside a transaction), re-entrant list callbacks, concurrent writers, secrets absent
 * from the database file, a wrong server key and swapped sealed values, survival of a
 * commit across kill -9, the cost of the hot-path binding lookup, and every account field
 * through create, update and migration 005 on an existing row. */
#include "common/date.h"
#include "common/err.h"
#include "server/store/store.h"
#include "server/store/store_mail.h"
#include "tap.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static char db_path[128];
static unsigned char key[STORE_KEY_LEN];

static struct store *open_store_with(const unsigned char *k, int *rc_out, struct err *e)
{
	struct store_config cfg = {0};
	struct store *st = NULL;
	int rc;

	cfg.path = db_path;
	cfg.key = k;
	rc = store_open(&cfg, &st, e);
	if (rc_out)
		*rc_out = rc;
	return st;
}

static struct store *open_store(void)
{
	struct err e;
	int rc;
	struct store *st = open_store_with(key, &rc, &e);

	if (rc)
		printf("store_open: %s\n", e.msg);
	return st;
}

/* Runs one SQL statement on the database behind the store's back. */
static int raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(db_path, &db);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		printf("raw_exec: %s\n", sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc;
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open(db_path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* 1 if needle occurs in the file at path (missing file: 0). */
static int file_contains(const char *path, const void *needle, size_t n)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long size;
	int found = 0;

	if (!f)
		return 0;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		data = malloc((size_t)size);
		if (data && fread(data, 1, (size_t)size, f) == (size_t)size)
			found = memmem(data, (size_t)size, needle, n) != NULL;
	}
	free(data);
	fclose(f);
	return found;
}

static struct account new_account(const char *name)
{
	struct account a;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", name);
	snprintf(a.region, sizeof(a.region), "eu");
	snprintf(a.type, sizeof(a.type), "full");
	a.max_retention = 30;
	return a;
}

static struct user new_user(int64_t account_id, const char *email)
{
	struct user u;

	memset(&u, 0, sizeof(u));
	u.account_id = account_id;
	snprintf(u.email, sizeof(u.email), "%s", email);
	snprintf(u.name, sizeof(u.name), "Someone");
	u.perms = 5;
	return u;
}

static struct binding new_binding(int64_t user_id, int64_t app_row_id, const char *ak,
                                  unsigned char fill)
{
	struct binding b;

	memset(&b, 0, sizeof(b));
	b.user_id = user_id;
	b.app_row_id = app_row_id;
	snprintf(b.access_key, sizeof(b.access_key), "%s", ak);
	memset(b.secret, fill, 32);
	b.secret_len = 32;
	b.ttl_ms = 3 * 86400000LL;
	b.expires = now_ms() + b.ttl_ms;
	return b;
}

static int count_accounts(void *arg, const struct account *a)
{
	(void)a;
	(*(int *)arg)++;
	return 0;
}

/* A callback that calls the same list again: the nested call must not disturb this one. */
static int nested_list(void *arg, const struct account *a)
{
	struct store *st = arg;
	int inner = 0;

	(void)a;
	if (store_account_list(st, count_accounts, &inner, NULL) != 0 || inner != 3)
		return -99;
	return 0;
}

static int stop_after_two(void *arg, const struct account *a)
{
	(void)a;
	return ++*(int *)arg == 2 ? 7 : 0;
}

static int record_app(void *arg, const struct application *app)
{
	int *n = arg;

	(*n)++;
	return app->app_key[0] ? 0 : -1;
}

static int record_user(void *arg, const struct user *u)
{
	char *last = arg;

	snprintf(last, 256, "%s", u->email);
	return 0;
}

struct seen_bindings {
	int n;
	char first[96];
};

static int record_binding(void *arg, const struct binding *b)
{
	struct seen_bindings *s = arg;

	if (s->n++ == 0)
		snprintf(s->first, sizeof(s->first), "%s", b->access_key);
	return 0;
}

static void test_open_errors(void)
{
	struct store_config cfg = {0};
	struct store *st = (struct store *)1;
	struct err e;

	cfg.path = db_path;
	cfg.key = key;
	cfg.backend = "postgres";
	CHECK_INT(store_open(&cfg, &st, &e), MC_ERR_INVALID);
	CHECK_STR(e.msg, "the postgres store needs a connection string (pg_dsn)"); /* no dsn */
	CHECK(st == NULL);
	cfg.backend = "oracle";
	CHECK_INT(store_open(&cfg, &st, &e), MC_ERR_INVALID);
	cfg.backend = NULL;
	cfg.key = NULL;
	CHECK_INT(store_open(&cfg, &st, &e), MC_ERR_INVALID);
	cfg.key = key;
	cfg.path = ":memory:";
	CHECK_INT(store_open(&cfg, &st, &e), MC_ERR_INVALID);
	cfg.path = "/nonexistent-dir/x.db";
	CHECK(store_open(&cfg, &st, &e) != 0);
	store_close(NULL);

	/* must_exist (mcapid admin): neither a missing nor an empty file becomes a store */
	{
		char empty[160];
		struct stat sb;
		FILE *f;
		cfg.path = db_path;
		cfg.must_exist = 1;
		CHECK_INT(store_open(&cfg, &st, &e), MC_ERR_NOT_FOUND);
		CHECK(strstr(e.msg, "does not exist") != NULL);
		CHECK(stat(db_path, &sb) != 0);
		snprintf(empty, sizeof(empty), "%s/empty.db", dir);
		f = fopen(empty, "w");
		CHECK(f != NULL);
		if (f)
			fclose(f);
		cfg.path = empty;
		CHECK_INT(store_open(&cfg, &st, &e), MC_ERR_NOT_FOUND);
		CHECK(strstr(e.msg, "holds no mcapid store") != NULL);
		CHECK(stat(empty, &sb) == 0 && sb.st_size == 0);
		unlink(empty);
	}
}

static void test_accounts(struct store *st)
{
	struct account a = new_account("Example Ltd"), b = new_account("Other"), got;
	struct err e;
	int64_t count = -1;
	int n = 0;

	CHECK_INT(store_account_create(st, &a, &e), 0);
	CHECK(a.id > 0);
	CHECK(a.created > 0);
	/* the real formats: mimecastId "01-0035-00403" and its code "CEUA35A403" */
	CHECK_INT(strlen(a.mimecast_id), 13);
	CHECK(strncmp(a.mimecast_id, "01-", 3) == 0 && a.mimecast_id[7] == '-');
	CHECK(strspn(a.mimecast_id + 3, "0123456789") == 4);
	CHECK(strspn(a.mimecast_id + 8, "0123456789") == 5);
	{
		char want[32];
		snprintf(want, sizeof(want), "CEUA%dA%d", atoi(a.mimecast_id + 3),
		         atoi(a.mimecast_id + 8));
		CHECK_STR(a.code, want);
	}
	CHECK_STR(a.packages, "[]");
	/* defaults filled by create */
	CHECK_INT(strlen(a.support_code), 4);
	CHECK(strspn(a.support_code, "0123456789ABCDEF") == 4);
	CHECK_STR(a.database_code, "euterm1");
	CHECK_STR(a.content_view, "Metadata");
	CHECK_INT(a.admin_session_timeout, 60);
	CHECK_INT(store_account_get(st, a.id, &got, &e), 0);
	CHECK_STR(got.name, "Example Ltd");
	CHECK_STR(got.code, a.code);
	CHECK_STR(got.region, "eu");
	CHECK_INT(got.max_retention, 30);
	CHECK_INT(got.created, a.created);
	CHECK_INT(store_account_get_by_code(st, a.code, &got, &e), 0);
	CHECK_INT(got.id, a.id);
	CHECK_INT(store_account_get_by_code(st, "CNOPE1", &got, &e), MC_ERR_NOT_FOUND);
	CHECK_STR(e.msg, "no account 'CNOPE1'");
	CHECK_INT(store_account_get(st, 9999, &got, &e), MC_ERR_NOT_FOUND);

	snprintf(b.code, sizeof(b.code), "%s", a.code); /* explicit clash */
	CHECK_INT(store_account_create(st, &b, &e), MC_ERR_EXISTS);
	snprintf(b.code, sizeof(b.code), "CFIXED");
	snprintf(b.mimecast_id, sizeof(b.mimecast_id), "%s", a.mimecast_id);
	CHECK_INT(store_account_create(st, &b, &e), MC_ERR_EXISTS);
	b.mimecast_id[0] = '\0';
	snprintf(b.packages, sizeof(b.packages), "[\"Mimecast Gateway [1004]\"]");
	CHECK_INT(store_account_create(st, &b, &e), 0);
	CHECK_STR(b.code, "CFIXED");
	CHECK_INT(store_account_get_by_code(st, "CFIXED", &got, &e), 0);
	CHECK_STR(got.packages, "[\"Mimecast Gateway [1004]\"]");

	b = new_account(""); /* no name */
	CHECK_INT(store_account_create(st, &b, &e), MC_ERR_INVALID);

	b = new_account("Third");
	CHECK_INT(store_account_create(st, &b, &e), 0);
	CHECK_INT(store_account_list(st, count_accounts, &n, &e), 0);
	CHECK_INT(n, 3);
	CHECK_INT(store_account_list(st, nested_list, st, &e), 0);
	n = 0;
	CHECK_INT(store_account_list(st, stop_after_two, &n, &e), 7);
	CHECK_INT(n, 2);
	CHECK_INT(store_account_user_count(st, a.id, &count, &e), 0);
	CHECK_INT(count, 0);

	/* a given mimecastId in the real format gives the code */
	b = new_account("Given");
	snprintf(b.region, sizeof(b.region), "us");
	snprintf(b.mimecast_id, sizeof(b.mimecast_id), "01-0035-00403");
	CHECK_INT(store_account_create(st, &b, &e), 0);
	CHECK_STR(b.code, "CUSA35A403");
	CHECK_STR(b.database_code, "usterm1");
	b = new_account("Given again"); /* same id: the code would clash too */
	snprintf(b.mimecast_id, sizeof(b.mimecast_id), "01-0035-00403");
	CHECK_INT(store_account_create(st, &b, &e), MC_ERR_EXISTS);
}

/* Every field of an account through init, create, get, update and list. */
static int find_full(void *arg, const struct account *a)
{
	struct account *want = arg;

	if (a->id != want->id)
		return 0;
	CHECK_STR(a->telephone, want->telephone);
	CHECK_INT(a->exgest_allow_query, want->exgest_allow_query);
	return 1;
}

static void test_account_fields(struct store *st)
{
	struct account a, got;
	struct err e;

	store_account_init(&a);
	CHECK_STR(a.type, "full");
	CHECK_INT(a.max_retention, 30);
	CHECK_INT(a.max_retention_confirmed, 1);
	CHECK_INT(a.automated_segment_purge, 1);
	CHECK_INT(a.min_retention_enabled, 0);
	CHECK_INT(a.archive, 0);
	CHECK_INT(a.admin_session_timeout, 60);
	CHECK_STR(a.content_view, "Metadata");
	CHECK(strstr(a.packages, "Mimecast Platform [1033]") != NULL);
	snprintf(a.name, sizeof(a.name), "Full");
	snprintf(a.region, sizeof(a.region), "de");
	snprintf(a.contact_email, sizeof(a.contact_email), "Ops@Full.Example");
	snprintf(a.support_code, sizeof(a.support_code), "311C");
	CHECK_INT(store_account_create(st, &a, &e), 0);
	CHECK_STR(a.contact_email, "ops@full.example");
	CHECK_INT(store_account_get(st, a.id, &got, &e), 0);
	CHECK_STR(got.support_code, "311C");
	CHECK_STR(got.database_code, "determ1");
	CHECK_STR(got.contact_email, "ops@full.example");
	CHECK_STR(got.packages, a.packages);
	CHECK_INT(got.max_retention_confirmed, 1);
	CHECK_INT(got.automated_segment_purge, 1);
	CHECK_INT(got.admin_session_timeout, 60);
	CHECK_INT(got.archive, 0);

	/* update: every mutable field, each to a value unlike its default */
	snprintf(got.name, sizeof(got.name), "Full Renamed");
	snprintf(got.admin_email, sizeof(got.admin_email), "admin@full.example");
	snprintf(got.type, sizeof(got.type), "lite");
	snprintf(got.domain, sizeof(got.domain), "full.example");
	snprintf(got.packages, sizeof(got.packages), "[\"A [1]\",\"B [2]\"]");
	snprintf(got.passphrase, sizeof(got.passphrase), "open sesame");
	snprintf(got.support_code, sizeof(got.support_code), "ABCD");
	snprintf(got.database_code, sizeof(got.database_code), "determ9");
	snprintf(got.content_view, sizeof(got.content_view), "Content");
	snprintf(got.contact_email, sizeof(got.contact_email), "c@full.example");
	snprintf(got.contact_name, sizeof(got.contact_name), "Sam Contact");
	snprintf(got.telephone, sizeof(got.telephone), "+49 30 1234");
	got.max_retention = 90;
	got.admin_session_timeout = 15;
	got.archive = 1;
	got.max_retention_confirmed = 0;
	got.min_retention_enabled = 1;
	got.automated_segment_purge = 0;
	got.policy_inheritance = 1;
	got.search_reason = 1;
	got.export_api = 1;
	got.exgest_allow_query = 1;
	/* the identity of the account is not what update writes */
	snprintf(got.code, sizeof(got.code), "CIGNORED");
	snprintf(got.mimecast_id, sizeof(got.mimecast_id), "ignored");
	snprintf(got.region, sizeof(got.region), "za");
	CHECK_INT(store_account_update(st, &got, &e), 0);
	{
		struct account u;
		CHECK_INT(store_account_get(st, a.id, &u, &e), 0);
		CHECK_STR(u.code, a.code);
		CHECK_STR(u.mimecast_id, a.mimecast_id);
		CHECK_STR(u.region, "de");
		CHECK_STR(u.name, "Full Renamed");
		CHECK_STR(u.admin_email, "admin@full.example");
		CHECK_STR(u.type, "lite");
		CHECK_STR(u.domain, "full.example");
		CHECK_STR(u.packages, "[\"A [1]\",\"B [2]\"]");
		CHECK_STR(u.passphrase, "open sesame");
		CHECK_STR(u.support_code, "ABCD");
		CHECK_STR(u.database_code, "determ9");
		CHECK_STR(u.content_view, "Content");
		CHECK_STR(u.contact_email, "c@full.example");
		CHECK_STR(u.contact_name, "Sam Contact");
		CHECK_STR(u.telephone, "+49 30 1234");
		CHECK_INT(u.max_retention, 90);
		CHECK_INT(u.admin_session_timeout, 15);
		CHECK_INT(u.archive, 1);
		CHECK_INT(u.max_retention_confirmed, 0);
		CHECK_INT(u.min_retention_enabled, 1);
		CHECK_INT(u.automated_segment_purge, 0);
		CHECK_INT(u.policy_inheritance, 1);
		CHECK_INT(u.search_reason, 1);
		CHECK_INT(u.export_api, 1);
		CHECK_INT(u.exgest_allow_query, 1);
		CHECK_INT(u.created, a.created);
		CHECK_INT(store_account_list(st, find_full, &u, &e), 1);
	}
	got.id = 999999;
	CHECK_INT(store_account_update(st, &got, &e), MC_ERR_NOT_FOUND);
	got.id = a.id;
	got.name[0] = '\0';
	CHECK_INT(store_account_update(st, &got, &e), MC_ERR_INVALID);
	memset(got.telephone, 'x', sizeof(got.telephone)); /* not terminated */
	snprintf(got.name, sizeof(got.name), "Full");
	CHECK_INT(store_account_update(st, &got, &e), MC_ERR_INVALID);
}

static void test_apps_users_bindings(struct store *st)
{
	struct application app, app2, got;
	struct user u, u2, gu;
	struct binding b, b2, gb;
	struct account a;
	struct err e;
	char last[256];
	int64_t count = 0;
	int n = 0;

	CHECK_INT(store_account_get_by_code(st, "CFIXED", &a, &e), 0);

	/* applications */
	memset(&app, 0, sizeof(app));
	app.account_id = a.id;
	snprintf(app.name, sizeof(app.name), "Sample");
	CHECK_INT(store_app_create(st, &app, &e), 0);
	CHECK_INT(strlen(app.app_id), 36);
	CHECK_INT(strlen(app.app_key), 36);
	CHECK(app.id > 0);
	CHECK_INT(store_app_get(st, app.app_id, &got, &e), 0);
	CHECK_STR(got.app_key, app.app_key);
	CHECK_STR(got.name, "Sample");
	CHECK_INT(got.account_id, a.id);
	CHECK_INT(got.revoked, 0);
	CHECK_INT(store_app_get_by_id(st, app.id, &got, &e), 0);
	CHECK_STR(got.app_id, app.app_id);
	CHECK_INT(store_app_get(st, "nope", &got, &e), MC_ERR_NOT_FOUND);

	memset(&app2, 0, sizeof(app2));
	app2.account_id = a.id;
	snprintf(app2.app_id, sizeof(app2.app_id), "%s", app.app_id);
	CHECK_INT(store_app_create(st, &app2, &e), MC_ERR_EXISTS);
	snprintf(app2.app_id, sizeof(app2.app_id), "my-app-id");
	snprintf(app2.app_key, sizeof(app2.app_key), "my-app-key");
	CHECK_INT(store_app_create(st, &app2, &e), 0);
	CHECK_INT(store_app_get(st, "my-app-id", &got, &e), 0);
	CHECK_STR(got.app_key, "my-app-key");
	memset(&got, 0, sizeof(got));
	got.account_id = 12345; /* foreign key */
	CHECK_INT(store_app_create(st, &got, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_app_list(st, 0, record_app, &n, &e), 0);
	CHECK_INT(n, 2);
	n = 0;
	CHECK_INT(store_app_list(st, a.id, record_app, &n, &e), 0);
	CHECK_INT(n, 2);
	n = 0;
	CHECK_INT(store_app_list(st, a.id + 100, record_app, &n, &e), 0);
	CHECK_INT(n, 0);
	CHECK_INT(store_app_revoke(st, "my-app-id", 1000, &e), 0);
	CHECK_INT(store_app_revoke(st, "my-app-id", 2000, &e), 0);
	CHECK_INT(store_app_get(st, "my-app-id", &got, &e), 0);
	CHECK_INT(got.revoked, 1000);
	CHECK_INT(store_app_revoke(st, "nope", 1000, &e), MC_ERR_NOT_FOUND);

	/* users */
	u = new_user(a.id, "Alice@Example.COM");
	CHECK_INT(store_user_create(st, &u, &e), 0);
	CHECK(u.id > 0);
	CHECK_STR(u.email, "alice@example.com");
	CHECK_INT(store_user_get_by_email(st, "ALICE@example.com", &gu, &e), 0);
	CHECK_INT(gu.id, u.id);
	CHECK_INT(gu.perms, 5);
	CHECK_STR(gu.name, "Someone");
	CHECK_INT(store_user_get(st, u.id, &gu, &e), 0);
	CHECK_STR(gu.email, "alice@example.com");
	u2 = new_user(a.id, "alice@EXAMPLE.com");
	CHECK_INT(store_user_create(st, &u2, &e), MC_ERR_EXISTS);
	CHECK(strstr(e.msg, "alice@example.com") != NULL);
	u2 = new_user(a.id + 100, "bob@example.com");
	CHECK_INT(store_user_create(st, &u2, &e), MC_ERR_NOT_FOUND);
	u2 = new_user(a.id, "bob@example.com");
	u2.binding_ttl_ms = -5;
	CHECK_INT(store_user_create(st, &u2, &e), MC_ERR_INVALID);
	u2.binding_ttl_ms = STORE_TTL_NEVER;
	CHECK_INT(store_user_create(st, &u2, &e), 0);
	CHECK_INT(store_user_get_by_email(st, "carol@example.com", &gu, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_user_list(st, a.id, record_user, last, &e), 0);
	CHECK_STR(last, "bob@example.com");
	CHECK_INT(store_account_user_count(st, a.id, &count, &e), 0);
	CHECK_INT(count, 2);

	u.perms = 31;
	snprintf(u.name, sizeof(u.name), "Alice A.");
	snprintf(u.password_hash, sizeof(u.password_hash), "$argon2id$fake");
	u.binding_ttl_ms = 60000;
	u.extend_on_validate = 1;
	u.failed_logins = 3;
	u.locked_until = 123456;
	u.disabled = 777;
	CHECK_INT(store_user_update(st, &u, &e), 0);
	CHECK_INT(store_user_get(st, u.id, &gu, &e), 0);
	CHECK_INT(gu.perms, 31);
	CHECK_STR(gu.name, "Alice A.");
	CHECK_STR(gu.password_hash, "$argon2id$fake");
	CHECK_INT(gu.binding_ttl_ms, 60000);
	CHECK_INT(gu.extend_on_validate, 1);
	CHECK_INT(gu.failed_logins, 3);
	CHECK_INT(gu.locked_until, 123456);
	CHECK_INT(gu.disabled, 777);
	CHECK_STR(gu.email, "alice@example.com");
	gu.id = 99999;
	CHECK_INT(store_user_update(st, &gu, &e), MC_ERR_NOT_FOUND);

	/* bindings */
	b = new_binding(u.id, app.id, "AK-one", 0xA1);
	b.created = 1000;
	b.extend_on_validate = 1;
	CHECK_INT(store_binding_create(st, &b, &e), 0);
	CHECK(b.id > 0);
	CHECK_INT(store_binding_get(st, "AK-one", &gb, &e), 0);
	CHECK_INT(gb.id, b.id);
	CHECK_INT(gb.user_id, u.id);
	CHECK_INT(gb.app_row_id, app.id);
	CHECK_INT(gb.secret_len, 32);
	CHECK(memcmp(gb.secret, b.secret, 32) == 0);
	CHECK_INT(gb.expires, b.expires);
	CHECK_INT(gb.ttl_ms, b.ttl_ms);
	CHECK_INT(gb.extend_on_validate, 1);
	CHECK_INT(gb.revoked, 0);
	CHECK_INT(gb.created, 1000);
	CHECK_INT(store_binding_get(st, "AK-none", &gb, &e), MC_ERR_NOT_FOUND);
	b2 = new_binding(u.id, app.id, "AK-one", 0xB2);
	CHECK_INT(store_binding_create(st, &b2, &e), MC_ERR_EXISTS);
	b2 = new_binding(u.id, app.id, "AK-two", 0xB2);
	b2.created = 2000;
	b2.ttl_ms = STORE_TTL_NEVER;
	b2.expires = 0;
	CHECK_INT(store_binding_create(st, &b2, &e), 0);
	b2 = new_binding(u.id, app.id + 100, "AK-three", 0xB3);
	CHECK_INT(store_binding_create(st, &b2, &e), MC_ERR_NOT_FOUND);
	b2 = new_binding(u.id, app.id, "AK-three", 0xB3);
	b2.secret_len = 0;
	CHECK_INT(store_binding_create(st, &b2, &e), MC_ERR_INVALID);
	b2.secret_len = 65;
	CHECK_INT(store_binding_create(st, &b2, &e), MC_ERR_INVALID);
	b2.secret_len = 32;
	b2.ttl_ms = 0;
	CHECK_INT(store_binding_create(st, &b2, &e), MC_ERR_INVALID);

	CHECK_INT(store_binding_count(st, u.id, &count, &e), 0);
	CHECK_INT(count, 2);
	{
		struct seen_bindings s = {0, ""};
		CHECK_INT(store_binding_list(st, u.id, record_binding, &s, &e), 0);
		CHECK_INT(s.n, 2);
		CHECK_STR(s.first, "AK-one");
	}
	CHECK_INT(store_binding_set_expiry(st, b.id, 424242, &e), 0);
	CHECK_INT(store_binding_get(st, "AK-one", &gb, &e), 0);
	CHECK_INT(gb.expires, 424242);
	CHECK_INT(store_binding_set_expiry(st, 99999, 1, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_binding_revoke(st, b.id, 5000, &e), 0);
	CHECK_INT(store_binding_revoke(st, b.id, 6000, &e), 0);
	CHECK_INT(store_binding_get(st, "AK-one", &gb, &e), 0);
	CHECK_INT(gb.revoked, 5000);
	CHECK_INT(store_binding_revoke(st, 99999, 1, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_binding_count(st, u.id, &count, &e), 0);
	CHECK_INT(count, 1);
	{
		struct seen_bindings s = {0, ""};
		CHECK_INT(store_binding_list(st, u.id, record_binding, &s, &e), 0);
		CHECK_INT(s.n, 1);
		CHECK_STR(s.first, "AK-two");
	}
}

static void test_audit(struct store *st)
{
	struct audit_event ev = {0};
	struct err e;
	int64_t before = raw_int("SELECT count(*) FROM audit_events");

	ev.account_id = 1;
	ev.user = "admin@example.com";
	ev.audit_type = "Logon Authentication Failed";
	ev.category = "authentication_logs";
	ev.info = "wrong password";
	ev.time = 1700000000000LL;
	CHECK_INT(store_audit_add(st, &ev, &e), 0);
	CHECK_INT(store_audit_add(st, &ev, &e), 0);
	ev.account_id = 0; /* no account: an unknown login name */
	ev.info = NULL;
	ev.user = NULL;
	CHECK_INT(store_audit_add(st, &ev, &e), 0);
	ev.account_id = 4242;
	CHECK_INT(store_audit_add(st, &ev, &e), MC_ERR_NOT_FOUND);
	ev.audit_type = NULL;
	CHECK_INT(store_audit_add(st, &ev, &e), MC_ERR_INVALID);
	CHECK_INT(raw_int("SELECT count(*) FROM audit_events"), before + 3);
	CHECK_INT(raw_int("SELECT count(*) FROM audit_events WHERE account_id IS NULL"), 1);
	CHECK_INT(raw_int("SELECT count(DISTINCT public_id) FROM audit_events"), before + 3);
	CHECK_INT(raw_int("SELECT count(*) FROM audit_events WHERE length(public_id) = 22 AND "
	                  "public_id NOT GLOB '*[^A-Za-z0-9_-]*'"),
	          before + 3);
	CHECK_INT(raw_int("SELECT event_time FROM audit_events ORDER BY id DESC LIMIT 1"),
	          1700000000000LL);
}

/* The tail of every eventInfo (docs/audit.md): its form, values that cannot add a field,
 * and the head cut rather than the tail when the whole does not fit. */
static void test_audit_info(void)
{
	struct audit_origin o = {"192.0.2.7", "Acme, Inc.\nSIEM", "Method: Cloud"};
	char out[256], big[400];

	/* 2023-11-14T22:13:20.000Z */
	store_audit_info(out, sizeof(out), "Successful authentication for a@b.example",
	                 1700000000000LL, &o);
	CHECK_STR(out, "Successful authentication for a@b.example, Date: 2023-11-14, Time: "
	               "22:13:20+0000, IP: 192.0.2.7, Application: Acme? Inc.?SIEM, Method: Cloud");
	o.detail = NULL;
	o.ip = NULL;
	o.application = "";
	store_audit_info(out, sizeof(out), "x", 0, &o);
	CHECK_STR(out,
	          "x, Date: 1970-01-01, Time: 00:00:00+0000, IP: unknown, Application: unknown");
	memset(big, 'w', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	o.ip = "127.0.0.1";
	o.application = AUDIT_ADMIN_APP;
	store_audit_info(out, sizeof(out), big, 0, &o);
	CHECK_INT(strlen(out), sizeof(out) - 1);
	CHECK(strstr(out, "www, Date: 1970-01-01, Time: 00:00:00+0000, IP: 127.0.0.1, "
	                  "Application: mcapid admin") != NULL);
	CHECK(out[strlen(out) - 1] == 'n'); /* "... admin": the tail is whole */
}

static void test_transactions(struct store *st)
{
	struct account a = new_account("Rolled Back"), got;
	struct user u;
	struct err e;

	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_tx_begin(st, &e), MC_ERR_INTERNAL);
	CHECK_INT(store_account_create(st, &a, &e), 0);
	CHECK_INT(store_account_get(st, a.id, &got, &e), 0); /* visible inside */
	store_tx_rollback(st);
	CHECK_INT(store_account_get(st, a.id, &got, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_account_get_by_code(st, a.code, &got, &e), MC_ERR_NOT_FOUND);
	store_tx_rollback(st); /* harmless without a transaction */
	CHECK_INT(store_tx_commit(st, &e), MC_ERR_INTERNAL);

	/* a clash inside a transaction fails that statement only */
	a = new_account("Committed");
	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_account_create(st, &a, &e), 0);
	u = new_user(a.id, "alice@example.com");
	CHECK_INT(store_user_create(st, &u, &e), MC_ERR_EXISTS);
	u = new_user(a.id, "dave@example.com");
	CHECK_INT(store_user_create(st, &u, &e), 0);
	CHECK_INT(store_tx_commit(st, &e), 0);
	CHECK_INT(store_account_get(st, a.id, &got, &e), 0);
	CHECK_INT(store_user_get_by_email(st, "dave@example.com", &u, &e), 0);
	CHECK_INT(store_ping(st), 0);
}

/* ---- concurrency ---- */

#define THREADS 4
#define WRITES  500

struct writer {
	struct store *st;
	int64_t account_id;
	int index;
	int failures;
	char last_error[ERR_MSG_MAX];
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct err e;

	for (int i = 0; i < WRITES; i++) {
		struct user u;
		struct audit_event ev = {0};
		char email[64];
		int rc;

		snprintf(email, sizeof(email), "t%d-%d@load.example", w->index, i);
		u = new_user(w->account_id, email);
		ev.account_id = w->account_id;
		ev.user = "load";
		ev.audit_type = "User Created";
		ev.category = "user_account_and_role_logs";
		ev.time = now_ms();
		rc = store_tx_begin(w->st, &e);
		if (!rc)
			rc = store_user_create(w->st, &u, &e);
		if (!rc)
			rc = store_audit_add(w->st, &ev, &e);
		if (!rc)
			rc = store_tx_commit(w->st, &e);
		else
			store_tx_rollback(w->st);
		if (rc) {
			w->failures++;
			snprintf(w->last_error, sizeof(w->last_error), "%s", e.msg);
		}
		/* a read on the hot path in between */
		if (store_user_get_by_email(w->st, email, &u, &e) != 0)
			w->failures++;
	}
	return NULL;
}

static void test_concurrency(struct store *st)
{
	struct account a = new_account("Load");
	struct writer w[THREADS];
	pthread_t t[THREADS];
	struct err e;
	int64_t count = 0;
	int64_t start;

	CHECK_INT(store_account_create(st, &a, &e), 0);
	start = mono_ms();
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].st = st;
		w[i].account_id = a.id;
		w[i].index = i;
		CHECK_INT(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(w[i].failures, 0);
		if (w[i].failures)
			printf("  thread %d: %s\n", i, w[i].last_error);
	}
	printf("# %d threads x %d write transactions: %lld ms\n", THREADS, WRITES,
	       (long long)(mono_ms() - start));
	CHECK_INT(store_account_user_count(st, a.id, &count, &e), 0);
	CHECK_INT(count, THREADS * WRITES);
}

/* ---- hot path cost ---- */

static void test_bench(struct store *st)
{
	struct binding b;
	struct application app;
	struct user u;
	struct err e;
	struct timespec t0, t1;
	const int n = 50000;
	int bad = 0;
	double us;

	CHECK_INT(store_binding_get(st, "AK-two", &b, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		bad += store_binding_get(st, "AK-two", &b, &e) != 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	printf("# store_binding_get: %.2f us/call\n", us);
	CHECK_INT(bad, 0);
	CHECK(us < 100.0);

	CHECK_INT(store_app_get(st, "my-app-id", &app, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		bad += store_app_get(st, "my-app-id", &app, &e) != 0;
		bad += store_user_get(st, b.user_id, &u, &e) != 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	printf("# store_app_get + store_user_get: %.2f us/pair\n", us);
	CHECK_INT(bad, 0);
}

/* ---- secrets at rest, wrong keys, swapped rows ---- */

static void test_secrets_at_rest(void)
{
	unsigned char secret[32];
	char wal[160];
	const char *app_key = "my-app-key";

	memset(secret, 0xA1, sizeof(secret));
	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	CHECK(file_contains(db_path, "alice@example.com", 17)); /* the check can see things */
	CHECK(!file_contains(db_path, secret, sizeof(secret)));
	CHECK(!file_contains(db_path, app_key, strlen(app_key)));
	CHECK(!file_contains(wal, secret, sizeof(secret)));
	CHECK(!file_contains(wal, app_key, strlen(app_key)));
}

static void test_wrong_key_and_swaps(void)
{
	unsigned char wrong[STORE_KEY_LEN];
	struct store *st;
	struct binding b;
	struct application app;
	struct err e;
	int rc = 0;

	memcpy(wrong, key, sizeof(wrong));
	wrong[0] ^= 1;
	st = open_store_with(wrong, &rc, &e);
	CHECK_INT(rc, MC_ERR_CRYPTO);
	CHECK(st == NULL);
	CHECK(strstr(e.msg, "server key") != NULL);

	/* a sealed secret moved to another row does not open there */
	CHECK_INT(raw_exec("UPDATE bindings SET secret = (SELECT secret FROM bindings WHERE "
	                   "access_key = 'AK-one') WHERE access_key = 'AK-two'"),
	          SQLITE_OK);
	CHECK_INT(raw_exec("UPDATE applications SET app_key = (SELECT app_key FROM applications "
	                   "WHERE app_id = 'my-app-id') WHERE app_id <> 'my-app-id'"),
	          SQLITE_OK);
	st = open_store();
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(store_binding_get(st, "AK-one", &b, &e), 0);
	CHECK_INT(store_binding_get(st, "AK-two", &b, &e), MC_ERR_CRYPTO);
	CHECK_INT(store_app_get(st, "my-app-id", &app, &e), 0);
	CHECK_INT(raw_int("SELECT count(*) FROM applications"), 2);
	{
		int n = 0;
		CHECK_INT(store_app_list(st, 0, record_app, &n, &e), MC_ERR_CRYPTO);
	}
	/* a truncated blob fails the same way */
	CHECK_INT(raw_exec("UPDATE bindings SET secret = x'01' WHERE access_key = 'AK-one'"),
	          SQLITE_OK);
	CHECK_INT(store_binding_get(st, "AK-one", &b, &e), MC_ERR_CRYPTO);
	store_close(st);
}

static void test_reopen_and_migrations(void)
{
	struct store *st = open_store();
	struct account got;
	struct stat sb;
	struct err e;
	int v;
	int rc;

	CHECK(st != NULL);
	if (!st)
		return;
	v = store_schema_version(st);
	CHECK(v >= 1);
	CHECK_INT(raw_int("PRAGMA user_version"), v);
	CHECK_INT(store_account_get_by_code(st, "CFIXED", &got, &e), 0);
	store_close(st);
	CHECK(stat(db_path, &sb) == 0 && (sb.st_mode & 077) == 0);

	/* migration 005 on an account made before it: undo it (and 006, the mail tables, and
	 * 007, the directory, 008, the policies, 009, the time zone, 010, the managed URLs, and
	 * 011, the look-up indexes) behind the store's back, then reopen; the row gets the
	 * documented defaults and keeps its code */
	CHECK_INT(v, 13);
	CHECK_INT(
	        raw_exec(
	                "DROP TABLE managed_urls; ALTER TABLE accounts DROP COLUMN timezone;"
	                "DROP INDEX users_account_name_key; ALTER TABLE users DROP COLUMN name_key;"
	                "DROP TABLE sender_policies; DROP TABLE group_members; DROP TABLE groups;"
	                "DROP INDEX users_account_domain; DROP INDEX users_account_email;"
	                "ALTER TABLE users DROP COLUMN domain;"
	                "DROP TABLE relay_ips; DROP TABLE mail_events; DROP TABLE recipients;"
	                "DROP TABLE messages; DROP TABLE message_bodies; DROP TABLE bodies;"
	                "ALTER TABLE domains DROP COLUMN mail_route;"
	                "UPDATE accounts SET max_retention = 7 WHERE code = 'CFIXED';"
	                "ALTER TABLE accounts DROP COLUMN passphrase;"
	                "ALTER TABLE accounts DROP COLUMN support_code;"
	                "ALTER TABLE accounts DROP COLUMN database_code;"
	                "ALTER TABLE accounts DROP COLUMN content_admin_view;"
	                "ALTER TABLE accounts DROP COLUMN contact_email;"
	                "ALTER TABLE accounts DROP COLUMN contact_name;"
	                "ALTER TABLE accounts DROP COLUMN telephone;"
	                "ALTER TABLE accounts DROP COLUMN admin_session_timeout;"
	                "ALTER TABLE accounts DROP COLUMN archive;"
	                "ALTER TABLE accounts DROP COLUMN max_retention_confirmed;"
	                "ALTER TABLE accounts DROP COLUMN min_retention_enabled;"
	                "ALTER TABLE accounts DROP COLUMN automated_segment_purge;"
	                "ALTER TABLE accounts DROP COLUMN policy_inheritance;"
	                "ALTER TABLE accounts DROP COLUMN search_reason;"
	                "ALTER TABLE accounts DROP COLUMN export_api;"
	                "ALTER TABLE accounts DROP COLUMN exgest_allow_query;"
	                "PRAGMA user_version = 4;"),
	        SQLITE_OK);
	st = open_store();
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(store_schema_version(st), 13);
	CHECK_INT(store_account_get_by_code(st, "CFIXED", &got, &e), 0);
	CHECK_STR(got.code, "CFIXED");
	CHECK_INT(got.max_retention, 7);
	CHECK_INT(strlen(got.support_code), 4);
	CHECK(strspn(got.support_code, "0123456789ABCDEF") == 4);
	CHECK_STR(got.database_code, "euterm1");
	CHECK_STR(got.content_view, "Metadata");
	CHECK_STR(got.timezone, "UTC");
	CHECK_STR(got.passphrase, "");
	CHECK_STR(got.contact_email, "");
	CHECK_INT(got.admin_session_timeout, 60);
	CHECK_INT(got.archive, 0);
	CHECK_INT(got.max_retention_confirmed, 1);
	CHECK_INT(got.min_retention_enabled, 0);
	CHECK_INT(got.automated_segment_purge, 1);
	CHECK_INT(got.policy_inheritance + got.search_reason + got.export_api +
	                  got.exgest_allow_query,
	          0);
	store_close(st);
	CHECK_INT(raw_int("PRAGMA journal_mode = WAL") >= 0, 1);

	/* a database from a newer mcapid is refused */
	{
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 50);
		CHECK_INT(raw_exec(sql), SQLITE_OK);
		st = open_store_with(key, &rc, &e);
		CHECK_INT(rc, MC_ERR_STORE);
		CHECK(strstr(e.msg, "newer") != NULL);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
		CHECK_INT(raw_exec(sql), SQLITE_OK);
	}
	st = open_store();
	CHECK(st != NULL);
	store_close(st);

	/* an existing store opens with must_exist */
	{
		struct store_config cfg = {0};
		cfg.path = db_path;
		cfg.key = key;
		cfg.must_exist = 1;
		st = NULL;
		CHECK_INT(store_open(&cfg, &st, &e), 0);
		CHECK(st != NULL && store_schema_version(st) == v);
		store_close(st);
	}
}

static int count_user(void *arg, const struct user *u)
{
	(void)u;
	(*(int *)arg)++;
	return 0;
}

/* Users whose name key is missing (written behind the store's back, as by a store older than
 * migration 011) are still found by name, and the next open computes their keys. */
static void test_name_keys(void)
{
	struct store *st = open_store();
	struct account a = new_account("Name keys");
	struct user u;
	struct err e;
	int n = 0;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(store_account_create(st, &a, &e), 0);
	u = new_user(a.id, "ceo@keys.example");
	snprintf(u.name, sizeof(u.name), "The  CEO");
	CHECK_INT(store_user_create(st, &u, &e), 0);
	CHECK_INT(raw_exec("UPDATE users SET name_key = NULL"), SQLITE_OK);
	CHECK(raw_int("SELECT count(*) FROM users WHERE name_key IS NULL") > 1);
	CHECK_INT(store_user_by_name(st, a.id, "the ceo", count_user, &n, &e), 0);
	CHECK_INT(n, 1);
	store_close(st);
	st = open_store();
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(raw_int("SELECT count(*) FROM users WHERE name_key IS NULL"), 0);
	CHECK_INT(raw_int("SELECT count(*) FROM users WHERE name_key = 'the ceo'"), 1);
	n = 0;
	CHECK_INT(store_user_by_name(st, a.id, "THE CEO", count_user, &n, &e), 0);
	CHECK_INT(n, 1);
	store_close(st);
}

/* A thread that uses the store and exits: its connection is closed then, not leaked. */
static void *short_thread(void *arg)
{
	struct account got;

	store_account_get_by_code(arg, "CFIXED", &got, NULL);
	return NULL;
}

static void test_thread_exit(struct store *st)
{
	for (int i = 0; i < 20; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_thread, st) == 0)
			pthread_join(t, NULL);
	}
	CHECK_INT(store_ping(st), 0);
}

/* The intake's writes leave checkpoints to other writers (sqlite.c, wal_hook): a 6 MiB body
 * takes the WAL past the 1,000-page threshold without the database file growing; the next
 * commit of anything else checkpoints. */
static void test_intake_checkpoints(struct store *st)
{
	const size_t size = 6u << 20;
	char path[200];
	char *data = malloc(size);
	struct stat sb;
	off_t before;
	int64_t body_id = 0;
	struct account a = new_account("Checkpoint");
	struct err e = {0};
	int fd;

	snprintf(path, sizeof(path), "%s/big.eml", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && data != NULL);
	if (fd < 0 || !data) {
		free(data);
		return;
	}
	for (size_t i = 0; i < size; i++)
		data[i] = (char)('a' + i % 26);
	CHECK(write(fd, data, size) == (ssize_t)size);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	free(data);
	CHECK_INT(raw_exec("PRAGMA wal_checkpoint(TRUNCATE)"), 0);
	CHECK(stat(db_path, &sb) == 0);
	before = sb.st_size;
	CHECK_INT(store_body_put(st, fd, (int64_t)size, &body_id, &e), 0);
	close(fd);
	unlink(path);
	CHECK(stat(db_path, &sb) == 0 && sb.st_size < before + (1 << 20));
	CHECK_INT(store_tx_begin(st, NULL), 0);
	CHECK_INT(store_account_create(st, &a, NULL), 0);
	CHECK_INT(store_tx_commit(st, NULL), 0);
	CHECK(stat(db_path, &sb) == 0 && sb.st_size >= before + (5 << 20));
}

/* A commit acknowledged before kill -9 is there after. */
static void test_kill9(void)
{
	int fds[2];
	pid_t pid;
	char code[32] = "";
	struct store *st;
	struct account got;
	struct err e;

	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		struct store *cst = open_store();
		struct account a = new_account("Survivor");
		close(fds[0]);
		if (cst && store_tx_begin(cst, NULL) == 0 &&
		    store_account_create(cst, &a, NULL) == 0 && store_tx_commit(cst, NULL) == 0) {
			if (write(fds[1], a.code, sizeof(a.code)) < 0)
				_exit(2);
		} else {
			_exit(1); /* the parent's read sees the end of the pipe: a failure, not a
			             hang */
		}
		for (;;)
			pause();
	}
	close(fds[1]);
	CHECK(read(fds[0], code, sizeof(code)) == (ssize_t)sizeof(code));
	close(fds[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(code[0] == 'C');
	st = open_store();
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(store_account_get_by_code(st, code, &got, &e), 0);
	CHECK_STR(got.name, "Survivor");
	store_close(st);
}

int main(void)
{
	struct store *st;
	char cmd[128];
	char wal[160];

	snprintf(dir, sizeof(dir), "/tmp/mcapi-store-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(db_path, sizeof(db_path), "%s/store.db", dir);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 7 + 3);

	test_open_errors();
	st = open_store();
	CHECK(st != NULL);
	if (!st)
		return tap_done();
	CHECK(store_schema_version(st) >= 1);
	CHECK_INT(store_ping(st), 0);
	test_accounts(st);
	test_account_fields(st);
	test_apps_users_bindings(st);
	test_audit(st);
	test_audit_info();
	test_transactions(st);
	test_thread_exit(st);
	test_concurrency(st);
	test_bench(st);
	test_intake_checkpoints(st);
	store_close(st);
	snprintf(wal, sizeof(wal), "%s-wal", db_path);
	{
		struct stat sb;
		CHECK(stat(wal, &sb) != 0 || sb.st_size == 0); /* checkpointed */
	}

	test_secrets_at_rest();
	test_name_keys();
	test_reopen_and_migrations();
	test_kill9();
	test_wrong_key_and_swaps();

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return tap_done();
}
