/* jansson helpers; see json.h. */
#include "json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "banned.h"

void json_strip_nulls(json_t *v)
{
	const char *k;
	json_t *m;
	void *tmp;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, k, m) {
			if (json_is_null(m))
				json_object_del(v, k);
			else
				json_strip_nulls(m);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m) json_strip_nulls(m);
	}
}

json_t *json_get_ci(json_t *obj, const char *key)
{
	const char *k;
	json_t *m;

	if (!json_is_object(obj))
		return NULL;
	m = json_object_get(obj, key);
	if (m)
		return m;
	json_object_foreach(obj, k, m) {
		if (strcasecmp(k, key) == 0)
			return m;
	}
	return NULL;
}

int json_get_string(json_t *obj, const char *key, const char **out)
{
	json_t *m = json_object_get(obj, key);

	if (!m || json_is_null(m))
		return 0;
	if (!json_is_string(m))
		return -1;
	*out = json_string_value(m);
	return 1;
}

int json_get_bool(json_t *obj, const char *key, int *out)
{
	json_t *m = json_object_get(obj, key);

	if (!m || json_is_null(m))
		return 0;
	if (json_is_boolean(m)) {
		*out = json_is_true(m);
		return 1;
	}
	if (json_is_string(m)) {
		const char *s = json_string_value(m);
		if (strcasecmp(s, "true") == 0) {
			*out = 1;
			return 1;
		}
		if (strcasecmp(s, "false") == 0) {
			*out = 0;
			return 1;
		}
	}
	return -1;
}

int json_get_int(json_t *obj, const char *key, int64_t *out)
{
	json_t *m = json_object_get(obj, key);

	if (!m || json_is_null(m))
		return 0;
	if (json_is_integer(m)) {
		*out = json_integer_value(m);
		return 1;
	}
	if (json_is_string(m)) {
		const char *s = json_string_value(m);
		char *end;
		long long v;
		if (!*s)
			return -1;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || *end)
			return -1;
		*out = v;
		return 1;
	}
	return -1;
}
