/* The --query selector of the mcapi CLI: a small, documented subset of JMESPath (dotted
 * member names, [N] with negative N from the end, [*] projections), applied to a JSON value
 * before it is printed. Grammar and examples: docs/client.md, "Selecting with --query". */
#ifndef MCAPI_CLI_QUERY_H
#define MCAPI_CLI_QUERY_H

#include <jansson.h>
#include <stddef.h>

struct query;

/* Compiles expr. Returns it (free with query_free), or NULL with a message in msg (a syntax
 * error names the offset; NULL also on allocation failure). */
struct query *query_compile(const char *expr, char *msg, size_t msg_size);

void query_free(struct query *q);

/* The value q selects from v as a new reference, or NULL when nothing matches (a missing
 * member, an index out of range, a step into a value of another type). A [*] projection
 * gives an array of what the rest of the path selects from each element, the misses left
 * out, as JMESPath does. */
json_t *query_eval(const struct query *q, json_t *v);

#endif
