/* SQLite records of bindings: a user's access key and secret key for one application.
 * The secret is sealed with additional data STORE_AD_BINDING + access_key, so a secret
 * copied into another binding's row does not open. store_binding_get is on the request
 * hot path: one cached statement, one unique-index lookup, one unseal. */
#include "sqlite_int.h"

#include "keyfile.h"

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define BINDING_COLS                                                                               \
	"id, user_id, app_row_id, access_key, secret, created, expires, ttl_ms, "                  \
	"extend_on_validate, revoked"

static const char sql_binding_insert[] =
        "INSERT INTO bindings(user_id, app_row_id, access_key, secret, created, expires, ttl_ms, "
        "extend_on_validate, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_binding_by_key[] =
        "SELECT " BINDING_COLS " FROM bindings WHERE access_key = ?1";
static const char sql_binding_expiry[] = "UPDATE bindings SET expires = ?2 WHERE id = ?1";
static const char sql_binding_revoke[] =
        "UPDATE bindings SET revoked = "
        "CASE WHEN revoked = 0 THEN ?2 ELSE revoked END WHERE id = ?1";
static const char sql_binding_list[] = "SELECT " BINDING_COLS " FROM bindings "
                                       "WHERE user_id = ?1 AND revoked = 0 ORDER BY created, id";
static const char sql_binding_count[] =
        "SELECT count(*) FROM bindings WHERE user_id = ?1 AND revoked = 0";

static int binding_row(struct store *st, struct sqlite_q *q, struct binding *b, struct err *e)
{
	char ad[sizeof(STORE_AD_BINDING) + sizeof(b->access_key)];
	int rc;

	b->id = sqlite3_column_int64(q->s, 0);
	b->user_id = sqlite3_column_int64(q->s, 1);
	b->app_row_id = sqlite3_column_int64(q->s, 2);
	sqlite_col_text(q, 3, b->access_key, sizeof(b->access_key));
	b->created = sqlite3_column_int64(q->s, 5);
	b->expires = sqlite3_column_int64(q->s, 6);
	b->ttl_ms = sqlite3_column_int64(q->s, 7);
	b->extend_on_validate = sqlite3_column_int(q->s, 8);
	b->revoked = sqlite3_column_int64(q->s, 9);
	sqlite_ad(ad, sizeof(ad), STORE_AD_BINDING, b->access_key);
	rc = unseal(st->key, ad, sqlite3_column_blob(q->s, 4),
	            (size_t)sqlite3_column_bytes(q->s, 4), b->secret, sizeof(b->secret),
	            &b->secret_len);
	if (rc)
		return err_set(e, MC_ERR_CRYPTO, "cannot unseal the secret of a binding");
	return 0;
}

int sqlite_binding_create(struct store *st, struct binding *b, struct err *e)
{
	char ad[sizeof(STORE_AD_BINDING) + sizeof(b->access_key)];
	struct buf sealed;
	struct sqlite_q q = {0};
	int rc;

	buf_init(&sealed, 256);
	sqlite_ad(ad, sizeof(ad), STORE_AD_BINDING, b->access_key);
	rc = seal(st->key, ad, b->secret, b->secret_len, &sealed);
	if (rc) {
		err_set(e, rc, "cannot seal the binding secret");
		goto out;
	}
	rc = sqlite_q_prepare(st, sql_binding_insert, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, b->user_id) || sqlite3_bind_int64(q.s, 2, b->app_row_id) ||
	    sqlite_bind_text(&q, 3, b->access_key, sizeof(b->access_key)) ||
	    sqlite3_bind_blob(q.s, 4, sealed.data, (int)sealed.len, SQLITE_STATIC) ||
	    sqlite3_bind_int64(q.s, 5, b->created) || sqlite3_bind_int64(q.s, 6, b->expires) ||
	    sqlite3_bind_int64(q.s, 7, b->ttl_ms) ||
	    sqlite3_bind_int(q.s, 8, b->extend_on_validate ? 1 : 0) ||
	    sqlite3_bind_int64(q.s, 9, b->revoked)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "create binding", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "create binding", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "access key exists already");
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no user %lld or application %lld", (long long)b->user_id,
		        (long long)b->app_row_id);
	if (!rc)
		b->id = sqlite3_last_insert_rowid(q.db);
out:
	sqlite_q_done(&q);
	buf_release(&sealed);
	return rc;
}

int sqlite_binding_get(struct store *st, const char *access_key, struct binding *out, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_binding_by_key, &q, e);

	if (rc)
		goto out;
	rc = sqlite3_bind_text(q.s, 1, access_key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW)
		rc = binding_row(st, &q, out, e);
	else if (rc == SQLITE_DONE)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such access key");
	else
		rc = sqlite_fail(q.db, rc, "get binding", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int update_one(struct store *st, const char *sql, int64_t id, int64_t v, const char *what,
                      struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, id) || sqlite3_bind_int64(q.s, 2, v)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), what, e);
		goto out;
	}
	rc = sqlite_q_exec(&q, what, e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no binding with id %lld", (long long)id);
out:
	sqlite_q_done(&q);
	return rc;
}

int sqlite_binding_set_expiry(struct store *st, int64_t id, int64_t expires, struct err *e)
{
	return update_one(st, sql_binding_expiry, id, expires, "set binding expiry", e);
}

int sqlite_binding_revoke(struct store *st, int64_t id, int64_t now, struct err *e)
{
	return update_one(st, sql_binding_revoke, id, now, "revoke binding", e);
}

int sqlite_binding_list(struct store *st, int64_t user_id,
                        int (*fn)(void *arg, const struct binding *b), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct binding b;
	int rc = sqlite_q_prepare(st, sql_binding_list, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, user_id) != SQLITE_OK) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "list bindings", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		rc = binding_row(st, &q, &b, e);
		if (!rc)
			rc = fn(arg, &b);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list bindings", e);
out:
	sqlite_q_done(&q);
	secure_zero(&b, sizeof(b));
	return rc;
}

int sqlite_binding_count(struct store *st, int64_t user_id, int64_t *count, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_binding_count, &q, e);

	if (rc)
		goto out;
	rc = sqlite3_bind_int64(q.s, 1, user_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(q.s, 0);
		rc = 0;
	} else {
		rc = sqlite_fail(q.db, rc, "count bindings", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}
