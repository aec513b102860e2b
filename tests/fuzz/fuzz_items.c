/* Fuzz target for the handlers' item readers: every function of the endpoint table (but
 * login, whose Argon2id check would slow each run to 0.1 s, and verify-domain, which waits
 * on DNS through the front) runs on a body made of the input, as the administrator of the
 * development account, against a real SQLite store (fuzz_server.h). The first byte picks
 * the function; the rest is the body, parsed as the pipeline parses it. Whatever arrives,
 * the handler answers synchronously with an envelope that serialises to JSON with meta,
 * data and fail, a call-level error is one of the table's, and an answer that is not a page
 * of a list stays within a bounded multiple of the request (issue: discovery once turned 980 KB
 * into 5.2 MB). */
#include "fuzz_server.h"

#include "server/pipeline.h"
#include "server/request.h"
#include "server/response.h"
#include "server/router.h"

#include <stdint.h>

#define ANSWER_SLACK (256 * 1024) /* list calls answer a page of what earlier runs stored */

static struct principal who;
static const struct route *routes[128];
static size_t nroutes;

static void setup(void)
{
	struct server *srv = fuzz_server();
	struct store *st = srv->store;

	if (store_binding_get(st, fuzz_cred("access_key"), &who.binding, NULL) != 0 ||
	    store_user_get(st, who.binding.user_id, &who.user, NULL) != 0 ||
	    store_account_get(st, who.user.account_id, &who.account, NULL) != 0 ||
	    store_app_get(st, fuzz_cred("app_id"), &who.app, NULL) != 0)
		abort();
	for (const struct route *r = router_table(); r->path && nroutes < 128; r++)
		if (strcmp(r->path, "/api/login/login") != 0 &&
		    strcmp(r->path, "/api/domain/verify-domain") != 0)
			routes[nroutes++] = r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request req;
	struct response res;
	char msg[256], *out;
	size_t len = 0;
	json_t *j;
	int rc;

	if (!nroutes)
		setup();
	if (size < 1)
		return 0;
	memset(&req, 0, sizeof(req));
	req.srv = fuzz_server();
	req.route = routes[data[0] % nroutes];
	req.path = req.route->path;
	req.method = "POST";
	req.req_id = "fuzz";
	snprintf(req.client_ip, sizeof(req.client_ip), "192.0.2.1");
	req.started_ms = now_ms();
	req.authenticated = 1;
	req.user_known = 1;
	req.who = who;
	if (response_init(&res) != 0)
		return 0;
	if (pipeline_parse_body(&req, (const char *)data + 1, size - 1, msg, sizeof(msg)) !=
	    API_OK) {
		json_decref(req.body);
		response_release(&res);
		return 0;
	}
	rc = req.route->fn(&req, &res);
	if (rc == MC_ERR_ASYNC)
		abort(); /* only the two routes left out go asynchronous */
	if (rc != 0 && res.error == API_OK)
		response_call_error(&res, api_error_from_mc(rc), NULL);
	if (res.error != API_OK && (res.status < 200 || res.status > 599))
		abort();
	if (rc == MC_ERR_NOMEM || res.error == API_INTERNAL)
		abort(); /* nothing the client sends may break the server */
	out = res.body ? NULL : response_serialise(&res, &len);
	if (out) {
		j = json_loadb(out, len, JSON_ALLOW_NUL, NULL); /* "\u0000" is valid JSON */
		if (!j || !json_is_object(json_object_get(j, "meta")) ||
		    !json_is_array(json_object_get(j, "data")) ||
		    !json_is_array(json_object_get(j, "fail")))
			abort();
		json_decref(j);
		/* a page of a list call is bounded by its page size instead */
		if (!res.pagination && len > ANSWER_SLACK + 16 * size) {
			fprintf(stderr, "fuzz items: %s answered %zu bytes to %zu\n", req.path, len,
			        size);
			abort();
		}
		free(out);
	}
	if (req.async_free)
		req.async_free(req.async_ctx);
	json_decref(req.body);
	response_release(&res);
	return 0;
}
