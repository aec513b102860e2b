/* The per-thread connections of a store backend: every thread that uses the store gets a
 * connection of its own, found through a thread-specific key. The registry keeps them all,
 * so that closing the store frees those of threads still alive, while a thread that exits
 * first frees its own — or, when the backend allows it (connreg_set_reuse), parks it for
 * the next new thread: the SMTP front runs a thread per session, and opening a connection
 * for each (SQLite: open the file, read and parse the schema, prepare every statement
 * again) took ~13% of mcapid's CPU at intake. Backends embed struct connreg_node as the
 * first member of their connection struct. Internal to src/server/store/. */
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
	struct connreg_node *head;                 /* attached to a live thread */
	struct connreg_node *idle;                 /* parked by threads that exited */
	int nidle, max_idle;                       /* max_idle 0: none parked */
	void (*free_conn)(struct connreg_node *n); /* the backend's destructor */
	int (*park)(struct connreg_node *n);       /* 1: n is clean and may be parked */
};

/* Initialises r; free_conn frees a connection (also for threads that exit). 0 or
 * MC_ERR_NOMEM. */
int connreg_init(struct connreg *r, void (*free_conn)(struct connreg_node *n));

/* Lets up to max_idle connections of exited threads wait for new threads instead of being
 * freed: park(n) runs on the exiting thread and says whether n is fit for another thread
 * (no transaction open, nothing pending); it may also shrink n. Call after connreg_init,
 * before threads use the registry. */
void connreg_set_reuse(struct connreg *r, int (*park)(struct connreg_node *n), int max_idle);

/* A parked connection made the calling thread's (registered and attached), or NULL when
 * none waits. For a thread that has none: call after connreg_get gave NULL. */
struct connreg_node *connreg_reuse(struct connreg *r);

/* The calling thread's connection, or NULL. */
struct connreg_node *connreg_get(struct connreg *r);

/* Makes n the calling thread's connection and registers it. 0 or MC_ERR_NOMEM (n is then
 * not registered; the caller still owns it). */
int connreg_attach(struct connreg *r, struct connreg_node *n);

/* Stops tracking threads and hands every registered connection to the caller, the parked
 * ones too, as a list through ->next (the caller frees them). Then releases r. Call once,
 * when closing. */
struct connreg_node *connreg_take_all(struct connreg *r);

#endif
