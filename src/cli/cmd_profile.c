/* mcapi profile: edit and inspect the profile file. "set" writes key=value pairs (a value of
 * "-" is read from stdin so that secrets stay off the command line), "show" prints a profile
 * with its secrets masked and notes environment overrides, "list" names the profiles. */
#include "cli.h"
#include "common/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static const char profile_usage[] =
        "usage: mcapi [--profile NAME] profile set [NAME] KEY=VALUE...\n"
        "       mcapi [--profile NAME] profile show [NAME]\n"
        "       mcapi profile list\n"
        "\n"
        "keys: base_url, app_id, app_key, access_key, secret_key, timeout_ms, max_retries,\n"
        "user_agent, ca_file, connect_timeout_ms, total_timeout_ms. A VALUE of '-' is read from "
        "stdin (one line); an empty VALUE removes the "
        "key.\n"
        "The profile is NAME, else --profile, else $MCAPI_PROFILE, else 'default'.\n";

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

static void print_masked(const char *key, const char *v, int secret)
{
	size_t n = strlen(v);

	if (secret == 2)
		printf("%s = ******** (%zu characters)", key, n);
	else if (secret == 1 && n > 8)
		printf("%s = %.6s... (%zu characters)", key, v, n);
	else if (secret == 1)
		printf("%s = ********", key);
	else
		printf("%s = %s", key, v);
}

static int profile_set(struct cli *cli, int argc, char **argv)
{
	struct mcapi_config *cfg = NULL;
	const char *name = cli_profile_name(cli);
	char *path = NULL, *msg = NULL, *line = NULL;
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
	rc = CLI_OK;
out:
	if (line) {
		secure_zero(line, strlen(line));
		free(line);
	}
	mcapi_config_free(cfg);
	free(path);
	free(msg);
	return rc;
}

static int profile_show(struct cli *cli, int argc, char **argv)
{
	struct mcapi_config *cfg = NULL;
	const char *name = argc > 2 ? argv[2] : cli_profile_name(cli);
	char *path = NULL;
	int rc;

	if (argc > 3)
		return cli_usage_error(profile_usage, "too many arguments");
	if ((rc = profile_load(cli, &path, &cfg)) != CLI_OK)
		goto out;
	if (!mcapi_config_has(cfg, name)) {
		rc = cli_error("profile '%s' does not exist in '%s' (see 'mcapi profile list')",
		               name, path);
		goto out;
	}
	printf("[%s]  # %s\n", name, path);
	for (size_t i = 0; i < PROFILE_NKEYS; i++) {
		const char *v = mcapi_config_get(cfg, name, profile_keys[i].key);
		const char *env = getenv(profile_keys[i].env);
		if (!v && !(env && *env))
			continue;
		if (v)
			print_masked(profile_keys[i].key, v, profile_keys[i].secret);
		else
			printf("%s =", profile_keys[i].key);
		if (env && *env)
			printf("  # overridden by %s", profile_keys[i].env);
		printf("\n");
	}
	rc = CLI_OK;
out:
	mcapi_config_free(cfg);
	free(path);
	return rc;
}

static int profile_list(struct cli *cli, int argc)
{
	struct mcapi_config *cfg = NULL;
	const char *active = cli_profile_name(cli);
	char *path = NULL;
	int rc;

	if (argc > 2)
		return cli_usage_error(profile_usage, "too many arguments");
	if ((rc = profile_load(cli, &path, &cfg)) != CLI_OK)
		goto out;
	for (size_t i = 0; i < mcapi_config_count(cfg); i++) {
		const char *n = mcapi_config_name(cfg, i);
		printf("%s %s\n", strcmp(n, active) == 0 ? "*" : " ", n);
	}
out:
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
		return cli_usage_error(profile_usage, "'profile' needs set, show or list");
	if (strcmp(argv[1], "set") == 0)
		return profile_set(cli, argc, argv);
	if (strcmp(argv[1], "show") == 0)
		return profile_show(cli, argc, argv);
	if (strcmp(argv[1], "list") == 0)
		return profile_list(cli, argc);
	return cli_usage_error(profile_usage, "'%s' is not a profile command", argv[1]);
}
