/* SQLite records of domains (schema/sqlite/002_domains.sql). Lists are keyset pages in name
 * order over (account_id, state, name) or (account_id, name): the cost of a page does not
 * depend on how many records come before it. The partial unique index on internal names
 * turns "internal in another account" into MC_ERR_EXISTS at the write itself. */
#include "sqlite_int.h"
#include "store_domain_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define COLS                                                                                       \
	"id, account_id, name, state, inbound_type, token, created, expiry, verified, send_only, " \
	"local, last_check, last_result"

static const char sql_get[] = "SELECT " COLS " FROM domains WHERE account_id = ?1 AND name = ?2";
static const char sql_get_by_row[] =
        "SELECT " COLS " FROM domains WHERE id = ?2 AND account_id = ?1";
static const char sql_owner[] = "SELECT account_id FROM domains WHERE name = ?1 AND state = 1";
static const char sql_insert[] =
        "INSERT INTO domains(account_id, name, state, inbound_type, token, created, expiry, "
        "verified, send_only, local, last_check, last_result) "
        "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
static const char sql_update[] =
        "UPDATE domains SET state = ?2, inbound_type = ?3, token = ?4, created = ?5, expiry = ?6, "
        "verified = ?7, send_only = ?8, local = ?9, last_check = ?10, last_result = ?11 "
        "WHERE id = ?1";
static const char sql_set_check[] =
        "UPDATE domains SET last_check = ?2, last_result = ?3 WHERE id = ?1";
static const char sql_delete[] = "DELETE FROM domains WHERE id = ?1";
static const char sql_list_pending[] =
        "SELECT " COLS " FROM domains WHERE account_id = ?1 AND state = 0 AND name > ?2 "
        "AND expiry >= ?3 ORDER BY name LIMIT ?4";
static const char sql_list_internal[] =
        "SELECT " COLS " FROM domains WHERE account_id = ?1 AND state = 1 AND name > ?2 "
        "ORDER BY name LIMIT ?4";
static const char sql_list_all[] =
        "SELECT " COLS " FROM domains WHERE account_id = ?1 AND name > ?2 "
        "AND (state = 1 OR expiry >= ?3) ORDER BY name LIMIT ?4";
static const char sql_purge[] = "DELETE FROM domains WHERE state = 0 AND expiry < ?1";

static void read_row(struct sqlite_q *q, struct domain *d)
{
	memset(d, 0, sizeof(*d));
	d->row = sqlite3_column_int64(q->s, 0);
	d->account_id = sqlite3_column_int64(q->s, 1);
	sqlite_col_text(q, 2, d->name, sizeof(d->name));
	d->state = sqlite3_column_int(q->s, 3);
	sqlite_col_text(q, 4, d->inbound_type, sizeof(d->inbound_type));
	sqlite_col_text(q, 5, d->token, sizeof(d->token));
	d->created = sqlite3_column_int64(q->s, 6);
	d->expiry = sqlite3_column_int64(q->s, 7);
	d->verified = sqlite3_column_int64(q->s, 8);
	d->send_only = sqlite3_column_int(q->s, 9);
	d->local = sqlite3_column_int(q->s, 10);
	d->last_check = sqlite3_column_int64(q->s, 11);
	sqlite_col_text(q, 12, d->last_result, sizeof(d->last_result));
}

/* Steps q expecting at most one row into out. */
static int one_row(struct sqlite_q *q, struct domain *out, const char *what, struct err *e)
{
	int rc = sqlite3_step(q->s);

	if (rc == SQLITE_ROW) {
		read_row(q, out);
		return 0;
	}
	if (rc == SQLITE_DONE)
		return err_set(e, MC_ERR_NOT_FOUND, "no such domain");
	return sqlite_fail(q->db, rc, what, e);
}

static int bind_fail(struct sqlite_q *q, const char *what, struct err *e)
{
	return sqlite_fail(q->db, sqlite3_errcode(q->db), what, e);
}

static int dom_get(struct store *st, int64_t account_id, const char *name, struct domain *out,
                   struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_get, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) ||
	    sqlite_bind_text(&q, 2, name, DOMAIN_NAME_SIZE)) {
		rc = bind_fail(&q, "get domain", e);
		goto out;
	}
	rc = one_row(&q, out, "get domain", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dom_get_by_row(struct store *st, int64_t account_id, int64_t row, struct domain *out,
                          struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_get_by_row, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, row)) {
		rc = bind_fail(&q, "get domain", e);
		goto out;
	}
	rc = one_row(&q, out, "get domain", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dom_internal_owner(struct store *st, const char *name, int64_t *account_id,
                              struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_owner, &q, e);

	if (rc)
		goto out;
	if (sqlite_bind_text(&q, 1, name, DOMAIN_NAME_SIZE)) {
		rc = bind_fail(&q, "find domain owner", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		*account_id = sqlite3_column_int64(q.s, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = err_set(e, MC_ERR_NOT_FOUND, "domain '%s' is not internal anywhere", name);
	} else {
		rc = sqlite_fail(q.db, rc, "find domain owner", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

static int dom_create(struct store *st, struct domain *d, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_insert, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 2, d->account_id) ||
	    sqlite_bind_text(&q, 3, d->name, sizeof(d->name)) ||
	    sqlite3_bind_int(q.s, 4, d->state) ||
	    sqlite_bind_text(&q, 5, d->inbound_type, sizeof(d->inbound_type)) ||
	    sqlite_bind_text(&q, 6, d->token, sizeof(d->token)) ||
	    sqlite3_bind_int64(q.s, 7, d->created) || sqlite3_bind_int64(q.s, 8, d->expiry) ||
	    sqlite3_bind_int64(q.s, 9, d->verified) || sqlite3_bind_int(q.s, 10, d->send_only) ||
	    sqlite3_bind_int(q.s, 11, d->local) || sqlite3_bind_int64(q.s, 12, d->last_check) ||
	    sqlite_bind_text(&q, 13, d->last_result, sizeof(d->last_result))) {
		rc = bind_fail(&q, "create domain", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "create domain", e);
	if (!rc)
		d->row = sqlite3_last_insert_rowid(q.db);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)d->account_id);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dom_update(struct store *st, const struct domain *d, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_update, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, d->row) || sqlite3_bind_int(q.s, 2, d->state) ||
	    sqlite_bind_text(&q, 3, d->inbound_type, sizeof(d->inbound_type)) ||
	    sqlite_bind_text(&q, 4, d->token, sizeof(d->token)) ||
	    sqlite3_bind_int64(q.s, 5, d->created) || sqlite3_bind_int64(q.s, 6, d->expiry) ||
	    sqlite3_bind_int64(q.s, 7, d->verified) || sqlite3_bind_int(q.s, 8, d->send_only) ||
	    sqlite3_bind_int(q.s, 9, d->local) || sqlite3_bind_int64(q.s, 10, d->last_check) ||
	    sqlite_bind_text(&q, 11, d->last_result, sizeof(d->last_result))) {
		rc = bind_fail(&q, "update domain", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "update domain", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such domain");
out:
	sqlite_q_done(&q);
	return rc;
}

static int dom_set_check(struct store *st, int64_t row, int64_t when, const char *result,
                         struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_set_check, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, row) || sqlite3_bind_int64(q.s, 2, when) ||
	    sqlite_bind_text(&q, 3, result, DOMAIN_RESULT_SIZE)) {
		rc = bind_fail(&q, "record verification", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "record verification", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such domain");
out:
	sqlite_q_done(&q);
	return rc;
}

static int dom_delete(struct store *st, int64_t row, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_delete, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, row)) {
		rc = bind_fail(&q, "delete domain", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "delete domain", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such domain");
out:
	sqlite_q_done(&q);
	return rc;
}

static int dom_list(struct store *st, int64_t account_id, enum domain_which which,
                    const char *after, int64_t hide_before, size_t limit,
                    int (*fn)(void *arg, const struct domain *d), void *arg, struct err *e)
{
	const char *sql = which == DOMAIN_LIST_PENDING    ? sql_list_pending
	                  : which == DOMAIN_LIST_INTERNAL ? sql_list_internal
	                                                  : sql_list_all;
	struct sqlite_q q;
	struct domain d;
	int rc = sqlite_q_prepare(st, sql, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) ||
	    sqlite_bind_text(&q, 2, after ? after : "", DOMAIN_NAME_SIZE) ||
	    (which != DOMAIN_LIST_INTERNAL && sqlite3_bind_int64(q.s, 3, hide_before)) ||
	    sqlite3_bind_int64(q.s, 4, limit > INT64_MAX ? INT64_MAX : (int64_t)limit)) {
		rc = bind_fail(&q, "list domains", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		read_row(&q, &d);
		rc = fn(arg, &d);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list domains", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dom_purge(struct store *st, int64_t cutoff, int64_t *deleted, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_purge, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, cutoff)) {
		rc = bind_fail(&q, "purge domains", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "purge domains", e);
	if (!rc)
		*deleted = sqlite3_changes64(q.db);
out:
	sqlite_q_done(&q);
	return rc;
}

const struct store_domain_ops sqlite_domain_ops = {
        .get = dom_get,
        .get_by_row = dom_get_by_row,
        .internal_owner = dom_internal_owner,
        .create = dom_create,
        .update = dom_update,
        .set_check = dom_set_check,
        .delete_row = dom_delete,
        .list = dom_list,
        .purge = dom_purge,
};
