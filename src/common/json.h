/* jansson helpers for handlers: typed, lenient-where-the-contract-says reads of request
 * items, and small builders. All getters treat a missing key and JSON null alike. */
#ifndef MCAPI_COMMON_JSON_H
#define MCAPI_COMMON_JSON_H

#include <jansson.h>
#include <stdint.h>

/* Removes members whose value is null from every object in v, recursively. */
void json_strip_nulls(json_t *v);

/* The member key of obj matched case-insensitively (exact match preferred), or NULL. */
json_t *json_get_ci(json_t *obj, const char *key);

/* String member: *out points into obj (valid while obj lives). Returns 1 if present and
 * a string, 0 if absent/null, -1 if present with another type. */
int json_get_string(json_t *obj, const char *key, const char **out);

/* Boolean member; also accepts the strings "true"/"false" in any case (§4).
 * Returns 1 if present and valid, 0 if absent/null, -1 if of another type. */
int json_get_bool(json_t *obj, const char *key, int *out);

/* Integer member; also accepts a string of decimal digits. 1 / 0 / -1 as above. */
int json_get_int(json_t *obj, const char *key, int64_t *out);

struct buf;

/* Appends v to b as compact JSON, object members in insertion order: what json_dumps(v,
 * JSON_COMPACT) writes, several times faster (no callback per token). Strings must be
 * valid UTF-8 (jansson guarantees it). Returns 0, MC_ERR_TOO_LARGE past b's cap,
 * MC_ERR_NOMEM, or MC_ERR_DEPTH beyond 128 levels. */
int json_write(struct buf *b, const json_t *v);

/* Appends s[0..n) as a quoted JSON string (valid UTF-8 expected). 0 or a buf error. */
int json_write_string(struct buf *b, const char *s, size_t n);

/* Appends `"key":"value"` (with a leading comma unless first). 0 or a buf error. */
int json_write_member(struct buf *b, int first, const char *key, const char *value);

#endif
