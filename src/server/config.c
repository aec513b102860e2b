/* The configuration table and its loaders; see config.h. */
#include "config.h"

#include "common/err.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/banned.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_I64, CFG_BOOL };

struct cfg_opt {
	const char *name;
	enum cfg_type type;
	size_t off, size;
	const char *def;
	int64_t min, max;
	const char *help;
};

#define S(f, d, h)                                                                                 \
	{                                                                                          \
#f, CFG_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), d, 0, 0, \
		        h                                                                          \
	}
#define I(f, d, lo, hi, h)                                                                         \
	{                                                                                          \
#f, CFG_INT, offsetof(struct config, f), sizeof(int), d, lo, hi, h                 \
	}
#define L(f, d, lo, hi, h)                                                                         \
	{                                                                                          \
#f, CFG_I64, offsetof(struct config, f), sizeof(int64_t), d, lo, hi, h             \
	}
#define B(f, d, h)                                                                                 \
	{                                                                                          \
#f, CFG_BOOL, offsetof(struct config, f), sizeof(int), d, 0, 1, h                  \
	}

static const struct cfg_opt opts[] = {
        S(config_file, "", "configuration file (name = value lines)"),
        S(listen, "127.0.0.1:8080", "address and port to listen on"),
        S(tls_listen, "",
          "HTTPS address and port (none unless set; --dev: 127.0.0.1:8443, 'off' for none)"),
        S(tls_cert, "",
          "PEM certificate chain for HTTPS (--dev: a certificate of the development CA)"),
        S(tls_key, "", "PEM private key of tls_cert"),
        S(connect_proxy, "auto",
          "on, off or auto (= on with --dev): the plain listener tunnels CONNECT to the "
          "Mimecast API host names into the HTTPS listener"),
        B(head_check, "1",
          "kept so that older configurations load; no effect: every request of every "
          "connection, plain or HTTPS, is checked strictly (400 with the JSON envelope)"),
        S(control, "auto",
          "on, off or auto (= on with --dev): the emulator's control plane under /__mcapi/ "
          "(journal, fault rules, accounts per test; docs/emulator.md), opened with the control "
          "token"),
        I(journal_max, "1000", 10, 1000000, "API calls the control plane's journal keeps"),
        S(seed, "",
          "seed file (JSON or YAML) or directory of them (accounts, applications, users with "
          "passwords and keys, domains, groups, managed senders, audit events, .eml messages) "
          "written to an empty store at first start; part of the state POST /__mcapi/reset "
          "returns to (docs/emulator.md)"),
        S(deterministic, "",
          "TESTS ONLY: every id, token and key (the server key too) comes from streams derived "
          "from this seed, and the record clock stands still at clock_start, so the same calls "
          "get byte-identical answers on every run (docs/emulator.md)"),
        S(clock_start, "2026-01-01T00:00:00Z",
          "with deterministic: the instant (ISO 8601) every stored and answered time shows"),
        S(data_dir, "./var", "directory for the store, server key and dev credentials"),
        S(store, "sqlite", "store backend: sqlite, postgres, or a postgres:// URL (= pg_dsn)"),
        S(db_path, "", "SQLite database file (default <data_dir>/mcapid.db)"),
        S(pg_dsn, "", "PostgreSQL connection string (store = postgres)"),
        I(db_busy_timeout_ms, "5000", 1, 600000,
          "ms a write waits for the store's lock before the call gets 503"),
        I(pg_timeout_ms, "5000", 100, 600000,
          "ms one PostgreSQL store call may take (statement_timeout, and the client's bound "
          "on a server that does not answer) before the call gets 503"),
        I(pg_connect_timeout_ms, "3000", 100, 600000,
          "ms one attempt to connect to PostgreSQL may take"),
        S(trusted_proxies, "",
          "IPs or CIDRs of proxies whose X-Forwarded-For / Forwarded names the client "
          "(comma-separated; none by default)"),
        I(pg_gate_batch, "32", 1, 256,
          "postgres: most signed calls whose replay and rate-limit gate one statement carries "
          "(calls waiting at the same moment are combined; 1 = one statement per call)"),
        I(pg_gate_leaders, "1", 1, 64,
          "postgres: gate statements this node runs at once (calls beyond wait and join the "
          "next one)"),
        I(pg_gate_lease, "256", 0, 65536,
          "postgres: most rate-limit calls of a bucket a gate statement leases to this node "
          "(at most limit/16, only while half the bucket is left; 0 = none)"),
        I(pg_gate_wait_us, "200", 0, 100000,
          "postgres: longest a gate statement waits for more calls when the last one carried "
          "several (0 = never)"),
        S(key_file, "",
          "server key file, kept outside the database (default <data_dir>/server.key)"),
        S(log_level, "info", "error, warn, info or debug"),
        B(access_log, "1", "write one access-log line per request"),
        I(log_flush_ms, "100", 0, 10000,
          "ms log lines may wait in per-thread buffers before they are written (0 = each line "
          "written at once; SIGTERM writes all, kill -9 loses at most this much)"),
        B(dev, "0", "development mode: create and print credentials on an empty store"),
        I(threads, "0", 0, 256,
          "HTTP worker threads (0 = one per core; at least two with PostgreSQL)"),
        L(max_body, "1048576", 1024, 1073741824, "largest request body in bytes (413 above)"),
        L(conn_memory, "16384", 4096, 1048576,
          "memory per connection; bounds the header block (431 above)"),
        I(conn_timeout, "30", 1, 3600, "seconds an idle or slow connection is kept"),
        I(max_connections, "4096", 16, 1000000, "most concurrent connections"),
        I(per_ip_connections, "64", 0, 1000000,
          "most concurrent connections per client IP (0 = no limit)"),
        I(header_timeout, "10", 1, 3600,
          "seconds a connection has to deliver a complete header block, from its accept (or "
          "its request line when kept alive); activity does not extend it"),
        I(body_grace, "5", 0, 3600, "seconds a request body may arrive slower than body_min_rate"),
        I(body_min_rate, "1024", 0, 1000000000,
          "bytes per second a request body must keep up after body_grace (0 = no minimum)"),
        L(body_budget, "67108864", 65536, 1099511627776,
          "bytes of request bodies held in memory at once, server-wide (503 above)"),
        L(body_budget_per_ip, "8388608", 16384, 1099511627776,
          "bytes of request bodies held in memory at once per client IP (429 above)"),
        I(shutdown_grace, "10", 0, 600, "seconds to finish in-flight requests on SIGTERM"),
        I(skew, "900", 1, 86400, "seconds x-mc-date may differ from the server clock"),
        I(auth_cache_ms, "1000", 0, 60000,
          "ms applications and keys read by authentication are cached (0 = off); changes by other "
          "processes apply within it"),
        I(list_cache_ms, "1000", 0, 60000,
          "ms answers of domain list calls are cached (0 = off); this server's own changes apply "
          "at once"),
        I(replay_max, "4000000", 1000, 1000000000,
          "most request ids remembered for replay detection (about 16-32 bytes each, allocated as "
          "used)"),
        I(replay_per_user, "100000", 0, 1000000000,
          "most request ids one user holds in the replay cache (over it: 429 for that user "
          "only; 0 = no limit)"),
        S(replay_dir, "",
          "directory of the replay journal, which keeps future-dated request ids across "
          "restarts (default <data_dir>/replay)"),
        S(region, "eu", "region code this server serves"),
        S(public_base_url, "", "public base URL of this server (default http://<listen>)"),
        S(regions, "", "region table for discovery: code=url,code=url (this region is added)"),
        I(pending_ttl_days, "30", 1, 3650, "days a pending domain can be verified"),
        I(purge_after_days, "30", 0, 3650, "days after expiry an expired pending domain is kept"),
        S(dns_servers, "", "DNS servers for verification: ip[:port],... (default: the system's)"),
        I(dns_timeout_ms, "5000", 100, 60000, "timeout of one TXT lookup"),
        I(rate_limit, "800", 1, 1000000000, "calls per user bucket (X-RateLimit-Limit)"),
        I(rate_refill_ms, "100", 1, 3600000, "one call is added back every N ms"),
        S(rate_overrides, "", "per-endpoint limits: /api/area/function=limit:refill_ms,..."),
        I(ip_limit, "20", 1, 1000000,
          "unauthenticated calls and failed authentications per IP per minute"),
        S(binding_ttl, "3d", "default binding TTL: 3d, 72h, 15m, never, or milliseconds"),
        I(max_bindings, "100", 1, 100000, "bindings per user; one more removes the oldest"),
        I(lockout_failures, "5", 1, 1000, "consecutive failed logins before a lock-out"),
        I(lockout_minutes, "15", 1, 100000, "minutes a locked user stays locked"),
        I(hash_threads, "2", 1, 64,
          "threads that run Argon2id password checks and hashes (64 MiB and ~0.1 s each)"),
        I(hash_queue, "32", 0, 100000,
          "password checks that may wait for a hash thread; beyond it a login gets 503"),
        S(cred_file, "", "development credentials file (default <data_dir>/dev-credentials.json)"),
        S(smtp_listen, "", "SMTP address and port of the mail gateway (--dev: 127.0.0.1:2525)"),
        S(smtp_hostname, "", "host name in the SMTP greeting (default: this host's name)"),
        L(smtp_max_size, "26214400", 1024, 1073741824, "largest message in bytes (552 above)"),
        I(smtp_max_rcpts, "100", 1, 10000, "recipients per message (452 above)"),
        I(smtp_max_sessions, "256", 1, 100000, "concurrent SMTP sessions (421 above)"),
        I(smtp_per_ip_sessions, "32", 0, 100000,
          "concurrent SMTP sessions per client IP (0 = no limit)"),
        I(smtp_timeout, "300", 1, 3600,
          "seconds from an SMTP reply to the next whole command line"),
        I(smtp_session_max, "1800", 1, 86400, "seconds a whole SMTP session may last"),
        I(smtp_max_commands, "100", 5, 100000,
          "commands (and errors) allowed per transaction before the session is closed"),
        I(smtp_txn_timeout, "600", 1, 86400,
          "seconds from the greeting or the end of the last message to DATA; commands that "
          "deliver nothing do not extend it (421 4.4.2 past it)"),
        I(smtp_data_grace, "30", 1, 3600,
          "seconds message text may take before smtp_data_min_rate applies"),
        I(smtp_data_min_rate, "1024", 0, 1073741824,
          "bytes per second message text must average after smtp_data_grace (421 4.4.2 "
          "below; 0 = no minimum)"),
        L(smtp_accept_memory, "67108864", 65536, 68719476736,
          "bytes of message text all sessions may hold in memory at once while messages are "
          "accepted; a session waits for room, then gets 451 4.3.1"),
        S(test_headers, "auto",
          "on, off or auto (= on with --dev): a header X-Mcapi-Test forces a check's outcome"),
        S(dangerous_types, "exe,scr,js,vbs,bat,cmd,com,jar,ps1,pif,msi,hta,cpl,wsf,lnk,vbe,jse",
          "attachment file types held by the attachment policy"),
        S(impersonation_action, "hold", "what an impersonation match does: hold or tag"),
        I(delivery_threads, "2", 1, 64, "delivery worker threads"),
        I(mail_nice, "19", 0, 19,
          "nice value of the mail side's threads (SMTP sessions, process stage, delivery), so "
          "that API calls come first when the CPU is short (0 = off)"),
        I(retry_min, "60", 1, 86400, "seconds before the first retry of a deferred delivery"),
        I(retry_max, "3600", 1, 604800, "largest back-off between delivery attempts"),
        I(queue_max_age, "172800", 60, 2592000,
          "seconds a deferred delivery is retried before it bounces"),
        S(smarthost, "", "smtp://host:port for outbound mail (default: a local Maildir)"),
        S(maildir_root, "",
          "default mail route: <root>/<domain>/<local part>/ Maildirs (default <data_dir>/mail)"),
        S(malicious_urls, "",
          "file of malicious URLs and domains (one a line, # comments): a click on one is "
          "blocked"),
        I(click_batch, "1024", 1, 65536, "most clicks logged in one store transaction"),
        I(mail_retention_days, "30", 1, 3650, "days messages and their bodies are kept"),
        I(mail_lease, "300", 30, 3600,
          "seconds a node holds a delivery (a message's process stage: at most 60); with "
          "PostgreSQL, work of a node that died is taken up when it runs out"),
        I(siem_file_max_events, "10000", 1, 100000,
          "events in one get-siem-logs file (a file holds one log type)"),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const struct cfg_opt *find(const char *name, size_t n)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const char *a = opts[i].name;
		size_t j;
		if (strlen(a) != n)
			continue;
		for (j = 0; j < n; j++) {
			char c = name[j] == '-' ? '_' : (char)tolower((unsigned char)name[j]);
			if (c != a[j])
				break;
		}
		if (j == n)
			return &opts[i];
	}
	return NULL;
}

/* store: sqlite, postgres, or a PostgreSQL URL, which stands for "postgres" with the URL
 * as pg_dsn (libpq takes both schemes). */
static int set_store(struct config *cfg, const char *val, const char *from, struct err *e)
{
	if (!strncmp(val, "postgres://", 11) || !strncmp(val, "postgresql://", 13)) {
		if (strlen(val) >= sizeof(cfg->pg_dsn))
			return err_set(e, MC_ERR_INVALID, "%s: the store URL is too long", from);
		memcpy(cfg->pg_dsn, val, strlen(val) + 1);
		memcpy(cfg->store, "postgres", sizeof("postgres"));
		return 0;
	}
	if (strcmp(val, "sqlite") != 0 && strcmp(val, "postgres") != 0)
		return err_set(e, MC_ERR_INVALID,
		               "%s: store must be sqlite, postgres or a postgres:// URL, not '%s' "
		               "(for postgres, the connection string goes in --pg-dsn)",
		               from, val);
	memcpy(cfg->store, val, strlen(val) + 1);
	return 0;
}

static int set(struct config *cfg, const struct cfg_opt *o, const char *val, const char *from,
               struct err *e)
{
	char *p = (char *)cfg + o->off;
	long long v;
	char *end;

	if (o->off == offsetof(struct config, store))
		return set_store(cfg, val, from, e);
	switch (o->type) {
	case CFG_STR:
		if (strlen(val) >= o->size)
			return err_set(e, MC_ERR_INVALID, "%s: '%s' is too long", from, o->name);
		memcpy(p, val, strlen(val) + 1);
		return 0;
	case CFG_BOOL:
		if (!strcmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes") ||
		    !strcasecmp(val, "on"))
			*(int *)p = 1;
		else if (!strcmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no") ||
		         !strcasecmp(val, "off"))
			*(int *)p = 0;
		else
			return err_set(e, MC_ERR_INVALID,
			               "%s: '%s' must be true or false, not '%s'", from, o->name,
			               val);
		return 0;
	case CFG_INT:
	case CFG_I64:
		errno = 0;
		v = strtoll(val, &end, 10);
		if (errno || end == val || *end || v < o->min || v > o->max)
			return err_set(
			        e, MC_ERR_INVALID,
			        "%s: '%s' must be a whole number from %lld to %lld, not '%s'", from,
			        o->name, (long long)o->min, (long long)o->max, val);
		if (o->type == CFG_INT)
			*(int *)p = (int)v;
		else
			*(int64_t *)p = v;
		return 0;
	}
	return MC_ERR_INTERNAL;
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTS; i++)
		set(cfg, &opts[i], opts[i].def, "default", NULL);
}

static char *trim(char *s)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int load_file(struct config *cfg, const char *path, struct err *e)
{
	char line[4096], where[600];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	if (!f)
		return err_set(e, MC_ERR_IO, "cannot open config file '%s': %s", path,
		               strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;
		const struct cfg_opt *o;
		lineno++;
		if (!*s || *s == '#' || *s == ';')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			rc = err_set(e, MC_ERR_INVALID, "%s:%d: expected 'name = value'", path,
			             lineno);
			break;
		}
		*eq = '\0';
		char *name = trim(s), *val = trim(eq + 1);
		size_t vl = strlen(val);
		if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
			val[vl - 1] = '\0';
			val++;
		}
		o = find(name, strlen(name));
		if (!o) {
			rc = err_set(e, MC_ERR_INVALID, "%s:%d: unknown option '%s'", path, lineno,
			             name);
			break;
		}
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if ((rc = set(cfg, o, val, where, e)) != 0)
			break;
	}
	if (!rc && ferror(f)) /* a directory, or an I/O error */
		rc = err_set(e, MC_ERR_IO, "cannot read config file '%s': %s", path,
		             strerror(errno));
	fclose(f);
	return rc;
}

static int load_env(struct config *cfg, struct err *e)
{
	char name[96], where[128];

	for (size_t i = 0; i < NOPTS; i++) {
		size_t j, n = strlen(opts[i].name);
		memcpy(name, "MCAPID_", 7);
		for (j = 0; j < n && j + 8 < sizeof(name); j++)
			name[7 + j] = (char)toupper((unsigned char)opts[i].name[j]);
		name[7 + j] = '\0';
		const char *v = getenv(name);
		if (!v || opts[i].off == offsetof(struct config, config_file))
			continue;
		snprintf(where, sizeof(where), "environment %s", name);
		int rc = set(cfg, &opts[i], v, where, e);
		if (rc)
			return rc;
	}
	return 0;
}

static int resolve_tls(struct config *cfg, struct err *e);

/* Fills a path option from data_dir when it was left empty. */
static int derive(char *dst, size_t size, const char *dir, const char *file, struct err *e)
{
	if (*dst)
		return 0;
	int n = snprintf(dst, size, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= size)
		return err_set(e, MC_ERR_INVALID, "data_dir '%s' is too long", dir);
	return 0;
}

/* The file named by the last --config (or --config-file) flag, else by MCAPID_CONFIG_FILE
 * (empty there means none). A flag naming no file is an error, not a file silently left out. */
static int config_file_arg(int argc, char **argv, const char **file, struct err *e)
{
	*file = getenv("MCAPID_CONFIG_FILE");
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		if (!strcmp(a, "--"))
			break;
		if (!strcmp(a, "--config") || !strcmp(a, "--config-file"))
			val = i + 1 < argc ? argv[++i] : "";
		else if (!strncmp(a, "--config=", 9))
			val = a + 9;
		else if (!strncmp(a, "--config-file=", 14))
			val = a + 14;
		if (val && !*val)
			return err_set(e, MC_ERR_INVALID, "option '--config' needs a file name");
		if (val)
			*file = val;
	}
	return 0;
}

int config_load(struct config *cfg, int argc, char **argv, int *consumed, struct err *e)
{
	int i, rc;
	const char *file;

	/* The file comes first, whichever position --config has among the flags. */
	if ((rc = config_file_arg(argc, argv, &file, e)) != 0)
		return rc;
	if (file && *file) {
		if ((rc = set(cfg, &opts[0], file, "flag --config", e)) != 0)
			return rc;
		if ((rc = load_file(cfg, file, e)) != 0)
			return rc;
	}
	if ((rc = load_env(cfg, e)) != 0)
		return rc;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *val, *eq;
		const struct cfg_opt *o;
		char where[128];

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (strncmp(a, "--", 2) != 0)
			break;
		if (!strcmp(a, "--config") || !strcmp(a, "--config-file")) {
			i++; /* the file was read first, above */
			continue;
		}
		if (!strncmp(a, "--config=", 9) || !strncmp(a, "--config-file=", 14))
			continue;
		a += 2;
		eq = strchr(a, '=');
		o = find(a, eq ? (size_t)(eq - a) : strlen(a));
		if (!o)
			return err_set(e, MC_ERR_INVALID, "unknown option '--%.*s' (see --help)",
			               (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
		if (eq) {
			val = eq + 1;
		} else if (o->type == CFG_BOOL) {
			/* A bare boolean flag means true; a following true/false/yes/no/on/off/1/0
			 * is its value. */
			static const char *words[] = {"true", "false", "yes", "no",
			                              "on",   "off",   "1",   "0"};
			val = "1";
			for (size_t w = 0; i + 1 < argc && w < sizeof(words) / sizeof(words[0]);
			     w++) {
				if (strcasecmp(argv[i + 1], words[w]) == 0) {
					val = argv[++i];
					break;
				}
			}
		} else {
			if (i + 1 >= argc)
				return err_set(e, MC_ERR_INVALID, "option '--%s' needs a value",
				               o->name);
			val = argv[++i];
		}
		snprintf(where, sizeof(where), "flag --%s", o->name);
		if ((rc = set(cfg, o, val, where, e)) != 0)
			return rc;
	}
	if (consumed)
		*consumed = i;
	if (strcmp(cfg->log_level, "error") && strcmp(cfg->log_level, "warn") &&
	    strcmp(cfg->log_level, "info") && strcmp(cfg->log_level, "debug"))
		return err_set(e, MC_ERR_INVALID,
		               "log_level must be error, warn, info or debug, not '%s'",
		               cfg->log_level);
	/* a body over either budget would be refused every time: say so at start-up */
	if (cfg->max_body > cfg->body_budget_per_ip || cfg->max_body > cfg->body_budget)
		return err_set(e, MC_ERR_INVALID,
		               "max_body (%lld) must not exceed body_budget_per_ip (%lld) or "
		               "body_budget (%lld): raise them with it",
		               (long long)cfg->max_body, (long long)cfg->body_budget_per_ip,
		               (long long)cfg->body_budget);
	int64_t ttl;
	if (config_parse_ttl(cfg->binding_ttl, &ttl) != 0)
		return err_set(e, MC_ERR_INVALID,
		               "binding_ttl '%s' is not a duration (3d, 72h, never, ms)",
		               cfg->binding_ttl);
	if ((rc = derive(cfg->db_path, sizeof(cfg->db_path), cfg->data_dir, "mcapid.db", e)) ||
	    (rc = derive(cfg->key_file, sizeof(cfg->key_file), cfg->data_dir, "server.key", e)) ||
	    (rc = derive(cfg->cred_file, sizeof(cfg->cred_file), cfg->data_dir,
	                 "dev-credentials.json", e)) ||
	    (rc = derive(cfg->replay_dir, sizeof(cfg->replay_dir), cfg->data_dir, "replay", e)))
		return rc;
	if (!*cfg->public_base_url)
		snprintf(cfg->public_base_url, sizeof(cfg->public_base_url), "http://%s",
		         cfg->listen);
	return resolve_tls(cfg, e);
}

/* HTTPS and the development proxy: --dev turns both on (with a certificate of the
 * development CA, made by main.c) unless they are set explicitly. */
static int resolve_tls(struct config *cfg, struct err *e)
{
	int rc;

	if (strcmp(cfg->connect_proxy, "on") && strcmp(cfg->connect_proxy, "off") &&
	    strcmp(cfg->connect_proxy, "auto"))
		return err_set(e, MC_ERR_INVALID, "connect_proxy must be on, off or auto, not '%s'",
		               cfg->connect_proxy);
	if (strcmp(cfg->test_headers, "on") && strcmp(cfg->test_headers, "off") &&
	    strcmp(cfg->test_headers, "auto"))
		return err_set(e, MC_ERR_INVALID, "test_headers must be on, off or auto, not '%s'",
		               cfg->test_headers);
	if (!strcmp(cfg->test_headers, "auto"))
		snprintf(cfg->test_headers, sizeof(cfg->test_headers), "%s",
		         cfg->dev ? "on" : "off");
	if (strcmp(cfg->impersonation_action, "hold") && strcmp(cfg->impersonation_action, "tag"))
		return err_set(e, MC_ERR_INVALID,
		               "impersonation_action must be hold or tag, not '%s'",
		               cfg->impersonation_action);
	if (!strcmp(cfg->smtp_listen, "off"))
		cfg->smtp_listen[0] = '\0';
	else if (cfg->dev && !*cfg->smtp_listen)
		snprintf(cfg->smtp_listen, sizeof(cfg->smtp_listen), "127.0.0.1:2525");
	if (!*cfg->smtp_hostname &&
	    gethostname(cfg->smtp_hostname, sizeof(cfg->smtp_hostname)) != 0)
		snprintf(cfg->smtp_hostname, sizeof(cfg->smtp_hostname), "mcapid");
	cfg->smtp_hostname[sizeof(cfg->smtp_hostname) - 1] = '\0';
	if (cfg->retry_max < cfg->retry_min)
		return err_set(e, MC_ERR_INVALID, "retry_max (%d) is less than retry_min (%d)",
		               cfg->retry_max, cfg->retry_min);
	if ((rc = derive(cfg->maildir_root, sizeof(cfg->maildir_root), cfg->data_dir, "mail", e)))
		return rc;
	if (!strcmp(cfg->tls_listen, "off"))
		cfg->tls_listen[0] = '\0';
	else if (cfg->dev && !*cfg->tls_listen)
		snprintf(cfg->tls_listen, sizeof(cfg->tls_listen), "127.0.0.1:8443");
	if (!strcmp(cfg->connect_proxy, "auto"))
		snprintf(cfg->connect_proxy, sizeof(cfg->connect_proxy), "%s",
		         cfg->dev && *cfg->tls_listen ? "on" : "off");
	if (strcmp(cfg->control, "on") && strcmp(cfg->control, "off") &&
	    strcmp(cfg->control, "auto"))
		return err_set(e, MC_ERR_INVALID, "control must be on, off or auto, not '%s'",
		               cfg->control);
	if (!strcmp(cfg->control, "auto"))
		snprintf(cfg->control, sizeof(cfg->control), "%s", cfg->dev ? "on" : "off");
	cfg->tls_dev = 0;
	if (*cfg->tls_listen && cfg->dev && !*cfg->tls_cert && !*cfg->tls_key) {
		if ((rc = derive(cfg->tls_cert, sizeof(cfg->tls_cert), cfg->data_dir,
		                 "dev-server.pem", e)) ||
		    (rc = derive(cfg->tls_key, sizeof(cfg->tls_key), cfg->data_dir,
		                 "dev-server.key", e)))
			return rc;
		cfg->tls_dev = 1;
	}
	if (*cfg->tls_listen && (!*cfg->tls_cert || !*cfg->tls_key))
		return err_set(e, MC_ERR_INVALID, "tls_listen '%s' needs tls_cert and tls_key",
		               cfg->tls_listen);
	if (!strcmp(cfg->connect_proxy, "on") && !*cfg->tls_listen)
		return err_set(e, MC_ERR_INVALID,
		               "connect_proxy = on needs an HTTPS listener (tls_listen)");
	return 0;
}

int config_parse_ttl(const char *s, int64_t *ms)
{
	char *end;
	long long v;

	if (!strcasecmp(s, "never")) {
		*ms = -1;
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v <= 0)
		return MC_ERR_INVALID;
	int64_t mult = 1;
	if (!*end || !strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s"))
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60000;
	else if (!strcmp(end, "h"))
		mult = 3600000;
	else if (!strcmp(end, "d"))
		mult = 86400000;
	else
		return MC_ERR_INVALID;
	if (v > INT64_MAX / mult)
		return MC_ERR_INVALID;
	*ms = v * mult;
	return 0;
}

void config_usage(FILE *f)
{
	fprintf(f, "options (flag --name value, environment MCAPID_NAME, or 'name = value' in "
	           "--config "
	           "FILE, with _ for -):\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char flag[64];
		size_t j;
		for (j = 0; opts[i].name[j] && j + 1 < sizeof(flag); j++)
			flag[j] = opts[i].name[j] == '_' ? '-' : opts[i].name[j];
		flag[j] = '\0';
		fprintf(f, "  --%-20s %s", flag, opts[i].help);
		if (*opts[i].def)
			fprintf(f, " [%s]", opts[i].def);
		fputc('\n', f);
	}
}
