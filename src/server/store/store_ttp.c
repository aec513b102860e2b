/* The public TTP/DLP log query of the store (store_ttp.h): argument checks here, and the
 * window narrowed to the cursor (so the backends' range on the (account, type, at, id)
 * index starts where the page does), then a call through the backend's table. */
#include "store_int.h"
#include "store_ttp_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

static int plain_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TTP_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

int store_ttp_log_query(struct store *st, const struct ttp_log_query *q,
                        int (*fn)(void *arg, const struct ttp_log_row *r), void *arg, struct err *e)
{
	struct ttp_log_query n = *q;

	if (!q->type || !*q->type || strlen(q->type) > 31)
		return err_set(e, MC_ERR_INVALID, "a log query needs an event type");
	if (q->from > q->to)
		return err_set(e, MC_ERR_INVALID, "the window ends before it starts");
	if ((q->result_key && (!plain_name(q->result_key) || !q->result)) ||
	    (q->result && strlen(q->result) > TTP_VALUE_MAX) ||
	    (q->route && strlen(q->route) > TTP_VALUE_MAX))
		return err_set(e, MC_ERR_INVALID, "a log filter is not valid");
	if (!q->result_key)
		n.result = NULL;
	if (q->limit == 0)
		return 0;
	if (q->has_cursor) {
		if (q->oldest_first && q->cursor_at > n.from)
			n.from = q->cursor_at;
		if (!q->oldest_first && q->cursor_at < n.to)
			n.to = q->cursor_at;
		if (n.from > n.to)
			return 0; /* the cursor is past the window */
	}
	return st->ops->ttp->log_query(st, &n, fn, arg, e);
}
