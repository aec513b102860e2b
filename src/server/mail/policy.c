/* Sender policies at work; see policy.h. On every call the store selects the account's
 * policies that can match the pair (store_policy_candidates: indexed look-ups by value, not
 * a scan of all of them) and each is decided here; whether an address is internal is asked
 * of the store only when a policy needs it, group membership once per group policy. */
#include "policy.h"

#include "common/err.h"
#include "server/store/store.h"
#include "server/store/store_domain.h"
#include "server/store/store_directory.h"
#include "server/store/store_policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : NULL;
}

static int parse_row(const char *s, int64_t *row)
{
	char *end = NULL;
	long long v;

	if (!*s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return 0;
	*row = v;
	return 1;
}

int policy_side_valid(const char *type, const char *value)
{
	int64_t row;
	const char *at;

	if (!strcmp(type, "everyone") || !strcmp(type, "internal_addresses") ||
	    !strcmp(type, "external_addresses"))
		return 1; /* a value given with them is ignored, as the real service does */
	if (!strcmp(type, "individual_email_address")) {
		at = strrchr(value, '@');
		return at && at != value && at[1] && strchr(at + 1, '.') && !strchr(value, ' ') &&
		       strlen(value) < POLICY_VALUE_SIZE;
	}
	if (!strcmp(type, "email_domain"))
		return *value && !strchr(value, '@') && !strchr(value, ' ') && strchr(value, '.') &&
		       value[0] != '.' && strlen(value) < 254;
	if (!strcmp(type, "profile_group"))
		return parse_row(value, &row);
	return 0;
}

int policy_side_match(const char *type, const char *value, const struct policy_addr *a, int *yes,
                      struct err *e)
{
	const char *dom;
	int64_t row;

	*yes = 0;
	if (!strcmp(type, "everyone")) {
		*yes = 1;
		return 0;
	}
	if (!*a->addr)
		return 0; /* the null sender is only "everyone" */
	if (!strcmp(type, "individual_email_address")) {
		*yes = strcasecmp(value, a->addr) == 0;
	} else if (!strcmp(type, "email_domain")) {
		dom = domain_of(a->addr);
		*yes = dom && strcasecmp(value, dom) == 0;
	} else if (!strcmp(type, "internal_addresses")) {
		*yes = a->internal;
	} else if (!strcmp(type, "external_addresses")) {
		*yes = !a->internal;
	} else if (!strcmp(type, "profile_group") && a->group_member && parse_row(value, &row)) {
		return a->group_member(a->arg, row, a->addr, yes, e);
	}
	return 0;
}

/* ---- evaluation against the store ---- */

struct eval {
	struct store *st;
	int64_t account_id, now;
	struct policy_addr sender, rcpt;
	int sender_known, rcpt_known; /* internal flag computed */
	int permit, block, exempt;
	struct policy_decision permit_by, block_by;
	struct err *e;
};

static int group_member(void *arg, int64_t group_id, const char *addr, int *yes, struct err *e)
{
	struct eval *ev = arg;
	return store_group_has_member(ev->st, ev->account_id, group_id, addr, yes, e);
}

static int is_internal(struct eval *ev, const char *addr, int *out)
{
	const char *dom = domain_of(addr);
	char lower[256];
	int64_t owner = 0;
	int rc;

	*out = 0;
	if (!dom || strlen(dom) >= sizeof(lower))
		return 0;
	for (size_t i = 0;; i++) {
		char c = dom[i];
		lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		if (!c)
			break;
	}
	rc = store_domain_internal_owner(ev->st, lower, &owner, ev->e);
	if (rc == MC_ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc;
	*out = owner == ev->account_id;
	return 0;
}

static int needs_internal(const struct sender_policy *p)
{
	return !strcmp(p->from_type, "internal_addresses") ||
	       !strcmp(p->from_type, "external_addresses") ||
	       !strcmp(p->to_type, "internal_addresses") ||
	       !strcmp(p->to_type, "external_addresses");
}

static int pair_match(const struct sender_policy *p, const struct policy_addr *from,
                      const struct policy_addr *to, int *yes, struct err *e)
{
	int a = 0, b = 0, rc;

	*yes = 0;
	if ((rc = policy_side_match(p->from_type, p->from_value, from, &a, e)) != 0 || !a)
		return rc;
	if ((rc = policy_side_match(p->to_type, p->to_value, to, &b, e)) != 0)
		return rc;
	*yes = b;
	return 0;
}

static int eval_one(void *arg, const struct sender_policy *p)
{
	struct eval *ev = arg;
	int yes = 0, rc;

	if (!p->enabled || (!p->from_eternal && ev->now < p->from_date) ||
	    (!p->to_eternal && ev->now > p->to_date) || !strcmp(p->from_part, "header_from"))
		return 0;
	if (needs_internal(p) && !ev->sender_known) {
		if ((rc = is_internal(ev, ev->sender.addr, &ev->sender.internal)) != 0 ||
		    (rc = is_internal(ev, ev->rcpt.addr, &ev->rcpt.internal)) != 0)
			return rc;
		ev->sender_known = ev->rcpt_known = 1;
	}
	if ((rc = pair_match(p, &ev->sender, &ev->rcpt, &yes, ev->e)) != 0)
		return rc;
	if (!yes && p->bidirectional && (rc = pair_match(p, &ev->rcpt, &ev->sender, &yes, ev->e)))
		return rc;
	if (!yes)
		return 0;
	if (p->action == POLICY_PERMIT && !ev->permit) {
		ev->permit = 1;
		ev->permit_by.policy_id = p->id;
		ev->permit_by.kind = p->kind;
	} else if (p->action == POLICY_BLOCK && !ev->block) {
		ev->block = 1;
		ev->block_by.policy_id = p->id;
		ev->block_by.kind = p->kind;
	} else if (p->action == POLICY_NO_ACTION) {
		ev->exempt = 1;
	}
	return 0;
}

int policy_evaluate(struct store *st, int64_t account_id, const char *sender, const char *rcpt,
                    int64_t now, struct policy_decision *out, struct err *e)
{
	struct eval ev;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&ev, 0, sizeof(ev));
	ev.st = st;
	ev.account_id = account_id;
	ev.now = now;
	ev.e = e;
	ev.sender.addr = sender ? sender : "";
	ev.rcpt.addr = rcpt ? rcpt : "";
	ev.sender.group_member = ev.rcpt.group_member = group_member;
	ev.sender.arg = ev.rcpt.arg = &ev;
	rc = store_policy_candidates(st, account_id, ev.sender.addr, ev.rcpt.addr, eval_one, &ev,
	                             e);
	if (rc)
		return rc;
	if (ev.permit) {
		*out = ev.permit_by;
		out->verdict = POLICY_VERDICT_PERMIT;
	} else if (ev.block && !ev.exempt) {
		*out = ev.block_by;
		out->verdict = POLICY_VERDICT_BLOCK;
	}
	return 0;
}
