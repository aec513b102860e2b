/* mcapi audit: audit events of API.md §9 between two dates, optionally filtered by a query
 * and categories; --all fetches every page. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static const char audit_usage[] =
        "usage: mcapi audit --from DATE --to DATE [--search TEXT] [--category C]... [--all]\n"
        "                   [--page-size N]\n"
        "       mcapi audit categories\n"
        "\n"
        "   DATE          2024-05-01, 2024-05-01T10:00:00+0000, ...Z or +00:00 (the last 60 days)\n"
        "   --search      text to match in the events (the API's query)\n"
        "   --category    e.g. authentication_logs (repeatable)\n"
        "   --all         fetch every page\n";

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *query = NULL, *v;
	json_t *req = NULL, *item = NULL, *cats = NULL;
	long page_size = 0;
	int all = 0, rc, r;

	if (cli_wants_help(argc, argv)) {
		fputs(audit_usage, stdout);
		return CLI_OK;
	}
	if (argc == 2 && strcmp(argv[1], "categories") == 0)
		return cli_run(cli, "/api/audit/get-categories", NULL, "{\"data\":[]}", 0);
	cats = json_array();
	if (!cats)
		return cli_error("out of memory");
	for (int i = 1; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--from", &v)) != 0) {
			if (r < 0)
				goto missing;
			from = v;
		} else if ((r = cli_opt_value(argc, argv, &i, "--to", &v)) != 0) {
			if (r < 0)
				goto missing;
			to = v;
		} else if ((r = cli_opt_value(argc, argv, &i, "--search", &v)) != 0) {
			if (r < 0)
				goto missing;
			query = v;
		} else if ((r = cli_opt_value(argc, argv, &i, "--category", &v)) != 0) {
			if (r < 0)
				goto missing;
			json_array_append_new(cats, json_string(v));
		} else if ((r = cli_opt_value(argc, argv, &i, "--page-size", &v)) != 0) {
			char *end;
			if (r < 0)
				goto missing;
			errno = 0;
			page_size = strtol(v, &end, 10);
			if (errno || *end || page_size < 1 || page_size > 500) {
				rc = cli_usage_error(audit_usage, "'--page-size' must be 1..500");
				goto out;
			}
		} else if (strcmp(argv[i], "--all") == 0) {
			all = 1;
		} else {
			rc = cli_usage_error(audit_usage, "unexpected argument '%s'", argv[i]);
			goto out;
		}
	}
	if (!from || !to) {
		rc = cli_usage_error(audit_usage, "'--from' and '--to' are required");
		goto out;
	}
	item = json_pack("{s:s,s:s}", "startDateTime", from, "endDateTime", to);
	if (!item || (query && json_object_set_new(item, "query", json_string(query))) ||
	    (json_array_size(cats) && json_object_set(item, "categories", cats))) {
		rc = cli_error("out of memory");
		goto out;
	}
	req = json_pack("{s:[O]}", "data", item);
	if (req && page_size)
		json_object_set_new(
		        req, "meta",
		        json_pack("{s:{s:I}}", "pagination", "pageSize", (json_int_t)page_size));
	if (!req) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = cli_run(cli, "/api/audit/get-audit-events", req, NULL, all);
	goto out;
missing:
	rc = cli_usage_error(audit_usage, "'%s' needs a value", argv[argc - 1]);
out:
	json_decref(cats);
	json_decref(item);
	json_decref(req);
	return rc;
}
