/* The delivery workers: a thin loop over the modules of delivery_int.h. Each worker leases
 * a batch of due recipients (the store also hands back recipients whose lease ran out, so
 * work in flight when a node died is retried), and for each one: reads the message and its
 * body, resolves the route, skips a penalised destination, runs the transform hook,
 * attempts delivery, decides the state (retry_decide) and records it with its SIEM event in
 * one store call (store_delivery_done) before anything else happens; then, if the store says
 * the message has just bounced, sends its one DSN. Idle workers sleep on a condition
 * variable until delivery_kick or the next poll (1 s). A lost lease (another node took the
 * recipient) is logged and its outcome dropped: the other node records its own. */
#include "delivery.h"
#include "delivery_int.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/config.h"
#include "server/mail/mail.h"
#include "server/server.h"
#include "server/store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/banned.h"

#define DELIVERY_LEASE_MS       300000 /* a batch's lease, unless cfg->mail_lease says */
#define DELIVERY_BATCH          16
#define DELIVERY_POLL_MS        1000
#define DELIVERY_CONNECT_MS     30000
#define DELIVERY_ATTEMPT_MS     120000 /* one whole SMTP transaction */
#define DELIVERY_MARGIN_MS      5000   /* an attempt ends this long before the lease does */
#define DELIVERY_MIN_ATTEMPT_MS 10000  /* less lease left: the rest waits for the next lease */
#define DELIVERY_DSN_MAX_RCPTS  1000
#define DELIVERY_LOG_VALUE      600
#define DELIVERY_PATH_MAX       4200 /* a Maildir path (maildir.c: 4096) and "/new" */

struct delivery {
	struct server *srv;
	const struct config *cfg;
	struct store *st;
	const struct delivery_store_ops *ops;
	int poll_ms;
	pthread_mutex_t mu; /* guards the fields below and the hook */
	pthread_cond_t cv;
	int stopping;
	unsigned kicks; /* pending kicks, so a kick between a poll and the sleep is not lost */
	delivery_transform_fn transform;
	void *transform_arg;
	int nthreads;
	pthread_t *threads;
	struct penalty_table penalty;
};

/* For log lines: the states an attempt records. */
static const char *delivery_state_name(int32_t state)
{
	switch (state) {
	case RCPT_DELIVERED:
		return "delivered";
	case RCPT_DEFERRED:
		return "deferred";
	case RCPT_FAILED:
		return "failed";
	case RCPT_EXPIRED:
		return "expired";
	default:
		return "other";
	}
}

/* What a worker keeps across the jobs of a batch: the last message, body and account read,
 * since the recipients of one message usually come together. */
struct worker_cache {
	int64_t message_id;
	int have_msg;
	struct message msg;
	int64_t body_id;
	char *body;
	size_t body_len;
	int64_t account_id;
	char acc[32];
};

static void cache_release(struct delivery *d, struct worker_cache *c)
{
	if (c->have_msg)
		d->ops->message_release(&c->msg);
	free(c->body);
	memset(c, 0, sizeof(*c));
}

static void delivery_mono_deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Sleeps until a kick, stop, or ms. Returns 1 if stopping. */
static int delivery_wait(struct delivery *d, int ms)
{
	struct timespec until;
	int stopping;

	delivery_mono_deadline(&until, ms);
	pthread_mutex_lock(&d->mu);
	while (!d->stopping && !d->kicks)
		if (pthread_cond_timedwait(&d->cv, &d->mu, &until) == ETIMEDOUT)
			break;
	if (d->kicks)
		d->kicks--;
	stopping = d->stopping;
	pthread_mutex_unlock(&d->mu);
	return stopping;
}

static int delivery_stopping(struct delivery *d)
{
	int s;

	pthread_mutex_lock(&d->mu);
	s = d->stopping;
	pthread_mutex_unlock(&d->mu);
	return s;
}

/* The message, account code and body of job into c (reading only what changed). A message
 * or account that cannot be read only thins the event; a body that cannot be read defers. */
static int cache_load(struct delivery *d, struct worker_cache *c, const struct delivery_job *job,
                      struct err *e)
{
	struct account *acct;
	int rc;

	if (!c->have_msg || c->message_id != job->rcpt.message_id) {
		if (c->have_msg)
			d->ops->message_release(&c->msg);
		c->have_msg = d->ops->message_get(d->st, job->account_id, job->rcpt.message_id,
		                                  &c->msg, NULL) == 0;
		c->message_id = job->rcpt.message_id;
	}
	if (c->account_id != job->account_id && (acct = malloc(sizeof(*acct)))) {
		c->acc[0] = '\0';
		if (d->ops->account_get(d->st, job->account_id, acct, NULL) == 0)
			snprintf(c->acc, sizeof(c->acc), "%s", acct->code);
		c->account_id = job->account_id;
		free(acct);
	}
	if (c->body && c->body_id == job->body_id)
		return 0;
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	rc = d->ops->body_get(d->st, job->body_id, &c->body, &c->body_len, e);
	if (rc == 0)
		c->body_id = job->body_id;
	return rc;
}

/* The hook, or nothing. 0 and *out (NULL = unchanged), or an error for e. */
static int delivery_transform(struct delivery *d, const struct delivery_job *job,
                              const struct worker_cache *c, char **out, size_t *out_len,
                              struct err *e)
{
	delivery_transform_fn fn;
	struct delivery_job j;
	void *arg;

	*out = NULL;
	*out_len = 0;
	pthread_mutex_lock(&d->mu);
	fn = d->transform;
	arg = d->transform_arg;
	pthread_mutex_unlock(&d->mu);
	if (!fn)
		return 0;
	/* the process stage listed the message's URLs: none means nothing to rewrite, and the
	 * hook need not parse the message again to find that out */
	j = *job;
	j.no_urls = c->have_msg && c->msg.urls && !strcmp(c->msg.urls, "[]");
	return fn(arg, &j, c->body, c->body_len, out, out_len, e);
}

struct dsn_collect {
	struct dsn_rcpt *r;
	struct mail_rcpt *rows;
	int n, cap;
};

static int dsn_collect_fn(void *arg, const struct mail_rcpt *r)
{
	struct dsn_collect *c = arg;

	if (r->state != RCPT_FAILED && r->state != RCPT_EXPIRED)
		return 0;
	if (c->n == c->cap)
		return 0; /* enough to tell the sender */
	c->rows[c->n] = *r;
	c->r[c->n].addr = c->rows[c->n].addr;
	c->r[c->n].state = r->state;
	c->r[c->n].reply = c->rows[c->n].last_reply;
	c->n++;
	return 0;
}

/* The message of job bounced: one DSN to its sender, delivered directly to the route of
 * the sender's internal domain (see delivery.h), never to the null sender, never for a DSN. */
static void delivery_bounce(struct delivery *d, const struct delivery_job *job,
                            const struct worker_cache *c, int32_t state,
                            const struct deliv_result *last)
{
	struct dsn_collect col = {0};
	struct dsn_input in = {0};
	struct dsn_rcpt self;
	struct mail_domain md;
	struct deliv_dest dest;
	struct deliv_result res;
	struct smtpc_opts o = {d->cfg->smtp_hostname, DELIVERY_CONNECT_MS, DELIVERY_ATTEMPT_MS};
	struct buf b;
	struct err e = {0};
	const char *at = strrchr(job->env_from, '@');
	char q[DELIVERY_LOG_VALUE], q2[DELIVERY_LOG_VALUE], q3[DELIVERY_LOG_VALUE];

	buf_init(&b, DSN_MAX_HEADERS + 65536 + (size_t)DELIVERY_DSN_MAX_RCPTS * 1300);
	if (!job->env_from[0]) {
		log_info("msg=\"no dsn to the null sender\" acode=%s", job->acode);
		goto out;
	}
	if (c->body && dsn_is_report(c->body, c->body_len)) {
		log_info("msg=\"no dsn for a dsn\" acode=%s", job->acode);
		goto out;
	}
	if (!at || d->ops->mail_domain(d->st, at + 1, &md, &e) != 0) {
		log_info("msg=\"dsn dropped: the sender's domain is not internal\" acode=%s to=%s "
		         "reason=%s",
		         job->acode, log_quote(job->env_from, q, sizeof(q)),
		         log_quote(e.msg[0] ? e.msg : "no domain", q2, sizeof(q2)));
		goto out;
	}
	col.cap = DELIVERY_DSN_MAX_RCPTS;
	col.r = calloc((size_t)col.cap, sizeof(*col.r));
	col.rows = calloc((size_t)col.cap, sizeof(*col.rows));
	if (!col.r || !col.rows ||
	    d->ops->message_rcpts(d->st, job->rcpt.message_id, dsn_collect_fn, &col, NULL) != 0 ||
	    col.n == 0) {
		/* the store could not list them: name at least the recipient at hand */
		self.addr = job->rcpt.addr;
		self.state = state;
		self.reply = last->reply;
		in.rcpts = &self;
		in.nrcpts = 1;
	} else {
		in.rcpts = col.r;
		in.nrcpts = col.n;
	}
	in.hostname = d->cfg->smtp_hostname;
	in.env_from = job->env_from;
	in.acode = job->acode;
	in.arrival = job->received;
	in.now = now_ms();
	in.orig = c->body ? c->body : "";
	in.orig_len = c->body ? c->body_len : 0;
	if (dsn_build(&in, &b) != 0) {
		log_warn("msg=\"dsn not built\" acode=%s", job->acode);
		goto out;
	}
	if (route_resolve(md.route, MAIL_INBOUND, d->cfg, &dest, &e) != 0) {
		log_warn("msg=\"dsn dropped: bad route\" acode=%s reason=%s", job->acode,
		         log_quote(e.msg, q, sizeof(q)));
		goto out;
	}
	route_deliver(&dest, &o, "", job->env_from, b.data, b.len, &res);
	log_info("msg=dsn acode=%s to=%s route=%s status=%s reply=%s", job->acode,
	         log_quote(job->env_from, q, sizeof(q)), log_quote(dest.name, q3, sizeof(q3)),
	         res.status == DELIV_SENT ? "sent" : "dropped",
	         log_quote(res.reply, q2, sizeof(q2)));
out:
	free(col.r);
	free(col.rows);
	buf_release(&b);
}

/* One recipient's attempt, from the delivery to the record of its outcome. */
struct attempt {
	const struct delivery_job *job;
	int64_t lease_until;
	int64_t t0;      /* mono ms when it began */
	int64_t latency; /* ms it took */
	int number;      /* attempts so far, this one included */
	int have_dest;
	struct deliv_dest dest;
	struct deliv_result res;
	char msg_id[MAIL_MSGID_SIZE]; /* the message's, for the event ("" = not read) */
	char acc[32];                 /* the account's code, likewise */
	int32_t state;
	int64_t next;
	int rc; /* of the record */
	int bounce;
};

/* The delivery of a->job (nothing recorded yet). A Maildir delivery leaves new/'s fsync to
 * sync_batch. */
static void attempt_one(struct delivery *d, struct worker_cache *c, struct attempt *a)
{
	const struct delivery_job *job = a->job;
	const struct config *cfg = d->cfg;
	struct smtpc_opts o = {cfg->smtp_hostname, DELIVERY_CONNECT_MS, DELIVERY_ATTEMPT_MS};
	struct err e = {0};
	char *xbody = NULL, penalised[MAIL_REPLY_SIZE];
	size_t xlen = 0;
	int trc;
	int64_t left = a->lease_until - real_now_ms() - DELIVERY_MARGIN_MS;

	a->t0 = mono_ms();
	a->number = job->rcpt.attempts + 1;
	memset(&a->res, 0, sizeof(a->res));
	if (left < o.timeout_ms)
		o.timeout_ms = left;
	if (o.connect_timeout_ms > o.timeout_ms)
		o.connect_timeout_ms = o.timeout_ms;
	a->have_dest = route_resolve(job->dest, job->route, cfg, &a->dest, &e) == 0;
	if (!a->have_dest) {
		deliv_result_set(&a->res, DELIV_DEFER, 451, 0, "4.3.5 bad mail route: %s", e.msg);
	} else if (cache_load(d, c, job, &e) != 0) {
		deliv_result_set(&a->res, DELIV_DEFER, 451, 0, "4.3.0 cannot read the message: %s",
		                 e.msg);
	} else if (a->dest.kind == DEST_SMTP &&
	           penalty_check(&d->penalty, a->dest.name, real_now_ms(), penalised,
	                         sizeof(penalised))) {
		deliv_result_set(&a->res, DELIV_DEFER, 451, 0,
		                 "4.4.1 %s not tried: it failed less than a minute ago (%s)",
		                 a->dest.name, penalised);
	} else if ((trc = delivery_transform(d, job, c, &xbody, &xlen, &e)) != 0) {
		if (trc == MC_ERR_INVALID) /* the hook refuses the message for good */
			deliv_result_set(&a->res, DELIV_FAIL, 554, 0, "5.7.0 %s", e.msg);
		else
			deliv_result_set(&a->res, DELIV_DEFER, 451, 0, "4.3.0 %s", e.msg);
	} else {
		a->dest.maildir_key = (uint64_t)job->rcpt.id;
		a->dest.maildir_batch = 1;
		route_deliver(&a->dest, &o, job->env_from, job->rcpt.addr, xbody ? xbody : c->body,
		              xbody ? xlen : c->body_len, &a->res);
		if (a->dest.kind == DEST_SMTP && a->res.site)
			penalty_add(&d->penalty, a->dest.name, real_now_ms(), a->res.reply);
		else if (a->dest.kind == DEST_SMTP && a->res.status == DELIV_SENT)
			penalty_clear(&d->penalty, a->dest.name);
	}
	free(xbody);
	/* shown in SIEM delivery logs: on the record clock, 0 when it stands still */
	a->latency = date_frozen() ? 0 : mono_ms() - a->t0;
	a->msg_id[0] = '\0';
	if (c->have_msg && c->message_id == job->rcpt.message_id)
		snprintf(a->msg_id, sizeof(a->msg_id), "%s", c->msg.msg_id);
	snprintf(a->acc, sizeof(a->acc), "%s", c->account_id == job->account_id ? c->acc : "");
}

/* The fsync of each Maildir new/ the batch's files went to, once per directory, before any
 * outcome is recorded: "delivered" is written only for a file that is durable under its
 * name. A directory that cannot be synced defers its recipients; their next attempt writes
 * the same file name again (maildir_deliver_batch). */
static int same_new_dir(const struct attempt *a, const char *dir)
{
	char d[DELIVERY_PATH_MAX];
	size_t n;

	if (maildir_path(a->dest.root, a->job->rcpt.addr, d, sizeof(d) - 4) != 0)
		return 0;
	n = strlen(d);
	memcpy(d + n, "/new", 5);
	return strcmp(d, dir) == 0;
}

static void sync_batch(struct attempt *a, int n)
{
	char di[DELIVERY_PATH_MAX];

	for (int i = 0; i < n; i++) {
		struct deliv_result r;
		int failed;

		if (a[i].res.status != DELIV_SENT || !a[i].res.new_unsynced)
			continue;
		failed = maildir_sync_new(a[i].dest.root, a[i].job->rcpt.addr, di, sizeof(di),
		                          &r) != 0;
		for (int j = i; j < n; j++) {
			if (a[j].res.status != DELIV_SENT || !a[j].res.new_unsynced)
				continue;
			if (j > i && !same_new_dir(&a[j], di))
				continue;
			a[j].res.new_unsynced = 0;
			if (failed)
				a[j].res = r;
		}
	}
}

/* Records one outcome (done): the decision and its event. */
static int record_one(struct delivery *d, struct attempt *a, struct err *e)
{
	const struct delivery_job *job = a->job;
	struct delivery_event_in evin = {0};
	struct mail_event ev = {"delivery", NULL};
	struct message m;
	struct buf evb;
	int rc;

	buf_init(&evb, 16384);
	memset(&m, 0, sizeof(m));
	snprintf(m.msg_id, sizeof(m.msg_id), "%s", a->msg_id);
	evin.job = job;
	evin.msg = a->msg_id[0] ? &m : NULL;
	evin.acc = a->acc;
	evin.dest = a->have_dest ? &a->dest : NULL;
	evin.res = &a->res;
	evin.attempt = a->number;
	evin.state = a->state;
	evin.at = now_ms();
	evin.latency = a->latency;
	if (delivery_event_json(&evin, &evb) == 0)
		ev.data = evb.data;
	a->bounce = 0;
	rc = d->ops->done(d->st, job->rcpt.id, a->lease_until, a->state, a->next, a->res.reply,
	                  ev.data ? &ev : NULL, &a->bounce, e);
	buf_release(&evb);
	return rc;
}

/* Decides and records the outcomes of a[0..n): in one store transaction when the store has
 * them (one commit for the batch instead of one per recipient), else, or when anything but
 * a lost lease fails in it, one by one. Then the log lines and the bounces. */
static void record_batch(struct delivery *d, struct worker_cache *c, struct attempt *a, int n)
{
	const struct config *cfg = d->cfg;
	struct err e = {0};
	char q[DELIVERY_LOG_VALUE], qa[DELIVERY_LOG_VALUE], qr[DELIVERY_LOG_VALUE];
	int batched = 0;

	/* retries follow real time; received is on the record clock, which may stand still
	 * (--deterministic): the message's age is taken on the record clock */
	int64_t real = real_now_ms(), shift = real - now_ms();
	for (int i = 0; i < n; i++)
		a[i].state = retry_decide(a[i].res.status, a[i].number, real,
		                          a[i].job->received + shift, cfg->retry_min,
		                          cfg->retry_max, cfg->queue_max_age, &a[i].next);
	if (n > 1 && d->ops->tx_begin && d->ops->tx_begin(d->st, &e) == 0) {
		batched = 1;
		for (int i = 0; i < n && batched; i++) {
			a[i].rc = record_one(d, &a[i], &e);
			if (a[i].rc && a[i].rc != MC_ERR_STATE && a[i].rc != MC_ERR_NOT_FOUND)
				batched = 0;
		}
		if (!batched)
			d->ops->tx_rollback(d->st);
		else if (d->ops->tx_commit(d->st, &e) != 0) {
			d->ops->tx_rollback(d->st);
			batched = 0;
		}
		if (!batched)
			log_warn("msg=\"delivery outcomes not recorded together: one by one\" "
			         "reason=%s",
			         log_quote(e.msg, q, sizeof(q)));
	}
	for (int i = 0; i < n && !batched; i++) {
		err_clear(&e);
		a[i].rc = record_one(d, &a[i], &e);
		if (a[i].rc && a[i].rc != MC_ERR_STATE)
			log_warn("msg=\"delivery outcome not recorded\" acode=%s reason=%s",
			         a[i].job->acode, log_quote(e.msg, q, sizeof(q)));
	}
	for (int i = 0; i < n; i++) {
		const struct delivery_job *job = a[i].job;
		int rc = a[i].rc;

		log_info("msg=delivery acode=%s rcpt=%s route=%s attempt=%d state=%s reply=%s%s%s",
		         job->acode, log_quote(job->rcpt.addr, qa, sizeof(qa)),
		         log_quote(a[i].have_dest ? a[i].dest.name : "-", qr, sizeof(qr)),
		         a[i].number, delivery_state_name(a[i].state),
		         log_quote(a[i].res.reply, q, sizeof(q)), rc ? " error=" : "",
		         rc ? err_name(rc) : "");
		if (rc == MC_ERR_STATE)
			log_info("msg=\"delivery lease lost: outcome dropped\" acode=%s rcpt=%s",
			         job->acode, qa);
		if (rc == 0 && a[i].bounce) {
			/* the DSN quotes the original's header: this message's body */
			err_clear(&e);
			cache_load(d, c, job, &e);
			delivery_bounce(d, job, c, a[i].state, &a[i].res);
		}
	}
}

static void *delivery_worker(void *arg)
{
	struct delivery *d = arg;
	struct delivery_job *jobs = calloc(DELIVERY_BATCH, sizeof(*jobs));
	struct attempt *att = calloc(DELIVERY_BATCH, sizeof(*att));
	struct worker_cache cache;
	struct err e = {0};
	char q[DELIVERY_LOG_VALUE];

	memset(&cache, 0, sizeof(cache));
	mail_thread_nice(d->cfg);
	if (!jobs || !att) {
		log_error("msg=\"delivery worker out of memory\"");
		free(jobs);
		free(att);
		return NULL;
	}
	while (!delivery_stopping(d)) {
		int64_t lease_ms = d->cfg->mail_lease > 0 ? (int64_t)d->cfg->mail_lease * 1000
		                                          : DELIVERY_LEASE_MS;
		int64_t now = real_now_ms(), lease_until = now + lease_ms;
		int n = 0, m, rc;

		rc = d->ops->lease(d->st, now, lease_ms, jobs, DELIVERY_BATCH, &n, &e);
		if (rc != 0) {
			log_warn("msg=\"delivery lease failed\" reason=%s",
			         log_quote(e.msg, q, sizeof(q)));
			n = 0;
		}
		if (n == 0) {
			delivery_wait(d, d->poll_ms);
			continue;
		}
		m = 0;
		for (int i = 0; i < n && !delivery_stopping(d); i++) {
			int64_t until =
			        jobs[i].rcpt.lease_until ? jobs[i].rcpt.lease_until : lease_until;

			if (until - real_now_ms() < DELIVERY_MARGIN_MS + DELIVERY_MIN_ATTEMPT_MS)
				break; /* the rest is leased again when this lease runs out */
			memset(&att[m], 0, sizeof(att[m]));
			att[m].job = &jobs[i];
			att[m].lease_until = until;
			attempt_one(d, &cache, &att[m++]);
		}
		sync_batch(att, m);
		record_batch(d, &cache, att, m);
		/* bodies are not kept between batches: a worker holds at most one message */
		cache_release(d, &cache);
	}
	cache_release(d, &cache);
	free(jobs);
	free(att);
	return NULL;
}

struct delivery *delivery_start_ops(struct server *srv, const struct delivery_store_ops *ops,
                                    int poll_ms, struct err *e)
{
	struct delivery *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	int n = srv->cfg->delivery_threads > 0 ? srv->cfg->delivery_threads : 1;

	if (!d) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	d->srv = srv;
	d->cfg = srv->cfg;
	d->st = srv->store;
	d->ops = ops;
	d->poll_ms = poll_ms > 0 ? poll_ms : DELIVERY_POLL_MS;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	penalty_init(&d->penalty);
	d->threads = calloc((size_t)n, sizeof(*d->threads));
	if (!d->threads) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		delivery_stop(d);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		int rc = pthread_create(&d->threads[i], NULL, delivery_worker, d);

		if (rc != 0) {
			err_set(e, MC_ERR_INTERNAL, "cannot start a delivery worker: %s",
			        strerror(rc));
			delivery_stop(d);
			return NULL;
		}
		d->nthreads++;
	}
	log_info("msg=\"delivery started\" threads=%d maildir_root=%s smarthost=%s", n,
	         d->cfg->maildir_root, d->cfg->smarthost[0] ? d->cfg->smarthost : "-");
	return d;
}

void delivery_kick(struct delivery *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	if (d->kicks < (unsigned)d->nthreads * 4)
		d->kicks++;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void delivery_set_transform(struct delivery *d, delivery_transform_fn fn, void *arg)
{
	pthread_mutex_lock(&d->mu);
	d->transform = fn;
	d->transform_arg = arg;
	pthread_mutex_unlock(&d->mu);
}

void delivery_stop(struct delivery *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stopping = 1;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	for (int i = 0; i < d->nthreads; i++)
		pthread_join(d->threads[i], NULL);
	free(d->threads);
	penalty_release(&d->penalty);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
