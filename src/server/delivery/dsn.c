/* Delivery status notifications (RFC 3464): the one bounce a message gets when a recipient
 * failed or expired, built as multipart/report with a readable text part, the
 * message/delivery-status fields per recipient and the original header block (never the
 * body: it may be large, and the sender has it). Also the small header readers that decide
 * whether a message is a DSN itself (which never gets one) and fill event fields. */
#include "delivery_int.h"

#include "common/buf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/banned.h"

/* Length of the line at data[i..len) without its line end; *next gets the next line. */
static size_t dsn_line(const char *data, size_t len, size_t i, size_t *next)
{
	const char *nl = memchr(data + i, '\n', len - i);
	size_t end = nl ? (size_t)(nl - data) : len;

	*next = nl ? end + 1 : len;
	if (end > i && data[end - 1] == '\r')
		end--;
	return end - i;
}

size_t dsn_header_len(const char *data, size_t len)
{
	size_t i = 0, next, prev_end = 0;

	while (i < len) {
		size_t n = dsn_line(data, len, i, &next);

		if (n == 0)
			return prev_end;
		prev_end = i + n;
		i = next;
	}
	return len;
}

int dsn_header_get(const char *data, size_t len, const char *name, char *out, size_t size)
{
	size_t hlen = dsn_header_len(data, len), nlen = strlen(name), i = 0, next, o = 0;
	int found = 0;

	if (size)
		out[0] = '\0';
	while (i < hlen) {
		size_t n = dsn_line(data, hlen, i, &next);
		const char *line = data + i;

		if (found) {
			if (n == 0 || (line[0] != ' ' && line[0] != '\t'))
				break;
			for (size_t k = 0; k < n && o + 1 < size; k++)
				out[o++] = line[k];
		} else if (n > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
			size_t k = nlen + 1;

			found = 1;
			while (k < n && (line[k] == ' ' || line[k] == '\t'))
				k++;
			for (; k < n && o + 1 < size; k++)
				out[o++] = line[k];
		}
		i = next;
	}
	if (size)
		out[o] = '\0';
	return found;
}

int dsn_is_report(const char *data, size_t len)
{
	char ct[512];

	if (!dsn_header_get(data, len, "Content-Type", ct, sizeof(ct)))
		return 0;
	for (char *c = ct; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return strncmp(ct, "multipart/report", 16) == 0 && strstr(ct, "delivery-status") != NULL;
}

static void dsn_date(int64_t ms, char *out, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The enhanced status of a reply ("550 5.1.1 text" → "5.1.1") if its class is cls. */
static int dsn_status_of(const char *reply, char cls, char *out, size_t size)
{
	const char *p = reply;
	size_t n = 0;
	int dots = 0;

	if (strlen(p) > 4 && isdigit((unsigned char)p[0]) && p[3] == ' ')
		p += 4;
	if (*p != cls || p[1] != '.')
		return 0;
	while (isdigit((unsigned char)p[n]) || p[n] == '.') {
		if (p[n] == '.')
			dots++;
		n++;
	}
	if (dots != 2 || p[n - 1] == '.' || (p[n] && p[n] != ' ') || n >= size)
		return 0;
	memcpy(out, p, n);
	out[n] = '\0';
	return 1;
}

int dsn_build(const struct dsn_input *in, struct buf *out)
{
	char date[64], arrival[64], boundary[96], status[16];
	size_t hlen = dsn_header_len(in->orig, in->orig_len), i = 0, next, k = 0;
	int rc = 0;

	dsn_date(in->now, date, sizeof(date));
	dsn_date(in->arrival, arrival, sizeof(arrival));
	k = (size_t)snprintf(boundary, sizeof(boundary), "=_mcapi-dsn-");
	for (const char *c = in->acode; *c && k + 24 < sizeof(boundary); c++)
		if (isalnum((unsigned char)*c) || *c == '-' || *c == '_')
			boundary[k++] = *c;
	snprintf(boundary + k, sizeof(boundary) - k, "-%lld", (long long)in->now);

	rc = buf_addf(out,
	              "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	              "To: <%s>\r\n"
	              "Subject: Undelivered Mail Returned to Sender\r\n"
	              "Date: %s\r\n"
	              "Message-ID: <%s@%s>\r\n"
	              "Auto-Submitted: auto-replied\r\n"
	              "MIME-Version: 1.0\r\n"
	              "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	              "\tboundary=\"%s\"\r\n"
	              "\r\n"
	              "This is a MIME-encapsulated message.\r\n"
	              "\r\n"
	              "--%s\r\n"
	              "Content-Description: Notification\r\n"
	              "Content-Type: text/plain; charset=utf-8\r\n"
	              "\r\n"
	              "This is the mail system at host %s.\r\n"
	              "\r\n"
	              "Your message could not be delivered to one or more recipients.\r\n"
	              "\r\n",
	              in->hostname, in->env_from, date, boundary + 2, in->hostname, boundary,
	              boundary, in->hostname);
	for (int r = 0; !rc && r < in->nrcpts; r++) {
		const struct dsn_rcpt *d = &in->rcpts[r];

		if (d->state == RCPT_EXPIRED)
			rc = buf_addf(out, "<%s>: delivery time expired; last reply: %s\r\n",
			              d->addr, d->reply[0] ? d->reply : "none");
		else
			rc = buf_addf(out, "<%s>: %s\r\n", d->addr,
			              d->reply[0] ? d->reply : "delivery failed");
	}
	if (!rc)
		rc = buf_addf(out,
		              "\r\n--%s\r\n"
		              "Content-Description: Delivery report\r\n"
		              "Content-Type: message/delivery-status\r\n"
		              "\r\n"
		              "Reporting-MTA: dns; %s\r\n"
		              "Arrival-Date: %s\r\n",
		              boundary, in->hostname, arrival);
	for (int r = 0; !rc && r < in->nrcpts; r++) {
		const struct dsn_rcpt *d = &in->rcpts[r];

		if (d->state == RCPT_EXPIRED)
			snprintf(status, sizeof(status), "4.4.7");
		else if (!dsn_status_of(d->reply, '5', status, sizeof(status)))
			snprintf(status, sizeof(status), "5.0.0");
		rc = buf_addf(out,
		              "\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: %s\r\n",
		              d->addr, status);
		if (!rc && d->reply[0])
			rc = buf_addf(out, "Diagnostic-Code: smtp; %s\r\n", d->reply);
	}
	if (!rc)
		rc = buf_addf(out,
		              "\r\n--%s\r\n"
		              "Content-Description: Undelivered Message Headers\r\n"
		              "Content-Type: text/rfc822-headers\r\n"
		              "\r\n",
		              boundary);
	/* the header block, lines ending in CRLF, cut at a line end before DSN_MAX_HEADERS */
	while (!rc && i < hlen) {
		size_t n = dsn_line(in->orig, hlen, i, &next);

		if (out->len + n + 2 > out->cap || (i + n) > DSN_MAX_HEADERS)
			break;
		rc = buf_add(out, in->orig + i, n);
		if (!rc)
			rc = buf_add(out, "\r\n", 2);
		i = next;
	}
	if (!rc)
		rc = buf_addf(out, "\r\n--%s--\r\n", boundary);
	return rc;
}
