/* SQLite's half of store_snapshot.h: the tables read and written with statements built from
 * the table list and the catalogue (PRAGMA table_info, which leaves out generated columns
 * such as users.domain), prepared for the one call and finalized; AUTOINCREMENT's high-water
 * marks (sqlite_sequence) are the document's "sequences". */
#include "sqlite_int.h"

#include "store_snapshot_int.h"

#include "common/buf.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SQL_CAP 8192

static int run(sqlite3 *db, const char *sql, const char *what, struct err *e)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sqlite_fail(db, rc, what, e);
}

/* A row the store refuses (a unique clash, a missing referenced row): the document is at
 * fault, not the store; the message stays. */
static int invalid(struct err *e)
{
	if (e)
		e->code = MC_ERR_INVALID;
	return MC_ERR_INVALID;
}

/* The columns of table (generated ones left out), as a JSON array of names. */
static int columns(sqlite3 *db, const char *table, json_t **out, struct err *e)
{
	sqlite3_stmt *s = NULL;
	json_t *cols = json_array();
	int rc;

	*out = NULL;
	if (!cols)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", -1, &s,
	                        NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_array_append_new(cols, json_string((const char *)sqlite3_column_text(s, 0)));
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		json_decref(cols);
		return sqlite_fail(db, rc, "snapshot: read the catalogue", e);
	}
	*out = cols;
	return 0;
}

/* Every table of the catalogue is listed or excluded (store_snapshot.c). */
static int catalogue_known(sqlite3 *db, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1,
	                            &s, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		if (!store_snapshot_listed(name) && !store_snapshot_excluded(name)) {
			err_set(e, MC_ERR_INTERNAL,
			        "snapshot: table '%.64s' is not in the snapshot list "
			        "(store_snapshot.c)",
			        name);
			sqlite3_finalize(s);
			return MC_ERR_INTERNAL;
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sqlite_fail(db, rc, "snapshot: read the catalogue", e);
}

static json_t *cell(sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(s, i));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(s, i));
	case SQLITE_TEXT:
		return json_stringn((const char *)sqlite3_column_text(s, i),
		                    (size_t)sqlite3_column_bytes(s, i));
	case SQLITE_BLOB:
		return store_snapshot_blob(sqlite3_column_blob(s, i),
		                           (size_t)sqlite3_column_bytes(s, i));
	default:
		return json_null();
	}
}

static int export_table(sqlite3 *db, const char *table, json_t *tables, struct err *e)
{
	struct buf sql;
	sqlite3_stmt *s = NULL;
	json_t *cols = NULL, *rows = json_array(), *c;
	size_t i, n;
	int rc;

	buf_init(&sql, SQL_CAP);
	rc = columns(db, table, &cols, e);
	if (rc)
		goto out;
	if (!rows) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	buf_adds(&sql, "SELECT ");
	json_array_foreach(cols, i, c)
	        buf_addf(&sql, "%s\"%s\"", i ? ", " : "", json_string_value(c));
	if (buf_addf(&sql, " FROM \"%s\" ORDER BY 1", table) != 0) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	n = json_array_size(cols);
	rc = sqlite3_prepare_v2(db, sql.data, -1, &s, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *row = json_array();
		for (i = 0; row && i < n; i++)
			if (json_array_append_new(row, cell(s, (int)i)) != 0)
				break;
		if (!row || i < n || json_array_append_new(rows, row) != 0) {
			json_decref(row);
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			goto out;
		}
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		rc = sqlite_fail(db, rc, "snapshot: read a table", e);
		goto out;
	}
	rc = json_object_set_new(tables, table,
	                         json_pack("{s:O, s:O}", "columns", cols, "rows", rows))
	             ? err_set(e, MC_ERR_NOMEM, "out of memory")
	             : 0;
out:
	sqlite3_finalize(s);
	json_decref(cols);
	json_decref(rows);
	buf_release(&sql);
	return rc;
}

static int export_seqs(sqlite3 *db, json_t *seqs, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT name, seq FROM sqlite_sequence ORDER BY name", -1,
	                            &s, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		if (name && store_snapshot_listed(name))
			json_object_set_new(seqs, name, json_integer(sqlite3_column_int64(s, 1)));
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sqlite_fail(db, rc, "snapshot: read the sequences", e);
}

static int sqlite_snapshot_export(struct store *st, json_t *tables, json_t *seqs, struct err *e)
{
	sqlite3 *db;
	int rc;

	if (sqlite_in_tx(st))
		return err_set(e, MC_ERR_INTERNAL,
		               "snapshot: a transaction is open on this thread");
	if (!(db = sqlite_conn_db(st, e)))
		return e && e->code ? e->code : MC_ERR_STORE;
	/* a read transaction: every table as of one moment (WAL) */
	rc = run(db, "BEGIN", "snapshot: begin", e);
	if (rc)
		return rc;
	rc = catalogue_known(db, e);
	for (size_t i = 0; !rc && i < store_snapshot_ntables; i++)
		rc = export_table(db, store_snapshot_tables[i], tables, e);
	if (!rc)
		rc = export_seqs(db, seqs, e);
	if (!sqlite3_get_autocommit(db))
		run(db, "COMMIT", "snapshot: end", NULL);
	return rc;
}

/* Binds the JSON cell v as parameter i. */
static int bind_cell(sqlite3_stmt *s, int i, json_t *v, unsigned char **blob)
{
	const char *b64 = NULL;
	size_t n = 0;

	switch (store_snapshot_cell(v, &b64)) {
	case SNAP_NULL:
		return sqlite3_bind_null(s, i);
	case SNAP_INT:
		return sqlite3_bind_int64(s, i, json_integer_value(v));
	case SNAP_REAL:
		return sqlite3_bind_double(s, i, json_real_value(v));
	case SNAP_TEXT:
		return sqlite3_bind_text(s, i, json_string_value(v), (int)json_string_length(v),
		                         SQLITE_STATIC);
	case SNAP_BLOB:
		if (store_snapshot_unblob(b64, blob, &n) != 0)
			return SQLITE_MISMATCH;
		return sqlite3_bind_blob(s, i, *blob, (int)n, SQLITE_TRANSIENT);
	default:
		return SQLITE_MISMATCH;
	}
}

static int import_table(sqlite3 *db, const char *table, json_t *t, struct err *e)
{
	json_t *have = NULL, *cols = json_object_get(t, "columns"),
	       *rows = json_object_get(t, "rows");
	json_t *c, *row;
	struct buf sql;
	sqlite3_stmt *s = NULL;
	size_t i, j, k;
	int rc;

	buf_init(&sql, SQL_CAP);
	rc = columns(db, table, &have, e);
	if (rc)
		goto out;
	buf_addf(&sql, "INSERT INTO \"%s\" (", table);
	json_array_foreach(cols, i, c)
	{
		for (k = 0;
		     k < json_array_size(have) &&
		     strcmp(json_string_value(c), json_string_value(json_array_get(have, k)));
		     k++)
			;
		if (k == json_array_size(have)) {
			rc = err_set(e, MC_ERR_INVALID, "table '%s' has no column '%s'", table,
			             json_string_value(c));
			goto out;
		}
		buf_addf(&sql, "%s\"%s\"", i ? ", " : "", json_string_value(c));
	}
	buf_adds(&sql, ") VALUES (");
	for (i = 0; i < json_array_size(cols); i++)
		buf_adds(&sql, i ? ", ?" : "?");
	if (buf_adds(&sql, ")") != 0) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = sqlite3_prepare_v2(db, sql.data, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlite_fail(db, rc, "snapshot: insert", e);
		goto out;
	}
	json_array_foreach(rows, i, row)
	{
		json_array_foreach(row, j, c)
		{
			unsigned char *blob = NULL;
			rc = bind_cell(s, (int)j + 1, c, &blob);
			free(blob);
			if (rc != SQLITE_OK) {
				rc = err_set(e, MC_ERR_INVALID,
				             "table '%s', row %zu, column %zu: not a valid value",
				             table, i, j);
				goto out;
			}
		}
		rc = sqlite3_step(s);
		if (rc != SQLITE_DONE) {
			char what[128];
			snprintf(what, sizeof(what), "snapshot: table '%s', row %zu", table, i);
			rc = sqlite_fail(db, rc, what, e);
			if (rc == MC_ERR_EXISTS || rc == MC_ERR_NOT_FOUND)
				rc = invalid(e);
			goto out;
		}
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	json_decref(have);
	buf_release(&sql);
	return rc;
}

/* The document's high-water marks, for the tables that keep one (AUTOINCREMENT), where
 * they are higher than the current ones (which the inserts raised to the largest id). */
static int import_seqs(sqlite3 *db, json_t *seqs, struct err *e)
{
	static const char sql_auto[] = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
	                               "name = ?1 AND sql LIKE '%AUTOINCREMENT%'";
	static const char sql_up[] =
	        "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1";
	static const char sql_ins[] = "INSERT INTO sqlite_sequence(name, seq) VALUES (?1, ?2)";
	const char *name;
	json_t *v;
	int rc = 0;

	json_object_foreach(seqs, name, v)
	{
		const char *steps[] = {sql_auto, sql_up, sql_ins};
		for (int k = 0; k < 3; k++) {
			sqlite3_stmt *s = NULL;
			int r = sqlite3_prepare_v2(db, steps[k], -1, &s, NULL);
			if (r == SQLITE_OK)
				r = sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
			if (r == SQLITE_OK && k)
				r = sqlite3_bind_int64(s, 2, json_integer_value(v));
			if (r == SQLITE_OK)
				r = sqlite3_step(s);
			sqlite3_finalize(s);
			if (r != SQLITE_ROW && r != SQLITE_DONE)
				return sqlite_fail(db, r, "snapshot: set a sequence", e);
			if ((k == 0 && r == SQLITE_DONE) || (k == 1 && sqlite3_changes(db) > 0))
				break; /* no AUTOINCREMENT, or updated */
		}
	}
	return rc;
}

static int sqlite_snapshot_import(struct store *st, json_t *tables, json_t *seqs, struct err *e)
{
	sqlite3 *db;
	int rc;

	if (sqlite_in_tx(st))
		return err_set(e, MC_ERR_INTERNAL,
		               "snapshot: a transaction is open on this thread");
	rc = store_tx_begin(st, e);
	if (rc)
		return rc;
	if (!(db = sqlite_conn_db(st, e))) {
		rc = e && e->code ? e->code : MC_ERR_STORE;
		goto out;
	}
	/* references are checked at commit: the order of rows within a table does not matter */
	rc = run(db, "PRAGMA defer_foreign_keys = ON", "snapshot: defer foreign keys", e);
	for (size_t i = store_snapshot_ntables; !rc && i-- > 0;) {
		char sql[96];
		snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", store_snapshot_tables[i]);
		rc = run(db, sql, "snapshot: empty a table", e);
	}
	/* sqlite_sequence stays: a sequence never goes back (the inserts and import_seqs only
	 * raise it), so no id the API has shown is given to another record */
	for (size_t i = 0; !rc && i < store_snapshot_ntables; i++)
		rc = import_table(db, store_snapshot_tables[i],
		                  json_object_get(tables, store_snapshot_tables[i]), e);
	if (!rc && seqs)
		rc = import_seqs(db, seqs, e);
	/* the triggers of migration 004 counted each user once more on top of the document's
	 * counts: count afresh */
	if (!rc)
		rc = run(db,
		         "UPDATE accounts SET user_count = (SELECT count(*) FROM users "
		         "WHERE users.account_id = accounts.id)",
		         "snapshot: count users", e);
	if (!rc) {
		rc = store_tx_commit(st, e);
		return rc == MC_ERR_NOT_FOUND ? invalid(e) : rc; /* a deferred reference */
	}
out:
	store_tx_rollback(st);
	return rc;
}

const struct store_snapshot_ops sqlite_snapshot_ops = {
        .export_tables = sqlite_snapshot_export,
        .import_tables = sqlite_snapshot_import,
};
