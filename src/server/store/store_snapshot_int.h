/* The snapshot ops a backend fills (sqlite_snapshot.c, pg_snapshot.c), and the table list
 * they share (store_snapshot.c). The common part (store_snapshot.c) frames the document,
 * checks its version and key, and checks its shape before a backend sees it: every listed
 * table present, columns a list of plain names, each row as long as the columns. */
#ifndef MCAPI_SERVER_STORE_STORE_SNAPSHOT_INT_H
#define MCAPI_SERVER_STORE_STORE_SNAPSHOT_INT_H

#include "server/store/store_snapshot.h"

#include <jansson.h>

/* The tables of a snapshot, parents before children. */
extern const char *const store_snapshot_tables[];
extern const size_t store_snapshot_ntables;

/* What the catalogue may hold besides them: 1 for a table a snapshot leaves out
 * (schema_migrations, store_meta, the shared caches), 0 for one it does not know. */
int store_snapshot_excluded(const char *table);

/* 1 if name is one of store_snapshot_tables. */
int store_snapshot_listed(const char *name);

struct store_snapshot_ops {
	/* In one consistent read: sets tables[name] = {"columns", "rows"} for every listed
	 * table (generated columns left out) and seqs[name] = the highest id the table ever
	 * handed out where the backend keeps that; MC_ERR_INTERNAL if the catalogue holds a
	 * table neither listed nor excluded. */
	int (*export_tables)(struct store *st, json_t *tables, json_t *seqs, struct err *e);
	/* In one transaction of the calling thread (none may be open): empties every listed
	 * table, inserts the rows of tables (checked by store_snapshot.c: each listed table
	 * present with a well-formed columns/rows pair), sets sequences past seqs and the
	 * largest ids, recounts derived columns (accounts.user_count). A column the table does
	 * not have is MC_ERR_INVALID. */
	int (*import_tables)(struct store *st, json_t *tables, json_t *seqs, struct err *e);
};

extern const struct store_snapshot_ops sqlite_snapshot_ops; /* sqlite_snapshot.c */
extern const struct store_snapshot_ops pg_snapshot_ops;     /* pg_snapshot.c */

/* A column name as a snapshot may name it: [a-z_][a-z0-9_]*, at most 63 bytes. */
int store_snapshot_name_ok(const char *name);

/* A cell of a row as the backends bind it: what a JSON value is. */
enum snap_kind { SNAP_NULL, SNAP_INT, SNAP_REAL, SNAP_TEXT, SNAP_BLOB, SNAP_BAD };

/* The kind of v; for SNAP_BLOB, *b64 gets the base64 text (owned by v). */
enum snap_kind store_snapshot_cell(json_t *v, const char **b64);

/* {"base64": ...} of data[0..n), or NULL (no memory). */
json_t *store_snapshot_blob(const void *data, size_t n);

/* Decodes the base64 text of a blob cell into *out (malloc'd; the caller frees) and *n.
 * MC_ERR_INVALID or MC_ERR_NOMEM. */
int store_snapshot_unblob(const char *b64, unsigned char **out, size_t *n);

#endif
