/* Back-off and expiry of deferred deliveries: pure arithmetic on the attempt count and the
 * message's age, as Postfix's queue manager does it (clamp(..., min, max)), so the policy is
 * tested without a clock or a store. The store writes the result (next_attempt, an indexed
 * column) in the same transaction as the attempt's outcome. */
#include "delivery_int.h"

#include "common/banned.h"

int64_t retry_backoff(int attempts, int retry_min, int retry_max)
{
	int64_t b = retry_min > 0 ? retry_min : 1;
	int64_t max = retry_max > b ? retry_max : b;

	/* doubling stops as soon as it passes max, so no shift ever overflows */
	for (int i = 1; i < attempts && b < max; i++)
		b *= 2;
	return b < max ? b : max;
}

int32_t retry_decide(int status, int attempts, int64_t now, int64_t received, int retry_min,
                     int retry_max, int queue_max_age, int64_t *next_attempt)
{
	*next_attempt = 0;
	if (status == DELIV_SENT)
		return RCPT_DELIVERED;
	if (status == DELIV_FAIL)
		return RCPT_FAILED;
	if (now - received > (int64_t)queue_max_age * 1000)
		return RCPT_EXPIRED;
	*next_attempt = now + retry_backoff(attempts, retry_min, retry_max) * 1000;
	return RCPT_DEFERRED;
}
