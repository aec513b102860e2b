/* Date parsing and formatting; see date.h. Calendar arithmetic is done by hand (no
 * timegm/locale) so parsing is exact, thread-safe and independent of TZ. */
#include "date.h"

#include "err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "banned.h"

/* 0, or the instant the record clock stands at (set once before threads start) */
static int64_t frozen_ms;

int64_t real_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_ms(void)
{
	return frozen_ms ? frozen_ms : real_now_ms();
}

void date_freeze(int64_t ms)
{
	frozen_ms = ms;
}

int date_frozen(void)
{
	return frozen_ms != 0;
}

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t date_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, unsigned m)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 ? 28 + leap : dim[m - 1];
}

struct cur {
	const char *p, *end;
};

static void skip_spaces(struct cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* Reads between min and max digits into *v. */
static int digits(struct cur *c, int min, int max, long *v)
{
	int n = 0;
	long x = 0;
	while (c->p < c->end && n < max && *c->p >= '0' && *c->p <= '9') {
		x = x * 10 + (*c->p - '0');
		c->p++;
		n++;
	}
	if (n < min)
		return -1;
	*v = x;
	return 0;
}

static int expect(struct cur *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 0;
	}
	return -1;
}

static int valid_ymdhms(long y, long mo, long d, long h, long mi, long s)
{
	return y >= 1970 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1 &&
	       d <= days_in_month(y, (unsigned)mo) && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 &&
	       s >= 0 && s <= 60;
}

static int64_t to_ms(long y, long mo, long d, long h, long mi, long s)
{
	int64_t days = date_days_from_civil(y, (unsigned)mo, (unsigned)d);
	return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000;
}

int date_parse_rfc1123(const char *s, size_t n, int64_t *ms)
{
	/* three letters at a time, lower-cased (every signed call parses one date) */
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	struct cur c = {s, s + n};
	long day, year, h, mi, sec, mon = 0;
	char m[3];

	skip_spaces(&c);
	/* optional weekday "Tue," */
	if (c.end - c.p >= 4 && c.p[3] == ',') {
		c.p += 4;
		skip_spaces(&c);
	}
	if (digits(&c, 1, 2, &day))
		return MC_ERR_INVALID;
	skip_spaces(&c);
	if (c.end - c.p < 3)
		return MC_ERR_INVALID;
	for (int i = 0; i < 3; i++)
		m[i] = (char)(c.p[i] >= 'A' && c.p[i] <= 'Z' ? c.p[i] + ('a' - 'A') : c.p[i]);
	for (int i = 0; i < 12 && !mon; i++)
		if (memcmp(m, months + 3 * i, 3) == 0)
			mon = i + 1;
	if (!mon)
		return MC_ERR_INVALID;
	c.p += 3;
	skip_spaces(&c);
	if (digits(&c, 4, 4, &year))
		return MC_ERR_INVALID;
	skip_spaces(&c);
	if (digits(&c, 1, 2, &h) || expect(&c, ':') || digits(&c, 2, 2, &mi) || expect(&c, ':') ||
	    digits(&c, 2, 2, &sec))
		return MC_ERR_INVALID;
	skip_spaces(&c);
	if (c.end - c.p != 3 ||
	    (strncasecmp(c.p, "UTC", 3) != 0 && strncasecmp(c.p, "GMT", 3) != 0))
		return MC_ERR_INVALID;
	if (!valid_ymdhms(year, mon, day, h, mi, sec))
		return MC_ERR_INVALID;
	*ms = to_ms(year, mon, day, h, mi, sec);
	return 0;
}

int date_parse_iso(const char *s, size_t n, int64_t *ms)
{
	struct cur c = {s, s + n};
	long y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0;
	int64_t offset_min = 0;

	skip_spaces(&c);
	if (digits(&c, 4, 4, &y) || expect(&c, '-') || digits(&c, 2, 2, &mo) || expect(&c, '-') ||
	    digits(&c, 2, 2, &d))
		return MC_ERR_INVALID;
	if (c.p < c.end && (*c.p == 'T' || *c.p == 't' || *c.p == ' ')) {
		c.p++;
		if (digits(&c, 2, 2, &h) || expect(&c, ':') || digits(&c, 2, 2, &mi))
			return MC_ERR_INVALID;
		if (c.p < c.end && *c.p == ':') {
			c.p++;
			if (digits(&c, 2, 2, &sec))
				return MC_ERR_INVALID;
			if (c.p < c.end && (*c.p == '.' || *c.p == ',')) {
				int nd = 0;
				c.p++;
				if (c.p >= c.end || *c.p < '0' || *c.p > '9')
					return MC_ERR_INVALID;
				while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
					if (nd < 3)
						frac_ms = frac_ms * 10 + (*c.p - '0');
					nd++;
					c.p++;
				}
				for (; nd < 3; nd++)
					frac_ms *= 10;
			}
		}
		if (c.p < c.end && (*c.p == 'Z' || *c.p == 'z')) {
			c.p++;
		} else if (c.p < c.end && (*c.p == '+' || *c.p == '-')) {
			int neg = *c.p == '-';
			long oh, om = 0;
			c.p++;
			if (digits(&c, 2, 2, &oh))
				return MC_ERR_INVALID;
			if (c.p < c.end && *c.p == ':')
				c.p++;
			if (c.p < c.end && digits(&c, 2, 2, &om))
				return MC_ERR_INVALID;
			if (oh > 23 || om > 59)
				return MC_ERR_INVALID;
			offset_min = (neg ? -1 : 1) * (oh * 60 + om);
		}
	}
	skip_spaces(&c);
	if (c.p != c.end || !valid_ymdhms(y, mo, d, h, mi, sec))
		return MC_ERR_INVALID;
	*ms = to_ms(y, mo, d, h, mi, sec) + frac_ms - offset_min * 60000;
	return 0;
}

static void split(int64_t ms, int64_t *y, unsigned *mo, unsigned *d, int *h, int *mi, int *s,
                  int64_t *days_out)
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int64_t rem = secs - days * 86400;
	civil_from_days(days, y, mo, d);
	*h = (int)(rem / 3600);
	*mi = (int)(rem / 60 % 60);
	*s = (int)(rem % 60);
	*days_out = days;
}

static char *put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

void date_format_iso(int64_t ms, char dst[DATE_ISO_LEN])
{
	int64_t y, days;
	unsigned mo, d;
	int h, mi, s;
	char *p = dst;

	/* By hand, not snprintf: lists format several dates per record. */
	split(ms, &y, &mo, &d, &h, &mi, &s, &days);
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	p = put2(p, (unsigned)(y / 100));
	p = put2(p, (unsigned)(y % 100));
	*p++ = '-';
	p = put2(p, mo);
	*p++ = '-';
	p = put2(p, d);
	*p++ = 'T';
	p = put2(p, (unsigned)h);
	*p++ = ':';
	p = put2(p, (unsigned)mi);
	*p++ = ':';
	p = put2(p, (unsigned)s);
	memcpy(p, "+0000", 6);
}

void date_format_rfc1123(int64_t ms, char *dst, size_t size)
{
	static const char *wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char *mn[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t y, days;
	unsigned mo, d;
	int h, mi, s;

	split(ms, &y, &mo, &d, &h, &mi, &s, &days);
	snprintf(dst, size, "%s, %02u %s %04d %02d:%02d:%02d UTC", wd[((days % 7) + 7) % 7], d,
	         mn[mo - 1], (int)(y % 10000), h, mi, s);
}
