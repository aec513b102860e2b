/* SQLite records of sender policies (schema/sqlite/008_policies.sql). A managed sender is
 * written with an upsert on the partial unique index of (account, sender, recipient), so
 * two concurrent permit-or-block calls for one pair leave one entry. Group membership reads
 * the directory's group tables (temporary, see store_policy.h). */
#include "sqlite_int.h"
#include "store_policy_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define COLS                                                                                       \
	"id, account_id, kind, action, description, comment, from_part, from_type, from_value, "   \
	"to_type, to_value, from_eternal, to_eternal, from_date, to_date, override, "              \
	"bidirectional, enforced, enabled, created, updated"

static const char sql_put[] =
        "INSERT INTO sender_policies(account_id, kind, action, description, comment, from_part, "
        "from_type, from_value, to_type, to_value, from_eternal, to_eternal, from_date, "
        "to_date, override, bidirectional, enforced, enabled, created, updated) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
        "?18, ?19, ?20) "
        "ON CONFLICT (account_id, from_value, to_value) WHERE kind = 1 DO UPDATE SET "
        "action = excluded.action, description = excluded.description, "
        "comment = excluded.comment, updated = excluded.updated "
        "RETURNING id, created";
static const char sql_get[] =
        "SELECT " COLS " FROM sender_policies WHERE id = ?2 AND account_id = ?1";
static const char sql_delete[] = "DELETE FROM sender_policies WHERE id = ?2 AND account_id = ?1";
static const char sql_list[] = "SELECT " COLS " FROM sender_policies WHERE account_id = ?1 "
                               "AND (?2 < 0 OR kind = ?2) AND id > ?3 ORDER BY id LIMIT ?4";

/* The policies that can match one pair (store_policy_candidates): k holds the four keys and
 * the groups that hold either address or either domain as a direct member; a policy is
 * selected through the index of its from or its to value, or through the partial index of
 * value-less policies (011_policy_lookup.sql; the type lists and the "<> ''" terms must stay
 * those of the partial indexes). k is MATERIALIZED, and the value indexes partial: without
 * either SQLite 3.40 took up to 0.6 ms a call on the bench's store (10,000 policies) instead
 * of 0.05 ms. */
static const char sql_candidates[] =
        "WITH k(v) AS MATERIALIZED (VALUES (?2), (?3), (?4), (?5) "
        "UNION SELECT CAST(group_id AS TEXT) FROM group_members "
        "WHERE kind = 'email' AND value IN (?2, ?4) "
        "UNION SELECT CAST(group_id AS TEXT) FROM group_members "
        "WHERE kind = 'domain' AND value IN (?3, ?5)) "
        "SELECT " COLS " FROM sender_policies WHERE id IN ("
        "SELECT id FROM sender_policies WHERE account_id = ?1 AND from_value <> '' "
        "AND from_value IN (SELECT v FROM k) "
        "UNION ALL SELECT id FROM sender_policies WHERE account_id = ?1 "
        "AND to_value <> '' AND to_value IN (SELECT v FROM k) "
        "UNION ALL SELECT id FROM sender_policies WHERE account_id = ?1 "
        "AND from_type IN ('everyone', 'internal_addresses', 'external_addresses') "
        "AND to_type IN ('everyone', 'internal_addresses', 'external_addresses')) "
        "ORDER BY id";

static void read_row(struct sqlite_q *q, struct sender_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->id = sqlite3_column_int64(q->s, 0);
	p->account_id = sqlite3_column_int64(q->s, 1);
	p->kind = sqlite3_column_int(q->s, 2);
	p->action = sqlite3_column_int(q->s, 3);
	sqlite_col_text(q, 4, p->description, sizeof(p->description));
	sqlite_col_text(q, 5, p->comment, sizeof(p->comment));
	sqlite_col_text(q, 6, p->from_part, sizeof(p->from_part));
	sqlite_col_text(q, 7, p->from_type, sizeof(p->from_type));
	sqlite_col_text(q, 8, p->from_value, sizeof(p->from_value));
	sqlite_col_text(q, 9, p->to_type, sizeof(p->to_type));
	sqlite_col_text(q, 10, p->to_value, sizeof(p->to_value));
	p->from_eternal = sqlite3_column_int(q->s, 11);
	p->to_eternal = sqlite3_column_int(q->s, 12);
	p->from_date = sqlite3_column_int64(q->s, 13);
	p->to_date = sqlite3_column_int64(q->s, 14);
	p->override = sqlite3_column_int(q->s, 15);
	p->bidirectional = sqlite3_column_int(q->s, 16);
	p->enforced = sqlite3_column_int(q->s, 17);
	p->enabled = sqlite3_column_int(q->s, 18);
	p->created = sqlite3_column_int64(q->s, 19);
	p->updated = sqlite3_column_int64(q->s, 20);
}

static int bind_fail(struct sqlite_q *q, const char *what, struct err *e)
{
	return sqlite_fail(q->db, sqlite3_errcode(q->db), what, e);
}

static int pol_put(struct store *st, struct sender_policy *p, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_put, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, p->account_id) || sqlite3_bind_int(q.s, 2, p->kind) ||
	    sqlite3_bind_int(q.s, 3, p->action) ||
	    sqlite_bind_text(&q, 4, p->description, sizeof(p->description)) ||
	    sqlite_bind_text(&q, 5, p->comment, sizeof(p->comment)) ||
	    sqlite_bind_text(&q, 6, p->from_part, sizeof(p->from_part)) ||
	    sqlite_bind_text(&q, 7, p->from_type, sizeof(p->from_type)) ||
	    sqlite_bind_text(&q, 8, p->from_value, sizeof(p->from_value)) ||
	    sqlite_bind_text(&q, 9, p->to_type, sizeof(p->to_type)) ||
	    sqlite_bind_text(&q, 10, p->to_value, sizeof(p->to_value)) ||
	    sqlite3_bind_int(q.s, 11, p->from_eternal) ||
	    sqlite3_bind_int(q.s, 12, p->to_eternal) || sqlite3_bind_int64(q.s, 13, p->from_date) ||
	    sqlite3_bind_int64(q.s, 14, p->to_date) || sqlite3_bind_int(q.s, 15, p->override) ||
	    sqlite3_bind_int(q.s, 16, p->bidirectional) || sqlite3_bind_int(q.s, 17, p->enforced) ||
	    sqlite3_bind_int(q.s, 18, p->enabled) || sqlite3_bind_int64(q.s, 19, p->created) ||
	    sqlite3_bind_int64(q.s, 20, p->updated)) {
		rc = bind_fail(&q, "create policy", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		p->id = sqlite3_column_int64(q.s, 0);
		p->created = sqlite3_column_int64(q.s, 1);
		rc = 0;
	} else {
		rc = sqlite_fail(q.db, rc, "create policy", e);
		if (rc == MC_ERR_NOT_FOUND)
			err_set(e, rc, "no account with id %lld", (long long)p->account_id);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

static int pol_get(struct store *st, int64_t account_id, int64_t id, struct sender_policy *out,
                   struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_get, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, id)) {
		rc = bind_fail(&q, "get policy", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		read_row(&q, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such policy");
	} else {
		rc = sqlite_fail(q.db, rc, "get policy", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

static int pol_delete(struct store *st, int64_t account_id, int64_t id, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_delete, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, id)) {
		rc = bind_fail(&q, "delete policy", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "delete policy", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such policy");
out:
	sqlite_q_done(&q);
	return rc;
}

static int pol_list(struct store *st, int64_t account_id, int kind, int64_t after_id, size_t limit,
                    int (*fn)(void *arg, const struct sender_policy *p), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct sender_policy p;
	int rc = sqlite_q_prepare(st, sql_list, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int(q.s, 2, kind) ||
	    sqlite3_bind_int64(q.s, 3, after_id) ||
	    sqlite3_bind_int64(q.s, 4, limit > INT64_MAX ? INT64_MAX : (int64_t)limit)) {
		rc = bind_fail(&q, "list policies", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		read_row(&q, &p);
		rc = fn(arg, &p);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list policies", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int pol_candidates(struct store *st, int64_t account_id, const char *const keys[4],
                          int (*fn)(void *arg, const struct sender_policy *p), void *arg,
                          struct err *e)
{
	struct sqlite_q q;
	struct sender_policy p;
	int rc = sqlite_q_prepare(st, sql_candidates, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id)) {
		rc = bind_fail(&q, "select policies", e);
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		if (keys[i] ? sqlite_bind_text(&q, i + 2, keys[i], POLICY_VALUE_SIZE)
		            : sqlite3_bind_null(q.s, i + 2)) {
			rc = bind_fail(&q, "select policies", e);
			goto out;
		}
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		read_row(&q, &p);
		rc = fn(arg, &p);
		if (rc)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "select policies", e);
out:
	sqlite_q_done(&q);
	return rc;
}

const struct store_policy_ops sqlite_policy_ops = {
        .put = pol_put,
        .get = pol_get,
        .delete_row = pol_delete,
        .list = pol_list,
        .candidates = pol_candidates,
};
