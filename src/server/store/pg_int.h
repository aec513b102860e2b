/* Internals of the PostgreSQL backend, shared by pg.c (connections, statement cache,
 * transactions, migrations) and the pg_<area>.c files that implement the records.
 *
 * Each calling thread gets its own libpq connection (opened lazily) with its own set of
 * prepared statements, named after the address of their static SQL text. A record function
 * fills a struct pg_params (text parameters, bytea in binary), runs pg_run(), reads the whole
 * result (binary format) with the pg_col_* helpers and clears it: a result never holds the
 * connection, so list callbacks may call the store again. pg_run() with PG_WRITE serialises
 * the write behind the store's write lock exactly as SQLite's BEGIN IMMEDIATE does (see
 * pg.c), and keeps the calling thread's transaction usable when the write fails. */
#ifndef MCAPI_SERVER_STORE_PG_INT_H
#define MCAPI_SERVER_STORE_PG_INT_H

#include "server/store/store_int.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define PG_MAX_PARAMS 32

/* Parameters of one statement: text values (numbers formatted into num), NULLs, and bytea
 * sent in binary. Pointers given to pg_p_text and pg_p_bytea must outlive pg_run(). */
struct pg_params {
	int n;
	const char *val[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][24];
};

void pg_p_init(struct pg_params *p);
/* Text s of at most size bytes (or up to its NUL). */
void pg_p_text(struct pg_params *p, const char *s, size_t size);
void pg_p_int(struct pg_params *p, int64_t v);
void pg_p_null(struct pg_params *p);
void pg_p_bytea(struct pg_params *p, const void *data, size_t n);

/* The event write lock: the order protocol of mail_events (store_siem.h). A SIEM chain
 * pages each log type by id and must never pass an id that is not committed yet, or it would
 * skip the event for good when that commits later. So every statement that INSERTs INTO
 * mail_events takes this lock SHARED (transaction-level) before any id of mail_events is
 * assigned, by joining PG_EVENT_WRITE_LOCK into the SELECT that feeds the INSERT:
 *     INSERT INTO mail_events(...) SELECT ... FROM PG_EVENT_WRITE_LOCK, ... WHERE ...
 * (the subquery's function is volatile, so PostgreSQL evaluates it before the first row).
 * The SIEM horizon (pg_siem.c) takes it EXCLUSIVELY in a short transaction of its own,
 * which waits until no writer holds an uncommitted id, and then reads max(id). Writers do
 * not wait for each other; a writer waits only for a horizon read in progress. The keys
 * are the store's advisory-lock class (pg.c LOCK_CLASS) and 3. */
#define PG_EVENT_LOCK_KEYS "1835229552, 3"
#define PG_EVENT_WRITE_LOCK                                                                        \
	"(SELECT pg_advisory_xact_lock_shared(" PG_EVENT_LOCK_KEYS ")) AS mc_event_lock"

#define PG_READ  0
#define PG_WRITE 1 /* takes the write lock (outside a transaction: in an implicit one) */

/* Runs the prepared statement for sql (a static string) on the calling thread's connection
 * and sets *out to its result (PGRES_TUPLES_OK or PGRES_COMMAND_OK; the caller clears it).
 * On error *out is NULL and the code is pg_fail's mapping; what names the operation. The
 * whole call takes at most pg_timeout_ms (then MC_ERR_UNAVAILABLE, the connection dropped);
 * a connection found broken is replaced and the call run once more when it cannot have
 * run already (a read outside a transaction, a write whose statement was not sent). */
int pg_run(struct store *st, const char *sql, int flags, const struct pg_params *p, PGresult **out,
           const char *what, struct err *e);

/* Runs sql (no parameters; possibly several statements, e.g. SET LOCAL or SAVEPOINT) on the
 * calling thread's connection with the simple protocol. 0 or pg_fail's mapping. */
int pg_exec(struct store *st, const char *sql, const char *what, struct err *e);

/* The calling thread's connection (opened on first use), for statements built at run time
 * (pg_snapshot.c), which the prepared-statement cache does not take; NULL + e on failure. */
PGconn *pg_conn_db(struct store *st, struct err *e);

/* The connection string the store was opened with (pg_shared.c opens its listener). */
const char *pg_dsn(struct store *st);

/* pg_shared.c: the batcher that combines the gates of calls waiting at the same moment
 * into one statement (at most batch calls each, at most leaders statements at once). Owned
 * by the store; NULL on lack of memory. */
struct pg_gates;
struct pg_gates *pg_gates_new(int batch, int leaders, int lease, int wait_us);
void pg_gates_free(struct pg_gates *g);
struct pg_gates *pg_gates(struct store *st);
/* Gate statements of this thread run on the store's leader connection `slot` (0 ..
 * PG_GATE_CONNS-1; one thread at a time per slot, the batcher sees to it) instead of the
 * thread's own, until called with -1. One warm backend serves every batch of a leader. */
#define PG_GATE_CONNS 64
void pg_gate_conn(struct store *st, int slot);

/* 1 if the calling thread has a store transaction open (store_tx_begin). */
int pg_in_tx(struct store *st);

/* Rows changed by an INSERT, UPDATE or DELETE result. */
int64_t pg_changes(const PGresult *r);

/* Column readers of a binary-format result; NULL reads as 0 or "". */
int64_t pg_col_int(const PGresult *r, int row, int col);
void pg_col_text(const PGresult *r, int row, int col, char *dst, size_t size);
const void *pg_col_bytes(const PGresult *r, int row, int col, size_t *n);

/* Replaces each byte of s that is not part of well-formed UTF-8 by '?' (text cut by a
 * byte-counting truncation, say); returns strlen(s). */
size_t pg_utf8_fix(char *s);

/* Copies ad_prefix + key into dst (size bytes) for seal()/unseal(). */
void pg_ad(char *dst, size_t size, const char *ad_prefix, const char *key);

/* The backend constructor (called by store_open for backend "postgres"): connects with
 * cfg->dsn, applies the migrations of schema/postgres under an advisory lock, checks the
 * server key. */
int pg_store_open(const struct store_config *cfg, struct store **out, struct err *e);

/* pg_shared.c: the state several nodes share (store_shared.h) */
struct store_shared_ops;
extern const struct store_shared_ops pg_shared_ops;

/* pg_domain.c, pg_login.c */
struct store_domain_ops;
struct store_login_ops;
extern const struct store_domain_ops pg_domain_ops;
extern const struct store_login_ops pg_login_ops;

/* Record functions, one group per file. */
int pg_account_create(struct store *st, struct account *a, struct err *e);
int pg_account_get(struct store *st, int64_t id, struct account *out, struct err *e);
int pg_account_get_by_code(struct store *st, const char *code, struct account *out, struct err *e);
int pg_account_list(struct store *st, int (*fn)(void *arg, const struct account *a), void *arg,
                    struct err *e);
int pg_account_user_count(struct store *st, int64_t account_id, int64_t *count, struct err *e);
int pg_account_update(struct store *st, const struct account *a, struct err *e);

int pg_app_create(struct store *st, struct application *app, struct err *e);
int pg_app_get(struct store *st, const char *app_id, struct application *out, struct err *e);
int pg_app_get_by_id(struct store *st, int64_t id, struct application *out, struct err *e);
int pg_app_list(struct store *st, int64_t account_id,
                int (*fn)(void *arg, const struct application *a), void *arg, struct err *e);
int pg_app_revoke(struct store *st, const char *app_id, int64_t now, struct err *e);

int pg_user_create(struct store *st, struct user *u, const char *name_key, struct err *e);
int pg_user_get(struct store *st, int64_t id, struct user *out, struct err *e);
int pg_user_get_by_email(struct store *st, const char *email, struct user *out, struct err *e);
int pg_user_list(struct store *st, int64_t account_id, int (*fn)(void *arg, const struct user *u),
                 void *arg, struct err *e);
int pg_user_update(struct store *st, const struct user *u, const char *name_key, struct err *e);
int pg_user_by_name_key(struct store *st, int64_t account_id, const char *key,
                        int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
int pg_user_keyless(struct store *st, int64_t after_id, size_t limit,
                    int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
int pg_user_key_set(struct store *st, int64_t id, const char *name, const char *key, struct err *e);

int pg_binding_create(struct store *st, struct binding *b, struct err *e);
int pg_binding_get(struct store *st, const char *access_key, struct binding *out, struct err *e);
int pg_binding_set_expiry(struct store *st, int64_t id, int64_t expires, struct err *e);
int pg_binding_revoke(struct store *st, int64_t id, int64_t now, struct err *e);
int pg_binding_list(struct store *st, int64_t user_id,
                    int (*fn)(void *arg, const struct binding *b), void *arg, struct err *e);
int pg_binding_count(struct store *st, int64_t user_id, int64_t *count, struct err *e);

int pg_audit_add(struct store *st, const struct audit_event *ev, struct err *e);

#endif
