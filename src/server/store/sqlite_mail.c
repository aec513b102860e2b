/* SQLite records of the gateway's mail (schema/sqlite/006_mail.sql, store_mail.h).
 *
 * Every read-then-write runs inside BEGIN IMMEDIATE (the caller's transaction if one is
 * open), so a lease, a hold action or a delivery outcome is decided with the write lock
 * held: two threads or processes never take the same message or recipient, and a
 * conditional UPDATE that changes no row is the "someone else did it" answer.
 *
 * Durability of accepts: the store runs WAL with synchronous=NORMAL; accept_batch switches
 * the connection to synchronous=FULL around its transaction (the pragma cannot change
 * inside one), so that commit syncs the WAL, and with it every body chunk written before.
 *
 * Lists pick their index with INDEXED BY, one statement per access path and direction, so a
 * page of the hold queue or of one account costs the page, whatever the table holds. */
#include "sqlite_int.h"
#include "store_mail_int.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define MSG_COLS                                                                                   \
	"m.id, m.account_id, m.received, m.body_id, m.acode, m.msg_id, m.env_from, m.from_addr, "  \
	"m.from_name, m.subject, m.size, m.client_ip, m.helo, m.tls_version, m.tls_cipher, "       \
	"m.route, m.status, m.hold_reason, m.hold_reason_id, m.held, m.spam_score, m.processed, "  \
	"m.has_attachments, m.nrcpt, m.attachments, m.urls"
#define RET_COLS                                                                                   \
	"id, account_id, received, body_id, acode, msg_id, env_from, from_addr, from_name, "       \
	"subject, size, client_ip, helo, tls_version, tls_cipher, route, status, hold_reason, "    \
	"hold_reason_id, held, spam_score, processed, has_attachments, nrcpt, attachments, urls"
#define RCPT_COLS                                                                                  \
	"r.id, r.message_id, r.addr, r.domain_id, r.state, r.attempts, r.next_attempt, "           \
	"r.lease_until, r.done, r.last_reply"
#define NONFINAL "(" RS_PENDING ", " RS_INFLIGHT ", " RS_DEFERRED ", " RS_HELD ")"

/* ---- statements ---- */

static const char sql_savepoint[] = "SAVEPOINT mc_accept";
static const char sql_release[] = "RELEASE mc_accept";
static const char sql_rollback_to[] = "ROLLBACK TO mc_accept";

static const char sql_claim_body[] = "UPDATE bodies SET claimed = 1 WHERE id = ?1 AND claimed = 0";
static const char sql_insert_msg[] =
        "INSERT INTO messages(account_id, received, body_id, acode, msg_id, env_from, from_addr, "
        "from_name, subject, size, client_ip, helo, tls_version, tls_cipher, route, status, "
        "hold_reason, hold_reason_id, held, spam_score, processed, has_attachments, nrcpt, "
        "attachments, urls) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17, ?18, ?19, ?20, 0, ?21, ?22, ?23, ?24)";
static const char sql_insert_rcpt[] =
        "INSERT INTO recipients(message_id, addr, domain_id, state, next_attempt, done) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_insert_event[] =
        "INSERT INTO mail_events(account_id, message_id, type, at, data) "
        "SELECT account_id, id, ?2, ?3, ?4 FROM messages WHERE id = ?1";

static const char sql_body_new[] = "INSERT INTO bodies(size, created) VALUES (?1, ?2)";
static const char sql_body_inline[] =
        "INSERT INTO bodies(size, created, claimed) VALUES (?1, ?2, 1)";
static const char sql_body_chunk[] =
        "INSERT INTO message_bodies(body_id, seq, data) VALUES (?1, ?2, ?3)";
static const char sql_body_get[] =
        "SELECT b.size, c.data FROM bodies b LEFT JOIN message_bodies c ON c.body_id = b.id "
        "WHERE b.id = ?1 ORDER BY c.seq";
static const char sql_body_unclaimed[] = "SELECT 1 FROM bodies WHERE id = ?1 AND claimed = 0";
static const char sql_chunks_delete[] = "DELETE FROM message_bodies WHERE body_id = ?1";
static const char sql_body_delete[] = "DELETE FROM bodies WHERE id = ?1";

static const char sql_lease_msg[] =
        "UPDATE messages SET lease_until = ?2 WHERE id = (SELECT id FROM messages "
        "INDEXED BY messages_unprocessed WHERE processed = 0 AND status = " MS_RECEIVED
        " AND lease_until <= ?1 ORDER BY received, id LIMIT 1) RETURNING " RET_COLS;
static const char sql_any_unprocessed[] =
        "SELECT 1 FROM messages INDEXED BY messages_unprocessed WHERE processed = 0 AND status "
        "= " MS_RECEIVED " AND lease_until <= ?1 LIMIT 1";
static const char sql_processed[] =
        "UPDATE messages SET status = ?2, hold_reason = ?3, hold_reason_id = ?4, held = ?5, "
        "spam_score = ?6, has_attachments = ?7, attachments = ?8, urls = ?9, processed = 1, "
        "lease_until = 0 WHERE id = ?1 AND processed = 0 AND status = " MS_RECEIVED;
static const char sql_rcpts_move[] =
        "UPDATE recipients SET state = ?3, next_attempt = ?4, queued = ?5, done = ?6 "
        "WHERE message_id = ?1 AND state = ?2";
static const char sql_msg_status[] =
        "SELECT status FROM messages WHERE id = ?2 AND (?1 = 0 OR account_id = ?1)";

static const char sql_get[] =
        "SELECT " MSG_COLS " FROM messages m WHERE m.id = ?2 AND (?1 = 0 OR m.account_id = ?1)";
static const char sql_rcpts[] =
        "SELECT " RCPT_COLS " FROM recipients r WHERE r.message_id = ?1 ORDER BY r.id";

static const char sql_hold_summary[] =
        "SELECT hold_reason, count(*) FROM messages INDEXED BY messages_account_status "
        "WHERE account_id = ?1 AND status = " MS_HELD " GROUP BY hold_reason ORDER BY hold_reason";
static const char sql_queue_counts[] =
        "SELECT m.route, r.state, count(*) FROM messages m INDEXED BY messages_account_received "
        "JOIN recipients r ON r.message_id = m.id WHERE m.account_id = ?1 "
        "AND m.received BETWEEN ?2 AND ?3 GROUP BY m.route, r.state";

static const char sql_hold_action[] =
        "UPDATE messages SET status = ?3 WHERE id = ?2 AND (?1 = 0 OR account_id = ?1) "
        "AND status = " MS_HELD;

/* Due recipients, the oldest retry time first, from each state's end of the index. */
#define DUE(state)                                                                                 \
	"SELECT id, next_attempt FROM (SELECT id, next_attempt FROM recipients INDEXED BY "        \
	"recipients_due WHERE queued = 1 AND state = " state " AND next_attempt <= ?1 "            \
	"ORDER BY next_attempt, id LIMIT ?2)"
static const char sql_due[] = DUE(RS_PENDING) " UNION ALL " DUE(RS_DEFERRED) " UNION ALL " DUE(
        RS_INFLIGHT) " ORDER BY 2, 1 LIMIT ?2";
static const char sql_any_due[] =
        "SELECT 1 FROM recipients INDEXED BY recipients_due WHERE queued = 1 AND state IN "
        "(" RS_PENDING ", " RS_INFLIGHT ", " RS_DEFERRED ") AND next_attempt <= ?1 LIMIT 1";
static const char sql_lease_rcpt[] =
        "UPDATE recipients SET state = " RS_INFLIGHT ", lease_until = ?2, next_attempt = ?2 "
        "WHERE id = ?1";
static const char sql_job[] =
        "SELECT " RCPT_COLS ", m.account_id, m.body_id, m.received, m.route, m.env_from, m.acode, "
        "coalesce(d.mail_route, '') FROM recipients r JOIN messages m ON m.id = r.message_id "
        "LEFT JOIN domains d ON d.id = r.domain_id WHERE r.id = ?1";

static const char sql_done[] =
        "UPDATE recipients SET state = ?3, attempts = attempts + 1, next_attempt = CASE WHEN ?3 "
        "= " RS_DEFERRED
        " THEN ?4 ELSE next_attempt END, lease_until = 0, done = ?5, last_reply = ?6 "
        "WHERE id = ?1 AND state = " RS_INFLIGHT " AND lease_until = ?2 RETURNING message_id";
static const char sql_rcpt_exists[] = "SELECT 1 FROM recipients WHERE id = ?1";
static const char sql_msg_tally[] =
        "SELECT coalesce(sum(state IN " NONFINAL "), 0), coalesce(sum(state IN (" RS_FAILED
        ", " RS_EXPIRED ")), 0) FROM recipients WHERE message_id = ?1";
static const char sql_msg_final[] =
        "UPDATE messages SET status = ?2 WHERE id = ?1 AND status NOT IN (" MS_DELIVERED
        ", " MS_BOUNCED ")";

static const char sql_mail_domain[] = "SELECT id, account_id, inbound_type, mail_route FROM "
                                      "domains WHERE name = ?1 AND state = 1";
static const char sql_set_route[] =
        "UPDATE domains SET mail_route = ?3 WHERE account_id = ?1 AND name = ?2 AND state = 1";
static const char sql_relay_add[] =
        "INSERT INTO relay_ips(account_id, cidr, created) VALUES (?1, ?2, ?3)";
static const char sql_relay_remove[] = "DELETE FROM relay_ips WHERE account_id = ?1 AND cidr = ?2";
static const char sql_relay_list[] =
        "SELECT cidr FROM relay_ips WHERE account_id = ?1 ORDER BY cidr";

static const char sql_gc_bodies[] =
        "SELECT id FROM bodies INDEXED BY bodies_unclaimed WHERE claimed = 0 AND created < ?1 "
        "ORDER BY created LIMIT ?2";
static const char sql_gc_messages[] =
        "SELECT id, body_id FROM messages INDEXED BY messages_received WHERE received < ?1 "
        "ORDER BY received, id LIMIT ?2";
static const char sql_events_delete[] = "DELETE FROM mail_events WHERE message_id = ?1";
static const char sql_rcpts_delete[] = "DELETE FROM recipients WHERE message_id = ?1";
static const char sql_msg_delete[] = "DELETE FROM messages WHERE id = ?1";

/* The lists: one statement per access path and direction. Parameters: ?1 account (0 = all),
 * ?2 ?3 received range, ?4 status, ?5 route (-1 = any), ?6 msg_id, ?7 from, ?8 to,
 * ?9 subject, ?10 client_ip, ?11 hold_reason ('' = any), ?12 processing only, ?13 ?14 the
 * cursor, ?15 limit. Every filter is in every statement; the path only picks the index. */
#define L_FILTER                                                                                   \
	" m.received BETWEEN ?2 AND ?3 AND (?1 = 0 OR m.account_id = ?1) "                         \
	"AND (?4 < 0 OR m.status = ?4) AND (?5 < 0 OR m.route = ?5) "                              \
	"AND (?6 = '' OR m.msg_id = ?6) "                                                          \
	"AND (?7 = '' OR lower(m.env_from) = lower(?7) OR lower(m.from_addr) = lower(?7)) "        \
	"AND (?8 = '' OR EXISTS (SELECT 1 FROM recipients t WHERE t.message_id = m.id "            \
	"AND lower(t.addr) = lower(?8))) "                                                         \
	"AND (?9 = '' OR instr(lower(m.subject), lower(?9)) > 0) "                                 \
	"AND (?10 = '' OR m.client_ip = ?10) AND (?11 = '' OR m.hold_reason = ?11) "               \
	"AND (?12 = 0 OR EXISTS (SELECT 1 FROM recipients t WHERE t.message_id = m.id "            \
	"AND t.queued = 1 AND t.state IN (" RS_INFLIGHT ", " RS_DEFERRED "))) "
#define L_DESC " AND (m.received, m.id) < (?13, ?14) ORDER BY m.received DESC, m.id DESC LIMIT ?15"
#define L_ASC  " AND (m.received, m.id) > (?13, ?14) ORDER BY m.received, m.id LIMIT ?15"
#define L_SEL  "SELECT " MSG_COLS " FROM "
#define L_ALL  L_SEL "messages m INDEXED BY messages_received WHERE" L_FILTER
#define L_ACCT                                                                                     \
	L_SEL "messages m INDEXED BY messages_account_received WHERE m.account_id = ?1 "           \
	      "AND" L_FILTER
#define L_STATUS                                                                                   \
	L_SEL "messages m INDEXED BY messages_account_status WHERE m.account_id = ?1 AND "         \
	      "m.status = ?4 AND" L_FILTER
#define L_MSGID                                                                                    \
	L_SEL "messages m INDEXED BY messages_msg_id WHERE m.msg_id <> '' AND m.msg_id = ?6 "      \
	      "AND" L_FILTER
#define L_PROC                                                                                     \
	L_SEL "(SELECT DISTINCT message_id AS mid FROM recipients INDEXED BY recipients_due "      \
	      "WHERE queued = 1 AND state IN (" RS_INFLIGHT ", " RS_DEFERRED ")) p "               \
	      "CROSS JOIN messages m ON m.id = p.mid WHERE" L_FILTER

enum list_path { LP_ALL, LP_ACCT, LP_STATUS, LP_MSGID, LP_PROC, LP_COUNT };

static const char *const sql_list[LP_COUNT][2] = {
        {L_ALL L_DESC, L_ALL L_ASC},       {L_ACCT L_DESC, L_ACCT L_ASC},
        {L_STATUS L_DESC, L_STATUS L_ASC}, {L_MSGID L_DESC, L_MSGID L_ASC},
        {L_PROC L_DESC, L_PROC L_ASC},
};

/* ---- helpers ---- */

static int bind_fail(struct sqlite_q *q, const char *what, struct err *e)
{
	return sqlite_fail(q->db, sqlite3_errcode(q->db), what, e);
}

/* Opens a transaction unless the caller has one: *own says whether we did. */
static int tx_open(struct store *st, int *own, struct err *e)
{
	*own = !sqlite_in_tx(st);
	return *own ? st->ops->tx_begin(st, e) : 0;
}

/* Ends what tx_open began: commit on rc 0, else rollback; rc or the commit's error. */
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

/* Runs a statement without parameters or rows. */
static int run0(struct store *st, const char *sql, const char *what, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (!rc)
		rc = sqlite_q_exec(&q, what, e);
	sqlite_q_done(&q);
	return rc;
}

/* Runs a statement whose parameters are the n int64 values of v; *changes gets the rows it
 * changed (may be NULL). */
static int run_ints(struct store *st, const char *sql, const int64_t *v, int n, int64_t *changes,
                    const char *what, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	for (int i = 0; i < n; i++)
		if (sqlite3_bind_int64(q.s, i + 1, v[i])) {
			rc = bind_fail(&q, what, e);
			goto out;
		}
	rc = sqlite_q_exec(&q, what, e);
	if (!rc && changes)
		*changes = sqlite3_changes64(q.db);
out:
	sqlite_q_done(&q);
	return rc;
}

/* Reads the MSG_COLS starting at column c into m (zeroed first). */
static int read_message(struct sqlite_q *q, int c, struct message *m, struct err *e)
{
	const unsigned char *t;

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(q->s, c + 0);
	m->account_id = sqlite3_column_int64(q->s, c + 1);
	m->received = sqlite3_column_int64(q->s, c + 2);
	m->body_id = sqlite3_column_int64(q->s, c + 3);
	sqlite_col_text(q, c + 4, m->acode, sizeof(m->acode));
	sqlite_col_text(q, c + 5, m->msg_id, sizeof(m->msg_id));
	sqlite_col_text(q, c + 6, m->env_from, sizeof(m->env_from));
	sqlite_col_text(q, c + 7, m->from_addr, sizeof(m->from_addr));
	sqlite_col_text(q, c + 8, m->from_name, sizeof(m->from_name));
	sqlite_col_text(q, c + 9, m->subject, sizeof(m->subject));
	m->size = sqlite3_column_int64(q->s, c + 10);
	sqlite_col_text(q, c + 11, m->client_ip, sizeof(m->client_ip));
	sqlite_col_text(q, c + 12, m->helo, sizeof(m->helo));
	sqlite_col_text(q, c + 13, m->tls_version, sizeof(m->tls_version));
	sqlite_col_text(q, c + 14, m->tls_cipher, sizeof(m->tls_cipher));
	m->route = sqlite3_column_int(q->s, c + 15);
	m->status = sqlite3_column_int(q->s, c + 16);
	sqlite_col_text(q, c + 17, m->hold_reason, sizeof(m->hold_reason));
	sqlite_col_text(q, c + 18, m->hold_reason_id, sizeof(m->hold_reason_id));
	m->held = sqlite3_column_int64(q->s, c + 19);
	m->spam_score = sqlite3_column_int(q->s, c + 20);
	m->processed = sqlite3_column_int(q->s, c + 21);
	m->has_attachments = sqlite3_column_int(q->s, c + 22);
	m->nrcpt = sqlite3_column_int(q->s, c + 23);
	if ((t = sqlite3_column_text(q->s, c + 24)) != NULL &&
	    !(m->attachments = strdup((const char *)t)))
		goto nomem;
	if ((t = sqlite3_column_text(q->s, c + 25)) != NULL && !(m->urls = strdup((const char *)t)))
		goto nomem;
	return 0;
nomem:
	message_release(m);
	return err_set(e, MC_ERR_NOMEM, "out of memory");
}

static void read_rcpt(struct sqlite_q *q, int c, struct mail_rcpt *r)
{
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(q->s, c + 0);
	r->message_id = sqlite3_column_int64(q->s, c + 1);
	sqlite_col_text(q, c + 2, r->addr, sizeof(r->addr));
	r->domain_id = sqlite3_column_int64(q->s, c + 3);
	r->state = sqlite3_column_int(q->s, c + 4);
	r->attempts = sqlite3_column_int(q->s, c + 5);
	r->next_attempt = sqlite3_column_int64(q->s, c + 6);
	r->lease_until = sqlite3_column_int64(q->s, c + 7);
	r->done = sqlite3_column_int64(q->s, c + 8);
	sqlite_col_text(q, c + 9, r->last_reply, sizeof(r->last_reply));
}

static int bind_text_or_null(struct sqlite_q *q, int i, const char *s)
{
	return s ? sqlite3_bind_text(q->s, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(q->s, i);
}

/* Adds the event ev of message id at time at. */
static int add_event(struct store *st, int64_t id, int64_t at, const struct mail_event *ev,
                     struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_insert_event, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, id) ||
	    sqlite3_bind_text(q.s, 2, ev->type, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(q.s, 3, at) ||
	    sqlite3_bind_text(q.s, 4, ev->data, -1, SQLITE_STATIC)) {
		rc = bind_fail(&q, "add mail event", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "add mail event", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no message %lld", (long long)id);
out:
	sqlite_q_done(&q);
	return rc;
}

static int add_events(struct store *st, int64_t id, int64_t at, const struct mail_event *ev, int n,
                      struct err *e)
{
	int rc = 0;

	for (int i = 0; !rc && i < n; i++)
		rc = add_event(st, id, at, &ev[i], e);
	return rc;
}

/* MC_ERR_NOT_FOUND if the account has no message id, else MC_ERR_STATE naming its status. */
static int why_not(struct store *st, int64_t account_id, int64_t id, const char *action,
                   struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_msg_status, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, id)) {
		rc = bind_fail(&q, action, e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW)
		rc = err_set(e, MC_ERR_STATE, "%s: message %lld is %s", action, (long long)id,
		             msg_status_name((enum msg_status)sqlite3_column_int(q.s, 0)));
	else if (rc == SQLITE_DONE)
		rc = err_set(e, MC_ERR_NOT_FOUND, "%s: no message %lld", action, (long long)id);
	else
		rc = sqlite_fail(q.db, rc, action, e);
out:
	sqlite_q_done(&q);
	return rc;
}

/* 1 if sql (parameter ?1 = now) finds a row, 0 if not, or an error. Pollers look first
 * without the write lock, so idle workers do not take turns at it with the intake. */
static int any_row(struct store *st, const char *sql, int64_t now, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, now)) {
		rc = bind_fail(&q, "look for work", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	rc = rc == SQLITE_ROW    ? 1
	     : rc == SQLITE_DONE ? 0
	                         : sqlite_fail(q.db, rc, "look for work", e);
out:
	sqlite_q_done(&q);
	return rc;
}

/* ---- intake ---- */

static int in_tx(struct store *st)
{
	return sqlite_in_tx(st);
}

/* Writes one message of a batch inside the batch's transaction. */
static int accept_one(struct store *st, struct mail_accept_req *r, struct err *e)
{
	struct message *m = r->m;
	int rejected = m->status == MSG_REJECTED;
	struct sqlite_q q;
	int64_t changes = 0;
	int rc = 0;

	if (m->body_id && !r->body) {
		rc = run_ints(st, sql_claim_body, &m->body_id, 1, &changes, "claim body", e);
		if (!rc && changes == 0)
			rc = err_set(
			        e, MC_ERR_NOT_FOUND,
			        "message body %lld does not exist or belongs to another message",
			        (long long)m->body_id);
		if (rc)
			return rc;
	}
	rc = sqlite_q_prepare(st, sql_insert_msg, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, m->account_id) || sqlite3_bind_int64(q.s, 2, m->received) ||
	    sqlite3_bind_int64(q.s, 3, m->body_id) ||
	    sqlite_bind_text(&q, 4, m->acode, sizeof(m->acode)) ||
	    sqlite_bind_text(&q, 5, m->msg_id, sizeof(m->msg_id)) ||
	    sqlite_bind_text(&q, 6, m->env_from, sizeof(m->env_from)) ||
	    sqlite_bind_text(&q, 7, m->from_addr, sizeof(m->from_addr)) ||
	    sqlite_bind_text(&q, 8, m->from_name, sizeof(m->from_name)) ||
	    sqlite_bind_text(&q, 9, m->subject, sizeof(m->subject)) ||
	    sqlite3_bind_int64(q.s, 10, m->size) ||
	    sqlite_bind_text(&q, 11, m->client_ip, sizeof(m->client_ip)) ||
	    sqlite_bind_text(&q, 12, m->helo, sizeof(m->helo)) ||
	    sqlite_bind_text(&q, 13, m->tls_version, sizeof(m->tls_version)) ||
	    sqlite_bind_text(&q, 14, m->tls_cipher, sizeof(m->tls_cipher)) ||
	    sqlite3_bind_int(q.s, 15, m->route) || sqlite3_bind_int(q.s, 16, m->status) ||
	    sqlite_bind_text(&q, 17, m->hold_reason, sizeof(m->hold_reason)) ||
	    sqlite_bind_text(&q, 18, m->hold_reason_id, sizeof(m->hold_reason_id)) ||
	    sqlite3_bind_int64(q.s, 19, m->held) || sqlite3_bind_int(q.s, 20, m->spam_score) ||
	    sqlite3_bind_int(q.s, 21, m->has_attachments) || sqlite3_bind_int(q.s, 22, m->nrcpt) ||
	    bind_text_or_null(&q, 23, m->attachments) || bind_text_or_null(&q, 24, m->urls)) {
		rc = bind_fail(&q, "insert message", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "insert message", e);
	if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)m->account_id);
	if (rc)
		goto out;
	m->id = sqlite3_last_insert_rowid(q.db);
	sqlite_q_done(&q);
	rc = sqlite_q_prepare(st, sql_insert_rcpt, &q, e);
	for (int i = 0; !rc && i < r->nrcpts; i++) {
		const struct mail_rcpt *t = &r->rcpts[i];
		if (sqlite3_bind_int64(q.s, 1, m->id) ||
		    sqlite_bind_text(&q, 2, t->addr, sizeof(t->addr)) ||
		    sqlite3_bind_int64(q.s, 3, t->domain_id) ||
		    sqlite3_bind_int(q.s, 4, rejected ? RCPT_REJECTED : RCPT_PENDING) ||
		    sqlite3_bind_int64(q.s, 5, m->received) ||
		    sqlite3_bind_int64(q.s, 6, rejected ? m->received : 0)) {
			rc = bind_fail(&q, "insert recipient", e);
			break;
		}
		rc = sqlite_q_exec(&q, "insert recipient", e);
		sqlite3_reset(q.s);
	}
	sqlite_q_done(&q);
	if (!rc)
		rc = add_events(st, m->id, m->received, r->events, r->nevents, e);
out:
	sqlite_q_done(&q);
	return rc;
}

/* A small body given with its accept (mail_accept_req.body): written in the batch's
 * transaction, claimed from the start and in one chunk, so it costs no transaction of its
 * own and shares the batch's page writes. m->body_id gets its id. */
static int body_inline(struct store *st, struct mail_accept_req *r, struct err *e)
{
	struct message *m = r->m;
	struct sqlite_q q;
	int64_t id;
	int rc = sqlite_q_prepare(st, sql_body_inline, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, (int64_t)r->body_len) ||
	    sqlite3_bind_int64(q.s, 2, m->received)) {
		rc = bind_fail(&q, "new body", e);
		goto out;
	}
	if ((rc = sqlite_q_exec(&q, "new body", e)) != 0)
		goto out;
	id = sqlite3_last_insert_rowid(q.db);
	sqlite_q_done(&q);
	if (r->body_len > 0) {
		if ((rc = sqlite_q_prepare(st, sql_body_chunk, &q, e)) != 0)
			goto out;
		if (sqlite3_bind_int64(q.s, 1, id) || sqlite3_bind_int(q.s, 2, 0) ||
		    sqlite3_bind_blob(q.s, 3, r->body, (int)r->body_len, SQLITE_STATIC)) {
			rc = bind_fail(&q, "write body chunk", e);
			goto out;
		}
		if ((rc = sqlite_q_exec(&q, "write body chunk", e)) != 0)
			goto out;
	}
	m->body_id = id;
out:
	sqlite_q_done(&q);
	return rc;
}

static int accept_batch(struct store *st, struct mail_accept_req *const *reqs, int n, struct err *e)
{
	sqlite3 *db = sqlite_conn_db(st, e);
	int rc;

	if (!db)
		return e ? e->code : MC_ERR_STORE;
	rc = sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(db, rc, "make the intake durable", e);
	sqlite_intake_writes(st, 1);
	rc = st->ops->tx_begin(st, e);
	for (int i = 0; !rc && i < n; i++) {
		struct mail_accept_req *r = reqs[i];
		rc = run0(st, sql_savepoint, "accept message", e);
		if (rc)
			break;
		r->rc = r->body ? body_inline(st, r, &r->err) : 0;
		if (!r->rc)
			r->rc = accept_one(st, r, &r->err);
		if (r->rc && r->body)
			r->m->body_id = 0;
		if (!r->rc) {
			rc = run0(st, sql_release, "accept message", e);
		} else if (sqlite3_get_autocommit(db)) {
			/* an I/O error or a full disk ended the whole transaction */
			rc = r->rc;
			if (e)
				*e = r->err;
		} else {
			r->m->id = 0;
			rc = run0(st, sql_rollback_to, "accept message", e);
			if (!rc)
				rc = run0(st, sql_release, "accept message", e);
		}
	}
	if (!rc)
		rc = st->ops->tx_commit(st, e);
	else
		st->ops->tx_rollback(st);
	sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	sqlite_intake_writes(st, 0);
	return rc;
}

/* ---- bodies ---- */

static int body_new(struct store *st, int64_t size, int64_t created, int64_t *body_id,
                    struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_body_new, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, size) || sqlite3_bind_int64(q.s, 2, created)) {
		rc = bind_fail(&q, "new body", e);
		goto out;
	}
	sqlite_intake_writes(st, 1);
	rc = sqlite_q_exec(&q, "new body", e);
	sqlite_intake_writes(st, 0);
	if (!rc)
		*body_id = sqlite3_last_insert_rowid(q.db);
out:
	sqlite_q_done(&q);
	return rc;
}

static int body_chunk(struct store *st, int64_t body_id, int seq, const void *data, size_t n,
                      struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_body_chunk, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, body_id) || sqlite3_bind_int(q.s, 2, seq) ||
	    sqlite3_bind_blob(q.s, 3, data, (int)n, SQLITE_STATIC)) {
		rc = bind_fail(&q, "write body chunk", e);
		goto out;
	}
	sqlite_intake_writes(st, 1);
	rc = sqlite_q_exec(&q, "write body chunk", e);
	sqlite_intake_writes(st, 0);
out:
	sqlite_q_done(&q);
	return rc;
}

/* Deletes body id and its chunks (the caller checked it may). */
static int body_delete(struct store *st, int64_t id, struct err *e)
{
	int rc = run_ints(st, sql_chunks_delete, &id, 1, NULL, "delete body", e);

	return rc ? rc : run_ints(st, sql_body_delete, &id, 1, NULL, "delete body", e);
}

static void body_drop(struct store *st, int64_t body_id)
{
	struct sqlite_q q;
	int own, rc = tx_open(st, &own, NULL);

	if (rc)
		return;
	rc = sqlite_q_prepare(st, sql_body_unclaimed, &q, NULL);
	if (!rc && !sqlite3_bind_int64(q.s, 1, body_id) && sqlite3_step(q.s) == SQLITE_ROW) {
		sqlite_q_done(&q);
		rc = body_delete(st, body_id, NULL);
	}
	sqlite_q_done(&q);
	tx_close(st, own, rc, NULL);
}

static int body_get(struct store *st, int64_t body_id, char **data, size_t *len, struct err *e)
{
	struct sqlite_q q;
	char *buf = NULL;
	int64_t size = -1;
	size_t got = 0;
	int rc = sqlite_q_prepare(st, sql_body_get, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, body_id)) {
		rc = bind_fail(&q, "read body", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		const void *p;
		size_t n;
		if (!buf) {
			size = sqlite3_column_int64(q.s, 0);
			if (size < 0 || (uint64_t)size > SIZE_MAX - 1) {
				rc = err_set(e, MC_ERR_STORE, "body %lld has a bad size",
				             (long long)body_id);
				goto out;
			}
			buf = malloc((size_t)size + 1);
			if (!buf) {
				rc = err_set(e, MC_ERR_NOMEM, "out of memory");
				goto out;
			}
		}
		p = sqlite3_column_blob(q.s, 1);
		n = (size_t)sqlite3_column_bytes(q.s, 1);
		if (n > (size_t)size - got) {
			rc = err_set(e, MC_ERR_STORE, "body %lld is longer than its size",
			             (long long)body_id);
			goto out;
		}
		if (n)
			memcpy(buf + got, p, n);
		got += n;
	}
	if (rc != SQLITE_DONE) {
		rc = sqlite_fail(q.db, rc, "read body", e);
		goto out;
	}
	if (!buf)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no message body %lld", (long long)body_id);
	else if (got != (size_t)size)
		rc = err_set(e, MC_ERR_STORE, "body %lld is incomplete (%zu of %lld bytes)",
		             (long long)body_id, got, (long long)size);
	else
		rc = 0;
out:
	sqlite_q_done(&q);
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
	struct sqlite_q q;
	int own, rc = sqlite_in_tx(st) ? 1 : any_row(st, sql_any_unprocessed, now, e);

	if (rc <= 0)
		return rc ? rc : err_set(e, MC_ERR_NOT_FOUND, "no message waits for processing");
	rc = tx_open(st, &own, e);
	if (rc)
		return rc;
	rc = sqlite_q_prepare(st, sql_lease_msg, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, now) || sqlite3_bind_int64(q.s, 2, lease_until)) {
		rc = bind_fail(&q, "lease a message", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		rc = read_message(&q, 0, out, e);
		if (!rc && sqlite3_step(q.s) != SQLITE_DONE)
			rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "lease a message", e);
	} else if (rc == SQLITE_DONE) {
		rc = err_set(e, MC_ERR_NOT_FOUND, "no message waits for processing");
	} else {
		rc = sqlite_fail(q.db, rc, "lease a message", e);
	}
out:
	sqlite_q_done(&q);
	if (rc && rc != MC_ERR_NOT_FOUND)
		message_release(out);
	return tx_close(st, own, rc, e); /* nothing leased: a rollback of nothing */
}

static int processed(struct store *st, const struct message *m, int32_t status, int64_t now,
                     const struct mail_event *events, int nevents, struct err *e)
{
	struct sqlite_q q;
	int64_t held = status == MSG_HELD ? (m->held ? m->held : now) : m->held;
	int own, rc = tx_open(st, &own, e);

	if (rc)
		return rc;
	rc = sqlite_q_prepare(st, sql_processed, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, m->id) || sqlite3_bind_int(q.s, 2, status) ||
	    sqlite_bind_text(&q, 3, m->hold_reason, sizeof(m->hold_reason)) ||
	    sqlite_bind_text(&q, 4, m->hold_reason_id, sizeof(m->hold_reason_id)) ||
	    sqlite3_bind_int64(q.s, 5, held) || sqlite3_bind_int(q.s, 6, m->spam_score) ||
	    sqlite3_bind_int(q.s, 7, m->has_attachments) ||
	    bind_text_or_null(&q, 8, m->attachments) || bind_text_or_null(&q, 9, m->urls)) {
		rc = bind_fail(&q, "record processing", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "record processing", e);
	if (!rc && sqlite3_changes(q.db) == 0) {
		sqlite_q_done(&q);
		rc = why_not(st, 0, m->id, "record processing", e);
		goto out;
	}
	sqlite_q_done(&q);
	if (!rc) {
		/* pending → pending and queued for delivery, held, or (discarded) done */
		int64_t v[6] = {m->id,
		                RCPT_PENDING,
		                status == MSG_HELD        ? RCPT_HELD
		                : status == MSG_DISCARDED ? RCPT_REJECTED
		                                          : RCPT_PENDING,
		                now,
		                status == MSG_PROCESSING,
		                status == MSG_DISCARDED ? now : 0};
		rc = run_ints(st, sql_rcpts_move, v, 6, NULL, "move recipients", e);
	}
	if (!rc)
		rc = add_events(st, m->id, now, events, nevents, e);
out:
	sqlite_q_done(&q);
	return tx_close(st, own, rc, e);
}

/* ---- reading ---- */

static int message_get(struct store *st, int64_t account_id, int64_t id, struct message *out,
                       struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_get, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, id)) {
		rc = bind_fail(&q, "get message", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW)
		rc = read_message(&q, 0, out, e);
	else if (rc == SQLITE_DONE)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no message %lld", (long long)id);
	else
		rc = sqlite_fail(q.db, rc, "get message", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int message_rcpts(struct store *st, int64_t message_id,
                         int (*fn)(void *arg, const struct mail_rcpt *r), void *arg, struct err *e)
{
	struct mail_rcpt r;
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_rcpts, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, message_id)) {
		rc = bind_fail(&q, "list recipients", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		read_rcpt(&q, 0, &r);
		rc = fn(arg, &r);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list recipients", e);
out:
	sqlite_q_done(&q);
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
	struct message m;
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_list[path][f->oldest_first ? 1 : 0], &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, f->account_id) || sqlite3_bind_int64(q.s, 2, f->from_time) ||
	    sqlite3_bind_int64(q.s, 3, f->to_time) || sqlite3_bind_int(q.s, 4, f->status) ||
	    sqlite3_bind_int(q.s, 5, f->route) ||
	    sqlite_bind_text(&q, 6, f->msg_id, sizeof(f->msg_id)) ||
	    sqlite_bind_text(&q, 7, f->from, sizeof(f->from)) ||
	    sqlite_bind_text(&q, 8, f->to, sizeof(f->to)) ||
	    sqlite_bind_text(&q, 9, f->subject, sizeof(f->subject)) ||
	    sqlite_bind_text(&q, 10, f->client_ip, sizeof(f->client_ip)) ||
	    sqlite_bind_text(&q, 11, f->hold_reason, sizeof(f->hold_reason)) ||
	    sqlite3_bind_int(q.s, 12, f->processing_only) ||
	    sqlite3_bind_int64(q.s, 13, after_received) || sqlite3_bind_int64(q.s, 14, after_id) ||
	    sqlite3_bind_int(q.s, 15, limit)) {
		rc = bind_fail(&q, "list messages", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		rc = read_message(&q, 0, &m, e);
		if (rc)
			goto out;
		rc = fn(arg, &m);
		message_release(&m);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list messages", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int hold_summary(struct store *st, int64_t account_id,
                        int (*fn)(void *arg, const char *reason, int64_t count), void *arg,
                        struct err *e)
{
	char reason[MAIL_REASON_SIZE];
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_hold_summary, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id)) {
		rc = bind_fail(&q, "hold summary", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		sqlite_col_text(&q, 0, reason, sizeof(reason));
		rc = fn(arg, reason, sqlite3_column_int64(q.s, 1));
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "hold summary", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int queue_counts(struct store *st, int64_t account_id, int64_t from, int64_t to,
                        int (*fn)(void *arg, int route, int state, int64_t n), void *arg,
                        struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_queue_counts, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, from) ||
	    sqlite3_bind_int64(q.s, 3, to)) {
		rc = bind_fail(&q, "count queues", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		rc = fn(arg, sqlite3_column_int(q.s, 0), sqlite3_column_int(q.s, 1),
		        sqlite3_column_int64(q.s, 2));
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "count queues", e);
out:
	sqlite_q_done(&q);
	return rc;
}

/* ---- the hold queue ---- */

static int hold_action(struct store *st, int64_t account_id, int64_t id, int64_t now, int release,
                       const struct mail_event *ev, struct err *e)
{
	const char *what = release ? "release message" : "reject message";
	int64_t changes = 0;
	int own, rc = tx_open(st, &own, e);

	if (rc)
		return rc;
	{
		int64_t v[3] = {account_id, id, release ? MSG_RELEASED : MSG_REJECTED};
		rc = run_ints(st, sql_hold_action, v, 3, &changes, what, e);
	}
	if (!rc && changes == 0)
		rc = why_not(st, account_id, id, what, e);
	if (!rc) {
		int64_t v[6] = {id,  RCPT_HELD, release ? RCPT_PENDING : RCPT_REJECTED,
		                now, release,   release ? 0 : now};
		rc = run_ints(st, sql_rcpts_move, v, 6, NULL, what, e);
	}
	if (!rc && ev)
		rc = add_event(st, id, now, ev, e);
	return tx_close(st, own, rc, e);
}

/* ---- delivery ---- */

static int read_job(struct store *st, int64_t rcpt_id, struct delivery_job *j, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_job, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, rcpt_id)) {
		rc = bind_fail(&q, "read delivery job", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc != SQLITE_ROW) {
		rc = sqlite_fail(q.db, rc == SQLITE_DONE ? SQLITE_INTERNAL : rc,
		                 "read delivery job", e);
		goto out;
	}
	memset(j, 0, sizeof(*j));
	read_rcpt(&q, 0, &j->rcpt);
	j->account_id = sqlite3_column_int64(q.s, 10);
	j->body_id = sqlite3_column_int64(q.s, 11);
	j->received = sqlite3_column_int64(q.s, 12);
	j->route = sqlite3_column_int(q.s, 13);
	sqlite_col_text(&q, 14, j->env_from, sizeof(j->env_from));
	sqlite_col_text(&q, 15, j->acode, sizeof(j->acode));
	sqlite_col_text(&q, 16, j->dest, sizeof(j->dest));
	rc = 0;
out:
	sqlite_q_done(&q);
	return rc;
}

static int delivery_lease(struct store *st, int64_t now, int64_t lease_until,
                          struct delivery_job *jobs, int max, int *n, struct err *e)
{
	struct sqlite_q q;
	int64_t *ids = NULL;
	int k = 0, own, rc;

	rc = sqlite_in_tx(st) ? 1 : any_row(st, sql_any_due, now, e);
	if (rc <= 0)
		return rc;
	ids = calloc((size_t)max, sizeof(*ids));
	if (!ids)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	rc = tx_open(st, &own, e);
	if (rc) {
		free(ids);
		return rc;
	}
	rc = sqlite_q_prepare(st, sql_due, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, now) || sqlite3_bind_int(q.s, 2, max)) {
		rc = bind_fail(&q, "lease recipients", e);
		goto out;
	}
	while (k < max && (rc = sqlite3_step(q.s)) == SQLITE_ROW)
		ids[k++] = sqlite3_column_int64(q.s, 0);
	rc = rc == SQLITE_DONE || rc == SQLITE_ROW || k == max
	             ? 0
	             : sqlite_fail(q.db, rc, "lease recipients", e);
	sqlite_q_done(&q);
	for (int i = 0; !rc && i < k; i++) {
		int64_t v[2] = {ids[i], lease_until};
		rc = run_ints(st, sql_lease_rcpt, v, 2, NULL, "lease recipients", e);
		if (!rc)
			rc = read_job(st, ids[i], &jobs[i], e);
	}
out:
	sqlite_q_done(&q);
	rc = tx_close(st, own, rc, e);
	*n = rc ? 0 : k;
	free(ids);
	return rc;
}

static int delivery_done(struct store *st, int64_t rcpt_id, int64_t lease_until, int32_t state,
                         int64_t next_attempt, int64_t now, const char *reply,
                         const struct mail_event *ev, int *bounce, struct err *e)
{
	struct sqlite_q q;
	int64_t msg = 0, open_n = 0, bad = 0, changes = 0;
	int own, rc = tx_open(st, &own, e);

	if (rc)
		return rc;
	rc = sqlite_q_prepare(st, sql_done, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, rcpt_id) || sqlite3_bind_int64(q.s, 2, lease_until) ||
	    sqlite3_bind_int(q.s, 3, state) || sqlite3_bind_int64(q.s, 4, next_attempt) ||
	    sqlite3_bind_int64(q.s, 5, state == RCPT_DEFERRED ? 0 : now) ||
	    sqlite_bind_text(&q, 6, reply, MAIL_REPLY_SIZE)) {
		rc = bind_fail(&q, "record delivery", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		msg = sqlite3_column_int64(q.s, 0);
		rc = sqlite3_step(q.s);
	}
	if (rc != SQLITE_DONE) {
		rc = sqlite_fail(q.db, rc, "record delivery", e);
		goto out;
	}
	rc = 0;
	sqlite_q_done(&q);
	if (!msg) {
		/* gone, or leased again by another worker after our lease ran out */
		rc = sqlite_q_prepare(st, sql_rcpt_exists, &q, e);
		if (!rc && sqlite3_bind_int64(q.s, 1, rcpt_id))
			rc = bind_fail(&q, "record delivery", e);
		if (!rc) {
			rc = sqlite3_step(q.s);
			if (rc == SQLITE_ROW)
				rc = err_set(e, MC_ERR_STATE,
				             "the lease on recipient %lld was lost: not recorded",
				             (long long)rcpt_id);
			else if (rc == SQLITE_DONE)
				rc = err_set(e, MC_ERR_NOT_FOUND, "no recipient %lld",
				             (long long)rcpt_id);
			else
				rc = sqlite_fail(q.db, rc, "record delivery", e);
		}
		goto out;
	}
	rc = sqlite_q_prepare(st, sql_msg_tally, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, msg) || sqlite3_step(q.s) != SQLITE_ROW) {
		rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "record delivery", e);
		goto out;
	}
	open_n = sqlite3_column_int64(q.s, 0);
	bad = sqlite3_column_int64(q.s, 1);
	sqlite_q_done(&q);
	if (open_n == 0) {
		int64_t v[2] = {msg, bad ? MSG_BOUNCED : MSG_DELIVERED};
		rc = run_ints(st, sql_msg_final, v, 2, &changes, "record delivery", e);
		if (!rc && bad && changes == 1)
			*bounce = 1;
	}
	if (!rc && ev)
		rc = add_event(st, msg, now, ev, e);
out:
	sqlite_q_done(&q);
	rc = tx_close(st, own, rc, e);
	if (rc)
		*bounce = 0;
	return rc;
}

/* ---- routes and relays ---- */

static int mail_domain(struct store *st, const char *name, struct mail_domain *out, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_mail_domain, &q, e);

	if (rc)
		goto out;
	if (sqlite_bind_text(&q, 1, name, 254)) {
		rc = bind_fail(&q, "find mail domain", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		out->domain_id = sqlite3_column_int64(q.s, 0);
		out->account_id = sqlite3_column_int64(q.s, 1);
		sqlite_col_text(&q, 2, out->inbound_type, sizeof(out->inbound_type));
		sqlite_col_text(&q, 3, out->route, sizeof(out->route));
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = err_set(e, MC_ERR_NOT_FOUND, "'%s' is not an internal domain", name);
	} else {
		rc = sqlite_fail(q.db, rc, "find mail domain", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

static int set_route(struct store *st, int64_t account_id, const char *domain, const char *route,
                     struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_set_route, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite_bind_text(&q, 2, domain, 254) ||
	    sqlite_bind_text(&q, 3, route, MAIL_ROUTE_SIZE)) {
		rc = bind_fail(&q, "set mail route", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "set mail route", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "'%s' is not an internal domain of the account",
		             domain);
out:
	sqlite_q_done(&q);
	return rc;
}

static int relay_write(struct store *st, const char *sql, int64_t account_id, const char *cidr,
                       int64_t now, const char *what, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite_bind_text(&q, 2, cidr, 64) ||
	    (sql == sql_relay_add && sqlite3_bind_int64(q.s, 3, now))) {
		rc = bind_fail(&q, what, e);
		goto out;
	}
	rc = sqlite_q_exec(&q, what, e);
	if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "relay address '%s' is in the list already", cidr);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)account_id);
	else if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "relay address '%s' is not in the list", cidr);
out:
	sqlite_q_done(&q);
	return rc;
}

static int relay_add(struct store *st, int64_t account_id, const char *cidr, int64_t now,
                     struct err *e)
{
	return relay_write(st, sql_relay_add, account_id, cidr, now, "add relay address", e);
}

static int relay_remove(struct store *st, int64_t account_id, const char *cidr, struct err *e)
{
	return relay_write(st, sql_relay_remove, account_id, cidr, 0, "remove relay address", e);
}

static int relay_list(struct store *st, int64_t account_id, int (*fn)(void *arg, const char *cidr),
                      void *arg, struct err *e)
{
	char cidr[64];
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_relay_list, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id)) {
		rc = bind_fail(&q, "list relay addresses", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		sqlite_col_text(&q, 0, cidr, sizeof(cidr));
		rc = fn(arg, cidr);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list relay addresses", e);
out:
	sqlite_q_done(&q);
	return rc;
}

/* ---- housekeeping ---- */

/* Up to max ids (and a second column, if pairs) selected by sql with (?1 cutoff, ?2 max). */
static int select_ids(struct store *st, const char *sql, int64_t cutoff, int max, int64_t *ids,
                      int64_t *second, int *n, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	*n = 0;
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, cutoff) || sqlite3_bind_int(q.s, 2, max)) {
		rc = bind_fail(&q, "purge mail", e);
		goto out;
	}
	while (*n < max && (rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		ids[*n] = sqlite3_column_int64(q.s, 0);
		if (second)
			second[*n] = sqlite3_column_int64(q.s, 1);
		(*n)++;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "purge mail", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int gc_step(struct store *st, int64_t body_cutoff, int64_t msg_cutoff, int batch, int *more,
                   struct err *e)
{
	int64_t *ids = calloc((size_t)batch * 2, sizeof(*ids)), *bodies = ids + batch;
	int nb = 0, nm = 0, own, rc;

	*more = 0;
	if (!ids)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	rc = tx_open(st, &own, e);
	if (rc) {
		free(ids);
		return rc;
	}
	rc = select_ids(st, sql_gc_bodies, body_cutoff, batch, ids, NULL, &nb, e);
	for (int i = 0; !rc && i < nb; i++)
		rc = body_delete(st, ids[i], e);
	if (!rc)
		rc = select_ids(st, sql_gc_messages, msg_cutoff, batch, ids, bodies, &nm, e);
	for (int i = 0; !rc && i < nm; i++) {
		rc = run_ints(st, sql_events_delete, &ids[i], 1, NULL, "purge mail", e);
		if (!rc)
			rc = run_ints(st, sql_rcpts_delete, &ids[i], 1, NULL, "purge mail", e);
		if (!rc)
			rc = run_ints(st, sql_msg_delete, &ids[i], 1, NULL, "purge mail", e);
		if (!rc && bodies[i])
			rc = body_delete(st, bodies[i], e);
	}
	rc = tx_close(st, own, rc, e);
	*more = !rc && (nb == batch || nm == batch);
	free(ids);
	return rc;
}

/* One process owns a SQLite store's mail: what was leased when it stopped was its own. */
static int reclaim(struct store *st, int64_t now, struct err *e)
{
	int64_t v[1] = {now};
	int own, rc = tx_open(st, &own, e);

	if (rc)
		return rc;
	rc = run_ints(st,
	              "UPDATE recipients SET next_attempt = ?1 WHERE state = " RS_INFLIGHT
	              " AND next_attempt > ?1",
	              v, 1, NULL, "reclaim leases", e);
	if (!rc)
		rc = run_ints(st, "UPDATE messages SET lease_until = 0 WHERE processed = 0", v, 0,
		              NULL, "reclaim leases", e);
	return tx_close(st, own, rc, e);
}

const struct store_mail_ops sqlite_mail_ops = {
        .one_writer = 1,
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
        .reclaim = reclaim,
};
