/* The client address of a request that came through trusted proxies (trusted_proxies):
 * when the peer of the connection is one of them, the address is taken from
 * X-Forwarded-For (or, without that header, from the for= parameters of Forwarded,
 * RFC 7239), walking from the right and skipping every trusted hop; the first untrusted
 * address is the client. Addresses a client put in front of the headers it sent are left
 * of that and never read, so a client cannot choose the address its per-IP limits are
 * counted under. A peer that is not trusted is the client whatever it sends. Parsed once
 * at start-up, then read-only: any thread may call proxyaddr_client. */
#ifndef MCAPI_SERVER_HTTP_PROXYADDR_H
#define MCAPI_SERVER_HTTP_PROXYADDR_H

#include <stddef.h>

struct err;
struct proxyaddr;

/* One header value (not NUL-terminated). */
struct proxyaddr_hdr {
	const char *s;
	size_t len;
};

/* Parses list ("10.0.0.0/8, 127.0.0.1, ::1, fd00::/8"): IPv4 or IPv6 addresses, each with
 * an optional /prefix. *out is NULL for an empty list (nothing trusted), else owned by the
 * caller (proxyaddr_free). MC_ERR_INVALID names the bad entry. */
int proxyaddr_parse(const char *list, struct proxyaddr **out, struct err *e);

void proxyaddr_free(struct proxyaddr *t);

/* 1 if ip (text) is inside one of t's networks; 0 when t is NULL or ip is not an address. */
int proxyaddr_trusted(const struct proxyaddr *t, const char *ip);

/* Writes the client's address to out (size bytes, at least 46): the peer's own when t
 * does not trust it, else the right-most untrusted address of the xff values (in the
 * order received), or of the fwd values when there are no xff values. A hop that is not an
 * address ("unknown", an obfuscated name) ends the walk at the trusted hop that named it,
 * as does a list made only of trusted hops. */
void proxyaddr_client(const struct proxyaddr *t, const char *peer, const struct proxyaddr_hdr *xff,
                      size_t nxff, const struct proxyaddr_hdr *fwd, size_t nfwd, char *out,
                      size_t size);

#endif
