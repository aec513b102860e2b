/* The files side of `mcapi siem pull` (docs/client.md): the name a SIEM answer asks its file
 * to be saved under, checked so that no answer can write outside DIR or over a hidden file;
 * the token file DIR/.mcapi-siem-token that lets the next run continue where this one
 * stopped; saving a file (or every entry of a zip) atomically; counting the events of a
 * file. Nothing here talks to the network, so it is unit-tested on its own
 * (tests/unit/test_cli_siem.c). Functions return 0 or a negative MC_ERR_* code with a
 * message in e. */
#ifndef MCAPI_CLI_SIEM_FILES_H
#define MCAPI_CLI_SIEM_FILES_H

#include <stddef.h>
#include <stdint.h>

struct err;

#define SIEM_TOKEN_FILE  ".mcapi-siem-token"
#define SIEM_TOKEN_MAX   4096         /* longest token accepted from a server or the file */
#define SIEM_NAME_MAX    255          /* longest file name (NAME_MAX) */
#define SIEM_ZIP_ENTRIES 64           /* most entries in one zip */
#define SIEM_ENTRY_MAX   (256u << 20) /* largest entry once unpacked */

/* The file name of a Content-Disposition value, read as real clients read it (split at the
 * first `="`, drop the last character, which must be the closing quote), then checked with
 * siem_name_check. Writes it to name (size > SIEM_NAME_MAX). 0 or MC_ERR_INVALID. */
int siem_disposition_name(const char *value, char *name, size_t size, struct err *e);

/* 0 when name[0..len) is a plain file name: 1..SIEM_NAME_MAX bytes of [A-Za-z0-9._-], not
 * starting with '.' (so neither ".", "..", nor the token file or another hidden file) and
 * without ".." anywhere. '/', '\', NUL, control bytes and anything else: MC_ERR_INVALID. */
int siem_name_check(const char *name, size_t len, struct err *e);

/* 0 when token is 1..SIEM_TOKEN_MAX printable ASCII bytes without blanks, else
 * MC_ERR_INVALID. */
int siem_token_check(const char *token, struct err *e);

/* Reads DIR/.mcapi-siem-token (one token, a trailing newline allowed) into token (size >
 * SIEM_TOKEN_MAX). 0, MC_ERR_NOT_FOUND (no file: start from the beginning), MC_ERR_INVALID
 * (the file holds something else) or MC_ERR_IO. */
int siem_token_load(const char *dir, char *token, size_t size, struct err *e);

/* Writes token (checked) to DIR/.mcapi-siem-token atomically and durably (temporary file,
 * fsync, rename, fsync of DIR). 0, MC_ERR_INVALID or MC_ERR_IO. */
int siem_token_save(const char *dir, const char *token, struct err *e);

/* Writes data as DIR/name (name checked) atomically and durably, replacing a file of that
 * name (the same token always gives the same file, so a repeat rewrites identical bytes). */
int siem_file_save(const char *dir, const char *name, const void *data, size_t len, struct err *e);

/* 1 when data starts like a zip archive (a local file header or, for an empty archive, the
 * end of the central directory), else 0. */
int siem_is_zip(const void *data, size_t len);

/* 1 when data is a zip without entries: it starts with the end of the central directory
 * (an archive with entries starts with a local file header). Such an answer ends a walk
 * whatever its headers say. */
int siem_zip_is_empty(const void *data, size_t len);

/* What siem_zip_save wrote. */
struct siem_saved {
	size_t files;  /* entries written; 0 = an empty zip */
	size_t events; /* siem_count_events of each */
	uint64_t bytes;
	char last[SIEM_NAME_MAX + 1]; /* name of the last entry written */
};

/* Unpacks the zip data[0..len) into DIR with libzip: every entry is a file whose name
 * passes siem_name_check, at most SIEM_ZIP_ENTRIES entries of SIEM_ENTRY_MAX bytes each;
 * each is written as siem_file_save does. An entry that breaks a rule fails the whole call
 * before anything is written. out is filled. 0, MC_ERR_INVALID (not a zip, bad entry),
 * MC_ERR_TOO_LARGE, MC_ERR_NOMEM or MC_ERR_IO. */
int siem_zip_save(const char *dir, const void *data, size_t len, struct siem_saved *out,
                  struct err *e);

/* The events of one SIEM file: the length of data[] for a JSON file ({"type":"MTA",
 * "data":[...]}), else the number of non-empty lines (key_value). */
size_t siem_count_events(const char *data, size_t len);

#endif
