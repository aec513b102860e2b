/* Group commit: a queue of items drained by one writer thread that hands them to a commit
 * function many at a time (one store transaction for the lot), then tells each item's owner
 * that its item is done. While a batch commits, new items queue up and go in the next one,
 * so the batch size follows the load: one item when idle, hundreds under a flood, and the
 * cost of a commit (an fsync) is shared by all of them.
 *
 * The click logger uses it (clicks.h); nothing in it knows about clicks. */
#ifndef MCAPI_SERVER_TTP_BATCH_H
#define MCAPI_SERVER_TTP_BATCH_H

struct err;

/* Embedded in the caller's item. rc is set before done is called: the commit function's
 * per-item verdict (it may set it), else the batch's return. */
struct batch_item {
	struct batch_item *next; /* the queue's */
	int rc;
	void (*done)(struct batch_item *it); /* called on the writer thread, after the commit */
};

/* Commits items[0..n) (n >= 1, in submission order); 0 or an error code, which every item
 * whose rc is still 0 gets. Called on the writer thread only. */
typedef int (*batch_commit_fn)(void *arg, struct batch_item **items, int n);

struct batcher;

/* Starts the writer thread. max_batch: most items per commit; max_queue: most items
 * waiting (beyond it batcher_submit refuses). NULL + e on error. */
struct batcher *batcher_start(batch_commit_fn fn, void *arg, int max_batch, int max_queue,
                              struct err *e);

/* Queues it (its done is called once, later, on the writer thread). 0, or MC_ERR_AGAIN when
 * the queue is full or the batcher is stopping: it is not queued then and done is not
 * called. Thread-safe. */
int batcher_submit(struct batcher *b, struct batch_item *it);

/* Statistics for tests and the log: batches committed and items in them. */
void batcher_stats(struct batcher *b, long long *batches, long long *items);

/* Refuses new items, commits every queued one, then joins the writer. NULL is fine. */
void batcher_stop(struct batcher *b);

#endif
