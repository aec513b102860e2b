/* Logging: one key=value line per event on stderr (or a file). The level is checked before
 * the arguments are evaluated. Values that may hold spaces are quoted by log_quote().
 * Never pass secrets, signatures or passwords.
 *
 * Two modes. Direct (the default, and before log_async_start / after log_async_stop): each
 * line is one write(2), so lines of concurrent threads never interleave. Buffered (mcapid
 * serve): each thread appends whole lines to a ring of its own (LOG_RING_BYTES) with no lock
 * and no system call, and one writer thread writes every ring out every flush_ms, or sooner
 * when a ring is half full; a thread whose ring is full waits for room, so no line is ever
 * dropped or torn. log_async_stop writes out everything (SIGTERM); a kill -9 loses what was
 * not yet written: at most flush_ms of lines and never more than LOG_RING_BYTES per thread.
 * Lines of one thread keep their order; lines of different threads may be written up to
 * flush_ms out of order (each carries its own ts). */
#ifndef MCAPI_COMMON_LOG_H
#define MCAPI_COMMON_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level_current;

/* Sets the level from "error", "warn", "info" or "debug"; 0 or MC_ERR_INVALID. */
int log_set_level(const char *name);

/* Sends lines to fd (default 2). */
void log_set_fd(int fd);

/* Size of each thread's ring in buffered mode. */
#define LOG_RING_BYTES (128 * 1024)

/* Switches to buffered mode with a writer thread that writes out every flush_ms (>= 1).
 * 0, or MC_ERR_IO if the thread cannot start (the mode stays direct). */
int log_async_start(int flush_ms);

/* Writes out every buffered line, stops the writer thread and goes back to direct writes.
 * Call it when the other threads have stopped logging (lines a thread writes while this
 * runs are still written, directly). Harmless in direct mode. */
void log_async_stop(void);

/* Writes out the lines buffered so far (buffered mode) and returns once they are written. */
void log_flush(void);

/* Longest line, newline included; longer text is truncated. */
#define LOG_LINE_MAX 2048

/* Writes "ts=... level=... " followed by the formatted key=value text and a newline. */
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same for text already formatted (len bytes, no newline): the access log's path. */
void log_text(enum log_level lvl, const char *text, size_t len);

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
