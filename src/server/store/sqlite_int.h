/* Internals of the SQLite backend, shared by sqlite.c (connections, statement cache,
 * transactions, migrations) and the sqlite_<area>.c files that implement the records.
 *
 * Each calling thread gets its own connection (opened lazily, SQLITE_OPEN_NOMUTEX, since a
 * connection is only ever used by its thread) with its own cache of prepared statements.
 * A record function asks for a statement by its SQL text with sqlite_q_prepare(), binds,
 * steps, and always ends with sqlite_q_done(), which resets it for the next call; the
 * statement's address is the cache key, so the SQL must be a static string. */
#ifndef MCAPI_SERVER_STORE_SQLITE_INT_H
#define MCAPI_SERVER_STORE_SQLITE_INT_H

#include "server/store/store_int.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct sqlite_conn;

/* A statement in use: from the cache, or (when the cached one is already running, as in a
 * store call made from inside a list callback) a temporary one finalized by done. */
struct sqlite_q {
	struct sqlite_conn *c;
	sqlite3 *db;
	sqlite3_stmt *s;
	int temp;
};

/* Readies the statement for sql (a static string) on the calling thread's connection.
 * Returns 0 or an error (connection or prepare failure). On error q->s is NULL and
 * sqlite_q_done(q) is still safe. */
int sqlite_q_prepare(struct store *st, const char *sql, struct sqlite_q *q, struct err *e);

/* Resets (or finalizes) q's statement; safe on a failed prepare. */
void sqlite_q_done(struct sqlite_q *q);

/* Maps a failed SQLite result rc on q's connection to an mc_err code and a message:
 * BUSY/LOCKED → MC_ERR_UNAVAILABLE, UNIQUE/PRIMARY KEY → MC_ERR_EXISTS, FOREIGN KEY →
 * MC_ERR_NOT_FOUND (a referenced record does not exist), CHECK/NOT NULL → MC_ERR_INVALID,
 * NOMEM → MC_ERR_NOMEM, anything else MC_ERR_STORE. what names the operation. */
int sqlite_fail(sqlite3 *db, int rc, const char *what, struct err *e);

/* Steps a statement expected to finish without rows (INSERT, UPDATE). 0 or sqlite_fail(). */
int sqlite_q_exec(struct sqlite_q *q, const char *what, struct err *e);

/* Binds text s (at most size bytes, or up to its NUL) as parameter i; SQLITE_STATIC,
 * so s must live until sqlite_q_done(). */
int sqlite_bind_text(struct sqlite_q *q, int i, const char *s, size_t size);

/* Copies text column i into dst (size bytes, always terminated, truncated if longer). */
void sqlite_col_text(struct sqlite_q *q, int i, char *dst, size_t size);

/* 1 if the calling thread has a store transaction open (store_tx_begin). */
int sqlite_in_tx(struct store *st);

/* The calling thread's connection (opened on first use), for what the statement cache does
 * not suit: PRAGMAs that act when prepared, the autocommit state. NULL + e on error. */
sqlite3 *sqlite_conn_db(struct store *st, struct err *e);

/* The SMTP intake's writes (body chunks and the accept batch) leave checkpoints to the other
 * writers while on: see wal_hook in sqlite.c. For the calling thread's connection. */
void sqlite_intake_writes(struct store *st, int on);

/* Copies ad_prefix + key into dst (size bytes) for seal()/unseal(). */
void sqlite_ad(char *dst, size_t size, const char *ad_prefix, const char *key);

/* Record functions, one group per file. */
int sqlite_account_create(struct store *st, struct account *a, struct err *e);
int sqlite_account_get(struct store *st, int64_t id, struct account *out, struct err *e);
int sqlite_account_get_by_code(struct store *st, const char *code, struct account *out,
                               struct err *e);
int sqlite_account_list(struct store *st, int (*fn)(void *arg, const struct account *a), void *arg,
                        struct err *e);
int sqlite_account_user_count(struct store *st, int64_t account_id, int64_t *count, struct err *e);
int sqlite_account_update(struct store *st, const struct account *a, struct err *e);

int sqlite_app_create(struct store *st, struct application *app, struct err *e);
int sqlite_app_get(struct store *st, const char *app_id, struct application *out, struct err *e);
int sqlite_app_get_by_id(struct store *st, int64_t id, struct application *out, struct err *e);
int sqlite_app_list(struct store *st, int64_t account_id,
                    int (*fn)(void *arg, const struct application *a), void *arg, struct err *e);
int sqlite_app_revoke(struct store *st, const char *app_id, int64_t now, struct err *e);

int sqlite_user_create(struct store *st, struct user *u, const char *name_key, struct err *e);
int sqlite_user_get(struct store *st, int64_t id, struct user *out, struct err *e);
int sqlite_user_get_by_email(struct store *st, const char *email, struct user *out, struct err *e);
int sqlite_user_list(struct store *st, int64_t account_id,
                     int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
int sqlite_user_update(struct store *st, const struct user *u, const char *name_key, struct err *e);
int sqlite_user_by_name_key(struct store *st, int64_t account_id, const char *key,
                            int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
int sqlite_user_keyless(struct store *st, int64_t after_id, size_t limit,
                        int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
int sqlite_user_key_set(struct store *st, int64_t id, const char *name, const char *key,
                        struct err *e);

int sqlite_binding_create(struct store *st, struct binding *b, struct err *e);
int sqlite_binding_get(struct store *st, const char *access_key, struct binding *out,
                       struct err *e);
int sqlite_binding_set_expiry(struct store *st, int64_t id, int64_t expires, struct err *e);
int sqlite_binding_revoke(struct store *st, int64_t id, int64_t now, struct err *e);
int sqlite_binding_list(struct store *st, int64_t user_id,
                        int (*fn)(void *arg, const struct binding *b), void *arg, struct err *e);
int sqlite_binding_count(struct store *st, int64_t user_id, int64_t *count, struct err *e);

int sqlite_audit_add(struct store *st, const struct audit_event *ev, struct err *e);

#endif
