/* TEMPORARY, for branch mapi only: weak stand-ins for the mail store (store_mail.h) so that
 * mcapid links and the message API answers an empty store until the real implementation
 * (sqlite_mail.c, pg_mail.c) is merged. CMakeLists.txt leaves this file out as soon as
 * src/server/store/sqlite_mail.c exists; delete it at that merge. Reads find nothing;
 * actions find no message. */
#include "common/err.h"
#include "server/store/store_mail.h"

#include <stdlib.h>

#include "common/banned.h"

#define WEAK __attribute__((weak))

WEAK void message_release(struct message *m)
{
	free(m->attachments);
	free(m->urls);
	m->attachments = NULL;
	m->urls = NULL;
}

WEAK int store_body_get(struct store *st, int64_t body_id, char **data, size_t *len, struct err *e)
{
	(void)st, (void)body_id, (void)data, (void)len, (void)e;
	return MC_ERR_NOT_FOUND;
}

WEAK int store_message_get(struct store *st, int64_t account_id, int64_t id, struct message *out,
                           struct err *e)
{
	(void)st, (void)account_id, (void)id, (void)out, (void)e;
	return MC_ERR_NOT_FOUND;
}

WEAK int store_message_rcpts(struct store *st, int64_t message_id,
                             int (*fn)(void *arg, const struct mail_rcpt *r), void *arg,
                             struct err *e)
{
	(void)st, (void)message_id, (void)fn, (void)arg, (void)e;
	return 0;
}

WEAK int store_message_list(struct store *st, const struct message_query *q, int64_t after_received,
                            int64_t after_id, int limit,
                            int (*fn)(void *arg, const struct message *m), void *arg, struct err *e)
{
	(void)st, (void)q, (void)after_received, (void)after_id, (void)limit, (void)fn, (void)arg,
	        (void)e;
	return 0;
}

WEAK int store_hold_summary(struct store *st, int64_t account_id,
                            int (*fn)(void *arg, const char *reason, int64_t count), void *arg,
                            struct err *e)
{
	(void)st, (void)account_id, (void)fn, (void)arg, (void)e;
	return 0;
}

WEAK int store_mail_queue_counts(struct store *st, int64_t account_id, int64_t from, int64_t to,
                                 int (*fn)(void *arg, int route, const char *bucket, int64_t n),
                                 void *arg, struct err *e)
{
	(void)st, (void)account_id, (void)from, (void)to, (void)fn, (void)arg, (void)e;
	return 0;
}

WEAK int store_message_release_hold(struct store *st, int64_t account_id, int64_t id, int64_t now,
                                    const struct mail_event *ev, struct err *e)
{
	(void)st, (void)account_id, (void)id, (void)now, (void)ev, (void)e;
	return MC_ERR_NOT_FOUND;
}

WEAK int store_message_reject_hold(struct store *st, int64_t account_id, int64_t id, int64_t now,
                                   const struct mail_event *ev, struct err *e)
{
	(void)st, (void)account_id, (void)id, (void)now, (void)ev, (void)e;
	return MC_ERR_NOT_FOUND;
}

WEAK int store_mail_domain(struct store *st, const char *name, struct mail_domain *out,
                           struct err *e)
{
	(void)st, (void)name, (void)out, (void)e;
	return MC_ERR_NOT_FOUND;
}
