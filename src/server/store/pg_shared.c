/* PostgreSQL's shared state (store_shared.h): the replay set, rate-limit buckets and cache
 * notifications of migration 013. The gate and bucket calls are one prepared statement each
 * on the calling thread's connection, outside the store's write lock (pg.c): the functions
 * they call lock one row at a time, so calls of different users never wait for each other
 * nor for a store transaction. Gates of calls that wait at the same moment are combined into
 * one statement (the batcher below, "group commit"). The listener is a thread with a connection of
 * its own that LISTENs on mcapi_cache; it also purges expired pairs and full buckets. */
#include "pg_int.h"
#include "store_shared_int.h"

#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
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
/* The gate of n calls ($1 their pairs end to end, $2.. arrays of the other arguments in
 * call order), as if they ran one after another at one instant. Pairs are distinct (the
 * batcher keeps a second one for a later statement). Each call that ran no pair (seen)
 * takes from its bucket: the j-th such call of a bucket (in call order) finds a call iff
 * j <= av, the bucket's count after refill (TK of sql_gate). Locks are taken in one order in
 * every statement so that batches of two nodes never deadlock: the buckets that exist, by
 * key (lk, FOR UPDATE above the sort); then the new ones, by key (bi); then the pairs, by
 * pair (cl); a single gate takes one bucket, then one pair. A new bucket that another
 * transaction created after this statement's snapshot is not touched (DO NOTHING): its calls
 * come back undone and run again through sql_gate. The inserted row's ok is not read. */
#define TK0 "least(lk.tokens, g.lim)"
#define ADD "((t.now_ms - lk.last_ms) / g.rf)"
#define AV                                                                                         \
	"(CASE WHEN " TK0 " >= g.lim THEN g.lim WHEN t.now_ms < lk.last_ms THEN " TK0              \
	" ELSE least(g.lim, " TK0 " + " ADD ") END)"
#define LAST                                                                                       \
	"(CASE WHEN " TK0 " >= g.lim OR (t.now_ms >= lk.last_ms AND " TK0 " + " ADD                \
	" >= g.lim) THEN t.now_ms WHEN t.now_ms < lk.last_ms THEN lk.last_ms "                     \
	"ELSE lk.last_ms + " ADD " * g.rf END)"
#define LEFT "(CASE WHEN x.ok THEN x.av - x.j ELSE 0 END)"
static const char sql_gate_batch[] =
        "WITH t AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms, "
        "set_config('synchronous_commit', 'off', true) AS sc), "
        "c AS (SELECT a.i, substring($1::bytea FROM (a.i * 16 - 15)::int FOR 16) AS pair, "
        "a.xp, a.ns, a.cl, a.k, a.lim, a.rf FROM unnest($2::bigint[], $3::bigint[], "
        "$4::int[], $5::bigint[], $6::bigint[], $7::bigint[]) WITH ORDINALITY "
        "AS a(xp, ns, cl, k, lim, rf, i)), "
        "s AS (SELECT c.*, EXISTS (SELECT 1 FROM replay_ids r WHERE r.pair = c.pair "
        "AND r.expires >= c.ns) AS seen FROM c), "
        "g AS (SELECT s.k, count(*) AS n, (array_agg(s.lim ORDER BY s.i))[1] AS lim, "
        "(array_agg(s.rf ORDER BY s.i))[1] AS rf FROM s WHERE NOT s.seen GROUP BY s.k), "
        "lk AS (SELECT b.key, b.tokens, b.last_ms FROM rl_buckets b WHERE b.kind = 1 "
        "AND b.key = ANY (ARRAY(SELECT g.k FROM g)) ORDER BY b.key FOR UPDATE), "
        "v AS (SELECT g.k, g.n, g.lim, g.rf, lk.key IS NOT NULL AS had, "
        "CASE WHEN lk.key IS NULL THEN g.lim ELSE " AV " END AS av, "
        "CASE WHEN lk.key IS NULL THEN t.now_ms ELSE " LAST " END AS nl "
        "FROM g CROSS JOIN t LEFT JOIN lk ON lk.key = g.k), "
        "bu AS (UPDATE rl_buckets AS b SET tokens = v.av - least(v.av, v.n), last_ms = v.nl, "
        "lim = v.lim, refill_ms = v.rf, ok = v.av >= v.n FROM v "
        "WHERE v.had AND b.kind = 1 AND b.key = v.k RETURNING b.key), "
        "bi AS (INSERT INTO rl_buckets (kind, key, tokens, last_ms, lim, refill_ms, ok) "
        "SELECT 1, v.k, v.lim - least(v.lim, v.n), v.nl, v.lim, v.rf, true FROM v "
        "WHERE NOT v.had ORDER BY v.k ON CONFLICT (kind, key) DO NOTHING RETURNING key), "
        "w AS (SELECT s.i, s.pair, s.xp, s.ns, s.cl, s.seen, v.lim, v.rf, v.av, v.nl, "
        "(s.seen OR d.key IS NOT NULL) AS done, "
        "row_number() OVER (PARTITION BY s.seen, s.k ORDER BY s.i) AS j "
        "FROM s LEFT JOIN v ON v.k = s.k AND NOT s.seen "
        "LEFT JOIN (SELECT key FROM bu UNION ALL SELECT key FROM bi) d "
        "ON d.key = s.k AND NOT s.seen), "
        "x AS (SELECT w.*, (w.done AND NOT w.seen AND w.j <= w.av) AS ok FROM w), "
        "cl AS (INSERT INTO replay_ids AS r (pair, expires) SELECT x.pair, x.xp FROM x "
        "WHERE x.ok AND x.cl = 1 ORDER BY x.pair "
        "ON CONFLICT (pair) DO UPDATE SET expires = excluded.expires "
        "WHERE r.expires < (SELECT c.ns FROM c WHERE c.pair = excluded.pair) "
        "RETURNING r.pair) "
        "SELECT x.i::int, (x.seen OR (x.ok AND x.cl = 1 AND cl.pair IS NULL))::int, "
        "x.ok::int, " LEFT "::bigint, "
        "CASE WHEN x.done AND NOT x.seen AND " LEFT " < x.lim "
        "THEN greatest(x.rf - greatest(t.now_ms - x.nl, 0), 0) ELSE 0 END::bigint, "
        "(cl.pair IS NOT NULL)::int, (SELECT gen FROM cache_gen WHERE id = 1), x.done::int "
        "FROM x CROSS JOIN t LEFT JOIN cl ON cl.pair = x.pair ORDER BY x.i";
#undef LEFT
#undef LAST
#undef AV
#undef ADD
#undef TK0
static const char sql_forget[] = "DELETE FROM replay_ids WHERE pair = $1";
static const char sql_bucket[] = "SELECT allowed::int, remaining, reset_ms "
                                 "FROM mc_rl_step($1::smallint, $2, $3, $4, $5::int::boolean)";
static const char sql_purge[] =
        "DELETE FROM replay_ids WHERE expires < extract(epoch FROM clock_timestamp())::bigint; "
        "DELETE FROM rl_buckets WHERE tokens + "
        "((extract(epoch FROM clock_timestamp()) * 1000)::bigint - last_ms) / refill_ms >= lim";

static int gate_one(struct store *st, const unsigned char pair[STORE_PAIR_LEN], int64_t expires_s,
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

static int call_one(struct store *st, struct store_gate_call *c, struct err *e)
{
	return gate_one(st, c->pair, c->expires_s, c->now_s, c->claim, c->bucket, c->limit,
	                c->refill_ms, &c->out, e);
}

/* The value of column col (0..5: $2..$7 of sql_gate_batch) of call c. */
static int64_t call_col(const struct store_gate_call *c, int col)
{
	switch (col) {
	case 0:
		return c->expires_s;
	case 1:
		return c->now_s;
	case 2:
		return c->claim ? 1 : 0;
	case 3:
		return (int64_t)c->bucket;
	case 4:
		return c->limit;
	default:
		return c->refill_ms;
	}
}

/* sql_gate_batch on calls[0..n) (distinct pairs, 2 <= n <= STORE_GATE_BATCH_MAX). redo[i]
 * is set for a call it left undone (its bucket was created meanwhile by another
 * transaction): the caller runs that one alone. On error every out is zero. */
static int gate_many(struct store *st, struct store_gate_call **calls, size_t n,
                     unsigned char *redo, struct err *e)
{
	unsigned char pairs[STORE_GATE_BATCH_MAX * STORE_PAIR_LEN];
	size_t cap = 6 * (n * 22 + 4);
	char *txt = malloc(cap), *b = txt, *end = txt + cap;
	struct pg_params p;
	PGresult *r = NULL;
	int rc = 0;

	if (!txt)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	pg_p_init(&p);
	for (size_t i = 0; i < n; i++) {
		memcpy(pairs + i * STORE_PAIR_LEN, calls[i]->pair, STORE_PAIR_LEN);
		memset(&calls[i]->out, 0, sizeof(calls[i]->out));
	}
	pg_p_bytea(&p, pairs, n * STORE_PAIR_LEN);
	for (int col = 0; col < 6; col++) { /* "{v1,v2,...}": int arrays in text form */
		char *arr = b;
		b += snprintf(b, (size_t)(end - b), "{");
		for (size_t i = 0; i < n; i++)
			b += snprintf(b, (size_t)(end - b), "%s%lld", i ? "," : "",
			              (long long)call_col(calls[i], col));
		b += snprintf(b, (size_t)(end - b), "}");
		pg_p_text(&p, arr, (size_t)(b - arr));
		b++; /* past the NUL */
	}
	rc = pg_run(st, sql_gate_batch, PG_READ, &p, &r, "claim the request ids", e);
	if (!rc && PQntuples(r) != (int)n)
		rc = err_set(e, MC_ERR_STORE, "claim the request ids: %d rows for %zu calls",
		             PQntuples(r), n);
	for (size_t i = 0; !rc && i < n; i++) {
		struct store_gate *o = &calls[i]->out;
		o->replayed = (int)pg_col_int(r, (int)i, 1);
		o->allowed = (int)pg_col_int(r, (int)i, 2);
		o->remaining = pg_col_int(r, (int)i, 3);
		o->reset_ms = pg_col_int(r, (int)i, 4);
		o->claimed = (int)pg_col_int(r, (int)i, 5);
		o->gen = pg_col_int(r, (int)i, 6);
	}
	for (size_t i = 0; i < n; i++)
		redo[i] = !rc && !pg_col_int(r, (int)i, 7);
	PQclear(r);
	free(txt);
	if (rc)
		for (size_t i = 0; i < n; i++)
			memset(&calls[i]->out, 0, sizeof(calls[i]->out));
	return rc;
}

static int gate_batch(struct store *st, struct store_gate_call *calls, size_t n, struct err *e)
{
	struct store_gate_call *ptrs[STORE_GATE_BATCH_MAX];
	unsigned char redo[STORE_GATE_BATCH_MAX];
	int rc;

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < i; k++)
			if (!memcmp(calls[k].pair, calls[i].pair, STORE_PAIR_LEN))
				return err_set(e, MC_ERR_INVALID,
				               "two calls of a batch share a pair");
		ptrs[i] = &calls[i];
	}
	if (n == 1)
		return call_one(st, &calls[0], e);
	rc = gate_many(st, ptrs, n, redo, e);
	for (size_t i = 0; !rc && i < n; i++)
		if (redo[i])
			rc = call_one(st, &calls[i], e);
	return rc;
}

/* ---- the batcher ----
 * A thread that needs a gate queues its call. If fewer than `leaders` statements are in
 * flight it leads: it takes up to `batch` queued calls (its own among them when it is near
 * the head) and runs them as one statement on its own connection, then wakes their threads
 * and, when calls are still queued, the thread at the head, which leads the next statement.
 * Otherwise it sleeps on its own condition variable until either happens (each thread has
 * its own so that a finished statement wakes only the threads it concerns, not all). Nothing
 * waits for more calls to come: a lone call runs at once as sql_gate, and calls that queued
 * while statements were in flight go together in the next. A call whose pair is already in
 * the batch being formed stays queued for a later statement, which then sees the first
 * one's claim (the second of two identical requests is a replay, as one after another). */

struct gate_wait {
	struct store_gate_call *call;
	pthread_cond_t cv;
	int done;
	int rc;
	struct err err;
	struct gate_wait *next;
};

struct pg_gates {
	pthread_mutex_t mu;
	struct gate_wait *head; /* in arrival order */
	size_t batch;
	int leaders;
	int running;
};

struct pg_gates *pg_gates_new(int batch, int leaders)
{
	struct pg_gates *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->batch = batch < 1                      ? 1
	           : batch > STORE_GATE_BATCH_MAX ? STORE_GATE_BATCH_MAX
	                                          : (size_t)batch;
	q->leaders = leaders < 1 ? 1 : leaders;
	pthread_mutex_init(&q->mu, NULL);
	return q;
}

void pg_gates_free(struct pg_gates *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* Moves up to q->batch queued calls with distinct pairs into take (q->mu held). */
static size_t gates_take(struct pg_gates *q, struct gate_wait **take)
{
	struct gate_wait **pp = &q->head;
	size_t n = 0;

	while (*pp && n < q->batch) {
		struct gate_wait *w = *pp;
		size_t k = 0;
		while (k < n && memcmp(take[k]->call->pair, w->call->pair, STORE_PAIR_LEN))
			k++;
		if (k < n) { /* a second call with that pair: a later statement */
			pp = &w->next;
			continue;
		}
		take[n++] = w;
		*pp = w->next;
	}
	return n;
}

/* Runs the taken calls (q->mu not held) and records each one's outcome. */
static void gates_lead(struct store *st, struct gate_wait **take, size_t n)
{
	struct store_gate_call *calls[STORE_GATE_BATCH_MAX];
	unsigned char redo[STORE_GATE_BATCH_MAX] = {0};
	struct err e = {0};
	int rc;

	for (size_t i = 0; i < n; i++)
		calls[i] = take[i]->call;
	rc = n == 1 ? call_one(st, calls[0], &e) : gate_many(st, calls, n, redo, &e);
	for (size_t i = 0; i < n; i++) {
		take[i]->rc = rc;
		if (rc)
			take[i]->err = e;
		else if (redo[i])
			take[i]->rc = call_one(st, calls[i], &take[i]->err);
	}
}

static int gate(struct store *st, const unsigned char pair[STORE_PAIR_LEN], int64_t expires_s,
                int64_t now_s, int claim, uint64_t bucket, int64_t limit, int64_t refill_ms,
                struct store_gate *out, struct err *e)
{
	struct pg_gates *q = pg_gates(st);
	struct store_gate_call call = {.expires_s = expires_s,
	                               .now_s = now_s,
	                               .claim = claim,
	                               .bucket = bucket,
	                               .limit = limit,
	                               .refill_ms = refill_ms};
	struct gate_wait w = {.call = &call}, **pp;

	/* inside a transaction the statement would commit with it: not for others' calls */
	if (q->batch <= 1 || pg_in_tx(st))
		return gate_one(st, pair, expires_s, now_s, claim, bucket, limit, refill_ms, out,
		                e);
	memcpy(call.pair, pair, STORE_PAIR_LEN);
	pthread_cond_init(&w.cv, NULL);
	pthread_mutex_lock(&q->mu);
	for (pp = &q->head; *pp; pp = &(*pp)->next)
		;
	*pp = &w;
	while (!w.done) {
		struct gate_wait *take[STORE_GATE_BATCH_MAX];
		size_t n;

		if (q->running >= q->leaders || !q->head) {
			pthread_cond_wait(&w.cv, &q->mu);
			continue;
		}
		n = gates_take(q, take);
		q->running++;
		pthread_mutex_unlock(&q->mu);
		gates_lead(st, take, n);
		pthread_mutex_lock(&q->mu);
		q->running--;
		for (size_t i = 0; i < n; i++) {
			take[i]->done = 1;
			pthread_cond_signal(&take[i]->cv);
		}
		if (q->head) /* the next statement's leader */
			pthread_cond_signal(&q->head->cv);
	}
	pthread_mutex_unlock(&q->mu);
	pthread_cond_destroy(&w.cv);
	*out = call.out;
	if (w.rc && e)
		*e = w.err;
	return w.rc;
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
        .gate_batch = gate_batch,
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
