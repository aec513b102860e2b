/* The HTTP front's request layer; see front.h. Life of a request here:
 *   req_begin (the head passed the framing checks in conn.c: method, route, body limit, the
 *   pipeline's header stage: credentials, rate limit, permission; body budget) → req_body
 *   with body chunks (capped buffer) → req_end with the body complete (the pipeline's body
 *   stage; maybe park) → [resume → finish] → answer (conn_answer) → req_done (access log,
 *   budget back, the request's memory kept for the connection's next request).
 * Every connection is tracked by the guard (guard.h) from accept to close, which cuts
 * connections whose header block or body arrives too slowly. */
#include "front.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/auth/auth.h"
#include "server/config.h"
#include "common/crypto.h"
#include "server/http/conn.h"
#include "server/http/connect.h"
#include "server/http/framing.h"
#include "server/http/guard.h"
#include "server/http/proxyaddr.h"
#include "server/http/tlsio.h"
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
	struct conns *conns;           /* the workers and their connections (conn.h) */
	struct connect_sorter *sorter; /* accepts on the plain listener (and the CONNECT proxy) */
	struct connect_sorter *tls_sorter; /* accepts on the HTTPS listener, or NULL */
	SSL_CTX *tls;                      /* tls_cert and tls_key, or NULL */
	struct guard *guard;               /* deadlines and the body budget */
	struct proxyaddr *proxies;         /* trusted_proxies, or NULL */
	atomic_int inflight;
	unsigned port, tls_port;
};

enum fr_state { FR_NEW, FR_BODY, FR_ASYNC, FR_CLICK, FR_DONE };

struct front_req {
	struct request req;
	struct response res;
	struct front *front;
	struct conn *conn;
	const struct framing_request *rq; /* the head, in the connection's buffer */
	enum fr_state state;
	int status; /* sent, for the access log */
	int too_large;
	int is_api;       /* the path starts with /api/ */
	int chunked;      /* the body's bytes are reserved in the budget as they come */
	int refused;      /* chunked body over the body budget: GUARD_BUDGET_GLOBAL or _IP; drain */
	size_t budget_ip; /* bytes reserved in the body budget */
	int health;       /* GET /healthz (1) or /readyz (2) */
	int control;      /* /__mcapi/...: the control plane (emu/emu.h) */
	int journaled;    /* recorded in the control plane's journal */
	/* an answer decided from the headers (404, 405), given once the body is read so that
	 * the connection stays open (an answer before the body closes it) */
	enum api_error deferred;
	char *raw_uri; /* the target, in the connection's buffer */
	int alloc_ok;  /* res and body are initialised */
	/* the headers authentication reads (fixed_names), found once in the header stage:
	 * request_header then needs no search of the list (have_fixed) */
	const char *fixed[4];
	int have_fixed;
	struct buf body;
	struct click *click; /* GET /s/{token}: the click, from its headers to its answer */
};

/* What one request holds; the struct stays for the connection's next request. */
static void fr_clear(struct front_req *fr)
{
	json_decref(fr->req.body);
	fr->req.body = NULL;
	if (fr->req.async_free)
		fr->req.async_free(fr->req.async_ctx);
	fr->req.async_free = NULL;
	if (fr->alloc_ok) {
		response_release(&fr->res);
		buf_release(&fr->body);
	}
	fr->alloc_ok = 0;
	free(fr->click);
	fr->click = NULL;
}

static void fr_free(struct front_req *fr)
{
	if (!fr)
		return;
	fr_clear(fr);
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
	for (size_t i = 0; i < fr->rq->nh; i++) {
		const struct framing_header *h = &fr->rq->hs[i];
		if (strncasecmp(h->name, name, h->name_len) == 0 && name[h->name_len] == '\0')
			return h->value;
	}
	return NULL;
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
		conn_resume(fr->conn);
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

static void journal(struct front_req *fr);

#define HDRS_MAX 6144 /* the answer's header lines: 8 of the response's, and ours */

static void send_body(struct front_req *fr, int status, char *body, size_t len,
                      const struct response *res, const char *allow)
{
	char h[HDRS_MAX];
	size_t n = 0;

	/* Exactly this Content-Type: several real clients compare it with '=='. A log file
	 * (get-siem-logs) says what it is instead. */
	conn_hdr(h, sizeof(h), &n, "Content-Type",
	         res && res->content_type ? res->content_type : "application/json");
	conn_hdr(h, sizeof(h), &n, "Cache-Control", "no-store");
	if (fr->is_api) {
		conn_hdr(h, sizeof(h), &n, "Pragma", "no-cache");
		conn_hdr(h, sizeof(h), &n, "X-Robots-Tag", "noindex, nofollow");
	}
	if (allow)
		conn_hdr(h, sizeof(h), &n, "Allow", allow);
	if (res) {
		for (int i = 0; i < res->nheaders; i++)
			conn_hdr(h, sizeof(h), &n, res->headers[i].name, res->headers[i].value);
		if (res->status == 503)
			conn_hdr(h, sizeof(h), &n, "Retry-After", "1");
	}
	fr->status = status;
	fr->state = FR_DONE;
	/* journaled before the answer leaves: a test reading the journal right after it sees it */
	if (fr->front->srv->emu && fr->is_api)
		journal(fr);
	conn_answer(fr->conn, status, h, n, body, len, res && res->close);
}

/* Out of memory on the way to an answer: a bare 500 and a close. */
static void send_fail(struct front_req *fr)
{
	fr->status = 500;
	fr->state = FR_DONE;
	conn_answer(fr->conn, 500, "", 0, NULL, 0, 1);
}

static void respond(struct front_req *fr)
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
		if (!body) {
			send_fail(fr);
			return;
		}
	}
	send_body(fr, fr->res.status, body, len, &fr->res,
	          fr->res.error == API_METHOD_NOT_ALLOWED ? "POST" : NULL);
}

static void respond_error(struct front_req *fr, enum api_error ae, const char *msg, int close)
{
	response_call_error(&fr->res, ae, msg);
	fr->res.close = close;
	respond(fr);
}

static int ready(const struct front *f)
{
	return atomic_load_explicit(&f->srv->ready, memory_order_acquire);
}

/* /healthz is liveness: the process answers, from memory, whatever the store does (a load
 * balancer or systemd must not restart a node because its database hangs). /readyz is
 * readiness: the store is open and answers now (within pg_timeout_ms). */
static void health(struct front_req *fr)
{
	const char *text = "{\"status\":\"ok\"}";
	int status = 200;
	char *body;

	if (strcmp(fr->req.method, "GET") != 0 && strcmp(fr->req.method, "HEAD") != 0) {
		body = strdup("{\"status\":\"method not allowed\"}");
		if (body)
			send_body(fr, 405, body, strlen(body), &fr->res, "GET");
		else
			send_fail(fr);
		return;
	}
	if (fr->health == 2 && !ready(fr->front))
		status = 503, text = "{\"status\":\"starting\",\"reason\":\"the store is not open "
		                     "yet (is the database up?)\"}";
	else if (fr->health == 2 && store_ping(fr->front->srv->store) != 0)
		status = 503,
		text = "{\"status\":\"unavailable\",\"reason\":\"the store does not answer\"}";
	else if (fr->health == 2)
		text = "{\"status\":\"ready\"}";
	if (!(body = strdup(text))) {
		send_fail(fr);
		return;
	}
	fr->res.status = status; /* send_body adds Retry-After to a 503 */
	send_body(fr, status, body, strlen(body), &fr->res, NULL);
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
static void console(struct front_req *fr, int resuming)
{
	struct emu *emu = fr->front->srv->emu;
	struct emu_page pg;
	char h[HDRS_MAX];
	size_t n = 0;
	int rc;

	rc = resuming ? emu_console_resume(emu, &fr->req, &fr->res, &pg)
	              : emu_console(emu, &fr->req, &fr->res, fr->body.data ? fr->body.data : "",
	                            fr->body.len, &pg);
	if (rc == MC_ERR_ASYNC) { /* as run() does for an API call */
		fr->state = FR_ASYNC;
		conn_park(fr->conn);
		request_async_end(&fr->req);
		return;
	}
	if (rc != 0) {
		send_fail(fr);
		return;
	}
	conn_hdr(h, sizeof(h), &n, "Content-Type", pg.type ? pg.type : "text/html; charset=utf-8");
	conn_hdr(h, sizeof(h), &n, "Cache-Control", "no-store");
	conn_hdr(h, sizeof(h), &n, "X-Content-Type-Options", "nosniff");
	conn_hdr(h, sizeof(h), &n, "Referrer-Policy", "no-referrer");
	conn_hdr(h, sizeof(h), &n, "X-Frame-Options", "DENY");
	/* no inline script, no other origin: an escaping mistake could not run a script */
	conn_hdr(h, sizeof(h), &n, "Content-Security-Policy",
	         "default-src 'none'; script-src 'self'; connect-src 'self'; "
	         "style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
	         "frame-ancestors 'none'; base-uri 'none'");
	if (pg.location[0])
		conn_hdr(h, sizeof(h), &n, "Location", pg.location);
	if (pg.cookie[0])
		conn_hdr(h, sizeof(h), &n, "Set-Cookie", pg.cookie);
	if (pg.allow[0])
		conn_hdr(h, sizeof(h), &n, "Allow", pg.allow);
	if (pg.bearer_challenge)
		conn_hdr(h, sizeof(h), &n, "WWW-Authenticate", "Bearer realm=\"mcapid control\"");
	fr->status = pg.status;
	fr->state = FR_DONE;
	conn_answer(fr->conn, pg.status, h, n, pg.body, pg.len, 0);
}

/* A control call (emu.h), once its body is in. */
static void control(struct front_req *fr)
{
	const char *allow = NULL;
	char *body = NULL, h[512];
	size_t n = 0;
	int status = 500;

	if (emu_console_path(fr->req.path)) {
		console(fr, 0);
		return;
	}
	if (emu_control(fr->front->srv->emu, fr->req.method, fr->req.path, fr->req.query,
	                request_header(&fr->req, "authorization"),
	                fr->body.data ? fr->body.data : "", fr->body.len, &status, &body,
	                &allow) != 0) {
		send_fail(fr);
		return;
	}
	conn_hdr(h, sizeof(h), &n, "Content-Type", "application/json");
	conn_hdr(h, sizeof(h), &n, "Cache-Control", "no-store");
	if (status == 401)
		conn_hdr(h, sizeof(h), &n, "WWW-Authenticate", "Bearer realm=\"mcapid control\"");
	if (allow)
		conn_hdr(h, sizeof(h), &n, "Allow", allow);
	fr->status = status;
	fr->state = FR_DONE;
	conn_answer(fr->conn, status, h, n, body, strlen(body), 0);
}

/* GET /s/{token}: a protected link (api/click.c says what is answered). */
static void click_page(struct front_req *fr, int status, char *body, const char *location)
{
	char h[HDRS_MAX];
	size_t n = 0;

	if (location)
		conn_hdr(h, sizeof(h), &n, "Location", location);
	else
		conn_hdr(h, sizeof(h), &n, "Content-Type", "text/html; charset=utf-8");
	if (status == 503)
		conn_hdr(h, sizeof(h), &n, "Retry-After", "1");
	conn_hdr(h, sizeof(h), &n, "Cache-Control", "no-store");
	conn_hdr(h, sizeof(h), &n, "Referrer-Policy", "no-referrer");
	conn_hdr(h, sizeof(h), &n, "X-Content-Type-Options", "nosniff");
	conn_hdr(h, sizeof(h), &n, "Content-Security-Policy",
	         "default-src 'none'; style-src 'unsafe-inline'");
	fr->status = status;
	fr->state = FR_DONE;
	conn_answer(fr->conn, status, h, n, body, strlen(body), 0);
}

/* The headers of a click: a path without a valid token is answered at once (nothing is
 * logged); a valid one waits for the end of the request. */
static void click_begin(struct front_req *fr)
{
	char *page;

	/* malloc, not calloc: the token is 4 KiB and click_path_open sets what it reads */
	if (!(fr->click = malloc(sizeof(*fr->click)))) {
		send_fail(fr);
		return;
	}
	fr->click->item.rc = 0;
	if (click_path_open(fr->front->srv->url_key, fr->req.path, &fr->click->t) == 0) {
		fr->state = FR_BODY;
		return;
	}
	free(fr->click);
	fr->click = NULL;
	page = strdup(api_click_invalid_page());
	if (page)
		click_page(fr, 404, page, NULL);
	else
		send_fail(fr);
}

/* The logger's callback, on its thread: the click is decided and its event committed. */
static void click_decided(struct click *c)
{
	struct front_req *fr = c->owner;
	request_async_end(&fr->req);
}

/* The request is complete: the click goes to the logger and the connection waits. */
static void click_submit(struct front_req *fr)
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
		atomic_store(&fr->req.pending, 0);
		page = strdup(api_click_busy_page());
		if (page)
			click_page(fr, 503, page, NULL);
		else
			send_fail(fr);
		return;
	}
	conn_park(fr->conn);
	request_async_end(&fr->req);
}

static void click_finish(struct front_req *fr)
{
	const char *location = NULL;
	char *body = NULL;
	int status = 500;

	if (api_click_answer(fr->click, &status, &body, &location) != 0) {
		send_fail(fr);
		return;
	}
	click_page(fr, status, body, location);
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
static void respond_budget(struct front_req *fr, int b)
{
	if (b == GUARD_BUDGET_GLOBAL)
		respond_error(fr, API_UNAVAILABLE,
		              "the server holds as many request bodies as it may; retry after "
		              "Retry-After seconds",
		              1);
	else
		respond_error(fr, API_RATE_LIMITED,
		              "this client address has as many request bodies in flight as it may",
		              1);
}

/* A head passed the framing checks: everything that can be decided from it. */
static void on_headers(struct front_req *fr, const struct framing_result *fres)
{
	const struct framing_request *rq = fr->rq;
	const char *method = fr->req.method;
	const char *path = fr->req.path;
	int is_api = fr->is_api;
	const char *rid;

	/* the first of each name */
	for (size_t i = 0; i < rq->nh; i++)
		for (int k = 0; k < 4; k++)
			if (!fr->fixed[k] && rq->hs[i].name_len == strlen(fixed_names[k]) &&
			    strncasecmp(rq->hs[i].name, fixed_names[k], rq->hs[i].name_len) == 0)
				fr->fixed[k] = rq->hs[i].value;
	fr->have_fixed = 1;
	rid = fr->fixed[3];
	if (rid && *rid)
		fr->req.req_id = rid;
	if (fr->front->proxies)
		forwarded_client(fr, rq->hs, rq->nh);

	if (strcmp(method, "CONNECT") == 0) { /* the acceptor takes allowed tunnels (connect.h) */
		respond_error(fr, API_FORBIDDEN,
		              "CONNECT is allowed only to the Mimecast API host names on port "
		              "443, with connect_proxy on",
		              1);
		return;
	}
	if (strncmp(path, "/s/", 3) == 0 && strcmp(method, "GET") == 0) {
		click_begin(fr);
		return;
	}
	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
		/* answered once the (empty) body is read: load balancers keep their connections */
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
	if (fres->has_length && fres->content_length > (uint64_t)fr->front->srv->cfg->max_body) {
		/* not read: closed after the answer */
		if (fr->health)
			fr->deferred = strcmp(method, "GET") && strcmp(method, "HEAD")
			                       ? API_METHOD_NOT_ALLOWED
			                       : API_TOO_LARGE;
		respond_error(fr, fr->deferred ? fr->deferred : API_TOO_LARGE, NULL, 1);
		return;
	}
	if (fr->req.route && !ready(fr->front)) {
		respond_error(fr, API_UNAVAILABLE,
		              "the server is starting: its store is not open yet",
		              fres->has_length || fres->chunked);
		return;
	}
	if (fr->req.route) {
		/* Credentials, rate limit and permission from the headers, before any body byte
		 * is read: a refused caller is answered now and its body never buffered. The
		 * shared store's gate (rate limit and claim) of a small body (every normal call;
		 * the budget does not count it either) waits for the body stage instead, where
		 * the request parks while the store's thread runs it (pipeline.c): a worker
		 * never sleeps through the round trip, also when a client writes its head and
		 * body apart (Python's http.client does). */
		fr->req.gate_defer = !fres->chunked && (!fres->has_length ||
		                                        fres->content_length <= GUARD_SMALL_BODY);
		if (!pipeline_headers(&fr->req, &fr->res)) {
			fr->res.close = fres->has_length || fres->chunked;
			respond(fr);
			return;
		}
		if (fres->has_length && fres->content_length > 0) {
			int b = budget_take(fr, (size_t)fres->content_length);
			if (b != GUARD_BUDGET_OK) {
				respond_budget(fr, b);
				return;
			}
		}
		fr->chunked = fres->chunked;
	}
	fr->state = FR_BODY;
}

static void run(struct front_req *fr, int continuing)
{
	struct request *req = &fr->req;
	int rc;

	if (!continuing && !ready(fr->front)) {
		respond_error(fr, API_UNAVAILABLE,
		              "the server is starting: its store is not open yet", 0);
		return;
	}
	if (continuing)
		rc = req->finish(req, &fr->res);
	else
		rc = pipeline_body(req, fr->body.data ? fr->body.data : "", fr->body.len, &fr->res);
	if (rc == MC_ERR_ASYNC) {
		fr->state = FR_ASYNC;
		conn_park(fr->conn);
		request_async_end(req); /* the front's own hold (request_go_async) */
		return;
	}
	if (rc != 0 && fr->res.error == API_OK)
		response_call_error(&fr->res, api_error_from_mc(rc), NULL);
	respond(fr);
}

/* conn_ops.req_begin: a new request on c. fr is kept from the connection's previous request
 * (one allocation per connection, not per request). */
static void req_begin(void *arg, struct conn *c, struct front_req **slot,
                      const struct framing_request *rq, const struct framing_result *fres)
{
	struct front *f = arg;
	struct front_req *fr = *slot;
	char *q;

	/* malloc, not calloc: fr->res (its 4 KiB of header slots) is response_init's */
	if (!fr && !(fr = *slot = malloc(sizeof(*fr)))) {
		conn_answer(c, 500, "", 0, NULL, 0, 1);
		return;
	}
	memset(fr, 0, offsetof(struct front_req, res));
	memset(&fr->res + 1, 0, sizeof(*fr) - offsetof(struct front_req, res) - sizeof(fr->res));
	fr->front = f;
	fr->conn = c;
	fr->rq = rq;
	fr->req.started_ms = mono_ms();
	fr->req.srv = f->srv;
	fr->req.front = fr;
	fr->req.req_id = "-";
	fr->req.method = rq->method;
	fr->req.tls = conn_tls(c);
	memcpy(fr->req.client_ip, conn_ip(c), sizeof(fr->req.client_ip));
	atomic_fetch_add(&f->inflight, 1);
	if (response_init(&fr->res) != 0) {
		send_fail(fr);
		return;
	}
	buf_init(&fr->body, (size_t)f->srv->cfg->max_body);
	fr->alloc_ok = 1;
	fr->raw_uri = (char *)rq->target;
	strip_absolute_form(fr->raw_uri);
	q = strchr(fr->raw_uri, '?');
	if (q) {
		*q = '\0';
		fr->req.query = q + 1;
	}
	fr->req.path = fr->raw_uri;
	fr->is_api = strncmp(fr->raw_uri, "/api/", 5) == 0;
	on_headers(fr, fres);
	/* a body of known length kept: one allocation of its size, not a chain of doublings */
	if (fr->state == FR_BODY && (fr->req.route || fr->control) && fres->has_length &&
	    fres->content_length > 0)
		(void)buf_reserve(&fr->body, (size_t)fres->content_length);
	if (fr->state == FR_BODY)
		guard_conn_body(conn_guard(c), mono_ms());
	else
		guard_conn_busy(conn_guard(c));
}

/* conn_ops.req_body: n decoded body bytes. */
static void req_body(struct front_req *fr, const char *p, size_t n)
{
	guard_conn_bytes(conn_guard(fr->conn), n);
	if (fr->state != FR_BODY)
		return;
	/* only API calls keep their body; a body sent to /healthz, /s/ or a path answered
	 * 404/405 is read and dropped */
	if ((!fr->req.route && !fr->control) || fr->refused)
		return;
	if (fr->chunked && (fr->refused = budget_take(fr, n)) != GUARD_BUDGET_OK) {
		buf_release(&fr->body); /* drain, then 503/429 */
		return;
	}
	if (buf_add(&fr->body, p, n) != 0) {
		/* a chunked body over the limit: 413 at once, the rest is not read */
		fr->too_large = 1;
		guard_conn_busy(conn_guard(fr->conn));
		respond_error(fr, API_TOO_LARGE, NULL, 1);
	}
}

/* conn_ops.req_end: the body is complete. */
static void req_end(struct front_req *fr)
{
	guard_conn_busy(conn_guard(fr->conn));
	if (fr->state != FR_BODY)
		return; /* answered already */
	if (fr->health)
		health(fr);
	else if (fr->control)
		control(fr);
	else if (fr->click)
		click_submit(fr);
	else if (fr->refused)
		respond_budget(fr, fr->refused);
	else if (fr->deferred)
		respond_error(fr, fr->deferred, NULL, 0);
	else
		run(fr, 0);
}

/* conn_ops.req_resume: the async work is over. */
static void req_resume(struct front_req *fr)
{
	if (fr->state == FR_CLICK)
		click_finish(fr);
	else if (fr->control)
		console(fr, 1);
	else
		run(fr, 1);
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

/* conn_ops.req_done: the answer went out (completed) or the connection was cut. */
static void req_done(struct front_req *fr, int completed, int status)
{
	struct front *f = fr->front;

	if (status) {
		fr->status = status;
		if (fr->alloc_ok)
			response_call_error(&fr->res, API_BAD_REQUEST, NULL); /* for the journal */
	}

	if (f->srv->cfg->access_log && log_level_current >= LOG_INFO)
		access_line(fr, completed);
	/* a call cut or aborted before its function ran gives its request id back (§2.2) */
	if (fr->req.replay_claimed && !fr->req.ran)
		auth_unclaim(&fr->req);
	if (f->srv->emu && fr->is_api && !fr->journaled)
		journal(fr); /* no answer (cut, aborted) */
	budget_give(fr);
	guard_conn_idle(conn_guard(fr->conn), mono_ms()); /* the next request line is due */
	fr_clear(fr);
	atomic_fetch_sub(&f->inflight, 1);
}

static const struct conn_ops ops = {
        .req_begin = req_begin,
        .req_body = req_body,
        .req_end = req_end,
        .req_resume = req_resume,
        .req_done = req_done,
        .conn_free = fr_free,
};

/* The acceptors' hand-offs and host check. */
static void to_plain(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct front *f = arg;
	conn_accept(f->conns, fd, sa, len, NULL);
}

static void to_tls(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct front *f = arg;
	conn_accept(f->conns, fd, sa, len, f->tls);
}

static int tunnel_allowed(void *arg, const char *host, unsigned port)
{
	(void)arg;
	return port == 443 && region_is_mimecast_host(host);
}

/* An acceptor on fd (taken over, also on failure). */
static struct connect_sorter *acceptor(struct front *f, int fd, int tls, struct err *e)
{
	const struct config *cfg = f->srv->cfg;
	/* a new connection's first bytes, with the CONNECT proxy: idle (conn_timeout) and
	 * header (header_timeout) deadlines both run from the accept */
	struct connect_cfg cc = {.listen_fd = fd,
	                         .timeout_ms = (cfg->header_timeout < cfg->conn_timeout
	                                                ? cfg->header_timeout
	                                                : cfg->conn_timeout) *
	                                       1000,
	                         .max_pending = 1024,
	                         .pressure_timeout_ms = PRESSURE_HEADER_MS,
	                         .per_ip = cfg->per_ip_connections,
	                         .plain = tls ? to_tls : to_plain,
	                         .arg = f};

	if (!tls && !strcmp(cfg->connect_proxy, "on") && f->tls) {
		cc.allowed = tunnel_allowed;
		cc.tunnel = to_tls;
	}
	return connect_start(&cc, e);
}

struct front *front_start(struct server *srv, struct err *e)
{
	const struct config *cfg = srv->cfg;
	struct front *f = calloc(1, sizeof(*f));
	int fd = -1, tfd = -1;
	/* 0: one per core; on PostgreSQL at least two. A signed call's gate parks its request
	 * instead of holding the worker (pipeline.c); handlers' own store calls wait for their
	 * round trips, and while the database hangs a worker must stay free for /healthz
	 * (docs/postgres.md). More workers only add wake-ups per gate statement: on two cores
	 * 16 workers served half the signed calls of 2 (bench/README.md). */
	int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	int threads = cfg->threads > 0                      ? cfg->threads
	              : strcmp(cfg->store, "postgres") != 0 ? cores
	              : cores < 2                           ? 2
	                                                    : cores;

	if (!f) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	f->srv = srv;
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
	{
		struct conns_cfg cc = {
		        .threads = threads < 1 ? 1 : threads,
		        .conn_memory = (size_t)cfg->conn_memory,
		        .idle_ms = (int64_t)cfg->conn_timeout * 1000,
		        .max_connections = cfg->max_connections,
		        .per_ip_connections = cfg->per_ip_connections,
		        .guard = f->guard,
		        .ops = &ops,
		        .arg = f,
		};
		if (!(f->conns = conns_start(&cc, e)))
			goto fail;
	}
	if (srv->api_fd > 0) {
		fd = srv->api_fd; /* bound already; the front owns it from here */
		f->port = srv->api_port;
	} else if ((fd = listen_open(cfg->listen, &f->port, e)) < 0)
		goto fail;
	if (*cfg->tls_listen) {
		char *cert = NULL, *key = NULL;

		if (devca_load_pem(cfg->tls_cert, &cert, NULL, e) != 0 ||
		    devca_load_pem(cfg->tls_key, &key, NULL, e) != 0) {
			devca_pem_free(cert);
			goto fail;
		}
		f->tls = tlsio_ctx_new(cert, key, e);
		devca_pem_free(key);
		devca_pem_free(cert);
		if (!f->tls) {
			err_set(e, MC_ERR_IO,
			        "cannot start HTTPS on '%s' (is tls_cert/tls_key a valid PEM "
			        "pair?)",
			        cfg->tls_listen);
			goto fail;
		}
		if ((tfd = listen_open(cfg->tls_listen, &f->tls_port, e)) < 0)
			goto fail;
		f->tls_sorter = acceptor(f, tfd, 1, e);
		tfd = -1; /* the acceptor's now, also on failure */
		if (!f->tls_sorter)
			goto fail;
	}
	f->sorter = acceptor(f, fd, 0, e);
	fd = -1;
	if (!f->sorter)
		goto fail;
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
	conns_quiesce(f->conns);
	connect_quiesce(f->sorter);
	connect_quiesce(f->tls_sorter);
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
	connect_stop(f->sorter); /* first: they hand connections to the workers */
	connect_stop(f->tls_sorter);
	conns_stop(f->conns);
	if (f->guard) {
		struct guard_stats st;

		guard_stats(f->guard, &st);
		log_info("msg=\"connection guard\" cut_header=%lld cut_idle=%lld cut_body=%lld "
		         "budget_refused_global=%lld budget_refused_ip=%lld",
		         (long long)st.cut_header, (long long)st.cut_idle, (long long)st.cut_body,
		         (long long)st.refused_global, (long long)st.refused_ip);
	}
	guard_free(f->guard); /* after the workers: their connections have left it */
	tlsio_ctx_free(f->tls);
	proxyaddr_free(f->proxies);
	free(f);
}
