/* Handlers of the API functions, one file per area (account.c, domain.c, login.c,
 * audit.c, hold.c, finder.c, queues.c). Each takes the parsed request and fills the response; see
 * request.h. */
#ifndef MCAPI_SERVER_API_API_H
#define MCAPI_SERVER_API_API_H

#include "server/response.h"
#include "server/request.h"

#include <stdarg.h>

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

/* The audit row of a change this request makes, written in the caller's transaction. Every
 * handler audits through here, so every eventInfo has one shape (docs/audit.md): what
 * (printf-style), then ", Date: ..., Time: ...+0000, IP: <client IP>, Application: <name of
 * the application that signed the call>", then ", <detail>" if detail is not NULL.
 * account_id and user: whose change it is (req->who for a signed call). 0 or a store error
 * (in e). */
int api_auditf(struct request *req, int64_t account_id, const char *user, const char *category,
               const char *type, int64_t now, const char *detail, struct err *e, const char *fmt,
               ...) __attribute__((format(printf, 9, 10)));
int api_vauditf(struct request *req, int64_t account_id, const char *user, const char *category,
                const char *type, int64_t now, const char *detail, struct err *e, const char *fmt,
                va_list ap);
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

/* ttp_logs.c: the TTP and DLP logs (§14.2) */
int api_ttp_url_get_logs(struct request *req, struct response *res);
int api_ttp_attachment_get_logs(struct request *req, struct response *res);
int api_ttp_impersonation_get_logs(struct request *req, struct response *res);
int api_dlp_get_logs(struct request *req, struct response *res);

/* TTP URL protection (§16.3). click.c: the pages of GET /s/{token} (the front runs the
 * click through the logger, ttp/clicks.h, and sends what these give) and decode-url;
 * managed_url.c: create-, get-all- and delete-managed-url. */
struct click;
/* The answer to a click the logger decided: *status (302, 403 block page, 503 when it could
 * not be logged), *body (malloc'd HTML, "" for the 302) and *location (for the 302, else
 * NULL; points into c). 0 or MC_ERR_NOMEM. */
int api_click_answer(const struct click *c, int *status, char **body, const char **location);
/* The page for a path that holds no valid token: 404 and a short HTML page (static). */
const char *api_click_invalid_page(void);
/* The page for a click that cannot be taken now (the logger's queue is full): 503. */
const char *api_click_busy_page(void);
int api_ttp_decode_url(struct request *req, struct response *res);
int api_ttp_managed_url_create(struct request *req, struct response *res);
int api_ttp_managed_url_get_all(struct request *req, struct response *res);
int api_ttp_managed_url_delete(struct request *req, struct response *res);

/* storelog.c: logs a failed store operation of req on one line, "<area> msg="store
 * failure" op=<op> req_id=<id> rc=<code> error=<message>", the backend's message escaped
 * (a PostgreSQL message may hold quotes and line breaks) or the code's name when the store
 * gave none. e may be NULL. */
struct err;
void api_log_store_error(const struct request *req, const char *area, const char *op, int rc,
                         const struct err *e);

#endif
