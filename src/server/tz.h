/* Time zones of SIEM log times (API.md §14.1): an account's IANA zone name ("UTC",
 * "Europe/London", "America/New_York") and the UTC offset it has at a given instant,
 * daylight-saving time included. The rules come from ICU's time zone data (libicu, from
 * Debian): thread-safe, unlike glibc's TZ environment variable and localtime_r, which
 * read one process-wide zone. A struct tz_cursor remembers the offset and the interval it
 * holds for (between two transitions), so formatting the events of one file asks ICU
 * about once per file, not once per event. */
#ifndef MCAPI_SERVER_TZ_H
#define MCAPI_SERVER_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_NAME_SIZE     64
#define TZ_DATETIME_SIZE 25 /* "2022-05-23T12:20:44-0400" + NUL */

/* 1 if name is a time zone ICU knows (an IANA name or an alias such as "UTC"), else 0. */
int tz_valid(const char *name);

/* The offsets of one zone, for the times of one request; one thread only. */
struct tz_cursor {
	void *cal;        /* ICU UCalendar, NULL for UTC */
	int64_t from, to; /* offset holds for from <= t < to (ms since the epoch) */
	int32_t offset;   /* ms east of UTC */
};

/* Opens a cursor for zone name ("" = UTC). 0, or MC_ERR_INVALID if ICU does not know the
 * zone (the cursor then answers UTC, so a caller may go on). */
int tz_cursor_open(struct tz_cursor *c, const char *name);
void tz_cursor_close(struct tz_cursor *c);

/* The offset of the zone at t (ms since the epoch), in ms east of UTC. */
int32_t tz_offset(struct tz_cursor *c, int64_t t);

/* Writes t as local time "yyyy-MM-ddTHH:mm:ss±hhmm" with offset (ms east of UTC) into
 * out (TZ_DATETIME_SIZE bytes). */
void tz_format(int64_t t, int32_t offset, char out[TZ_DATETIME_SIZE]);

#endif
