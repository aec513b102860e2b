/* The TTP and DLP logs (API.md §14.2): ttp/url/get-logs (data[0].clickLogs[]),
 * ttp/attachment/get-logs (attachmentLogs[]), ttp/impersonation/get-logs
 * (impersonationLogs[] and resultCount) and dlp/get-logs (dlpLogs[]). Each reads the events
 * one check wrote (SIEM types ttp_url, ttp_ap, ttp_ip, dlp; store_ttp.h) and shows them in
 * the shape of the real service's records (the fixtures named in docs/logs.md): the
 * same keys, JSON types and date format. Attachment, impersonation and DLP events are
 * written once per message and shown once per recipient, as the real logs are; a click is
 * one recipient's already. One item {from?, to?, oldestFirst?, route?, scanResult? /
 * result?}; keyset pages on (time, event, recipient) whose token carries the filters with
 * the dates resolved, so a collector that sends only the token (Elastic's httpjson input
 * does) pages the same window. */
#include "api.h"
#include "message.h"
#include "paginate.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/api/domain_id.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_ttp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define DAY_MS 86400000LL

/* One log endpoint: which events, how they are filtered and shown. */
struct kind {
	const char *fn;          /* the function's name in messages */
	const char *type;        /* the event type */
	const char *list;        /* the key of data[0] holding the records */
	const char *result_key;  /* the event key the result filter reads, or NULL */
	const char *result_safe; /* the event's value for "clean" */
	int per_recipient;
	int result_count; /* data[0].resultCount (impersonation) */
	json_t *(*record)(const struct request *req, const struct ttp_log_row *r, json_t *d,
	                  json_t *users);
};

/* ---- the event's data ---- */

static const char *s_of(json_t *d, const char *key)
{
	const char *s = json_string_value(json_object_get(d, key));
	return s ? s : "";
}

static const char *route_lower(const char *route)
{
	if (!strcasecmp(route, "outbound"))
		return "outbound";
	if (!strcasecmp(route, "internal"))
		return "internal";
	return "inbound";
}

/* "<id>" as the real records show a Message-ID; the store keeps it without brackets. */
static json_t *msgid_of(json_t *d)
{
	const char *id = s_of(d, "MsgId");
	char buf[1024];

	if (!*id || id[0] == '<')
		return msg_jstr(id);
	snprintf(buf, sizeof(buf), "<%s>", id);
	return msg_jstr(buf);
}

/* An envelope sender as the real records show it: "<>" for the null sender. */
static const char *sender_of(json_t *d)
{
	const char *s = s_of(d, "Sender");
	return *s ? s : "<>";
}

static int set(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

/* ---- the four record shapes ---- */

/* clickLogs[]: elastic ttp_url_logs, datadog ttp-url, alertlogic url_protect (key order of
 * the recordings). The click event (SIEM ttp_url) has the keys aCode, MsgId, Sender,
 * Recipient, Route, Subject, URL, UrlCategory, ScanResult, ScanResultInfo, Action,
 * SourceIP. */
static json_t *click_record(const struct request *req, const struct ttp_log_row *r, json_t *d,
                            json_t *users)
{
	const char *route = route_lower(s_of(d, "Route"));
	const char *action = s_of(d, "Action");
	char when[DATE_ISO_LEN], def[64];
	json_t *o = json_object(), *parts = json_pack("[s]", "Body");
	int bad = 0;

	(void)req;
	(void)users;
	date_format_iso(r->at, when);
	snprintf(def, sizeof(def), "Default %s URL Protect Definition",
	         !strcmp(route, "outbound")   ? "Outbound"
	         : !strcmp(route, "internal") ? "Internal"
	                                      : "Inbound");
	if (!o || !parts) {
		json_decref(o);
		json_decref(parts);
		return NULL;
	}
	bad |= set(o, "userEmailAddress", msg_jstr(s_of(d, "Recipient")));
	bad |= set(o, "fromUserEmailAddress", msg_jstr(s_of(d, "Sender")));
	bad |= set(o, "url", msg_jstr(s_of(d, "URL")));
	bad |= set(o, "ttpDefinition", json_string(def));
	bad |= set(o, "subject", msg_jstr(s_of(d, "Subject")));
	bad |= set(o, "action", json_string(!strcasecmp(action, "block") ? "block" : "allow"));
	bad |= set(o, "adminOverride", json_string("N/A"));
	bad |= set(o, "userOverride", json_string("None"));
	bad |= set(o, "scanResult",
	           json_string(!strcasecmp(s_of(d, "ScanResult"), "malicious") ? "malicious"
	                                                                       : "clean"));
	bad |= set(o, "category", msg_jstr(s_of(d, "UrlCategory")));
	/* the recordings show this text, not an address, for mail sent inside the account */
	bad |= set(o, "sendingIp",
	           msg_jstr(!strcmp(route, "internal") ? "Internal IP" : s_of(d, "SourceIP")));
	bad |= set(o, "userAwarenessAction", json_string("N/A"));
	bad |= set(o, "date", json_string(when));
	bad |= set(o, "actions", json_string(!strcasecmp(action, "block") ? "Block" : "Allow"));
	bad |= set(o, "route", json_string(route));
	bad |= set(o, "creationMethod", json_string("User Click"));
	bad |= set(o, "emailPartsDescription", parts);
	bad |= set(o, "messageId", msgid_of(d));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* attachmentLogs[]: elastic ttp_ap_logs, datadog ttp-attachment-protection. The sandbox's
 * verdict text is padded as the recordings show it ("Safe" + spaces, then the time taken);
 * the sandbox here is instant. */
static json_t *attachment_record(const struct request *req, const struct ttp_log_row *r, json_t *d,
                                 json_t *users)
{
	int malicious = !strcasecmp(s_of(d, "Result"), "malicious");
	char when[DATE_ISO_LEN], details[160];

	(void)req;
	(void)users;
	date_format_iso(r->at, when);
	if (malicious)
		snprintf(details, sizeof(details),
		         "[MALICIOUS_ACTIVITY: Malware: EICAR test file\r\n"
		         "Time taken: 0 hrs, 0 min, 0 sec]");
	else
		snprintf(details, sizeof(details), "%-50s\r\nTime taken: 0 hrs, 0 min, 0 sec",
		         "Safe");
	return json_pack("{s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s}",
	                 "senderAddress", msg_jstr(sender_of(d)), "recipientAddress",
	                 msg_jstr(r->rcpt), "fileName", msg_jstr(s_of(d, "fileName")), "fileType",
	                 msg_jstr(s_of(d, "fileMime")), "result", malicious ? "malicious" : "safe",
	                 "actionTriggered", "none", "date", when, "details", details, "route",
	                 route_lower(s_of(d, "Route")), "messageId", msgid_of(d), "subject",
	                 msg_jstr(s_of(d, "Subject")), "fileHash", msg_jstr(s_of(d, "sha256")),
	                 "definition", "Default Attachment Protection Definition");
}

/* impersonationLogs[]: elastic ttp_ip_logs, datadog ttp-impersonation. The event (SIEM
 * ttp_ip) says which rules hit (InternalName, SimilarInternalDomain); the display name and
 * the sending IP come from the message, and the internal user whose name it copies from
 * users (lower-case name → address; NULL when no record needs it). */
static json_t *impersonation_record(const struct request *req, const struct ttp_log_row *r,
                                    json_t *d, json_t *users)
{
	const char *action = s_of(d, "Action"), *from = s_of(d, "headerFrom"), *at;
	json_int_t hits = json_integer_value(json_object_get(d, "Hits"));
	char when[DATE_ISO_LEN], def[96], id[DOMAIN_ID_SIZE], mtoken[DOMAIN_ID_SIZE + 8];
	json_t *ids = json_array(), *results = json_array(), *o;
	int hold = !strcasecmp(action, "hold");

	date_format_iso(r->at, when);
	if (!*from)
		from = s_of(d, "Sender");
	if (!ids || !results)
		goto nomem;
	if (!strcmp(s_of(d, "InternalName"), "true")) {
		/* the display name is an internal user's name: similarDomain names that user as
		 * "Name <address>", as recorded (the name alone if the user is gone) */
		char who[512], key[256];
		const char *addr;
		size_t i;
		for (i = 0; r->from_name[i] && i + 1 < sizeof(key); i++)
			key[i] = (char)(r->from_name[i] >= 'A' && r->from_name[i] <= 'Z'
			                        ? r->from_name[i] + 32
			                        : r->from_name[i]);
		key[i] = '\0';
		addr = json_string_value(json_object_get(users, key));
		if (addr)
			snprintf(who, sizeof(who), "%s <%s>", r->from_name, addr);
		else
			snprintf(who, sizeof(who), "%s", r->from_name);
		json_t *x = json_pack("{s:s, s:o, s:o, s:s}", "impersonationDomainSource",
		                      "internal_user_name", "similarDomain", msg_jstr(who),
		                      "stringSimilarToDomain", msg_jstr(r->from_name),
		                      "checkerResult", "hit");
		if (json_array_append_new(ids, json_string("internal_user_name")) ||
		    json_array_append_new(results, x))
			goto nomem;
	}
	if (!strcmp(s_of(d, "SimilarInternalDomain"), "true")) {
		at = strrchr(from, '@');
		json_t *x = json_pack("{s:s, s:o, s:s}", "impersonationDomainSource",
		                      "similar_internal_domain", "stringSimilarToDomain",
		                      msg_jstr(at ? at + 1 : from), "checkerResult", "hit");
		if (json_array_append_new(ids, json_string("similar_internal_domain")) ||
		    json_array_append_new(results, x))
			goto nomem;
	}
	if (hits <= 0)
		hits = (json_int_t)json_array_size(ids);
	snprintf(def, sizeof(def), "IP - %d hit%s (%s)", (int)hits, hits == 1 ? "" : "s",
	         hold ? "Hold for Review / User Hold" : "Tag email");
	/* one id per record: the recipient row, or the event row when it has none */
	opaque_id_encode(req->srv->id_key, r->rcpt_id ? OPAQUE_TTP_IP_RCPT : OPAQUE_TTP_IP_EVENT,
	                 r->rcpt_id ? r->rcpt_id : r->id, id);
	snprintf(mtoken, sizeof(mtoken), "MTOKEN:%s", id);
	o = json_pack("{s:s, s:o, s:o, s:o, s:s, s:I, s:O, s:s, s:b, s:b, s:o, s:s, s:O, s:o}",
	              "id", mtoken, "senderAddress", msg_jstr(from), "recipientAddress",
	              msg_jstr(r->rcpt), "subject", msg_jstr(s_of(d, "Subject")), "definition", def,
	              "hits", hits, "identifiers", ids, "action", hold ? "hold" : "none",
	              "taggedExternal", 0, "taggedMalicious", 1, "senderIpAddress",
	              msg_jstr(r->client_ip), "eventTime", when, "impersonationResults", results,
	              "messageId", msgid_of(d));
	json_decref(ids);
	json_decref(results);
	return o;
nomem:
	json_decref(ids);
	json_decref(results);
	return NULL;
}

/* dlpLogs[]: elastic dlp_logs, datadog dlp. */
static json_t *dlp_record(const struct request *req, const struct ttp_log_row *r, json_t *d,
                          json_t *users)
{
	const char *action = s_of(d, "Action");
	char when[DATE_ISO_LEN];

	(void)req;
	(void)users;
	date_format_iso(r->at, when);
	if (!strcasecmp(action, "notify") || !*action)
		action = "notification"; /* the recorded word */
	return json_pack("{s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:o}", "senderAddress",
	                 msg_jstr(sender_of(d)), "recipientAddress", msg_jstr(r->rcpt), "subject",
	                 msg_jstr(s_of(d, "Subject")), "eventTime", when, "route",
	                 route_lower(s_of(d, "Route")), "policy", msg_jstr(s_of(d, "Policy")),
	                 "action", msg_jstr(action), "messageId", msgid_of(d));
}

static const struct kind k_url = {
        "ttp/url/get-logs", "ttp_url", "clickLogs", "ScanResult", "clean", 0, 0, click_record};
static const struct kind k_att = {
        "ttp/attachment/get-logs", "ttp_ap", "attachmentLogs", "Result", "safe", 1, 0,
        attachment_record};
static const struct kind k_imp = {
        "ttp/impersonation/get-logs", "ttp_ip", "impersonationLogs", NULL, NULL, 1, 1,
        impersonation_record};
static const struct kind k_dlp = {"dlp/get-logs", "dlp", "dlpLogs", NULL, NULL, 1, 0, dlp_record};

/* ---- the request ---- */

struct filter {
	int64_t from, to;
	int oldest_first;
	const char *route;  /* "Inbound" | "Outbound" | "Internal" | NULL (all) */
	const char *result; /* "clean" | "malicious" | NULL (all) */
};

static int fail(struct response *res, json_t *key, const char *field, const char *msg)
{
	response_fail_item(res, key, MSG_E_INVALID, msg, field, 0);
	return 1;
}

/* A boolean that may come as a string ("true"); 0 absent or read, 1 after a fail entry. */
static int read_bool(struct response *res, json_t *item, const char *field, int *out)
{
	json_t *v = json_get_ci(item, field);

	if (!v)
		return 0;
	if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (json_is_string(v) && !strcasecmp(json_string_value(v), "true"))
		*out = 1;
	else if (json_is_string(v) && !strcasecmp(json_string_value(v), "false"))
		*out = 0;
	else
		return fail(res, item, field, "oldestFirst must be true or false");
	return 0;
}

static int read_route(struct response *res, json_t *item, struct filter *f)
{
	json_t *v = json_get_ci(item, "route");
	const char *s;
	int r;

	if (!v)
		return 0;
	s = json_is_string(v) ? json_string_value(v) : NULL;
	if (s && (!*s || !strcasecmp(s, "all")))
		return 0;
	if (!s || (r = msg_route_parse(s)) < 0)
		return fail(res, item, "route", "route must be all, inbound, outbound or internal");
	f->route = r == MAIL_OUTBOUND ? "Outbound" : r == MAIL_INTERNAL ? "Internal" : "Inbound";
	return 0;
}

/* scanResult (the URL log's name) or result (the attachment log's); either is read. */
static int read_result(struct response *res, json_t *item, const struct kind *k, struct filter *f)
{
	const char *names[] = {"scanResult", "result"};

	for (int i = 0; i < 2; i++) {
		json_t *v = json_get_ci(item, names[i]);
		const char *s;
		if (!v)
			continue;
		s = json_is_string(v) ? json_string_value(v) : NULL;
		if (s && (!*s || !strcasecmp(s, "all")))
			continue;
		if (s && !strcasecmp(s, "malicious"))
			f->result = "malicious";
		else if (s && (!strcasecmp(s, "clean") || !strcasecmp(s, "safe")))
			f->result = "clean";
		else
			return fail(res, item, names[i], "must be all, clean or malicious");
	}
	if (!k->result_key)
		f->result = NULL; /* the other logs have no verdict to filter on */
	return 0;
}

/* The item's filters (0) or a fail entry (1). Without from, the window starts at the
 * start of the current day (UTC); without to, it ends now. */
static int read_filters(struct response *res, json_t *filters, const struct kind *k, int64_t now,
                        struct filter *f)
{
	json_t *item = NULL;
	int hf, ht;

	memset(f, 0, sizeof(*f));
	f->from = now - ((now % DAY_MS) + DAY_MS) % DAY_MS;
	f->to = now;
	if (msg_one_item(res, filters, k->fn, &item) != 0)
		return 1;
	if (!item)
		return 0;
	if (!json_is_object(item))
		return fail(res, item, NULL, "the item must be an object");
	if ((hf = msg_read_date(res, item, "from", &f->from)) < 0 ||
	    (ht = msg_read_date(res, item, "to", &f->to)) < 0)
		return 1;
	if (f->from > f->to)
		return fail(res, item, "to", "to is before from");
	if (read_bool(res, item, "oldestFirst", &f->oldest_first) || read_route(res, item, f) ||
	    read_result(res, item, k, f))
		return 1;
	(void)hf;
	(void)ht;
	return 0;
}

/* The filters as the page token keeps them: dates resolved to the millisecond. */
static json_t *normalised(const struct filter *f)
{
	char a[DATE_ISO_LEN + 4], b[DATE_ISO_LEN + 4];

	date_format_iso(f->from, a);
	date_format_iso(f->to, b);
	/* "2015-04-02T15:58:47+0000" → "2015-04-02T15:58:47.123+0000" */
	snprintf(a + 19, sizeof(a) - 19, ".%03d+0000", (int)(((f->from % 1000) + 1000) % 1000));
	snprintf(b + 19, sizeof(b) - 19, ".%03d+0000", (int)(((f->to % 1000) + 1000) % 1000));
	return json_pack("[{s:s, s:s, s:b, s:s, s:s}]", "from", a, "to", b, "oldestFirst",
	                 f->oldest_first, "route", f->route ? f->route : "all", "scanResult",
	                 f->result ? f->result : "all");
}

/* ---- the page ---- */

struct collect {
	const struct request *req;
	const struct kind *k;
	json_t *records;
	json_t *users; /* impersonation: lower-case name → address, read once when needed */
	struct err *e;
	size_t want, got;
	int more;
	int64_t last_at, last_id, last_rcpt;
};

static int user_cb(void *arg, const struct user *u)
{
	char key[sizeof(u->name)];
	size_t i;

	for (i = 0; u->name[i] && i + 1 < sizeof(key); i++)
		key[i] = (char)(u->name[i] >= 'A' && u->name[i] <= 'Z' ? u->name[i] + 32
		                                                       : u->name[i]);
	key[i] = '\0';
	if (!*key || json_object_get(arg, key))
		return 0;
	return json_object_set_new(arg, key, json_string(u->email)) ? MC_ERR_NOMEM : 0;
}

/* The account's users by name, for the internal_user_name results of a page. */
static int load_users(struct collect *c)
{
	int rc;

	if (!(c->users = json_object()))
		return MC_ERR_NOMEM;
	rc = store_user_list(c->req->srv->store, c->req->who.account.id, user_cb, c->users, c->e);
	return rc < 0 ? rc : 0;
}

static int collect(void *arg, const struct ttp_log_row *r)
{
	struct collect *c = arg;
	json_t *d, *rec;
	int rc;

	if (c->got == c->want) {
		c->more = 1; /* the one row past the page */
		return 0;
	}
	d = json_loadb(r->data, r->data_len, 0, NULL);
	if (!json_is_object(d)) { /* store_mail.c checks event data: not expected */
		json_decref(d);
		d = json_object();
		if (!d)
			return MC_ERR_NOMEM;
	}
	if (c->k->result_count && !c->users && !strcmp(s_of(d, "InternalName"), "true") &&
	    (rc = load_users(c)) != 0) {
		json_decref(d);
		return rc;
	}
	rec = c->k->record(c->req, r, d, c->users);
	json_decref(d);
	if (!rec || json_array_append_new(c->records, rec) != 0)
		return MC_ERR_NOMEM;
	c->got++;
	c->last_at = r->at;
	c->last_id = r->id;
	c->last_rcpt = r->rcpt_id;
	return 0;
}

static int cursor_read(json_t *after, int64_t *at, int64_t *id, int64_t *rcpt)
{
	json_t *t = json_object_get(after, "t"), *i = json_object_get(after, "i"),
	       *r = json_object_get(after, "r");

	if (!json_is_integer(t) || !json_is_integer(i) || !json_is_integer(r))
		return MC_ERR_INVALID;
	*at = json_integer_value(t);
	*id = json_integer_value(i);
	*rcpt = json_integer_value(r);
	return 0;
}

static int get_logs(struct request *req, struct response *res, const struct kind *k)
{
	struct ttp_log_query q;
	struct err e = {0};
	struct collect c = {.req = req, .k = k, .e = &e};
	struct filter f;
	struct page pg;
	json_t *next = NULL, *norm = NULL, *wrap = NULL;
	int rc;

	rc = page_begin(req, res, &pg);
	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	memset(&q, 0, sizeof(q));
	if (read_filters(res, pg.filters, k, now_ms(), &f) != 0)
		goto invalid;
	if (pg.after && cursor_read(pg.after, &q.cursor_at, &q.cursor_id, &q.cursor_rcpt) != 0) {
		fail(res, NULL, "pageToken", "the page token is not valid for this call");
		goto invalid;
	}
	q.has_cursor = pg.after != NULL;
	q.account_id = req->who.account.id;
	q.type = k->type;
	q.from = f.from;
	q.to = f.to;
	q.oldest_first = f.oldest_first;
	q.route = f.route;
	if (f.result && k->result_key) {
		q.result_key = k->result_key;
		q.result = !strcmp(f.result, "clean") ? k->result_safe : "malicious";
	}
	q.per_recipient = k->per_recipient;
	q.limit = (size_t)pg.size + 1;
	if (!(c.records = json_array())) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	c.want = (size_t)pg.size;
	if ((rc = store_ttp_log_query(req->srv->store, &q, collect, &c, &e)) != 0)
		goto out;
	wrap = k->result_count ? json_pack("{s:O, s:I}", k->list, c.records, "resultCount",
	                                   (json_int_t)c.got)
	                       : json_pack("{s:O}", k->list, c.records);
	if (!wrap) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	response_add_data(res, wrap);
	if (c.more) {
		next = json_pack("{s:I, s:I, s:I}", "t", (json_int_t)c.last_at, "i",
		                 (json_int_t)c.last_id, "r", (json_int_t)c.last_rcpt);
		norm = normalised(&f);
		if (!next || !norm) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
		json_decref(pg.filters);
		pg.filters = json_incref(norm);
	}
	rc = page_finish(req, res, &pg, c.got, next, -1);
	goto out;
invalid:
	rc = page_finish(req, res, &pg, 0, NULL, -1); /* §8: pagination even then */
out:
	if (rc)
		api_log_store_error(req, "ttp", k->fn, rc, &e);
	json_decref(c.records);
	json_decref(c.users);
	json_decref(next);
	json_decref(norm);
	page_release(&pg);
	return rc;
}

int api_ttp_url_get_logs(struct request *req, struct response *res)
{
	return get_logs(req, res, &k_url);
}

int api_ttp_attachment_get_logs(struct request *req, struct response *res)
{
	return get_logs(req, res, &k_att);
}

int api_ttp_impersonation_get_logs(struct request *req, struct response *res)
{
	return get_logs(req, res, &k_imp);
}

int api_dlp_get_logs(struct request *req, struct response *res)
{
	return get_logs(req, res, &k_dlp);
}
