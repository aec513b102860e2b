/* PostgreSQL records of bindings and audit events: the twins of sqlite_binding.c and
 * sqlite_audit.c. Binding secrets are sealed with additional data STORE_AD_BINDING +
 * access_key. Audit events get a public id of 16 random bytes in base64url, unrelated to
 * the row number; their text is made well-formed UTF-8 first, since eventInfo is cut to a
 * byte count and PostgreSQL refuses a split character where SQLite stores it. */
#include "pg_int.h"

#include "keyfile.h"

#include "common/b64.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define BINDING_COLS                                                                               \
	"id, user_id, app_row_id, access_key, secret, created, expires, ttl_ms, "                  \
	"extend_on_validate, revoked"

static const char sql_binding_insert[] =
        "INSERT INTO bindings(user_id, app_row_id, access_key, secret, created, expires, ttl_ms, "
        "extend_on_validate, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
static const char sql_binding_by_key[] =
        "SELECT " BINDING_COLS " FROM bindings WHERE access_key = $1";
static const char sql_binding_expiry[] = "UPDATE bindings SET expires = $2 WHERE id = $1";
static const char sql_binding_revoke[] =
        "UPDATE bindings SET revoked = "
        "CASE WHEN revoked = 0 THEN $2::int8 ELSE revoked END WHERE id = $1";
static const char sql_binding_list[] = "SELECT " BINDING_COLS " FROM bindings "
                                       "WHERE user_id = $1 AND revoked = 0 ORDER BY created, id";
static const char sql_binding_count[] =
        "SELECT count(*) FROM bindings WHERE user_id = $1 AND revoked = 0";

static int binding_row(struct store *st, const PGresult *r, int i, struct binding *b, struct err *e)
{
	char ad[sizeof(STORE_AD_BINDING) + sizeof(b->access_key)];
	const void *blob;
	size_t n;

	b->id = pg_col_int(r, i, 0);
	b->user_id = pg_col_int(r, i, 1);
	b->app_row_id = pg_col_int(r, i, 2);
	pg_col_text(r, i, 3, b->access_key, sizeof(b->access_key));
	b->created = pg_col_int(r, i, 5);
	b->expires = pg_col_int(r, i, 6);
	b->ttl_ms = pg_col_int(r, i, 7);
	b->extend_on_validate = (int32_t)pg_col_int(r, i, 8);
	b->revoked = pg_col_int(r, i, 9);
	pg_ad(ad, sizeof(ad), STORE_AD_BINDING, b->access_key);
	blob = pg_col_bytes(r, i, 4, &n);
	if (unseal(st->key, ad, blob, n, b->secret, sizeof(b->secret), &b->secret_len))
		return err_set(e, MC_ERR_CRYPTO, "cannot unseal the secret of a binding");
	return 0;
}

int pg_binding_create(struct store *st, struct binding *b, struct err *e)
{
	char ad[sizeof(STORE_AD_BINDING) + sizeof(b->access_key)];
	struct pg_params p;
	struct buf sealed;
	PGresult *r = NULL;
	int rc;

	buf_init(&sealed, 256);
	pg_ad(ad, sizeof(ad), STORE_AD_BINDING, b->access_key);
	rc = seal(st->key, ad, b->secret, b->secret_len, &sealed);
	if (rc) {
		err_set(e, rc, "cannot seal the binding secret");
		goto out;
	}
	pg_p_init(&p);
	pg_p_int(&p, b->user_id);
	pg_p_int(&p, b->app_row_id);
	pg_p_text(&p, b->access_key, sizeof(b->access_key));
	pg_p_bytea(&p, sealed.data, sealed.len);
	pg_p_int(&p, b->created);
	pg_p_int(&p, b->expires);
	pg_p_int(&p, b->ttl_ms);
	pg_p_int(&p, b->extend_on_validate ? 1 : 0);
	pg_p_int(&p, b->revoked);
	rc = pg_run(st, sql_binding_insert, PG_WRITE, &p, &r, "create binding", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "access key exists already");
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no user %lld or application %lld", (long long)b->user_id,
		        (long long)b->app_row_id);
	if (!rc)
		b->id = pg_col_int(r, 0, 0);
out:
	PQclear(r);
	buf_release(&sealed);
	return rc;
}

int pg_binding_get(struct store *st, const char *access_key, struct binding *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_text(&p, access_key, sizeof(out->access_key));
	rc = pg_run(st, sql_binding_by_key, PG_READ, &p, &r, "get binding", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such access key");
	else if (!rc)
		rc = binding_row(st, r, 0, out, e);
	PQclear(r);
	return rc;
}

static int update_one(struct store *st, const char *sql, int64_t id, int64_t v, const char *what,
                      struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, id);
	pg_p_int(&p, v);
	rc = pg_run(st, sql, PG_WRITE, &p, &r, what, e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no binding with id %lld", (long long)id);
	PQclear(r);
	return rc;
}

int pg_binding_set_expiry(struct store *st, int64_t id, int64_t expires, struct err *e)
{
	return update_one(st, sql_binding_expiry, id, expires, "set binding expiry", e);
}

int pg_binding_revoke(struct store *st, int64_t id, int64_t now, struct err *e)
{
	return update_one(st, sql_binding_revoke, id, now, "revoke binding", e);
}

int pg_binding_list(struct store *st, int64_t user_id,
                    int (*fn)(void *arg, const struct binding *b), void *arg, struct err *e)
{
	struct pg_params p;
	struct binding b;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, user_id);
	rc = pg_run(st, sql_binding_list, PG_READ, &p, &r, "list bindings", e);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		rc = binding_row(st, r, i, &b, e);
		if (!rc)
			rc = fn(arg, &b);
	}
	PQclear(r);
	secure_zero(&b, sizeof(b));
	return rc;
}

int pg_binding_count(struct store *st, int64_t user_id, int64_t *count, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, user_id);
	rc = pg_run(st, sql_binding_count, PG_READ, &p, &r, "count bindings", e);
	if (!rc)
		*count = pg_col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

/* ---- audit events ---- */

#define AUDIT_ID_BYTES 16

static const char sql_audit_insert[] =
        "INSERT INTO audit_events(public_id, account_id, event_time, user_name, audit_type, "
        "category, info) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/* Copies s (NULL = "") into dst, cut to size and made well-formed UTF-8. */
static const char *clean_text(const char *s, char *dst, size_t size)
{
	size_t n = s ? strnlen(s, size - 1) : 0;

	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
	pg_utf8_fix(dst);
	return dst;
}

int pg_audit_add(struct store *st, const struct audit_event *ev, struct err *e)
{
	char id[B64_ENCODED_SIZE(AUDIT_ID_BYTES)];
	char user[512], type[256], category[128], info[2048];
	struct pg_params p;
	PGresult *r = NULL;
	int rc = 0;

	clean_text(ev->user, user, sizeof(user));
	clean_text(ev->audit_type, type, sizeof(type));
	clean_text(ev->category, category, sizeof(category));
	clean_text(ev->info, info, sizeof(info));
	/* a clash of 128 random bits does not happen; retry once anyway rather than fail */
	for (int attempt = 0; attempt < 2; attempt++) {
		random_token(RND_AUDIT_ID, AUDIT_ID_BYTES, id, sizeof(id));
		pg_p_init(&p);
		pg_p_text(&p, id, sizeof(id));
		if (ev->account_id)
			pg_p_int(&p, ev->account_id);
		else
			pg_p_null(&p);
		pg_p_int(&p, ev->time ? ev->time : now_ms());
		pg_p_text(&p, user, sizeof(user));
		pg_p_text(&p, type, sizeof(type));
		pg_p_text(&p, category, sizeof(category));
		pg_p_text(&p, info, sizeof(info));
		rc = pg_run(st, sql_audit_insert, PG_WRITE, &p, &r, "add audit event", e);
		PQclear(r);
		r = NULL;
		if (rc == MC_ERR_NOT_FOUND)
			err_set(e, rc, "no account with id %lld", (long long)ev->account_id);
		if (rc != MC_ERR_EXISTS)
			break;
	}
	return rc;
}
