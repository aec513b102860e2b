/* Internals of the store's TTP and DLP log reading: the sub-table of operations each
 * backend fills (reached through store_ops.ttp). store_ttp.c checks the query, then
 * dispatches here with the window already narrowed to the cursor. Not for use outside
 * src/server/store/. */
#ifndef MCAPI_SERVER_STORE_STORE_TTP_INT_H
#define MCAPI_SERVER_STORE_STORE_TTP_INT_H

#include "server/store/store_ttp.h"

struct store_ttp_ops {
	int (*log_query)(struct store *st, const struct ttp_log_query *q,
	                 int (*fn)(void *arg, const struct ttp_log_row *r), void *arg,
	                 struct err *e);
};

extern const struct store_ttp_ops sqlite_ttp_ops; /* sqlite_ttp.c */
extern const struct store_ttp_ops pg_ttp_ops;     /* pg_ttp.c */

#endif
