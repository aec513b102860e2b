/* The Mimecast request signature (API.md §2.1):
 *   base64(HMAC-SHA1(base64decode(secretKey), date ":" reqId ":" uri ":" appKey))
 * Pure functions, no I/O: parsing of the Authorization value and signing/verifying. */
#ifndef MCAPI_SERVER_AUTH_SIG_H
#define MCAPI_SERVER_AUTH_SIG_H

#include "common/crypto.h"

#include <stddef.h>

#define SIG_B64_LEN 28 /* base64 of 20 bytes */

struct sig_slice {
	const char *p;
	size_t n;
};

/* Splits "MC {accessKey}:{signature}" (scheme case-insensitive, whitespace around either
 * part trimmed, split at the first ':' after the scheme). Returns 0 or MC_ERR_INVALID. */
int sig_parse_authorization(const char *value, struct sig_slice *access_key, struct sig_slice *sig);

/* Writes the base64 signature (SIG_B64_LEN chars + NUL) of the data to sign built from the
 * parts, each used verbatim. Returns 0 or MC_ERR_CRYPTO / MC_ERR_TOO_LARGE. */
int sig_sign(const unsigned char *secret, size_t secret_len, const char *date, const char *req_id,
             const char *uri, size_t uri_len, const char *app_key, char out[SIG_B64_LEN + 1]);

/* 1 if sig matches the signature over path, or over path "?" query when query is not
 * NULL; compared in constant time. 0 otherwise. */
int sig_verify(const unsigned char *secret, size_t secret_len, const char *date, const char *req_id,
               const char *path, const char *query, const char *app_key, struct sig_slice sig);

/* sig_verify with the secret made ready beforehand (hmac_sha1_key_init), as the
 * authentication cache keeps it. */
int sig_verify_key(const struct hmac_sha1_key *hk, const char *date, const char *req_id,
                   const char *path, const char *query, const char *app_key, struct sig_slice sig);

#endif
