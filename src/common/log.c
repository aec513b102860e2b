/* key=value logging; see log.h. Buffered mode: per-thread single-producer rings (the
 * owner publishes whole lines with a release store of head; a drain, holding the ring's mu,
 * writes [tail, head) and publishes tail), so the request path takes no lock and makes no
 * system call; fd_mu serialises every write of buffered bytes (and only the write), so rings
 * are never interleaved on the descriptor however it is (file, pipe or socket). */
#include "log.h"

#include "date.h"
#include "err.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

int log_level_current = LOG_INFO;
static int log_fd = 2;

static const char *names[] = {"error", "warn", "info", "debug"};

struct ring {
	char *buf;           /* LOG_RING_BYTES, a power of two */
	_Atomic size_t head; /* bytes appended so far (only the owner writes it) */
	_Atomic size_t tail; /* bytes written out so far (only under mu) */
	pthread_mutex_t mu;  /* one drain at a time: the writer's or the owner's when full */
	_Atomic int busy;    /* the owner is appending (log_async_stop waits for it) */
	_Atomic int kicked;  /* the writer was woken for this ring and has not drained it since */
	_Atomic int dead;    /* the owner thread has exited: free once drained */
	struct ring *_Atomic next;
};

static _Atomic int async_on;
/* The list of rings (adding, unlinking). Held only for that, never during a write: when one
 * lock was held over the writer's whole walk, a writer preempted or blocked in writev held up
 * every thread whose ring filled meanwhile (on a loaded machine that convoy halved the API's
 * throughput); now an owner with a full ring waits for one writev at most. */
static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t walk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t fd_mu = PTHREAD_MUTEX_INITIALIZER; /* taken after a ring's mu */
static struct ring *_Atomic rings;
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv = PTHREAD_COND_INITIALIZER;
static int wake_flag, stopping, flush_every_ms = 100;
static pthread_t writer;
static pthread_key_t ring_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local struct ring *my_ring;

static void ring_exit(void *p)
{
	my_ring = NULL; /* a line logged later still (another destructor) gets a new ring */
	atomic_store(&((struct ring *)p)->dead, 1);
}

static void make_key(void)
{
	pthread_key_create(&ring_key, ring_exit);
}

static struct ring *ring_register(void)
{
	struct ring *r = calloc(1, sizeof(*r));

	pthread_once(&key_once, make_key);
	if (!r || !(r->buf = malloc(LOG_RING_BYTES))) {
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_lock(&list_mu);
	r->next = atomic_load(&rings);
	atomic_store(&rings, r);
	pthread_mutex_unlock(&list_mu);
	pthread_setspecific(ring_key, r);
	my_ring = r;
	return r;
}

/* Writes all of iov (n entries) to log_fd; on an error other than EINTR the rest is
 * dropped rather than retried for ever (a full disk must not stop the server). */
static void write_all(struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(log_fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
}

/* Writes out what r holds. */
static void drain_ring(struct ring *r)
{
	size_t t, h, off, first;
	struct iovec iov[2];

	pthread_mutex_lock(&r->mu);
	atomic_store(&r->kicked, 0); /* before head: a later fill kicks again */
	h = atomic_load_explicit(&r->head, memory_order_acquire);
	t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (h == t) {
		pthread_mutex_unlock(&r->mu);
		return;
	}
	off = t & (LOG_RING_BYTES - 1);
	first = h - t < LOG_RING_BYTES - off ? h - t : LOG_RING_BYTES - off;
	iov[0].iov_base = r->buf + off;
	iov[0].iov_len = first;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = h - t - first;
	pthread_mutex_lock(&fd_mu);
	write_all(iov, iov[1].iov_len ? 2 : 1);
	pthread_mutex_unlock(&fd_mu);
	atomic_store_explicit(&r->tail, h, memory_order_release);
	pthread_mutex_unlock(&r->mu);
}

/* Writes out every ring and frees those of exited threads (free_dead: only the writer
 * thread and log_async_stop). walk_mu keeps two walks (the writer's and log_flush's) apart,
 * so a ring seen here is not freed under it; owners never take it. list_mu is taken only to
 * unlink, against ring_register adding at the head. */
static void drain_all(int free_dead)
{
	struct ring *_Atomic *pp = &rings, *r;

	pthread_mutex_lock(&walk_mu);
	while ((r = atomic_load(pp)) != NULL) {
		drain_ring(r);
		if (free_dead && atomic_load(&r->dead) &&
		    atomic_load(&r->head) == atomic_load(&r->tail)) {
			pthread_mutex_lock(&list_mu);
			pp = &rings; /* the head may have changed since */
			while (atomic_load(pp) != r)
				pp = &atomic_load(pp)->next;
			atomic_store(pp, r->next);
			pthread_mutex_unlock(&list_mu);
			pthread_mutex_destroy(&r->mu);
			free(r->buf);
			free(r);
			continue;
		}
		pp = &r->next;
	}
	pthread_mutex_unlock(&walk_mu);
}

static void kick(struct ring *r)
{
	if (atomic_exchange(&r->kicked, 1))
		return;
	pthread_mutex_lock(&wake_mu);
	wake_flag = 1;
	pthread_cond_signal(&wake_cv);
	pthread_mutex_unlock(&wake_mu);
}

/* Appends one whole line to this thread's ring; -1 when not in buffered mode (or out of
 * memory): the caller writes it directly. */
static int ring_append(const char *line, size_t n)
{
	struct ring *r = my_ring ? my_ring : ring_register();
	size_t h, off, first;

	if (!r)
		return -1;
	/* busy before async_on, both sequentially consistent: log_async_stop clears async_on
	 * and then waits for busy, so either it waits for this line or this line sees it off */
	atomic_store(&r->busy, 1);
	if (!atomic_load(&async_on)) {
		atomic_store(&r->busy, 0);
		return -1;
	}
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	while (LOG_RING_BYTES - (h - atomic_load_explicit(&r->tail, memory_order_acquire)) < n) {
		/* full: the writer is behind; write this ring out here (back-pressure, as a
		 * direct write would be) rather than drop a line */
		drain_ring(r);
	}
	off = h & (LOG_RING_BYTES - 1);
	first = n < LOG_RING_BYTES - off ? n : LOG_RING_BYTES - off;
	memcpy(r->buf + off, line, first);
	memcpy(r->buf, line + first, n - first);
	atomic_store_explicit(&r->head, h + n, memory_order_release);
	atomic_store_explicit(&r->busy, 0, memory_order_release);
	if (h + n - atomic_load_explicit(&r->tail, memory_order_relaxed) >= LOG_RING_BYTES / 2)
		kick(r);
	return 0;
}

static void *writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wake_mu);
	while (!stopping) {
		if (!wake_flag) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(flush_every_ms % 1000) * 1000000L;
			ts.tv_sec += flush_every_ms / 1000 + ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&wake_cv, &wake_mu, &ts);
		}
		wake_flag = 0;
		pthread_mutex_unlock(&wake_mu);
		drain_all(1);
		pthread_mutex_lock(&wake_mu);
	}
	pthread_mutex_unlock(&wake_mu);
	return NULL;
}

int log_async_start(int flush_ms)
{
	if (atomic_load(&async_on))
		return 0;
	flush_every_ms = flush_ms > 0 ? flush_ms : 1;
	stopping = 0;
	wake_flag = 0;
	if (pthread_create(&writer, NULL, writer_main, NULL) != 0)
		return MC_ERR_IO;
	atomic_store(&async_on, 1);
	return 0;
}

void log_async_stop(void)
{
	if (!atomic_load(&async_on))
		return;
	/* the writer first (it alone frees rings, so the walk below is safe without the
	 * lock); full rings are drained by their owners meanwhile */
	pthread_mutex_lock(&wake_mu);
	stopping = 1;
	pthread_cond_signal(&wake_cv);
	pthread_mutex_unlock(&wake_mu);
	pthread_join(writer, NULL);
	atomic_store(&async_on, 0);
	for (struct ring *r = atomic_load(&rings); r; r = r->next)
		while (atomic_load(&r->busy))
			sched_yield();
	drain_all(1);
}

void log_flush(void)
{
	if (atomic_load(&async_on))
		drain_all(0);
}

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

/* "ts=2026-12-02T04:07:24.076Z level=info " into dst (>= 64 bytes); returns its length.
 * The date part is formatted once per second per thread. */
static size_t prefix(char *dst, enum log_level lvl)
{
	static _Thread_local int64_t cached_s = -1;
	static _Thread_local char cached[24]; /* "ts=YYYY-MM-DDTHH:MM:SS" */
	int64_t ms = real_now_ms();
	unsigned frac = (unsigned)(ms % 1000);
	size_t nl = strlen(names[lvl]);
	char *p = dst;

	if (ms / 1000 != cached_s) {
		char ts[DATE_ISO_LEN];
		date_format_iso(ms, ts);
		memcpy(cached, "ts=", 3);
		memcpy(cached + 3, ts, 19);
		cached_s = ms / 1000;
	}
	memcpy(p, cached, 22);
	p += 22;
	*p++ = '.';
	*p++ = (char)('0' + frac / 100);
	*p++ = (char)('0' + frac / 10 % 10);
	*p++ = (char)('0' + frac % 10);
	memcpy(p, "Z level=", 8);
	p += 8;
	memcpy(p, names[lvl], nl);
	p += nl;
	*p++ = ' ';
	return (size_t)(p - dst);
}

/* Sends one whole line (ending in a newline) to the ring or the descriptor. */
static void emit(const char *line, size_t n)
{
	if (atomic_load_explicit(&async_on, memory_order_relaxed) && ring_append(line, n) == 0)
		return;
	ssize_t w = write(log_fd, line, n);
	(void)w;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t n = prefix(line, lvl);
	va_list ap;
	int m;

	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += (size_t)m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	emit(line, n);
}

void log_text(enum log_level lvl, const char *text, size_t len)
{
	char line[LOG_LINE_MAX];
	size_t n = prefix(line, lvl);

	if (len > sizeof(line) - 2 - n)
		len = sizeof(line) - 2 - n; /* truncated as log_write does */
	memcpy(line + n, text, len);
	n += len;
	line[n++] = '\n';
	emit(line, n);
}

#define ONES           0x0101010101010101ULL
#define HIGHS          0x8080808080808080ULL
#define HAS_LESS(x, k) (((x)-ONES * (k)) & ~(x)&HIGHS) /* a byte < k (k <= 128) */
#define HAS_BYTE(x, k) HAS_LESS((x) ^ (ONES * (k)), 1) /* a byte == k */

/* 1 if none of s[0..n) needs quoting; eight bytes at a time (a path and a request id go
 * through here for every access log line). */
static int plain_text(const char *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		if ((x & HIGHS) | HAS_LESS(x, 0x21) | HAS_BYTE(x, 0x7f) | HAS_BYTE(x, '"') |
		    HAS_BYTE(x, '\\') | HAS_BYTE(x, '='))
			break; /* the exact test below decides */
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c >= 0x7f)
			return 0;
	}
	return 1;
}

char *log_quote(const char *s, char *dst, size_t size)
{
	size_t o = 0, len = strlen(s);
	int plain = len && plain_text(s, len);

	if (size == 0)
		return dst;
	if (plain) {
		size_t n = len;
		if (n >= size)
			n = size - 1;
		memcpy(dst, s, n);
		dst[n] = '\0';
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
