/* The Account area (API.md §12): get-account reports the caller's account as authentication
 * loaded it from the store (at most auth_cache_ms old), with the 27 fields of the real
 * service in the real service's order (jansson objects keep insertion order, and the
 * response writer keeps it too). docs/account.md says where each value comes from. */
#include "api.h"

#include "common/err.h"
#include "server/server.h"
#include "server/store/store.h"

#include <string.h>

#include "common/banned.h"

/* Adds k: v to obj, counting failures (v NULL or no memory) in *bad. */
static void put(json_t *obj, const char *k, json_t *v, int *bad)
{
	if (!v || json_object_set_new(obj, k, v) != 0)
		(*bad)++;
}

int api_account_get(struct request *req, struct response *res)
{
	const struct account *a = &req->who.account;
	json_t *item = json_object(), *packages;
	int bad = 0;

	if (!item)
		return MC_ERR_NOMEM;
	packages = json_loads(a->packages[0] ? a->packages : "[]", 0, NULL);
	if (!json_is_array(packages)) {
		json_decref(packages);
		packages = json_array();
	}
	put(item, "region", json_string(a->region), &bad);
	put(item, "archive", json_boolean(a->archive), &bad);
	put(item, "gateway", json_true(), &bad);
	put(item, "passphrase", json_string(a->passphrase), &bad);
	put(item, "supportCode", json_string(a->support_code), &bad);
	put(item, "maxRetention", json_integer(a->max_retention), &bad);
	put(item, "maxRetentionConfirmed", json_boolean(a->max_retention_confirmed), &bad);
	put(item, "minRetentionEnabled", json_boolean(a->min_retention_enabled), &bad);
	put(item, "automatedSegmentPurge", json_boolean(a->automated_segment_purge), &bad);
	put(item, "type", json_string(a->type), &bad);
	put(item, "policyInheritance", json_boolean(a->policy_inheritance), &bad);
	put(item, "databaseCode", json_string(a->database_code), &bad);
	put(item, "searchReason", json_boolean(a->search_reason), &bad);
	put(item, "contentAdministratorDefaultView", json_string(a->content_view), &bad);
	put(item, "adminSessionTimeout", json_integer(a->admin_session_timeout), &bad);
	put(item, "exportApi", json_boolean(a->export_api), &bad);
	put(item, "exgestAllowQuery", json_boolean(a->exgest_allow_query), &bad);
	put(item, "accountCode", json_string(a->code), &bad);
	put(item, "accountName", json_string(a->name), &bad);
	put(item, "adminEmail", json_string(a->admin_email), &bad);
	put(item, "contactEmail", json_string(a->contact_email), &bad);
	put(item, "domain", json_string(a->domain), &bad);
	/* as loaded by authentication (auth_cache_ms), kept by the store's triggers */
	put(item, "userCount", json_integer((json_int_t)a->user_count), &bad);
	put(item, "mimecastId", json_string(a->mimecast_id), &bad);
	put(item, "contactName", json_string(a->contact_name), &bad);
	put(item, "telephone", json_string(a->telephone), &bad);
	put(item, "packages", packages, &bad);
	if (bad) {
		json_decref(item);
		return MC_ERR_NOMEM;
	}
	response_add_data(res, item);
	return 0;
}
