/* Fuzz target for the first bytes of a connection on the plain listener when the
 * development proxy is on (http/connect.c): whatever arrives, the parser answers one of its
 * four kinds, never reads past the input, and a CONNECT it accepts has a sane host, port and
 * head length. Feeding every prefix checks that a head split across reads is sorted the same
 * way once complete. */
#include "server/http/connect.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[256];
	unsigned port = 0;
	size_t head = 0;
	enum connect_kind k;

	k = connect_parse((const char *)data, size, host, sizeof(host), &port, &head);
	if (k == CONNECT_OK) {
		if (port < 1 || port > 65535 || head > size || head > CONNECT_HEAD_MAX ||
		    !host[0] || strlen(host) >= sizeof(host))
			abort();
		for (const char *p = host; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort(); /* hosts come out lower-case */
	}
	/* a prefix of a complete CONNECT is never taken for plain HTTP */
	if (k == CONNECT_OK || k == CONNECT_BAD) {
		for (size_t n = 0; n < size && n < 64; n++) {
			enum connect_kind pk = connect_parse((const char *)data, n, host,
			                                     sizeof(host), &port, &head);
			if (pk == CONNECT_PLAIN)
				abort();
		}
	}
	return 0;
}
