/* PostgreSQL's shared state (store_shared.h): the replay set, rate-limit buckets and cache
 * notifications of migration 013. The gate and bucket calls are one prepared statement each
 * on the calling thread's connection, outside the store's write lock (pg.c): the functions
 * they call lock one row at a time, so calls of different users never wait for each other
 * nor for a store transaction. Gates of calls that wait at the same moment are combined into
 * one statement (the batcher below, "group commit"), and under load a batch leases a few of a
 * bucket's calls to the node so that its next calls need only the claim of their request id
 * (leases, below). The listener is a thread with a connection of its own that LISTENs on
 * mcapi_cache; it also purges expired pairs and full buckets. */
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
#include <semaphore.h>
#include <time.h>
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
 * come back undone and run again through sql_gate. The inserted row's ok is not read.
 * $8: calls to lease per call's bucket (the first call's counts, as for the limit); gr, the
 * calls leased, is taken from the bucket after the batch's own calls when at least half the
 * limit is then left, and is reported (last column) on each of the bucket's rows. */
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
        "a.xp, a.ns, a.cl, a.k, a.lim, a.rf, a.ls FROM unnest($2::bigint[], $3::bigint[], "
        "$4::int[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[]) WITH ORDINALITY "
        "AS a(xp, ns, cl, k, lim, rf, ls, i)), "
        "s AS (SELECT c.*, EXISTS (SELECT 1 FROM replay_ids r WHERE r.pair = c.pair "
        "AND r.expires >= c.ns) AS seen FROM c), "
        "g AS (SELECT s.k, count(*) AS n, (array_agg(s.lim ORDER BY s.i))[1] AS lim, "
        "(array_agg(s.rf ORDER BY s.i))[1] AS rf, (array_agg(s.ls ORDER BY s.i))[1] AS ls "
        "FROM s WHERE NOT s.seen GROUP BY s.k), "
        "lk AS (SELECT b.key, b.tokens, b.last_ms FROM rl_buckets b WHERE b.kind = 1 "
        "AND b.key = ANY (ARRAY(SELECT g.k FROM g)) ORDER BY b.key FOR UPDATE), "
        "v0 AS (SELECT g.k, g.n, g.lim, g.rf, g.ls, lk.key IS NOT NULL AS had, "
        "CASE WHEN lk.key IS NULL THEN g.lim ELSE " AV " END AS av, "
        "CASE WHEN lk.key IS NULL THEN t.now_ms ELSE " LAST " END AS nl "
        "FROM g CROSS JOIN t LEFT JOIN lk ON lk.key = g.k), "
        "v AS (SELECT v0.*, CASE WHEN v0.ls > 0 AND v0.av - v0.n - v0.ls >= v0.lim / 2 "
        "THEN v0.ls ELSE 0 END AS gr FROM v0), "
        "bu AS (UPDATE rl_buckets AS b SET tokens = v.av - least(v.av, v.n) - v.gr, "
        "last_ms = v.nl, "
        "lim = v.lim, refill_ms = v.rf, ok = v.av >= v.n FROM v "
        "WHERE v.had AND b.kind = 1 AND b.key = v.k RETURNING b.key), "
        "bi AS (INSERT INTO rl_buckets (kind, key, tokens, last_ms, lim, refill_ms, ok) "
        "SELECT 1, v.k, v.lim - least(v.lim, v.n) - v.gr, v.nl, v.lim, v.rf, true FROM v "
        "WHERE NOT v.had ORDER BY v.k ON CONFLICT (kind, key) DO NOTHING RETURNING key), "
        "w AS (SELECT s.i, s.pair, s.xp, s.ns, s.cl, s.seen, v.lim, v.rf, v.av, v.nl, v.gr, "
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
        "(cl.pair IS NOT NULL)::int, (SELECT gen FROM cache_gen WHERE id = 1), x.done::int, "
        "CASE WHEN x.done AND NOT x.seen THEN coalesce(x.gr, 0) ELSE 0 END::bigint "
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
                     const int64_t *wish, int64_t *grant, unsigned char *redo, struct err *e)
{
	unsigned char pairs[STORE_GATE_BATCH_MAX * STORE_PAIR_LEN];
	size_t cap = 7 * (n * 22 + 4);
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
	for (int col = 0; col < 7; col++) { /* "{v1,v2,...}": int arrays in text form */
		char *arr = b;
		b += snprintf(b, (size_t)(end - b), "{");
		for (size_t i = 0; i < n; i++)
			b += snprintf(b, (size_t)(end - b), "%s%lld", i ? "," : "",
			              (long long)(col < 6 ? call_col(calls[i], col)
			                          : wish  ? wish[i]
			                                  : 0));
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
	for (size_t i = 0; i < n; i++) {
		redo[i] = !rc && !pg_col_int(r, (int)i, 7);
		if (grant)
			grant[i] = rc ? 0 : pg_col_int(r, (int)i, 8);
	}
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
	rc = gate_many(st, ptrs, n, NULL, NULL, redo, e);
	for (size_t i = 0; !rc && i < n; i++)
		if (redo[i])
			rc = call_one(st, &calls[i], e);
	return rc;
}

/* ---- rate-limit leases ----
 * When a batch's bucket has plenty left (at least half its limit after the batch), the
 * batch statement also takes `lease` more calls from it for this node (sql_gate_batch's gr,
 * at most limit/16 and pg_gate_lease). The node's next calls on that bucket take from the
 * lease in memory and need only the claim of their request id (sql_claim: one insert per
 * call, none of the bucket arithmetic): the statement that costs the database most per call
 * runs once per lease instead of once per batch. The leased calls were taken from the
 * shared bucket, so all nodes together never admit more than the limit; a lease's unused
 * calls are dropped after LEASE_MS (the bucket refills as usual), so another node may be
 * refused while this one holds up to `lease` calls it has not used, for at most LEASE_MS.
 * Near the limit (under half left) every call takes from the bucket itself, as before. A
 * call that proves a replay gives its leased call back. */

#define LEASE_SLOTS 64
#define LEASE_MS    1000

struct lease {
	uint64_t key;
	int64_t lim, rf;    /* the bucket's as the lease was granted */
	int64_t left;       /* leased calls not used yet */
	int64_t base;       /* the shared bucket's count after the granting statement */
	int64_t reset_ms;   /* reset_ms of the bucket then */
	int64_t granted_ms; /* mono_ms */
	int64_t until_ms;   /* mono_ms after which the lease is void (0: free slot) */
	unsigned gen;       /* tells a refund from a reused slot */
};

/* The claim alone, for calls whose bucket call came from a lease (the pairs are distinct):
 * the request ids that are new or whose row expired before $3 (seconds) are recorded until
 * their $2; the others are replays. cache_gen rides along as in sql_gate. Locks: pairs in
 * order, as the last step of sql_gate_batch. */
static const char sql_claim[] =
        "WITH t AS (SELECT set_config('synchronous_commit', 'off', true) AS sc), "
        "c AS (SELECT a.i, substring($1::bytea FROM (a.i * 16 - 15)::int FOR 16) AS pair, "
        "a.xp FROM unnest($2::bigint[]) WITH ORDINALITY AS a(xp, i)), "
        "cl AS (INSERT INTO replay_ids AS r (pair, expires) SELECT c.pair, c.xp FROM c, t "
        "ORDER BY c.pair ON CONFLICT (pair) DO UPDATE SET expires = excluded.expires "
        "WHERE r.expires < $3::bigint RETURNING r.pair) "
        "SELECT (cl.pair IS NOT NULL)::int, (SELECT gen FROM cache_gen WHERE id = 1) "
        "FROM c LEFT JOIN cl ON cl.pair = c.pair ORDER BY c.i";

/* sql_claim on calls[0..n): sets claimed, replayed and gen of each out (the bucket fields
 * were set from the lease). On error nothing was claimed. */
static int claim_many(struct store *st, struct store_gate_call **calls, size_t n, struct err *e)
{
	unsigned char pairs[STORE_GATE_BATCH_MAX * STORE_PAIR_LEN];
	char txt[STORE_GATE_BATCH_MAX * 22 + 4], *b = txt, *end = txt + sizeof(txt);
	int64_t now_s = calls[0]->now_s;
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	b += snprintf(b, (size_t)(end - b), "{");
	for (size_t i = 0; i < n; i++) {
		memcpy(pairs + i * STORE_PAIR_LEN, calls[i]->pair, STORE_PAIR_LEN);
		b += snprintf(b, (size_t)(end - b), "%s%lld", i ? "," : "",
		              (long long)calls[i]->expires_s);
		if (calls[i]->now_s < now_s) /* the earliest: an expiry is never early */
			now_s = calls[i]->now_s;
	}
	b += snprintf(b, (size_t)(end - b), "}");
	pg_p_bytea(&p, pairs, n * STORE_PAIR_LEN);
	pg_p_text(&p, txt, (size_t)(b - txt));
	pg_p_int(&p, now_s);
	rc = pg_run(st, sql_claim, PG_READ, &p, &r, "claim the request ids", e);
	if (!rc && PQntuples(r) != (int)n)
		rc = err_set(e, MC_ERR_STORE, "claim the request ids: %d rows for %zu calls",
		             PQntuples(r), n);
	for (size_t i = 0; !rc && i < n; i++) {
		struct store_gate *o = &calls[i]->out;
		o->claimed = (int)pg_col_int(r, (int)i, 0);
		o->replayed = !o->claimed;
		o->gen = pg_col_int(r, (int)i, 1);
		if (o->replayed) /* a replay takes nothing */
			o->allowed = 0, o->remaining = 0, o->reset_ms = 0;
	}
	PQclear(r);
	return rc;
}

/* ---- the batcher ----
 * Gates queue as jobs (store_gate_job). `leaders` threads of the batcher's own, started with
 * the first gate, each take up to `batch` queued calls and run them as one statement on a
 * leader connection of their own (two statements when some calls hold leased calls:
 * sql_claim for those), then call each job's done. A thread that calls store_shared_gate
 * sleeps on a semaphore that its job's done posts; the HTTP front's workers submit jobs
 * (store_shared_gate_submit) and serve their other connections meanwhile, so no worker
 * sleeps through a round trip: a batch costs a wake-up per worker whose calls it carried
 * instead of two context switches per call. A lone call is taken at once; calls that queued
 * while a statement ran go together in the next one, and under load (the last statement
 * carried several) a leader waits up to wait_us for one call more than that, so batches grow
 * to what the node has in flight and the database's cost per call falls with the batch. A
 * call whose pair is already in the batch being formed stays queued for a later statement,
 * which then sees the first one's claim (the second of two identical requests is a replay,
 * as one after another). */

struct pg_gates {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* leaders wait here for calls (CLOCK_MONOTONIC) */
	struct store *st;
	struct store_gate_job *head, *tail; /* in arrival order */
	size_t batch;
	int leaders;
	int started, stopping;
	int idle;      /* leaders waiting for a first call */
	int lingering; /* leaders waiting for `want` queued calls */
	pthread_t threads[PG_GATE_CONNS];
	int nthreads, next_slot;
	int64_t lease_max;   /* pg_gate_lease; 0: no leases */
	int64_t wait_us;     /* pg_gate_wait_us; 0: a leader never waits for more calls */
	size_t queued;       /* calls in the queue */
	size_t last_n;       /* calls of the last statement */
	size_t inside, peak; /* calls submitted and not done, and the most seen at once */
	size_t want;
	unsigned lease_gen;
	struct lease leases[LEASE_SLOTS];
};

struct pg_gates *pg_gates_new(int batch, int leaders, int lease, int wait_us)
{
	struct pg_gates *q = calloc(1, sizeof(*q));
	pthread_condattr_t ca;

	if (!q)
		return NULL;
	q->batch = batch < 1                      ? 1
	           : batch > STORE_GATE_BATCH_MAX ? STORE_GATE_BATCH_MAX
	                                          : (size_t)batch;
	q->leaders = leaders < 1 ? 1 : leaders > PG_GATE_CONNS ? PG_GATE_CONNS : leaders;
	q->lease_max = lease > 0 ? lease : 0;
	q->wait_us = wait_us > 0 ? wait_us : 0;
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	return q;
}

/* Stops the leaders (a statement in flight ends first) and fails what is still queued. */
void pg_gates_free(struct pg_gates *q)
{
	struct store_gate_job *j, *next;

	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	for (j = q->head; j; j = next) {
		next = j->next;
		j->rc = err_set(&j->err, MC_ERR_UNAVAILABLE, "the store is closing");
		j->done(j);
	}
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* The live lease of bucket (key, lim, rf) or NULL (q->mu held). */
static struct lease *lease_find(struct pg_gates *q, uint64_t key, int64_t lim, int64_t rf,
                                int64_t now)
{
	for (int i = 0; i < LEASE_SLOTS; i++) {
		struct lease *l = &q->leases[i];
		if (l->until_ms > now && l->key == key && l->lim == lim && l->rf == rf)
			return l;
	}
	return NULL;
}

/* Takes w's bucket call from a lease if there is one with a call left, and sets the
 * bucket fields of its out; else sets w->wish (q->mu held). */
static void lease_take(struct pg_gates *q, struct store_gate_job *w)
{
	struct store_gate_call *c = &w->call;
	struct store_gate *o = &c->out;
	int64_t now, wish = c->limit / 16, rf = c->refill_ms > 0 ? c->refill_ms : 1, r;
	struct lease *l;

	if (!q->lease_max || !c->claim)
		return;
	now = mono_ms();
	l = lease_find(q, c->bucket, c->limit, c->refill_ms, now);
	if (l && l->left > 0) {
		l->left--;
		w->leased = 1;
		w->slot = (int)(l - q->leases);
		w->gen = l->gen;
		o->allowed = 1;
		o->remaining = l->base + l->left;
		/* the bucket's reset as granted, moved on by the time since, one refill period
		 * at a time (the bucket refills while the lease lasts) */
		r = l->reset_ms ? l->reset_ms - (now - l->granted_ms) : 0;
		if (r < 0)
			r = rf - (-r) % rf;
		o->reset_ms = r;
		return;
	}
	if (wish > q->lease_max)
		wish = q->lease_max;
	w->wish = wish >= 2 ? wish : 0;
}

/* Records the lease that the statement granted for w's bucket (q->mu held). The shared
 * bucket's count after it: what the bucket's calls of the batch saw left, less the lease. A
 * lease still running on that bucket (another leader's statement granted it meanwhile)
 * keeps its calls: the node then holds up to pg_gate_leaders leases' worth. */
static void lease_grant(struct pg_gates *q, struct store_gate_job **take, size_t n, size_t at)
{
	struct store_gate_call *c = &take[at]->call;
	int64_t now = mono_ms(), base = c->out.remaining;
	struct lease *l = NULL;

	for (size_t i = at + 1; i < n; i++)
		if (!take[i]->leased && take[i]->call.bucket == c->bucket) {
			take[i]->grant = 0; /* one lease per bucket and statement */
			if (take[i]->call.out.allowed && take[i]->call.out.remaining < base)
				base = take[i]->call.out.remaining;
		}
	l = lease_find(q, c->bucket, c->limit, c->refill_ms, now);
	if (l) {
		l->left += take[at]->grant;
		l->base = base - take[at]->grant > 0 ? base - take[at]->grant : 0;
		l->reset_ms = c->out.reset_ms;
		l->granted_ms = now;
		l->until_ms = now + LEASE_MS;
		return;
	}
	for (int i = 0; i < LEASE_SLOTS && !l; i++)
		if (q->leases[i].key == c->bucket || q->leases[i].until_ms <= now)
			l = &q->leases[i];
	for (int i = 0; i < LEASE_SLOTS && !l; i++) /* all live: the one that ends first */
		if (!l || q->leases[i].until_ms < l->until_ms)
			l = &q->leases[i];
	if (!l)
		l = &q->leases[0];
	*l = (struct lease){.key = c->bucket,
	                    .lim = c->limit,
	                    .rf = c->refill_ms,
	                    .left = take[at]->grant,
	                    .base = base - take[at]->grant > 0 ? base - take[at]->grant : 0,
	                    .reset_ms = c->out.reset_ms,
	                    .granted_ms = now,
	                    .until_ms = now + LEASE_MS,
	                    .gen = ++q->lease_gen};
}

/* Gives a leased call back (a replay, or a failed claim) (q->mu held). */
static void lease_refund(struct pg_gates *q, struct store_gate_job *w)
{
	struct lease *l = &q->leases[w->slot];

	if (w->leased && l->gen == w->gen && l->until_ms > mono_ms())
		l->left++;
	w->leased = 0;
}

/* Moves up to q->batch queued calls with distinct pairs into take (q->mu held). */
static size_t gates_take(struct pg_gates *q, struct store_gate_job **take)
{
	struct store_gate_job **pp = &q->head;
	size_t n = 0;

	q->tail = NULL;
	while (*pp) {
		struct store_gate_job *w = *pp;
		size_t k = 0;
		while (k < n && memcmp(take[k]->call.pair, w->call.pair, STORE_PAIR_LEN))
			k++;
		if (k < n || n == q->batch) { /* a second call with that pair: a later statement */
			q->tail = w;
			pp = &w->next;
			continue;
		}
		/* a lease granted since the call queued serves it now: without this, every
		 * statement of calls queued while the lease was empty would grant one more */
		if (!w->leased && w->wish)
			lease_take(q, w);
		take[n++] = w;
		*pp = w->next;
		q->queued--;
	}
	return n;
}

/* Runs the taken calls (q->mu not held) and records each one's outcome: those with a
 * leased call through sql_claim, the others through the gate. */
static void gates_lead(struct store *st, struct store_gate_job **take, size_t n)
{
	struct store_gate_call *calls[STORE_GATE_BATCH_MAX], *claims[STORE_GATE_BATCH_MAX];
	struct store_gate_job *tw[STORE_GATE_BATCH_MAX], *cw[STORE_GATE_BATCH_MAX];
	int64_t wish[STORE_GATE_BATCH_MAX], grant[STORE_GATE_BATCH_MAX] = {0};
	unsigned char redo[STORE_GATE_BATCH_MAX] = {0};
	struct err e = {0};
	size_t nt = 0, nc = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		take[i]->rc = 0;
		if (take[i]->leased) {
			cw[nc] = take[i];
			claims[nc++] = &take[i]->call;
		} else {
			tw[nt] = take[i];
			wish[nt] = take[i]->wish;
			calls[nt++] = &take[i]->call;
		}
	}
	if (nt) {
		rc = nt == 1 ? call_one(st, calls[0], &e)
		             : gate_many(st, calls, nt, wish, grant, redo, &e);
		for (size_t i = 0; i < nt; i++) {
			tw[i]->rc = rc;
			tw[i]->grant = grant[i];
			if (rc)
				tw[i]->err = e;
			else if (redo[i])
				tw[i]->rc = call_one(st, calls[i], &tw[i]->err);
		}
	}
	if (nc) {
		rc = claim_many(st, claims, nc, &e);
		for (size_t i = 0; i < nc; i++) {
			cw[i]->rc = rc;
			if (rc)
				cw[i]->err = e;
		}
	}
}

/* A leader thread: its own connection slot, batches until the store closes. */
static void *gates_main(void *arg)
{
	struct pg_gates *q = arg;
	struct store_gate_job *take[STORE_GATE_BATCH_MAX];
	int lingered = 0, slot;

	pthread_mutex_lock(&q->mu);
	slot = q->next_slot++;
	pthread_mutex_unlock(&q->mu);
	pg_gate_conn(q->st, slot);
	pthread_mutex_lock(&q->mu);
	while (!q->stopping) {
		size_t n;

		if (!q->head) {
			q->idle++;
			pthread_cond_wait(&q->cv, &q->mu);
			q->idle--;
			continue;
		}
		if (!lingered && q->wait_us && q->last_n >= 2 && q->queued < q->last_n + 1 &&
		    q->queued < q->batch && q->queued < q->peak) {
			/* Under load (the last statement carried several calls) wait up to
			 * wait_us for one call more than that statement had. Not when as many
			 * calls are queued as were ever in flight at once: nobody else is
			 * likely to come. */
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += (long)q->wait_us * 1000;
			until.tv_sec += until.tv_nsec / 1000000000;
			until.tv_nsec %= 1000000000;
			lingered = 1;
			q->want = q->last_n + 1;
			q->lingering++;
			pthread_cond_timedwait(&q->cv, &q->mu, &until);
			q->lingering--;
			continue;
		}
		n = gates_take(q, take);
		pthread_mutex_unlock(&q->mu);
		gates_lead(q->st, take, n);
		pthread_mutex_lock(&q->mu);
		q->last_n = n;
		lingered = 0;
		for (size_t i = 0; i < n; i++) {
			if (take[i]->leased && (take[i]->rc || take[i]->call.out.replayed))
				lease_refund(q, take[i]);
			if (!take[i]->rc && take[i]->grant > 0)
				lease_grant(q, take, n, i);
		}
		q->inside -= n;
		pthread_mutex_unlock(&q->mu);
		for (size_t i = 0; i < n; i++)
			take[i]->done(take[i]);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	pg_gate_conn(q->st, -1);
	return NULL;
}

/* Starts the leaders, once (q->mu held); none started leaves nthreads 0. */
static void gates_start(struct pg_gates *q, struct store *st)
{
	q->st = st;
	q->started = 1;
	while (q->nthreads < q->leaders &&
	       pthread_create(&q->threads[q->nthreads], NULL, gates_main, q) == 0)
		q->nthreads++;
	if (q->nthreads == 0)
		log_error("msg=\"cannot start the gate's threads\"");
}

static int gate_async(struct store *st)
{
	return pg_gates(st)->batch > 1;
}

static int gate_submit(struct store *st, struct store_gate_job *j)
{
	struct pg_gates *q = pg_gates(st);

	pthread_mutex_lock(&q->mu);
	if (!q->started && !q->stopping)
		gates_start(q, st);
	if (q->stopping || !q->nthreads) {
		pthread_mutex_unlock(&q->mu);
		return MC_ERR_UNAVAILABLE;
	}
	j->leased = 0;
	j->wish = 0;
	j->grant = 0;
	j->rc = 0;
	j->next = NULL;
	lease_take(q, j);
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	if (++q->inside > q->peak)
		q->peak = q->inside;
	q->queued++;
	if (q->idle || (q->lingering && q->queued >= q->want))
		pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

static void sync_done(struct store_gate_job *j)
{
	sem_post(j->arg);
}

static int gate(struct store *st, const unsigned char pair[STORE_PAIR_LEN], int64_t expires_s,
                int64_t now_s, int claim, uint64_t bucket, int64_t limit, int64_t refill_ms,
                struct store_gate *out, struct err *e)
{
	struct pg_gates *q = pg_gates(st);
	struct store_gate_job j = {.call = {.expires_s = expires_s,
	                                    .now_s = now_s,
	                                    .claim = claim,
	                                    .bucket = bucket,
	                                    .limit = limit,
	                                    .refill_ms = refill_ms},
	                           .done = sync_done};
	sem_t sem;

	/* inside a transaction the statement would commit with it: not for others' calls */
	if (q->batch <= 1 || pg_in_tx(st))
		return gate_one(st, pair, expires_s, now_s, claim, bucket, limit, refill_ms, out,
		                e);
	memcpy(j.call.pair, pair, STORE_PAIR_LEN);
	sem_init(&sem, 0, 0);
	j.arg = &sem;
	if (gate_submit(st, &j) != 0) {
		sem_destroy(&sem);
		return err_set(e, MC_ERR_UNAVAILABLE, "the gate's threads are not running");
	}
	while (sem_wait(&sem) != 0) /* EINTR */
		;
	sem_destroy(&sem);
	*out = j.call.out;
	if (j.rc && e)
		*e = j.err;
	return j.rc;
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
        .gate_async = gate_async,
        .gate_submit = gate_submit,
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
