/* The Basic-Cloud credentials of a login call (API.md §6.2): "Authorization: Basic-Cloud
 * base64(email:password)". Pure parsing, no I/O, so it is unit-tested and fuzzed on its own;
 * login.c decides what each outcome answers. */
#ifndef MCAPI_SERVER_AUTH_BASIC_CLOUD_H
#define MCAPI_SERVER_AUTH_BASIC_CLOUD_H

#include "server/auth/password.h"

#include <stddef.h>

#define BASIC_CLOUD_SCHEME    "Basic-Cloud"
#define BASIC_CLOUD_EMAIL_MAX 255
#define BASIC_CLOUD_PLAIN_MAX (BASIC_CLOUD_EMAIL_MAX + 1 + PASSWORD_MAX + 1)

enum basic_cloud_status {
	BASIC_CLOUD_OK,
	BASIC_CLOUD_MISSING,      /* no header, or no scheme or no credentials in it */
	BASIC_CLOUD_OTHER_SCHEME, /* another scheme than Basic-Cloud (any case) */
	BASIC_CLOUD_MALFORMED,    /* not base64 of "email:password" with a 1..255 byte address */
};

/* The decoded credentials. email is NUL-terminated and lower-cased (ASCII only); pw points
 * into plain and is pw_n bytes long (it may be empty; it is not NUL-terminated). Holds a
 * password: wipe with basic_cloud_clear. */
struct basic_cloud {
	unsigned char plain[BASIC_CLOUD_PLAIN_MAX];
	char email[BASIC_CLOUD_EMAIL_MAX + 1];
	const char *pw;
	size_t pw_n;
};

/* Parses an Authorization header value (NULL = absent): the scheme and the credentials are
 * separated by spaces or tabs, trailing whitespace is ignored, and the credentials are
 * standard base64 of "email:password" split at the first ':'. The address must not hold a
 * NUL byte; the password is everything after the colon, up to PASSWORD_MAX bytes. On any
 * status but BASIC_CLOUD_OK, bc holds nothing. */
enum basic_cloud_status basic_cloud_parse(const char *header, struct basic_cloud *bc);

/* Wipes bc (the password in it). */
void basic_cloud_clear(struct basic_cloud *bc);

#endif
