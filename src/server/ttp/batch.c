/* Group commit; see batch.h. One mutex guards the queue; the writer takes the whole
 * available prefix (up to max_batch) at once and commits it without holding the mutex. */
#include "batch.h"

#include "common/err.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/banned.h"

struct batcher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	struct batch_item *head, *tail;
	int queued, max_batch, max_queue, stopping;
	batch_commit_fn fn;
	void *arg;
	long long batches, items;
	struct batch_item **items_buf; /* max_batch: the batch being committed */
};

static void *writer(void *arg)
{
	struct batcher *b = arg;

	for (;;) {
		int n = 0, rc;
		pthread_mutex_lock(&b->mu);
		while (!b->head && !b->stopping)
			pthread_cond_wait(&b->cv, &b->mu);
		if (!b->head) { /* stopping, and nothing left */
			pthread_mutex_unlock(&b->mu);
			break;
		}
		while (b->head && n < b->max_batch) {
			b->items_buf[n] = b->head;
			b->head = b->head->next;
			b->items_buf[n++]->next = NULL;
		}
		if (!b->head)
			b->tail = NULL;
		b->queued -= n;
		b->batches++;
		b->items += n;
		pthread_mutex_unlock(&b->mu);
		for (int i = 0; i < n; i++)
			b->items_buf[i]->rc = 0;
		rc = b->fn(b->arg, b->items_buf, n);
		for (int i = 0; i < n; i++) {
			struct batch_item *it = b->items_buf[i];
			if (rc && !it->rc)
				it->rc = rc;
			it->done(it); /* may free the item: nothing reads it after */
		}
	}
	return NULL;
}

struct batcher *batcher_start(batch_commit_fn fn, void *arg, int max_batch, int max_queue,
                              struct err *e)
{
	struct batcher *b = calloc(1, sizeof(*b));

	if (!b) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	b->fn = fn;
	b->arg = arg;
	b->max_batch = max_batch > 0 ? max_batch : 1;
	b->max_queue = max_queue > 0 ? max_queue : 1;
	if (!(b->items_buf = calloc((size_t)b->max_batch, sizeof(*b->items_buf)))) {
		free(b);
		err_set(e, MC_ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	if (pthread_create(&b->thread, NULL, writer, b) != 0) {
		pthread_cond_destroy(&b->cv);
		pthread_mutex_destroy(&b->mu);
		free(b->items_buf);
		free(b);
		err_set(e, MC_ERR_INTERNAL, "cannot start the batch writer thread");
		return NULL;
	}
	return b;
}

int batcher_submit(struct batcher *b, struct batch_item *it)
{
	int rc = 0;

	it->next = NULL;
	it->rc = 0;
	pthread_mutex_lock(&b->mu);
	if (b->stopping || b->queued >= b->max_queue) {
		rc = MC_ERR_AGAIN;
	} else {
		if (b->tail)
			b->tail->next = it;
		else
			b->head = it;
		b->tail = it;
		b->queued++;
		pthread_cond_signal(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	return rc;
}

void batcher_stats(struct batcher *b, long long *batches, long long *items)
{
	pthread_mutex_lock(&b->mu);
	*batches = b->batches;
	*items = b->items;
	pthread_mutex_unlock(&b->mu);
}

void batcher_stop(struct batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stopping = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b->items_buf);
	free(b);
}
