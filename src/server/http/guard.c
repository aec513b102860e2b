/* The connection guard: per-connection phase deadlines enforced by a reaper thread, and the
 * body budget; see guard.h. */
#include "guard.h"

#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/banned.h"

#define IP_SLOTS 4096 /* per-IP budget counters (32 KiB), indexed by a seeded hash */

struct guard_conn {
	struct guard_conn *prev, *next; /* under g->mu */
	int fd;
	int cut; /* under g->mu: shut down already */
	char ip[48];
	atomic_int phase;
	_Atomic int64_t since; /* when the phase began (monotonic ms) */
	_Atomic int64_t bytes; /* body bytes so far, in phase BODY */
};

struct guard {
	struct guard_cfg cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* wakes the reaper to stop */
	struct guard_conn *head;
	int stopping, started;
	pthread_t thread;
	uint64_t seed;
	atomic_llong body_bytes;
	atomic_llong ip_bytes[IP_SLOTS];
	atomic_llong cut_header, cut_idle, cut_body, refused_global, refused_ip, conns;
};

enum guard_cut guard_decide(const struct guard_cfg *cfg, enum guard_phase phase, int64_t since_ms,
                            int64_t bytes, int64_t now_ms)
{
	int64_t age = now_ms - since_ms;

	switch (phase) {
	case GUARD_NEW:
	case GUARD_HEADER:
		return age > cfg->header_timeout_ms ? GUARD_CUT_HEADER : GUARD_KEEP;
	case GUARD_IDLE:
		return age > cfg->idle_timeout_ms ? GUARD_CUT_IDLE : GUARD_KEEP;
	case GUARD_BODY:
		/* After the grace, at least body_min_rate bytes for every second past it: for a
		 * known length that is a fixed deadline (grace + length / rate). */
		if (cfg->body_min_rate <= 0 || age <= cfg->body_grace_ms)
			return GUARD_KEEP;
		return bytes * 1000 < cfg->body_min_rate * (age - cfg->body_grace_ms)
		               ? GUARD_CUT_BODY
		               : GUARD_KEEP;
	case GUARD_BUSY:
		break;
	}
	return GUARD_KEEP;
}

int guard_sweep(struct guard *g, int64_t now_ms)
{
	static const char *const why[] = {"", "header_deadline", "idle_deadline", "body_too_slow"};
	struct guard_conn *c;
	struct guard_cfg cfg = g->cfg;
	int n = 0;

	if (cfg.pressure_conns > 0 && atomic_load(&g->conns) >= cfg.pressure_conns &&
	    cfg.pressure_header_ms < cfg.header_timeout_ms)
		cfg.header_timeout_ms = cfg.pressure_header_ms;
	pthread_mutex_lock(&g->mu);
	for (c = g->head; c; c = c->next) {
		enum guard_phase ph;
		enum guard_cut cut;

		if (c->cut)
			continue;
		ph = (enum guard_phase)atomic_load_explicit(&c->phase, memory_order_acquire);
		cut = guard_decide(&cfg, ph, atomic_load_explicit(&c->since, memory_order_relaxed),
		                   atomic_load_explicit(&c->bytes, memory_order_relaxed), now_ms);
		if (cut == GUARD_KEEP)
			continue;
		/* The socket is still open: its connection would have left the guard (under this
		 * mutex) before its worker closed it. The worker sees the end of the stream
		 * and closes the connection on its own thread. */
		shutdown(c->fd, SHUT_RDWR);
		c->cut = 1;
		n++;
		atomic_fetch_add(cut == GUARD_CUT_HEADER ? &g->cut_header
		                 : cut == GUARD_CUT_IDLE ? &g->cut_idle
		                                         : &g->cut_body,
		                 1);
		log_info("msg=\"connection cut\" reason=%s ip=%s", why[cut],
		         c->ip[0] ? c->ip : "-");
	}
	pthread_mutex_unlock(&g->mu);
	return n;
}

static void *reaper(void *arg)
{
	struct guard *g = arg;
	struct timespec ts;

	pthread_mutex_lock(&g->mu);
	while (!g->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)g->cfg.sweep_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&g->cv, &g->mu, &ts);
		if (g->stopping)
			break;
		pthread_mutex_unlock(&g->mu);
		guard_sweep(g, mono_ms());
		pthread_mutex_lock(&g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

struct guard *guard_new(const struct guard_cfg *cfg, struct err *e)
{
	struct guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;

	if (!g) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	g->cfg = *cfg;
	random_bytes(RND_INTERNAL, &g->seed, sizeof(g->seed));
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (cfg->sweep_ms > 0) {
		int rc = pthread_create(&g->thread, NULL, reaper, g);
		if (rc) {
			err_set(e, MC_ERR_IO, "cannot start the connection guard: %s",
			        strerror(rc));
			guard_free(g);
			return NULL;
		}
		g->started = 1;
	}
	return g;
}

void guard_free(struct guard *g)
{
	struct guard_conn *c, *next;

	if (!g)
		return;
	if (g->started) {
		pthread_mutex_lock(&g->mu);
		g->stopping = 1;
		pthread_cond_signal(&g->cv);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->thread, NULL);
	}
	for (c = g->head; c; c = next) {
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

struct guard_conn *guard_conn_open(struct guard *g, int fd, const char *ip, int64_t now_ms)
{
	struct guard_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	if (ip) {
		size_t n = strnlen(ip, sizeof(c->ip) - 1);
		memcpy(c->ip, ip, n);
	}
	atomic_init(&c->phase, GUARD_NEW);
	atomic_init(&c->since, now_ms);
	atomic_init(&c->bytes, 0);
	pthread_mutex_lock(&g->mu);
	c->next = g->head;
	if (g->head)
		g->head->prev = c;
	g->head = c;
	pthread_mutex_unlock(&g->mu);
	atomic_fetch_add(&g->conns, 1);
	return c;
}

void guard_conn_close(struct guard *g, struct guard_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&g->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		g->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&g->mu);
	atomic_fetch_sub(&g->conns, 1);
	free(c);
}

/* The start time first, then the phase (release): the reaper, which reads the phase first
 * (acquire), never pairs a new phase with the previous phase's start. */
static void set_phase(struct guard_conn *c, enum guard_phase ph, int64_t since)
{
	atomic_store_explicit(&c->since, since, memory_order_relaxed);
	atomic_store_explicit(&c->phase, (int)ph, memory_order_release);
}

void guard_conn_request(struct guard_conn *c, int64_t now_ms)
{
	if (!c)
		return;
	if (atomic_load_explicit(&c->phase, memory_order_relaxed) == GUARD_NEW)
		atomic_store_explicit(&c->phase, GUARD_HEADER, memory_order_release);
	else
		set_phase(c, GUARD_HEADER, now_ms);
}

void guard_conn_body(struct guard_conn *c, int64_t now_ms)
{
	if (!c)
		return;
	atomic_store_explicit(&c->bytes, 0, memory_order_relaxed);
	set_phase(c, GUARD_BODY, now_ms);
}

void guard_conn_bytes(struct guard_conn *c, size_t n)
{
	/* one writer (the connection's thread): no read-modify-write needed */
	if (c)
		atomic_store_explicit(&c->bytes,
		                      atomic_load_explicit(&c->bytes, memory_order_relaxed) +
		                              (int64_t)n,
		                      memory_order_relaxed);
}

void guard_conn_busy(struct guard_conn *c)
{
	if (c)
		atomic_store_explicit(&c->phase, GUARD_BUSY, memory_order_release);
}

void guard_conn_idle(struct guard_conn *c, int64_t now_ms)
{
	if (c)
		set_phase(c, GUARD_IDLE, now_ms);
}

void guard_stats(struct guard *g, struct guard_stats *out)
{
	out->cut_header = atomic_load(&g->cut_header);
	out->cut_idle = atomic_load(&g->cut_idle);
	out->cut_body = atomic_load(&g->cut_body);
	out->refused_global = atomic_load(&g->refused_global);
	out->refused_ip = atomic_load(&g->refused_ip);
	out->body_bytes = atomic_load(&g->body_bytes);
	out->conns = atomic_load(&g->conns);
}

/* FNV-1a over the address text, seeded per process and finished with a 64-bit mixer, so a
 * client cannot choose addresses that land on another's slot. */
static size_t ip_slot(const struct guard *g, const char *ip)
{
	uint64_t h = 1469598103934665603ULL ^ g->seed;

	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 1099511628211ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)(h % IP_SLOTS);
}

int guard_budget_take(struct guard *g, const char *ip, size_t n)
{
	long long add = (long long)n;
	atomic_llong *slot = NULL;

	if (!g || n == 0)
		return GUARD_BUDGET_OK;
	if (atomic_fetch_add(&g->body_bytes, add) + add > g->cfg.body_budget) {
		atomic_fetch_sub(&g->body_bytes, add);
		atomic_fetch_add(&g->refused_global, 1);
		return GUARD_BUDGET_GLOBAL;
	}
	if (ip) {
		slot = &g->ip_bytes[ip_slot(g, ip)];
		if (atomic_fetch_add(slot, add) + add > g->cfg.body_budget_per_ip) {
			atomic_fetch_sub(slot, add);
			atomic_fetch_sub(&g->body_bytes, add);
			atomic_fetch_add(&g->refused_ip, 1);
			return GUARD_BUDGET_IP;
		}
	}
	return GUARD_BUDGET_OK;
}

void guard_budget_give(struct guard *g, const char *ip, size_t n)
{
	if (!g || n == 0)
		return;
	atomic_fetch_sub(&g->body_bytes, (long long)n);
	if (ip)
		atomic_fetch_sub(&g->ip_bytes[ip_slot(g, ip)], (long long)n);
}
