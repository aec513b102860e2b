/* The Audit area (API.md §9). Placeholder handlers until the audit API lands. */
#include "api.h"

#include "common/banned.h"

static int not_yet(struct response *res)
{
	response_call_error(res, API_NOT_FOUND, "not implemented yet");
	return 0;
}

int api_audit_get_events(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_audit_get_categories(struct request *req, struct response *res) { (void)req; return not_yet(res); }
