/* The region table of API.md §10: parsing the `regions` option, this server's own entry,
 * and the lookup that never points at Mimecast's hosts for an unconfigured region. */
#include "common/err.h"
#include "server/region.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static void test_parse(void)
{
	struct region_table t;
	struct err e = {0};
	int known = -1;

	CHECK_INT(region_table_parse(&t, "", "eu", "http://127.0.0.1:8080", &e), 0);
	CHECK_INT(t.n, 1);
	CHECK_STR(region_url(&t, "eu", &known), "http://127.0.0.1:8080");
	CHECK_INT(known, 1);
	CHECK_STR(region_url(&t, "us", &known), "http://127.0.0.1:8080");
	CHECK_INT(known, 0);
	CHECK_STR(region_code(&t, "US"), "eu");

	CHECK_INT(region_table_parse(&t, " US = https://us.example.test/ ,de=http://de.test:81,, ",
	                             "EU", "https://eu.example.test//", &e),
	          0);
	CHECK_INT(t.n, 3);
	CHECK_STR(region_url(&t, "us", NULL), "https://us.example.test");
	CHECK_STR(region_url(&t, "De", &known), "http://de.test:81");
	CHECK_INT(known, 1);
	CHECK_STR(region_url(&t, "eu", NULL), "https://eu.example.test");
	CHECK_STR(region_code(&t, "US"), "us");
	CHECK_STR(t.r[t.self].code, "eu");

	/* the table may name this server's region itself: the table wins */
	CHECK_INT(region_table_parse(&t, "eu=https://eu.lb.test", "eu", "http://127.0.0.1:1", &e),
	          0);
	CHECK_INT(t.n, 1);
	CHECK_STR(region_url(&t, "eu", NULL), "https://eu.lb.test");
}

static void test_parse_errors(void)
{
	static const char *bad[] = {
	        "eu",                                  /* no url */
	        "=https://x.test",                     /* no code */
	        "e u=https://x.test",                  /* space in code */
	        "eu=ftp://x.test",                     /* scheme */
	        "eu=https://",                         /* no host */
	        "eu=https://x .test",                  /* space in url */
	        "eu=https://a.test,EU=https://b.test", /* twice */
	        "abcdefghijklmnop=https://x.test",     /* code too long */
	};
	struct region_table t;
	struct err e = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		CHECK_INT(region_table_parse(&t, bad[i], "eu", "http://127.0.0.1:1", &e),
		          MC_ERR_INVALID);
		CHECK(strstr(e.msg, "regions") != NULL);
	}
	CHECK_INT(region_table_parse(&t, "", "e/u", "http://127.0.0.1:1", &e), MC_ERR_INVALID);
	CHECK_INT(region_table_parse(&t, "", "eu", "127.0.0.1:1", &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "public_base_url") != NULL);

	char many[4096] = "";
	size_t n = 0;
	for (int i = 0; i < REGION_TABLE_MAX + 1; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "r%d=https://r%d.test,", i, i);
	CHECK_INT(region_table_parse(&t, many, "eu", "http://127.0.0.1:1", &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "too many") != NULL);
}

static void test_mimecast(void)
{
	char url[64];

	CHECK(region_is_mimecast("eu"));
	CHECK(region_is_mimecast("USB"));
	CHECK(region_is_mimecast("je"));
	CHECK(!region_is_mimecast("uk"));
	CHECK(!region_is_mimecast(""));
	CHECK_INT(region_mimecast_url("DE", url, sizeof(url)), 0);
	CHECK_STR(url, "https://de-api.mimecast.com");
	CHECK_INT(region_mimecast_url("api", url, sizeof(url)), 0);
	CHECK_STR(url, "https://api.mimecast.com");
	CHECK_INT(region_mimecast_url("xx", url, sizeof(url)), MC_ERR_INVALID);
	CHECK_INT(region_mimecast_url("usb", url, 8), MC_ERR_TOO_LARGE);
}

int main(void)
{
	test_parse();
	test_parse_errors();
	test_mimecast();
	return tap_done();
}
