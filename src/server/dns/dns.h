/* Asynchronous TXT lookups for domain verification (API.md §5.5). A resolver owns one background
 * thread that runs a c-ares event loop; any thread may submit a lookup without blocking, and the
 * answer (or a timeout) arrives later through a callback on the resolver thread, so a pending
 * lookup never holds an HTTP worker. */
#ifndef MCAPI_SERVER_DNS_DNS_H
#define MCAPI_SERVER_DNS_DNS_H

#include "common/err.h"

#include <stddef.h>

/* Bounds of the per-lookup timeout accepted by dns_new. */
#define DNS_TIMEOUT_MIN_MS 10
#define DNS_TIMEOUT_MAX_MS 600000

/* Lookups a resolver holds at once (submitted and not yet released by c-ares, which keeps a timed
 * out query until its own tries end); beyond it dns_txt_lookup fails with MC_ERR_UNAVAILABLE
 * instead of growing without bound. */
#define DNS_MAX_PENDING 10000

struct dns; /* opaque resolver */

enum dns_status {
	DNS_OK = 0,   /* answer with >= 0 TXT records (NODATA = OK with count 0) */
	DNS_NXDOMAIN, /* name does not exist */
	DNS_SERVFAIL, /* server failure */
	DNS_REFUSED,  /* refused */
	DNS_TIMEOUT,  /* no answer within the timeout */
	DNS_ERROR,    /* anything else (bad name, connection refused, shutdown, out of memory) */
};

/* count TXT records, each the concatenation of its character-strings (RFC 7208 §3.3), in the
 * order of the answer; records[i] is NUL-terminated and lengths[i] bytes long (records may hold
 * NUL bytes in theory). Owned by the module, valid only during the callback. */
struct dns_txt_result {
	enum dns_status status;
	size_t count;
	char **records;
	size_t *lengths;
};

/* Receives the outcome of one lookup. Runs on the resolver thread and must be short (record the
 * result, resume a connection). It may call dns_txt_lookup, but never dns_free. records and
 * lengths are NULL when count is 0. */
typedef void (*dns_txt_cb)(void *arg, const struct dns_txt_result *res);

/* Creates a resolver and starts its thread. servers: NULL or "" (whitespace only counts as empty)
 * = the system's resolv.conf; otherwise a comma-separated list of "ip", "ip:port", "[ipv6]" or
 * "[ipv6]:port" (a bare IPv6 address takes no port), e.g. "127.0.0.1:5353, [::1]:53". Servers are
 * tried in order: one that does not answer in time or is unreachable passes the lookup on to the
 * next, but a SERVFAIL or REFUSED answer is final. timeout_ms (DNS_TIMEOUT_MIN_MS to
 * DNS_TIMEOUT_MAX_MS) bounds each lookup in total, from submission to callback, retries and time
 * in the queue included. The caller owns the result and releases it with dns_free. Returns NULL
 * and fills e on failure: MC_ERR_INVALID for bad arguments, MC_ERR_NOMEM, or MC_ERR_IO when a
 * system or c-ares resource cannot be set up. */
struct dns *dns_new(const char *servers, int timeout_ms, struct err *e);

/* Starts a lookup of the TXT records of name (an A-label domain, one trailing dot allowed) and
 * returns at once. Thread-safe. cb is called exactly once, on the resolver thread, also when the
 * resolver is freed before the answer (DNS_ERROR). Returns 0, MC_ERR_INVALID (NULL arguments, a
 * name that is empty, over 253 octets, has an empty label or one over 63 octets, or holds bytes
 * outside printable ASCII or a backslash), MC_ERR_NOMEM, or MC_ERR_UNAVAILABLE (the resolver is
 * shutting down or holds DNS_MAX_PENDING lookups); on error cb is not called. */
int dns_txt_lookup(struct dns *d, const char *name, dns_txt_cb cb, void *arg);

/* Stops the thread, fails outstanding lookups with DNS_ERROR (their callbacks run on the resolver
 * thread before this returns) and frees d. NULL is a no-op. Must not be called from a callback,
 * nor while another thread may still call dns_txt_lookup on d. */
void dns_free(struct dns *d);

/* Short static name for logs and error mapping: "ok", "nxdomain", "servfail", "refused",
 * "timeout", "error" ("unknown" for a value outside the enum). */
const char *dns_status_name(enum dns_status s);

#endif
