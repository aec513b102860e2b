/* PostgreSQL records of sender policies (schema/postgres/008_policies.sql): the twin of
 * sqlite_policy.c. A managed sender is an upsert on the partial unique index of (account,
 * sender, recipient); writes hold the store's write lock (pg.c) like every other write.
 * Group membership reads the directory's group tables (temporary, see store_policy.h). */
#include "pg_int.h"
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
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
        "$18, $19, $20) "
        "ON CONFLICT (account_id, from_value, to_value) WHERE kind = 1 DO UPDATE SET "
        "action = excluded.action, description = excluded.description, "
        "comment = excluded.comment, updated = excluded.updated "
        "RETURNING id, created";
static const char sql_get[] =
        "SELECT " COLS " FROM sender_policies WHERE id = $2 AND account_id = $1";
static const char sql_delete[] = "DELETE FROM sender_policies WHERE id = $2 AND account_id = $1";
static const char sql_list[] = "SELECT " COLS " FROM sender_policies WHERE account_id = $1 "
                               "AND ($2::int4 < 0 OR kind = $2) AND id > $3 ORDER BY id LIMIT $4";

/* The policies that can match one pair: see sqlite_policy.c (the same query). */
static const char sql_candidates[] =
        "WITH k(v) AS MATERIALIZED (VALUES ($2::text), ($3::text), ($4::text), ($5::text) "
        "UNION SELECT CAST(group_id AS text) FROM group_members "
        "WHERE kind = 'email' AND value IN ($2, $4) "
        "UNION SELECT CAST(group_id AS text) FROM group_members "
        "WHERE kind = 'domain' AND value IN ($3, $5)) "
        "SELECT " COLS " FROM sender_policies WHERE id IN ("
        "SELECT id FROM sender_policies WHERE account_id = $1 AND from_value <> '' "
        "AND from_value IN (SELECT v FROM k) "
        "UNION ALL SELECT id FROM sender_policies WHERE account_id = $1 "
        "AND to_value <> '' AND to_value IN (SELECT v FROM k) "
        "UNION ALL SELECT id FROM sender_policies WHERE account_id = $1 "
        "AND from_type IN ('everyone', 'internal_addresses', 'external_addresses') "
        "AND to_type IN ('everyone', 'internal_addresses', 'external_addresses')) "
        "ORDER BY id";

static void read_row(const PGresult *r, int i, struct sender_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->id = pg_col_int(r, i, 0);
	p->account_id = pg_col_int(r, i, 1);
	p->kind = (int32_t)pg_col_int(r, i, 2);
	p->action = (int32_t)pg_col_int(r, i, 3);
	pg_col_text(r, i, 4, p->description, sizeof(p->description));
	pg_col_text(r, i, 5, p->comment, sizeof(p->comment));
	pg_col_text(r, i, 6, p->from_part, sizeof(p->from_part));
	pg_col_text(r, i, 7, p->from_type, sizeof(p->from_type));
	pg_col_text(r, i, 8, p->from_value, sizeof(p->from_value));
	pg_col_text(r, i, 9, p->to_type, sizeof(p->to_type));
	pg_col_text(r, i, 10, p->to_value, sizeof(p->to_value));
	p->from_eternal = (int32_t)pg_col_int(r, i, 11);
	p->to_eternal = (int32_t)pg_col_int(r, i, 12);
	p->from_date = pg_col_int(r, i, 13);
	p->to_date = pg_col_int(r, i, 14);
	p->override = (int32_t)pg_col_int(r, i, 15);
	p->bidirectional = (int32_t)pg_col_int(r, i, 16);
	p->enforced = (int32_t)pg_col_int(r, i, 17);
	p->enabled = (int32_t)pg_col_int(r, i, 18);
	p->created = pg_col_int(r, i, 19);
	p->updated = pg_col_int(r, i, 20);
}

static int pol_put(struct store *st, struct sender_policy *p, struct err *e)
{
	struct pg_params q;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&q);
	pg_p_int(&q, p->account_id);
	pg_p_int(&q, p->kind);
	pg_p_int(&q, p->action);
	pg_p_text(&q, p->description, sizeof(p->description));
	pg_p_text(&q, p->comment, sizeof(p->comment));
	pg_p_text(&q, p->from_part, sizeof(p->from_part));
	pg_p_text(&q, p->from_type, sizeof(p->from_type));
	pg_p_text(&q, p->from_value, sizeof(p->from_value));
	pg_p_text(&q, p->to_type, sizeof(p->to_type));
	pg_p_text(&q, p->to_value, sizeof(p->to_value));
	pg_p_int(&q, p->from_eternal);
	pg_p_int(&q, p->to_eternal);
	pg_p_int(&q, p->from_date);
	pg_p_int(&q, p->to_date);
	pg_p_int(&q, p->override);
	pg_p_int(&q, p->bidirectional);
	pg_p_int(&q, p->enforced);
	pg_p_int(&q, p->enabled);
	pg_p_int(&q, p->created);
	pg_p_int(&q, p->updated);
	rc = pg_run(st, sql_put, PG_WRITE, &q, &r, "create policy", e);
	if (!rc && PQntuples(r) == 1) {
		p->id = pg_col_int(r, 0, 0);
		p->created = pg_col_int(r, 0, 1);
	} else if (!rc) {
		rc = err_set(e, MC_ERR_STORE, "create policy returned no row");
	} else if (rc == MC_ERR_NOT_FOUND) {
		err_set(e, rc, "no account with id %lld", (long long)p->account_id);
	}
	PQclear(r);
	return rc;
}

static int pol_get(struct store *st, int64_t account_id, int64_t id, struct sender_policy *out,
                   struct err *e)
{
	struct pg_params q;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&q);
	pg_p_int(&q, account_id);
	pg_p_int(&q, id);
	rc = pg_run(st, sql_get, PG_READ, &q, &r, "get policy", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such policy");
	else if (!rc)
		read_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int pol_delete(struct store *st, int64_t account_id, int64_t id, struct err *e)
{
	struct pg_params q;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&q);
	pg_p_int(&q, account_id);
	pg_p_int(&q, id);
	rc = pg_run(st, sql_delete, PG_WRITE, &q, &r, "delete policy", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such policy");
	PQclear(r);
	return rc;
}

static int pol_list(struct store *st, int64_t account_id, int kind, int64_t after_id, size_t limit,
                    int (*fn)(void *arg, const struct sender_policy *p), void *arg, struct err *e)
{
	struct pg_params q;
	struct sender_policy p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&q);
	pg_p_int(&q, account_id);
	pg_p_int(&q, kind);
	pg_p_int(&q, after_id);
	pg_p_int(&q, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	rc = pg_run(st, sql_list, PG_READ, &q, &r, "list policies", e);
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		read_row(r, i, &p);
		rc = fn(arg, &p);
	}
	PQclear(r);
	return rc;
}

static int pol_candidates(struct store *st, int64_t account_id, const char *const keys[4],
                          int (*fn)(void *arg, const struct sender_policy *p), void *arg,
                          struct err *e)
{
	struct pg_params q;
	struct sender_policy p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&q);
	pg_p_int(&q, account_id);
	for (int i = 0; i < 4; i++) {
		if (keys[i])
			pg_p_text(&q, keys[i], POLICY_VALUE_SIZE);
		else
			pg_p_null(&q);
	}
	rc = pg_run(st, sql_candidates, PG_READ, &q, &r, "select policies", e);
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		read_row(r, i, &p);
		rc = fn(arg, &p);
	}
	PQclear(r);
	return rc;
}

const struct store_policy_ops pg_policy_ops = {
        .put = pol_put,
        .get = pol_get,
        .delete_row = pol_delete,
        .list = pol_list,
        .candidates = pol_candidates,
};
