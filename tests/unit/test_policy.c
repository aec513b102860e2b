/* Unit tests for sender-policy matching (mail/policy.h) on a SQLite store: one side against
 * an address (everyone, address, domain, internal/external, group), validity of sides, and
 * policy_evaluate over stored policies: block, permit winning, no_action as an exception,
 * bidirectional, dates, header_from, and group membership read at each call; then the
 * selection of the policies that can match one pair (store_policy_cases.h). */
#include "common/crypto.h"
#include "common/err.h"
#include "server/mail/policy.h"
#include "server/store/store.h"
#include "server/store/store_domain.h"
#include "server/store/store_policy.h"
#include "store_policy_cases.h"
#include "tap.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], db_path[128];

static int never_member(void *arg, int64_t g, const char *a, int *yes, struct err *e)
{
	(void)arg, (void)a, (void)e;
	*yes = g == 7;
	return 0;
}

static int side(const char *type, const char *value, const char *addr, int internal)
{
	struct policy_addr a = {addr, internal, never_member, NULL};
	int yes = -1;
	CHECK_INT(policy_side_match(type, value, &a, &yes, NULL), 0);
	return yes;
}

static void test_sides(void)
{
	CHECK_INT(side("everyone", "", "a@b.example", 0), 1);
	CHECK_INT(side("everyone", "", "", 0), 1);
	CHECK_INT(side("individual_email_address", "a@b.example", "A@B.example", 0), 1);
	CHECK_INT(side("individual_email_address", "a@b.example", "x@b.example", 0), 0);
	CHECK_INT(side("email_domain", "b.example", "x@B.EXAMPLE", 0), 1);
	CHECK_INT(side("email_domain", "b.example", "x@sub.b.example", 0), 0);
	CHECK_INT(side("email_domain", "b.example", "", 0), 0);
	CHECK_INT(side("internal_addresses", "", "x@b.example", 1), 1);
	CHECK_INT(side("internal_addresses", "", "x@b.example", 0), 0);
	CHECK_INT(side("external_addresses", "", "x@b.example", 0), 1);
	CHECK_INT(side("profile_group", "7", "x@b.example", 0), 1);
	CHECK_INT(side("profile_group", "8", "x@b.example", 0), 0);
	CHECK_INT(side("martians", "", "x@b.example", 0), 0);
	CHECK(policy_side_valid("email_domain", "b.example"));
	CHECK(!policy_side_valid("email_domain", "a@b.example"));
	CHECK(!policy_side_valid("email_domain", ""));
	CHECK(policy_side_valid("individual_email_address", "a@b.example"));
	CHECK(!policy_side_valid("individual_email_address", "nope"));
	CHECK(policy_side_valid("profile_group", "12"));
	CHECK(!policy_side_valid("profile_group", "12x"));
	CHECK(!policy_side_valid("address_attribute_value", "x"));
}

static int64_t put(struct store *st, int64_t acct, int kind, int action, const char *ft,
                   const char *fv, const char *tt, const char *tv)
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
	CHECK_INT(store_policy_put(st, &p, &e), 0);
	return p.id;
}

static int verdict(struct store *st, int64_t acct, const char *from, const char *to)
{
	struct policy_decision d;
	struct err e;
	CHECK_INT(policy_evaluate(st, acct, from, to, 5000, &d, &e), 0);
	return d.verdict;
}

static void sql(const char *q)
{
	sqlite3 *db = NULL;
	CHECK_INT(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	CHECK_INT(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_evaluate(struct store *st, int64_t a1, int64_t a2)
{
	struct sender_policy p;
	struct domain d;
	struct err e;
	int64_t id, id2;
	char q[256];

	CHECK_INT(verdict(st, a1, "bad@evil.example", "u@corp.example"), POLICY_VERDICT_NONE);
	id = put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "email_domain", "evil.example",
	         "everyone", "");
	CHECK_INT(verdict(st, a1, "bad@evil.example", "u@corp.example"), POLICY_VERDICT_BLOCK);
	CHECK_INT(verdict(st, a2, "bad@evil.example", "u@corp.example"), POLICY_VERDICT_NONE);
	CHECK_INT(verdict(st, a1, "good@fine.example", "u@corp.example"), POLICY_VERDICT_NONE);
	/* a permitted managed sender wins over the block; the same pair again replaces it */
	id2 = put(st, a1, POLICY_MANAGED_SENDER, POLICY_PERMIT, "individual_email_address",
	          "bad@evil.example", "individual_email_address", "u@corp.example");
	CHECK_INT(verdict(st, a1, "bad@evil.example", "u@corp.example"), POLICY_VERDICT_PERMIT);
	CHECK_INT(verdict(st, a1, "bad@evil.example", "v@corp.example"), POLICY_VERDICT_BLOCK);
	CHECK_INT(put(st, a1, POLICY_MANAGED_SENDER, POLICY_BLOCK, "individual_email_address",
	              "BAD@evil.example", "individual_email_address", "u@corp.example"),
	          id2);
	CHECK_INT(verdict(st, a1, "bad@evil.example", "u@corp.example"), POLICY_VERDICT_BLOCK);
	CHECK_INT(store_policy_delete(st, a1, id2, &e), 0);
	/* no_action is an exception */
	put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_NO_ACTION, "individual_email_address",
	    "ok@evil.example", "everyone", "");
	CHECK_INT(verdict(st, a1, "ok@evil.example", "u@corp.example"), POLICY_VERDICT_NONE);
	/* disabled, out of its dates, or header_from only: no effect */
	CHECK_INT(store_policy_get(st, a1, id, &p, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, id, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, id, &e), MC_ERR_NOT_FOUND);
	p.enabled = 0;
	CHECK_INT(store_policy_put(st, &p, &e), 0);
	CHECK_INT(verdict(st, a1, "bad@evil.example", "u@corp.example"), POLICY_VERDICT_NONE);
	CHECK_INT(store_policy_delete(st, a1, p.id, &e), 0);
	p.enabled = 1;
	p.to_eternal = 0;
	p.to_date = 4000; /* verdict() evaluates at 5000 */
	CHECK_INT(store_policy_put(st, &p, &e), 0);
	CHECK_INT(verdict(st, a1, "bad@evil.example", "u@corp.example"), POLICY_VERDICT_NONE);
	CHECK_INT(store_policy_delete(st, a1, p.id, &e), 0);
	p.to_eternal = 1;
	snprintf(p.from_part, sizeof(p.from_part), "header_from");
	CHECK_INT(store_policy_put(st, &p, &e), 0);
	CHECK_INT(verdict(st, a1, "bad@evil.example", "u@corp.example"), POLICY_VERDICT_NONE);
	CHECK_INT(store_policy_delete(st, a1, p.id, &e), 0);
	/* bidirectional: the reverse direction matches too */
	id = put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "individual_email_address",
	         "x@one.example", "individual_email_address", "y@two.example");
	CHECK_INT(verdict(st, a1, "y@two.example", "x@one.example"), POLICY_VERDICT_NONE);
	CHECK_INT(store_policy_get(st, a1, id, &p, &e), 0);
	CHECK_INT(store_policy_delete(st, a1, id, &e), 0);
	p.bidirectional = 1;
	CHECK_INT(store_policy_put(st, &p, &e), 0);
	CHECK_INT(verdict(st, a1, "y@two.example", "x@one.example"), POLICY_VERDICT_BLOCK);
	CHECK_INT(store_policy_delete(st, a1, p.id, &e), 0);
	/* internal and external addresses follow the account's internal domains */
	memset(&d, 0, sizeof(d));
	d.account_id = a1;
	snprintf(d.name, sizeof(d.name), "corp.example");
	d.state = DOMAIN_INTERNAL;
	memcpy(d.inbound_type, "any", 4);
	CHECK_INT(store_domain_create(st, &d, &e), 0);
	id = put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "external_addresses", "",
	         "internal_addresses", "");
	CHECK_INT(verdict(st, a1, "out@far.example", "u@corp.example"), POLICY_VERDICT_BLOCK);
	CHECK_INT(verdict(st, a1, "in@corp.example", "u@corp.example"), POLICY_VERDICT_NONE);
	CHECK_INT(store_policy_delete(st, a1, id, &e), 0);
	/* a group: membership is read on every evaluation; another account's group never */
	sql("INSERT INTO groups(id, account_id, name, created) VALUES (41, 1, 'g', 0)");
	sql("INSERT INTO groups(id, account_id, name, created) VALUES (42, 2, 'g', 0)");
	id = put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "profile_group", "41", "everyone",
	         "");
	put(st, a1, POLICY_BLOCKED_SENDERS, POLICY_BLOCK, "profile_group", "42", "everyone", "");
	CHECK_INT(verdict(st, a1, "m@grp.example", "u@corp.example"), POLICY_VERDICT_NONE);
	sql("INSERT INTO group_members(group_id, kind, value, created) "
	    "VALUES (42, 'email', 'm@grp.example', 0)");
	CHECK_INT(verdict(st, a1, "m@grp.example", "u@corp.example"), POLICY_VERDICT_NONE);
	sql("INSERT INTO group_members(group_id, kind, value, created) "
	    "VALUES (41, 'email', 'm@grp.example', 0)");
	CHECK_INT(verdict(st, a1, "M@grp.example", "u@corp.example"), POLICY_VERDICT_BLOCK);
	CHECK_INT(verdict(st, a1, "n@grp.example", "u@corp.example"), POLICY_VERDICT_NONE);
	sql("INSERT INTO group_members(group_id, kind, value, created) "
	    "VALUES (41, 'domain', 'grp.example', 0)");
	CHECK_INT(verdict(st, a1, "n@grp.example", "u@corp.example"), POLICY_VERDICT_BLOCK);
	snprintf(q, sizeof(q), "DELETE FROM group_members WHERE group_id = 41");
	sql(q);
	CHECK_INT(verdict(st, a1, "m@grp.example", "u@corp.example"), POLICY_VERDICT_NONE);
}

int main(void)
{
	unsigned char key[STORE_KEY_LEN];
	struct store_config cfg = {0};
	struct store *st = NULL;
	struct account a1, a2;
	struct err e;
	char cmd[128];

	crypto_init();
	test_sides();
	random_bytes(RND_INTERNAL, key, sizeof(key));
	snprintf(dir, sizeof(dir), "/tmp/mcapi-test-policy-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/test.db", dir);
	cfg.path = db_path;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st)
		return tap_done();
	memset(&a1, 0, sizeof(a1));
	memset(&a2, 0, sizeof(a2));
	memcpy(a1.name, "one", 4);
	memcpy(a2.name, "two", 4);
	memcpy(a1.region, "eu", 3);
	memcpy(a2.region, "eu", 3);
	CHECK_INT(store_account_create(st, &a1, &e), 0);
	CHECK_INT(store_account_create(st, &a2, &e), 0);
	CHECK_INT(a1.id, 1);
	CHECK_INT(a2.id, 2);
	test_evaluate(st, a1.id, a2.id);
	store_policy_cases(st);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
	return tap_done();
}
