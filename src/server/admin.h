/* Administration outside the public API (API §11): `mcapid admin account|app|user|keys
 * create|list|revoke ...` against the store, with JSON on stdout, and the development
 * bootstrap that fills an empty store with one account, application, administrator and
 * never-expiring key. Every change is audited in the same transaction, as user
 * "admin-cli" (or "mcapid-bootstrap"). */
#ifndef MCAPI_SERVER_ADMIN_H
#define MCAPI_SERVER_ADMIN_H

#include <stdint.h>

struct err;
struct store;

struct admin_defaults {
	const char *region;       /* region of new accounts; NULL = "eu" */
	int64_t default_ttl_ms;   /* TTL for profiles saying "server default": > 0 ms or
	                             STORE_TTL_NEVER; 0 = 3 days */
	int max_bindings;         /* per user; minting one more revokes the oldest; <= 0 = 100 */
	const struct config *cfg; /* the server's configuration (the mail commands); may be NULL */
};

struct config;

#define ADMIN_NEEDS_STORE (-1) /* admin_main without a store: the command would run */

/* Runs `mcapid admin ARGS...` (argv[0] = "account"|"app"|"user"|"keys"|"help"). Prints JSON
 * on stdout; errors as "mcapid: <message>" on stderr. Returns the process exit code:
 * 0 ok, 1 runtime error (store, not found), 2 usage error. With st NULL it does what needs
 * no store (help, usage errors) and returns ADMIN_NEEDS_STORE where it would run the
 * command, so the caller opens the store only for a command that uses it. */
int admin_main(struct store *st, const struct admin_defaults *defs, int argc, char **argv);

/* On an empty store (no account), in development mode: creates one account ("Development",
 * region defs->region), one application, one administrator (all permissions, email
 * admin@dev.mcapi.local, random password) and one never-expiring binding; writes them as
 * JSON to cred_path with mode 0600 (atomically: temp file + rename) with the keys
 * {"base_url","account_code","app_id","app_key","access_key","secret_key","email","password"}
 * (secret_key = standard base64 of 32 random bytes, access_key = random URL-safe 43 chars),
 * sets *created = 1 and fills *out_json with the same JSON text (caller frees with free()).
 * On a non-empty store does nothing (*created = 0, *out_json = NULL). The file is written
 * before the transaction commits and renamed into place after, so a failure leaves either
 * nothing or both. cred_path NULL: no file. Returns 0 or an error code with e filled. */
int admin_bootstrap_dev(struct store *st, const struct admin_defaults *defs, const char *base_url,
                        const char *cred_path, int *created, char **out_json, struct err *e);

/* Makes one more account for a test (the control plane's POST /__mcapi/accounts): an account
 * called name, an application, an administrator with a random password and all permissions,
 * a never-expiring key, and with domain (normalised, or NULL) that domain already verified.
 * One transaction. *out_json gets the credentials as JSON text (the keys of
 * dev-credentials.json, plus "domain"); the caller wipes and frees it. 0, or a store error
 * (MC_ERR_EXISTS when the domain is verified in another account) with e filled. */
int admin_mint_account(struct store *st, const struct admin_defaults *defs, const char *name,
                       const char *domain, const char *base_url, char **out_json, struct err *e);

/* Sets "base_url" in the development credentials file cred_path to base_url (the URL the
 * server really answers on, known once it listens) and, when control_token is not NULL,
 * "control_token" to it (the control plane's token, docs/emulator.md); keeps every other
 * field: the secrets in the file are shown once and cannot be made again. The file is
 * replaced atomically, mode 0600, only when a value changes. *out_json (if not NULL) gets the
 * file's JSON text afterwards (caller frees with free()). Returns 0; MC_ERR_NOT_FOUND if the
 * file does not exist; MC_ERR_INVALID if it is not a JSON object; MC_ERR_IO, MC_ERR_NOMEM; e
 * filled. */
int admin_dev_set_base_url(const char *cred_path, const char *base_url, const char *control_token,
                           char **out_json, struct err *e);

#endif
