/* Responses: the JSON envelope of API.md §3 and the one table that maps every call-level
 * error to its HTTP status, code, message and retryable flag. Handlers fill a struct
 * response; the front serialises it. Function-level failures are HTTP 200 with the item
 * in fail[] (response_fail_item); call-level failures replace the whole answer
 * (response_call_error). */
#ifndef MCAPI_SERVER_RESPONSE_H
#define MCAPI_SERVER_RESPONSE_H

#include "common/buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum api_error {
	API_OK = 0,
	API_DEVELOPER_KEY,         /* 200 err_developer_key */
	API_CREDENTIALS_MISSING,   /* 400 err_xdk_credentials_missing */
	API_DATE_INVALID,          /* 401 err_xdk_request_date_invalid */
	API_INVALID_SIGNATURE,     /* 401 err_xdk_invalid_signature */
	API_BINDING_EXPIRED,       /* 418 err_xdk_binding_expired */
	API_REPLAYED,              /* 401 err_xdk_request_replayed */
	API_RATE_LIMITED,          /* 429 err_xdk_rate_limit_exceeded */
	API_FORBIDDEN,             /* 403 err_xdk_forbidden */
	API_MALFORMED_BODY,        /* 400 err_xdk_malformed_body */
	API_BAD_REQUEST,           /* 400 err_xdk_bad_request (framing; connection closed) */
	API_NOT_FOUND,             /* 404 err_xdk_not_found */
	API_METHOD_NOT_ALLOWED,    /* 405 err_xdk_method_not_allowed */
	API_TOO_LARGE,             /* 413 err_xdk_request_too_large */
	API_HEADERS_TOO_LARGE,     /* 431 err_xdk_headers_too_large */
	API_INTERNAL,              /* 500 err_xdk_internal */
	API_UNAVAILABLE,           /* 503 err_xdk_unavailable */
	API_AUTH_TYPE_UNSUPPORTED, /* 401 err_xdk_authentication_type_not_supported */
	API_AUTH_FAILED,           /* 401 err_xdk_authentication_failed */
	API_ACCOUNT_LOCKED,        /* 401 err_xdk_account_locked */
	API_TOO_MANY_FAILURES,     /* 429 err_xdk_too_many_failures (per-IP limit) */
	API_ERROR_COUNT
};

#define RESPONSE_MAX_HEADERS 8

struct response {
	int status;           /* HTTP status, 200 unless a call-level error is set */
	enum api_error error; /* API_OK or the call-level error */
	json_t *data;         /* array of result items (owned) */
	struct buf raw;       /* more result items, already serialised, comma-separated */
	json_t *fail;         /* array of failures (owned) */
	json_t *pagination;   /* meta.pagination object or NULL (owned) */
	char *body;           /* when set: the whole serialised answer, sent as is (owned) */
	size_t body_len;
	const char *content_type; /* body's Content-Type (a static string); NULL = JSON */
	int close;                /* close the connection after this response */
	int rate_set;             /* the X-RateLimit-* headers are set (pipeline.c) */
	int64_t rate_reset_ms;    /* ... and their X-RateLimit-Reset, for Retry-After */
	int retry_after_s;        /* > 0: Retry-After of a 429 when it is not the bucket's reset */
	int nheaders;             /* headers[] past nheaders are not initialised: keep them last */
	struct {
		char name[32];
		char value[512]; /* long enough for an mc-siem-token */
	} headers[RESPONSE_MAX_HEADERS];
};

/* Initialises res as an empty 200 answer. Returns 0 or MC_ERR_NOMEM. */
int response_init(struct response *res);
void response_release(struct response *res);

/* Appends a data item (steals the reference). */
void response_add_data(struct response *res, json_t *item);

/* For long lists: returns the buffer to write one more result item into, as compact JSON
 * (a separating comma is already there). Items written so far come after those of
 * response_add_data. NULL if the buffer cannot grow. */
struct buf *response_raw_item(struct response *res);

/* Appends a function-level failure for one request item: key is the item as received
 * (borrowed, a reference is taken; NULL for none), field may be NULL. */
void response_fail_item(struct response *res, json_t *key, const char *code, const char *message,
                        const char *field, int retryable);

/* Turns res into a call-level error: clears data and fail, sets the status from the table
 * and one fail entry without key. message NULL = the table's default. */
void response_call_error(struct response *res, enum api_error err, const char *message);

/* Sets a response header: replaces one of the same name (case-insensitive), else adds it
 * (silently dropped beyond RESPONSE_MAX_HEADERS). */
void response_header(struct response *res, const char *name, const char *value);

/* The HTTP status, code, default message and retryable flag of a call-level error. */
int api_error_status(enum api_error err);
const char *api_error_code(enum api_error err);
const char *api_error_message(enum api_error err);
int api_error_retryable(enum api_error err);

/* Sets the whole serialised answer (taking ownership of body), e.g. from a cache. */
void response_set_body(struct response *res, char *body, size_t len);

/* Sets a body that is not the JSON envelope (a SIEM log file, a zip), taking ownership of
 * body; content_type is a static string such as "text/plain". The front sends it with that
 * Content-Type and the usual headers; a later call-level error replaces it. */
void response_set_file(struct response *res, char *body, size_t len, const char *content_type);

/* Hands over the body set by response_set_body or response_set_file (caller frees; NULL if
 * none), so a large file is not copied once more on its way out. */
char *response_take_body(struct response *res, size_t *len);

/* Serialises the envelope {"meta":{"status":..,"pagination":..},"data":[..],"fail":[..]}
 * as compact JSON. Returns a malloc'd string (caller frees) and its length, or NULL. */
char *response_serialise(const struct response *res, size_t *len);

/* Maps an internal error (enum mc_err) from the store or elsewhere to a call-level error:
 * MC_ERR_UNAVAILABLE → API_UNAVAILABLE, everything else → API_INTERNAL. */
enum api_error api_error_from_mc(int mc_err);

#endif
