/* The HTTP front: libmicrohttpd with its internal thread pool over epoll. It owns the
 * connections and the per-request memory, applies the framing checks and the body limit
 * before the body is read, runs the pipeline once the body is complete, suspends
 * connections whose handler went asynchronous, writes the response and one access-log
 * line per request. */
#ifndef MCAPI_SERVER_HTTP_FRONT_H
#define MCAPI_SERVER_HTTP_FRONT_H

struct server;
struct front;
struct err;

/* Starts listening on srv->cfg->listen with srv->cfg->threads workers. NULL + e on error. */
struct front *front_start(struct server *srv, struct err *e);

/* The TCP port actually bound (useful with port 0). */
unsigned front_port(const struct front *f);

/* Stops accepting new connections at once. */
void front_quiesce(struct front *f);

/* Waits until no request is in flight or grace_ms passed; returns the number still running. */
int front_drain(struct front *f, int grace_ms);

/* Stops the workers and closes every connection; frees f. NULL is fine. */
void front_stop(struct front *f);

#endif
