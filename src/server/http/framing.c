/* Strict framing checks; see framing.h. Pure function over the header list so it can be
 * unit-tested and fuzzed without sockets. */
#include "framing.h"

#include <string.h>
#include <strings.h>

#include "common/banned.h"

static int name_is(const struct framing_header *h, const char *name)
{
	return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

static int trimmed_equals(const char *v, size_t n, const char *word)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n == strlen(word) && strncasecmp(v, word, n) == 0;
}

static int parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i = 0;

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
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
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
		for (size_t j = 0; j < h->name_len; j++) {
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
		if (name_is(h, "content-length")) {
			lengths++;
			if (parse_length(h->value, h->value_len, &out->content_length) != 0) {
				out->reason = "Content-Length is not a number";
				return;
			}
		} else if (name_is(h, "transfer-encoding")) {
			encodings++;
			if (!trimmed_equals(h->value, h->value_len, "chunked")) {
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
