/* The content checks of the mail pipeline; see checks.h. Everything here is a pure function
 * of its arguments: no store, no I/O, no clock, no globals that change. */
#include "checks.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "server/namekey.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

/* The two industry test strings, built from halves so that this file (and the binary) are
 * not themselves flagged by a scanner. */
#define EICAR_A "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD"
#define EICAR_B "-ANTIVIRUS-TEST-FILE!$H+H*"
#define GTUBE_A "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD"
#define GTUBE_B "-ANTI-UBE-TEST-EMAIL*C.34X"

_Static_assert(sizeof(EICAR_A EICAR_B) - 1 == 68, "the EICAR string is 68 bytes");

#define DLP_POLICY "Content Inspection - Payment Card Numbers"

static const struct checks_hold_info holds[] = {
        [CHECKS_HOLD_NONE] = {"", "", "", ""},
        [CHECKS_HOLD_SPAM] = {"Message Hold Applied - Spam Signature policy",
                              "MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY",
                              "message_hold_applied_spam_signature_policy",
                              "Relaxed Spam Detection"},
        [CHECKS_HOLD_ATTACHMENT] = {"Message Hold Applied - Attachment Type policy",
                                    "MESSAGE_HOLD_APPLIED_ATTACHMENT_TYPE_POLICY",
                                    "message_hold_applied_attachment_type_policy",
                                    "Default Attachment Management Definition - Block Dangerous "
                                    "File Types"},
        [CHECKS_HOLD_DLP] = {"Message Hold Applied - Content examination policy",
                             "MESSAGE_HOLD_APPLIED_CONTENT_EXAMINATION_POLICY",
                             "message_hold_applied_content_examination_policy", DLP_POLICY},
        [CHECKS_HOLD_IMPERSONATION] = {"Message Hold Applied - Impersonation Protection policy",
                                       "MESSAGE_HOLD_APPLIED_IMPERSONATION_PROTECTION_POLICY",
                                       "message_hold_applied_impersonation_protection_policy",
                                       CHECKS_IMP_DEFINITION},
        [CHECKS_HOLD_UNSCANNABLE] = {"Message Hold Applied - Attachment Sandbox failure",
                                     "MESSAGE_HOLD_APPLIED_ATTACHMENT_SANDBOX_FAILURE",
                                     "message_hold_applied_attachment_sandbox_failure",
                                     "Default Attachment Protection Definition"},
        [CHECKS_HOLD_TEST] = {"Message Hold Applied - Content examination policy",
                              "MESSAGE_HOLD_APPLIED_CONTENT_EXAMINATION_POLICY",
                              "message_hold_applied_content_examination_policy",
                              "Content Inspection - Hold for Review"},
};

static const char *const test_names[] = {
        [CHECKS_TEST_NONE] = "",
        [CHECKS_TEST_SPAM] = "spam",
        [CHECKS_TEST_VIRUS] = "virus",
        [CHECKS_TEST_HOLD] = "hold",
        [CHECKS_TEST_IMPERSONATION] = "impersonation",
        [CHECKS_TEST_DLP] = "dlp",
        [CHECKS_TEST_DEFER] = "defer",
        [CHECKS_TEST_BOUNCE] = "bounce",
        [CHECKS_TEST_MALICIOUS_URL] = "malicious-url",
};

enum checks_test checks_test_parse(const char *value)
{
	if (!value || !*value)
		return CHECKS_TEST_NONE;
	for (size_t i = 1; i < sizeof(test_names) / sizeof(test_names[0]); i++)
		if (!strcmp(value, test_names[i]))
			return (enum checks_test)i;
	return CHECKS_TEST_NONE;
}

const char *checks_test_name(enum checks_test t)
{
	return (unsigned)t < sizeof(test_names) / sizeof(test_names[0]) ? test_names[t] : "";
}

const char *checks_action_name(enum checks_action a)
{
	switch (a) {
	case CHECKS_HOLD:
		return "hold";
	case CHECKS_TAG:
		return "tag";
	case CHECKS_DISCARD:
		return "discard";
	default:
		return "deliver";
	}
}

const struct checks_hold_info *checks_hold_info(enum checks_hold h)
{
	if ((unsigned)h >= sizeof(holds) / sizeof(holds[0]))
		h = CHECKS_HOLD_NONE;
	return &holds[h];
}

/* ---- primitives ---- */

static int lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int checks_eicar(const void *p, size_t n)
{
	static const char eicar[] = EICAR_A EICAR_B;

	return p && memmem(p, n, eicar, sizeof(eicar) - 1) != NULL;
}

int checks_gtube(const void *s, size_t n)
{
	static const char gtube[] = GTUBE_A GTUBE_B;

	return s && memmem(s, n, gtube, sizeof(gtube) - 1) != NULL;
}

int checks_luhn(const char *d, size_t n)
{
	unsigned sum = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (!is_digit((unsigned char)d[n - 1 - i]))
			return 0;
		v = (unsigned)(d[n - 1 - i] - '0');
		if (i & 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

int checks_card_number(const char *s, size_t n, char masked[CHECKS_MASKED_SIZE])
{
	size_t i = 0;

	while (i < n) {
		char d[20];
		size_t k = 0, j = i;

		if (!is_digit((unsigned char)s[i]) ||
		    (i > 0 && is_alnum((unsigned char)s[i - 1]))) {
			i++;
			continue;
		}
		while (j < n) {
			if (is_digit((unsigned char)s[j])) {
				if (k < sizeof(d))
					d[k] = s[j];
				k++;
				j++;
			} else if ((s[j] == ' ' || s[j] == '-') && j + 1 < n &&
			           is_digit((unsigned char)s[j + 1])) {
				j++;
			} else {
				break;
			}
		}
		if (k >= 13 && k <= 19 && !(j < n && is_alnum((unsigned char)s[j])) &&
		    d[0] >= '2' && d[0] <= '6' && checks_luhn(d, k)) {
			if (masked) {
				memset(masked, '*', k - 4);
				memcpy(masked + k - 4, d + k - 4, 4);
				masked[k] = '\0';
			}
			return 1;
		}
		i = j > i ? j : i + 1;
	}
	return 0;
}

int checks_dangerous_name(const char *name, const char *types)
{
	const char *dot, *ext;
	size_t len, elen;

	if (!name || !types)
		return 0;
	len = strlen(name);
	while (len > 0 && (name[len - 1] == '.' || name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	dot = NULL;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '.')
			dot = name + i;
	if (!dot)
		return 0;
	ext = dot + 1;
	elen = (size_t)(name + len - ext);
	if (elen == 0)
		return 0;
	for (const char *t = types; *t;) {
		const char *c = strchr(t, ',');
		const char *a = t, *b = c ? c : t + strlen(t);

		while (a < b && (*a == ' ' || *a == '\t' || *a == '.'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if ((size_t)(b - a) == elen) {
			size_t k = 0;

			while (k < elen &&
			       lower((unsigned char)a[k]) == lower((unsigned char)ext[k]))
				k++;
			if (k == elen)
				return 1;
		}
		t = c ? c + 1 : b + strlen(b);
	}
	return 0;
}

static int ci_eq_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int checks_one_edit(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i = 0;

	if (la < lb) {
		const char *t = a;
		size_t tl = la;

		a = b;
		b = t;
		la = lb;
		lb = tl;
	}
	if (la - lb > 1)
		return 0;
	while (i < lb && lower((unsigned char)a[i]) == lower((unsigned char)b[i]))
		i++;
	if (la == lb) {
		if (i == la)
			return 0; /* equal */
		if (ci_eq_n(a + i + 1, b + i + 1, la - i - 1))
			return 1; /* one replaced */
		return i + 1 < la && lower((unsigned char)a[i]) == lower((unsigned char)b[i + 1]) &&
		       lower((unsigned char)a[i + 1]) == lower((unsigned char)b[i]) &&
		       ci_eq_n(a + i + 2, b + i + 2, la - i - 2); /* two swapped */
	}
	return ci_eq_n(a + i + 1, b + i, lb - i); /* one deleted from a */
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src), n = len;

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--; /* do not cut a UTF-8 character */
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int checks_impersonation(const char *from_name, const char *from_addr,
                         const struct checks_config *cfg, char *name_out, char *domain_out)
{
	const char *at = from_addr ? strrchr(from_addr, '@') : NULL;
	const char *dom = at ? at + 1 : "";
	char *key = NULL;
	int rules = 0;

	if (name_out)
		name_out[0] = '\0';
	if (domain_out)
		domain_out[0] = '\0';
	if (!*dom)
		return 0;
	for (int i = 0; i < cfg->n_internal_domains; i++) {
		const char *d = cfg->internal_domains[i];

		if (d && strlen(d) == strlen(dom) && ci_eq_n(d, dom, strlen(d)))
			return 0; /* an internal sender */
	}
	for (int i = 0; i < cfg->n_internal_domains && !(rules & CHECKS_IMP_SIMILAR_DOMAIN); i++) {
		const char *d = cfg->internal_domains[i];

		if (d && checks_one_edit(d, dom)) {
			rules |= CHECKS_IMP_SIMILAR_DOMAIN;
			if (domain_out)
				copy_str(domain_out, MIME_ADDR_SIZE, d);
		}
	}
	key = name_key(from_name);
	for (int i = 0; key && i < cfg->n_internal_names; i++) {
		char *k = name_key(cfg->internal_names[i]);

		if (k && !strcmp(k, key)) {
			rules |= CHECKS_IMP_INTERNAL_NAME;
			if (name_out)
				copy_str(name_out, MIME_NAME_SIZE, cfg->internal_names[i]);
			name_key_free(k);
			break;
		}
		name_key_free(k);
	}
	name_key_free(key);
	return rules;
}

/* ---- the spam score ---- */

/* A part's content as text and as bytes (see mime_part): both are scanned. */
static int part_has(const struct mime_part *p, int (*fn)(const void *, size_t))
{
	return fn(p->data, p->len) || (p->bytes != p->data && fn(p->bytes, p->nbytes));
}

struct spam {
	int score;
	struct buf info;
};

static void spam_rule(struct spam *sp, const char *name, int points)
{
	sp->score += points;
	if (sp->info.len > 1)
		(void)buf_adds(&sp->info, ", ");
	(void)buf_adds(&sp->info, name); /* past the cap the list is only shorter */
}

static const char *const spam_phrases[] = {
        "viagra",  "lottery",   "you have won", "wire transfer fee", "100% free",
        "act now", "risk-free", "winner!",      "claim your prize",  "bitcoin investment",
};
#define NPHRASES (sizeof(spam_phrases) / sizeof(spam_phrases[0]))

/* Marks in found[] the spam phrases (lower case) that s[0..n) holds, ASCII case ignored:
 * one lower-case copy, then memmem per phrase. Searching each phrase byte by byte in the
 * text was most of the process stage's CPU on a 10 KiB message. */
static void find_phrases(const unsigned char *s, size_t n, int found[NPHRASES])
{
	unsigned char *low;

	if (!s || n == 0)
		return;
	low = malloc(n);
	if (!low) {
		/* without memory, the slow way rather than no answer */
		for (size_t k = 0; k < NPHRASES; k++) {
			size_t len = strlen(spam_phrases[k]);
			for (size_t i = 0; !found[k] && i + len <= n; i++)
				found[k] = ci_eq_n((const char *)s + i, spam_phrases[k], len);
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		low[i] = (unsigned char)lower(s[i]);
	for (size_t k = 0; k < NPHRASES; k++)
		if (!found[k] && memmem(low, n, spam_phrases[k], strlen(spam_phrases[k])))
			found[k] = 1;
	free(low);
}

static int text_like(const struct mime_msg *m, const struct mime_part *p)
{
	const char *name;

	if (p->kind != MIME_ATTACHMENT)
		return 1;
	if (!strncmp(p->type, "text/", 5))
		return 1;
	name = p->attachment >= 0 ? m->attachments[p->attachment].name : "";
	return checks_dangerous_name(name, "txt,csv,log");
}

static void spam_score(const struct mime_msg *m, struct checks_verdict *v, int forced)
{
	struct spam sp = {0};
	int html = 0, plain = 0, letters = 0, lowers = 0, bangs = 0, phrases = 0;
	int phrase[NPHRASES] = {0};

	buf_init(&sp.info, CHECKS_INFO_SIZE - 2);
	(void)buf_addc(&sp.info, '[');
	for (int i = 0; i < m->nparts; i++) {
		const struct mime_part *p = &m->parts[i];

		if (!text_like(m, p))
			continue;
		html |= p->kind == MIME_HTML;
		plain |= p->kind == MIME_TEXT;
		if (part_has(p, checks_gtube) && !(sp.score >= CHECKS_GTUBE_SCORE))
			spam_rule(&sp, "GTUBE", CHECKS_GTUBE_SCORE);
		find_phrases(p->data, p->len, phrase);
	}
	find_phrases((const unsigned char *)m->subject, strlen(m->subject), phrase);
	if (forced && sp.score < CHECKS_GTUBE_SCORE)
		spam_rule(&sp, "X_MCAPI_TEST", CHECKS_GTUBE_SCORE);
	for (const char *s = m->subject; *s; s++) {
		unsigned char c = (unsigned char)*s;

		letters += (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		lowers += c >= 'a' && c <= 'z';
		bangs += c == '!';
	}
	if (letters >= 10 && lowers == 0)
		spam_rule(&sp, "SUBJECT_ALL_CAPS", 4);
	if (bangs >= 3)
		spam_rule(&sp, "SUBJECT_EXCLAIM", 3);
	if (!m->msg_id[0])
		spam_rule(&sp, "MISSING_MESSAGE_ID", 3);
	if (!m->from_addr[0])
		spam_rule(&sp, "MISSING_FROM", 3);
	if (html && !plain)
		spam_rule(&sp, "HTML_ONLY", 2);
	for (size_t k = 0; k < NPHRASES; k++)
		phrases += phrase[k];
	if (phrases)
		spam_rule(&sp, "SPAM_PHRASES", 6 * phrases);
	(void)buf_addc(&sp.info, ']');
	v->spam_score = sp.score;
	v->spam_limit = CHECKS_SPAM_LIMIT;
	v->spam = sp.score >= CHECKS_SPAM_LIMIT;
	copy_str(v->spam_info, sizeof(v->spam_info), sp.info.data ? sp.info.data : "[]");
	buf_release(&sp.info);
}

/* ---- checks_run ---- */

const char *checks_virus(const struct mime_msg *m, const struct checks_config *cfg, int *part)
{
	if (part)
		*part = -1;
	for (int i = 0; i < m->nparts; i++) {
		if (part_has(&m->parts[i], checks_eicar)) {
			if (part)
				*part = i;
			return CHECKS_VIRUS_EICAR;
		}
	}
	if (cfg && cfg->test_headers && checks_test_parse(m->test) == CHECKS_TEST_VIRUS)
		return CHECKS_VIRUS_EICAR;
	return NULL;
}

static void dlp_scan(const struct mime_msg *m, struct checks_verdict *v)
{
	for (int i = 0; i < m->nparts && !v->dlp; i++) {
		const struct mime_part *p = &m->parts[i];

		if (text_like(m, p) &&
		    (checks_card_number((const char *)p->data, p->len, v->dlp_match) ||
		     (p->bytes != p->data &&
		      checks_card_number((const char *)p->bytes, p->nbytes, v->dlp_match)))) {
			v->dlp = 1;
			v->dlp_part = i;
		}
	}
}

int checks_run(const struct mime_msg *m, const struct checks_config *cfg, struct checks_verdict *v,
               struct err *e)
{
	const char *virus;
	enum checks_test test = CHECKS_TEST_NONE;
	int hold_imp;

	memset(v, 0, sizeof(*v));
	v->virus_part = -1;
	v->dangerous_att = -1;
	v->dlp_part = -1;
	v->dlp_policy = "";
	v->imp_action = "";
	v->held = checks_hold_info(CHECKS_HOLD_NONE);
	if (cfg->test_headers)
		test = checks_test_parse(m->test);
	v->test = test;

	/* TTP attachment protect and the attachment policy */
	if (m->natt > 0) {
		v->att = calloc((size_t)m->natt, sizeof(*v->att));
		if (!v->att)
			return err_set(e, MC_ERR_NOMEM, "out of memory");
		v->natt = m->natt;
	}
	for (int i = 0; i < m->natt; i++) {
		const struct mime_attachment *a = &m->attachments[i];
		const struct mime_part *p = &m->parts[a->part];

		v->att[i].malicious = part_has(p, checks_eicar);
		v->att[i].result = v->att[i].malicious ? "malicious" : "safe";
		v->att[i].dangerous = checks_dangerous_name(a->name, cfg->dangerous_types);
		if (v->att[i].dangerous && v->dangerous++ == 0)
			v->dangerous_att = i;
	}

	/* anti-virus */
	virus = checks_virus(m, cfg, &v->virus_part);
	if (virus)
		copy_str(v->virus, sizeof(v->virus), virus);

	/* spam */
	if (!cfg->permitted_sender || test == CHECKS_TEST_SPAM)
		spam_score(m, v, test == CHECKS_TEST_SPAM);
	else
		copy_str(v->spam_info, sizeof(v->spam_info), "[]");
	v->spam_limit = CHECKS_SPAM_LIMIT;

	/* DLP */
	dlp_scan(m, v);
	if (!v->dlp && test == CHECKS_TEST_DLP) {
		v->dlp = 1;
		copy_str(v->dlp_match, sizeof(v->dlp_match), "************1111");
	}
	if (v->dlp)
		v->dlp_policy = DLP_POLICY;

	/* impersonation */
	if (!cfg->permitted_sender)
		v->imp_rules = checks_impersonation(m->from_name, m->from_addr, cfg, v->imp_name,
		                                    v->imp_domain);
	if (test == CHECKS_TEST_IMPERSONATION && !(v->imp_rules & CHECKS_IMP_INTERNAL_NAME)) {
		v->imp_rules |= CHECKS_IMP_INTERNAL_NAME;
		copy_str(v->imp_name, sizeof(v->imp_name), m->from_name);
	}
	v->imp_hits = !!(v->imp_rules & CHECKS_IMP_INTERNAL_NAME) +
	              !!(v->imp_rules & CHECKS_IMP_SIMILAR_DOMAIN);
	if (v->imp_hits)
		v->imp_action = cfg->impersonation_hold ? "hold" : "none";
	hold_imp = v->imp_hits && cfg->impersonation_hold;

	v->unscannable = (m->truncated & MIME_TRUNC_UNSCANNED) != 0;
	v->force_defer = test == CHECKS_TEST_DEFER;
	v->force_bounce = test == CHECKS_TEST_BOUNCE;
	v->malicious_urls = test == CHECKS_TEST_MALICIOUS_URL;

	/* the action, most severe first */
	if (v->virus[0])
		v->action = CHECKS_DISCARD;
	else if (v->dangerous)
		v->hold = CHECKS_HOLD_ATTACHMENT;
	else if (v->spam)
		v->hold = CHECKS_HOLD_SPAM;
	else if (hold_imp)
		v->hold = CHECKS_HOLD_IMPERSONATION;
	else if (v->dlp)
		v->hold = CHECKS_HOLD_DLP;
	else if (v->unscannable)
		v->hold = CHECKS_HOLD_UNSCANNABLE;
	else if (test == CHECKS_TEST_HOLD)
		v->hold = CHECKS_HOLD_TEST;
	else if (v->imp_hits)
		v->action = CHECKS_TAG;
	if (v->hold != CHECKS_HOLD_NONE)
		v->action = CHECKS_HOLD;
	v->held = checks_hold_info(v->hold);
	return 0;
}

void checks_verdict_release(struct checks_verdict *v)
{
	if (!v)
		return;
	free(v->att);
	v->att = NULL;
	v->natt = 0;
}

char *checks_attachments_json(const struct mime_msg *m, const struct checks_verdict *v)
{
	struct buf b;
	size_t cap = 16;

	for (int i = 0; i < m->natt; i++)
		cap += 6 * (strlen(m->attachments[i].name) + strlen(m->attachments[i].type)) + 256;
	buf_init(&b, cap);
	if (buf_addc(&b, '[') != 0)
		goto fail;
	for (int i = 0; i < m->natt; i++) {
		const struct mime_attachment *a = &m->attachments[i];
		const char *verdict = v && i < v->natt ? v->att[i].result : "safe";

		if ((i && buf_addc(&b, ',') != 0) || buf_addc(&b, '{') != 0 ||
		    json_write_member(&b, 1, "name", a->name) != 0 ||
		    json_write_member(&b, 0, "type", a->type) != 0 ||
		    buf_addf(&b, ",\"size\":%lld", (long long)a->size) != 0 ||
		    json_write_member(&b, 0, "md5", a->md5) != 0 ||
		    json_write_member(&b, 0, "sha1", a->sha1) != 0 ||
		    json_write_member(&b, 0, "sha256", a->sha256) != 0 ||
		    json_write_member(&b, 0, "verdict", verdict) != 0 || buf_addc(&b, '}') != 0)
			goto fail;
	}
	if (buf_addc(&b, ']') != 0)
		goto fail;
	return buf_detach(&b, NULL);
fail:
	buf_release(&b);
	return NULL;
}
