/* Fuzz target for what mcapid makes of a DNS answer to a TXT query (dns/dns.c): c-ares
 * parses the message, dns_txt_parse joins each record's character-strings, and verify-domain
 * compares every record with the verification token (domain_txt_matches). The first byte
 * picks the c-ares status (mostly success); the rest is the answer as it came off the wire.
 * Whatever arrives, a success holds count records that are NUL-terminated at their length,
 * together no longer than the message, and the result releases cleanly. */
#include "server/api/domain_item.h"
#include "server/dns/dns_int.h"

#include <ares.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[] = {ARES_SUCCESS,  ARES_ENODATA,  ARES_ENOTFOUND, ARES_ESERVFAIL,
                               ARES_EREFUSED, ARES_ETIMEOUT, ARES_EBADRESP};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_txt_result res;
	size_t total = 0;
	int status;

	if (size < 1 || size > 65536)
		return 0;
	status = data[0] < 0xf0 ? ARES_SUCCESS : statuses[data[0] % 7];
	dns_txt_parse(status, data + 1, (int)(size - 1), &res);
	if (status != ARES_SUCCESS && res.count)
		abort();
	if (res.status != DNS_OK && res.count)
		abort();
	if (res.count && (!res.records || !res.lengths))
		abort();
	for (size_t i = 0; i < res.count; i++) {
		if (res.records[i][res.lengths[i]] != '\0')
			abort();
		total += res.lengths[i];
		domain_txt_matches(res.records[i], res.lengths[i], "mc-domain-verification=abcdef");
		domain_txt_matches(res.records[i], res.lengths[i], "");
	}
	if (total > size)
		abort();
	dns_txt_result_release(&res);
	if (res.count || res.records || res.lengths)
		abort();
	return 0;
}
