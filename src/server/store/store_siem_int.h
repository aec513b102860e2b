/* Internals of the store's SIEM reads: the sub-table of operations each backend fills
 * (reached through store_ops.siem). store_siem.c checks the arguments, then dispatches
 * here. Not for use outside src/server/store/. */
#ifndef MCAPI_SERVER_STORE_STORE_SIEM_INT_H
#define MCAPI_SERVER_STORE_STORE_SIEM_INT_H

#include "server/store/store_siem.h"

struct store_siem_ops {
	int (*horizon)(struct store *st, int64_t *hi, struct err *e);
	int (*next)(struct store *st, int64_t account_id, const char *type, int64_t pos, int64_t hi,
	            int64_t cutoff, int64_t *next, struct err *e);
	int (*read)(struct store *st, int64_t account_id, const char *type, int64_t pos, int64_t hi,
	            int64_t cutoff, size_t max, int (*fn)(void *arg, const struct siem_event *ev),
	            void *arg, struct err *e);
};

extern const struct store_siem_ops sqlite_siem_ops; /* sqlite_siem.c */
extern const struct store_siem_ops pg_siem_ops;     /* pg_siem.c */

#endif
