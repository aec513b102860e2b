/* Reading audit events back (API.md §9): one account's events in a time range, newest
 * first, filtered by text and category, in keyset pages on (eventTime, id) so a page costs
 * the same however many events the account has. Writing is store_audit_add (store.h),
 * always inside the transaction of the change it records. Same conventions as store.h. */
#ifndef MCAPI_SERVER_STORE_STORE_AUDIT_H
#define MCAPI_SERVER_STORE_STORE_AUDIT_H

#include "server/store/store.h"

#include <stddef.h>
#include <stdint.h>

#define AUDIT_ID_SIZE        32 /* the public id: 22 base64url characters + NUL, with room */
#define AUDIT_USER_SIZE      256
#define AUDIT_TYPE_SIZE      128
#define AUDIT_CATEGORY_SIZE  48
#define AUDIT_INFO_SIZE      2048 /* longer eventInfo text is cut */
#define AUDIT_CATEGORIES_MAX 4    /* the categories of §9 */

struct audit_record {
	char id[AUDIT_ID_SIZE];
	int64_t time;
	char user[AUDIT_USER_SIZE];
	char audit_type[AUDIT_TYPE_SIZE];
	char category[AUDIT_CATEGORY_SIZE];
	char info[AUDIT_INFO_SIZE];
};

struct audit_query {
	int64_t account_id;
	int64_t start, end; /* event_time in [start, end], ms */
	const char *text;   /* substring of user, audit type or info, ASCII case-insensitive;
	                       NULL or "" = any */
	const char *categories[AUDIT_CATEGORIES_MAX]; /* NULL-padded; all NULL = any */
	int has_cursor; /* continue after (cursor_time, cursor_id), the last record of
	                   the previous page */
	int64_t cursor_time;
	const char *cursor_id;
	size_t limit; /* most records passed to fn (1..100000) */
};

/* Calls fn for each matching event, newest first (eventTime, then id, descending), at most
 * q->limit times; a non-zero return from fn stops and is returned. */
int store_audit_query(struct store *st, const struct audit_query *q,
                      int (*fn)(void *arg, const struct audit_record *r), void *arg, struct err *e);

#endif
