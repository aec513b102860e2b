/* Unit tests for YAML seed files (server/emu/seed_yaml.c): the tree a YAML document becomes
 * (the same a JSON file would give), the YAML 1.2 core scalars, and the refusals (aliases,
 * duplicate keys, two documents, nesting too deep, bad syntax with its line and column);
 * and the deterministic random streams of common/crypto.c. */
#include "common/crypto.h"
#include "common/err.h"
#include "server/emu/seed_doc.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The compact JSON text of YAML text y, or the error message. */
static void yaml_as_json(const char *y, char *out, size_t size)
{
	struct err e = {0};
	json_t *doc = NULL;
	char *s;

	if (seed_yaml_parse("t.yaml", y, strlen(y), &doc, &e) != 0) {
		snprintf(out, size, "error: %s", e.msg);
		return;
	}
	s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	snprintf(out, size, "%s", s ? s : "?");
	free(s);
	json_decref(doc);
}

#define YAML_IS(y, want)                                                                           \
	do {                                                                                       \
		char got_[512];                                                                    \
		yaml_as_json((y), got_, sizeof(got_));                                             \
		CHECK_STR(got_, (want));                                                           \
	} while (0)

static void test_shapes(void)
{
	YAML_IS("a: 1\nb: [x, y]\nc:\n  d: e\n",
	        "{\"a\":1,\"b\":[\"x\",\"y\"],\"c\":{\"d\":\"e\"}}");
	YAML_IS("- 1\n- {k: v}\n", "[1,{\"k\":\"v\"}]");
	YAML_IS("{\"a\": [1, 2.5, \"3\"]}", "{\"a\":[1,2.5,\"3\"]}"); /* JSON is YAML */
	YAML_IS("# only a comment\nx: |\n  two\n  lines\n", "{\"x\":\"two\\nlines\\n\"}");
	YAML_IS("anchored: &a 1\n", "{\"anchored\":1}"); /* an anchor alone is harmless */
}

static void test_scalars(void)
{
	YAML_IS("[~, null, NULL, '', ]", "[null,null,null,\"\"]");
	YAML_IS("a:\nb: ''\n", "{\"a\":null,\"b\":\"\"}");
	YAML_IS("[true, False, TRUE, yes, no, on, off, y]",
	        "[true,false,true,\"yes\",\"no\",\"on\",\"off\",\"y\"]");
	YAML_IS("[0, -7, +3, 0x1f, 0o17, 012, 1.5, -2e3, .5]", "[0,-7,3,31,15,12,1.5,-2000.0,0.5]");
	YAML_IS("[\"1\", '2', !!str 3, \"true\", 1.2.3, 99999999999999999999, .inf, 1_000]",
	        "[\"1\",\"2\",\"3\",\"true\",\"1.2.3\",\"99999999999999999999\",\".inf\","
	        "\"1_000\"]");
	YAML_IS("k: correct horse\nt: mcapi-verify-abc\nd: 2026-01-01\n",
	        "{\"d\":\"2026-01-01\",\"k\":\"correct horse\",\"t\":\"mcapi-verify-abc\"}");
}

static void test_refusals(void)
{
	char got[512], deep[400];

	yaml_as_json("a: &x [1]\nb: *x\n", got, sizeof(got));
	CHECK(strstr(got, "line 2 column 4") && strstr(got, "alias (*x)"));
	yaml_as_json("a: 1\nb: 2\na: 3\n", got, sizeof(got));
	CHECK(strstr(got, "line 3") && strstr(got, "'a' is there twice"));
	yaml_as_json("a: 1\n---\nb: 2\n", got, sizeof(got));
	CHECK(strstr(got, "second document") != NULL);
	yaml_as_json("accounts:\n  - name: x\n   code: [y\n", got, sizeof(got));
	CHECK(strncmp(got, "error: seed file 't.yaml': line ", 32) == 0 && strstr(got, "column"));
	yaml_as_json("? [a]\n: b\n", got, sizeof(got));
	CHECK(strstr(got, "a key that is a list") != NULL);
	yaml_as_json("", got, sizeof(got));
	CHECK(strstr(got, "empty") != NULL);
	memset(deep, '[', 100);
	deep[100] = '\0';
	yaml_as_json(deep, got, sizeof(got));
	CHECK(strstr(got, "deeper than 64") != NULL);
	memset(deep, '[', 60);
	memset(deep + 60, ']', 60);
	deep[120] = '\0';
	yaml_as_json(deep, got, sizeof(got));
	CHECK(strncmp(got, "[[[[", 4) == 0);
}

static void test_deterministic_streams(void)
{
	unsigned char a[32], b[32], c[32];
	char t1[64], t2[64];

	CHECK_INT(crypto_deterministic("seed-x", 6), 0);
	CHECK(crypto_is_deterministic());
	random_bytes(RND_ACCOUNT, a, sizeof(a));
	random_bytes(RND_ACCOUNT, b, sizeof(b));
	CHECK(memcmp(a, b, sizeof(a)) != 0); /* each call the next block */
	random_token(RND_DOMAIN_TOKEN, 24, t1, sizeof(t1));
	/* again from the start: the same values, whatever other streams did meanwhile */
	CHECK_INT(crypto_deterministic("seed-x", 6), 0);
	random_token(RND_AUDIT_ID, 24, t2, sizeof(t2));
	random_token(RND_DOMAIN_TOKEN, 24, t2, sizeof(t2));
	CHECK_STR(t2, t1);
	random_bytes(RND_ACCOUNT, c, sizeof(c));
	CHECK(memcmp(a, c, sizeof(a)) == 0);
	CHECK(random_uniform(RND_FAULT, 10) < 10);
	/* another seed, other values */
	CHECK_INT(crypto_deterministic("seed-y", 6), 0);
	random_bytes(RND_ACCOUNT, c, sizeof(c));
	CHECK(memcmp(a, c, sizeof(a)) != 0);
}

int main(void)
{
	test_shapes();
	test_scalars();
	test_refusals();
	test_deterministic_streams();
	return tap_done();
}
