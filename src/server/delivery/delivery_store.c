/* The workers' store calls: the mail store itself (store_mail.h). Kept apart from delivery.c
 * so that the worker loop links, and is tested, with a queue in memory as well. */
#include "delivery.h"
#include "delivery_int.h"

#include "server/store/store.h"

#include "common/banned.h"

const struct delivery_store_ops delivery_store_ops = {
        .lease = store_delivery_lease,
        .done = store_delivery_done,
        .body_get = store_body_get,
        .message_get = store_message_get,
        .message_release = message_release,
        .account_get = store_account_get,
        .message_rcpts = store_message_rcpts,
        .mail_domain = store_mail_domain,
        .tx_begin = store_tx_begin,
        .tx_commit = store_tx_commit,
        .tx_rollback = store_tx_rollback,
};

struct delivery *delivery_start(struct server *srv, struct err *e)
{
	return delivery_start_ops(srv, &delivery_store_ops, 0, e);
}
