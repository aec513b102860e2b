/* The content side of the pipeline; see process.h. */
#include "process.h"

#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/config.h"
#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "common/banned.h"

static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

void process_intake_scan(struct server *srv, const char *raw, size_t len, struct message *msg,
                         struct process_intake *in)
{
	(void)srv;
	(void)msg;
	memset(in, 0, sizeof(*in));
	if (len >= sizeof(eicar) - 1 && memmem(raw, len, eicar, sizeof(eicar) - 1))
		snprintf(in->virus, sizeof(in->virus), "EICAR-Test-File");
}

int process_one(struct server *srv)
{
	struct message m;
	struct err e = {0};
	int rc;

	rc = store_message_lease_unprocessed(srv->store, now_ms(), 60000, &m, &e);
	if (rc == MC_ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc;
	rc = store_message_processed(srv->store, &m, NULL, 0, &e);
	message_release(&m);
	return rc ? rc : 1;
}
