/* mcapi, the command-line client of the Mimecast API: global options, then a command looked
 * up in one table (as git.c does) and run by its own file. Exit codes: 0 success, 1 the API
 * refused or a runtime error, 2 bad usage. Only this file's main() decides the exit. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static int cmd_help(struct cli *cli, int argc, char **argv);
static int cmd_version(struct cli *cli, int argc, char **argv);

static const struct cli_cmd commands[] = {
        {"account", cmd_account, "show the account of the profile's keys"},
        {"audit", cmd_audit, "list audit events (--from, --to, --query)"},
        {"call", cmd_call, "call any API path with a JSON body and print the answer"},
        {"completion", cmd_completion, "print a bash or zsh completion script"},
        {"domain", cmd_domain, "register, verify and list domains"},
        {"senders", cmd_senders, "permit or block senders; blocked-senders policies"},
        {"siem", cmd_siem, "pull SIEM log files into a directory, continuing where it stopped"},
        {"ttp", cmd_ttp, "list URL-protection click logs"},
        {"groups", cmd_groups, "find groups, list, add and remove their members"},
        {"help", cmd_help, "show help for a command"},
        {"login", cmd_login, "log in with an email and password and store the keys"},
        {"profile", cmd_profile, "set, show and list profiles"},
        {"users", cmd_users, "list, create and update the account's users"},
        {"version", cmd_version, "print the version"},
};

static const char main_usage[] = "usage: mcapi [--profile NAME] [--config FILE] COMMAND [ARGS]\n"
                                 "       mcapi --version | --help\n";

static void print_main_help(FILE *f)
{
	fputs(main_usage, f);
	fputs("\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "   %-9s %s\n", commands[i].name, commands[i].summary);
	fputs("\nglobal options:\n"
	      "   --profile NAME   profile to use (default: $MCAPI_PROFILE, else 'default')\n"
	      "   --config FILE    profile file (default: $MCAPI_CONFIG, else\n"
	      "                    $XDG_CONFIG_HOME/mcapi/profiles or ~/.config/mcapi/profiles)\n"
	      "\nenvironment: MCAPI_BASE_URL, MCAPI_APP_ID, MCAPI_APP_KEY, MCAPI_ACCESS_KEY,\n"
	      "MCAPI_SECRET_KEY, MCAPI_TIMEOUT_MS, MCAPI_MAX_RETRIES override the profile's "
	      "values.\n"
	      "\nexit status: 0 success, 1 the API refused the call or it failed, 2 bad usage.\n"
	      "See 'mcapi COMMAND --help' for a command's options.\n",
	      f);
}

static const struct cli_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

const struct cli_cmd *cli_commands(size_t *n)
{
	*n = sizeof(commands) / sizeof(commands[0]);
	return commands;
}

const struct cli_cmd *cli_command_find(const char *name)
{
	return find_command(name);
}

static int cmd_version(struct cli *cli, int argc, char **argv)
{
	(void)cli;
	(void)argc;
	(void)argv;
	printf("mcapi version %s (libmcapi %s)\n", MCAPI_VERSION, mcapi_version());
	return CLI_OK;
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_cmd *c;
	char *sub[3];

	if (argc < 2) {
		print_main_help(stdout);
		return CLI_OK;
	}
	c = find_command(argv[1]);
	if (!c || c->fn == cmd_help)
		return cli_usage_error(main_usage, "'%s' is not an mcapi command", argv[1]);
	sub[0] = argv[1];
	sub[1] = "--help";
	sub[2] = NULL;
	return c->fn(cli, 2, sub);
}

int main(int argc, char **argv)
{
	struct cli cli = {NULL, NULL};
	const struct cli_cmd *c;
	const char *v;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0)
			return cmd_version(&cli, 0, NULL);
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_main_help(stdout);
			return CLI_OK;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--profile", &v)) != 0 ||
		    (r = cli_opt_value(argc, argv, &i, "-p", &v)) != 0) {
			if (r < 0 || !*v)
				return cli_usage_error(main_usage, "'--profile' needs a name");
			cli.profile = v;
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--config", &v)) != 0) {
			if (r < 0 || !*v)
				return cli_usage_error(main_usage, "'--config' needs a file");
			cli.config_path = v;
			continue;
		}
		return cli_usage_error(main_usage, "unknown option '%s'", argv[i]);
	}
	if (i == argc) {
		print_main_help(stderr);
		return CLI_USAGE;
	}
	c = find_command(argv[i]);
	if (!c)
		return cli_usage_error(NULL, "'%s' is not an mcapi command; see 'mcapi --help'",
		                       argv[i]);
	return c->fn(&cli, argc - i, argv + i);
}
