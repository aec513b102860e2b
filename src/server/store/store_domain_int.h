/* Internals of the store's domain records: the sub-table of operations each backend fills
 * (reached through store_ops.domain) and the backends' tables. store_domain.c checks the
 * arguments, then dispatches here. Not for use outside src/server/store/. */
#ifndef MCAPI_SERVER_STORE_STORE_DOMAIN_INT_H
#define MCAPI_SERVER_STORE_STORE_DOMAIN_INT_H

#include "server/store/store_domain.h"

struct store_domain_ops {
	int (*get)(struct store *st, int64_t account_id, const char *name, struct domain *out,
	           struct err *e);
	int (*get_by_row)(struct store *st, int64_t account_id, int64_t row, struct domain *out,
	                  struct err *e);
	int (*internal_owner)(struct store *st, const char *name, int64_t *account_id,
	                      struct err *e);
	int (*create)(struct store *st, struct domain *d, struct err *e);
	int (*update)(struct store *st, const struct domain *d, struct err *e);
	int (*set_check)(struct store *st, int64_t row, int64_t when, const char *result,
	                 struct err *e);
	int (*delete_row)(struct store *st, int64_t row, struct err *e);
	int (*list)(struct store *st, int64_t account_id, enum domain_which which,
	            const char *after, int64_t hide_before, size_t limit,
	            int (*fn)(void *arg, const struct domain *d), void *arg, struct err *e);
	int (*purge)(struct store *st, int64_t cutoff, int64_t *deleted, struct err *e);
};

/* sqlite_domain.c */
extern const struct store_domain_ops sqlite_domain_ops;

#endif
