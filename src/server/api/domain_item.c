/* Shared pieces of the Domain API handlers; see domain_item.h. */
#include "domain_item.h"

#include "api.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "server/config.h"
#include "server/server.h"
#include "server/store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define DAY_MS 86400000LL

int domain_items_check(struct request *req, struct response *res, size_t min)
{
	size_t n = json_array_size(req->data);

	if (n > DOMAIN_MAX_ITEMS) {
		char msg[96];
		snprintf(msg, sizeof(msg), "at most %d items per call, %zu given; nothing was done",
		         DOMAIN_MAX_ITEMS, n);
		response_fail_item(res, NULL, E_TOO_MANY, msg, NULL, 0);
		return 1;
	}
	if (n < min) {
		response_fail_item(res, NULL, E_NULL, "'data' needs at least one item", "data", 0);
		return 1;
	}
	return 0;
}

static void set_fail(struct domain_arg *a, const char *code, const char *field, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static void set_fail(struct domain_arg *a, const char *code, const char *field, const char *fmt,
                     ...)
{
	va_list ap;

	if (a->code)
		return; /* the first problem is the one reported */
	a->code = code;
	a->field = field;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
}

/* The member name of obj that json_get_ci(obj, key) finds (the exact one preferred). */
static const char *key_name(json_t *obj, const char *key)
{
	const char *k;
	json_t *m;

	if (json_object_get(obj, key))
		return key;
	json_object_foreach(obj, k, m)
	{
		if (strcasecmp(k, key) == 0)
			return k;
	}
	return key;
}

/* Reads a string member: 1 present and non-blank, 0 after recording a failure. */
static int read_string(json_t *item, const char *field, struct domain_arg *a, json_t **out)
{
	json_t *v = json_get_ci(item, field);

	*out = v;
	if (!v || json_is_null(v)) {
		set_fail(a, E_NULL, field, "'%s' is required", field);
		return 0;
	}
	if (!json_is_string(v)) {
		set_fail(a, E_INVALID_VALUE, field, "'%s' must be a string", field);
		return 0;
	}
	if (domain_name_is_blank(json_string_value(v), json_string_length(v))) {
		set_fail(a, E_BLANK, field, "'%s' is empty", field);
		return 0;
	}
	return 1;
}

static void read_inbound(json_t *item, enum domain_inbound_rule rule, struct domain_arg *a)
{
	static const char *const types[] = {"any", "smtp", "ldap", "known"};
	json_t *v = json_get_ci(item, "inboundType");
	const char *s;

	if (rule == INBOUND_IGNORED || (rule == INBOUND_OPTIONAL && (!v || json_is_null(v))))
		return;
	if (!read_string(item, "inboundType", a, &v))
		return;
	s = json_string_value(v);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(s, types[i]) == 0) {
			memcpy(a->inbound, types[i], strlen(types[i]) + 1);
			json_object_set_new(a->key, key_name(item, "inboundType"),
			                    json_string(types[i]));
			return;
		}
	}
	set_fail(a, E_INVALID_VALUE, "inboundType",
	         "'inboundType' must be one of any, smtp, ldap, known");
}

void domain_arg_read(json_t *item, enum domain_inbound_rule rule, int by_id, struct domain_arg *a)
{
	json_t *v = NULL;
	const char *why = NULL;

	memset(a, 0, sizeof(*a));
	a->key = json_is_object(item) ? json_deep_copy(item) : json_object();
	if (!a->key)
		a->key = json_object();
	if (by_id && json_get_ci(item, "id") && !json_is_null(json_get_ci(item, "id"))) {
		if (read_string(item, "id", a, &v)) {
			if (json_string_length(v) >= sizeof(a->id))
				set_fail(a, E_NOT_FOUND, "id", "no domain with this id");
			else
				memcpy(a->id, json_string_value(v), json_string_length(v) + 1);
		}
		return;
	}
	if (read_string(item, "domain", a, &v)) {
		if (domain_name_normalise(json_string_value(v), json_string_length(v), a->name,
		                          &why) != 0)
			set_fail(a, E_INVALID_DOMAIN, "domain", "%s", why);
		else
			json_object_set_new(a->key, key_name(item, "domain"), json_string(a->name));
	}
	read_inbound(item, rule, a);
}

void domain_arg_release(struct domain_arg *a)
{
	json_decref(a->key);
	a->key = NULL;
}

void domain_arg_fail(struct response *res, const struct domain_arg *a)
{
	response_fail_item(res, a->key, a->code, a->msg, a->field, 0);
}

void domain_fail(struct response *res, json_t *key, const char *code, const char *field,
                 const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int retry = strcmp(code, E_TXT) == 0 || strcmp(code, E_DNS) == 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	response_fail_item(res, key, code, msg, field, retry);
}

static json_t *date_json(int64_t ms)
{
	char s[DATE_ISO_LEN];

	date_format_iso(ms, s);
	return json_string(s);
}

void domain_id_of(const struct request *req, const struct domain *d, char out[DOMAIN_ID_SIZE])
{
	domain_id_encode(req->srv->id_key, d->row, out);
}

int domain_write_pending(struct buf *b, const struct request *req, const struct domain *d)
{
	char id[DOMAIN_ID_SIZE], expiry[DATE_ISO_LEN], created[DATE_ISO_LEN];
	int rc;

	domain_id_of(req, d, id);
	date_format_iso(d->expiry, expiry);
	date_format_iso(d->created, created);
	if ((rc = buf_addc(b, '{')) || (rc = json_write_member(b, 1, "domain", d->name)) ||
	    (rc = json_write_member(b, 0, "expiry", expiry)) ||
	    (rc = json_write_member(b, 0, "id", id)) ||
	    (rc = json_write_member(b, 0, "token", d->token)) ||
	    (rc = json_write_member(b, 0, "created", created)))
		return rc;
	return buf_addc(b, '}');
}

int domain_write_internal(struct buf *b, const struct request *req, const struct domain *d)
{
	char id[DOMAIN_ID_SIZE];
	int rc;

	domain_id_of(req, d, id);
	if ((rc = buf_addc(b, '{')) || (rc = json_write_member(b, 1, "id", id)) ||
	    (rc = json_write_member(b, 0, "domain", d->name)) ||
	    (rc = buf_adds(b, d->send_only ? ",\"sendOnly\":true" : ",\"sendOnly\":false")) ||
	    (rc = buf_adds(b, d->local ? ",\"local\":true" : ",\"local\":false")) ||
	    (rc = json_write_member(b, 0, "inboundType", d->inbound_type)))
		return rc;
	return buf_addc(b, '}');
}

json_t *domain_json_internal(const struct request *req, const struct domain *d)
{
	char id[DOMAIN_ID_SIZE];

	domain_id_of(req, d, id);
	return json_pack("{s:s, s:s, s:b, s:b, s:s}", "id", id, "domain", d->name, "sendOnly",
	                 d->send_only != 0, "local", d->local != 0, "inboundType", d->inbound_type);
}

json_t *domain_json_created(const struct request *req, const struct domain *d)
{
	char id[DOMAIN_ID_SIZE];

	domain_id_of(req, d, id);
	if (d->state == DOMAIN_INTERNAL)
		return json_pack("{s:s, s:s, s:o}", "id", id, "domain", d->name, "created",
		                 date_json(d->created));
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", id, "domain", d->name, "token",
	                 d->token, "created", date_json(d->created), "expiry",
	                 date_json(d->expiry));
}

json_t *domain_json_status(const struct request *req, const struct domain *d, int64_t now)
{
	char id[DOMAIN_ID_SIZE];
	json_t *o;

	domain_id_of(req, d, id);
	o = json_pack("{s:s, s:s, s:s, s:o}", "id", id, "domain", d->name, "status",
	              d->state == DOMAIN_INTERNAL ? "verified"
	              : d->expiry < now           ? "expired"
	                                          : "pending",
	              "created", date_json(d->created));
	if (!o)
		return NULL;
	if (d->state == DOMAIN_INTERNAL)
		json_object_set_new(o, "verified",
		                    date_json(d->verified ? d->verified : d->created));
	else
		json_object_set_new(o, "expiry", date_json(d->expiry));
	if (d->last_check)
		json_object_set_new(o, "lastCheck",
		                    json_pack("{s:o, s:s}", "time", date_json(d->last_check),
		                              "result", d->last_result));
	return o;
}

int64_t domain_hide_before(const struct request *req, int64_t now)
{
	return now - (int64_t)req->srv->cfg->purge_after_days * DAY_MS;
}

int domain_is_purged(const struct domain *d, int64_t hide_before)
{
	return d->state == DOMAIN_PENDING && d->expiry < hide_before;
}

int domain_audit(struct request *req, int64_t now, struct err *e, const char *type, const char *fmt,
                 ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = api_vauditf(req, req->who.account.id, req->who.user.email, AUDIT_CATEGORY, type, now,
	                 NULL, e, fmt, ap);
	va_end(ap);
	return rc;
}
