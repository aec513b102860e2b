/* The common part of store_snapshot.h: the table list, the document's frame (format,
 * schema version, key check) and the shape checks made before a backend imports; the
 * backends read and write the tables (sqlite_snapshot.c, pg_snapshot.c). */
#include "store_snapshot_int.h"

#include "keyfile.h"
#include "store_int.h"

#include "common/b64.h"
#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define FORMAT         "mcapid-snapshot"
#define FORMAT_VERSION 1
#define KEY_CHECK_AD   "snapshot-key-check"
#define KEY_CHECK_TEXT "mcapi snapshot key check"

/* Every table that holds state, parents before children (an import deletes in the reverse
 * order). A migration that adds a table adds it here or to `excluded`: an export refuses a
 * store whose catalogue holds a table in neither (tests/e2e/test_emulator_snapshot.py). */
const char *const store_snapshot_tables[] = {
        "accounts",        "applications",   "users",     "bindings",       "audit_events",
        "domains",         "login_failures", "bodies",    "message_bodies", "messages",
        "recipients",      "mail_events",    "relay_ips", "groups",         "group_members",
        "sender_policies", "managed_urls",
};
const size_t store_snapshot_ntables =
        sizeof(store_snapshot_tables) / sizeof(store_snapshot_tables[0]);

/* Per database, or caches several nodes share (docs/postgres.md): never in a snapshot. */
static const char *const excluded[] = {
        "schema_migrations", /* PostgreSQL's migration record (SQLite: user_version) */
        "store_meta",        /* the database's own key check */
        "replay_ids",        /* PostgreSQL: the shared replay set */
        "rl_buckets",        /* PostgreSQL: the shared rate-limit buckets */
        "cache_gen",         /* PostgreSQL: the change counter of the caches */
};

int store_snapshot_excluded(const char *table)
{
	for (size_t i = 0; i < sizeof(excluded) / sizeof(excluded[0]); i++)
		if (strcmp(table, excluded[i]) == 0)
			return 1;
	return strncmp(table, "sqlite_", 7) == 0; /* SQLite's own (sqlite_sequence: "sequences") */
}

int store_snapshot_listed(const char *name)
{
	for (size_t i = 0; i < store_snapshot_ntables; i++)
		if (strcmp(name, store_snapshot_tables[i]) == 0)
			return 1;
	return 0;
}

int store_snapshot_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 63 || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return 0;
	return 1;
}

enum snap_kind store_snapshot_cell(json_t *v, const char **b64)
{
	json_t *s;

	switch (json_typeof(v)) {
	case JSON_NULL:
		return SNAP_NULL;
	case JSON_INTEGER:
		return SNAP_INT;
	case JSON_REAL:
		return SNAP_REAL;
	case JSON_STRING:
		return strlen(json_string_value(v)) == json_string_length(v) ? SNAP_TEXT : SNAP_BAD;
	case JSON_OBJECT:
		s = json_object_get(v, "base64");
		if (json_object_size(v) != 1 || !json_is_string(s))
			return SNAP_BAD;
		*b64 = json_string_value(s);
		return SNAP_BLOB;
	default:
		return SNAP_BAD;
	}
}

json_t *store_snapshot_blob(const void *data, size_t n)
{
	char *text = malloc(B64_ENCODED_SIZE(n));
	json_t *v;

	if (!text)
		return NULL;
	b64_encode(data, n, text);
	v = json_pack("{s:s}", "base64", text);
	free(text);
	return v;
}

int store_snapshot_unblob(const char *b64, unsigned char **out, size_t *n)
{
	size_t len = strlen(b64);
	unsigned char *data = malloc(len / 4 * 3 + 3);

	*out = NULL;
	if (!data)
		return MC_ERR_NOMEM;
	if (b64_decode(b64, len, data, len / 4 * 3 + 3, n) != 0) {
		free(data);
		return MC_ERR_INVALID;
	}
	*out = data;
	return 0;
}

int store_snapshot_export(struct store *st, char **out, size_t *len, struct err *e)
{
	json_t *doc = NULL, *tables = json_object(), *seqs = json_object(), *check = NULL;
	char created[DATE_ISO_LEN];
	struct buf sealed;
	int rc;

	*out = NULL;
	*len = 0;
	buf_init(&sealed, 128);
	if (!tables || !seqs) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!st->ops->snapshot) {
		rc = err_set(e, MC_ERR_INTERNAL, "the %s store has no snapshots", st->ops->name);
		goto out;
	}
	rc = st->ops->snapshot->export_tables(st, tables, seqs, e);
	if (rc)
		goto out;
	rc = seal(st->key, KEY_CHECK_AD, KEY_CHECK_TEXT, strlen(KEY_CHECK_TEXT), &sealed);
	if (rc) {
		err_set(e, rc, "snapshot: cannot seal the key check");
		goto out;
	}
	if (!(check = store_snapshot_blob(sealed.data, sealed.len))) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	date_format_iso(now_ms(), created);
	doc = json_pack("{s:s, s:i, s:i, s:s, s:s, s:O, s:O, s:O}", "format", FORMAT,
	                "format_version", FORMAT_VERSION, "schema_version",
	                store_schema_version(st), "backend", st->ops->name, "created", created,
	                "key_check", check, "tables", tables, "sequences", seqs);
	if (!doc || !(*out = json_dumps(doc, JSON_COMPACT))) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	*len = strlen(*out);
out:
	json_decref(doc);
	json_decref(tables);
	json_decref(seqs);
	json_decref(check);
	buf_release(&sealed);
	return rc;
}

/* The key check of doc opens with st's key. */
static int key_ok(struct store *st, json_t *check)
{
	const char *b64 = NULL;
	unsigned char *blob = NULL, plain[64];
	size_t n = 0, plain_len = 0;
	int ok;

	if (!check || store_snapshot_cell(check, &b64) != SNAP_BLOB ||
	    store_snapshot_unblob(b64, &blob, &n) != 0)
		return 0;
	ok = unseal(st->key, KEY_CHECK_AD, blob, n, plain, sizeof(plain), &plain_len) == 0 &&
	     plain_len == strlen(KEY_CHECK_TEXT) && memcmp(plain, KEY_CHECK_TEXT, plain_len) == 0;
	free(blob);
	return ok;
}

/* Every listed table present as {"columns": [names], "rows": [[cells] of that length]}, no
 * other table; sequences (optional) name listed tables with whole numbers >= 0. */
static int shape_ok(json_t *tables, json_t *seqs, struct err *e)
{
	const char *name;
	json_t *t, *v;

	if (!json_is_object(tables))
		return err_set(e, MC_ERR_INVALID, "'tables' must be an object");
	json_object_foreach(tables, name, t)
	{
		json_t *cols = json_object_get(t, "columns"), *rows = json_object_get(t, "rows"),
		       *c, *r;
		size_t i, j;
		if (!store_snapshot_listed(name))
			return err_set(e, MC_ERR_INVALID, "no table '%.64s' in a snapshot", name);
		if (!json_is_object(t) || !json_is_array(cols) || !json_is_array(rows) ||
		    json_array_size(cols) == 0)
			return err_set(e, MC_ERR_INVALID,
			               "table '%s' must be {\"columns\": [...], \"rows\": [...]}",
			               name);
		json_array_foreach(cols, i, c)
		{
			if (!json_is_string(c) || !store_snapshot_name_ok(json_string_value(c)))
				return err_set(e, MC_ERR_INVALID,
				               "table '%s': column %zu is not a column name", name,
				               i);
			for (j = 0; j < i; j++)
				if (strcmp(json_string_value(c),
				           json_string_value(json_array_get(cols, j))) == 0)
					return err_set(e, MC_ERR_INVALID,
					               "table '%s': column '%s' twice", name,
					               json_string_value(c));
		}
		json_array_foreach(rows, i, r)
		{
			const char *b64;
			if (!json_is_array(r) || json_array_size(r) != json_array_size(cols))
				return err_set(e, MC_ERR_INVALID,
				               "table '%s': row %zu does not have %zu cells", name,
				               i, json_array_size(cols));
			json_array_foreach(r, j, c) if (
			        store_snapshot_cell(c, &b64) ==
			        SNAP_BAD) return err_set(e, MC_ERR_INVALID,
			                                 "table '%s': row %zu, column %zu: a cell "
			                                 "is a number, "
			                                 "a string, null or {\"base64\": \"...\"}",
			                                 name, i, j);
		}
	}
	for (size_t k = 0; k < store_snapshot_ntables; k++)
		if (!json_object_get(tables, store_snapshot_tables[k]))
			return err_set(e, MC_ERR_INVALID, "table '%s' is missing",
			               store_snapshot_tables[k]);
	if (!seqs)
		return 0;
	if (!json_is_object(seqs))
		return err_set(e, MC_ERR_INVALID, "'sequences' must be an object");
	json_object_foreach(seqs, name, v)
	{
		if (!store_snapshot_listed(name) || !json_is_integer(v) ||
		    json_integer_value(v) < 0)
			return err_set(e, MC_ERR_INVALID,
			               "'sequences' maps table names to whole numbers >= 0");
	}
	return 0;
}

int store_snapshot_import(struct store *st, const char *text, size_t len, struct err *e)
{
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *seqs;
	int rc;

	if (!doc)
		return err_set(e, MC_ERR_INVALID, "the snapshot is not JSON: %s", je.text);
	if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "format")) ||
	    strcmp(json_string_value(json_object_get(doc, "format")), FORMAT) != 0 ||
	    json_integer_value(json_object_get(doc, "format_version")) != FORMAT_VERSION) {
		rc = err_set(e, MC_ERR_INVALID,
		             "not a snapshot (format \"" FORMAT "\", format_version %d)",
		             FORMAT_VERSION);
		goto out;
	}
	if (!json_is_integer(json_object_get(doc, "schema_version")) ||
	    json_integer_value(json_object_get(doc, "schema_version")) !=
	            store_schema_version(st)) {
		rc = err_set(e, MC_ERR_STATE, "the snapshot has schema version %lld, this store %d",
		             (long long)json_integer_value(json_object_get(doc, "schema_version")),
		             store_schema_version(st));
		goto out;
	}
	if (!key_ok(st, json_object_get(doc, "key_check"))) {
		rc = err_set(e, MC_ERR_CRYPTO,
		             "the snapshot was made with another server key (its secrets cannot "
		             "be opened here)");
		goto out;
	}
	seqs = json_object_get(doc, "sequences");
	rc = shape_ok(json_object_get(doc, "tables"), seqs, e);
	if (rc)
		goto out;
	if (!st->ops->snapshot) {
		rc = err_set(e, MC_ERR_INTERNAL, "the %s store has no snapshots", st->ops->name);
		goto out;
	}
	rc = st->ops->snapshot->import_tables(st, json_object_get(doc, "tables"), seqs, e);
out:
	json_decref(doc);
	return rc;
}
