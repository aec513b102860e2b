/* The public store functions: pick a backend at open, then dispatch through its ops table.
 * What every backend would do alike happens here, before the call: generated identifiers
 * (account mimecastId and code in the real service's formats, see gen_mimecast_id; app id
 * and app key as random GUIDs), retried on the rare clash; the documented defaults of an
 * account; e-mails lower-cased; creation times; text fields checked to be terminated
 * within their arrays. */
#include "pg_int.h"
#include "store_int.h"
#include "store_mail_int.h"

#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/namekey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define GEN_ATTEMPTS 8

int store_open(const struct store_config *cfg, struct store **out, struct err *e)
{
	const char *backend = cfg && cfg->backend && *cfg->backend ? cfg->backend : "sqlite";
	int rc;

	*out = NULL;
	if (!cfg || !cfg->key)
		return err_set(e, MC_ERR_INVALID, "no server key given to the store");
	if (crypto_init() != 0)
		return err_set(e, MC_ERR_CRYPTO, "cannot initialise libsodium");
	if (strcmp(backend, "sqlite") == 0)
		rc = sqlite_store_open(cfg, out, e);
	else if (strcmp(backend, "postgres") == 0)
		rc = pg_store_open(cfg, out, e);
	else
		return err_set(e, MC_ERR_INVALID, "unknown store backend '%s'", backend);
	if (rc)
		return rc;
	if (mail_intake_new(&(*out)->intake) != 0) {
		store_close(*out);
		*out = NULL;
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	}
	{
		struct err fe = {0};
		/* not fatal: until their keys are there, such users are compared one by one */
		if (store_user_name_keys_fill(*out, &fe) != 0) {
			char q[400];

			log_warn("msg=\"cannot compute users' name keys\" error=%s",
			         log_quote(fe.msg, q, sizeof(q)));
		}
	}
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	mail_intake_free(st->intake);
	st->intake = NULL;
	st->ops->close(st);
}

int store_ping(struct store *st)
{
	return st->ops->ping(st);
}

int store_schema_version(struct store *st)
{
	return st->ops->schema_version(st);
}

int store_tx_begin(struct store *st, struct err *e)
{
	return st->ops->tx_begin(st, e);
}

int store_tx_commit(struct store *st, struct err *e)
{
	return st->ops->tx_commit(st, e);
}

void store_tx_rollback(struct store *st)
{
	st->ops->tx_rollback(st);
}

/* 0 if s is NUL-terminated within size bytes, else MC_ERR_INVALID naming the field. */
static int check_text(const char *s, size_t size, const char *field, struct err *e)
{
	if (memchr(s, '\0', size))
		return 0;
	return err_set(e, MC_ERR_INVALID, "field '%s' is not terminated", field);
}

#define CHECK_TEXT(rec, field)                                                                     \
	do {                                                                                       \
		int rc_ = check_text((rec)->field, sizeof((rec)->field), #field, e);               \
		if (rc_)                                                                           \
			return rc_;                                                                \
	} while (0)

static void lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* The packages of a new account: names in the style the real service lists them. */
#define DEFAULT_PACKAGES                                                                           \
	"[\"Mimecast Platform [1033]\",\"Secure Email Gateway (Site) [1039]\","                    \
	"\"Advanced MTA (Site) [1002]\",\"Metadata Track and Trace (Site) [1032]\","               \
	"\"Attachment Protection (Site) [1056]\",\"URL Protection (Site) [1043]\","                \
	"\"Impersonation Protection [1060]\"]"
#define DEFAULT_TYPE                  "full"
#define DEFAULT_CONTENT_VIEW          "Metadata"
#define DEFAULT_MAX_RETENTION         30 /* days */
#define DEFAULT_ADMIN_SESSION_TIMEOUT 60 /* minutes */

void store_account_init(struct account *a)
{
	memset(a, 0, sizeof(*a));
	memcpy(a->type, DEFAULT_TYPE, sizeof(DEFAULT_TYPE));
	memcpy(a->content_view, DEFAULT_CONTENT_VIEW, sizeof(DEFAULT_CONTENT_VIEW));
	memcpy(a->timezone, "UTC", 4);
	memcpy(a->packages, DEFAULT_PACKAGES, sizeof(DEFAULT_PACKAGES));
	a->max_retention = DEFAULT_MAX_RETENTION;
	a->admin_session_timeout = DEFAULT_ADMIN_SESSION_TIMEOUT;
	a->max_retention_confirmed = 1;
	a->automated_segment_purge = 1;
}

/* A number in [lo, hi] from random bytes, by rejection so every value is as likely. */
static unsigned random_in(unsigned lo, unsigned hi)
{
	uint32_t span = hi - lo + 1, limit = UINT32_MAX - UINT32_MAX % span, r;

	do
		random_bytes(RND_ACCOUNT, &r, sizeof(r));
	while (r >= limit);
	return lo + r % span;
}

/* mimecastId as the real service writes it, "01-0035-00403": two, four and five digits.
 * The first group is always 01 here (one installation); the others are random and never
 * all zero, because the account code is made of them. */
static void gen_mimecast_id(char *dst, size_t size)
{
	snprintf(dst, size, "01-%04u-%05u", random_in(1, 9999), random_in(1, 99999));
}

/* The account code the real service pairs with a mimecastId ("CUSA35A403" with
 * "01-0035-00403" in the recording): "C", the region upper-cased, then "A" and each of
 * the last two groups of the mimecastId without leading zeros. Only letters and digits
 * of the region are kept (at most 8). 0, or -1 when mcid is not in that format. */
static int code_from_mimecast_id(const char *mcid, const char *region, char *dst, size_t size)
{
	char reg[9];
	size_t n = 0;
	unsigned mid, last;

	if (strlen(mcid) != 13 || mcid[2] != '-' || mcid[7] != '-' ||
	    strspn(mcid, "0123456789") != 2 || strspn(mcid + 3, "0123456789") != 4 ||
	    strspn(mcid + 8, "0123456789") != 5)
		return -1;
	mid = (unsigned)((mcid[3] - '0') * 1000 + (mcid[4] - '0') * 100 + (mcid[5] - '0') * 10 +
	                 (mcid[6] - '0'));
	last = 0;
	for (int i = 8; i < 13; i++)
		last = last * 10 + (unsigned)(mcid[i] - '0');
	for (const char *r = region; *r && n < sizeof(reg) - 1; r++) {
		if (*r >= 'a' && *r <= 'z')
			reg[n++] = (char)(*r - 'a' + 'A');
		else if ((*r >= 'A' && *r <= 'Z') || (*r >= '0' && *r <= '9'))
			reg[n++] = *r;
	}
	reg[n] = '\0';
	snprintf(dst, size, "C%sA%uA%u", reg, mid, last);
	return 0;
}

/* Fills the empty text fields and out-of-range numbers that have a default (store.h). */
static void account_fill(struct account *a)
{
	if (!a->packages[0])
		memcpy(a->packages, "[]", 3);
	if (!a->type[0])
		memcpy(a->type, DEFAULT_TYPE, sizeof(DEFAULT_TYPE));
	if (!a->content_view[0])
		memcpy(a->content_view, DEFAULT_CONTENT_VIEW, sizeof(DEFAULT_CONTENT_VIEW));
	if (!a->timezone[0])
		memcpy(a->timezone, "UTC", 4);
	if (!a->support_code[0])
		snprintf(a->support_code, sizeof(a->support_code), "%04X", random_in(0, 0xffff));
	if (!a->database_code[0])
		snprintf(a->database_code, sizeof(a->database_code), "%.16sterm1", a->region);
	if (a->max_retention < 1)
		a->max_retention = DEFAULT_MAX_RETENTION;
	if (a->admin_session_timeout < 1)
		a->admin_session_timeout = DEFAULT_ADMIN_SESSION_TIMEOUT;
}

static int check_account(const struct account *a, struct err *e)
{
	CHECK_TEXT(a, code);
	CHECK_TEXT(a, name);
	CHECK_TEXT(a, region);
	CHECK_TEXT(a, admin_email);
	CHECK_TEXT(a, mimecast_id);
	CHECK_TEXT(a, type);
	CHECK_TEXT(a, domain);
	CHECK_TEXT(a, packages);
	CHECK_TEXT(a, passphrase);
	CHECK_TEXT(a, support_code);
	CHECK_TEXT(a, database_code);
	CHECK_TEXT(a, content_view);
	CHECK_TEXT(a, contact_email);
	CHECK_TEXT(a, contact_name);
	CHECK_TEXT(a, telephone);
	CHECK_TEXT(a, timezone);
	if (!a->name[0])
		return err_set(e, MC_ERR_INVALID, "an account needs a name");
	return 0;
}

int store_account_create(struct store *st, struct account *a, struct err *e)
{
	int gen_code = !a->code[0], gen_mcid = !a->mimecast_id[0];
	int rc = check_account(a, e);

	if (rc)
		return rc;
	account_fill(a);
	lower_ascii(a->admin_email);
	lower_ascii(a->contact_email);
	a->created = now_ms();
	rc = MC_ERR_EXISTS;
	for (int i = 0; i < GEN_ATTEMPTS && rc == MC_ERR_EXISTS; i++) {
		if (gen_mcid)
			gen_mimecast_id(a->mimecast_id, sizeof(a->mimecast_id));
		/* the code pairs with the mimecastId; a given mimecastId in another format,
		 * or one whose code clashed, gets a code of random numbers */
		if (gen_code && ((!gen_mcid && i > 0) ||
		                 code_from_mimecast_id(a->mimecast_id, a->region, a->code,
		                                       sizeof(a->code)) != 0)) {
			char other[16];
			gen_mimecast_id(other, sizeof(other));
			code_from_mimecast_id(other, a->region, a->code, sizeof(a->code));
		}
		rc = st->ops->account_create(st, a, e);
		if (!gen_code && !gen_mcid)
			break;
	}
	return rc;
}

int store_account_get(struct store *st, int64_t id, struct account *out, struct err *e)
{
	return st->ops->account_get(st, id, out, e);
}

int store_account_get_by_code(struct store *st, const char *code, struct account *out,
                              struct err *e)
{
	return st->ops->account_get_by_code(st, code, out, e);
}

int store_account_list(struct store *st, int (*fn)(void *arg, const struct account *a), void *arg,
                       struct err *e)
{
	return st->ops->account_list(st, fn, arg, e);
}

int store_account_user_count(struct store *st, int64_t account_id, int64_t *count, struct err *e)
{
	return st->ops->account_user_count(st, account_id, count, e);
}

int store_account_update(struct store *st, const struct account *a, struct err *e)
{
	int rc = check_account(a, e);

	return rc ? rc : st->ops->account_update(st, a, e);
}

int store_app_create(struct store *st, struct application *app, struct err *e)
{
	int gen_id = !app->app_id[0], gen_key = !app->app_key[0];
	int rc = MC_ERR_EXISTS;

	CHECK_TEXT(app, app_id);
	CHECK_TEXT(app, app_key);
	CHECK_TEXT(app, name);
	if (gen_key)
		random_guid(RND_APP, app->app_key);
	app->created = now_ms();
	app->revoked = 0;
	for (int i = 0; i < GEN_ATTEMPTS && rc == MC_ERR_EXISTS; i++) {
		if (gen_id)
			random_guid(RND_APP, app->app_id);
		rc = st->ops->app_create(st, app, e);
		if (!gen_id)
			break;
	}
	return rc;
}

int store_app_get(struct store *st, const char *app_id, struct application *out, struct err *e)
{
	return st->ops->app_get(st, app_id, out, e);
}

int store_app_get_by_id(struct store *st, int64_t id, struct application *out, struct err *e)
{
	return st->ops->app_get_by_id(st, id, out, e);
}

int store_app_list(struct store *st, int64_t account_id,
                   int (*fn)(void *arg, const struct application *a), void *arg, struct err *e)
{
	return st->ops->app_list(st, account_id, fn, arg, e);
}

int store_app_revoke(struct store *st, const char *app_id, int64_t now, struct err *e)
{
	return st->ops->app_revoke(st, app_id, now, e);
}

static int check_user(const struct user *u, struct err *e)
{
	CHECK_TEXT(u, email);
	CHECK_TEXT(u, name);
	CHECK_TEXT(u, password_hash);
	if (u->binding_ttl_ms < 0 && u->binding_ttl_ms != STORE_TTL_NEVER)
		return err_set(e, MC_ERR_INVALID, "binding ttl %lld out of range",
		               (long long)u->binding_ttl_ms);
	return 0;
}

int store_user_create(struct store *st, struct user *u, struct err *e)
{
	int rc = check_user(u, e);
	char *key;

	if (rc)
		return rc;
	if (!u->email[0])
		return err_set(e, MC_ERR_INVALID, "a user needs an e-mail address");
	lower_ascii(u->email);
	if (!u->created)
		u->created = now_ms();
	key = name_key(u->name);
	rc = st->ops->user_create(st, u, key ? key : "", e);
	name_key_free(key);
	return rc;
}

int store_user_get(struct store *st, int64_t id, struct user *out, struct err *e)
{
	return st->ops->user_get(st, id, out, e);
}

int store_user_get_by_email(struct store *st, const char *email, struct user *out, struct err *e)
{
	char lower[sizeof(out->email)];
	size_t n = strlen(email);

	if (n >= sizeof(lower))
		return err_set(e, MC_ERR_NOT_FOUND, "no user with that e-mail address");
	memcpy(lower, email, n + 1);
	lower_ascii(lower);
	return st->ops->user_get_by_email(st, lower, out, e);
}

int store_user_list(struct store *st, int64_t account_id,
                    int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	return st->ops->user_list(st, account_id, fn, arg, e);
}

int store_user_update(struct store *st, const struct user *u, struct err *e)
{
	int rc = check_user(u, e);
	char *key;

	if (rc)
		return rc;
	key = name_key(u->name);
	rc = st->ops->user_update(st, u, key ? key : "", e);
	name_key_free(key);
	return rc;
}

/* ---- users by display name (impersonation checks) ---- */

struct by_name {
	const char *key;
	int (*fn)(void *arg, const struct user *u);
	void *arg;
};

/* A row whose key is not computed yet is compared here. */
static int by_name_row(void *arg, const struct user *u)
{
	struct by_name *b = arg;
	char *k;
	int same;

	if (!u->name[0])
		return 0;
	k = name_key(u->name);
	same = k && !strcmp(k, b->key);
	name_key_free(k);
	return same ? b->fn(b->arg, u) : 0;
}

int store_user_by_name(struct store *st, int64_t account_id, const char *name,
                       int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	struct by_name b;
	char *key = name_key(name);
	int rc;

	if (!key)
		return 0;
	b.key = key;
	b.fn = fn;
	b.arg = arg;
	rc = st->ops->user_by_name_key(st, account_id, key, by_name_row, &b, e);
	name_key_free(key);
	return rc;
}

#define KEYLESS_BATCH 256

struct keyless {
	int64_t ids[KEYLESS_BATCH];
	char names[KEYLESS_BATCH][sizeof(((struct user *)0)->name)];
	int n;
};

static int keyless_row(void *arg, const struct user *u)
{
	struct keyless *k = arg;

	k->ids[k->n] = u->id;
	memcpy(k->names[k->n], u->name, sizeof(u->name));
	k->n++;
	return 0;
}

int store_user_name_keys_fill(struct store *st, struct err *e)
{
	struct keyless *k = malloc(sizeof(*k));
	int64_t after = 0;
	int rc = 0;

	if (!k)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	do {
		k->n = 0;
		rc = st->ops->user_keyless(st, after, KEYLESS_BATCH, keyless_row, k, e);
		if (rc || !k->n)
			break;
		/* one transaction a batch: one commit, not one per user */
		if ((rc = store_tx_begin(st, e)) != 0)
			break;
		for (int i = 0; !rc && i < k->n; i++) {
			char *key = name_key(k->names[i]);
			rc = st->ops->user_key_set(st, k->ids[i], k->names[i], key ? key : "", e);
			name_key_free(key);
		}
		if (rc) {
			store_tx_rollback(st);
			break;
		}
		if ((rc = store_tx_commit(st, e)) != 0)
			break;
		after = k->ids[k->n - 1];
	} while (k->n == KEYLESS_BATCH);
	free(k);
	return rc;
}

int store_binding_create(struct store *st, struct binding *b, struct err *e)
{
	CHECK_TEXT(b, access_key);
	if (!b->access_key[0])
		return err_set(e, MC_ERR_INVALID, "a binding needs an access key");
	if (b->secret_len == 0 || b->secret_len > sizeof(b->secret))
		return err_set(e, MC_ERR_INVALID, "binding secret of %zu bytes out of range",
		               b->secret_len);
	if (b->ttl_ms <= 0 && b->ttl_ms != STORE_TTL_NEVER)
		return err_set(e, MC_ERR_INVALID, "binding ttl %lld out of range",
		               (long long)b->ttl_ms);
	if (!b->created)
		b->created = now_ms();
	return st->ops->binding_create(st, b, e);
}

int store_binding_get(struct store *st, const char *access_key, struct binding *out, struct err *e)
{
	return st->ops->binding_get(st, access_key, out, e);
}

int store_binding_set_expiry(struct store *st, int64_t id, int64_t expires, struct err *e)
{
	return st->ops->binding_set_expiry(st, id, expires, e);
}

int store_binding_revoke(struct store *st, int64_t id, int64_t now, struct err *e)
{
	return st->ops->binding_revoke(st, id, now, e);
}

int store_binding_list(struct store *st, int64_t user_id,
                       int (*fn)(void *arg, const struct binding *b), void *arg, struct err *e)
{
	return st->ops->binding_list(st, user_id, fn, arg, e);
}

int store_binding_count(struct store *st, int64_t user_id, int64_t *count, struct err *e)
{
	return st->ops->binding_count(st, user_id, count, e);
}

int store_migrations_check(const struct schema_migration *list, int *latest, struct err *e)
{
	int last = 0;

	for (const struct schema_migration *m = list; m->sql; m++) {
		if (m->version <= last)
			return err_set(e, MC_ERR_INTERNAL, "schema migration '%s' is out of order",
			               m->name);
		last = m->version;
	}
	*latest = last;
	return 0;
}

const char *store_key_hint(const char *access_key, char dst[STORE_KEY_HINT_SIZE])
{
	snprintf(dst, STORE_KEY_HINT_SIZE, "%.8s...", access_key);
	return dst;
}

int store_audit_add(struct store *st, const struct audit_event *ev, struct err *e)
{
	if (!ev->audit_type || !*ev->audit_type || !ev->category || !*ev->category)
		return err_set(e, MC_ERR_INVALID, "an audit event needs a type and a category");
	return st->ops->audit_add(st, ev, e);
}

int store_vauditf(struct store *st, int64_t account_id, const char *user, const char *category,
                  const char *type, int64_t time, struct err *e, const char *fmt, va_list ap)
{
	struct audit_event ev;
	char info[768];

	vsnprintf(info, sizeof(info), fmt, ap);
	memset(&ev, 0, sizeof(ev));
	ev.account_id = account_id;
	ev.user = user;
	ev.audit_type = type;
	ev.category = category;
	ev.info = info;
	ev.time = time;
	return store_audit_add(st, &ev, e);
}

int store_auditf(struct store *st, int64_t account_id, const char *user, const char *category,
                 const char *type, int64_t time, struct err *e, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = store_vauditf(st, account_id, user, category, type, time, e, fmt, ap);
	va_end(ap);
	return rc;
}

/* Copies src to dst (cap bytes with the NUL) with what would break the tail's
 * "Key: value, Key: value" reading (',' and control characters) as '?'. */
static size_t tail_value(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	if (!src || !*src)
		src = "unknown";
	for (; *src && n + 1 < cap; src++, n++) {
		unsigned char c = (unsigned char)*src;
		dst[n] = (c < 0x20 || c == 0x7f || c == ',') ? '?' : (char)c;
	}
	dst[n] = '\0';
	return n;
}

void store_audit_info(char *dst, size_t size, const char *what, int64_t time,
                      const struct audit_origin *o)
{
	char iso[DATE_ISO_LEN], ip[64], app[160], tail[512];
	size_t tn, wn, room;
	int n;

	date_format_iso(time, iso); /* "2015-04-02T15:58:47+0000" */
	iso[10] = '\0';
	tail_value(ip, sizeof(ip), o ? o->ip : NULL);
	tail_value(app, sizeof(app), o ? o->application : NULL);
	n = snprintf(tail, sizeof(tail), ", Date: %s, Time: %s, IP: %s, Application: %s%s%s", iso,
	             iso + 11, ip, app, o && o->detail && *o->detail ? ", " : "",
	             o && o->detail ? o->detail : "");
	tn = n < 0 ? 0 : (size_t)n >= sizeof(tail) ? sizeof(tail) - 1 : (size_t)n;
	if (size <= tn) { /* no room for what: the tail alone, cut */
		snprintf(dst, size, "%s", tail + 2);
		return;
	}
	room = size - tn - 1;
	wn = strlen(what ? what : "");
	if (wn > room)
		wn = room;
	memcpy(dst, what ? what : "", wn);
	memcpy(dst + wn, tail, tn);
	dst[wn + tn] = '\0';
}

int store_audit_voriginf(struct store *st, int64_t account_id, const char *user,
                         const char *category, const char *type, int64_t time,
                         const struct audit_origin *o, struct err *e, const char *fmt, va_list ap)
{
	struct audit_event ev;
	char what[1024], info[1536]; /* under AUDIT_INFO_SIZE: read back whole */

	vsnprintf(what, sizeof(what), fmt, ap);
	store_audit_info(info, sizeof(info), what, time, o);
	memset(&ev, 0, sizeof(ev));
	ev.account_id = account_id;
	ev.user = user;
	ev.audit_type = type;
	ev.category = category;
	ev.info = info;
	ev.time = time;
	return store_audit_add(st, &ev, e);
}

int store_audit_originf(struct store *st, int64_t account_id, const char *user,
                        const char *category, const char *type, int64_t time,
                        const struct audit_origin *o, struct err *e, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = store_audit_voriginf(st, account_id, user, category, type, time, o, e, fmt, ap);
	va_end(ap);
	return rc;
}
