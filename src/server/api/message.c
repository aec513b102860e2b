/* Shared pieces of the message API handlers; see message.h. The JSON builders keep the key
 * order of the real service's answers (jansson objects keep insertion order), so a client
 * that prints or diffs an answer sees what it would see from the real service. */
#include "message.h"
#include "api.h"
#include "paginate.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/config.h"
#include "server/server.h"
#include "server/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define DAY_MS 86400000LL

/* ---- recipients ---- */

int msg_rcpts_add(struct msg_rcpts *r, const struct mail_rcpt *rc)
{
	if (r->n == r->cap) {
		int cap = r->cap ? r->cap * 2 : 8;
		struct mail_rcpt *v;
		if (r->n >= MSG_RCPTS_MAX)
			return 0; /* the rest is not shown */
		if (cap > MSG_RCPTS_MAX)
			cap = MSG_RCPTS_MAX;
		v = realloc(r->v, (size_t)cap * sizeof(*v));
		if (!v)
			return MC_ERR_NOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = *rc;
	return 0;
}

static int rcpt_cb(void *arg, const struct mail_rcpt *rc)
{
	return msg_rcpts_add(arg, rc);
}

int msg_rcpts_load(struct store *st, int64_t message_id, struct msg_rcpts *r, struct err *e)
{
	r->n = 0;
	return store_message_rcpts(st, message_id, rcpt_cb, r, e);
}

void msg_rcpts_release(struct msg_rcpts *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* ---- ids ---- */

void msg_id_of(const struct request *req, int64_t row, char out[MSG_ID_SIZE])
{
	opaque_id_encode(req->srv->id_key, OPAQUE_MESSAGE, row, out);
}

void msg_rcpt_id_of(const struct request *req, int64_t row, char out[MSG_ID_SIZE])
{
	opaque_id_encode(req->srv->id_key, OPAQUE_RECIPIENT, row, out);
}

int msg_id_read(const struct request *req, const char *id, size_t len, int64_t *row)
{
	return opaque_id_decode(req->srv->id_key, OPAQUE_MESSAGE, id, len, row);
}

/* ---- words ---- */

const char *msg_api_status(const struct message *m)
{
	switch (m->status) {
	case MSG_RECEIVED:
		return "processing";
	case MSG_HELD:
		return "held";
	case MSG_PROCESSING:
	case MSG_RELEASED:
		return "delivery";
	case MSG_REJECTED:
		return "rejected";
	case MSG_BOUNCED:
		return "bounced";
	case MSG_DELIVERED:
	case MSG_DISCARDED:
	default:
		return "archived";
	}
}

/* The first recipient of r in state, or NULL. */
static const struct mail_rcpt *rcpt_in(const struct msg_rcpts *r, int32_t state)
{
	for (int i = 0; r && i < r->n; i++)
		if (r->v[i].state == state)
			return &r->v[i];
	return NULL;
}

void msg_api_info(const struct message *m, const struct msg_rcpts *r, char *dst, size_t size)
{
	const struct mail_rcpt *rc;
	char reason[MAIL_REASON_SIZE + 32];

	switch (m->status) {
	case MSG_RECEIVED:
		snprintf(dst, size, "Queued for processing");
		return;
	case MSG_HELD:
		msg_reason_text(m->hold_reason_id, reason, sizeof(reason));
		snprintf(dst, size, "%s",
		         reason[0]           ? reason
		         : m->hold_reason[0] ? m->hold_reason
		                             : "Held for review");
		return;
	case MSG_PROCESSING:
	case MSG_RELEASED:
		rc = rcpt_in(r, RCPT_DEFERRED);
		if (rc && rc->last_reply[0])
			snprintf(dst, size, "Delivery deferred: %s", rc->last_reply);
		else if (m->status == MSG_RELEASED)
			snprintf(dst, size, "Released from the hold queue, queued for delivery");
		else
			snprintf(dst, size, "Queued for delivery");
		return;
	case MSG_DELIVERED:
		snprintf(dst, size, "Indexed and archived");
		return;
	case MSG_REJECTED:
		if (m->held)
			snprintf(dst, size, "Rejected from the hold queue");
		else
			snprintf(dst, size, "%s",
			         m->hold_reason[0] ? m->hold_reason : "Envelope Rejected");
		return;
	case MSG_BOUNCED:
		rc = rcpt_in(r, RCPT_FAILED);
		if (!rc)
			rc = rcpt_in(r, RCPT_EXPIRED);
		snprintf(dst, size, "%s", rc && rc->last_reply[0] ? rc->last_reply : "Bounced");
		return;
	case MSG_DISCARDED:
		if (m->hold_reason[0])
			snprintf(dst, size, "Discarded by policy: %s", m->hold_reason);
		else
			snprintf(dst, size, "Discarded by policy");
		return;
	default:
		snprintf(dst, size, "%s", "");
	}
}

#define HOLD_PREFIX "MESSAGE_HOLD_APPLIED_"

/* The wording recorded from the real service (and its documentation) for reason ids. */
static const struct {
	const char *id, *text;
} reasons[] = {
        {"MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY",
         "Message Hold Applied - Spam Signature policy"},
        {"MESSAGE_HOLD_APPLIED_CONTENT_EXAMINATION_POLICY",
         "Message Hold Applied - Content examination policy"},
};

void msg_reason_text(const char *id, char *dst, size_t size)
{
	const char *rest = id;
	size_t n = 0;

	if (!size)
		return;
	dst[0] = '\0';
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcasecmp(id, reasons[i].id) == 0) {
			snprintf(dst, size, "%s", reasons[i].text);
			return;
		}
	if (strncasecmp(id, HOLD_PREFIX, strlen(HOLD_PREFIX)) == 0) {
		n = (size_t)snprintf(dst, size, "Message Hold Applied - ");
		rest = id + strlen(HOLD_PREFIX);
	}
	/* The rest as a sentence: first letter upper case, '_' as spaces. */
	for (const char *p = rest; *p && n + 1 < size; p++, n++) {
		char c = *p == '_' ? ' ' : *p;
		if (c >= 'A' && c <= 'Z' && p != rest)
			c = (char)(c - 'A' + 'a');
		else if (c >= 'a' && c <= 'z' && p == rest)
			c = (char)(c - 'a' + 'A');
		dst[n] = c;
	}
	if (n < size)
		dst[n] = '\0';
}

void msg_reason_code(const char *id, char *dst, size_t size)
{
	size_t n = 0;

	if (!size)
		return;
	for (; id[n] && n + 1 < size; n++)
		dst[n] = (id[n] >= 'A' && id[n] <= 'Z') ? (char)(id[n] - 'A' + 'a') : id[n];
	dst[n] = '\0';
}

const char *msg_route_upper(int32_t route)
{
	return route == MAIL_OUTBOUND   ? "OUTBOUND"
	       : route == MAIL_INTERNAL ? "INTERNAL"
	                                : "INBOUND";
}

const char *msg_route_lower(int32_t route)
{
	return route == MAIL_OUTBOUND   ? "outbound"
	       : route == MAIL_INTERNAL ? "internal"
	                                : "inbound";
}

int msg_route_parse(const char *s)
{
	if (strcasecmp(s, "inbound") == 0)
		return MAIL_INBOUND;
	if (strcasecmp(s, "outbound") == 0)
		return MAIL_OUTBOUND;
	if (strcasecmp(s, "internal") == 0)
		return MAIL_INTERNAL;
	return -1;
}

/* ---- matching ---- */

int msg_ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (!n)
		return 1;
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

int msg_addr_match(const char *addr, const char *value)
{
	const char *dom, *at = strrchr(addr, '@');
	size_t dl, vl;

	if (!*value)
		return 1;
	if (value[0] != '@' && strchr(value, '@'))
		return strcasecmp(addr, value) == 0;
	if (value[0] == '@')
		value++;
	if (!at || !*value)
		return 0;
	dom = at + 1;
	dl = strlen(dom);
	vl = strlen(value);
	if (dl == vl)
		return strcasecmp(dom, value) == 0;
	return dl > vl && dom[dl - vl - 1] == '.' && strcasecmp(dom + dl - vl, value) == 0;
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

json_t *msg_jstr(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, o = 0, k;
	char *fixed;
	json_t *j;

	while (i < len && (k = utf8_seq(p + i)) != 0)
		i += k;
	if (i == len)
		return json_stringn_nocheck(s, len);
	fixed = malloc(len * 3 + 1); /* every byte may become U+FFFD */
	if (!fixed)
		return NULL;
	for (i = 0; i < len;) {
		k = utf8_seq(p + i);
		if (k) {
			memcpy(fixed + o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn_nocheck(fixed, o);
	free(fixed);
	return j;
}

static json_t *jdate(int64_t ms)
{
	char d[DATE_ISO_LEN];

	date_format_iso(ms, d);
	return json_string(d);
}

/* {emailAddress, displayableName} (the hold list's order). */
static json_t *addr_name(const char *addr, const char *name)
{
	return json_pack("{s:o, s:o}", "emailAddress", msg_jstr(addr), "displayableName",
	                 msg_jstr(name));
}

/* {displayableName, emailAddress} (message-finder's order). */
static json_t *name_addr(const char *name, const char *addr)
{
	return json_pack("{s:o, s:o}", "displayableName", msg_jstr(name), "emailAddress",
	                 msg_jstr(addr));
}

json_t *msg_json_held(const struct message *m, const char *id, const char *to)
{
	char reason[MAIL_REASON_SIZE + 32], code[MAIL_REASON_SIZE];
	/* The envelope has no display name; the header's is shown for it when both name the
	 * same mailbox, as the real service's answers do. */
	const char *env_name = strcasecmp(m->env_from, m->from_addr) == 0 ? m->from_name : "";

	msg_reason_text(m->hold_reason_id, reason, sizeof(reason));
	msg_reason_code(m->hold_reason_id, code, sizeof(code));
	return json_pack("{s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:b, s:I, s:o, s:o}", "id",
	                 id, "reason", msg_jstr(reason), "reasonId", msg_jstr(m->hold_reason_id),
	                 "reasonCode", code, "from", addr_name(m->env_from, env_name), "fromHeader",
	                 addr_name(m->from_addr, m->from_name), "to", addr_name(to, ""), "subject",
	                 msg_jstr(m->subject), "route", msg_route_upper(m->route), "hasAttachments",
	                 m->has_attachments != 0, "size", (json_int_t)m->size, "dateReceived",
	                 jdate(m->received), "policyInfo", msg_jstr(m->hold_reason));
}

json_t *msg_json_summary(const char *policy, int64_t count)
{
	return json_pack("{s:o, s:I}", "policyInfo", msg_jstr(policy), "numberOfItems",
	                 (json_int_t)count);
}

static const char *detection_level(const struct message *m)
{
	/* The spam policy's level; messages that never reached the spam check have none. */
	return m->processed && m->status != MSG_REJECTED ? "relaxed" : "";
}

json_t *msg_json_tracked(const struct message *m, const char *id, const struct msg_rcpts *r)
{
	char info[MAIL_REPLY_SIZE + 64];
	json_t *to = json_array();

	for (int i = 0; to && r && i < r->n; i++)
		if (json_array_append_new(to, name_addr("", r->v[i].addr)) != 0) {
			json_decref(to);
			to = NULL;
		}
	msg_api_info(m, r, info, sizeof(info));
	return json_pack("{s:o, s:s, s:s, s:{s:o}, s:o, s:o, s:o, s:o, s:s, s:b, s:s, s:o, s:i, "
	                 "s:s}",
	                 "info", msg_jstr(info), "id", id, "status", msg_api_status(m), "fromEnv",
	                 "emailAddress", msg_jstr(m->env_from), "fromHdr",
	                 name_addr(m->from_name[0] ? m->from_name : m->from_addr, m->from_addr),
	                 "to", to, "received", jdate(m->received), "subject", msg_jstr(m->subject),
	                 "senderIP", m->client_ip, "attachments", m->has_attachments != 0, "route",
	                 msg_route_lower(m->route), "sent", jdate(m->received), "spamScore",
	                 (int)m->spam_score, "detectionLevel", detection_level(m));
}

static const char *rcpt_info(const struct mail_rcpt *rc)
{
	if (rc->last_reply[0])
		return rc->last_reply;
	switch (rc->state) {
	case RCPT_INFLIGHT:
		return "Delivery in progress";
	case RCPT_DEFERRED:
		return "Delivery deferred";
	default:
		return "Queued for delivery";
	}
}

json_t *msg_json_processing(const struct message *m, const char *id, const struct mail_rcpt *rc,
                            const char *remote)
{
	return json_pack("{s:s, s:{s:o}, s:{s:o}, s:{s:o}, s:o, s:b, s:s, s:I, s:o, s:i, s:o, "
	                 "s:o, s:o, s:s}",
	                 "id", id, "fromEnv", "emailAddress", msg_jstr(m->env_from), "fromHeader",
	                 "emailAddress", msg_jstr(m->from_addr), "to", "emailAddress",
	                 msg_jstr(rc->addr), "subject", msg_jstr(m->subject), "attachment",
	                 m->has_attachments != 0, "routing", msg_route_lower(m->route), "size",
	                 (json_int_t)m->size, "remoteIp", msg_jstr(remote), "attempts",
	                 (int)rc->attempts, "nextAttempt", jdate(rc->next_attempt), "created",
	                 jdate(m->received), "info", msg_jstr(rcpt_info(rc)), "priority", "normal");
}

json_t *msg_json_queue_point(int64_t when, int64_t count)
{
	return json_pack("{s:o, s:I}", "date", jdate(when), "count", (json_int_t)count);
}

/* ---- get-message-info ---- */

const char *msg_header_block(const char *body, size_t len, size_t *out)
{
	size_t n = len < MSG_HEADERS_MAX ? len : MSG_HEADERS_MAX;

	for (size_t i = 0; i < n; i++) {
		if (body[i] != '\n')
			continue;
		if (i + 1 < len && body[i + 1] == '\n') {
			*out = i + 1;
			return body;
		}
		if (i + 2 < len && body[i + 1] == '\r' && body[i + 2] == '\n') {
			*out = i + 1;
			return body;
		}
	}
	*out = n;
	return body;
}

char *msg_transmission_info(const char *h, size_t len)
{
	static const char head[] = "<pre>\n", tail[] = "\r\n\n</pre>";
	size_t cap = sizeof(head) + len * 6 + sizeof(tail), o = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	memcpy(s, head, sizeof(head) - 1);
	o = sizeof(head) - 1;
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (h[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		default:
			s[o++] = h[i];
			continue;
		}
		memcpy(s + o, rep, strlen(rep));
		o += strlen(rep);
	}
	memcpy(s + o, tail, sizeof(tail));
	return s;
}

/* The policies every message goes through here (§13.2), as get-message-info lists them. */
static json_t *policy_list(const struct message *m)
{
	const char *url = m->route == MAIL_OUTBOUND ? "Default Outbound URL Protect Definition"
	                                            : "Default Inbound URL Protect Definition";
	const char *att = m->route == MAIL_OUTBOUND
	                          ? "Default Outbound Attachment Protect Definition"
	                          : "Default Inbound Attachment Protect Definition";
	const struct {
		const char *type, *name;
	} p[] = {
	        {"Anti-Virus", "Default Anti-Virus Definition"},
	        {"Spam Scanning", "Relaxed Spam Detection"},
	        {"Attachment Management",
	         "Default Attachment Management Definition - Block Dangerous File Types"},
	        {"Impersonation Protection", "Default Impersonation Protect Definition"},
	        {"Content Examination", "Default Content Examination Definition"},
	        {"URL Protection", url},
	        {"Attachment Protection", att},
	        {"Delivery Routing", "Default Delivery Route"},
	};
	json_t *a = json_array();

	for (size_t i = 0; a && i < sizeof(p) / sizeof(p[0]); i++)
		if (json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "policyType", p[i].type,
		                                       "policyName", p[i].name, "inherited", 0))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *component(const char *type, const char *name, const char *ext, const char *mime,
                         int64_t size, const char *hash)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:I, s:o}", "type", type, "name", msg_jstr(name),
	                 "extension", msg_jstr(ext), "mimeType", msg_jstr(mime), "size",
	                 (json_int_t)size, "hash", msg_jstr(hash));
}

/* The transmission file and, for recipientMetaInfo, the attachments. */
static json_t *components(const struct msg_info_ctx *c, int with_attachments)
{
	json_t *a = json_array(), *atts = NULL, *x;
	size_t i;

	if (!a)
		return NULL;
	if (c->headers &&
	    json_array_append_new(a, component("Email Transmission File", "transmission.eml", "eml",
	                                       "message/rfc822", c->m->size, c->body_sha256)))
		goto fail;
	if (with_attachments && c->m->attachments)
		atts = json_loads(c->m->attachments, 0, NULL);
	json_array_foreach(atts, i, x)
	{
		const char *name = "", *type = "", *hash = "", *dot;
		int64_t size = 0;
		json_get_string(x, "name", &name);
		json_get_string(x, "type", &type);
		json_get_string(x, "sha256", &hash);
		json_get_int(x, "size", &size);
		dot = strrchr(name, '.');
		if (json_array_append_new(a, component("Email Attachment", name, dot ? dot + 1 : "",
		                                       type, size, hash)))
			goto fail;
	}
	json_decref(atts);
	return a;
fail:
	json_decref(atts);
	json_decref(a);
	return NULL;
}

static json_t *message_info(const struct msg_info_ctx *c, const char *tinfo, int with_route)
{
	const struct message *m = c->m;
	json_t *to = json_array(), *j;

	for (int i = 0; to && i < c->r->n; i++)
		if (json_array_append_new(to, msg_jstr(c->r->v[i].addr)) != 0) {
			json_decref(to);
			to = NULL;
		}
	j = json_pack("{s:o, s:o, s:o, s:[], s:o, s:o, s:o, s:o}", "fromHeader",
	              msg_jstr(m->from_addr), "fromEnvelope", msg_jstr(m->env_from), "to", to, "cc",
	              "subject", msg_jstr(m->subject), "sent", jdate(m->received), "processed",
	              jdate(m->received), "transmissionInfo", msg_jstr(tinfo));
	if (j && with_route &&
	    json_object_set_new(j, "route", json_string(msg_route_lower(m->route)))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int64_t purge_date(const struct msg_info_ctx *c)
{
	return c->m->received + (int64_t)c->retention_days * DAY_MS;
}

static int expires_in(const struct msg_info_ctx *c)
{
	int64_t left = purge_date(c) - c->now;

	return left <= 0 ? 0 : (int)((left + DAY_MS - 1) / DAY_MS);
}

static json_t *delivered(const struct msg_info_ctx *c, const char *tinfo)
{
	json_t *all = json_object(), *one;

	for (int i = 0; all && i < c->r->n; i++) {
		const struct mail_rcpt *rc = &c->r->v[i];
		const char *remote = c->remote ? c->remote(c->remote_arg, rc) : "";
		json_t *meta;
		if (rc->state != RCPT_DELIVERED)
			continue;
		meta = json_pack(
		        "{s:s, s:o, s:i, s:o, s:I, s:o, s:o, s:s, s:o, s:o, s:o, s:s, s:o}",
		        "deliveryEvent", "Email Delivered", "emailAddress", msg_jstr(rc->addr),
		        "messageExpiresIn", expires_in(c), "processingServer", msg_jstr(c->server),
		        "transmissionSize", (json_int_t)c->m->size, "remoteIp", msg_jstr(remote),
		        "remoteHost", msg_jstr(remote), "remoteServerGreeting", "",
		        "receiptAcknowledgement", msg_jstr(rc->last_reply), "transmissionStart",
		        jdate(rc->done), "transmissionEnd", jdate(rc->done), "encryptionInfo", "",
		        "components", components(c, 0));
		one = json_pack("{s:o, s:o, s:o}", "messageInfo", message_info(c, tinfo, 1),
		                "policyInfo", policy_list(c->m), "deliveryMetaInfo", meta);
		if (!one || json_object_set_new(all, rc->addr, one) != 0) {
			json_decref(all);
			return NULL;
		}
	}
	return all;
}

static json_t *allow_info(const char *info)
{
	return json_pack("{s:b, s:s}", "allow", 1, "info", info);
}

json_t *msg_json_info(const struct msg_info_ctx *c)
{
	const struct message *m = c->m;
	char *tinfo = c->headers ? msg_transmission_info(c->headers, c->headers_len) : NULL;
	char ack[MAIL_ACODE_SIZE + 32], greeting[300];
	json_t *meta, *recipient, *retention, *spam, *j = NULL;

	if (c->headers && !tinfo)
		return NULL;
	snprintf(ack, sizeof(ack), "250 %s%sReceived OK", m->acode, m->acode[0] ? " " : "");
	snprintf(greeting, sizeof(greeting), "%s%s", m->helo[0] ? "EHLO " : "", m->helo);
	meta = json_pack(
	        "{s:s, s:s, s:i, s:o, s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:o}",
	        "receiptEvent",
	        m->status == MSG_REJECTED && !m->held ? "Email Rejected" : "Email Received",
	        "spamEvent", "na", "messageExpiresIn", expires_in(c), "processingServer",
	        msg_jstr(c->server), "transmissionSize", (json_int_t)m->size, "binaryEmailSize",
	        (json_int_t)m->size, "remoteIp", msg_jstr(m->client_ip), "remoteHost", "",
	        "remoteServerGreeting", msg_jstr(greeting), "receiptAcknowledgement",
	        msg_jstr(m->body_id ? ack : ""), "transmissionStart", jdate(m->received),
	        "transmissionEnd", jdate(m->received), "encryptionInfo",
	        m->tls_version[0] ? "TLS" : "", "components", components(c, 1));
	recipient = json_pack("{s:o, s:o}", "messageInfo", message_info(c, tinfo ? tinfo : "", 0),
	                      "recipientMetaInfo", meta);
	retention =
	        json_pack("{s:o, s:s, s:o, s:i, s:[], s:[], s:[], s:[], s:[]}", "currentPurgeDate",
	                  jdate(purge_date(c)), "purgeBasedOn", "original", "originalPurgeDate",
	                  jdate(purge_date(c)), "retentionAdjustmentDays", -1, "litigationHoldInfo",
	                  "fbrStamps", "smartTags", "fbrExpireCheck", "audits");
	spam = json_pack("{s:i, s:s, s:{s:o, s:b, s:o, s:o, s:o, s:o, s:o}}", "spamScore",
	                 (int)m->spam_score, "detectionLevel", detection_level(m),
	                 "spamProcessingDetail", "rbl", allow_info(""), "greyEmail", 0, "spf",
	                 allow_info("unknown"), "dkim", allow_info("unknown"), "dmarc",
	                 allow_info("unknown"), "permittedSender", allow_info("none"),
	                 "managedSender", allow_info("unknown"));
	j = json_pack("{s:o, s:o, s:o, s:s, s:o, s:s}", "recipientInfo", recipient,
	              "deliveredMessage", delivered(c, tinfo ? tinfo : ""), "retentionInfo",
	              retention, "status", msg_api_status(m), "spamInfo", spam, "id", c->id);
	free(tinfo);
	return j;
}

/* ---- request helpers ---- */

int msg_one_item(struct response *res, json_t *filters, const char *fn, json_t **item)
{
	char msg[160];

	*item = json_array_get(filters, 0);
	if (json_array_size(filters) > 1) {
		snprintf(msg, sizeof(msg), "%s takes one item", fn);
		response_fail_item(res, *item, MSG_E_INVALID, msg, NULL, 0);
		return 1;
	}
	return 0;
}

int msg_read_date(struct response *res, json_t *item, const char *field, int64_t *ms)
{
	json_t *v = item ? json_get_ci(item, field) : NULL;
	const char *s;
	char msg[160];

	if (!v)
		return 0;
	if (!json_is_string(v)) {
		response_fail_item(res, item, MSG_E_INVALID,
		                   "a date must be a string like 2015-11-24T12:50:11+0000", field,
		                   0);
		return -1;
	}
	s = json_string_value(v);
	while (*s == ' ')
		s++;
	if (!*s) {
		response_fail_item(res, item, MSG_E_BLANK, "the date is empty", field, 0);
		return -1;
	}
	if (date_parse_iso(s, strlen(s), ms) != 0) {
		snprintf(msg, sizeof(msg),
		         "'%.40s' is not an ISO 8601 date like 2015-11-24T12:50:11+0000", s);
		response_fail_item(res, item, MSG_E_INVALID, msg, field, 0);
		return -1;
	}
	return 1;
}

int msg_read_string(struct response *res, json_t *key, json_t *obj, const char *field, size_t max,
                    const char **out)
{
	json_t *v = obj ? json_get_ci(obj, field) : NULL;
	char msg[128];

	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > max) {
		snprintf(msg, sizeof(msg), "%s must be a string of at most %zu characters", field,
		         max);
		response_fail_item(res, key, MSG_E_INVALID, msg, field, 0);
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

/* ---- the scan ---- */

#define BATCH_MAX 200

struct batch {
	struct message *v;
	int n, cap;
};

static int batch_add(void *arg, const struct message *m)
{
	struct batch *b = arg;

	if (b->n == b->cap)
		return 0;
	b->v[b->n] = *m;
	/* The list's JSON texts stay the store's: lists never show them. */
	b->v[b->n].attachments = NULL;
	b->v[b->n].urls = NULL;
	b->n++;
	return 0;
}

int msg_scan_run(struct msg_scan *s, int64_t after_t, int64_t after_i, struct err *e)
{
	struct batch b = {0};
	struct msg_rcpts r = {0};
	int budget = s->budget > 0 ? s->budget : MSG_SCAN_MAX, rc = 0, done = 0;

	s->got = 0;
	s->more = 0;
	s->last_t = after_t;
	s->last_i = after_i;
	b.v = malloc(BATCH_MAX * sizeof(*b.v));
	if (!b.v)
		return MC_ERR_NOMEM;
	while (!done) {
		int want = s->want - s->got + 1;
		b.n = 0;
		b.cap = want < 1 ? 1 : want > BATCH_MAX ? BATCH_MAX : want;
		if (b.cap > budget)
			b.cap = budget;
		rc = store_message_list(s->st, &s->q, s->last_t, s->last_i, b.cap, batch_add, &b,
		                        e);
		if (rc)
			goto out;
		for (int k = 0; k < b.n; k++) {
			const struct message *m = &b.v[k];
			int n;
			if ((rc = msg_rcpts_load(s->st, m->id, &r, e)) != 0)
				goto out;
			n = s->items(s->arg, m, &r);
			if (n < 0) {
				rc = n;
				goto out;
			}
			if (n > 0 && s->got > 0 && s->got + n > s->want) {
				s->more = 1; /* this one opens the next page */
				goto out;
			}
			if (n > 0 && (rc = s->emit(s->arg, m, &r)) != 0)
				goto out;
			s->got += n;
			s->last_t = m->received;
			s->last_i = m->id;
			budget--;
		}
		if (b.n < b.cap)
			done = 1; /* the store has no more */
		else if (budget <= 0) {
			s->more = 1; /* examined enough for one call: the token goes on from here */
			done = 1;
		}
	}
out:
	msg_rcpts_release(&r);
	free(b.v);
	return rc;
}

json_t *msg_cursor_json(int64_t t, int64_t i)
{
	return json_pack("{s:I, s:I}", "t", (json_int_t)t, "i", (json_int_t)i);
}

int msg_cursor_read(json_t *cur, int64_t *t, int64_t *i)
{
	json_t *jt = json_object_get(cur, "t"), *ji = json_object_get(cur, "i");

	if (!json_is_integer(jt) || !json_is_integer(ji))
		return MC_ERR_INVALID;
	*t = json_integer_value(jt);
	*i = json_integer_value(ji);
	return 0;
}

/* The host of an smtp://host:port route ("" for anything else). */
static void smtp_host(const char *route, char *dst, size_t size)
{
	const char *p, *end;

	dst[0] = '\0';
	if (strncasecmp(route, "smtp://", 7) != 0)
		return;
	p = route + 7;
	if (*p == '[') { /* [IPv6]:port */
		end = strchr(++p, ']');
	} else {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
	}
	if (!end)
		return;
	snprintf(dst, size, "%.*s", (int)(end - p), p);
}

void msg_route_host(const struct request *req, const struct mail_rcpt *rc, char *dst, size_t size)
{
	struct mail_domain d;
	const char *at = strrchr(rc->addr, '@');

	dst[0] = '\0';
	if (rc->domain_id == 0) { /* outbound: the smarthost, if any */
		if (req->srv->cfg)
			smtp_host(req->srv->cfg->smarthost, dst, size);
		return;
	}
	if (at && store_mail_domain(req->srv->store, at + 1, &d, NULL) == 0)
		smtp_host(d.route, dst, size);
}

const char *msg_server_name(const struct request *req, char *dst, size_t size)
{
	snprintf(dst, size, "%s",
	         req->srv->cfg && req->srv->cfg->smtp_hostname[0] ? req->srv->cfg->smtp_hostname
	                                                          : "mcapid");
	return dst;
}

int msg_list_run(struct request *req, struct response *res, struct msg_scan *sc,
                 const struct msg_list *l)
{
	struct page pg;
	struct err e = {0};
	json_t *item = NULL, *next = NULL, *wrap;
	int64_t after_t = 0, after_i = 0;
	int rc = page_begin(req, res, &pg);

	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	sc->st = req->srv->store;
	sc->q.account_id = req->who.account.id;
	if (msg_one_item(res, pg.filters, l->fn, &item) != 0 ||
	    l->read(res, item, sc->arg, &sc->q) != 0)
		goto invalid;
	if (pg.after && msg_cursor_read(pg.after, &after_t, &after_i) != 0) {
		response_fail_item(res, NULL, MSG_E_INVALID,
		                   "the page token is not valid for this call", "pageToken", 0);
		goto invalid;
	}
	if (!(*l->records = json_array())) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	sc->want = pg.size;
	if ((rc = msg_scan_run(sc, after_t, after_i, &e)) != 0)
		goto out;
	if (!(wrap = json_pack("{s:O}", l->key, *l->records))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	response_add_data(res, wrap);
	if (sc->more && !(next = msg_cursor_json(sc->last_t, sc->last_i))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = page_finish(req, res, &pg, (size_t)sc->got, next, -1);
	goto out;
invalid:
	rc = page_finish(req, res, &pg, 0, NULL, -1);
out:
	if (rc)
		api_log_store_error(req, "message", l->fn, rc, &e);
	json_decref(*l->records);
	*l->records = NULL;
	json_decref(next);
	page_release(&pg);
	return rc;
}
