/* The Login area (API.md §6). Placeholder handlers until login lands. */
#include "api.h"

#include "common/banned.h"

static int not_yet(struct response *res)
{
	response_call_error(res, API_NOT_FOUND, "not implemented yet");
	return 0;
}

int api_login_discover(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_login_login(struct request *req, struct response *res) { (void)req; return not_yet(res); }
int api_login_logout(struct request *req, struct response *res) { (void)req; return not_yet(res); }
