/* The Directory area (API.md §17, docs/directory.md): the account's users (get-internal-users,
 * create-user, update-user) and its profile groups, which the API calls folders (find-groups,
 * get-group-members, create-group, add-group-member, remove-group-member). Users are the rows
 * the API's own login users live in, so a user created here is known to the mail pipeline at
 * once. Writes of one call run in one transaction with their audit rows; per-item failures
 * are found before the item's write, so a failed item never undoes another. Lists are keyset
 * pages (paginate.h). Group, member and user ids are opaque (domain_id.h); the account's root
 * folder, which every top-level group has as parent, has an id of its own kind. */
#include "api.h"
#include "domain_id.h"
#include "domain_name.h"
#include "paginate.h"

#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/crypto.h"
#include "server/auth/hashpool.h"
#include "server/auth/password.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_directory.h"
#include "server/store/store_domain.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define MAX_ITEMS 50
#define LOCAL_MAX 64 /* octets of an address's local part (RFC 5321) */

#define E_NULL           "err_validation_null"
#define E_BLANK          "err_validation_blank"
#define E_INVALID        "err_validation_invalid_value"
#define E_TOO_MANY       "err_validation_too_many_items"
#define E_FOLDER         "err_folder_not_found"
#define E_MEMBER_EXISTS  "err_folder_group_member_already_exists"
#define E_EMAIL_NOTFOUND "err_folder_email_address_not_found"
#define E_DOMAIN_NOTFND  "err_folder_domain_not_found"
#define E_USER_EXISTS    "err_user_already_exists"
#define E_USER_NOTFOUND  "err_user_not_found"
#define E_NOT_INTERNAL   "err_user_domain_not_internal"

#define CAT_GROUPS "account_logs"
#define CAT_USERS  "user_account_and_role_logs"

#define LOCKED_FOREVER (INT64_MAX / 2) /* update-user accountLocked: until unlocked */

/* ---- shared pieces ---- */

static void log_store_error(struct request *req, const char *what, int rc, const struct err *e)
{
	api_log_store_error(req, "directory", what, rc, e);
}

static void fail(struct response *res, json_t *key, const char *code, const char *field,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct response *res, json_t *key, const char *code, const char *field,
                 const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	response_fail_item(res, key, code, msg, field, 0);
}

static int audit(struct request *req, const char *category, int64_t now, struct err *e,
                 const char *type, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int audit(struct request *req, const char *category, int64_t now, struct err *e,
                 const char *type, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = api_vauditf(req, req->who.account.id, req->who.user.email, category, type, now, NULL,
	                 e, fmt, ap);
	va_end(ap);
	return rc;
}

/* 0 when data holds min..MAX_ITEMS items, else 1 after the one call-wide fail entry. */
static int items_check(struct request *req, struct response *res, size_t min)
{
	size_t n = json_array_size(req->data);

	if (n > MAX_ITEMS) {
		fail(res, NULL, E_TOO_MANY, NULL,
		     "at most %d items per call, %zu given; nothing was done", MAX_ITEMS, n);
		return 1;
	}
	if (n < min) {
		fail(res, NULL, E_NULL, "data", "'data' needs at least one item");
		return 1;
	}
	return 0;
}

/* A string member: 1 and *out when present and not blank; 0 when absent (or null); -1
 * after a fail entry (blank, or not a string). */
static int get_text(struct response *res, json_t *item, const char *field, const char **out)
{
	json_t *v = json_get_ci(item, field);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		fail(res, item, E_INVALID, field, "'%s' must be a string", field);
		return -1;
	}
	if (domain_name_is_blank(json_string_value(v), json_string_length(v))) {
		fail(res, item, E_BLANK, field, "'%s' must not be blank", field);
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

/* Normalises an e-mail address "local@domain" into out (lower-case local part, canonical
 * domain); *dom points at its domain. 0, or MC_ERR_INVALID with *why. */
static int addr_normalise(const char *in, char out[MEMBER_VALUE_SIZE], const char **dom,
                          const char **why)
{
	const char *at = strchr(in, '@');
	char name[DOMAIN_NAME_MAX + 1];
	size_t local;

	*why = "it is not an address of the form name@domain";
	if (!at || at == in || strchr(at + 1, '@'))
		return MC_ERR_INVALID;
	local = (size_t)(at - in);
	if (local > LOCAL_MAX) {
		*why = "its part before '@' is longer than 64 characters";
		return MC_ERR_INVALID;
	}
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '(' || c == ')' || c == ',' ||
		    c == ':' || c == ';' || c == '<' || c == '>' || c == '[' || c == ']' ||
		    c == '\\') {
			*why = "its part before '@' has a character addresses cannot have";
			return MC_ERR_INVALID;
		}
	}
	if (domain_name_normalise(at + 1, strlen(at + 1), name, why) != 0)
		return MC_ERR_INVALID;
	if (local + 1 + strlen(name) >= MEMBER_VALUE_SIZE) {
		*why = "it is longer than 255 characters";
		return MC_ERR_INVALID;
	}
	for (size_t i = 0; i < local; i++)
		out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
	out[local] = '@';
	memcpy(out + local + 1, name, strlen(name) + 1);
	*dom = out + local + 1;
	return 0;
}

/* 1 if name is an internal domain of the caller's account. */
static int is_internal(struct request *req, const char *name, int *yes, struct err *e)
{
	struct domain d;
	int rc = store_domain_get(req->srv->store, req->who.account.id, name, &d, e);

	*yes = rc == 0 && d.state == DOMAIN_INTERNAL;
	return rc == MC_ERR_NOT_FOUND ? 0 : rc;
}

/* ---- groups ---- */

static void group_id_of(const struct request *req, int64_t row, char out[DOMAIN_ID_SIZE])
{
	if (row)
		opaque_id_encode(req->srv->id_key, OPAQUE_GROUP, row, out);
	else /* the root folder: one per account */
		opaque_id_encode(req->srv->id_key, OPAQUE_GROUP_ROOT, req->who.account.id, out);
}

/* Reads an id given for a group: 0 and *row (0 = the account's root folder), or
 * MC_ERR_NOT_FOUND for anything that names no folder of this account. */
static int group_id_read(const struct request *req, const char *id, int64_t *row)
{
	int64_t acct = 0;

	if (opaque_id_decode(req->srv->id_key, OPAQUE_GROUP, id, strlen(id), row) == 0)
		return 0;
	if (opaque_id_decode(req->srv->id_key, OPAQUE_GROUP_ROOT, id, strlen(id), &acct) == 0 &&
	    acct == req->who.account.id) {
		*row = 0;
		return 0;
	}
	return MC_ERR_NOT_FOUND;
}

/* The folder shape of find-groups (rapid7 find_groups.json.resp): id, description, source,
 * parentId, userCount, folderCount. */
static json_t *folder_json(const struct request *req, const struct group *g)
{
	char id[DOMAIN_ID_SIZE], parent[DOMAIN_ID_SIZE];

	group_id_of(req, g->id, id);
	group_id_of(req, g->parent_id, parent);
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "id", id, "description", g->name,
	                 "source", g->source, "parentId", parent, "userCount",
	                 (json_int_t)g->user_count, "folderCount", (json_int_t)g->folder_count);
}

struct group_page {
	const struct request *req;
	json_t *folders;
	size_t size, count;
	int more;
	char last_name[GROUP_NAME_SIZE];
	int64_t last_id;
};

static int group_page_add(void *arg, const struct group *g)
{
	struct group_page *p = arg;
	json_t *f;

	if (p->count == p->size) {
		p->more = 1;
		return 1;
	}
	if (!(f = folder_json(p->req, g)) || json_array_append_new(p->folders, f) != 0)
		return MC_ERR_NOMEM;
	memcpy(p->last_name, g->name, sizeof(p->last_name));
	p->last_id = g->id;
	p->count++;
	return 0;
}

int api_directory_find_groups(struct request *req, struct response *res)
{
	const char *query = NULL, *source = NULL;
	char src[GROUP_SOURCE_SIZE] = "";
	struct group_page p;
	struct page pg;
	struct err e = {0};
	json_t *item, *next = NULL, *out = NULL;
	const char *after = NULL;
	int64_t after_id = 0, total = 0;
	int rc = page_begin(req, res, &pg);

	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	memset(&p, 0, sizeof(p));
	item = json_array_get(pg.filters, 0);
	if (json_array_size(pg.filters) > 1) {
		fail(res, NULL, E_TOO_MANY, NULL, "find-groups takes one item");
		goto empty;
	}
	if (item && (get_text(res, item, "query", &query) < 0 ||
	             get_text(res, item, "source", &source) < 0))
		goto empty;
	if (source) {
		if (strcasecmp(source, "cloud") != 0 && strcasecmp(source, "ldap") != 0) {
			fail(res, item, E_INVALID, "source", "'source' must be cloud or ldap");
			goto empty;
		}
		snprintf(src, sizeof(src), "%s",
		         strcasecmp(source, "cloud") == 0 ? "cloud" : "ldap");
	}
	if (query && strlen(query) >= GROUP_NAME_SIZE) {
		fail(res, item, E_INVALID, "query", "'query' is longer than %d bytes",
		     GROUP_NAME_SIZE - 1);
		goto empty;
	}
	if (json_is_array(pg.after) && json_array_size(pg.after) == 2) {
		after = json_string_value(json_array_get(pg.after, 0));
		after_id = json_integer_value(json_array_get(pg.after, 1));
	}
	p.req = req;
	p.size = (size_t)pg.size;
	if (!(p.folders = json_array())) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = store_group_count(req->srv->store, req->who.account.id, query, src, &total, &e);
	if (!rc)
		rc = store_group_find(req->srv->store, req->who.account.id, query, src,
		                      after ? after : NULL, after_id, p.size + 1, group_page_add,
		                      &p, &e);
	if (rc == 1)
		rc = 0;
	if (rc)
		goto out;
	if (p.more && !(next = json_pack("[s, I]", p.last_name, (json_int_t)p.last_id))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	out = json_pack("{s:s}", "source", src[0] ? src : "cloud");
	if (!out || (query && json_object_set_new(out, "query", json_string(query)) != 0) ||
	    json_object_set(out, "folders", p.folders) != 0) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	response_add_data(res, out);
	out = NULL;
	rc = page_finish(req, res, &pg, p.count, next, total);
	goto out;
empty:
	rc = page_finish(req, res, &pg, 0, NULL, -1);
out:
	if (rc)
		log_store_error(req, "find-groups", rc, &e);
	json_decref(out);
	json_decref(next);
	json_decref(p.folders);
	page_release(&pg);
	return rc;
}

struct member_page {
	struct request *req;
	json_t *members;
	size_t size, count;
	int more;
	int64_t last_id;
	struct err *e;
};

/* A member as get-group-members shows it: emailAddress (addresses only), domain, name (the
 * user's, for an address of this account), internal. */
static int member_page_add(void *arg, const struct group_member *m)
{
	struct member_page *p = arg;
	const char *dom = m->value;
	json_t *j;
	struct user u;
	int internal = 0, rc;

	if (p->count == p->size) {
		p->more = 1;
		return 1;
	}
	if (m->kind == MEMBER_EMAIL) {
		const char *at = strrchr(m->value, '@');
		dom = at ? at + 1 : "";
	}
	if ((rc = is_internal(p->req, dom, &internal, p->e)) != 0)
		return rc;
	if (m->kind == MEMBER_EMAIL) {
		rc = store_user_get_by_email(p->req->srv->store, m->value, &u, p->e);
		if (rc == 0 && u.account_id != p->req->who.account.id)
			u.name[0] = '\0';
		else if (rc == MC_ERR_NOT_FOUND)
			u.name[0] = '\0';
		else if (rc)
			return rc;
		j = json_pack("{s:s, s:s, s:s, s:b}", "emailAddress", m->value, "domain", dom,
		              "name", u.name, "internal", internal);
	} else {
		j = json_pack("{s:s, s:b}", "domain", dom, "internal", internal);
	}
	if (!j || json_array_append_new(p->members, j) != 0)
		return MC_ERR_NOMEM;
	p->last_id = m->id;
	p->count++;
	return 0;
}

int api_directory_get_group_members(struct request *req, struct response *res)
{
	struct member_page p;
	struct page pg;
	struct group g;
	struct err e = {0};
	const char *id = NULL;
	json_t *item, *next = NULL, *out = NULL, *folder = NULL;
	int64_t row = 0, after = 0;
	int rc = page_begin(req, res, &pg);

	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	memset(&p, 0, sizeof(p));
	item = json_array_get(pg.filters, 0);
	if (json_array_size(pg.filters) != 1) {
		fail(res, NULL, json_array_size(pg.filters) ? E_TOO_MANY : E_NULL, "data",
		     "get-group-members takes one item {id}");
		goto empty;
	}
	if ((rc = get_text(res, item, "id", &id)) <= 0) {
		if (rc == 0)
			fail(res, item, E_NULL, "id", "'id' is required");
		rc = 0;
		goto empty;
	}
	rc = group_id_read(req, id, &row);
	if (!rc && row == 0)
		rc = MC_ERR_NOT_FOUND; /* the root folder holds groups, not members */
	if (!rc)
		rc = store_group_get(req->srv->store, req->who.account.id, row, &g, &e);
	if (rc == MC_ERR_NOT_FOUND) {
		fail(res, item, E_FOLDER, "id", "no group of this account has this id");
		rc = 0;
		goto empty;
	}
	if (rc)
		goto out;
	if (json_is_integer(pg.after))
		after = json_integer_value(pg.after);
	p.req = req;
	p.e = &e;
	p.size = (size_t)pg.size;
	if (!(p.members = json_array()) || !(folder = folder_json(req, &g))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = store_group_members(req->srv->store, req->who.account.id, row, after, p.size + 1,
	                         member_page_add, &p, &e);
	if (rc == 1)
		rc = 0;
	if (rc)
		goto out;
	if (p.more && !(next = json_integer((json_int_t)p.last_id))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (!(out = json_pack("{s:O, s:O}", "group", folder, "groupMembers", p.members))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	response_add_data(res, out);
	out = NULL;
	rc = page_finish(req, res, &pg, p.count, next, g.user_count);
	goto out;
empty:
	rc = page_finish(req, res, &pg, 0, NULL, -1);
out:
	if (rc)
		log_store_error(req, "get-group-members", rc, &e);
	json_decref(out);
	json_decref(folder);
	json_decref(next);
	json_decref(p.members);
	page_release(&pg);
	return rc;
}

/* Runs fn for every item of a write call inside one transaction; fn adds the item's data or
 * fail entry and returns non-zero only for errors that undo the whole call. */
typedef int (*item_fn)(struct request *req, struct response *res, json_t *item, int64_t now,
                       struct err *e);

static int items_in_tx(struct request *req, struct response *res, const char *op, item_fn fn)
{
	struct store *st = req->srv->store;
	size_t n = json_array_size(req->data);
	int64_t now = now_ms();
	struct err e = {0};
	int rc, in_tx = 0;

	if (items_check(req, res, 1))
		return 0;
	rc = store_tx_begin(st, &e);
	if (rc)
		goto out;
	in_tx = 1;
	for (size_t i = 0; i < n && !rc; i++)
		rc = fn(req, res, json_array_get(req->data, i), now, &e);
	if (rc)
		goto out;
	rc = store_tx_commit(st, &e);
	in_tx = 0;
out:
	if (in_tx)
		store_tx_rollback(st);
	if (rc) {
		log_store_error(req, op, rc, &e);
		json_array_clear(res->data);
		json_array_clear(res->fail);
	}
	return rc;
}

static int create_group_one(struct request *req, struct response *res, json_t *item, int64_t now,
                            struct err *e)
{
	const char *name = NULL, *parent = NULL;
	struct group g;
	json_t *j;
	int got, rc;

	if ((got = get_text(res, item, "description", &name)) <= 0) {
		if (got == 0)
			fail(res, item, E_NULL, "description", "'description' is required");
		return 0;
	}
	if (strlen(name) >= GROUP_NAME_SIZE) {
		fail(res, item, E_INVALID, "description", "'description' is longer than %d bytes",
		     GROUP_NAME_SIZE - 1);
		return 0;
	}
	if (get_text(res, item, "parentId", &parent) < 0)
		return 0;
	memset(&g, 0, sizeof(g));
	g.account_id = req->who.account.id;
	memcpy(g.name, name, strlen(name) + 1);
	g.created = now;
	if (parent && group_id_read(req, parent, &g.parent_id) != 0) {
		fail(res, item, E_FOLDER, "parentId", "no group of this account has this id");
		return 0;
	}
	rc = store_group_create(req->srv->store, &g, e);
	if (rc == MC_ERR_NOT_FOUND) {
		fail(res, item, E_FOLDER, "parentId", "no group of this account has this id");
		return 0;
	}
	if (!rc)
		rc = audit(req, CAT_GROUPS, now, e, "Group Created", "Created Group - Name: %s",
		           g.name);
	if (rc)
		return rc;
	if (!(j = folder_json(req, &g)))
		return MC_ERR_NOMEM;
	response_add_data(res, j);
	return 0;
}

int api_directory_create_group(struct request *req, struct response *res)
{
	return items_in_tx(req, res, "create-group", create_group_one);
}

/* One add/remove item read: the group row, the member kind and its normalised value. 1 when
 * the item is good, 0 after its fail entry. */
static int member_item(struct request *req, struct response *res, json_t *item, int64_t *row,
                       enum member_kind *kind, char value[MEMBER_VALUE_SIZE], const char **dom)
{
	const char *id = NULL, *email = NULL, *domain = NULL, *why = "";
	int got_e, got_d, got;

	if ((got = get_text(res, item, "id", &id)) <= 0) {
		if (got == 0)
			fail(res, item, E_NULL, "id", "'id' is required");
		return 0;
	}
	if ((got_e = get_text(res, item, "emailAddress", &email)) < 0 ||
	    (got_d = get_text(res, item, "domain", &domain)) < 0)
		return 0;
	if (!got_e && !got_d) {
		fail(res, item, E_NULL, "emailAddress", "'emailAddress' or 'domain' is required");
		return 0;
	}
	if (got_e && got_d) {
		fail(res, item, E_INVALID, "domain", "give 'emailAddress' or 'domain', not both");
		return 0;
	}
	if (group_id_read(req, id, row) != 0 || *row == 0) {
		fail(res, item, E_FOLDER, "id", "no group of this account has this id");
		return 0;
	}
	if (got_e) {
		*kind = MEMBER_EMAIL;
		if (addr_normalise(email, value, dom, &why) != 0) {
			fail(res, item, E_INVALID, "emailAddress", "'%s' is not valid: %s", email,
			     why);
			return 0;
		}
		return 1;
	}
	*kind = MEMBER_DOMAIN;
	if (domain_name_normalise(domain, strlen(domain), value, &why) != 0) {
		fail(res, item, "err_validation_invalid_domain", "domain", "'%s' is not valid: %s",
		     domain, why);
		return 0;
	}
	*dom = value;
	return 1;
}

/* The answer of add-group-member and remove-group-member (rapid7 add_group_member.json.resp):
 * id (the member), folderId, emailAddress or domain, internal. */
static int member_answer(struct request *req, struct response *res, const struct group_member *m,
                         const char *dom, struct err *e)
{
	char id[DOMAIN_ID_SIZE], folder[DOMAIN_ID_SIZE];
	int internal = 0, rc = is_internal(req, dom, &internal, e);
	json_t *j;

	if (rc)
		return rc;
	opaque_id_encode(req->srv->id_key, OPAQUE_GROUP_MEMBER, m->id, id);
	group_id_of(req, m->group_id, folder);
	j = json_pack("{s:s, s:s, s:s, s:b}", "id", id, "folderId", folder,
	              m->kind == MEMBER_EMAIL ? "emailAddress" : "domain", m->value, "internal",
	              internal);
	if (!j)
		return MC_ERR_NOMEM;
	response_add_data(res, j);
	return 0;
}

static int add_member_one(struct request *req, struct response *res, json_t *item, int64_t now,
                          struct err *e)
{
	char value[MEMBER_VALUE_SIZE];
	const char *dom = NULL;
	enum member_kind kind = MEMBER_EMAIL;
	struct group_member m;
	struct group g;
	int64_t row = 0;
	int rc;

	if (!member_item(req, res, item, &row, &kind, value, &dom))
		return 0;
	rc = store_group_member_add(req->srv->store, req->who.account.id, row, kind, value, &m, e);
	if (rc == MC_ERR_NOT_FOUND) {
		fail(res, item, E_FOLDER, "id", "no group of this account has this id");
		return 0;
	}
	if (rc == MC_ERR_EXISTS) {
		fail(res, item, E_MEMBER_EXISTS, NULL, "Group member already exists");
		return 0;
	}
	if (!rc)
		rc = store_group_get(req->srv->store, req->who.account.id, row, &g, e);
	if (!rc)
		rc = audit(req, CAT_GROUPS, now, e, "Group Member Added",
		           "Added Group Member - Group: %s, %s: %s", g.name,
		           kind == MEMBER_EMAIL ? "Address" : "Domain", value);
	return rc ? rc : member_answer(req, res, &m, dom, e);
}

static int remove_member_one(struct request *req, struct response *res, json_t *item, int64_t now,
                             struct err *e)
{
	char value[MEMBER_VALUE_SIZE];
	const char *dom = NULL;
	enum member_kind kind = MEMBER_EMAIL;
	struct group_member m;
	struct group g;
	int64_t row = 0;
	int rc;

	if (!member_item(req, res, item, &row, &kind, value, &dom))
		return 0;
	rc = store_group_get(req->srv->store, req->who.account.id, row, &g, e);
	if (rc == MC_ERR_NOT_FOUND) {
		fail(res, item, E_FOLDER, "id", "no group of this account has this id");
		return 0;
	}
	if (!rc)
		rc = store_group_member_remove(req->srv->store, req->who.account.id, row, kind,
		                               value, &m, e);
	if (rc == MC_ERR_NOT_FOUND) {
		if (kind == MEMBER_EMAIL)
			fail(res, item, E_EMAIL_NOTFOUND, NULL, "Error email address not found");
		else
			fail(res, item, E_DOMAIN_NOTFND, NULL, "Error domain not found");
		return 0;
	}
	if (!rc)
		rc = audit(req, CAT_GROUPS, now, e, "Group Member Removed",
		           "Removed Group Member - Group: %s, %s: %s", g.name,
		           kind == MEMBER_EMAIL ? "Address" : "Domain", value);
	return rc ? rc : member_answer(req, res, &m, dom, e);
}

int api_directory_add_group_member(struct request *req, struct response *res)
{
	return items_in_tx(req, res, "add-group-member", add_member_one);
}

int api_directory_remove_group_member(struct request *req, struct response *res)
{
	return items_in_tx(req, res, "remove-group-member", remove_member_one);
}

/* ---- users ---- */

/* A user as get-internal-users lists it (the JupiterOne recordings): name, emailAddress,
 * domain, alias, addressType, source. Users made here or by the administrator are all
 * "created_manually" cloud addresses; aliases do not exist (yet). */
static json_t *user_json(const struct user *u)
{
	const char *at = strchr(u->email, '@');

	return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "name", u->name, "emailAddress",
	                 u->email, "domain", at ? at + 1 : "", "alias", 0, "addressType",
	                 "created_manually", "source", "cloud");
}

struct user_page {
	json_t *users;
	size_t size, count;
	int more;
	char last[sizeof(((struct user *)0)->email)];
};

static int user_page_add(void *arg, const struct user *u)
{
	struct user_page *p = arg;
	json_t *j;

	if (p->count == p->size) {
		p->more = 1;
		return 1;
	}
	if (!(j = user_json(u)) || json_array_append_new(p->users, j) != 0)
		return MC_ERR_NOMEM;
	memcpy(p->last, u->email, sizeof(p->last));
	p->count++;
	return 0;
}

int api_user_get_internal_users(struct request *req, struct response *res)
{
	char dom[DOMAIN_NAME_MAX + 1] = "";
	const char *domain = NULL, *why = "";
	struct user_page p;
	struct page pg;
	struct err e = {0};
	json_t *item, *next = NULL, *out = NULL;
	int64_t total = 0;
	int rc = page_begin(req, res, &pg);

	if (rc) {
		page_release(&pg);
		return rc == 1 ? 0 : rc;
	}
	memset(&p, 0, sizeof(p));
	item = json_array_get(pg.filters, 0);
	if (json_array_size(pg.filters) > 1) {
		fail(res, NULL, E_TOO_MANY, NULL, "get-internal-users takes one item");
		goto empty;
	}
	if (item && get_text(res, item, "domain", &domain) < 0)
		goto empty;
	if (domain && domain_name_normalise(domain, strlen(domain), dom, &why) != 0) {
		fail(res, item, "err_validation_invalid_domain", "domain", "'%s' is not valid: %s",
		     domain, why);
		goto empty;
	}
	p.size = (size_t)pg.size;
	if (!(p.users = json_array())) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	rc = store_dir_user_count(req->srv->store, req->who.account.id, dom, &total, &e);
	if (!rc)
		rc = store_dir_user_list(req->srv->store, req->who.account.id, dom,
		                         json_string_value(pg.after), p.size + 1, user_page_add, &p,
		                         &e);
	if (rc == 1)
		rc = 0;
	if (rc)
		goto out;
	if (p.more && !(next = json_string(p.last))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (!(out = json_pack("{s:O, s:I}", "users", p.users, "userCount", (json_int_t)total))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	response_add_data(res, out);
	out = NULL;
	rc = page_finish(req, res, &pg, p.count, next, total);
	goto out;
empty:
	rc = page_finish(req, res, &pg, 0, NULL, -1);
out:
	if (rc)
		log_store_error(req, "get-internal-users", rc, &e);
	json_decref(out);
	json_decref(next);
	json_decref(p.users);
	page_release(&pg);
	return rc;
}

/* Reads the optional name and password of a create/update item. 1 when good, 0 after a
 * fail entry. The password (if any) is hashed into hash. */
/* The passwords of a create-user or update-user call are hashed before its transaction, on a
 * hash thread (auth/hashpool.h): Argon2id costs ~0.1 s and 64 MiB each, which must hold
 * neither an HTTP worker nor the store's write lock. One job hashes every password of the
 * call, so a call takes one place in the pool's queue. */
struct pw_hashes {
	struct hashpool_job job; /* first: the pool hands this back */
	struct request *req;
	handler_fn finish; /* the transaction, once hashed */
	size_t n;          /* items of data */
	struct pw_hash {
		int want; /* the item has a password to hash */
		int rc;   /* password_hash's result */
		char hash[PASSWORD_HASH_MAX];
		char msg[sizeof(((struct err *)0)->msg)];
	} h[];
};

static void pw_hashes_free(void *p)
{
	struct pw_hashes *ph = p;

	if (!ph)
		return;
	secure_zero(ph->h, ph->n * sizeof(ph->h[0]));
	free(ph);
}

static void pw_hash_all(struct pw_hashes *ph)
{
	for (size_t i = 0; i < ph->n; i++) {
		struct pw_hash *h = &ph->h[i];
		json_t *v;
		struct err e = {0};

		if (!h->want)
			continue;
		v = json_get_ci(json_array_get(ph->req->data, i), "password");
		h->rc = password_hash(json_string_value(v), json_string_length(v), h->hash, &e);
		snprintf(h->msg, sizeof(h->msg), "%s", e.msg);
	}
}

static void pw_job_run(struct hashpool_job *job)
{
	struct pw_hashes *ph = (struct pw_hashes *)job;

	pw_hash_all(ph);
	request_async_end(ph->req);
}

static int pw_finish(struct request *req, struct response *res)
{
	struct pw_hashes *ph = req->async_ctx;

	return ph->finish(req, res);
}

/* Hashes the call's passwords (see above), then runs finish: at once when there is nothing
 * to hash or no pool, else asynchronously (MC_ERR_ASYNC). A full pool answers 503. */
static int with_hashed_passwords(struct request *req, struct response *res, handler_fn finish)
{
	size_t n = json_array_size(req->data), want = 0;
	struct pw_hashes *ph;

	if (items_check(req, res, 1))
		return 0;
	if (!(ph = calloc(1, sizeof(*ph) + n * sizeof(ph->h[0]))))
		return MC_ERR_NOMEM;
	req->async_ctx = ph;
	req->async_free = pw_hashes_free;
	ph->req = req;
	ph->finish = finish;
	ph->n = n;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_get_ci(json_array_get(req->data, i), "password");
		/* what get_text will accept; the rest fails there without a hash */
		ph->h[i].want = json_is_string(v) &&
		                !domain_name_is_blank(json_string_value(v), json_string_length(v));
		want += (size_t)ph->h[i].want;
	}
	if (want == 0)
		return finish(req, res);
	if (!req->srv->hashpool) {
		pw_hash_all(ph);
		return finish(req, res);
	}
	request_go_async(req, pw_finish);
	request_async_begin(req);
	ph->job.run = pw_job_run;
	if (hashpool_submit(req->srv->hashpool, &ph->job) != 0) {
		log_warn(
		        "req_id=%s directory=busy msg=\"every hash thread is busy and the queue is "
		        "full\"",
		        req->req_id);
		response_call_error(res, API_UNAVAILABLE,
		                    "too many password hashes at once; please retry in a second");
		return 0;
	}
	return MC_ERR_ASYNC;
}

/* The hash made for item by with_hashed_passwords, or NULL. */
static const struct pw_hash *pw_hash_of(struct request *req, json_t *item)
{
	struct pw_hashes *ph = req->async_ctx;

	for (size_t i = 0; ph && req->async_free == pw_hashes_free && i < ph->n; i++)
		if (json_array_get(req->data, i) == item)
			return ph->h[i].want ? &ph->h[i] : NULL;
	return NULL;
}

static int name_password(struct request *req, struct response *res, json_t *item, const char **name,
                         char *hash, int *has_password)
{
	const char *pw = NULL;
	const struct pw_hash *h;
	json_t *v;

	*has_password = 0;
	v = json_get_ci(item, "name");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v)) {
			fail(res, item, E_INVALID, "name", "'name' must be a string");
			return 0;
		}
		if (json_string_length(v) >= sizeof(((struct user *)0)->name)) {
			fail(res, item, E_INVALID, "name", "'name' is longer than %zu bytes",
			     sizeof(((struct user *)0)->name) - 1);
			return 0;
		}
		*name = json_string_value(v);
	}
	if (get_text(res, item, "password", &pw) < 0)
		return 0;
	if (pw) {
		if (!(h = pw_hash_of(req, item)) || h->rc != 0) {
			fail(res, item, E_INVALID, "password", "the password cannot be used: %s",
			     h ? h->msg : "it was not hashed");
			return 0;
		}
		memcpy(hash, h->hash, PASSWORD_HASH_MAX);
		*has_password = 1;
	}
	return 1;
}

static int create_user_one(struct request *req, struct response *res, json_t *item, int64_t now,
                           struct err *e)
{
	char addr[MEMBER_VALUE_SIZE], hash[PASSWORD_HASH_MAX] = "", id[DOMAIN_ID_SIZE];
	const char *email = NULL, *dom = NULL, *why = "", *name = "";
	struct user u;
	json_t *j;
	int got, internal = 0, has_pw = 0, rc;

	if ((got = get_text(res, item, "emailAddress", &email)) <= 0) {
		if (got == 0)
			fail(res, item, E_NULL, "emailAddress", "'emailAddress' is required");
		return 0;
	}
	if (addr_normalise(email, addr, &dom, &why) != 0) {
		fail(res, item, E_INVALID, "emailAddress", "'%s' is not valid: %s", email, why);
		return 0;
	}
	if (!name_password(req, res, item, &name, hash, &has_pw))
		return 0;
	if ((rc = is_internal(req, dom, &internal, e)) != 0)
		return rc;
	if (!internal) {
		fail(res, item, E_NOT_INTERNAL, "emailAddress",
		     "'%s' is not an internal domain of this account", dom);
		return 0;
	}
	memset(&u, 0, sizeof(u));
	u.account_id = req->who.account.id;
	memcpy(u.email, addr, strlen(addr) + 1);
	snprintf(u.name, sizeof(u.name), "%s", name);
	memcpy(u.password_hash, hash, sizeof(hash));
	u.created = now;
	rc = store_user_create(req->srv->store, &u, e);
	if (rc == MC_ERR_EXISTS) {
		fail(res, item, E_USER_EXISTS, "emailAddress", "the user '%s' exists already",
		     addr);
		return 0;
	}
	if (!rc)
		rc = audit(req, CAT_USERS, now, e, "User Created",
		           "Created User - User: %s, Password: %s", addr,
		           has_pw ? "True" : "False");
	if (rc)
		return rc;
	opaque_id_encode(req->srv->id_key, OPAQUE_USER, u.id, id);
	if (!(j = user_json(&u)) || json_object_set_new(j, "id", json_string(id)) != 0) {
		json_decref(j);
		return MC_ERR_NOMEM;
	}
	response_add_data(res, j);
	return 0;
}

static int create_user_tx(struct request *req, struct response *res)
{
	return items_in_tx(req, res, "create-user", create_user_one);
}

int api_user_create_user(struct request *req, struct response *res)
{
	return with_hashed_passwords(req, res, create_user_tx);
}

static int update_user_one(struct request *req, struct response *res, json_t *item, int64_t now,
                           struct err *e)
{
	char addr[MEMBER_VALUE_SIZE], hash[PASSWORD_HASH_MAX] = "", changes[160] = "";
	const char *email = NULL, *dom = NULL, *why = "", *name = NULL;
	int got, has_pw = 0, disabled = 0, locked = 0, got_dis, got_lock, rc;
	struct user u;
	json_t *j;
	size_t used = 0;

	if ((got = get_text(res, item, "emailAddress", &email)) <= 0) {
		if (got == 0)
			fail(res, item, E_NULL, "emailAddress", "'emailAddress' is required");
		return 0;
	}
	if (addr_normalise(email, addr, &dom, &why) != 0) {
		fail(res, item, E_INVALID, "emailAddress", "'%s' is not valid: %s", email, why);
		return 0;
	}
	if ((got_dis = json_get_bool(item, "accountDisabled", &disabled)) < 0 ||
	    (got_lock = json_get_bool(item, "accountLocked", &locked)) < 0) {
		fail(res, item, E_INVALID, got_dis < 0 ? "accountDisabled" : "accountLocked",
		     "'%s' must be true or false",
		     got_dis < 0 ? "accountDisabled" : "accountLocked");
		return 0;
	}
	if (!name_password(req, res, item, &name, hash, &has_pw))
		return 0;
	rc = store_user_get_by_email(req->srv->store, addr, &u, e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && u.account_id != req->who.account.id)) {
		fail(res, item, E_USER_NOTFOUND, "emailAddress", "no user '%s' in this account",
		     addr);
		return 0;
	}
	if (rc)
		return rc;
#define NOTE(s)                                                                                    \
	do {                                                                                       \
		int n_ = snprintf(changes + used, sizeof(changes) - used, "%s%s",                  \
		                  used ? "; " : "", (s));                                          \
		if (n_ > 0 && (size_t)n_ < sizeof(changes) - used)                                 \
			used += (size_t)n_;                                                        \
	} while (0)
	if (name) {
		snprintf(u.name, sizeof(u.name), "%s", name);
		NOTE("name");
	}
	if (has_pw) {
		memcpy(u.password_hash, hash, sizeof(hash));
		NOTE("password");
	}
	if (got_dis > 0) {
		u.disabled = disabled ? (u.disabled ? u.disabled : now) : 0;
		NOTE(disabled ? "disabled" : "enabled");
	}
	if (got_lock > 0) {
		u.locked_until = locked ? LOCKED_FOREVER : 0;
		if (!locked)
			u.failed_logins = 0;
		NOTE(locked ? "locked" : "unlocked");
	}
#undef NOTE
	rc = store_user_update(req->srv->store, &u, e);
	if (!rc)
		rc = audit(req, CAT_USERS, now, e, "User Updated",
		           "Updated User - User: %s, Changed: %s", addr,
		           used ? changes : "nothing changed");
	if (rc)
		return rc;
	j = json_pack("{s:s, s:s, s:b, s:b}", "emailAddress", u.email, "name", u.name,
	              "accountDisabled", u.disabled != 0, "accountLocked", u.locked_until > now);
	if (!j)
		return MC_ERR_NOMEM;
	response_add_data(res, j);
	return 0;
}

static int update_user_tx(struct request *req, struct response *res)
{
	return items_in_tx(req, res, "update-user", update_user_one);
}

int api_user_update_user(struct request *req, struct response *res)
{
	return with_hashed_passwords(req, res, update_user_tx);
}
