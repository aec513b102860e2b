/* The content checks of the mail pipeline (API.md §13.2) as pure functions of a parsed
 * message (mime.h) and a few knobs: anti-virus (the EICAR test file), spam (the GTUBE test
 * string and a few cheap deterministic rules), dangerous attachment types, DLP (payment card
 * numbers passing the Luhn check), impersonation (internal user names and look-alike
 * domains), the TTP attachment sandbox verdicts and the X-Mcapi-Test header. No store, no
 * I/O, no clock: the same input always gives the same verdict. mail.c loads the inputs,
 * records the verdict and writes the events.
 *
 * Hold reasons use the real service's wording (hold-queue recordings in the fixtures):
 *   spam          reason "Message Hold Applied - Spam Signature policy",
 *                 MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY, policyInfo "Relaxed Spam
 *                 Detection" (all three recorded);
 *   attachment    "Message Hold Applied - Attachment Type policy",
 *                 MESSAGE_HOLD_APPLIED_ATTACHMENT_TYPE_POLICY (an id real clients test
 *                 for), policyInfo "Default Attachment Management Definition - Block
 *                 Dangerous File Types" (recorded);
 *   dlp           "Message Hold Applied - Content examination policy",
 *                 MESSAGE_HOLD_APPLIED_CONTENT_EXAMINATION_POLICY (recorded), policyInfo
 *                 "Content Inspection - Payment Card Numbers" (ours, named like the DLP
 *                 policies in recorded dlpLogs, e.g. "Content Inspection - Watermark");
 *   impersonation "Message Hold Applied - Impersonation Protection policy",
 *                 MESSAGE_HOLD_APPLIED_IMPERSONATION_PROTECTION_POLICY (ours), policyInfo
 *                 "Default Impersonation Definition" (the recorded definition name);
 *   unscannable   "Message Hold Applied - Attachment Sandbox failure",
 *                 MESSAGE_HOLD_APPLIED_ATTACHMENT_SANDBOX_FAILURE (an id real clients test
 *                 for), policyInfo "Default Attachment Protection Definition" (recorded):
 *                 a message whose content mime.h could not fully walk (MIME_TRUNC_UNSCANNED);
 *   test hold     X-Mcapi-Test: hold: the content examination reason with policyInfo
 *                 "Content Inspection - Hold for Review" (ours).
 * reasonCode is always reasonId in lower case. */
#ifndef MCAPI_SERVER_MAIL_CHECKS_H
#define MCAPI_SERVER_MAIL_CHECKS_H

#include "server/mail/mime.h"

#include <stddef.h>

struct err;

#define CHECKS_VIRUS_EICAR    "EICAR-Test-File"
#define CHECKS_SPAM_LIMIT     28   /* the SpamLimit the real service reports */
#define CHECKS_GTUBE_SCORE    1000 /* GTUBE, or X-Mcapi-Test: spam */
#define CHECKS_INFO_SIZE      256
#define CHECKS_VIRUS_SIZE     64
#define CHECKS_MASKED_SIZE    24 /* a card number with all but its last 4 digits masked */
#define CHECKS_IMP_DEFINITION "Default Impersonation Definition"

/* X-Mcapi-Test values. */
enum checks_test {
	CHECKS_TEST_NONE = 0,
	CHECKS_TEST_SPAM,
	CHECKS_TEST_VIRUS,
	CHECKS_TEST_HOLD,
	CHECKS_TEST_IMPERSONATION,
	CHECKS_TEST_DLP,
	CHECKS_TEST_DEFER,
	CHECKS_TEST_BOUNCE,
	CHECKS_TEST_MALICIOUS_URL,
};

/* "spam" → CHECKS_TEST_SPAM, ... (exact, lower case as mime_msg.test has it); anything
 * else, NULL and "" → CHECKS_TEST_NONE. */
enum checks_test checks_test_parse(const char *value);
/* "spam", ..., "malicious-url"; "" for NONE. */
const char *checks_test_name(enum checks_test t);

enum checks_action {
	CHECKS_DELIVER = 0,
	CHECKS_HOLD = 1,
	CHECKS_TAG = 2,     /* deliver, marked (impersonation with action tag) */
	CHECKS_DISCARD = 3, /* a virus found at the process stage: dropped, never bounced */
};
const char *checks_action_name(enum checks_action a); /* deliver | hold | tag | discard */

enum checks_hold {
	CHECKS_HOLD_NONE = 0,
	CHECKS_HOLD_SPAM,
	CHECKS_HOLD_ATTACHMENT,
	CHECKS_HOLD_DLP,
	CHECKS_HOLD_IMPERSONATION,
	CHECKS_HOLD_UNSCANNABLE,
	CHECKS_HOLD_TEST,
};

/* The strings of a hold reason (static; "" for CHECKS_HOLD_NONE). */
struct checks_hold_info {
	const char *reason;      /* "Message Hold Applied - Spam Signature policy" */
	const char *reason_id;   /* MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY */
	const char *reason_code; /* message_hold_applied_spam_signature_policy */
	const char *policy_info; /* "Relaxed Spam Detection" */
};
const struct checks_hold_info *checks_hold_info(enum checks_hold h);

/* The inputs besides the message; the caller owns every pointer. */
struct checks_config {
	const char *dangerous_types; /* extensions, comma-separated ("exe, .scr,js"); NULL = none */
	int impersonation_hold;      /* 1: hold on an impersonation hit; 0: tag */
	int test_headers;            /* X-Mcapi-Test is honoured */
	int permitted_sender;        /* a permit policy (§18) matched: spam and impersonation
	                              * are not checked */
	const char *const *internal_names; /* display names of the account's users */
	int n_internal_names;
	const char *const *internal_domains; /* the account's internal domains */
	int n_internal_domains;
};

/* The TTP attachment-protect verdict of one attachment. */
struct checks_att {
	int malicious;      /* the EICAR test file is in it */
	int dangerous;      /* its extension is in dangerous_types */
	const char *result; /* "malicious" | "safe" (ttp_ap result) */
};

/* Impersonation identifiers (the real ttp_ip logs' names). */
#define CHECKS_IMP_INTERNAL_NAME  0x1 /* "internal_user_name" */
#define CHECKS_IMP_SIMILAR_DOMAIN 0x2 /* "similar_internal_domain" */

/* What checks_run found. Strings are "" when not applicable. */
struct checks_verdict {
	enum checks_action action;
	enum checks_hold hold;               /* why, when action is CHECKS_HOLD */
	const struct checks_hold_info *held; /* checks_hold_info(hold) */
	enum checks_test test;               /* the X-Mcapi-Test honoured, or NONE */

	/* spam (SIEM "spam" and the receipt/process SpamScore, SpamInfo, SpamLimit) */
	int spam_score;
	int spam_limit;
	int spam;                         /* spam_score >= spam_limit */
	char spam_info[CHECKS_INFO_SIZE]; /* "[GTUBE, SUBJECT_ALL_CAPS]": the rules that scored */

	/* anti-virus (SIEM "av") */
	char virus[CHECKS_VIRUS_SIZE]; /* CHECKS_VIRUS_EICAR or "" */
	int virus_part;                /* index into mime_msg.parts, -1 */

	/* attachment policy */
	int dangerous;     /* attachments with a dangerous extension */
	int dangerous_att; /* the first one: index into mime_msg.attachments, -1 */

	/* DLP (dlpLogs, SIEM "dlp") */
	int dlp;
	const char *dlp_policy;             /* "Content Inspection - Payment Card Numbers" or "" */
	char dlp_match[CHECKS_MASKED_SIZE]; /* "************1111": never the whole number */
	int dlp_part;                       /* index into mime_msg.parts, -1 */

	/* impersonation (impersonationLogs, SIEM "ttp_ip") */
	int imp_hits;                    /* identifiers that matched (0, 1 or 2) */
	int imp_rules;                   /* CHECKS_IMP_* bits */
	const char *imp_action;          /* "hold" | "none" (tagged) | "" */
	char imp_name[MIME_NAME_SIZE];   /* the internal user's name the display name copies */
	char imp_domain[MIME_ADDR_SIZE]; /* the internal domain the sender's domain imitates */

	/* content mime.h could not fully walk (mime_msg.truncated & MIME_TRUNC_UNSCANNED) */
	int unscannable;

	/* outcomes X-Mcapi-Test asks of later stages */
	int force_defer;    /* every delivery attempt defers */
	int force_bounce;   /* delivery fails permanently */
	int malicious_urls; /* the message's URLs count as malicious when clicked */

	/* TTP attachment protect (attachmentLogs, SIEM "ttp_ap"): one per
	 * mime_msg.attachments, same order; owned, see checks_verdict_release */
	int natt;
	struct checks_att *att;
};

/* Runs every process-stage check on m and fills v (which the caller releases with
 * checks_verdict_release, also after an error). Severity decides the action: a virus
 * discards; otherwise the first hold of dangerous attachment, spam, impersonation (when
 * cfg->impersonation_hold), DLP, unscannable, test hold; otherwise an impersonation hit
 * tags; otherwise deliver. Every finding is filled in whatever the action. Returns 0 or
 * MC_ERR_NOMEM. */
int checks_run(const struct mime_msg *m, const struct checks_config *cfg, struct checks_verdict *v,
               struct err *e);

void checks_verdict_release(struct checks_verdict *v);

/* The receipt-stage anti-virus check (mail_accept): CHECKS_VIRUS_EICAR when a decoded part
 * of m holds the EICAR test file, or X-Mcapi-Test is "virus" and cfg->test_headers; else
 * NULL. *part (optional) gets the part's index or -1. */
const char *checks_virus(const struct mime_msg *m, const struct checks_config *cfg, int *part);

/* The attachments of m with their verdicts as the store's JSON array
 * [{name, type, size, md5, sha1, sha256, verdict}], malloc'd (caller frees); NULL on
 * allocation failure. v may be NULL (verdict "safe"). */
char *checks_attachments_json(const struct mime_msg *m, const struct checks_verdict *v);

/* ---- the primitives (pure; exposed for tests) ---- */

/* 1 if p[0..n) contains the 68-byte EICAR test string. */
int checks_eicar(const void *p, size_t n);
/* 1 if s[0..n) contains the GTUBE string. */
int checks_gtube(const void *s, size_t n);
/* 1 if the n decimal digits of d pass the Luhn check. */
int checks_luhn(const char *d, size_t n);
/* 1 if s[0..n) holds a payment card number: 13 to 19 digits (single spaces or dashes
 * allowed between digits, not touching other letters or digits), first digit 2 to 6 (the
 * card networks' ranges: Mastercard 2/5, Amex 3, Visa 4, Discover 6), passing Luhn.
 * masked (optional) gets the first such number with all but its last 4 digits as '*'. */
int checks_card_number(const char *s, size_t n, char masked[CHECKS_MASKED_SIZE]);
/* 1 if the last extension of name (after trailing dots and blanks, which Windows drops) is
 * in the comma-separated list types (entries trimmed, a leading '.' ignored, any case):
 * "invoice.pdf.exe" with "exe" → 1. */
int checks_dangerous_name(const char *name, const char *types);
/* 1 if a and b (any case) are one edit apart: one character replaced, inserted or
 * deleted, or two adjacent characters swapped. 0 when equal. */
int checks_one_edit(const char *a, const char *b);
/* The impersonation rules for a sender (display name, address): CHECKS_IMP_* bits, 0 when
 * the sender's domain is internal. name_out/domain_out (optional, MIME_NAME_SIZE and
 * MIME_ADDR_SIZE) get what matched. Names are compared trimmed, blanks collapsed, Unicode
 * case-folded and NFKC-normalised (so full-width look-alikes match too). */
int checks_impersonation(const char *from_name, const char *from_addr,
                         const struct checks_config *cfg, char *name_out, char *domain_out);

#endif
