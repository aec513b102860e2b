/* mcapi domain: the domain API of API.md §5 — create, pending, verify, code, status,
 * internal, delete — each a sub-command that builds the request items from its arguments.
 * The list sub-commands take --all (every page) and --page-size. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static const char domain_usage[] =
        "usage: mcapi domain create NAME... [--inbound any|smtp|ldap|known]\n"
        "       mcapi domain pending [NAME...] [--all] [--page-size N]\n"
        "       mcapi domain verify NAME... [--inbound TYPE]\n"
        "       mcapi domain code NAME...\n"
        "       mcapi domain dns NAME...\n"
        "       mcapi domain status [NAME...] [--all] [--page-size N]\n"
        "       mcapi domain internal [NAME...] [--all] [--page-size N]\n"
        "       mcapi domain delete NAME... | --id ID...\n"
        "\n"
        "   create    register domains; each pending one gets a token to publish as a TXT record\n"
        "             (--inbound defaults to 'any')\n"
        "   pending   list pending registrations (optionally only NAMEs)\n"
        "   verify    check the TXT record now and make the domain internal when it matches\n"
        "   code      print the verification token of pending domains\n"
        "   dns       the DNS record to publish for pending domains: name, type (TXT), value\n"
        "   status    provisioning status of NAMEs, or of every domain\n"
        "   internal  list verified (internal) domains\n"
        "   delete    remove pending registrations\n";

struct domain_sub {
	const char *name;
	const char *path;
	int names;   /* 1: NAMEs required, 0: optional filters */
	int inbound; /* takes --inbound */
	int list;    /* takes --all and --page-size */
	int ids;     /* takes --id */
};

static const struct domain_sub domain_subs[] = {
        {"create", "/api/domain/create-domain", 1, 1, 0, 0},
        {"pending", "/api/domain/get-pending-domain", 0, 0, 1, 0},
        {"verify", "/api/domain/verify-domain", 1, 1, 0, 0},
        {"code", "/api/domain/get-verification-code", 1, 0, 0, 0},
        {"dns", "/api/domain/get-verification-code", 1, 0, 0, 0},
        {"status", "/api/domain/get-provision-status", 0, 0, 1, 0},
        {"internal", "/api/domain/get-internal-domain", 0, 0, 1, 0},
        {"delete", "/api/domain/delete-pending-domain", 1, 0, 0, 1},
};

/* domain dns: each {domain, token} of get-verification-code becomes the record to publish
 * (api.md §5: the TXT records of the domain itself are compared with the token). */
static void dns_records(json_t *root)
{
	json_t *data = json_object_get(root, "data"), *item, *rec;
	size_t i;

	json_array_foreach(data, i, item)
	{
		const char *d = json_string_value(json_object_get(item, "domain"));
		const char *t = json_string_value(json_object_get(item, "token"));
		if (!d || !t)
			continue;
		rec = json_pack("{s:s,s:s,s:s,s:s}", "domain", d, "name", d, "type", "TXT", "value",
		                t);
		if (rec)
			json_array_set_new(data, i, rec);
	}
}

static int inbound_ok(const char *v)
{
	return !strcmp(v, "any") || !strcmp(v, "smtp") || !strcmp(v, "ldap") || !strcmp(v, "known");
}

int cmd_domain(struct cli *cli, int argc, char **argv)
{
	const struct domain_sub *sub = NULL;
	const char *inbound = NULL, *v;
	json_t *req = NULL, *data, *item;
	long page_size = 0;
	int all = 0, rc, r, items = 0;

	if (argc < 2 || (argc == 2 && cli_wants_help(argc, argv)) || !strcmp(argv[1], "help")) {
		fputs(domain_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	for (size_t i = 0; i < sizeof(domain_subs) / sizeof(domain_subs[0]); i++)
		if (strcmp(domain_subs[i].name, argv[1]) == 0)
			sub = &domain_subs[i];
	if (!sub)
		return cli_usage_error(domain_usage, "'%s' is not a domain command", argv[1]);
	if (cli_wants_help(argc, argv)) {
		fputs(domain_usage, stdout);
		return CLI_OK;
	}
	req = json_object();
	data = json_array();
	if (!req || !data || json_object_set_new(req, "data", data)) {
		json_decref(req);
		return cli_error("out of memory");
	}
	for (int i = 2; i < argc; i++) {
		if (sub->inbound && (r = cli_opt_value(argc, argv, &i, "--inbound", &v)) != 0) {
			if (r < 0 || !inbound_ok(v)) {
				rc = cli_usage_error(
				        domain_usage,
				        "'--inbound' must be any, smtp, ldap or known");
				goto out;
			}
			inbound = v;
		} else if (sub->list && strcmp(argv[i], "--all") == 0) {
			all = 1;
		} else if (sub->list &&
		           (r = cli_opt_value(argc, argv, &i, "--page-size", &v)) != 0) {
			char *end;
			errno = 0;
			page_size = r > 0 ? strtol(v, &end, 10) : 0;
			if (r < 0 || errno || *end || page_size < 1 || page_size > 500) {
				rc = cli_usage_error(domain_usage, "'--page-size' must be 1..500");
				goto out;
			}
		} else if (sub->ids && (r = cli_opt_value(argc, argv, &i, "--id", &v)) != 0) {
			if (r < 0 || !*v) {
				rc = cli_usage_error(domain_usage, "'--id' needs a value");
				goto out;
			}
			item = json_pack("{s:s}", "id", v);
			if (!item || json_array_append_new(data, item)) {
				rc = cli_error("out of memory");
				goto out;
			}
			items++;
		} else if (argv[i][0] == '-') {
			rc = cli_usage_error(domain_usage, "unknown option '%s' for 'domain %s'",
			                     argv[i], sub->name);
			goto out;
		} else {
			if (!*argv[i]) {
				rc = cli_usage_error(domain_usage, "empty domain name");
				goto out;
			}
			item = json_pack("{s:s}", "domain", argv[i]);
			if (!item || json_array_append_new(data, item)) {
				rc = cli_error("out of memory");
				goto out;
			}
			items++;
		}
	}
	if (sub->names && items == 0) {
		rc = cli_usage_error(domain_usage, "'domain %s' needs at least one domain name",
		                     sub->name);
		goto out;
	}
	if (items > 50) {
		rc = cli_usage_error(domain_usage, "at most 50 domains per call");
		goto out;
	}
	if (sub->inbound && (inbound || strcmp(sub->name, "create") == 0)) {
		size_t i;
		json_array_foreach(data, i, item) json_object_set_new(
		        item, "inboundType", json_string(inbound ? inbound : "any"));
	}
	if (page_size) {
		json_t *meta =
		        json_pack("{s:{s:I}}", "pagination", "pageSize", (json_int_t)page_size);
		if (!meta || json_object_set_new(req, "meta", meta)) {
			rc = cli_error("out of memory");
			goto out;
		}
	}
	if (strcmp(sub->name, "dns") == 0)
		cli->shape = dns_records;
	rc = cli_run(cli, sub->path, req, NULL, all);
out:
	json_decref(req);
	return rc;
}
