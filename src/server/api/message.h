/* What the message API handlers (hold.c, finder.c, queues.c; API.md §16) share: opaque
 * message ids, the statuses and hold reasons as the real service words them, the JSON shapes
 * of messages — pure functions of store records, unit-tested against recordings of the real
 * service (tests/unit/test_message.c) — reading the request fields the handlers have in
 * common, and a keyset scan of messages that applies the filters the store cannot express
 * (substrings, domains, several routes) without letting one call read without bound.
 * Decisions (status names, what each field holds) are in docs/messages.md. */
#ifndef MCAPI_SERVER_API_MESSAGE_H
#define MCAPI_SERVER_API_MESSAGE_H

#include "server/api/domain_id.h"
#include "server/request.h"
#include "server/response.h"
#include "server/store/store_mail.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define MSG_ID_SIZE     DOMAIN_ID_SIZE
#define MSG_RCPTS_MAX   10000 /* recipients read per message (smtp_max_rcpts' ceiling) */
#define MSG_SCAN_MAX    10000 /* messages one list call may examine (then a next token) */
#define MSG_HEADERS_MAX 65536 /* bytes of a header block shown by get-message-info */

/* ---- request fields (§3.2 codes) ---- */
#define MSG_E_NULL      "err_validation_null"
#define MSG_E_BLANK     "err_validation_blank"
#define MSG_E_INVALID   "err_validation_invalid_value"
#define MSG_E_TOO_MANY  "err_validation_too_many_items"
#define MSG_E_NOT_FOUND "err_hold_message_not_found"
#define MSG_E_NOT_HELD  "err_hold_message_not_held"
#define MSG_E_NO_MSG    "err_message_not_found"

/* ---- recipients of one message ---- */
struct msg_rcpts {
	struct mail_rcpt *v;
	int n, cap;
};

/* Reads the recipients of message_id (row order) into r, replacing what it held; at most
 * MSG_RCPTS_MAX. 0 or a store error / MC_ERR_NOMEM. */
int msg_rcpts_load(struct store *st, int64_t message_id, struct msg_rcpts *r, struct err *e);
/* Appends one recipient (tests and the loader). 0 or MC_ERR_NOMEM. */
int msg_rcpts_add(struct msg_rcpts *r, const struct mail_rcpt *rc);
void msg_rcpts_release(struct msg_rcpts *r);

/* ---- ids: opaque_id of kind OPAQUE_MESSAGE (OPAQUE_RECIPIENT) under srv->id_key ---- */
void msg_id_of(const struct request *req, int64_t row, char out[MSG_ID_SIZE]);
void msg_rcpt_id_of(const struct request *req, int64_t row, char out[MSG_ID_SIZE]);
/* 0 and *row, or MC_ERR_INVALID for anything that is not a message id of this server. */
int msg_id_read(const struct request *req, const char *id, size_t len, int64_t *row);

/* ---- words of the real service ---- */

/* The message's status as message-finder shows it: processing | held | delivery | archived |
 * rejected | bounced (docs/messages.md has the mapping from enum msg_status). */
const char *msg_api_status(const struct message *m);
/* The "info" text of a tracked message (e.g. "Indexed and archived"); r may be NULL. */
void msg_api_info(const struct message *m, const struct msg_rcpts *r, char *dst, size_t size);
/* "MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY" → "Message Hold Applied - Spam Signature
 * policy" (the recorded wording for the ids known, a readable one otherwise); "" → "". */
void msg_reason_text(const char *reason_id, char *dst, size_t size);
/* The reasonCode: reason_id in lower case. */
void msg_reason_code(const char *reason_id, char *dst, size_t size);
/* INBOUND | OUTBOUND | INTERNAL (hold list), inbound | outbound | internal (elsewhere). */
const char *msg_route_upper(int32_t route);
const char *msg_route_lower(int32_t route);
/* The route named by s (any case): inbound, outbound, internal; -1 otherwise. */
int msg_route_parse(const char *s);

/* ---- matching ---- */

/* 1 if needle occurs in hay, ASCII case-insensitively ("" occurs everywhere). */
int msg_ci_contains(const char *hay, const char *needle);
/* 1 if addr matches value: an address (with '@') equal to it, or a domain ("example.com" or
 * "@example.com") that is addr's domain or a parent of it; ASCII case-insensitive. */
int msg_addr_match(const char *addr, const char *value);

/* ---- JSON shapes (new references; NULL when out of memory) ---- */

/* An item of get-hold-message-list; to = the recipient shown ("" when none). */
json_t *msg_json_held(const struct message *m, const char *id, const char *to);
/* An item of get-hold-summary-list. */
json_t *msg_json_summary(const char *policy, int64_t count);
/* An element of data[0].trackedEmails of message-finder/search. */
json_t *msg_json_tracked(const struct message *m, const char *id, const struct msg_rcpts *r);
/* An element of data[0].messages of find-processing-messages: one recipient rc of m;
 * remote = where delivery is attempted ("" when not known). */
json_t *msg_json_processing(const struct message *m, const char *id, const struct mail_rcpt *rc,
                            const char *remote);
/* {date, count} of get-email-queues. */
json_t *msg_json_queue_point(int64_t when, int64_t count);

/* What get-message-info shows of one message. */
struct msg_info_ctx {
	const char *id;
	const struct message *m;
	const struct msg_rcpts *r;
	const char *headers; /* the body's header block, or NULL without a body */
	size_t headers_len;
	const char *body_sha256; /* hex SHA-256 of the body, "" without a body */
	int64_t now;
	int retention_days;
	const char *server;                                           /* processingServer */
	const char *(*remote)(void *arg, const struct mail_rcpt *rc); /* delivery host or "" */
	void *remote_arg;
};
/* The data item of get-message-info: every key of the real service's answer, in its order
 * and with its JSON types, filled from the store where it has the fact. */
json_t *msg_json_info(const struct msg_info_ctx *c);

/* The header block of a raw message (up to the first empty line, at most MSG_HEADERS_MAX
 * bytes): *len gets its length (0 for none). */
const char *msg_header_block(const char *body, size_t body_len, size_t *len);
/* "<pre>\n" + the header block HTML-escaped + "\n</pre>", as transmissionInfo; malloc'd
 * (NULL when out of memory). */
char *msg_transmission_info(const char *headers, size_t len);

/* A JSON string of s with any invalid UTF-8 replaced by U+FFFD (mail headers are not always
 * UTF-8). New reference or NULL. */
json_t *msg_jstr(const char *s);

/* ---- request helpers ---- */

/* The one item of a list call: *item is NULL for data [] (defaults), the item otherwise.
 * 0, or 1 after a fail entry (more than one item, or not an object). */
int msg_one_item(struct response *res, json_t *filters, const char *fn, json_t **item);
/* An optional date member (any ISO form of date_parse_iso): 0 absent, 1 read into *ms, -1
 * after a fail entry (err_validation_invalid_value / _blank on field). */
int msg_read_date(struct response *res, json_t *item, const char *field, int64_t *ms);
/* An optional string member of obj: 0 absent, 1 present (*out points into obj; at most max
 * bytes), -1 after a fail entry keyed by key (not a string, or too long). */
int msg_read_string(struct response *res, json_t *key, json_t *obj, const char *field, size_t max,
                    const char **out);

/* ---- the scan behind list calls ---- */

/* Walks messages matching q by the store's keyset, newest first (q.oldest_first: the
 * reverse), from the cursor (after_t, after_i; 0, 0 = the start). For each message, items()
 * says how many result items it gives (0 = filtered out; negative = error); emit() adds
 * them. A page holds at most want items, but the items of one message are never split: a
 * message that does not fit ends the page (and says there is more), unless the page is
 * empty. At most MSG_SCAN_MAX messages are examined per call; when that budget runs out
 * with messages left, the page ends there and has a next token. */
struct msg_scan {
	struct store *st;
	struct message_query q;
	int want;
	int (*items)(void *arg, const struct message *m, const struct msg_rcpts *r);
	int (*emit)(void *arg, const struct message *m, const struct msg_rcpts *r);
	void *arg;
	int budget; /* 0 = MSG_SCAN_MAX */
	/* results */
	int got;                /* items emitted */
	int more;               /* a next page exists (or may exist) */
	int64_t last_t, last_i; /* cursor of the next page: the last message consumed */
};
int msg_scan_run(struct msg_scan *s, int64_t after_t, int64_t after_i, struct err *e);

/* A paged list call over msg_scan whose answer is one data item {key: [records]}: reads
 * the request's one item with read (0, or non-zero after a fail entry; item NULL for
 * defaults), continues from the page token's cursor, runs the scan (sc->st, sc->q's account
 * and sc->want are set here; sc->items, emit and arg are the caller's), wraps the records and
 * finishes the page. *records is a new array while it runs (emit appends to it), released
 * after. Returns as a handler does. */
struct msg_list {
	const char *fn;  /* the call's name: failures and the log */
	const char *key; /* the member of data[0] that holds the records */
	int (*read)(struct response *res, json_t *item, void *arg, struct message_query *q);
	json_t **records;
};
int msg_list_run(struct request *req, struct response *res, struct msg_scan *sc,
                 const struct msg_list *l);

/* The keyset cursor a page token carries: {t, i}; NULL when out of memory. */
json_t *msg_cursor_json(int64_t t, int64_t i);
/* Reads a cursor back: 0, or MC_ERR_INVALID when cur is not one. */
int msg_cursor_read(json_t *cur, int64_t *t, int64_t *i);

/* Where delivery of rc goes: the host of its domain's smtp:// route (inbound, internal) or of
 * the smarthost (outbound); "" for a Maildir or the default route. Written into dst. */
void msg_route_host(const struct request *req, const struct mail_rcpt *rc, char *dst, size_t size);

/* The operator-facing name of this server (processingServer). */
const char *msg_server_name(const struct request *req, char *dst, size_t size);

#endif
