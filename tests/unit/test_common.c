/* Unit tests for b64, crypto, date and log quoting. */
#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "tap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_b64(void)
{
	char out[64];
	unsigned char raw[64];
	size_t n;

	b64_encode((const unsigned char *)"SecretKey", 9, out);
	CHECK_STR(out, "U2VjcmV0S2V5");
	b64_encode((const unsigned char *)"ab", 2, out);
	CHECK_STR(out, "YWI=");
	b64url_encode((const unsigned char *)"\xfb\xff", 2, out);
	CHECK_STR(out, "-_8");
	CHECK_INT(b64_decode("YWI=", 4, raw, sizeof(raw), &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(b64_decode("YWI", 3, raw, sizeof(raw), &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(b64_decode("Y", 1, raw, sizeof(raw), &n), MC_ERR_INVALID);
	CHECK_INT(b64_decode("YW I", 4, raw, sizeof(raw), &n), MC_ERR_INVALID);
	CHECK_INT(b64_decode("YWJj", 4, raw, 2, &n), MC_ERR_TOO_LARGE);
	CHECK_INT(b64_decode("YWJ=", 4, raw, sizeof(raw), &n), MC_ERR_INVALID); /* non-canonical */
	CHECK_INT(b64url_decode("-_9", 3, raw, sizeof(raw), &n), MC_ERR_INVALID);
	CHECK_INT(b64url_decode("-_8", 3, raw, sizeof(raw), &n), 0);
	CHECK(n == 2 && raw[0] == 0xfb && raw[1] == 0xff);
}

static void test_crypto(void)
{
	unsigned char mac[HMAC_SHA1_LEN];
	char out[64], guid[GUID_STR_LEN], tok[64];
	const char *msg = "Sun, 21 Aug 2022 13:49:40 UTC:3d796b76-4180-40e5-8f7c-6e0fd643b1a9:"
	                  "/api/test/some-url:ApplicationKey";

	CHECK_INT(hmac_sha1((const unsigned char *)"SecretKey", 9, msg, strlen(msg), mac), 0);
	b64_encode(mac, sizeof(mac), out);
	CHECK_STR(out, "WOywLsnZlsE+D6bp/ug6uch5kxc=");
	/* RFC 2202 test cases 1 and 6 (a key longer than the block) */
	{
		unsigned char k1[20], k6[80];
		char hex[41];
		memset(k1, 0x0b, sizeof(k1));
		memset(k6, 0xaa, sizeof(k6));
		CHECK_INT(hmac_sha1(k1, sizeof(k1), "Hi There", 8, mac), 0);
		for (int i = 0; i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		CHECK_STR(hex, "b617318655057264e28bc0b6fb378c8ef146be00");
		const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
		CHECK_INT(hmac_sha1(k6, sizeof(k6), m6, strlen(m6), mac), 0);
		for (int i = 0; i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		CHECK_STR(hex, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
	}
	/* a key made ready once gives the same MACs (the authentication cache keeps one) */
	{
		struct hmac_sha1_key hk;
		unsigned char mac2[HMAC_SHA1_LEN];
		CHECK_INT(hmac_sha1_key_init(&hk, (const unsigned char *)"SecretKey", 9), 0);
		for (int i = 0; i < 2; i++) {
			CHECK_INT(hmac_sha1_with(&hk, msg, strlen(msg), mac2), 0);
			b64_encode(mac2, sizeof(mac2), out);
			CHECK_STR(out, "WOywLsnZlsE+D6bp/ug6uch5kxc=");
		}
		CHECK_INT(hmac_sha1_with(&hk, "", 0, mac2), 0);
		CHECK_INT(hmac_sha1((const unsigned char *)"SecretKey", 9, "", 0, mac), 0);
		CHECK(memcmp(mac, mac2, sizeof(mac)) == 0);
	}
	CHECK(ct_equal("abc", 3, "abc", 3));
	CHECK(!ct_equal("abc", 3, "abd", 3));
	CHECK(!ct_equal("abc", 3, "ab", 2));
	random_guid(RND_INTERNAL, guid);
	CHECK_INT(strlen(guid), 36);
	CHECK(guid[14] == '4');
	CHECK_INT(random_token(RND_INTERNAL, 32, tok, sizeof(tok)), 43);
}

static void test_date(void)
{
	int64_t ms, ms2;
	char out[64];

	CHECK_INT(date_parse_rfc1123("Tue, 24 Nov 2015 12:50:11 UTC", 29, &ms), 0);
	CHECK_INT(ms, 1448369411000LL);
	date_format_iso(ms, out);
	CHECK_STR(out, "2015-11-24T12:50:11+0000");
	date_format_rfc1123(ms, out, sizeof(out));
	CHECK_STR(out, "Tue, 24 Nov 2015 12:50:11 UTC");
	CHECK_INT(date_parse_rfc1123("Tue,  4 Nov 2025 09:05:01 UTC", 29, &ms), 0);
	CHECK_INT(date_parse_rfc1123("Tue, 04 Nov 2025 09:05:01 GMT", 29, &ms2), 0);
	CHECK_INT(ms, ms2);
	CHECK_INT(date_parse_rfc1123("Tue, 4 Nov 2025 09:05:01 gmt", 28, &ms2), 0);
	CHECK_INT(ms, ms2);
	CHECK_INT(date_parse_rfc1123("4 Nov 2025 09:05:01 UTC", 23, &ms2), 0);
	CHECK_INT(date_parse_rfc1123("4 NOV 2025 09:05:01 UTC", 23, &ms), 0);
	CHECK_INT(ms, ms2);
	CHECK_INT(date_parse_rfc1123("4 nOv 2025 09:05:01 UTC", 23, &ms), 0);
	CHECK_INT(ms, ms2);
	CHECK_INT(date_parse_rfc1123("4 Dec 2025 09:05:01 UTC", 23, &ms), 0);
	CHECK_INT(ms - ms2, 30LL * 86400 * 1000);
	CHECK_INT(date_parse_rfc1123("4 Jan 2025 09:05:01 UTC", 23, &ms), 0);
	CHECK_INT(date_parse_rfc1123("4 Nov. 2025 09:05:01 UTC", 24, &ms), MC_ERR_INVALID);
	CHECK_INT(date_parse_rfc1123("4 No\xc3 2025 09:05:01 UTC", 23, &ms), MC_ERR_INVALID);
	CHECK_INT(date_parse_rfc1123("Tue, 31 Nov 2025 09:05:01 UTC", 29, &ms2), MC_ERR_INVALID);
	CHECK_INT(date_parse_rfc1123("Tue, 04 Nov 2025 09:05:01 CET", 29, &ms2), MC_ERR_INVALID);
	CHECK_INT(date_parse_rfc1123("yesterday", 9, &ms2), MC_ERR_INVALID);
	CHECK_INT(date_parse_rfc1123("", 0, &ms2), MC_ERR_INVALID);

	CHECK_INT(date_parse_iso("2015-04-02T15:58:47+0000", 24, &ms), 0);
	CHECK_INT(date_parse_iso("2015-04-02T15:58:47Z", 20, &ms2), 0);
	CHECK_INT(ms, ms2);
	CHECK_INT(date_parse_iso("2015-04-02T15:58:47+00:00", 25, &ms2), 0);
	CHECK_INT(ms, ms2);
	CHECK_INT(date_parse_iso("2015-04-02T16:58:47.250+01:00", 29, &ms2), 0);
	CHECK_INT(ms + 250, ms2);
	CHECK_INT(date_parse_iso("2015-04-02", 10, &ms2), 0);
	CHECK_INT(date_parse_iso("2015-04-02T15:58:47+0000x", 25, &ms2), MC_ERR_INVALID);
	CHECK_INT(date_parse_iso("2015-13-02T15:58:47Z", 20, &ms2), MC_ERR_INVALID);
}

static void test_log(void)
{
	char out[64];
	CHECK_STR(log_quote("abc", out, sizeof(out)), "abc");
	CHECK_STR(log_quote("a b\"", out, sizeof(out)), "\"a b\\\"\"");
	CHECK_STR(log_quote("", out, sizeof(out)), "\"\"");
	/* each byte that needs quoting, at every position of a string longer than a word */
	for (size_t at = 0; at < 19; at++) {
		static const char bad[] = {' ', '"', '\\', '=', 0x7f, (char)0xc3, '\t'};
		char s[20];
		memset(s, 'a', sizeof(s) - 1);
		s[19] = '\0';
		CHECK_STR(log_quote(s, out, sizeof(out)), s);
		for (size_t k = 0; k < sizeof(bad); k++) {
			s[at] = bad[k];
			CHECK(log_quote(s, out, sizeof(out))[0] == '"');
		}
	}
	CHECK_STR(log_quote("a\nb", out, sizeof(out)), "\"a\\x0ab\"");
}

static void test_file(void)
{
	char dir[] = "/tmp/mcapi-file-XXXXXX", path[128], buf[64];
	struct stat st;
	FILE *f;
	DIR *d;
	struct dirent *de;
	int entries = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/secret", dir);
	CHECK_INT(file_write_atomic(path, "one", 3, 0600, 0, NULL), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT(file_write_atomic(path, "two", 3, 0600, 0, NULL), MC_ERR_EXISTS);
	CHECK_INT(file_write_atomic(path, "three", 5, 0640, 1, NULL), 0);
	f = fopen(path, "r");
	CHECK(f && fgets(buf, sizeof(buf), f));
	CHECK_STR(buf, "three");
	if (f)
		fclose(f);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	d = opendir(dir);
	while (d && (de = readdir(d)))
		entries += de->d_name[0] != '.';
	if (d)
		closedir(d);
	CHECK_INT(entries, 1); /* no temporary file left behind */
	snprintf(buf, sizeof(buf), "%s/no/such/dir/x", dir);
	CHECK_INT(file_write_atomic(buf, "x", 1, 0600, 1, NULL), MC_ERR_IO);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_file();
	test_b64();
	test_crypto();
	test_date();
	test_log();
	return tap_done();
}
