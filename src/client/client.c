/* The client handle and mcapi_call: options checked once, the secret key decoded once, one
 * curl handle reused across calls (keep-alive), and the retry loop of docs/client.md — every
 * attempt signed afresh (new x-mc-date and x-mc-req-id, as the server refuses replays), every
 * wait jittered and capped, the whole call within total_timeout_ms. Also
 * the response accessors, which read the envelope parsed once when the answer arrives. */
#include "client_int.h"
#include "common/b64.h"
#include "common/crypto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS  8000

MCAPI_EXPORT void mcapi_options_init(struct mcapi_options *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = CLIENT_TIMEOUT_DEFAULT;
	o->max_retries = CLIENT_RETRIES_DEFAULT;
}

static int option_present(const char *v, const char *name, char **errmsg)
{
	if (!v || !*v)
		return client_errf(errmsg, MCAPI_E_INVALID, "'%s' is not set", name);
	if (sign_bad_header_value(v))
		return client_errf(errmsg, MCAPI_E_INVALID, "'%s' holds a control character", name);
	return 0;
}

static int options_check_url(const char *url, char **errmsg)
{
	int rc = option_present(url, "base_url", errmsg);

	if (rc)
		return rc;
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return client_errf(errmsg, MCAPI_E_INVALID,
		                   "'base_url' must start with http:// or https:// (got '%s')",
		                   url);
	return 0;
}

MCAPI_EXPORT int mcapi_options_validate(const struct mcapi_options *o, char **errmsg)
{
	unsigned char key[CLIENT_KEY_MAX];
	size_t key_len = 0;
	int rc;

	if (!o)
		return client_errf(errmsg, MCAPI_E_INVALID, "no options given");
	if ((rc = options_check_url(o->base_url, errmsg)) ||
	    (rc = option_present(o->app_id, "app_id", errmsg)) ||
	    (rc = option_present(o->app_key, "app_key", errmsg)) ||
	    (rc = option_present(o->access_key, "access_key", errmsg)) ||
	    (rc = option_present(o->secret_key, "secret_key", errmsg)))
		return rc;
	if (strchr(o->access_key, ':'))
		return client_errf(errmsg, MCAPI_E_INVALID, "'access_key' must not contain ':'");
	if (b64_decode(o->secret_key, strlen(o->secret_key), key, sizeof(key), &key_len) != 0 ||
	    key_len == 0)
		return client_errf(errmsg, MCAPI_E_INVALID, "'secret_key' is not valid base64");
	secure_zero(key, sizeof(key));
	if (o->timeout_ms < 0 || o->timeout_ms > 3600000L)
		return client_errf(errmsg, MCAPI_E_INVALID, "'timeout_ms' must be 0..3600000");
	if (o->max_retries < 0 || o->max_retries > 100)
		return client_errf(errmsg, MCAPI_E_INVALID, "'max_retries' must be 0..100");
	if (o->connect_timeout_ms < 0 || o->connect_timeout_ms > 3600000L)
		return client_errf(errmsg, MCAPI_E_INVALID,
		                   "'connect_timeout_ms' must be 0..3600000");
	if (o->total_timeout_ms < 0 || o->total_timeout_ms > 3600000L)
		return client_errf(errmsg, MCAPI_E_INVALID,
		                   "'total_timeout_ms' must be 0..3600000");
	if (o->user_agent && sign_bad_header_value(o->user_agent))
		return client_errf(errmsg, MCAPI_E_INVALID,
		                   "'user_agent' holds a control character");
	/* checked here so that a typo is one clear message, not a TLS failure per attempt */
	if (o->ca_file && (!*o->ca_file || access(o->ca_file, R_OK) != 0))
		return client_errf(errmsg, MCAPI_E_INVALID, "'ca_file' '%s' cannot be read",
		                   o->ca_file);
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

MCAPI_EXPORT struct mcapi_client *mcapi_client_new(const struct mcapi_options *o, char **errmsg)
{
	struct mcapi_client *c = NULL;
	char ua[64];
	size_t n;

	if (mcapi_options_validate(o, errmsg) != 0)
		return NULL;
	if (http_global_init() != 0) {
		client_errf(errmsg, MCAPI_E_NOMEM, "libcurl failed to initialise");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	snprintf(ua, sizeof(ua), "mcapi/%s", MCAPI_VERSION);
	c->base_url = strdup(o->base_url);
	c->app_id = strdup(o->app_id);
	c->app_key = strdup(o->app_key);
	c->access_key = strdup(o->access_key);
	c->user_agent = o->user_agent ? dup_or_null(o->user_agent) : strdup(ua);
	c->ca_file = dup_or_null(o->ca_file);
	c->curl = curl_easy_init();
	if (!c->base_url || !c->app_id || !c->app_key || !c->access_key || !c->user_agent ||
	    !c->curl || (o->ca_file && !c->ca_file))
		goto nomem;
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	b64_decode(o->secret_key, strlen(o->secret_key), c->key, sizeof(c->key), &c->key_len);
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : CLIENT_TIMEOUT_DEFAULT;
	c->connect_timeout_ms = o->connect_timeout_ms;
	c->total_timeout_ms = o->total_timeout_ms;
	c->max_retries = o->max_retries;
	return c;
nomem:
	mcapi_client_free(c);
	client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
	return NULL;
}

static void free_secret(char *s)
{
	if (s) {
		secure_zero(s, strlen(s));
		free(s);
	}
}

MCAPI_EXPORT void mcapi_client_free(struct mcapi_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->base_url);
	free(c->app_id);
	free_secret(c->app_key);
	free_secret(c->access_key);
	free(c->user_agent);
	free(c->ca_file);
	secure_zero(c->key, sizeof(c->key));
	free(c);
}

MCAPI_EXPORT const char *mcapi_client_last_error(const struct mcapi_client *c)
{
	return c ? c->last_error : "";
}

static int client_fail(struct mcapi_client *c, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int client_fail(struct mcapi_client *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	return code;
}

static long jitter_ms(long upto)
{
	unsigned r;

	if (upto <= 0)
		return 0;
	random_bytes(RND_CLIENT, &r, sizeof(r));
	return (long)(r % (unsigned)(upto + 1));
}

/* Exponential back-off with jitter: half the step plus a random half. */
static long backoff_ms(int attempt)
{
	long step = BACKOFF_BASE_MS;

	for (int i = 1; i < attempt && step < BACKOFF_MAX_MS; i++)
		step *= 2;
	if (step > BACKOFF_MAX_MS)
		step = BACKOFF_MAX_MS;
	return step / 2 + jitter_ms(step / 2);
}

/* A wait the server asked for, plus up to a tenth more (and 5..100 ms) so that clients sent
 * away at the same moment do not all come back at the same one; then the cap. */
static long server_wait(long ms)
{
	long w = ms + 5 + jitter_ms(ms / 10 + 95);

	return w > CLIENT_WAIT_MAX_MS ? CLIENT_WAIT_MAX_MS : w;
}

long client_retry_wait(long status, int retryable_500, long rl_reset_ms, long retry_after_ms,
                       int attempt)
{
	switch (status) {
	case 0: /* connection failure */
	case 502:
	case 504:
		return backoff_ms(attempt);
	case 429:
		/* §7: Reset is the ms until one call is added back */
		if (rl_reset_ms >= 0)
			return server_wait(rl_reset_ms);
		return retry_after_ms >= 0 ? server_wait(retry_after_ms) : backoff_ms(attempt);
	case 503:
		return retry_after_ms >= 0 ? server_wait(retry_after_ms) : backoff_ms(attempt);
	case 500:
		/* only when the envelope says so (§3.1 err_xdk_internal is retryable) */
		return retryable_500 ? backoff_ms(attempt) : -1;
	default:
		return -1;
	}
}

static int retryable_500(const struct mcapi_response *r)
{
	json_t *fail = r->root ? json_object_get(r->root, "fail") : NULL;
	json_t *e = json_object_get(json_array_get(fail, 0), "errors");

	return json_is_true(json_object_get(json_array_get(e, 0), "retryable"));
}

MCAPI_EXPORT int mcapi_call(struct mcapi_client *c, const char *path, const char *request_json,
                            struct mcapi_response **out)
{
	struct http_result h;
	struct curl_slist *hdrs = NULL;
	struct mcapi_response *r = NULL;
	struct mcapi_headers sh;
	char *url = NULL;
	char msg[512], line[MCAPI_HEADER_MAX + 32];
	const char *body = request_json ? request_json : "{\"data\":[]}";
	struct http_opts ho = {c ? c->timeout_ms : 0, c ? c->connect_timeout_ms : 0,
	                       c ? c->user_agent : NULL, c ? c->ca_file : NULL};
	size_t url_len;
	int rc, attempt, retryable;
	long wait, deadline = 0, left = 0, start_ms = 0;

	if (!out)
		return MCAPI_E_INVALID;
	*out = NULL;
	if (!c)
		return MCAPI_E_INVALID;
	c->last_error[0] = '\0';
	buf_init(&h.body, CLIENT_BODY_MAX);
	buf_init(&h.headers, CLIENT_HEADERS_MAX);
	if (!path || path[0] != '/' || sign_bad_header_value(path)) {
		rc = client_fail(c, MCAPI_E_INVALID, "path '%s' must start with '/'",
		                 path ? path : "");
		goto out;
	}
	url_len = strlen(c->base_url) + strlen(path) + 1;
	url = malloc(url_len);
	if (!url) {
		rc = client_fail(c, MCAPI_E_NOMEM, "out of memory");
		goto out;
	}
	snprintf(url, url_len, "%s%s", c->base_url, path);
	if (c->total_timeout_ms > 0)
		deadline = client_now_ms() + c->total_timeout_ms;

	for (attempt = 1;; attempt++) {
		if (deadline) {
			/* an attempt never runs past the deadline */
			left = deadline - client_now_ms();
			ho.timeout_ms =
			        left < c->timeout_ms ? (left > 0 ? left : 1) : c->timeout_ms;
		}
		rc = sign_headers(c->key, c->key_len, c->app_id, c->app_key, c->access_key, path,
		                  NULL, NULL, &sh, msg, sizeof(msg));
		if (rc) {
			client_fail(c, rc, "%s", msg);
			goto out;
		}
		curl_slist_free_all(hdrs);
		hdrs = NULL;
#define ADD_HDR(...)                                                                               \
	do {                                                                                       \
		struct curl_slist *t_;                                                             \
		snprintf(line, sizeof(line), __VA_ARGS__);                                         \
		t_ = curl_slist_append(hdrs, line);                                                \
		if (!t_) {                                                                         \
			rc = client_fail(c, MCAPI_E_NOMEM, "out of memory");                       \
			goto out;                                                                  \
		}                                                                                  \
		hdrs = t_;                                                                         \
	} while (0)
		ADD_HDR("Authorization: %s", sh.authorization);
		ADD_HDR("x-mc-app-id: %s", sh.app_id);
		ADD_HDR("x-mc-date: %s", sh.date);
		ADD_HDR("x-mc-req-id: %s", sh.req_id);
		ADD_HDR("Content-Type: application/json");
		ADD_HDR("Accept: application/json");
		ADD_HDR("Expect:");
#undef ADD_HDR
		secure_zero(&sh.authorization, sizeof(sh.authorization));
		client_trace_request(c, attempt, url, &sh, body);
		start_ms = client_now_ms();
		rc = http_post(c->curl, url, hdrs, body, strlen(body), &ho, &h, msg, sizeof(msg),
		               &retryable);
		if (rc) {
			client_trace_error(c, attempt, url, sh.req_id, msg, start_ms);
			wait = retryable ? client_retry_wait(0, 0, -1, -1, attempt) : -1;
			if (wait >= 0 && deadline && client_now_ms() + wait >= deadline) {
				client_fail(c, MCAPI_E_TIMEOUT,
				            "%s (total timeout of %ld ms reached)", msg,
				            c->total_timeout_ms);
				rc = MCAPI_E_TIMEOUT;
				goto out;
			}
			if (wait < 0 || attempt > c->max_retries) {
				client_fail(c, rc, "%s%s", msg,
				            attempt > 1 && retryable ? " (retries exhausted)" : "");
				goto out;
			}
			client_trace_wait(c, attempt, url, 0, msg, wait);
			client_sleep_ms(wait);
			continue;
		}
		client_trace_response(c, attempt, url, sh.req_id, &h, start_ms);
		mcapi_response_free(r);
		r = response_from_http(&h, attempt, sh.req_id);
		if (!r) {
			rc = client_fail(c, MCAPI_E_NOMEM, "out of memory");
			goto out;
		}
		wait = client_retry_wait(r->status, r->status == 500 && retryable_500(r),
		                         h.rl_reset, h.retry_after_ms, attempt);
		/* past the deadline the last answer is returned as it is, like after the last retry
		 */
		if (wait < 0 || attempt > c->max_retries ||
		    (deadline && client_now_ms() + wait >= deadline))
			break;
		client_trace_wait(c, attempt, url, r->status, NULL, wait);
		client_sleep_ms(wait);
	}
	*out = r;
	r = NULL;
	rc = 0;
out:
	mcapi_response_free(r);
	curl_slist_free_all(hdrs);
	buf_release(&h.body);
	buf_release(&h.headers);
	free(url);
	return rc;
}

/* ---- responses ---- */

static const char *str_member(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

struct mcapi_response *response_from_http(struct http_result *h, int attempts, const char *req_id)
{
	struct mcapi_response *r = calloc(1, sizeof(*r));
	json_t *root, *fail, *err0, *pag;

	if (!r)
		return NULL;
	r->status = h->status;
	r->body = buf_detach(&h->body, &r->len);
	if (!r->body) {
		free(r);
		return NULL;
	}
	r->headers = buf_detach(&h->headers, &r->headers_len);
	if (!r->headers) {
		free(r->body);
		free(r);
		return NULL;
	}
	for (size_t i = 0; i < r->headers_len; i++) /* "A: 1\nB: 2\n" → "A: 1\0B: 2\0" */
		if (r->headers[i] == '\n')
			r->headers[i] = '\0';
	r->rl_limit = h->rl_limit;
	r->rl_remaining = h->rl_remaining;
	r->rl_reset = h->rl_reset;
	r->attempts = attempts;
	snprintf(r->req_id, sizeof(r->req_id), "%s", req_id);
	root = json_loadb(r->body, r->len, 0, NULL);
	if (!json_is_object(root) || !json_is_array(json_object_get(root, "data")) ||
	    !json_is_array(json_object_get(root, "fail"))) {
		json_decref(root);
		return r;
	}
	r->root = root;
	fail = json_object_get(root, "fail");
	err0 = json_array_get(json_object_get(json_array_get(fail, 0), "errors"), 0);
	if (err0) {
		r->err_code = str_member(err0, "code");
		r->err_message = str_member(err0, "message");
		r->err_field = str_member(err0, "field");
	}
	pag = json_object_get(json_object_get(root, "meta"), "pagination");
	r->next = str_member(pag, "next");
	if (r->next && !*r->next)
		r->next = NULL;
	return r;
}

MCAPI_EXPORT long mcapi_response_status(const struct mcapi_response *r)
{
	return r ? r->status : 0;
}

MCAPI_EXPORT const char *mcapi_response_body(const struct mcapi_response *r, size_t *len)
{
	if (len)
		*len = r ? r->len : 0;
	return r ? r->body : "";
}

MCAPI_EXPORT int mcapi_response_is_envelope(const struct mcapi_response *r)
{
	return r && r->root;
}

MCAPI_EXPORT size_t mcapi_response_fail_count(const struct mcapi_response *r)
{
	return r && r->root ? json_array_size(json_object_get(r->root, "fail")) : 0;
}

MCAPI_EXPORT size_t mcapi_response_data_count(const struct mcapi_response *r)
{
	return r && r->root ? json_array_size(json_object_get(r->root, "data")) : 0;
}

MCAPI_EXPORT const char *mcapi_response_data_string(const struct mcapi_response *r, size_t i,
                                                    const char *key)
{
	json_t *data = r && r->root && key ? json_object_get(r->root, "data") : NULL;

	return json_string_value(json_object_get(json_array_get(data, i), key));
}

MCAPI_EXPORT const char *mcapi_response_error_code(const struct mcapi_response *r)
{
	return r ? r->err_code : NULL;
}

MCAPI_EXPORT const char *mcapi_response_error_message(const struct mcapi_response *r)
{
	return r ? r->err_message : NULL;
}

MCAPI_EXPORT const char *mcapi_response_error_field(const struct mcapi_response *r)
{
	return r ? r->err_field : NULL;
}

MCAPI_EXPORT const char *mcapi_response_next_token(const struct mcapi_response *r)
{
	return r ? r->next : NULL;
}

MCAPI_EXPORT long mcapi_response_rate_limit(const struct mcapi_response *r)
{
	return r ? r->rl_limit : -1;
}

MCAPI_EXPORT long mcapi_response_rate_remaining(const struct mcapi_response *r)
{
	return r ? r->rl_remaining : -1;
}

MCAPI_EXPORT long mcapi_response_rate_reset_ms(const struct mcapi_response *r)
{
	return r ? r->rl_reset : -1;
}

MCAPI_EXPORT int mcapi_response_attempts(const struct mcapi_response *r)
{
	return r ? r->attempts : 0;
}

MCAPI_EXPORT const char *mcapi_response_request_id(const struct mcapi_response *r)
{
	return r ? r->req_id : "";
}

MCAPI_EXPORT const char *mcapi_response_header(const struct mcapi_response *r, const char *name)
{
	size_t n;

	if (!r || !r->headers || !name)
		return NULL;
	n = strlen(name);
	for (const char *p = r->headers; p < r->headers + r->headers_len; p += strlen(p) + 1)
		if (strncasecmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ')
			return p + n + 2;
	return NULL;
}

MCAPI_EXPORT void mcapi_response_free(struct mcapi_response *r)
{
	if (!r)
		return;
	json_decref(r->root);
	free(r->body);
	free(r->headers);
	free(r);
}
