/* The SMTP session state machine (smtp/smtp_session.c) without sockets: every command and
 * its replies, sequence and syntax errors, the limits (size declared and counted, recipients,
 * commands, errors, line lengths, hops), pipelining, the capped line reader staying in step,
 * dot-unstuffing and line ends in DATA, the smuggling defence, STARTTLS (injection, reset),
 * the Received: header, and logs that never hold message text or an unknown command's
 * argument. The pipeline is the test double of mail_double.h. */
#include "server/config.h"
#include "server/smtp/smtp_session.h"
#include "common/log.h"
#include "mail_double.h"
#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct config cfg;
static char spool[256];
static struct mail the_mail;
static char out[1 << 16]; /* the replies of the last run() */

static struct smtp_session *new_session(int tls)
{
	struct smtp_session_params p = {.cfg = &cfg,
	                                .mail = &the_mail,
	                                .client_ip = "192.0.2.7",
	                                .spool_dir = spool,
	                                .tls_available = tls};
	struct err e = {0};
	struct smtp_session *s = smtp_session_new(&p, &e);
	struct smtp_reply r;
	if (s)
		smtp_session_greeting(s, &r);
	return s;
}

/* Feeds n bytes of input (as a driver would, a buffer at a time) and gathers every reply
 * into out, until the input is used up, the session closes or asks for TLS. */
static enum smtp_next run_n(struct smtp_session *s, const char *in, size_t n)
{
	size_t off = 0, olen = 0;
	enum smtp_next next;

	out[0] = '\0';
	for (;;) {
		struct smtp_reply r;
		char *room;
		size_t k;

		next = smtp_session_step(s, &r);
		if (r.len && olen + r.len < sizeof(out)) {
			memcpy(out + olen, r.text, r.len);
			olen += r.len;
			out[olen] = '\0';
		}
		if (next == SMTP_NEXT_CLOSE || next == SMTP_NEXT_TLS)
			return next;
		if (next != SMTP_NEXT_INPUT)
			continue;
		if (off >= n)
			return next;
		k = smtp_session_room(s, &room);
		if (k == 0)
			return SMTP_NEXT_INPUT; /* must not happen */
		if (k > n - off)
			k = n - off;
		memcpy(room, in + off, k);
		smtp_session_filled(s, k);
		off += k;
	}
}

static enum smtp_next run(struct smtp_session *s, const char *in)
{
	return run_n(s, in, strlen(in));
}

/* The reply to one command line given to smtp_session_command directly. */
static const char *cmd(struct smtp_session *s, const char *line, enum smtp_next *next)
{
	static struct smtp_reply r;
	enum smtp_next n = smtp_session_command(s, line, strlen(line), &r);
	if (next)
		*next = n;
	r.text[r.len] = '\0';
	return r.text;
}

static struct smtp_session *in_transaction(void)
{
	struct smtp_session *s = new_session(0);
	run(s, "EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	return s;
}

static void test_greeting_and_ehlo(void)
{
	struct smtp_session_params p = {
	        .cfg = &cfg, .mail = &the_mail, .client_ip = "::1", .spool_dir = spool};
	struct smtp_session *s = smtp_session_new(&p, NULL);
	struct smtp_reply r;

	smtp_session_greeting(s, &r);
	r.text[r.len] = '\0';
	CHECK_STR(r.text, "220 mx.test ESMTP mcapid\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_INIT);
	CHECK_INT(strlen(smtp_session_id(s)), 12);
	CHECK_STR(cmd(s, "EHLO client.test", NULL), "250-mx.test\r\n250-PIPELINING\r\n250-SIZE "
	                                            "1048576\r\n250-8BITMIME\r\n250 "
	                                            "ENHANCEDSTATUSCODES\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_HELO);
	CHECK_STR(cmd(s, "HELO other.test", NULL), "250 mx.test\r\n");
	CHECK_STR(cmd(s, "ehlo  spaced.test  ", NULL), "250-mx.test\r\n250-PIPELINING\r\n250-SIZE "
	                                               "1048576\r\n250-8BITMIME\r\n250 "
	                                               "ENHANCEDSTATUSCODES\r\n");
	smtp_session_free(s);

	s = new_session(1);
	CHECK(strstr(cmd(s, "EHLO c", NULL), "250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n") !=
	      NULL);
	CHECK(strstr(cmd(s, "HELP", NULL), "214 2.0.0 commands:") != NULL);
	CHECK(strstr(cmd(s, "HELP", NULL), "STARTTLS") != NULL);
	smtp_session_free(s);
}

static void test_simple_commands(void)
{
	struct smtp_session *s = new_session(0);
	enum smtp_next next;

	CHECK_STR(cmd(s, "NOOP", NULL), "250 2.0.0 Ok\r\n");
	CHECK_STR(cmd(s, "NOOP anything", NULL), "250 2.0.0 Ok\r\n");
	CHECK_STR(cmd(s, "RSET", NULL), "250 2.0.0 Ok\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_INIT);
	CHECK_STR(cmd(s, "VRFY postmaster", NULL),
	          "252 2.5.2 cannot VRFY user, but will accept message and attempt delivery\r\n");
	CHECK_STR(cmd(s, "VRFY", NULL), "501 5.5.4 syntax: VRFY needs an argument\r\n");
	CHECK_STR(cmd(s, "EXPN staff", NULL), "502 5.5.1 EXPN is not offered\r\n");
	CHECK(!strncmp(cmd(s, "HELP", NULL), "214 2.0.0 commands: EHLO HELO MAIL", 34));
	CHECK(strstr(cmd(s, "HELP", NULL), "STARTTLS") == NULL);
	CHECK_STR(cmd(s, "STARTTLS", NULL), "502 5.5.1 STARTTLS is not offered\r\n");
	CHECK_STR(cmd(s, "BDAT 10 LAST", NULL), "500 5.5.2 command not recognized\r\n");
	CHECK_STR(cmd(s, "", NULL), "500 5.5.2 command not recognized\r\n");
	CHECK_STR(cmd(s, " NOOP", NULL), "500 5.5.2 command not recognized\r\n");
	CHECK_STR(cmd(s, "HELO", NULL), "501 5.5.4 syntax: HELO needs an argument\r\n");
	CHECK_STR(cmd(s, "EHLO bad\x01host", NULL), "501 5.5.4 invalid host name\r\n");
	CHECK_STR(cmd(s, "RSET now", NULL), "501 5.5.4 syntax: RSET takes no argument\r\n");
	CHECK_STR(cmd(s, "QUIT", &next), "221 2.0.0 Bye\r\n");
	CHECK_INT(next, SMTP_NEXT_CLOSE);
	CHECK_INT(smtp_session_state(s), SMTP_ST_QUIT);
	CHECK_STR(cmd(s, "NOOP", &next), "");
	CHECK_INT(next, SMTP_NEXT_CLOSE);
	smtp_session_free(s);

	/* an HTTP request on the SMTP port ends the session at once */
	s = new_session(0);
	CHECK_INT(run(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), SMTP_NEXT_CLOSE);
	CHECK_STR(out, "221 2.7.0 this is an SMTP server, goodbye\r\n");
	smtp_session_free(s);
	s = new_session(0);
	CHECK_INT(run_n(s, "NOOP\0x\r\n", 8), SMTP_NEXT_INPUT);
	CHECK_STR(out, "500 5.5.2 command not recognized\r\n");
	smtp_session_free(s);
}

static void test_sequence(void)
{
	struct smtp_session *s = new_session(0);

	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test>", NULL),
	          "503 5.5.1 bad sequence of commands: send HELO/EHLO first\r\n");
	CHECK_STR(cmd(s, "RCPT TO:<a@b.test>", NULL),
	          "503 5.5.1 bad sequence of commands: send HELO/EHLO first\r\n");
	CHECK_STR(cmd(s, "DATA", NULL),
	          "503 5.5.1 bad sequence of commands: send HELO/EHLO first\r\n");
	cmd(s, "EHLO c", NULL);
	CHECK_STR(cmd(s, "RCPT TO:<a@b.test>", NULL),
	          "503 5.5.1 bad sequence of commands: need MAIL command\r\n");
	CHECK_STR(cmd(s, "DATA", NULL),
	          "503 5.5.1 bad sequence of commands: need MAIL command\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test>", NULL), "250 2.1.0 Ok\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_MAIL);
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test>", NULL),
	          "503 5.5.1 bad sequence of commands: nested MAIL command\r\n");
	CHECK_STR(cmd(s, "DATA", NULL),
	          "503 5.5.1 bad sequence of commands: need RCPT command\r\n");
	CHECK_STR(cmd(s, "RCPT TO:<denied@d.test>", NULL), "550 5.7.1 relay denied\r\n");
	CHECK_STR(cmd(s, "DATA", NULL),
	          "503 5.5.1 bad sequence of commands: need RCPT command\r\n");
	CHECK_STR(cmd(s, "RCPT TO:<c@d.test>", NULL), "250 2.1.5 Ok\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_RCPT);
	CHECK_STR(cmd(s, "STARTTLS", NULL),
	          "503 5.5.1 bad sequence of commands: STARTTLS inside a transaction\r\n");
	CHECK_STR(cmd(s, "DATA now", NULL), "501 5.5.4 syntax: DATA takes no argument\r\n");
	/* RSET ends the transaction, EHLO too */
	CHECK_STR(cmd(s, "RSET", NULL), "250 2.0.0 Ok\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_HELO);
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test>", NULL), "250 2.1.0 Ok\r\n");
	cmd(s, "EHLO again", NULL);
	CHECK_INT(smtp_session_state(s), SMTP_ST_HELO);
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test>", NULL), "250 2.1.0 Ok\r\n");
	smtp_session_free(s);
}

static void test_mail_syntax(void)
{
	struct smtp_session *s = new_session(0);

	cmd(s, "EHLO c", NULL);
	CHECK_STR(cmd(s, "MAIL", NULL), "501 5.5.4 syntax: MAIL needs an argument\r\n");
	CHECK_STR(cmd(s, "MAIL TO:<a@b.test>", NULL), "501 5.5.4 syntax: MAIL FROM:<address>\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test", NULL), "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a b@b.test>", NULL),
	          "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<ab.test>", NULL), "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@>", NULL), "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b..test>", NULL), "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<\xc3\xa9@b.test>", NULL),
	          "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test>x", NULL), "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:", NULL), "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<postmaster>", NULL),
	          "501 5.1.7 bad sender address syntax\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test> FOO=1", NULL),
	          "555 5.5.4 unsupported parameter\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test> SIZE=12x", NULL), "501 5.5.4 bad SIZE value\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test> SIZE=", NULL), "501 5.5.4 bad SIZE value\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test> BODY=BINARYMIME", NULL),
	          "501 5.5.4 unsupported BODY type\r\n");
	/* a declared size over the limit, even absurdly so */
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test> SIZE=1048577", NULL),
	          "552 5.3.4 message size exceeds fixed maximum message size\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test> SIZE=99999999999999999999999999", NULL),
	          "552 5.3.4 message size exceeds fixed maximum message size\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<tempfail@b.test>", NULL), "451 4.3.0 try later\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<fail@b.test>", NULL),
	          "451 4.3.0 temporary failure, try again later\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<denied@b.test>", NULL), "550 5.7.1 relay denied\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_HELO);
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test> SIZE=1048576 BODY=8BITMIME", NULL),
	          "250 2.1.0 Ok\r\n");
	cmd(s, "RSET", NULL);
	CHECK_STR(cmd(s, "mail from: <\"john q\"@[192.0.2.1]>  body=7bit", NULL),
	          "250 2.1.0 Ok\r\n");
	cmd(s, "RSET", NULL);
	CHECK_STR(cmd(s, "MAIL FROM:<>", NULL), "250 2.1.0 Ok\r\n");
	cmd(s, "RSET", NULL);
	CHECK_STR(cmd(s, "MAIL FROM:<@relay.test,@r2.test:x@y.test>", NULL), "250 2.1.0 Ok\r\n");
	cmd(s, "RSET", NULL);
	CHECK_STR(cmd(s, "MAIL FROM:bare@b.test", NULL), "250 2.1.0 Ok\r\n");
	smtp_session_free(s);

	/* parameters need EHLO */
	s = new_session(0);
	cmd(s, "HELO c", NULL);
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test> SIZE=10", NULL),
	          "555 5.5.4 parameters need EHLO\r\n");
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test>", NULL), "250 2.1.0 Ok\r\n");
	smtp_session_free(s);
}

static void test_rcpt(void)
{
	struct smtp_session *s = new_session(0);
	char line[128];

	run(s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
	CHECK_STR(cmd(s, "RCPT", NULL), "501 5.5.4 syntax: RCPT needs an argument\r\n");
	CHECK_STR(cmd(s, "RCPT FROM:<c@d.test>", NULL), "501 5.5.4 syntax: RCPT TO:<address>\r\n");
	CHECK_STR(cmd(s, "RCPT TO:<>", NULL), "501 5.1.3 bad recipient address syntax\r\n");
	CHECK_STR(cmd(s, "RCPT TO:<c@d.test> NOTIFY=NEVER", NULL),
	          "555 5.5.4 unsupported parameter\r\n");
	CHECK_STR(cmd(s, "RCPT TO:<fail@d.test>", NULL),
	          "451 4.3.0 temporary failure, try again later\r\n");
	CHECK_STR(cmd(s, "RCPT TO:<Postmaster>", NULL), "250 2.1.5 Ok\r\n");
	CHECK_STR(cmd(s, "RCPT TO:<c@d.test>", NULL), "250 2.1.5 Ok\r\n");
	/* a duplicate is taken but recorded once */
	CHECK_STR(cmd(s, "RCPT TO:<C@D.test>", NULL), "250 2.1.5 Ok\r\n");
	for (int i = 2; i < cfg.smtp_max_rcpts; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<r%d@d.test>", i);
		CHECK_STR(cmd(s, line, NULL), "250 2.1.5 Ok\r\n");
	}
	CHECK_STR(cmd(s, "RCPT TO:<one-more@d.test>", NULL), "452 4.5.3 too many recipients\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_RCPT);
	smtp_session_free(s);
}

/* A whole message: dot-unstuffing, bare LF stored as CRLF, the Received: header, the
 * transaction's facts, and the size handed to mail_accept. */
static void test_data(void)
{
	struct smtp_session *s = new_session(0);
	const char *body;
	const char *head = "Received: from client.test ([192.0.2.7])\r\n\tby mx.test (mcapid) with "
	                   "ESMTP id ";
	enum smtp_next next;

	mail_double_reset();
	next = run(s, "EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	CHECK_INT(next, SMTP_NEXT_INPUT);
	CHECK_STR(out, "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1048576\r\n250-8BITMIME\r\n"
	               "250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	               "354 End data with <CR><LF>.<CR><LF>\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_DATA);
	run(s, "Subject: hi\r\n\r\n..leading dot\r\n.\nbare\nlines\r\n...\r\n\r\n.\r\nNOOP\r\n");
	CHECK_STR(out, "250 2.0.0 Ok: queued as 1\r\n250 2.0.0 Ok\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_HELO);
	CHECK_INT(mail_double.accepts, 1);
	body = mail_double.body;
	CHECK(!strncmp(body, head, strlen(head)));
	CHECK(strstr(body, "\r\n\tfor <c@d.test>;\r\n\t") != NULL);
	CHECK(strstr(body, " +0000\r\nSubject: hi\r\n\r\n.leading dot\r\n.\r\nbare\r\nlines\r\n.."
	                   "\r\n\r\n") != NULL);
	CHECK(body[mail_double.body_len - 1] == '\n' && body[mail_double.body_len - 3] != '\r');
	CHECK_INT(mail_double.size, mail_double.body_len);
	CHECK_STR(mail_double.last.client_ip, "192.0.2.7");
	CHECK_STR(mail_double.last.helo, "client.test");
	CHECK_STR(mail_double.last.env_from, "a@b.test");
	CHECK_STR(mail_double.last.tls_version, "");
	CHECK_INT(mail_double.last.nrcpt, 1);
	/* the next transaction starts clean; two recipients: no "for" */
	run(s, "MAIL FROM:<>\r\nRCPT TO:<x@d.test>\r\nRCPT TO:<y@d.test>\r\nDATA\r\nx\r\n.\r\n");
	CHECK_STR(out, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with "
	               "<CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 2\r\n");
	CHECK(strstr(mail_double.body, "for <") == NULL);
	CHECK(strstr(mail_double.body, ".2;\r\n\t") != NULL); /* the second message's id */
	CHECK_STR(mail_double.last.env_from, "");
	CHECK_INT(mail_double.last.nrcpt, 2);
	CHECK(strstr(mail_double.body, "+0000\r\nx\r\n") != NULL);
	smtp_session_free(s);

	/* HELO: protocol SMTP; an empty message */
	s = new_session(0);
	run(s, "HELO h\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n.\r\n");
	CHECK(strstr(out, "250 2.0.0 Ok: queued") != NULL);
	CHECK(strstr(mail_double.body, " with SMTP id ") != NULL);
	CHECK(!strcmp(mail_double.body + mail_double.body_len - 7, "+0000\r\n"));
	smtp_session_free(s);
}

/* Spool files reused through a pool: a file comes back emptied, the next message (of any
 * session) finds nothing of the one before, and the pool keeps at most its maximum. */
static void test_spool_pool(void)
{
	struct smtp_spool_pool *pool = smtp_spool_pool_new(spool, 1);
	struct smtp_session_params p = {.cfg = &cfg,
	                                .mail = &the_mail,
	                                .client_ip = "192.0.2.7",
	                                .spool_dir = spool,
	                                .spool_pool = pool};
	struct smtp_session *s;
	struct smtp_reply r;
	struct stat st1, st2;
	char big[200 * 102 + 64]; /* more than SMTP_SPOOL_BUF: it goes to the file */
	int fd1, fd2;

	CHECK(pool != NULL);
	CHECK_INT(smtp_spool_kept(pool), 0);
	/* a long message, then in another session a short one through the same file */
	mail_double_reset();
	s = smtp_session_new(&p, NULL);
	smtp_session_greeting(s, &r);
	for (int i = 0; i < 200; i++) {
		memset(big + i * 102, 'L', 100);
		memcpy(big + i * 102 + 100, "\r\n", 2);
	}
	snprintf(big + 200 * 102, sizeof(big) - 200 * 102, ".\r\n");
	run(s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	run(s, big);
	CHECK(strstr(out, "250 2.0.0 Ok: queued as 1") != NULL);
	CHECK(mail_double.body_len > 200 * 102);
	CHECK_INT(mail_double.mem_accepts, 0); /* through the file */
	CHECK_INT(smtp_spool_kept(pool), 1);
	smtp_session_free(s);
	s = smtp_session_new(&p, NULL);
	smtp_session_greeting(s, &r);
	run(s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nx\r\n.\r\n");
	CHECK(strstr(out, "250 2.0.0 Ok: queued as 2") != NULL);
	CHECK_INT(mail_double.body_len, mail_double.size);
	CHECK(mail_double.body_len < 400);
	CHECK(strstr(mail_double.body, "LLL") == NULL);
	CHECK(!strcmp(mail_double.body + mail_double.body_len - 10, "+0000\r\nx\r\n"));
	CHECK_INT(mail_double.mem_accepts, 1); /* it fit the buffer: never in the file */
	CHECK_INT(smtp_spool_kept(pool), 1);
	/* a message dropped half-way gives its file back empty too */
	run(s, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\npartial text\r\n");
	CHECK_INT(smtp_spool_kept(pool), 0);
	smtp_session_free(s);
	CHECK_INT(smtp_spool_kept(pool), 1);

	/* the pool itself: the file kept is the one given, empty at offset 0; past the maximum
	 * a file given back is closed */
	fd1 = smtp_spool_take(pool);
	fd2 = smtp_spool_take(pool);
	CHECK(fd1 >= 0 && fd2 >= 0 && fd1 != fd2);
	CHECK_INT(smtp_spool_kept(pool), 0);
	CHECK_INT(write(fd1, "secret", 6), 6);
	CHECK_INT(write(fd2, "other", 5), 5);
	CHECK(fstat(fd1, &st1) == 0);
	smtp_spool_give(pool, fd1);
	smtp_spool_give(pool, fd2);
	CHECK_INT(smtp_spool_kept(pool), 1);
	CHECK(fcntl(fd2, F_GETFD) == -1); /* closed: the pool was full */
	fd1 = smtp_spool_take(pool);
	CHECK(fstat(fd1, &st2) == 0);
	CHECK(st1.st_ino == st2.st_ino);
	CHECK_INT(st2.st_size, 0);
	CHECK_INT(lseek(fd1, 0, SEEK_CUR), 0);
	smtp_spool_give(pool, fd1);
	smtp_spool_pool_free(pool);
	mail_double_reset();
}

/* CRLF "." CRLF only ends the text: a bare-LF dot (or one after a bare-LF line) is text, so
 * a message cannot smuggle a second one past a relay that reads line ends differently. */
static void test_smuggling(void)
{
	struct smtp_session *s = in_transaction();

	mail_double_reset();
	run(s, "DATA\r\nA\n.\nMAIL FROM:<evil@x.test>\r\nB\n.\r\n");
	CHECK_STR(out, "354 End data with <CR><LF>.<CR><LF>\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_DATA);
	run(s, "C\r\n\r\n.\r\n");
	CHECK_STR(out, "250 2.0.0 Ok: queued as 1\r\n");
	CHECK(strstr(mail_double.body,
	             "A\r\n.\r\nMAIL FROM:<evil@x.test>\r\nB\r\n.\r\nC\r\n\r\n") != NULL);
	CHECK_INT(mail_double.accepts, 1);
	smtp_session_free(s);
}

static void test_pipelining(void)
{
	struct smtp_session *s = new_session(0);
	const char *in = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<denied@d.test>\r\n"
	                 "RCPT TO:<c@d.test>\r\nDATA\r\nbody\r\n.\r\nQUIT\r\nNOOP\r\n";

	mail_double_reset();
	CHECK_INT(run(s, in), SMTP_NEXT_CLOSE);
	CHECK_STR(out,
	          "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1048576\r\n250-8BITMIME\r\n"
	          "250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Ok\r\n550 5.7.1 relay denied\r\n"
	          "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued "
	          "as 1\r\n221 2.0.0 Bye\r\n");
	smtp_session_free(s);

	/* the same bytes one at a time give the same replies */
	s = new_session(0);
	{
		static char all[4096];
		size_t alen = 0;
		for (size_t i = 0; in[i]; i++) {
			run_n(s, in + i, 1);
			memcpy(all + alen, out, strlen(out));
			alen += strlen(out);
		}
		all[alen] = '\0';
		CHECK(strstr(all,
		             "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: "
		             "queued as 2\r\n221 2.0.0 Bye\r\n") != NULL);
	}
	smtp_session_free(s);

	/* all recipients refused: pipelined DATA and text meet 503 and 500s, in step */
	s = new_session(0);
	run(s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<denied@d.test>\r\nDATA\r\nhello\r\n.\r\n"
	       "NOOP\r\n");
	CHECK(strstr(out, "550 5.7.1 relay denied\r\n503 5.5.1 bad sequence of commands: need RCPT "
	                  "command\r\n500 5.5.2 command not recognized\r\n500 5.5.2 command not "
	                  "recognized\r\n250 2.0.0 Ok\r\n") != NULL);
	smtp_session_free(s);
}

/* Over-long command lines: 500 once, the rest of the line skipped, the next line served. */
static void test_long_lines(void)
{
	struct smtp_session *s = new_session(0);
	static char big[40000];
	char line[SMTP_LINE_MAX + 8];

	/* exactly 512 octets with CRLF is fine, 513 is not */
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + SMTP_LINE_MAX - 2, "\r\n", 3);
	run(s, line);
	CHECK_STR(out, "250 2.0.0 Ok\r\n");
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + SMTP_LINE_MAX - 1, "\r\n", 3);
	run(s, line);
	CHECK_STR(out, "500 5.5.2 line too long\r\n");
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + SMTP_LINE_MAX - 2, "\n", 2);
	run(s, line);
	CHECK_STR(out, "250 2.0.0 Ok\r\n");

	/* longer than the input buffer, with no line end for a while */
	memset(big, 'y', sizeof(big));
	memcpy(big, "EHLO ", 5);
	memcpy(big + sizeof(big) - 9, "\r\nNOOP\r\n", 9);
	run_n(s, big, sizeof(big) - 1);
	CHECK_STR(out, "500 5.5.2 line too long\r\n250 2.0.0 Ok\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_INIT);
	/* split across reads: 500 as soon as it is too long, then the tail is ignored */
	run_n(s, big, 1000);
	CHECK_STR(out, "500 5.5.2 line too long\r\n");
	run_n(s, big + 1000, 20000);
	CHECK_STR(out, "");
	run(s, "still the same line\r\nNOOP\r\n");
	CHECK_STR(out, "250 2.0.0 Ok\r\n");
	smtp_session_free(s);
}

/* Text lines longer than a piece: kept whole, a CR at a piece's end still pairs with LF. */
static void test_data_long_lines(void)
{
	struct smtp_session *s = in_transaction();
	static char in[3 * SMTP_DATA_CHUNK + 64], want[3 * SMTP_DATA_CHUNK + 64];
	size_t n = 0;

	mail_double_reset();
	run(s, "DATA\r\n");
	/* ".", then a line of 2 * SMTP_DATA_CHUNK - 1 octets whose CR arrives with a piece */
	in[n++] = '.';
	memset(in + n, 'z', 2 * SMTP_DATA_CHUNK - 2);
	n += 2 * SMTP_DATA_CHUNK - 2;
	memcpy(want, in + 1, n - 1);
	memcpy(want + n - 1, "\r\n", 3);
	in[n++] = '\r';
	run_n(s, in, n);
	CHECK_STR(out, "");
	CHECK_INT(smtp_session_buffered(s), 1); /* the CR waits for its LF */
	run_n(s, "\n.\r\n", 4);
	CHECK_STR(out, "250 2.0.0 Ok: queued as 1\r\n");
	CHECK(strstr(mail_double.body, want) != NULL);
	CHECK(strstr(mail_double.body, "\r\n.z") == NULL); /* unstuffed at the start only */
	CHECK(strstr(mail_double.body, "z\r\r\n") == NULL);
	smtp_session_free(s);

	/* a text line over SMTP_DATA_LINE_MAX: 554 at the dot, in step */
	s = in_transaction();
	run(s, "DATA\r\n");
	{
		static char big[SMTP_DATA_LINE_MAX + 16];
		memset(big, 'q', sizeof(big));
		memcpy(big + SMTP_DATA_LINE_MAX - 1, "\r\n", 2); /* 10,001 octets with CRLF */
		run_n(s, big, SMTP_DATA_LINE_MAX + 1);
	}
	run(s, "ok\r\n.\r\nNOOP\r\n");
	CHECK_STR(out, "554 5.6.0 message has a line longer than 10000 octets\r\n250 2.0.0 Ok\r\n");
	CHECK_INT(mail_double.accepts, 1);
	smtp_session_free(s);

	/* exactly the limit is taken */
	s = in_transaction();
	run(s, "DATA\r\n");
	{
		static char big[SMTP_DATA_LINE_MAX + 16];
		memset(big, 'q', sizeof(big));
		memcpy(big + SMTP_DATA_LINE_MAX - 2, "\r\n.\r\n", 5);
		run_n(s, big, SMTP_DATA_LINE_MAX + 3);
	}
	CHECK_STR(out, "250 2.0.0 Ok: queued as 2\r\n");
	smtp_session_free(s);
}

/* The reply to a message of exactly size text bytes in lines of 1000 octets. */
static const char *message_of(size_t size)
{
	static char msg[2 << 20];
	struct smtp_session *s = in_transaction();

	memset(msg, 'b', size);
	for (size_t i = 998; i + 1 < size; i += 1000)
		memcpy(msg + i, "\r\n", 2);
	memcpy(msg + size - 2, "\r\n.\r\n", 6);
	run(s, "DATA\r\n");
	run(s, msg);
	smtp_session_free(s);
	return out;
}

/* Size counted while the text streams: refused at the dot, the session in step. */
static void test_size_limit(void)
{
	struct smtp_session *s = in_transaction();
	static char chunk[64 * 1024];
	int64_t sent = 0;

	mail_double_reset();
	memset(chunk, 'a', sizeof(chunk));
	for (size_t i = 99; i < sizeof(chunk); i += 100)
		chunk[i] = '\n';
	run(s, "DATA\r\n");
	while (sent <= cfg.smtp_max_size) {
		run_n(s, chunk, sizeof(chunk));
		CHECK_STR(out, "");
		sent += (int64_t)sizeof(chunk);
	}
	run(s, "\r\n.\r\nMAIL FROM:<a@b.test>\r\n");
	CHECK_STR(out,
	          "552 5.3.4 message size exceeds fixed maximum message size\r\n250 2.1.0 Ok\r\n");
	CHECK_INT(mail_double.accepts, 0);
	CHECK(mail_double.body == NULL);
	smtp_session_free(s);

	/* exactly the limit (text bytes as stored, CRLF counted, the Received: not), and one more
	 */
	CHECK_STR(message_of(1048576), "250 2.0.0 Ok: queued as 1\r\n");
	CHECK_STR(message_of(1048577),
	          "552 5.3.4 message size exceeds fixed maximum message size\r\n");
}

static void test_hops(void)
{
	struct smtp_session *s = in_transaction();
	char in[SMTP_MAX_HOPS * 32 + 64];
	size_t n = 0;

	mail_double_reset();
	run(s, "DATA\r\n");
	for (int i = 0; i <= SMTP_MAX_HOPS; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "Received: from h%d\r\n", i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\nbody\r\n.\r\n");
	run_n(s, in, n);
	CHECK_STR(out, "554 5.4.6 too many hops (Received: headers): mail loop?\r\n");
	smtp_session_free(s);

	/* Received: in the body does not count */
	s = in_transaction();
	n = (size_t)snprintf(in, sizeof(in), "DATA\r\nSubject: x\r\n\r\n");
	for (int i = 0; i <= SMTP_MAX_HOPS; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "Received: %d\r\n", i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, ".\r\n");
	run_n(s, in, n);
	CHECK(strstr(out, "250 2.0.0 Ok: queued as 1\r\n") != NULL);
	smtp_session_free(s);
}

static void test_accept_answers(void)
{
	struct smtp_session *s = in_transaction();

	mail_double_reset();
	mail_double.accept_code = 554;
	run(s, "DATA\r\nX-Test: virus\r\n\r\n.\r\n");
	CHECK(strstr(out, "554 5.7.1 virus found\r\n") != NULL);
	mail_double.accept_code = 0;
	mail_double.accept_rc = MC_ERR_STORE;
	run(s, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n.\r\n");
	CHECK(strstr(out, "451 4.3.0 temporary failure, try again later\r\n") != NULL);
	mail_double.accept_rc = 0;
	smtp_session_free(s);

	/* no spool directory: 451 before 354 */
	{
		struct smtp_session_params p = {.cfg = &cfg,
		                                .mail = &the_mail,
		                                .client_ip = "192.0.2.7",
		                                .spool_dir = "/nonexistent/spool"};
		s = smtp_session_new(&p, NULL);
		run(s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
		CHECK(strstr(out,
		             "451 4.3.0 cannot receive the message now, try again later\r\n") !=
		      NULL);
		CHECK_INT(smtp_session_state(s), SMTP_ST_RCPT);
		smtp_session_free(s);
	}
}

/* smtp_accept_memory: the bytes of a message are taken from the gate for mail_accept and
 * given back after; no room (with the gate closed, no wait) is 451 4.3.1 and nothing kept; a
 * message larger than the whole budget passes alone. */
static void test_accept_gate(void)
{
	struct smtp_gate *g = smtp_gate_new(100);
	struct smtp_session_params p = {.cfg = &cfg,
	                                .mail = &the_mail,
	                                .client_ip = "192.0.2.7",
	                                .spool_dir = spool,
	                                .gate = g};
	struct smtp_session *s = smtp_session_new(&p, NULL);
	char big[40000];
	size_t n;

	mail_double_reset();
	run(s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSubject: "
	       "small\r\n\r\nhello\r\n.\r\n");
	CHECK(strstr(out, "250 2.0.0 Ok") != NULL);
	CHECK_INT(mail_double.accepts, 1);
	CHECK_INT(smtp_gate_used(g), 0);
	/* larger than the budget and than the in-memory buffer: through the file, alone */
	n = (size_t)snprintf(big, sizeof(big),
	                     "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	while (n + 80 < sizeof(big) - 8) {
		memcpy(big + n,
		       "0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
		       72);
		n += 72;
	}
	memcpy(big + n, ".\r\n", 3);
	n += 3;
	run_n(s, big, n);
	CHECK(strstr(out, "250 2.0.0 Ok") != NULL);
	CHECK_INT(mail_double.accepts, 2);
	CHECK_INT(smtp_gate_used(g), 0);
	/* no room, and the gate closed (as when mcapid stops) so that nobody waits 20 s for it:
	 * 451 4.3.1, not accepted, the session goes on */
	CHECK_INT(smtp_gate_take(g, 100), 0);
	smtp_gate_close(g);
	run(s, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n."
	       "\r\nNOOP\r\n");
	CHECK(strstr(out, "451 4.3.1 insufficient system resources, try again later\r\n250 2.0.0 "
	                  "Ok\r\n") != NULL);
	CHECK_INT(mail_double.accepts, 2);
	CHECK_INT(smtp_gate_used(g), 100);
	CHECK_INT(smtp_session_state(s), SMTP_ST_HELO);
	/* with room, a closed gate still lets a message through */
	smtp_gate_give(g, 100);
	run(s,
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSubject: y\r\n\r\ny\r\n.\r\n");
	CHECK(strstr(out, "250 2.0.0 Ok") != NULL);
	CHECK_INT(mail_double.accepts, 3);
	CHECK_INT(smtp_gate_used(g), 0);
	smtp_session_free(s);
	smtp_gate_free(g);
}

/* smtp_max_commands bounds commands per transaction and errors per session. */
static void test_command_and_error_limits(void)
{
	struct smtp_session *s;
	int saved = cfg.smtp_max_commands;
	char line[64];

	cfg.smtp_max_commands = 5;
	s = new_session(0);
	CHECK_INT(run(s, "EHLO c\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n"), SMTP_NEXT_INPUT);
	CHECK_INT(run(s, "NOOP\r\nNOOP\r\n"), SMTP_NEXT_CLOSE);
	CHECK_STR(out, "421 4.7.0 mx.test too many commands, closing connection\r\n");
	smtp_session_free(s);

	/* accepted recipients do not count; a finished message starts the count again */
	s = new_session(0);
	run(s, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
	for (int i = 0; i < 8; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<r%d@d.test>\r\n", i);
		run(s, line);
		CHECK_STR(out, "250 2.1.5 Ok\r\n");
	}
	CHECK_INT(run(s, "DATA\r\n.\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nNOOP\r\n"),
	          SMTP_NEXT_INPUT);
	CHECK(strstr(out, "250 2.0.0 Ok\r\n") != NULL);
	smtp_session_free(s);

	/* errors over the session: the sixth ends it after its own reply */
	s = new_session(0);
	CHECK_INT(run(s, "EHLO c\r\nXXX1\r\nXXX2\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	                 "DATA\r\n.\r\nXXX3\r\nXXX4\r\nMAIL FROM:<a@b.test>\r\n"
	                 "RCPT TO:<c@d.test>\r\nDATA\r\n.\r\n"),
	          SMTP_NEXT_INPUT);
	CHECK_INT(run(s, "XXX5\r\nXXX6\r\nNOOP\r\n"), SMTP_NEXT_CLOSE);
	CHECK(strstr(out, "500 5.5.2 command not recognized\r\n500 5.5.2 command not recognized\r\n"
	                  "421 4.7.0 mx.test too many errors, closing connection\r\n") != NULL);
	CHECK(strstr(out, "250 2.0.0 Ok") == NULL);
	smtp_session_free(s);
	cfg.smtp_max_commands = saved;
}

static void test_starttls(void)
{
	struct smtp_session *s = new_session(1);
	enum smtp_next next;

	mail_double_reset();
	run(s, "EHLO c\r\n");
	/* what follows STARTTLS in the same packet is discarded, never answered */
	next = run(s, "STARTTLS\r\nMAIL FROM:<injected@x.test>\r\n");
	CHECK_INT(next, SMTP_NEXT_TLS);
	CHECK_STR(out, "220 2.0.0 ready to start TLS\r\n");
	CHECK(smtp_session_buffered(s) > 0);
	smtp_session_tls_on(s, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	CHECK_INT(smtp_session_buffered(s), 0);
	CHECK_INT(smtp_session_state(s), SMTP_ST_INIT);
	CHECK_INT(run(s, ""), SMTP_NEXT_INPUT);
	CHECK_STR(out, "");
	/* the session starts over: EHLO again, STARTTLS no longer offered */
	CHECK_STR(cmd(s, "MAIL FROM:<a@b.test>", NULL),
	          "503 5.5.1 bad sequence of commands: send HELO/EHLO first\r\n");
	CHECK(strstr(cmd(s, "EHLO c2", NULL), "STARTTLS") == NULL);
	CHECK_STR(cmd(s, "STARTTLS", NULL), "503 5.5.1 TLS already active\r\n");
	run(s, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nhi\r\n.\r\n");
	CHECK(strstr(out, "250 2.0.0 Ok: queued as 1\r\n") != NULL);
	CHECK_STR(mail_double.last.tls_version, "TLSv1.3");
	CHECK_STR(mail_double.last.tls_cipher, "TLS_AES_256_GCM_SHA384");
	CHECK_STR(mail_double.last.helo, "c2");
	CHECK(strstr(mail_double.body, "with ESMTPS id ") != NULL);
	CHECK(strstr(mail_double.body, "(TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)") != NULL);
	CHECK_STR(cmd(s, "STARTTLS now", NULL), "501 5.5.4 syntax: STARTTLS takes no argument\r\n");
	smtp_session_free(s);

	/* STARTTLS before EHLO is allowed (RFC 3207 does not require EHLO first) */
	s = new_session(1);
	CHECK_INT(run(s, "STARTTLS\r\n"), SMTP_NEXT_TLS);
	smtp_session_free(s);
}

static void test_end(void)
{
	struct smtp_session *s = in_transaction();
	struct smtp_reply r;

	run(s, "DATA\r\npartial text\r\n");
	smtp_session_end(s, SMTP_END_TIMEOUT, &r);
	r.text[r.len] = '\0';
	CHECK_STR(r.text, "421 4.4.2 mx.test timeout, closing connection\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_QUIT);
	smtp_session_end(s, SMTP_END_TIMEOUT, &r);
	CHECK_INT(r.len, 0);
	smtp_session_free(s);
	s = new_session(0);
	smtp_session_end(s, SMTP_END_SESSION_TIME, &r);
	r.text[r.len] = '\0';
	CHECK_STR(r.text, "421 4.4.2 mx.test session too long, closing connection\r\n");
	smtp_session_free(s);
	s = new_session(0);
	smtp_session_end(s, SMTP_END_TXN_TIME, &r);
	r.text[r.len] = '\0';
	CHECK_STR(r.text,
	          "421 4.4.2 mx.test no message within the time allowed, closing connection\r\n");
	smtp_session_free(s);
	s = in_transaction();
	run(s, "DATA\r\nslow text");
	smtp_session_end(s, SMTP_END_DATA_SLOW, &r);
	r.text[r.len] = '\0';
	CHECK_STR(r.text, "421 4.4.2 mx.test message text too slow, closing connection\r\n");
	CHECK_INT(smtp_session_state(s), SMTP_ST_QUIT);
	smtp_session_free(s);
	s = new_session(0);
	smtp_session_end(s, SMTP_END_SHUTDOWN, &r);
	r.text[r.len] = '\0';
	CHECK_STR(r.text, "421 4.3.2 mx.test shutting down, try again later\r\n");
	smtp_session_free(s);
	smtp_reply_refuse(&r, &cfg, "192.0.2.9", 1, 0);
	r.text[r.len] = '\0';
	CHECK_STR(r.text,
	          "421 4.7.0 mx.test too many sessions from your address, try again later\r\n");
	smtp_reply_refuse(&r, &cfg, "192.0.2.9", 0, 1);
	r.text[r.len] = '\0';
	CHECK_STR(r.text, "421 4.7.0 mx.test too many sessions, try again later\r\n");
}

/* Errors are logged with the command made safe: never message text, never the argument of
 * a command that is not an address or a host name (AUTH carries secrets). */
static void test_logs(void)
{
	char path[] = "/tmp/smtp-log-XXXXXX";
	static char buf[65536];
	int fd = mkstemp(path);
	struct smtp_session *s;
	ssize_t n;

	log_set_fd(fd);
	s = new_session(0);
	run(s, "AUTH PLAIN c2VjcmV0LXBhc3N3b3Jk\r\nEHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	       "RCPT TO:<denied@d.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSECRET-TEXT\r\n.\r\n");
	mail_double.accept_code = 554;
	run(s, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSECRET-TEXT\r\n.\r\n");
	mail_double.accept_code = 0;
	smtp_session_free(s);
	log_set_fd(2);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	CHECK(strstr(buf, "cmd=AUTH reply=\"500 5.5.2 command not recognized\"") != NULL);
	CHECK(strstr(buf, "c2VjcmV0") == NULL);
	CHECK(strstr(buf, "cmd=\"RCPT TO:<denied@d.test>\" reply=\"550 5.7.1 relay denied\"") !=
	      NULL);
	CHECK(strstr(buf, "cmd=\"DATA (end)\" reply=\"554 5.7.1 virus found\"") != NULL);
	CHECK(strstr(buf, "msg=accepted from=<a@b.test> rcpts=1") != NULL);
	CHECK(strstr(buf, "SECRET-TEXT") == NULL);
	CHECK(strstr(buf, "msg=closed ip=192.0.2.7 commands=") != NULL);
}

/* Memory is fixed: megabytes without a line end never fill the input buffer. */
static void test_bounded_input(void)
{
	struct smtp_session *s = in_transaction();
	static char junk[1 << 20];
	char *room;

	memset(junk, 'j', sizeof(junk));
	run_n(s, junk, sizeof(junk));
	CHECK(smtp_session_room(s, &room) > SMTP_IN_SIZE - SMTP_LINE_MAX);
	CHECK_STR(out, "500 5.5.2 line too long\r\n");
	run(s, "DATA\r\n"); /* the end of that line */
	CHECK_STR(out, "");
	run(s, "DATA\r\n");
	CHECK_STR(out, "354 End data with <CR><LF>.<CR><LF>\r\n");
	run_n(s, junk, sizeof(junk));
	CHECK(smtp_session_room(s, &room) > SMTP_IN_SIZE - SMTP_DATA_CHUNK);
	run(s, "\r\n.\r\n");
	CHECK_STR(out, "554 5.6.0 message has a line longer than 10000 octets\r\n");
	smtp_session_free(s);
}

int main(void)
{
	char tmpl[] = "/tmp/smtp-spool-XXXXXX";

	config_defaults(&cfg);
	snprintf(cfg.smtp_hostname, sizeof(cfg.smtp_hostname), "mx.test");
	cfg.smtp_max_size = 1048576;
	cfg.smtp_max_rcpts = 10;
	cfg.smtp_max_commands = 100;
	log_set_level("error");
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(spool, sizeof(spool), "%s", tmpl);

	test_greeting_and_ehlo();
	test_simple_commands();
	test_sequence();
	test_mail_syntax();
	test_rcpt();
	test_data();
	test_spool_pool();
	test_smuggling();
	test_pipelining();
	test_long_lines();
	test_data_long_lines();
	test_size_limit();
	test_hops();
	test_accept_answers();
	test_accept_gate();
	test_command_and_error_limits();
	test_starttls();
	test_end();
	log_set_level("debug");
	test_logs();
	log_set_level("error");
	test_bounded_input();
	CHECK_INT(mail_double.inits, mail_double.releases);
	mail_double_reset();
	rmdir(spool);
	return tap_done();
}
