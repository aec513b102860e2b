/* Buffered logging (common/log.c): many threads, lines of every length up to the longest,
 * rings that fill and wrap, threads that exit; after log_async_stop every line is in the
 * file exactly once, whole, in each thread's order; lines appear within the flush interval
 * without any flush call; direct mode is unchanged. */
#include "common/log.h"
#include "tap.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/banned.h"

#define THREADS 8
#define LINES   20000

static void *producer(void *arg)
{
	int t = (int)(intptr_t)arg;
	char pad[1800];

	memset(pad, 'a' + t, sizeof(pad));
	for (int i = 0; i < LINES; i++) {
		/* lengths from a few bytes to near the 2 KiB line limit, so rings wrap mid-line */
		int len = (i * 7919 + t * 31) % (int)(sizeof(pad) - 1);
		log_info("t=%d i=%d pad=%.*s end", t, i, len, pad);
	}
	return NULL;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return buf;
}

static off_t size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_many_threads(void)
{
	char path[] = "/tmp/mcapi-log-XXXXXX";
	int fd = mkstemp(path);
	pthread_t th[THREADS];
	int next[THREADS] = {0}, bad = 0, lines = 0;
	size_t len;
	char *buf;

	CHECK(fd >= 0);
	log_set_fd(fd);
	CHECK_INT(log_async_start(50), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, producer, (void *)(intptr_t)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	/* every producer has exited: its ring is written out and freed by the writer */
	log_async_stop();
	buf = slurp(path, &len);
	CHECK(buf != NULL);
	for (char *p = buf, *nl; buf && p < buf + len; p = nl + 1) {
		int t, i, n = 0;
		nl = memchr(p, '\n', (size_t)(buf + len - p));
		if (!nl) {
			bad++; /* a torn last line */
			break;
		}
		*nl = '\0';
		lines++;
		char *body = strstr(p, " t=");
		if (strncmp(p, "ts=", 3) != 0 || !strstr(p, " level=info ") || !body ||
		    sscanf(body, " t=%d i=%d pad=%n", &t, &i, &n) != 2 || t < 0 || t >= THREADS) {
			bad++;
			continue;
		}
		/* whole: the padding is all this thread's letter and the line ends as written */
		char *pad = body + n, *end = strstr(pad, " end");
		int want = (i * 7919 + t * 31) % 1799;
		if (!end || end[4] != '\0' || end - pad != want ||
		    strspn(pad, (char[]){(char)('a' + t), 0}) != (size_t)want)
			bad++;
		/* each thread's lines in order, none missing or doubled */
		if (i != next[t])
			bad++;
		next[t] = i + 1;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(lines, THREADS * LINES);
	for (int t = 0; t < THREADS; t++)
		CHECK_INT(next[t], LINES);
	free(buf);
	close(fd);
	unlink(path);
}

/* A line is written within the flush interval without log_flush; log_flush writes at once. */
static void test_interval(void)
{
	char path[] = "/tmp/mcapi-log-XXXXXX";
	int fd = mkstemp(path);
	struct timespec ts = {0, 300 * 1000000L};

	log_set_fd(fd);
	CHECK_INT(log_async_start(100), 0);
	log_info("msg=one");
	nanosleep(&ts, NULL);
	CHECK(size_of(path) > 0);
	off_t before = size_of(path);
	log_info("msg=two");
	log_flush();
	CHECK(size_of(path) > before);
	log_async_stop();
	/* direct mode again: written at once */
	before = size_of(path);
	log_info("msg=three");
	CHECK(size_of(path) > before);
	/* and buffered mode can start again */
	CHECK_INT(log_async_start(10000), 0);
	log_info("msg=four");
	log_async_stop();
	size_t len;
	char *buf = slurp(path, &len);
	CHECK(buf && strstr(buf, "msg=one\n") && strstr(buf, "msg=two\n") &&
	      strstr(buf, "msg=three\n") && strstr(buf, "msg=four\n"));
	free(buf);
	close(fd);
	unlink(path);
	log_set_fd(2);
}

/* log_text writes what log_write would for the same text, truncation included. */
static void test_text(void)
{
	char path[] = "/tmp/mcapi-log-XXXXXX";
	int fd = mkstemp(path);
	static char big[3000];
	size_t len;
	char *buf;

	memset(big, 'x', sizeof(big) - 1);
	log_set_fd(fd);
	log_text(LOG_WARN, "msg=short k=v", 13);
	log_write(LOG_WARN, "msg=short k=v");
	log_text(LOG_INFO, big, strlen(big));
	log_write(LOG_INFO, "%s", big);
	buf = slurp(path, &len);
	CHECK(buf != NULL);
	if (buf) {
		char *l1 = buf, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1,
		     *l4 = strchr(l3, '\n') + 1;
		/* the same after the millisecond timestamp (ts=YYYY-MM-DDTHH:MM:SS.mmmZ) */
		CHECK(strncmp(l1, "ts=", 3) == 0 && l1[26] == 'Z');
		CHECK(strncmp(l1 + 27, l2 + 27, (size_t)(l2 - l1 - 27)) == 0);
		CHECK(strncmp(l1 + 27, " level=warn msg=short k=v\n", 26) == 0);
		CHECK_INT(l4 - l3, LOG_LINE_MAX - 1);
		CHECK_INT((long)(buf + len - l4), LOG_LINE_MAX - 1);
		CHECK(strncmp(l3 + 27, l4 + 27, (size_t)(l4 - l3 - 27)) == 0);
	}
	free(buf);
	close(fd);
	unlink(path);
	log_set_fd(2);
}

int main(void)
{
	test_text();
	test_many_threads();
	test_interval();
	return tap_done();
}
