/* Strict request framing (API.md §1), checked once the header block is in and before
 * any of the body is read: one Content-Length at most, never with Transfer-Encoding,
 * Transfer-Encoding only "chunked", exactly one Host on HTTP/1.1, no whitespace in
 * header names, no control character in header values, a Content-Length that is a plain
 * decimal number. Violations are answered 400 and the connection is closed (request
 * smuggling defence). Two layers use it: framing_check over the header list that
 * libmicrohttpd parsed (every request), and framing_head over the raw bytes of a
 * connection's first request head (the acceptor, connect.h), which also catches what
 * libmicrohttpd would otherwise accept silently (NUL, bare CR, folded lines) or answer
 * itself with an HTML page (a malformed Content-Length, a huge chunk extension). */
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

/* Checks the headers hs[0..n) of a request of HTTP version (e.g. "HTTP/1.1"). Values are
 * as libmicrohttpd hands them: leading whitespace removed, trailing kept (it does not take
 * "chunked " for chunked, so that is refused rather than left to hang). */
void framing_check(const char *version, const struct framing_header *hs, size_t n,
                   struct framing_result *out);

#define FRAMING_MAX_HEADERS    64   /* more header lines: 431 */
#define FRAMING_CHUNK_LINE_MAX 1024 /* a longer chunk-size line (extensions): 400 */

enum framing_head_kind {
	FRAMING_HEAD_MORE,      /* a valid prefix: wait for more bytes */
	FRAMING_HEAD_OK,        /* a well-formed head (and first chunk line when chunked) */
	FRAMING_HEAD_BAD,       /* 400 */
	FRAMING_HEAD_TOO_LARGE, /* 431: no end of head within max bytes, or too many lines */
};

/* Looks at the first n bytes p of a connection: the request line ("METHOD target
 * HTTP/1.x", single spaces, no control character), header lines of token names and values
 * without control characters other than tab, lines ending in CRLF or LF, no bare CR, no
 * obs-fold, then framing_check's rules. Empty lines before the request line are skipped
 * (RFC 9112 §2.2). When the request is chunked, the first chunk-size line is checked too
 * (hex digits, extensions without control characters, at most FRAMING_CHUNK_LINE_MAX bytes):
 * MORE until it is complete, unless the request has an Expect header (the client then waits
 * for "100 Continue" before sending the body: OK at the end of the head). The head may be
 * at most max bytes; n may reach max + FRAMING_CHUNK_LINE_MAX + 2 for the chunk line. *reason gets
 * a static text for BAD and TOO_LARGE; fr (may be NULL) the framing of an OK head. Pure:
 * no allocation, reads nothing past p[n). */
enum framing_head_kind framing_head(const char *p, size_t n, size_t max, const char **reason,
                                    struct framing_result *fr);

#endif
