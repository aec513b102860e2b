/* Delivery (API.md §13.2 step 3): worker threads that lease due recipients from the store
 * (store_delivery_lease), send each message to its domain's route — a downstream SMTP
 * server (smtp://host:port) or a local Maildir (maildir:PATH; the default is
 * <maildir_root>/<domain>/<local part>/, and maildir:PATH means <PATH>/<domain>/<local
 * part>/) — and record the outcome before anything else reacts to it (store_delivery_done):
 * delivered, deferred with back-off clamp(retry_min * 2^(attempts - 1), retry_min,
 * retry_max), failed (5xx), or expired after queue_max_age; one DSN per bounced message,
 * never to the null sender. Outbound mail goes to the smarthost or a Maildir, never to the
 * internet (there is no MX lookup).
 *
 * DSNs are delivered directly, once, by the same SMTP/Maildir code: to the route of the
 * sender's domain when that domain is internal, otherwise not at all (logged: a bounce to
 * an outside address would need the internet). They are not queued. */
#ifndef MCAPI_SERVER_DELIVERY_DELIVERY_H
#define MCAPI_SERVER_DELIVERY_DELIVERY_H

#include <stddef.h>

struct err;
struct server;
struct delivery;
struct delivery_job;

/* Starts cfg->delivery_threads workers on srv. NULL + e on error. */
struct delivery *delivery_start(struct server *srv, struct err *e);

/* New work is due (a message accepted, processed or released): wake a worker now. */
void delivery_kick(struct delivery *d);

/* Stops the workers; attempts in progress finish first. The rest of a worker's leased batch
 * is left to its lease (5 minutes), after which any node delivers it. NULL is fine. */
void delivery_stop(struct delivery *d);

/* The hook "transform body before delivery" (e.g. TTP URL rewriting, §13.2): in[0..in_len)
 * is the stored message as job's recipient would get it. Return 0 with *out NULL to send in
 * unchanged, or 0 with *out (malloc'd; delivery frees it) and *out_len to send that
 * instead; MC_ERR_INVALID fails the recipient for good (554 5.7.0 with e's message), any
 * other non-zero return defers the attempt (451 4.3.0). Workers call it concurrently: it
 * must be thread-safe. */
typedef int (*delivery_transform_fn)(void *arg, const struct delivery_job *job, const char *in,
                                     size_t in_len, char **out, size_t *out_len, struct err *e);

/* Sets the hook (NULL: the stored bytes unchanged, the default); arg is given to fn. Takes
 * effect from the next attempt. */
void delivery_set_transform(struct delivery *d, delivery_transform_fn fn, void *arg);

#endif
