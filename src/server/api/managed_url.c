/* Managed URLs (API.md §16.3): /api/ttp/url/create-managed-url, get-all-managed-urls and
 * delete-managed-url. Shapes as the recordings (rapid7 create_managed_url*,
 * get_managed_url*, delete_managed_url*): an entry is shown as its parts (scheme, domain,
 * port -1 for the default, path, queryString), matchType explicit | domain, action block |
 * permit. A second entry with the same parts and match type is refused
 * (err_managed_url_exists_code: "delete and recreate", as the real service says); each
 * change is audited in the transaction that makes it. Clicks read the entries through the
 * click logger (ttp/clicks.h) on their next batch, on every node. */
#include "api.h"
#include "domain_id.h"
#include "paginate.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_urls.h"
#include "server/ttp/urlcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define ITEMS_MAX 100
#define SCAN_MAX  100000 /* entries of one account read by get-all-managed-urls */
#define AUDIT_CAT "account_logs"

#define E_NULL      "err_validation_null"
#define E_BLANK     "err_validation_blank"
#define E_INVALID   "err_validation_invalid_value"
#define E_TOO_MANY  "err_validation_too_many_items"
#define E_EXISTS    "err_managed_url_exists_code"
#define E_NOT_FOUND "err_managed_url_not_found"

static int read_bool(json_t *o, const char *key)
{
	int v = 0;
	return json_get_bool(o, key, &v) == 1 ? v : 0;
}

/* The URL text of an entry, as the audit line and the filter see it. */
static void entry_text(const struct managed_url *u, char *dst, size_t size)
{
	char port[16] = "";

	if (u->port >= 0)
		snprintf(port, sizeof(port), ":%d", (int)u->port);
	snprintf(dst, size, "%s%s%s%s%s%s%s", u->scheme, u->scheme[0] ? "://" : "", u->domain, port,
	         u->path, u->query[0] ? "?" : "", u->query);
}

static json_t *entry_json(const struct request *req, const struct managed_url *u)
{
	char id[DOMAIN_ID_SIZE];

	opaque_id_encode(req->srv->id_key, OPAQUE_MANAGED_URL, u->id, id);
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b}", "id", id,
	                 "scheme", u->scheme, "domain", u->domain, "port", (int)u->port, "path",
	                 u->path, "queryString", u->query, "matchType",
	                 u->match_type == MURL_DOMAIN ? "domain" : "explicit", "action",
	                 u->action == MURL_PERMIT ? "permit" : "block", "comment", u->comment,
	                 "disableUserAwareness", u->disable_user_awareness, "disableRewrite",
	                 u->disable_rewrite, "disableLogClick", u->disable_log_click);
}

/* The fail key of create-managed-url: the request as the service read it (recorded). */
static json_t *create_key(const char *url, const struct managed_url *u)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b}", "url", url, "matchType",
	                 u->match_type == MURL_DOMAIN ? "domain" : "explicit", "action",
	                 u->action == MURL_PERMIT ? "permit" : "block", "overrideUrl", 0,
	                 "disableUserAwareness", u->disable_user_awareness, "disableRewrite",
	                 u->disable_rewrite, "disableLogClick", u->disable_log_click);
}

/* Reads one create item into u; 0, or 1 after a fail entry. */
static int create_read(struct request *req, struct response *res, json_t *item,
                       struct managed_url *u, const char **url)
{
	const char *s = NULL;
	struct url_parts p;
	int got;

	memset(u, 0, sizeof(*u));
	*url = NULL;
	if (!json_is_object(item)) {
		response_fail_item(res, item, E_INVALID, "each item must be an object", NULL, 0);
		return 1;
	}
	got = json_get_string(item, "url", url);
	if (got != 1 || !**url) {
		response_fail_item(res, item, got < 0 ? E_INVALID : E_BLANK,
		                   "This field is required", "url", 0);
		return 1;
	}
	got = json_get_string(item, "action", &s);
	if (got != 1 || (strcasecmp(s, "block") && strcasecmp(s, "permit"))) {
		response_fail_item(res, item, got == 0 ? E_NULL : E_INVALID,
		                   "action must be block or permit", "action", 0);
		return 1;
	}
	u->action = strcasecmp(s, "permit") == 0 ? MURL_PERMIT : MURL_BLOCK;
	got = json_get_string(item, "matchType", &s);
	if (got == 0)
		s = "explicit";
	if (got < 0 || (strcasecmp(s, "explicit") && strcasecmp(s, "domain"))) {
		response_fail_item(res, item, E_INVALID, "matchType must be explicit or domain",
		                   "matchType", 0);
		return 1;
	}
	u->match_type = strcasecmp(s, "domain") == 0 ? MURL_DOMAIN : MURL_EXPLICIT;
	if (url_parse(*url, strlen(*url), 0, &p) != 0) {
		response_fail_item(res, item, E_INVALID, "url is not a valid http(s) URL or domain",
		                   "url", 0);
		return 1;
	}
	if (json_get_string(item, "comment", &s) == 1) {
		if (strlen(s) >= sizeof(u->comment)) {
			response_fail_item(res, item, E_INVALID, "comment is too long", "comment",
			                   0);
			return 1;
		}
		snprintf(u->comment, sizeof(u->comment), "%s", s);
	}
	u->account_id = req->who.account.id;
	memcpy(u->scheme, p.scheme, sizeof(u->scheme));
	memcpy(u->domain, p.host, sizeof(u->domain));
	u->port = p.port;
	if (u->match_type == MURL_EXPLICIT) { /* a domain entry is the domain, nothing else */
		memcpy(u->path, p.path, sizeof(u->path));
		memcpy(u->query, p.query, sizeof(u->query));
	} else {
		u->port = -1;
	}
	u->disable_user_awareness = read_bool(item, "disableUserAwareness");
	u->disable_rewrite = read_bool(item, "disableRewrite");
	u->disable_log_click = read_bool(item, "disableLogClick");
	return 0;
}

int api_ttp_managed_url_create(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	size_t n = json_array_size(req->data);
	struct managed_url *u = malloc(sizeof(*u));
	int64_t now = now_ms();
	struct err e = {0};
	int rc = 0;

	if (!u)
		return MC_ERR_NOMEM;
	if (n > ITEMS_MAX || n == 0) {
		response_fail_item(res, NULL, n ? E_TOO_MANY : E_NULL,
		                   n ? "too many items; nothing was done"
		                     : "'data' needs at least one item",
		                   "data", 0);
		free(u);
		return 0;
	}
	/* each item its own transaction: one duplicate does not undo the others */
	for (size_t i = 0; i < n && !rc; i++) {
		json_t *item = json_array_get(req->data, i), *o;
		const char *url = NULL;
		char text[MURL_DOMAIN_SIZE + MURL_PATH_SIZE + MURL_QUERY_SIZE + 32];

		if (create_read(req, res, item, u, &url))
			continue;
		u->created = now;
		if ((rc = store_tx_begin(st, &e)) != 0)
			break;
		rc = store_murl_create(st, u, &e);
		if (rc == MC_ERR_EXISTS) {
			store_tx_rollback(st);
			rc = 0;
			o = create_key(url, u);
			response_fail_item(
			        res, o, E_EXISTS,
			        "The managed URL already exists; to update it, delete and "
			        "recreate",
			        NULL, 0);
			json_decref(o); /* the fail entry holds its own reference */
			continue;
		}
		entry_text(u, text, sizeof(text));
		if (!rc)
			rc = store_auditf(st, req->who.account.id, req->who.user.email, AUDIT_CAT,
			                  "Managed URL Created", now, &e,
			                  "Managed URL created: %s (%s%s)", text,
			                  u->action == MURL_PERMIT ? "permit" : "block",
			                  u->match_type == MURL_DOMAIN ? ", domain" : "");
		if (!rc)
			rc = store_tx_commit(st, &e);
		if (rc) {
			store_tx_rollback(st);
			break;
		}
		if (!(o = entry_json(req, u))) {
			rc = MC_ERR_NOMEM;
			break;
		}
		response_add_data(res, o);
	}
	if (rc)
		api_log_store_error(req, "managed-url", "create", rc, &e);
	free(u);
	return rc;
}

/* ---- get-all-managed-urls ---- */

struct list_ctx {
	const struct request *req;
	json_t *data;
	const char *filter; /* domainOrUrl, or NULL */
	int exact;
	int64_t after; /* the cursor: entries with a larger id */
	size_t want, got;
	int64_t total, last_id;
	int more, nomem;
};

static int list_cb(void *arg, const struct managed_url *u)
{
	struct list_ctx *c = arg;
	char text[MURL_DOMAIN_SIZE + MURL_PATH_SIZE + MURL_QUERY_SIZE + 32];
	json_t *o;

	if (c->filter) {
		entry_text(u, text, sizeof(text));
		if (c->exact ? strcasecmp(u->domain, c->filter) && strcasecmp(text, c->filter)
		             : !strcasestr(text, c->filter))
			return 0;
	}
	c->total++;
	if (u->id <= c->after)
		return 0;
	if (c->got == c->want) {
		c->more = 1;
		return 0;
	}
	if (!(o = entry_json(c->req, u)) || json_array_append_new(c->data, o)) {
		c->nomem = 1;
		return MC_ERR_NOMEM;
	}
	c->got++;
	c->last_id = u->id;
	return 0;
}

int api_ttp_managed_url_get_all(struct request *req, struct response *res)
{
	struct list_ctx c;
	struct page pg;
	json_t *f, *next = NULL, *v;
	int rc = page_begin(req, res, &pg);

	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	memset(&c, 0, sizeof(c));
	c.req = req;
	c.data = res->data;
	c.want = (size_t)pg.size;
	f = json_array_get(pg.filters, 0);
	if (json_is_object(f)) {
		const char *s = NULL;
		if (json_get_string(f, "domainOrUrl", &s) == 1 && *s)
			c.filter = s;
		c.exact = read_bool(f, "exactMatch");
	}
	if (pg.after) {
		v = json_object_get(pg.after, "i");
		if (!json_is_integer(v)) {
			response_fail_item(res, NULL, E_INVALID,
			                   "the page token is not valid for this call", "pageToken",
			                   0);
			rc = page_finish(req, res, &pg, 0, NULL, -1);
			goto out;
		}
		c.after = json_integer_value(v);
	}
	rc = store_murl_list(req->srv->store, req->who.account.id, 0, SCAN_MAX, list_cb, &c, NULL);
	if (rc)
		goto out;
	if (c.more && !(next = json_pack("{s:I}", "i", (json_int_t)c.last_id))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = page_finish(req, res, &pg, c.got, next, c.total);
out:
	json_decref(next);
	page_release(&pg);
	return rc;
}

/* ---- delete-managed-url ---- */

int api_ttp_managed_url_delete(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	size_t n = json_array_size(req->data);
	int64_t now = now_ms();
	struct err e = {0};
	int rc = 0;

	if (n > ITEMS_MAX || n == 0) {
		response_fail_item(res, NULL, n ? E_TOO_MANY : E_NULL,
		                   n ? "too many items; nothing was done"
		                     : "'data' needs at least one item",
		                   "data", 0);
		return 0;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		json_t *item = json_array_get(req->data, i);
		const char *id = NULL;
		int64_t row = 0;
		int got = json_get_string(item, "id", &id);

		if (got != 1 || !*id) {
			response_fail_item(res, item, got < 0 ? E_INVALID : E_BLANK,
			                   "This field is required", "id", 0);
			continue;
		}
		/* an id that is not ours is as absent as one deleted (as recorded: no key) */
		if (opaque_id_decode(req->srv->id_key, OPAQUE_MANAGED_URL, id, strlen(id), &row) !=
		    0) {
			response_fail_item(res, NULL, E_NOT_FOUND, "Managed URL not found", NULL,
			                   0);
			continue;
		}
		if ((rc = store_tx_begin(st, &e)) != 0)
			break;
		rc = store_murl_delete(st, req->who.account.id, row, &e);
		if (rc == MC_ERR_NOT_FOUND) {
			store_tx_rollback(st);
			rc = 0;
			response_fail_item(res, NULL, E_NOT_FOUND, "Managed URL not found", NULL,
			                   0);
			continue;
		}
		if (!rc)
			rc = store_auditf(st, req->who.account.id, req->who.user.email, AUDIT_CAT,
			                  "Managed URL Deleted", now, &e, "Managed URL deleted: %s",
			                  id);
		if (!rc)
			rc = store_tx_commit(st, &e);
		if (rc)
			store_tx_rollback(st);
	}
	if (rc)
		api_log_store_error(req, "managed-url", "delete", rc, &e);
	return rc;
}
