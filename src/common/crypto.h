/* Cryptographic helpers used by signing and storage: HMAC-SHA1 (OpenSSL libcrypto),
 * constant-time comparison, random bytes and random identifiers (libsodium). Every random
 * value the programs make comes from random_bytes: normally the system's CSPRNG (libsodium);
 * after crypto_deterministic (mcapid --deterministic, tests only) a keystream derived from
 * the given seed, one stream per purpose, so that the same calls get the same ids, tokens
 * and keys on every run whatever unrelated events happened in between. */
#ifndef MCAPI_COMMON_CRYPTO_H
#define MCAPI_COMMON_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

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

/* What a random value is for: in deterministic mode each purpose has its own stream, so
 * that (say) a SIEM token minted in between does not change the next account's code. */
enum rnd_purpose {
	RND_INTERNAL,     /* hash seeds and other values no answer shows */
	RND_SODIUM,       /* libsodium's own draws (password hash salts) */
	RND_SERVER_KEY,   /* the server key (server.key) */
	RND_SEAL,         /* nonces of sealed values and of the key file */
	RND_ACCOUNT,      /* account codes */
	RND_APP,          /* application ids and keys */
	RND_ACCESS_KEY,   /* binding access keys */
	RND_SECRET_KEY,   /* binding secret keys */
	RND_PASSWORD,     /* passwords the server makes up */
	RND_NAME,         /* tags in names and addresses the server makes up */
	RND_DOMAIN_TOKEN, /* domain verification TXT values */
	RND_AUDIT_ID,     /* audit event ids */
	RND_MESSAGE,      /* message aCodes */
	RND_SMTP,         /* SMTP session ids */
	RND_FAULT,        /* the control plane's fault rule dice */
	RND_CLIENT,       /* client side (request ids, nonces): never deterministic */
	RND_PURPOSES
};

/* Switches random_bytes to deterministic streams derived from seed[0..n) for the rest of
 * the process (also libsodium's own randomness, e.g. password salts). Call once, before
 * any thread starts and before anything random is made. Only for tests: every key and
 * token the process makes is then predictable from the seed. 0 or MC_ERR_CRYPTO. */
int crypto_deterministic(const void *seed, size_t n);

/* 1 after crypto_deterministic. */
int crypto_is_deterministic(void);

/* Fills p with n cryptographically random bytes for purpose (the system's CSPRNG, or that
 * purpose's deterministic stream: each call takes the next block of it). */
void random_bytes(enum rnd_purpose purpose, void *p, size_t n);

/* A random integer in [0, upper) (upper >= 1), uniformly, from purpose's stream. */
uint32_t random_uniform(enum rnd_purpose purpose, uint32_t upper);

/* A random version-4 GUID in lower case, written to dst (GUID_STR_LEN bytes). */
void random_guid(enum rnd_purpose purpose, char dst[GUID_STR_LEN]);

/* A random URL-safe token of nbytes random bytes (base64url), written to dst of size
 * dst_size >= B64_ENCODED_SIZE(nbytes). Returns the length. */
size_t random_token(enum rnd_purpose purpose, size_t nbytes, char *dst, size_t dst_size);

/* Zeroes memory in a way the compiler cannot drop. */
void secure_zero(void *p, size_t n);

#endif
