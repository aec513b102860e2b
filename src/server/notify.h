/* Readiness and status for systemd (Type=notify): the sd_notify(3) protocol, one datagram
 * to the socket named by $NOTIFY_SOCKET, written here rather than linking libsystemd for
 * one sendto. Without $NOTIFY_SOCKET (not started by systemd) it does nothing. */
#ifndef MCAPI_SERVER_NOTIFY_H
#define MCAPI_SERVER_NOTIFY_H

/* Sends state ("READY=1", "STATUS=...", "STOPPING=1", several joined by newlines). Errors
 * are ignored: the service manager's bookkeeping must never stop the server. */
void notify_systemd(const char *state);

#endif
