/* Strict request framing (API.md §1), checked on the raw bytes of every request head before
 * any of the body is read: the request-line shape, token header names, no NUL, bare CR or
 * obs-fold, no control character in header values, one Content-Length at most (a plain
 * decimal number), never with Transfer-Encoding, Transfer-Encoding only "chunked", exactly
 * one Host on HTTP/1.1; and every chunk-size line of a chunked body (hex digits, extensions
 * without control characters, at most FRAMING_CHUNK_LINE_MAX bytes). Violations are answered
 * 400 and the connection is closed (request smuggling defence). framing_request is what the
 * connection parser (conn.c) runs on every request; framing_check is its header-list part;
 * framing_head is the whole-head check with the first chunk line (unit tests, fuzzing). */
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

/* Checks the headers hs[0..n) of a request of HTTP version (e.g. "HTTP/1.1"). Values have
 * their leading whitespace removed, trailing kept ("chunked " is refused, not guessed at). */
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

/* One parsed request head (framing_request): slices into the bytes given, valid while they
 * are. head_len counts the bytes through the empty line, empty lines before the request line
 * included. */
struct framing_request {
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	char version[9]; /* "HTTP/1.1" or "HTTP/1.0" */
	size_t nh;
	size_t head_len;
	struct framing_header hs[FRAMING_MAX_HEADERS];
};

/* framing_head without the chunk line: the head at p[0..n) (at most max bytes), its parts
 * into rq when OK (rq's fields are undefined otherwise); fr and rq may not be NULL. Pure. */
enum framing_head_kind framing_request(const char *p, size_t n, size_t max, const char **reason,
                                       struct framing_result *fr, struct framing_request *rq);

/* A chunk-size line p[0..len) without its line end: 0 and *size, or -1 and a static *reason
 * (over FRAMING_CHUNK_LINE_MAX, not 1 to 16 hex digits, a control character in an extension). */
int framing_chunk_size(const char *p, size_t len, uint64_t *size, const char **reason);

#endif
