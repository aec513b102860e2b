/* mcapid: `mcapid [serve] [options]` runs the server; `mcapid admin ...` manages accounts,
 * applications, users and keys in the same store; `--version`, `--help`. Only this file
 * exits the process. */
#include "common/crypto.h"
#include "common/err.h"
#include "common/log.h"
#include "server/admin.h"
#include "server/api/listcache.h"
#include "server/auth/authcache.h"
#include "server/auth/replay.h"
#include "server/config.h"
#include "server/dns/dns.h"
#include "server/http/front.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/store/keyfile.h"
#include "server/store/store.h"
#include "server/tls/devca.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: mcapid [serve] [options]       run the API server\n"
	           "       mcapid [options] admin GROUP ACTION [flags]\n"
	           "                                      manage accounts, apps, users, keys "
	           "(mcapid admin help)\n"
	           "       mcapid --version | --help\n\n");
	config_usage(f);
}

static int make_dir(const char *dir, struct err *e)
{
	char path[512];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return err_set(e, MC_ERR_INVALID, "bad data_dir '%s'", dir);
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return err_set(e, MC_ERR_IO, "cannot create directory '%s': %s", path,
			               strerror(errno));
		path[i] = c;
	}
	return 0;
}

/* Opens the store with the server key; derives the keys of page tokens and ids. */
static int open_store(const struct config *cfg, struct server *srv, struct err *e)
{
	unsigned char key[STORE_KEY_LEN];
	struct store_config sc = {0};
	int rc;

	if ((rc = crypto_init()) != 0)
		return err_set(e, rc, "libsodium failed to initialise");
	if ((rc = make_dir(cfg->data_dir, e)) != 0)
		return rc;
	if ((rc = keyfile_load_or_create(cfg->key_file, key, e)) != 0)
		return rc;
	crypto_kdf_derive_from_key(srv->page_key, sizeof(srv->page_key), 1, "mcpages_", key);
	crypto_kdf_derive_from_key(srv->id_key, sizeof(srv->id_key), 2, "mcids___", key);
	sc.backend = cfg->store;
	sc.path = cfg->db_path;
	sc.dsn = cfg->pg_dsn;
	sc.key = key;
	sc.busy_timeout_ms = cfg->db_busy_timeout_ms;
	rc = store_open(&sc, &srv->store, e);
	secure_zero(key, sizeof(key));
	return rc;
}

static int run_admin(struct config *cfg, int argc, char **argv)
{
	struct server srv = {0};
	struct err e = {0};
	struct admin_defaults defs = {cfg->region, 0, cfg->max_bindings};
	int code;

	config_parse_ttl(cfg->binding_ttl, &defs.default_ttl_ms);
	if (open_store(cfg, &srv, &e) != 0) {
		fprintf(stderr, "mcapid: %s\n", e.msg);
		return 1;
	}
	code = admin_main(srv.store, &defs, argc, argv);
	store_close(srv.store);
	return code;
}

/* --dev with HTTPS: the development CA and a server certificate for the local names and
 * the Mimecast API host names (kept across starts while valid, see tls/devca.h). */
static int dev_certificates(const struct config *cfg, struct err *e)
{
	const char *names[DEVCA_LOCAL_NAMES + DEVCA_MIMECAST_HOSTS];
	struct devca_paths dp;
	size_t n = 0;

	for (size_t i = 0; i < DEVCA_LOCAL_NAMES; i++)
		names[n++] = devca_local_names[i];
	for (size_t i = 0; i < DEVCA_MIMECAST_HOSTS; i++)
		names[n++] = devca_mimecast_hosts[i];
	if (devca_ensure(cfg->data_dir, names, n, &dp, e) != 0)
		return -1;
	if (dp.ca_created)
		log_info("msg=\"new development CA: clients must trust it\" ca=%s", dp.ca_cert);
	return 0;
}

/* What a developer needs to point clients at this server: printed by --dev at start. */
static void print_dev_usage(const struct config *cfg, const struct front *front)
{
	char dir[PATH_MAX], ca[PATH_MAX + 32], proxy[160];

	if (!*cfg->tls_listen || !realpath(cfg->data_dir, dir))
		return;
	snprintf(ca, sizeof(ca), "%s/%s", dir, DEVCA_CA_CERT);
	printf("HTTPS on https://%s (port %u), certificate of the development CA %s\n",
	       cfg->tls_listen, front_tls_port(front), ca);
	if (strcmp(cfg->connect_proxy, "on") != 0)
		return;
	snprintf(proxy, sizeof(proxy), "http://%s", cfg->listen);
	printf("\nClients with hard-coded https://*.mimecast.com URLs reach this server through "
	       "its\n"
	       "CONNECT proxy (docs/proxy.md). Export, then run them unchanged:\n"
	       "  Python:  export HTTPS_PROXY=%s REQUESTS_CA_BUNDLE=%s\n"
	       "  Node.js: export HTTPS_PROXY=%s NODE_EXTRA_CA_CERTS=%s\n"
	       "  Go:      export HTTPS_PROXY=%s SSL_CERT_FILE=%s\n"
	       "  curl:    export HTTPS_PROXY=%s CURL_CA_BUNDLE=%s\n"
	       "  Java:    keytool -importcert -noprompt -alias mcapi-dev -file %s \\\n"
	       "             -keystore %s/dev-ca.p12 -storetype PKCS12 -storepass changeit\n"
	       "           export JAVA_TOOL_OPTIONS=\"-Dhttps.proxyHost=%.*s "
	       "-Dhttps.proxyPort=%u -Djavax.net.ssl.trustStore=%s/dev-ca.p12 "
	       "-Djavax.net.ssl.trustStorePassword=changeit\"\n\n",
	       proxy, ca, proxy, ca, proxy, ca, proxy, ca, ca, dir,
	       (int)(strrchr(cfg->listen, ':') - cfg->listen), cfg->listen, front_port(front), dir);
}

static int serve(struct config *cfg)
{
	struct server srv = {0};
	struct front *front = NULL;
	struct err e = {0};
	sigset_t set;
	int sig = 0, code = 1;

	srv.cfg = cfg;
	config_parse_ttl(cfg->binding_ttl, &srv.default_ttl_ms);
	if (region_table_parse(&srv.regions, cfg->regions, cfg->region, cfg->public_base_url, &e) !=
	    0)
		goto out;
	if (open_store(cfg, &srv, &e) != 0)
		goto out;
	if (cfg->dev) {
		struct admin_defaults defs = {cfg->region, srv.default_ttl_ms, cfg->max_bindings};
		char *json = NULL;
		int created = 0;
		if (admin_bootstrap_dev(srv.store, &defs, cfg->public_base_url, cfg->cred_file,
		                        &created, &json, &e) != 0)
			goto out;
		if (created)
			printf("development credentials (shown once; also in %s, mode 0600):\n%s\n",
			       cfg->cred_file, json);
		else
			printf("development credentials: see %s\n", cfg->cred_file);
		free(json);
	}
	if (cfg->tls_dev && dev_certificates(cfg, &e) != 0)
		goto out;
	srv.dns = dns_new(cfg->dns_servers, cfg->dns_timeout_ms, &e);
	if (!srv.dns)
		goto out;
	srv.replay = replay_new((size_t)cfg->replay_max, cfg->skew);
	srv.ipl = iplimit_new(cfg->ip_limit);
	srv.authcache = authcache_new(cfg->auth_cache_ms, 65536);
	srv.listcache = listcache_new(cfg->list_cache_ms, (size_t)64 << 20);
	if (!srv.replay || !srv.ipl) {
		err_set(&e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!(srv.rl = ratelimit_new(cfg, &e)))
		goto out;

	/* Signals are taken by sigwait below; every thread started from here inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!(front = front_start(&srv, &e)))
		goto out;
	log_info("msg=listening listen=%s port=%u store=%s version=%s", cfg->listen,
	         front_port(front), cfg->store, MCAPI_VERSION);
	printf("mcapid %s listening on %s (store %s %s)\n", MCAPI_VERSION, cfg->public_base_url,
	       cfg->store, strcmp(cfg->store, "postgres") == 0 ? "database" : cfg->db_path);
	if (cfg->dev)
		print_dev_usage(cfg, front);
	fflush(stdout);

	sigwait(&set, &sig);
	log_info("msg=stopping signal=%d", sig);
	front_quiesce(front);
	int left = front_drain(front, cfg->shutdown_grace * 1000);
	dns_free(srv.dns); /* fails outstanding lookups: their requests resume and answer */
	srv.dns = NULL;
	if (left)
		front_drain(front, 2000);
	front_stop(front);
	front = NULL;
	code = 0;
out:
	if (code && e.msg[0])
		fprintf(stderr, "mcapid: %s\n", e.msg);
	front_stop(front);
	dns_free(srv.dns);
	ratelimit_free(srv.rl);
	iplimit_free(srv.ipl);
	replay_free(srv.replay);
	authcache_free(srv.authcache);
	listcache_free(srv.listcache);
	store_close(srv.store);
	if (code == 0)
		log_info("msg=stopped");
	return code;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct err e = {0};
	int i = 1, used = 0;
	int admin = 0;

	if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
		printf("mcapid %s\n", MCAPI_VERSION);
		return 0;
	}
	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--"))
			break;
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h") ||
		    (a == 1 && !strcmp(argv[a], "help"))) {
			if (a > 1 && !strcmp(argv[1], "admin"))
				break; /* admin has its own help */
			usage(stdout);
			return 0;
		}
	}
	config_defaults(&cfg);
	if (argc > 1 && !strcmp(argv[1], "serve"))
		i = 2;
	else if (argc > 1 && !strcmp(argv[1], "admin"))
		i = 2, admin = 1;
	if (config_load(&cfg, argc - i, argv + i, &used, &e) != 0) {
		fprintf(stderr, "mcapid: %s\n", e.msg);
		return 2;
	}
	i += used;
	if (!admin && i < argc && !strcmp(argv[i], "admin")) {
		admin = 1;
		i++;
		if (config_load(&cfg, argc - i, argv + i, &used, &e) != 0) {
			fprintf(stderr, "mcapid: %s\n", e.msg);
			return 2;
		}
		i += used;
	}
	log_set_level(cfg.log_level);
	if (admin)
		return run_admin(&cfg, argc - i, argv + i);
	if (i < argc) {
		fprintf(stderr, "mcapid: unexpected argument '%s' (see --help)\n", argv[i]);
		return 2;
	}
	return serve(&cfg);
}
