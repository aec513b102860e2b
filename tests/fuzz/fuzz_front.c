/* Fuzz target for the HTTP front end to end: the real front (conn.c's HTTP/1.1 server, the
 * framing checks, the pipeline, authentication, every handler, the click pages) listens on
 * 127.0.0.1 port 0 in this process over a SQLite store made once (fuzz_server.h), with the
 * hash threads of login. Each input is written to a new connection as it is, which is then
 * half-closed, and the answer is read until the server closes (or a deadline passes, which
 * counts as a hang). So that inputs reach past authentication, these tokens are replaced
 * first: $A the application id, $D a fresh x-mc-date, $R a fresh request id, $S the
 * "MC accessKey:signature" of the development binding over $D, $R and the request target
 * of the first request line, $L the length of what follows the first blank line (in the input).
 * Whatever arrives, the process survives (sanitizers abort on memory errors) and the
 * server sends nothing or whole, well-formed HTTP/1.1 responses. */
#include "fuzz_server.h"

#include "common/b64.h"
#include "common/buf.h"
#include "server/auth/hashpool.h"
#include "server/auth/sig.h"
#include "server/http/front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

/* A half-closed connection still open after this is a hang. Well past conn_timeout (5 s
 * here), which a busy machine stretches (libmicrohttpd, the front's server until then, could
 * notice a half-close only when that timeout fired: corpus/front/halfclose_timeout). */
#define DEADLINE_MS 60000
#define ANSWER_MAX  (8 << 20)
#define QUIET_MS    10 /* after whole answers: nothing more within this ends the read */

static struct front *front;
static unsigned port;
static unsigned char secret[64];
static size_t secret_len;
static unsigned long counter;

static void stop_front(void)
{
	front_stop(front); /* before the store goes (fuzz_server_cleanup runs after this) */
	front = NULL;
	hashpool_free(fuzz_srv.srv.hashpool);
	fuzz_srv.srv.hashpool = NULL;
}

static void setup(void)
{
	struct server *srv = fuzz_server();
	struct err e = {0};
	const char *s = fuzz_cred("secret_key");

	signal(SIGPIPE, SIG_IGN);
	if (b64_decode(s, strlen(s), secret, sizeof(secret), &secret_len) != 0)
		abort();
	if (!(srv->hashpool = hashpool_new(1, 4, &e)) || !(front = front_start(srv, &e))) {
		fprintf(stderr, "fuzz front: %s\n", e.msg);
		abort();
	}
	port = front_port(front);
	atexit(stop_front);
}

static void put(struct buf *b, const void *p, size_t n)
{
	if (buf_add(b, p, n) != 0)
		abort();
}

/* The input with the tokens replaced. */
static void expand(const uint8_t *in, size_t n, struct buf *out)
{
	char date[64], rid[64], auth[160], len[24], sig[SIG_B64_LEN + 1];
	const char *target = "/", *sp, *blank;
	size_t target_n = 1, body = 0;

	date_format_rfc1123(now_ms(), date, sizeof(date));
	snprintf(rid, sizeof(rid), "fuzz-%d-%lu", (int)getpid(), ++counter);
	/* the request target: between the first two spaces of the first line */
	if ((sp = memchr(in, ' ', n)) != NULL) {
		const char *t = sp + 1, *end = (const char *)in + n, *e2 = t;
		while (e2 < end && *e2 != ' ' && *e2 != '\r' && *e2 != '\n')
			e2++;
		target = t;
		target_n = (size_t)(e2 - t);
	}
	if (sig_sign(secret, secret_len, date, rid, target, target_n, fuzz_cred("app_key"), sig) !=
	    0)
		sig[0] = '\0';
	snprintf(auth, sizeof(auth), "MC %s:%s", fuzz_cred("access_key"), sig);
	blank = memmem(in, n, "\r\n\r\n", 4);
	if (blank) /* as written: a token in the body counts with its own length */
		body = n - (size_t)(blank + 4 - (const char *)in);
	snprintf(len, sizeof(len), "%zu", body);
	for (size_t i = 0; i < n; i++) {
		const char *v = NULL;
		if (in[i] == '$' && i + 1 < n) {
			switch (in[i + 1]) {
			case 'A':
				v = fuzz_cred("app_id");
				break;
			case 'D':
				v = date;
				break;
			case 'R':
				v = rid;
				break;
			case 'S':
				v = auth;
				break;
			case 'L':
				v = len;
				break;
			}
		}
		if (v) {
			put(out, v, strlen(v));
			i++;
		} else {
			put(out, in + i, 1);
		}
	}
}

static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = {fd, ev, 0};
	int64_t left = deadline - mono_ms();

	if (left <= 0)
		return 0;
	return poll(&p, 1, (int)left) > 0;
}

/* Every byte of a[0..n) belongs to whole responses: a status line, header lines, a blank
 * line and a body of Content-Length bytes (none for 1xx, 204, 304; with a HEAD request in
 * the input a body may be left out). */
static const char *answer_problem(const char *a, size_t n, int head, size_t *at)
{
	size_t off = 0;

	while (off < n) {
		const char *p = a + off, *end = memmem(p, n - off, "\r\n\r\n", 4), *line;
		long long clen = -1;
		int status;

		if (!end)
			return *at = off, "an unfinished header block";
		if (n - off < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0 || p[9] < '1' || p[9] > '5' ||
		    p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' || p[12] != ' ')
			return *at = off, "no status line";
		status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		line = memmem(p, (size_t)(end - p) + 2, "\r\n", 2) + 2;
		while (line < end + 2) {
			const char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
			const char *colon = memchr(line, ':', (size_t)(eol - line));
			if (!colon || colon == line)
				return *at = off, "a header line without a name";
			for (const char *c = line; c < eol; c++)
				if ((unsigned char)*c < 0x20 && *c != '\t')
					return *at = off, "a control character in a header";
			if ((size_t)(colon - line) == 14 &&
			    strncasecmp(line, "Content-Length", 14) == 0)
				clen = strtoll(colon + 1, NULL, 10);
			line = eol + 2;
		}
		off = (size_t)(end + 4 - a);
		if (status < 200 || status == 204 || status == 304)
			continue;
		if (clen < 0)
			return *at = off, "no Content-Length"; /* the front always sends one */
		/* a HEAD answer (no body: the front's bodies never start with a status line) at the
		 * end or followed by the next response, which may be shorter than its length */
		if (head && clen != 0 &&
		    (off == n || (n - off >= 9 && memcmp(a + off, "HTTP/1.1 ", 9) == 0)))
			continue;
		if ((size_t)clen > n - off)
			return *at = off, "a body shorter than its Content-Length";
		off += (size_t)clen;
	}
	return NULL;
}

static void check_answer(const char *a, size_t n, int head)
{
	size_t at = 0;
	const char *why = answer_problem(a, n, head, &at);

	if (why) {
		fprintf(stderr, "fuzz front: %s at byte %zu of the answer:\n%.*s\n", why, at,
		        (int)(n > 4096 ? 4096 : n), a);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa = {0};
	struct buf req, ans;
	int64_t deadline;
	size_t sent = 0;
	int fd, head = memmem(data, size, "HEAD", 4) != NULL;

	if (!front)
		setup();
	buf_init(&req, 1 << 20);
	buf_init(&ans, ANSWER_MAX);
	expand(data, size, &req);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	deadline = mono_ms() + DEADLINE_MS;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS)
		abort();
	while (sent < req.len && wait_fd(fd, POLLOUT, deadline)) {
		ssize_t k = send(fd, req.data + sent, req.len - sent, MSG_NOSIGNAL);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0)
			break; /* the server closed: what it sent is still read below */
		sent += (size_t)k;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		char chunk[16384];
		ssize_t k;
		size_t at;
		/* Whole answers so far: the server may keep the connection open for the next
		 * request until it reads the half-close, so a short quiet spell ends the wait. */
		if (ans.len && !answer_problem(ans.data, ans.len, head, &at) &&
		    !wait_fd(fd, POLLIN, mono_ms() + QUIET_MS))
			break;
		if (!wait_fd(fd, POLLIN, deadline)) {
			fprintf(stderr, "fuzz front: no end of the answer within %d ms\n",
			        DEADLINE_MS);
			abort();
		}
		k = recv(fd, chunk, sizeof(chunk), 0);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0)
			break; /* closed (or reset, after a refusal) */
		if (buf_add(&ans, chunk, (size_t)k) != 0)
			abort(); /* an answer over ANSWER_MAX */
	}
	close(fd);
	check_answer(ans.data ? ans.data : "", ans.len, head);
	buf_release(&req);
	buf_release(&ans);
	return 0;
}
