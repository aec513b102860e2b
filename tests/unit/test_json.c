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
	test_getters();
	return tap_done();
}
