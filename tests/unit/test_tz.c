/* Unit tests of tz.h: zone names, offsets with daylight-saving time (and the cursor's cache
 * across a transition), and the SIEM datetime format "yyyy-MM-ddTHH:mm:ss±hhmm". */
#include "common/err.h"
#include "server/tz.h"
#include "tap.h"

#include <stdio.h>

#include "common/banned.h"

/* 2026-03-29 01:00:00 UTC: Europe/London goes from +0000 to +0100 */
#define LONDON_SPRING INT64_C(1774746000000)

int main(void)
{
	struct tz_cursor c;
	char dt[TZ_DATETIME_SIZE];

	CHECK(tz_valid("UTC"));
	CHECK(tz_valid("Europe/London"));
	CHECK(tz_valid("America/New_York"));
	CHECK(!tz_valid(""));
	CHECK(!tz_valid("Mars/Olympus"));
	CHECK(!tz_valid("Europe/London\n"));
	CHECK(!tz_valid("../../etc/passwd"));

	tz_format(0, 0, dt);
	CHECK_STR(dt, "1970-01-01T00:00:00+0000");
	tz_format(INT64_C(1653322844000), -4 * 3600000, dt); /* the demisto fixture's record */
	CHECK_STR(dt, "2022-05-23T12:20:44-0400");
	tz_format(INT64_C(1495813661999), 3600000, dt);
	CHECK_STR(dt, "2017-05-26T16:47:41+0100");
	tz_format(INT64_C(951782400000), 5 * 3600000 + 30 * 60000, dt); /* 2000-02-29, India */
	CHECK_STR(dt, "2000-02-29T05:30:00+0530");
	tz_format(-1000, 0, dt);
	CHECK_STR(dt, "1969-12-31T23:59:59+0000");

	CHECK_INT(tz_cursor_open(&c, "Europe/London"), 0);
	CHECK_INT(tz_offset(&c, LONDON_SPRING - 1), 0);
	CHECK_INT(tz_offset(&c, LONDON_SPRING - 3600000), 0); /* cached: same interval */
	CHECK_INT(tz_offset(&c, LONDON_SPRING), 3600000);     /* across the transition */
	CHECK_INT(tz_offset(&c, LONDON_SPRING + 86400000), 3600000);
	CHECK_INT(tz_offset(&c, LONDON_SPRING - 1), 0); /* and back */
	tz_cursor_close(&c);

	CHECK_INT(tz_cursor_open(&c, "America/New_York"), 0);
	CHECK_INT(tz_offset(&c, INT64_C(1653322844000)), -4 * 3600000); /* May: EDT */
	CHECK_INT(tz_offset(&c, INT64_C(1767225600000)), -5 * 3600000); /* 2026-01-01: EST */
	tz_cursor_close(&c);

	CHECK_INT(tz_cursor_open(&c, ""), 0); /* UTC */
	CHECK_INT(tz_offset(&c, LONDON_SPRING), 0);
	tz_cursor_close(&c);
	CHECK_INT(tz_cursor_open(&c, "Nowhere/Else"), MC_ERR_INVALID);
	CHECK_INT(tz_offset(&c, LONDON_SPRING), 0); /* an unknown zone answers UTC */
	tz_cursor_close(&c);
	return tap_done();
}
