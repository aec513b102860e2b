/* The SMTP front's driver (smtp/smtp.c) on loopback sockets, with the pipeline double of
 * mail_double.h: greeting, a pipelined transaction in one write, the session limits in all
 * and per client IP (421 4.7.0), the deadlines (421 4.4.2: a command line, DATA within
 * smtp_txn_timeout, a minimum rate of message text, the whole session), STARTTLS
 * with an OpenSSL client (TLS 1.2+, the STARTTLS injection defence, the session reset, the
 * TLS facts handed to the pipeline), smtp_quiesce (no new connections), smtp_stop (421 4.3.2
 * to a waiting session, every thread joined), a port in use and an unusable certificate. */
#include "server/config.h"
#include "server/server.h"
#include "server/smtp/smtp.h"
#include "server/tls/devca.h"
#include "common/err.h"
#include "common/log.h"
#include "mail_double.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char data_dir[256];
static struct mail the_mail;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void base_config(struct config *cfg)
{
	config_defaults(cfg);
	snprintf(cfg->smtp_hostname, sizeof(cfg->smtp_hostname), "mx.test");
	snprintf(cfg->smtp_listen, sizeof(cfg->smtp_listen), "127.0.0.1:0");
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", data_dir);
	cfg->smtp_timeout = 5;
}

static struct smtp_front *start(struct server *srv, struct config *cfg, struct err *e)
{
	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	return smtp_start(srv, &the_mail, e);
}

static int dial(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void say(int fd, const char *s)
{
	(void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

/* Reads until buf holds want (or EOF, or 5 s without a byte); returns buf. */
static const char *hear(int fd, char *buf, size_t size, const char *want)
{
	size_t n = 0;
	buf[0] = '\0';
	while (n + 1 < size && !strstr(buf, want)) {
		ssize_t k = recv(fd, buf + n, size - n - 1, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
		buf[n] = '\0';
	}
	return buf;
}

/* 1 if the server closes the connection (or resets it) within 5 s, whatever it says
 * first. */
static int closes(int fd)
{
	char b[512];
	for (;;) {
		ssize_t k = recv(fd, b, sizeof(b), 0);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return 1;
		if (k < 0)
			return 0;
	}
}

static void test_session_over_tcp(void)
{
	struct config cfg;
	struct server srv;
	struct err e = {0};
	struct smtp_front *f;
	char buf[4096];
	int fd;

	base_config(&cfg);
	mail_double_reset();
	f = start(&srv, &cfg, &e);
	CHECK(f != NULL);
	if (!f) {
		printf("# %s\n", e.msg);
		return;
	}
	CHECK(smtp_port(f) > 0);
	fd = dial(smtp_port(f));
	CHECK_STR(hear(fd, buf, sizeof(buf), "\r\n"), "220 mx.test ESMTP mcapid\r\n");
	say(fd, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	hear(fd, buf, sizeof(buf), "354 ");
	CHECK(strstr(buf, "250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 ") !=
	      NULL);
	CHECK(strstr(buf, "STARTTLS") == NULL); /* no certificate configured */
	say(fd, "Subject: t\r\n\r\n..x\r\n.\r\nQUIT\r\n");
	hear(fd, buf, sizeof(buf), "221 ");
	CHECK_STR(buf, "250 2.0.0 Ok: queued as 1\r\n221 2.0.0 Bye\r\n");
	CHECK(closes(fd));
	close(fd);
	smtp_stop(f); /* joins the session thread: what it did is visible now */
	CHECK_INT(mail_double.accepts, 1);
	CHECK(mail_double.body && strstr(mail_double.body, "Subject: t\r\n\r\n.x\r\n") != NULL);
	CHECK_STR(mail_double.last.client_ip, "127.0.0.1");
}

static void test_limits(void)
{
	struct config cfg;
	struct server srv;
	struct err e = {0};
	struct smtp_front *f;
	char buf[1024];
	int a, b, c;

	/* two sessions in all */
	base_config(&cfg);
	cfg.smtp_max_sessions = 2;
	f = start(&srv, &cfg, &e);
	a = dial(smtp_port(f));
	b = dial(smtp_port(f));
	CHECK(!strncmp(hear(a, buf, sizeof(buf), "\r\n"), "220 ", 4));
	CHECK(!strncmp(hear(b, buf, sizeof(buf), "\r\n"), "220 ", 4));
	c = dial(smtp_port(f));
	CHECK_STR(hear(c, buf, sizeof(buf), "\r\n"),
	          "421 4.7.0 mx.test too many sessions, try again later\r\n");
	CHECK(closes(c));
	close(c);
	/* a session that ends makes room */
	say(a, "QUIT\r\n");
	CHECK(closes(a));
	close(a);
	usleep(100000);
	c = dial(smtp_port(f));
	CHECK(!strncmp(hear(c, buf, sizeof(buf), "\r\n"), "220 ", 4));
	close(b);
	close(c);
	smtp_stop(f);

	/* one per client address */
	base_config(&cfg);
	cfg.smtp_per_ip_sessions = 1;
	f = start(&srv, &cfg, &e);
	a = dial(smtp_port(f));
	CHECK(!strncmp(hear(a, buf, sizeof(buf), "\r\n"), "220 ", 4));
	b = dial(smtp_port(f));
	CHECK_STR(hear(b, buf, sizeof(buf), "\r\n"),
	          "421 4.7.0 mx.test too many sessions from your address, try again later\r\n");
	close(b);
	say(a, "QUIT\r\n");
	CHECK(!strncmp(hear(a, buf, sizeof(buf), "\r\n"), "221 ", 4));
	close(a);
	/* the slot is free once the 221 is read: a client that reconnects at once is welcome,
	 * however slow the old session's thread is to end */
	{
		int refused = 0;
		for (int i = 0; i < 300; i++) {
			a = dial(smtp_port(f));
			if (strncmp(hear(a, buf, sizeof(buf), "\r\n"), "220 ", 4) != 0) {
				refused++;
				close(a);
				continue;
			}
			say(a, "QUIT\r\n");
			if (strncmp(hear(a, buf, sizeof(buf), "\r\n"), "221 ", 4) != 0)
				refused++;
			close(a);
		}
		CHECK_INT(refused, 0);
	}
	smtp_stop(f);
}

static void test_deadlines(void)
{
	struct config cfg;
	struct server srv;
	struct err e = {0};
	struct smtp_front *f;
	char buf[1024];
	double t0;
	int fd;

	/* idle */
	base_config(&cfg);
	cfg.smtp_timeout = 1;
	f = start(&srv, &cfg, &e);
	fd = dial(smtp_port(f));
	hear(fd, buf, sizeof(buf), "\r\n");
	t0 = now_s();
	CHECK_STR(hear(fd, buf, sizeof(buf), "\r\n"),
	          "421 4.4.2 mx.test timeout, closing connection\r\n");
	CHECK(now_s() - t0 > 0.8 && now_s() - t0 < 3);
	CHECK(closes(fd));
	close(fd);
	/* idle in the middle of DATA too */
	fd = dial(smtp_port(f));
	say(fd, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\npart of it\r\n");
	CHECK(strstr(hear(fd, buf, sizeof(buf), "421 "), "354 End data") != NULL);
	CHECK(strstr(buf, "421 4.4.2 mx.test timeout, closing connection\r\n") != NULL);
	close(fd);
	smtp_stop(f);

	/* a whole session, however busy */
	base_config(&cfg);
	cfg.smtp_timeout = 1;
	cfg.smtp_session_max = 2;
	f = start(&srv, &cfg, &e);
	fd = dial(smtp_port(f));
	t0 = now_s();
	hear(fd, buf, sizeof(buf), "\r\n");
	for (int i = 0; i < 12; i++) {
		say(fd, "NOOP\r\n");
		hear(fd, buf, sizeof(buf), "\r\n");
		/* on a busy machine the 421 can come in the same read as the last 250 */
		if (strncmp(buf, "250 ", 4) != 0 || strstr(buf, "421 "))
			break;
		usleep(300000);
	}
	CHECK(strstr(buf, "421 4.4.2 mx.test session too long, closing connection\r\n") != NULL);
	CHECK(now_s() - t0 > 1.8 && now_s() - t0 < 4);
	close(fd);
	smtp_stop(f);

	/* deadlines that trickling does not move */
	base_config(&cfg);
	cfg.smtp_timeout = 1;
	cfg.smtp_txn_timeout = 2;
	cfg.smtp_data_grace = 1;
	cfg.smtp_data_min_rate = 1000;
	f = start(&srv, &cfg, &e);
	/* a command line a byte every 0.2 s: smtp_timeout counts from the reply */
	fd = dial(smtp_port(f));
	hear(fd, buf, sizeof(buf), "\r\n");
	t0 = now_s();
	for (int i = 0; i < 15; i++) {
		struct timeval tv = {.tv_usec = 200000};
		ssize_t n;
		say(fd, "x");
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			break;
		}
	}
	CHECK_STR(buf, "421 4.4.2 mx.test timeout, closing connection\r\n");
	CHECK(now_s() - t0 > 0.8 && now_s() - t0 < 2);
	close(fd);
	/* NOOPs inside smtp_timeout, no DATA: smtp_txn_timeout */
	fd = dial(smtp_port(f));
	hear(fd, buf, sizeof(buf), "\r\n");
	t0 = now_s();
	for (int i = 0; i < 12; i++) {
		say(fd, "NOOP\r\n");
		hear(fd, buf, sizeof(buf), "\r\n");
		if (strncmp(buf, "250 ", 4) != 0 || strstr(buf, "421 "))
			break;
		usleep(400000);
	}
	CHECK(strstr(buf, "421 4.4.2 mx.test no message within the time allowed, closing "
	                  "connection\r\n") != NULL);
	CHECK(now_s() - t0 > 1.8 && now_s() - t0 < 3.5);
	close(fd);
	/* message text at 50 bytes/s: cut after the grace; the message is not accepted */
	mail_double_reset();
	fd = dial(smtp_port(f));
	say(fd, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	hear(fd, buf, sizeof(buf), "<CR><LF>.<CR><LF>\r\n");
	t0 = now_s();
	for (int i = 0; i < 20; i++) {
		struct timeval tv = {.tv_usec = 200000};
		ssize_t n;
		say(fd, "0123456789");
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			break;
		}
	}
	CHECK_STR(buf, "421 4.4.2 mx.test message text too slow, closing connection\r\n");
	CHECK(now_s() - t0 > 0.8 && now_s() - t0 < 2);
	close(fd);
	/* at speed the text passes, and its answer starts the clock of the next transaction
	 * again: a second message 3.3 s after the greeting (smtp_txn_timeout 2 s) is taken */
	fd = dial(smtp_port(f));
	hear(fd, buf, sizeof(buf), "\r\n");
	usleep(900000);
	say(fd, "EHLO c\r\n");
	hear(fd, buf, sizeof(buf), "250 ENHANCEDSTATUSCODES\r\n");
	usleep(900000);
	say(fd, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n0123456789\r\n.\r\n");
	CHECK(strstr(hear(fd, buf, sizeof(buf), "Ok: queued"), "250 2.0.0 Ok: queued") != NULL);
	usleep(900000);
	say(fd, "MAIL FROM:<a@b.test>\r\n");
	hear(fd, buf, sizeof(buf), "\r\n");
	usleep(600000);
	say(fd, "RCPT TO:<c@d.test>\r\nDATA\r\nx\r\n.\r\n");
	CHECK(strstr(hear(fd, buf, sizeof(buf), "Ok: queued"), "250 2.0.0 Ok: queued") != NULL);
	close(fd);
	smtp_stop(f);
	pthread_mutex_lock(&mail_double_mu);
	CHECK_INT(mail_double.accepts, 2);
	pthread_mutex_unlock(&mail_double_mu);
}

/* A blocking TLS client on fd. */
static SSL *tls_client(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set1_host(ssl, "localhost");
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

static const char *tls_hear(SSL *ssl, char *buf, size_t size, const char *want)
{
	size_t n = 0;
	buf[0] = '\0';
	while (n + 1 < size && !strstr(buf, want)) {
		int k = SSL_read(ssl, buf + n, (int)(size - n - 1));
		if (k <= 0)
			break;
		n += (size_t)k;
		buf[n] = '\0';
	}
	return buf;
}

static void tls_say(SSL *ssl, const char *s)
{
	SSL_write(ssl, s, (int)strlen(s));
}

static void test_starttls(void)
{
	const char *names[] = {"localhost", "127.0.0.1"};
	char dir[300], buf[4096];
	struct devca_paths dp;
	struct config cfg;
	struct server srv;
	struct err e = {0};
	struct smtp_front *f;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;

	snprintf(dir, sizeof(dir), "%s/tls", data_dir);
	if (devca_ensure(dir, names, 2, &dp, &e) != 0) {
		printf("# devca: %s\n", e.msg);
		CHECK(0);
		return;
	}
	base_config(&cfg);
	copy(cfg.tls_cert, sizeof(cfg.tls_cert), dp.server_cert);
	copy(cfg.tls_key, sizeof(cfg.tls_key), dp.server_key);
	mail_double_reset();
	f = start(&srv, &cfg, &e);
	CHECK(f != NULL);
	if (!f) {
		printf("# %s\n", e.msg);
		return;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_load_verify_locations(ctx, dp.ca_cert, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

	fd = dial(smtp_port(f));
	hear(fd, buf, sizeof(buf), "\r\n");
	say(fd, "EHLO c\r\n");
	CHECK(strstr(hear(fd, buf, sizeof(buf), "250 "), "250 STARTTLS\r\n") != NULL);
	/* a command pipelined after STARTTLS in clear text is never answered */
	say(fd, "STARTTLS\r\nMAIL FROM:<injected@x.test>\r\n");
	CHECK_STR(hear(fd, buf, sizeof(buf), "\r\n"), "220 2.0.0 ready to start TLS\r\n");
	ssl = tls_client(ctx, fd);
	CHECK(ssl != NULL);
	if (ssl) {
		tls_say(ssl, "EHLO c2\r\n");
		tls_hear(ssl, buf, sizeof(buf), "250 ");
		CHECK(!strncmp(buf, "250-mx.test\r\n", 13));
		CHECK(strstr(buf, "STARTTLS") == NULL);
		tls_say(ssl, "STARTTLS\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
		tls_hear(ssl, buf, sizeof(buf), "354 ");
		CHECK(!strncmp(buf, "503 5.5.1 TLS already active\r\n250 2.1.0 Ok\r\n", 44));
		tls_say(ssl, "secret\r\n.\r\nQUIT\r\n");
		CHECK(strstr(tls_hear(ssl, buf, sizeof(buf), "221 "),
		             "250 2.0.0 Ok: queued as 1") != NULL);
		SSL_free(ssl);
	}
	close(fd);

	/* TLS 1.1 is refused */
	fd = dial(smtp_port(f));
	hear(fd, buf, sizeof(buf), "\r\n");
	say(fd, "STARTTLS\r\n");
	hear(fd, buf, sizeof(buf), "\r\n");
	{
		SSL_CTX *old = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_security_level(old, 0);
		SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
		SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
		ssl = tls_client(old, fd);
		CHECK(ssl == NULL);
		SSL_free(ssl);
		SSL_CTX_free(old);
	}
	close(fd);
	/* cleartext after STARTTLS is no handshake: the session ends */
	fd = dial(smtp_port(f));
	hear(fd, buf, sizeof(buf), "\r\n");
	say(fd, "STARTTLS\r\n");
	hear(fd, buf, sizeof(buf), "\r\n");
	say(fd, "EHLO plain\r\n");
	CHECK(closes(fd));
	close(fd);
	smtp_stop(f);
	SSL_CTX_free(ctx);
	CHECK_INT(mail_double.accepts, 1);
	CHECK(!strncmp(mail_double.last.tls_version, "TLSv1.", 6));
	CHECK(mail_double.last.tls_cipher[0] != '\0');
	CHECK_STR(mail_double.last.helo, "c2");
	CHECK(mail_double.body && strstr(mail_double.body, " with ESMTPS id ") != NULL);

	/* an unusable certificate is an error at start */
	base_config(&cfg);
	copy(cfg.tls_cert, sizeof(cfg.tls_cert), dp.ca_key);
	copy(cfg.tls_key, sizeof(cfg.tls_key), dp.server_key);
	f = start(&srv, &cfg, &e);
	CHECK(f == NULL);
	CHECK(strstr(e.msg, "for STARTTLS") != NULL);
	snprintf(cfg.tls_cert, sizeof(cfg.tls_cert), "%s/missing.pem", data_dir);
	f = start(&srv, &cfg, &e);
	CHECK(f == NULL);
	CHECK(strstr(e.msg, "missing.pem") != NULL);
}

static void test_quiesce_and_stop(void)
{
	struct config cfg, cfg2;
	struct server srv, srv2;
	struct err e = {0};
	struct smtp_front *f, *g;
	char buf[1024];
	double t0;
	int fd, other;

	base_config(&cfg);
	cfg.smtp_timeout = 60;
	f = start(&srv, &cfg, &e);
	/* the same port again is an error, never shared */
	base_config(&cfg2);
	snprintf(cfg2.smtp_listen, sizeof(cfg2.smtp_listen), "127.0.0.1:%u", smtp_port(f));
	g = start(&srv2, &cfg2, &e);
	CHECK(g == NULL);
	CHECK(strstr(e.msg, "in use") != NULL);

	fd = dial(smtp_port(f));
	hear(fd, buf, sizeof(buf), "\r\n");
	say(fd, "EHLO c\r\n");
	hear(fd, buf, sizeof(buf), "250 ");
	smtp_quiesce(f);
	other = dial(smtp_port(f));
	CHECK(other < 0);
	if (other >= 0)
		close(other);
	/* the session goes on */
	say(fd, "NOOP\r\n");
	CHECK_STR(hear(fd, buf, sizeof(buf), "\r\n"), "250 2.0.0 Ok\r\n");
	t0 = now_s();
	smtp_stop(f);
	CHECK(now_s() - t0 < 2);
	CHECK_STR(hear(fd, buf, sizeof(buf), "\r\n"),
	          "421 4.3.2 mx.test shutting down, try again later\r\n");
	CHECK(closes(fd));
	close(fd);
	smtp_stop(NULL);
	smtp_quiesce(NULL);

	/* not configured */
	base_config(&cfg);
	cfg.smtp_listen[0] = '\0';
	CHECK(start(&srv, &cfg, &e) == NULL);
}

static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* A session's thread waits for the next connection instead of ending: sessions one after
 * another run on the same thread (and the process does not grow), each still a fresh
 * session, and smtp_stop ends the waiting thread. */
static void test_thread_reuse(void)
{
	struct config cfg;
	struct server srv;
	struct err e = {0};
	struct smtp_front *f;
	char buf[4096];
	pid_t first = 0;
	int before = 0, same = 0;

	base_config(&cfg);
	mail_double_reset();
	f = start(&srv, &cfg, &e);
	CHECK(f != NULL);
	if (!f)
		return;
	for (int i = 0; i < 10; i++) {
		int fd = dial(smtp_port(f));
		CHECK_STR(hear(fd, buf, sizeof(buf), "\r\n"), "220 mx.test ESMTP mcapid\r\n");
		say(fd, "MAIL FROM:<a@b.test>\r\n"); /* no EHLO in this session yet */
		CHECK(strstr(hear(fd, buf, sizeof(buf), "\r\n"), "503 ") == buf);
		say(fd, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
		hear(fd, buf, sizeof(buf), "354 ");
		say(fd, "Subject: t\r\n\r\nx\r\n.\r\nQUIT\r\n");
		CHECK(strstr(hear(fd, buf, sizeof(buf), "221 "), "250 2.0.0 Ok") != NULL);
		CHECK(closes(fd));
		close(fd);
		usleep(20000); /* the thread is back waiting before the next connection */
		if (i == 0) {
			before = threads_now();
			first = mail_double.tid;
		}
		same += mail_double.tid == first;
	}
	CHECK_INT(same, 10);
	CHECK_INT(threads_now(), before);
	smtp_stop(f); /* returns: the waiting thread ends */
	CHECK_INT(mail_double.accepts, 10);
}

int main(void)
{
	char tmpl[] = "/tmp/smtp-front-XXXXXX";

	signal(SIGPIPE, SIG_IGN);
	log_set_level("error");
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(data_dir, sizeof(data_dir), "%s", tmpl);
	test_session_over_tcp();
	test_limits();
	test_deadlines();
	test_starttls();
	test_quiesce_and_stop();
	test_thread_reuse();
	mail_double_reset();
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
		(void)!system(cmd);
	}
	return tap_done();
}
