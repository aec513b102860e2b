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
	CLI_FAIL = 1,  /* some items failed (fail[]), another 4xx, or a local runtime error */
	CLI_USAGE = 2, /* bad usage: unknown command or flag, missing or malformed argument */
	CLI_AUTH = 3,  /* authentication: 401, 403, 418, refused login, keys missing or unusable */
	CLI_NET = 4,   /* network or server: no connection, timeout, 5xx, not the API's envelope */
	CLI_RATE = 5,  /* rate limited (429) after the library's retries */
};

enum cli_output {
	CLI_OUT_AUTO = 0, /* table on a terminal, json otherwise */
	CLI_OUT_JSON,
	CLI_OUT_NDJSON,
	CLI_OUT_TABLE,
	CLI_OUT_TEXT,
};

struct query;

/* The global options, taken from anywhere on the command line (before a lone "--"). */
struct cli {
	const char *profile;     /* --profile NAME, or NULL ($MCAPI_PROFILE, then "default") */
	const char *config_path; /* --config FILE, or NULL (mcapi_config_default_path) */
	/* connection settings given as flags; they win over the environment and the profile */
	const char *base_url, *app_id, *timeout_ms, *max_retries;
	enum cli_output output; /* --output, else $MCAPI_OUTPUT, else auto */
	int output_explicit;    /* --output or $MCAPI_OUTPUT was given */
	const char *query_expr; /* --query, or NULL */
	struct query *query;    /* compiled query_expr */
	int verbose;            /* 0; 1 --verbose (one line per request and answer); 2 --debug */
	int progress;           /* stderr is a terminal (and no --no-progress) */
	void (*shape)(json_t *root); /* set by a command: reshapes the answer before printing */
};

/* One row of the command table of main.c (the single source of help and completion). */
struct cli_cmd {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv); /* argv[0] is the command name */
	const char *summary;
};

/* The command table of main.c (n entries), and the entry named name or NULL; for
 * cmd_completion.c, which builds its scripts by walking the table. */
const struct cli_cmd *cli_commands(size_t *n);
const struct cli_cmd *cli_command_find(const char *name);

/* The format in effect: AUTO resolved against stdout. */
enum cli_output cli_output_format(const struct cli *cli);

/* Prints v as --output and --query say (v borrowed): json indented; ndjson one compact line
 * per record (an envelope's data[], an array's elements, else the value); table with a
 * column per member of the records; text tab-separated. Then flushes stdout. Returns CLI_OK
 * or, when stdout cannot be written (a full disk), CLI_FAIL with a message. */
int cli_emit(struct cli *cli, json_t *v);

/* Flushes stdout and reports a write error once; CLI_OK or CLI_FAIL. */
int cli_flush(void);

/* The exit code of a failed library call (MCAPI_E_*), and of an HTTP answer (root may be
 * NULL when the body is not JSON). */
int cli_exit_for_error(int mcapi_rc);
int cli_exit_for_status(long status, json_t *root);

/* A progress line redrawn on stderr when it is a terminal; done ends the line. */
void cli_progress(struct cli *cli, int done, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* "error: ..." on stderr; returns CLI_FAIL. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "error: ..." then the usage text on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 if arg is written as an option: "--name..." or a one-letter "-x". Anything else that
 * starts with '-' is an operand: the server's opaque ids may begin with one
 * ("-ZbRCDA2rYVV2mR-y86ouw"). */
int cli_is_option(const char *arg);

/* 1 if argv[1..argc) holds -h or --help (before a lone "--"). */
int cli_wants_help(int argc, char **argv);

/* Matches argv[*i] against --name VALUE or --name=VALUE. Returns 1 and *val (advancing *i
 * past a separate value), 0 if it is another argument, -1 if the value is missing. */
int cli_opt_value(int argc, char **argv, int *i, const char *name, const char **val);

/* The profile file path (--config, else the library default). malloc'd, NULL if none. */
char *cli_config_path(const struct cli *cli);

/* The profile name in effect: --profile, $MCAPI_PROFILE, else "default". */
const char *cli_profile_name(const struct cli *cli);

/* Fills *o for the profile in effect with the precedence flag > environment > profile
 * (cfg may be NULL: then it is loaded and kept in *cfg_out, which the caller frees with
 * mcapi_config_free; o's strings point into it). Returns CLI_OK, or prints the error and
 * returns an exit code. */
int cli_options(struct cli *cli, struct mcapi_config **cfg_out, struct mcapi_options *o);

/* Loads the configuration and opens a client for the profile in effect, with the trace of
 * --verbose/--debug and the notes on waits installed. Returns CLI_OK and *out, or prints the
 * error and returns CLI_FAIL (profile) or CLI_AUTH (keys missing or unusable). */
int cli_client_open(struct cli *cli, struct mcapi_client **out);

/* Runs one call of path with req (borrowed) — or, with all, every page — prints the answer
 * with cli_emit (pages merged into one envelope) and the errors of fail[] on stderr.
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
int cmd_configure(struct cli *cli, int argc, char **argv); /* cmd_profile.c */
int cmd_auth(struct cli *cli, int argc, char **argv);      /* cmd_profile.c */
int cmd_logout(struct cli *cli, int argc, char **argv);    /* cmd_profile.c */
int cmd_hold(struct cli *cli, int argc, char **argv);      /* cmd_messages.c */
int cmd_messages(struct cli *cli, int argc, char **argv);  /* cmd_messages.c */
int cmd_urls(struct cli *cli, int argc, char **argv);      /* cmd_messages.c */
int cmd_dlp(struct cli *cli, int argc, char **argv);       /* cmd_ttp.c */

#endif
