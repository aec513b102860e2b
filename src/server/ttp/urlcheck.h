/* What a clicked URL is checked against (API.md §16.3): an account's managed URLs
 * (store_urls.h) and the malicious-URL list (config malicious_urls). Pure functions on
 * parsed URLs, no I/O but urllist_load's read of the list file.
 *
 * Matching, as the real service's managed URLs behave:
 *  - "explicit": the same host (case-insensitive), the same port (-1 = the scheme's
 *    default), the same path ("" and "/" are the same), and, when the entry has a query
 *    string, the same query string; an entry with a scheme matches that scheme only.
 *  - "domain": the host is the entry's domain or a subdomain of it (www.a.com and
 *    x.y.a.com for a.com), whatever the scheme, port, path or query.
 * When several entries match, an explicit one beats a domain one, a longer domain beats a
 * shorter one, and at equal rank block beats permit. */
#ifndef MCAPI_SERVER_TTP_URLCHECK_H
#define MCAPI_SERVER_TTP_URLCHECK_H

#include "server/store/store_urls.h"

#include <stddef.h>

/* A URL cut into the parts managed URLs keep. */
struct url_parts {
	char scheme[MURL_SCHEME_SIZE]; /* lower-case; "" when the text had none */
	char host[MURL_DOMAIN_SIZE];   /* lower-case, no brackets, no trailing dot */
	int port;                      /* -1 = not given */
	char path[MURL_PATH_SIZE];     /* from the first '/', "" when none */
	char query[MURL_QUERY_SIZE];   /* after '?', without the fragment */
};

/* Parses text[0..len): [scheme://][userinfo@]host[:port][/path][?query][#fragment], scheme
 * http or https (other schemes are refused), a host of letters, digits, '-', '.', '_' (or an
 * IPv6 literal in brackets), a port 1-65535. need_scheme: refuse text without one. 0, or
 * MC_ERR_INVALID (a part too long, a bad character, no host). */
int url_parse(const char *text, size_t len, int need_scheme, struct url_parts *out);

/* The index of the entry of list[0..n) that decides for u (see above), or -1. */
int urlcheck_managed(const struct managed_url *list, int n, const struct url_parts *u);

/* The malicious-URL list: URLs (matched as explicit entries) and domains (matched with
 * their subdomains). */
struct urllist;

/* Reads path: one entry a line, a URL (anything with "://" or a '/') or a domain; blank
 * lines and lines starting with '#' are skipped. A line that does not parse is an error
 * (MC_ERR_INVALID naming the line), so a typo in the list is seen at start-up. NULL path or
 * "" gives an empty list. 0 with *out, or MC_ERR_IO, MC_ERR_INVALID, MC_ERR_NOMEM. */
struct err;
int urllist_load(const char *path, struct urllist **out, struct err *e);

/* 1 if u is on the list. l may be NULL (an empty list). */
int urllist_match(const struct urllist *l, const struct url_parts *u);

void urllist_free(struct urllist *l);

#endif
