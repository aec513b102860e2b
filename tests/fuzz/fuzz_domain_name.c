/* Fuzz target for domain name normalisation (API.md §5.1): whatever the input, the
 * normaliser must not crash, and every accepted name must be a canonical host name
 * (lower-case letters, digits, hyphens and dots, at most 253 octets) that normalises to
 * exactly itself. */
#include "common/err.h"
#include "server/api/domain_name.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DOMAIN_NAME_MAX + 1], again[DOMAIN_NAME_MAX + 1];
	const char *why = NULL;
	size_t n;
	int rc;

	rc = domain_name_normalise((const char *)data, size, out, &why);
	if (rc != 0) {
		if (rc != MC_ERR_INVALID || !why || out[0])
			abort();
		return 0;
	}
	n = strlen(out);
	if (n == 0 || n > DOMAIN_NAME_MAX || !strchr(out, '.'))
		abort();
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-.", out[i]))
			abort();
	if (domain_name_normalise(out, n, again, &why) != 0 || strcmp(out, again) != 0) {
		fprintf(stderr, "not idempotent: '%s'\n", out);
		abort();
	}
	return 0;
}
