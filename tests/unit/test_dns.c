/* Unit tests for the asynchronous TXT resolver against real DNS servers on 127.0.0.1, no mocks:
 * a dnsmasq started here (single, several, split, long and empty records, NXDOMAIN, NODATA,
 * REFUSED), an unbound that serves answers needing TCP and forwards everything else to that
 * dnsmasq, turning its refusals into SERVFAIL, UDP sockets that never answer (timeouts, shutdown
 * with lookups in flight) and a port where nothing listens (connection refused). A server that
 * cannot be started fails the test. */
#include "server/dns/dns.h"
#include "common/err.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DNSMASQ  "/usr/sbin/dnsmasq"
#define UNBOUND  "/usr/sbin/unbound"
#define MAX_RECS 16
#define WAIT_MS  10000

static char tmpdir[] = "/tmp/test_dns.XXXXXX";
static pthread_t main_thread;

struct waiter {
	pthread_mutex_t m;
	pthread_cond_t c;
	int done;
};

struct lookup {
	struct waiter *w;
	int calls;
	enum dns_status status;
	size_t count;
	char *rec[MAX_RECS];
	size_t len[MAX_RECS];
	int on_main; /* the callback ran on the submitting thread */
	int64_t at;  /* when the callback ran */
	/* for chained lookups: started from the callback */
	struct dns *d;
	const char *next_name;
	struct lookup *next;
	int next_rc;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void waiter_init(struct waiter *w)
{
	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->c, NULL);
	w->done = 0;
}

static void waiter_release(struct waiter *w)
{
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->c);
}

/* Waits until n callbacks have run or ms passed; returns the number that ran. */
static int waiter_wait(struct waiter *w, int n, int ms)
{
	struct timespec ts;
	int done;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->m);
	while (w->done < n)
		if (pthread_cond_timedwait(&w->c, &w->m, &ts) == ETIMEDOUT)
			break;
	done = w->done;
	pthread_mutex_unlock(&w->m);
	return done;
}

static void lookup_init(struct lookup *l, struct waiter *w)
{
	memset(l, 0, sizeof(*l));
	l->w = w;
	l->status = (enum dns_status) - 1;
}

static void lookup_release(struct lookup *l)
{
	size_t i;

	for (i = 0; i < MAX_RECS; i++)
		free(l->rec[i]);
	memset(l->rec, 0, sizeof(l->rec));
}

static void on_txt(void *arg, const struct dns_txt_result *res)
{
	struct lookup *l = arg;
	size_t i;

	pthread_mutex_lock(&l->w->m);
	l->calls++;
	l->status = res->status;
	l->count = res->count;
	l->on_main = pthread_equal(pthread_self(), main_thread);
	l->at = now_ms();
	for (i = 0; i < res->count && i < MAX_RECS; i++) {
		free(l->rec[i]);
		l->rec[i] = malloc(res->lengths[i] + 1);
		if (l->rec[i]) {
			memcpy(l->rec[i], res->records[i], res->lengths[i] + 1);
			l->len[i] = res->lengths[i];
		}
	}
	if (l->next_name)
		l->next_rc = dns_txt_lookup(l->d, l->next_name, on_txt, l->next);
	l->w->done++;
	pthread_cond_broadcast(&l->w->c);
	pthread_mutex_unlock(&l->w->m);
}

static int has_rec(const struct lookup *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->count && i < MAX_RECS; i++)
		if (l->rec[i] && l->len[i] == strlen(s) && memcmp(l->rec[i], s, l->len[i]) == 0)
			return 1;
	return 0;
}

/* Looks name up and waits for the answer; l holds it afterwards. */
static int resolve(struct dns *d, const char *name, struct lookup *l)
{
	struct waiter w;
	int rc;

	waiter_init(&w);
	lookup_init(l, &w);
	rc = dns_txt_lookup(d, name, on_txt, l);
	if (rc == 0 && waiter_wait(&w, 1, WAIT_MS) != 1)
		printf("# no callback for '%s'\n", name);
	waiter_release(&w);
	return rc;
}

/* A loopback port that is free for both UDP and TCP right now. */
static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int t, u, port = -1, tries;

	for (tries = 0; tries < 50 && port < 0; tries++) {
		t = socket(AF_INET, SOCK_STREAM, 0);
		u = socket(AF_INET, SOCK_DGRAM, 0);
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (t >= 0 && u >= 0 && bind(t, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    getsockname(t, (struct sockaddr *)&a, &alen) == 0 &&
		    bind(u, (struct sockaddr *)&a, sizeof(a)) == 0)
			port = ntohs(a.sin_port);
		if (t >= 0)
			close(t);
		if (u >= 0)
			close(u);
	}
	return port;
}

/* A UDP socket on 127.0.0.1 that receives queries and never answers; returns the fd. */
static int silent_socket(int *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* Starts argv[0] with stdout and stderr to log; the child dies with this process. */
static pid_t spawn(char *const argv[], const char *log)
{
	pid_t parent = getpid(), pid;
	int fd;

	if (access(argv[0], X_OK) != 0) {
		printf("# cannot run %s: %s\n", argv[0], strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	execv(argv[0], argv);
	_exit(127);
}

static void show_log(const char *log)
{
	char line[512];
	FILE *f = fopen(log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("# %s", line);
	fclose(f);
}

/* Waits until the server of pid accepts TCP on port; 0 or -1 (it died or took too long). */
static int wait_ready(pid_t pid, int port, const char *log)
{
	struct sockaddr_in a;
	int64_t end = now_ms() + 10000;
	int fd, ok, status;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	while (now_ms() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			printf("# server on port %d exited (status %d)\n", port, status);
			show_log(log);
			return -1;
		}
		fd = socket(AF_INET, SOCK_STREAM, 0);
		ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return 0;
		usleep(20000);
	}
	printf("# server on port %d not ready\n", port);
	show_log(log);
	return -1;
}

static void stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static char big_rec[10][160];
static char long_a[256], long_b[101];

/* Starts dnsmasq on port with the test's records; returns its pid or -1. The records are in a
 * configuration file: only there does dnsmasq read quoted character-strings. */
static pid_t start_dnsmasq(int port)
{
	char conf[128], log[128], port_arg[32], conf_arg[160];
	char *argv[] = {DNSMASQ,
	                "--no-daemon",
	                "--listen-address=127.0.0.1",
	                "--bind-interfaces",
	                "--no-resolv",
	                "--no-hosts",
	                "--pid-file",
	                "--log-facility=-",
	                port_arg,
	                conf_arg,
	                NULL};
	FILE *f;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/dnsmasq.conf", tmpdir);
	snprintf(log, sizeof(log), "%s/dnsmasq.log", tmpdir);
	snprintf(port_arg, sizeof(port_arg), "--port=%d", port);
	snprintf(conf_arg, sizeof(conf_arg), "--conf-file=%s", conf);
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fputs("txt-record=single.test,\"hello world\"\n"
	      "txt-record=multi.test,one\n"
	      "txt-record=multi.test,two\n"
	      "txt-record=multi.test,three\n"
	      "txt-record=split.test,\"v=mc1 \",\"part2\",part3\n"
	      "txt-record=comma.test,\"a,b\",c\n"
	      "txt-record=empty.test,\"\"\n"
	      /* names under a --local domain that dnsmasq has no data for are NXDOMAIN; a name with
	       * only an A record there answers TXT with NOERROR and no records (NODATA) */
	      "local=/nx.test/\n"
	      "host-record=nodata.nx.test,127.0.0.5\n",
	      f);
	/* with no upstream servers, every other name is REFUSED */
	fprintf(f, "txt-record=long.test,%s,%s\n", long_a, long_b);
	fclose(f);
	pid = spawn(argv, log);
	if (pid > 0 && wait_ready(pid, port, log) < 0) {
		stop(pid);
		pid = -1;
	}
	return pid;
}

/* Starts unbound on port: local data under ub.test, everything else forwarded to the dnsmasq on
 * upstream, which refuses it, so unbound answers SERVFAIL. Answers that need TCP are served by
 * unbound: dnsmasq 2.90 loses some of the queries that c-ares pipelines on one TCP connection (and
 * closes it after 100), so concurrent TCP lookups against it fail at random. */
static pid_t start_unbound(int port, int upstream)
{
	char conf[128], log[128];
	char *argv[] = {UNBOUND, "-d", "-c", conf, NULL};
	FILE *f;
	pid_t pid;
	int i;

	snprintf(conf, sizeof(conf), "%s/unbound.conf", tmpdir);
	snprintf(log, sizeof(log), "%s/unbound.log", tmpdir);
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f,
	        "server:\n"
	        "\tverbosity: 0\n"
	        "\tinterface: 127.0.0.1\n"
	        "\tport: %d\n"
	        "\tdo-ip6: no\n"
	        "\tdo-daemonize: no\n"
	        "\tchroot: \"\"\n"
	        "\tusername: \"\"\n"
	        "\tdirectory: \"%s\"\n"
	        "\tpidfile: \"%s/unbound.pid\"\n"
	        "\tlogfile: \"\"\n"
	        "\tuse-syslog: no\n"
	        "\taccess-control: 127.0.0.0/8 allow\n"
	        "\tdo-not-query-localhost: no\n"
	        "\tmodule-config: \"iterator\"\n"
	        "\tnum-threads: 1\n"
	        "\toutgoing-interface: 127.0.0.1\n"
	        "\tlocal-zone: \"ub.test.\" static\n"
	        "\tlocal-data: 'hello.ub.test. 60 IN TXT \"mc-verify=\" \"abc\"'\n"
	        "remote-control:\n"
	        "\tcontrol-enable: no\n"
	        "forward-zone:\n"
	        "\tname: \".\"\n"
	        "\tforward-addr: 127.0.0.1@%d\n",
	        port, tmpdir, tmpdir, upstream);
	/* about 1.6 KB: truncated over UDP, complete over TCP */
	fputs("server:\n", f);
	for (i = 0; i < 10; i++)
		fprintf(f, "\tlocal-data: 'big.ub.test. 60 IN TXT \"%s\"'\n", big_rec[i]);
	fclose(f);
	pid = spawn(argv, log);
	if (pid > 0 && wait_ready(pid, port, log) < 0) {
		stop(pid);
		pid = -1;
	}
	return pid;
}

static void test_names(void)
{
	CHECK_STR(dns_status_name(DNS_OK), "ok");
	CHECK_STR(dns_status_name(DNS_NXDOMAIN), "nxdomain");
	CHECK_STR(dns_status_name(DNS_SERVFAIL), "servfail");
	CHECK_STR(dns_status_name(DNS_REFUSED), "refused");
	CHECK_STR(dns_status_name(DNS_TIMEOUT), "timeout");
	CHECK_STR(dns_status_name(DNS_ERROR), "error");
	CHECK_STR(dns_status_name((enum dns_status)42), "unknown");
}

static void test_new(void)
{
	static const char *bad[] = {
	        "not-an-ip",
	        "127.0.0.1:0",
	        "127.0.0.1:65536",
	        "127.0.0.1:",
	        "127.0.0.1,",
	        ",127.0.0.1",
	        "127.0.0.1,,127.0.0.2",
	        "1.2.3",
	        "[::1",
	        "[::1]x",
	        "[127.0.0.1]:53",
	        "::1]:53",
	        "[::1]:",
	        "127.0.0.1:53:53",
	        "localhost",
	        "127.0.0.1 :53",
	        "127.0.0.1:5a",
	};
	static const char *good[] = {
	        NULL,
	        "",
	        "  ",
	        "127.0.0.1",
	        "127.0.0.1:5353",
	        " 127.0.0.1:5353 , [::1]:53,::1 ",
	        "[2001:db8::1]",
	        "10.0.0.1,10.0.0.2:53",
	};
	struct err e;
	struct dns *d;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		d = dns_new(bad[i], 1000, &e);
		CHECK(d == NULL);
		CHECK_INT(e.code, MC_ERR_INVALID);
		if (d || e.code != MC_ERR_INVALID)
			printf("#   servers '%s'\n", bad[i]);
		dns_free(d);
	}
	err_clear(&e);
	CHECK(dns_new("127.0.0.1", 0, &e) == NULL);
	CHECK_INT(e.code, MC_ERR_INVALID);
	CHECK(dns_new("127.0.0.1", DNS_TIMEOUT_MAX_MS + 1, &e) == NULL);
	CHECK(dns_new("127.0.0.1", -5, NULL) == NULL);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		err_clear(&e);
		d = dns_new(good[i], 1000, &e);
		CHECK(d != NULL);
		if (!d)
			printf("#   servers '%s': %s\n", good[i] ? good[i] : "(null)", e.msg);
		dns_free(d);
	}
	dns_free(NULL);
}

static void test_bad_names(struct dns *d)
{
	char name[300];
	struct lookup l;
	struct waiter w;

	waiter_init(&w);
	lookup_init(&l, &w);
	CHECK_INT(dns_txt_lookup(d, "", on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, ".", on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, NULL, on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, "a.test", NULL, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(NULL, "a.test", on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, "a..test", on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, ".a.test", on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, "a.test..", on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, "a b.test", on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, "a\\.b.test", on_txt, &l), MC_ERR_INVALID);
	CHECK_INT(dns_txt_lookup(d, "\xc3\xa9.test", on_txt, &l), MC_ERR_INVALID);
	memset(name, 'a', 64);
	memcpy(name + 64, ".test", 6);
	CHECK_INT(dns_txt_lookup(d, name, on_txt, &l), MC_ERR_INVALID);
	/* 4 labels of 63 + 1 of 1 = 253 octets: the longest name */
	memset(name, 'a', 253);
	name[63] = name[127] = name[191] = name[251] = '.';
	name[253] = '\0';
	CHECK_INT(dns_txt_lookup(d, name, on_txt, &l), 0);
	CHECK_INT(waiter_wait(&w, 1, WAIT_MS), 1);
	CHECK_INT(l.status, DNS_REFUSED);
	name[253] = '.';
	name[254] = '\0';
	CHECK_INT(dns_txt_lookup(d, name, on_txt, &l), 0); /* with its trailing dot */
	CHECK_INT(waiter_wait(&w, 2, WAIT_MS), 2);
	name[253] = 'a';
	CHECK_INT(dns_txt_lookup(d, name, on_txt, &l), MC_ERR_INVALID); /* 254 octets */
	CHECK_INT(waiter_wait(&w, 3, 200), 2);
	CHECK_INT(l.calls, 2);
	lookup_release(&l);
	waiter_release(&w);
}

static void test_answers(struct dns *d)
{
	struct lookup l;
	char joined[400];

	CHECK_INT(resolve(d, "single.test", &l), 0);
	CHECK_INT(l.calls, 1);
	CHECK_INT(l.status, DNS_OK);
	CHECK_INT(l.count, 1);
	CHECK_STR(l.rec[0], "hello world");
	CHECK_INT(l.len[0], 11);
	CHECK(!l.on_main);
	lookup_release(&l);

	CHECK_INT(resolve(d, "single.test.", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_STR(l.rec[0], "hello world");
	lookup_release(&l);

	CHECK_INT(resolve(d, "multi.test", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_INT(l.count, 3);
	CHECK(has_rec(&l, "one"));
	CHECK(has_rec(&l, "two"));
	CHECK(has_rec(&l, "three"));
	lookup_release(&l);

	CHECK_INT(resolve(d, "split.test", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_INT(l.count, 1);
	CHECK_STR(l.rec[0], "v=mc1 part2part3");
	lookup_release(&l);

	CHECK_INT(resolve(d, "comma.test", &l), 0);
	CHECK_INT(l.count, 1);
	CHECK_STR(l.rec[0], "a,bc");
	lookup_release(&l);

	CHECK_INT(resolve(d, "empty.test", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_INT(l.count, 1);
	CHECK_STR(l.rec[0], "");
	CHECK_INT(l.len[0], 0);
	lookup_release(&l);

	/* one record longer than a character-string can be: 255 + 100 octets */
	CHECK_INT(resolve(d, "long.test", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_INT(l.count, 1);
	snprintf(joined, sizeof(joined), "%s%s", long_a, long_b);
	CHECK_INT(l.len[0], 355);
	CHECK_STR(l.rec[0], joined);
	lookup_release(&l);

	CHECK_INT(resolve(d, "nope.nx.test", &l), 0);
	CHECK_INT(l.status, DNS_NXDOMAIN);
	CHECK_INT(l.count, 0);
	CHECK(l.rec[0] == NULL);
	lookup_release(&l);

	CHECK_INT(resolve(d, "nodata.nx.test", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_INT(l.count, 0);
	lookup_release(&l);

	CHECK_INT(resolve(d, "unknown.example", &l), 0);
	CHECK_INT(l.status, DNS_REFUSED);
	CHECK_INT(l.count, 0);
	lookup_release(&l);
}

/* 150 lookups whose answers all need TCP, pipelined by c-ares on one connection. */
static void test_concurrent_tcp(struct dns *d)
{
	static struct lookup ls[150];
	struct waiter w;
	int i, bad = 0, rc = 0;

	waiter_init(&w);
	for (i = 0; i < 150; i++) {
		lookup_init(&ls[i], &w);
		rc |= dns_txt_lookup(d, "big.ub.test", on_txt, &ls[i]);
	}
	CHECK_INT(rc, 0);
	CHECK_INT(waiter_wait(&w, 150, WAIT_MS), 150);
	for (i = 0; i < 150; i++) {
		if ((ls[i].calls != 1 || ls[i].status != DNS_OK || ls[i].count != 10) && bad++ < 5)
			printf("# tcp lookup %d: %d calls, %s, %zu records\n", i, ls[i].calls,
			       dns_status_name(ls[i].status), ls[i].count);
		lookup_release(&ls[i]);
	}
	CHECK_INT(bad, 0);
	waiter_release(&w);
}

static void test_unbound(int port)
{
	char servers[64];
	struct lookup l;
	struct dns *d;
	struct err e;
	int i;

	snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
	d = dns_new(servers, 3000, &e);
	CHECK(d != NULL);
	if (!d)
		return;
	CHECK_INT(resolve(d, "hello.ub.test", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_INT(l.count, 1);
	CHECK_STR(l.rec[0], "mc-verify=abc");
	lookup_release(&l);
	CHECK_INT(resolve(d, "nope.ub.test", &l), 0);
	CHECK_INT(l.status, DNS_NXDOMAIN);
	lookup_release(&l);
	CHECK_INT(resolve(d, "servfail.example", &l), 0);
	CHECK_INT(l.status, DNS_SERVFAIL);
	CHECK_INT(l.count, 0);
	lookup_release(&l);
	CHECK_INT(resolve(d, "big.ub.test", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_INT(l.count, 10);
	for (i = 0; i < 10; i++)
		CHECK(has_rec(&l, big_rec[i]));
	lookup_release(&l);
	test_concurrent_tcp(d);
	dns_free(d);
}

/* Three servers that never answer: c-ares alone would try for 3 x (200 + 400) ms, but the
 * deadline answers at 600 ms; the query c-ares still holds ends later without a second callback. */
static void test_deadline(int silent_port)
{
	char servers[128];
	struct lookup l;
	struct waiter w;
	struct dns *d;
	int p2 = 0, p3 = 0, s2, s3;
	int64_t t0, took;

	s2 = silent_socket(&p2);
	s3 = silent_socket(&p3);
	CHECK(s2 >= 0 && s3 >= 0);
	snprintf(servers, sizeof(servers), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", silent_port,
	         p2, p3);
	d = dns_new(servers, 600, NULL);
	CHECK(d != NULL);
	if (!d)
		goto out;
	waiter_init(&w);
	lookup_init(&l, &w);
	t0 = now_ms();
	CHECK_INT(dns_txt_lookup(d, "single.test", on_txt, &l), 0);
	CHECK_INT(waiter_wait(&w, 1, WAIT_MS), 1);
	took = l.at - t0;
	CHECK_INT(l.status, DNS_TIMEOUT);
	CHECK(took >= 580 && took <= 600 + 900);
	printf("# deadline after %lld ms (600 asked)\n", (long long)took);
	CHECK_INT(waiter_wait(&w, 2, 1600), 1); /* c-ares gives up meanwhile */
	dns_free(d);
	CHECK_INT(l.calls, 1);
	lookup_release(&l);
	waiter_release(&w);
out:
	if (s2 >= 0)
		close(s2);
	if (s3 >= 0)
		close(s3);
}

/* 200 lookups at once to a silent server, more than c-ares is given at once: those that wait
 * for room time out on the same schedule as the others. */
static void test_timeout_many(struct dns *d)
{
	static struct lookup ls[200];
	struct waiter w;
	int i, bad = 0, rc = 0;
	int64_t t0, last = 0;

	waiter_init(&w);
	t0 = now_ms();
	for (i = 0; i < 200; i++) {
		lookup_init(&ls[i], &w);
		rc |= dns_txt_lookup(d, "slow.test", on_txt, &ls[i]);
	}
	CHECK_INT(rc, 0);
	CHECK_INT(waiter_wait(&w, 200, WAIT_MS), 200);
	for (i = 0; i < 200; i++) {
		if (ls[i].calls != 1 || ls[i].status != DNS_TIMEOUT)
			bad++;
		if (ls[i].at > last)
			last = ls[i].at;
		lookup_release(&ls[i]);
	}
	CHECK_INT(bad, 0);
	/* the same schedule, not one lookup after another (200 x 400 ms); room for a busy machine
	 */
	CHECK(last - t0 <= 400 + 1500);
	printf("# 200 timeouts after %lld ms (400 asked)\n", (long long)(last - t0));
	waiter_release(&w);
}

/* A server that never answers: DNS_TIMEOUT close to timeout_ms, once. */
static void test_timeout(int silent_port)
{
	char servers[64];
	struct lookup l;
	struct dns *d;
	int64_t t0, took;

	snprintf(servers, sizeof(servers), "127.0.0.1:%d", silent_port);
	d = dns_new(servers, 400, NULL);
	CHECK(d != NULL);
	if (!d)
		return;
	t0 = now_ms();
	CHECK_INT(resolve(d, "single.test", &l), 0);
	took = l.at - t0;
	CHECK_INT(l.status, DNS_TIMEOUT);
	CHECK_INT(l.calls, 1);
	/* never early; the upper bound only catches a timeout that is not applied at all (the
	 * machine may be busy: sanitizers, parallel builds) */
	CHECK(took >= 380 && took <= 400 + 2600);
	printf("# timeout after %lld ms (400 asked)\n", (long long)took);
	lookup_release(&l);
	test_timeout_many(d);
	dns_free(d);
}

/* The first server never answers, the second does. */
static void test_failover(int silent_port, int dnsmasq_port)
{
	char servers[128];
	struct lookup l;
	struct dns *d;

	snprintf(servers, sizeof(servers), "127.0.0.1:%d,127.0.0.1:%d", silent_port, dnsmasq_port);
	d = dns_new(servers, 3000, NULL);
	CHECK(d != NULL);
	if (!d)
		return;
	CHECK_INT(resolve(d, "single.test", &l), 0);
	CHECK_INT(l.status, DNS_OK);
	CHECK_STR(l.rec[0], "hello world");
	lookup_release(&l);
	dns_free(d);
}

/* Nothing listens: the ICMP port-unreachable ends the lookup early as DNS_ERROR. */
static void test_refused_port(void)
{
	char servers[64];
	struct lookup l;
	struct dns *d;
	int64_t t0;

	snprintf(servers, sizeof(servers), "127.0.0.1:%d", free_port());
	d = dns_new(servers, 3000, NULL);
	CHECK(d != NULL);
	if (!d)
		return;
	t0 = now_ms();
	CHECK_INT(resolve(d, "single.test", &l), 0);
	CHECK_INT(l.status, DNS_ERROR);
	CHECK(l.at - t0 < 2000);
	lookup_release(&l);
	dns_free(d);
}

#define N_THREADS    4
#define N_PER_THREAD 50

static const char *conc_names[] = {"single.test", "multi.test", "split.test", "nope.nx.test",
                                   "nodata.nx.test"};

struct submitter {
	struct dns *d;
	struct lookup *ls;
	int base, failed;
};

static void *submit(void *p)
{
	struct submitter *s = p;
	int i, k;

	for (i = 0; i < N_PER_THREAD; i++) {
		k = s->base + i;
		if (dns_txt_lookup(s->d, conc_names[k % 5], on_txt, &s->ls[k]) != 0)
			s->failed++;
	}
	return NULL;
}

/* 200 lookups submitted from 4 threads at once all complete, each exactly once (more than
 * c-ares is given at once, so some wait for room). */
static void test_concurrent(struct dns *d)
{
	static struct lookup ls[N_THREADS * N_PER_THREAD];
	struct submitter s[N_THREADS];
	pthread_t th[N_THREADS];
	struct waiter w;
	int i, bad = 0, failed = 0;

	waiter_init(&w);
	for (i = 0; i < N_THREADS * N_PER_THREAD; i++)
		lookup_init(&ls[i], &w);
	for (i = 0; i < N_THREADS; i++) {
		s[i].d = d;
		s[i].ls = ls;
		s[i].base = i * N_PER_THREAD;
		s[i].failed = 0;
		pthread_create(&th[i], NULL, submit, &s[i]);
	}
	for (i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		failed += s[i].failed;
	}
	CHECK_INT(failed, 0);
	CHECK_INT(waiter_wait(&w, N_THREADS * N_PER_THREAD, WAIT_MS), N_THREADS * N_PER_THREAD);
	for (i = 0; i < N_THREADS * N_PER_THREAD; i++) {
		struct lookup *l = &ls[i];
		int ok = l->calls == 1;

		switch (i % 5) {
		case 0:
			ok = ok && l->status == DNS_OK && has_rec(l, "hello world");
			break;
		case 1:
			ok = ok && l->status == DNS_OK && l->count == 3;
			break;
		case 2:
			ok = ok && l->status == DNS_OK && has_rec(l, "v=mc1 part2part3");
			break;
		case 3:
			ok = ok && l->status == DNS_NXDOMAIN;
			break;
		case 4:
			ok = ok && l->status == DNS_OK && l->count == 0;
			break;
		}
		if (!ok && bad++ < 5)
			printf("# lookup %d of '%s': %d calls, %s, %zu records\n", i,
			       conc_names[i % 5], l->calls, dns_status_name(l->status), l->count);
		lookup_release(l);
	}
	CHECK_INT(bad, 0);
	waiter_release(&w);
}

/* A callback may start the next lookup. */
static void test_chain(struct dns *d)
{
	struct lookup a, b;
	struct waiter w;

	waiter_init(&w);
	lookup_init(&a, &w);
	lookup_init(&b, &w);
	a.d = d;
	a.next_name = "multi.test";
	a.next = &b;
	CHECK_INT(dns_txt_lookup(d, "single.test", on_txt, &a), 0);
	CHECK_INT(waiter_wait(&w, 2, WAIT_MS), 2);
	CHECK_INT(a.next_rc, 0);
	CHECK_INT(a.status, DNS_OK);
	CHECK_INT(b.status, DNS_OK);
	CHECK_INT(b.count, 3);
	lookup_release(&a);
	lookup_release(&b);
	waiter_release(&w);
}

/* dns_free with lookups in c-ares and in the queue: every callback runs once, with DNS_ERROR,
 * before dns_free returns; so do lookups a callback starts meanwhile (they fail to start). */
static void test_free_outstanding(int silent_port)
{
	static struct lookup ls[60];
	char servers[64];
	struct waiter w;
	struct dns *d;
	int i, bad = 0;
	int64_t t0;

	snprintf(servers, sizeof(servers), "127.0.0.1:%d", silent_port);
	d = dns_new(servers, 10000, NULL);
	CHECK(d != NULL);
	if (!d)
		return;
	waiter_init(&w);
	for (i = 0; i < 60; i++)
		lookup_init(&ls[i], &w);
	ls[0].d = d;
	ls[0].next_name = "again.test";
	ls[0].next = &ls[59];
	for (i = 0; i < 30; i++)
		CHECK_INT(dns_txt_lookup(d, "a.test", on_txt, &ls[i]), 0);
	usleep(100000); /* these reach c-ares; the next ones stay queued */
	for (i = 30; i < 59; i++)
		CHECK_INT(dns_txt_lookup(d, "b.test", on_txt, &ls[i]), 0);
	t0 = now_ms();
	dns_free(d);
	CHECK(now_ms() - t0 < 2000);
	CHECK_INT(waiter_wait(&w, 59, 0), 59);
	CHECK_INT(ls[0].next_rc, MC_ERR_UNAVAILABLE);
	for (i = 0; i < 59; i++)
		if ((ls[i].calls != 1 || ls[i].status != DNS_ERROR) && bad++ < 5)
			printf("# lookup %d: %d calls, %s\n", i, ls[i].calls,
			       dns_status_name(ls[i].status));
	CHECK_INT(bad, 0);
	CHECK_INT(ls[59].calls, 0);
	for (i = 0; i < 60; i++)
		lookup_release(&ls[i]);
	waiter_release(&w);
}

/* Past DNS_MAX_PENDING lookups, submissions fail fast; the rest are failed on dns_free. */
static void test_max_pending(int silent_port)
{
	struct lookup *ls = calloc(DNS_MAX_PENDING, sizeof(*ls));
	struct lookup extra;
	char servers[64];
	struct waiter w;
	struct dns *d;
	int i, rc = 0, bad = 0;

	CHECK(ls != NULL);
	if (!ls)
		return;
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", silent_port);
	d = dns_new(servers, 20000, NULL);
	CHECK(d != NULL);
	if (!d) {
		free(ls);
		return;
	}
	waiter_init(&w);
	lookup_init(&extra, &w);
	for (i = 0; i < DNS_MAX_PENDING && rc == 0; i++) {
		lookup_init(&ls[i], &w);
		rc = dns_txt_lookup(d, "many.test", on_txt, &ls[i]);
	}
	CHECK_INT(rc, 0);
	CHECK_INT(dns_txt_lookup(d, "many.test", on_txt, &extra), MC_ERR_UNAVAILABLE);
	dns_free(d);
	CHECK_INT(waiter_wait(&w, DNS_MAX_PENDING, 0), DNS_MAX_PENDING);
	for (i = 0; i < DNS_MAX_PENDING; i++)
		if (ls[i].calls != 1 || ls[i].status != DNS_ERROR)
			bad++;
	CHECK_INT(bad, 0);
	CHECK_INT(extra.calls, 0);
	waiter_release(&w);
	free(ls);
}

static void cleanup_tmpdir(void)
{
	static const char *files[] = {"dnsmasq.conf", "dnsmasq.log", "unbound.conf", "unbound.log",
	                              "unbound.pid"};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

int main(void)
{
	pid_t dnsmasq = -1, unbound = -1;
	int dm_port, ub_port, silent_port = 0, silent = -1, i;
	char servers[64];
	struct dns *d = NULL;
	struct err e;

	main_thread = pthread_self();
	signal(SIGPIPE, SIG_IGN);
	memset(long_a, 'A', 255);
	memset(long_b, 'B', 100);
	for (i = 0; i < 10; i++) {
		memset(big_rec[i], 'x', 150);
		big_rec[i][150] = (char)('0' + i);
	}
	if (!mkdtemp(tmpdir)) {
		CHECK(!"mkdtemp");
		return tap_done();
	}

	test_names();
	test_new();

	dm_port = free_port();
	dnsmasq = start_dnsmasq(dm_port);
	CHECK(dnsmasq > 0);
	ub_port = free_port();
	unbound = dnsmasq > 0 ? start_unbound(ub_port, dm_port) : -1;
	CHECK(unbound > 0);
	silent = silent_socket(&silent_port);
	CHECK(silent >= 0);
	if (dnsmasq <= 0 || unbound <= 0 || silent < 0)
		goto out;

	snprintf(servers, sizeof(servers), "127.0.0.1:%d", dm_port);
	d = dns_new(servers, 5000, &e);
	CHECK(d != NULL);
	if (!d) {
		printf("# %s\n", e.msg);
		goto out;
	}
	test_bad_names(d);
	test_answers(d);
	test_concurrent(d);
	test_chain(d);
	test_unbound(ub_port);
	test_failover(silent_port, dm_port);
	test_refused_port();
	test_timeout(silent_port);
	test_deadline(silent_port);
	test_free_outstanding(silent_port);
	test_max_pending(silent_port);

out:
	dns_free(d);
	stop(unbound);
	stop(dnsmasq);
	if (silent >= 0)
		close(silent);
	cleanup_tmpdir();
	return tap_done();
}
