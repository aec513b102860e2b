/* Unit tests of the Argon2id thread pool (auth/hashpool.c) and the Basic-Cloud parser
 * (auth/basic_cloud.c): the queue bound, that every accepted job runs (also those still
 * queued when the pool is freed), and the outcomes of the Authorization forms. */
#include "common/err.h"
#include "server/auth/basic_cloud.h"
#include "server/auth/hashpool.h"
#include "tap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

struct job {
	struct hashpool_job j;
	atomic_int *ran;
	pthread_mutex_t *gate; /* held by the test: jobs wait on it */
};

static void run(struct hashpool_job *j)
{
	struct job *x = (struct job *)j;

	pthread_mutex_lock(x->gate);
	pthread_mutex_unlock(x->gate);
	atomic_fetch_add(x->ran, 1);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

static void test_queue_bound(void)
{
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	atomic_int ran = 0;
	struct job jobs[8];
	struct err e = {0};
	struct hashpool *p = hashpool_new(2, 3, &e);
	int accepted = 0;

	CHECK(p != NULL);
	pthread_mutex_lock(&gate);
	for (int i = 0; i < 8; i++) {
		jobs[i] = (struct job){{run, NULL}, &ran, &gate};
		if (hashpool_submit(p, &jobs[i].j) == 0)
			accepted++;
		if (i < 2)
			sleep_ms(20);
	}
	/* threads + queue: two running (or idle threads with their jobs still queued) and three
	 * waiting, whenever the threads wake; the rest refused */
	CHECK_INT(accepted, 5);
	CHECK_INT(hashpool_load(p), 5);
	pthread_mutex_unlock(&gate);
	hashpool_free(p); /* runs the queued ones before it returns */
	CHECK_INT(atomic_load(&ran), 5);
	CHECK(hashpool_new(0, 1, &e) == NULL && e.code == MC_ERR_INVALID);
}

static void test_basic_cloud(void)
{
	struct basic_cloud bc;

	/* "User@Example.com:pa:ss" */
	CHECK_INT(basic_cloud_parse(" basic-CLOUD\tVXNlckBFeGFtcGxlLmNvbTpwYTpzcw== \r\n", &bc),
	          BASIC_CLOUD_OK);
	CHECK_STR(bc.email, "user@example.com");
	CHECK(bc.pw_n == 5 && memcmp(bc.pw, "pa:ss", 5) == 0);
	basic_cloud_clear(&bc);
	CHECK_INT(basic_cloud_parse(NULL, &bc), BASIC_CLOUD_MISSING);
	CHECK_INT(basic_cloud_parse("Basic-Cloud", &bc), BASIC_CLOUD_MISSING);
	CHECK_INT(basic_cloud_parse("  ", &bc), BASIC_CLOUD_MISSING);
	CHECK_INT(basic_cloud_parse("Basic-AD dTp2", &bc), BASIC_CLOUD_OTHER_SCHEME);
	CHECK_INT(basic_cloud_parse("Basic-Cloud dXNlcg==", &bc),
	          BASIC_CLOUD_MALFORMED);                                             /* "user" */
	CHECK_INT(basic_cloud_parse("Basic-Cloud OnB3", &bc), BASIC_CLOUD_MALFORMED); /* ":pw" */
	CHECK_INT(basic_cloud_parse("Basic-Cloud not base64!", &bc), BASIC_CLOUD_MALFORMED);
	CHECK_INT(basic_cloud_parse("Basic-Cloud YQBiOmM=", &bc), BASIC_CLOUD_MALFORMED); /* NUL */
	CHECK(bc.email[0] == '\0' && bc.pw == NULL);
	CHECK_INT(basic_cloud_parse("Basic-Cloud dTo=", &bc), BASIC_CLOUD_OK); /* "u:" */
	CHECK(bc.pw_n == 0);
}

int main(void)
{
	test_queue_bound();
	test_basic_cloud();
	return tap_done();
}
