/* Unit tests for `mcapid admin ...` (admin_main with stdout and stderr captured through
 * dup2 to temporary files) on a temporary store: every command, usage errors and exit
 * codes, the key limit, audit rows written with each change and only then (never with a
 * whole access key), `account update` of every field, and the development bootstrap
 * (file mode, keys, usable credentials, idempotence). */
#include "common/b64.h"
#include "common/err.h"
#include "server/admin.h"
#include "server/auth/password.h"
#include "server/perm.h"
#include "server/store/store.h"
#include "tap.h"

#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char db_path[128];
static unsigned char key[STORE_KEY_LEN];
static struct admin_defaults defs = {"eu", 3 * 86400000LL, 3, NULL};
static char out[65536], errtext[8192];

static void slurp(const char *path, char *dst, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f) {
		n = fread(dst, 1, size - 1, f);
		fclose(f);
	}
	dst[n] = '\0';
}

/* Runs admin_main with the NULL-terminated arguments; output lands in out and errtext. */
static int run(struct store *st, ...)
{
	char *argv[32];
	char out_path[160], err_path[160];
	int argc = 0, saved_out, saved_err, fo, fe, rc;
	va_list ap;

	va_start(ap, st);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(out_path, sizeof(out_path), "%s/stdout", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = admin_main(st, &defs, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(fo);
	close(fe);
	slurp(out_path, out, sizeof(out));
	slurp(err_path, errtext, sizeof(errtext));
	return rc;
}

static json_t *out_json(void)
{
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);

	if (!j)
		printf("  not JSON (%s): %s\n", je.text, out);
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "(none)";
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static int64_t audit_count(const char *type)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM audit_events WHERE audit_type = '%s' AND "
	         "user_name = 'admin-cli'",
	         type);
	return raw_int(db_path, sql);
}

static struct store *open_at(const char *path)
{
	struct store_config cfg = {0};
	struct store *st = NULL;
	struct err e;

	cfg.path = path;
	cfg.key = key;
	if (store_open(&cfg, &st, &e) != 0)
		printf("store_open: %s\n", e.msg);
	return st;
}

static void test_usage(struct store *st)
{
	CHECK_INT(run(st, "help", NULL), 0);
	CHECK(strstr(out, "usage: mcapid admin") != NULL);
	CHECK_INT(run(st, NULL), 2);
	CHECK(strstr(errtext, "usage:") != NULL);
	CHECK_INT(run(st, "frobnicate", NULL), 2);
	CHECK(strstr(errtext, "mcapid: unknown command 'frobnicate'") != NULL);
	CHECK_INT(run(st, "account", NULL), 2);
	CHECK(strstr(errtext, "needs a subcommand") != NULL);
	CHECK_INT(run(st, "account", "delete", NULL), 2);
	CHECK(strstr(errtext, "unknown command 'account delete'") != NULL);
	CHECK_INT(run(st, "account", "create", NULL), 2);
	CHECK(strstr(errtext, "mcapid: missing required option '--name'") != NULL);
	CHECK_STR(out, "");
	CHECK_INT(run(st, "account", "create", "--name", NULL), 2);
	CHECK(strstr(errtext, "option '--name' needs a value") != NULL);
	CHECK_INT(run(st, "account", "create", "--name", "X", "--bogus", "1", NULL), 2);
	CHECK(strstr(errtext, "unknown option '--bogus'") != NULL);
	CHECK_INT(run(st, "account", "create", "--name", "X", "--email", "a@b.c", NULL), 2);
	CHECK_INT(run(st, "account", "create", "--name", "X", "--name", "Y", NULL), 2);
	CHECK(strstr(errtext, "given twice") != NULL);
	CHECK_INT(run(st, "account", "create", "--name", "X", "stray", NULL), 2);
	CHECK(strstr(errtext, "unexpected argument 'stray'") != NULL);
	CHECK_INT(run(st, "account", "create", "--name", "\xff\xfe", NULL), 2);
	CHECK_INT(run(st, "account", "create", "--help", NULL), 0);
	CHECK(strstr(out, "account create --name N") != NULL);
	CHECK_INT(run(st, "account", "list", NULL), 0);
	CHECK_STR(out, "[]\n");
	CHECK_INT(raw_int(db_path, "SELECT count(*) FROM accounts"), 0);
}

static void test_accounts_apps(struct store *st, char *code, char *app_id, char *code2,
                               char *app_id2)
{
	json_t *j;

	CHECK_INT(run(st, "account", "create", "--name", "Acme Ltd", NULL), 0);
	j = out_json();
	CHECK(j != NULL);
	CHECK(jstr(j, "account_code")[0] == 'C');
	CHECK_STR(jstr(j, "name"), "Acme Ltd");
	CHECK_STR(jstr(j, "region"), "eu");
	CHECK_STR(jstr(j, "type"), "full");
	CHECK(json_is_array(json_object_get(j, "packages")));
	CHECK_INT(strlen(jstr(j, "mimecast_id")), 13);
	CHECK(strncmp(jstr(j, "account_code"), "CEUA", 4) == 0);
	CHECK_STR(jstr(j, "database_code"), "euterm1");
	CHECK(json_is_true(json_object_get(j, "automated_segment_purge")));
	CHECK(json_is_false(json_object_get(j, "archive")));
	CHECK_INT(json_integer_value(json_object_get(j, "max_retention")), 30);
	CHECK_INT(json_integer_value(json_object_get(j, "admin_session_timeout")), 60);
	CHECK(json_array_size(json_object_get(j, "packages")) > 1);
	snprintf(code, 32, "%s", jstr(j, "account_code"));
	json_decref(j);

	CHECK_INT(run(st, "account", "create", "--name=Beta", "--region", "US", "--admin-email",
	              "Admin@Beta.Example", "--domain=Beta.Example", NULL),
	          0);
	j = out_json();
	CHECK_STR(jstr(j, "region"), "us");
	CHECK_STR(jstr(j, "admin_email"), "admin@beta.example");
	CHECK_STR(jstr(j, "domain"), "beta.example");
	CHECK(strncmp(jstr(j, "account_code"), "CUSA", 4) == 0);
	snprintf(code2, 32, "%s", jstr(j, "account_code"));
	json_decref(j);
	CHECK_INT(run(st, "account", "create", "--name", "X", "--admin-email", "nope", NULL), 2);

	CHECK_INT(run(st, "account", "list", NULL), 0);
	j = out_json();
	CHECK_INT(json_array_size(j), 2);
	CHECK_STR(jstr(json_array_get(j, 0), "name"), "Acme Ltd");
	json_decref(j);
	CHECK_INT(audit_count("Account Created"), 2);
	CHECK_INT(raw_int(db_path, "SELECT count(*) FROM audit_events WHERE category = "
	                           "'account_logs' AND account_id IS NOT NULL"),
	          2);

	CHECK_INT(run(st, "app", "create", "--account", code, "--name", "Sample", NULL), 0);
	j = out_json();
	CHECK_INT(strlen(jstr(j, "app_id")), 36);
	CHECK_INT(strlen(jstr(j, "app_key")), 36);
	CHECK_STR(jstr(j, "account_code"), code);
	CHECK(json_is_null(json_object_get(j, "revoked")));
	snprintf(app_id, 64, "%s", jstr(j, "app_id"));
	json_decref(j);
	CHECK_INT(run(st, "app", "create", "--account", code2, NULL), 0);
	j = out_json();
	snprintf(app_id2, 64, "%s", jstr(j, "app_id"));
	json_decref(j);
	CHECK_INT(run(st, "app", "create", "--account", "CNOPE0", NULL), 1);
	CHECK_STR(errtext, "mcapid: no account 'CNOPE0'\n");
	CHECK_INT(run(st, "app", "create", NULL), 2);
	CHECK(strstr(errtext, "'--account'") != NULL);

	CHECK_INT(run(st, "app", "list", NULL), 0);
	j = out_json();
	CHECK_INT(json_array_size(j), 2);
	CHECK(json_object_get(json_array_get(j, 0), "app_key") == NULL); /* shown once only */
	CHECK_STR(jstr(json_array_get(j, 1), "account_code"), code2);
	json_decref(j);
	CHECK_INT(run(st, "app", "list", "--account", code2, NULL), 0);
	j = out_json();
	CHECK_INT(json_array_size(j), 1);
	CHECK_STR(jstr(json_array_get(j, 0), "app_id"), app_id2);
	json_decref(j);
	CHECK_INT(run(st, "app", "list", "--account", "CNOPE0", NULL), 1);
	CHECK_INT(audit_count("Application Created"), 2);
}

static void test_users(struct store *st, const char *code, const char *code2)
{
	struct user u;
	struct err e;
	char pw_path[160];
	FILE *f;
	json_t *j;

	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "Alice@Acme.Example",
	              "--password", "pw-alice", "--perms", "admin", "--ttl", "72h",
	              "--extend-on-validate", "--name", "Alice", NULL),
	          0);
	j = out_json();
	CHECK_STR(jstr(j, "email"), "alice@acme.example");
	CHECK_STR(jstr(j, "account_code"), code);
	CHECK_STR(jstr(j, "binding_ttl"), "3d");
	CHECK(json_is_true(json_object_get(j, "extend_on_validate")));
	CHECK(json_is_true(json_object_get(j, "has_password")));
	CHECK_INT(json_array_size(json_object_get(j, "perms")), __builtin_popcount(PERM_ALL));
	CHECK(json_object_get(j, "password_hash") == NULL);
	CHECK(strstr(out, "argon2") == NULL);
	json_decref(j);
	CHECK_INT(store_user_get_by_email(st, "alice@acme.example", &u, &e), 0);
	CHECK_INT(u.perms, PERM_ALL);
	CHECK_INT(u.binding_ttl_ms, 72 * 3600000LL);
	CHECK_INT(password_verify(u.password_hash, "pw-alice", 8), 0);

	/* password from stdin, no perms, default ttl */
	snprintf(pw_path, sizeof(pw_path), "%s/pw", dir);
	f = fopen(pw_path, "w");
	if (f) {
		fputs("from stdin\r\n", f);
		fclose(f);
	}
	CHECK(freopen(pw_path, "r", stdin) != NULL);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "bob@acme.example",
	              "--password-stdin", NULL),
	          0);
	j = out_json();
	CHECK_STR(jstr(j, "binding_ttl"), "default");
	CHECK_INT(json_array_size(json_object_get(j, "perms")), 0);
	json_decref(j);
	CHECK_INT(store_user_get_by_email(st, "bob@acme.example", &u, &e), 0);
	CHECK_INT(password_verify(u.password_hash, "from stdin", 10), 0);

	CHECK_INT(run(st, "user", "create", "--account", code2, "--email", "carol@beta.example",
	              "--perms", "dir.internal.read, Account | Logs | Read", "--ttl", "never",
	              NULL),
	          0);
	j = out_json();
	CHECK_STR(jstr(j, "binding_ttl"), "never");
	CHECK(json_is_false(json_object_get(j, "has_password")));
	CHECK_INT(json_array_size(json_object_get(j, "perms")), 2);
	json_decref(j);

	CHECK_INT(
	        run(st, "user", "create", "--account", code, "--email", "ALICE@acme.example", NULL),
	        1);
	CHECK_STR(errtext, "mcapid: user 'alice@acme.example' exists already\n");
	CHECK_INT(run(st, "user", "create", "--account", "CNOPE0", "--email", "x@y.z", NULL), 1);
	CHECK_STR(errtext, "mcapid: no account 'CNOPE0'\n");
	CHECK_INT(run(st, "user", "create", "--account", code, NULL), 2);
	CHECK(strstr(errtext, "missing required option '--email'") != NULL);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "x@y.z", "--perms",
	              "bogus", NULL),
	          2);
	CHECK(strstr(errtext, "bogus") != NULL);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "x@y.z", "--ttl", "5x",
	              NULL),
	          2);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "x@y.z", "--ttl", "0",
	              NULL),
	          2);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "x@y.z", "--ttl",
	              "99999999999d", NULL),
	          2);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "x@y.z", "--password",
	              "a", "--password-stdin", NULL),
	          2);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "not-an-address", NULL),
	          2);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "x@y.z",
	              "--extend-on-validate=yes", NULL),
	          2);
	CHECK_INT(run(st, "user", "create", "--account", code, "--email", "x@y.z", "--password", "",
	              NULL),
	          2);

	CHECK_INT(run(st, "user", "list", NULL), 0);
	j = out_json();
	CHECK_INT(json_array_size(j), 3);
	json_decref(j);
	CHECK_INT(run(st, "user", "list", "--account", code, NULL), 0);
	j = out_json();
	CHECK_INT(json_array_size(j), 2);
	CHECK_STR(jstr(json_array_get(j, 1), "email"), "bob@acme.example");
	json_decref(j);
	CHECK_INT(audit_count("User Created"), 3); /* the failed attempts left none */
}

/* The audit rows of the database at path whose eventInfo contains text. */
static int64_t audit_rows_with(const char *path, const char *text)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_events WHERE instr(info, '%s') > 0",
	         text);
	return raw_int(path, sql);
}

/* No audit row holds the whole access key; some name it by its first 8 characters. */
static void test_key_hints(const char *path, const char *access_key)
{
	char hint[16];

	snprintf(hint, sizeof(hint), "%.8s...", access_key);
	CHECK_INT(audit_rows_with(path, access_key), 0);
	CHECK(audit_rows_with(path, hint) > 0);
}

static void test_keys(struct store *st, const char *app_id, const char *app_id2)
{
	unsigned char secret[64];
	size_t secret_len = 0;
	char first[96] = "", last[96] = "";
	struct binding b;
	struct err e;
	json_t *j;

	CHECK_INT(run(st, "keys", "create", "--email", "ALICE@acme.example", "--app-id", app_id,
	              NULL),
	          0);
	j = out_json();
	CHECK_INT(strlen(jstr(j, "access_key")), 43);
	CHECK_STR(jstr(j, "app_id"), app_id);
	CHECK_STR(jstr(j, "email"), "alice@acme.example");
	CHECK_STR(jstr(j, "ttl"), "3d");
	CHECK(json_is_string(json_object_get(j, "expires")));
	CHECK_INT(b64_decode(jstr(j, "secret_key"), strlen(jstr(j, "secret_key")), secret,
	                     sizeof(secret), &secret_len),
	          0);
	CHECK_INT(secret_len, 32);
	snprintf(first, sizeof(first), "%s", jstr(j, "access_key"));
	json_decref(j);
	CHECK_INT(store_binding_get(st, first, &b, &e), 0);
	CHECK(b.secret_len == 32 && memcmp(b.secret, secret, 32) == 0);
	CHECK_INT(b.extend_on_validate, 1);
	CHECK_INT(b.ttl_ms, 72 * 3600000LL);

	CHECK_INT(run(st, "keys", "create", "--email", "bob@acme.example", "--app-id", app_id,
	              "--ttl", "never", NULL),
	          0);
	j = out_json();
	CHECK(json_is_null(json_object_get(j, "expires")));
	CHECK_STR(jstr(j, "ttl"), "never");
	json_decref(j);
	CHECK_INT(run(st, "keys", "create", "--email", "bob@acme.example", "--app-id", app_id,
	              "--ttl", "default", NULL),
	          2);
	/* bob's profile says "server default", and the server default is never */
	defs.default_ttl_ms = STORE_TTL_NEVER;
	CHECK_INT(
	        run(st, "keys", "create", "--email", "bob@acme.example", "--app-id", app_id, NULL),
	        0);
	defs.default_ttl_ms = 3 * 86400000LL;
	j = out_json();
	CHECK(json_is_null(json_object_get(j, "expires")));
	CHECK_STR(jstr(j, "ttl"), "never");
	json_decref(j);

	/* the limit (3 in defs): the fourth key for alice revokes her oldest */
	for (int i = 0; i < 3; i++) {
		CHECK_INT(run(st, "keys", "create", "--email", "alice@acme.example", "--app-id",
		              app_id, "--ttl", "90m", NULL),
		          0);
		j = out_json();
		snprintf(last, sizeof(last), "%s", jstr(j, "access_key"));
		json_decref(j);
	}
	CHECK_INT(run(st, "keys", "list", "--email", "alice@acme.example", NULL), 0);
	j = out_json();
	CHECK_INT(json_array_size(j), 3);
	CHECK_STR(jstr(json_array_get(j, 2), "access_key"), last);
	CHECK_STR(jstr(json_array_get(j, 2), "ttl"), "90m");
	CHECK_STR(jstr(json_array_get(j, 2), "app_id"), app_id);
	CHECK(json_object_get(json_array_get(j, 0), "secret_key") == NULL);
	json_decref(j);
	CHECK_INT(store_binding_get(st, first, &b, &e), 0);
	CHECK(b.revoked != 0);
	CHECK_INT(raw_int(db_path, "SELECT count(*) FROM audit_events WHERE audit_type = "
	                           "'API Key Revoked' AND info LIKE '%limit of 3 keys%'"),
	          1);

	CHECK_INT(run(st, "keys", "create", "--email", "nobody@acme.example", "--app-id", app_id,
	              NULL),
	          1);
	CHECK_STR(errtext, "mcapid: no user 'nobody@acme.example'\n");
	CHECK_INT(run(st, "keys", "create", "--email", "alice@acme.example", "--app-id", "nope",
	              NULL),
	          1);
	CHECK_STR(errtext, "mcapid: no application 'nope'\n");
	CHECK_INT(run(st, "keys", "create", "--email", "alice@acme.example", "--app-id", app_id2,
	              NULL),
	          1);
	CHECK(strstr(errtext, "another account") != NULL);
	CHECK_INT(run(st, "keys", "create", "--email", "alice@acme.example", NULL), 2);
	CHECK(strstr(errtext, "'--app-id'") != NULL);
	CHECK_INT(run(st, "keys", "list", "--email", "nobody@acme.example", NULL), 1);

	CHECK_INT(run(st, "keys", "revoke", "--access-key", last, NULL), 0);
	j = out_json();
	CHECK_STR(jstr(j, "access_key"), last);
	CHECK(json_is_string(json_object_get(j, "revoked")));
	json_decref(j);
	CHECK_INT(run(st, "keys", "revoke", "--access-key", last, NULL), 0); /* idempotent */
	CHECK_INT(run(st, "keys", "revoke", "--access-key", "nope", NULL), 1);
	CHECK_STR(errtext, "mcapid: no key 'nope'\n");
	CHECK_INT(store_binding_get(st, last, &b, &e), 0);
	CHECK(b.revoked != 0);
	CHECK_INT(audit_count("API Key Created"), 6);
	CHECK_INT(audit_count("API Key Revoked"), 2); /* limit + explicit; not the repeat */

	/* a revoked application mints no keys */
	CHECK_INT(run(st, "app", "revoke", "--app-id", app_id, NULL), 0);
	j = out_json();
	CHECK(json_is_string(json_object_get(j, "revoked")));
	json_decref(j);
	CHECK_INT(run(st, "app", "revoke", "--app-id", app_id, NULL), 0);
	CHECK_INT(run(st, "app", "revoke", "--app-id", "nope", NULL), 1);
	CHECK_STR(errtext, "mcapid: no application 'nope'\n");
	CHECK_INT(audit_count("Application Revoked"), 1);
	CHECK_INT(run(st, "keys", "create", "--email", "alice@acme.example", "--app-id", app_id,
	              NULL),
	          1);
	CHECK(strstr(errtext, "is revoked") != NULL);
	CHECK_INT(raw_int(db_path, "SELECT count(*) FROM audit_events WHERE category = "
	                           "'integrations_and_apis'"),
	          2 + 1 + 6 + 2);
	/* audit rows name keys by their first 8 characters only (created, limit, revoke) */
	test_key_hints(db_path, first);
	test_key_hints(db_path, last);
}

static void test_account_update(struct store *st, const char *code)
{
	struct account a;
	struct err e;
	json_t *j;

	CHECK_INT(run(st, "help", NULL), 0);
	CHECK(strstr(out, "account update --code CODE") != NULL);
	CHECK(strstr(out, "--exgest-allow-query B") != NULL);
	CHECK_INT(run(st, "account", "update", "--name", "X", NULL), 2);
	CHECK(strstr(errtext, "missing required option '--code'") != NULL);
	CHECK_INT(run(st, "account", "update", "--code", code, NULL), 2);
	CHECK(strstr(errtext, "give at least one field") != NULL);
	CHECK_INT(run(st, "account", "update", "--code", "CNOPE0", "--telephone", "1", NULL), 1);
	CHECK_STR(errtext, "mcapid: no account 'CNOPE0'\n");
	CHECK_INT(run(st, "account", "update", "--code", code, "--region", "us", NULL), 2);
	CHECK(strstr(errtext, "unknown option '--region'") != NULL);
	/* malformed values: usage errors, nothing written */
	CHECK_INT(run(st, "account", "update", "--code", code, "--archive", "maybe", NULL), 2);
	CHECK(strstr(errtext, "'--archive': 'maybe' is not true or false") != NULL);
	CHECK_INT(run(st, "account", "update", "--code", code, "--max-retention", "0", NULL), 2);
	CHECK(strstr(errtext, "from 1 to 36500") != NULL);
	CHECK_INT(run(st, "account", "update", "--code", code, "--max-retention", "9x", NULL), 2);
	CHECK_INT(
	        run(st, "account", "update", "--code", code, "--admin-session-timeout", "-5", NULL),
	        2);
	CHECK_INT(run(st, "account", "update", "--code", code, "--name", "", NULL), 2);
	CHECK(strstr(errtext, "option '--name' is empty") != NULL);
	CHECK_INT(run(st, "account", "update", "--code", code, "--contact-email", "nope", NULL), 2);
	CHECK_INT(run(st, "account", "update", "--code", code, "--support-code", "31-C", NULL), 2);
	CHECK_INT(run(st, "account", "update", "--code", code, "--packages", "A,,B", NULL), 2);
	CHECK_INT(run(st, "account", "update", "--code", code, "--packages", "[1]", NULL), 2);
	CHECK_INT(run(st, "account", "update", "--code", code, "--packages", "[\"A\"", NULL), 2);
	CHECK_INT(audit_count("Account Updated"), 0);

	/* two calls: run() takes 31 arguments; the audit row of the second names its fields */
	CHECK_INT(run(st, "account", "update", "--code", code, "--type", "lite",
	              "--content-administrator-default-view", "Content", "--passphrase", "p w",
	              "--packages", " Awareness Training [1078] , Threat Remediation [1075]",
	              "--admin-email", "Boss@Acme.Example", "--domain", "Acme.Example",
	              "--admin-session-timeout", "15", "--database-code", "usterm9", NULL),
	          0);
	CHECK_INT(run(st, "account", "update", "--code", code, "--name", "Acme Renamed",
	              "--contact-email", "Sam@Acme.Example", "--contact-name", "Sam Andrus",
	              "--telephone", "801-369-2174", "--support-code", "311c", "--max-retention",
	              "90", "--archive", "true", "--min-retention-enabled=yes",
	              "--max-retention-confirmed", "false", "--automated-segment-purge", "off",
	              "--policy-inheritance", "1", "--search-reason", "TRUE", "--export-api", "on",
	              "--exgest-allow-query", "true", NULL),
	          0);
	j = out_json();
	CHECK_STR(jstr(j, "account_code"), code);
	CHECK_STR(jstr(j, "name"), "Acme Renamed");
	CHECK_STR(jstr(j, "contact_email"), "sam@acme.example");
	CHECK_STR(jstr(j, "support_code"), "311C");
	CHECK_STR(jstr(j, "admin_email"), "boss@acme.example");
	CHECK_STR(jstr(j, "domain"), "acme.example");
	CHECK(json_is_true(json_object_get(j, "archive")));
	CHECK(json_is_false(json_object_get(j, "max_retention_confirmed")));
	CHECK_INT(json_array_size(json_object_get(j, "packages")), 2);
	CHECK_STR(json_string_value(json_array_get(json_object_get(j, "packages"), 1)),
	          "Threat Remediation [1075]");
	json_decref(j);
	CHECK_INT(store_account_get_by_code(st, code, &a, &e), 0);
	CHECK_STR(a.name, "Acme Renamed");
	CHECK_STR(a.telephone, "801-369-2174");
	CHECK_STR(a.database_code, "usterm9");
	CHECK_STR(a.content_view, "Content");
	CHECK_STR(a.passphrase, "p w");
	CHECK_STR(a.type, "lite");
	CHECK_STR(a.packages, "[\"Awareness Training [1078]\",\"Threat Remediation [1075]\"]");
	CHECK_INT(a.max_retention, 90);
	CHECK_INT(a.admin_session_timeout, 15);
	CHECK_INT(a.archive + a.min_retention_enabled + a.policy_inheritance + a.search_reason +
	                  a.export_api + a.exgest_allow_query,
	          6);
	CHECK_INT(a.max_retention_confirmed + a.automated_segment_purge, 0);
	CHECK_INT(audit_count("Account Updated"), 2);
	CHECK_INT(raw_int(db_path, "SELECT count(*) FROM audit_events WHERE audit_type = "
	                           "'Account Updated' AND category = 'account_logs' AND info LIKE "
	                           "'account %(Acme Renamed) updated: accountName; "
	                           "contactEmail; contactName; telephone; supportCode; "
	                           "maxRetention; archive; maxRetentionConfirmed; "
	                           "minRetentionEnabled; automatedSegmentPurge; policyInheritance; "
	                           "searchReason; exportApi; exgestAllowQuery, Date: %'"),
	          1);

	/* the same values again: nothing changes, nothing is audited */
	CHECK_INT(run(st, "account", "update", "--code", code, "--telephone", "801-369-2174",
	              "--archive", "true", NULL),
	          0);
	CHECK_INT(audit_count("Account Updated"), 2);
	/* '' clears; a JSON array sets the packages as given */
	CHECK_INT(run(st, "account", "update", "--code", code, "--contact-email", "",
	              "--telephone=", "--packages", "[\"Mimecast Platform [1033]\"]", NULL),
	          0);
	CHECK_INT(store_account_get_by_code(st, code, &a, &e), 0);
	CHECK_STR(a.contact_email, "");
	CHECK_STR(a.telephone, "");
	CHECK_STR(a.packages, "[\"Mimecast Platform [1033]\"]");
	CHECK_INT(audit_count("Account Updated"), 3);
	/* create takes the same fields */
	CHECK_INT(run(st, "account", "create", "--name", "Gamma", "--telephone", "555", "--archive",
	              "true", "--max-retention", "45", NULL),
	          0);
	j = out_json();
	CHECK_STR(jstr(j, "telephone"), "555");
	CHECK(json_is_true(json_object_get(j, "archive")));
	CHECK_INT(json_integer_value(json_object_get(j, "max_retention")), 45);
	json_decref(j);
}

static int count_accounts(void *arg, const struct account *a)
{
	(void)a;
	(*(int *)arg)++;
	return 0;
}

static void test_bootstrap(struct store *populated)
{
	static const char *const keys[] = {"base_url",   "account_code", "app_id", "app_key",
	                                   "access_key", "secret_key",   "email",  "password"};
	char path2[160], cred[160], text[4096], again[4096];
	unsigned char secret[64];
	size_t secret_len = 0;
	struct application app;
	struct binding b;
	struct user u;
	struct stat sb;
	struct store *st;
	struct err e;
	char *json = NULL;
	int created = -1, n = 0;
	json_t *j;

	snprintf(cred, sizeof(cred), "%s/credentials.json", dir);
	/* a store with accounts: nothing happens */
	CHECK_INT(admin_bootstrap_dev(populated, &defs, "http://127.0.0.1:8080", cred, &created,
	                              &json, &e),
	          0);
	CHECK_INT(created, 0);
	CHECK(json == NULL);
	CHECK(access(cred, F_OK) != 0);

	snprintf(path2, sizeof(path2), "%s/dev.db", dir);
	st = open_at(path2);
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_INT(
	        admin_bootstrap_dev(st, &defs, "http://127.0.0.1:8080", cred, &created, &json, &e),
	        0);
	CHECK_INT(created, 1);
	CHECK(json != NULL);
	CHECK(stat(cred, &sb) == 0);
	CHECK_INT(sb.st_mode & 07777, 0600);
	slurp(cred, text, sizeof(text));
	CHECK_STR(text, json ? json : "");
	j = json_loads(text, 0, NULL);
	CHECK(j != NULL);
	CHECK_INT(json_object_size(j), 8);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK(json_is_string(json_object_get(j, keys[i])));
	CHECK_STR(jstr(j, "base_url"), "http://127.0.0.1:8080");
	CHECK_STR(jstr(j, "email"), "admin@dev.mcapi.local");
	CHECK_INT(strlen(jstr(j, "access_key")), 43);
	CHECK_INT(b64_decode(jstr(j, "secret_key"), strlen(jstr(j, "secret_key")), secret,
	                     sizeof(secret), &secret_len),
	          0);
	CHECK_INT(secret_len, 32);

	/* the credentials work against the store */
	CHECK_INT(store_user_get_by_email(st, "admin@dev.mcapi.local", &u, &e), 0);
	CHECK_INT(u.perms, PERM_ALL);
	CHECK_INT(
	        password_verify(u.password_hash, jstr(j, "password"), strlen(jstr(j, "password"))),
	        0);
	CHECK_INT(store_binding_get(st, jstr(j, "access_key"), &b, &e), 0);
	CHECK(b.secret_len == 32 && memcmp(b.secret, secret, 32) == 0);
	CHECK_INT(b.expires, 0);
	CHECK_INT(b.ttl_ms, STORE_TTL_NEVER);
	CHECK_INT(b.user_id, u.id);
	CHECK_INT(store_app_get(st, jstr(j, "app_id"), &app, &e), 0);
	CHECK_STR(app.app_key, jstr(j, "app_key"));
	CHECK_INT(b.app_row_id, app.id);
	CHECK_INT(raw_int(path2, "SELECT count(*) FROM audit_events WHERE user_name = "
	                         "'mcapid-bootstrap'"),
	          4);
	test_key_hints(path2, jstr(j, "access_key"));
	json_decref(j);
	free(json);
	json = NULL;

	/* second start: nothing changes */
	CHECK_INT(
	        admin_bootstrap_dev(st, &defs, "http://127.0.0.1:8080", cred, &created, &json, &e),
	        0);
	CHECK_INT(created, 0);
	CHECK(json == NULL);
	slurp(cred, again, sizeof(again));
	CHECK_STR(again, text);
	CHECK_INT(store_account_list(st, count_accounts, &n, &e), 0);
	CHECK_INT(n, 1);
	store_close(st);

	/* an unwritable destination leaves the store empty */
	snprintf(path2, sizeof(path2), "%s/dev2.db", dir);
	st = open_at(path2);
	CHECK(st != NULL);
	if (!st)
		return;
	snprintf(cred, sizeof(cred), "%s/missing-dir/credentials.json", dir);
	CHECK(admin_bootstrap_dev(st, &defs, "x", cred, &created, &json, &e) == MC_ERR_IO);
	CHECK_INT(created, 0);
	n = 0;
	CHECK_INT(store_account_list(st, count_accounts, &n, &e), 0);
	CHECK_INT(n, 0);
	store_close(st);
}

int main(void)
{
	char code[32], code2[32], app_id[64], app_id2[64], cmd[128];
	struct store *st;

	snprintf(dir, sizeof(dir), "/tmp/mcapi-admin-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(db_path, sizeof(db_path), "%s/store.db", dir);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(255 - i);
	st = open_at(db_path);
	CHECK(st != NULL);
	if (!st)
		return tap_done();
	test_usage(st);
	test_accounts_apps(st, code, app_id, code2, app_id2);
	test_users(st, code, code2);
	test_keys(st, app_id, app_id2);
	test_account_update(st, code);
	test_bootstrap(st);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return tap_done();
}
