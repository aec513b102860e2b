/* The login flow of API.md §6: discover-authentication (unsigned, app id only) to learn the
 * user's region and that Basic-Cloud is offered, then login there with
 * "Authorization: Basic-Cloud base64(email:password)". Nothing is retried (a password is
 * never sent twice by the library) and the password is wiped from every buffer it was in. */
#include "client_int.h"
#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define LOGIN_BODY_MAX (1u << 20)
#define LOGIN_CRED_MAX 1024

/* Posts body to base + path with the unsigned headers of §6 plus extra (may be NULL). */
static int login_post(CURL *h, const struct mcapi_options *o, const char *base, const char *path,
                      const char *extra, json_t *body_json, struct http_result *res, json_t **root,
                      char **errmsg)
{
	struct curl_slist *hdrs = NULL, *t;
	char line[MCAPI_HEADER_MAX + 64], date[64], guid[GUID_STR_LEN], msg[512];
	char *body = NULL, *url = NULL;
	size_t url_len;
	struct http_opts ho;
	int rc, retryable;
	const char *lines[6];
	size_t nl = 0;

	*root = NULL;
	date_format_rfc1123(now_ms(), date, sizeof(date));
	random_guid(RND_CLIENT, guid);
	url_len = strlen(base) + strlen(path) + 1;
	url = malloc(url_len);
	body = json_dumps(body_json, JSON_COMPACT);
	if (!url || !body) {
		rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
		goto out;
	}
	snprintf(url, url_len, "%s%s", base, path);
	lines[nl++] = "Content-Type: application/json";
	lines[nl++] = "Accept: application/json";
	lines[nl++] = "Expect:";
	if (extra)
		lines[nl++] = extra;
	for (size_t i = 0; i < nl; i++) {
		if (!(t = curl_slist_append(hdrs, lines[i])))
			goto nomem;
		hdrs = t;
	}
	snprintf(line, sizeof(line), "x-mc-app-id: %s", o->app_id);
	if (!(t = curl_slist_append(hdrs, line)))
		goto nomem;
	hdrs = t;
	snprintf(line, sizeof(line), "x-mc-date: %s", date);
	if (!(t = curl_slist_append(hdrs, line)))
		goto nomem;
	hdrs = t;
	snprintf(line, sizeof(line), "x-mc-req-id: %s", guid);
	if (!(t = curl_slist_append(hdrs, line)))
		goto nomem;
	hdrs = t;
	ho.timeout_ms = o->timeout_ms ? o->timeout_ms : CLIENT_TIMEOUT_DEFAULT;
	ho.connect_timeout_ms = o->connect_timeout_ms;
	ho.user_agent = o->user_agent ? o->user_agent : "mcapi/" MCAPI_VERSION;
	ho.ca_file = o->ca_file;
	rc = http_post(h, url, hdrs, body, strlen(body), &ho, res, msg, sizeof(msg), &retryable);
	if (rc) {
		client_errf(errmsg, rc, "%s: %s", path, msg);
		goto out;
	}
	*root = json_loadb(res->body.data ? res->body.data : "", res->body.len, 0, NULL);
	if (!json_is_object(*root) || !json_is_array(json_object_get(*root, "data")) ||
	    !json_is_array(json_object_get(*root, "fail"))) {
		json_decref(*root);
		*root = NULL;
		rc = client_errf(errmsg, MCAPI_E_PROTOCOL,
		                 "%s: HTTP %ld without the API's envelope", path, res->status);
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
out:
	/* the Basic-Cloud header holds the password */
	for (t = hdrs; t; t = t->next)
		secure_zero(t->data, strlen(t->data));
	curl_slist_free_all(hdrs);
	if (body) {
		secure_zero(body, strlen(body));
		free(body);
	}
	free(url);
	return rc;
}

/* MCAPI_E_API with the first error of root's fail[] when the call failed, else 0. */
static int login_failed(json_t *root, long status, const char *what, char **errmsg)
{
	json_t *err0 = json_array_get(
	        json_object_get(json_array_get(json_object_get(root, "fail"), 0), "errors"), 0);

	if (status == 200 && !err0 && json_array_size(json_object_get(root, "data")) > 0)
		return 0;
	return client_errf(errmsg, MCAPI_E_API, "%s failed (HTTP %ld): %s%s%s", what, status,
	                   err0 ? json_string_value(json_object_get(err0, "code")) : "no data",
	                   err0 && json_string_value(json_object_get(err0, "message")) ? ": " : "",
	                   err0 && json_string_value(json_object_get(err0, "message"))
	                           ? json_string_value(json_object_get(err0, "message"))
	                           : "");
}

static char *dup_trimmed_url(const char *s)
{
	char *d = strdup(s);
	size_t n;

	if (!d)
		return NULL;
	n = strlen(d);
	while (n > 0 && d[n - 1] == '/')
		d[--n] = '\0';
	return d;
}

MCAPI_EXPORT int mcapi_login(const struct mcapi_options *o, const char *email, const char *password,
                             struct mcapi_login_result *res, char **errmsg)
{
	struct http_result h;
	CURL *curl = NULL;
	json_t *body = NULL, *root = NULL, *item, *auths, *a;
	char cred[LOGIN_CRED_MAX], authz[B64_ENCODED_SIZE(LOGIN_CRED_MAX) + 32];
	char b64[B64_ENCODED_SIZE(LOGIN_CRED_MAX)];
	char *base = NULL;
	const char *api, *ak, *sk;
	int rc, basic = 0;
	size_t i, n;

	buf_init(&h.body, LOGIN_BODY_MAX);
	buf_init(&h.headers, 0); /* login reads no header beyond the §7 ones */
	if (res)
		memset(res, 0, sizeof(*res));
	if (!o || !res || !email || !password) {
		rc = client_errf(errmsg, MCAPI_E_INVALID,
		                 "login needs options, an email and a password");
		goto out;
	}
	if (!o->base_url ||
	    (strncmp(o->base_url, "http://", 7) && strncmp(o->base_url, "https://", 8))) {
		rc = client_errf(errmsg, MCAPI_E_INVALID,
		                 "'base_url' must start with http:// or https://");
		goto out;
	}
	if (!o->app_id || !*o->app_id || sign_bad_header_value(o->app_id)) {
		rc = client_errf(errmsg, MCAPI_E_INVALID, "'app_id' is not set");
		goto out;
	}
	if (!*email || sign_bad_header_value(email) || strchr(email, ':')) {
		rc = client_errf(errmsg, MCAPI_E_INVALID, "'%s' is not an email address", email);
		goto out;
	}
	if (!*password) {
		rc = client_errf(errmsg, MCAPI_E_INVALID, "the password is empty");
		goto out;
	}
	if (http_global_init() != 0 || !(curl = curl_easy_init()) ||
	    !(base = dup_trimmed_url(o->base_url))) {
		rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
		goto out;
	}

	/* 1. discovery */
	body = json_pack("{s:[{s:s}]}", "data", "emailAddress", email);
	if (!body) {
		rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
		goto out;
	}
	rc = login_post(curl, o, base, "/api/login/discover-authentication", NULL, body, &h, &root,
	                errmsg);
	if (rc || (rc = login_failed(root, h.status, "discovery", errmsg)))
		goto out;
	item = json_array_get(json_object_get(root, "data"), 0);
	auths = json_object_get(item, "authenticate");
	json_array_foreach(auths, i, a) if (json_is_string(a) &&
	                                    strcasecmp(json_string_value(a), "Basic-Cloud") == 0)
	        basic = 1;
	if (!basic) {
		rc = client_errf(errmsg, MCAPI_E_API,
		                 "'%s' cannot log in with a password (Basic-Cloud is not offered)",
		                 email);
		goto out;
	}
	api = json_string_value(json_object_get(json_object_get(item, "region"), "api"));
	if (api && (!strncmp(api, "http://", 7) || !strncmp(api, "https://", 8))) {
		free(base);
		if (!(base = dup_trimmed_url(api))) {
			rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
			goto out;
		}
	}
	json_decref(root);
	root = NULL;
	json_decref(body);

	/* 2. login in the user's region */
	n = (size_t)snprintf(cred, sizeof(cred), "%s:%s", email, password);
	if (n >= sizeof(cred)) {
		rc = client_errf(errmsg, MCAPI_E_INVALID, "the email and password are too long");
		body = NULL;
		goto out;
	}
	b64_encode((const unsigned char *)cred, n, b64);
	snprintf(authz, sizeof(authz), "Authorization: Basic-Cloud %s", b64);
	body = json_pack("{s:[{s:s}]}", "data", "userName", email);
	if (!body) {
		rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
		goto out;
	}
	rc = login_post(curl, o, base, "/api/login/login", authz, body, &h, &root, errmsg);
	if (rc || (rc = login_failed(root, h.status, "login", errmsg)))
		goto out;
	item = json_array_get(json_object_get(root, "data"), 0);
	ak = json_string_value(json_object_get(item, "accessKey"));
	sk = json_string_value(json_object_get(item, "secretKey"));
	if (!ak || !sk) {
		rc = client_errf(errmsg, MCAPI_E_PROTOCOL,
		                 "login answered without accessKey or secretKey");
		goto out;
	}
	res->access_key = strdup(ak);
	res->secret_key = strdup(sk);
	res->base_url = base;
	base = NULL;
	res->duration_ms = (long long)json_integer_value(json_object_get(item, "duration"));
	if (!res->access_key || !res->secret_key) {
		mcapi_login_result_release(res);
		rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	secure_zero(cred, sizeof(cred));
	secure_zero(b64, sizeof(b64));
	secure_zero(authz, sizeof(authz));
	if (h.body.data)
		secure_zero(h.body.data, h.body.len);
	buf_release(&h.body);
	if (root) {
		/* the answer holds the secret key; jansson's copies go with it */
		json_decref(root);
	}
	json_decref(body);
	free(base);
	if (curl)
		curl_easy_cleanup(curl);
	return rc;
}

MCAPI_EXPORT void mcapi_login_result_release(struct mcapi_login_result *r)
{
	if (!r)
		return;
	if (r->secret_key)
		secure_zero(r->secret_key, strlen(r->secret_key));
	if (r->access_key)
		secure_zero(r->access_key, strlen(r->access_key));
	free(r->secret_key);
	free(r->access_key);
	free(r->base_url);
	memset(r, 0, sizeof(*r));
}
