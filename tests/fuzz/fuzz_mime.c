/* Fuzz target for the mail content path that faces the network: mime_parse and the walk
 * over its parts, the checks on the result, the URL scanner on the raw bytes (text and
 * HTML), and mime_rewrite_urls with a re-parse of what it writes. GMime does the parsing;
 * the walk, the limits, the scanner and the rewrite are ours. */
#include "common/buf.h"
#include "server/mail/checks.h"
#include "server/mail/mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct span_state {
	size_t n, last_end;
};

static int span_cb(void *arg, size_t start, size_t end, const char *url, size_t len)
{
	struct span_state *s = arg;

	if (start > end || end > s->n || start < s->last_end || strlen(url) != len)
		abort();
	s->last_end = end;
	return 0;
}

static int part_cb(void *arg, const struct mime_part *p)
{
	const struct mime_msg *m = arg;

	if (p->index < 0 || p->index >= m->nparts || p->depth > MIME_MAX_DEPTH ||
	    p->data[p->len] != '\0')
		abort();
	if (p->attachment >= m->natt ||
	    (p->attachment >= 0 && m->attachments[p->attachment].part != p->index))
		abort();
	return 0;
}

static int gw_url(void *arg, const char *url, size_t len, struct buf *out)
{
	(void)arg;
	(void)url;
	(void)len;
	return buf_adds(out, "https://gw.example/s/T");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"Jane Doe"};
	static const char *const domains[] = {"example.com"};
	struct checks_config cfg = {.dangerous_types = "exe,js",
	                            .impersonation_hold = 1,
	                            .test_headers = 1,
	                            .internal_names = names,
	                            .n_internal_names = 1,
	                            .internal_domains = domains,
	                            .n_internal_domains = 1};
	struct mime_msg *m = NULL, *again = NULL;
	struct checks_verdict v;
	struct span_state st;
	char *out = NULL, *json;
	size_t out_len;

	for (int html = 0; html < 2; html++) {
		st.n = size;
		st.last_end = 0;
		mime_url_scan((const char *)data, size, html, span_cb, &st);
	}
	if (mime_parse(data, size, &m, NULL) != 0)
		return 0;
	if (m->nparts > MIME_MAX_PARTS || m->nurls > MIME_MAX_URLS ||
	    m->nto + m->ncc > MIME_MAX_ADDRS)
		abort();
	mime_walk(m, part_cb, m);
	if (checks_run(m, &cfg, &v, NULL) == 0) {
		json = checks_attachments_json(m, &v);
		free(json);
	}
	checks_verdict_release(&v);
	json = mime_urls_json(m);
	free(json);
	if (mime_rewrite_urls(data, size, gw_url, NULL, &out, &out_len, NULL, NULL) == 0) {
		if (mime_parse(out, out_len, &again, NULL) == 0)
			mime_msg_free(again);
		free(out);
	}
	mime_msg_free(m);
	return 0;
}
