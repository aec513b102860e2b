/* Profiles and the keys in effect: "profile set" writes key=value pairs (a value of "-" is
 * read from stdin so that secrets stay off the command line), "profile show" prints a profile
 * with its secrets masked — with --effective, every setting as resolved (flag > environment >
 * profile > default) and where it came from — "profile list" and "profile delete". Also
 * "configure" (asked on the terminal, or --from-dev FILE), "auth status" (the keys in effect,
 * checked with a call) and "logout" (the binding ended on the server and the keys forgotten). */
#include "cli.h"
#include "common/crypto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/banned.h"

static const char profile_usage[] =
        "usage: mcapi [--profile NAME] profile set [NAME] KEY=VALUE...\n"
        "       mcapi [--profile NAME] profile show [NAME] [--effective]\n"
        "       mcapi profile list\n"
        "       mcapi profile delete NAME\n"
        "\n"
        "keys: base_url, app_id, app_key, access_key, secret_key, timeout_ms, max_retries,\n"
        "user_agent, ca_file, connect_timeout_ms, total_timeout_ms. A VALUE of '-' is read from "
        "stdin (one line); an empty VALUE removes the "
        "key.\n"
        "The profile is NAME, else --profile, else $MCAPI_PROFILE, else 'default'.\n"
        "--effective shows each setting as a call would use it and its source: a flag\n"
        "(--base-url, --app-id, --timeout-ms, --max-retries), the environment, the profile or\n"
        "the default. Secrets are masked.\n";

static const struct {
	const char *key, *env;
	int secret; /* 2: never shown, 1: shown shortened */
} profile_keys[] = {
        {"base_url", "MCAPI_BASE_URL", 0},
        {"app_id", "MCAPI_APP_ID", 0},
        {"app_key", "MCAPI_APP_KEY", 2},
        {"access_key", "MCAPI_ACCESS_KEY", 1},
        {"secret_key", "MCAPI_SECRET_KEY", 2},
        {"timeout_ms", "MCAPI_TIMEOUT_MS", 0},
        {"max_retries", "MCAPI_MAX_RETRIES", 0},
        {"user_agent", "MCAPI_USER_AGENT", 0},
        {"ca_file", "MCAPI_CA_FILE", 0},
        {"connect_timeout_ms", "MCAPI_CONNECT_TIMEOUT_MS", 0},
        {"total_timeout_ms", "MCAPI_TOTAL_TIMEOUT_MS", 0},
};
#define PROFILE_NKEYS (sizeof(profile_keys) / sizeof(profile_keys[0]))

static int profile_key_index(const char *k, size_t n)
{
	for (size_t i = 0; i < PROFILE_NKEYS; i++)
		if (strlen(profile_keys[i].key) == n && memcmp(profile_keys[i].key, k, n) == 0)
			return (int)i;
	return -1;
}

static int profile_load(struct cli *cli, char **path, struct mcapi_config **cfg)
{
	char *msg = NULL;

	*path = cli_config_path(cli);
	if (!*path)
		return cli_error("no profile file: set MCAPI_CONFIG or HOME");
	if (mcapi_config_load(*path, cfg, &msg) != 0) {
		cli_error("%s", msg ? msg : "cannot read the profiles");
		free(msg);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The value as it may be shown: secrets masked, access keys shortened. malloc'd. */
static char *masked(const char *v, int secret)
{
	size_t n = strlen(v), sz = 64;
	char *out = malloc(sz);

	if (!out)
		return NULL;
	if (secret == 2)
		snprintf(out, sz, "******** (%zu characters)", n);
	else if (secret == 1 && n > 8)
		snprintf(out, sz, "%.6s... (%zu characters)", v, n);
	else if (secret == 1)
		snprintf(out, sz, "********");
	else {
		free(out);
		out = strdup(v);
	}
	return out;
}

/* Appends {key, value (masked), source[, overriddenBy]} to rows; 0 or -1. */
static int add_row(json_t *rows, const char *key, const char *v, int secret, const char *source,
                   const char *overridden)
{
	char *m = v ? masked(v, secret) : NULL;
	json_t *row = json_pack("{s:s,s:s?,s:s}", "key", key, "value", m, "source", source);

	free(m);
	if (!row ||
	    (overridden &&
	     json_object_set_new(row, "overriddenBy", json_string(overridden)) != 0) ||
	    json_array_append_new(rows, row) != 0)
		return -1;
	return 0;
}

static int profile_set(struct cli *cli, int argc, char **argv)
{
	struct mcapi_config *cfg = NULL;
	const char *name = cli_profile_name(cli);
	char *path = NULL, *msg = NULL, *line = NULL;
	json_t *done = NULL;
	int rc, first = 2, stdin_used = 0;

	if (argc > 2 && !strchr(argv[2], '='))
		name = argv[first++];
	if (first >= argc)
		return cli_usage_error(profile_usage, "'profile set' needs KEY=VALUE");
	for (int i = first; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!eq)
			return cli_usage_error(profile_usage, "'%s' is not KEY=VALUE", argv[i]);
		if (profile_key_index(argv[i], (size_t)(eq - argv[i])) < 0)
			return cli_usage_error(profile_usage, "unknown key '%.*s'",
			                       (int)(eq - argv[i]), argv[i]);
		if (strcmp(eq + 1, "-") == 0 && stdin_used++)
			return cli_usage_error(profile_usage,
			                       "only one value can be read from stdin");
	}
	if ((rc = profile_load(cli, &path, &cfg)) != CLI_OK)
		goto out;
	for (int i = first; i < argc; i++) {
		const char *eq = strchr(argv[i], '='), *v = eq + 1;
		char key[32];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (strcmp(v, "-") == 0) {
			size_t n;
			line = cli_read_stdin(64 * 1024);
			if (!line) {
				rc = cli_error("cannot read the value of '%s' from stdin", key);
				goto out;
			}
			n = strcspn(line, "\r\n");
			line[n] = '\0';
			v = line;
		}
		if (mcapi_config_set(cfg, name, key, *v ? v : NULL) != 0) {
			rc = cli_usage_error(NULL,
			                     "cannot set '%s' in profile '%s' (bad name or value)",
			                     key, name);
			goto out;
		}
	}
	if (mcapi_config_save(cfg, path, &msg) != 0) {
		rc = cli_error("%s", msg ? msg : "cannot write the profiles");
		goto out;
	}
	done = json_pack("{s:s,s:s,s:i}", "profile", name, "path", path, "keysSet", argc - first);
	rc = done ? cli_emit(cli, done) : cli_error("out of memory");
out:
	json_decref(done);
	if (line) {
		secure_zero(line, strlen(line));
		free(line);
	}
	mcapi_config_free(cfg);
	free(path);
	free(msg);
	return rc;
}

/* The flag that sets key, if any was given. */
static const char *flag_for(const struct cli *cli, const char *key, const char **flag)
{
	static const struct {
		const char *key, *flag;
		size_t off;
	} flags[] = {
	        {"base_url", "--base-url", offsetof(struct cli, base_url)},
	        {"app_id", "--app-id", offsetof(struct cli, app_id)},
	        {"timeout_ms", "--timeout-ms", offsetof(struct cli, timeout_ms)},
	        {"max_retries", "--max-retries", offsetof(struct cli, max_retries)},
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (strcmp(flags[i].key, key) == 0) {
			*flag = flags[i].flag;
			return *(const char *const *)((const char *)cli + flags[i].off);
		}
	}
	return NULL;
}

/* Every setting as a call resolves it, with its source: flag > environment > profile >
 * default (the precedence of cli_options and mcapi_config_resolve). */
static int show_effective(struct cli *cli, const struct mcapi_config *cfg, const char *name,
                          const char *path, json_t *rows)
{
	const char *psrc = cli->profile && *cli->profile                         ? "--profile"
	                   : getenv("MCAPI_PROFILE") && *getenv("MCAPI_PROFILE") ? "MCAPI_PROFILE"
	                                                                         : "default";
	struct mcapi_options def;
	char defaults[2][24]; /* the library's defaults, so that they are never restated here */

	mcapi_options_init(&def);
	snprintf(defaults[0], sizeof(defaults[0]), "%ld", def.timeout_ms);
	snprintf(defaults[1], sizeof(defaults[1]), "%d", def.max_retries);
	if (add_row(rows, "profile", name, 0, psrc, NULL) ||
	    add_row(rows, "config", path, 0,
	            cli->config_path                                    ? "--config"
	            : getenv("MCAPI_CONFIG") && *getenv("MCAPI_CONFIG") ? "MCAPI_CONFIG"
	                                                                : "default",
	            NULL))
		return cli_error("out of memory");
	for (size_t i = 0; i < PROFILE_NKEYS; i++) {
		const char *key = profile_keys[i].key, *flag = NULL, *src, *v;
		const char *fv = flag_for(cli, key, &flag), *env = getenv(profile_keys[i].env);
		const char *pv = mcapi_config_get(cfg, name, key);
		if (fv) {
			v = fv;
			src = flag;
		} else if (env && *env) {
			v = env;
			src = profile_keys[i].env;
		} else if (pv) {
			v = pv;
			src = "profile";
		} else if (!strcmp(key, "timeout_ms") || !strcmp(key, "max_retries")) {
			v = defaults[!strcmp(key, "max_retries")];
			src = "default";
		} else {
			v = NULL;
			src = "unset";
		}
		if (add_row(rows, key, v, profile_keys[i].secret, src, NULL))
			return cli_error("out of memory");
	}
	return CLI_OK;
}

static int profile_show(struct cli *cli, int argc, char **argv)
{
	struct mcapi_config *cfg = NULL;
	const char *name = NULL;
	char *path = NULL;
	json_t *rows = NULL;
	int rc, effective = 0;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--effective") == 0)
			effective = 1;
		else if (argv[i][0] == '-' || name)
			return cli_usage_error(profile_usage, "unexpected argument '%s'", argv[i]);
		else
			name = argv[i];
	}
	if (!name)
		name = cli_profile_name(cli);
	if ((rc = profile_load(cli, &path, &cfg)) != CLI_OK)
		goto out;
	if (!(rows = json_array())) {
		rc = cli_error("out of memory");
		goto out;
	}
	if (effective) {
		/* a named profile must exist; "default" may be absent (environment only) */
		if (!mcapi_config_has(cfg, name) &&
		    (strcmp(name, "default") != 0 || (cli->profile && *cli->profile))) {
			rc = cli_error("profile '%s' does not exist in '%s' (see 'mcapi profile "
			               "list')",
			               name, path);
			goto out;
		}
		if ((rc = show_effective(cli, cfg, name, path, rows)) != CLI_OK)
			goto out;
		rc = cli_emit(cli, rows);
		goto out;
	}
	if (!mcapi_config_has(cfg, name)) {
		rc = cli_error("profile '%s' does not exist in '%s' (see 'mcapi profile list')",
		               name, path);
		goto out;
	}
	for (size_t i = 0; i < PROFILE_NKEYS; i++) {
		const char *v = mcapi_config_get(cfg, name, profile_keys[i].key);
		const char *env = getenv(profile_keys[i].env);
		if (!v)
			continue;
		if (add_row(rows, profile_keys[i].key, v, profile_keys[i].secret, "profile",
		            env && *env ? profile_keys[i].env : NULL)) {
			rc = cli_error("out of memory");
			goto out;
		}
	}
	rc = cli_emit(cli, rows);
out:
	json_decref(rows);
	mcapi_config_free(cfg);
	free(path);
	return rc;
}

static int profile_list(struct cli *cli, int argc)
{
	struct mcapi_config *cfg = NULL;
	const char *active = cli_profile_name(cli);
	char *path = NULL;
	json_t *rows = NULL, *row;
	int rc;

	if (argc > 2)
		return cli_usage_error(profile_usage, "too many arguments");
	if ((rc = profile_load(cli, &path, &cfg)) != CLI_OK)
		goto out;
	if (!(rows = json_array())) {
		rc = cli_error("out of memory");
		goto out;
	}
	for (size_t i = 0; i < mcapi_config_count(cfg); i++) {
		const char *n = mcapi_config_name(cfg, i);
		const char *base = mcapi_config_get(cfg, n, "base_url");
		row = json_pack("{s:s,s:b,s:s?}", "name", n, "active", strcmp(n, active) == 0,
		                "base_url", base);
		if (!row || json_array_append_new(rows, row)) {
			rc = cli_error("out of memory");
			goto out;
		}
	}
	rc = cli_emit(cli, rows);
out:
	json_decref(rows);
	mcapi_config_free(cfg);
	free(path);
	return rc;
}

static int save_or_fail(struct mcapi_config *cfg, const char *path)
{
	char *msg = NULL;
	int rc = CLI_OK;

	if (mcapi_config_save(cfg, path, &msg) != 0)
		rc = cli_error("%s", msg ? msg : "cannot write the profiles");
	free(msg);
	return rc;
}

static int profile_delete(struct cli *cli, int argc, char **argv)
{
	struct mcapi_config *cfg = NULL;
	char *path = NULL;
	json_t *v = NULL;
	int rc;

	if (argc != 3 || argv[2][0] == '-')
		return cli_usage_error(profile_usage, "'profile delete' needs one NAME");
	if ((rc = profile_load(cli, &path, &cfg)) != CLI_OK)
		goto out;
	if (mcapi_config_delete(cfg, argv[2]) != 0) {
		rc = cli_error("profile '%s' does not exist in '%s'", argv[2], path);
		goto out;
	}
	if ((rc = save_or_fail(cfg, path)) != CLI_OK)
		goto out;
	v = json_pack("{s:s,s:s,s:b}", "profile", argv[2], "path", path, "deleted", 1);
	rc = v ? cli_emit(cli, v) : cli_error("out of memory");
out:
	json_decref(v);
	mcapi_config_free(cfg);
	free(path);
	return rc;
}

int cmd_profile(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(profile_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2)
		return cli_usage_error(profile_usage, "'profile' needs set, show, list or delete");
	if (strcmp(argv[1], "set") == 0)
		return profile_set(cli, argc, argv);
	if (strcmp(argv[1], "show") == 0)
		return profile_show(cli, argc, argv);
	if (strcmp(argv[1], "list") == 0)
		return profile_list(cli, argc);
	if (strcmp(argv[1], "delete") == 0)
		return profile_delete(cli, argc, argv);
	return cli_usage_error(profile_usage, "'%s' is not a profile command", argv[1]);
}

/* ---- configure ---- */

static const char configure_usage[] =
        "usage: mcapi [--profile NAME] configure\n"
        "       mcapi [--profile NAME] configure --from-dev FILE\n"
        "\n"
        "Writes the profile (NAME, else --profile, else $MCAPI_PROFILE, else 'default').\n"
        "Without --from-dev it asks for the base URL, the application id and key, the access\n"
        "key and the secret key, one line each from stdin (on a terminal the keys are read\n"
        "with echo off); an empty answer keeps the value shown in brackets. With --from-dev\n"
        "the five values come from mcapid's development credentials (var/dev-credentials.json\n"
        "or <data_dir>/dev-credentials.json). Nothing is written unless every value is usable.\n";

static const struct {
	const char *key, *prompt;
	int secret;
} configure_keys[] = {
        {"base_url", "Base URL", 0},       {"app_id", "Application id", 0},
        {"app_key", "Application key", 2}, {"access_key", "Access key", 1},
        {"secret_key", "Secret key", 2},
};
#define CONFIGURE_NKEYS (sizeof(configure_keys) / sizeof(configure_keys[0]))
#define CONFIGURE_LINE  4096

/* One answer from stdin, with echo off on a terminal for secrets. 0, or -1 at end of input. */
static int ask(const char *prompt, const char *current, int secret, int tty, char *buf, size_t size)
{
	struct termios old, quiet;
	int quiet_on = 0;
	size_t n;
	char *shown = current ? masked(current, secret) : NULL;

	/* echo goes off before the prompt is shown, so that nothing typed after it is echoed
	 * (and, with TCSANOW, nothing typed ahead is thrown away) */
	if (tty && secret && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet_on = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
	}
	fprintf(stderr, "%s [%s]: ", prompt, shown ? shown : "");
	free(shown);
	fflush(stderr);
	if (!fgets(buf, (int)size, stdin))
		buf[0] = '\0';
	if (quiet_on) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fputc('\n', stderr);
	}
	if (!tty && feof(stdin) && !buf[0])
		return -1;
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/* The values of --from-dev FILE into cfg's profile. */
static int from_dev(struct mcapi_config *cfg, const char *name, const char *file)
{
	json_error_t je;
	json_t *j = json_load_file(file, 0, &je);
	int rc = CLI_OK;

	if (!j)
		return cli_usage_error(configure_usage, "cannot read '%s': %s", file, je.text);
	for (size_t i = 0; i < CONFIGURE_NKEYS && rc == CLI_OK; i++) {
		const char *v = json_string_value(json_object_get(j, configure_keys[i].key));
		if (!v || !*v)
			rc = cli_usage_error(configure_usage, "'%s' has no \"%s\"", file,
			                     configure_keys[i].key);
		else if (mcapi_config_set(cfg, name, configure_keys[i].key, v) != 0)
			rc = cli_usage_error(NULL, "'%s': unusable \"%s\"", file,
			                     configure_keys[i].key);
	}
	json_decref(j);
	return rc;
}

static int ask_all(struct mcapi_config *cfg, const char *name)
{
	char *line = malloc(CONFIGURE_LINE);
	int tty = isatty(STDIN_FILENO), rc = CLI_OK;

	if (!line)
		return cli_error("out of memory");
	if (tty)
		fprintf(stderr, "Profile '%s' (Enter keeps the value in brackets)\n", name);
	for (size_t i = 0; i < CONFIGURE_NKEYS; i++) {
		const char *cur = mcapi_config_get(cfg, name, configure_keys[i].key);
		if (ask(configure_keys[i].prompt, cur, configure_keys[i].secret, tty, line,
		        CONFIGURE_LINE) != 0) {
			rc = cli_error("the answers ended before '%s'", configure_keys[i].key);
			break;
		}
		if (line[0] && mcapi_config_set(cfg, name, configure_keys[i].key, line) != 0) {
			rc = cli_usage_error(NULL, "'%s' cannot be stored", configure_keys[i].key);
			break;
		}
	}
	secure_zero(line, CONFIGURE_LINE);
	free(line);
	return rc;
}

int cmd_configure(struct cli *cli, int argc, char **argv)
{
	struct mcapi_config *cfg = NULL;
	struct mcapi_options o;
	const char *name = cli_profile_name(cli), *dev = NULL, *v;
	char *path = NULL, *msg = NULL;
	json_t *done = NULL;
	int rc, r;

	if (cli_wants_help(argc, argv)) {
		fputs(configure_usage, stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--from-dev", &v)) != 0) {
			if (r < 0 || !*v)
				return cli_usage_error(configure_usage,
				                       "'--from-dev' needs a file");
			dev = v;
		} else {
			return cli_usage_error(configure_usage, "unexpected argument '%s'",
			                       argv[i]);
		}
	}
	if ((rc = profile_load(cli, &path, &cfg)) != CLI_OK)
		goto out;
	rc = dev ? from_dev(cfg, name, dev) : ask_all(cfg, name);
	if (rc != CLI_OK)
		goto out;
	mcapi_options_init(&o);
	o.base_url = mcapi_config_get(cfg, name, "base_url");
	o.app_id = mcapi_config_get(cfg, name, "app_id");
	o.app_key = mcapi_config_get(cfg, name, "app_key");
	o.access_key = mcapi_config_get(cfg, name, "access_key");
	o.secret_key = mcapi_config_get(cfg, name, "secret_key");
	if (mcapi_options_validate(&o, &msg) != 0) {
		rc = cli_usage_error(NULL, "profile '%s' not written: %s", name,
		                     msg ? msg : "unusable values");
		goto out;
	}
	if ((rc = save_or_fail(cfg, path)) != CLI_OK)
		goto out;
	done = json_pack("{s:s,s:s,s:s}", "profile", name, "path", path, "source",
	                 dev ? dev : "prompt");
	rc = done ? cli_emit(cli, done) : cli_error("out of memory");
out:
	json_decref(done);
	mcapi_config_free(cfg);
	free(path);
	free(msg);
	return rc;
}

/* ---- auth status, logout ---- */

static const char auth_usage[] =
        "usage: mcapi [--profile NAME] auth status\n"
        "\n"
        "Shows the profile and keys in effect (masked) and checks them with a call of\n"
        "/api/account/get-account. Exit status 0 when they work, 3 when they are refused or\n"
        "missing, 4 when the server cannot be reached.\n";

static const char logout_usage[] =
        "usage: mcapi [--profile NAME] logout [--local]\n"
        "\n"
        "Ends the binding of the profile's keys on the server (/api/login/logout), then removes\n"
        "access_key and secret_key from the profile. A binding that has already ended (HTTP\n"
        "418) counts as logged out. --local only forgets the keys.\n";

int cmd_auth(struct cli *cli, int argc, char **argv)
{
	struct mcapi_config *cfg = NULL;
	struct mcapi_client *c = NULL;
	struct mcapi_response *r = NULL;
	struct mcapi_options o;
	json_t *out = NULL, *root = NULL, *acct;
	char *ak = NULL;
	const char *body;
	size_t len;
	int rc, crc;

	if (cli_wants_help(argc, argv)) {
		fputs(auth_usage, stdout);
		return CLI_OK;
	}
	if (argc != 2 || strcmp(argv[1], "status") != 0)
		return cli_usage_error(auth_usage, "'auth' takes 'status'");
	mcapi_options_init(&o);
	if ((rc = cli_options(cli, &cfg, &o)) != CLI_OK)
		goto out;
	ak = o.access_key ? masked(o.access_key, 1) : NULL;
	out = json_pack("{s:s,s:s?,s:s?,s:s?}", "profile", cli_profile_name(cli), "baseUrl",
	                o.base_url, "appId", o.app_id, "accessKey", ak);
	if (!out) {
		rc = cli_error("out of memory");
		goto out;
	}
	if ((rc = cli_client_open(cli, &c)) != CLI_OK)
		goto out;
	if ((crc = mcapi_call(c, "/api/account/get-account", "{\"data\":[]}", &r)) != 0) {
		cli_error("/api/account/get-account: %s", mcapi_client_last_error(c));
		rc = cli_exit_for_error(crc);
		goto out;
	}
	body = mcapi_response_body(r, &len);
	root = json_loadb(body, len, 0, NULL);
	rc = cli_exit_for_status(mcapi_response_status(r), root);
	json_object_set_new(out, "status", json_integer(mcapi_response_status(r)));
	json_object_set_new(out, "authenticated", json_boolean(rc == CLI_OK));
	acct = json_array_get(json_object_get(root, "data"), 0);
	if (rc == CLI_OK) {
		json_object_set(out, "accountCode", json_object_get(acct, "accountCode"));
		json_object_set(out, "accountName", json_object_get(acct, "accountName"));
	} else {
		const char *code = mcapi_response_error_code(r);
		const char *m = mcapi_response_error_message(r);
		cli_error("the keys of profile '%s' were refused: HTTP %ld%s%s%s%s",
		          cli_profile_name(cli), mcapi_response_status(r), m ? ": " : "",
		          m ? m : "", code ? " " : "", code ? code : "");
	}
	crc = cli_emit(cli, out);
	if (rc == CLI_OK)
		rc = crc;
out:
	free(ak);
	json_decref(root);
	json_decref(out);
	mcapi_response_free(r);
	mcapi_client_free(c);
	mcapi_config_free(cfg);
	return rc;
}

int cmd_logout(struct cli *cli, int argc, char **argv)
{
	struct mcapi_config *cfg = NULL;
	struct mcapi_client *c = NULL;
	struct mcapi_response *r = NULL;
	const char *name = cli_profile_name(cli);
	char *path = NULL;
	json_t *out = NULL, *root = NULL;
	int rc, crc, local = 0, ended = 0, forgot = 0;
	long status = 0;

	if (cli_wants_help(argc, argv)) {
		fputs(logout_usage, stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--local") == 0)
			local = 1;
		else
			return cli_usage_error(logout_usage, "unexpected argument '%s'", argv[i]);
	}
	if (!local) {
		size_t len;
		const char *body;
		if ((rc = cli_client_open(cli, &c)) != CLI_OK)
			goto out;
		if ((crc = mcapi_call(c, "/api/login/logout", "{\"data\":[]}", &r)) != 0) {
			cli_error("/api/login/logout: %s (the keys are kept)",
			          mcapi_client_last_error(c));
			rc = cli_exit_for_error(crc);
			goto out;
		}
		status = mcapi_response_status(r);
		body = mcapi_response_body(r, &len);
		root = json_loadb(body, len, 0, NULL);
		rc = cli_exit_for_status(status, root);
		if (status == 418)
			rc = CLI_OK; /* the binding had ended already */
		if (rc != CLI_OK) {
			cli_error("/api/login/logout: HTTP %ld%s%s (the keys are kept)", status,
			          mcapi_response_error_code(r) ? ": " : "",
			          mcapi_response_error_code(r) ? mcapi_response_error_code(r) : "");
			goto out;
		}
		ended = 1;
	}
	if ((rc = profile_load(cli, &path, &cfg)) != CLI_OK)
		goto out;
	if (mcapi_config_get(cfg, name, "access_key") ||
	    mcapi_config_get(cfg, name, "secret_key")) {
		mcapi_config_set(cfg, name, "access_key", NULL);
		mcapi_config_set(cfg, name, "secret_key", NULL);
		if ((rc = save_or_fail(cfg, path)) != CLI_OK)
			goto out;
		forgot = 1;
	}
	if (getenv("MCAPI_ACCESS_KEY") || getenv("MCAPI_SECRET_KEY"))
		fprintf(stderr, "hint: keys also come from MCAPI_ACCESS_KEY / MCAPI_SECRET_KEY; "
		                "unset them\n");
	out = json_pack("{s:s,s:b,s:b}", "profile", name, "bindingEnded", ended, "keysRemoved",
	                forgot);
	rc = out ? cli_emit(cli, out) : cli_error("out of memory");
out:
	json_decref(out);
	json_decref(root);
	mcapi_response_free(r);
	mcapi_client_free(c);
	mcapi_config_free(cfg);
	free(path);
	return rc;
}
