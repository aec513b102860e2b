/* Fuzz target for the SMTP session (smtp/smtp_session.c): the command parser, the state
 * machine, the capped line reader and DATA, driven as the driver drives them. The first
 * byte picks the read sizes and whether STARTTLS is offered; the rest is what a client
 * sends. Whatever arrives, every reply is whole lines of "<3 digits>[ -]text CRLF" within
 * SMTP_REPLY_MAX, the input buffer always has room when more input is asked for, and a
 * closed session stays closed. The pipeline is the test double of tests/unit. */
#include "common/log.h"
#include "server/config.h"
#include "server/smtp/smtp_session.h"

#define MAIL_DOUBLE_BODY_MAX 65536
#include "../unit/mail_double.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_reply(const struct smtp_reply *r)
{
	size_t i = 0;

	if (r->len > sizeof(r->text))
		abort();
	while (i < r->len) {
		const char *eol = memchr(r->text + i, '\n', r->len - i);
		size_t n;
		if (!eol)
			abort();
		n = (size_t)(eol - (r->text + i)) + 1;
		if (n < 6 || r->text[i + n - 2] != '\r' || r->text[i] < '2' || r->text[i] > '5' ||
		    r->text[i + 1] < '0' || r->text[i + 1] > '9' || r->text[i + 2] < '0' ||
		    r->text[i + 2] > '9' || (r->text[i + 3] != ' ' && r->text[i + 3] != '-'))
			abort();
		for (size_t j = i; j < i + n - 2; j++)
			if ((unsigned char)r->text[j] < 0x20)
				abort();
		i += n;
	}
	if (r->len && (r->code < 200 || r->code > 599))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static int ready;
	static struct mail m;
	struct smtp_session_params p = {
	        .cfg = &cfg, .mail = &m, .client_ip = "192.0.2.1", .spool_dir = "/tmp"};
	struct smtp_session *s;
	struct smtp_reply r;
	size_t off = 1, chunk;

	if (!ready) {
		config_defaults(&cfg);
		snprintf(cfg.smtp_hostname, sizeof(cfg.smtp_hostname), "mx.fuzz");
		cfg.smtp_max_size = 4096;
		cfg.smtp_max_rcpts = 3;
		cfg.smtp_max_commands = 20;
		log_set_level("error");
		ready = 1;
	}
	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] & 0x7f) + 1;
	p.tls_available = data[0] >> 7;
	mail_double_reset();
	s = smtp_session_new(&p, NULL);
	if (!s)
		return 0;
	smtp_session_greeting(s, &r);
	check_reply(&r);
	for (;;) {
		enum smtp_next next = smtp_session_step(s, &r);
		char *room;
		size_t k;

		check_reply(&r);
		if (next == SMTP_NEXT_CLOSE) {
			if (smtp_session_state(s) != SMTP_ST_QUIT ||
			    smtp_session_step(s, &r) != SMTP_NEXT_CLOSE || r.len)
				abort();
			break;
		}
		if (next == SMTP_NEXT_TLS) {
			if (!p.tls_available || r.code != 220)
				abort();
			smtp_session_tls_on(s, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
			continue;
		}
		if (next != SMTP_NEXT_INPUT) {
			if (!r.len)
				abort();
			continue;
		}
		if (r.len)
			abort();
		if (off >= size)
			break;
		k = smtp_session_room(s, &room);
		if (k == 0)
			abort();
		if (k > chunk)
			k = chunk;
		if (k > size - off)
			k = size - off;
		memcpy(room, data + off, k);
		smtp_session_filled(s, k);
		off += k;
	}
	smtp_session_free(s);
	return 0;
}
