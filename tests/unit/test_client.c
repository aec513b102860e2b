/* libmcapi without a network: signing against every signature vector, the headers of a
 * fresh signature, option validation, the envelope accessors, the retry waits (jitter, cap,
 * Retry-After forms), profile parsing, saving and resolution with environment overrides. */
#include "client/client_int.h"
#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "mcapi/mcapi.h"
#include "tap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

static json_t *load_vectors(void)
{
	const char *src = getenv("MCAPI_SOURCE_DIR");
	char path[1024];
	json_t *v;

	snprintf(path, sizeof(path), "%s/../shared/spec/signature-vectors.json", src ? src : ".");
	v = json_load_file(path, 0, NULL);
	if (!v) {
		snprintf(path, sizeof(path), "%s/tests/data/signature-vectors.json",
		         src ? src : ".");
		v = json_load_file(path, 0, NULL);
	}
	return v;
}

#define VS(v, k) json_string_value(json_object_get((v), (k)))

static void test_vectors(void)
{
	json_t *vs = load_vectors(), *v;
	size_t i;

	CHECK(json_is_array(vs) && json_array_size(vs) >= 6);
	json_array_foreach(vs, i, v)
	{
		struct mcapi_options o;
		struct mcapi_headers h;
		char *msg = NULL;

		mcapi_options_init(&o);
		o.app_id = "app";
		o.app_key = VS(v, "appKey");
		o.access_key = VS(v, "accessKey");
		o.secret_key = VS(v, "secretKey");
		CHECK_INT(mcapi_sign(&o, VS(v, "uri"), VS(v, "x-mc-date"), VS(v, "x-mc-req-id"), &h,
		                     &msg),
		          0);
		CHECK_STR(h.authorization, VS(v, "authorization"));
		CHECK_STR(h.date, VS(v, "x-mc-date"));
		CHECK_STR(h.req_id, VS(v, "x-mc-req-id"));
		CHECK_STR(h.app_id, "app");
		free(msg);
	}
	json_decref(vs);
}

static void dev_options(struct mcapi_options *o)
{
	mcapi_options_init(o);
	o->base_url = "http://127.0.0.1:1";
	o->app_id = "11111111-2222-3333-4444-555555555555";
	o->app_key = "ApplicationKey";
	o->access_key = "AccessKey";
	o->secret_key = "U2VjcmV0S2V5";
}

static void test_fresh_headers(void)
{
	struct mcapi_options o;
	struct mcapi_headers h, h2, again;
	int64_t ms;
	char *msg = NULL;

	dev_options(&o);
	CHECK_INT(mcapi_sign(&o, "/api/account/get-account", NULL, NULL, &h, &msg), 0);
	/* "Tue, 24 Nov 2015 12:50:11 UTC", close to now */
	CHECK(strlen(h.date) == 29 && strcmp(h.date + 26, "UTC") == 0);
	CHECK(date_parse_rfc1123(h.date, strlen(h.date), &ms) == 0 && llabs(ms - now_ms()) < 5000);
	CHECK_INT(strlen(h.req_id), 36);
	CHECK(h.req_id[8] == '-' && h.req_id[13] == '-' && h.req_id[14] == '4');
	CHECK(strncmp(h.authorization, "MC AccessKey:", 13) == 0 &&
	      strlen(h.authorization) == 13 + 28);
	/* the signature is over exactly that date and id */
	CHECK_INT(mcapi_sign(&o, "/api/account/get-account", h.date, h.req_id, &again, &msg), 0);
	CHECK_STR(again.authorization, h.authorization);
	/* every signature gets a new request id */
	CHECK_INT(mcapi_sign(&o, "/api/account/get-account", NULL, NULL, &h2, &msg), 0);
	CHECK(strcmp(h.req_id, h2.req_id) != 0);
	/* the query string is not signed (§2.1) */
	CHECK_INT(mcapi_sign(&o, "/api/a/b?x=1", "d", "r", &h, &msg), 0);
	CHECK_INT(mcapi_sign(&o, "/api/a/b", "d", "r", &h2, &msg), 0);
	CHECK_STR(h.authorization, h2.authorization);
	/* refusals */
	CHECK_INT(mcapi_sign(&o, "api/a/b", NULL, NULL, &h, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "'/'"));
	CHECK_INT(mcapi_sign(&o, "/api/a/b", "Tue\r\nX: y", NULL, &h, &msg), MCAPI_E_INVALID);
	o.secret_key = "not base64!";
	CHECK_INT(mcapi_sign(&o, "/api/a/b", NULL, NULL, &h, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "secret_key"));
	dev_options(&o);
	o.access_key = "a:b";
	CHECK_INT(mcapi_sign(&o, "/api/a/b", NULL, NULL, &h, &msg), MCAPI_E_INVALID);
	o.access_key = NULL;
	CHECK_INT(mcapi_sign(&o, "/api/a/b", NULL, NULL, &h, &msg), MCAPI_E_INVALID);
	free(msg);
}

static void test_options(void)
{
	struct mcapi_options o;
	struct mcapi_client *c;
	char *msg = NULL;

	dev_options(&o);
	CHECK_INT(o.timeout_ms, 30000);
	CHECK_INT(o.max_retries, 4);
	CHECK_INT(mcapi_options_validate(&o, &msg), 0);
	c = mcapi_client_new(&o, &msg);
	CHECK(c != NULL);
	CHECK_STR(mcapi_client_last_error(c), "");
	mcapi_client_free(c);
	o.base_url = "ftp://x";
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "base_url"));
	CHECK(mcapi_client_new(&o, NULL) == NULL);
	dev_options(&o);
	o.app_key = "";
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "'app_key' is not set"));
	dev_options(&o);
	o.secret_key = "%%%";
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	dev_options(&o);
	o.app_id = "a\nb";
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	dev_options(&o);
	o.max_retries = -1;
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	dev_options(&o);
	o.timeout_ms = -5;
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	CHECK_INT(mcapi_options_validate(NULL, &msg), MCAPI_E_INVALID);
	dev_options(&o);
	CHECK_INT(o.connect_timeout_ms, 0);
	CHECK_INT(o.total_timeout_ms, 0);
	CHECK(o.ca_file == NULL);
	o.connect_timeout_ms = -1;
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "'connect_timeout_ms'"));
	dev_options(&o);
	o.total_timeout_ms = 3600001;
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "'total_timeout_ms'"));
	dev_options(&o);
	o.ca_file = "/nonexistent/ca.pem";
	CHECK_INT(mcapi_options_validate(&o, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "'ca_file' '/nonexistent/ca.pem' cannot be read"));
	o.ca_file = "/dev/null"; /* readable: whether it holds CAs is libcurl's to say */
	CHECK_INT(mcapi_options_validate(&o, &msg), 0);
	CHECK_STR(mcapi_strerror(MCAPI_E_TIMEOUT), "timed out");
	CHECK_STR(mcapi_strerror(MCAPI_E_LIMIT), "limit reached");
	CHECK_STR(mcapi_strerror(12345), "unknown error");
	free(msg);
}

static struct mcapi_response *response_of(long status, const char *body)
{
	struct http_result h;

	buf_init(&h.body, 1 << 20);
	buf_adds(&h.body, body);
	buf_init(&h.headers, 1 << 16); /* as http.c keeps them: trimmed, one per line */
	buf_adds(&h.headers, "Content-Type: application/json\nmc-siem-token: tok-1\n"
	                     "Content-Disposition: attachment; filename=\"MTA_1.json\"\n"
	                     "mc-siem-token: second\n");
	h.status = status;
	h.rl_limit = 800;
	h.rl_remaining = 799;
	h.rl_reset = 100;
	h.retry_after_ms = -1;
	return response_from_http(&h, 2, "rid");
}

static void test_response(void)
{
	struct mcapi_response *r;
	struct mcapi_client *c;
	struct mcapi_options o;
	size_t len;

	r = response_of(
	        200,
	        "{\"meta\":{\"status\":200,\"pagination\":{\"pageSize\":1,\"next\":\"tok\"}},"
	        "\"data\":[{\"a\":1,\"domain\":\"p.example\"}],\"fail\":[{\"key\":{\"domain\":"
	        "\"x\"},\"errors\":"
	        "[{\"code\":\"err_domain_not_found\",\"message\":\"m\",\"field\":\"domain\"}]}]}");
	CHECK(r != NULL);
	CHECK_INT(mcapi_response_status(r), 200);
	CHECK(mcapi_response_is_envelope(r));
	/* headers: any case, the first of a repeated one, NULL when absent */
	CHECK_STR(mcapi_response_header(r, "MC-SIEM-TOKEN"), "tok-1");
	CHECK_STR(mcapi_response_header(r, "content-disposition"),
	          "attachment; filename=\"MTA_1.json\"");
	CHECK(mcapi_response_header(r, "mc-siem") == NULL);
	CHECK(mcapi_response_header(r, "X-Absent") == NULL);
	CHECK(mcapi_response_header(NULL, "mc-siem-token") == NULL);
	CHECK_INT(mcapi_response_data_count(r), 1);
	CHECK_STR(mcapi_response_data_string(r, 0, "domain"), "p.example");
	CHECK(mcapi_response_data_string(r, 0, "a") == NULL); /* not a string */
	CHECK(mcapi_response_data_string(r, 1, "domain") == NULL);
	CHECK(mcapi_response_data_string(r, 0, NULL) == NULL);
	CHECK_INT(mcapi_response_fail_count(r), 1);
	CHECK_STR(mcapi_response_error_code(r), "err_domain_not_found");
	CHECK_STR(mcapi_response_error_message(r), "m");
	CHECK_STR(mcapi_response_error_field(r), "domain");
	CHECK_STR(mcapi_response_next_token(r), "tok");
	CHECK_INT(mcapi_response_rate_limit(r), 800);
	CHECK_INT(mcapi_response_rate_remaining(r), 799);
	CHECK_INT(mcapi_response_rate_reset_ms(r), 100);
	CHECK_INT(mcapi_response_attempts(r), 2);
	CHECK_STR(mcapi_response_request_id(r), "rid");
	CHECK(strstr(mcapi_response_body(r, &len), "err_domain_not_found") && len > 0);
	mcapi_response_free(r);

	r = response_of(502, "<html>bad gateway</html>");
	CHECK(!mcapi_response_is_envelope(r));
	CHECK_INT(mcapi_response_fail_count(r), 0);
	CHECK(mcapi_response_error_code(r) == NULL && mcapi_response_next_token(r) == NULL);
	CHECK(mcapi_response_data_string(r, 0, "domain") == NULL);
	mcapi_response_free(r);
	mcapi_response_free(NULL);

	/* usage errors are caught before any network traffic */
	dev_options(&o);
	c = mcapi_client_new(&o, NULL);
	CHECK_INT(mcapi_call(c, "no-slash", NULL, &r), MCAPI_E_INVALID);
	CHECK(r == NULL && strstr(mcapi_client_last_error(c), "must start with '/'"));
	CHECK_INT(mcapi_paginate(c, "/api/x", "[1, 2", 0, NULL, NULL), MCAPI_E_INVALID);
	mcapi_client_free(c);
}

static void test_profile_parse(void)
{
	static const char text[] = "# comment\n"
	                           "; another\n"
	                           "[default]\n"
	                           "base_url = https://eu-api.mimecast.com\n"
	                           "  app_id=abc  \n"
	                           "\n"
	                           "[work]\r\n"
	                           "app_key = \"quoted value\"\r\n"
	                           "secret_key = a=b==\n"
	                           "[default]\n"
	                           "access_key = ak\n";
	struct mcapi_config *cfg = NULL;
	char *msg = NULL;

	CHECK_INT(mcapi_config_parse(text, sizeof(text) - 1, &cfg, &msg), 0);
	CHECK_INT(mcapi_config_count(cfg), 2);
	CHECK_STR(mcapi_config_name(cfg, 0), "default");
	CHECK_STR(mcapi_config_name(cfg, 1), "work");
	CHECK(mcapi_config_name(cfg, 2) == NULL);
	CHECK_STR(mcapi_config_get(cfg, "default", "base_url"), "https://eu-api.mimecast.com");
	CHECK_STR(mcapi_config_get(cfg, "default", "app_id"), "abc");
	CHECK_STR(mcapi_config_get(cfg, "default", "access_key"), "ak");
	CHECK_STR(mcapi_config_get(cfg, "work", "app_key"), "quoted value");
	CHECK_STR(mcapi_config_get(cfg, "work", "secret_key"), "a=b==");
	CHECK(mcapi_config_get(cfg, "work", "base_url") == NULL);
	CHECK(mcapi_config_get(cfg, "nope", "base_url") == NULL);
	CHECK(mcapi_config_has(cfg, "work") && !mcapi_config_has(cfg, "nope"));
	CHECK_INT(mcapi_config_set(cfg, "work", "base_url", "http://x"), 0);
	CHECK_INT(mcapi_config_set(cfg, "work", "app_key", "new"), 0);
	CHECK_STR(mcapi_config_get(cfg, "work", "app_key"), "new");
	CHECK_INT(mcapi_config_set(cfg, "work", "app_key", NULL), 0);
	CHECK(mcapi_config_get(cfg, "work", "app_key") == NULL);
	CHECK_INT(mcapi_config_set(cfg, "bad name", "k", "v"), MCAPI_E_INVALID);
	CHECK_INT(mcapi_config_set(cfg, "work", "k", "a\nb"), MCAPI_E_INVALID);
	mcapi_config_free(cfg);

	CHECK_INT(mcapi_config_parse("key = v\n", 8, &cfg, &msg), MCAPI_E_INVALID);
	CHECK(cfg == NULL && msg && strstr(msg, "line 1") && strstr(msg, "before any"));
	CHECK_INT(mcapi_config_parse("[a]\nnovalue\n", 12, &cfg, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "line 2"));
	CHECK_INT(mcapi_config_parse("[a\n", 3, &cfg, &msg), MCAPI_E_INVALID);
	CHECK_INT(mcapi_config_parse("[a b]\n", 6, &cfg, &msg), MCAPI_E_INVALID);
	CHECK_INT(mcapi_config_parse("", 0, &cfg, &msg), 0);
	CHECK_INT(mcapi_config_count(cfg), 0);
	mcapi_config_free(cfg);
	free(msg);
}

static void test_profile_file(void)
{
	char dir[] = "/tmp/mcapi-test-XXXXXX", path[256];
	struct mcapi_config *cfg = NULL, *back = NULL;
	struct mcapi_options o;
	struct stat st;
	char *msg = NULL, *p;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sub/profiles", dir);
	/* a missing file is an empty configuration */
	CHECK_INT(mcapi_config_load(path, &cfg, &msg), 0);
	CHECK_INT(mcapi_config_count(cfg), 0);
	CHECK_INT(mcapi_config_set(cfg, "dev", "base_url", "http://127.0.0.1:8080"), 0);
	CHECK_INT(mcapi_config_set(cfg, "dev", "secret_key", "U2VjcmV0S2V5"), 0);
	CHECK_INT(mcapi_config_save(cfg, path, &msg), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT(mcapi_config_load(path, &back, &msg), 0);
	CHECK_STR(mcapi_config_get(back, "dev", "secret_key"), "U2VjcmV0S2V5");

	/* resolution: the environment over the profile; unknown explicit names fail */
	unsetenv("MCAPI_PROFILE");
	setenv("MCAPI_APP_ID", "from-env", 1);
	CHECK_INT(mcapi_config_resolve(back, "dev", &o, &msg), 0);
	CHECK_STR(o.base_url, "http://127.0.0.1:8080");
	CHECK_STR(o.app_id, "from-env");
	CHECK_STR(o.secret_key, "U2VjcmV0S2V5");
	setenv("MCAPI_BASE_URL", "http://override", 1);
	setenv("MCAPI_MAX_RETRIES", "7", 1);
	CHECK_INT(mcapi_config_resolve(back, "dev", &o, &msg), 0);
	CHECK_STR(o.base_url, "http://override");
	CHECK_INT(o.max_retries, 7);
	setenv("MCAPI_MAX_RETRIES", "lots", 1);
	CHECK_INT(mcapi_config_resolve(back, "dev", &o, &msg), MCAPI_E_INVALID);
	unsetenv("MCAPI_MAX_RETRIES");
	CHECK_INT(mcapi_config_resolve(back, "nope", &o, &msg), MCAPI_E_NOT_FOUND);
	CHECK(msg && strstr(msg, "'nope'"));
	setenv("MCAPI_PROFILE", "dev", 1);
	CHECK_INT(mcapi_config_resolve(back, NULL, &o, &msg), 0);
	CHECK_STR(o.secret_key, "U2VjcmV0S2V5");
	unsetenv("MCAPI_PROFILE");
	/* "default" may be absent: the environment alone is enough */
	CHECK_INT(mcapi_config_resolve(back, NULL, &o, &msg), 0);
	CHECK_STR(o.base_url, "http://override");
	CHECK(o.secret_key == NULL);
	unsetenv("MCAPI_BASE_URL");
	unsetenv("MCAPI_APP_ID");

	/* default path */
	setenv("MCAPI_CONFIG", "/x/y", 1);
	p = mcapi_config_default_path();
	CHECK_STR(p, "/x/y");
	free(p);
	unsetenv("MCAPI_CONFIG");
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	p = mcapi_config_default_path();
	CHECK_STR(p, "/xdg/mcapi/profiles");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/home/u", 1);
	p = mcapi_config_default_path();
	CHECK_STR(p, "/home/u/.config/mcapi/profiles");
	free(p);

	mcapi_config_free(cfg);
	mcapi_config_free(back);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
	free(msg);
}

static void test_retry_wait(void)
{
	long w, lo = 1L << 30, hi = 0;

	/* 429: X-RateLimit-Reset plus 5..100 ms of jitter (and a tenth of the wait) */
	for (int i = 0; i < 200; i++) {
		w = client_retry_wait(429, 0, 300, -1, 1);
		lo = w < lo ? w : lo;
		hi = w > hi ? w : hi;
	}
	CHECK(lo >= 305 && hi <= 305 + 30 + 95);
	CHECK(hi > lo); /* not the same wait every time */
	/* 429 without Reset: Retry-After, else back-off */
	w = client_retry_wait(429, 0, -1, 2000, 1);
	CHECK(w >= 2005 && w <= 2005 + 200 + 95);
	w = client_retry_wait(429, 0, -1, -1, 1);
	CHECK(w >= 125 && w <= 250);
	/* 503: Retry-After, capped at 60 s */
	w = client_retry_wait(503, 0, -1, 1000, 3);
	CHECK(w >= 1005 && w <= 1005 + 100 + 95);
	CHECK_INT(client_retry_wait(503, 0, -1, 86400000L, 1), CLIENT_WAIT_MAX_MS);
	CHECK_INT(client_retry_wait(429, 0, 120000, -1, 1), CLIENT_WAIT_MAX_MS);
	/* connection failures, 502, 504 and a retryable 500: exponential back-off with jitter */
	w = client_retry_wait(0, 0, -1, -1, 1);
	CHECK(w >= 125 && w <= 250);
	w = client_retry_wait(502, 0, -1, -1, 3);
	CHECK(w >= 500 && w <= 1000);
	w = client_retry_wait(504, 0, -1, -1, 30);
	CHECK(w >= 4000 && w <= 8000);
	w = client_retry_wait(500, 1, -1, -1, 2);
	CHECK(w >= 250 && w <= 500);
	/* never retried */
	CHECK_INT(client_retry_wait(500, 0, -1, -1, 1), -1);
	CHECK_INT(client_retry_wait(200, 0, -1, 5, 1), -1);
	CHECK_INT(client_retry_wait(401, 0, 100, 5, 1), -1);
	CHECK_INT(client_retry_wait(400, 0, -1, -1, 1), -1);

	/* Retry-After: seconds or an HTTP date */
	CHECK_INT(http_retry_after_ms(" 3\r\n", 4), 3000);
	CHECK_INT(http_retry_after_ms("0", 1), 0);
	CHECK_INT(http_retry_after_ms("999999999", 9), 86400000L);
	CHECK_INT(http_retry_after_ms(" Wed, 21 Oct 2015 07:28:00 GMT\r\n", 33), 0); /* past */
	{
		char d[64];
		time_t t = time(NULL) + 120;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		w = http_retry_after_ms(d, strlen(d));
		CHECK(w >= 118000 && w <= 120000);
	}
	CHECK_INT(http_retry_after_ms("soon", 4), -1);
	CHECK_INT(http_retry_after_ms("", 0), -1);
}

static void test_resolve_transport_keys(void)
{
	struct mcapi_config *cfg = NULL;
	struct mcapi_options o;
	char *msg = NULL;
	static const char ini[] = "[t]\nca_file = /etc/ssl/certs/ca-certificates.crt\n"
	                          "connect_timeout_ms = 1500\ntotal_timeout_ms = 20000\n";

	CHECK_INT(mcapi_config_parse(ini, sizeof(ini) - 1, &cfg, &msg), 0);
	CHECK_INT(mcapi_config_resolve(cfg, "t", &o, &msg), 0);
	CHECK_STR(o.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	CHECK_INT(o.connect_timeout_ms, 1500);
	CHECK_INT(o.total_timeout_ms, 20000);
	setenv("MCAPI_TOTAL_TIMEOUT_MS", "900", 1);
	setenv("MCAPI_CA_FILE", "/tmp/ca.pem", 1);
	CHECK_INT(mcapi_config_resolve(cfg, "t", &o, &msg), 0);
	CHECK_INT(o.total_timeout_ms, 900);
	CHECK_STR(o.ca_file, "/tmp/ca.pem");
	setenv("MCAPI_CONNECT_TIMEOUT_MS", "-3", 1);
	CHECK_INT(mcapi_config_resolve(cfg, "t", &o, &msg), MCAPI_E_INVALID);
	CHECK(msg && strstr(msg, "'connect_timeout_ms' must be a number of ms"));
	unsetenv("MCAPI_CONNECT_TIMEOUT_MS");
	unsetenv("MCAPI_TOTAL_TIMEOUT_MS");
	unsetenv("MCAPI_CA_FILE");
	mcapi_config_free(cfg);
	free(msg);
}

int main(void)
{
	crypto_init();
	test_vectors();
	test_fresh_headers();
	test_options();
	test_response();
	test_profile_parse();
	test_profile_file();
	test_retry_wait();
	test_resolve_transport_keys();
	return tap_done();
}
