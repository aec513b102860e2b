/* get-siem-logs tokens and the splice of stored events (siem_token.h). */
#include "siem_token.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/seal.h"

#include <jansson.h>
#include <string.h>

#include "common/banned.h"

#define SIEM_TOKEN_VERSION 1

const char *const siem_types[SIEM_NTYPES] = {"receipt", "process", "delivery", "av",  "spam",
                                             "ttp_ap",  "ttp_ip",  "ttp_url",  "jrnl"};

char *siem_token_make(const unsigned char key[32], int64_t account_id, const struct siem_chain *c)
{
	json_t *p = json_array(), *o;
	char *tok;

	for (size_t i = 0; p && i < SIEM_NTYPES; i++)
		json_array_append_new(p, json_integer(c->pos[i]));
	o = p ? json_pack("{s:i, s:I, s:I, s:I, s:o}", "v", SIEM_TOKEN_VERSION, "a",
	                  (json_int_t)account_id, "h", (json_int_t)c->hi, "c",
	                  (json_int_t)c->cutoff, "p", p)
	      : NULL;
	tok = o ? seal_json(key, o, SIEM_TOKEN_MAKE) : NULL;
	json_decref(o);
	return tok;
}

static int int_member(json_t *o, const char *key, int64_t *v)
{
	json_t *m = json_object_get(o, key);

	if (!json_is_integer(m))
		return -1;
	*v = json_integer_value(m);
	return 0;
}

int siem_token_open(const unsigned char key[32], const char *token, size_t len, int64_t account_id,
                    struct siem_chain *c)
{
	json_t *o = NULL, *p;
	int64_t v = 0, a = 0;
	int rc = -1;

	if (seal_open_json(key, token, len, SIEM_TOKEN_MAX, &o) != 0)
		return -1;
	p = json_object_get(o, "p");
	if (!json_is_object(o) || int_member(o, "v", &v) || v != SIEM_TOKEN_VERSION ||
	    int_member(o, "a", &a) || int_member(o, "h", &c->hi) ||
	    int_member(o, "c", &c->cutoff) || !json_is_array(p) ||
	    json_array_size(p) != SIEM_NTYPES || c->hi < 0)
		goto out;
	for (size_t i = 0; i < SIEM_NTYPES; i++) {
		json_t *x = json_array_get(p, i);
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > c->hi)
			goto out;
		c->pos[i] = json_integer_value(x);
	}
	rc = a == account_id ? 0 : -2;
out:
	json_decref(o);
	return rc;
}

/* Skips a JSON string at p (at its opening quote); NULL if it does not end before end. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* The delivery events keep acc and at in their stored text: the file's own come first. */
const char *siem_members(const char *data, size_t len, const char **end_out)
{
	const char *p = data, *end = data + len;

	while (p < end && *p != '{')
		p++;
	if (p < end)
		p++;
	*end_out = end;
	for (;;) {
		const char *k = p, *q;
		size_t kl;
		if (p >= end || *p != '"' || !(q = skip_string(p, end)))
			return p;
		kl = (size_t)(q - k);
		if (!((kl == 5 && !memcmp(k, "\"acc\"", 5)) ||
		      (kl == 4 && !memcmp(k, "\"at\"", 4)) ||
		      (kl == 10 && !memcmp(k, "\"datetime\"", 10))))
			return p;
		if (q >= end || *q != ':')
			return p;
		q++;
		if (q < end && *q == '"') {
			q = skip_string(q, end);
			if (!q)
				return p;
		} else {
			while (q < end && *q != ',' && *q != '}' && *q != '{' && *q != '[')
				q++;
			if (q >= end || *q == '{' || *q == '[')
				return p;
		}
		if (q < end && *q == ',')
			q++;
		p = q;
	}
}

/* ---- key_value lines through jansson ---- */

/* A key_value value: CR, LF and TAB become spaces and '|' becomes U+00A6 (a broken bar),
 * so that every event stays one line whose fields split on '|'. */
static int kv_text(struct buf *b, const char *s, size_t n)
{
	size_t i = 0, run;
	int rc = 0;

	while (i < n && !rc) {
		/* copy the run of ordinary bytes at once */
		for (run = i;
		     run < n && s[run] != '|' && s[run] != '\r' && s[run] != '\n' && s[run] != '\t';
		     run++)
			;
		if (run > i)
			rc = buf_add(b, s + i, run - i);
		if (rc || run == n)
			break;
		rc = s[run] == '|' ? buf_add(b, "\xc2\xa6", 2) : buf_addc(b, ' ');
		i = run + 1;
	}
	return rc;
}

static int kv_value(struct buf *b, json_t *v)
{
	struct buf tmp;
	int rc;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return kv_text(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return buf_addf(b, "%lld", (long long)json_integer_value(v));
	case JSON_REAL:
		return buf_addf(b, "%.17g", json_real_value(v));
	case JSON_TRUE:
		return buf_adds(b, "true");
	case JSON_FALSE:
		return buf_adds(b, "false");
	case JSON_NULL:
		return 0;
	default:
		buf_init(&tmp, (size_t)1 << 24);
		rc = json_write(&tmp, v);
		if (!rc)
			rc = kv_text(b, tmp.data, tmp.len);
		buf_release(&tmp);
		return rc;
	}
}

int siem_kv_line_jansson(struct buf *b, const char *data, size_t len, const char *dt,
                         const char *acc)
{
	json_t *o = json_loadb(data, len, 0, NULL), *v, *acode;
	const char *k;
	int rc;

	if (!json_is_object(o)) { /* the store checks data; an odd row becomes an empty event */
		json_decref(o);
		o = json_object();
		if (!o)
			return MC_ERR_NOMEM;
	}
	rc = buf_adds(b, "datetime=");
	if (!rc)
		rc = buf_adds(b, dt);
	acode = json_object_get(o, "aCode");
	if (!rc && acode) {
		rc = buf_adds(b, "|aCode=");
		if (!rc)
			rc = kv_value(b, acode);
	}
	if (!rc)
		rc = buf_adds(b, "|acc=");
	if (!rc)
		rc = kv_text(b, acc, strlen(acc));
	json_object_foreach(o, k, v)
	{
		if (rc)
			break;
		if (!strcmp(k, "aCode") || !strcmp(k, "acc") || !strcmp(k, "at") ||
		    !strcmp(k, "datetime"))
			continue;
		rc = buf_addc(b, '|');
		if (!rc)
			rc = kv_text(b, k, strlen(k));
		if (!rc)
			rc = buf_addc(b, '=');
		if (!rc)
			rc = kv_value(b, v);
	}
	if (!rc)
		rc = buf_addc(b, '\n');
	json_decref(o);
	return rc;
}

/* ---- key_value lines without a parse ---- */

/* A cursor over one stored event's JSON text. */
struct scan {
	const char *p, *end;
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
		             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
		             : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
		                                    : 16u;
		if (d > 15)
			return -1;
		*v = *v * 16 + d;
	}
	return 0;
}

static int utf8(struct buf *out, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(out, u, n);
}

/* Decodes the JSON string at s->p (its opening quote) into out, then kv_text's rules.
 * 0, 1 for anything the scanner leaves to jansson, or a buf error. */
static int scan_string(struct scan *s, struct buf *out)
{
	const char *p = s->p + 1, *run = p;
	unsigned cp, lo;
	int rc = 0;

	while (p < s->end && !rc) {
		char c = *p;
		if (c == '"') {
			rc = kv_text(out, run, (size_t)(p - run));
			s->p = p + 1;
			return rc;
		}
		if ((unsigned char)c < 0x20)
			return 1;
		if (c != '\\') {
			p++;
			continue;
		}
		if ((rc = kv_text(out, run, (size_t)(p - run))) != 0 || p + 1 >= s->end)
			return rc ? rc : 1;
		c = p[1];
		p += 2;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			rc = buf_addc(out, c);
			break;
		case 'b':
			rc = buf_addc(out, '\b');
			break;
		case 'f':
			rc = buf_addc(out, '\f');
			break;
		case 'n':
		case 'r':
		case 't':
			rc = buf_addc(out, ' ');
			break;
		case 'u':
			if (s->end - p < 4 || hex4(p, &cp) != 0)
				return 1;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (s->end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
				    hex4(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return 1;
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp == 0 || (cp >= 0xdc00 && cp < 0xe000)) {
				return 1;
			}
			rc = cp == '|'                                ? buf_add(out, "\xc2\xa6", 2)
			     : cp == '\r' || cp == '\n' || cp == '\t' ? buf_addc(out, ' ')
			                                              : utf8(out, cp);
			break;
		default:
			return 1;
		}
		run = p;
	}
	return rc ? rc : 1;
}

/* The value at s->p into out: a string decoded, an integer or true/false as written, null
 * as nothing. Reals, objects and arrays: 1 (jansson writes them its own way). */
static int scan_value(struct scan *s, struct buf *out)
{
	const char *p = s->p;

	if (p >= s->end)
		return 1;
	if (*p == '"')
		return scan_string(s, out);
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		const char *q = p + (*p == '-');
		if (q >= s->end || *q < '0' || *q > '9' ||
		    (*q == '0' && (q + 1 < s->end && q[1] >= '0' && q[1] <= '9')))
			return 1;
		if (*q == '0' && *p == '-')
			return 1; /* -0: jansson writes 0 */
		while (q < s->end && *q >= '0' && *q <= '9')
			q++;
		if (q < s->end && (*q == '.' || *q == 'e' || *q == 'E'))
			return 1;
		if (q - p > 18)
			return 1; /* maybe beyond int64: jansson decides */
		s->p = q;
		return buf_add(out, p, (size_t)(q - p));
	}
	if (s->end - p >= 4 && !memcmp(p, "true", 4)) {
		s->p = p + 4;
		return buf_add(out, "true", 4);
	}
	if (s->end - p >= 5 && !memcmp(p, "false", 5)) {
		s->p = p + 5;
		return buf_add(out, "false", 5);
	}
	if (s->end - p >= 4 && !memcmp(p, "null", 4)) {
		s->p = p + 4;
		return 0;
	}
	return 1;
}

/* Skips the value at s->p (as scan_value reads it, into a scratch buffer). */
static int skip_value(struct scan *s, struct buf *scratch)
{
	buf_reset(scratch);
	return scan_value(s, scratch);
}

static int is_key(const char *k, size_t n, const char *name)
{
	return strlen(name) == n && !memcmp(k, name, n);
}

/* One pass over the members: with want_acode, only aCode's value goes out (after
 * "|aCode="); else every member but acc, at, datetime and aCode. */
static int scan_members(const char *data, size_t len, struct buf *b, int want_acode,
                        struct buf *scratch)
{
	struct scan s = {data, data + len};
	int rc, first = 1;

	ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return 1;
	s.p++;
	for (;;) {
		const char *k;
		size_t kn;
		ws(&s);
		if (s.p < s.end && *s.p == '}' && first) {
			s.p++;
			break;
		}
		if (s.p >= s.end || *s.p != '"')
			return 1;
		buf_reset(scratch);
		if ((rc = scan_string(&s, scratch)) != 0)
			return rc;
		k = scratch->data ? scratch->data : "";
		kn = scratch->len;
		ws(&s);
		if (s.p >= s.end || *s.p != ':')
			return 1;
		s.p++;
		ws(&s);
		if (want_acode || is_key(k, kn, "aCode") || is_key(k, kn, "acc") ||
		    is_key(k, kn, "at") || is_key(k, kn, "datetime")) {
			if (want_acode && is_key(k, kn, "aCode")) {
				if ((rc = buf_adds(b, "|aCode=")) != 0 ||
				    (rc = scan_value(&s, b)) != 0)
					return rc;
			} else if ((rc = skip_value(&s, scratch)) != 0) {
				return rc;
			}
		} else {
			if ((rc = buf_addc(b, '|')) != 0 || (rc = buf_add(b, k, kn)) != 0 ||
			    (rc = buf_addc(b, '=')) != 0 || (rc = scan_value(&s, b)) != 0)
				return rc;
		}
		first = 0;
		ws(&s);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			continue;
		}
		if (s.p < s.end && *s.p == '}') {
			s.p++;
			break;
		}
		return 1;
	}
	ws(&s);
	return s.p == s.end ? 0 : 1;
}

int siem_kv_line(struct buf *b, const char *data, size_t len, const char *dt, const char *acc)
{
	struct buf key;
	size_t start = b->len;
	int rc;

	/* keys are short: the scratch buffer of one event stays small */
	buf_init(&key, (size_t)1 << 20);
	rc = buf_adds(b, "datetime=");
	if (!rc)
		rc = buf_adds(b, dt);
	if (!rc)
		rc = scan_members(data, len, b, 1, &key);
	if (!rc)
		rc = buf_adds(b, "|acc=");
	if (!rc)
		rc = kv_text(b, acc, strlen(acc));
	if (!rc)
		rc = scan_members(data, len, b, 0, &key);
	if (!rc)
		rc = buf_addc(b, '\n');
	buf_release(&key);
	if (rc == 1) { /* something the scanner leaves to jansson: start the line again */
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
		rc = siem_kv_line_jansson(b, data, len, dt, acc);
	}
	return rc;
}
