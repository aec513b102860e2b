/* mcapi users and mcapi groups: the directory of API.md §17. Each sub-command is a row of a
 * table naming its path, its positional argument (the field it fills) and the options it
 * takes, each mapped to a field of the one request item; add and remove make one item per
 * --email or --domain. List sub-commands take --all (every page) and --page-size. Passwords
 * are read from stdin (--password-stdin), never from the command line. */
#include "cli.h"
#include "subcmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static const char users_usage[] =
        "usage: mcapi users list [--domain D] [--all] [--page-size N]\n"
        "       mcapi users create EMAIL [--name NAME] [--password-stdin]\n"
        "       mcapi users update EMAIL [--name NAME] [--password-stdin] [--disable|--enable]\n"
        "                                [--lock|--unlock]\n"
        "\n"
        "   list    the account's users (mailboxes), optionally of one domain\n"
        "   create  a user of an internal domain; it receives mail at once\n"
        "   update  rename, set the password, disable or lock a user\n";

static const char groups_usage[] =
        "usage: mcapi groups list [--search TEXT] [--source cloud|ldap] [--all] [--page-size N]\n"
        "       mcapi groups members ID [--all] [--page-size N]\n"
        "       mcapi groups create NAME [--parent ID]\n"
        "       mcapi groups add ID (--email ADDRESS | --domain DOMAIN)...\n"
        "       mcapi groups remove ID (--email ADDRESS | --domain DOMAIN)...\n"
        "\n"
        "   list     find groups (folders) by name\n"
        "   members  list the members of a group\n"
        "   create   a group, under --parent (a group id) or at the top\n"
        "   add      add addresses or domains to a group\n"
        "   remove   remove addresses or domains from a group\n";

#define MAX_OPTS 4

struct opt {
	const char *name;  /* "--name" */
	const char *field; /* JSON field it sets; NULL for flags handled by value */
	const char *value; /* flags: the JSON value "true"/"false" of field */
};

struct dir_sub {
	const char *name;
	const char *path;
	const char *positional; /* field of the required positional argument, or NULL */
	int list;               /* --all, --page-size */
	int members;            /* add/remove: --email/--domain make one item each */
	int password;           /* --password-stdin */
	struct opt opts[MAX_OPTS];
};

static const struct dir_sub users_subs[] = {
        {"list", "/api/user/get-internal-users", NULL, 1, 0, 0, {{"--domain", "domain", NULL}}},
        {"create", "/api/user/create-user", "emailAddress", 0, 0, 1, {{"--name", "name", NULL}}},
        {"update",
         "/api/user/update-user",
         "emailAddress",
         0,
         0,
         1,
         {{"--name", "name", NULL},
          {"--disable", "accountDisabled", "true"},
          {"--enable", "accountDisabled", "false"},
          {"--lock", "accountLocked", "true"}}},
};

static const struct dir_sub groups_subs[] = {
        {"list",
         "/api/directory/find-groups",
         NULL,
         1,
         0,
         0,
         {{"--search", "query", NULL}, {"--source", "source", NULL}}},
        {"members", "/api/directory/get-group-members", "id", 1, 0, 0, {{NULL, NULL, NULL}}},
        {"create",
         "/api/directory/create-group",
         "description",
         0,
         0,
         0,
         {{"--parent", "parentId", NULL}}},
        {"add", "/api/directory/add-group-member", "id", 0, 1, 0, {{NULL, NULL, NULL}}},
        {"remove", "/api/directory/remove-group-member", "id", 0, 1, 0, {{NULL, NULL, NULL}}},
};

/* Reads the password from stdin, without its final newline. malloc'd, or NULL. */
static char *read_password(void)
{
	char *pw = cli_read_stdin(4096);
	size_t n;

	if (!pw)
		return NULL;
	n = strlen(pw);
	while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
		pw[--n] = '\0';
	return pw;
}

/* --email ADDRESS or --domain DOMAIN: 1 with *field and *val, 0 for another argument, -1 when
 * the value is missing. */
static int member_opt(int argc, char **argv, int *i, const char **field, const char **val)
{
	int r = cli_opt_value(argc, argv, i, "--email", val);

	*field = "emailAddress";
	if (r == 0) {
		r = cli_opt_value(argc, argv, i, "--domain", val);
		*field = "domain";
	}
	return r;
}

static int run_sub(struct cli *cli, const char *usage, const char *what, const struct dir_sub *sub,
                   int argc, char **argv)
{
	json_t *req = json_object(), *data = json_array(), *item = json_object(), *members = NULL;
	const char *positional = NULL, *v, *field;
	char *password = NULL;
	long page_size = 0;
	int all = 0, rc = CLI_OK, r, done;

	if (!req || !data || !item || json_object_set_new(req, "data", data)) {
		json_decref(req);
		json_decref(item);
		return cli_error("out of memory");
	}
	if (sub->members && !(members = json_array())) {
		rc = cli_error("out of memory");
		goto out;
	}
	for (int i = 2; i < argc; i++) {
		done = 0;
		for (int k = 0; k < MAX_OPTS && sub->opts[k].name && !done; k++) {
			const struct opt *o = &sub->opts[k];
			if (o->value) {
				if (strcmp(argv[i], o->name) == 0) {
					json_object_set_new(
					        item, o->field,
					        json_boolean(strcmp(o->value, "true") == 0));
					done = 1;
				}
			} else if ((r = cli_opt_value(argc, argv, &i, o->name, &v)) != 0) {
				if (r < 0) {
					rc = cli_usage_error(usage, "'%s' needs a value", o->name);
					goto out;
				}
				json_object_set_new(item, o->field, json_string(v));
				done = 1;
			}
		}
		if (done)
			continue;
		if (strcmp(sub->name, "update") == 0 && strcmp(argv[i], "--unlock") == 0) {
			json_object_set_new(item, "accountLocked", json_false());
		} else if (sub->password && strcmp(argv[i], "--password-stdin") == 0) {
			free(password);
			if (!(password = read_password()) || !*password) {
				rc = cli_error("no password on stdin");
				goto out;
			}
		} else if (sub->members && (r = member_opt(argc, argv, &i, &field, &v)) != 0) {
			json_t *m;
			if (r < 0 || !*v) {
				rc = cli_usage_error(usage,
				                     "'--email' and '--domain' need a value");
				goto out;
			}
			m = json_pack("{s:s}", field, v);
			if (!m || json_array_append_new(members, m)) {
				rc = cli_error("out of memory");
				goto out;
			}
		} else if (sub->list && strcmp(argv[i], "--all") == 0) {
			all = 1;
		} else if (sub->list &&
		           (r = cli_opt_value(argc, argv, &i, "--page-size", &v)) != 0) {
			char *end;
			errno = 0;
			page_size = r > 0 ? strtol(v, &end, 10) : 0;
			if (r < 0 || errno || *end || page_size < 1 || page_size > 500) {
				rc = cli_usage_error(usage, "'--page-size' must be 1..500");
				goto out;
			}
		} else if (cli_is_option(argv[i]) || !sub->positional || positional) {
			rc = cli_usage_error(usage, "unexpected argument '%s' for '%s %s'", argv[i],
			                     what, sub->name);
			goto out;
		} else {
			positional = argv[i];
		}
	}
	if (sub->positional && !positional) {
		rc = cli_usage_error(usage, "'%s %s' needs its %s", what, sub->name,
		                     sub->positional);
		goto out;
	}
	if (positional)
		json_object_set_new(item, sub->positional, json_string(positional));
	if (password)
		json_object_set_new(item, "password", json_string(password));
	if (sub->members) {
		size_t k;
		json_t *m;
		if (json_array_size(members) == 0) {
			rc = cli_usage_error(usage, "'%s %s' needs --email or --domain", what,
			                     sub->name);
			goto out;
		}
		json_array_foreach(members, k, m)
		{
			json_object_set(m, "id", json_object_get(item, "id"));
			json_array_append(data, m);
		}
	} else if (json_object_size(item) > 0) {
		json_array_append(data, item);
	}
	if (page_size) {
		json_t *meta =
		        json_pack("{s:{s:I}}", "pagination", "pageSize", (json_int_t)page_size);
		if (!meta || json_object_set_new(req, "meta", meta)) {
			rc = cli_error("out of memory");
			goto out;
		}
	}
	rc = cli_run(cli, sub->path, req, NULL, all);
out:
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	json_decref(members);
	json_decref(item);
	json_decref(req);
	return rc;
}

static int dispatch(struct cli *cli, int argc, char **argv, const char *usage, const char *what,
                    const struct dir_sub *subs, size_t n)
{
	int rc = sub_help(argc, argv, usage);

	if (rc >= 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (strcmp(subs[i].name, argv[1]) == 0)
			return run_sub(cli, usage, what, &subs[i], argc, argv);
	return cli_usage_error(usage, "'%s' is not a %s command", argv[1], what);
}

int cmd_users(struct cli *cli, int argc, char **argv)
{
	return dispatch(cli, argc, argv, users_usage, "users", users_subs,
	                sizeof(users_subs) / sizeof(users_subs[0]));
}

int cmd_groups(struct cli *cli, int argc, char **argv)
{
	return dispatch(cli, argc, argv, groups_usage, "groups", groups_subs,
	                sizeof(groups_subs) / sizeof(groups_subs[0]));
}
