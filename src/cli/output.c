/* What the mcapi CLI prints and how it ends: --output (json, ndjson, table, text; a table on
 * a terminal and JSON when piped), --query applied first, write errors caught (a full disk is
 * an error, never a silent success), the progress line of long walks, and
 * the one mapping from library errors and HTTP statuses to the exit codes of cli.h. */
#include "cli.h"
#include "query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/banned.h"

#define TABLE_COLS_MAX  12
#define TABLE_WIDTH_MAX 48

enum cli_output cli_output_format(const struct cli *cli)
{
	if (cli->output != CLI_OUT_AUTO)
		return cli->output;
	return isatty(STDOUT_FILENO) ? CLI_OUT_TABLE : CLI_OUT_JSON;
}

int cli_flush(void)
{
	static int said;

	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return CLI_OK;
	if (!said++)
		cli_error("cannot write the output: %s", errno ? strerror(errno) : "write error");
	return CLI_FAIL;
}

/* The records of v: an envelope's data[], an array's elements, else v alone (borrowed
 * references in a new array). */
static json_t *records(json_t *v, int envelope_ok)
{
	json_t *out = json_array(), *data = json_object_get(v, "data");

	if (!out)
		return NULL;
	if (envelope_ok && json_is_object(v) && json_is_array(data) &&
	    json_is_array(json_object_get(v, "fail")))
		json_array_extend(out, data);
	else if (json_is_array(v))
		json_array_extend(out, v);
	else if (v)
		json_array_append(out, v);
	return out;
}

/* Text of a scalar (strings raw) or compact JSON of anything else; malloc'd. */
static char *cell_text(json_t *v)
{
	if (!v || json_is_null(v))
		return strdup("");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

/* Prints s for a terminal: control bytes as '?', cut to width (0 = whole), padded. */
static void put_cell(const char *s, size_t width, int pad)
{
	size_t n = 0, len = strlen(s);
	int cut = width && len > width;

	for (; *s && (!width || n < width - (cut ? 3 : 0)); s++, n++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, stdout);
	if (cut) {
		fputs("...", stdout);
		n += 3;
	}
	if (pad)
		for (; n < width + 2; n++)
			fputc(' ', stdout);
}

static void print_table(json_t *rows)
{
	const char *cols[TABLE_COLS_MAX];
	size_t width[TABLE_COLS_MAX], ncols = 0, i, k;
	json_t *row, *v;
	const char *key;
	int objects = 1;

	json_array_foreach(rows, i, row) if (!json_is_object(row)) objects = 0;
	if (!objects) { /* scalars or lists: one value a line */
		json_array_foreach(rows, i, row)
		{
			char *t = cell_text(row);
			if (t)
				put_cell(t, 0, 0);
			fputc('\n', stdout);
			free(t);
		}
		return;
	}
	json_array_foreach(rows, i, row)
	{
		json_object_foreach(row, key, v)
		{
			for (k = 0; k < ncols && strcmp(cols[k], key) != 0; k++)
				;
			if (k == ncols && ncols < TABLE_COLS_MAX) {
				cols[ncols] = key;
				width[ncols++] = strlen(key);
			}
		}
	}
	json_array_foreach(rows, i, row)
	{
		for (k = 0; k < ncols; k++) {
			char *t = cell_text(json_object_get(row, cols[k]));
			size_t n = t ? strlen(t) : 0;
			if (n > width[k])
				width[k] = n > TABLE_WIDTH_MAX ? TABLE_WIDTH_MAX : n;
			free(t);
		}
	}
	for (k = 0; k < ncols; k++)
		put_cell(cols[k], width[k], k + 1 < ncols);
	if (ncols)
		fputc('\n', stdout);
	json_array_foreach(rows, i, row)
	{
		for (k = 0; k < ncols; k++) {
			char *t = cell_text(json_object_get(row, cols[k]));
			put_cell(t ? t : "", k + 1 < ncols ? width[k] : TABLE_WIDTH_MAX * 4,
			         k + 1 < ncols);
			free(t);
		}
		fputc('\n', stdout);
	}
}

static void print_object(json_t *obj)
{
	const char *key;
	json_t *v;
	size_t w = 0;

	json_object_foreach(obj, key, v) if (strlen(key) > w) w = strlen(key);
	if (w > TABLE_WIDTH_MAX)
		w = TABLE_WIDTH_MAX;
	json_object_foreach(obj, key, v)
	{
		char *t = cell_text(v);
		put_cell(key, w, 1);
		put_cell(t ? t : "", 0, 0);
		fputc('\n', stdout);
		free(t);
	}
}

static void print_text(json_t *rows)
{
	const char *key;
	json_t *row, *v;
	size_t i, k;

	json_array_foreach(rows, i, row)
	{
		int first = 1;
		if (json_is_object(row)) {
			json_object_foreach(row, key, v)
			{
				char *t = cell_text(v);
				printf("%s%s", first ? "" : "\t", t ? t : "");
				free(t);
				first = 0;
			}
		} else if (json_is_array(row)) {
			json_array_foreach(row, k, v)
			{
				char *t = cell_text(v);
				printf("%s%s", first ? "" : "\t", t ? t : "");
				free(t);
				first = 0;
			}
		} else {
			char *t = cell_text(row);
			fputs(t ? t : "", stdout);
			free(t);
		}
		fputc('\n', stdout);
	}
}

int cli_emit(struct cli *cli, json_t *v)
{
	json_t *sel = v, *rows = NULL;
	size_t i;
	json_t *row;

	if (cli->query) {
		sel = query_eval(cli->query, v);
		if (!sel)
			sel = json_null();
	} else {
		json_incref(sel);
	}
	switch (cli_output_format(cli)) {
	case CLI_OUT_AUTO:
	case CLI_OUT_JSON:
		json_dumpf(sel, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		fputc('\n', stdout);
		break;
	case CLI_OUT_NDJSON:
		rows = records(sel, !cli->query);
		json_array_foreach(rows, i, row)
		{
			json_dumpf(row, stdout,
			           JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
			fputc('\n', stdout);
		}
		break;
	case CLI_OUT_TABLE:
		if (json_is_object(sel) && !json_is_array(json_object_get(sel, "fail"))) {
			print_object(sel); /* one record: a KEY VALUE line per member */
			break;
		}
		rows = records(sel, !cli->query);
		print_table(rows);
		break;
	case CLI_OUT_TEXT:
		rows = records(sel, !cli->query);
		print_text(rows);
		break;
	}
	json_decref(rows);
	json_decref(sel);
	return cli_flush();
}

int cli_exit_for_error(int mcapi_rc)
{
	switch (mcapi_rc) {
	case MCAPI_OK:
		return CLI_OK;
	case MCAPI_E_INVALID:
		return CLI_USAGE;
	case MCAPI_E_TRANSPORT:
	case MCAPI_E_TIMEOUT:
	case MCAPI_E_PROTOCOL:
		return CLI_NET;
	default:
		return CLI_FAIL;
	}
}

int cli_exit_for_status(long status, json_t *root)
{
	if (status == 401 || status == 403 || status == 418)
		return CLI_AUTH;
	if (status == 429)
		return CLI_RATE;
	if (status >= 500 || status < 100)
		return CLI_NET;
	if (status != 200)
		return CLI_FAIL;
	if (!json_is_array(json_object_get(root, "fail")))
		return CLI_NET; /* HTTP 200 that is not the API's envelope */
	return json_array_size(json_object_get(root, "fail")) ? CLI_FAIL : CLI_OK;
}

void cli_progress(struct cli *cli, int done, const char *fmt, ...)
{
	static int shown;
	va_list ap;

	if (!cli->progress)
		return;
	if (done) {
		if (shown)
			fputs("\r\033[K", stderr);
		shown = 0;
		fflush(stderr);
		return;
	}
	fputc('\r', stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\033[K", stderr);
	fflush(stderr);
	shown = 1;
}
