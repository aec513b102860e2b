/* Dates on the wire: the x-mc-date header (RFC 1123 as real clients send it) and the
 * API's response format yyyy-MM-ddTHH:mm:ss+0000. Times are int64 ms since the epoch, UTC. */
#ifndef MCAPI_COMMON_DATE_H
#define MCAPI_COMMON_DATE_H

#include <stddef.h>
#include <stdint.h>

#define DATE_ISO_LEN 25 /* "2015-04-02T15:58:47+0000" + NUL */

/* The record clock in ms: what is stamped on stored records and shown in answers. The
 * wall clock (CLOCK_REALTIME), or the instant date_freeze set. */
int64_t now_ms(void);

/* The wall clock in ms (CLOCK_REALTIME) always: for what must follow real time even when
 * the record clock stands still (clients' signature dates, rate limits, leases, retries,
 * logs). */
int64_t real_now_ms(void);

/* Makes now_ms answer ms from now on (mcapid --deterministic: answers must not depend on
 * when a call ran). Call once before threads start; 0 = the wall clock again. */
void date_freeze(int64_t ms);

/* 1 when the record clock stands still (date_freeze): durations that answers show (a
 * delivery's latency) are then 0, as measured on it. */
int date_frozen(void);

/* Monotonic ms, for timeouts and rate limits. */
int64_t mono_ms(void);

/* Parses "Tue, 24 Nov 2015 12:50:11 UTC": weekday optional, zone UTC or GMT (any case),
 * one- or two-digit or space-padded day, English month abbreviations (any case), extra
 * spaces between fields tolerated. The weekday is not checked against the date.
 * Returns 0 and *ms, or MC_ERR_INVALID. */
int date_parse_rfc1123(const char *s, size_t n, int64_t *ms);

/* Parses the ISO 8601 forms of the API: "2015-04-02T15:58:47+0000", "+00:00", "Z", any
 * other numeric offset, optional fractional seconds; a date alone "2015-04-02" is midnight
 * UTC. Returns 0 and *ms, or MC_ERR_INVALID. */
int date_parse_iso(const char *s, size_t n, int64_t *ms);

/* Formats ms as "yyyy-MM-ddTHH:mm:ss+0000" (UTC) into dst. */
void date_format_iso(int64_t ms, char dst[DATE_ISO_LEN]);

/* Formats ms as "Tue, 24 Nov 2015 12:50:11 UTC" into dst (size >= 32). */
void date_format_rfc1123(int64_t ms, char *dst, size_t size);

/* Days since 1970-01-01 of a proleptic Gregorian date (no range check beyond the types). */
int64_t date_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
