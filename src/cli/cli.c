/* Helpers every mcapi command uses: git-style messages, option matching, opening a client
 * from the profile in effect, and running a call — one page or all of them — with the
 * answer printed as JSON on stdout and each failure explained on stderr. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
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

int cli_is_option(const char *arg)
{
	return arg[0] == '-' && (arg[1] == '-' || (arg[1] && !arg[2]));
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

/* A decimal flag value in [lo, hi]; 0 or -1. */
static int flag_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int cli_options(struct cli *cli, struct mcapi_config **cfg_out, struct mcapi_options *o)
{
	char *path = cli_config_path(cli), *msg = NULL;
	int rc = CLI_FAIL;
	long n;

	*cfg_out = NULL;
	if (mcapi_config_load(path, cfg_out, &msg) != 0) {
		cli_error("%s", msg ? msg : "cannot read the profiles");
		goto out;
	}
	if (mcapi_config_resolve(*cfg_out, cli->profile, o, &msg) != 0) {
		if (msg && strstr(msg, "does not exist"))
			cli_error("%s in '%s' (see 'mcapi profile list')", msg, path ? path : "?");
		else
			cli_error("%s", msg ? msg : "bad profile");
		goto out;
	}
	/* flags win over the environment and the profile */
	if (cli->base_url)
		o->base_url = cli->base_url;
	if (cli->app_id)
		o->app_id = cli->app_id;
	if (cli->timeout_ms) {
		if (flag_long(cli->timeout_ms, 0, 3600000L, &n)) {
			rc = cli_usage_error(NULL, "'--timeout-ms' must be 0..3600000");
			goto out;
		}
		o->timeout_ms = n;
	}
	if (cli->max_retries) {
		if (flag_long(cli->max_retries, 0, 100, &n)) {
			rc = cli_usage_error(NULL, "'--max-retries' must be 0..100");
			goto out;
		}
		o->max_retries = (int)n;
	}
	rc = CLI_OK;
out:
	free(msg);
	free(path);
	return rc;
}

/* ---- --verbose, --debug and the notes on waits ---- */

/* 1 if a JSON member of this name holds a secret that a trace must not show. */
static int secret_member(const char *k)
{
	static const char *const words[] = {"password", "secret",  "accesskey",    "access_key",
	                                    "appkey",   "app_key", "authorization"};
	char low[64];
	size_t n = 0;

	for (; k[n] && n < sizeof(low) - 1; n++)
		low[n] = (char)tolower((unsigned char)k[n]);
	low[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(low, words[i]))
			return 1;
	return 0;
}

static void mask_secrets(json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, c)
		{
			if (secret_member(k) && !json_is_object(c) && !json_is_array(c))
				json_object_set_new(v, k, json_string("****"));
			else
				mask_secrets(c);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c) mask_secrets(c);
	}
}

/* Passwords echoed back in an answer (a fail[] entry's key is the item as sent, and a
 * users create item holds the password) are masked before anything is printed. */
static void mask_passwords(json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, c)
		{
			if (strcasestr(k, "password") && json_is_string(c))
				json_object_set_new(v, k, json_string("****"));
			else
				mask_passwords(c);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c) mask_passwords(c);
	}
}

#define TRACE_BODY_MAX 4096

/* A body for --debug: JSON with its secret members masked and cut to TRACE_BODY_MAX, or a
 * note of its size (a Python literal or a file is not shown: it could hold anything). */
static void trace_body(char dir, const char *body, size_t len)
{
	json_t *v = len ? json_loadb(body, len, 0, NULL) : NULL;
	char *s;

	if (!len)
		return;
	if (!v) {
		fprintf(stderr, "%c (%zu bytes, not JSON: not shown)\n", dir, len);
		return;
	}
	mask_secrets(v);
	s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(v);
	if (!s)
		return;
	if (strlen(s) > TRACE_BODY_MAX)
		fprintf(stderr, "%c %.*s... (%zu bytes)\n", dir, TRACE_BODY_MAX, s, len);
	else
		fprintf(stderr, "%c %s\n", dir, s);
	free(s);
}

static void trace_headers(char dir, const char *h)
{
	while (h && *h) {
		size_t n = strcspn(h, "\n");
		fprintf(stderr, "%c %.*s\n", dir, (int)n, h);
		h += n + (h[n] == '\n');
	}
}

static void on_trace(const struct mcapi_trace *t, void *arg)
{
	struct cli *cli = arg;

	switch (t->kind) {
	case MCAPI_TRACE_REQUEST:
		if (!cli->verbose)
			return;
		if (cli->progress)
			fputs("\r\033[K", stderr);
		fprintf(stderr, "> POST %s (attempt %d of %d, x-mc-req-id %s)\n", t->url,
		        t->attempt, t->max_attempts, t->req_id);
		if (cli->verbose > 1) {
			trace_headers('>', t->headers);
			trace_body('>', t->body, t->body_len);
		}
		break;
	case MCAPI_TRACE_RESPONSE:
		if (!cli->verbose)
			return;
		fprintf(stderr, "< HTTP %ld (%ld ms, %zu bytes)\n", t->status, t->elapsed_ms,
		        t->body_len);
		if (cli->verbose > 1) {
			trace_headers('<', t->headers);
			trace_body('<', t->body, t->body_len);
		}
		break;
	case MCAPI_TRACE_ERROR:
		if (cli->verbose)
			fprintf(stderr, "! %s (after %ld ms)\n", t->message ? t->message : "failed",
			        t->elapsed_ms);
		break;
	case MCAPI_TRACE_RETRY:
		/* always said: a wait must never look like a hang */
		if (cli->progress)
			fputs("\r\033[K", stderr);
		if (t->status)
			fprintf(stderr, "note: HTTP %ld%s; retrying in %.1f s (attempt %d of %d)\n",
			        t->status, t->status == 429 ? " (rate limited)" : "",
			        (double)t->wait_ms / 1000.0, t->attempt + 1, t->max_attempts);
		else
			fprintf(stderr, "note: %s; retrying in %.1f s (attempt %d of %d)\n",
			        t->message ? t->message : "no answer", (double)t->wait_ms / 1000.0,
			        t->attempt + 1, t->max_attempts);
		break;
	}
	fflush(stderr);
}

int cli_client_open(struct cli *cli, struct mcapi_client **out)
{
	struct mcapi_config *cfg = NULL;
	struct mcapi_options o;
	char *msg = NULL;
	int rc;

	*out = NULL;
	mcapi_options_init(&o);
	if ((rc = cli_options(cli, &cfg, &o)) != CLI_OK)
		goto out;
	*out = mcapi_client_new(&o, &msg);
	if (!*out) {
		cli_error("profile '%s': %s (see 'mcapi configure' or 'mcapi profile set --help')",
		          cli_profile_name(cli), msg ? msg : "cannot create a client");
		rc = CLI_AUTH;
		goto out;
	}
	mcapi_client_set_trace(*out, on_trace, cli);
	rc = CLI_OK;
out:
	mcapi_config_free(cfg);
	free(msg);
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
	    (s = json_string_value(json_object_get(key, "id"))) ||
	    (s = json_string_value(json_object_get(key, "emailAddress"))) ||
	    (s = json_string_value(json_object_get(key, "url"))))
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

struct pages {
	struct cli *cli;
	const char *path;
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

	mask_passwords(root);
	p->n++;
	p->status = mcapi_response_status(r);
	json_decref(p->last);
	p->last = root;
	if (!json_is_array(json_object_get(root, "data"))) {
		p->bad = 1;
		return 0;
	}
	json_array_extend(p->data, json_object_get(root, "data"));
	cli_progress(p->cli, 0, "%s: %u page%s, %zu records", p->path, p->n, p->n == 1 ? "" : "s",
	             json_array_size(p->data));
	return 0;
}

static int cli_run_all(struct cli *cli, struct mcapi_client *c, const char *path, const char *text)
{
	struct pages p = {cli, path, json_array(), NULL, 0, 0, 0};
	json_t *out = NULL, *fail;
	int rc = CLI_FAIL, prc, wrc;

	prc = mcapi_paginate(c, path, text, 0, collect_page, &p);
	cli_progress(cli, 1, NULL);
	if (prc != 0 && prc != MCAPI_E_LIMIT) {
		cli_error("%s: %s", path, mcapi_client_last_error(c));
		rc = cli_exit_for_error(prc);
		goto out;
	}
	if (p.bad) {
		print_failures(p.last, p.status, NULL);
		rc = cli_exit_for_status(p.status, p.last);
		if (rc == CLI_OK || rc == CLI_FAIL)
			rc = CLI_NET; /* HTTP 200 without the envelope: not the API answering */
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
	wrc = cli_emit(cli, out);
	if (prc == MCAPI_E_LIMIT) {
		cli_error("%s", mcapi_client_last_error(c));
		rc = CLI_FAIL;
	} else {
		print_failures(p.last, p.status, NULL);
		rc = cli_exit_for_status(p.status, p.last);
	}
	if (wrc != CLI_OK && rc == CLI_OK)
		rc = wrc;
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
	long status;
	int rc, crc, wrc = CLI_OK;

	if (req) {
		owned = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!owned)
			return cli_error("out of memory");
		text = owned;
	}
	if ((rc = cli_client_open(cli, &c)) != CLI_OK)
		goto out;
	if (all) {
		rc = cli_run_all(cli, c, path, text);
		goto out;
	}
	if ((crc = mcapi_call(c, path, text, &r)) != 0) {
		cli_error("%s: %s", path, mcapi_client_last_error(c));
		rc = cli_exit_for_error(crc);
		goto out;
	}
	body = mcapi_response_body(r, &len);
	status = mcapi_response_status(r);
	root = json_loadb(body, len, 0, NULL);
	mask_passwords(root);
	if (root && cli->shape && status == 200)
		cli->shape(root);
	if (root) {
		wrc = cli_emit(cli, root);
	} else if (len) {
		fwrite(body, 1, len, stdout);
		fputc('\n', stdout);
		wrc = cli_flush();
	}
	print_failures(root, status, root ? NULL : body);
	rc = cli_exit_for_status(status, root);
	if (rc == CLI_OK && !mcapi_response_is_envelope(r))
		rc = CLI_NET;
	if (rc == CLI_OK && wrc != CLI_OK)
		rc = wrc;
	if (rc == CLI_OK && mcapi_response_next_token(r))
		fprintf(stderr, "hint: more records follow; use --all to fetch every page\n");
out:
	json_decref(root);
	mcapi_response_free(r);
	mcapi_client_free(c);
	free(owned);
	return rc;
}
