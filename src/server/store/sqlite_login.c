/* SQLite records of issue 4: the audit-event query behind get-audit-events and the
 * failed-login counters of unknown names (store_audit.h, store_login.h). The audit query
 * is one cached statement whose time range is narrowed to the cursor, so the index
 * audit_events_page (003) bounds the scan of every page. */
#include "sqlite_int.h"
#include "store_login_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

static const char sql_audit_page[] =
        "SELECT public_id, event_time, user_name, audit_type, category, info FROM audit_events "
        "WHERE account_id = ?1 AND event_time >= ?2 AND event_time <= ?3 "
        "AND (?4 IS NULL OR event_time < ?4 OR public_id < ?5) "
        "AND (?6 IS NULL OR instr(lower(user_name), ?6) > 0 OR instr(lower(audit_type), ?6) > 0 "
        "OR instr(lower(info), ?6) > 0) "
        "AND (?7 IS NULL OR category IN (?7, ?8, ?9, ?10)) "
        "ORDER BY event_time DESC, public_id DESC LIMIT ?11";

static const char sql_failure_get[] =
        "SELECT failures, locked_until, updated FROM login_failures WHERE name_key = ?1";
static const char sql_failure_put[] =
        "INSERT INTO login_failures(name_key, failures, locked_until, updated) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name_key) DO UPDATE SET "
        "failures = excluded.failures, locked_until = excluded.locked_until, "
        "updated = excluded.updated";
static const char sql_failure_del[] = "DELETE FROM login_failures WHERE name_key = ?1";
static const char sql_failure_purge[] =
        "DELETE FROM login_failures WHERE updated < ?1 AND locked_until < ?1";

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
	struct audit_record r;
	struct sqlite_q sq;
	char text[512];
	int64_t end = q->end;
	int rc, i, ok = SQLITE_OK;

	rc = sqlite_q_prepare(st, sql_audit_page, &sq, e);
	if (rc)
		goto out;
	if (q->has_cursor && q->cursor_time < end)
		end = q->cursor_time;
	ok |= sqlite3_bind_int64(sq.s, 1, q->account_id);
	ok |= sqlite3_bind_int64(sq.s, 2, q->start);
	ok |= sqlite3_bind_int64(sq.s, 3, end);
	if (q->has_cursor) {
		ok |= sqlite3_bind_int64(sq.s, 4, q->cursor_time);
		ok |= sqlite3_bind_text(sq.s, 5, q->cursor_id, -1, SQLITE_STATIC);
	}
	if (q->text && *q->text) {
		lower_copy(q->text, text, sizeof(text));
		ok |= sqlite3_bind_text(sq.s, 6, text, -1, SQLITE_STATIC);
	}
	for (i = 0; i < AUDIT_CATEGORIES_MAX && q->categories[i]; i++)
		ok |= sqlite3_bind_text(sq.s, 7 + i, q->categories[i], -1, SQLITE_STATIC);
	ok |= sqlite3_bind_int64(sq.s, 11, (int64_t)q->limit);
	if (ok != SQLITE_OK) {
		rc = sqlite_fail(sq.db, sqlite3_errcode(sq.db), "query audit events", e);
		goto out;
	}
	while ((rc = sqlite3_step(sq.s)) == SQLITE_ROW) {
		sqlite_col_text(&sq, 0, r.id, sizeof(r.id));
		r.time = sqlite3_column_int64(sq.s, 1);
		sqlite_col_text(&sq, 2, r.user, sizeof(r.user));
		sqlite_col_text(&sq, 3, r.audit_type, sizeof(r.audit_type));
		sqlite_col_text(&sq, 4, r.category, sizeof(r.category));
		sqlite_col_text(&sq, 5, r.info, sizeof(r.info));
		rc = fn(arg, &r);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(sq.db, rc, "query audit events", e);
out:
	sqlite_q_done(&sq);
	return rc;
}

static int failure_get(struct store *st, const char *key, struct login_failure *out, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_failure_get, &q, e);

	if (rc)
		goto out;
	rc = sqlite3_bind_text(q.s, 1, key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		out->failures = sqlite3_column_int(q.s, 0);
		out->locked_until = sqlite3_column_int64(q.s, 1);
		out->updated = sqlite3_column_int64(q.s, 2);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		memset(out, 0, sizeof(*out));
		rc = 0;
	} else {
		rc = sqlite_fail(q.db, rc, "read login counter", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

static int failure_put(struct store *st, const char *key, const struct login_failure *f,
                       int64_t purge_before, struct err *e)
{
	struct sqlite_q q;
	int rc;

	if (f->failures > 0) {
		rc = sqlite_q_prepare(st, sql_failure_put, &q, e);
		if (!rc && (sqlite3_bind_text(q.s, 1, key, -1, SQLITE_STATIC) ||
		            sqlite3_bind_int(q.s, 2, f->failures) ||
		            sqlite3_bind_int64(q.s, 3, f->locked_until) ||
		            sqlite3_bind_int64(q.s, 4, f->updated)))
			rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "write login counter", e);
	} else {
		rc = sqlite_q_prepare(st, sql_failure_del, &q, e);
		if (!rc && sqlite3_bind_text(q.s, 1, key, -1, SQLITE_STATIC))
			rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "write login counter", e);
	}
	if (!rc)
		rc = sqlite_q_exec(&q, "write login counter", e);
	sqlite_q_done(&q);
	if (rc || purge_before <= 0)
		return rc;
	rc = sqlite_q_prepare(st, sql_failure_purge, &q, e);
	if (!rc && sqlite3_bind_int64(q.s, 1, purge_before))
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "purge login counters", e);
	if (!rc)
		rc = sqlite_q_exec(&q, "purge login counters", e);
	sqlite_q_done(&q);
	return rc;
}

const struct store_login_ops sqlite_login_ops = {
        .audit_query = audit_query,
        .failure_get = failure_get,
        .failure_put = failure_put,
};
