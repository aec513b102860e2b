/* The emulator's control plane (docs/emulator.md): what a test suite built on mcapid uses to
 * look at and steer the server, outside the Mimecast paths, under /__mcapi/. It is on with
 * --dev (control = auto) and off otherwise unless configured; every control call carries
 * `Authorization: Bearer <control token>` (an API key never opens it).
 *
 * Four parts, one object:
 *   - the journal: the last journal_max API calls (method, path, status, error code, and
 *     for a refused signature which check failed), never a secret;
 *   - fault rules: by path, account and probability, an API call is answered with a chosen
 *     error (429 with its headers, 418, 500, 503, err_developer_key at HTTP 200, ...) or
 *     delayed; an SMTP command gets a chosen 4xx/5xx reply;
 *   - the start-up state: a snapshot of the store (store_snapshot.h) taken by emu_new,
 *     which POST /__mcapi/reset imports again;
 *   - the control calls themselves (emu_control), JSON in and out, among them GET/PUT
 *     /__mcapi/snapshot.
 * Seed files (emu_seed, seed.c) fill an empty store at first start, before that snapshot.
 * Thread-safe: the front's workers and the SMTP sessions call in concurrently. With no fault
 * rule a call costs one atomic load. */
#ifndef MCAPI_SERVER_EMU_EMU_H
#define MCAPI_SERVER_EMU_EMU_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct server;
struct request;

/* Length of the control token: "mcc_" and 43 base64url characters. */
#define EMU_TOKEN_LEN 47

struct emu;

/* A new control plane for srv (whose store and configuration it uses; the store may open
 * later); token_key is the 32-byte key derived from the server key that the control token
 * encodes (the same server key gives the same token on every start and every node).
 * journal_max: most calls kept (oldest dropped). NULL with e filled on failure. Free with
 * emu_free. */
struct emu *emu_new(struct server *srv, const unsigned char token_key[32], int journal_max,
                    struct err *e);

/* Takes the snapshot of srv->store that POST /__mcapi/reset returns to: call it once
 * start-up has written everything (--dev's account, the seed and its messages), before the
 * server is ready. 0, or a store error with e filled. */
int emu_set_baseline(struct emu *emu, struct err *e);

/* The server is stopping: every delayed call is released now, and later ones at once (so
 * the front can drain). NULL is harmless. */
void emu_quiesce(struct emu *emu);

/* Stops the delay timer (after emu_quiesce's releases) and frees everything. NULL is
 * harmless. */
void emu_free(struct emu *emu);

/* The control token (NUL-terminated, EMU_TOKEN_LEN characters), owned by emu. */
const char *emu_token(const struct emu *emu);

/* ---- the journal ---- */

struct emu_call {
	int64_t at_ms;      /* wall clock when the call arrived */
	int64_t ms;         /* how long it took */
	const char *method; /* each string may be NULL; copied (truncated to fit) */
	const char *path;
	const char *req_id;
	const char *client_ip;
	const char *app_id;
	const char *user;       /* the caller's address once the signature verified */
	const char *error_code; /* e.g. err_xdk_invalid_signature, or NULL */
	const char *auth_check; /* the check that refused the call (auth.c reasons), or NULL */
	const char *fault;      /* the fault rule's id that answered it, or NULL */
	int status;
};

/* Records one finished call. */
void emu_journal_add(struct emu *emu, const struct emu_call *c);

/* ---- faults ---- */

/* What a matching rule does to an API call. */
struct emu_fault_hit {
	char id[16];       /* the rule's id, for the journal */
	int status;        /* 0: no answer forced; else 401, 403, 418, 429, 500, 503 or 200 */
	int developer_key; /* status 200 with err_developer_key */
	int latency_ms;    /* > 0: the call waits this long first (then runs, or gets status) */
	int retry_after_s; /* for 429/503: Retry-After (and X-RateLimit-Reset for 429) */
};

/* Looks for a rule matching an API call to path by account_code ("" before the caller is
 * known). 1 and *hit filled when one applies (its count is used up), 0 otherwise. */
int emu_fault_api(struct emu *emu, const char *path, const char *account_code,
                  struct emu_fault_hit *hit);

/* Looks for an SMTP rule for the command stage ("connect", "helo", "mail", "rcpt", "data")
 * from client_ip. 1 with the reply in code (4xx or 5xx) and text (NUL-terminated, no CR/LF)
 * when one applies; 0 otherwise. */
int emu_fault_smtp(struct emu *emu, const char *stage, int *code, char *text, size_t text_size);

/* Calls done(arg) on the timer thread after ms milliseconds (a delayed API call resumes from
 * there). 0, or MC_ERR_NOMEM (then nothing is scheduled). */
int emu_delay(struct emu *emu, int ms, void (*done)(void *arg), void *arg);

/* ---- the control calls ---- */

/* Answers a control call: method and path (starting "/__mcapi/", without the query), query
 * (or NULL), the Authorization header (or NULL), the body. *status gets the HTTP status,
 * *body a JSON text (caller frees), *allow the Allow header of a 405 (static) or NULL.
 * Returns 0, or MC_ERR_NOMEM when no answer could be made. */
int emu_control(struct emu *emu, const char *method, const char *path, const char *query,
                const char *authorization, const char *body, size_t body_len, int *status,
                char **out, const char **allow);

/* ---- the web console (console.c; docs/emulator.md, "The web console") ---- */

struct response;

/* A console answer, for the front to send. */
struct emu_page {
	int status;
	char *body; /* malloc'd (the front frees it); len bytes */
	size_t len;
	const char *type;     /* Content-Type (static) */
	char location[256];   /* a redirect's Location, or "" */
	char cookie[160];     /* Set-Cookie, or "" */
	char allow[16];       /* a 405's Allow, or "" */
	int bearer_challenge; /* a 401: send WWW-Authenticate: Bearer */
};

/* 1 if path (without the query) is the console's: /__mcapi/ui and below. */
int emu_console_path(const char *path);

/* Answers a console request. req is the front's request (its server, method, path, query,
 * client address, headers through request_header) and res its response, which an action
 * hands to the API's handler it runs (docs/emulator.md); body is the request's body.
 * 0 with *page filled; MC_ERR_ASYNC when an action waits on DNS (verify now): the front
 * suspends the connection as for an API call (request.h) and calls emu_console_resume once
 * it resumes; MC_ERR_NOMEM when no answer could be made. */
int emu_console(struct emu *emu, struct request *req, struct response *res, const char *body,
                size_t len, struct emu_page *page);

/* Finishes an action that returned MC_ERR_ASYNC: 0 with *page filled, or MC_ERR_NOMEM. */
int emu_console_resume(struct emu *emu, struct request *req, struct response *res,
                       struct emu_page *page);

/* ---- seed files ---- */

struct store;

/* What a seed takes from the configuration. */
struct emu_seed_defaults {
	const char *region;   /* of every account */
	int pending_ttl_days; /* a pending domain's verification period */
};

/* Writes the seed at path, a JSON or YAML file or a directory of them (docs/emulator.md,
 * "Seed files"; seed_doc.h), to st in one transaction: all of it, or nothing. 0; MC_ERR_INVALID
 * with e naming the file's member at fault (a malformed file, a bad value, a duplicate); a store
 * error. The caller applies it to an empty store only. */
int emu_seed(struct store *st, const struct emu_seed_defaults *defs, const char *path,
             struct err *e);

/* Feeds the seed file's "messages" (.eml files) through the gateway's checks and accept, as
 * an SMTP session would (srv->mail: the running pipeline), then waits (at most 15 s) until
 * the pipeline has taken them (no recipient of theirs pending). After emu_seed, at the same
 * first start. 0, or MC_ERR_INVALID naming the message the gateway refused. */
int emu_seed_messages(struct server *srv, const char *path, struct err *e);

#endif
