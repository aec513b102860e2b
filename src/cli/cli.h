/* Shared pieces of the mcapi command-line client: the global options every command sees,
 * the command table entry, exit codes, git-style messages, and the helpers that open a
 * client from the profile, run a call (or every page of it) and print its answer. */
#ifndef MCAPI_CLI_CLI_H
#define MCAPI_CLI_CLI_H

#include "mcapi/mcapi.h"

#include <jansson.h>
#include <stddef.h>

enum cli_exit {
	CLI_OK = 0,    /* HTTP 200 and fail[] empty */
	CLI_FAIL = 1,  /* the API refused or failed, or a runtime error */
	CLI_USAGE = 2, /* bad usage */
};

struct cli {
	const char *profile;     /* --profile NAME, or NULL ($MCAPI_PROFILE, then "default") */
	const char *config_path; /* --config FILE, or NULL (mcapi_config_default_path) */
};

struct cli_cmd {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv); /* argv[0] is the command name */
	const char *summary;
};

/* The command table of main.c (n entries), and the entry named name or NULL; for
 * cmd_completion.c, which builds its scripts by walking the table. */
const struct cli_cmd *cli_commands(size_t *n);
const struct cli_cmd *cli_command_find(const char *name);

/* "error: ..." on stderr; returns CLI_FAIL. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "error: ..." then the usage text on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 if argv[1..argc) holds -h or --help (before a lone "--"). */
int cli_wants_help(int argc, char **argv);

/* Matches argv[*i] against --name VALUE or --name=VALUE. Returns 1 and *val (advancing *i
 * past a separate value), 0 if it is another argument, -1 if the value is missing. */
int cli_opt_value(int argc, char **argv, int *i, const char *name, const char **val);

/* The profile file path (--config, else the library default). malloc'd, NULL if none. */
char *cli_config_path(const struct cli *cli);

/* The profile name in effect: --profile, $MCAPI_PROFILE, else "default". */
const char *cli_profile_name(const struct cli *cli);

/* Loads the configuration and opens a client for the profile in effect. Returns CLI_OK and
 * *out, or prints the error and returns CLI_FAIL. */
int cli_client_open(struct cli *cli, struct mcapi_client **out);

/* Runs one call of path with req (borrowed) — or, with all, every page — prints the answer as
 * indented JSON on stdout (pages merged into one envelope) and the errors of fail[] on stderr.
 * req may be NULL when text is given (sent verbatim). Returns a CLI exit code. */
int cli_run(struct cli *cli, const char *path, json_t *req, const char *text, int all);

/* Reads all of stdin up to cap bytes into a malloc'd NUL-terminated string, or NULL. */
char *cli_read_stdin(size_t cap);

/* The commands, one file each. */
int cmd_call(struct cli *cli, int argc, char **argv);
int cmd_completion(struct cli *cli, int argc, char **argv);
int cmd_domain(struct cli *cli, int argc, char **argv);
int cmd_senders(struct cli *cli, int argc, char **argv);
int cmd_account(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_login(struct cli *cli, int argc, char **argv);
int cmd_profile(struct cli *cli, int argc, char **argv);
int cmd_users(struct cli *cli, int argc, char **argv);  /* cmd_directory.c */
int cmd_groups(struct cli *cli, int argc, char **argv); /* cmd_directory.c */
int cmd_siem(struct cli *cli, int argc, char **argv);
int cmd_ttp(struct cli *cli, int argc, char **argv);

#endif
