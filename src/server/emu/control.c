/* The control calls under /__mcapi/ (docs/emulator.md): the token check, then one small
 * function per call. Answers are plain JSON objects (not the Mimecast envelope: these are not
 * Mimecast calls); an error is {"error": {"code": ..., "message": ...}}. */
#include "emu_int.h"

#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/admin.h"
#include "server/api/domain_name.h"
#include "server/config.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/api/listcache.h"
#include "server/auth/authcache.h"
#include "server/store/store_snapshot.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

struct answer {
	int status;
	json_t *body; /* owned */
	char *raw;    /* owned: a JSON text answered as it is (a snapshot), instead of body */
	const char *allow;
};

static int fail(struct answer *a, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail(struct answer *a, int status, const char *code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(a->body);
	a->status = status;
	a->body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
	return 0;
}

static int ok(struct answer *a, int status, json_t *body)
{
	json_decref(a->body);
	a->status = status;
	a->body = body;
	return 0;
}

static int method_not_allowed(struct answer *a, const char *allow)
{
	a->allow = allow;
	return fail(a, 405, "method_not_allowed", "this control path takes %s", allow);
}

/* Authorization: Bearer <token>, compared in constant time. */
static int authorised(const struct emu *emu, const char *authz)
{
	const char *t;

	if (!authz || strncasecmp(authz, "Bearer ", 7) != 0)
		return 0;
	for (t = authz + 7; *t == ' '; t++)
		;
	return ct_equal(t, strlen(t), emu->token, EMU_TOKEN_LEN);
}

/* A query parameter's value as a number; def when absent, -1 when not a number. */
static long long query_num(const char *query, const char *name, long long def)
{
	size_t n = strlen(name);
	const char *p = query;

	while (p && *p) {
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			long long v = 0;
			const char *q = p + n + 1;
			if (*q < '0' || *q > '9')
				return -1;
			for (; *q >= '0' && *q <= '9'; q++)
				v = v > 1000000000000LL ? v : v * 10 + (*q - '0');
			return *q && *q != '&' ? -1 : v;
		}
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return def;
}

/* ---- /__mcapi/requests ---- */

static json_t *str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

static json_t *entry_json(const struct emu_entry *x)
{
	char at[DATE_ISO_LEN];

	date_format_iso(x->at_ms, at);
	return json_pack("{s:I, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "id",
	                 (json_int_t)x->seq, "at", at, "method", x->method, "path", x->path,
	                 "status", x->status, "error_code", str_or_null(x->error_code),
	                 "auth_check", str_or_null(x->auth_check), "fault", str_or_null(x->fault),
	                 "req_id", str_or_null(x->req_id), "client_ip", str_or_null(x->client_ip),
	                 "app_id", str_or_null(x->app_id), "user", str_or_null(x->user), "ms",
	                 (json_int_t)x->ms);
}

json_t *emu_journal_json(struct emu *emu, uint64_t since, int limit, int newest_first)
{
	json_t *list = json_array(), *body;
	uint64_t first, last;

	if (!list)
		return NULL;
	pthread_mutex_lock(&emu->journal_mu);
	last = emu->journal_seq;
	first = last > (uint64_t)emu->journal_max ? last - (uint64_t)emu->journal_max + 1 : 1;
	if (since + 1 > first)
		first = since + 1;
	if (newest_first) {
		for (uint64_t s = last;
		     s >= first && s > 0 && json_array_size(list) < (size_t)limit; s--) {
			const struct emu_entry *x =
			        &emu->journal[(s - 1) % (uint64_t)emu->journal_max];
			if (x->seq == s) /* 0 after a clear */
				json_array_append_new(list, entry_json(x));
		}
	} else {
		for (uint64_t s = first; s <= last && json_array_size(list) < (size_t)limit; s++) {
			const struct emu_entry *x =
			        &emu->journal[(s - 1) % (uint64_t)emu->journal_max];
			if (x->seq == s)
				json_array_append_new(list, entry_json(x));
		}
	}
	pthread_mutex_unlock(&emu->journal_mu);
	body = json_pack("{s:o, s:I}", "requests", list, "last_id", (json_int_t)last);
	return body;
}

void emu_journal_clear(struct emu *emu)
{
	pthread_mutex_lock(&emu->journal_mu);
	memset(emu->journal, 0, (size_t)emu->journal_max * sizeof(*emu->journal));
	pthread_mutex_unlock(&emu->journal_mu);
}

static int requests(struct emu *emu, const char *method, const char *query, struct answer *a)
{
	long long since = query_num(query, "since", 0), limit = query_num(query, "limit", 100);
	json_t *body;

	if (strcmp(method, "DELETE") == 0) {
		emu_journal_clear(emu);
		return ok(a, 200, json_pack("{s:b}", "cleared", 1));
	}
	if (strcmp(method, "GET") != 0)
		return method_not_allowed(a, "GET, DELETE");
	if (since < 0 || limit < 1 || limit > emu->journal_max)
		return fail(a, 400, "invalid_query",
		            "since must be a number >= 0 and limit a number from 1 to %d",
		            emu->journal_max);
	body = emu_journal_json(emu, (uint64_t)since, (int)limit, 0);
	return body ? ok(a, 200, body) : MC_ERR_NOMEM;
}

/* ---- /__mcapi/faults ---- */

static json_t *rule_json(const struct emu_rule *r)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:f, s:o}", "id", r->id, "path",
	                      r->path[0] ? r->path : "*", "account", r->account, "probability",
	                      r->probability, "count",
	                      r->count < 0 ? json_null() : json_integer(r->count));

	if (!j)
		return NULL;
	if (r->smtp) {
		json_object_set_new(j, "smtp",
		                    json_pack("{s:s, s:i, s:s}", "stage", r->stage, "code",
		                              r->smtp_code, "text", r->smtp_text));
		return j;
	}
	if (r->developer_key)
		json_object_set_new(j, "error", json_string("err_developer_key"));
	if (r->status)
		json_object_set_new(j, "status", json_integer(r->status));
	if (r->latency_ms)
		json_object_set_new(j, "latency_ms", json_integer(r->latency_ms));
	if (r->status == 429 || r->status == 503)
		json_object_set_new(j, "retry_after", json_integer(r->retry_after_s));
	return j;
}

/* A whole number member in [lo, hi]; *v untouched when absent. 0, or -1 (a refused value). */
static int get_int(json_t *o, const char *key, long long lo, long long hi, int *v)
{
	json_t *m = json_object_get(o, key);

	if (!m || json_is_null(m))
		return 0;
	if (!json_is_integer(m) || json_integer_value(m) < lo || json_integer_value(m) > hi)
		return -1;
	*v = (int)json_integer_value(m);
	return 0;
}

/* A string member of at most size - 1 bytes; dst untouched when absent. 0 or -1. */
static int get_str(json_t *o, const char *key, char *dst, size_t size)
{
	json_t *m = json_object_get(o, key);

	if (!m || json_is_null(m))
		return 0;
	if (!json_is_string(m) || json_string_length(m) >= size ||
	    strlen(json_string_value(m)) != json_string_length(m))
		return -1;
	memcpy(dst, json_string_value(m), json_string_length(m) + 1);
	return 0;
}

/* A refused rule: why names what is wrong; returns -1. */
static int bad(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -1;
}

static int known_status(int s)
{
	return s == 401 || s == 403 || s == 418 || s == 429 || s == 500 || s == 503;
}

int emu_rule_parse(json_t *o, struct emu_rule *r, char *why, size_t why_size)
{
	const char *key;
	json_t *v, *smtp;
	static const char *const known[] = {"path",   "account",    "probability", "count",
	                                    "status", "error",      "latency_ms",  "retry_after",
	                                    "smtp",   "description"};
	char error[32] = "";

	memset(r, 0, sizeof(*r));
	r->probability = 1.0;
	r->count = -1;
	r->retry_after_s = 1;
	if (!json_is_object(o))
		return bad(why, why_size, "a fault rule is a JSON object");
	json_object_foreach(o, key, v)
	{
		size_t i;
		for (i = 0; i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]); i++)
			;
		if (i == sizeof(known) / sizeof(known[0]))
			return bad(why, why_size, "unknown member '%.40s'", key);
	}
	if (get_str(o, "path", r->path, sizeof(r->path)) ||
	    (r->path[0] && r->path[0] != '/' && strcmp(r->path, "*") != 0))
		return bad(why, why_size,
		           "'path' must be a path starting with '/' "
		           "(a trailing '*' matches a prefix)");
	if (strcmp(r->path, "*") == 0)
		r->path[0] = '\0';
	if (get_str(o, "account", r->account, sizeof(r->account)))
		return bad(why, why_size, "'account' must be an account code");
	v = json_object_get(o, "probability");
	if (v && !json_is_null(v)) {
		if (!json_is_number(v) || !(json_number_value(v) > 0.0) ||
		    json_number_value(v) > 1.0)
			return bad(why, why_size,
			           "'probability' must be a number above 0 and at most 1");
		r->probability = json_number_value(v);
	}
	if (get_int(o, "count", 1, 1000000000, &r->count))
		return bad(why, why_size, "'count' must be a whole number from 1");
	if (get_int(o, "status", 100, 599, &r->status) || (r->status && !known_status(r->status)))
		return bad(why, why_size, "'status' must be one of 401, 403, 418, 429, 500, 503");
	if (get_str(o, "error", error, sizeof(error)) ||
	    (error[0] && strcmp(error, "err_developer_key") != 0))
		return bad(why, why_size, "'error' can only be 'err_developer_key'");
	r->developer_key = error[0] != '\0';
	if (r->developer_key && r->status)
		return bad(why, why_size,
		           "'error' (answered at HTTP 200) and 'status' exclude each other");
	if (get_int(o, "latency_ms", 0, 60000, &r->latency_ms))
		return bad(why, why_size, "'latency_ms' must be from 0 to 60000");
	if (get_int(o, "retry_after", 0, 3600, &r->retry_after_s))
		return bad(why, why_size, "'retry_after' must be from 0 to 3600 seconds");
	smtp = json_object_get(o, "smtp");
	if (smtp && !json_is_null(smtp)) {
		static const char *const stages[] = {"connect", "helo", "mail", "rcpt", "data"};
		size_t i;
		if (r->status || r->developer_key || r->latency_ms || r->path[0] || r->account[0])
			return bad(why, why_size,
			           "an 'smtp' rule has no path, account, status, error or latency");
		if (!json_is_object(smtp) || get_str(smtp, "stage", r->stage, sizeof(r->stage)) ||
		    get_int(smtp, "code", 400, 599, &r->smtp_code) || !r->smtp_code ||
		    get_str(smtp, "text", r->smtp_text, sizeof(r->smtp_text)))
			return bad(why, why_size,
			           "'smtp' is {\"stage\": connect|helo|mail|rcpt|data, \"code\": "
			           "400-599, \"text\": \"...\"}");
		for (i = 0; i < sizeof(stages) / sizeof(stages[0]) && strcmp(r->stage, stages[i]);
		     i++)
			;
		if (i == sizeof(stages) / sizeof(stages[0]))
			return bad(why, why_size,
			           "'smtp.stage' must be connect, helo, mail, rcpt or data");
		if (strpbrk(r->smtp_text, "\r\n"))
			return bad(why, why_size, "'smtp.text' must be one line");
		if (!r->smtp_text[0])
			snprintf(r->smtp_text, sizeof(r->smtp_text), "%s",
			         r->smtp_code < 500 ? "4.3.0 fault injected, try again later"
			                            : "5.3.0 fault injected");
		r->smtp = 1;
		return 0;
	}
	if (!r->status && !r->developer_key && !r->latency_ms)
		return bad(why, why_size, "a rule needs 'status', 'error', 'latency_ms' or 'smtp'");
	return 0;
}

int emu_rule_delete(struct emu *emu, const char *id)
{
	int found = 0;

	pthread_mutex_lock(&emu->fault_mu);
	for (int i = 0; i < emu->nrules; i++) {
		if (strcmp(emu->rules[i].id, id) == 0) {
			memmove(&emu->rules[i], &emu->rules[i + 1],
			        (size_t)(emu->nrules - i - 1) * sizeof(emu->rules[0]));
			atomic_store(&emu->nrules_pub, --emu->nrules);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&emu->fault_mu);
	return found;
}

int emu_rule_add(struct emu *emu, struct emu_rule *r)
{
	int full;

	pthread_mutex_lock(&emu->fault_mu);
	full = emu->nrules == EMU_MAX_RULES;
	if (!full) {
		snprintf(r->id, sizeof(r->id), "f%u", ++emu->next_rule);
		r->created_ms = now_ms();
		emu->rules[emu->nrules] = *r;
		atomic_store(&emu->nrules_pub, ++emu->nrules);
	}
	pthread_mutex_unlock(&emu->fault_mu);
	return full ? MC_ERR_TOO_LARGE : 0;
}

int emu_rules_copy(struct emu *emu, struct emu_rule *out)
{
	int n;

	pthread_mutex_lock(&emu->fault_mu);
	n = emu->nrules;
	memcpy(out, emu->rules, (size_t)n * sizeof(out[0]));
	pthread_mutex_unlock(&emu->fault_mu);
	return n;
}

static int faults(struct emu *emu, const char *method, const char *rest, const char *body,
                  size_t len, struct answer *a)
{
	if (*rest) { /* /__mcapi/faults/{id} */
		if (strcmp(method, "DELETE") != 0)
			return method_not_allowed(a, "DELETE");
		if (!emu_rule_delete(emu, rest))
			return fail(a, 404, "not_found", "no fault rule '%.20s'", rest);
		return ok(a, 200, json_pack("{s:s}", "deleted", rest));
	}
	if (strcmp(method, "GET") == 0) {
		json_t *list = json_array();
		pthread_mutex_lock(&emu->fault_mu);
		for (int i = 0; list && i < emu->nrules; i++)
			json_array_append_new(list, rule_json(&emu->rules[i]));
		pthread_mutex_unlock(&emu->fault_mu);
		return list ? ok(a, 200, json_pack("{s:o}", "rules", list)) : MC_ERR_NOMEM;
	}
	if (strcmp(method, "DELETE") == 0) {
		int n;
		pthread_mutex_lock(&emu->fault_mu);
		n = emu->nrules;
		emu->nrules = 0;
		atomic_store(&emu->nrules_pub, 0);
		pthread_mutex_unlock(&emu->fault_mu);
		return ok(a, 200, json_pack("{s:i}", "deleted", n));
	}
	if (strcmp(method, "POST") != 0)
		return method_not_allowed(a, "GET, POST, DELETE");

	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	struct emu_rule r;
	char why[256];

	if (!o)
		return fail(a, 400, "invalid_json", "the body is not JSON: %s", je.text);
	if (emu_rule_parse(o, &r, why, sizeof(why)) != 0) {
		json_decref(o);
		return fail(a, 400, "invalid_rule", "%s", why);
	}
	json_decref(o);
	if (emu_rule_add(emu, &r) != 0)
		return fail(a, 409, "too_many_rules", "at most %d fault rules at once",
		            EMU_MAX_RULES);
	return ok(a, 201, rule_json(&r));
}

/* ---- /__mcapi/accounts ---- */

int emu_mint(struct emu *emu, const char *name_in, const char *domain_in, char **creds,
             const char **code, char *why, size_t why_size)
{
	const struct config *cfg = emu->srv->cfg;
	char name[65], domain[DOMAIN_NAME_MAX + 1], base[600];
	struct admin_defaults defs = {cfg->region, emu->srv->default_ttl_ms, cfg->max_bindings,
	                              cfg};
	struct err e = {0};
	const char *reason = NULL;
	int rc;

	*creds = NULL;
	if (!name_in || !*name_in) {
		char tag[16];
		random_token(RND_NAME, 6, tag, sizeof(tag));
		snprintf(name, sizeof(name), "Test %s", tag);
	} else if (strlen(name_in) >= sizeof(name)) {
		*code = "invalid_account";
		snprintf(why, why_size, "the name is longer than 64 characters");
		return 400;
	} else {
		snprintf(name, sizeof(name), "%s", name_in);
	}
	if (domain_in && *domain_in &&
	    (strlen(domain_in) > 255 ||
	     domain_name_normalise(domain_in, strlen(domain_in), domain, &reason) != 0)) {
		*code = "invalid_domain";
		snprintf(why, why_size, "'domain': %s", reason ? reason : "not a domain");
		return 400;
	}
	snprintf(base, sizeof(base), "%s", cfg->public_base_url);
	rc = admin_mint_account(emu->srv->store, &defs, name,
	                        domain_in && *domain_in ? domain : NULL, base, creds, &e);
	if (rc == 0)
		return 201;
	*code = rc == MC_ERR_EXISTS        ? "domain_taken"
	        : rc == MC_ERR_UNAVAILABLE ? "unavailable"
	                                   : "store_error";
	if (rc == MC_ERR_EXISTS)
		snprintf(why, why_size, "'%s' is verified in another account", domain);
	else if (rc == MC_ERR_UNAVAILABLE)
		snprintf(why, why_size, "the store is busy; try again");
	else
		snprintf(why, why_size, "the account could not be made (see the log)");
	return rc == MC_ERR_EXISTS ? 409 : rc == MC_ERR_UNAVAILABLE ? 503 : 500;
}

static int accounts(struct emu *emu, const char *method, const char *body, size_t len,
                    struct answer *a)
{
	char name[65] = "", domain_in[256] = "", why[300];
	const char *code = NULL;
	json_error_t je;
	json_t *o = NULL, *creds;
	char *text = NULL;
	int status;

	if (strcmp(method, "POST") != 0)
		return method_not_allowed(a, "POST");
	if (!atomic_load_explicit(&emu->srv->ready, memory_order_acquire))
		return fail(a, 503, "starting",
		            "the server is starting: its store is not open yet");
	if (len && !(o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)))
		return fail(a, 400, "invalid_json", "the body is not JSON: %s", je.text);
	if (o && (!json_is_object(o) || get_str(o, "name", name, sizeof(name)) ||
	          get_str(o, "domain", domain_in, sizeof(domain_in)))) {
		json_decref(o);
		return fail(
		        a, 400, "invalid_account",
		        "the body is {\"name\": up to 64 characters, \"domain\": a domain name}, "
		        "both optional");
	}
	json_decref(o);
	status = emu_mint(emu, name, domain_in, &text, &code, why, sizeof(why));
	if (status != 201)
		return fail(a, status, code, "%s", why);
	creds = json_loads(text, 0, NULL);
	secure_zero(text, strlen(text));
	free(text);
	return creds ? ok(a, 201, creds) : MC_ERR_NOMEM;
}

/* ---- /__mcapi/snapshot and /__mcapi/reset ---- */

/* Whatever this node keeps of the store in memory is stale after an import. A shared store
 * (PostgreSQL) also tells the other nodes: the import's deletes fire the notifications that
 * make their listeners flush (nodes.c). */
static void flush_caches(struct emu *emu)
{
	listcache_invalidate(emu->srv->listcache);
	authcache_flush(emu->srv->authcache, mono_ms());
	/* a test starts afresh: user ids may be handed out again (SQLite), and a drained bucket
	 * must not outlive the state it was drained in (PostgreSQL's are emptied by the import) */
	ratelimit_clear(emu->srv->rl);
	iplimit_clear(emu->srv->ipl);
}

/* An import that failed: the status and code that say why (nothing was changed). */
static int import_failed(struct answer *a, int rc, const struct err *e)
{
	switch (rc) {
	case MC_ERR_INVALID:
		return fail(a, 400, "invalid_snapshot", "%s", e->msg);
	case MC_ERR_STATE:
		return fail(a, 409, "schema_mismatch", "%s", e->msg);
	case MC_ERR_CRYPTO:
		return fail(a, 409, "key_mismatch", "%s", e->msg);
	case MC_ERR_UNAVAILABLE:
		return fail(a, 503, "unavailable", "the store is busy; try again");
	case MC_ERR_NOMEM:
		return rc;
	default:
		return fail(a, 500, "store_error",
		            "the snapshot could not be imported (see the log)");
	}
}

static int snapshot(struct emu *emu, const char *method, const char *body, size_t len,
                    struct answer *a)
{
	struct err e = {0};
	int64_t t0 = mono_ms();
	size_t n = 0;
	int rc;

	if (strcmp(method, "GET") == 0) {
		rc = store_snapshot_export(emu->srv->store, &a->raw, &n, &e);
		if (rc == 0) {
			a->status = 200;
			return 0;
		}
		log_warn("msg=\"snapshot export failed\" error=\"%s\"", e.msg);
		if (rc == MC_ERR_UNAVAILABLE)
			return fail(a, 503, "unavailable", "the store is busy; try again");
		return rc == MC_ERR_NOMEM ? rc
		                          : fail(a, 500, "store_error",
		                                 "the snapshot could not be made (see the log)");
	}
	if (strcmp(method, "PUT") != 0)
		return method_not_allowed(a, "GET, PUT");
	rc = store_snapshot_import(emu->srv->store, body, len, &e);
	if (rc) {
		if (rc != MC_ERR_INVALID && rc != MC_ERR_STATE && rc != MC_ERR_CRYPTO)
			log_warn("msg=\"snapshot import failed\" error=\"%s\"", e.msg);
		return import_failed(a, rc, &e);
	}
	flush_caches(emu);
	log_info("msg=\"snapshot imported\" ms=%lld", (long long)(mono_ms() - t0));
	return ok(a, 200,
	          json_pack("{s:b, s:I}", "imported", 1, "ms", (json_int_t)(mono_ms() - t0)));
}

static int reset(struct emu *emu, const char *method, struct answer *a)
{
	struct err e = {0};
	int64_t t0 = mono_ms();
	int rc;

	if (strcmp(method, "POST") != 0)
		return method_not_allowed(a, "POST");
	rc = store_snapshot_import(emu->srv->store, emu->baseline, emu->baseline_len, &e);
	if (rc) {
		log_warn("msg=\"reset failed\" error=\"%s\"", e.msg);
		return import_failed(a, rc, &e);
	}
	flush_caches(emu);
	/* a reset starts a test afresh: no call recorded, no rule left */
	emu_journal_clear(emu);
	pthread_mutex_lock(&emu->fault_mu);
	emu->nrules = 0;
	atomic_store(&emu->nrules_pub, 0);
	pthread_mutex_unlock(&emu->fault_mu);
	log_info("msg=\"reset to the start-up state\" ms=%lld", (long long)(mono_ms() - t0));
	return ok(a, 200, json_pack("{s:b, s:I}", "reset", 1, "ms", (json_int_t)(mono_ms() - t0)));
}

/* ---- the index and the dispatch ---- */

static int index_page(struct answer *a)
{
	return ok(a, 200,
	          json_pack("{s:s, s:[s,s,s,s,s,s,s,s,s,s,s]}", "service", "mcapid control plane",
	                    "calls", "GET /__mcapi/requests?since=ID&limit=N",
	                    "DELETE /__mcapi/requests", "GET /__mcapi/faults",
	                    "POST /__mcapi/faults", "DELETE /__mcapi/faults[/ID]",
	                    "POST /__mcapi/accounts", "GET /__mcapi/snapshot",
	                    "PUT /__mcapi/snapshot", "POST /__mcapi/reset", "GET /readyz",
	                    "GET /__mcapi/ui/ (the web console)"));
}

int emu_control(struct emu *emu, const char *method, const char *path, const char *query,
                const char *authorization, const char *body, size_t body_len, int *status,
                char **out, const char **allow)
{
	struct answer a = {0, NULL, NULL, NULL};
	const char *p = path + strlen("/__mcapi/");
	int rc;

	if (!authorised(emu, authorization)) {
		int api_key = authorization && strncasecmp(authorization, "MC ", 3) == 0;
		rc = fail(&a, 401, "unauthorized", "%s",
		          api_key ? "the control plane takes the control token "
		                    "(Authorization: Bearer ...), never an API key"
		                  : "send the control token: Authorization: Bearer <control_token> "
		                    "(printed at start, and in dev-credentials.json)");
	} else if (!*p) {
		rc = strcmp(method, "GET") == 0 ? index_page(&a) : method_not_allowed(&a, "GET");
	} else if (strcmp(p, "requests") == 0) {
		rc = requests(emu, method, query, &a);
	} else if (strcmp(p, "faults") == 0) {
		rc = faults(emu, method, "", body, body_len, &a);
	} else if (strncmp(p, "faults/", 7) == 0) {
		rc = faults(emu, method, p + 7, body, body_len, &a);
	} else if (strcmp(p, "accounts") == 0) {
		rc = accounts(emu, method, body, body_len, &a);
	} else if ((strcmp(p, "snapshot") == 0 || strcmp(p, "reset") == 0) &&
	           !atomic_load_explicit(&emu->srv->ready, memory_order_acquire)) {
		rc = fail(&a, 503, "starting", "the server is starting: its store is not open yet");
	} else if (strcmp(p, "snapshot") == 0) {
		rc = snapshot(emu, method, body, body_len, &a);
	} else if (strcmp(p, "reset") == 0) {
		rc = reset(emu, method, &a);
	} else {
		rc = fail(&a, 404, "not_found", "no control call at '%.80s'", path);
	}
	*out = NULL;
	if (rc == 0 && a.raw)
		*out = a.raw;
	else if (rc == 0 && a.body)
		*out = json_dumps(a.body, JSON_COMPACT);
	if (a.raw && *out != a.raw) {
		secure_zero(a.raw, strlen(a.raw));
		free(a.raw);
	}
	json_decref(a.body);
	if (!*out)
		return MC_ERR_NOMEM;
	*status = a.status;
	*allow = a.allow;
	return 0;
}
