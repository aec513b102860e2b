/* verify-domain (API.md §5.5). The handler reads the items and the store, starts one TXT
 * lookup per item that needs DNS (all at once, through the resolver thread of dns.h) and
 * returns MC_ERR_ASYNC: the connection is suspended and no worker waits. Each lookup's
 * callback, on the resolver thread, only records whether a TXT record equals the token
 * and ends its piece of async work; after the last one, verify_finish runs on a worker and
 * decides every item again inside one transaction (the claim may have changed while DNS
 * was asked): it marks verified domains internal, records lastCheck and writes the audit
 * rows. The partial unique index on internal names makes "first verification wins" hold
 * even when two accounts verify at the same moment. */
#include "api.h"
#include "domain_item.h"
#include "listcache.h"

#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/dns/dns.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_domain.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

struct verify_ctx;

struct verify_item {
	struct verify_ctx *ctx;
	struct domain_arg arg;
	int looked_up;                 /* a lookup was started for it */
	char token[DOMAIN_TOKEN_SIZE]; /* the token the lookup compared against */
	enum dns_status status;        /* written by the resolver thread */
	int matched;                   /* a TXT record equals the token */
};

struct verify_ctx {
	struct request *req;
	size_t n;
	struct verify_item items[];
};

static void verify_ctx_free(void *p)
{
	struct verify_ctx *ctx = p;

	if (!ctx)
		return;
	for (size_t i = 0; i < ctx->n; i++)
		domain_arg_release(&ctx->items[i].arg);
	free(ctx);
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int domain_txt_matches(const char *rec, size_t len, const char *token)
{
	size_t tlen = strlen(token);

	while (len && is_ws(*rec))
		rec++, len--;
	while (len && is_ws(rec[len - 1]))
		len--;
	return len == tlen && memcmp(rec, token, len) == 0;
}

/* Resolver thread: record, then end this piece of async work. */
static void on_txt(void *arg, const struct dns_txt_result *r)
{
	struct verify_item *it = arg;

	it->status = r->status;
	for (size_t i = 0; r->status == DNS_OK && i < r->count && !it->matched; i++)
		it->matched = domain_txt_matches(r->records[i], r->lengths[i], it->token);
	request_async_end(it->ctx->req);
}

/* Records a failed attempt on the claim (if any), audits it and adds the fail entry. */
static int fail_attempt(struct request *req, struct response *res, struct verify_item *it,
                        const struct domain *d, int64_t now, const char *code, const char *msg)
{
	int rc = 0;

	if (d)
		rc = store_domain_set_check(req->srv->store, d->row, now, code, NULL);
	if (!rc)
		rc = domain_audit(req, now, NULL, AUDIT_VERIFY_FAILED,
		                  "verification of domain '%s' failed: %s", it->arg.name, code);
	if (!rc)
		domain_fail(res, it->arg.key, code, "domain", "%s", msg);
	return rc;
}

static int succeed(struct request *req, struct response *res, struct domain *d, int64_t now,
                   const char *how)
{
	json_t *item;
	int rc;

	rc = domain_audit(req, now, NULL, AUDIT_VERIFIED, "domain '%s' %s", d->name, how);
	if (rc)
		return rc;
	item = domain_json_internal(req, d);
	if (!item)
		return MC_ERR_NOMEM;
	response_add_data(res, item);
	return 0;
}

static const char *dns_failure_code(enum dns_status s, int matched)
{
	if (s == DNS_OK && matched)
		return NULL;
	if (s == DNS_OK || s == DNS_NXDOMAIN)
		return E_TXT;
	return E_DNS;
}

/* Decides one valid item inside the transaction. */
static int verify_one(struct request *req, struct response *res, struct verify_item *it,
                      int64_t now)
{
	struct store *st = req->srv->store;
	int64_t acct = req->who.account.id, owner;
	const char *name = it->arg.name, *code;
	struct domain d;
	char msg[DOMAIN_NAME_MAX + 200]; /* a long name's messages are not cut */
	int rc;

	rc = store_domain_get(st, acct, name, &d, NULL);
	if (rc == 0 && domain_is_purged(&d, domain_hide_before(req, now)))
		rc = MC_ERR_NOT_FOUND;
	if (rc == MC_ERR_NOT_FOUND) {
		snprintf(msg, sizeof(msg),
		         "'%s' is not a domain of this account; register it with create-domain",
		         name);
		return fail_attempt(req, res, it, NULL, now, E_NOT_FOUND, msg);
	}
	if (rc)
		return rc;
	if (d.state == DOMAIN_INTERNAL) {
		if (it->arg.inbound[0] && strcmp(it->arg.inbound, d.inbound_type) != 0)
			memcpy(d.inbound_type, it->arg.inbound, sizeof(d.inbound_type));
		d.last_check = now;
		memcpy(d.last_result, "verified", sizeof("verified"));
		rc = store_domain_update(st, &d, NULL);
		return rc ? rc : succeed(req, res, &d, now, "is verified already");
	}
	rc = store_domain_internal_owner(st, name, &owner, NULL);
	if (rc == 0) {
		snprintf(msg, sizeof(msg), "'%s' was verified by another account first", name);
		return fail_attempt(req, res, it, &d, now, E_ALREADY, msg);
	}
	if (rc != MC_ERR_NOT_FOUND)
		return rc;
	if (d.expiry < now) {
		snprintf(msg, sizeof(msg),
		         "the verification period of '%s' has ended; register it again with "
		         "create-domain for a new token",
		         name);
		return fail_attempt(req, res, it, &d, now, E_EXPIRED, msg);
	}
	if (!it->looked_up || strcmp(it->token, d.token) != 0) {
		/* the claim changed while DNS was asked (registered again with a new token) */
		snprintf(msg, sizeof(msg), "no TXT record of '%s' holds its current token; retry",
		         name);
		return fail_attempt(req, res, it, &d, now, E_TXT, msg);
	}
	code = dns_failure_code(it->status, it->matched);
	if (code && strcmp(code, E_TXT) == 0) {
		snprintf(msg, sizeof(msg),
		         it->status == DNS_NXDOMAIN
		                 ? "'%s' does not exist in DNS yet; publish a TXT record with the "
		                   "token and retry"
		                 : "no TXT record of '%s' equals the token; publish it and retry "
		                   "(DNS changes take time to propagate)",
		         name);
		return fail_attempt(req, res, it, &d, now, code, msg);
	}
	if (code) {
		snprintf(msg, sizeof(msg), "the DNS lookup of '%s' failed (%s); retry later", name,
		         dns_status_name(it->status));
		return fail_attempt(req, res, it, &d, now, code, msg);
	}
	d.state = DOMAIN_INTERNAL;
	d.verified = now;
	d.last_check = now;
	memcpy(d.last_result, "verified", sizeof("verified"));
	if (it->arg.inbound[0])
		memcpy(d.inbound_type, it->arg.inbound, sizeof(d.inbound_type));
	rc = store_domain_update(st, &d, NULL);
	if (rc == MC_ERR_EXISTS) {
		/* another account's verification committed between our read and this write */
		snprintf(msg, sizeof(msg), "'%s' was verified by another account first", name);
		struct domain keep = d;
		keep.state = DOMAIN_PENDING;
		keep.verified = 0;
		return fail_attempt(req, res, it, &keep, now, E_ALREADY, msg);
	}
	return rc ? rc : succeed(req, res, &d, now, "verified by its TXT record");
}

static int verify_finish(struct request *req, struct response *res)
{
	struct verify_ctx *ctx = req->async_ctx;
	struct store *st = req->srv->store;
	int64_t now = now_ms();
	struct err e = {0};
	int rc, in_tx = 0;

	rc = store_tx_begin(st, &e);
	if (rc)
		goto out;
	in_tx = 1;
	for (size_t i = 0; i < ctx->n; i++) {
		struct verify_item *it = &ctx->items[i];
		if (it->arg.code) {
			domain_arg_fail(res, &it->arg);
			continue;
		}
		rc = verify_one(req, res, it, now);
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
		api_log_store_error(req, "domain", "verify-domain", rc, &e);
	return rc;
}

/* Whether item it needs DNS: a pending, unexpired claim of this account on a name that is
 * internal nowhere. Copies the token to compare. */
static int needs_lookup(struct request *req, struct verify_item *it, int64_t now, int *need)
{
	struct store *st = req->srv->store;
	struct domain d;
	int64_t owner;
	int rc;

	*need = 0;
	rc = store_domain_get(st, req->who.account.id, it->arg.name, &d, NULL);
	if (rc == MC_ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc;
	if (d.state != DOMAIN_PENDING || d.expiry < now)
		return 0;
	rc = store_domain_internal_owner(st, it->arg.name, &owner, NULL);
	if (rc == 0)
		return 0;
	if (rc != MC_ERR_NOT_FOUND)
		return rc;
	memcpy(it->token, d.token, sizeof(it->token));
	*need = 1;
	return 0;
}

int api_domain_verify(struct request *req, struct response *res)
{
	size_t n = json_array_size(req->data), lookups = 0;
	struct verify_ctx *ctx;
	int64_t now = now_ms();
	int rc, need;

	if (domain_items_check(req, res, 1))
		return 0;
	ctx = calloc(1, sizeof(*ctx) + n * sizeof(ctx->items[0]));
	if (!ctx)
		return MC_ERR_NOMEM;
	ctx->req = req;
	ctx->n = n;
	req->async_ctx = ctx;
	req->async_free = verify_ctx_free;
	for (size_t i = 0; i < n; i++) {
		struct verify_item *it = &ctx->items[i];
		it->ctx = ctx;
		domain_arg_read(json_array_get(req->data, i), INBOUND_OPTIONAL, 0, &it->arg);
		if (it->arg.code)
			continue;
		rc = needs_lookup(req, it, now, &need);
		if (rc)
			return rc;
		it->looked_up = need;
		lookups += (size_t)need;
	}
	if (lookups == 0)
		return verify_finish(req, res);
	request_go_async(req, verify_finish);
	for (size_t i = 0; i < n; i++) {
		struct verify_item *it = &ctx->items[i];
		if (!it->looked_up)
			continue;
		it->status = DNS_ERROR;
		request_async_begin(req);
		if (!req->srv->dns ||
		    dns_txt_lookup(req->srv->dns, it->arg.name, on_txt, it) != 0) {
			/* not started: the callback will not come */
			it->status = DNS_ERROR;
			request_async_end(req);
		}
	}
	return MC_ERR_ASYNC;
}
