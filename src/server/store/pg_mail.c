/* PostgreSQL records of the gateway's mail (schema/postgres/006_mail.sql): the twin of
 * sqlite_mail.c. Every write holds the store's write lock (pg.c), shared by all nodes, so a
 * lease, a hold action or a delivery outcome is decided by one writer at a time across the
 * cluster; the UPDATE ... WHERE <still free> RETURNING forms would stay correct without it
 * (the leases also skip rows locked by another transaction).
 *
 * Accepts: a batch is one transaction with synchronous_commit on; each message is one
 * statement (a data-modifying WITH that claims the body and inserts the message, its
 * recipients and events, the lists passed as JSON arrays), so a batch costs a few round
 * trips per message and one WAL flush. pg_run guards each statement with a savepoint: a
 * message that fails is undone alone. Text that is not UTF-8 (a raw 8-bit subject) is
 * stored with '?' for the bad bytes rather than refused: a 451 would only bring it back. */
#include "pg_int.h"
#include "store_mail_int.h"

#include "common/err.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define MSG_COLS                                                                                   \
	"m.id, m.account_id, m.received, m.body_id, m.acode, m.msg_id, m.env_from, m.from_addr, "  \
	"m.from_name, m.subject, m.size, m.client_ip, m.helo, m.tls_version, m.tls_cipher, "       \
	"m.route, m.status, m.hold_reason, m.hold_reason_id, m.held, m.spam_score, m.processed, "  \
	"m.has_attachments, m.nrcpt, m.attachments, m.urls"
#define RCPT_COLS(r)                                                                               \
	r ".id, " r ".message_id, " r ".addr, " r ".domain_id, " r ".state, " r ".attempts, " r    \
	  ".next_attempt, " r ".lease_until, " r ".done, " r ".last_reply"
#define NONFINAL "(" RS_PENDING ", " RS_INFLIGHT ", " RS_DEFERRED ", " RS_HELD ")"

/* ---- statements ---- */

static const char sql_accept[] =
        "WITH b AS (UPDATE bodies SET claimed = 1 WHERE $3::int8 <> 0 AND id = $3::int8 "
        "AND claimed = 0 RETURNING id), "
        "m AS (INSERT INTO messages(account_id, received, body_id, acode, msg_id, env_from, "
        "from_addr, from_name, subject, size, client_ip, helo, tls_version, tls_cipher, route, "
        "status, hold_reason, hold_reason_id, held, spam_score, processed, has_attachments, "
        "nrcpt, attachments, urls) SELECT $1::int8, $2::int8, $3::int8, $4::text, $5::text, "
        "$6::text, $7::text, $8::text, $9::text, $10::int8, $11::text, $12::text, $13::text, "
        "$14::text, $15::int4, $16::int4, $17::text, $18::text, $19::int8, $20::int4, 0, "
        "$21::int4, $22::int4, $23::text, $24::text "
        "WHERE $3::int8 = 0 OR EXISTS (SELECT 1 FROM b) RETURNING id), "
        "r AS (INSERT INTO recipients(message_id, addr, domain_id, state, next_attempt, done) "
        "SELECT m.id, x.addr, x.domain_id, $25::int4, $2::int8, $26::int8 FROM m, "
        "json_to_recordset($27::json) AS x(addr text, domain_id int8)), "
        "ev AS (INSERT INTO mail_events(account_id, message_id, type, at, data) "
        "SELECT $1::int8, m.id, x.type, $2::int8, x.data::json FROM " PG_EVENT_WRITE_LOCK ", m, "
        "ROWS FROM (json_to_recordset($28::json) AS (type text, data text)) WITH ORDINALITY "
        "AS x(type, data, ord) ORDER BY x.ord) "
        "SELECT id FROM m";
static const char sql_events[] =
        "INSERT INTO mail_events(account_id, message_id, type, at, data) "
        "SELECT m.account_id, m.id, x.type, $2::int8, x.data::json FROM " PG_EVENT_WRITE_LOCK
        ", messages m, "
        "ROWS FROM (json_to_recordset($3::json) AS (type text, data text)) WITH ORDINALITY "
        "AS x(type, data, ord) WHERE m.id = $1::int8 ORDER BY x.ord";

static const char sql_body_new[] =
        "INSERT INTO bodies(size, created) VALUES ($1::int8, $2::int8) RETURNING id";
static const char sql_body_chunk[] =
        "INSERT INTO message_bodies(body_id, seq, data) VALUES ($1::int8, $2::int4, $3::bytea)";
static const char sql_body_get[] =
        "SELECT b.size, c.data FROM bodies b LEFT JOIN message_bodies c ON c.body_id = b.id "
        "WHERE b.id = $1::int8 ORDER BY c.seq";
static const char sql_body_drop_chunks[] =
        "DELETE FROM message_bodies WHERE body_id = $1::int8 "
        "AND EXISTS (SELECT 1 FROM bodies WHERE id = $1::int8 AND claimed = 0)";
static const char sql_body_drop[] = "DELETE FROM bodies WHERE id = $1::int8 AND claimed = 0";

static const char sql_lease_msg[] =
        "UPDATE messages m SET lease_until = $2::int8 WHERE m.id = (SELECT id FROM messages "
        "WHERE processed = 0 AND status = " MS_RECEIVED " AND lease_until <= $1::int8 "
        "ORDER BY received, id LIMIT 1 FOR UPDATE SKIP LOCKED) AND m.processed = 0 "
        "AND m.lease_until <= $1::int8 RETURNING " MSG_COLS;
static const char sql_any_unprocessed[] =
        "SELECT 1 FROM messages WHERE processed = 0 AND status = " MS_RECEIVED
        " AND lease_until <= $1::int8 LIMIT 1";
static const char sql_processed[] =
        "UPDATE messages SET status = $2::int4, hold_reason = $3::text, hold_reason_id = $4::text, "
        "held = $5::int8, spam_score = $6::int4, has_attachments = $7::int4, "
        "attachments = $8::text, urls = $9::text, processed = 1, lease_until = 0 "
        "WHERE id = $1::int8 AND processed = 0 AND status = " MS_RECEIVED " RETURNING id";
static const char sql_rcpts_move[] =
        "UPDATE recipients SET state = $3::int4, next_attempt = $4::int8, queued = $5::int4, "
        "done = $6::int8 WHERE message_id = $1::int8 AND state = $2::int4";
static const char sql_msg_status[] =
        "SELECT status FROM messages WHERE id = $2::int8 AND ($1::int8 = 0 OR account_id = $1)";

static const char sql_get[] = "SELECT " MSG_COLS " FROM messages m WHERE m.id = $2::int8 "
                              "AND ($1::int8 = 0 OR m.account_id = $1)";
static const char sql_rcpts[] =
        "SELECT " RCPT_COLS("r") " FROM recipients r WHERE r.message_id = $1::int8 ORDER BY r.id";
static const char sql_hold_summary[] =
        "SELECT hold_reason, count(*) FROM messages WHERE account_id = $1::int8 AND status "
        "= " MS_HELD " GROUP BY hold_reason ORDER BY hold_reason";
static const char sql_queue_counts[] =
        "SELECT m.route, r.state, count(*) FROM messages m JOIN recipients r "
        "ON r.message_id = m.id WHERE m.account_id = $1::int8 "
        "AND m.received BETWEEN $2::int8 AND $3::int8 GROUP BY m.route, r.state";

static const char sql_hold_action[] =
        "UPDATE messages SET status = $3::int4 WHERE id = $2::int8 "
        "AND ($1::int8 = 0 OR account_id = $1) AND status = " MS_HELD " RETURNING id";

#define DUE(state)                                                                                 \
	"(SELECT id, next_attempt FROM recipients WHERE queued = 1 AND state = " state             \
	" AND next_attempt <= $1::int8 ORDER BY next_attempt, id LIMIT $3::int8)"
static const char sql_lease_rcpts[] =
        "WITH due AS (" DUE(RS_PENDING) " UNION ALL " DUE(RS_DEFERRED) " UNION ALL " DUE(
                RS_INFLIGHT) " ORDER BY next_attempt, id LIMIT $3::int8), "
                             "l AS (UPDATE recipients r SET state = " RS_INFLIGHT
                             ", lease_until = $2::int8, "
                             "next_attempt = $2::int8 FROM due WHERE r.id = due.id AND r.queued = "
                             "1 "
                             "AND r.state IN (" RS_PENDING ", " RS_INFLIGHT ", " RS_DEFERRED ") "
                             "AND r.next_attempt <= $1::int8 RETURNING r.*, due.next_attempt AS "
                             "due_at) "
                             "SELECT " RCPT_COLS("l") ", m.account_id, m.body_id, m.received, "
                                                      "m.route, m.env_from, "
                                                      "m.acode, coalesce(d.mail_route, '') FROM l "
                                                      "JOIN messages m ON m.id = l.message_id "
                                                      "LEFT JOIN domains d ON d.id = l.domain_id "
                                                      "ORDER BY l.due_at, l.id";

static const char sql_any_due[] =
        "SELECT 1 FROM recipients WHERE queued = 1 AND state IN (" RS_PENDING ", " RS_INFLIGHT
        ", " RS_DEFERRED ") AND next_attempt <= $1::int8 LIMIT 1";
static const char sql_done[] =
        "UPDATE recipients SET state = $3::int4, attempts = attempts + 1, next_attempt = "
        "CASE WHEN $3::int4 = " RS_DEFERRED " THEN $4::int8 ELSE next_attempt END, "
        "lease_until = 0, done = $5::int8, last_reply = $6::text WHERE id = $1::int8 "
        "AND state = " RS_INFLIGHT " AND lease_until = $2::int8 RETURNING message_id";
static const char sql_rcpt_exists[] = "SELECT 1 FROM recipients WHERE id = $1::int8";
static const char sql_msg_tally[] = "SELECT count(*) FILTER (WHERE state IN " NONFINAL
                                    "), count(*) FILTER (WHERE state IN (" RS_FAILED ", " RS_EXPIRED
                                    ")) FROM recipients WHERE message_id = $1::int8";
static const char sql_msg_final[] =
        "UPDATE messages SET status = $2::int4 WHERE id = $1::int8 AND status NOT IN (" MS_DELIVERED
        ", " MS_BOUNCED ")";

static const char sql_mail_domain[] =
        "SELECT id, account_id, inbound_type, mail_route FROM domains "
        "WHERE name = $1::text AND state = 1";
static const char sql_set_route[] = "UPDATE domains SET mail_route = $3::text "
                                    "WHERE account_id = $1::int8 AND name = $2::text AND state = 1";
static const char sql_relay_add[] =
        "INSERT INTO relay_ips(account_id, cidr, created) VALUES ($1::int8, $2::text, $3::int8)";
static const char sql_relay_remove[] =
        "DELETE FROM relay_ips WHERE account_id = $1::int8 AND cidr = $2::text";
static const char sql_relay_list[] =
        "SELECT cidr FROM relay_ips WHERE account_id = $1::int8 ORDER BY cidr";

static const char sql_gc_bodies[] =
        "SELECT id FROM bodies WHERE claimed = 0 AND created < $1::int8 ORDER BY created "
        "LIMIT $2::int8 FOR UPDATE SKIP LOCKED";
static const char sql_gc_messages[] =
        "SELECT id, body_id FROM messages WHERE received < $1::int8 ORDER BY received, id "
        "LIMIT $2::int8";
static const char sql_gc_chunks[] = "DELETE FROM message_bodies WHERE body_id = ANY($1::int8[])";
static const char sql_gc_body_rows[] = "DELETE FROM bodies WHERE id = ANY($1::int8[])";
static const char sql_gc_events[] = "DELETE FROM mail_events WHERE message_id = ANY($1::int8[])";
static const char sql_gc_rcpts[] = "DELETE FROM recipients WHERE message_id = ANY($1::int8[])";
static const char sql_gc_msgs[] = "DELETE FROM messages WHERE id = ANY($1::int8[])";

/* The lists, as in sqlite_mail.c: $1 account (0 = all), $2 $3 received range, $4 status,
 * $5 route, $6 msg_id, $7 from, $8 to, $9 subject, $10 client_ip, $11 hold_reason,
 * $12 processing only, $13 $14 cursor, $15 limit. */
#define L_FILTER                                                                                   \
	" m.received BETWEEN $2::int8 AND $3::int8 AND ($1::int8 = 0 OR m.account_id = $1) "       \
	"AND ($4::int4 < 0 OR m.status = $4) AND ($5::int4 < 0 OR m.route = $5) "                  \
	"AND ($6::text = '' OR m.msg_id = $6) "                                                    \
	"AND ($7::text = '' OR lower(m.env_from) = lower($7) OR lower(m.from_addr) = lower($7)) "  \
	"AND ($8::text = '' OR EXISTS (SELECT 1 FROM recipients t WHERE t.message_id = m.id "      \
	"AND lower(t.addr) = lower($8))) "                                                         \
	"AND ($9::text = '' OR strpos(lower(m.subject), lower($9)) > 0) "                          \
	"AND ($10::text = '' OR m.client_ip = $10) AND ($11::text = '' OR m.hold_reason = $11) "   \
	"AND ($12::int4 = 0 OR EXISTS (SELECT 1 FROM recipients t WHERE t.message_id = m.id "      \
	"AND t.queued = 1 AND t.state IN (" RS_INFLIGHT ", " RS_DEFERRED "))) "
#define L_DESC                                                                                     \
	" AND (m.received, m.id) < ($13::int8, $14::int8) ORDER BY m.received DESC, m.id DESC "    \
	"LIMIT $15::int8"
#define L_ASC                                                                                      \
	" AND (m.received, m.id) > ($13::int8, $14::int8) ORDER BY m.received, m.id LIMIT "        \
	"$15::int8"
#define L_SEL    "SELECT " MSG_COLS " FROM "
#define L_ALL    L_SEL "messages m WHERE" L_FILTER
#define L_ACCT   L_SEL "messages m WHERE m.account_id = $1 AND" L_FILTER
#define L_STATUS L_SEL "messages m WHERE m.account_id = $1 AND m.status = $4 AND" L_FILTER
#define L_MSGID  L_SEL "messages m WHERE m.msg_id <> '' AND m.msg_id = $6 AND" L_FILTER
#define L_PROC                                                                                     \
	L_SEL "(SELECT DISTINCT message_id AS mid FROM recipients WHERE queued = 1 AND state IN "  \
	      "(" RS_INFLIGHT ", " RS_DEFERRED                                                     \
	      ")) p JOIN messages m ON m.id = p.mid WHERE" L_FILTER

enum list_path { LP_ALL, LP_ACCT, LP_STATUS, LP_MSGID, LP_PROC, LP_COUNT };

static const char *const sql_list[LP_COUNT][2] = {
        {L_ALL L_DESC, L_ALL L_ASC},       {L_ACCT L_DESC, L_ACCT L_ASC},
        {L_STATUS L_DESC, L_STATUS L_ASC}, {L_MSGID L_DESC, L_MSGID L_ASC},
        {L_PROC L_DESC, L_PROC L_ASC},
};

/* ---- helpers ---- */

static int tx_open(struct store *st, int *own, struct err *e)
{
	*own = !pg_in_tx(st);
	return *own ? st->ops->tx_begin(st, e) : 0;
}

static int tx_close(struct store *st, int own, int rc, struct err *e)
{
	if (!own)
		return rc;
	if (rc) {
		st->ops->tx_rollback(st);
		return rc;
	}
	return st->ops->tx_commit(st, e);
}

/* Runs sql with the n int64 parameters of v; *rows (may be NULL) gets the rows it returned
 * or changed. */
static int run_ints(struct store *st, const char *sql, int flags, const int64_t *v, int n,
                    int64_t *rows, const char *what, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	for (int i = 0; i < n; i++)
		pg_p_int(&p, v[i]);
	rc = pg_run(st, sql, flags, &p, &r, what, e);
	if (!rc && rows)
		*rows = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : pg_changes(r);
	PQclear(r);
	return rc;
}

static int read_message(const PGresult *r, int i, struct message *m, struct err *e)
{
	size_t n;
	const char *t;

	memset(m, 0, sizeof(*m));
	m->id = pg_col_int(r, i, 0);
	m->account_id = pg_col_int(r, i, 1);
	m->received = pg_col_int(r, i, 2);
	m->body_id = pg_col_int(r, i, 3);
	pg_col_text(r, i, 4, m->acode, sizeof(m->acode));
	pg_col_text(r, i, 5, m->msg_id, sizeof(m->msg_id));
	pg_col_text(r, i, 6, m->env_from, sizeof(m->env_from));
	pg_col_text(r, i, 7, m->from_addr, sizeof(m->from_addr));
	pg_col_text(r, i, 8, m->from_name, sizeof(m->from_name));
	pg_col_text(r, i, 9, m->subject, sizeof(m->subject));
	m->size = pg_col_int(r, i, 10);
	pg_col_text(r, i, 11, m->client_ip, sizeof(m->client_ip));
	pg_col_text(r, i, 12, m->helo, sizeof(m->helo));
	pg_col_text(r, i, 13, m->tls_version, sizeof(m->tls_version));
	pg_col_text(r, i, 14, m->tls_cipher, sizeof(m->tls_cipher));
	m->route = (int32_t)pg_col_int(r, i, 15);
	m->status = (int32_t)pg_col_int(r, i, 16);
	pg_col_text(r, i, 17, m->hold_reason, sizeof(m->hold_reason));
	pg_col_text(r, i, 18, m->hold_reason_id, sizeof(m->hold_reason_id));
	m->held = pg_col_int(r, i, 19);
	m->spam_score = (int32_t)pg_col_int(r, i, 20);
	m->processed = (int32_t)pg_col_int(r, i, 21);
	m->has_attachments = (int32_t)pg_col_int(r, i, 22);
	m->nrcpt = (int32_t)pg_col_int(r, i, 23);
	for (int c = 24; c <= 25; c++) {
		char **dst = c == 24 ? &m->attachments : &m->urls;
		if (PQgetisnull(r, i, c))
			continue;
		t = pg_col_bytes(r, i, c, &n);
		*dst = malloc(n + 1);
		if (!*dst) {
			message_release(m);
			return err_set(e, MC_ERR_NOMEM, "out of memory");
		}
		memcpy(*dst, t, n);
		(*dst)[n] = '\0';
	}
	return 0;
}

static void read_rcpt(const PGresult *r, int i, int c, struct mail_rcpt *t)
{
	memset(t, 0, sizeof(*t));
	t->id = pg_col_int(r, i, c + 0);
	t->message_id = pg_col_int(r, i, c + 1);
	pg_col_text(r, i, c + 2, t->addr, sizeof(t->addr));
	t->domain_id = pg_col_int(r, i, c + 3);
	t->state = (int32_t)pg_col_int(r, i, c + 4);
	t->attempts = (int32_t)pg_col_int(r, i, c + 5);
	t->next_attempt = pg_col_int(r, i, c + 6);
	t->lease_until = pg_col_int(r, i, c + 7);
	t->done = pg_col_int(r, i, c + 8);
	pg_col_text(r, i, c + 9, t->last_reply, sizeof(t->last_reply));
}

/* A malloc'd copy of s with bytes that are not UTF-8 replaced by '?'; NULL stays NULL. */
static int utf8_dup(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	if (!*out)
		return MC_ERR_NOMEM;
	pg_utf8_fix(*out);
	return 0;
}

/* Appends {"type": ..., "data": "<text>"} for each event to a JSON array text (*out, caller
 * frees): the events' data travels as strings and becomes json in the statement. */
static int events_json(const struct mail_event *ev, int n, char **out, struct err *e)
{
	json_t *a = json_array();
	int rc = 0;

	*out = NULL;
	for (int i = 0; a && !rc && i < n; i++) {
		char *type = NULL, *data = NULL;
		json_t *o = NULL;
		if (utf8_dup(ev[i].type, &type) || utf8_dup(ev[i].data, &data) ||
		    !(o = json_pack("{s:s, s:s}", "type", type, "data", data)) ||
		    json_array_append_new(a, o))
			rc = MC_ERR_NOMEM;
		free(type);
		free(data);
	}
	if (!a || rc || !(*out = json_dumps(a, JSON_COMPACT)))
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
	json_decref(a);
	return rc;
}

static int add_events(struct store *st, int64_t id, int64_t at, const struct mail_event *ev, int n,
                      struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	char *json = NULL;
	int rc;

	if (n == 0)
		return 0;
	rc = events_json(ev, n, &json, e);
	if (rc)
		return rc;
	pg_p_init(&p);
	pg_p_int(&p, id);
	pg_p_int(&p, at);
	pg_p_text(&p, json, strlen(json) + 1);
	rc = pg_run(st, sql_events, PG_WRITE, &p, &r, "add mail event", e);
	PQclear(r);
	free(json);
	return rc;
}

static int why_not(struct store *st, int64_t account_id, int64_t id, const char *action,
                   struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_int(&p, id);
	rc = pg_run(st, sql_msg_status, PG_READ, &p, &r, action, e);
	if (!rc && PQntuples(r) == 1)
		rc = err_set(e, MC_ERR_STATE, "%s: message %lld is %s", action, (long long)id,
		             msg_status_name((enum msg_status)pg_col_int(r, 0, 0)));
	else if (!rc)
		rc = err_set(e, MC_ERR_NOT_FOUND, "%s: no message %lld", action, (long long)id);
	PQclear(r);
	return rc;
}

/* 1 if sql ($1 = now) finds a row, 0 if not, or an error: pollers look without the write
 * lock first, so idle workers do not queue for it. */
static int any_row(struct store *st, const char *sql, int64_t now, struct err *e)
{
	int64_t rows = 0;
	int rc = run_ints(st, sql, PG_READ, &now, 1, &rows, "look for work", e);

	return rc ? rc : rows > 0;
}

/* ---- intake ---- */

static int in_tx(struct store *st)
{
	return pg_in_tx(st);
}

/* The message's text fields made UTF-8. */
static void fix_texts(struct message *c)
{
	pg_utf8_fix(c->acode);
	pg_utf8_fix(c->msg_id);
	pg_utf8_fix(c->env_from);
	pg_utf8_fix(c->from_addr);
	pg_utf8_fix(c->from_name);
	pg_utf8_fix(c->subject);
	pg_utf8_fix(c->client_ip);
	pg_utf8_fix(c->helo);
	pg_utf8_fix(c->tls_version);
	pg_utf8_fix(c->tls_cipher);
	pg_utf8_fix(c->hold_reason);
	pg_utf8_fix(c->hold_reason_id);
}

static int rcpts_json(const struct mail_rcpt *t, int n, char **out, struct err *e)
{
	json_t *a = json_array();
	int rc = 0;

	*out = NULL;
	for (int i = 0; a && !rc && i < n; i++) {
		char addr[MAIL_ADDR_SIZE];
		json_t *o;
		snprintf(addr, sizeof(addr), "%s", t[i].addr);
		pg_utf8_fix(addr);
		o = json_pack("{s:s, s:I}", "addr", addr, "domain_id", (json_int_t)t[i].domain_id);
		if (!o || json_array_append_new(a, o))
			rc = MC_ERR_NOMEM;
	}
	if (!a || rc || !(*out = json_dumps(a, JSON_COMPACT)))
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
	json_decref(a);
	return rc;
}

static int accept_one(struct store *st, struct mail_accept_req *req, struct err *e)
{
	struct message *m = req->m;
	int rejected = m->status == MSG_REJECTED;
	char *rcpts = NULL, *events = NULL, *att = NULL, *urls = NULL;
	struct message c;
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	memcpy(&c, m, sizeof(c));
	fix_texts(&c);
	rc = rcpts_json(req->rcpts, req->nrcpts, &rcpts, e);
	if (!rc)
		rc = events_json(req->events, req->nevents, &events, e);
	if (!rc && (utf8_dup(m->attachments, &att) || utf8_dup(m->urls, &urls)))
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
	if (rc)
		goto out;
	pg_p_init(&p);
	pg_p_int(&p, c.account_id);
	pg_p_int(&p, c.received);
	pg_p_int(&p, c.body_id);
	pg_p_text(&p, c.acode, sizeof(c.acode));
	pg_p_text(&p, c.msg_id, sizeof(c.msg_id));
	pg_p_text(&p, c.env_from, sizeof(c.env_from));
	pg_p_text(&p, c.from_addr, sizeof(c.from_addr));
	pg_p_text(&p, c.from_name, sizeof(c.from_name));
	pg_p_text(&p, c.subject, sizeof(c.subject));
	pg_p_int(&p, c.size);
	pg_p_text(&p, c.client_ip, sizeof(c.client_ip));
	pg_p_text(&p, c.helo, sizeof(c.helo));
	pg_p_text(&p, c.tls_version, sizeof(c.tls_version));
	pg_p_text(&p, c.tls_cipher, sizeof(c.tls_cipher));
	pg_p_int(&p, c.route);
	pg_p_int(&p, c.status);
	pg_p_text(&p, c.hold_reason, sizeof(c.hold_reason));
	pg_p_text(&p, c.hold_reason_id, sizeof(c.hold_reason_id));
	pg_p_int(&p, c.held);
	pg_p_int(&p, c.spam_score);
	pg_p_int(&p, c.has_attachments);
	pg_p_int(&p, c.nrcpt);
	if (att)
		pg_p_text(&p, att, strlen(att) + 1);
	else
		pg_p_null(&p);
	if (urls)
		pg_p_text(&p, urls, strlen(urls) + 1);
	else
		pg_p_null(&p);
	pg_p_int(&p, rejected ? RCPT_REJECTED : RCPT_PENDING);
	pg_p_int(&p, rejected ? c.received : 0);
	pg_p_text(&p, rcpts, strlen(rcpts) + 1);
	pg_p_text(&p, events, strlen(events) + 1);
	rc = pg_run(st, sql_accept, PG_WRITE, &p, &r, "accept message", e);
	if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)c.account_id);
	else if (!rc && PQntuples(r) != 1)
		rc = err_set(e, MC_ERR_NOT_FOUND,
		             "message body %lld does not exist or belongs to another message",
		             (long long)c.body_id);
	else if (!rc)
		m->id = pg_col_int(r, 0, 0);
out:
	PQclear(r);
	free(rcpts);
	free(events);
	free(att);
	free(urls);
	return rc;
}

static int accept_batch(struct store *st, struct mail_accept_req *const *reqs, int n, struct err *e)
{
	int rc = st->ops->tx_begin(st, e);

	if (!rc)
		rc = pg_exec(st, "SET LOCAL synchronous_commit = on", "make the intake durable", e);
	for (int i = 0; !rc && i < n; i++) {
		reqs[i]->rc = accept_one(st, reqs[i], &reqs[i]->err);
		if (reqs[i]->rc)
			reqs[i]->m->id = 0;
	}
	if (!rc)
		return st->ops->tx_commit(st, e);
	st->ops->tx_rollback(st);
	return rc;
}

/* ---- bodies ---- */

static int body_new(struct store *st, int64_t size, int64_t created, int64_t *body_id,
                    struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, size);
	pg_p_int(&p, created);
	/* no write lock (PG_READ runs it on its own): a new body is its writer's alone until
	 * a message claims it, so bodies never queue behind accepts or leases */
	rc = pg_run(st, sql_body_new, PG_READ, &p, &r, "new body", e);
	if (!rc)
		*body_id = pg_col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

static int body_chunk(struct store *st, int64_t body_id, int seq, const void *data, size_t n,
                      struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, body_id);
	pg_p_int(&p, seq);
	pg_p_bytea(&p, data, n);
	rc = pg_run(st, sql_body_chunk, PG_READ, &p, &r, "write body chunk", e);
	PQclear(r);
	return rc;
}

static void body_drop(struct store *st, int64_t body_id)
{
	int own, rc = tx_open(st, &own, NULL);

	if (rc)
		return;
	rc = run_ints(st, sql_body_drop_chunks, PG_WRITE, &body_id, 1, NULL, "drop body", NULL);
	if (!rc)
		rc = run_ints(st, sql_body_drop, PG_WRITE, &body_id, 1, NULL, "drop body", NULL);
	tx_close(st, own, rc, NULL);
}

static int body_get(struct store *st, int64_t body_id, char **data, size_t *len, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	char *buf = NULL;
	int64_t size;
	size_t got = 0;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, body_id);
	rc = pg_run(st, sql_body_get, PG_READ, &p, &r, "read body", e);
	if (rc)
		goto out;
	if (PQntuples(r) == 0) {
		rc = err_set(e, MC_ERR_NOT_FOUND, "no message body %lld", (long long)body_id);
		goto out;
	}
	size = pg_col_int(r, 0, 0);
	if (size < 0 || (uint64_t)size > SIZE_MAX - 1) {
		rc = err_set(e, MC_ERR_STORE, "body %lld has a bad size", (long long)body_id);
		goto out;
	}
	buf = malloc((size_t)size + 1);
	if (!buf) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		size_t n;
		const void *d = pg_col_bytes(r, i, 1, &n);
		if (n > (size_t)size - got) {
			rc = err_set(e, MC_ERR_STORE, "body %lld is longer than its size",
			             (long long)body_id);
			goto out;
		}
		if (n)
			memcpy(buf + got, d, n);
		got += n;
	}
	if (got != (size_t)size)
		rc = err_set(e, MC_ERR_STORE, "body %lld is incomplete (%zu of %lld bytes)",
		             (long long)body_id, got, (long long)size);
out:
	PQclear(r);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* ---- the process stage ---- */

static int lease_unprocessed(struct store *st, int64_t now, int64_t lease_until,
                             struct message *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	rc = pg_in_tx(st) ? 1 : any_row(st, sql_any_unprocessed, now, e);
	if (rc <= 0)
		return rc ? rc : err_set(e, MC_ERR_NOT_FOUND, "no message waits for processing");
	pg_p_init(&p);
	pg_p_int(&p, now);
	pg_p_int(&p, lease_until);
	rc = pg_run(st, sql_lease_msg, PG_WRITE, &p, &r, "lease a message", e);
	if (!rc && PQntuples(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no message waits for processing");
	else if (!rc)
		rc = read_message(r, 0, out, e);
	PQclear(r);
	return rc;
}

static int processed(struct store *st, const struct message *m, int32_t status, int64_t now,
                     const struct mail_event *events, int nevents, struct err *e)
{
	int64_t held = status == MSG_HELD ? (m->held ? m->held : now) : m->held;
	char reason[MAIL_REASON_SIZE], reason_id[MAIL_REASON_SIZE];
	char *att = NULL, *urls = NULL;
	struct pg_params p;
	PGresult *r = NULL;
	int own, rc;

	snprintf(reason, sizeof(reason), "%s", m->hold_reason);
	snprintf(reason_id, sizeof(reason_id), "%s", m->hold_reason_id);
	pg_utf8_fix(reason);
	pg_utf8_fix(reason_id);
	if (utf8_dup(m->attachments, &att) || utf8_dup(m->urls, &urls)) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto done;
	}
	rc = tx_open(st, &own, e);
	if (rc)
		goto done;
	pg_p_init(&p);
	pg_p_int(&p, m->id);
	pg_p_int(&p, status);
	pg_p_text(&p, reason, sizeof(reason));
	pg_p_text(&p, reason_id, sizeof(reason_id));
	pg_p_int(&p, held);
	pg_p_int(&p, m->spam_score);
	pg_p_int(&p, m->has_attachments);
	if (att)
		pg_p_text(&p, att, strlen(att) + 1);
	else
		pg_p_null(&p);
	if (urls)
		pg_p_text(&p, urls, strlen(urls) + 1);
	else
		pg_p_null(&p);
	rc = pg_run(st, sql_processed, PG_WRITE, &p, &r, "record processing", e);
	if (!rc && PQntuples(r) == 0)
		rc = why_not(st, 0, m->id, "record processing", e);
	if (!rc) {
		int64_t v[6] = {m->id,
		                RCPT_PENDING,
		                status == MSG_HELD        ? RCPT_HELD
		                : status == MSG_DISCARDED ? RCPT_REJECTED
		                                          : RCPT_PENDING,
		                now,
		                status == MSG_PROCESSING,
		                status == MSG_DISCARDED ? now : 0};
		rc = run_ints(st, sql_rcpts_move, PG_WRITE, v, 6, NULL, "move recipients", e);
	}
	if (!rc)
		rc = add_events(st, m->id, now, events, nevents, e);
	rc = tx_close(st, own, rc, e);
done:
	PQclear(r);
	free(att);
	free(urls);
	return rc;
}

/* ---- reading ---- */

static int message_get(struct store *st, int64_t account_id, int64_t id, struct message *out,
                       struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_int(&p, id);
	rc = pg_run(st, sql_get, PG_READ, &p, &r, "get message", e);
	if (!rc && PQntuples(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no message %lld", (long long)id);
	else if (!rc)
		rc = read_message(r, 0, out, e);
	PQclear(r);
	return rc;
}

static int message_rcpts(struct store *st, int64_t message_id,
                         int (*fn)(void *arg, const struct mail_rcpt *r), void *arg, struct err *e)
{
	struct mail_rcpt t;
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, message_id);
	rc = pg_run(st, sql_rcpts, PG_READ, &p, &r, "list recipients", e);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		read_rcpt(r, i, 0, &t);
		rc = fn(arg, &t);
	}
	PQclear(r);
	return rc;
}

static int message_list(struct store *st, const struct message_query *f, int64_t after_received,
                        int64_t after_id, int limit, int (*fn)(void *arg, const struct message *m),
                        void *arg, struct err *e)
{
	enum list_path path = f->processing_only ? LP_PROC
	                      : f->msg_id[0]     ? LP_MSGID
	                      : !f->account_id   ? LP_ALL
	                      : f->status >= 0   ? LP_STATUS
	                                         : LP_ACCT;
	struct pg_params p;
	struct message m;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, f->account_id);
	pg_p_int(&p, f->from_time);
	pg_p_int(&p, f->to_time);
	pg_p_int(&p, f->status);
	pg_p_int(&p, f->route);
	pg_p_text(&p, f->msg_id, sizeof(f->msg_id));
	pg_p_text(&p, f->from, sizeof(f->from));
	pg_p_text(&p, f->to, sizeof(f->to));
	pg_p_text(&p, f->subject, sizeof(f->subject));
	pg_p_text(&p, f->client_ip, sizeof(f->client_ip));
	pg_p_text(&p, f->hold_reason, sizeof(f->hold_reason));
	pg_p_int(&p, f->processing_only);
	pg_p_int(&p, after_received);
	pg_p_int(&p, after_id);
	pg_p_int(&p, limit);
	rc = pg_run(st, sql_list[path][f->oldest_first ? 1 : 0], PG_READ, &p, &r, "list messages",
	            e);
	if (rc == MC_ERR_NOT_FOUND)
		rc = 0; /* a filter that is not UTF-8 matches nothing */
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		rc = read_message(r, i, &m, e);
		if (rc)
			break;
		rc = fn(arg, &m);
		message_release(&m);
	}
	PQclear(r);
	return rc;
}

static int hold_summary(struct store *st, int64_t account_id,
                        int (*fn)(void *arg, const char *reason, int64_t count), void *arg,
                        struct err *e)
{
	char reason[MAIL_REASON_SIZE];
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	rc = pg_run(st, sql_hold_summary, PG_READ, &p, &r, "hold summary", e);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		pg_col_text(r, i, 0, reason, sizeof(reason));
		rc = fn(arg, reason, pg_col_int(r, i, 1));
	}
	PQclear(r);
	return rc;
}

static int queue_counts(struct store *st, int64_t account_id, int64_t from, int64_t to,
                        int (*fn)(void *arg, int route, int state, int64_t n), void *arg,
                        struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_int(&p, from);
	pg_p_int(&p, to);
	rc = pg_run(st, sql_queue_counts, PG_READ, &p, &r, "count queues", e);
	for (int i = 0; !rc && i < PQntuples(r); i++)
		rc = fn(arg, (int)pg_col_int(r, i, 0), (int)pg_col_int(r, i, 1),
		        pg_col_int(r, i, 2));
	PQclear(r);
	return rc;
}

/* ---- the hold queue ---- */

static int hold_action(struct store *st, int64_t account_id, int64_t id, int64_t now, int release,
                       const struct mail_event *ev, struct err *e)
{
	const char *what = release ? "release message" : "reject message";
	int64_t rows = 0;
	int own, rc = tx_open(st, &own, e);

	if (rc)
		return rc;
	{
		int64_t v[3] = {account_id, id, release ? MSG_RELEASED : MSG_REJECTED};
		rc = run_ints(st, sql_hold_action, PG_WRITE, v, 3, &rows, what, e);
	}
	if (!rc && rows == 0)
		rc = why_not(st, account_id, id, what, e);
	if (!rc) {
		int64_t v[6] = {id,  RCPT_HELD, release ? RCPT_PENDING : RCPT_REJECTED,
		                now, release,   release ? 0 : now};
		rc = run_ints(st, sql_rcpts_move, PG_WRITE, v, 6, NULL, what, e);
	}
	if (!rc && ev)
		rc = add_events(st, id, now, ev, 1, e);
	return tx_close(st, own, rc, e);
}

/* ---- delivery ---- */

static int delivery_lease(struct store *st, int64_t now, int64_t lease_until,
                          struct delivery_job *jobs, int max, int *n, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	rc = pg_in_tx(st) ? 1 : any_row(st, sql_any_due, now, e);
	if (rc <= 0)
		return rc;
	pg_p_init(&p);
	pg_p_int(&p, now);
	pg_p_int(&p, lease_until);
	pg_p_int(&p, max);
	rc = pg_run(st, sql_lease_rcpts, PG_WRITE, &p, &r, "lease recipients", e);
	for (int i = 0; !rc && i < PQntuples(r) && i < max; i++) {
		struct delivery_job *j = &jobs[i];
		memset(j, 0, sizeof(*j));
		read_rcpt(r, i, 0, &j->rcpt);
		j->account_id = pg_col_int(r, i, 10);
		j->body_id = pg_col_int(r, i, 11);
		j->received = pg_col_int(r, i, 12);
		j->route = (int32_t)pg_col_int(r, i, 13);
		pg_col_text(r, i, 14, j->env_from, sizeof(j->env_from));
		pg_col_text(r, i, 15, j->acode, sizeof(j->acode));
		pg_col_text(r, i, 16, j->dest, sizeof(j->dest));
		*n = i + 1;
	}
	PQclear(r);
	return rc;
}

static int delivery_done(struct store *st, int64_t rcpt_id, int64_t lease_until, int32_t state,
                         int64_t next_attempt, int64_t now, const char *reply,
                         const struct mail_event *ev, int *bounce, struct err *e)
{
	char text[MAIL_REPLY_SIZE];
	struct pg_params p;
	PGresult *r = NULL;
	int64_t msg = 0, rows = 0;
	int own, rc;

	snprintf(text, sizeof(text), "%s", reply);
	pg_utf8_fix(text);
	rc = tx_open(st, &own, e);
	if (rc)
		return rc;
	pg_p_init(&p);
	pg_p_int(&p, rcpt_id);
	pg_p_int(&p, lease_until);
	pg_p_int(&p, state);
	pg_p_int(&p, next_attempt);
	pg_p_int(&p, state == RCPT_DEFERRED ? 0 : now);
	pg_p_text(&p, text, sizeof(text));
	rc = pg_run(st, sql_done, PG_WRITE, &p, &r, "record delivery", e);
	if (!rc && PQntuples(r) == 1)
		msg = pg_col_int(r, 0, 0);
	PQclear(r);
	r = NULL;
	if (!rc && !msg) {
		/* gone, or leased again by another worker after our lease ran out */
		rc = run_ints(st, sql_rcpt_exists, PG_READ, &rcpt_id, 1, &rows, "record delivery",
		              e);
		if (!rc && rows)
			rc = err_set(e, MC_ERR_STATE,
			             "the lease on recipient %lld was lost: not recorded",
			             (long long)rcpt_id);
		else if (!rc)
			rc = err_set(e, MC_ERR_NOT_FOUND, "no recipient %lld", (long long)rcpt_id);
	}
	if (!rc) {
		pg_p_init(&p);
		pg_p_int(&p, msg);
		rc = pg_run(st, sql_msg_tally, PG_READ, &p, &r, "record delivery", e);
	}
	if (!rc && pg_col_int(r, 0, 0) == 0) {
		int64_t bad = pg_col_int(r, 0, 1);
		int64_t v[2] = {msg, bad ? MSG_BOUNCED : MSG_DELIVERED};
		rc = run_ints(st, sql_msg_final, PG_WRITE, v, 2, &rows, "record delivery", e);
		if (!rc && bad && rows == 1)
			*bounce = 1;
	}
	PQclear(r);
	if (!rc && ev)
		rc = add_events(st, msg, now, ev, 1, e);
	rc = tx_close(st, own, rc, e);
	if (rc)
		*bounce = 0;
	return rc;
}

/* ---- routes and relays ---- */

static int mail_domain(struct store *st, const char *name, struct mail_domain *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_text(&p, name, 254);
	rc = pg_run(st, sql_mail_domain, PG_READ, &p, &r, "find mail domain", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0)) {
		rc = err_set(e, MC_ERR_NOT_FOUND, "'%s' is not an internal domain", name);
	} else if (!rc) {
		out->domain_id = pg_col_int(r, 0, 0);
		out->account_id = pg_col_int(r, 0, 1);
		pg_col_text(r, 0, 2, out->inbound_type, sizeof(out->inbound_type));
		pg_col_text(r, 0, 3, out->route, sizeof(out->route));
	}
	PQclear(r);
	return rc;
}

static int set_route(struct store *st, int64_t account_id, const char *domain, const char *route,
                     struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, domain, 254);
	pg_p_text(&p, route, MAIL_ROUTE_SIZE);
	rc = pg_run(st, sql_set_route, PG_WRITE, &p, &r, "set mail route", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "'%s' is not an internal domain of the account",
		             domain);
	PQclear(r);
	return rc;
}

static int relay_add(struct store *st, int64_t account_id, const char *cidr, int64_t now,
                     struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, cidr, 64);
	pg_p_int(&p, now);
	rc = pg_run(st, sql_relay_add, PG_WRITE, &p, &r, "add relay address", e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "relay address '%s' is in the list already", cidr);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)account_id);
	PQclear(r);
	return rc;
}

static int relay_remove(struct store *st, int64_t account_id, const char *cidr, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, cidr, 64);
	rc = pg_run(st, sql_relay_remove, PG_WRITE, &p, &r, "remove relay address", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "relay address '%s' is not in the list", cidr);
	PQclear(r);
	return rc;
}

static int relay_list(struct store *st, int64_t account_id, int (*fn)(void *arg, const char *cidr),
                      void *arg, struct err *e)
{
	char cidr[64];
	PGresult *r = NULL;
	struct pg_params p;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	rc = pg_run(st, sql_relay_list, PG_READ, &p, &r, "list relay addresses", e);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		pg_col_text(r, i, 0, cidr, sizeof(cidr));
		rc = fn(arg, cidr);
	}
	PQclear(r);
	return rc;
}

/* ---- housekeeping ---- */

/* Writes column col of every row of r as a PostgreSQL int8[] literal into *out (malloc'd),
 * skipping zeros. */
static int id_array(const PGresult *r, int col, char **out, struct err *e)
{
	int rows = PQntuples(r);
	size_t cap = (size_t)rows * 21 + 3, len = 0;
	char *s = malloc(cap);

	*out = NULL;
	if (!s)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	s[len++] = '{';
	for (int i = 0; i < rows; i++) {
		int64_t v = pg_col_int(r, i, col);
		if (v)
			len += (size_t)snprintf(s + len, cap - len, "%s%lld", len > 1 ? "," : "",
			                        (long long)v);
	}
	s[len++] = '}';
	s[len] = '\0';
	*out = s;
	return 0;
}

static int delete_ids(struct store *st, const char *sql, const char *ids, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_text(&p, ids, strlen(ids) + 1);
	rc = pg_run(st, sql, PG_WRITE, &p, &r, "purge mail", e);
	PQclear(r);
	return rc;
}

static int gc_step(struct store *st, int64_t body_cutoff, int64_t msg_cutoff, int batch, int *more,
                   struct err *e)
{
	PGresult *rb = NULL, *rm = NULL;
	char *bodies = NULL, *msgs = NULL, *msg_bodies = NULL;
	int nb = 0, nm = 0, own, rc;
	struct pg_params p;

	*more = 0;
	rc = tx_open(st, &own, e);
	if (rc)
		return rc;
	pg_p_init(&p);
	pg_p_int(&p, body_cutoff);
	pg_p_int(&p, batch);
	rc = pg_run(st, sql_gc_bodies, PG_WRITE, &p, &rb, "purge mail", e);
	if (!rc) {
		nb = PQntuples(rb);
		rc = id_array(rb, 0, &bodies, e);
	}
	if (!rc && nb)
		rc = delete_ids(st, sql_gc_chunks, bodies, e);
	if (!rc && nb)
		rc = delete_ids(st, sql_gc_body_rows, bodies, e);
	if (!rc) {
		pg_p_init(&p);
		pg_p_int(&p, msg_cutoff);
		pg_p_int(&p, batch);
		rc = pg_run(st, sql_gc_messages, PG_READ, &p, &rm, "purge mail", e);
	}
	if (!rc) {
		nm = PQntuples(rm);
		rc = id_array(rm, 0, &msgs, e);
		if (!rc)
			rc = id_array(rm, 1, &msg_bodies, e);
	}
	if (!rc && nm) {
		rc = delete_ids(st, sql_gc_events, msgs, e);
		if (!rc)
			rc = delete_ids(st, sql_gc_rcpts, msgs, e);
		if (!rc)
			rc = delete_ids(st, sql_gc_msgs, msgs, e);
		if (!rc)
			rc = delete_ids(st, sql_gc_chunks, msg_bodies, e);
		if (!rc)
			rc = delete_ids(st, sql_gc_body_rows, msg_bodies, e);
	}
	rc = tx_close(st, own, rc, e);
	*more = !rc && (nb == batch || nm == batch);
	PQclear(rb);
	PQclear(rm);
	free(bodies);
	free(msgs);
	free(msg_bodies);
	return rc;
}

const struct store_mail_ops pg_mail_ops = {
        .in_tx = in_tx,
        .accept_batch = accept_batch,
        .body_new = body_new,
        .body_chunk = body_chunk,
        .body_drop = body_drop,
        .body_get = body_get,
        .lease_unprocessed = lease_unprocessed,
        .processed = processed,
        .message_get = message_get,
        .message_rcpts = message_rcpts,
        .message_list = message_list,
        .hold_summary = hold_summary,
        .queue_counts = queue_counts,
        .hold_action = hold_action,
        .delivery_lease = delivery_lease,
        .delivery_done = delivery_done,
        .mail_domain = mail_domain,
        .set_route = set_route,
        .relay_add = relay_add,
        .relay_remove = relay_remove,
        .relay_list = relay_list,
        .gc_step = gc_step,
};
