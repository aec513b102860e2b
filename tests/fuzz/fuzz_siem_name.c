/* Fuzz target for what `mcapi siem pull` reads from a server before it touches the disk
 * (src/cli/siem_files.c): the file name of a Content-Disposition value, the token of
 * mc-siem-token, and the event count of a file. An accepted name can never leave DIR. */
#include "cli/siem_files.h"
#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), name[SIEM_NAME_MAX + 1];
	struct err e = {0};

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (siem_disposition_name(s, name, sizeof(name), &e) == 0) {
		size_t n = strlen(name);
		if (n == 0 || n > SIEM_NAME_MAX || name[0] == '.' || strchr(name, '/') ||
		    strchr(name, '\\') || strstr(name, ".."))
			abort();
	} else if (!e.msg[0]) {
		abort(); /* every refusal says why */
	}
	if (siem_token_check(s, &e) == 0 && (strchr(s, ' ') || strchr(s, '\n')))
		abort();
	(void)siem_count_events(s, size);
	(void)siem_is_zip(data, size);
	free(s);
	return 0;
}
