/* PostgreSQL's half of store_snapshot.h. The columns come from pg_attribute (generated
 * columns such as users.domain left out) with their types; an export reads every table in
 * one REPEATABLE READ transaction, in text format; an import sends each table's rows as one
 * JSON parameter and inserts them in one statement (json_array_elements, each cell cast to
 * its column's type), so a table costs one round trip whatever its size. The "sequences" are
 * the identity sequences of the id columns. */
#include "pg_int.h"

#include "store_snapshot_int.h"

#include "common/buf.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SQL_CAP 16384

/* Type OIDs of pg_type.h that a snapshot writes as numbers or blobs. */
#define OID_BOOL   16
#define OID_BYTEA  17
#define OID_INT8   20
#define OID_INT2   21
#define OID_INT4   23
#define OID_FLOAT4 700
#define OID_FLOAT8 701

/* A failed result: the document's fault (a constraint, a value of the wrong type) is
 * MC_ERR_INVALID; a busy or unreachable database MC_ERR_UNAVAILABLE. Clears r. */
static int fail(PGconn *db, PGresult *r, const char *what, struct err *e)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(db);
	char text[256];
	size_t n = strnlen(msg ? msg : "", sizeof(text) - 1);
	int code = MC_ERR_STORE;

	memcpy(text, msg ? msg : "", n);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	text[n] = '\0';
	if (!state || PQstatus(db) == CONNECTION_BAD)
		code = MC_ERR_UNAVAILABLE;
	else if (!strncmp(state, "23", 2) || !strncmp(state, "22", 2))
		code = MC_ERR_INVALID;
	else if (!strncmp(state, "40", 2) || !strcmp(state, "55P03") || !strncmp(state, "57", 2) ||
	         !strncmp(state, "08", 2) || !strncmp(state, "53", 2))
		code = MC_ERR_UNAVAILABLE;
	PQclear(r);
	return err_set(e, code, "%s: %s", what, text);
}

/* Runs sql with text parameters; *out gets a result that succeeded (the caller clears it). */
static int run(PGconn *db, const char *sql, int n, const char *const *vals, PGresult **out,
               const char *what, struct err *e)
{
	PGresult *r = PQexecParams(db, sql, n, NULL, vals, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);

	if (out)
		*out = NULL;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		return fail(db, r, what, e);
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

/* The columns of table: names, type OIDs and type names (for casts). */
static int columns(PGconn *db, const char *table, PGresult **out, struct err *e)
{
	const char *vals[1] = {table};

	return run(db,
	           "SELECT a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod) "
	           "FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND "
	           "NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
	           1, vals, out, "snapshot: read the catalogue", e);
}

static int has_id(const PGresult *cols)
{
	for (int i = 0; i < PQntuples(cols); i++)
		if (strcmp(PQgetvalue(cols, i, 0), "id") == 0)
			return 1;
	return 0;
}

static int catalogue_known(PGconn *db, struct err *e)
{
	PGresult *r = NULL;
	int rc = run(db, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", 0,
	             NULL, &r, "snapshot: read the catalogue", e);

	for (int i = 0; !rc && i < PQntuples(r); i++) {
		const char *name = PQgetvalue(r, i, 0);
		if (!store_snapshot_listed(name) && !store_snapshot_excluded(name))
			rc = err_set(e, MC_ERR_INTERNAL,
			             "snapshot: table '%.64s' is not in the snapshot list "
			             "(store_snapshot.c)",
			             name);
	}
	PQclear(r);
	return rc;
}

static json_t *cell(const PGresult *r, int row, int col, unsigned oid)
{
	const char *v = PQgetvalue(r, row, col);

	if (PQgetisnull(r, row, col))
		return json_null();
	switch (oid) {
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
		return json_integer(strtoll(v, NULL, 10));
	case OID_BOOL:
		return json_integer(v[0] == 't');
	case OID_FLOAT4:
	case OID_FLOAT8:
		return json_real(strtod(v, NULL));
	case OID_BYTEA: {
		size_t n = 0;
		unsigned char *data = PQunescapeBytea((const unsigned char *)v, &n);
		json_t *j = data ? store_snapshot_blob(data, n) : NULL;
		PQfreemem(data);
		return j;
	}
	default:
		return json_stringn(v, (size_t)PQgetlength(r, row, col));
	}
}

/* The highest id the table's identity sequence handed out (0: none yet). */
static int export_seq(PGconn *db, const char *table, json_t *seqs, struct err *e)
{
	const char *vals[1] = {table};
	PGresult *r = NULL;
	int rc = run(db,
	             "SELECT coalesce(last_value, 0) FROM pg_sequences WHERE "
	             "format('%I.%I', schemaname, sequencename) = pg_get_serial_sequence($1, 'id')",
	             1, vals, &r, "snapshot: read a sequence", e);

	if (!rc && PQntuples(r) == 1)
		json_object_set_new(seqs, table,
		                    json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
	PQclear(r);
	return rc;
}

static int export_table(PGconn *db, const char *table, json_t *tables, json_t *seqs, struct err *e)
{
	PGresult *cols = NULL, *r = NULL;
	json_t *names = json_array(), *rows = json_array();
	struct buf sql;
	int rc, n;

	buf_init(&sql, SQL_CAP);
	if (!names || !rows) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = columns(db, table, &cols, e);
	if (rc)
		goto out;
	n = PQntuples(cols);
	buf_adds(&sql, "SELECT ");
	for (int i = 0; i < n; i++) {
		buf_addf(&sql, "%s\"%s\"", i ? ", " : "", PQgetvalue(cols, i, 0));
		json_array_append_new(names, json_string(PQgetvalue(cols, i, 0)));
	}
	if (buf_addf(&sql, " FROM \"%s\" ORDER BY 1", table) != 0) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = run(db, sql.data, 0, NULL, &r, "snapshot: read a table", e);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(r); row++) {
		json_t *x = json_array();
		int i;
		for (i = 0; x && i < n; i++)
			if (json_array_append_new(
			            x, cell(r, row, i,
			                    (unsigned)strtoul(PQgetvalue(cols, i, 1), NULL, 10))))
				break;
		if (!x || i < n || json_array_append_new(rows, x) != 0) {
			json_decref(x);
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (json_object_set_new(tables, table,
	                        json_pack("{s:O, s:O}", "columns", names, "rows", rows)) != 0) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (has_id(cols))
		rc = export_seq(db, table, seqs, e);
out:
	PQclear(cols);
	PQclear(r);
	json_decref(names);
	json_decref(rows);
	buf_release(&sql);
	return rc;
}

static int pg_snapshot_export(struct store *st, json_t *tables, json_t *seqs, struct err *e)
{
	PGconn *db;
	int rc;

	if (pg_in_tx(st))
		return err_set(e, MC_ERR_INTERNAL,
		               "snapshot: a transaction is open on this thread");
	if (!(db = pg_conn_db(st, e)))
		return e && e->code ? e->code : MC_ERR_UNAVAILABLE;
	rc = run(db, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL,
	         "snapshot: begin", e);
	if (rc)
		return rc;
	rc = catalogue_known(db, e);
	for (size_t i = 0; !rc && i < store_snapshot_ntables; i++)
		rc = export_table(db, store_snapshot_tables[i], tables, seqs, e);
	if (PQtransactionStatus(db) != PQTRANS_IDLE) {
		PGresult *r = PQexec(db, rc ? "ROLLBACK" : "COMMIT");
		PQclear(r);
	}
	return rc;
}

/* The row's cells as PostgreSQL reads them from JSON text: blobs as bytea's hex input. */
static json_t *row_for_pg(json_t *row)
{
	json_t *out = json_array(), *c;
	size_t i;

	json_array_foreach(row, i, c)
	{
		const char *b64 = NULL;
		json_t *v;
		if (store_snapshot_cell(c, &b64) == SNAP_BLOB) {
			unsigned char *data = NULL;
			size_t n = 0;
			char *hex;
			if (store_snapshot_unblob(b64, &data, &n) != 0 ||
			    !(hex = malloc(2 * n + 3))) {
				free(data);
				json_decref(out);
				return NULL;
			}
			memcpy(hex, "\\x", 2);
			for (size_t k = 0; k < n; k++)
				snprintf(hex + 2 + 2 * k, 3, "%02x", data[k]);
			hex[2 + 2 * n] = '\0';
			v = json_string(hex);
			free(hex);
			free(data);
		} else {
			v = json_incref(c);
		}
		if (!out || json_array_append_new(out, v) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static int import_table(PGconn *db, const char *table, json_t *t, struct err *e)
{
	json_t *cols = json_object_get(t, "columns"), *rows = json_object_get(t, "rows"), *c, *row;
	json_t *pgrows = json_array();
	PGresult *have = NULL;
	struct buf sql;
	char *param = NULL;
	size_t i;
	int rc;

	buf_init(&sql, SQL_CAP);
	if (!pgrows) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = columns(db, table, &have, e);
	if (rc)
		goto out;
	buf_addf(&sql, "INSERT INTO \"%s\" (", table);
	json_array_foreach(cols, i, c)
	        buf_addf(&sql, "%s\"%s\"", i ? ", " : "", json_string_value(c));
	buf_adds(&sql, ") SELECT ");
	json_array_foreach(cols, i, c)
	{
		int k;
		for (k = 0;
		     k < PQntuples(have) && strcmp(json_string_value(c), PQgetvalue(have, k, 0));
		     k++)
			;
		if (k == PQntuples(have)) {
			rc = err_set(e, MC_ERR_INVALID, "table '%s' has no column '%s'", table,
			             json_string_value(c));
			goto out;
		}
		buf_addf(&sql, "%s(r->>%zu)::%s", i ? ", " : "", i, PQgetvalue(have, k, 2));
	}
	if (buf_adds(&sql, " FROM json_array_elements($1::json) AS r") != 0) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (json_array_size(rows) == 0) /* its columns are checked all the same */
		goto out;
	json_array_foreach(rows, i, row)
	{
		json_t *x = row_for_pg(row);
		if (!x || json_array_append_new(pgrows, x) != 0) {
			rc = err_set(e, MC_ERR_INVALID, "table '%s', row %zu: a blob is not base64",
			             table, i);
			goto out;
		}
	}
	if (!(param = json_dumps(pgrows, JSON_COMPACT))) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	{
		const char *vals[1] = {param};
		char what[96];
		snprintf(what, sizeof(what), "snapshot: table '%s'", table);
		rc = run(db, sql.data, 1, vals, NULL, what, e);
	}
out:
	free(param);
	json_decref(pgrows);
	PQclear(have);
	buf_release(&sql);
	return rc;
}

/* Each id sequence to the largest of the document's value, the largest id and its own
 * value: it never goes back, so no id the API has shown is given to another record. */
static int import_seq(PGconn *db, const char *table, json_t *seqs, struct err *e)
{
	char sql[512], v[24];
	const char *vals[2] = {table, v};

	snprintf(v, sizeof(v), "%lld", (long long)json_integer_value(json_object_get(seqs, table)));
	snprintf(sql, sizeof(sql),
	         "SELECT setval(pg_get_serial_sequence($1, 'id'), greatest(x.v, 1), x.v >= 1) "
	         "FROM (SELECT greatest($2::bigint, coalesce(max(id), 0), coalesce("
	         "pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass), 0)) AS v "
	         "FROM \"%s\") x",
	         table);
	return run(db, sql, 2, vals, NULL, "snapshot: set a sequence", e);
}

static int pg_snapshot_import(struct store *st, json_t *tables, json_t *seqs, struct err *e)
{
	PGconn *db;
	int rc;

	if (pg_in_tx(st))
		return err_set(e, MC_ERR_INTERNAL,
		               "snapshot: a transaction is open on this thread");
	rc = store_tx_begin(st, e); /* with the store's write lock */
	if (rc)
		return rc;
	if (!(db = pg_conn_db(st, e))) {
		rc = e && e->code ? e->code : MC_ERR_UNAVAILABLE;
		goto out;
	}
	for (size_t i = store_snapshot_ntables; !rc && i-- > 0;) {
		char sql[96];
		snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", store_snapshot_tables[i]);
		rc = run(db, sql, 0, NULL, NULL, "snapshot: empty a table", e);
	}
	/* the shared rate-limit buckets start full, as after a restart of every node (the replay
	 * set is kept: a request that ran still cannot run again) */
	if (!rc)
		rc = run(db, "DELETE FROM rl_buckets", 0, NULL, NULL,
		         "snapshot: refill the buckets", e);
	for (size_t i = 0; !rc && i < store_snapshot_ntables; i++) {
		const char *t = store_snapshot_tables[i];
		PGresult *cols = NULL;
		rc = import_table(db, t, json_object_get(tables, t), e);
		if (!rc)
			rc = columns(db, t, &cols, e);
		if (!rc && has_id(cols))
			rc = import_seq(db, t, seqs, e);
		PQclear(cols);
	}
	/* the count trigger of migration 004 added each user to the document's counts */
	if (!rc)
		rc = run(db,
		         "UPDATE accounts SET user_count = (SELECT count(*) FROM users "
		         "WHERE users.account_id = accounts.id)",
		         0, NULL, NULL, "snapshot: count users", e);
	if (!rc)
		return store_tx_commit(st, e);
out:
	store_tx_rollback(st);
	return rc;
}

const struct store_snapshot_ops pg_snapshot_ops = {
        .export_tables = pg_snapshot_export,
        .import_tables = pg_snapshot_import,
};
