/* Domain ids; see domain_id.h. One AES block per id through OpenSSL's EVP interface, with a
 * cipher context kept per thread (ids are made for every record of a list). */
#include "domain_id.h"

#include "common/b64.h"
#include "common/err.h"

#include <openssl/evp.h>
#include <string.h>

#include "common/banned.h"

#define BLOCK 16

static _Thread_local EVP_CIPHER_CTX *ctx_enc, *ctx_dec;

/* One block through AES-128-ECB (a single block: ECB is the raw permutation). */
static int aes_block(int enc, const unsigned char *key, const unsigned char in[BLOCK],
		     unsigned char out[BLOCK])
{
	EVP_CIPHER_CTX **slot = enc ? &ctx_enc : &ctx_dec;
	int n = 0;

	if (!*slot && !(*slot = EVP_CIPHER_CTX_new()))
		return MC_ERR_NOMEM;
	if (EVP_CipherInit_ex(*slot, EVP_aes_128_ecb(), NULL, key, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_set_padding(*slot, 0) != 1 ||
	    EVP_CipherUpdate(*slot, out, &n, in, BLOCK) != 1 || n != BLOCK)
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
