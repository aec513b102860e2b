/* Fuzz target for get-siem-logs (API.md §14.1): the mc-siem-token a client sends back comes
 * from the network, so opening arbitrary bytes must fail cleanly and a forged token must
 * never open; a genuine seal over any JSON must open only into a well-formed chain. The
 * splice of a stored event (siem_members) must stay inside its input whatever it holds; the
 * key_value scanner must write what the jansson path writes. The first input byte picks the
 * case. */
#include "common/buf.h"
#include "common/seal.h"
#include "server/api/siem_token.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
	struct siem_chain c;
	const char *end, *rest;
	char *copy, *tok;
	json_t *j;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0: /* raw bytes as a token: never opens (the key is secret) */
		if (siem_token_open(key, (const char *)data + 1, size - 1, 1, &c) == 0)
			abort();
		break;
	case 1: /* a genuine token over fuzzed JSON: opens only into 0 <= pos <= hi */
		j = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, NULL);
		tok = j ? seal_json(key, j, SIEM_TOKEN_MAX) : NULL;
		if (tok && siem_token_open(key, tok, strlen(tok), 1, &c) == 0) {
			if (c.hi < 0)
				abort();
			for (int i = 0; i < SIEM_NTYPES; i++)
				if (c.pos[i] < 0 || c.pos[i] > c.hi)
					abort();
		}
		free(tok);
		json_decref(j);
		break;
	case 3: /* a key_value line: the scanner's equals jansson's wherever jansson reads it */
		copy = malloc(size - 1 ? size - 1 : 1);
		if (!copy)
			return 0;
		memcpy(copy, data + 1, size - 1);
		j = json_loadb(copy, size - 1, JSON_REJECT_DUPLICATES, NULL);
		{
			struct buf a, b;
			buf_init(&a, (size_t)1 << 24);
			buf_init(&b, (size_t)1 << 24);
			if (siem_kv_line(&a, copy, size - 1, "2026-01-01T00:00:00+0000", "C1") ==
			            0 &&
			    json_is_object(j) &&
			    siem_kv_line_jansson(&b, copy, size - 1, "2026-01-01T00:00:00+0000",
			                         "C1") == 0 &&
			    (a.len != b.len || memcmp(a.data, b.data, a.len) != 0))
				abort();
			buf_release(&a);
			buf_release(&b);
		}
		json_decref(j);
		free(copy);
		break;
	default: /* a stored event's text, exactly sized so ASan sees any overread */
		copy = malloc(size - 1 ? size - 1 : 1);
		if (!copy)
			return 0;
		memcpy(copy, data + 1, size - 1);
		rest = siem_members(copy, size - 1, &end);
		if (rest < copy || rest > end || end != copy + size - 1)
			abort();
		free(copy);
		break;
	}
	return 0;
}
