/* Listening sockets, bound by mcapid itself rather than by the libraries that serve them, so
 * that a port already in use is an error with its reason ("address in use") and never
 * shared: no SO_REUSEPORT, which would let a second mcapid answer part of the calls. */
#ifndef MCAPI_SERVER_LISTEN_H
#define MCAPI_SERVER_LISTEN_H

#include <sys/socket.h>

struct err;

/* Parses "host:port" or "[v6]:port" (host may be empty for every address) into ss.
 * 0 or MC_ERR_INVALID with a message. */
int listen_parse(const char *hostport, struct sockaddr_storage *ss, socklen_t *len, struct err *e);

/* Binds and listens on hostport (non-blocking, close-on-exec, SO_REUSEADDR only). Returns
 * the socket and sets *port to the port actually bound (useful with port 0), or -1 + e
 * ("cannot listen on '...': Address already in use"). The caller owns the socket. */
int listen_open(const char *hostport, unsigned *port, struct err *e);

#endif
