/* mcapi login: the §6 flow (discovery, then Basic-Cloud login in the user's region) with the
 * password read from stdin or the terminal — never from the command line — and the keys it
 * returns stored in the profile (mode 0600), with the region's base URL. */
#include "cli.h"
#include "common/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/banned.h"

#define LOGIN_PASSWORD_MAX 1024

static const char login_usage[] =
        "usage: mcapi [--profile NAME] login --email EMAIL [--password-stdin]\n"
        "                                    [--base-url URL] [--app-id ID] [--app-key KEY]\n"
        "\n"
        "Logs in with the email address and password (read from stdin with --password-stdin,\n"
        "else from $MCAPI_PASSWORD, else asked on the terminal; never taken as an argument)\n"
        "and stores the access and secret keys, the region's base URL and the application in\n"
        "the profile. --base-url and --app-id (global options) and --app-key default to the\n"
        "environment (MCAPI_BASE_URL, MCAPI_APP_ID, MCAPI_APP_KEY), then the profile.\n";

/* Reads one line into buf (without the newline); 0 or -1. Echo is off on a terminal. */
static int read_password(int from_stdin, char *buf, size_t size)
{
	struct termios old, quiet;
	FILE *f = stdin;
	int tty = 0;
	size_t n;

	if (!from_stdin) {
		f = fopen("/dev/tty", "r+e");
		if (!f)
			return -1;
		fputs("password: ", f);
		fflush(f);
		if (tcgetattr(fileno(f), &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tty = tcsetattr(fileno(f), TCSAFLUSH, &quiet) == 0;
		}
	}
	if (!fgets(buf, (int)size, f)) {
		buf[0] = '\0';
	}
	if (tty) {
		tcsetattr(fileno(f), TCSAFLUSH, &old);
		fputc('\n', f);
	}
	if (f != stdin)
		fclose(f);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return n > 0 ? 0 : -1;
}

static const char *pick(const char *flag, const char *env, const struct mcapi_config *cfg,
                        const char *profile, const char *key)
{
	const char *e = getenv(env);

	if (flag)
		return flag;
	if (e && *e)
		return e;
	return mcapi_config_get(cfg, profile, key);
}

int cmd_login(struct cli *cli, int argc, char **argv)
{
	struct mcapi_login_result res = {0};
	struct mcapi_config *cfg = NULL;
	struct mcapi_options o;
	const char *email = NULL, *base = NULL, *app_id = NULL, *app_key = NULL, *v, *profile;
	char password[LOGIN_PASSWORD_MAX], *path = NULL, *msg = NULL;
	json_t *done = NULL;
	int from_stdin = 0, rc, r;

	password[0] = '\0';
	if (cli_wants_help(argc, argv)) {
		fputs(login_usage, stdout);
		return CLI_OK;
	}
	for (int i = 1; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--email", &v)) != 0)
			email = r > 0 ? v : NULL;
		else if ((r = cli_opt_value(argc, argv, &i, "--app-key", &v)) != 0)
			app_key = r > 0 ? v : NULL;
		else if (strcmp(argv[i], "--password-stdin") == 0)
			from_stdin = 1;
		else if (strncmp(argv[i], "--password", 10) == 0)
			return cli_usage_error(login_usage, "passwords are not taken on the "
			                                    "command line; use --password-stdin");
		else
			return cli_usage_error(login_usage, "unexpected argument '%s'", argv[i]);
		if (r < 0)
			return cli_usage_error(login_usage, "'%s' needs a value", argv[i]);
	}
	if (!email || !*email)
		return cli_usage_error(login_usage, "'--email' is required");
	if (!from_stdin && !isatty(STDIN_FILENO) && !getenv("MCAPI_PASSWORD"))
		return cli_usage_error(login_usage,
		                       "no terminal to ask for the password; use --password-stdin");

	base = cli->base_url; /* global options: --base-url and --app-id */
	app_id = cli->app_id;
	path = cli_config_path(cli);
	if (mcapi_config_load(path, &cfg, &msg) != 0) {
		rc = cli_error("%s", msg ? msg : "cannot read the profiles");
		goto out;
	}
	profile = cli_profile_name(cli);
	base = pick(base, "MCAPI_BASE_URL", cfg, profile, "base_url");
	app_id = pick(app_id, "MCAPI_APP_ID", cfg, profile, "app_id");
	app_key = pick(app_key, "MCAPI_APP_KEY", cfg, profile, "app_key");
	if (!base || !app_id) {
		rc = cli_usage_error(login_usage, "profile '%s' has no %s; pass %s", profile,
		                     !base ? "base_url" : "app_id",
		                     !base ? "--base-url" : "--app-id");
		goto out;
	}
	if (!from_stdin && getenv("MCAPI_PASSWORD") && *getenv("MCAPI_PASSWORD")) {
		snprintf(password, sizeof(password), "%s", getenv("MCAPI_PASSWORD"));
	} else if (read_password(from_stdin, password, sizeof(password)) != 0) {
		rc = cli_error("no password given");
		goto out;
	}
	mcapi_options_init(&o);
	o.base_url = base;
	o.app_id = app_id;
	if ((r = mcapi_login(&o, email, password, &res, &msg)) != 0) {
		cli_error("%s", msg ? msg : "login failed");
		rc = r == MCAPI_E_API ? CLI_AUTH : cli_exit_for_error(r);
		goto out;
	}
	if (mcapi_config_set(cfg, profile, "base_url", res.base_url) ||
	    mcapi_config_set(cfg, profile, "app_id", app_id) ||
	    (app_key && mcapi_config_set(cfg, profile, "app_key", app_key)) ||
	    mcapi_config_set(cfg, profile, "access_key", res.access_key) ||
	    mcapi_config_set(cfg, profile, "secret_key", res.secret_key)) {
		rc = cli_error("cannot store the keys in profile '%s'", profile);
		goto out;
	}
	if (mcapi_config_save(cfg, path, &msg) != 0) {
		rc = cli_error("%s", msg ? msg : "cannot write the profiles");
		goto out;
	}
	done = json_pack("{s:s,s:s,s:s,s:s,s:I}", "email", email, "profile", profile, "path", path,
	                 "baseUrl", res.base_url, "validHours",
	                 (json_int_t)(res.duration_ms > 0 ? res.duration_ms / 3600000 : 0));
	rc = done ? cli_emit(cli, done) : cli_error("out of memory");
	if (rc != CLI_OK)
		goto out;
	if (!app_key)
		fprintf(stderr,
		        "hint: set the application key with 'mcapi --profile %s profile set "
		        "app_key=-'\n",
		        profile);
out:
	json_decref(done);
	secure_zero(password, sizeof(password));
	mcapi_login_result_release(&res);
	mcapi_config_free(cfg);
	free(path);
	free(msg);
	return rc;
}
