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
#include "server/http/framing.h"
#include "server/http/response.h"
#include "server/pipeline.h"
#include "server/router.h"
#include "server/server.h"
#include "server/store/store.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/banned.h"

struct front {
	struct server *srv;
	struct MHD_Daemon *d;
	atomic_int inflight;
	unsigned port;
	int quiesced_fd; /* the listening socket handed back by quiesce, or -1 */
};

enum fr_state { FR_NEW, FR_BODY, FR_ASYNC, FR_DONE };

struct front_req {
	struct request req;
	struct response res;
	struct front *front;
	struct MHD_Connection *conn;
	enum fr_state state;
	int status; /* sent, for the access log */
	int too_large;
	char *raw_uri;
	struct buf body;
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

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct front *f = cls;
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
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
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
	char *body = response_serialise(&fr->res, &len);

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

static enum MHD_Result health(struct front_req *fr)
{
	int ok = store_ping(fr->front->srv->store) == 0;
	const char *text = ok ? "{\"status\":\"ok\"}" : "{\"status\":\"unavailable\"}";
	char *body = strdup(text);

	if (!body)
		return MHD_NO;
	return send_body(fr, ok ? 200 : 503, body, strlen(body), NULL, NULL);
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
	int is_api = strncmp(path, "/api/", 5) == 0;
	const char *rid;

	fr->req.method = method;
	rid = MHD_lookup_connection_value(fr->conn, MHD_HEADER_KIND, "x-mc-req-id");
	if (rid && *rid)
		fr->req.req_id = rid;
	MHD_get_connection_values_n(fr->conn, MHD_HEADER_KIND, collect_header, &hl);
	if (hl.overflow)
		return respond_error(fr, API_HEADERS_TOO_LARGE, "too many request headers", 1);
	framing_check(version, hl.hs, hl.n, &fres);
	if (!fres.ok)
		return respond_error(fr, API_BAD_REQUEST, fres.reason, 1);

	if (strcmp(path, "/healthz") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			char *b = strdup("{\"status\":\"method not allowed\"}");
			fr->res.close = fres.has_length || fres.chunked;
			return b ? send_body(fr, 405, b, strlen(b), &fr->res, "GET") : MHD_NO;
		}
		return health(fr);
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
		if (fr->too_large)
			return respond_error(fr, API_TOO_LARGE, NULL, 1);
		return run(fr, 0);
	case FR_ASYNC:
		return run(fr, 1);
	case FR_DONE:
		*upload_data_size = 0; /* a body after an early answer is discarded */
		return MHD_YES;
	}
	return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct front *f = cls;
	struct front_req *fr = *con_cls;
	(void)conn;

	if (!fr)
		return;
	if (f->srv->cfg->access_log && log_level_current >= LOG_INFO) {
		char path[160], rid[96];
		const struct principal *who = &fr->req.who;
		log_write(LOG_INFO,
		          "access ip=%s method=%s path=%s status=%d ms=%lld req_id=%s app_id=%s "
		          "user=%s bytes_in=%zu%s",
		          fr->req.client_ip[0] ? fr->req.client_ip : "-",
		          fr->req.method ? fr->req.method : "-",
		          log_quote(fr->req.path, path, sizeof(path)), fr->status,
		          (long long)(mono_ms() - fr->req.started_ms),
		          log_quote(fr->req.req_id, rid, sizeof(rid)),
		          who->app.app_id[0] ? who->app.app_id : "-",
		          fr->req.authenticated ? who->user.email : "-", fr->body.len,
		          toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
	}
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

static int parse_listen(const char *listen, struct sockaddr_storage *ss, struct err *e)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	int rc;

	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		return err_set(e, MC_ERR_INVALID, "listen '%s' is not host:port", listen);
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);
		if (n < 2 || host[n - 1] != ']')
			return err_set(e, MC_ERR_INVALID, "listen '%s' is not host:port", listen);
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0 || !ai)
		return err_set(e, MC_ERR_INVALID, "listen '%s': %s", listen, gai_strerror(rc));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

struct front *front_start(struct server *srv, struct err *e)
{
	const struct config *cfg = srv->cfg;
	struct front *f = calloc(1, sizeof(*f));
	struct sockaddr_storage ss;
	unsigned threads =
	        cfg->threads > 0 ? (unsigned)cfg->threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	/* TURBO: read and write opportunistically before asking epoll, saving system calls. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	const union MHD_DaemonInfo *di;

	if (!f) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (parse_listen(cfg->listen, &ss, e) != 0) {
		free(f);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	f->srv = srv;
	f->quiesced_fd = -1;
	if (threads < 1)
		threads = 1;
	f->d = MHD_start_daemon(
	        flags, 0, NULL, NULL, on_request, f, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned)cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	        (unsigned)cfg->per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned)cfg->conn_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	        (size_t)cfg->conn_memory, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, f,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, f, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
	        NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_STRICT_FOR_CLIENT, 1,
	        MHD_OPTION_END);
	if (!f->d) {
		err_set(e, MC_ERR_IO, "cannot listen on '%s' (address in use or not allowed?)",
		        cfg->listen);
		free(f);
		return NULL;
	}
	di = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	f->port = di ? di->port : 0;
	return f;
}

unsigned front_port(const struct front *f)
{
	return f->port;
}

void front_quiesce(struct front *f)
{
	MHD_socket s = MHD_quiesce_daemon(f->d);

	/* The workers still hold the socket in their epoll sets until MHD_stop_daemon, so it is
	 * not closed here (that would race with them): shut down, it refuses new connections at
	 * once, and front_stop closes it. */
	if (s != MHD_INVALID_SOCKET) {
		shutdown(s, SHUT_RDWR);
		f->quiesced_fd = s;
	}
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
	MHD_stop_daemon(f->d);
	if (f->quiesced_fd >= 0)
		close(f->quiesced_fd);
	free(f);
}
