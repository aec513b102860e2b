/* Internals of the store's URL protection records: the sub-table of operations each backend
 * fills (reached through store_ops.urls). store_urls.c checks the arguments, then
 * dispatches here. Not for use outside src/server/store/. */
#ifndef MCAPI_SERVER_STORE_STORE_URLS_INT_H
#define MCAPI_SERVER_STORE_STORE_URLS_INT_H

#include "server/store/store_urls.h"

struct store_urls_ops {
	int (*murl_create)(struct store *st, struct managed_url *u, struct err *e);
	int (*murl_delete)(struct store *st, int64_t account_id, int64_t id, struct err *e);
	int (*murl_list)(struct store *st, int64_t account_id, int64_t after_id, size_t limit,
	                 int (*fn)(void *arg, const struct managed_url *u), void *arg,
	                 struct err *e);
	/* domains: a JSON array of strings, the host and its parents */
	int (*murl_for_domains)(struct store *st, int64_t account_id, const char *domains,
	                        int (*fn)(void *arg, const struct managed_url *u), void *arg,
	                        struct err *e);
	int (*click_events_add)(struct store *st, const struct click_event *ev, int n,
	                        struct err *e);
};

extern const struct store_urls_ops sqlite_urls_ops; /* sqlite_urls.c */
extern const struct store_urls_ops pg_urls_ops;     /* pg_urls.c */

#endif
