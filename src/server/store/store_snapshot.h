/* The whole state of the store as one portable JSON document (docs/emulator.md, snapshots):
 * what the control plane's GET/PUT /__mcapi/snapshot and POST /__mcapi/reset use.
 *
 * The document names the schema version and carries a key check (a known text sealed with
 * the server key), then every table of the store that holds state, in foreign-key order,
 * each as {"columns": [...], "rows": [[...], ...]}: integers as JSON integers, text as
 * strings, NULL as null, blobs as {"base64": "..."}; and "sequences", the highest id each
 * table ever handed out, so ids are not reused after an import. Secrets are in it as the
 * store keeps them, sealed with the server key, so only a server with the same server key
 * can import it. Caches of the store are left out (PostgreSQL's replay set, rate-limit
 * buckets and change counter; store_meta's key check is per database).
 *
 * The same document fits both backends (SQLite and PostgreSQL) at the same schema version. */
#ifndef MCAPI_SERVER_STORE_STORE_SNAPSHOT_H
#define MCAPI_SERVER_STORE_STORE_SNAPSHOT_H

#include <stddef.h>

struct store;
struct err;

/* Exports the store as of one consistent read into *out (JSON text, NUL-terminated, *len
 * bytes; the caller frees it). MC_ERR_INTERNAL if the store holds a table the snapshot list
 * does not know (a migration added one: store_snapshot.c must list it); store errors as
 * store.h says. */
int store_snapshot_export(struct store *st, char **out, size_t *len, struct err *e);

/* Replaces the whole content of the store by the document doc[0..len) in one transaction:
 * every listed table emptied (in reverse foreign-key order), the document's rows inserted
 * (in order), the sequences set past both the document's values and the largest ids.
 * Errors, with nothing changed:
 *   MC_ERR_INVALID   the document is not a snapshot, or its rows break a constraint;
 *   MC_ERR_STATE     its schema version is not the store's;
 *   MC_ERR_CRYPTO    its key check does not open with this server key;
 *   MC_ERR_UNAVAILABLE, MC_ERR_STORE as store.h says.
 * The caller flushes whatever it caches of the store afterwards. */
int store_snapshot_import(struct store *st, const char *doc, size_t len, struct err *e);

#endif
