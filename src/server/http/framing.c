/* Strict framing checks; see framing.h. Pure functions over a header list or the raw
 * bytes of a head, so they can be unit-tested and fuzzed without sockets. */
#include "framing.h"

#include <string.h>
#include <strings.h>

#include "common/banned.h"

static int name_is(const struct framing_header *h, const char *name)
{
	return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* Leading whitespace only: "chunked " is refused rather than guessed at (a server that took
 * it for something else would frame the body differently from one that trims it). */
static int value_is(const char *v, size_t n, const char *word)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	return n == strlen(word) && strncasecmp(v, word, n) == 0;
}

/* Word-at-a-time screens for the per-byte checks of framing_check (every header of every
 * request): 1 when none of the n bytes can fail them. A 0 only sends the bytes to the exact
 * check, so the screens may be stricter than it (a tab, allowed in a value, fails one). */
#define ONES           0x0101010101010101ULL
#define HIGHS          0x8080808080808080ULL
#define HAS_LESS(x, k) (((x)-ONES * (k)) & ~(x)&HIGHS) /* a byte < k (k <= 128) */
#define HAS_BYTE(x, k) HAS_LESS((x) ^ (ONES * (k)), 1) /* a byte == k */

static int plain_value(const char *v, size_t n)
{
	uint64_t x;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&x, v + i, 8);
		if (HAS_LESS(x, 0x20) | HAS_BYTE(x, 0x7f))
			return 0;
	}
	for (; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] == 0x7f)
			return 0;
	return 1;
}

static int plain_name(const char *v, size_t n)
{
	uint64_t x;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&x, v + i, 8);
		if (HAS_LESS(x, 0x21) | HAS_BYTE(x, 0x7f) | HAS_BYTE(x, ':'))
			return 0;
	}
	for (; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || v[i] == 0x7f || v[i] == ':')
			return 0;
	return 1;
}

static int is_ctl(unsigned char c)
{
	return (c < ' ' && c != '\t') || c == 0x7f;
}

static int parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i = 0;

	/* Digits only after the leading whitespace. */
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i == n)
		return -1;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		if (x > (UINT64_MAX - 9) / 10)
			x = UINT64_MAX; /* saturate: any such value is over every limit */
		else
			x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (i != n)
		return -1;
	*out = x;
	return 0;
}

void framing_check(const char *version, const struct framing_header *hs, size_t n,
                   struct framing_result *out)
{
	int lengths = 0, encodings = 0, hosts = 0;
	int http11 = version && strcmp(version, "HTTP/1.0") != 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const struct framing_header *h = &hs[i];
		for (size_t j = plain_name(h->name, h->name_len) ? h->name_len : 0; j < h->name_len;
		     j++) {
			unsigned char c = (unsigned char)h->name[j];
			if (c <= ' ' || c == 0x7f || c == ':') {
				out->reason = "whitespace or control character in a header name";
				return;
			}
		}
		if (h->name_len == 0) {
			out->reason = "empty header name";
			return;
		}
		for (size_t j = plain_value(h->value, h->value_len) ? h->value_len : 0;
		     j < h->value_len; j++) {
			if (is_ctl((unsigned char)h->value[j])) {
				out->reason = "control character in a header value";
				return;
			}
		}
		if (name_is(h, "content-length")) {
			lengths++;
			if (parse_length(h->value, h->value_len, &out->content_length) != 0) {
				out->reason = "Content-Length is not a number";
				return;
			}
		} else if (name_is(h, "transfer-encoding")) {
			encodings++;
			if (!value_is(h->value, h->value_len, "chunked")) {
				out->reason = "Transfer-Encoding other than chunked";
				return;
			}
		} else if (name_is(h, "host")) {
			hosts++;
		}
	}
	if (lengths > 1) {
		out->reason = "more than one Content-Length";
		return;
	}
	if (encodings > 1) {
		out->reason = "more than one Transfer-Encoding";
		return;
	}
	if (lengths && encodings) {
		out->reason = "Content-Length together with Transfer-Encoding";
		return;
	}
	if (http11 && hosts != 1) {
		out->reason = hosts ? "more than one Host" : "no Host header";
		return;
	}
	out->has_length = lengths == 1;
	out->chunked = encodings == 1;
	out->ok = 1;
}

/* RFC 9110 §5.6.2 tchar */
static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The end of the line starting at p[i] (index of its LF), or n when there is none yet; a CR
 * anywhere but right before the LF, or a NUL, is reported through *bad. */
static size_t line_end(const char *p, size_t i, size_t n, int *bad)
{
	for (; i < n; i++) {
		if (p[i] == '\n')
			return i;
		if (p[i] == '\0' || (p[i] == '\r' && (i + 1 < n && p[i + 1] != '\n'))) {
			*bad = 1;
			return i;
		}
	}
	return n;
}

/* Length of line [s, e) without its CR. */
static size_t content_len(const char *p, size_t s, size_t e)
{
	return e > s && p[e - 1] == '\r' ? e - 1 - s : e - s;
}

static int request_line(const char *l, size_t n, const char **reason, char version[9])
{
	size_t i = 0, t;

	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ' ') {
		*reason = "malformed request line";
		return -1;
	}
	t = ++i;
	while (i < n && l[i] != ' ') {
		if (is_ctl((unsigned char)l[i]) || l[i] == '\t') {
			*reason = "control character in the request target";
			return -1;
		}
		i++;
	}
	if (i == t || i == n || n - i - 1 != 8 || memcmp(l + i + 1, "HTTP/", 5) != 0 ||
	    l[i + 6] < '0' || l[i + 6] > '9' || l[i + 7] != '.' || l[i + 8] < '0' ||
	    l[i + 8] > '9') {
		*reason = "malformed request line";
		return -1;
	}
	memcpy(version, l + i + 1, 8);
	version[8] = '\0';
	if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0) {
		*reason = "unsupported HTTP version";
		return -1;
	}
	return 0;
}

/* The first chunk-size line at p[i..n): 1*HEXDIG [ ";" extensions ]. While it is incomplete:
 * MORE when wait, else OK (the connection parser checks the rest). */
static enum framing_head_kind first_chunk(const char *p, size_t i, size_t n, int wait,
                                          const char **reason)
{
	int bad = 0;
	size_t e = line_end(p, i, n, &bad), len, j = 0;

	if (bad) {
		*reason = "malformed chunk size line";
		return FRAMING_HEAD_BAD;
	}
	if (e == n) {
		if (n - i > FRAMING_CHUNK_LINE_MAX) {
			*reason = "chunk extension too long";
			return FRAMING_HEAD_BAD;
		}
		return wait ? FRAMING_HEAD_MORE : FRAMING_HEAD_OK;
	}
	len = content_len(p, i, e);
	if (len > FRAMING_CHUNK_LINE_MAX) {
		*reason = "chunk extension too long";
		return FRAMING_HEAD_BAD;
	}
	while (j < len && is_hex((unsigned char)p[i + j]))
		j++;
	if (j == 0 || j > 16 ||
	    (j < len && p[i + j] != ';' && p[i + j] != ' ' && p[i + j] != '\t')) {
		*reason = "malformed chunk size line";
		return FRAMING_HEAD_BAD;
	}
	for (; j < len; j++) {
		if (is_ctl((unsigned char)p[i + j])) {
			*reason = "malformed chunk size line";
			return FRAMING_HEAD_BAD;
		}
	}
	return FRAMING_HEAD_OK;
}

/* The head at p[0..n): framing_head without the chunk line. rq receives the parts. */
static enum framing_head_kind parse_head(const char *p, size_t n, size_t max, const char **reason,
                                         struct framing_result *fr, struct framing_request *rq,
                                         int *expect_out)
{
	struct framing_header *hs = rq->hs;
	size_t i = 0, nh = 0, lim = n < max ? n : max, e;
	char *version = rq->version;
	int bad = 0, expect = 0;

	*reason = NULL;
	memset(fr, 0, sizeof(*fr));
	/* empty lines before the request line */
	while (i < lim && (p[i] == '\n' || (p[i] == '\r' && i + 1 < lim && p[i + 1] == '\n')))
		i += p[i] == '\r' ? 2 : 1;
	e = line_end(p, i, lim, &bad);
	if (bad) {
		*reason = "NUL or bare CR in the request line";
		return FRAMING_HEAD_BAD;
	}
	if (e == lim)
		goto incomplete;
	if (request_line(p + i, content_len(p, i, e), reason, version) != 0)
		return FRAMING_HEAD_BAD;
	rq->method = p + i;
	rq->method_len = (size_t)((const char *)memchr(p + i, ' ', e - i) - (p + i));
	rq->target = rq->method + rq->method_len + 1;
	rq->target_len =
	        (size_t)((const char *)memchr(rq->target, ' ', (size_t)(p + e - rq->target)) -
	                 rq->target);
	i = e + 1;
	for (;;) {
		size_t s = i, len, c;

		e = line_end(p, s, lim, &bad);
		if (bad) {
			*reason = "NUL or bare CR in a header line";
			return FRAMING_HEAD_BAD;
		}
		if (e == lim)
			goto incomplete;
		i = e + 1;
		len = content_len(p, s, e);
		if (len == 0)
			break; /* the end of the head */
		if (p[s] == ' ' || p[s] == '\t') {
			*reason = "folded header line (obs-fold)";
			return FRAMING_HEAD_BAD;
		}
		for (c = 0; c < len && p[s + c] != ':'; c++) {
			if (!is_tchar((unsigned char)p[s + c])) {
				*reason = "invalid character in a header name";
				return FRAMING_HEAD_BAD;
			}
		}
		if (c == len || c == 0) {
			*reason = c ? "header line without a colon" : "empty header name";
			return FRAMING_HEAD_BAD;
		}
		if (nh == FRAMING_MAX_HEADERS) {
			*reason = "too many request headers";
			return FRAMING_HEAD_TOO_LARGE;
		}
		hs[nh].name = p + s;
		hs[nh].name_len = c;
		/* without the leading whitespace */
		for (c++; c < len && (p[s + c] == ' ' || p[s + c] == '\t'); c++)
			;
		hs[nh].value = p + s + c;
		hs[nh].value_len = len - c;
		expect |= hs[nh].name_len == 6 && strncasecmp(hs[nh].name, "expect", 6) == 0;
		nh++;
	}
	rq->nh = nh;
	rq->head_len = i;
	*expect_out = expect;
	framing_check(version, hs, nh, fr);
	if (!fr->ok) {
		*reason = fr->reason;
		return FRAMING_HEAD_BAD;
	}
	if (fr->has_length && fr->content_length == UINT64_MAX) {
		fr->ok = 0;
		*reason = "Content-Length out of range";
		return FRAMING_HEAD_BAD;
	}
	return FRAMING_HEAD_OK;
incomplete:
	if (n >= max) {
		*reason = "the request head is too large";
		return FRAMING_HEAD_TOO_LARGE;
	}
	return FRAMING_HEAD_MORE;
}

enum framing_head_kind framing_request(const char *p, size_t n, size_t max, const char **reason,
                                       struct framing_result *fr, struct framing_request *rq)
{
	int expect;

	return parse_head(p, n, max, reason, fr, rq, &expect);
}

enum framing_head_kind framing_head(const char *p, size_t n, size_t max, const char **reason,
                                    struct framing_result *fr)
{
	struct framing_request rq;
	struct framing_result local;
	enum framing_head_kind k;
	int expect = 0;

	if (!fr)
		fr = &local;
	k = parse_head(p, n, max, reason, fr, &rq, &expect);
	/* A chunked body's first line is waited for, unless the client waits for "100
	 * Continue" before sending it. */
	if (k == FRAMING_HEAD_OK && fr->chunked)
		return first_chunk(p, rq.head_len, n, !expect, reason);
	return k;
}

int framing_chunk_size(const char *p, size_t len, uint64_t *size, const char **reason)
{
	uint64_t v = 0;
	size_t j = 0;

	*reason = "malformed chunk size line";
	if (len > FRAMING_CHUNK_LINE_MAX) {
		*reason = "chunk extension too long";
		return -1;
	}
	for (; j < len && is_hex((unsigned char)p[j]); j++) {
		unsigned char c = (unsigned char)p[j];
		v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	if (j == 0 || j > 16 || (j < len && p[j] != ';' && p[j] != ' ' && p[j] != '\t'))
		return -1;
	for (; j < len; j++)
		if (is_ctl((unsigned char)p[j]))
			return -1;
	*size = v;
	*reason = NULL;
	return 0;
}
