/* The connection guard of the HTTP front: deadlines that activity does not extend, and a
 * budget for the bytes of request bodies held in memory.
 *
 * An idle timeout alone lets a client that sends one byte every few seconds keep its slot for
 * ever. The guard tracks every connection from its accept (conn.c) with the phase it is in
 * and when that phase began, and a reaper thread shuts down (shutdown(2), SHUT_RDWR) the
 * socket of a connection that
 *   - has not delivered a complete header block header_timeout after its accept (the TLS
 *     handshake included), or after its request line on a kept-alive connection;
 *   - waits between requests longer than idle_timeout (the next request line must arrive in
 *     time; the workers' idle timer closes a silent connection at the same moment);
 *   - sends its body slower than body_min_rate bytes per second after a grace period.
 * The connection's worker then sees the socket end and closes the connection itself (the
 * request, if any, ends as aborted). The reaper touches a socket only under the guard's
 * mutex, and a connection leaves the guard (guard_conn_close, before its worker closes the
 * socket) under the same mutex, so a socket number reused by a later connection is never
 * shut down by mistake.
 *
 * The hot path takes no lock: a phase change is a relaxed atomic store on the connection's
 * own entry; the mutex is taken once per connection (open, close) and by the reaper.
 *
 * The body budget caps the bytes that request bodies may hold in memory at once: across the
 * server (body_budget: over it, 503) and per client IP (body_budget_per_ip: over it, 429).
 * The front does not count bodies of up to GUARD_SMALL_BODY bytes with a known length: they
 * are what normal calls send, so a client that fills the budget with large bodies cannot lock
 * the others out; they are bounded by the connection limits instead (max_connections x 16 KiB
 * server-wide, per_ip_connections x 16 KiB per address). The per-IP counters are a fixed
 * table indexed by a seeded hash of the address, so the table never grows; two addresses that
 * share a slot share its budget. */
#ifndef MCAPI_SERVER_HTTP_GUARD_H
#define MCAPI_SERVER_HTTP_GUARD_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct guard;
struct guard_conn;

/* Bodies of known length up to this size are not counted in the budget (see above). */
#define GUARD_SMALL_BODY 16384

struct guard_cfg {
	int64_t header_timeout_ms; /* complete header block after accept / request line */
	int64_t idle_timeout_ms;   /* next request line after an answer on a kept-alive conn */
	int64_t body_grace_ms;     /* a body may be slower than body_min_rate this long */
	int64_t body_min_rate;     /* bytes per second; 0 = no minimum */
	int64_t body_budget;       /* bytes of bodies in memory, server-wide */
	int64_t body_budget_per_ip;
	int sweep_ms; /* how often the reaper looks (0: no reaper thread, for tests) */
	/* Under pressure: while at least pressure_conns connections are open (0 = never), a
	 * header block is due pressure_header_ms after the accept / request line instead of
	 * header_timeout_ms. A real client sends its headers in one go, so a short deadline
	 * costs it nothing, while slots held by slow heads come back at once. */
	int64_t pressure_conns;
	int64_t pressure_header_ms;
};

enum guard_phase {
	GUARD_NEW,    /* accepted, before its first header block is complete */
	GUARD_HEADER, /* request line seen on a kept-alive connection, headers coming */
	GUARD_BODY,   /* headers accepted, body coming */
	GUARD_BUSY,   /* request complete: running, suspended or answering (not reaped) */
	GUARD_IDLE,   /* answer sent, waiting for the next request */
};

enum guard_cut {
	GUARD_KEEP = 0,
	GUARD_CUT_HEADER, /* header block not complete in time */
	GUARD_CUT_IDLE,   /* no next request line in time */
	GUARD_CUT_BODY,   /* body slower than the minimum rate */
};

/* What the reaper decides for one connection, without side effects (unit-tested):
 * phase began at since_ms, bytes of body arrived so far, now_ms is the monotonic clock. */
enum guard_cut guard_decide(const struct guard_cfg *cfg, enum guard_phase phase, int64_t since_ms,
                            int64_t bytes, int64_t now_ms);

/* A guard with cfg (copied) and, when cfg->sweep_ms > 0, its reaper thread. NULL with e set on
 * failure. Owned by the caller: guard_free stops the thread and frees the remaining entries. */
struct guard *guard_new(const struct guard_cfg *cfg, struct err *e);
void guard_free(struct guard *g);

/* A new connection on socket fd from client address ip (text, copied; for the log line of a
 * cut; may be NULL), in phase NEW from now_ms. NULL when out of memory (the connection is then
 * not guarded; its idle timeout still applies). */
struct guard_conn *guard_conn_open(struct guard *g, int fd, const char *ip, int64_t now_ms);

/* The connection is closing (before its socket is closed): it leaves the guard and c is
 * freed. c may be NULL. */
void guard_conn_close(struct guard *g, struct guard_conn *c);

/* Phase changes, on the connection's own thread; c may be NULL. guard_conn_request: a
 * request line arrived (NEW keeps its accept time: the first header block is due
 * header_timeout after the accept). guard_conn_body: the headers are accepted, a body follows.
 * guard_conn_busy: the request is complete (or answered early). guard_conn_idle: the answer
 * went out. */
void guard_conn_request(struct guard_conn *c, int64_t now_ms);
void guard_conn_body(struct guard_conn *c, int64_t now_ms);
void guard_conn_bytes(struct guard_conn *c, size_t n);
void guard_conn_busy(struct guard_conn *c);
void guard_conn_idle(struct guard_conn *c, int64_t now_ms);

/* One pass of the reaper at now_ms (the thread calls it every sweep_ms; tests call it
 * directly). Returns how many connections it cut. */
int guard_sweep(struct guard *g, int64_t now_ms);

/* Counters since start, for logs and tests. */
struct guard_stats {
	int64_t cut_header, cut_idle, cut_body; /* connections cut, by reason */
	int64_t refused_global, refused_ip;     /* bodies refused by the budget */
	int64_t body_bytes;                     /* bytes reserved right now */
	int64_t conns;                          /* connections tracked right now */
};
void guard_stats(struct guard *g, struct guard_stats *out);

/* Body budget. guard_budget_take reserves n bytes for a body from ip (NULL: server-wide
 * only): GUARD_BUDGET_OK, or GUARD_BUDGET_GLOBAL when the
 * server-wide budget would be exceeded (answer 503), GUARD_BUDGET_IP when the IP's would
 * (answer 429); nothing is reserved then. Each successful take is matched by a
 * guard_budget_give with the same ip (or NULL) and n once the body is freed; gives may be
 * summed. g may be NULL (no budget). */
enum { GUARD_BUDGET_OK = 0, GUARD_BUDGET_GLOBAL = 1, GUARD_BUDGET_IP = 2 };
int guard_budget_take(struct guard *g, const char *ip, size_t n);
void guard_budget_give(struct guard *g, const char *ip, size_t n);

#endif
