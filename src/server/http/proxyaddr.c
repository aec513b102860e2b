/* Trusted proxies and the client address behind them; see proxyaddr.h. Addresses are
 * compared as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so that a peer seen
 * on a dual-stack socket in mapped form matches an IPv4 entry. */
#include "proxyaddr.h"

#include "common/err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define MAX_NETS 64

struct net {
	unsigned char addr[16];
	int bits; /* of the 128 */
};

struct proxyaddr {
	size_t n;
	struct net nets[MAX_NETS];
};

/* Parses the address text s[0..n) (no brackets, no port) into a[16]. 0 or -1. */
static int addr_parse(const char *s, size_t n, unsigned char a[16], int *v4)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in_addr in4;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, &in4) == 1) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &in4, 4);
		*v4 = 1;
		return 0;
	}
	*v4 = 0;
	return inet_pton(AF_INET6, tmp, a) == 1 ? 0 : -1;
}

static int in_net(const struct net *nt, const unsigned char a[16])
{
	int full = nt->bits / 8, rest = nt->bits % 8;

	if (memcmp(nt->addr, a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (nt->addr[full] & mask) == (a[full] & mask);
}

static int trusted_bytes(const struct proxyaddr *t, const unsigned char a[16])
{
	for (size_t i = 0; t && i < t->n; i++)
		if (in_net(&t->nets[i], a))
			return 1;
	return 0;
}

int proxyaddr_parse(const char *list, struct proxyaddr **out, struct err *e)
{
	struct proxyaddr *t = NULL;
	const char *p = list;

	*out = NULL;
	while (p && *p) {
		const char *start, *end, *slash;
		struct net nt;
		int v4 = 0;
		long bits = -1;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != ',' && !isspace((unsigned char)*p))
			p++;
		end = p;
		slash = memchr(start, '/', (size_t)(end - start));
		if (addr_parse(start, (size_t)((slash ? slash : end) - start), nt.addr, &v4) != 0)
			goto bad;
		if (slash) {
			char *num_end;
			if (slash + 1 == end || !isdigit((unsigned char)slash[1]))
				goto bad;
			bits = strtol(slash + 1, &num_end, 10);
			if (num_end != end || bits > (v4 ? 32 : 128))
				goto bad;
		}
		nt.bits = bits < 0 ? 128 : (int)bits + (v4 ? 96 : 0);
		if (!t && !(t = calloc(1, sizeof(*t))))
			return err_set(e, MC_ERR_NOMEM, "out of memory");
		if (t->n == MAX_NETS) {
			proxyaddr_free(t);
			return err_set(e, MC_ERR_INVALID, "trusted_proxies: more than %d entries",
			               MAX_NETS);
		}
		t->nets[t->n++] = nt;
		continue;
	bad:
		proxyaddr_free(t);
		return err_set(e, MC_ERR_INVALID,
		               "trusted_proxies: '%.*s' is not an IP address or CIDR network",
		               (int)(end - start), start);
	}
	*out = t;
	return 0;
}

void proxyaddr_free(struct proxyaddr *t)
{
	free(t);
}

int proxyaddr_trusted(const struct proxyaddr *t, const char *ip)
{
	unsigned char a[16];
	int v4;

	return ip && addr_parse(ip, strlen(ip), a, &v4) == 0 && trusted_bytes(t, a);
}

/* The address of one hop s[0..n) as X-Forwarded-For or Forwarded's for= give it: maybe
 * quoted, "[v6]" or "[v6]:port", "v4:port", a bare v6. 0 or -1 (not an address). */
static int hop_parse(const char *s, size_t n, unsigned char a[16], int *v4)
{
	const char *colon;

	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		s++, n -= 2;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return -1;
		return addr_parse(s + 1, (size_t)(close - s - 1), a, v4);
	}
	colon = memchr(s, ':', n);
	if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
		n = (size_t)(colon - s); /* v4:port */
	return addr_parse(s, n, a, v4);
}

/* The value of the for= parameter of one Forwarded element s[0..n), or len 0. */
static struct proxyaddr_hdr forwarded_for(const char *s, size_t n)
{
	struct proxyaddr_hdr none = {s, 0};
	size_t i = 0;

	while (i < n) {
		size_t j = i, k;
		int quoted = 0;

		while (j < n && (s[j] != ';' || quoted)) {
			if (s[j] == '"')
				quoted = !quoted;
			j++;
		}
		k = i;
		while (k < j && isspace((unsigned char)s[k]))
			k++;
		if (j - k > 4 && strncasecmp(s + k, "for=", 4) == 0)
			return (struct proxyaddr_hdr){s + k + 4, j - k - 4};
		i = j + 1;
	}
	return none;
}

void proxyaddr_client(const struct proxyaddr *t, const char *peer, const struct proxyaddr_hdr *xff,
                      size_t nxff, const struct proxyaddr_hdr *fwd, size_t nfwd, char *out,
                      size_t size)
{
	const struct proxyaddr_hdr *h = nxff ? xff : fwd;
	size_t nh = nxff ? nxff : nfwd;
	unsigned char a[16];
	int v4 = 0;

	snprintf(out, size, "%s", peer);
	if (!proxyaddr_trusted(t, peer))
		return;
	/* from the last header's last hop to the first header's first */
	for (size_t k = nh; k-- > 0;) {
		const char *s = h[k].s;
		size_t end = h[k].len;

		while (end > 0) {
			size_t start = end;
			int quoted = 0;
			struct proxyaddr_hdr hop;

			while (start > 0 && (s[start - 1] != ',' || quoted)) {
				if (s[start - 1] == '"')
					quoted = !quoted;
				start--;
			}
			hop = (struct proxyaddr_hdr){s + start, end - start};
			if (!nxff)
				hop = forwarded_for(hop.s, hop.len);
			end = start ? start - 1 : 0;
			if (hop_parse(hop.s, hop.len, a, &v4) != 0)
				return; /* the trusted hop that named it stays the client */
			if (v4)
				inet_ntop(AF_INET, a + 12, out, (socklen_t)size);
			else
				inet_ntop(AF_INET6, a, out, (socklen_t)size);
			if (!trusted_bytes(t, a))
				return;
		}
	}
}
