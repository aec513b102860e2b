/* The public mail functions of the store (store_mail.h), the same for every backend: names
 * of the enums, argument checks (texts terminated in their arrays, states an action
 * accepts, relay addresses made canonical, routes of a known form), the body reader that
 * cuts a spooled message into chunks, group commit of accepts (store_mail_int.h), the
 * folding of recipient states into queue buckets, and the purge loop. Then a call through
 * the backend's mail table (store_ops.mail). */
#include "store_int.h"
#include "store_mail_int.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/banned.h"

#define BODY_MAX       ((int64_t)1 << 30) /* 1 GiB: far above any SMTP size limit */
#define MAX_RCPTS      1000
#define MAX_EVENTS     64
#define GC_BATCH       100
#define BODY_GC_AGE_MS (3600 * 1000)

const char *mail_route_name(enum mail_route r)
{
	switch (r) {
	case MAIL_INBOUND:
		return "inbound";
	case MAIL_OUTBOUND:
		return "outbound";
	case MAIL_INTERNAL:
		return "internal";
	}
	return "unknown";
}

const char *msg_status_name(enum msg_status s)
{
	static const char *const names[] = {"received", "held",    "processing", "delivered",
	                                    "rejected", "bounced", "released",   "discarded"};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

const char *rcpt_state_name(enum rcpt_state s)
{
	static const char *const names[] = {"pending", "inflight", "delivered", "deferred",
	                                    "failed",  "expired",  "held",      "rejected"};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

void message_release(struct message *m)
{
	if (!m)
		return;
	free(m->attachments);
	free(m->urls);
	m->attachments = NULL;
	m->urls = NULL;
}

/* ---- checks ---- */

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#define TEXT_OK(rec, field) terminated((rec)->field, sizeof((rec)->field))

static int check_message(const struct message *m, struct err *e)
{
	if (!TEXT_OK(m, acode) || !TEXT_OK(m, msg_id) || !TEXT_OK(m, env_from) ||
	    !TEXT_OK(m, from_addr) || !TEXT_OK(m, from_name) || !TEXT_OK(m, subject) ||
	    !TEXT_OK(m, client_ip) || !TEXT_OK(m, helo) || !TEXT_OK(m, tls_version) ||
	    !TEXT_OK(m, tls_cipher) || !TEXT_OK(m, hold_reason) || !TEXT_OK(m, hold_reason_id))
		return err_set(e, MC_ERR_INVALID, "a message field is not terminated");
	if (m->route < MAIL_INBOUND || m->route > MAIL_INTERNAL)
		return err_set(e, MC_ERR_INVALID, "mail route %d is not valid", (int)m->route);
	return 0;
}

static int check_events(const struct mail_event *ev, int n, struct err *e)
{
	if (n < 0 || n > MAX_EVENTS || (n > 0 && !ev))
		return err_set(e, MC_ERR_INVALID, "%d events out of range", n);
	for (int i = 0; i < n; i++) {
		size_t len = ev[i].type ? strlen(ev[i].type) : 0;
		json_t *v;
		if (len == 0 || len > 31 || !ev[i].data)
			return err_set(e, MC_ERR_INVALID, "a mail event needs a type and data");
		v = json_loads(ev[i].data, JSON_REJECT_DUPLICATES, NULL);
		len = json_is_object(v);
		json_decref(v);
		if (!len)
			return err_set(e, MC_ERR_INVALID,
			               "the data of a '%s' event is not a JSON object", ev[i].type);
	}
	return 0;
}

/* ---- bodies ---- */

static void gate_enter(struct store *st);
static void gate_leave(struct store *st);

/* Reads exactly n bytes from fd into buf. */
static int read_full(int fd, char *buf, size_t n, int64_t offset, int64_t size, struct err *e)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, MC_ERR_IO, "read message body: %s", strerror(errno));
		if (r == 0)
			return err_set(e, MC_ERR_IO, "message body ends after %lld of %lld bytes",
			               (long long)(offset + (int64_t)got), (long long)size);
		got += (size_t)r;
	}
	return 0;
}

int store_body_put(struct store *st, int fd, int64_t size, int64_t *body_id, struct err *e)
{
	const struct store_mail_ops *ops = st->ops->mail;
	char *buf = NULL;
	int64_t id = 0, off = 0;
	int rc, seq = 0;

	*body_id = 0;
	if (size < 0 || size > BODY_MAX)
		return err_set(e, MC_ERR_TOO_LARGE, "message body of %lld bytes out of range",
		               (long long)size);
	if (ops->in_tx(st))
		return err_set(e, MC_ERR_INTERNAL, "a body is written in transactions of its own");
	buf = malloc(MAIL_CHUNK);
	if (!buf)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	gate_enter(st);
	rc = ops->body_new(st, size, now_ms(), &id, e);
	gate_leave(st);
	while (!rc && off < size) {
		size_t n = size - off < MAIL_CHUNK ? (size_t)(size - off) : MAIL_CHUNK;
		rc = read_full(fd, buf, n, off, size, e);
		if (!rc) {
			gate_enter(st);
			rc = ops->body_chunk(st, id, seq++, buf, n, e);
			gate_leave(st);
		}
		off += (int64_t)n;
	}
	if (rc && id)
		ops->body_drop(st, id);
	else if (!rc)
		*body_id = id;
	free(buf);
	return rc;
}

int store_body_get(struct store *st, int64_t body_id, char **data, size_t *len, struct err *e)
{
	*data = NULL;
	*len = 0;
	if (body_id <= 0)
		return err_set(e, MC_ERR_NOT_FOUND, "no message body %lld", (long long)body_id);
	return st->ops->mail->body_get(st, body_id, data, len, e);
}

/* ---- intake: group commit ---- */

/* The intake queue, and (for a backend with one writer at a time, SQLite) the write gate:
 * a FIFO ticket lock that body chunks and batches take in turn. Without it, a batch's
 * leader, awake and holding no lock, would take SQLite's write lock again right after its
 * commit while the body writers still sleep in their busy handlers: batches of one or two
 * and writers starved. In turn, the writers queued behind a batch write their bodies while
 * it syncs, then queue their accepts, and the next batch takes them all. */
struct mail_intake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mail_accept_req *head, *tail; /* waiting for a leader */
	int busy;                            /* a leader is committing a batch */
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	unsigned long next_ticket, serving;
};

int mail_intake_new(struct mail_intake **out)
{
	struct mail_intake *in = calloc(1, sizeof(*in));
	int ok = 0;

	*out = NULL;
	if (!in)
		return MC_ERR_NOMEM;
	if (pthread_mutex_init(&in->mu, NULL) == 0) {
		ok++;
		if (pthread_cond_init(&in->cv, NULL) == 0) {
			ok++;
			if (pthread_mutex_init(&in->gate_mu, NULL) == 0) {
				ok++;
				if (pthread_cond_init(&in->gate_cv, NULL) == 0)
					ok++;
			}
		}
	}
	if (ok == 4) {
		*out = in;
		return 0;
	}
	if (ok > 2)
		pthread_mutex_destroy(&in->gate_mu);
	if (ok > 1)
		pthread_cond_destroy(&in->cv);
	if (ok > 0)
		pthread_mutex_destroy(&in->mu);
	free(in);
	return MC_ERR_NOMEM;
}

void mail_intake_free(struct mail_intake *in)
{
	if (!in)
		return;
	pthread_cond_destroy(&in->gate_cv);
	pthread_mutex_destroy(&in->gate_mu);
	pthread_cond_destroy(&in->cv);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

static void gate_enter(struct store *st)
{
	struct mail_intake *in = st->intake;
	unsigned long ticket;

	if (!st->ops->mail->one_writer)
		return;
	pthread_mutex_lock(&in->gate_mu);
	ticket = in->next_ticket++;
	while (in->serving != ticket)
		pthread_cond_wait(&in->gate_cv, &in->gate_mu);
	pthread_mutex_unlock(&in->gate_mu);
}

static void gate_leave(struct store *st)
{
	struct mail_intake *in = st->intake;

	if (!st->ops->mail->one_writer)
		return;
	pthread_mutex_lock(&in->gate_mu);
	in->serving++;
	pthread_cond_broadcast(&in->gate_cv);
	pthread_mutex_unlock(&in->gate_mu);
}

/* Queues req and returns once a batch holding it is committed (or failed). The caller that
 * finds no batch under way commits one itself: whatever queued up while the previous batch
 * was being committed goes in one transaction, so N concurrent accepts cost about one
 * durable commit, not N. */
static int intake_run(struct store *st, struct mail_accept_req *req, struct err *e)
{
	struct mail_intake *in = st->intake;

	pthread_mutex_lock(&in->mu);
	if (in->tail)
		in->tail->next = req;
	else
		in->head = req;
	in->tail = req;
	while (!req->done) {
		struct mail_accept_req *batch[MAIL_BATCH_MAX];
		struct err be;
		int n = 0, rc;

		if (in->busy) {
			pthread_cond_wait(&in->cv, &in->mu);
			continue;
		}
		in->busy = 1;
		/* our turn to write first: what queues meanwhile joins this batch */
		pthread_mutex_unlock(&in->mu);
		gate_enter(st);
		pthread_mutex_lock(&in->mu);
		while (in->head && n < MAIL_BATCH_MAX) {
			batch[n++] = in->head;
			in->head = in->head->next;
		}
		if (!in->head)
			in->tail = NULL;
		pthread_mutex_unlock(&in->mu);
		err_clear(&be);
		rc = st->ops->mail->accept_batch(st, batch, n, &be);
		gate_leave(st);
		pthread_mutex_lock(&in->mu);
		for (int i = 0; i < n; i++) {
			if (rc && !batch[i]->rc) {
				batch[i]->rc = rc;
				batch[i]->err = be;
			}
			if (batch[i]->rc)
				batch[i]->m->id = 0;
			batch[i]->done = 1;
		}
		in->busy = 0;
		pthread_cond_broadcast(&in->cv);
	}
	pthread_mutex_unlock(&in->mu);
	if (req->rc && e)
		*e = req->err;
	return req->rc;
}

/* store_message_accept, with body[0..body_len) written in the batch when body is given. */
static int accept_req(struct store *st, struct message *m, const void *body, size_t body_len,
                      const struct mail_rcpt *rcpts, int nrcpts, const struct mail_event *events,
                      int nevents, struct err *e)
{
	struct mail_accept_req req;
	int rc = check_message(m, e);

	if (!rc)
		rc = check_events(events, nevents, e);
	if (rc)
		return rc;
	if (nrcpts < (m->status == MSG_REJECTED ? 0 : 1) || nrcpts > MAX_RCPTS ||
	    (nrcpts > 0 && !rcpts))
		return err_set(e, MC_ERR_INVALID, "%d recipients out of range", nrcpts);
	for (int i = 0; i < nrcpts; i++)
		if (!TEXT_OK(&rcpts[i], addr) || !rcpts[i].addr[0])
			return err_set(e, MC_ERR_INVALID,
			               "a recipient address is empty or too long");
	if (m->account_id <= 0 || m->body_id < 0 || m->size < 0)
		return err_set(e, MC_ERR_INVALID, "a message needs an account");
	if (st->ops->mail->in_tx(st))
		return err_set(
		        e, MC_ERR_INTERNAL,
		        "a message is accepted in a transaction of its own, not the caller's");
	if (m->status != MSG_REJECTED)
		m->status = MSG_RECEIVED;
	m->processed = 0;
	m->nrcpt = nrcpts;
	m->id = 0;
	if (m->received <= 0)
		m->received = now_ms();
	if (!m->acode[0]) {
		/* 16 random bytes in base64url: 22 characters, as the real aCodes */
		char code[B64_ENCODED_SIZE(16)];
		random_token(RND_MESSAGE, 16, code, sizeof(code));
		snprintf(m->acode, sizeof(m->acode), "%.22s", code);
	}
	memset(&req, 0, sizeof(req));
	req.m = m;
	req.rcpts = rcpts;
	req.nrcpts = nrcpts;
	req.events = events;
	req.nevents = nevents;
	req.body = body;
	req.body_len = body_len;
	return intake_run(st, &req, e);
}

int store_message_accept(struct store *st, struct message *m, const struct mail_rcpt *rcpts,
                         int nrcpts, const struct mail_event *events, int nevents, struct err *e)
{
	return accept_req(st, m, NULL, 0, rcpts, nrcpts, events, nevents, e);
}

/* store_body_put from memory. */
static int body_put_mem(struct store *st, const char *data, size_t len, int64_t *body_id,
                        struct err *e)
{
	const struct store_mail_ops *ops = st->ops->mail;
	int64_t id = 0;
	size_t off = 0;
	int rc, seq = 0;

	*body_id = 0;
	gate_enter(st);
	rc = ops->body_new(st, (int64_t)len, now_ms(), &id, e);
	gate_leave(st);
	while (!rc && off < len) {
		size_t n = len - off < MAIL_CHUNK ? len - off : MAIL_CHUNK;
		gate_enter(st);
		rc = ops->body_chunk(st, id, seq++, data + off, n, e);
		gate_leave(st);
		off += n;
	}
	if (rc && id)
		ops->body_drop(st, id);
	else if (!rc)
		*body_id = id;
	return rc;
}

int store_message_accept_body(struct store *st, struct message *m, const void *body, size_t len,
                              const struct mail_rcpt *rcpts, int nrcpts,
                              const struct mail_event *events, int nevents, struct err *e)
{
	int rc;

	if (!body || m->body_id || m->status == MSG_REJECTED)
		return err_set(e, MC_ERR_INVALID, "an accept with its body needs the body alone");
	if ((int64_t)len > BODY_MAX)
		return err_set(e, MC_ERR_TOO_LARGE, "message body of %zu bytes out of range", len);
	if (st->ops->mail->one_writer && len <= MAIL_INLINE)
		return accept_req(st, m, body, len, rcpts, nrcpts, events, nevents, e);
	if (st->ops->mail->in_tx(st))
		return err_set(e, MC_ERR_INTERNAL, "a body is written in transactions of its own");
	if ((rc = body_put_mem(st, body, len, &m->body_id, e)) != 0)
		return rc;
	rc = accept_req(st, m, NULL, 0, rcpts, nrcpts, events, nevents, e);
	if (rc) {
		/* unclaimed: deleted now, or by store_mail_gc if this fails too */
		st->ops->mail->body_drop(st, m->body_id);
		m->body_id = 0;
	}
	return rc;
}

/* ---- the process stage ---- */

int store_message_lease_unprocessed(struct store *st, int64_t now, int64_t lease_ms,
                                    struct message *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (lease_ms <= 0)
		return err_set(e, MC_ERR_INVALID, "a lease needs a positive length");
	return st->ops->mail->lease_unprocessed(st, now, now + lease_ms, out, e);
}

int store_message_processed(struct store *st, const struct message *m,
                            const struct mail_event *events, int nevents, struct err *e)
{
	int32_t status;
	int rc = check_message(m, e);

	if (!rc)
		rc = check_events(events, nevents, e);
	if (rc)
		return rc;
	switch (m->status) {
	case MSG_RECEIVED:
	case MSG_PROCESSING:
		status = MSG_PROCESSING; /* processed, delivery under way */
		break;
	case MSG_HELD:
	case MSG_DISCARDED:
		status = m->status;
		break;
	default:
		return err_set(e, MC_ERR_INVALID, "the process stage cannot make a message '%s'",
		               msg_status_name((enum msg_status)m->status));
	}
	return st->ops->mail->processed(st, m, status, now_ms(), events, nevents, e);
}

/* ---- reading messages ---- */

int store_message_get(struct store *st, int64_t account_id, int64_t id, struct message *out,
                      struct err *e)
{
	memset(out, 0, sizeof(*out));
	return st->ops->mail->message_get(st, account_id, id, out, e);
}

int store_message_rcpts(struct store *st, int64_t message_id,
                        int (*fn)(void *arg, const struct mail_rcpt *r), void *arg, struct err *e)
{
	return st->ops->mail->message_rcpts(st, message_id, fn, arg, e);
}

int store_message_list(struct store *st, const struct message_query *q, int64_t after_received,
                       int64_t after_id, int limit, int (*fn)(void *arg, const struct message *m),
                       void *arg, struct err *e)
{
	struct message_query n = *q;

	if (!TEXT_OK(q, msg_id) || !TEXT_OK(q, from) || !TEXT_OK(q, to) || !TEXT_OK(q, subject) ||
	    !TEXT_OK(q, client_ip) || !TEXT_OK(q, hold_reason))
		return err_set(e, MC_ERR_INVALID, "a message query field is not terminated");
	if (limit <= 0)
		return 0;
	if (n.from_time < 0)
		n.from_time = 0;
	if (n.to_time <= 0)
		n.to_time = INT64_MAX;
	if (n.status < 0)
		n.status = -1;
	if (n.route < 0)
		n.route = -1;
	if (n.held_only) {
		if (n.status >= 0 && n.status != MSG_HELD)
			return 0;
		n.status = MSG_HELD;
	}
	n.held_only = 0;
	n.processing_only = !!n.processing_only;
	if (n.account_id < 0)
		return 0;
	if (after_received == 0 && after_id == 0) {
		after_received = n.oldest_first ? INT64_MIN : INT64_MAX;
		after_id = after_received;
	}
	return st->ops->mail->message_list(st, &n, after_received, after_id, limit, fn, arg, e);
}

int store_hold_summary(struct store *st, int64_t account_id,
                       int (*fn)(void *arg, const char *reason, int64_t count), void *arg,
                       struct err *e)
{
	return st->ops->mail->hold_summary(st, account_id, fn, arg, e);
}

/* The bucket of get-email-queues a recipient state counts in, or -1. */
static int state_bucket(int state)
{
	switch (state) {
	case RCPT_PENDING:
	case RCPT_INFLIGHT:
		return 0;
	case RCPT_DEFERRED:
		return 1;
	case RCPT_DELIVERED:
		return 2;
	case RCPT_FAILED:
	case RCPT_EXPIRED:
		return 3;
	case RCPT_HELD:
		return 4;
	default:
		return -1;
	}
}

static const char *const bucket_names[] = {"pending", "deferred", "delivered", "failed", "held"};
#define NBUCKETS ((int)(sizeof(bucket_names) / sizeof(bucket_names[0])))

struct counts {
	int64_t n[MAIL_INTERNAL + 1][NBUCKETS];
};

static int count_state(void *arg, int route, int state, int64_t n)
{
	struct counts *c = arg;
	int b = state_bucket(state);

	if (b >= 0 && route >= MAIL_INBOUND && route <= MAIL_INTERNAL)
		c->n[route][b] += n;
	return 0;
}

int store_mail_queue_counts(struct store *st, int64_t account_id, int64_t from, int64_t to,
                            int (*fn)(void *arg, int route, const char *bucket, int64_t n),
                            void *arg, struct err *e)
{
	struct counts c;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = st->ops->mail->queue_counts(st, account_id, from < 0 ? 0 : from,
	                                 to <= 0 ? INT64_MAX : to, count_state, &c, e);
	for (int r = MAIL_INBOUND; !rc && r <= MAIL_INTERNAL; r++)
		for (int b = 0; !rc && b < NBUCKETS; b++)
			if (c.n[r][b])
				rc = fn(arg, r, bucket_names[b], c.n[r][b]);
	return rc;
}

/* ---- the hold queue ---- */

int store_message_release_hold(struct store *st, int64_t account_id, int64_t id, int64_t now,
                               const struct mail_event *ev, struct err *e)
{
	int rc = check_events(ev, ev ? 1 : 0, e);

	return rc ? rc : st->ops->mail->hold_action(st, account_id, id, now, 1, ev, e);
}

int store_message_reject_hold(struct store *st, int64_t account_id, int64_t id, int64_t now,
                              const struct mail_event *ev, struct err *e)
{
	int rc = check_events(ev, ev ? 1 : 0, e);

	return rc ? rc : st->ops->mail->hold_action(st, account_id, id, now, 0, ev, e);
}

/* ---- delivery ---- */

int store_delivery_lease(struct store *st, int64_t now, int64_t lease_ms, struct delivery_job *jobs,
                         int max, int *n, struct err *e)
{
	*n = 0;
	if (lease_ms <= 0)
		return err_set(e, MC_ERR_INVALID, "a lease needs a positive length");
	if (max <= 0)
		return 0;
	return st->ops->mail->delivery_lease(st, now, now + lease_ms, jobs, max, n, e);
}

int store_delivery_done(struct store *st, int64_t rcpt_id, int64_t lease_until, int32_t state,
                        int64_t next_attempt, const char *reply, const struct mail_event *ev,
                        int *bounce, struct err *e)
{
	int dummy = 0;
	int rc = check_events(ev, ev ? 1 : 0, e);

	if (!bounce)
		bounce = &dummy;
	*bounce = 0;
	if (rc)
		return rc;
	if (state != RCPT_DELIVERED && state != RCPT_DEFERRED && state != RCPT_FAILED &&
	    state != RCPT_EXPIRED)
		return err_set(e, MC_ERR_INVALID, "a delivery attempt cannot end in state '%s'",
		               rcpt_state_name((enum rcpt_state)state));
	return st->ops->mail->delivery_done(st, rcpt_id, lease_until, state, next_attempt, now_ms(),
	                                    reply ? reply : "", ev, bounce, e);
}

/* ---- routes and relays ---- */

int store_mail_domain(struct store *st, const char *name, struct mail_domain *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (!name || !*name || strlen(name) > 253)
		return err_set(e, MC_ERR_NOT_FOUND, "no internal domain of that name");
	return st->ops->mail->mail_domain(st, name, out, e);
}

/* "" or smtp://HOST[:PORT] or maildir:PATH, printable, shorter than MAIL_ROUTE_SIZE. */
static int check_route(const char *route, struct err *e)
{
	size_t n = strnlen(route, MAIL_ROUTE_SIZE);

	if (n == MAIL_ROUTE_SIZE)
		return err_set(e, MC_ERR_INVALID, "mail route too long");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)route[i] < 0x20 || route[i] == 0x7f)
			return err_set(e, MC_ERR_INVALID, "mail route holds a control character");
	if (n == 0 || (strncmp(route, "smtp://", 7) == 0 && n > 7) ||
	    (strncmp(route, "maildir:", 8) == 0 && n > 8))
		return 0;
	return err_set(e, MC_ERR_INVALID,
	               "mail route '%s' is neither smtp://HOST:PORT nor maildir:PATH", route);
}

int store_mail_set_route(struct store *st, int64_t account_id, const char *domain,
                         const char *route, struct err *e)
{
	int rc = check_route(route ? route : "", e);

	if (rc)
		return rc;
	if (!domain || !*domain || strlen(domain) > 253)
		return err_set(e, MC_ERR_NOT_FOUND, "no such internal domain");
	return st->ops->mail->set_route(st, account_id, domain, route ? route : "", e);
}

/* The canonical text of an address or CIDR prefix: the address as inet_ntop writes it with
 * the bits past the prefix cleared, and "/len" unless the prefix is the whole address
 * ("192.0.2.7", "10.0.0.0/8", "2001:db8::/32"). So every spelling of one network is one
 * row. */
static int relay_canon(const char *in, char out[64], struct err *e)
{
	unsigned char bin[16];
	char addr[INET6_ADDRSTRLEN + 1], text[INET6_ADDRSTRLEN];
	const char *slash = strchr(in, '/');
	size_t alen = slash ? (size_t)(slash - in) : strlen(in);
	int af, bits, prefix;

	if (alen == 0 || alen >= sizeof(addr))
		goto bad;
	memcpy(addr, in, alen);
	addr[alen] = '\0';
	af = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, addr, bin) != 1)
		goto bad;
	bits = af == AF_INET6 ? 128 : 32;
	prefix = bits;
	if (slash) {
		const char *p = slash + 1;
		size_t len = strlen(p);
		if (len == 0 || len > 3 || strspn(p, "0123456789") != len)
			goto bad;
		prefix = 0;
		for (; *p; p++)
			prefix = prefix * 10 + (*p - '0');
		if (prefix > bits)
			goto bad;
	}
	for (int i = prefix; i < bits; i++)
		bin[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	if (!inet_ntop(af, bin, text, sizeof(text)))
		goto bad;
	if (prefix == bits)
		snprintf(out, 64, "%s", text);
	else
		snprintf(out, 64, "%s/%d", text, prefix);
	return 0;
bad:
	return err_set(e, MC_ERR_INVALID, "'%.64s' is not an IP address or CIDR prefix", in);
}

int store_relay_add(struct store *st, int64_t account_id, const char *cidr, struct err *e)
{
	char canon[64];
	int rc = relay_canon(cidr, canon, e);

	return rc ? rc : st->ops->mail->relay_add(st, account_id, canon, now_ms(), e);
}

int store_relay_remove(struct store *st, int64_t account_id, const char *cidr, struct err *e)
{
	char canon[64];
	int rc = relay_canon(cidr, canon, e);

	return rc ? rc : st->ops->mail->relay_remove(st, account_id, canon, e);
}

int store_relay_list(struct store *st, int64_t account_id, int (*fn)(void *arg, const char *cidr),
                     void *arg, struct err *e)
{
	return st->ops->mail->relay_list(st, account_id, fn, arg, e);
}

/* ---- housekeeping ---- */

int store_mail_reclaim(struct store *st, int64_t now, struct err *e)
{
	return st->ops->mail->reclaim ? st->ops->mail->reclaim(st, now, e) : 0;
}

int store_mail_gc(struct store *st, int64_t now, int64_t retention_ms, struct err *e)
{
	int more = 1, rc = 0;

	if (retention_ms <= 0)
		return err_set(e, MC_ERR_INVALID, "mail retention must be positive");
	while (!rc && more)
		rc = st->ops->mail->gc_step(st, now - BODY_GC_AGE_MS, now - retention_ms, GC_BATCH,
		                            &more, e);
	return rc;
}
