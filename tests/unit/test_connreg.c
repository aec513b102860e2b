/* The per-thread connection registry (store/connreg.c): a thread's connection is its own;
 * when the thread exits it is freed, or parked for the next new thread when the backend
 * allows reuse and says it is clean, up to the maximum; closing hands over the parked ones
 * too. Connections here are plain nodes; "dirty" ones refuse to be parked. */
#include "server/store/connreg.h"
#include "tap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/banned.h"

struct conn {
	struct connreg_node node; /* first, as in the backends */
	int id;
	int dirty; /* a transaction left open: not fit for another thread */
};

static struct connreg reg;
static atomic_int freed, parks, next_id; /* threads exit together: counted atomically */

static void conn_free(struct connreg_node *n)
{
	freed++;
	free(n);
}

static int conn_park(struct connreg_node *n)
{
	parks++;
	return !((struct conn *)n)->dirty;
}

/* What a thread saw: the id of the connection it ended up with, and whether it was a
 * parked one. */
struct run {
	int dirty;
	pthread_barrier_t *together; /* NULL, or wait there before exiting */
	int id, reused, own;         /* own: connreg_get then gives it */
};

/* As a backend's conn_get: its own, a parked one, or a new one. */
static void *thread_main(void *arg)
{
	struct run *r = arg;
	struct conn *c = (struct conn *)connreg_get(&reg);

	r->reused = 0;
	if (!c && (c = (struct conn *)connreg_reuse(&reg)) != NULL)
		r->reused = 1;
	if (!c) {
		c = calloc(1, sizeof(*c));
		c->id = ++next_id;
		connreg_attach(&reg, &c->node);
	}
	r->own = (struct conn *)connreg_get(&reg) == c; /* checked by the caller: tap is not
	                                                 * thread-safe */
	c->dirty = r->dirty;
	r->id = c->id;
	if (r->together)
		pthread_barrier_wait(r->together);
	return NULL;
}

static struct run run_thread(int dirty)
{
	struct run r = {.dirty = dirty};
	pthread_t t;
	pthread_create(&t, NULL, thread_main, &r);
	pthread_join(t, NULL);
	CHECK(r.own);
	return r;
}

static int count(struct connreg_node *n)
{
	int k = 0;
	for (; n; n = n->next)
		k++;
	return k;
}

static void test_without_reuse(void)
{
	struct run a, b;

	freed = parks = 0;
	CHECK_INT(connreg_init(&reg, conn_free), 0);
	a = run_thread(0);
	CHECK_INT(freed, 1); /* freed when its thread exited */
	b = run_thread(0);
	CHECK(!b.reused && b.id != a.id);
	CHECK_INT(parks, 0);
	CHECK(connreg_take_all(&reg) == NULL);
}

static void test_reuse(void)
{
	struct run a, b, c, d;
	struct conn *mine;
	struct connreg_node *all;

	freed = parks = 0;
	CHECK_INT(connreg_init(&reg, conn_free), 0);
	connreg_set_reuse(&reg, conn_park, 1);
	a = run_thread(0);
	CHECK(!a.reused);
	CHECK_INT(freed, 0);
	CHECK_INT(reg.nidle, 1);
	b = run_thread(0); /* takes a's */
	CHECK(b.reused && b.id == a.id);
	CHECK_INT(freed, 0);
	c = run_thread(1); /* a's again, left dirty: freed, not parked */
	CHECK(c.reused && c.id == a.id);
	CHECK_INT(freed, 1);
	CHECK_INT(reg.nidle, 0);
	d = run_thread(0); /* nothing parked: a new one */
	CHECK(!d.reused && d.id != a.id);
	CHECK_INT(reg.nidle, 1);

	/* the maximum: two threads alive at once (one takes the parked connection, the other
	 * opens one); when both have exited, one is parked and the other freed */
	{
		pthread_barrier_t together;
		pthread_t t1, t2;
		struct run r1 = {.together = &together}, r2 = {.together = &together};

		pthread_barrier_init(&together, NULL, 2);
		freed = 0;
		pthread_create(&t1, NULL, thread_main, &r1);
		pthread_create(&t2, NULL, thread_main, &r2);
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		pthread_barrier_destroy(&together);
		CHECK(r1.own && r2.own);
		CHECK(r1.reused != r2.reused);
		CHECK(r1.id != r2.id);
		CHECK_INT(reg.nidle, 1);
		CHECK_INT(freed, 1);
	}

	/* this thread's connection and the parked one are both handed over at close */
	mine = calloc(1, sizeof(*mine));
	CHECK_INT(connreg_attach(&reg, &mine->node), 0);
	all = connreg_take_all(&reg);
	CHECK_INT(count(all), 2);
	while (all) {
		struct connreg_node *n = all->next;
		free(all);
		all = n;
	}
}

int main(void)
{
	test_without_reuse();
	test_reuse();
	return tap_done();
}
