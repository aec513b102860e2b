/* The mail pipeline; see mail.h. Checks while receiving (route, recipients, anti-virus),
 * the 250 commit, and the process worker that runs the content checks after it. */
#include "mail.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "server/config.h"
#include "server/delivery/delivery.h"
#include "server/mail/mime.h"
#include "server/mail/policy.h"
#include "server/store/store_policy.h"
#include "server/mail/process.h"
#include "server/server.h"
#include "server/store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

#define PARSED_MAX   1024               /* parses kept for the process worker */
#define PARSED_BYTES (32 * 1024 * 1024) /* and the message bytes behind them */

struct parsed {
	int64_t id; /* the message */
	struct mime_msg *mm;
};

struct mail {
	struct server *srv;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, kicked;
	/* receipt parses of accepted messages, for the process worker (mail_parsed_take);
	 * under mu */
	struct parsed parsed[PARSED_MAX];
	int nparsed;
	int64_t parsed_bytes;
};

/* ---- threads ---- */

void mail_thread_nice(const struct config *cfg)
{
	static atomic_int warned;

	if (!cfg || cfg->mail_nice <= 0)
		return;
	/* PRIO_PROCESS with a thread id sets that thread's nice only (Linux) */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), cfg->mail_nice) != 0 &&
	    atomic_exchange(&warned, 1) == 0)
		log_warn("msg=\"cannot lower the mail threads' priority\" nice=%d error=\"%s\"",
		         cfg->mail_nice, strerror(errno));
}

/* ---- parses handed on ---- */

/* Keeps mm (the receipt's parse of message id) for the process worker, or frees it when
 * nothing will take it (no worker) or the cache is full. When it is full the newest parse
 * is the one dropped: the worker takes the oldest messages first, and their parses are
 * what it finds here; the dropped one is parsed again from the store. */
static void mail_parsed_put(struct mail *m, int64_t id, struct mime_msg *mm)
{
	int kept = 0;

	if (!mm)
		return;
	pthread_mutex_lock(&m->mu);
	if (m->started && !m->stop && m->nparsed < PARSED_MAX &&
	    m->parsed_bytes + mm->size <= PARSED_BYTES) {
		m->parsed[m->nparsed].id = id;
		m->parsed[m->nparsed].mm = mm;
		m->nparsed++;
		m->parsed_bytes += mm->size;
		kept = 1;
	}
	pthread_mutex_unlock(&m->mu);
	if (!kept)
		mime_msg_free(mm);
}

struct mime_msg *mail_parsed_take(struct mail *m, int64_t id)
{
	struct mime_msg *mm = NULL;

	if (!m)
		return NULL;
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->nparsed; i++) {
		if (m->parsed[i].id != id)
			continue;
		mm = m->parsed[i].mm;
		m->parsed_bytes -= mm->size;
		m->parsed[i] = m->parsed[--m->nparsed];
		break;
	}
	pthread_mutex_unlock(&m->mu);
	return mm;
}

/* ---- transactions ---- */

int mail_txn_init(struct mail_txn *t, int max_rcpts)
{
	memset(t, 0, sizeof(*t));
	t->cap = max_rcpts > 0 ? max_rcpts : 1;
	t->rcpts = calloc((size_t)t->cap, sizeof(*t->rcpts));
	return t->rcpts ? 0 : MC_ERR_NOMEM;
}

void mail_txn_reset(struct mail_txn *t)
{
	t->env_from[0] = '\0';
	t->account_id = 0;
	t->route = MAIL_INBOUND;
	t->nrcpt = 0;
}

void mail_txn_release(struct mail_txn *t)
{
	free(t->rcpts);
	t->rcpts = NULL;
	t->cap = t->nrcpt = 0;
}

/* ---- replies ---- */

static int reply(struct mail_reply *r, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int reply(struct mail_reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	return 0;
}

/* A lookup that failed: never a 5xx (a store hiccup must not bounce mail). */
static int tempfail(struct mail_reply *r, const struct err *e)
{
	char q[400];

	log_warn("msg=\"mail check failed\" error=%s",
	         log_quote(e && e->msg[0] ? e->msg : "store", q, sizeof(q)));
	return reply(r, 451, "4.3.0 temporary failure, please try again later");
}

/* ---- addresses ---- */

/* Splits addr at its last '@' into a lower-case domain; 0 or MC_ERR_INVALID. */
static int addr_domain(const char *addr, char *domain, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t n;

	if (!at || at == addr || !at[1])
		return MC_ERR_INVALID;
	n = strlen(at + 1);
	if (n >= size)
		return MC_ERR_INVALID;
	for (size_t i = 0; i <= n; i++) {
		char c = at[1 + i];
		domain[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (n && domain[n - 1] == '.')
		domain[n - 1] = '\0';
	return 0;
}

static int addr_valid(const char *addr)
{
	size_t n = strlen(addr);
	if (n == 0 || n >= MAIL_ADDR_SIZE)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)addr[i] <= ' ' || addr[i] == '<' || addr[i] == '>')
			return 0;
	return 1;
}

/* 1 if ip is in the account's outbound relay list (exact addresses or CIDR prefixes). */
struct relay_match {
	const char *ip;
	int hit;
};

static int cidr_contains(const char *cidr, const char *ip)
{
	unsigned char a[16], b[16];
	char net[64];
	const char *slash = strchr(cidr, '/');
	size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET, bits, len;

	if (n >= sizeof(net))
		return 0;
	memcpy(net, cidr, n);
	net[n] = '\0';
	len = fam == AF_INET ? 4 : 16;
	if (inet_pton(fam, net, a) != 1 || inet_pton(fam, ip, b) != 1)
		return 0;
	bits = slash ? (int)strtol(slash + 1, NULL, 10) : len * 8;
	if (bits < 0 || bits > len * 8)
		return 0;
	for (int i = 0; i < len && bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((a[i] & mask) != (b[i] & mask))
			return 0;
	}
	return 1;
}

static int relay_cb(void *arg, const char *cidr)
{
	struct relay_match *m = arg;
	if (cidr_contains(cidr, m->ip)) {
		m->hit = 1;
		return 1;
	}
	return 0;
}

static void new_acode(char out[MAIL_ACODE_SIZE]);

/* ---- the checks while receiving ---- */

int mail_check_sender(struct mail *m, struct mail_txn *t, const char *from, struct mail_reply *r)
{
	(void)m;
	memset(r, 0, sizeof(*r));
	if (*from && !addr_valid(from))
		return reply(r, 501, "5.1.7 bad sender address syntax");
	snprintf(t->env_from, sizeof(t->env_from), "%s", from);
	return 0;
}

/* Does the recipient exist as a user of the account (inboundType known)? */
static int known_user(struct store *st, int64_t account_id, const char *rcpt, int *known,
                      struct err *e)
{
	struct user u;
	char lower[MAIL_ADDR_SIZE];
	int rc;

	snprintf(lower, sizeof(lower), "%s", rcpt);
	for (char *p = lower; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	rc = store_user_get_by_email(st, lower, &u, e);
	if (rc == MC_ERR_NOT_FOUND) {
		*known = 0;
		return 0;
	}
	if (rc)
		return rc;
	*known = u.account_id == account_id && !u.disabled;
	return 0;
}

/* The refusal of a blocked sender, recorded as a rejected message of one recipient with its
 * receipt event (Act=Rej), so tracking and the SIEM receipt log show it. A failure to record
 * is logged and does not change the answer. */
static void record_blocked(struct store *st, const struct mail_txn *t, int64_t account,
                           int32_t route, const char *rcpt, const struct policy_decision *d)
{
	struct message msg;
	struct mail_rcpt one;
	struct mail_event ev;
	struct err e = {0};
	char *json = NULL;
	json_t *o;

	memset(&msg, 0, sizeof(msg));
	memset(&one, 0, sizeof(one));
	msg.account_id = account;
	msg.route = route;
	msg.status = MSG_REJECTED;
	msg.nrcpt = 1;
	new_acode(msg.acode);
	snprintf(msg.env_from, sizeof(msg.env_from), "%s", t->env_from);
	snprintf(msg.client_ip, sizeof(msg.client_ip), "%s", t->client_ip);
	snprintf(msg.helo, sizeof(msg.helo), "%s", t->helo);
	snprintf(msg.tls_version, sizeof(msg.tls_version), "%s", t->tls_version);
	snprintf(msg.tls_cipher, sizeof(msg.tls_cipher), "%s", t->tls_cipher);
	snprintf(one.addr, sizeof(one.addr), "%s", rcpt);
	o = json_pack(
	        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Act", "Rej",
	        "aCode", msg.acode, "Dir",
	        route == MAIL_OUTBOUND   ? "Outbound"
	        : route == MAIL_INTERNAL ? "Internal"
	                                 : "Inbound",
	        "IP", t->client_ip, "Rcpt", rcpt, "Sender", t->env_from, "TlsVer", t->tls_version,
	        "Cphr", t->tls_cipher, "RejType", "Blocked Sender", "RejCode", "550", "RejInfo",
	        d->kind == POLICY_MANAGED_SENDER ? "Sender blocked by a managed sender entry"
	                                         : "Sender blocked by a blocked senders policy",
	        "Error", "5.7.1 sender blocked by policy");
	if (o)
		json = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	ev.type = "receipt";
	ev.data = json;
	if (!json || store_message_accept(st, &msg, &one, 1, &ev, 1, &e) != 0) {
		char q[400];

		log_warn("msg=\"cannot record a blocked sender\" error=%s",
		         log_quote(e.msg[0] ? e.msg : "no message", q, sizeof(q)));
	}
	free(json);
	message_release(&msg);
}

/* A blocked-sender policy that matches (sender, rcpt) in account: 550 5.7.1 and the
 * refusal recorded; a store failure is a 451. Read from the store on every call. */
static int sender_policy_check(struct store *st, const struct mail_txn *t, int64_t account,
                               int32_t route, const char *rcpt, struct mail_reply *r)
{
	struct policy_decision d;
	struct err e = {0};

	if (policy_evaluate(st, account, t->env_from, rcpt, now_ms(), &d, &e) != 0)
		return tempfail(r, &e);
	if (d.verdict != POLICY_VERDICT_BLOCK)
		return 0;
	record_blocked(st, t, account, route, rcpt, &d);
	log_info("msg=\"sender blocked by policy\" sender=\"%s\" rcpt=\"%s\" policy=%lld",
	         t->env_from, rcpt, (long long)d.policy_id);
	return reply(r, 550, "5.7.1 <%s>: sender blocked by policy", t->env_from);
}

int mail_check_rcpt(struct mail *m, struct mail_txn *t, const char *rcpt, struct mail_reply *r)
{
	struct store *st = m->srv->store;
	struct mail_domain to, from;
	char to_dom[256], from_dom[256];
	int32_t route;
	int64_t account, domain_id = 0;
	struct err e = {0};
	int rc;

	memset(r, 0, sizeof(*r));
	if (!addr_valid(rcpt) || addr_domain(rcpt, to_dom, sizeof(to_dom)) != 0)
		return reply(r, 501, "5.1.3 bad recipient address syntax");
	if (t->nrcpt >= t->cap)
		return reply(r, 452, "4.5.3 too many recipients");

	rc = store_mail_domain(st, to_dom, &to, &e);
	if (rc && rc != MC_ERR_NOT_FOUND)
		return tempfail(r, &e);
	if (rc == 0) {
		/* inbound, or internal when the sender is of the same account */
		account = to.account_id;
		domain_id = to.domain_id;
		route = MAIL_INBOUND;
		if (*t->env_from && addr_domain(t->env_from, from_dom, sizeof(from_dom)) == 0) {
			rc = store_mail_domain(st, from_dom, &from, &e);
			if (rc && rc != MC_ERR_NOT_FOUND)
				return tempfail(r, &e);
			if (rc == 0 && from.account_id == account)
				route = MAIL_INTERNAL;
		}
		if (!strcmp(to.inbound_type, "known")) {
			int known = 0;
			if (known_user(st, account, rcpt, &known, &e) != 0)
				return tempfail(r, &e);
			if (!known)
				return reply(r, 550, "5.1.1 <%s>: unknown user", rcpt);
		}
	} else {
		/* outbound: the sender's domain is internal and the client one of its relays */
		struct relay_match rm = {t->client_ip, 0};
		if (!*t->env_from || addr_domain(t->env_from, from_dom, sizeof(from_dom)) != 0)
			return reply(r, 550, "5.7.1 relay denied");
		rc = store_mail_domain(st, from_dom, &from, &e);
		if (rc == MC_ERR_NOT_FOUND)
			return reply(r, 550, "5.7.1 relay denied");
		if (rc)
			return tempfail(r, &e);
		if (store_relay_list(st, from.account_id, relay_cb, &rm, &e) < 0)
			return tempfail(r, &e);
		if (!rm.hit)
			return reply(r, 550, "5.7.1 relay denied");
		account = from.account_id;
		route = MAIL_OUTBOUND;
	}
	if (t->nrcpt && account != t->account_id)
		/* one message belongs to one account: the client sends the rest again */
		return reply(r, 452, "4.5.3 recipients of another customer: send them separately");
	/* blocked-sender policies (§18): the sender and this recipient are both known now */
	rc = sender_policy_check(st, t, account, route, rcpt, r);
	if (rc || r->code)
		return rc;
	if (!t->nrcpt) {
		t->account_id = account;
		t->route = route;
	} else if (t->route != route) {
		t->route = t->route == MAIL_OUTBOUND || route == MAIL_OUTBOUND ? MAIL_OUTBOUND
		                                                               : MAIL_INBOUND;
	}
	memset(&t->rcpts[t->nrcpt], 0, sizeof(t->rcpts[0]));
	snprintf(t->rcpts[t->nrcpt].addr, sizeof(t->rcpts[0].addr), "%s", rcpt);
	t->rcpts[t->nrcpt].domain_id = domain_id;
	t->nrcpt++;
	return 0;
}

/* ---- the end of DATA ---- */

static void new_acode(char out[MAIL_ACODE_SIZE])
{
	unsigned char raw[16];
	random_bytes(RND_MESSAGE, raw, sizeof(raw));
	b64url_encode(raw, sizeof(raw), out); /* 22 characters, as the real aCode */
}

/* Reads the spool into memory: the message is bounded by smtp_max_size. */
static int slurp(int fd, int64_t size, char **out)
{
	char *p = malloc((size_t)size + 1);
	size_t got = 0;

	if (!p)
		return MC_ERR_NOMEM;
	while (got < (size_t)size) {
		ssize_t n = pread(fd, p + got, (size_t)size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return MC_ERR_IO;
		}
		got += (size_t)n;
	}
	p[got] = '\0';
	*out = p;
	return 0;
}

/* The receipt events: one per recipient, as the real SIEM receipt log has them. */
static int receipt_events(const struct mail_txn *t, const struct message *msg, const char *act,
                          const char *rej_type, const char *rej_info, const char *virus,
                          char **json, struct mail_event *ev, int max)
{
	int n = 0;

	for (int i = 0; i < t->nrcpt && n < max; i++) {
		json_t *o = json_pack(
		        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "Act", act,
		        "aCode", msg->acode, "Dir",
		        t->route == MAIL_OUTBOUND   ? "Outbound"
		        : t->route == MAIL_INTERNAL ? "Internal"
		                                    : "Inbound",
		        "IP", t->client_ip, "MsgId", msg->msg_id, "Rcpt", t->rcpts[i].addr,
		        "Sender", t->env_from, "headerFrom", msg->from_addr, "SpamScore", 0,
		        "Subject", msg->subject, "TlsVer", t->tls_version, "Cphr", t->tls_cipher);
		if (!o)
			return MC_ERR_NOMEM;
		if (rej_type) {
			json_object_set_new(o, "RejType", json_string(rej_type));
			json_object_set_new(o, "RejCode", json_string("554"));
			json_object_set_new(o, "RejInfo", json_string(rej_info ? rej_info : ""));
		}
		if (virus)
			json_object_set_new(o, "Virus", json_string(virus));
		json[n] = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (!json[n])
			return MC_ERR_NOMEM;
		ev[n].type = "receipt";
		ev[n].data = json[n];
		n++;
	}
	return n;
}

/* The SIEM av event of a message refused for a virus, as ev[n]: n + 1, or MC_ERR_NOMEM. */
static int av_event(const struct mail_txn *t, const struct message *msg, const char *virus,
                    char **json, struct mail_event *ev, int n)
{
	json_t *o =
	        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "aCode", msg->acode,
	                  "IP", t->client_ip, "MsgId", msg->msg_id, "Route",
	                  t->route == MAIL_OUTBOUND   ? "Outbound"
	                  : t->route == MAIL_INTERNAL ? "Internal"
	                                              : "Inbound",
	                  "Sender", t->env_from, "Recipient", t->nrcpt ? t->rcpts[0].addr : "",
	                  "Subject", msg->subject, "Virus", virus, "Size", (json_int_t)msg->size);

	json[n] = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!json[n])
		return MC_ERR_NOMEM;
	ev[n].type = "av";
	ev[n].data = json[n];
	return n + 1;
}

/* mail_accept of the message in raw[0..size) (NUL-terminated, malloc'd; NULL: out of memory
 * or unreadable, a 451), which it frees. */
static int accept_raw(struct mail *m, struct mail_txn *t, char *raw, int64_t size,
                      struct mail_reply *r)
{
	struct server *srv = m->srv;
	struct message msg;
	struct mail_event *ev = NULL;
	char **json = NULL;
	struct process_intake in;
	struct err e = {0};
	int nev = 0;

	memset(r, 0, sizeof(*r));
	memset(&msg, 0, sizeof(msg));
	memset(&in, 0, sizeof(in));
	if (t->nrcpt == 0) {
		free(raw);
		return reply(r, 554, "5.5.1 no valid recipients");
	}
	/* one receipt event per recipient, and an av event for a virus */
	ev = calloc((size_t)t->nrcpt + 1, sizeof(*ev));
	json = calloc((size_t)t->nrcpt + 1, sizeof(*json));
	if (!ev || !json || !raw) {
		reply(r, 451, "4.3.0 temporary failure, please try again later");
		goto out;
	}
	msg.account_id = t->account_id;
	msg.size = size;
	msg.route = t->route;
	msg.nrcpt = t->nrcpt;
	new_acode(msg.acode);
	snprintf(msg.env_from, sizeof(msg.env_from), "%s", t->env_from);
	snprintf(msg.client_ip, sizeof(msg.client_ip), "%s", t->client_ip);
	snprintf(msg.helo, sizeof(msg.helo), "%s", t->helo);
	snprintf(msg.tls_version, sizeof(msg.tls_version), "%s", t->tls_version);
	snprintf(msg.tls_cipher, sizeof(msg.tls_cipher), "%s", t->tls_cipher);

	/* receipt-time content checks: the anti-virus scan, on the decoded parts */
	process_intake_scan(srv, raw, (size_t)size, &msg, &in);
	if (in.virus[0]) {
		char info[160];
		snprintf(info, sizeof(info), "virus detected: %s", in.virus);
		msg.status = MSG_REJECTED;
		nev = receipt_events(t, &msg, "Rej", "Virus Signature Detected", info, in.virus,
		                     json, ev, t->nrcpt);
		if (nev >= 0)
			nev = av_event(t, &msg, in.virus, json, ev, nev);
		if (nev < 0 ||
		    store_message_accept(srv->store, &msg, t->rcpts, t->nrcpt, ev, nev, &e) != 0) {
			char q[400];

			log_warn("msg=\"cannot record a rejected message\" error=%s",
			         log_quote(e.msg[0] ? e.msg : "no message", q, sizeof(q)));
		}
		reply(r, 554, "5.7.1 message rejected: virus %s detected", in.virus);
		goto out;
	}
	msg.status = MSG_RECEIVED;
	nev = receipt_events(t, &msg, "Acc", NULL, NULL, NULL, json, ev, t->nrcpt);
	/* the bytes already read for the scan are the body: a small one goes in the accept's
	 * own durable commit, a large one in chunks before it (store_message_accept_body) */
	if (nev < 0 || store_message_accept_body(srv->store, &msg, raw, (size_t)size, t->rcpts,
	                                         t->nrcpt, ev, nev, &e) != 0) {
		/* nothing is left behind: a body without a message is garbage (store_mail_gc) */
		tempfail(r, &e);
		goto out;
	}
	reply(r, 250, "2.0.0 Ok: queued as %s", msg.acode);
	mail_parsed_put(m, msg.id, in.mm);
	in.mm = NULL;
	mail_kick(m);
out:
	process_intake_release(&in);
	for (int i = 0; json && i <= t->nrcpt; i++)
		free(json[i]);
	free(json);
	free(ev);
	free(raw);
	message_release(&msg);
	return 0;
}

int mail_accept(struct mail *m, struct mail_txn *t, int spool_fd, int64_t size,
                struct mail_reply *r)
{
	char *raw = NULL;

	if (t->nrcpt > 0 && slurp(spool_fd, size, &raw) != 0)
		raw = NULL;
	return accept_raw(m, t, raw, size, r);
}

int mail_accept_mem(struct mail *m, struct mail_txn *t, const char *data, int64_t size,
                    struct mail_reply *r)
{
	char *raw = size >= 0 ? malloc((size_t)size + 1) : NULL;

	if (raw) {
		memcpy(raw, data, (size_t)size);
		raw[size] = '\0';
	}
	return accept_raw(m, t, raw, size, r);
}

/* ---- the process worker ---- */

/* Hourly, from the process worker: bodies nothing claimed, and mail past its retention. */
static void housekeeping(struct mail *m, int64_t *last)
{
	int64_t now = now_ms();
	struct err e = {0};

	if (now - *last < 3600000)
		return;
	*last = now;
	if (store_mail_gc(m->srv->store, now, (int64_t)m->srv->cfg->mail_retention_days * 86400000,
	                  &e) != 0) {
		char q[400];

		log_warn("msg=\"mail purge failed\" error=%s",
		         log_quote(e.msg[0] ? e.msg : "no message", q, sizeof(q)));
	}
}

static void *worker(void *arg)
{
	struct mail *m = arg;
	int64_t last_gc = now_ms() - 3600000 + 60000; /* the first a minute after start */

	mail_thread_nice(m->srv->cfg);
	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		int did;
		m->kicked = 0;
		pthread_mutex_unlock(&m->mu);
		housekeeping(m, &last_gc);
		did = process_one(m->srv, m);
		if (did > 0 && m->srv->delivery)
			delivery_kick(m->srv->delivery);
		pthread_mutex_lock(&m->mu);
		if (did <= 0 && !m->kicked && !m->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec +=
			        1; /* also picks up leases that ran out, and other nodes' mail */
			pthread_cond_timedwait(&m->cv, &m->mu, &ts);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

struct mail *mail_open(struct server *srv, struct err *e)
{
	struct mail *m = calloc(1, sizeof(*m));

	if (!m) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	m->srv = srv;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	return m;
}

struct mail *mail_start(struct server *srv, struct err *e)
{
	struct mail *m = mail_open(srv, e);

	if (!m)
		return NULL;
	if (pthread_create(&m->thread, NULL, worker, m) != 0) {
		err_set(e, MC_ERR_IO, "cannot start the mail worker");
		mail_stop(m);
		return NULL;
	}
	m->started = 1;
	return m;
}

void mail_kick(struct mail *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->kicked = 1;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void mail_stop(struct mail *m)
{
	if (!m)
		return;
	if (m->started) {
		pthread_mutex_lock(&m->mu);
		m->stop = 1;
		pthread_cond_signal(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	for (int i = 0; i < m->nparsed; i++)
		mime_msg_free(m->parsed[i].mm);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
