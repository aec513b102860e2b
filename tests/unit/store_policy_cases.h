/* The selection of sender policies that can match one (sender, recipient) pair
 * (store_policy_candidates, 011_policy_lookup.sql) and the decisions policy_evaluate takes on
 * it, shared by test_policy.c (SQLite) and test_policy_pg.c (PostgreSQL): selected by the
 * sender's or the recipient's address or domain on either side, by a group holding either
 * address (as an address or by its domain), and every value-less policy; nothing else, and
 * nothing of another account. Among the 200 decoys the verdicts stay those of a full scan:
 * by domain, by address, by group (a member added blocks at once, removed unblocks),
 * bidirectional, date ranges, and the precedence permit > block > no_action exception. */
#ifndef MCAPI_TESTS_STORE_POLICY_CASES_H
#define MCAPI_TESTS_STORE_POLICY_CASES_H

#include "common/err.h"
#include "server/mail/policy.h"
#include "server/store/store.h"
#include "server/store/store_directory.h"
#include "server/store/store_policy.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

struct pc_ids {
	int64_t ids[64];
	int n;
};

static int pc_collect(void *arg, const struct sender_policy *p)
{
	struct pc_ids *c = arg;

	if (c->n < 64)
		c->ids[c->n++] = p->id;
	return 0;
}

static int pc_has(const struct pc_ids *c, int64_t id)
{
	for (int i = 0; i < c->n; i++)
		if (c->ids[i] == id)
			return 1;
	return 0;
}

static int64_t pc_account(struct store *st, const char *name)
{
	struct account a;
	struct err e;

	store_account_init(&a);
	snprintf(a.name, sizeof(a.name), "%s", name);
	snprintf(a.region, sizeof(a.region), "eu");
	CHECK_INT(store_account_create(st, &a, &e), 0);
	return a.id;
}

static int64_t pc_put(struct store *st, int64_t acct, int kind, int action, const char *ft,
                      const char *fv, const char *tt, const char *tv, int bidi)
{
	struct sender_policy p;
	struct err e;

	memset(&p, 0, sizeof(p));
	p.account_id = acct;
	p.kind = kind;
	p.action = action;
	snprintf(p.from_part, sizeof(p.from_part), "envelope_from");
	snprintf(p.from_type, sizeof(p.from_type), "%s", ft);
	snprintf(p.from_value, sizeof(p.from_value), "%s", fv);
	snprintf(p.to_type, sizeof(p.to_type), "%s", tt);
	snprintf(p.to_value, sizeof(p.to_value), "%s", tv);
	p.from_eternal = p.to_eternal = p.enabled = 1;
	p.bidirectional = bidi;
	CHECK_INT(store_policy_put(st, &p, &e), 0);
	return p.id;
}

static struct pc_ids pc_select(struct store *st, int64_t acct, const char *from, const char *to)
{
	struct pc_ids c;
	struct err e;

	memset(&c, 0, sizeof(c));
	CHECK_INT(store_policy_candidates(st, acct, from, to, pc_collect, &c, &e), 0);
	for (int i = 1; i < c.n; i++)
		CHECK(c.ids[i - 1] < c.ids[i]); /* id order, each once */
	return c;
}

static int pc_verdict(struct store *st, int64_t acct, const char *from, const char *to, int64_t now)
{
	struct policy_decision d;
	struct err e;

	CHECK_INT(policy_evaluate(st, acct, from, to, now, &d, &e), 0);
	return d.verdict;
}

static void store_policy_cases(struct store *st)
{
	struct sender_policy p;
	struct group g;
	struct pc_ids c;
	struct err e;
	int64_t a1 = pc_account(st, "policy one"), a2 = pc_account(st, "policy two");
	int64_t dom, addr, to_dom, every, ext, grp, grp_dom, bidi, other, permit, exempt;
	char v[64];

	/* decoys: addresses, domains and a group that this pair is not */
	for (int i = 0; i < 200; i++) {
		snprintf(v, sizeof(v), "decoy%d@far%d.example", i, i % 7);
		pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "individual_email_address", v,
		       i % 3 ? "everyone" : "individual_email_address", i % 3 ? "" : v, i % 2);
		snprintf(v, sizeof(v), "far%d.example", i);
		pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "email_domain", v, "everyone",
		       "", 0);
	}
	memset(&g, 0, sizeof(g));
	g.account_id = a1;
	snprintf(g.name, sizeof(g.name), "blocked people");
	CHECK_INT(store_group_create(st, &g, &e), 0);
	grp = pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "profile_group", "", "everyone",
	             "", 0);
	/* the group side's value is the group's row in decimal, as the API writes it */
	CHECK_INT(store_policy_get(st, a1, grp, &p, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, grp, &e), 0);
	snprintf(p.from_value, sizeof(p.from_value), "%lld", (long long)g.id);
	p.id = 0;
	CHECK_INT(store_policy_put(st, &p, &e), 0);
	grp = p.id;

	c = pc_select(st, a1, "bad@evil.example", "u@corp.example");
	CHECK_INT(c.n, 0); /* not one of the 401 */
	CHECK_INT(pc_verdict(st, a1, "bad@evil.example", "u@corp.example", 5000),
	          POLICY_VERDICT_NONE);

	/* by the sender's domain, by its address (any case), by the recipient's domain */
	dom = pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "email_domain", "evil.example",
	             "everyone", "", 0);
	addr = pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "individual_email_address",
	              "bad@evil.example", "everyone", "", 0);
	to_dom = pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "everyone", "",
	                "email_domain", "corp.example", 0);
	every = pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_NO_ACTION, "everyone", "", "everyone",
	               "", 0);
	ext = pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "external_addresses", "",
	             "internal_addresses", "", 0);
	other = pc_put(st, a2, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "email_domain", "evil.example",
	               "everyone", "", 0);
	c = pc_select(st, a1, "Bad@Evil.Example", "u@corp.example");
	CHECK_INT(c.n, 5);
	CHECK(pc_has(&c, dom) && pc_has(&c, addr) && pc_has(&c, to_dom) && pc_has(&c, every) &&
	      pc_has(&c, ext) && !pc_has(&c, other) && !pc_has(&c, grp));
	/* the null sender names nothing: only what the recipient and the value-less select */
	c = pc_select(st, a1, "", "u@corp.example");
	CHECK_INT(c.n, 3);
	CHECK(pc_has(&c, to_dom) && pc_has(&c, every) && pc_has(&c, ext));
	CHECK_INT(store_policy_delete(st, a1, to_dom, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, every, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, ext, &e), 0);
	CHECK_INT(pc_verdict(st, a1, "bad@evil.example", "u@corp.example", 5000),
	          POLICY_VERDICT_BLOCK);
	CHECK_INT(pc_verdict(st, a2, "x@evil.example", "u@corp.example", 5000),
	          POLICY_VERDICT_BLOCK);
	CHECK_INT(store_policy_delete(st, a2, other, &e), 0);
	CHECK_INT(pc_verdict(st, a2, "x@evil.example", "u@corp.example", 5000),
	          POLICY_VERDICT_NONE);

	/* precedence as before: a no_action exception beats the block, a permit beats both */
	exempt =
	        pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_NO_ACTION, "individual_email_address",
	               "bad@evil.example", "email_domain", "corp.example", 0);
	CHECK_INT(pc_verdict(st, a1, "bad@evil.example", "u@corp.example", 5000),
	          POLICY_VERDICT_NONE);
	CHECK_INT(pc_verdict(st, a1, "bad@evil.example", "u@other.example", 5000),
	          POLICY_VERDICT_BLOCK);
	permit = pc_put(st, a1, POLICY_MANAGED_SENDER, POLICY_PERMIT, "individual_email_address",
	                "bad@evil.example", "individual_email_address", "u@other.example", 0);
	CHECK_INT(pc_verdict(st, a1, "bad@evil.example", "u@other.example", 5000),
	          POLICY_VERDICT_PERMIT);
	CHECK_INT(store_policy_delete(st, a1, exempt, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, permit, &e), 0);

	/* date ranges: the selection does not filter on them, the evaluation does */
	CHECK_INT(store_policy_get(st, a1, dom, &p, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, dom, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, addr, &e), 0);
	p.id = 0;
	p.from_eternal = p.to_eternal = 0;
	p.from_date = 4000;
	p.to_date = 6000;
	CHECK_INT(store_policy_put(st, &p, &e), 0);
	dom = p.id;
	c = pc_select(st, a1, "bad@evil.example", "u@corp.example");
	CHECK(c.n == 1 && pc_has(&c, dom));
	CHECK_INT(pc_verdict(st, a1, "bad@evil.example", "u@corp.example", 3999),
	          POLICY_VERDICT_NONE);
	CHECK_INT(pc_verdict(st, a1, "bad@evil.example", "u@corp.example", 5000),
	          POLICY_VERDICT_BLOCK);
	CHECK_INT(pc_verdict(st, a1, "bad@evil.example", "u@corp.example", 6001),
	          POLICY_VERDICT_NONE);
	CHECK_INT(store_policy_delete(st, a1, dom, &e), 0);

	/* bidirectional: selected and matched with the sender on the to side */
	bidi = pc_put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "email_domain", "one.example",
	              "individual_email_address", "y@two.example", 1);
	c = pc_select(st, a1, "y@two.example", "x@one.example");
	CHECK(c.n == 1 && pc_has(&c, bidi));
	CHECK_INT(pc_verdict(st, a1, "y@two.example", "x@one.example", 5000), POLICY_VERDICT_BLOCK);
	CHECK_INT(pc_verdict(st, a1, "z@two.example", "x@one.example", 5000), POLICY_VERDICT_NONE);
	CHECK_INT(store_policy_delete(st, a1, bidi, &e), 0);

	/* by group: selected only while one of the pair is a member; exact at once */
	CHECK_INT(pc_select(st, a1, "m@grp.example", "u@corp.example").n, 0);
	CHECK_INT(store_group_member_add(st, a1, g.id, MEMBER_EMAIL, "M@grp.example", NULL, &e), 0);
	c = pc_select(st, a1, "m@grp.example", "u@corp.example");
	CHECK(c.n == 1 && pc_has(&c, grp));
	CHECK_INT(pc_verdict(st, a1, "m@GRP.example", "u@corp.example", 5000),
	          POLICY_VERDICT_BLOCK);
	CHECK_INT(pc_verdict(st, a1, "n@grp.example", "u@corp.example", 5000), POLICY_VERDICT_NONE);
	/* the recipient a member: selected (a bidirectional policy could match), not blocking */
	c = pc_select(st, a1, "u@corp.example", "m@grp.example");
	CHECK(c.n == 1 && pc_has(&c, grp));
	CHECK_INT(pc_verdict(st, a1, "u@corp.example", "m@grp.example", 5000), POLICY_VERDICT_NONE);
	CHECK_INT(store_group_member_remove(st, a1, g.id, MEMBER_EMAIL, "m@grp.example", NULL, &e),
	          0);
	CHECK_INT(pc_verdict(st, a1, "m@grp.example", "u@corp.example", 5000), POLICY_VERDICT_NONE);
	CHECK_INT(store_group_member_add(st, a1, g.id, MEMBER_DOMAIN, "grp.example", NULL, &e), 0);
	grp_dom = grp;
	c = pc_select(st, a1, "n@grp.example", "u@corp.example");
	CHECK(c.n == 1 && pc_has(&c, grp_dom));
	CHECK_INT(pc_verdict(st, a1, "n@grp.example", "u@corp.example", 5000),
	          POLICY_VERDICT_BLOCK);
	CHECK_INT(store_group_member_remove(st, a1, g.id, MEMBER_DOMAIN, "grp.example", NULL, &e),
	          0);
	CHECK_INT(pc_verdict(st, a1, "n@grp.example", "u@corp.example", 5000), POLICY_VERDICT_NONE);
	/* another account's policies are not selected though its group holds the address */
	CHECK_INT(pc_select(st, a2, "n@grp.example", "u@corp.example").n, 0);
}

#endif
