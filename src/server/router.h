/* The endpoint table: path → handler, authentication mode, permission. Lookups are
 * exact matches on the path, case-sensitive as the real service. */
#ifndef MCAPI_SERVER_ROUTER_H
#define MCAPI_SERVER_ROUTER_H

#include "server/request.h"

#include <stddef.h>
#include <stdint.h>

enum route_auth {
	ROUTE_SIGNED,   /* §2.1 signed call */
	ROUTE_APP_ONLY, /* only a valid x-mc-app-id (login, discovery) */
};

enum route_flags {
	ROUTE_FORM_BODY_OK = 1, /* a form-encoded body is tolerated and treated as empty */
};

struct route {
	const char *path;
	enum route_auth auth;
	uint32_t perm; /* enum perm bit needed, PERM_NONE for any authenticated user */
	unsigned flags;
	handler_fn fn;
};

/* The route for path[0..len), or NULL. */
const struct route *router_match(const char *path, size_t len);

/* All routes, terminated by an entry with path NULL. */
const struct route *router_table(void);

#endif
