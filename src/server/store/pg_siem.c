/* PostgreSQL reads of the SIEM logs (store_siem.h): the twin of sqlite_siem.c. The horizon
 * follows the protocol of pg_int.h (PG_EVENT_WRITE_LOCK): in a short transaction of its
 * own it takes the event write lock exclusively, which waits for every writer that may hold
 * an id not yet committed, then reads max(id) with a snapshot taken after the wait. */
#include "pg_int.h"
#include "store_siem_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

static const char sql_lock[] = "BEGIN ISOLATION LEVEL READ COMMITTED; "
                               "SELECT pg_advisory_xact_lock(" PG_EVENT_LOCK_KEYS ")";
static const char sql_horizon[] = "SELECT coalesce(max(id), 0)::int8 FROM mail_events";
static const char sql_next[] =
        "SELECT id FROM mail_events WHERE account_id = $1::int8 AND type = $2::text "
        "AND id > $3::int8 AND id <= $4::int8 AND at >= $5::int8 ORDER BY id LIMIT 1";
static const char sql_read[] =
        "SELECT id, at, coalesce(message_id, 0), data::text FROM mail_events "
        "WHERE account_id = $1::int8 AND type = $2::text AND id > $3::int8 AND id <= $4::int8 "
        "AND at >= $5::int8 ORDER BY id LIMIT $6::int8";

static int not_in_tx(struct store *st, struct err *e)
{
	if (pg_in_tx(st))
		return err_set(e, MC_ERR_INTERNAL, "SIEM reads run outside a store transaction");
	return 0;
}

static int siem_horizon(struct store *st, int64_t *hi, struct err *e)
{
	PGresult *r = NULL;
	int rc = not_in_tx(st, e);

	if (rc)
		return rc;
	rc = pg_exec(st, sql_lock, "SIEM horizon", e);
	if (!rc)
		rc = pg_run(st, sql_horizon, PG_READ, NULL, &r, "SIEM horizon", e);
	if (!rc && PQntuples(r) == 1)
		*hi = pg_col_int(r, 0, 0);
	PQclear(r);
	/* COMMIT after a failed statement ends the transaction as a rollback would */
	if (pg_exec(st, "COMMIT", "SIEM horizon", rc ? NULL : e) != 0 && !rc)
		rc = MC_ERR_UNAVAILABLE;
	return rc;
}

static void p_range(struct pg_params *p, int64_t account_id, const char *type, int64_t pos,
                    int64_t hi, int64_t cutoff)
{
	pg_p_init(p);
	pg_p_int(p, account_id);
	pg_p_text(p, type, strlen(type));
	pg_p_int(p, pos);
	pg_p_int(p, hi);
	pg_p_int(p, cutoff);
}

static int siem_next(struct store *st, int64_t account_id, const char *type, int64_t pos,
                     int64_t hi, int64_t cutoff, int64_t *next, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc = not_in_tx(st, e);

	if (rc)
		return rc;
	p_range(&p, account_id, type, pos, hi, cutoff);
	rc = pg_run(st, sql_next, PG_READ, &p, &r, "SIEM next event", e);
	if (!rc && PQntuples(r) == 1)
		*next = pg_col_int(r, 0, 0);
	PQclear(r);
	return rc;
}

static int siem_read(struct store *st, int64_t account_id, const char *type, int64_t pos,
                     int64_t hi, int64_t cutoff, size_t max,
                     int (*fn)(void *arg, const struct siem_event *ev), void *arg, struct err *e)
{
	struct pg_params p;
	struct siem_event ev;
	PGresult *r = NULL;
	int rc = not_in_tx(st, e);

	if (rc)
		return rc;
	p_range(&p, account_id, type, pos, hi, cutoff);
	pg_p_int(&p, (int64_t)max);
	rc = pg_run(st, sql_read, PG_READ, &p, &r, "SIEM read", e);
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		ev.id = pg_col_int(r, i, 0);
		ev.at = pg_col_int(r, i, 1);
		ev.message_id = pg_col_int(r, i, 2);
		ev.data = pg_col_bytes(r, i, 3, &ev.len);
		if (!ev.data) {
			ev.data = "{}";
			ev.len = 2;
		}
		rc = fn(arg, &ev);
	}
	PQclear(r);
	return rc;
}

const struct store_siem_ops pg_siem_ops = {
        .horizon = siem_horizon,
        .next = siem_next,
        .read = siem_read,
};
