/* The §4 body normaliser (see pyjson.h): one bounded cursor pass over the input that
 * writes canonical compact JSON as it goes. Containers are tracked on an explicit stack
 * of one byte per level instead of recursion; commas are emitted before the next element
 * rather than when read, which is how trailing commas disappear without look-ahead.
 * Every input byte is looked at a constant number of times, so time is linear. */
#include "pyjson.h"

#include "b64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

/* One stack byte per open container: its kind and what has been seen inside it. */
enum {
	PYJSON_OBJ = 1,
	PYJSON_ARR = 2,
	PYJSON_TUP = 3,
	PYJSON_KIND = 3,
	PYJSON_NONEMPTY = 4, /* an element or key was emitted: the next one needs a comma */
	PYJSON_COMMA = 8,    /* a comma was read: (x,) is a tuple, (x) is not */
};

/* Levels kept on the C stack; deeper limits allocate min(max_depth, len) bytes. */
#define PYJSON_STACK_LOCAL 256

enum pyjson_want {
	PYJSON_WANT_TOP,   /* the top-level object, array or tuple */
	PYJSON_WANT_VALUE, /* a value, after ':' */
	PYJSON_WANT_ELEM,  /* an element or the closer, after '[', '(' or ',' */
	PYJSON_WANT_KEY,   /* a string key or '}', after '{' or ',' */
	PYJSON_WANT_COLON, /* ':' after a key */
	PYJSON_WANT_NEXT,  /* ',' or the closer, after a value */
	PYJSON_WANT_END,   /* only whitespace after the top-level value */
};

struct pyjson {
	const unsigned char *in;
	size_t len;
	size_t pos;
	struct buf *out;
	struct err *e;
	int in_key; /* a dict key is being read: U+0000 is invalid there (jansson refuses it) */
};

/* The decimal digits of 2^1024 - 2^970, half an ulp above DBL_MAX: a real whose value
 * reaches it rounds to infinity in strtod, which jansson rejects as an overflow. */
static const char pyjson_dbl_limit[] =
        "17976931348623158079372897140530341507993413271003782693617377898044496829276475094"
        "66490179775872070963302864166928879109465555478519404026306574886715058206819089020"
        "00708383676273854845817711531764475730270069855571366959622842914819860834936475292"
        "719074168444365510704342711559699508093042880177904174497792";

static int pyjson_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int pyjson_is_word(unsigned char c)
{
	return pyjson_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static void pyjson_skip_space(struct pyjson *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->in[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f')
			break;
		p->pos++;
	}
}

/* Reports the byte at the cursor (or the end) as unexpected; what names the expectation. */
static int pyjson_unexpected(struct pyjson *p, const char *what)
{
	unsigned char c;

	if (p->pos >= p->len)
		return err_set(p->e, MC_ERR_INVALID,
		               "unexpected end of body at offset %zu, expected %s", p->pos, what);
	c = p->in[p->pos];
	if (c > ' ' && c < 0x7f)
		return err_set(p->e, MC_ERR_INVALID, "unexpected '%c' at offset %zu, expected %s",
		               c, p->pos, what);
	return err_set(p->e, MC_ERR_INVALID, "unexpected byte 0x%02x at offset %zu, expected %s", c,
	               p->pos, what);
}

static int pyjson_emit(struct pyjson *p, const void *s, size_t n)
{
	int rc = buf_add(p->out, s, n);

	if (rc == MC_ERR_TOO_LARGE)
		return err_set(p->e, rc, "normalised body exceeds %zu bytes", p->out->cap);
	if (rc)
		return err_set(p->e, rc, "out of memory normalising the body");
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s[0..n), whose first byte is >= 0x80,
 * or 0: overlongs, UTF-8-encoded surrogates and values past U+10FFFF are not. */
static size_t pyjson_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t more, i;

	if (c >= 0xc2 && c <= 0xdf) {
		more = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		more = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		more = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n <= more || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= more; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return more + 1;
}

/* Emits a character that JSON requires escaped: a control character, '"' or '\'. */
static int pyjson_emit_escaped(struct pyjson *p, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
	char s[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
	const char *short_form = c ? memchr(from, c, sizeof(from) - 1) : NULL;

	if (!short_form)
		return pyjson_emit(p, s, sizeof(s));
	s[1] = to[short_form - from];
	return pyjson_emit(p, s, 2);
}

/* Emits code point cp (a scalar value, not a surrogate) decoded from an escape. */
static int pyjson_emit_cp(struct pyjson *p, uint32_t cp)
{
	char u[4];
	size_t n;

	/* U+0000 stays escaped in values: the server reports it per item (pipeline.c) */
	if (cp == 0 && p->in_key)
		return err_set(p->e, MC_ERR_INVALID, "NUL character in a key");
	if (cp < 0x20 || cp == '"' || cp == '\\')
		return pyjson_emit_escaped(p, (unsigned char)cp);
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return pyjson_emit(p, u, n);
}

/* Reads exactly n hex digits at the cursor into *v; returns 0 if there are fewer. */
static int pyjson_hex(struct pyjson *p, size_t n, uint32_t *v)
{
	uint32_t x = 0;
	size_t i;

	if (p->len - p->pos < n)
		return 0;
	for (i = 0; i < n; i++) {
		int d = hex_value(p->in[p->pos + i]);
		if (d < 0)
			return 0;
		x = x << 4 | (uint32_t)d;
	}
	p->pos += n;
	*v = x;
	return 1;
}

/* Decodes the escape whose backslash is at the cursor, emits it and moves past it;
 * start is the opening quote, for the message when the body ends inside the escape. */
static int pyjson_escape(struct pyjson *p, size_t start)
{
	size_t at = p->pos;
	uint32_t cp, lo;
	unsigned char c;
	int i;

	if (p->len - at < 2)
		return err_set(p->e, MC_ERR_INVALID, "unterminated string starting at offset %zu",
		               start);
	c = p->in[at + 1];
	p->pos = at + 2;
	switch (c) {
	case '\'':
	case '"':
	case '\\':
	case '/':
		cp = c;
		break;
	case 'n':
		cp = '\n';
		break;
	case 'r':
		cp = '\r';
		break;
	case 't':
		cp = '\t';
		break;
	case 'b':
		cp = '\b';
		break;
	case 'f':
		cp = '\f';
		break;
	case 'a':
		cp = 0x07;
		break;
	case 'v':
		cp = 0x0b;
		break;
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
		cp = (uint32_t)(c - '0');
		for (i = 0;
		     i < 2 && p->pos < p->len && p->in[p->pos] >= '0' && p->in[p->pos] <= '7'; i++)
			cp = cp * 8 + (uint32_t)(p->in[p->pos++] - '0');
		break;
	case 'x':
		if (!pyjson_hex(p, 2, &cp))
			goto short_hex;
		break;
	case 'U':
		if (!pyjson_hex(p, 8, &cp))
			goto short_hex;
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return err_set(p->e, MC_ERR_INVALID,
			               "invalid code point in escape at offset %zu", at);
		break;
	case 'u':
		if (!pyjson_hex(p, 4, &cp))
			goto short_hex;
		if (cp < 0xd800 || cp > 0xdfff)
			break;
		/* JSON spells code points past U+FFFF as a surrogate pair; a lone half is not text.
		 */
		if (cp <= 0xdbff && p->len - p->pos >= 6 && p->in[p->pos] == '\\' &&
		    p->in[p->pos + 1] == 'u') {
			size_t save = p->pos;
			p->pos += 2;
			if (pyjson_hex(p, 4, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				break;
			}
			p->pos = save;
		}
		return err_set(p->e, MC_ERR_INVALID, "lone surrogate '\\u%04x' at offset %zu",
		               (unsigned)cp, at);
	default:
		if (c > ' ' && c < 0x7f)
			return err_set(p->e, MC_ERR_INVALID, "invalid escape '\\%c' at offset %zu",
			               c, at);
		return err_set(p->e, MC_ERR_INVALID, "invalid escape at offset %zu", at);
	}
	return pyjson_emit_cp(p, cp);
short_hex:
	return err_set(p->e, MC_ERR_INVALID,
	               "invalid escape '\\%c' at offset %zu: too few hex digits", c, at);
}

/* Converts the string whose opening quote (' or ") is at the cursor into a JSON string.
 * Runs of bytes that need no change are copied in one append. */
static int pyjson_string(struct pyjson *p)
{
	size_t start = p->pos, run;
	unsigned char quote = p->in[p->pos];
	int rc;

	p->pos++;
	rc = pyjson_emit(p, "\"", 1);
	if (rc)
		return rc;
	run = p->pos;
	while (p->pos < p->len) {
		unsigned char c = p->in[p->pos];
		if (c >= ' ' && c < 0x80 && c != quote && c != '"' && c != '\\') {
			p->pos++;
			continue;
		}
		if (c >= 0x80) {
			size_t n = pyjson_utf8_len(p->in + p->pos, p->len - p->pos);
			if (!n)
				return err_set(p->e, MC_ERR_INVALID, "invalid UTF-8 at offset %zu",
				               p->pos);
			p->pos += n;
			continue;
		}
		rc = pyjson_emit(p, p->in + run, p->pos - run);
		if (rc)
			return rc;
		if (c == quote) {
			p->pos++;
			return pyjson_emit(p, "\"", 1);
		}
		if (c == '\\') {
			rc = pyjson_escape(p, start);
		} else if (c == 0) {
			rc = err_set(p->e, MC_ERR_INVALID, "NUL character in string at offset %zu",
			             p->pos);
		} else {
			/* a '"' inside '...', or a raw control character: lenient, escape it */
			rc = pyjson_emit_escaped(p, c);
			p->pos++;
		}
		if (rc)
			return rc;
		run = p->pos;
	}
	return err_set(p->e, MC_ERR_INVALID, "unterminated string starting at offset %zu", start);
}

/* Whether the real with integer digits in[i0..i1), fraction digits in[f0..f1) (f0 >= i1;
 * f0 == f1 == i1 without a fraction) and decimal exponent scale overflows a double. */
static int pyjson_real_overflows(const unsigned char *in, size_t i0, size_t i1, size_t f0,
                                 size_t f1, long long scale)
{
	const size_t limit_digits = sizeof(pyjson_dbl_limit) - 1;
	const size_t clamp = 1000000000000000000u;
	long long k; /* the value is 0.d1d2d3... * 10^k with d1 its first non-zero digit */
	size_t i, j;

	i = i0;
	while (i < i1 && in[i] == '0')
		i++;
	if (i < i1) {
		k = (long long)(i1 - i > clamp ? clamp : i1 - i);
	} else {
		i = f0;
		while (i < f1 && in[i] == '0')
			i++;
		if (i == f1)
			return 0; /* zero */
		k = -(long long)(i - f0 > clamp ? clamp : i - f0);
	}
	k += scale;
	if (k != (long long)limit_digits)
		return k > (long long)limit_digits;
	/* same magnitude as the limit: compare digit by digit, padding with zeros */
	for (j = 0; j < limit_digits; j++) {
		unsigned char d = '0';
		if (i == i1)
			i = f0;
		if (i < i1 || i < f1)
			d = in[i++];
		if (d != (unsigned char)pyjson_dbl_limit[j])
			return d > (unsigned char)pyjson_dbl_limit[j];
	}
	return 1; /* at or above the halfway point: rounds to infinity */
}

/* Converts the number at the cursor: JSON's grammar plus Python's +1, 1. and .5. */
static int pyjson_number(struct pyjson *p)
{
	const unsigned char *s = p->in;
	size_t start = p->pos, i = p->pos, n = p->len;
	size_t i0, i1, f0, f1, e0 = 0;
	int neg = 0, frac = 0, expo = 0, rc;
	long long scale = 0;

	if (s[i] == '-' || s[i] == '+')
		neg = s[i++] == '-';
	i0 = i;
	while (i < n && pyjson_is_digit(s[i]))
		i++;
	i1 = i;
	f0 = f1 = i1;
	if (i < n && s[i] == '.') {
		frac = 1;
		f0 = ++i;
		while (i < n && pyjson_is_digit(s[i]))
			i++;
		f1 = i;
	}
	if (i1 == i0 && f1 == f0)
		return err_set(p->e, MC_ERR_INVALID, "invalid number at offset %zu", start);
	if (i1 - i0 > 1 && s[i0] == '0')
		return err_set(p->e, MC_ERR_INVALID, "leading zero in number at offset %zu", start);
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		int eneg = 0;
		size_t d0;
		expo = 1;
		e0 = i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			eneg = s[i++] == '-';
		d0 = i;
		while (i < n && pyjson_is_digit(s[i])) {
			if (scale < 100000000000000000LL) /* saturates far beyond any double */
				scale = scale * 10 + (s[i] - '0');
			i++;
		}
		if (i == d0)
			return err_set(p->e, MC_ERR_INVALID, "invalid number at offset %zu", start);
		if (eneg)
			scale = -scale;
	}
	if (i < n && (pyjson_is_word(s[i]) || s[i] == '.'))
		return err_set(p->e, MC_ERR_INVALID, "invalid number at offset %zu", start);

	if (!frac && !expo) {
		static const char max[] = "9223372036854775807", min[] = "9223372036854775808";
		size_t nd = i1 - i0;
		if (nd > sizeof(max) - 1 ||
		    (nd == sizeof(max) - 1 && memcmp(s + i0, neg ? min : max, nd) > 0))
			return err_set(p->e, MC_ERR_INVALID, "number out of range at offset %zu",
			               start);
	} else if (pyjson_real_overflows(s, i0, i1, f0, f1, scale)) {
		return err_set(p->e, MC_ERR_INVALID, "number out of range at offset %zu", start);
	}

	if (neg && (rc = pyjson_emit(p, "-", 1)))
		return rc;
	rc = i1 > i0 ? pyjson_emit(p, s + i0, i1 - i0) : pyjson_emit(p, "0", 1);
	if (!rc && frac)
		rc = f1 > f0 ? pyjson_emit(p, s + f0 - 1, f1 - f0 + 1) : pyjson_emit(p, ".0", 2);
	if (!rc && expo)
		rc = pyjson_emit(p, s + e0, i - e0);
	p->pos = i;
	return rc;
}

/* Converts the bare word at the cursor: Python's and JSON's constants only. */
static int pyjson_word(struct pyjson *p)
{
	static const struct {
		const char *in, *out;
	} words[] = {
	        {"True", "true"}, {"False", "false"}, {"None", "null"},
	        {"true", "true"}, {"false", "false"}, {"null", "null"},
	};
	size_t start = p->pos, n, k;

	while (p->pos < p->len && pyjson_is_word(p->in[p->pos]))
		p->pos++;
	n = p->pos - start;
	for (k = 0; k < sizeof(words) / sizeof(words[0]); k++)
		if (strlen(words[k].in) == n && memcmp(p->in + start, words[k].in, n) == 0)
			return pyjson_emit(p, words[k].out, strlen(words[k].out));
	return err_set(p->e, MC_ERR_INVALID, "unknown word '%.*s' at offset %zu",
	               (int)(n > 32 ? 32 : n), (const char *)p->in + start, start);
}

/* Whether a string (with an optional Python 2 u/U prefix) starts at the cursor. */
static int pyjson_at_string(const struct pyjson *p)
{
	unsigned char c = p->in[p->pos];

	if (c == '\'' || c == '"')
		return 1;
	return (c == 'u' || c == 'U') && p->len - p->pos >= 2 &&
	       (p->in[p->pos + 1] == '\'' || p->in[p->pos + 1] == '"');
}

static int pyjson_any_string(struct pyjson *p)
{
	if (p->in[p->pos] == 'u' || p->in[p->pos] == 'U')
		p->pos++;
	return pyjson_string(p);
}

int pyjson_normalise(const char *in, size_t len, size_t max_depth, struct buf *out, struct err *e)
{
	unsigned char local[PYJSON_STACK_LOCAL];
	unsigned char *stack = local;
	size_t depth = 0, entry_len = out->len;
	enum pyjson_want want = PYJSON_WANT_TOP;
	struct pyjson p = {(const unsigned char *)in, len, 0, out, e, 0};
	int rc = 0;

	if (len >= 3 && memcmp(in, "\xef\xbb\xbf", 3) == 0)
		p.pos = 3;
	pyjson_skip_space(&p);
	if (p.pos == len)
		return 0;
	/* each level opens with one input byte, so depth never exceeds len */
	if ((max_depth < len ? max_depth : len) > sizeof(local)) {
		stack = malloc(max_depth < len ? max_depth : len);
		if (!stack) {
			rc = err_set(e, MC_ERR_NOMEM, "out of memory normalising the body");
			goto out;
		}
	}

	for (;;) {
		unsigned char c, kind;

		pyjson_skip_space(&p);
		if (want == PYJSON_WANT_END) {
			if (p.pos < len)
				rc = pyjson_unexpected(&p, "the end of the body");
			break;
		}
		if (p.pos == len) {
			rc = pyjson_unexpected(&p, "more");
			break;
		}
		c = p.in[p.pos];
		kind = depth ? stack[depth - 1] & PYJSON_KIND : 0;

		if (want == PYJSON_WANT_COLON) {
			if (c != ':') {
				rc = pyjson_unexpected(&p, "':'");
				break;
			}
			if ((rc = pyjson_emit(&p, ":", 1)))
				break;
			p.pos++;
			want = PYJSON_WANT_VALUE;
			continue;
		}
		if (want == PYJSON_WANT_NEXT && c == ',') {
			stack[depth - 1] |= PYJSON_COMMA;
			p.pos++;
			want = kind == PYJSON_OBJ ? PYJSON_WANT_KEY : PYJSON_WANT_ELEM;
			continue;
		}
		if ((want == PYJSON_WANT_NEXT || want == PYJSON_WANT_KEY ||
		     want == PYJSON_WANT_ELEM) &&
		    (c == '}' || c == ']' || c == ')')) {
			char close = kind == PYJSON_OBJ ? '}' : kind == PYJSON_ARR ? ']' : ')';
			if (c != close) {
				rc = err_set(e, MC_ERR_INVALID,
				             "unexpected '%c' at offset %zu, expected '%c'", c,
				             p.pos, close);
				break;
			}
			if (kind == PYJSON_TUP && (stack[depth - 1] & PYJSON_NONEMPTY) &&
			    !(stack[depth - 1] & PYJSON_COMMA)) {
				rc = err_set(
				        e, MC_ERR_INVALID,
				        "one-element tuple without a trailing comma at offset %zu",
				        p.pos);
				break;
			}
			if ((rc = pyjson_emit(&p, kind == PYJSON_OBJ ? "}" : "]", 1)))
				break;
			p.pos++;
			depth--;
			want = depth ? PYJSON_WANT_NEXT : PYJSON_WANT_END;
			continue;
		}
		if (want == PYJSON_WANT_NEXT) {
			rc = pyjson_unexpected(&p, kind == PYJSON_OBJ   ? "',' or '}'"
			                           : kind == PYJSON_ARR ? "',' or ']'"
			                                                : "',' or ')'");
			break;
		}
		if (want == PYJSON_WANT_KEY || want == PYJSON_WANT_ELEM) {
			if (want == PYJSON_WANT_KEY && !pyjson_at_string(&p)) {
				rc = pyjson_unexpected(&p, "a string key or '}'");
				break;
			}
			if ((stack[depth - 1] & PYJSON_NONEMPTY) && (rc = pyjson_emit(&p, ",", 1)))
				break;
			stack[depth - 1] |= PYJSON_NONEMPTY;
			if (want == PYJSON_WANT_KEY) {
				p.in_key = 1;
				rc = pyjson_any_string(&p);
				p.in_key = 0;
				if (rc)
					break;
				want = PYJSON_WANT_COLON;
				continue;
			}
		}

		/* a value: after ':', as an element, or the top-level container */
		if (c == '{' || c == '[' || c == '(') {
			if (depth >= max_depth) {
				rc = err_set(e, MC_ERR_DEPTH,
				             "nesting deeper than %zu at offset %zu", max_depth,
				             p.pos);
				break;
			}
			kind = c == '{' ? PYJSON_OBJ : c == '[' ? PYJSON_ARR : PYJSON_TUP;
			if ((rc = pyjson_emit(&p, kind == PYJSON_OBJ ? "{" : "[", 1)))
				break;
			stack[depth++] = kind;
			p.pos++;
			want = kind == PYJSON_OBJ ? PYJSON_WANT_KEY : PYJSON_WANT_ELEM;
			continue;
		}
		if (want == PYJSON_WANT_TOP) {
			rc = pyjson_unexpected(&p, "'{' or '['");
			break;
		}
		if (pyjson_at_string(&p))
			rc = pyjson_any_string(&p);
		else if (pyjson_is_digit(c) || c == '-' || c == '+' || c == '.')
			rc = pyjson_number(&p);
		else if (pyjson_is_word(c))
			rc = pyjson_word(&p);
		else
			rc = pyjson_unexpected(&p, "a value");
		if (rc)
			break;
		want = PYJSON_WANT_NEXT;
	}

out:
	if (stack != local)
		free(stack);
	if (rc) {
		out->len = entry_len;
		if (out->data)
			out->data[entry_len] = '\0';
	}
	return rc;
}
