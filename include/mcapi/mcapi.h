/* libmcapi: a client of the Mimecast API 1.0 (see docs/client.md). It signs calls as API.md
 * §2.1 says, sends them with libcurl, retries what the contract says is retryable (429, 503,
 * connection failures) with a fresh request id each time, follows §8 pagination, performs the
 * §6 discover-and-login flow, and reads INI profiles. Handles are opaque; every function
 * returns 0 or a negative MCAPI_E_* code and never prints, exits or logs secrets.
 *
 * Threads: the library has no global state of its own (libcurl is initialised once, under
 * pthread_once, by the first mcapi_client_new or mcapi_login). A client and its responses may
 * be used by one thread at a time: use one client per thread, or a lock around each. Distinct
 * clients, profiles (struct mcapi_config) and mcapi_login calls are independent. The
 * functions that read the environment (mcapi_config_resolve, mcapi_config_default_path) must
 * not run while another thread calls setenv. */
#ifndef MCAPI_MCAPI_H
#define MCAPI_MCAPI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MCAPI_EXPORT __attribute__((visibility("default")))
#else
#define MCAPI_EXPORT
#endif

enum mcapi_error {
	MCAPI_OK = 0,
	MCAPI_E_INVALID = -1,   /* a bad argument or option (usage error) */
	MCAPI_E_NOMEM = -2,     /* allocation failed */
	MCAPI_E_TRANSPORT = -3, /* connection, TLS or HTTP failure after every retry */
	MCAPI_E_TIMEOUT = -4,   /* the call took longer than timeout_ms, after every retry */
	MCAPI_E_PROTOCOL = -5,  /* the answer is not the API's envelope or is too large */
	MCAPI_E_NOT_FOUND = -6, /* a profile that does not exist */
	MCAPI_E_IO = -7,        /* reading or writing a file failed */
	MCAPI_E_STOPPED = -8,   /* a pagination callback asked to stop */
	MCAPI_E_API = -9,       /* the API refused the call (login, discovery): see the message */
	MCAPI_E_LIMIT = -10,    /* a bound was reached (pages of mcapi_paginate) */
};

/* A short static description of an MCAPI_E_* code. */
MCAPI_EXPORT const char *mcapi_strerror(int code);

/* The library's version, e.g. "0.1.0". */
MCAPI_EXPORT const char *mcapi_version(void);

/* Connection settings. Strings are borrowed: mcapi_client_new copies them. */
struct mcapi_options {
	const char *base_url; /* e.g. "https://eu-api.mimecast.com" (no trailing path) */
	const char *app_id;
	const char *app_key;
	const char *access_key;
	const char *secret_key; /* standard base64, as login returns it */
	long timeout_ms;        /* per attempt; 0 = 30000 */
	int max_retries; /* retries after the first attempt; 0 = none (see mcapi_options_init) */
	const char *user_agent; /* NULL = "mcapi/<version>" */
	/* Fields below were added after 0.1.0; the struct only grows at its end, so always fill
	 * it with mcapi_options_init first. */
	long connect_timeout_ms; /* TCP and TLS set-up of one attempt; 0 = min(timeout_ms, 10000) */
	long total_timeout_ms;   /* the whole call: attempts and the waits between them; 0 = none
	                            (max_retries alone bounds it) */
	const char *ca_file;     /* PEM file of the CAs to trust for https:// instead of the
	                            system's; TLS peer and host name are always verified */
};

/* Fills o with the defaults: NULL strings, timeout_ms 30000, max_retries 4, connect and total
 * timeouts 0 (see above). */
MCAPI_EXPORT void mcapi_options_init(struct mcapi_options *o);

/* Checks that o has everything a signed call needs (base_url http(s)://, app_id, app_key,
 * access_key, a secret_key that decodes as base64), no CR/LF in any value, timeouts in
 * 0..3600000 ms, and a ca_file (when given) that can be read. Returns 0, or
 * MCAPI_E_INVALID with a message in *errmsg (if errmsg is not NULL; free() it). */
MCAPI_EXPORT int mcapi_options_validate(const struct mcapi_options *o, char **errmsg);

/* ---- signing (API.md §2.1) ---- */

#define MCAPI_HEADER_MAX 512

/* The four headers of a signed call, as NUL-terminated values. */
struct mcapi_headers {
	char app_id[MCAPI_HEADER_MAX];        /* x-mc-app-id */
	char date[64];                        /* x-mc-date, "Tue, 24 Nov 2015 12:50:11 UTC" */
	char req_id[64];                      /* x-mc-req-id, a GUID */
	char authorization[MCAPI_HEADER_MAX]; /* "MC {accessKey}:{signature}" */
};

/* Signs a call of path (e.g. "/api/account/get-account") with o's app_id, app_key,
 * access_key and secret_key. date and req_id are used verbatim when not NULL (tests, replays
 * of captured calls); when NULL the current UTC time and a fresh random GUID are used.
 * Returns 0, or MCAPI_E_INVALID (missing or over-long values, CR/LF, secret key not base64)
 * with a message in *errmsg (if errmsg is not NULL; free() it). */
MCAPI_EXPORT int mcapi_sign(const struct mcapi_options *o, const char *path, const char *date,
                            const char *req_id, struct mcapi_headers *out, char **errmsg);

/* ---- the client ---- */

struct mcapi_client;
struct mcapi_response;

/* A client for o (validated as mcapi_options_validate does; strings are copied). Returns it,
 * or NULL with a message in *errmsg (if errmsg is not NULL; free() it). Free with
 * mcapi_client_free. */
MCAPI_EXPORT struct mcapi_client *mcapi_client_new(const struct mcapi_options *o, char **errmsg);

/* Frees c (NULL is fine) and wipes its secrets. */
MCAPI_EXPORT void mcapi_client_free(struct mcapi_client *c);

/* The message of the last failed call on c ("" if none); valid until the next call on c. */
MCAPI_EXPORT const char *mcapi_client_last_error(const struct mcapi_client *c);

/* Posts request_json (strict JSON or a Python literal as API.md §4 allows; NULL =
 * {"data":[]}) to base_url + path, signed. Retries 429 after X-RateLimit-Reset ms (else
 * Retry-After), 503 after Retry-After (seconds or an HTTP date), 500 whose envelope says
 * retryable, 502/504 and connection failures with exponential back-off — each wait with
 * jitter and at most 60 s, each attempt with a new date and request id — at most max_retries
 * times and within total_timeout_ms. Function-level failures (HTTP 200 with fail[]) are never
 * retried. When the next wait would pass total_timeout_ms, the last answer is returned (or,
 * with none, MCAPI_E_TIMEOUT or the transport error).
 * Returns 0 when an HTTP answer was received (any status: look at the response), with *out
 * set (free with mcapi_response_free); otherwise a negative code, *out NULL, and a message in
 * mcapi_client_last_error(c). */
MCAPI_EXPORT int mcapi_call(struct mcapi_client *c, const char *path, const char *request_json,
                            struct mcapi_response **out);

/* HTTP status of the last attempt (200, 401, 429, ...). */
MCAPI_EXPORT long mcapi_response_status(const struct mcapi_response *r);

/* The response body (NUL-terminated; *len, if not NULL, gets its length). Owned by r. */
MCAPI_EXPORT const char *mcapi_response_body(const struct mcapi_response *r, size_t *len);

/* 1 if the body is the API's envelope ({"meta":..., "data":[...], "fail":[...]}), else 0. */
MCAPI_EXPORT int mcapi_response_is_envelope(const struct mcapi_response *r);

/* Number of entries of fail[] (0 when the body is not an envelope). */
MCAPI_EXPORT size_t mcapi_response_fail_count(const struct mcapi_response *r);

/* Number of entries of data[] (0 when the body is not an envelope). */
MCAPI_EXPORT size_t mcapi_response_data_count(const struct mcapi_response *r);

/* The string member key of data[i] (e.g. "domain" of a get-pending-domain item), or NULL when
 * there is no such item, member, or the member is not a string. Owned by r. For other shapes,
 * parse mcapi_response_body with a JSON library. */
MCAPI_EXPORT const char *mcapi_response_data_string(const struct mcapi_response *r, size_t i,
                                                    const char *key);

/* code, message and field of the first error of the first fail entry, or NULL. Owned by r. */
MCAPI_EXPORT const char *mcapi_response_error_code(const struct mcapi_response *r);
MCAPI_EXPORT const char *mcapi_response_error_message(const struct mcapi_response *r);
MCAPI_EXPORT const char *mcapi_response_error_field(const struct mcapi_response *r);

/* meta.pagination.next, or NULL when there is no further page. Owned by r. */
MCAPI_EXPORT const char *mcapi_response_next_token(const struct mcapi_response *r);

/* X-RateLimit-Limit, -Remaining and -Reset (ms) of the answer, or -1 when absent. */
MCAPI_EXPORT long mcapi_response_rate_limit(const struct mcapi_response *r);
MCAPI_EXPORT long mcapi_response_rate_remaining(const struct mcapi_response *r);
MCAPI_EXPORT long mcapi_response_rate_reset_ms(const struct mcapi_response *r);

/* How many attempts the call took (1 = no retry). */
MCAPI_EXPORT int mcapi_response_attempts(const struct mcapi_response *r);

/* The x-mc-req-id of the last attempt (for support requests). Owned by r. */
MCAPI_EXPORT const char *mcapi_response_request_id(const struct mcapi_response *r);

/* The value of the answer's header name (case-insensitive; the first if repeated), with
 * surrounding blanks trimmed, or NULL when absent. For answers that are not an envelope,
 * e.g. the files of /api/audit/get-siem-logs: "mc-siem-token", "Content-Disposition",
 * "Content-Type" — the body itself is mcapi_response_body. Owned by r. */
MCAPI_EXPORT const char *mcapi_response_header(const struct mcapi_response *r, const char *name);

/* Frees r (NULL is fine). */
MCAPI_EXPORT void mcapi_response_free(struct mcapi_response *r);

/* ---- tracing (for --verbose / --debug of a caller) ---- */

enum mcapi_trace_kind {
	MCAPI_TRACE_REQUEST = 1,  /* an attempt is about to be sent */
	MCAPI_TRACE_RESPONSE = 2, /* an HTTP answer arrived */
	MCAPI_TRACE_ERROR = 3,    /* the attempt failed without an answer (message) */
	MCAPI_TRACE_RETRY = 4,    /* the library waits wait_ms, then sends attempt + 1 */
};

/* One event of mcapi_call. Every pointer is valid only during the callback. No secret is ever
 * handed out: the Authorization header in headers reads "MC ****:****". */
struct mcapi_trace {
	int kind;            /* enum mcapi_trace_kind */
	int attempt;         /* 1 for the first attempt */
	int max_attempts;    /* 1 + max_retries */
	const char *url;     /* base_url + path */
	const char *req_id;  /* x-mc-req-id of the attempt */
	const char *headers; /* REQUEST: the headers sent; RESPONSE: the answer's ("Name: v\n") */
	const char *body;    /* REQUEST: the request body; RESPONSE: the answer body */
	size_t body_len;
	long status;         /* RESPONSE, RETRY after an answer: the HTTP status; else 0 */
	long elapsed_ms;     /* RESPONSE, ERROR: time the attempt took */
	long wait_ms;        /* RETRY: how long the library waits before the next attempt */
	const char *message; /* ERROR, RETRY after a failure: what went wrong; else NULL */
};

typedef void (*mcapi_trace_fn)(const struct mcapi_trace *t, void *arg);

/* Calls fn(event, arg) for every attempt, answer, failure and wait of calls on c (NULL turns
 * it off). fn must not call into c. */
MCAPI_EXPORT void mcapi_client_set_trace(struct mcapi_client *c, mcapi_trace_fn fn, void *arg);

/* ---- pagination (API.md §8) ---- */

/* Called once per page; r is owned by the library and freed after the callback returns.
 * Return 0 to go on, non-zero to stop (mcapi_paginate then returns MCAPI_E_STOPPED). */
typedef int (*mcapi_page_fn)(const struct mcapi_response *r, void *arg);

/* Calls path with request_json (as mcapi_call; it must be an object), then again with
 * meta.pagination.pageToken = the previous page's meta.pagination.next while there is one,
 * passing each page to fn. Stops after a page that is not HTTP 200, has fail entries, or has
 * no next; after max_pages pages (0 = 10000) it returns MCAPI_E_LIMIT. Returns 0, the
 * mcapi_call error, MCAPI_E_INVALID (request_json not an object), MCAPI_E_STOPPED, or
 * MCAPI_E_LIMIT; messages in mcapi_client_last_error(c). */
MCAPI_EXPORT int mcapi_paginate(struct mcapi_client *c, const char *path, const char *request_json,
                                unsigned max_pages, mcapi_page_fn fn, void *arg);

/* ---- login (API.md §6) ---- */

/* Keys a login returned; strings are heap copies owned by the struct. */
struct mcapi_login_result {
	char *base_url; /* region.api of discovery (where the keys are to be used) */
	char *access_key;
	char *secret_key;
	long long duration_ms; /* binding lifetime the server reported; 0 if none */
};

/* Discovers email's region at o->base_url (unsigned, x-mc-app-id = o->app_id), checks that
 * Basic-Cloud is offered, and logs in there with email and password (never retried with the
 * same request id; never logged). o->app_key and the keys are not needed. On success fills
 * *res (release with mcapi_login_result_release) and returns 0; otherwise returns
 * MCAPI_E_API (wrong password, locked, ...), MCAPI_E_TRANSPORT, ... with *errmsg. */
MCAPI_EXPORT int mcapi_login(const struct mcapi_options *o, const char *email, const char *password,
                             struct mcapi_login_result *res, char **errmsg);

/* Frees and wipes the strings of r. */
MCAPI_EXPORT void mcapi_login_result_release(struct mcapi_login_result *r);

/* ---- profiles (docs/client.md) ---- */

struct mcapi_config;

/* The profile file: $MCAPI_CONFIG, else $XDG_CONFIG_HOME/mcapi/profiles, else
 * $HOME/.config/mcapi/profiles. Returns a malloc'd path, or NULL when none can be made. */
MCAPI_EXPORT char *mcapi_config_default_path(void);

/* Reads the INI file at path ([name] sections of key = value lines, # and ; comments).
 * A missing file gives an empty configuration. Returns 0 and *out (free with
 * mcapi_config_free), or MCAPI_E_INVALID (syntax, with the line) / MCAPI_E_IO / MCAPI_E_NOMEM
 * with *errmsg. */
MCAPI_EXPORT int mcapi_config_load(const char *path, struct mcapi_config **out, char **errmsg);

/* Parses text[0..len) the same way (for tests and embedding). */
MCAPI_EXPORT int mcapi_config_parse(const char *text, size_t len, struct mcapi_config **out,
                                    char **errmsg);

MCAPI_EXPORT void mcapi_config_free(struct mcapi_config *cfg);

/* Number of profiles, and the name of the i-th in file order (NULL past the end). */
MCAPI_EXPORT size_t mcapi_config_count(const struct mcapi_config *cfg);
MCAPI_EXPORT const char *mcapi_config_name(const struct mcapi_config *cfg, size_t i);

/* 1 if profile exists, else 0. */
MCAPI_EXPORT int mcapi_config_has(const struct mcapi_config *cfg, const char *profile);

/* The value of key in profile, or NULL. Owned by cfg. */
MCAPI_EXPORT const char *mcapi_config_get(const struct mcapi_config *cfg, const char *profile,
                                          const char *key);

/* Sets key = value in profile (created if needed; value NULL removes the key). Names and keys
 * are [A-Za-z0-9_.-]+; values must not hold CR, LF or NUL. 0, MCAPI_E_INVALID or NOMEM. */
MCAPI_EXPORT int mcapi_config_set(struct mcapi_config *cfg, const char *profile, const char *key,
                                  const char *value);

/* Removes profile and all its keys from cfg. 0, or MCAPI_E_NOT_FOUND when it is not there. */
MCAPI_EXPORT int mcapi_config_delete(struct mcapi_config *cfg, const char *profile);

/* Writes cfg to path atomically (temporary file, fsync, rename) with mode 0600, creating the
 * directory (0700) if needed. 0 or MCAPI_E_IO with *errmsg. */
MCAPI_EXPORT int mcapi_config_save(const struct mcapi_config *cfg, const char *path, char **errmsg);

/* Fills o for profile with this precedence, highest first: the environment (MCAPI_BASE_URL,
 * MCAPI_APP_ID, MCAPI_APP_KEY, MCAPI_ACCESS_KEY, MCAPI_SECRET_KEY, MCAPI_USER_AGENT,
 * MCAPI_CA_FILE, MCAPI_TIMEOUT_MS, MCAPI_CONNECT_TIMEOUT_MS, MCAPI_TOTAL_TIMEOUT_MS,
 * MCAPI_MAX_RETRIES), then the profile's keys (base_url, app_id, app_key, access_key,
 * secret_key, user_agent, ca_file, timeout_ms, connect_timeout_ms, total_timeout_ms,
 * max_retries). profile NULL means $MCAPI_PROFILE, else "default".
 * A profile named explicitly (argument or $MCAPI_PROFILE) must exist (MCAPI_E_NOT_FOUND);
 * "default" may be absent. o is initialised first; its strings point into cfg or the
 * environment. cfg may be NULL (environment only). 0 or an error with *errmsg. Does not
 * validate: call mcapi_options_validate or mcapi_client_new. */
MCAPI_EXPORT int mcapi_config_resolve(const struct mcapi_config *cfg, const char *profile,
                                      struct mcapi_options *o, char **errmsg);

#ifdef __cplusplus
}
#endif

#endif
