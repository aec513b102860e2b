/* Error recording: fills struct err with a code and a bounded message. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(struct err *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

void err_clear(struct err *e)
{
	if (e) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

const char *err_name(int code)
{
	switch (code) {
	case MC_OK:
		return "ok";
	case MC_ERR_NOMEM:
		return "out of memory";
	case MC_ERR_INVALID:
		return "invalid";
	case MC_ERR_TOO_LARGE:
		return "too large";
	case MC_ERR_NOT_FOUND:
		return "not found";
	case MC_ERR_EXISTS:
		return "exists";
	case MC_ERR_IO:
		return "i/o error";
	case MC_ERR_STORE:
		return "store error";
	case MC_ERR_UNAVAILABLE:
		return "unavailable";
	case MC_ERR_DEPTH:
		return "too deep";
	case MC_ERR_CRYPTO:
		return "crypto error";
	case MC_ERR_STATE:
		return "state";
	case MC_ERR_AGAIN:
		return "again";
	case MC_ERR_INTERNAL:
		return "internal error";
	case MC_ERR_ASYNC:
		return "async";
	default:
		return "unknown error";
	}
}
