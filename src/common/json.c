/* jansson helpers; see json.h. */
#include "json.h"

#include "buf.h"
#include "err.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "banned.h"

/* Bytes that JSON strings cannot hold as they are. */
static const unsigned char needs_escape[256] = {
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, ['"'] = 1, ['\\'] = 1,
};

/* Word-at-a-time tests: a byte < k (k <= 128), a byte == k. */
#define ONES           0x0101010101010101ULL
#define HIGHS          0x8080808080808080ULL
#define HAS_LESS(x, k) (((x)-ONES * (k)) & ~(x)&HIGHS)
#define HAS_BYTE(x, k) HAS_LESS((x) ^ (ONES * (k)), 1)

/* The length of the leading run of s[0..n) that needs no escape. */
static size_t plain_run(const char *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) { /* eight bytes at a time */
		uint64_t x;
		memcpy(&x, s + i, 8);
		if (HAS_LESS(x, 0x20) | HAS_BYTE(x, '"') | HAS_BYTE(x, '\\'))
			break;
	}
	while (i < n && !needs_escape[(unsigned char)s[i]])
		i++;
	return i;
}

/* Room for n more bytes (and the NUL) without growing. */
static char *room(struct buf *b, size_t n)
{
	if (b->alloc > n && b->len < b->alloc - n && b->len + n <= b->cap)
		return b->data + b->len;
	return NULL;
}

static int write_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t plain = plain_run(s, n), run = 0;
	char *w;
	int rc;

	if (plain == n && (w = room(b, n + 2))) { /* the common case: one copy */
		*w++ = '"';
		memcpy(w, s, n);
		w[n] = '"';
		b->len += n + 2;
		b->data[b->len] = '\0';
		return 0;
	}
	if ((rc = buf_add(b, "\"", 1)) != 0)
		return rc;
	for (size_t i = plain; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t en = 2;

		if (!needs_escape[c])
			continue; /* plain byte (UTF-8 included): copied with its run */
		if ((rc = buf_add(b, s + run, i - run)) != 0)
			return rc;
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		default:
			esc[1] = 'u', esc[2] = '0', esc[3] = '0';
			esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
			en = 6;
		}
		if ((rc = buf_add(b, esc, en)) != 0)
			return rc;
	}
	if ((rc = buf_add(b, s + run, n - run)) != 0)
		return rc;
	return buf_add(b, "\"", 1);
}

static int write_value(struct buf *b, const json_t *v, int depth)
{
	char num[32];
	int rc = 0;

	if (depth > 128)
		return MC_ERR_DEPTH;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		int first = 1;
		if ((rc = buf_addc(b, '{')) != 0)
			return rc;
		json_object_foreach((json_t *)v, k, m)
		{
			if ((!first && (rc = buf_addc(b, ',')) != 0) ||
			    (rc = write_string(b, k, strlen(k))) != 0 ||
			    (rc = buf_addc(b, ':')) != 0 ||
			    (rc = write_value(b, m, depth + 1)) != 0)
				return rc;
			first = 0;
		}
		return buf_addc(b, '}');
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *m;
		if ((rc = buf_addc(b, '[')) != 0)
			return rc;
		json_array_foreach((json_t *)v, i, m)
		{
			if ((i && (rc = buf_addc(b, ',')) != 0) ||
			    (rc = write_value(b, m, depth + 1)) != 0)
				return rc;
		}
		return buf_addc(b, ']');
	}
	case JSON_STRING:
		return write_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER: {
		char *p = num + sizeof(num) - 1;
		json_int_t x = json_integer_value(v);
		unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
		*p = '\0';
		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (x < 0)
			*--p = '-';
		return buf_adds(b, p);
	}
	case JSON_REAL: {
		int n = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		if (n < 0 || (size_t)n >= sizeof(num))
			return MC_ERR_INVALID;
		/* keep it a real: 1 → 1.0, as jansson does */
		if (!strpbrk(num, ".eE") && strcmp(num, "inf") && strcmp(num, "nan"))
			return buf_add(b, num, (size_t)n) ? MC_ERR_NOMEM : buf_adds(b, ".0");
		return buf_add(b, num, (size_t)n);
	}
	case JSON_TRUE:
		return buf_adds(b, "true");
	case JSON_FALSE:
		return buf_adds(b, "false");
	case JSON_NULL:
		return buf_adds(b, "null");
	}
	return MC_ERR_INVALID;
}

int json_write(struct buf *b, const json_t *v)
{
	return write_value(b, v, 0);
}

int json_write_string(struct buf *b, const char *s, size_t n)
{
	return write_string(b, s, n);
}

int json_write_member(struct buf *b, int first, const char *key, const char *value)
{
	size_t kn = strlen(key), vn = strlen(value);
	char *w;
	int rc;

	/* the common case, a member with nothing to escape, in one piece: ,"key":"value" */
	if (plain_run(key, kn) == kn && plain_run(value, vn) == vn && (w = room(b, kn + vn + 6))) {
		char *start = w;
		if (!first)
			*w++ = ',';
		*w++ = '"';
		memcpy(w, key, kn), w += kn;
		memcpy(w, "\":\"", 3), w += 3;
		memcpy(w, value, vn), w += vn;
		*w++ = '"';
		b->len += (size_t)(w - start);
		b->data[b->len] = '\0';
		return 0;
	}
	if ((!first && (rc = buf_addc(b, ',')) != 0) || (rc = write_string(b, key, kn)) != 0 ||
	    (rc = buf_addc(b, ':')) != 0)
		return rc;
	return write_string(b, value, vn);
}

void json_strip_nulls(json_t *v)
{
	const char *k;
	json_t *m;
	void *tmp;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, k, m)
		{
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
	json_object_foreach(obj, k, m)
	{
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
