/* The key a display name is compared by (impersonation checks, API.md §13.3): NFKC,
 * case-folded, blanks and quotes collapsed to single spaces and trimmed. The store keeps it
 * with each user (users.name_key, 011_policy_lookup.sql) so that the process stage finds the
 * internal users of one display name with one indexed look-up instead of reading them all. */
#ifndef MCAPI_SERVER_NAMEKEY_H
#define MCAPI_SERVER_NAMEKEY_H

/* The key of s; NULL when s is NULL, empty (after trimming) or not UTF-8. Free with
 * name_key_free. */
char *name_key(const char *s);
void name_key_free(char *key);

#endif
