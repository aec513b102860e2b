/* Unit tests for page sizes and page tokens (API.md §8): round trip, tampering, tokens of
 * another endpoint or account, clamping, the page_size alias, continuation filters. */
#include "common/crypto.h"
#include "common/err.h"
#include "server/api/paginate.h"
#include "server/server.h"
#include "tap.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static struct server srv;

static void req_setup(struct request *req, const char *path, int64_t account, const char *body)
{
	memset(req, 0, sizeof(*req));
	req->srv = &srv;
	req->path = path;
	req->who.account.id = account;
	req->body = json_loads(body, 0, NULL);
	req->meta = json_object_get(req->body, "meta");
	req->data = json_object_get(req->body, "data");
}

static const char *fail_field(struct response *res)
{
	json_t *f = json_array_get(res->fail, 0);
	json_t *e = json_array_get(json_object_get(f, "errors"), 0);

	return json_string_value(json_object_get(e, "field"));
}

/* page_begin on a body; returns its result and fills pg and res (caller releases). */
static int begin(const char *path, int64_t account, const char *body, struct page *pg,
                 struct response *res)
{
	struct request req;
	int rc;

	req_setup(&req, path, account, body);
	response_init(res);
	rc = page_begin(&req, res, pg);
	json_decref(req.body);
	return rc;
}

static void test_sizes(void)
{
	static const struct {
		const char *body;
		int size;
	} cases[] = {
	        {"{\"data\":[]}", 1000},
	        {"{\"meta\":{\"pagination\":{}},\"data\":[]}", 1000},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":25}}}", 25},
	        {"{\"meta\":{\"pagination\":{\"page_size\":7}}}", 7},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":\"30\"}}}", 30},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":0}}}", 1},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":-5}}}", 1},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":501}}}", 500},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":100000000000}}}", 500},
	        /* what real clients send: numbers of every JSON form, digits in strings */
	        {"{\"meta\":{\"pagination\":{\"pageSize\":100.0}}}", 100},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":1e9}}}", 500},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":-1e9}}}", 1},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":\" 40 \"}}}", 40},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":\"+5\"}}}", 5},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":\"-5\"}}}", 1},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":\"99999999999999999999\"}}}", 500},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":\"\"}}}", 1000},
	        {"{\"meta\":{\"pagination\":{\"page_size\":\"12\"}}}", 12},
	        {"{\"meta\":{\"pagination\":{\"pageSize\":\"\",\"page_size\":3}}}", 3},
	};
	struct page pg;
	struct response res;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(begin("/api/x/list", 1, cases[i].body, &pg, &res), 0);
		CHECK_INT(pg.size, cases[i].size);
		CHECK(json_is_array(pg.filters));
		CHECK(pg.after == NULL);
		page_release(&pg);
		response_release(&res);
	}
	CHECK_INT(begin("/api/x/list", 1, "{\"meta\":{\"pagination\":{\"pageSize\":\"ten\"}}}", &pg,
	                &res),
	          1);
	CHECK_STR(fail_field(&res), "pageSize");
	/* a failed list answer still carries an empty page (§8) */
	CHECK_INT(json_integer_value(json_object_get(res.pagination, "pageSize")), 0);
	CHECK(json_object_get(res.pagination, "next") == NULL);
	page_release(&pg);
	response_release(&res);
	{
		static const char *const bad[] = {
		        "{\"meta\":{\"pagination\":{\"pageSize\":2.5}}}",
		        "{\"meta\":{\"pagination\":{\"pageSize\":true}}}",
		        "{\"meta\":{\"pagination\":{\"pageSize\":\"1e2\"}}}",
		        "{\"meta\":{\"pagination\":{\"pageSize\":\"-\"}}}",
		        "{\"meta\":{\"pagination\":{\"pageSize\":[10]}}}",
		        "{\"meta\":{\"pagination\":\"10\"}}",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			CHECK_INT(begin("/api/x/list", 1, bad[i], &pg, &res), 1);
			CHECK(res.pagination != NULL);
			page_release(&pg);
			response_release(&res);
		}
	}
}

static void test_round_trip(void)
{
	json_t *filters = json_loads("[{\"domain\":\"example.com\"}]", 0, NULL);
	json_t *cursor = json_loads("{\"k\":\"b.example\",\"i\":\"x\"}", 0, NULL);
	json_t *f = NULL, *c = NULL;
	char *tok = page_token_make(srv.page_key, "/api/x/list", 42, filters, cursor);

	CHECK(tok != NULL);
	CHECK(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	      strlen(tok));
	CHECK(strstr(tok, "example") == NULL);
	CHECK_INT(page_token_open(srv.page_key, "/api/x/list", 42, tok, strlen(tok), &f, &c), 0);
	CHECK(json_equal(f, filters));
	CHECK(json_equal(c, cursor));
	json_decref(f);
	json_decref(c);

	/* another endpoint, another account, another key */
	CHECK_INT(page_token_open(srv.page_key, "/api/x/other", 42, tok, strlen(tok), &f, &c),
	          MC_ERR_INVALID);
	CHECK_INT(page_token_open(srv.page_key, "/api/x/list", 43, tok, strlen(tok), &f, &c),
	          MC_ERR_INVALID);
	{
		unsigned char other[32];
		memcpy(other, srv.page_key, 32);
		other[0] ^= 1;
		CHECK_INT(page_token_open(other, "/api/x/list", 42, tok, strlen(tok), &f, &c),
		          MC_ERR_INVALID);
	}
	/* every single-character change is refused */
	for (size_t i = 0; i < strlen(tok); i++) {
		char save = tok[i];
		tok[i] = save == 'A' ? 'B' : 'A';
		if (page_token_open(srv.page_key, "/api/x/list", 42, tok, strlen(tok), &f, &c) ==
		    0) {
			CHECK(!"tampered token accepted");
			json_decref(f);
			json_decref(c);
		}
		tok[i] = save;
	}
	CHECK_INT(page_token_open(srv.page_key, "/api/x/list", 42, tok, strlen(tok) - 1, &f, &c),
	          MC_ERR_INVALID);
	CHECK_INT(page_token_open(srv.page_key, "/api/x/list", 42, "", 0, &f, &c), MC_ERR_INVALID);
	CHECK_INT(page_token_open(srv.page_key, "/api/x/list", 42, "!!!", 3, &f, &c),
	          MC_ERR_INVALID);
	/* two tokens of the same page differ (random nonce) */
	{
		char *tok2 = page_token_make(srv.page_key, "/api/x/list", 42, filters, cursor);
		CHECK(tok2 && strcmp(tok, tok2) != 0);
		free(tok2);
	}
	free(tok);
	json_decref(filters);
	json_decref(cursor);
}

static void test_begin_finish(void)
{
	struct request req;
	struct response res;
	struct page pg;
	json_t *cursor = json_string("m.example");
	const char *next;
	char body[4096];

	/* first page with filters: finish gives next and pageSize */
	req_setup(&req, "/api/domain/get-pending-domain", 7,
	          "{\"data\":[{\"domain\":\"a.example\"}],\"meta\":{\"pagination\":{\"pageSize\":2}"
	          "}}");
	response_init(&res);
	CHECK_INT(page_begin(&req, &res, &pg), 0);
	CHECK_INT(pg.size, 2);
	CHECK_INT(page_finish(&req, &res, &pg, 2, cursor, 10), 0);
	CHECK_INT(json_integer_value(json_object_get(res.pagination, "pageSize")), 2);
	CHECK_INT(json_integer_value(json_object_get(res.pagination, "totalCount")), 10);
	next = json_string_value(json_object_get(res.pagination, "next"));
	CHECK(next != NULL);
	snprintf(body, sizeof(body),
	         "{\"data\":[],\"meta\":{\"pagination\":{\"pageToken\":\"%s\"}}}",
	         next ? next : "");
	page_release(&pg);
	json_decref(req.body);
	response_release(&res);

	/* continuation with empty data: the token's filters and cursor */
	CHECK_INT(begin("/api/domain/get-pending-domain", 7, body, &pg, &res), 0);
	CHECK_INT(pg.size, 1000);
	CHECK_STR(json_string_value(json_object_get(json_array_get(pg.filters, 0), "domain")),
	          "a.example");
	CHECK(json_equal(pg.after, cursor));
	/* last page: no next, no totalCount */
	req_setup(&req, "/api/domain/get-pending-domain", 7, body);
	CHECK_INT(page_finish(&req, &res, &pg, 1, NULL, -1), 0);
	CHECK(json_object_get(res.pagination, "next") == NULL);
	CHECK(json_object_get(res.pagination, "totalCount") == NULL);
	json_decref(req.body);
	page_release(&pg);
	response_release(&res);

	/* the same token on another endpoint or account: invalid pageToken */
	CHECK_INT(begin("/api/domain/get-internal-domain", 7, body, &pg, &res), 1);
	CHECK_STR(fail_field(&res), "pageToken");
	page_release(&pg);
	response_release(&res);
	CHECK_INT(begin("/api/domain/get-pending-domain", 8, body, &pg, &res), 1);
	CHECK_STR(fail_field(&res), "pageToken");
	page_release(&pg);
	response_release(&res);
	CHECK_INT(begin("/api/domain/get-pending-domain", 7,
	                "{\"meta\":{\"pagination\":{\"pageToken\":\"forged\"}}}", &pg, &res),
	          1);
	CHECK_STR(fail_field(&res), "pageToken");
	page_release(&pg);
	response_release(&res);
	CHECK_INT(begin("/api/domain/get-pending-domain", 7,
	                "{\"meta\":{\"pagination\":{\"pageToken\":5}}}", &pg, &res),
	          1);
	page_release(&pg);
	response_release(&res);
	/* an empty token is no token */
	CHECK_INT(begin("/api/domain/get-pending-domain", 7,
	                "{\"meta\":{\"pagination\":{\"pageToken\":\"\"}}}", &pg, &res),
	          0);
	CHECK(pg.after == NULL);
	page_release(&pg);
	response_release(&res);

	/* a token with new filters in data: data wins, the cursor is kept */
	{
		char body2[4200];
		snprintf(body2, sizeof(body2), "{\"data\":[{\"domain\":\"z.example\"}],%s",
		         strstr(body, "\"meta\""));
		CHECK_INT(begin("/api/domain/get-pending-domain", 7, body2, &pg, &res), 0);
		CHECK_STR(
		        json_string_value(json_object_get(json_array_get(pg.filters, 0), "domain")),
		        "z.example");
		CHECK(json_equal(pg.after, cursor));
		page_release(&pg);
		response_release(&res);
	}
	json_decref(cursor);
}

int main(void)
{
	crypto_init();
	random_bytes(RND_INTERNAL, srv.page_key, sizeof(srv.page_key));
	test_sizes();
	test_round_trip();
	test_begin_finish();
	return tap_done();
}
