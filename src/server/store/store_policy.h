/* The store's sender policies (API.md §18): blocked-senders policies and managed senders
 * (permit or block one sender for one recipient), in one table (schema 008_policies.sql).
 * Same conventions as store.h: fixed-size records copied by value, times in ms since the
 * epoch (UTC), the calling thread's transaction (store_tx_begin) covers these calls, errors
 * 0, MC_ERR_NOT_FOUND, MC_ERR_EXISTS, MC_ERR_UNAVAILABLE or MC_ERR_STORE (message in e).
 *
 * Nothing here is cached: the SMTP front reads the policies that can match on every
 * transaction (store_policy_candidates, indexed), so a change made on one node acts on every
 * node's next message. Values are given
 * lower-case (store.c lower-cases them again, ASCII only). */
#ifndef MCAPI_SERVER_STORE_STORE_POLICY_H
#define MCAPI_SERVER_STORE_STORE_POLICY_H

#include "server/store/store.h"

#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

enum policy_kind {
	POLICY_BLOCKED_SENDERS = 0, /* /api/policy/blockedsenders/... */
	POLICY_MANAGED_SENDER = 1,  /* /api/managedsender/permit-or-block-sender */
};

enum policy_action {
	POLICY_BLOCK = 0,     /* block_sender / block: refused at RCPT with 550 */
	POLICY_PERMIT = 1,    /* permit: no refusal, spam and impersonation checks skipped */
	POLICY_NO_ACTION = 2, /* no_action: an exception to blocks */
};

#define POLICY_TYPE_SIZE  32  /* everyone | email_domain | individual_email_address | ... */
#define POLICY_VALUE_SIZE 321 /* an address (MAIL_ADDR_SIZE), a domain or a group row id */
#define POLICY_TEXT_SIZE  256 /* description, comment */
#define POLICY_PART_SIZE  16  /* envelope_from | header_from | both */

struct sender_policy {
	int64_t id; /* row key; the API shows it only as an opaque id */
	int64_t account_id;
	int32_t kind;   /* enum policy_kind */
	int32_t action; /* enum policy_action */
	char description[POLICY_TEXT_SIZE];
	char comment[POLICY_TEXT_SIZE];
	char from_part[POLICY_PART_SIZE];
	char from_type[POLICY_TYPE_SIZE];
	char from_value[POLICY_VALUE_SIZE];
	char to_type[POLICY_TYPE_SIZE];
	char to_value[POLICY_VALUE_SIZE];
	int32_t from_eternal, to_eternal;
	int64_t from_date, to_date; /* the policy applies in [from_date, to_date] unless eternal */
	int32_t override, bidirectional, enforced, enabled;
	int64_t created, updated;
};

/* Creates p (every field but id; created/updated = now if 0); fills p->id. A managed sender
 * with the same account, sender and recipient as an existing one replaces it in place: the
 * row keeps its id and created time and takes p's other fields; p->id and p->created get
 * the row's. MC_ERR_NOT_FOUND if no such account. */
int store_policy_put(struct store *st, struct sender_policy *p, struct err *e);

/* The policy of account_id with id. MC_ERR_NOT_FOUND if there is none. */
int store_policy_get(struct store *st, int64_t account_id, int64_t id, struct sender_policy *out,
                     struct err *e);

/* Deletes the policy of account_id with id; MC_ERR_NOT_FOUND if there is none. */
int store_policy_delete(struct store *st, int64_t account_id, int64_t id, struct err *e);

/* Calls fn for up to limit policies of account_id of kind (-1 = both) in id order after
 * after_id (0 = from the first). A non-zero return of fn stops and is returned. */
int store_policy_list(struct store *st, int64_t account_id, int kind, int64_t after_id,
                      size_t limit, int (*fn)(void *arg, const struct sender_policy *p), void *arg,
                      struct err *e);

/* Calls fn, in id order, for the policies of account_id that can match the pair (sender,
 * rcpt) in either direction: those with a side that names (as individual_email_address,
 * email_domain or profile_group) the sender, the recipient, the domain of either, or a group
 * either is a direct member of (by address or by domain; the group's row id in decimal, as
 * the API stores it), and those neither side of which takes a value (everyone,
 * internal_addresses, external_addresses). Every policy that matches is among them; the
 * caller (policy_evaluate) still decides each one, dates, state and membership included.
 * sender or rcpt "" (the null sender) names nothing. A non-zero return of fn stops and is
 * returned. Each call reads the store: indexed look-ups, no cache. */
int store_policy_candidates(struct store *st, int64_t account_id, const char *sender,
                            const char *rcpt, int (*fn)(void *arg, const struct sender_policy *p),
                            void *arg, struct err *e);

#endif
