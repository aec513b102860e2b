/* Fuzz target for the web console's form decoding and escaping (emu/console.c): whatever a
 * form body or query holds, emu_form_get reads only its length, gives a NUL-free value that
 * fits or refuses it, and the escaped value has no character that could end a text or an
 * attribute (< > " ') and no '&' that does not start one of its entities. */
#include "common/buf.h"
#include "server/emu/emu_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"csrf", "token", "domain", "a", "account"};
	char out[64];
	struct buf b;
	int rc;

	if (size < 1)
		return 0;
	/* the first byte picks the field and the output size: cuts at every length are tried */
	rc = emu_form_get((const char *)data + 1, size - 1, names[data[0] % 5], out,
	                  (size_t)(data[0] >> 3) % sizeof(out) + 1);
	if (rc != 1) {
		if ((rc != 0 && rc != -1) || out[0])
			abort();
		return 0;
	}
	if (strlen(out) > (size_t)(data[0] >> 3) % sizeof(out))
		abort();
	buf_init(&b, 1 << 16);
	if (emu_html_escape(&b, out) != 0)
		abort();
	for (size_t i = 0; i < b.len; i++) {
		const char *p = b.data + i;
		if (strchr("<>\"'", *p))
			abort();
		if (*p == '&' && strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) &&
		    strncmp(p, "&gt;", 4) && strncmp(p, "&quot;", 6) && strncmp(p, "&#39;", 5))
			abort();
	}
	buf_release(&b);
	return 0;
}
