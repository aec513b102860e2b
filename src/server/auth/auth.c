/* Authentication of signed calls; see auth.h. Every failure takes the same code path
 * shape regardless of which secret was wrong, and signatures are compared in constant
 * time (sig.c). Secrets never reach a log line. */
#include "auth.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/auth/authcache.h"
#include "server/auth/replay.h"
#include "server/auth/sig.h"
#include "server/api/api.h"
#include "server/config.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/store/store_shared.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

_Static_assert(sizeof(((struct request *)0)->pair) == REPLAY_PAIR_LEN, "request pair size");

static enum api_error load_app(struct request *req, char *msg, size_t msg_size)
{
	struct server *srv = req->srv;
	const char *app_id = request_header(req, "x-mc-app-id");
	int64_t t = mono_ms(); /* before the read: authcache_flush */
	struct err e = {0};
	int rc;

	if (!app_id || !*app_id) {
		snprintf(msg, msg_size, "App ID is invalid: ");
		req->auth_check = "app_id_missing";
		return API_DEVELOPER_KEY;
	}
	if (authcache_get_app(srv->authcache, app_id, t, &req->who.app)) {
		rc = 0;
	} else {
		rc = store_app_get(srv->store, app_id, &req->who.app, &e);
		if (rc == 0)
			authcache_put_app(srv->authcache, &req->who.app, t);
	}
	if (rc == MC_ERR_NOT_FOUND || (rc == 0 && req->who.app.revoked)) {
		char q[96];
		snprintf(msg, msg_size, "App ID is invalid: %.64s", app_id);
		req->auth_check = "app_id_unknown";
		log_debug("req_id=%s auth=app_unknown app_id=%s", req->req_id,
		          log_quote(app_id, q, sizeof(q)));
		return API_DEVELOPER_KEY;
	}
	if (rc) {
		api_log_store_error(req, "auth", "app_get", rc, &e);
		return api_error_from_mc(rc);
	}
	return API_OK;
}

enum api_error auth_app(struct request *req, char *msg, size_t msg_size)
{
	enum api_error ae = load_app(req, msg, msg_size);
	struct err e = {0};
	int rc;

	if (ae != API_OK)
		return ae;
	rc = store_account_get(req->srv->store, req->who.app.account_id, &req->who.account, &e);
	if (rc) {
		api_log_store_error(req, "auth", "account_get", rc, &e);
		return api_error_from_mc(rc);
	}
	return API_OK;
}

/* The binding of access_key with its user and account, and (when key is not NULL) its
 * secret made ready for the signature check, from the cache or the store. */
static enum api_error load_rows(struct request *req, const char *access_key,
                                struct hmac_sha1_key *key)
{
	struct server *srv = req->srv;
	struct principal *who = &req->who;
	struct auth_rows rows;
	struct err e = {0};
	int64_t t = mono_ms();
	int rc;

	if (authcache_get_rows(srv->authcache, access_key, t, &who->binding, &who->user,
	                       &who->account, key))
		return API_OK;
	rc = store_binding_get(srv->store, access_key, &who->binding, &e);
	if (rc == MC_ERR_NOT_FOUND)
		return API_INVALID_SIGNATURE;
	if (rc)
		api_log_store_error(req, "auth", "binding_get", rc, &e);
	if (rc == MC_ERR_UNAVAILABLE)
		return API_UNAVAILABLE;
	if (rc) /* e.g. a secret that does not open with this server key */
		return API_INVALID_SIGNATURE;
	rc = store_user_get(srv->store, who->binding.user_id, &who->user, &e);
	if (rc == 0)
		rc = store_account_get(srv->store, who->user.account_id, &who->account, &e);
	if (rc) {
		api_log_store_error(req, "auth", "user_get", rc, &e);
		return api_error_from_mc(rc);
	}
	rows.binding = who->binding;
	rows.user = who->user;
	rows.account = who->account;
	rc = hmac_sha1_key_init(&rows.key, who->binding.secret, who->binding.secret_len);
	if (rc == 0) {
		authcache_put_rows(srv->authcache, &rows, t);
		if (key)
			*key = rows.key;
	}
	secure_zero(&rows, sizeof(rows));
	return rc ? api_error_from_mc(rc) : API_OK;
}

static int empty(const char *s)
{
	return !s || !*s;
}

/* Logs why a signed call was refused, with the first 8 characters of the access key at
 * most: enough to tell keys apart, never the secret, the signature or what was expected. */
static enum api_error refused(struct request *req, enum api_error ae, const char *reason,
                              const char *ak, size_t ak_len)
{
	char app[96], rid[96];
	const char *app_id = request_header(req, "x-mc-app-id");

	req->auth_check = reason; /* the control plane's journal shows it */
	log_info("msg=\"authentication refused\" reason=%s req_id=%s ip=%s app_id=%s "
	         "access_key=%.*s%s",
	         reason, log_quote(req->req_id, rid, sizeof(rid)),
	         req->client_ip[0] ? req->client_ip : "-",
	         log_quote(app_id ? app_id : "-", app, sizeof(app)),
	         ak ? (int)(ak_len < 8 ? ak_len : 8) : 1, ak ? ak : "-",
	         ak && ak_len > 8 ? "..." : "");
	return ae;
}

enum api_error auth_signed(struct request *req, char *msg, size_t msg_size)
{
	struct server *srv = req->srv;
	struct principal *who = &req->who;
	const char *authz, *date, *req_id;
	struct sig_slice ak, sig;
	char ak_buf[sizeof(who->binding.access_key)];
	struct hmac_sha1_key key;
	/* now stamps records (binding expiry); real checks the client's clock */
	int64_t date_ms, now = now_ms(), real = real_now_ms();
	int other_app, good;
	enum api_error ae;

	msg[0] = '\0';
	if ((ae = load_app(req, msg, msg_size)) != API_OK)
		return ae;

	authz = request_header(req, "authorization");
	date = request_header(req, "x-mc-date");
	req_id = request_header(req, "x-mc-req-id");
	if (empty(authz) || empty(date) || empty(req_id))
		return refused(req, API_CREDENTIALS_MISSING, "credentials_missing", NULL, 0);

	if (date_parse_rfc1123(date, strlen(date), &req->date_ms) != 0) {
		snprintf(msg, msg_size,
		         "x-mc-date is not a date like 'Tue, 24 Nov 2015 12:50:11 UTC'");
		return refused(req, API_DATE_INVALID, "date_unparseable", NULL, 0);
	}
	date_ms = req->date_ms;
	req->date_set = 1; /* the claim (auth_take) needs it again */
	int64_t skew = (int64_t)srv->cfg->skew * 1000;
	if (date_ms < real - skew || date_ms > real + skew) {
		snprintf(msg, msg_size,
		         "x-mc-date is %s the server time by more than %d seconds; check the clock",
		         date_ms < real ? "behind" : "ahead of", srv->cfg->skew);
		return refused(req, API_DATE_INVALID, "date_outside_window", NULL, 0);
	}
	if (sig_parse_authorization(authz, &ak, &sig) != 0 || ak.n >= sizeof(ak_buf))
		return refused(req, API_INVALID_SIGNATURE, "authorization_malformed", NULL, 0);
	memcpy(ak_buf, ak.p, ak.n);
	ak_buf[ak.n] = '\0';
	if ((ae = load_rows(req, ak_buf, &key)) != API_OK)
		return ae == API_INVALID_SIGNATURE
		               ? refused(req, ae, "access_key_unknown", ak_buf, ak.n)
		               : ae;
	other_app = who->binding.app_row_id != who->app.id;
	good = !other_app &&
	       sig_verify_key(&key, date, req_id, req->path, req->query, who->app.app_key, sig);
	secure_zero(&key, sizeof(key));
	if (other_app)
		return refused(req, API_INVALID_SIGNATURE, "access_key_of_another_application",
		               ak_buf, ak.n);
	if (!good)
		return refused(req, API_INVALID_SIGNATURE, "signature_mismatch", ak_buf, ak.n);
	req->user_known = 1; /* the answer shows this user's rate-limit bucket */

	if (who->binding.revoked || (who->binding.expires && who->binding.expires <= now) ||
	    who->user.disabled)
		return refused(req, API_BINDING_EXPIRED,
		               who->user.disabled     ? "user_disabled"
		               : who->binding.revoked ? "binding_logged_out"
		                                      : "binding_expired",
		               ak_buf, ak.n);

	/* A call dated before this process started may have run in the previous one, whose
	 * replay cache is gone (the journal keeps only calls dated ahead of the clock). Such
	 * dates are refused, as part of the replay check (so a bad signature still gets its
	 * 401); after one skew window the date check refuses them anyway. It is
	 * a 503 (retryable, Retry-After: 1), not a 401: a client with a good clock that signed
	 * in the second of the restart succeeds when it signs again a second later. */
	if (date_ms < srv->started_ms) {
		snprintf(msg, msg_size,
		         "x-mc-date is before this server started; sign the request again with the "
		         "current time");
		return refused(req, API_UNAVAILABLE, "date_before_start", ak_buf, ak.n);
	}

	/* Only a look: the id is used up when the function runs (auth_claim). The binding's
	 * access key is the one sent (looked up by exact match), so the claim reuses the
	 * hash. */
	replay_pair_hash(srv->replay, who->binding.access_key, strlen(who->binding.access_key),
	                 req_id, req->pair);
	req->pair_set = 1;
	if (replay_seen_pair(srv->replay, req->pair, mono_ms() / 1000))
		return refused(req, API_REPLAYED, "request_id_replayed", ak_buf, ak.n);

	req->authenticated = 1;
	return API_OK;
}

/* x-mc-date as auth_signed parsed it, or parsed now. */
static int date_of(const struct request *req, const char *date, int64_t *ms)
{
	if (req->date_set) {
		*ms = req->date_ms;
		return 0;
	}
	return date_parse_rfc1123(date, strlen(date), ms);
}

enum api_error auth_claim(struct request *req, char *msg, size_t msg_size, int *retry_after_s)
{
	struct server *srv = req->srv;
	const char *ak = req->who.binding.access_key;
	const char *req_id = request_header(req, "x-mc-req-id");
	const char *date = request_header(req, "x-mc-date");
	int64_t date_ms, now = real_now_ms(), until = 0;
	int rc;

	if (!req_id || !date || date_of(req, date, &date_ms) != 0)
		return API_INTERNAL;
	/* Dated ahead of the clock: a restart after now would not refuse it by its date
	 * (auth_signed), so it goes to the journal, kept while the date is valid. */
	if (date_ms > now)
		until = date_ms / 1000 + srv->cfg->skew + 1;
	if (req->pair_set)
		rc = replay_check_insert_pair(srv->replay, req->who.user.id, req->pair,
		                              mono_ms() / 1000, until, retry_after_s);
	else
		rc = replay_check_insert(srv->replay, req->who.user.id, ak, strlen(ak), req_id,
		                         mono_ms() / 1000, until, retry_after_s);
	if (rc == MC_ERR_EXISTS) /* the same request, let through concurrently, won */
		return refused(req, API_REPLAYED, "request_id_replayed", ak, strlen(ak));
	if (rc == MC_ERR_TOO_LARGE) {
		snprintf(msg, msg_size,
		         "this user has %d request ids in use, the most the server keeps per user; "
		         "retry after Retry-After seconds",
		         srv->cfg->replay_per_user);
		log_warn("msg=\"replay share exhausted\" req_id=%s user_id=%lld", req->req_id,
		         (long long)req->who.user.id);
		return API_RATE_LIMITED;
	}
	if (rc)
		return API_UNAVAILABLE;
	req->replay_claimed = 1;
	return API_OK;
}

/* The call's rows came from a cache that a change committed since may have made stale (a
 * logout on another node whose notification is still on its way): read them again and
 * make the checks of auth_signed that depend on them. A refusal frees the claimed id. */
static enum api_error recheck(struct request *req, char *msg, size_t msg_size)
{
	struct principal *who = &req->who;
	const char *ak = who->binding.access_key;
	char ak_buf[sizeof(who->binding.access_key)];
	int64_t now = now_ms();
	enum api_error ae;

	memcpy(ak_buf, ak, sizeof(ak_buf));
	if ((ae = load_app(req, msg, msg_size)) == API_OK)
		ae = load_rows(req, ak_buf, NULL);
	if (ae == API_OK && (who->binding.app_row_id != who->app.id))
		ae = API_INVALID_SIGNATURE;
	if (ae == API_OK && (who->binding.revoked || who->user.disabled ||
	                     (who->binding.expires && who->binding.expires <= now)))
		ae = refused(req, API_BINDING_EXPIRED, "binding_changed", ak_buf, strlen(ak_buf));
	if (ae != API_OK) {
		auth_unclaim(req);
		req->authenticated = 0;
	}
	return ae;
}

/* The arguments of the shared store's gate (store_shared.h) for req: the replay check, the
 * user's bucket and, when run, the claim of the id, in one round trip. The pair is kept
 * until the request's date leaves the skew window (a date the others nodes refuse anyway).
 * API_OK or API_INTERNAL. */
static enum api_error shared_call(struct request *req, int run, struct store_gate_call *c)
{
	struct server *srv = req->srv;
	const char *ak = req->who.binding.access_key;
	const char *req_id = request_header(req, "x-mc-req-id");
	const char *date = request_header(req, "x-mc-date");
	int64_t date_ms;

	if (!req_id || !date || date_of(req, date, &date_ms) != 0)
		return API_INTERNAL;
	memset(c, 0, sizeof(*c));
	if (req->pair_set)
		memcpy(c->pair, req->pair, sizeof(c->pair));
	else
		replay_pair_hash(srv->replay, ak, strlen(ak), req_id, c->pair);
	ratelimit_bucket(srv->rl, req->who.user.id, req->path, &c->bucket, &c->limit,
	                 &c->refill_ms);
	c->expires_s = date_ms / 1000 + srv->cfg->skew + 1;
	c->now_s = real_now_ms() / 1000;
	c->claim = run;
	return API_OK;
}

/* What the gate of call c answered (rc, e, c->out): the verdict in v, and the refusal. */
static enum api_error shared_result(struct request *req, const struct store_gate_call *c, int rc,
                                    const struct err *e, struct rl_verdict *v, char *msg,
                                    size_t msg_size)
{
	struct server *srv = req->srv;
	const char *ak = req->who.binding.access_key;
	const struct store_gate *g = &c->out;

	if (rc) {
		log_warn("msg=\"shared replay set unavailable\" req_id=%s error=\"%s\"",
		         req->req_id, e->msg);
		return API_UNAVAILABLE;
	}
	if (g->allowed || !g->replayed) { /* the bucket was looked at */
		v->allowed = g->allowed;
		v->limit = c->limit;
		v->remaining = g->remaining;
		v->reset_ms = g->reset_ms;
	}
	if (g->replayed)
		return refused(req, API_REPLAYED, "request_id_replayed", ak, strlen(ak));
	if (!g->allowed)
		return API_RATE_LIMITED;
	req->replay_claimed = g->claimed;
	if (authcache_sync(srv->authcache, g->gen, req->started_ms, mono_ms()))
		return recheck(req, msg, msg_size);
	return API_OK;
}

static enum api_error shared_take(struct request *req, int run, struct rl_verdict *v, char *msg,
                                  size_t msg_size)
{
	struct store_gate_call c;
	struct err e = {0};
	enum api_error ae;
	int rc;

	if ((ae = shared_call(req, run, &c)) != API_OK)
		return ae;
	rc = store_shared_gate(req->srv->store, c.pair, c.expires_s, c.now_s, c.claim, c.bucket,
	                       c.limit, c.refill_ms, &c.out, &e);
	return shared_result(req, &c, rc, &e, v, msg, msg_size);
}

int auth_take_submit(struct request *req, int run, struct store_gate_job *job)
{
	if (shared_call(req, run, &job->call) != API_OK)
		return 0;
	return store_shared_gate_submit(req->srv->store, job) == 0;
}

enum api_error auth_take_result(struct request *req, struct store_gate_job *job,
                                struct rl_verdict *v, char *msg, size_t msg_size)
{
	memset(v, 0, sizeof(*v));
	return shared_result(req, &job->call, job->rc, &job->err, v, msg, msg_size);
}

enum api_error auth_take(struct request *req, int run, int64_t now, struct rl_verdict *v, char *msg,
                         size_t msg_size, int *retry_after_s)
{
	struct server *srv = req->srv;

	memset(v, 0, sizeof(*v));
	if (store_shared(srv->store))
		return shared_take(req, run, v, msg, msg_size);
	ratelimit_take(srv->rl, req->who.user.id, req->path, now, v);
	if (!v->allowed)
		return API_RATE_LIMITED;
	return run ? auth_claim(req, msg, msg_size, retry_after_s) : API_OK;
}

void auth_unclaim(struct request *req)
{
	const char *ak = req->who.binding.access_key;
	const char *req_id = request_header(req, "x-mc-req-id");

	if (!req->replay_claimed || !req_id)
		return;
	if (store_shared(req->srv->store)) {
		unsigned char pair[REPLAY_PAIR_LEN];
		struct err e = {0};

		replay_pair_hash(req->srv->replay, ak, strlen(ak), req_id, pair);
		if (store_shared_forget(req->srv->store, pair, &e) != 0)
			log_warn("msg=\"request id not freed\" req_id=%s error=\"%s\"", req->req_id,
			         e.msg);
	} else {
		replay_forget(req->srv->replay, req->who.user.id, ak, strlen(ak), req_id);
	}
	req->replay_claimed = 0;
}

void auth_extend(struct request *req)
{
	struct binding *b = &req->who.binding;
	int64_t want, step;

	if (!req->authenticated || !b->extend_on_validate || b->ttl_ms <= 0 || !b->expires)
		return;
	/* Write only when the expiry moves by at least 1% of the TTL (or a second), not on
	 * every call. */
	want = now_ms() + b->ttl_ms;
	step = b->ttl_ms / 100 > 1000 ? b->ttl_ms / 100 : 1000;
	if (want - b->expires >= step &&
	    store_binding_set_expiry(req->srv->store, b->id, want, NULL) == 0) {
		b->expires = want;
		authcache_forget(req->srv->authcache, b->access_key);
	}
}
