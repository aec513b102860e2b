/* SQLite reading of the TTP and DLP logs (store_ttp.h) from mail_events, on the index
 * (account_id, type, at, id) of schema/sqlite/012_ttp_logs.sql. The route and result
 * filters read the event's JSON with json_extract, inside the query, so LIMIT counts only
 * rows that match and a page holds exactly what it should (values compared ignoring ASCII
 * case: the writers say "Inbound", a filter may say "inbound"). Two statements, because the
 * direction of ORDER BY cannot be a parameter. */
#include "sqlite_int.h"
#include "store_ttp_int.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

#define SELECT                                                                                     \
	"SELECT e.id, e.at, e.data, COALESCE(r.id, 0), COALESCE(r.addr, ''), "                     \
	"COALESCE(m.client_ip, ''), COALESCE(m.from_name, ''), COALESCE(m.from_addr, '') "         \
	"FROM mail_events e LEFT JOIN messages m ON m.id = e.message_id "                          \
	"LEFT JOIN recipients r ON ?5 = 1 AND r.message_id = e.message_id "                        \
	"WHERE e.account_id = ?1 AND e.type = ?2 AND e.at >= ?3 AND e.at <= ?4 "                   \
	"AND (?6 IS NULL OR json_extract(e.data, '$.Route') = ?6 COLLATE NOCASE) "                 \
	"AND (?7 IS NULL OR json_extract(e.data, ?7) = ?8 COLLATE NOCASE) "

static const char sql_asc[] = SELECT "AND (?9 = 0 OR e.at > ?10 OR (e.at = ?10 AND (e.id > ?11 OR "
                                     "(e.id = ?11 AND COALESCE(r.id, 0) > ?12)))) "
                                     "ORDER BY e.at, e.id, COALESCE(r.id, 0) LIMIT ?13";
static const char sql_desc[] =
        SELECT "AND (?9 = 0 OR e.at < ?10 OR (e.at = ?10 AND (e.id < ?11 OR "
               "(e.id = ?11 AND COALESCE(r.id, 0) < ?12)))) "
               "ORDER BY e.at DESC, e.id DESC, COALESCE(r.id, 0) DESC LIMIT ?13";

static const char *col(struct sqlite_q *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q->s, i);
	return s ? (const char *)s : "";
}

static int ttp_log_query(struct store *st, const struct ttp_log_query *lq,
                         int (*fn)(void *arg, const struct ttp_log_row *r), void *arg,
                         struct err *e)
{
	struct sqlite_q q;
	struct ttp_log_row row;
	char path[TTP_KEY_MAX + 3] = "";
	int rc = sqlite_q_prepare(st, lq->oldest_first ? sql_asc : sql_desc, &q, e);

	if (rc)
		goto out;
	if (lq->result_key)
		snprintf(path, sizeof(path), "$.%s", lq->result_key);
	if (sqlite3_bind_int64(q.s, 1, lq->account_id) || sqlite_bind_text(&q, 2, lq->type, 32) ||
	    sqlite3_bind_int64(q.s, 3, lq->from) || sqlite3_bind_int64(q.s, 4, lq->to) ||
	    sqlite3_bind_int(q.s, 5, lq->per_recipient ? 1 : 0) ||
	    (lq->route ? sqlite_bind_text(&q, 6, lq->route, TTP_VALUE_MAX + 1)
	               : sqlite3_bind_null(q.s, 6)) ||
	    (lq->result_key ? sqlite_bind_text(&q, 7, path, sizeof(path))
	                    : sqlite3_bind_null(q.s, 7)) ||
	    (lq->result ? sqlite_bind_text(&q, 8, lq->result, TTP_VALUE_MAX + 1)
	                : sqlite3_bind_null(q.s, 8)) ||
	    sqlite3_bind_int(q.s, 9, lq->has_cursor ? 1 : 0) ||
	    sqlite3_bind_int64(q.s, 10, lq->cursor_at) ||
	    sqlite3_bind_int64(q.s, 11, lq->cursor_id) ||
	    sqlite3_bind_int64(q.s, 12, lq->cursor_rcpt) ||
	    sqlite3_bind_int64(q.s, 13, lq->limit > INT64_MAX ? INT64_MAX : (int64_t)lq->limit)) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "read the ttp logs", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		row.id = sqlite3_column_int64(q.s, 0);
		row.at = sqlite3_column_int64(q.s, 1);
		row.data = col(&q, 2);
		row.data_len = (size_t)sqlite3_column_bytes(q.s, 2);
		row.rcpt_id = sqlite3_column_int64(q.s, 3);
		row.rcpt = col(&q, 4);
		row.client_ip = col(&q, 5);
		row.from_name = col(&q, 6);
		row.from_addr = col(&q, 7);
		if ((rc = fn(arg, &row)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "read the ttp logs", e);
out:
	sqlite_q_done(&q);
	return rc;
}

const struct store_ttp_ops sqlite_ttp_ops = {
        .log_query = ttp_log_query,
};
