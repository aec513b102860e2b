/* The files of `mcapi siem pull`: names checked before any path is built from them, writes
 * through common/file.c's temporary-file-fsync-rename, and zips unpacked with libzip from
 * memory (an answer is at most the library's body cap). See siem_files.h. */
#include "siem_files.h"

#include "common/err.h"
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "common/banned.h"

int siem_name_check(const char *name, size_t len, struct err *e)
{
	if (len == 0)
		return err_set(e, MC_ERR_INVALID, "the file name is empty");
	if (len > SIEM_NAME_MAX)
		return err_set(e, MC_ERR_INVALID, "the file name is longer than %d bytes",
		               SIEM_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return err_set(e, MC_ERR_INVALID,
			               "the file name '%.*s' holds a character other than "
			               "A-Z a-z 0-9 . _ - (byte 0x%02x)",
			               (int)(len < 64 ? len : 64), name, c);
	}
	if (name[0] == '.')
		return err_set(e, MC_ERR_INVALID, "the file name '%.*s' starts with '.'",
		               (int)(len < 64 ? len : 64), name);
	for (size_t i = 0; i + 1 < len; i++)
		if (name[i] == '.' && name[i + 1] == '.')
			return err_set(e, MC_ERR_INVALID, "the file name '%.*s' holds '..'",
			               (int)(len < 64 ? len : 64), name);
	return 0;
}

int siem_disposition_name(const char *value, char *name, size_t size, struct err *e)
{
	const char *p = value ? strstr(value, "=\"") : NULL;
	size_t n;
	int rc;

	if (!p)
		return err_set(e, MC_ERR_INVALID,
		               "Content-Disposition '%.80s' names no file (no '=\"')",
		               value ? value : "");
	p += 2;
	n = strlen(p);
	if (n == 0 || p[n - 1] != '"')
		return err_set(e, MC_ERR_INVALID,
		               "Content-Disposition '%.80s' does not end with the closing quote",
		               value);
	n--;
	if ((rc = siem_name_check(p, n, e)) != 0)
		return rc;
	if (n >= size)
		return err_set(e, MC_ERR_INVALID, "the file name is too long");
	memcpy(name, p, n);
	name[n] = '\0';
	return 0;
}

int siem_token_check(const char *token, struct err *e)
{
	size_t n = token ? strlen(token) : 0;

	if (n == 0)
		return err_set(e, MC_ERR_INVALID, "the token is empty");
	if (n > SIEM_TOKEN_MAX)
		return err_set(e, MC_ERR_INVALID, "the token is longer than %d bytes",
		               SIEM_TOKEN_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
			return err_set(e, MC_ERR_INVALID,
			               "the token holds a blank or a byte outside printable ASCII");
	return 0;
}

/* DIR/name into path; MC_ERR_INVALID when it does not fit. */
static int join(char *path, size_t size, const char *dir, const char *name, struct err *e)
{
	int n = snprintf(path, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		return err_set(e, MC_ERR_INVALID, "the path '%s/%s' is too long", dir, name);
	return 0;
}

int siem_token_load(const char *dir, char *token, size_t size, struct err *e)
{
	char path[4096], buf[SIEM_TOKEN_MAX + 4];
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	if ((rc = join(path, sizeof(path), dir, SIEM_TOKEN_FILE, e)) != 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? MC_ERR_NOT_FOUND
		                       : err_set(e, MC_ERR_IO, "cannot read '%s': %s", path,
		                                 strerror(errno));
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(e, MC_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (memchr(buf, '\0', len) || siem_token_check(buf, e) != 0 || len >= size)
		return err_set(e, MC_ERR_INVALID,
		               "'%s' does not hold a token (remove it to start from the beginning)",
		               path);
	memcpy(token, buf, len + 1);
	return 0;
}

int siem_token_save(const char *dir, const char *token, struct err *e)
{
	char path[4096], line[SIEM_TOKEN_MAX + 2];
	int rc;

	if ((rc = siem_token_check(token, e)) != 0 ||
	    (rc = join(path, sizeof(path), dir, SIEM_TOKEN_FILE, e)) != 0)
		return rc;
	snprintf(line, sizeof(line), "%s\n", token);
	return file_write_atomic(path, line, strlen(line), 0600, 1, e);
}

int siem_file_save(const char *dir, const char *name, const void *data, size_t len, struct err *e)
{
	char path[4096];
	int rc;

	if ((rc = siem_name_check(name, strlen(name), e)) != 0 ||
	    (rc = join(path, sizeof(path), dir, name, e)) != 0)
		return rc;
	return file_write_atomic(path, data, len, 0644, 1, e);
}

int siem_is_zip(const void *data, size_t len)
{
	const unsigned char *p = data;

	return len >= 4 && p[0] == 'P' && p[1] == 'K' &&
	       ((p[2] == 3 && p[3] == 4) || (p[2] == 5 && p[3] == 6));
}

int siem_zip_is_empty(const void *data, size_t len)
{
	const unsigned char *p = data;

	return siem_is_zip(data, len) && p[2] == 5 && p[3] == 6;
}

size_t siem_count_events(const char *data, size_t len)
{
	size_t n = 0, i = 0;
	json_t *root;

	while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
		i++;
	if (i < len && data[i] == '{') {
		root = json_loadb(data, len, 0, NULL);
		n = json_array_size(json_object_get(root, "data"));
		json_decref(root);
		return n;
	}
	for (size_t start = 0; start < len;) {
		const char *nl = memchr(data + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - data) : len;
		size_t a = start;
		while (a < end && (data[a] == '\r' || data[a] == ' '))
			a++;
		if (a < end)
			n++;
		start = end + 1;
	}
	return n;
}

int siem_zip_save(const char *dir, const void *data, size_t len, struct siem_saved *out,
                  struct err *e)
{
	zip_error_t zerr;
	zip_source_t *src;
	zip_t *za = NULL;
	zip_int64_t count;
	char *buf = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	zip_error_init(&zerr);
	src = zip_source_buffer_create(data, len, 0, &zerr);
	if (src && !(za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr)))
		zip_source_free(src);
	if (!za) {
		rc = err_set(e, MC_ERR_INVALID, "the answer is not a readable zip: %s",
		             zip_error_strerror(&zerr));
		goto out;
	}
	count = zip_get_num_entries(za, 0);
	if (count < 0 || count > SIEM_ZIP_ENTRIES) {
		rc = err_set(e, MC_ERR_INVALID, "the zip holds %lld entries (at most %d)",
		             (long long)count, SIEM_ZIP_ENTRIES);
		goto out;
	}
	/* every entry is checked before the first is written */
	for (zip_int64_t i = 0; i < count; i++) {
		zip_stat_t st;
		if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 ||
		    (st.valid & (ZIP_STAT_NAME | ZIP_STAT_SIZE)) !=
		            (ZIP_STAT_NAME | ZIP_STAT_SIZE)) {
			rc = err_set(e, MC_ERR_INVALID, "entry %lld of the zip cannot be read",
			             (long long)i);
			goto out;
		}
		if ((rc = siem_name_check(st.name, strlen(st.name), e)) != 0)
			goto out;
		if (st.size > SIEM_ENTRY_MAX) {
			rc = err_set(e, MC_ERR_TOO_LARGE,
			             "entry '%s' of the zip is larger than %u bytes", st.name,
			             SIEM_ENTRY_MAX);
			goto out;
		}
	}
	for (zip_int64_t i = 0; i < count; i++) {
		zip_stat_t st;
		zip_file_t *zf;
		zip_int64_t got = 0, r;

		zip_stat_index(za, (zip_uint64_t)i, 0, &st);
		free(buf);
		buf = malloc(st.size ? st.size : 1);
		if (!buf) {
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			goto out;
		}
		zf = zip_fopen_index(za, (zip_uint64_t)i, 0);
		if (!zf) {
			rc = err_set(e, MC_ERR_INVALID, "entry '%s' of the zip: %s", st.name,
			             zip_strerror(za));
			goto out;
		}
		while ((zip_uint64_t)got < st.size &&
		       (r = zip_fread(zf, buf + got, st.size - (zip_uint64_t)got)) > 0)
			got += r;
		/* one byte more must not come: the size in the directory is the truth */
		if ((zip_uint64_t)got != st.size || zip_fread(zf, &(char){0}, 1) != 0) {
			rc = err_set(e, MC_ERR_INVALID, "entry '%s' of the zip is damaged: %s",
			             st.name, zip_file_strerror(zf));
			zip_fclose(zf);
			goto out;
		}
		zip_fclose(zf);
		if ((rc = siem_file_save(dir, st.name, buf, st.size, e)) != 0)
			goto out;
		out->files++;
		out->bytes += st.size;
		out->events += siem_count_events(buf, st.size);
		snprintf(out->last, sizeof(out->last), "%s", st.name);
	}
out:
	free(buf);
	if (za)
		zip_discard(za);
	zip_error_fini(&zerr);
	return rc;
}
