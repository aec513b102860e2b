/* What the fuzz targets that run whole calls share: one server context, made once per
 * process, with a real SQLite store in a fresh temporary directory (removed at exit), the
 * development account (an administrator with every permission, an application and a
 * never-expiring binding) and the limiters and caches mcapid starts with. Included by one
 * target each, so the functions are static. */
#ifndef MCAPI_TESTS_FUZZ_SERVER_H
#define MCAPI_TESTS_FUZZ_SERVER_H

#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/admin.h"
#include "server/api/listcache.h"
#include "server/auth/authcache.h"
#include "server/auth/replay.h"
#include "server/config.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/store/store.h"

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fuzz_server {
	struct config cfg;
	struct server srv;
	json_t *creds; /* the development credentials (see admin_bootstrap_dev) */
	char dir[64];
};

static struct fuzz_server fuzz_srv;

static int fuzz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fuzz_server_cleanup(void)
{
	if (fuzz_srv.srv.store)
		store_close(fuzz_srv.srv.store);
	fuzz_srv.srv.store = NULL;
	if (fuzz_srv.dir[0])
		nftw(fuzz_srv.dir, fuzz_rm, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *fuzz_cred(const char *key)
{
	return json_string_value(json_object_get(fuzz_srv.creds, key));
}

/* Builds the context once; aborts when it cannot (the target would test nothing). */
static struct server *fuzz_server(void)
{
	struct fuzz_server *f = &fuzz_srv;
	unsigned char key[STORE_KEY_LEN];
	struct store_config sc = {0};
	struct admin_defaults defs = {0};
	struct err e = {0};
	char db[128], cred[128], *json = NULL;
	int created = 0;

	if (f->srv.store)
		return &f->srv;
	log_set_level("error");
	config_defaults(&f->cfg);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mcapi-fuzz-XXXXXX");
	if (!mkdtemp(f->dir) || crypto_init() != 0)
		abort();
	atexit(fuzz_server_cleanup);
	snprintf(db, sizeof(db), "%s/mcapi.db", f->dir);
	snprintf(cred, sizeof(cred), "%s/dev-credentials.json", f->dir);
	snprintf(f->cfg.listen, sizeof(f->cfg.listen), "127.0.0.1:0");
	f->cfg.threads = 2;
	f->cfg.conn_timeout = 5;
	f->cfg.access_log = 0;
	f->cfg.ip_limit = 1000000;
	f->cfg.rate_limit = 1000000000;
	f->srv.cfg = &f->cfg;
	f->srv.started_ms = now_ms() - 2000;
	f->srv.default_ttl_ms = 3 * 86400000LL;
	random_bytes(RND_INTERNAL, key, sizeof(key));
	random_bytes(RND_INTERNAL, f->srv.page_key, sizeof(f->srv.page_key));
	random_bytes(RND_INTERNAL, f->srv.id_key, sizeof(f->srv.id_key));
	random_bytes(RND_INTERNAL, f->srv.url_key, sizeof(f->srv.url_key));
	random_bytes(RND_INTERNAL, f->srv.siem_key, sizeof(f->srv.siem_key));
	random_bytes(RND_INTERNAL, f->srv.replay_key, sizeof(f->srv.replay_key));
	sc.backend = "sqlite";
	sc.path = db;
	sc.key = key;
	sc.busy_timeout_ms = 5000;
	defs.region = "eu";
	defs.cfg = &f->cfg;
	if (region_table_parse(&f->srv.regions, "", "eu", "http://127.0.0.1:1", &e) != 0 ||
	    store_open(&sc, &f->srv.store, &e) != 0 ||
	    admin_bootstrap_dev(f->srv.store, &defs, "http://127.0.0.1:1", cred, &created, &json,
	                        &e) != 0 ||
	    !json || !(f->creds = json_loads(json, 0, NULL))) {
		fprintf(stderr, "fuzz server: %s\n", e.msg);
		abort();
	}
	free(json);
	f->srv.replay = replay_new(100000, 0, f->cfg.skew, f->srv.replay_key);
	f->srv.ipl = iplimit_new(f->cfg.ip_limit);
	f->srv.authcache = authcache_new(1000, 65536);
	f->srv.listcache = listcache_new(1000, (size_t)8 << 20);
	if (!f->srv.replay || !f->srv.ipl || !(f->srv.rl = ratelimit_new(&f->cfg, &e)))
		abort();
	return &f->srv;
}

#endif
