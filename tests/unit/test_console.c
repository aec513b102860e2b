/* Unit tests for the web console's escaping and form decoding (emu/console.c). */
#include "common/buf.h"
#include "common/err.h"
#include "server/emu/emu_int.h"
#include "tap.h"

#include <string.h>

static const char *escaped(struct buf *b, const char *s)
{
	buf_reset(b);
	CHECK_INT(emu_html_escape(b, s), 0);
	return b->data ? b->data : "";
}

int main(void)
{
	struct buf b;
	char v[16];
	const char *f;

	buf_init(&b, 1024);
	CHECK_STR(escaped(&b, "plain text"), "plain text");
	CHECK_STR(escaped(&b, "<script>alert(1)</script>"),
	          "&lt;script&gt;alert(1)&lt;/script&gt;");
	CHECK_STR(escaped(&b, "a&amp;b \"q\" 'r'"), "a&amp;amp;b &quot;q&quot; &#39;r&#39;");
	CHECK_STR(escaped(&b, "é ü"), "é ü"); /* UTF-8 passes as it is */
	CHECK_STR(escaped(&b, ""), "");
	buf_release(&b);
	buf_init(&b, 8); /* the cap holds */
	CHECK_INT(emu_html_escape(&b, "<<<"), MC_ERR_TOO_LARGE);
	buf_release(&b);

	f = "csrfx=no&csrf=abc%2Bd+e&empty=&alone&bad=%zz&nul=a%00b&cut=%4";
	CHECK_INT(emu_form_get(f, strlen(f), "csrf", v, sizeof(v)), 1);
	CHECK_STR(v, "abc+d e");
	CHECK_INT(emu_form_get(f, strlen(f), "csrfx", v, sizeof(v)), 1);
	CHECK_STR(v, "no");
	CHECK_INT(emu_form_get(f, strlen(f), "csr", v, sizeof(v)), 0);
	CHECK_STR(v, "");
	CHECK_INT(emu_form_get(f, strlen(f), "empty", v, sizeof(v)), 1);
	CHECK_STR(v, "");
	CHECK_INT(emu_form_get(f, strlen(f), "alone", v, sizeof(v)), 1);
	CHECK_INT(emu_form_get(f, strlen(f), "bad", v, sizeof(v)), -1);
	CHECK_INT(emu_form_get(f, strlen(f), "nul", v, sizeof(v)), -1);
	CHECK_INT(emu_form_get(f, strlen(f), "cut", v, sizeof(v)), -1);
	CHECK_STR(v, "");
	/* the length given is the end: nothing is read past it */
	CHECK_INT(emu_form_get(f, 9, "csrf", v, sizeof(v)), 0);
	CHECK_INT(emu_form_get("a=1&a=2", 7, "a", v, sizeof(v)), 1);
	CHECK_STR(v, "1");
	CHECK_INT(emu_form_get("a=0123456789abcdef", 18, "a", v, sizeof(v)), -1);
	CHECK_INT(emu_form_get("a=0123456789abcde", 17, "a", v, sizeof(v)), 1); /* 15 fit */
	CHECK_STR(v, "0123456789abcde");
	CHECK_INT(emu_form_get(NULL, 0, "a", v, sizeof(v)), 0);
	return tap_done();
}
