/* Handlers of the API functions, one file per area (account.c, domain.c, login.c,
 * audit.c, hold.c, finder.c, queues.c). Each takes the parsed request and fills the response; see
 * request.h. */
#ifndef MCAPI_SERVER_API_API_H
#define MCAPI_SERVER_API_API_H

#include "server/response.h"
#include "server/request.h"

/* account.c */
int api_account_get(struct request *req, struct response *res);

/* domain.c */
int api_domain_create(struct request *req, struct response *res);
int api_domain_get_pending(struct request *req, struct response *res);
int api_domain_get_verification_code(struct request *req, struct response *res);
int api_domain_verify(struct request *req, struct response *res);
int api_domain_get_provision_status(struct request *req, struct response *res);
int api_domain_get_internal(struct request *req, struct response *res);
int api_domain_delete_pending(struct request *req, struct response *res);

/* login.c */
int api_login_discover(struct request *req, struct response *res);
int api_login_login(struct request *req, struct response *res);
int api_login_logout(struct request *req, struct response *res);

/* audit.c */
int api_audit_get_events(struct request *req, struct response *res);
int api_audit_get_categories(struct request *req, struct response *res);

/* siem.c: SIEM log files (§14.1) */
int api_siem_get_logs(struct request *req, struct response *res);

/* hold.c: the hold queue (§16.1) */
int api_hold_list(struct request *req, struct response *res);
int api_hold_summary(struct request *req, struct response *res);
int api_hold_release(struct request *req, struct response *res);
int api_hold_reject(struct request *req, struct response *res);

/* finder.c: message tracking (§16.2) */
int api_finder_search(struct request *req, struct response *res);
int api_finder_get_info(struct request *req, struct response *res);

/* queues.c: the processing queue and queue counts (§16.2) */
int api_processing_find(struct request *req, struct response *res);
int api_queues_get(struct request *req, struct response *res);

/* policy.c: sender policies (§18) */
int api_policy_permit_or_block(struct request *req, struct response *res);
int api_policy_create(struct request *req, struct response *res);
int api_policy_get(struct request *req, struct response *res);
int api_policy_delete(struct request *req, struct response *res);
/* directory.c: users and groups (§17) */
int api_user_get_internal_users(struct request *req, struct response *res);
int api_user_create_user(struct request *req, struct response *res);
int api_user_update_user(struct request *req, struct response *res);
int api_directory_find_groups(struct request *req, struct response *res);
int api_directory_get_group_members(struct request *req, struct response *res);
int api_directory_create_group(struct request *req, struct response *res);
int api_directory_add_group_member(struct request *req, struct response *res);
int api_directory_remove_group_member(struct request *req, struct response *res);

/* GET /s/{token} (click.c): fills location with the original URL of a click token; 0, or
 * MC_ERR_INVALID for a token this server did not make. */
int api_click(const struct server *srv, const char *token, char *location, size_t size);

#endif
