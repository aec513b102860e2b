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
	return tap_done();
}
