/* Base64 (RFC 4648 §4, standard alphabet with padding) and base64url (§5, no padding), and
 * the value of one hex digit (§8), which percent-decoding and \\u escapes share. */
#ifndef MCAPI_COMMON_B64_H
#define MCAPI_COMMON_B64_H

#include <stddef.h>

/* Bytes needed to encode n bytes, including the terminating NUL. */
#define B64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Encodes src[0..n) into dst (size >= B64_ENCODED_SIZE(n)); returns the length written. */
size_t b64_encode(const unsigned char *src, size_t n, char *dst);

/* base64url without padding; dst needs B64_ENCODED_SIZE(n) bytes. Returns the length. */
size_t b64url_encode(const unsigned char *src, size_t n, char *dst);

/* Decodes standard base64 (padding optional, no whitespace inside) of src[0..n) into dst
 * (capacity dst_size). Returns 0 and sets *out_len, or MC_ERR_INVALID / MC_ERR_TOO_LARGE. */
int b64_decode(const char *src, size_t n, unsigned char *dst, size_t dst_size, size_t *out_len);

/* The same for base64url. */
int b64url_decode(const char *src, size_t n, unsigned char *dst, size_t dst_size, size_t *out_len);

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int hex_value(unsigned char c);

#endif
