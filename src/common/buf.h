/* A growable byte buffer with a hard cap (curl's dynbuf, git's strbuf): every
 * buffer that input can grow has a cap, and exceeding it is MC_ERR_TOO_LARGE,
 * never an unbounded allocation. The content is always NUL-terminated. */
#ifndef MCAPI_COMMON_BUF_H
#define MCAPI_COMMON_BUF_H

#include <stddef.h>
#include <string.h>

struct buf {
	char *data; /* NULL until the first append; NUL-terminated after */
	size_t len;
	size_t alloc;
	size_t cap; /* maximum len; appends beyond it fail */
};

/* Initialises an empty buffer that may grow to cap bytes. */
void buf_init(struct buf *b, size_t cap);

/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);

/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);

/* Makes room for n more bytes at once (one allocation for what many appends will write).
 * Returns 0, MC_ERR_TOO_LARGE past the cap or MC_ERR_NOMEM. */
int buf_reserve(struct buf *b, size_t n);

/* Appends; return 0, MC_ERR_TOO_LARGE past the cap or MC_ERR_NOMEM. */
int buf_add_slow(struct buf *b, const void *p, size_t n);
int buf_addc(struct buf *b, char c);
int buf_adds(struct buf *b, const char *s);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) HTML-escaped: & < > " ' as entities, so the result is safe as element
 * text and as a quoted attribute value (every HTML page the server writes uses it). */
int buf_add_html(struct buf *b, const char *s, size_t n);
/* Appends v in decimal (serialisers write numbers on every response: no printf). */
int buf_add_i64(struct buf *b, long long v);

/* The common case inline: room is there already (serialisers append many small pieces). */
static inline int buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->alloc > n && b->len < b->alloc - n && b->len + n <= b->cap) {
		__builtin_memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_add_slow(b, p, n);
}

/* Hands the storage to the caller (free() it); the buffer becomes empty.
 * Returns "" allocated if the buffer never grew, NULL on allocation failure. */
char *buf_detach(struct buf *b, size_t *len);

#endif
