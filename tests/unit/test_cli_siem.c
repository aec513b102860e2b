/* The files side of `mcapi siem pull` (src/cli/siem_files.c): names from Content-Disposition
 * and zip entries that could leave DIR or hit a hidden file are refused; the token file
 * round-trips, is replaced atomically and a damaged one is reported; zips unpack, an empty
 * zip is recognised, and one bad entry writes nothing at all. */
#include "cli/siem_files.h"
#include "common/err.h"
#include "tap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "common/banned.h"

static char dir[64];

static int name_ok(const char *s)
{
	struct err e = {0};
	return siem_name_check(s, strlen(s), &e) == 0;
}

static void test_names(void)
{
	CHECK(name_ok("MTA_20240501101500123.json"));
	CHECK(name_ok("receipt_20240501101500123.log"));
	CHECK(name_ok("a"));
	CHECK(!name_ok(""));
	CHECK(!name_ok("."));
	CHECK(!name_ok(".."));
	CHECK(!name_ok("../etc/passwd"));
	CHECK(!name_ok("a/b.json"));
	CHECK(!name_ok("/abs.json"));
	CHECK(!name_ok("a\\b.json"));
	CHECK(!name_ok("x..json"));
	CHECK(!name_ok(".mcapi-siem-token"));
	CHECK(!name_ok(".hidden"));
	CHECK(!name_ok("tab\there"));
	CHECK(!name_ok("new\nline"));
	CHECK(!name_ok("sp ace.json"));
	CHECK(!name_ok("caf\xc3\xa9.json"));
	{
		char longname[300];
		struct err e = {0};
		memset(longname, 'a', sizeof(longname));
		CHECK(siem_name_check(longname, 255, &e) == 0);
		CHECK(siem_name_check(longname, 256, &e) == MC_ERR_INVALID);
		/* a NUL inside the given length */
		CHECK(siem_name_check("ab\0cd", 5, &e) == MC_ERR_INVALID);
	}
}

static void test_disposition(void)
{
	char name[SIEM_NAME_MAX + 1];
	struct err e = {0};

	CHECK_INT(siem_disposition_name("attachment; filename=\"MTA_20240501.json\"", name,
	                                sizeof(name), &e),
	          0);
	CHECK_STR(name, "MTA_20240501.json");
	CHECK_INT(siem_disposition_name("attachment; filename=\"../../x.json\"", name, sizeof(name),
	                                &e),
	          MC_ERR_INVALID);
	CHECK(strstr(e.msg, "x.json") != NULL);
	CHECK_INT(siem_disposition_name("attachment; filename=\"a/b\"", name, sizeof(name), &e),
	          MC_ERR_INVALID);
	CHECK_INT(siem_disposition_name("attachment; filename=x.json", name, sizeof(name), &e),
	          MC_ERR_INVALID);
	CHECK_INT(siem_disposition_name("attachment; filename=\"x.json", name, sizeof(name), &e),
	          MC_ERR_INVALID);
	CHECK_INT(siem_disposition_name("attachment; filename=\"\"", name, sizeof(name), &e),
	          MC_ERR_INVALID);
	CHECK_INT(siem_disposition_name(NULL, name, sizeof(name), &e), MC_ERR_INVALID);
}

static int exists(const char *name)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

static size_t entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_token_file(void)
{
	char tok[SIEM_TOKEN_MAX + 1], p[256], big[SIEM_TOKEN_MAX + 2];
	struct err e = {0};
	FILE *f;

	CHECK_INT(siem_token_load(dir, tok, sizeof(tok), &e), MC_ERR_NOT_FOUND);
	CHECK_INT(siem_token_save(dir, "eNqrVkrOLypRslJKTS4tSs1MUbI", &e), 0);
	CHECK_INT(siem_token_load(dir, tok, sizeof(tok), &e), 0);
	CHECK_STR(tok, "eNqrVkrOLypRslJKTS4tSs1MUbI");
	/* replaced, not appended; no temporary file left behind */
	CHECK_INT(siem_token_save(dir, "second-token_2", &e), 0);
	CHECK_INT(siem_token_load(dir, tok, sizeof(tok), &e), 0);
	CHECK_STR(tok, "second-token_2");
	CHECK_INT(entries(), 1);
	/* a token a server should never send is never written */
	CHECK_INT(siem_token_save(dir, "has space", &e), MC_ERR_INVALID);
	CHECK_INT(siem_token_save(dir, "", &e), MC_ERR_INVALID);
	CHECK_INT(siem_token_save(dir, "new\nline", &e), MC_ERR_INVALID);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(siem_token_save(dir, big, &e), MC_ERR_INVALID);
	CHECK_INT(siem_token_load(dir, tok, sizeof(tok), &e), 0);
	CHECK_STR(tok, "second-token_2");
	/* a damaged file is an error that says what to do, not a silent restart */
	snprintf(p, sizeof(p), "%s/%s", dir, SIEM_TOKEN_FILE);
	f = fopen(p, "w");
	fputs("two\nlines\n", f);
	fclose(f);
	CHECK_INT(siem_token_load(dir, tok, sizeof(tok), &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "remove it") != NULL);
	unlink(p);
}

static void test_file_save_and_count(void)
{
	const char *json = "{\"type\":\"MTA\",\"data\":[{\"acc\":\"C0A0\"},{\"acc\":\"C0A0\"}]}";
	const char *kv = "datetime=2024-05-01T10:00:00+0000|aCode=x\n"
	                 "datetime=2024-05-01T10:00:01+0000|aCode=y\n\n";
	struct err e = {0};

	CHECK_INT(siem_count_events(json, strlen(json)), 2);
	CHECK_INT(siem_count_events(kv, strlen(kv)), 2);
	CHECK_INT(siem_count_events("", 0), 0);
	CHECK_INT(siem_file_save(dir, "MTA_1.json", json, strlen(json), &e), 0);
	CHECK(exists("MTA_1.json"));
	CHECK_INT(siem_file_save(dir, "../MTA_1.json", json, strlen(json), &e), MC_ERR_INVALID);
	CHECK_INT(siem_file_save(dir, SIEM_TOKEN_FILE, "x", 1, &e), MC_ERR_INVALID);
}

/* A zip of the given entries built with libzip, read back into memory (malloc'd). */
static char *make_zip(const char *const *names, size_t n, size_t *len)
{
	char path[128];
	zip_t *za;
	FILE *f;
	char *buf;
	long sz;
	int err = 0;

	snprintf(path, sizeof(path), "%s.zip", dir);
	unlink(path);
	za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
	for (size_t i = 0; za && i < n; i++) {
		const char *body = "datetime=2024-05-01T10:00:00+0000|aCode=z\n";
		zip_source_t *s = zip_source_buffer(za, body, strlen(body), 0);
		zip_file_add(za, names[i], s, ZIP_FL_ENC_UTF_8);
	}
	if (!za || zip_close(za) != 0)
		return NULL;
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)sz);
	*len = fread(buf, 1, (size_t)sz, f);
	fclose(f);
	unlink(path);
	return buf;
}

static void test_zip(void)
{
	static const char *const good[] = {"MTA_1.log", "MTA_2.log"};
	static const char *const bad[] = {"MTA_3.log", "../escape.log"};
	/* an empty archive is its end-of-central-directory record alone */
	static const unsigned char empty[22] = {'P', 'K', 5, 6};
	struct siem_saved s;
	struct err e = {0};
	size_t len = 0;
	char *z;

	CHECK(siem_is_zip(empty, sizeof(empty)));
	CHECK(siem_zip_is_empty(empty, sizeof(empty)));
	CHECK(!siem_is_zip("datetime=x", 10));
	CHECK(!siem_is_zip("{}", 2));
	CHECK_INT(siem_zip_save(dir, empty, sizeof(empty), &s, &e), 0);
	CHECK_INT(s.files, 0);

	z = make_zip(good, 2, &len);
	CHECK(z != NULL && siem_is_zip(z, len) && !siem_zip_is_empty(z, len));
	CHECK_INT(siem_zip_save(dir, z, len, &s, &e), 0);
	CHECK_INT(s.files, 2);
	CHECK_INT(s.events, 2);
	CHECK_STR(s.last, "MTA_2.log");
	CHECK(exists("MTA_1.log") && exists("MTA_2.log"));
	free(z);

	z = make_zip(bad, 2, &len);
	CHECK_INT(siem_zip_save(dir, z, len, &s, &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "escape") != NULL);
	CHECK(!exists("MTA_3.log")); /* the good entry before the bad one is not written either */
	free(z);

	CHECK_INT(siem_zip_save(dir, "PK\3\4garbage", 11, &s, &e), MC_ERR_INVALID);
}

int main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/test_cli_siem.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	test_names();
	test_disposition();
	test_token_file();
	test_file_save_and_count();
	test_zip();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		CHECK(0);
	return tap_done();
}
