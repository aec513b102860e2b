/* The Domain area (API.md §5). Placeholder handlers until the Domain API lands. */
#include "api.h"

#include "common/banned.h"

static int not_yet(struct response *res)
{
	response_call_error(res, API_NOT_FOUND, "not implemented yet");
	return 0;
}

int api_domain_create(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_domain_get_pending(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_domain_get_verification_code(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_domain_verify(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_domain_get_provision_status(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_domain_get_internal(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_domain_delete_pending(struct request *req, struct response *res) { (void)req; return not_yet(res); }
