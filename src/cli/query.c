/* --query: compiles a path such as data[*].domain or data[0].clickLogs[-1].url into a list of
 * steps once (so a syntax error is a usage error before any call is made) and walks a JSON
 * value with it. Only what the docs promise is accepted: names of [A-Za-z0-9_-] or a
 * "quoted" name, [N], [-N], [*]; anything else is refused with its offset. */
#include "query.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define QUERY_STEPS_MAX 64
#define QUERY_NAME_MAX  256

enum step_kind { STEP_KEY, STEP_INDEX, STEP_ALL };

struct step {
	enum step_kind kind;
	char name[QUERY_NAME_MAX + 1];
	long index;
};

struct query {
	struct step steps[QUERY_STEPS_MAX];
	size_t n;
};

static int name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '@' || c == '$';
}

static struct query *fail(struct query *q, char *msg, size_t size, const char *expr, size_t at,
                          const char *what)
{
	snprintf(msg, size, "bad --query '%s' at offset %zu: %s", expr, at, what);
	free(q);
	return NULL;
}

struct query *query_compile(const char *expr, char *msg, size_t msg_size)
{
	struct query *q = calloc(1, sizeof(*q));
	size_t i = 0, len = strlen(expr);
	int need_sep = 0;

	if (!q) {
		snprintf(msg, msg_size, "out of memory");
		return NULL;
	}
	if (len == 0 || strcmp(expr, "@") == 0)
		return q; /* the whole value */
	while (i < len) {
		struct step *s;
		if (q->n == QUERY_STEPS_MAX)
			return fail(q, msg, msg_size, expr, i, "too many steps");
		s = &q->steps[q->n];
		if (expr[i] == '[') {
			size_t j = i + 1;
			if (expr[j] == '*' && expr[j + 1] == ']') {
				s->kind = STEP_ALL;
				i = j + 2;
			} else {
				long v = 0;
				int neg = 0, digits = 0;
				if (expr[j] == '-') {
					neg = 1;
					j++;
				}
				for (; isdigit((unsigned char)expr[j]); j++, digits++) {
					if (v > 100000000L)
						return fail(q, msg, msg_size, expr, j,
						            "index too large");
					v = v * 10 + (expr[j] - '0');
				}
				if (!digits || expr[j] != ']')
					return fail(q, msg, msg_size, expr, i,
					            "expected [N], [-N] or [*]");
				s->kind = STEP_INDEX;
				s->index = neg ? -v : v;
				i = j + 1;
			}
			q->n++;
			need_sep = 1;
			continue;
		}
		if (need_sep) {
			if (expr[i] != '.')
				return fail(q, msg, msg_size, expr, i, "expected '.' or '['");
			i++;
		}
		s = &q->steps[q->n];
		s->kind = STEP_KEY;
		if (expr[i] == '"') {
			size_t j = i + 1, n = 0;
			for (; j < len && expr[j] != '"'; j++) {
				if (n == QUERY_NAME_MAX)
					return fail(q, msg, msg_size, expr, j, "name too long");
				s->name[n++] = expr[j];
			}
			if (j == len)
				return fail(q, msg, msg_size, expr, i, "unterminated \"name\"");
			s->name[n] = '\0';
			i = j + 1;
		} else {
			size_t n = 0;
			for (; i < len && name_char(expr[i]); i++) {
				if (n == QUERY_NAME_MAX)
					return fail(q, msg, msg_size, expr, i, "name too long");
				s->name[n++] = expr[i];
			}
			if (n == 0)
				return fail(q, msg, msg_size, expr, i, "expected a member name");
			s->name[n] = '\0';
		}
		q->n++;
		need_sep = 1;
	}
	return q;
}

void query_free(struct query *q)
{
	free(q);
}

static json_t *eval_from(const struct query *q, size_t i, json_t *v)
{
	const struct step *s;

	if (i == q->n)
		return json_incref(v);
	s = &q->steps[i];
	switch (s->kind) {
	case STEP_KEY: {
		json_t *c = json_is_object(v) ? json_object_get(v, s->name) : NULL;
		return c ? eval_from(q, i + 1, c) : NULL;
	}
	case STEP_INDEX: {
		long n = json_is_array(v) ? (long)json_array_size(v) : 0, k = s->index;
		if (!json_is_array(v))
			return NULL;
		if (k < 0)
			k += n;
		if (k < 0 || k >= n)
			return NULL;
		return eval_from(q, i + 1, json_array_get(v, (size_t)k));
	}
	case STEP_ALL: {
		json_t *out, *e, *r;
		size_t k;
		if (!json_is_array(v))
			return NULL;
		if (!(out = json_array()))
			return NULL;
		json_array_foreach(v, k, e)
		{
			r = eval_from(q, i + 1, e);
			if (r && !json_is_null(r))
				json_array_append(out, r);
			json_decref(r);
		}
		return out;
	}
	}
	return NULL;
}

json_t *query_eval(const struct query *q, json_t *v)
{
	return eval_from(q, 0, v);
}
