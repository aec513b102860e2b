/* Implementation of the minimal test harness in tap.h. */
#include "tap.h"

#include <stdio.h>

int tap_passed, tap_failed;

void tap_check(int ok, const char *expr, const char *file, int line)
{
	if (ok) {
		tap_passed++;
		return;
	}
	tap_failed++;
	printf("not ok: %s (%s:%d)\n", expr, file, line);
}

void tap_check_str(const char *got, const char *want, const char *expr, const char *file, int line)
{
	int ok = got && want ? strcmp(got, want) == 0 : got == want;

	tap_check(ok, expr, file, line);
	if (!ok)
		printf("  got '%s', want '%s'\n", got ? got : "(null)", want ? want : "(null)");
}

void tap_check_int(long long got, long long want, const char *expr, const char *file, int line)
{
	tap_check(got == want, expr, file, line);
	if (got != want)
		printf("  got %lld, want %lld\n", got, want);
}

int tap_done(void)
{
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}
