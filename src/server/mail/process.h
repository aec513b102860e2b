/* The content side of the pipeline: what mail.c asks of a message's bytes. At the end of
 * DATA, process_intake_scan reads the headers the records need (Message-ID, From, Subject)
 * and runs the anti-virus scan (a refusal belongs in the SMTP session). After the 250,
 * process_one leases one stored message, parses it (mime.h; or takes the receipt's parse
 * from mail_parsed_take, the same bytes parsed once), runs the process-stage checks
 * (checks.h) and records the outcome with its events in one transaction. */
#ifndef MCAPI_SERVER_MAIL_PROCESS_H
#define MCAPI_SERVER_MAIL_PROCESS_H

#include "server/store/store_mail.h"

#include <stddef.h>

struct mail;
struct server;

struct mime_msg;

struct process_intake {
	char virus[64];      /* "" = clean; else the virus name (EICAR-Test-File) */
	struct mime_msg *mm; /* the parse of raw (NULL if none): mail_accept hands it on to
	                      * process_one (mail_parsed_put) or frees it */
};

/* Fills msg's msg_id, from_addr, from_name and subject from raw, and in->virus. Never fails:
 * a message that does not parse keeps empty fields and is scanned as bytes. in->mm is the
 * caller's: process_intake_release. */
void process_intake_scan(struct server *srv, const char *raw, size_t len, struct message *msg,
                         struct process_intake *in);
void process_intake_release(struct process_intake *in);

/* Processes the oldest unprocessed message: 1 if one was processed, 0 if there was none,
 * negative on a store error (the lease runs out and it is tried again). mail (may be NULL)
 * holds the receipt parses it may take over (mail_parsed_take). */
int process_one(struct server *srv, struct mail *mail);

struct delivery_job;
struct err;

/* The delivery hook (delivery_set_transform; arg is the struct server): what the gateway
 * changes in each delivered copy. With test_headers on, X-Mcapi-Test: defer defers every
 * attempt and bounce fails it for good; then TTP URL protection rewrites every http(s) URL
 * of the text and HTML parts to {public_base_url}/s/{token}, the token sealed (ttp/clicks.h:
 * the URL, the message's aCode, account and id, the recipient, and X-Mcapi-Test:
 * malicious-url). A message whose URLs cannot be rewritten goes out as stored, and so does one
 * without URLs (job->no_urls: not parsed). */
int process_delivery_transform(void *arg, const struct delivery_job *job, const char *in,
                               size_t in_len, char **out, size_t *out_len, struct err *e);

#endif
