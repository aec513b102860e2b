/* The HTTP/1.1 connection layer of the front: worker threads, each with its own epoll set,
 * own the connections handed to them by the acceptors (connect.h) and run one state machine
 * per connection: read into a buffer of conn_memory bytes, parse and check every request head
 * (framing_request, framing.h), read the body by Content-Length or by decoding chunks (every
 * chunk-size line checked), hand the request to the request layer (front.c) through the
 * calls below, write its answer (status line, headers, body; writev, EPOLLOUT on a full
 * socket), then the next request: keep-alive, pipelining (answers in order; nothing more is
 * read while a request is in flight), HTTP/1.0, `Connection: close`, `Expect: 100-continue`.
 * Every framing error is answered here with the JSON envelope, 400 (431 for a head too large)
 * and `Connection: close`. HTTPS is the same machine over OpenSSL (tlsio.h).
 *
 * Threads: a connection belongs to one worker, which alone touches it; other threads reach
 * it only through conn_resume (an async handler finished) and the acceptors' hand-off
 * (conn_accept), both through the worker's inbox and its eventfd. No lock on the hot path. */
#ifndef MCAPI_SERVER_HTTP_CONN_H
#define MCAPI_SERVER_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/http/framing.h"

struct err;
struct guard;
struct guard_conn;
struct conns;
struct conn;
struct front_req;
typedef struct ssl_ctx_st SSL_CTX;

/* What the request layer provides (front.c). Each runs on the connection's worker thread.
 * req_begin: a request head passed the framing checks: the request layer takes it (rq and
 * fres are valid until req_done; the strings in rq are NUL-terminated in place) and either
 * answers it at once (conn_answer) or lets its body come. req_body: body bytes (decoded).
 * req_end: the body is complete: answer now or park (conn_park). req_resume: a parked
 * request was resumed. req_done: the request is over, its answer sent (completed 1) or the
 * connection cut (0); status: what this layer answered instead of the request layer (400 for
 * a malformed chunk line in the body), else 0. conn_free: the connection closes; *slot is the
 * request layer's memory for it (kept from one request to the next). */
struct conn_ops {
	void (*req_begin)(void *arg, struct conn *c, struct front_req **slot,
	                  const struct framing_request *rq, const struct framing_result *fres);
	void (*req_body)(struct front_req *fr, const char *p, size_t n);
	void (*req_end)(struct front_req *fr);
	void (*req_resume)(struct front_req *fr);
	void (*req_done)(struct front_req *fr, int completed, int status);
	void (*conn_free)(struct front_req *fr);
};

struct conns_cfg {
	int threads;
	size_t conn_memory;  /* read buffer per connection; a head may use half */
	int64_t idle_ms;     /* no progress this long on a connection (not a parked one): closed */
	int max_connections; /* both listeners together */
	int per_ip_connections; /* 0 = no limit */
	struct guard *guard;    /* deadlines (guard.h); may be NULL */
	const struct conn_ops *ops;
	void *arg;
};

/* The workers. NULL + e on failure. */
struct conns *conns_start(const struct conns_cfg *cfg, struct err *e);

/* An accepted socket (non-blocking) for a worker, round-robin; tls: an SSL_CTX to do the
 * handshake with, or NULL for plain HTTP. Any thread. Over a connection limit, or while
 * stopping, fd is closed at once. */
void conn_accept(struct conns *cs, int fd, const struct sockaddr *sa, socklen_t len, SSL_CTX *tls);

/* New connections are closed at once from now on. */
void conns_quiesce(struct conns *cs);

/* Stops the workers and closes every connection (requests in flight end as cut; a parked
 * one's memory is left to its handler, which may still resume it). NULL is fine. */
void conns_stop(struct conns *cs);

/* For the request layer, on the connection's thread. */
const char *conn_ip(const struct conn *c); /* the peer address as text */
int conn_tls(const struct conn *c);
struct guard_conn *conn_guard(const struct conn *c); /* its entry in the guard, or NULL */

/* Answers the current request: status, header lines hdrs[0..hlen) ("Name: value\r\n" each),
 * body (taken: freed once written; NULL for none) of len bytes (sent for HEAD as its
 * Content-Length only). close: the connection closes after it (also when the client asked
 * for that or spoke HTTP/1.0 without keep-alive). A body not read yet is then not read. */
void conn_answer(struct conn *c, int status, const char *hdrs, size_t hlen, char *body, size_t len,
                 int close);

/* The request waits for an async handler; conn_resume (any thread, once) brings it back to
 * req_resume on the worker. */
void conn_park(struct conn *c);
void conn_resume(struct conn *c);

/* Appends "name: value\r\n" to a header block of cap bytes at *n (dropped when it does not
 * fit): for the request layer's answers. */
void conn_hdr(char *block, size_t cap, size_t *n, const char *name, const char *value);

#endif
