/* The replay cache: (access key, x-mc-req-id) pairs accepted recently. A request dated
 * up to `skew` seconds ahead stays valid for 2*skew after it arrives, so each pair is
 * kept at least that long: two generations per shard, rotated every 2*skew seconds.
 * Memory follows the pairs actually held (8 bytes each at most half-full tables, a keyed
 * BLAKE2b of the pair) and is bounded by max_entries; a full cache refuses new pairs
 * (MC_ERR_UNAVAILABLE) rather than forget old ones. */
#ifndef MCAPI_SERVER_AUTH_REPLAY_H
#define MCAPI_SERVER_AUTH_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct replay;

/* Returns NULL on allocation failure. skew_s is the date window in seconds. */
struct replay *replay_new(size_t max_entries, int skew_s);
void replay_free(struct replay *r);

/* Records the pair; 0 if it was new, MC_ERR_EXISTS if already seen (a replay),
 * MC_ERR_UNAVAILABLE if the cache is full. now_s: monotonic seconds. */
int replay_check_insert(struct replay *r, const char *access_key, size_t ak_len, const char *req_id,
                        int64_t now_s);

/* 1 if the pair is held (a replay), 0 if not; nothing is recorded. */
int replay_seen(struct replay *r, const char *access_key, size_t ak_len, const char *req_id,
                int64_t now_s);

/* Removes the pair again (a call that failed without doing anything). */
void replay_forget(struct replay *r, const char *access_key, size_t ak_len, const char *req_id);

#endif
