/* Delivery (API.md §13.2 step 3): worker threads that lease due recipients from the store
 * (store_delivery_lease), send each message to its domain's route — a downstream SMTP
 * server (smtp://host:port) or a local Maildir (maildir:PATH, default
 * <maildir_root>/<domain>/<local part>/) — and record the outcome before anything else
 * reacts to it (store_delivery_done): delivered, deferred with back-off
 * clamp(retry_min * 2^attempts, retry_min, retry_max), failed (5xx), or expired after
 * queue_max_age; one DSN per bounced message, never to the null sender. Outbound mail goes
 * to the smarthost or a Maildir, never to the internet. */
#ifndef MCAPI_SERVER_DELIVERY_DELIVERY_H
#define MCAPI_SERVER_DELIVERY_DELIVERY_H

struct err;
struct server;
struct delivery;

/* Starts cfg->delivery_threads workers on srv. NULL + e on error. */
struct delivery *delivery_start(struct server *srv, struct err *e);

/* New work is due (a message accepted, processed or released): wake a worker now. */
void delivery_kick(struct delivery *d);

/* Stops the workers; attempts in progress finish first. NULL is fine. */
void delivery_stop(struct delivery *d);

#endif
