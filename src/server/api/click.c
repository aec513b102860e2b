/* The TTP URL protection click endpoint's pages and /api/ttp/url/decode-url (API.md
 * §16.3). A rewritten link in a delivered message leads to GET /s/{token}; the front
 * (http/front.c) opens the token and hands the click to the logger (ttp/clicks.h), which
 * decides it and commits its event; the answer made here is then sent:
 *  - allowed: 302 to the original URL (Cache-Control: no-store, Referrer-Policy:
 *    no-referrer, so the token does not leak to the site);
 *  - blocked (a managed block entry, or the malicious-URL list): 403 and a small HTML page
 *    naming the URL (escaped) and why, with no link to follow;
 *  - a token this server did not make (tampered, truncated, foreign): 404 and a page
 *    saying the link is not valid; nothing is logged;
 *  - the click could not be logged (store down, queue full): 503, try again; the user is
 *    not sent on unlogged and unchecked. */
#include "api.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "server/server.h"
#include "server/ttp/clicks.h"
#include "server/ttp/urlcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define DECODE_ITEMS_MAX 50 /* items of a decode-url call */

#define PAGE_HEAD                                                                                  \
	"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"                          \
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"                 \
	"<meta name=\"robots\" content=\"noindex\"><title>%s</title><style>body{font-family:"      \
	"system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}"            \
	"h1{font-size:1.4em}code{word-break:break-all;background:#f4f4f4;padding:.1em .3em}"       \
	"</style></head><body>"

static const char invalid_page[] =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Link not "
        "valid</title></head><body><h1>This link is not valid</h1><p>It was not issued by "
        "this service, or it was changed on the way. Nothing was opened.</p></body></html>";

static const char busy_page[] =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Try again"
        "</title></head><body><h1>This link cannot be checked right now</h1><p>Please try "
        "again in a moment.</p></body></html>";

const char *api_click_invalid_page(void)
{
	return invalid_page;
}

const char *api_click_busy_page(void)
{
	return busy_page;
}

int api_click_answer(const struct click *c, int *status, char **body, const char **location)
{
	struct buf b;
	int rc;

	*location = NULL;
	*body = NULL;
	if (c->item.rc) {
		*status = 503;
		return (*body = strdup(busy_page)) ? 0 : MC_ERR_NOMEM;
	}
	if (c->action == CLICK_ALLOW) {
		*status = 302;
		*location = c->t.url;
		return (*body = strdup("")) ? 0 : MC_ERR_NOMEM;
	}
	*status = 503;
	buf_init(&b, 65536);
	rc = buf_addf(&b, PAGE_HEAD, "Link blocked");
	if (!rc)
		rc = buf_addf(&b, "<h1>This link has been blocked</h1><p>The page at <code>");
	if (!rc)
		rc = buf_add_html(&b, c->t.url, strlen(c->t.url));
	if (!rc)
		rc = buf_addf(&b,
		              "</code> %s</p><p>If you think this is a mistake, contact your "
		              "administrator.</p></body></html>",
		              !strcmp(c->reason, "malicious")
		                      ? "is known to be malicious (phishing, malware or fraud)."
		                      : "is blocked by your organisation's URL policy.");
	if (!rc) { /* b.data is NUL-terminated */
		*body = b.data;
		*status = 403;
		return 0;
	}
	buf_release(&b);
	return MC_ERR_NOMEM;
}

/* ---- decode-url ---- */

int api_ttp_decode_url(struct request *req, struct response *res)
{
	size_t n = json_array_size(req->data);

	if (n == 0) {
		response_fail_item(res, NULL, "err_validation_null", "'data' needs one item",
		                   "data", 0);
		return 0;
	}
	/* Capped like every per-item call: a large body of empty items once came back 40 times
	 * larger, one fail entry per item. */
	if (n > DECODE_ITEMS_MAX) {
		char msg[96];
		snprintf(msg, sizeof(msg), "at most %d items per call, %zu given; nothing was done",
		         DECODE_ITEMS_MAX, n);
		response_fail_item(res, NULL, "err_validation_too_many_items", msg, NULL, 0);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(req->data, i), *o;
		struct url_parts u;
		struct click_token *t;
		const char *url = NULL;
		int ok = 0;

		if (json_get_string(item, "url", &url) != 1 || !*url) {
			response_fail_item(res, item, "err_validation_blank",
			                   "This field is required", "url", 0);
			continue;
		}
		if (!(t = malloc(sizeof(*t))))
			return MC_ERR_NOMEM;
		/* any host: the seal, not the host name, says the link is ours (nodes may
		 * answer under different names) */
		if (url_parse(url, strlen(url), 1, &u) == 0 && u.query[0] == '\0') {
			char path[MURL_PATH_SIZE];
			snprintf(path, sizeof(path), "%s", u.path);
			ok = click_path_open(req->srv->url_key, path, t) == 0;
		}
		o = json_pack("{s:s, s:b}", "url", ok ? t->url : url, "success", ok);
		free(t);
		if (!o)
			return MC_ERR_NOMEM;
		response_add_data(res, o);
	}
	return 0;
}
