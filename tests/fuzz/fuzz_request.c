/* Fuzz target for the parsers the HTTP front runs on every request (http/framing.c):
 * framing_request on the head and framing_chunk_size on each line after it. Whatever the
 * bytes, a refusal carries a reason, an accepted head has passed framing_check, every slice
 * it hands out lies inside the input, its length counts no more than was given, a larger
 * limit never refuses what a smaller one accepted, and an accepted chunk-size line holds the
 * value of its hex digits (computed here again). */
#include "server/http/framing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int inside(const char *base, size_t n, const char *p, size_t len)
{
	return p >= base && (size_t)(p - base) <= n && len <= n - (size_t)(p - base);
}

static void check_chunk_line(const char *p, size_t len)
{
	const char *reason = NULL;
	uint64_t size = 0, want = 0;
	size_t i;

	if (framing_chunk_size(p, len, &size, &reason) != 0) {
		if (!reason)
			abort();
		return;
	}
	for (i = 0; i < len && p[i] && strchr("0123456789abcdefABCDEF", p[i]); i++) {
		if (i >= 16)
			abort(); /* at most 16 hex digits are accepted */
		want = want * 16 + (uint64_t)(p[i] <= '9' ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
	}
	if (i == 0 || want != size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	const char *reason = NULL;
	struct framing_result fr, fr2;
	struct framing_request rq;
	enum framing_head_kind k;
	size_t at, i;

	if (!p)
		return 0;
	memcpy(p, data, size);
	k = framing_request(p, size, 4096, &reason, &fr, &rq);
	if ((k == FRAMING_HEAD_BAD || k == FRAMING_HEAD_TOO_LARGE) && !reason)
		abort();
	if (k == FRAMING_HEAD_OK) {
		if (!fr.ok || rq.head_len > size || rq.nh > FRAMING_MAX_HEADERS ||
		    !inside(p, size, rq.method, rq.method_len) ||
		    !inside(p, size, rq.target, rq.target_len) || !rq.method_len || !rq.target_len)
			abort();
		for (i = 0; i < rq.nh; i++)
			if (!inside(p, size, rq.hs[i].name, rq.hs[i].name_len) ||
			    !inside(p, size, rq.hs[i].value, rq.hs[i].value_len))
				abort();
		if (framing_request(p, size, 65536, &reason, &fr2, &rq) != FRAMING_HEAD_OK)
			abort();
		/* what follows the head, line by line, as chunk-size lines */
		at = rq.head_len;
		while (at < size) {
			const char *nl = memchr(p + at, '\n', size - at);
			size_t end = nl ? (size_t)(nl - p) : size;
			size_t len = end - at;
			if (len && p[at + len - 1] == '\r')
				len--;
			check_chunk_line(p + at, len);
			at = end + 1;
		}
	} else {
		check_chunk_line(p, size < 8192 ? size : 8192);
	}
	(void)framing_request(p, size, size / 2 + 1, &reason, &fr2, &rq);
	free(p);
	return 0;
}
