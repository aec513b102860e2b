/* Request signing of API.md §2.1: x-mc-date (RFC 1123 with "UTC"), a fresh GUID as
 * x-mc-req-id, and Authorization "MC accessKey:base64(HMAC-SHA1(secret, date:reqid:path:appKey))".
 * The date and request id are signed verbatim, so a caller may pass captured ones. Also the
 * library's small shared helpers: error strings and message formatting. */
#include "client_int.h"
#include "common/b64.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/date.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define SIGN_MSG_MAX 4096 /* date + req id + path + app key */

MCAPI_EXPORT const char *mcapi_version(void)
{
	return MCAPI_VERSION;
}

MCAPI_EXPORT const char *mcapi_strerror(int code)
{
	switch (code) {
	case MCAPI_OK:
		return "success";
	case MCAPI_E_INVALID:
		return "invalid argument";
	case MCAPI_E_NOMEM:
		return "out of memory";
	case MCAPI_E_TRANSPORT:
		return "transport failure";
	case MCAPI_E_TIMEOUT:
		return "timed out";
	case MCAPI_E_PROTOCOL:
		return "unexpected answer";
	case MCAPI_E_NOT_FOUND:
		return "not found";
	case MCAPI_E_IO:
		return "input/output error";
	case MCAPI_E_STOPPED:
		return "stopped by the callback";
	case MCAPI_E_API:
		return "refused by the API";
	case MCAPI_E_LIMIT:
		return "limit reached";
	}
	return "unknown error";
}

int client_errf(char **errmsg, int code, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;

	if (!errmsg)
		return code;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	free(*errmsg);
	*errmsg = strdup(tmp);
	return code;
}

int sign_bad_header_value(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int copy_field(char *dst, size_t size, const char *src, const char *what, char *msg,
                      size_t msg_size)
{
	size_t n;

	if (!src || !*src) {
		snprintf(msg, msg_size, "'%s' is missing", what);
		return MCAPI_E_INVALID;
	}
	n = strlen(src);
	if (n >= size) {
		snprintf(msg, msg_size, "'%s' is too long", what);
		return MCAPI_E_INVALID;
	}
	if (sign_bad_header_value(src)) {
		snprintf(msg, msg_size, "'%s' holds a control character", what);
		return MCAPI_E_INVALID;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int sign_headers(const unsigned char *key, size_t key_len, const char *app_id, const char *app_key,
                 const char *access_key, const char *path, const char *date, const char *req_id,
                 struct mcapi_headers *out, char *msg, size_t msg_size)
{
	unsigned char mac[HMAC_SHA1_LEN];
	char sig[B64_ENCODED_SIZE(HMAC_SHA1_LEN)];
	char now[64], guid[GUID_STR_LEN];
	struct buf data;
	size_t path_len;
	int rc;

	buf_init(&data, SIGN_MSG_MAX);
	memset(out, 0, sizeof(*out));
	if (!path || path[0] != '/') {
		snprintf(msg, msg_size, "path '%s' does not start with '/'", path ? path : "");
		rc = MCAPI_E_INVALID;
		goto out;
	}
	/* §2.1: the path without the query string */
	path_len = strcspn(path, "?#");
	if (sign_bad_header_value(path)) {
		snprintf(msg, msg_size, "path holds a control character");
		rc = MCAPI_E_INVALID;
		goto out;
	}
	if (!date) {
		date_format_rfc1123(now_ms(), now, sizeof(now));
		date = now;
	}
	if (!req_id) {
		random_guid(RND_CLIENT, guid);
		req_id = guid;
	}
	if ((rc = copy_field(out->app_id, sizeof(out->app_id), app_id, "app_id", msg, msg_size)) ||
	    (rc = copy_field(out->date, sizeof(out->date), date, "date", msg, msg_size)) ||
	    (rc = copy_field(out->req_id, sizeof(out->req_id), req_id, "request id", msg,
	                     msg_size)))
		goto out;
	if (!app_key || !*app_key || sign_bad_header_value(app_key)) {
		snprintf(msg, msg_size, "'app_key' is missing or holds a control character");
		rc = MCAPI_E_INVALID;
		goto out;
	}
	if (!access_key || !*access_key || sign_bad_header_value(access_key) ||
	    strchr(access_key, ':') || strlen(access_key) > MCAPI_HEADER_MAX - 64) {
		snprintf(msg, msg_size, "'access_key' is missing or malformed");
		rc = MCAPI_E_INVALID;
		goto out;
	}
	if (buf_adds(&data, out->date) || buf_addc(&data, ':') || buf_adds(&data, out->req_id) ||
	    buf_addc(&data, ':') || buf_add(&data, path, path_len) || buf_addc(&data, ':') ||
	    buf_adds(&data, app_key)) {
		snprintf(msg, msg_size, "the data to sign is too long");
		rc = MCAPI_E_INVALID;
		goto out;
	}
	if (hmac_sha1(key, key_len, data.data, data.len, mac) != 0) {
		snprintf(msg, msg_size, "HMAC-SHA1 failed");
		rc = MCAPI_E_INVALID;
		goto out;
	}
	b64_encode(mac, sizeof(mac), sig);
	snprintf(out->authorization, sizeof(out->authorization), "MC %s:%s", access_key, sig);
	rc = 0;
out:
	secure_zero(mac, sizeof(mac));
	if (data.data)
		secure_zero(data.data, data.len);
	buf_release(&data);
	return rc;
}

MCAPI_EXPORT int mcapi_sign(const struct mcapi_options *o, const char *path, const char *date,
                            const char *req_id, struct mcapi_headers *out, char **errmsg)
{
	unsigned char key[CLIENT_KEY_MAX];
	size_t key_len = 0;
	char msg[256];
	int rc;

	if (!o || !out)
		return client_errf(errmsg, MCAPI_E_INVALID, "no options or output given");
	if (!o->secret_key || !*o->secret_key)
		return client_errf(errmsg, MCAPI_E_INVALID, "'secret_key' is missing");
	if (b64_decode(o->secret_key, strlen(o->secret_key), key, sizeof(key), &key_len) != 0 ||
	    key_len == 0)
		return client_errf(errmsg, MCAPI_E_INVALID, "'secret_key' is not valid base64");
	rc = sign_headers(key, key_len, o->app_id, o->app_key, o->access_key, path, date, req_id,
	                  out, msg, sizeof(msg));
	secure_zero(key, sizeof(key));
	if (rc)
		return client_errf(errmsg, rc, "%s", msg);
	return 0;
}
