/* Base64 encoders and strict decoders; see b64.h. */
#include "b64.h"

#include "err.h"

#include <stdint.h>

#include "banned.h"

static const char std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t encode(const char *alpha, int pad, const unsigned char *src, size_t n, char *dst)
{
	size_t o = 0, i = 0;

	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
		dst[o++] = alpha[v >> 18];
		dst[o++] = alpha[(v >> 12) & 63];
		dst[o++] = alpha[(v >> 6) & 63];
		dst[o++] = alpha[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0);
		dst[o++] = alpha[v >> 18];
		dst[o++] = alpha[(v >> 12) & 63];
		if (i + 1 < n)
			dst[o++] = alpha[(v >> 6) & 63];
		else if (pad)
			dst[o++] = '=';
		if (pad)
			dst[o++] = '=';
	}
	dst[o] = '\0';
	return o;
}

size_t b64_encode(const unsigned char *src, size_t n, char *dst)
{
	return encode(std_alpha, 1, src, n, dst);
}

size_t b64url_encode(const unsigned char *src, size_t n, char *dst)
{
	return encode(url_alpha, 0, src, n, dst);
}

static int value(int url, unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int decode(int url, const char *src, size_t n, unsigned char *dst, size_t dst_size,
                  size_t *out_len)
{
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0;

	while (n && src[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return MC_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		int v = value(url, (unsigned char)src[i]);
		if (v < 0)
			return MC_ERR_INVALID;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= dst_size)
				return MC_ERR_TOO_LARGE;
			dst[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Canonical encodings only: the bits left over after the last byte must be zero, so
	 * every byte string has exactly one accepted encoding (tokens are tamper-evident). */
	if (acc != 0)
		return MC_ERR_INVALID;
	*out_len = o;
	return 0;
}

int b64_decode(const char *src, size_t n, unsigned char *dst, size_t dst_size, size_t *out_len)
{
	return decode(0, src, n, dst, dst_size, out_len);
}

int b64url_decode(const char *src, size_t n, unsigned char *dst, size_t dst_size, size_t *out_len)
{
	return decode(1, src, n, dst, dst_size, out_len);
}

int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
