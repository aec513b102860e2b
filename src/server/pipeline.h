/* The request pipeline, in one place, in two stages:
 *   headers: authenticate → rate limit → permission
 *   body:    parse body → request id used → handler
 * The front runs the header stage as soon as the header block is in, before it reads (or
 * buffers) a byte of the body: the signature covers the date, request id, path and app key,
 * never the body, so a caller without valid credentials is refused without its body being
 * read (and the connection closed). Framing checks run before in the front; the envelope and
 * the access log after. */
#ifndef MCAPI_SERVER_PIPELINE_H
#define MCAPI_SERVER_PIPELINE_H

#include "server/response.h"
#include "server/request.h"

#include <stddef.h>

/* The header stage of req (route set; headers readable through request_header): 1 when the
 * call goes on to its body, 0 when res holds the refusal (developer key, credentials,
 * signature, binding, replay, per-IP failure limit, rate limit, permission). Nothing is
 * recorded as executed here: the request id stays free. */
int pipeline_headers(struct request *req, struct response *res);

/* The body stage, after pipeline_headers returned 1: parses the raw body, records the
 * request id as used and runs the handler, filling res. Returns 0, or MC_ERR_ASYNC when the
 * handler continues later (see request.h). */
int pipeline_body(struct request *req, const char *body, size_t body_len, struct response *res);

/* Both stages in a row (for tests and callers that have the whole request at once). */
int pipeline_run(struct request *req, const char *body, size_t body_len, struct response *res);

/* Completes every /api answer just before it is sent, whoever produced it (the pipeline, a
 * handler, or the front refusing a request early): the X-RateLimit-* headers (§7) of the
 * user's bucket when the signature named the user, else of the client IP's, Retry-After on
 * 429, and a request id freed again when the call failed with 500/503 (§2.2). */
void pipeline_finish(struct request *req, struct response *res);

/* Normalises a raw body into req->body/meta/data (API.md §4). Returns API_OK or
 * API_MALFORMED_BODY with a message in msg (API_INTERNAL when out of memory). Exposed for
 * tests and fuzzing. */
enum api_error pipeline_parse_body(struct request *req, const char *body, size_t len, char *msg,
                                   size_t msg_size);

#endif
