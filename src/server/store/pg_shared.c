/* PostgreSQL's shared state (store_shared.h): the replay set, rate-limit buckets and cache
 * notifications of migration 013. The gate and bucket calls are one prepared statement each
 * on the calling thread's connection, outside the store's write lock (pg.c): the functions
 * they call lock one row at a time, so calls of different users never wait for each other
 * nor for a store transaction. The listener is a thread with a connection of its own that
 * LISTENs on mcapi_cache; it also purges expired pairs and full buckets. */
#include "pg_int.h"
#include "store_shared_int.h"

#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/banned.h"

#define PURGE_EVERY_MS 30000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* The gate (migration 013 explains the tables). $1 pair, $2 expires, $3 now (s), $4 claim,
 * $5 bucket key, $6 limit, $7 refill ms. The upsert's SET sees the row as it was: tk is its
 * refilled token count, as in rl_bucket_step (ratelimit.c); the database clock drives it.
 * A pair seen already takes nothing (the INSERT ... SELECT has no row). The commit of this
 * statement's implicit transaction is asynchronous (set_config, local to it). */
#define TK0 "least(b.tokens, $6)"
#define NOW "excluded.last_ms"
#define ADD "((" NOW " - b.last_ms) / $7)"
#define TK                                                                                         \
	"(CASE WHEN " TK0 " >= $6 THEN $6 WHEN " NOW " < b.last_ms THEN " TK0                      \
	" ELSE least($6, " TK0 " + " ADD ") END)"
static const char sql_gate[] =
        "WITH t AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms, "
        "set_config('synchronous_commit', 'off', true) AS sc), "
        "seen AS (SELECT EXISTS (SELECT 1 FROM replay_ids WHERE pair = $1::bytea "
        "AND expires >= $3::bigint) AS r), "
        "bk AS (INSERT INTO rl_buckets AS b (kind, key, tokens, last_ms, lim, refill_ms, ok) "
        "SELECT 1, $5::bigint, $6::bigint - 1, t.now_ms, $6, $7::bigint, true FROM t, seen "
        "WHERE NOT seen.r "
        "ON CONFLICT (kind, key) DO UPDATE SET "
        "tokens = " TK " - CASE WHEN " TK " > 0 THEN 1 ELSE 0 END, "
        "last_ms = CASE WHEN " TK0 " >= $6 OR (" NOW " >= b.last_ms AND " TK0 " + " ADD
        " >= $6) THEN " NOW " WHEN " NOW " < b.last_ms THEN b.last_ms "
        "ELSE b.last_ms + " ADD " * $7 END, "
        "lim = $6, refill_ms = $7, ok = " TK " > 0 "
        "RETURNING b.tokens, b.last_ms, b.ok), "
        "cl AS (INSERT INTO replay_ids AS r (pair, expires) "
        "SELECT $1, $2::bigint FROM bk WHERE bk.ok AND $4::int = 1 "
        "ON CONFLICT (pair) DO UPDATE SET expires = excluded.expires WHERE r.expires < $3 "
        "RETURNING 1) "
        "SELECT (seen.r OR (coalesce(bk.ok, false) AND $4::int = 1 "
        "AND NOT EXISTS (SELECT 1 FROM cl)))::int, "
        "coalesce(bk.ok, false)::int, coalesce(bk.tokens, 0), "
        "CASE WHEN bk.tokens < $6 THEN greatest($7 - greatest(t.now_ms - bk.last_ms, 0), 0) "
        "ELSE 0 END, "
        "(EXISTS (SELECT 1 FROM cl))::int, (SELECT gen FROM cache_gen WHERE id = 1) "
        "FROM t CROSS JOIN seen LEFT JOIN bk ON true";
#undef TK
#undef ADD
#undef NOW
#undef TK0
static const char sql_forget[] = "DELETE FROM replay_ids WHERE pair = $1";
static const char sql_bucket[] = "SELECT allowed::int, remaining, reset_ms "
                                 "FROM mc_rl_step($1::smallint, $2, $3, $4, $5::int::boolean)";
static const char sql_purge[] =
        "DELETE FROM replay_ids WHERE expires < extract(epoch FROM clock_timestamp())::bigint; "
        "DELETE FROM rl_buckets WHERE tokens + "
        "((extract(epoch FROM clock_timestamp()) * 1000)::bigint - last_ms) / refill_ms >= lim";

static int gate(struct store *st, const unsigned char pair[STORE_PAIR_LEN], int64_t expires_s,
                int64_t now_s, int claim, uint64_t bucket, int64_t limit, int64_t refill_ms,
                struct store_gate *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	pg_p_init(&p);
	pg_p_bytea(&p, pair, STORE_PAIR_LEN);
	pg_p_int(&p, expires_s);
	pg_p_int(&p, now_s);
	pg_p_int(&p, claim ? 1 : 0);
	pg_p_int(&p, (int64_t)bucket);
	pg_p_int(&p, limit);
	pg_p_int(&p, refill_ms);
	rc = pg_run(st, sql_gate, PG_READ, &p, &r, "claim the request id", e);
	if (!rc && PQntuples(r) != 1)
		rc = err_set(e, MC_ERR_STORE, "claim the request id: no row");
	if (!rc) {
		out->replayed = (int)pg_col_int(r, 0, 0);
		out->allowed = (int)pg_col_int(r, 0, 1);
		out->remaining = pg_col_int(r, 0, 2);
		out->reset_ms = pg_col_int(r, 0, 3);
		out->claimed = (int)pg_col_int(r, 0, 4);
		out->gen = pg_col_int(r, 0, 5);
	}
	PQclear(r);
	return rc;
}

static int forget(struct store *st, const unsigned char pair[STORE_PAIR_LEN], struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_bytea(&p, pair, STORE_PAIR_LEN);
	rc = pg_run(st, sql_forget, PG_READ, &p, &r, "free the request id", e);
	PQclear(r);
	return rc;
}

static int bucket(struct store *st, int kind, uint64_t key, int64_t limit, int64_t refill_ms,
                  int take, struct store_gate *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	pg_p_init(&p);
	pg_p_int(&p, kind);
	pg_p_int(&p, (int64_t)key);
	pg_p_int(&p, limit);
	pg_p_int(&p, refill_ms);
	pg_p_int(&p, take ? 1 : 0);
	rc = pg_run(st, sql_bucket, PG_READ, &p, &r, "rate-limit bucket", e);
	if (!rc && PQntuples(r) != 1)
		rc = err_set(e, MC_ERR_STORE, "rate-limit bucket: no row");
	if (!rc) {
		out->allowed = (int)pg_col_int(r, 0, 0);
		out->remaining = pg_col_int(r, 0, 1);
		out->reset_ms = pg_col_int(r, 0, 2);
	}
	PQclear(r);
	return rc;
}

/* ---- the listener ---- */

struct pg_listener {
	struct store_listener base; /* first */
	char *dsn;
	void (*fn)(void *arg, const char *what);
	void *arg;
	int wake[2]; /* a byte on wake[1] ends the wait; stop is then set */
	pthread_mutex_t mu;
	int stop;
	pthread_t thread;
};

static int stopping(struct pg_listener *l)
{
	int s;

	pthread_mutex_lock(&l->mu);
	s = l->stop;
	pthread_mutex_unlock(&l->mu);
	return s;
}

/* Waits up to ms for fd (or -1: nothing) to be readable or for stop. 1 readable, 0 not. */
static int wait_fd(struct pg_listener *l, int fd, int ms)
{
	struct pollfd pf[2] = {{l->wake[0], POLLIN, 0}, {fd, POLLIN, 0}};
	int n = poll(pf, fd >= 0 ? 2 : 1, ms);

	return n > 0 && fd >= 0 && (pf[1].revents & (POLLIN | POLLERR | POLLHUP));
}

static void notice_ignore(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static PGconn *listen_connect(struct pg_listener *l)
{
	PGconn *db = PQconnectdb(l->dsn);
	PGresult *r;

	if (!db || PQstatus(db) != CONNECTION_OK) {
		PQfinish(db);
		return NULL;
	}
	PQsetNoticeProcessor(db, notice_ignore, NULL); /* libpq would print them on stderr */
	/* the name tells operators (pg_stat_activity) which connection this is */
	r = PQexec(db, "SET application_name = 'mcapid cache listener'; SET TIME ZONE 'UTC'; "
	               "LISTEN mcapi_cache");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		PQclear(r);
		PQfinish(db);
		return NULL;
	}
	PQclear(r);
	return db;
}

static void purge(PGconn *db)
{
	PGresult *r = PQexec(db, sql_purge);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warn("msg=\"purge of expired request ids failed\" error=\"%s\"",
		         PQerrorMessage(db));
	PQclear(r);
}

static void *listen_main(void *arg)
{
	struct pg_listener *l = arg;
	PGconn *db = NULL;
	int backoff = BACKOFF_MIN_MS, up = 0;
	int64_t next_purge = 0;

	while (!stopping(l)) {
		PGnotify *n;

		if (!db) {
			db = listen_connect(l);
			if (!db) {
				if (up)
					log_warn(
					        "msg=\"cache listener lost PostgreSQL; retrying\"");
				up = 0;
				wait_fd(l, -1, backoff);
				backoff =
				        backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			backoff = BACKOFF_MIN_MS;
			up = 1;
			/* changes made while nobody listened are unknown: drop everything */
			l->fn(l->arg, "*");
		}
		if (mono_ms() >= next_purge) {
			purge(db);
			next_purge = mono_ms() + PURGE_EVERY_MS;
		}
		if (wait_fd(l, PQsocket(db), 1000) && PQconsumeInput(db) == 0) {
			PQfinish(db);
			db = NULL;
			l->fn(l->arg, "*");
			continue;
		}
		while ((n = PQnotifies(db)) != NULL) {
			l->fn(l->arg, n->extra && *n->extra ? n->extra : "*");
			PQfreemem(n);
		}
		if (PQstatus(db) != CONNECTION_OK) {
			PQfinish(db);
			db = NULL;
			l->fn(l->arg, "*");
		}
	}
	PQfinish(db);
	return NULL;
}

static void listen_stop(struct store_listener *base)
{
	struct pg_listener *l = (struct pg_listener *)base;
	char b = 1;
	ssize_t w;

	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_mutex_unlock(&l->mu);
	do
		w = write(l->wake[1], &b, 1);
	while (w < 0 && errno == EINTR);
	pthread_join(l->thread, NULL);
	close(l->wake[0]);
	close(l->wake[1]);
	pthread_mutex_destroy(&l->mu);
	secure_zero(l->dsn, strlen(l->dsn)); /* may hold a password */
	free(l->dsn);
	free(l);
}

static struct store_listener *
listen_start(struct store *st, void (*fn)(void *arg, const char *what), void *arg, struct err *e);

const struct store_shared_ops pg_shared_ops = {
        .gate = gate,
        .forget = forget,
        .bucket = bucket,
        .listen_start = listen_start,
        .listen_stop = listen_stop,
};

static struct store_listener *
listen_start(struct store *st, void (*fn)(void *arg, const char *what), void *arg, struct err *e)
{
	struct pg_listener *l = calloc(1, sizeof(*l));

	if (!l || !(l->dsn = strdup(pg_dsn(st)))) {
		free(l);
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	l->base.ops = &pg_shared_ops;
	l->fn = fn;
	l->arg = arg;
	if (pipe(l->wake) != 0) {
		err_set(e, MC_ERR_IO, "cache listener: pipe: %s", strerror(errno));
		free(l->dsn);
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->mu, NULL);
	if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
		err_set(e, MC_ERR_IO, "cannot start the cache listener thread");
		close(l->wake[0]);
		close(l->wake[1]);
		pthread_mutex_destroy(&l->mu);
		free(l->dsn);
		free(l);
		return NULL;
	}
	return &l->base;
}
