/* mcapid: `mcapid [serve] [options]` runs the server; `mcapid admin ...` manages accounts,
 * applications, users and keys in the same store; `--version`, `--help`. Only this file
 * exits the process. */
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "server/admin.h"
#include "server/api/listcache.h"
#include "server/auth/authcache.h"
#include "server/auth/hashpool.h"
#include "server/auth/replay.h"
#include "server/config.h"
#include "server/dns/dns.h"
#include "server/delivery/delivery.h"
#include "server/http/front.h"
#include "server/mail/mail.h"
#include "server/mail/process.h"
#include "server/ttp/clicks.h"
#include "server/emu/emu.h"
#include "server/ratelimit.h"
#include "server/listen.h"
#include "server/nodes.h"
#include "server/notify.h"
#include "server/server.h"
#include "server/smtp/smtp.h"
#include "server/store/keyfile.h"
#include "server/store/store.h"
#include "server/store/store_mail.h"
#include "server/tls/devca.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* `mcapid admin` works on the store a server made and creates no directory, key or
 * database: a mistyped --data-dir is reported instead of silently getting a new store. */
static int no_store(const struct config *cfg, struct err *e)
{
	char def[sizeof(cfg->data_dir) + 16];

	snprintf(def, sizeof(def), "%s/mcapid.db", cfg->data_dir);
	if (strcmp(def, cfg->db_path) == 0)
		return err_set(e, MC_ERR_NOT_FOUND,
		               "no store in '%s': start 'mcapid serve' there first, or check "
		               "--data-dir",
		               cfg->data_dir);
	return err_set(e, MC_ERR_NOT_FOUND,
	               "no store in '%s': start 'mcapid serve' with it first, or check --db-path",
	               cfg->db_path);
}

static int load_admin_key(const struct config *cfg, unsigned char *key, struct err *e)
{
	int rc = keyfile_load(cfg->key_file, key, e);

	if (rc != MC_ERR_NOT_FOUND)
		return rc;
	if (strcmp(cfg->store, "sqlite") == 0 && access(cfg->db_path, F_OK) != 0 && errno == ENOENT)
		return no_store(cfg, e);
	return err_set(e, MC_ERR_NOT_FOUND,
	               "no server key '%s': 'mcapid serve' creates it with the store; check "
	               "--key-file or --data-dir",
	               cfg->key_file);
}

/* Opens the store with the server key; derives the keys of page tokens and ids. create = 0
 * (admin): the key file and a SQLite database must exist already. */
static int open_store(const struct config *cfg, struct server *srv, int create, struct err *e)
{
	unsigned char key[STORE_KEY_LEN];
	struct store_config sc = {0};
	int rc;

	if ((rc = crypto_init()) != 0)
		return err_set(e, rc, "libsodium failed to initialise");
	if (create && (rc = make_dir(cfg->data_dir, e)) != 0)
		return rc;
	rc = create ? keyfile_load_or_create(cfg->key_file, key, e) : load_admin_key(cfg, key, e);
	if (rc)
		return rc;
	crypto_kdf_derive_from_key(srv->page_key, sizeof(srv->page_key), 1, "mcpages_", key);
	crypto_kdf_derive_from_key(srv->id_key, sizeof(srv->id_key), 2, "mcids___", key);
	crypto_kdf_derive_from_key(srv->url_key, sizeof(srv->url_key), 3, "mcurls__", key);
	crypto_kdf_derive_from_key(srv->siem_key, sizeof(srv->siem_key), 4, "mcsiem__", key);
	crypto_kdf_derive_from_key(srv->replay_key, sizeof(srv->replay_key), 5, "mcreplay", key);
	crypto_kdf_derive_from_key(srv->control_key, sizeof(srv->control_key), 6, "mcctrl__", key);
	sc.backend = cfg->store;
	sc.path = cfg->db_path;
	sc.dsn = cfg->pg_dsn;
	sc.key = key;
	sc.busy_timeout_ms = cfg->db_busy_timeout_ms;
	sc.timeout_ms = cfg->pg_timeout_ms;
	sc.connect_timeout_ms = cfg->pg_connect_timeout_ms;
	sc.gate_batch = cfg->pg_gate_batch;
	sc.gate_leaders = cfg->pg_gate_leaders;
	sc.gate_lease = cfg->pg_gate_lease;
	sc.gate_wait_us = cfg->pg_gate_wait_us;
	sc.must_exist = !create;
	rc = store_open(&sc, &srv->store, e);
	secure_zero(key, sizeof(key));
	if (rc == MC_ERR_NOT_FOUND && !create)
		rc = no_store(cfg, e);
	return rc;
}

static int run_admin(struct config *cfg, int argc, char **argv)
{
	struct server srv = {0};
	struct err e = {0};
	struct admin_defaults defs = {cfg->region, 0, cfg->max_bindings, cfg};
	int code;

	config_parse_ttl(cfg->binding_ttl, &defs.default_ttl_ms);
	code = admin_main(NULL, &defs, argc, argv); /* help and usage errors need no store */
	if (code != ADMIN_NEEDS_STORE)
		return code;
	if (open_store(cfg, &srv, 0, &e) != 0) {
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
static void print_dev_usage(const struct config *cfg, const struct front *front, unsigned smtp_port)
{
	char dir[PATH_MAX], ca[PATH_MAX + 32], proxy[160];

	if (smtp_port)
		printf("\nSend a first message (to a domain verified through the Domain API):\n"
		       "  swaks --server %.*s:%u --to someone@<verified domain> --from "
		       "sender@example.org\n"
		       "then list it with /api/message-finder/search; held mail with "
		       "/api/gateway/get-hold-message-list (docs/gateway.md).\n\n",
		       (int)(strrchr(cfg->smtp_listen, ':') - cfg->smtp_listen), cfg->smtp_listen,
		       smtp_port);
	if (!*cfg->tls_listen || !realpath(cfg->data_dir, dir))
		return;
	snprintf(ca, sizeof(ca), "%s/%s", dir, DEVCA_CA_CERT);
	printf("HTTPS on https://%.*s:%u, certificate of the development CA %s\n",
	       (int)(strrchr(cfg->tls_listen, ':') - cfg->tls_listen), cfg->tls_listen,
	       front_tls_port(front), ca);
	if (strcmp(cfg->connect_proxy, "on") != 0)
		return;
	snprintf(proxy, sizeof(proxy), "http://%.*s:%u",
	         (int)(strrchr(cfg->listen, ':') - cfg->listen), cfg->listen, front_port(front));
	printf("\nClients with hard-coded https://*.mimecast.com URLs reach this server through "
	       "its\n"
	       "CONNECT proxy (docs/proxy.md). Export, then run them unchanged:\n"
	       "  Python:  export HTTPS_PROXY=%s REQUESTS_CA_BUNDLE=%s\n"
	       "  Node.js: export HTTPS_PROXY=%s NODE_EXTRA_CA_CERTS=%s\n"
	       "           (axios >= 1.16.1 as is; got, node:https and fetch need an agent such "
	       "as https-proxy-agent)\n"
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

/* The base URL clients use: public_base_url when it was given, else http://<listen> with
 * the port really bound (with --listen HOST:0 the kernel picks it). */
static void base_url(const struct config *cfg, unsigned port, char *out, size_t size)
{
	const char *colon = strrchr(cfg->listen, ':');
	char derived[sizeof(cfg->listen) + 8];

	snprintf(derived, sizeof(derived), "http://%s", cfg->listen);
	if (strcmp(cfg->public_base_url, derived) != 0 || !colon)
		snprintf(out, size, "%s", cfg->public_base_url);
	else
		snprintf(out, size, "http://%.*s:%u", (int)(colon - cfg->listen), cfg->listen,
		         port);
}

/* --listen HOST:0: binds the API listener now, so that everything built from the
 * configuration before the front starts (the region table of discovery, the links of the
 * gateway, the development credentials) names the port the kernel picked, not port 0. */
static int bind_port_zero(struct config *cfg, struct server *srv, struct err *e)
{
	const char *colon = strrchr(cfg->listen, ':');
	char derived[sizeof(cfg->listen) + 8];
	int fd;

	if (!colon || strcmp(colon, ":0") != 0)
		return 0;
	if ((fd = listen_open(cfg->listen, &srv->api_port, e)) < 0)
		return e->code;
	srv->api_fd = fd;
	snprintf(derived, sizeof(derived), "http://%s", cfg->listen);
	snprintf(cfg->listen + (colon - cfg->listen),
	         sizeof(cfg->listen) - (size_t)(colon - cfg->listen), ":%u", srv->api_port);
	if (strcmp(cfg->public_base_url, derived) == 0)
		snprintf(cfg->public_base_url, sizeof(cfg->public_base_url), "http://%s",
		         cfg->listen);
	return 0;
}

/* The development credentials file names the URL the server answers on, so it is brought
 * up to date once the server listens, on every start; its secrets (shown once) are kept.
 * created: this start made them, and json is their text to show. Problems with the file
 * are reported but do not stop the server. */
static void dev_credentials(const struct config *cfg, const char *url, const char *control_token,
                            int created, const char *json)
{
	struct err e = {0};
	char *text = NULL;
	int rc = admin_dev_set_base_url(cfg->cred_file, url, control_token, &text, &e);

	if (created)
		printf("development credentials (shown once; also in %s, mode 0600):\n%s\n",
		       cfg->cred_file, text ? text : json);
	else if (rc == 0)
		printf("development credentials: see %s\n", cfg->cred_file);
	if (rc == MC_ERR_NOT_FOUND && !created)
		fprintf(stderr,
		        "mcapid: development credentials: '%s' is missing (its secrets were shown "
		        "once); make new keys with 'mcapid admin keys create'\n",
		        cfg->cred_file);
	else if (rc)
		fprintf(stderr, "mcapid: development credentials: %s\n", e.msg);
	if (text) {
		secure_zero(text, strlen(text));
		free(text);
	}
}

static int stop_at_first(void *arg, const struct account *a)
{
	(void)arg;
	(void)a;
	return 1;
}

/* A seed file is written at the first start only: when the store holds no account yet. */
static int seed_wanted(struct store *st, int *wanted, struct err *e)
{
	int rc = store_account_list(st, stop_at_first, NULL, e);

	*wanted = rc == 0;
	return rc == 1 ? 0 : rc;
}

/* Start-up's work on the store: done on the main thread before the front starts when the
 * store opens at once, else by the starter thread once it opens (start_deferred). */
struct boot {
	struct config *cfg;
	struct server *srv;
	struct front *front;
	struct smtp_front *smtp;
	char url[sizeof(((struct config *)0)->public_base_url) + 16];
	pthread_t thread;
	int thread_started;
	atomic_int stop;   /* main: give up waiting */
	atomic_int failed; /* the starter met an error that waiting does not cure */
	struct err e;      /* ... that error */
	char *dev_json;    /* --dev credentials made by this start, not shown yet */
	int dev_created;
	int seed_now; /* the seed file is applied by this start (an empty store) */
};

/* An empty store's first contents: development credentials (--dev), then the seed file;
 * both are the state a reset returns to. */
static int dev_bootstrap(struct boot *b, struct err *e)
{
	const struct config *cfg = b->cfg;
	struct admin_defaults defs = {cfg->region, b->srv->default_ttl_ms, cfg->max_bindings, cfg};
	struct emu_seed_defaults sd = {cfg->region, cfg->pending_ttl_days};

	if (*cfg->seed && seed_wanted(b->srv->store, &b->seed_now, e) != 0)
		return -1;
	if (cfg->dev && admin_bootstrap_dev(b->srv->store, &defs, cfg->public_base_url,
	                                    cfg->cred_file, &b->dev_created, &b->dev_json, e) != 0)
		return -1;
	if (b->seed_now) {
		if (emu_seed(b->srv->store, &sd, cfg->seed, e) != 0)
			return -1;
		log_info("msg=\"seed file applied\" file=\"%s\"", cfg->seed);
	}
	return 0;
}

/* The mail side's workers; they take work any node stored. */
static int start_workers(struct boot *b, struct err *e)
{
	struct server *srv = b->srv;

	if (store_mail_reclaim(srv->store, now_ms(), e) != 0)
		return -1;
	if (!(srv->delivery = delivery_start(srv, e)) || !(srv->mail = mail_start(srv, e)))
		return -1;
	delivery_set_transform(srv->delivery, process_delivery_transform, srv);
	if (b->seed_now && emu_seed_messages(srv, b->cfg->seed, e) != 0)
		return -1;
	if (!(srv->clicks = clicks_start(srv, e)))
		return -1;
	return 0;
}

/* Once the front listens: the SMTP listener (it needs the mail side), the development
 * credentials file, then ready. */
static int finish_start(struct boot *b, struct err *e)
{
	if (*b->cfg->smtp_listen && !b->smtp && !(b->smtp = smtp_start(b->srv, b->srv->mail, e)))
		return -1;
	if (b->cfg->dev) {
		dev_credentials(b->cfg, b->url, b->srv->emu ? emu_token(b->srv->emu) : NULL,
		                b->dev_created, b->dev_json);
		if (b->dev_json) {
			secure_zero(b->dev_json, strlen(b->dev_json));
			free(b->dev_json);
			b->dev_json = NULL;
		}
	}
	if (b->smtp) {
		log_info("msg=\"smtp listening\" listen=%s port=%u", b->cfg->smtp_listen,
		         smtp_port(b->smtp));
		printf("SMTP gateway on %s (port %u)\n", b->cfg->smtp_listen, smtp_port(b->smtp));
	}
	if (b->srv->emu && emu_set_baseline(b->srv->emu, e) != 0)
		return -1;
	atomic_store_explicit(&b->srv->ready, 1, memory_order_release);
	notify_systemd("STATUS=ready");
	return 0;
}

/* The starter thread (a store that could not be opened at start-up, PostgreSQL down):
 * retries with a back-off of up to 5 s until the store opens or main stops it, then does
 * the rest of start-up. An error that waiting does not cure (a wrong server key, a database
 * newer than this binary) stops the process as a failed start. */
static void *starter(void *arg)
{
	struct boot *b = arg;
	struct server *scratch;
	int64_t delay = 250;
	char q[400];

	for (;;) {
		struct err e = {0};
		int64_t until;
		int rc;

		if (atomic_load(&b->stop))
			return NULL;
		/* into a scratch server: open_store derives the keys again, and the front's
		 * threads read srv's copies (made by main's first attempt) all the while */
		if (!(scratch = calloc(1, sizeof(*scratch)))) {
			err_set(&b->e, MC_ERR_NOMEM, "out of memory");
			goto fatal;
		}
		rc = open_store(b->cfg, scratch, 1, &e);
		b->srv->store = scratch->store;
		secure_zero(scratch, sizeof(*scratch));
		free(scratch);
		if (rc == 0)
			break;
		if (rc != MC_ERR_UNAVAILABLE) {
			b->e = e;
			goto fatal;
		}
		log_warn("msg=\"waiting for the store\" op=open retry_ms=%lld error=%s",
		         (long long)delay, log_quote(e.msg, q, sizeof(q)));
		for (until = mono_ms() + delay; mono_ms() < until && !atomic_load(&b->stop);)
			usleep(50000);
		delay = delay * 2 > 5000 ? 5000 : delay * 2;
	}
	if (nodes_start(b->srv, &b->e) != 0 || dev_bootstrap(b, &b->e) != 0 ||
	    start_workers(b, &b->e) != 0 || finish_start(b, &b->e) != 0)
		goto fatal;
	log_info("msg=ready store=%s", b->cfg->store);
	printf("store open: ready\n");
	if (b->cfg->dev)
		print_dev_usage(b->cfg, b->front, b->smtp ? smtp_port(b->smtp) : 0);
	fflush(stdout);
	return NULL;
fatal:
	log_error("msg=\"start-up failed\" error=%s", log_quote(b->e.msg, q, sizeof(q)));
	atomic_store(&b->failed, 1);
	kill(getpid(), SIGTERM); /* main's sigwait takes it and stops the server */
	return NULL;
}

/* --deterministic SEED (tests only): every random value from streams derived from SEED,
 * and the record clock standing still at clock_start, so that the same calls get the same
 * answers on every run. Said loudly: keys and tokens are predictable from the seed. */
/* How many deterministic starts <data_dir>/deterministic.runs has counted before this one
 * (0 for a new data directory), into *run; counts this one. */
static int deterministic_run(const struct config *cfg, long long *run, struct err *e)
{
	char path[600], text[32];
	FILE *fp;
	int n;

	*run = 0;
	snprintf(path, sizeof(path), "%s/deterministic.runs", cfg->data_dir);
	if ((fp = fopen(path, "r")) != NULL) {
		char *end;
		size_t len = fread(text, 1, sizeof(text) - 1, fp);
		fclose(fp);
		text[len] = '\0';
		errno = 0;
		*run = strtoll(text, &end, 10);
		if (errno || end == text || *run < 0 || *run > 1000000000LL)
			return err_set(e, MC_ERR_INVALID, "'%s' does not hold a count of starts",
			               path);
	} else if (errno != ENOENT) {
		return err_set(e, MC_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
	}
	n = snprintf(text, sizeof(text), "%lld\n", *run + 1);
	return file_write_atomic(path, text, (size_t)n, 0600, 1, e);
}

static int deterministic_setup(const struct config *cfg, struct err *e)
{
	char material[sizeof(cfg->deterministic) + 32];
	long long run = 0;
	int64_t start;
	int n, rc;

	if (!cfg->deterministic[0])
		return 0;
	if (date_parse_iso(cfg->clock_start, strlen(cfg->clock_start), &start) != 0 || start <= 0)
		return err_set(e, MC_ERR_INVALID,
		               "clock_start '%s' is not an ISO 8601 date after 1970 "
		               "(2026-01-01T00:00:00Z)",
		               cfg->clock_start);
	if ((rc = make_dir(cfg->data_dir, e)) != 0 || (rc = deterministic_run(cfg, &run, e)) != 0)
		return rc;
	/* the first start on a data directory uses the seed as given; a restart on the same
	 * store must not mint the same audit ids and keys again */
	if (run == 0)
		n = snprintf(material, sizeof(material), "%s", cfg->deterministic);
	else
		n = snprintf(material, sizeof(material), "%s\nrun %lld", cfg->deterministic, run);
	rc = crypto_deterministic(material, (size_t)n < sizeof(material) ? (size_t)n : 0);
	secure_zero(material, sizeof(material));
	if (rc != 0)
		return err_set(e, MC_ERR_CRYPTO, "libsodium failed to initialise");
	date_freeze(start);
	log_warn("msg=\"deterministic mode: every key and token is predictable from the seed; "
	         "for tests only, never for production\" clock_start=%s run=%lld",
	         cfg->clock_start, run);
	fprintf(stderr,
	        "mcapid: WARNING: deterministic mode (--deterministic): ids, tokens and keys, the "
	        "server key among them, follow from the seed (start %lld on this data directory) "
	        "and the clock stands at %s; for tests only, never for production\n",
	        run + 1, cfg->clock_start);
	return 0;
}

static int serve(struct config *cfg)
{
	struct boot b;
	struct server srv = {0};
	struct front *front = NULL;
	struct err e = {0};
	sigset_t set;
	char q[400];
	int sig = 0, code = 1, deferred = 0, rc;

	/* SIGHUP is only logged (below), also when it comes while the server starts */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	memset(&b, 0, sizeof(b));
	srv.cfg = cfg;
	b.cfg = cfg;
	b.srv = &srv;
	/* Before anything random is made */
	if (deterministic_setup(cfg, &e) != 0)
		goto out;
	/* Before anything else: every call the previous process accepted was dated before this */
	srv.started_ms = real_now_ms();
	config_parse_ttl(cfg->binding_ttl, &srv.default_ttl_ms);
	if (bind_port_zero(cfg, &srv, &e) != 0)
		goto out;
	if (region_table_parse(&srv.regions, cfg->regions, cfg->region, cfg->public_base_url, &e) !=
	    0)
		goto out;
	/* A database that is down or does not answer is waited for, with the front up (it
	 * answers /healthz, and 503 until ready); anything else stops the start. */
	rc = open_store(cfg, &srv, 1, &e);
	if (rc == MC_ERR_UNAVAILABLE) {
		deferred = 1;
		log_warn("msg=\"store unavailable at start-up; starting without it\" op=open "
		         "error=%s",
		         log_quote(e.msg, q, sizeof(q)));
		fprintf(stderr, "mcapid: %s; waiting for it\n", e.msg);
		e = (struct err){0};
	} else if (rc) {
		goto out;
	}
	if (!deferred && dev_bootstrap(&b, &e) != 0)
		goto out;
	if (cfg->tls_dev && dev_certificates(cfg, &e) != 0)
		goto out;
	srv.dns = dns_new(cfg->dns_servers, cfg->dns_timeout_ms, &e);
	if (!srv.dns)
		goto out;
	if (!(srv.hashpool = hashpool_new(cfg->hash_threads, cfg->hash_queue, &e)))
		goto out;
	srv.replay = replay_new((size_t)cfg->replay_max, (size_t)cfg->replay_per_user, cfg->skew,
	                        srv.replay_key);
	srv.ipl = iplimit_new(cfg->ip_limit);
	srv.authcache = authcache_new(cfg->auth_cache_ms, 65536);
	srv.listcache = listcache_new(cfg->list_cache_ms, (size_t)64 << 20);
	if (!srv.replay || !srv.ipl) {
		err_set(&e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!(srv.rl = ratelimit_new(cfg, &e)))
		goto out;
	if (replay_journal_open(srv.replay, cfg->replay_dir, real_now_ms() / 1000, &e) != 0)
		goto out;

	/* Signals are taken by sigwait below; every thread started from here inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a shared store: limits and cache invalidation; its listener thread inherits the signal
	 * mask (a deferred store: by the starter, before ready, so no front thread uses the
	 * limiters it replaces) */
	if (!deferred && nodes_start(&srv, &e) != 0)
		goto out;
	/* Buffered logging from here (its writer thread inherits the signal mask) */
	if (cfg->log_flush_ms > 0 && log_async_start(cfg->log_flush_ms) != 0)
		log_warn("msg=\"log writer thread did not start; lines are written directly\"");

	if (!strcmp(cfg->control, "on") &&
	    !(srv.emu = emu_new(&srv, srv.control_key, cfg->journal_max, &e)))
		goto out;
	if (!deferred && start_workers(&b, &e) != 0)
		goto out;
	/* Calls dated before started_ms are refused (auth.c) and dates have whole seconds: the
	 * first call is answered in the next second, so a client with a good clock that signs
	 * then is never refused for it. */
	int64_t wait_ms = (srv.started_ms / 1000 + 1) * 1000 - real_now_ms();
	if (wait_ms > 0) {
		struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	if (!(front = front_start(&srv, &e)))
		goto out;
	b.front = front;
	base_url(cfg, front_port(front), b.url, sizeof(b.url));
	log_info("msg=listening listen=%s port=%u store=%s version=%s", cfg->listen,
	         front_port(front), cfg->store, MCAPI_VERSION);
	printf("mcapid %s listening on %s (store %s %s)\n", MCAPI_VERSION, b.url, cfg->store,
	       strcmp(cfg->store, "postgres") == 0 ? "database" : cfg->db_path);
	if (!deferred && finish_start(&b, &e) != 0)
		goto out;
	if (deferred) {
		/* SMTP sessions get 421 until the store opens (a sending MTA retries later) */
		if (*cfg->smtp_listen && !(b.smtp = smtp_start(&srv, NULL, &e)))
			goto out;
		printf("waiting for the store: /healthz answers, /readyz and API calls get 503 "
		       "(SMTP 421) until it opens\n");
		if (pthread_create(&b.thread, NULL, starter, &b) != 0) {
			err_set(&e, MC_ERR_NOMEM, "cannot start the starter thread");
			goto out;
		}
		b.thread_started = 1;
	}
	if (srv.emu)
		printf("control plane: %s/__mcapi/ with 'Authorization: Bearer %s'%s "
		       "(docs/emulator.md)\n",
		       b.url, emu_token(srv.emu),
		       cfg->dev ? " (control_token in the credentials)" : "");
	if (cfg->dev && !deferred)
		print_dev_usage(cfg, front, b.smtp ? smtp_port(b.smtp) : 0);
	fflush(stdout);
	notify_systemd(deferred ? "READY=1\nSTATUS=waiting for the store" : "READY=1");

	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		log_warn("msg=\"SIGHUP ignored: configuration is read at start-up; logs go to "
		         "stderr\"");
	log_info("msg=stopping signal=%d", sig);
	notify_systemd("STOPPING=1");
	atomic_store(&b.stop, 1);
	if (b.thread_started) { /* it waits at most one connection attempt, then stops */
		pthread_join(b.thread, NULL);
		b.thread_started = 0;
	}
	if (b.smtp)
		smtp_quiesce(b.smtp);
	front_quiesce(front);
	emu_quiesce(srv.emu); /* calls delayed by a fault rule are answered now */
	int left = front_drain(front, cfg->shutdown_grace * 1000);
	dns_free(srv.dns); /* fails outstanding lookups: their requests resume and answer */
	srv.dns = NULL;
	hashpool_free(srv.hashpool); /* runs the queued password checks: their requests answer */
	srv.hashpool = NULL;
	if (left)
		front_drain(front, 2000);
	smtp_stop(b.smtp);
	b.smtp = NULL;
	front_stop(front);
	front = NULL;
	code = 0;
	if (atomic_load(&b.failed)) {
		code = 1;
		e = b.e;
	}
out:
	if (code && e.msg[0])
		fprintf(stderr, "mcapid: %s\n", e.msg);
	smtp_stop(b.smtp);
	front_stop(front);
	clicks_stop(srv.clicks); /* after the front: clicks waiting on it are answered first */
	emu_free(srv.emu);       /* after the front, which records calls in its journal */
	mail_stop(srv.mail);
	delivery_stop(srv.delivery);
	dns_free(srv.dns);
	nodes_stop(&srv);
	hashpool_free(srv.hashpool);
	ratelimit_free(srv.rl);
	iplimit_free(srv.ipl);
	replay_free(srv.replay);
	authcache_free(srv.authcache);
	listcache_free(srv.listcache);
	store_close(srv.store);
	if (b.dev_json) { /* made by this start, which failed before showing them */
		printf("development credentials (shown once; also in %s, mode 0600):\n%s\n",
		       cfg->cred_file, b.dev_json);
		secure_zero(b.dev_json, strlen(b.dev_json));
		free(b.dev_json);
	}
	if (code == 0)
		log_info("msg=stopped");
	log_async_stop(); /* every buffered line is written before the process exits */
	return code;
}

/* Reads the configuration from the flags of `mcapid [serve] [flags]` or
 * `mcapid [flags] admin [flags] ARGS`. The flags on both sides of "admin" are read as one
 * list, once, after the file and the environment: a later flag wins, and the paths derived
 * from data_dir follow the data_dir that wins. Sets *admin, and *next to the index of the
 * first argument after the flags. Returns 0 or an error code with e filled. */
static int load_config(struct config *cfg, int argc, char **argv, int *admin, int *next,
                       struct err *e)
{
	char **flags;
	int i = 1, used = 0, n = 0, rc;

	*admin = 0;
	if (argc > 1 && !strcmp(argv[1], "serve"))
		i = 2;
	else if (argc > 1 && !strcmp(argv[1], "admin"))
		i = 2, *admin = 1;
	config_defaults(cfg);
	if ((rc = config_load(cfg, argc - i, argv + i, &used, e)) != 0)
		return rc;
	*next = i + used;
	if (*admin || *next >= argc || strcmp(argv[*next], "admin") != 0)
		return 0;
	*admin = 1;
	flags = calloc((size_t)argc, sizeof(*flags));
	if (!flags)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	for (int a = i; a < argc; a++)
		if (a != *next)
			flags[n++] = argv[a];
	config_defaults(cfg);
	rc = config_load(cfg, n, flags, &used, e);
	*next = i + used + 1; /* the flags read, and "admin" among them */
	free(flags);
	return rc;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct err e = {0};
	int i = 1, admin = 0;

	if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
		printf("mcapid %s\n", MCAPI_VERSION);
		return 0;
	}
	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--") || !strcmp(argv[a], "admin"))
			break; /* admin has its own help */
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h") ||
		    (a == 1 && !strcmp(argv[a], "help"))) {
			usage(stdout);
			return 0;
		}
	}
	if (load_config(&cfg, argc, argv, &admin, &i, &e) != 0) {
		fprintf(stderr, "mcapid: %s\n", e.msg);
		return 2;
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
