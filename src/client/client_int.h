/* Internals of libmcapi shared by its files (never installed): the client and response
 * structs, the one HTTP exchange that call and login both use, message helpers, and the
 * signing core that works on a decoded secret key. Nothing here is exported. */
#ifndef MCAPI_CLIENT_CLIENT_INT_H
#define MCAPI_CLIENT_CLIENT_INT_H

#include "common/buf.h"
#include "mcapi/mcapi.h"

#include <curl/curl.h>
#include <jansson.h>

#define CLIENT_BODY_MAX        (64u << 20) /* a response larger than this is MCAPI_E_PROTOCOL */
#define CLIENT_KEY_MAX         256         /* decoded secret key bytes */
#define CLIENT_TIMEOUT_DEFAULT 30000
#define CLIENT_RETRIES_DEFAULT 4
#define CLIENT_WAIT_MAX_MS     60000       /* no single retry waits longer than this */
#define CLIENT_HEADERS_MAX     (64u << 10) /* response header lines kept; more are dropped */

struct mcapi_client {
	char *base_url; /* without trailing '/' */
	char *app_id;
	char *app_key;
	char *access_key;
	unsigned char key[CLIENT_KEY_MAX];
	size_t key_len;
	long timeout_ms;
	long connect_timeout_ms;
	long total_timeout_ms; /* 0 = none */
	int max_retries;
	char *user_agent;
	char *ca_file; /* NULL = the system's CAs */
	CURL *curl;
	char last_error[512];
	mcapi_trace_fn trace; /* mcapi_client_set_trace, or NULL */
	void *trace_arg;
};

struct mcapi_response {
	long status;
	char *body;
	size_t len;
	json_t *root; /* the parsed body when it is an envelope, else NULL */
	const char *err_code, *err_message, *err_field, *next;
	long rl_limit, rl_remaining, rl_reset;
	int attempts;
	char req_id[64];
	char *headers; /* the final answer's header lines, each "Name: value" NUL-terminated,
	                  the list ended by an empty string */
	size_t headers_len;
};

/* What one HTTP exchange gave back. */
struct http_result {
	long status;
	struct buf body;
	long rl_limit, rl_remaining, rl_reset; /* -1 when absent */
	long retry_after_ms; /* Retry-After (seconds or an HTTP date) in ms; -1 when absent */
	struct buf headers;  /* header lines of the final answer, "Name: value\n" each, trimmed;
	                        callers buf_init it (cap CLIENT_HEADERS_MAX) and release it */
};

/* Transport settings of one exchange (strings borrowed). */
struct http_opts {
	long timeout_ms;         /* the whole exchange */
	long connect_timeout_ms; /* TCP and TLS set-up; 0 = min(timeout_ms, 10000) */
	const char *user_agent;
	const char *ca_file; /* NULL = the system's CAs; verification is always on */
};

/* Posts body to url with headers on handle h (a reused easy handle). Returns 0 with res
 * filled (res->body must be released by the caller in every case), or MCAPI_E_TRANSPORT /
 * MCAPI_E_TIMEOUT / MCAPI_E_PROTOCOL (body over CLIENT_BODY_MAX) / MCAPI_E_NOMEM with a
 * message in msg. *retryable is set to 1 for failures worth another attempt. */
int http_post(CURL *h, const char *url, struct curl_slist *headers, const char *body, size_t len,
              const struct http_opts *opt, struct http_result *res, char *msg, size_t msg_size,
              int *retryable);

/* Retry-After (RFC 9110 §10.2.3) of v[0..n): delay-seconds or an HTTP date, in ms from now
 * (0 for a date in the past; at most a day), or -1 when it is neither. */
long http_retry_after_ms(const char *v, size_t n);

/* The wait in ms before retry number attempt (1 = the first retry) of an answer with HTTP
 * status, or -1 when it is not retried. retryable_500: the envelope of a 500 says
 * retryable. rl_reset_ms and retry_after_ms are the answer's X-RateLimit-Reset and
 * Retry-After (-1 when absent). Status 0 means a connection failure. Every wait has jitter
 * and is capped at CLIENT_WAIT_MAX_MS. */
long client_retry_wait(long status, int retryable_500, long rl_reset_ms, long retry_after_ms,
                       int attempt);

/* curl_global_init once per process; 0 or MCAPI_E_NOMEM. */
int http_global_init(void);

/* Signs with a decoded key; date/req_id NULL = now / fresh GUID. 0 or MCAPI_E_INVALID with msg. */
int sign_headers(const unsigned char *key, size_t key_len, const char *app_id, const char *app_key,
                 const char *access_key, const char *path, const char *date, const char *req_id,
                 struct mcapi_headers *out, char *msg, size_t msg_size);

/* 1 if s holds CR, LF or another control byte that cannot go into a header. */
int sign_bad_header_value(const char *s);

/* Stores a formatted copy in *errmsg (if errmsg is not NULL) and returns code. */
int client_errf(char **errmsg, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Builds a response from an HTTP result (takes the body). NULL on allocation failure. */
struct mcapi_response *response_from_http(struct http_result *h, int attempts, const char *req_id);

/* Trace events of mcapi_call (trace.c); each does nothing when c has no trace callback.
 * now_ms is a monotonic clock for elapsed times. */
long client_now_ms(void);
void client_trace_request(struct mcapi_client *c, int attempt, const char *url,
                          const struct mcapi_headers *h, const char *body);
void client_trace_response(struct mcapi_client *c, int attempt, const char *url, const char *req_id,
                           const struct http_result *res, long start_ms);
void client_trace_wait(struct mcapi_client *c, int attempt, const char *url, long status,
                       const char *message, long wait_ms);
void client_trace_error(struct mcapi_client *c, int attempt, const char *url, const char *req_id,
                        const char *message, long start_ms);

/* ms to sleep; returns early on nothing (EINTR is resumed). */
void client_sleep_ms(long ms);

#endif
