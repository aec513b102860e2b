/* PostgreSQL records of domains (schema/postgres/002_domains.sql): the twin of
 * sqlite_domain.c. Lists are keyset pages in name order (bytewise: the column is COLLATE
 * "C"); the partial unique index on internal names turns "internal in another account" into
 * MC_ERR_EXISTS at the write itself, so the first verification wins across all nodes. */
#include "pg_int.h"
#include "store_domain_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define COLS                                                                                       \
	"id, account_id, name, state, inbound_type, token, created, expiry, verified, send_only, " \
	"local, last_check, last_result"

static const char sql_get[] = "SELECT " COLS " FROM domains WHERE account_id = $1 AND name = $2";
static const char sql_get_by_row[] =
        "SELECT " COLS " FROM domains WHERE id = $2 AND account_id = $1";
static const char sql_owner[] = "SELECT account_id FROM domains WHERE name = $1 AND state = 1";
static const char sql_insert[] =
        "INSERT INTO domains(account_id, name, state, inbound_type, token, created, expiry, "
        "verified, send_only, local, last_check, last_result) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
static const char sql_update[] =
        "UPDATE domains SET state = $2, inbound_type = $3, token = $4, created = $5, expiry = $6, "
        "verified = $7, send_only = $8, local = $9, last_check = $10, last_result = $11 "
        "WHERE id = $1";
static const char sql_set_check[] =
        "UPDATE domains SET last_check = $2, last_result = $3 WHERE id = $1";
static const char sql_delete[] = "DELETE FROM domains WHERE id = $1";
static const char sql_list_pending[] =
        "SELECT " COLS " FROM domains WHERE account_id = $1 AND state = 0 AND name > $2 "
        "AND expiry >= $3 ORDER BY name LIMIT $4";
static const char sql_list_internal[] =
        "SELECT " COLS " FROM domains WHERE account_id = $1 AND state = 1 AND name > $2 "
        "AND $3::int8 IS NOT DISTINCT FROM $3 ORDER BY name LIMIT $4";
static const char sql_list_all[] =
        "SELECT " COLS " FROM domains WHERE account_id = $1 AND name > $2 "
        "AND (state = 1 OR expiry >= $3) ORDER BY name LIMIT $4";
static const char sql_purge[] = "DELETE FROM domains WHERE state = 0 AND expiry < $1";

static void read_row(const PGresult *r, int i, struct domain *d)
{
	memset(d, 0, sizeof(*d));
	d->row = pg_col_int(r, i, 0);
	d->account_id = pg_col_int(r, i, 1);
	pg_col_text(r, i, 2, d->name, sizeof(d->name));
	d->state = (int32_t)pg_col_int(r, i, 3);
	pg_col_text(r, i, 4, d->inbound_type, sizeof(d->inbound_type));
	pg_col_text(r, i, 5, d->token, sizeof(d->token));
	d->created = pg_col_int(r, i, 6);
	d->expiry = pg_col_int(r, i, 7);
	d->verified = pg_col_int(r, i, 8);
	d->send_only = (int32_t)pg_col_int(r, i, 9);
	d->local = (int32_t)pg_col_int(r, i, 10);
	d->last_check = pg_col_int(r, i, 11);
	pg_col_text(r, i, 12, d->last_result, sizeof(d->last_result));
}

/* Runs a query expecting at most one row into out. */
static int one_row(struct store *st, const char *sql, const struct pg_params *p, struct domain *out,
                   const char *what, struct err *e)
{
	PGresult *r = NULL;
	int rc = pg_run(st, sql, PG_READ, p, &r, what, e);

	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such domain");
	else if (!rc)
		read_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int dom_get(struct store *st, int64_t account_id, const char *name, struct domain *out,
                   struct err *e)
{
	struct pg_params p;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, name, DOMAIN_NAME_SIZE);
	return one_row(st, sql_get, &p, out, "get domain", e);
}

static int dom_get_by_row(struct store *st, int64_t account_id, int64_t row, struct domain *out,
                          struct err *e)
{
	struct pg_params p;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_int(&p, row);
	return one_row(st, sql_get_by_row, &p, out, "get domain", e);
}

static int dom_internal_owner(struct store *st, const char *name, int64_t *account_id,
                              struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_text(&p, name, DOMAIN_NAME_SIZE);
	rc = pg_run(st, sql_owner, PG_READ, &p, &r, "find domain owner", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = err_set(e, MC_ERR_NOT_FOUND, "domain '%s' is not internal anywhere", name);
	else if (!rc)
		*account_id = pg_col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

/* Adds state .. last_result (10 parameters) of d. */
static void mutable_params(struct pg_params *p, const struct domain *d)
{
	pg_p_int(p, d->state);
	pg_p_text(p, d->inbound_type, sizeof(d->inbound_type));
	pg_p_text(p, d->token, sizeof(d->token));
	pg_p_int(p, d->created);
	pg_p_int(p, d->expiry);
	pg_p_int(p, d->verified);
	pg_p_int(p, d->send_only);
	pg_p_int(p, d->local);
	pg_p_int(p, d->last_check);
	pg_p_text(p, d->last_result, sizeof(d->last_result));
}

static int dom_create(struct store *st, struct domain *d, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, d->account_id);
	pg_p_text(&p, d->name, sizeof(d->name));
	mutable_params(&p, d);
	rc = pg_run(st, sql_insert, PG_WRITE, &p, &r, "create domain", e);
	if (!rc)
		d->row = pg_col_int(r, 0, 0);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)d->account_id);
	PQclear(r);
	return rc;
}

static int dom_update(struct store *st, const struct domain *d, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, d->row);
	mutable_params(&p, d);
	rc = pg_run(st, sql_update, PG_WRITE, &p, &r, "update domain", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such domain");
	PQclear(r);
	return rc;
}

static int dom_set_check(struct store *st, int64_t row, int64_t when, const char *result,
                         struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, row);
	pg_p_int(&p, when);
	pg_p_text(&p, result, DOMAIN_RESULT_SIZE);
	rc = pg_run(st, sql_set_check, PG_WRITE, &p, &r, "record verification", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such domain");
	PQclear(r);
	return rc;
}

static int dom_delete(struct store *st, int64_t row, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, row);
	rc = pg_run(st, sql_delete, PG_WRITE, &p, &r, "delete domain", e);
	if (!rc && pg_changes(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such domain");
	PQclear(r);
	return rc;
}

static int dom_list(struct store *st, int64_t account_id, enum domain_which which,
                    const char *after, int64_t hide_before, size_t limit,
                    int (*fn)(void *arg, const struct domain *d), void *arg, struct err *e)
{
	const char *sql = which == DOMAIN_LIST_PENDING    ? sql_list_pending
	                  : which == DOMAIN_LIST_INTERNAL ? sql_list_internal
	                                                  : sql_list_all;
	struct pg_params p;
	struct domain d;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, after ? after : "", DOMAIN_NAME_SIZE);
	pg_p_int(&p, hide_before);
	pg_p_int(&p, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	rc = pg_run(st, sql, PG_READ, &p, &r, "list domains", e);
	if (rc == MC_ERR_NOT_FOUND)
		rc = 0; /* an `after` that is not UTF-8: nothing sorts after it that we can say */
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		read_row(r, i, &d);
		rc = fn(arg, &d);
	}
	PQclear(r);
	return rc;
}

static int dom_purge(struct store *st, int64_t cutoff, int64_t *deleted, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, cutoff);
	rc = pg_run(st, sql_purge, PG_WRITE, &p, &r, "purge domains", e);
	if (!rc && deleted)
		*deleted = pg_changes(r);
	PQclear(r);
	return rc;
}

const struct store_domain_ops pg_domain_ops = {
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
