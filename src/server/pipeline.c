/* The request pipeline; see pipeline.h. Read top to bottom: this is what every API call
 * goes through. */
#include "pipeline.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/pyjson.h"
#include "server/auth/auth.h"
#include "server/config.h"
#include "server/emu/emu.h"
#include "server/perm.h"
#include "server/ratelimit.h"
#include "server/router.h"
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static int is_form_body(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++, n--;
	return n && *p != '{' && *p != '[' && memchr(p, '=', n) != NULL;
}

/* 1 if v holds a string with U+0000 anywhere (the normaliser bounds the depth). */
static int has_nul(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return memchr(json_string_value(v), 0, json_string_length(v)) != NULL;
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
		{
			if (has_nul(x))
				return 1;
		}
		return 0;
	case JSON_OBJECT:
		json_object_foreach(v, k, x)
		{
			if (has_nul(x))
				return 1;
		}
		return 0;
	default:
		return 0;
	}
}

/* An item with U+0000 in one of its strings fails on its own, as any other invalid value
 * (no field of the API takes it, and C strings would cut it short): it goes to fail[] and
 * out of data before the function runs. Returns 1 when that left nothing to run on. */
static int fail_nul_items(struct request *req, struct response *res)
{
	size_t i = 0;
	int had = json_array_size(req->data) > 0;

	while (i < json_array_size(req->data)) {
		json_t *item = json_array_get(req->data, i), *x;
		const char *k, *field = NULL;

		json_object_foreach(item, k, x)
		{
			if (has_nul(x)) {
				field = k;
				break;
			}
		}
		if (!field) {
			i++;
			continue;
		}
		response_fail_item(res, item, "err_validation_invalid_value",
		                   "the value holds the NUL character (\\u0000)", field, 0);
		json_array_remove(req->data, i);
	}
	return had && json_array_size(req->data) == 0;
}

#define EMPTY_BODY "{\"data\":[]}"

enum api_error pipeline_parse_body(struct request *req, const char *body, size_t len, char *msg,
                                   size_t msg_size)
{
	struct buf out;
	struct err e;
	json_error_t je;
	json_t *root = NULL, *data, *meta;
	enum api_error ae = API_MALFORMED_BODY;
	size_t i;

	buf_init(&out, len * 6 + 64);
	if (req->route && (req->route->flags & ROUTE_FORM_BODY_OK) && is_form_body(body, len))
		len = 0; /* a form-encoded logout body means "no body" */
	/* The body of most calls, which normalises to what no body gives: skip the parser. */
	if (len == sizeof(EMPTY_BODY) - 1 && memcmp(body, EMPTY_BODY, len) == 0)
		len = 0;
	if (len && pyjson_normalise(body, len, PYJSON_MAX_DEPTH, &out, &e) != 0) {
		snprintf(msg, msg_size, "the request body is not valid JSON: %s", e.msg);
		goto out;
	}
	if (out.len == 0) {
		/* {"data":[]}, built directly (json_pack parses its format on every call) */
		json_t *empty = json_array();
		root = json_object();
		if (!empty || !root || json_object_set_new(root, "data", empty) != 0) {
			json_decref(root);
			ae = API_INTERNAL;
			goto out;
		}
	} else
		root = json_loadb(out.data, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!root) {
		snprintf(msg, msg_size, "the request body is not valid JSON: %s", je.text);
		goto out;
	}
	if (!json_is_object(root)) {
		snprintf(msg, msg_size, "the request body must be a JSON object");
		goto out;
	}
	json_strip_nulls(root);
	meta = json_object_get(root, "meta");
	if (meta && !json_is_object(meta)) {
		snprintf(msg, msg_size, "'meta' must be an object");
		goto out;
	}
	if (meta && has_nul(meta)) {
		snprintf(msg, msg_size, "a string in 'meta' holds the NUL character (\\u0000)");
		goto out;
	}
	data = json_object_get(root, "data");
	if (!data) {
		data = json_array();
		json_object_set_new(root, "data", data);
	}
	if (!json_is_array(data)) {
		snprintf(msg, msg_size, "'data' must be an array");
		goto out;
	}
	for (i = 0; i < json_array_size(data); i++) {
		if (!json_is_object(json_array_get(data, i))) {
			snprintf(msg, msg_size, "item %zu of 'data' must be an object", i);
			goto out;
		}
	}
	req->body = root;
	req->meta = meta;
	req->data = data;
	root = NULL;
	ae = API_OK;
out:
	json_decref(root);
	buf_release(&out);
	return ae;
}

/* Decimal of a non-negative number into dst (>= 21 bytes); snprintf is too slow here. */
static const char *decimal(int64_t v, char dst[24])
{
	char *p = dst + 23;
	uint64_t u = v < 0 ? 0 : (uint64_t)v;

	*p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	return p;
}

static void rate_headers(struct response *res, const struct rl_verdict *v)
{
	char num[24];

	response_header(res, "X-RateLimit-Limit", decimal(v->limit, num));
	response_header(res, "X-RateLimit-Remaining", decimal(v->remaining, num));
	response_header(res, "X-RateLimit-Reset", decimal(v->reset_ms, num));
	res->rate_set = 1;
	res->rate_reset_ms = v->reset_ms;
}

/* Failed authentications count against the client IP; store trouble does not. */
static int is_auth_failure(enum api_error ae)
{
	return ae != API_INTERNAL && ae != API_UNAVAILABLE;
}

/* The end of the header stage once the rate limit and claim (auth_take) answered ae with
 * verdict v: 1 to go on, 0 with the refusal in res (the rate limit's, else the permission's
 * when run is 0). */
static int take_verdict(struct request *req, struct response *res, enum api_error ae,
                        const struct rl_verdict *v, int run, char *msg, size_t msg_size)
{
	if (v->limit)
		rate_headers(res, v);
	if (ae == API_OK && !run) {
		snprintf(msg, msg_size, "the user lacks the permission '%s'",
		         perm_name(req->route->perm));
		ae = API_FORBIDDEN;
	}
	if (ae != API_OK) {
		response_call_error(res, ae, msg[0] ? msg : NULL);
		return 0;
	}
	return 1;
}

/* auth_take on this thread at now (mono_ms), then take_verdict. */
static int take_now(struct request *req, struct response *res, int run, int64_t now)
{
	struct rl_verdict v;
	char msg[256] = "";
	enum api_error ae = auth_take(req, run, now, &v, msg, sizeof(msg), &res->retry_after_s);

	return take_verdict(req, res, ae, &v, run, msg, sizeof(msg));
}

int pipeline_headers(struct request *req, struct response *res)
{
	struct server *srv = req->srv;
	const struct route *r = req->route;
	int64_t now = mono_ms();
	enum api_error ae;
	char msg[256] = "";
	int run;

	if (r->auth == ROUTE_APP_ONLY) {
		/* login and discovery: every call counts against the client IP */
		if (!iplimit_take(srv->ipl, req->client_ip, now)) {
			ae = API_TOO_MANY_FAILURES;
			goto fail;
		}
		if ((ae = auth_app(req, msg, sizeof(msg))) != API_OK)
			goto fail;
		return 1;
	}
	if ((ae = auth_signed(req, msg, sizeof(msg))) != API_OK) {
		/* Only failures count; a correctly signed call is never refused for its IP, so
		 * integrations sharing an address with a misconfigured one keep working. */
		if (is_auth_failure(ae) && !iplimit_take(srv->ipl, req->client_ip, now)) {
			ae = API_TOO_MANY_FAILURES;
			msg[0] = '\0';
		}
		goto fail;
	}
	/* The rate limit, then the permission; the request id is used up only when the
	 * function runs (§2.2): auth_take claims it with the call if run (one round trip on a
	 * shared store). */
	run = !r->perm || (perm_effective(req->who.user.perms) & r->perm);
	if (req->gate_defer && store_shared_gate_async(srv->store)) {
		req->gate_deferred = 1; /* pipeline_body's first step */
		req->gate_run = run;
		return 1;
	}
	return take_now(req, res, run, now);
fail:
	response_call_error(res, ae, msg[0] ? msg : NULL);
	return 0;
}

/* The body stage once the body is parsed and no fault rule stands in the way: the function.
 * The request id was claimed with the rate limit in the header stage (one round trip on a
 * shared store); a call that ends before this point gives it back (pipeline_finish). */
static int body_rest(struct request *req, struct response *res)
{
	const struct route *r = req->route;

	req->ran = 1;
	if (r->auth != ROUTE_APP_ONLY)
		auth_extend(req);
	return fail_nul_items(req, res) ? 0 : r->fn(req, res);
}

/* The answer a fault rule forces (emu.h): the error of its status, with the headers a real
 * one has. */
static int fault_answer(struct request *req, struct response *res)
{
	static const struct {
		int status;
		enum api_error ae;
	} map[] = {{401, API_INVALID_SIGNATURE}, {403, API_FORBIDDEN}, {418, API_BINDING_EXPIRED},
	           {429, API_RATE_LIMITED},      {500, API_INTERNAL},  {503, API_UNAVAILABLE}};
	enum api_error ae = API_INTERNAL;

	if (req->fault_developer_key) {
		response_call_error(res, API_DEVELOPER_KEY, NULL);
		return 0;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].status == req->fault_status)
			ae = map[i].ae;
	if (ae == API_RATE_LIMITED) {
		struct rl_verdict v = {0, req->srv->cfg->rate_limit, 0,
		                       (int64_t)req->fault_retry_after_s * 1000};
		rate_headers(res, &v);
		res->retry_after_s = req->fault_retry_after_s;
	}
	response_call_error(res, ae, NULL);
	return 0;
}

/* The delay of a fault rule is over (on the control plane's timer thread). */
static void fault_delay_over(void *arg)
{
	request_async_end(arg);
}

/* After the delay: the forced answer, or the call as usual. */
static int after_fault_delay(struct request *req, struct response *res)
{
	if (req->fault_status || req->fault_developer_key)
		return fault_answer(req, res);
	return body_rest(req, res);
}

/* The control plane's fault rules: 1 when none applies (go on), else the call's result. */
static int fault(struct request *req, struct response *res)
{
	struct emu_fault_hit hit;

	if (!emu_fault_api(req->srv->emu, req->path, req->who.account.code, &hit))
		return 1;
	memcpy(req->fault_id, hit.id, sizeof(req->fault_id));
	req->fault_status = hit.status;
	req->fault_developer_key = hit.developer_key;
	req->fault_retry_after_s = hit.retry_after_s;
	if (hit.latency_ms > 0) {
		request_go_async(req, after_fault_delay);
		request_async_begin(req);
		if (emu_delay(req->srv->emu, hit.latency_ms, fault_delay_over, req) != 0)
			request_async_end(req);
		return MC_ERR_ASYNC;
	}
	return fault_answer(req, res);
}

/* The shared store's gate is done (on its thread). */
static void gate_done(struct store_gate_job *job)
{
	request_async_end(job->arg);
}

/* After the deferred gate: the rest of the header stage, then the body stage. */
static int after_gate(struct request *req, struct response *res)
{
	struct rl_verdict v;
	char msg[256] = "";
	enum api_error ae = auth_take_result(req, &req->gate, &v, msg, sizeof(msg));

	if (!take_verdict(req, res, ae, &v, req->gate_run, msg, sizeof(msg)))
		return 0;
	return pipeline_body(req, req->gate_body, req->gate_body_len, res);
}

int pipeline_body(struct request *req, const char *body, size_t body_len, struct response *res)
{
	enum api_error ae;
	char msg[256] = "";

	if (req->gate_deferred) {
		/* The gate the header stage left: the worker serves other connections while the
		 * store's thread runs it with others' (one statement for many calls). */
		req->gate_deferred = 0;
		req->gate_body = body;
		req->gate_body_len = body_len;
		req->gate.done = gate_done;
		req->gate.arg = req;
		request_go_async(req, after_gate);
		request_async_begin(req);
		if (auth_take_submit(req, req->gate_run, &req->gate))
			return MC_ERR_ASYNC;
		atomic_store(&req->pending, 0); /* not submitted (the store is closing): here */
		if (!take_now(req, res, req->gate_run, mono_ms()))
			return 0;
	}

	if ((ae = pipeline_parse_body(req, body, body_len, msg, sizeof(msg))) != API_OK) {
		response_call_error(res, ae, msg[0] ? msg : NULL);
		return 0;
	}
	if (req->srv && req->srv->emu) {
		int rc = fault(req, res);
		if (rc != 1)
			return rc;
	}
	return body_rest(req, res);
}

int pipeline_run(struct request *req, const char *body, size_t body_len, struct response *res)
{
	if (!pipeline_headers(req, res))
		return 0;
	return pipeline_body(req, body, body_len, res);
}

void pipeline_finish(struct request *req, struct response *res)
{
	struct server *srv = req->srv;
	struct rl_verdict v = {0};
	int64_t now = mono_ms();

	/* A call whose function did not run (its body refused, malformed or answered by a fault
	 * rule), or failed for want of the store, did nothing: its id stays usable, so a client
	 * may retry it as it was (§2.2). */
	if (req->replay_claimed && (!req->ran || res->status == 503 || res->status == 500))
		auth_unclaim(req);
	if (!srv)
		return;
	if (!res->rate_set && atomic_load_explicit(&srv->ready, memory_order_acquire)) {
		/* Every /api answer carries the X-RateLimit-* headers (§7): the user's bucket
		 * once the signature has named the user, the client IP's before that. (Not while
		 * the server waits for its store: the limiters are not set up yet.) */
		if (req->user_known && srv->rl)
			ratelimit_peek(srv->rl, req->who.user.id, req->path, now, &v);
		else if (srv->ipl)
			iplimit_peek(srv->ipl, req->client_ip, now, &v);
		if (v.limit) /* 0: neither limiter (unit tests) */
			rate_headers(res, &v);
	}
	if (res->status == 429 && res->rate_set) {
		char num[24];
		int64_t ms = res->rate_reset_ms;

		if (res->retry_after_s > 0) /* the user's replay share, not its bucket */
			ms = (int64_t)res->retry_after_s * 1000;
		response_header(res, "Retry-After", decimal(ms <= 0 ? 1 : (ms + 999) / 1000, num));
	}
}
