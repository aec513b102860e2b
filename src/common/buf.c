/* Capped growable buffer; see buf.h. */
#include "buf.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_grow(struct buf *b, size_t extra)
{
	size_t need, n;
	char *p;

	if (extra > b->cap || b->len > b->cap - extra)
		return MC_ERR_TOO_LARGE;
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	/* 256 to start: most buffers hold a response or a log line, and each doubling copies */
	n = b->alloc ? b->alloc : 256;
	while (n < need)
		n = n > ((size_t)-1) / 2 ? need : n * 2;
	if (n > b->cap + 1)
		n = b->cap + 1;
	if (n < need)
		n = need;
	p = realloc(b->data, n);
	if (!p)
		return MC_ERR_NOMEM;
	b->data = p;
	b->alloc = n;
	return 0;
}

int buf_reserve(struct buf *b, size_t n)
{
	return buf_grow(b, n);
}

int buf_add_slow(struct buf *b, const void *p, size_t n)
{
	int rc = buf_grow(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_add_html(struct buf *b, const char *s, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		switch (s[i]) {
		case '&':
			rc = buf_add(b, "&amp;", 5);
			break;
		case '<':
			rc = buf_add(b, "&lt;", 4);
			break;
		case '>':
			rc = buf_add(b, "&gt;", 4);
			break;
		case '"':
			rc = buf_add(b, "&quot;", 6);
			break;
		case '\'':
			rc = buf_add(b, "&#39;", 5);
			break;
		default:
			rc = buf_addc(b, s[i]);
		}
	}
	return rc;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MC_ERR_INVALID;
	rc = buf_grow(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (!p)
		p = calloc(1, 1);
	if (len)
		*len = p ? b->len : 0;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

int buf_add_i64(struct buf *b, long long v)
{
	char d[24], *p = d + sizeof(d);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return buf_add(b, p, (size_t)(d + sizeof(d) - p));
}
