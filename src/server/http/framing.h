/* Strict request framing (API.md §1), checked once the header block is in and before
 * any of the body is read: one Content-Length at most, never with Transfer-Encoding,
 * Transfer-Encoding only "chunked", exactly one Host on HTTP/1.1, no whitespace in
 * header names, a Content-Length that is a plain decimal number. Violations are
 * answered 400 and the connection is closed (request smuggling defence). */
#ifndef MCAPI_SERVER_HTTP_FRAMING_H
#define MCAPI_SERVER_HTTP_FRAMING_H

#include <stddef.h>
#include <stdint.h>

struct framing_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct framing_result {
	int ok;                  /* 1 when the framing is acceptable */
	const char *reason;      /* static text when not ok */
	int has_length;          /* a Content-Length was given */
	uint64_t content_length; /* its value */
	int chunked;
};

/* Checks the headers hs[0..n) of a request of HTTP version (e.g. "HTTP/1.1"). */
void framing_check(const char *version, const struct framing_header *hs, size_t n,
                   struct framing_result *out);

#endif
