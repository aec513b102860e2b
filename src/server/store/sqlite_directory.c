/* SQLite records of the directory (schema/sqlite/007_directory.sql): users listed by their
 * computed domain column in address order, groups in (name, id) keyset pages with their
 * member and child counts, and group members. Every list is a keyset page over an index,
 * so a page costs the same however many records come before it. */
#include "sqlite_int.h"
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
/* ?2 query ("" = all), ?3 source ("" = any) */
#define GROUP_FILTER                                                                               \
	"g.account_id = ?1 AND (?2 = '' OR instr(lower(g.name), ?2) > 0) "                         \
	"AND (?3 = '' OR g.source = ?3)"

static const char sql_user_list_all[] = "SELECT " USER_COLS " FROM users WHERE account_id = ?1 "
                                        "AND email > ?3 ORDER BY email LIMIT ?4";
static const char sql_user_list_domain[] =
        "SELECT " USER_COLS " FROM users WHERE account_id = ?1 AND domain = ?2 "
        "AND email > ?3 ORDER BY email LIMIT ?4";
static const char sql_user_count_all[] = "SELECT count(*) FROM users WHERE account_id = ?1";
static const char sql_user_count_domain[] =
        "SELECT count(*) FROM users WHERE account_id = ?1 AND domain = ?2";
static const char sql_group_insert[] =
        "INSERT INTO groups(account_id, name, parent_id, source, created) "
        "SELECT ?1, ?2, nullif(?3, 0), ?4, ?5 "
        "WHERE ?3 = 0 OR EXISTS (SELECT 1 FROM groups p WHERE p.id = ?3 AND p.account_id = ?1)";
static const char sql_group_get[] =
        "SELECT " GROUP_COLS " FROM groups g WHERE g.id = ?2 AND g.account_id = ?1";
static const char sql_group_find[] =
        "SELECT " GROUP_COLS " FROM groups g WHERE " GROUP_FILTER " ORDER BY g.name, g.id LIMIT ?6";
static const char sql_group_find_after[] =
        "SELECT " GROUP_COLS " FROM groups g WHERE " GROUP_FILTER
        " AND (g.name, g.id) > (?4, ?5) ORDER BY g.name, g.id LIMIT ?6";
static const char sql_group_count[] = "SELECT count(*) FROM groups g WHERE " GROUP_FILTER;
static const char sql_member_insert[] =
        "INSERT INTO group_members(group_id, kind, value, created) VALUES (?1, ?2, ?3, ?4)";
static const char sql_member_get[] =
        "SELECT " MEMBER_COLS " FROM group_members WHERE group_id = ?1 AND kind = ?2 "
        "AND value = ?3";
static const char sql_member_delete[] = "DELETE FROM group_members WHERE id = ?1";
static const char sql_members[] = "SELECT " MEMBER_COLS " FROM group_members WHERE group_id = ?1 "
                                  "AND id > ?2 ORDER BY id LIMIT ?3";
static const char sql_has_member[] =
        "SELECT 1 FROM group_members m JOIN groups g ON g.id = m.group_id "
        "WHERE g.id = ?1 AND g.account_id = ?2 AND ((m.kind = 'email' AND m.value = ?3) "
        "OR (m.kind = 'domain' AND m.value = ?4)) LIMIT 1";

static int bind_fail(struct sqlite_q *q, const char *what, struct err *e)
{
	return sqlite_fail(q->db, sqlite3_errcode(q->db), what, e);
}

static int64_t lim(size_t limit)
{
	return limit > INT64_MAX ? INT64_MAX : (int64_t)limit;
}

static void user_row(struct sqlite_q *q, struct user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(q->s, 0);
	u->account_id = sqlite3_column_int64(q->s, 1);
	sqlite_col_text(q, 2, u->email, sizeof(u->email));
	sqlite_col_text(q, 3, u->name, sizeof(u->name));
	u->locked_until = sqlite3_column_int64(q->s, 4);
	u->created = sqlite3_column_int64(q->s, 5);
	u->disabled = sqlite3_column_int64(q->s, 6);
}

static void group_row(struct sqlite_q *q, struct group *g)
{
	memset(g, 0, sizeof(*g));
	g->id = sqlite3_column_int64(q->s, 0);
	g->account_id = sqlite3_column_int64(q->s, 1);
	sqlite_col_text(q, 2, g->name, sizeof(g->name));
	g->parent_id = sqlite3_column_int64(q->s, 3);
	sqlite_col_text(q, 4, g->source, sizeof(g->source));
	g->created = sqlite3_column_int64(q->s, 5);
	g->user_count = sqlite3_column_int64(q->s, 6);
	g->folder_count = sqlite3_column_int64(q->s, 7);
}

static void member_row(struct sqlite_q *q, struct group_member *m)
{
	char kind[8];

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(q->s, 0);
	m->group_id = sqlite3_column_int64(q->s, 1);
	sqlite_col_text(q, 2, kind, sizeof(kind));
	m->kind = strcmp(kind, "domain") == 0 ? MEMBER_DOMAIN : MEMBER_EMAIL;
	sqlite_col_text(q, 3, m->value, sizeof(m->value));
	m->created = sqlite3_column_int64(q->s, 4);
}

/* Steps a count(*) query into *count. */
static int count_step(struct sqlite_q *q, int64_t *count, const char *what, struct err *e)
{
	int rc = sqlite3_step(q->s);

	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(q->s, 0);
		return 0;
	}
	return sqlite_fail(q->db, rc, what, e);
}

static int dir_user_list(struct store *st, int64_t account_id, const char *domain,
                         const char *after, size_t limit,
                         int (*fn)(void *arg, const struct user *u), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct user u;
	int rc = sqlite_q_prepare(st, *domain ? sql_user_list_domain : sql_user_list_all, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) ||
	    (*domain && sqlite_bind_text(&q, 2, domain, MEMBER_VALUE_SIZE)) ||
	    sqlite_bind_text(&q, 3, after, sizeof(u.email)) ||
	    sqlite3_bind_int64(q.s, 4, lim(limit))) {
		rc = bind_fail(&q, "list users", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		user_row(&q, &u);
		if ((rc = fn(arg, &u)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list users", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dir_user_count(struct store *st, int64_t account_id, const char *domain, int64_t *count,
                          struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, *domain ? sql_user_count_domain : sql_user_count_all, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) ||
	    (*domain && sqlite_bind_text(&q, 2, domain, MEMBER_VALUE_SIZE))) {
		rc = bind_fail(&q, "count users", e);
		goto out;
	}
	rc = count_step(&q, count, "count users", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dir_group_create(struct store *st, struct group *g, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_group_insert, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, g->account_id) ||
	    sqlite_bind_text(&q, 2, g->name, sizeof(g->name)) ||
	    sqlite3_bind_int64(q.s, 3, g->parent_id) ||
	    sqlite_bind_text(&q, 4, g->source, sizeof(g->source)) ||
	    sqlite3_bind_int64(q.s, 5, g->created)) {
		rc = bind_fail(&q, "create group", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "create group", e);
	if (!rc && sqlite3_changes(q.db) == 0)
		rc = err_set(e, MC_ERR_NOT_FOUND, "no parent group %lld in this account",
		             (long long)g->parent_id);
	else if (!rc)
		g->id = sqlite3_last_insert_rowid(q.db);
	else if (rc == MC_ERR_NOT_FOUND)
		err_set(e, rc, "no account with id %lld", (long long)g->account_id);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dir_group_get(struct store *st, int64_t account_id, int64_t id, struct group *out,
                         struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_group_get, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, account_id) || sqlite3_bind_int64(q.s, 2, id)) {
		rc = bind_fail(&q, "get group", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW) {
		group_row(&q, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = err_set(e, MC_ERR_NOT_FOUND, "no such group");
	} else {
		rc = sqlite_fail(q.db, rc, "get group", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

static int bind_filter(struct sqlite_q *q, int64_t account_id, const char *query,
                       const char *source)
{
	return sqlite3_bind_int64(q->s, 1, account_id) ||
	       sqlite_bind_text(q, 2, query, GROUP_NAME_SIZE) ||
	       sqlite_bind_text(q, 3, source, GROUP_SOURCE_SIZE);
}

static int dir_group_find(struct store *st, int64_t account_id, const char *query,
                          const char *source, int has_cursor, const char *after_name,
                          int64_t after_id, size_t limit,
                          int (*fn)(void *arg, const struct group *g), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct group g;
	int rc = sqlite_q_prepare(st, has_cursor ? sql_group_find_after : sql_group_find, &q, e);

	if (rc)
		goto out;
	if (bind_filter(&q, account_id, query, source) ||
	    (has_cursor && (sqlite_bind_text(&q, 4, after_name, GROUP_NAME_SIZE) ||
	                    sqlite3_bind_int64(q.s, 5, after_id))) ||
	    sqlite3_bind_int64(q.s, 6, lim(limit))) {
		rc = bind_fail(&q, "find groups", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		group_row(&q, &g);
		if ((rc = fn(arg, &g)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "find groups", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dir_group_count(struct store *st, int64_t account_id, const char *query,
                           const char *source, int64_t *count, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_group_count, &q, e);

	if (rc)
		goto out;
	if (bind_filter(&q, account_id, query, source)) {
		rc = bind_fail(&q, "count groups", e);
		goto out;
	}
	rc = count_step(&q, count, "count groups", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dir_member_add(struct store *st, struct group_member *m, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_member_insert, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, m->group_id) ||
	    sqlite3_bind_text(q.s, 2, store_member_kind_name(m->kind), -1, SQLITE_STATIC) ||
	    sqlite_bind_text(&q, 3, m->value, sizeof(m->value)) ||
	    sqlite3_bind_int64(q.s, 4, m->created)) {
		rc = bind_fail(&q, "add group member", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "add group member", e);
	if (!rc)
		m->id = sqlite3_last_insert_rowid(q.db);
	else if (rc == MC_ERR_EXISTS)
		err_set(e, rc, "the group holds '%s' already", m->value);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dir_member_remove(struct store *st, int64_t group_id, int32_t kind, const char *value,
                             struct group_member *out, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_member_get, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, group_id) ||
	    sqlite3_bind_text(q.s, 2, store_member_kind_name(kind), -1, SQLITE_STATIC) ||
	    sqlite_bind_text(&q, 3, value, MEMBER_VALUE_SIZE)) {
		rc = bind_fail(&q, "find group member", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_DONE) {
		rc = err_set(e, MC_ERR_NOT_FOUND, "the group does not hold '%s'", value);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = sqlite_fail(q.db, rc, "find group member", e);
		goto out;
	}
	member_row(&q, out);
	sqlite_q_done(&q);
	rc = sqlite_q_prepare(st, sql_member_delete, &q, e);
	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, out->id)) {
		rc = bind_fail(&q, "remove group member", e);
		goto out;
	}
	rc = sqlite_q_exec(&q, "remove group member", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dir_members(struct store *st, int64_t group_id, int64_t after_id, size_t limit,
                       int (*fn)(void *arg, const struct group_member *m), void *arg, struct err *e)
{
	struct sqlite_q q;
	struct group_member m;
	int rc = sqlite_q_prepare(st, sql_members, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, group_id) || sqlite3_bind_int64(q.s, 2, after_id) ||
	    sqlite3_bind_int64(q.s, 3, lim(limit))) {
		rc = bind_fail(&q, "list group members", e);
		goto out;
	}
	while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
		member_row(&q, &m);
		if ((rc = fn(arg, &m)) != 0)
			goto out;
	}
	rc = rc == SQLITE_DONE ? 0 : sqlite_fail(q.db, rc, "list group members", e);
out:
	sqlite_q_done(&q);
	return rc;
}

static int dir_has_member(struct store *st, int64_t account_id, int64_t group_id, const char *addr,
                          const char *domain, int *yes, struct err *e)
{
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_has_member, &q, e);

	if (rc)
		goto out;
	if (sqlite3_bind_int64(q.s, 1, group_id) || sqlite3_bind_int64(q.s, 2, account_id) ||
	    sqlite_bind_text(&q, 3, addr, MEMBER_VALUE_SIZE) ||
	    sqlite_bind_text(&q, 4, domain, MEMBER_VALUE_SIZE)) {
		rc = bind_fail(&q, "check group member", e);
		goto out;
	}
	rc = sqlite3_step(q.s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		*yes = rc == SQLITE_ROW;
		rc = 0;
	} else {
		rc = sqlite_fail(q.db, rc, "check group member", e);
	}
out:
	sqlite_q_done(&q);
	return rc;
}

const struct store_directory_ops sqlite_directory_ops = {
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
