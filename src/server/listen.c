/* Listening sockets; see listen.h. */
#include "listen.h"

#include "common/err.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "common/banned.h"

int listen_parse(const char *hostport, struct sockaddr_storage *ss, socklen_t *len, struct err *e)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	size_t n;
	int rc;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host) || !colon[1])
		return err_set(e, MC_ERR_INVALID, "listen address '%s' is not host:port", hostport);
	n = (size_t)(colon - hostport);
	memcpy(host, hostport, n);
	host[n] = '\0';
	if (host[0] == '[') {
		if (n < 2 || host[n - 1] != ']')
			return err_set(e, MC_ERR_INVALID, "listen address '%s' is not host:port",
			               hostport);
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0 || !ai)
		return err_set(e, MC_ERR_INVALID, "listen address '%s': %s", hostport,
		               gai_strerror(rc));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int listen_open(const char *hostport, unsigned *port, struct err *e)
{
	struct sockaddr_storage ss, bound;
	socklen_t len, blen = sizeof(bound);
	int fd, one = 1;

	if (listen_parse(hostport, &ss, &len, e) != 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(e, MC_ERR_IO, "cannot listen on '%s': %s", hostport, strerror(errno));
		return -1;
	}
	/* SO_REUSEADDR only lets a restart bind while old connections sit in TIME_WAIT; it
	 * never lets two live listeners share the port (SO_REUSEPORT would). */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
		err_set(e, MC_ERR_IO, "cannot listen on '%s': %s", hostport, strerror(errno));
		close(fd);
		return -1;
	}
	*port = 0;
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0) {
		if (bound.ss_family == AF_INET)
			*port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
		else if (bound.ss_family == AF_INET6)
			*port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	}
	return fd;
}
