/* The public directory functions of the store (store_directory.h): argument checks and
 * lower-casing here, then a call through the backend's directory table
 * (store_ops.directory). */
#include "store_directory_int.h"
#include "store_int.h"

#include "common/date.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

const char *store_member_kind_name(int32_t kind)
{
	return kind == MEMBER_DOMAIN ? "domain" : "email";
}

/* Copies s lower-cased (ASCII) into dst; MC_ERR_INVALID if it is empty or does not fit. */
static int lower_copy(char *dst, size_t size, const char *s, const char *what, struct err *e)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= size)
		return err_set(e, MC_ERR_INVALID, "%s is empty or too long", what);
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	dst[n] = '\0';
	return 0;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

int store_dir_user_list(struct store *st, int64_t account_id, const char *domain, const char *after,
                        size_t limit, int (*fn)(void *arg, const struct user *u), void *arg,
                        struct err *e)
{
	char dom[MEMBER_VALUE_SIZE] = "";

	if (limit == 0)
		return 0;
	if (domain && *domain && lower_copy(dom, sizeof(dom), domain, "a domain", e))
		return MC_ERR_INVALID;
	return st->ops->directory->user_list(st, account_id, dom, or_empty(after), limit, fn, arg,
	                                     e);
}

int store_dir_user_count(struct store *st, int64_t account_id, const char *domain, int64_t *count,
                         struct err *e)
{
	char dom[MEMBER_VALUE_SIZE] = "";

	if (domain && *domain && lower_copy(dom, sizeof(dom), domain, "a domain", e))
		return MC_ERR_INVALID;
	return st->ops->directory->user_count(st, account_id, dom, count, e);
}

int store_group_create(struct store *st, struct group *g, struct err *e)
{
	if (!memchr(g->name, '\0', sizeof(g->name)) || !g->name[0])
		return err_set(e, MC_ERR_INVALID, "a group needs a name of at most %d bytes",
		               GROUP_NAME_SIZE - 1);
	if (!memchr(g->source, '\0', sizeof(g->source)))
		return err_set(e, MC_ERR_INVALID, "a group source is not terminated");
	if (!g->source[0])
		snprintf(g->source, sizeof(g->source), "cloud");
	if (g->parent_id < 0)
		return err_set(e, MC_ERR_INVALID, "a parent id is negative");
	if (!g->created)
		g->created = now_ms();
	g->user_count = 0;
	g->folder_count = 0;
	return st->ops->directory->group_create(st, g, e);
}

int store_group_get(struct store *st, int64_t account_id, int64_t id, struct group *out,
                    struct err *e)
{
	return st->ops->directory->group_get(st, account_id, id, out, e);
}

static int lower_query(char *dst, size_t size, const char *query, struct err *e)
{
	dst[0] = '\0';
	if (query && *query)
		return lower_copy(dst, size, query, "a group query", e);
	return 0;
}

int store_group_find(struct store *st, int64_t account_id, const char *query, const char *source,
                     const char *after_name, int64_t after_id, size_t limit,
                     int (*fn)(void *arg, const struct group *g), void *arg, struct err *e)
{
	char q[GROUP_NAME_SIZE];
	int rc;

	if (limit == 0)
		return 0;
	if ((rc = lower_query(q, sizeof(q), query, e)) != 0)
		return rc;
	return st->ops->directory->group_find(st, account_id, q, or_empty(source),
	                                      after_name != NULL, or_empty(after_name), after_id,
	                                      limit, fn, arg, e);
}

int store_group_count(struct store *st, int64_t account_id, const char *query, const char *source,
                      int64_t *count, struct err *e)
{
	char q[GROUP_NAME_SIZE];
	int rc;

	if ((rc = lower_query(q, sizeof(q), query, e)) != 0)
		return rc;
	return st->ops->directory->group_count(st, account_id, q, or_empty(source), count, e);
}

/* The group must exist in the account before its members are touched. */
static int own_group(struct store *st, int64_t account_id, int64_t group_id, struct err *e)
{
	struct group g;

	return store_group_get(st, account_id, group_id, &g, e);
}

int store_group_member_add(struct store *st, int64_t account_id, int64_t group_id,
                           enum member_kind kind, const char *value, struct group_member *out,
                           struct err *e)
{
	struct group_member m;
	int rc;

	memset(&m, 0, sizeof(m));
	if (kind != MEMBER_EMAIL && kind != MEMBER_DOMAIN)
		return err_set(e, MC_ERR_INVALID, "member kind %d is not valid", (int)kind);
	if ((rc = lower_copy(m.value, sizeof(m.value), value, "a member", e)) != 0)
		return rc;
	if ((rc = own_group(st, account_id, group_id, e)) != 0)
		return rc;
	m.group_id = group_id;
	m.kind = kind;
	m.created = now_ms();
	rc = st->ops->directory->member_add(st, &m, e);
	if (!rc && out)
		*out = m;
	return rc;
}

int store_group_member_remove(struct store *st, int64_t account_id, int64_t group_id,
                              enum member_kind kind, const char *value, struct group_member *out,
                              struct err *e)
{
	struct group_member m;
	char v[MEMBER_VALUE_SIZE];
	int rc;

	if ((rc = lower_copy(v, sizeof(v), value, "a member", e)) != 0)
		return rc;
	if ((rc = own_group(st, account_id, group_id, e)) != 0)
		return rc;
	rc = st->ops->directory->member_remove(st, group_id, kind, v, &m, e);
	if (!rc && out)
		*out = m;
	return rc;
}

int store_group_members(struct store *st, int64_t account_id, int64_t group_id, int64_t after_id,
                        size_t limit, int (*fn)(void *arg, const struct group_member *m), void *arg,
                        struct err *e)
{
	int rc = own_group(st, account_id, group_id, e);

	if (rc || limit == 0)
		return rc;
	return st->ops->directory->members(st, group_id, after_id, limit, fn, arg, e);
}

int store_group_has_member(struct store *st, int64_t account_id, int64_t group_id, const char *addr,
                           int *yes, struct err *e)
{
	char a[MEMBER_VALUE_SIZE];
	const char *at;
	int rc;

	*yes = 0;
	if ((rc = lower_copy(a, sizeof(a), addr, "an address", e)) != 0)
		return rc;
	at = strrchr(a, '@');
	return st->ops->directory->has_member(st, account_id, group_id, a, at ? at + 1 : "", yes,
	                                      e);
}
