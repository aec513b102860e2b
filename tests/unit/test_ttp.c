/* Unit tests of TTP URL protection's pure parts: the group-commit batcher (every item committed
 * once, in order, told after its commit; batches grow under load; a failed commit reaches
 * every item of its batch; stop drains the queue), URL parsing, managed-URL matching and its
 * precedence, the malicious list, and click tokens (round trip, the old form, tampering,
 * paths). */
#include "common/err.h"
#include "server/ttp/batch.h"
#include "server/ttp/clicks.h"
#include "server/ttp/urlcheck.h"
#include "tap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

/* ---- the batcher ---- */

#define PRODUCERS 4
#define PER       5000

struct titem {
	struct batch_item item;
	int producer, seq;
	atomic_int committed; /* set by the commit function */
	atomic_int done;      /* set by done: after committed */
	int rc;
};

static struct {
	pthread_mutex_t mu;
	int last_seq[PRODUCERS];
	int order_ok;
	int commit_ok;
	long long items, batches, max_batch;
	int fail_next; /* the next commit fails with MC_ERR_STORE */
} T = {.mu = PTHREAD_MUTEX_INITIALIZER, .order_ok = 1, .commit_ok = 1};

static int tcommit(void *arg, struct batch_item **items, int n)
{
	(void)arg;
	pthread_mutex_lock(&T.mu);
	T.batches++;
	T.items += n;
	if (n > T.max_batch)
		T.max_batch = n;
	for (int i = 0; i < n; i++) {
		struct titem *t = (struct titem *)items[i];
		if (atomic_load(&t->done) || atomic_load(&t->committed))
			T.commit_ok = 0; /* handed over twice, or told before its commit */
		if (t->seq <= T.last_seq[t->producer])
			T.order_ok = 0; /* one producer's items keep their order */
		T.last_seq[t->producer] = t->seq;
		atomic_store(&t->committed, 1);
	}
	int fail = T.fail_next;
	T.fail_next = 0;
	pthread_mutex_unlock(&T.mu);
	usleep(200); /* an fsync's worth: lets the queue fill behind it */
	return fail ? MC_ERR_STORE : 0;
}

static void tdone(struct batch_item *it)
{
	struct titem *t = (struct titem *)it;
	if (!atomic_load(&t->committed))
		T.commit_ok = 0;
	t->rc = it->rc;
	atomic_store(&t->done, 1);
}

static struct titem *all_items;
static struct batcher *B;
static atomic_int refused;

static void *producer(void *arg)
{
	int p = (int)(intptr_t)arg;
	for (int i = 0; i < PER; i++) {
		struct titem *t = &all_items[p * PER + i];
		t->producer = p;
		t->seq = i + 1;
		t->item.done = tdone;
		while (batcher_submit(B, &t->item) == MC_ERR_AGAIN) {
			atomic_fetch_add(&refused, 1); /* the queue is full: back off */
			usleep(50);
		}
	}
	return NULL;
}

static void test_batcher(void)
{
	pthread_t th[PRODUCERS];
	struct err e = {0};
	long long batches = 0, items = 0;
	int done = 0;

	all_items = calloc(PRODUCERS * PER, sizeof(*all_items));
	B = batcher_start(tcommit, NULL, 256, 1000, &e);
	CHECK(B != NULL);
	for (intptr_t p = 0; p < PRODUCERS; p++)
		pthread_create(&th[p], NULL, producer, (void *)p);
	for (int p = 0; p < PRODUCERS; p++)
		pthread_join(th[p], NULL);
	batcher_stop(B); /* commits what is still queued */
	for (int i = 0; i < PRODUCERS * PER; i++)
		done += atomic_load(&all_items[i].done) && all_items[i].rc == 0;
	CHECK_INT(done, PRODUCERS * PER);
	CHECK_INT(T.items, PRODUCERS * PER);
	CHECK(T.order_ok);
	CHECK(T.commit_ok);
	CHECK(T.max_batch > 1);         /* under load, batches form */
	CHECK(T.max_batch <= 256);      /* and keep to max_batch */
	CHECK(T.batches < T.items / 4); /* far fewer commits than items */
	printf("# batcher: %lld items in %lld batches (largest %lld), %d refusals of a full "
	       "queue\n",
	       T.items, T.batches, T.max_batch, atomic_load(&refused));
	free(all_items);

	/* a failed commit: every item of that batch gets its error; the next ones do not */
	struct titem one[3];
	memset(one, 0, sizeof(one));
	memset(T.last_seq, 0, sizeof(T.last_seq));
	B = batcher_start(tcommit, NULL, 1, 10, &e);
	pthread_mutex_lock(&T.mu);
	T.fail_next = 1;
	pthread_mutex_unlock(&T.mu);
	for (int i = 0; i < 3; i++) {
		one[i].seq = i + 1;
		one[i].item.done = tdone;
		CHECK_INT(batcher_submit(B, &one[i].item), 0);
	}
	batcher_stats(B, &batches, &items);
	batcher_stop(B);
	CHECK_INT(one[0].rc, MC_ERR_STORE);
	CHECK_INT(one[1].rc, 0);
	CHECK_INT(one[2].rc, 0);
	CHECK(atomic_load(&one[2].done));

	/* a full queue refuses, and a stopping batcher too */
	B = batcher_start(tcommit, NULL, 1, 1, &e);
	struct titem q[64];
	int ok = 0, again = 0, told_wrongly = 0, src[64];
	memset(q, 0, sizeof(q));
	for (int i = 0; i < 64; i++) {
		q[i].seq = 100000 + i;
		q[i].item.done = tdone;
		src[i] = batcher_submit(B, &q[i].item);
		ok += src[i] == 0;
		again += src[i] == MC_ERR_AGAIN;
	}
	batcher_stop(B);
	CHECK_INT(ok + again, 64);
	CHECK(again > 0);
	for (int i = 0; i < 64; i++) /* queued items are told once; refused ones never */
		told_wrongly += atomic_load(&q[i].done) != (src[i] == 0);
	CHECK_INT(told_wrongly, 0);
}

/* ---- URLs ---- */

static void test_url_parse(void)
{
	struct url_parts u;
	const char *s;

	s = "HTTPS://User:pw@WWW.Example.COM.:8443/a/B?x=1&y=2#frag";
	CHECK_INT(url_parse(s, strlen(s), 1, &u), 0);
	CHECK_STR(u.scheme, "https");
	CHECK_STR(u.host, "www.example.com");
	CHECK_INT(u.port, 8443);
	CHECK_STR(u.path, "/a/B");
	CHECK_STR(u.query, "x=1&y=2");
	s = "http://[2001:db8::1]/x";
	CHECK_INT(url_parse(s, strlen(s), 1, &u), 0);
	CHECK_STR(u.host, "2001:db8::1");
	s = "example.net";
	CHECK_INT(url_parse(s, strlen(s), 0, &u), 0);
	CHECK_STR(u.scheme, "");
	CHECK_STR(u.host, "example.net");
	CHECK_STR(u.path, "");
	CHECK_INT(url_parse(s, strlen(s), 1, &u), MC_ERR_INVALID); /* a scheme is needed */
	const char *bad[] = {"ftp://x.com/",     "http://",          "http:///x",
	                     "http://a b.com/",  "http://x.com:0/",  "http://x.com:65536/",
	                     "http://x.com:8a/", "http://[::1/",     "http://[]/",
	                     "http://.x.com/",   "http://x.com/a b", "javascript://x.com/",
	                     "http://x\x01.com/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(url_parse(bad[i], strlen(bad[i]), 1, &u) == MC_ERR_INVALID);
	char *longp = malloc(MURL_PATH_SIZE + 32);
	memcpy(longp, "http://x.com/", 13);
	memset(longp + 13, 'a', MURL_PATH_SIZE);
	longp[13 + MURL_PATH_SIZE] = '\0';
	CHECK_INT(url_parse(longp, strlen(longp), 1, &u), MC_ERR_INVALID);
	free(longp);
}

static struct managed_url mk(const char *url, int match, int action)
{
	struct managed_url m;
	struct url_parts p;

	memset(&m, 0, sizeof(m));
	url_parse(url, strlen(url), 0, &p);
	memcpy(m.scheme, p.scheme, sizeof(m.scheme));
	memcpy(m.domain, p.host, sizeof(m.domain));
	m.port = match == MURL_DOMAIN ? -1 : p.port;
	if (match == MURL_EXPLICIT) {
		memcpy(m.path, p.path, sizeof(m.path));
		memcpy(m.query, p.query, sizeof(m.query));
	}
	m.match_type = match;
	m.action = action;
	return m;
}

static int decide(const struct managed_url *l, int n, const char *url)
{
	struct url_parts u;
	if (url_parse(url, strlen(url), 1, &u) != 0)
		return -2;
	return urlcheck_managed(l, n, &u);
}

static void test_managed(void)
{
	struct managed_url l[6];

	l[0] = mk("https://www.a.com/p", MURL_EXPLICIT, MURL_BLOCK);
	l[1] = mk("b.com", MURL_DOMAIN, MURL_BLOCK);
	l[2] = mk("ok.b.com", MURL_DOMAIN, MURL_PERMIT);
	l[3] = mk("http://x.b.com/", MURL_EXPLICIT, MURL_PERMIT);
	l[4] = mk("c.com", MURL_DOMAIN, MURL_PERMIT);
	l[5] = mk("c.com", MURL_DOMAIN, MURL_BLOCK);
	CHECK_INT(decide(l, 6, "https://www.a.com/p"), 0);
	CHECK_INT(decide(l, 6, "https://WWW.A.COM:443/p?x=1"), 0); /* no query in the entry */
	CHECK_INT(decide(l, 6, "http://www.a.com/p"), -1);         /* another scheme */
	CHECK_INT(decide(l, 6, "https://www.a.com:444/p"), -1);    /* another port */
	CHECK_INT(decide(l, 6, "https://www.a.com/p/q"), -1);      /* another path */
	CHECK_INT(decide(l, 6, "https://a.com/p"), -1);            /* another host */
	CHECK_INT(decide(l, 6, "https://b.com/anything"), 1);
	CHECK_INT(decide(l, 6, "https://deep.sub.b.com/"), 1);
	CHECK_INT(decide(l, 6, "https://notb.com/"), -1); /* not a subdomain */
	CHECK_INT(decide(l, 6, "https://ok.b.com/x"), 2); /* the longer domain wins */
	CHECK_INT(decide(l, 6, "http://x.b.com"), 3);     /* explicit beats domain; "" is "/" */
	CHECK_INT(decide(l, 6, "http://x.b.com/other"), 1);
	CHECK_INT(decide(l, 6, "https://c.com/"), 5); /* at equal rank block wins */
	struct managed_url q = mk("https://q.com/s?id=1", MURL_EXPLICIT, MURL_BLOCK);
	CHECK_INT(decide(&q, 1, "https://q.com/s?id=1"), 0);
	CHECK_INT(decide(&q, 1, "https://q.com/s?id=2"), -1);
	struct managed_url any = mk("q.com/s", MURL_EXPLICIT, MURL_BLOCK); /* no scheme: both */
	CHECK_INT(decide(&any, 1, "http://q.com/s"), 0);
	CHECK_INT(decide(&any, 1, "https://q.com/s"), 0);
}

static void test_urllist(void)
{
	char path[] = "/tmp/mcapi-urllist-XXXXXX";
	int fd = mkstemp(path);
	struct urllist *l = NULL;
	struct url_parts u;
	struct err e = {0};
	const char *text = "# comment\n\n  evil.test  \nhttps://www.good.test/phish\r\n"
	                   "http://x.test:8080/a?b=1\n";

	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CHECK_INT(urllist_load(path, &l, &e), 0);
#define M(s) (url_parse(s, strlen(s), 1, &u) == 0 && urllist_match(l, &u))
	CHECK(M("http://evil.test/"));
	CHECK(M("https://a.b.evil.test/x?y"));
	CHECK(!M("https://notevil.test/"));
	CHECK(M("https://www.good.test/phish"));
	CHECK(M("https://www.good.test/phish?utm=1"));
	CHECK(!M("https://www.good.test/"));
	CHECK(M("http://x.test:8080/a?b=1"));
	CHECK(!M("http://x.test/a?b=1"));
#undef M
	urllist_free(l);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "ok.test\nnot a url\n", 18) == 18);
	close(fd);
	CHECK_INT(urllist_load(path, &l, &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, ":2:") != NULL); /* names the line */
	unlink(path);
	CHECK_INT(urllist_load("/nonexistent/list", &l, &e), MC_ERR_IO);
	CHECK_INT(urllist_load("", &l, &e), 0);
	CHECK(l != NULL);
	urllist_free(l);
}

/* ---- tokens ---- */

static void test_tokens(void)
{
	unsigned char key[32], other[32];
	struct click_token t, o;
	char path[CLICK_TOKEN_MAX + 16];
	char *tok;

	memset(key, 7, sizeof(key));
	memset(other, 8, sizeof(other));
	memset(&t, 0, sizeof(t));
	snprintf(t.url, sizeof(t.url), "https://www.example.com/a?b=1");
	snprintf(t.acode, sizeof(t.acode), "abcDEF123");
	t.account_id = 3;
	t.message_id = 99;
	snprintf(t.rcpt, sizeof(t.rcpt), "ana@urls.test");
	t.test_malicious = 1;
	tok = click_token_make(key, &t);
	CHECK(tok != NULL);
	CHECK(strstr(tok, "example") == NULL && strstr(tok, "ana") == NULL); /* reveals nothing */
	CHECK_INT(click_token_open(key, tok, strlen(tok), &o), 0);
	CHECK_STR(o.url, t.url);
	CHECK_STR(o.acode, t.acode);
	CHECK_STR(o.rcpt, t.rcpt);
	CHECK_INT(o.account_id, 3);
	CHECK_INT(o.message_id, 99);
	CHECK_INT(o.test_malicious, 1);
	CHECK_INT(click_token_open(other, tok, strlen(tok), &o), MC_ERR_INVALID);
	snprintf(path, sizeof(path), "/s/%s", tok);
	CHECK_INT(click_path_open(key, path, &o), 0);
	snprintf(path, sizeof(path), "/s/%s/", tok);
	CHECK_INT(click_path_open(key, path, &o), 0);
	snprintf(path, sizeof(path), "/s/%s/x", tok);
	CHECK_INT(click_path_open(key, path, &o), MC_ERR_INVALID);
	for (size_t i = 0; i < strlen(tok); i += 7) { /* any changed character is refused */
		char save = tok[i];
		tok[i] = tok[i] == 'A' ? 'B' : 'A';
		CHECK_INT(click_token_open(key, tok, strlen(tok), &o), MC_ERR_INVALID);
		tok[i] = save;
	}
	CHECK_INT(click_token_open(key, tok, strlen(tok) - 1, &o), MC_ERR_INVALID);
	free(tok);
	/* the old form {u, a} still opens, with no account */
	t.account_id = 0;
	t.test_malicious = 0;
	tok = click_token_make(key, &t);
	CHECK_INT(click_token_open(key, tok, strlen(tok), &o), 0);
	CHECK_INT(o.account_id, 0);
	CHECK_STR(o.url, t.url);
	free(tok);
	CHECK_INT(click_path_open(key, "/s/", &o), MC_ERR_INVALID);
	CHECK_INT(click_path_open(key, "/x/abc", &o), MC_ERR_INVALID);
	CHECK_INT(click_path_open(key, "/s/a%2Fb", &o), MC_ERR_INVALID);
}

int main(void)
{
	test_batcher();
	test_url_parse();
	test_managed();
	test_urllist();
	test_tokens();
	return tap_done();
}
