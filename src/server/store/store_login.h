/* Failed-login counters for login names that are not users (API.md §6.2). A user's own
 * counter and lock-out live in struct user; these rows make an unknown name lock out
 * exactly as a real one does, so that lock-outs do not reveal which e-mail addresses
 * exist. Rows are keyed by a keyed hash of the name chosen by the caller (no attempted
 * names are stored) and are purged once idle. Same conventions as store.h. */
#ifndef MCAPI_SERVER_STORE_STORE_LOGIN_H
#define MCAPI_SERVER_STORE_STORE_LOGIN_H

#include "server/store/store.h"

#include <stdint.h>

#define LOGIN_KEY_SIZE 64 /* bytes of a name key, including the NUL */

struct login_failure {
	int32_t failures;     /* consecutive */
	int64_t locked_until; /* 0 = not locked */
	int64_t updated;      /* last failure */
};

/* The counter of key; a key without a row reads as all zeros (and returns 0). */
int store_login_failure_get(struct store *st, const char *key, struct login_failure *out,
                            struct err *e);

/* Writes the counter of key (f->failures 0 deletes the row) and deletes the rows of every
 * key idle since before purge_before (0 = none). */
int store_login_failure_put(struct store *st, const char *key, const struct login_failure *f,
                            int64_t purge_before, struct err *e);

#endif
