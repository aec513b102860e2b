/* HMAC, constant-time comparison and randomness; see crypto.h. */
#include "crypto.h"

#include "b64.h"
#include "err.h"

#include <openssl/evp.h>
#include <pthread.h>
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

/* HMAC (RFC 2104) over a SHA-1 implementation fetched once, with one digest context per
 * thread: OpenSSL 3's one-shot HMAC() fetches the algorithm again on every call, which
 * costs more than the hashing itself on the request path. */
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha1_md;
static pthread_key_t ctx_key;

static void free_ctx(void *p)
{
	EVP_MD_CTX_free(p);
}

static void sha1_setup(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
	pthread_key_create(&ctx_key, free_ctx);
}

static int digest2(EVP_MD_CTX *ctx, const void *a, size_t an, const void *b, size_t bn,
                   unsigned char out[HMAC_SHA1_LEN])
{
	unsigned int len = 0;

	if (EVP_DigestInit_ex(ctx, sha1_md, NULL) != 1 || EVP_DigestUpdate(ctx, a, an) != 1 ||
	    (bn && EVP_DigestUpdate(ctx, b, bn) != 1) || EVP_DigestFinal_ex(ctx, out, &len) != 1 ||
	    len != HMAC_SHA1_LEN)
		return MC_ERR_CRYPTO;
	return 0;
}

int hmac_sha1(const unsigned char *key, size_t key_len, const void *msg, size_t msg_len,
              unsigned char mac[HMAC_SHA1_LEN])
{
	unsigned char k[64] = {0}, pad[64], inner[HMAC_SHA1_LEN];
	EVP_MD_CTX *ctx;
	int rc = MC_ERR_CRYPTO;

	pthread_once(&sha1_once, sha1_setup);
	if (!sha1_md)
		return MC_ERR_CRYPTO;
	ctx = pthread_getspecific(ctx_key);
	if (!ctx) {
		if (!(ctx = EVP_MD_CTX_new()))
			return MC_ERR_NOMEM;
		pthread_setspecific(ctx_key, ctx);
	}
	if (key_len > sizeof(k)) {
		if (digest2(ctx, key, key_len, NULL, 0, k) != 0)
			goto out;
	} else if (key_len) {
		memcpy(k, key, key_len);
	}
	for (size_t i = 0; i < sizeof(k); i++)
		pad[i] = k[i] ^ 0x36;
	if (digest2(ctx, pad, sizeof(pad), msg, msg_len, inner) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(k); i++)
		pad[i] = k[i] ^ 0x5c;
	rc = digest2(ctx, pad, sizeof(pad), inner, sizeof(inner), mac);
out:
	secure_zero(k, sizeof(k));
	secure_zero(pad, sizeof(pad));
	secure_zero(inner, sizeof(inner));
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

void random_bytes(void *p, size_t n)
{
	crypto_init();
	randombytes_buf(p, n);
}

void random_guid(char dst[GUID_STR_LEN])
{
	unsigned char r[16];

	random_bytes(r, sizeof(r));
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(dst, GUID_STR_LEN,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
	         r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
	         r[15]);
}

size_t random_token(size_t nbytes, char *dst, size_t dst_size)
{
	unsigned char r[128];

	if (nbytes > sizeof(r) || dst_size < B64_ENCODED_SIZE(nbytes)) {
		if (dst_size)
			dst[0] = '\0';
		return 0;
	}
	random_bytes(r, nbytes);
	size_t n = b64url_encode(r, nbytes, dst);
	secure_zero(r, sizeof(r));
	return n;
}

void secure_zero(void *p, size_t n)
{
	sodium_memzero(p, n);
}
