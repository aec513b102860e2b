/* The SMTP front's driver; see smtp.h. An acceptor thread takes connections, refuses those
 * past smtp_max_sessions or smtp_per_ip_sessions with 421, and gives each session a thread
 * of its own (a 512 KiB stack; one that finished a session and waits for the next, or a new
 * one) that does blocking-style I/O on a non-blocking socket: every wait is a poll() with
 * a deadline that only progress moves (deadline(): a command line, DATA, the rate of
 * message text, the whole session) and that also watches an eventfd smtp_stop writes to. The thread
 * feeds what it reads to the session state machine (smtp_session.c), sends its replies — gathered
 * while pipelined commands are buffered, flushed before it waits for more — and runs the STARTTLS
 * handshake with OpenSSL when the session asks for it. Nothing here runs on an HTTP worker. */
#include "smtp.h"

#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/config.h"
#include "server/listen.h"
#include "server/mail/mail.h"
#include "server/server.h"
#include "server/smtp/smtp_session.h"
#include "server/tls/devca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

/* per session thread: the session's buffers are on the heap, but mail_accept (MIME parsing,
 * the store) runs on this stack too; reserved address space, not memory used */
#define SMTP_STACK          (512 * 1024)
#define SMTP_OUT_SIZE       4096         /* replies gathered before a write */
#define SMTP_LAST_MS        2000         /* for the last reply of a session that is being ended */
#define SMTP_SPOOLS         64           /* empty spool files kept for reuse (smtp_spool_pool) */
#define SMTP_SPARE          32           /* session threads kept waiting for the next connection */
#define SMTP_IDLE_MS        30000        /* and for how long */
#define SMTP_MMAP_THRESHOLD (128 * 1024) /* glibc's initial value, kept fixed */

/* A session thread, and the connection it serves. When a session ends, its thread waits a
 * while (SMTP_IDLE_MS) for the next connection instead of exiting, at most SMTP_SPARE of
 * them: a thread's start and end (stack, TLS, malloc arena, its store connection) cost as
 * much as the rest of a one-message session. */
struct smtp_conn {
	struct smtp_front *f;
	struct smtp_conn *next;
	pthread_t thread;
	pthread_cond_t cv; /* an idle thread waits here for its next connection */
	int fd;
	int counted; /* counts towards the session limits (under f->mu) */
	int idle;    /* waiting for a connection (under f->mu) */
	int done;    /* the thread has finished: join it (under f->mu) */
	char ip[64];
};

struct smtp_front {
	const struct config *cfg;
	struct server *srv;
	struct mail *mail; /* NULL: started before the store opened; srv->mail once ready */
	SSL_CTX *ssl;      /* NULL: no STARTTLS */
	int lfd;
	unsigned port;
	int quiesce_fd, stop_fd; /* eventfds: written once, never read */
	pthread_t acceptor;
	int acceptor_running;
	pthread_mutex_t mu;
	int nsessions;
	int nidle;               /* session threads waiting for a connection */
	struct smtp_conn *conns; /* session threads: serving, idle, finished-but-not-joined */
	atomic_int stopping;
	char spool_dir[600];
	struct smtp_spool_pool *spools;
	struct smtp_gate *gate; /* smtp_accept_memory */
	/* refusals logged at most once a second (acceptor thread only) */
	int64_t refuse_logged; /* mono ms */
	long refused_quiet;    /* refusals since, not logged */
};

/* ---- I/O of one session ---- */

enum io_result { IO_OK = 1, IO_EOF = 0, IO_FAIL = -1, IO_TIMEOUT = -2, IO_STOP = -3 };

struct io {
	struct smtp_front *f;
	struct smtp_conn *c;
	struct smtp_session *s;
	int fd;
	SSL *ssl;
	/* deadlines in mono ms; see deadline() */
	int64_t session_end;  /* smtp_session_max from the connection */
	int64_t cmd_deadline; /* the next command line: smtp_timeout from the last reply */
	int64_t txn_deadline; /* DATA: smtp_txn_timeout from the greeting or the last message */
	int64_t data_start;   /* when 354 was given */
	int64_t data_bytes;   /* read since */
	int in_data;          /* 354 given, the message not yet answered */
	size_t olen;
	char out[SMTP_OUT_SIZE];
};

/* When the client's time runs out for what the session waits for now, and which limit
 * that is. Only what counts as progress moves a deadline, so a client cannot hold a
 * session by trickling: a command line must be whole within smtp_timeout of the last
 * reply, however its bytes come; DATA must begin within smtp_txn_timeout of the greeting
 * or the last message, however many commands come; message text must average
 * smtp_data_min_rate after smtp_data_grace (and no gap may last smtp_timeout); and all of
 * it within smtp_session_max. Writes of replies to a client that does not read run
 * against the same deadline. */
static int64_t deadline(const struct io *io, enum smtp_end *why)
{
	const struct config *cfg = io->f->cfg;
	int64_t d = io->session_end, t;

	*why = SMTP_END_SESSION_TIME;
	if (io->in_data) {
		t = mono_ms() + cfg->smtp_timeout * 1000LL;
		if (t < d) {
			d = t;
			*why = SMTP_END_TIMEOUT;
		}
		if (cfg->smtp_data_min_rate > 0) {
			t = io->data_start + cfg->smtp_data_grace * 1000LL +
			    io->data_bytes * 1000 / cfg->smtp_data_min_rate;
			if (t < d) {
				d = t;
				*why = SMTP_END_DATA_SLOW;
			}
		}
		return d;
	}
	if (io->cmd_deadline < d) {
		d = io->cmd_deadline;
		*why = SMTP_END_TIMEOUT;
	}
	if (io->txn_deadline < d) {
		d = io->txn_deadline;
		*why = SMTP_END_TXN_TIME;
	}
	return d;
}

/* Waits until fd is ready for ev, deadline (mono ms) passes or (watch_stop) smtp_stop. */
static enum io_result wait_fd(struct io *io, short ev, int64_t deadline, int watch_stop)
{
	struct pollfd p[2] = {{io->fd, ev, 0}, {io->f->stop_fd, POLLIN, 0}};

	for (;;) {
		int64_t left = deadline - mono_ms();
		int rc;
		if (left <= 0)
			return IO_TIMEOUT;
		rc = poll(p, watch_stop ? 2 : 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return IO_FAIL;
		if (rc == 0)
			continue;
		if (watch_stop && p[1].revents)
			return IO_STOP;
		if (p[0].revents)
			return IO_OK;
	}
}

static enum io_result io_write(struct io *io, const char *p, size_t n, int64_t deadline,
                               int watch_stop)
{
	while (n > 0) {
		enum io_result w;
		if (io->ssl) {
			int k, err;
			ERR_clear_error();
			k = SSL_write(io->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
			if (k > 0) {
				p += k;
				n -= (size_t)k;
				continue;
			}
			err = SSL_get_error(io->ssl, k);
			if (err == SSL_ERROR_WANT_WRITE)
				w = wait_fd(io, POLLOUT, deadline, watch_stop);
			else if (err == SSL_ERROR_WANT_READ)
				w = wait_fd(io, POLLIN, deadline, watch_stop);
			else
				return IO_FAIL;
		} else {
			ssize_t k = send(io->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k > 0) {
				p += k;
				n -= (size_t)k;
				continue;
			}
			if (k < 0 && errno == EINTR)
				continue;
			if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				return IO_FAIL;
			w = wait_fd(io, POLLOUT, deadline, watch_stop);
		}
		if (w != IO_OK)
			return w;
	}
	return IO_OK;
}

/* Sends the gathered replies. watch_stop = 0 for the last words of a session. */
static enum io_result out_flush(struct io *io, int watch_stop)
{
	enum smtp_end why;
	int64_t until = watch_stop ? deadline(io, &why) : mono_ms() + SMTP_LAST_MS;
	enum io_result rc = IO_OK;

	if (io->olen)
		rc = io_write(io, io->out, io->olen, until, watch_stop);
	io->olen = 0;
	return rc;
}

static enum io_result out_add(struct io *io, const struct smtp_reply *r)
{
	if (io->olen + r->len > sizeof(io->out)) {
		enum io_result rc = out_flush(io, 1);
		if (rc != IO_OK)
			return rc;
	}
	if (r->len > sizeof(io->out)) {
		enum smtp_end why;
		return io_write(io, r->text, r->len, deadline(io, &why), 1);
	}
	memcpy(io->out + io->olen, r->text, r->len);
	io->olen += r->len;
	return IO_OK;
}

/* Reads what is there into p (at most n), waiting until deadline. */
static ssize_t io_read(struct io *io, char *p, size_t n, int64_t deadline)
{
	for (;;) {
		enum io_result w;
		if (atomic_load(&io->f->stopping))
			return IO_STOP;
		if (io->ssl) {
			int k, err;
			ERR_clear_error();
			k = SSL_read(io->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
			if (k > 0)
				return k;
			err = SSL_get_error(io->ssl, k);
			if (err == SSL_ERROR_ZERO_RETURN)
				return IO_EOF;
			if (err == SSL_ERROR_WANT_READ)
				w = wait_fd(io, POLLIN, deadline, 1);
			else if (err == SSL_ERROR_WANT_WRITE)
				w = wait_fd(io, POLLOUT, deadline, 1);
			else
				return IO_FAIL;
		} else {
			ssize_t k = recv(io->fd, p, n, MSG_DONTWAIT);
			if (k >= 0)
				return k;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return IO_FAIL;
			w = wait_fd(io, POLLIN, deadline, 1);
		}
		if (w != IO_OK)
			return w;
	}
}

/* The server side of the STARTTLS handshake, bounded like a read. 0 or -1 (logged). */
static int tls_accept(struct io *io)
{
	enum smtp_end why;
	int64_t until = deadline(io, &why);

	io->ssl = SSL_new(io->f->ssl);
	if (!io->ssl || SSL_set_fd(io->ssl, io->fd) != 1)
		return -1;
	for (;;) {
		enum io_result w;
		int rc, err;
		ERR_clear_error();
		rc = SSL_accept(io->ssl);
		if (rc == 1)
			return 0;
		err = SSL_get_error(io->ssl, rc);
		if (err == SSL_ERROR_WANT_READ) {
			w = wait_fd(io, POLLIN, until, 1);
		} else if (err == SSL_ERROR_WANT_WRITE) {
			w = wait_fd(io, POLLOUT, until, 1);
		} else {
			char reason[256] = "connection closed";
			unsigned long code = ERR_peek_last_error();
			if (code)
				ERR_error_string_n(code, reason, sizeof(reason));
			log_info("smtp sid=%s msg=\"TLS handshake failed\" reason=\"%s\"",
			         smtp_session_id(io->s), reason);
			return -1;
		}
		if (w != IO_OK) {
			log_info("smtp sid=%s msg=\"TLS handshake failed\" reason=%s",
			         smtp_session_id(io->s), w == IO_TIMEOUT ? "timeout" : "stop");
			return -1;
		}
	}
}

/* The session stops counting towards smtp_max_sessions and smtp_per_ip_sessions. Done
 * before the last reply goes out: a client that reconnects as soon as it reads 221 (as
 * Postfix's smtp-source and a relay with 20 parallel sessions do) must not find its old
 * session still counted and get 421 "too many sessions from your address". */
static void conn_release(struct smtp_front *f, struct smtp_conn *c)
{
	pthread_mutex_lock(&f->mu);
	if (c->counted) {
		c->counted = 0;
		f->nsessions--;
	}
	pthread_mutex_unlock(&f->mu);
}

/* The session loop: replies out, input in, until the session or the client ends it. */
/* Moves the deadlines for a reply the session gave: 354 starts the clock of the message
 * text, its answer the clock of the next transaction, every other reply that of the next
 * command. */
static void progress(struct io *io, enum smtp_next next)
{
	const struct config *cfg = io->f->cfg;
	int64_t now = mono_ms();

	if (next == SMTP_NEXT_DATA && !io->in_data) {
		io->in_data = 1;
		io->data_start = now;
		io->data_bytes = 0;
		return;
	}
	if (io->in_data && smtp_session_state(io->s) != SMTP_ST_DATA) {
		io->in_data = 0;
		io->txn_deadline = now + cfg->smtp_txn_timeout * 1000LL;
	}
	io->cmd_deadline = now + cfg->smtp_timeout * 1000LL;
}

static void session_run(struct io *io)
{
	struct smtp_session *s = io->s;
	struct smtp_reply r;
	enum smtp_next next;
	int64_t now = mono_ms();

	io->cmd_deadline = now + io->f->cfg->smtp_timeout * 1000LL;
	io->txn_deadline = now + io->f->cfg->smtp_txn_timeout * 1000LL;
	smtp_session_greeting(s, &r);
	if (out_add(io, &r) != IO_OK)
		return;
	if (r.code != 220) { /* a fault rule refused the connection (emu.h) */
		out_flush(io, 1);
		return;
	}
	for (;;) {
		enum smtp_end why;
		int64_t until;
		char *room;
		size_t n;
		ssize_t got;

		next = smtp_session_step(s, &r);
		if (next != SMTP_NEXT_INPUT) {
			progress(io, next);
			if (r.len && out_add(io, &r) != IO_OK)
				return;
			if (next == SMTP_NEXT_CLOSE) {
				conn_release(io->f, io->c);
				out_flush(io, 0);
				return;
			}
			if (next == SMTP_NEXT_TLS) {
				if (out_flush(io, 1) != IO_OK || tls_accept(io) != 0)
					return;
				smtp_session_tls_on(s, SSL_get_version(io->ssl),
				                    SSL_get_cipher_name(io->ssl));
			}
			continue;
		}
		if (out_flush(io, 1) != IO_OK)
			return;
		n = smtp_session_room(s, &room);
		until = deadline(io, &why);
		got = io_read(io, room, n, until);
		if (got > 0) {
			if (io->in_data)
				io->data_bytes += got;
			smtp_session_filled(s, (size_t)got);
			continue;
		}
		if (got == IO_EOF || got == IO_FAIL)
			return;
		smtp_session_end(s, got == IO_STOP ? SMTP_END_SHUTDOWN : why, &r);
		conn_release(io->f, io->c);
		if (out_add(io, &r) == IO_OK)
			out_flush(io, 0);
		return;
	}
}

/* After a session: waits (under f->mu) up to SMTP_IDLE_MS for start_session to hand this
 * thread the next connection. 1 if it did, 0 if the thread ends. */
static int session_wait_next(struct smtp_front *f, struct smtp_conn *c)
{
	struct timespec until;

	if (f->nidle >= SMTP_SPARE || atomic_load(&f->stopping))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += SMTP_IDLE_MS / 1000;
	c->idle = 1;
	f->nidle++;
	while (c->idle && !atomic_load(&f->stopping))
		if (pthread_cond_timedwait(&c->cv, &f->mu, &until) == ETIMEDOUT)
			break;
	if (c->idle) { /* timed out or stopping: nothing was handed over */
		c->idle = 0;
		f->nidle--;
		return 0;
	}
	return 1;
}

/* One session on c->fd, then the connection closed. */
static void session_serve(struct smtp_conn *c)
{
	struct smtp_front *f = c->f;
	/* a node that started while its store was down says so until the store is open */
	struct mail *mail = f->mail ? f->mail
	                    : atomic_load_explicit(&f->srv->ready, memory_order_acquire)
	                            ? f->srv->mail
	                            : NULL;
	struct smtp_session_params p = {.cfg = f->cfg,
	                                .mail = mail,
	                                .emu = f->srv->emu,
	                                .client_ip = c->ip,
	                                .spool_dir = f->spool_dir,
	                                .spool_pool = f->spools,
	                                .gate = f->gate,
	                                .tls_available = f->ssl != NULL};
	struct io *io = calloc(1, sizeof(*io));
	struct err e = {0};
	int fd;

	if (io && !mail) {
		static const char wait[] = "421 4.3.2 service not ready (the store is not open "
		                           "yet), try again later\r\n";
		(void)!send(c->fd, wait, sizeof(wait) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(io);
		io = NULL;
		goto done;
	}
	if (io) {
		io->f = f;
		io->c = c;
		io->fd = c->fd;
		io->session_end = mono_ms() + f->cfg->smtp_session_max * 1000LL;
		io->s = smtp_session_new(&p, &e);
	}
	if (io && io->s) {
		session_run(io);
	} else {
		static const char busy[] = "421 4.3.0 out of memory, try again later\r\n";
		log_error("smtp msg=\"cannot start a session\" ip=%s", c->ip);
		(void)!send(c->fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	if (io) {
		if (io->ssl) {
			SSL_shutdown(io->ssl); /* non-blocking: best effort close_notify */
			SSL_free(io->ssl);
		}
		smtp_session_free(io->s);
		free(io);
	}
done:
	/* the slot is free before the client sees the connection close */
	conn_release(f, c);
	fd = c->fd;
	pthread_mutex_lock(&f->mu);
	c->fd = -1;
	pthread_mutex_unlock(&f->mu);
	close(fd);
}

static void *session_main(void *arg)
{
	struct smtp_conn *c = arg;
	struct smtp_front *f = c->f;
	int more;

	do {
		session_serve(c);
		pthread_mutex_lock(&f->mu);
		more = session_wait_next(f, c);
		if (!more)
			c->done = 1;
		pthread_mutex_unlock(&f->mu);
	} while (more);
	return NULL;
}

/* ---- the acceptor ---- */

static void addr_text(const struct sockaddr_storage *ss, char *dst, size_t size)
{
	snprintf(dst, size, "?");
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, dst,
		          (socklen_t)size);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], dst, (socklen_t)size);
		else
			inet_ntop(AF_INET6, a, dst, (socklen_t)size);
	}
}

static void refuse(struct smtp_front *f, int fd, const char *ip, int per_ip)
{
	struct smtp_reply r;
	int64_t now = mono_ms();
	int quiet = now - f->refuse_logged < 1000;

	smtp_reply_refuse(&r, f->cfg, ip, per_ip, quiet);
	if (quiet) {
		f->refused_quiet++;
	} else {
		if (f->refused_quiet)
			log_info("smtp msg=\"connections refused without a log line\" count=%ld",
			         f->refused_quiet);
		f->refused_quiet = 0;
		f->refuse_logged = now;
	}
	(void)!send(fd, r.text, r.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* Joins the threads of sessions that have ended. */
static void reap(struct smtp_front *f)
{
	struct smtp_conn *done = NULL, **pp;

	pthread_mutex_lock(&f->mu);
	for (pp = &f->conns; *pp;) {
		struct smtp_conn *c = *pp;
		if (c->done) {
			*pp = c->next;
			c->next = done;
			done = c;
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&f->mu);
	while (done) {
		struct smtp_conn *c = done;
		done = c->next;
		pthread_join(c->thread, NULL);
		pthread_cond_destroy(&c->cv);
		free(c);
	}
}

static int cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc;

	if (pthread_condattr_init(&a) != 0)
		return -1;
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return rc;
}

static void start_session(struct smtp_front *f, int fd, const struct sockaddr_storage *ss)
{
	const struct config *cfg = f->cfg;
	struct smtp_conn *c;
	pthread_attr_t attr;
	char ip[64];
	int same = 0, rc;

	addr_text(ss, ip, sizeof(ip));
	pthread_mutex_lock(&f->mu);
	if (f->nsessions >= cfg->smtp_max_sessions) {
		pthread_mutex_unlock(&f->mu);
		refuse(f, fd, ip, 0);
		return;
	}
	for (c = f->conns; c && cfg->smtp_per_ip_sessions > 0; c = c->next)
		same += c->counted && !strcmp(c->ip, ip);
	if (cfg->smtp_per_ip_sessions > 0 && same >= cfg->smtp_per_ip_sessions) {
		pthread_mutex_unlock(&f->mu);
		refuse(f, fd, ip, 1);
		return;
	}
	/* a thread waiting for work, if there is one */
	for (c = f->conns; c && f->nidle > 0; c = c->next) {
		if (!c->idle)
			continue;
		c->idle = 0;
		f->nidle--;
		c->fd = fd;
		c->counted = 1;
		snprintf(c->ip, sizeof(c->ip), "%s", ip);
		f->nsessions++;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&f->mu);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || cond_init_mono(&c->cv) != 0) {
		pthread_mutex_unlock(&f->mu);
		free(c);
		close(fd);
		return;
	}
	c->f = f;
	c->fd = fd;
	c->counted = 1;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SMTP_STACK);
	rc = pthread_create(&c->thread, &attr, session_main, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_mutex_unlock(&f->mu);
		log_error("smtp msg=\"cannot start a session thread\" error=\"%s\"", strerror(rc));
		pthread_cond_destroy(&c->cv);
		free(c);
		close(fd);
		return;
	}
	c->next = f->conns;
	f->conns = c;
	f->nsessions++;
	pthread_mutex_unlock(&f->mu);
}

static void *acceptor_main(void *arg)
{
	struct smtp_front *f = arg;
	struct pollfd p[2] = {{f->lfd, POLLIN, 0}, {f->quiesce_fd, POLLIN, 0}};

	/* the session threads started from here inherit it */
	mail_thread_nice(f->cfg);
	for (;;) {
		int rc = poll(p, 2, 1000);
		reap(f);
		if (rc < 0 && errno != EINTR) {
			log_error("smtp msg=\"poll failed\" error=\"%s\"", strerror(errno));
			usleep(100000);
			continue;
		}
		if (rc > 0 && p[1].revents)
			return NULL;
		if (rc <= 0 || !p[0].revents)
			continue;
		for (;;) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			int fd = accept4(f->lfd, (struct sockaddr *)&ss, &len,
			                 SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd >= 0) {
				start_session(f, fd, &ss);
				continue;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("smtp msg=\"cannot accept\" error=\"%s\"",
				         strerror(errno));
				usleep(100000); /* the backlog waits; do not spin */
			}
			break;
		}
	}
}

/* ---- start and stop ---- */

/* The STARTTLS context from tls_cert (a chain) and tls_key, TLS 1.2 and later. */
static SSL_CTX *tls_context(const struct config *cfg, struct err *e)
{
	char *cert = NULL, *key = NULL;
	SSL_CTX *ctx = NULL;
	BIO *b = NULL;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	char why[256] = "no certificate";
	unsigned long code;

	if (devca_load_pem(cfg->tls_cert, &cert, NULL, e) != 0 ||
	    devca_load_pem(cfg->tls_key, &key, NULL, e) != 0)
		goto out;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (!(b = BIO_new_mem_buf(cert, -1)) || !(x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL)) ||
	    SSL_CTX_use_certificate(ctx, x) != 1)
		goto fail;
	X509_free(x);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
			goto fail;
	x = NULL;
	ERR_clear_error(); /* the end of the chain */
	BIO_free(b);
	if (!(b = BIO_new_mem_buf(key, -1)) ||
	    !(pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	goto out;
fail:
	if ((code = ERR_peek_last_error()) != 0)
		ERR_error_string_n(code, why, sizeof(why));
	err_set(e, MC_ERR_CRYPTO, "cannot use tls_cert '%s' and tls_key '%s' for STARTTLS: %s",
	        cfg->tls_cert, cfg->tls_key, why);
	SSL_CTX_free(ctx);
	ctx = NULL;
out:
	X509_free(x);
	EVP_PKEY_free(pk);
	BIO_free(b);
	devca_pem_free(cert);
	devca_pem_free(key);
	return ctx;
}

struct smtp_front *smtp_start(struct server *srv, struct mail *mail, struct err *e)
{
	const struct config *cfg = srv->cfg;
	struct smtp_front *f;
	int rc;

	if (!*cfg->smtp_listen) {
		err_set(e, MC_ERR_INVALID, "smtp_listen is not set");
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	f->cfg = cfg;
	f->srv = srv;
	f->mail = mail;
	f->lfd = f->quiesce_fd = f->stop_fd = -1;
	/* Process-wide, set here because the mail side is what makes large short-lived
	 * buffers: a message is read into memory at its final dot (smtp_accept_memory bounds
	 * how many at once). glibc raises its mmap threshold to the size of each large block
	 * freed, after which such blocks come from the session thread's arena and stay in it:
	 * 12 sessions accepting 4 MiB messages one after the other kept 135 MiB resident
	 * (tests/e2e/test_hostile_smtp.py). A fixed threshold gives each one back on free. */
	mallopt(M_MMAP_THRESHOLD, SMTP_MMAP_THRESHOLD);
	pthread_mutex_init(&f->mu, NULL);
	if (snprintf(f->spool_dir, sizeof(f->spool_dir), "%s/spool", cfg->data_dir) >=
	    (int)sizeof(f->spool_dir)) {
		err_set(e, MC_ERR_INVALID, "data_dir '%s' is too long", cfg->data_dir);
		goto fail;
	}
	if (mkdir(f->spool_dir, 0700) != 0 && errno != EEXIST) {
		err_set(e, MC_ERR_IO, "cannot create the spool directory '%s': %s", f->spool_dir,
		        strerror(errno));
		goto fail;
	}
	f->spools = smtp_spool_pool_new(f->spool_dir, cfg->smtp_max_sessions < SMTP_SPOOLS
	                                                      ? cfg->smtp_max_sessions
	                                                      : SMTP_SPOOLS);
	f->gate = smtp_gate_new(cfg->smtp_accept_memory);
	if (!f->spools || !f->gate) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (*cfg->tls_cert && !(f->ssl = tls_context(cfg, e)))
		goto fail;
	if ((f->lfd = listen_open(cfg->smtp_listen, &f->port, e)) < 0)
		goto fail;
	f->quiesce_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->quiesce_fd < 0 || f->stop_fd < 0) {
		err_set(e, MC_ERR_IO, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((rc = pthread_create(&f->acceptor, NULL, acceptor_main, f)) != 0) {
		err_set(e, MC_ERR_IO, "cannot start the SMTP acceptor: %s", strerror(rc));
		goto fail;
	}
	f->acceptor_running = 1;
	log_info("smtp msg=listening addr=%s port=%u starttls=%s", cfg->smtp_listen, f->port,
	         f->ssl ? "on" : "off");
	return f;
fail:
	smtp_stop(f);
	return NULL;
}

unsigned smtp_port(const struct smtp_front *f)
{
	return f->port;
}

static void poke(int fd)
{
	uint64_t one = 1;
	(void)!write(fd, &one, sizeof(one));
}

void smtp_quiesce(struct smtp_front *f)
{
	if (!f)
		return;
	if (f->acceptor_running) {
		poke(f->quiesce_fd);
		pthread_join(f->acceptor, NULL);
		f->acceptor_running = 0;
	}
	if (f->lfd >= 0)
		close(f->lfd);
	f->lfd = -1;
}

void smtp_stop(struct smtp_front *f)
{
	struct smtp_conn *c;

	if (!f)
		return;
	smtp_quiesce(f);
	atomic_store(&f->stopping, 1);
	if (f->stop_fd >= 0)
		poke(f->stop_fd);
	smtp_gate_close(f->gate);
	pthread_mutex_lock(&f->mu);
	for (c = f->conns; c; c = c->next)
		pthread_cond_signal(&c->cv); /* idle threads end */
	c = f->conns;
	f->conns = NULL;
	pthread_mutex_unlock(&f->mu);
	while (c) {
		struct smtp_conn *next = c->next;
		pthread_join(c->thread, NULL);
		pthread_cond_destroy(&c->cv);
		free(c);
		c = next;
	}
	if (f->quiesce_fd >= 0)
		close(f->quiesce_fd);
	if (f->stop_fd >= 0)
		close(f->stop_fd);
	SSL_CTX_free(f->ssl);
	smtp_spool_pool_free(f->spools);
	smtp_gate_free(f->gate);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
