/* Message tracking (API.md §16.2): message-finder/search and message-finder/get-message-info.
 * A search takes one item {start?, end?, searchReason?, messageId?, advancedTrackAndTraceOptions?
 * {from, to, subject, senderIP, route}} and answers data[0].trackedEmails[], newest first, in
 * keyset pages (meta.pagination always). from and to are an address or a domain, as the
 * public documentation says; route is one route or a list of them. get-message-info answers
 * the real service's structure for each {id}, filled from the stored message, its
 * recipients and the header block of its stored body. */
#include "api.h"
#include "message.h"
#include "paginate.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/config.h"
#include "server/server.h"
#include "server/store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define INFO_ITEMS_MAX 50
#define REASON_MAX     1024

struct search {
	struct request *req;
	json_t *tracked;
	const char *from_domain; /* from/to given as a domain: matched here */
	const char *to_domain;
	unsigned routes; /* several routes: matched here; 0 = any */
};

static int fail(struct response *res, json_t *key, const char *code, const char *field,
                const char *msg)
{
	response_fail_item(res, key, code, msg, field, 0);
	return 1;
}

static int is_address(const char *v)
{
	return v[0] != '@' && strchr(v, '@') != NULL;
}

/* route: "inbound", or ["inbound", "internal"], or "inbound,internal"; "all" or "" = any. */
static int read_routes(const char *s, size_t n, unsigned *mask)
{
	while (n) {
		size_t k = 0;
		char one[16];
		int r;
		while (k < n && s[k] != ',')
			k++;
		size_t a = 0, z = k;
		while (a < z && s[a] == ' ')
			a++;
		while (z > a && s[z - 1] == ' ')
			z--;
		if (z > a) {
			snprintf(one, sizeof(one), "%.*s", (int)(z - a), s + a);
			if (strcasecmp(one, "all") == 0)
				*mask |= 7u;
			else if ((r = msg_route_parse(one)) >= 0)
				*mask |= 1u << r;
			else
				return -1;
		}
		s += k < n ? k + 1 : k;
		n -= k < n ? k + 1 : k;
	}
	return 0;
}

/* advancedTrackAndTraceOptions; 0 or 1 after a fail entry. */
static int read_advanced(struct response *res, json_t *item, json_t *adv, struct search *s,
                         struct message_query *q)
{
	const char *from = NULL, *to = NULL, *subject = NULL, *ip = NULL;
	json_t *route = json_get_ci(adv, "route"), *v;
	size_t i;

	if (msg_read_string(res, item, adv, "from", MAIL_ADDR_SIZE - 1, &from) < 0 ||
	    msg_read_string(res, item, adv, "to", MAIL_ADDR_SIZE - 1, &to) < 0 ||
	    msg_read_string(res, item, adv, "subject", MAIL_SUBJECT_SIZE - 1, &subject) < 0 ||
	    msg_read_string(res, item, adv, "senderIP", sizeof(q->client_ip) - 1, &ip) < 0)
		return 1;
	if (from && *from) {
		if (is_address(from))
			snprintf(q->from, sizeof(q->from), "%s", from);
		else
			s->from_domain = from;
	}
	if (to && *to) {
		if (is_address(to))
			snprintf(q->to, sizeof(q->to), "%s", to);
		else
			s->to_domain = to;
	}
	if (subject)
		snprintf(q->subject, sizeof(q->subject), "%s", subject);
	if (ip)
		snprintf(q->client_ip, sizeof(q->client_ip), "%s", ip);
	if (route) {
		int bad = 0;
		if (json_is_string(route))
			bad = read_routes(json_string_value(route), json_string_length(route),
			                  &s->routes);
		else if (json_is_array(route)) {
			json_array_foreach(route, i, v)
			{
				if (!json_is_string(v) ||
				    read_routes(json_string_value(v), json_string_length(v),
				                &s->routes))
					bad = 1;
			}
		} else {
			bad = 1;
		}
		if (bad)
			return fail(res, item, MSG_E_INVALID, "route",
			            "route must be inbound, outbound, internal or a list of them");
		if (s->routes == 7u)
			s->routes = 0;
		for (int r = 0; r < 3; r++)
			if (s->routes == (1u << r)) { /* one route: the store filters it */
				q->route = r;
				s->routes = 0;
			}
	}
	return 0;
}

static int search_items(void *arg, const struct message *m, const struct msg_rcpts *r)
{
	struct search *s = arg;
	int ok;

	if (s->routes && !(s->routes & (1u << m->route)))
		return 0;
	if (s->from_domain && !msg_addr_match(m->env_from, s->from_domain) &&
	    !msg_addr_match(m->from_addr, s->from_domain))
		return 0;
	if (s->to_domain) {
		ok = 0;
		for (int i = 0; i < r->n && !ok; i++)
			ok = msg_addr_match(r->v[i].addr, s->to_domain);
		if (!ok)
			return 0;
	}
	return 1;
}

static int search_emit(void *arg, const struct message *m, const struct msg_rcpts *r)
{
	struct search *s = arg;
	char id[MSG_ID_SIZE];
	json_t *item;

	msg_id_of(s->req, m->id, id);
	if (!(item = msg_json_tracked(m, id, r)) || json_array_append_new(s->tracked, item) != 0)
		return MC_ERR_NOMEM;
	return 0;
}

/* Reads the search item into s and q; 0, or 1 after a fail entry. */
static int read_search(struct response *res, json_t *item, struct search *s,
                       struct message_query *q)
{
	const char *mid = NULL, *reason = NULL;
	int64_t start = 0, end = 0;
	int hs, he;
	json_t *adv;
	size_t n;

	if (!item)
		return 0;
	if ((hs = msg_read_date(res, item, "start", &start)) < 0 ||
	    (he = msg_read_date(res, item, "end", &end)) < 0)
		return 1;
	if (hs && he && start > end)
		return fail(res, item, MSG_E_INVALID, "end", "end is before start");
	if (hs)
		q->from_time = start;
	if (he)
		q->to_time = end;
	/* searchReason is for the caller's own records (the real service audits it); it is
	 * checked, not stored. */
	if (msg_read_string(res, item, item, "searchReason", REASON_MAX, &reason) < 0 ||
	    msg_read_string(res, item, item, "messageId", MAIL_MSGID_SIZE + 1, &mid) < 0)
		return 1;
	if (mid && *mid) {
		n = strlen(mid);
		if (mid[0] == '<' && n >= 2 && mid[n - 1] == '>') {
			mid++;
			n -= 2;
		}
		if (n >= MAIL_MSGID_SIZE)
			return fail(res, item, MSG_E_INVALID, "messageId", "messageId is too long");
		snprintf(q->msg_id, sizeof(q->msg_id), "%.*s", (int)n, mid);
	}
	adv = json_get_ci(item, "advancedTrackAndTraceOptions");
	if (adv && !json_is_object(adv))
		return fail(res, item, MSG_E_INVALID, "advancedTrackAndTraceOptions",
		            "advancedTrackAndTraceOptions must be an object");
	return adv ? read_advanced(res, item, adv, s, q) : 0;
}

static int read_search_item(struct response *res, json_t *item, void *arg, struct message_query *q)
{
	return read_search(res, item, arg, q);
}

int api_finder_search(struct request *req, struct response *res)
{
	struct search s = {.req = req};
	struct msg_scan sc = {.q = {.status = -1, .route = -1},
	                      .items = search_items,
	                      .emit = search_emit,
	                      .arg = &s};
	const struct msg_list l = {"search", "trackedEmails", read_search_item, &s.tracked};

	return msg_list_run(req, res, &sc, &l);
}

/* ---- get-message-info ---- */

static const char *remote_of(void *arg, const struct mail_rcpt *rc)
{
	static _Thread_local char host[256];

	msg_route_host(arg, rc, host, sizeof(host));
	return host;
}

/* One {id}: adds its data item or fail entry; 0, or a store error. */
static int info_one(struct request *req, struct response *res, json_t *item, int64_t now)
{
	struct msg_rcpts r = {0};
	struct msg_info_ctx c = {0};
	struct message m;
	struct err e = {0};
	unsigned char digest[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1] = "", server[256], msg[128];
	char *body = NULL;
	size_t body_len = 0;
	json_t *v = json_get_ci(item, "id"), *out;
	const char *id;
	int64_t row;
	int rc;

	memset(&m, 0, sizeof(m));
	if (!v)
		return fail(res, item, MSG_E_NULL, "id", "id is required"), 0;
	if (!json_is_string(v))
		return fail(res, item, MSG_E_INVALID, "id", "id must be a string"), 0;
	id = json_string_value(v);
	if (!*id)
		return fail(res, item, MSG_E_BLANK, "id", "id is empty"), 0;
	snprintf(msg, sizeof(msg), "no message has the id '%.40s'", id);
	if (msg_id_read(req, id, strlen(id), &row) != 0)
		return fail(res, item, MSG_E_NO_MSG, "id", msg), 0;
	rc = store_message_get(req->srv->store, req->who.account.id, row, &m, &e);
	if (rc == MC_ERR_NOT_FOUND)
		return fail(res, item, MSG_E_NO_MSG, "id", msg), 0;
	if (rc)
		goto out;
	if ((rc = msg_rcpts_load(req->srv->store, m.id, &r, &e)) != 0)
		goto out;
	if (m.body_id) {
		rc = store_body_get(req->srv->store, m.body_id, &body, &body_len, &e);
		if (rc == MC_ERR_NOT_FOUND) {
			rc = 0; /* collected already: shown without it */
		} else if (rc) {
			goto out;
		} else {
			c.headers = msg_header_block(body, body_len, &c.headers_len);
			crypto_hash_sha256(digest, (const unsigned char *)body, body_len);
			sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
		}
	}
	c.id = id;
	c.m = &m;
	c.r = &r;
	c.body_sha256 = hex;
	c.now = now;
	c.retention_days = req->srv->cfg ? req->srv->cfg->mail_retention_days : 30;
	c.server = msg_server_name(req, server, sizeof(server));
	c.remote = remote_of;
	c.remote_arg = req;
	if (!(out = msg_json_info(&c))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	response_add_data(res, out);
out:
	if (rc)
		api_log_store_error(req, "finder", "get-message-info", rc, &e);
	free(body);
	msg_rcpts_release(&r);
	message_release(&m);
	return rc;
}

int api_finder_get_info(struct request *req, struct response *res)
{
	size_t n = json_array_size(req->data), i;
	int64_t now = now_ms();
	json_t *item;
	int rc;

	if (n == 0)
		return fail(res, NULL, MSG_E_NULL, "id", "'data' needs an item {id}"), 0;
	if (n > INFO_ITEMS_MAX)
		return fail(res, NULL, MSG_E_TOO_MANY, NULL, "at most 50 items per call"), 0;
	json_array_foreach(req->data, i, item)
	{
		if ((rc = info_one(req, res, item, now)) != 0)
			return rc;
	}
	return 0;
}
