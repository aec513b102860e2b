/* The connection guard (src/server/http/guard.h): the deadline arithmetic, a sweep that shuts
 * down the socket of a connection past its deadline (a real socket pair, no reaper thread),
 * and the body budget. */
#include "common/err.h"
#include "server/http/guard.h"
#include "tap.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct guard_cfg cfg = {
        .header_timeout_ms = 10000,
        .idle_timeout_ms = 30000,
        .body_grace_ms = 5000,
        .body_min_rate = 1024,
        .body_budget = 100000,
        .body_budget_per_ip = 40000,
        .sweep_ms = 0,
};

static void test_decide(void)
{
	/* header block: a fixed deadline from the start of the phase */
	CHECK_INT(guard_decide(&cfg, GUARD_NEW, 0, 0, 10000), GUARD_KEEP);
	CHECK_INT(guard_decide(&cfg, GUARD_NEW, 0, 0, 10001), GUARD_CUT_HEADER);
	CHECK_INT(guard_decide(&cfg, GUARD_HEADER, 5000, 0, 15000), GUARD_KEEP);
	CHECK_INT(guard_decide(&cfg, GUARD_HEADER, 5000, 0, 15001), GUARD_CUT_HEADER);
	/* waiting between requests */
	CHECK_INT(guard_decide(&cfg, GUARD_IDLE, 0, 0, 30000), GUARD_KEEP);
	CHECK_INT(guard_decide(&cfg, GUARD_IDLE, 0, 0, 30001), GUARD_CUT_IDLE);
	/* a running request is never cut, however long it takes */
	CHECK_INT(guard_decide(&cfg, GUARD_BUSY, 0, 0, 1000000000), GUARD_KEEP);
	/* body: nothing in the grace, then 1 KiB for every second past it */
	CHECK_INT(guard_decide(&cfg, GUARD_BODY, 0, 0, 5000), GUARD_KEEP);
	CHECK_INT(guard_decide(&cfg, GUARD_BODY, 0, 0, 5001), GUARD_CUT_BODY);
	CHECK_INT(guard_decide(&cfg, GUARD_BODY, 0, 1024, 6000), GUARD_KEEP);
	CHECK_INT(guard_decide(&cfg, GUARD_BODY, 0, 1023, 6000), GUARD_CUT_BODY);
	CHECK_INT(guard_decide(&cfg, GUARD_BODY, 0, 10 * 1024, 15000), GUARD_KEEP);
	CHECK_INT(guard_decide(&cfg, GUARD_BODY, 0, 10 * 1024, 15010), GUARD_CUT_BODY);
	/* one byte a second is far below the minimum */
	CHECK_INT(guard_decide(&cfg, GUARD_BODY, 0, 7, 7000), GUARD_CUT_BODY);
	{
		struct guard_cfg off = cfg;
		off.body_min_rate = 0;
		CHECK_INT(guard_decide(&off, GUARD_BODY, 0, 0, 1000000), GUARD_KEEP);
	}
}

/* The sweep shuts down exactly the connections past their deadline; a closed one is gone. */
static void test_sweep(void)
{
	struct err e;
	struct guard *g = guard_new(&cfg, &e);
	struct guard_stats st;
	int slow[2], fast[2], busy[2];
	struct guard_conn *cs, *cf, *cb;
	char c;

	CHECK(g != NULL);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, slow) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fast) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, busy) == 0);
	cs = guard_conn_open(g, slow[0], "10.0.0.1", 0);
	cf = guard_conn_open(g, fast[0], NULL, 0);
	cb = guard_conn_open(g, busy[0], "2001:db8::1", 0);
	guard_conn_request(cs, 3000); /* first request: the accept time still counts */
	guard_conn_request(cf, 100);
	guard_conn_body(cf, 200);
	guard_conn_bytes(cf, 20000);
	guard_conn_request(cb, 100);
	guard_conn_busy(cb);
	CHECK_INT(guard_sweep(g, 9000), 0);
	CHECK_INT(guard_sweep(g, 10500), 1);
	CHECK_INT(guard_sweep(g, 10600), 0); /* cut once */
	CHECK_INT(read(slow[1], &c, 1), 0);  /* the peer sees the end */
	guard_stats(g, &st);
	CHECK_INT(st.cut_header, 1);
	CHECK_INT(st.conns, 3);
	/* 20000 bytes carry the body to 5.2 + 19.5 s */
	CHECK_INT(guard_sweep(g, 24000), 0);
	CHECK_INT(guard_sweep(g, 25000), 1);
	guard_stats(g, &st);
	CHECK_INT(st.cut_body, 1);
	/* answered: idle from now; the next request line restarts the header clock */
	guard_conn_idle(cb, 30000);
	CHECK_INT(guard_sweep(g, 59000), 0);
	guard_conn_request(cb, 59000);
	CHECK_INT(guard_sweep(g, 68000), 0);
	CHECK_INT(guard_sweep(g, 69500), 1);
	guard_conn_close(g, cs);
	guard_conn_close(g, cf);
	guard_conn_close(g, NULL);
	guard_stats(g, &st);
	CHECK_INT(st.conns, 1);
	CHECK_INT(st.cut_idle, 0);
	guard_free(g); /* frees cb */
	for (int i = 0; i < 2; i++) {
		close(slow[i]);
		close(fast[i]);
		close(busy[i]);
	}
}

/* Under pressure (enough connections open) slow heads get the short deadline. */
static void test_pressure(void)
{
	struct guard_cfg pc = cfg;
	struct err e;
	struct guard *g;
	int a[2], b[2];
	struct guard_conn *ca, *cb;

	pc.pressure_conns = 2;
	pc.pressure_header_ms = 2000;
	g = guard_new(&pc, &e);
	CHECK(g != NULL);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0);
	ca = guard_conn_open(g, a[0], NULL, 0);
	CHECK_INT(guard_sweep(g, 2500), 0); /* one connection: no pressure, 10 s apply */
	cb = guard_conn_open(g, b[0], NULL, 1000);
	CHECK_INT(guard_sweep(g, 2500), 1); /* two: the first is past 2 s, the second is not */
	CHECK_INT(guard_sweep(g, 3100), 1);
	guard_conn_close(g, ca);
	guard_conn_close(g, cb);
	guard_free(g);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
}

static void test_budget(void)
{
	struct err e;
	struct guard *g = guard_new(&cfg, &e);
	struct guard_stats st;

	CHECK_INT(guard_budget_take(g, "10.0.0.1", 30000), GUARD_BUDGET_OK);
	CHECK_INT(guard_budget_take(g, "10.0.0.1", 10001), GUARD_BUDGET_IP);
	CHECK_INT(guard_budget_take(g, "10.0.0.1", 10000), GUARD_BUDGET_OK);
	CHECK_INT(guard_budget_take(g, "10.0.0.2", 40000), GUARD_BUDGET_OK);
	/* 80000 held: the server-wide budget refuses before the IP's is looked at */
	CHECK_INT(guard_budget_take(g, "10.0.0.3", 20001), GUARD_BUDGET_GLOBAL);
	CHECK_INT(guard_budget_take(g, NULL, 20000), GUARD_BUDGET_OK); /* small: server-wide */
	CHECK_INT(guard_budget_take(g, NULL, 1), GUARD_BUDGET_GLOBAL);
	guard_stats(g, &st);
	CHECK_INT(st.body_bytes, 100000);
	CHECK_INT(st.refused_ip, 1);
	CHECK_INT(st.refused_global, 2);
	guard_budget_give(g, "10.0.0.1", 40000);
	guard_budget_give(g, NULL, 20000);
	CHECK_INT(guard_budget_take(g, "10.0.0.1", 40000), GUARD_BUDGET_OK);
	guard_budget_give(g, "10.0.0.1", 40000);
	guard_budget_give(g, "10.0.0.2", 40000);
	guard_stats(g, &st);
	CHECK_INT(st.body_bytes, 0);
	CHECK_INT(guard_budget_take(NULL, "x", 1), GUARD_BUDGET_OK); /* no guard, no budget */
	guard_free(g);
}

/* The reaper thread starts and stops. */
static void test_thread(void)
{
	struct err e;
	struct guard_cfg c = cfg;
	struct guard *g;

	c.sweep_ms = 10;
	g = guard_new(&c, &e);
	CHECK(g != NULL);
	usleep(30000);
	guard_free(g);
}

int main(void)
{
	test_decide();
	test_sweep();
	test_pressure();
	test_budget();
	test_thread();
	return tap_done();
}
