/* The Account area (API.md §12): get-account reports the caller's account as authentication
 * loaded it from the store (at most auth_cache_ms old), with the 27 fields of the real
 * service in the real service's order. docs/account.md says where each value comes from. */
#include "api.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "server/server.h"
#include "server/store/store.h"

#include <string.h>

#include "common/banned.h"

/* Appends ,"key":true|false. */
static int put_bool(struct buf *b, const char *key, int v)
{
	int rc = buf_add(b, ",\"", 2);
	if (!rc)
		rc = buf_add(b, key, strlen(key));
	if (!rc)
		rc = v ? buf_add(b, "\":true", 6) : buf_add(b, "\":false", 7);
	return rc;
}

/* Appends ,"key":N. */
static int put_int(struct buf *b, const char *key, int64_t v)
{
	int rc = buf_add(b, ",\"", 2);
	if (!rc)
		rc = buf_add(b, key, strlen(key));
	if (!rc)
		rc = buf_add(b, "\":", 2);
	return rc ? rc : buf_add_i64(b, (long long)v);
}

static int put_str(struct buf *b, const char *key, const char *v)
{
	return json_write_member(b, 0, key, v);
}

/* The stored packages: a JSON array of strings validated when it was written (admin), so it
 * is copied as it is rather than parsed on every call; anything else shows as []. */
static int put_packages(struct buf *b, const char *packages)
{
	size_t n = strlen(packages);
	int rc = buf_add(b, ",\"packages\":", 12);

	if (rc)
		return rc;
	if (n >= 2 && packages[0] == '[' && packages[n - 1] == ']')
		return buf_add(b, packages, n);
	return buf_add(b, "[]", 2);
}

/* Written straight into the answer, in the recording's order: no JSON tree per call (this is
 * the most polled call of all). */
int api_account_get(struct request *req, struct response *res)
{
	const struct account *a = &req->who.account;
	struct buf *b = response_raw_item(res);
	int rc;

	if (!b)
		return MC_ERR_NOMEM;
	rc = buf_add(b, "{", 1) || json_write_member(b, 1, "region", a->region);
	if (rc == 0)
		rc = put_bool(b, "archive", a->archive) || put_bool(b, "gateway", 1) ||
		     put_str(b, "passphrase", a->passphrase) ||
		     put_str(b, "supportCode", a->support_code) ||
		     put_int(b, "maxRetention", a->max_retention) ||
		     put_bool(b, "maxRetentionConfirmed", a->max_retention_confirmed) ||
		     put_bool(b, "minRetentionEnabled", a->min_retention_enabled) ||
		     put_bool(b, "automatedSegmentPurge", a->automated_segment_purge) ||
		     put_str(b, "type", a->type) ||
		     put_bool(b, "policyInheritance", a->policy_inheritance) ||
		     put_str(b, "databaseCode", a->database_code) ||
		     put_bool(b, "searchReason", a->search_reason) ||
		     put_str(b, "contentAdministratorDefaultView", a->content_view) ||
		     put_int(b, "adminSessionTimeout", a->admin_session_timeout) ||
		     put_bool(b, "exportApi", a->export_api) ||
		     put_bool(b, "exgestAllowQuery", a->exgest_allow_query) ||
		     put_str(b, "accountCode", a->code) || put_str(b, "accountName", a->name) ||
		     put_str(b, "adminEmail", a->admin_email) ||
		     put_str(b, "contactEmail", a->contact_email) ||
		     put_str(b, "domain", a->domain) ||
		     /* as loaded by authentication (auth_cache_ms), kept by the store's triggers */
		     put_int(b, "userCount", a->user_count) ||
		     put_str(b, "mimecastId", a->mimecast_id) ||
		     put_str(b, "contactName", a->contact_name) ||
		     put_str(b, "telephone", a->telephone) || put_packages(b, a->packages) ||
		     buf_add(b, "}", 1);
	return rc ? MC_ERR_NOMEM : 0;
}
