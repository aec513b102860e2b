/* mcapi ttp clicks|attachments|impersonation and mcapi dlp logs: the four log endpoints of
 * API.md §14.2 (records in data[0].clickLogs[], attachmentLogs[], impersonationLogs[],
 * dlpLogs[]), every page followed (§8) and the records joined, printed as --output says (a
 * table on a terminal; the clicks have their own columns) or as one JSON array of the records
 * exactly as the API gave them (--json is --output json). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

struct log_kind {
	const char *cmd;  /* "clicks" */
	const char *path; /* "/api/ttp/url/get-logs" */
	const char *key;  /* "clickLogs" */
};

static const struct log_kind log_kinds[] = {
        {"clicks", "/api/ttp/url/get-logs", "clickLogs"},
        {"attachments", "/api/ttp/attachment/get-logs", "attachmentLogs"},
        {"impersonation", "/api/ttp/impersonation/get-logs", "impersonationLogs"},
        {"logs", "/api/dlp/get-logs", "dlpLogs"}, /* mcapi dlp logs */
};

static const char ttp_usage[] =
        "usage: mcapi ttp clicks|attachments|impersonation [--from DATE] [--to DATE]\n"
        "                 [--route R] [--result R] [--json] [--page-size N] [--oldest-first]\n"
        "       mcapi dlp logs [the same options]\n"
        "\n"
        "   clicks         URL-protection clicks (/api/ttp/url/get-logs)\n"
        "   attachments    attachment-protection verdicts (/api/ttp/attachment/get-logs)\n"
        "   impersonation  impersonation-protection hits (/api/ttp/impersonation/get-logs)\n"
        "   dlp logs       data-leak-prevention hits (/api/dlp/get-logs)\n"
        "\n"
        "   DATE       2024-05-01T10:00:00+0000 (or ...Z); the server's defaults when absent\n"
        "   --route    all, inbound, outbound or internal\n"
        "   --result   the scan result: all, clean or malicious\n"
        "   --json     the same as --output json: the records as one JSON array\n";

static const char *const routes[] = {"all", "inbound", "outbound", "internal", NULL};
static const char *const results[] = {"all", "clean", "malicious", NULL};

static int one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(v, *set) == 0)
			return 1;
	return 0;
}

struct clicks {
	const struct log_kind *kind;
	json_t *logs; /* every page's records */
	int failed;   /* an error was said: the exit code */
	struct cli *cli;
	unsigned pages;
};

static int collect(const struct mcapi_response *r, void *arg)
{
	struct clicks *c = arg;
	size_t len;
	const char *body = mcapi_response_body(r, &len);
	json_t *root = json_loadb(body, len, 0, NULL), *fail = json_object_get(root, "fail");
	const char *path = c->kind->path;
	json_t *logs;

	if (!json_is_array(fail) || json_array_size(fail) || mcapi_response_status(r) != 200) {
		json_t *e0 = json_array_get(json_object_get(json_array_get(fail, 0), "errors"), 0);
		const char *code = json_string_value(json_object_get(e0, "code"));
		const char *msg = json_string_value(json_object_get(e0, "message"));
		const char *field = json_string_value(json_object_get(e0, "field"));
		if (!json_is_array(fail))
			cli_error("%s: HTTP %ld without the API's envelope", path,
			          mcapi_response_status(r));
		else
			cli_error("%s: HTTP %ld: %s%s%s%s (%s)", path, mcapi_response_status(r),
			          field ? "field '" : "", field ? field : "", field ? "': " : "",
			          msg && *msg ? msg : "the call failed", code ? code : "no code");
		c->failed = cli_exit_for_status(mcapi_response_status(r), root);
		if (c->failed == CLI_OK)
			c->failed = CLI_NET;
		json_decref(root);
		return 1;
	}
	logs = json_object_get(json_array_get(json_object_get(root, "data"), 0), c->kind->key);
	if (logs && !json_is_array(logs)) {
		cli_error("%s: data[0].%s is not a list", path, c->kind->key);
		c->failed = 1;
		json_decref(root);
		return 1;
	}
	if (logs && json_array_extend(c->logs, logs) != 0) {
		cli_error("out of memory");
		c->failed = 1;
		json_decref(root);
		return 1;
	}
	json_decref(root);
	c->pages++;
	cli_progress(c->cli, 0, "%s: %u page%s, %zu records", path, c->pages,
	             c->pages == 1 ? "" : "s", json_array_size(c->logs));
	return 0;
}

/* Prints s for a terminal table: control bytes as '?', cut to width (0 = whole). */
static void cell(const char *s, int width, int last)
{
	int n = 0;

	for (; s && *s && (!width || n < width); s++, n++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, stdout);
	if (!last)
		for (; n < width + 2; n++)
			fputc(' ', stdout);
}

static void print_table(json_t *logs)
{
	static const struct {
		const char *head, *key;
		int width;
	} cols[] = {
	        {"DATE", "date", 24},
	        {"ROUTE", "route", 8},
	        {"RESULT", "scanResult", 9},
	        {"ACTION", "action", 6},
	        {"USER", "userEmailAddress", 28},
	        {"FROM", "fromUserEmailAddress", 28},
	        {"URL", "url", 0},
	};
	size_t n = sizeof(cols) / sizeof(cols[0]), i;
	json_t *row;

	for (size_t k = 0; k < n; k++)
		cell(cols[k].head, cols[k].width, k + 1 == n);
	fputc('\n', stdout);
	json_array_foreach(logs, i, row)
	{
		for (size_t k = 0; k < n; k++)
			cell(json_string_value(json_object_get(row, cols[k].key)), cols[k].width,
			     k + 1 == n);
		fputc('\n', stdout);
	}
}

static int fetch_logs(struct cli *cli, const struct log_kind *kind, json_t *req)
{
	struct mcapi_client *c = NULL;
	struct clicks got = {kind, json_array(), 0, cli, 0};
	char *text = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc = CLI_FAIL, prc;

	if (!text || !got.logs) {
		rc = cli_error("out of memory");
		goto out;
	}
	if ((rc = cli_client_open(cli, &c)) != CLI_OK)
		goto out;
	prc = mcapi_paginate(c, kind->path, text, 0, collect, &got);
	cli_progress(cli, 1, NULL);
	if (got.failed) {
		rc = got.failed;
		goto out;
	}
	if (prc != 0) {
		cli_error("%s: %s", kind->path, mcapi_client_last_error(c));
		rc = cli_exit_for_error(prc);
		goto out;
	}
	if (cli_output_format(cli) == CLI_OUT_TABLE && !cli->query &&
	    strcmp(kind->cmd, "clicks") == 0) {
		print_table(got.logs);
		rc = cli_flush();
	} else {
		rc = cli_emit(cli, got.logs);
	}
out:
	mcapi_client_free(c);
	json_decref(got.logs);
	free(text);
	return rc;
}

static int run_logs(struct cli *cli, const struct log_kind *kind, int argc, char **argv)
{
	json_t *item = NULL, *req = NULL;
	const char *v;
	long page_size = 0;
	int r, rc, i;

	if (!(item = json_object()))
		return cli_error("out of memory");
	for (i = 2; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--from", &v)) != 0) {
			if (r < 0 || !*v)
				goto missing;
			json_object_set_new(item, "from", json_string(v));
		} else if ((r = cli_opt_value(argc, argv, &i, "--to", &v)) != 0) {
			if (r < 0 || !*v)
				goto missing;
			json_object_set_new(item, "to", json_string(v));
		} else if ((r = cli_opt_value(argc, argv, &i, "--route", &v)) != 0) {
			if (r < 0)
				goto missing;
			if (!one_of(v, routes)) {
				rc = cli_usage_error(
				        ttp_usage,
				        "'--route' is all, inbound, outbound or internal");
				goto out;
			}
			json_object_set_new(item, "route", json_string(v));
		} else if ((r = cli_opt_value(argc, argv, &i, "--result", &v)) != 0) {
			if (r < 0)
				goto missing;
			if (!one_of(v, results)) {
				rc = cli_usage_error(ttp_usage,
				                     "'--result' is all, clean or malicious");
				goto out;
			}
			json_object_set_new(item, "scanResult", json_string(v));
		} else if ((r = cli_opt_value(argc, argv, &i, "--page-size", &v)) != 0) {
			char *end;
			if (r < 0)
				goto missing;
			errno = 0;
			page_size = strtol(v, &end, 10);
			if (errno || *end || page_size < 1 || page_size > 500) {
				rc = cli_usage_error(ttp_usage, "'--page-size' must be 1..500");
				goto out;
			}
		} else if (strcmp(argv[i], "--oldest-first") == 0) {
			json_object_set_new(item, "oldestFirst", json_true());
		} else if (strcmp(argv[i], "--json") == 0) {
			cli->output = CLI_OUT_JSON;
			cli->output_explicit = 1;
		} else {
			rc = cli_usage_error(ttp_usage, "unexpected argument '%s'", argv[i]);
			goto out;
		}
	}
	req = json_pack("{s:[O]}", "data", item);
	if (req && page_size &&
	    json_object_set_new(
	            req, "meta",
	            json_pack("{s:{s:I}}", "pagination", "pageSize", (json_int_t)page_size)) != 0) {
		json_decref(req);
		req = NULL;
	}
	if (!req) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = fetch_logs(cli, kind, req);
	goto out;
missing:
	rc = cli_usage_error(ttp_usage, "'%s' needs a value", argv[i]);
out:
	json_decref(item);
	json_decref(req);
	return rc;
}

int cmd_ttp(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(ttp_usage, stdout);
		return CLI_OK;
	}
	for (size_t k = 0; argc >= 2 && k + 1 < sizeof(log_kinds) / sizeof(log_kinds[0]); k++)
		if (strcmp(argv[1], log_kinds[k].cmd) == 0)
			return run_logs(cli, &log_kinds[k], argc, argv);
	if (argc < 2)
		return cli_usage_error(ttp_usage, "'ttp' needs a sub-command");
	return cli_usage_error(ttp_usage, "unknown sub-command '%s'", argv[1]);
}

int cmd_dlp(struct cli *cli, int argc, char **argv)
{
	const struct log_kind *dlp = &log_kinds[sizeof(log_kinds) / sizeof(log_kinds[0]) - 1];

	if (cli_wants_help(argc, argv)) {
		fputs(ttp_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], dlp->cmd) != 0)
		return cli_usage_error(ttp_usage, "'dlp' takes 'logs'");
	return run_logs(cli, dlp, argc, argv);
}
