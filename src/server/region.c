/* The region table; see region.h. Parsing is a bounded cursor over the config string: no
 * allocation, no tokeniser state. */
#include "region.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

static const char *const mimecast_regions[] = {"eu", "de", "us", "usb", "ca",
                                               "za", "au", "je", "api"};

int region_is_mimecast(const char *code)
{
	for (size_t i = 0; i < sizeof(mimecast_regions) / sizeof(mimecast_regions[0]); i++)
		if (strcasecmp(code, mimecast_regions[i]) == 0)
			return 1;
	return 0;
}

int region_is_mimecast_host(const char *host)
{
	static const char suffix[] = "-api.mimecast.com";
	size_t n = strlen(host), sl = sizeof(suffix) - 1;
	char code[8];

	if (n && host[n - 1] == '.')
		n--;
	if (n == 16 && strncasecmp(host, "api.mimecast.com", 16) == 0)
		return 1;
	if (n <= sl || n - sl >= sizeof(code) || strncasecmp(host + n - sl, suffix, sl) != 0)
		return 0;
	memcpy(code, host, n - sl);
	code[n - sl] = '\0';
	return strcasecmp(code, "api") != 0 && region_is_mimecast(code);
}

int region_mimecast_url(const char *code, char *dst, size_t size)
{
	int n;

	if (!region_is_mimecast(code))
		return MC_ERR_INVALID;
	if (strcasecmp(code, "api") == 0)
		n = snprintf(dst, size, "https://api.mimecast.com");
	else
		n = snprintf(dst, size, "https://%s-api.mimecast.com", code);
	for (char *p = dst; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return n > 0 && (size_t)n < size ? 0 : MC_ERR_TOO_LARGE;
}

/* Copies a well-formed code of s[0..n) lower-cased into dst; MC_ERR_INVALID otherwise. */
static int take_code(const char *s, size_t n, char dst[REGION_CODE_MAX])
{
	if (n == 0 || n >= REGION_CODE_MAX)
		return MC_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return MC_ERR_INVALID;
		dst[i] = c;
	}
	dst[n] = '\0';
	return 0;
}

static int take_url(const char *s, size_t n, char dst[REGION_URL_MAX])
{
	while (n && s[n - 1] == '/')
		n--;
	if (n >= REGION_URL_MAX)
		return MC_ERR_INVALID;
	if (!((n > 7 && strncasecmp(s, "http://", 7) == 0) ||
	      (n > 8 && strncasecmp(s, "https://", 8) == 0)))
		return MC_ERR_INVALID;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == ',' || (unsigned char)s[i] >= 0x7f)
			return MC_ERR_INVALID;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int find(const struct region_table *t, const char *code)
{
	for (int i = 0; i < t->n; i++)
		if (strcasecmp(t->r[i].code, code) == 0)
			return i;
	return -1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int region_table_parse(struct region_table *t, const char *spec, const char *self_code,
                       const char *self_url, struct err *e)
{
	const char *p = spec ? spec : "";
	char code[REGION_CODE_MAX];

	memset(t, 0, sizeof(*t));
	t->self = -1;
	while (*p) {
		const char *end = strchr(p, ','), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *a = p, *b = p + n;

		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		p = end ? end + 1 : p + n;
		if (a == b)
			continue; /* "eu=x,,us=y" or a trailing comma */
		eq = memchr(a, '=', (size_t)(b - a));
		const char *ce = eq, *us = eq ? eq + 1 : b;
		while (ce && ce > a && is_space(ce[-1]))
			ce--;
		while (us < b && is_space(*us))
			us++;
		if (!eq || t->n >= REGION_TABLE_MAX ||
		    take_code(a, (size_t)(ce - a), t->r[t->n].code) != 0 ||
		    take_url(us, (size_t)(b - us), t->r[t->n].url) != 0)
			return err_set(e, MC_ERR_INVALID,
			               "regions: '%.*s' is not code=http(s)://host[:port]%s",
			               (int)(b - a), a,
			               t->n >= REGION_TABLE_MAX ? " (too many regions)" : "");
		if (find(t, t->r[t->n].code) >= 0)
			return err_set(e, MC_ERR_INVALID, "regions: region '%s' is given twice",
			               t->r[t->n].code);
		t->n++;
	}
	if (take_code(self_code, strlen(self_code), code) != 0)
		return err_set(e, MC_ERR_INVALID,
		               "region '%s' is not a region code ([a-z0-9-], 1-15)", self_code);
	t->self = find(t, code);
	if (t->self >= 0)
		return 0;
	if (t->n >= REGION_TABLE_MAX)
		return err_set(e, MC_ERR_INVALID, "regions: too many regions");
	memcpy(t->r[t->n].code, code, sizeof(code));
	if (take_url(self_url, strlen(self_url), t->r[t->n].url) != 0)
		return err_set(e, MC_ERR_INVALID, "public_base_url '%s' is not an http(s) URL",
		               self_url);
	t->self = t->n++;
	return 0;
}

const char *region_url(const struct region_table *t, const char *code, int *known)
{
	int i = code ? find(t, code) : -1;

	if (known)
		*known = i >= 0;
	if (i < 0 && t->self < 0)
		return "";
	return t->r[i >= 0 ? i : t->self].url;
}

const char *region_code(const struct region_table *t, const char *code)
{
	int i = code ? find(t, code) : -1;

	if (i < 0 && t->self < 0)
		return "";
	return t->r[i >= 0 ? i : t->self].code;
}
