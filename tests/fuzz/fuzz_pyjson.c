/* Fuzz target for the §4 body normaliser: whatever the input, the normaliser must not
 * crash, and every non-empty success must be JSON that jansson accepts and that
 * normalises to exactly itself. */
#include "common/buf.h"
#include "common/err.h"
#include "common/pyjson.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_PYJSON_CAP (2u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out, again;
	struct err e;
	json_error_t jerr;
	json_t *j;
	int rc;

	buf_init(&out, FUZZ_PYJSON_CAP);
	buf_init(&again, FUZZ_PYJSON_CAP);
	rc = pyjson_normalise((const char *)data, size, PYJSON_MAX_DEPTH, &out, &e);
	if (rc == 0 && out.len > 0) {
		j = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &jerr); /* as mcapid */
		if (!j) {
			fprintf(stderr, "jansson rejects the output: %s\n%.*s\n", jerr.text,
			        (int)(out.len > 4096 ? 4096 : out.len), out.data);
			abort();
		}
		json_decref(j);
		rc = pyjson_normalise(out.data, out.len, PYJSON_MAX_DEPTH, &again, &e);
		if (rc != 0 || again.len != out.len || memcmp(again.data, out.data, out.len) != 0) {
			fprintf(stderr, "not idempotent (rc %d: %s)\n", rc, rc ? e.msg : "");
			abort();
		}
	} else if (rc == 0 && out.len == 0) {
		/* only an empty body may give empty output; check it is whitespace */
		for (size_t i = 0; i < size; i++)
			if (!memchr(" \t\r\n\f", data[i], 5) &&
			    !(i < 3 && size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0))
				abort();
	} else if (rc != MC_ERR_INVALID && rc != MC_ERR_DEPTH && rc != MC_ERR_TOO_LARGE) {
		abort();
	}
	buf_release(&out);
	buf_release(&again);
	return 0;
}
