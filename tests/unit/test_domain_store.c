/* Unit tests for the store's domain records on SQLite (store_domain.h) and the opaque domain
 * ids (domain_id.h): create/get/update/delete, one internal claim per name across accounts,
 * keyset lists in name order with the purge horizon, purge, a clash inside a transaction that
 * leaves it usable, and ids that round-trip, differ per key and refuse forgeries. */
#include "common/crypto.h"
#include "common/err.h"
#include "server/api/domain_id.h"
#include "server/store/store.h"
#include "server/store/store_domain.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char db_path[128];

static void fill(struct domain *d, int64_t acct, const char *name, int state, int64_t expiry)
{
	memset(d, 0, sizeof(*d));
	d->account_id = acct;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->state = state;
	memcpy(d->inbound_type, "any", 4);
	if (state == DOMAIN_PENDING)
		snprintf(d->token, sizeof(d->token), "tok-%s", name);
	d->created = 1000;
	d->expiry = expiry;
}

struct names {
	char got[16][DOMAIN_NAME_SIZE];
	int n;
};

static int collect(void *arg, const struct domain *d)
{
	struct names *c = arg;

	if (c->n < 16)
		memcpy(c->got[c->n++], d->name, DOMAIN_NAME_SIZE);
	return 0;
}

static void test_records(struct store *st, int64_t a1, int64_t a2)
{
	struct domain d, x;
	struct names c;
	int64_t owner = 0, n = 0;
	struct err e;

	fill(&d, a1, "b.example", DOMAIN_PENDING, 5000);
	CHECK_INT(store_domain_create(st, &d, &e), 0);
	CHECK(d.row > 0);
	fill(&x, a1, "b.example", DOMAIN_PENDING, 5000);
	CHECK_INT(store_domain_create(st, &x, &e), MC_ERR_EXISTS);
	/* another account may hold a pending claim on the same name */
	fill(&x, a2, "b.example", DOMAIN_PENDING, 5000);
	CHECK_INT(store_domain_create(st, &x, &e), 0);
	CHECK_INT(store_domain_get(st, a1, "b.example", &x, &e), 0);
	CHECK_INT(x.row, d.row);
	CHECK_STR(x.token, "tok-b.example");
	CHECK_INT(store_domain_get_by_row(st, a1, d.row, &x, &e), 0);
	CHECK_STR(x.name, "b.example");
	CHECK_INT(store_domain_get_by_row(st, a2, d.row, &x, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_domain_get(st, a1, "nope.example", &x, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_domain_internal_owner(st, "b.example", &owner, &e), MC_ERR_NOT_FOUND);

	/* a1 verifies first; a2 then cannot, and the failed write leaves the transaction usable */
	d.state = DOMAIN_INTERNAL;
	d.verified = 2000;
	CHECK_INT(store_domain_update(st, &d, &e), 0);
	CHECK_INT(store_domain_internal_owner(st, "b.example", &owner, &e), 0);
	CHECK_INT(owner, a1);
	CHECK_INT(store_tx_begin(st, &e), 0);
	CHECK_INT(store_domain_get(st, a2, "b.example", &x, &e), 0);
	x.state = DOMAIN_INTERNAL;
	CHECK_INT(store_domain_update(st, &x, &e), MC_ERR_EXISTS);
	CHECK_INT(store_domain_set_check(st, x.row, 3000, "err_domain_already_registered", &e), 0);
	CHECK_INT(store_tx_commit(st, &e), 0);
	CHECK_INT(store_domain_get(st, a2, "b.example", &x, &e), 0);
	CHECK_INT(x.state, DOMAIN_PENDING);
	CHECK_INT(x.last_check, 3000);
	CHECK_STR(x.last_result, "err_domain_already_registered");
	/* creating an internal record for an internal name elsewhere fails too */
	fill(&x, a2, "c.example", DOMAIN_INTERNAL, 0);
	CHECK_INT(store_domain_create(st, &x, &e), 0);
	fill(&x, a1, "c.example", DOMAIN_INTERNAL, 0);
	CHECK_INT(store_domain_create(st, &x, &e), MC_ERR_EXISTS);

	/* lists: name order, keyset, pending/internal/all, purge horizon */
	fill(&x, a1, "a.example", DOMAIN_PENDING, 100); /* expired long ago */
	CHECK_INT(store_domain_create(st, &x, &e), 0);
	fill(&x, a1, "d.example", DOMAIN_PENDING, 9000);
	CHECK_INT(store_domain_create(st, &x, &e), 0);
	fill(&x, a1, "e.example", DOMAIN_INTERNAL, 0);
	CHECK_INT(store_domain_create(st, &x, &e), 0);
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_domain_list(st, a1, DOMAIN_LIST_ALL, NULL, 0, 10, collect, &c, &e), 0);
	CHECK_INT(c.n, 4);
	CHECK_STR(c.got[0], "a.example");
	CHECK_STR(c.got[3], "e.example");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_domain_list(st, a1, DOMAIN_LIST_ALL, NULL, 1000, 10, collect, &c, &e), 0);
	CHECK_INT(c.n, 3); /* a.example is past the purge horizon */
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_domain_list(st, a1, DOMAIN_LIST_PENDING, NULL, 0, 10, collect, &c, &e), 0);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.got[1], "d.example");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_domain_list(st, a1, DOMAIN_LIST_INTERNAL, "b.example", 0, 10, collect, &c,
	                            &e),
	          0);
	CHECK_INT(c.n, 1);
	CHECK_STR(c.got[0], "e.example");
	memset(&c, 0, sizeof(c));
	CHECK_INT(store_domain_list(st, a1, DOMAIN_LIST_ALL, "a.example", 0, 2, collect, &c, &e),
	          0);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.got[0], "b.example");
	CHECK_STR(c.got[1], "d.example");

	/* purge and delete */
	CHECK_INT(store_domain_purge(st, 1000, &n, &e), 0);
	CHECK_INT(n, 1);
	CHECK_INT(store_domain_get(st, a1, "a.example", &x, &e), MC_ERR_NOT_FOUND);
	CHECK_INT(store_domain_get(st, a1, "d.example", &x, &e), 0);
	CHECK_INT(store_domain_delete(st, x.row, &e), 0);
	CHECK_INT(store_domain_delete(st, x.row, &e), MC_ERR_NOT_FOUND);
	/* a new record never reuses a deleted row (ids of deleted domains stay dead) */
	fill(&d, a1, "d.example", DOMAIN_PENDING, 9000);
	CHECK_INT(store_domain_create(st, &d, &e), 0);
	CHECK(d.row > x.row);
	/* no such account */
	fill(&x, 999999, "z.example", DOMAIN_PENDING, 9000);
	CHECK_INT(store_domain_create(st, &x, &e), MC_ERR_NOT_FOUND);
}

static void test_ids(void)
{
	unsigned char k1[32], k2[32];
	char id[DOMAIN_ID_SIZE], id2[DOMAIN_ID_SIZE];
	int64_t row = 0;

	random_bytes(RND_INTERNAL, k1, sizeof(k1));
	random_bytes(RND_INTERNAL, k2, sizeof(k2));
	domain_id_encode(k1, 1, id);
	CHECK_INT(strlen(id), DOMAIN_ID_LEN);
	CHECK(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	      DOMAIN_ID_LEN);
	CHECK_INT(domain_id_decode(k1, id, strlen(id), &row), 0);
	CHECK_INT(row, 1);
	domain_id_encode(k1, 1, id2);
	CHECK_STR(id2, id); /* stable */
	domain_id_encode(k1, 2, id2);
	CHECK(strcmp(id, id2) != 0 && strncmp(id, id2, 4) != 0); /* neighbours look unrelated */
	domain_id_encode(k1, INT64_MAX, id2);
	CHECK_INT(domain_id_decode(k1, id2, strlen(id2), &row), 0);
	CHECK(row == INT64_MAX);
	CHECK_INT(domain_id_decode(k2, id, strlen(id), &row), MC_ERR_INVALID);
	for (int i = 0; i < DOMAIN_ID_LEN - 1; i++) {
		char save = id[i];
		id[i] = save == 'A' ? 'B' : 'A';
		CHECK_INT(domain_id_decode(k1, id, strlen(id), &row), MC_ERR_INVALID);
		id[i] = save;
	}
	CHECK_INT(domain_id_decode(k1, id, 21, &row), MC_ERR_INVALID);
	CHECK_INT(domain_id_decode(k1, "", 0, &row), MC_ERR_INVALID);
	CHECK_INT(domain_id_decode(k1, "!!!!!!!!!!!!!!!!!!!!!!", 22, &row), MC_ERR_INVALID);
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
	random_bytes(RND_INTERNAL, key, sizeof(key));
	snprintf(dir, sizeof(dir), "/tmp/mcapi-test-domain-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/test.db", dir);
	cfg.path = db_path;
	cfg.key = key;
	CHECK_INT(store_open(&cfg, &st, &e), 0);
	if (!st)
		return tap_done();
	CHECK(store_schema_version(st) >= 2);
	memset(&a1, 0, sizeof(a1));
	memset(&a2, 0, sizeof(a2));
	memcpy(a1.name, "one", 4);
	memcpy(a2.name, "two", 4);
	memcpy(a1.region, "eu", 3);
	memcpy(a2.region, "eu", 3);
	CHECK_INT(store_account_create(st, &a1, &e), 0);
	CHECK_INT(store_account_create(st, &a2, &e), 0);
	test_records(st, a1.id, a2.id);
	test_ids();
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
	return tap_done();
}
