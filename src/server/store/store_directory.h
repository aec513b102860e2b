/* The store's directory (API.md §17): the account's users as a directory lists them (by
 * domain, in address order; the rows are the `users` of store.h, which get-internal-users,
 * create-user and the mail pipeline's known-user check all share) and profile groups
 * ("folders"), which nest through a parent and hold addresses or whole domains. Same
 * conventions as store.h: records are fixed-size structs copied by value, times are ms since
 * the epoch (UTC), the calling thread's transaction (store_tx_begin) covers these calls, and
 * errors are 0, MC_ERR_NOT_FOUND, MC_ERR_EXISTS, MC_ERR_INVALID, MC_ERR_UNAVAILABLE or
 * MC_ERR_STORE (message in e).
 *
 * Membership (what policies ask, §18): an address A with domain D is a member of group G
 * when G holds (email, A) or (domain, D). Direct members only, not through sub-groups.
 * Addresses and domains are compared lower-case; the store lower-cases what it is given. */
#ifndef MCAPI_SERVER_STORE_STORE_DIRECTORY_H
#define MCAPI_SERVER_STORE_STORE_DIRECTORY_H

#include "server/store/store.h"

#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

#define GROUP_NAME_SIZE   256 /* 255 bytes + NUL */
#define GROUP_SOURCE_SIZE 16  /* "cloud" (groups made through the API) or "ldap" */
#define MEMBER_VALUE_SIZE 256 /* an address or a domain, lower-case */

enum member_kind {
	MEMBER_EMAIL = 0,
	MEMBER_DOMAIN = 1,
};

struct group {
	int64_t id; /* the key; the API shows it only as an opaque id */
	int64_t account_id;
	char name[GROUP_NAME_SIZE]; /* the API's "description" */
	int64_t parent_id;          /* 0 = under the account's root folder */
	char source[GROUP_SOURCE_SIZE];
	int64_t created;
	int64_t user_count;   /* members (read-only: counted by the store) */
	int64_t folder_count; /* child groups (read-only) */
};

struct group_member {
	int64_t id;
	int64_t group_id;
	int32_t kind; /* enum member_kind */
	char value[MEMBER_VALUE_SIZE];
	int64_t created;
};

/* ---- users, as the directory lists them ---- */

/* Calls fn for up to limit users of account_id whose address is in domain (NULL or "" = every
 * domain), in address order, starting after the address `after` (NULL or "" = from the first).
 * A non-zero return of fn stops and is returned. */
int store_dir_user_list(struct store *st, int64_t account_id, const char *domain, const char *after,
                        size_t limit, int (*fn)(void *arg, const struct user *u), void *arg,
                        struct err *e);

/* How many users store_dir_user_list would pass with no cursor and no limit. */
int store_dir_user_count(struct store *st, int64_t account_id, const char *domain, int64_t *count,
                         struct err *e);

/* ---- groups ---- */

/* Creates g (account_id, name, parent_id, source given; source "" = "cloud"; created = now if
 * 0); fills g->id. MC_ERR_NOT_FOUND if parent_id is not 0 and names no group of the account. */
int store_group_create(struct store *st, struct group *g, struct err *e);

/* The group id of account_id, with its counts. MC_ERR_NOT_FOUND if there is none. */
int store_group_get(struct store *st, int64_t account_id, int64_t id, struct group *out,
                    struct err *e);

/* Calls fn for up to limit groups of account_id in (name, id) order after the cursor
 * (after_name, after_id) (after_name NULL = from the first), with their counts. query (NULL
 * or "" = all) keeps those whose name contains it, ASCII case-insensitively; source (NULL or
 * "" = any) those of that source. A non-zero return of fn stops and is returned. */
int store_group_find(struct store *st, int64_t account_id, const char *query, const char *source,
                     const char *after_name, int64_t after_id, size_t limit,
                     int (*fn)(void *arg, const struct group *g), void *arg, struct err *e);

/* How many groups store_group_find would pass with no cursor and no limit. */
int store_group_count(struct store *st, int64_t account_id, const char *query, const char *source,
                      int64_t *count, struct err *e);

/* Adds a member (value lower-cased) to group group_id of account_id; fills *out (may be NULL).
 * MC_ERR_NOT_FOUND if there is no such group; MC_ERR_EXISTS if it holds the member already. */
int store_group_member_add(struct store *st, int64_t account_id, int64_t group_id,
                           enum member_kind kind, const char *value, struct group_member *out,
                           struct err *e);

/* Removes a member; fills *out (may be NULL) with what was removed. MC_ERR_NOT_FOUND if there
 * is no such group or it does not hold the member. */
int store_group_member_remove(struct store *st, int64_t account_id, int64_t group_id,
                              enum member_kind kind, const char *value, struct group_member *out,
                              struct err *e);

/* Calls fn for up to limit members of the group, oldest first (by id), after the member
 * after_id (0 = from the first). MC_ERR_NOT_FOUND if there is no such group. */
int store_group_members(struct store *st, int64_t account_id, int64_t group_id, int64_t after_id,
                        size_t limit, int (*fn)(void *arg, const struct group_member *m), void *arg,
                        struct err *e);

/* *yes = 1 if addr (any case; "local@domain") is a direct member of the group of account_id
 * (by address or by its domain), else 0. A group of another account, or none, answers 0. */
int store_group_has_member(struct store *st, int64_t account_id, int64_t group_id, const char *addr,
                           int *yes, struct err *e);

#endif
