/* The ops of store_shared.h that a shared backend fills (pg_shared.c). */
#ifndef MCAPI_SERVER_STORE_STORE_SHARED_INT_H
#define MCAPI_SERVER_STORE_STORE_SHARED_INT_H

#include "server/store/store_shared.h"

struct store_shared_ops {
	int (*gate)(struct store *st, const unsigned char pair[STORE_PAIR_LEN], int64_t expires_s,
	            int64_t now_s, int claim, uint64_t bucket, int64_t limit, int64_t refill_ms,
	            struct store_gate *out, struct err *e);
	int (*gate_batch)(struct store *st, struct store_gate_call *calls, size_t n, struct err *e);
	int (*gate_async)(struct store *st);
	int (*gate_submit)(struct store *st, struct store_gate_job *job);
	int (*forget)(struct store *st, const unsigned char pair[STORE_PAIR_LEN], struct err *e);
	int (*bucket)(struct store *st, int kind, uint64_t key, int64_t limit, int64_t refill_ms,
	              int take, struct store_gate *out, struct err *e);
	struct store_listener *(*listen_start)(struct store *st,
	                                       void (*fn)(void *arg, const char *what), void *arg,
	                                       struct err *e);
	void (*listen_stop)(struct store_listener *l);
};

/* The base of a backend's listener, its first member. */
struct store_listener {
	const struct store_shared_ops *ops;
};

#endif
