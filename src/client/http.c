/* The one HTTP exchange of libmcapi: a POST with libcurl on a reused easy handle, the body
 * collected into a capped buffer and the §7 rate-limit and Retry-After headers picked out
 * of the answer. TLS peer and host name verification are always on (a CA file may replace
 * the system's CAs). It decides nothing about retries beyond saying which failures are worth
 * one. */
#include "client_int.h"
#include "common/err.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/banned.h"

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_init_rc = CURLE_OK;

static void http_global_init_once(void)
{
	http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int http_global_init(void)
{
	pthread_once(&http_once, http_global_init_once);
	return http_init_rc == CURLE_OK ? 0 : MCAPI_E_NOMEM;
}

void client_sleep_ms(long ms)
{
	struct timespec ts, rem;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
}

static size_t http_on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (buf_add(b, p, size * n) != 0)
		return 0; /* over the cap: curl stops with CURLE_WRITE_ERROR */
	return size * n;
}

/* A non-negative decimal header value, or -1. */
static long http_header_long(const char *v, size_t n)
{
	long x = 0;
	size_t i = 0;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i == n || !isdigit((unsigned char)v[i]))
		return -1;
	for (; i < n && isdigit((unsigned char)v[i]); i++) {
		if (x > 100000000L)
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

long http_retry_after_ms(const char *v, size_t n)
{
	char date[64];
	long s = http_header_long(v, n);
	time_t t, now;

	if (s >= 0)
		return s > 86400 ? 86400000L : s * 1000;
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n == 0 || n >= sizeof(date))
		return -1;
	memcpy(date, v, n);
	date[n] = '\0';
	t = curl_getdate(date, NULL);
	if (t == (time_t)-1)
		return -1;
	now = time(NULL);
	if (t <= now)
		return 0;
	return t - now > 86400 ? 86400000L : (long)(t - now) * 1000;
}

static size_t http_on_header(char *p, size_t size, size_t n, void *arg)
{
	struct http_result *res = arg;
	size_t len = size * n;
	const char *colon = memchr(p, ':', len);
	size_t name_len, vlen;
	const char *v;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		buf_reset(&res->headers); /* a new answer (after 100 Continue, say) */
		return len;
	}
	if (!colon)
		return len;
	name_len = (size_t)(colon - p);
	v = colon + 1;
	vlen = len - name_len - 1;
	/* keep the line, trimmed: a value of mcapi_response_header. Past the cap a line is
	 * dropped rather than the answer failed: no header the library needs is that late. */
	if (res->headers.cap) {
		size_t vb = name_len + 1, ve = len;
		while (vb < ve && (p[vb] == ' ' || p[vb] == '\t'))
			vb++;
		while (ve > vb && (p[ve - 1] == '\r' || p[ve - 1] == '\n' || p[ve - 1] == ' ' ||
		                   p[ve - 1] == '\t'))
			ve--;
		if (!memchr(p, '\0', ve) &&
		    res->headers.len + name_len + (ve - vb) + 3 <= res->headers.cap) {
			buf_add(&res->headers, p, name_len);
			buf_add(&res->headers, ": ", 2);
			buf_add(&res->headers, p + vb, ve - vb);
			buf_addc(&res->headers, '\n');
		}
	}
#define HDR_IS(s) (name_len == sizeof(s) - 1 && strncasecmp(p, s, name_len) == 0)
	if (HDR_IS("X-RateLimit-Limit"))
		res->rl_limit = http_header_long(v, vlen);
	else if (HDR_IS("X-RateLimit-Remaining"))
		res->rl_remaining = http_header_long(v, vlen);
	else if (HDR_IS("X-RateLimit-Reset"))
		res->rl_reset = http_header_long(v, vlen);
	else if (HDR_IS("Retry-After"))
		res->retry_after_ms = http_retry_after_ms(v, vlen);
#undef HDR_IS
	return len;
}

int http_post(CURL *h, const char *url, struct curl_slist *headers, const char *body, size_t len,
              const struct http_opts *opt, struct http_result *res, char *msg, size_t msg_size,
              int *retryable)
{
	char curl_err[CURL_ERROR_SIZE];
	long connect_ms = opt->connect_timeout_ms;
	CURLcode cc;

	*retryable = 0;
	buf_reset(&res->body);
	buf_reset(&res->headers);
	res->status = 0;
	res->rl_limit = res->rl_remaining = res->rl_reset = res->retry_after_ms = -1;
	curl_err[0] = '\0';

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, opt->user_agent);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, opt->timeout_ms);
	if (connect_ms <= 0 || connect_ms > opt->timeout_ms)
		connect_ms = opt->timeout_ms < 10000 ? opt->timeout_ms : 10000L;
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	/* libcurl's defaults, set anyway: the library never talks to an unverified peer */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (opt->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, opt->ca_file);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would drop the signature */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &res->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, res);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);

	cc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
		return 0;
	}
	snprintf(msg, msg_size, "%s", curl_err[0] ? curl_err : curl_easy_strerror(cc));
	switch (cc) {
	case CURLE_WRITE_ERROR:
		if (res->body.len + CURL_MAX_WRITE_SIZE >= res->body.cap) {
			snprintf(msg, msg_size, "the answer is larger than %u bytes",
			         CLIENT_BODY_MAX);
			return MCAPI_E_PROTOCOL;
		}
		return MCAPI_E_NOMEM;
	case CURLE_OPERATION_TIMEDOUT:
		*retryable = 1;
		return MCAPI_E_TIMEOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		/* never retried: another attempt meets the same certificate */
		return MCAPI_E_TRANSPORT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		*retryable = 1;
		return MCAPI_E_TRANSPORT;
	default:
		return MCAPI_E_TRANSPORT;
	}
}
