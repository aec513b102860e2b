/* The SIEM "delivery" event of one attempt (API.md §14.1), with the keys the real service's
 * delivery logs show (acc, aCode, Delivered, Attempt, Latency, Snt, UseTls, Dir, Route,
 * Rcpt, Sender, MsgId, Subject, IP, AttCnt, AttSize, ReceiptAck, RejType, RejCode,
 * RejInfo). The time is "at" in ms; the SIEM reader formats datetime in the account's zone.
 * TlsVer and Cphr are absent: delivery connections are plain SMTP (UseTls "No"). */
#include "delivery_int.h"

#include "common/buf.h"
#include "common/json.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/banned.h"

static const char *event_dir(int route)
{
	switch (route) {
	case MAIL_OUTBOUND:
		return "Outbound";
	case MAIL_INTERNAL:
		return "Internal";
	default:
		return "Inbound";
	}
}

/* A short category of a failed or deferred attempt for RejType. */
static const char *event_rej_type(int32_t state, const struct deliv_result *res)
{
	const char *s = res->reply;

	if (state == RCPT_EXPIRED)
		return "Message expired";
	if (res->status == DELIV_DEFER)
		return "Temporary failure";
	if (strlen(s) > 4)
		s += 4;
	if (res->code == 552 || strncmp(s, "5.2.2", 5) == 0 || strncmp(s, "5.3.4", 5) == 0)
		return "Mailbox full or message too large";
	if (res->code == 550 || strncmp(s, "5.1.", 4) == 0)
		return "Recipient email address is possibly incorrect";
	return "Permanent failure";
}

/* A JSON string of s, or null when s is empty or not UTF-8. */
static json_t *event_str_or_null(const char *s)
{
	json_t *v = s && *s ? json_string(s) : NULL;

	return v ? v : json_null();
}

/* A JSON string of s, "" when s is not UTF-8. */
static json_t *event_str(const char *s)
{
	json_t *v = json_string(s);

	return v ? v : json_string("");
}

int delivery_event_json(const struct delivery_event_in *in, struct buf *out)
{
	const struct delivery_job *j = in->job;
	const struct deliv_result *r = in->res;
	const struct message *m = in->msg;
	json_t *o = json_object(), *atts = NULL;
	char msgid[MAIL_MSGID_SIZE + 2], code[8];
	json_int_t attcnt = 0, attsize = 0;
	int delivered = r->status == DELIV_SENT, rc;

	if (!o)
		return -1;
	json_object_set_new(o, "at", json_integer(in->at));
	if (in->acc && *in->acc)
		json_object_set_new(o, "acc", event_str(in->acc));
	json_object_set_new(o, "aCode", event_str(j->acode));
	json_object_set_new(o, "Delivered", json_boolean(delivered));
	json_object_set_new(o, "Attempt", json_integer(in->attempt));
	json_object_set_new(o, "Latency", json_integer(in->latency));
	json_object_set_new(o, "Snt", json_integer(r->sent));
	json_object_set_new(o, "UseTls", json_string("No"));
	json_object_set_new(o, "Dir", json_string(event_dir(j->route)));
	json_object_set_new(o, "Route", event_str(in->dest ? in->dest->name : j->dest));
	json_object_set_new(o, "Rcpt", event_str(j->rcpt.addr));
	json_object_set_new(o, "Sender", event_str(j->env_from[0] ? j->env_from : "<>"));
	if (m && m->msg_id[0]) {
		snprintf(msgid, sizeof(msgid), "<%s>", m->msg_id);
		json_object_set_new(o, "MsgId", event_str(msgid));
	} else {
		json_object_set_new(o, "MsgId", json_null());
	}
	json_object_set_new(o, "Subject", event_str_or_null(m ? m->subject : NULL));
	if (m && m->client_ip[0])
		json_object_set_new(o, "IP", event_str(m->client_ip));
	if (m && m->attachments && (atts = json_loads(m->attachments, 0, NULL)) &&
	    json_is_array(atts)) {
		size_t i;
		json_t *a;

		json_array_foreach(atts, i, a)
		{
			attcnt++;
			attsize += json_integer_value(json_object_get(a, "size"));
		}
	}
	json_decref(atts);
	json_object_set_new(o, "AttCnt", json_integer(attcnt));
	json_object_set_new(o, "AttSize", json_integer(attsize));
	json_object_set_new(o, "ReceiptAck", delivered ? event_str(r->reply) : json_null());
	if (!delivered) {
		snprintf(code, sizeof(code), "%d", r->code);
		json_object_set_new(o, "RejType", json_string(event_rej_type(in->state, r)));
		json_object_set_new(o, "RejCode", json_string(code));
		json_object_set_new(o, "RejInfo",
		                    event_str(strlen(r->reply) > 4 ? r->reply + 4 : r->reply));
	}
	rc = json_write(out, o);
	json_decref(o);
	return rc;
}
