/* Sealed tokens; see seal.h. */
#include "seal.h"

#include "b64.h"
#include "crypto.h"
#include "err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

_Static_assert(SEAL_OVERHEAD == crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES,
               "SEAL_OVERHEAD");

char *seal_json(const unsigned char key[32], const json_t *obj, size_t max_len)
{
	char *plain = NULL, *token = NULL;
	unsigned char *box = NULL;
	size_t plain_len, box_len;

	if (crypto_init() != 0)
		return NULL;
	plain = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!plain)
		return NULL;
	plain_len = strlen(plain);
	box_len = SEAL_OVERHEAD + plain_len;
	if (B64_ENCODED_SIZE(box_len) > max_len + 1)
		goto out; /* would not be accepted back */
	box = malloc(box_len);
	token = malloc(B64_ENCODED_SIZE(box_len));
	if (!box || !token) {
		free(token);
		token = NULL;
		goto out;
	}
	random_bytes(RND_SEAL, box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain,
	                      plain_len, box, key);
	token[b64url_encode(box, box_len, token)] = '\0';
out:
	free(box);
	free(plain);
	return token;
}

int seal_open_json(const unsigned char key[32], const char *token, size_t len, size_t max_len,
                   json_t **out)
{
	unsigned char *box = NULL, *plain = NULL;
	size_t box_len = 0;
	int rc = MC_ERR_INVALID;

	*out = NULL;
	if (len == 0 || len > max_len || crypto_init() != 0)
		return MC_ERR_INVALID;
	box = malloc(len);
	plain = malloc(len);
	if (!box || !plain) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (b64url_decode(token, len, box, len, &box_len) != 0 || box_len <= SEAL_OVERHEAD)
		goto out;
	if (crypto_secretbox_open_easy(plain, box + crypto_secretbox_NONCEBYTES,
	                               box_len - crypto_secretbox_NONCEBYTES, box, key) != 0)
		goto out;
	*out = json_loadb((const char *)plain, box_len - SEAL_OVERHEAD, JSON_DECODE_ANY, NULL);
	if (*out)
		rc = 0;
out:
	free(plain);
	free(box);
	return rc;
}
