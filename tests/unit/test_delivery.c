/* Unit tests for delivery/'s parts without a store: back-off and expiry arithmetic, routes,
 * per-destination penalties, the Maildir writer (exact bytes in new/, names that cannot
 * climb out of the root, real EACCES, EFBIG and ENOSPC from the kernel mapped to failed or
 * deferred), the SMTP client against a real downstream server (tests/unit/smtp_peer.py on
 * aiosmtpd: 250, 451, 550, multi-line replies, refusals at MAIL and DATA, the null sender)
 * and against sockets that refuse, never answer or greet with 554, the RFC 3464 DSN (parsed
 * back by Python's email package) and the SIEM delivery event (its keys checked against the
 * real service's delivery records in ../shared/fixtures when present). The SMTP part is
 * skipped, saying so, when python3-aiosmtpd is missing. */
#include "common/buf.h"
#include "common/err.h"
#include "server/config.h"
#include "server/delivery/delivery_int.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

static char tmpdir[] = "/tmp/test_delivery.XXXXXX";

static const char msg1[] = "Message-ID: <m1@example.org>\r\n"
                           "From: Alice <alice@example.org>\r\n"
                           "To: bob@example.com\r\n"
                           "Subject: hello\r\n"
                           "\r\n"
                           "first line\r\n"
                           ".a line that starts with a dot\r\n"
                           "..two dots\r\n"
                           "\r\n"
                           "last line\r\n";

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (p = malloc((size_t)n + 1))) {
		*len = fread(p, 1, (size_t)n, f);
		p[*len] = '\0';
	}
	fclose(f);
	return p;
}

/* Number of entries (not . or ..) in dir; the last one's name into name. */
static int dir_count(const char *dir, char *name, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (name)
			snprintf(name, size, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* ---- back-off and expiry ---- */

static void test_backoff(void)
{
	CHECK_INT(retry_backoff(1, 60, 3600), 60);
	CHECK_INT(retry_backoff(2, 60, 3600), 120);
	CHECK_INT(retry_backoff(3, 60, 3600), 240);
	CHECK_INT(retry_backoff(6, 60, 3600), 1920);
	CHECK_INT(retry_backoff(7, 60, 3600), 3600); /* 3840 clamped */
	CHECK_INT(retry_backoff(1000, 60, 3600), 3600);
	CHECK_INT(retry_backoff(2147483647, 1, 604800), 604800); /* no overflow */
	CHECK_INT(retry_backoff(0, 60, 3600), 60);               /* never below the minimum */
	CHECK_INT(retry_backoff(-5, 60, 3600), 60);
	CHECK_INT(retry_backoff(3, 600, 60), 600); /* max below min: min wins */
	CHECK_INT(retry_backoff(40, 86400, 604800), 604800);
}

static void test_decide(void)
{
	int64_t now = 1700000000000, next = -1;
	int64_t day = 86400000;

	CHECK_INT(retry_decide(DELIV_SENT, 1, now, now - 5, 60, 3600, 172800, &next),
	          RCPT_DELIVERED);
	CHECK_INT(next, 0);
	next = -1;
	CHECK_INT(retry_decide(DELIV_FAIL, 1, now, now - 5, 60, 3600, 172800, &next), RCPT_FAILED);
	CHECK_INT(next, 0);
	CHECK_INT(retry_decide(DELIV_DEFER, 1, now, now - 5, 60, 3600, 172800, &next),
	          RCPT_DEFERRED);
	CHECK_INT(next, now + 60000);
	CHECK_INT(retry_decide(DELIV_DEFER, 3, now, now - day, 60, 3600, 172800, &next),
	          RCPT_DEFERRED);
	CHECK_INT(next, now + 240000);
	/* exactly queue_max_age old: still retried; one ms more: expired */
	CHECK_INT(retry_decide(DELIV_DEFER, 9, now, now - 2 * day, 60, 3600, 172800, &next),
	          RCPT_DEFERRED);
	CHECK_INT(next, now + 3600000);
	CHECK_INT(retry_decide(DELIV_DEFER, 9, now, now - 2 * day - 1, 60, 3600, 172800, &next),
	          RCPT_EXPIRED);
	CHECK_INT(next, 0);
	/* a permanent failure of an old message is a failure, not an expiry */
	CHECK_INT(retry_decide(DELIV_FAIL, 9, now, now - 3 * day, 60, 3600, 172800, &next),
	          RCPT_FAILED);
}

/* ---- routes ---- */

static void test_routes(void)
{
	struct config cfg;
	struct deliv_dest d;
	struct err e = {0};

	CHECK_INT(route_parse("smtp://127.0.0.1:2525", &d, &e), 0);
	CHECK_INT(d.kind, DEST_SMTP);
	CHECK_STR(d.host, "127.0.0.1");
	CHECK_INT(d.port, 2525);
	CHECK_STR(d.name, "smtp://127.0.0.1:2525");
	CHECK_INT(route_parse("SMTP://mx.example.com", &d, &e), 0);
	CHECK_STR(d.host, "mx.example.com");
	CHECK_INT(d.port, 25);
	CHECK_INT(route_parse("smtp://[::1]:26/", &d, &e), 0);
	CHECK_STR(d.host, "[::1]");
	CHECK_INT(d.port, 26);
	CHECK_STR(d.name, "smtp://[::1]:26");
	CHECK_INT(route_parse("smtp://", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://h:0", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://h:65536", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://h:99999999999999999999", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://h:", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://user@h", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://h/x", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://h?x", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://[::1", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("smtp://[]", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("http://h", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("maildir:", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("maildir:/var/x\n", &d, &e), MC_ERR_INVALID);
	CHECK_INT(route_parse("maildir:/var/mail//", &d, &e), 0);
	CHECK_INT(d.kind, DEST_MAILDIR);
	CHECK_STR(d.root, "/var/mail");
	CHECK_STR(d.name, "maildir:/var/mail");
	CHECK_INT(route_parse("maildir:/", &d, &e), 0);
	CHECK_STR(d.root, "/");

	config_defaults(&cfg);
	snprintf(cfg.maildir_root, sizeof(cfg.maildir_root), "/srv/mail");
	/* the domain's route wins; "" is the default */
	CHECK_INT(route_resolve("smtp://10.0.0.1:25", MAIL_INBOUND, &cfg, &d, &e), 0);
	CHECK_STR(d.name, "smtp://10.0.0.1:25");
	CHECK_INT(route_resolve("", MAIL_INBOUND, &cfg, &d, &e), 0);
	CHECK_STR(d.name, "maildir:/srv/mail");
	CHECK_INT(route_resolve("", MAIL_OUTBOUND, &cfg, &d, &e), 0);
	CHECK_STR(d.name, "maildir:/srv/mail"); /* no smarthost: never the internet */
	snprintf(cfg.smarthost, sizeof(cfg.smarthost), "smtp://relay.local:587");
	CHECK_INT(route_resolve("", MAIL_OUTBOUND, &cfg, &d, &e), 0);
	CHECK_STR(d.name, "smtp://relay.local:587");
	CHECK_INT(route_resolve("", MAIL_INBOUND, &cfg, &d, &e), 0);
	CHECK_STR(d.name, "maildir:/srv/mail");
	CHECK_INT(route_resolve("", MAIL_INTERNAL, &cfg, &d, &e), 0);
	CHECK_STR(d.name, "maildir:/srv/mail");
	CHECK_INT(route_resolve("bogus", MAIL_INBOUND, &cfg, &d, &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "bogus") != NULL);
}

/* ---- penalties ---- */

static void test_penalty(void)
{
	struct penalty_table t;
	char reply[MAIL_REPLY_SIZE], key[32];
	int64_t now = 1000000;

	penalty_init(&t);
	CHECK_INT(penalty_check(&t, "smtp://a:25", now, reply, sizeof(reply)), 0);
	penalty_add(&t, "smtp://a:25", now, "451 4.4.1 connection refused");
	CHECK_INT(penalty_check(&t, "smtp://a:25", now + 1, reply, sizeof(reply)), 1);
	CHECK_STR(reply, "451 4.4.1 connection refused");
	CHECK_INT(penalty_check(&t, "smtp://b:25", now + 1, reply, sizeof(reply)), 0);
	CHECK_INT(penalty_check(&t, "smtp://a:25", now + PENALTY_MS - 1, reply, sizeof(reply)), 1);
	/* decays after a minute */
	CHECK_INT(penalty_check(&t, "smtp://a:25", now + PENALTY_MS, reply, sizeof(reply)), 0);
	penalty_add(&t, "smtp://a:25", now, "x");
	penalty_clear(&t, "smtp://a:25");
	CHECK_INT(penalty_check(&t, "smtp://a:25", now + 1, reply, sizeof(reply)), 0);
	/* a full table drops the penalty that ends first */
	for (int i = 0; i < PENALTY_SLOTS; i++) {
		snprintf(key, sizeof(key), "smtp://h%d:25", i);
		penalty_add(&t, key, now + i, "x");
	}
	penalty_add(&t, "smtp://new:25", now + 100, "y");
	CHECK_INT(penalty_check(&t, "smtp://new:25", now + 101, reply, sizeof(reply)), 1);
	CHECK_INT(penalty_check(&t, "smtp://h0:25", now + 101, reply, sizeof(reply)), 0);
	CHECK_INT(penalty_check(&t, "smtp://h1:25", now + 101, reply, sizeof(reply)), 1);
	penalty_release(&t);
}

/* ---- Maildir ---- */

static void test_maildir_path(void)
{
	char p[256];

	CHECK_INT(maildir_path("/r", "Bob.Smith@Example.COM", p, sizeof(p)), 0);
	CHECK_STR(p, "/r/example.com/bob.smith");
	CHECK_INT(maildir_path("/r", "../../etc@..", p, sizeof(p)), 0);
	CHECK_STR(p, "/r/_./_._.._etc");
	CHECK_INT(maildir_path("/r", ".hidden@a/b", p, sizeof(p)), 0);
	CHECK_STR(p, "/r/a_b/_hidden");
	CHECK_INT(maildir_path("/r", "a\tb@x", p, sizeof(p)), 0);
	CHECK_STR(p, "/r/x/a_b");
	CHECK_INT(maildir_path("/r", "\"a@b\"@x.org", p, sizeof(p)), 0); /* the last '@' */
	CHECK_STR(p, "/r/x.org/\"a@b\"");
	CHECK_INT(maildir_path("/r", "nodomain", p, sizeof(p)), MC_ERR_INVALID);
	CHECK_INT(maildir_path("/r", "@x.org", p, sizeof(p)), MC_ERR_INVALID);
	CHECK_INT(maildir_path("/r", "a@", p, sizeof(p)), MC_ERR_INVALID);
	CHECK_INT(maildir_path("/r", "abc@example.org", p, 12), MC_ERR_TOO_LARGE);
}

static void test_maildir_errno(void)
{
	struct deliv_result r;

	CHECK_INT(maildir_errno_status(ENOSPC, "write", "/x", &r), DELIV_DEFER);
	CHECK_INT(r.code, 452);
	CHECK(strncmp(r.reply, "452 4.3.1 ", 10) == 0);
	CHECK(strstr(r.reply, "\"/x\"") != NULL);
	CHECK_INT(maildir_errno_status(EDQUOT, "write", "/x", &r), DELIV_DEFER);
	CHECK(strncmp(r.reply, "452 4.2.2 ", 10) == 0);
	CHECK_INT(maildir_errno_status(EIO, "write", "/x", &r), DELIV_DEFER);
	CHECK(strncmp(r.reply, "451 4.3.0 ", 10) == 0);
	CHECK_INT(maildir_errno_status(EROFS, "write", "/x", &r), DELIV_DEFER);
	CHECK_INT(maildir_errno_status(EMFILE, "create", "/x", &r), DELIV_DEFER);
	CHECK_INT(maildir_errno_status(12345, "create", "/x", &r), DELIV_DEFER); /* unknown */
	CHECK_INT(maildir_errno_status(EACCES, "create", "/x", &r), DELIV_FAIL);
	CHECK_INT(r.code, 550);
	CHECK(strncmp(r.reply, "550 5.2.0 ", 10) == 0);
	CHECK_INT(maildir_errno_status(EPERM, "create", "/x", &r), DELIV_FAIL);
	CHECK_INT(maildir_errno_status(ENOTDIR, "create", "/x", &r), DELIV_FAIL);
	CHECK_INT(maildir_errno_status(EISDIR, "create", "/x", &r), DELIV_FAIL);
	CHECK_INT(maildir_errno_status(ELOOP, "create", "/x", &r), DELIV_FAIL);
	CHECK_INT(maildir_errno_status(ENAMETOOLONG, "create", "/x", &r), DELIV_FAIL);
	CHECK_INT(maildir_errno_status(EFBIG, "write", "/x", &r), DELIV_FAIL);
	CHECK(strncmp(r.reply, "552 5.3.4 ", 10) == 0);
	CHECK_INT(r.site, 0);
}

/* A batch delivery leaves new/'s fsync to maildir_sync_new: the file is in new/ under the
 * key's name, flagged unsynced; the sync names the directory; key 0 syncs itself. */
static void test_maildir_batch(void)
{
	char root[256], dir[1600], path[1800];
	struct deliv_result r;

	snprintf(root, sizeof(root), "%s/batch", tmpdir);
	CHECK_INT(maildir_deliver_batch(root, "Ann@Example.com", "x\r\n", 3, 42, &r), DELIV_SENT);
	CHECK_INT(r.new_unsynced, 1);
	CHECK(strstr(r.reply, "new/mcapi.R42.") != NULL);
	CHECK_INT(maildir_sync_new(root, "Ann@Example.com", dir, sizeof(dir), &r), 0);
	snprintf(path, sizeof(path), "%s/example.com/ann/new", root);
	CHECK_STR(dir, path);
	CHECK_INT(maildir_deliver_batch(root, "ann@example.com", "y\r\n", 3, 0, &r), DELIV_SENT);
	CHECK_INT(r.new_unsynced, 0);
	CHECK_INT(maildir_sync_new(root, "no-at-sign", dir, sizeof(dir), &r), DELIV_FAIL);
	snprintf(path, sizeof(path), "%s/nodir", tmpdir);
	CHECK_INT(maildir_sync_new(path, "a@b.test", dir, sizeof(dir), &r), DELIV_DEFER);
}

static void test_maildir_deliver(void)
{
	char root[256], box[512], path[1600], name[512], name2[512];
	struct deliv_result r;
	struct stat sb;
	char *got;
	size_t len = 0;
	int fd;

	snprintf(root, sizeof(root), "%s/mail", tmpdir);
	CHECK_INT(maildir_deliver(root, "Bob@Example.com", msg1, sizeof(msg1) - 1, &r), DELIV_SENT);
	CHECK_INT(r.code, 250);
	CHECK(strncmp(r.reply, "250 2.0.0 ", 10) == 0);
	CHECK_INT(r.sent, sizeof(msg1) - 1);
	snprintf(box, sizeof(box), "%s/example.com/bob", root);
	snprintf(path, sizeof(path), "%s/new", box);
	CHECK_INT(dir_count(path, name, sizeof(name)), 1);
	CHECK(strstr(r.reply, name) != NULL);
	snprintf(path, sizeof(path), "%s/tmp", box);
	CHECK_INT(dir_count(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/cur", box);
	CHECK_INT(dir_count(path, NULL, 0), 0);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0700);
	snprintf(path, sizeof(path), "%s/new/%s", box, name);
	got = read_file(path, &len);
	CHECK(got != NULL && len == sizeof(msg1) - 1 && memcmp(got, msg1, len) == 0);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	free(got);
	/* a second one gets its own name; an empty message is a file too */
	CHECK_INT(maildir_deliver(root, "bob@example.com", "", 0, &r), DELIV_SENT);
	snprintf(path, sizeof(path), "%s/new", box);
	CHECK_INT(dir_count(path, NULL, 0), 2);
	CHECK_INT(maildir_deliver(root, "bob@example.com", "x", 1, &r), DELIV_SENT);
	CHECK_INT(dir_count(path, name2, sizeof(name2)), 3);

	/* a box whose new/ and cur/ were removed: they are made again on delivery */
	snprintf(path, sizeof(path), "%s/new", box);
	while (dir_count(path, name2, sizeof(name2)) > 0) {
		char f[2200];
		snprintf(f, sizeof(f), "%s/%s", path, name2);
		unlink(f);
	}
	CHECK_INT(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/cur", box);
	CHECK_INT(rmdir(path), 0);
	CHECK_INT(maildir_deliver(root, "bob@example.com", "y", 1, &r), DELIV_SENT);
	snprintf(path, sizeof(path), "%s/new", box);
	CHECK_INT(dir_count(path, NULL, 0), 1);
	snprintf(path, sizeof(path), "%s/cur", box);
	CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
	snprintf(path, sizeof(path), "%s/tmp", box);
	CHECK_INT(dir_count(path, NULL, 0), 0);

	/* no '@': failed, nothing created */
	CHECK_INT(maildir_deliver(root, "postmaster", msg1, 10, &r), DELIV_FAIL);
	CHECK(strncmp(r.reply, "550 5.1.3 ", 10) == 0);

	/* the root is a file: ENOTDIR, failed */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	CHECK_INT(maildir_deliver(path, "bob@example.com", msg1, 10, &r), DELIV_FAIL);
	CHECK(strncmp(r.reply, "550 5.2.0 ", 10) == 0);
	CHECK(strstr(r.reply, "Not a directory") != NULL);
}

/* Runs fn in a child (which may change its user, limits or mounts) and returns its exit
 * status; 77 means "cannot test here". */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Exit codes of the children: 0 = as expected, 1 = wrong status, 2 = wrong reply, 3 = a
 * temporary file left behind. */
static int child_check(int status, int want, const struct deliv_result *r, const char *prefix,
                       const char *box)
{
	char tmp[600];

	if (status != want)
		return 1;
	if (strncmp(r->reply, prefix, strlen(prefix)) != 0)
		return 2;
	snprintf(tmp, sizeof(tmp), "%s/tmp", box);
	if (dir_count(tmp, NULL, 0) > 0)
		return 3;
	return 0;
}

static int child_eacces(void)
{
	char root[256];
	struct deliv_result r;

	/* a root-owned 0700 directory, written by nobody */
	snprintf(root, sizeof(root), "%s/locked", tmpdir);
	if (mkdir(root, 0700) != 0)
		return 77;
	if (geteuid() == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			return 77;
	} else if (chmod(root, 0500) != 0) {
		return 77;
	}
	return child_check(maildir_deliver(root, "bob@example.com", msg1, 10, &r), DELIV_FAIL, &r,
	                   "550 5.2.0 ", root);
}

static int child_efbig(void)
{
	char root[256], box[300];
	struct rlimit rl = {4096, 4096};
	static char big[65536];
	struct deliv_result r;

	snprintf(root, sizeof(root), "%s/efbig", tmpdir);
	snprintf(box, sizeof(box), "%s/example.com/bob", root);
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 77;
	memset(big, 'a', sizeof(big));
	return child_check(maildir_deliver(root, "bob@example.com", big, sizeof(big), &r),
	                   DELIV_FAIL, &r, "552 5.3.4 ", box);
}

static int child_enospc(void)
{
	char root[256], box[300];
	static char big[256 * 1024];
	struct deliv_result r;

	/* a 64 KiB tmpfs in a mount namespace of our own: gone when the child exits */
	snprintf(root, sizeof(root), "%s/full", tmpdir);
	snprintf(box, sizeof(box), "%s/example.com/bob", root);
	if (mkdir(root, 0700) != 0 || unshare(CLONE_NEWNS) != 0 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", root, "tmpfs", 0, "size=64k") != 0)
		return 77;
	memset(big, 'a', sizeof(big));
	return child_check(maildir_deliver(root, "bob@example.com", big, sizeof(big), &r),
	                   DELIV_DEFER, &r, "452 4.3.1 ", box);
}

static void test_maildir_errors(void)
{
	int rc;

	rc = in_child(child_eacces);
	if (rc == 77)
		printf("# skip: cannot drop privileges for the EACCES test\n");
	else
		CHECK_INT(rc, 0);
	rc = in_child(child_efbig);
	if (rc == 77)
		printf("# skip: no RLIMIT_FSIZE for the EFBIG test\n");
	else
		CHECK_INT(rc, 0);
	rc = in_child(child_enospc);
	if (rc == 77)
		printf("# skip: cannot mount a small tmpfs for the ENOSPC test (needs root)\n");
	else
		CHECK_INT(rc, 0);
}

/* ---- SMTP ---- */

struct peer {
	pid_t pid;
	unsigned port;
	char dir[256];
};

static int peer_start(struct peer *p)
{
	int fds[2];
	char line[32] = "", script[512];
	const char *src = getenv("MCAPI_SOURCE_DIR");
	struct pollfd pfd;
	size_t n = 0;

	snprintf(p->dir, sizeof(p->dir), "%s/peer", tmpdir);
	mkdir(p->dir, 0700);
	snprintf(script, sizeof(script), "%s/tests/unit/smtp_peer.py", src ? src : ".");
	if (pipe(fds) != 0)
		return -1;
	p->pid = fork();
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(PYTHON, PYTHON, script, p->dir, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (n + 1 < sizeof(line) && !strchr(line, '\n') && poll(&pfd, 1, 10000) == 1) {
		ssize_t r = read(fds[0], line + n, sizeof(line) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		line[n] = '\0';
	}
	close(fds[0]);
	p->port = (unsigned)strtoul(line, NULL, 10);
	return p->port ? 0 : -1;
}

static void peer_stop(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
	}
}

static const struct smtpc_opts opts = {"mcapi.test", 5000, 10000};

static void test_smtp_peer(struct peer *p)
{
	struct deliv_result r;
	struct deliv_dest d;
	char path[512], route[64];
	char *got, *env;
	size_t len = 0;

	/* 250: the exact bytes arrive (curl dot-stuffs, the peer unstuffs) */
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "alice@example.org", "bob@example.com",
	                     msg1, sizeof(msg1) - 1, &r),
	          DELIV_SENT);
	CHECK_INT(r.code, 250);
	CHECK_STR(r.reply, "250 2.0.0 Ok: queued as Q1");
	CHECK_INT(r.sent, sizeof(msg1) - 1);
	CHECK_INT(r.site, 0);
	snprintf(path, sizeof(path), "%s/1.eml", p->dir);
	got = read_file(path, &len);
	CHECK(got != NULL && len == sizeof(msg1) - 1 && memcmp(got, msg1, len) == 0);
	free(got);
	snprintf(path, sizeof(path), "%s/1.json", p->dir);
	env = read_file(path, &len);
	CHECK(env && strstr(env, "\"from\": \"alice@example.org\""));
	CHECK(env && strstr(env, "\"to\": [\"bob@example.com\"]"));
	CHECK(env && strstr(env, "\"helo\": \"mcapi.test\""));
	free(env);

	/* the null sender is MAIL FROM:<> */
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "", "bob@example.com", msg1,
	                     sizeof(msg1) - 1, &r),
	          DELIV_SENT);
	CHECK_STR(r.reply, "250 2.0.0 Ok: queued as Q2");
	snprintf(path, sizeof(path), "%s/2.json", p->dir);
	env = read_file(path, &len);
	CHECK(env && strstr(env, "\"from\": \"<>\""));
	free(env);

	/* 451 at RCPT: deferred, the reply is the RCPT's (not QUIT's 221), not the host's fault */
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "a@example.org", "defer@example.com",
	                     msg1, sizeof(msg1) - 1, &r),
	          DELIV_DEFER);
	CHECK_INT(r.code, 451);
	CHECK_STR(r.reply, "451 4.2.0 <defer@example.com>: mailbox busy, try later");
	CHECK_INT(r.site, 0);

	/* 550 at RCPT: failed */
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "a@example.org", "reject@example.com",
	                     msg1, sizeof(msg1) - 1, &r),
	          DELIV_FAIL);
	CHECK_INT(r.code, 550);
	CHECK_STR(r.reply, "550 5.1.1 <reject@example.com>: no such user");

	/* a multi-line reply is kept whole */
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "a@example.org", "multi@example.com",
	                     msg1, sizeof(msg1) - 1, &r),
	          DELIV_FAIL);
	CHECK_STR(r.reply, "550 5.1.1 first line 5.1.1 second line");

	/* refusals after DATA and at MAIL */
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "a@example.org", "datadefer@example.com",
	                     msg1, sizeof(msg1) - 1, &r),
	          DELIV_DEFER);
	CHECK_STR(r.reply, "451 4.3.0 queue full, try later");
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "a@example.org", "datareject@example.com",
	                     msg1, sizeof(msg1) - 1, &r),
	          DELIV_FAIL);
	CHECK_STR(r.reply, "554 5.6.0 content refused");
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "blocked@example.org", "bob@example.com",
	                     msg1, sizeof(msg1) - 1, &r),
	          DELIV_FAIL);
	CHECK_STR(r.reply, "553 5.7.1 <blocked@example.org>: sender refused");

	/* addresses that would break the command line never reach the wire */
	CHECK_INT(smtpc_send("127.0.0.1", p->port, &opts, "a@example.org",
	                     "bob@example.com>\r\nRSET", msg1, sizeof(msg1) - 1, &r),
	          DELIV_FAIL);
	CHECK(strncmp(r.reply, "553 5.1.3 ", 10) == 0);

	/* through route_deliver, as the workers call it */
	snprintf(route, sizeof(route), "smtp://127.0.0.1:%u", p->port);
	CHECK_INT(route_parse(route, &d, NULL), 0);
	CHECK_INT(route_deliver(&d, &opts, "a@example.org", "carol@example.com",
	                        "Subject: x\r\n\r\n", 14, &r),
	          DELIV_SENT);
	CHECK_STR(r.reply, "250 2.0.0 Ok: queued as Q3");
	/* a message without a final CRLF still ends properly */
	CHECK_INT(route_deliver(&d, &opts, "a@example.org", "carol@example.com",
	                        "Subject: x\r\n\r\nno end", 20, &r),
	          DELIV_SENT);
	snprintf(path, sizeof(path), "%s/4.eml", p->dir);
	got = read_file(path, &len);
	CHECK(got != NULL && len >= 20 && memcmp(got, "Subject: x\r\n\r\nno end", 20) == 0);
	free(got);
}

/* A listener on 127.0.0.1; *port gets its port. */
static int listener(unsigned *port, int do_listen)
{
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    (do_listen && listen(fd, 8) != 0) || getsockname(fd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static void *greet_554(void *arg)
{
	int lfd = *(int *)arg, c = accept(lfd, NULL, NULL);
	char buf[512];
	const char *g = "554 5.3.2 no service here\r\n";

	if (c >= 0) {
		if (write(c, g, strlen(g)) < 0)
			perror("write");
		while (read(c, buf, sizeof(buf)) > 0) {
		}
		close(c);
	}
	return NULL;
}

static void test_smtp_sockets(void)
{
	struct smtpc_opts fast = {"mcapi.test", 1000, 1500};
	struct deliv_result r;
	unsigned port;
	int fd;
	int64_t t0;
	pthread_t th;

	/* bound but not listening: connection refused → deferred, the host penalised */
	fd = listener(&port, 0);
	CHECK(fd >= 0);
	CHECK_INT(smtpc_send("127.0.0.1", port, &fast, "a@x.org", "b@y.org", msg1, 10, &r),
	          DELIV_DEFER);
	CHECK_INT(r.site, 1);
	CHECK(strncmp(r.reply, "451 4.4.1 smtp://127.0.0.1:", 27) == 0);
	close(fd);

	/* listening, never greeting: the time-out defers */
	fd = listener(&port, 1);
	CHECK(fd >= 0);
	t0 = mono();
	CHECK_INT(smtpc_send("127.0.0.1", port, &fast, "a@x.org", "b@y.org", msg1, 10, &r),
	          DELIV_DEFER);
	CHECK(mono() - t0 < 5000);
	CHECK_INT(r.site, 1);
	CHECK(strncmp(r.reply, "451 4.4.2 ", 10) == 0);
	close(fd);

	/* a 554 greeting is the host's trouble: deferred (Postfix skips such a host) */
	fd = listener(&port, 1);
	CHECK(fd >= 0);
	pthread_create(&th, NULL, greet_554, &fd);
	CHECK_INT(smtpc_send("127.0.0.1", port, &fast, "a@x.org", "b@y.org", msg1, 10, &r),
	          DELIV_DEFER);
	CHECK_INT(r.site, 1);
	CHECK_INT(r.code, 554);
	CHECK_STR(r.reply, "554 5.3.2 no service here");
	shutdown(fd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(fd);
}

/* ---- DSN ---- */

static void test_dsn(void)
{
	struct dsn_rcpt rc[2] = {
	        {"bob@example.com", RCPT_FAILED, "550 5.1.1 <bob@example.com>: no such user"},
	        {"carol@example.com", RCPT_EXPIRED, "451 4.4.1 smtp://10.0.0.1:25: refused"},
	};
	struct dsn_input in = {"mx.mcapi.test",
	                       "alice@example.org",
	                       "aCode_1-x",
	                       1700000000000,
	                       1700000100000,
	                       rc,
	                       2,
	                       msg1,
	                       sizeof(msg1) - 1};
	const char folded[] = "Subject: a\r\nContent-Type: multipart/report;\r\n"
	                      "\treport-type=delivery-status; boundary=x\r\n\r\nbody\r\n";
	struct buf b;
	char v[128], path[512], cmd[2048];
	FILE *f;

	CHECK_INT(dsn_header_len(msg1, sizeof(msg1) - 1), 98);
	CHECK_INT(dsn_header_len("\r\nbody", 6), 0);
	CHECK_INT(dsn_header_len("A: b\nC: d\n\nbody", 15), 9);
	CHECK_INT(dsn_header_len("A: b", 4), 4);
	CHECK_INT(dsn_header_get(msg1, sizeof(msg1) - 1, "subject", v, sizeof(v)), 1);
	CHECK_STR(v, "hello");
	CHECK_INT(dsn_header_get(msg1, sizeof(msg1) - 1, "first line", v, sizeof(v)), 0);
	CHECK_INT(dsn_header_get(folded, sizeof(folded) - 1, "content-type", v, sizeof(v)), 1);
	CHECK_STR(v, "multipart/report;\treport-type=delivery-status; boundary=x");
	CHECK_INT(dsn_is_report(folded, sizeof(folded) - 1), 1);
	CHECK_INT(dsn_is_report(msg1, sizeof(msg1) - 1), 0);

	buf_init(&b, 1 << 20);
	CHECK_INT(dsn_build(&in, &b), 0);
	CHECK(strstr(b.data, "From: Mail Delivery System <MAILER-DAEMON@mx.mcapi.test>\r\n"));
	CHECK(strstr(b.data, "To: <alice@example.org>\r\n"));
	CHECK(strstr(b.data, "Date: Tue, 14 Nov 2023 22:15:00 +0000\r\n"));
	CHECK(strstr(b.data, "Auto-Submitted: auto-replied\r\n"));
	CHECK(strstr(b.data, "Reporting-MTA: dns; mx.mcapi.test\r\n"));
	CHECK(strstr(b.data, "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
	CHECK(strstr(b.data, "Final-Recipient: rfc822; bob@example.com\r\nAction: failed\r\n"
	                     "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: "
	                     "no such user\r\n"));
	CHECK(strstr(b.data, "Final-Recipient: rfc822; carol@example.com\r\nAction: failed\r\n"
	                     "Status: 4.4.7\r\n"));
	CHECK(strstr(b.data, "<carol@example.com>: delivery time expired; last reply: 451 4.4.1"));
	CHECK(strstr(b.data, "Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m1@example.org>"
	                     "\r\n"));
	CHECK(strstr(b.data, "Subject: hello\r\n"));
	CHECK(strstr(b.data, "first line") == NULL); /* never the body */
	CHECK(b.len > 2 && memcmp(b.data + b.len - 2, "\r\n", 2) == 0);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' && (i == 0 || b.data[i - 1] != '\r')) {
			CHECK(!"a bare LF in the DSN");
			break;
		}
	CHECK_INT(dsn_is_report(b.data, b.len), 1); /* a DSN never gets a DSN */

	/* Python's email package reads it as an RFC 3464 report */
	snprintf(path, sizeof(path), "%s/dsn.eml", tmpdir);
	f = fopen(path, "wb");
	CHECK(f && fwrite(b.data, 1, b.len, f) == b.len);
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd),
	         PYTHON " -c 'import email,sys\n"
	                "m=email.message_from_binary_file(open(sys.argv[1],\"rb\"))\n"
	                "assert m.get_content_type()==\"multipart/report\", m.get_content_type()\n"
	                "assert m.get_param(\"report-type\")==\"delivery-status\"\n"
	                "p=m.get_payload()\n"
	                "assert [x.get_content_type() for x in p]==[\"text/plain\","
	                "\"message/delivery-status\",\"text/rfc822-headers\"], p\n"
	                "ds=p[1].get_payload()\n"
	                "assert len(ds)==3, len(ds)\n"
	                "assert ds[0][\"Reporting-MTA\"]==\"dns; mx.mcapi.test\"\n"
	                "assert ds[1][\"Status\"]==\"5.1.1\" and ds[2][\"Status\"]==\"4.4.7\"\n"
	                "assert not m.defects, m.defects\n' %s",
	         path);
	if (access(PYTHON, X_OK) == 0)
		CHECK_INT(system(cmd), 0);
	else
		printf("# skip: no %s to parse the DSN\n", PYTHON);

	/* the original headers are cut at a line end past DSN_MAX_HEADERS */
	{
		struct buf big, out;
		size_t hl;

		buf_init(&big, 1 << 22);
		for (int i = 0; big.len < DSN_MAX_HEADERS * 2; i++)
			buf_addf(&big, "X-Filler-%d: %0100d\r\n", i, i);
		buf_adds(&big, "\r\nbody\r\n");
		in.orig = big.data;
		in.orig_len = big.len;
		buf_init(&out, 1 << 20);
		CHECK_INT(dsn_build(&in, &out), 0);
		hl = out.len;
		CHECK(hl < DSN_MAX_HEADERS + 8192);
		CHECK(strstr(out.data, "X-Filler-0: ") != NULL);
		CHECK(strstr(out.data, "\r\n\r\n--=_mcapi-dsn-") != NULL);
		buf_release(&out);
		buf_release(&big);
	}
	buf_release(&b);
}

/* ---- the SIEM event ---- */

/* Adds the keys of the real service's delivery records (those with "Delivered") to keys. */
static int fixture_keys(json_t *keys)
{
	const char *src = getenv("MCAPI_SOURCE_DIR");
	char path[512], line[65536];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/../shared/fixtures/elastic-integrations/siem_logs/%s",
	         src ? src : ".", "test-siem-logs.log");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char wrapped[65600];
		json_t *v, *o;
		size_t i;

		snprintf(wrapped, sizeof(wrapped), "[%s]", line);
		if (!(v = json_loads(wrapped, 0, NULL)))
			continue;
		json_array_foreach(v, i, o)
		{
			const char *k;
			json_t *x;

			if (!json_object_get(o, "Delivered"))
				continue;
			n++;
			json_object_foreach(o, k, x) json_object_set_new(keys, k, json_true());
		}
		json_decref(v);
	}
	fclose(f);
	return n;
}

static void test_event(void)
{
	struct delivery_job job;
	struct message m;
	struct deliv_dest d;
	struct deliv_result r = {0};
	struct delivery_event_in in = {0};
	struct buf b;
	json_t *o, *keys = json_object();
	const char *k;
	json_t *x;
	int nfix;

	memset(&job, 0, sizeof(job));
	memset(&m, 0, sizeof(m));
	snprintf(job.acode, sizeof(job.acode), "Ab3_xyz");
	snprintf(job.rcpt.addr, sizeof(job.rcpt.addr), "bob@example.com");
	job.route = MAIL_OUTBOUND;
	snprintf(m.msg_id, sizeof(m.msg_id), "m1@example.org");
	snprintf(m.subject, sizeof(m.subject), "héllo");
	snprintf(m.client_ip, sizeof(m.client_ip), "192.0.2.7");
	m.attachments = "[{\"name\":\"a.pdf\",\"size\":100},{\"name\":\"b.exe\",\"size\":23}]";
	route_parse("smtp://127.0.0.1:2525", &d, NULL);
	deliv_result_set(&r, DELIV_FAIL, 550, 0, "5.1.1 <bob@example.com>: no such user");
	r.sent = 0;
	in.job = &job;
	in.msg = &m;
	in.acc = "CUSA102A236";
	in.dest = &d;
	in.res = &r;
	in.attempt = 2;
	in.state = RCPT_FAILED;
	in.at = 1700000000123;
	in.latency = 42;

	buf_init(&b, 65536);
	CHECK_INT(delivery_event_json(&in, &b), 0);
	o = json_loads(b.data, 0, NULL);
	CHECK(o != NULL);
	CHECK_INT(json_integer_value(json_object_get(o, "at")), 1700000000123);
	CHECK_STR(json_string_value(json_object_get(o, "acc")), "CUSA102A236");
	CHECK_STR(json_string_value(json_object_get(o, "aCode")), "Ab3_xyz");
	CHECK(json_is_false(json_object_get(o, "Delivered")));
	CHECK_INT(json_integer_value(json_object_get(o, "Attempt")), 2);
	CHECK_INT(json_integer_value(json_object_get(o, "Latency")), 42);
	CHECK_STR(json_string_value(json_object_get(o, "UseTls")), "No");
	CHECK_STR(json_string_value(json_object_get(o, "Dir")), "Outbound");
	CHECK_STR(json_string_value(json_object_get(o, "Route")), "smtp://127.0.0.1:2525");
	CHECK_STR(json_string_value(json_object_get(o, "Rcpt")), "bob@example.com");
	CHECK_STR(json_string_value(json_object_get(o, "Sender")), "<>");
	CHECK_STR(json_string_value(json_object_get(o, "MsgId")), "<m1@example.org>");
	CHECK_STR(json_string_value(json_object_get(o, "Subject")), "héllo");
	CHECK_STR(json_string_value(json_object_get(o, "IP")), "192.0.2.7");
	CHECK_INT(json_integer_value(json_object_get(o, "AttCnt")), 2);
	CHECK_INT(json_integer_value(json_object_get(o, "AttSize")), 123);
	CHECK(json_is_null(json_object_get(o, "ReceiptAck")));
	CHECK_STR(json_string_value(json_object_get(o, "RejCode")), "550");
	CHECK_STR(json_string_value(json_object_get(o, "RejInfo")),
	          "5.1.1 <bob@example.com>: no such user");
	CHECK_STR(json_string_value(json_object_get(o, "RejType")),
	          "Recipient email address is possibly incorrect");

	/* every key but "at" is one the real service's delivery records use */
	nfix = fixture_keys(keys);
	if (nfix <= 0) {
		printf("# skip: no delivery records in ../shared/fixtures\n");
	} else {
		json_object_foreach(o, k, x)
		{
			if (strcmp(k, "at") != 0 && !json_object_get(keys, k)) {
				printf("# key %s is not in the fixtures\n", k);
				CHECK(!"event key unknown to the fixtures");
			}
		}
	}
	json_decref(o);

	/* delivered: ReceiptAck, no Rej*; no message read: MsgId and Subject null */
	deliv_result_set(&r, DELIV_SENT, 250, 0, "2.0.0 Ok: queued as Q1");
	r.sent = 321;
	snprintf(job.env_from, sizeof(job.env_from), "alice@example.org");
	job.route = MAIL_INTERNAL;
	in.msg = NULL;
	in.acc = "";
	in.state = RCPT_DELIVERED;
	buf_reset(&b);
	CHECK_INT(delivery_event_json(&in, &b), 0);
	o = json_loads(b.data, 0, NULL);
	CHECK(json_is_true(json_object_get(o, "Delivered")));
	CHECK_STR(json_string_value(json_object_get(o, "ReceiptAck")),
	          "250 2.0.0 Ok: queued as Q1");
	CHECK_INT(json_integer_value(json_object_get(o, "Snt")), 321);
	CHECK_STR(json_string_value(json_object_get(o, "Sender")), "alice@example.org");
	CHECK_STR(json_string_value(json_object_get(o, "Dir")), "Internal");
	CHECK(json_is_null(json_object_get(o, "MsgId")));
	CHECK(json_is_null(json_object_get(o, "Subject")));
	CHECK(json_object_get(o, "RejType") == NULL);
	CHECK(json_object_get(o, "acc") == NULL);
	json_decref(o);

	/* expired and deferred attempts say so */
	deliv_result_set(&r, DELIV_DEFER, 451, 1, "4.4.1 smtp://h:25: Connection refused");
	in.state = RCPT_EXPIRED;
	buf_reset(&b);
	CHECK_INT(delivery_event_json(&in, &b), 0);
	o = json_loads(b.data, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(o, "RejType")), "Message expired");
	CHECK_STR(json_string_value(json_object_get(o, "RejCode")), "451");
	json_decref(o);
	in.state = RCPT_DEFERRED;
	buf_reset(&b);
	CHECK_INT(delivery_event_json(&in, &b), 0);
	o = json_loads(b.data, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(o, "RejType")), "Temporary failure");
	json_decref(o);
	json_decref(keys);
	buf_release(&b);
}

int main(void)
{
	struct peer p = {0};
	char cmd[600];

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_backoff();
	test_decide();
	test_routes();
	test_penalty();
	test_maildir_path();
	test_maildir_errno();
	test_maildir_deliver();
	test_maildir_batch();
	test_maildir_errors();
	test_dsn();
	test_event();
	test_smtp_sockets();
	if (system(PYTHON " -c 'import aiosmtpd' 2>/dev/null") != 0) {
		printf("# skip: SMTP peer tests need python3-aiosmtpd (apt-get install "
		       "python3-aiosmtpd)\n");
	} else if (peer_start(&p) != 0) {
		CHECK(!"the aiosmtpd peer did not start");
	} else {
		test_smtp_peer(&p);
	}
	peer_stop(&p);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return tap_done();
}
