/* The hold queue (API.md §16.1): get-hold-message-list, get-hold-summary-list, hold-release
 * and hold-reject. The list is a keyset page of held messages, newest first, one item per
 * message (the recipient shown is its first held one); "admin": false limits it to messages
 * held for the caller's own address, as the public documentation says. Release and reject
 * run every item of a call in one transaction: each state change is written with its event
 * and its audit row, and an id that is unknown or no longer held gets a function-level
 * failure without undoing the others. A release wakes the delivery workers once the
 * transaction is committed. A reject with notify records the wish in its event; the notice
 * itself is sent by the mail side (docs/messages.md). */
#include "api.h"
#include "message.h"
#include "paginate.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/delivery/delivery.h"
#include "server/server.h"
#include "server/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define ITEMS_MAX      50  /* items of a release or reject call */
#define IDS_MAX        100 /* ids of one reject item */
#define REJECT_MSG_MAX 1024
#define AUDIT_CAT      "account_logs"

enum search_field { SF_NONE, SF_ALL, SF_SUBJECT, SF_SENDER, SF_RECIPIENT, SF_REASON };

static const struct {
	const char *name;
	enum search_field f;
} search_fields[] = {
        {"all", SF_ALL},
        {"subject", SF_SUBJECT},
        {"sender", SF_SENDER},
        {"recipient", SF_RECIPIENT},
        {"reason_code", SF_REASON},
};

struct hold_list {
	struct request *req;
	struct response *res;
	enum search_field field;
	const char *value;
	unsigned routes; /* bit per enum mail_route allowed; 0 = all */
	int none;        /* a heldGroup no hold of ours belongs to */
	const char *own; /* admin false: the caller's address, shown as the recipient */
};

static int fail(struct response *res, json_t *key, const char *code, const char *field,
                const char *msg)
{
	response_fail_item(res, key, code, msg, field, 0);
	return 1;
}

/* route filter values: all | internal | outbound | inbound | external (= in or out). */
static int route_mask(const char *v, unsigned *mask)
{
	int r;

	if (strcasecmp(v, "all") == 0)
		*mask |= 7u;
	else if (strcasecmp(v, "external") == 0)
		*mask |= (1u << MAIL_INBOUND) | (1u << MAIL_OUTBOUND);
	else if ((r = msg_route_parse(v)) >= 0)
		*mask |= 1u << r;
	else
		return -1;
	return 0;
}

/* searchBy {fieldName, value} and filterBy [{fieldName, value}]; 0 or 1 after a fail entry. */
static int read_search(struct response *res, json_t *item, struct hold_list *l,
                       struct message_query *q)
{
	json_t *sb = json_get_ci(item, "searchBy"), *fb = json_get_ci(item, "filterBy"), *f;
	const char *name = NULL, *value = NULL;
	size_t i;

	if (sb && !json_is_object(sb))
		return fail(res, item, MSG_E_INVALID, "searchBy",
		            "searchBy must be an object {fieldName, value}");
	if (sb) {
		if (msg_read_string(res, item, sb, "fieldName", 64, &name) < 0 ||
		    msg_read_string(res, item, sb, "value", MAIL_SUBJECT_SIZE - 1, &value) < 0)
			return 1;
		if (value && *value) {
			l->field = SF_ALL;
			l->value = value;
			if (name && *name) {
				l->field = SF_NONE;
				for (i = 0; i < sizeof(search_fields) / sizeof(search_fields[0]);
				     i++)
					if (strcasecmp(name, search_fields[i].name) == 0)
						l->field = search_fields[i].f;
				if (l->field == SF_NONE)
					return fail(
					        res, item, MSG_E_INVALID, "fieldName",
					        "searchBy.fieldName must be one of: all, subject, "
					        "sender, recipient, reason_code");
			}
			if (l->field == SF_SUBJECT) { /* the store matches substrings of subjects */
				snprintf(q->subject, sizeof(q->subject), "%s", value);
				l->field = SF_NONE;
			}
		}
	}
	if (fb && !json_is_array(fb))
		return fail(res, item, MSG_E_INVALID, "filterBy",
		            "filterBy must be a list of {fieldName, value}");
	json_array_foreach(fb, i, f)
	{
		name = value = NULL;
		if (!json_is_object(f) ||
		    msg_read_string(res, item, f, "fieldName", 64, &name) < 0 ||
		    msg_read_string(res, item, f, "value", 64, &value) < 0)
			return json_is_object(f)
			               ? 1
			               : fail(res, item, MSG_E_INVALID, "filterBy",
			                      "filterBy must be a list of {fieldName, value}");
		if (!name || !value || !*value)
			continue;
		if (strcasecmp(name, "route") == 0) {
			if (route_mask(value, &l->routes) != 0)
				return fail(
				        res, item, MSG_E_INVALID, "value",
				        "route must be one of: all, internal, outbound, inbound, "
				        "external");
		} else if (strcasecmp(name, "heldGroup") == 0) {
			/* Every hold here is placed by a policy for administrators. */
			if (strcasecmp(value, "administrator") != 0 &&
			    strcasecmp(value, "all") != 0)
				l->none = 1;
		} else {
			return fail(res, item, MSG_E_INVALID, "fieldName",
			            "filterBy.fieldName must be route or heldGroup");
		}
	}
	return 0;
}

static int any_rcpt_contains(const struct msg_rcpts *r, const char *v)
{
	for (int i = 0; i < r->n; i++)
		if (msg_ci_contains(r->v[i].addr, v))
			return 1;
	return 0;
}

static int reason_contains(const struct message *m, const char *v)
{
	char text[MAIL_REASON_SIZE + 32];

	msg_reason_text(m->hold_reason_id, text, sizeof(text));
	return msg_ci_contains(m->hold_reason_id, v) || msg_ci_contains(text, v) ||
	       msg_ci_contains(m->hold_reason, v);
}

static int held_items(void *arg, const struct message *m, const struct msg_rcpts *r)
{
	struct hold_list *l = arg;
	const char *v = l->value;

	if (l->none || (l->routes && !(l->routes & (1u << m->route))))
		return 0;
	switch (l->field) {
	case SF_ALL:
		return msg_ci_contains(m->subject, v) || msg_ci_contains(m->env_from, v) ||
		       msg_ci_contains(m->from_addr, v) || msg_ci_contains(m->from_name, v) ||
		       any_rcpt_contains(r, v) || reason_contains(m, v);
	case SF_SENDER:
		return msg_ci_contains(m->env_from, v) || msg_ci_contains(m->from_addr, v) ||
		       msg_ci_contains(m->from_name, v);
	case SF_RECIPIENT:
		return any_rcpt_contains(r, v);
	case SF_REASON:
		return reason_contains(m, v);
	default:
		return 1;
	}
}

static int held_emit(void *arg, const struct message *m, const struct msg_rcpts *r)
{
	struct hold_list *l = arg;
	char id[MSG_ID_SIZE];
	const char *to = r->n ? r->v[0].addr : "";
	json_t *item;

	for (int i = 0; i < r->n; i++)
		if (r->v[i].state == RCPT_HELD) {
			to = r->v[i].addr;
			break;
		}
	for (int i = 0; l->own && i < r->n; i++)
		if (strcasecmp(r->v[i].addr, l->own) == 0) {
			to = r->v[i].addr;
			break;
		}
	msg_id_of(l->req, m->id, id);
	if (!(item = msg_json_held(m, id, to)))
		return MC_ERR_NOMEM;
	response_add_data(l->res, item);
	return 0;
}

int api_hold_list(struct request *req, struct response *res)
{
	struct hold_list l = {.req = req, .res = res};
	struct msg_scan s = {0};
	struct page pg;
	struct err e = {0};
	json_t *item = NULL, *next = NULL;
	int64_t after_t = 0, after_i = 0, start = 0, end = 0;
	int admin = 0, rc, hs = 0, he = 0;

	rc = page_begin(req, res, &pg);
	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	s.st = req->srv->store;
	s.q.account_id = req->who.account.id;
	s.q.status = -1;
	s.q.route = -1;
	s.q.held_only = 1;
	if (msg_one_item(res, pg.filters, "get-hold-message-list", &item) != 0)
		goto invalid;
	if (item) {
		if (json_get_bool(item, "admin", &admin) < 0) {
			fail(res, item, MSG_E_INVALID, "admin", "admin must be true or false");
			goto invalid;
		}
		if ((hs = msg_read_date(res, item, "start", &start)) < 0 ||
		    (he = msg_read_date(res, item, "end", &end)) < 0)
			goto invalid;
		if (hs && he && start > end) {
			fail(res, item, MSG_E_INVALID, "end", "end is before start");
			goto invalid;
		}
		if (read_search(res, item, &l, &s.q) != 0)
			goto invalid;
	}
	if (hs)
		s.q.from_time = start;
	if (he)
		s.q.to_time = end;
	if (!admin) { /* only what is held for the caller (the documented default) */
		snprintf(s.q.to, sizeof(s.q.to), "%s", req->who.user.email);
		l.own = req->who.user.email;
	}
	if (pg.after && msg_cursor_read(pg.after, &after_t, &after_i) != 0) {
		fail(res, NULL, MSG_E_INVALID, "pageToken",
		     "the page token is not valid for this call");
		goto invalid;
	}
	s.want = pg.size;
	s.items = held_items;
	s.emit = held_emit;
	s.arg = &l;
	rc = msg_scan_run(&s, after_t, after_i, &e);
	if (rc)
		goto out;
	if (s.more && !(next = msg_cursor_json(s.last_t, s.last_i))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = page_finish(req, res, &pg, (size_t)s.got, next, -1);
	goto out;
invalid:
	rc = page_finish(req, res, &pg, 0, NULL, -1); /* §8: pagination even then */
out:
	if (rc && rc != MC_ERR_NOMEM)
		api_log_store_error(req, "hold", "list", rc, &e);
	json_decref(next);
	page_release(&pg);
	return rc;
}

/* ---- get-hold-summary-list ---- */

static int summary_cb(void *arg, const char *reason, int64_t count)
{
	json_t *item = msg_json_summary(reason, count);

	if (!item)
		return MC_ERR_NOMEM;
	response_add_data(arg, item);
	return 0;
}

int api_hold_summary(struct request *req, struct response *res)
{
	return store_hold_summary(req->srv->store, req->who.account.id, summary_cb, res, NULL);
}

/* ---- hold-release, hold-reject ---- */

static const char *state_word(int32_t status)
{
	switch (status) {
	case MSG_RELEASED:
		return "released";
	case MSG_REJECTED:
		return "rejected";
	case MSG_DELIVERED:
		return "delivered";
	case MSG_BOUNCED:
		return "bounced";
	case MSG_DISCARDED:
		return "discarded";
	case MSG_HELD:
		return "held";
	default:
		return "being processed";
	}
}

/* src with bytes outside printable ASCII as '?', for audit texts. */
static const char *printable(const char *src, char *dst, size_t size)
{
	size_t n = 0;

	for (; src[n] && n + 1 < size; n++)
		dst[n] = (src[n] >= 0x20 && src[n] < 0x7f) ? src[n] : '?';
	dst[n] = '\0';
	return dst;
}

/* The reasonType values of the public documentation. */
static const char *const reject_types[] = {
        "MESSAGE CONTAINS UNDESIRABLE CONTENT", "MESSAGE CONTAINS CONFIDENTIAL INFORMATION",
        "REVIEWER DISAPPROVES OF CONTENT",      "INAPPROPRIATE COMMUNICATION",
        "MESSAGE GOES AGAINST EMAIL POLICIES",
};

struct action {
	int release;             /* 1 release, 0 reject */
	const char *reason_type; /* reject: canonical reasonType or NULL */
	const char *message;     /* reject: text for the sender or NULL */
	int notify;
};

/* "MESSAGE CONTAINS UNDESIRABLE CONTENT" → "Message contains undesirable content". */
static void sentence(const char *s, char *dst, size_t size)
{
	size_t n = 0;

	for (; s[n] && n + 1 < size; n++)
		dst[n] = (n > 0 && s[n] >= 'A' && s[n] <= 'Z') ? (char)(s[n] - 'A' + 'a') : s[n];
	dst[n] = '\0';
}

/* The event of a release or reject (a heldReleaseLogs record in the making). */
static char *action_event(struct request *req, const struct message *m, const char *id,
                          const struct action *a, int64_t now)
{
	char when[DATE_ISO_LEN], reason[128];
	json_t *j;
	char *s;

	date_format_iso(now, when);
	j = json_pack("{s:s, s:o, s:s, s:s, s:o, s:s}", "id", id, "operator",
	              msg_jstr(req->who.user.email), "status", a->release ? "released" : "rejected",
	              a->release ? "released" : "rejected", when, "heldReason",
	              msg_jstr(m->hold_reason), "route", msg_route_lower(m->route));
	if (j && !a->release) {
		sentence(a->reason_type ? a->reason_type : "", reason, sizeof(reason));
		if (json_object_set_new(j, "rejectReason", json_string(reason)) ||
		    json_object_set_new(j, "rejectType",
		                        json_string(a->reason_type ? a->reason_type : "")) ||
		    json_object_set_new(j, "rejectMessage",
		                        msg_jstr(a->message ? a->message : "")) ||
		    json_object_set_new(j, "notify", json_boolean(a->notify && m->env_from[0])) ||
		    json_object_set_new(j, "notifyAddress", msg_jstr(m->env_from))) {
			json_decref(j);
			return NULL;
		}
	}
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

/* Releases or rejects one message inside the caller's transaction: 0 with *done set when it
 * was done, 0 after a fail entry when it could not be, or a store error. */
static int act_one(struct request *req, struct response *res, json_t *key, const char *field,
                   const char *id, const struct action *a, int64_t now, int *done, struct err *e)
{
	struct store *st = req->srv->store;
	struct message m;
	struct mail_event ev = {0};
	char msg[200], from[MAIL_ADDR_SIZE], mid[MAIL_MSGID_SIZE], pol[MAIL_REASON_SIZE];
	char *data = NULL;
	int64_t row;
	int rc = 0;

	*done = 0;
	memset(&m, 0, sizeof(m));
	if (msg_id_read(req, id, strlen(id), &row) != 0 ||
	    (rc = store_message_get(st, req->who.account.id, row, &m, e)) == MC_ERR_NOT_FOUND) {
		snprintf(msg, sizeof(msg), "no held message has the id '%.40s'", id);
		fail(res, key, MSG_E_NOT_FOUND, field, msg);
		return 0;
	}
	if (rc)
		return rc;
	if (!(data = action_event(req, &m, id, a, now))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	ev.type = "release";
	ev.data = data;
	rc = a->release ? store_message_release_hold(st, req->who.account.id, row, now, &ev, e)
	                : store_message_reject_hold(st, req->who.account.id, row, now, &ev, e);
	if (rc == MC_ERR_NOT_FOUND || rc == MC_ERR_STATE) {
		if (rc == MC_ERR_STATE)
			snprintf(msg, sizeof(msg), "message '%.40s' is not held: it was %s", id,
			         state_word(m.status));
		else
			snprintf(msg, sizeof(msg), "no held message has the id '%.40s'", id);
		fail(res, key, rc == MC_ERR_STATE ? MSG_E_NOT_HELD : MSG_E_NOT_FOUND, field, msg);
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	printable(m.env_from[0] ? m.env_from : "<>", from, sizeof(from));
	printable(m.msg_id, mid, sizeof(mid));
	printable(m.hold_reason, pol, sizeof(pol));
	if (a->release)
		rc = api_auditf(req, req->who.account.id, req->who.user.email, AUDIT_CAT,
		                "Held Message Released", now, NULL, e,
		                "Released Held Message - Id: %s, Message-ID: <%s>, From: %s, Held "
		                "Reason: %s",
		                id, mid, from, pol);
	else
		rc = api_auditf(req, req->who.account.id, req->who.user.email, AUDIT_CAT,
		                "Held Message Rejected", now, NULL, e,
		                "Rejected Held Message - Id: %s, Message-ID: <%s>, From: %s, Held "
		                "Reason: %s, "
		                "Reject Reason: %s, Sender Notified: %s",
		                id, mid, from, pol, a->reason_type ? a->reason_type : "None",
		                a->notify && m.env_from[0] ? "True" : "False");
	if (rc)
		goto out;
	*done = 1;
out:
	free(data);
	message_release(&m);
	return rc;
}

static int data_item(struct response *res, const char *id, const char *what)
{
	json_t *item = json_pack("{s:s, s:b}", "id", id, what, 1);

	if (!item)
		return MC_ERR_NOMEM;
	response_add_data(res, item);
	return 0;
}

/* 0 when the number of items is right, 1 after the one call-wide fail entry. */
static int check_items(struct request *req, struct response *res)
{
	size_t n = json_array_size(req->data);
	char msg[96];

	if (n > ITEMS_MAX) {
		snprintf(msg, sizeof(msg), "at most %d items per call, %zu given; nothing was done",
		         ITEMS_MAX, n);
		return fail(res, NULL, MSG_E_TOO_MANY, NULL, msg);
	}
	if (n == 0)
		return fail(res, NULL, MSG_E_NULL, "data", "'data' needs at least one item");
	return 0;
}

/* A required string id member: its value, or NULL after a fail entry. */
static const char *read_id(struct response *res, json_t *item, json_t *v, const char *field)
{
	if (!v)
		fail(res, item, MSG_E_NULL, field, "id is required");
	else if (!json_is_string(v))
		fail(res, item, MSG_E_INVALID, field, "id must be a string");
	else if (json_string_length(v) == 0)
		fail(res, item, MSG_E_BLANK, field, "id is empty");
	else
		return json_string_value(v);
	return NULL;
}

static void log_store_error(struct request *req, const char *op, int rc, const struct err *e)
{
	api_log_store_error(req, "hold", op, rc, e);
}

static void wake_delivery(struct request *req)
{
	if (req->srv->delivery)
		delivery_kick(req->srv->delivery);
}

int api_hold_release(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	struct action a = {.release = 1};
	struct err e = {0};
	int64_t now = now_ms();
	int rc, done, released = 0;
	size_t i;
	json_t *item;

	if (check_items(req, res))
		return 0;
	if ((rc = store_tx_begin(st, &e)) != 0)
		goto out;
	json_array_foreach(req->data, i, item)
	{
		const char *id = read_id(res, item, json_get_ci(item, "id"), "id");
		if (!id)
			continue;
		if ((rc = act_one(req, res, item, "id", id, &a, now, &done, &e)) != 0)
			break;
		if (done && (rc = data_item(res, id, "release")) != 0)
			break;
		released += done;
	}
	if (rc) {
		store_tx_rollback(st);
		goto out;
	}
	if ((rc = store_tx_commit(st, &e)) != 0)
		goto out;
	if (released)
		wake_delivery(req);
out:
	if (rc)
		log_store_error(req, "release", rc, &e);
	return rc;
}

/* Reads the options of one reject item into a; 0, or 1 after its fail entry. */
static int read_reject(struct response *res, json_t *item, struct action *a, json_t **ids)
{
	const char *type = NULL;
	json_t *v;
	size_t i;
	int n;

	memset(a, 0, sizeof(*a));
	*ids = json_get_ci(item, "ids");
	if (!*ids)
		return fail(res, item, MSG_E_NULL, "ids", "ids is required");
	if (!json_is_array(*ids))
		return fail(res, item, MSG_E_INVALID, "ids", "ids must be a list of message ids");
	if (json_array_size(*ids) == 0)
		return fail(res, item, MSG_E_BLANK, "ids", "ids is empty");
	if (json_array_size(*ids) > IDS_MAX)
		return fail(res, item, MSG_E_TOO_MANY, "ids", "at most 100 ids per item");
	json_array_foreach(*ids, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) == 0)
			return fail(res, item, MSG_E_INVALID, "ids",
			            "ids must be a list of message ids (strings)");
	}
	if (msg_read_string(res, item, item, "message", REJECT_MSG_MAX, &a->message) < 0 ||
	    msg_read_string(res, item, item, "reasonType", 128, &type) < 0)
		return 1;
	if (type && *type) {
		for (i = 0; i < sizeof(reject_types) / sizeof(reject_types[0]); i++)
			if (strcasecmp(type, reject_types[i]) == 0)
				a->reason_type = reject_types[i];
		if (!a->reason_type)
			return fail(
			        res, item, MSG_E_INVALID, "reasonType",
			        "reasonType must be one of: MESSAGE CONTAINS UNDESIRABLE CONTENT, "
			        "MESSAGE CONTAINS CONFIDENTIAL INFORMATION, REVIEWER DISAPPROVES "
			        "OF "
			        "CONTENT, INAPPROPRIATE COMMUNICATION, MESSAGE GOES AGAINST EMAIL "
			        "POLICIES");
	}
	if ((n = json_get_bool(item, "notify", &a->notify)) < 0)
		return fail(res, item, MSG_E_INVALID, "notify", "notify must be true or false");
	if (n == 0)
		a->notify = 0;
	return 0;
}

int api_hold_reject(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	struct action a;
	struct err e = {0};
	int64_t now = now_ms();
	int rc, done;
	size_t i, k;
	json_t *item, *ids, *v;

	if (check_items(req, res))
		return 0;
	if ((rc = store_tx_begin(st, &e)) != 0)
		goto out;
	json_array_foreach(req->data, i, item)
	{
		if (read_reject(res, item, &a, &ids) != 0)
			continue;
		json_array_foreach(ids, k, v)
		{
			const char *id = json_string_value(v);
			if ((rc = act_one(req, res, item, "ids", id, &a, now, &done, &e)) != 0)
				goto end;
			if (done && (rc = data_item(res, id, "reject")) != 0)
				goto end;
		}
	}
end:
	if (rc) {
		store_tx_rollback(st);
		goto out;
	}
	rc = store_tx_commit(st, &e);
out:
	if (rc)
		log_store_error(req, "reject", rc, &e);
	return rc;
}
