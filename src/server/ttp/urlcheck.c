/* URL parsing and the managed-URL and malicious-list checks; see urlcheck.h. */
#include "urlcheck.h"

#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

static int copy_part(char *dst, size_t size, const char *s, size_t n, int lower)
{
	if (n >= size)
		return MC_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f)
			return MC_ERR_INVALID; /* no blanks or controls in a URL */
		dst[i] = (char)(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	dst[n] = '\0';
	return 0;
}

static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

int url_parse(const char *text, size_t len, int need_scheme, struct url_parts *out)
{
	const char *p = text, *end = text + len, *sep, *auth_end, *host, *host_end;
	size_t n;

	/* each part is written whole below; no memset of the 4 KiB (a click parses one) */
	out->scheme[0] = out->host[0] = out->path[0] = out->query[0] = '\0';
	out->port = -1;
	sep = len >= 3 ? memmem(text, len, "://", 3) : NULL;
	if (sep && memchr(text, '/', (size_t)(sep - text)) == NULL) {
		n = (size_t)(sep - text);
		if (!((n == 4 && strncasecmp(text, "http", 4) == 0) ||
		      (n == 5 && strncasecmp(text, "https", 5) == 0)))
			return MC_ERR_INVALID;
		copy_part(out->scheme, sizeof(out->scheme), text, n, 1);
		p = sep + 3;
	} else if (need_scheme) {
		return MC_ERR_INVALID;
	}
	for (auth_end = p;
	     auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#'; auth_end++)
		;
	host = p;
	for (const char *q = p; q < auth_end; q++)
		if (*q == '@')
			host = q + 1; /* userinfo is not part of what is matched */
	host_end = auth_end;
	if (host < auth_end && *host == '[') {
		const char *rb = memchr(host, ']', (size_t)(auth_end - host));
		if (!rb || rb == host + 1)
			return MC_ERR_INVALID;
		for (const char *q = host + 1; q < rb; q++)
			if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
			      (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
				return MC_ERR_INVALID;
		if (copy_part(out->host, sizeof(out->host), host + 1, (size_t)(rb - host - 1), 1))
			return MC_ERR_INVALID;
		host_end = rb + 1;
		if (host_end < auth_end && *host_end != ':')
			return MC_ERR_INVALID;
	} else {
		for (const char *q = host; q < auth_end; q++)
			if (*q == ':') {
				host_end = q;
				break;
			}
		for (const char *q = host; q < host_end; q++)
			if (!host_char(*q))
				return MC_ERR_INVALID;
		n = (size_t)(host_end - host);
		while (n && host[n - 1] == '.')
			n--; /* "a.com." is "a.com" */
		if (n == 0 || host[0] == '.' || copy_part(out->host, sizeof(out->host), host, n, 1))
			return MC_ERR_INVALID;
	}
	if (host_end < auth_end) { /* ":port" */
		long v = 0;
		const char *q = host_end + 1;
		if (q == auth_end || auth_end - q > 5)
			return MC_ERR_INVALID;
		for (; q < auth_end; q++) {
			if (*q < '0' || *q > '9')
				return MC_ERR_INVALID;
			v = v * 10 + (*q - '0');
		}
		if (v < 1 || v > 65535)
			return MC_ERR_INVALID;
		out->port = (int)v;
	}
	p = auth_end;
	{
		const char *hash = memchr(p, '#', (size_t)(end - p));
		const char *qm;
		if (hash)
			end = hash; /* the fragment never reaches the server */
		qm = memchr(p, '?', (size_t)(end - p));
		if (copy_part(out->path, sizeof(out->path), p, (size_t)((qm ? qm : end) - p), 0))
			return MC_ERR_INVALID;
		if (qm &&
		    copy_part(out->query, sizeof(out->query), qm + 1, (size_t)(end - qm - 1), 0))
			return MC_ERR_INVALID;
	}
	return 0;
}

static int default_port(const char *scheme)
{
	return strcmp(scheme, "https") == 0 ? 443 : strcmp(scheme, "http") == 0 ? 80 : -1;
}

static int port_of(const char *scheme, int port)
{
	return port == -1 ? default_port(scheme) : port;
}

static int same_path(const char *a, const char *b)
{
	if (!*a)
		a = "/";
	if (!*b)
		b = "/";
	return strcmp(a, b) == 0;
}

/* An explicit entry (scheme, host, port, path, query) against u. */
static int explicit_match(const char *scheme, const char *host, int port, const char *path,
                          const char *query, const struct url_parts *u)
{
	if (strcmp(host, u->host) != 0)
		return 0;
	if (*scheme && *u->scheme && strcmp(scheme, u->scheme) != 0)
		return 0;
	if (port != u->port &&
	    port_of(*scheme ? scheme : u->scheme, port) != port_of(u->scheme, u->port))
		return 0;
	if (!same_path(path, u->path))
		return 0;
	return !*query || strcmp(query, u->query) == 0;
}

static int domain_match(const char *domain, const char *host)
{
	size_t d = strlen(domain), h = strlen(host);

	if (h == d)
		return strcmp(domain, host) == 0;
	return h > d && host[h - d - 1] == '.' && strcmp(host + h - d, domain) == 0;
}

int urlcheck_managed(const struct managed_url *list, int n, const struct url_parts *u)
{
	int best = -1;
	long best_rank = -1;

	for (int i = 0; i < n; i++) {
		const struct managed_url *m = &list[i];
		long rank;
		if (m->match_type == MURL_EXPLICIT) {
			if (!explicit_match(m->scheme, m->domain, m->port, m->path, m->query, u))
				continue;
			rank = 1L << 20;
		} else {
			if (!domain_match(m->domain, u->host))
				continue;
			rank = (long)strlen(m->domain) << 1;
		}
		rank += m->action == MURL_BLOCK; /* at equal rank block wins */
		if (rank > best_rank) {
			best_rank = rank;
			best = i;
		}
	}
	return best;
}

/* ---- the malicious-URL list ---- */

struct urllist {
	char **domains; /* sorted */
	size_t ndomains;
	struct url_parts *urls; /* sorted by host */
	size_t nurls;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_url(const void *a, const void *b)
{
	return strcmp(((const struct url_parts *)a)->host, ((const struct url_parts *)b)->host);
}

void urllist_free(struct urllist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->ndomains; i++)
		free(l->domains[i]);
	free(l->domains);
	free(l->urls);
	free(l);
}

static int grow(void **v, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 64;
	void *g = realloc(*v, c * elem);
	if (!g)
		return MC_ERR_NOMEM;
	*v = g;
	*cap = c;
	return 0;
}

int urllist_load(const char *path, struct urllist **out, struct err *e)
{
	struct urllist *l = calloc(1, sizeof(*l));
	size_t dcap = 0, ucap = 0, cap = 0;
	char *line = NULL;
	ssize_t got;
	int rc = 0, lineno = 0;
	FILE *f = NULL;

	*out = NULL;
	if (!l)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	if (!path || !*path) {
		*out = l;
		return 0;
	}
	if (!(f = fopen(path, "re"))) {
		free(l);
		return err_set(e, MC_ERR_IO, "malicious_urls %s: %s", path, strerror(errno));
	}
	while (!rc && (got = getline(&line, &cap, f)) >= 0) {
		char *s = line;
		size_t n = (size_t)got;
		struct url_parts u;
		lineno++;
		while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
		             s[n - 1] == '\t'))
			s[--n] = '\0';
		while (*s == ' ' || *s == '\t')
			s++, n--;
		if (!*s || *s == '#')
			continue;
		if (url_parse(s, n, 0, &u) != 0) {
			rc = err_set(e, MC_ERR_INVALID, "malicious_urls %s:%d: not a URL or domain",
			             path, lineno);
			break;
		}
		if (strstr(s, "://") || strchr(s, '/')) {
			if ((rc = grow((void **)&l->urls, l->nurls, &ucap, sizeof(*l->urls))) == 0)
				l->urls[l->nurls++] = u;
		} else if ((rc = grow((void **)&l->domains, l->ndomains, &dcap,
		                      sizeof(*l->domains))) == 0) {
			if ((l->domains[l->ndomains] = strdup(u.host)) != NULL)
				l->ndomains++;
			else
				rc = MC_ERR_NOMEM;
		}
		if (rc == MC_ERR_NOMEM)
			err_set(e, rc, "out of memory");
	}
	free(line);
	fclose(f);
	if (rc) {
		urllist_free(l);
		return rc;
	}
	qsort(l->domains, l->ndomains, sizeof(*l->domains), cmp_str);
	qsort(l->urls, l->nurls, sizeof(*l->urls), cmp_url);
	*out = l;
	return 0;
}

int urllist_match(const struct urllist *l, const struct url_parts *u)
{
	const char *h;
	size_t lo, hi;

	if (!l)
		return 0;
	/* the host and each parent domain of it */
	for (h = u->host; h; h = strchr(h, '.') ? strchr(h, '.') + 1 : NULL)
		if (l->ndomains &&
		    bsearch(&h, l->domains, l->ndomains, sizeof(*l->domains), cmp_str))
			return 1;
	/* the URL entries of this host: the first of them by binary search, then in turn */
	lo = 0;
	hi = l->nurls;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(l->urls[mid].host, u->host) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < l->nurls && strcmp(l->urls[lo].host, u->host) == 0; lo++) {
		const struct url_parts *m = &l->urls[lo];
		if (explicit_match(m->scheme, m->host, m->port, m->path, m->query, u))
			return 1;
	}
	return 0;
}
