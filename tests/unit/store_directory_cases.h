/* The directory store cases (store_directory.h) shared by test_store_directory.c (SQLite)
 * and test_store_directory_pg.c (PostgreSQL): users listed by domain in address order with
 * counts and a keyset cursor, groups nested under a parent of the same account only, keyset
 * pages of find with query and source filters and their counts, members added once, removed
 * once, listed in order, and store_group_has_member by address and by domain, never across
 * accounts. */
#ifndef MCAPI_TESTS_STORE_DIRECTORY_CASES_H
#define MCAPI_TESTS_STORE_DIRECTORY_CASES_H

#include "common/err.h"
#include "server/store/store.h"
#include "server/store/store_directory.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

struct dir_names {
	char got[16][300];
	int64_t ids[16];
	int n;
};

static int dir_collect_user(void *arg, const struct user *u)
{
	struct dir_names *c = arg;

	if (c->n < 16)
		snprintf(c->got[c->n++], 300, "%s", u->email);
	return 0;
}

static int dir_collect_group(void *arg, const struct group *g)
{
	struct dir_names *c = arg;

	if (c->n < 16) {
		c->ids[c->n] = g->id;
		snprintf(c->got[c->n++], 300, "%s", g->name);
	}
	return 0;
}

static int dir_collect_member(void *arg, const struct group_member *m)
{
	struct dir_names *c = arg;

	if (c->n < 16) {
		c->ids[c->n] = m->id;
		snprintf(c->got[c->n++], 300, "%s:%s", m->kind == MEMBER_DOMAIN ? "d" : "e",
		         m->value);
	}
	return 0;
}

static int64_t dir_account(struct store *st, const char *name)
{
	struct account a;
	struct err e;

	store_account_init(&a);
	snprintf(a.name, sizeof(a.name), "%s", name);
	snprintf(a.region, sizeof(a.region), "eu");
	CHECK_INT(store_account_create(st, &a, &e), 0);
	return a.id;
}

static void dir_user(struct store *st, int64_t acct, const char *email)
{
	struct user u;
	struct err e;

	memset(&u, 0, sizeof(u));
	u.account_id = acct;
	snprintf(u.email, sizeof(u.email), "%s", email);
	snprintf(u.name, sizeof(u.name), "Name of %s", email);
	CHECK_INT(store_user_create(st, &u, &e), 0);
}

static void dir_users_case(struct store *st, int64_t a1, int64_t a2)
{
	struct dir_names c;
	int64_t n = -1;
	struct err e;

	dir_user(st, a1, "zed@dir.example");
	dir_user(st, a1, "Amy@Dir.Example");
	dir_user(st, a1, "bob@dir.example");
	dir_user(st, a1, "carl@other.example");
	dir_user(st, a2, "dan@dir2.example");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_dir_user_list(st, a1, "DIR.example", NULL, 10, dir_collect_user, &c, &e),
	          0);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.got[0], "amy@dir.example");
	CHECK_STR(c.got[1], "bob@dir.example");
	CHECK_STR(c.got[2], "zed@dir.example");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_dir_user_list(st, a1, "dir.example", "amy@dir.example", 1, dir_collect_user,
	                              &c, &e),
	          0);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.got[0], "bob@dir.example");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_dir_user_list(st, a1, NULL, NULL, 10, dir_collect_user, &c, &e), 0);
	CHECK_INT(c.n, 4);
	CHECK_STR(c.got[2], "carl@other.example");
	CHECK_INT(store_dir_user_count(st, a1, "dir.example", &n, &e), 0);
	CHECK_INT(n, 3);
	CHECK_INT(store_dir_user_count(st, a1, "", &n, &e), 0);
	CHECK_INT(n, 4);
	CHECK_INT(store_dir_user_count(st, a2, "dir.example", &n, &e), 0);
	CHECK_INT(n, 0);
}

static void dir_groups_case(struct store *st, int64_t a1, int64_t a2)
{
	struct group g, top, sub, other, got;
	struct group_member m;
	struct dir_names c;
	int64_t n = -1;
	int yes = -1;
	struct err e;

	memset(&top, 0, sizeof(top));
	top.account_id = a1;
	snprintf(top.name, sizeof(top.name), "Blocked Senders");
	CHECK_INT(store_group_create(st, &top, &e), 0);
	CHECK(top.id > 0);
	CHECK_STR(top.source, "cloud");
	memset(&sub, 0, sizeof(sub));
	sub.account_id = a1;
	sub.parent_id = top.id;
	snprintf(sub.name, sizeof(sub.name), "Allowed partners");
	CHECK_INT(store_group_create(st, &sub, &e), 0);
	/* a parent of another account, or none, is refused */
	memset(&other, 0, sizeof(other));
	other.account_id = a2;
	other.parent_id = top.id;
	snprintf(other.name, sizeof(other.name), "Sneaky");
	CHECK_INT(store_group_create(st, &other, &e), MC_ERR_NOT_FOUND);
	other.parent_id = 0;
	CHECK_INT(store_group_create(st, &other, &e), 0);
	memset(&g, 0, sizeof(g));
	g.account_id = a1;
	snprintf(g.name, sizeof(g.name), "blocked later");
	CHECK_INT(store_group_create(st, &g, &e), 0);
	memset(&g, 0, sizeof(g));
	g.account_id = a1;
	CHECK_INT(store_group_create(st, &g, &e), MC_ERR_INVALID); /* no name */

	CHECK_INT(store_group_get(st, a1, top.id, &got, &e), 0);
	CHECK_INT(got.folder_count, 1);
	CHECK_INT(got.user_count, 0);
	CHECK_INT(store_group_get(st, a2, top.id, &got, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_group_get(st, a1, sub.id, &got, &e), 0);
	CHECK_INT(got.parent_id, top.id);

	/* find: (name, id) order, bytewise; query case-insensitive; keyset cursor */
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_group_find(st, a1, NULL, NULL, NULL, 0, 10, dir_collect_group, &c, &e), 0);
	CHECK_INT(c.n, 3);
	CHECK_STR(c.got[0], "Allowed partners");
	CHECK_STR(c.got[1], "Blocked Senders");
	CHECK_STR(c.got[2], "blocked later");
	memset(&c, 0, sizeof(c));
	CHECK_INT(
	        store_group_find(st, a1, "BLOCKED", "cloud", NULL, 0, 1, dir_collect_group, &c, &e),
	        0);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.got[0], "Blocked Senders");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_group_find(st, a1, "blocked", "", "Blocked Senders", top.id, 5,
	                           dir_collect_group, &c, &e),
	          0);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.got[0], "blocked later");
	CHECK_INT(store_group_count(st, a1, "blocked", NULL, &n, &e), 0);
	CHECK_INT(n, 2);
	CHECK_INT(store_group_count(st, a1, NULL, "ldap", &n, &e), 0);
	CHECK_INT(n, 0);
	CHECK_INT(store_group_count(st, a2, NULL, NULL, &n, &e), 0);
	CHECK_INT(n, 1);

	/* members */
	CHECK_INT(store_group_member_add(st, a1, top.id, MEMBER_EMAIL, "Bad@Spam.Example", &m, &e),
	          0);
	CHECK(m.id > 0);
	CHECK_STR(m.value, "bad@spam.example");
	CHECK_INT(store_group_member_add(st, a1, top.id, MEMBER_EMAIL, "bad@spam.example", &m, &e),
	          MC_ERR_EXISTS);
	/* the failed add leaves the transaction usable */
	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_group_member_add(st, a1, top.id, MEMBER_EMAIL, "bad@spam.example", &m, &e),
	          MC_ERR_EXISTS);
	CHECK_INT(store_group_member_add(st, a1, top.id, MEMBER_DOMAIN, "evil.example", &m, &e), 0);
	CHECK_INT(store_tx_commit(st, &e), 0);
	CHECK_INT(store_group_member_add(st, a2, top.id, MEMBER_EMAIL, "x@y.example", &m, &e),
	          MC_ERR_NOT_FOUND);
	CHECK_INT(
	        store_group_member_add(st, a1, top.id, MEMBER_EMAIL, "third@spam.example", &m, &e),
	        0);
	CHECK_INT(store_group_get(st, a1, top.id, &got, &e), 0);
	CHECK_INT(got.user_count, 3);
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_group_members(st, a1, top.id, 0, 2, dir_collect_member, &c, &e), 0);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.got[0], "e:bad@spam.example");
	CHECK_STR(c.got[1], "d:evil.example");
	{
		int64_t after = c.ids[1];
		memset(&c, 0, sizeof(c));
		CHECK_INT(
		        store_group_members(st, a1, top.id, after, 10, dir_collect_member, &c, &e),
		        0);
		CHECK_INT(c.n, 1);
		CHECK_STR(c.got[0], "e:third@spam.example");
	}
	CHECK_INT(store_group_members(st, a2, top.id, 0, 10, dir_collect_member, &c, &e),
	          MC_ERR_NOT_FOUND);

	/* membership: by address, by domain, case-insensitively; never across accounts */
	CHECK_INT(store_group_has_member(st, a1, top.id, "BAD@spam.example", &yes, &e), 0);
	CHECK_INT(yes, 1);
	CHECK_INT(store_group_has_member(st, a1, top.id, "anyone@Evil.Example", &yes, &e), 0);
	CHECK_INT(yes, 1);
	CHECK_INT(store_group_has_member(st, a1, top.id, "good@spam.example", &yes, &e), 0);
	CHECK_INT(yes, 0);
	CHECK_INT(store_group_has_member(st, a1, sub.id, "bad@spam.example", &yes, &e), 0);
	CHECK_INT(yes, 0); /* direct members only */
	CHECK_INT(store_group_has_member(st, a2, top.id, "bad@spam.example", &yes, &e), 0);
	CHECK_INT(yes, 0);
	CHECK_INT(store_group_has_member(st, a1, 999999, "bad@spam.example", &yes, &e), 0);
	CHECK_INT(yes, 0);

	/* removal */
	CHECK_INT(
	        store_group_member_remove(st, a1, top.id, MEMBER_EMAIL, "Bad@spam.example", &m, &e),
	        0);
	CHECK_STR(m.value, "bad@spam.example");
	CHECK_INT(
	        store_group_member_remove(st, a1, top.id, MEMBER_EMAIL, "bad@spam.example", &m, &e),
	        MC_ERR_NOT_FOUND);
	CHECK_INT(store_group_member_remove(st, a1, top.id, MEMBER_EMAIL, "evil.example", &m, &e),
	          MC_ERR_NOT_FOUND); /* a domain member is not an address member */
	CHECK_INT(store_group_member_remove(st, a2, top.id, MEMBER_DOMAIN, "evil.example", &m, &e),
	          MC_ERR_NOT_FOUND);
	CHECK_INT(store_group_has_member(st, a1, top.id, "bad@spam.example", &yes, &e), 0);
	CHECK_INT(yes, 0);
	CHECK_INT(store_group_get(st, a1, top.id, &got, &e), 0);
	CHECK_INT(got.user_count, 2);
}

static void dir_named(struct store *st, int64_t acct, const char *email, const char *name)
{
	struct user u;
	struct err e;

	memset(&u, 0, sizeof(u));
	u.account_id = acct;
	snprintf(u.email, sizeof(u.email), "%s", email);
	snprintf(u.name, sizeof(u.name), "%s", name);
	CHECK_INT(store_user_create(st, &u, &e), 0);
}

/* Users by display name (impersonation checks): NFKC, case-folded, blanks collapsed, one
 * account only; a rename moves the user to the new name at once. */
static void dir_names_case(struct store *st, int64_t a1, int64_t a2)
{
	struct dir_names c;
	struct user u;
	struct err e;

	dir_named(st, a1, "jane@names.example", "Jane Doe");
	dir_named(st, a1, "jane2@names.example",
	          "\xef\xbc\xaa\xef\xbc\xa1NE   doe"); /* fullwidth JA */
	dir_named(st, a1, "john@names.example", "John Doe");
	dir_named(st, a1, "nobody@names.example", "");
	dir_named(st, a2, "jane@other.example", "Jane Doe");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_user_by_name(st, a1, " \"jane  DOE\" ", dir_collect_user, &c, &e), 0);
	CHECK_INT(c.n, 2);
	CHECK(c.n == 2 && ((!strcmp(c.got[0], "jane@names.example") &&
	                    !strcmp(c.got[1], "jane2@names.example")) ||
	                   (!strcmp(c.got[1], "jane@names.example") &&
	                    !strcmp(c.got[0], "jane2@names.example"))));
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_user_by_name(st, a1, "", dir_collect_user, &c, &e), 0);
	CHECK_INT(store_user_by_name(st, a1, "Nobody", dir_collect_user, &c, &e), 0);
	CHECK_INT(c.n, 0);
	CHECK_INT(store_user_get_by_email(st, "john@names.example", &u, &e), 0);
	snprintf(u.name, sizeof(u.name), "Jane Doe");
	CHECK_INT(store_user_update(st, &u, &e), 0);
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_user_by_name(st, a1, "jane doe", dir_collect_user, &c, &e), 0);
	CHECK_INT(c.n, 3);
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_user_by_name(st, a1, "John Doe", dir_collect_user, &c, &e), 0);
	CHECK_INT(c.n, 0);
}

static void directory_cases(struct store *st)
{
	int64_t a1 = dir_account(st, "Directory one");
	int64_t a2 = dir_account(st, "Directory two");

	dir_users_case(st, a1, a2);
	dir_groups_case(st, a1, a2);
	dir_names_case(st, a1, a2);
}

#endif
