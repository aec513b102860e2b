/* libmcapi from several threads at once, as mcapi.h's "Threads" paragraph promises: each thread
 * makes its own client (the first ones race into the library's one-time libcurl and libsodium
 * set-up) and calls an in-process HTTP responder on loopback that echoes each request's
 * x-mc-req-id; every answer must carry the id its own request was signed with, so clients that
 * shared a buffer, a handle or a signature would show. Meant to run under TSan too (make tsan). */
#include "mcapi/mcapi.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/banned.h"

#define THREADS 8
#define CALLS   10
#define REQ_MAX 16384 /* one request of the test; the responder gives up on a longer one */

static int listen_fd = -1;
static atomic_int stopping;

/* The value of header name in the request head req (NUL-terminated), copied into out. */
static int header_value(const char *req, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	for (const char *p = req; (p = strchr(p, '\n')) != NULL;) {
		p++;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			size_t len = 0;
			p += n + 1;
			while (*p == ' ')
				p++;
			while (p[len] && p[len] != '\r' && p[len] != '\n')
				len++;
			if (len >= size)
				return -1;
			memcpy(out, p, len);
			out[len] = '\0';
			return 0;
		}
	}
	return -1;
}

/* Reads one request (head and Content-Length body) and answers it with its request id. */
static void serve_one(int fd)
{
	char *req = malloc(REQ_MAX + 1), id[128], cl[32], body[256], head[256];
	size_t len = 0;
	char *end = NULL;
	long want = 0;
	ssize_t n;
	int blen, hlen;

	if (!req)
		return;
	while (len < REQ_MAX) {
		n = read(fd, req + len, REQ_MAX - len);
		if (n <= 0)
			goto out;
		len += (size_t)n;
		req[len] = '\0';
		if (!end && (end = strstr(req, "\r\n\r\n")) != NULL) {
			*end = '\0';
			want = header_value(req, "Content-Length", cl, sizeof(cl)) == 0
			               ? strtol(cl, NULL, 10)
			               : 0;
			*end = '\r';
		}
		if (end && (long)(len - (size_t)(end + 4 - req)) >= want)
			break;
	}
	if (!end)
		goto out;
	*end = '\0';
	if (header_value(req, "x-mc-req-id", id, sizeof(id)) != 0)
		snprintf(id, sizeof(id), "none");
	blen = snprintf(body, sizeof(body),
	                "{\"meta\":{\"status\":200},\"data\":[{\"reqId\":\"%s\"}],\"fail\":[]}",
	                id);
	hlen = snprintf(head, sizeof(head),
	                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                "Content-Length: %d\r\nConnection: close\r\n\r\n",
	                blen);
	if (write(fd, head, (size_t)hlen) != hlen || write(fd, body, (size_t)blen) != blen)
		fprintf(stderr, "responder: short write\n"); /* the client's check fails */
out:
	free(req);
}

static void *responder(void *arg)
{
	struct pollfd p = {listen_fd, POLLIN, 0};

	(void)arg;
	while (!atomic_load(&stopping)) {
		int fd;
		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		serve_one(fd);
		close(fd);
	}
	return NULL;
}

struct worker {
	char base_url[64];
	int ok, mismatched, failed; /* calls whose answer carried their own id, another, none */
	char last_error[256];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct mcapi_options o;
	struct mcapi_client *c;
	char *msg = NULL;

	mcapi_options_init(&o);
	o.base_url = w->base_url;
	o.app_id = "app";
	o.app_key = "key";
	o.access_key = "access";
	o.secret_key = "c2VjcmV0"; /* "secret" */
	o.timeout_ms = 10000;
	o.max_retries = 0;
	c = mcapi_client_new(&o, &msg);
	if (!c) {
		snprintf(w->last_error, sizeof(w->last_error), "%s", msg ? msg : "?");
		free(msg);
		w->failed = CALLS;
		return NULL;
	}
	for (int i = 0; i < CALLS; i++) {
		struct mcapi_response *r = NULL;
		int rc = mcapi_call(c, "/api/account/get-account", NULL, &r);
		const char *got = r ? mcapi_response_data_string(r, 0, "reqId") : NULL;
		const char *sent = r ? mcapi_response_request_id(r) : NULL;

		if (rc != 0 || !got || !sent) {
			snprintf(w->last_error, sizeof(w->last_error), "%s",
			         rc ? mcapi_client_last_error(c) : "no reqId");
			w->failed++;
		} else if (strcmp(got, sent) == 0) {
			w->ok++;
		} else {
			w->mismatched++;
		}
		mcapi_response_free(r);
	}
	mcapi_client_free(c);
	return NULL;
}

int main(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	pthread_t srv, th[THREADS];
	struct worker w[THREADS];
	int one = 1, ok = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(listen_fd >= 0);
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	CHECK(bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(listen_fd, 128) == 0);
	CHECK(getsockname(listen_fd, (struct sockaddr *)&a, &alen) == 0);
	CHECK(pthread_create(&srv, NULL, responder, NULL) == 0);

	memset(w, 0, sizeof(w));
	for (int i = 0; i < THREADS; i++) {
		snprintf(w[i].base_url, sizeof(w[i].base_url), "http://127.0.0.1:%u",
		         (unsigned)ntohs(a.sin_port));
		CHECK(pthread_create(&th[i], NULL, worker_run, &w[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(w[i].mismatched, 0);
		CHECK_INT(w[i].failed, 0);
		if (w[i].failed)
			fprintf(stderr, "thread %d: %s\n", i, w[i].last_error);
		ok += w[i].ok;
	}
	CHECK_INT(ok, THREADS * CALLS);
	atomic_store(&stopping, 1);
	pthread_join(srv, NULL);
	close(listen_fd);
	return tap_done();
}
