/* Asynchronous TXT lookups; see dns.h. One c-ares channel per resolver, driven by one thread over
 * epoll: c-ares reports its sockets through the sock-state callback; other threads append lookups
 * to a queue under a mutex and wake the loop through an eventfd. Only the resolver thread touches
 * the channel and its lists. At most DNS_MAX_ACTIVE unanswered queries are in c-ares at once and
 * the rest wait their turn, because a burst of answers larger than the socket's receive buffer is
 * dropped by the kernel and only comes back after a retry. Every lookup carries its own deadline,
 * as c-ares only bounds single tries: when it passes the caller hears DNS_TIMEOUT at once, and the
 * c-ares query (which cannot be cancelled on its own) ends later without a second callback. */
#include "dns.h"
#include "dns_int.h"

#include "common/buf.h"
#include "common/err.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

#define DNS_SERVERS_MAX 4096 /* bytes of the servers list */
#define DNS_EVENTS      64   /* epoll events taken per wake-up */
#define DNS_TRIES       2    /* c-ares tries per server: t, then 2t */
#define DNS_MAX_ACTIVE  128  /* unanswered queries in c-ares; their answers fit a default rcvbuf */

struct dns_query {
	struct dns_query *prev, *next; /* in d->queue, d->waiting, then d->active until answered */
	struct dns *d;
	dns_txt_cb cb;
	void *arg;
	int64_t deadline; /* CLOCK_MONOTONIC milliseconds */
	int answered;     /* cb has run; c-ares may still hold the query */
	char name[];
};

struct dns_list {
	struct dns_query *head, *tail;
};

struct dns {
	pthread_mutex_t lock;
	struct dns_list queue; /* submitted, not yet given to c-ares (under lock) */
	size_t pending;        /* queries allocated and not yet freed (under lock) */
	int stopping;          /* no more submissions (under lock) */

	int timeout_ms;
	int efd;  /* eventfd: wakes the loop */
	int epfd; /* epoll over efd and the c-ares sockets */
	pthread_t thread;
	int thread_started;

	/* resolver thread only (after dns_new) */
	ares_channel channel;
	int channel_ok;
	struct dns_list waiting; /* taken from the queue, not yet in c-ares, in deadline order */
	struct dns_list active;  /* in c-ares and unanswered, in deadline order */
	int nactive;             /* length of active */
};

static pthread_once_t dns_once = PTHREAD_ONCE_INIT;
static int dns_lib_status = ARES_ENOTINITIALIZED;

static void dns_lib_init(void)
{
	dns_lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static int64_t dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dns_list_append(struct dns_list *l, struct dns_query *q)
{
	q->next = NULL;
	q->prev = l->tail;
	if (l->tail)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
}

static void dns_list_remove(struct dns_list *l, struct dns_query *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		l->head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		l->tail = q->prev;
	q->prev = q->next = NULL;
}

const char *dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_SERVFAIL:
		return "servfail";
	case DNS_REFUSED:
		return "refused";
	case DNS_TIMEOUT:
		return "timeout";
	case DNS_ERROR:
		return "error";
	}
	return "unknown";
}

static enum dns_status dns_map_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENODATA:
		return DNS_OK;
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ESERVFAIL:
		return DNS_SERVFAIL;
	case ARES_EREFUSED:
		return DNS_REFUSED;
	case ARES_ETIMEOUT:
		return DNS_TIMEOUT;
	default:
		return DNS_ERROR;
	}
}

void dns_txt_result_release(struct dns_txt_result *res)
{
	size_t i;

	if (res->records)
		for (i = 0; i < res->count; i++)
			free(res->records[i]);
	free(res->records);
	free(res->lengths);
	res->records = NULL;
	res->lengths = NULL;
	res->count = 0;
}

/* Joins the character-strings of each record: a chunk with record_start begins a new record. */
static int dns_join(const struct ares_txt_ext *txt, struct dns_txt_result *res)
{
	const struct ares_txt_ext *t;
	size_t n = 0, i, off;

	for (t = txt; t; t = t->next)
		if (t == txt || t->record_start)
			n++;
	if (!n)
		return 0;
	res->records = calloc(n, sizeof(*res->records));
	res->lengths = calloc(n, sizeof(*res->lengths));
	if (!res->records || !res->lengths)
		return MC_ERR_NOMEM;
	res->count = n;
	i = 0;
	for (t = txt; t; t = t->next) {
		if (t != txt && t->record_start)
			i++;
		res->lengths[i] += t->length;
	}
	for (i = 0; i < n; i++) {
		res->records[i] = malloc(res->lengths[i] + 1);
		if (!res->records[i])
			return MC_ERR_NOMEM;
	}
	i = 0;
	off = 0;
	for (t = txt; t; t = t->next) {
		if (t != txt && t->record_start) {
			i++;
			off = 0;
		}
		if (t->length)
			memcpy(res->records[i] + off, t->txt, t->length);
		off += t->length;
	}
	for (i = 0; i < n; i++)
		res->records[i][res->lengths[i]] = '\0';
	return 0;
}

void dns_txt_parse(int status, const unsigned char *abuf, int alen, struct dns_txt_result *res)
{
	struct ares_txt_ext *txt = NULL;
	int rc;

	memset(res, 0, sizeof(*res));
	res->status = dns_map_status(status);
	if (status != ARES_SUCCESS)
		return;
	rc = ares_parse_txt_reply_ext(abuf, alen, &txt);
	if (rc == ARES_SUCCESS) {
		if (dns_join(txt, res) < 0) {
			dns_txt_result_release(res);
			res->status = DNS_ERROR;
		}
	} else if (rc != ARES_ENODATA) {
		res->status = DNS_ERROR;
	}
	if (txt)
		ares_free_data(txt);
}

/* Calls the user back once with the outcome of a c-ares status and answer. */
static void dns_deliver(struct dns_query *q, int status, const unsigned char *abuf, int alen)
{
	struct dns_txt_result res;

	dns_txt_parse(status, abuf, alen, &res);
	q->answered = 1;
	q->cb(q->arg, &res);
	dns_txt_result_release(&res);
}

static void dns_query_free(struct dns *d, struct dns_query *q)
{
	pthread_mutex_lock(&d->lock);
	d->pending--;
	pthread_mutex_unlock(&d->lock);
	free(q);
}

/* c-ares callback: the end of a query, answered or not; also runs from ares_destroy. */
static void dns_on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns *d = q->d;

	(void)timeouts;
	if (!q->answered) {
		dns_list_remove(&d->active, q);
		d->nactive--;
		dns_deliver(q, status, abuf, alen);
	}
	dns_query_free(d, q);
}

/* c-ares sock-state callback: mirrors the interest of c-ares in its sockets into epoll. A failed
 * registration leaves that socket unwatched; its lookups then end by their deadline. */
static void dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct epoll_event ev;

	if (!readable && !writable) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	ev.data.fd = fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void dns_wake(struct dns *d)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(d->efd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	/* EAGAIN means the counter is saturated: the loop is awake anyway */
}

/* Hands a submitted query to c-ares, or times it out if it waited in the queue too long. */
static void dns_start(struct dns *d, struct dns_query *q, int64_t now)
{
	if (q->deadline <= now) {
		dns_deliver(q, ARES_ETIMEOUT, NULL, 0);
		dns_query_free(d, q);
		return;
	}
	/* in the list first: c-ares may call dns_on_answer before ares_query returns */
	dns_list_append(&d->active, q);
	d->nactive++;
	ares_query(d->channel, q->name, ns_c_in, ns_t_txt, dns_on_answer, q);
}

/* Answers every query past its deadline with DNS_TIMEOUT. c-ares keeps an active one until its
 * own tries end, and dns_on_answer then only frees it. */
static void dns_expire(struct dns *d, int64_t now)
{
	struct dns_query *q;

	while ((q = d->active.head) && q->deadline <= now) {
		dns_list_remove(&d->active, q);
		d->nactive--;
		dns_deliver(q, ARES_ETIMEOUT, NULL, 0);
	}
	while ((q = d->waiting.head) && q->deadline <= now) {
		dns_list_remove(&d->waiting, q);
		dns_deliver(q, ARES_ETIMEOUT, NULL, 0);
		dns_query_free(d, q);
	}
}

/* Moves waiting queries into c-ares while it has room. */
static void dns_pump(struct dns *d, int64_t now)
{
	struct dns_query *q;

	while (d->nactive < DNS_MAX_ACTIVE && (q = d->waiting.head)) {
		dns_list_remove(&d->waiting, q);
		dns_start(d, q, now);
	}
}

static void dns_list_concat(struct dns_list *l, struct dns_list *more)
{
	if (!more->head)
		return;
	if (l->tail) {
		l->tail->next = more->head;
		more->head->prev = l->tail;
	} else {
		l->head = more->head;
	}
	l->tail = more->tail;
	more->head = more->tail = NULL;
}

/* Milliseconds until c-ares or the earliest deadline needs attention; -1 = none. */
static int dns_wait_ms(struct dns *d, int64_t now)
{
	struct timeval max, tv, *tvp;
	struct dns_query *first = d->active.head;
	int64_t left, ms;

	if (d->waiting.head && (!first || d->waiting.head->deadline < first->deadline))
		first = d->waiting.head;
	if (first) {
		left = first->deadline - now;
		if (left < 0)
			left = 0;
		max.tv_sec = (time_t)(left / 1000);
		max.tv_usec = (suseconds_t)(left % 1000) * 1000;
		tvp = ares_timeout(d->channel, &max, &tv);
	} else {
		tvp = ares_timeout(d->channel, NULL, &tv);
	}
	if (!tvp)
		return -1;
	/* round up, so that c-ares finds its timeout passed when we wake */
	ms = (int64_t)tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000;
	return ms > DNS_TIMEOUT_MAX_MS ? DNS_TIMEOUT_MAX_MS : (int)ms;
}

static void dns_take_queue(struct dns *d, struct dns_list *out, int *stopping)
{
	pthread_mutex_lock(&d->lock);
	*out = d->queue;
	d->queue.head = d->queue.tail = NULL;
	*stopping = d->stopping;
	pthread_mutex_unlock(&d->lock);
}

static void dns_drain_eventfd(struct dns *d)
{
	uint64_t v;
	ssize_t n;

	do
		n = read(d->efd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
}

static void dns_fail_list(struct dns *d, struct dns_list *l)
{
	struct dns_query *q;

	while ((q = l->head)) {
		dns_list_remove(l, q);
		dns_deliver(q, ARES_EDESTRUCTION, NULL, 0);
		dns_query_free(d, q);
	}
}

/* Fails with DNS_ERROR the queries waiting for room in c-ares, those taken from the queue (fresh),
 * those still in it and those c-ares holds, then destroys the channel. Once stopping is set, no
 * query can join the queue. */
static void dns_shutdown(struct dns *d, struct dns_list *fresh)
{
	struct dns_list rest;

	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	rest = d->queue;
	d->queue.head = d->queue.tail = NULL;
	pthread_mutex_unlock(&d->lock);
	dns_fail_list(d, &d->waiting);
	dns_fail_list(d, fresh);
	dns_fail_list(d, &rest);
	/* ares_destroy ends each of its queries through dns_on_answer (ARES_EDESTRUCTION) */
	ares_destroy(d->channel);
	d->channel_ok = 0;
	dns_fail_list(d, &d->active); /* empty unless c-ares dropped a query silently */
	d->nactive = 0;
}

static void *dns_run(void *p)
{
	struct dns *d = p;
	struct epoll_event ev[DNS_EVENTS];
	struct dns_list fresh = {NULL, NULL};
	int n, i, stopping = 0;
	int64_t now;

	for (;;) {
		n = epoll_wait(d->epfd, ev, DNS_EVENTS, dns_wait_ms(d, dns_now_ms()));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* a bug (EBADF, EINVAL): fail everything rather than spin */
		}
		for (i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			uint32_t e = ev[i].events;

			if (fd == d->efd) {
				dns_drain_eventfd(d);
				continue;
			}
			ares_process_fd(d->channel,
			                e & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
			                e & EPOLLOUT ? fd : ARES_SOCKET_BAD);
		}
		ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* c-ares timeouts */
		now = dns_now_ms();
		dns_expire(d, now);
		/* the eventfd is drained before the queue is taken: a later submission wakes us
		 * again */
		dns_take_queue(d, &fresh, &stopping);
		if (stopping)
			break;
		dns_list_concat(&d->waiting, &fresh);
		dns_pump(d, now);
	}
	dns_shutdown(d, &fresh);
	return NULL;
}

static int dns_port_ok(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* Appends one entry ("ip", "ip:port", "[ipv6]", "[ipv6]:port", bare "ipv6") to out in the
 * explicit form c-ares parses without guessing: "ip:port" or "[ipv6]:port". */
static int dns_server_add(struct buf *out, const char *s, size_t n, struct err *e)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *a = s, *port = "53", *c;
	size_t alen = n, plen = 2;
	int af = AF_INET;

	if (n && s[0] == '[') {
		c = memchr(s, ']', n);
		if (!c)
			goto bad;
		af = AF_INET6;
		a = s + 1;
		alen = (size_t)(c - a);
		if (c + 1 < s + n) {
			if (c[1] != ':')
				goto bad;
			port = c + 2;
			plen = (size_t)(s + n - port);
		}
	} else if ((c = memchr(s, ':', n))) {
		if (memchr(c + 1, ':', (size_t)(s + n - c - 1))) {
			af = AF_INET6; /* bare IPv6: no port */
		} else {
			alen = (size_t)(c - s);
			port = c + 1;
			plen = (size_t)(s + n - port);
		}
	}
	if (alen == 0 || alen >= sizeof(addr))
		goto bad;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (inet_pton(af, addr, bin) != 1 || !dns_port_ok(port, plen))
		goto bad;
	if (buf_addf(out, af == AF_INET6 ? "%s[%s]:%.*s" : "%s%s:%.*s", out->len ? "," : "", addr,
	             (int)plen, port) < 0)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	return 0;
bad:
	return err_set(e, MC_ERR_INVALID, "invalid dns server '%.*s'", (int)(n > 64 ? 64 : n), s);
}

static int dns_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Checks the servers list and rewrites it for ares_set_servers_ports_csv; *csv is NULL when the
 * list is empty (use the system's resolvers). */
static int dns_servers_csv(const char *servers, char **csv, struct err *e)
{
	struct buf out;
	const char *p, *end, *next;
	size_t len;
	int rc = 0;

	*csv = NULL;
	buf_init(&out, DNS_SERVERS_MAX);
	if (!servers)
		goto out;
	len = strlen(servers);
	if (len > DNS_SERVERS_MAX) {
		rc = err_set(e, MC_ERR_INVALID, "dns servers list longer than %d bytes",
		             DNS_SERVERS_MAX);
		goto out;
	}
	for (p = servers; *p && dns_is_space(*p); p++)
		;
	if (!*p)
		goto out;
	for (p = servers;; p = next + 1) {
		next = strchr(p, ',');
		end = next ? next : p + strlen(p);
		while (p < end && dns_is_space(*p))
			p++;
		while (end > p && dns_is_space(end[-1]))
			end--;
		rc = dns_server_add(&out, p, (size_t)(end - p), e);
		if (rc)
			goto out;
		if (!next)
			break;
	}
	*csv = buf_detach(&out, &len);
	if (!*csv)
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
out:
	buf_release(&out);
	return rc;
}

/* Frees what dns_new set up; the thread, if any, has stopped. */
static void dns_destroy(struct dns *d)
{
	if (d->channel_ok)
		ares_destroy(d->channel);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->efd >= 0)
		close(d->efd);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct dns *dns_new(const char *servers, int timeout_ms, struct err *e)
{
	struct dns *d = NULL, *ret = NULL;
	struct ares_options opts;
	struct epoll_event ev;
	sigset_t all, old;
	char *csv = NULL;
	int rc;

	if (timeout_ms < DNS_TIMEOUT_MIN_MS || timeout_ms > DNS_TIMEOUT_MAX_MS) {
		err_set(e, MC_ERR_INVALID, "dns timeout %d ms out of range (%d-%d)", timeout_ms,
		        DNS_TIMEOUT_MIN_MS, DNS_TIMEOUT_MAX_MS);
		goto out;
	}
	if (dns_servers_csv(servers, &csv, e) < 0)
		goto out;
	pthread_once(&dns_once, dns_lib_init);
	if (dns_lib_status != ARES_SUCCESS) {
		err_set(e, MC_ERR_IO, "cannot initialise c-ares: %s",
		        ares_strerror(dns_lib_status));
		goto out;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	d->efd = d->epfd = -1;
	d->timeout_ms = timeout_ms;
	pthread_mutex_init(&d->lock, NULL); /* cannot fail with default attributes on Linux */
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->efd < 0 || d->epfd < 0) {
		err_set(e, MC_ERR_IO, "cannot create dns event loop: %s", strerror(errno));
		goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = d->efd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->efd, &ev) < 0) {
		err_set(e, MC_ERR_IO, "cannot watch dns eventfd: %s", strerror(errno));
		goto out;
	}

	/* Tries t then 2t per server: with one server, c-ares gives up near timeout_ms too.
	 * NOCHECKRESP: c-ares 1.18 reports a SERVFAIL or REFUSED answer that it would retry
	 * elsewhere as ARES_ECONNREFUSED once every server was tried; passed through, the rcode
	 * survives. The price: such an answer is final, not retried on the next server (timeouts
	 * and unreachable servers still are). */
	memset(&opts, 0, sizeof(opts));
	opts.flags = ARES_FLAG_NOCHECKRESP;
	opts.timeout = timeout_ms / 3 > 0 ? timeout_ms / 3 : 1;
	opts.tries = DNS_TRIES;
	opts.sock_state_cb = dns_sock_state;
	opts.sock_state_cb_data = d;
	rc = ares_init_options(&d->channel, &opts,
	                       ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	                               ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		err_set(e, rc == ARES_ENOMEM ? MC_ERR_NOMEM : MC_ERR_IO,
		        "cannot initialise resolver: %s", ares_strerror(rc));
		goto out;
	}
	d->channel_ok = 1;
	if (csv) {
		rc = ares_set_servers_ports_csv(d->channel, csv);
		if (rc != ARES_SUCCESS) {
			err_set(e, rc == ARES_ENOMEM ? MC_ERR_NOMEM : MC_ERR_INVALID,
			        "cannot use dns servers '%s': %s", csv, ares_strerror(rc));
			goto out;
		}
	}

	/* the resolver thread takes no signals: they belong to the threads that handle them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&d->thread, NULL, dns_run, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		err_set(e, MC_ERR_IO, "cannot start dns thread: %s", strerror(rc));
		goto out;
	}
	d->thread_started = 1;
	ret = d;
	d = NULL;
out:
	if (d)
		dns_destroy(d);
	free(csv);
	return ret;
}

int dns_txt_lookup(struct dns *d, const char *name, dns_txt_cb cb, void *arg)
{
	struct dns_query *q;
	size_t n, i, label = 0;
	int rc = 0;

	if (!d || !name || !cb)
		return MC_ERR_INVALID;
	n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return MC_ERR_INVALID;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return MC_ERR_INVALID;
			label = 0;
		} else if (c <= 0x20 || c >= 0x7f || c == '\\' || ++label > 63) {
			return MC_ERR_INVALID;
		}
	}
	if (label == 0)
		return MC_ERR_INVALID;

	q = calloc(1, sizeof(*q) + n + 1);
	if (!q)
		return MC_ERR_NOMEM;
	memcpy(q->name, name, n);
	q->name[n] = '\0';
	q->d = d;
	q->cb = cb;
	q->arg = arg;

	pthread_mutex_lock(&d->lock);
	if (d->stopping || d->pending >= DNS_MAX_PENDING) {
		rc = MC_ERR_UNAVAILABLE;
		goto out;
	}
	/* the clock is read under the lock, so the queue stays in deadline order */
	q->deadline = dns_now_ms() + d->timeout_ms;
	if (!d->queue.head)
		dns_wake(d);
	dns_list_append(&d->queue, q);
	d->pending++;
	q = NULL;
out:
	pthread_mutex_unlock(&d->lock);
	free(q);
	return rc;
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	if (d->thread_started) {
		pthread_mutex_lock(&d->lock);
		d->stopping = 1;
		dns_wake(d);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	dns_destroy(d);
}
