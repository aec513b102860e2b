/* Page sizes and sealed keyset page tokens; see paginate.h. A token seals (common/seal.h)
 * compact JSON with its keys in a fixed order. */
#include "paginate.h"

#include "common/err.h"
#include "common/json.h"
#include "common/seal.h"
#include "server/server.h"

#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define TOKEN_VERSION 1

char *page_token_make(const unsigned char key[32], const char *endpoint, int64_t account,
                      json_t *filters, json_t *cursor)
{
	json_t *obj = json_pack("{s:i, s:s, s:I, s:O, s:O}", "v", TOKEN_VERSION, "e", endpoint, "a",
	                        (json_int_t)account, "f", filters ? filters : json_null(), "c",
	                        cursor ? cursor : json_null());
	char *token = obj ? seal_json(key, obj, PAGE_TOKEN_MAX) : NULL;

	json_decref(obj);
	return token;
}

int page_token_open(const unsigned char key[32], const char *endpoint, int64_t account,
                    const char *token, size_t len, json_t **filters, json_t **cursor)
{
	json_t *obj = NULL, *v, *f, *c;
	int rc;

	*filters = *cursor = NULL;
	rc = seal_open_json(key, token, len, PAGE_TOKEN_MAX, &obj);
	if (rc)
		return rc;
	rc = MC_ERR_INVALID;
	if (!json_is_object(obj))
		goto out;
	v = json_object_get(obj, "v");
	if (!json_is_integer(v) || json_integer_value(v) != TOKEN_VERSION)
		goto out;
	v = json_object_get(obj, "e");
	if (!json_is_string(v) || strcmp(json_string_value(v), endpoint) != 0)
		goto out;
	v = json_object_get(obj, "a");
	if (!json_is_integer(v) || json_integer_value(v) != account)
		goto out;
	f = json_object_get(obj, "f");
	c = json_object_get(obj, "c");
	if (!json_is_array(f) || !c)
		goto out;
	*filters = json_incref(f);
	*cursor = json_is_null(c) ? NULL : json_incref(c);
	rc = 0;
out:
	json_decref(obj);
	return rc;
}

/* A list answer carries meta.pagination even when it fails (API.md §8: real collectors
 * read it unconditionally): an empty page, with no next. */
static int set_empty_page(struct response *res)
{
	json_t *p = json_pack("{s:i}", "pageSize", 0);

	if (!p)
		return MC_ERR_NOMEM;
	json_decref(res->pagination);
	res->pagination = p;
	return 0;
}

static int bad(struct response *res, json_t *key, const char *field, const char *message)
{
	response_fail_item(res, key, "err_validation_invalid_value", message, field, 0);
	return set_empty_page(res) ? MC_ERR_NOMEM : 1;
}

/* A page size as clients send it (API.md §8): a JSON integer, a number with an integral
 * value (100.0), or a string of decimal digits with an optional sign and surrounding
 * spaces ("100"); values beyond the range clamp. "" counts as absent. 1 and *size, 0 when
 * absent, -1 for anything else. */
static int page_size_read(json_t *v, int64_t *size)
{
	const char *s, *end;
	int64_t n = 0;
	int neg = 0;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*size = json_integer_value(v);
		return 1;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d >= 1e6 || d <= -1e6) { /* clamps either way */
			*size = d > 0 ? 1000000 : -1000000;
			return 1;
		}
		if (d != (double)(int64_t)d)
			return -1;
		*size = (int64_t)d;
		return 1;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	end = s + json_string_length(v);
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (s == end)
		return 0;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (n < 1000000) /* saturate: anything this large clamps to the maximum */
			n = n * 10 + (*s - '0');
	}
	*size = neg ? -n : n;
	return 1;
}

int page_begin(struct request *req, struct response *res, struct page *pg)
{
	json_t *pag = req->meta ? json_object_get(req->meta, "pagination") : NULL;
	json_t *tok, *filters = NULL, *cursor = NULL;
	int64_t size = PAGE_SIZE_DEFAULT;
	int got, rc;

	memset(pg, 0, sizeof(*pg));
	if (pag && !json_is_object(pag))
		return bad(res, pag, "pagination", "'pagination' must be an object");
	if (pag) {
		got = page_size_read(json_object_get(pag, "pageSize"), &size);
		if (got == 0)
			got = page_size_read(json_object_get(pag, "page_size"), &size);
		if (got < 0)
			return bad(res, pag, "pageSize",
			           "'pageSize' must be a whole number, like 100 or \"100\"");
		if (got > 0)
			size = size < PAGE_SIZE_MIN   ? PAGE_SIZE_MIN
			       : size > PAGE_SIZE_MAX ? PAGE_SIZE_MAX
			                              : size;
	}
	pg->size = (int)size;
	tok = pag ? json_object_get(pag, "pageToken") : NULL;
	if (tok && !json_is_string(tok))
		return bad(res, pag, "pageToken", "'pageToken' must be a string");
	if (tok && json_string_length(tok) > 0) {
		rc = page_token_open(req->srv->page_key, req->path, req->who.account.id,
		                     json_string_value(tok), json_string_length(tok), &filters,
		                     &cursor);
		if (rc == MC_ERR_NOMEM)
			return rc;
		if (rc)
			return bad(res, pag, "pageToken",
			           "the page token is not valid for this call; start again "
			           "without it");
		pg->after = cursor;
	}
	if (filters && json_array_size(req->data) == 0) {
		pg->filters = filters;
	} else {
		json_decref(filters);
		pg->filters = req->data ? json_incref(req->data) : json_array();
	}
	return pg->filters ? 0 : MC_ERR_NOMEM;
}

int page_finish(struct request *req, struct response *res, struct page *pg, size_t returned,
                json_t *next_cursor, int64_t total)
{
	json_t *p = json_object();
	char *token = NULL;

	if (!p)
		return MC_ERR_NOMEM;
	json_object_set_new(p, "pageSize", json_integer((json_int_t)returned));
	if (total >= 0)
		json_object_set_new(p, "totalCount", json_integer((json_int_t)total));
	if (next_cursor) {
		token = page_token_make(req->srv->page_key, req->path, req->who.account.id,
		                        pg->filters, next_cursor);
		if (!token) {
			json_decref(p);
			return MC_ERR_CRYPTO;
		}
		json_object_set_new(p, "next", json_string(token));
		free(token);
	}
	json_decref(res->pagination);
	res->pagination = p;
	return 0;
}

void page_release(struct page *pg)
{
	json_decref(pg->filters);
	json_decref(pg->after);
	memset(pg, 0, sizeof(*pg));
}
