/* A request as handlers see it: the parsed body, the authenticated principal and the
 * server context, never the HTTP connection or SQL. The front owns the struct and frees
 * everything in it when the response has been sent.
 *
 * Slow work (DNS lookups) must not hold a worker thread. A handler that starts such work
 * calls request_go_async() with the function that finishes the call, starts the work
 * (each piece bracketed by request_async_begin / request_async_end), and returns
 * MC_ERR_ASYNC. The front then suspends the connection; when the last piece ends (on any
 * thread), the connection resumes and the finishing function runs on a worker thread. */
#ifndef MCAPI_SERVER_REQUEST_H
#define MCAPI_SERVER_REQUEST_H

#include "server/store/store.h"
#include "server/store/store_shared.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

struct server;
struct response;
struct route;
struct request;

typedef int (*handler_fn)(struct request *req, struct response *res);

struct principal {
	struct account account;
	struct user user;
	struct application app;
	struct binding binding;
};

struct request {
	struct server *srv;
	const struct route *route;
	const char *path;  /* as received, without the query */
	const char *query; /* after '?', or NULL */
	const char *method;
	const char *req_id; /* x-mc-req-id (or "-"), for logs */
	char client_ip[64];
	int tls;            /* arrived on the HTTPS listener (directly or through CONNECT) */
	int64_t started_ms; /* monotonic */

	json_t *body; /* the normalised body object (owned) */
	json_t *meta; /* body.meta or NULL (borrowed) */
	json_t *data; /* body.data: always an array of objects (borrowed) */

	int authenticated;  /* who is valid */
	int user_known;     /* the signature verified: who.user is the caller (maybe refused) */
	int replay_claimed; /* the request id was recorded as executed (§2.2) */
	int ran;            /* the function was called (a claimed id is kept only then) */
	/* replay_pair_hash of (who.binding.access_key, x-mc-req-id) once authentication has
	 * computed it (pair_set), for the claim to reuse (auth.c) */
	unsigned char pair[16];
	int pair_set;
	int64_t date_ms; /* x-mc-date, once authentication has parsed it (date_set) */
	int date_set;
	struct principal who;
	const char *auth_check; /* why authentication refused the call (a static reason), or NULL */
	char fault_id[16];      /* the control plane's fault rule that answered it, or "" */
	int fault_status;       /* ... its forced answer after a delay (emu.h), 0 = none */
	int fault_developer_key;
	int fault_retry_after_s;

	/* The shared store's gate (auth_take) of a call with a small body runs at the body
	 * stage without holding the worker (pipeline.c): the front allows it (gate_defer), the
	 * header stage leaves it (gate_deferred, with the permission check's outcome in
	 * gate_run), the body stage submits it and goes async. */
	int gate_defer;
	int gate_deferred;
	int gate_run;
	const char *gate_body; /* the raw body, for the body stage after the gate */
	size_t gate_body_len;
	struct store_gate_job gate;

	/* async continuation (see above) */
	handler_fn finish;
	atomic_int pending;
	void *async_ctx;            /* handler-owned state for the continuation */
	void (*async_free)(void *); /* frees async_ctx with the request, if set */

	void *front; /* private to the HTTP front */
};

/* Reads a request header (name case-insensitive); NULL if absent. The pointer is valid
 * until the response is sent. */
const char *request_header(struct request *req, const char *name);

/* Marks the call as asynchronous; finish completes it later on a worker thread. */
void request_go_async(struct request *req, handler_fn finish);

/* One more outstanding piece of async work; call before starting it. */
void request_async_begin(struct request *req);

/* One piece ended (any thread). The last one resumes the request. */
void request_async_end(struct request *req);

#endif
