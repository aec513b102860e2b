/* The SMTP front of the mail gateway (API.md §13.1): the listener, sessions, limits and
 * STARTTLS. It owns sockets and the session state machine, and hands the pipeline
 * (mail/mail.h) values only: a struct mail_txn with copied session facts and a spooled
 * body. It never runs on an HTTP worker. */
#ifndef MCAPI_SERVER_SMTP_SMTP_H
#define MCAPI_SERVER_SMTP_SMTP_H

struct err;
struct mail;
struct server;
struct smtp_front;

/* Listens on srv->cfg->smtp_listen (a port in use is an error) and serves sessions that
 * call into mail. mail NULL: the store is not open yet (main.c's deferred start); sessions
 * get 421 4.3.2 until srv->ready, then use srv->mail. NULL + e on error. */
struct smtp_front *smtp_start(struct server *srv, struct mail *mail, struct err *e);

/* The port actually bound. */
unsigned smtp_port(const struct smtp_front *f);

/* Stops accepting; sessions in progress go on until smtp_stop. */
void smtp_quiesce(struct smtp_front *f);

/* Ends every session (421 4.3.2 to those waiting for a command; a message not yet
 * answered 250 is not accepted) and frees f. NULL is fine. */
void smtp_stop(struct smtp_front *f);

#endif
