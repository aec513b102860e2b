/* The content side of the pipeline: what mail.c asks of a message's bytes. At the end of
 * DATA, process_intake_scan reads the headers the records need (Message-ID, From, Subject)
 * and runs the anti-virus scan (a refusal belongs in the SMTP session). After the 250,
 * process_one leases one stored message, parses it (mime.h), runs the process-stage checks
 * (checks.h) and records the outcome with its events in one transaction. */
#ifndef MCAPI_SERVER_MAIL_PROCESS_H
#define MCAPI_SERVER_MAIL_PROCESS_H

#include "server/store/store_mail.h"

#include <stddef.h>

struct server;

struct process_intake {
	char virus[64]; /* "" = clean; else the virus name (EICAR-Test-File) */
};

/* Fills msg's msg_id, from_addr, from_name and subject from raw, and in->virus. Never fails:
 * a message that does not parse keeps empty fields and is scanned as bytes. */
void process_intake_scan(struct server *srv, const char *raw, size_t len, struct message *msg,
                         struct process_intake *in);

/* Processes the oldest unprocessed message: 1 if one was processed, 0 if there was none,
 * negative on a store error (the lease runs out and it is tried again). */
int process_one(struct server *srv);

#endif
