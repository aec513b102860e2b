/* Message parsing for the process stage (API.md §13.2): GMime 3 parses the raw bytes, and
 * this module turns its tree into what the checks and the store need — the header facts
 * (Message-ID, From, Subject, To/Cc, X-Mcapi-Test), every leaf part decoded (text and HTML
 * as UTF-8, attachments as bytes with name, type, size and hashes) and the http(s) URLs
 * of the text and HTML parts. It also rewrites those URLs for delivered copies (§16.3).
 *
 * Bounds, since the bytes come from the network: a linear pre-scan refuses to let GMime
 * build a tree for structures that would cost it far more than the message (more than
 * MIME_MAX_DELIMS lines starting "--" or MIME_MAX_FIELDS header-like lines: GMime spends
 * about 1.3 KiB per part and 0.5 KiB per header field; too many Content-Type parameters or
 * encoded words; address fields on which GMime's parser turns quadratic, such as
 * "To: a,a,a,..."); such a message gets its top-level header only (within the same
 * budgets), flagged MIME_TRUNC_STRUCTURE. The walk stops after MIME_MAX_PARTS leaves and
 * does not go deeper than MIME_MAX_DEPTH (GMime itself stops at 1024 levels); decoded
 * content is capped at four times the message plus 64 KiB. Each limit reached sets a bit of
 * mime_msg.truncated instead of failing: the checks hold such a message as unscannable.
 * Memory stays within a few times the message size.
 *
 * Threads: GMime is initialised once per process (pthread_once); every call builds and
 * frees its own GMime objects, so calls run concurrently on different messages. */
#ifndef MCAPI_SERVER_MAIL_MIME_H
#define MCAPI_SERVER_MAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct buf;

#define MIME_MAX_PARTS  1000       /* leaf parts decoded and shown to the checks */
#define MIME_MAX_DEPTH  32         /* multipart / message/rfc822 levels walked */
#define MIME_MAX_URLS   1000       /* distinct URLs kept in mime_msg.urls */
#define MIME_MAX_ADDRS  1000       /* To + Cc addresses kept */
#define MIME_MAX_DELIMS 10000      /* lines starting "--" before only the header is parsed */
#define MIME_MAX_FIELDS 50000      /* header-like lines ("name:") likewise */
#define MIME_MAX_SIZE   (1u << 30) /* larger input is MC_ERR_TOO_LARGE */

/* Field sizes (with the NUL); the same as the store's MAIL_* sizes. Longer values are cut
 * at a UTF-8 character boundary. */
#define MIME_ADDR_SIZE     321
#define MIME_NAME_SIZE     256
#define MIME_SUBJECT_SIZE  512
#define MIME_MSGID_SIZE    256
#define MIME_FILENAME_SIZE 256
#define MIME_TYPE_SIZE     128
#define MIME_TEST_SIZE     32

/* mime_msg.truncated bits: which limit was reached. */
#define MIME_TRUNC_STRUCTURE 0x01 /* pre-scan: only the top-level header was parsed */
#define MIME_TRUNC_PARTS     0x02 /* more than MIME_MAX_PARTS leaves */
#define MIME_TRUNC_DEPTH     0x04 /* parts deeper than MIME_MAX_DEPTH were not walked */
#define MIME_TRUNC_DECODED   0x08 /* the decoded-content cap was reached */
#define MIME_TRUNC_URLS      0x10 /* more than MIME_MAX_URLS distinct URLs */
#define MIME_TRUNC_ADDRS     0x20 /* more than MIME_MAX_ADDRS To/Cc addresses */
#define MIME_TRUNC_UNPARSED  0x40 /* GMime found no message at all (e.g. no header) */

/* Any of these means some content was not seen by the checks. */
#define MIME_TRUNC_UNSCANNED                                                                       \
	(MIME_TRUNC_STRUCTURE | MIME_TRUNC_PARTS | MIME_TRUNC_DEPTH | MIME_TRUNC_DECODED |         \
	 MIME_TRUNC_UNPARSED)

enum mime_kind {
	MIME_TEXT = 0,       /* inline text/plain: data is UTF-8 text */
	MIME_HTML = 1,       /* inline text/html: data is the HTML source as UTF-8 text */
	MIME_ATTACHMENT = 2, /* anything else (and text with a file name or disposition
	                      * "attachment"): data is the decoded bytes */
};

/* One leaf part. data is NUL-terminated (len excludes the NUL); for text and HTML it is
 * valid UTF-8 converted from the part's charset (invalid sequences replaced by U+FFFD).
 * bytes is the part with only its transfer encoding undone, what a file scanner sees: the
 * same block as data unless a charset conversion changed it (scan both: an ASCII body
 * labelled charset=utf-16 decodes to nonsense). */
struct mime_part {
	int index; /* position among the leaves, in document order */
	int depth; /* 0 = the message body itself; +1 per multipart or message/rfc822 level */
	enum mime_kind kind;
	int attachment;            /* index into mime_msg.attachments, or -1 */
	char type[MIME_TYPE_SIZE]; /* "text/plain", lower case */
	const unsigned char *data;
	size_t len;
	const unsigned char *bytes;
	size_t nbytes;
};

struct mime_attachment {
	int part;                      /* index into mime_msg.parts */
	char name[MIME_FILENAME_SIZE]; /* decoded (RFC 2231, RFC 2047); "" when none */
	char type[MIME_TYPE_SIZE];     /* content type, lower case */
	int64_t size;                  /* decoded bytes */
	char md5[33];
	char sha1[41];
	char sha256[65];
};

/* A parsed message. Strings are NUL-terminated UTF-8 with control characters replaced by
 * spaces and trimmed; "" when absent. Owned by the caller of mime_parse: mime_msg_free. */
struct mime_msg {
	char msg_id[MIME_MSGID_SIZE];   /* Message-ID without the angle brackets */
	char from_addr[MIME_ADDR_SIZE]; /* first mailbox of From: */
	char from_name[MIME_NAME_SIZE]; /* its display name, RFC 2047 decoded */
	char subject[MIME_SUBJECT_SIZE];
	char test[MIME_TEST_SIZE]; /* X-Mcapi-Test of the top-level header, lower case, trimmed */
	int nto, ncc;
	char (*to)[MIME_ADDR_SIZE]; /* addresses only; groups are flattened */
	char (*cc)[MIME_ADDR_SIZE];
	int nparts;
	struct mime_part *parts;
	int natt;
	struct mime_attachment *attachments;
	int nurls;
	char **urls; /* distinct http(s) URLs of the TEXT and HTML parts, in order of appearance */
	int truncated; /* MIME_TRUNC_* bits */
	int64_t size;  /* bytes of the raw message */
	/* internal: the storage behind parts[].data and .bytes */
	int nblobs;
	void **blobs;
};

/* Initialises GMime once per process; mime_parse and mime_rewrite_urls call it themselves.
 * Safe from many threads. */
void mime_init(void);

/* Releases GMime's global state (g_mime_shutdown), for tests and the end of main: no
 * mime_* call may follow. */
void mime_shutdown(void);

/* Parses raw[0..len) (a message as received: CRLF or LF line ends, any bytes). *out gets a
 * new mime_msg (free it with mime_msg_free). Limits reached, and input GMime cannot make a
 * message of, are recorded in (*out)->truncated, not errors: any bytes give a mime_msg.
 * Returns 0, MC_ERR_TOO_LARGE above MIME_MAX_SIZE or MC_ERR_NOMEM; *out is NULL on error. */
int mime_parse(const void *raw, size_t len, struct mime_msg **out, struct err *e);

/* Frees m and everything it holds. NULL is fine. */
void mime_msg_free(struct mime_msg *m);

/* Calls fn for each leaf part of m in document order (the parts mime_parse decoded: at
 * most MIME_MAX_PARTS, depth at most MIME_MAX_DEPTH, inside message/rfc822 parts too).
 * A non-zero return of fn stops the walk and is returned; 0 after the last part. */
int mime_walk(const struct mime_msg *m, int (*fn)(void *arg, const struct mime_part *p), void *arg);

/* The URLs of m as a JSON array of strings (the store's message.urls), malloc'd (caller
 * frees), or NULL on allocation failure. "[]" when there are none. */
char *mime_urls_json(const struct mime_msg *m);

/* The replacement of one URL: appends what replaces url[0..len) (NUL-terminated; e.g.
 * "https://gw.example/s/TOKEN") to out and returns 0, or a negative enum mc_err that
 * aborts the rewrite and is returned by it. Called once per distinct URL. */
typedef int (*mime_url_fn)(void *arg, const char *url, size_t len, struct buf *out);

/* Returns in *out (malloc'd, caller frees; *out_len its length) a copy of raw[0..len) in
 * which every http(s) URL of the inline text/plain and text/html parts (the URLs mime_parse
 * lists, in message/rfc822 parts too) is replaced by fn's text; in HTML the replacement is
 * entity-escaped. Changed parts are re-encoded (their transfer encoding kept when it is
 * base64 or quoted-printable; otherwise what GMime finds best for 7-bit or 8-bit text);
 * every other part and header is written back unchanged, line ends CRLF. When nothing is
 * replaced, *out is an exact copy of raw. *nreplaced (optional) gets the number of
 * occurrences replaced. Attachments are never changed. Errors: fn's error, MC_ERR_TOO_LARGE
 * (input above MIME_MAX_SIZE or a structure the pre-scan refuses: nothing can be rewritten
 * safely), MC_ERR_INVALID, MC_ERR_NOMEM; *out is NULL then. */
int mime_rewrite_urls(const void *raw, size_t len, mime_url_fn fn, void *arg, char **out,
                      size_t *out_len, int *nreplaced, struct err *e);

/* The URL scanner behind both (exposed for tests and the fuzzer): calls fn for each http(s)
 * URL of s[0..n), plain text (html 0) or HTML source (html 1: href, src, action, formaction,
 * background and poster attribute values, entity-decoded, and URLs in the text between
 * tags). start/end delimit the bytes of s to replace; url/url_len is the URL itself
 * (entities decoded, tabs and line breaks removed, spaces and controls %-encoded;
 * NUL-terminated, valid while fn runs). fn's non-zero return stops the scan and is returned. */
int mime_url_scan(const char *s, size_t n, int html,
                  int (*fn)(void *arg, size_t start, size_t end, const char *url, size_t url_len),
                  void *arg);

#endif
