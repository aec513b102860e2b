/* The store: every piece of persistent state behind one interface, so that handlers
 * never see SQL and a PostgreSQL backend can replace SQLite without touching them.
 *
 * A struct store is shared by all threads. Each backend keeps one connection per
 * calling thread internally, so a transaction begun with store_tx_begin() belongs to
 * the calling thread and covers every store call that thread makes until commit or
 * rollback. Calls made outside a transaction are each atomic on their own.
 *
 * Times are int64 milliseconds since the Unix epoch, UTC. Text fields are fixed-size
 * arrays in the records so callers copy records by value and own nothing.
 * Secrets (application keys, binding secret keys) are given and returned in clear;
 * the backend encrypts them at rest with the server key (keyfile.h), so a copy of the
 * database alone cannot sign requests.
 *
 * Errors: 0 on success; MC_ERR_NOT_FOUND when the record does not exist;
 * MC_ERR_EXISTS on a unique-key clash; MC_ERR_UNAVAILABLE when the database is busy
 * or unreachable (retryable); MC_ERR_STORE for anything else, with the message in e. */
#ifndef MCAPI_SERVER_STORE_H
#define MCAPI_SERVER_STORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

#define STORE_KEY_LEN 32 /* the server key: 32 random bytes */

struct store_config {
	const char *backend;      /* "sqlite" (default) or "postgres" */
	const char *path;         /* sqlite: database file */
	const char *dsn;          /* postgres: connection string */
	const unsigned char *key; /* STORE_KEY_LEN bytes; copied */
	int busy_timeout_ms;      /* how long a writer waits for the lock */
	int timeout_ms;           /* postgres: bound of one store call (0: 5000) */
	int connect_timeout_ms;   /* postgres: bound of one connection attempt (0: timeout_ms) */
	int must_exist;           /* sqlite: never create the database file (admin) */
	int gate_batch;           /* postgres: most signed calls per gate statement (0 = 32) */
	int gate_leaders;         /* postgres: gate statements a node runs at once (0 = 1) */
	int gate_lease;           /* postgres: most rate-limit calls a node leases per bucket
	                           * (0 = none: every call takes from the shared bucket) */
	int gate_wait_us;         /* postgres: longest a gate leader waits for more calls under
	                           * load (0 = never) */
};

/* Opens (creating and migrating as needed) the store. *out owned by the caller:
 * release with store_close(). With must_exist, a SQLite database file that does not exist
 * or holds no mcapid schema (user_version 0) is MC_ERR_NOT_FOUND and nothing is created. */
int store_open(const struct store_config *cfg, struct store **out, struct err *e);

/* Closes every connection (checkpointing SQLite's WAL) and frees st. NULL is fine.
 * No other thread may use st during or after the call. */
void store_close(struct store *st);

/* 0 if the store answers a trivial query, MC_ERR_UNAVAILABLE otherwise. */
int store_ping(struct store *st);

/* Schema version after migrations. */
int store_schema_version(struct store *st);

/* Transactions of the calling thread (see above). Begin takes the write lock at once
 * (SQLite BEGIN IMMEDIATE), so a transaction that reads then writes cannot deadlock.
 * Nesting is not supported: MC_ERR_INTERNAL. rollback is safe without a transaction. */
int store_tx_begin(struct store *st, struct err *e);
int store_tx_commit(struct store *st, struct err *e);
void store_tx_rollback(struct store *st);

/* ---- accounts ---- */
/* One account: every field get-account answers (API.md §12, docs/account.md). Text is
 * UTF-8; flags are 0 or 1. */
struct account {
	int64_t id;
	char code[32];                 /* accountCode, e.g. "CUSA35A403"; unique */
	char name[128];                /* accountName */
	char region[16];               /* region code, e.g. "eu" */
	char admin_email[256];         /* adminEmail, may be "" */
	char mimecast_id[64];          /* mimecastId, e.g. "01-0035-00403"; unique */
	char type[32];                 /* e.g. "full" */
	char domain[256];              /* the account's primary domain, may be "" */
	char packages[2048];           /* JSON array text, e.g. ["Mimecast Platform [1033]"] */
	char passphrase[128];          /* passphrase, may be "" */
	char support_code[16];         /* supportCode, e.g. "311C" */
	char database_code[32];        /* databaseCode, e.g. "euterm1" */
	char content_view[32];         /* contentAdministratorDefaultView, e.g. "Metadata" */
	char contact_email[256];       /* contactEmail, may be "" */
	char contact_name[128];        /* contactName, may be "" */
	char telephone[64];            /* telephone, may be "" */
	char timezone[64];             /* IANA zone of SIEM log times, e.g. "Europe/London" */
	int32_t max_retention;         /* maxRetention, days */
	int32_t admin_session_timeout; /* adminSessionTimeout, minutes */
	int8_t archive;                /* archive: the account keeps a message archive */
	int8_t max_retention_confirmed;
	int8_t min_retention_enabled;
	int8_t automated_segment_purge;
	int8_t policy_inheritance;
	int8_t search_reason;
	int8_t export_api;
	int8_t exgest_allow_query;
	int64_t created;
	int64_t user_count; /* users of the account (read-only: kept by the store) */
};

/* Zeroes a and sets the documented defaults of a new account (docs/account.md): type
 * "full", maxRetention 30, maxRetentionConfirmed and automatedSegmentPurge true,
 * contentAdministratorDefaultView "Metadata", adminSessionTimeout 60, the default
 * packages; every other flag false and every other text "". */
void store_account_init(struct account *a);

/* Creates a; fills a->id and a->created, and whatever is empty of: code and mimecast_id
 * (generated in the real formats, see store.c), support_code (4 random upper-case hex
 * digits), database_code (region + "term1"), type ("full"), content_view ("Metadata"),
 * packages ("[]"); max_retention and admin_session_timeout below 1 become 30 and 60. */
int store_account_create(struct store *st, struct account *a, struct err *e);
int store_account_get(struct store *st, int64_t id, struct account *out, struct err *e);
int store_account_get_by_code(struct store *st, const char *code, struct account *out,
                              struct err *e);
/* Calls fn for each account, oldest first; a non-zero return from fn stops and is returned. */
int store_account_list(struct store *st, int (*fn)(void *arg, const struct account *a), void *arg,
                       struct err *e);
int store_account_user_count(struct store *st, int64_t account_id, int64_t *count, struct err *e);
/* Writes every mutable field of a by a->id: all but id, code, mimecast_id, region,
 * created and user_count. MC_ERR_NOT_FOUND if there is no such account; MC_ERR_INVALID if
 * a text field is not terminated or the name is empty. */
int store_account_update(struct store *st, const struct account *a, struct err *e);

/* ---- applications (app id + app key, registered per account) ---- */
struct application {
	int64_t id;
	int64_t account_id;
	char app_id[64];   /* x-mc-app-id, a GUID; unique */
	char app_key[128]; /* the application key (secret) in clear */
	char name[128];
	int64_t created;
	int64_t revoked; /* 0 = active */
};

/* Creates app; fills id, created (and app_id/app_key with fresh GUIDs if empty). */
int store_app_create(struct store *st, struct application *app, struct err *e);
/* By x-mc-app-id; revoked applications are returned too (check ->revoked). */
int store_app_get(struct store *st, const char *app_id, struct application *out, struct err *e);
int store_app_get_by_id(struct store *st, int64_t id, struct application *out, struct err *e);
int store_app_list(struct store *st, int64_t account_id /* 0 = all */,
                   int (*fn)(void *arg, const struct application *a), void *arg, struct err *e);
int store_app_revoke(struct store *st, const char *app_id, int64_t now, struct err *e);

/* ---- users ---- */
#define STORE_TTL_NEVER (-1) /* binding_ttl_ms: bindings never expire */

struct user {
	int64_t id;
	int64_t account_id;
	char email[256]; /* lower-case; unique across the store */
	char name[128];
	uint32_t perms;          /* enum perm bits */
	char password_hash[256]; /* Argon2id encoded string, "" = no password (no login) */
	int64_t binding_ttl_ms;  /* authentication profile: 0 = server default, STORE_TTL_NEVER */
	int32_t extend_on_validate; /* profile: each accepted call extends the binding */
	int32_t failed_logins;      /* consecutive failures */
	int64_t locked_until;       /* 0 = not locked */
	int64_t created;
	int64_t disabled; /* 0 = enabled */
};

int store_user_create(struct store *st, struct user *u, struct err *e);
int store_user_get(struct store *st, int64_t id, struct user *out, struct err *e);
/* email compared case-insensitively (stored lower-case). */
int store_user_get_by_email(struct store *st, const char *email, struct user *out, struct err *e);
int store_user_list(struct store *st, int64_t account_id /* 0 = all */,
                    int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
/* Writes every mutable field of u (name, perms, password_hash, binding_ttl_ms,
 * extend_on_validate, failed_logins, locked_until, disabled) by u->id. */
int store_user_update(struct store *st, const struct user *u, struct err *e);
/* Calls fn for the users of account_id whose display name is name as impersonation checks
 * compare names (namekey.h: NFKC, case-folded, blanks collapsed): one indexed look-up of
 * users.name_key, whatever the number of users. Nothing when name has no key. */
int store_user_by_name(struct store *st, int64_t account_id, const char *name,
                       int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
/* Computes users.name_key where it is missing (rows older than migration 011, or written by
 * other programs), in batches of one transaction each; store_open calls it. */
int store_user_name_keys_fill(struct store *st, struct err *e);

/* ---- bindings (access key + secret key of one user for one application) ---- */
struct binding {
	int64_t id;
	int64_t user_id;
	int64_t app_row_id;       /* applications.id */
	char access_key[96];      /* unique */
	unsigned char secret[64]; /* the secret key, raw bytes (clients get base64 of it) */
	size_t secret_len;
	int64_t created;
	int64_t expires; /* 0 = never */
	int64_t ttl_ms;  /* STORE_TTL_NEVER or the TTL used for extensions */
	int32_t extend_on_validate;
	int64_t revoked; /* 0 = active; set by logout or admin revoke */
};

/* Creates b; fills id. */
int store_binding_create(struct store *st, struct binding *b, struct err *e);
int store_binding_get(struct store *st, const char *access_key, struct binding *out, struct err *e);
int store_binding_set_expiry(struct store *st, int64_t id, int64_t expires, struct err *e);
int store_binding_revoke(struct store *st, int64_t id, int64_t now, struct err *e);
/* Active (not revoked) bindings of a user, oldest first. */
int store_binding_list(struct store *st, int64_t user_id,
                       int (*fn)(void *arg, const struct binding *b), void *arg, struct err *e);
int store_binding_count(struct store *st, int64_t user_id, int64_t *count, struct err *e);

/* ---- audit events (written in the same transaction as the change they record) ---- */
struct audit_event {
	int64_t account_id;
	const char *user;       /* e-mail of the acting user (or the attempted login name) */
	const char *audit_type; /* e.g. "Logon Authentication Failed" */
	const char *category;   /* authentication_logs | account_logs | integrations_and_apis |
	                           user_account_and_role_logs */
	const char *info;       /* eventInfo text */
	int64_t time;           /* eventTime */
};

/* What an audit row shows of an access key: its first 8 characters and "..." (never the
 * whole key, docs/login.md). Writes dst and returns it. */
#define STORE_KEY_HINT_SIZE 16
const char *store_key_hint(const char *access_key, char dst[STORE_KEY_HINT_SIZE]);

/* Appends ev; the backend gives it an opaque id. */
int store_audit_add(struct store *st, const struct audit_event *ev, struct err *e);

/* The same with eventInfo formatted printf-style (truncated to 767 bytes): for events that
 * no request or operator caused (none yet). A change made for an API call or by
 * `mcapid admin` is written with store_audit_originf, so that its eventInfo has the tail
 * SIEM parsers match. */
int store_auditf(struct store *st, int64_t account_id, const char *user, const char *category,
                 const char *type, int64_t time, struct err *e, const char *fmt, ...)
        __attribute__((format(printf, 8, 9)));
int store_vauditf(struct store *st, int64_t account_id, const char *user, const char *category,
                  const char *type, int64_t time, struct err *e, const char *fmt, va_list ap);

/* Where an audited change came from. Every eventInfo of a change made for an API call or
 * by the admin CLI reads, as the real service's do (docs/audit.md):
 *   <what happened>, Date: yyyy-MM-dd, Time: HH:mm:ss+0000, IP: <ip>, Application: <app>
 * followed by ", <detail>" when detail is set (a login's "Method: Cloud, Reason: ..."). */
struct audit_origin {
	const char *ip; /* the client's address; NULL = "unknown" */
	const char
	        *application; /* name of the application that signed the call; NULL = "unknown" */
	const char *detail;   /* NULL, or more "Key: value" fields joined by ", " */
};

/* The origin of `mcapid admin` commands and of the first start's bootstrap. */
#define AUDIT_ADMIN_IP  "127.0.0.1"
#define AUDIT_ADMIN_APP "mcapid admin"

/* Formats eventInfo as above into dst (size > 0; always terminated). what is cut, never the
 * tail, when the whole does not fit. In ip and application, control characters and ','
 * become '?' so that a "Key: value" parser splitting on ", " cannot be misled. The date
 * and time are those of time (ms), in UTC. */
void store_audit_info(char *dst, size_t size, const char *what, int64_t time,
                      const struct audit_origin *o);

/* store_auditf with eventInfo formatted by store_audit_info from fmt and o (what is cut
 * at 1023 bytes, the whole at 1535). */
int store_audit_originf(struct store *st, int64_t account_id, const char *user,
                        const char *category, const char *type, int64_t time,
                        const struct audit_origin *o, struct err *e, const char *fmt, ...)
        __attribute__((format(printf, 9, 10)));
int store_audit_voriginf(struct store *st, int64_t account_id, const char *user,
                         const char *category, const char *type, int64_t time,
                         const struct audit_origin *o, struct err *e, const char *fmt, va_list ap);

#endif
