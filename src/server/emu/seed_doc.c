/* Loading a seed (seed_doc.h): one file, JSON or YAML, or a directory of them merged in
 * name order. The whole file is read first (bounded by SEED_DOC_MAX_BYTES), so both parsers
 * see the same bytes and a directory's files are read one at a time. */
#include "seed_doc.h"

#include "common/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/banned.h"

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

static int seed_name(const char *name)
{
	return name[0] != '.' &&
	       (ends_with(name, ".json") || ends_with(name, ".yaml") || ends_with(name, ".yml"));
}

/* The whole file at path into *text (NUL-terminated; caller frees) and *len. */
static int slurp(const char *path, char **text, size_t *len, struct err *e)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap;
	struct stat st;
	int rc = 0;

	*text = NULL;
	if (!fp)
		return err_set(e, MC_ERR_IO, "seed file '%s': %s", path, strerror(errno));
	/* the size it has now, capped; one byte more shows a file that grew past the cap */
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = err_set(e, MC_ERR_IO, "seed file '%s': not a regular file", path);
		goto out;
	}
	cap = st.st_size < SEED_DOC_MAX_BYTES ? (size_t)st.st_size : SEED_DOC_MAX_BYTES;
	if (!(buf = malloc(cap + 2))) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	n = fread(buf, 1, cap + 1, fp);
	if (ferror(fp))
		rc = err_set(e, MC_ERR_IO, "seed file '%s': %s", path, strerror(errno));
	else if (n > SEED_DOC_MAX_BYTES || st.st_size > SEED_DOC_MAX_BYTES)
		rc = err_set(e, MC_ERR_TOO_LARGE, "seed file '%s': larger than %d MiB", path,
		             SEED_DOC_MAX_BYTES >> 20);
	else if (n > cap)
		rc = err_set(e, MC_ERR_IO, "seed file '%s': it changed while it was read", path);
out:
	fclose(fp);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

static int is_yaml(const char *path, const char *text)
{
	if (ends_with(path, ".yaml") || ends_with(path, ".yml"))
		return 1;
	if (ends_with(path, ".json"))
		return 0;
	text += strspn(text, " \t\r\n");
	return *text != '{';
}

static int load_file(const char *path, json_t **doc, struct err *e)
{
	char *text = NULL;
	size_t len = 0;
	json_error_t je;
	int rc;

	*doc = NULL;
	if ((rc = slurp(path, &text, &len, e)) != 0)
		return rc;
	if (is_yaml(path, text)) {
		rc = seed_yaml_parse(path, text, len, doc, e);
	} else if (!(*doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je))) {
		rc = err_set(e, MC_ERR_INVALID, "seed file '%s': line %d column %d: %s", path,
		             je.line, je.column, je.text);
	}
	free(text);
	if (rc == 0 && !json_is_object(*doc)) {
		json_decref(*doc);
		*doc = NULL;
		rc = err_set(e, MC_ERR_INVALID,
		             "seed file '%s': the document must be a mapping (accounts, messages)",
		             path);
	}
	return rc;
}

/* Appends each top-level list of add to the same list of into. */
static int merge(json_t *into, json_t *add, const char *path, struct err *e)
{
	const char *key;
	json_t *v;

	json_object_foreach(add, key, v)
	{
		json_t *have = json_object_get(into, key);
		if (!json_is_array(v))
			return err_set(e, MC_ERR_INVALID, "seed file '%s': '%.40s' must be a list",
			               path, key);
		if (!have) {
			if (json_object_set(into, key, v) != 0)
				return err_set(e, MC_ERR_NOMEM, "out of memory");
		} else if (json_array_extend(have, v) != 0) {
			return err_set(e, MC_ERR_NOMEM, "out of memory");
		}
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(const char *path, json_t **doc, struct err *e)
{
	char *names[SEED_DOC_MAX_FILES];
	size_t n = 0;
	struct dirent *de;
	json_t *all = json_object();
	DIR *d = opendir(path);
	int rc = 0;

	*doc = NULL;
	if (!d || !all) {
		rc = d ? err_set(e, MC_ERR_NOMEM, "out of memory")
		       : err_set(e, MC_ERR_IO, "seed directory '%s': %s", path, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (!seed_name(de->d_name))
			continue;
		if (n == SEED_DOC_MAX_FILES) {
			rc = err_set(e, MC_ERR_TOO_LARGE, "seed directory '%s': more than %d files",
			             path, SEED_DOC_MAX_FILES);
			goto out;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	if (n == 0) {
		rc = err_set(e, MC_ERR_INVALID,
		             "seed directory '%s': no *.json, *.yaml or *.yml file in it", path);
		goto out;
	}
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char file[1024];
		json_t *one = NULL;
		snprintf(file, sizeof(file), "%s/%s", path, names[i]);
		if ((rc = load_file(file, &one, e)) == 0)
			rc = merge(all, one, file, e);
		json_decref(one);
	}
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	if (rc) {
		json_decref(all);
		return rc;
	}
	*doc = all;
	return 0;
}

int seed_doc_load(const char *path, json_t **doc, char *dir, size_t dir_size, struct err *e)
{
	struct stat st;
	const char *slash;

	*doc = NULL;
	if (stat(path, &st) != 0)
		return err_set(e, MC_ERR_IO, "seed '%s': %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		snprintf(dir, dir_size, "%s", path);
		return load_dir(path, doc, e);
	}
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, dir_size, ".");
	else
		snprintf(dir, dir_size, "%.*s", (int)(slash == path ? 1 : slash - path), path);
	return load_file(path, doc, e);
}
