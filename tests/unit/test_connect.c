/* The CONNECT sorter's parser (http/connect.c): plain HTTP is never mistaken for a tunnel,
 * split heads wait for more, malformed ones are refused, and accepted ones give the host
 * (lower-case, no brackets or trailing dot), the port and the head's exact length. */
#include "server/http/connect.h"
#include "server/region.h"
#include "server/tls/devca.h"
#include "tap.h"

#include <string.h>

static enum connect_kind parse(const char *s, char *host, unsigned *port, size_t *head)
{
	return connect_parse(s, strlen(s), host, 256, port, head);
}

static void test_parse(void)
{
	char host[256];
	unsigned port = 0;
	size_t head = 0;
	const char *ok = "CONNECT API.Mimecast.com.:443 HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03";

	CHECK_INT(parse(ok, host, &port, &head), CONNECT_OK);
	CHECK_STR(host, "api.mimecast.com");
	CHECK_INT(port, 443);
	CHECK_INT(head, strlen(ok) - 2); /* the ClientHello after the head is not part of it */
	CHECK_INT(parse("CONNECT [::1]:8443 HTTP/1.0\r\n\r\n", host, &port, &head), CONNECT_OK);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 8443);

	CHECK_INT(parse("", host, &port, &head), CONNECT_MORE);
	CHECK_INT(parse("CONN", host, &port, &head), CONNECT_MORE);
	CHECK_INT(parse("CONNECT api.mimecast.com:443 HTTP/1.1\r\nHost: x\r\n", host, &port, &head),
	          CONNECT_MORE);
	CHECK_INT(parse("GET / HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_PLAIN);
	CHECK_INT(parse("POST /api/x HTTP/1.1\r\n", host, &port, &head), CONNECT_PLAIN);
	CHECK_INT(parse("connect a:443 HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_PLAIN);
	CHECK_INT(parse("CONNECTED", host, &port, &head), CONNECT_PLAIN);

	CHECK_INT(parse("CONNECT a HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_BAD);
	CHECK_INT(parse("CONNECT a:0 HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_BAD);
	CHECK_INT(parse("CONNECT a:65536 HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_BAD);
	CHECK_INT(parse("CONNECT a:44x HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_BAD);
	CHECK_INT(parse("CONNECT :443 HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_BAD);
	CHECK_INT(parse("CONNECT a:443 HTTP/2.0\r\n\r\n", host, &port, &head), CONNECT_BAD);
	CHECK_INT(parse("CONNECT a b:443 HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_BAD);
	CHECK_INT(parse("CONNECT a/b:443 HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_BAD);
	CHECK_INT(parse("CONNECT [::1:443 HTTP/1.1\r\n\r\n", host, &port, &head), CONNECT_BAD);
	{
		static char big[CONNECT_HEAD_MAX + 64];
		memset(big, 'a', sizeof(big) - 1);
		memcpy(big, "CONNECT ", 8);
		CHECK_INT(parse(big, host, &port, &head), CONNECT_BAD);
	}
}

/* Which names a tunnel may reach: Mimecast's API hosts only. */
static void test_hosts(void)
{
	CHECK(region_is_mimecast_host("api.mimecast.com"));
	CHECK(region_is_mimecast_host("EU-API.mimecast.com."));
	CHECK(region_is_mimecast_host("usb-api.mimecast.com"));
	CHECK(region_is_mimecast_host("je-api.mimecast.com"));
	CHECK(!region_is_mimecast_host("api-api.mimecast.com"));
	CHECK(!region_is_mimecast_host("xx-api.mimecast.com"));
	CHECK(!region_is_mimecast_host("mimecast.com"));
	CHECK(!region_is_mimecast_host("eu-api.mimecast.com.evil.net"));
	CHECK(!region_is_mimecast_host("www.mimecast.com"));
	CHECK(!region_is_mimecast_host("-api.mimecast.com"));
	CHECK(!region_is_mimecast_host(""));
	/* the development certificate covers exactly the names a tunnel may reach */
	for (size_t i = 0; i < DEVCA_MIMECAST_HOSTS; i++)
		CHECK(region_is_mimecast_host(devca_mimecast_hosts[i]));
}

int main(void)
{
	test_parse();
	test_hosts();
	return tap_done();
}
