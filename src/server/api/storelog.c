/* One log line per failed store operation of a request; see api.h. */
#include "api.h"

#include "common/err.h"
#include "common/log.h"

#include "common/banned.h"

void api_log_store_error(const struct request *req, const char *area, const char *op, int rc,
                         const struct err *e)
{
	char qid[100], qrc[40], qmsg[600];
	const char *msg = e && e->code && e->msg[0] ? e->msg : err_name(rc);

	log_error("%s msg=\"store failure\" op=%s req_id=%s rc=%s error=%s", area, op,
	          log_quote(req->req_id ? req->req_id : "-", qid, sizeof(qid)),
	          log_quote(err_name(rc), qrc, sizeof(qrc)), log_quote(msg, qmsg, sizeof(qmsg)));
}
