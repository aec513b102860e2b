/* Per-destination penalties in memory (OpenSMTPD's mta route penalty): when host:port fails
 * as a whole (no connection, no greeting, a time-out), the workers defer its other recipients
 * without connecting for a minute, so one dead downstream server does not cost every
 * recipient a connect time-out. A small fixed table: losing a penalty only costs one more
 * connection attempt. */
#include "delivery_int.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

void penalty_init(struct penalty_table *t)
{
	memset(t->slot, 0, sizeof(t->slot));
	pthread_mutex_init(&t->mu, NULL);
}

void penalty_release(struct penalty_table *t)
{
	pthread_mutex_destroy(&t->mu);
}

static struct penalty_slot *penalty_find(struct penalty_table *t, const char *key)
{
	for (int i = 0; i < PENALTY_SLOTS; i++)
		if (t->slot[i].key[0] && strcmp(t->slot[i].key, key) == 0)
			return &t->slot[i];
	return NULL;
}

int penalty_check(struct penalty_table *t, const char *key, int64_t now, char *reply, size_t size)
{
	struct penalty_slot *s;
	int hit = 0;

	pthread_mutex_lock(&t->mu);
	s = penalty_find(t, key);
	if (s && s->until > now) {
		hit = 1;
		if (size)
			snprintf(reply, size, "%s", s->reply);
	} else if (s) {
		s->key[0] = '\0'; /* decayed */
	}
	pthread_mutex_unlock(&t->mu);
	return hit;
}

void penalty_add(struct penalty_table *t, const char *key, int64_t now, const char *reply)
{
	struct penalty_slot *s;

	pthread_mutex_lock(&t->mu);
	s = penalty_find(t, key);
	for (int i = 0; !s && i < PENALTY_SLOTS; i++)
		if (!t->slot[i].key[0])
			s = &t->slot[i];
	if (!s) {
		s = &t->slot[0];
		for (int i = 1; i < PENALTY_SLOTS; i++)
			if (t->slot[i].until < s->until)
				s = &t->slot[i];
	}
	snprintf(s->key, sizeof(s->key), "%s", key);
	s->until = now + PENALTY_MS;
	snprintf(s->reply, sizeof(s->reply), "%s", reply);
	pthread_mutex_unlock(&t->mu);
}

void penalty_clear(struct penalty_table *t, const char *key)
{
	struct penalty_slot *s;

	pthread_mutex_lock(&t->mu);
	s = penalty_find(t, key);
	if (s)
		s->key[0] = '\0';
	pthread_mutex_unlock(&t->mu);
}
