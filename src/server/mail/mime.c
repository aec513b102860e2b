/* Message parsing for the process stage; see mime.h. GMime does all MIME parsing and
 * decoding. This file guards GMime against input that would cost it far more than the
 * message (the pre-scan), walks the tree GMime builds within the limits of mime.h, scans
 * decoded text for URLs and writes rewritten messages back through GMime. */
#include "mime.h"

#include "common/b64.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "server/store/store_mail.h"

#include <gmime/gmime.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

_Static_assert(MIME_ADDR_SIZE == MAIL_ADDR_SIZE, "address sizes differ");
_Static_assert(MIME_NAME_SIZE == MAIL_NAME_SIZE, "name sizes differ");
_Static_assert(MIME_SUBJECT_SIZE == MAIL_SUBJECT_SIZE, "subject sizes differ");
_Static_assert(MIME_MSGID_SIZE == MAIL_MSGID_SIZE, "message id sizes differ");

/* Pre-scan budgets beyond the two of mime.h. GMime keeps about 400 bytes per Content-Type
 * or Content-Disposition parameter and 140 per encoded word while decoding, and its address
 * parser takes time proportional to commas × length of a field ("a,a,a,..." of 128 KiB
 * takes seconds), so those are bounded too. */
#define MAX_PARAMS    20000
#define MAX_WORDS     200000
#define MAX_ADDR_COST 100000000ULL /* sum of (commas + 1) × bytes over address fields */

#define DECODED_SLACK (64 * 1024)
#define REPL_MAX      65536 /* bytes of one URL's replacement */
#define REWRITE_SLACK (1024 * 1024)
#define URL_ATTRS_MAX 10

static pthread_once_t mime_once = PTHREAD_ONCE_INIT;
static atomic_int mime_ready;

static void mime_init_once(void)
{
	g_mime_init();
	atomic_store(&mime_ready, 1);
}

/* GLib and GMime are not built with ThreadSanitizer. GSlice passes memory between threads
 * under futex locks it cannot see, which makes every GObject look shared: interceptors
 * (memset, calloc, ...) called from uninstrumented libraries are ignored. */
#if defined(__SANITIZE_THREAD__)
#define MIME_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MIME_TSAN 1
#endif
#endif
#ifdef MIME_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "ignore_noninstrumented_modules=1";
}
#endif

void mime_init(void)
{
	pthread_once(&mime_once, mime_init_once);
}

void mime_shutdown(void)
{
	if (atomic_exchange(&mime_ready, 0))
		g_mime_shutdown();
}

/* ---- small helpers ---- */

static int is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int is_html_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ci_prefix(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return 0;
	return 1;
}

static int ci_equal(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && ci_prefix(s, n, lit);
}

/* Copies src into dst[size] as a clean one-line value: valid UTF-8, control characters as
 * spaces, trimmed, cut at a character boundary. NULL gives "". */
static void copy_text(char *dst, size_t size, const char *src)
{
	char *valid = NULL;
	size_t n = 0;

	if (!src)
		src = "";
	if (!g_utf8_validate(src, -1, NULL)) {
		valid = g_utf8_make_valid(src, -1);
		src = valid;
	}
	while (*src && (unsigned char)*src <= ' ')
		src++;
	for (; *src && n + 1 < size; src++) {
		unsigned char c = (unsigned char)*src;
		dst[n++] = (char)(c < 0x20 || c == 0x7f ? ' ' : c);
	}
	if (*src && ((unsigned char)*src & 0xC0) == 0x80) {
		/* cut inside a character: drop its first bytes too */
		while (n > 0 && ((unsigned char)dst[n - 1] & 0xC0) == 0x80)
			n--;
		if (n > 0 && (unsigned char)dst[n - 1] >= 0xC0)
			n--;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
	g_free(valid);
}

static void ascii_lower(char *s)
{
	for (; *s; s++)
		*s = (char)lower((unsigned char)*s);
}

/* ---- the pre-scan ---- */

struct prescan {
	size_t delims;      /* lines starting "--" */
	size_t fields;      /* header-like lines */
	size_t params;      /* ';' in Content-Type and Content-Disposition fields */
	size_t words;       /* "=?" in fields */
	uint64_t addr_cost; /* sum of (commas + 1) × length over address fields */
};

static size_t line_end(const unsigned char *p, size_t n, size_t i)
{
	const unsigned char *nl = memchr(p + i, '\n', n - i);

	return nl ? (size_t)(nl - p) + 1 : n;
}

/* A header-like line: a name without spaces, optional blanks, then ':'. *name_len gets
 * the name's length. */
static int field_line(const unsigned char *p, size_t i, size_t eol, size_t *name_len)
{
	size_t j = i;

	if (i >= eol || is_wsp(p[i]) || p[i] == '\r' || p[i] == '\n')
		return 0;
	while (j < eol && p[j] != ':' && !is_wsp(p[j]) && p[j] != '\r' && p[j] != '\n')
		j++;
	*name_len = j - i;
	while (j < eol && is_wsp(p[j]))
		j++;
	return j < eol && p[j] == ':';
}

static int addr_field(const unsigned char *name, size_t n)
{
	static const char *const names[] = {"from", "to", "cc", "bcc", "reply-to", "sender"};
	const char *s = (const char *)name;

	if (ci_prefix(s, n, "resent-")) {
		s += 7;
		n -= 7;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ci_equal(s, n, names[i]))
			return 1;
	return 0;
}

static int param_field(const unsigned char *name, size_t n)
{
	return ci_equal((const char *)name, n, "content-type") ||
	       ci_equal((const char *)name, n, "content-disposition");
}

/* What one field (a header-like line and its continuation lines, p[0..len)) costs. */
static void field_cost(const unsigned char *p, size_t name_len, size_t len, struct prescan *c)
{
	size_t commas = 0, semis = 0, words = 0;

	for (size_t k = 0; k < len; k++) {
		if (p[k] == ',')
			commas++;
		else if (p[k] == ';')
			semis++;
		else if (p[k] == '=' && k + 1 < len && p[k + 1] == '?')
			words++;
	}
	memset(c, 0, sizeof(*c));
	c->fields = 1;
	c->words = words;
	if (param_field(p, name_len))
		c->params = semis;
	if (addr_field(p, name_len)) {
		uint64_t k = (uint64_t)commas + 1;
		c->addr_cost = k > UINT64_MAX / (len + 1) ? UINT64_MAX : k * len;
	}
}

static void cost_add(struct prescan *t, const struct prescan *c)
{
	t->delims += c->delims;
	t->fields += c->fields;
	t->params += c->params;
	t->words += c->words;
	t->addr_cost =
	        c->addr_cost > UINT64_MAX - t->addr_cost ? UINT64_MAX : t->addr_cost + c->addr_cost;
}

static int cost_over(const struct prescan *t)
{
	return t->delims > MIME_MAX_DELIMS || t->fields > MIME_MAX_FIELDS ||
	       t->params > MAX_PARAMS || t->words > MAX_WORDS || t->addr_cost > MAX_ADDR_COST;
}

/* The end of the field starting at line [i, eol): past its continuation lines. */
static size_t field_end(const unsigned char *p, size_t n, size_t eol)
{
	while (eol < n && is_wsp(p[eol]))
		eol = line_end(p, n, eol);
	return eol;
}

/* One pass over every line of the message: what GMime would build from it at most. Every
 * header-like line counts, in bodies too: only a MIME parser knows where headers are. */
static void prescan(const unsigned char *p, size_t n, struct prescan *t)
{
	size_t i = 0, name_len, end;
	struct prescan c;

	memset(t, 0, sizeof(*t));
	while (i < n) {
		size_t eol = line_end(p, n, i);

		if (eol - i >= 2 && p[i] == '-' && p[i + 1] == '-')
			t->delims++;
		if (field_line(p, i, eol, &name_len)) {
			end = field_end(p, n, eol);
			field_cost(p + i, name_len, end - i, &c);
			cost_add(t, &c);
			i = end;
			continue;
		}
		i = eol;
	}
}

/* The top-level header block of a message the pre-scan refused, cut down to the budgets:
 * fields are kept in order while they fit. *dropped_addr is set when an address field was
 * left out. Returns a malloc'd block ending in an empty line, or NULL. */
static char *header_block(const unsigned char *p, size_t n, size_t *out_len, int *dropped_addr)
{
	struct buf b;
	struct prescan t, c;
	size_t i = 0, name_len, end;

	memset(&t, 0, sizeof(t));
	buf_init(&b, n + 8);
	while (i < n) {
		size_t eol = line_end(p, n, i);

		if (p[i] == '\n' || (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n'))
			break; /* the empty line ends the header */
		if (!field_line(p, i, eol, &name_len)) {
			i = eol;
			continue;
		}
		end = field_end(p, n, eol);
		field_cost(p + i, name_len, end - i, &c);
		cost_add(&t, &c);
		if (cost_over(&t)) {
			t.fields -= c.fields;
			t.params -= c.params;
			t.words -= c.words;
			t.addr_cost -= c.addr_cost;
			if (addr_field(p + i, name_len))
				*dropped_addr = 1;
		} else if (buf_add(&b, p + i, end - i) != 0 ||
		           (end > i && p[end - 1] != '\n' && buf_add(&b, "\r\n", 2) != 0)) {
			buf_release(&b);
			return NULL;
		}
		i = end;
	}
	if (buf_add(&b, "\r\n", 2) != 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, out_len);
}

/* ---- GMime ---- */

static GMimeMessage *gm_parse(const void *raw, size_t len)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(raw, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(st);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);

	g_object_unref(parser);
	g_object_unref(st);
	return msg;
}

static void content_type(GMimeObject *o, char type[MIME_TYPE_SIZE])
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	char *s = ct ? g_mime_content_type_get_mime_type(ct) : NULL;

	copy_text(type, MIME_TYPE_SIZE, s ? s : "application/octet-stream");
	ascii_lower(type);
	g_free(s);
}

/* Body text is inline text/plain or text/html without a file name; everything else is an
 * attachment. mime_parse and mime_rewrite_urls must agree on this. */
static enum mime_kind classify(GMimeObject *o, const char *type)
{
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(o);
	const char *name = g_mime_part_get_filename(GMIME_PART(o));

	if ((d && g_mime_content_disposition_is_attachment(d)) || (name && *name))
		return MIME_ATTACHMENT;
	if (!strcmp(type, "text/plain"))
		return MIME_TEXT;
	if (!strcmp(type, "text/html"))
		return MIME_HTML;
	return MIME_ATTACHMENT;
}

static int utf8_name(const char *cs)
{
	return !g_ascii_strcasecmp(cs, "utf-8") || !g_ascii_strcasecmp(cs, "utf8") ||
	       !g_ascii_strcasecmp(cs, "us-ascii") || !g_ascii_strcasecmp(cs, "ascii");
}

/* The content of a leaf with its transfer encoding undone: a g_malloc'd NUL-terminated
 * block, *len without the NUL. */
static unsigned char *decode_bytes(GMimeObject *o, size_t *len)
{
	GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(o));
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *a;

	if (w)
		g_mime_data_wrapper_write_to_stream(w, mem);
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_object_unref(mem);
	g_byte_array_append(a, (const guint8 *)"", 1);
	*len = a->len - 1;
	return g_byte_array_free(a, FALSE);
}

/* The text of a text leaf's bytes p[0..n) as valid UTF-8, converted from its charset: a
 * new g_malloc'd block (*len without the NUL), or NULL when p is that text already. */
static char *to_utf8(GMimeObject *o, const unsigned char *p, size_t n, size_t *len)
{
	const char *cs = g_mime_object_get_content_type_parameter(o, "charset");
	GMimeFilter *f = cs && !utf8_name(cs) ? g_mime_filter_charset_new(cs, "UTF-8") : NULL;
	GByteArray *a = NULL;
	char *v;

	if (f) {
		GMimeStream *mem = g_mime_stream_mem_new();
		GMimeStream *fs = g_mime_stream_filter_new(mem);

		g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
		g_object_unref(f);
		g_mime_stream_write(fs, (const char *)p, n);
		g_mime_stream_flush(fs);
		g_object_unref(fs);
		a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
		g_object_unref(mem);
		p = a->data;
		n = a->len;
	}
	if (g_utf8_validate_len((const char *)p, n, NULL)) {
		if (!a)
			return NULL;
		g_byte_array_append(a, (const guint8 *)"", 1);
		*len = a->len - 1;
		return (char *)g_byte_array_free(a, FALSE);
	}
	v = g_utf8_make_valid((const char *)p, (gssize)n);
	if (a)
		g_byte_array_free(a, TRUE);
	*len = strlen(v);
	return v;
}

static void hex_digest(const EVP_MD *md, const void *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;

	if (EVP_Digest(p, n, d, &dl, md, NULL) != 1)
		dl = 0;
	for (unsigned int i = 0; i < dl; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * dl] = '\0';
}

/* ---- the bounded walk ---- */

struct walk;
typedef int (*leaf_fn)(struct walk *w, GMimeObject *o, int depth);

struct walk {
	int truncated; /* MIME_TRUNC_* bits */
	int nleaves;
	int stop;
	int rc; /* first error of a leaf_fn */
	size_t decoded, decoded_cap;
	leaf_fn leaf;
	/* mime_parse */
	struct mime_msg *m;
	int parts_alloc, blobs_alloc, att_alloc, urls_alloc;
	GHashTable *urlset;
	/* mime_rewrite_urls */
	mime_url_fn fn;
	void *arg;
	GHashTable *repl; /* url -> replacement */
	struct buf text;  /* the rewritten text of one part */
	struct buf scratch;
	const char *src;
	size_t pos;
	int html;
	int replaced;
};

/* Recursion is bounded by MIME_MAX_DEPTH. */
static void walk_obj(struct walk *w, GMimeObject *o, int depth)
{
	if (w->stop || !o)
		return;
	if (depth > MIME_MAX_DEPTH) {
		w->truncated |= MIME_TRUNC_DEPTH;
		return;
	}
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n && !w->stop; i++)
			walk_obj(w, g_mime_multipart_get_part(mp, i), depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *sub = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));

		if (sub)
			walk_obj(w, g_mime_message_get_mime_part(sub), depth + 1);
	} else if (GMIME_IS_PART(o)) {
		int rc;

		if (w->nleaves >= MIME_MAX_PARTS) {
			w->truncated |= MIME_TRUNC_PARTS;
			w->stop = 1;
			return;
		}
		w->nleaves++;
		rc = w->leaf(w, o, depth);
		if (rc) {
			w->rc = rc;
			w->stop = 1;
		}
	}
}

/* Counts n decoded bytes against the cap; 0, or 1 (and the walk stops) past it. */
static int decoded_over(struct walk *w, size_t n)
{
	if (n > w->decoded_cap - w->decoded) {
		w->truncated |= MIME_TRUNC_DECODED;
		w->stop = 1;
		return 1;
	}
	w->decoded += n;
	return 0;
}

static int grow(void **p, int *alloc, int need, size_t size)
{
	int n = *alloc ? *alloc : 8;
	void *q;

	if (need <= *alloc)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, (size_t)n * size);
	if (!q)
		return MC_ERR_NOMEM;
	*p = q;
	*alloc = n;
	return 0;
}

/* ---- URL scanning ---- */

struct scan {
	const char *s;
	size_t n;
	int (*fn)(void *arg, size_t start, size_t end, const char *url, size_t url_len);
	void *arg;
	struct buf tmp, url;
};

static int url_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != '"' && c != '`';
}

struct entity_name {
	const char *name;
	uint32_t cp;
};

/* Character references that spell URLs (and obfuscate them): a small subset of HTML's. */
static const struct entity_name entities[] = {
        {"amp", '&'},    {"lt", '<'},     {"gt", '>'},       {"quot", '"'},   {"apos", '\''},
        {"nbsp", 0xA0},  {"colon", ':'},  {"sol", '/'},      {"bsol", '\\'},  {"period", '.'},
        {"comma", ','},  {"Tab", '\t'},   {"NewLine", '\n'}, {"num", '#'},    {"percnt", '%'},
        {"quest", '?'},  {"equals", '='}, {"lowbar", '_'},   {"hyphen", '-'}, {"excl", '!'},
        {"commat", '@'}, {"plus", '+'},   {"dollar", '$'},   {"ast", '*'},    {"lpar", '('},
        {"rpar", ')'},   {"lsqb", '['},   {"rsqb", ']'},     {"semi", ';'},   {"grave", '`'},
        {"Hat", '^'},    {"verbar", '|'}, {"lcub", '{'},     {"rcub", '}'},   {"AMP", '&'},
        {"LT", '<'},     {"GT", '>'},     {"QUOT", '"'},
};

/* Names HTML also decodes without the ';' (outside attributes, or before a character that
 * is not alphanumeric or '='). */
static const struct entity_name legacy[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"nbsp", 0xA0},
        {"AMP", '&'}, {"LT", '<'}, {"GT", '>'}, {"QUOT", '"'},
};

/* The character reference at s[i] == '&' (s ends at n): the bytes it takes (0 if it is
 * none) and its code point in *cp, as a browser reads it. */
static size_t entity(const char *s, size_t n, size_t i, int in_attr, uint32_t *cp)
{
	size_t j = i + 1, k;

	if (j < n && s[j] == '#') {
		int hex = 0, d;
		uint32_t v = 0;
		size_t d0;

		j++;
		if (j < n && (s[j] == 'x' || s[j] == 'X')) {
			hex = 1;
			j++;
		}
		d0 = j;
		while (j < n && (d = hex_value((unsigned char)s[j])) >= 0 && (hex || d < 10)) {
			if (v <= 0x10FFFF)
				v = v * (hex ? 16 : 10) + (uint32_t)d;
			j++;
		}
		if (j == d0)
			return 0;
		if (j < n && s[j] == ';')
			j++;
		if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			v = 0xFFFD;
		*cp = v;
		return j - i;
	}
	while (j < n && j - i <= 32 && is_alnum((unsigned char)s[j]))
		j++;
	if (j < n && s[j] == ';') {
		for (k = 0; k < sizeof(entities) / sizeof(entities[0]); k++) {
			size_t len = strlen(entities[k].name);

			if (len == j - i - 1 && !memcmp(s + i + 1, entities[k].name, len)) {
				*cp = entities[k].cp;
				return j + 1 - i;
			}
		}
	}
	for (k = 0; k < sizeof(legacy) / sizeof(legacy[0]); k++) {
		size_t len = strlen(legacy[k].name), after = i + 1 + len;

		if (after > n || memcmp(s + i + 1, legacy[k].name, len))
			continue;
		if (in_attr && after < n && (is_alnum((unsigned char)s[after]) || s[after] == '='))
			return 0;
		*cp = legacy[k].cp;
		return after - i;
	}
	return 0;
}

static int put_cp(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t k;

	if (cp < 0x80) {
		u[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	return buf_add(b, u, k);
}

/* sc->url = the URL of s[a..b): character references decoded (decode), surrounding blanks
 * and controls trimmed, tabs and line breaks dropped as browsers do, other blanks and
 * controls %-encoded. */
static int build_url(struct scan *sc, size_t a, size_t b, int decode, int in_attr)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, lo, hi;
	int rc;

	buf_reset(&sc->tmp);
	buf_reset(&sc->url);
	for (i = a; i < b;) {
		uint32_t cp;
		size_t k;

		if (decode && sc->s[i] == '&' && (k = entity(sc->s, b, i, in_attr, &cp)) > 0) {
			rc = put_cp(&sc->tmp, cp);
			i += k;
		} else {
			rc = buf_add(&sc->tmp, sc->s + i, 1);
			i++;
		}
		if (rc)
			return rc;
	}
	lo = 0;
	hi = sc->tmp.len;
	while (lo < hi && (unsigned char)sc->tmp.data[lo] <= ' ')
		lo++;
	while (hi > lo && (unsigned char)sc->tmp.data[hi - 1] <= ' ')
		hi--;
	for (i = lo; i < hi; i++) {
		unsigned char c = (unsigned char)sc->tmp.data[i];
		char pct[3] = {'%', hex[c >> 4], hex[c & 15]};

		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		rc = c <= ' ' || c == 0x7f ? buf_add(&sc->url, pct, 3) : buf_add(&sc->url, &c, 1);
		if (rc)
			return rc;
	}
	return buf_add(&sc->url, "", 0);
}

static int emit(struct scan *sc, size_t start, size_t end)
{
	return sc->fn(sc->arg, start, end, sc->url.data ? sc->url.data : "", sc->url.len);
}

/* "http://" or "https://" at s[i] (any case): its length, else 0. */
static size_t scheme_len(const char *s, size_t n, size_t i)
{
	if (ci_prefix(s + i, n - i, "http://"))
		return 7;
	if (ci_prefix(s + i, n - i, "https://"))
		return 8;
	return 0;
}

/* A URL in text starting at s[i] (which may begin one). *next gets where scanning goes
 * on. In HTML text (html 1), character references are read: one that stands for a
 * character a URL cannot hold ends it. */
static int text_url(struct scan *sc, size_t i, int html, size_t *next)
{
	const char *s = sc->s;
	size_t n = sc->n, k, j, end;
	long paren = 0, brack = 0, brace = 0;
	int rc;

	*next = i + 1;
	if (i > 0 && (is_alnum((unsigned char)s[i - 1]) || s[i - 1] == '+' || s[i - 1] == '-' ||
	              s[i - 1] == '.'))
		return 0;
	k = scheme_len(s, n, i);
	if (!k)
		return 0;
	j = i + k;
	if (j >= n || !(is_alnum((unsigned char)s[j]) || s[j] == '[' || s[j] == '_' || s[j] == '%'))
		return 0;
	end = j;
	while (end < n) {
		unsigned char c = (unsigned char)s[end];

		if (html && c == '&') {
			uint32_t cp;
			size_t e = entity(s, n, end, 0, &cp);

			if (e) {
				if (cp >= 0x80 || !url_char((unsigned char)cp))
					break;
				end += e;
				continue;
			}
		}
		if (!url_char(c))
			break;
		if (c == '(')
			paren++;
		else if (c == ')')
			paren--;
		else if (c == '[')
			brack++;
		else if (c == ']')
			brack--;
		else if (c == '{')
			brace++;
		else if (c == '}')
			brace--;
		end++;
	}
	/* punctuation after a URL belongs to the sentence; a closing bracket only when it
	 * has no opening one inside the URL */
	while (end > j) {
		char c = s[end - 1];

		if (c == ')' && paren < 0)
			paren++;
		else if (c == ']' && brack < 0)
			brack++;
		else if (c == '}' && brace < 0)
			brace++;
		else if (!strchr(".,;:!?'*", c))
			break;
		end--;
	}
	*next = end;
	rc = build_url(sc, i, end, html, 0);
	return rc ? rc : emit(sc, i, end);
}

static int url_attr(const char *name, size_t n)
{
	static const char *const names[URL_ATTRS_MAX] = {
	        "href", "src", "action", "formaction", "background", "poster", "data", "cite",
	};

	for (int i = 0; i < URL_ATTRS_MAX && names[i]; i++)
		if (ci_equal(name, n, names[i]))
			return 1;
	return 0;
}

/* An attribute value s[vs..ve) that names a link: an http: or https: URL once decoded (with
 * or without the slashes: browsers accept "http:host" too). */
static int attr_url(struct scan *sc, size_t vs, size_t ve)
{
	int rc = build_url(sc, vs, ve, 1, 1);

	if (rc)
		return rc;
	if (!ci_prefix(sc->url.data, sc->url.len, "http:") &&
	    !ci_prefix(sc->url.data, sc->url.len, "https:"))
		return 0;
	return emit(sc, vs, ve);
}

/* A start tag at s[*i] == '<' (followed by a letter): its URL attributes. *i gets the
 * position after it. */
static int html_tag(struct scan *sc, size_t *i)
{
	const char *s = sc->s;
	size_t n = sc->n, j = *i + 1;
	int rc, base;

	while (j < n && !is_html_space((unsigned char)s[j]) && s[j] != '>' && s[j] != '/')
		j++;
	/* <base href> is where relative links resolve, not a link: left alone */
	base = ci_equal(s + *i + 1, j - *i - 1, "base");
	for (;;) {
		size_t a0, a1, vs, ve;

		while (j < n && (is_html_space((unsigned char)s[j]) || s[j] == '/'))
			j++;
		if (j >= n)
			break;
		if (s[j] == '>') {
			j++;
			break;
		}
		a0 = j++;
		while (j < n && !is_html_space((unsigned char)s[j]) && s[j] != '/' && s[j] != '>' &&
		       s[j] != '=')
			j++;
		a1 = j;
		while (j < n && is_html_space((unsigned char)s[j]))
			j++;
		if (j >= n || s[j] != '=')
			continue;
		j++;
		while (j < n && is_html_space((unsigned char)s[j]))
			j++;
		if (j < n && (s[j] == '"' || s[j] == '\'')) {
			const char *q = memchr(s + j + 1, s[j], n - j - 1);

			vs = j + 1;
			ve = q ? (size_t)(q - s) : n;
			j = q ? ve + 1 : n;
		} else {
			vs = j;
			while (j < n && !is_html_space((unsigned char)s[j]) && s[j] != '>')
				j++;
			ve = j;
		}
		if (!base && url_attr(s + a0, a1 - a0) && (rc = attr_url(sc, vs, ve)) != 0)
			return rc;
	}
	*i = j;
	return 0;
}

int mime_url_scan(const char *s, size_t n, int html,
                  int (*fn)(void *arg, size_t start, size_t end, const char *url, size_t url_len),
                  void *arg)
{
	struct scan sc = {.s = s, .n = n, .fn = fn, .arg = arg};
	size_t i = 0, next;
	int rc = 0;

	/* a URL is at most 3 bytes per input byte (%-encoding), plus the NUL */
	buf_init(&sc.tmp, n > SIZE_MAX / 4 - 64 ? SIZE_MAX / 4 : 4 * n + 64);
	buf_init(&sc.url, sc.tmp.cap);
	while (i < n && !rc) {
		unsigned char c = (unsigned char)s[i];

		if (html && c == '<' && i + 1 < n && is_alpha((unsigned char)s[i + 1])) {
			rc = html_tag(&sc, &i);
		} else if (c == 'h' || c == 'H') {
			rc = text_url(&sc, i, html, &next);
			i = next;
		} else {
			i++;
		}
	}
	buf_release(&sc.tmp);
	buf_release(&sc.url);
	return rc;
}

/* ---- mime_parse ---- */

static int collect_url(void *arg, size_t start, size_t end, const char *url, size_t len)
{
	struct walk *w = arg;
	struct mime_msg *m = w->m;
	char *copy;

	(void)start;
	(void)end;
	if (g_hash_table_contains(w->urlset, url))
		return 0;
	if (m->nurls >= MIME_MAX_URLS) {
		w->truncated |= MIME_TRUNC_URLS;
		return 0;
	}
	if (grow((void **)&m->urls, &w->urls_alloc, m->nurls + 1, sizeof(*m->urls)) != 0 ||
	    !(copy = malloc(len + 1)))
		return MC_ERR_NOMEM;
	memcpy(copy, url, len + 1);
	m->urls[m->nurls++] = copy;
	g_hash_table_add(w->urlset, copy);
	return 0;
}

/* m owns p from now on (it is freed here when it cannot be kept). */
static int keep_blob(struct walk *w, void *p)
{
	struct mime_msg *m = w->m;

	if (grow((void **)&m->blobs, &w->blobs_alloc, m->nblobs + 1, sizeof(*m->blobs)) != 0) {
		g_free(p);
		return MC_ERR_NOMEM;
	}
	m->blobs[m->nblobs++] = p;
	return 0;
}

static int parse_leaf(struct walk *w, GMimeObject *o, int depth)
{
	struct mime_msg *m = w->m;
	struct mime_part *p;
	char type[MIME_TYPE_SIZE];
	enum mime_kind kind;
	unsigned char *bytes;
	char *text = NULL;
	size_t nbytes, len = 0;
	int rc;

	content_type(o, type);
	kind = classify(o, type);
	bytes = decode_bytes(o, &nbytes);
	if (kind != MIME_ATTACHMENT)
		text = to_utf8(o, bytes, nbytes, &len);
	if (decoded_over(w, nbytes + len)) {
		g_free(bytes);
		g_free(text);
		return 0;
	}
	rc = keep_blob(w, bytes); /* frees what it cannot keep */
	if (rc) {
		g_free(text);
		return rc;
	}
	if (text && (rc = keep_blob(w, text)) != 0)
		return rc;
	if (grow((void **)&m->parts, &w->parts_alloc, m->nparts + 1, sizeof(*m->parts)) != 0)
		return MC_ERR_NOMEM;
	p = &m->parts[m->nparts];
	memset(p, 0, sizeof(*p));
	p->index = m->nparts;
	p->depth = depth;
	p->kind = kind;
	p->attachment = -1;
	memcpy(p->type, type, sizeof(type));
	p->bytes = bytes;
	p->nbytes = nbytes;
	p->data = text ? (const unsigned char *)text : bytes;
	p->len = text ? len : nbytes;
	m->nparts++;

	if (kind == MIME_ATTACHMENT) {
		struct mime_attachment *a;

		if (grow((void **)&m->attachments, &w->att_alloc, m->natt + 1,
		         sizeof(*m->attachments)) != 0)
			return MC_ERR_NOMEM;
		a = &m->attachments[m->natt];
		memset(a, 0, sizeof(*a));
		a->part = p->index;
		copy_text(a->name, sizeof(a->name), g_mime_part_get_filename(GMIME_PART(o)));
		memcpy(a->type, type, sizeof(type));
		a->size = (int64_t)nbytes;
		hex_digest(EVP_md5(), bytes, nbytes, a->md5);
		hex_digest(EVP_sha1(), bytes, nbytes, a->sha1);
		hex_digest(EVP_sha256(), bytes, nbytes, a->sha256);
		p->attachment = m->natt++;
		return 0;
	}
	return mime_url_scan((const char *)p->data, p->len, kind == MIME_HTML, collect_url, w);
}

/* Appends the mailboxes of l (groups flattened, one level) to *arr, within the shared
 * MIME_MAX_ADDRS budget *left. */
static int add_addrs(InternetAddressList *l, char (**arr)[MIME_ADDR_SIZE], int *n, int *left,
                     int *truncated)
{
	int count = 0, len = l ? internet_address_list_length(l) : 0;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < len; i++) {
			InternetAddress *a = internet_address_list_get_address(l, i);
			InternetAddressList *members = NULL;
			int nm = 1;

			if (INTERNET_ADDRESS_IS_GROUP(a)) {
				members = internet_address_group_get_members(
				        INTERNET_ADDRESS_GROUP(a));
				nm = members ? internet_address_list_length(members) : 0;
			}
			for (int k = 0; k < nm; k++) {
				InternetAddress *b =
				        members ? internet_address_list_get_address(members, k) : a;

				if (!INTERNET_ADDRESS_IS_MAILBOX(b))
					continue;
				if (pass == 0) {
					count++;
					continue;
				}
				if (*n >= count)
					continue;
				copy_text((*arr)[(*n)++], MIME_ADDR_SIZE,
				          internet_address_mailbox_get_addr(
				                  INTERNET_ADDRESS_MAILBOX(b)));
			}
		}
		if (pass == 0) {
			if (count > *left) {
				*truncated |= MIME_TRUNC_ADDRS;
				count = *left;
			}
			if (count == 0)
				return 0;
			*arr = calloc((size_t)count, MIME_ADDR_SIZE);
			if (!*arr)
				return MC_ERR_NOMEM;
			*left -= count;
		}
	}
	return 0;
}

static void from_of(GMimeMessage *gm, struct mime_msg *m)
{
	InternetAddressList *l = g_mime_message_get_from(gm);
	int len = l ? internet_address_list_length(l) : 0;

	for (int i = 0; i < len; i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);

		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			InternetAddressList *mem =
			        internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a));
			a = mem && internet_address_list_length(mem) > 0
			            ? internet_address_list_get_address(mem, 0)
			            : NULL;
		}
		if (a && INTERNET_ADDRESS_IS_MAILBOX(a)) {
			copy_text(m->from_addr, sizeof(m->from_addr),
			          internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)));
			copy_text(m->from_name, sizeof(m->from_name), internet_address_get_name(a));
			return;
		}
	}
}

static int headers_of(GMimeMessage *gm, struct mime_msg *m)
{
	const char *id = g_mime_message_get_message_id(gm);
	int left = MIME_MAX_ADDRS, rc;

	if (id) {
		copy_text(m->msg_id, sizeof(m->msg_id), id);
	} else {
		/* GMime found no msg-id in it: keep what is there, without the brackets */
		char tmp[MIME_MSGID_SIZE];
		size_t a = 0, b;

		copy_text(tmp, sizeof(tmp),
		          g_mime_object_get_header(GMIME_OBJECT(gm), "Message-ID"));
		b = strlen(tmp);
		if (a < b && tmp[a] == '<')
			a++;
		if (b > a && tmp[b - 1] == '>')
			b--;
		tmp[b] = '\0';
		copy_text(m->msg_id, sizeof(m->msg_id), tmp + a);
	}
	from_of(gm, m);
	copy_text(m->subject, sizeof(m->subject), g_mime_message_get_subject(gm));
	copy_text(m->test, sizeof(m->test),
	          g_mime_object_get_header(GMIME_OBJECT(gm), "X-Mcapi-Test"));
	ascii_lower(m->test);
	rc = add_addrs(g_mime_message_get_addresses(gm, GMIME_ADDRESS_TYPE_TO), &m->to, &m->nto,
	               &left, &m->truncated);
	if (!rc)
		rc = add_addrs(g_mime_message_get_addresses(gm, GMIME_ADDRESS_TYPE_CC), &m->cc,
		               &m->ncc, &left, &m->truncated);
	return rc;
}

int mime_parse(const void *raw, size_t len, struct mime_msg **out, struct err *e)
{
	struct mime_msg *m = NULL;
	GMimeMessage *gm = NULL;
	struct prescan t;
	struct walk w;
	char *head = NULL;
	int rc = 0;

	*out = NULL;
	memset(&w, 0, sizeof(w));
	if (len > MIME_MAX_SIZE)
		return err_set(e, MC_ERR_TOO_LARGE, "message of %zu bytes is too large to parse",
		               len);
	mime_init();
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	m->size = (int64_t)len;
	prescan(raw, len, &t);
	if (cost_over(&t)) {
		size_t hl = 0;
		int dropped = 0;

		m->truncated |= MIME_TRUNC_STRUCTURE;
		head = header_block(raw, len, &hl, &dropped);
		if (!head) {
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (dropped)
			m->truncated |= MIME_TRUNC_ADDRS;
		gm = gm_parse(head, hl);
	} else {
		gm = gm_parse(raw, len);
	}
	if (!gm) {
		m->truncated |= MIME_TRUNC_UNPARSED;
		goto out;
	}
	rc = headers_of(gm, m);
	if (rc) {
		err_set(e, rc, "out of memory");
		goto out;
	}
	if (m->truncated & MIME_TRUNC_STRUCTURE)
		goto out;
	w.m = m;
	w.leaf = parse_leaf;
	w.decoded_cap = 4 * len + DECODED_SLACK;
	w.urlset = g_hash_table_new(g_str_hash, g_str_equal);
	walk_obj(&w, g_mime_message_get_mime_part(gm), 0);
	m->truncated |= w.truncated;
	if (w.rc) {
		rc = err_set(e, w.rc, "out of memory");
		goto out;
	}
out:
	if (w.urlset)
		g_hash_table_destroy(w.urlset);
	if (gm)
		g_object_unref(gm);
	free(head);
	if (rc) {
		mime_msg_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void mime_msg_free(struct mime_msg *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nblobs; i++)
		g_free(m->blobs[i]);
	for (int i = 0; i < m->nurls; i++)
		free(m->urls[i]);
	free(m->blobs);
	free(m->parts);
	free(m->attachments);
	free(m->urls);
	free(m->to);
	free(m->cc);
	free(m);
}

int mime_walk(const struct mime_msg *m, int (*fn)(void *arg, const struct mime_part *p), void *arg)
{
	for (int i = 0; i < m->nparts; i++) {
		int rc = fn(arg, &m->parts[i]);

		if (rc)
			return rc;
	}
	return 0;
}

char *mime_urls_json(const struct mime_msg *m)
{
	struct buf b;
	size_t cap = 16;

	for (int i = 0; i < m->nurls; i++)
		cap += 6 * strlen(m->urls[i]) + 3;
	buf_init(&b, cap);
	if (buf_addc(&b, '[') != 0)
		goto fail;
	for (int i = 0; i < m->nurls; i++)
		if ((i && buf_addc(&b, ',') != 0) ||
		    json_write_string(&b, m->urls[i], strlen(m->urls[i])) != 0)
			goto fail;
	if (buf_addc(&b, ']') != 0)
		goto fail;
	return buf_detach(&b, NULL);
fail:
	buf_release(&b);
	return NULL;
}

/* ---- mime_rewrite_urls ---- */

static int rewrite_span(void *arg, size_t start, size_t end, const char *url, size_t len)
{
	struct walk *w = arg;
	const char *r = g_hash_table_lookup(w->repl, url);
	int rc;

	if (!r) {
		char *key, *val;

		buf_reset(&w->scratch);
		rc = w->fn(w->arg, url, len, &w->scratch);
		if (rc)
			return rc;
		key = g_strndup(url, len);
		val = g_strndup(w->scratch.data ? w->scratch.data : "", w->scratch.len);
		g_hash_table_insert(w->repl, key, val);
		r = val;
	}
	rc = buf_add(&w->text, w->src + w->pos, start - w->pos);
	if (!rc)
		rc = w->html ? buf_add_html(&w->text, r, strlen(r)) : buf_adds(&w->text, r);
	w->pos = end;
	w->replaced++;
	return rc;
}

static int rewrite_leaf(struct walk *w, GMimeObject *o, int depth)
{
	char type[MIME_TYPE_SIZE];
	enum mime_kind kind;
	GMimeContentEncoding enc;
	unsigned char *data, *bytes;
	char *text;
	size_t len = 0, nbytes;
	int before = w->replaced, rc;

	(void)depth;
	content_type(o, type);
	kind = classify(o, type);
	if (kind == MIME_ATTACHMENT || !GMIME_IS_TEXT_PART(o))
		return 0;
	bytes = decode_bytes(o, &nbytes);
	text = to_utf8(o, bytes, nbytes, &len);
	if (text) {
		g_free(bytes);
		data = (unsigned char *)text;
	} else {
		data = bytes;
		len = nbytes;
	}
	if (decoded_over(w, len)) {
		g_free(data);
		return 0;
	}
	buf_init(&w->text,
	         len > (SIZE_MAX - REWRITE_SLACK) / 16 ? SIZE_MAX / 2 : 16 * len + REWRITE_SLACK);
	w->src = (const char *)data;
	w->pos = 0;
	w->html = kind == MIME_HTML;
	rc = mime_url_scan((const char *)data, len, w->html, rewrite_span, w);
	if (!rc && w->replaced > before)
		rc = buf_add(&w->text, data + w->pos, len - w->pos);
	if (!rc && w->replaced > before) {
		enc = g_mime_part_get_content_encoding(GMIME_PART(o));
		g_mime_text_part_set_text(GMIME_TEXT_PART(o), w->text.data ? w->text.data : "");
		if (enc != GMIME_CONTENT_ENCODING_BASE64 &&
		    enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE)
			enc = g_mime_part_get_best_content_encoding(
			        GMIME_PART(o), enc == GMIME_CONTENT_ENCODING_8BIT ||
			                                       enc == GMIME_CONTENT_ENCODING_BINARY
			                               ? GMIME_ENCODING_CONSTRAINT_8BIT
			                               : GMIME_ENCODING_CONSTRAINT_7BIT);
		g_mime_part_set_content_encoding(GMIME_PART(o), enc);
	}
	buf_release(&w->text);
	g_free(data);
	return rc;
}

/* Writes gm with CRLF line ends into a malloc'd block. */
static int serialise(GMimeMessage *gm, char **out, size_t *out_len)
{
	GMimeFormatOptions *fo = g_mime_format_options_new();
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeStream *fs = g_mime_stream_filter_new(mem);
	GMimeFilter *crlf = g_mime_filter_unix2dos_new(FALSE);
	GByteArray *a;
	int rc = 0;

	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), crlf);
	g_object_unref(crlf);
	if (g_mime_object_write_to_stream(GMIME_OBJECT(gm), fo, fs) < 0 ||
	    g_mime_stream_flush(fs) != 0)
		rc = MC_ERR_INTERNAL;
	g_object_unref(fs);
	g_mime_format_options_free(fo);
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	if (!rc) {
		*out = malloc(a->len + 1);
		if (!*out) {
			rc = MC_ERR_NOMEM;
		} else {
			memcpy(*out, a->data, a->len);
			(*out)[a->len] = '\0';
			*out_len = a->len;
		}
	}
	g_object_unref(mem);
	return rc;
}

int mime_rewrite_urls(const void *raw, size_t len, mime_url_fn fn, void *arg, char **out,
                      size_t *out_len, int *nreplaced, struct err *e)
{
	GMimeMessage *gm = NULL;
	struct prescan t;
	struct walk w;
	int rc = 0;

	*out = NULL;
	*out_len = 0;
	if (nreplaced)
		*nreplaced = 0;
	if (len > MIME_MAX_SIZE)
		return err_set(e, MC_ERR_TOO_LARGE, "message of %zu bytes is too large to rewrite",
		               len);
	mime_init();
	memset(&w, 0, sizeof(w));
	prescan(raw, len, &t);
	if (cost_over(&t))
		return err_set(e, MC_ERR_TOO_LARGE, "message structure too complex to rewrite");
	gm = gm_parse(raw, len);
	if (!gm)
		return err_set(e, MC_ERR_INVALID, "not a message");
	w.leaf = rewrite_leaf;
	w.fn = fn;
	w.arg = arg;
	w.decoded_cap = 4 * len + DECODED_SLACK;
	w.repl = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	buf_init(&w.scratch, REPL_MAX);
	walk_obj(&w, g_mime_message_get_mime_part(gm), 0);
	if (w.rc) {
		rc = err_set(e, w.rc, "url rewrite failed: %s", err_name(w.rc));
		goto out;
	}
	if (w.truncated & MIME_TRUNC_UNSCANNED) {
		rc = err_set(e, MC_ERR_TOO_LARGE, "message too complex to rewrite");
		goto out;
	}
	if (w.replaced == 0) {
		*out = malloc(len + 1);
		if (!*out) {
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			goto out;
		}
		memcpy(*out, raw, len);
		(*out)[len] = '\0';
		*out_len = len;
	} else {
		rc = serialise(gm, out, out_len);
		if (rc) {
			err_set(e, rc, "cannot write the rewritten message");
			goto out;
		}
	}
	if (nreplaced)
		*nreplaced = w.replaced;
out:
	buf_release(&w.scratch);
	g_hash_table_destroy(w.repl);
	g_object_unref(gm);
	return rc;
}
