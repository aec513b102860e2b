/* The rate-limit backend of a shared store (ratelimit.h rl_store_backend): every bucket
 * operation is one statement on the store (store_shared.h), so all nodes on one database
 * draw on the same buckets. */
#include "ratelimit.h"

#include "common/err.h"
#include "common/log.h"
#include "server/store/store_shared.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

struct store_rl {
	struct store *st;
	int kind;
};

static int store_op(void *state, uint64_t key, int64_t limit, int64_t refill_ms, int take,
                    int64_t now, struct rl_verdict *v)
{
	struct store_rl *s = state;
	struct store_gate g;
	struct err e = {0};

	(void)now; /* the store's clock: the nodes' clocks may differ */
	if (store_shared_bucket(s->st, s->kind, key, limit, refill_ms, take, &g, &e) != 0) {
		log_warn("msg=\"shared rate limit unavailable; call admitted\" error=\"%s\"",
		         e.msg);
		g.allowed = 1;
		g.remaining = limit;
		g.reset_ms = 0;
	}
	if (v) {
		v->allowed = g.allowed;
		v->limit = limit;
		v->remaining = g.remaining;
		v->reset_ms = g.reset_ms;
	}
	return g.allowed;
}

int rl_store_backend(struct rl_backend *out, struct store *st, int kind)
{
	struct store_rl *s = calloc(1, sizeof(*s));

	memset(out, 0, sizeof(*out));
	if (!s)
		return MC_ERR_NOMEM;
	s->st = st;
	s->kind = kind;
	out->op = store_op;
	out->free = free;
	out->state = s;
	return 0;
}
