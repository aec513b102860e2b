/* The opaque ids of domains, messages and recipients (API.md §3): the store's row key under
 * a keyed permutation. An id is base64url (22 characters) of one AES-128 block holding the
 * row (8 bytes, little-endian), a kind byte and 7 zero bytes, encrypted with the first half
 * of srv->id_key. Domain ids have kind 0 (so their form predates the kinds); the kind keeps
 * an id of one kind from naming a row of another (a domain id is no message id). Ids are
 * stable (the row never changes), URL-safe, reveal neither counts nor order, and cannot be
 * guessed: a made-up id decrypts to a block whose check bytes are wrong (a 2^-64 chance).
 * Nothing is stored for them, so creating a record writes no randomly placed index entry. */
#ifndef MCAPI_SERVER_API_DOMAIN_ID_H
#define MCAPI_SERVER_API_DOMAIN_ID_H

#include <stddef.h>
#include <stdint.h>

#define DOMAIN_ID_LEN  22
#define DOMAIN_ID_SIZE 25 /* B64_ENCODED_SIZE(16): what the encoder needs */

enum opaque_kind {
	OPAQUE_DOMAIN = 0,
	OPAQUE_MESSAGE = 1,      /* a message (hold queue, tracking) */
	OPAQUE_RECIPIENT = 2,    /* one recipient of a message (the processing queue) */
	OPAQUE_POLICY = 20,      /* a sender policy (§18) */
	OPAQUE_MANAGED_URL = 21, /* a managed URL (§16.3) */
	/* directory (API.md §17): kinds 16-19 */
	OPAQUE_GROUP = 16,        /* a profile group (folder) */
	OPAQUE_GROUP_MEMBER = 17, /* one member of a group */
	OPAQUE_USER = 18,         /* a user (create-user answers its id) */
	OPAQUE_GROUP_ROOT = 19,   /* the root folder of an account: the row is the account id */
	/* TTP logs (API.md §14.2): kinds 24-25, the ids of impersonationLogs records */
	OPAQUE_TTP_IP_EVENT = 24, /* an impersonation event without recipients (mail_events row) */
	OPAQUE_TTP_IP_RCPT = 25,  /* an impersonation event shown for one recipient (its row) */
};

/* Writes the id of row of kind under key (32 bytes; the first 16 are used) into out. */
void opaque_id_encode(const unsigned char *key, enum opaque_kind kind, int64_t row,
                      char out[DOMAIN_ID_SIZE]);

/* Reads id[0..len) back into *row. Returns 0, or MC_ERR_INVALID for anything that is not
 * an id of this kind made by opaque_id_encode with this key. */
int opaque_id_decode(const unsigned char *key, enum opaque_kind kind, const char *id, size_t len,
                     int64_t *row);

/* The same for domains (kind OPAQUE_DOMAIN). */
void domain_id_encode(const unsigned char *key, int64_t row, char out[DOMAIN_ID_SIZE]);
int domain_id_decode(const unsigned char *key, const char *id, size_t len, int64_t *row);

#endif
