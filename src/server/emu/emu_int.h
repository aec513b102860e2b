/* Internals of the control plane shared by emu.c (state) and control.c (the calls). */
#ifndef MCAPI_SERVER_EMU_EMU_INT_H
#define MCAPI_SERVER_EMU_EMU_INT_H

#include "emu.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#define EMU_MAX_RULES 64

/* The web console's sessions (console.c): few operators, so a small table; a login past it
 * takes the slot of the session that ends first. */
#define EMU_SESSIONS   32
#define EMU_SESSION_MS (12LL * 3600 * 1000) /* a session lasts 12 h from its login */
#define EMU_SID_LEN    43                   /* base64url of 32 random bytes */
#define EMU_FLASH_SIZE 4096

/* One console session: its id (the cookie), its CSRF token, and the message the next page
 * shows once (an action's outcome; a minted account's credentials). */
struct emu_session {
	char id[EMU_SID_LEN + 1]; /* "" = free slot */
	char csrf[EMU_SID_LEN + 1];
	int64_t expires; /* monotonic ms */
	int flash_kind;  /* 0 none, 1 done, 2 refused, 3 credentials (JSON text) */
	char flash[EMU_FLASH_SIZE];
};

/* One journal entry: fixed-size copies, so the ring never allocates. */
struct emu_entry {
	uint64_t seq; /* 1, 2, ...: the entry's id; 0 = slot never used */
	int64_t at_ms, ms;
	int status;
	char method[12];
	char path[160];
	char req_id[96];
	char client_ip[64];
	char app_id[64];
	char user[128];
	char error_code[64];
	char auth_check[48];
	char fault[16];
};

/* One fault rule (API.md has none of this: docs/emulator.md). */
struct emu_rule {
	char id[16];         /* "f1", "f2", ... */
	char path[160];      /* exact, or a prefix ending in '*'; "" = any */
	char account[32];    /* account code, "" = any */
	double probability;  /* 0 < p <= 1 */
	int count;           /* uses left; -1 = until deleted */
	int smtp;            /* an SMTP rule (stage, smtp_code, smtp_text) */
	int status;          /* API: forced status, 0 = none */
	int developer_key;   /* API: err_developer_key at 200 */
	int latency_ms;      /* API: delay first */
	int retry_after_s;   /* API: 429/503 Retry-After */
	char stage[8];       /* SMTP: connect, helo, mail, rcpt, data */
	int smtp_code;       /* SMTP: 400-599 */
	char smtp_text[128]; /* SMTP: the reply's text */
	int64_t created_ms;
};

struct emu {
	struct server *srv;
	char token[EMU_TOKEN_LEN + 1];

	pthread_mutex_t journal_mu;
	struct emu_entry *journal; /* ring of journal_max */
	int journal_max;
	uint64_t journal_seq; /* entries ever added */

	pthread_mutex_t fault_mu;
	struct emu_rule rules[EMU_MAX_RULES];
	int nrules;
	atomic_int nrules_pub; /* nrules, read without the lock by the fast path */
	unsigned next_rule;    /* for ids */

	char *baseline; /* the store's snapshot at start (store_snapshot.h): reset's state */
	size_t baseline_len;

	pthread_mutex_t ui_mu; /* sessions */
	struct emu_session sessions[EMU_SESSIONS];

	pthread_t timer;
	pthread_mutex_t timer_mu;
	pthread_cond_t timer_cv;
	struct delayed *due; /* sorted by due time */
	int stopping;
};

/* ---- shared by control.c (the JSON calls) and console.c (the web console) ---- */

/* Reads one fault rule from its JSON object (docs/emulator.md). 0, or -1 with why naming
 * what is wrong. */
int emu_rule_parse(json_t *o, struct emu_rule *r, char *why, size_t why_size);
/* Adds r (its id and creation time are set). 0, or MC_ERR_TOO_LARGE at EMU_MAX_RULES. */
int emu_rule_add(struct emu *emu, struct emu_rule *r);
/* Removes the rule id: 1 if there was one, else 0. */
int emu_rule_delete(struct emu *emu, const char *id);
/* Copies the rules (at most EMU_MAX_RULES) into out; returns how many. */
int emu_rules_copy(struct emu *emu, struct emu_rule *out);

/* The journal after since as {"requests": [...], "last_id": N}, at most limit entries,
 * oldest first or newest first. NULL when out of memory. */
json_t *emu_journal_json(struct emu *emu, uint64_t since, int limit, int newest_first);
void emu_journal_clear(struct emu *emu);

/* Mints an account as POST /__mcapi/accounts does (name "" = "Test <random>", domain "" =
 * none). Returns 201 with *creds the credentials' JSON text (caller wipes and frees), or
 * the HTTP status of the refusal with *code and why filled. */
int emu_mint(struct emu *emu, const char *name, const char *domain, char **creds, const char **code,
             char *why, size_t why_size);

/* ---- console.c's parts with unit tests (tests/unit/test_console.c) ---- */

struct buf;
/* Appends s to b with & < > " ' as entities: the one escaping function of every value the
 * console shows. 0 or a buf error. */
int emu_html_escape(struct buf *b, const char *s);
/* The first value of name in an application/x-www-form-urlencoded text s[0..len) (a form
 * body or a query), '+' and %XX decoded, into out. 1 if present, 0 if absent, -1 if longer
 * than size - 1 or malformed (a bad %XX, a NUL); out is "" unless 1. */
int emu_form_get(const char *s, size_t len, const char *name, char *out, size_t size);

#endif
