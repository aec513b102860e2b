/* Basic-Cloud credentials; see basic_cloud.h. */
#include "basic_cloud.h"

#include "common/b64.h"
#include "common/crypto.h"

#include <string.h>
#include <strings.h>

#include "common/banned.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

enum basic_cloud_status basic_cloud_parse(const char *h, struct basic_cloud *bc)
{
	const char *p = h, *scheme, *cred, *end;
	const unsigned char *colon;
	size_t scheme_n, plain_n = 0, email_n;

	memset(bc, 0, sizeof(*bc));
	if (!h)
		return BASIC_CLOUD_MISSING;
	while (is_blank(*p))
		p++;
	scheme = p;
	while (*p && !is_blank(*p))
		p++;
	scheme_n = (size_t)(p - scheme);
	while (is_blank(*p))
		p++;
	end = p + strlen(p);
	while (end > p && (is_blank(end[-1]) || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	cred = p;
	if (scheme_n == 0 || end == cred)
		return BASIC_CLOUD_MISSING;
	if (scheme_n != strlen(BASIC_CLOUD_SCHEME) ||
	    strncasecmp(scheme, BASIC_CLOUD_SCHEME, scheme_n) != 0)
		return BASIC_CLOUD_OTHER_SCHEME;
	if (b64_decode(cred, (size_t)(end - cred), bc->plain, sizeof(bc->plain) - 1, &plain_n) !=
	            0 ||
	    !(colon = memchr(bc->plain, ':', plain_n)) ||
	    (email_n = (size_t)(colon - bc->plain)) == 0 || email_n > BASIC_CLOUD_EMAIL_MAX ||
	    memchr(bc->plain, '\0', email_n) || plain_n - email_n - 1 > PASSWORD_MAX) {
		basic_cloud_clear(bc);
		return BASIC_CLOUD_MALFORMED;
	}
	memcpy(bc->email, bc->plain, email_n);
	bc->email[email_n] = '\0';
	for (char *s = bc->email; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	bc->pw = (const char *)colon + 1;
	bc->pw_n = plain_n - email_n - 1;
	return BASIC_CLOUD_OK;
}

void basic_cloud_clear(struct basic_cloud *bc)
{
	secure_zero(bc, sizeof(*bc));
}
