/* The engine of table-described sub-commands (subcmd.h): parse the arguments against the row,
 * build {"data": [items], "meta": {"pagination": {"pageSize": N}}?} and run it. Everything
 * that is not in the row is a usage error (exit 2) before any call is made. */
#include "subcmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* Sets the dotted field of obj to v (stolen), creating the objects on the way. 0 or -1. */
static int set_path(json_t *obj, const char *field, json_t *v)
{
	const char *dot = strchr(field, '.');
	char head[64];
	json_t *child;

	if (!v)
		return -1;
	if (!dot)
		return json_object_set_new(obj, field, v);
	snprintf(head, sizeof(head), "%.*s", (int)(dot - field), field);
	child = json_object_get(obj, head);
	if (!json_is_object(child)) {
		child = json_object();
		if (!child || json_object_set_new(obj, head, child) != 0) {
			json_decref(v);
			return -1;
		}
	}
	return set_path(child, dot + 1, v);
}

static int add_filter(json_t *item, const char *field, const char *name, const char *value)
{
	json_t *list = json_object_get(item, field);

	if (!json_is_array(list)) {
		list = json_array();
		if (!list || json_object_set_new(item, field, list) != 0)
			return -1;
	}
	return json_array_append_new(list,
	                             json_pack("{s:s,s:s}", "fieldName", name, "value", value));
}

static int run_row(struct cli *cli, const char *usage, const char *what, const struct sub_cmd *s,
                   int argc, char **argv)
{
	json_t *req = json_object(), *data = json_array(), *item = json_object(),
	       *pos = json_array();
	const char *v;
	long page_size = 0;
	int all = 0, rc = CLI_OK, r, done, have_required = s->required == NULL;

	if (!req || !data || !item || !pos || json_object_set_new(req, "data", data)) {
		rc = cli_error("out of memory");
		goto out;
	}
	for (int i = 2; i < argc; i++) {
		done = 0;
		for (int k = 0; k < SUB_OPTS_MAX && s->opts[k].flag && !done; k++) {
			const struct sub_opt *o = &s->opts[k];
			if (o->kind == SO_TRUE || o->kind == SO_FALSE) {
				if (strcmp(argv[i], o->flag) != 0)
					continue;
				if (set_path(item, o->field, json_boolean(o->kind == SO_TRUE))) {
					rc = cli_error("out of memory");
					goto out;
				}
			} else {
				if ((r = cli_opt_value(argc, argv, &i, o->flag, &v)) == 0)
					continue;
				if (r < 0 || !*v) {
					rc = cli_usage_error(usage, "'%s' needs a value", o->flag);
					goto out;
				}
				if (o->kind == SO_FILTER
				            ? add_filter(item, o->field, o->arg, v)
				            : set_path(item, o->field, json_string(v))) {
					rc = cli_error("out of memory");
					goto out;
				}
			}
			if (s->required && strcmp(o->flag, s->required) == 0)
				have_required = 1;
			done = 1;
		}
		if (done)
			continue;
		if ((s->flags & SUB_LIST) && strcmp(argv[i], "--all") == 0) {
			all = 1;
		} else if ((s->flags & SUB_LIST) &&
		           (r = cli_opt_value(argc, argv, &i, "--page-size", &v)) != 0) {
			char *end;
			errno = 0;
			page_size = r > 0 ? strtol(v, &end, 10) : 0;
			if (r < 0 || errno || *end || page_size < 1 || page_size > 500) {
				rc = cli_usage_error(usage, "'--page-size' must be 1..500");
				goto out;
			}
		} else if (cli_is_option(argv[i]) || !s->positional ||
		           ((s->flags & SUB_ONE) && json_array_size(pos))) {
			rc = cli_usage_error(usage, "unexpected argument '%s' for '%s %s'", argv[i],
			                     what, s->name);
			goto out;
		} else {
			json_array_append_new(pos, json_string(argv[i]));
		}
	}
	if (s->positional && !json_array_size(pos)) {
		rc = cli_usage_error(usage, "'%s %s' needs its %s", what, s->name, s->positional);
		goto out;
	}
	if (!have_required) {
		rc = cli_usage_error(usage, "'%s %s' needs %s", what, s->name, s->required);
		goto out;
	}
	if (json_array_size(pos) > 50) {
		rc = cli_usage_error(usage, "at most 50 per call");
		goto out;
	}
	if (s->flags & SUB_EACH) {
		size_t k;
		json_t *p;
		json_array_foreach(pos, k, p)
		{
			json_t *it = json_deep_copy(item);
			if (!it || json_object_set(it, s->positional, p) ||
			    json_array_append_new(data, it)) {
				rc = cli_error("out of memory");
				goto out;
			}
		}
	} else {
		if (s->flags & SUB_ARRAY)
			json_object_set(item, s->positional, pos);
		else if (s->flags & SUB_ONE)
			json_object_set(item, s->positional, json_array_get(pos, 0));
		if (!(s->flags & SUB_NOITEM) && json_object_size(item))
			json_array_append(data, item);
	}
	if (page_size && set_path(req, "meta.pagination.pageSize", json_integer(page_size))) {
		rc = cli_error("out of memory");
		goto out;
	}
	rc = cli_run(cli, s->path, req, NULL, all);
out:
	json_decref(pos);
	json_decref(item);
	json_decref(req);
	return rc;
}

int sub_help(int argc, char **argv, const char *usage)
{
	if (argc < 2 || (argc == 2 && cli_wants_help(argc, argv)) || !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	return -1;
}

int sub_dispatch(struct cli *cli, int argc, char **argv, const char *usage, const char *what,
                 const struct sub_cmd *subs, size_t n)
{
	int rc = sub_help(argc, argv, usage);

	if (rc >= 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (strcmp(subs[i].name, argv[1]) == 0)
			return run_row(cli, usage, what, &subs[i], argc, argv);
	return cli_usage_error(usage, "'%s' is not a %s command", argv[1], what);
}
