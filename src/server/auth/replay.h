/* The replay cache: (access key, x-mc-req-id) pairs accepted recently. A request dated
 * up to `skew` seconds ahead stays valid for 2*skew after it arrives, so each pair is
 * kept at least that long: time is cut into epochs of 2*skew seconds and a pair recorded
 * in epoch E is dropped with its whole table when epoch E+2 begins (no scan, no per-entry
 * expiry). Memory follows the pairs actually held (8 bytes each at most half-full tables,
 * a keyed BLAKE2b of the pair) and is bounded by max_entries in all and by per_user for
 * the pairs one user has made: one user over its share is refused alone
 * (MC_ERR_TOO_LARGE), and only a cache full of many users' pairs refuses everyone
 * (MC_ERR_UNAVAILABLE) rather than forget.
 *
 * Restarts: pairs live in memory only, except those whose x-mc-date was ahead of the
 * server clock when they were accepted. Those are appended to a journal (replay_journal_open)
 * and loaded again at start. Every other accepted pair carries a date before the new
 * process started, and auth.c refuses such dates; together no request accepted before a
 * restart (also kill -9) is accepted again after it. */
#ifndef MCAPI_SERVER_AUTH_REPLAY_H
#define MCAPI_SERVER_AUTH_REPLAY_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

struct replay;

#define REPLAY_KEY_LEN 32

/* Returns NULL on allocation failure. skew_s is the date window in seconds; per_user
 * bounds the pairs one user holds (0 = no bound); key (REPLAY_KEY_LEN bytes) keys the pair
 * hash and must stay the same across restarts for the journal to mean anything (derived
 * from the server key); NULL = a random key (tests). */
#define REPLAY_PAIR_LEN 16 /* see replay_pair_hash */

struct replay *replay_new(size_t max_entries, size_t per_user, int skew_s,
                          const unsigned char *key);
void replay_free(struct replay *r);

/* Loads the journal files in dir (created, mode 0700, if missing), drops those whose
 * pairs have all expired, and from now on appends future-dated pairs there (see
 * replay_check_insert). wall_s: the wall clock in seconds. 0 or an error in e. */
int replay_journal_open(struct replay *r, const char *dir, int64_t wall_s, struct err *e);

/* Records the pair for user_id (> 0; 0 = charged to nobody). Returns 0 if it was new,
 * MC_ERR_EXISTS if already seen (a replay), MC_ERR_TOO_LARGE if this user already holds
 * per_user pairs (*retry_after_s, if not NULL, is when its oldest ones are dropped),
 * MC_ERR_UNAVAILABLE if the cache is full or the journal write failed. now_s: monotonic
 * seconds. journal_until_s > 0: the wall-clock second until which the pair must survive a
 * restart; it is written to the journal (when open) before this returns. */
int replay_check_insert(struct replay *r, int64_t user_id, const char *access_key, size_t ak_len,
                        const char *req_id, int64_t now_s, int64_t journal_until_s,
                        int *retry_after_s);

/* 1 if the pair is held (a replay), 0 if not; nothing is recorded. */
int replay_seen(struct replay *r, const char *access_key, size_t ak_len, const char *req_id,
                int64_t now_s);

/* replay_check_insert and replay_seen for a pair hashed beforehand (replay_pair_hash): a
 * call looks at its pair and claims it with one hash. */
int replay_check_insert_pair(struct replay *r, int64_t user_id,
                             const unsigned char pair[REPLAY_PAIR_LEN], int64_t now_s,
                             int64_t journal_until_s, int *retry_after_s);
int replay_seen_pair(struct replay *r, const unsigned char pair[REPLAY_PAIR_LEN], int64_t now_s);

/* Removes the pair again (a call that failed without doing anything) and gives the slot
 * back to user_id. A journal record stays (the pair is then refused after a restart). */
void replay_forget(struct replay *r, int64_t user_id, const char *access_key, size_t ak_len,
                   const char *req_id);

/* The keyed hash of (access key, request id) that identifies a pair (REPLAY_PAIR_LEN
 * bytes): also the key of the replay set that nodes on a shared store keep there
 * (store_shared.h), the same on every node that has the same server key. */
void replay_pair_hash(const struct replay *r, const char *ak, size_t ak_len, const char *req_id,
                      unsigned char out[REPLAY_PAIR_LEN]);

/* Pairs user_id holds now (tests, diagnostics). */
size_t replay_user_count(struct replay *r, int64_t user_id, int64_t now_s);

#endif
