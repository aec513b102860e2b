/* The emulator's web console under /__mcapi/ui/ (docs/emulator.md, "The web console"):
 * server-rendered HTML pages over the control plane's state and the store (accounts and
 * keys, domains with the TXT record to publish, the hold queue, the message log, the
 * journal, fault rules) and a few form actions. Every value shown goes through one
 * escaping function (the page formatter's %s). The operator gives the control token once
 * (the login form) and gets a session cookie; every POST carries the session's CSRF token.
 * A Bearer control token opens the pages too (curl), never the actions; an API key opens
 * nothing. Actions run the API's own handlers (create-domain, verify-domain, hold-release,
 * hold-reject) on the front's request as the account concerned, so what the console does is
 * what the API would do, with the same audit rows; verify-domain's DNS lookup suspends the
 * connection as for an API call (emu_console_resume). No external assets: CSS is inline
 * and the only script, /__mcapi/ui/console.js, polls the journal; pages read fine without
 * it. */
#include "emu_int.h"

#include "common/b64.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "server/api/api.h"
#include "server/api/domain_item.h"
#include "server/api/message.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_domain.h"
#include "server/store/store_mail.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

#define UI            "/__mcapi/ui"
#define COOKIE_NAME   "mcapi_console"
#define CONSOLE_USER  "mcapid-console" /* who audit rows of console actions name */
#define CONSOLE_APP   "mcapid console"
#define PAGE_CAP      (8u << 20) /* an HTML page; past it the page is a 500 */
#define MAX_ACCOUNTS  500        /* accounts one page shows */
#define MAX_ROWS      200        /* domains, messages, journal entries per page */
#define FIELD_MAX     1024       /* one form or query value */
#define FLASH_NONE    0
#define FLASH_DONE    1
#define FLASH_REFUSED 2
#define FLASH_CREDS   3

/* ---- the page formatter: literal text as is, every value escaped ---- */

struct page {
	struct buf b;
	int rc;
};

int emu_html_escape(struct buf *b, const char *s)
{
	return s ? buf_add_html(b, s, strlen(s)) : 0;
}

/* Every value a page shows or puts in an attribute goes through here. */
static void esc(struct page *p, const char *s)
{
	if (!p->rc)
		p->rc = emu_html_escape(&p->b, s);
}

/* A query value: unreserved characters as they are, the rest %XX (safe in HTML too). */
static void url_enc(struct page *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; s && *s && !p->rc; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			p->rc = buf_addc(&p->b, (char)c);
		} else {
			char t[3] = {'%', hex[c >> 4], hex[c & 15]};
			p->rc = buf_add(&p->b, t, 3);
		}
	}
}

/* Appends fmt: its text as markup, %s a value (escaped), %d an int, %L an int64_t, %u a
 * value for a query string, %% a percent sign. Errors stick in p->rc. */
static void pf(struct page *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	while (*fmt && !p->rc) {
		const char *pct = strchr(fmt, '%');
		size_t n = pct ? (size_t)(pct - fmt) : strlen(fmt);

		if (n) {
			p->rc = buf_add(&p->b, fmt, n);
			fmt += n;
			continue;
		}
		switch (fmt[1]) {
		case 's':
			esc(p, va_arg(ap, const char *));
			break;
		case 'd':
			p->rc = buf_add_i64(&p->b, va_arg(ap, int));
			break;
		case 'L':
			p->rc = buf_add_i64(&p->b, (long long)va_arg(ap, int64_t));
			break;
		case 'u':
			url_enc(p, va_arg(ap, const char *));
			break;
		case '%':
			p->rc = buf_addc(&p->b, '%');
			break;
		default:
			p->rc = MC_ERR_INTERNAL; /* a format this function does not know */
			break;
		}
		fmt += 2;
	}
	va_end(ap);
}

/* ---- forms and queries ---- */

int emu_form_get(const char *s, size_t len, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name), i = 0;

	out[0] = '\0';
	while (s && i < len) {
		size_t end = i;
		while (end < len && s[end] != '&')
			end++;
		if (end - i > nl && memcmp(s + i, name, nl) == 0 && s[i + nl] == '=') {
			size_t o = 0;
			for (size_t k = i + nl + 1; k < end; k++) {
				char c = s[k];
				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					int h, l;
					if (k + 2 >= end)
						return out[0] = '\0', -1;
					h = hex_value((unsigned char)s[k + 1]);
					l = hex_value((unsigned char)s[k + 2]);
					if (h < 0 || l < 0)
						return out[0] = '\0', -1;
					c = (char)(h * 16 + l);
					k += 2;
				}
				if (c == '\0' || o + 1 >= size)
					return out[0] = '\0', -1;
				out[o++] = c;
			}
			out[o] = '\0';
			return 1;
		}
		if (end - i == nl && memcmp(s + i, name, nl) == 0)
			return 1; /* "name" alone: present and empty */
		i = end + 1;
	}
	return 0;
}

static int query_get(const struct request *req, const char *name, char *out, size_t size)
{
	return req->query ? emu_form_get(req->query, strlen(req->query), name, out, size)
	                  : (out[0] = '\0', 0);
}

/* ---- sessions ---- */

/* The session cookie's value from the Cookie header into sid ("" when absent). */
static void cookie_sid(struct request *req, char sid[EMU_SID_LEN + 1])
{
	const char *c = request_header(req, "cookie");
	size_t nl = strlen(COOKIE_NAME);

	sid[0] = '\0';
	while (c && *c) {
		while (*c == ' ' || *c == ';')
			c++;
		if (strncmp(c, COOKIE_NAME, nl) == 0 && c[nl] == '=') {
			const char *v = c + nl + 1;
			size_t n = strcspn(v, "; ");
			if (n == EMU_SID_LEN) {
				memcpy(sid, v, n);
				sid[n] = '\0';
			}
			return;
		}
		c = strchr(c, ';');
	}
}

/* The live session whose id is sid (compared in constant time): its index, or -1. Caller
 * holds ui_mu. */
static int session_at(struct emu *emu, const char *sid, int64_t now)
{
	int found = -1;

	if (strlen(sid) != EMU_SID_LEN)
		return -1;
	for (int i = 0; i < EMU_SESSIONS; i++) {
		struct emu_session *s = &emu->sessions[i];
		/* every slot is compared, so the time says nothing about which one matched */
		int same = s->id[0] && ct_equal(s->id, EMU_SID_LEN, sid, EMU_SID_LEN);
		if (same && s->expires > now)
			found = i;
	}
	return found;
}

_Static_assert(B64_ENCODED_SIZE(32) == EMU_SID_LEN + 2, "43 characters and a padding byte");

/* A new session: its id and CSRF token into sid and csrf. */
static void session_new(struct emu *emu, char sid[EMU_SID_LEN + 1], char csrf[EMU_SID_LEN + 1])
{
	int64_t now = mono_ms();
	int slot = 0;

	char t[B64_ENCODED_SIZE(32)];

	/* 256 random bits each, base64url without padding: EMU_SID_LEN characters */
	random_token(RND_INTERNAL, 32, t, sizeof(t));
	memcpy(sid, t, EMU_SID_LEN + 1);
	random_token(RND_INTERNAL, 32, t, sizeof(t));
	memcpy(csrf, t, EMU_SID_LEN + 1);
	secure_zero(t, sizeof(t));
	pthread_mutex_lock(&emu->ui_mu);
	for (int i = 0; i < EMU_SESSIONS; i++) {
		if (!emu->sessions[i].id[0] || emu->sessions[i].expires <= now) {
			slot = i;
			break;
		}
		if (emu->sessions[i].expires < emu->sessions[slot].expires)
			slot = i; /* full: the one that ends first makes room */
	}
	secure_zero(&emu->sessions[slot], sizeof(emu->sessions[slot]));
	memcpy(emu->sessions[slot].id, sid, EMU_SID_LEN + 1);
	memcpy(emu->sessions[slot].csrf, csrf, EMU_SID_LEN + 1);
	emu->sessions[slot].expires = now + EMU_SESSION_MS;
	pthread_mutex_unlock(&emu->ui_mu);
}

static void session_end(struct emu *emu, const char *sid)
{
	int i;

	pthread_mutex_lock(&emu->ui_mu);
	if ((i = session_at(emu, sid, mono_ms())) >= 0)
		secure_zero(&emu->sessions[i], sizeof(emu->sessions[i]));
	pthread_mutex_unlock(&emu->ui_mu);
}

/* 1 if sid is a live session, with its CSRF token copied to csrf. */
static int session_csrf(struct emu *emu, const char *sid, char csrf[EMU_SID_LEN + 1])
{
	int i;

	pthread_mutex_lock(&emu->ui_mu);
	i = session_at(emu, sid, mono_ms());
	if (i >= 0)
		memcpy(csrf, emu->sessions[i].csrf, EMU_SID_LEN + 1);
	pthread_mutex_unlock(&emu->ui_mu);
	return i >= 0;
}

/* The message the next page of session sid shows once. */
static void flash_set(struct emu *emu, const char *sid, int kind, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void flash_set(struct emu *emu, const char *sid, int kind, const char *fmt, ...)
{
	va_list ap;
	int i;

	pthread_mutex_lock(&emu->ui_mu);
	if ((i = session_at(emu, sid, mono_ms())) >= 0) {
		struct emu_session *s = &emu->sessions[i];
		s->flash_kind = kind;
		va_start(ap, fmt);
		vsnprintf(s->flash, sizeof(s->flash), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&emu->ui_mu);
}

/* Takes the session's message (then gone from it); returns its kind, FLASH_NONE if none. */
static int flash_take(struct emu *emu, const char *sid, char out[EMU_FLASH_SIZE])
{
	int i, kind = FLASH_NONE;

	pthread_mutex_lock(&emu->ui_mu);
	if ((i = session_at(emu, sid, mono_ms())) >= 0 && emu->sessions[i].flash_kind) {
		struct emu_session *s = &emu->sessions[i];
		kind = s->flash_kind;
		memcpy(out, s->flash, EMU_FLASH_SIZE);
		secure_zero(s->flash, sizeof(s->flash));
		s->flash_kind = FLASH_NONE;
	}
	pthread_mutex_unlock(&emu->ui_mu);
	return kind;
}

/* ---- one console request ---- */

enum who { WHO_NONE, WHO_BEARER, WHO_SESSION };

struct ctx {
	struct emu *emu;
	struct request *req;
	struct response *res;
	struct emu_page *pg;
	struct page p;
	enum who who;
	char sid[EMU_SID_LEN + 1];
	char csrf[EMU_SID_LEN + 1]; /* the session's ("" for a Bearer caller) */
	const char *body;
	size_t len;
	/* the accounts, oldest first, for names and the account selectors */
	struct acct {
		int64_t id;
		char code[32];
		char name[128];
	} * accts;
	int naccts;
};

static const char *acct_code(const struct ctx *c, int64_t id)
{
	for (int i = 0; i < c->naccts; i++)
		if (c->accts[i].id == id)
			return c->accts[i].code;
	return "?";
}

static int add_acct(void *arg, const struct account *a)
{
	struct ctx *c = arg;

	if (c->naccts == MAX_ACCOUNTS)
		return 1;
	c->accts[c->naccts].id = a->id;
	snprintf(c->accts[c->naccts].code, sizeof(c->accts[0].code), "%s", a->code);
	snprintf(c->accts[c->naccts].name, sizeof(c->accts[0].name), "%s", a->name);
	c->naccts++;
	return 0;
}

static int load_accounts(struct ctx *c)
{
	int rc;

	if (!c->accts && !(c->accts = calloc(MAX_ACCOUNTS, sizeof(*c->accts))))
		return MC_ERR_NOMEM;
	c->naccts = 0;
	rc = store_account_list(c->req->srv->store, add_acct, c, NULL);
	return rc == 1 ? 0 : rc;
}

/* Hands the page built in c->p to the front with status. */
static int finish_page(struct ctx *c, int status)
{
	size_t len = 0;

	if (c->p.rc) {
		buf_release(&c->p.b);
		if (c->p.rc == MC_ERR_NOMEM)
			return MC_ERR_NOMEM;
		log_warn("msg=\"console page not made\" rc=%d", c->p.rc);
		buf_init(&c->p.b, 4096);
		c->p.rc = buf_adds(&c->p.b, "<!doctype html><title>mcapid console</title>"
		                            "<p>This page could not be made (see the log).");
		status = 500;
		if (c->p.rc)
			return MC_ERR_NOMEM;
	}
	c->pg->body = buf_detach(&c->p.b, &len);
	if (!c->pg->body)
		return MC_ERR_NOMEM;
	c->pg->len = len;
	c->pg->status = status;
	if (!c->pg->type)
		c->pg->type = "text/html; charset=utf-8";
	return 0;
}

/* A 303 to UI + where (redirect after POST; also a GET without a session). */
static int redirect(struct ctx *c, const char *where)
{
	snprintf(c->pg->location, sizeof(c->pg->location), UI "%s", where);
	return finish_page(c, 303);
}

static const char CSS[] =
        "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}"
        "header{background:#1f3a5f;color:#fff;padding:.5em 1em;display:flex;gap:1em;"
        "align-items:center;flex-wrap:wrap}header a{color:#fff}header a.on{font-weight:bold;"
        "text-decoration:none;border-bottom:2px solid #fff}header form{margin-left:auto}"
        "main{padding:1em}table{border-collapse:collapse;margin:.5em 0 1.5em;background:#fff}"
        "th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
        "th{background:#eef}code{font:13px ui-monospace,monospace;word-break:break-all}"
        ".flash{padding:.5em 1em;margin-bottom:1em;border:1px solid}"
        ".done{background:#e7f6e7;border-color:#7b7}.refused{background:#fbe9e9;"
        "border-color:#c77}.muted{color:#777}form.inline{display:inline;margin:0}"
        "fieldset{background:#fff;margin:0 0 1.5em;border:1px solid #ccc}"
        "label{display:inline-block;margin:.2em .8em .2em 0}"
        ".txt th{background:#ffe}";

static const char *const NAV[][2] = {
        {"/", "Accounts"},         {"/domains", "Domains"}, {"/held", "Hold queue"},
        {"/messages", "Messages"}, {"/journal", "Journal"}, {"/faults", "Fault rules"},
};

static void page_head(struct ctx *c, const char *title, const char *here)
{
	char flash[EMU_FLASH_SIZE];
	/* a HEAD request leaves the message for the GET that shows it */
	int kind = c->who == WHO_SESSION && strcmp(c->req->method, "HEAD") != 0
	                   ? flash_take(c->emu, c->sid, flash)
	                   : FLASH_NONE;

	pf(&c->p,
	   "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	   "<meta name=\"viewport\" content=\"width=device-width\">"
	   "<link rel=\"icon\" href=\"data:,\"><title>%s · mcapid console</title>"
	   "<style>",
	   title);
	pf(&c->p, CSS);
	pf(&c->p, "</style><script src=\"" UI "/console.js\" defer></script></head><body>"
	          "<header><strong>mcapid console</strong>");
	for (size_t i = 0; i < sizeof(NAV) / sizeof(NAV[0]); i++)
		pf(&c->p,
		   strcmp(NAV[i][0], here) == 0 ? "<a href=\"" UI "%s\" class=\"on\">%s</a>"
		                                : "<a href=\"" UI "%s\">%s</a>",
		   NAV[i][0], NAV[i][1]);
	if (c->who == WHO_SESSION)
		pf(&c->p,
		   "<form method=\"post\" action=\"" UI "/logout\"><input type=\"hidden\" "
		   "name=\"csrf\" value=\"%s\"><button>Log out</button></form>",
		   c->csrf);
	pf(&c->p, "</header><main><h1>%s</h1>", title);
	if (kind == FLASH_DONE || kind == FLASH_REFUSED) {
		pf(&c->p, "<p class=\"flash %s\" id=\"flash\">%s</p>",
		   kind == FLASH_DONE ? "done" : "refused", flash);
	} else if (kind == FLASH_CREDS) {
		json_t *o = json_loads(flash, 0, NULL);
		const char *k;
		json_t *v;
		pf(&c->p, "<div class=\"flash done\" id=\"flash\"><p>Account made. Its credentials "
		          "(shown this once; POST /__mcapi/accounts gives the same):</p><table "
		          "id=\"credentials\">");
		json_object_foreach(o, k, v)
		{
			pf(&c->p, "<tr><th>%s</th><td><code data-key=\"%s\">%s</code></td></tr>", k,
			   k, json_is_string(v) ? json_string_value(v) : "");
		}
		pf(&c->p, "</table></div>");
		json_decref(o);
	}
	secure_zero(flash, sizeof(flash));
}

static void page_foot(struct ctx *c)
{
	pf(&c->p, "</main></body></html>");
}

/* A POST form's opening with its CSRF field. */
static void form_open(struct ctx *c, const char *action, int inline_form)
{
	pf(&c->p,
	   inline_form ? "<form method=\"post\" action=\"" UI "%s\" class=\"inline\">"
	               : "<form method=\"post\" action=\"" UI "%s\">",
	   action);
	pf(&c->p, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", c->csrf);
}

/* <select name=account> of every account; selected: a code, or "" for "all" (with_all). */
static void account_select(struct ctx *c, const char *selected, int with_all)
{
	pf(&c->p, "<select name=\"account\">");
	if (with_all)
		pf(&c->p, "<option value=\"\">every account</option>");
	for (int i = 0; i < c->naccts; i++)
		pf(&c->p,
		   strcmp(selected, c->accts[i].code) == 0
		           ? "<option value=\"%s\" selected>%s (%s)</option>"
		           : "<option value=\"%s\">%s (%s)</option>",
		   c->accts[i].code, c->accts[i].code, c->accts[i].name);
	pf(&c->p, "</select>");
}

/* The account filter of a list page (GET form, works without script): the chosen account's
 * id in *id (0 = every account). */
static void account_filter(struct ctx *c, const char *path, char code[64], int64_t *id)
{
	*id = 0;
	if (query_get(c->req, "account", code, 64) != 1)
		code[0] = '\0';
	for (int i = 0; code[0] && i < c->naccts; i++)
		if (strcmp(c->accts[i].code, code) == 0)
			*id = c->accts[i].id;
	if (!*id)
		code[0] = '\0';
	pf(&c->p, "<form method=\"get\" action=\"" UI "%s\"><label>Account ", path);
	account_select(c, code, 1);
	pf(&c->p, "</label><button>Show</button></form>");
}

static void iso(int64_t ms, char out[DATE_ISO_LEN])
{
	if (ms > 0)
		date_format_iso(ms, out);
	else
		memcpy(out, "-", 2);
}

/* ---- pages ---- */

static int login_page(struct ctx *c, int status, const char *why)
{
	pf(&c->p,
	   "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
	   "<link rel=\"icon\" href=\"data:,\"><title>Log in · mcapid console</title><style>");
	pf(&c->p, CSS);
	pf(&c->p, "</style></head><body><header><strong>mcapid console</strong></header><main>"
	          "<h1>Log in</h1>");
	if (why)
		pf(&c->p, "<p class=\"flash refused\" id=\"flash\">%s</p>", why);
	pf(&c->p,
	   "<form method=\"post\" action=\"" UI "/login\"><p><label>Control token "
	   "<input type=\"password\" name=\"token\" id=\"token\" size=\"50\" "
	   "autocomplete=\"off\" required></label> <button id=\"login\">Log in</button></p>"
	   "</form><p class=\"muted\">The control token (<code>mcc_…</code>) is printed at start "
	   "and is in <code>dev-credentials.json</code> as <code>control_token</code>. An API "
	   "key does not open the console.</p></main></body></html>");
	return finish_page(c, status);
}

struct acct_page {
	struct ctx *c;
	int64_t now;
};

static int app_row(void *arg, const struct application *a)
{
	struct ctx *c = arg;
	char created[DATE_ISO_LEN];

	iso(a->created, created);
	pf(&c->p,
	   "<tr><td><code>%s</code></td><td>%s</td><td class=\"muted\">hidden</td>"
	   "<td>%s</td><td>%s</td></tr>",
	   a->app_id, a->name, created, a->revoked ? "revoked" : "active");
	return 0;
}

static int key_row(void *arg, const struct binding *b)
{
	struct acct_page *ap = arg;
	char head[16], created[DATE_ISO_LEN], expires[DATE_ISO_LEN];

	/* enough of the access key to tell keys apart; the secret key is never shown */
	snprintf(head, sizeof(head), "%.8s", b->access_key);
	iso(b->created, created);
	iso(b->expires, expires);
	pf(&ap->c->p, "<li><code>%s…</code> created %s, expires %s</li>", head, created,
	   b->expires ? expires : "never");
	return 0;
}

static int user_row(void *arg, const struct user *u)
{
	struct acct_page *ap = arg;
	struct ctx *c = ap->c;

	pf(&c->p, "<tr><td>%s</td><td>%s</td><td>%s</td><td><ul>", u->email, u->name,
	   u->disabled ? "disabled" : "enabled");
	store_binding_list(c->req->srv->store, u->id, key_row, ap, NULL);
	pf(&c->p, "</ul></td></tr>");
	return c->p.rc;
}

static int accounts_page(struct ctx *c)
{
	struct acct_page ap = {c, now_ms()};
	struct store *st = c->req->srv->store;

	page_head(c, "Accounts", "/");
	form_open(c, "/accounts", 0);
	pf(&c->p, "<fieldset><legend>Mint an account (as POST /__mcapi/accounts)</legend>"
	          "<label>Name <input name=\"name\" id=\"mint-name\" maxlength=\"64\"></label>"
	          "<label>Verified domain <input name=\"domain\" id=\"mint-domain\"></label>"
	          "<button id=\"mint\">Mint</button></fieldset></form>");
	for (int i = 0; i < c->naccts && !c->p.rc; i++) {
		struct account a;
		if (store_account_get(st, c->accts[i].id, &a, NULL) != 0)
			continue;
		pf(&c->p,
		   "<section class=\"account\" data-code=\"%s\"><h2>%s <code>%s</code></h2>"
		   "<p>Region %s, %L users, primary domain %s</p>",
		   a.code, a.name, a.code, a.region, a.user_count, a.domain[0] ? a.domain : "-");
		pf(&c->p, "<table><tr><th>Application id</th><th>Name</th><th>Application "
		          "key</th><th>Created</th><th>State</th></tr>");
		store_app_list(st, a.id, app_row, c, NULL);
		pf(&c->p, "</table><table><tr><th>User</th><th>Name</th><th>State</th>"
		          "<th>Keys (access key start)</th></tr>");
		store_user_list(st, a.id, user_row, &ap, NULL);
		pf(&c->p, "</table></section>");
	}
	page_foot(c);
	return finish_page(c, 200);
}

struct dom_page {
	struct ctx *c;
	const char *code;
	int64_t now;
	int rows;
};

static int domain_row(void *arg, const struct domain *d)
{
	struct dom_page *dp = arg;
	struct ctx *c = dp->c;
	char created[DATE_ISO_LEN], expiry[DATE_ISO_LEN], verified[DATE_ISO_LEN],
	        checked[DATE_ISO_LEN];

	if (++dp->rows > MAX_ROWS)
		return 1;
	iso(d->created, created);
	iso(d->expiry, expiry);
	iso(d->verified, verified);
	iso(d->last_check, checked);
	pf(&c->p, "<tr class=\"domain\" data-domain=\"%s\"><td>%s</td><td>%s</td>", d->name,
	   dp->code, d->name);
	if (d->state == DOMAIN_INTERNAL) {
		pf(&c->p, "<td class=\"state\">verified</td><td>verified %s</td><td></td></tr>",
		   verified);
		return c->p.rc;
	}
	pf(&c->p,
	   "<td class=\"state\">%s</td><td><table class=\"txt\"><tr><th>Name</th><td><code>"
	   "%s.</code></td></tr><tr><th>Type</th><td>TXT</td></tr><tr><th>Value</th><td><code "
	   "class=\"txt-value\">%s</code></td></tr></table>Expires %s. Last check: %s %s</td><td>",
	   d->expiry < dp->now ? "expired" : "pending", d->name, d->token, expiry, checked,
	   d->last_result);
	form_open(c, "/domains/verify", 1);
	pf(&c->p,
	   "<input type=\"hidden\" name=\"account\" value=\"%s\"><input type=\"hidden\" "
	   "name=\"domain\" value=\"%s\"><button class=\"verify\">Verify now</button></form>"
	   "</td></tr>",
	   dp->code, d->name);
	return c->p.rc;
}

static int domains_page(struct ctx *c)
{
	struct dom_page dp = {c, NULL, now_ms(), 0};
	char code[64];
	int64_t only;

	page_head(c, "Domains", "/domains");
	form_open(c, "/domains", 0);
	pf(&c->p, "<fieldset><legend>Register a domain (as create-domain)</legend><label>"
	          "Account ");
	if (query_get(c->req, "account", code, sizeof(code)) != 1)
		code[0] = '\0';
	account_select(c, code, 0);
	pf(&c->p, "</label><label>Domain <input name=\"domain\" id=\"new-domain\" required>"
	          "</label><label>Inbound type <select name=\"inbound\"><option>any</option>"
	          "<option>smtp</option><option>ldap</option><option>known</option></select>"
	          "</label><button id=\"create-domain\">Register</button></fieldset></form>");
	account_filter(c, "/domains", code, &only);
	pf(&c->p, "<p class=\"muted\">A pending domain is verified when a TXT record of the "
	          "domain itself holds its token (the API's verify-domain; the lookup goes to "
	          "this server's DNS servers).</p><table id=\"domains\"><tr><th>Account</th>"
	          "<th>Domain</th><th>State</th><th>TXT record to publish</th><th></th></tr>");
	for (int i = 0; i < c->naccts && !c->p.rc && dp.rows <= MAX_ROWS; i++) {
		if (only && c->accts[i].id != only)
			continue;
		dp.code = c->accts[i].code;
		store_domain_list(c->req->srv->store, c->accts[i].id, DOMAIN_LIST_ALL, NULL,
		                  domain_hide_before(c->req, dp.now), MAX_ROWS + 1, domain_row, &dp,
		                  NULL);
	}
	pf(&c->p, "</table>");
	if (dp.rows > MAX_ROWS)
		pf(&c->p, "<p class=\"muted\">The first %d domains are shown.</p>", MAX_ROWS);
	page_foot(c);
	return finish_page(c, 200);
}

struct msg_page {
	struct ctx *c;
	int held;
	int rows;
	char rcpts[600];
	int nrcpt;
};

static int rcpt_add(void *arg, const struct mail_rcpt *r)
{
	struct msg_page *mp = arg;
	size_t n = strlen(mp->rcpts);

	if (mp->nrcpt++ < 3)
		snprintf(mp->rcpts + n, sizeof(mp->rcpts) - n, "%s%s (%s)", n ? ", " : "", r->addr,
		         rcpt_state_name((enum rcpt_state)r->state));
	else if (mp->nrcpt == 4)
		snprintf(mp->rcpts + n, sizeof(mp->rcpts) - n, ", …");
	return 0;
}

static int message_row(void *arg, const struct message *m)
{
	struct msg_page *mp = arg;
	struct ctx *c = mp->c;
	char id[MSG_ID_SIZE], received[DATE_ISO_LEN], reason[200];
	const char *code = acct_code(c, m->account_id);

	mp->rows++;
	mp->rcpts[0] = '\0';
	mp->nrcpt = 0;
	store_message_rcpts(c->req->srv->store, m->id, rcpt_add, mp, NULL);
	msg_id_of(c->req, m->id, id);
	iso(m->received, received);
	msg_reason_text(m->hold_reason_id, reason, sizeof(reason));
	pf(&c->p,
	   "<tr class=\"message\" data-id=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
	   "<td class=\"subject\">%s</td><td>%s</td>",
	   id, received, code, m->env_from[0] ? m->env_from : "<>", mp->rcpts, m->subject,
	   msg_route_lower(m->route));
	if (!mp->held) {
		pf(&c->p, "<td class=\"status\">%s</td><td>%s</td></tr>",
		   msg_status_name((enum msg_status)m->status), reason);
		return c->p.rc;
	}
	pf(&c->p, "<td>%s</td><td>", reason);
	form_open(c, "/held/release", 1);
	pf(&c->p,
	   "<input type=\"hidden\" name=\"account\" value=\"%s\"><input type=\"hidden\" "
	   "name=\"id\" value=\"%s\"><button class=\"release\">Release</button></form> ",
	   code, id);
	form_open(c, "/held/reject", 1);
	pf(&c->p,
	   "<input type=\"hidden\" name=\"account\" value=\"%s\"><input type=\"hidden\" "
	   "name=\"id\" value=\"%s\"><label><input type=\"checkbox\" name=\"notify\" "
	   "value=\"1\">notify sender</label><button class=\"reject\">Reject</button></form>"
	   "</td></tr>",
	   code, id);
	return c->p.rc;
}

static int messages_page(struct ctx *c, int held)
{
	struct msg_page mp = {c, held, 0, "", 0};
	struct message_query q;
	char code[64];

	memset(&q, 0, sizeof(q));
	q.status = -1;
	q.route = -1;
	q.held_only = held;
	page_head(c, held ? "Hold queue" : "Messages", held ? "/held" : "/messages");
	account_filter(c, held ? "/held" : "/messages", code, &q.account_id);
	pf(&c->p,
	   "<table id=\"%s\"><tr><th>Received</th><th>Account</th><th>Sender</th>"
	   "<th>Recipients</th><th>Subject</th><th>Route</th>",
	   held ? "held" : "messages");
	pf(&c->p, held ? "<th>Reason</th><th></th></tr>" : "<th>Status</th><th>Held for</th></tr>");
	store_message_list(c->req->srv->store, &q, 0, 0, MAX_ROWS, message_row, &mp, NULL);
	pf(&c->p, "</table>");
	if (!mp.rows)
		pf(&c->p, "<p class=\"muted\" id=\"none\">%s</p>",
		   held ? "No message is held." : "No message yet.");
	else if (mp.rows == MAX_ROWS)
		pf(&c->p, "<p class=\"muted\">The newest %d are shown.</p>", MAX_ROWS);
	page_foot(c);
	return finish_page(c, 200);
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : "";
}

static int journal_page(struct ctx *c)
{
	json_t *j = emu_journal_json(c->emu, 0, MAX_ROWS, 1), *e;
	size_t i;

	if (!j)
		return MC_ERR_NOMEM;
	page_head(c, "Journal", "/journal");
	form_open(c, "/journal/clear", 0);
	pf(&c->p,
	   "<p>The API calls, newest first (the last %d; GET /__mcapi/requests has them "
	   "all). <a href=\"" UI "/journal\">Refresh</a> <span id=\"live\" class=\"muted\">"
	   "</span> <button>Empty the journal</button></p></form>",
	   MAX_ROWS);
	pf(&c->p,
	   "<table><thead><tr><th>#</th><th>At</th><th>Method</th><th>Path</th><th>Status</th>"
	   "<th>Error</th><th>Refused by</th><th>Fault</th><th>Client</th><th>App id</th>"
	   "<th>User</th><th>ms</th></tr></thead><tbody id=\"journal\" data-last=\"%L\">",
	   (int64_t)json_integer_value(json_object_get(j, "last_id")));
	json_array_foreach(json_object_get(j, "requests"), i, e)
	{
		pf(&c->p,
		   "<tr><td>%L</td><td>%s</td><td>%s</td><td>%s</td><td>%L</td><td>%s</td>"
		   "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%L</td></tr>",
		   (int64_t)json_integer_value(json_object_get(e, "id")), jstr(e, "at"),
		   jstr(e, "method"), jstr(e, "path"),
		   (int64_t)json_integer_value(json_object_get(e, "status")), jstr(e, "error_code"),
		   jstr(e, "auth_check"), jstr(e, "fault"), jstr(e, "client_ip"), jstr(e, "app_id"),
		   jstr(e, "user"), (int64_t)json_integer_value(json_object_get(e, "ms")));
	}
	json_decref(j);
	pf(&c->p, "</tbody></table>");
	page_foot(c);
	return finish_page(c, 200);
}

static int faults_page(struct ctx *c)
{
	struct emu_rule *rules = calloc(EMU_MAX_RULES, sizeof(*rules));
	int n;

	if (!rules)
		return MC_ERR_NOMEM;
	n = emu_rules_copy(c->emu, rules);
	page_head(c, "Fault rules", "/faults");
	pf(&c->p, "<table id=\"rules\"><tr><th>Id</th><th>Path</th><th>Account</th>"
	          "<th>Probability</th><th>Uses left</th><th>Does</th><th></th></tr>");
	for (int i = 0; i < n; i++) {
		const struct emu_rule *r = &rules[i];
		char prob[32];
		snprintf(prob, sizeof(prob), "%g", r->probability);
		pf(&c->p,
		   "<tr class=\"rule\" data-id=\"%s\"><td>%s</td><td>%s</td><td>%s</td>"
		   "<td>%s</td><td>",
		   r->id, r->id,
		   r->smtp      ? "(SMTP)"
		   : r->path[0] ? r->path
		                : "*",
		   r->account[0] ? r->account : "any", prob);
		if (r->count < 0)
			pf(&c->p, "unlimited");
		else
			pf(&c->p, "%d", r->count);
		pf(&c->p, "</td><td>");
		if (r->smtp)
			pf(&c->p, "SMTP %s: %d %s", r->stage, r->smtp_code, r->smtp_text);
		if (r->developer_key)
			pf(&c->p, "err_developer_key at 200 ");
		if (r->status)
			pf(&c->p, "status %d ", r->status);
		if (r->status == 429 || r->status == 503)
			pf(&c->p, "(Retry-After %d) ", r->retry_after_s);
		if (r->latency_ms)
			pf(&c->p, "after %d ms", r->latency_ms);
		pf(&c->p, "</td><td>");
		form_open(c, "/faults/delete", 1);
		pf(&c->p,
		   "<input type=\"hidden\" name=\"id\" value=\"%s\"><button>Delete</button>"
		   "</form></td></tr>",
		   r->id);
	}
	free(rules);
	pf(&c->p, "</table>");
	if (!n)
		pf(&c->p, "<p class=\"muted\">No fault rule.</p>");
	form_open(c, "/faults", 0);
	pf(&c->p,
	   "<fieldset><legend>Add a rule (docs/emulator.md, \"Fault rules\")</legend>"
	   "<p><label>Path <input name=\"path\" placeholder=\"/api/domain/*\"></label>"
	   "<label>Account <input name=\"account\" size=\"12\"></label>"
	   "<label>Probability <input name=\"probability\" size=\"5\" placeholder=\"1\"></label>"
	   "<label>Count <input name=\"count\" size=\"5\"></label></p>"
	   "<p><label>Status <select name=\"status\"><option value=\"\">-</option>"
	   "<option>401</option><option>403</option><option>418</option><option>429</option>"
	   "<option>500</option><option>503</option></select></label>"
	   "<label><input type=\"checkbox\" name=\"error\" value=\"err_developer_key\">"
	   "err_developer_key</label><label>Retry-After <input name=\"retry_after\" "
	   "size=\"4\"></label><label>Latency ms <input name=\"latency_ms\" size=\"6\">"
	   "</label></p><p>or an SMTP rule: <label>Stage <select name=\"smtp_stage\"><option "
	   "value=\"\">-</option><option>connect</option><option>helo</option><option>mail"
	   "</option><option>rcpt</option><option>data</option></select></label><label>Code "
	   "<input name=\"smtp_code\" size=\"4\"></label><label>Text <input name=\"smtp_text\">"
	   "</label></p><button id=\"add-rule\">Add</button></fieldset></form>");
	page_foot(c);
	return finish_page(c, 200);
}

/* ---- actions (POST, then a redirect to the page that shows the outcome) ---- */

/* The account of a form's "account" field into *a. 0, or -1 after a refusal message. */
static int form_account(struct ctx *c, struct account *a)
{
	char code[64];

	if (emu_form_get(c->body, c->len, "account", code, sizeof(code)) != 1 || !code[0] ||
	    store_account_get_by_code(c->req->srv->store, code, a, NULL) != 0) {
		flash_set(c->emu, c->sid, FLASH_REFUSED, "No account '%.60s'.", code);
		return -1;
	}
	return 0;
}

/* Runs an API handler on the front's request as the console acting in account a, with the
 * items data (stolen): the same checks, writes and audit rows as a signed call. */
static int run_api(struct ctx *c, const struct account *a, json_t *data, handler_fn fn)
{
	struct request *req = c->req;

	if (!data)
		return MC_ERR_NOMEM;
	memset(&req->who, 0, sizeof(req->who));
	req->who.account = *a;
	req->who.user.account_id = a->id;
	snprintf(req->who.user.email, sizeof(req->who.user.email), "%s", CONSOLE_USER);
	snprintf(req->who.app.name, sizeof(req->who.app.name), "%s", CONSOLE_APP);
	req->authenticated = 1;
	json_decref(req->body);
	req->body = json_pack("{s:o}", "data", data);
	if (!req->body)
		return MC_ERR_NOMEM;
	req->data = json_object_get(req->body, "data");
	req->meta = NULL;
	return fn(req, c->res);
}

/* What a handler answered, as a sentence for the flash: 1 when every item went through,
 * 0 with the first failure in msg. */
static int outcome(const struct response *res, int rc, char *msg, size_t size)
{
	json_t *f = json_array_get(res->fail, 0);
	json_t *e = json_array_get(json_object_get(f, "errors"), 0);

	if (rc) {
		snprintf(msg, size, "The store failed (see the log); try again.");
		return 0;
	}
	if (res->error != API_OK) {
		snprintf(msg, size, "%s", api_error_message(res->error));
		return 0;
	}
	if (!e)
		return 1;
	snprintf(msg, size, "%s (%s)", jstr(e, "message"), jstr(e, "code"));
	return 0;
}

static int act_mint(struct ctx *c)
{
	char name[FIELD_MAX], domain[FIELD_MAX], why[300];
	const char *code = NULL;
	char *creds = NULL;
	int status;

	emu_form_get(c->body, c->len, "name", name, sizeof(name));
	emu_form_get(c->body, c->len, "domain", domain, sizeof(domain));
	status = emu_mint(c->emu, name, domain, &creds, &code, why, sizeof(why));
	if (status == 201) {
		flash_set(c->emu, c->sid, FLASH_CREDS, "%s", creds);
		secure_zero(creds, strlen(creds));
		free(creds);
	} else {
		flash_set(c->emu, c->sid, FLASH_REFUSED, "Not made: %s.", why);
	}
	return redirect(c, "/");
}

static int act_domain_create(struct ctx *c)
{
	char domain[300], inbound[16], msg[400];
	struct account a;
	int rc;

	if (form_account(c, &a) != 0)
		return redirect(c, "/domains");
	if (emu_form_get(c->body, c->len, "domain", domain, sizeof(domain)) != 1)
		domain[0] = '\0';
	if (emu_form_get(c->body, c->len, "inbound", inbound, sizeof(inbound)) != 1 || !inbound[0])
		memcpy(inbound, "any", 4);
	rc = run_api(c, &a, json_pack("[{s:s, s:s}]", "domain", domain, "inboundType", inbound),
	             api_domain_create);
	if (rc == MC_ERR_NOMEM)
		return rc;
	if (outcome(c->res, rc, msg, sizeof(msg))) {
		json_t *d = json_array_get(c->res->data, 0);
		if (*jstr(d, "token"))
			flash_set(
			        c->emu, c->sid, FLASH_DONE,
			        "'%s' registered for %s: publish the TXT record shown below, then "
			        "verify.",
			        jstr(d, "domain"), a.code);
		else
			flash_set(c->emu, c->sid, FLASH_DONE,
			          "'%s' registered for %s, internal at once (its parent is).",
			          jstr(d, "domain"), a.code);
	} else {
		flash_set(c->emu, c->sid, FLASH_REFUSED, "Not registered: %s", msg);
	}
	return redirect(c, "/domains");
}

/* verify-domain's outcome: the flash, and back to the domains page. */
static int verify_done(struct ctx *c, int rc)
{
	const char *name = jstr(json_array_get(c->req->data, 0), "domain");
	char msg[400];

	if (rc == MC_ERR_NOMEM)
		return rc;
	if (outcome(c->res, rc, msg, sizeof(msg)))
		flash_set(c->emu, c->sid, FLASH_DONE, "'%s' is verified.", name);
	else
		flash_set(c->emu, c->sid, FLASH_REFUSED, "'%s' is not verified: %s", name, msg);
	return redirect(c, "/domains");
}

static int act_domain_verify(struct ctx *c)
{
	char domain[300];
	struct account a;
	int rc;

	if (form_account(c, &a) != 0)
		return redirect(c, "/domains");
	if (emu_form_get(c->body, c->len, "domain", domain, sizeof(domain)) != 1)
		domain[0] = '\0';
	rc = run_api(c, &a, json_pack("[{s:s}]", "domain", domain), api_domain_verify);
	if (rc == MC_ERR_ASYNC)
		return rc; /* the lookups run; emu_console_resume finishes */
	return verify_done(c, rc);
}

static int act_hold(struct ctx *c, int release)
{
	char id[128], msg[400], yes[8];
	struct account a;
	json_t *item;
	int rc, notify;

	if (form_account(c, &a) != 0)
		return redirect(c, "/held");
	if (emu_form_get(c->body, c->len, "id", id, sizeof(id)) != 1)
		id[0] = '\0';
	notify = emu_form_get(c->body, c->len, "notify", yes, sizeof(yes)) == 1; /* checked */
	item = release ? json_pack("[{s:s}]", "id", id)
	               : json_pack("[{s:[s], s:b}]", "ids", id, "notify", notify);
	rc = run_api(c, &a, item, release ? api_hold_release : api_hold_reject);
	if (rc == MC_ERR_NOMEM)
		return rc;
	if (outcome(c->res, rc, msg, sizeof(msg)))
		flash_set(c->emu, c->sid, FLASH_DONE, "Message %s %s.", id,
		          release ? "released: it goes on to delivery" : "rejected");
	else
		flash_set(c->emu, c->sid, FLASH_REFUSED, "Message %s: %s", id, msg);
	return redirect(c, "/held");
}

/* A form field as a rule member: a whole number as an integer, probability as a number,
 * other text as a string (emu_rule_parse then says what is wrong); empty fields are left
 * out. */
static void rule_member(struct ctx *c, json_t *o, const char *field, const char *member, int number)
{
	char v[256], *end = NULL;

	if (emu_form_get(c->body, c->len, field, v, sizeof(v)) != 1 || !v[0])
		return;
	if (number == 2) {
		double d = strtod(v, &end);
		if (end && !*end) {
			json_object_set_new(o, member, json_real(d));
			return;
		}
	} else if (number) {
		long long n = strtoll(v, &end, 10);
		if (end && !*end) {
			json_object_set_new(o, member, json_integer(n));
			return;
		}
	}
	json_object_set_new(o, member, json_string(v));
}

static int act_fault_add(struct ctx *c)
{
	json_t *o = json_object(), *smtp = json_object();
	struct emu_rule r;
	char why[256];

	if (!o || !smtp) {
		json_decref(o);
		json_decref(smtp);
		return MC_ERR_NOMEM;
	}
	rule_member(c, o, "path", "path", 0);
	rule_member(c, o, "account", "account", 0);
	rule_member(c, o, "probability", "probability", 2);
	rule_member(c, o, "count", "count", 1);
	rule_member(c, o, "status", "status", 1);
	rule_member(c, o, "error", "error", 0);
	rule_member(c, o, "retry_after", "retry_after", 1);
	rule_member(c, o, "latency_ms", "latency_ms", 1);
	rule_member(c, smtp, "smtp_stage", "stage", 0);
	rule_member(c, smtp, "smtp_code", "code", 1);
	rule_member(c, smtp, "smtp_text", "text", 0);
	if (json_object_size(smtp))
		json_object_set(o, "smtp", smtp);
	json_decref(smtp);
	if (emu_rule_parse(o, &r, why, sizeof(why)) != 0)
		flash_set(c->emu, c->sid, FLASH_REFUSED, "Rule not added: %s.", why);
	else if (emu_rule_add(c->emu, &r) != 0)
		flash_set(c->emu, c->sid, FLASH_REFUSED, "At most %d fault rules at once.",
		          EMU_MAX_RULES);
	else
		flash_set(c->emu, c->sid, FLASH_DONE, "Rule %s added.", r.id);
	json_decref(o);
	return redirect(c, "/faults");
}

static int act_fault_delete(struct ctx *c)
{
	char id[32];

	if (emu_form_get(c->body, c->len, "id", id, sizeof(id)) == 1 && emu_rule_delete(c->emu, id))
		flash_set(c->emu, c->sid, FLASH_DONE, "Rule %s deleted.", id);
	else
		flash_set(c->emu, c->sid, FLASH_REFUSED, "No rule '%s'.", id);
	return redirect(c, "/faults");
}

/* ---- the script: live journal (pages work without it) ---- */

static const char SCRIPT[] =
        "'use strict';\n"
        "(function () {\n"
        "  var body = document.getElementById('journal');\n"
        "  if (!body) return;\n"
        "  var live = document.getElementById('live');\n"
        "  var cols = ['id', 'at', 'method', 'path', 'status', 'error_code', 'auth_check',\n"
        "              'fault', 'client_ip', 'app_id', 'user', 'ms'];\n"
        "  function poll() {\n"
        "    fetch('" UI "/journal.json?since=' + body.dataset.last,\n"
        "          {credentials: 'same-origin'})\n"
        "      .then(function (r) { return r.ok ? r.json() : null; })\n"
        "      .then(function (j) {\n"
        "        if (!j) { live.textContent = 'not live: reload the page'; return; }\n"
        "        live.textContent = 'live';\n"
        "        j.requests.forEach(function (e) {\n"
        "          var tr = document.createElement('tr');\n"
        "          cols.forEach(function (k) {\n"
        "            var td = document.createElement('td');\n"
        "            td.textContent = e[k] === null ? '' : String(e[k]);\n"
        "            tr.appendChild(td);\n"
        "          });\n"
        "          body.insertBefore(tr, body.firstChild);\n"
        "        });\n"
        "        body.dataset.last = j.last_id;\n"
        "        setTimeout(poll, 2000);\n"
        "      })\n"
        "      .catch(function () { live.textContent = 'not live: reload the page'; });\n"
        "  }\n"
        "  setTimeout(poll, 2000);\n"
        "})();\n";

/* ---- dispatch ---- */

static int refused(struct ctx *c, int status, const char *why)
{
	pf(&c->p,
	   "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" "
	   "href=\"data:,\"><title>Refused · mcapid console</title></head><body><h1>Refused</h1>"
	   "<p id=\"why\">%s</p><p><a href=\"" UI "/login\">Log in</a></p></body></html>",
	   why);
	return finish_page(c, status);
}

/* Who the caller is: the Authorization header, if any, must be the control token (an API
 * key never opens the console); otherwise the session cookie. 0, or -1 when refused
 * (answered). */
static int authenticate(struct ctx *c)
{
	const char *authz = request_header(c->req, "authorization");
	const char *t;

	c->who = WHO_NONE;
	if (authz) {
		if (strncasecmp(authz, "Bearer ", 7) == 0) {
			for (t = authz + 7; *t == ' '; t++)
				;
			if (ct_equal(t, strlen(t), emu_token(c->emu), EMU_TOKEN_LEN)) {
				c->who = WHO_BEARER;
				return 0;
			}
		}
		c->pg->bearer_challenge = 1;
		refused(c, 401,
		        strncasecmp(authz, "MC ", 3) == 0
		                ? "The console takes the control token, never an API key."
		                : "That is not the control token.");
		return -1;
	}
	cookie_sid(c->req, c->sid);
	if (c->sid[0] && session_csrf(c->emu, c->sid, c->csrf))
		c->who = WHO_SESSION;
	return 0;
}

static int login(struct ctx *c)
{
	char token[128];

	if (emu_form_get(c->body, c->len, "token", token, sizeof(token)) != 1 ||
	    !ct_equal(token, strlen(token), emu_token(c->emu), EMU_TOKEN_LEN)) {
		secure_zero(token, sizeof(token));
		log_info("msg=\"console login refused\" client_ip=%s", c->req->client_ip);
		return login_page(c, 401, "That is not the control token.");
	}
	secure_zero(token, sizeof(token));
	session_new(c->emu, c->sid, c->csrf);
	snprintf(c->pg->cookie, sizeof(c->pg->cookie),
	         COOKIE_NAME "=%s; Path=/__mcapi/; HttpOnly; SameSite=Strict%s", c->sid,
	         c->req->tls ? "; Secure" : "");
	log_info("msg=\"console login\" client_ip=%s", c->req->client_ip);
	return redirect(c, "/");
}

static int post(struct ctx *c, const char *p)
{
	char csrf[EMU_SID_LEN + 8];

	if (strcmp(p, "/login") == 0)
		return login(c);
	if (c->who != WHO_SESSION)
		return refused(c, 403,
		               c->who == WHO_BEARER
		                       ? "Console actions need a console session and its CSRF "
		                         "token; with the control token, use the JSON calls."
		                       : "No console session (it ended, or the server restarted): "
		                         "log in again.");
	/* the form's token must be the session's: a page of another site cannot know it */
	if (emu_form_get(c->body, c->len, "csrf", csrf, sizeof(csrf)) != 1 ||
	    !ct_equal(csrf, strlen(csrf), c->csrf, EMU_SID_LEN))
		return refused(c, 403,
		               "The form's CSRF token is missing or wrong: reload the "
		               "page and try again.");
	if (strcmp(p, "/logout") == 0) {
		session_end(c->emu, c->sid);
		snprintf(c->pg->cookie, sizeof(c->pg->cookie),
		         COOKIE_NAME "=; Path=/__mcapi/; HttpOnly; SameSite=Strict; Max-Age=0");
		return redirect(c, "/login");
	}
	if (strcmp(p, "/accounts") == 0)
		return act_mint(c);
	if (strcmp(p, "/domains") == 0)
		return act_domain_create(c);
	if (strcmp(p, "/domains/verify") == 0)
		return act_domain_verify(c);
	if (strcmp(p, "/held/release") == 0)
		return act_hold(c, 1);
	if (strcmp(p, "/held/reject") == 0)
		return act_hold(c, 0);
	if (strcmp(p, "/faults") == 0)
		return act_fault_add(c);
	if (strcmp(p, "/faults/delete") == 0)
		return act_fault_delete(c);
	if (strcmp(p, "/journal/clear") == 0) {
		emu_journal_clear(c->emu);
		flash_set(c->emu, c->sid, FLASH_DONE, "The journal is empty.");
		return redirect(c, "/journal");
	}
	return refused(c, 404, "No such console action.");
}

static int get(struct ctx *c, const char *p)
{
	if (strcmp(p, "/login") == 0)
		return c->who == WHO_SESSION ? redirect(c, "/") : login_page(c, 200, NULL);
	if (c->who == WHO_NONE)
		return redirect(c, "/login");
	if (strcmp(p, "/journal.json") == 0) {
		char since[32], *end = NULL;
		unsigned long long s = 0;
		json_t *j;
		char *text;
		if (query_get(c->req, "since", since, sizeof(since)) == 1)
			s = strtoull(since, &end, 10);
		j = emu_journal_json(c->emu, s, MAX_ROWS, 0);
		text = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!text)
			return MC_ERR_NOMEM;
		buf_release(&c->p.b);
		c->pg->body = text;
		c->pg->len = strlen(text);
		c->pg->status = 200;
		c->pg->type = "application/json";
		return 0;
	}
	if (load_accounts(c) != 0)
		return refused(c, 503, "The store does not answer; try again.");
	if (strcmp(p, "/") == 0)
		return accounts_page(c);
	if (strcmp(p, "/domains") == 0)
		return domains_page(c);
	if (strcmp(p, "/held") == 0)
		return messages_page(c, 1);
	if (strcmp(p, "/messages") == 0)
		return messages_page(c, 0);
	if (strcmp(p, "/journal") == 0)
		return journal_page(c);
	if (strcmp(p, "/faults") == 0)
		return faults_page(c);
	return refused(c, 404, "No such console page.");
}

int emu_console_path(const char *path)
{
	return strncmp(path, UI, strlen(UI)) == 0 &&
	       (path[strlen(UI)] == '\0' || path[strlen(UI)] == '/');
}

static void ctx_init(struct ctx *c, struct emu *emu, struct request *req, struct response *res,
                     struct emu_page *pg)
{
	memset(c, 0, sizeof(*c));
	memset(pg, 0, sizeof(*pg));
	c->emu = emu;
	c->req = req;
	c->res = res;
	c->pg = pg;
	buf_init(&c->p.b, PAGE_CAP);
}

static void ctx_release(struct ctx *c)
{
	buf_release(&c->p.b);
	free(c->accts);
	secure_zero(c->csrf, sizeof(c->csrf));
	secure_zero(c->sid, sizeof(c->sid));
}

int emu_console(struct emu *emu, struct request *req, struct response *res, const char *body,
                size_t len, struct emu_page *pg)
{
	const char *p = req->path + strlen(UI);
	struct ctx c;
	int rc;

	ctx_init(&c, emu, req, res, pg);
	c.body = body;
	c.len = len;
	if (!*p) {
		rc = redirect(&c, "/");
	} else if (strcmp(p, "/console.js") == 0) {
		/* nothing secret: no session needed */
		rc = (pg->body = strdup(SCRIPT)) ? 0 : MC_ERR_NOMEM;
		pg->len = sizeof(SCRIPT) - 1;
		pg->status = 200;
		pg->type = "text/javascript; charset=utf-8";
	} else if (authenticate(&c) != 0) {
		rc = c.p.rc == MC_ERR_NOMEM ? MC_ERR_NOMEM : 0;
	} else if (!atomic_load_explicit(&req->srv->ready, memory_order_acquire)) {
		rc = refused(&c, 503, "The server is starting: its store is not open yet.");
	} else if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
		rc = get(&c, p);
	} else if (strcmp(req->method, "POST") == 0) {
		rc = post(&c, p);
	} else {
		rc = refused(&c, 405, "The console takes GET and POST.");
		snprintf(pg->allow, sizeof(pg->allow), "GET, POST");
	}
	ctx_release(&c);
	return rc;
}

int emu_console_resume(struct emu *emu, struct request *req, struct response *res,
                       struct emu_page *pg)
{
	struct ctx c;
	int rc;

	ctx_init(&c, emu, req, res, pg);
	cookie_sid(req, c.sid); /* the action's session, checked before it started */
	rc = verify_done(&c, req->finish(req, res));
	ctx_release(&c);
	return rc;
}
