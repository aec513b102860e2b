/* Internals of the store's directory: the sub-table of operations each backend fills
 * (reached through store_ops.directory) and the backends' tables. store_directory.c checks
 * the arguments and lower-cases addresses, then dispatches here. Not for use outside
 * src/server/store/. */
#ifndef MCAPI_SERVER_STORE_STORE_DIRECTORY_INT_H
#define MCAPI_SERVER_STORE_STORE_DIRECTORY_INT_H

#include "server/store/store_directory.h"

struct store_directory_ops {
	/* domain "" = every domain; after "" = from the first */
	int (*user_list)(struct store *st, int64_t account_id, const char *domain,
	                 const char *after, size_t limit,
	                 int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
	int (*user_count)(struct store *st, int64_t account_id, const char *domain, int64_t *count,
	                  struct err *e);
	int (*group_create)(struct store *st, struct group *g, struct err *e);
	int (*group_get)(struct store *st, int64_t account_id, int64_t id, struct group *out,
	                 struct err *e);
	/* query: lower-case, "" = all; source "" = any; has_cursor 0 = from the first */
	int (*group_find)(struct store *st, int64_t account_id, const char *query,
	                  const char *source, int has_cursor, const char *after_name,
	                  int64_t after_id, size_t limit,
	                  int (*fn)(void *arg, const struct group *g), void *arg, struct err *e);
	int (*group_count)(struct store *st, int64_t account_id, const char *query,
	                   const char *source, int64_t *count, struct err *e);
	/* the group is known to belong to the caller's account */
	int (*member_add)(struct store *st, struct group_member *m, struct err *e);
	int (*member_remove)(struct store *st, int64_t group_id, int32_t kind, const char *value,
	                     struct group_member *out, struct err *e);
	int (*members)(struct store *st, int64_t group_id, int64_t after_id, size_t limit,
	               int (*fn)(void *arg, const struct group_member *m), void *arg,
	               struct err *e);
	int (*has_member)(struct store *st, int64_t account_id, int64_t group_id, const char *addr,
	                  const char *domain, int *yes, struct err *e);
};

extern const struct store_directory_ops sqlite_directory_ops;
extern const struct store_directory_ops pg_directory_ops;

/* The text of a member kind in the tables: "email" or "domain". */
const char *store_member_kind_name(int32_t kind);

#endif
