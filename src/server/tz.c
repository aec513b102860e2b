/* Zone offsets through ICU's calendar API (see tz.h). A cursor keeps the offset of the last
 * instant asked for with the transitions around it; events of one file are in time order
 * and nearly all fall into one interval. */
#include "tz.h"

#include "common/err.h"

#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "common/banned.h"

#define FAR_MS (INT64_C(1) << 52) /* beyond any transition ICU reports */

static int is_utc(const char *name)
{
	return !name || !*name || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0;
}

static int to_uchar(const char *name, UChar *out, size_t size)
{
	size_t n = strlen(name);

	if (n == 0 || n >= size)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x21 || ch > 0x7e) /* zone names are printable ASCII */
			return -1;
		out[i] = (UChar)ch;
	}
	out[n] = 0;
	return (int)n;
}

int tz_valid(const char *name)
{
	UChar id[TZ_NAME_SIZE], canon[TZ_NAME_SIZE];
	UErrorCode st = U_ZERO_ERROR;
	UBool system = 0;
	int n;

	if (is_utc(name))
		return name && *name;
	n = to_uchar(name, id, TZ_NAME_SIZE);
	if (n < 0)
		return 0;
	ucal_getCanonicalTimeZoneID(id, n, canon, TZ_NAME_SIZE, &system, &st);
	return U_SUCCESS(st) && system;
}

int tz_cursor_open(struct tz_cursor *c, const char *name)
{
	UChar id[TZ_NAME_SIZE];
	UErrorCode st = U_ZERO_ERROR;
	int n;

	memset(c, 0, sizeof(*c));
	c->from = -FAR_MS;
	c->to = FAR_MS;
	if (is_utc(name))
		return 0;
	if (!tz_valid(name) || (n = to_uchar(name, id, TZ_NAME_SIZE)) < 0)
		return MC_ERR_INVALID;
	c->cal = ucal_open(id, n, "en_US_POSIX", UCAL_GREGORIAN, &st);
	if (U_FAILURE(st)) {
		if (c->cal)
			ucal_close(c->cal);
		c->cal = NULL;
		return MC_ERR_INVALID;
	}
	c->to = c->from; /* empty: the first tz_offset asks ICU */
	return 0;
}

void tz_cursor_close(struct tz_cursor *c)
{
	if (c->cal)
		ucal_close(c->cal);
	c->cal = NULL;
}

int32_t tz_offset(struct tz_cursor *c, int64_t t)
{
	UErrorCode st = U_ZERO_ERROR;
	UDate d;
	int32_t zone, dst;

	if (!c->cal || (t >= c->from && t < c->to))
		return c->offset;
	ucal_setMillis(c->cal, (UDate)t, &st);
	zone = ucal_get(c->cal, UCAL_ZONE_OFFSET, &st);
	dst = ucal_get(c->cal, UCAL_DST_OFFSET, &st);
	if (U_FAILURE(st))
		return 0;
	c->offset = zone + dst;
	/* the interval around t in which this offset holds; without it, ask again next time */
	c->from = t;
	c->to = t + 1;
	if (ucal_getTimeZoneTransitionDate(c->cal, UCAL_TZ_TRANSITION_PREVIOUS_INCLUSIVE, &d,
	                                   &st) &&
	    U_SUCCESS(st))
		c->from = (int64_t)d;
	else if (U_SUCCESS(st))
		c->from = -FAR_MS;
	st = U_ZERO_ERROR;
	ucal_setMillis(c->cal, (UDate)t, &st);
	if (ucal_getTimeZoneTransitionDate(c->cal, UCAL_TZ_TRANSITION_NEXT, &d, &st) &&
	    U_SUCCESS(st))
		c->to = (int64_t)d;
	else if (U_SUCCESS(st))
		c->to = FAR_MS;
	if (c->from > t || c->to <= t) { /* not an interval around t: no caching */
		c->from = t;
		c->to = t + 1;
	}
	return c->offset;
}

/* Days since 1970-01-01 → civil date (H. Hinnant's public-domain algorithm). */
static void civil(int64_t days, int *y, int *m, int *d)
{
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

void tz_format(int64_t t, int32_t offset, char out[TZ_DATETIME_SIZE])
{
	int64_t local = t + offset, secs = local >= 0 ? local / 1000 : (local - 999) / 1000;
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400, sod = secs - days * 86400;
	int32_t off = offset / 60000, a = off < 0 ? -off : off;
	int y, m, d;

	civil(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	put2(out, y / 100);
	put2(out + 2, y % 100);
	out[4] = '-';
	put2(out + 5, m);
	out[7] = '-';
	put2(out + 8, d);
	out[10] = 'T';
	put2(out + 11, (int)(sod / 3600));
	out[13] = ':';
	put2(out + 14, (int)(sod / 60 % 60));
	out[16] = ':';
	put2(out + 17, (int)(sod % 60));
	out[19] = off < 0 ? '-' : '+';
	put2(out + 20, a / 60);
	put2(out + 22, a % 60);
	out[24] = '\0';
}
