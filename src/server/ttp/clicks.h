/* TTP URL protection clicks (API.md §16.3): the sealed click token, and the click logger.
 *
 * A token is made per delivered copy (mail/process.c, one per recipient) and carries the
 * original URL, the message's aCode, account and row id, the recipient, and whether the
 * message asked for X-Mcapi-Test: malicious-url. It is sealed (common/seal.h) under the
 * server's URL key: it reveals nothing and any change to it is refused. Tokens made before
 * this version carry only the URL and the aCode; they still redirect, are checked against
 * the malicious-URL list only (they name no account, so no managed URLs) and are not logged.
 *
 * The logger decides and records each click in one place, its writer thread: a batch of
 * clicks (batch.h) is one store transaction that reads the managed URLs of each (account,
 * host) of the batch, decides each click (urlcheck.h), inserts one ttp_url event per logged
 * click, and commits; only then is each click answered. So a 302 or a block page is sent
 * after the click's event is committed (SQLite WAL synchronous=NORMAL, PostgreSQL
 * synchronous_commit on): an answered click survives kill -9 of mcapid. */
#ifndef MCAPI_SERVER_TTP_CLICKS_H
#define MCAPI_SERVER_TTP_CLICKS_H

#include "server/store/store_mail.h"
#include "server/ttp/batch.h"

#include <stddef.h>
#include <stdint.h>

struct err;
struct server;

#define CLICK_URL_MAX   4096 /* the longest URL a token carries; longer ones are not rewritten */
#define CLICK_TOKEN_MAX 8192 /* characters of a token */

struct click_token {
	char url[CLICK_URL_MAX];
	char acode[MAIL_ACODE_SIZE];
	int64_t account_id; /* 0 in a token of the old form */
	int64_t message_id;
	char rcpt[MAIL_ADDR_SIZE];
	int test_malicious; /* the message had X-Mcapi-Test: malicious-url (test_headers on) */
};

/* The token for t (malloc'd), or NULL if it would be longer than CLICK_TOKEN_MAX or out of
 * memory. */
char *click_token_make(const unsigned char key[32], const struct click_token *t);

/* Opens token[0..len) into *out: 0, or MC_ERR_INVALID for anything this server did not seal
 * with key (tampered, truncated, another key, not a token at all). */
int click_token_open(const unsigned char key[32], const char *token, size_t len,
                     struct click_token *out);

/* Parses the path of a click, "/s/<token>" with nothing after the token, into *out as
 * click_token_open does. */
int click_path_open(const unsigned char key[32], const char *path, struct click_token *out);

enum click_action { CLICK_ALLOW = 0, CLICK_BLOCK = 1 };

/* One click on its way through the logger. */
struct click {
	struct batch_item item; /* item.rc: 0, or the store error that kept it from being logged */
	struct click_token t;
	int64_t at; /* when it was clicked (ms) */
	/* the verdict, set by the logger before done is called */
	int action;                    /* enum click_action */
	const char *reason;            /* "managed" | "malicious" | "" */
	int logged;                    /* an event was written */
	void (*done)(struct click *c); /* on the writer thread, after the commit */
	void *owner;                   /* the caller's */
};

struct clicks;

/* Starts the logger of srv (its store, its malicious-URL list, loaded here from
 * cfg->malicious_urls). NULL + e on error (the list does not load). */
struct clicks *clicks_start(struct server *srv, struct err *e);

/* Queues c (t, at, done and owner set): 0, and c->done is called once it is decided and
 * logged (or failed: c->item.rc); MC_ERR_AGAIN when the queue is full or stopping. */
int clicks_submit(struct clicks *cl, struct click *c);

/* Stops taking clicks, decides and logs the queued ones, stops the writer. NULL is fine. */
void clicks_stop(struct clicks *cl);

/* Batches and clicks committed so far. */
void clicks_stats(struct clicks *cl, long long *batches, long long *clicks);

#endif
