/* The HTTP front on libmicrohttpd; see front.h. Life of a request here:
 *   uri_cb (raw URI: allocate the request) → on_request first call (framing, method,
 *   route, body limit, the pipeline's header stage: credentials, rate limit, permission;
 *   body budget) → on_request with body chunks (capped buffer) → on_request with the body
 *   complete (the pipeline's body stage; maybe suspend) → [resume → finish] → respond →
 *   on_completed (access log, budget back, free).
 * Every connection is tracked by the guard (guard.h) from accept to close, which cuts
 * connections whose header block or body arrives too slowly.
 * libmicrohttpd's own error pages cover only what it rejects before we see a request; on
 * plain HTTP the acceptor (connect.h) refuses those heads first, for each connection's
 * first request (docs/api.md §1 says what is covered where). */
#include "front.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/auth/auth.h"
#include "server/config.h"
#include "common/crypto.h"
#include "server/http/connect.h"
#include "server/http/framing.h"
#include "server/http/guard.h"
#include "server/http/proxyaddr.h"
#include "server/response.h"
#include "server/api/api.h"
#include "server/listen.h"
#include "server/pipeline.h"
#include "server/region.h"
#include "server/emu/emu.h"
#include "server/tls/devca.h"
#include "server/ttp/clicks.h"
#include "server/router.h"
#include "server/server.h"
#include "server/store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/banned.h"

/* The header deadline while the server is under pressure (guard.h, connect.h). */
#define PRESSURE_HEADER_MS 2000

struct front {
	struct server *srv;
	struct MHD_Daemon *d;          /* plain HTTP */
	struct MHD_Daemon *dt;         /* HTTPS, or NULL */
	struct connect_sorter *sorter; /* accepts for d when the CONNECT proxy is on */
	struct guard *guard;           /* deadlines and the body budget, for both daemons */
	char *tls_cert, *tls_key;      /* PEM text handed to libmicrohttpd */
	struct proxyaddr *proxies;     /* trusted_proxies, or NULL */
	atomic_int inflight;
	unsigned port, tls_port;
	atomic_int quiescing; /* stopping: connections accepted from now on are closed at once */
	struct listener_ctx {
		struct front *front;
		int tls;
	} ctx[2]; /* what uri_cb learns of the listener: [0] plain, [1] HTTPS */
};

enum fr_state { FR_NEW, FR_BODY, FR_ASYNC, FR_CLICK, FR_DONE };

struct front_req {
	struct request req;
	struct response res;
	struct front *front;
	struct MHD_Connection *conn;
	enum fr_state state;
	int status; /* sent, for the access log */
	int too_large;
	int is_api;       /* the path starts with /api/ */
	int chunked;      /* the body's bytes are reserved in the budget as they come */
	int refused;      /* chunked body over the body budget: GUARD_BUDGET_GLOBAL or _IP; drain */
	size_t budget_ip; /* bytes reserved in the body budget */
	struct guard_conn *gc; /* the connection's entry in the guard, or NULL */
	int health;            /* GET /healthz (1) or /readyz (2) */
	int control;           /* /__mcapi/...: the control plane (emu/emu.h) */
	int journaled;         /* recorded in the control plane's journal */
	/* an answer decided from the headers (404, 405), given once the body is read so that
	 * the connection stays open (libmicrohttpd closes after an answer queued earlier) */
	enum api_error deferred;
	size_t drained; /* body bytes discarded after an early 413 */
	char *raw_uri;
	/* the headers authentication reads (fixed_names), found once in the header stage:
	 * request_header then needs no search of libmicrohttpd's list (have_fixed) */
	const char *fixed[4];
	int have_fixed;
	struct buf body;
	struct click *click; /* GET /s/{token}: the click, from its headers to its answer */
};

static void fr_free(struct front_req *fr)
{
	if (!fr)
		return;
	json_decref(fr->req.body);
	if (fr->req.async_free)
		fr->req.async_free(fr->req.async_ctx);
	response_release(&fr->res);
	buf_release(&fr->body);
	free(fr->raw_uri);
	free(fr->click);
	free(fr);
}

static const char *const fixed_names[4] = {"x-mc-app-id", "authorization", "x-mc-date",
                                           "x-mc-req-id"};

const char *request_header(struct request *req, const char *name)
{
	struct front_req *fr = req->front;

	if (fr->have_fixed)
		for (int i = 0; i < 4; i++)
			if (strcmp(name, fixed_names[i]) == 0)
				return fr->fixed[i];
	return MHD_lookup_connection_value(fr->conn, MHD_HEADER_KIND, name);
}

void request_go_async(struct request *req, handler_fn finish)
{
	req->finish = finish;
	atomic_store(&req->pending, 1); /* the front's guard, released after suspending */
}

void request_async_begin(struct request *req)
{
	atomic_fetch_add(&req->pending, 1);
}

void request_async_end(struct request *req)
{
	struct front_req *fr = req->front;
	if (atomic_fetch_sub(&req->pending, 1) == 1)
		MHD_resume_connection(fr->conn);
}

/* An absolute-form request target ("https://api.mimecast.com/api/x", RFC 9112 §3.2.2, sent
 * by clients that take this server for their proxy) is served as its origin form ("/api/x"):
 * a server must accept it. Nothing is forwarded anywhere. */
static void strip_absolute_form(char *uri)
{
	const char *p = NULL, *slash;

	if (strncasecmp(uri, "http://", 7) == 0)
		p = uri + 7;
	else if (strncasecmp(uri, "https://", 8) == 0)
		p = uri + 8;
	if (!p)
		return;
	slash = strpbrk(p, "/?");
	if (!slash) {
		memcpy(uri, "/", 2);
	} else if (*slash == '?') {
		memmove(uri + 1, slash, strlen(slash) + 1);
		uri[0] = '/';
	} else {
		memmove(uri, slash, strlen(slash) + 1);
	}
}

/* The client's address as text into dst ("" if unknown). */
static void client_ip(struct MHD_Connection *conn, char *dst, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	dst[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET && size >= INET_ADDRSTRLEN) {
		/* by hand: glibc's inet_ntop goes through sprintf, on every request */
		const unsigned char *a =
		        (const unsigned char *)&((const struct sockaddr_in *)ci->client_addr)
		                ->sin_addr;
		char *w = dst;

		for (int i = 0; i < 4; i++) {
			unsigned v = a[i];
			if (v >= 100)
				*w++ = (char)('0' + v / 100);
			if (v >= 10)
				*w++ = (char)('0' + v / 10 % 10);
			*w++ = (char)('0' + v % 10);
			*w++ = i < 3 ? '.' : '\0';
		}
	} else if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, dst,
		          (socklen_t)size);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, dst,
		          (socklen_t)size);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const struct listener_ctx *lc = cls;
	struct front *f = lc->front;
	/* malloc, not calloc: fr->res (its 4 KiB of header slots) is response_init's */
	struct front_req *fr = malloc(sizeof(*fr));
	const union MHD_ConnectionInfo *ci;
	char *q;

	if (!fr)
		return NULL;
	memset(fr, 0, offsetof(struct front_req, res));
	memset(&fr->res + 1, 0, sizeof(*fr) - offsetof(struct front_req, res) - sizeof(fr->res));
	fr->front = f;
	fr->conn = conn;
	fr->raw_uri = strdup(uri ? uri : "");
	if (!fr->raw_uri || response_init(&fr->res) != 0) {
		free(fr->raw_uri);
		free(fr);
		return NULL;
	}
	buf_init(&fr->body, (size_t)f->srv->cfg->max_body);
	strip_absolute_form(fr->raw_uri);
	q = strchr(fr->raw_uri, '?');
	if (q) {
		*q = '\0';
		fr->req.query = q + 1;
	}
	fr->req.path = fr->raw_uri;
	fr->req.srv = f->srv;
	fr->req.front = fr;
	fr->req.req_id = "-";
	fr->req.started_ms = mono_ms();
	fr->is_api = strncmp(fr->raw_uri, "/api/", 5) == 0;
	fr->req.tls = lc->tls;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci && ci->socket_context) {
		fr->gc = ci->socket_context;
		guard_conn_request(fr->gc, fr->req.started_ms);
	}
	client_ip(conn, fr->req.client_ip, sizeof(fr->req.client_ip));
	atomic_fetch_add(&f->inflight, 1);
	return fr;
}

static void journal(struct front_req *fr);

static enum MHD_Result send_body(struct front_req *fr, int status, char *body, size_t len,
                                 const struct response *res, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ok;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	/* Exactly this Content-Type: several real clients compare it with '=='. A log file
	 * (get-siem-logs) says what it is instead. */
	MHD_add_response_header(r, "Content-Type",
	                        res && res->content_type ? res->content_type : "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (fr->is_api) {
		MHD_add_response_header(r, "Pragma", "no-cache");
		MHD_add_response_header(r, "X-Robots-Tag", "noindex, nofollow");
	}
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	if (res) {
		for (int i = 0; i < res->nheaders; i++)
			MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
		if (res->status == 503)
			MHD_add_response_header(r, "Retry-After", "1");
		if (res->close)
			MHD_add_response_header(r, "Connection", "close");
	}
	fr->status = status;
	fr->state = FR_DONE;
	/* journaled before the answer leaves: a test reading the journal right after it sees it */
	if (fr->front->srv->emu && fr->is_api)
		journal(fr);
	ok = MHD_queue_response(fr->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result respond(struct front_req *fr)
{
	size_t len = 0;
	char *body;

	if (fr->is_api)
		pipeline_finish(&fr->req, &fr->res);
	body = fr->res.body ? response_take_body(&fr->res, &len)
	                    : response_serialise(&fr->res, &len);

	if (!body) {
		response_call_error(&fr->res, API_INTERNAL, NULL);
		body = response_serialise(&fr->res, &len);
		if (!body)
			return MHD_NO;
	}
	return send_body(fr, fr->res.status, body, len, &fr->res,
	                 fr->res.error == API_METHOD_NOT_ALLOWED ? "POST" : NULL);
}

static enum MHD_Result respond_error(struct front_req *fr, enum api_error ae, const char *msg,
                                     int close)
{
	response_call_error(&fr->res, ae, msg);
	fr->res.close = close;
	return respond(fr);
}

static int ready(const struct front *f)
{
	return atomic_load_explicit(&f->srv->ready, memory_order_acquire);
}

/* /healthz is liveness: the process answers, from memory, whatever the store does (a load
 * balancer or systemd must not restart a node because its database hangs). /readyz is
 * readiness: the store is open and answers now (within pg_timeout_ms). */
static enum MHD_Result health(struct front_req *fr)
{
	const char *text = "{\"status\":\"ok\"}";
	int status = 200;
	char *body;

	if (strcmp(fr->req.method, "GET") != 0 && strcmp(fr->req.method, "HEAD") != 0) {
		body = strdup("{\"status\":\"method not allowed\"}");
		return body ? send_body(fr, 405, body, strlen(body), &fr->res, "GET") : MHD_NO;
	}
	if (fr->health == 2 && !ready(fr->front))
		status = 503, text = "{\"status\":\"starting\",\"reason\":\"the store is not open "
		                     "yet (is the database up?)\"}";
	else if (fr->health == 2 && store_ping(fr->front->srv->store) != 0)
		status = 503,
		text = "{\"status\":\"unavailable\",\"reason\":\"the store does not answer\"}";
	else if (fr->health == 2)
		text = "{\"status\":\"ready\"}";
	if (!(body = strdup(text)))
		return MHD_NO;
	fr->res.status = status; /* send_body adds Retry-After to a 503 */
	return send_body(fr, status, body, strlen(body), &fr->res, NULL);
}

/* Appends v to the list h of at most 8 header lines, dropping the first when full: the
 * proxy's own line is the last (HAProxy adds a line), and what comes first is the client's. */
static void keep_last(struct proxyaddr_hdr *h, size_t *n, const char *v, size_t len)
{
	if (*n == 8) {
		memmove(h, h + 1, 7 * sizeof(*h));
		*n = 7;
	}
	h[(*n)++] = (struct proxyaddr_hdr){v, len};
}

/* The client address behind trusted proxies (proxyaddr.h), for per-IP limits, the access
 * log and audit events. */
static void forwarded_client(struct front_req *fr, const struct framing_header *hs, size_t n)
{
	struct proxyaddr_hdr xff[8], fwd[8];
	size_t nx = 0, nf = 0;

	for (size_t i = 0; i < n; i++) {
		if (hs[i].name_len == 15 && strncasecmp(hs[i].name, "X-Forwarded-For", 15) == 0)
			keep_last(xff, &nx, hs[i].value, hs[i].value_len);
		else if (hs[i].name_len == 9 && strncasecmp(hs[i].name, "Forwarded", 9) == 0)
			keep_last(fwd, &nf, hs[i].value, hs[i].value_len);
	}
	if (nx || nf) {
		char peer[sizeof(fr->req.client_ip)];
		memcpy(peer, fr->req.client_ip, sizeof(peer));
		proxyaddr_client(fr->front->proxies, peer, xff, nx, fwd, nf, fr->req.client_ip,
		                 sizeof(fr->req.client_ip));
	}
}

/* A page or action of the web console (emu.h), once its body is in; resuming: an action
 * that waited on DNS is finished. */
static enum MHD_Result console(struct front_req *fr, int resuming)
{
	struct emu *emu = fr->front->srv->emu;
	struct emu_page pg;
	struct MHD_Response *r;
	enum MHD_Result ok;
	int rc;

	rc = resuming ? emu_console_resume(emu, &fr->req, &fr->res, &pg)
	              : emu_console(emu, &fr->req, &fr->res, fr->body.data ? fr->body.data : "",
	                            fr->body.len, &pg);
	if (rc == MC_ERR_ASYNC) { /* as run() does for an API call */
		fr->state = FR_ASYNC;
		MHD_suspend_connection(fr->conn);
		request_async_end(&fr->req);
		return MHD_YES;
	}
	if (rc != 0)
		return MHD_NO;
	r = MHD_create_response_from_buffer(pg.len, pg.body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(pg.body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", pg.type ? pg.type : "text/html; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	/* no inline script, no other origin: an escaping mistake could not run a script */
	MHD_add_response_header(r, "Content-Security-Policy",
	                        "default-src 'none'; script-src 'self'; connect-src 'self'; "
	                        "style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
	                        "frame-ancestors 'none'; base-uri 'none'");
	if (pg.location[0])
		MHD_add_response_header(r, "Location", pg.location);
	if (pg.cookie[0])
		MHD_add_response_header(r, "Set-Cookie", pg.cookie);
	if (pg.allow[0])
		MHD_add_response_header(r, "Allow", pg.allow);
	if (pg.bearer_challenge)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"mcapid control\"");
	fr->status = pg.status;
	fr->state = FR_DONE;
	ok = MHD_queue_response(fr->conn, (unsigned)pg.status, r);
	MHD_destroy_response(r);
	return ok;
}

/* A control call (emu.h), once its body is in. */
static enum MHD_Result control(struct front_req *fr)
{
	const char *allow = NULL;
	struct MHD_Response *r;
	enum MHD_Result ok;
	char *body = NULL;
	int status = 500;

	if (emu_console_path(fr->req.path))
		return console(fr, 0);
	if (emu_control(fr->front->srv->emu, fr->req.method, fr->req.path, fr->req.query,
	                request_header(&fr->req, "authorization"),
	                fr->body.data ? fr->body.data : "", fr->body.len, &status, &body,
	                &allow) != 0)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (status == 401)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"mcapid control\"");
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	fr->status = status;
	fr->state = FR_DONE;
	ok = MHD_queue_response(fr->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ok;
}

/* GET /s/{token}: a protected link (api/click.c says what is answered). */
static enum MHD_Result click_page(struct front_req *fr, int status, char *body,
                                  const char *location)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ok;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (location)
		MHD_add_response_header(r, "Location", location);
	else
		MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	if (status == 503)
		MHD_add_response_header(r, "Retry-After", "1");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
	                        "default-src 'none'; style-src 'unsafe-inline'");
	fr->status = status;
	fr->state = FR_DONE;
	ok = MHD_queue_response(fr->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ok;
}

/* The headers of a click: a path without a valid token is answered at once (nothing is
 * logged); a valid one waits for the end of the request. */
static enum MHD_Result click_begin(struct front_req *fr)
{
	char *page;

	/* malloc, not calloc: the token is 4 KiB and click_path_open sets what it reads */
	if (!(fr->click = malloc(sizeof(*fr->click))))
		return MHD_NO;
	fr->click->item.rc = 0;
	if (click_path_open(fr->front->srv->url_key, fr->req.path, &fr->click->t) == 0) {
		fr->state = FR_BODY;
		return MHD_YES;
	}
	free(fr->click);
	fr->click = NULL;
	page = strdup(api_click_invalid_page());
	return page ? click_page(fr, 404, page, NULL) : MHD_NO;
}

/* The logger's callback, on its thread: the click is decided and its event committed. */
static void click_decided(struct click *c)
{
	struct front_req *fr = c->owner;
	request_async_end(&fr->req);
}

/* The request is complete: the click goes to the logger and the connection waits. */
static enum MHD_Result click_submit(struct front_req *fr)
{
	struct clicks *cl = ready(fr->front) ? fr->front->srv->clicks : NULL;
	struct click *c = fr->click;
	char *page;

	c->at = now_ms();
	c->done = click_decided;
	c->owner = fr;
	/* one for this thread (released once suspended), one for the logger */
	atomic_store(&fr->req.pending, 2);
	fr->state = FR_CLICK;
	if (!cl || clicks_submit(cl, c) != 0) {
		page = strdup(api_click_busy_page());
		return page ? click_page(fr, 503, page, NULL) : MHD_NO;
	}
	MHD_suspend_connection(fr->conn);
	request_async_end(&fr->req);
	return MHD_YES;
}

static enum MHD_Result click_finish(struct front_req *fr)
{
	const char *location = NULL;
	char *body = NULL;
	int status = 500;

	if (api_click_answer(fr->click, &status, &body, &location) != 0)
		return MHD_NO;
	return click_page(fr, status, body, location);
}

struct header_list {
	struct framing_header hs[64];
	size_t n;
	int overflow;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
	struct header_list *l = cls;
	(void)kind;
	if (l->n >= sizeof(l->hs) / sizeof(l->hs[0])) {
		l->overflow = 1;
		return MHD_NO;
	}
	l->hs[l->n++] =
	        (struct framing_header){key, key_size, value ? value : "", value ? value_size : 0};
	return MHD_YES;
}

/* Reserves n bytes of body in the budget. Bodies of up to GUARD_SMALL_BODY with a known length
 * are not counted (guard.h): every normal call sends one, so a client that fills the budget
 * with large bodies cannot lock the others out, and the hot path takes no atomic here. */
static int budget_take(struct front_req *fr, size_t n)
{
	int b;

	if (!fr->chunked && n <= GUARD_SMALL_BODY)
		return GUARD_BUDGET_OK;
	b = guard_budget_take(fr->front->guard, fr->req.client_ip, n);
	if (b == GUARD_BUDGET_OK)
		fr->budget_ip += n;
	return b;
}

static void budget_give(struct front_req *fr)
{
	guard_budget_give(fr->front->guard, fr->req.client_ip, fr->budget_ip);
	fr->budget_ip = 0;
}

/* The body budget is spent: 503 (server-wide, Retry-After: 1) or 429 (this client IP), and the
 * connection closes, so what the client still sends is not read. */
static enum MHD_Result respond_budget(struct front_req *fr, int b)
{
	if (b == GUARD_BUDGET_GLOBAL)
		return respond_error(
		        fr, API_UNAVAILABLE,
		        "the server holds as many request bodies as it may; retry after "
		        "Retry-After seconds",
		        1);
	return respond_error(fr, API_RATE_LIMITED,
	                     "this client address has as many request bodies in flight as it may",
	                     1);
}

/* First call for a request: everything that can be decided from the header block. */
static enum MHD_Result on_headers(struct front_req *fr, const char *method, const char *version)
{
	struct header_list hl = {.n = 0};
	struct framing_result fres;
	const char *path = fr->req.path;
	int is_api = fr->is_api;
	const char *rid;

	fr->req.method = method;
	MHD_get_connection_values_n(fr->conn, MHD_HEADER_KIND, collect_header, &hl);
	if (hl.overflow) {
		rid = MHD_lookup_connection_value(fr->conn, MHD_HEADER_KIND, "x-mc-req-id");
		if (rid && *rid)
			fr->req.req_id = rid;
		return respond_error(fr, API_HEADERS_TOO_LARGE, "too many request headers", 1);
	}
	/* the first of each name, as libmicrohttpd's look-up finds it */
	for (size_t i = 0; i < hl.n; i++)
		for (int k = 0; k < 4; k++)
			if (!fr->fixed[k] && hl.hs[i].name_len == strlen(fixed_names[k]) &&
			    strncasecmp(hl.hs[i].name, fixed_names[k], hl.hs[i].name_len) == 0)
				fr->fixed[k] = hl.hs[i].value;
	fr->have_fixed = 1;
	rid = fr->fixed[3];
	if (rid && *rid)
		fr->req.req_id = rid;
	if (fr->front->proxies)
		forwarded_client(fr, hl.hs, hl.n);
	framing_check(version, hl.hs, hl.n, &fres);
	if (!fres.ok)
		return respond_error(fr, API_BAD_REQUEST, fres.reason, 1);

	if (strcmp(method, "CONNECT") == 0) /* the acceptor takes allowed tunnels (connect.h) */
		return respond_error(
		        fr, API_FORBIDDEN,
		        "CONNECT is allowed only to the Mimecast API host names on port "
		        "443, with connect_proxy on",
		        1);
	if (strncmp(path, "/s/", 3) == 0 && strcmp(method, "GET") == 0)
		return click_begin(fr);
	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
		/* answered once the (empty) body is read: an answer queued now would close
		 * the connection, and load balancers keep theirs open */
		fr->health = path[1] == 'h' ? 1 : 2;
	} else if (fr->front->srv->emu &&
	           (strncmp(path, "/__mcapi/", 9) == 0 || strcmp(path, "/__mcapi") == 0)) {
		if (path[8] == '\0')
			fr->req.path = "/__mcapi/";
		fr->control = 1; /* answered once its body is in (control()) */
	} else if (is_api && strcmp(method, "POST") != 0) {
		fr->deferred = API_METHOD_NOT_ALLOWED;
	} else if (!(fr->req.route = is_api ? router_match(path, strlen(path)) : NULL)) {
		fr->deferred = API_NOT_FOUND;
	}
	if (fres.has_length && fres.content_length > (uint64_t)fr->front->srv->cfg->max_body) {
		/* not read: closed after the answer */
		if (fr->health)
			fr->deferred = strcmp(method, "GET") && strcmp(method, "HEAD")
			                       ? API_METHOD_NOT_ALLOWED
			                       : API_TOO_LARGE;
		return respond_error(fr, fr->deferred ? fr->deferred : API_TOO_LARGE, NULL, 1);
	}
	if (fr->req.route && !ready(fr->front))
		return respond_error(fr, API_UNAVAILABLE,
		                     "the server is starting: its store is not open yet",
		                     fres.has_length || fres.chunked);
	if (fr->req.route) {
		/* Credentials, rate limit and permission from the headers, before any body byte
		 * is read: a refused caller is answered now and its body never buffered. */
		if (!pipeline_headers(&fr->req, &fr->res)) {
			fr->res.close = fres.has_length || fres.chunked;
			return respond(fr);
		}
		if (fres.has_length && fres.content_length > 0) {
			int b = budget_take(fr, (size_t)fres.content_length);
			if (b != GUARD_BUDGET_OK)
				return respond_budget(fr, b);
		}
		fr->chunked = fres.chunked;
	}
	fr->state = FR_BODY;
	return MHD_YES;
}

static enum MHD_Result run(struct front_req *fr, int continuing)
{
	struct request *req = &fr->req;
	int rc;

	if (!continuing && !ready(fr->front))
		return respond_error(fr, API_UNAVAILABLE,
		                     "the server is starting: its store is not open yet", 0);
	if (continuing)
		rc = req->finish(req, &fr->res);
	else
		rc = pipeline_body(req, fr->body.data ? fr->body.data : "", fr->body.len, &fr->res);
	if (rc == MC_ERR_ASYNC) {
		fr->state = FR_ASYNC;
		MHD_suspend_connection(fr->conn);
		request_async_end(req);
		return MHD_YES;
	}
	if (rc != 0 && fr->res.error == API_OK)
		response_call_error(&fr->res, api_error_from_mc(rc), NULL);
	return respond(fr);
}

#define TOO_LARGE_DRAIN (256 * 1024)

/* A chunked body went over max_body. libmicrohttpd takes no answer while a body is being
 * received, so on plain HTTP the 413 is written to the socket here (connect_answer), the
 * rest of the body is discarded up to TOO_LARGE_DRAIN and the connection closed; over TLS
 * the body is drained to its end and answered then. */
static void too_large_now(struct front_req *fr)
{
	const union MHD_ConnectionInfo *ci;

	fr->too_large = 1;
	if (fr->req.tls)
		return;
	ci = MHD_get_connection_info(fr->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return;
	connect_answer(ci->connect_fd, API_TOO_LARGE, NULL);
	fr->status = 413;
	fr->too_large = 2;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct front_req *fr = *con_cls;
	(void)cls;
	(void)url;
	(void)conn;

	if (!fr)
		return MHD_NO; /* out of memory in uri_cb */
	switch (fr->state) {
	case FR_NEW: {
		enum MHD_Result ok = on_headers(fr, method, version);
		if (fr->state == FR_BODY)
			guard_conn_body(fr->gc, mono_ms());
		else
			guard_conn_busy(fr->gc);
		return ok;
	}
	case FR_BODY:
		if (fr->too_large == 2) {
			/* answered: read on a little so that the close does not reset the answer
			 * away, then close (MHD_NO) */
			size_t k = *upload_data_size;

			fr->drained += k;
			*upload_data_size = 0;
			return k && fr->drained <= TOO_LARGE_DRAIN ? MHD_YES : MHD_NO;
		}
		if (*upload_data_size) {
			size_t n = *upload_data_size;

			guard_conn_bytes(fr->gc, n);
			*upload_data_size = 0;
			/* only API calls keep their body; a body sent to /healthz, /s/ or a path
			 * answered 404/405 is read and dropped */
			if ((!fr->req.route && !fr->control) || fr->too_large || fr->refused)
				return MHD_YES;
			if (fr->chunked && (fr->refused = budget_take(fr, n)) != GUARD_BUDGET_OK) {
				buf_release(&fr->body); /* drain, then 503/429 */
				return MHD_YES;
			}
			if (buf_add(&fr->body, upload_data, n) != 0)
				too_large_now(fr); /* chunked body over the limit: 413 at once */
			return MHD_YES;
		}
		guard_conn_busy(fr->gc);
		if (fr->health)
			return health(fr);
		if (fr->control)
			return fr->too_large ? respond_error(fr, API_TOO_LARGE, NULL, 1)
			                     : control(fr);
		if (fr->click)
			return click_submit(fr);
		if (fr->too_large)
			return respond_error(fr, API_TOO_LARGE, NULL, 1);
		if (fr->refused)
			return respond_budget(fr, fr->refused);
		if (fr->deferred)
			return respond_error(fr, fr->deferred, NULL, 0);
		return run(fr, 0);
	case FR_ASYNC:
		return fr->control ? console(fr, 1) : run(fr, 1);
	case FR_CLICK:
		return click_finish(fr);
	case FR_DONE:
		*upload_data_size = 0; /* a body after an early answer is discarded */
		return MHD_YES;
	}
	return MHD_NO;
}

/* The access log line, built by hand rather than by printf (it is written for every
 * request): "access ip=... method=... path=... status=... ms=... req_id=... app_id=...
 * user=... bytes_in=...[ aborted=1]". */
struct line {
	char buf[LOG_LINE_MAX];
	size_t n;
};

static void put(struct line *l, const char *s)
{
	size_t k = strlen(s);

	if (k > sizeof(l->buf) - l->n)
		k = sizeof(l->buf) - l->n;
	memcpy(l->buf + l->n, s, k);
	l->n += k;
}

static void put_num(struct line *l, long long v)
{
	char d[24], *p = d + sizeof(d) - 1;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	*p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	put(l, p);
}

static void access_line(struct front_req *fr, int completed)
{
	const struct principal *who = &fr->req.who;
	char q[160];
	struct line l;

	l.n = 0;
	put(&l, "access ip=");
	put(&l, fr->req.client_ip[0] ? fr->req.client_ip : "-");
	put(&l, " method=");
	put(&l, fr->req.method ? fr->req.method : "-");
	put(&l, " path=");
	put(&l, log_quote(fr->req.path, q, sizeof(q)));
	put(&l, " status=");
	put_num(&l, fr->status);
	put(&l, " ms=");
	put_num(&l, (long long)(mono_ms() - fr->req.started_ms));
	put(&l, " req_id=");
	put(&l, log_quote(fr->req.req_id, q, 96));
	put(&l, " app_id=");
	put(&l, who->app.app_id[0] ? who->app.app_id : "-");
	put(&l, " user=");
	put(&l, fr->req.authenticated ? who->user.email : "-");
	put(&l, " bytes_in=");
	put_num(&l, (long long)fr->body.len);
	if (!completed)
		put(&l, " aborted=1");
	log_text(LOG_INFO, l.buf, l.n);
}

/* The control plane's record of an API call: what the access log says, and why a refused
 * call was refused. */
static void journal(struct front_req *fr)
{
	const struct principal *who = &fr->req.who;
	struct emu_call c = {
	        .at_ms = now_ms() - (mono_ms() - fr->req.started_ms),
	        .ms = mono_ms() - fr->req.started_ms,
	        .method = fr->req.method,
	        .path = fr->req.path,
	        .req_id = strcmp(fr->req.req_id, "-") ? fr->req.req_id : NULL,
	        .client_ip = fr->req.client_ip,
	        .app_id = who->app.app_id,
	        .user = fr->req.user_known ? who->user.email : NULL,
	        .error_code = fr->res.error != API_OK ? api_error_code(fr->res.error) : NULL,
	        .auth_check = fr->req.auth_check,
	        .fault = fr->req.fault_id,
	        .status = fr->status,
	};
	emu_journal_add(fr->front->srv->emu, &c);
	fr->journaled = 1;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct front *f = cls;
	struct front_req *fr = *con_cls;
	(void)conn;

	if (!fr)
		return;
	if (f->srv->cfg->access_log && log_level_current >= LOG_INFO)
		access_line(fr, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	/* a call cut or aborted before its function ran gives its request id back (§2.2) */
	if (fr->req.replay_claimed && !fr->req.ran)
		auth_unclaim(&fr->req);
	if (f->srv->emu && fr->is_api && !fr->journaled)
		journal(fr); /* an answer written by hand (too_large_now) or none (cut, aborted) */
	*con_cls = NULL;
	budget_give(fr);
	guard_conn_idle(fr->gc, mono_ms()); /* the next request line is due within conn_timeout */
	fr_free(fr);
	atomic_fetch_sub(&f->inflight, 1);
}

/* MHD_NotifyConnectionCallback: every connection enters the guard when accepted (or handed
 * over by the CONNECT acceptor) and leaves it when closing, before libmicrohttpd closes its
 * socket (MHD_cleanup_connections notifies CLOSED, then closes the descriptor). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct front *f = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		char ip[64];
		int fd = ci ? ci->connect_fd : -1;

		*socket_context = NULL;
		if (fd < 0)
			return;
		client_ip(conn, ip, sizeof(ip));
		*socket_context = guard_conn_open(f->guard, fd, ip, mono_ms());
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		guard_conn_close(f->guard, *socket_context);
		*socket_context = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;
	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	char q[560];
	log_debug("mhd msg=%s", log_quote(line, q, sizeof(q)));
}

/* MHD_AcceptPolicyCallback: no new connection once the front is stopping (front_quiesce). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
	const struct front *f = cls;

	(void)addr;
	(void)len;
	return atomic_load(&f->quiescing) ? MHD_NO : MHD_YES;
}

/* One libmicrohttpd daemon on listen_fd (-1: connections come from MHD_add_connection). */
static struct MHD_Daemon *start_daemon(struct front *f, int listen_fd, int tls)
{
	const struct config *cfg = f->srv->cfg;
	/* 0: one per core on SQLite, whose calls do not wait; eight per core on PostgreSQL, whose
	 * calls wait for round trips (the gate batches what waits together) and which, while the
	 * database hangs, must leave workers free for /healthz (docs/postgres.md) */
	unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads
	                                    : (unsigned)sysconf(_SC_NPROCESSORS_ONLN) *
	                                              (strcmp(cfg->store, "postgres") ? 1 : 8);
	/* TURBO: read and write opportunistically before asking epoll, saving system calls.
	 * ITC: connections handed over by the CONNECT acceptor are taken up at once. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	struct MHD_OptionItem extra[] = {
	        {listen_fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_END, listen_fd, NULL},
	        {MHD_OPTION_END, 0, NULL},
	        {MHD_OPTION_END, 0, NULL},
	        {MHD_OPTION_END, 0, NULL},
	        {MHD_OPTION_END, 0, NULL},
	};

	if (listen_fd < 0)
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	if (tls) {
		int k = listen_fd >= 0 ? 1 : 0;
		flags |= MHD_USE_TLS;
		extra[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, f->tls_cert};
		extra[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, f->tls_key};
		/* TLS 1.2 and 1.3 only */
		extra[k++] = (struct MHD_OptionItem){
		        MHD_OPTION_HTTPS_PRIORITIES, 0,
		        (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"};
	}
	if (threads < 1)
		threads = 1;
	return MHD_start_daemon(flags, 0, accept_policy, f, on_request, f, MHD_OPTION_ARRAY, extra,
	                        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
	                        (unsigned)cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	                        (unsigned)cfg->per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	                        (unsigned)cfg->conn_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                        (size_t)cfg->conn_memory, MHD_OPTION_URI_LOG_CALLBACK, uri_cb,
	                        &f->ctx[tls ? 1 : 0], MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
	                        MHD_OPTION_NOTIFY_CONNECTION, on_connection, f,
	                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	                        /* 0, not 1: a missing Host or a space in a header name reaches
	                         * framing_check, which answers with the envelope, instead of
	                         * libmicrohttpd's HTML page */
	                        MHD_OPTION_STRICT_FOR_CLIENT, 0, MHD_OPTION_END);
}

/* The CONNECT acceptor's hand-offs and host check. */
static void to_plain(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct front *f = arg;
	MHD_add_connection(f->d, fd, sa, len); /* closes fd itself on failure */
}

static void to_tls(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct front *f = arg;
	MHD_add_connection(f->dt, fd, sa, len);
}

static int tunnel_allowed(void *arg, const char *host, unsigned port)
{
	(void)arg;
	return port == 443 && region_is_mimecast_host(host);
}

struct front *front_start(struct server *srv, struct err *e)
{
	const struct config *cfg = srv->cfg;
	struct front *f = calloc(1, sizeof(*f));
	int fd = -1, tfd = -1;

	if (!f) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	f->srv = srv;
	f->ctx[0] = (struct listener_ctx){f, 0};
	f->ctx[1] = (struct listener_ctx){f, 1};
	{
		struct guard_cfg gc = {
		        .header_timeout_ms = (int64_t)cfg->header_timeout * 1000,
		        .idle_timeout_ms = (int64_t)cfg->conn_timeout * 1000,
		        .body_grace_ms = (int64_t)cfg->body_grace * 1000,
		        .body_min_rate = cfg->body_min_rate,
		        .body_budget = cfg->body_budget,
		        .body_budget_per_ip = cfg->body_budget_per_ip,
		        .sweep_ms = 200,
		        /* three quarters full: slow heads get 2 s (docs/api.md §1.1) */
		        .pressure_conns = (int64_t)cfg->max_connections * 3 / 4,
		        .pressure_header_ms = PRESSURE_HEADER_MS,
		};
		if (!(f->guard = guard_new(&gc, e)))
			goto fail;
	}
	if (proxyaddr_parse(cfg->trusted_proxies, &f->proxies, e) != 0)
		goto fail;
	if (srv->api_fd > 0) {
		fd = srv->api_fd; /* bound already; the front owns it from here */
		f->port = srv->api_port;
	} else if ((fd = listen_open(cfg->listen, &f->port, e)) < 0)
		goto fail;
	if (*cfg->tls_listen) {
		if (devca_load_pem(cfg->tls_cert, &f->tls_cert, NULL, e) != 0 ||
		    devca_load_pem(cfg->tls_key, &f->tls_key, NULL, e) != 0)
			goto fail;
		if ((tfd = listen_open(cfg->tls_listen, &f->tls_port, e)) < 0)
			goto fail;
		f->dt = start_daemon(f, tfd, 1);
		if (!f->dt) {
			err_set(e, MC_ERR_IO,
			        "cannot start HTTPS on '%s' (is tls_cert/tls_key a valid PEM "
			        "pair?)",
			        cfg->tls_listen);
			goto fail;
		}
		tfd = -1; /* the daemon's now */
	}
	if (!strcmp(cfg->connect_proxy, "on") || cfg->head_check) {
		/* the acceptor checks every connection's first head (connect.h); half of
		 * conn_memory leaves libmicrohttpd room for its header list */
		/* a new connection's first bytes: idle (conn_timeout) and header (header_timeout)
		 * deadlines both run from the accept */
		struct connect_cfg cc = {.listen_fd = fd,
		                         .timeout_ms = (cfg->header_timeout < cfg->conn_timeout
		                                                ? cfg->header_timeout
		                                                : cfg->conn_timeout) *
		                                       1000,
		                         .max_pending = 1024,
		                         .pressure_timeout_ms = PRESSURE_HEADER_MS,
		                         .per_ip = cfg->per_ip_connections,
		                         .check_heads = cfg->head_check,
		                         .head_max = (size_t)cfg->conn_memory / 2,
		                         .plain = to_plain,
		                         .arg = f};
		if (!strcmp(cfg->connect_proxy, "on")) {
			cc.allowed = tunnel_allowed;
			cc.tunnel = to_tls;
		}
		f->d = start_daemon(f, -1, 0);
		if (!f->d) {
			err_set(e, MC_ERR_IO, "cannot start the HTTP server");
			goto fail;
		}
		f->sorter = connect_start(&cc, e);
		fd = -1; /* the acceptor's now, also on failure */
		if (!f->sorter)
			goto fail;
	} else {
		f->d = start_daemon(f, fd, 0);
		if (!f->d) {
			err_set(e, MC_ERR_IO, "cannot start the HTTP server on '%s'", cfg->listen);
			goto fail;
		}
		fd = -1;
	}
	return f;
fail:
	if (fd >= 0)
		close(fd);
	if (tfd >= 0)
		close(tfd);
	front_stop(f);
	return NULL;
}

unsigned front_port(const struct front *f)
{
	return f->port;
}

unsigned front_tls_port(const struct front *f)
{
	return f->tls_port;
}

void front_quiesce(struct front *f)
{
	/* Not MHD_quiesce_daemon: in libmicrohttpd 0.9.75 it races with the workers' epoll loop,
	 * which may then try to remove the listening socket it was just told is gone and abort
	 * the process ("Failed to remove listen FD from epoll set"). The accept policy closes
	 * every connection accepted from now on instead; the daemons keep their sockets until
	 * front_stop. */
	atomic_store(&f->quiescing, 1);
	if (f->sorter)
		connect_quiesce(f->sorter);
}

int front_drain(struct front *f, int grace_ms)
{
	int64_t until = mono_ms() + grace_ms;
	while (atomic_load(&f->inflight) > 0 && mono_ms() < until)
		usleep(10000);
	return atomic_load(&f->inflight);
}

void front_stop(struct front *f)
{
	if (!f)
		return;
	connect_stop(f->sorter); /* first: it hands connections to both daemons */
	if (f->d)
		MHD_stop_daemon(f->d);
	if (f->dt)
		MHD_stop_daemon(f->dt);
	if (f->guard) {
		struct guard_stats st;

		guard_stats(f->guard, &st);
		log_info("msg=\"connection guard\" cut_header=%lld cut_idle=%lld cut_body=%lld "
		         "budget_refused_global=%lld budget_refused_ip=%lld",
		         (long long)st.cut_header, (long long)st.cut_idle, (long long)st.cut_body,
		         (long long)st.refused_global, (long long)st.refused_ip);
	}
	guard_free(f->guard); /* after the daemons: their connections have left it */
	devca_pem_free(f->tls_key);
	devca_pem_free(f->tls_cert);
	proxyaddr_free(f->proxies);
	free(f);
}
