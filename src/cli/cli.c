/* Helpers every mcapi command uses: git-style messages, option matching, opening a client
 * from the profile in effect, and running a call — one page or all of them — with the
 * answer printed as JSON on stdout and each failure explained on stderr. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

int cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (usage)
		fprintf(stderr, "\n%s", usage);
	return CLI_USAGE;
}

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

int cli_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

char *cli_config_path(const struct cli *cli)
{
	return cli->config_path ? strdup(cli->config_path) : mcapi_config_default_path();
}

const char *cli_profile_name(const struct cli *cli)
{
	const char *p = cli->profile;

	if (!p || !*p)
		p = getenv("MCAPI_PROFILE");
	return p && *p ? p : "default";
}

int cli_client_open(struct cli *cli, struct mcapi_client **out)
{
	struct mcapi_config *cfg = NULL;
	struct mcapi_options o;
	char *path = cli_config_path(cli), *msg = NULL;
	int rc = CLI_FAIL;

	*out = NULL;
	if (mcapi_config_load(path, &cfg, &msg) != 0) {
		cli_error("%s", msg ? msg : "cannot read the profiles");
		goto out;
	}
	if (mcapi_config_resolve(cfg, cli->profile, &o, &msg) != 0) {
		if (msg && strstr(msg, "does not exist"))
			cli_error("%s in '%s' (see 'mcapi profile list')", msg, path ? path : "?");
		else
			cli_error("%s", msg ? msg : "bad profile");
		goto out;
	}
	*out = mcapi_client_new(&o, &msg);
	if (!*out) {
		cli_error("profile '%s': %s (see 'mcapi profile set --help')",
		          cli_profile_name(cli), msg ? msg : "cannot create a client");
		goto out;
	}
	rc = CLI_OK;
out:
	mcapi_config_free(cfg);
	free(msg);
	free(path);
	return rc;
}

char *cli_read_stdin(size_t cap)
{
	size_t len = 0, alloc = 4096, n;
	char *p = malloc(alloc), *t;

	if (!p)
		return NULL;
	while ((n = fread(p + len, 1, alloc - len - 1, stdin)) > 0) {
		len += n;
		if (len > cap) {
			free(p);
			return NULL;
		}
		if (alloc - len - 1 == 0) {
			t = realloc(p, alloc * 2);
			if (!t) {
				free(p);
				return NULL;
			}
			p = t;
			alloc *= 2;
		}
	}
	p[len] = '\0';
	return p;
}

/* A short label of a fail entry's key: its domain, id, or first string member. */
static const char *fail_label(json_t *key)
{
	const char *k, *s;
	json_t *v;

	if ((s = json_string_value(json_object_get(key, "domain"))) ||
	    (s = json_string_value(json_object_get(key, "id"))))
		return s;
	json_object_foreach(key, k, v) if (json_is_string(v)) return json_string_value(v);
	return NULL;
}

/* Prints every error of root's fail[] (or the lack of an envelope); 1 if anything failed. */
static int print_failures(json_t *root, long status, const char *body)
{
	json_t *fail = json_object_get(root, "fail"), *f, *e;
	size_t i, j;
	int any = 0;

	if (!json_is_object(root) || !json_is_array(fail)) {
		cli_error("HTTP %ld without the API's envelope%s%.200s", status,
		          body && *body ? ": " : "", body ? body : "");
		return 1;
	}
	json_array_foreach(fail, i, f)
	{
		const char *label = fail_label(json_object_get(f, "key"));
		json_t *errs = json_object_get(f, "errors");
		json_array_foreach(errs, j, e)
		{
			const char *code = json_string_value(json_object_get(e, "code"));
			const char *msg = json_string_value(json_object_get(e, "message"));
			const char *field = json_string_value(json_object_get(e, "field"));
			fputs("error: ", stderr);
			if (label)
				fprintf(stderr, "'%s': ", label);
			else if (status != 200)
				fprintf(stderr, "HTTP %ld: ", status);
			if (field && !label)
				fprintf(stderr, "field '%s': ", field);
			fprintf(stderr, "%s (%s)%s\n", msg && *msg ? msg : "failed",
			        code ? code : "no code",
			        json_is_true(json_object_get(e, "retryable")) ? ", retryable" : "");
			any = 1;
		}
	}
	if (!any && status != 200) {
		cli_error("HTTP %ld", status);
		any = 1;
	}
	return any;
}

static void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
}

struct pages {
	json_t *data; /* every page's data[] */
	json_t *last; /* the last page */
	long status;
	unsigned n;
	int bad; /* a page was not an envelope */
};

static int collect_page(const struct mcapi_response *r, void *arg)
{
	struct pages *p = arg;
	size_t len;
	const char *body = mcapi_response_body(r, &len);
	json_t *root = json_loadb(body, len, 0, NULL);

	p->n++;
	p->status = mcapi_response_status(r);
	json_decref(p->last);
	p->last = root;
	if (!json_is_array(json_object_get(root, "data"))) {
		p->bad = 1;
		return 0;
	}
	json_array_extend(p->data, json_object_get(root, "data"));
	return 0;
}

static int cli_run_all(struct mcapi_client *c, const char *path, const char *text)
{
	struct pages p = {json_array(), NULL, 0, 0, 0};
	json_t *out = NULL, *fail;
	int rc = CLI_FAIL, prc;

	prc = mcapi_paginate(c, path, text, 0, collect_page, &p);
	if (prc != 0 && prc != MCAPI_E_LIMIT) {
		cli_error("%s: %s", path, mcapi_client_last_error(c));
		rc = prc == MCAPI_E_INVALID ? CLI_USAGE : CLI_FAIL;
		goto out;
	}
	if (p.bad) {
		print_failures(p.last, p.status, NULL);
		goto out;
	}
	fail = json_object_get(p.last, "fail");
	fail = fail ? json_incref(fail) : json_array();
	out = json_pack("{s:{s:I,s:{s:I,s:I}},s:O,s:o}", "meta", "status", (json_int_t)p.status,
	                "pagination", "pageSize", (json_int_t)json_array_size(p.data), "pages",
	                (json_int_t)p.n, "data", p.data, "fail", fail);
	if (!out) {
		cli_error("out of memory");
		goto out;
	}
	print_json(out);
	if (prc == MCAPI_E_LIMIT)
		cli_error("%s", mcapi_client_last_error(c));
	else if (!print_failures(p.last, p.status, NULL) && p.status == 200)
		rc = CLI_OK;
out:
	json_decref(out);
	json_decref(p.data);
	json_decref(p.last);
	return rc;
}

int cli_run(struct cli *cli, const char *path, json_t *req, const char *text, int all)
{
	struct mcapi_client *c = NULL;
	struct mcapi_response *r = NULL;
	char *owned = NULL;
	json_t *root = NULL;
	const char *body;
	size_t len;
	int rc;

	if (req) {
		owned = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!owned)
			return cli_error("out of memory");
		text = owned;
	}
	if ((rc = cli_client_open(cli, &c)) != CLI_OK)
		goto out;
	if (all) {
		rc = cli_run_all(c, path, text);
		goto out;
	}
	if (mcapi_call(c, path, text, &r) != 0) {
		rc = cli_error("%s: %s", path, mcapi_client_last_error(c));
		goto out;
	}
	body = mcapi_response_body(r, &len);
	root = json_loadb(body, len, 0, NULL);
	if (root)
		print_json(root);
	else if (len)
		fprintf(stdout, "%s\n", body);
	rc = print_failures(root, mcapi_response_status(r), root ? NULL : body) ||
	                     mcapi_response_status(r) != 200
	             ? CLI_FAIL
	             : CLI_OK;
	if (rc == CLI_OK && mcapi_response_next_token(r))
		fprintf(stderr, "hint: more records follow; use --all to fetch every page\n");
out:
	json_decref(root);
	mcapi_response_free(r);
	mcapi_client_free(c);
	free(owned);
	return rc;
}
