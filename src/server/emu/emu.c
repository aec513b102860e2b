/* The control plane's state: the control token, the journal ring, the fault rules and the
 * delay timer; see emu.h. control.c answers the control calls over this state. */
#include "emu_int.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "server/server.h"
#include "server/store/store_snapshot.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/banned.h"

static void copy(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size)
		n = size - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

/* ---- the delay timer: a list sorted by due time, one thread ---- */

struct delayed {
	int64_t due; /* monotonic ms */
	void (*done)(void *);
	void *arg;
	struct delayed *next;
};

static void *timer_main(void *p)
{
	struct emu *emu = p;

	pthread_mutex_lock(&emu->timer_mu);
	for (;;) {
		struct delayed *d = emu->due;
		int64_t now = mono_ms();

		if (d && (d->due <= now || emu->stopping)) {
			emu->due = d->next;
			pthread_mutex_unlock(&emu->timer_mu);
			d->done(d->arg);
			free(d);
			pthread_mutex_lock(&emu->timer_mu);
			continue;
		}
		if (emu->stopping)
			break;
		if (!d) {
			pthread_cond_wait(&emu->timer_cv, &emu->timer_mu);
		} else {
			struct timespec ts;
			int64_t wait = d->due - now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&emu->timer_cv, &emu->timer_mu, &ts);
		}
	}
	pthread_mutex_unlock(&emu->timer_mu);
	return NULL;
}

int emu_delay(struct emu *emu, int ms, void (*done)(void *arg), void *arg)
{
	struct delayed *d = malloc(sizeof(*d)), **pp;

	if (!d)
		return MC_ERR_NOMEM;
	d->due = mono_ms() + ms;
	d->done = done;
	d->arg = arg;
	pthread_mutex_lock(&emu->timer_mu);
	if (emu->stopping) { /* the server is stopping: no more waiting */
		pthread_mutex_unlock(&emu->timer_mu);
		free(d);
		done(arg);
		return 0;
	}
	for (pp = &emu->due; *pp && (*pp)->due <= d->due; pp = &(*pp)->next)
		;
	d->next = *pp;
	*pp = d;
	pthread_cond_signal(&emu->timer_cv);
	pthread_mutex_unlock(&emu->timer_mu);
	return 0;
}

/* ---- life ---- */

struct emu *emu_new(struct server *srv, const unsigned char token_key[32], int journal_max,
                    struct err *e)
{
	struct emu *emu = calloc(1, sizeof(*emu));
	pthread_condattr_t ca;

	if (!emu || journal_max < 1 ||
	    !(emu->journal = calloc((size_t)journal_max, sizeof(*emu->journal)))) {
		free(emu);
		err_set(e, MC_ERR_NOMEM, "out of memory for the control plane's journal");
		return NULL;
	}
	emu->srv = srv;
	emu->journal_max = journal_max;
	/* the token is a key derived from the server key: the same on every start and node */
	memcpy(emu->token, "mcc_", 4);
	b64url_encode(token_key, 32, emu->token + 4);
	emu->token[EMU_TOKEN_LEN] = '\0';
	pthread_mutex_init(&emu->journal_mu, NULL);
	pthread_mutex_init(&emu->fault_mu, NULL);
	pthread_mutex_init(&emu->timer_mu, NULL);
	pthread_mutex_init(&emu->ui_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&emu->timer_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&emu->timer, NULL, timer_main, emu) != 0) {
		err_set(e, MC_ERR_IO, "cannot start the control plane's timer thread");
		pthread_cond_destroy(&emu->timer_cv);
		pthread_mutex_destroy(&emu->timer_mu);
		pthread_mutex_destroy(&emu->ui_mu);
		pthread_mutex_destroy(&emu->fault_mu);
		pthread_mutex_destroy(&emu->journal_mu);
		free(emu->baseline);
		free(emu->journal);
		free(emu);
		return NULL;
	}
	return emu;
}

int emu_set_baseline(struct emu *emu, struct err *e)
{
	/* the state POST /__mcapi/reset returns to: the store as start-up left it */
	return store_snapshot_export(emu->srv->store, &emu->baseline, &emu->baseline_len, e);
}

void emu_quiesce(struct emu *emu)
{
	if (!emu)
		return;
	pthread_mutex_lock(&emu->timer_mu);
	emu->stopping = 1; /* what waits is released now, in due order */
	pthread_cond_signal(&emu->timer_cv);
	pthread_mutex_unlock(&emu->timer_mu);
}

void emu_free(struct emu *emu)
{
	if (!emu)
		return;
	emu_quiesce(emu);
	pthread_join(emu->timer, NULL);
	pthread_cond_destroy(&emu->timer_cv);
	pthread_mutex_destroy(&emu->timer_mu);
	pthread_mutex_destroy(&emu->ui_mu);
	pthread_mutex_destroy(&emu->fault_mu);
	pthread_mutex_destroy(&emu->journal_mu);
	sodium_memzero(emu->token, sizeof(emu->token));
	sodium_memzero(emu->sessions, sizeof(emu->sessions));
	if (emu->baseline)
		sodium_memzero(emu->baseline, emu->baseline_len);
	free(emu->baseline);
	free(emu->journal);
	free(emu);
}

const char *emu_token(const struct emu *emu)
{
	return emu->token;
}

/* ---- the journal ---- */

void emu_journal_add(struct emu *emu, const struct emu_call *c)
{
	struct emu_entry *x;

	pthread_mutex_lock(&emu->journal_mu);
	x = &emu->journal[emu->journal_seq % (uint64_t)emu->journal_max];
	x->seq = ++emu->journal_seq;
	x->at_ms = c->at_ms;
	x->ms = c->ms;
	x->status = c->status;
	copy(x->method, sizeof(x->method), c->method);
	copy(x->path, sizeof(x->path), c->path);
	copy(x->req_id, sizeof(x->req_id), c->req_id);
	copy(x->client_ip, sizeof(x->client_ip), c->client_ip);
	copy(x->app_id, sizeof(x->app_id), c->app_id);
	copy(x->user, sizeof(x->user), c->user);
	copy(x->error_code, sizeof(x->error_code), c->error_code);
	copy(x->auth_check, sizeof(x->auth_check), c->auth_check);
	copy(x->fault, sizeof(x->fault), c->fault);
	pthread_mutex_unlock(&emu->journal_mu);
}

/* ---- faults ---- */

/* A path pattern: exact, or a prefix when it ends in '*'; "" or "*" matches every path. */
static int path_matches(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*')
		return strncmp(pattern, path, n - 1) == 0;
	return !n || strcmp(pattern, path) == 0;
}

/* The rule at i applies once more: its count goes down, and at zero it is removed. Caller
 * holds fault_mu. */
static void use_rule(struct emu *emu, int i)
{
	struct emu_rule *r = &emu->rules[i];

	if (r->count > 0 && --r->count == 0) {
		memmove(&emu->rules[i], &emu->rules[i + 1],
		        (size_t)(emu->nrules - i - 1) * sizeof(emu->rules[0]));
		atomic_store(&emu->nrules_pub, --emu->nrules);
	}
}

static int chance(double p)
{
	if (p >= 1.0)
		return 1;
	if (p <= 0.0)
		return 0;
	return (double)random_uniform(RND_FAULT, 1000000) < p * 1000000.0;
}

int emu_fault_api(struct emu *emu, const char *path, const char *account_code,
                  struct emu_fault_hit *hit)
{
	int found = 0;

	if (!atomic_load_explicit(&emu->nrules_pub, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&emu->fault_mu);
	for (int i = 0; i < emu->nrules; i++) {
		const struct emu_rule *r = &emu->rules[i];
		if (r->smtp || !path_matches(r->path, path))
			continue;
		if (r->account[0] && strcmp(r->account, account_code ? account_code : "") != 0)
			continue;
		if (!chance(r->probability))
			continue;
		memset(hit, 0, sizeof(*hit));
		copy(hit->id, sizeof(hit->id), r->id);
		hit->status = r->status;
		hit->developer_key = r->developer_key;
		hit->latency_ms = r->latency_ms;
		hit->retry_after_s = r->retry_after_s;
		use_rule(emu, i);
		found = 1;
		break;
	}
	pthread_mutex_unlock(&emu->fault_mu);
	return found;
}

int emu_fault_smtp(struct emu *emu, const char *stage, int *code, char *text, size_t text_size)
{
	int found = 0;

	if (!atomic_load_explicit(&emu->nrules_pub, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&emu->fault_mu);
	for (int i = 0; i < emu->nrules; i++) {
		const struct emu_rule *r = &emu->rules[i];
		if (!r->smtp || strcmp(r->stage, stage) != 0 || !chance(r->probability))
			continue;
		*code = r->smtp_code;
		copy(text, text_size, r->smtp_text);
		use_rule(emu, i);
		found = 1;
		break;
	}
	pthread_mutex_unlock(&emu->fault_mu);
	return found;
}
