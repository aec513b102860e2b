/* Sealed tokens: opaque to their holder, unforgeable without the key. A token is
 * base64url(nonce || XSalsa20-Poly1305(key, plain)) (libsodium's secretbox), so it reveals
 * nothing of what it carries and any change to it is refused. Page tokens, SIEM tokens and
 * TTP click tokens are made this way, each with its own key. */
#ifndef MCAPI_COMMON_SEAL_H
#define MCAPI_COMMON_SEAL_H

#include <jansson.h>
#include <stddef.h>

/* Bytes a token adds to its plain text before base64url. */
#define SEAL_OVERHEAD 40 /* crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES */

/* The token of obj's compact JSON (keys in their insertion order), malloc'd (caller frees),
 * or NULL when out of memory or when the token would be longer than max_len characters. */
char *seal_json(const unsigned char key[32], const json_t *obj, size_t max_len);

/* Opens token[0..len): 0 with *out the JSON value it carries (a new reference), or
 * MC_ERR_INVALID (empty, longer than max_len, not base64url, not sealed with key, not JSON),
 * MC_ERR_NOMEM. */
int seal_open_json(const unsigned char key[32], const char *token, size_t len, size_t max_len,
                   json_t **out);

#endif
