/* Fuzz target for what a click brings from the network (API.md §16.3): the path of
 * GET /s/<token> and the URL inside a token, which the click logger parses (url_parse) and
 * matches against managed URLs and the malicious list. The first input byte picks the use:
 *  - odd: the rest is a request path; it must never open (the key is secret), whatever it is;
 *  - even: the rest is a URL sealed into a genuine token; the token must open to exactly that
 *    URL, one changed character must not open, and the URL parser and matchers must run on
 *    it without reading past it or accepting a part longer than its field. */
#include "server/ttp/clicks.h"
#include "server/ttp/urlcheck.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
	static struct click_token t, o;
	struct url_parts u;
	char *path, *tok;

	if (size == 0 || size > 8192)
		return 0;
	if (data[0] & 1) {
		if (!(path = malloc(size)))
			return 0;
		memcpy(path, data + 1, size - 1);
		path[size - 1] = '\0';
		if (click_path_open(key, path, &o) == 0)
			abort(); /* forged */
		free(path);
		return 0;
	}
	if (size - 1 >= sizeof(t.url) || memchr(data + 1, '\0', size - 1))
		return 0;
	memset(&t, 0, sizeof(t));
	memcpy(t.url, data + 1, size - 1);
	memcpy(t.acode, "fuzz", 5);
	t.account_id = 1;
	t.message_id = 2;
	memcpy(t.rcpt, "a@b.c", 6);
	if (!(tok = click_token_make(key, &t)))
		return 0; /* not valid UTF-8 for JSON, or too long */
	if (click_token_open(key, tok, strlen(tok), &o) != 0 || strcmp(o.url, t.url) != 0)
		abort();
	tok[strlen(tok) / 2] ^= 1; /* still base64url or not: must not open */
	if (click_token_open(key, tok, strlen(tok), &o) == 0)
		abort();
	free(tok);
	if (url_parse(t.url, strlen(t.url), 1, &u) == 0) {
		struct managed_url m;
		memset(&m, 0, sizeof(m));
		if (strlen(u.host) >= sizeof(u.host) || strlen(u.path) >= sizeof(u.path) ||
		    strlen(u.query) >= sizeof(u.query) || !u.host[0])
			abort();
		memcpy(m.domain, u.host, sizeof(m.domain));
		memcpy(m.path, u.path, sizeof(m.path));
		memcpy(m.query, u.query, sizeof(m.query));
		memcpy(m.scheme, u.scheme, sizeof(m.scheme));
		m.port = u.port;
		if (urlcheck_managed(&m, 1, &u) != 0)
			abort(); /* an explicit entry of the URL itself matches it */
		m.match_type = MURL_DOMAIN;
		if (urlcheck_managed(&m, 1, &u) != 0)
			abort();
		urllist_match(NULL, &u);
	}
	return 0;
}
