/* The --query selector of the CLI (src/cli/query.c): the grammar docs/client.md promises —
 * dotted names, "quoted" names, [N], [-N], [*] projections that leave out misses — and the
 * refusals with their offsets. */
#include "cli/query.h"
#include "tap.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

static json_t *doc;

/* The compact JSON of what expr selects ("<miss>" for nothing, "<error>" when refused). */
static char *sel(const char *expr)
{
	char msg[256];
	struct query *q = query_compile(expr, msg, sizeof(msg));
	json_t *v;
	char *s;

	if (!q)
		return strdup("<error>");
	v = query_eval(q, doc);
	query_free(q);
	if (!v)
		return strdup("<miss>");
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	json_decref(v);
	return s;
}

#define SEL(expr, want)                                                                            \
	do {                                                                                       \
		char *got_ = sel(expr);                                                            \
		CHECK_STR(got_, want);                                                             \
		free(got_);                                                                        \
	} while (0)

int main(void)
{
	char msg[256];

	doc = json_loads("{\"meta\":{\"status\":200,\"a b\":1},\"data\":[{\"domain\":\"a.example\","
	                 "\"x\":[1,2]},{\"domain\":\"b.example\"},{\"other\":1}],\"fail\":[]}",
	                 0, NULL);
	CHECK(doc != NULL);
	SEL("", "{\"meta\":{\"status\":200,\"a b\":1},\"data\":[{\"domain\":\"a.example\",\"x\":[1,"
	        "2]},{\"domain\":\"b.example\"},{\"other\":1}],\"fail\":[]}");
	SEL("meta.status", "200");
	SEL("data[0].domain", "\"a.example\"");
	SEL("data[-1].other", "1");
	SEL("data[-3].x[1]", "2");
	SEL("data[*].domain", "[\"a.example\",\"b.example\"]");
	SEL("data[*].x[*]", "[[1,2]]");
	SEL("meta.\"a b\"", "1");
	SEL("\"data\"[1].\"domain\"", "\"b.example\"");
	SEL("data[3]", "<miss>");
	SEL("data[-4]", "<miss>");
	SEL("meta.status.deeper", "<miss>");
	SEL("meta[0]", "<miss>");
	SEL("data.domain", "<miss>");
	SEL("fail[*]", "[]");
	SEL("data[", "<error>");
	SEL("data[x]", "<error>");
	SEL("data..x", "<error>");
	SEL("data[0]domain", "<error>");
	SEL("a b", "<error>");
	SEL("\"open", "<error>");
	SEL("data[?x]", "<error>");
	CHECK(query_compile("data[", msg, sizeof(msg)) == NULL && strstr(msg, "offset 4"));
	json_decref(doc);
	return tap_done();
}
