/* Error codes shared by every module: fallible functions return 0 or a negative
 * enum mc_err value and, when given a struct err, leave a human message in it
 * (git style: lower-case first, no full stop, subjects in quotes). */
#ifndef MCAPI_COMMON_ERR_H
#define MCAPI_COMMON_ERR_H

#include <stddef.h>

enum mc_err {
	MC_OK = 0,
	MC_ERR_NOMEM = -1,       /* allocation failed */
	MC_ERR_INVALID = -2,     /* input is malformed or out of range */
	MC_ERR_TOO_LARGE = -3,   /* input exceeds a configured cap */
	MC_ERR_NOT_FOUND = -4,   /* the thing asked for does not exist */
	MC_ERR_EXISTS = -5,      /* the thing to create exists already */
	MC_ERR_IO = -6,          /* a system call failed */
	MC_ERR_STORE = -7,       /* the store failed unexpectedly */
	MC_ERR_UNAVAILABLE = -8, /* a dependency is unreachable or busy; retry */
	MC_ERR_DEPTH = -9,       /* nesting deeper than allowed */
	MC_ERR_CRYPTO = -10,     /* a cryptographic primitive failed */
	MC_ERR_INTERNAL = -11,   /* a bug */
	MC_ERR_STATE = -12,      /* the record is not in the state the action needs */
	MC_ERR_AGAIN = -13,      /* a temporary failure of a peer (SMTP 4xx); try later */
	MC_ERR_ASYNC = -100,     /* not an error: the work continues later */
};

#define ERR_MSG_MAX 256

struct err {
	int code;
	char msg[ERR_MSG_MAX];
};

/* Records code and a printf-style message in e (if e is not NULL) and returns code. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Clears e (if not NULL). */
void err_clear(struct err *e);

/* Short static name of an enum mc_err value, e.g. "invalid". */
const char *err_name(int code);

#endif
