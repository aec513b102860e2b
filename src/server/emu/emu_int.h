/* Internals of the control plane shared by emu.c (state) and control.c (the calls). */
#ifndef MCAPI_SERVER_EMU_EMU_INT_H
#define MCAPI_SERVER_EMU_EMU_INT_H

#include "emu.h"

#include <pthread.h>
#include <stdatomic.h>

#define EMU_MAX_RULES 64

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

	pthread_t timer;
	pthread_mutex_t timer_mu;
	pthread_cond_t timer_cv;
	struct delayed *due; /* sorted by due time */
	int stopping;
};

#endif
