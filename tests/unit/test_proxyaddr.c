/* Trusted proxies (http/proxyaddr.h): the list parser, membership, and the client address
 * taken from X-Forwarded-For and Forwarded, right to left, only behind trusted peers. */
#include "common/err.h"
#include "server/http/proxyaddr.h"
#include "tap.h"

#include <string.h>

#define HDR(v)                                                                                     \
	{                                                                                          \
		v, sizeof(v) - 1                                                                   \
	}

static const char *client(const struct proxyaddr *t, const char *peer, const char *xff,
                          const char *fwd)
{
	static char out[64];
	struct proxyaddr_hdr x = {xff, xff ? strlen(xff) : 0}, f = {fwd, fwd ? strlen(fwd) : 0};

	proxyaddr_client(t, peer, &x, xff ? 1 : 0, &f, fwd ? 1 : 0, out, sizeof(out));
	return out;
}

int main(void)
{
	struct proxyaddr *t = NULL;
	struct err e = {0};

	CHECK(proxyaddr_parse("", &t, &e) == 0 && t == NULL);
	CHECK(!proxyaddr_trusted(NULL, "127.0.0.1"));
	CHECK_STR(client(NULL, "127.0.0.1", "203.0.113.9", NULL), "127.0.0.1");
	CHECK(proxyaddr_parse("10.0.0.0/8", &t, &e) == 0 && t);
	proxyaddr_free(t);
	CHECK(proxyaddr_parse("10.0.0.0/33", &t, &e) == MC_ERR_INVALID);
	CHECK(strstr(e.msg, "10.0.0.0/33") != NULL);
	CHECK(proxyaddr_parse("example.com", &t, &e) == MC_ERR_INVALID);
	CHECK(proxyaddr_parse("10.0.0.0/", &t, &e) == MC_ERR_INVALID);

	CHECK(proxyaddr_parse(" 127.0.0.1, 10.0.0.0/8 ,fd00::/8,::1", &t, &e) == 0);
	CHECK(proxyaddr_trusted(t, "127.0.0.1"));
	CHECK(!proxyaddr_trusted(t, "127.0.0.2"));
	CHECK(proxyaddr_trusted(t, "10.200.3.4"));
	CHECK(proxyaddr_trusted(t, "::ffff:10.1.2.3")); /* mapped form of a dual-stack socket */
	CHECK(proxyaddr_trusted(t, "fd12::5"));
	CHECK(proxyaddr_trusted(t, "::1"));
	CHECK(!proxyaddr_trusted(t, "fe80::1"));
	CHECK(!proxyaddr_trusted(t, "junk"));

	/* an untrusted peer is the client whatever it says */
	CHECK_STR(client(t, "198.51.100.7", "203.0.113.9", NULL), "198.51.100.7");
	/* a trusted peer without the header is the client */
	CHECK_STR(client(t, "127.0.0.1", NULL, NULL), "127.0.0.1");
	/* the right-most untrusted hop: what a client prepends is never read */
	CHECK_STR(client(t, "127.0.0.1", "1.1.1.1, 203.0.113.9", NULL), "203.0.113.9");
	CHECK_STR(client(t, "127.0.0.1", "1.1.1.1, 203.0.113.9, 10.0.0.5", NULL), "203.0.113.9");
	CHECK_STR(client(t, "127.0.0.1", "203.0.113.9:4711", NULL), "203.0.113.9");
	CHECK_STR(client(t, "127.0.0.1", "[2001:db8::1]:80", NULL), "2001:db8::1");
	CHECK_STR(client(t, "127.0.0.1", "2001:db8::1", NULL), "2001:db8::1");
	/* only trusted hops: the left-most; a hop that is no address: the hop that named it */
	CHECK_STR(client(t, "127.0.0.1", "10.0.0.9, 10.0.0.5", NULL), "10.0.0.9");
	CHECK_STR(client(t, "127.0.0.1", "203.0.113.9, unknown", NULL), "127.0.0.1");
	CHECK_STR(client(t, "127.0.0.1", "203.0.113.9, unknown, 10.0.0.5", NULL), "10.0.0.5");
	CHECK_STR(client(t, "127.0.0.1", "", NULL), "127.0.0.1");
	/* several X-Forwarded-For lines are one list, in order */
	{
		struct proxyaddr_hdr two[] = {HDR("192.0.2.1"), HDR("198.51.100.2, 10.0.0.1")};
		char out[64];
		proxyaddr_client(t, "127.0.0.1", two, 2, NULL, 0, out, sizeof(out));
		CHECK_STR(out, "198.51.100.2");
		proxyaddr_client(t, "127.0.0.1", two, 1, NULL, 0, out, sizeof(out));
		CHECK_STR(out, "192.0.2.1");
	}
	/* Forwarded (RFC 7239), read only when there is no X-Forwarded-For */
	CHECK_STR(client(t, "127.0.0.1", NULL, "for=192.0.2.60;proto=http;by=203.0.113.43"),
	          "192.0.2.60");
	CHECK_STR(client(t, "127.0.0.1", NULL, "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\""),
	          "2001:db8:cafe::17");
	CHECK_STR(client(t, "127.0.0.1", NULL, "For=\"198.51.100.3:80\";proto=https, for=10.0.0.2"),
	          "198.51.100.3");
	CHECK_STR(client(t, "127.0.0.1", NULL, "for=_hidden"), "127.0.0.1");
	CHECK_STR(client(t, "127.0.0.1", NULL, "proto=http"), "127.0.0.1");
	CHECK_STR(client(t, "127.0.0.1", "203.0.113.9", "for=192.0.2.60"), "203.0.113.9");
	proxyaddr_free(t);
	return tap_done();
}
