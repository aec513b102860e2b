/* Sender policies (API.md §18): /api/managedsender/permit-or-block-sender and
 * /api/policy/blockedsenders/{create,get,delete}-policy. Each write runs in one transaction
 * with its audit row; per-item validation failures are found before anything is written.
 * The policies act on SMTP through mail/policy.c, which reads them on every transaction.
 * Shapes follow the recordings (rapid7 permit_or_block_sender, create_blocked_sender_policy;
 * demisto create_block_sender_policy_response, list_policies_response). */
#include "api.h"
#include "domain_id.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/mail/policy.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define ITEMS_MAX      100
#define LIST_MAX       10000 /* get-policy answers at most this many policies */
#define AUDIT_CAT      "account_logs"
#define MANAGED_PREFIX "MTOKEN:" /* as the recorded managed-sender ids start */

#define GROUP_ID_KIND OPAQUE_GROUP /* the directory's group ids */

#define E_NULL         "err_validation_null"
#define E_BLANK        "err_validation_blank"
#define E_INVALID      "err_validation_invalid_value"
#define E_TOO_MANY     "err_validation_too_many_items"
#define E_EMAIL        "err_validation_invalid_email_address"
#define E_FROM_TYPE    "err_policy_invalid_from_type"
#define E_FROM_VALUE   "err_policy_invalid_from_value"
#define E_TO_TYPE      "err_policy_invalid_to_type"
#define E_TO_VALUE     "err_policy_invalid_to_value"
#define E_POLICY_DATES "err_policy_invalid_dates"
#define E_NOT_FOUND    "err_policy_not_found"
#define DATE_1900_MS   (-2208988800000LL) /* 1900-01-01T00:00:00+0000 */
#define DATE_2100_MS   (4102531199000LL)  /* 2100-01-01T23:59:59+0000 */

static int fail(struct response *res, json_t *key, const char *code, const char *field,
                const char *msg)
{
	response_fail_item(res, key, code, msg, field, 0);
	return 1;
}

static void log_store_error(struct request *req, const char *what, int rc, const struct err *e)
{
	api_log_store_error(req, "policy", what, rc, e);
}

static int check_items(struct request *req, struct response *res)
{
	size_t n = json_array_size(req->data);

	if (n > ITEMS_MAX)
		return fail(res, NULL, E_TOO_MANY, NULL, "too many items; nothing was done");
	if (n == 0)
		return fail(res, NULL, E_NULL, "data", "'data' needs at least one item");
	return 0;
}

/* A plausible address: local@domain.tld, printable, no blanks or brackets. */
static int email_valid(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t n = strlen(s);

	if (n == 0 || n >= POLICY_VALUE_SIZE || !at || at == s || !strchr(at + 1, '.') ||
	    at[1] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '<' || s[i] == '>' || s[i] == ',' ||
		    s[i] == '"' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static void lower_copy(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < size; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
	dst[i] = '\0';
}

static void policy_id(const struct request *req, int64_t row, char out[DOMAIN_ID_SIZE])
{
	opaque_id_encode(req->srv->id_key, OPAQUE_POLICY, row, out);
}

static int audit(struct request *req, int64_t now, struct err *e, const char *type, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

static int audit(struct request *req, int64_t now, struct err *e, const char *type, const char *fmt,
                 ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = api_vauditf(req, req->who.account.id, req->who.user.email, AUDIT_CAT, type, now, NULL,
	                 e, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- permit-or-block-sender ---- */

struct managed_arg {
	json_t *item;
	char sender[POLICY_VALUE_SIZE], to[POLICY_VALUE_SIZE];
	int action; /* enum policy_action */
	int bad;
};

static int read_email(struct response *res, json_t *item, const char *field, char *dst)
{
	const char *s = NULL;
	int got = json_get_string(item, field, &s);

	if (got == 0)
		return fail(res, item, E_NULL, field, "This field is required");
	if (got < 0 || !email_valid(s))
		return fail(res, item, E_EMAIL, field, "Email address is not valid");
	lower_copy(dst, POLICY_VALUE_SIZE, s);
	return 0;
}

static void managed_read(struct response *res, json_t *item, struct managed_arg *a)
{
	const char *act = NULL;
	int got;

	memset(a, 0, sizeof(*a));
	a->item = item;
	if (!json_is_object(item)) {
		a->bad = fail(res, item, E_INVALID, NULL, "each item must be an object");
		return;
	}
	if ((a->bad = read_email(res, item, "sender", a->sender)) != 0 ||
	    (a->bad = read_email(res, item, "to", a->to)) != 0)
		return;
	got = json_get_string(item, "action", &act);
	if (got == 0)
		a->bad = fail(res, item, E_NULL, "action", "This field is required");
	else if (got < 0 || (strcasecmp(act, "permit") && strcasecmp(act, "block")))
		a->bad = fail(res, item, E_INVALID, "action", "action must be permit or block");
	else
		a->action = strcasecmp(act, "permit") == 0 ? POLICY_PERMIT : POLICY_BLOCK;
}

int api_policy_permit_or_block(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	size_t n = json_array_size(req->data);
	struct managed_arg *args = NULL;
	int64_t now = now_ms();
	struct err e = {0};
	int rc = 0, in_tx = 0;

	if (check_items(req, res))
		return 0;
	if (!(args = calloc(n, sizeof(*args))))
		return MC_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		managed_read(res, json_array_get(req->data, i), &args[i]);
	if ((rc = store_tx_begin(st, &e)) != 0)
		goto out;
	in_tx = 1;
	for (size_t i = 0; i < n; i++) {
		struct managed_arg *a = &args[i];
		struct sender_policy p;
		char id[DOMAIN_ID_SIZE], full[sizeof(MANAGED_PREFIX) + DOMAIN_ID_SIZE];
		json_t *o;

		if (a->bad)
			continue;
		memset(&p, 0, sizeof(p));
		p.account_id = req->who.account.id;
		p.kind = POLICY_MANAGED_SENDER;
		p.action = a->action;
		memcpy(p.from_part, "envelope_from", sizeof("envelope_from"));
		memcpy(p.from_type, "individual_email_address", sizeof("individual_email_address"));
		memcpy(p.to_type, "individual_email_address", sizeof("individual_email_address"));
		memcpy(p.from_value, a->sender, sizeof(a->sender));
		memcpy(p.to_value, a->to, sizeof(a->to));
		p.from_eternal = p.to_eternal = 1;
		p.from_date = DATE_1900_MS;
		p.to_date = DATE_2100_MS;
		p.enabled = 1;
		p.created = p.updated = now;
		if ((rc = store_policy_put(st, &p, &e)) != 0)
			goto out;
		policy_id(req, p.id, id);
		snprintf(full, sizeof(full), "%s%s", MANAGED_PREFIX, id);
		if ((rc = audit(req, now, &e,
		                a->action == POLICY_PERMIT ? "Managed Sender Permitted"
		                                           : "Managed Sender Blocked",
		                "%s Sender - Id: %s, Sender: %s, To: %s",
		                a->action == POLICY_PERMIT ? "Permitted" : "Blocked", full,
		                a->sender, a->to)) != 0)
			goto out;
		o = json_pack("{s:s, s:s, s:s, s:s}", "id", full, "sender", a->sender, "to", a->to,
		              "type", a->action == POLICY_PERMIT ? "Permit" : "Block");
		if (!o) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
		response_add_data(res, o);
	}
	rc = store_tx_commit(st, &e);
	in_tx = 0;
out:
	if (in_tx)
		store_tx_rollback(st);
	if (rc)
		log_store_error(req, "permit-or-block-sender", rc, &e);
	free(args);
	return rc;
}

/* ---- blocked-senders policies: JSON ---- */

/* {type, emailAddress | emailDomain | groupId} of one side. */
static json_t *side_json(const struct request *req, const char *type, const char *value,
                         char *shown, size_t size)
{
	json_t *o = json_pack("{s:s}", "type", type);
	int64_t row;
	char *end = NULL;

	shown[0] = '\0';
	if (!o)
		return NULL;
	if (!strcmp(type, "individual_email_address")) {
		snprintf(shown, size, "%s", value);
		json_object_set_new(o, "emailAddress", json_string(value));
	} else if (!strcmp(type, "email_domain")) {
		snprintf(shown, size, "%s", value);
		json_object_set_new(o, "emailDomain", json_string(value));
	} else if (!strcmp(type, "profile_group")) {
		char id[DOMAIN_ID_SIZE];
		row = strtoll(value, &end, 10);
		opaque_id_encode(req->srv->id_key, GROUP_ID_KIND, row, id);
		snprintf(shown, size, "%s", id);
		json_object_set_new(o, "groupId", json_string(id));
	}
	return o;
}

static json_t *policy_json(const struct request *req, const struct sender_policy *p)
{
	char id[DOMAIN_ID_SIZE], fd[DATE_ISO_LEN], td[DATE_ISO_LEN], ct[DATE_ISO_LEN],
	        lu[DATE_ISO_LEN], fv[POLICY_VALUE_SIZE], tv[POLICY_VALUE_SIZE];
	json_t *from, *to, *pol, *o;

	policy_id(req, p->id, id);
	date_format_iso(p->from_eternal ? DATE_1900_MS : p->from_date, fd);
	date_format_iso(p->to_eternal ? DATE_2100_MS : p->to_date, td);
	date_format_iso(p->created, ct);
	date_format_iso(p->updated, lu);
	from = side_json(req, p->from_type, p->from_value, fv, sizeof(fv));
	to = side_json(req, p->to_type, p->to_value, tv, sizeof(tv));
	pol = json_pack("{s:s, s:s, s:o, s:o, s:s}", "description", p->description, "fromPart",
	                p->from_part, "from", from, "to", to, "fromType", p->from_type);
	if (!pol)
		return NULL;
	if (fv[0])
		json_object_set_new(pol, "fromValue", json_string(fv));
	json_object_set_new(pol, "toType", json_string(p->to_type));
	if (tv[0])
		json_object_set_new(pol, "toValue", json_string(tv));
	if (p->comment[0])
		json_object_set_new(pol, "comment", json_string(p->comment));
	o = json_pack("{s:b, s:b, s:s, s:s, s:b, s:b, s:{}, s:b, s:b, s:s, s:s}", "fromEternal",
	              p->from_eternal, "toEternal", p->to_eternal, "fromDate", fd, "toDate", td,
	              "override", p->override, "bidirectional", p->bidirectional, "conditions",
	              "enabled", p->enabled, "enforced", p->enforced, "createTime", ct,
	              "lastUpdated", lu);
	if (!o || json_object_update(pol, o) != 0) {
		json_decref(o);
		json_decref(pol);
		return NULL;
	}
	json_decref(o);
	return json_pack("{s:s, s:s, s:o}", "option",
	                 p->action == POLICY_NO_ACTION ? "no_action" : "block_sender", "id", id,
	                 "policy", pol);
}

/* ---- create-policy ---- */

/* Reads one side (fromType/fromValue or toType/toValue) into type/value; 0 or 1 after a
 * fail entry. A group is named by its opaque id and stored as its row. */
static int read_side(struct request *req, struct response *res, json_t *item, json_t *pol, int from,
                     char *type, char *value)
{
	const char *t = NULL, *v = NULL;
	const char *tk = from ? "fromType" : "toType", *vk = from ? "fromValue" : "toValue";
	const char *e_type = from ? E_FROM_TYPE : E_TO_TYPE,
	           *e_val = from ? E_FROM_VALUE : E_TO_VALUE;
	char msg[64];
	int got = json_get_string(pol, tk, &t);

	if (got == 0)
		t = "everyone"; /* the recordings' default: everyone */
	else if (got < 0 || strlen(t) >= POLICY_TYPE_SIZE)
		t = "";
	lower_copy(type, POLICY_TYPE_SIZE, t);
	if (!policy_side_valid(type, "x@y.z") && !policy_side_valid(type, "y.z") &&
	    !policy_side_valid(type, "1")) {
		snprintf(msg, sizeof(msg), "Invalid %s", tk);
		return fail(res, item, e_type, "policy", msg);
	}
	value[0] = '\0';
	if (!strcmp(type, "everyone") || !strcmp(type, "internal_addresses") ||
	    !strcmp(type, "external_addresses"))
		return 0;
	snprintf(msg, sizeof(msg), "Invalid %s", vk);
	if (json_get_string(pol, vk, &v) != 1 || strlen(v) >= POLICY_VALUE_SIZE)
		return fail(res, item, e_val, "policy", msg);
	if (!strcmp(type, "profile_group")) {
		int64_t row = 0;
		if (opaque_id_decode(req->srv->id_key, GROUP_ID_KIND, v, strlen(v), &row) != 0)
			return fail(res, item, e_val, "policy", msg);
		snprintf(value, POLICY_VALUE_SIZE, "%lld", (long long)row);
		return 0;
	}
	lower_copy(value, POLICY_VALUE_SIZE, v);
	if (!strcmp(type, "individual_email_address") ? !email_valid(value)
	                                              : !policy_side_valid(type, value))
		return fail(res, item, e_val, "policy", msg);
	return 0;
}

static int read_bool(json_t *o, const char *key, int dflt)
{
	int v = dflt;
	return json_get_bool(o, key, &v) == 1 ? v : dflt;
}

/* Reads a create-policy item into p; 0 or 1 after a fail entry. */
static int create_read(struct request *req, struct response *res, json_t *item,
                       struct sender_policy *p)
{
	const char *opt = NULL, *s = NULL;
	json_t *pol;
	int got;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(item))
		return fail(res, item, E_INVALID, NULL, "each item must be an object");
	got = json_get_string(item, "option", &s);
	opt = got == 1 ? s : NULL;
	if (!opt)
		return fail(res, item, got ? E_INVALID : E_NULL, "option",
		            "option must be block_sender or no_action");
	if (!strcasecmp(opt, "block_sender"))
		p->action = POLICY_BLOCK;
	else if (!strcasecmp(opt, "no_action"))
		p->action = POLICY_NO_ACTION;
	else
		return fail(res, item, E_INVALID, "option",
		            "option must be block_sender or no_action");
	pol = json_get_ci(item, "policy");
	if (!pol || !json_is_object(pol))
		return fail(res, item, E_NULL, "policy", "This field is required");
	got = json_get_string(pol, "description", &s);
	if (got != 1 || !*s)
		return fail(res, item, got < 0 ? E_INVALID : E_BLANK, "description",
		            "description is required");
	if (strlen(s) >= POLICY_TEXT_SIZE)
		return fail(res, item, E_INVALID, "description", "description is too long");
	snprintf(p->description, sizeof(p->description), "%s", s);
	if (json_get_string(pol, "comment", &s) == 1)
		snprintf(p->comment, sizeof(p->comment), "%s", s);
	got = json_get_string(pol, "fromPart", &s);
	if (got == 0)
		s = "envelope_from";
	if (got < 0 || (strcasecmp(s, "envelope_from") && strcasecmp(s, "header_from") &&
	                strcasecmp(s, "both")))
		return fail(res, item, E_INVALID, "fromPart",
		            "fromPart must be envelope_from, header_from or both");
	lower_copy(p->from_part, sizeof(p->from_part), s);
	if (read_side(req, res, item, pol, 1, p->from_type, p->from_value) ||
	    read_side(req, res, item, pol, 0, p->to_type, p->to_value))
		return 1;
	p->from_eternal = read_bool(pol, "fromEternal", 1);
	p->to_eternal = read_bool(pol, "toEternal", 1);
	p->from_date = DATE_1900_MS;
	p->to_date = DATE_2100_MS;
	if (!p->from_eternal) {
		if (json_get_string(pol, "fromDate", &s) != 1 ||
		    date_parse_iso(s, strlen(s), &p->from_date) != 0)
			return fail(res, item, E_POLICY_DATES, "fromDate",
			            "fromDate is required when fromEternal is false");
	}
	if (!p->to_eternal) {
		if (json_get_string(pol, "toDate", &s) != 1 ||
		    date_parse_iso(s, strlen(s), &p->to_date) != 0)
			return fail(res, item, E_POLICY_DATES, "toDate",
			            "toDate is required when toEternal is false");
	}
	if (p->from_date > p->to_date)
		return fail(res, item, E_POLICY_DATES, "toDate", "toDate is before fromDate");
	p->override = read_bool(pol, "override", 0);
	p->bidirectional = read_bool(pol, "bidirectional", 0);
	p->enforced = read_bool(pol, "enforced", 0);
	p->enabled = read_bool(pol, "enabled", 1);
	p->account_id = req->who.account.id;
	p->kind = POLICY_BLOCKED_SENDERS;
	return 0;
}

static const char *side_text(const char *type, const char *value, char *buf, size_t size)
{
	if (!*value)
		return type;
	snprintf(buf, size, "%s %s", type, value);
	return buf;
}

int api_policy_create(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	size_t n = json_array_size(req->data);
	struct sender_policy *ps = NULL;
	int *bad = NULL;
	int64_t now = now_ms();
	struct err e = {0};
	int rc = 0, in_tx = 0;

	if (check_items(req, res))
		return 0;
	ps = calloc(n, sizeof(*ps));
	bad = calloc(n, sizeof(*bad));
	if (!ps || !bad) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		bad[i] = create_read(req, res, json_array_get(req->data, i), &ps[i]);
	if ((rc = store_tx_begin(st, &e)) != 0)
		goto out;
	in_tx = 1;
	for (size_t i = 0; i < n; i++) {
		char id[DOMAIN_ID_SIZE], f[400], t[400];
		json_t *o;

		if (bad[i])
			continue;
		ps[i].created = ps[i].updated = now;
		if ((rc = store_policy_put(st, &ps[i], &e)) != 0)
			goto out;
		policy_id(req, ps[i].id, id);
		if ((rc = audit(req, now, &e, "Blocked Senders Policy Created",
		                "Created Blocked Senders Policy - Id: %s, Description: %s, Action: "
		                "%s, "
		                "From: %s, To: %s",
		                id, ps[i].description,
		                ps[i].action == POLICY_NO_ACTION ? "no_action" : "block_sender",
		                side_text(ps[i].from_type, ps[i].from_value, f, sizeof(f)),
		                side_text(ps[i].to_type, ps[i].to_value, t, sizeof(t)))) != 0)
			goto out;
		if (!(o = policy_json(req, &ps[i]))) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
		response_add_data(res, o);
	}
	rc = store_tx_commit(st, &e);
	in_tx = 0;
out:
	if (in_tx)
		store_tx_rollback(st);
	if (rc)
		log_store_error(req, "create-policy", rc, &e);
	free(ps);
	free(bad);
	return rc;
}

/* ---- get-policy ---- */

struct lister {
	const struct request *req;
	struct response *res;
	size_t count;
	int64_t last;
};

static int list_cb(void *arg, const struct sender_policy *p)
{
	struct lister *l = arg;
	json_t *o = policy_json(l->req, p);

	if (!o)
		return MC_ERR_NOMEM;
	response_add_data(l->res, o);
	l->count++;
	l->last = p->id;
	return 0;
}

/* Reads an item's "id" as a policy row; 0, or 1 after a fail entry. */
static int read_policy_id(struct request *req, struct response *res, json_t *item, int64_t *row,
                          const char **shown)
{
	const char *id = NULL;
	int got = json_get_string(item, "id", &id);

	if (got == 0)
		return fail(res, item, E_NULL, "id", "This field is required");
	if (got < 0 || !*id)
		return fail(res, item, got < 0 ? E_INVALID : E_BLANK, "id",
		            "id must be a policy id");
	*shown = id;
	if (opaque_id_decode(req->srv->id_key, OPAQUE_POLICY, id, strlen(id), row) != 0)
		return fail(res, item, E_NOT_FOUND, "id", "no policy has this id");
	return 0;
}

int api_policy_get(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	size_t n = json_array_size(req->data);
	struct lister l = {req, res, 0, 0};
	struct sender_policy p;
	struct err e = {0};
	int rc = 0;

	if (n > ITEMS_MAX) {
		fail(res, NULL, E_TOO_MANY, NULL, "too many items; nothing was done");
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(req->data, i);
		const char *shown = NULL;
		int64_t row = 0;

		if (!json_get_ci(item, "id"))
			continue;
		if (read_policy_id(req, res, item, &row, &shown))
			continue;
		rc = store_policy_get(st, req->who.account.id, row, &p, &e);
		if (rc == MC_ERR_NOT_FOUND || (!rc && p.kind != POLICY_BLOCKED_SENDERS)) {
			fail(res, item, E_NOT_FOUND, "id", "no policy has this id");
			rc = 0;
			continue;
		}
		if (rc || (rc = list_cb(&l, &p)) != 0)
			goto out;
	}
	if (n == 0 || (n == 1 && !json_get_ci(json_array_get(req->data, 0), "id")))
		rc = store_policy_list(st, req->who.account.id, POLICY_BLOCKED_SENDERS, 0, LIST_MAX,
		                       list_cb, &l, &e);
out:
	if (rc)
		log_store_error(req, "get-policy", rc, &e);
	return rc;
}

/* ---- delete-policy ---- */

int api_policy_delete(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	size_t n = json_array_size(req->data);
	int64_t now = now_ms();
	struct err e = {0};
	int rc = 0, in_tx = 0;

	if (check_items(req, res))
		return 0;
	if ((rc = store_tx_begin(st, &e)) != 0)
		goto out;
	in_tx = 1;
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(req->data, i);
		struct sender_policy p;
		const char *shown = NULL;
		int64_t row = 0;

		if (read_policy_id(req, res, item, &row, &shown))
			continue;
		rc = store_policy_get(st, req->who.account.id, row, &p, &e);
		if (rc == MC_ERR_NOT_FOUND || (!rc && p.kind != POLICY_BLOCKED_SENDERS)) {
			fail(res, item, E_NOT_FOUND, "id", "no policy has this id");
			rc = 0;
			continue;
		}
		if (rc || (rc = store_policy_delete(st, req->who.account.id, row, &e)) != 0 ||
		    (rc = audit(req, now, &e, "Blocked Senders Policy Deleted",
		                "Deleted Blocked Senders Policy - Id: %s, Description: %s", shown,
		                p.description)) != 0)
			goto out;
		response_add_data(res, json_pack("{s:s}", "id", shown));
	}
	rc = store_tx_commit(st, &e);
	in_tx = 0;
out:
	if (in_tx)
		store_tx_rollback(st);
	if (rc)
		log_store_error(req, "delete-policy", rc, &e);
	return rc;
}
