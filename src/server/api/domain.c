/* The Domain area (API.md §5): create-domain, get-pending-domain, get-verification-code,
 * get-provision-status, get-internal-domain and delete-pending-domain; verify-domain, which
 * waits on DNS, lives in domain_verify.c. Writes of one call run in one transaction (with
 * their audit rows); per-item failures are found before anything is written, so a failed
 * item never undoes another. Lists are keyset pages in name order (paginate.h). */
#include "api.h"
#include "domain_item.h"
#include "listcache.h"
#include "paginate.h"

#include "common/buf.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/config.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_domain.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define DAY_MS         86400000LL
#define TOKEN_PREFIX   "mcapi-verify-"
#define TOKEN_BYTES    24    /* 192 random bits: 32 base64url characters */
#define PURGE_EVERY_MS 60000 /* expired pending claims are deleted at most once a minute */

static _Atomic int64_t last_purge_ms;

static void log_store_error(struct request *req, const char *what, int rc, const struct err *e)
{
	api_log_store_error(req, "domain", what, rc, e);
}

/* Removes pending claims past the purge horizon, at most once a minute per process, inside
 * the caller's transaction. Reads hide them anyway; this only keeps the table small. */
static int maybe_purge(struct request *req, int64_t now)
{
	int64_t last = atomic_load(&last_purge_ms);

	if (now - last < PURGE_EVERY_MS ||
	    !atomic_compare_exchange_strong(&last_purge_ms, &last, now))
		return 0;
	return store_domain_purge(req->srv->store, domain_hide_before(req, now), NULL, NULL);
}

static void new_token(char dst[DOMAIN_TOKEN_SIZE])
{
	size_t p = strlen(TOKEN_PREFIX);

	memcpy(dst, TOKEN_PREFIX, p);
	random_token(RND_DOMAIN_TOKEN, TOKEN_BYTES, dst + p, DOMAIN_TOKEN_SIZE - p);
}

/* ---- create-domain ---- */

static int add_item(struct response *res, json_t *item)
{
	if (!item)
		return MC_ERR_NOMEM;
	response_add_data(res, item);
	return 0;
}

/* The nearest ancestor of name internal in some account: 0 with *parent and *owner set,
 * MC_ERR_NOT_FOUND, or a store error. */
static int internal_ancestor(struct store *st, const char *name, const char **parent,
                             int64_t *owner)
{
	int rc;

	for (const char *p = domain_name_parent(name); p; p = domain_name_parent(p)) {
		rc = store_domain_internal_owner(st, p, owner, NULL);
		if (rc == 0) {
			*parent = p;
			return 0;
		}
		if (rc != MC_ERR_NOT_FOUND)
			return rc;
	}
	return MC_ERR_NOT_FOUND;
}

/* §5.2 rules 1-5 for one valid item. */
static int create_one(struct request *req, struct response *res, struct domain_arg *a, int64_t now,
                      struct err *e)
{
	struct store *st = req->srv->store;
	int64_t acct = req->who.account.id, owner = 0;
	int64_t ttl = (int64_t)req->srv->cfg->pending_ttl_days * DAY_MS;
	const char *parent = NULL;
	struct domain d;
	int rc, found;

	rc = store_domain_internal_owner(st, a->name, &owner, e);
	if (rc == 0) {
		domain_fail(res, a->key, E_ALREADY, "domain",
		            owner == acct ? "'%s' is already an internal domain of this account"
		                          : "'%s' is registered by another account",
		            a->name);
		return 0;
	}
	if (rc != MC_ERR_NOT_FOUND)
		return rc;
	rc = internal_ancestor(st, a->name, &parent, &owner);
	if (rc && rc != MC_ERR_NOT_FOUND)
		return rc;
	if (rc == 0 && owner != acct) {
		domain_fail(res, a->key, E_PARENT, "domain",
		            "the parent domain '%s' is managed by another account", parent);
		return 0;
	}
	rc = store_domain_get(st, acct, a->name, &d, e);
	if (rc && rc != MC_ERR_NOT_FOUND)
		return rc;
	found = rc == 0;
	if (parent) {
		/* rule 2: internal at once under this account's internal parent */
		if (!found) {
			memset(&d, 0, sizeof(d));
			d.account_id = acct;
			memcpy(d.name, a->name, strlen(a->name) + 1);
			d.created = now;
		}
		d.state = DOMAIN_INTERNAL;
		d.verified = now;
		d.expiry = 0;
		d.token[0] = '\0';
		memcpy(d.inbound_type, a->inbound, sizeof(d.inbound_type));
		rc = found ? store_domain_update(st, &d, e) : store_domain_create(st, &d, e);
		if (!rc)
			rc = domain_audit(req, now, e, AUDIT_CREATED,
			                  "domain '%s' created as internal under the internal "
			                  "parent '%s'",
			                  d.name, parent);
		return rc ? rc : add_item(res, domain_json_created(req, &d));
	}
	if (found && d.expiry >= now)
		return add_item(res, domain_json_created(req, &d)); /* rule 4: a safe retry */
	if (!found) {
		memset(&d, 0, sizeof(d));
		d.account_id = acct;
		memcpy(d.name, a->name, strlen(a->name) + 1);
		d.state = DOMAIN_PENDING;
	}
	/* rule 5, or an expired claim of this account registered again: a fresh token */
	new_token(d.token);
	d.created = now;
	d.expiry = now + ttl;
	memcpy(d.inbound_type, a->inbound, sizeof(d.inbound_type));
	rc = found ? store_domain_update(st, &d, e) : store_domain_create(st, &d, e);
	if (!rc)
		rc = domain_audit(req, now, e, AUDIT_CREATED,
		                  found ? "domain '%s' registered again after its verification "
		                          "expired; pending verification"
		                        : "domain '%s' registered; pending verification",
		                  d.name);
	return rc ? rc : add_item(res, domain_json_created(req, &d));
}

/* Runs fn for every valid item of a call inside one write transaction (invalid items get
 * their fail entry and are skipped): the shape of create-domain and delete-pending-domain. */
typedef int (*item_fn)(struct request *req, struct response *res, struct domain_arg *a, int64_t now,
                       struct err *e);

static int items_in_tx(struct request *req, struct response *res, const char *op,
                       enum domain_inbound_rule inbound, int id_ok, int purge, item_fn fn)
{
	struct store *st = req->srv->store;
	size_t n = json_array_size(req->data);
	struct domain_arg *args = NULL;
	int64_t now = now_ms();
	struct err e = {0};
	int rc = 0, in_tx = 0;

	if (domain_items_check(req, res, 1))
		return 0;
	args = calloc(n, sizeof(*args));
	if (!args)
		return MC_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		domain_arg_read(json_array_get(req->data, i), inbound, id_ok, &args[i]);
	rc = store_tx_begin(st, &e);
	if (rc)
		goto out;
	in_tx = 1;
	if (purge && (rc = maybe_purge(req, now)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (args[i].code) {
			domain_arg_fail(res, &args[i]);
			continue;
		}
		rc = fn(req, res, &args[i], now, &e);
		if (rc)
			goto out;
	}
	rc = store_tx_commit(st, &e);
	in_tx = 0;
	listcache_invalidate(req->srv->listcache);
out:
	if (in_tx)
		store_tx_rollback(st);
	if (rc)
		log_store_error(req, op, rc, &e);
	for (size_t i = 0; i < n; i++)
		domain_arg_release(&args[i]);
	free(args);
	return rc;
}

int api_domain_create(struct request *req, struct response *res)
{
	return items_in_tx(req, res, "create-domain", INBOUND_REQUIRED, 0, 1, create_one);
}

/* ---- lists: get-pending-domain, get-internal-domain, get-provision-status ---- */

enum shape { SHAPE_PENDING, SHAPE_INTERNAL, SHAPE_STATUS };

struct lister {
	struct request *req;
	struct response *res;
	enum shape shape;
	int64_t now;
	size_t size, count;
	int more;
	char last[DOMAIN_NAME_SIZE];
};

static int lister_add(void *arg, const struct domain *d)
{
	struct lister *l = arg;
	json_t *item;
	struct buf *b;

	if (l->count == l->size) {
		l->more = 1;
		return 1; /* stop: one record past the page says there is a next page */
	}
	if (l->shape == SHAPE_STATUS) {
		if (!(item = domain_json_status(l->req, d, l->now)))
			return MC_ERR_NOMEM;
		response_add_data(l->res, item);
	} else {
		/* Long lists skip the JSON objects: records are written straight out. */
		if (!(b = response_raw_item(l->res)))
			return MC_ERR_NOMEM;
		int rc = l->shape == SHAPE_PENDING ? domain_write_pending(b, l->req, d)
		                                   : domain_write_internal(b, l->req, d);
		if (rc)
			return rc;
	}
	memcpy(l->last, d->name, sizeof(l->last));
	l->count++;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A page of the records named by the filters (each {domain}), in name order after `after`.
 * Invalid filters are reported on the first page only. */
static int list_filtered(struct request *req, struct response *res, struct page *pg,
                         enum domain_which which, const char *after, struct lister *l)
{
	size_t n = json_array_size(pg->filters), k = 0;
	int64_t hide = domain_hide_before(req, l->now);
	struct domain_arg a;
	struct domain d;
	char **names = NULL;
	int rc = 0;

	if (n > DOMAIN_MAX_ITEMS) {
		domain_items_check(req, res, 0);
		return 0;
	}
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names)
		return MC_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		domain_arg_read(json_array_get(pg->filters, i), INBOUND_IGNORED, 0, &a);
		if (a.code) {
			if (!after)
				domain_arg_fail(res, &a);
		} else if ((names[k] = strdup(a.name)) != NULL) {
			k++;
		} else {
			rc = MC_ERR_NOMEM;
		}
		domain_arg_release(&a);
		if (rc)
			goto out;
	}
	qsort(names, k, sizeof(*names), name_cmp);
	for (size_t i = 0; i < k; i++) {
		if ((i > 0 && strcmp(names[i], names[i - 1]) == 0) ||
		    (after && strcmp(names[i], after) <= 0))
			continue;
		rc = store_domain_get(req->srv->store, req->who.account.id, names[i], &d, NULL);
		if (rc == MC_ERR_NOT_FOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		if (domain_is_purged(&d, hide) ||
		    (which == DOMAIN_LIST_PENDING && d.state != DOMAIN_PENDING) ||
		    (which == DOMAIN_LIST_INTERNAL && d.state != DOMAIN_INTERNAL))
			continue;
		rc = lister_add(l, &d);
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc)
			goto out;
	}
out:
	for (size_t i = 0; i < k; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* The cache key of a list call: endpoint, account, and the request's data and meta. */
static int list_key(struct request *req, struct buf *key)
{
	int rc = buf_addf(key, "%s|%lld|", req->path, (long long)req->who.account.id);

	if (!rc)
		rc = json_write(key, req->data);
	if (!rc && req->meta)
		rc = json_write(key, req->meta);
	return rc;
}

static int list_domains_uncached(struct request *req, struct response *res, enum domain_which which,
                                 enum shape shape);

static int list_domains(struct request *req, struct response *res, enum domain_which which,
                        enum shape shape)
{
	struct listcache *lc = req->srv->listcache;
	uint64_t gen = listcache_generation(lc);
	struct buf key;
	char *body = NULL;
	size_t len = 0;
	int rc;

	if (!lc || shape == SHAPE_STATUS) /* statuses depend on the clock: not cached */
		return list_domains_uncached(req, res, which, shape);
	buf_init(&key, 1 << 20);
	if (list_key(req, &key) != 0) {
		buf_release(&key);
		return list_domains_uncached(req, res, which, shape);
	}
	if (listcache_get(lc, key.data, key.len, mono_ms(), &body, &len)) {
		response_set_body(res, body, len);
		buf_release(&key);
		return 0;
	}
	rc = list_domains_uncached(req, res, which, shape);
	if (!rc && (body = response_serialise(res, &len)) != NULL) {
		listcache_put(lc, key.data, key.len, gen, mono_ms(), body, len);
		response_set_body(res, body, len);
	}
	buf_release(&key);
	return rc;
}

static int list_domains_uncached(struct request *req, struct response *res, enum domain_which which,
                                 enum shape shape)
{
	struct lister l;
	struct page pg;
	struct err e = {0};
	const char *after;
	json_t *next = NULL;
	int rc = page_begin(req, res, &pg);

	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	memset(&l, 0, sizeof(l));
	l.req = req;
	l.res = res;
	l.shape = shape;
	l.now = now_ms();
	l.size = (size_t)pg.size;
	after = json_is_string(pg.after) ? json_string_value(pg.after) : NULL;
	if (json_array_size(pg.filters) > 0) {
		rc = list_filtered(req, res, &pg, which, after, &l);
	} else {
		rc = store_domain_list(req->srv->store, req->who.account.id, which, after,
		                       domain_hide_before(req, l.now), l.size + 1, lister_add, &l,
		                       &e);
		if (rc == 1)
			rc = 0;
	}
	if (!rc && l.more && !(next = json_string(l.last)))
		rc = MC_ERR_NOMEM;
	if (!rc)
		rc = page_finish(req, res, &pg, l.count, next, -1);
	if (rc)
		log_store_error(req, "list-domains", rc, &e);
	json_decref(next);
	page_release(&pg);
	return rc;
}

int api_domain_get_pending(struct request *req, struct response *res)
{
	return list_domains(req, res, DOMAIN_LIST_PENDING, SHAPE_PENDING);
}

int api_domain_get_internal(struct request *req, struct response *res)
{
	return list_domains(req, res, DOMAIN_LIST_INTERNAL, SHAPE_INTERNAL);
}

/* Items {domain}: one answer or err_domain_not_found each (no paging); no items: every
 * domain of the account, paginated. */
int api_domain_get_provision_status(struct request *req, struct response *res)
{
	size_t n = json_array_size(req->data);
	int64_t now, hide;
	struct domain_arg a;
	struct domain d;
	int rc = 0;

	if (n == 0)
		return list_domains(req, res, DOMAIN_LIST_ALL, SHAPE_STATUS);
	if (domain_items_check(req, res, 1))
		return 0;
	now = now_ms();
	hide = domain_hide_before(req, now);
	for (size_t i = 0; i < n && !rc; i++) {
		domain_arg_read(json_array_get(req->data, i), INBOUND_IGNORED, 0, &a);
		if (a.code) {
			domain_arg_fail(res, &a);
		} else {
			rc = store_domain_get(req->srv->store, req->who.account.id, a.name, &d,
			                      NULL);
			if (rc == 0 && domain_is_purged(&d, hide))
				rc = MC_ERR_NOT_FOUND;
			if (rc == MC_ERR_NOT_FOUND) {
				rc = 0;
				domain_fail(res, a.key, E_NOT_FOUND, "domain",
				            "'%s' is not a domain of this account", a.name);
			} else if (rc == 0) {
				rc = add_item(res, domain_json_status(req, &d, now));
			}
		}
		domain_arg_release(&a);
	}
	return rc;
}

/* ---- get-verification-code ---- */

int api_domain_get_verification_code(struct request *req, struct response *res)
{
	size_t n = json_array_size(req->data);
	int64_t hide;
	struct domain_arg a;
	struct domain d;
	int rc = 0;

	if (domain_items_check(req, res, 1))
		return 0;
	hide = domain_hide_before(req, now_ms());
	for (size_t i = 0; i < n && !rc; i++) {
		domain_arg_read(json_array_get(req->data, i), INBOUND_IGNORED, 0, &a);
		if (a.code) {
			domain_arg_fail(res, &a);
			domain_arg_release(&a);
			continue;
		}
		rc = store_domain_get(req->srv->store, req->who.account.id, a.name, &d, NULL);
		if (rc == 0 && domain_is_purged(&d, hide))
			rc = MC_ERR_NOT_FOUND;
		if (rc == MC_ERR_NOT_FOUND) {
			rc = 0;
			domain_fail(res, a.key, E_NOT_FOUND, "domain",
			            "'%s' is not a domain of this account", a.name);
		} else if (rc == 0 && d.state == DOMAIN_INTERNAL) {
			domain_fail(res, a.key, E_NOT_PENDING, "domain",
			            "'%s' is verified already; there is no code to publish",
			            a.name);
		} else if (rc == 0) {
			rc = add_item(res,
			              json_pack("{s:s, s:s}", "domain", d.name, "token", d.token));
		}
		domain_arg_release(&a);
	}
	return rc;
}

/* ---- delete-pending-domain ---- */

static int delete_one(struct request *req, struct response *res, struct domain_arg *a, int64_t now,
                      struct err *e)
{
	int64_t hide = domain_hide_before(req, now);
	struct store *st = req->srv->store;
	const char *field = a->id[0] ? "id" : "domain";
	char id[DOMAIN_ID_SIZE];
	struct domain d;
	int64_t row = 0;
	int rc;

	if (a->id[0] && domain_id_decode(req->srv->id_key, a->id, strlen(a->id), &row) != 0)
		rc = MC_ERR_NOT_FOUND;
	else if (a->id[0])
		rc = store_domain_get_by_row(st, req->who.account.id, row, &d, e);
	else
		rc = store_domain_get(st, req->who.account.id, a->name, &d, e);
	if (rc == 0 && domain_is_purged(&d, hide))
		rc = MC_ERR_NOT_FOUND;
	if (rc == MC_ERR_NOT_FOUND) {
		if (a->id[0])
			domain_fail(res, a->key, E_NOT_FOUND, field,
			            "no domain of this account has this id");
		else
			domain_fail(res, a->key, E_NOT_FOUND, field,
			            "'%s' is not a domain of this account", a->name);
		return 0;
	}
	if (rc)
		return rc;
	if (d.state == DOMAIN_INTERNAL) {
		domain_fail(res, a->key, E_NOT_PENDING, field,
		            "'%s' is verified; only pending domains can be deleted", d.name);
		return 0;
	}
	rc = store_domain_delete(st, d.row, e);
	if (!rc)
		rc = domain_audit(req, now, e, AUDIT_DELETED, "pending domain '%s' deleted",
		                  d.name);
	if (!rc) {
		domain_id_of(req, &d, id);
		rc = add_item(res, json_pack("{s:s, s:s, s:b}", "id", id, "domain", d.name,
		                             "deleted", 1));
	}
	return rc;
}

int api_domain_delete_pending(struct request *req, struct response *res)
{
	return items_in_tx(req, res, "delete-pending-domain", INBOUND_IGNORED, 1, 0, delete_one);
}
