/* The opaque ids of domains (API.md §3): the store's row key under a keyed permutation.
 * An id is base64url (22 characters) of one AES-128 block holding the row (8 bytes,
 * little-endian) and 8 zero bytes, encrypted with the first half of srv->id_key. Ids are
 * stable (the row never changes), URL-safe, reveal neither counts nor order, and cannot be
 * guessed: a made-up id decrypts to a block whose check bytes are not zero (a 2^-64 chance).
 * Nothing is stored for them, so creating a domain writes no randomly placed index entry. */
#ifndef MCAPI_SERVER_API_DOMAIN_ID_H
#define MCAPI_SERVER_API_DOMAIN_ID_H

#include <stddef.h>
#include <stdint.h>

#define DOMAIN_ID_LEN  22
#define DOMAIN_ID_SIZE 25 /* B64_ENCODED_SIZE(16): what the encoder needs */

/* Writes the id of row under key (32 bytes; the first 16 are used) into out. */
void domain_id_encode(const unsigned char *key, int64_t row, char out[DOMAIN_ID_SIZE]);

/* Reads id[0..len) back into *row. Returns 0, or MC_ERR_INVALID for anything that is not
 * an id made by domain_id_encode with this key. */
int domain_id_decode(const unsigned char *key, const char *id, size_t len, int64_t *row);

#endif
