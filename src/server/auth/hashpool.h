/* A small pool of threads for Argon2id work (login's password check, new password hashes),
 * so that a burst of logins never holds the HTTP workers: each hash costs ~0.1 s of CPU and
 * 64 MiB. The queue is bounded; a job that does not fit is refused at once and the caller
 * answers 503 (retryable, Retry-After: 1) instead of letting waits and memory grow. Peak
 * memory is threads x 64 MiB however many logins arrive. */
#ifndef MCAPI_SERVER_AUTH_HASHPOOL_H
#define MCAPI_SERVER_AUTH_HASHPOOL_H

struct err;
struct hashpool;

/* One piece of work. The submitter owns it and keeps it alive until run has been called;
 * run executes on a pool thread (it is called exactly once for every accepted job, also when
 * the pool is freed with the job still queued) and must not touch the job afterwards if it
 * hands the job's memory back to someone. */
struct hashpool_job {
	void (*run)(struct hashpool_job *job);
	struct hashpool_job *next; /* private to the pool */
};

/* Starts threads (1..) workers with room for queue_max (0..) jobs waiting beyond those
 * running. NULL + e on error (MC_ERR_INVALID, MC_ERR_NOMEM, MC_ERR_IO). */
struct hashpool *hashpool_new(int threads, int queue_max, struct err *e);

/* Hands job to the pool. Returns 0 (run will be called) or MC_ERR_UNAVAILABLE when every
 * thread is busy and the queue is full, or the pool is stopping (run will not be called). */
int hashpool_submit(struct hashpool *p, struct hashpool_job *job);

/* Jobs waiting or running now (for logs and tests). */
int hashpool_load(struct hashpool *p);

/* Refuses new jobs, runs every job already accepted, joins the threads and frees p. NULL is
 * a no-op. Call it before the HTTP front stops: the jobs resume suspended requests. */
void hashpool_free(struct hashpool *p);

#endif
