/* HMAC, constant-time comparison and randomness; see crypto.h. */
/* the SHA-1 block functions (see hmac_sha1_key_init) */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto.h"

#include "b64.h"
#include "err.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc;

static void sodium_setup(void)
{
	sodium_rc = sodium_init() < 0 ? MC_ERR_CRYPTO : 0;
}

int crypto_init(void)
{
	pthread_once(&sodium_once, sodium_setup);
	return sodium_rc;
}

/* HMAC (RFC 2104) over libcrypto's SHA-1 block functions. Their context is a plain struct,
 * so the states after the padded key blocks can be computed once per key and copied: a
 * signed call then hashes its message and two final blocks, not the two key blocks as
 * well, and skips the EVP layer, whose per-call cost in OpenSSL 3 is larger than the
 * hashing of such short messages. (SHA1_Init and friends are deprecated in OpenSSL 3 in
 * favour of EVP, not removed; EVP contexts cannot be copied without an allocation.) */
_Static_assert(sizeof(SHA_CTX) <= sizeof(((struct hmac_sha1_key *)0)->inner),
               "struct hmac_sha1_key too small for SHA_CTX");

int hmac_sha1_key_init(struct hmac_sha1_key *hk, const unsigned char *key, size_t key_len)
{
	unsigned char k[SHA_CBLOCK] = {0}, pad[SHA_CBLOCK];
	SHA_CTX *in = (SHA_CTX *)(void *)hk->inner, *out = (SHA_CTX *)(void *)hk->outer;
	int rc = MC_ERR_CRYPTO;

	if (key_len > sizeof(k)) {
		if (!SHA1(key, key_len, k))
			goto out;
	} else if (key_len) {
		memcpy(k, key, key_len);
	}
	for (size_t i = 0; i < sizeof(k); i++)
		pad[i] = k[i] ^ 0x36;
	if (SHA1_Init(in) != 1 || SHA1_Update(in, pad, sizeof(pad)) != 1)
		goto out;
	for (size_t i = 0; i < sizeof(k); i++)
		pad[i] = k[i] ^ 0x5c;
	if (SHA1_Init(out) != 1 || SHA1_Update(out, pad, sizeof(pad)) != 1)
		goto out;
	rc = 0;
out:
	secure_zero(k, sizeof(k));
	secure_zero(pad, sizeof(pad));
	if (rc)
		secure_zero(hk, sizeof(*hk));
	return rc;
}

int hmac_sha1_with(const struct hmac_sha1_key *hk, const void *msg, size_t msg_len,
                   unsigned char mac[HMAC_SHA1_LEN])
{
	SHA_CTX c;
	unsigned char inner[SHA_DIGEST_LENGTH];
	int rc = MC_ERR_CRYPTO;

	memcpy(&c, hk->inner, sizeof(c));
	if (SHA1_Update(&c, msg, msg_len) != 1 || SHA1_Final(inner, &c) != 1)
		goto out;
	memcpy(&c, hk->outer, sizeof(c));
	if (SHA1_Update(&c, inner, sizeof(inner)) != 1 || SHA1_Final(mac, &c) != 1)
		goto out;
	rc = 0;
out:
	secure_zero(&c, sizeof(c));
	secure_zero(inner, sizeof(inner));
	return rc;
}

int hmac_sha1(const unsigned char *key, size_t key_len, const void *msg, size_t msg_len,
              unsigned char mac[HMAC_SHA1_LEN])
{
	struct hmac_sha1_key hk;
	int rc = hmac_sha1_key_init(&hk, key, key_len);

	if (rc == 0)
		rc = hmac_sha1_with(&hk, msg, msg_len, mac);
	secure_zero(&hk, sizeof(hk));
	return rc;
}

int ct_equal(const void *a, size_t an, const void *b, size_t bn)
{
	const unsigned char *x = a, *y = b;
	size_t n = an < bn ? an : bn;
	unsigned char d = an != bn;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* Deterministic mode: a master key from the seed, a key per purpose from it, and each
 * call takes the ChaCha20 keystream under its purpose's key with the purpose's next
 * counter as nonce. Set once before threads start; read-only afterwards but for the
 * counters. */
static int det_on;
static unsigned char det_keys[RND_PURPOSES][crypto_stream_chacha20_ietf_KEYBYTES];
static _Atomic uint64_t det_ctr[RND_PURPOSES];

static void det_bytes(enum rnd_purpose purpose, void *p, size_t n)
{
	unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
	uint64_t c = atomic_fetch_add(&det_ctr[purpose], 1);

	for (size_t i = 0; i < 8; i++)
		nonce[i] = (unsigned char)(c >> (8 * i));
	crypto_stream_chacha20_ietf(p, n, nonce, det_keys[purpose]);
}

static const char *det_impl_name(void)
{
	return "mcapi-deterministic";
}

static uint32_t det_impl_random(void)
{
	uint32_t r;
	det_bytes(RND_SODIUM, &r, sizeof(r));
	return r;
}

static void det_impl_stir(void)
{
}

static void det_impl_buf(void *const p, const size_t n)
{
	det_bytes(RND_SODIUM, p, n);
}

static int det_impl_close(void)
{
	return 0;
}

static randombytes_implementation det_impl = {
        .implementation_name = det_impl_name,
        .random = det_impl_random,
        .stir = det_impl_stir,
        .uniform = NULL, /* libsodium's rejection sampling over det_impl_random */
        .buf = det_impl_buf,
        .close = det_impl_close,
};

int crypto_deterministic(const void *seed, size_t n)
{
	unsigned char master[crypto_generichash_KEYBYTES];
	int rc = MC_ERR_CRYPTO;

	/* before sodium_init, which stirs the implementation it finds */
	if (randombytes_set_implementation(&det_impl) != 0 || crypto_init() != 0)
		goto out;
	if (crypto_generichash(master, sizeof(master), seed, n,
	                       (const unsigned char *)"mcapi-drbg-v1", 13) != 0)
		goto out;
	for (int i = 0; i < RND_PURPOSES; i++) {
		unsigned char label[16] = "mcapi-purpose-";
		label[14] = (unsigned char)i;
		if (crypto_generichash(det_keys[i], sizeof(det_keys[i]), label, 15, master,
		                       sizeof(master)) != 0)
			goto out;
		atomic_store(&det_ctr[i], 0);
	}
	det_on = 1;
	rc = 0;
out:
	secure_zero(master, sizeof(master));
	return rc;
}

int crypto_is_deterministic(void)
{
	return det_on;
}

void random_bytes(enum rnd_purpose purpose, void *p, size_t n)
{
	crypto_init();
	if (det_on && purpose != RND_CLIENT && (unsigned)purpose < RND_PURPOSES)
		det_bytes(purpose, p, n);
	else
		randombytes_buf(p, n);
}

uint32_t random_uniform(enum rnd_purpose purpose, uint32_t upper)
{
	uint32_t limit, r;

	if (upper < 2)
		return 0;
	limit = UINT32_MAX - UINT32_MAX % upper;
	do
		random_bytes(purpose, &r, sizeof(r));
	while (r >= limit);
	return r % upper;
}

void random_guid(enum rnd_purpose purpose, char dst[GUID_STR_LEN])
{
	unsigned char r[16];

	random_bytes(purpose, r, sizeof(r));
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(dst, GUID_STR_LEN,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
	         r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
	         r[15]);
}

size_t random_token(enum rnd_purpose purpose, size_t nbytes, char *dst, size_t dst_size)
{
	unsigned char r[128];

	if (nbytes > sizeof(r) || dst_size < B64_ENCODED_SIZE(nbytes)) {
		if (dst_size)
			dst[0] = '\0';
		return 0;
	}
	random_bytes(purpose, r, nbytes);
	size_t n = b64url_encode(r, nbytes, dst);
	secure_zero(r, sizeof(r));
	return n;
}

void secure_zero(void *p, size_t n)
{
	sodium_memzero(p, n);
}
