/* The per-thread connections of a store backend: every thread that uses the store gets a
 * connection of its own, found through a thread-specific key. The registry keeps them all,
 * so that closing the store frees those of threads still alive, while a thread that exits
 * first frees its own. Backends embed struct connreg_node as the first member of their
 * connection struct. Internal to src/server/store/. */
#ifndef MCAPI_SERVER_STORE_CONNREG_H
#define MCAPI_SERVER_STORE_CONNREG_H

#include <pthread.h>

struct connreg;

struct connreg_node {
	struct connreg_node *prev, *next; /* in the registry, under its mutex */
	struct connreg *reg;
};

struct connreg {
	pthread_mutex_t mu;
	pthread_key_t key;
	int key_ok;
	struct connreg_node *head;
	void (*free_conn)(struct connreg_node *n); /* the backend's destructor */
};

/* Initialises r; free_conn frees a connection (also for threads that exit). 0 or
 * MC_ERR_NOMEM. */
int connreg_init(struct connreg *r, void (*free_conn)(struct connreg_node *n));

/* The calling thread's connection, or NULL. */
struct connreg_node *connreg_get(struct connreg *r);

/* Makes n the calling thread's connection and registers it. 0 or MC_ERR_NOMEM (n is then
 * not registered; the caller still owns it). */
int connreg_attach(struct connreg *r, struct connreg_node *n);

/* Stops tracking threads and hands every registered connection to the caller, as a list
 * through ->next (the caller frees them). Then releases r. Call once, when closing. */
struct connreg_node *connreg_take_all(struct connreg *r);

#endif
