/* Cryptographic helpers used by signing and storage: HMAC-SHA1 (OpenSSL libcrypto),
 * constant-time comparison, random bytes and random identifiers (libsodium). */
#ifndef MCAPI_COMMON_CRYPTO_H
#define MCAPI_COMMON_CRYPTO_H

#include <stddef.h>

#define HMAC_SHA1_LEN 20
#define GUID_STR_LEN  37 /* "8578fcfc-a305-4d9a-99cb-f4d5ecefe297" + NUL */

/* Initialises libsodium once; 0 or MC_ERR_CRYPTO. Safe to call from many threads. */
int crypto_init(void);

/* mac = HMAC-SHA1(key, msg). Returns 0 or MC_ERR_CRYPTO. */
int hmac_sha1(const unsigned char *key, size_t key_len, const void *msg, size_t msg_len,
              unsigned char mac[HMAC_SHA1_LEN]);

/* An HMAC-SHA1 key made ready: the hash states after its inner and outer padded blocks.
 * It is as secret as the key (wipe it with secure_zero); a plain value that may be copied. */
struct hmac_sha1_key {
	_Alignas(8) unsigned char inner[128];
	_Alignas(8) unsigned char outer[128];
};

/* Prepares hk from key. Returns 0 or MC_ERR_CRYPTO (hk is then zeroed). */
int hmac_sha1_key_init(struct hmac_sha1_key *hk, const unsigned char *key, size_t key_len);

/* mac = HMAC-SHA1(key of hk, msg). Returns 0 or MC_ERR_CRYPTO. */
int hmac_sha1_with(const struct hmac_sha1_key *hk, const void *msg, size_t msg_len,
                   unsigned char mac[HMAC_SHA1_LEN]);

/* 1 if a[0..an) equals b[0..bn), in time that depends only on the lengths. */
int ct_equal(const void *a, size_t an, const void *b, size_t bn);

/* Fills p with n cryptographically random bytes. */
void random_bytes(void *p, size_t n);

/* A random version-4 GUID in lower case, written to dst (GUID_STR_LEN bytes). */
void random_guid(char dst[GUID_STR_LEN]);

/* A random URL-safe token of nbytes random bytes (base64url), written to dst of size
 * dst_size >= B64_ENCODED_SIZE(nbytes). Returns the length. */
size_t random_token(size_t nbytes, char *dst, size_t dst_size);

/* Zeroes memory in a way the compiler cannot drop. */
void secure_zero(void *p, size_t n);

#endif
