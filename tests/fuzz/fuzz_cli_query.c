/* Fuzz target for the --query selector of the mcapi CLI (src/cli/query.c): any text either
 * compiles or is refused with a message naming the offset, and a compiled query walks a
 * nested JSON document without reading outside it. */
#include "cli/query.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char doc[] = "{\"meta\":{\"status\":200,\"pagination\":{\"next\":\"t\"}},"
                          "\"data\":[{\"domain\":\"a.example\",\"x\":[1,[2,3],{\"y\":null}]},"
                          "{\"domain\":\"b.example\",\"x\":[]},7,\"s\",null],\"fail\":[]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), msg[256];
	struct query *q;
	json_t *root, *v;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	msg[0] = '\0';
	q = query_compile(s, msg, sizeof(msg));
	if (!q) {
		if (!msg[0])
			abort(); /* every refusal says why */
	} else {
		root = json_loads(doc, 0, NULL);
		v = query_eval(q, root);
		json_decref(v);
		json_decref(root);
		query_free(q);
	}
	free(s);
	return 0;
}
