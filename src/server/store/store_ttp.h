/* The store's reading of the TTP and DLP logs (API.md §14.2): the events the checks wrote
 * into mail_events (store_mail.h) of one account and type, in a time window, in keyset
 * pages on (at, id) — and, for the log types kept once per message but shown once per
 * recipient (ttp_ap, ttp_ip, dlp), on (at, id, recipient row). Each row comes with what the
 * message adds (sending IP, header From), so a record needs no second query. The JSON
 * shapes are the API's business (api/ttp_logs.c); this is the query. */
#ifndef MCAPI_SERVER_STORE_STORE_TTP_H
#define MCAPI_SERVER_STORE_STORE_TTP_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct err;

#define TTP_KEY_MAX   31 /* bytes of a result_key */
#define TTP_VALUE_MAX 63 /* bytes of a route or result value */

struct ttp_log_query {
	int64_t account_id;
	const char *type; /* the event type: "ttp_url", "ttp_ap", "ttp_ip", "dlp" */
	int64_t from, to; /* ms, inclusive: the event's time in [from, to] */
	int oldest_first; /* ascending (at, id[, rcpt]); descending otherwise */
	/* Optional equality filters on the event's JSON data (NULL = any): the Route key, and
	 * result_key (a key name such as "ScanResult"; letters only) equal to result. */
	const char *route;
	const char *result_key;
	const char *result;
	/* One row per recipient of the event's message (recipient rows in id order; a message
	 * without recipients, or an event without a message, gives one row with rcpt_id 0). */
	int per_recipient;
	/* Continue after this row (exclusive) in the query's order. */
	int has_cursor;
	int64_t cursor_at, cursor_id, cursor_rcpt;
	size_t limit; /* rows at most; 0 reads nothing */
};

struct ttp_log_row {
	int64_t id;       /* mail_events.id */
	int64_t at;       /* the event's time, ms */
	int64_t rcpt_id;  /* recipients.id, 0 without per_recipient or recipients */
	const char *data; /* the event's JSON object text, data_len bytes, NUL-terminated */
	size_t data_len;
	const char *rcpt;      /* the recipient's address, "" when rcpt_id is 0 */
	const char *client_ip; /* the message's sending IP, "" without a message */
	const char *from_name; /* the message's header From display name, "" when none */
	const char *from_addr; /* the message's header From address, "" when none */
};

/* Calls fn for each row of q in order (the row's strings live until fn returns); fn
 * returning non-zero stops the walk and is returned. Returns 0, MC_ERR_INVALID for a
 * malformed query (no type, from > to, a result_key that is not a plain name, a filter
 * longer than its maximum), or a store error. */
int store_ttp_log_query(struct store *st, const struct ttp_log_query *q,
                        int (*fn)(void *arg, const struct ttp_log_row *r), void *arg,
                        struct err *e);

#endif
