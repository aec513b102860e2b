/* Display-name keys; see namekey.h. glib does the Unicode work (NFKC, case folding), as the
 * impersonation check always did. */
#include "namekey.h"

#include <glib.h>
#include <stddef.h>

#include "common/banned.h"

/* A display name as compared: NFKC, case-folded, blanks collapsed and trimmed. NULL when
 * empty or not UTF-8 (namekey.h). */
char *name_key(const char *s)
{
	char *norm, *fold, *out;
	size_t n = 0;
	int space = 0;

	if (!s || !g_utf8_validate(s, -1, NULL))
		return NULL;
	norm = g_utf8_normalize(s, -1, G_NORMALIZE_NFKC);
	if (!norm)
		return NULL;
	fold = g_utf8_casefold(norm, -1);
	g_free(norm);
	if (!fold)
		return NULL;
	out = fold;
	for (const char *p = fold; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '"' || *p == '\'') {
			space = n > 0;
			continue;
		}
		if (space)
			out[n++] = ' ';
		space = 0;
		out[n++] = *p;
	}
	out[n] = '\0';
	if (n == 0) {
		g_free(fold);
		return NULL;
	}
	return out;
}

void name_key_free(char *key)
{
	g_free(key);
}
