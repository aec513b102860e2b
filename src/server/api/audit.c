/* The Audit area (API.md §9): get-categories and get-audit-events. An events request has
 * one item {startDateTime, endDateTime, query?, categories?}; without an item it means the
 * whole window. The window is at most the last 60 days: an earlier start is moved up to
 * now - 60 days rather than refused, so "the last 90 days" still answers what exists.
 * Pages are keyset pages on (eventTime, id), newest first; the page token carries the
 * normalised filters (dates resolved to the millisecond) and the last record returned. */
#include "api.h"
#include "paginate.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "server/server.h"
#include "server/store/store_audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define WINDOW_MS (60LL * 86400000)
#define QUERY_MAX 256

static const struct {
	const char *code, *name;
} categories[AUDIT_CATEGORIES_MAX] = {
        {"authentication_logs", "Authentication Logs"},
        {"account_logs", "Account Logs"},
        {"integrations_and_apis", "Integrations and APIs"},
        {"user_account_and_role_logs", "User Account and Role Logs"},
};

int api_audit_get_categories(struct request *req, struct response *res)
{
	(void)req;
	for (size_t i = 0; i < AUDIT_CATEGORIES_MAX; i++) {
		json_t *item = json_pack("{s:s, s:s}", "code", categories[i].code, "name",
		                         categories[i].name);
		if (!item)
			return MC_ERR_NOMEM;
		response_add_data(res, item);
	}
	return 0;
}

int api_vauditf(struct request *req, int64_t account_id, const char *user, const char *category,
                const char *type, int64_t now, const char *detail, struct err *e, const char *fmt,
                va_list ap)
{
	struct audit_origin o;

	o.ip = req->client_ip;
	/* the name, as the real service shows it; the app id where an application has none */
	o.application = req->who.app.name[0] ? req->who.app.name : req->who.app.app_id;
	o.detail = detail;
	return store_audit_voriginf(req->srv->store, account_id, user, category, type, now, &o, e,
	                            fmt, ap);
}

int api_auditf(struct request *req, int64_t account_id, const char *user, const char *category,
               const char *type, int64_t now, const char *detail, struct err *e, const char *fmt,
               ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = api_vauditf(req, account_id, user, category, type, now, detail, e, fmt, ap);
	va_end(ap);
	return rc;
}

struct filter {
	int64_t start, end;
	char text[QUERY_MAX + 1];
	const char *cats[AUDIT_CATEGORIES_MAX];
};

static int invalid(struct response *res, json_t *item, const char *code, const char *field,
                   const char *message)
{
	response_fail_item(res, item, code, message, field, 0);
	return 1;
}

/* Reads a required date of item into *ms. 0, or 1 after a fail entry. */
static int read_date(struct response *res, json_t *item, const char *field, int64_t *ms)
{
	json_t *v = json_get_ci(item, field);
	const char *s;
	char msg[160];

	if (!v)
		return invalid(res, item, "err_validation_null", field,
		               strcmp(field, "startDateTime") == 0 ? "startDateTime is required"
		                                                   : "endDateTime is required");
	if (!json_is_string(v))
		return invalid(res, item, "err_validation_invalid_value", field,
		               "a date must be a string like 2015-11-24T12:50:11+0000");
	s = json_string_value(v);
	while (*s == ' ')
		s++;
	if (!*s)
		return invalid(res, item, "err_validation_blank", field, "the date is empty");
	if (date_parse_iso(s, strlen(s), ms) != 0) {
		snprintf(msg, sizeof(msg),
		         "'%.40s' is not an ISO 8601 date like "
		         "2015-11-24T12:50:11+0000",
		         s);
		return invalid(res, item, "err_validation_invalid_value", field, msg);
	}
	return 0;
}

static int add_category(struct filter *f, const char *s, size_t n)
{
	for (size_t i = 0; i < AUDIT_CATEGORIES_MAX; i++) {
		if (strlen(categories[i].code) != n || strncasecmp(categories[i].code, s, n) != 0)
			continue;
		for (size_t j = 0; j < AUDIT_CATEGORIES_MAX; j++) {
			if (f->cats[j] == categories[i].code)
				return 0;
			if (!f->cats[j]) {
				f->cats[j] = categories[i].code;
				return 0;
			}
		}
	}
	return MC_ERR_INVALID;
}

/* categories: an array of codes, or (leniently) one string of comma-separated codes. */
static int read_categories(struct response *res, json_t *item, struct filter *f)
{
	json_t *v = json_get_ci(item, "categories"), *c;
	size_t i;
	int bad = 0;

	if (!v)
		return 0;
	if (json_is_string(v)) {
		const char *p = json_string_value(v);
		while (*p && !bad) {
			const char *end = strchr(p, ','), *a = p, *z = end ? end : p + strlen(p);
			while (a < z && *a == ' ')
				a++;
			while (z > a && z[-1] == ' ')
				z--;
			if (z > a && add_category(f, a, (size_t)(z - a)) != 0)
				bad = 1;
			p = end ? end + 1 : p + strlen(p);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c)
		{
			if (!json_is_string(c) ||
			    add_category(f, json_string_value(c), json_string_length(c)) != 0)
				bad = 1;
		}
	} else {
		bad = 1;
	}
	if (bad)
		return invalid(res, item, "err_validation_invalid_value", "categories",
		               "categories must be a list of: authentication_logs, account_logs, "
		               "integrations_and_apis, user_account_and_role_logs");
	return 0;
}

/* Reads the filters into f (0) or adds a fail entry (1). */
static int read_filters(struct response *res, json_t *filters, int64_t now, struct filter *f)
{
	json_t *item, *v;

	memset(f, 0, sizeof(*f));
	f->start = now - WINDOW_MS;
	f->end = now;
	if (json_array_size(filters) == 0)
		return 0;
	item = json_array_get(filters, 0);
	if (json_array_size(filters) > 1)
		return invalid(res, item, "err_validation_invalid_value", NULL,
		               "get-audit-events takes one item: {startDateTime, endDateTime, "
		               "query, categories}");
	if (read_date(res, item, "startDateTime", &f->start) ||
	    read_date(res, item, "endDateTime", &f->end))
		return 1;
	if (f->start > f->end)
		return invalid(res, item, "err_validation_invalid_value", "endDateTime",
		               "endDateTime is before startDateTime");
	v = json_get_ci(item, "query");
	if (v && (!json_is_string(v) || json_string_length(v) > QUERY_MAX))
		return invalid(res, item, "err_validation_invalid_value", "query",
		               "query must be a string of at most 256 characters");
	if (v)
		snprintf(f->text, sizeof(f->text), "%s", json_string_value(v));
	return read_categories(res, item, f);
}

/* The filters as the page token keeps them: dates resolved to the millisecond. */
static json_t *normalised(const struct filter *f)
{
	char s[DATE_ISO_LEN + 4], e[DATE_ISO_LEN + 4];
	json_t *cats = json_array(), *item;

	date_format_iso(f->start, s);
	date_format_iso(f->end, e);
	/* "2015-04-02T15:58:47+0000" → "2015-04-02T15:58:47.123+0000" */
	snprintf(s + 19, sizeof(s) - 19, ".%03d+0000", (int)(((f->start % 1000) + 1000) % 1000));
	snprintf(e + 19, sizeof(e) - 19, ".%03d+0000", (int)(((f->end % 1000) + 1000) % 1000));
	for (size_t i = 0; cats && i < AUDIT_CATEGORIES_MAX && f->cats[i]; i++)
		json_array_append_new(cats, json_string(f->cats[i]));
	item = json_pack("{s:s, s:s, s:s, s:o}", "startDateTime", s, "endDateTime", e, "query",
	                 f->text, "categories", cats);
	return item ? json_pack("[o]", item) : NULL;
}

struct collect {
	json_t *data;
	size_t want, got;
	int64_t last_time;
	char last_id[AUDIT_ID_SIZE];
	int more;
};

static int collect(void *arg, const struct audit_record *r)
{
	struct collect *c = arg;
	char when[DATE_ISO_LEN];
	json_t *item;

	if (c->got == c->want) {
		c->more = 1; /* the one record past the page */
		return 0;
	}
	date_format_iso(r->time, when);
	item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", r->id, "auditType", r->audit_type,
	                 "user", r->user, "eventTime", when, "eventInfo", r->info, "category",
	                 r->category);
	if (!item || json_array_append_new(c->data, item) != 0)
		return MC_ERR_NOMEM;
	c->got++;
	c->last_time = r->time;
	memcpy(c->last_id, r->id, sizeof(c->last_id));
	return 0;
}

int api_audit_get_events(struct request *req, struct response *res)
{
	int64_t now = now_ms();
	struct audit_query q;
	struct collect c = {0};
	struct filter f;
	struct page pg;
	json_t *next = NULL, *norm = NULL, *v;
	int rc;

	rc = page_begin(req, res, &pg);
	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	if (read_filters(res, pg.filters, now, &f) != 0) {
		rc = page_finish(req, res, &pg, 0, NULL, -1); /* §8: pagination even then */
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.account_id = req->who.account.id;
	q.start = f.start < now - WINDOW_MS ? now - WINDOW_MS : f.start; /* the 60-day window */
	q.end = f.end;
	q.text = f.text;
	memcpy(q.categories, f.cats, sizeof(q.categories));
	q.limit = (size_t)pg.size + 1;
	if (pg.after) {
		v = json_object_get(pg.after, "i");
		if (!json_is_integer(json_object_get(pg.after, "t")) || !json_is_string(v) ||
		    json_string_length(v) >= AUDIT_ID_SIZE) {
			response_fail_item(res, NULL, "err_validation_invalid_value",
			                   "the page token is not valid for this call", "pageToken",
			                   0);
			rc = page_finish(req, res, &pg, 0, NULL, -1);
			goto out;
		}
		q.has_cursor = 1;
		q.cursor_time = json_integer_value(json_object_get(pg.after, "t"));
		q.cursor_id = json_string_value(v);
	}
	c.data = res->data;
	c.want = (size_t)pg.size;
	if (q.start <= q.end) {
		rc = store_audit_query(req->srv->store, &q, collect, &c, NULL);
		if (rc)
			goto out;
	}
	if (c.more) {
		next = json_pack("{s:I, s:s}", "t", (json_int_t)c.last_time, "i", c.last_id);
		norm = normalised(&f);
		if (!next || !norm) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
		json_decref(pg.filters);
		pg.filters = json_incref(norm);
	}
	rc = page_finish(req, res, &pg, c.got, next, -1);
out:
	json_decref(next);
	json_decref(norm);
	page_release(&pg);
	return rc;
}
