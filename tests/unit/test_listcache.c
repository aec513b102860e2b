/* Unit tests of the list-answer cache: freshness by generation and TTL, and its byte budget. */
#include "server/api/listcache.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	struct listcache *c = listcache_new(1000, 16 * 4096);
	char *body = NULL;
	size_t len = 0;
	uint64_t g;

	CHECK(listcache_new(0, 1000) == NULL);
	CHECK(c != NULL);
	g = listcache_generation(c);
	listcache_put(c, "k1", 2, g, 100, "answer", 6);
	CHECK_INT(listcache_get(c, "k1", 2, 200, &body, &len), 1);
	CHECK_STR(body, "answer");
	CHECK_INT(len, 6);
	free(body);
	CHECK_INT(listcache_get(c, "k2", 2, 200, &body, &len), 0);
	CHECK_INT(listcache_get(c, "k1", 2, 1100, &body, &len), 0); /* past the TTL */

	/* a change makes everything stale, and an answer computed before it is not kept */
	listcache_put(c, "k1", 2, g, 2000, "answer", 6);
	listcache_invalidate(c);
	CHECK_INT(listcache_get(c, "k1", 2, 2000, &body, &len), 0);
	listcache_put(c, "k1", 2, g, 2000, "older", 5);
	CHECK_INT(listcache_get(c, "k1", 2, 2000, &body, &len), 0);
	listcache_put(c, "k1", 2, listcache_generation(c), 2000, "newer", 5);
	CHECK_INT(listcache_get(c, "k1", 2, 2000, &body, &len), 1);
	CHECK_STR(body, "newer");
	free(body);

	/* the budget: big answers evict older ones instead of growing without end */
	char big[3000];
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 200; i++) {
		char key[16];
		snprintf(key, sizeof(key), "key%d", i);
		listcache_put(c, key, strlen(key), listcache_generation(c), 3000, big, sizeof(big));
	}
	int kept = 0;
	for (int i = 0; i < 200; i++) {
		char key[16];
		snprintf(key, sizeof(key), "key%d", i);
		if (listcache_get(c, key, strlen(key), 3000, &body, &len)) {
			kept++;
			free(body);
		}
	}
	CHECK(kept > 0 && kept <= 16 * 4096 / 3000);
	listcache_free(c);
	listcache_free(NULL);
	CHECK_INT(listcache_get(NULL, "k", 1, 0, &body, &len), 0);
	return tap_done();
}
