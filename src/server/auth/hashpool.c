/* The Argon2id thread pool; see hashpool.h. A mutex-protected FIFO and one condition
 * variable: jobs are few and long (~0.1 s), so nothing finer is needed. */
#include "hashpool.h"

#include "common/err.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "common/banned.h"

struct hashpool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct hashpool_job *head, *tail; /* waiting, in arrival order */
	int waiting;                      /* length of the list */
	int running;                      /* jobs being run now */
	int queue_max;
	int idle;     /* threads waiting for a job */
	int stopping; /* refuse new jobs; threads exit once the list is empty */
	int nthreads; /* started */
	pthread_t *threads;
};

static void *worker(void *arg)
{
	struct hashpool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct hashpool_job *j;
		while (!p->head && !p->stopping) {
			p->idle++;
			pthread_cond_wait(&p->cond, &p->lock);
			p->idle--;
		}
		if (!p->head)
			break; /* stopping and nothing left */
		j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		p->waiting--;
		p->running++;
		pthread_mutex_unlock(&p->lock);
		j->next = NULL;
		j->run(j);
		pthread_mutex_lock(&p->lock);
		p->running--;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct hashpool *hashpool_new(int threads, int queue_max, struct err *e)
{
	struct hashpool *p;
	sigset_t all, old;

	if (threads < 1 || queue_max < 0) {
		err_set(e, MC_ERR_INVALID, "a hash pool needs at least one thread");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->threads = calloc((size_t)threads, sizeof(*p->threads)))) {
		free(p);
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->queue_max = queue_max;
	/* signals belong to main's sigwait, whatever mask the caller has now */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
			break;
		p->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->nthreads < threads) {
		hashpool_free(p);
		err_set(e, MC_ERR_IO, "cannot start the hash threads");
		return NULL;
	}
	return p;
}

int hashpool_submit(struct hashpool *p, struct hashpool_job *job)
{
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	/* room: an idle thread takes it now, or a place in the queue */
	if (p->stopping || p->waiting - p->idle >= p->queue_max) {
		rc = MC_ERR_UNAVAILABLE;
	} else {
		job->next = NULL;
		if (p->tail)
			p->tail->next = job;
		else
			p->head = job;
		p->tail = job;
		p->waiting++;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int hashpool_load(struct hashpool *p)
{
	int n;

	pthread_mutex_lock(&p->lock);
	n = p->waiting + p->running;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void hashpool_free(struct hashpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}
