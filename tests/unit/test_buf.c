/* Unit tests for the capped buffer. */
#include "common/buf.h"
#include "common/err.h"
#include "tap.h"

#include <stdlib.h>

int main(void)
{
	struct buf b;
	char *p;
	size_t n;

	buf_init(&b, 8);
	CHECK_INT(buf_adds(&b, "abcd"), 0);
	CHECK_INT(buf_addf(&b, "%d", 123), 0);
	CHECK_STR(b.data, "abcd123");
	CHECK_INT(buf_adds(&b, "xy"), MC_ERR_TOO_LARGE);
	CHECK_STR(b.data, "abcd123");
	CHECK_INT(buf_addc(&b, 'z'), 0);
	CHECK_INT(b.len, 8);
	CHECK_INT(buf_addc(&b, 'z'), MC_ERR_TOO_LARGE);
	p = buf_detach(&b, &n);
	CHECK_STR(p, "abcd123z");
	CHECK_INT(n, 8);
	free(p);
	CHECK(b.data == NULL);
	p = buf_detach(&b, &n);
	CHECK_STR(p, "");
	free(p);
	buf_release(&b);

	/* decimal numbers, both ends of the range */
	buf_init(&b, 256);
	CHECK_INT(buf_add_i64(&b, 0), 0);
	CHECK_INT(buf_addc(&b, ' '), 0);
	CHECK_INT(buf_add_i64(&b, -42), 0);
	CHECK_INT(buf_addc(&b, ' '), 0);
	CHECK_INT(buf_add_i64(&b, 9223372036854775807LL), 0);
	CHECK_INT(buf_addc(&b, ' '), 0);
	CHECK_INT(buf_add_i64(&b, -9223372036854775807LL - 1), 0);
	CHECK_STR(b.data, "0 -42 9223372036854775807 -9223372036854775808");
	buf_release(&b);
	buf_init(&b, 3);
	CHECK_INT(buf_add_i64(&b, 1234), MC_ERR_TOO_LARGE);
	buf_release(&b);
	return tap_done();
}
