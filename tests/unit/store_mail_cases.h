/* The cases of the mail store (store_mail.h), shared by test_store_mail.c (SQLite) and
 * test_store_mail_pg.c (PostgreSQL): each includes this file once and calls mail_cases()
 * with an open store and a way to run raw SQL on its database (statements written in the
 * dialect both understand). Covered: routes and relay addresses, bodies in chunks, accept,
 * the process lease, delivery leases and outcomes with the one-time bounce flag and lost
 * leases, hold release/reject (twice, racing threads, in the caller's transaction), every
 * list filter with keyset pages both ways, hold summaries, queue counts, the purge, and
 * concurrent accepts from many threads (mail_threads; also the accepts/s figure). */
#ifndef MCAPI_TESTS_STORE_MAIL_CASES_H
#define MCAPI_TESTS_STORE_MAIL_CASES_H

#include "common/date.h"
#include "common/err.h"
#include "server/store/store.h"
#include "server/store/store_domain.h"
#include "server/store/store_mail.h"
#include "server/store/store_siem.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct mail_backend {
	const char *name;
	int64_t (*raw_int)(const char *sql); /* one integer, -1 on error */
	int (*raw_exec)(const char *sql);    /* 0 on success */
};

static const struct mail_backend *mb;

static int64_t raw_intf(const char *fmt, long long a)
{
	char sql[512];

	snprintf(sql, sizeof(sql), fmt, a);
	return mb->raw_int(sql);
}

static int raw_execf(const char *fmt, long long a, long long b)
{
	char sql[512];

	snprintf(sql, sizeof(sql), fmt, a, b);
	return mb->raw_exec(sql);
}

static int64_t new_account(struct store *st, const char *name)
{
	struct account a;
	struct err e;

	store_account_init(&a);
	snprintf(a.name, sizeof(a.name), "%s", name);
	snprintf(a.region, sizeof(a.region), "eu");
	CHECK_INT(store_account_create(st, &a, &e), 0);
	return a.id;
}

static int64_t new_domain(struct store *st, int64_t acct, const char *name, int state)
{
	struct domain d;
	struct err e;

	memset(&d, 0, sizeof(d));
	d.account_id = acct;
	snprintf(d.name, sizeof(d.name), "%s", name);
	d.state = state;
	memcpy(d.inbound_type, "any", 4);
	if (state == DOMAIN_PENDING) {
		snprintf(d.token, sizeof(d.token), "tok");
		d.expiry = now_ms() + 3600000;
	}
	CHECK_INT(store_domain_create(st, &d, &e), 0);
	return d.row;
}

/* A temporary file holding n bytes of a pattern, at offset 0. */
static int body_file(size_t n, unsigned seed)
{
	FILE *f = tmpfile();
	int fd;

	if (!f)
		return -1;
	fd = dup(fileno(f));
	fclose(f);
	for (size_t i = 0; i < n;) {
		char buf[4096];
		size_t k = n - i < sizeof(buf) ? n - i : sizeof(buf);
		for (size_t j = 0; j < k; j++)
			buf[j] = (char)((i + j) * 31u + seed);
		if (write(fd, buf, k) != (ssize_t)k) {
			close(fd);
			return -1;
		}
		i += k;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static int64_t put_body(struct store *st, size_t n, unsigned seed)
{
	int64_t id = 0;
	struct err e;
	int fd = body_file(n, seed);

	CHECK(fd >= 0);
	CHECK_INT(store_body_put(st, fd, (int64_t)n, &id, &e), 0);
	close(fd);
	return id;
}

struct msg_spec {
	int64_t account_id;
	int64_t received; /* 0 = now */
	int route;
	int status; /* MSG_RECEIVED or MSG_REJECTED */
	const char *env_from, *from_addr, *subject, *ip, *msg_id;
	const char *rcpt[3];
	int64_t domain_id;
	int with_body;
};

static int64_t accept_msg(struct store *st, const struct msg_spec *s, struct message *out)
{
	struct mail_rcpt r[3];
	struct mail_event ev[2] = {{"receipt", "{\"Act\":\"Acc\",\"Subject\":\"x\"}"},
	                           {"process", "{\"Act\":\"Acc\"}"}};
	struct message m;
	struct err e;
	int n = 0, rc;

	memset(&m, 0, sizeof(m));
	m.account_id = s->account_id;
	m.received = s->received;
	m.route = s->route;
	m.status = s->status;
	m.size = 100;
	snprintf(m.env_from, sizeof(m.env_from), "%s", s->env_from ? s->env_from : "");
	snprintf(m.from_addr, sizeof(m.from_addr), "%s", s->from_addr ? s->from_addr : "");
	snprintf(m.subject, sizeof(m.subject), "%s", s->subject ? s->subject : "");
	snprintf(m.client_ip, sizeof(m.client_ip), "%s", s->ip ? s->ip : "192.0.2.1");
	snprintf(m.msg_id, sizeof(m.msg_id), "%s", s->msg_id ? s->msg_id : "");
	if (s->with_body)
		m.body_id = put_body(st, 1000, 1);
	memset(r, 0, sizeof(r));
	for (; n < 3 && s->rcpt[n]; n++) {
		snprintf(r[n].addr, sizeof(r[n].addr), "%s", s->rcpt[n]);
		r[n].domain_id = s->domain_id;
	}
	rc = store_message_accept(st, &m, r, n, ev, 1, &e);
	CHECK_INT(rc, 0);
	if (rc)
		printf("# accept: %s\n", e.msg);
	if (out)
		*out = m;
	return m.id;
}

static int rcpt_states[8];
static int64_t rcpt_ids[8];
static int rcpt_n;

static int rcpt_collect(void *arg, const struct mail_rcpt *r)
{
	(void)arg;
	if (rcpt_n < 8) {
		rcpt_states[rcpt_n] = r->state;
		rcpt_ids[rcpt_n] = r->id;
	}
	rcpt_n++;
	return 0;
}

static int count_rcpts(struct store *st, int64_t msg)
{
	struct err e;

	rcpt_n = 0;
	CHECK_INT(store_message_rcpts(st, msg, rcpt_collect, NULL, &e), 0);
	return rcpt_n;
}

static int msg_status(struct store *st, int64_t id)
{
	struct message m;
	struct err e;
	int s = -1;

	if (store_message_get(st, 0, id, &m, &e) == 0)
		s = m.status;
	message_release(&m);
	return s;
}

/* ---- routes and relays ---- */

struct cidrs {
	char v[8][64];
	int n;
};

static int cidr_collect(void *arg, const char *cidr)
{
	struct cidrs *c = arg;

	if (c->n < 8)
		snprintf(c->v[c->n], sizeof(c->v[0]), "%s", cidr);
	c->n++;
	return 0;
}

static void test_routes(struct store *st, int64_t a, int64_t b, int64_t dom)
{
	struct mail_domain md;
	struct cidrs c;
	struct err e;

	CHECK_INT(store_mail_domain(st, "a.example", &md, &e), 0);
	CHECK_INT(md.account_id, a);
	CHECK_INT(md.domain_id, dom);
	CHECK_STR(md.inbound_type, "any");
	CHECK_STR(md.route, "");
	CHECK_INT(store_mail_domain(st, "p.example", &md, &e), MC_ERR_NOT_FOUND); /* pending */
	CHECK_INT(store_mail_domain(st, "nope.example", &md, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_mail_domain(st, "A.example", &md, &e), MC_ERR_NOT_FOUND); /* exact */
	CHECK_INT(store_mail_domain(st, "", &md, &e), MC_ERR_NOT_FOUND);

	CHECK_INT(store_mail_set_route(st, a, "a.example", "smtp://127.0.0.1:2526", &e), 0);
	CHECK_INT(store_mail_domain(st, "a.example", &md, &e), 0);
	CHECK_STR(md.route, "smtp://127.0.0.1:2526");
	CHECK_INT(store_mail_set_route(st, a, "a.example", "ftp://x", &e), MC_ERR_INVALID);
	CHECK_INT(store_mail_set_route(st, a, "a.example", "maildir:", &e), MC_ERR_INVALID);
	CHECK_INT(store_mail_set_route(st, b, "a.example", "maildir:/x", &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_mail_set_route(st, a, "p.example", "maildir:/x", &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_mail_set_route(st, a, "a.example", "maildir:/var/mail/a", &e), 0);
	CHECK_INT(store_mail_domain(st, "a.example", &md, &e), 0);
	CHECK_STR(md.route, "maildir:/var/mail/a");

	CHECK_INT(store_relay_add(st, a, "192.0.2.7", &e), 0);
	CHECK_INT(store_relay_add(st, a, "10.1.2.3/8", &e), 0);
	CHECK_INT(store_relay_add(st, a, "2001:DB8:0:0::1/32", &e), 0);
	CHECK_INT(store_relay_add(st, a, "192.0.2.7/32", &e), MC_ERR_EXISTS); /* same address */
	CHECK_INT(store_relay_add(st, a, "10.0.0.0/8", &e), MC_ERR_EXISTS);
	CHECK_INT(store_relay_add(st, a, "300.1.1.1", &e), MC_ERR_INVALID);
	CHECK_INT(store_relay_add(st, a, "10.0.0.0/33", &e), MC_ERR_INVALID);
	CHECK_INT(store_relay_add(st, a, "10.0.0.0/", &e), MC_ERR_INVALID);
	CHECK_INT(store_relay_add(st, a, "", &e), MC_ERR_INVALID);
	CHECK_INT(store_relay_add(st, 999999, "192.0.2.8", &e), MC_ERR_NOT_FOUND);
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_relay_list(st, a, cidr_collect, &c, &e), 0);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.v[0], "10.0.0.0/8");
	CHECK_STR(c.v[1], "192.0.2.7");
	CHECK_STR(c.v[2], "2001:db8::/32");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_relay_list(st, b, cidr_collect, &c, &e), 0);
	CHECK_INT(c.n, 0);
	CHECK_INT(store_relay_remove(st, a, "10.9.9.9/8", &e), 0); /* the same network */
	CHECK_INT(store_relay_remove(st, a, "10.0.0.0/8", &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_relay_remove(st, b, "192.0.2.7", &e), MC_ERR_NOT_FOUND);
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_relay_list(st, a, cidr_collect, &c, &e), 0);
	CHECK_INT(c.n, 2);
}

/* ---- bodies ---- */

static void test_bodies(struct store *st)
{
	const size_t big = 1024 * 1024 + 123;
	int64_t id = 0, before;
	char *data = NULL;
	size_t len = 0;
	struct err e;
	int fd, ok = 1;

	id = put_body(st, big, 7);
	CHECK(id > 0);
	/* 256 KiB chunks: 4 full ones and the rest */
	CHECK_INT(raw_intf("SELECT count(*) FROM message_bodies WHERE body_id = %lld", id), 5);
	CHECK_INT(raw_intf("SELECT max(length(data)) FROM message_bodies WHERE body_id = %lld", id),
	          256 * 1024);
	CHECK_INT(store_body_get(st, id, &data, &len, &e), 0);
	CHECK_INT(len, big);
	for (size_t i = 0; data && i < big; i++)
		if (data[i] != (char)(i * 31u + 7)) {
			ok = 0;
			break;
		}
	CHECK(ok);
	free(data);

	id = put_body(st, 0, 0); /* an empty body is a body */
	CHECK(id > 0);
	CHECK_INT(store_body_get(st, id, &data, &len, &e), 0);
	CHECK_INT(len, 0);
	free(data);
	CHECK_INT(store_body_get(st, 999999999, &data, &len, &e), MC_ERR_NOT_FOUND);
	CHECK(data == NULL);

	/* a file shorter than announced: an error, and nothing left behind */
	before = mb->raw_int("SELECT count(*) FROM bodies");
	fd = body_file(300 * 1024, 1);
	CHECK_INT(store_body_put(st, fd, 600 * 1024, &id, &e), MC_ERR_IO);
	CHECK_INT(id, 0);
	close(fd);
	CHECK_INT(mb->raw_int("SELECT count(*) FROM bodies"), before);
	CHECK_INT(store_body_put(st, 0, -1, &id, &e), MC_ERR_TOO_LARGE);
}

/* store_message_accept_body: a small body (in the accept's batch on SQLite) and a large one
 * (chunks first) read back whole, claimed by their message; bad arguments refused. */
static void test_accept_body(struct store *st, int64_t a, int64_t dom)
{
	static const size_t sizes[] = {0, 10240, 64 * 1024, 64 * 1024 + 1, 700 * 1024};
	struct mail_rcpt r;
	struct err e;

	memset(&r, 0, sizeof(r));
	snprintf(r.addr, sizeof(r.addr), "body@a.example");
	r.domain_id = dom;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k], len = 0;
		char *in = malloc(n + 1), *out = NULL;
		struct message m, got;
		int ok = 1;

		for (size_t i = 0; i < n; i++)
			in[i] = (char)(i * 13u + k);
		memset(&m, 0, sizeof(m));
		m.account_id = a;
		m.route = MAIL_INBOUND;
		m.size = (int64_t)n;
		CHECK_INT(store_message_accept_body(st, &m, in, n, &r, 1, NULL, 0, &e), 0);
		CHECK(m.id > 0 && m.body_id > 0);
		CHECK_INT(store_message_get(st, a, m.id, &got, &e), 0);
		CHECK_INT(got.body_id, m.body_id);
		message_release(&got);
		CHECK_INT(mb->raw_int(
		                  "SELECT count(*) FROM bodies WHERE claimed = 0 AND size = 700 * "
		                  "1024"),
		          0);
		CHECK_INT(store_body_get(st, m.body_id, &out, &len, &e), 0);
		CHECK_INT(len, n);
		for (size_t i = 0; out && i < n; i++)
			if (out[i] != in[i]) {
				ok = 0;
				break;
			}
		CHECK(ok);
		free(out);
		/* a message has one body: it cannot be given twice */
		CHECK_INT(store_message_accept_body(st, &m, in, n, &r, 1, NULL, 0, &e),
		          MC_ERR_INVALID);
		free(in);
	}
	{
		struct message m;
		int64_t before = mb->raw_int("SELECT count(*) FROM bodies");

		memset(&m, 0, sizeof(m));
		m.account_id = 999999; /* no such account: the accept fails, no body is kept */
		m.route = MAIL_INBOUND;
		CHECK(store_message_accept_body(st, &m, "x", 1, &r, 1, NULL, 0, &e) != 0);
		CHECK_INT(m.id, 0);
		CHECK_INT(m.body_id, 0);
		CHECK_INT(mb->raw_int("SELECT count(*) FROM bodies"), before);
	}
}

/* ---- accept, process, deliver ---- */

static void test_flow(struct store *st, int64_t a, int64_t dom)
{
	struct msg_spec s = {a,
	                     0,
	                     MAIL_INBOUND,
	                     MSG_RECEIVED,
	                     "Sender@Ext.example",
	                     "sender@ext.example",
	                     "Hello",
	                     "198.51.100.9",
	                     "id1@ext.example",
	                     {"u1@a.example", "u2@a.example", NULL},
	                     0,
	                     1};
	struct delivery_job jobs[8];
	struct message m, got, leased;
	struct mail_event ev = {"delivery", "{\"Delivered\":true}"};
	struct err e;
	int64_t now = now_ms(), id, rej, body;
	int n = -1, bounce = -1;

	s.domain_id = dom;
	/* nothing waits yet */
	CHECK_INT(store_message_lease_unprocessed(st, now, 60000, &leased, &e), MC_ERR_NOT_FOUND);
	id = accept_msg(st, &s, &m);
	CHECK(id > 0);
	CHECK(m.received >= now && m.received <= now_ms());
	CHECK_INT(strlen(m.acode), 22);
	CHECK_INT(m.nrcpt, 2);
	CHECK_INT(store_message_get(st, a, id, &got, &e), 0);
	CHECK_STR(got.subject, "Hello");
	CHECK_STR(got.env_from, "Sender@Ext.example");
	CHECK_STR(got.acode, m.acode);
	CHECK_INT(got.status, MSG_RECEIVED);
	CHECK_INT(got.processed, 0);
	CHECK_INT(got.body_id, m.body_id);
	CHECK(got.attachments == NULL && got.urls == NULL);
	message_release(&got);
	CHECK_INT(store_message_get(st, a + 1000, id, &got, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(count_rcpts(st, id), 2);
	CHECK_INT(rcpt_states[0], RCPT_PENDING);
	CHECK_INT(raw_intf("SELECT count(*) FROM mail_events WHERE message_id = %lld", id), 1);

	/* the body is claimed: a second message cannot take it */
	{
		struct message m2 = m;
		struct mail_rcpt r = {0};
		snprintf(r.addr, sizeof(r.addr), "x@a.example");
		m2.id = 0;
		CHECK_INT(store_message_accept(st, &m2, &r, 1, NULL, 0, &e), MC_ERR_NOT_FOUND);
		CHECK_INT(m2.id, 0);
		m2.body_id = 0;
		m2.account_id = 999999;
		CHECK_INT(store_message_accept(st, &m2, &r, 1, NULL, 0, &e), MC_ERR_NOT_FOUND);
		m2.account_id = a;
		CHECK_INT(store_message_accept(st, &m2, &r, 0, NULL, 0, &e), MC_ERR_INVALID);
		/* not inside the caller's transaction: it is a durable commit of its own */
		CHECK_INT(store_tx_begin(st, &e), 0);
		CHECK_INT(store_message_accept(st, &m2, &r, 1, NULL, 0, &e), MC_ERR_INTERNAL);
		store_tx_rollback(st);
	}

	/* a rejected message: recorded, never processed or delivered */
	s.status = MSG_REJECTED;
	s.with_body = 0;
	rej = accept_msg(st, &s, NULL);
	CHECK_INT(msg_status(st, rej), MSG_REJECTED);
	CHECK_INT(count_rcpts(st, rej), 2);
	CHECK_INT(rcpt_states[1], RCPT_REJECTED);

	/* not processed yet: not deliverable */
	CHECK_INT(store_delivery_lease(st, now_ms(), 60000, jobs, 8, &n, &e), 0);
	CHECK_INT(n, 0);

	/* the process lease: the oldest unprocessed message, once until it runs out */
	now = now_ms();
	CHECK_INT(store_message_lease_unprocessed(st, now, 60000, &leased, &e), 0);
	CHECK_INT(leased.id, id);
	message_release(&leased);
	CHECK_INT(store_message_lease_unprocessed(st, now, 60000, &leased, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_message_lease_unprocessed(st, now + 60001, 60000, &leased, &e), 0);
	CHECK_INT(leased.id, id); /* the lease ran out: taken again */

	/* processed: deliver */
	leased.spam_score = 3;
	leased.has_attachments = 1;
	leased.attachments = strdup("[{\"name\":\"a.pdf\"}]");
	leased.urls = strdup("[\"https://x.example/\"]");
	{
		struct mail_event pev[2] = {{"process", "{\"Act\":\"Acc\"}"}, {"spam", "{}"}};
		CHECK_INT(store_message_processed(st, &leased, pev, 2, &e), 0);
		CHECK_INT(store_message_processed(st, &leased, pev, 2, &e), MC_ERR_STATE);
	}
	message_release(&leased);
	CHECK_INT(store_message_get(st, a, id, &got, &e), 0);
	CHECK_INT(got.status, MSG_PROCESSING);
	CHECK_INT(got.processed, 1);
	CHECK_INT(got.spam_score, 3);
	CHECK_STR(got.attachments, "[{\"name\":\"a.pdf\"}]");
	CHECK_STR(got.urls, "[\"https://x.example/\"]");
	message_release(&got);
	CHECK_INT(raw_intf("SELECT count(*) FROM mail_events WHERE message_id = %lld", id), 3);
	CHECK_INT(store_message_lease_unprocessed(st, now + 999999, 60000, &leased, &e),
	          MC_ERR_NOT_FOUND);

	/* delivery: both recipients leased once, with the route and the envelope */
	now = now_ms();
	CHECK_INT(store_delivery_lease(st, now, 30000, jobs, 8, &n, &e), 0);
	CHECK_INT(n, 2);
	CHECK_INT(jobs[0].rcpt.message_id, id);
	CHECK_INT(jobs[0].rcpt.state, RCPT_INFLIGHT);
	CHECK_INT(jobs[0].rcpt.lease_until, now + 30000);
	CHECK_INT(jobs[0].account_id, a);
	CHECK_INT(jobs[0].body_id, m.body_id);
	CHECK_STR(jobs[0].env_from, "Sender@Ext.example");
	CHECK_STR(jobs[0].acode, m.acode);
	CHECK_STR(jobs[0].dest, "maildir:/var/mail/a");
	CHECK_INT(jobs[1].route, MAIL_INBOUND);
	CHECK_INT(store_delivery_lease(st, now, 30000, jobs + 2, 6, &n, &e), 0);
	CHECK_INT(n, 0);

	/* one delivered; the other fails: the message bounces, and says so once */
	CHECK_INT(store_delivery_done(st, jobs[0].rcpt.id, jobs[0].rcpt.lease_until, RCPT_DELIVERED,
	                              0, "250 ok", &ev, &bounce, &e),
	          0);
	CHECK_INT(bounce, 0);
	CHECK_INT(msg_status(st, id), MSG_PROCESSING);
	CHECK_INT(store_delivery_done(st, jobs[0].rcpt.id, jobs[0].rcpt.lease_until, RCPT_DELIVERED,
	                              0, "250 ok", &ev, &bounce, &e),
	          MC_ERR_STATE); /* already recorded */
	CHECK_INT(store_delivery_done(st, jobs[1].rcpt.id, jobs[1].rcpt.lease_until + 1,
	                              RCPT_FAILED, 0, "550 no", &ev, &bounce, &e),
	          MC_ERR_STATE); /* not our lease */
	CHECK_INT(store_delivery_done(st, jobs[1].rcpt.id, jobs[1].rcpt.lease_until, RCPT_PENDING,
	                              0, "", &ev, &bounce, &e),
	          MC_ERR_INVALID);
	CHECK_INT(store_delivery_done(st, 999999999, 1, RCPT_FAILED, 0, "", NULL, &bounce, &e),
	          MC_ERR_NOT_FOUND);
	CHECK_INT(store_delivery_done(st, jobs[1].rcpt.id, jobs[1].rcpt.lease_until, RCPT_FAILED, 0,
	                              "550 5.1.1 unknown", &ev, &bounce, &e),
	          0);
	CHECK_INT(bounce, 1);
	CHECK_INT(msg_status(st, id), MSG_BOUNCED);
	CHECK_INT(count_rcpts(st, id), 2);
	CHECK_INT(rcpt_states[0], RCPT_DELIVERED);
	CHECK_INT(rcpt_states[1], RCPT_FAILED);
	CHECK_INT(raw_intf("SELECT attempts FROM recipients WHERE id = %lld", jobs[1].rcpt.id), 1);
	CHECK_INT(raw_intf("SELECT count(*) FROM mail_events WHERE message_id = %lld", id), 5);

	/* deferred, then a lost lease: the worker that lost it cannot write */
	s.status = MSG_RECEIVED;
	s.with_body = 1;
	s.rcpt[1] = NULL;
	id = accept_msg(st, &s, &m);
	body = m.body_id;
	CHECK_INT(store_message_lease_unprocessed(st, now_ms(), 60000, &leased, &e), 0);
	CHECK_INT(leased.id, id);
	CHECK_INT(store_message_processed(st, &leased, NULL, 0, &e), 0);
	message_release(&leased);
	now = now_ms();
	CHECK_INT(store_delivery_lease(st, now, 1000, jobs, 8, &n, &e), 0);
	CHECK_INT(n, 1);
	CHECK_INT(jobs[0].body_id, body);
	CHECK_INT(store_delivery_done(st, jobs[0].rcpt.id, jobs[0].rcpt.lease_until, RCPT_DEFERRED,
	                              now + 5000, "451 later", &ev, &bounce, &e),
	          0);
	CHECK_INT(bounce, 0);
	CHECK_INT(store_delivery_lease(st, now + 4999, 1000, jobs + 1, 1, &n, &e), 0);
	CHECK_INT(n, 0);
	CHECK_INT(store_delivery_lease(st, now + 5000, 1000, jobs + 1, 1, &n, &e), 0);
	CHECK_INT(n, 1);
	CHECK_INT(jobs[1].rcpt.attempts, 1);
	/* the worker dies: its lease runs out and another one takes the recipient */
	CHECK_INT(store_delivery_lease(st, now + 6001, 1000, jobs + 2, 1, &n, &e), 0);
	CHECK_INT(n, 1);
	CHECK_INT(jobs[2].rcpt.id, jobs[1].rcpt.id);
	CHECK_INT(store_delivery_done(st, jobs[1].rcpt.id, jobs[1].rcpt.lease_until, RCPT_DELIVERED,
	                              0, "250 ok", &ev, &bounce, &e),
	          MC_ERR_STATE);
	CHECK_INT(msg_status(st, id), MSG_PROCESSING);
	CHECK_INT(store_delivery_done(st, jobs[2].rcpt.id, jobs[2].rcpt.lease_until, RCPT_DELIVERED,
	                              0, "250 ok", &ev, &bounce, &e),
	          0);
	CHECK_INT(bounce, 0);
	CHECK_INT(msg_status(st, id), MSG_DELIVERED);
	CHECK_INT(raw_intf("SELECT attempts FROM recipients WHERE message_id = %lld", id), 2);

	/* discarded by a check: never delivered, never bounced */
	id = accept_msg(st, &s, NULL);
	CHECK_INT(store_message_lease_unprocessed(st, now_ms(), 60000, &leased, &e), 0);
	leased.status = MSG_DISCARDED;
	CHECK_INT(store_message_processed(st, &leased, NULL, 0, &e), 0);
	leased.status = MSG_BOUNCED;
	CHECK_INT(store_message_processed(st, &leased, NULL, 0, &e), MC_ERR_INVALID);
	message_release(&leased);
	CHECK_INT(msg_status(st, id), MSG_DISCARDED);
	CHECK_INT(count_rcpts(st, id), 1);
	CHECK_INT(rcpt_states[0], RCPT_REJECTED);
	CHECK_INT(store_delivery_lease(st, now_ms() + 999999, 1000, jobs, 8, &n, &e), 0);
	CHECK_INT(n, 0);
}

/* ---- the hold queue ---- */

struct race {
	struct store *st;
	int64_t account_id, id;
	int rc;
	pthread_barrier_t *go;
};

static void *race_release(void *p)
{
	struct race *r = p;
	struct err e;

	pthread_barrier_wait(r->go);
	r->rc = store_message_release_hold(r->st, r->account_id, r->id, now_ms(), NULL, &e);
	return NULL;
}

struct reasons {
	char v[4][MAIL_REASON_SIZE];
	int64_t n[4];
	int count;
};

static int reason_collect(void *arg, const char *reason, int64_t n)
{
	struct reasons *r = arg;

	if (r->count < 4) {
		snprintf(r->v[r->count], sizeof(r->v[0]), "%s", reason);
		r->n[r->count] = n;
	}
	r->count++;
	return 0;
}

/* Accepts and processes a message of account a into the hold queue with reason. */
static int64_t held_msg(struct store *st, int64_t a, int64_t dom, const char *reason)
{
	struct msg_spec s = {a,
	                     0,
	                     MAIL_INBOUND,
	                     MSG_RECEIVED,
	                     "s@ext.example",
	                     "s@ext.example",
	                     "spam",
	                     "198.51.100.1",
	                     NULL,
	                     {"u@a.example", "v@a.example", NULL},
	                     0,
	                     1};
	struct message leased;
	struct err e;
	int64_t id;

	s.domain_id = dom;
	id = accept_msg(st, &s, NULL);
	CHECK_INT(store_message_lease_unprocessed(st, now_ms(), 60000, &leased, &e), 0);
	CHECK_INT(leased.id, id);
	leased.status = MSG_HELD;
	snprintf(leased.hold_reason, sizeof(leased.hold_reason), "%s", reason);
	snprintf(leased.hold_reason_id, sizeof(leased.hold_reason_id), "MESSAGE_HOLD_APPLIED");
	CHECK_INT(store_message_processed(st, &leased, NULL, 0, &e), 0);
	message_release(&leased);
	return id;
}

static void test_hold(struct store *st, int64_t a, int64_t b, int64_t dom)
{
	struct mail_event ev = {"process", "{\"Act\":\"Rel\"}"};
	struct delivery_job jobs[8];
	struct reasons rs;
	struct message got;
	struct err e;
	int64_t h1, h2, h3, h4;
	int n = -1;

	h1 = held_msg(st, a, dom, "Relaxed Spam Detection");
	h2 = held_msg(st, a, dom, "Relaxed Spam Detection");
	h3 = held_msg(st, a, dom, "Block Dangerous File Types");
	CHECK_INT(store_message_get(st, a, h1, &got, &e), 0);
	CHECK_INT(got.status, MSG_HELD);
	CHECK(got.held > 0);
	CHECK_STR(got.hold_reason, "Relaxed Spam Detection");
	CHECK_STR(got.hold_reason_id, "MESSAGE_HOLD_APPLIED");
	message_release(&got);
	CHECK_INT(count_rcpts(st, h1), 2);
	CHECK_INT(rcpt_states[0], RCPT_HELD);
	/* held recipients are not delivered */
	CHECK_INT(store_delivery_lease(st, now_ms() + 999999, 1000, jobs, 8, &n, &e), 0);
	CHECK_INT(n, 0);

	memset(&rs, 0, sizeof(rs));
	CHECK_INT(store_hold_summary(st, a, reason_collect, &rs, &e), 0);
	CHECK_INT(rs.count, 2);
	CHECK_STR(rs.v[0], "Block Dangerous File Types");
	CHECK_INT(rs.n[0], 1);
	CHECK_STR(rs.v[1], "Relaxed Spam Detection");
	CHECK_INT(rs.n[1], 2);
	memset(&rs, 0, sizeof(rs));
	CHECK_INT(store_hold_summary(st, b, reason_collect, &rs, &e), 0);
	CHECK_INT(rs.count, 0);

	/* release once; every second action is refused */
	CHECK_INT(store_message_release_hold(st, b, h1, now_ms(), &ev, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_message_release_hold(st, a, 999999999, now_ms(), &ev, &e),
	          MC_ERR_NOT_FOUND);
	CHECK_INT(store_message_release_hold(st, a, h1, now_ms(), &ev, &e), 0);
	CHECK_INT(msg_status(st, h1), MSG_RELEASED);
	CHECK_INT(store_message_release_hold(st, a, h1, now_ms(), &ev, &e), MC_ERR_STATE);
	CHECK_INT(store_message_reject_hold(st, a, h1, now_ms(), &ev, &e), MC_ERR_STATE);
	CHECK_INT(count_rcpts(st, h1), 2);
	CHECK_INT(rcpt_states[0], RCPT_PENDING);
	CHECK_INT(raw_intf("SELECT count(*) FROM mail_events WHERE message_id = %lld AND "
	                   "type = 'process'",
	                   h1),
	          1);

	CHECK_INT(store_message_reject_hold(st, a, h3, now_ms(), NULL, &e), 0);
	CHECK_INT(msg_status(st, h3), MSG_REJECTED);
	CHECK_INT(store_message_reject_hold(st, a, h3, now_ms(), NULL, &e), MC_ERR_STATE);
	CHECK_INT(store_message_release_hold(st, a, h3, now_ms(), NULL, &e), MC_ERR_STATE);
	CHECK_INT(count_rcpts(st, h3), 2);
	CHECK_INT(rcpt_states[1], RCPT_REJECTED);
	memset(&rs, 0, sizeof(rs));
	CHECK_INT(store_hold_summary(st, a, reason_collect, &rs, &e), 0);
	CHECK_INT(rs.count, 1);
	CHECK_INT(rs.n[0], 1);

	/* the released message's recipients are delivered; the rejected one's are not */
	CHECK_INT(store_delivery_lease(st, now_ms(), 1000, jobs, 8, &n, &e), 0);
	CHECK_INT(n, 2);
	CHECK_INT(jobs[0].rcpt.message_id, h1);
	CHECK_INT(jobs[1].rcpt.message_id, h1);
	for (int i = 0; i < n; i++) {
		int bounce = -1;
		CHECK_INT(store_delivery_done(st, jobs[i].rcpt.id, jobs[i].rcpt.lease_until,
		                              RCPT_DELIVERED, 0, "250 ok", NULL, &bounce, &e),
		          0);
		CHECK_INT(bounce, 0);
	}
	CHECK_INT(msg_status(st, h1), MSG_DELIVERED);

	/* two threads release one message at once: exactly one wins */
	for (int round = 0; round < 5; round++) {
		pthread_barrier_t go;
		struct race r[2];
		pthread_t t[2];
		int64_t h = held_msg(st, a, dom, "Race");
		pthread_barrier_init(&go, NULL, 2);
		for (int i = 0; i < 2; i++) {
			r[i].st = st;
			r[i].account_id = a;
			r[i].id = h;
			r[i].rc = -999;
			r[i].go = &go;
			pthread_create(&t[i], NULL, race_release, &r[i]);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go);
		CHECK((r[0].rc == 0 && r[1].rc == MC_ERR_STATE) ||
		      (r[1].rc == 0 && r[0].rc == MC_ERR_STATE));
		CHECK_INT(store_message_reject_hold(st, a, h, now_ms(), NULL, &e), MC_ERR_STATE);
	}
	/* drain what the races released */
	do {
		CHECK_INT(store_delivery_lease(st, now_ms(), 1000, jobs, 8, &n, &e), 0);
		for (int i = 0; i < n; i++)
			CHECK_INT(store_delivery_done(st, jobs[i].rcpt.id, jobs[i].rcpt.lease_until,
			                              RCPT_DELIVERED, 0, "250", NULL, NULL, &e),
			          0);
	} while (n > 0);

	/* inside the caller's transaction, with its audit row: all or nothing */
	h4 = h2;
	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_message_release_hold(st, a, h4, now_ms(), &ev, &e), 0);
	CHECK_INT(store_auditf(st, a, "admin@a.example", "account_logs", "Message Released",
	                       now_ms(), &e, "released %lld", (long long)h4),
	          0);
	store_tx_rollback(st);
	CHECK_INT(msg_status(st, h4), MSG_HELD);
	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_message_release_hold(st, a, h4, now_ms(), &ev, &e), 0);
	CHECK_INT(store_tx_commit(st, &e), 0);
	CHECK_INT(msg_status(st, h4), MSG_RELEASED);
	do {
		CHECK_INT(store_delivery_lease(st, now_ms(), 1000, jobs, 8, &n, &e), 0);
		for (int i = 0; i < n; i++)
			CHECK_INT(store_delivery_done(st, jobs[i].rcpt.id, jobs[i].rcpt.lease_until,
			                              RCPT_DELIVERED, 0, "250", NULL, NULL, &e),
			          0);
	} while (n > 0);
}

/* ---- lists ---- */

struct ids {
	int64_t v[64];
	int64_t last_received, last_id;
	int n;
};

static int id_collect(void *arg, const struct message *m)
{
	struct ids *c = arg;

	if (c->n < 64)
		c->v[c->n] = m->id;
	c->n++;
	c->last_received = m->received;
	c->last_id = m->id;
	return 0;
}

static int list(struct store *st, const struct message_query *q, int64_t ar, int64_t ai, int limit,
                struct ids *out)
{
	struct err e;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_message_list(st, q, ar, ai, limit, id_collect, out, &e);
	if (rc)
		printf("# list: %s\n", e.msg);
	return rc;
}

#define LIST_T0 1700000000000LL

/* A query of account acct (0 = every account) over the list messages' time range. */
static void query_init(struct message_query *q, int64_t acct)
{
	memset(q, 0, sizeof(*q));
	q->account_id = acct;
	q->status = -1;
	q->route = -1;
	q->from_time = LIST_T0;
	q->to_time = LIST_T0 + 1000000;
}

struct qc {
	int64_t n[3][5];
	int calls;
};

static int qc_collect(void *arg, int route, const char *bucket, int64_t k)
{
	static const char *const names[] = {"pending", "deferred", "delivered", "failed", "held"};
	struct qc *qc = arg;

	qc->calls++;
	for (int i = 0; i < 5; i++)
		if (!strcmp(bucket, names[i]) && route >= 0 && route < 3)
			qc->n[route][i] += k;
	return 0;
}

static void test_lists(struct store *st, int64_t c, int64_t other, int64_t dom)
{
	const int64_t t0 = LIST_T0;
	struct message_query q;
	struct ids got;
	int64_t id[24], held1, held2, proc, body5 = 0, body10 = 0;
	struct delivery_job jobs[4];
	struct message leased, m;
	struct qc qc;
	struct err e;
	int n = 0, pages = 0, seen = 0, ok = 1;

	/* two held messages, received now (outside the range of the others) */
	held1 = held_msg(st, c, dom, "Relaxed Spam Detection");
	held2 = held_msg(st, c, dom, "Attachment");

	/* 20 messages, 10 s apart, the last two at the same time (the id breaks the tie) */
	for (int i = 0; i < 20; i++) {
		char from[64], subj[64], ip[32], mid[64];
		struct msg_spec s = {c,     t0 + (i < 19 ? i : 18) * 10000,
		                     i % 3, MSG_RECEIVED,
		                     from,  from,
		                     subj,  ip,
		                     mid,   {"r@c.example", NULL, NULL},
		                     dom,   i % 5 == 0};
		snprintf(from, sizeof(from), "%s@ext.example", i % 2 ? "odd" : "even");
		snprintf(subj, sizeof(subj), "Report number %d", i);
		snprintf(ip, sizeof(ip), "203.0.113.%d", i % 4);
		snprintf(mid, sizeof(mid), "m%d@ext.example", i);
		if (i == 5)
			s.rcpt[1] = "Special@C.example";
		if (i == 6) {
			s.env_from = "bounce@list.example";
			s.from_addr = "Header@Ext.example";
		}
		id[i] = accept_msg(st, &s, &m);
		if (i == 5)
			body5 = m.body_id;
		if (i == 10)
			body10 = m.body_id;
	}
	CHECK(body5 > 0 && body10 > 0);
	/* another account's message in the same time range */
	{
		struct msg_spec s = {other,
		                     t0 + 50000,
		                     0,
		                     MSG_RECEIVED,
		                     "odd@ext.example",
		                     "",
		                     "Report number 5",
		                     "203.0.113.1",
		                     "m5@ext.example",
		                     {"r@o.example", NULL, NULL},
		                     0,
		                     0};
		id[20] = accept_msg(st, &s, NULL);
	}

	/* pages newest first, 7 at a time, until the end: every message once, in order */
	query_init(&q, c);
	{
		int64_t ar = 0, ai = 0, prev_r = INT64_MAX, prev_i = INT64_MAX;
		do {
			CHECK_INT(list(st, &q, ar, ai, 7, &got), 0);
			for (int i = 0; i < got.n; i++) {
				struct message g;
				CHECK_INT(store_message_get(st, c, got.v[i], &g, &e), 0);
				if (g.received > prev_r || (g.received == prev_r && g.id >= prev_i))
					ok = 0;
				prev_r = g.received;
				prev_i = g.id;
				message_release(&g);
			}
			seen += got.n;
			pages++;
			ar = got.last_received;
			ai = got.last_id;
		} while (got.n == 7);
	}
	CHECK(ok);
	CHECK_INT(seen, 20);
	CHECK_INT(pages, 3);
	CHECK_INT(list(st, &q, 0, 0, 2, &got), 0);
	CHECK_INT(got.v[0], id[19]); /* same received as 18: the larger id first */
	CHECK_INT(got.v[1], id[18]);
	q.oldest_first = 1;
	CHECK_INT(list(st, &q, 0, 0, 3, &got), 0);
	CHECK_INT(got.n, 3);
	CHECK_INT(got.v[0], id[0]);
	CHECK_INT(got.v[2], id[2]);
	CHECK_INT(list(st, &q, got.last_received, got.last_id, 100, &got), 0);
	CHECK_INT(got.n, 17);
	CHECK_INT(got.v[0], id[3]);
	CHECK_INT(got.v[16], id[19]);
	CHECK_INT(list(st, &q, 0, 0, 0, &got), 0);
	CHECK_INT(got.n, 0);

	/* each filter */
	query_init(&q, c);
	q.from_time = t0 + 30000;
	q.to_time = t0 + 60000;
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 4); /* 3, 4, 5, 6: both ends in */
	CHECK_INT(got.v[0], id[6]);
	query_init(&q, c);
	snprintf(q.from, sizeof(q.from), "ODD@ext.EXAMPLE");
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 10);
	snprintf(q.from, sizeof(q.from), "header@ext.example"); /* the header sender counts */
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 1);
	CHECK_INT(got.v[0], id[6]);
	snprintf(q.from, sizeof(q.from), "BOUNCE@list.example"); /* so does the envelope */
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 1);
	query_init(&q, c);
	snprintf(q.to, sizeof(q.to), "special@c.example");
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 1);
	CHECK_INT(got.v[0], id[5]);
	query_init(&q, c);
	snprintf(q.subject, sizeof(q.subject), "NUMBER 1");
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 11); /* 1, 10..19 */
	query_init(&q, c);
	snprintf(q.client_ip, sizeof(q.client_ip), "203.0.113.3");
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 5); /* 3, 7, 11, 15, 19 */
	query_init(&q, c);
	q.route = MAIL_OUTBOUND;
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 7); /* 1, 4, ..., 19 */
	query_init(&q, c);
	snprintf(q.msg_id, sizeof(q.msg_id), "m5@ext.example");
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 1); /* not the other account's */
	CHECK_INT(got.v[0], id[5]);
	query_init(&q, 0); /* every account */
	snprintf(q.msg_id, sizeof(q.msg_id), "m5@ext.example");
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 2);
	query_init(&q, 0);
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 21);
	q.oldest_first = 1;
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.v[0], id[0]);
	query_init(&q, c);
	snprintf(q.subject, sizeof(q.subject), "report");
	q.route = MAIL_INBOUND;
	snprintf(q.from, sizeof(q.from), "even@ext.example");
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 3); /* 0, 12, 18: 6 has other senders */
	{
		int has6 = 0;
		for (int i = 0; i < got.n; i++)
			has6 |= got.v[i] == id[6];
		CHECK(!has6);
	}

	/* the hold queue and status filters */
	query_init(&q, c);
	q.from_time = q.to_time = 0;
	q.held_only = 1;
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 2);
	CHECK_INT(got.v[0], held2);
	CHECK_INT(got.v[1], held1);
	CHECK_INT(list(st, &q, 0, 0, 1, &got), 0);
	CHECK_INT(list(st, &q, got.last_received, got.last_id, 1, &got), 0);
	CHECK_INT(got.n, 1);
	CHECK_INT(got.v[0], held1);
	snprintf(q.hold_reason, sizeof(q.hold_reason), "Attachment");
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 1);
	CHECK_INT(got.v[0], held2);
	q.status = MSG_RECEIVED; /* held and received: nothing */
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 0);
	query_init(&q, c);
	q.status = MSG_RECEIVED;
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 20);
	query_init(&q, other);
	q.from_time = q.to_time = 0;
	q.held_only = 1;
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 0);

	/* processing: a recipient deferred or in flight */
	query_init(&q, c);
	q.processing_only = 1;
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 0);
	do {
		CHECK_INT(store_message_lease_unprocessed(st, now_ms(), 60000, &leased, &e), 0);
		proc = leased.id;
		CHECK_INT(store_message_processed(st, &leased, NULL, 0, &e), 0);
		message_release(&leased);
	} while (proc != id[0] && proc > 0);
	CHECK_INT(proc, id[0]);
	CHECK_INT(store_delivery_lease(st, now_ms(), 60000, jobs, 4, &n, &e), 0);
	CHECK_INT(n, 1);
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 1);
	CHECK_INT(got.v[0], id[0]);
	CHECK_INT(store_delivery_done(st, jobs[0].rcpt.id, jobs[0].rcpt.lease_until, RCPT_DEFERRED,
	                              now_ms() + 3600000, "451 later", NULL, NULL, &e),
	          0);
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 1);
	query_init(&q, other);
	q.processing_only = 1;
	CHECK_INT(list(st, &q, 0, 0, 100, &got), 0);
	CHECK_INT(got.n, 0);

	/* queue counts: buckets per route over [from, to] */
	memset(&qc, 0, sizeof(qc));
	CHECK_INT(store_mail_queue_counts(st, c, t0, t0 + 200000, qc_collect, &qc, &e), 0);
	CHECK_INT(qc.n[MAIL_INBOUND][0], 6); /* pending */
	CHECK_INT(qc.n[MAIL_INBOUND][1], 1); /* deferred */
	CHECK_INT(qc.n[MAIL_OUTBOUND][0], 7);
	CHECK_INT(qc.n[MAIL_INTERNAL][0], 7); /* message 5 has two recipients */
	CHECK_INT(qc.n[MAIL_INBOUND][4], 0);
	CHECK_INT(qc.calls, 4);
	memset(&qc, 0, sizeof(qc));
	CHECK_INT(store_mail_queue_counts(st, c, 0, 0, qc_collect, &qc, &e), 0);
	CHECK_INT(qc.n[MAIL_INBOUND][4], 4); /* the two held messages, two recipients each */
	memset(&qc, 0, sizeof(qc));
	CHECK_INT(store_mail_queue_counts(st, other, t0, t0 + 200000, qc_collect, &qc, &e), 0);
	CHECK_INT(qc.n[MAIL_INBOUND][0], 1);
	CHECK_INT(qc.calls, 1);

	/* the purge: messages received before the cutoff with all of theirs, unclaimed bodies
	 * older than an hour; nothing else */
	{
		int64_t old_body = put_body(st, 10, 1), new_body = put_body(st, 10, 2);
		int64_t now = now_ms(), cutoff = t0 + 100000;
		CHECK_INT(raw_execf("UPDATE bodies SET created = created - 3600001 - %lld WHERE id "
		                    "= %lld",
		                    0, old_body),
		          0);
		CHECK_INT(
		        mb->raw_int("SELECT count(*) FROM messages WHERE received < 1700000100000"),
		        11);
		CHECK_INT(
		        raw_intf("SELECT count(*) FROM message_bodies WHERE body_id = %lld", body5),
		        1);
		CHECK_INT(store_mail_gc(st, now, now - cutoff, &e), 0);
		CHECK_INT(
		        mb->raw_int("SELECT count(*) FROM messages WHERE received < 1700000100000"),
		        0);
		CHECK_INT(
		        mb->raw_int("SELECT count(*) FROM messages WHERE received >= 1700000100000 "
		                    "AND received < 1700001000000"),
		        10);
		CHECK_INT(
		        raw_intf("SELECT count(*) FROM recipients WHERE message_id = %lld", id[5]),
		        0);
		CHECK_INT(
		        raw_intf("SELECT count(*) FROM mail_events WHERE message_id = %lld", id[5]),
		        0);
		CHECK_INT(
		        raw_intf("SELECT count(*) FROM recipients WHERE message_id = %lld", id[10]),
		        1);
		CHECK_INT(raw_intf("SELECT count(*) FROM mail_events WHERE message_id = %lld",
		                   id[10]),
		          1);
		CHECK_INT(raw_intf("SELECT count(*) FROM bodies WHERE id = %lld", body5), 0);
		CHECK_INT(
		        raw_intf("SELECT count(*) FROM message_bodies WHERE body_id = %lld", body5),
		        0);
		CHECK_INT(raw_intf("SELECT count(*) FROM bodies WHERE id = %lld", body10), 1);
		CHECK_INT(raw_intf("SELECT count(*) FROM bodies WHERE id = %lld", old_body), 0);
		CHECK_INT(raw_intf("SELECT count(*) FROM bodies WHERE id = %lld", new_body), 1);
		CHECK_INT(store_message_get(st, c, id[5], &leased, &e), MC_ERR_NOT_FOUND);
		CHECK_INT(store_mail_gc(st, now, 0, &e), MC_ERR_INVALID);
	}
}

/* ---- many threads ---- */

struct acceptor {
	struct store *st;
	int64_t account_id, domain_id;
	int count;
	size_t body_size;
	int64_t *ids;
	int failed;
	pthread_barrier_t *go;
};

static void *acceptor_run(void *p)
{
	struct acceptor *a = p;
	struct mail_event ev = {"receipt", "{\"Act\":\"Acc\"}"};
	struct mail_rcpt r[2];
	int fd = body_file(a->body_size, 3);

	memset(r, 0, sizeof(r));
	snprintf(r[0].addr, sizeof(r[0].addr), "one@a.example");
	snprintf(r[1].addr, sizeof(r[1].addr), "two@a.example");
	r[0].domain_id = r[1].domain_id = a->domain_id;
	pthread_barrier_wait(a->go);
	for (int i = 0; i < a->count && fd >= 0; i++) {
		struct message m;
		struct err e;
		memset(&m, 0, sizeof(m));
		m.account_id = a->account_id;
		m.size = (int64_t)a->body_size;
		snprintf(m.subject, sizeof(m.subject), "load %d", i);
		snprintf(m.env_from, sizeof(m.env_from), "load@ext.example");
		lseek(fd, 0, SEEK_SET);
		if (store_body_put(a->st, fd, (int64_t)a->body_size, &m.body_id, &e) ||
		    store_message_accept(a->st, &m, r, 2, &ev, 1, &e)) {
			printf("# accept in a thread: %s\n", e.msg);
			a->failed++;
			continue;
		}
		a->ids[i] = m.id;
	}
	if (fd >= 0)
		close(fd);
	else
		a->failed = a->count;
	return NULL;
}

static int cmp_id(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return a < b ? -1 : a > b;
}

/* nthreads threads accept per_thread messages each (bodies of body_size bytes, two
 * recipients): every accept succeeds once, with its own id, its rows all there. Returns the
 * accepts per second. */
static double mail_threads(struct store *st, int64_t acct, int64_t dom, int nthreads,
                           int per_thread, size_t body_size)
{
	struct acceptor *a = calloc((size_t)nthreads, sizeof(*a));
	int64_t *ids = calloc((size_t)nthreads * (size_t)per_thread, sizeof(*ids));
	pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
	int64_t before = mb->raw_int("SELECT count(*) FROM messages");
	int64_t total = (int64_t)nthreads * per_thread;
	struct timespec t0, t1;
	pthread_barrier_t go;
	int failed = 0, distinct = 1;
	double secs;

	if (!a || !ids || !t) {
		CHECK(0);
		return 0;
	}
	pthread_barrier_init(&go, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++) {
		a[i].st = st;
		a[i].account_id = acct;
		a[i].domain_id = dom;
		a[i].count = per_thread;
		a[i].body_size = body_size;
		a[i].ids = ids + (size_t)i * (size_t)per_thread;
		a[i].go = &go;
		pthread_create(&t[i], NULL, acceptor_run, &a[i]);
	}
	pthread_barrier_wait(&go);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		failed += a[i].failed;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_barrier_destroy(&go);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK_INT(failed, 0);
	qsort(ids, (size_t)total, sizeof(*ids), cmp_id);
	for (int64_t i = 0; i < total; i++)
		if (ids[i] <= 0 || (i && ids[i] == ids[i - 1]))
			distinct = 0;
	CHECK(distinct);
	CHECK_INT(mb->raw_int("SELECT count(*) FROM messages") - before, total);
	CHECK_INT(
	        raw_intf("SELECT count(*) FROM recipients r JOIN messages m ON m.id = r.message_id "
	                 "WHERE m.account_id = %lld",
	                 acct),
	        2 * total);
	CHECK_INT(raw_intf("SELECT count(*) FROM mail_events WHERE account_id = %lld", acct),
	          total);
	CHECK_INT(raw_intf("SELECT count(*) FROM bodies b JOIN messages m ON m.body_id = b.id "
	                   "WHERE m.account_id = %lld AND b.claimed = 1",
	                   acct),
	          total);
	free(a);
	free(ids);
	free(t);
	return secs > 0 ? (double)total / secs : 0;
}

/* ---- leases from many threads ---- */

struct worker {
	struct store *st;
	int64_t account_id, domain_id;
	int bad;          /* accepts with a body that does not exist */
	int64_t got[256]; /* accepted, leased or delivered ids */
	int n, errors;
	pthread_barrier_t *go;
};

static void *accept_worker(void *p)
{
	struct worker *w = p;
	struct mail_rcpt r[2];

	memset(r, 0, sizeof(r));
	snprintf(r[0].addr, sizeof(r[0].addr), "x@a.example");
	snprintf(r[1].addr, sizeof(r[1].addr), "y@a.example");
	r[0].domain_id = r[1].domain_id = w->domain_id;
	pthread_barrier_wait(w->go);
	for (int i = 0; i < 10; i++) {
		struct message m;
		struct err e;
		int rc;
		memset(&m, 0, sizeof(m));
		m.account_id = w->account_id;
		m.body_id = w->bad ? 999999999 : 0;
		rc = store_message_accept(w->st, &m, r, 2, NULL, 0, &e);
		if (rc == 0 && !w->bad && m.id > 0)
			w->got[w->n++] = m.id;
		else if (!(w->bad && rc == MC_ERR_NOT_FOUND && m.id == 0))
			w->errors++;
	}
	return NULL;
}

static void *process_worker(void *p)
{
	struct worker *w = p;
	struct message m;
	struct err e;
	int rc;

	pthread_barrier_wait(w->go);
	while ((rc = store_message_lease_unprocessed(w->st, now_ms(), 60000, &m, &e)) == 0) {
		if (w->n < 256)
			w->got[w->n++] = m.id;
		if (store_message_processed(w->st, &m, NULL, 0, &e) != 0)
			w->errors++;
		message_release(&m);
	}
	if (rc != MC_ERR_NOT_FOUND)
		w->errors++;
	return NULL;
}

static void *deliver_worker(void *p)
{
	struct worker *w = p;
	struct delivery_job jobs[3];
	struct err e;
	int n;

	pthread_barrier_wait(w->go);
	for (;;) {
		if (store_delivery_lease(w->st, now_ms(), 60000, jobs, 3, &n, &e) != 0) {
			w->errors++;
			break;
		}
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			if (w->n < 256)
				w->got[w->n++] = jobs[i].rcpt.id;
			if (store_delivery_done(w->st, jobs[i].rcpt.id, jobs[i].rcpt.lease_until,
			                        RCPT_DELIVERED, 0, "250", NULL, NULL, &e) != 0)
				w->errors++;
		}
	}
	return NULL;
}

/* Runs fn on 4 or 8 workers at once; returns the ids they got, sorted, in all (n of them),
 * and the sum of their errors. */
static int run_workers(struct store *st, int64_t acct, int64_t dom, int nw, int nbad,
                       void *(*fn)(void *), int64_t *all, int *n)
{
	struct worker w[8];
	pthread_t t[8];
	pthread_barrier_t go;
	int errors = 0;

	*n = 0;
	pthread_barrier_init(&go, NULL, (unsigned)nw);
	for (int i = 0; i < nw; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].st = st;
		w[i].account_id = acct;
		w[i].domain_id = dom;
		w[i].bad = i < nbad;
		w[i].go = &go;
		pthread_create(&t[i], NULL, fn, &w[i]);
	}
	for (int i = 0; i < nw; i++) {
		pthread_join(t[i], NULL);
		errors += w[i].errors;
		for (int j = 0; j < w[i].n && *n < 1024; j++)
			all[(*n)++] = w[i].got[j];
	}
	pthread_barrier_destroy(&go);
	qsort(all, (size_t)*n, sizeof(*all), cmp_id);
	return errors;
}

static int has_duplicates(const int64_t *v, int n)
{
	for (int i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			return 1;
	return 0;
}

static void test_concurrency(struct store *st, int64_t acct, int64_t dom)
{
	int64_t *accepted = calloc(1024, sizeof(int64_t)), *leased = calloc(1024, sizeof(int64_t));
	int na = 0, nl = 0, missing = 0;

	/* 6 threads accept, 2 more fail every accept of theirs in the same batches */
	CHECK_INT(run_workers(st, acct, dom, 8, 2, accept_worker, accepted, &na), 0);
	CHECK_INT(na, 60);
	CHECK(!has_duplicates(accepted, na));
	/* 4 process workers: each message processed once */
	CHECK_INT(run_workers(st, acct, dom, 4, 0, process_worker, leased, &nl), 0);
	CHECK(!has_duplicates(leased, nl));
	for (int i = 0, j = 0; i < na; i++) {
		while (j < nl && leased[j] < accepted[i])
			j++;
		missing += j == nl || leased[j] != accepted[i];
	}
	CHECK_INT(missing, 0);
	CHECK_INT(mb->raw_int("SELECT count(*) FROM messages WHERE processed = 0 AND status = 0"),
	          0);
	/* 4 delivery workers: each recipient delivered once, every message delivered */
	CHECK_INT(run_workers(st, acct, dom, 4, 0, deliver_worker, leased, &nl), 0);
	CHECK(!has_duplicates(leased, nl));
	CHECK(nl >= 2 * na);
	CHECK_INT(raw_intf("SELECT count(*) FROM messages WHERE account_id = %lld AND status <> 3",
	                   acct),
	          0);
	CHECK_INT(raw_intf("SELECT count(*) FROM recipients r JOIN messages m ON m.id = "
	                   "r.message_id WHERE m.account_id = %lld AND r.state = 2 AND "
	                   "r.attempts = 1",
	                   acct),
	          2 * na);
	free(accepted);
	free(leased);
}

/* ---- SIEM reads (store_siem.h) ---- */

struct siem_got {
	int64_t id[16], at[16];
	char data[16][64];
	int n;
};

static int siem_collect(void *arg, const struct siem_event *ev)
{
	struct siem_got *g = arg;

	if (g->n < 16) {
		g->id[g->n] = ev->id;
		g->at[g->n] = ev->at;
		snprintf(g->data[g->n], sizeof(g->data[0]), "%.*s", (int)ev->len, ev->data);
		g->n++;
	}
	return 0;
}

static int64_t siem_msg(struct store *st, int64_t acct, int64_t received, const char *t1,
                        const char *d1, const char *t2, const char *d2)
{
	struct mail_event ev[2] = {{t1, d1}, {t2, d2}};
	struct mail_rcpt r;
	struct message m;
	struct err e;

	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	m.account_id = acct;
	m.received = received;
	m.status = MSG_REJECTED;
	snprintf(r.addr, sizeof(r.addr), "x@a.example");
	CHECK_INT(store_message_accept(st, &m, &r, 1, ev, t2 ? 2 : 1, &e), 0);
	return m.id;
}

static void test_siem(struct store *st, int64_t a, int64_t other)
{
	int64_t now = now_ms(), hi0 = 0, hi = 0, next = 0, old;
	struct siem_got g;
	struct err e;

	CHECK_INT(store_siem_horizon(st, &hi0, &e), 0);
	/* one old event (before the cutoff), then a, b, c in time and id order */
	old = now - 10LL * 86400000;
	siem_msg(st, a, old, "receipt", "{\"n\":0}", NULL, NULL);
	siem_msg(st, a, now - 3000, "receipt", "{\"n\":1}", "process", "{\"n\":2}");
	siem_msg(st, other, now - 2000, "receipt", "{\"n\":99}", NULL, NULL);
	siem_msg(st, a, now - 1000, "receipt", "{\"n\":3}", "process", "{\"n\":4}");
	CHECK_INT(store_siem_horizon(st, &hi, &e), 0);
	CHECK(hi >= hi0 + 7);
	CHECK(raw_intf("SELECT max(id) FROM mail_events WHERE account_id = %lld", other) < hi);

	/* next: the first event of a type after pos, not older than the cutoff */
	CHECK_INT(store_siem_next(st, a, "receipt", 0, hi, now - 7LL * 86400000, &next, &e), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_siem_read(st, a, "receipt", 0, hi, now - 7LL * 86400000, 10, siem_collect,
	                          &g, &e),
	          0);
	CHECK_INT(g.n, 2);
	CHECK_STR(g.data[0], "{\"n\":1}");
	CHECK_STR(g.data[1], "{\"n\":3}");
	CHECK(g.id[0] == next && g.id[0] < g.id[1]);
	CHECK(g.at[0] == now - 3000);
	/* without the cutoff the old one comes first; max stops the read */
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_siem_read(st, a, "receipt", 0, hi, 0, 1, siem_collect, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.data[0], "{\"n\":0}");
	/* pos and hi bound the range on both sides */
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_siem_read(st, a, "receipt", next, hi, 0, 10, siem_collect, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.data[0], "{\"n\":3}");
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_siem_read(st, a, "receipt", 0, next, 0, 10, siem_collect, &g, &e), 0);
	CHECK_INT(g.n, 2);
	CHECK_INT(store_siem_next(st, a, "receipt", g.id[1], hi, 0, &next, &e), 0);
	CHECK(next > g.id[1]);
	CHECK_INT(store_siem_next(st, a, "receipt", hi, hi, 0, &next, &e), 0);
	CHECK_INT((int)next, 0);
	/* the other account and other types stay apart */
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_siem_read(st, other, "receipt", 0, hi, 0, 10, siem_collect, &g, &e), 0);
	CHECK_INT(g.n, 1);
	CHECK_STR(g.data[0], "{\"n\":99}");
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_siem_read(st, a, "process", 0, hi, 0, 10, siem_collect, &g, &e), 0);
	CHECK_INT(g.n, 2);
	CHECK_STR(g.data[1], "{\"n\":4}");
	CHECK_INT(store_siem_next(st, a, "ttp_url", 0, hi, 0, &next, &e), 0);
	CHECK_INT((int)next, 0);
	/* bad arguments; no reads inside a store transaction (the horizon must see commits) */
	CHECK_INT(store_siem_next(st, a, "", 0, hi, 0, &next, &e), MC_ERR_INVALID);
	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_siem_horizon(st, &hi, &e), MC_ERR_INTERNAL);
	store_tx_rollback(st);
}

/* Runs every case on st; a fresh store (no mail yet) is expected. */
static void mail_cases(struct store *st, const struct mail_backend *backend)
{
	int64_t a, b, c, o, dom, cdom;

	mb = backend;
	a = new_account(st, "Mail A");
	b = new_account(st, "Mail B");
	dom = new_domain(st, a, "a.example", DOMAIN_INTERNAL);
	new_domain(st, a, "p.example", DOMAIN_PENDING);
	test_routes(st, a, b, dom);
	test_bodies(st);
	test_flow(st, a, dom);
	test_hold(st, a, b, dom);
	c = new_account(st, "Mail C");
	o = new_account(st, "Mail O");
	cdom = new_domain(st, c, "c.example", DOMAIN_INTERNAL);
	test_lists(st, c, o, cdom);
	c = new_account(st, "Mail D");
	cdom = new_domain(st, c, "d.example", DOMAIN_INTERNAL);
	test_concurrency(st, c, cdom);
	test_siem(st, new_account(st, "Siem A"), new_account(st, "Siem B"));
	test_accept_body(st, a, dom); /* last: it leaves messages unprocessed */
}

#endif
