/* The store's reads for the SIEM logs (API.md §14.1): the events every check writes into
 * mail_events (store_mail.h), read per account and log type in id order. Same conventions
 * as store.h: times in ms since the epoch (UTC), errors 0, MC_ERR_INVALID,
 * MC_ERR_UNAVAILABLE or MC_ERR_STORE (message in e). No call here may run inside the calling
 * thread's store transaction (MC_ERR_INTERNAL).
 *
 * The horizon: a SIEM chain pages each type by id, so it must never pass an id that a
 * writer still has to commit. store_siem_horizon gives hi, an id such that every event with
 * id <= hi is committed and visible; readers page only below it. SQLite has one writer, so
 * the largest committed id is one. PostgreSQL: writers of mail_events hold a shared
 * advisory lock from before their ids are assigned until they commit (PG_EVENT_WRITE_LOCK,
 * pg_int.h); the horizon takes the same lock exclusively, so no writer is half done when
 * it reads max(id). */
#ifndef MCAPI_SERVER_STORE_STORE_SIEM_H
#define MCAPI_SERVER_STORE_STORE_SIEM_H

#include "server/store/store.h"

#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

/* One stored event, valid only during the callback. data is its JSON object as stored
 * (compact, not NUL-terminated beyond len). */
struct siem_event {
	int64_t id;
	int64_t at;
	int64_t message_id; /* 0 for none */
	const char *data;
	size_t len;
};

/* *hi = the horizon described above (0 for an empty table). */
int store_siem_horizon(struct store *st, int64_t *hi, struct err *e);

/* *next = the smallest id of an event of (account_id, type) with pos < id <= hi and
 * at >= cutoff, or 0 if there is none. */
int store_siem_next(struct store *st, int64_t account_id, const char *type, int64_t pos, int64_t hi,
                    int64_t cutoff, int64_t *next, struct err *e);

/* Calls fn for up to max events of (account_id, type) with pos < id <= hi and
 * at >= cutoff, in id order. A non-zero return of fn stops and is returned. */
int store_siem_read(struct store *st, int64_t account_id, const char *type, int64_t pos, int64_t hi,
                    int64_t cutoff, size_t max, int (*fn)(void *arg, const struct siem_event *ev),
                    void *arg, struct err *e);

#endif
