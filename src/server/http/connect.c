/* The sorting acceptor; see connect.h. Sockets waiting to be sorted sit in an
 * edge-triggered epoll set (their bytes are only peeked, so a level-triggered set would
 * fire again at once); each has a deadline checked a few times a second. */
#include "connect.h"

#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/response.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/banned.h"

#define TAG_LISTEN UINT64_MAX
#define TAG_WAKE   (UINT64_MAX - 1)

struct pending {
	int fd; /* -1 = free slot */
	int64_t deadline;
	int64_t accepted; /* mono_ms of the accept */
	struct sockaddr_storage sa;
	socklen_t len;
};

struct connect_sorter {
	struct connect_cfg cfg;
	int ep, wake;
	pthread_t thread;
	int started;
	atomic_int quiesce, stop;
	int listening; /* the listening socket is in the epoll set */
	int npending;
	struct pending *slots;
	char *peek; /* CONNECT_HEAD_MAX: what sort_one looks at */
	size_t peek_size;
};

static const char verb[] = "CONNECT ";

static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

enum connect_kind connect_parse(const char *p, size_t n, char *host, size_t hostsz, unsigned *port,
                                size_t *head_len)
{
	const size_t vl = sizeof(verb) - 1;
	const char *end = NULL, *line_end, *t, *sp, *h, *he, *ps;
	size_t lim = n < CONNECT_HEAD_MAX ? n : CONNECT_HEAD_MAX, hl;
	unsigned long v = 0;

	if (n < vl)
		return memcmp(p, verb, n) == 0 ? CONNECT_MORE : CONNECT_PLAIN;
	if (memcmp(p, verb, vl) != 0)
		return CONNECT_PLAIN;
	for (size_t i = 0; i + 3 < lim; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
			end = p + i + 4;
			break;
		}
	}
	if (!end)
		return n >= CONNECT_HEAD_MAX ? CONNECT_BAD : CONNECT_MORE;
	line_end = memchr(p, '\r', (size_t)(end - p));
	t = p + vl;
	sp = memchr(t, ' ', (size_t)(line_end - t));
	if (!sp || sp == t)
		return CONNECT_BAD;
	if ((size_t)(line_end - sp - 1) != 8 ||
	    (memcmp(sp + 1, "HTTP/1.1", 8) != 0 && memcmp(sp + 1, "HTTP/1.0", 8) != 0))
		return CONNECT_BAD;
	/* authority-form: host:port or [v6]:port */
	if (*t == '[') {
		h = t + 1;
		he = memchr(h, ']', (size_t)(sp - h));
		if (!he || he + 1 >= sp || he[1] != ':')
			return CONNECT_BAD;
		ps = he + 2;
		for (const char *q = h; q < he; q++)
			if (!(host_char(*q) || *q == ':'))
				return CONNECT_BAD;
	} else {
		const char *colon = NULL;
		for (const char *q = t; q < sp; q++)
			if (*q == ':')
				colon = q;
		if (!colon)
			return CONNECT_BAD;
		h = t;
		he = colon;
		ps = colon + 1;
		for (const char *q = h; q < he; q++)
			if (!host_char(*q))
				return CONNECT_BAD;
	}
	if (ps >= sp || sp - ps > 5)
		return CONNECT_BAD;
	for (const char *q = ps; q < sp; q++) {
		if (*q < '0' || *q > '9')
			return CONNECT_BAD;
		v = v * 10 + (unsigned long)(*q - '0');
	}
	if (v < 1 || v > 65535)
		return CONNECT_BAD;
	hl = (size_t)(he - h);
	if (hl && h[hl - 1] == '.')
		hl--;
	if (hl == 0 || hl >= hostsz)
		return CONNECT_BAD;
	for (size_t i = 0; i < hl; i++)
		host[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] + 32 : h[i]);
	host[hl] = '\0';
	*port = (unsigned)v;
	*head_len = (size_t)(end - p);
	return CONNECT_OK;
}

static void put(int fd, const char *s)
{
	size_t n = strlen(s);
	/* Best effort: a small reply on a fresh socket fits its send buffer. */
	(void)!send(fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* A call-level error answer (the envelope, Connection: close) in one send; the write side is
 * shut so the client sees the answer end. */
static void connect_answer(int fd, enum api_error ae, const char *message)
{
	char body[512], head[768];
	int status = api_error_status(ae), n;
	const char *phrase = status == 403   ? "Forbidden"
	                     : status == 413 ? "Content Too Large"
	                     : status == 431 ? "Request Header Fields Too Large"
	                                     : "Bad Request";

	snprintf(body, sizeof(body),
	         "{\"meta\":{\"status\":%d},\"data\":[],\"fail\":[{\"errors\":[{\"code\":\"%s\","
	         "\"message\":\"%s\",\"retryable\":false}]}]}",
	         status, api_error_code(ae), message ? message : api_error_message(ae));
	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: "
	             "no-store\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	             status, phrase, strlen(body), body);
	if (n > 0 && (size_t)n < sizeof(head))
		put(fd, head); /* one write: one segment */
	shutdown(fd, SHUT_WR);
}

/* The answer and the close. */
static void refuse(struct connect_sorter *c, int fd, enum api_error ae, const char *message)
{
	connect_answer(fd, ae, message);
	/* Read what the client sent before closing: closing with unread bytes resets the
	 * connection, and a reset can destroy the answer before the client reads it. */
	for (int i = 0; i < 64 && recv(fd, c->peek, c->peek_size, MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

static void slot_free(struct connect_sorter *c, struct pending *s)
{
	epoll_ctl(c->ep, EPOLL_CTL_DEL, s->fd, NULL);
	s->fd = -1;
	c->npending--;
	if (!c->listening && !atomic_load(&c->quiesce)) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
		if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->cfg.listen_fd, &ev) == 0)
			c->listening = 1;
	}
}

static const char *ip_of(const struct pending *s, char *dst, size_t n)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->sa;
	dst[0] = '\0';
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, dst, (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, dst,
		          (socklen_t)n);
	return dst[0] ? dst : "-";
}

/* A connection that is not a tunnel goes to the plain server as it is (its bytes were only
 * peeked). */
static void sort_plain(struct connect_sorter *c, struct pending *s)
{
	int fd = s->fd;
	struct pending copy = *s;

	slot_free(c, s);
	c->cfg.plain(c->cfg.arg, fd, (struct sockaddr *)&copy.sa, copy.len);
}

/* Looks at what the socket of s has sent so far and hands it on, or waits for more. */
static void sort_one(struct connect_sorter *c, struct pending *s)
{
	char host[256], ip[64];
	unsigned port = 0;
	size_t head = 0;
	ssize_t r = recv(s->fd, c->peek, c->peek_size, MSG_PEEK | MSG_DONTWAIT);
	int fd = s->fd;
	struct pending copy;

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		slot_free(c, s);
		close(fd);
		return;
	}
	if (!c->cfg.allowed) {
		sort_plain(c, s);
		return;
	}
	switch (connect_parse(c->peek, (size_t)r, host, sizeof(host), &port, &head)) {
	case CONNECT_MORE:
		return;
	case CONNECT_PLAIN:
		sort_plain(c, s);
		return;
	case CONNECT_BAD:
		slot_free(c, s);
		refuse(c, fd, API_BAD_REQUEST, "malformed CONNECT request");
		return;
	case CONNECT_OK:
		break;
	}
	copy = *s;
	slot_free(c, s);
	/* Consume exactly the head: any bytes after it (a TLS ClientHello sent early) stay in
	 * the socket for the HTTPS server. */
	if (recv(fd, c->peek, head, MSG_DONTWAIT) != (ssize_t)head) {
		close(fd);
		return;
	}
	if (!c->cfg.allowed(c->cfg.arg, host, port)) {
		char q[300];
		log_info("msg=\"CONNECT refused\" ip=%s host=%s port=%u",
		         ip_of(&copy, ip, sizeof(ip)), log_quote(host, q, sizeof(q)), port);
		refuse(c, fd, API_FORBIDDEN,
		       "CONNECT is allowed only to the Mimecast API host names on port 443");
		return;
	}
	log_debug("msg=tunnel ip=%s host=%s", ip_of(&copy, ip, sizeof(ip)), host);
	put(fd, "HTTP/1.1 200 Connection established\r\n\r\n");
	c->cfg.tunnel(c->cfg.arg, fd, (struct sockaddr *)&copy.sa, copy.len);
}

static int same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return 0;
}

/* One address may not hold every slot with slow heads (the workers' per-IP limit
 * applies only once a connection is handed over). */
static int over_ip_limit(const struct connect_sorter *c, const struct pending *s)
{
	int k = 0;

	if (c->cfg.per_ip <= 0)
		return 0;
	for (int i = 0; i < c->cfg.max_pending; i++)
		if (&c->slots[i] != s && c->slots[i].fd >= 0 && same_ip(&c->slots[i].sa, &s->sa) &&
		    ++k >= c->cfg.per_ip)
			return 1;
	return 0;
}

static void accept_all(struct connect_sorter *c)
{
	for (;;) {
		struct pending *s = NULL;
		struct epoll_event ev;
		int fd;

		if (c->npending >= c->cfg.max_pending) {
			/* Full: leave the rest in the kernel's backlog until a slot frees. */
			epoll_ctl(c->ep, EPOLL_CTL_DEL, c->cfg.listen_fd, NULL);
			c->listening = 0;
			return;
		}
		for (int i = 0; i < c->cfg.max_pending; i++) {
			if (c->slots[i].fd < 0) {
				s = &c->slots[i];
				break;
			}
		}
		s->len = sizeof(s->sa);
		fd = accept4(c->cfg.listen_fd, (struct sockaddr *)&s->sa, &s->len,
		             SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;        /* EAGAIN, or a connection reset before it was taken */
		if (!c->cfg.allowed) { /* nothing to sort: straight to the server */
			c->cfg.plain(c->cfg.arg, fd, (struct sockaddr *)&s->sa, s->len);
			continue;
		}
		if (over_ip_limit(c, s)) {
			close(fd);
			continue;
		}
		s->fd = fd;
		s->accepted = mono_ms();
		s->deadline = s->accepted + c->cfg.timeout_ms;
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.u64 = (uint64_t)(s - c->slots);
		if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			s->fd = -1;
			close(fd);
			continue;
		}
		c->npending++;
		sort_one(c, s); /* the request is often there already */
	}
}

static void expire(struct connect_sorter *c, int64_t now)
{
	int pressed = c->cfg.pressure_timeout_ms > 0 && c->npending >= c->cfg.max_pending / 2;

	for (int i = 0; i < c->cfg.max_pending; i++) {
		struct pending *s = &c->slots[i];
		if (s->fd >= 0 && (s->deadline <= now ||
		                   (pressed && now - s->accepted >= c->cfg.pressure_timeout_ms))) {
			int fd = s->fd;
			slot_free(c, s);
			close(fd);
		}
	}
}

static void *run(void *arg)
{
	struct connect_sorter *c = arg;
	struct epoll_event evs[64];
	int64_t next_expiry = mono_ms() + 250;

	while (!atomic_load(&c->stop)) {
		int n = epoll_wait(c->ep, evs, 64, 250);
		int64_t now;

		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == TAG_WAKE) {
				uint64_t v;
				(void)!read(c->wake, &v, sizeof(v));
			} else if (tag == TAG_LISTEN) {
				accept_all(c);
			} else if (tag < (uint64_t)c->cfg.max_pending && c->slots[tag].fd >= 0) {
				sort_one(c, &c->slots[tag]);
			}
		}
		if (atomic_load(&c->quiesce) && c->cfg.listen_fd >= 0) {
			epoll_ctl(c->ep, EPOLL_CTL_DEL, c->cfg.listen_fd, NULL);
			close(c->cfg.listen_fd);
			c->cfg.listen_fd = -1;
			c->listening = 0;
		}
		now = mono_ms();
		if (now >= next_expiry) {
			expire(c, now);
			next_expiry = now + 250;
		}
	}
	return NULL;
}

struct connect_sorter *connect_start(const struct connect_cfg *cfg, struct err *e)
{
	struct connect_sorter *c = calloc(1, sizeof(*c));
	struct epoll_event ev = {.events = EPOLLIN};

	if (!c)
		goto fail;
	c->cfg = *cfg;
	if (c->cfg.max_pending < 1)
		c->cfg.max_pending = 1;
	c->ep = c->wake = -1;
	c->slots = calloc((size_t)c->cfg.max_pending, sizeof(*c->slots));
	if (!c->slots)
		goto fail;
	for (int i = 0; i < c->cfg.max_pending; i++)
		c->slots[i].fd = -1;
	c->peek_size = CONNECT_HEAD_MAX;
	if (!(c->peek = malloc(c->peek_size)))
		goto fail;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->ep < 0 || c->wake < 0)
		goto fail;
	ev.data.u64 = TAG_WAKE;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->wake, &ev) != 0)
		goto fail;
	ev.data.u64 = TAG_LISTEN;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->cfg.listen_fd, &ev) != 0)
		goto fail;
	c->listening = 1;
	if (pthread_create(&c->thread, NULL, run, c) != 0)
		goto fail;
	c->started = 1;
	return c;
fail:
	err_set(e, MC_ERR_IO, "cannot start the acceptor: %s", strerror(errno));
	if (c) {
		c->started = 0;
		connect_stop(c);
	} else {
		close(cfg->listen_fd);
	}
	return NULL;
}

static void wake(struct connect_sorter *c)
{
	uint64_t one = 1;
	(void)!write(c->wake, &one, sizeof(one));
}

void connect_quiesce(struct connect_sorter *c)
{
	if (!c)
		return;
	atomic_store(&c->quiesce, 1);
	wake(c);
}

void connect_stop(struct connect_sorter *c)
{
	if (!c)
		return;
	if (c->started) {
		atomic_store(&c->stop, 1);
		wake(c);
		pthread_join(c->thread, NULL);
	}
	for (int i = 0; c->slots && i < c->cfg.max_pending; i++)
		if (c->slots[i].fd >= 0)
			close(c->slots[i].fd);
	if (c->cfg.listen_fd >= 0)
		close(c->cfg.listen_fd);
	if (c->ep >= 0)
		close(c->ep);
	if (c->wake >= 0)
		close(c->wake);
	free(c->slots);
	free(c->peek);
	free(c);
}
