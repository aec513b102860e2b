/* The store's domain records (API.md §5): one row per (account, domain name) claim, pending
 * until its TXT token is verified and internal afterwards. Same conventions as store.h:
 * records are fixed-size structs copied by value, times are ms since the epoch (UTC), the
 * calling thread's transaction (store_tx_begin) covers these calls, and errors are 0,
 * MC_ERR_NOT_FOUND, MC_ERR_EXISTS, MC_ERR_UNAVAILABLE or MC_ERR_STORE (message in e).
 *
 * Names are given already normalised (domain_name.h: lower-case A-labels). A name is
 * internal in at most one account: making a second one internal fails with MC_ERR_EXISTS,
 * which is what makes "the first verification wins" atomic. Pending claims of one name
 * may exist in many accounts. */
#ifndef MCAPI_SERVER_STORE_STORE_DOMAIN_H
#define MCAPI_SERVER_STORE_STORE_DOMAIN_H

#include "server/store/store.h"

#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

enum domain_state {
	DOMAIN_PENDING = 0,  /* waiting for verification (expired when expiry < now) */
	DOMAIN_INTERNAL = 1, /* verified, or internal at once under an internal parent */
};

/* Which records a list returns. */
enum domain_which {
	DOMAIN_LIST_PENDING,
	DOMAIN_LIST_INTERNAL,
	DOMAIN_LIST_ALL,
};

#define DOMAIN_NAME_SIZE    254 /* 253 octets + NUL */
#define DOMAIN_TOKEN_SIZE   101 /* at most 100 printable characters + NUL */
#define DOMAIN_INBOUND_SIZE 8   /* any | smtp | ldap | known */
#define DOMAIN_RESULT_SIZE  48  /* "verified" or a §3.2 error code */

struct domain {
	int64_t row; /* the key; the API shows it only as an opaque id */
	int64_t account_id;
	char name[DOMAIN_NAME_SIZE];
	int32_t state; /* enum domain_state */
	char inbound_type[DOMAIN_INBOUND_SIZE];
	char token[DOMAIN_TOKEN_SIZE]; /* "" for a domain internal at once */
	int64_t created;
	int64_t expiry;   /* pending: created + TTL; 0 for internal at once */
	int64_t verified; /* when it became internal; 0 while pending */
	int32_t send_only;
	int32_t local;
	int64_t last_check;                   /* time of the last verification attempt; 0 = none */
	char last_result[DOMAIN_RESULT_SIZE]; /* its outcome */
};

/* The claim of account_id on name. MC_ERR_NOT_FOUND if there is none. */
int store_domain_get(struct store *st, int64_t account_id, const char *name, struct domain *out,
                     struct err *e);

/* The record of account_id with the key row. MC_ERR_NOT_FOUND if there is none. */
int store_domain_get_by_row(struct store *st, int64_t account_id, int64_t row, struct domain *out,
                            struct err *e);

/* The account in which name is internal, in *account_id. MC_ERR_NOT_FOUND if none. */
int store_domain_internal_owner(struct store *st, const char *name, int64_t *account_id,
                                struct err *e);

/* Creates d (every field but row given; created = now if 0); fills d->row. MC_ERR_EXISTS if
 * account_id has a claim on the name already or if d is internal and the name is internal
 * elsewhere; MC_ERR_NOT_FOUND if no such account. */
int store_domain_create(struct store *st, struct domain *d, struct err *e);

/* Writes the mutable fields of d by d->row: state, inbound_type, token, created, expiry,
 * verified, send_only, local, last_check, last_result. MC_ERR_EXISTS if d becomes internal
 * while the name is internal in another account; MC_ERR_NOT_FOUND if the row is gone. */
int store_domain_update(struct store *st, const struct domain *d, struct err *e);

/* Records a verification attempt on one row without touching anything else. */
int store_domain_set_check(struct store *st, int64_t row, int64_t when, const char *result,
                           struct err *e);

/* Deletes the record; MC_ERR_NOT_FOUND if it is gone. */
int store_domain_delete(struct store *st, int64_t row, struct err *e);

/* Calls fn for up to limit records of account_id, in name order, starting after the name
 * `after` (NULL or "" = from the first). Pending records whose expiry is before hide_before
 * (the purge horizon) are skipped. A non-zero return of fn stops and is returned. */
int store_domain_list(struct store *st, int64_t account_id, enum domain_which which,
                      const char *after, int64_t hide_before, size_t limit,
                      int (*fn)(void *arg, const struct domain *d), void *arg, struct err *e);

/* Deletes pending records of every account whose expiry is before cutoff; *deleted (may be
 * NULL) gets how many. */
int store_domain_purge(struct store *st, int64_t cutoff, int64_t *deleted, struct err *e);

#endif
