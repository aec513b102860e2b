/* Internals of the resolver exposed for tests and fuzzing: turning one c-ares answer (a
 * status and the raw DNS message) into the dns_txt_result the callback receives. */
#ifndef MCAPI_SERVER_DNS_DNS_INT_H
#define MCAPI_SERVER_DNS_DNS_INT_H

#include "dns.h"

/* Fills res from a c-ares status (ARES_*) and, on ARES_SUCCESS, the answer abuf[0..alen):
 * the TXT records joined per record, DNS_OK with count 0 when there are none, DNS_ERROR
 * when the message does not parse or memory runs out. Release res with
 * dns_txt_result_release (also after an error; it is always safe). */
void dns_txt_parse(int status, const unsigned char *abuf, int alen, struct dns_txt_result *res);

/* Frees the records of res and sets count to 0. */
void dns_txt_result_release(struct dns_txt_result *res);

#endif
