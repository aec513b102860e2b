/* The connection layer; see conn.h. Each worker loops on epoll_wait over its connections
 * (edge-triggered, registered once for both directions: no epoll_ctl per request) and its
 * eventfd (the inbox: new connections and resumed requests). drive() runs one connection's
 * state machine as far as it can go without blocking. A closed connection is kept as a
 * zombie until the end of the loop's pass, so an event already fetched for it finds a closed
 * marker, never freed memory. The input buffer holds the current request's head (its strings
 * NUL-terminated in place, what request_header hands out) at its start until the answer is
 * sent; body bytes and pipelined requests follow it. */
#include "conn.h"

#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/http/guard.h"
#include "server/http/tlsio.h"
#include "server/response.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/banned.h"

#define OUT_CAP      16384        /* answer head, and bodies small enough to go with it */
#define LINGER_MS    2000         /* reading what a client still sends after a closing answer */
#define LINGER_BYTES (256 * 1024) /* ... at most this much */
#define SWEEP_MS     250
#define IP_BUCKETS   1024

enum cstate { CS_TLS, CS_HEAD, CS_BODY, CS_BUSY, CS_PARKED, CS_WRITE, CS_LINGER, CS_CLOSED };
enum chstate { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };
enum { IN_NEW = 1, IN_RESUME = 2 };

struct worker;

struct conn {
	struct worker *w;
	struct conn *prev, *next; /* the worker's connections (or zombies) */
	struct conn *inext;       /* in the inbox */
	int inkind;
	int fd;
	SSL *ssl;
	enum cstate st;
	struct guard_conn *gc;
	char ip[64];
	int64_t last_ms; /* the last progress, for idle_ms */
	int64_t linger_until;
	size_t lingered;
	/* input: [0, keep) the current head, [pos, len) not parsed yet */
	char *in;
	size_t len, pos, keep;
	int head_started; /* bytes of the next request arrived (guard_conn_request done) */
	/* the current request */
	struct framing_request rq;
	struct framing_result fres;
	int req_on, keep_alive, head_only, expect, body_pending, chunked;
	uint64_t left;
	enum chstate ch;
	struct front_req *fr;
	/* output */
	char *out;
	size_t out_len, out_off;
	char *body;
	size_t body_len, body_off;
	int continuing; /* the output is "100 Continue" */
	int refused;    /* the status of a framing answer given during the request, or 0 */
	int close_after;
};

struct ip_count {
	struct ip_count *next;
	int n;
	char ip[64];
};

struct worker {
	struct conns *cs;
	pthread_t thread;
	int started;
	int ep, wake;
	pthread_mutex_t mu; /* the inbox */
	struct conn *inbox, *inbox_tail;
	struct conn *list, *zombies;
	int parked; /* connections parked now (conns_stop) */
	int64_t now;
	int64_t date_s;
	char date[48]; /* "Date: ...\r\n" of date_s */
};

struct conns {
	struct conns_cfg cfg;
	struct worker *w;
	int nw;
	atomic_uint rr;
	atomic_int quiesce, stop;
	atomic_int open;
	pthread_mutex_t ip_mu;
	struct ip_count *ips[IP_BUCKETS];
};

/* ---- connection limits (once per connection) ---- */

static size_t ip_bucket(const char *ip)
{
	uint32_t h = 2166136261u;

	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h % IP_BUCKETS;
}

static int ip_enter(struct conns *cs, const char *ip)
{
	struct ip_count **b = &cs->ips[ip_bucket(ip)], *e;
	int ok = 1;

	if (cs->cfg.per_ip_connections <= 0)
		return 1;
	pthread_mutex_lock(&cs->ip_mu);
	for (e = *b; e && strcmp(e->ip, ip) != 0; e = e->next)
		;
	if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
		memcpy(e->ip, ip, strnlen(ip, sizeof(e->ip) - 1));
		e->next = *b;
		*b = e;
	}
	if (!e || e->n >= cs->cfg.per_ip_connections)
		ok = 0;
	else
		e->n++;
	pthread_mutex_unlock(&cs->ip_mu);
	return ok;
}

static void ip_leave(struct conns *cs, const char *ip)
{
	struct ip_count **p = &cs->ips[ip_bucket(ip)], *e;

	if (cs->cfg.per_ip_connections <= 0)
		return;
	pthread_mutex_lock(&cs->ip_mu);
	for (; (e = *p) != NULL; p = &e->next) {
		if (strcmp(e->ip, ip) == 0) {
			if (--e->n <= 0) {
				*p = e->next;
				free(e);
			}
			break;
		}
	}
	pthread_mutex_unlock(&cs->ip_mu);
}

/* The peer's address as text (by hand for IPv4: inet_ntop goes through sprintf). */
static void ip_text(const struct sockaddr *sa, char *dst, size_t size)
{
	dst[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const unsigned char *a =
		        (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
		char *w = dst;

		for (int i = 0; i < 4; i++) {
			unsigned v = a[i];
			if (v >= 100)
				*w++ = (char)('0' + v / 100);
			if (v >= 10)
				*w++ = (char)('0' + v / 10 % 10);
			*w++ = (char)('0' + v % 10);
			*w++ = i < 3 ? '.' : '\0';
		}
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, dst,
		          (socklen_t)size);
	}
}

/* ---- the inbox ---- */

static void inbox_put(struct worker *w, struct conn *c, int kind)
{
	uint64_t one = 1;
	int first;

	pthread_mutex_lock(&w->mu);
	c->inkind = kind;
	c->inext = NULL;
	first = !w->inbox_tail;
	if (w->inbox_tail)
		w->inbox_tail->inext = c;
	else
		w->inbox = c;
	w->inbox_tail = c;
	pthread_mutex_unlock(&w->mu);
	/* Only an empty inbox needs the wake-up: take_inbox reads the eventfd before it takes
	 * the list, so what was put since is in the list it takes (a gate's batch resumes
	 * many requests of one worker with one write). */
	if (first)
		(void)!write(w->wake, &one, sizeof(one));
}

void conn_accept(struct conns *cs, int fd, const struct sockaddr *sa, socklen_t len, SSL_CTX *tls)
{
	struct conn *c = NULL;
	char ip[64];
	int entered = 0;
	(void)len;

	ip_text(sa, ip, sizeof(ip));
	if (atomic_load(&cs->quiesce) || atomic_load(&cs->stop))
		goto refuse;
	if (atomic_fetch_add(&cs->open, 1) >= cs->cfg.max_connections) {
		atomic_fetch_sub(&cs->open, 1);
		goto refuse;
	}
	entered = 1;
	if (!ip_enter(cs, ip))
		goto refuse;
	entered = 2;
	if (!(c = calloc(1, sizeof(*c))) || !(c->in = malloc(cs->cfg.conn_memory)))
		goto refuse;
	c->fd = fd;
	/* an answer may take two writes (TLS: head and body records): Nagle would hold the
	 * second until the client's delayed ACK */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	memcpy(c->ip, ip, sizeof(ip));
	if (tls && !(c->ssl = tlsio_new(tls, fd)))
		goto refuse;
	c->st = tls ? CS_TLS : CS_HEAD;
	c->last_ms = mono_ms();
	c->w = &cs->w[atomic_fetch_add(&cs->rr, 1) % (unsigned)cs->nw];
	/* the header deadline runs from here (the TLS handshake counts against it) */
	c->gc = cs->cfg.guard ? guard_conn_open(cs->cfg.guard, fd, ip, c->last_ms) : NULL;
	inbox_put(c->w, c, IN_NEW);
	return;
refuse:
	if (c) {
		free(c->in);
		free(c);
	}
	if (entered == 2)
		ip_leave(cs, ip);
	if (entered)
		atomic_fetch_sub(&cs->open, 1);
	close(fd);
}

void conn_resume(struct conn *c)
{
	inbox_put(c->w, c, IN_RESUME);
}

/* ---- closing ---- */

static void conn_close(struct conn *c)
{
	struct worker *w = c->w;
	struct conns *cs = w->cs;

	if (c->st == CS_CLOSED)
		return;
	if (c->req_on) {
		c->req_on = 0;
		if (c->fr) /* NULL: the request layer had no memory for it */
			cs->cfg.ops->req_done(c->fr, 0, c->refused);
	}
	guard_conn_close(cs->cfg.guard, c->gc); /* before the socket number can be reused */
	c->gc = NULL;
	if (c->ssl)
		tlsio_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	c->st = CS_CLOSED;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = w->zombies;
	w->zombies = c;
	ip_leave(cs, c->ip);
	atomic_fetch_sub(&cs->open, 1);
}

static void conn_free(struct conns *cs, struct conn *c)
{
	cs->cfg.ops->conn_free(c->fr);
	free(c->body);
	free(c->out);
	free(c->in);
	free(c);
}

/* ---- answers ---- */

static const char *phrase(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 413:
		return "Content Too Large";
	case 418:
		return "I'm a teapot";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
	}
}

static void out_put(struct conn *c, const char *s, size_t n)
{
	if (n > OUT_CAP - c->out_len)
		n = OUT_CAP - c->out_len;
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
}

static void out_str(struct conn *c, const char *s)
{
	out_put(c, s, strlen(s));
}

static void out_num(struct conn *c, unsigned long long v)
{
	char d[24], *p = d + sizeof(d);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	out_put(c, p, (size_t)(d + sizeof(d) - p));
}

static const char *date_line(struct worker *w)
{
	int64_t ms = now_ms();

	if (ms / 1000 != w->date_s) {
		char d[40];
		size_t n;

		w->date_s = ms / 1000;
		date_format_rfc1123(ms, d, sizeof(d));
		n = strlen(d);
		if (n > 3 && strcmp(d + n - 3, "UTC") == 0)
			memcpy(d + n - 3, "GMT", 3); /* HTTP's spelling (RFC 9110 §5.6.7) */
		snprintf(w->date, sizeof(w->date), "Date: %s\r\n", d);
	}
	return w->date;
}

static int out_ready(struct conn *c)
{
	if (!c->out && !(c->out = malloc(OUT_CAP)))
		return -1;
	c->out_len = c->out_off = 0;
	return 0;
}

void conn_answer(struct conn *c, int status, const char *hdrs, size_t hlen, char *body, size_t len,
                 int close)
{
	if (out_ready(c) != 0) {
		free(body);
		c->close_after = 1;
		c->st = CS_WRITE; /* nothing to write: closes */
		c->body = NULL;
		return;
	}
	/* stopping (front_quiesce): clients are told to go elsewhere for their next request */
	if (c->body_pending || !c->keep_alive || atomic_load(&c->w->cs->quiesce))
		close = 1;
	out_str(c, "HTTP/1.1 ");
	out_num(c, (unsigned)status);
	out_put(c, " ", 1);
	out_str(c, phrase(status));
	out_put(c, "\r\n", 2);
	out_str(c, date_line(c->w));
	out_put(c, hdrs, hlen);
	out_str(c, "Content-Length: ");
	out_num(c, len);
	out_put(c, "\r\n", 2);
	if (close)
		out_str(c, "Connection: close\r\n");
	else if (strcmp(c->rq.version, "HTTP/1.0") == 0)
		out_str(c, "Connection: keep-alive\r\n");
	out_put(c, "\r\n", 2);
	if (c->head_only) {
		free(body);
		body = NULL;
		len = 0;
	}
	if (body && len <= OUT_CAP - c->out_len) { /* one write, one segment (one TLS record) */
		out_put(c, body, len);
		free(body);
		body = NULL;
		len = 0;
	}
	c->body = body;
	c->body_len = len;
	c->body_off = 0;
	c->continuing = 0;
	c->close_after = close;
	c->st = CS_WRITE;
}

void conn_hdr(char *block, size_t cap, size_t *n, const char *name, const char *value)
{
	size_t a = strlen(name), b = strlen(value);

	if (a + b + 4 > cap - *n)
		return;
	memcpy(block + *n, name, a);
	memcpy(block + *n + a, ": ", 2);
	memcpy(block + *n + a + 2, value, b);
	memcpy(block + *n + a + 2 + b, "\r\n", 2);
	*n += a + b + 4;
}

/* A malformed request: the envelope, 400 or 431, and a close. */
static void answer_framing(struct conn *c, enum api_error ae, const char *reason)
{
	char hdrs[] = "Content-Type: application/json\r\nCache-Control: no-store\r\n";
	char tmp[512], *body;
	int n;

	log_info("msg=\"malformed request head\" ip=%s reason=\"%s\"", c->ip[0] ? c->ip : "-",
	         reason ? reason : "-");
	n = snprintf(tmp, sizeof(tmp),
	             "{\"meta\":{\"status\":%d},\"data\":[],\"fail\":[{\"errors\":[{\"code\":"
	             "\"%s\",\"message\":\"%s\",\"retryable\":false}]}]}",
	             api_error_status(ae), api_error_code(ae),
	             reason ? reason : api_error_message(ae));
	body = n > 0 && (size_t)n < sizeof(tmp) ? strdup(tmp) : NULL;
	c->refused = api_error_status(ae);
	c->keep_alive = 0;
	c->head_only = 0;
	conn_answer(c, api_error_status(ae), hdrs, sizeof(hdrs) - 1, body, body ? (size_t)n : 0, 1);
}

void conn_park(struct conn *c)
{
	c->st = CS_PARKED;
	c->w->parked++;
}

const char *conn_ip(const struct conn *c)
{
	return c->ip;
}

int conn_tls(const struct conn *c)
{
	return c->ssl != NULL;
}

struct guard_conn *conn_guard(const struct conn *c)
{
	return c->gc;
}

/* ---- input ---- */

/* Reads into the buffer: > 0 bytes, 0 would block, -1 the end or an error. */
static ssize_t fill(struct conn *c)
{
	size_t cap = c->w->cs->cfg.conn_memory;
	ssize_t r;

	if (c->pos == c->len) {
		c->pos = c->len = c->keep;
	} else if (c->len == cap && c->pos > c->keep) {
		memmove(c->in + c->keep, c->in + c->pos, c->len - c->pos);
		c->len -= c->pos - c->keep;
		c->pos = c->keep;
	}
	if (c->len == cap)
		return -1; /* cannot happen: a head is at most half the buffer */
	if (c->ssl) {
		r = tlsio_read(c->ssl, c->in + c->len, cap - c->len);
		if (r == TLSIO_AGAIN)
			return 0;
		if (r <= 0)
			return -1;
	} else {
		r = recv(c->fd, c->in + c->len, cap - c->len, 0);
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		if (r == 0)
			return -1;
	}
	c->len += (size_t)r;
	c->last_ms = c->w->now;
	return r;
}

static int token_in(const char *v, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = v; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, word, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

static int expects_continue(const struct framing_request *rq)
{
	for (size_t i = 0; i < rq->nh; i++)
		if (rq->hs[i].name_len == 6 && strncasecmp(rq->hs[i].name, "expect", 6) == 0)
			return 1;
	return 0;
}

/* The next head, if complete: 1 when something happened (a request began or was refused). */
static int parse_head(struct conn *c)
{
	struct conns *cs = c->w->cs;
	enum framing_head_kind k;
	const char *reason = NULL;
	int v11;

	if (c->pos > 0) { /* the previous request's bytes are gone: the head starts at 0 */
		memmove(c->in, c->in + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	if (c->len == 0)
		return 0;
	k = framing_request(c->in, c->len, cs->cfg.conn_memory / 2, &reason, &c->fres, &c->rq);
	if (k == FRAMING_HEAD_MORE)
		return 0;
	if (k != FRAMING_HEAD_OK) {
		c->body_pending = 0;
		answer_framing(c, k == FRAMING_HEAD_BAD ? API_BAD_REQUEST : API_HEADERS_TOO_LARGE,
		               reason);
		return 1;
	}
	/* A chunked body's first chunk-size line is waited for and checked before the request
	 * layer sees the head (whose refusals are answered without reading the body), unless
	 * the client waits for "100 Continue" first. */
	if (c->fres.chunked && !expects_continue(&c->rq)) {
		const char *lf = memchr(c->in + c->rq.head_len, '\n', c->len - c->rq.head_len);
		size_t n = lf ? (size_t)(lf - c->in) - c->rq.head_len : c->len - c->rq.head_len;
		uint64_t size;

		if (!lf && n <= FRAMING_CHUNK_LINE_MAX + 1)
			return 0;
		if (lf && n && lf[-1] == '\r')
			n--;
		if (!lf || memchr(c->in + c->rq.head_len, '\r', n) ||
		    framing_chunk_size(c->in + c->rq.head_len, n, &size, &reason) != 0) {
			answer_framing(c, API_BAD_REQUEST,
			               !lf || n > FRAMING_CHUNK_LINE_MAX
			                       ? "chunk extension too long"
			               : reason ? reason
			                        : "malformed chunk size line");
			return 1;
		}
	}
	/* strings in place, for the request layer */
	((char *)c->rq.method)[c->rq.method_len] = '\0';
	((char *)c->rq.target)[c->rq.target_len] = '\0';
	for (size_t i = 0; i < c->rq.nh; i++)
		((char *)c->rq.hs[i].value)[c->rq.hs[i].value_len] = '\0';
	c->pos = c->keep = c->rq.head_len;
	v11 = strcmp(c->rq.version, "HTTP/1.1") == 0;
	c->keep_alive = v11;
	c->expect = 0;
	for (size_t i = 0; i < c->rq.nh; i++) {
		const struct framing_header *h = &c->rq.hs[i];
		if (h->name_len == 10 && strncasecmp(h->name, "connection", 10) == 0) {
			if (token_in(h->value, "close"))
				c->keep_alive = 0;
			else if (!v11 && token_in(h->value, "keep-alive"))
				c->keep_alive = 1;
		} else if (h->name_len == 6 && strncasecmp(h->name, "expect", 6) == 0) {
			c->expect = v11 && strcasecmp(h->value, "100-continue") == 0;
		}
	}
	c->head_only = c->rq.method_len == 4 && memcmp(c->rq.method, "HEAD", 4) == 0;
	c->chunked = c->fres.chunked;
	c->left = c->fres.has_length ? c->fres.content_length : 0;
	c->ch = CH_SIZE;
	c->refused = 0;
	c->body_pending = c->chunked || c->left > 0;
	c->st = CS_BUSY;
	c->req_on = 1;
	cs->cfg.ops->req_begin(cs->cfg.arg, c, &c->fr, &c->rq, &c->fres);
	if (c->st == CS_BUSY) {
		c->st = CS_BODY;
		if (c->expect && c->body_pending && c->pos == c->len && out_ready(c) == 0) {
			out_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
			c->body = NULL;
			c->continuing = 1;
			c->st = CS_WRITE;
		}
	}
	return 1;
}

/* The end of the line at [pos, len): its LF's index, or len; *bad for a CR not before LF. */
static size_t find_lf(const struct conn *c, int *bad)
{
	const char *p = c->in + c->pos, *lf = memchr(p, '\n', c->len - c->pos);
	size_t e = lf ? (size_t)(lf - c->in) : c->len;

	for (const char *q = p; q < c->in + e; q++)
		if (*q == '\r' && q + 1 < c->in + e) {
			*bad = 1;
			break;
		}
	return e;
}

static void body_complete(struct conn *c)
{
	c->body_pending = 0;
	c->st = CS_BUSY;
	c->w->cs->cfg.ops->req_end(c->fr);
}

/* Body bytes in the buffer: 1 when something happened. */
static int feed_body(struct conn *c)
{
	const struct conn_ops *ops = c->w->cs->cfg.ops;
	const char *reason = NULL;
	size_t avail = c->len - c->pos, e, n;
	int bad = 0;

	if (!c->chunked || c->ch == CH_DATA) {
		if (c->left == 0) {
			if (!c->chunked) {
				body_complete(c);
				return 1;
			}
			c->ch = CH_DATA_END;
			return 1;
		}
		if (avail == 0)
			return 0;
		n = avail < c->left ? avail : (size_t)c->left;
		c->left -= n;
		c->pos += n;
		ops->req_body(c->fr, c->in + c->pos - n, n);
		return 1;
	}
	switch (c->ch) {
	case CH_SIZE:
	case CH_TRAILER:
		e = find_lf(c, &bad);
		if (bad) {
			answer_framing(c, API_BAD_REQUEST, "bare CR in a chunked body");
			return 1;
		}
		n = e - c->pos;
		if (e == c->len) {
			if (n > FRAMING_CHUNK_LINE_MAX + 1) {
				answer_framing(c, API_BAD_REQUEST,
				               c->ch == CH_SIZE ? "chunk extension too long"
				                                : "trailer line too long");
				return 1;
			}
			return 0;
		}
		if (n && c->in[e - 1] == '\r')
			n--;
		if (c->ch == CH_SIZE) {
			uint64_t size;
			if (framing_chunk_size(c->in + c->pos, n, &size, &reason) != 0) {
				answer_framing(c, API_BAD_REQUEST, reason);
				return 1;
			}
			c->pos = e + 1;
			c->left = size;
			c->ch = size ? CH_DATA : CH_TRAILER;
			return 1;
		}
		if (n > FRAMING_CHUNK_LINE_MAX) {
			answer_framing(c, API_BAD_REQUEST, "trailer line too long");
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)c->in[c->pos + i];
			if ((ch < ' ' && ch != '\t') || ch == 0x7f) {
				answer_framing(c, API_BAD_REQUEST,
				               "control character in a trailer");
				return 1;
			}
		}
		c->pos = e + 1;
		if (n == 0)
			body_complete(c);
		return 1;
	case CH_DATA_END:
		if (avail == 0)
			return 0;
		if (c->in[c->pos] == '\n') {
			c->pos++;
		} else if (c->in[c->pos] == '\r') {
			if (avail < 2)
				return 0;
			if (c->in[c->pos + 1] != '\n') {
				answer_framing(c, API_BAD_REQUEST, "malformed chunked body");
				return 1;
			}
			c->pos += 2;
		} else {
			answer_framing(c, API_BAD_REQUEST, "malformed chunked body");
			return 1;
		}
		c->ch = CH_SIZE;
		return 1;
	case CH_DATA:
		break;
	}
	return 0;
}

/* ---- output ---- */

/* Writes what is pending: 1 all written, 0 would block, -1 an error. */
static int flush(struct conn *c)
{
	for (;;) {
		size_t a = c->out_len - c->out_off, b = c->body ? c->body_len - c->body_off : 0;
		ssize_t r;

		if (a == 0 && b == 0)
			return 1;
		if (c->ssl) {
			r = a ? tlsio_write(c->ssl, c->out + c->out_off, a)
			      : tlsio_write(c->ssl, c->body + c->body_off, b);
			if (r == TLSIO_AGAIN)
				return 0;
			if (r < 0)
				return -1;
		} else {
			struct iovec iov[2];
			struct msghdr m = {.msg_iov = iov};
			if (a)
				iov[m.msg_iovlen++] = (struct iovec){c->out + c->out_off, a};
			if (b)
				iov[m.msg_iovlen++] = (struct iovec){c->body + c->body_off, b};
			r = sendmsg(c->fd, &m, MSG_NOSIGNAL);
			if (r < 0)
				return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
				               ? 0
				               : -1;
		}
		c->last_ms = c->w->now;
		if ((size_t)r <= a) {
			c->out_off += (size_t)r;
		} else {
			c->out_off = c->out_len;
			c->body_off += (size_t)r - a;
		}
	}
}

/* The answer (or the 100 Continue) is out. */
static void written(struct conn *c)
{
	const struct conn_ops *ops = c->w->cs->cfg.ops;

	if (c->continuing) {
		c->continuing = 0;
		c->st = CS_BODY;
		return;
	}
	free(c->body);
	c->body = NULL;
	if (c->req_on) {
		c->req_on = 0;
		if (c->fr)
			ops->req_done(c->fr, 1, c->refused);
	}
	if (c->close_after) {
		/* read on a little before closing: closing with unread bytes resets the
		 * connection, and a reset can destroy the answer before the client reads it */
		if (c->ssl)
			tlsio_shutdown(c->ssl);
		shutdown(c->fd, SHUT_WR);
		c->st = CS_LINGER;
		c->linger_until = c->w->now + LINGER_MS;
		c->lingered = 0;
		return;
	}
	c->keep = 0;
	c->st = CS_HEAD;
	c->head_started = c->len > c->pos;
	if (c->head_started)
		guard_conn_request(c->gc, c->w->now);
}

/* After an I/O step of drive that gave r (fill, flush: > 0 progress, 0 would block, < 0 the
 * end or an error): 1 to go on, else 0 (the connection closed on r < 0). */
static int went_on(struct conn *c, ssize_t r)
{
	if (r < 0)
		conn_close(c);
	return r > 0;
}

/* Runs c's state machine until it would block. */
static void drive(struct conn *c)
{
	for (;;) {
		ssize_t r;
		int k;

		switch (c->st) {
		case CS_TLS:
			k = tlsio_handshake(c->ssl);
			if (k == TLSIO_AGAIN)
				return;
			if (k != 1) {
				conn_close(c);
				return;
			}
			c->last_ms = c->w->now;
			c->st = CS_HEAD;
			continue;
		case CS_HEAD:
			if (parse_head(c))
				continue;
			if (!went_on(c, fill(c)))
				return;
			if (!c->head_started) {
				c->head_started = 1;
				guard_conn_request(c->gc, c->w->now);
			}
			continue;
		case CS_BODY:
			if (feed_body(c))
				continue;
			if (!went_on(c, fill(c)))
				return;
			continue;
		case CS_WRITE:
			if (!went_on(c, flush(c)))
				return;
			written(c);
			continue;
		case CS_LINGER:
			/* raw bytes, also over TLS (close_notify is sent): only drained */
			r = recv(c->fd, c->in, c->w->cs->cfg.conn_memory, 0);
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				return;
			if (r <= 0 || (c->lingered += (size_t)r) > LINGER_BYTES) {
				conn_close(c);
				return;
			}
			continue;
		case CS_BUSY:   /* the request layer neither answered nor parked: a bug */
		case CS_PARKED: /* its handler brings it back */
		case CS_CLOSED:
			return;
		}
	}
}

/* ---- the workers ---- */

static void take_inbox(struct worker *w)
{
	struct conn *c, *next;
	uint64_t v;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};

	(void)!read(w->wake, &v, sizeof(v));
	pthread_mutex_lock(&w->mu);
	c = w->inbox;
	w->inbox = w->inbox_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; c; c = next) {
		next = c->inext;
		if (c->inkind == IN_NEW) {
			c->next = w->list;
			if (w->list)
				w->list->prev = c;
			w->list = c;
			ev.data.ptr = c;
			if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
				conn_close(c);
				continue;
			}
			drive(c); /* the request is often there already */
		} else if (c->st == CS_PARKED) {
			w->parked--;
			c->st = CS_BUSY;
			c->last_ms = w->now;
			w->cs->cfg.ops->req_resume(c->fr);
			drive(c);
		}
	}
}

/* Connections without progress for idle_ms (the guard's deadlines are its own), and the
 * end of lingering. */
static void sweep(struct worker *w)
{
	int64_t idle = w->cs->cfg.idle_ms;

	for (struct conn *c = w->list, *next; c; c = next) {
		next = c->next;
		if (c->st == CS_LINGER
		            ? w->now >= c->linger_until
		            : c->st != CS_PARKED && c->st != CS_BUSY && w->now - c->last_ms > idle)
			conn_close(c);
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct conns *cs = w->cs;
	struct epoll_event evs[128];
	int64_t next_sweep = mono_ms() + SWEEP_MS;

	while (!atomic_load(&cs->stop)) {
		int n = epoll_wait(w->ep, evs, 128, SWEEP_MS);

		w->now = mono_ms();
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c)
				take_inbox(w);
			else if (c->st != CS_CLOSED)
				drive(c);
		}
		if (w->now >= next_sweep) {
			sweep(w);
			next_sweep = w->now + SWEEP_MS;
		}
		while (w->zombies) {
			struct conn *z = w->zombies;
			w->zombies = z->next;
			conn_free(cs, z);
		}
	}
	return NULL;
}

struct conns *conns_start(const struct conns_cfg *cfg, struct err *e)
{
	struct conns *cs = calloc(1, sizeof(*cs));
	int n = cfg->threads > 0 ? cfg->threads : 1;

	if (!cs || !(cs->w = calloc((size_t)n, sizeof(*cs->w)))) {
		free(cs);
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	cs->cfg = *cfg;
	if (cs->cfg.conn_memory < 4096)
		cs->cfg.conn_memory = 4096;
	pthread_mutex_init(&cs->ip_mu, NULL);
	cs->nw = n;
	for (int i = 0; i < n; i++)
		cs->w[i].ep = cs->w[i].wake = -1;
	for (int i = 0; i < n; i++) {
		struct worker *w = &cs->w[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		w->cs = cs;
		w->date_s = -1;
		pthread_mutex_init(&w->mu, NULL);
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		w->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->ep < 0 || w->wake < 0 ||
		    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake, &ev) != 0 ||
		    pthread_create(&w->thread, NULL, worker_run, w) != 0) {
			err_set(e, MC_ERR_IO, "cannot start the HTTP workers: %s", strerror(errno));
			conns_stop(cs);
			return NULL;
		}
		w->started = 1;
	}
	return cs;
}

void conns_quiesce(struct conns *cs)
{
	if (cs)
		atomic_store(&cs->quiesce, 1);
}

void conns_stop(struct conns *cs)
{
	int leak = 0;

	if (!cs)
		return;
	atomic_store(&cs->stop, 1);
	for (int i = 0; i < cs->nw; i++) {
		uint64_t one = 1;
		if (cs->w[i].started) {
			(void)!write(cs->w[i].wake, &one, sizeof(one));
			pthread_join(cs->w[i].thread, NULL);
		}
	}
	for (int i = 0; i < cs->nw; i++) {
		struct worker *w = &cs->w[i];
		struct conn *c, *next;

		if (w->started) {
			/* connections handed over but not yet taken up */
			for (c = w->inbox; c; c = next) {
				next = c->inext;
				if (c->inkind == IN_NEW) {
					c->prev = NULL;
					c->next = w->list;
					if (w->list)
						w->list->prev = c;
					w->list = c;
				}
			}
			w->inbox = w->inbox_tail = NULL;
		}
		for (c = w->list; c; c = next) {
			next = c->next;
			if (c->st != CS_PARKED) {
				conn_close(c);
			} else { /* the guard goes next: its handler may still finish */
				guard_conn_close(cs->cfg.guard, c->gc);
				c->gc = NULL;
			}
		}
		while (w->zombies) {
			struct conn *z = w->zombies;
			w->zombies = z->next;
			conn_free(cs, z);
		}
		if (w->parked) {
			/* a handler still holds a request and will resume it into this worker */
			log_warn("msg=\"requests still running at shutdown\" count=%d", w->parked);
			leak = 1;
			continue;
		}
		if (w->ep >= 0)
			close(w->ep);
		if (w->wake >= 0)
			close(w->wake);
	}
	if (leak)
		return;
	for (int b = 0; b < IP_BUCKETS; b++)
		while (cs->ips[b]) {
			struct ip_count *e = cs->ips[b];
			cs->ips[b] = e->next;
			free(e);
		}
	free(cs->w);
	free(cs);
}
