/* Unit tests for domain name normalisation (API.md §5.1). */
#include "common/err.h"
#include "server/api/domain_name.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static void ok(const char *in, const char *want)
{
	char out[DOMAIN_NAME_MAX + 1];
	const char *why = NULL;
	int rc = domain_name_normalise(in, strlen(in), out, &why);

	if (rc != 0)
		fprintf(stderr, "# '%s' refused: %s\n", in, why ? why : "?");
	CHECK_INT(rc, 0);
	CHECK_STR(out, want);
}

static void bad(const char *in)
{
	char out[DOMAIN_NAME_MAX + 1];
	const char *why = NULL;
	int rc = domain_name_normalise(in, strlen(in), out, &why);

	if (rc == 0)
		fprintf(stderr, "# '%s' accepted as '%s'\n", in, out);
	CHECK_INT(rc, MC_ERR_INVALID);
	CHECK(why != NULL && why[0] >= 'a' && why[0] <= 'z');
	CHECK_STR(out, "");
}

static void test_accepts(void)
{
	ok("example.com", "example.com");
	ok("  Example.COM.  ", "example.com");
	ok("\tmail.example.co.uk\n", "mail.example.co.uk");
	ok("a-b.example", "a-b.example");
	ok("ab--cd.example", "ab--cd.example");
	ok("1.example", "1.example");
	ok("123.456.example", "123.456.example");
	ok("example.xn--p1ai", "example.xn--p1ai");
	ok("Bücher.DE", "xn--bcher-kva.de");
	ok("xn--bcher-kva.de", "xn--bcher-kva.de");
	ok("XN--BCHER-KVA.de", "xn--bcher-kva.de");
	ok("straße.de", "xn--strae-oqa.de");
	ok("例え.テスト", "xn--r8jz45g.xn--zckzah");
	ok("a\xe3\x80\x82"
	   "example",
	   "a.example"); /* U+3002 */
	ok("a\xef\xbc\x8e"
	   "example\xef\xbd\xa1",
	   "a.example"); /* U+FF0E, trailing U+FF61 */
	ok("пример.рф", "xn--e1afmkfd.xn--p1ai");
	/* 63-octet label and a 253-octet name are the limits */
	{
		char name[300], want[300];
		memset(name, 'a', 63);
		memcpy(name + 63, ".com", 5);
		ok(name, name);
		/* 4 labels of 61 + ".com" ... build exactly 253 */
		size_t o = 0;
		for (int i = 0; i < 4; i++) {
			memset(name + o, 'b', 61);
			o += 61;
			name[o++] = '.';
		}
		memcpy(name + o, "abcdefg", 8); /* 4*62 + 7 = 255: too long */
		bad(name);
		memcpy(name + o, "abcde", 6); /* 253 */
		CHECK_INT(strlen(name), 253);
		memcpy(want, name, 254);
		ok(name, want);
		name[253] = '.';
		name[254] = '\0';
		ok(name, want); /* the trailing dot does not count */
	}
}

static void test_refuses(void)
{
	char name[400];

	bad("");
	bad("   ");
	bad(".");
	bad("com");
	bad("localhost.");
	bad("user@example.com");
	bad("@example.com");
	bad("exa mple.com");
	bad("example .com");
	bad("example..com");
	bad(".example.com");
	bad("example.com..");
	bad("-example.com");
	bad("example-.com");
	bad("example.-com");
	bad("ex_ample.com");
	bad("_dmarc.example.com");
	bad("example.com/path");
	bad("http://example.com");
	bad("exa!mple.com");
	bad("1.2.3.4");
	bad("example.123");
	bad("[::1]");
	bad("::1");
	bad("2001:db8::1");
	bad("xn--zz.com");
	bad("xn--a.com");
	bad("xn--.com");
	bad("💩.la");
	bad("exa\x01mple.com");
	bad("exa\x7fmple.com");
	bad("\xff\xfe.com");
	bad("caf\xc3.com");
	bad("\xef\xb8\x8e"); /* U+FE0E maps to nothing: an empty label */
	bad("\xef\xb8\x8e.example.com");
	bad("\xc2\xad.example.com"); /* U+00AD soft hyphen, mapped away */
	memset(name, 'a', 64);
	memcpy(name + 64, ".com", 5);
	bad(name);
	memset(name, 'a', 300);
	name[300] = '\0';
	bad(name);
	for (int i = 0; i < 150; i++) {
		name[2 * i] = 'a';
		name[2 * i + 1] = '.';
	}
	memcpy(name + 300, "com", 4);
	bad(name);
	{
		char out[DOMAIN_NAME_MAX + 1];
		CHECK_INT(domain_name_normalise("exa\0mple.com", 12, out, NULL), MC_ERR_INVALID);
	}
}

static void test_blank_and_parent(void)
{
	CHECK(domain_name_is_blank("", 0));
	CHECK(domain_name_is_blank(" \t\n", 3));
	CHECK(!domain_name_is_blank(" a ", 3));
	CHECK_STR(domain_name_parent("a.b.example.com"), "b.example.com");
	CHECK_STR(domain_name_parent("b.example.com"), "example.com");
	CHECK(domain_name_parent("example.com") == NULL);
	CHECK(domain_name_parent("com") == NULL);
}

int main(void)
{
	test_accepts();
	test_refuses();
	test_blank_and_parent();
	return tap_done();
}
