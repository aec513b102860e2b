/* Fuzz target for the strict head validator of the acceptor (http/framing.c framing_head):
 * whatever the first bytes of a connection are, it answers one of its four kinds with a
 * reason for the refusals, reads nothing past the input (the copy is exactly size bytes),
 * an OK head has passed framing_check, and a longer head limit never turns an OK into a
 * refusal. */
#include "server/http/framing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	const char *reason = NULL;
	struct framing_result fr;
	enum framing_head_kind k, k2;

	if (!p)
		return 0;
	memcpy(p, data, size);
	k = framing_head(p, size, 4096, &reason, &fr);
	if ((k == FRAMING_HEAD_BAD || k == FRAMING_HEAD_TOO_LARGE) && !reason)
		abort();
	if (k == FRAMING_HEAD_OK && !fr.ok)
		abort();
	if (k == FRAMING_HEAD_OK) {
		k2 = framing_head(p, size, 65536, &reason, NULL);
		if (k2 != FRAMING_HEAD_OK)
			abort();
	}
	(void)framing_head(p, size, size / 2 + 1, &reason, NULL);
	free(p);
	return 0;
}
