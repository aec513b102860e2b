/* Internals of the store's login and audit-query records: the sub-table of operations each
 * backend fills (reached through store_ops.login) and the backends' tables. store_login.c
 * checks the arguments, then dispatches here. Not for use outside src/server/store/. */
#ifndef MCAPI_SERVER_STORE_STORE_LOGIN_INT_H
#define MCAPI_SERVER_STORE_STORE_LOGIN_INT_H

#include "server/store/store_audit.h"
#include "server/store/store_login.h"

struct store_login_ops {
	int (*audit_query)(struct store *st, const struct audit_query *q,
	                   int (*fn)(void *arg, const struct audit_record *r), void *arg,
	                   struct err *e);
	int (*failure_get)(struct store *st, const char *key, struct login_failure *out,
	                   struct err *e);
	int (*failure_put)(struct store *st, const char *key, const struct login_failure *f,
	                   int64_t purge_before, struct err *e);
};

/* sqlite_login.c */
extern const struct store_login_ops sqlite_login_ops;

#endif
