/* SQLite records of accounts, applications and users (the tenants, their registered API
 * applications, and the people who sign in). Application keys are sealed at rest with
 * additional data STORE_AD_APP + app_id. store_app_get and store_user_get sit on the
 * request hot path: one cached statement each, one indexed row. */
#include "sqlite_int.h"

#include "keyfile.h"

#include "common/buf.h"
#include "common/err.h"

#include <string.h>

#include "common/banned.h"

/* ---- accounts ---- */

/* The mutable columns (what update writes), bound from ?first in this order; insert binds
 * code, region and mimecast_id as ?1 .. ?3 before them and created after them. */
#define ACCOUNT_MUT_COLS                                                                           \
	"name, admin_email, type, domain, packages, max_retention, passphrase, support_code, "     \
	"database_code, content_admin_view, contact_email, contact_name, telephone, "              \
	"admin_session_timeout, archive, max_retention_confirmed, min_retention_enabled, "         \
	"automated_segment_purge, policy_inheritance, search_reason, export_api, "                 \
	"exgest_allow_query, timezone"
#define ACCOUNT_MUT_N 23
#define ACCOUNT_COLS  "id, code, region, mimecast_id, " ACCOUNT_MUT_COLS ", created, user_count"

static const char sql_account_insert[] =
        "INSERT INTO accounts(code, region, mimecast_id, " ACCOUNT_MUT_COLS ", created) VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
        "?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)";
static const char sql_account_update[] =
        "UPDATE accounts SET (" ACCOUNT_MUT_COLS ") = (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
        "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24) WHERE id = ?1";
static const char sql_account_by_id[] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?1";
static const char sql_account_by_code[] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE code = ?1";
static const char sql_account_list[] = "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY id";
static const char sql_account_user_count[] = "SELECT count(*) FROM users WHERE account_id = ?1";

#define BIND_FIELD(q, i, rec, field) sqlite_bind_text((q), (i), (rec)->field, sizeof((rec)->field))
#define COL_FIELD(q, i, rec, field)  sqlite_col_text((q), (i), (rec)->field, sizeof((rec)->field))

static void account_row(struct sqlite_q *q, struct account *a)
{
	int i = 4; /* the first mutable column */

	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(q->s, 0);
	COL_FIELD(q, 1, a, code);
	COL_FIELD(q, 2, a, region);
	COL_FIELD(q, 3, a, mimecast_id);
	COL_FIELD(q, i++, a, name);
	COL_FIELD(q, i++, a, admin_email);
	COL_FIELD(q, i++, a, type);
	COL_FIELD(q, i++, a, domain);
	COL_FIELD(q, i++, a, packages);
	a->max_retention = sqlite3_column_int(q->s, i++);
	COL_FIELD(q, i++, a, passphrase);
	COL_FIELD(q, i++, a, support_code);
	COL_FIELD(q, i++, a, database_code);
	COL_FIELD(q, i++, a, content_view);
	COL_FIELD(q, i++, a, contact_email);
	COL_FIELD(q, i++, a, contact_name);
	COL_FIELD(q, i++, a, telephone);
	a->admin_session_timeout = sqlite3_column_int(q->s, i++);
	a->archive = sqlite3_column_int(q->s, i++) != 0;
	a->max_retention_confirmed = sqlite3_column_int(q->s, i++) != 0;
	a->min_retention_enabled = sqlite3_column_int(q->s, i++) != 0;
	a->automated_segment_purge = sqlite3_column_int(q->s, i++) != 0;
	a->policy_inheritance = sqlite3_column_int(q->s, i++) != 0;
	a->search_reason = sqlite3_column_int(q->s, i++) != 0;
	a->export_api = sqlite3_column_int(q->s, i++) != 0;
	a->exgest_allow_query = sqlite3_column_int(q->s, i++) != 0;
	COL_FIELD(q, i++, a, timezone);
	a->created = sqlite3_column_int64(q->s, i++);
	a->user_count = sqlite3_column_int64(q->s, i);
}

/* Binds the ACCOUNT_MUT_COLS of a as ?first .. ?first+22; non-zero on a bind error. */
static int account_bind_mutable(struct sqlite_q *q, int first, const struct account *a)
{
	int i = first;

	return BIND_FIELD(q, i++, a, name) || BIND_FIELD(q, i++, a, admin_email) ||
	       BIND_FIELD(q, i++, a, type) || BIND_FIELD(q, i++, a, domain) ||
	       BIND_FIELD(q, i++, a, packages) || sqlite3_bind_int(q->s, i++, a->max_retention) ||
	       BIND_FIELD(q, i++, a, passphrase) || BIND_FIELD(q, i++, a, support_code) ||
	       BIND_FIELD(q, i++, a, database_code) || BIND_FIELD(q, i++, a, content_view) ||
	       BIND_FIELD(q, i++, a, contact_email) || BIND_FIELD(q, i++, a, contact_name) ||
	       BIND_FIELD(q, i++, a, telephone) ||
	       sqlite3_bind_int(q->s, i++, a->admin_session_timeout) ||
	       sqlite3_bind_int(q->s, i++, a->archive != 0) ||
	       sqlite3_bind_int(q->s, i++, a->max_retention_confirmed != 0) ||
	       sqlite3_bind_int(q->s, i++, a->min_retention_enabled != 0) ||
	       sqlite3_bind_int(q->s, i++, a->automated_segment_purge != 0) ||
	       sqlite3_bind_int(q->s, i++, a->policy_inheritance != 0) ||
	       sqlite3_bind_int(q->s, i++, a->search_reason != 0) ||
	       sqlite3_bind_int(q->s, i++, a->export_api != 0) ||
	       sqlite3_bind_int(q->s, i++, a->exgest_allow_query != 0) ||
	       BIND_FIELD(q, i, a, timezone);
}

int sqlite_account_create(struct store *st, struct account *a, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_account_insert, &q, e);

	if (rc)
		goto out;
	if (BIND_FIELD(&q, 1, a, code) || BIND_FIELD(&q, 2, a, region) ||
	    BIND_FIELD(&q, 3, a, mimecast_id) || account_bind_mutable(&q, 4, a) ||
	    sqlite3_bind_int64(q.s, 4 + ACCOUNT_MUT_N, a->created)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "create account", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "create account", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "account code '%s' or mimecast id '%s' exists already", a->code,
		        a->mimecast_id);
	if (!rc)
		a->id = sqlite3_last_insert_rowid(q.db);
out:
	sqlite_q_done(&q);
	return rc;
}

static int account_get_one(struct store *st, const char *sql, int64_t id, const char *code,
                           struct account *out, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	if (code)
		rc = sqlite3_bind_text(q.s, 1, code, -1, SQLITE_STATIC);
	else
		rc = sqlite3_bind_int64(q.s, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		account_row(&q, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = code ? err_set(e, MC_ERR_NOT_FOUND, "no account '%s'", code)
		          : err_set(e, MC_ERR_NOT_FOUND, "no account with id %lld", (long long)id);
	} else {
		rc = sqlite_fail(q.db, rc, "get account", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_account_get(struct store *st, int64_t id, struct account *out, struct err *e)
{
	return account_get_one(st, sql_account_by_id, id, NULL, out, e);
}

int sqlite_account_get_by_code(struct store *st, const char *code, struct account *out,
                               struct err *e)
{
	return account_get_one(st, sql_account_by_code, 0, code, out, e);
}

int sqlite_account_list(struct store *st, int (*fn)(void *arg, const struct account *a), void *arg,
                        struct err *e)
{
	struct sqlite_q q;
	struct account a;
	int rc = sqlite_q_prepare(st, sql_account_list, &q, e);

	if (rc)
		goto out;
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		account_row(&q, &a);
		rc = fn(arg, &a);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list accounts", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int count_one(struct store *st, const char *sql, int64_t id, int64_t *count,
                     const char *what, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	rc = sqlite3_bind_int64(q.s, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(q.s, 0);
		rc = 0;
	} else {
		rc = sqlite_fail(q.db, rc, what, e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_account_user_count(struct store *st, int64_t account_id, int64_t *count, struct err *e)
{
	return count_one(st, sql_account_user_count, account_id, count, "count users", e);
}

int sqlite_account_update(struct store *st, const struct account *a, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_account_update, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, a->id) || account_bind_mutable(&q, 2, a)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "update account", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "update account", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no account with id %lld", (long long)a->id);
out:
	sqlite_q_done(&q);
	return rc;
}

/* ---- applications ---- */

#define APP_COLS "id, account_id, app_id, app_key, name, created, revoked"

static const char sql_app_insert[] = "INSERT INTO applications(account_id, app_id, app_key, name, "
                                     "created, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_app_by_app_id[] = "SELECT " APP_COLS " FROM applications WHERE app_id = ?1";
static const char sql_app_by_id[] = "SELECT " APP_COLS " FROM applications WHERE id = ?1";
static const char sql_app_list_all[] = "SELECT " APP_COLS " FROM applications ORDER BY id";
static const char sql_app_list_account[] =
        "SELECT " APP_COLS " FROM applications WHERE account_id = ?1 ORDER BY id";
static const char sql_app_revoke[] =
        "UPDATE applications SET revoked = "
        "CASE WHEN revoked = 0 THEN ?2 ELSE revoked END WHERE app_id = ?1";

static int app_row(struct store *st, struct sqlite_q *q, struct application *a, struct err *e)
{
	char ad[sizeof(STORE_AD_APP) + sizeof(a->app_id)];
	size_t key_len = 0;
	int rc;

	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(q->s, 0);
	a->account_id = sqlite3_column_int64(q->s, 1);
	COL_FIELD(q, 2, a, app_id);
	COL_FIELD(q, 4, a, name);
	a->created = sqlite3_column_int64(q->s, 5);
	a->revoked = sqlite3_column_int64(q->s, 6);
	sqlite_ad(ad, sizeof(ad), STORE_AD_APP, a->app_id);
	rc = unseal(st->key, ad, sqlite3_column_blob(q->s, 3),
	            (size_t)sqlite3_column_bytes(q->s, 3), (unsigned char *)a->app_key,
	            sizeof(a->app_key) - 1, &key_len);
	if (rc)
		return err_set(e, MC_ERR_CRYPTO, "cannot unseal the key of application '%s'",
		               a->app_id);
	a->app_key[key_len] = '\0';
	return 0;
}

int sqlite_app_create(struct store *st, struct application *app, struct err *e)
{
	char ad[sizeof(STORE_AD_APP) + sizeof(app->app_id)];
	struct buf sealed;
	struct sqlite_q q = {0};
	int rc;

	buf_init(&sealed, 1024);
	sqlite_ad(ad, sizeof(ad), STORE_AD_APP, app->app_id);
	rc = seal(st->key, ad, app->app_key, strnlen(app->app_key, sizeof(app->app_key)), &sealed);
	if (rc) {
		err_set(e, rc, "cannot seal the application key");
		goto out;
	}
	rc = sqlite_q_prepare(st, sql_app_insert, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, app->account_id) || BIND_FIELD(&q, 2, app, app_id) ||
	    sqlite3_bind_blob(q.s, 3, sealed.data, (int)sealed.len, SQLITE_STATIC) ||
	    BIND_FIELD(&q, 4, app, name) || sqlite3_bind_int64(q.s, 5, app->created) ||
	    sqlite3_bind_int64(q.s, 6, app->revoked)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "create application", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "create application", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "application '%s' exists already", app->app_id);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)app->account_id);
	if (!rc)
		app->id = sqlite3_last_insert_rowid(q.db);
out:
	sqlite_q_done(&q);
	buf_release(&sealed);
	return rc;
}

static int app_get_one(struct store *st, const char *sql, int64_t id, const char *app_id,
                       struct application *out, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	if (app_id)
		rc = sqlite3_bind_text(q.s, 1, app_id, -1, SQLITE_STATIC);
	else
		rc = sqlite3_bind_int64(q.s, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW)
		rc = app_row(st, &q, out, e);
	else if (rc == SQLITE_DONE)
		rc = app_id ? err_set(e, MC_ERR_NOT_FOUND, "no application '%s'", app_id)
		            : err_set(e, MC_ERR_NOT_FOUND, "no application with id %lld",
		                      (long long)id);
	else
		rc = sqlite_fail(q.db, rc, "get application", e);
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_app_get(struct store *st, const char *app_id, struct application *out, struct err *e)
{
	return app_get_one(st, sql_app_by_app_id, 0, app_id, out, e);
}

int sqlite_app_get_by_id(struct store *st, int64_t id, struct application *out, struct err *e)
{
	return app_get_one(st, sql_app_by_id, id, NULL, out, e);
}

int sqlite_app_list(struct store *st, int64_t account_id,
                    int (*fn)(void *arg, const struct application *a), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct application a;
	int rc = sqlite_q_prepare(st, account_id ? sql_app_list_account : sql_app_list_all, &q, e);

	if (rc)
		goto out;
	if (account_id && sqlite3_bind_int64(q.s, 1, account_id) != SQLITE_OK) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "list applications", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		rc = app_row(st, &q, &a, e);
		if (!rc)
			rc = fn(arg, &a);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list applications", e);
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_app_revoke(struct store *st, const char *app_id, int64_t now, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_app_revoke, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_text(q.s, 1, app_id, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(q.s, 2, now)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "revoke application", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "revoke application", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no application '%s'", app_id);
out:
	sqlite_q_done(&q);
	return rc;
}

/* ---- users ---- */

#define USER_COLS                                                                                  \
	"id, account_id, email, name, perms, password_hash, binding_ttl_ms, extend_on_validate, "  \
	"failed_logins, locked_until, created, disabled"

static const char sql_user_insert[] =
        "INSERT INTO users(account_id, email, name, perms, password_hash, binding_ttl_ms, "
        "extend_on_validate, failed_logins, locked_until, created, disabled, name_key) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char sql_user_by_id[] = "SELECT " USER_COLS " FROM users WHERE id = ?1";
static const char sql_user_by_email[] = "SELECT " USER_COLS " FROM users WHERE email = ?1";
static const char sql_user_list_all[] = "SELECT " USER_COLS " FROM users ORDER BY id";
static const char sql_user_list_account[] =
        "SELECT " USER_COLS " FROM users WHERE account_id = ?1 ORDER BY id";
static const char sql_user_update[] =
        "UPDATE users SET name = ?2, perms = ?3, password_hash = ?4, binding_ttl_ms = ?5, "
        "extend_on_validate = ?6, failed_logins = ?7, locked_until = ?8, disabled = ?9, "
        "name_key = ?10 WHERE id = ?1";
/* impersonation checks (011_policy_lookup.sql): two index look-ups, the second for the rows
 * whose key is not computed yet */
static const char sql_user_by_name_key[] =
        "SELECT " USER_COLS " FROM users WHERE account_id = ?1 AND name_key = ?2 "
        "UNION ALL SELECT " USER_COLS " FROM users WHERE account_id = ?1 AND name_key IS NULL";
static const char sql_user_keyless[] = "SELECT " USER_COLS " FROM users WHERE name_key IS NULL "
                                       "AND id > ?1 ORDER BY id LIMIT ?2";
static const char sql_user_key_set[] =
        "UPDATE users SET name_key = ?3 WHERE id = ?1 AND name = ?2 AND name_key IS NULL";

static void user_row(struct sqlite_q *q, struct user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(q->s, 0);
	u->account_id = sqlite3_column_int64(q->s, 1);
	COL_FIELD(q, 2, u, email);
	COL_FIELD(q, 3, u, name);
	u->perms = (uint32_t)sqlite3_column_int64(q->s, 4);
	COL_FIELD(q, 5, u, password_hash);
	u->binding_ttl_ms = sqlite3_column_int64(q->s, 6);
	u->extend_on_validate = sqlite3_column_int(q->s, 7);
	u->failed_logins = sqlite3_column_int(q->s, 8);
	u->locked_until = sqlite3_column_int64(q->s, 9);
	u->created = sqlite3_column_int64(q->s, 10);
	u->disabled = sqlite3_column_int64(q->s, 11);
}

/* Binds name .. locked_until as ?first .. ?first+6 (insert: 3, update: 2). */
static int user_bind_mutable(struct sqlite_q *q, int first, const struct user *u)
{
	return BIND_FIELD(q, first, u, name) || sqlite3_bind_int64(q->s, first + 1, u->perms) ||
	       BIND_FIELD(q, first + 2, u, password_hash) ||
	       sqlite3_bind_int64(q->s, first + 3, u->binding_ttl_ms) ||
	       sqlite3_bind_int(q->s, first + 4, u->extend_on_validate ? 1 : 0) ||
	       sqlite3_bind_int(q->s, first + 5, u->failed_logins) ||
	       sqlite3_bind_int64(q->s, first + 6, u->locked_until);
}

int sqlite_user_create(struct store *st, struct user *u, const char *name_key, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_user_insert, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, u->account_id) || BIND_FIELD(&q, 2, u, email) ||
	    user_bind_mutable(&q, 3, u) || sqlite3_bind_int64(q.s, 10, u->created) ||
	    sqlite3_bind_int64(q.s, 11, u->disabled) ||
	    sqlite3_bind_text(q.s, 12, name_key, -1, SQLITE_STATIC)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "create user", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "create user", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "user '%s' exists already", u->email);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)u->account_id);
	if (!rc)
		u->id = sqlite3_last_insert_rowid(q.db);
out:
	sqlite_q_done(&q);
	return rc;
}

static int user_get_one(struct store *st, const char *sql, int64_t id, const char *email,
                        struct user *out, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	if (email)
		rc = sqlite3_bind_text(q.s, 1, email, -1, SQLITE_STATIC);
	else
		rc = sqlite3_bind_int64(q.s, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		user_row(&q, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = email ? err_set(e, MC_ERR_NOT_FOUND, "no user '%s'", email)
		           : err_set(e, MC_ERR_NOT_FOUND, "no user with id %lld", (long long)id);
	} else {
		rc = sqlite_fail(q.db, rc, "get user", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_user_get(struct store *st, int64_t id, struct user *out, struct err *e)
{
	return user_get_one(st, sql_user_by_id, id, NULL, out, e);
}

int sqlite_user_get_by_email(struct store *st, const char *email, struct user *out, struct err *e)
{
	return user_get_one(st, sql_user_by_email, 0, email, out, e);
}

int sqlite_user_list(struct store *st, int64_t account_id,
                     int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct user u;
	int rc =
	        sqlite_q_prepare(st, account_id ? sql_user_list_account : sql_user_list_all, &q, e);

	if (rc)
		goto out;
	if (account_id && sqlite3_bind_int64(q.s, 1, account_id) != SQLITE_OK) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "list users", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		user_row(&q, &u);
		rc = fn(arg, &u);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list users", e);
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_user_update(struct store *st, const struct user *u, const char *name_key, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_user_update, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, u->id) || user_bind_mutable(&q, 2, u) ||
	    sqlite3_bind_int64(q.s, 9, u->disabled) ||
	    sqlite3_bind_text(q.s, 10, name_key, -1, SQLITE_STATIC)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "update user", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "update user", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no user with id %lld", (long long)u->id);
out:
	sqlite_q_done(&q);
	return rc;
}

/* Runs q (bound) and calls fn for each user row; a non-zero return of fn stops it. */
static int user_rows(struct sqlite_q *q, int (*fn)(void *arg, const struct user *u), void *arg,
                     const char *what, struct err *e)
{
	struct user u;
	int rc;

	while ((rc = sqlite3_step(q->s)) == SQLITE_ROW) {
		user_row(q, &u);
		if ((rc = fn(arg, &u)) != 0)
			return rc;
	}
	return rc == SQLITE_DONE ? 0 : sqlite_fail(q->db, rc, what, e);
}

int sqlite_user_by_name_key(struct store *st, int64_t account_id, const char *key,
                            int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_user_by_name_key, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) ||
	    sqlite3_bind_text(q.s, 2, key, -1, SQLITE_STATIC)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "find users by name", e);
		goto out;
	}
	rc = user_rows(&q, fn, arg, "find users by name", e);
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_user_keyless(struct store *st, int64_t after_id, size_t limit,
                        int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_user_keyless, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, after_id) ||
	    sqlite3_bind_int64(q.s, 2, limit > INT64_MAX ? INT64_MAX : (int64_t)limit)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "list users without a name key", e);
		goto out;
	}
	rc = user_rows(&q, fn, arg, "list users without a name key", e);
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_user_key_set(struct store *st, int64_t id, const char *name, const char *key,
                        struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_user_key_set, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, id) || sqlite3_bind_text(q.s, 2, name, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(q.s, 3, key, -1, SQLITE_STATIC)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "set a user's name key", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "set a user's name key", e);
out:
	sqlite_q_done(&q);
	return rc;
}
