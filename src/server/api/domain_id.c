/* Opaque ids of domains, messages and recipients; see domain_id.h. One AES block per id through
 * OpenSSL's EVP interface, with a cipher context kept per thread (ids are made for every record of
 * a list) and freed when the thread ends. */
#include "domain_id.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/err.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define BLOCK 16

/* The calling thread's two contexts, freed by the key's destructor when the thread ends. */
struct id_ctx {
	EVP_CIPHER_CTX *enc, *dec;
	unsigned char enc_key[BLOCK], dec_key[BLOCK]; /* the key each context was set up with */
	int enc_ready, dec_ready;
};

static pthread_key_t ctx_key;
static EVP_CIPHER *aes128_ecb; /* fetched once: a fetch per id costs more than the AES */
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static int ctx_key_ok;

static void ctx_free(void *p)
{
	struct id_ctx *c = p;

	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	secure_zero(c, sizeof(*c));
	free(c);
}

static void ctx_key_create(void)
{
	aes128_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	ctx_key_ok = aes128_ecb && pthread_key_create(&ctx_key, ctx_free) == 0;
}

static struct id_ctx *thread_ctx(void)
{
	struct id_ctx *c;

	pthread_once(&ctx_once, ctx_key_create);
	if (!ctx_key_ok)
		return NULL;
	c = pthread_getspecific(ctx_key);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		c->enc = EVP_CIPHER_CTX_new();
		c->dec = EVP_CIPHER_CTX_new();
		if (!c->enc || !c->dec || pthread_setspecific(ctx_key, c) != 0) {
			ctx_free(c);
			return NULL;
		}
	}
	return c;
}

/* One block through AES-128-ECB (a single block: ECB is the raw permutation). */
static int aes_block(int enc, const unsigned char *key, const unsigned char in[BLOCK],
                     unsigned char out[BLOCK])
{
	struct id_ctx *c = thread_ctx();
	EVP_CIPHER_CTX *ctx;
	unsigned char *ctx_key_bytes;
	int *ready, n = 0;

	if (!c)
		return MC_ERR_NOMEM;
	ctx = enc ? c->enc : c->dec;
	ctx_key_bytes = enc ? c->enc_key : c->dec_key;
	ready = enc ? &c->enc_ready : &c->dec_ready;
	/* The key schedule is set up once per thread and key, not once per id. */
	if (!*ready || memcmp(ctx_key_bytes, key, BLOCK) != 0) {
		if (EVP_CipherInit_ex2(ctx, aes128_ecb, key, NULL, enc, NULL) != 1 ||
		    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
			return MC_ERR_CRYPTO;
		memcpy(ctx_key_bytes, key, BLOCK);
		*ready = 1;
	}
	if (EVP_CipherUpdate(ctx, out, &n, in, BLOCK) != 1 || n != BLOCK)
		return MC_ERR_CRYPTO;
	return 0;
}

void opaque_id_encode(const unsigned char *key, enum opaque_kind kind, int64_t row,
                      char out[DOMAIN_ID_SIZE])
{
	unsigned char plain[BLOCK] = {0}, box[BLOCK];
	uint64_t v = (uint64_t)row;

	for (int i = 0; i < 8; i++)
		plain[i] = (unsigned char)(v >> (8 * i));
	plain[8] = (unsigned char)kind;
	if (aes_block(1, key, plain, box) != 0) {
		out[0] = '\0';
		return;
	}
	b64url_encode(box, BLOCK, out);
}

int opaque_id_decode(const unsigned char *key, enum opaque_kind kind, const char *id, size_t len,
                     int64_t *row)
{
	unsigned char box[BLOCK + 4], plain[BLOCK];
	size_t n = 0;
	uint64_t v = 0;

	if (len != DOMAIN_ID_LEN || b64url_decode(id, len, box, sizeof(box), &n) != 0 ||
	    n != BLOCK || aes_block(0, key, box, plain) != 0)
		return MC_ERR_INVALID;
	if (plain[8] != (unsigned char)kind)
		return MC_ERR_INVALID;
	for (int i = 9; i < BLOCK; i++)
		if (plain[i])
			return MC_ERR_INVALID;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)plain[i] << (8 * i);
	if (v == 0 || v > (uint64_t)INT64_MAX)
		return MC_ERR_INVALID;
	*row = (int64_t)v;
	return 0;
}

void domain_id_encode(const unsigned char *key, int64_t row, char out[DOMAIN_ID_SIZE])
{
	opaque_id_encode(key, OPAQUE_DOMAIN, row, out);
}

int domain_id_decode(const unsigned char *key, const char *id, size_t len, int64_t *row)
{
	return opaque_id_decode(key, OPAQUE_DOMAIN, id, len, row);
}
