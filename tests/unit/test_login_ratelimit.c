/* Rate-limit arithmetic of API.md §7 without sockets: the bucket step (refill of whole calls,
 * an exact X-RateLimit-Reset), per-user buckets shared by every binding, per-endpoint
 * overrides and their parser, a pluggable backend, the per-IP limit (IPv6 per /64) and its
 * one-step take; and the authentication cache's flush and change generation, which a shared
 * store's notifications drive (nodes.h). */
#include "common/err.h"
#include "server/auth/authcache.h"
#include "server/config.h"
#include "server/ratelimit.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static void test_bucket_step(void)
{
	struct rl_bucket b = {3, 0};
	struct rl_verdict v;

	CHECK(rl_bucket_step(&b, 3, 100, 1, 0, &v));
	CHECK_INT(v.remaining, 2);
	CHECK_INT(v.reset_ms, 100);
	CHECK(rl_bucket_step(&b, 3, 100, 1, 30, &v));
	CHECK(rl_bucket_step(&b, 3, 100, 1, 30, &v));
	CHECK_INT(v.remaining, 0);
	CHECK_INT(v.reset_ms, 70);
	CHECK(!rl_bucket_step(&b, 3, 100, 1, 99, &v));
	CHECK_INT(v.reset_ms, 1);
	/* X-RateLimit-Reset tells the truth: that many ms later there is a call */
	CHECK(rl_bucket_step(&b, 3, 100, 1, 99 + v.reset_ms, &v));
	CHECK_INT(v.remaining, 0);
	CHECK_INT(v.reset_ms, 100);
	/* the remainder of elapsed time is kept: 250 ms = 2 calls + 50 ms */
	CHECK(rl_bucket_step(&b, 3, 100, 0, 350, &v));
	CHECK_INT(v.remaining, 2);
	CHECK_INT(v.reset_ms, 50);
	/* refill stops at the limit; a full bucket has no reset */
	CHECK(rl_bucket_step(&b, 3, 100, 0, 100000, &v));
	CHECK_INT(v.remaining, 3);
	CHECK_INT(v.reset_ms, 0);
	/* a clock going backwards refills nothing and does not crash */
	b.tokens = 0;
	b.last = 5000;
	CHECK(!rl_bucket_step(&b, 3, 100, 1, 4000, &v));
	CHECK(v.reset_ms >= 0 && v.reset_ms <= 100);
	/* a lowered limit caps the tokens */
	b.tokens = 50;
	b.last = 0;
	CHECK(rl_bucket_step(&b, 3, 100, 1, 0, &v));
	CHECK_INT(v.remaining, 2);
	CHECK_INT(v.limit, 3);
}

static void test_per_user(void)
{
	struct config cfg;
	struct err e = {0};
	struct rl_verdict v;
	struct ratelimit *rl;

	config_defaults(&cfg);
	cfg.rate_limit = 5;
	cfg.rate_refill_ms = 1000;
	snprintf(cfg.rate_overrides, sizeof(cfg.rate_overrides),
	         " /api/domain/verify-domain = 2 : 60000 , /api/audit/get-audit-events=3");
	rl = ratelimit_new(&cfg, &e);
	CHECK(rl != NULL);
	if (!rl)
		return;
	/* the bucket is the user's, whichever path (except overrides) and binding */
	for (int i = 0; i < 5; i++) {
		ratelimit_take(rl, 7, i % 2 ? "/api/account/get-account" : "/api/login/logout", 10,
		               &v);
		CHECK(v.allowed);
		CHECK_INT(v.remaining, 4 - i);
		CHECK_INT(v.limit, 5);
	}
	ratelimit_take(rl, 7, "/api/account/get-account", 10, &v);
	CHECK(!v.allowed);
	CHECK_INT(v.reset_ms, 1000);
	ratelimit_take(rl, 7, "/api/account/get-account", 1010, &v);
	CHECK(v.allowed);
	/* overrides: a bucket of their own, own limit and refill (default refill if omitted) */
	ratelimit_take(rl, 7, "/api/domain/verify-domain", 1010, &v);
	CHECK(v.allowed && v.limit == 2 && v.remaining == 1);
	ratelimit_take(rl, 7, "/api/domain/verify-domain", 1010, &v);
	ratelimit_take(rl, 7, "/api/domain/verify-domain", 1010, &v);
	CHECK(!v.allowed && v.reset_ms == 60000);
	ratelimit_take(rl, 7, "/api/audit/get-audit-events", 1010, &v);
	CHECK(v.allowed && v.limit == 3 && v.remaining == 2 && v.reset_ms == 1000);
	/* another user is untouched */
	ratelimit_take(rl, 8, "/api/account/get-account", 1010, &v);
	CHECK(v.allowed && v.remaining == 4);
	/* cleared (the emulator's reset): every bucket full again */
	ratelimit_take(rl, 7, "/api/domain/verify-domain", 1010, &v);
	CHECK(!v.allowed);
	ratelimit_clear(rl);
	ratelimit_take(rl, 7, "/api/domain/verify-domain", 1010, &v);
	CHECK(v.allowed && v.remaining == 1);
	ratelimit_take(rl, 8, "/api/account/get-account", 1010, &v);
	CHECK(v.allowed && v.remaining == 4);
	ratelimit_clear(NULL);
	ratelimit_free(rl);
}

static void test_override_errors(void)
{
	static const char *bad[] = {
	        "/api/x/y=zz",
	        "/api/x/y=0",
	        "/api/x/y=5:0",
	        "/api/x/y=5:",
	        "api/x/y=5",
	        "/api/x/y",
	        "=5",
	        "/api/x/y=5,/api/x/y=6",
	        "/api/x/y=99999999999",
	        "/api/x/y=5:3600001",
	        "/api/x y=5",
	};
	struct config cfg;
	struct err e;

	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ratelimit *rl;
		err_clear(&e);
		snprintf(cfg.rate_overrides, sizeof(cfg.rate_overrides), "%s", bad[i]);
		rl = ratelimit_new(&cfg, &e);
		CHECK(rl == NULL);
		CHECK(strstr(e.msg, "rate_overrides") != NULL);
		ratelimit_free(rl);
	}
	snprintf(cfg.rate_overrides, sizeof(cfg.rate_overrides), ",, /api/x/y=5 ,");
	struct ratelimit *ok = ratelimit_new(&cfg, &e);
	CHECK(ok != NULL);
	ratelimit_free(ok);
}

/* A backend that counts its calls and delegates to the memory one. */
static int calls;
static struct rl_backend inner;

static int counting_op(void *state, uint64_t key, int64_t limit, int64_t refill_ms, int take,
                       int64_t now, struct rl_verdict *v)
{
	(void)state;
	calls++;
	return inner.op(inner.state, key, limit, refill_ms, take, now, v);
}

static void counting_free(void *state)
{
	(void)state;
	inner.free(inner.state);
}

static void test_backend(void)
{
	struct config cfg;
	struct err e;
	struct rl_verdict v;
	struct rl_backend b = {.op = counting_op, .free = counting_free};
	struct ratelimit *rl;

	config_defaults(&cfg);
	cfg.rate_limit = 1;
	CHECK_INT(rl_memory_backend(&inner), 0);
	rl = ratelimit_new_backend(&cfg, &b, &e);
	CHECK(rl != NULL);
	ratelimit_take(rl, 1, "/api/a/b", 0, &v);
	CHECK(v.allowed);
	ratelimit_take(rl, 1, "/api/a/b", 0, &v);
	CHECK(!v.allowed);
	CHECK_INT(calls, 2);
	ratelimit_free(rl);
}

static void test_iplimit(void)
{
	struct iplimit *ipl = iplimit_new(3);

	CHECK(ipl != NULL);
	for (int i = 0; i < 3; i++) {
		CHECK(iplimit_allowed(ipl, "1.2.3.4", 0));
		iplimit_count(ipl, "1.2.3.4", 0);
	}
	CHECK(!iplimit_allowed(ipl, "1.2.3.4", 0));
	CHECK(iplimit_allowed(ipl, "1.2.3.5", 0));
	CHECK(iplimit_allowed(ipl, "1.2.3.4", 20000)); /* one call back every 20 s */
	/* IPv6: one /64 is one client; another /64 is another */
	for (int i = 0; i < 3; i++)
		iplimit_count(ipl, i % 2 ? "2001:db8:1:2::1" : "2001:db8:1:2:ffff::9", 0);
	CHECK(!iplimit_allowed(ipl, "2001:db8:1:2:abcd::1", 0));
	CHECK(iplimit_allowed(ipl, "2001:db8:1:3::1", 0));
	/* IPv4-mapped addresses count per address */
	for (int i = 0; i < 3; i++)
		iplimit_count(ipl, "::ffff:10.0.0.1", 0);
	CHECK(!iplimit_allowed(ipl, "::ffff:10.0.0.1", 0));
	CHECK(iplimit_allowed(ipl, "::ffff:10.0.0.2", 0));
	iplimit_clear(ipl);
	CHECK(iplimit_allowed(ipl, "1.2.3.4", 0));
	CHECK(iplimit_allowed(ipl, "::ffff:10.0.0.1", 0));
	iplimit_free(ipl);
}

/* iplimit_take is iplimit_allowed and iplimit_count in one step. */
static void test_iplimit_take(void)
{
	struct iplimit *ipl = iplimit_new(3);

	CHECK(ipl != NULL);
	for (int i = 0; i < 3; i++)
		CHECK(iplimit_take(ipl, "1.2.3.4", 0));
	CHECK(!iplimit_take(ipl, "1.2.3.4", 0));
	CHECK(!iplimit_allowed(ipl, "1.2.3.4", 0));
	CHECK(iplimit_take(ipl, "1.2.3.4", 20000)); /* one back after 20 s, taken at once */
	CHECK(!iplimit_take(ipl, "1.2.3.4", 20000));
	iplimit_free(ipl);
}

static void test_authcache_flush(void)
{
	struct authcache *c = authcache_new(1000, 64);
	struct application app, out;

	CHECK(c != NULL);
	memset(&app, 0, sizeof(app));
	snprintf(app.app_id, sizeof(app.app_id), "app-1");
	authcache_put_app(c, &app, 100);
	CHECK(authcache_get_app(c, "app-1", 150, &out));
	authcache_flush(c, 200);
	CHECK(!authcache_get_app(c, "app-1", 250, &out));
	/* a read that began before the flush is not kept: it may hold what the flush was about */
	authcache_put_app(c, &app, 200);
	CHECK(!authcache_get_app(c, "app-1", 250, &out));
	authcache_put_app(c, &app, 201);
	CHECK(authcache_get_app(c, "app-1", 250, &out));
	/* a newer generation flushes and asks for a re-read; the same one does not, unless a
	 * flush came after the call began */
	CHECK(authcache_sync(c, 5, 300, 300));
	CHECK(!authcache_get_app(c, "app-1", 350, &out));
	CHECK(!authcache_sync(c, 5, 301, 400));
	CHECK(authcache_sync(c, 5, 300, 400));
	CHECK(!authcache_sync(c, 4, 500, 500));
	CHECK(!authcache_sync(NULL, 9, 0, 0));
	authcache_free(c);
}

int main(void)
{
	test_bucket_step();
	test_per_user();
	test_override_errors();
	test_backend();
	test_iplimit();
	test_iplimit_take();
	test_authcache_flush();
	return tap_done();
}
