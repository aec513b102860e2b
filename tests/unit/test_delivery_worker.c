/* Unit tests for the delivery workers (delivery.c) over a queue in memory that keeps the
 * store's promises (leases, outcome written with its event, *bounce once per message when
 * its last recipient is final): a kick wakes an idle worker (the poll is a minute, so
 * nothing else could), outcomes and SIEM events are recorded per recipient, the transform
 * hook changes the delivered copy, one DSN per bounced message lands in the sender's
 * Maildir (internal domain, default or own route) — none to the null sender, none to an
 * outside domain, none for a DSN, none when the lease was lost — an old deferred recipient
 * expires, a refused destination is tried once per batch and its other recipients are
 * deferred untried, and delivery_stop wakes sleeping workers. Real Maildirs and a real
 * refused port; no peer server needed. */
#include "common/err.h"
#include "common/log.h"
#include "server/config.h"
#include "server/delivery/delivery.h"
#include "server/delivery/delivery_int.h"
#include "server/server.h"
#include "server/store/store.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_JOBS 32
#define MAX_MSGS 16
#define WAIT_MS  15000

static char tmpdir[] = "/tmp/test_delivery_worker.XXXXXX";

struct fjob {
	struct delivery_job job; /* as leased */
	int32_t state;
	int64_t next, lease_until;
	int attempts;
	int done_calls;
	int lose_lease; /* done answers MC_ERR_STATE */
	char reply[MAIL_REPLY_SIZE];
	char *event;
};

struct fmsg {
	struct message m;
	const char *body;
	int bounced;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fjob jobs[MAX_JOBS];
	int njobs;
	struct fmsg msgs[MAX_MSGS];
	int nmsgs;
	int leases;        /* calls of lease */
	pthread_t busy[8]; /* threads between a done and their next lease */
	int nbusy;
	int commits, rollbacks; /* of batches of outcomes (tx_begin ... tx_commit) */
} q;

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int final_state(int32_t s)
{
	return s == RCPT_DELIVERED || s == RCPT_FAILED || s == RCPT_EXPIRED;
}

static int f_lease(struct store *st, int64_t now, int64_t lease_ms, struct delivery_job *jobs,
                   int max, int *n, struct err *e)
{
	(void)st;
	(void)e;
	pthread_mutex_lock(&q.mu);
	*n = 0;
	for (int i = 0; i < q.nbusy; i++)
		if (pthread_equal(q.busy[i], pthread_self()))
			q.busy[i--] = q.busy[--q.nbusy];
	for (int i = 0; i < q.njobs && *n < max; i++) {
		struct fjob *j = &q.jobs[i];

		if (!(j->state == RCPT_PENDING || (j->state == RCPT_DEFERRED && j->next <= now) ||
		      (j->state == RCPT_INFLIGHT && j->lease_until <= now)))
			continue;
		j->state = RCPT_INFLIGHT;
		j->lease_until = now + lease_ms;
		jobs[*n] = j->job;
		jobs[*n].rcpt.attempts = j->attempts;
		jobs[*n].rcpt.lease_until = j->lease_until;
		(*n)++;
	}
	q.leases++;
	pthread_cond_broadcast(&q.cv);
	pthread_mutex_unlock(&q.mu);
	return 0;
}

static struct fmsg *f_msg(int64_t id)
{
	for (int i = 0; i < q.nmsgs; i++)
		if (q.msgs[i].m.id == id)
			return &q.msgs[i];
	return NULL;
}

static int f_done(struct store *st, int64_t rcpt_id, int64_t lease_until, int32_t state,
                  int64_t next_attempt, const char *reply, const struct mail_event *ev, int *bounce,
                  struct err *e)
{
	struct fjob *j = &q.jobs[rcpt_id - 1];
	struct fmsg *m;
	int all = 1, failed = 0, rc = 0;

	(void)st;
	*bounce = 0;
	pthread_mutex_lock(&q.mu);
	j->done_calls++;
	if (q.nbusy < 8)
		q.busy[q.nbusy++] = pthread_self();
	if (j->lose_lease || j->lease_until != lease_until) {
		rc = err_set(e, MC_ERR_STATE, "lease lost");
		goto out;
	}
	j->state = state;
	j->next = next_attempt;
	j->attempts++;
	snprintf(j->reply, sizeof(j->reply), "%s", reply);
	free(j->event);
	j->event = ev && ev->data && strcmp(ev->type, "delivery") == 0 ? strdup(ev->data) : NULL;
	m = f_msg(j->job.rcpt.message_id);
	for (int i = 0; i < q.njobs; i++) {
		if (q.jobs[i].job.rcpt.message_id != j->job.rcpt.message_id)
			continue;
		all &= final_state(q.jobs[i].state);
		failed |= q.jobs[i].state == RCPT_FAILED || q.jobs[i].state == RCPT_EXPIRED;
	}
	if (all && failed && m && !m->bounced)
		*bounce = m->bounced = 1;
out:
	pthread_cond_broadcast(&q.cv);
	pthread_mutex_unlock(&q.mu);
	return rc;
}

static int f_body_get(struct store *st, int64_t body_id, char **data, size_t *len, struct err *e)
{
	struct fmsg *m;

	(void)st;
	pthread_mutex_lock(&q.mu);
	m = f_msg(body_id); /* body ids are message ids here */
	pthread_mutex_unlock(&q.mu);
	if (!m)
		return err_set(e, MC_ERR_NOT_FOUND, "no body %lld", (long long)body_id);
	*len = strlen(m->body);
	*data = malloc(*len + 1);
	memcpy(*data, m->body, *len + 1);
	return 0;
}

static int f_message_get(struct store *st, int64_t account_id, int64_t id, struct message *out,
                         struct err *e)
{
	struct fmsg *m;

	(void)st;
	pthread_mutex_lock(&q.mu);
	m = f_msg(id);
	if (m)
		*out = m->m;
	pthread_mutex_unlock(&q.mu);
	if (!m || m->m.account_id != account_id)
		return err_set(e, MC_ERR_NOT_FOUND, "no message");
	out->attachments = out->urls = NULL;
	return 0;
}

static void f_message_release(struct message *m)
{
	free(m->attachments);
	free(m->urls);
	m->attachments = m->urls = NULL;
}

static int f_account_get(struct store *st, int64_t id, struct account *out, struct err *e)
{
	(void)st;
	(void)e;
	memset(out, 0, sizeof(*out));
	out->id = id;
	snprintf(out->code, sizeof(out->code), "CTEST%lld", (long long)id);
	return 0;
}

static int f_message_rcpts(struct store *st, int64_t message_id,
                           int (*fn)(void *arg, const struct mail_rcpt *r), void *arg,
                           struct err *e)
{
	struct mail_rcpt r[MAX_JOBS];
	int n = 0, rc = 0;

	(void)st;
	(void)e;
	pthread_mutex_lock(&q.mu);
	for (int i = 0; i < q.njobs; i++) {
		if (q.jobs[i].job.rcpt.message_id != message_id)
			continue;
		r[n] = q.jobs[i].job.rcpt;
		r[n].state = q.jobs[i].state;
		snprintf(r[n].last_reply, sizeof(r[n].last_reply), "%s", q.jobs[i].reply);
		n++;
	}
	pthread_mutex_unlock(&q.mu);
	for (int i = 0; i < n && !rc; i++)
		rc = fn(arg, &r[i]);
	return rc;
}

static int f_mail_domain(struct store *st, const char *name, struct mail_domain *out, struct err *e)
{
	(void)st;
	memset(out, 0, sizeof(*out));
	if (strcmp(name, "example.org") == 0)
		return 0; /* the default route */
	if (strcmp(name, "routed.org") == 0) {
		snprintf(out->route, sizeof(out->route), "maildir:%s/routed", tmpdir);
		return 0;
	}
	return err_set(e, MC_ERR_NOT_FOUND, "'%s' is not internal", name);
}

/* A batch's outcomes: the fake records each done at once, so a batch is only counted. */
static int f_tx_begin(struct store *st, struct err *e)
{
	(void)st;
	(void)e;
	return 0;
}

static int f_tx_commit(struct store *st, struct err *e)
{
	(void)st;
	(void)e;
	pthread_mutex_lock(&q.mu);
	q.commits++;
	pthread_mutex_unlock(&q.mu);
	return 0;
}

static void f_tx_rollback(struct store *st)
{
	(void)st;
	pthread_mutex_lock(&q.mu);
	q.rollbacks++;
	pthread_mutex_unlock(&q.mu);
}

static const struct delivery_store_ops fake_ops = {
        f_lease,         f_done,        f_body_get, f_message_get, f_message_release, f_account_get,
        f_message_rcpts, f_mail_domain, f_tx_begin, f_tx_commit,   f_tx_rollback,
};

/* Adds a message (id = body id) from env_from received at received. */
static int64_t add_msg(const char *env_from, const char *body, int64_t received)
{
	struct fmsg *m;

	pthread_mutex_lock(&q.mu);
	m = &q.msgs[q.nmsgs++];
	memset(m, 0, sizeof(*m));
	m->m.id = q.nmsgs;
	m->m.account_id = 7;
	m->m.body_id = m->m.id;
	m->m.received = received;
	snprintf(m->m.env_from, sizeof(m->m.env_from), "%s", env_from);
	snprintf(m->m.msg_id, sizeof(m->m.msg_id), "m%lld@example.org", (long long)m->m.id);
	snprintf(m->m.acode, sizeof(m->m.acode), "acode%lld", (long long)m->m.id);
	m->body = body;
	pthread_mutex_unlock(&q.mu);
	return m->m.id;
}

/* Adds a pending recipient of message mid with route dest; returns its index. */
static int add_rcpt(int64_t mid, const char *addr, const char *dest, int attempts, int lose)
{
	struct fjob *j;
	struct fmsg *m;
	int i;

	pthread_mutex_lock(&q.mu);
	m = f_msg(mid);
	i = q.njobs++;
	j = &q.jobs[i];
	memset(j, 0, sizeof(*j));
	j->job.rcpt.id = i + 1;
	j->job.rcpt.message_id = mid;
	snprintf(j->job.rcpt.addr, sizeof(j->job.rcpt.addr), "%s", addr);
	j->job.account_id = m->m.account_id;
	j->job.body_id = m->m.body_id;
	j->job.received = m->m.received;
	j->job.route = MAIL_INBOUND;
	memcpy(j->job.env_from, m->m.env_from, sizeof(j->job.env_from));
	memcpy(j->job.acode, m->m.acode, sizeof(j->job.acode));
	snprintf(j->job.dest, sizeof(j->job.dest), "%s", dest);
	j->state = RCPT_PENDING;
	j->attempts = attempts;
	j->lose_lease = lose;
	pthread_mutex_unlock(&q.mu);
	return i;
}

/* Waits until jobs [from, to) have each been recorded (or refused) once and every worker
 * that recorded one has come back to lease (so its DSN, if any, is written). */
static int wait_quiet(int from, int to)
{
	struct timespec until;
	int ok = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&q.mu);
	for (;;) {
		int all = q.nbusy == 0;

		for (int i = from; i < to; i++)
			all &= q.jobs[i].done_calls > 0;
		if (all) {
			ok = 1;
			break;
		}
		if (pthread_cond_timedwait(&q.cv, &q.mu, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&q.mu);
	return ok;
}

/* Files in dir/new; the last one's contents into *data (malloc'd) if data. */
static int new_files(const char *box, char **data)
{
	char dir[1024], path[1600];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/new", box);
	if (data)
		*data = NULL;
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d))) {
		FILE *f;
		long len;

		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (data && (f = fopen(path, "rb"))) {
			free(*data);
			fseek(f, 0, SEEK_END);
			len = ftell(f);
			fseek(f, 0, SEEK_SET);
			*data = calloc(1, (size_t)len + 1);
			if (fread(*data, 1, (size_t)len, f) != (size_t)len)
				perror("fread");
			fclose(f);
		}
	}
	closedir(d);
	return n;
}

static int refused_port(int *fd)
{
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(*fd, (struct sockaddr *)&a, &al) != 0)
		return 0;
	return ntohs(a.sin_port);
}

static int transform(void *arg, const struct delivery_job *job, const char *in, size_t in_len,
                     char **out, size_t *out_len, struct err *e)
{
	const char *prefix = arg;
	size_t pl = strlen(prefix);

	(void)e;
	if (strncmp(job->rcpt.addr, "ok", 2) != 0)
		return 0; /* unchanged */
	*out = malloc(pl + in_len);
	memcpy(*out, prefix, pl);
	memcpy(*out + pl, in, in_len);
	*out_len = pl + in_len;
	return 0;
}

static const char body_plain[] = "Message-ID: <m@example.org>\r\nSubject: hi\r\n\r\nhello\r\n";
static const char body_dsn[] = "From: MAILER-DAEMON@elsewhere\r\n"
                               "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                               "\tboundary=\"b\"\r\n\r\n--b--\r\n";

int main(void)
{
	struct config cfg;
	struct server srv;
	struct delivery *d;
	struct err e = {0};
	char ok_route[300], bad_route[300], smtp_route[64], smtp_route2[64], box[600], cmd[800];
	char *data = NULL;
	int fd1, fd2, port1, port2, i_ok, i_bad, i_null, i_ext, i_exp, i_dsn, i_lost, i_p;
	int64_t now = wall_ms(), m;
	int64_t t0;

	log_set_level("error");
	pthread_mutex_init(&q.mu, NULL);
	pthread_cond_init(&q.cv, NULL);
	if (!mkdtemp(tmpdir))
		return 1;
	config_defaults(&cfg);
	cfg.delivery_threads = 2;
	cfg.retry_min = 60;
	cfg.retry_max = 3600;
	cfg.queue_max_age = 3600;
	snprintf(cfg.smtp_hostname, sizeof(cfg.smtp_hostname), "mx.test");
	snprintf(cfg.maildir_root, sizeof(cfg.maildir_root), "%s/mail", tmpdir);
	memset(&srv, 0, sizeof(srv));
	srv.cfg = &cfg;
	snprintf(ok_route, sizeof(ok_route), "maildir:%s/ok", tmpdir);
	snprintf(bad_route, sizeof(bad_route), "maildir:%s/file", tmpdir); /* a file: ENOTDIR */
	snprintf(box, sizeof(box), "%s/file", tmpdir);
	close(open(box, O_WRONLY | O_CREAT, 0600));
	port1 = refused_port(&fd1);
	port2 = refused_port(&fd2);
	CHECK(port1 > 0 && port2 > 0);
	snprintf(smtp_route, sizeof(smtp_route), "smtp://127.0.0.1:%d", port1);
	snprintf(smtp_route2, sizeof(smtp_route2), "smtp://127.0.0.1:%d", port2);

	/* a minute's poll: only a kick can get the work below done in time */
	d = delivery_start_ops(&srv, &fake_ops, 60000, &e);
	CHECK(d != NULL);
	if (!d)
		return tap_done();
	delivery_set_transform(d, transform, "X-Transformed: yes\r\n");
	pthread_mutex_lock(&q.mu);
	while (q.leases < 2)
		pthread_cond_wait(&q.cv, &q.mu); /* both workers asleep with nothing to do */
	pthread_mutex_unlock(&q.mu);

	m = add_msg("alice@example.org", body_plain, now);
	i_ok = add_rcpt(m, "ok1@dest.test", ok_route, 0, 0);
	i_bad = add_rcpt(m, "bad@dest.test", bad_route, 0, 0);
	i_null = add_rcpt(add_msg("", body_plain, now), "bad2@dest.test", bad_route, 0, 0);
	i_ext = add_rcpt(add_msg("ext@outside.net", body_plain, now), "bad3@dest.test", bad_route,
	                 0, 0);
	i_exp = add_rcpt(add_msg("carol@routed.org", body_plain, now - 3601000), "x@dest.test",
	                 smtp_route, 5, 0);
	i_dsn = add_rcpt(add_msg("alice@example.org", body_dsn, now), "bad4@dest.test", bad_route,
	                 0, 0);
	i_lost = add_rcpt(add_msg("alice@example.org", body_plain, now), "bad5@dest.test",
	                  bad_route, 0, 1);
	t0 = wall_ms();
	delivery_kick(d);
	CHECK(wait_quiet(i_ok, i_lost + 1));
	CHECK(wall_ms() - t0 < WAIT_MS);

	/* outcomes */
	CHECK_INT(q.jobs[i_ok].state, RCPT_DELIVERED);
	CHECK(strncmp(q.jobs[i_ok].reply, "250 2.0.0 delivered to maildir", 30) == 0);
	CHECK_INT(q.jobs[i_bad].state, RCPT_FAILED);
	CHECK(strncmp(q.jobs[i_bad].reply, "550 5.2.0 ", 10) == 0);
	CHECK_INT(q.jobs[i_null].state, RCPT_FAILED);
	CHECK_INT(q.jobs[i_ext].state, RCPT_FAILED);
	CHECK_INT(q.jobs[i_exp].state, RCPT_EXPIRED);
	CHECK(strncmp(q.jobs[i_exp].reply, "451 4.4.1 smtp://127.0.0.1:", 27) == 0);
	CHECK_INT(q.jobs[i_exp].next, 0);
	CHECK_INT(q.jobs[i_dsn].state, RCPT_FAILED);
	CHECK_INT(q.jobs[i_lost].state, RCPT_INFLIGHT); /* the outcome was not written */
	/* the outcomes of a worker's batch in one transaction; a lost lease does not undo it */
	CHECK(q.commits >= 1);
	CHECK_INT(q.rollbacks, 0);

	/* events: one per recorded attempt, with the attempt's facts */
	CHECK(q.jobs[i_ok].event && strstr(q.jobs[i_ok].event, "\"Delivered\":true"));
	CHECK(q.jobs[i_ok].event && strstr(q.jobs[i_ok].event, "\"acc\":\"CTEST7\""));
	CHECK(q.jobs[i_ok].event && strstr(q.jobs[i_ok].event, "\"MsgId\":\"<m1@example.org>\""));
	CHECK(q.jobs[i_bad].event && strstr(q.jobs[i_bad].event, "\"Delivered\":false"));
	CHECK(q.jobs[i_bad].event && strstr(q.jobs[i_bad].event, "\"RejCode\":\"550\""));
	CHECK(q.jobs[i_exp].event && strstr(q.jobs[i_exp].event, "\"Attempt\":6"));
	CHECK(q.jobs[i_exp].event &&
	      strstr(q.jobs[i_exp].event, "\"RejType\":\"Message expired\""));

	/* the delivered copy went through the hook, the stored bytes after it */
	snprintf(box, sizeof(box), "%s/ok/dest.test/ok1", tmpdir);
	CHECK_INT(new_files(box, &data), 1);
	CHECK(data && strncmp(data, "X-Transformed: yes\r\n", 20) == 0 &&
	      strcmp(data + 20, body_plain) == 0);
	free(data);

	/* one DSN to alice (message 1), none for the DSN she sent or the lost lease */
	snprintf(box, sizeof(box), "%s/mail/example.org/alice", tmpdir);
	CHECK_INT(new_files(box, &data), 1);
	CHECK(data && strstr(data, "From: Mail Delivery System <MAILER-DAEMON@mx.test>\r\n"));
	CHECK(data && strstr(data, "To: <alice@example.org>\r\n"));
	CHECK(data && strstr(data, "Final-Recipient: rfc822; bad@dest.test\r\nAction: failed\r\n"
	                           "Status: 5.2.0\r\n"));
	CHECK(data && !strstr(data, "ok1@dest.test")); /* only the failed recipients */
	CHECK(data && strstr(data, "Subject: hi\r\n"));
	free(data);
	/* the expired one's DSN went to routed.org's own route */
	snprintf(box, sizeof(box), "%s/routed/routed.org/carol", tmpdir);
	CHECK_INT(new_files(box, &data), 1);
	CHECK(data && strstr(data, "Final-Recipient: rfc822; x@dest.test\r\nAction: failed\r\n"
	                           "Status: 4.4.7\r\n"));
	free(data);
	/* nothing for the null sender or the outside domain */
	snprintf(box, sizeof(box), "%s/mail/outside.net", tmpdir);
	CHECK(access(box, F_OK) != 0);
	snprintf(box, sizeof(box), "%s/mail", tmpdir);
	snprintf(cmd, sizeof(cmd), "test $(find %s -type f | wc -l) -eq 1", box);
	CHECK_INT(system(cmd), 0);

	/* a refused destination: tried once, its other recipients in the batch deferred untried */
	m = add_msg("", body_plain, now);
	i_p = add_rcpt(m, "p1@dest.test", smtp_route2, 0, 0);
	add_rcpt(m, "p2@dest.test", smtp_route2, 0, 0);
	add_rcpt(m, "p3@dest.test", smtp_route2, 0, 0);
	t0 = wall_ms();
	delivery_kick(d);
	CHECK(wait_quiet(i_p, i_p + 3));
	{
		int tried = 0, untried = 0;

		for (int i = i_p; i < i_p + 3; i++) {
			CHECK_INT(q.jobs[i].state, RCPT_DEFERRED);
			CHECK(q.jobs[i].next >= t0 + 60000 && q.jobs[i].next <= wall_ms() + 60000);
			if (strstr(q.jobs[i].reply, "not tried"))
				untried++;
			else if (strncmp(q.jobs[i].reply, "451 4.4.1 smtp://127.0.0.1:", 27) == 0)
				tried++;
		}
		CHECK_INT(tried, 1);
		CHECK_INT(untried, 2);
	}

	/* stop wakes the sleeping workers at once */
	t0 = wall_ms();
	delivery_stop(d);
	CHECK(wall_ms() - t0 < 5000);
	close(fd1);
	close(fd2);
	for (int i = 0; i < q.njobs; i++)
		free(q.jobs[i].event);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return tap_done();
}
