/* The public SIEM reads of the store (store_siem.h): argument checks here, then a call
 * through the backend's table (store_ops.siem). */
#include "store_int.h"
#include "store_siem_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define TYPE_MAX 31 /* mail_events.type: 1 to 31 characters */

static int check_type(const char *type, struct err *e)
{
	size_t n = type ? strnlen(type, TYPE_MAX + 1) : 0;

	if (n == 0 || n > TYPE_MAX)
		return err_set(e, MC_ERR_INVALID, "a log type has 1 to %d characters", TYPE_MAX);
	return 0;
}

int store_siem_horizon(struct store *st, int64_t *hi, struct err *e)
{
	*hi = 0;
	return st->ops->siem->horizon(st, hi, e);
}

int store_siem_next(struct store *st, int64_t account_id, const char *type, int64_t pos, int64_t hi,
                    int64_t cutoff, int64_t *next, struct err *e)
{
	int rc = check_type(type, e);

	*next = 0;
	if (rc)
		return rc;
	if (pos >= hi)
		return 0;
	return st->ops->siem->next(st, account_id, type, pos, hi, cutoff, next, e);
}

int store_siem_read(struct store *st, int64_t account_id, const char *type, int64_t pos, int64_t hi,
                    int64_t cutoff, size_t max, int (*fn)(void *arg, const struct siem_event *ev),
                    void *arg, struct err *e)
{
	int rc = check_type(type, e);

	if (rc)
		return rc;
	if (pos >= hi || max == 0)
		return 0;
	if (max > INT32_MAX)
		max = INT32_MAX;
	return st->ops->siem->read(st, account_id, type, pos, hi, cutoff, max, fn, arg, e);
}
