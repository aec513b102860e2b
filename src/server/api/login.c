/* The Login area (API.md §6): discover-authentication and login (both unsigned, with a
 * valid x-mc-app-id) and logout (signed). Login answers a wrong password and an unknown
 * user alike, in the same time: an unknown name is verified against a dummy Argon2id hash
 * and counts towards a lock-out of its own (store_login.h), so neither the answer, the
 * time, nor a lock-out tells whether an address exists. The Argon2id work happens between
 * two write transactions, so the store's write lock is never held for it. An attempt is
 * counted as a failure before its password is checked, in the transaction that reads the
 * lock (login_reserve): concurrent attempts, on one node or several, never check more
 * passwords than lockout_failures allows, and no attempt that starts after the lock is
 * checked at all; a correct password then clears the count. Every outcome is audited in
 * the transaction that records it. */
#include "api.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/auth/authcache.h"
#include "server/auth/basic_cloud.h"
#include "server/auth/hashpool.h"
#include "server/auth/password.h"
#include "server/config.h"
#include "server/region.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_login.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define SCHEME           BASIC_CLOUD_SCHEME
#define METHOD           "Method: Cloud" /* the real service's word for a password login */
#define ACCESS_KEY_BYTES 32              /* 43 base64url characters */
#define SECRET_BYTES     32              /* clients get standard base64: 44 characters */
#define DEFAULT_TTL_MS   (3 * 86400000LL)
#define EMAIL_MAX        BASIC_CLOUD_EMAIL_MAX
#define ACCESS_KEY_MAX   sizeof(((struct binding *)0)->access_key)
#define ITEMS_MAX        50 /* items of a discovery or logout call */
#define E_TOO_MANY       "err_validation_too_many_items"

#define CAT_AUTH           "authentication_logs"
#define CAT_API            "integrations_and_apis"
#define TYPE_LOGIN_OK      "User Logged On" /* the real service's name */
#define TYPE_LOGIN_FAILED  "Logon Authentication Failed"
#define TYPE_LOCKED        "Logon Account Locked"
#define TYPE_LOGOFF        "Logoff"
#define TYPE_KEY_CREATED   "API Key Created"
#define TYPE_KEY_REFRESHED "API Key Refreshed"
#define TYPE_KEY_REVOKED   "API Key Revoked"

static void lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* detail: the fields after Application (docs/audit.md), or NULL. */
static int audit(struct request *req, int64_t account_id, const char *user, const char *category,
                 const char *type, int64_t now, const char *detail, const char *fmt, ...)
        __attribute__((format(printf, 8, 9)));

static int audit(struct request *req, int64_t account_id, const char *user, const char *category,
                 const char *type, int64_t now, const char *detail, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = api_vauditf(req, account_id, user, category, type, now, detail, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* " <Display Name>" after an address, as the real service writes it, or "". */
static const char *display(const struct user *u, char *dst, size_t size)
{
	dst[0] = '\0';
	if (u->name[0])
		snprintf(dst, size, " <%s>", u->name);
	return dst;
}

/* ---- discover-authentication ---- */

/* A stable opaque token for an address: keyed BLAKE2b of the lower-cased address, the
 * same for addresses that exist and ones that do not. */
static void email_token(const struct request *req, const char *email, char dst[48])
{
	unsigned char h[24];
	char lower[EMAIL_MAX + 1];

	snprintf(lower, sizeof(lower), "%s", email);
	lower_ascii(lower);
	crypto_generichash(h, sizeof(h), (const unsigned char *)lower, strlen(lower),
	                   req->srv->id_key, sizeof(req->srv->id_key));
	b64url_encode(h, sizeof(h), dst);
}

/* 1 if a Host header names one of Mimecast's API hosts (port ignored). */
static int host_is_mimecast(const char *host)
{
	char h[128];
	const char *colon;
	size_t n;

	if (!host)
		return 0;
	colon = strchr(host, ':');
	n = colon ? (size_t)(colon - host) : strlen(host);
	if (n >= sizeof(h))
		return 0;
	memcpy(h, host, n);
	h[n] = '\0';
	return region_is_mimecast_host(h);
}

/* 0 when data holds min..ITEMS_MAX items, else 1 after the one call-wide fail entry (the
 * handler then does nothing else). The cap keeps an answer near the size of its request:
 * each item's answer is bounded, so a call can no longer turn a large body of tiny items
 * into a many times larger answer. */
static int items_check(struct request *req, struct response *res, size_t min)
{
	size_t n = json_array_size(req->data);
	char msg[96];

	if (n > ITEMS_MAX) {
		snprintf(msg, sizeof(msg), "at most %d items per call, %zu given; nothing was done",
		         ITEMS_MAX, n);
		response_fail_item(res, NULL, E_TOO_MANY, msg, NULL, 0);
		return 1;
	}
	if (n < min) {
		response_fail_item(res, NULL, "err_validation_null",
		                   "'data' needs at least one item", "data", 0);
		return 1;
	}
	return 0;
}

int api_login_discover(struct request *req, struct response *res)
{
	const struct config *cfg = req->srv->cfg;
	const struct region_table *regions = &req->srv->regions;
	const char *url, *code;
	char mimecast[REGION_URL_MAX];
	size_t i;
	json_t *item;

	/* Users log in through an application of their own account (see login below), so
	 * the application's account is the account whose region answers: the same for every
	 * address, known or not. */
	code = req->who.account.region[0] ? req->who.account.region : cfg->region;
	url = region_url(regions, code, NULL);
	if (req->tls && host_is_mimecast(request_header(req, "host")) &&
	    region_mimecast_url(code, mimecast, sizeof(mimecast)) == 0)
		url = mimecast; /* came through the development proxy: stay on Mimecast names */
	if (items_check(req, res, 1))
		return 0;
	json_array_foreach(req->data, i, item)
	{
		json_t *v = json_get_ci(item, "emailAddress");
		const char *email;
		char tok[48];
		size_t j;

		if (!v) {
			response_fail_item(res, item, "err_validation_null",
			                   "emailAddress is required", "emailAddress", 0);
			continue;
		}
		if (!json_is_string(v) || json_string_length(v) > EMAIL_MAX) {
			response_fail_item(res, item, "err_validation_invalid_value",
			                   "emailAddress must be an e-mail address", "emailAddress",
			                   0);
			continue;
		}
		email = json_string_value(v);
		if (!*email) {
			response_fail_item(res, item, "err_validation_blank",
			                   "emailAddress is empty", "emailAddress", 0);
			continue;
		}
		for (j = 0; j < i; j++) { /* an address asked twice is answered once */
			json_t *w = json_get_ci(json_array_get(req->data, j), "emailAddress");
			if (json_is_string(w) && strcasecmp(json_string_value(w), email) == 0)
				break;
		}
		if (j < i)
			continue;
		email_token(req, email, tok);
		json_t *out = json_pack("{s:s, s:s, s:[s], s:{s:s, s:s}}", "emailAddress", email,
		                        "emailToken", tok, "authenticate", SCHEME, "region", "code",
		                        code, "api", url);
		if (!out)
			return MC_ERR_NOMEM;
		response_add_data(res, out);
	}
	return 0;
}

/* ---- login ---- */

struct login {
	struct request *req;
	int64_t now;
	char email[EMAIL_MAX + 1];     /* lower-cased */
	char name_key[LOGIN_KEY_SIZE]; /* counter key of a name that is not a user */
	int known;                     /* a user of the application's account */
	struct user user;
	const char *access_key; /* refresh this binding, or NULL */
	json_t *item;           /* the request item (for fail entries), or NULL */
	int32_t failures;       /* the count including this attempt (login_reserve) */
	int locks;              /* this attempt reached lockout_failures and set the lock */
};

static void name_key(const struct request *req, const char *email, char dst[LOGIN_KEY_SIZE])
{
	unsigned char h[32];
	static const char ctx[] = "login-failures:";
	crypto_generichash_state st;

	crypto_generichash_init(&st, req->srv->id_key, sizeof(req->srv->id_key), sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)ctx, sizeof(ctx) - 1);
	crypto_generichash_update(&st, (const unsigned char *)email, strlen(email));
	crypto_generichash_final(&st, h, sizeof(h));
	b64url_encode(h, sizeof(h), dst);
}

static int64_t profile_ttl(const struct request *req, const struct user *u)
{
	int64_t ttl = u->binding_ttl_ms ? u->binding_ttl_ms : req->srv->default_ttl_ms;

	if (ttl == 0 || (ttl < 0 && ttl != STORE_TTL_NEVER))
		ttl = DEFAULT_TTL_MS;
	return ttl;
}

static int first_binding(void *arg, const struct binding *b)
{
	*(struct binding *)arg = *b;
	return 1;
}

/* Inside the transaction: revokes the user's oldest bindings until one more fits. */
static int make_room(struct login *lg)
{
	struct request *req = lg->req;
	int max = req->srv->cfg->max_bindings > 0 ? req->srv->cfg->max_bindings : 100;
	int64_t count = 0;
	char hint[STORE_KEY_HINT_SIZE];
	int rc;

	rc = store_binding_count(req->srv->store, lg->user.id, &count, NULL);
	for (; rc == 0 && count >= max; count--) {
		struct binding old;
		memset(&old, 0, sizeof(old));
		rc = store_binding_list(req->srv->store, lg->user.id, first_binding, &old, NULL);
		if (rc != 1) {
			rc = rc ? rc : MC_ERR_STORE;
			break;
		}
		rc = store_binding_revoke(req->srv->store, old.id, lg->now, NULL);
		authcache_forget(req->srv->authcache, old.access_key);
		if (!rc)
			rc = audit(req, lg->user.account_id, lg->user.email, CAT_API,
			           TYPE_KEY_REVOKED, lg->now, NULL,
			           "key %s of %s revoked: the limit of %d keys was reached",
			           store_key_hint(old.access_key, hint), lg->user.email, max);
		secure_zero(&old, sizeof(old));
	}
	return rc;
}

/* Inside the transaction: a new binding, or the refreshed one, into b. 0, an error, or 1
 * when the access key to refresh is not a live binding of this user and application. */
static int issue_binding(struct login *lg, struct binding *b)
{
	struct request *req = lg->req;
	struct store *st = req->srv->store;
	const struct application *app = &req->who.app;
	char hint[STORE_KEY_HINT_SIZE];
	int rc;

	if (lg->access_key) {
		rc = store_binding_get(st, lg->access_key, b, NULL);
		if (rc == MC_ERR_NOT_FOUND || (rc == 0 && (b->user_id != lg->user.id ||
		                                           b->app_row_id != app->id || b->revoked)))
			return 1;
		if (rc)
			return rc;
		b->expires = b->ttl_ms > 0 ? lg->now + b->ttl_ms : 0;
		rc = store_binding_set_expiry(st, b->id, b->expires, NULL);
		authcache_forget(req->srv->authcache, b->access_key);
		if (!rc)
			rc = audit(req, lg->user.account_id, lg->user.email, CAT_API,
			           TYPE_KEY_REFRESHED, lg->now, NULL,
			           "key %s of %s for application %s refreshed by login%s",
			           store_key_hint(b->access_key, hint), lg->user.email, app->app_id,
			           b->expires ? "" : "; it never expires");
		return rc;
	}
	rc = make_room(lg);
	if (rc)
		return rc;
	for (int attempt = 0; attempt < 4; attempt++) {
		int64_t ttl = profile_ttl(req, &lg->user);
		memset(b, 0, sizeof(*b));
		b->user_id = lg->user.id;
		b->app_row_id = app->id;
		random_token(RND_ACCESS_KEY, ACCESS_KEY_BYTES, b->access_key,
		             sizeof(b->access_key));
		random_bytes(RND_SECRET_KEY, b->secret, SECRET_BYTES);
		b->secret_len = SECRET_BYTES;
		b->created = lg->now;
		b->ttl_ms = ttl;
		b->expires = ttl > 0 ? lg->now + ttl : 0;
		b->extend_on_validate = lg->user.extend_on_validate ? 1 : 0;
		rc = store_binding_create(st, b, NULL);
		if (rc != MC_ERR_EXISTS)
			break;
	}
	if (!rc)
		rc = audit(req, lg->user.account_id, lg->user.email, CAT_API, TYPE_KEY_CREATED,
		           lg->now, NULL, "key %s of %s for application %s created by login%s",
		           store_key_hint(b->access_key, hint), lg->user.email, app->app_id,
		           b->expires ? "" : "; it never expires");
	return rc;
}

static int answer_binding(struct login *lg, const struct binding *b, struct response *res)
{
	char secret[B64_ENCODED_SIZE(sizeof(b->secret))];
	json_t *out;

	b64_encode(b->secret, b->secret_len, secret);
	out = json_pack("{s:s, s:s, s:I, s:s, s:b, s:s}", "accessKey", b->access_key, "secretKey",
	                secret, "duration", (json_int_t)(b->ttl_ms > 0 ? b->ttl_ms : 0),
	                "bindingType", "one_step", "extendOnValidate",
	                b->extend_on_validate ? 1 : 0, "username", lg->user.email);
	secure_zero(secret, sizeof(secret));
	if (!out)
		return MC_ERR_NOMEM;
	response_add_data(res, out);
	return 0;
}

/* The outcome of a correct password: one transaction that clears the failure counter,
 * issues or refreshes the binding and audits both. new_hash: a rehash to store, or "". */
static int login_ok(struct login *lg, const char *new_hash, struct response *res)
{
	struct request *req = lg->req;
	struct store *st = req->srv->store;
	struct binding b;
	struct user u;
	char who[160];
	int rc, bad_key = 0;

	memset(&b, 0, sizeof(b));
	if ((rc = store_tx_begin(st, NULL)) != 0)
		return rc;
	rc = store_user_get(st, lg->user.id, &u, NULL);
	if (rc)
		goto out;
	if (u.failed_logins || u.locked_until || *new_hash) {
		u.failed_logins = 0;
		u.locked_until = 0;
		if (*new_hash)
			snprintf(u.password_hash, sizeof(u.password_hash), "%s", new_hash);
		if ((rc = store_user_update(st, &u, NULL)) != 0)
			goto out;
	}
	lg->user = u;
	rc = issue_binding(lg, &b);
	if (rc == 1) {
		bad_key = 1;
		rc = 0;
	} else if (!rc) {
		rc = audit(req, u.account_id, u.email, CAT_AUTH, TYPE_LOGIN_OK, lg->now,
		           lg->access_key ? METHOD ", Key: refreshed" : METHOD,
		           "Successful authentication for %s%s", u.email,
		           display(&u, who, sizeof(who)));
	}
	if (!rc)
		rc = store_tx_commit(st, NULL);
out:
	if (rc) {
		store_tx_rollback(st);
	} else if (bad_key) {
		response_fail_item(
		        res, lg->item, "err_validation_invalid_value",
		        "accessKey is not a live key of this user and application; log in "
		        "without it for a new key",
		        "accessKey", 0);
	} else {
		log_info("req_id=%s login=ok user_id=%lld refresh=%d", req->req_id, (long long)u.id,
		         lg->access_key != NULL);
		rc = answer_binding(lg, &b, res);
	}
	secure_zero(&b, sizeof(b));
	secure_zero(&u, sizeof(u));
	return rc;
}

/* Counts this attempt as a failure before its password is checked, in one transaction
 * that also reads the lock, so that the check and the count are one step for all nodes
 * (store transactions are serialised: BEGIN IMMEDIATE, or PostgreSQL's write lock). The
 * attempt that reaches lockout_failures sets the lock; a correct password clears both
 * (login_ok). *locked = 1 (nothing counted) if the name is locked now. */
static int login_reserve(struct login *lg, int *locked)
{
	const struct config *cfg = lg->req->srv->cfg;
	struct store *st = lg->req->srv->store;
	int64_t lock_ms = (int64_t)cfg->lockout_minutes * 60000;
	int rc;

	*locked = 0;
	if ((rc = store_tx_begin(st, NULL)) != 0)
		return rc;
	if (lg->known) {
		struct user u;
		rc = store_user_get(st, lg->user.id, &u, NULL);
		if (rc)
			goto out;
		if (u.locked_until > lg->now) {
			*locked = 1;
			secure_zero(&u, sizeof(u));
			goto out;
		}
		if (u.locked_until)
			u.failed_logins = 0,
			u.locked_until = 0; /* a lock that ran out starts afresh */
		lg->failures = ++u.failed_logins;
		if (lg->failures >= cfg->lockout_failures) {
			u.locked_until = lg->now + lock_ms;
			lg->locks = 1;
		}
		rc = store_user_update(st, &u, NULL);
		secure_zero(&u, sizeof(u));
	} else {
		struct login_failure f;
		rc = store_login_failure_get(st, lg->name_key, &f, NULL);
		if (rc)
			goto out;
		if (f.locked_until > lg->now) {
			*locked = 1;
			goto out;
		}
		if (f.locked_until)
			f.failures = 0, f.locked_until = 0;
		lg->failures = ++f.failures;
		if (lg->failures >= cfg->lockout_failures) {
			f.locked_until = lg->now + lock_ms;
			lg->locks = 1;
		}
		f.updated = lg->now;
		rc = store_login_failure_put(st, lg->name_key, &f, lg->now - lock_ms - 86400000,
		                             NULL);
	}
out:
	if (!rc && !*locked)
		rc = store_tx_commit(st, NULL);
	else
		store_tx_rollback(st);
	return rc;
}

/* The outcome of a wrong password or an unknown name (counted by login_reserve already):
 * audits the failure, and the lock when this attempt set it, in one transaction. */
static int login_failed(struct login *lg, struct response *res)
{
	struct request *req = lg->req;
	const struct config *cfg = req->srv->cfg;
	struct store *st = req->srv->store;
	int32_t failures = lg->failures;
	int locked = lg->locks, rc;
	char detail[128], who[160];

	if ((rc = store_tx_begin(st, NULL)) != 0)
		return rc;
	snprintf(detail, sizeof(detail), METHOD ", Reason: %s, Failures: %d of %d",
	         lg->known ? "Wrong password" : "Unknown user", (int)failures,
	         cfg->lockout_failures);
	rc = audit(req, lg->known ? lg->user.account_id : 0, lg->email, CAT_AUTH, TYPE_LOGIN_FAILED,
	           lg->now, detail, "Failed authentication for %s%s", lg->email,
	           lg->known ? display(&lg->user, who, sizeof(who)) : "");
	if (!rc && locked)
		rc = audit(req, lg->known ? lg->user.account_id : 0, lg->email, CAT_AUTH,
		           TYPE_LOCKED, lg->now, NULL,
		           "%s locked for %d minutes after %d failed logins", lg->email,
		           cfg->lockout_minutes, (int)failures);
	if (!rc)
		rc = store_tx_commit(st, NULL);
	if (rc) {
		store_tx_rollback(st);
		return rc;
	}
	log_info("req_id=%s login=failed known=%d failures=%d locked=%d", req->req_id, lg->known,
	         (int)failures, locked);
	response_call_error(res, API_AUTH_FAILED, NULL);
	return 0;
}

/* A login while locked: audited, not counted, and no password is checked. */
static int login_locked(struct login *lg, struct response *res)
{
	struct request *req = lg->req;
	char who[160];
	int rc = audit(req, lg->known ? lg->user.account_id : 0, lg->email, CAT_AUTH,
	               TYPE_LOGIN_FAILED, lg->now, METHOD ", Reason: Account Locked",
	               "Failed authentication for %s%s", lg->email,
	               lg->known ? display(&lg->user, who, sizeof(who)) : "");

	if (rc)
		return rc;
	response_call_error(res, API_ACCOUNT_LOCKED, NULL);
	return 0;
}

/* Reads the request item: userName (any case) and accessKey. 0, or 1 when a fail entry
 * was added. */
static int read_item(struct login *lg, struct response *res, int *mismatch)
{
	json_t *item = json_array_size(lg->req->data) ? json_array_get(lg->req->data, 0) : NULL;
	json_t *v;

	lg->item = item;
	*mismatch = 0;
	if (!item)
		return 0;
	v = json_get_ci(item, "userName");
	if (v && !json_is_string(v)) {
		response_fail_item(res, item, "err_validation_invalid_value",
		                   "userName must be a string", "userName", 0);
		return 1;
	}
	if (v && json_string_length(v) && strcasecmp(json_string_value(v), lg->email) != 0)
		*mismatch = 1;
	v = json_get_ci(item, "accessKey");
	if (v && (!json_is_string(v) || json_string_length(v) >= ACCESS_KEY_MAX)) {
		response_fail_item(res, item, "err_validation_invalid_value",
		                   "accessKey must be an access key", "accessKey", 0);
		return 1;
	}
	if (v && json_string_length(v))
		lg->access_key = json_string_value(v);
	return 0;
}

/* A login that has its user and passed the lock check waits here for its Argon2id check on
 * a hash thread (auth/hashpool.h); the request owns it (async_ctx). */
struct login_job {
	struct hashpool_job job; /* first: the pool hands this back */
	struct login lg;
	struct basic_cloud bc;            /* the password; wiped once checked */
	char new_hash[PASSWORD_HASH_MAX]; /* a rehash to store, or "" */
	int ok;                           /* the password is the known user's */
	int locked;                       /* login_reserve found the lock */
	int reserve_rc;                   /* login_reserve's error, or 0 */
};

static void login_job_free(void *p)
{
	struct login_job *lj = p;

	if (!lj)
		return;
	secure_zero(lj, sizeof(*lj));
	free(lj);
}

/* The Argon2id part: verifies (against the dummy hash for an unknown name, so both cost the
 * same) and re-hashes a hash made with older parameters. */
static void login_check(struct login_job *lj)
{
	struct login *lg = &lj->lg;

	lj->ok = password_verify(lg->known ? lg->user.password_hash : NULL, lj->bc.pw,
	                         lj->bc.pw_n) == 0 &&
	         lg->known;
	if (lj->ok && password_needs_rehash(lg->user.password_hash) &&
	    password_hash(lj->bc.pw, lj->bc.pw_n, lj->new_hash, NULL) != 0)
		lj->new_hash[0] = '\0'; /* keep the old hash; it still verifies */
	basic_cloud_clear(&lj->bc);
}

/* The attempt is counted, atomically with reading the lock (login_reserve), and only then
 * is the password checked: on the hash thread, so that a login refused because the pool is
 * full (503) has counted nothing. */
static void login_job_work(struct login_job *lj)
{
	lj->reserve_rc = login_reserve(&lj->lg, &lj->locked);
	if (!lj->reserve_rc && !lj->locked)
		login_check(lj);
	else
		basic_cloud_clear(&lj->bc);
}

/* Hash thread: count and check, then let the request finish on a worker. */
static void login_job_run(struct hashpool_job *job)
{
	struct login_job *lj = (struct login_job *)job;

	login_job_work(lj);
	request_async_end(lj->lg.req);
}

/* Worker thread, after the check: the outcome's transaction and answer. */
static int login_finish(struct request *req, struct response *res)
{
	struct login_job *lj = req->async_ctx;

	if (lj->reserve_rc)
		return lj->reserve_rc;
	if (lj->locked) /* locked by concurrent attempts since the first look */
		return login_locked(&lj->lg, res);
	return lj->ok ? login_ok(&lj->lg, lj->new_hash, res) : login_failed(&lj->lg, res);
}

int api_login_login(struct request *req, struct response *res)
{
	struct store *st = req->srv->store;
	struct login_job *lj;
	struct login *lg;
	struct login_failure f;
	int rc, mismatch, locked;

	if (!(lj = calloc(1, sizeof(*lj))))
		return MC_ERR_NOMEM;
	req->async_ctx = lj; /* freed (and wiped) with the request, whatever happens */
	req->async_free = login_job_free;
	lg = &lj->lg;
	lg->req = req;
	switch (basic_cloud_parse(request_header(req, "authorization"), &lj->bc)) {
	case BASIC_CLOUD_OK:
		break;
	case BASIC_CLOUD_MISSING:
		response_call_error(res, API_CREDENTIALS_MISSING, NULL);
		return 0;
	case BASIC_CLOUD_OTHER_SCHEME:
		response_call_error(res, API_AUTH_TYPE_UNSUPPORTED, NULL);
		return 0;
	case BASIC_CLOUD_MALFORMED:
		response_call_error(res, API_AUTH_FAILED,
		                    "the Authorization header must be 'Basic-Cloud "
		                    "base64(email:password)'");
		return 0;
	}
	memcpy(lg->email, lj->bc.email, sizeof(lg->email));
	if (read_item(lg, res, &mismatch) != 0)
		return 0;
	lg->now = now_ms();
	rc = mismatch ? MC_ERR_NOT_FOUND : store_user_get_by_email(st, lg->email, &lg->user, NULL);
	if (rc && rc != MC_ERR_NOT_FOUND)
		return rc;
	lg->known = rc == 0 && !lg->user.disabled && lg->user.account_id == req->who.app.account_id;
	if (!lg->known) {
		memset(&lg->user, 0, sizeof(lg->user));
		name_key(req, lg->email, lg->name_key);
		if ((rc = store_login_failure_get(st, lg->name_key, &f, NULL)) != 0)
			return rc;
		locked = f.locked_until > lg->now;
	} else {
		locked = lg->user.locked_until > lg->now;
	}
	if (locked)
		return login_locked(lg, res);
	if (!req->srv->hashpool) { /* unit tests: no pool, the check runs here */
		login_job_work(lj);
		return login_finish(req, res);
	}
	/* Off the worker: the connection waits while a hash thread checks the password. */
	request_go_async(req, login_finish);
	request_async_begin(req);
	lj->job.run = login_job_run;
	if (hashpool_submit(req->srv->hashpool, &lj->job) != 0) {
		/* not queued: answered now, so the guards above are left as they are */
		log_warn("req_id=%s login=busy msg=\"every hash thread is busy and the queue is "
		         "full\"",
		         req->req_id);
		response_call_error(res, API_UNAVAILABLE,
		                    "too many logins at once; please retry in a second");
		return 0;
	}
	return MC_ERR_ASYNC;
}

/* ---- logout ---- */

/* Ends binding b (of the caller's user) in one transaction with its audit row. */
static int end_binding(struct request *req, const struct binding *b, int64_t now)
{
	struct store *st = req->srv->store;
	const struct user *u = &req->who.user;
	char hint[STORE_KEY_HINT_SIZE];
	int rc;

	if (b->revoked)
		return 0; /* logged out already: nothing changes, nothing to audit */
	if ((rc = store_tx_begin(st, NULL)) != 0)
		return rc;
	rc = store_binding_revoke(st, b->id, now, NULL);
	if (!rc)
		rc = audit(req, u->account_id, u->email, CAT_AUTH, TYPE_LOGOFF, now, NULL,
		           "%s logged off key %s", u->email, store_key_hint(b->access_key, hint));
	if (!rc)
		rc = store_tx_commit(st, NULL);
	if (rc)
		store_tx_rollback(st);
	authcache_forget(req->srv->authcache, b->access_key); /* after the commit */
	return rc;
}

int api_login_logout(struct request *req, struct response *res)
{
	int64_t now = now_ms();
	struct binding b;
	size_t i;
	json_t *item;
	int rc = 0;

	if (items_check(req, res, 0))
		return 0;
	if (json_array_size(req->data) == 0)
		return end_binding(req, &req->who.binding, now);
	json_array_foreach(req->data, i, item)
	{
		json_t *v = json_get_ci(item, "accessKey");
		const char *ak;

		if (!v) {
			rc = end_binding(req, &req->who.binding, now);
			if (rc)
				return rc;
			continue;
		}
		if (!json_is_string(v) || !*(ak = json_string_value(v))) {
			response_fail_item(res, item, "err_validation_invalid_value",
			                   "accessKey must be an access key", "accessKey", 0);
			continue;
		}
		rc = store_binding_get(req->srv->store, ak, &b, NULL);
		if (rc == MC_ERR_NOT_FOUND || (rc == 0 && b.user_id != req->who.user.id)) {
			response_fail_item(res, item, "err_validation_invalid_value",
			                   "accessKey is not a key of this user", "accessKey", 0);
			rc = 0;
			continue;
		}
		if (!rc)
			rc = end_binding(req, &b, now);
		secure_zero(&b, sizeof(b));
		if (rc)
			return rc;
	}
	return 0;
}
