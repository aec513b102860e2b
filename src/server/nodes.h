/* Several mcapid nodes on one shared store (API.md §15, docs/postgres.md). When the store
 * is shared (store_shared.h: PostgreSQL), nodes_start moves the per-user and per-IP rate
 * limits onto the store (the replay set follows in auth.c, which asks store_shared too) and
 * starts the listener that drops this node's cached rows and lists as soon as any node
 * commits a change to them; the caches stay on. With SQLite it does nothing. */
#ifndef MCAPI_SERVER_NODES_H
#define MCAPI_SERVER_NODES_H

struct server;
struct err;

/* After srv->store, srv->rl, srv->ipl and the caches exist; replaces srv->rl and srv->ipl
 * (freeing the in-process ones) and sets srv->listener. 0 or an error in e. */
int nodes_start(struct server *srv, struct err *e);

/* Stops the listener (before the caches are freed). Safe when nothing was started. */
void nodes_stop(struct server *srv);

#endif
