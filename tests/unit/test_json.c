/* Unit tests for the jansson helpers: json_write (compared with jansson by re-parsing),
 * lenient getters and null stripping. */
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "tap.h"

#include <stdlib.h>

static void roundtrip(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je), *back;
	struct buf b;

	CHECK(v != NULL);
	buf_init(&b, 1 << 20);
	CHECK_INT(json_write(&b, v), 0);
	back = json_loads(b.data, JSON_DECODE_ANY, &je);
	CHECK(back && json_equal(v, back));
	if (!back || !json_equal(v, back))
		printf("  roundtrip of %s gave %s\n", text, b.data);
	json_decref(v);
	json_decref(back);
	buf_release(&b);
}

static void test_write(void)
{
	struct buf b;
	json_t *v;

	buf_init(&b, 1 << 20);
	v = json_pack("{s:i, s:s, s:[b,b,n], s:{}, s:[]}", "n", -42, "s", "a\"b\\c\n\x01é", "l", 1,
	              0, "o", "a");
	CHECK_INT(json_write(&b, v), 0);
	CHECK_STR(b.data, "{\"n\":-42,\"s\":\"a\\\"b\\\\c\\n\\u0001é\",\"l\":[true,false,null],"
	                  "\"o\":{},\"a\":[]}");
	json_decref(v);
	roundtrip("{\"x\": 1.5, \"y\": 1e300, \"z\": -0.25, \"w\": 2.0}");
	roundtrip("[\"\\u2028\\t\\r\\b\\f\\/\", 9223372036854775807, -9223372036854775808]");
	roundtrip("{\"deep\": [[[[{\"a\": [1, {\"b\": \"\\ud83d\\ude00\"}]}]]]]}");

	/* depth and cap limits */
	buf_reset(&b);
	v = json_array();
	json_t *cur = v;
	for (int i = 0; i < 200; i++) {
		json_t *n = json_array();
		json_array_append_new(cur, n);
		cur = n;
	}
	CHECK_INT(json_write(&b, v), MC_ERR_DEPTH);
	json_decref(v);
	buf_release(&b);
	buf_init(&b, 4);
	v = json_string("too long");
	CHECK_INT(json_write(&b, v), MC_ERR_TOO_LARGE);
	json_decref(v);
	buf_release(&b);
}

/* The word-at-a-time scan of write_string and json_write_member: an escaped byte at every
 * position of strings around the word size, and a buffer filled up to its cap. */
static void test_write_positions(void)
{
	static const char esc[] = {'"', '\\', '\n', 0x01};
	static const char *want[] = {"\\\"", "\\\\", "\\n", "\\u0001"};
	struct buf b;

	for (size_t len = 1; len <= 20; len++) {
		for (size_t at = 0; at < len; at++) {
			for (size_t k = 0; k < sizeof(esc); k++) {
				char s[24], expect[64], *w = expect;
				json_t *v;

				memset(s, 'a', len);
				s[len] = '\0';
				s[at] = esc[k];
				*w++ = '"';
				memset(w, 'a', at), w += at;
				memcpy(w, want[k], strlen(want[k])), w += strlen(want[k]);
				memset(w, 'a', len - at - 1), w += len - at - 1;
				*w++ = '"';
				*w = '\0';
				buf_init(&b, 1 << 20);
				v = json_string(s);
				CHECK_INT(json_write(&b, v), 0);
				CHECK_STR(b.data, expect);
				json_decref(v);
				buf_reset(&b);
				CHECK_INT(json_write_member(&b, 1, s, "x"), 0);
				CHECK(strncmp(b.data, expect, strlen(expect)) == 0 &&
				      strcmp(b.data + strlen(expect), ":\"x\"") == 0);
				buf_release(&b);
			}
		}
	}
	buf_init(&b, 1 << 20);
	CHECK_INT(json_write_member(&b, 1, "k", "v"), 0);
	CHECK_INT(json_write_member(&b, 0, "long key of more than eight", "é and more"), 0);
	CHECK_STR(b.data, "\"k\":\"v\",\"long key of more than eight\":\"é and more\"");
	buf_release(&b);
	buf_init(&b, 9); /* "k":"12" fits, one more byte does not */
	CHECK_INT(json_write_member(&b, 1, "k", "12"), 0);
	CHECK_INT(json_write_member(&b, 0, "k", "1"), MC_ERR_TOO_LARGE);
	buf_release(&b);
}

static void test_getters(void)
{
	json_t *o =
	        json_loads("{\"a\": \"TRUE\", \"b\": false, \"c\": \"12\", \"d\": 7, \"e\": null, "
	                   "\"UserName\": \"x\", \"f\": {\"g\": null}}",
	                   0, NULL);
	int bv;
	int64_t iv;
	const char *s;

	CHECK_INT(json_get_bool(o, "a", &bv), 1);
	CHECK(bv == 1);
	CHECK_INT(json_get_bool(o, "b", &bv), 1);
	CHECK(bv == 0);
	CHECK_INT(json_get_bool(o, "c", &bv), -1);
	CHECK_INT(json_get_int(o, "c", &iv), 1);
	CHECK_INT(iv, 12);
	CHECK_INT(json_get_int(o, "d", &iv), 1);
	CHECK_INT(json_get_int(o, "e", &iv), 0);
	CHECK_INT(json_get_string(o, "d", &s), -1);
	CHECK(json_get_ci(o, "username") != NULL);
	json_strip_nulls(o);
	CHECK(json_object_get(o, "e") == NULL);
	CHECK(json_object_size(json_object_get(o, "f")) == 0);
	json_decref(o);
}

int main(void)
{
	test_write();
	test_write_positions();
	test_getters();
	return tap_done();
}
