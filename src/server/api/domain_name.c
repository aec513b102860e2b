/* Domain name normalisation; see domain_name.h. A bounded single pass over the input that
 * splits it into labels, each turned into its A-label form in a fixed-size buffer; libidn2
 * sees one label at a time and only when the label needs it. */
#include "domain_name.h"

#include "common/err.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define LABEL_MAX 63

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int domain_name_is_blank(const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_space((unsigned char)in[i]))
			return 0;
	return 1;
}

/* Length of the IDNA label separator at p (".", U+3002, U+FF0E, U+FF61), or 0. */
static size_t separator_len(const unsigned char *p, size_t n)
{
	if (p[0] == '.')
		return 1;
	if (n >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x82)
		return 3; /* U+3002 ideographic full stop */
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbc && p[2] == 0x8e)
		return 3; /* U+FF0E fullwidth full stop */
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbd && p[2] == 0xa1)
		return 3; /* U+FF61 halfwidth ideographic full stop */
	return 0;
}

static int is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int fail(const char **why, const char *msg, char *out)
{
	if (why)
		*why = msg;
	out[0] = '\0';
	return MC_ERR_INVALID;
}

/* Converts one label src[0..n) into its lower-case A-label in dst (LABEL_MAX + 1 bytes);
 * returns its length or -1 with *why set. */
static int label_to_ascii(const unsigned char *src, size_t n, char *dst, const char **why)
{
	char tmp[4 * LABEL_MAX + 8];
	char *conv = NULL;
	int ascii = 1, rc;
	size_t i, m;

	if (n == 0) {
		*why = "the domain name has an empty label";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (src[i] == '@') {
			*why = "a domain name cannot contain '@'";
			return -1;
		}
		if (src[i] < 0x21 || src[i] == 0x7f) {
			*why = "a domain name cannot contain spaces or control characters";
			return -1;
		}
		if (src[i] >= 0x80)
			ascii = 0;
	}
	if (n >= sizeof(tmp)) {
		*why = "a label of the domain name is longer than 63 octets";
		return -1;
	}
	for (i = 0; i < n; i++)
		tmp[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] - 'A' + 'a' : src[i]);
	tmp[n] = '\0';
	if (ascii && !(n >= 4 && memcmp(tmp, "xn--", 4) == 0)) {
		m = n;
		conv = NULL;
	} else {
		rc = idn2_to_ascii_8z(tmp, &conv, IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK) {
			*why = ascii ? "the domain name has an invalid A-label ('xn--')"
			             : "the domain name is not a valid internationalised name";
			return -1;
		}
		m = strlen(conv);
		/* an A-label must come back as itself, not as another spelling */
		if (ascii && (m != n || memcmp(conv, tmp, n) != 0)) {
			free(conv);
			*why = "the domain name has an invalid A-label ('xn--')";
			return -1;
		}
		if (memchr(conv, '.', m)) {
			free(conv);
			*why = "the domain name is not a valid internationalised name";
			return -1;
		}
	}
	if (m == 0) {
		/* a label of characters UTS #46 maps to nothing (U+FE0E, U+00AD) */
		free(conv);
		*why = "the domain name has an empty label";
		return -1;
	}
	if (m > LABEL_MAX) {
		free(conv);
		*why = "a label of the domain name is longer than 63 octets";
		return -1;
	}
	memcpy(dst, conv ? conv : tmp, m);
	dst[m] = '\0';
	free(conv);
	for (i = 0; i < m; i++) {
		if (!is_ldh((unsigned char)dst[i])) {
			*why = dst[i] == '_' ? "a domain name cannot contain '_'"
			                     : "a domain name may hold only letters, digits and "
			                       "hyphens";
			return -1;
		}
	}
	if (dst[0] == '-' || dst[m - 1] == '-') {
		*why = "a label of the domain name starts or ends with '-'";
		return -1;
	}
	return (int)m;
}

int domain_name_normalise(const char *in, size_t len, char out[DOMAIN_NAME_MAX + 1],
                          const char **why)
{
	const unsigned char *p = (const unsigned char *)in, *end;
	char label[LABEL_MAX + 1];
	const char *msg = NULL;
	size_t o = 0, labels = 0, top = 0, sep;
	int n, digits;

	out[0] = '\0';
	if (len > DOMAIN_NAME_INPUT_MAX)
		return fail(why, "the domain name is longer than 253 octets", out);
	if (memchr(in, '\0', len))
		return fail(why, "a domain name cannot contain control characters", out);
	end = p + len;
	while (p < end && is_space(*p))
		p++;
	while (end > p && is_space(end[-1]))
		end--;
	if (p == end)
		return fail(why, "the domain name is empty", out);
	/* one trailing dot (in any of its IDNA spellings) is the root, not an empty label */
	if (end[-1] == '.')
		end--;
	else if (end - p >= 3 && separator_len(end - 3, 3) == 3)
		end -= 3;
	if (p == end)
		return fail(why, "the domain name has an empty label", out);
	while (p <= end) {
		const unsigned char *q = p;
		while (q < end && !separator_len(q, (size_t)(end - q)))
			q++;
		n = label_to_ascii(p, (size_t)(q - p), label, &msg);
		if (n < 0)
			return fail(why, msg, out);
		if (o + (o ? 1 : 0) + (size_t)n > DOMAIN_NAME_MAX)
			return fail(why, "the domain name is longer than 253 octets", out);
		if (o)
			out[o++] = '.';
		top = o;
		memcpy(out + o, label, (size_t)n);
		o += (size_t)n;
		labels++;
		if (q == end)
			break;
		sep = separator_len(q, (size_t)(end - q));
		p = q + sep;
		if (p == end)
			return fail(why, "the domain name has an empty label", out);
	}
	out[o] = '\0';
	if (labels < 2)
		return fail(why, "a domain name needs at least two labels, e.g. 'example.com'",
		            out);
	digits = 1;
	for (size_t i = top; i < o; i++)
		if (out[i] < '0' || out[i] > '9')
			digits = 0;
	if (digits)
		return fail(why, "the top-level label is all digits (IP addresses are not domains)",
		            out);
	return 0;
}

const char *domain_name_parent(const char *name)
{
	const char *dot = strchr(name, '.');

	if (!dot || !strchr(dot + 1, '.'))
		return NULL;
	return dot + 1;
}
