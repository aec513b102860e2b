/* Sender policies at work (API.md §18, §13.2): which policy of an account applies to one
 * (sender, recipient) pair of an SMTP transaction, and what it decides. The SMTP front asks
 * at RCPT (a block is a 550 in the session); the process stage asks again for the first
 * recipient (a permit skips the spam and impersonation checks). Every call reads the store
 * (only the policies that can match the pair, through indexes): there is no cache, so a
 * policy made on one node acts on every node's next transaction.
 *
 * Rules: a policy applies when it is enabled, today is within its dates (unless eternal),
 * its fromPart covers the envelope sender (envelope_from or both; header_from policies do
 * not act on the envelope), and its from side matches the sender and its to side the
 * recipient (or the other way round when bidirectional). A permitted managed sender wins;
 * otherwise a block applies unless a no_action policy matches too. */
#ifndef MCAPI_SERVER_MAIL_POLICY_H
#define MCAPI_SERVER_MAIL_POLICY_H

#include <stdint.h>

struct err;
struct store;

enum policy_verdict {
	POLICY_VERDICT_NONE = 0,
	POLICY_VERDICT_BLOCK = 1,
	POLICY_VERDICT_PERMIT = 2,
};

struct policy_decision {
	enum policy_verdict verdict;
	int64_t policy_id; /* the policy that decided (0 for NONE) */
	int32_t kind;      /* its enum policy_kind */
};

/* What one side of a policy (type, value) is compared with: an address and whether it is
 * in an internal domain of the policy's account. group_member answers profile_group (may be
 * NULL: no group matches). */
struct policy_addr {
	const char *addr; /* "" = the null sender */
	int internal;
	int (*group_member)(void *arg, int64_t group_id, const char *addr, int *yes, struct err *e);
	void *arg;
};

/* Pure: does side (type, value) match a? *yes 0 or 1; returns 0, or the error of
 * group_member. Unknown types match nothing. */
int policy_side_match(const char *type, const char *value, const struct policy_addr *a, int *yes,
                      struct err *e);

/* 1 if (type, value) is a valid side of a policy: type known, value right for it (an
 * address, a domain, a decimal group row, or empty for the others). */
int policy_side_valid(const char *type, const char *value);

/* Decides for (sender, rcpt) in account_id at time now (ms). 0 or a store error. */
int policy_evaluate(struct store *st, int64_t account_id, const char *sender, const char *rcpt,
                    int64_t now, struct policy_decision *out, struct err *e);

#endif
