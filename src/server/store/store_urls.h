/* The store's TTP URL protection records (API.md §16.3): managed URLs (schema
 * 010_urls.sql) and the click events the click endpoint logs (mail_events rows of type
 * "ttp_url", 006_mail.sql). Same conventions as store.h: fixed-size records copied by
 * value, times in ms since the epoch (UTC), the calling thread's transaction
 * (store_tx_begin) covers these calls, errors 0, MC_ERR_NOT_FOUND, MC_ERR_EXISTS,
 * MC_ERR_UNAVAILABLE or MC_ERR_STORE (message in e).
 *
 * Nothing here is cached: the click logger lists an account's managed URLs once per batch
 * of clicks, so a change made on one node acts on every node's next batch. */
#ifndef MCAPI_SERVER_STORE_STORE_URLS_H
#define MCAPI_SERVER_STORE_STORE_URLS_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

#define MURL_SCHEME_SIZE 8    /* "", "http", "https" */
#define MURL_DOMAIN_SIZE 254  /* a host name, lower-case */
#define MURL_PATH_SIZE   2048 /* path, as given (no normalisation beyond the parser's) */
#define MURL_QUERY_SIZE  2048
#define MURL_TEXT_SIZE   256 /* comment */

enum murl_match { MURL_EXPLICIT = 0, MURL_DOMAIN = 1 };
enum murl_action { MURL_BLOCK = 0, MURL_PERMIT = 1 };

struct managed_url {
	int64_t id; /* row key; the API shows it only as an opaque id */
	int64_t account_id;
	char scheme[MURL_SCHEME_SIZE]; /* "" = any scheme (a domain entry given without one) */
	char domain[MURL_DOMAIN_SIZE];
	int32_t port; /* -1 = the scheme's default */
	char path[MURL_PATH_SIZE];
	char query[MURL_QUERY_SIZE];
	int32_t match_type; /* enum murl_match */
	int32_t action;     /* enum murl_action */
	char comment[MURL_TEXT_SIZE];
	int32_t disable_user_awareness, disable_rewrite, disable_log_click;
	int64_t created;
};

/* Creates u (every field but id; created = now if 0); fills u->id. MC_ERR_EXISTS if the
 * account has an entry with the same parts and match type (whatever its action),
 * MC_ERR_NOT_FOUND if no such account, MC_ERR_INVALID for a bad field. */
int store_murl_create(struct store *st, struct managed_url *u, struct err *e);

/* Deletes the entry of account_id with id; MC_ERR_NOT_FOUND if there is none. */
int store_murl_delete(struct store *st, int64_t account_id, int64_t id, struct err *e);

/* Calls fn for up to limit entries of account_id in id order after after_id (0 = from the
 * first). A non-zero return of fn stops and is returned. */
int store_murl_list(struct store *st, int64_t account_id, int64_t after_id, size_t limit,
                    int (*fn)(void *arg, const struct managed_url *u), void *arg, struct err *e);

/* Calls fn for each entry of account_id whose domain is host or a parent domain of it
 * (host a.b.com: a.b.com, b.com, com), in id order: the only entries that can match a URL
 * on host (urlcheck.h), found through the index. host is lower-case. */
int store_murl_for_host(struct store *st, int64_t account_id, const char *host,
                        int (*fn)(void *arg, const struct managed_url *u), void *arg,
                        struct err *e);

/* One logged click: a ttp_url event of account_id about message_id (0 = unknown: the
 * message is gone) at time at, data its JSON object (text). */
struct click_event {
	int64_t account_id;
	int64_t message_id;
	int64_t at;
	const char *data;
};

/* Inserts the n events in the calling thread's transaction (or in one of its own), in the
 * given order. On PostgreSQL the insert first takes the event ordering lock in shared mode
 * (pg_urls.c), as every mail_events writer does. A message_id that no longer exists is
 * stored as NULL. MC_ERR_INVALID if an event's data is not a JSON object. */
int store_click_events_add(struct store *st, const struct click_event *ev, int n, struct err *e);

#endif
