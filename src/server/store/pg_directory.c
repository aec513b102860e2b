/* PostgreSQL records of the directory (schema/postgres/007_directory.sql): the twin of
 * sqlite_directory.c. Lists are keyset pages (bytewise order: the columns are COLLATE "C"),
 * counts of members and child groups are read with each group. */
#include "pg_int.h"
#include "store_directory_int.h"

#include "common/err.h"

#include <string.h>

#include "common/banned.h"

#define USER_COLS "id, account_id, email, name, locked_until, created, disabled"
#define GROUP_COLS                                                                                 \
	"g.id, g.account_id, g.name, coalesce(g.parent_id, 0), g.source, g.created, "              \
	"(SELECT count(*) FROM group_members m WHERE m.group_id = g.id), "                         \
	"(SELECT count(*) FROM groups c WHERE c.parent_id = g.id)"
#define MEMBER_COLS "id, group_id, kind, value, created"
#define GROUP_FILTER                                                                               \
	"g.account_id = $1 AND ($2::text = '' OR strpos(lower(g.name), $2::text) > 0) "            \
	"AND ($3::text = '' OR g.source = $3::text)"

static const char sql_user_list_all[] =
        "SELECT " USER_COLS " FROM users WHERE account_id = $1 AND email > $2 "
        "ORDER BY email LIMIT $3";
static const char sql_user_list_domain[] =
        "SELECT " USER_COLS " FROM users WHERE account_id = $1 AND domain = $4 "
        "AND email > $2 ORDER BY email LIMIT $3";
static const char sql_user_count_all[] = "SELECT count(*) FROM users WHERE account_id = $1";
static const char sql_user_count_domain[] =
        "SELECT count(*) FROM users WHERE account_id = $1 AND domain = $2";
static const char sql_group_insert[] =
        "INSERT INTO groups(account_id, name, parent_id, source, created) "
        "SELECT $1::int8, $2::text, nullif($3::int8, 0), $4::text, $5::int8 "
        "WHERE $3::int8 = 0 OR EXISTS (SELECT 1 FROM groups p WHERE p.id = $3::int8 "
        "AND p.account_id = $1::int8) RETURNING id";
static const char sql_group_get[] =
        "SELECT " GROUP_COLS " FROM groups g WHERE g.id = $2 AND g.account_id = $1";
static const char sql_group_find[] =
        "SELECT " GROUP_COLS " FROM groups g WHERE " GROUP_FILTER " ORDER BY g.name, g.id LIMIT $4";
static const char sql_group_find_after[] =
        "SELECT " GROUP_COLS " FROM groups g WHERE " GROUP_FILTER
        " AND (g.name, g.id) > ($5::text, $6::int8) ORDER BY g.name, g.id LIMIT $4";
static const char sql_group_count[] = "SELECT count(*) FROM groups g WHERE " GROUP_FILTER;
static const char sql_member_insert[] =
        "INSERT INTO group_members(group_id, kind, value, created) VALUES ($1, $2, $3, $4) "
        "RETURNING id";
static const char sql_member_delete[] =
        "DELETE FROM group_members WHERE group_id = $1 AND kind = $2 AND value = $3 "
        "RETURNING " MEMBER_COLS;
static const char sql_members[] = "SELECT " MEMBER_COLS " FROM group_members WHERE group_id = $1 "
                                  "AND id > $2 ORDER BY id LIMIT $3";
static const char sql_has_member[] =
        "SELECT 1 FROM group_members m JOIN groups g ON g.id = m.group_id "
        "WHERE g.id = $1 AND g.account_id = $2 AND ((m.kind = 'email' AND m.value = $3) "
        "OR (m.kind = 'domain' AND m.value = $4)) LIMIT 1";

static int64_t lim(size_t limit)
{
	return limit > INT64_MAX ? INT64_MAX : (int64_t)limit;
}

static void user_row(const PGresult *r, int i, struct user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = pg_col_int(r, i, 0);
	u->account_id = pg_col_int(r, i, 1);
	pg_col_text(r, i, 2, u->email, sizeof(u->email));
	pg_col_text(r, i, 3, u->name, sizeof(u->name));
	u->locked_until = pg_col_int(r, i, 4);
	u->created = pg_col_int(r, i, 5);
	u->disabled = pg_col_int(r, i, 6);
}

static void group_row(const PGresult *r, int i, struct group *g)
{
	memset(g, 0, sizeof(*g));
	g->id = pg_col_int(r, i, 0);
	g->account_id = pg_col_int(r, i, 1);
	pg_col_text(r, i, 2, g->name, sizeof(g->name));
	g->parent_id = pg_col_int(r, i, 3);
	pg_col_text(r, i, 4, g->source, sizeof(g->source));
	g->created = pg_col_int(r, i, 5);
	g->user_count = pg_col_int(r, i, 6);
	g->folder_count = pg_col_int(r, i, 7);
}

static void member_row(const PGresult *r, int i, struct group_member *m)
{
	char kind[8];

	memset(m, 0, sizeof(*m));
	m->id = pg_col_int(r, i, 0);
	m->group_id = pg_col_int(r, i, 1);
	pg_col_text(r, i, 2, kind, sizeof(kind));
	m->kind = strcmp(kind, "domain") == 0 ? MEMBER_DOMAIN : MEMBER_EMAIL;
	pg_col_text(r, i, 3, m->value, sizeof(m->value));
	m->created = pg_col_int(r, i, 4);
}

static int count_one(struct store *st, const char *sql, const struct pg_params *p, int64_t *count,
                     const char *what, struct err *e)
{
	PGresult *r = NULL;
	int rc = pg_run(st, sql, PG_READ, p, &r, what, e);

	if (!rc)
		*count = PQntuples(r) ? pg_col_int(r, 0, 0) : 0;
	PQclear(r);
	return rc;
}

static int dir_user_list(struct store *st, int64_t account_id, const char *domain,
                         const char *after, size_t limit,
                         int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	struct user u;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, after, sizeof(u.email));
	pg_p_int(&p, lim(limit));
	if (*domain)
		pg_p_text(&p, domain, MEMBER_VALUE_SIZE);
	rc = pg_run(st, *domain ? sql_user_list_domain : sql_user_list_all, PG_READ, &p, &r,
	            "list users", e);
	if (rc == MC_ERR_NOT_FOUND)
		rc = 0; /* a cursor or domain that is not UTF-8 matches nothing */
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		user_row(r, i, &u);
		rc = fn(arg, &u);
	}
	PQclear(r);
	return rc;
}

static int dir_user_count(struct store *st, int64_t account_id, const char *domain, int64_t *count,
                          struct err *e)
{
	struct pg_params p;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	if (*domain)
		pg_p_text(&p, domain, MEMBER_VALUE_SIZE);
	return count_one(st, *domain ? sql_user_count_domain : sql_user_count_all, &p, count,
	                 "count users", e);
}

static int dir_group_create(struct store *st, struct group *g, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, g->account_id);
	pg_p_text(&p, g->name, sizeof(g->name));
	pg_p_int(&p, g->parent_id);
	pg_p_text(&p, g->source, sizeof(g->source));
	pg_p_int(&p, g->created);
	rc = pg_run(st, sql_group_insert, PG_WRITE, &p, &r, "create group", e);
	if (!rc && PQntuples(r) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no parent group %lld in this account",
		             (long long)g->parent_id);
	else if (!rc)
		g->id = pg_col_int(r, 0, 0);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)g->account_id);
	PQclear(r);
	return rc;
}

static int dir_group_get(struct store *st, int64_t account_id, int64_t id, struct group *out,
                         struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_int(&p, id);
	rc = pg_run(st, sql_group_get, PG_READ, &p, &r, "get group", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such group");
	else if (!rc)
		group_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int dir_group_find(struct store *st, int64_t account_id, const char *query,
                          const char *source, int has_cursor, const char *after_name,
                          int64_t after_id, size_t limit,
                          int (*fn)(void *arg, const struct group *g), void *arg, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	struct group g;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, query, GROUP_NAME_SIZE);
	pg_p_text(&p, source, GROUP_SOURCE_SIZE);
	pg_p_int(&p, lim(limit));
	if (has_cursor) {
		pg_p_text(&p, after_name, GROUP_NAME_SIZE);
		pg_p_int(&p, after_id);
	}
	rc = pg_run(st, has_cursor ? sql_group_find_after : sql_group_find, PG_READ, &p, &r,
	            "find groups", e);
	if (rc == MC_ERR_NOT_FOUND)
		rc = 0;
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		group_row(r, i, &g);
		rc = fn(arg, &g);
	}
	PQclear(r);
	return rc;
}

static int dir_group_count(struct store *st, int64_t account_id, const char *query,
                           const char *source, int64_t *count, struct err *e)
{
	struct pg_params p;

	pg_p_init(&p);
	pg_p_int(&p, account_id);
	pg_p_text(&p, query, GROUP_NAME_SIZE);
	pg_p_text(&p, source, GROUP_SOURCE_SIZE);
	return count_one(st, sql_group_count, &p, count, "count groups", e);
}

static int dir_member_add(struct store *st, struct group_member *m, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, m->group_id);
	pg_p_text(&p, store_member_kind_name(m->kind), 8);
	pg_p_text(&p, m->value, sizeof(m->value));
	pg_p_int(&p, m->created);
	rc = pg_run(st, sql_member_insert, PG_WRITE, &p, &r, "add group member", e);
	if (!rc)
		m->id = pg_col_int(r, 0, 0);
	else if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "the group holds '%s' already", m->value);
	PQclear(r);
	return rc;
}

static int dir_member_remove(struct store *st, int64_t group_id, int32_t kind, const char *value,
                             struct group_member *out, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, group_id);
	pg_p_text(&p, store_member_kind_name(kind), 8);
	pg_p_text(&p, value, MEMBER_VALUE_SIZE);
	rc = pg_run(st, sql_member_delete, PG_WRITE, &p, &r, "remove group member", e);
	if (rc == MC_ERR_NOT_FOUND || (!rc && PQntuples(r) == 0))
		rc = err_set(e, MC_ERR_NOT_FOUND, "the group does not hold '%s'", value);
	else if (!rc)
		member_row(r, 0, out);
	PQclear(r);
	return rc;
}

static int dir_members(struct store *st, int64_t group_id, int64_t after_id, size_t limit,
                       int (*fn)(void *arg, const struct group_member *m), void *arg, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	struct group_member m;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, group_id);
	pg_p_int(&p, after_id);
	pg_p_int(&p, lim(limit));
	rc = pg_run(st, sql_members, PG_READ, &p, &r, "list group members", e);
	for (int i = 0; !rc && r && i < PQntuples(r); i++) {
		member_row(r, i, &m);
		rc = fn(arg, &m);
	}
	PQclear(r);
	return rc;
}

static int dir_has_member(struct store *st, int64_t account_id, int64_t group_id, const char *addr,
                          const char *domain, int *yes, struct err *e)
{
	struct pg_params p;
	PGresult *r = NULL;
	int rc;

	pg_p_init(&p);
	pg_p_int(&p, group_id);
	pg_p_int(&p, account_id);
	pg_p_text(&p, addr, MEMBER_VALUE_SIZE);
	pg_p_text(&p, domain, MEMBER_VALUE_SIZE);
	rc = pg_run(st, sql_has_member, PG_READ, &p, &r, "check group member", e);
	if (rc == MC_ERR_NOT_FOUND)
		rc = 0; /* text that is not UTF-8 is no member */
	else if (!rc)
		*yes = PQntuples(r) > 0;
	PQclear(r);
	return rc;
}

const struct store_directory_ops pg_directory_ops = {
        .user_list = dir_user_list,
        .user_count = dir_user_count,
        .group_create = dir_group_create,
        .group_get = dir_group_get,
        .group_find = dir_group_find,
        .group_count = dir_group_count,
        .member_add = dir_member_add,
        .member_remove = dir_member_remove,
        .members = dir_members,
        .has_member = dir_has_member,
};
