/* mcapi ttp clicks: the URL-protection click logs of POST /api/ttp/url/get-logs (API.md
 * §14.2, records in data[0].clickLogs[]), every page followed (§8), printed as a table or,
 * with --json, as one JSON array of the records exactly as the API gave them. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define TTP_URL_PATH "/api/ttp/url/get-logs"

static const char ttp_usage[] =
        "usage: mcapi ttp clicks [--from DATE] [--to DATE] [--route R] [--result R] [--json]\n"
        "                        [--page-size N] [--oldest-first]\n"
        "\n"
        "   DATE       2024-05-01T10:00:00+0000 (or ...Z); the server's defaults when absent\n"
        "   --route    all, inbound, outbound or internal\n"
        "   --result   the scan result: all, clean or malicious\n"
        "   --json     print the records as a JSON array instead of a table\n";

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
	json_t *logs; /* every page's clickLogs[] */
	int failed;   /* an error was said */
};

static int collect(const struct mcapi_response *r, void *arg)
{
	struct clicks *c = arg;
	size_t len;
	const char *body = mcapi_response_body(r, &len);
	json_t *root = json_loadb(body, len, 0, NULL), *fail = json_object_get(root, "fail");
	json_t *logs;

	if (!json_is_array(fail) || json_array_size(fail) || mcapi_response_status(r) != 200) {
		json_t *e0 = json_array_get(json_object_get(json_array_get(fail, 0), "errors"), 0);
		const char *code = json_string_value(json_object_get(e0, "code"));
		const char *msg = json_string_value(json_object_get(e0, "message"));
		const char *field = json_string_value(json_object_get(e0, "field"));
		if (!json_is_array(fail))
			cli_error("%s: HTTP %ld without the API's envelope", TTP_URL_PATH,
			          mcapi_response_status(r));
		else
			cli_error("%s: HTTP %ld: %s%s%s%s (%s)", TTP_URL_PATH,
			          mcapi_response_status(r), field ? "field '" : "",
			          field ? field : "", field ? "': " : "",
			          msg && *msg ? msg : "the call failed", code ? code : "no code");
		c->failed = 1;
		json_decref(root);
		return 1;
	}
	logs = json_object_get(json_array_get(json_object_get(root, "data"), 0), "clickLogs");
	if (logs && !json_is_array(logs)) {
		cli_error("%s: data[0].clickLogs is not a list", TTP_URL_PATH);
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

static int clicks(struct cli *cli, json_t *req, int as_json)
{
	struct mcapi_client *c = NULL;
	struct clicks got = {json_array(), 0};
	char *text = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc = CLI_FAIL, prc;

	if (!text || !got.logs) {
		rc = cli_error("out of memory");
		goto out;
	}
	if ((rc = cli_client_open(cli, &c)) != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	prc = mcapi_paginate(c, TTP_URL_PATH, text, 0, collect, &got);
	if (got.failed)
		goto out;
	if (prc != 0) {
		cli_error("%s: %s", TTP_URL_PATH, mcapi_client_last_error(c));
		goto out;
	}
	if (as_json) {
		json_dumpf(got.logs, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		print_table(got.logs);
	}
	rc = fflush(stdout) == 0 ? CLI_OK : cli_error("cannot write the output");
out:
	mcapi_client_free(c);
	json_decref(got.logs);
	free(text);
	return rc;
}

int cmd_ttp(struct cli *cli, int argc, char **argv)
{
	json_t *item = NULL, *req = NULL;
	const char *v;
	long page_size = 0;
	int as_json = 0, r, rc, i;

	if (cli_wants_help(argc, argv)) {
		fputs(ttp_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "clicks") != 0)
		return cli_usage_error(ttp_usage, "%s%s%s",
		                       argc < 2 ? "'ttp' needs a sub-command"
		                                : "unknown sub-command '",
		                       argc < 2 ? "" : argv[1], argc < 2 ? "" : "'");
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
			as_json = 1;
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
	rc = clicks(cli, req, as_json);
	goto out;
missing:
	rc = cli_usage_error(ttp_usage, "'%s' needs a value", argv[i]);
out:
	json_decref(item);
	json_decref(req);
	return rc;
}
