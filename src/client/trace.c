/* Trace events of libmcapi (mcapi_client_set_trace): what a caller's --verbose or --debug
 * shows of each attempt, answer, failure and wait. The events are built here so that the
 * retry loop of client.c stays one call per event, and so that no secret can leave the
 * library through them: the Authorization header is handed out as "MC ****:****". */
#include "client_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/banned.h"

MCAPI_EXPORT void mcapi_client_set_trace(struct mcapi_client *c, mcapi_trace_fn fn, void *arg)
{
	if (!c)
		return;
	c->trace = fn;
	c->trace_arg = arg;
}

long client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void trace_init(struct mcapi_trace *t, const struct mcapi_client *c, int kind, int attempt,
                       const char *url)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->attempt = attempt;
	t->max_attempts = c->max_retries + 1;
	t->url = url;
	t->req_id = "";
	t->headers = "";
	t->body = "";
}

void client_trace_request(struct mcapi_client *c, int attempt, const char *url,
                          const struct mcapi_headers *h, const char *body)
{
	struct mcapi_trace t;
	char hdrs[1024];

	if (!c->trace)
		return;
	/* the headers of mcapi_call, with the signature and the access key masked */
	snprintf(hdrs, sizeof(hdrs),
	         "Authorization: MC ****:****\nx-mc-app-id: %s\nx-mc-date: %s\nx-mc-req-id: %s\n"
	         "Content-Type: application/json\nAccept: application/json\n",
	         h->app_id, h->date, h->req_id);
	trace_init(&t, c, MCAPI_TRACE_REQUEST, attempt, url);
	t.req_id = h->req_id;
	t.headers = hdrs;
	t.body = body;
	t.body_len = strlen(body);
	c->trace(&t, c->trace_arg);
}

void client_trace_response(struct mcapi_client *c, int attempt, const char *url, const char *req_id,
                           const struct http_result *res, long start_ms)
{
	struct mcapi_trace t;

	if (!c->trace)
		return;
	trace_init(&t, c, MCAPI_TRACE_RESPONSE, attempt, url);
	t.req_id = req_id;
	t.headers = res->headers.data ? res->headers.data : "";
	t.body = res->body.data ? res->body.data : "";
	t.body_len = res->body.len;
	t.status = res->status;
	t.elapsed_ms = client_now_ms() - start_ms;
	c->trace(&t, c->trace_arg);
}

void client_trace_wait(struct mcapi_client *c, int attempt, const char *url, long status,
                       const char *message, long wait_ms)
{
	struct mcapi_trace t;

	if (!c->trace)
		return;
	trace_init(&t, c, MCAPI_TRACE_RETRY, attempt, url);
	t.status = status;
	t.message = message;
	t.wait_ms = wait_ms;
	c->trace(&t, c->trace_arg);
}

void client_trace_error(struct mcapi_client *c, int attempt, const char *url, const char *req_id,
                        const char *message, long start_ms)
{
	struct mcapi_trace t;

	if (!c->trace)
		return;
	trace_init(&t, c, MCAPI_TRACE_ERROR, attempt, url);
	t.req_id = req_id;
	t.message = message;
	t.elapsed_ms = client_now_ms() - start_ms;
	c->trace(&t, c->trace_arg);
}
