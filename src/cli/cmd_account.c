/* mcapi account: the account the profile's keys belong to (API.md §12, get-account). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

static const char account_usage[] =
        "usage: mcapi account\n"
        "\n"
        "Prints the account of the profile's keys (/api/account/get-account) as JSON.\n";

int cmd_account(struct cli *cli, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(account_usage, stdout);
		return CLI_OK;
	}
	if (argc > 1)
		return cli_usage_error(account_usage, "unexpected argument '%s'", argv[1]);
	return cli_run(cli, "/api/account/get-account", NULL, "{\"data\":[]}", 0);
}
