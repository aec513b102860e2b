/* PostgreSQL records of accounts, applications and users: the twin of sqlite_account.c, with
 * the same statements in PostgreSQL's dialect. Application keys are sealed at rest with
 * additional data STORE_AD_APP + app_id. Inserts return the new id with RETURNING. */
#include "pg_int.h"

#include "keyfile.h"

#include "common/buf.h"
#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define P_FIELD(p, rec, field)       pg_p_text((p), (rec)->field, sizeof((rec)->field))
#define COL_FIELD(r, row, i, rec, f) pg_col_text((r), (row), (i), (rec)->f, sizeof((rec)->f))

/* ---- accounts ---- */

/* The mutable columns (what update writes), in the order account_p_mutable adds them;
 * insert sends code, region and mimecast_id before them and created after them. */
#define ACCOUNT_MUT_COLS                                                                           \
	"name, admin_email, type, domain, packages, max_retention, passphrase, support_code, "     \
	"database_code, content_admin_view, contact_email, contact_name, telephone, "              \
	"admin_session_timeout, archive, max_retention_confirmed, min_retention_enabled, "         \
	"automated_segment_purge, policy_inheritance, search_reason, export_api, "                 \
	"exgest_allow_query, timezone"
#define ACCOUNT_COLS "id, code, region, mimecast_id, " ACCOUNT_MUT_COLS ", created, user_count"

static const char sql_account_insert[] =
        "INSERT INTO accounts(code, region, mimecast_id, " ACCOUNT_MUT_COLS ", created) VALUES "
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, "
        "$20, $21, $22, $23, $24, $25, $26, $27) RETURNING id";
static const char sql_account_update[] =
        "UPDATE accounts SET (" ACCOUNT_MUT_COLS ") = ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
        "$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) WHERE id = $1";
static const char sql_account_by_id[] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = $1";
static const char sql_account_by_code[] = "SELECT " ACCOUNT_COLS " FROM accounts WHERE code = $1";
static const char sql_account_list[] = "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY id";
static const char sql_account_user_count[] = "SELECT count(*) FROM users WHERE account_id = $1";

static void account_row(const PGresult *r, int row, struct account *a)
{
	int i = 4; /* the first mutable column */

	memset(a, 0, sizeof(*a));
	a->id = pg_col_int(r, row, 0);
	COL_FIELD(r, row, 1, a, code);
	COL_FIELD(r, row, 2, a, region);
	COL_FIELD(r, row, 3, a, mimecast_id);
	COL_FIELD(r, row, i++, a, name);
	COL_FIELD(r, row, i++, a, admin_email);
	COL_FIELD(r, row, i++, a, type);
	COL_FIELD(r, row, i++, a, domain);
	COL_FIELD(r, row, i++, a, packages);
	a->max_retention = (int32_t)pg_col_int(r, row, i++);
	COL_FIELD(r, row, i++, a, passphrase);
	COL_FIELD(r, row, i++, a, support_code);
	COL_FIELD(r, row, i++, a, database_code);
	COL_FIELD(r, row, i++, a, content_view);
	COL_FIELD(r, row, i++, a, contact_email);
	COL_FIELD(r, row, i++, a, contact_name);
	COL_FIELD(r, row, i++, a, telephone);
	a->admin_session_timeout = (int32_t)pg_col_int(r, row, i++);
	a->archive = pg_col_int(r, row, i++) != 0;
	a->max_retention_confirmed = pg_col_int(r, row, i++) != 0;
	a->min_retention_enabled = pg_col_int(r, row, i++) != 0;
	a->automated_segment_purge = pg_col_int(r, row, i++) != 0;
	a->policy_inheritance = pg_col_int(r, row, i++) != 0;
	a->search_reason = pg_col_int(r, row, i++) != 0;
	a->export_api = pg_col_int(r, row, i++) != 0;
	a->exgest_allow_query = pg_col_int(r, row, i++) != 0;
	COL_FIELD(r, row, i++, a, timezone);
	a->created = pg_col_int(r, row, i++);
	a->user_count = pg_col_int(r, row, i);
}

/* Adds the ACCOUNT_MUT_COLS of a to p, in order. */
static void account_p_mutable(struct pg_params *p, const struct account *a)
{
	P_FIELD(p, a, name);
	P_FIELD(p, a, admin_email);
	P_FIELD(p, a, type);
	P_FIELD(p, a, domain);
	P_FIELD(p, a, packages);
	pg_p_int(p, a->max_retention);
	P_FIELD(p, a, passphrase);
	P_FIELD(p, a, support_code);
	P_FIELD(p, a, database_code);
	P_FIELD(p, a, content_view);
	P_FIELD(p, a, contact_email);
	P_FIELD(p, a, contact_name);
	P_FIELD(p, a, telephone);
	pg_p_int(p, a->admin_session_timeout);
	pg_p_int(p, a->archive != 0);
	pg_p_int(p, a->max_retention_confirmed != 0);
	pg_p_int(p, a->min_retention_enabled != 0);
	pg_p_int(p, a->automated_segment_purge != 0);
	pg_p_int(p, a->policy_inheritance != 0);
	pg_p_int(p, a->search_reason != 0);
	pg_p_int(p, a->export_api != 0);
	pg_p_int(p, a->exgest_allow_query != 0);
	P_FIELD(p, a, timezone);
}

int pg_account_create(struct store *st, struct account *a, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	P_FIELD(&p, a, code);
	P_FIELD(&p, a, region);
	P_FIELD(&p, a, mimecast_id);
	account_p_mutable(&p, a);
	pg_p_int(&p, a->created);
	rc = pg_run(st, sql_account_insert, PG_WRITE, &p, &r, "create account", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "account code '%s' or mimecast id '%s' exists already", a->code,
		        a->mimecast_id);
	if (!rc)
		a->id = pg_col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

int pg_account_update(struct store *st, const struct account *a, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, a->id);
	account_p_mutable(&p, a);
	rc = pg_run(st, sql_account_update, PG_WRITE, &p, &r, "update account", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no account with id %lld", (long long)a->id);
	PQclear(r);
	return rc;
}

static int account_get_one(struct store *st, const char *sql, int64_t id, const char *code,
                           struct account *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	if (code)
		pg_p_text(&p, code, sizeof(out->code));
	else
		pg_p_int(&p, id);
	rc = pg_run(st, sql, PG_READ, &p, &r, "get account", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = code ? err_set(e, MC_ERR_NOT_FOUND, "no account '%s'", code)
		          : err_set(e, MC_ERR_NOT_FOUND, "no account with id %lld", (long long)id);
	else if (!rc)
		account_row(r, 0, out);
	PQclear(r);
	return rc;
}

int pg_account_get(struct store *st, int64_t id, struct account *out, struct err *e)
{
	return account_get_one(st, sql_account_by_id, id, NULL, out, e);
}

int pg_account_get_by_code(struct store *st, const char *code, struct account *out, struct err *e)
{
	return account_get_one(st, sql_account_by_code, 0, code, out, e);
}

int pg_account_list(struct store *st, int (*fn)(void *arg, const struct account *a), void *arg,
                    struct err *e)
{
	PGresult *r = NULL;
	struct account a;
	int rc = pg_run(st, sql_account_list, PG_READ, NULL, &r, "list accounts", e);

	for (int i = 0; !rc && i < PQntuples(r); i++) {
		account_row(r, i, &a);
		rc = fn(arg, &a);
	}
	PQclear(r);
	return rc;
}

int pg_account_user_count(struct store *st, int64_t account_id, int64_t *count, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	rc = pg_run(st, sql_account_user_count, PG_READ, &p, &r, "count users", e);
	if (!rc)
		*count = pg_col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

/* ---- applications ---- */

#define APP_COLS "id, account_id, app_id, app_key, name, created, revoked"

static const char sql_app_insert[] = "INSERT INTO applications(account_id, app_id, app_key, name, "
                                     "created, revoked) VALUES ($1, $2, $3, $4, $5, $6) "
                                     "RETURNING id";
static const char sql_app_by_app_id[] = "SELECT " APP_COLS " FROM applications WHERE app_id = $1";
static const char sql_app_by_id[] = "SELECT " APP_COLS " FROM applications WHERE id = $1";
static const char sql_app_list_all[] = "SELECT " APP_COLS " FROM applications ORDER BY id";
static const char sql_app_list_account[] =
        "SELECT " APP_COLS " FROM applications WHERE account_id = $1 ORDER BY id";
static const char sql_app_revoke[] =
        "UPDATE applications SET revoked = "
        "CASE WHEN revoked = 0 THEN $2::int8 ELSE revoked END WHERE app_id = $1";

static int app_row(struct store *st, const PGresult *r, int i, struct application *a, struct err *e)
{
	char ad[sizeof(STORE_AD_APP) + sizeof(a->app_id)];
	size_t key_len = 0, n;
	const void *blob;
	int rc;

	memset(a, 0, sizeof(*a));
	a->id = pg_col_int(r, i, 0);
	a->account_id = pg_col_int(r, i, 1);
	COL_FIELD(r, i, 2, a, app_id);
	COL_FIELD(r, i, 4, a, name);
	a->created = pg_col_int(r, i, 5);
	a->revoked = pg_col_int(r, i, 6);
	pg_ad(ad, sizeof(ad), STORE_AD_APP, a->app_id);
	blob = pg_col_bytes(r, i, 3, &n);
	rc = unseal(st->key, ad, blob, n, (unsigned char *)a->app_key, sizeof(a->app_key) - 1,
	            &key_len);
	if (rc)
		return err_set(e, MC_ERR_CRYPTO, "cannot unseal the key of application '%s'",
		               a->app_id);
	a->app_key[key_len] = '\0';
	return 0;
}

int pg_app_create(struct store *st, struct application *app, struct err *e)
{
	char ad[sizeof(STORE_AD_APP) + sizeof(app->app_id)];
	struct pg_params p;
	struct buf sealed;
	PGresult *r = NULL;
	int rc;

	buf_init(&sealed, 1024);
	pg_ad(ad, sizeof(ad), STORE_AD_APP, app->app_id);
	rc = seal(st->key, ad, app->app_key, strnlen(app->app_key, sizeof(app->app_key)), &sealed);
	if (rc) {
		err_set(e, rc, "cannot seal the application key");
		goto out;
	}
	pg_p_init(&p);
	pg_p_int(&p, app->account_id);
	P_FIELD(&p, app, app_id);
	pg_p_bytea(&p, sealed.data, sealed.len);
	P_FIELD(&p, app, name);
	pg_p_int(&p, app->created);
	pg_p_int(&p, app->revoked);
	rc = pg_run(st, sql_app_insert, PG_WRITE, &p, &r, "create application", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "application '%s' exists already", app->app_id);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)app->account_id);
	if (!rc)
		app->id = pg_col_int(r, 0, 0);
out:
	PQclear(r);
	buf_release(&sealed);
	return rc;
}

static int app_get_one(struct store *st, const char *sql, int64_t id, const char *app_id,
                       struct application *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	if (app_id)
		pg_p_text(&p, app_id, sizeof(out->app_id));
	else
		pg_p_int(&p, id);
	rc = pg_run(st, sql, PG_READ, &p, &r, "get application", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = app_id ? err_set(e, MC_ERR_NOT_FOUND, "no application '%s'", app_id)
		            : err_set(e, MC_ERR_NOT_FOUND, "no application with id %lld",
		                      (long long)id);
	else if (!rc)
		rc = app_row(st, r, 0, out, e);
	PQclear(r);
	return rc;
}

int pg_app_get(struct store *st, const char *app_id, struct application *out, struct err *e)
{
	return app_get_one(st, sql_app_by_app_id, 0, app_id, out, e);
}

int pg_app_get_by_id(struct store *st, int64_t id, struct application *out, struct err *e)
{
	return app_get_one(st, sql_app_by_id, id, NULL, out, e);
}

int pg_app_list(struct store *st, int64_t account_id,
                int (*fn)(void *arg, const struct application *a), void *arg, struct err *e)
{
	struct pg_params p;
	struct application a;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	if (account_id)
		pg_p_int(&p, account_id);
	rc = pg_run(st, account_id ? sql_app_list_account : sql_app_list_all, PG_READ, &p, &r,
	            "list applications", e);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		rc = app_row(st, r, i, &a, e);
		if (!rc)
			rc = fn(arg, &a);
	}
	PQclear(r);
	return rc;
}

int pg_app_revoke(struct store *st, const char *app_id, int64_t now, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_text(&p, app_id, 64);
	pg_p_int(&p, now);
	rc = pg_run(st, sql_app_revoke, PG_WRITE, &p, &r, "revoke application", e);
	if (rc == MC_ERR_INVALID || (!rc && pg_changes(r) == 0))
		rc = err_set(e, MC_ERR_NOT_FOUND, "no application '%s'", app_id);
	PQclear(r);
	return rc;
}

/* ---- users ---- */

#define USER_COLS                                                                                  \
	"id, account_id, email, name, perms, password_hash, binding_ttl_ms, extend_on_validate, "  \
	"failed_logins, locked_until, created, disabled"

static const char sql_user_insert[] =
        "INSERT INTO users(account_id, email, name, perms, password_hash, binding_ttl_ms, "
        "extend_on_validate, failed_logins, locked_until, created, disabled, name_key) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
static const char sql_user_by_id[] = "SELECT " USER_COLS " FROM users WHERE id = $1";
static const char sql_user_by_email[] = "SELECT " USER_COLS " FROM users WHERE email = $1";
static const char sql_user_list_all[] = "SELECT " USER_COLS " FROM users ORDER BY id";
static const char sql_user_list_account[] =
        "SELECT " USER_COLS " FROM users WHERE account_id = $1 ORDER BY id";
static const char sql_user_update[] =
        "UPDATE users SET name = $2, perms = $3, password_hash = $4, binding_ttl_ms = $5, "
        "extend_on_validate = $6, failed_logins = $7, locked_until = $8, disabled = $9, "
        "name_key = $10 WHERE id = $1";
/* see sqlite_account.c */
static const char sql_user_by_name_key[] =
        "SELECT " USER_COLS " FROM users WHERE account_id = $1 AND name_key = $2 "
        "UNION ALL SELECT " USER_COLS " FROM users WHERE account_id = $1 AND name_key IS NULL";
static const char sql_user_keyless[] = "SELECT " USER_COLS " FROM users WHERE name_key IS NULL "
                                       "AND id > $1 ORDER BY id LIMIT $2";
static const char sql_user_key_set[] =
        "UPDATE users SET name_key = $3 WHERE id = $1 AND name = $2 AND name_key IS NULL";

static void user_row(const PGresult *r, int i, struct user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = pg_col_int(r, i, 0);
	u->account_id = pg_col_int(r, i, 1);
	COL_FIELD(r, i, 2, u, email);
	COL_FIELD(r, i, 3, u, name);
	u->perms = (uint32_t)pg_col_int(r, i, 4);
	COL_FIELD(r, i, 5, u, password_hash);
	u->binding_ttl_ms = pg_col_int(r, i, 6);
	u->extend_on_validate = (int32_t)pg_col_int(r, i, 7);
	u->failed_logins = (int32_t)pg_col_int(r, i, 8);
	u->locked_until = pg_col_int(r, i, 9);
	u->created = pg_col_int(r, i, 10);
	u->disabled = pg_col_int(r, i, 11);
}

/* Adds name .. locked_until (7 parameters). */
static void user_mutable(struct pg_params *p, const struct user *u)
{
	P_FIELD(p, u, name);
	pg_p_int(p, u->perms);
	P_FIELD(p, u, password_hash);
	pg_p_int(p, u->binding_ttl_ms);
	pg_p_int(p, u->extend_on_validate ? 1 : 0);
	pg_p_int(p, u->failed_logins);
	pg_p_int(p, u->locked_until);
}

int pg_user_create(struct store *st, struct user *u, const char *name_key, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, u->account_id);
	P_FIELD(&p, u, email);
	user_mutable(&p, u);
	pg_p_int(&p, u->created);
	pg_p_int(&p, u->disabled);
	pg_p_text(&p, name_key, strlen(name_key) + 1);
	rc = pg_run(st, sql_user_insert, PG_WRITE, &p, &r, "create user", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "user '%s' exists already", u->email);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)u->account_id);
	if (!rc)
		u->id = pg_col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

static int user_get_one(struct store *st, const char *sql, int64_t id, const char *email,
                        struct user *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	if (email)
		pg_p_text(&p, email, sizeof(out->email));
	else
		pg_p_int(&p, id);
	rc = pg_run(st, sql, PG_READ, &p, &r, "get user", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = email ? err_set(e, MC_ERR_NOT_FOUND, "no user '%s'", email)
		           : err_set(e, MC_ERR_NOT_FOUND, "no user with id %lld", (long long)id);
	else if (!rc)
		user_row(r, 0, out);
	PQclear(r);
	return rc;
}

int pg_user_get(struct store *st, int64_t id, struct user *out, struct err *e)
{
	return user_get_one(st, sql_user_by_id, id, NULL, out, e);
}

int pg_user_get_by_email(struct store *st, const char *email, struct user *out, struct err *e)
{
	return user_get_one(st, sql_user_by_email, 0, email, out, e);
}

int pg_user_list(struct store *st, int64_t account_id, int (*fn)(void *arg, const struct user *u),
                 void *arg, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	struct user u;
	int rc;

	pg_p_init(&p);
	if (account_id)
		pg_p_int(&p, account_id);
	rc = pg_run(st, account_id ? sql_user_list_account : sql_user_list_all, PG_READ, &p, &r,
	            "list users", e);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		user_row(r, i, &u);
		rc = fn(arg, &u);
	}
	PQclear(r);
	return rc;
}

int pg_user_update(struct store *st, const struct user *u, const char *name_key, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, u->id);
	user_mutable(&p, u);
	pg_p_int(&p, u->disabled);
	pg_p_text(&p, name_key, strlen(name_key) + 1);
	rc = pg_run(st, sql_user_update, PG_WRITE, &p, &r, "update user", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no user with id %lld", (long long)u->id);
	PQclear(r);
	return rc;
}

static int user_rows(struct store *st, const char *sql, struct pg_params *p,
                     int (*fn)(void *arg, const struct user *u), void *arg, const char *what,
                     struct err *e)
{
	PGresult *r = NULL;
	struct user u;
	int rc = pg_run(st, sql, PG_READ, p, &r, what, e);

	if (rc == MC_ERR_NOT_FOUND)
		rc = 0;
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		user_row(r, i, &u);
		rc = fn(arg, &u);
	}
	PQclear(r);
	return rc;
}

int pg_user_by_name_key(struct store *st, int64_t account_id, const char *key,
                        int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	struct pg_params p;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, key, strlen(key) + 1);
	return user_rows(st, sql_user_by_name_key, &p, fn, arg, "find users by name", e);
}

int pg_user_keyless(struct store *st, int64_t after_id, size_t limit,
                    int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	struct pg_params p;

	pg_p_init(&p);
	pg_p_int(&p, after_id);
	pg_p_int(&p, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	return user_rows(st, sql_user_keyless, &p, fn, arg, "list users without a name key", e);
}

int pg_user_key_set(struct store *st, int64_t id, const char *name, const char *key, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, id);
	pg_p_text(&p, name, strlen(name) + 1);
	pg_p_text(&p, key, strlen(key) + 1);
	rc = pg_run(st, sql_user_key_set, PG_WRITE, &p, &r, "set a user's name key", e);
	PQclear(r);
	return rc;
}
