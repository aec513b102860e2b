/* Mail routes: what "smtp://host:port" and "maildir:PATH" mean, which one a recipient's
 * mail takes (the domain's route, else the smarthost for outbound mail, else the Maildirs
 * under maildir_root: never an MX lookup, never the internet), and the one call that sends
 * a message there. Host names are checked to letters, digits, '.', '-' (or a bracketed IPv6
 * address) so a route can never smuggle anything into the URL curl is given. */
#include "delivery_int.h"

#include "common/err.h"
#include "server/config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

int deliv_result_set(struct deliv_result *res, int status, int code, int site, const char *fmt, ...)
{
	va_list ap;
	int n;

	res->status = status;
	res->code = code;
	res->site = site;
	n = snprintf(res->reply, sizeof(res->reply), "%d ", code);
	if (n < 0 || (size_t)n >= sizeof(res->reply))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(res->reply + n, sizeof(res->reply) - (size_t)n, fmt, ap);
	va_end(ap);
	return status;
}

static int route_parse_smtp(const char *s, struct deliv_dest *out, struct err *e)
{
	const char *p = s, *end;
	size_t n;
	unsigned long port = 25;

	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || end == p + 1)
			return err_set(e, MC_ERR_INVALID, "bad IPv6 address in route 'smtp://%s'",
			               s);
		for (const char *c = p + 1; c < end; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
				return err_set(e, MC_ERR_INVALID,
				               "bad IPv6 address in route 'smtp://%s'", s);
		end++;
	} else {
		end = p;
		while (isalnum((unsigned char)*end) || *end == '.' || *end == '-')
			end++;
		if (end == p)
			return err_set(e, MC_ERR_INVALID, "no host in route 'smtp://%s'", s);
	}
	n = (size_t)(end - p);
	if (n >= sizeof(out->host))
		return err_set(e, MC_ERR_INVALID, "host name too long in route 'smtp://%s'", s);
	memcpy(out->host, p, n);
	out->host[n] = '\0';
	p = end;
	if (*p == ':') {
		port = 0;
		p++;
		if (!isdigit((unsigned char)*p))
			return err_set(e, MC_ERR_INVALID, "bad port in route 'smtp://%s'", s);
		while (isdigit((unsigned char)*p) && port <= 65535)
			port = port * 10 + (unsigned long)(*p++ - '0');
		if (port == 0 || port > 65535 || isdigit((unsigned char)*p))
			return err_set(e, MC_ERR_INVALID, "bad port in route 'smtp://%s'", s);
	}
	if (*p == '/')
		p++;
	if (*p)
		return err_set(e, MC_ERR_INVALID, "unexpected '%s' in route 'smtp://%s'", p, s);
	out->kind = DEST_SMTP;
	out->port = (unsigned)port;
	snprintf(out->name, sizeof(out->name), "smtp://%s:%u", out->host, out->port);
	return 0;
}

static int route_set_maildir(const char *root, struct deliv_dest *out, struct err *e)
{
	size_t n = strlen(root);

	if (n == 0)
		return err_set(e, MC_ERR_INVALID, "no directory in route 'maildir:'");
	if (n >= sizeof(out->root) || n + 8 >= sizeof(out->name))
		return err_set(e, MC_ERR_INVALID, "directory too long in maildir route");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)root[i] < 0x20 || root[i] == 0x7f)
			return err_set(e, MC_ERR_INVALID, "control character in maildir route");
	while (n > 1 && root[n - 1] == '/')
		n--;
	memcpy(out->root, root, n);
	out->root[n] = '\0';
	out->kind = DEST_MAILDIR;
	if (snprintf(out->name, sizeof(out->name), "maildir:%s", out->root) >=
	    (int)sizeof(out->name))
		return err_set(e, MC_ERR_INVALID, "directory too long in maildir route");
	return 0;
}

int route_parse(const char *s, struct deliv_dest *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (strncasecmp(s, "smtp://", 7) == 0)
		return route_parse_smtp(s + 7, out, e);
	if (strncasecmp(s, "maildir:", 8) == 0)
		return route_set_maildir(s + 8, out, e);
	return err_set(e, MC_ERR_INVALID, "route '%s' is neither smtp://host:port nor maildir:PATH",
	               s);
}

int route_resolve(const char *dest, int route, const struct config *cfg, struct deliv_dest *out,
                  struct err *e)
{
	if (dest && *dest)
		return route_parse(dest, out, e);
	if (route == MAIL_OUTBOUND && cfg->smarthost[0])
		return route_parse(cfg->smarthost, out, e);
	memset(out, 0, sizeof(*out));
	return route_set_maildir(cfg->maildir_root, out, e);
}

int route_deliver(const struct deliv_dest *d, const struct smtpc_opts *o, const char *env_from,
                  const char *rcpt, const char *data, size_t len, struct deliv_result *res)
{
	if (d->kind == DEST_SMTP)
		return smtpc_send(d->host, d->port, o, env_from, rcpt, data, len, res);
	if (d->kind == DEST_MAILDIR && d->maildir_batch)
		return maildir_deliver_batch(d->root, rcpt, data, len, d->maildir_key, res);
	if (d->kind == DEST_MAILDIR)
		return maildir_deliver_key(d->root, rcpt, data, len, d->maildir_key, res);
	return deliv_result_set(res, DELIV_DEFER, 451, 0, "4.3.5 no usable mail route");
}
