/* Logging: one key=value line per event on stderr (or a file), written with a single
 * write(2) so lines of concurrent threads never interleave. The level is checked before
 * the arguments are evaluated. Values that may hold spaces are quoted by log_kv_str().
 * Never pass secrets, signatures or passwords. */
#ifndef MCAPI_COMMON_LOG_H
#define MCAPI_COMMON_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level_current;

/* Sets the level from "error", "warn", "info" or "debug"; 0 or MC_ERR_INVALID. */
int log_set_level(const char *name);

/* Sends lines to fd (default 2). */
void log_set_fd(int fd);

/* Writes "ts=... level=... " followed by the formatted key=value text and a newline. */
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies s into dst as a log value: bare if it has no space, quote or control byte, else
 * double-quoted with \" \\ and \xNN escapes; truncated to fit size. Returns dst. */
char *log_quote(const char *s, char *dst, size_t size);

#define LOG(lvl, ...)                                                                              \
	do {                                                                                       \
		if ((int)(lvl) <= log_level_current)                                               \
			log_write((lvl), __VA_ARGS__);                                             \
	} while (0)
#define log_error(...) LOG(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG(LOG_WARN, __VA_ARGS__)
#define log_info(...)  LOG(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG(LOG_DEBUG, __VA_ARGS__)

#endif
