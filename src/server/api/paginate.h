/* Pagination of list endpoints (API.md §8): the page size a request asks for and the keyset
 * cursor it continues from. Page tokens are opaque to clients: an XSalsa20-Poly1305 box
 * (libsodium crypto_secretbox, key srv->page_key, random nonce) over a small JSON object
 * {v, e: endpoint, a: account, f: filters, c: cursor}, base64url-encoded. The box makes a
 * token tamper-evident and hides what it carries (row keys, filters); binding it to the
 * endpoint and the account makes a token of another endpoint or account worthless. */
#ifndef MCAPI_SERVER_API_PAGINATE_H
#define MCAPI_SERVER_API_PAGINATE_H

#include "server/response.h"
#include "server/request.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE_DEFAULT 1000 /* no pageSize given */
#define PAGE_SIZE_MIN     1
#define PAGE_SIZE_MAX     500
#define PAGE_TOKEN_MAX    65536 /* characters of a token accepted; longer ones are invalid */

struct page {
	int size;        /* records to return: pageSize clamped to 1..500; 1000 when absent (§8) */
	json_t *filters; /* the request's data array, or the first page's when continuing (owned) */
	json_t *after;   /* keyset cursor: the last record of the previous page, or NULL (owned) */
};

/* Reads req->meta.pagination {pageSize | page_size, pageToken}. The size may be a JSON
 * integer, a number with an integral value, or a string of digits ("100"); "" and null are
 * absent (the pipeline strips nulls). A token is opened with req->srv->page_key and must have
 * been made for this endpoint (req->path) and this account; a request that has a pageToken
 * but an empty data array continues with the token's filters.
 * Returns 0, or 1 after adding a fail entry err_validation_invalid_value with field
 * "pageToken" (forged, foreign, or corrupt token) or "pageSize" (not a whole number) to res
 * and setting res->pagination to an empty page ({pageSize: 0}: list answers always carry
 * one, §8) — the handler then returns 0. pg is always safe to page_release afterwards.
 * Returns MC_ERR_NOMEM when memory runs out. */
int page_begin(struct request *req, struct response *res, struct page *pg);

/* Sets res->pagination {pageSize: returned, next: token (only when next_cursor is not NULL),
 * totalCount (when total >= 0)}. next_cursor (borrowed) identifies the last record returned.
 * Returns 0 or MC_ERR_NOMEM / MC_ERR_CRYPTO. */
int page_finish(struct request *req, struct response *res, struct page *pg, size_t returned,
                json_t *next_cursor, int64_t total);

/* Frees what pg holds; pg is zeroed. */
void page_release(struct page *pg);

/* The token codec on its own (also used by the unit tests). page_token_make returns a
 * malloc'd NUL-terminated token or NULL. page_token_open returns 0 and the filters and
 * cursor (new references; *cursor may be NULL) or MC_ERR_INVALID for any token that was
 * not made by page_token_make with the same key, endpoint and account. */
char *page_token_make(const unsigned char key[32], const char *endpoint, int64_t account,
                      json_t *filters, json_t *cursor);
int page_token_open(const unsigned char key[32], const char *endpoint, int64_t account,
                    const char *token, size_t len, json_t **filters, json_t **cursor);

#endif
