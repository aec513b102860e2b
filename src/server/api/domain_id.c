/* Domain ids; see domain_id.h. One AES block per id through OpenSSL's EVP interface, with a
 * cipher context kept per thread (ids are made for every record of a list) and freed when the
 * thread ends. */
#include "domain_id.h"

#include "common/b64.h"
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
};

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static int ctx_key_ok;

static void ctx_free(void *p)
{
	struct id_ctx *c = p;

	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	free(c);
}

static void ctx_key_create(void)
{
	ctx_key_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

static EVP_CIPHER_CTX *thread_ctx(int enc)
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
	return enc ? c->enc : c->dec;
}

/* One block through AES-128-ECB (a single block: ECB is the raw permutation). */
static int aes_block(int enc, const unsigned char *key, const unsigned char in[BLOCK],
                     unsigned char out[BLOCK])
{
	EVP_CIPHER_CTX *ctx = thread_ctx(enc);
	int n = 0;

	if (!ctx)
		return MC_ERR_NOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, BLOCK) != 1 || n != BLOCK)
		return MC_ERR_CRYPTO;
	return 0;
}

void domain_id_encode(const unsigned char *key, int64_t row, char out[DOMAIN_ID_SIZE])
{
	unsigned char plain[BLOCK] = {0}, box[BLOCK];
	uint64_t v = (uint64_t)row;

	for (int i = 0; i < 8; i++)
		plain[i] = (unsigned char)(v >> (8 * i));
	if (aes_block(1, key, plain, box) != 0) {
		out[0] = '\0';
		return;
	}
	b64url_encode(box, BLOCK, out);
}

int domain_id_decode(const unsigned char *key, const char *id, size_t len, int64_t *row)
{
	unsigned char box[BLOCK + 4], plain[BLOCK];
	size_t n = 0;
	uint64_t v = 0;

	if (len != DOMAIN_ID_LEN || b64url_decode(id, len, box, sizeof(box), &n) != 0 ||
	    n != BLOCK || aes_block(0, key, box, plain) != 0)
		return MC_ERR_INVALID;
	for (int i = 8; i < BLOCK; i++)
		if (plain[i])
			return MC_ERR_INVALID;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)plain[i] << (8 * i);
	if (v == 0 || v > (uint64_t)INT64_MAX)
		return MC_ERR_INVALID;
	*row = (int64_t)v;
	return 0;
}
