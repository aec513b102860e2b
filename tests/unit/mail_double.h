/* A test double of the mail pipeline (mail/mail.h) for the SMTP front's tests and fuzz
 * target: the same signatures as mail.c, decisions steered by the test through
 * mail_double, and what mail_accept was given kept for inspection. Included by exactly one
 * file of each test program (it defines the functions): the linker then never pulls the
 * real mail.o out of the server library. Sessions of the driver's test run on threads of their
 * own: the double takes a lock; the test reads what it kept after smtp_stop joined them. */
#ifndef MCAPI_TESTS_MAIL_DOUBLE_H
#define MCAPI_TESTS_MAIL_DOUBLE_H

#include "common/err.h"
#include "server/mail/mail.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mail {
	int unused;
};

#ifndef MAIL_DOUBLE_BODY_MAX
#define MAIL_DOUBLE_BODY_MAX (4 << 20)
#endif

static struct mail_double {
	/* steering: a sender or recipient containing "denied" gets 550 5.7.1, "fail" a store
	 * error without a reply (451 4.3.0 from the session), "tempfail" a 451 4.3.0 */
	int accept_code; /* 0: accept with "250 2.0.0 Ok: queued as <n>"; else that code */
	int accept_rc;
	/* what the session handed over */
	int accepts;
	int mem_accepts; /* of them, through mail_accept_mem (the message never in a file) */
	pid_t tid;       /* the thread of the last accept */
	char *body;      /* the last spooled message, NUL-terminated */
	int64_t body_len, size;
	struct mail_txn last; /* the facts of the last accepted transaction (no rcpts) */
	char last_rcpt0[MAIL_ADDR_SIZE];
	int inits, releases;
} mail_double;

static pthread_mutex_t mail_double_mu = PTHREAD_MUTEX_INITIALIZER;

/* Forgets what was handed over and the steering; the init/release counts stay. Under the
 * lock: a session thread may still be releasing its transaction. */
static void mail_double_reset(void)
{
	int inits, releases;

	pthread_mutex_lock(&mail_double_mu);
	inits = mail_double.inits;
	releases = mail_double.releases;
	free(mail_double.body);
	memset(&mail_double, 0, sizeof(mail_double));
	mail_double.inits = inits;
	mail_double.releases = releases;
	pthread_mutex_unlock(&mail_double_mu);
}

int mail_txn_init(struct mail_txn *t, int max_rcpts)
{
	t->rcpts = calloc((size_t)max_rcpts, sizeof(*t->rcpts));
	if (!t->rcpts)
		return MC_ERR_NOMEM;
	t->cap = max_rcpts;
	t->nrcpt = 0;
	pthread_mutex_lock(&mail_double_mu);
	mail_double.inits++;
	pthread_mutex_unlock(&mail_double_mu);
	return 0;
}

void mail_txn_reset(struct mail_txn *t)
{
	t->env_from[0] = '\0';
	t->nrcpt = 0;
	t->account_id = 0;
	t->route = 0;
}

void mail_txn_release(struct mail_txn *t)
{
	free(t->rcpts);
	t->rcpts = NULL;
	t->cap = t->nrcpt = 0;
	pthread_mutex_lock(&mail_double_mu);
	mail_double.releases++;
	pthread_mutex_unlock(&mail_double_mu);
}

static int double_verdict(const char *addr, struct mail_reply *reply)
{
	if (strstr(addr, "tempfail")) {
		reply->code = 451;
		snprintf(reply->text, sizeof(reply->text), "4.3.0 try later");
		return 0;
	}
	if (strstr(addr, "fail"))
		return MC_ERR_STORE;
	if (strstr(addr, "denied")) {
		reply->code = 550;
		snprintf(reply->text, sizeof(reply->text), "5.7.1 relay denied");
		return 0;
	}
	return 0;
}

void mail_thread_nice(const struct config *cfg)
{
	(void)cfg; /* the tests' threads keep their priority */
}

int mail_check_sender(struct mail *m, struct mail_txn *t, const char *from,
                      struct mail_reply *reply)
{
	int rc;
	(void)m;
	reply->code = 0;
	if ((rc = double_verdict(from, reply)) != 0 || reply->code)
		return rc;
	snprintf(t->env_from, sizeof(t->env_from), "%s", from);
	return 0;
}

int mail_check_rcpt(struct mail *m, struct mail_txn *t, const char *rcpt, struct mail_reply *reply)
{
	int rc;
	(void)m;
	reply->code = 0;
	if ((rc = double_verdict(rcpt, reply)) != 0 || reply->code)
		return rc;
	if (t->nrcpt >= t->cap) {
		reply->code = 452;
		snprintf(reply->text, sizeof(reply->text), "4.5.3 too many recipients");
		return 0;
	}
	snprintf(t->rcpts[t->nrcpt].addr, sizeof(t->rcpts[t->nrcpt].addr), "%s", rcpt);
	t->nrcpt++;
	return 0;
}

static int double_accept(struct mail_txn *t, int spool_fd, int64_t size, struct mail_reply *reply)
{
	int64_t got = 0;
	free(mail_double.body);
	mail_double.body = malloc(MAIL_DOUBLE_BODY_MAX + 1);
	if (!mail_double.body)
		return MC_ERR_NOMEM;
	while (got < MAIL_DOUBLE_BODY_MAX) {
		ssize_t k = pread(spool_fd, mail_double.body + got,
		                  (size_t)(MAIL_DOUBLE_BODY_MAX - got), (off_t)got);
		if (k <= 0)
			break;
		got += k;
	}
	mail_double.tid = gettid();
	mail_double.body[got] = '\0';
	mail_double.body_len = got;
	mail_double.size = size;
	mail_double.last = *t;
	mail_double.last.rcpts = NULL;
	snprintf(mail_double.last_rcpt0, sizeof(mail_double.last_rcpt0), "%s",
	         t->nrcpt ? t->rcpts[0].addr : "");
	if (mail_double.accept_code || mail_double.accept_rc) {
		reply->code = mail_double.accept_code;
		snprintf(reply->text, sizeof(reply->text), "%s",
		         mail_double.accept_code >= 500 ? "5.7.1 virus found" : "4.3.0 store busy");
		return mail_double.accept_rc;
	}
	mail_double.accepts++;
	reply->code = 250;
	snprintf(reply->text, sizeof(reply->text), "2.0.0 Ok: queued as %d", mail_double.accepts);
	return 0;
}

int mail_accept_mem(struct mail *m, struct mail_txn *t, const char *data, int64_t size,
                    struct mail_reply *reply)
{
	char path[] = "/tmp/mail_double_XXXXXX";
	int fd = mkstemp(path), rc;

	/* through a file, as the double reads one; the session never wrote it */
	(void)m;
	reply->code = 0;
	if (fd < 0)
		return MC_ERR_IO;
	unlink(path);
	if (write(fd, data, (size_t)size) != (ssize_t)size) {
		close(fd);
		return MC_ERR_IO;
	}
	pthread_mutex_lock(&mail_double_mu);
	mail_double.mem_accepts++;
	rc = double_accept(t, fd, size, reply);
	pthread_mutex_unlock(&mail_double_mu);
	close(fd);
	return rc;
}

int mail_accept(struct mail *m, struct mail_txn *t, int spool_fd, int64_t size,
                struct mail_reply *reply)
{
	int rc;
	(void)m;
	reply->code = 0;
	pthread_mutex_lock(&mail_double_mu);
	rc = double_accept(t, spool_fd, size, reply);
	pthread_mutex_unlock(&mail_double_mu);
	return rc;
}

#endif
