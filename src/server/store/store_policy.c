/* The public sender-policy functions of the store (store_policy.h): argument checks and
 * lower-casing here, then a call through the backend's table (store_ops.policy). */
#include "store_int.h"
#include "store_policy_int.h"

#include "common/date.h"
#include "common/err.h"

#include <string.h>

#include "common/banned.h"

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

int store_policy_put(struct store *st, struct sender_policy *p, struct err *e)
{
	int64_t now = now_ms();

	if (!terminated(p->description, sizeof(p->description)) ||
	    !terminated(p->comment, sizeof(p->comment)) ||
	    !terminated(p->from_part, sizeof(p->from_part)) ||
	    !terminated(p->from_type, sizeof(p->from_type)) ||
	    !terminated(p->from_value, sizeof(p->from_value)) ||
	    !terminated(p->to_type, sizeof(p->to_type)) ||
	    !terminated(p->to_value, sizeof(p->to_value)))
		return err_set(e, MC_ERR_INVALID, "a policy field is not terminated");
	if ((p->kind != POLICY_BLOCKED_SENDERS && p->kind != POLICY_MANAGED_SENDER) ||
	    p->action < POLICY_BLOCK || p->action > POLICY_NO_ACTION)
		return err_set(e, MC_ERR_INVALID, "policy kind %d or action %d is not valid",
		               (int)p->kind, (int)p->action);
	lower(p->from_value);
	lower(p->to_value);
	if (!p->created)
		p->created = now;
	if (!p->updated)
		p->updated = p->created;
	return st->ops->policy->put(st, p, e);
}

int store_policy_get(struct store *st, int64_t account_id, int64_t id, struct sender_policy *out,
                     struct err *e)
{
	return st->ops->policy->get(st, account_id, id, out, e);
}

int store_policy_delete(struct store *st, int64_t account_id, int64_t id, struct err *e)
{
	return st->ops->policy->delete_row(st, account_id, id, e);
}

int store_policy_list(struct store *st, int64_t account_id, int kind, int64_t after_id,
                      size_t limit, int (*fn)(void *arg, const struct sender_policy *p), void *arg,
                      struct err *e)
{
	if (limit == 0)
		return 0;
	return st->ops->policy->list(st, account_id, kind, after_id, limit, fn, arg, e);
}

/* A lower-case copy of addr and of its domain into the keys; "" or too long names nothing
 * (a value longer than POLICY_VALUE_SIZE cannot be stored, so it cannot match). */
static void addr_keys(const char *addr, char a[POLICY_VALUE_SIZE], const char **ka, const char **kd)
{
	const char *at;

	*ka = *kd = NULL;
	if (!addr || !*addr || strlen(addr) >= POLICY_VALUE_SIZE)
		return;
	memcpy(a, addr, strlen(addr) + 1);
	lower(a);
	*ka = a;
	at = strrchr(a, '@');
	if (at && at[1])
		*kd = at + 1;
}

int store_policy_candidates(struct store *st, int64_t account_id, const char *sender,
                            const char *rcpt, int (*fn)(void *arg, const struct sender_policy *p),
                            void *arg, struct err *e)
{
	char s[POLICY_VALUE_SIZE], r[POLICY_VALUE_SIZE];
	const char *keys[4];

	addr_keys(sender, s, &keys[0], &keys[1]);
	addr_keys(rcpt, r, &keys[2], &keys[3]);
	return st->ops->policy->candidates(st, account_id, keys, fn, arg, e);
}
