/* The envelope and the call-level error table; see response.h. */
#include "response.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

static const struct {
	int status;
	const char *code;
	const char *message;
	int retryable;
} errors[API_ERROR_COUNT] = {
        [API_OK] = {200, "", "", 0},
        [API_DEVELOPER_KEY] = {200, "err_developer_key", "App ID is invalid", 0},
        [API_CREDENTIALS_MISSING] = {400, "err_xdk_credentials_missing",
                                     "0001 Credentials are missing from the request", 0},
        [API_DATE_INVALID] = {401, "err_xdk_request_date_invalid", "x-mc-date is invalid", 0},
        [API_INVALID_SIGNATURE] = {401, "err_xdk_invalid_signature", "0004 Invalid Signature", 0},
        [API_BINDING_EXPIRED] = {418, "err_xdk_binding_expired", "AccessKey Has Expired", 0},
        [API_REPLAYED] = {401, "err_xdk_request_replayed",
                          "this x-mc-req-id was already used with this access key; send a new GUID",
                          0},
        [API_RATE_LIMITED] = {429, "err_xdk_rate_limit_exceeded",
                              "rate limit exceeded; retry after X-RateLimit-Reset milliseconds", 1},
        [API_FORBIDDEN] = {403, "err_xdk_forbidden", "the user lacks the permission for this call",
                           0},
        [API_MALFORMED_BODY] = {400, "err_xdk_malformed_body", "the request body is malformed", 0},
        [API_BAD_REQUEST] = {400, "err_xdk_bad_request", "the request is malformed", 0},
        [API_NOT_FOUND] = {404, "err_xdk_not_found", "no such endpoint", 0},
        [API_METHOD_NOT_ALLOWED] = {405, "err_xdk_method_not_allowed",
                                    "only POST is allowed on this endpoint", 0},
        [API_TOO_LARGE] = {413, "err_xdk_request_too_large", "the request body is too large", 0},
        [API_HEADERS_TOO_LARGE] = {431, "err_xdk_headers_too_large",
                                   "the request headers are too large", 0},
        [API_INTERNAL] = {500, "err_xdk_internal", "internal error; please retry", 1},
        [API_UNAVAILABLE] = {503, "err_xdk_unavailable", "service unavailable; please retry", 1},
        [API_AUTH_TYPE_UNSUPPORTED] = {401, "err_xdk_authentication_type_not_supported",
                                       "0001 Authentication type not supported for the user", 0},
        [API_AUTH_FAILED] = {401, "err_xdk_authentication_failed", "authentication failed", 0},
        [API_ACCOUNT_LOCKED] =
                {401, "err_xdk_account_locked",
                 "the account is locked after repeated failed logins; try again later", 0},
        [API_TOO_MANY_FAILURES] =
                {429, "err_xdk_too_many_failures",
                 "too many unauthenticated or failed calls from this address; retry later", 1},
};

int api_error_status(enum api_error err)
{
	return err < API_ERROR_COUNT ? errors[err].status : 500;
}

const char *api_error_code(enum api_error err)
{
	return err < API_ERROR_COUNT ? errors[err].code : "err_xdk_internal";
}

const char *api_error_message(enum api_error err)
{
	return err < API_ERROR_COUNT ? errors[err].message : "internal error; please retry";
}

int api_error_retryable(enum api_error err)
{
	return err < API_ERROR_COUNT ? errors[err].retryable : 1;
}

enum api_error api_error_from_mc(int mc_err)
{
	return mc_err == MC_ERR_UNAVAILABLE ? API_UNAVAILABLE : API_INTERNAL;
}

int response_init(struct response *res)
{
	/* not the header slots (4 KiB, on every call): only those below nheaders are read */
	memset(res, 0, offsetof(struct response, headers));
	res->status = 200;
	res->data = json_array();
	res->fail = json_array();
	buf_init(&res->raw, (size_t)256 << 20);
	if (!res->data || !res->fail) {
		response_release(res);
		return MC_ERR_NOMEM;
	}
	return 0;
}

void response_release(struct response *res)
{
	json_decref(res->data);
	json_decref(res->fail);
	json_decref(res->pagination);
	res->data = res->fail = res->pagination = NULL;
	buf_release(&res->raw);
	free(res->body);
	res->body = NULL;
}

void response_set_body(struct response *res, char *body, size_t len)
{
	free(res->body);
	res->body = body;
	res->body_len = len;
}

void response_set_file(struct response *res, char *body, size_t len, const char *content_type)
{
	response_set_body(res, body, len);
	res->content_type = content_type;
}

void response_add_data(struct response *res, json_t *item)
{
	json_array_append_new(res->data, item);
}

struct buf *response_raw_item(struct response *res)
{
	if (res->raw.len && buf_addc(&res->raw, ',') != 0)
		return NULL;
	return &res->raw;
}

static json_t *error_object(const char *code, const char *message, const char *field, int retryable)
{
	json_t *e = json_pack("{s:s, s:s, s:b}", "code", code, "message", message, "retryable",
	                      retryable);
	if (e && field)
		json_object_set_new(e, "field", json_string(field));
	return e;
}

void response_fail_item(struct response *res, json_t *key, const char *code, const char *message,
                        const char *field, int retryable)
{
	json_t *f = json_object();
	json_t *errs = json_array();

	json_array_append_new(errs, error_object(code, message, field, retryable));
	if (key)
		json_object_set(f, "key", key);
	json_object_set_new(f, "errors", errs);
	json_array_append_new(res->fail, f);
}

void response_call_error(struct response *res, enum api_error err, const char *message)
{
	if (err >= API_ERROR_COUNT)
		err = API_INTERNAL;
	json_array_clear(res->data);
	buf_reset(&res->raw);
	response_set_body(res, NULL, 0);
	res->content_type = NULL;
	json_array_clear(res->fail);
	json_decref(res->pagination);
	res->pagination = NULL;
	res->error = err;
	res->status = errors[err].status;
	response_fail_item(res, NULL, errors[err].code, message ? message : errors[err].message,
	                   NULL, errors[err].retryable);
}

static void copy_bounded(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void response_header(struct response *res, const char *name, const char *value)
{
	int i;

	for (i = 0; i < res->nheaders && strcasecmp(res->headers[i].name, name) != 0; i++)
		;
	if (i == RESPONSE_MAX_HEADERS)
		return;
	copy_bounded(res->headers[i].name, sizeof(res->headers[0].name), name);
	copy_bounded(res->headers[i].value, sizeof(res->headers[0].value), value);
	if (i == res->nheaders)
		res->nheaders++;
}

char *response_take_body(struct response *res, size_t *len)
{
	char *body = res->body;

	if (body && len)
		*len = res->body_len;
	res->body = NULL;
	res->body_len = 0;
	return body;
}

char *response_serialise(const struct response *res, size_t *len)
{
	struct buf b;
	char *out;

	if (res->body) {
		out = malloc(res->body_len + 1);
		if (out) {
			memcpy(out, res->body, res->body_len); /* a file body has no NUL */
			out[res->body_len] = '\0';
			if (len)
				*len = res->body_len;
		}
		return out;
	}
	/* The envelope is written around its parts: no temporary objects on every response. */
	buf_init(&b, (size_t)1 << 30);
	/* the pre-serialised items and the envelope around them in one allocation */
	if (res->raw.len && buf_reserve(&b, res->raw.len + 256) != 0)
		goto fail;
	if (buf_adds(&b, "{\"meta\":{\"status\":") != 0 || buf_add_i64(&b, res->status) != 0)
		goto fail;
	if (res->pagination &&
	    (buf_adds(&b, ",\"pagination\":") != 0 || json_write(&b, res->pagination) != 0))
		goto fail;
	if (buf_adds(&b, "},\"data\":") != 0 || json_write(&b, res->data) != 0)
		goto fail;
	if (res->raw.len) {
		/* splice the pre-serialised items in before the closing bracket */
		b.len--;
		if ((json_array_size(res->data) && buf_addc(&b, ',') != 0) ||
		    buf_add(&b, res->raw.data, res->raw.len) != 0 || buf_addc(&b, ']') != 0)
			goto fail;
	}
	if (buf_adds(&b, ",\"fail\":") != 0 || json_write(&b, res->fail) != 0 ||
	    buf_addc(&b, '}') != 0)
		goto fail;
	out = buf_detach(&b, len);
	return out;
fail:
	buf_release(&b);
	return NULL;
}
