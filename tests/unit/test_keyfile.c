/* Unit tests for the server key file (creation mode, refusal of loose modes and bad sizes,
 * reload) and for sealing (round trip, tamper, wrong additional data, wrong key), plus the
 * Argon2id password helpers that live beside them in the server's secret handling. */
#include "server/auth/password.h"
#include "common/buf.h"
#include "common/err.h"
#include "server/store/keyfile.h"
#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void path_in(char *dst, size_t size, const char *name)
{
	snprintf(dst, size, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		fchmod(fd, mode);
		close(fd);
	}
}

static void test_keyfile(void)
{
	unsigned char k1[STORE_KEY_LEN], k2[STORE_KEY_LEN];
	char path[128], other[128];
	struct stat sb;
	struct err e;

	path_in(path, sizeof(path), "server.key");
	CHECK_INT(keyfile_load_or_create(path, k1, &e), 0);
	CHECK(stat(path, &sb) == 0);
	CHECK_INT(sb.st_mode & 07777, 0600);
	CHECK_INT(sb.st_size, 65);
	CHECK_INT(keyfile_load_or_create(path, k2, &e), 0);
	CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
	memset(k2, 0, sizeof(k2));
	CHECK_INT(keyfile_load(path, k2, &e), 0);
	CHECK(memcmp(k1, k2, sizeof(k1)) == 0);

	/* no stray temporary files beside it */
	path_in(other, sizeof(other), "");
	{
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1", dir);
		CHECK(system(cmd) == 0);
	}

	CHECK(chmod(path, 0644) == 0);
	err_clear(&e);
	CHECK_INT(keyfile_load_or_create(path, k2, &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "chmod 600") != NULL);
	CHECK(chmod(path, 0640) == 0);
	CHECK_INT(keyfile_load_or_create(path, k2, &e), MC_ERR_INVALID);
	CHECK(chmod(path, 0600) == 0);
	CHECK_INT(keyfile_load_or_create(path, k2, &e), 0);

	path_in(other, sizeof(other), "short.key");
	write_file(other, "abcdef\n", 0600);
	CHECK_INT(keyfile_load_or_create(other, k2, &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "64 hex digits") != NULL);
	write_file(other, "zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
	           0600);
	CHECK_INT(keyfile_load_or_create(other, k2, &e), MC_ERR_INVALID);
	write_file(other, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0600);
	CHECK_INT(keyfile_load_or_create(other, k2, &e), 0);
	CHECK_INT(k2[0], 0x01);
	CHECK_INT(k2[31], 0xef);
	write_file(other, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\n",
	           0600);
	CHECK_INT(keyfile_load_or_create(other, k2, &e), MC_ERR_INVALID);

	/* keyfile_load never creates the file */
	path_in(other, sizeof(other), "absent.key");
	err_clear(&e);
	CHECK_INT(keyfile_load(other, k2, &e), MC_ERR_NOT_FOUND);
	CHECK(strstr(e.msg, "absent.key") != NULL);
	CHECK(stat(other, &sb) != 0);

	path_in(other, sizeof(other), "nodir/x.key");
	CHECK_INT(keyfile_load_or_create(other, k2, &e), MC_ERR_IO);
	CHECK_INT(keyfile_load_or_create(dir, k2, &e), MC_ERR_INVALID); /* a directory */
}

static void test_seal(void)
{
	unsigned char key[STORE_KEY_LEN], key2[STORE_KEY_LEN], out[64];
	const char secret[] = "the secret key bytes";
	struct buf b;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(key); i++) {
		key[i] = (unsigned char)i;
		key2[i] = (unsigned char)(i + 1);
	}
	buf_init(&b, 1024);
	CHECK_INT(seal(key, "binding:AK1", secret, strlen(secret), &b), 0);
	CHECK_INT(b.len, strlen(secret) + SEAL_OVERHEAD);
	CHECK(memmem(b.data, b.len, secret, strlen(secret)) == NULL);
	CHECK_INT(unseal(key, "binding:AK1", b.data, b.len, out, sizeof(out), &n), 0);
	CHECK_INT(n, strlen(secret));
	CHECK(memcmp(out, secret, n) == 0);

	CHECK_INT(unseal(key, "binding:AK2", b.data, b.len, out, sizeof(out), &n), MC_ERR_CRYPTO);
	CHECK_INT(n, 0);
	CHECK_INT(unseal(key2, "binding:AK1", b.data, b.len, out, sizeof(out), &n), MC_ERR_CRYPTO);
	CHECK_INT(unseal(key, "binding:AK1", b.data, b.len, out, 4, &n), MC_ERR_TOO_LARGE);
	CHECK_INT(unseal(key, "binding:AK1", b.data, 10, out, sizeof(out), &n), MC_ERR_CRYPTO);
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] ^= 0x04;
		CHECK_INT(unseal(key, "binding:AK1", b.data, b.len, out, sizeof(out), &n),
		          MC_ERR_CRYPTO);
		b.data[i] ^= 0x04;
	}
	CHECK_INT(unseal(key, "binding:AK1", b.data, b.len, out, sizeof(out), &n), 0);

	/* two seals of the same value differ (fresh nonce) */
	{
		struct buf b2;
		buf_init(&b2, 1024);
		CHECK_INT(seal(key, "binding:AK1", secret, strlen(secret), &b2), 0);
		CHECK(b2.len == b.len && memcmp(b2.data, b.data, b.len) != 0);
		buf_release(&b2);
	}
	/* the cap of the output buffer holds */
	{
		struct buf small;
		buf_init(&small, 16);
		CHECK_INT(seal(key, "x", secret, strlen(secret), &small), MC_ERR_TOO_LARGE);
		buf_release(&small);
	}
	/* empty plaintext seals and opens */
	buf_reset(&b);
	CHECK_INT(seal(key, "", "", 0, &b), 0);
	CHECK_INT(unseal(key, "", b.data, b.len, out, sizeof(out), &n), 0);
	CHECK_INT(n, 0);
	buf_release(&b);
}

static void test_password(void)
{
	char hash[PASSWORD_HASH_MAX], hash2[PASSWORD_HASH_MAX];
	char big[PASSWORD_MAX + 2];
	struct err e;

	CHECK_INT(password_hash("correct horse", 13, hash, &e), 0);
	CHECK(strncmp(hash, "$argon2id$", 10) == 0);
	CHECK_INT(password_verify(hash, "correct horse", 13), 0);
	CHECK_INT(password_verify(hash, "correct hors", 12), MC_ERR_INVALID);
	CHECK_INT(password_verify(hash, "correct horsf", 13), MC_ERR_INVALID);
	CHECK_INT(password_hash("correct horse", 13, hash2, &e), 0);
	CHECK(strcmp(hash, hash2) != 0); /* salted */
	CHECK_INT(password_needs_rehash(hash), 0);
	CHECK_INT(password_verify("", "x", 1), MC_ERR_INVALID);
	CHECK_INT(password_verify(NULL, "x", 1), MC_ERR_INVALID);
	CHECK_INT(password_verify("garbage", "x", 1), MC_ERR_INVALID);
	CHECK_INT(password_hash("", 0, hash2, &e), MC_ERR_INVALID);
	memset(big, 'a', sizeof(big));
	CHECK_INT(password_hash(big, PASSWORD_MAX + 1, hash2, &e), MC_ERR_TOO_LARGE);
	CHECK_INT(password_verify(hash, big, PASSWORD_MAX + 1), MC_ERR_INVALID);
}

int main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/mcapi-keyfile-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_keyfile();
	test_seal();
	test_password();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return tap_done();
}
