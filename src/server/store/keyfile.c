/* Loading or creating the server key file, and sealing secrets with the key; see keyfile.h.
 * Creation writes a temporary file and link(2)s it into place: link never replaces an
 * existing file, so it is O_EXCL and atomic at once, and a crash between the write and
 * the link leaves only a stray temporary file, never a short key file. */
#include "keyfile.h"

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

#define SEAL_FORMAT 0x01
#define NONCE_LEN   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define HEX_LEN     (STORE_KEY_LEN * 2)

_Static_assert(SEAL_OVERHEAD == 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                        crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "SEAL_OVERHEAD matches the construction");
_Static_assert(STORE_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");

static int read_key(int fd, const char *path, unsigned char key[STORE_KEY_LEN], struct err *e)
{
	struct stat sb;
	char text[HEX_LEN + 2];
	size_t got = 0, hex_len = 0;
	int rc;

	if (fstat(fd, &sb) != 0)
		return err_set(e, MC_ERR_IO, "cannot stat key file '%s': %s", path,
		               strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return err_set(e, MC_ERR_INVALID, "key file '%s' is not a regular file", path);
	if (sb.st_mode & 077)
		return err_set(e, MC_ERR_INVALID,
		               "key file '%s' is accessible by group or others (mode %04o); "
		               "run chmod 600 on it",
		               path, (unsigned)(sb.st_mode & 07777));
	while (got < sizeof(text)) {
		ssize_t n = read(fd, text + got, sizeof(text) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, MC_ERR_IO, "cannot read key file '%s': %s", path,
			               strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != HEX_LEN && !(got == HEX_LEN + 1 && text[HEX_LEN] == '\n'))
		goto bad;
	if (sodium_hex2bin(key, STORE_KEY_LEN, text, HEX_LEN, NULL, &hex_len, NULL) != 0 ||
	    hex_len != STORE_KEY_LEN)
		goto bad;
	rc = 0;
	goto out;
bad:
	rc = err_set(e, MC_ERR_INVALID, "key file '%s' does not hold exactly 64 hex digits", path);
	secure_zero(key, STORE_KEY_LEN);
out:
	secure_zero(text, sizeof(text));
	return rc;
}

/* Creates the key file. Returns 0 with the new key, MC_ERR_EXISTS if another process
 * created the file first (the caller reads that one), or an error. */
static int create_key(const char *path, unsigned char key[STORE_KEY_LEN], struct err *e)
{
	char text[HEX_LEN + 2];
	int rc;

	random_bytes(RND_SERVER_KEY, key, STORE_KEY_LEN);
	sodium_bin2hex(text, sizeof(text), key, STORE_KEY_LEN);
	text[HEX_LEN] = '\n';
	/* linked into place: never replaces a key another process created meanwhile */
	rc = file_write_atomic(path, text, HEX_LEN + 1, 0600, 0, e);
	secure_zero(text, sizeof(text));
	if (rc)
		secure_zero(key, STORE_KEY_LEN);
	return rc;
}

static int load(const char *path, int create, unsigned char key[STORE_KEY_LEN], struct err *e)
{
	int rc;

	if (!path || !*path)
		return err_set(e, MC_ERR_INVALID, "no key file given");
	if (crypto_init() != 0)
		return err_set(e, MC_ERR_CRYPTO, "cannot initialise libsodium");
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			rc = read_key(fd, path, key, e);
			close(fd);
			return rc;
		}
		if (errno != ENOENT)
			return err_set(e, MC_ERR_IO, "cannot open key file '%s': %s", path,
			               strerror(errno));
		if (!create)
			return err_set(e, MC_ERR_NOT_FOUND, "key file '%s' does not exist", path);
		rc = create_key(path, key, e);
		if (rc != MC_ERR_EXISTS)
			return rc;
		/* lost a race with another process: read the key it wrote */
	}
	return err_set(e, MC_ERR_IO, "cannot create key file '%s'", path);
}

int keyfile_load_or_create(const char *path, unsigned char key[STORE_KEY_LEN], struct err *e)
{
	return load(path, 1, key, e);
}

int keyfile_load(const char *path, unsigned char key[STORE_KEY_LEN], struct err *e)
{
	return load(path, 0, key, e);
}

int seal(const unsigned char key[STORE_KEY_LEN], const char *ad, const void *plain, size_t n,
         struct buf *out)
{
	unsigned char *blob = NULL;
	unsigned long long clen = 0;
	size_t total = n + SEAL_OVERHEAD;
	int rc;

	if (n > (size_t)1 << 30)
		return MC_ERR_TOO_LARGE;
	if (crypto_init() != 0)
		return MC_ERR_CRYPTO;
	blob = malloc(total);
	if (!blob)
		return MC_ERR_NOMEM;
	blob[0] = SEAL_FORMAT;
	random_bytes(RND_SEAL, blob + 1, NONCE_LEN);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(
	            blob + 1 + NONCE_LEN, &clen, plain, n, (const unsigned char *)ad,
	            ad ? strlen(ad) : 0, NULL, blob + 1, key) != 0 ||
	    clen + 1 + NONCE_LEN != total) {
		rc = MC_ERR_CRYPTO;
		goto out;
	}
	rc = buf_add(out, blob, total);
out:
	secure_zero(blob, total);
	free(blob);
	return rc;
}

int unseal(const unsigned char key[STORE_KEY_LEN], const char *ad, const void *blob, size_t n,
           unsigned char *plain, size_t cap, size_t *plain_len)
{
	const unsigned char *b = blob;
	unsigned long long mlen = 0;

	*plain_len = 0;
	if (!b || n < SEAL_OVERHEAD || b[0] != SEAL_FORMAT)
		goto bad;
	if (n - SEAL_OVERHEAD > cap)
		return MC_ERR_TOO_LARGE;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL, b + 1 + NONCE_LEN,
	                                               n - 1 - NONCE_LEN, (const unsigned char *)ad,
	                                               ad ? strlen(ad) : 0, b + 1, key) != 0)
		goto bad;
	*plain_len = (size_t)mlen;
	return 0;
bad:
	if (cap)
		secure_zero(plain, cap);
	return MC_ERR_CRYPTO;
}
