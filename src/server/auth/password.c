/* Argon2id password hashes; see password.h. The dummy hash that unknown users are checked
 * against is made once per process from a random password. */
#include "password.h"

#include "common/crypto.h"
#include "common/err.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "common/banned.h"

_Static_assert(PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash buffer size");

#define OPS crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEM crypto_pwhash_MEMLIMIT_INTERACTIVE

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[PASSWORD_HASH_MAX];

int password_hash(const char *pw, size_t n, char out[PASSWORD_HASH_MAX], struct err *e)
{
	out[0] = '\0';
	if (n == 0)
		return err_set(e, MC_ERR_INVALID, "the password is empty");
	if (n > PASSWORD_MAX)
		return err_set(e, MC_ERR_TOO_LARGE, "the password is longer than %d bytes",
		               PASSWORD_MAX);
	if (crypto_init() != 0 ||
	    crypto_pwhash_str_alg(out, pw, n, OPS, MEM, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		out[0] = '\0';
		return err_set(e, MC_ERR_CRYPTO, "cannot hash the password (out of memory?)");
	}
	return 0;
}

static void make_dummy(void)
{
	char pw[32];

	random_bytes(RND_INTERNAL, pw, sizeof(pw));
	if (crypto_pwhash_str_alg(dummy_hash, pw, sizeof(pw), OPS, MEM,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0)
		dummy_hash[0] = '\0';
	secure_zero(pw, sizeof(pw));
}

int password_verify(const char *hash, const char *pw, size_t n)
{
	int have = hash && *hash;

	if (crypto_init() != 0)
		return MC_ERR_INVALID;
	if (n > PASSWORD_MAX)
		n = PASSWORD_MAX + 1; /* still spend the time, on a prefix that cannot match */
	if (!have) {
		pthread_once(&dummy_once, make_dummy);
		hash = dummy_hash;
	}
	if (strnlen(hash, PASSWORD_HASH_MAX) == PASSWORD_HASH_MAX || !*hash)
		return MC_ERR_INVALID;
	if (crypto_pwhash_str_verify(hash, pw, n) != 0 || !have || n > PASSWORD_MAX)
		return MC_ERR_INVALID;
	return 0;
}

int password_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, OPS, MEM) != 0;
}
