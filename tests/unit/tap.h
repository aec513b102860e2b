/* A minimal test harness: CHECK records a pass or a failure with its location;
 * tap_done() prints "N passed, N failed" and returns the exit status. */
#ifndef MCAPI_TESTS_TAP_H
#define MCAPI_TESTS_TAP_H

#include <string.h>

extern int tap_passed, tap_failed;

void tap_check(int ok, const char *expr, const char *file, int line);
void tap_check_str(const char *got, const char *want, const char *expr, const char *file, int line);
void tap_check_int(long long got, long long want, const char *expr, const char *file, int line);
int tap_done(void);

#define CHECK(e)             tap_check(!!(e), #e, __FILE__, __LINE__)
#define CHECK_STR(got, want) tap_check_str((got), (want), #got, __FILE__, __LINE__)
#define CHECK_INT(got, want)                                                                       \
	tap_check_int((long long)(got), (long long)(want), #got, __FILE__, __LINE__)

#endif
