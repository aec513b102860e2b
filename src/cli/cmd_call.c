/* mcapi call: a raw signed call of any API path. The body (an argument, or stdin with "-")
 * may be strict JSON or a Python literal as API.md §4 allows; it is checked here so that a
 * typo is a usage error, then sent as written. With --all every page is fetched (§8). */
#include "cli.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/pyjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define CALL_BODY_MAX (8u << 20)

static const char call_usage[] =
        "usage: mcapi call [--all] PATH [JSON | -]\n"
        "\n"
        "   PATH    e.g. /api/account/get-account (\"account/get-account\" means the same)\n"
        "   JSON    the request body, JSON or a Python literal; '-' reads it from stdin;\n"
        "           default {\"data\":[]}\n"
        "   --all   follow meta.pagination.next and print every page's data as one answer\n"
        "\n"
        "Prints the answer as JSON. Exit status 0 when HTTP 200 and fail[] is empty, 1 when the\n"
        "API refused the call (its errors go to stderr), 2 on bad usage.\n";

int cmd_call(struct cli *cli, int argc, char **argv)
{
	const char *path = NULL, *body = NULL;
	char *owned_body = NULL, *owned_path = NULL;
	struct buf norm;
	struct err e;
	int all = 0, rc;

	buf_init(&norm, CALL_BODY_MAX * 2);
	if (cli_wants_help(argc, argv)) {
		fputs(call_usage, stdout);
		rc = CLI_OK;
		goto out;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0)
			all = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_usage_error(call_usage, "unknown option '%s'", argv[i]);
		else if (!path)
			path = argv[i];
		else if (!body)
			body = argv[i];
		else
			return cli_usage_error(call_usage, "too many arguments");
	}
	if (!path || !*path) {
		rc = cli_usage_error(call_usage, "missing PATH");
		goto out;
	}
	if (path[0] != '/') {
		size_t n = strlen(path) + sizeof("/api/");
		owned_path = malloc(n);
		if (!owned_path) {
			rc = cli_error("out of memory");
			goto out;
		}
		snprintf(owned_path, n, "%s%s", strncmp(path, "api/", 4) == 0 ? "/" : "/api/",
		         path);
		path = owned_path;
	}
	if (body && strcmp(body, "-") == 0) {
		owned_body = cli_read_stdin(CALL_BODY_MAX);
		if (!owned_body) {
			rc = cli_error("cannot read the body from stdin (at most %u bytes)",
			               CALL_BODY_MAX);
			goto out;
		}
		body = owned_body;
	}
	err_clear(&e);
	if (body && pyjson_normalise(body, strlen(body), PYJSON_MAX_DEPTH, &norm, &e) != 0) {
		rc = cli_usage_error(NULL, "the body is neither JSON nor a Python literal: %s",
		                     e.msg);
		goto out;
	}
	rc = cli_run(cli, path, NULL, body && *body ? body : NULL, all);
out:
	buf_release(&norm);
	free(owned_body);
	free(owned_path);
	return rc;
}
