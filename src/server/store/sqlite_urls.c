/* SQLite records of URL protection (schema/sqlite/010_urls.sql): managed URLs, and the click
 * events the click logger inserts in batches (one prepared INSERT stepped per event inside
 * the batch's transaction). */
#include "sqlite_int.h"
#include "store_urls_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define COLS                                                                                       \
	"id, account_id, scheme, domain, port, path, query, match_type, action, comment, "         \
	"disable_user_awareness, disable_rewrite, disable_log_click, created"

static const char sql_create[] =
        "INSERT INTO managed_urls(account_id, scheme, domain, port, path, query, match_type, "
        "action, comment, disable_user_awareness, disable_rewrite, disable_log_click, created) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
static const char sql_delete[] = "DELETE FROM managed_urls WHERE id = ?2 AND account_id = ?1";
static const char sql_list[] = "SELECT " COLS " FROM managed_urls WHERE account_id = ?1 "
                               "AND id > ?2 ORDER BY id LIMIT ?3";
static const char sql_for_domains[] = "SELECT " COLS " FROM managed_urls WHERE account_id = ?1 "
                                      "AND domain IN (SELECT value FROM json_each(?2)) ORDER BY id";
/* a message deleted by retention leaves the click with no message */
static const char sql_event[] =
        "INSERT INTO mail_events(account_id, message_id, type, at, data) "
        "VALUES (?1, (SELECT id FROM messages WHERE id = ?2), 'ttp_url', ?3, ?4)";

static const char *match_name(int m)
{
	return m == MURL_DOMAIN ? "domain" : "explicit";
}

static const char *action_name(int a)
{
	return a == MURL_PERMIT ? "permit" : "block";
}

static void read_row(struct sqlite_q *q, struct managed_url *u)
{
	char m[16], a[16];

	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(q->s, 0);
	u->account_id = sqlite3_column_int64(q->s, 1);
	sqlite_col_text(q, 2, u->scheme, sizeof(u->scheme));
	sqlite_col_text(q, 3, u->domain, sizeof(u->domain));
	u->port = sqlite3_column_int(q->s, 4);
	sqlite_col_text(q, 5, u->path, sizeof(u->path));
	sqlite_col_text(q, 6, u->query, sizeof(u->query));
	sqlite_col_text(q, 7, m, sizeof(m));
	sqlite_col_text(q, 8, a, sizeof(a));
	u->match_type = strcmp(m, "domain") == 0 ? MURL_DOMAIN : MURL_EXPLICIT;
	u->action = strcmp(a, "permit") == 0 ? MURL_PERMIT : MURL_BLOCK;
	sqlite_col_text(q, 9, u->comment, sizeof(u->comment));
	u->disable_user_awareness = sqlite3_column_int(q->s, 10);
	u->disable_rewrite = sqlite3_column_int(q->s, 11);
	u->disable_log_click = sqlite3_column_int(q->s, 12);
	u->created = sqlite3_column_int64(q->s, 13);
}

static int bind_fail(struct sqlite_q *q, const char *what, struct err *e)
{
	return sqlite_fail(q->db, sqlite3_errcode(q->db), what, e);
}

static int murl_create(struct store *st, struct managed_url *u, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_create, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, u->account_id) ||
	    sqlite_bind_text(&q, 2, u->scheme, sizeof(u->scheme)) ||
	    sqlite_bind_text(&q, 3, u->domain, sizeof(u->domain)) ||
	    sqlite3_bind_int(q.s, 4, u->port) ||
	    sqlite_bind_text(&q, 5, u->path, sizeof(u->path)) ||
	    sqlite_bind_text(&q, 6, u->query, sizeof(u->query)) ||
	    sqlite3_bind_text(q.s, 7, match_name(u->match_type), -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(q.s, 8, action_name(u->action), -1, SQLITE_STATIC) ||
	    sqlite_bind_text(&q, 9, u->comment, sizeof(u->comment)) ||
	    sqlite3_bind_int(q.s, 10, u->disable_user_awareness) ||
	    sqlite3_bind_int(q.s, 11, u->disable_rewrite) ||
	    sqlite3_bind_int(q.s, 12, u->disable_log_click) ||
	    sqlite3_bind_int64(q.s, 13, u->created)) {
		rc = bind_fail(&q, "create managed URL", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "create managed URL", e);
	if (rc == 0)
		u->id = sqlite3_last_insert_rowid(q.db);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)u->account_id);
	else if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "the managed URL exists");
out:
	sqlite_q_done(&q);
	return rc;
}

static int murl_delete(struct store *st, int64_t account_id, int64_t id, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_delete, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, id)) {
		rc = bind_fail(&q, "delete managed URL", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "delete managed URL", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such managed URL");
out:
	sqlite_q_done(&q);
	return rc;
}

static int murl_list(struct store *st, int64_t account_id, int64_t after_id, size_t limit,
                     int (*fn)(void *arg, const struct managed_url *u), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct managed_url u;
	int rc = sqlite_q_prepare(st, sql_list, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, after_id) ||
	    sqlite3_bind_int64(q.s, 3, limit > INT64_MAX ? INT64_MAX : (int64_t)limit)) {
		rc = bind_fail(&q, "list managed URLs", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		read_row(&q, &u);
		rc = fn(arg, &u);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list managed URLs", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int murl_for_domains(struct store *st, int64_t account_id, const char *domains,
                            int (*fn)(void *arg, const struct managed_url *u), void *arg,
                            struct err *e)
{
	struct sqlite_q q;
	struct managed_url u;
	int rc = sqlite_q_prepare(st, sql_for_domains, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) ||
	    sqlite3_bind_text(q.s, 2, domains, -1, SQLITE_STATIC)) {
		rc = bind_fail(&q, "managed URLs of a host", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		read_row(&q, &u);
		rc = fn(arg, &u);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "managed URLs of a host", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int click_events_add(struct store *st, const struct click_event *ev, int n, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_event, &q, e);

	for (int i = 0; !rc && i < n; i++) {
		if (sqlite3_bind_int64(q.s, 1, ev[i].account_id) ||
		    sqlite3_bind_int64(q.s, 2, ev[i].message_id) ||
		    sqlite3_bind_int64(q.s, 3, ev[i].at) ||
		    sqlite3_bind_text(q.s, 4, ev[i].data, -1, SQLITE_STATIC)) {
			rc = bind_fail(&q, "log a click", e);
			break;
		}
		rc = sqlite_q_exec(&q, "log a click", e);
		sqlite3_reset(q.s);
	}
	sqlite_q_done(&q);
	return rc;
}

const struct store_urls_ops sqlite_urls_ops = {
        .murl_create = murl_create,
        .murl_delete = murl_delete,
        .murl_list = murl_list,
        .murl_for_domains = murl_for_domains,
        .click_events_add = click_events_add,
};
