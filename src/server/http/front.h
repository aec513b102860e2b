/* The HTTP front: mcapid's own HTTP/1.1 server. Acceptors (connect.h) hand accepted
 * connections to worker threads with an epoll set each (conn.h), which parse and check every
 * request head on its raw bytes (framing.h; a framing error is answered 400 with the JSON
 * envelope and a close, on any request of any connection), read bodies by Content-Length or
 * chunks, and write answers with keep-alive and pipelining. The request layer (front.c)
 * applies the body limit before the body is read, runs the pipeline once the body is
 * complete, parks requests whose handler went asynchronous, and writes one access-log line
 * per request. The same code serves plain HTTP and HTTPS (OpenSSL, TLS 1.2 and 1.3,
 * tlsio.h); see connect.h for the development proxy. */
#ifndef MCAPI_SERVER_HTTP_FRONT_H
#define MCAPI_SERVER_HTTP_FRONT_H

struct server;
struct front;
struct err;

/* Starts listening on srv->cfg->listen (and tls_listen, with the connect_proxy acceptor
 * when it is on) with srv->cfg->threads workers per listener. A port in use is an error.
 * NULL + e on error. */
struct front *front_start(struct server *srv, struct err *e);

/* The TCP port actually bound (useful with port 0), of the plain and the HTTPS listener
 * (0 when there is none). */
unsigned front_port(const struct front *f);
unsigned front_tls_port(const struct front *f);

/* Stops accepting new connections at once. */
void front_quiesce(struct front *f);

/* Waits until no request is in flight or grace_ms passed; returns the number still running. */
int front_drain(struct front *f, int grace_ms);

/* Stops the workers and closes every connection; frees f. NULL is fine. */
void front_stop(struct front *f);

#endif
