/* SQLite records of audit events. Each event gets a public id of 16 random bytes in
 * base64url (22 characters): opaque, URL-safe, and unrelated to the row number, so ids
 * reveal neither counts nor order; the integer rowid stays internal for keyset paging. */
#include "sqlite_int.h"

#include "common/b64.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"

#include "common/banned.h"

#define AUDIT_ID_BYTES 16

static const char sql_audit_insert[] =
        "INSERT INTO audit_events(public_id, account_id, event_time, user_name, audit_type, "
        "category, info) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

int sqlite_audit_add(struct store *st, const struct audit_event *ev, struct err *e)
{
	char id[B64_ENCODED_SIZE(AUDIT_ID_BYTES)];
	struct sqlite_q q;
	int rc = sqlite_q_prepare(st, sql_audit_insert, &q, e);

	if (rc)
		goto out;
	/* a clash of 128 random bits does not happen; retry once anyway rather than fail */
	for (int attempt = 0; attempt < 2; attempt++) {
		random_token(RND_AUDIT_ID, AUDIT_ID_BYTES, id, sizeof(id));
		if (sqlite3_bind_text(q.s, 1, id, -1, SQLITE_STATIC) ||
		    (ev->account_id ? sqlite3_bind_int64(q.s, 2, ev->account_id)
		                    : sqlite3_bind_null(q.s, 2)) ||
		    sqlite3_bind_int64(q.s, 3, ev->time ? ev->time : now_ms()) ||
		    sqlite3_bind_text(q.s, 4, ev->user ? ev->user : "", -1, SQLITE_STATIC) ||
		    sqlite3_bind_text(q.s, 5, ev->audit_type, -1, SQLITE_STATIC) ||
		    sqlite3_bind_text(q.s, 6, ev->category, -1, SQLITE_STATIC) ||
		    sqlite3_bind_text(q.s, 7, ev->info ? ev->info : "", -1, SQLITE_STATIC)) {
			rc = sqlite_fail(q.db, sqlite3_errcode(q.db), "add audit event", e);
			goto out;
		}
		rc = sqlite_q_exec(&q, "add audit event", e);
		if (rc == MC_ERR_NOT_FOUND)
			err_set(e, rc, "no account with id %lld", (long long)ev->account_id);
		if (rc != MC_ERR_EXISTS)
			break;
		sqlite3_reset(q.s);
	}
out:
	sqlite_q_done(&q);
	return rc;
}
