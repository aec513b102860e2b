/* The public functions of store_shared.h: dispatch to the backend's shared ops. */
#include "store_shared.h"

#include "store_int.h"
#include "store_shared_int.h"

#include "common/err.h"

#include <stddef.h>

#include "common/banned.h"

int store_shared(struct store *st)
{
	return st && st->ops->shared != NULL;
}

int store_shared_gate(struct store *st, const unsigned char pair[STORE_PAIR_LEN], int64_t expires_s,
                      int64_t now_s, int claim, uint64_t bucket, int64_t limit, int64_t refill_ms,
                      struct store_gate *out, struct err *e)
{
	if (!store_shared(st))
		return err_set(e, MC_ERR_INTERNAL, "the store is not shared");
	return st->ops->shared->gate(st, pair, expires_s, now_s, claim, bucket, limit, refill_ms,
	                             out, e);
}

int store_shared_gate_batch(struct store *st, struct store_gate_call *calls, size_t n,
                            struct err *e)
{
	if (!store_shared(st))
		return err_set(e, MC_ERR_INTERNAL, "the store is not shared");
	if (n < 1 || n > STORE_GATE_BATCH_MAX)
		return err_set(e, MC_ERR_INVALID, "a batch of gates holds 1 to %d calls",
		               STORE_GATE_BATCH_MAX);
	return st->ops->shared->gate_batch(st, calls, n, e);
}

int store_shared_gate_async(struct store *st)
{
	return store_shared(st) && st->ops->shared->gate_async(st);
}

int store_shared_gate_submit(struct store *st, struct store_gate_job *job)
{
	if (!store_shared(st))
		return MC_ERR_UNAVAILABLE;
	return st->ops->shared->gate_submit(st, job);
}

int store_shared_forget(struct store *st, const unsigned char pair[STORE_PAIR_LEN], struct err *e)
{
	if (!store_shared(st))
		return err_set(e, MC_ERR_INTERNAL, "the store is not shared");
	return st->ops->shared->forget(st, pair, e);
}

int store_shared_bucket(struct store *st, int kind, uint64_t key, int64_t limit, int64_t refill_ms,
                        int take, struct store_gate *out, struct err *e)
{
	if (!store_shared(st))
		return err_set(e, MC_ERR_INTERNAL, "the store is not shared");
	return st->ops->shared->bucket(st, kind, key, limit, refill_ms, take, out, e);
}

struct store_listener *store_listen_start(struct store *st, void (*fn)(void *arg, const char *what),
                                          void *arg, struct err *e)
{
	if (!store_shared(st)) {
		err_set(e, MC_ERR_INTERNAL, "the store is not shared");
		return NULL;
	}
	return st->ops->shared->listen_start(st, fn, arg, e);
}

void store_listen_stop(struct store_listener *l)
{
	if (l)
		l->ops->listen_stop(l);
}
