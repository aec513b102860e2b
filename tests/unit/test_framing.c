/* Framing checks (API.md §1) and the rate-limit arithmetic (the replay cache: test_replay.c). */
#include "common/err.h"
#include "server/config.h"
#include "server/http/framing.h"
#include "server/ratelimit.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

#define H(n, v)                                                                                    \
	{                                                                                          \
		n, sizeof(n) - 1, v, sizeof(v) - 1                                                 \
	}

static void test_framing(void)
{
	struct framing_result r;
	struct framing_header ok[] = {H("Host", "x"), H("Content-Length", "12")};
	struct framing_header dup_cl[] = {H("Host", "x"), H("Content-Length", "1"),
	                                  H("content-length", "1")};
	struct framing_header cl_te[] = {H("Host", "x"), H("Content-Length", "1"),
	                                 H("Transfer-Encoding", "chunked")};
	struct framing_header gzip[] = {H("Host", "x"), H("Transfer-Encoding", "gzip, chunked")};
	struct framing_header chunked[] = {H("Host", "x"), H("Transfer-Encoding", " Chunked")};
	struct framing_header nohost[] = {H("Content-Length", "1")};
	struct framing_header twohost[] = {H("Host", "x"), H("Host", "y")};
	struct framing_header space[] = {H("Host", "x"), H("Content Length", "1")};
	struct framing_header huge[] = {H("Host", "x"),
	                                H("Content-Length", "1000000000000000000000000")};
	struct framing_header neg[] = {H("Host", "x"), H("Content-Length", "-1")};

	framing_check("HTTP/1.1", ok, 2, &r);
	CHECK(r.ok && r.has_length && r.content_length == 12);
	framing_check("HTTP/1.1", dup_cl, 3, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", cl_te, 3, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", gzip, 2, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", chunked, 2, &r);
	CHECK(r.ok && r.chunked);
	framing_check("HTTP/1.1", nohost, 1, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.0", nohost, 1, &r);
	CHECK(r.ok);
	framing_check("HTTP/1.1", twohost, 2, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", space, 2, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", huge, 2, &r);
	CHECK(r.ok && r.content_length == UINT64_MAX);
	framing_check("HTTP/1.1", neg, 2, &r);
	CHECK(!r.ok);

	/* trailing whitespace is kept in values: "chunked " is refused, not guessed at */
	struct framing_header te_sp[] = {H("Host", "x"), H("Transfer-Encoding", "chunked ")};
	struct framing_header te_tab[] = {H("Host", "x"), H("Transfer-Encoding", "chunked\t")};
	struct framing_header cl_sp[] = {H("Host", "x"), H("Content-Length", "2 ")};
	struct framing_header ctl[] = {H("Host", "x"), H("X-A", "a\rb")};
	struct framing_header nul[] = {{"Host", 4, "x", 1}, {"X-A", 3, "a\0b", 3}};
	struct framing_header tab[] = {H("Host", "x"), H("X-A", "a\tb\x80")};
	framing_check("HTTP/1.1", te_sp, 2, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", te_tab, 2, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", cl_sp, 2, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", ctl, 2, &r);
	CHECK(!r.ok && strstr(r.reason, "control character"));
	framing_check("HTTP/1.1", nul, 2, &r);
	CHECK(!r.ok);
	framing_check("HTTP/1.1", tab, 2, &r);
	CHECK(r.ok);
}

/* The word-at-a-time screens: a bad byte is found at every position of a long name or value,
 * and what the exact checks allow (a tab or UTF-8 in a value, UTF-8 in a name) still passes. */
static void test_framing_positions(void)
{
	static const char bad_value[] = {'\r', '\n', '\0', 0x1f, 0x7f};
	static const char bad_name[] = {' ', ':', '\t', '\0', 0x7f};
	struct framing_result r;

	for (size_t len = 1; len <= 20; len++) {
		for (size_t at = 0; at < len; at++) {
			char name[24], value[24];
			struct framing_header hs[2] = {{"Host", 4, "x", 1},
			                               {name, len, value, len}};

			memset(name, 'n', sizeof(name));
			memset(value, 'v', sizeof(value));
			for (size_t k = 0; k < sizeof(bad_value); k++) {
				value[at] = bad_value[k];
				framing_check("HTTP/1.1", hs, 2, &r);
				CHECK(!r.ok && strstr(r.reason, "control character"));
			}
			value[at] = '\t';
			framing_check("HTTP/1.1", hs, 2, &r);
			CHECK(r.ok);
			value[at] = (char)0xc3;
			framing_check("HTTP/1.1", hs, 2, &r);
			CHECK(r.ok);
			value[at] = 'v';
			for (size_t k = 0; k < sizeof(bad_name); k++) {
				name[at] = bad_name[k];
				framing_check("HTTP/1.1", hs, 2, &r);
				CHECK(!r.ok && strstr(r.reason, "header name"));
			}
			name[at] = (char)0xc3;
			framing_check("HTTP/1.1", hs, 2, &r);
			CHECK(r.ok);
		}
	}
}

/* framing_head over s: its kind, and the reason must contain want (NULL: no reason). */
static void head_is(const char *s, size_t n, enum framing_head_kind kind, const char *want,
                    int line)
{
	const char *reason = "unset";
	struct framing_result fr;
	enum framing_head_kind k = framing_head(s, n, 4096, &reason, &fr);

	tap_check(k == kind, s, __FILE__, line);
	if (want)
		tap_check(reason && strstr(reason, want) != NULL, want, __FILE__, line);
	else
		tap_check(k != FRAMING_HEAD_OK || fr.ok, "framing ok", __FILE__, line);
	/* every prefix of a complete head is MORE (or already refused): never OK early (a
	 * chunk line may come after the head: not for those) */
	if (kind != FRAMING_HEAD_MORE && !strstr(s, "chunked\r\n\r\n"))
		for (size_t i = 0; i < n; i++)
			tap_check(framing_head(s, i, 4096, &reason, NULL) != FRAMING_HEAD_OK ||
			                  kind == FRAMING_HEAD_OK,
			          "prefix", __FILE__, line);
}

#define HEAD(s, kind, want) head_is(s, sizeof(s) - 1, kind, want, __LINE__)

static void test_head(void)
{
	const char *reason;
	struct framing_result fr;
	char big[5000];

	HEAD("GET / HTTP/1.1\r\nHost: x\r\n\r\n", FRAMING_HEAD_OK, NULL);
	HEAD("GET / HTTP/1.1\nHost: x\n\n", FRAMING_HEAD_OK, NULL); /* bare LF, as nginx */
	HEAD("\r\nGET / HTTP/1.0\r\n\r\n", FRAMING_HEAD_OK, NULL);
	HEAD("POST https://api.mimecast.com/api/x?y HTTP/1.1\r\nHost: x\r\n\r\n", FRAMING_HEAD_OK,
	     NULL);
	HEAD("CONNECT api.mimecast.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", FRAMING_HEAD_OK, NULL);
	HEAD("GET / HTTP/1.1\r\nHost: x\r\n", FRAMING_HEAD_MORE, NULL);
	HEAD("GET / HTTP/1.1\r", FRAMING_HEAD_MORE, NULL);
	HEAD("", FRAMING_HEAD_MORE, NULL);
	/* the probes */
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked \r\n\r\n", FRAMING_HEAD_BAD,
	     "Transfer-Encoding");
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\t\r\n\r\n", FRAMING_HEAD_BAD,
	     "Transfer-Encoding");
	HEAD("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", FRAMING_HEAD_BAD, "NUL");
	HEAD("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", FRAMING_HEAD_BAD, "bare CR");
	HEAD("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", FRAMING_HEAD_BAD, "fold");
	HEAD("GET / HTTP/1.1\r\n Host: x\r\n\r\n", FRAMING_HEAD_BAD, "fold");
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", FRAMING_HEAD_BAD,
	     "Content-Length");
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	     FRAMING_HEAD_BAD, "Content-Length");
	HEAD("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", FRAMING_HEAD_BAD, "Host");
	HEAD("GET / HTTP/1.1\r\nHost : x\r\n\r\n", FRAMING_HEAD_BAD, "header name");
	HEAD("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", FRAMING_HEAD_BAD, "colon");
	HEAD("GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", FRAMING_HEAD_BAD, "empty");
	HEAD("GET / HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", FRAMING_HEAD_BAD, "control");
	/* request lines */
	HEAD("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", FRAMING_HEAD_BAD, "request line");
	HEAD("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", FRAMING_HEAD_BAD, "request line");
	HEAD("GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", FRAMING_HEAD_BAD, "control");
	HEAD("GET / HTTP/2.0\r\nHost: x\r\n\r\n", FRAMING_HEAD_BAD, "version");
	HEAD("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", FRAMING_HEAD_BAD, "request line");
	HEAD("GET /\r\n\r\n", FRAMING_HEAD_BAD, "request line");
	HEAD("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", FRAMING_HEAD_BAD, "request line");
	HEAD("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", FRAMING_HEAD_BAD, NULL);
	/* the first chunk line, when it came with the head */
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
	     FRAMING_HEAD_OK, NULL);
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\n",
	     FRAMING_HEAD_OK, NULL);
	/* its first line is waited for, unless the client waits for 100 Continue */
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", FRAMING_HEAD_MORE,
	     NULL);
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;a",
	     FRAMING_HEAD_MORE, NULL);
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
	     "\r\n",
	     FRAMING_HEAD_OK, NULL);
	HEAD("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	     FRAMING_HEAD_BAD, "chunk size");
	memset(big, 'a', sizeof(big));
	memcpy(big, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;", 58);
	CHECK(framing_head(big, sizeof(big), 4096, &reason, &fr) == FRAMING_HEAD_BAD);
	CHECK(strstr(reason, "chunk extension"));
	CHECK(framing_head(big, 500, 4096, &reason, &fr) == FRAMING_HEAD_MORE);
	/* sizes */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX-A: ", 21);
	CHECK(framing_head(big, sizeof(big), 4096, &reason, &fr) == FRAMING_HEAD_TOO_LARGE);
	CHECK(framing_head(big, 4095, 4096, &reason, &fr) == FRAMING_HEAD_MORE);
	{
		char many[2048];
		size_t k = 0;
		k += (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: x\r\n");
		for (int i = 0; i < FRAMING_MAX_HEADERS; i++)
			k += (size_t)snprintf(many + k, sizeof(many) - k, "X-%d: y\r\n", i);
		k += (size_t)snprintf(many + k, sizeof(many) - k, "\r\n");
		CHECK(framing_head(many, k, 4096, &reason, &fr) == FRAMING_HEAD_TOO_LARGE);
	}
	CHECK(framing_head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n", 47, 4096,
	                   &reason, &fr) == FRAMING_HEAD_OK);
	CHECK(fr.ok && fr.has_length && fr.content_length == 7 && !fr.chunked);
}

/* framing_request: the parts of a head, and where it ends (pipelined bytes follow). */
static void test_request(void)
{
	static const char two[] = "\r\nPOST http://a/b?c HTTP/1.0\r\nHost: x\r\nX-A:  v \r\n\r\n"
	                          "GET / HTTP/1.1\r\n";
	struct framing_request rq;
	struct framing_result fr;
	const char *reason;

	CHECK(framing_request(two, sizeof(two) - 1, 4096, &reason, &fr, &rq) == FRAMING_HEAD_OK);
	CHECK(rq.method_len == 4 && memcmp(rq.method, "POST", 4) == 0);
	CHECK(rq.target_len == 12 && memcmp(rq.target, "http://a/b?c", 12) == 0);
	CHECK(strcmp(rq.version, "HTTP/1.0") == 0 && rq.nh == 2);
	CHECK(rq.hs[1].value_len == 2 && memcmp(rq.hs[1].value, "v ", 2) == 0);
	CHECK(rq.head_len == (size_t)(strstr(two, "GET") - two));
	/* the second head alone is incomplete */
	CHECK(framing_request(two + rq.head_len, sizeof(two) - 1 - rq.head_len, 4096, &reason, &fr,
	                      &rq) == FRAMING_HEAD_MORE);
	CHECK(framing_request("GET / HTTP/1.1\r\nContent-Length: 1x\r\nHost: x\r\n\r\n", 49, 4096,
	                      &reason, &fr, &rq) == FRAMING_HEAD_BAD);
}

static void test_chunk_size(void)
{
	char big[FRAMING_CHUNK_LINE_MAX + 2];
	const char *reason;
	uint64_t n = 0;

	CHECK(framing_chunk_size("1A", 2, &n, &reason) == 0 && n == 26);
	CHECK(framing_chunk_size("0;name=\"v\"\t", 10, &n, &reason) == 0 && n == 0);
	CHECK(framing_chunk_size("ffffffffffffffff", 16, &n, &reason) == 0 && n == UINT64_MAX);
	CHECK(framing_chunk_size("1ffffffffffffffff", 17, &n, &reason) != 0);
	CHECK(framing_chunk_size("", 0, &n, &reason) != 0);
	CHECK(framing_chunk_size("-1", 2, &n, &reason) != 0);
	CHECK(framing_chunk_size("1x", 2, &n, &reason) != 0);
	CHECK(framing_chunk_size("1;a\x01", 4, &n, &reason) != 0);
	memset(big, 'e', sizeof(big));
	big[0] = '1';
	big[1] = ';';
	CHECK(framing_chunk_size(big, sizeof(big), &n, &reason) != 0 && strstr(reason, "too long"));
	CHECK(framing_chunk_size(big, FRAMING_CHUNK_LINE_MAX, &n, &reason) == 0 && n == 1);
}

static void test_ratelimit(void)
{
	struct config cfg;
	struct err e;
	struct rl_verdict v;
	struct ratelimit *rl;

	config_defaults(&cfg);
	cfg.rate_limit = 5;
	cfg.rate_refill_ms = 100;
	snprintf(cfg.rate_overrides, sizeof(cfg.rate_overrides), "/api/x/y=2:1000");
	rl = ratelimit_new(&cfg, &e);
	CHECK(rl != NULL);
	for (int i = 0; i < 5; i++) {
		ratelimit_take(rl, 1, "/api/a/b", 1000, &v);
		CHECK(v.allowed && v.remaining == 4 - i && v.limit == 5);
	}
	ratelimit_take(rl, 1, "/api/a/b", 1000, &v);
	CHECK(!v.allowed && v.remaining == 0 && v.reset_ms == 100);
	ratelimit_take(rl, 1, "/api/a/b", 1060, &v);
	CHECK(!v.allowed && v.reset_ms == 40);
	ratelimit_take(rl, 1, "/api/a/b", 1100, &v);
	CHECK(v.allowed && v.remaining == 0);
	ratelimit_take(rl, 2, "/api/a/b", 1100, &v); /* another user: own bucket */
	CHECK(v.allowed && v.remaining == 4);
	ratelimit_take(rl, 1, "/api/x/y", 1100, &v); /* override: own bucket */
	CHECK(v.allowed && v.limit == 2 && v.remaining == 1);
	ratelimit_free(rl);

	snprintf(cfg.rate_overrides, sizeof(cfg.rate_overrides), "/api/x/y=zz");
	CHECK(ratelimit_new(&cfg, &e) == NULL);

	struct iplimit *ipl = iplimit_new(3);
	for (int i = 0; i < 3; i++) {
		CHECK(iplimit_allowed(ipl, "1.2.3.4", 0));
		iplimit_count(ipl, "1.2.3.4", 0);
	}
	CHECK(!iplimit_allowed(ipl, "1.2.3.4", 0));
	CHECK(iplimit_allowed(ipl, "1.2.3.5", 0));
	CHECK(iplimit_allowed(ipl, "1.2.3.4", 20000));
	iplimit_free(ipl);
}

int main(void)
{
	test_framing();
	test_framing_positions();
	test_head();
	test_request();
	test_chunk_size();
	test_ratelimit();
	return tap_done();
}
