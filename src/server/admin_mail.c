/* `mcapid admin` commands of the mail gateway (API.md §13.1): a domain's mail route, an
 * account's outbound relay addresses, and two ways into the pipeline besides SMTP —
 * `mail inject` (one .eml file) and `mail generate` (realistic, reproducible traffic for
 * load tests of SIEM integrations). Both feed mail_check_* and mail_accept exactly as an
 * SMTP session does, so injected mail is checked, stored and delivered by a running server
 * (or the next one started on the store). */
#include "admin_int.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "server/config.h"
#include "server/mail/mail.h"
#include "server/server.h"
#include "server/store/store_domain.h"
#include "server/store/store_mail.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/banned.h"

/* ---- routes and relays ---- */

static int route_ok(const char *r)
{
	return !*r || !strncmp(r, "smtp://", 7) || !strncmp(r, "maildir:", 8);
}

int admin_cmd_domain_route(struct admin_ctx *cx)
{
	struct account a;
	char domain[256], route[MAIL_ROUTE_SIZE];
	int rc;

	if ((rc = admin_copy_opt(cx->opt[OPT_DOMAIN], OPT_DOMAIN, domain, sizeof(domain))) ||
	    (rc = admin_copy_opt(cx->opt[OPT_ROUTE], OPT_ROUTE, route, sizeof(route))))
		return rc;
	admin_lower_ascii(domain);
	if (!route_ok(route))
		return admin_failf(
		        EXIT_USAGE,
		        "route '%s' is not smtp://HOST:PORT, maildir:PATH or '' (default)", route);
	if ((rc = admin_begin(cx)) || (rc = admin_find_account(cx, cx->opt[OPT_ACCOUNT], &a)))
		goto out;
	rc = store_mail_set_route(cx->st, a.id, domain, route, &cx->e);
	if (rc == MC_ERR_NOT_FOUND) {
		rc = admin_failf(EXIT_RUNTIME, "'%s' is not an internal (verified) domain of '%s'",
		                 domain, a.code);
		goto out;
	}
	if (rc || admin_audit(cx, ADMIN_USER, a.id, "account_logs", "Mail Route Changed",
	                      "mail route of '%s' set to '%s'", domain,
	                      *route ? route : "default") != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc)
		rc = admin_print_json(json_pack("{s:s, s:s, s:s}", "account", a.code, "domain",
		                                domain, "route", *route ? route : "default"));
	return rc;
}

static int relay_change(struct admin_ctx *cx, int add)
{
	struct account a;
	char ip[64];
	int rc;

	if ((rc = admin_copy_opt(cx->opt[OPT_IP], OPT_IP, ip, sizeof(ip))))
		return rc;
	if (!*ip || strspn(ip, "0123456789abcdefABCDEF.:/") != strlen(ip))
		return admin_failf(EXIT_USAGE, "'%s' is not an IP address or CIDR prefix", ip);
	if ((rc = admin_begin(cx)) || (rc = admin_find_account(cx, cx->opt[OPT_ACCOUNT], &a)))
		goto out;
	rc = add ? store_relay_add(cx->st, a.id, ip, &cx->e)
	         : store_relay_remove(cx->st, a.id, ip, &cx->e);
	if (rc == MC_ERR_NOT_FOUND || rc == MC_ERR_EXISTS) {
		rc = 0; /* idempotent: nothing to change, nothing to audit */
		goto out;
	}
	if (rc || admin_audit(cx, ADMIN_USER, a.id, "account_logs",
	                      add ? "Outbound Relay Added" : "Outbound Relay Removed",
	                      "outbound relay '%s' %s", ip, add ? "added" : "removed") != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc)
		rc = admin_print_json(
		        json_pack("{s:s, s:s, s:b}", "account", a.code, "ip", ip, "relay", add));
	return rc;
}

int admin_cmd_relay_add(struct admin_ctx *cx)
{
	return relay_change(cx, 1);
}

int admin_cmd_relay_remove(struct admin_ctx *cx)
{
	return relay_change(cx, 0);
}

static int relay_one(void *arg, const char *cidr)
{
	return json_array_append_new(arg, json_string(cidr)) ? -1 : 0;
}

int admin_cmd_relay_list(struct admin_ctx *cx)
{
	struct account a;
	json_t *arr = json_array();
	int rc;

	if ((rc = admin_find_account(cx, cx->opt[OPT_ACCOUNT], &a))) {
		json_decref(arr);
		return rc;
	}
	if (store_relay_list(cx->st, a.id, relay_one, arr, &cx->e) != 0) {
		json_decref(arr);
		return admin_fail_store(cx);
	}
	return admin_print_json(json_pack("{s:s, s:o}", "account", a.code, "relays", arr));
}

/* ---- into the pipeline ---- */

/* The pipeline on this process's store, without workers: a running server processes and
 * delivers what is accepted here. */
struct feed {
	struct server srv;
	struct mail *mail;
	struct mail_txn txn;
};

static int feed_open(struct admin_ctx *cx, struct feed *f)
{
	struct err e = {0};

	memset(f, 0, sizeof(*f));
	f->srv.cfg = cx->defs->cfg;
	f->srv.store = cx->st;
	if (!f->srv.cfg)
		return admin_failf(EXIT_RUNTIME, "no configuration for the mail pipeline");
	if (!(f->mail = mail_open(&f->srv, &e)))
		return admin_failf(EXIT_RUNTIME, "%s", e.msg);
	if (mail_txn_init(&f->txn, f->srv.cfg->smtp_max_rcpts) != 0) {
		mail_stop(f->mail);
		return admin_failf(EXIT_RUNTIME, "out of memory");
	}
	return 0;
}

static void feed_close(struct feed *f)
{
	mail_txn_release(&f->txn);
	mail_stop(f->mail);
}

/* Copies raw into an anonymous file with CRLF line ends, as an SMTP session spools it. */
static int spool(const char *raw, size_t len, int *fd, int64_t *size)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, (size_t)1 << 31);
	for (size_t i = 0; i < len && rc == 0; i++) {
		if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
			rc = buf_add(&b, "\r", 1);
		if (rc == 0)
			rc = buf_add(&b, &raw[i], 1);
	}
	if (rc == 0 && (b.len < 2 || memcmp(b.data + b.len - 2, "\r\n", 2) != 0))
		rc = buf_add(&b, "\r\n", 2);
	*fd = rc == 0 ? memfd_create("mcapid-spool", MFD_CLOEXEC) : -1;
	if (*fd < 0 || write(*fd, b.data, b.len) != (ssize_t)b.len) {
		if (*fd >= 0)
			close(*fd);
		buf_release(&b);
		return MC_ERR_IO;
	}
	*size = (int64_t)b.len;
	buf_release(&b);
	return 0;
}

/* One message through the checks of an SMTP transaction; fills reply. */
static int feed_one(struct feed *f, const char *ip, const char *from, char *const *to, int nto,
                    const char *raw, size_t len, struct mail_reply *reply)
{
	int fd = -1;
	int64_t size = 0;

	mail_txn_reset(&f->txn);
	snprintf(f->txn.client_ip, sizeof(f->txn.client_ip), "%s", ip);
	snprintf(f->txn.helo, sizeof(f->txn.helo), "mcapid-admin");
	if (mail_check_sender(f->mail, &f->txn, from, reply) != 0 || reply->code)
		return 0;
	for (int i = 0; i < nto; i++) {
		struct mail_reply r;
		if (mail_check_rcpt(f->mail, &f->txn, to[i], &r) != 0 || r.code) {
			if (nto == 1) {
				*reply = r;
				return 0;
			}
			fprintf(stderr, "mcapid: recipient '%s' refused: %d %s\n", to[i], r.code,
			        r.text);
		}
	}
	if (f->txn.nrcpt == 0) {
		reply->code = 554;
		snprintf(reply->text, sizeof(reply->text), "5.5.1 no valid recipients");
		return 0;
	}
	if (spool(raw, len, &fd, &size) != 0) {
		reply->code = 451;
		snprintf(reply->text, sizeof(reply->text), "4.3.0 cannot spool the message");
		return 0;
	}
	mail_accept(f->mail, &f->txn, fd, size, reply);
	close(fd);
	return 0;
}

static int read_file(const char *path, char **data, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;

	if (!fp)
		return admin_failf(EXIT_RUNTIME, "cannot read '%s': %s", path, strerror(errno));
	buf_init(&b, (size_t)1 << 30);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (buf_add(&b, chunk, n) != 0) {
			fclose(fp);
			buf_release(&b);
			return admin_failf(EXIT_RUNTIME, "'%s' is too large", path);
		}
	}
	fclose(fp);
	*len = b.len;
	*data = b.data ? b.data : calloc(1, 1);
	return *data ? 0 : admin_failf(EXIT_RUNTIME, "out of memory");
}

/* Splits a comma-separated list in place; at most max entries. */
static int split_list(char *s, char **out, int max)
{
	int n = 0;

	while (s && n < max) {
		char *comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		while (*s == ' ')
			s++;
		if (*s)
			out[n++] = s;
		s = comma ? comma + 1 : NULL;
	}
	return n;
}

int admin_cmd_mail_inject(struct admin_ctx *cx)
{
	struct feed f;
	struct mail_reply r = {0};
	char *raw = NULL, to_buf[4096], *to[100];
	size_t len = 0;
	int nto, rc;

	if (!cx->opt[OPT_FILE])
		return admin_failf(EXIT_USAGE, "usage: mcapid admin mail inject FILE.eml --from A "
		                               "--to B[,C...] [--ip ADDRESS]");
	if ((rc = admin_copy_opt(cx->opt[OPT_TO], OPT_TO, to_buf, sizeof(to_buf))))
		return rc;
	nto = split_list(to_buf, to, 100);
	if (nto == 0)
		return admin_failf(EXIT_USAGE, "option '--to' names no recipient");
	if ((rc = read_file(cx->opt[OPT_FILE], &raw, &len)))
		return rc;
	if ((rc = feed_open(cx, &f))) {
		free(raw);
		return rc;
	}
	feed_one(&f, cx->opt[OPT_IP] ? cx->opt[OPT_IP] : "127.0.0.1",
	         cx->opt[OPT_FROM] ? cx->opt[OPT_FROM] : "", to, nto, raw, len, &r);
	feed_close(&f);
	free(raw);
	rc = admin_print_json(json_pack("{s:i, s:s, s:b}", "code", r.code, "reply", r.text,
	                                "accepted", r.code == 250));
	return rc ? rc : (r.code == 250 ? EXIT_OK : EXIT_RUNTIME);
}

/* ---- generated traffic ---- */

/* splitmix64: small, fast, and the same sequence for the same seed everywhere. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static const char *pick(uint64_t *s, const char *const *list, size_t n)
{
	return list[next_rand(s) % n];
}

#define PICK(s, list) pick((s), (list), sizeof(list) / sizeof((list)[0]))

static const char *const first_names[] = {"alice",   "bob",   "carol",  "dave",  "erin",
                                          "frank",   "grace", "heidi",  "ivan",  "judy",
                                          "mallory", "niaj",  "olivia", "peggy", "rupert"};
static const char *const sender_domains[] = {"example.org",      "partner.example",
                                             "vendor.example",   "mail.example.net",
                                             "news.example.com", "supplier.example"};
static const char *const subjects[] = {
        "Quarterly report",       "Invoice %u attached",   "Meeting notes",
        "Re: project update",     "Your order #%u",        "Team offsite plans",
        "Password reset",         "Shipping confirmation", "Contract for review",
        "Fwd: customer feedback", "Weekly newsletter",     "Action required: %u"};
static const char *const links[] = {"https://www.example.com/report", "https://docs.example.org/a",
                                    "http://news.example.net/story/%u",
                                    "https://portal.example/login?u=%u"};

struct gen_domains {
	char names[64][DOMAIN_NAME_SIZE];
	int n;
};

static int gen_domain_cb(void *arg, const struct domain *d)
{
	struct gen_domains *g = arg;
	if (g->n < 64)
		snprintf(g->names[g->n++], DOMAIN_NAME_SIZE, "%s", d->name);
	return 0;
}

static const char gtube[] = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/* One realistic message: kind 0 clean, 1 spam, 2 virus, 3 DLP, 4 dangerous attachment. */
static int gen_message(uint64_t *s, int kind, const char *from, const char *to, struct buf *b,
                       int64_t when)
{
	char date[64], subject[128], link[128];
	unsigned n = (unsigned)(next_rand(s) % 100000);
	int with_att = kind == 2 || kind == 4 || next_rand(s) % 4 == 0;
	const char *boundary = "=_mcapi_gen_boundary";

	char name[32];
	size_t nl = (size_t)(strchr(from, '@') - from);

	snprintf(name, sizeof(name), "%.*s", (int)(nl < sizeof(name) ? nl : sizeof(name) - 1),
	         from);
	if (name[0] >= 'a' && name[0] <= 'z')
		name[0] = (char)(name[0] - 32);
	date_format_rfc1123(when, date, sizeof(date));
	snprintf(subject, sizeof(subject), PICK(s, subjects), n);
	snprintf(link, sizeof(link), PICK(s, links), n);
	buf_reset(b);
	if (buf_addf(b,
	             "From: %s <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
	             "Message-ID: <gen.%016llx@%s>\r\nMIME-Version: 1.0\r\n",
	             name, from, to, subject, date, (unsigned long long)next_rand(s),
	             strchr(from, '@') + 1) != 0)
		return MC_ERR_NOMEM;
	if (with_att &&
	    buf_addf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\n", boundary,
	             boundary) != 0)
		return MC_ERR_NOMEM;
	if (buf_addf(b,
	             "Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nsee %s for "
	             "the details.\r\n%s%s%s\r\nRegards,\r\n%s\r\n",
	             link, kind == 1 ? gtube : "",
	             kind == 3 ? "Card: 4111 1111 1111 1111 exp 12/29" : "",
	             kind == 1 || kind == 3 ? "\r\n" : "", from) != 0)
		return MC_ERR_NOMEM;
	if (with_att) {
		const char *file = kind == 4   ? "update.exe"
		                   : kind == 2 ? "invoice.txt"
		                               : "notes.txt";
		const char *body = kind == 2 ? eicar : "Meeting notes: nothing to worry about.";
		if (buf_addf(b,
		             "--%s\r\nContent-Type: application/octet-stream; name=\"%s\"\r\n"
		             "Content-Disposition: attachment; "
		             "filename=\"%s\"\r\n\r\n%s\r\n--%s--\r\n",
		             boundary, file, file, body, boundary) != 0)
			return MC_ERR_NOMEM;
	}
	return 0;
}

/* The shared state of the generator's feeding threads. Message i is a pure function of
 * (seed, i), so the traffic is the same whatever the number of threads; only the order in
 * which the messages are committed differs. */
struct gen {
	struct admin_ctx *cx;
	struct mail *mail;
	const struct gen_domains *doms;
	uint64_t seed;
	long count;
	int64_t start;
	atomic_long next;
	atomic_int accepted, refused, failed;
};

static void *gen_thread(void *arg)
{
	struct gen *g = arg;
	struct feed f = {.mail = g->mail};
	struct buf b;
	long i;

	if (mail_txn_init(&f.txn, g->cx->defs->cfg->smtp_max_rcpts) != 0) {
		atomic_store(&g->failed, 1);
		return NULL;
	}
	buf_init(&b, (size_t)1 << 20);
	while (!atomic_load(&g->failed) && (i = atomic_fetch_add(&g->next, 1)) < g->count) {
		char from[MAIL_ADDR_SIZE], to[MAIL_ADDR_SIZE];
		char *tov[1] = {to};
		struct mail_reply r = {0};
		uint64_t mix = g->seed ^ ((uint64_t)i * 0xd1342543de82ef95ULL),
		         state = next_rand(&mix);
		uint64_t roll = next_rand(&state) % 100;
		/* a share of each outcome: 5% spam, 2% virus, 2% DLP, 3% dangerous attachments */
		int kind = roll < 5 ? 1 : roll < 7 ? 2 : roll < 9 ? 3 : roll < 12 ? 4 : 0;

		snprintf(from, sizeof(from), "%s@%s", PICK(&state, first_names),
		         PICK(&state, sender_domains));
		snprintf(to, sizeof(to), "%s@%s", PICK(&state, first_names),
		         g->doms->names[next_rand(&state) % (uint64_t)g->doms->n]);
		if (gen_message(&state, kind, from, to, &b, g->start + i * 1000) != 0) {
			atomic_store(&g->failed, 1);
			break;
		}
		feed_one(&f, "192.0.2.10", from, tov, 1, b.data, b.len, &r);
		atomic_fetch_add(r.code == 250 ? &g->accepted : &g->refused, 1);
	}
	buf_release(&b);
	mail_txn_release(&f.txn);
	return NULL;
}

int admin_cmd_mail_generate(struct admin_ctx *cx)
{
	struct feed f;
	struct gen_domains doms = {.n = 0};
	struct account a;
	char *end = NULL;
	uint64_t seed = 1;
	long count = strtol(cx->opt[OPT_COUNT_N], &end, 10), nthreads = 4;
	pthread_t tid[64];
	int started = 0, rc;
	struct gen g = {.cx = cx, .doms = &doms, .start = cx->now};

	if (!end || *end || count < 1 || count > 10000000)
		return admin_failf(EXIT_USAGE, "--count must be a number from 1 to 10000000");
	if (cx->opt[OPT_SEED]) {
		seed = strtoull(cx->opt[OPT_SEED], &end, 10);
		if (!end || *end)
			return admin_failf(EXIT_USAGE, "--seed must be a number");
	}
	if (cx->opt[OPT_THREADS]) {
		nthreads = strtol(cx->opt[OPT_THREADS], &end, 10);
		if (!end || *end || nthreads < 1 || nthreads > 64)
			return admin_failf(EXIT_USAGE, "--threads must be a number from 1 to 64");
	}
	if ((rc = admin_find_account(cx, cx->opt[OPT_ACCOUNT], &a)))
		return rc;
	if (store_domain_list(cx->st, a.id, DOMAIN_LIST_INTERNAL, NULL, 0, 64, gen_domain_cb, &doms,
	                      &cx->e) != 0)
		return admin_fail_store(cx);
	if (doms.n == 0)
		return admin_failf(EXIT_RUNTIME,
		                   "account '%s' has no verified domain to receive mail", a.code);
	if ((rc = feed_open(cx, &f)))
		return rc;
	g.mail = f.mail;
	g.seed = seed;
	g.count = count;
	/* several feeders, so that their durable commits are grouped (store_message_accept) */
	for (; started < nthreads; started++)
		if (pthread_create(&tid[started], NULL, gen_thread, &g) != 0)
			break;
	if (started == 0)
		gen_thread(&g);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	feed_close(&f);
	if (atomic_load(&g.failed))
		return admin_failf(EXIT_RUNTIME, "out of memory");
	return admin_print_json(json_pack("{s:s, s:I, s:I, s:i, s:i}", "account", a.code, "seed",
	                                  (json_int_t)seed, "count", (json_int_t)count, "accepted",
	                                  atomic_load(&g.accepted), "refused",
	                                  atomic_load(&g.refused)));
}
