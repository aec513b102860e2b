/* The TTP URL protection click endpoint, GET /s/{token} (API.md §16.3): a rewritten link in
 * a delivered message leads here; the token (sealed by mail/process.c) names the original
 * URL, and the answer redirects to it. Clicks are not logged yet and managed or malicious
 * URLs not checked: the logs issue adds that here. */
#include "api.h"

#include "server/mail/process.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

int api_click(const struct server *srv, const char *token, char *location, size_t size)
{
	char acode[MAIL_ACODE_SIZE];

	return process_url_open(srv, token, location, size, acode, sizeof(acode));
}
