/* PostgreSQL records of URL protection (schema/postgres/010_urls.sql): the twin of
 * sqlite_urls.c. Writes hold the store's write lock (pg.c) like every other write. A batch
 * of click events is one INSERT of a JSON array, made after the event ordering lock. */
#include "pg_int.h"
#include "store_urls_int.h"

#include "common/err.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* The event ordering protocol of pg_int.h (PG_EVENT_WRITE_LOCK): the shared event lock,
 * taken in the batch's transaction before any mail_events id is assigned. */
#define EVENT_LOCK_SQL "SELECT pg_advisory_xact_lock_shared(" PG_EVENT_LOCK_KEYS ")"

#define COLS                                                                                       \
	"id, account_id, scheme, domain, port, path, query, match_type, action, comment, "         \
	"disable_user_awareness, disable_rewrite, disable_log_click, created"

static const char sql_create[] =
        "INSERT INTO managed_urls(account_id, scheme, domain, port, path, query, match_type, "
        "action, comment, disable_user_awareness, disable_rewrite, disable_log_click, created) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id";
static const char sql_delete[] = "DELETE FROM managed_urls WHERE id = $2 AND account_id = $1";
static const char sql_list[] = "SELECT " COLS " FROM managed_urls WHERE account_id = $1 "
                               "AND id > $2 ORDER BY id LIMIT $3";
static const char sql_for_domains[] =
        "SELECT " COLS " FROM managed_urls WHERE account_id = $1 "
        "AND domain IN (SELECT json_array_elements_text($2::json)) ORDER BY id";
static const char sql_events[] =
        "INSERT INTO mail_events(account_id, message_id, type, at, data) "
        "SELECT x.a, (SELECT id FROM messages WHERE id = x.m), 'ttp_url', x.t, x.d::json "
        "FROM ROWS FROM (json_to_recordset($1::json) AS (a int8, m int8, t int8, d text)) "
        "WITH ORDINALITY AS x(a, m, t, d, ord) ORDER BY x.ord";

static const char *match_name(int m)
{
	return m == MURL_DOMAIN ? "domain" : "explicit";
}

static const char *action_name(int a)
{
	return a == MURL_PERMIT ? "permit" : "block";
}

static void read_row(const PGresult *r, int i, struct managed_url *u)
{
	char m[16], a[16];

	memset(u, 0, sizeof(*u));
	u->id = pg_col_int(r, i, 0);
	u->account_id = pg_col_int(r, i, 1);
	pg_col_text(r, i, 2, u->scheme, sizeof(u->scheme));
	pg_col_text(r, i, 3, u->domain, sizeof(u->domain));
	u->port = (int32_t)pg_col_int(r, i, 4);
	pg_col_text(r, i, 5, u->path, sizeof(u->path));
	pg_col_text(r, i, 6, u->query, sizeof(u->query));
	pg_col_text(r, i, 7, m, sizeof(m));
	pg_col_text(r, i, 8, a, sizeof(a));
	u->match_type = strcmp(m, "domain") == 0 ? MURL_DOMAIN : MURL_EXPLICIT;
	u->action = strcmp(a, "permit") == 0 ? MURL_PERMIT : MURL_BLOCK;
	pg_col_text(r, i, 9, u->comment, sizeof(u->comment));
	u->disable_user_awareness = (int32_t)pg_col_int(r, i, 10);
	u->disable_rewrite = (int32_t)pg_col_int(r, i, 11);
	u->disable_log_click = (int32_t)pg_col_int(r, i, 12);
	u->created = pg_col_int(r, i, 13);
}

static int murl_create(struct store *st, struct managed_url *u, struct err *e)
{
	struct pg_params q;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&q);
	pg_p_int(&q, u->account_id);
	pg_p_text(&q, u->scheme, sizeof(u->scheme));
	pg_p_text(&q, u->domain, sizeof(u->domain));
	pg_p_int(&q, u->port);
	pg_p_text(&q, u->path, sizeof(u->path));
	pg_p_text(&q, u->query, sizeof(u->query));
	pg_p_text(&q, match_name(u->match_type), 16);
	pg_p_text(&q, action_name(u->action), 16);
	pg_p_text(&q, u->comment, sizeof(u->comment));
	pg_p_int(&q, u->disable_user_awareness);
	pg_p_int(&q, u->disable_rewrite);
	pg_p_int(&q, u->disable_log_click);
	pg_p_int(&q, u->created);
	rc = pg_run(st, sql_create, PG_WRITE, &q, &r, "create managed URL", e);
	if (!rc && PQntuples(r) == 1)
		u->id = pg_col_int(r, 0, 0);
	else if (!rc)
		rc = err_set(e, MC_ERR_STORE, "create managed URL returned no row");
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)u->account_id);
	else if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "the managed URL exists");
	PQclear(r);
	return rc;
}

static int murl_delete(struct store *st, int64_t account_id, int64_t id, struct err *e)
{
	struct pg_params q;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&q);
	pg_p_int(&q, account_id);
	pg_p_int(&q, id);
	rc = pg_run(st, sql_delete, PG_WRITE, &q, &r, "delete managed URL", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such managed URL");
	PQclear(r);
	return rc;
}

static int murl_list(struct store *st, int64_t account_id, int64_t after_id, size_t limit,
                     int (*fn)(void *arg, const struct managed_url *u), void *arg, struct err *e)
{
	struct pg_params q;
	struct managed_url *u = malloc(sizeof(*u));
	PGresult *r = NULL;
	int rc;

	if (!u)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	pg_p_init(&q);
	pg_p_int(&q, account_id);
	pg_p_int(&q, after_id);
	pg_p_int(&q, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	rc = pg_run(st, sql_list, PG_READ, &q, &r, "list managed URLs", e);
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		read_row(r, i, u);
		rc = fn(arg, u);
	}
	PQclear(r);
	free(u);
	return rc;
}

static int murl_for_domains(struct store *st, int64_t account_id, const char *domains,
                            int (*fn)(void *arg, const struct managed_url *u), void *arg,
                            struct err *e)
{
	struct pg_params q;
	struct managed_url *u = malloc(sizeof(*u));
	PGresult *r = NULL;
	int rc;

	if (!u)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	pg_p_init(&q);
	pg_p_int(&q, account_id);
	pg_p_text(&q, domains, strlen(domains) + 1);
	rc = pg_run(st, sql_for_domains, PG_READ, &q, &r, "managed URLs of a host", e);
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		read_row(r, i, u);
		rc = fn(arg, u);
	}
	PQclear(r);
	free(u);
	return rc;
}

static int click_events_add(struct store *st, const struct click_event *ev, int n, struct err *e)
{
	json_t *arr = json_array();
	struct pg_params q;
	PGresult *r = NULL;
	char *text = NULL;
	int own = !pg_in_tx(st), rc = 0;

	for (int i = 0; arr && i < n; i++) {
		json_t *o = json_pack(
		        "{s:I, s:o, s:I, s:s}", "a", (json_int_t)ev[i].account_id, "m",
		        ev[i].message_id > 0 ? json_integer(ev[i].message_id) : json_null(), "t",
		        (json_int_t)ev[i].at, "d", ev[i].data);
		if (!o || json_array_append_new(arr, o)) {
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			break;
		}
	}
	if (!rc && (!arr || !(text = json_dumps(arr, JSON_COMPACT))))
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
	json_decref(arr);
	if (rc)
		return rc;
	/* the shared event lock lives as long as the transaction: one is needed around it */
	if (own && (rc = store_tx_begin(st, e)) != 0)
		goto out;
	if ((rc = pg_exec(st, EVENT_LOCK_SQL, "event lock", e)) != 0)
		goto done;
	pg_p_init(&q);
	pg_p_text(&q, text, strlen(text) + 1);
	rc = pg_run(st, sql_events, PG_WRITE, &q, &r, "log clicks", e);
	PQclear(r);
done:
	if (own) {
		if (rc)
			store_tx_rollback(st);
		else
			rc = store_tx_commit(st, e);
	}
out:
	free(text);
	return rc;
}

const struct store_urls_ops pg_urls_ops = {
        .murl_create = murl_create,
        .murl_delete = murl_delete,
        .murl_list = murl_list,
        .murl_for_domains = murl_for_domains,
        .click_events_add = click_events_add,
};
