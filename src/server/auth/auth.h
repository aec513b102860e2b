/* Request authentication, API.md §2.2, checks in the table's order: application id,
 * credentials present, date within the skew window, signature (access key, binding's
 * application, app key, HMAC), binding expiry, replay (a look only). A date before the
 * process started is refused too (restart safety, see replay.h). Rate limits and
 * permissions come after, in the pipeline, and then auth_claim records the request id.
 * Every refusal is logged with its reason (which check failed), never a secret. Nothing is written
 * here; auth_extend() applies extendOnValidate once the pipeline has let the call through. */
#ifndef MCAPI_SERVER_AUTH_AUTH_H
#define MCAPI_SERVER_AUTH_AUTH_H

#include "server/response.h"
#include "server/request.h"

/* Authenticates a signed call. Returns API_OK and fills req->who (req->authenticated = 1),
 * or the call-level error with a message in msg (size msg_size). */
enum api_error auth_signed(struct request *req, char *msg, size_t msg_size);

/* Records the call's (access key, request id) as executed, just before the function runs
 * (§2.2: a call refused earlier leaves the id free). API_OK, API_REPLAYED when the same
 * request got here first on another thread, API_RATE_LIMITED when the user holds its whole
 * share of the replay cache (replay_per_user; a message in msg, *retry_after_s set), or
 * API_UNAVAILABLE (the cache is full, or the journal could not be written). */
enum api_error auth_claim(struct request *req, char *msg, size_t msg_size, int *retry_after_s);

/* The rate limit and the claim together, as the pipeline needs them: takes a call from the
 * user's bucket (v filled, v->limit 0 when the bucket was not looked at) and, if one was
 * left and run is set (the permission check passed), claims the id as auth_claim does.
 * API_OK, API_RATE_LIMITED, API_REPLAYED, or auth_claim's errors. On a shared store
 * (store_shared.h) this is one round trip that also makes the replay check across nodes. */
struct rl_verdict;
enum api_error auth_take(struct request *req, int run, int64_t now, struct rl_verdict *v, char *msg,
                         size_t msg_size, int *retry_after_s);

/* auth_take on a shared store whose gates run on the store's own threads
 * (store_shared_gate_async), without holding the caller: fills job->call and submits it;
 * the caller has set job->done and job->arg. 1 when submitted (done will be called), 0 when
 * it was not (the store is closing): then call auth_take. */
int auth_take_submit(struct request *req, int run, struct store_gate_job *job);

/* After job's done: auth_take's result and verdict from the gate's answer. */
enum api_error auth_take_result(struct request *req, struct store_gate_job *job,
                                struct rl_verdict *v, char *msg, size_t msg_size);

/* Frees the id again: the function failed without doing anything (500/503). */
void auth_unclaim(struct request *req);

/* extendOnValidate (§6.3): moves the binding's expiry to now + TTL once the call has passed
 * every check (rate limit and permission included), so a refused call changes nothing. */
void auth_extend(struct request *req);

/* Checks x-mc-app-id only (login, discovery); fills req->who.app and req->who.account. */
enum api_error auth_app(struct request *req, char *msg, size_t msg_size);

#endif
