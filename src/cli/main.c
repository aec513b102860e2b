/* mcapi, the command-line client of the Mimecast API: global options, then a command looked
 * up in one table (as git.c does) and run by its own file. Global options are taken from
 * anywhere on the line before the command runs. Exit codes: cli.h (0 ok, 1 some items
 * failed, 2 usage, 3 authentication, 4 network or server, 5 rate limited). Only this file's
 * main() decides the exit, and it fails when stdout could not be written. */
#include "cli.h"
#include "query.h"

#include <stddef.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/banned.h"

static int cmd_help(struct cli *cli, int argc, char **argv);
static int cmd_version(struct cli *cli, int argc, char **argv);

/* The one table of commands: help, completion and the docs are generated from it. */
static const struct cli_cmd commands[] = {
        {"account", cmd_account, "show the account of the profile's keys"},
        {"audit", cmd_audit, "list audit events (--from, --to, --search)"},
        {"auth", cmd_auth, "check the keys in effect: 'auth status'"},
        {"call", cmd_call, "call any API path with a JSON body and print the answer"},
        {"completion", cmd_completion, "print a bash or zsh completion script"},
        {"configure", cmd_configure, "write a profile: asked interactively, or --from-dev FILE"},
        {"dlp", cmd_dlp, "list data-leak-prevention logs"},
        {"domain", cmd_domain, "register, verify and list domains; the DNS record to publish"},
        {"groups", cmd_groups, "find groups, list, add and remove their members"},
        {"help", cmd_help, "show help for a command"},
        {"hold", cmd_hold, "the hold queue: list, summary, release, reject"},
        {"login", cmd_login, "log in with an email and password and store the keys"},
        {"logout", cmd_logout, "end the binding of the profile's keys and forget them"},
        {"messages", cmd_messages, "track messages, their details, processing and queues"},
        {"profile", cmd_profile, "set, show, list and delete profiles"},
        {"senders", cmd_senders, "permit or block senders; blocked-senders policies"},
        {"siem", cmd_siem, "pull SIEM log files into a directory, continuing where it stopped"},
        {"ttp", cmd_ttp, "URL-protection clicks, attachment and impersonation logs"},
        {"urls", cmd_urls, "managed URLs (block or permit) and decoding rewritten links"},
        {"users", cmd_users, "list, create and update the account's users"},
        {"version", cmd_version, "print the version"},
};

static const char main_usage[] =
        "usage: mcapi [GLOBAL OPTIONS] COMMAND [ARGS]   (global options may come anywhere)\n"
        "       mcapi --version | --help\n";

static void print_main_help(FILE *f)
{
	fputs(main_usage, f);
	fputs("\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "   %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\nglobal options:\n"
	      "   -p, --profile NAME   profile to use (default: $MCAPI_PROFILE, else 'default')\n"
	      "   --config FILE        profile file (default: $MCAPI_CONFIG, else\n"
	      "                        $XDG_CONFIG_HOME/mcapi/profiles or "
	      "~/.config/mcapi/profiles)\n"
	      "   -o, --output FORMAT  table, json, ndjson or text (default: $MCAPI_OUTPUT, else\n"
	      "                        a table on a terminal and json when piped)\n"
	      "   --query PATH         print only what PATH selects, e.g. 'data[*].domain'\n"
	      "   -v, --verbose        each request and answer on stderr (secrets masked)\n"
	      "   --debug              --verbose with headers and bodies (secrets masked)\n"
	      "   --no-progress        no progress line on stderr during long walks\n"
	      "   --base-url URL, --app-id ID, --timeout-ms MS, --max-retries N\n"
	      "                        override the environment and the profile\n"
	      "\nenvironment: MCAPI_BASE_URL, MCAPI_APP_ID, MCAPI_APP_KEY, MCAPI_ACCESS_KEY,\n"
	      "MCAPI_SECRET_KEY, MCAPI_TIMEOUT_MS, MCAPI_MAX_RETRIES override the profile's "
	      "values.\n"
	      "\nexit status: 0 success, 1 some items failed (or another refusal), 2 bad usage,\n"
	      "3 authentication, 4 network or server error, 5 rate limited after retries.\n"
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
	json_t *v;
	int rc;

	(void)argc;
	(void)argv;
	if (!cli->output_explicit || cli_output_format(cli) == CLI_OUT_TABLE) {
		printf("mcapi version %s (libmcapi %s)\n", MCAPI_VERSION, mcapi_version());
		return CLI_OK;
	}
	v = json_pack("{s:s,s:s}", "version", MCAPI_VERSION, "libmcapi", mcapi_version());
	if (!v)
		return cli_error("out of memory");
	rc = cli_emit(cli, v);
	json_decref(v);
	return rc;
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct cli_cmd *c;
	char *sub[3];

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_main_help(stdout);
		return CLI_OK;
	}
	c = find_command(argv[1]);
	if (!c)
		return cli_usage_error(main_usage, "'%s' is not an mcapi command", argv[1]);
	if (c->fn == cmd_help) {
		print_main_help(stdout);
		return CLI_OK;
	}
	sub[0] = argv[1];
	sub[1] = "--help";
	sub[2] = NULL;
	return c->fn(cli, 2, sub);
}

static int parse_output(const char *v, enum cli_output *out)
{
	static const struct {
		const char *name;
		enum cli_output o;
	} formats[] = {{"json", CLI_OUT_JSON},
	               {"ndjson", CLI_OUT_NDJSON},
	               {"table", CLI_OUT_TABLE},
	               {"text", CLI_OUT_TEXT},
	               {"auto", CLI_OUT_AUTO}};

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(v, formats[i].name) == 0) {
			*out = formats[i].o;
			return 0;
		}
	return -1;
}

/* Global options with a value: where each goes in struct cli. */
struct global_opt {
	const char *name, *alt;
	size_t off;
};

static const struct global_opt global_opts[] = {
        {"--profile", "-p", offsetof(struct cli, profile)},
        {"--config", NULL, offsetof(struct cli, config_path)},
        {"--query", NULL, offsetof(struct cli, query_expr)},
        {"--base-url", NULL, offsetof(struct cli, base_url)},
        {"--app-id", NULL, offsetof(struct cli, app_id)},
        {"--timeout-ms", NULL, offsetof(struct cli, timeout_ms)},
        {"--max-retries", NULL, offsetof(struct cli, max_retries)},
};

/* Takes the global options out of argv wherever they are (up to a lone "--", which is kept
 * for the command), leaving the rest in order in rest[]. Returns the count, or -1 after a
 * usage error was said. */
static int take_globals(struct cli *cli, int argc, char **argv, char **rest, const char **output)
{
	int n = 0, r, i, dashdash = 0;
	const char *v;

	for (i = 1; i < argc; i++) {
		int done = 0;
		if (dashdash || strcmp(argv[i], "--") == 0) {
			dashdash = 1;
			rest[n++] = argv[i];
			continue;
		}
		for (size_t k = 0; k < sizeof(global_opts) / sizeof(global_opts[0]) && !done; k++) {
			const struct global_opt *g = &global_opts[k];
			r = cli_opt_value(argc, argv, &i, g->name, &v);
			if (r == 0 && g->alt)
				r = cli_opt_value(argc, argv, &i, g->alt, &v);
			if (r == 0)
				continue;
			if (r < 0 || !*v) {
				cli_usage_error(main_usage, "'%s' needs a value", g->name);
				return -1;
			}
			*(const char **)((char *)cli + g->off) = v;
			done = 1;
		}
		if (done)
			continue;
		if ((r = cli_opt_value(argc, argv, &i, "--output", &v)) != 0 ||
		    (r = cli_opt_value(argc, argv, &i, "-o", &v)) != 0) {
			if (r < 0) {
				cli_usage_error(main_usage, "'--output' needs a format");
				return -1;
			}
			*output = v;
		} else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
			if (cli->verbose < 1)
				cli->verbose = 1;
		} else if (strcmp(argv[i], "--debug") == 0) {
			cli->verbose = 2;
		} else if (strcmp(argv[i], "--no-progress") == 0) {
			cli->progress = 0;
		} else {
			rest[n++] = argv[i];
		}
	}
	rest[n] = NULL;
	return n;
}

/* git's close_stdout: a command that printed into a full disk fails (EPIPE too, when SIGPIPE is
 * ignored). */
static int finish(int rc)
{
	if (cli_flush() != CLI_OK || fclose(stdout) != 0) {
		static int said;
		if (!said++ && rc == CLI_OK)
			cli_error("cannot write the output");
		return rc == CLI_OK ? CLI_FAIL : rc;
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct cli cli;
	const struct cli_cmd *c;
	const char *output = NULL;
	char msg[256];
	char **rest;
	int n, rc;

	memset(&cli, 0, sizeof(cli));
	cli.progress = isatty(STDERR_FILENO);
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return cli_error("out of memory");
	n = take_globals(&cli, argc, argv, rest, &output);
	if (n < 0) {
		rc = CLI_USAGE;
		goto out;
	}
	if (!output && getenv("MCAPI_OUTPUT") && *getenv("MCAPI_OUTPUT"))
		output = getenv("MCAPI_OUTPUT");
	if (output) {
		if (parse_output(output, &cli.output) != 0) {
			rc = cli_usage_error(main_usage,
			                     "'--output' is table, json, ndjson or text (got '%s')",
			                     output);
			goto out;
		}
		cli.output_explicit = cli.output != CLI_OUT_AUTO;
	}
	if (cli.query_expr && !(cli.query = query_compile(cli.query_expr, msg, sizeof(msg)))) {
		rc = cli_usage_error(NULL, "%s", msg);
		goto out;
	}
	if (n > 0 && (strcmp(rest[0], "--version") == 0 || strcmp(rest[0], "-V") == 0)) {
		rc = finish(cmd_version(&cli, 0, NULL));
		goto out;
	}
	if (n > 0 && (strcmp(rest[0], "--help") == 0 || strcmp(rest[0], "-h") == 0)) {
		print_main_help(stdout);
		rc = finish(CLI_OK);
		goto out;
	}
	if (n == 0) {
		print_main_help(stderr);
		rc = CLI_USAGE;
		goto out;
	}
	if (rest[0][0] == '-') {
		rc = cli_usage_error(main_usage, "unknown option '%s'", rest[0]);
		goto out;
	}
	c = find_command(rest[0]);
	if (!c) {
		rc = cli_usage_error(NULL, "'%s' is not an mcapi command; see 'mcapi --help'",
		                     rest[0]);
		goto out;
	}
	rc = finish(c->fn(&cli, n, rest));
out:
	query_free(cli.query);
	free(rest);
	return rc;
}
