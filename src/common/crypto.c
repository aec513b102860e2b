/* HMAC, constant-time comparison and randomness; see crypto.h. */
#include "crypto.h"

#include "b64.h"
#include "err.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>

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

int hmac_sha1(const unsigned char *key, size_t key_len, const void *msg, size_t msg_len,
	      unsigned char mac[HMAC_SHA1_LEN])
{
	unsigned int len = 0;
	static const unsigned char empty;

	if (!HMAC(EVP_sha1(), key_len ? key : &empty, (int)key_len, msg, msg_len, mac, &len) ||
	    len != HMAC_SHA1_LEN)
		return MC_ERR_CRYPTO;
	return 0;
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
