/* The delivery queues (API.md §16.2): gateway/find-processing-messages and
 * email/get-email-queues. Processing messages are the recipients still waiting for delivery
 * (pending, in flight or deferred), one item per recipient, in keyset pages of messages
 * (a message's recipients are never split across pages); the request's searchBy and filterBy
 * follow the public documentation, and filterBy also takes the {attachments, route} objects
 * a real integration sends. get-email-queues counts the recipients still queued (pending or
 * deferred), by route and by hour of receipt (by day past 7 days), over [start, end]. */
#include "api.h"
#include "message.h"
#include "paginate.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/server.h"
#include "server/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define HOUR_MS         3600000LL
#define DAY_MS          (24 * HOUR_MS)
#define PROCESSING_DAYS 7  /* default window of find-processing-messages */
#define QUEUES_MAX_DAYS 90 /* widest get-email-queues range */
#define QUEUES_HOURLY   7  /* days up to which points are hourly */

static int fail(struct response *res, json_t *key, const char *code, const char *field,
                const char *msg)
{
	response_fail_item(res, key, code, msg, field, 0);
	return 1;
}

/* ---- find-processing-messages ---- */

enum pfield { PF_NONE, PF_ALL, PF_FROM, PF_TO, PF_SUBJECT, PF_INFO, PF_REMOTE };

static const struct {
	const char *name;
	enum pfield f;
} pfields[] = {
        {"all", PF_ALL},         {"fromAddress", PF_FROM}, {"toAddress", PF_TO},
        {"subject", PF_SUBJECT}, {"info", PF_INFO},        {"remoteIp", PF_REMOTE},
};

struct processing {
	struct request *req;
	json_t *messages;
	enum pfield field;
	const char *value;
	unsigned routes; /* 0 = any */
	int attachments; /* -1 any, 0 without, 1 with */
};

static int waiting(const struct mail_rcpt *rc)
{
	return rc->state == RCPT_PENDING || rc->state == RCPT_INFLIGHT ||
	       rc->state == RCPT_DEFERRED;
}

static const char *rcpt_text(const struct mail_rcpt *rc)
{
	return rc->last_reply;
}

/* 1 if recipient rc of m passes the search (remote: its delivery host). */
static int rcpt_matches(const struct processing *p, const struct message *m,
                        const struct mail_rcpt *rc, const char *remote)
{
	const char *v = p->value;

	switch (p->field) {
	case PF_ALL:
		return msg_ci_contains(m->env_from, v) || msg_ci_contains(m->from_addr, v) ||
		       msg_ci_contains(rc->addr, v) || msg_ci_contains(m->subject, v) ||
		       msg_ci_contains(rcpt_text(rc), v) || msg_ci_contains(remote, v);
	case PF_FROM:
		return msg_ci_contains(m->env_from, v) || msg_ci_contains(m->from_addr, v);
	case PF_TO:
		return msg_ci_contains(rc->addr, v);
	case PF_SUBJECT:
		return msg_ci_contains(m->subject, v);
	case PF_INFO:
		return msg_ci_contains(rcpt_text(rc), v);
	case PF_REMOTE:
		return msg_ci_contains(remote, v);
	default:
		return 1;
	}
}

/* Calls fn for each recipient of m that is listed; returns how many (or fn's error). */
static int each_listed(struct processing *p, const struct message *m, const struct msg_rcpts *r,
                       int (*fn)(struct processing *, const struct message *,
                                 const struct mail_rcpt *, const char *))
{
	char remote[256];
	int n = 0, rc;

	if (p->routes && !(p->routes & (1u << m->route)))
		return 0;
	if (p->attachments >= 0 && (m->has_attachments != 0) != p->attachments)
		return 0;
	for (int i = 0; i < r->n; i++) {
		if (!waiting(&r->v[i]))
			continue;
		remote[0] = '\0';
		if (p->field == PF_ALL || p->field == PF_REMOTE || fn)
			msg_route_host(p->req, &r->v[i], remote, sizeof(remote));
		if (!rcpt_matches(p, m, &r->v[i], remote))
			continue;
		if (fn && (rc = fn(p, m, &r->v[i], remote)) != 0)
			return rc;
		n++;
	}
	return n;
}

static int processing_items(void *arg, const struct message *m, const struct msg_rcpts *r)
{
	return each_listed(arg, m, r, NULL);
}

static int add_one(struct processing *p, const struct message *m, const struct mail_rcpt *rc,
                   const char *remote)
{
	char id[MSG_ID_SIZE];
	json_t *item;

	msg_rcpt_id_of(p->req, rc->id, id);
	if (!(item = msg_json_processing(m, id, rc, remote)) ||
	    json_array_append_new(p->messages, item) != 0)
		return MC_ERR_NOMEM;
	return 0;
}

static int processing_emit(void *arg, const struct message *m, const struct msg_rcpts *r)
{
	int n = each_listed(arg, m, r, add_one);

	return n < 0 ? n : 0;
}

static int read_route_value(struct response *res, json_t *item, const char *field, const char *v,
                            unsigned *mask)
{
	int r;

	if (strcasecmp(v, "all") == 0)
		*mask |= 7u;
	else if (strcasecmp(v, "external") == 0)
		*mask |= (1u << MAIL_INBOUND) | (1u << MAIL_OUTBOUND);
	else if ((r = msg_route_parse(v)) >= 0)
		*mask |= 1u << r;
	else
		return fail(res, item, MSG_E_INVALID, field,
		            "route must be one of: all, internal, outbound, inbound, external");
	return 0;
}

/* filterBy: [{fieldName: route | attachments, value}] as documented, or [{attachments,
 * route}] as XSOAR sends it. 0, or 1 after a fail entry. */
static int read_filters(struct response *res, json_t *item, struct processing *p)
{
	json_t *fb = json_get_ci(item, "filterBy"), *f, *v;
	const char *name = NULL, *value = NULL;
	size_t i;

	if (!fb)
		return 0;
	if (!json_is_array(fb))
		return fail(res, item, MSG_E_INVALID, "filterBy",
		            "filterBy must be a list of {fieldName, value}");
	json_array_foreach(fb, i, f)
	{
		if (!json_is_object(f))
			return fail(res, item, MSG_E_INVALID, "filterBy",
			            "filterBy must be a list of {fieldName, value}");
		name = value = NULL;
		if (msg_read_string(res, item, f, "fieldName", 64, &name) < 0)
			return 1;
		if (name) {
			v = json_get_ci(f, "value");
			if (strcasecmp(name, "route") == 0) {
				if (msg_read_string(res, item, f, "value", 64, &value) < 0)
					return 1;
				if (value && *value &&
				    read_route_value(res, item, "value", value, &p->routes))
					return 1;
			} else if (strcasecmp(name, "attachments") == 0 ||
			           strcasecmp(name, "attachment") == 0) {
				if (v && json_get_bool(f, "value", &p->attachments) < 0)
					return fail(res, item, MSG_E_INVALID, "value",
					            "attachments must be true or false");
			} else {
				return fail(res, item, MSG_E_INVALID, "fieldName",
				            "filterBy.fieldName must be route or attachments");
			}
			continue;
		}
		if (msg_read_string(res, item, f, "route", 64, &value) < 0)
			return 1;
		if (value && *value && read_route_value(res, item, "route", value, &p->routes))
			return 1;
		if (json_get_ci(f, "attachments") &&
		    json_get_bool(f, "attachments", &p->attachments) < 0)
			return fail(res, item, MSG_E_INVALID, "attachments",
			            "attachments must be true or false");
	}
	if (p->routes == 7u)
		p->routes = 0;
	return 0;
}

static int read_processing(struct response *res, json_t *item, struct processing *p,
                           struct message_query *q, int64_t now)
{
	const char *order = NULL, *name = NULL, *value = NULL, *type = NULL;
	int64_t start = now - PROCESSING_DAYS * DAY_MS, end = now;
	json_t *sb;
	size_t i;

	q->from_time = start;
	q->to_time = end;
	if (!item)
		return 0;
	if (msg_read_date(res, item, "start", &start) < 0 ||
	    msg_read_date(res, item, "end", &end) < 0)
		return 1;
	if (start > end)
		return fail(res, item, MSG_E_INVALID, "end", "end is before start");
	q->from_time = start;
	q->to_time = end;
	if (msg_read_string(res, item, item, "sortOrder", 16, &order) < 0 ||
	    msg_read_string(res, item, item, "type", 64, &type) < 0 ||
	    msg_read_string(res, item, item, "sortBy", 64, &type) < 0)
		return 1;
	if (order && *order) {
		if (strcasecmp(order, "ascending") == 0 || strcasecmp(order, "asc") == 0)
			q->oldest_first = 1;
		else if (strcasecmp(order, "descending") != 0 && strcasecmp(order, "desc") != 0)
			return fail(res, item, MSG_E_INVALID, "sortOrder",
			            "sortOrder must be ascending or descending");
	}
	sb = json_get_ci(item, "searchBy");
	if (sb && !json_is_object(sb))
		return fail(res, item, MSG_E_INVALID, "searchBy",
		            "searchBy must be an object {fieldName, value}");
	if (sb && (msg_read_string(res, item, sb, "fieldName", 64, &name) < 0 ||
	           msg_read_string(res, item, sb, "value", MAIL_SUBJECT_SIZE - 1, &value) < 0))
		return 1;
	if (value && *value) {
		p->field = PF_ALL;
		p->value = value;
		if (name && *name) {
			p->field = PF_NONE;
			for (i = 0; i < sizeof(pfields) / sizeof(pfields[0]); i++)
				if (strcasecmp(name, pfields[i].name) == 0)
					p->field = pfields[i].f;
			if (p->field == PF_NONE)
				return fail(res, item, MSG_E_INVALID, "fieldName",
				            "searchBy.fieldName must be one of: ALL, fromAddress, "
				            "toAddress, subject, info, remoteIp");
		}
	}
	return read_filters(res, item, p);
}

static int read_processing_item(struct response *res, json_t *item, void *arg,
                                struct message_query *q)
{
	return read_processing(res, item, arg, q, now_ms());
}

int api_processing_find(struct request *req, struct response *res)
{
	struct processing p = {.req = req, .attachments = -1};
	struct msg_scan sc = {.q = {.status = -1, .route = -1, .processing_only = 1},
	                      .items = processing_items,
	                      .emit = processing_emit,
	                      .arg = &p};
	const struct msg_list l = {"find-processing-messages", "messages", read_processing_item,
	                           &p.messages};

	return msg_list_run(req, res, &sc, &l);
}

/* ---- get-email-queues ---- */

struct counts {
	int64_t in, out;
};

static int count_cb(void *arg, int route, const char *bucket, int64_t n)
{
	struct counts *c = arg;

	if (strcmp(bucket, "pending") != 0 && strcmp(bucket, "deferred") != 0)
		return 0;
	if (route == MAIL_OUTBOUND)
		c->out += n;
	else
		c->in += n; /* inbound and internal mail both go to the customer's own servers */
	return 0;
}

int api_queues_get(struct request *req, struct response *res)
{
	json_t *item = json_array_get(req->data, 0), *in = NULL, *out = NULL, *p, *wrap;
	int64_t start = 0, end = 0, step, t;
	int hs, he, rc = 0;
	struct err e = {0};

	if (json_array_size(req->data) > 1)
		return fail(res, item, MSG_E_INVALID, NULL, "get-email-queues takes one item"), 0;
	if (!item)
		return fail(res, NULL, MSG_E_NULL, "start", "start and end are required"), 0;
	if ((hs = msg_read_date(res, item, "start", &start)) < 0 ||
	    (he = msg_read_date(res, item, "end", &end)) < 0)
		return 0;
	if (!hs || !he)
		return fail(res, item, MSG_E_NULL, hs ? "end" : "start",
		            hs ? "end is required" : "start is required"),
		       0;
	if (start > end)
		return fail(res, item, MSG_E_INVALID, "end", "end is before start"), 0;
	if (end - start > QUEUES_MAX_DAYS * DAY_MS)
		return fail(res, item, MSG_E_INVALID, "start",
		            "the range may span at most 90 days"),
		       0;
	step = end - start <= QUEUES_HOURLY * DAY_MS ? HOUR_MS : DAY_MS;
	in = json_array();
	out = json_array();
	if (!in || !out) {
		rc = MC_ERR_NOMEM;
		goto done;
	}
	for (t = start - (start % step + step) % step; t <= end; t += step) {
		struct counts c = {0};
		int64_t a = t < start ? start : t, z = t + step - 1 > end ? end : t + step - 1;
		rc = store_mail_queue_counts(req->srv->store, req->who.account.id, a, z, count_cb,
		                             &c, &e);
		if (rc)
			goto done;
		if (!(p = msg_json_queue_point(t, c.in)) || json_array_append_new(in, p) ||
		    !(p = msg_json_queue_point(t, c.out)) || json_array_append_new(out, p)) {
			rc = MC_ERR_NOMEM;
			goto done;
		}
	}
	/* the documented order: outboundEmailQueue first */
	if (!(wrap = json_pack("{s:O, s:O}", "outboundEmailQueue", out, "inboundEmailQueue", in))) {
		rc = MC_ERR_NOMEM;
		goto done;
	}
	response_add_data(res, wrap);
done:
	if (rc)
		api_log_store_error(req, "queues", "get-email-queues", rc, &e);
	json_decref(in);
	json_decref(out);
	return rc;
}
