/* The public URL protection functions of the store (store_urls.h): argument checks here,
 * then a call through the backend's table (store_ops.urls). */
#include "store_int.h"
#include "store_urls_int.h"

#include "common/date.h"
#include "common/err.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int store_murl_create(struct store *st, struct managed_url *u, struct err *e)
{
	if (!terminated(u->scheme, sizeof(u->scheme)) ||
	    !terminated(u->domain, sizeof(u->domain)) || !terminated(u->path, sizeof(u->path)) ||
	    !terminated(u->query, sizeof(u->query)) || !terminated(u->comment, sizeof(u->comment)))
		return err_set(e, MC_ERR_INVALID, "a managed URL field is not terminated");
	if (!u->domain[0] || (u->match_type != MURL_EXPLICIT && u->match_type != MURL_DOMAIN) ||
	    (u->action != MURL_BLOCK && u->action != MURL_PERMIT))
		return err_set(e, MC_ERR_INVALID, "managed URL without a domain, or bad type");
	for (char *s = u->domain; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
	if (!u->created)
		u->created = now_ms();
	return st->ops->urls->murl_create(st, u, e);
}

int store_murl_delete(struct store *st, int64_t account_id, int64_t id, struct err *e)
{
	return st->ops->urls->murl_delete(st, account_id, id, e);
}

int store_murl_list(struct store *st, int64_t account_id, int64_t after_id, size_t limit,
                    int (*fn)(void *arg, const struct managed_url *u), void *arg, struct err *e)
{
	if (limit == 0)
		return 0;
	return st->ops->urls->murl_list(st, account_id, after_id, limit, fn, arg, e);
}

int store_murl_for_host(struct store *st, int64_t account_id, const char *host,
                        int (*fn)(void *arg, const struct managed_url *u), void *arg, struct err *e)
{
	json_t *arr = json_array();
	char *text = NULL;
	int rc = 0;

	for (const char *h = host; arr && h && *h; h = strchr(h, '.') ? strchr(h, '.') + 1 : NULL)
		if (json_array_append_new(arr, json_string(h)))
			rc = MC_ERR_NOMEM;
	if (!arr || rc || !(text = json_dumps(arr, JSON_COMPACT))) {
		json_decref(arr);
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	}
	json_decref(arr);
	rc = st->ops->urls->murl_for_domains(st, account_id, text, fn, arg, e);
	free(text);
	return rc;
}

int store_click_events_add(struct store *st, const struct click_event *ev, int n, struct err *e)
{
	for (int i = 0; i < n; i++)
		if (!ev[i].data || ev[i].data[0] != '{' || ev[i].account_id <= 0)
			return err_set(e, MC_ERR_INVALID,
			               "a click event needs an account and an "
			               "object");
	if (n <= 0)
		return 0;
	return st->ops->urls->click_events_add(st, ev, n, e);
}
