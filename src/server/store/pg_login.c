/* PostgreSQL records of issue 4: the audit-event query behind get-audit-events and the
 * failed-login counters of unknown names; the twin of sqlite_login.c. The text filter is
 * ASCII case-insensitive as in SQLite: lower() of a COLLATE "C" column folds ASCII only. */
#include "pg_int.h"
#include "store_login_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

static const char sql_audit_page[] =
        "SELECT public_id, event_time, user_name, audit_type, category, info FROM audit_events "
        "WHERE account_id = $1 AND event_time >= $2 AND event_time <= $3 "
        "AND ($4::int8 IS NULL OR event_time < $4 OR public_id < $5::text) "
        "AND ($6::text IS NULL OR strpos(lower(user_name), $6) > 0 "
        "OR strpos(lower(audit_type), $6) > 0 OR strpos(lower(info), $6) > 0) "
        "AND ($7::text IS NULL OR category IN ($7, $8::text, $9::text, $10::text)) "
        "ORDER BY event_time DESC, public_id DESC LIMIT $11";

static const char sql_failure_get[] =
        "SELECT failures, locked_until, updated FROM login_failures WHERE name_key = $1";
static const char sql_failure_put[] =
        "INSERT INTO login_failures(name_key, failures, locked_until, updated) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (name_key) DO UPDATE SET "
        "failures = excluded.failures, locked_until = excluded.locked_until, "
        "updated = excluded.updated";
static const char sql_failure_del[] = "DELETE FROM login_failures WHERE name_key = $1";
static const char sql_failure_purge[] =
        "DELETE FROM login_failures WHERE updated < $1 AND locked_until < $1";

/* ASCII lower-case copy of s into dst (size bytes, truncated). */
static void lower_copy(const char *s, char *dst, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		dst[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	dst[i] = '\0';
}

static int audit_query(struct store *st, const struct audit_query *q,
                       int (*fn)(void *arg, const struct audit_record *r), void *arg, struct err *e)
{
	struct audit_record rec;
	struct pg_params p;
	PGresult *r = NULL;
	char text[512];
	int64_t end = q->end;
	int rc, i;

	if (q->has_cursor && q->cursor_time < end)
		end = q->cursor_time;
	pg_p_init(&p);
	pg_p_int(&p, q->account_id);
	pg_p_int(&p, q->start);
	pg_p_int(&p, end);
	if (q->has_cursor) {
		pg_p_int(&p, q->cursor_time);
		pg_p_text(&p, q->cursor_id ? q->cursor_id : "", AUDIT_ID_SIZE);
	} else {
		pg_p_null(&p);
		pg_p_null(&p);
	}
	if (q->text && *q->text) {
		lower_copy(q->text, text, sizeof(text));
		pg_p_text(&p, text, sizeof(text));
	} else {
		pg_p_null(&p);
	}
	for (i = 0; i < AUDIT_CATEGORIES_MAX; i++)
		if (q->categories[i])
			pg_p_text(&p, q->categories[i], AUDIT_CATEGORY_SIZE);
		else
			pg_p_null(&p);
	pg_p_int(&p, (int64_t)q->limit);
	rc = pg_run(st, sql_audit_page, PG_READ, &p, &r, "query audit events", e);
	if (rc == MC_ERR_NOT_FOUND)
		rc = 0; /* filter text that is not UTF-8 matches nothing stored */
	for (i = 0; !rc && r && i < PQntuples(r); i++) {
		pg_col_text(r, i, 0, rec.id, sizeof(rec.id));
		rec.time = pg_col_int(r, i, 1);
		pg_col_text(r, i, 2, rec.user, sizeof(rec.user));
		pg_col_text(r, i, 3, rec.audit_type, sizeof(rec.audit_type));
		pg_col_text(r, i, 4, rec.category, sizeof(rec.category));
		pg_col_text(r, i, 5, rec.info, sizeof(rec.info));
		rc = fn(arg, &rec);
	}
	PQclear(r);
	return rc;
}

static int failure_get(struct store *st, const char *key, struct login_failure *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_text(&p, key, LOGIN_KEY_SIZE);
	rc = pg_run(st, sql_failure_get, PG_READ, &p, &r, "read login counter", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0)) {
		memset(out, 0, sizeof(*out));
		rc = 0;
	} else if (!rc) {
		out->failures = (int32_t)pg_col_int(r, 0, 0);
		out->locked_until = pg_col_int(r, 0, 1);
		out->updated = pg_col_int(r, 0, 2);
	}
	PQclear(r);
	return rc;
}

static int failure_put(struct store *st, const char *key, const struct login_failure *f,
                       int64_t purge_before, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_text(&p, key, LOGIN_KEY_SIZE);
	if (f->failures > 0) {
		pg_p_int(&p, f->failures);
		pg_p_int(&p, f->locked_until);
		pg_p_int(&p, f->updated);
		rc = pg_run(st, sql_failure_put, PG_WRITE, &p, &r, "write login counter", e);
	} else {
		rc = pg_run(st, sql_failure_del, PG_WRITE, &p, &r, "write login counter", e);
	}
	PQclear(r);
	r = NULL;
	if (rc || purge_before <= 0)
		return rc;
	pg_p_init(&p);
	pg_p_int(&p, purge_before);
	rc = pg_run(st, sql_failure_purge, PG_WRITE, &p, &r, "purge login counters", e);
	PQclear(r);
	return rc;
}

const struct store_login_ops pg_login_ops = {
        .audit_query = audit_query,
        .failure_get = failure_get,
        .failure_put = failure_put,
};
