/* Fuzz target for YAML seed files (src/server/emu/seed_yaml.c): any bytes either become a
 * jansson tree or are refused with a message; nothing is read outside the input, the depth
 * and node caps hold, and nothing leaks. */
#include "common/err.h"
#include "server/emu/seed_doc.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {0};
	json_t *doc = NULL;

	if (seed_yaml_parse("fuzz.yaml", (const char *)data, size, &doc, &e) != 0) {
		if (doc || !e.msg[0])
			abort(); /* a refusal says why and leaves nothing behind */
		return 0;
	}
	if (!doc)
		abort();
	json_decref(doc);
	return 0;
}
