/* Per-thread connection registry; see connreg.h. */
#include "connreg.h"

#include "common/err.h"

#include <stddef.h>

#include "common/banned.h"

/* pthread key destructor: the thread that owned n exits; n is parked or freed. */
static void thread_exit(void *p)
{
	struct connreg_node *n = p;
	struct connreg *r = n->reg;
	int fit = r->max_idle > 0 && r->park && r->park(n);

	pthread_mutex_lock(&r->mu);
	if (n->prev)
		n->prev->next = n->next;
	else if (r->head == n)
		r->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	if (fit && r->nidle < r->max_idle) {
		n->prev = NULL;
		n->next = r->idle;
		r->idle = n;
		r->nidle++;
		n = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	if (n)
		r->free_conn(n);
}

int connreg_init(struct connreg *r, void (*free_conn)(struct connreg_node *n))
{
	r->head = r->idle = NULL;
	r->nidle = r->max_idle = 0;
	r->park = NULL;
	r->free_conn = free_conn;
	pthread_mutex_init(&r->mu, NULL);
	r->key_ok = pthread_key_create(&r->key, thread_exit) == 0;
	return r->key_ok ? 0 : MC_ERR_NOMEM;
}

void connreg_set_reuse(struct connreg *r, int (*park)(struct connreg_node *n), int max_idle)
{
	r->park = park;
	r->max_idle = max_idle > 0 ? max_idle : 0;
}

struct connreg_node *connreg_reuse(struct connreg *r)
{
	struct connreg_node *n;

	if (!r->key_ok)
		return NULL;
	pthread_mutex_lock(&r->mu);
	n = r->idle;
	if (n) {
		r->idle = n->next;
		r->nidle--;
	}
	pthread_mutex_unlock(&r->mu);
	if (n && connreg_attach(r, n) != 0) {
		r->free_conn(n);
		n = NULL;
	}
	return n;
}

struct connreg_node *connreg_get(struct connreg *r)
{
	return r->key_ok ? pthread_getspecific(r->key) : NULL;
}

int connreg_attach(struct connreg *r, struct connreg_node *n)
{
	if (!r->key_ok || pthread_setspecific(r->key, n) != 0)
		return MC_ERR_NOMEM;
	n->reg = r;
	pthread_mutex_lock(&r->mu);
	n->prev = NULL;
	n->next = r->head;
	if (r->head)
		r->head->prev = n;
	r->head = n;
	pthread_mutex_unlock(&r->mu);
	return 0;
}

struct connreg_node *connreg_take_all(struct connreg *r)
{
	struct connreg_node *all;

	if (r->key_ok)
		pthread_key_delete(r->key);
	r->key_ok = 0;
	pthread_mutex_lock(&r->mu);
	all = r->head;
	if (all) {
		struct connreg_node *last = all;
		while (last->next)
			last = last->next;
		last->next = r->idle;
	} else {
		all = r->idle;
	}
	r->head = r->idle = NULL;
	r->nidle = 0;
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_destroy(&r->mu);
	return all;
}
