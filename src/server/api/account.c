/* The Account area (API.md §12): get-account reports the caller's account as authentication
 * loaded it from the store (at most auth_cache_ms old). */
#include "api.h"

#include "common/err.h"
#include "server/server.h"
#include "server/store/store.h"

#include <string.h>

#include "common/banned.h"

int api_account_get(struct request *req, struct response *res)
{
	const struct account *a = &req->who.account;
	int64_t users = a->user_count; /* as loaded by authentication (auth_cache_ms) */
	json_t *item, *packages;

	packages = json_loads(a->packages[0] ? a->packages : "[]", 0, NULL);
	if (!json_is_array(packages)) {
		json_decref(packages);
		packages = json_array();
	}
	item = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:b, s:b, s:s, s:s, s:o}",
	                 "accountCode", a->code, "accountName", a->name, "region", a->region,
	                 "adminEmail", a->admin_email, "userCount", (json_int_t)users, "mimecastId",
	                 a->mimecast_id, "maxRetention", (int)a->max_retention, "archive", 0,
	                 "gateway", 1, "domain", a->domain, "type", a->type, "packages", packages);
	if (!item)
		return MC_ERR_NOMEM;
	response_add_data(res, item);
	return 0;
}
