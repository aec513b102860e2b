/* Framing checks (API.md §1) and the rate-limit arithmetic (the replay cache: test_replay.c). */
#include "common/err.h"
#include "server/config.h"
#include "server/http/framing.h"
#include "server/ratelimit.h"
#include "tap.h"

#include <stdio.h>

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
	struct framing_header chunked[] = {H("Host", "x"), H("Transfer-Encoding", " Chunked ")};
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
	test_ratelimit();
	return tap_done();
}
