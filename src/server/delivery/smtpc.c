/* The SMTP client of delivery: one transaction (EHLO, MAIL, one RCPT, DATA) per recipient
 * with libcurl, and the reading of its outcome as Postfix's smtp_trouble does: the reply to
 * the command that decided is kept (curl's debug stream gives every server line; lines after
 * our QUIT are ignored so "221 Bye" never hides a 550); 2xx delivers, 4xx defers, 5xx fails
 * the recipient, and trouble with the host itself (no connection, a time-out, a greeting or
 * EHLO refused) defers and marks the destination so the caller can penalise it. Plain SMTP:
 * downstream servers are the operator's own (a smarthost, the domain's mail server). */
#include "delivery_int.h"

#include "common/err.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

static pthread_once_t smtpc_once = PTHREAD_ONCE_INIT;
static CURLcode smtpc_init_rc;

static void smtpc_global_init(void)
{
	smtpc_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What the debug stream told us about the session. */
struct smtpc_trace {
	int mail_sent;               /* MAIL FROM went out: later errors concern the message */
	int quit_sent;               /* replies after QUIT are not the outcome */
	int in_reply;                /* a multi-line reply is being read */
	int code;                    /* code of the last (or current) reply */
	char reply[MAIL_REPLY_SIZE]; /* its lines joined by spaces */
	size_t len;
	int reply_before_mail; /* that reply answered something sent before MAIL */
};

struct smtpc_reader {
	const char *data;
	size_t len, off;
};

static size_t smtpc_read(char *dst, size_t size, size_t n, void *arg)
{
	struct smtpc_reader *r = arg;
	size_t room = size * n, left = r->len - r->off;

	if (room > left)
		room = left;
	memcpy(dst, r->data + r->off, room);
	r->off += room;
	return room;
}

static void smtpc_reply_add(struct smtpc_trace *t, const char *s, size_t n)
{
	for (size_t i = 0; i < n && t->len + 1 < sizeof(t->reply); i++) {
		unsigned char c = (unsigned char)s[i];

		t->reply[t->len++] = c < 0x20 ? ' ' : c >= 0x7f ? '?' : (char)c;
	}
	t->reply[t->len] = '\0';
}

/* One server line: "ddd-text" continues a reply, "ddd text" (or "ddd") ends it. */
static void smtpc_line(struct smtpc_trace *t, const char *s, size_t n)
{
	int code;

	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
	    s[2] > '9')
		return;
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (!t->in_reply) {
		t->code = code;
		t->len = 0;
		t->reply[0] = '\0';
		t->reply_before_mail = !t->mail_sent;
		smtpc_reply_add(t, s, 3);
		if (n > 3) {
			smtpc_reply_add(t, " ", 1); /* "550-first" reads as "550 first ..." */
			smtpc_reply_add(t, s + 4, n - 4);
		}
	} else if (n > 4) {
		smtpc_reply_add(t, " ", 1);
		smtpc_reply_add(t, s + 4, n - 4);
	}
	t->in_reply = n > 3 && s[3] == '-';
}

static int smtpc_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	struct smtpc_trace *t = arg;

	(void)h;
	if (type == CURLINFO_HEADER_OUT) {
		if (size >= 4 && strncasecmp(data, "MAIL", 4) == 0)
			t->mail_sent = 1;
		else if (size >= 4 && strncasecmp(data, "QUIT", 4) == 0)
			t->quit_sent = 1;
	} else if (type == CURLINFO_HEADER_IN && !t->quit_sent) {
		while (size) {
			const char *nl = memchr(data, '\n', size);
			size_t n = nl ? (size_t)(nl - data) + 1 : size;

			smtpc_line(t, data, n);
			data += n;
			size -= n;
		}
	}
	return 0;
}

/* A curl failure without a reply that decides: the host's trouble, deferred. */
static int smtpc_site_error(CURLcode rc, const char *host, unsigned port, const char *errbuf,
                            struct deliv_result *res)
{
	const char *dsn = "4.4.2"; /* bad connection */

	if (rc == CURLE_COULDNT_CONNECT)
		dsn = "4.4.1"; /* no answer from host */
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		dsn = "4.4.3"; /* routing server failure */
	return deliv_result_set(res, DELIV_DEFER, 451, 1, "%s smtp://%s:%u: %s", dsn, host, port,
	                        errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static int smtpc_addr_ok(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a <= 0x20 || *a == 0x7f || *a == '<' || *a == '>')
			return 0;
	return 1;
}

/* Our EHLO name goes into the URL's path: letters, digits, '.', '-' only. */
static int smtpc_name_ok(const char *s)
{
	size_t n = 0;

	for (; s && s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '.' && s[n] != '-')
			return 0;
	return n > 0 && n < 256;
}

int smtpc_send(const char *host, unsigned port, const struct smtpc_opts *o, const char *env_from,
               const char *rcpt, const char *data, size_t len, struct deliv_result *res)
{
	char url[600], from[MAIL_ADDR_SIZE + 3], to[MAIL_ADDR_SIZE + 3];
	char errbuf[CURL_ERROR_SIZE] = "";
	struct smtpc_reader rd = {data, len, 0};
	struct smtpc_trace tr;
	struct curl_slist *rcpts = NULL;
	curl_off_t up = 0;
	CURL *h = NULL;
	CURLcode rc;

	memset(res, 0, sizeof(*res));
	memset(&tr, 0, sizeof(tr));
	if (!smtpc_addr_ok(env_from))
		return deliv_result_set(res, DELIV_FAIL, 553, 0, "5.1.7 bad sender address \"%s\"",
		                        env_from);
	if (!*rcpt || !smtpc_addr_ok(rcpt))
		return deliv_result_set(res, DELIV_FAIL, 553, 0,
		                        "5.1.3 bad recipient address \"%s\"", rcpt);
	pthread_once(&smtpc_once, smtpc_global_init);
	if (smtpc_init_rc != CURLE_OK)
		return deliv_result_set(res, DELIV_DEFER, 451, 0, "4.3.0 libcurl: %s",
		                        curl_easy_strerror(smtpc_init_rc));
	snprintf(url, sizeof(url), "smtp://%s:%u/%s", host, port,
	         smtpc_name_ok(o->helo) ? o->helo : "localhost");
	snprintf(from, sizeof(from), "<%s>", env_from);
	snprintf(to, sizeof(to), "<%s>", rcpt);
	h = curl_easy_init();
	rcpts = curl_slist_append(NULL, to);
	if (!h || !rcpts) {
		deliv_result_set(res, DELIV_DEFER, 451, 0, "4.3.0 out of memory");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp");
	curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never through a proxy from the environment */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_NONE);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, smtpc_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &rd);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L); /* feeds smtpc_debug; nothing is printed */
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, smtpc_debug);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, &tr);
	rc = curl_easy_perform(h);
	if (curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK && up > 0)
		res->sent = (int64_t)up;
	if (rc == CURLE_OK) {
		res->status = DELIV_SENT;
		res->code = tr.code ? tr.code : 250;
		snprintf(res->reply, sizeof(res->reply), "%s", tr.len ? tr.reply : "250 ok");
		res->sent = (int64_t)len;
	} else if (tr.code >= 400 && tr.code < 600) {
		/* refused before MAIL (greeting, EHLO/HELO) or 421 at any time: the host's
		 * trouble, deferred like Postfix's skipped 5xx greeting; otherwise the reply is
		 * about this message or recipient */
		int site = tr.reply_before_mail || tr.code == 421;

		res->status = (tr.code >= 500 && !site) ? DELIV_FAIL : DELIV_DEFER;
		res->code = tr.code;
		res->site = site;
		snprintf(res->reply, sizeof(res->reply), "%s", tr.reply);
	} else {
		smtpc_site_error(rc, host, port, errbuf, res);
	}
out:
	curl_slist_free_all(rcpts);
	if (h)
		curl_easy_cleanup(h);
	return res->status;
}
