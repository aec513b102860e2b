/* Locks for short critical sections on the request path (buckets, caches): adaptive
 * mutexes that spin briefly before sleeping, so two workers meeting on one hot shard do
 * not pay a context switch each time. */
#ifndef MCAPI_COMMON_LOCK_H
#define MCAPI_COMMON_LOCK_H

#include <pthread.h>

/* Initialises m as an adaptive mutex (a plain one where that type is unknown). */
void lock_init(pthread_mutex_t *m);

#endif
