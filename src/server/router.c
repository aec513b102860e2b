/* The endpoint table; see router.h. Each row declares its permission (API.md §5, §9,
 * §12, §16: the names the public documentation gives each endpoint); the pipeline checks it
 * before the handler runs. */
#include "router.h"

#include "server/api/api.h"
#include "server/perm.h"

#include <string.h>

#include "common/banned.h"

static const struct route routes[] = {
        {"/api/account/get-account", ROUTE_SIGNED, PERM_ACCOUNT_DASHBOARD_READ, 0, api_account_get},
        {"/api/domain/create-domain", ROUTE_SIGNED, PERM_DIR_INTERNAL_REGISTER, 0,
         api_domain_create},
        {"/api/domain/get-pending-domain", ROUTE_SIGNED, PERM_DIR_INTERNAL_REGISTER, 0,
         api_domain_get_pending},
        {"/api/domain/get-verification-code", ROUTE_SIGNED, PERM_DIR_INTERNAL_REGISTER, 0,
         api_domain_get_verification_code},
        {"/api/domain/verify-domain", ROUTE_SIGNED, PERM_DIR_INTERNAL_REGISTER, 0,
         api_domain_verify},
        {"/api/domain/get-provision-status", ROUTE_SIGNED, PERM_DIR_INTERNAL_REGISTER, 0,
         api_domain_get_provision_status},
        {"/api/domain/get-internal-domain", ROUTE_SIGNED, PERM_DIR_INTERNAL_READ, 0,
         api_domain_get_internal},
        {"/api/domain/delete-pending-domain", ROUTE_SIGNED, PERM_DIR_INTERNAL_REGISTER, 0,
         api_domain_delete_pending},
        {"/api/login/discover-authentication", ROUTE_APP_ONLY, PERM_NONE, 0, api_login_discover},
        {"/api/login/login", ROUTE_APP_ONLY, PERM_NONE, 0, api_login_login},
        {"/api/login/logout", ROUTE_SIGNED, PERM_NONE, ROUTE_FORM_BODY_OK, api_login_logout},
        {"/api/audit/get-audit-events", ROUTE_SIGNED, PERM_ACCOUNT_LOGS_READ, 0,
         api_audit_get_events},
        {"/api/audit/get-categories", ROUTE_SIGNED, PERM_ACCOUNT_LOGS_READ, 0,
         api_audit_get_categories},
        {"/api/audit/get-siem-logs", ROUTE_SIGNED, PERM_TRACKING_READ, 0, api_siem_get_logs},
        {"/api/gateway/get-hold-message-list", ROUTE_SIGNED, PERM_ACCOUNT_DASHBOARD_READ, 0,
         api_hold_list},
        {"/api/gateway/get-hold-summary-list", ROUTE_SIGNED, PERM_HELD_SUMMARY_READ, 0,
         api_hold_summary},
        {"/api/gateway/hold-release", ROUTE_SIGNED, PERM_HELD_EDIT, 0, api_hold_release},
        {"/api/gateway/hold-reject", ROUTE_SIGNED, PERM_HELD_EDIT, 0, api_hold_reject},
        {"/api/gateway/find-processing-messages", ROUTE_SIGNED, PERM_PROCESSING_READ, 0,
         api_processing_find},
        {"/api/message-finder/search", ROUTE_SIGNED, PERM_TRACKING_READ, 0, api_finder_search},
        {"/api/message-finder/get-message-info", ROUTE_SIGNED, PERM_TRACKING_READ, 0,
         api_finder_get_info},
        {"/api/email/get-email-queues", ROUTE_SIGNED, PERM_ACCOUNT_DASHBOARD_READ, 0,
         api_queues_get},
        /* sender policies (§18) */
        {"/api/managedsender/permit-or-block-sender", ROUTE_SIGNED, PERM_MANAGED_SENDERS_EDIT, 0,
         api_policy_permit_or_block},
        {"/api/policy/blockedsenders/create-policy", ROUTE_SIGNED, PERM_POLICIES_EDIT, 0,
         api_policy_create},
        {"/api/policy/blockedsenders/get-policy", ROUTE_SIGNED, PERM_POLICIES_READ, 0,
         api_policy_get},
        {"/api/policy/blockedsenders/delete-policy", ROUTE_SIGNED, PERM_POLICIES_EDIT, 0,
         api_policy_delete},
        /* TTP URL protection (§16.3) */
        {"/api/ttp/url/decode-url", ROUTE_SIGNED, PERM_URL_PROTECT_READ, 0, api_ttp_decode_url},
        {"/api/ttp/url/create-managed-url", ROUTE_SIGNED, PERM_URL_PROTECT_EDIT, 0,
         api_ttp_managed_url_create},
        {"/api/ttp/url/get-all-managed-urls", ROUTE_SIGNED, PERM_URL_PROTECT_READ, 0,
         api_ttp_managed_url_get_all},
        {"/api/ttp/url/delete-managed-url", ROUTE_SIGNED, PERM_URL_PROTECT_EDIT, 0,
         api_ttp_managed_url_delete},
        /* directory: users and groups (§17) */
        {"/api/user/get-internal-users", ROUTE_SIGNED, PERM_DIR_INTERNAL_READ, 0,
         api_user_get_internal_users},
        {"/api/user/create-user", ROUTE_SIGNED, PERM_DIR_INTERNAL_EDIT, 0, api_user_create_user},
        {"/api/user/update-user", ROUTE_SIGNED, PERM_DIR_INTERNAL_EDIT, 0, api_user_update_user},
        {"/api/directory/find-groups", ROUTE_SIGNED, PERM_DIR_GROUPS_READ, 0,
         api_directory_find_groups},
        {"/api/directory/get-group-members", ROUTE_SIGNED, PERM_DIR_GROUPS_READ, 0,
         api_directory_get_group_members},
        {"/api/directory/create-group", ROUTE_SIGNED, PERM_DIR_GROUPS_EDIT, 0,
         api_directory_create_group},
        {"/api/directory/add-group-member", ROUTE_SIGNED, PERM_DIR_GROUPS_EDIT, 0,
         api_directory_add_group_member},
        {"/api/directory/remove-group-member", ROUTE_SIGNED, PERM_DIR_GROUPS_EDIT, 0,
         api_directory_remove_group_member},
        {"/api/ttp/url/get-logs", ROUTE_SIGNED, PERM_TTP_URL_READ, 0, api_ttp_url_get_logs},
        {"/api/ttp/attachment/get-logs", ROUTE_SIGNED, PERM_TTP_ATTACHMENT_READ, 0,
         api_ttp_attachment_get_logs},
        {"/api/ttp/impersonation/get-logs", ROUTE_SIGNED, PERM_TTP_IMPERSONATION_READ, 0,
         api_ttp_impersonation_get_logs},
        {"/api/dlp/get-logs", ROUTE_SIGNED, PERM_DLP_READ, 0, api_dlp_get_logs},
        {NULL, 0, 0, 0, NULL},
};

const struct route *router_match(const char *path, size_t len)
{
	for (const struct route *r = routes; r->path; r++)
		if (strlen(r->path) == len && memcmp(r->path, path, len) == 0)
			return r;
	return NULL;
}

const struct route *router_table(void)
{
	return routes;
}
