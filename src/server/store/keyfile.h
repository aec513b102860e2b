/* The server key and the sealing of secrets with it. The key (STORE_KEY_LEN random bytes)
 * lives in its own file, outside the database, so that a copy of the database alone cannot
 * sign requests. Sealed values are XChaCha20-Poly1305 (libsodium, IETF construction) with
 * a random nonce, and additional data that names the row a value belongs to, so a sealed
 * secret copied into another row does not open there.
 *
 * Key file format: exactly 64 lower- or upper-case hex digits, optionally followed by one
 * "\n"; a regular file with no permission bits for group or others. */
#ifndef MCAPI_SERVER_STORE_KEYFILE_H
#define MCAPI_SERVER_STORE_KEYFILE_H

#include "server/store/store.h"

#include <stddef.h>

struct buf;
struct err;

/* Bytes a sealed value adds to its plaintext: format byte + 24-byte nonce + 16-byte tag. */
#define SEAL_OVERHEAD 41

/* Reads the key from path into key. If the file does not exist, creates it with a fresh
 * random key, mode 0600, atomically (a temporary file, fsync, link(2) into place, fsync of
 * the directory), so a crash never leaves a partial key file and two processes starting
 * at once end up with the same key. Returns 0; MC_ERR_INVALID if the file is readable or
 * writable by group or others, not a regular file, or not 64 hex digits; MC_ERR_IO on a
 * system call failure. The message in e names the file. */
int keyfile_load_or_create(const char *path, unsigned char key[STORE_KEY_LEN], struct err *e);

/* As keyfile_load_or_create() but never creates the file: MC_ERR_NOT_FOUND if it does not
 * exist (for `mcapid admin`, which works on the store a server made). */
int keyfile_load(const char *path, unsigned char key[STORE_KEY_LEN], struct err *e);

/* Appends to out the sealed form of plain[0..n): 0x01, nonce, ciphertext with tag
 * (n + SEAL_OVERHEAD bytes). ad is the NUL-terminated additional data. Returns 0,
 * MC_ERR_TOO_LARGE past out's cap, MC_ERR_NOMEM or MC_ERR_CRYPTO. */
int seal(const unsigned char key[STORE_KEY_LEN], const char *ad, const void *plain, size_t n,
         struct buf *out);

/* Opens blob[0..n) sealed by seal() with the same key and ad into plain (capacity cap) and
 * sets *plain_len. Returns 0; MC_ERR_CRYPTO if the blob is malformed, was sealed with
 * another key or another ad, or was altered; MC_ERR_TOO_LARGE if cap is too small. On
 * error plain is zeroed up to cap. */
int unseal(const unsigned char key[STORE_KEY_LEN], const char *ad, const void *blob, size_t n,
           unsigned char *plain, size_t cap, size_t *plain_len);

#endif
