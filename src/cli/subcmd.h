/* Sub-commands described by a table instead of code: each row names the API path, what the
 * positional arguments fill and which options set which request fields (dotted names make
 * nested objects: "searchBy.value"). Used by the command groups whose sub-commands map one to
 * one onto endpoints (hold, messages, urls); see cmd_messages.c. */
#ifndef MCAPI_CLI_SUBCMD_H
#define MCAPI_CLI_SUBCMD_H

#include "cli.h"

enum sub_opt_kind {
	SO_STR,    /* --flag VALUE sets field to the string */
	SO_TRUE,   /* --flag sets field to true */
	SO_FALSE,  /* --flag sets field to false */
	SO_FILTER, /* --flag VALUE appends {fieldName: arg, value: VALUE} to the list field */
};

struct sub_opt {
	const char *flag;
	const char *field;
	enum sub_opt_kind kind;
	const char *arg; /* SO_FILTER: the fieldName */
};

#define SUB_LIST   1u  /* takes --all and --page-size */
#define SUB_EACH   2u  /* one item per positional argument, set in positional */
#define SUB_ARRAY  4u  /* the positional arguments become a list in positional of the one item */
#define SUB_ONE    8u  /* exactly one positional argument, set in positional */
#define SUB_NOITEM 16u /* the request has no item: {"data": []} */

#define SUB_OPTS_MAX 10

struct sub_cmd {
	const char *name;
	const char *path;
	const char *positional; /* the field the positional arguments fill, or NULL */
	unsigned flags;
	const char *required; /* an option that must be given (its flag), or NULL */
	struct sub_opt opts[SUB_OPTS_MAX];
};

/* Runs argv[1] of subs (argv[0] is the command, what its name in messages), building the
 * request from the row and the arguments and printing the answer with cli_run. Help and usage
 * errors print usage. Returns a CLI exit code. */
int sub_dispatch(struct cli *cli, int argc, char **argv, const char *usage, const char *what,
                 const struct sub_cmd *subs, size_t n);

/* What every command group does before it looks its sub-command up: no sub-command prints
 * usage to stderr (CLI_USAGE); help (`help`, `--help`) prints it to stdout (CLI_OK). Returns
 * that exit code, or -1 when argv[1] is a sub-command to look up. */
int sub_help(int argc, char **argv, const char *usage);

#endif
