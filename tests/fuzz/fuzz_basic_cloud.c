/* Fuzz target for what a login call brings before any password is checked: the Basic-Cloud
 * Authorization value (auth/basic_cloud.c) and the bodies the login endpoints accept,
 * including the form-encoded body that logout takes as "no body" (pipeline_parse_body with
 * the logout route). The input is the header value, a newline, then the body. Whatever
 * arrives, an accepted header gives a non-empty lower-case address of at most 255 bytes
 * without NUL and a password within PASSWORD_MAX that re-encode to the same credentials,
 * and a refused one leaves nothing behind; a body is accepted as an object with an array of
 * objects in data, or refused with a message. */
#include "common/b64.h"
#include "server/auth/basic_cloud.h"
#include "server/pipeline.h"
#include "server/request.h"
#include "server/response.h"
#include "server/router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void check_header(const char *h)
{
	static const struct basic_cloud zero;
	struct basic_cloud bc;
	enum basic_cloud_status st = basic_cloud_parse(h, &bc);
	size_t n;

	if (st != BASIC_CLOUD_OK) {
		if (memcmp(&bc, &zero, sizeof(bc)) != 0)
			abort();
		return;
	}
	n = strlen(bc.email);
	if (n == 0 || n > BASIC_CLOUD_EMAIL_MAX || bc.pw_n > PASSWORD_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (bc.email[i] >= 'A' && bc.email[i] <= 'Z')
			abort();
	if (bc.pw < (const char *)bc.plain + n + 1 ||
	    bc.pw + bc.pw_n > (const char *)bc.plain + sizeof(bc.plain))
		abort();
	/* email:password, encoded again, parses to the same thing */
	{
		unsigned char plain[BASIC_CLOUD_PLAIN_MAX];
		char hdr[sizeof("Basic-Cloud ") + B64_ENCODED_SIZE(BASIC_CLOUD_PLAIN_MAX)];
		struct basic_cloud again;

		memcpy(plain, bc.email, n);
		plain[n] = ':';
		memcpy(plain + n + 1, bc.pw, bc.pw_n);
		memcpy(hdr, "basic-cloud ", 12);
		b64_encode(plain, n + 1 + bc.pw_n, hdr + 12);
		if (basic_cloud_parse(hdr, &again) != BASIC_CLOUD_OK ||
		    strcmp(again.email, bc.email) != 0 || again.pw_n != bc.pw_n ||
		    memcmp(again.pw, bc.pw, bc.pw_n) != 0)
			abort();
		basic_cloud_clear(&again);
	}
	basic_cloud_clear(&bc);
}

static void check_body(const char *path, const char *body, size_t len)
{
	struct request req;
	char msg[256];

	memset(&req, 0, sizeof(req));
	req.route = router_match(path, strlen(path));
	if (!req.route)
		abort();
	if (pipeline_parse_body(&req, body, len, msg, sizeof(msg)) == API_OK) {
		if (!json_is_object(req.body) || !json_is_array(req.data))
			abort();
		for (size_t i = 0; i < json_array_size(req.data); i++)
			if (!json_is_object(json_array_get(req.data, i)))
				abort();
	} else if (!msg[0]) {
		abort();
	}
	json_decref(req.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hn = nl ? (size_t)(nl - data) : size;
	char *h = malloc(hn + 1);

	if (!h)
		return 0;
	memcpy(h, data, hn);
	h[hn] = '\0';
	check_header(h);
	free(h);
	if (nl) {
		const char *body = (const char *)nl + 1;
		size_t len = size - hn - 1;
		check_body("/api/login/logout", body, len);
		check_body("/api/login/login", body, len);
	}
	return 0;
}
