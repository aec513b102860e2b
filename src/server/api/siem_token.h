/* The pieces of get-siem-logs (siem.c, API.md §14.1) that read bytes from outside and so are
 * fuzzed (tests/fuzz/fuzz_siemtoken.c): the sealed token a client sends back, and the splice
 * of a stored event's JSON text into a file.
 *
 * A token is a seal.h token (XSalsa20-Poly1305 under srv->siem_key, base64url) over
 * {v: 1, a: account id, h: the horizon hi, c: the retention cutoff (ms), p: [the id of the
 * last event served, per log type in siem_types order]}. */
#ifndef MCAPI_SERVER_API_SIEM_TOKEN_H
#define MCAPI_SERVER_API_SIEM_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define SIEM_NTYPES     9
#define SIEM_TOKEN_MAX  1024 /* characters of a token accepted */
#define SIEM_TOKEN_MAKE 480  /* ... and made: it must fit a response header (response.h) */

/* The log types of §14.1, in the order of the token's positions. The store's dlp events
 * feed dlp/get-logs (§14.2), not the SIEM files. */
extern const char *const siem_types[SIEM_NTYPES];

/* Where a chain is: every event of type i with id <= pos[i] was served; files stop at hi
 * (store_siem_horizon) and skip events older than cutoff. */
struct siem_chain {
	int64_t hi, cutoff;
	int64_t pos[SIEM_NTYPES];
};

/* The token of c for account_id: malloc'd (caller frees), NULL when out of memory. */
char *siem_token_make(const unsigned char key[32], int64_t account_id, const struct siem_chain *c);

/* Opens token[0..len) into c: 0; -1 if it is not a token made with key or is damaged
 * (0 <= pos[i] <= hi fails, a field is missing); -2 if it is one of another account. */
int siem_token_open(const unsigned char key[32], const char *token, size_t len, int64_t account_id,
                    struct siem_chain *c);

/* The members of the JSON object data[0..len) after its '{' and after any leading members
 * named acc, datetime or at (a file writes its own first); *end = data + len. What it does
 * not expect stops the skipping: the rest is returned as it is. Never reads outside data. */
const char *siem_members(const char *data, size_t len, const char **end);

struct buf;

/* Appends the key_value line of one stored event (its JSON object data[0..len)) to b:
 * "datetime=<dt>|aCode=..|acc=<acc>|key=value|...\n" (docs/logs.md: strings decoded, with
 * CR, LF and TAB as spaces and '|' as U+00A6; null as nothing; acc, at and datetime of the
 * stored text left out). A scanner writes it without a parse; what the scanner leaves (reals,
 * nested values, odd escapes) goes through siem_kv_line_jansson, which gives the same line
 * for everything the scanner takes. 0 or a buf error. */
int siem_kv_line(struct buf *b, const char *data, size_t len, const char *dt, const char *acc);
int siem_kv_line_jansson(struct buf *b, const char *data, size_t len, const char *dt,
                         const char *acc);

#endif
