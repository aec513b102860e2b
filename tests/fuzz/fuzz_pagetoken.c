/* Fuzz target for page tokens (API.md §8): a pageToken comes from the network, so opening
 * arbitrary bytes must fail cleanly; a forged token must never open. The first input byte
 * picks whether the rest is used raw or wrapped by a genuine token made for a filter list,
 * so both the decoder and the JSON inside are reached. */
#include "server/api/paginate.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[32] = {1, 2, 3, 4, 5, 6, 7, 8};
	json_t *f = NULL, *c = NULL;
	char *tok = NULL;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		/* raw bytes as a token: must never open (the key is secret) */
		if (page_token_open(key, "/api/x/y", 1, (const char *)data + 1, size - 1, &f, &c) ==
		    0)
			abort();
	} else {
		/* a genuine token over fuzzed filter text round-trips */
		json_t *filters = json_array();
		json_array_append_new(filters,
		                      json_stringn_nocheck((const char *)data + 1, size - 1));
		json_t *cursor = json_stringn_nocheck((const char *)data + 1, (size - 1) / 2);
		tok = page_token_make(key, "/api/x/y", 1, filters, cursor);
		if (tok) {
			if (page_token_open(key, "/api/x/y", 1, tok, strlen(tok), &f, &c) == 0) {
				json_decref(f);
				json_decref(c);
				f = c = NULL;
			}
			if (page_token_open(key, "/api/x/z", 1, tok, strlen(tok), &f, &c) == 0)
				abort(); /* made for another endpoint */
		}
		json_decref(filters);
		json_decref(cursor);
	}
	json_decref(f);
	json_decref(c);
	free(tok);
	return 0;
}
