/* PostgreSQL reading of the TTP and DLP logs (store_ttp.h): the twin of sqlite_ttp.c, on
 * the index (account_id, type, at, id) of schema/postgres/012_ttp_logs.sql. The route and
 * result filters read the event's json with ->> inside the query, so LIMIT counts only rows
 * that match. A page is at most a few hundred rows, read whole (pg_int.h). */
#include "pg_int.h"
#include "store_ttp_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define SELECT                                                                                     \
	"SELECT e.id, e.at, e.data::text, COALESCE(r.id, 0), COALESCE(r.addr, ''), "               \
	"COALESCE(m.client_ip, ''), COALESCE(m.from_name, ''), COALESCE(m.from_addr, '') "         \
	"FROM mail_events e LEFT JOIN messages m ON m.id = e.message_id "                          \
	"LEFT JOIN recipients r ON $5::int4 = 1 AND r.message_id = e.message_id "                  \
	"WHERE e.account_id = $1::int8 AND e.type = $2::text AND e.at >= $3::int8 "                \
	"AND e.at <= $4::int8 "                                                                    \
	"AND ($6::text IS NULL OR lower(e.data->>'Route') = lower($6::text)) "                     \
	"AND ($7::text IS NULL OR lower(e.data->>$7::text) = lower($8::text)) "

static const char sql_asc[] =
        SELECT "AND ($9::int4 = 0 OR e.at > $10::int8 OR (e.at = $10::int8 AND "
               "(e.id > $11::int8 OR (e.id = $11::int8 AND COALESCE(r.id, 0) > $12::int8)))) "
               "ORDER BY e.at, e.id, COALESCE(r.id, 0) LIMIT $13::int8";
static const char sql_desc[] =
        SELECT "AND ($9::int4 = 0 OR e.at < $10::int8 OR (e.at = $10::int8 AND "
               "(e.id < $11::int8 OR (e.id = $11::int8 AND COALESCE(r.id, 0) < $12::int8)))) "
               "ORDER BY e.at DESC, e.id DESC, COALESCE(r.id, 0) DESC LIMIT $13::int8";

static void text_or_null(struct pg_params *p, const char *s)
{
	if (s)
		pg_p_text(p, s, strlen(s));
	else
		pg_p_null(p);
}

static int ttp_log_query(struct store *st, const struct ttp_log_query *lq,
                         int (*fn)(void *arg, const struct ttp_log_row *r), void *arg,
                         struct err *e)
{
	struct pg_params p;
	struct ttp_log_row row;
	PGresult *r = NULL;
	size_t n;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, lq->account_id);
	pg_p_text(&p, lq->type, strlen(lq->type));
	pg_p_int(&p, lq->from);
	pg_p_int(&p, lq->to);
	pg_p_int(&p, lq->per_recipient ? 1 : 0);
	text_or_null(&p, lq->route);
	text_or_null(&p, lq->result_key);
	text_or_null(&p, lq->result);
	pg_p_int(&p, lq->has_cursor ? 1 : 0);
	pg_p_int(&p, lq->cursor_at);
	pg_p_int(&p, lq->cursor_id);
	pg_p_int(&p, lq->cursor_rcpt);
	pg_p_int(&p, lq->limit > INT64_MAX ? INT64_MAX : (int64_t)lq->limit);
	rc = pg_run(st, lq->oldest_first ? sql_asc : sql_desc, PG_READ, &p, &r, "read the ttp logs",
	            e);
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		memset(&row, 0, sizeof(row));
		row.id = pg_col_int(r, i, 0);
		row.at = pg_col_int(r, i, 1);
		row.data = pg_col_bytes(r, i, 2, &row.data_len); /* libpq ends values with a NUL */
		row.rcpt_id = pg_col_int(r, i, 3);
		row.rcpt = pg_col_bytes(r, i, 4, &n);
		row.client_ip = pg_col_bytes(r, i, 5, &n);
		row.from_name = pg_col_bytes(r, i, 6, &n);
		row.from_addr = pg_col_bytes(r, i, 7, &n);
		rc = fn(arg, &row);
	}
	PQclear(r);
	return rc;
}

const struct store_ttp_ops pg_ttp_ops = {
        .log_query = ttp_log_query,
};
