/* Server configuration: one table (name, type, default, bounds, help) drives the config
 * file, MCAPID_* environment variables, command-line flags, --help and validation.
 * Precedence: defaults < file (--config FILE) < environment < flags. Read-only after
 * start-up: every thread reads the same struct config without locks. */
#ifndef MCAPI_SERVER_CONFIG_H
#define MCAPI_SERVER_CONFIG_H

#include <stdint.h>
#include <stdio.h>

struct err;

struct config {
	char config_file[512];
	char listen[128];      /* host:port */
	char tls_listen[128];  /* HTTPS host:port, "" = none ("off" with --dev) */
	char tls_cert[512];    /* PEM certificate chain for HTTPS and STARTTLS */
	char tls_key[512];     /* PEM private key */
	char connect_proxy[8]; /* on | off (auto is resolved at load) */
	int head_check;        /* the acceptor checks first heads (http/connect.h) */
	char control[8];       /* on | off: the control plane /__mcapi/ (auto resolved at load) */
	int journal_max;       /* calls in the control plane's journal */
	char seed[512];        /* seed file or directory applied at first start on an empty store */
	char deterministic[256]; /* tests only: the seed of every random value, or "" */
	char clock_start[64];    /* with deterministic: the instant the record clock stands at */
	int tls_dev;             /* tls_cert/tls_key are the development CA's: main makes them */
	char data_dir[512];
	char store[16];    /* sqlite | postgres */
	char db_path[512]; /* default <data_dir>/mcapid.db */
	char pg_dsn[512];
	int db_busy_timeout_ms;     /* how long a writer waits for the store's write lock */
	int pg_timeout_ms;          /* bound of one PostgreSQL store call */
	int pg_connect_timeout_ms;  /* bound of one connection attempt */
	char trusted_proxies[1024]; /* IPs/CIDRs whose forwarding headers name the client */
	int pg_gate_batch;          /* most signed calls one gate statement carries */
	int pg_gate_leaders;        /* gate statements in flight at once */
	int pg_gate_lease;          /* most rate-limit calls leased per bucket (0 = none) */
	int pg_gate_wait_us;        /* longest a gate leader waits for more calls (0 = never) */
	char key_file[512];         /* default <data_dir>/server.key */
	char log_level[16];
	int access_log;
	int log_flush_ms;    /* buffered log lines are written at least this often (0 = direct) */
	int dev;             /* development mode: bootstrap credentials on an empty store */
	int threads;         /* 0 = one per core */
	int64_t max_body;    /* bytes */
	int64_t conn_memory; /* per-connection memory (header block limit) */
	int conn_timeout;    /* seconds of idleness before a connection is closed */
	int max_connections;
	int per_ip_connections;
	int header_timeout;         /* seconds for a complete header block (not extended) */
	int body_grace;             /* seconds a body may arrive slower than body_min_rate */
	int body_min_rate;          /* bytes per second after body_grace; 0 = none */
	int64_t body_budget;        /* bytes of request bodies in memory, server-wide */
	int64_t body_budget_per_ip; /* the same per client IP */
	int shutdown_grace;         /* seconds to finish in-flight requests */
	int skew;                   /* seconds: x-mc-date window */
	int replay_max;             /* entries in the replay cache */
	int replay_per_user;        /* entries one user may hold in it (0 = no limit) */
	char replay_dir[512]; /* journal of future-dated request ids (default <data_dir>/replay) */
	int auth_cache_ms;    /* how long auth rows are cached (0 = off) */
	int list_cache_ms;    /* how long answers of list calls are cached (0 = off) */
	char region[16];
	char public_base_url[256];
	char regions[2048]; /* code=url,code=url */
	int pending_ttl_days;
	int purge_after_days;
	char dns_servers[512];
	int dns_timeout_ms;
	int rate_limit;            /* bucket size per user */
	int rate_refill_ms;        /* one call back every N ms */
	char rate_overrides[2048]; /* /api/x/y=limit:refill_ms,... */
	int ip_limit;              /* unauthenticated/failed calls per client IP per minute */
	char binding_ttl[32];      /* default authentication profile TTL: 3d, 72h, never, ms */
	int max_bindings;
	int lockout_failures;
	int lockout_minutes;
	int hash_threads;    /* Argon2id threads (auth/hashpool.h) */
	int hash_queue;      /* jobs that may wait for them; beyond: 503 */
	char cred_file[512]; /* default <data_dir>/dev-credentials.json */

	/* the mail gateway (API.md §13) */
	char smtp_listen[128];      /* SMTP host:port, "" = none (--dev: 127.0.0.1:2525) */
	char smtp_hostname[256];    /* name in the greeting and Received: (default: the host's) */
	int64_t smtp_max_size;      /* bytes of one message (552 above) */
	int smtp_max_rcpts;         /* recipients per message (452 above) */
	int smtp_max_sessions;      /* concurrent SMTP sessions (421 above) */
	int smtp_per_ip_sessions;   /* concurrent sessions per client IP (421 above) */
	int smtp_timeout;           /* seconds to wait for a command line */
	int smtp_session_max;       /* seconds a whole session may last */
	int smtp_max_commands;      /* commands before DATA in one transaction, and errors */
	int smtp_txn_timeout;       /* seconds from greeting or last message to DATA */
	int smtp_data_grace;        /* seconds before smtp_data_min_rate applies */
	int smtp_data_min_rate;     /* bytes/s of message text after the grace; 0 = none */
	int64_t smtp_accept_memory; /* message bytes held by all accepts at once */
	char test_headers[8]; /* on | off | auto (on with --dev): X-Mcapi-Test forces outcomes */
	char dangerous_types[512];    /* attachment extensions held (comma-separated) */
	char impersonation_action[8]; /* hold | tag */
	int delivery_threads;
	int mail_nice;          /* nice of the mail side's threads (0 = as the API's) */
	int retry_min;          /* seconds: first back-off of a deferred delivery */
	int retry_max;          /* seconds: largest back-off */
	int queue_max_age;      /* seconds a deferred recipient is retried before it bounces */
	char smarthost[256];    /* smtp://host:port for outbound mail; "" = maildir_root */
	char maildir_root[512]; /* default route: <root>/<domain>/<local part>/ (default
	                           <data_dir>/mail) */
	int mail_retention_days;
	char malicious_urls[512]; /* file of malicious URLs and domains for clicks; "" = none */
	int click_batch;          /* most clicks logged per transaction */
	int mail_lease; /* seconds a node holds a recipient's delivery (the process stage: <= 60) */
	int siem_file_max_events; /* events in one get-siem-logs file (API.md §14.1) */
};

/* Fills cfg with the defaults. */
void config_defaults(struct config *cfg);

/* Applies the file named by --config (if any), the environment and the flags in argv
 * (argv[0..argc) are the arguments after the subcommand). Unknown flags and values out
 * of bounds are errors (MC_ERR_INVALID, message in e). *consumed gets the number of argv
 * entries read: parsing stops at the first non-flag argument or "--". */
int config_load(struct config *cfg, int argc, char **argv, int *consumed, struct err *e);

/* Prints the option table (name, default, help) to f. */
void config_usage(FILE *f);

/* Parses a TTL: "never" → -1, "72h", "3d", "15m", "30s", or plain milliseconds. */
int config_parse_ttl(const char *s, int64_t *ms);

#endif
