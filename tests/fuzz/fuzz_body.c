/* Fuzz target for request-body parsing as the pipeline does it (API.md §4): the
 * Python-literal normaliser, jansson, and the envelope shape checks. */
#include "server/response.h"
#include "server/pipeline.h"
#include "server/request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request req;
	char msg[256];

	memset(&req, 0, sizeof(req));
	if (pipeline_parse_body(&req, (const char *)data, size, msg, sizeof(msg)) == API_OK) {
		if (!json_is_object(req.body) || !json_is_array(req.data))
			abort();
		for (size_t i = 0; i < json_array_size(req.data); i++)
			if (!json_is_object(json_array_get(req.data, i)))
				abort();
	} else if (!msg[0]) {
		abort(); /* every refusal says why */
	}
	json_decref(req.body);
	return 0;
}
