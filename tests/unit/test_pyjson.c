/* Unit tests for the §4 body normaliser: Python literals and JSON in, strict JSON out.
 * Every successful output is also parsed with jansson and normalised a second time,
 * which must give the same text. */
#include "common/buf.h"
#include "common/err.h"
#include "common/pyjson.h"
#include "tap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAP (4u << 20)

static struct err last_err;

/* Normalises in[0..n) with a fresh buffer; returns the code, output in *out (caller frees). */
static int run(const char *in, size_t n, size_t depth, size_t cap, char **out, size_t *out_len)
{
	struct buf b;
	int rc;

	buf_init(&b, cap);
	err_clear(&last_err);
	rc = pyjson_normalise(in, n, depth, &b, &last_err);
	*out = buf_detach(&b, out_len);
	return rc;
}

/* Checks that the output of a success is JSON for jansson and normalises to itself. */
static void check_output(const char *got, size_t n, size_t depth, const char *where)
{
	json_error_t jerr;
	json_t *j;
	char *again;
	size_t again_len;

	if (n == 0)
		return;
	j = json_loadb(got, n, JSON_ALLOW_NUL, &jerr); /* as the server loads it */
	tap_check(j != NULL, where, __FILE__, __LINE__);
	if (!j)
		fprintf(stderr, "# jansson: %s in %s\n", jerr.text, got);
	json_decref(j);
	CHECK_INT(run(got, n, depth, CAP, &again, &again_len), 0);
	tap_check(again_len == n && memcmp(again, got, n) == 0, "idempotent", __FILE__, __LINE__);
	free(again);
}

static void ok_n(const char *in, size_t n, const char *want, int line)
{
	char *got;
	size_t got_len;
	int rc = run(in, n, PYJSON_MAX_DEPTH, CAP, &got, &got_len);

	tap_check_int(rc, 0, in, __FILE__, line);
	if (rc)
		fprintf(stderr, "# %s\n", last_err.msg);
	tap_check_str(got, want, in, __FILE__, line);
	tap_check_int((long long)got_len, (long long)strlen(want), "length", __FILE__, line);
	if (!rc)
		check_output(got, got_len, PYJSON_MAX_DEPTH, in);
	free(got);
}

static void bad_n(const char *in, size_t n, int code, const char *msg_part, int line)
{
	char *got;
	size_t got_len;
	int rc = run(in, n, PYJSON_MAX_DEPTH, CAP, &got, &got_len);

	tap_check_int(rc, code, in, __FILE__, line);
	tap_check_int((long long)got_len, 0, "nothing written", __FILE__, line);
	if (msg_part) {
		tap_check(strstr(last_err.msg, msg_part) != NULL, msg_part, __FILE__, line);
		if (!strstr(last_err.msg, msg_part))
			fprintf(stderr, "# message: %s\n", last_err.msg);
	}
	free(got);
}

#define OK(in, want)  ok_n((in), strlen(in), (want), __LINE__)
#define BAD(in, msg)  bad_n((in), strlen(in), MC_ERR_INVALID, (msg), __LINE__)
#define BADN(in, msg) bad_n((in), sizeof(in) - 1, MC_ERR_INVALID, (msg), __LINE__)

static void test_basics(void)
{
	OK("{'data': []}", "{\"data\":[]}");
	OK("{\"data\": []}", "{\"data\":[]}");
	OK(" {\n\t\"data\" :\r\n [ ] } \n", "{\"data\":[]}");
	OK("{'data': [{'domain': 'example.com', 'sendInvitation': False}]}",
	   "{\"data\":[{\"domain\":\"example.com\",\"sendInvitation\":false}]}");
	OK("{'a': {'b': [1, [2, {'c': None}]], 'd': {}}, 'e': [[]]}",
	   "{\"a\":{\"b\":[1,[2,{\"c\":null}]],\"d\":{}},\"e\":[[]]}");
	OK("[True, False, None, true, false, null]", "[true,false,null,true,false,null]");
	OK("[]", "[]");
	OK("{}", "{}");
	OK("\xef\xbb\xbf{}", "{}");
	OK("{u'data': [U\"x\"]}", "{\"data\":[\"x\"]}");
	OK("", "");
	OK("   \n\t\r\f ", "");
	OK("\xef\xbb\xbf ", "");
}

static void test_strings(void)
{
	OK("['a\\'b', 'c\\\"d', 'e\\\\f', 'g\\/h']", "[\"a'b\",\"c\\\"d\",\"e\\\\f\",\"g/h\"]");
	OK("['\\n\\r\\t\\b\\f']", "[\"\\n\\r\\t\\b\\f\"]");
	OK("['\\a\\v\\x1f\\x7f']", "[\"\\u0007\\u000b\\u001f\x7f\"]");
	OK("['\\x41\\x4a\\x4A', '\\101\\7\\0101']", "[\"AJJ\",\"A\\u0007\\b1\"]");
	OK("['\\xfc', '\\u00fc', '\\u00FC', \"\\u00fc\"]",
	   "[\"\xc3\xbc\",\"\xc3\xbc\",\"\xc3\xbc\",\"\xc3\xbc\"]");
	OK("['\\u20ac', '\\U0001F600', '\\ud83d\\ude00', '\\U0010ffff']",
	   "[\"\xe2\x82\xac\",\"\xf0\x9f\x98\x80\",\"\xf0\x9f\x98\x80\",\"\xf4\x8f\xbf\xbf\"]");
	OK("['\\777']", "[\"\xc7\xbf\"]");
	OK("{\"k\": \"it's\"}", "{\"k\":\"it's\"}");
	OK("{'k': 'say \"hi\"'}", "{\"k\":\"say \\\"hi\\\"\"}");
	OK("{'k': \"it's \\\"x\\\"\"}", "{\"k\":\"it's \\\"x\\\"\"}");
	OK("{'domain': 'b\xc3\xbc"
	   "cher.example'}",
	   "{\"domain\":\"b\xc3\xbc"
	   "cher.example\"}");
	OK("['\xe2\x82\xac\xf0\x9f\x98\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf']",
	   "[\"\xe2\x82\xac\xf0\x9f\x98\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"]");
	/* raw control characters are accepted and escaped */
	OK("{'a': 'x\ty\nz\x01'}", "{\"a\":\"x\\ty\\nz\\u0001\"}");
	OK("['']", "[\"\"]");
	OK("[\"\"]", "[\"\"]");
}

static void test_commas_tuples(void)
{
	OK("[1, 2, ]", "[1,2]");
	OK("{'a': 1, }", "{\"a\":1}");
	OK("{'a': [1,], 'b': {'c': 2,},}", "{\"a\":[1],\"b\":{\"c\":2}}");
	OK("(1,)", "[1]");
	OK("(1, 2)", "[1,2]");
	OK("(1, 2,)", "[1,2]");
	OK("()", "[]");
	OK("{'t': ((1,), ('a', 'b'), ())}", "{\"t\":[[1],[\"a\",\"b\"],[]]}");
	BAD("(1)", "tuple");
	BAD("[(1)]", "tuple");
	BAD("[1,,2]", "offset 3");
	BAD("[,]", "offset 1");
	BAD("{,}", "offset 1");
	BAD("(,)", "offset 1");
	BAD("[1 2]", "offset 3");
	BAD("{'a' 1}", "':'");
	BAD("{'a': 1 'b': 2}", "offset 8");
	BAD("[1}", "expected ']'");
	BAD("{'a': 1]", "expected '}'");
	BAD("(1,]", "expected ')'");
	BAD("[1, 2", "end of body");
	BAD("{'a':", "end of body");
	BAD("{'a': }", "a value");
}

static void test_numbers(void)
{
	OK("[0, -0, -1, 1.5, -0.25, 1e10, 1E-5, 2e+3, 0.0]",
	   "[0,-0,-1,1.5,-0.25,1e10,1E-5,2e+3,0.0]");
	OK("[+3, 1., .5, -.5, 1.e3, +.5e-2]", "[3,1.0,0.5,-0.5,1.0e3,0.5e-2]");
	OK("[9223372036854775807, -9223372036854775808]",
	   "[9223372036854775807,-9223372036854775808]");
	OK("[1.7976931348623157e308, -1.7976931348623157e308, 1e-400, 0e999999999999]",
	   "[1.7976931348623157e308,-1.7976931348623157e308,1e-400,0e999999999999]");
	OK("[0.001e311, 17976931348623158079e289]", "[0.001e311,17976931348623158079e289]");
	OK("[1e308, 123456789012345678901234567890.5]", "[1e308,123456789012345678901234567890.5]");
	BAD("[9223372036854775808]", "out of range");
	BAD("[-9223372036854775809]", "out of range");
	BAD("[12345678901234567890123]", "out of range");
	BAD("[1.7976931348623159e308]", "out of range");
	BAD("[17976931348623158079372897140530341507993413271003782693617377898044496829276475094"
	    "66490179775872070963302864166928879109465555478519404026306574886715058206819089020"
	    "00708383676273854845817711531764475730270069855571366959622842914819860834936475292"
	    "719074168444365510704342711559699508093042880177904174497792.0]",
	    "out of range");
	OK("[17976931348623158079372897140530341507993413271003782693617377898044496829276475094"
	   "66490179775872070963302864166928879109465555478519404026306574886715058206819089020"
	   "00708383676273854845817711531764475730270069855571366959622842914819860834936475292"
	   "719074168444365510704342711559699508093042880177904174497791.9]",
	   "[17976931348623158079372897140530341507993413271003782693617377898044496829276475094"
	   "66490179775872070963302864166928879109465555478519404026306574886715058206819089020"
	   "00708383676273854845817711531764475730270069855571366959622842914819860834936475292"
	   "719074168444365510704342711559699508093042880177904174497791.9]");
	BAD("[1e309]", "out of range");
	BAD("[-1e400]", "out of range");
	BAD("[0.0001e313]", "out of range");
	BAD("[1e99999999999999999999999999]", "out of range");
	BAD("[nan]", "unknown word 'nan'");
	BAD("[inf]", "unknown word");
	BAD("[-inf]", "invalid number");
	BAD("[Infinity]", "unknown word");
	BAD("[0x10]", "invalid number");
	BAD("[1_000]", "invalid number");
	BAD("[01]", "leading zero");
	BAD("[-01.5]", "leading zero");
	BAD("[1L]", "invalid number");
	BAD("[1j]", "invalid number");
	BAD("[-]", "invalid number");
	BAD("[.]", "invalid number");
	BAD("[+]", "invalid number");
	BAD("[1e]", "invalid number");
	BAD("[1e+]", "invalid number");
	BAD("[1.2.3]", "invalid number");
	BAD("[- 1]", "invalid number");
	BAD("[--1]", "invalid number");
}

static void test_invalid(void)
{
	BAD("{'a': 'b", "unterminated string starting at offset 6");
	BAD("{'a': 'b\\", "unterminated string starting at offset 6");
	BAD("{'a\": 1}", "unterminated string starting at offset 1");
	BAD("['\\q']", "invalid escape '\\q' at offset 2");
	BAD("['\\x4']", "too few hex digits");
	BAD("['\\xg0']", "too few hex digits");
	BAD("['\\u12']", "too few hex digits");
	BAD("['\\U0001F60']", "too few hex digits");
	BAD("['\\N{DASH}']", "invalid escape");
	BAD("['\\\n']", "invalid escape at offset 2");
	BAD("['\\U00110000']", "invalid code point");
	BAD("['\\U0000d800']", "invalid code point");
	BAD("['\\ud800']", "lone surrogate");
	BAD("['\\udc00\\ud800']", "lone surrogate");
	BAD("['\\ud83d\\u0041']", "lone surrogate");
	BAD("['\\ud83dx']", "lone surrogate");
	/* escaped U+0000 is kept: the server refuses the item that holds it (pipeline.c) */
	OK("['\\x00']", "[\"\\u0000\"]");
	OK("['a\\0b']", "[\"a\\u0000b\"]");
	OK("[\"\\u0000\"]", "[\"\\u0000\"]");
	BAD("{'a\\0': 1}", "NUL character in a key");
	BADN("['a\0b']", "NUL character in string at offset 3");
	BAD("['\xc3\x28']", "invalid UTF-8 at offset 2");
	BAD("['\xc0\xaf']", "invalid UTF-8");
	BAD("['\xc1\xbf']", "invalid UTF-8");
	BAD("['\xe0\x80\xaf']", "invalid UTF-8");
	BAD("['\xed\xa0\x80']", "invalid UTF-8");
	BAD("['\xf0\x80\x80\xaf']", "invalid UTF-8");
	BAD("['\xf4\x90\x80\x80']", "invalid UTF-8");
	BAD("['\xf5\x80\x80\x80']", "invalid UTF-8");
	BAD("['\xff']", "invalid UTF-8");
	BAD("['\x80']", "invalid UTF-8");
	BAD("['\xe2\x82']", "invalid UTF-8");
	BAD("['\xe2\x82", "invalid UTF-8");
	BAD("['x\xf0\x9f\x98", "invalid UTF-8 at offset 3");
	BAD("[\xc3\xbc]", "byte 0xc3");
	BAD("{'a': yes}", "unknown word 'yes' at offset 6");
	BAD("{a: 1}", "string key");
	BAD("{1: 2}", "string key");
	BAD("{None: 2}", "string key");
	BAD("[TRUE]", "unknown word");
	BAD("[b'x']", "unknown word 'b'");
	BAD("[r'x']", "unknown word 'r'");
	BAD("[u]", "unknown word 'u'");
	BAD("{} x", "unexpected 'x' at offset 3, expected the end of the body");
	BAD("{}{}", "offset 2");
	BAD("{},", "offset 2");
	BAD("[1]]", "offset 3");
	BAD("1", "expected '{' or '['");
	BAD("'a'", "expected '{' or '['");
	BAD("None", "expected '{' or '['");
	BAD("}", "expected '{' or '['");
	BAD("['a' 'b']", "offset 5");
	BAD("{'a': 1} # comment", "offset 9");
	BAD("[\x01]", "byte 0x01");
	BAD("{", "end of body");
	BAD("[", "end of body");
	BAD("{'a'", "end of body");
	BAD("OrderedDict([('a', 1)])", "'{' or '['");
	BAD("{'a': set()}", "unknown word 'set'");
}

static char *nest(size_t n, const char *open, const char *mid, const char *close)
{
	size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
	char *s = malloc(n * (lo + lc) + lm + 1), *q = s;

	for (size_t i = 0; i < n; i++, q += lo)
		memcpy(q, open, lo);
	memcpy(q, mid, lm);
	q += lm;
	for (size_t i = 0; i < n; i++, q += lc)
		memcpy(q, close, lc);
	*q = '\0';
	return s;
}

static void test_depth(void)
{
	char *in, *got;
	size_t got_len;

	in = nest(64, "[", "1", "]");
	CHECK_INT(run(in, strlen(in), PYJSON_MAX_DEPTH, CAP, &got, &got_len), 0);
	CHECK_INT(got_len, 129);
	check_output(got, got_len, PYJSON_MAX_DEPTH, "depth 64");
	free(got);
	free(in);
	in = nest(65, "[", "1", "]");
	CHECK_INT(run(in, strlen(in), PYJSON_MAX_DEPTH, CAP, &got, &got_len), MC_ERR_DEPTH);
	CHECK(strstr(last_err.msg, "offset 64") != NULL);
	CHECK_INT(got_len, 0);
	free(got);
	free(in);
	in = nest(64, "{'k': (", "1", ",)}");
	CHECK_INT(run(in, strlen(in), 128, CAP, &got, &got_len), 0);
	check_output(got, got_len, 128, "depth 128 mixed");
	free(got);
	CHECK_INT(run(in, strlen(in), 127, CAP, &got, &got_len), MC_ERR_DEPTH);
	free(got);
	free(in);
	/* past the on-stack levels: the stack is allocated */
	in = nest(1000, "[", "", "]");
	CHECK_INT(run(in, strlen(in), 1000, CAP, &got, &got_len), 0);
	CHECK_INT(got_len, 2000);
	free(got);
	CHECK_INT(run(in, strlen(in), 999, CAP, &got, &got_len), MC_ERR_DEPTH);
	free(got);
	CHECK_INT(run(in, strlen(in), (size_t)-1, CAP, &got, &got_len), 0);
	free(got);
	free(in);
	CHECK_INT(run("{}", 2, 0, CAP, &got, &got_len), MC_ERR_DEPTH);
	free(got);
	CHECK_INT(run("", 0, 0, CAP, &got, &got_len), 0);
	free(got);
}

static void test_cap(void)
{
	struct buf b;
	struct err e;
	const char *in = "{'data': []}";

	buf_init(&b, 10);
	CHECK_INT(pyjson_normalise(in, strlen(in), PYJSON_MAX_DEPTH, &b, &e), MC_ERR_TOO_LARGE);
	CHECK(strstr(e.msg, "10 bytes") != NULL);
	CHECK_INT(b.len, 0);
	buf_release(&b);

	buf_init(&b, 11);
	CHECK_INT(pyjson_normalise(in, strlen(in), PYJSON_MAX_DEPTH, &b, &e), 0);
	CHECK_STR(b.data, "{\"data\":[]}");
	buf_release(&b);

	/* output is appended, and an error leaves what was there */
	buf_init(&b, 64);
	CHECK_INT(buf_adds(&b, "x="), 0);
	CHECK_INT(pyjson_normalise(in, strlen(in), PYJSON_MAX_DEPTH, &b, &e), 0);
	CHECK_STR(b.data, "x={\"data\":[]}");
	CHECK_INT(pyjson_normalise("{'a': [1, 2", 11, PYJSON_MAX_DEPTH, &b, &e), MC_ERR_INVALID);
	CHECK_STR(b.data, "x={\"data\":[]}");
	CHECK_INT(b.len, 13);
	buf_release(&b);

	/* a NULL struct err is allowed */
	buf_init(&b, 64);
	CHECK_INT(pyjson_normalise("[x]", 3, PYJSON_MAX_DEPTH, &b, NULL), MC_ERR_INVALID);
	buf_release(&b);
}

/* Builds a body of about 1 MiB from a head, a repeated unit and a tail. */
static char *big(const char *head, const char *unit, const char *sep, const char *tail, size_t *n)
{
	size_t lh = strlen(head), lu = strlen(unit), ls = strlen(sep), lt = strlen(tail);
	size_t count = (1u << 20) / (lu + ls);
	char *s = malloc(lh + count * (lu + ls) + lt + 1), *q = s;

	memcpy(q, head, lh);
	q += lh;
	for (size_t i = 0; i < count; i++) {
		if (i) {
			memcpy(q, sep, ls);
			q += ls;
		}
		memcpy(q, unit, lu);
		q += lu;
	}
	memcpy(q, tail, lt);
	q += lt;
	*q = '\0';
	*n = (size_t)(q - s);
	return s;
}

static void test_large(void)
{
	static const struct {
		const char *head, *unit, *sep, *tail;
	} cases[] = {
	        {"{'s': '", "a", "", "'}"},
	        {"{'s': '", "\\x41\\u00fc\\\"", "", "'}"},
	        {"{'s': '", "\xc3\xbc\xe2\x82\xac", "", "'}"},
	        {"{'data': [",
	         "{'domain': 'b\xc3\xbc"
	         "cher.example', 'ok': True}",
	         ", ", ", ]}"},
	        {"[",
	         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[(1,)"
	         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	         ",", "]"},
	        {"[1", "0", "", ".5e-1048600]"},
	        {"[0.", "0", "", "1]"},
	        {"[1e", "9", "", "]"},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t n, got_len;
		char *in = big(cases[k].head, cases[k].unit, cases[k].sep, cases[k].tail, &n), *got;
		clock_t t0 = clock();
		int rc = run(in, n, PYJSON_MAX_DEPTH, CAP, &got, &got_len);
		double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;

		fprintf(stderr, "# large case %zu: %zu bytes in %.3f s\n", k, n, secs);
		if (k == 7) {
			CHECK_INT(rc, MC_ERR_INVALID);
		} else {
			CHECK_INT(rc, 0);
			check_output(got, got_len, PYJSON_MAX_DEPTH, "large");
		}
		free(got);
		free(in);
	}
}

int main(void)
{
	test_basics();
	test_strings();
	test_commas_tuples();
	test_numbers();
	test_invalid();
	test_depth();
	test_cap();
	test_large();
	return tap_done();
}
