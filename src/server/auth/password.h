/* Password hashing for users who log in (API §6.2): Argon2id through libsodium's
 * crypto_pwhash_str_alg with the INTERACTIVE limits (64 MiB, ~0.1 s), stored as the
 * self-describing encoded string ("$argon2id$v=19$m=...") so the limits can be raised
 * later and old hashes still verify. */
#ifndef MCAPI_SERVER_AUTH_PASSWORD_H
#define MCAPI_SERVER_AUTH_PASSWORD_H

#include <stddef.h>

struct err;

#define PASSWORD_HASH_MAX 128  /* crypto_pwhash_STRBYTES, including the NUL */
#define PASSWORD_MAX      1024 /* longer passwords are refused, not truncated */

/* Hashes pw[0..n) with a fresh salt into out (NUL-terminated). Returns 0; MC_ERR_INVALID
 * for an empty password; MC_ERR_TOO_LARGE over PASSWORD_MAX; MC_ERR_CRYPTO if hashing
 * fails (usually: the 64 MiB could not be allocated). */
int password_hash(const char *pw, size_t n, char out[PASSWORD_HASH_MAX], struct err *e);

/* 0 if pw[0..n) matches hash, else MC_ERR_INVALID. A NULL or empty hash (a user without a
 * password) never matches, but costs the same time as a real check, so callers can treat
 * unknown users alike and not reveal which e-mail addresses exist. */
int password_verify(const char *hash, const char *pw, size_t n);

/* 1 if hash was made with other parameters than password_hash() uses now. */
int password_needs_rehash(const char *hash);

#endif
