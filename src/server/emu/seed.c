/* Seed files (docs/emulator.md, "Seed files"): a document of accounts (JSON, YAML or a
 * directory of both, read by seed_doc.c) with their applications, users (passwords,
 * permissions, keys given explicitly so that tests know them), domains (verified or
 * pending), groups, managed senders and audit events, written to an empty
 * store at first start in one transaction. It then belongs to the state POST
 * /__mcapi/reset returns to (the control plane's snapshot is taken after it). Every value
 * is checked as the API would check it; the first problem stops the start with the path
 * of the offending member ("accounts[0].users[1].email"). */
#include "emu.h"
#include "seed_doc.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "server/api/domain_name.h"
#include "server/auth/password.h"
#include "server/perm.h"
#include "server/store/store.h"
#include "server/store/store_directory.h"
#include "server/store/store_domain.h"
#include "server/store/store_policy.h"
#include "server/config.h"
#include "server/mail/mail.h"
#include "server/server.h"
#include "common/buf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/banned.h"

#define SEED_APP     "mcapid seed"
#define SEED_USER    "mcapid-seed"
#define DAY_MS       86400000LL
#define TOKEN_PREFIX "mcapi-verify-" /* as create-domain makes them (api/domain.c) */
#define MIN_SECRET   16
#define DATE_1900_MS (-2208988800000LL) /* a managed sender's dates (api/policy.c) */
#define DATE_2100_MS (4102531199000LL)

struct seed {
	struct store *st;
	const struct emu_seed_defaults *defs;
	int64_t now;
	char where[128]; /* the member being read, for messages */
	struct err *e;
};

static int bad(struct seed *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct seed *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(s->e, MC_ERR_INVALID, "seed: %s: %s", s->where, msg);
}

/* Only the members in known (NULL-terminated) are allowed in o. */
static int members_known(struct seed *s, json_t *o, const char *const *known)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return bad(s, "must be an object");
	json_object_foreach(o, key, v)
	{
		size_t i;
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (!known[i])
			return bad(s, "unknown member '%.40s'", key);
	}
	return 0;
}

/* A string member into dst (size); required or not. "" when absent. */
static int str(struct seed *s, json_t *o, const char *key, int required, char *dst, size_t size)
{
	json_t *v = json_object_get(o, key);

	dst[0] = '\0';
	if (!v || json_is_null(v))
		return required ? bad(s, "'%s' is required", key) : 0;
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return bad(s, "'%s' must be a string of at most %zu bytes", key, size - 1);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* An array member (absent = empty). */
static int list(struct seed *s, json_t *o, const char *key, json_t **out)
{
	json_t *v = json_object_get(o, key);

	*out = v;
	if (v && !json_is_array(v))
		return bad(s, "'%s' must be a list", key);
	return 0;
}

static void lower(char *p)
{
	for (; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

static int email_ok(const char *a)
{
	const char *at = strchr(a, '@');

	return at && at != a && at[1] && !strchr(at + 1, '@') && !strpbrk(a, " \t\r\n<>,;\"");
}

static int audit(struct seed *s, int64_t account_id, const char *category, const char *type,
                 const char *what, const char *name)
{
	struct audit_origin o = {AUDIT_ADMIN_IP, SEED_APP, NULL};

	return store_audit_originf(s->st, account_id, SEED_USER, category, type, s->now, &o, s->e,
	                           "%s '%s' created from the seed file", what, name);
}

static int seed_domain(struct seed *s, int64_t account_id, json_t *o)
{
	static const char *const known[] = {"name", "verified", "token", "inbound_type", NULL};
	char in[DOMAIN_NAME_SIZE], token[DOMAIN_TOKEN_SIZE], inbound[DOMAIN_INBOUND_SIZE];
	json_t *verified = json_object_get(o, "verified");
	const char *why = NULL;
	struct domain d;
	int rc;

	memset(&d, 0, sizeof(d));
	if ((rc = members_known(s, o, known)) || (rc = str(s, o, "name", 1, in, sizeof(in))) ||
	    (rc = str(s, o, "token", 0, token, sizeof(token))) ||
	    (rc = str(s, o, "inbound_type", 0, inbound, sizeof(inbound))))
		return rc;
	if (verified && !json_is_boolean(verified))
		return bad(s, "'verified' must be true or false");
	if (domain_name_normalise(in, strlen(in), d.name, &why) != 0)
		return bad(s, "'%s' is not a domain name (%s)", in, why ? why : "invalid");
	if (!inbound[0])
		memcpy(inbound, "any", 4);
	if (strcmp(inbound, "any") && strcmp(inbound, "smtp") && strcmp(inbound, "ldap") &&
	    strcmp(inbound, "known"))
		return bad(s, "'inbound_type' must be any, smtp, ldap or known");
	d.account_id = account_id;
	memcpy(d.inbound_type, inbound, sizeof(inbound));
	d.created = s->now;
	if (!verified || json_is_true(verified)) {
		d.state = DOMAIN_INTERNAL;
		d.verified = s->now;
		memcpy(d.last_result, "verified", sizeof("verified"));
	} else {
		d.state = DOMAIN_PENDING;
		d.expiry = s->now + (int64_t)s->defs->pending_ttl_days * DAY_MS;
		if (token[0]) {
			memcpy(d.token, token, sizeof(token));
		} else {
			size_t p = strlen(TOKEN_PREFIX);
			memcpy(d.token, TOKEN_PREFIX, p);
			random_token(RND_DOMAIN_TOKEN, 24, d.token + p, sizeof(d.token) - p);
		}
	}
	rc = store_domain_create(s->st, &d, s->e);
	if (rc == MC_ERR_EXISTS)
		return bad(s, "'%s' is claimed twice, or verified in two accounts", d.name);
	return rc ? rc : audit(s, account_id, "account_logs", "Domain Created", "domain", d.name);
}

/* app_ids maps the account's app ids to their rows; *first_app gets the first row. */
static int seed_app(struct seed *s, int64_t account_id, json_t *o, json_t *app_ids,
                    int64_t *first_app)
{
	static const char *const known[] = {"name", "app_id", "app_key", NULL};
	struct application app;
	int rc;

	memset(&app, 0, sizeof(app));
	app.account_id = account_id;
	if ((rc = members_known(s, o, known)) ||
	    (rc = str(s, o, "app_id", 1, app.app_id, sizeof(app.app_id))) ||
	    (rc = str(s, o, "app_key", 1, app.app_key, sizeof(app.app_key))) ||
	    (rc = str(s, o, "name", 0, app.name, sizeof(app.name))))
		goto out;
	if (!app.name[0])
		snprintf(app.name, sizeof(app.name), "%s", app.app_id);
	rc = store_app_create(s->st, &app, s->e);
	if (rc == MC_ERR_EXISTS)
		rc = bad(s, "application '%s' exists already", app.app_id);
	if (rc || (rc = audit(s, account_id, "integrations_and_apis", "Application Created",
	                      "application", app.app_id)))
		goto out;
	if (!*first_app)
		*first_app = app.id;
	if (json_object_set_new(app_ids, app.app_id, json_integer(app.id)) != 0)
		rc = err_set(s->e, MC_ERR_NOMEM, "out of memory");
out:
	secure_zero(&app, sizeof(app));
	return rc;
}

/* One key of user u: {"app_id" (default: the account's first application), "access_key",
 * "secret_key" (base64), "ttl_days" (default: never expires)}. */
static int seed_key(struct seed *s, const struct user *u, json_t *o, const json_t *apps_ids,
                    int64_t first_app)
{
	static const char *const known[] = {"app_id", "access_key", "secret_key", "ttl_days", NULL};
	char app_id[64], secret[B64_ENCODED_SIZE(sizeof(((struct binding *)0)->secret))];
	json_t *ttl = json_object_get(o, "ttl_days"), *row;
	struct binding b;
	int rc;

	memset(&b, 0, sizeof(b));
	if ((rc = members_known(s, o, known)) ||
	    (rc = str(s, o, "app_id", 0, app_id, sizeof(app_id))) ||
	    (rc = str(s, o, "access_key", 1, b.access_key, sizeof(b.access_key))) ||
	    (rc = str(s, o, "secret_key", 1, secret, sizeof(secret))))
		goto out;
	if (b64_decode(secret, strlen(secret), b.secret, sizeof(b.secret), &b.secret_len) != 0 ||
	    b.secret_len < MIN_SECRET) {
		rc = bad(s, "'secret_key' must be base64 of %d to %zu bytes", MIN_SECRET,
		         sizeof(b.secret));
		goto out;
	}
	row = app_id[0] ? json_object_get(apps_ids, app_id) : NULL;
	if (app_id[0] && !row) {
		rc = bad(s, "'app_id' names no application of this account");
		goto out;
	}
	b.app_row_id = row ? json_integer_value(row) : first_app;
	if (!b.app_row_id) {
		rc = bad(s, "the account has no application for the key");
		goto out;
	}
	b.user_id = u->id;
	b.created = s->now;
	b.ttl_ms = STORE_TTL_NEVER;
	if (ttl && !json_is_null(ttl)) {
		if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
		    json_integer_value(ttl) > 3650) {
			rc = bad(s, "'ttl_days' must be a whole number from 1 to 3650");
			goto out;
		}
		b.ttl_ms = json_integer_value(ttl) * DAY_MS;
		b.expires = s->now + b.ttl_ms;
	}
	rc = store_binding_create(s->st, &b, s->e);
	if (rc == MC_ERR_EXISTS)
		rc = bad(s, "access key exists already");
	if (!rc) {
		char hint[STORE_KEY_HINT_SIZE];
		rc = audit(s, u->account_id, "integrations_and_apis", "API Key Created", "key",
		           store_key_hint(b.access_key, hint));
	}
out:
	secure_zero(&b, sizeof(b));
	secure_zero(secret, sizeof(secret));
	return rc;
}

static int seed_user(struct seed *s, int64_t account_id, json_t *o, const json_t *app_ids,
                     int64_t first_app)
{
	static const char *const known[] = {"email", "name",     "password", "permissions",
	                                    "keys",  "disabled", NULL};
	char password[256], perms[1024], where[sizeof(s->where)];
	char hash[sizeof(((struct user *)0)->password_hash)];
	json_t *keys, *k, *disabled = json_object_get(o, "disabled");
	struct user u;
	size_t i;
	int rc;

	memset(&u, 0, sizeof(u));
	if ((rc = members_known(s, o, known)) ||
	    (rc = str(s, o, "email", 1, u.email, sizeof(u.email))) ||
	    (rc = str(s, o, "name", 0, u.name, sizeof(u.name))) ||
	    (rc = str(s, o, "password", 0, password, sizeof(password))) ||
	    (rc = str(s, o, "permissions", 0, perms, sizeof(perms))) ||
	    (rc = list(s, o, "keys", &keys)))
		goto out;
	lower(u.email);
	if (!email_ok(u.email)) {
		rc = bad(s, "'email' is not an address");
		goto out;
	}
	if (perms[0]) {
		struct err pe = {0};
		if (perm_parse(perms, &u.perms, &pe) != 0) {
			rc = bad(s, "'permissions': %s", pe.msg);
			goto out;
		}
	}
	if (disabled && !json_is_boolean(disabled)) {
		rc = bad(s, "'disabled' must be true or false");
		goto out;
	}
	if (password[0] && (rc = password_hash(password, strlen(password), hash, s->e)) != 0)
		goto out;
	if (password[0])
		memcpy(u.password_hash, hash, sizeof(hash));
	u.account_id = account_id;
	u.created = s->now;
	u.disabled = json_is_true(disabled) ? s->now : 0;
	rc = store_user_create(s->st, &u, s->e);
	if (rc == MC_ERR_EXISTS) {
		rc = bad(s, "user '%s' exists already", u.email);
		goto out;
	}
	if (rc || (rc = audit(s, account_id, "user_account_and_role_logs", "User Created", "user",
	                      u.email)))
		goto out;
	memcpy(where, s->where, sizeof(where));
	json_array_foreach(keys, i, k)
	{
		snprintf(s->where, sizeof(s->where), "%.100s.keys[%zu]", where, i);
		if ((rc = seed_key(s, &u, k, app_ids, first_app)))
			goto out;
	}
out:
	secure_zero(password, sizeof(password));
	secure_zero(hash, sizeof(hash));
	secure_zero(&u, sizeof(u));
	return rc;
}

/* {"name", "parent" (a group listed before it), "members": ["a@b.example", "c.example"]}:
 * a member with '@' is an address, one without a domain. groups maps names to ids. */
static int seed_group(struct seed *s, int64_t account_id, json_t *o, json_t *groups)
{
	static const char *const known[] = {"name", "parent", "members", NULL};
	char parent[GROUP_NAME_SIZE];
	json_t *members, *m;
	struct group g;
	size_t i;
	int rc;

	memset(&g, 0, sizeof(g));
	if ((rc = members_known(s, o, known)) ||
	    (rc = str(s, o, "name", 1, g.name, sizeof(g.name))) ||
	    (rc = str(s, o, "parent", 0, parent, sizeof(parent))) ||
	    (rc = list(s, o, "members", &members)))
		return rc;
	if (parent[0]) {
		json_t *id = json_object_get(groups, parent);
		if (!id)
			return bad(s, "'parent' names no group listed before this one");
		g.parent_id = json_integer_value(id);
	}
	g.account_id = account_id;
	g.created = s->now;
	if ((rc = store_group_create(s->st, &g, s->e)))
		return rc;
	json_object_set_new(groups, g.name, json_integer(g.id));
	json_array_foreach(members, i, m)
	{
		char v[MEMBER_VALUE_SIZE], norm[DOMAIN_NAME_MAX + 1];
		const char *why = NULL;
		int kind = MEMBER_EMAIL;
		if (!json_is_string(m) || json_string_length(m) >= sizeof(v))
			return bad(s, "'members' holds addresses and domains (strings)");
		memcpy(v, json_string_value(m), json_string_length(m) + 1);
		lower(v);
		if (!strchr(v, '@')) {
			if (domain_name_normalise(v, strlen(v), norm, &why) != 0)
				return bad(s, "member '%s' is not an address or a domain", v);
			snprintf(v, sizeof(v), "%s", norm);
			kind = MEMBER_DOMAIN;
		} else if (!email_ok(v)) {
			return bad(s, "member '%s' is not an address", v);
		}
		rc = store_group_member_add(s->st, account_id, g.id, kind, v, NULL, s->e);
		if (rc == MC_ERR_EXISTS)
			return bad(s, "member '%s' twice", v);
		if (rc)
			return rc;
	}
	return 0;
}

/* A managed sender, as permit-or-block-sender makes it. */
static int seed_policy(struct seed *s, int64_t account_id, json_t *o)
{
	static const char *const known[] = {"sender", "to", "action", NULL};
	char action[16];
	struct sender_policy p;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = members_known(s, o, known)) ||
	    (rc = str(s, o, "sender", 1, p.from_value, sizeof(p.from_value))) ||
	    (rc = str(s, o, "to", 1, p.to_value, sizeof(p.to_value))) ||
	    (rc = str(s, o, "action", 1, action, sizeof(action))))
		return rc;
	lower(p.from_value);
	lower(p.to_value);
	if (!email_ok(p.from_value) || !email_ok(p.to_value))
		return bad(s, "'sender' and 'to' must be addresses");
	if (strcmp(action, "permit") && strcmp(action, "block"))
		return bad(s, "'action' must be permit or block");
	p.account_id = account_id;
	p.kind = POLICY_MANAGED_SENDER;
	p.action = strcmp(action, "permit") == 0 ? POLICY_PERMIT : POLICY_BLOCK;
	memcpy(p.from_part, "envelope_from", sizeof("envelope_from"));
	memcpy(p.from_type, "individual_email_address", sizeof("individual_email_address"));
	memcpy(p.to_type, "individual_email_address", sizeof("individual_email_address"));
	p.from_eternal = p.to_eternal = 1;
	p.from_date = DATE_1900_MS;
	p.to_date = DATE_2100_MS;
	p.enabled = 1;
	p.created = p.updated = s->now;
	return store_policy_put(s->st, &p, s->e);
}

/* An audit event of the account's history: {"user" (an address), "category" (as
 * get-audit-events shows them), "type" (auditType), "info" (eventInfo), "time" (ISO 8601,
 * default: the clock)}, written as given (the seed's own events come before it). */
static int seed_audit_event(struct seed *s, int64_t account_id, json_t *o)
{
	static const char *const known[] = {"user", "category", "type", "info", "time", NULL};
	static const char *const categories[] = {"authentication_logs", "account_logs",
	                                         "integrations_and_apis",
	                                         "user_account_and_role_logs", NULL};
	char user[256], category[32], type[128], info[768], when[64];
	struct audit_event ev;
	size_t i;
	int rc;

	if ((rc = members_known(s, o, known)) || (rc = str(s, o, "user", 1, user, sizeof(user))) ||
	    (rc = str(s, o, "category", 1, category, sizeof(category))) ||
	    (rc = str(s, o, "type", 1, type, sizeof(type))) ||
	    (rc = str(s, o, "info", 0, info, sizeof(info))) ||
	    (rc = str(s, o, "time", 0, when, sizeof(when))))
		return rc;
	lower(user);
	if (!email_ok(user))
		return bad(s, "'user' is not an address");
	for (i = 0; categories[i] && strcmp(categories[i], category) != 0; i++)
		;
	if (!categories[i])
		return bad(s, "'category' must be authentication_logs, account_logs, "
		              "integrations_and_apis or user_account_and_role_logs");
	memset(&ev, 0, sizeof(ev));
	ev.time = s->now;
	if (when[0] && date_parse_iso(when, strlen(when), &ev.time) != 0)
		return bad(s, "'time' is not an ISO 8601 date (2026-01-01T00:00:00Z)");
	ev.account_id = account_id;
	ev.user = user;
	ev.audit_type = type;
	ev.category = category;
	ev.info = info;
	return store_audit_add(s->st, &ev, s->e);
}

/* Runs body (an int expression on item) for each item of the list member key of o, naming
 * each in s->where; leaves through out: on the first failure. */
#define EACH(s, o, key, base, item, body)                                                          \
	do {                                                                                       \
		json_t *list_ = NULL;                                                              \
		size_t i_;                                                                         \
		snprintf((s)->where, sizeof((s)->where), "%s", base);                              \
		if ((rc = list((s), (o), key, &list_)))                                            \
			goto out;                                                                  \
		json_array_foreach(list_, i_, item)                                                \
		{                                                                                  \
			snprintf((s)->where, sizeof((s)->where), "%s.%s[%zu]", base, key, i_);     \
			if ((rc = (body)))                                                         \
				goto out;                                                          \
		}                                                                                  \
	} while (0)

static int seed_account(struct seed *s, json_t *o, size_t n)
{
	static const char *const known[] = {"name",         "code",         "domains",
	                                    "applications", "users",        "groups",
	                                    "policies",     "audit_events", NULL};
	json_t *app_ids = json_object(), *groups = json_object(), *x;
	char base[32];
	struct account a;
	int64_t first_app = 0;
	int rc;

	snprintf(base, sizeof(base), "accounts[%zu]", n);
	snprintf(s->where, sizeof(s->where), "%s", base);
	store_account_init(&a);
	if (!app_ids || !groups) {
		rc = err_set(s->e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = members_known(s, o, known)) ||
	    (rc = str(s, o, "name", 1, a.name, sizeof(a.name))) ||
	    (rc = str(s, o, "code", 0, a.code, sizeof(a.code))))
		goto out;
	snprintf(a.region, sizeof(a.region), "%s", s->defs->region);
	rc = store_account_create(s->st, &a, s->e);
	if (rc == MC_ERR_EXISTS)
		rc = bad(s, "account code '%s' exists already", a.code);
	if (rc || (rc = audit(s, a.id, "account_logs", "Account Created", "account", a.code)))
		goto out;
	EACH(s, o, "domains", base, x, seed_domain(s, a.id, x));
	EACH(s, o, "applications", base, x, seed_app(s, a.id, x, app_ids, &first_app));
	EACH(s, o, "users", base, x, seed_user(s, a.id, x, app_ids, first_app));
	EACH(s, o, "groups", base, x, seed_group(s, a.id, x, groups));
	EACH(s, o, "policies", base, x, seed_policy(s, a.id, x));
	EACH(s, o, "audit_events", base, x, seed_audit_event(s, a.id, x));
out:
	json_decref(app_ids);
	json_decref(groups);
	return rc;
}

/* One message: {"file" (an .eml, relative to the seed file), "from", "to": [...],
 * "client_ip"}: the shape, and that the file can be read. */
static int message_ok(struct seed *s, json_t *o, const char *dir, char *file, size_t size,
                      char *from, char *ip)
{
	static const char *const known[] = {"file", "from", "to", "client_ip", NULL};
	char name[512];
	json_t *to = json_object_get(o, "to"), *x;
	size_t i;
	int rc;

	if ((rc = members_known(s, o, known)) || (rc = str(s, o, "file", 1, name, sizeof(name))) ||
	    (rc = str(s, o, "from", 0, from, MAIL_ADDR_SIZE)) ||
	    (rc = str(s, o, "client_ip", 0, ip, 64)))
		return rc;
	if (!json_is_array(to) || json_array_size(to) == 0)
		return bad(s, "'to' must be a list of one or more addresses");
	json_array_foreach(
	        to, i,
	        x) if (!json_is_string(x) ||
	               !email_ok(json_string_value(
	                       x))) return bad(s, "'to' must be a list of one or more addresses");
	if (name[0] == '/')
		snprintf(file, size, "%s", name);
	else
		snprintf(file, size, "%s/%s", dir, name);
	FILE *fp = fopen(file, "rb");
	if (!fp)
		return bad(s, "cannot read '%s'", file);
	fclose(fp);
	return 0;
}

int emu_seed(struct store *st, const struct emu_seed_defaults *defs, const char *path,
             struct err *e)
{
	static const char *const known[] = {"accounts", "messages", NULL};
	struct seed s = {st, defs, now_ms(), "the file", e};
	json_t *doc = NULL, *accounts, *x;
	char dir[512];
	size_t i;
	int rc;

	if ((rc = seed_doc_load(path, &doc, dir, sizeof(dir), e)) != 0)
		return rc;
	if ((rc = members_known(&s, doc, known)) || (rc = list(&s, doc, "accounts", &accounts)) ||
	    (rc = list(&s, doc, "messages", &x)))
		goto done;
	{ /* the messages come later (emu_seed_messages): their mistakes are found now */
		char file[1024], from[MAIL_ADDR_SIZE], ip[64];
		json_array_foreach(json_object_get(doc, "messages"), i, x)
		{
			snprintf(s.where, sizeof(s.where), "messages[%zu]", i);
			if ((rc = message_ok(&s, x, dir, file, sizeof(file), from, ip)))
				goto done;
		}
	}
	if ((rc = store_tx_begin(st, e)))
		goto done;
	json_array_foreach(accounts, i, x)
	{
		if ((rc = seed_account(&s, x, i)))
			break;
	}
	if (rc)
		store_tx_rollback(st);
	else
		rc = store_tx_commit(st, e);
done:
	json_decref(doc);
	return rc;
}

/* ---- messages ---- */

/* Reads file into b with CRLF line ends and a final CRLF, as an SMTP session spools a
 * message (its dots are not stuffed: DATA's unstuffing is already undone). */
static int read_eml(const char *file, struct buf *b, struct err *e)
{
	FILE *fp = fopen(file, "rb");
	int c, prev = 0, rc = 0;

	if (!fp)
		return err_set(e, MC_ERR_IO, "seed: cannot read '%s'", file);
	while (rc == 0 && (c = fgetc(fp)) != EOF) {
		if (c == '\n' && prev != '\r')
			rc = buf_addc(b, '\r');
		if (rc == 0)
			rc = buf_addc(b, (char)c);
		prev = c;
	}
	fclose(fp);
	if (rc == 0 && (b->len < 2 || memcmp(b->data + b->len - 2, "\r\n", 2) != 0))
		rc = buf_add(b, "\r\n", 2);
	return rc ? err_set(e, MC_ERR_TOO_LARGE, "seed: '%s' is too large", file) : 0;
}

static int pending_cb(void *arg, int route, const char *bucket, int64_t n)
{
	(void)route;
	if (strcmp(bucket, "pending") == 0)
		*(int64_t *)arg += n;
	return 0;
}

int emu_seed_messages(struct server *srv, const char *path, struct err *e)
{
	struct seed s = {srv->store, NULL, now_ms(), "the file", e};
	json_t *doc = NULL, *msgs, *x, *y, *to;
	struct mail_txn t = {0};
	int64_t accounts[64];
	size_t i, j, naccounts = 0;
	char dir[512];
	struct buf b;
	int rc = 0;

	if ((rc = seed_doc_load(path, &doc, dir, sizeof(dir), e)) != 0)
		return rc;
	buf_init(&b, (size_t)srv->cfg->smtp_max_size + 2);
	msgs = json_object_get(doc, "messages");
	if (!json_array_size(msgs))
		goto out;
	if (mail_txn_init(&t, srv->cfg->smtp_max_rcpts) != 0) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(msgs, i, x)
	{
		char file[1024], from[MAIL_ADDR_SIZE], ip[64];
		struct mail_reply r = {0};

		snprintf(s.where, sizeof(s.where), "messages[%zu]", i);
		if ((rc = message_ok(&s, x, dir, file, sizeof(file), from, ip)))
			goto out;
		mail_txn_reset(&t);
		snprintf(t.client_ip, sizeof(t.client_ip), "%s", ip[0] ? ip : "127.0.0.1");
		snprintf(t.helo, sizeof(t.helo), "mcapid-seed");
		buf_reset(&b);
		if ((rc = read_eml(file, &b, e)))
			goto out;
		to = json_object_get(x, "to");
		if (mail_check_sender(srv->mail, &t, from, &r) != 0 || r.code)
			goto refused;
		json_array_foreach(to, j, y)
		{
			if (mail_check_rcpt(srv->mail, &t, json_string_value(y), &r) != 0 || r.code)
				goto refused;
		}
		mail_accept_mem(srv->mail, &t, b.data, (int64_t)b.len, &r);
		if (r.code != 250)
			goto refused;
		for (j = 0; j < naccounts && accounts[j] != t.account_id; j++)
			;
		if (j == naccounts && naccounts < sizeof(accounts) / sizeof(accounts[0]))
			accounts[naccounts++] = t.account_id;
		continue;
	refused:
		rc = bad(&s, "the gateway answered %d %s", r.code ? r.code : 451, r.text);
		goto out;
	}
	/* the state a reset returns to is the state after the pipeline took them: wait (a
	 * bounded while) until no recipient of theirs is pending */
	mail_kick(srv->mail);
	for (int64_t until = mono_ms() + 15000; mono_ms() < until;) {
		int64_t pending = 0;
		for (j = 0; j < naccounts; j++)
			if (store_mail_queue_counts(srv->store, accounts[j], 0, 0, pending_cb,
			                            &pending, NULL) != 0)
				pending++;
		if (!pending)
			break;
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
out:
	mail_txn_release(&t);
	buf_release(&b);
	json_decref(doc);
	return rc;
}
