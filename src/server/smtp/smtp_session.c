/* The SMTP session state machine; see smtp_session.h. A command line goes: limits → verb
 * looked up in commands[] → allowed in this state (503) → argument rules (501) → handler,
 * which asks the pipeline where RFC 5321 puts a decision. Every reply leaves through
 * reply_send, which logs 4xx/5xx with the command made safe (the verb, plus the argument
 * only for commands whose argument is an address or a host name: never message text, never
 * what an unknown command carried, which may be an AUTH secret), counts errors and ends
 * the session past the limit. */
#include "smtp_session.h"

#include "server/emu/emu.h"

#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/config.h"
#include "server/mail/mail.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

enum data_err { DERR_NONE, DERR_SIZE, DERR_LINE, DERR_HOPS, DERR_IO };

struct smtp_session {
	const struct config *cfg;
	struct mail *mail;
	struct emu *emu; /* fault rules (emu/emu.h), or NULL */
	char id[13];
	char client_ip[64];
	char spool_dir[600];
	struct smtp_spool_pool *spool_pool;
	struct smtp_gate *gate;
	char helo[256];
	enum smtp_state state;
	int esmtp;         /* greeted with EHLO */
	int tls_available; /* STARTTLS may be offered */
	int tls_on;
	int ncmd;       /* commands in this transaction (accepted RCPTs not counted) */
	int ncmd_total; /* for the closing log line */
	int nerrors;    /* 4xx/5xx replies in this session */
	int nmsg;       /* messages accepted */
	char cmd[128];  /* the command being answered, made safe for logs */
	struct mail_txn txn;
	int txn_ready;
	/* the line reader */
	size_t in_start, in_end;
	int skipping; /* dropping the rest of an over-long command line */
	/* DATA */
	int spool_fd;
	int spool_dirty; /* something was written to spool_fd: empty it before reuse */
	int midline;     /* the last piece of text did not end its line */
	int prev_crlf;   /* the last line ended in CRLF (or the text just began) */
	int in_headers;  /* no empty line yet */
	int hops;        /* Received: headers seen */
	enum data_err derr;
	int64_t size;     /* text bytes as spooled (dot-unstuffed, CRLF line ends) */
	int64_t line_len; /* of the current text line */
	int64_t spooled;  /* bytes in the spool file, the Received: header included */
	size_t wlen;
	char in[SMTP_IN_SIZE];
	char wbuf[SMTP_SPOOL_BUF];
};

/* ---- replies ---- */

/* Appends one reply line "<code>[-| ]<text>\r\n" to r; control bytes of text (it may
 * carry a client's words or the pipeline's) become '?' so a reply is always one line. */
static void reply_vadd(struct smtp_reply *r, int code, int more, const char *fmt, va_list ap)
{
	char text[SMTP_REPLY_MAX];
	int n;

	vsnprintf(text, sizeof(text), fmt, ap);
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	if (r->len >= sizeof(r->text) - 8)
		return;
	n = snprintf(r->text + r->len, sizeof(r->text) - r->len, "%03d%c%s", code, more ? '-' : ' ',
	             text);
	if (n < 0)
		return;
	r->len += (size_t)n;
	if (r->len > sizeof(r->text) - 3)
		r->len = sizeof(r->text) - 3; /* truncated: keep room for the line end */
	memcpy(r->text + r->len, "\r\n", 3);
	r->len += 2;
	r->code = code;
}

__attribute__((format(printf, 4, 5))) static void reply_add(struct smtp_reply *r, int code,
                                                            int more, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_vadd(r, code, more, fmt, ap);
	va_end(ap);
}

/* The first line of r without its line end, for a log. */
static const char *first_line(const struct smtp_reply *r, char *dst, size_t size)
{
	size_t n = 0;
	while (n < r->len && r->text[n] != '\r' && n + 1 < size) {
		dst[n] = r->text[n];
		n++;
	}
	dst[n] = '\0';
	return dst;
}

static void log_reply(const char *sid, const char *ip, const char *cmd, const struct smtp_reply *r)
{
	char line[SMTP_REPLY_MAX], qi[80], qc[300], qr[SMTP_REPLY_MAX + 64];
	if (r->code >= 400)
		log_info("smtp sid=%s ip=%s cmd=%s reply=%s", sid, log_quote(ip, qi, sizeof(qi)),
		         log_quote(cmd, qc, sizeof(qc)),
		         log_quote(first_line(r, line, sizeof(line)), qr, sizeof(qr)));
	else
		log_debug("smtp sid=%s ip=%s cmd=%s reply=%s", sid, log_quote(ip, qi, sizeof(qi)),
		          log_quote(cmd, qc, sizeof(qc)),
		          log_quote(first_line(r, line, sizeof(line)), qr, sizeof(qr)));
}

static void spool_drop(struct smtp_session *s);

/* Every reply of a session goes out through here: logged, errors counted, and the session
 * ended (421 4.7.0 after the reply) once they pass smtp_max_commands. */
static enum smtp_next reply_send(struct smtp_session *s, struct smtp_reply *r, enum smtp_next next)
{
	log_reply(s->id, s->client_ip, s->cmd, r);
	if (r->code >= 400 && next != SMTP_NEXT_CLOSE && ++s->nerrors > s->cfg->smtp_max_commands) {
		reply_add(r, 421, 0, "4.7.0 %s too many errors, closing connection",
		          s->cfg->smtp_hostname);
		log_info("smtp sid=%s msg=\"too many errors\" errors=%d", s->id, s->nerrors);
		next = SMTP_NEXT_CLOSE;
	}
	if (next == SMTP_NEXT_CLOSE) {
		spool_drop(s);
		s->state = SMTP_ST_QUIT;
	}
	return next;
}

__attribute__((format(printf, 5, 6))) static enum smtp_next reply(struct smtp_session *s,
                                                                  struct smtp_reply *r,
                                                                  enum smtp_next next, int code,
                                                                  const char *fmt, ...)
{
	va_list ap;
	r->len = 0;
	va_start(ap, fmt);
	reply_vadd(r, code, 0, fmt, ap);
	va_end(ap);
	return reply_send(s, r, next);
}

/* The pipeline's answer made whole: a failure it did not answer is 451 4.3.0, a code that
 * is not an SMTP reply too. Returns 1 if it lets the command through. */
static int verdict(int rc, struct mail_reply *mr)
{
	mr->text[sizeof(mr->text) - 1] = '\0';
	if ((mr->code == 0 && rc != 0) || (mr->code != 0 && (mr->code < 200 || mr->code > 599))) {
		mr->code = 451;
		snprintf(mr->text, sizeof(mr->text), "4.3.0 temporary failure, try again later");
	}
	return mr->code == 0 || mr->code < 300;
}

static void set_state(struct smtp_session *s, enum smtp_state st)
{
	static const char *const names[] = {"init", "helo", "mail", "rcpt", "data", "quit"};
	if (s->state != st)
		log_debug("smtp sid=%s state=%s->%s", s->id, names[s->state], names[st]);
	s->state = st;
}

/* ---- the spool ---- */

/* An unlinked file in dir: O_TMPFILE where the file system has it, else mkstemp + unlink. */
static int spool_open(const char *dir)
{
	char path[700];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	if (snprintf(path, sizeof(path), "%s/smtp-XXXXXX", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

struct smtp_spool_pool {
	pthread_mutex_t mu;
	int n, max;
	char dir[600];
	int fds[];
};

struct smtp_spool_pool *smtp_spool_pool_new(const char *dir, int max)
{
	struct smtp_spool_pool *p;

	if (max < 0)
		max = 0;
	p = calloc(1, sizeof(*p) + (size_t)max * sizeof(p->fds[0]));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	p->max = max;
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	return p;
}

void smtp_spool_pool_free(struct smtp_spool_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++)
		close(p->fds[i]);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int smtp_spool_take(struct smtp_spool_pool *p)
{
	int fd = -1;

	pthread_mutex_lock(&p->mu);
	if (p->n > 0)
		fd = p->fds[--p->n];
	pthread_mutex_unlock(&p->mu);
	return fd >= 0 ? fd : spool_open(p->dir);
}

/* Keeps fd for reuse, emptied first when anything was written to it. */
static void spool_pool_put(struct smtp_spool_pool *p, int fd, int dirty)
{
	if (fd < 0)
		return;
	if (!dirty || (ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0)) {
		pthread_mutex_lock(&p->mu);
		if (p->n < p->max) {
			p->fds[p->n++] = fd;
			fd = -1;
		}
		pthread_mutex_unlock(&p->mu);
	}
	if (fd >= 0)
		close(fd);
}

void smtp_spool_give(struct smtp_spool_pool *p, int fd)
{
	spool_pool_put(p, fd, 1);
}

int smtp_spool_kept(struct smtp_spool_pool *p)
{
	int n;
	pthread_mutex_lock(&p->mu);
	n = p->n;
	pthread_mutex_unlock(&p->mu);
	return n;
}

static int spool_flush(struct smtp_session *s)
{
	size_t off = 0;
	if (s->wlen)
		s->spool_dirty = 1;
	while (off < s->wlen) {
		ssize_t w = write(s->spool_fd, s->wbuf + off, s->wlen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error("smtp sid=%s msg=\"cannot write the spool file\" error=\"%s\"",
			          s->id, strerror(w < 0 ? errno : EIO));
			s->derr = DERR_IO;
			s->wlen = 0;
			return -1;
		}
		off += (size_t)w;
	}
	s->wlen = 0;
	return 0;
}

static void spool_put(struct smtp_session *s, const char *p, size_t n)
{
	while (n > 0 && s->derr == DERR_NONE) {
		size_t k = sizeof(s->wbuf) - s->wlen;
		if (k > n)
			k = n;
		memcpy(s->wbuf + s->wlen, p, k);
		s->wlen += k;
		s->spooled += (int64_t)k;
		p += k;
		n -= k;
		if (s->wlen == sizeof(s->wbuf))
			spool_flush(s);
	}
}

static void spool_drop(struct smtp_session *s)
{
	if (s->spool_fd >= 0 && s->spool_pool)
		spool_pool_put(s->spool_pool, s->spool_fd, s->spool_dirty);
	else if (s->spool_fd >= 0)
		close(s->spool_fd);
	s->spool_fd = -1;
	s->spool_dirty = 0;
	s->wlen = 0;
}

/* ---- the accept budget ---- */

struct smtp_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int64_t budget, used;
	int closed;
};

struct smtp_gate *smtp_gate_new(int64_t budget)
{
	struct smtp_gate *g = calloc(1, sizeof(*g));
	pthread_condattr_t a;

	if (!g)
		return NULL;
	pthread_mutex_init(&g->mu, NULL);
	/* waits are bounded in monotonic time: a clock step must not stretch them */
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &a);
	pthread_condattr_destroy(&a);
	g->budget = budget;
	return g;
}

void smtp_gate_close(struct smtp_gate *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->closed = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

void smtp_gate_free(struct smtp_gate *g)
{
	if (!g)
		return;
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

int64_t smtp_gate_used(struct smtp_gate *g)
{
	int64_t n;
	pthread_mutex_lock(&g->mu);
	n = g->used;
	pthread_mutex_unlock(&g->mu);
	return n;
}

int smtp_gate_take(struct smtp_gate *g, int64_t n)
{
	struct timespec until;
	int rc = 0;

	if (!g)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += SMTP_GATE_WAIT_MS / 1000;
	until.tv_nsec += (long)(SMTP_GATE_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->mu);
	/* a message larger than the budget passes alone */
	while (!g->closed && g->used > 0 && g->used + n > g->budget && rc == 0)
		rc = pthread_cond_timedwait(&g->cv, &g->mu, &until);
	if (g->used > 0 && g->used + n > g->budget) {
		rc = -1;
	} else {
		g->used += n;
		rc = 0;
	}
	pthread_mutex_unlock(&g->mu);
	return rc;
}

void smtp_gate_give(struct smtp_gate *g, int64_t n)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->used -= n;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* RFC 5322 date-time in UTC: "Tue, 24 Nov 2015 12:50:11 +0000" (no locale). */
static void rfc5322_date(char *dst, size_t size)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)(now_ms() / 1000); /* the record clock: it goes into the message */
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(dst, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday % 7], tm.tm_mday,
	         mo[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The trace header this hop adds (RFC 5321 §4.4), "for" only with one recipient. */
static void put_received(struct smtp_session *s)
{
	char hdr[2048], date[40], tls[128] = "";
	const char *proto = !s->esmtp ? "SMTP" : s->tls_on ? "ESMTPS" : "ESMTP";
	int v6 = strchr(s->client_ip, ':') != NULL;
	int n;

	rfc5322_date(date, sizeof(date));
	if (s->tls_on)
		snprintf(tls, sizeof(tls), "\r\n\t(%s with cipher %s)", s->txn.tls_version,
		         s->txn.tls_cipher);
	n = snprintf(hdr, sizeof(hdr),
	             "Received: from %s ([%s%s])\r\n\tby %s (mcapid) with %s id %s.%d%s%s%s%s;\r\n"
	             "\t%s\r\n",
	             s->helo, v6 ? "IPv6:" : "", s->client_ip, s->cfg->smtp_hostname, proto, s->id,
	             s->nmsg + 1, tls, s->txn.nrcpt == 1 ? "\r\n\tfor <" : "",
	             s->txn.nrcpt == 1 ? s->txn.rcpts[0].addr : "", s->txn.nrcpt == 1 ? ">" : "",
	             date);
	if (n > 0 && (size_t)n < sizeof(hdr))
		spool_put(s, hdr, (size_t)n);
}

/* ---- addresses ---- */

static int atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~.", c));
}

/* A Mailbox of RFC 5321 §4.1.2 in ASCII (SMTPUTF8 is not offered): a dot-string or a
 * quoted local part of at most 64 octets, '@', a domain of letter-digit-hyphen labels (an
 * underscore tolerated) or an address literal in brackets. "postmaster" alone is a
 * recipient every server must take (§4.5.1). */
static int valid_mailbox(const char *a, size_t n, int allow_postmaster)
{
	size_t i = 0, at, label = 0;

	if (allow_postmaster && n == 10 && !strncasecmp(a, "postmaster", 10))
		return 1;
	if (n == 0)
		return 0;
	if (a[0] == '"') {
		for (i = 1; i < n && a[i] != '"'; i++) {
			unsigned char c = (unsigned char)a[i];
			if (c == '\\' && i + 1 < n)
				c = (unsigned char)a[++i];
			if (c < 0x20 || c > 0x7e)
				return 0;
		}
		if (i >= n)
			return 0;
		i++;
	} else {
		while (i < n && atext((unsigned char)a[i]))
			i++;
		if (i == 0)
			return 0;
	}
	if (i > 64 || i >= n || a[i] != '@')
		return 0;
	at = ++i;
	if (at >= n || n - at > 255)
		return 0;
	if (a[at] == '[') {
		if (a[n - 1] != ']' || n - at < 3)
			return 0;
		for (i = at + 1; i < n - 1; i++) {
			unsigned char c = (unsigned char)a[i];
			if (c < 0x21 || c > 0x7e || c == '[' || c == ']' || c == '\\')
				return 0;
		}
		return 1;
	}
	for (i = at; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* A reverse- or forward-path at p[0..n) after "FROM:" or "TO:": "<mailbox>" (a source
 * route "@a,@b:" before the mailbox is dropped, §4.1.2), "<>" or, leniently, a bare
 * mailbox. The mailbox goes to out; *used is where the parameters begin. 0 or -1. */
static int parse_path(const char *p, size_t n, char *out, size_t outsz, size_t *used)
{
	size_t i = 0, start, end;
	const char *a;
	size_t an;

	while (i < n && p[i] == ' ')
		i++;
	if (i < n && p[i] == '<') {
		int quoted = 0;
		start = ++i;
		for (; i < n; i++) {
			if (quoted) {
				if (p[i] == '\\' && i + 1 < n)
					i++;
				else if (p[i] == '"')
					quoted = 0;
			} else if (p[i] == '"') {
				quoted = 1;
			} else if (p[i] == '>') {
				break;
			}
		}
		if (i >= n)
			return -1;
		end = i++;
		if (i < n && p[i] != ' ')
			return -1;
	} else {
		start = i;
		while (i < n && p[i] != ' ')
			i++;
		end = i;
		if (end == start)
			return -1;
	}
	*used = i;
	a = p + start;
	an = end - start;
	if (an > 0 && a[0] == '@') {
		const char *colon = memchr(a, ':', an);
		if (!colon)
			return -1;
		an -= (size_t)(colon + 1 - a);
		a = colon + 1;
		if (an == 0)
			return -1;
	}
	if (an >= outsz)
		return -1;
	memcpy(out, a, an);
	out[an] = '\0';
	return 0;
}

/* The next "KEY[=VALUE]" parameter of p[*i..n): 1 with k/kn and v/vn set, 0 at the end. */
static int next_param(const char *p, size_t n, size_t *i, const char **k, size_t *kn,
                      const char **v, size_t *vn)
{
	size_t j;
	while (*i < n && p[*i] == ' ')
		(*i)++;
	if (*i >= n)
		return 0;
	j = *i;
	while (*i < n && p[*i] != ' ')
		(*i)++;
	*k = p + j;
	*kn = *i - j;
	*v = memchr(*k, '=', *kn);
	if (*v) {
		*vn = *kn - (size_t)(*v - *k) - 1;
		*kn = (size_t)(*v - *k);
		(*v)++;
	} else {
		*v = "";
		*vn = 0;
	}
	return 1;
}

static int word_is(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(p, w, n);
}

/* ---- commands ---- */

typedef enum smtp_next (*cmd_fn)(struct smtp_session *s, const char *arg, size_t n,
                                 struct smtp_reply *r);

#define CMD_NOARG   0x1 /* an argument is a syntax error */
#define CMD_NEEDARG 0x2 /* no argument is a syntax error */
#define CMD_LOGARG  0x4 /* the argument (an address or host name) may be logged */
#define CMD_JUNK    0x8 /* an HTTP verb: someone is abusing a browser or a proxy; close */

struct smtp_cmd {
	const char *verb;
	unsigned states; /* bits (1 << enum smtp_state) in which it is allowed */
	unsigned flags;
	cmd_fn fn;
};

#define ST(x)  (1u << (x))
#define ST_ANY (ST(SMTP_ST_INIT) | ST(SMTP_ST_HELO) | ST(SMTP_ST_MAIL) | ST(SMTP_ST_RCPT))

static void txn_clear(struct smtp_session *s)
{
	if (s->txn_ready)
		mail_txn_reset(&s->txn);
}

static enum smtp_next greet(struct smtp_session *s, const char *arg, size_t n, struct smtp_reply *r,
                            int esmtp)
{
	size_t w = 0;
	const char *lines[8];
	int k = 0;
	char size[40];

	while (w < n && arg[w] != ' ')
		w++;
	if (w >= sizeof(s->helo))
		return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.5.4 host name too long");
	for (size_t i = 0; i < w; i++)
		if ((unsigned char)arg[i] < 0x21 || (unsigned char)arg[i] > 0x7e)
			return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.5.4 invalid host name");
	memcpy(s->helo, arg, w);
	s->helo[w] = '\0';
	txn_clear(s);
	snprintf(s->txn.helo, sizeof(s->txn.helo), "%s", s->helo);
	s->esmtp = esmtp;
	set_state(s, SMTP_ST_HELO);
	r->len = 0;
	if (!esmtp) {
		reply_add(r, 250, 0, "%s", s->cfg->smtp_hostname);
		return reply_send(s, r, SMTP_NEXT_COMMAND);
	}
	snprintf(size, sizeof(size), "SIZE %lld", (long long)s->cfg->smtp_max_size);
	lines[k++] = "PIPELINING";
	lines[k++] = size;
	lines[k++] = "8BITMIME";
	lines[k++] = "ENHANCEDSTATUSCODES";
	if (s->tls_available && !s->tls_on)
		lines[k++] = "STARTTLS";
	reply_add(r, 250, 1, "%s", s->cfg->smtp_hostname);
	for (int i = 0; i < k; i++)
		reply_add(r, 250, i + 1 < k, "%s", lines[i]);
	return reply_send(s, r, SMTP_NEXT_COMMAND);
}

static enum smtp_next cmd_ehlo(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	return greet(s, arg, n, r, 1);
}

static enum smtp_next cmd_helo(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	return greet(s, arg, n, r, 0);
}

static enum smtp_next cmd_mail(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	char addr[MAIL_ADDR_SIZE];
	struct mail_reply mr = {0};
	const char *k, *v;
	size_t i, kn, vn;
	int64_t declared = 0;
	int rc;

	if (n < 5 || strncasecmp(arg, "FROM:", 5) != 0)
		return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.5.4 syntax: MAIL FROM:<address>");
	if (parse_path(arg + 5, n - 5, addr, sizeof(addr), &i) != 0 ||
	    (*addr && !valid_mailbox(addr, strlen(addr), 0)))
		return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.1.7 bad sender address syntax");
	i += 5;
	while (next_param(arg, n, &i, &k, &kn, &v, &vn)) {
		if (!s->esmtp)
			return reply(s, r, SMTP_NEXT_COMMAND, 555, "5.5.4 parameters need EHLO");
		if (word_is(k, kn, "SIZE")) {
			if (vn == 0)
				return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.5.4 bad SIZE value");
			declared = 0;
			for (size_t j = 0; j < vn; j++) {
				if (v[j] < '0' || v[j] > '9')
					return reply(s, r, SMTP_NEXT_COMMAND, 501,
					             "5.5.4 bad SIZE value");
				if (declared <= INT64_MAX / 20)
					declared = declared * 10 + (v[j] - '0');
			}
		} else if (word_is(k, kn, "BODY")) {
			if (!word_is(v, vn, "7BIT") && !word_is(v, vn, "8BITMIME"))
				return reply(s, r, SMTP_NEXT_COMMAND, 501,
				             "5.5.4 unsupported BODY type");
		} else {
			return reply(s, r, SMTP_NEXT_COMMAND, 555, "5.5.4 unsupported parameter");
		}
	}
	if (declared > s->cfg->smtp_max_size)
		return reply(s, r, SMTP_NEXT_COMMAND, 552,
		             "5.3.4 message size exceeds fixed maximum message size");
	txn_clear(s);
	rc = mail_check_sender(s->mail, &s->txn, addr, &mr);
	if (!verdict(rc, &mr))
		return reply(s, r, SMTP_NEXT_COMMAND, mr.code, "%s", mr.text);
	if (!*s->txn.env_from && *addr)
		snprintf(s->txn.env_from, sizeof(s->txn.env_from), "%s", addr);
	set_state(s, SMTP_ST_MAIL);
	if (mr.code)
		return reply(s, r, SMTP_NEXT_COMMAND, mr.code, "%s", mr.text);
	return reply(s, r, SMTP_NEXT_COMMAND, 250, "2.1.0 Ok");
}

static enum smtp_next cmd_rcpt(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	char addr[MAIL_ADDR_SIZE];
	struct mail_reply mr = {0};
	const char *k, *v;
	size_t i, kn, vn;
	int rc, before;

	if (n < 3 || strncasecmp(arg, "TO:", 3) != 0)
		return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.5.4 syntax: RCPT TO:<address>");
	if (parse_path(arg + 3, n - 3, addr, sizeof(addr), &i) != 0 ||
	    !valid_mailbox(addr, strlen(addr), 1))
		return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.1.3 bad recipient address syntax");
	i += 3;
	if (next_param(arg, n, &i, &k, &kn, &v, &vn))
		return reply(s, r, SMTP_NEXT_COMMAND, 555, "5.5.4 unsupported parameter");
	for (int j = 0; j < s->txn.nrcpt; j++)
		if (!strcasecmp(s->txn.rcpts[j].addr, addr)) {
			s->ncmd--;
			return reply(s, r, SMTP_NEXT_COMMAND, 250, "2.1.5 Ok");
		}
	if (s->txn.nrcpt >= s->cfg->smtp_max_rcpts || s->txn.nrcpt >= s->txn.cap)
		return reply(s, r, SMTP_NEXT_COMMAND, 452, "4.5.3 too many recipients");
	before = s->txn.nrcpt;
	rc = mail_check_rcpt(s->mail, &s->txn, addr, &mr);
	if (!verdict(rc, &mr) || s->txn.nrcpt <= before) {
		if (!mr.code || mr.code < 400) {
			/* let through but not recorded: the pipeline broke its word */
			mr.code = 451;
			snprintf(mr.text, sizeof(mr.text),
			         "4.3.0 temporary failure, try again later");
		}
		return reply(s, r, SMTP_NEXT_COMMAND, mr.code, "%s", mr.text);
	}
	s->ncmd--;
	set_state(s, SMTP_ST_RCPT);
	if (mr.code)
		return reply(s, r, SMTP_NEXT_COMMAND, mr.code, "%s", mr.text);
	return reply(s, r, SMTP_NEXT_COMMAND, 250, "2.1.5 Ok");
}

static enum smtp_next cmd_data(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	(void)arg;
	(void)n;
	/* resources first, then 354 (OpenSMTPD smtp_message_begin) */
	s->spool_fd = s->spool_pool ? smtp_spool_take(s->spool_pool) : spool_open(s->spool_dir);
	if (s->spool_fd < 0) {
		log_error("smtp sid=%s msg=\"cannot open a spool file\" dir=\"%s\" error=\"%s\"",
		          s->id, s->spool_dir, strerror(errno));
		return reply(s, r, SMTP_NEXT_COMMAND, 451,
		             "4.3.0 cannot receive the message now, try again later");
	}
	s->midline = 0;
	s->prev_crlf = 1;
	s->in_headers = 1;
	s->hops = 0;
	s->derr = DERR_NONE;
	s->size = s->line_len = s->spooled = 0;
	s->wlen = 0;
	put_received(s);
	set_state(s, SMTP_ST_DATA);
	return reply(s, r, SMTP_NEXT_DATA, 354, "End data with <CR><LF>.<CR><LF>");
}

static enum smtp_next cmd_rset(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	(void)arg;
	(void)n;
	txn_clear(s);
	if (s->state == SMTP_ST_MAIL || s->state == SMTP_ST_RCPT)
		set_state(s, SMTP_ST_HELO);
	return reply(s, r, SMTP_NEXT_COMMAND, 250, "2.0.0 Ok");
}

static enum smtp_next cmd_noop(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	(void)arg;
	(void)n;
	return reply(s, r, SMTP_NEXT_COMMAND, 250, "2.0.0 Ok");
}

static enum smtp_next cmd_quit(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	(void)arg;
	(void)n;
	return reply(s, r, SMTP_NEXT_CLOSE, 221, "2.0.0 Bye");
}

static enum smtp_next cmd_vrfy(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	(void)arg;
	(void)n;
	return reply(s, r, SMTP_NEXT_COMMAND, 252,
	             "2.5.2 cannot VRFY user, but will accept message and attempt delivery");
}

static enum smtp_next cmd_expn(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	(void)arg;
	(void)n;
	return reply(s, r, SMTP_NEXT_COMMAND, 502, "5.5.1 EXPN is not offered");
}

static enum smtp_next cmd_help(struct smtp_session *s, const char *arg, size_t n,
                               struct smtp_reply *r)
{
	(void)arg;
	(void)n;
	return reply(s, r, SMTP_NEXT_COMMAND, 214,
	             "2.0.0 commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP%s",
	             s->tls_available && !s->tls_on ? " STARTTLS" : "");
}

static enum smtp_next cmd_starttls(struct smtp_session *s, const char *arg, size_t n,
                                   struct smtp_reply *r)
{
	(void)arg;
	(void)n;
	if (s->tls_on)
		return reply(s, r, SMTP_NEXT_COMMAND, 503, "5.5.1 TLS already active");
	if (!s->tls_available)
		return reply(s, r, SMTP_NEXT_COMMAND, 502, "5.5.1 STARTTLS is not offered");
	return reply(s, r, SMTP_NEXT_TLS, 220, "2.0.0 ready to start TLS");
}

static const struct smtp_cmd commands[] = {
        {"EHLO", ST_ANY, CMD_NEEDARG | CMD_LOGARG, cmd_ehlo},
        {"HELO", ST_ANY, CMD_NEEDARG | CMD_LOGARG, cmd_helo},
        {"MAIL", ST(SMTP_ST_HELO), CMD_NEEDARG | CMD_LOGARG, cmd_mail},
        {"RCPT", ST(SMTP_ST_MAIL) | ST(SMTP_ST_RCPT), CMD_NEEDARG | CMD_LOGARG, cmd_rcpt},
        {"DATA", ST(SMTP_ST_RCPT), CMD_NOARG, cmd_data},
        {"RSET", ST_ANY, CMD_NOARG, cmd_rset},
        {"NOOP", ST_ANY, 0, cmd_noop},
        {"QUIT", ST_ANY, CMD_NOARG, cmd_quit},
        {"VRFY", ST_ANY, CMD_NEEDARG | CMD_LOGARG, cmd_vrfy},
        {"EXPN", ST_ANY, CMD_LOGARG, cmd_expn},
        {"HELP", ST_ANY, 0, cmd_help},
        {"STARTTLS", ST(SMTP_ST_INIT) | ST(SMTP_ST_HELO), CMD_NOARG, cmd_starttls},
        {"GET", ST_ANY, CMD_JUNK, NULL},
        {"POST", ST_ANY, CMD_JUNK, NULL},
        {"HEAD", ST_ANY, CMD_JUNK, NULL},
        {"PUT", ST_ANY, CMD_JUNK, NULL},
        {"CONNECT", ST_ANY, CMD_JUNK, NULL},
};

/* Why a known command is out of sequence here. */
static const char *seq_hint(const struct smtp_cmd *c, enum smtp_state st)
{
	if (st == SMTP_ST_INIT)
		return "send HELO/EHLO first";
	if (c->fn == cmd_mail)
		return "nested MAIL command";
	if (c->fn == cmd_starttls)
		return "STARTTLS inside a transaction";
	if (st == SMTP_ST_HELO)
		return "need MAIL command";
	return "need RCPT command";
}

/* s->cmd: the verb, and the argument if it may be logged; NUL bytes made visible. */
static void note_cmd(struct smtp_session *s, const char *line, size_t len)
{
	if (len >= sizeof(s->cmd))
		len = sizeof(s->cmd) - 1;
	memcpy(s->cmd, line, len);
	s->cmd[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (!s->cmd[i])
			s->cmd[i] = '?';
}

static enum smtp_next too_long(struct smtp_session *s, struct smtp_reply *r)
{
	s->ncmd++;
	s->ncmd_total++;
	note_cmd(s, "(line too long)", 15);
	return reply(s, r, SMTP_NEXT_COMMAND, 500, "5.5.2 line too long");
}

enum smtp_next smtp_session_command(struct smtp_session *s, const char *line, size_t len,
                                    struct smtp_reply *r)
{
	const struct smtp_cmd *c = NULL;
	size_t vlen = 0, a, an;

	r->len = 0;
	r->code = 0;
	if (s->state == SMTP_ST_QUIT)
		return SMTP_NEXT_CLOSE;
	if (s->state == SMTP_ST_DATA)
		return smtp_session_data(s, line, len, SMTP_EOL_CRLF, r);
	if (len > SMTP_LINE_MAX - 2)
		return too_long(s, r);
	s->ncmd++;
	s->ncmd_total++;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (word_is(line, vlen, commands[i].verb)) {
			c = &commands[i];
			break;
		}
	note_cmd(s, line, c && (c->flags & CMD_LOGARG) ? len : vlen < 16 ? vlen : 16);
	if (s->ncmd > s->cfg->smtp_max_commands)
		return reply(s, r, SMTP_NEXT_CLOSE, 421,
		             "4.7.0 %s too many commands, closing connection",
		             s->cfg->smtp_hostname);
	if (!c || memchr(line, '\0', len))
		return reply(s, r, SMTP_NEXT_COMMAND, 500, "5.5.2 command not recognized");
	if (c->flags & CMD_JUNK)
		return reply(s, r, SMTP_NEXT_CLOSE, 221, "2.7.0 this is an SMTP server, goodbye");
	if (!(c->states & ST(s->state)))
		return reply(s, r, SMTP_NEXT_COMMAND, 503, "5.5.1 bad sequence of commands: %s",
		             seq_hint(c, s->state));
	a = vlen;
	while (a < len && line[a] == ' ')
		a++;
	an = len - a;
	while (an > 0 && (line[a + an - 1] == ' ' || line[a + an - 1] == '\t'))
		an--;
	if ((c->flags & CMD_NOARG) && an > 0)
		return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.5.4 syntax: %s takes no argument",
		             c->verb);
	if ((c->flags & CMD_NEEDARG) && an == 0)
		return reply(s, r, SMTP_NEXT_COMMAND, 501, "5.5.4 syntax: %s needs an argument",
		             c->verb);
	if (s->emu && (c->fn == cmd_ehlo || c->fn == cmd_helo || c->fn == cmd_mail ||
	               c->fn == cmd_rcpt || c->fn == cmd_data)) {
		const char *stage = c->fn == cmd_mail   ? "mail"
		                    : c->fn == cmd_rcpt ? "rcpt"
		                    : c->fn == cmd_data ? "data"
		                                        : "helo";
		char text[128];
		int code;
		if (emu_fault_smtp(s->emu, stage, &code, text, sizeof(text)))
			return reply(s, r, code == 421 ? SMTP_NEXT_CLOSE : SMTP_NEXT_COMMAND, code,
			             "%s", text);
	}
	return c->fn(s, line + a, an, r);
}

/* ---- message text ---- */

static enum smtp_next data_end(struct smtp_session *s, struct smtp_reply *r)
{
	struct mail_reply mr = {0};
	int accepted = 0, in_mem, rc;
	char from[MAIL_ADDR_SIZE + 8];

	note_cmd(s, "DATA (end)", 10);
	/* a message that fits the buffer never goes to the file: no write, seek and read back */
	in_mem = s->derr == DERR_NONE && s->spooled == (int64_t)s->wlen;
	if (s->derr == DERR_NONE && !in_mem)
		spool_flush(s);
	r->len = 0;
	switch (s->derr) {
	case DERR_SIZE:
		reply_add(r, 552, 0, "5.3.4 message size exceeds fixed maximum message size");
		break;
	case DERR_LINE:
		reply_add(r, 554, 0, "5.6.0 message has a line longer than %d octets",
		          SMTP_DATA_LINE_MAX);
		break;
	case DERR_HOPS:
		reply_add(r, 554, 0, "5.4.6 too many hops (Received: headers): mail loop?");
		break;
	case DERR_IO:
		reply_add(r, 451, 0, "4.3.0 cannot receive the message now, try again later");
		break;
	case DERR_NONE:
		if (smtp_gate_take(s->gate, s->spooled) != 0) {
			log_warn("smtp sid=%s msg=\"no room to accept a message\" size=%lld "
			         "budget=smtp_accept_memory",
			         s->id, (long long)s->spooled);
			reply_add(r, 451, 0,
			          "4.3.1 insufficient system resources, try again later");
			break;
		}
		if (in_mem) {
			rc = mail_accept_mem(s->mail, &s->txn, s->wbuf, s->spooled, &mr);
			s->wlen = 0;
		} else if (lseek(s->spool_fd, 0, SEEK_SET) != 0) {
			smtp_gate_give(s->gate, s->spooled);
			reply_add(r, 451, 0,
			          "4.3.0 cannot receive the message now, try again later");
			break;
		} else {
			rc = mail_accept(s->mail, &s->txn, s->spool_fd, s->spooled, &mr);
		}
		smtp_gate_give(s->gate, s->spooled);
		accepted = verdict(rc, &mr);
		if (accepted && !mr.code)
			reply_add(r, 250, 0, "2.0.0 Ok");
		else
			reply_add(r, mr.code, 0, "%s", mr.text);
		break;
	}
	if (accepted) {
		char q[MAIL_ADDR_SIZE * 2];
		s->nmsg++;
		snprintf(from, sizeof(from), "<%s>", s->txn.env_from);
		log_info("smtp sid=%s msg=accepted from=%s rcpts=%d size=%lld tls=%s", s->id,
		         log_quote(from, q, sizeof(q)), s->txn.nrcpt, (long long)s->size,
		         s->tls_on ? s->txn.tls_version : "no");
	}
	spool_drop(s);
	txn_clear(s);
	s->ncmd = 0;
	set_state(s, SMTP_ST_HELO);
	return reply_send(s, r, SMTP_NEXT_COMMAND);
}

enum smtp_next smtp_session_data(struct smtp_session *s, const char *p, size_t n, enum smtp_eol eol,
                                 struct smtp_reply *r)
{
	size_t end = eol == SMTP_EOL_NONE ? 0 : 2;

	r->len = 0;
	r->code = 0;
	if (s->state != SMTP_ST_DATA)
		return s->state == SMTP_ST_QUIT ? SMTP_NEXT_CLOSE : SMTP_NEXT_COMMAND;
	if (!s->midline) {
		if (eol == SMTP_EOL_CRLF && n == 1 && p[0] == '.' && s->prev_crlf)
			return data_end(s, r);
		if (n > 1 && p[0] == '.') { /* dot-unstuffing; a lone "." that ends nothing stays */
			p++;
			n--;
		}
		if (s->in_headers) {
			if (n == 0 && end)
				s->in_headers = 0;
			else if (n >= 9 && !strncasecmp(p, "Received:", 9) &&
			         ++s->hops > SMTP_MAX_HOPS && !s->derr)
				s->derr = DERR_HOPS;
		}
	}
	s->line_len += (int64_t)(n + end);
	s->size += (int64_t)(n + end);
	if (!s->derr && s->size > s->cfg->smtp_max_size)
		s->derr = DERR_SIZE;
	if (!s->derr && s->line_len > SMTP_DATA_LINE_MAX)
		s->derr = DERR_LINE;
	spool_put(s, p, n);
	if (end)
		spool_put(s, "\r\n", 2);
	s->midline = !end;
	if (end) {
		s->line_len = 0;
		s->prev_crlf = eol == SMTP_EOL_CRLF;
	}
	return SMTP_NEXT_DATA;
}

/* ---- the line reader ---- */

size_t smtp_session_room(struct smtp_session *s, char **p)
{
	if (s->in_start > 0) {
		memmove(s->in, s->in + s->in_start, s->in_end - s->in_start);
		s->in_end -= s->in_start;
		s->in_start = 0;
	}
	*p = s->in + s->in_end;
	return sizeof(s->in) - s->in_end;
}

void smtp_session_filled(struct smtp_session *s, size_t n)
{
	if (n > sizeof(s->in) - s->in_end)
		n = sizeof(s->in) - s->in_end;
	s->in_end += n;
}

size_t smtp_session_buffered(const struct smtp_session *s)
{
	return s->in_end - s->in_start;
}

enum smtp_next smtp_session_step(struct smtp_session *s, struct smtp_reply *r)
{
	r->len = 0;
	r->code = 0;
	for (;;) {
		const char *b = s->in + s->in_start, *lf;
		size_t avail = s->in_end - s->in_start, len;
		enum smtp_next next;

		if (s->state == SMTP_ST_QUIT)
			return SMTP_NEXT_CLOSE;
		lf = avail ? memchr(b, '\n', avail) : NULL;
		if (s->state == SMTP_ST_DATA) {
			enum smtp_eol eol = SMTP_EOL_LF;
			if (lf) {
				len = (size_t)(lf - b);
				if (len > 0 && b[len - 1] == '\r') {
					len--;
					eol = SMTP_EOL_CRLF;
				}
				s->in_start += (size_t)(lf - b) + 1;
			} else if (avail >= SMTP_DATA_CHUNK) {
				/* a piece of a long line; a CR at its end may start a CRLF */
				len = b[avail - 1] == '\r' ? avail - 1 : avail;
				eol = SMTP_EOL_NONE;
				s->in_start += len;
			} else {
				return SMTP_NEXT_INPUT;
			}
			next = smtp_session_data(s, b, len, eol, r);
			if (r->len)
				return next;
			continue;
		}
		if (s->skipping) {
			if (!lf) {
				s->in_start = s->in_end;
				return SMTP_NEXT_INPUT;
			}
			s->in_start += (size_t)(lf - b) + 1;
			s->skipping = 0;
			continue;
		}
		if (lf) {
			len = (size_t)(lf - b);
			if (len > 0 && b[len - 1] == '\r')
				len--;
			s->in_start += (size_t)(lf - b) + 1;
			return smtp_session_command(s, b, len, r);
		}
		len = avail > 0 && b[avail - 1] == '\r' ? avail - 1 : avail;
		if (len > SMTP_LINE_MAX - 2) {
			s->in_start = s->in_end;
			s->skipping = 1;
			return too_long(s, r);
		}
		return SMTP_NEXT_INPUT;
	}
}

/* ---- life of a session ---- */

struct smtp_session *smtp_session_new(const struct smtp_session_params *p, struct err *e)
{
	struct smtp_session *s = calloc(1, sizeof(*s));
	unsigned char rnd[6];

	if (!s) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->cfg = p->cfg;
	s->mail = p->mail;
	s->emu = p->emu;
	s->spool_fd = -1;
	s->tls_available = p->tls_available;
	snprintf(s->client_ip, sizeof(s->client_ip), "%s", p->client_ip ? p->client_ip : "");
	snprintf(s->spool_dir, sizeof(s->spool_dir), "%s", p->spool_dir ? p->spool_dir : ".");
	s->spool_pool = p->spool_pool;
	s->gate = p->gate;
	random_bytes(RND_SMTP, rnd, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
	if (mail_txn_init(&s->txn, p->cfg->smtp_max_rcpts) != 0) {
		free(s);
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	s->txn_ready = 1;
	snprintf(s->txn.client_ip, sizeof(s->txn.client_ip), "%s", s->client_ip);
	snprintf(s->cmd, sizeof(s->cmd), "-");
	return s;
}

void smtp_session_free(struct smtp_session *s)
{
	char qi[80];
	if (!s)
		return;
	log_info("smtp sid=%s msg=closed ip=%s commands=%d messages=%d errors=%d", s->id,
	         log_quote(s->client_ip, qi, sizeof(qi)), s->ncmd_total, s->nmsg, s->nerrors);
	spool_drop(s);
	if (s->txn_ready)
		mail_txn_release(&s->txn);
	free(s);
}

void smtp_session_greeting(struct smtp_session *s, struct smtp_reply *r)
{
	char qi[80];
	log_info("smtp sid=%s msg=connected ip=%s", s->id, log_quote(s->client_ip, qi, sizeof(qi)));
	snprintf(s->cmd, sizeof(s->cmd), "(connect)");
	if (s->emu) {
		char text[128];
		int code;
		if (emu_fault_smtp(s->emu, "connect", &code, text, sizeof(text))) {
			/* RFC 5321 §3.1: a server that will not serve answers 554 (or 421) and
			 * then waits for QUIT; closing at once is what clients handle best */
			reply(s, r, SMTP_NEXT_CLOSE, code, "%s", text);
			return;
		}
	}
	reply(s, r, SMTP_NEXT_COMMAND, 220, "%s ESMTP mcapid", s->cfg->smtp_hostname);
}

void smtp_session_tls_on(struct smtp_session *s, const char *version, const char *cipher)
{
	s->in_start = s->in_end = 0;
	s->skipping = 0;
	s->tls_on = 1;
	s->esmtp = 0;
	s->helo[0] = '\0';
	txn_clear(s);
	s->txn.helo[0] = '\0';
	snprintf(s->txn.tls_version, sizeof(s->txn.tls_version), "%s", version ? version : "");
	snprintf(s->txn.tls_cipher, sizeof(s->txn.tls_cipher), "%s", cipher ? cipher : "");
	set_state(s, SMTP_ST_INIT);
	log_info("smtp sid=%s msg=tls version=%s cipher=%s", s->id, s->txn.tls_version,
	         s->txn.tls_cipher);
}

void smtp_session_end(struct smtp_session *s, enum smtp_end why, struct smtp_reply *r)
{
	const char *h = s->cfg->smtp_hostname;
	snprintf(s->cmd, sizeof(s->cmd), "%s",
	         s->state == SMTP_ST_DATA ? "(waiting for text)" : "(waiting for a command)");
	if (s->state == SMTP_ST_QUIT) {
		r->len = 0;
		r->code = 0;
		return;
	}
	switch (why) {
	case SMTP_END_TIMEOUT:
		reply(s, r, SMTP_NEXT_CLOSE, 421, "4.4.2 %s timeout, closing connection", h);
		break;
	case SMTP_END_SESSION_TIME:
		reply(s, r, SMTP_NEXT_CLOSE, 421, "4.4.2 %s session too long, closing connection",
		      h);
		break;
	case SMTP_END_TXN_TIME:
		reply(s, r, SMTP_NEXT_CLOSE, 421,
		      "4.4.2 %s no message within the time allowed, closing connection", h);
		break;
	case SMTP_END_DATA_SLOW:
		reply(s, r, SMTP_NEXT_CLOSE, 421,
		      "4.4.2 %s message text too slow, closing connection", h);
		break;
	case SMTP_END_SHUTDOWN:
		reply(s, r, SMTP_NEXT_CLOSE, 421, "4.3.2 %s shutting down, try again later", h);
		break;
	}
}

void smtp_reply_refuse(struct smtp_reply *r, const struct config *cfg, const char *client_ip,
                       int per_ip, int quiet)
{
	r->len = 0;
	reply_add(r, 421, 0, "4.7.0 %s too many %s, try again later", cfg->smtp_hostname,
	          per_ip ? "sessions from your address" : "sessions");
	if (!quiet)
		log_reply("-", client_ip, "(connect)", r);
}

enum smtp_state smtp_session_state(const struct smtp_session *s)
{
	return s->state;
}

const char *smtp_session_id(const struct smtp_session *s)
{
	return s->id;
}
