/* The public login-counter and audit-query functions of the store (store_login.h,
 * store_audit.h): argument checks here, then a call through the backend's login table
 * (store_ops.login). */
#include "store_int.h"
#include "store_login_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

int store_audit_query(struct store *st, const struct audit_query *q,
                      int (*fn)(void *arg, const struct audit_record *r), void *arg, struct err *e)
{
	if (q->limit == 0 || q->limit > 100000)
		return err_set(e, MC_ERR_INVALID, "audit query limit %zu out of range", q->limit);
	if (q->has_cursor && (!q->cursor_id || strlen(q->cursor_id) >= AUDIT_ID_SIZE))
		return err_set(e, MC_ERR_INVALID, "audit query cursor without a valid id");
	if (!st->ops->login)
		return err_set(e, MC_ERR_INTERNAL, "the %s store has no audit queries",
		               st->ops->name);
	return st->ops->login->audit_query(st, q, fn, arg, e);
}

static int check_key(const char *key, struct err *e)
{
	size_t n = strnlen(key, LOGIN_KEY_SIZE);

	if (n == 0 || n >= LOGIN_KEY_SIZE)
		return err_set(e, MC_ERR_INVALID, "login counter key of bad length");
	return 0;
}

int store_login_failure_get(struct store *st, const char *key, struct login_failure *out,
                            struct err *e)
{
	int rc = check_key(key, e);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	if (!st->ops->login)
		return err_set(e, MC_ERR_INTERNAL, "the %s store has no login counters",
		               st->ops->name);
	return st->ops->login->failure_get(st, key, out, e);
}

int store_login_failure_put(struct store *st, const char *key, const struct login_failure *f,
                            int64_t purge_before, struct err *e)
{
	int rc = check_key(key, e);

	if (rc)
		return rc;
	if (f->failures < 0)
		return err_set(e, MC_ERR_INVALID, "negative failure count");
	if (!st->ops->login)
		return err_set(e, MC_ERR_INTERNAL, "the %s store has no login counters",
		               st->ops->name);
	return st->ops->login->failure_put(st, key, f, purge_before, e);
}
