/* The shared state of several nodes; see nodes.h. */
#include "nodes.h"

#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/api/listcache.h"
#include "server/auth/authcache.h"
#include "server/config.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/store/store_shared.h"

#include <string.h>

#include "common/banned.h"

/* The listener's callback (its thread): what = the table a committed change touched, or
 * "*" when changes may have been missed. Domains and policies are in the list cache; the
 * other tables are what authentication caches. */
static void changed(void *arg, const char *what)
{
	struct server *srv = arg;
	int all = strcmp(what, "*") == 0;

	if (all || strcmp(what, "domains") == 0 || strcmp(what, "sender_policies") == 0)
		listcache_invalidate(srv->listcache);
	if (all || (strcmp(what, "domains") != 0 && strcmp(what, "sender_policies") != 0))
		authcache_flush(srv->authcache, mono_ms());
	log_debug("msg=\"caches invalidated\" table=%s", what);
}

int nodes_start(struct server *srv, struct err *e)
{
	struct rl_backend b;
	struct ratelimit *rl;
	struct iplimit *ipl;

	if (!store_shared(srv->store))
		return 0;
	if (rl_store_backend(&b, srv->store, STORE_BUCKET_USER) != 0)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	if (!(rl = ratelimit_new_backend(srv->cfg, &b, e)))
		return e->code ? e->code : MC_ERR_NOMEM;
	if (rl_store_backend(&b, srv->store, STORE_BUCKET_IP) != 0 ||
	    !(ipl = iplimit_new_backend(srv->cfg->ip_limit, &b))) {
		ratelimit_free(rl);
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	}
	ratelimit_free(srv->rl);
	iplimit_free(srv->ipl);
	srv->rl = rl;
	srv->ipl = ipl;
	srv->listener = store_listen_start(srv->store, changed, srv, e);
	return srv->listener ? 0 : (e->code ? e->code : MC_ERR_INTERNAL);
}

void nodes_stop(struct server *srv)
{
	store_listen_stop(srv->listener);
	srv->listener = NULL;
}
