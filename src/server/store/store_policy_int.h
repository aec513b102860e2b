/* Internals of the store's sender policies: the sub-table of operations each backend fills
 * (reached through store_ops.policy). store_policy.c checks the arguments, then dispatches
 * here. Not for use outside src/server/store/. */
#ifndef MCAPI_SERVER_STORE_STORE_POLICY_INT_H
#define MCAPI_SERVER_STORE_STORE_POLICY_INT_H

#include "server/store/store_policy.h"

struct store_policy_ops {
	int (*put)(struct store *st, struct sender_policy *p, struct err *e);
	int (*get)(struct store *st, int64_t account_id, int64_t id, struct sender_policy *out,
	           struct err *e);
	int (*delete_row)(struct store *st, int64_t account_id, int64_t id, struct err *e);
	int (*list)(struct store *st, int64_t account_id, int kind, int64_t after_id, size_t limit,
	            int (*fn)(void *arg, const struct sender_policy *p), void *arg, struct err *e);
	/* keys: sender, sender's domain, recipient, recipient's domain; lower-case, NULL = none */
	int (*candidates)(struct store *st, int64_t account_id, const char *const keys[4],
	                  int (*fn)(void *arg, const struct sender_policy *p), void *arg,
	                  struct err *e);
};

extern const struct store_policy_ops sqlite_policy_ops; /* sqlite_policy.c */
extern const struct store_policy_ops pg_policy_ops;     /* pg_policy.c */

#endif
