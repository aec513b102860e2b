/* Framing checks (API.md §1) and the replay cache and rate-limit arithmetic. */
#include "common/err.h"
#include "server/auth/replay.h"
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

static void test_replay(void)
{
	struct replay *r = replay_new(1000, 900);
	CHECK(r != NULL);
	CHECK_INT(replay_check_insert(r, "ak", 2, "id-1", 100), 0);
	CHECK_INT(replay_check_insert(r, "ak", 2, "id-1", 100), MC_ERR_EXISTS);
	CHECK_INT(replay_check_insert(r, "ak2", 3, "id-1", 100), 0);
	/* still remembered one period later (one rotation), forgotten after two */
	CHECK_INT(replay_check_insert(r, "ak", 2, "id-1", 100 + 1800), MC_ERR_EXISTS);
	CHECK_INT(replay_check_insert(r, "ak", 2, "id-x", 100 + 1800), 0);
	CHECK_INT(replay_check_insert(r, "ak", 2, "id-1", 100 + 3600 + 1), 0);
	replay_free(r);

	/* a full cache refuses rather than forgets */
	r = replay_new(1000, 900);
	int full = 0;
	char id[32];
	for (int i = 0; i < 5000 && !full; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		full = replay_check_insert(r, "ak", 2, id, 1) == MC_ERR_UNAVAILABLE;
	}
	CHECK(full);
	replay_free(r);
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

/* replay_seen only looks; replay_forget frees a pair again and keeps every other pair
 * findable (backward-shift deletion in a table that has wrapped and grown). */
static void test_replay_forget(void)
{
	struct replay *r = replay_new(100000, 900);
	char id[32];

	CHECK_INT(replay_seen(r, "ak", 2, "a", 10), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "a", 10), 0); /* looking records nothing */
	CHECK_INT(replay_check_insert(r, "ak", 2, "a", 10), 0);
	CHECK_INT(replay_seen(r, "ak", 2, "a", 10), 1);
	replay_forget(r, "ak", 2, "a");
	CHECK_INT(replay_seen(r, "ak", 2, "a", 10), 0);
	CHECK_INT(replay_check_insert(r, "ak", 2, "a", 10), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		CHECK_INT(replay_check_insert(r, "ak", 2, id, 11), 0);
	}
	for (int i = 0; i < 5000; i += 2) {
		snprintf(id, sizeof(id), "id-%d", i);
		replay_forget(r, "ak", 2, id);
	}
	int wrong = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		wrong += replay_seen(r, "ak", 2, id, 12) != (i % 2);
	}
	CHECK_INT(wrong, 0);
	replay_forget(r, "ak", 2, "never-there"); /* harmless */
	CHECK_INT(replay_seen(r, "ak", 2, "a", 12), 1);
	replay_free(r);
}

int main(void)
{
	test_framing();
	test_replay();
	test_replay_forget();
	test_ratelimit();
	return tap_done();
}
