/* Pagination of API.md §8 on the client side: the first request as given, then the same
 * request with meta.pagination.pageToken set to the previous page's meta.pagination.next,
 * until a page has no next (or fails, or the page bound is reached). Each page goes to the
 * caller's callback; the request may be strict JSON or a Python literal (§4). */
#include "client_int.h"
#include "common/pyjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define PAGINATE_DEFAULT_MAX 10000u
#define PAGINATE_REQUEST_MAX (8u << 20)

/* Sets obj[key] to an object (reusing one that is there) and returns it (borrowed), or NULL. */
static json_t *object_child(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_object(v))
		return v;
	v = json_object();
	if (!v || json_object_set_new(obj, key, v) != 0)
		return NULL;
	return v;
}

MCAPI_EXPORT int mcapi_paginate(struct mcapi_client *c, const char *path, const char *request_json,
                                unsigned max_pages, mcapi_page_fn fn, void *arg)
{
	struct buf norm;
	struct err e;
	json_t *req = NULL, *pag;
	struct mcapi_response *r = NULL;
	char *body = NULL, *token = NULL;
	unsigned pages = 0;
	int rc;

	if (!c || !fn)
		return MCAPI_E_INVALID;
	buf_init(&norm, PAGINATE_REQUEST_MAX);
	if (!max_pages)
		max_pages = PAGINATE_DEFAULT_MAX;
	if (!request_json)
		request_json = "{\"data\":[]}";
	err_clear(&e);
	if (pyjson_normalise(request_json, strlen(request_json), PYJSON_MAX_DEPTH, &norm, &e) !=
	    0) {
		snprintf(c->last_error, sizeof(c->last_error), "the request is not JSON: %s",
		         e.msg);
		rc = MCAPI_E_INVALID;
		goto out;
	}
	req = norm.len ? json_loadb(norm.data, norm.len, 0, NULL) : json_pack("{s:[]}", "data");
	if (!json_is_object(req)) {
		snprintf(c->last_error, sizeof(c->last_error), "the request must be a JSON object");
		rc = MCAPI_E_INVALID;
		goto out;
	}
	for (;;) {
		if (pages == max_pages) {
			snprintf(c->last_error, sizeof(c->last_error), "stopped after %u pages",
			         pages);
			rc = MCAPI_E_LIMIT;
			goto out;
		}
		if (token) {
			pag = object_child(object_child(req, "meta"), "pagination");
			if (!pag ||
			    json_object_set_new(pag, "pageToken", json_string(token)) != 0) {
				rc = MCAPI_E_NOMEM;
				goto out;
			}
		}
		free(body);
		body = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!body) {
			rc = MCAPI_E_NOMEM;
			goto out;
		}
		mcapi_response_free(r);
		r = NULL;
		rc = mcapi_call(c, path, body, &r);
		if (rc)
			goto out;
		pages++;
		if (fn(r, arg) != 0) {
			snprintf(c->last_error, sizeof(c->last_error), "stopped by the callback");
			rc = MCAPI_E_STOPPED;
			goto out;
		}
		if (r->status != 200 || mcapi_response_fail_count(r) > 0 || !r->next)
			break;
		free(token);
		token = strdup(r->next);
		if (!token) {
			rc = MCAPI_E_NOMEM;
			goto out;
		}
	}
	rc = 0;
out:
	if (rc == MCAPI_E_NOMEM)
		snprintf(c->last_error, sizeof(c->last_error), "out of memory");
	mcapi_response_free(r);
	json_decref(req);
	free(body);
	free(token);
	buf_release(&norm);
	return rc;
}
