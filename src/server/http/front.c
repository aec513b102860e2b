/* The HTTP front on libmicrohttpd; see front.h. Life of a request here:
 *   uri_cb (raw URI: allocate the request) → on_request first call (framing, method,
 *   route, body limit) → on_request with body chunks (capped buffer) → on_request with
 *   the body complete (pipeline; maybe suspend) → [resume → finish] → respond →
 *   on_completed (access log, free).
 * libmicrohttpd's own error pages cover only what it rejects before we see a request. */
#include "front.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/config.h"
#include "common/crypto.h"
#include "server/http/connect.h"
#include "server/http/framing.h"
#include "server/http/proxyaddr.h"
#include "server/response.h"
#include "server/api/api.h"
#include "server/listen.h"
#include "server/pipeline.h"
#include "server/region.h"
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

struct front {
	struct server *srv;
	struct MHD_Daemon *d;          /* plain HTTP */
	struct MHD_Daemon *dt;         /* HTTPS, or NULL */
	struct connect_sorter *sorter; /* accepts for d when the CONNECT proxy is on */
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
	int is_api; /* the path starts with /api/ */
	int health; /* GET /healthz (1) or /readyz (2) */
	char *raw_uri;
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

const char *request_header(struct request *req, const char *name)
{
	struct front_req *fr = req->front;
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

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const struct listener_ctx *lc = cls;
	struct front *f = lc->front;
	struct front_req *fr = calloc(1, sizeof(*fr));
	const union MHD_ConnectionInfo *ci;
	char *q;

	if (!fr)
		return NULL;
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
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			          fr->req.client_ip, sizeof(fr->req.client_ip));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
			          fr->req.client_ip, sizeof(fr->req.client_ip));
	}
	atomic_fetch_add(&f->inflight, 1);
	return fr;
}

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

/* First call for a request: everything that can be decided from the header block. */
static enum MHD_Result on_headers(struct front_req *fr, const char *method, const char *version)
{
	struct header_list hl = {.n = 0};
	struct framing_result fres;
	const char *path = fr->req.path;
	int is_api = fr->is_api;
	const char *rid;

	fr->req.method = method;
	rid = MHD_lookup_connection_value(fr->conn, MHD_HEADER_KIND, "x-mc-req-id");
	if (rid && *rid)
		fr->req.req_id = rid;
	MHD_get_connection_values_n(fr->conn, MHD_HEADER_KIND, collect_header, &hl);
	if (hl.overflow)
		return respond_error(fr, API_HEADERS_TOO_LARGE, "too many request headers", 1);
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
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			char *b = strdup("{\"status\":\"method not allowed\"}");
			fr->res.close = fres.has_length || fres.chunked;
			return b ? send_body(fr, 405, b, strlen(b), &fr->res, "GET") : MHD_NO;
		}
		/* answered once the (empty) body is read: an answer queued now would close
		 * the connection, and load balancers keep theirs open */
		fr->health = path[1] == 'h' ? 1 : 2;
		fr->state = FR_BODY;
		return MHD_YES;
	}
	if (is_api && strcmp(method, "POST") != 0)
		return respond_error(fr, API_METHOD_NOT_ALLOWED, NULL,
		                     fres.has_length || fres.chunked);
	fr->req.route = is_api ? router_match(path, strlen(path)) : NULL;
	if (!fr->req.route)
		return respond_error(fr, API_NOT_FOUND, NULL, fres.has_length || fres.chunked);
	if (fres.has_length && fres.content_length > (uint64_t)fr->front->srv->cfg->max_body)
		return respond_error(fr, API_TOO_LARGE, NULL, 1);
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
		rc = pipeline_run(req, fr->body.data ? fr->body.data : "", fr->body.len, &fr->res);
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
	case FR_NEW:
		return on_headers(fr, method, version);
	case FR_BODY:
		if (*upload_data_size) {
			if (!fr->too_large &&
			    buf_add(&fr->body, upload_data, *upload_data_size) != 0)
				fr->too_large =
				        1; /* chunked body over the limit: drain, then 413 */
			*upload_data_size = 0;
			return MHD_YES;
		}
		if (fr->health)
			return health(fr);
		if (fr->click)
			return click_submit(fr);
		if (fr->too_large)
			return respond_error(fr, API_TOO_LARGE, NULL, 1);
		return run(fr, 0);
	case FR_ASYNC:
		return run(fr, 1);
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
	*con_cls = NULL;
	fr_free(fr);
	atomic_fetch_sub(&f->inflight, 1);
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
	unsigned threads =
	        cfg->threads > 0 ? (unsigned)cfg->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
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
	                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	                        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
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
	if (!strcmp(cfg->connect_proxy, "on")) {
		struct connect_cfg cc = {.listen_fd = fd,
		                         .timeout_ms = cfg->conn_timeout * 1000,
		                         .max_pending = 1024,
		                         .allowed = tunnel_allowed,
		                         .plain = to_plain,
		                         .tunnel = to_tls,
		                         .arg = f};
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
	devca_pem_free(f->tls_key);
	devca_pem_free(f->tls_cert);
	proxyaddr_free(f->proxies);
	free(f);
}
