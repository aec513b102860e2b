/* Domain names as the Domain API accepts them (API.md §5.1): the one function that turns
 * what a client sent into the canonical A-label form stored and compared everywhere.
 *
 * Steps: trim surrounding ASCII whitespace; drop one trailing dot; split into labels at the
 * IDNA label separators (".", U+3002, U+FF0E, U+FF61). A label of ASCII letters, digits
 * and hyphens is lower-cased as it is; a label starting "xn--" must be a valid A-label
 * (libidn2 re-encodes it to itself); any other label holding non-ASCII text is converted
 * with libidn2 idn2_to_ascii_8z(IDN2_NONTRANSITIONAL): IDNA2008 with the UTS #46 mapping
 * (case folding, NFC, "ß" kept as itself, not turned into "ss") that browsers and mail
 * software use, so "Bücher.DE" and "xn--bcher-kva.de" are the same name.
 * The result must then be a host name: letters, digits and hyphens only (no "_", "@",
 * spaces or other punctuation), labels of 1..63 octets not starting or ending with "-",
 * at most 253 octets, at least two labels, and a top label that is not all digits
 * (which also rules out IPv4 literals; IPv6 literals fail the character rule). */
#ifndef MCAPI_SERVER_API_DOMAIN_NAME_H
#define MCAPI_SERVER_API_DOMAIN_NAME_H

#include <stddef.h>

#define DOMAIN_NAME_MAX       253  /* octets of a name, without the trailing dot */
#define DOMAIN_NAME_INPUT_MAX 1024 /* longer input is refused before any work */

/* 1 if in[0..len) is empty or ASCII whitespace only (err_validation_blank). */
int domain_name_is_blank(const char *in, size_t len);

/* Normalises in[0..len) (UTF-8) into out (DOMAIN_NAME_MAX + 1 bytes, NUL-terminated).
 * Returns 0, or MC_ERR_INVALID with *why (if not NULL) set to a short static message
 * saying what is wrong (out is then ""). Thread-safe; allocates only inside libidn2. */
int domain_name_normalise(const char *in, size_t len, char out[DOMAIN_NAME_MAX + 1],
                          const char **why);

/* The parent of a canonical name (the text after its first label), or NULL for a name of
 * two labels or fewer (registrable roots have no parent we consider). Points into name. */
const char *domain_name_parent(const char *name);

#endif
