/* `mcapid admin ...`: a command table (git.c style) of group, verb, handler and the options
 * each command allows and requires; one generic parser turns `--name value` and
 * `--name=value` into a per-command option array, so every command reports unknown,
 * repeated and missing options the same way. Handlers validate, run their change and its
 * audit row in one transaction, and print one JSON value. Exit codes: 0 ok, 1 runtime error
 * (store, not found, conflict), 2 usage error (unknown command or option, missing or
 * malformed value). */
#include "admin.h"
#include "admin_int.h"

#include "auth/password.h"
#include "perm.h"
#include "store/store.h"
#include "store/store_domain.h"
#include "tz.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

const struct admin_opt_def admin_opt_defs[OPT_COUNT] = {
        [OPT_NAME] = {"name", 1},
        [OPT_REGION] = {"region", 1},
        [OPT_ADMIN_EMAIL] = {"admin-email", 1},
        [OPT_DOMAIN] = {"domain", 1},
        [OPT_ACCOUNT] = {"account", 1},
        [OPT_APP_ID] = {"app-id", 1},
        [OPT_EMAIL] = {"email", 1},
        [OPT_PASSWORD] = {"password", 1},
        [OPT_PASSWORD_STDIN] = {"password-stdin", 0},
        [OPT_PERMS] = {"perms", 1},
        [OPT_TTL] = {"ttl", 1},
        [OPT_EXTEND] = {"extend-on-validate", 0},
        [OPT_EXTEND_BOOL] = {"extend-on-validate", 1}, /* user profile: true|false */
        [OPT_ACCESS_KEY] = {"access-key", 1},
        [OPT_CODE] = {"code", 1},
        [OPT_CONTACT_EMAIL] = {"contact-email", 1},
        [OPT_CONTACT_NAME] = {"contact-name", 1},
        [OPT_TELEPHONE] = {"telephone", 1},
        [OPT_PASSPHRASE] = {"passphrase", 1},
        [OPT_SUPPORT_CODE] = {"support-code", 1},
        [OPT_DATABASE_CODE] = {"database-code", 1},
        [OPT_TYPE] = {"type", 1},
        [OPT_CONTENT_VIEW] = {"content-administrator-default-view", 1},
        [OPT_PACKAGES] = {"packages", 1},
        [OPT_MAX_RETENTION] = {"max-retention", 1},
        [OPT_ADMIN_SESSION_TIMEOUT] = {"admin-session-timeout", 1},
        [OPT_ARCHIVE] = {"archive", 1},
        [OPT_MAX_RETENTION_CONFIRMED] = {"max-retention-confirmed", 1},
        [OPT_MIN_RETENTION_ENABLED] = {"min-retention-enabled", 1},
        [OPT_AUTOMATED_SEGMENT_PURGE] = {"automated-segment-purge", 1},
        [OPT_POLICY_INHERITANCE] = {"policy-inheritance", 1},
        [OPT_SEARCH_REASON] = {"search-reason", 1},
        [OPT_EXPORT_API] = {"export-api", 1},
        [OPT_EXGEST_ALLOW_QUERY] = {"exgest-allow-query", 1},
        [OPT_TIMEZONE] = {"timezone", 1},
        [OPT_ROUTE] = {"route", 1},
        [OPT_IP] = {"ip", 1},
        [OPT_FROM] = {"from", 1},
        [OPT_TO] = {"to", 1},
        [OPT_FILE] = {"file", 1},
        [OPT_COUNT_N] = {"count", 1},
        [OPT_SEED] = {"seed", 1},
        [OPT_THREADS] = {"threads", 1},
        [OPT_HELP] = {"help", 0},
};

/* The account fields `account create` and `account update` set, one option each. */
#define ACCOUNT_FIELD_OPTS                                                                         \
	(O(OPT_NAME) | O(OPT_ADMIN_EMAIL) | O(OPT_DOMAIN) | O(OPT_CONTACT_EMAIL) |                 \
	 O(OPT_CONTACT_NAME) | O(OPT_TELEPHONE) | O(OPT_PASSPHRASE) | O(OPT_SUPPORT_CODE) |        \
	 O(OPT_DATABASE_CODE) | O(OPT_TYPE) | O(OPT_CONTENT_VIEW) | O(OPT_PACKAGES) |              \
	 O(OPT_MAX_RETENTION) | O(OPT_ADMIN_SESSION_TIMEOUT) | O(OPT_ARCHIVE) |                    \
	 O(OPT_MAX_RETENTION_CONFIRMED) | O(OPT_MIN_RETENTION_ENABLED) |                           \
	 O(OPT_AUTOMATED_SEGMENT_PURGE) | O(OPT_POLICY_INHERITANCE) | O(OPT_SEARCH_REASON) |       \
	 O(OPT_EXPORT_API) | O(OPT_EXGEST_ALLOW_QUERY) | O(OPT_TIMEZONE))

#define ACCOUNT_FIELDS_USAGE                                                                       \
	"[--name N] [--admin-email E] [--domain D]\n"                                              \
	"              [--contact-email E] [--contact-name N] [--telephone T] [--passphrase P]\n"  \
	"              [--support-code C] [--database-code C] [--type T]\n"                        \
	"              [--content-administrator-default-view V] [--packages 'A,B'|JSON]\n"         \
	"              [--max-retention DAYS] [--admin-session-timeout MINUTES]\n"                 \
	"              [--archive B] [--max-retention-confirmed B] [--min-retention-enabled B]\n"  \
	"              [--automated-segment-purge B] [--policy-inheritance B]\n"                   \
	"              [--search-reason B] [--export-api B] [--exgest-allow-query B]\n"            \
	"              [--timezone ZONE]\n"

static const char usage_text[] =
        "usage: mcapid admin <command> [options]\n"
        "\n"
        "  account create --name N [--region R] [account fields as in update]\n"
        "  account update --code CODE " ACCOUNT_FIELDS_USAGE
        "              (B is true or false; an e-mail, the domain, the passphrase, the\n"
        "              contact name and the telephone may be given as '' to clear them)\n"
        "  account list\n"
        "  app create --account CODE [--name N]\n"
        "  app list [--account CODE]\n"
        "  app revoke --app-id ID\n"
        "  user create --account CODE --email E [--name N] [--password P | --password-stdin]\n"
        "              [--perms LIST|admin] [--ttl 3d|72h|90m|MS|never|default]\n"
        "              [--extend-on-validate]\n"
        "  user list [--account CODE]\n"
        "  user passwd --email E (--password P | --password-stdin)\n"
        "  user profile --email E [--ttl 3d|72h|90m|MS|never|default]\n"
        "              [--extend-on-validate true|false]\n"
        "  keys create --email E --app-id ID [--ttl 3d|72h|90m|MS|never]\n"
        "  keys list --email E\n"
        "  keys revoke --access-key K\n"
        "  domain route --account CODE --domain D --route smtp://HOST:PORT|maildir:PATH|''\n"
        "  account outbound-ip add|remove --account CODE --ip ADDRESS[/BITS]\n"
        "  account outbound-ip list --account CODE\n"
        "  mail inject FILE.eml --from A --to B[,C...] [--ip ADDRESS]\n"
        "  mail generate --account CODE --count N [--seed S]\n"
        "  help\n"
        "\n"
        "Options take a value as '--name value' or '--name=value'. Output is JSON on stdout.\n"
        "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

/* ---- output and errors ---- */

int admin_failf(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int admin_failf(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("mcapid: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* A store failure: exit 1 with the store's message. */
int admin_fail_store(struct admin_ctx *cx)
{
	return admin_failf(EXIT_RUNTIME, "%s", cx->e.msg[0] ? cx->e.msg : err_name(cx->e.code));
}

int admin_print_json(json_t *j)
{
	if (!j)
		return admin_failf(EXIT_RUNTIME, "out of memory");
	if (json_dumpf(j, stdout, JSON_INDENT(2)) != 0) {
		json_decref(j);
		return admin_failf(EXIT_RUNTIME, "cannot write the output");
	}
	json_decref(j);
	fputc('\n', stdout);
	fflush(stdout);
	return EXIT_OK;
}

json_t *admin_time_json(int64_t ms)
{
	char iso[DATE_ISO_LEN];

	if (!ms)
		return json_null();
	date_format_iso(ms, iso);
	return json_string(iso);
}

/* "never", "default", or the largest unit that divides exactly: "3d", "72h", "1500ms". */
static void format_ttl(int64_t ms, char *dst, size_t size)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};

	if (ms == STORE_TTL_NEVER) {
		snprintf(dst, size, "never");
		return;
	}
	if (ms == 0) {
		snprintf(dst, size, "default");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			snprintf(dst, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(dst, size, "%lldms", (long long)ms);
}

/* A boolean option value: true/yes/on/1 → 1, false/no/off/0 → 0 (any case); 0, or -1 for
 * anything else. */
static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return *out = 1, 0;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(s, no[i]) == 0)
			return *out = 0, 0;
	return -1;
}

/* Parses "never", "default" (if allow_default), or digits with an optional unit ms, s, m,
 * h, d (bare digits are milliseconds) into *ms. 0 or -1 on a malformed or out-of-range
 * value. */
static int parse_ttl(const char *s, int allow_default, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"", 1},      {"ms", 1},      {"s", 1000},
	             {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	char *end = NULL;
	long long v;

	if (strcmp(s, "never") == 0) {
		*ms = STORE_TTL_NEVER;
		return 0;
	}
	if (allow_default && strcmp(s, "default") == 0) {
		*ms = 0;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v <= 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > MAX_TTL_MS / units[i].ms)
				return -1;
			*ms = v * units[i].ms;
			return 0;
		}
	}
	return -1;
}

static json_t *perms_json(uint32_t set)
{
	json_t *a = json_array();

	for (int i = 0; i < 32 && a; i++) {
		const char *k = perm_key(1u << i);
		if ((set & (1u << i)) && k)
			json_array_append_new(a, json_string(k));
	}
	return a;
}

/* Every field of the account, in get-account's order, with the admin's snake_case names. */
static json_t *account_json(const struct account *a)
{
	json_t *packages = json_loads(a->packages, 0, NULL), *j;

	if (!packages)
		packages = json_string(a->packages);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:i, s:b, s:b, s:b, s:s, s:b, s:s}",
	              "account_code", a->code, "mimecast_id", a->mimecast_id, "name", a->name,
	              "region", a->region, "domain", a->domain, "archive", a->archive != 0,
	              "passphrase", a->passphrase, "support_code", a->support_code, "max_retention",
	              (int)a->max_retention, "max_retention_confirmed",
	              a->max_retention_confirmed != 0, "min_retention_enabled",
	              a->min_retention_enabled != 0, "automated_segment_purge",
	              a->automated_segment_purge != 0, "type", a->type, "policy_inheritance",
	              a->policy_inheritance != 0, "database_code", a->database_code);
	if (j && json_object_update_new(
	                 j, json_pack("{s:b, s:s, s:i, s:b, s:b, s:s, s:s, s:s, s:s, s:I, s:o?, "
	                              "s:o?, s:s}",
	                              "search_reason", a->search_reason != 0,
	                              "content_administrator_default_view", a->content_view,
	                              "admin_session_timeout", (int)a->admin_session_timeout,
	                              "export_api", a->export_api != 0, "exgest_allow_query",
	                              a->exgest_allow_query != 0, "admin_email", a->admin_email,
	                              "contact_email", a->contact_email, "contact_name",
	                              a->contact_name, "telephone", a->telephone, "user_count",
	                              (json_int_t)a->user_count, "packages", packages, "created",
	                              admin_time_json(a->created), "timezone", a->timezone)) != 0) {
		json_decref(j);
		return NULL;
	}
	if (!j)
		json_decref(packages);
	return j;
}

static json_t *app_json(const struct application *app, const char *account_code, int with_key)
{
	json_t *j =
	        json_pack("{s:s, s:s, s:s, s:o?, s:o?}", "app_id", app->app_id, "name", app->name,
	                  "account_code", account_code, "created", admin_time_json(app->created),
	                  "revoked", admin_time_json(app->revoked));

	if (j && with_key)
		json_object_set_new(j, "app_key", json_string(app->app_key));
	return j;
}

static json_t *user_json(const struct user *u, const char *account_code)
{
	char ttl[32];

	format_ttl(u->binding_ttl_ms, ttl, sizeof(ttl));
	return json_pack("{s:s, s:s, s:s, s:o?, s:s, s:b, s:b, s:i, s:o?, s:o?, s:o?}", "email",
	                 u->email, "name", u->name, "account_code", account_code, "perms",
	                 perms_json(u->perms), "binding_ttl", ttl, "extend_on_validate",
	                 u->extend_on_validate != 0, "has_password", u->password_hash[0] != '\0',
	                 "failed_logins", (int)u->failed_logins, "locked_until",
	                 admin_time_json(u->locked_until), "created", admin_time_json(u->created),
	                 "disabled", admin_time_json(u->disabled));
}

static json_t *key_json(const struct binding *b, const char *app_id, int64_t now)
{
	char ttl[32];

	format_ttl(b->ttl_ms, ttl, sizeof(ttl));
	return json_pack("{s:s, s:s, s:o?, s:o?, s:s, s:b, s:b}", "access_key", b->access_key,
	                 "app_id", app_id, "created", admin_time_json(b->created), "expires",
	                 admin_time_json(b->expires), "ttl", ttl, "extend_on_validate",
	                 b->extend_on_validate != 0, "expired", b->expires && b->expires <= now);
}

/* ---- shared steps ---- */

/* Operators run `mcapid admin` on the server itself (docs/audit.md). */
static const struct audit_origin admin_origin = {AUDIT_ADMIN_IP, AUDIT_ADMIN_APP, NULL};

int admin_audit(struct admin_ctx *cx, const char *user, int64_t account_id, const char *category,
                const char *type, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = store_audit_voriginf(cx->st, account_id, user, category, type, cx->now, &admin_origin,
	                          &cx->e, fmt, ap);
	va_end(ap);
	return rc;
}

/* Copies an option value into a fixed field: 0, or a usage error naming the option. */
int admin_copy_opt(const char *v, enum admin_opt o, char *dst, size_t size)
{
	size_t n = strlen(v);

	if (n >= size)
		return admin_failf(EXIT_USAGE, "option '--%s' is longer than %zu bytes",
		                   admin_opt_defs[o].name, size - 1);
	memcpy(dst, v, n + 1);
	return 0;
}

void admin_lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* A plausible address: one '@' with text on both sides, no spaces or control bytes. */
static int email_ok(const char *s)
{
	const char *at = strchr(s, '@');

	if (!at || at == s || !at[1] || strchr(at + 1, '@'))
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

int admin_copy_email(const char *v, enum admin_opt o, char *dst, size_t size)
{
	int rc = admin_copy_opt(v, o, dst, size);

	if (rc)
		return rc;
	admin_lower_ascii(dst);
	if (!email_ok(dst))
		return admin_failf(EXIT_USAGE, "option '--%s': '%s' is not an e-mail address",
		                   admin_opt_defs[o].name, v);
	return 0;
}

/* Runs inside a transaction: looks the account up by code; exit code. */
int admin_find_account(struct admin_ctx *cx, const char *code, struct account *a)
{
	int rc = store_account_get_by_code(cx->st, code, a, &cx->e);

	if (rc == MC_ERR_NOT_FOUND)
		return admin_failf(EXIT_RUNTIME, "no account '%s'", code);
	return rc ? admin_fail_store(cx) : 0;
}

static int find_user(struct admin_ctx *cx, const char *email, struct user *u)
{
	int rc = store_user_get_by_email(cx->st, email, u, &cx->e);

	if (rc == MC_ERR_NOT_FOUND)
		return admin_failf(EXIT_RUNTIME, "no user '%s'", email);
	return rc ? admin_fail_store(cx) : 0;
}

static int find_app(struct admin_ctx *cx, const char *app_id, struct application *app)
{
	int rc = store_app_get(cx->st, app_id, app, &cx->e);

	if (rc == MC_ERR_NOT_FOUND)
		return admin_failf(EXIT_RUNTIME, "no application '%s'", app_id);
	return rc ? admin_fail_store(cx) : 0;
}

int admin_begin(struct admin_ctx *cx)
{
	return store_tx_begin(cx->st, &cx->e) ? admin_fail_store(cx) : 0;
}

int admin_commit(struct admin_ctx *cx)
{
	return store_tx_commit(cx->st, &cx->e) ? admin_fail_store(cx) : 0;
}

/* A list callback's state: the array and a one-entry cache of account codes by id. */
struct list_state {
	struct admin_ctx *cx;
	json_t *arr;
	int64_t account_id;
	char account_code[32];
};

static const char *account_code_of(struct list_state *ls, int64_t account_id)
{
	struct account a;

	if (ls->account_id != account_id) {
		if (store_account_get(ls->cx->st, account_id, &a, NULL) != 0)
			return "";
		ls->account_id = account_id;
		memcpy(ls->account_code, a.code, sizeof(ls->account_code));
	}
	return ls->account_code;
}

static int append(struct list_state *ls, json_t *j)
{
	if (!j || json_array_append_new(ls->arr, j) != 0)
		return err_set(&ls->cx->e, MC_ERR_NOMEM, "out of memory");
	return 0;
}

/* ---- account ---- */

enum field_kind {
	F_TEXT,     /* any text, "" clears */
	F_REQUIRED, /* text that may not be empty */
	F_EMAIL,    /* an e-mail address (lower-cased) or "" */
	F_DOMAIN,   /* lower-cased, "" clears */
	F_CODE,     /* letters and digits only, not empty */
	F_UPPER,    /* as F_CODE, upper-cased */
	F_PACKAGES, /* 'A,B' or a JSON array of strings */
	F_INT,      /* a decimal number in [min, max] (an int32_t field) */
	F_BOOL,     /* true|false (an int8_t field) */
	F_ZONE      /* an IANA time zone name ICU knows, e.g. Europe/London */
};

#define TEXT_AT(f) offsetof(struct account, f), sizeof(((struct account *)0)->f)

/* The settable fields of an account: option, get-account name (for the audit row), kind,
 * where the value goes, and the range of numbers. */
static const struct account_field {
	enum admin_opt opt;
	const char *api;
	enum field_kind kind;
	size_t off, size;
	int32_t min, max;
} account_fields[] = {
        {OPT_NAME, "accountName", F_REQUIRED, TEXT_AT(name), 0, 0},
        {OPT_ADMIN_EMAIL, "adminEmail", F_EMAIL, TEXT_AT(admin_email), 0, 0},
        {OPT_DOMAIN, "domain", F_DOMAIN, TEXT_AT(domain), 0, 0},
        {OPT_CONTACT_EMAIL, "contactEmail", F_EMAIL, TEXT_AT(contact_email), 0, 0},
        {OPT_CONTACT_NAME, "contactName", F_TEXT, TEXT_AT(contact_name), 0, 0},
        {OPT_TELEPHONE, "telephone", F_TEXT, TEXT_AT(telephone), 0, 0},
        {OPT_PASSPHRASE, "passphrase", F_TEXT, TEXT_AT(passphrase), 0, 0},
        {OPT_SUPPORT_CODE, "supportCode", F_UPPER, TEXT_AT(support_code), 0, 0},
        {OPT_DATABASE_CODE, "databaseCode", F_CODE, TEXT_AT(database_code), 0, 0},
        {OPT_TYPE, "type", F_REQUIRED, TEXT_AT(type), 0, 0},
        {OPT_CONTENT_VIEW, "contentAdministratorDefaultView", F_REQUIRED, TEXT_AT(content_view), 0,
         0},
        {OPT_PACKAGES, "packages", F_PACKAGES, TEXT_AT(packages), 0, 0},
        {OPT_MAX_RETENTION, "maxRetention", F_INT, TEXT_AT(max_retention), 1, 36500},
        {OPT_ADMIN_SESSION_TIMEOUT, "adminSessionTimeout", F_INT, TEXT_AT(admin_session_timeout), 1,
         10080},
        {OPT_ARCHIVE, "archive", F_BOOL, TEXT_AT(archive), 0, 1},
        {OPT_MAX_RETENTION_CONFIRMED, "maxRetentionConfirmed", F_BOOL,
         TEXT_AT(max_retention_confirmed), 0, 1},
        {OPT_MIN_RETENTION_ENABLED, "minRetentionEnabled", F_BOOL, TEXT_AT(min_retention_enabled),
         0, 1},
        {OPT_AUTOMATED_SEGMENT_PURGE, "automatedSegmentPurge", F_BOOL,
         TEXT_AT(automated_segment_purge), 0, 1},
        {OPT_POLICY_INHERITANCE, "policyInheritance", F_BOOL, TEXT_AT(policy_inheritance), 0, 1},
        {OPT_SEARCH_REASON, "searchReason", F_BOOL, TEXT_AT(search_reason), 0, 1},
        {OPT_EXPORT_API, "exportApi", F_BOOL, TEXT_AT(export_api), 0, 1},
        {OPT_EXGEST_ALLOW_QUERY, "exgestAllowQuery", F_BOOL, TEXT_AT(exgest_allow_query), 0, 1},
        {OPT_TIMEZONE, "timezone", F_ZONE, TEXT_AT(timezone), 0, 0},
};

/* --packages: 'A,B' (names trimmed of spaces) or a JSON array of non-empty strings, as
 * compact JSON text into dst. 0 or a usage error. */
static int parse_packages(const char *v, char *dst, size_t size)
{
	json_t *arr = NULL, *item;
	char *text = NULL;
	size_t i;
	int rc = EXIT_USAGE;

	if (*v == '[') {
		arr = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_array(arr))
			goto bad;
		json_array_foreach(arr, i, item)
		{
			if (!json_is_string(item) || !json_string_length(item))
				goto bad;
		}
	} else {
		arr = json_array();
		for (const char *p = v; arr && *p;) {
			const char *end = strchr(p, ','), *a = p, *b;
			if (!end)
				end = p + strlen(p);
			b = end;
			while (a < b && (*a == ' ' || *a == '\t'))
				a++;
			while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
				b--;
			if (a == b || json_array_append_new(arr, json_stringn(a, (size_t)(b - a))))
				goto bad;
			p = *end ? end + 1 : end;
		}
		if (!arr || (*v && v[strlen(v) - 1] == ','))
			goto bad;
	}
	text = json_dumps(arr, JSON_COMPACT);
	if (!text || strlen(text) >= size) {
		rc = admin_failf(EXIT_USAGE, "option '--packages' is longer than %zu bytes as JSON",
		                 size - 1);
		goto out;
	}
	memcpy(dst, text, strlen(text) + 1);
	rc = 0;
	goto out;
bad:
	rc = admin_failf(
	        EXIT_USAGE,
	        "option '--packages': '%s' is not a list like 'A [1001],B [1002]' or a JSON "
	        "array of names",
	        v);
out:
	free(text);
	json_decref(arr);
	return rc;
}

/* Sets the fields of a that options give. *changed gets the get-account names of the
 * fields whose value changes, "; "-separated (", " separates the Key: value pairs of an
 * eventInfo, docs/audit.md). 0 or a usage error, with a unchanged only
 * in part. */
static int account_apply(struct admin_ctx *cx, struct account *a, char *changed, size_t size)
{
	size_t used = 0;

	changed[0] = '\0';
	for (size_t i = 0; i < sizeof(account_fields) / sizeof(account_fields[0]); i++) {
		const struct account_field *f = &account_fields[i];
		const char *v = cx->opt[f->opt];
		char *field = (char *)a + f->off, text[sizeof(a->packages)];
		int same, rc;

		if (!v)
			continue;
		if (f->kind == F_INT || f->kind == F_BOOL) {
			int32_t n = 0;
			if (f->kind == F_BOOL) {
				int b = 0;
				if (parse_bool(v, &b) != 0)
					return admin_failf(
					        EXIT_USAGE,
					        "option '--%s': '%s' is not true or false",
					        admin_opt_defs[f->opt].name, v);
				n = b;
			} else {
				char *end = NULL;
				long long ll;
				errno = 0;
				ll = *v >= '0' && *v <= '9' ? strtoll(v, &end, 10) : -1;
				if (errno || !end || *end || ll < f->min || ll > f->max)
					return admin_failf(
					        EXIT_USAGE,
					        "option '--%s': '%s' is not a number from %d to %d",
					        admin_opt_defs[f->opt].name, v, (int)f->min,
					        (int)f->max);
				n = (int32_t)ll;
			}
			if (f->kind == F_BOOL) {
				same = *(int8_t *)field == (int8_t)n;
				*(int8_t *)field = (int8_t)n;
			} else {
				int32_t old;
				memcpy(&old, field, sizeof(old));
				same = old == n;
				memcpy(field, &n, sizeof(n));
			}
		} else {
			if (f->kind == F_PACKAGES)
				rc = parse_packages(v, text, f->size);
			else if (f->kind == F_EMAIL && *v)
				rc = admin_copy_email(v, f->opt, text, f->size);
			else
				rc = admin_copy_opt(v, f->opt, text, f->size);
			if (rc)
				return rc;
			if (f->kind == F_DOMAIN)
				admin_lower_ascii(text);
			if (f->kind == F_ZONE && !tz_valid(text))
				return admin_failf(
				        EXIT_USAGE,
				        "option '--%s': '%s' is not a time zone name like "
				        "UTC, Europe/London or America/New_York",
				        admin_opt_defs[f->opt].name, v);
			if ((f->kind == F_REQUIRED || f->kind == F_CODE || f->kind == F_UPPER) &&
			    !text[0])
				return admin_failf(EXIT_USAGE, "option '--%s' is empty",
				                   admin_opt_defs[f->opt].name);
			if (f->kind == F_CODE || f->kind == F_UPPER) {
				for (char *p = text; *p; p++) {
					if (f->kind == F_UPPER && *p >= 'a' && *p <= 'z')
						*p = (char)(*p - 'a' + 'A');
					if (!((*p >= 'a' && *p <= 'z') ||
					      (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
						return admin_failf(
						        EXIT_USAGE,
						        "option '--%s': '%s' has characters other "
						        "than letters and digits",
						        admin_opt_defs[f->opt].name, v);
				}
			}
			same = strcmp(field, text) == 0;
			memcpy(field, text, strlen(text) + 1);
		}
		if (!same)
			used += (size_t)snprintf(changed + used, size - used, "%s%s",
			                         used ? "; " : "", f->api);
		if (used >= size)
			used = size - 1;
	}
	return 0;
}

static int cmd_account_create(struct admin_ctx *cx)
{
	char changed[512];
	struct account a;
	int rc;

	store_account_init(&a);
	rc = admin_copy_opt(cx->opt[OPT_REGION]            ? cx->opt[OPT_REGION]
	                    : cx->defs && cx->defs->region ? cx->defs->region
	                                                   : DEFAULT_REGION,
	                    OPT_REGION, a.region, sizeof(a.region));
	if (rc)
		return rc;
	admin_lower_ascii(a.region);
	if ((rc = account_apply(cx, &a, changed, sizeof(changed))))
		return rc;
	if ((rc = admin_begin(cx)))
		return rc;
	if (store_account_create(cx->st, &a, &cx->e) != 0 ||
	    admin_audit(cx, ADMIN_USER, a.id, "account_logs", "Account Created",
	                "account '%s' (%s) created", a.code, a.name) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	return rc ? rc : admin_print_json(account_json(&a));
}

/* `account update`: the fields options give; the others keep their values. A change is
 * audited with the names of the fields that changed; no change writes nothing. The
 * server sees it within auth_cache_ms. */
static int cmd_account_update(struct admin_ctx *cx)
{
	char changed[512];
	struct account a;
	int given = 0, rc;

	for (int o = 0; o < OPT_COUNT; o++)
		given |= (ACCOUNT_FIELD_OPTS & O(o)) && cx->opt[o];
	if (!given)
		return admin_failf(EXIT_USAGE,
		                   "give at least one field to change\nusage: mcapid admin "
		                   "account update --code CODE " ACCOUNT_FIELDS_USAGE);
	if ((rc = admin_begin(cx)))
		return rc;
	if ((rc = admin_find_account(cx, cx->opt[OPT_CODE], &a)) ||
	    (rc = account_apply(cx, &a, changed, sizeof(changed))))
		goto out;
	if (!changed[0]) /* nothing changes, nothing to audit */
		goto out;
	if (store_account_update(cx->st, &a, &cx->e) != 0 ||
	    admin_audit(cx, ADMIN_USER, a.id, "account_logs", "Account Updated",
	                "account '%s' (%s) updated: %s", a.code, a.name, changed) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	return rc ? rc : admin_print_json(account_json(&a));
}

static int account_list_one(void *arg, const struct account *a)
{
	return append(arg, account_json(a));
}

static int cmd_account_list(struct admin_ctx *cx)
{
	struct list_state ls = {cx, json_array(), 0, ""};

	if (!ls.arr)
		return admin_failf(EXIT_RUNTIME, "out of memory");
	if (store_account_list(cx->st, account_list_one, &ls, &cx->e) != 0) {
		json_decref(ls.arr);
		return admin_fail_store(cx);
	}
	return admin_print_json(ls.arr);
}

/* ---- app ---- */

static int cmd_app_create(struct admin_ctx *cx)
{
	struct application app;
	struct account a;
	int rc;

	memset(&app, 0, sizeof(app));
	if (cx->opt[OPT_NAME] &&
	    (rc = admin_copy_opt(cx->opt[OPT_NAME], OPT_NAME, app.name, sizeof(app.name))))
		return rc;
	if ((rc = admin_begin(cx)))
		return rc;
	if ((rc = admin_find_account(cx, cx->opt[OPT_ACCOUNT], &a)))
		goto out;
	app.account_id = a.id;
	if (store_app_create(cx->st, &app, &cx->e) != 0 ||
	    admin_audit(cx, ADMIN_USER, a.id, "integrations_and_apis", "Application Created",
	                "application '%s' (%s) created", app.app_id, app.name) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc)
		rc = admin_print_json(app_json(&app, a.code, 1));
	secure_zero(&app, sizeof(app));
	return rc;
}

static int app_list_one(void *arg, const struct application *app)
{
	struct list_state *ls = arg;

	return append(ls, app_json(app, account_code_of(ls, app->account_id), 0));
}

/* `app list` / `user list`: every record, or those of --account, as one JSON array. */
static int print_account_list(struct admin_ctx *cx,
                              int (*list)(struct admin_ctx *cx, int64_t account_id,
                                          struct list_state *ls))
{
	struct list_state ls = {cx, NULL, 0, ""};
	struct account a;
	int rc;

	if (cx->opt[OPT_ACCOUNT] && (rc = admin_find_account(cx, cx->opt[OPT_ACCOUNT], &a)))
		return rc;
	ls.arr = json_array();
	if (!ls.arr)
		return admin_failf(EXIT_RUNTIME, "out of memory");
	if (list(cx, cx->opt[OPT_ACCOUNT] ? a.id : 0, &ls)) {
		json_decref(ls.arr);
		return admin_fail_store(cx);
	}
	return admin_print_json(ls.arr);
}

static int app_list_all(struct admin_ctx *cx, int64_t account_id, struct list_state *ls)
{
	return store_app_list(cx->st, account_id, app_list_one, ls, &cx->e);
}

static int cmd_app_list(struct admin_ctx *cx)
{
	return print_account_list(cx, app_list_all);
}

static int cmd_app_revoke(struct admin_ctx *cx)
{
	struct application app;
	struct account a;
	int rc;

	if ((rc = admin_begin(cx)))
		return rc;
	if ((rc = find_app(cx, cx->opt[OPT_APP_ID], &app)))
		goto out;
	if (store_account_get(cx->st, app.account_id, &a, &cx->e) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	if (app.revoked) /* nothing changes, nothing to audit */
		goto out;
	app.revoked = cx->now;
	if (store_app_revoke(cx->st, app.app_id, cx->now, &cx->e) != 0 ||
	    admin_audit(cx, ADMIN_USER, a.id, "integrations_and_apis", "Application Revoked",
	                "application '%s' (%s) revoked", app.app_id, app.name) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc)
		rc = admin_print_json(app_json(&app, a.code, 0));
	secure_zero(&app, sizeof(app));
	return rc;
}

/* ---- user ---- */

/* Reads one line (the password) from stdin, without its line end, into dst. */
static int read_password_stdin(char *dst, size_t size)
{
	size_t n;

	if (!fgets(dst, (int)size, stdin))
		return admin_failf(EXIT_USAGE, "option '--password-stdin': no password on stdin");
	n = strlen(dst);
	if (n && dst[n - 1] == '\n')
		dst[--n] = '\0';
	else if (n == size - 1)
		return admin_failf(EXIT_USAGE,
		                   "option '--password-stdin': the password is longer than "
		                   "%d bytes",
		                   PASSWORD_MAX);
	if (n && dst[n - 1] == '\r')
		dst[--n] = '\0';
	return 0;
}

static int cmd_user_create(struct admin_ctx *cx)
{
	char pw[PASSWORD_MAX + 2];
	char perms_text[256];
	struct account a;
	struct user u;
	const char *password = NULL;
	int rc;

	memset(&u, 0, sizeof(u));
	pw[0] = '\0';
	if ((rc = admin_copy_email(cx->opt[OPT_EMAIL], OPT_EMAIL, u.email, sizeof(u.email))))
		return rc;
	if (cx->opt[OPT_NAME] &&
	    (rc = admin_copy_opt(cx->opt[OPT_NAME], OPT_NAME, u.name, sizeof(u.name))))
		return rc;
	if (cx->opt[OPT_PERMS] && perm_parse(cx->opt[OPT_PERMS], &u.perms, &cx->e) != 0)
		return admin_failf(EXIT_USAGE, "option '--perms': %s", cx->e.msg);
	if (cx->opt[OPT_TTL] && parse_ttl(cx->opt[OPT_TTL], 1, &u.binding_ttl_ms) != 0)
		return admin_failf(EXIT_USAGE,
		                   "option '--ttl': '%s' is not a duration like 3d, 72h, "
		                   "90m, 1500 (ms), never or default",
		                   cx->opt[OPT_TTL]);
	u.extend_on_validate = cx->opt[OPT_EXTEND] != NULL;
	if (cx->opt[OPT_PASSWORD] && cx->opt[OPT_PASSWORD_STDIN])
		return admin_failf(EXIT_USAGE,
		                   "options '--password' and '--password-stdin' exclude "
		                   "each other");
	if (cx->opt[OPT_PASSWORD_STDIN]) {
		if ((rc = read_password_stdin(pw, sizeof(pw))))
			goto wipe;
		password = pw;
	} else if (cx->opt[OPT_PASSWORD]) {
		password = cx->opt[OPT_PASSWORD];
	}
	/* hash before the transaction: it takes ~0.1 s and the write lock would wait */
	if (password && password_hash(password, strlen(password), u.password_hash, &cx->e) != 0) {
		rc = admin_failf(cx->e.code == MC_ERR_CRYPTO ? EXIT_RUNTIME : EXIT_USAGE, "%s",
		                 cx->e.msg);
		goto wipe;
	}
	perm_format(u.perms, perms_text, sizeof(perms_text));
	if ((rc = admin_begin(cx)))
		goto wipe;
	if ((rc = admin_find_account(cx, cx->opt[OPT_ACCOUNT], &a)))
		goto out;
	u.account_id = a.id;
	u.created = cx->now;
	rc = store_user_create(cx->st, &u, &cx->e);
	if (rc == MC_ERR_EXISTS) {
		rc = admin_failf(EXIT_RUNTIME, "user '%s' exists already", u.email);
		goto out;
	}
	if (rc ||
	    admin_audit(cx, ADMIN_USER, a.id, "user_account_and_role_logs", "User Created",
	                "user '%s' created with permissions '%s'", u.email, perms_text) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc)
		rc = admin_print_json(user_json(&u, a.code));
wipe:
	secure_zero(pw, sizeof(pw));
	secure_zero(&u, sizeof(u));
	return rc;
}

static int user_list_one(void *arg, const struct user *u)
{
	struct list_state *ls = arg;

	return append(ls, user_json(u, account_code_of(ls, u->account_id)));
}

static int user_list_all(struct admin_ctx *cx, int64_t account_id, struct list_state *ls)
{
	return store_user_list(cx->st, account_id, user_list_one, ls, &cx->e);
}

static int cmd_user_list(struct admin_ctx *cx)
{
	return print_account_list(cx, user_list_all);
}

/* `user passwd`: a new password (Argon2id, hashed before the transaction). It also clears
 * a lock-out and the failure counter: an administrator who sets a password vouches for
 * the next login. Keys the user holds stay valid. */
static int cmd_user_passwd(struct admin_ctx *cx)
{
	char pw[PASSWORD_MAX + 2], hash[PASSWORD_HASH_MAX], email[256];
	const char *password;
	struct account a;
	struct user u;
	int rc;

	memset(&u, 0, sizeof(u));
	pw[0] = hash[0] = '\0';
	if ((rc = admin_copy_email(cx->opt[OPT_EMAIL], OPT_EMAIL, email, sizeof(email))))
		return rc;
	if (!!cx->opt[OPT_PASSWORD] == !!cx->opt[OPT_PASSWORD_STDIN])
		return admin_failf(EXIT_USAGE, "give one of '--password' and '--password-stdin'");
	if (cx->opt[OPT_PASSWORD_STDIN]) {
		if ((rc = read_password_stdin(pw, sizeof(pw))))
			goto wipe;
		password = pw;
	} else {
		password = cx->opt[OPT_PASSWORD];
	}
	if (password_hash(password, strlen(password), hash, &cx->e) != 0) {
		rc = admin_failf(cx->e.code == MC_ERR_CRYPTO ? EXIT_RUNTIME : EXIT_USAGE, "%s",
		                 cx->e.msg);
		goto wipe;
	}
	if ((rc = admin_begin(cx)))
		goto wipe;
	if ((rc = find_user(cx, email, &u)))
		goto out;
	memcpy(u.password_hash, hash, sizeof(hash));
	u.failed_logins = 0;
	u.locked_until = 0;
	if (store_user_update(cx->st, &u, &cx->e) != 0 ||
	    store_account_get(cx->st, u.account_id, &a, &cx->e) != 0 ||
	    admin_audit(cx, ADMIN_USER, u.account_id, "user_account_and_role_logs",
	                "User Password Changed", "password of user '%s' set by an administrator",
	                u.email) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc)
		rc = admin_print_json(user_json(&u, a.code));
wipe:
	secure_zero(pw, sizeof(pw));
	secure_zero(hash, sizeof(hash));
	secure_zero(&u, sizeof(u));
	return rc;
}

/* `user profile`: the authentication profile (binding TTL, extendOnValidate) of one user.
 * It applies to keys made from now on; existing keys keep the TTL they were made with. */
static int cmd_user_profile(struct admin_ctx *cx)
{
	char email[256], before[32], after[32];
	int64_t ttl = 0;
	int extend = 0, rc;
	struct account a;
	struct user u;

	memset(&u, 0, sizeof(u));
	if ((rc = admin_copy_email(cx->opt[OPT_EMAIL], OPT_EMAIL, email, sizeof(email))))
		return rc;
	if (!cx->opt[OPT_TTL] && !cx->opt[OPT_EXTEND_BOOL])
		return admin_failf(EXIT_USAGE, "give '--ttl' or '--extend-on-validate' (or both)\n"
		                               "usage: mcapid admin user profile --email E [--ttl "
		                               "3d|72h|90m|MS|never|default] [--extend-on-validate "
		                               "true|false]");
	if (cx->opt[OPT_TTL] && parse_ttl(cx->opt[OPT_TTL], 1, &ttl) != 0)
		return admin_failf(EXIT_USAGE,
		                   "option '--ttl': '%s' is not a duration like 3d, 72h, "
		                   "90m, 1500 (ms), never or default",
		                   cx->opt[OPT_TTL]);
	if (cx->opt[OPT_EXTEND_BOOL] && parse_bool(cx->opt[OPT_EXTEND_BOOL], &extend) != 0)
		return admin_failf(EXIT_USAGE,
		                   "option '--extend-on-validate': '%s' is not true or false",
		                   cx->opt[OPT_EXTEND_BOOL]);
	if ((rc = admin_begin(cx)))
		return rc;
	if ((rc = find_user(cx, email, &u)))
		goto out;
	format_ttl(u.binding_ttl_ms, before, sizeof(before));
	if (cx->opt[OPT_TTL])
		u.binding_ttl_ms = ttl;
	if (cx->opt[OPT_EXTEND_BOOL])
		u.extend_on_validate = extend;
	format_ttl(u.binding_ttl_ms, after, sizeof(after));
	if (store_user_update(cx->st, &u, &cx->e) != 0 ||
	    store_account_get(cx->st, u.account_id, &a, &cx->e) != 0 ||
	    admin_audit(cx, ADMIN_USER, u.account_id, "user_account_and_role_logs",
	                "User Authentication Profile Changed",
	                "authentication profile of user '%s': binding TTL %s (was %s), "
	                "extendOnValidate %s",
	                u.email, after, before, u.extend_on_validate ? "true" : "false") != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc)
		rc = admin_print_json(user_json(&u, a.code));
	secure_zero(&u, sizeof(u));
	return rc;
}

/* ---- keys ---- */

static int first_binding(void *arg, const struct binding *b)
{
	*(struct binding *)arg = *b;
	return 1;
}

/* Inside a transaction: revokes the user's oldest keys until one more fits under the
 * limit, auditing each. 0 or an exit code. */
static int make_room(struct admin_ctx *cx, const struct user *u, const char *who)
{
	int max = cx->defs && cx->defs->max_bindings > 0 ? cx->defs->max_bindings
	                                                 : DEFAULT_MAX_BINDINGS;
	int64_t count = 0;

	if (store_binding_count(cx->st, u->id, &count, &cx->e) != 0)
		return admin_fail_store(cx);
	for (; count >= max; count--) {
		char hint[STORE_KEY_HINT_SIZE];
		struct binding old;
		memset(&old, 0, sizeof(old));
		if (store_binding_list(cx->st, u->id, first_binding, &old, &cx->e) != 1)
			return admin_fail_store(cx);
		if (store_binding_revoke(cx->st, old.id, cx->now, &cx->e) != 0 ||
		    admin_audit(cx, who, u->account_id, "integrations_and_apis", "API Key Revoked",
		                "key '%s' of user '%s' revoked: the limit of %d keys was reached",
		                store_key_hint(old.access_key, hint), u->email, max) != 0) {
			secure_zero(&old, sizeof(old));
			return admin_fail_store(cx);
		}
		secure_zero(&old, sizeof(old));
	}
	return 0;
}

/* Mints a binding of u for app with ttl (STORE_TTL_NEVER or > 0); secret_b64 gets the
 * base64 secret (B64_ENCODED_SIZE(SECRET_BYTES)). Store error code. */
static int mint_binding(struct admin_ctx *cx, const struct user *u, const struct application *app,
                        int64_t ttl, struct binding *b, char *secret_b64)
{
	memset(b, 0, sizeof(*b));
	b->user_id = u->id;
	b->app_row_id = app->id;
	random_token(RND_ACCESS_KEY, ACCESS_KEY_BYTES, b->access_key, sizeof(b->access_key));
	random_bytes(RND_SECRET_KEY, b->secret, SECRET_BYTES);
	b->secret_len = SECRET_BYTES;
	b64_encode(b->secret, SECRET_BYTES, secret_b64);
	b->created = cx->now;
	b->ttl_ms = ttl;
	b->expires = ttl == STORE_TTL_NEVER ? 0 : cx->now + ttl;
	b->extend_on_validate = u->extend_on_validate;
	return store_binding_create(cx->st, b, &cx->e);
}

static int cmd_keys_create(struct admin_ctx *cx)
{
	char secret_b64[B64_ENCODED_SIZE(SECRET_BYTES)], hint[STORE_KEY_HINT_SIZE];
	struct application app;
	struct binding b;
	struct user u;
	int64_t ttl = 0;
	json_t *j;
	int rc;

	memset(&b, 0, sizeof(b));
	memset(&app, 0, sizeof(app));
	secret_b64[0] = '\0';
	if (cx->opt[OPT_TTL] && parse_ttl(cx->opt[OPT_TTL], 0, &ttl) != 0)
		return admin_failf(EXIT_USAGE,
		                   "option '--ttl': '%s' is not a duration like 3d, 72h, "
		                   "90m, 1500 (ms) or never",
		                   cx->opt[OPT_TTL]);
	if ((rc = admin_begin(cx)))
		return rc;
	if ((rc = find_user(cx, cx->opt[OPT_EMAIL], &u)) ||
	    (rc = find_app(cx, cx->opt[OPT_APP_ID], &app)))
		goto out;
	if (app.revoked) {
		rc = admin_failf(EXIT_RUNTIME, "application '%s' is revoked", app.app_id);
		goto out;
	}
	if (app.account_id != u.account_id) {
		rc = admin_failf(EXIT_RUNTIME,
		                 "application '%s' belongs to another account than user '%s'",
		                 app.app_id, u.email);
		goto out;
	}
	if (u.disabled) {
		rc = admin_failf(EXIT_RUNTIME, "user '%s' is disabled", u.email);
		goto out;
	}
	if (!ttl)
		ttl = u.binding_ttl_ms;
	if (!ttl && cx->defs)
		ttl = cx->defs->default_ttl_ms; /* the server default: > 0 or STORE_TTL_NEVER */
	if (!ttl || (ttl < 0 && ttl != STORE_TTL_NEVER))
		ttl = DEFAULT_TTL_MS;
	if ((rc = make_room(cx, &u, ADMIN_USER)))
		goto out;
	if (mint_binding(cx, &u, &app, ttl, &b, secret_b64) != 0 ||
	    admin_audit(cx, ADMIN_USER, u.account_id, "integrations_and_apis", "API Key Created",
	                "key '%s' created for user '%s' and application '%s'",
	                store_key_hint(b.access_key, hint), u.email, app.app_id) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc) {
		j = key_json(&b, app.app_id, cx->now);
		if (j) {
			json_object_set_new(j, "secret_key", json_string(secret_b64));
			json_object_set_new(j, "email", json_string(u.email));
		}
		rc = admin_print_json(j);
	}
	secure_zero(secret_b64, sizeof(secret_b64));
	secure_zero(&b, sizeof(b));
	secure_zero(&app, sizeof(app));
	return rc;
}

struct keys_state {
	struct list_state ls;
	int64_t app_row_id;
	char app_id[64];
};

static int keys_list_one(void *arg, const struct binding *b)
{
	struct keys_state *ks = arg;
	struct application app;

	if (ks->app_row_id != b->app_row_id) {
		if (store_app_get_by_id(ks->ls.cx->st, b->app_row_id, &app, NULL) == 0)
			memcpy(ks->app_id, app.app_id, sizeof(ks->app_id));
		else
			ks->app_id[0] = '\0';
		secure_zero(&app, sizeof(app));
		ks->app_row_id = b->app_row_id;
	}
	return append(&ks->ls, key_json(b, ks->app_id, ks->ls.cx->now));
}

static int cmd_keys_list(struct admin_ctx *cx)
{
	struct keys_state ks;
	struct user u;
	int rc;

	memset(&ks, 0, sizeof(ks));
	ks.ls.cx = cx;
	if ((rc = find_user(cx, cx->opt[OPT_EMAIL], &u)))
		return rc;
	ks.ls.arr = json_array();
	if (!ks.ls.arr)
		return admin_failf(EXIT_RUNTIME, "out of memory");
	if (store_binding_list(cx->st, u.id, keys_list_one, &ks, &cx->e) != 0) {
		json_decref(ks.ls.arr);
		return admin_fail_store(cx);
	}
	return admin_print_json(ks.ls.arr);
}

static int cmd_keys_revoke(struct admin_ctx *cx)
{
	const char *key = cx->opt[OPT_ACCESS_KEY];
	char hint[STORE_KEY_HINT_SIZE];
	struct binding b;
	struct user u;
	int rc;

	memset(&b, 0, sizeof(b));
	if ((rc = admin_begin(cx)))
		return rc;
	rc = store_binding_get(cx->st, key, &b, &cx->e);
	if (rc == MC_ERR_NOT_FOUND) {
		rc = admin_failf(EXIT_RUNTIME, "no key '%s'", key);
		goto out;
	}
	if (rc || store_user_get(cx->st, b.user_id, &u, &cx->e) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	if (b.revoked) /* nothing changes, nothing to audit */
		goto out;
	b.revoked = cx->now;
	if (store_binding_revoke(cx->st, b.id, cx->now, &cx->e) != 0 ||
	    admin_audit(cx, ADMIN_USER, u.account_id, "integrations_and_apis", "API Key Revoked",
	                "key '%s' of user '%s' revoked", store_key_hint(b.access_key, hint),
	                u.email) != 0) {
		rc = admin_fail_store(cx);
		goto out;
	}
	rc = admin_commit(cx);
out:
	store_tx_rollback(cx->st);
	if (!rc)
		rc = admin_print_json(json_pack("{s:s, s:s, s:o?}", "access_key", b.access_key,
		                                "email", u.email, "revoked",
		                                admin_time_json(b.revoked)));
	secure_zero(&b, sizeof(b));
	return rc;
}

/* ---- command table and parsing ---- */

static const struct admin_cmd commands[] = {
        {"account", "create", cmd_account_create, ACCOUNT_FIELD_OPTS | O(OPT_REGION), O(OPT_NAME),
         "account create --name N [--region R] " ACCOUNT_FIELDS_USAGE},
        {"account", "update", cmd_account_update, ACCOUNT_FIELD_OPTS | O(OPT_CODE), O(OPT_CODE),
         "account update --code CODE " ACCOUNT_FIELDS_USAGE},
        {"account", "list", cmd_account_list, 0, 0, "account list"},
        {"app", "create", cmd_app_create, O(OPT_ACCOUNT) | O(OPT_NAME), O(OPT_ACCOUNT),
         "app create --account CODE [--name N]"},
        {"app", "list", cmd_app_list, O(OPT_ACCOUNT), 0, "app list [--account CODE]"},
        {"app", "revoke", cmd_app_revoke, O(OPT_APP_ID), O(OPT_APP_ID), "app revoke --app-id ID"},
        {"user", "create", cmd_user_create,
         O(OPT_ACCOUNT) | O(OPT_EMAIL) | O(OPT_NAME) | O(OPT_PASSWORD) | O(OPT_PASSWORD_STDIN) |
                 O(OPT_PERMS) | O(OPT_TTL) | O(OPT_EXTEND),
         O(OPT_ACCOUNT) | O(OPT_EMAIL),
         "user create --account CODE --email E [--name N] [--password P | --password-stdin] "
         "[--perms LIST|admin] [--ttl 3d|72h|90m|MS|never|default] [--extend-on-validate]"},
        {"user", "list", cmd_user_list, O(OPT_ACCOUNT), 0, "user list [--account CODE]"},
        {"user", "passwd", cmd_user_passwd, O(OPT_EMAIL) | O(OPT_PASSWORD) | O(OPT_PASSWORD_STDIN),
         O(OPT_EMAIL), "user passwd --email E (--password P | --password-stdin)"},
        {"user", "profile", cmd_user_profile, O(OPT_EMAIL) | O(OPT_TTL) | O(OPT_EXTEND_BOOL),
         O(OPT_EMAIL),
         "user profile --email E [--ttl 3d|72h|90m|MS|never|default] "
         "[--extend-on-validate true|false]"},
        {"keys", "create", cmd_keys_create, O(OPT_EMAIL) | O(OPT_APP_ID) | O(OPT_TTL),
         O(OPT_EMAIL) | O(OPT_APP_ID), "keys create --email E --app-id ID [--ttl 3d|72h|MS|never]"},
        {"keys", "list", cmd_keys_list, O(OPT_EMAIL), O(OPT_EMAIL), "keys list --email E"},
        {"domain", "route", admin_cmd_domain_route, O(OPT_ACCOUNT) | O(OPT_DOMAIN) | O(OPT_ROUTE),
         O(OPT_ACCOUNT) | O(OPT_DOMAIN) | O(OPT_ROUTE),
         "domain route --account CODE --domain D --route smtp://HOST:PORT|maildir:PATH|''"},
        {"account", "outbound-ip add", admin_cmd_relay_add, O(OPT_ACCOUNT) | O(OPT_IP),
         O(OPT_ACCOUNT) | O(OPT_IP), "account outbound-ip add --account CODE --ip ADDRESS[/BITS]"},
        {"account", "outbound-ip remove", admin_cmd_relay_remove, O(OPT_ACCOUNT) | O(OPT_IP),
         O(OPT_ACCOUNT) | O(OPT_IP),
         "account outbound-ip remove --account CODE --ip ADDRESS[/BITS]"},
        {"account", "outbound-ip list", admin_cmd_relay_list, O(OPT_ACCOUNT), O(OPT_ACCOUNT),
         "account outbound-ip list --account CODE"},
        {"mail", "inject", admin_cmd_mail_inject, O(OPT_FILE) | O(OPT_FROM) | O(OPT_TO) | O(OPT_IP),
         O(OPT_TO), "mail inject FILE.eml --from A --to B[,C...] [--ip ADDRESS]"},
        {"mail", "generate", admin_cmd_mail_generate,
         O(OPT_ACCOUNT) | O(OPT_COUNT_N) | O(OPT_SEED) | O(OPT_THREADS),
         O(OPT_ACCOUNT) | O(OPT_COUNT_N),
         "mail generate --account CODE --count N [--seed S] [--threads T]"},
        {"keys", "revoke", cmd_keys_revoke, O(OPT_ACCESS_KEY), O(OPT_ACCESS_KEY),
         "keys revoke --access-key K"},
};

static int usage_fail(const char *fmt, const char *arg)
{
	fputs("mcapid: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* Fills cx->opt from argv[0..argc) for cmd: 0 or EXIT_USAGE with the reason printed. */
static int parse_opts(struct admin_ctx *cx, const struct admin_cmd *cmd, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *eq, *value;
		size_t n;
		int o;

		if (strncmp(arg, "--", 2) != 0 && (cmd->allowed & O(OPT_FILE)) &&
		    !cx->opt[OPT_FILE]) {
			cx->opt[OPT_FILE] = arg; /* mail inject FILE.eml */
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || !arg[2])
			return admin_failf(EXIT_USAGE,
			                   "unexpected argument '%s'\nusage: mcapid admin %s", arg,
			                   cmd->usage);
		eq = strchr(arg + 2, '=');
		n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		/* one name may stand for different options in different commands (a bare
		 * flag in one, a valued option in another): take the one cmd allows */
		for (o = 0; o < OPT_COUNT; o++)
			if (strlen(admin_opt_defs[o].name) == n &&
			    memcmp(admin_opt_defs[o].name, arg + 2, n) == 0 &&
			    (o == OPT_HELP || (cmd->allowed & O(o))))
				break;
		if (o == OPT_COUNT || (o != OPT_HELP && !(cmd->allowed & O(o))))
			return admin_failf(EXIT_USAGE,
			                   "unknown option '%.*s' for '%s %s'\nusage: mcapid "
			                   "admin %s",
			                   (int)n + 2, arg, cmd->group, cmd->verb, cmd->usage);
		if (cx->opt[o])
			return admin_failf(EXIT_USAGE, "option '--%s' given twice",
			                   admin_opt_defs[o].name);
		if (!admin_opt_defs[o].has_value) {
			if (eq)
				return admin_failf(EXIT_USAGE, "option '--%s' takes no value",
				                   admin_opt_defs[o].name);
			value = "";
		} else if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			return admin_failf(EXIT_USAGE, "option '--%s' needs a value",
			                   admin_opt_defs[o].name);
		}
		if (admin_opt_defs[o].has_value) {
			json_t *probe = json_string(value); /* jansson checks UTF-8 */
			if (!probe)
				return admin_failf(EXIT_USAGE, "option '--%s' is not valid UTF-8",
				                   admin_opt_defs[o].name);
			json_decref(probe);
		}
		cx->opt[o] = value;
	}
	if (cx->opt[OPT_HELP])
		return 0;
	for (int o = 0; o < OPT_COUNT; o++)
		if ((cmd->required & O(o)) && !cx->opt[o])
			return admin_failf(EXIT_USAGE,
			                   "missing required option '--%s'\nusage: mcapid admin %s",
			                   admin_opt_defs[o].name, cmd->usage);
	return 0;
}

/* A verb of one word ("create") or two ("outbound-ip add") against argv; *words gets how
 * many it took. */
static int verb_matches(const char *verb, int argc, char **argv, int *words)
{
	const char *sp = strchr(verb, ' ');

	if (!sp) {
		*words = 1;
		return strcmp(argv[0], verb) == 0;
	}
	*words = 2;
	return argc >= 2 && strlen(argv[0]) == (size_t)(sp - verb) &&
	       strncmp(argv[0], verb, (size_t)(sp - verb)) == 0 && strcmp(argv[1], sp + 1) == 0;
}

int admin_main(struct store *st, const struct admin_defaults *defs, int argc, char **argv)
{
	struct admin_ctx cx;
	int group_known = 0, rc, words = 1;

	if (argc < 1)
		return usage_fail("%s", "no command given");
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "-h") == 0) {
		fputs(usage_text, stdout);
		fflush(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct admin_cmd *cmd = &commands[i];
		if (strcmp(argv[0], cmd->group) != 0)
			continue;
		group_known = 1;
		if (argc < 2 || !verb_matches(cmd->verb, argc - 1, argv + 1, &words))
			continue;
		memset(&cx, 0, sizeof(cx));
		cx.st = st;
		cx.defs = defs;
		cx.now = now_ms();
		if ((rc = parse_opts(&cx, cmd, argc - 1 - words, argv + 1 + words)))
			return rc;
		if (cx.opt[OPT_HELP]) {
			printf("usage: mcapid admin %s\n", cmd->usage);
			fflush(stdout);
			return EXIT_OK;
		}
		if (!st)
			return ADMIN_NEEDS_STORE;
		return cmd->run(&cx);
	}
	if (!group_known)
		return usage_fail("unknown command '%s'", argv[0]);
	if (argc < 2)
		return usage_fail("'%s' needs a subcommand", argv[0]);
	fputs("mcapid: ", stderr);
	fprintf(stderr, "unknown command '%s %s'\n", argv[0], argv[1]);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* ---- development bootstrap ---- */

static int stop_at_first(void *arg, const struct account *a)
{
	(void)a;
	*(int *)arg = 1;
	return 1;
}

static int store_is_empty(struct store *st, int *empty, struct err *e)
{
	int found = 0;
	int rc = store_account_list(st, stop_at_first, &found, e);

	if (rc < 0)
		return rc;
	*empty = !found;
	return 0;
}

/* Writes text to a new private temporary file beside path; *tmp_out gets its name. */
static int write_temp(const char *path, const char *text, char **tmp_out, struct err *e)
{
	size_t n = strlen(path) + 16;
	char *tmp = malloc(n);
	int fd;

	*tmp_out = NULL;
	if (!tmp)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	snprintf(tmp, n, "%s.tmp-XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		free(tmp);
		return err_set(e, MC_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
	}
	if (fchmod(fd, 0600) != 0 || file_write_all(fd, text, strlen(text)) != 0 ||
	    fsync(fd) != 0) {
		int saved = errno;
		close(fd);
		unlink(tmp);
		free(tmp);
		return err_set(e, MC_ERR_IO, "cannot write '%s': %s", path, strerror(saved));
	}
	close(fd);
	*tmp_out = tmp;
	return 0;
}

/* What mint_account makes: an account (name), an application, an administrator (email,
 * all permissions, the given password's hash) and a never-expiring binding; with domain
 * (already normalised) also that domain, internal (verified) at once. Runs inside the
 * caller's transaction; *out gets the credentials as JSON (the keys of dev-credentials.json
 * plus "domain" when one was made). Store error code, message in e. */
struct mint_spec {
	const char *name, *email, *password, *password_hash, *domain, *base_url;
};

static int mint_account(struct admin_ctx *cx, const struct mint_spec *ms, json_t **out,
                        struct err *e)
{
	char secret_b64[B64_ENCODED_SIZE(SECRET_BYTES)], hint[STORE_KEY_HINT_SIZE];
	struct account a;
	struct application app;
	struct user u;
	struct binding b;
	struct domain d;
	int rc;

	*out = NULL;
	memset(&a, 0, sizeof(a));
	memset(&app, 0, sizeof(app));
	memset(&u, 0, sizeof(u));
	memset(&b, 0, sizeof(b));
	memset(&d, 0, sizeof(d));
	secret_b64[0] = '\0';
	store_account_init(&a);
	snprintf(a.name, sizeof(a.name), "%s", ms->name);
	snprintf(a.region, sizeof(a.region), "%s",
	         cx->defs && cx->defs->region ? cx->defs->region : DEFAULT_REGION);
	snprintf(a.admin_email, sizeof(a.admin_email), "%s", ms->email);
	if ((rc = store_account_create(cx->st, &a, e)))
		goto out;
	app.account_id = a.id;
	snprintf(app.name, sizeof(app.name), "%s", ms->name);
	if ((rc = store_app_create(cx->st, &app, e)))
		goto out;
	u.account_id = a.id;
	snprintf(u.email, sizeof(u.email), "%s", ms->email);
	snprintf(u.name, sizeof(u.name), "%s Administrator", ms->name);
	snprintf(u.password_hash, sizeof(u.password_hash), "%s", ms->password_hash);
	u.perms = PERM_ALL;
	u.created = cx->now;
	if ((rc = store_user_create(cx->st, &u, e)))
		goto out;
	if ((rc = mint_binding(cx, &u, &app, STORE_TTL_NEVER, &b, secret_b64))) {
		err_set(e, rc, "%s", cx->e.msg);
		goto out;
	}
	if (ms->domain) {
		d.account_id = a.id;
		snprintf(d.name, sizeof(d.name), "%s", ms->domain);
		d.state = DOMAIN_INTERNAL;
		snprintf(d.inbound_type, sizeof(d.inbound_type), "any");
		d.created = cx->now;
		d.verified = cx->now;
		snprintf(d.last_result, sizeof(d.last_result), "verified");
		if ((rc = store_domain_create(cx->st, &d, e)))
			goto out;
	}
	if ((rc = admin_audit(cx, BOOTSTRAP_USER, a.id, "account_logs", "Account Created",
	                      "account '%s' (%s) created", a.code, a.name)) ||
	    (rc = admin_audit(cx, BOOTSTRAP_USER, a.id, "integrations_and_apis",
	                      "Application Created", "application '%s' (%s) created", app.app_id,
	                      app.name)) ||
	    (rc = admin_audit(cx, BOOTSTRAP_USER, a.id, "user_account_and_role_logs",
	                      "User Created", "user '%s' created with permissions 'admin'",
	                      u.email)) ||
	    (rc = admin_audit(cx, BOOTSTRAP_USER, a.id, "integrations_and_apis", "API Key Created",
	                      "key '%s' created for user '%s' and application '%s'",
	                      store_key_hint(b.access_key, hint), u.email, app.app_id))) {
		err_set(e, rc, "%s", cx->e.msg);
		goto out;
	}
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "base_url",
	                 ms->base_url ? ms->base_url : "", "account_code", a.code, "app_id",
	                 app.app_id, "app_key", app.app_key, "access_key", b.access_key,
	                 "secret_key", secret_b64, "email", u.email, "password", ms->password);
	if (*out && ms->domain)
		json_object_set_new(*out, "domain", json_string(d.name));
	if (!*out)
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
out:
	secure_zero(secret_b64, sizeof(secret_b64));
	secure_zero(&app, sizeof(app));
	secure_zero(&b, sizeof(b));
	secure_zero(&u, sizeof(u));
	return rc;
}

/* The JSON text of the credentials (caller wipes and frees). */
static char *credentials_text(json_t *j, struct err *e)
{
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

	if (!text)
		err_set(e, MC_ERR_NOMEM, "out of memory");
	return text;
}

int admin_bootstrap_dev(struct store *st, const struct admin_defaults *defs, const char *base_url,
                        const char *cred_path, int *created, char **out_json, struct err *e)
{
	char password[B64_ENCODED_SIZE(18)], hash[sizeof(((struct user *)0)->password_hash)];
	struct admin_ctx cx;
	json_t *j = NULL;
	char *text = NULL, *tmp = NULL;
	int empty = 0, in_tx = 0, rc;

	*created = 0;
	*out_json = NULL;
	memset(&cx, 0, sizeof(cx));
	cx.st = st;
	cx.defs = defs;
	cx.now = now_ms();
	/* a cheap look first, so a normal start does not pay for the password hash */
	rc = store_is_empty(st, &empty, e);
	if (rc || !empty)
		return rc;
	random_token(RND_PASSWORD, 18, password, sizeof(password));
	rc = password_hash(password, strlen(password), hash, e);
	if (rc)
		goto out;
	rc = store_tx_begin(st, e);
	if (rc)
		goto out;
	in_tx = 1;
	rc = store_is_empty(st, &empty, e); /* again, under the write lock */
	if (rc || !empty)
		goto out;
	struct mint_spec ms = {"Development", DEV_EMAIL, password, hash, NULL, base_url};
	if ((rc = mint_account(&cx, &ms, &j, e)))
		goto out;
	if (!(text = credentials_text(j, e))) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (cred_path) {
		rc = write_temp(cred_path, text, &tmp, e);
		if (rc)
			goto out;
	}
	rc = store_tx_commit(st, e);
	in_tx = 0;
	if (rc)
		goto out;
	if (tmp) {
		if (rename(tmp, cred_path) != 0) {
			rc = err_set(e, MC_ERR_IO,
			             "cannot write '%s': %s (the credentials are in '%s')",
			             cred_path, strerror(errno), tmp);
			free(tmp);
			tmp = NULL;
			goto out;
		}
		free(tmp);
		tmp = NULL;
		file_sync_dir_of(cred_path);
	}
	*created = 1;
	*out_json = text;
	text = NULL;
out:
	if (in_tx)
		store_tx_rollback(st);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	if (text) {
		secure_zero(text, strlen(text));
		free(text);
	}
	json_decref(j);
	secure_zero(password, sizeof(password));
	secure_zero(hash, sizeof(hash));
	return rc;
}

int admin_mint_account(struct store *st, const struct admin_defaults *defs, const char *name,
                       const char *domain, const char *base_url, char **out_json, struct err *e)
{
	char password[B64_ENCODED_SIZE(18)], hash[sizeof(((struct user *)0)->password_hash)];
	char email[160], tag[16];
	struct admin_ctx cx;
	json_t *j = NULL;
	int rc;

	*out_json = NULL;
	memset(&cx, 0, sizeof(cx));
	cx.st = st;
	cx.defs = defs;
	cx.now = now_ms();
	random_token(RND_NAME, 6, tag, sizeof(tag));
	admin_lower_ascii(tag);
	/* the administrator's address: at the account's domain, or a unique one of its own */
	if (domain)
		snprintf(email, sizeof(email), "admin@%s", domain);
	else
		snprintf(email, sizeof(email), "admin-%s@dev.mcapi.local", tag);
	random_token(RND_PASSWORD, 18, password, sizeof(password));
	if ((rc = password_hash(password, strlen(password), hash, e)))
		goto out;
	if ((rc = store_tx_begin(st, e)))
		goto out;
	struct mint_spec ms = {name, email, password, hash, domain, base_url};
	if ((rc = mint_account(&cx, &ms, &j, e)) == 0)
		rc = store_tx_commit(st, e);
	else
		store_tx_rollback(st);
	if (rc == 0 && !(*out_json = credentials_text(j, e)))
		rc = MC_ERR_NOMEM;
out:
	json_decref(j);
	secure_zero(password, sizeof(password));
	secure_zero(hash, sizeof(hash));
	return rc;
}

/* Sets key to value in j; *changed = 1 when it was not already so. 0 or -1. */
static int set_field(json_t *j, const char *key, const char *value, int *changed)
{
	json_t *old = json_object_get(j, key);

	if (json_is_string(old) && strcmp(json_string_value(old), value) == 0)
		return 0;
	*changed = 1;
	return json_object_set_new(j, key, json_string(value));
}

int admin_dev_set_base_url(const char *cred_path, const char *base_url, const char *control_token,
                           char **out_json, struct err *e)
{
	json_error_t jerr;
	json_t *j = NULL;
	char *text = NULL;
	int changed = 0, rc = 0;

	if (out_json)
		*out_json = NULL;
	if (access(cred_path, F_OK) != 0 && errno == ENOENT)
		return err_set(e, MC_ERR_NOT_FOUND, "'%s' does not exist", cred_path);
	j = json_load_file(cred_path, 0, &jerr);
	if (!j)
		return err_set(e, MC_ERR_INVALID, "cannot read '%s': %s", cred_path, jerr.text);
	if (!json_is_object(j)) {
		rc = err_set(e, MC_ERR_INVALID, "'%s' does not hold a JSON object", cred_path);
		goto out;
	}
	if (set_field(j, "base_url", base_url, &changed) != 0 ||
	    (control_token && set_field(j, "control_token", control_token, &changed) != 0)) {
		rc = err_set(e, MC_ERR_INVALID, "base URL '%s' cannot be written to '%s'", base_url,
		             cred_path);
		goto out;
	}
	text = json_dumps(j, JSON_INDENT(2));
	if (!text) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* rename over the old file: the other fields are its secrets, shown only once */
	if (changed && (rc = file_write_atomic(cred_path, text, strlen(text), 0600, 1, e)) != 0)
		goto out;
	if (out_json) {
		*out_json = text;
		text = NULL;
	}
out:
	if (text) {
		secure_zero(text, strlen(text));
		free(text);
	}
	json_decref(j);
	return rc;
}
