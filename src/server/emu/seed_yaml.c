/* YAML seed files (seed_doc.h): libyaml's event parser drives a small stack machine that
 * builds the jansson tree the JSON path would have built, so seed.c checks one shape only.
 * Events rather than libyaml's document loader: an alias can be refused where it stands
 * (no expansion, so no "billion laughs"), and the depth and node caps apply while parsing,
 * before anything large is built. */
#include "seed_doc.h"

#include "common/err.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/banned.h"

struct frame {
	json_t *node; /* an object or an array (borrowed: the parent or the root owns it) */
	char *key;    /* an object's key waiting for its value, or NULL */
};

struct builder {
	const char *name;
	struct frame stack[SEED_DOC_MAX_DEPTH];
	int depth;
	size_t nodes;
	json_t *root;
	struct err *e;
};

static int where(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int where(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(b->e, MC_ERR_INVALID, "seed file '%s': line %zu column %zu: %s", b->name,
	               m->line + 1, m->column + 1, msg);
}

/* Whole text s[0..n) is a number of the YAML 1.2 core schema: an integer (decimal, 0x, 0o)
 * into *v, or a decimal float into *d. 1 = integer, 2 = float, 0 = neither. */
static int number(const char *s, size_t n, json_int_t *v, double *d)
{
	char buf[64], *end;
	size_t i = 0;
	int base = 10, digits = 0, dot = 0, exp = 0;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (n > 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'o')) {
		base = buf[1] == 'x' ? 16 : 8;
		for (i = 2; i < n; i++)
			if (!(base == 16 ? strchr("0123456789abcdefABCDEF", buf[i]) != NULL
			                 : (buf[i] >= '0' && buf[i] <= '7')))
				return 0;
		errno = 0;
		unsigned long long u = strtoull(buf + 2, &end, base);
		if (errno || *end || u > (unsigned long long)LLONG_MAX)
			return 0;
		*v = (json_int_t)u;
		return 1;
	}
	if (buf[i] == '-' || buf[i] == '+')
		i++;
	for (; i < n; i++) {
		if (buf[i] >= '0' && buf[i] <= '9')
			digits++;
		else if (buf[i] == '.' && !dot && !exp)
			dot = 1;
		else if ((buf[i] == 'e' || buf[i] == 'E') && digits && !exp) {
			exp = 1;
			if (i + 1 < n && (buf[i + 1] == '-' || buf[i + 1] == '+'))
				i++;
			if (i + 1 >= n)
				return 0;
		} else
			return 0;
	}
	if (!digits)
		return 0;
	errno = 0;
	if (!dot && !exp) {
		long long x = strtoll(buf, &end, 10);
		if (errno || *end)
			return 0; /* out of range: left a string, as jansson would refuse it */
		*v = (json_int_t)x;
		return 1;
	}
	*d = strtod(buf, &end);
	return !*end && !errno ? 2 : 0;
}

static int is_word(const char *s, size_t n, const char *const *words)
{
	for (; *words; words++)
		if (strlen(*words) == n && memcmp(*words, s, n) == 0)
			return 1;
	return 0;
}

/* A scalar event's value. */
static json_t *scalar(const yaml_event_t *ev)
{
	static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t n = ev->data.scalar.length;
	json_int_t v;
	double d;

	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!tag || strcmp(tag, YAML_STR_TAG) != 0)) {
		if (n == 0 || is_word(s, n, nulls))
			return json_null();
		if (is_word(s, n, trues))
			return json_true();
		if (is_word(s, n, falses))
			return json_false();
		switch (number(s, n, &v, &d)) {
		case 1:
			return json_integer(v);
		case 2:
			return json_real(d);
		default:
			break;
		}
	}
	return json_stringn(s, n);
}

/* Puts v (a new reference, taken) where the top frame expects a value. */
static int place(struct builder *b, json_t *v, const yaml_mark_t *m)
{
	struct frame *f;
	int rc = 0;

	if (!v)
		return err_set(b->e, MC_ERR_INVALID,
		               "seed file '%s': a value is not valid UTF-8 or "
		               "memory ran out",
		               b->name);
	if (++b->nodes > SEED_DOC_MAX_NODES) {
		json_decref(v);
		return where(b, m, "more than %s values", "1,000,000");
	}
	if (b->depth == 0) {
		b->root = v;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (json_is_array(f->node))
		return json_array_append_new(f->node, v)
		               ? err_set(b->e, MC_ERR_NOMEM, "out of memory")
		               : 0;
	if (json_object_get(f->node, f->key))
		rc = where(b, m, "the key '%.60s' is there twice", f->key);
	else if (json_object_set_new(f->node, f->key, v) != 0)
		rc = where(b, m, "the key '%.60s' is not valid UTF-8", f->key);
	else
		v = NULL;
	json_decref(v);
	free(f->key);
	f->key = NULL;
	return rc;
}

static int push(struct builder *b, json_t *node, const yaml_mark_t *m)
{
	int rc;

	if (!node)
		return err_set(b->e, MC_ERR_NOMEM, "out of memory");
	if (b->depth >= SEED_DOC_MAX_DEPTH) {
		json_decref(node);
		return where(b, m, "nested deeper than %s levels", "64");
	}
	json_incref(node); /* the frame's reference until place's owner has it */
	if ((rc = place(b, node, m)) != 0) {
		json_decref(node);
		return rc;
	}
	b->stack[b->depth].node = node;
	b->stack[b->depth].key = NULL;
	b->depth++;
	json_decref(node); /* the parent (or b->root) holds it now */
	return 0;
}

/* One event; *done = 1 at the end of the stream. */
static int event(struct builder *b, const yaml_event_t *ev, int *done)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct frame *top = b->depth ? &b->stack[b->depth - 1] : NULL;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		*done = 1;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (b->root)
			return where(b, m, "%s", "a second document: a seed file holds one");
		return 0;
	case YAML_ALIAS_EVENT:
		return where(b, m, "an alias (*%.40s): seed files do not take anchors and aliases",
		             (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		if (top && json_is_object(top->node) && !top->key) {
			size_t n = ev->data.scalar.length;
			if (strlen((const char *)ev->data.scalar.value) != n)
				return where(b, m, "%s", "a key holds a NUL byte");
			if (!(top->key = malloc(n + 1)))
				return err_set(b->e, MC_ERR_NOMEM, "out of memory");
			memcpy(top->key, ev->data.scalar.value, n + 1);
			return 0;
		}
		return place(b, scalar(ev), m);
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (top && json_is_object(top->node) && !top->key)
			return where(b, m, "%s", "a key that is a list or a mapping");
		return push(b, ev->type == YAML_MAPPING_START_EVENT ? json_object() : json_array(),
		            m);
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		if (top) {
			free(top->key);
			top->key = NULL;
			b->depth--;
		}
		return 0;
	default:
		return 0;
	}
}

int seed_yaml_parse(const char *name, const char *text, size_t len, json_t **out, struct err *e)
{
	struct builder b;
	yaml_parser_t p;
	yaml_event_t ev;
	int done = 0, rc = 0;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	b.name = name;
	b.e = e;
	if (!yaml_parser_initialize(&p))
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&p, &ev)) {
			char ctx[160] = "";
			if (p.context)
				snprintf(ctx, sizeof(ctx), " %s (from line %zu column %zu)",
				         p.context, p.context_mark.line + 1,
				         p.context_mark.column + 1);
			rc = err_set(e, MC_ERR_INVALID, "seed file '%s': line %zu column %zu: %s%s",
			             name, p.problem_mark.line + 1, p.problem_mark.column + 1,
			             p.problem ? p.problem : "not YAML", ctx);
			break;
		}
		rc = event(&b, &ev, &done);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	for (int i = 0; i < b.depth; i++)
		free(b.stack[i].key);
	if (rc == 0 && !b.root)
		rc = err_set(e, MC_ERR_INVALID, "seed file '%s': empty", name);
	if (rc) {
		json_decref(b.root);
		return rc;
	}
	*out = b.root;
	return 0;
}
