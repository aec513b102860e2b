/* Regions and their public base URLs (API.md §10). Mimecast's API hosts are regional; one
 * mcapid serves one region (config `region`, `public_base_url`) and answers discovery
 * with the base URL of the account's region from a table in the configuration
 * (`regions = code=url,code=url`). The server's own region is always in the table, with
 * public_base_url, unless the table names it explicitly. A region code missing from the
 * table resolves to this server: never to Mimecast's own hosts, which would send a
 * user's credentials to a third party. The table is a value: parse it once, read it from
 * any thread. */
#ifndef MCAPI_SERVER_REGION_H
#define MCAPI_SERVER_REGION_H

#include <stddef.h>

struct err;

#define REGION_CODE_MAX  16 /* bytes, including the NUL */
#define REGION_URL_MAX   256
#define REGION_TABLE_MAX 32

struct region_table {
	int n;
	int self; /* index of this server's region */
	struct {
		char code[REGION_CODE_MAX];
		char url[REGION_URL_MAX];
	} r[REGION_TABLE_MAX];
};

/* Builds t from spec ("code=url,..."; spaces around items ignored; "" = none) and this
 * server's region code and base URL. Codes are lower-cased; they must be 1-15 of
 * [a-z0-9-], URLs must start with http:// or https:// and are stored without a trailing
 * '/'. A code given twice, too many entries, or a malformed item → MC_ERR_INVALID with the
 * item named in e. */
int region_table_parse(struct region_table *t, const char *spec, const char *self_code,
                       const char *self_url, struct err *e);

/* The base URL for region code (case-insensitive); this server's URL if the code is not
 * in the table (*known = 0 then, if known is not NULL). Never NULL. */
const char *region_url(const struct region_table *t, const char *code, int *known);

/* The canonical code of t's entry for code (the table's spelling), or this server's. */
const char *region_code(const struct region_table *t, const char *code);

/* 1 if code (case-insensitive) is one of Mimecast's public region codes of §10: eu, de,
 * us, usb, ca, za, au, je (and "api", the global discovery host). */
int region_is_mimecast(const char *code);

/* 1 if host (case-insensitive, one trailing dot allowed) is one of Mimecast's API host
 * names: api.mimecast.com or <code>-api.mimecast.com for a code of region_is_mimecast. */
int region_is_mimecast_host(const char *host);

/* Mimecast's public base URL of a region code ("https://eu-api.mimecast.com") into dst;
 * 0, or MC_ERR_INVALID if region_is_mimecast(code) is false. For documentation and
 * tooling, and for discovery calls that reached this server under a Mimecast host name
 * (the development proxy): the client already chose to send them here. */
int region_mimecast_url(const char *code, char *dst, size_t size);

#endif
