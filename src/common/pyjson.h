/* The request-body normaliser of API.md §4: real clients post Python's str(dict)
 * instead of JSON, so this turns a body that is either strict JSON or a Python
 * literal into compact strict JSON text that jansson (json_loadb, flags 0) accepts.
 * It is text to text: schema-level fixes (booleans as strings, aliases) live elsewhere. */
#ifndef MCAPI_COMMON_PYJSON_H
#define MCAPI_COMMON_PYJSON_H

#include "buf.h"
#include "err.h"

#include <stddef.h>

#define PYJSON_MAX_DEPTH 64

/* Normalises in[0..len) (strict JSON or a Python literal such as str(dict)) into strict JSON
 * text appended to out (whose cap bounds the output). max_depth bounds nesting of [] and {}.
 * Returns 0; MC_ERR_INVALID (syntax, bad escape, invalid UTF-8) with a message in e naming
 * the byte offset; MC_ERR_DEPTH past max_depth; MC_ERR_TOO_LARGE past out's cap; MC_ERR_NOMEM.
 * On error out is truncated back to its length on entry.
 *
 * Empty or all-whitespace input appends nothing and returns 0 (the caller reads it as
 * {"data":[]}). Otherwise the top-level value must be an object, array or tuple, as jansson
 * wants by default; trailing bytes other than whitespace are invalid.
 *
 * Accepted beyond strict JSON, one pass, linear time, no recursion (an explicit stack of
 * min(max_depth, len) bytes, on the C stack up to 256 levels), no memory but out:
 * - strings in '…' or "…", with an optional Python 2 u/U prefix; a raw ' or " inside the
 *   other kind of quotes; escapes: \' \" \\ \/ \n \r \t \b \f \a \v, octal \o \oo \ooo,
 *   \xNN, \uNNNN (a \uD8xx\uDCxx pair is joined), \UNNNNNNNN; any other escape, lone
 *   surrogates and code points past U+10FFFF are invalid;
 * - True, False, None (and true, false, null); any other bare word is invalid;
 * - Python tuples ( … ) become arrays; "(x)" without the trailing comma is a parenthesised
 *   value, not a tuple, and is invalid;
 * - trailing commas in all containers ([1, ], {'a': 1, }, (1, )) are dropped;
 * - numbers: JSON numbers plus Python's +1, 1. and .5 (emitted as 1, 1.0, 0.5); nan, inf,
 *   hex, octal, underscores, suffixes (1L, 1j) and leading zeros are invalid; integers
 *   outside int64 and reals that overflow a double are invalid (jansson rejects them);
 * - whitespace is space, tab, CR, LF and form feed; a leading UTF-8 BOM is skipped.
 * Strings in the output are raw UTF-8 with only ", \ and control characters escaped.
 * Raw control characters inside input strings are accepted and escaped. U+0000 written as
 * an escape (\u0000, \x00, \0) is kept as \u0000, which jansson accepts only with
 * JSON_ALLOW_NUL (the server then refuses the item that holds it, not the call); a raw NUL
 * byte in a string is invalid (a binary or UTF-16 body).
 * Dict keys must be strings. The output of a successful call normalises to itself. */
int pyjson_normalise(const char *in, size_t len, size_t max_depth, struct buf *out, struct err *e);

#endif
