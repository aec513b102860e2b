/* The public domain functions of the store (store_domain.h): argument checks here, then a
 * call through the backend's domain table (store_ops.domain). */
#include "store_domain_int.h"
#include "store_int.h"

#include "common/date.h"
#include "common/err.h"

#include <string.h>

#include "common/banned.h"

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int check_record(const struct domain *d, struct err *e)
{
	if (!terminated(d->name, sizeof(d->name)) || !terminated(d->token, sizeof(d->token)) ||
	    !terminated(d->inbound_type, sizeof(d->inbound_type)) ||
	    !terminated(d->last_result, sizeof(d->last_result)))
		return err_set(e, MC_ERR_INVALID, "a domain record field is not terminated");
	if (d->state != DOMAIN_PENDING && d->state != DOMAIN_INTERNAL)
		return err_set(e, MC_ERR_INVALID, "domain state %d is not valid", (int)d->state);
	return 0;
}

int store_domain_get(struct store *st, int64_t account_id, const char *name, struct domain *out,
                     struct err *e)
{
	return st->ops->domain->get(st, account_id, name, out, e);
}

int store_domain_get_by_row(struct store *st, int64_t account_id, int64_t row, struct domain *out,
                            struct err *e)
{
	return st->ops->domain->get_by_row(st, account_id, row, out, e);
}

int store_domain_internal_owner(struct store *st, const char *name, int64_t *account_id,
                                struct err *e)
{
	return st->ops->domain->internal_owner(st, name, account_id, e);
}

int store_domain_create(struct store *st, struct domain *d, struct err *e)
{
	int rc = check_record(d, e);

	if (rc)
		return rc;
	if (!d->created)
		d->created = now_ms();
	return st->ops->domain->create(st, d, e);
}

int store_domain_update(struct store *st, const struct domain *d, struct err *e)
{
	int rc = check_record(d, e);

	return rc ? rc : st->ops->domain->update(st, d, e);
}

int store_domain_set_check(struct store *st, int64_t row, int64_t when, const char *result,
                           struct err *e)
{
	if (!result || strlen(result) >= DOMAIN_RESULT_SIZE)
		return err_set(e, MC_ERR_INVALID, "a verification result is missing or too long");
	return st->ops->domain->set_check(st, row, when, result, e);
}

int store_domain_delete(struct store *st, int64_t row, struct err *e)
{
	return st->ops->domain->delete_row(st, row, e);
}

int store_domain_list(struct store *st, int64_t account_id, enum domain_which which,
                      const char *after, int64_t hide_before, size_t limit,
                      int (*fn)(void *arg, const struct domain *d), void *arg, struct err *e)
{
	if (limit == 0)
		return 0;
	return st->ops->domain->list(st, account_id, which, after, hide_before, limit, fn, arg, e);
}

int store_domain_purge(struct store *st, int64_t cutoff, int64_t *deleted, struct err *e)
{
	int64_t n = 0;
	int rc = st->ops->domain->purge(st, cutoff, &n, e);

	if (deleted)
		*deleted = n;
	return rc;
}
