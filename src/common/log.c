/* key=value logging; see log.h. */
#include "log.h"

#include "date.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

int log_level_current = LOG_INFO;
static int log_fd = 2;

static const char *names[] = {"error", "warn", "info", "debug"};

int log_set_level(const char *name)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			log_level_current = i;
			return 0;
		}
	}
	return MC_ERR_INVALID;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
	char line[2048], ts[DATE_ISO_LEN];
	int64_t ms = now_ms();
	va_list ap;
	int n, m;

	date_format_iso(ms, ts);
	ts[19] = '\0';
	n = snprintf(line, sizeof(line), "ts=%s.%03dZ level=%s ", ts, (int)(ms % 1000), names[lvl]);
	if (n < 0)
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(log_fd, line, (size_t)n);
	(void)w;
}

char *log_quote(const char *s, char *dst, size_t size)
{
	size_t o = 0;
	int plain = *s != '\0';

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '\\' || *p == '=' || *p >= 0x7f)
			plain = 0;
	if (size == 0)
		return dst;
	if (plain) {
		snprintf(dst, size, "%s", s);
		return dst;
	}
	if (size < 3) {
		dst[0] = '\0';
		return dst;
	}
	dst[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < size; p++) {
		if (*p == '"' || *p == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)*p;
		} else if (*p < ' ' || *p == 0x7f) {
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", *p);
		} else {
			dst[o++] = (char)*p;
		}
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}
