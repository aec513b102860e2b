/* mcapi senders: the sender policies of API.md §18 — permit or block one sender for one
 * recipient (managed senders), and the blocked-senders policies (list, create, delete).
 * Each sub-command builds the request items from its arguments and prints the answer. */
#include "cli.h"
#include "subcmd.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

static const char senders_usage[] =
        "usage: mcapi senders permit SENDER --to ADDRESS\n"
        "       mcapi senders block SENDER --to ADDRESS\n"
        "       mcapi senders policies list [--id ID]\n"
        "       mcapi senders policies create --description TEXT [--option "
        "block_sender|no_action]\n"
        "                [--from-type TYPE] [--from VALUE] [--to-type TYPE] [--to VALUE]\n"
        "                [--from-part envelope_from|header_from|both] [--bidirectional]\n"
        "       mcapi senders policies delete ID...\n"
        "\n"
        "   permit    let SENDER through to ADDRESS without spam or impersonation checks\n"
        "   block     refuse mail from SENDER to ADDRESS (550 at SMTP time)\n"
        "   policies  blocked-senders policies; TYPE is everyone, email_domain,\n"
        "             individual_email_address, internal_addresses, external_addresses or\n"
        "             profile_group (VALUE is then a group id)\n";

static int append(json_t *data, json_t *item)
{
	if (!item || json_array_append_new(data, item))
		return cli_error("out of memory");
	return CLI_OK;
}

static int managed(struct cli *cli, int argc, char **argv, json_t *data, json_t *req)
{
	const char *sender = NULL, *to = NULL, *v;
	int r;

	for (int i = 2; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--to", &v)) != 0) {
			if (r < 0 || !*v)
				return cli_usage_error(senders_usage, "'--to' needs an address");
			to = v;
		} else if (argv[i][0] == '-' || sender) {
			return cli_usage_error(senders_usage, "unexpected '%s'", argv[i]);
		} else {
			sender = argv[i];
		}
	}
	if (!sender || !to)
		return cli_usage_error(senders_usage, "'senders %s' needs SENDER and --to ADDRESS",
		                       argv[1]);
	if (append(data,
	           json_pack("{s:s, s:s, s:s}", "sender", sender, "to", to, "action", argv[1])))
		return CLI_FAIL;
	return cli_run(cli, "/api/managedsender/permit-or-block-sender", req, NULL, 0);
}

static int policies(struct cli *cli, int argc, char **argv, json_t *data, json_t *req)
{
	const char *sub = argc > 2 ? argv[2] : "", *v;
	json_t *pol = NULL;
	const char *option = "block_sender";
	int r, rc;

	if (!strcmp(sub, "list")) {
		for (int i = 3; i < argc; i++) {
			if ((r = cli_opt_value(argc, argv, &i, "--id", &v)) == 0 || r < 0)
				return cli_usage_error(senders_usage, "unexpected '%s'", argv[i]);
			if (append(data, json_pack("{s:s}", "id", v)))
				return CLI_FAIL;
		}
		return cli_run(cli, "/api/policy/blockedsenders/get-policy", req, NULL, 0);
	}
	if (!strcmp(sub, "delete")) {
		if (argc < 4)
			return cli_usage_error(senders_usage, "'policies delete' needs an ID");
		for (int i = 3; i < argc; i++)
			if (append(data, json_pack("{s:s}", "id", argv[i])))
				return CLI_FAIL;
		return cli_run(cli, "/api/policy/blockedsenders/delete-policy", req, NULL, 0);
	}
	if (strcmp(sub, "create") != 0)
		return cli_usage_error(senders_usage, "'policies' takes list, create or delete");
	if (!(pol = json_object()))
		return cli_error("out of memory");
	static const struct {
		const char *opt, *key;
	} opts[] = {
	        {"--description", "description"},
	        {"--from-type", "fromType"},
	        {"--from", "fromValue"},
	        {"--to-type", "toType"},
	        {"--to", "toValue"},
	        {"--from-part", "fromPart"},
	        {"--comment", "comment"},
	};
	for (int i = 3; i < argc; i++) {
		int done = 0;
		if (!strcmp(argv[i], "--bidirectional")) {
			json_object_set_new(pol, "bidirectional", json_true());
			continue;
		}
		if ((r = cli_opt_value(argc, argv, &i, "--option", &v)) != 0) {
			if (r < 0) {
				rc = cli_usage_error(senders_usage, "'--option' needs a value");
				goto out;
			}
			option = v;
			continue;
		}
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]) && !done; k++) {
			if ((r = cli_opt_value(argc, argv, &i, opts[k].opt, &v)) == 0)
				continue;
			if (r < 0) {
				rc = cli_usage_error(senders_usage, "'%s' needs a value",
				                     opts[k].opt);
				goto out;
			}
			json_object_set_new(pol, opts[k].key, json_string(v));
			done = 1;
		}
		if (!done) {
			rc = cli_usage_error(senders_usage, "unexpected '%s'", argv[i]);
			goto out;
		}
	}
	if (!json_object_get(pol, "description")) {
		rc = cli_usage_error(senders_usage, "'policies create' needs --description");
		goto out;
	}
	rc = append(data, json_pack("{s:s, s:O}", "option", option, "policy", pol));
	if (!rc)
		rc = cli_run(cli, "/api/policy/blockedsenders/create-policy", req, NULL, 0);
out:
	json_decref(pol);
	return rc;
}

int cmd_senders(struct cli *cli, int argc, char **argv)
{
	json_t *req = NULL, *data;
	int rc;

	if ((rc = sub_help(argc, argv, senders_usage)) >= 0)
		return rc;
	req = json_object();
	data = json_array();
	if (!req || !data || json_object_set_new(req, "data", data)) {
		json_decref(req);
		return cli_error("out of memory");
	}
	if (!strcmp(argv[1], "permit") || !strcmp(argv[1], "block"))
		rc = managed(cli, argc, argv, data, req);
	else if (!strcmp(argv[1], "policies"))
		rc = policies(cli, argc, argv, data, req);
	else
		rc = cli_usage_error(senders_usage, "'%s' is not a senders command", argv[1]);
	json_decref(req);
	return rc;
}
