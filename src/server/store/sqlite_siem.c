/* SQLite reads of the SIEM logs (store_siem.h) on mail_events(account_id, type, id). One
 * writer at a time: every id up to the largest committed one is committed, so that is the
 * horizon. */
#include "sqlite_int.h"
#include "store_siem_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

static const char sql_horizon[] = "SELECT coalesce(max(id), 0) FROM mail_events";
static const char sql_next[] =
        "SELECT id FROM mail_events WHERE account_id = ?1 AND type = ?2 AND id > ?3 "
        "AND id <= ?4 AND at >= ?5 ORDER BY id LIMIT 1";
static const char sql_read[] =
        "SELECT id, at, coalesce(message_id, 0), data FROM mail_events WHERE account_id = ?1 "
        "AND type = ?2 AND id > ?3 AND id <= ?4 AND at >= ?5 ORDER BY id LIMIT ?6";

static int not_in_tx(struct store *st, struct err *e)
{
	if (sqlite_in_tx(st))
		return err_set(e, MC_ERR_INTERNAL, "SIEM reads run outside a store transaction");
	return 0;
}

static int siem_horizon(struct store *st, int64_t *hi, struct err *e)
{
	struct sqlite_q q;
	int rc = not_in_tx(st, e);

	if (rc)
		return rc;
	rc = sqlite_q_prepare(st, sql_horizon, &q, e);
	if (rc)
		goto out;
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		*hi = sqlite3_column_int64(q.s, 0);
		rc = 0;
	} else {
		rc = sqlite_fail(q.db, rc, "SIEM horizon", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

static int bind_range(struct sqlite_q *q, int64_t account_id, const char *type, int64_t pos,
                      int64_t hi, int64_t cutoff)
{
	return sqlite3_bind_int64(q->s, 1, account_id) ||
	       sqlite3_bind_text(q->s, 2, type, -1, SQLITE_STATIC) ||
	       sqlite3_bind_int64(q->s, 3, pos) || sqlite3_bind_int64(q->s, 4, hi) ||
	       sqlite3_bind_int64(q->s, 5, cutoff);
}

static int siem_next(struct store *st, int64_t account_id, const char *type, int64_t pos,
                     int64_t hi, int64_t cutoff, int64_t *next, struct err *e)
{
	struct sqlite_q q;
	int rc = not_in_tx(st, e);

	if (rc)
		return rc;
	rc = sqlite_q_prepare(st, sql_next, &q, e);
	if (rc)
		goto out;
	if (bind_range(&q, account_id, type, pos, hi, cutoff)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "SIEM next event", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		*next = sqlite3_column_int64(q.s, 0);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "SIEM next event", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

static int siem_read(struct store *st, int64_t account_id, const char *type, int64_t pos,
                     int64_t hi, int64_t cutoff, size_t max,
                     int (*fn)(void *arg, const struct siem_event *ev), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct siem_event ev;
	int rc = not_in_tx(st, e);

	if (rc)
		return rc;
	rc = sqlite_q_prepare(st, sql_read, &q, e);
	if (rc)
		goto out;
	if (bind_range(&q, account_id, type, pos, hi, cutoff) ||
	    sqlite3_bind_int64(q.s, 6, (int64_t)max)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "SIEM read", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		ev.id = sqlite3_column_int64(q.s, 0);
		ev.at = sqlite3_column_int64(q.s, 1);
		ev.message_id = sqlite3_column_int64(q.s, 2);
		ev.data = (const char *)sqlite3_column_text(q.s, 3);
		ev.len = (size_t)sqlite3_column_bytes(q.s, 3);
		if (!ev.data) {
			ev.data = "{}";
			ev.len = 2;
		}
		rc = fn(arg, &ev);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "SIEM read", e);
out:
	sqlite_q_done(&q);
	return rc;
}

const struct store_siem_ops sqlite_siem_ops = {
        .horizon = siem_horizon,
        .next = siem_next,
        .read = siem_read,
};
