/* mcapi siem pull: follows the token chain of POST /api/audit/get-siem-logs (API.md §14.1)
 * and saves each file in DIR under the name its Content-Disposition gives. The next token is
 * written to DIR/.mcapi-siem-token only after the file it follows is durable, so a run that
 * is killed at any point loses nothing and the next run starts after the last file saved.
 * The walk ends on any of the three signals of the contract: a JSON answer with
 * meta.isLastToken, a token that repeats, an empty zip. Zipped answers (--compress) are
 * unpacked with libzip, so DIR holds the same files whichever way they travelled. */
#include "cli.h"
#include "siem_files.h"

#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

#define SIEM_PATH "/api/audit/get-siem-logs"

enum step { STEP_MORE = 0, STEP_END = 1, STEP_FAIL = -1 }; /* STEP_FAIL: the error was said */

static const char siem_usage[] =
        "usage: mcapi siem pull --dir DIR [--format json|key_value] [--compress|--no-compress]\n"
        "                       [--type MTA] [--max-files N]\n"
        "\n"
        "   --dir        where the files go (created if missing); DIR/.mcapi-siem-token keeps\n"
        "                the position, so the next run fetches only what is new\n"
        "   --format     json or key_value (the API's default)\n"
        "   --compress   fetch zips and unpack them (default: --no-compress)\n"
        "   --type       the log type to ask for (MTA, the only one the API knows)\n"
        "   --max-files  stop after N files (0 = no limit, the default)\n"
        "\n"
        "Progress goes to stderr when it is a terminal. With --output, a summary of the run\n"
        "goes to stdout. Exit status: 0 the end of the chain was reached (or --max-files),\n"
        "1 an API or file error, 2 bad usage, 3 authentication, 4 network, 5 rate limited.\n";

struct pull {
	const char *dir, *format, *type;
	int compress, tty;
	unsigned long max_files;
	char token[SIEM_TOKEN_MAX + 1]; /* "" = from the beginning */
	size_t files, events;
	unsigned long long bytes;
	int exit_code; /* of a STEP_FAIL that came from the API or the network; 0 = CLI_FAIL */
};

static void progress(const struct pull *p, const char *last, int done)
{
	if (!p->tty)
		return;
	fprintf(stderr, "\rsiem: %zu file%s, %zu event%s, %.1f MiB%s%s%s\033[K", p->files,
	        p->files == 1 ? "" : "s", p->events, p->events == 1 ? "" : "s",
	        (double)p->bytes / (1024.0 * 1024.0), last ? " (" : "", last ? last : "",
	        last ? ")" : "");
	if (done)
		fputc('\n', stderr);
	fflush(stderr);
}

/* DIR exists (one level is created) and is a writable directory. */
static int dir_ready(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return cli_error("cannot create '%s': %s", dir, strerror(errno));
	if (stat(dir, &st) != 0)
		return cli_error("cannot use '%s': %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cli_error("'%s' is not a directory", dir);
	if (access(dir, W_OK | X_OK) != 0)
		return cli_error("cannot write to '%s': %s", dir, strerror(errno));
	return CLI_OK;
}

/* The request of one step. NULL on allocation failure (freed by the caller). */
static char *request(const struct pull *p)
{
	json_t *item = json_pack("{s:s, s:s, s:b}", "type", p->type, "fileFormat", p->format,
	                         "compress", p->compress);
	json_t *req = item ? json_pack("{s:[o]}", "data", item) : NULL;
	char *s = NULL;

	if (req && p->token[0] && json_object_set_new(item, "token", json_string(p->token)) != 0) {
		json_decref(req);
		return NULL;
	}
	s = req ? json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(req);
	return s;
}

/* The answer that is not a file: the end of the chain, or an error. */
static enum step envelope_answer(const struct mcapi_response *r, int *exit_code)
{
	size_t len;
	const char *body = mcapi_response_body(r, &len);
	json_t *root = json_loadb(body, len, 0, NULL), *fail = json_object_get(root, "fail");
	json_t *meta = json_object_get(root, "meta");
	long status = mcapi_response_status(r);
	enum step rc = STEP_FAIL;

	if (!json_is_object(root) || !json_is_array(fail)) {
		*exit_code = status == 200 ? CLI_NET : cli_exit_for_status(status, root);
		cli_error("%s: HTTP %ld, neither a file nor the API's envelope%s%.200s", SIEM_PATH,
		          status, len ? ": " : "", body);
	} else if (json_array_size(fail) || status != 200) {
		*exit_code = cli_exit_for_status(status, root);
		json_t *e0 = json_array_get(json_object_get(json_array_get(fail, 0), "errors"), 0);
		const char *code = json_string_value(json_object_get(e0, "code"));
		const char *msg = json_string_value(json_object_get(e0, "message"));
		cli_error("%s: HTTP %ld: %s (%s)%s", SIEM_PATH, status,
		          msg && *msg ? msg : "the call failed", code ? code : "no code",
		          json_is_true(json_object_get(e0, "retryable")) ? ", retryable" : "");
	} else if (json_is_true(json_object_get(meta, "isLastToken"))) {
		rc = STEP_END;
	} else {
		cli_error("%s: an answer without a file that is not the last token either",
		          SIEM_PATH);
	}
	json_decref(root);
	return rc;
}

/* One call of the chain and what it brought saved. */
static enum step step(struct pull *p, struct mcapi_client *c)
{
	struct mcapi_response *r = NULL;
	struct siem_saved saved;
	struct err e = {0};
	char name[SIEM_NAME_MAX + 1], next[SIEM_TOKEN_MAX + 1];
	const char *disp, *tok, *body;
	char *req = request(p);
	size_t len;
	enum step rc = STEP_FAIL;
	int end = 0, crc;

	if (!req) {
		cli_error("out of memory");
		return STEP_FAIL;
	}
	if ((crc = mcapi_call(c, SIEM_PATH, req, &r)) != 0) {
		cli_error("%s: %s", SIEM_PATH, mcapi_client_last_error(c));
		p->exit_code = cli_exit_for_error(crc);
		goto out;
	}
	disp = mcapi_response_header(r, "Content-Disposition");
	if (!disp || mcapi_response_status(r) != 200) {
		rc = envelope_answer(r, &p->exit_code);
		goto out;
	}
	body = mcapi_response_body(r, &len);
	if (siem_zip_is_empty(body, len)) {
		rc = STEP_END; /* nothing follows the token: nothing to save, the token stays */
		goto out;
	}
	if (siem_disposition_name(disp, name, sizeof(name), &e) != 0) {
		cli_error("refusing the file of this answer: %s", e.msg);
		goto out;
	}
	tok = mcapi_response_header(r, "mc-siem-token");
	if (!tok || siem_token_check(tok, &e) != 0) {
		cli_error("'%s' came without a usable mc-siem-token header%s%s; not saved", name,
		          tok ? ": " : "", tok ? e.msg : "");
		goto out;
	}
	snprintf(next, sizeof(next), "%s", tok);
	if (siem_is_zip(body, len)) {
		if (siem_zip_save(p->dir, body, len, &saved, &e) != 0) {
			cli_error("%s: %s", name, e.msg);
			goto out;
		}
		if (saved.files == 0)
			end = 1; /* an empty zip: nothing follows the token */
	} else {
		if (siem_file_save(p->dir, name, body, len, &e) != 0) {
			cli_error("%s", e.msg);
			goto out;
		}
		memset(&saved, 0, sizeof(saved));
		saved.files = 1;
		saved.bytes = len;
		saved.events = siem_count_events(body, len);
		snprintf(saved.last, sizeof(saved.last), "%s", name);
	}
	/* the files are durable: only now may the position move past them */
	if (!end && strcmp(next, p->token) != 0 && siem_token_save(p->dir, next, &e) != 0) {
		cli_error("%s", e.msg);
		goto out;
	}
	p->files += saved.files;
	p->events += saved.events;
	p->bytes += saved.bytes;
	progress(p, saved.files ? saved.last : NULL, 0);
	if (end || strcmp(next, p->token) == 0) {
		rc = STEP_END; /* or the token repeats: the same file would come again */
		goto out;
	}
	snprintf(p->token, sizeof(p->token), "%s", next);
	rc = STEP_MORE;
out:
	mcapi_response_free(r);
	free(req);
	return rc;
}

static int pull(struct cli *cli, struct pull *p)
{
	struct mcapi_client *c = NULL;
	struct err e = {0};
	enum step st;
	int rc;

	if ((rc = dir_ready(p->dir)) != CLI_OK)
		return rc;
	rc = siem_token_load(p->dir, p->token, sizeof(p->token), &e);
	if (rc == MC_ERR_NOT_FOUND) {
		p->token[0] = '\0';
	} else if (rc) {
		return cli_error("%s", e.msg);
	}
	if ((rc = cli_client_open(cli, &c)) != CLI_OK)
		return rc;
	do {
		st = step(p, c);
		if (st == STEP_MORE && p->max_files && p->files >= p->max_files)
			st = STEP_END;
	} while (st == STEP_MORE);
	progress(p, NULL, 1);
	mcapi_client_free(c);
	rc = st == STEP_END ? CLI_OK : p->exit_code ? p->exit_code : CLI_FAIL;
	if (cli->output_explicit) { /* a summary only when asked: a cron job stays quiet */
		json_t *sum = json_pack("{s:s,s:I,s:I,s:I,s:b}", "dir", p->dir, "files",
		                        (json_int_t)p->files, "events", (json_int_t)p->events,
		                        "bytes", (json_int_t)p->bytes, "complete", st == STEP_END);
		int wrc = sum ? cli_emit(cli, sum) : cli_error("out of memory");
		json_decref(sum);
		if (rc == CLI_OK)
			rc = wrc;
	}
	return rc;
}

int cmd_siem(struct cli *cli, int argc, char **argv)
{
	struct pull *p;
	const char *v;
	int r, rc, i;

	if (cli_wants_help(argc, argv)) {
		fputs(siem_usage, stdout);
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "pull") != 0)
		return cli_usage_error(siem_usage,
		                       argc < 2 ? "'siem' needs a sub-command"
		                                : "unknown sub-command '%s'",
		                       argc < 2 ? "" : argv[1]);
	p = calloc(1, sizeof(*p));
	if (!p)
		return cli_error("out of memory");
	p->format = "key_value";
	p->type = "MTA";
	p->tty = isatty(STDERR_FILENO);
	for (i = 2; i < argc; i++) {
		if ((r = cli_opt_value(argc, argv, &i, "--dir", &v)) != 0) {
			if (r < 0 || !*v)
				goto missing;
			p->dir = v;
		} else if ((r = cli_opt_value(argc, argv, &i, "--format", &v)) != 0) {
			if (r < 0)
				goto missing;
			if (strcasecmp(v, "json") != 0 && strcasecmp(v, "key_value") != 0) {
				rc = cli_usage_error(siem_usage, "'--format' is json or key_value");
				goto out;
			}
			p->format = strcasecmp(v, "json") == 0 ? "json" : "key_value";
		} else if ((r = cli_opt_value(argc, argv, &i, "--type", &v)) != 0) {
			if (r < 0 || !*v)
				goto missing;
			p->type = v;
		} else if ((r = cli_opt_value(argc, argv, &i, "--max-files", &v)) != 0) {
			char *endp;
			if (r < 0)
				goto missing;
			errno = 0;
			p->max_files = strtoul(v, &endp, 10);
			if (errno || *endp || !*v || v[0] == '-') {
				rc = cli_usage_error(siem_usage, "'--max-files' needs a number");
				goto out;
			}
		} else if (strcmp(argv[i], "--compress") == 0) {
			p->compress = 1;
		} else if (strcmp(argv[i], "--no-compress") == 0) {
			p->compress = 0;
		} else {
			rc = cli_usage_error(siem_usage, "unexpected argument '%s'", argv[i]);
			goto out;
		}
	}
	if (!p->dir) {
		rc = cli_usage_error(siem_usage, "'--dir' is required");
		goto out;
	}
	rc = pull(cli, p);
	goto out;
missing:
	rc = cli_usage_error(siem_usage, "'%s' needs a value", argv[i]);
out:
	free(p);
	return rc;
}
