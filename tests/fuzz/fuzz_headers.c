/* Fuzz target for the header parsers that face the network: x-mc-date (RFC 1123 forms),
 * ISO dates of the audit API, the Authorization value, and the framing checks over a
 * header list cut out of the input. */
#include "common/date.h"
#include "server/auth/sig.h"
#include "server/http/framing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t ms;
	struct sig_slice ak, sig;
	struct framing_header hs[16];
	struct framing_result fr;
	size_t n = 0;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (date_parse_rfc1123(s, size, &ms) == 0) {
		char out[64];
		date_format_rfc1123(ms, out, sizeof(out));
		if (date_parse_rfc1123(out, strlen(out), &ms) != 0)
			abort();
	}
	(void)date_parse_iso(s, size, &ms);
	if (sig_parse_authorization(s, &ak, &sig) == 0) {
		if (!ak.n || !sig.n || ak.p < s || sig.p + sig.n > s + size)
			abort();
	}
	/* header list: lines "name:value" separated by '\n' */
	for (char *line = s; line && n < 16;) {
		char *nl = strchr(line, '\n');
		char *colon = strchr(line, ':');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (colon && (size_t)(colon - line) < len)
			hs[n++] = (struct framing_header){line, (size_t)(colon - line), colon + 1,
			                                  len - (size_t)(colon - line) - 1};
		line = nl ? nl + 1 : NULL;
	}
	framing_check(size & 1 ? "HTTP/1.0" : "HTTP/1.1", hs, n, &fr);
	free(s);
	return 0;
}
