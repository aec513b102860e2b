/* Unit tests for mime.c: header facts, nested multiparts with encoded file names, hashes,
 * message/rfc822 parts, URL extraction from text and HTML, the limits that keep GMime's
 * cost bounded, and URL rewriting round trips. Messages are built here, in CRLF. */
#include "common/b64.h"
#include "common/buf.h"
#include "common/err.h"
#include "server/mail/mime.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* s with every "\n" made "\r\n"; malloc'd. */
static char *crlf(const char *s, size_t *len)
{
	struct buf b;

	buf_init(&b, 64u << 20);
	for (; *s; s++)
		if (*s == '\n' ? buf_add(&b, "\r\n", 2) : buf_add(&b, s, 1))
			abort();
	return buf_detach(&b, len);
}

static struct mime_msg *parse(const char *text)
{
	size_t len;
	char *raw = crlf(text, &len);
	struct mime_msg *m = NULL;
	struct err e = {0};

	if (mime_parse(raw, len, &m, &e) != 0) {
		fprintf(stderr, "parse: %s\n", e.msg);
		abort();
	}
	free(raw);
	return m;
}

static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(B64_ENCODED_SIZE(n));

	b64_encode((const unsigned char *)s, n, out);
	return out;
}

static int has_url(const struct mime_msg *m, const char *url)
{
	for (int i = 0; i < m->nurls; i++)
		if (!strcmp(m->urls[i], url))
			return 1;
	return 0;
}

static void test_headers(void)
{
	struct mime_msg *m = parse("From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <jm@example.org>\n"
	                           "To: a@example.com, Team: b@example.com, c@example.com;\n"
	                           "Cc: \"D, E\" <d@example.net>\n"
	                           "Subject: =?ISO-8859-1?Q?caf=E9?= menu\n"
	                           "Message-ID: <abc.123@mail.example.org>\n"
	                           "X-Mcapi-Test:   Spam  \n"
	                           "\n"
	                           "hello\n");

	CHECK_STR(m->from_name, "J\xc3\xbcrgen M\xc3\xbcller");
	CHECK_STR(m->from_addr, "jm@example.org");
	CHECK_STR(m->subject, "caf\xc3\xa9 menu");
	CHECK_STR(m->msg_id, "abc.123@mail.example.org");
	CHECK_STR(m->test, "spam");
	CHECK_INT(m->nto, 3);
	CHECK_STR(m->to[0], "a@example.com");
	CHECK_STR(m->to[1], "b@example.com");
	CHECK_STR(m->to[2], "c@example.com");
	CHECK_INT(m->ncc, 1);
	CHECK_STR(m->cc[0], "d@example.net");
	CHECK_INT(m->nparts, 1);
	CHECK_INT(m->parts[0].kind, MIME_TEXT);
	CHECK_STR((const char *)m->parts[0].data, "hello\r\n");
	CHECK_INT(m->natt, 0);
	CHECK_INT(m->truncated, 0);
	mime_msg_free(m);

	/* control characters from encoded words never reach the store or the logs */
	m = parse("From: x@example.org\nSubject: =?UTF-8?Q?a=0D=0Ab=09c?=\n\nx\n");
	CHECK_STR(m->subject, "a  b c");
	CHECK_STR(m->msg_id, "");
	CHECK_STR(m->test, "");
	mime_msg_free(m);
}

static const char *nested_msg =
        "From: Alice <alice@example.org>\n"
        "To: bob@example.com\n"
        "Subject: report\n"
        "Message-ID: <n1@example.org>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"outer\"\n"
        "\n"
        "This is a multi-part message.\n"
        "--outer\n"
        "Content-Type: multipart/alternative; boundary=\"alt\"\n"
        "\n"
        "--alt\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "See https://example.com/report?id=1, and (http://example.net/a_(b)).\n"
        "Again: https://example.com/report?id=1.\n"
        "--alt\n"
        "Content-Type: text/html; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "<html><body><p>Caf=E9 <a href=3D\"https://example.com/x?a=3D1&amp;b=3D2\">link</a>\n"
        "<img src=3D'http://img.example.com/logo.png' alt=3Dlogo>\n"
        "<a href=3D\"https&#x3a;//hidden.example.org/p\">obfuscated</a>\n"
        "<a href=3D\"mailto:x@example.org\">mail</a> visit http://text.example.org/&amp;q=\n"
        "=3D1&lt;br&gt;</p></body></html>\n"
        "--alt--\n"
        "--outer\n"
        "Content-Type: application/pdf\n"
        "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "aGVsbG8=\n"
        "--outer\n"
        "Content-Type: application/octet-stream; name=\"=?UTF-8?B?w6l0w6kudHh0?=\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "d29ybGQ=\n"
        "--outer\n"
        "Content-Type: application/zip\n"
        "Content-Disposition: attachment; filename*0*=UTF-8''long%20na; filename*1=me.zip\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "UEsDBA==\n"
        "--outer\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: carol@example.net\n"
        "Subject: fwd\n"
        "Content-Type: multipart/mixed; boundary=\"inner\"\n"
        "\n"
        "--inner\n"
        "Content-Type: text/plain\n"
        "\n"
        "Forwarded: http://inner.example.net/path\n"
        "--inner\n"
        "Content-Type: text/plain; name=notes.txt\n"
        "Content-Disposition: attachment\n"
        "\n"
        "http://attached.example.net/ is in an attachment\n"
        "--inner--\n"
        "--outer--\n";

static void test_nested(void)
{
	struct mime_msg *m = parse(nested_msg);
	const struct mime_attachment *a;

	CHECK_INT(m->truncated, 0);
	CHECK_INT(m->nparts, 7);
	CHECK_INT(m->parts[0].kind, MIME_TEXT);
	CHECK_INT(m->parts[0].depth, 2);
	CHECK_INT(m->parts[1].kind, MIME_HTML);
	CHECK_STR(m->parts[1].type, "text/html");
	/* charset converted to UTF-8, quoted-printable undone */
	CHECK(strstr((const char *)m->parts[1].data, "Caf\xc3\xa9 <a href=\"https://") != NULL);
	CHECK_INT(m->parts[5].kind, MIME_TEXT);
	CHECK_INT(m->parts[5].depth, 3);

	CHECK_INT(m->natt, 4);
	a = &m->attachments[0];
	CHECK_STR(a->name, "\xe2\x82\xac rates.pdf"); /* RFC 2231 */
	CHECK_STR(a->type, "application/pdf");
	CHECK_INT(a->size, 5);
	CHECK_STR(a->md5, "5d41402abc4b2a76b9719d911017c592");
	CHECK_STR(a->sha1, "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
	CHECK_STR(a->sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	CHECK_INT(m->parts[a->part].kind, MIME_ATTACHMENT);
	CHECK_INT(m->parts[a->part].attachment, 0);
	CHECK(!memcmp(m->parts[a->part].data, "hello", 5));
	CHECK_STR(m->attachments[1].name, "\xc3\xa9t\xc3\xa9.txt"); /* RFC 2047 in name= */
	CHECK_INT(m->attachments[1].size, 5);
	CHECK_STR(m->attachments[2].name, "long name.zip"); /* RFC 2231 continuation */
	CHECK_STR(m->attachments[3].name, "notes.txt");     /* inside message/rfc822 */
	CHECK_STR(m->attachments[3].type, "text/plain");

	/* URLs: text, HTML attributes and text, the forwarded message; not attachments */
	CHECK(has_url(m, "https://example.com/report?id=1"));
	CHECK(has_url(m, "http://example.net/a_(b)"));
	CHECK(has_url(m, "https://example.com/x?a=1&b=2"));
	CHECK(has_url(m, "http://img.example.com/logo.png"));
	CHECK(has_url(m, "https://hidden.example.org/p"));
	CHECK(has_url(m, "http://text.example.org/&q=1"));
	CHECK(has_url(m, "http://inner.example.net/path"));
	CHECK(!has_url(m, "http://attached.example.net/"));
	CHECK_INT(m->nurls, 7);
	CHECK_STR(m->urls[0], "https://example.com/report?id=1"); /* order of appearance */
	{
		char *j = mime_urls_json(m);

		CHECK(j && !strncmp(j, "[\"https://example.com/report?id=1\",", 35));
		free(j);
	}
	mime_msg_free(m);
}

struct spans {
	int n;
	size_t start[8], end[8];
	char url[8][128];
};

static int span_cb(void *arg, size_t start, size_t end, const char *url, size_t len)
{
	struct spans *s = arg;

	if (s->n < 8) {
		s->start[s->n] = start;
		s->end[s->n] = end;
		snprintf(s->url[s->n], sizeof(s->url[0]), "%.*s", (int)len, url);
	}
	s->n++;
	return 0;
}

static void test_url_scan(void)
{
	struct spans s;
	const char *t = "x http://a.example/p. <https://b.example/q> xhttp://no.example "
	                "HTTP://C.EXAMPLE/r?x=1; http:// done";
	const char *h = "<A HREF = ' https://d.example/&#x41;&Tab;B '>d</a>"
	                "<a href=HTTPS:e.example>e</a><a data-x=1 title=\"http://f.example/\">f</a>"
	                "<p>http://g.example/x&gt;</p><!-- <a href=\"http://h.example/\"> -->"
	                "<base href=\"http://base.example/\">";

	memset(&s, 0, sizeof(s));
	CHECK_INT(mime_url_scan(t, strlen(t), 0, span_cb, &s), 0);
	CHECK_INT(s.n, 3);
	CHECK_STR(s.url[0], "http://a.example/p");
	CHECK_INT(s.start[0], 2);
	CHECK_INT(s.end[0], 20);
	CHECK_STR(s.url[1], "https://b.example/q");
	CHECK_STR(s.url[2], "HTTP://C.EXAMPLE/r?x=1");

	memset(&s, 0, sizeof(s));
	CHECK_INT(mime_url_scan(h, strlen(h), 1, span_cb, &s), 0);
	CHECK_INT(s.n, 4);
	CHECK_STR(s.url[0], "https://d.example/AB"); /* entities decoded, tab dropped, trimmed */
	CHECK(!strncmp(h + s.start[0], " https://", 9));
	CHECK_STR(s.url[1], "HTTPS:e.example"); /* what a browser follows as https://e.example */
	/* a title is no link: f.example is not there */
	CHECK_STR(s.url[2], "http://g.example/x"); /* &gt; ends it */
	CHECK_STR(s.url[3], "http://h.example/");  /* tags in comments count (Outlook reads them) */

	/* control characters and blanks never leave the scanner raw */
	memset(&s, 0, sizeof(s));
	t = "<a href='http://x.example/a b&#1;c&#0;'>";
	CHECK_INT(mime_url_scan(t, strlen(t), 1, span_cb, &s), 0);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.url[0], "http://x.example/a%20b%01c\xef\xbf\xbd");
}

static void test_charset_and_nul(void)
{
	static const char raw[] =
	        "From: a@example.org\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	        "\r\nab\0cd\xff\r\n";
	struct mime_msg *m = NULL;

	CHECK_INT(mime_parse(raw, sizeof(raw) - 1, &m, NULL), 0);
	CHECK_INT(m->nparts, 1);
	CHECK_STR((const char *)m->parts[0].data, "ab\xef\xbf\xbd"
	                                          "cd\xef\xbf\xbd\r\n");
	mime_msg_free(m);

	m = parse("From: a@example.org\nContent-Type: text/plain; charset=windows-1252\n"
	          "Content-Transfer-Encoding: quoted-printable\n\n=80 10\n");
	CHECK_STR((const char *)m->parts[0].data, "\xe2\x82\xac 10\r\n");
	CHECK_INT(m->parts[0].nbytes, 6);
	CHECK(!memcmp(m->parts[0].bytes, "\x80 10\r\n", 6));
	mime_msg_free(m);
}

static char *repeat(const char *head, const char *unit, int n, const char *tail)
{
	struct buf b;

	buf_init(&b, 256u << 20);
	if (buf_adds(&b, head))
		abort();
	for (int i = 0; i < n; i++)
		if (buf_adds(&b, unit))
			abort();
	if (buf_adds(&b, tail))
		abort();
	return buf_detach(&b, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_limits(void)
{
	struct mime_msg *m = NULL;
	struct buf b;
	char *raw;
	double t0;

	/* nesting deeper than MIME_MAX_DEPTH */
	buf_init(&b, 1u << 20);
	buf_adds(&b, "From: a@example.org\r\n");
	for (int i = 0; i < 40; i++)
		buf_addf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_adds(&b, "Content-Type: text/plain\r\n\r\ndeep\r\n");
	CHECK_INT(mime_parse(b.data, b.len, &m, NULL), 0);
	CHECK(m->truncated & MIME_TRUNC_DEPTH);
	CHECK_INT(m->nparts, 0);
	mime_msg_free(m);
	buf_release(&b);

	/* more than MIME_MAX_PARTS leaves */
	raw = repeat("From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
	             "--b\r\n\r\nx\r\n", MIME_MAX_PARTS + 5, "--b--\r\n");
	CHECK_INT(mime_parse(raw, strlen(raw), &m, NULL), 0);
	CHECK(m->truncated & MIME_TRUNC_PARTS);
	CHECK_INT(m->nparts, MIME_MAX_PARTS);
	mime_msg_free(m);
	free(raw);

	/* too many boundary-like lines: only the header is parsed */
	raw = repeat("From: Eve <eve@example.org>\r\nSubject: many\r\n"
	             "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
	             "--b\r\n\r\nx\r\n", MIME_MAX_DELIMS + 1, "--b--\r\n");
	t0 = now_s();
	CHECK_INT(mime_parse(raw, strlen(raw), &m, NULL), 0);
	CHECK(m->truncated & MIME_TRUNC_STRUCTURE);
	CHECK_STR(m->from_addr, "eve@example.org");
	CHECK_STR(m->subject, "many");
	CHECK_INT(m->nparts, 0);
	mime_msg_free(m);
	CHECK(now_s() - t0 < 2.0);
	{
		char *out = NULL;
		size_t out_len;

		CHECK_INT(
		        mime_rewrite_urls(raw, strlen(raw), NULL, NULL, &out, &out_len, NULL, NULL),
		        MC_ERR_TOO_LARGE);
		CHECK(out == NULL);
	}
	free(raw);

	/* an address field GMime would take minutes over ("a,a,a,..." of 1 MiB) */
	raw = repeat("From: Eve <eve@example.org>\r\nSubject: addr\r\nTo: ", "a,", 500000,
	             "\r\n\r\nbody\r\n");
	t0 = now_s();
	CHECK_INT(mime_parse(raw, strlen(raw), &m, NULL), 0);
	CHECK(now_s() - t0 < 2.0);
	CHECK(m->truncated & MIME_TRUNC_STRUCTURE);
	CHECK(m->truncated & MIME_TRUNC_ADDRS);
	CHECK_STR(m->from_addr, "eve@example.org");
	CHECK_STR(m->subject, "addr");
	CHECK_INT(m->nto, 0);
	mime_msg_free(m);
	free(raw);

	/* many recipients of a normal kind are fine, kept up to MIME_MAX_ADDRS */
	raw = repeat("From: a@example.org\r\nTo: ", "user@example.com, ", 1500,
	             "x@example.com\r\n\r\nb\r\n");
	CHECK_INT(mime_parse(raw, strlen(raw), &m, NULL), 0);
	CHECK_INT(m->truncated, MIME_TRUNC_ADDRS);
	CHECK_INT(m->nto, MIME_MAX_ADDRS);
	mime_msg_free(m);
	free(raw);

	/* more distinct URLs than kept */
	buf_init(&b, 1u << 20);
	buf_adds(&b, "From: a@example.org\r\n\r\n");
	for (int i = 0; i < MIME_MAX_URLS + 10; i++)
		buf_addf(&b, "http://u%d.example/\r\n", i);
	CHECK_INT(mime_parse(b.data, b.len, &m, NULL), 0);
	CHECK_INT(m->truncated, MIME_TRUNC_URLS);
	CHECK_INT(m->nurls, MIME_MAX_URLS);
	mime_msg_free(m);
	buf_release(&b);

	/* bytes GMime makes no message of */
	CHECK_INT(mime_parse("x", 1, &m, NULL), 0);
	CHECK(m->truncated & MIME_TRUNC_UNPARSED);
	mime_msg_free(m);
	CHECK_INT(mime_parse("", 0, &m, NULL), 0);
	CHECK(m->truncated & MIME_TRUNC_UNPARSED);
	mime_msg_free(m);
}

struct counter {
	int calls;
	int fail;
};

static int gw_url(void *arg, const char *url, size_t len, struct buf *out)
{
	struct counter *c = arg;

	(void)len;
	if (c->fail)
		return MC_ERR_STORE;
	c->calls++;
	if (strchr(url, '\r') || strchr(url, '\n'))
		return MC_ERR_INTERNAL;
	return buf_addf(out, "https://gw.example/s/T%d", c->calls);
}

static int all_gw(const struct mime_msg *m)
{
	for (int i = 0; i < m->nurls; i++)
		if (strncmp(m->urls[i], "https://gw.example/s/T", 22) != 0)
			return 0;
	return m->nurls > 0;
}

static int only_crlf(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
	return 1;
}

static void test_rewrite(void)
{
	size_t len, out_len;
	char *raw = crlf(nested_msg, &len), *out = NULL;
	struct counter c = {0};
	struct mime_msg *before = NULL, *after = NULL;
	struct err e = {0};
	int n = -1;

	CHECK_INT(mime_parse(raw, len, &before, NULL), 0);
	CHECK_INT(mime_rewrite_urls(raw, len, gw_url, &c, &out, &out_len, &n, &e), 0);
	CHECK(out != NULL);
	CHECK_INT(c.calls, 7); /* once per distinct URL */
	CHECK_INT(n, 8);       /* every occurrence */
	CHECK(only_crlf(out, out_len));
	CHECK(strstr(out, "example.com/report") == NULL);
	CHECK(strstr(out, "hidden.example.org") == NULL);
	CHECK(strstr(out, "mailto:x@example.org") != NULL);
	/* the attachment inside the forwarded message keeps its link */
	CHECK(strstr(out, "http://attached.example.net/") != NULL);
	CHECK_INT(mime_parse(out, out_len, &after, NULL), 0);
	CHECK_INT(after->truncated, 0);
	CHECK_INT(after->nparts, before->nparts);
	CHECK_INT(after->nurls, 7);
	CHECK(all_gw(after));
	CHECK_INT(after->natt, before->natt);
	for (int i = 0; i < before->natt && i < after->natt; i++) {
		CHECK_STR(after->attachments[i].name, before->attachments[i].name);
		CHECK_STR(after->attachments[i].sha256, before->attachments[i].sha256);
		CHECK_STR(after->attachments[i].md5, before->attachments[i].md5);
	}
	/* headers and the non-URL text stay */
	CHECK_STR(after->subject, "report");
	CHECK_STR(after->msg_id, "n1@example.org");
	CHECK(strstr((const char *)after->parts[1].data,
	             "Caf\xc3\xa9 <a href=\"https://gw.example/s/T"));
	CHECK(strstr((const char *)after->parts[0].data, "(https://gw.example/s/T2).") != NULL);
	/* quoted-printable stays quoted-printable */
	CHECK(strstr(out, "Content-Transfer-Encoding: quoted-printable") != NULL);
	mime_msg_free(after);
	free(out);

	/* a second pass finds only gateway links */
	{
		char *out2 = NULL;
		size_t out2_len;
		struct counter c2 = {0};

		CHECK_INT(mime_rewrite_urls(raw, len, gw_url, &c2, &out2, &out2_len, NULL, NULL),
		          0);
		free(out2);
	}

	/* the callback's error aborts the rewrite */
	c.fail = 1;
	CHECK_INT(mime_rewrite_urls(raw, len, gw_url, &c, &out, &out_len, NULL, &e), MC_ERR_STORE);
	CHECK(out == NULL);
	mime_msg_free(before);
	free(raw);

	/* nothing to rewrite: the very same bytes */
	raw = crlf("From: a@example.org\nSubject: plain\n\nno links here\n", &len);
	CHECK_INT(mime_rewrite_urls(raw, len, gw_url, &c, &out, &out_len, &n, NULL), 0);
	CHECK_INT(n, 0);
	CHECK_INT(out_len, len);
	CHECK(!memcmp(out, raw, len));
	free(out);
	free(raw);

	/* a single-part 7-bit text message with a long URL line: re-encoded safely */
	{
		struct counter c3 = {0};
		char *body =
		        b64("Click http://one.example/very/long/path?with=query&and=more now.\n");

		raw = repeat("From: a@example.org\r\nSubject: b64\r\nContent-Type: text/plain; "
		             "charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		             body, 1, "\r\n");
		CHECK_INT(
		        mime_rewrite_urls(raw, strlen(raw), gw_url, &c3, &out, &out_len, &n, NULL),
		        0);
		CHECK_INT(n, 1);
		CHECK(strstr(out, "Content-Transfer-Encoding: base64") != NULL);
		CHECK_INT(mime_parse(out, out_len, &after, NULL), 0);
		CHECK_STR((const char *)after->parts[0].data,
		          "Click https://gw.example/s/T1 now.\n");
		mime_msg_free(after);
		free(out);
		free(raw);
		free(body);
	}
}

/* GMime is initialised once, from whichever thread comes first; calls on different
 * messages run concurrently. */
static void *worker(void *arg)
{
	const char *raw = arg;
	size_t len = strlen(raw);
	long bad = 0;

	for (int i = 0; i < 20; i++) {
		struct mime_msg *m = NULL;
		struct counter c = {0};
		char *out = NULL;
		size_t out_len;
		int n = 0;

		if (mime_parse(raw, len, &m, NULL) != 0 || m->nurls != 7 || m->natt != 4)
			bad++;
		mime_msg_free(m);
		if (mime_rewrite_urls(raw, len, gw_url, &c, &out, &out_len, &n, NULL) != 0 ||
		    n != 8)
			bad++;
		free(out);
	}
	return (void *)bad;
}

static void test_threads(void)
{
	size_t len;
	char *raw = crlf(nested_msg, &len);
	pthread_t t[4];
	void *bad;
	long total = 0;

	for (int i = 0; i < 4; i++)
		CHECK_INT(pthread_create(&t[i], NULL, worker, raw), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &bad);
		total += (long)bad;
	}
	CHECK_INT(total, 0);
	free(raw);
}

int main(void)
{
	test_threads(); /* first, so that GMime is initialised by the threads */
	test_headers();
	test_nested();
	test_url_scan();
	test_charset_and_nul();
	test_limits();
	test_rewrite();
	mime_shutdown();
	return tap_done();
}
