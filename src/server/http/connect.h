/* The acceptors of the front: one thread per listener accepts connections and hands each
 * to the workers (conn.h), which parse and check every request. With the development proxy
 * on, the plain listener's acceptor first peeks at a new connection's bytes: one that opens
 * with `CONNECT host:443 HTTP/1.x` is a proxy tunnel: for an allowed host (the Mimecast API
 * names) the acceptor answers `200 Connection established` and hands the socket to the
 * HTTPS side, which then does the TLS handshake as if the client had connected to it
 * directly (no bytes are relayed); any other host gets 403 and is closed, so this is never
 * an open proxy. Every other connection is handed on unread (only peeked bytes are
 * examined, so nothing a client sent is lost). A connection that sends nothing within the
 * timeout is closed. One thread, one epoll set, a bounded number of connections waiting to
 * be sorted, at most per_ip of them from one address. Without the proxy, connections are
 * handed on as they are accepted. */
#ifndef MCAPI_SERVER_HTTP_CONNECT_H
#define MCAPI_SERVER_HTTP_CONNECT_H

#include <stddef.h>
#include <sys/socket.h>

#include "server/response.h"

struct err;
struct connect_sorter;

struct connect_cfg {
	int listen_fd;  /* taken over: closed by connect_stop */
	int timeout_ms; /* for the first bytes and for a whole CONNECT head */
	/* while at least half of max_pending wait, a connection may wait this long at most
	 * (slow heads must not hold the acceptor's slots; 0 = timeout_ms always) */
	int pressure_timeout_ms;
	int max_pending; /* connections waiting to be sorted; more wait in the kernel backlog */
	int per_ip;      /* of those, most from one client address (0 = no limit); more: closed */
	/* 1 if a tunnel to host:port may be opened; NULL = no proxy: a CONNECT request is
	 * checked and handed on like any other */
	int (*allowed)(void *arg, const char *host, unsigned port);
	/* hand-offs; the callee owns fd from then on (and closes it on failure) */
	void (*plain)(void *arg, int fd, const struct sockaddr *sa, socklen_t len);
	void (*tunnel)(void *arg, int fd, const struct sockaddr *sa, socklen_t len);
	void *arg;
};

#define CONNECT_HEAD_MAX 4096 /* a longer CONNECT head is refused */

/* Starts the acceptor thread. NULL + e on failure (the listening socket is then closed). */
struct connect_sorter *connect_start(const struct connect_cfg *cfg, struct err *e);

/* Stops accepting: the listening socket refuses new connections from now on. */
void connect_quiesce(struct connect_sorter *c);

/* Stops the thread and closes the listening socket and every connection not yet handed
 * off; frees c. NULL is fine. */
void connect_stop(struct connect_sorter *c);

/* The parser, on its own (unit tests, fuzzing): looks at the first n bytes of a connection.
 * Returns CONNECT_PLAIN (not a CONNECT request), CONNECT_MORE (a prefix of one: read more),
 * CONNECT_BAD (a malformed CONNECT, or a head over CONNECT_HEAD_MAX), or CONNECT_OK with
 * the host (lower-case, no brackets or trailing dot) in host[hostsz], the port in *port and
 * the length of the whole head (through the empty line) in *head_len. */
enum connect_kind { CONNECT_PLAIN, CONNECT_MORE, CONNECT_BAD, CONNECT_OK };
enum connect_kind connect_parse(const char *p, size_t n, char *host, size_t hostsz, unsigned *port,
                                size_t *head_len);

#endif
