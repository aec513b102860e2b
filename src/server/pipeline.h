/* The request pipeline, in one place:
 *   parse body → authenticate → rate limit → permission → request id used → handler
 * (framing checks run before in the front; the envelope and the access log after). */
#ifndef MCAPI_SERVER_PIPELINE_H
#define MCAPI_SERVER_PIPELINE_H

#include "server/response.h"
#include "server/request.h"

#include <stddef.h>

/* Runs req (route set, raw body given) and fills res. Returns 0, or MC_ERR_ASYNC when the
 * handler continues later (see request.h). */
int pipeline_run(struct request *req, const char *body, size_t body_len, struct response *res);

/* Completes every /api answer just before it is sent, whoever produced it (the pipeline, a
 * handler, or the front refusing a request early): the X-RateLimit-* headers (§7) of the
 * user's bucket when the signature named the user, else of the client IP's, Retry-After on
 * 429, and a request id freed again when the call failed with 500/503 (§2.2). */
void pipeline_finish(struct request *req, struct response *res);

/* Normalises a raw body into req->body/meta/data (API.md §4). Returns API_OK or
 * API_MALFORMED_BODY with a message in msg. Exposed for tests and fuzzing. */
enum api_error pipeline_parse_body(struct request *req, const char *body, size_t len, char *msg,
                                   size_t msg_size);

#endif
