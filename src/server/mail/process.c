/* The content side of the pipeline; see process.h. Parsing is GMime's (mime.h), the
 * decisions are checks.h's pure functions; this file loads their inputs (the account's
 * user names and internal domains), turns the verdict into the message's state, and writes
 * the events each check leaves for the logs (§14), in the transaction of
 * store_message_processed. */
#include "process.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "common/seal.h"
#include "common/log.h"
#include "server/config.h"
#include "server/delivery/delivery.h"
#include "server/mail/checks.h"
#include "server/mail/mail.h"
#include "server/mail/mime.h"
#include "server/mail/policy.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_domain.h"
#include "server/ttp/clicks.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define LEASE_MS    60000
#define MAX_NAMES   2000 /* internal users of the sender's display name (store_user_by_name) */
#define MAX_DOMAINS 500
#define MAX_EVENTS  64

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static void base_config(const struct server *srv, struct checks_config *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->dangerous_types = srv->cfg->dangerous_types;
	cc->impersonation_hold = strcmp(srv->cfg->impersonation_action, "hold") == 0;
	cc->test_headers = strcmp(srv->cfg->test_headers, "on") == 0;
}

void process_intake_scan(struct server *srv, const char *raw, size_t len, struct message *msg,
                         struct process_intake *in)
{
	struct mime_msg *mm = NULL;
	struct checks_config cc;
	const char *virus = NULL;

	memset(in, 0, sizeof(*in));
	base_config(srv, &cc);
	if (mime_parse(raw, len, &mm, NULL) == 0 && mm) {
		copy(msg->msg_id, sizeof(msg->msg_id), mm->msg_id);
		copy(msg->from_addr, sizeof(msg->from_addr), mm->from_addr);
		copy(msg->from_name, sizeof(msg->from_name), mm->from_name);
		copy(msg->subject, sizeof(msg->subject), mm->subject);
		virus = checks_virus(mm, &cc, NULL);
	} else if (checks_eicar(raw, len)) {
		virus = CHECKS_VIRUS_EICAR; /* unparsable, yet the test file is there */
	}
	if (virus)
		copy(in->virus, sizeof(in->virus), virus);
	in->mm = mm; /* parsed once: process_one takes it over (mail_parsed_take) */
}

void process_intake_release(struct process_intake *in)
{
	mime_msg_free(in->mm);
	in->mm = NULL;
}

/* ---- the inputs of the impersonation check ---- */

struct names {
	char **v;
	int n, cap;
};

#define NAMES_FULL 1 /* a list callback's "enough": stops the listing, not an error */

static int names_add(struct names *l, const char *s)
{
	if (l->n >= l->cap)
		return NAMES_FULL; /* 100,000 users must not cost 100,000 rows per message */
	if (!s || !*s)
		return 0;
	if (!(l->v[l->n] = strdup(s)))
		return MC_ERR_NOMEM;
	l->n++;
	return 0;
}

static int user_cb(void *arg, const struct user *u)
{
	return names_add(arg, u->name);
}

static int domain_cb(void *arg, const struct domain *d)
{
	return names_add(arg, d->name);
}

static void names_free(struct names *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* ---- events ---- */

struct events {
	struct mail_event ev[MAX_EVENTS];
	char *json[MAX_EVENTS];
	int n;
};

static void event_add(struct events *e, const char *type, json_t *o)
{
	if (!o)
		return;
	if (e->n < MAX_EVENTS && (e->json[e->n] = json_dumps(o, JSON_COMPACT))) {
		e->ev[e->n].type = type;
		e->ev[e->n].data = e->json[e->n];
		e->n++;
	}
	json_decref(o);
}

static void events_free(struct events *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->json[i]);
}

static const char *dir_name(int route)
{
	return route == MAIL_OUTBOUND   ? "Outbound"
	       : route == MAIL_INTERNAL ? "Internal"
	                                : "Inbound";
}

/* The SIEM "Hld" value of a hold reason. */
static const char *hld_code(enum checks_hold h)
{
	switch (h) {
	case CHECKS_HOLD_SPAM:
		return "Spm";
	case CHECKS_HOLD_ATTACHMENT:
		return "Att";
	case CHECKS_HOLD_DLP:
		return "Dlp";
	case CHECKS_HOLD_IMPERSONATION:
		return "Imp";
	default:
		return "Pol";
	}
}

static void make_events(const struct message *m, const struct mime_msg *mm,
                        const struct checks_verdict *v, struct events *e)
{
	json_t *names = json_array();
	int64_t att_size = 0;
	char att_names[1024] = "";
	size_t used = 0;

	for (int i = 0; i < mm->natt; i++) {
		int n = snprintf(att_names + used, sizeof(att_names) - used, "%s\"%s\"",
		                 i ? ", " : "", mm->attachments[i].name);
		if (n > 0 && used + (size_t)n < sizeof(att_names))
			used += (size_t)n;
		att_size += mm->attachments[i].size;
		json_array_append_new(names, json_string(mm->attachments[i].name));
	}
	json_decref(names);

	/* process: what the gateway did with the message */
	json_t *p =
	        json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:I}", "aCode", m->acode, "Act",
	                  v->action == CHECKS_HOLD      ? "Hld"
	                  : v->action == CHECKS_DISCARD ? "Rej"
	                                                : "Acc",
	                  "AttCnt", mm->natt, "AttNames", att_names, "AttSize",
	                  (json_int_t)att_size, "MsgId", m->msg_id, "MsgSize", (json_int_t)m->size);
	if (p && v->action == CHECKS_HOLD)
		json_object_set_new(p, "Hld", json_string(hld_code(v->hold)));
	if (p) {
		json_object_set_new(
		        p, "IPInternalName",
		        json_string(v->imp_rules & CHECKS_IMP_INTERNAL_NAME ? "true" : "false"));
		json_object_set_new(
		        p, "IPSimilarDomain",
		        json_string(v->imp_rules & CHECKS_IMP_SIMILAR_DOMAIN ? "true" : "false"));
	}
	event_add(e, "process", p);

	/* spam: the score of every message */
	event_add(e, "spam",
	          json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s}", "aCode", m->acode,
	                    "Dir", dir_name(m->route), "MsgId", m->msg_id, "Sender", m->env_from,
	                    "headerFrom", m->from_addr, "SpamScore", v->spam_score, "SpamLimit",
	                    v->spam_limit, "SpamInfo", v->spam_info, "Subject", m->subject));

	if (v->virus[0])
		event_add(e, "av",
		          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "aCode", m->acode,
		                    "MsgId", m->msg_id, "Route", dir_name(m->route), "Sender",
		                    m->env_from, "Subject", m->subject, "Virus", v->virus, "Size",
		                    (json_int_t)m->size));

	/* ttp_ap: one sandbox verdict per attachment */
	for (int i = 0; i < mm->natt && i < v->natt; i++) {
		const struct mime_attachment *a = &mm->attachments[i];
		const char *ext = strrchr(a->name, '.');
		event_add(e, "ttp_ap",
		          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}",
		                    "aCode", m->acode, "MsgId", m->msg_id, "Route",
		                    dir_name(m->route), "Sender", m->env_from, "Subject",
		                    m->subject, "fileName", a->name, "fileMime", a->type, "Size",
		                    (json_int_t)a->size, "fileExt", ext ? ext + 1 : "", "md5",
		                    a->md5, "sha256", a->sha256, "Result", v->att[i].result));
	}

	if (v->imp_hits)
		event_add(e, "ttp_ip",
		          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "aCode",
		                    m->acode, "MsgId", m->msg_id, "Route", dir_name(m->route),
		                    "Sender", m->env_from, "headerFrom", m->from_addr, "Subject",
		                    m->subject, "Hits", v->imp_hits, "Action", v->imp_action,
		                    "InternalName",
		                    v->imp_rules & CHECKS_IMP_INTERNAL_NAME ? "true" : "false",
		                    "SimilarInternalDomain",
		                    v->imp_rules & CHECKS_IMP_SIMILAR_DOMAIN ? "true" : "false"));

	if (v->dlp)
		event_add(e, "dlp",
		          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "aCode", m->acode,
		                    "MsgId", m->msg_id, "Route", dir_name(m->route), "Sender",
		                    m->env_from, "Subject", m->subject, "Policy", v->dlp_policy,
		                    "Action", v->action == CHECKS_HOLD ? "hold" : "notify", "Match",
		                    v->dlp_match));
}

/* jrnl: one journal event per recipient of internal mail (the real service journals it) */
struct jrnl_ctx {
	const struct message *m;
	struct events *e;
};

static int jrnl_rcpt(void *arg, const struct mail_rcpt *r)
{
	const struct jrnl_ctx *c = arg;

	event_add(c->e, "jrnl",
	          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "aCode", c->m->acode, "Dir",
	                    "Internal", "Rcpt", r->addr, "RcptActType", "Jnl", "RcptHdrType",
	                    "Unknown", "Sender", c->m->env_from));
	return 0;
}

/* ---- one message ---- */

static int first_rcpt(void *arg, const struct mail_rcpt *r)
{
	copy(arg, MAIL_ADDR_SIZE, r->addr);
	return 1; /* the first is enough */
}

/* A permit (§18) for (envelope sender, first recipient), evaluated again now: no cache, the
 * store says. A permitted sender skips the spam and impersonation checks. */
static int permitted(struct server *srv, const struct message *m, int64_t now, int *yes,
                     struct err *e)
{
	char rcpt[MAIL_ADDR_SIZE] = "";
	struct policy_decision d;
	int rc;

	*yes = 0;
	rc = store_message_rcpts(srv->store, m->id, first_rcpt, rcpt, e);
	if (rc < 0)
		return rc;
	if (!rcpt[0])
		return 0;
	if ((rc = policy_evaluate(srv->store, m->account_id, m->env_from, rcpt, now, &d, e)) != 0)
		return rc;
	*yes = d.verdict == POLICY_VERDICT_PERMIT;
	return 0;
}

int process_one(struct server *srv, struct mail *mail)
{
	struct message m;
	struct mime_msg *mm = NULL;
	struct checks_config cc;
	struct checks_verdict v;
	struct names users = {0}, domains = {0};
	struct events ev = {.n = 0};
	struct err e = {0};
	char *raw = NULL;
	size_t len = 0;
	int64_t now = now_ms();
	int rc;

	memset(&v, 0, sizeof(v));
	/* leases follow real time (a stopped record clock must not keep them forever) */
	rc = store_message_lease_unprocessed(
	        srv->store, real_now_ms(),
	        srv->cfg->mail_lease > 0 && srv->cfg->mail_lease * 1000LL < LEASE_MS
	                ? srv->cfg->mail_lease * 1000LL
	                : LEASE_MS,
	        &m, &e);
	if (rc == MC_ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc;
	users.v = calloc(MAX_NAMES, sizeof(char *));
	users.cap = MAX_NAMES;
	domains.v = calloc(MAX_DOMAINS, sizeof(char *));
	domains.cap = MAX_DOMAINS;
	if (!users.v || !domains.v) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	/* the parse made at receipt on this node, if it is still there; else the stored body */
	mm = mail_parsed_take(mail, m.id);
	if ((!mm && (rc = store_body_get(srv->store, m.body_id, &raw, &len, &e)) != 0) ||
	    (rc = store_domain_list(srv->store, m.account_id, DOMAIN_LIST_INTERNAL, NULL, 0,
	                            MAX_DOMAINS, domain_cb, &domains, &e)) < 0)
		goto out;
	rc = 0; /* NAMES_FULL */
	if (!mm)
		rc = mime_parse(raw, len, &mm, &e);
	if (rc != 0 || !mm)
		goto out;
	/* the internal users the From display name could impersonate: those of that very name
	 * (one indexed look-up), not every user of the account */
	if ((rc = store_user_by_name(srv->store, m.account_id, mm->from_name, user_cb, &users,
	                             &e)) < 0)
		goto out;
	rc = 0; /* NAMES_FULL */
	base_config(srv, &cc);
	if ((rc = permitted(srv, &m, now, &cc.permitted_sender, &e)) != 0)
		goto out;
	cc.internal_names = (const char *const *)users.v;
	cc.n_internal_names = users.n;
	cc.internal_domains = (const char *const *)domains.v;
	cc.n_internal_domains = domains.n;
	if ((rc = checks_run(mm, &cc, &v, &e)) != 0)
		goto out;

	m.spam_score = v.spam_score;
	m.has_attachments = mm->natt > 0;
	free(m.attachments);
	free(m.urls);
	m.attachments = checks_attachments_json(mm, &v);
	m.urls = mime_urls_json(mm);
	switch (v.action) {
	case CHECKS_HOLD:
		m.status = MSG_HELD;
		m.held = now;
		copy(m.hold_reason, sizeof(m.hold_reason), v.held->policy_info);
		copy(m.hold_reason_id, sizeof(m.hold_reason_id), v.held->reason_id);
		break;
	case CHECKS_DISCARD:
		m.status = MSG_DISCARDED;
		copy(m.hold_reason, sizeof(m.hold_reason), "Anti-Virus Policy");
		break;
	default:
		m.status = MSG_RECEIVED; /* delivery goes on (tagged or not) */
		break;
	}
	make_events(&m, mm, &v, &ev);
	if (m.route == MAIL_INTERNAL) {
		struct jrnl_ctx jc = {&m, &ev};
		if ((rc = store_message_rcpts(srv->store, m.id, jrnl_rcpt, &jc, &e)) < 0)
			goto out;
		rc = 0;
	}
	rc = store_message_processed(srv->store, &m, ev.ev, ev.n, &e);
	if (rc == 0)
		log_info("msg=processed acode=%s action=%s spam=%d", m.acode,
		         checks_action_name(v.action), v.spam_score);
out:
	if (rc && rc != MC_ERR_STATE) {
		char q[400];

		log_warn("msg=\"cannot process a message\" acode=%s error=%s", m.acode,
		         log_quote(e.msg[0] ? e.msg : err_name(rc), q, sizeof(q)));
	}
	events_free(&ev);
	checks_verdict_release(&v);
	mime_msg_free(mm);
	names_free(&users);
	names_free(&domains);
	free(raw);
	message_release(&m);
	return rc ? rc : 1;
}

/* ---- the delivered copy ---- */

/* The value of header name in the top-level header block of raw (trimmed, lower-cased). */
static void top_header(const char *raw, size_t len, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name), i = 0;

	out[0] = '\0';
	while (i < len) {
		const char *line = raw + i, *eol = memchr(line, '\n', len - i);
		size_t n = eol ? (size_t)(eol - line) : len - i;
		if (n == 0 || (n == 1 && line[0] == '\r'))
			return; /* the end of the header */
		if (n > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			size_t a = nl + 1, o = 0;
			while (a < n && (line[a] == ' ' || line[a] == '\t'))
				a++;
			while (a < n && line[a] != '\r' && o + 1 < size) {
				char c = line[a++];
				out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			}
			while (o && (out[o - 1] == ' ' || out[o - 1] == '\t'))
				o--;
			out[o] = '\0';
			return;
		}
		i += n + 1;
	}
}

struct rewrite_ctx {
	const struct server *srv;
	struct click_token t; /* all but the URL: the same for every link of one copy */
};

/* mime_url_fn: appends the click URL standing for url. */
static int click_url(void *arg, const char *url, size_t len, struct buf *out)
{
	struct rewrite_ctx *c = arg;
	char *tok = NULL;
	int rc;

	if (len < sizeof(c->t.url)) {
		memcpy(c->t.url, url, len);
		c->t.url[len] = '\0';
		if (strlen(c->t.url) == len)
			tok = click_token_make(c->srv->url_key, &c->t);
	}
	if (tok)
		rc = buf_addf(out, "%s/s/%s", c->srv->cfg->public_base_url, tok);
	else /* too long to carry (a 4 KiB URL, or one whose JSON escapes swell the token) */
		rc = buf_add(out, url, len);
	free(tok);
	return rc;
}

int process_delivery_transform(void *arg, const struct delivery_job *job, const char *in,
                               size_t in_len, char **out, size_t *out_len, struct err *e)
{
	const struct server *srv = arg;
	struct rewrite_ctx *ctx = NULL;
	char test[32] = "";
	int n = 0, rc = 0;

	*out = NULL;
	*out_len = 0;
	if (!strcmp(srv->cfg->test_headers, "on")) {
		top_header(in, in_len, "X-Mcapi-Test", test, sizeof(test));
		if (!strcmp(test, "defer"))
			return err_set(e, MC_ERR_AGAIN, "X-Mcapi-Test: defer");
		if (!strcmp(test, "bounce"))
			return err_set(e, MC_ERR_INVALID, "X-Mcapi-Test: bounce");
	}
	if (job->no_urls)
		return 0; /* the process stage found none: the stored copy goes out */
	/* each copy's tokens name its message and recipient: a click is logged for them */
	if (!(ctx = calloc(1, sizeof(*ctx))))
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	ctx->srv = srv;
	copy(ctx->t.acode, sizeof(ctx->t.acode), job->acode);
	ctx->t.account_id = job->account_id;
	ctx->t.message_id = job->rcpt.message_id;
	copy(ctx->t.rcpt, sizeof(ctx->t.rcpt), job->rcpt.addr);
	ctx->t.test_malicious = !strcmp(test, "malicious-url");
	rc = mime_rewrite_urls(in, in_len, click_url, ctx, out, out_len, &n, NULL);
	if (rc == MC_ERR_NOMEM) {
		free(*out);
		*out = NULL;
		free(ctx);
		return err_set(e, rc, "out of memory rewriting URLs"); /* deferred, tried again */
	}
	if (rc != 0 || !n) {
		free(*out); /* nothing to rewrite, or cannot: the stored copy goes out */
		*out = NULL;
		*out_len = 0;
	}
	free(ctx);
	return 0;
}
