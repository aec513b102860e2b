/* Internals of `mcapid admin` shared by its files: admin.c (the command table, accounts,
 * applications, users, keys) and admin_mail.c (the gateway's commands). Not an interface
 * for anything else. */
#ifndef MCAPI_SERVER_ADMIN_INT_H
#define MCAPI_SERVER_ADMIN_INT_H

#include "server/admin.h"
#include "server/store/store.h"
#include "common/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_OK      0
#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

#define ADMIN_USER           "admin-cli"
#define BOOTSTRAP_USER       "mcapid-bootstrap"
#define DEV_EMAIL            "admin@dev.mcapi.local"
#define DEFAULT_REGION       "eu"
#define DEFAULT_MAX_BINDINGS 100
#define DEFAULT_TTL_MS       (3 * 86400000LL)
#define SECRET_BYTES         32
#define ACCESS_KEY_BYTES     32 /* 43 base64url characters */
#define MAX_TTL_MS           (3650 * 86400000LL)

enum admin_opt {
	OPT_NAME,
	OPT_REGION,
	OPT_ADMIN_EMAIL,
	OPT_DOMAIN,
	OPT_ACCOUNT,
	OPT_APP_ID,
	OPT_EMAIL,
	OPT_PASSWORD,
	OPT_PASSWORD_STDIN,
	OPT_PERMS,
	OPT_TTL,
	OPT_EXTEND,
	OPT_EXTEND_BOOL,
	OPT_ACCESS_KEY,
	OPT_CODE,
	OPT_CONTACT_EMAIL,
	OPT_CONTACT_NAME,
	OPT_TELEPHONE,
	OPT_PASSPHRASE,
	OPT_SUPPORT_CODE,
	OPT_DATABASE_CODE,
	OPT_TYPE,
	OPT_CONTENT_VIEW,
	OPT_PACKAGES,
	OPT_MAX_RETENTION,
	OPT_ADMIN_SESSION_TIMEOUT,
	OPT_ARCHIVE,
	OPT_MAX_RETENTION_CONFIRMED,
	OPT_MIN_RETENTION_ENABLED,
	OPT_AUTOMATED_SEGMENT_PURGE,
	OPT_POLICY_INHERITANCE,
	OPT_SEARCH_REASON,
	OPT_EXPORT_API,
	OPT_EXGEST_ALLOW_QUERY,
	OPT_TIMEZONE,
	OPT_ROUTE,
	OPT_IP,
	OPT_FROM,
	OPT_TO,
	OPT_FILE,
	OPT_COUNT_N,
	OPT_SEED,
	OPT_THREADS,
	OPT_HELP,
	OPT_COUNT /* at most 64: options are bits of a uint64_t */
};

struct admin_ctx {
	struct store *st;
	const struct admin_defaults *defs;
	const char *opt[OPT_COUNT]; /* NULL = not given; "" for a given flag */
	struct err e;
	int64_t now;
};

struct admin_cmd {
	const char *group, *verb;
	int (*run)(struct admin_ctx *cx);
	uint64_t allowed, required;
	const char *usage;
};

#define O(x) (UINT64_C(1) << (x))
_Static_assert(OPT_COUNT <= 64, "admin options are bits of a uint64_t");

struct admin_opt_def {
	const char *name;
	int has_value;
};
extern const struct admin_opt_def admin_opt_defs[OPT_COUNT];

/* Prints "mcapid: <message>" on stderr and returns code. */
int admin_failf(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A store failure: exit 1 with the store's message. */
int admin_fail_store(struct admin_ctx *cx);
/* Prints j (stolen) as indented JSON on stdout; the exit code. */
int admin_print_json(json_t *j);
/* An ISO date or null for 0. */
json_t *admin_time_json(int64_t ms);
void admin_lower_ascii(char *s);
/* An audit row in the caller's transaction; 0 or a store error (in cx->e). */
int admin_audit(struct admin_ctx *cx, const char *user, int64_t account_id, const char *category,
                const char *type, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Copies an option value into a fixed field (or an e-mail, lower-cased and checked): 0, or
 * a usage error naming the option. */
int admin_copy_opt(const char *v, enum admin_opt o, char *dst, size_t size);
int admin_copy_email(const char *v, enum admin_opt o, char *dst, size_t size);
/* Looks an account up by code (inside or outside a transaction); an exit code. */
int admin_find_account(struct admin_ctx *cx, const char *code, struct account *a);
int admin_begin(struct admin_ctx *cx);
int admin_commit(struct admin_ctx *cx);

/* The gateway's commands (admin_mail.c). */
int admin_cmd_domain_route(struct admin_ctx *cx);
int admin_cmd_relay_add(struct admin_ctx *cx);
int admin_cmd_relay_remove(struct admin_ctx *cx);
int admin_cmd_relay_list(struct admin_ctx *cx);
int admin_cmd_mail_inject(struct admin_ctx *cx);
int admin_cmd_mail_generate(struct admin_ctx *cx);

#endif
