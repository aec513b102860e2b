/* get-siem-logs (API.md §14.1): one log file per call, and a sealed token that names the
 * next one. The events are those the checks wrote into mail_events (store_mail.h), read
 * through store_siem.h.
 *
 * The token carries {v, a (account id), h (the horizon hi), c (the retention cutoff),
 * p (per log type, the id of the last event served)}. The file for a token is a function
 * of the token alone as long as its hi is not used up: the log type whose next event
 * (p[type] < id <= hi, at >= c) has the smallest id, and up to siem_file_max_events of its
 * events in id order. Ids up to hi are final (store_siem_horizon), so a retried token gives
 * the same bytes. When nothing is left below hi, a new horizon is read (and the cutoff moved
 * up to now - 7 days); if it holds events, they are served with the new hi in the next
 * token, else the answer is isLastToken with the token as it came. That end-of-chain token
 * is the one exception to "same token, same bytes": a retry after more events arrived gets a
 * longer file that starts with the same events, and its own next token, so whichever answer
 * the client keeps, nothing is lost or repeated.
 *
 * Speed: a json file is spliced from the stored text ({"acc":..,"datetime":.., then the
 * stored members), with no parse; key_value parses each event with jansson. The account
 * code is the caller's, the zone offset is cached per file (tz.h). */
#include "api.h"
#include "siem_token.h"

#include "common/buf.h"
#include "common/date.h"
#include "common/err.h"
#include "common/json.h"
#include "server/config.h"
#include "server/server.h"
#include "server/store/store_siem.h"
#include "server/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "common/banned.h"

#define RETENTION_MS (7LL * 86400000)
#define FILE_CAP     ((size_t)1 << 30) /* bytes of one file, before any zip */

enum file_format { FMT_KEY_VALUE, FMT_JSON };

/* ---- answers without a file ---- */

/* The envelope with meta.isLastToken (§14.1): {"meta":{"isLastToken":..,"status":200},
 * "data":[],"fail":[..]}, fail taken from res. */
static int envelope(struct response *res, int last)
{
	struct buf b;
	char *body;
	size_t len;
	int rc;

	buf_init(&b, (size_t)1 << 20);
	rc = buf_addf(&b, "{\"meta\":{\"isLastToken\":%s,\"status\":200},\"data\":[],\"fail\":",
	              last ? "true" : "false");
	if (!rc)
		rc = json_write(&b, res->fail);
	if (!rc)
		rc = buf_addc(&b, '}');
	if (rc) {
		buf_release(&b);
		return rc;
	}
	body = buf_detach(&b, &len);
	if (!body)
		return MC_ERR_NOMEM;
	response_set_body(res, body, len);
	return 0;
}

static int invalid(struct response *res, json_t *item, const char *code, const char *field,
                   const char *message)
{
	response_fail_item(res, item, code, message, field, 0);
	return envelope(res, 0);
}

/* ---- the file ---- */

struct file_ctx {
	struct buf out;
	enum file_format fmt;
	const char *acc; /* accountCode */
	struct tz_cursor tz;
	int64_t sec; /* the second dt was formatted for (INT64_MIN: none) */
	int32_t off;
	char dt[TZ_DATETIME_SIZE];
	int64_t first_at, last_id;
	size_t n;
	struct buf prefix; /* json: ,{"acc":..,"datetime":" */
};

static const char *file_dt(struct file_ctx *f, int64_t at)
{
	int32_t off = tz_offset(&f->tz, at);
	int64_t sec = at >= 0 ? at / 1000 : (at - 999) / 1000;

	if (sec != f->sec || off != f->off) {
		tz_format(sec * 1000, off, f->dt);
		f->sec = sec;
		f->off = off;
	}
	return f->dt;
}

static int add_json_event(struct file_ctx *f, const struct siem_event *ev)
{
	const char *end, *rest = siem_members(ev->data, ev->len, &end);
	struct buf *b = &f->out;
	int rc;

	/* ,{"acc":"CODE","datetime":" is the same for every event: made once per file */
	if (!f->prefix.len) {
		rc = buf_adds(&f->prefix, ",{\"acc\":");
		if (!rc)
			rc = json_write_string(&f->prefix, f->acc, strlen(f->acc));
		if (!rc)
			rc = buf_adds(&f->prefix, ",\"datetime\":\"");
		if (rc)
			return rc;
	}
	rc = buf_add(b, f->prefix.data + (f->n ? 0 : 1), f->prefix.len - (f->n ? 0 : 1));
	if (!rc)
		rc = buf_adds(b, file_dt(f, ev->at));
	if (!rc)
		rc = buf_addc(b, '"');
	if (!rc && rest < end && *rest != '}')
		rc = buf_addc(b, ',');
	if (!rc) {
		if (rest < end)
			rc = buf_add(b, rest, (size_t)(end - rest));
		else
			rc = buf_addc(b, '}');
	}
	return rc;
}

static int add_kv_event(struct file_ctx *f, const struct siem_event *ev)
{
	return siem_kv_line(&f->out, ev->data, ev->len, file_dt(f, ev->at), f->acc);
}

static int file_event(void *arg, const struct siem_event *ev)
{
	struct file_ctx *f = arg;
	int rc;

	if (!f->n)
		f->first_at = ev->at;
	rc = f->fmt == FMT_JSON ? add_json_event(f, ev) : add_kv_event(f, ev);
	if (rc)
		return rc;
	f->last_id = ev->id;
	f->n++;
	return 0;
}

/* ---- zip ---- */

/* A zip holding data as name, with the entry's time set to mtime (so the same file gives
 * the same bytes). 0 with *out malloc'd (caller frees), or MC_ERR_NOMEM / MC_ERR_INTERNAL. */
static int zip_one(const char *name, const char *data, size_t len, int64_t mtime, char **out,
                   size_t *out_len)
{
	zip_error_t ze;
	zip_source_t *src = NULL, *file = NULL;
	zip_t *za = NULL;
	zip_stat_t zs;
	zip_int64_t idx;
	char *buf = NULL;
	int rc = MC_ERR_INTERNAL;

	*out = NULL;
	zip_error_init(&ze);
	src = zip_source_buffer_create(NULL, 0, 0, &ze);
	if (!src)
		goto out;
	za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	if (!za)
		goto out;
	zip_source_keep(src); /* zip_close frees za; src holds the result */
	file = zip_source_buffer(za, data, len, 0);
	if (!file)
		goto out;
	idx = zip_file_add(za, name, file, ZIP_FL_ENC_UTF_8);
	if (idx < 0)
		goto out;
	file = NULL; /* za owns it */
	/* level 1: most of the size gain at a fraction of the time of the default */
	if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 1) != 0 ||
	    zip_file_set_mtime(za, (zip_uint64_t)idx, (time_t)(mtime / 1000), 0) != 0)
		goto out;
	if (zip_close(za) != 0)
		goto out;
	za = NULL;
	if (zip_source_stat(src, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE) ||
	    zip_source_open(src) != 0)
		goto out;
	buf = malloc(zs.size ? zs.size : 1);
	if (!buf) {
		rc = MC_ERR_NOMEM;
		zip_source_close(src);
		goto out;
	}
	if (zip_source_read(src, buf, zs.size) != (zip_int64_t)zs.size) {
		zip_source_close(src);
		goto out;
	}
	zip_source_close(src);
	*out = buf;
	*out_len = (size_t)zs.size;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (file)
		zip_source_free(file);
	if (za)
		zip_discard(za);
	if (src)
		zip_source_free(src);
	zip_error_fini(&ze);
	return rc;
}

/* ---- the call ---- */

/* The log type whose next event has the smallest id: 0 and *type (-1 = none). On the way
 * each position moves up to just before its type's next event (or to hi when there is none
 * up to hi): the same events follow, but the next call seeks straight to them. Without it a
 * chain would step over the same events too old for the cutoff (mail is kept longer than the
 * 7 days of SIEM logs) on every call, and a file would cost more as the store grows. */
static int pick(struct store *st, int64_t account_id, struct siem_chain *c, int *type,
                struct err *e)
{
	int64_t best = 0, next;
	int rc;

	*type = -1;
	for (size_t i = 0; i < SIEM_NTYPES; i++) {
		rc = store_siem_next(st, account_id, siem_types[i], c->pos[i], c->hi, c->cutoff,
		                     &next, e);
		if (rc)
			return rc;
		if (next > c->pos[i] + 1)
			c->pos[i] = next - 1;
		else if (!next && c->hi > c->pos[i])
			c->pos[i] = c->hi;
		if (next && (!best || next < best)) {
			best = next;
			*type = (int)i;
		}
	}
	return 0;
}

/* "receipt_20211018093329655" from the first event's time (UTC). */
static void file_stem(const char *type, int64_t at, char *out, size_t size)
{
	char dt[TZ_DATETIME_SIZE];
	int ms = (int)(((at % 1000) + 1000) % 1000);

	tz_format(at, 0, dt); /* yyyy-MM-ddTHH:mm:ss+0000 */
	snprintf(out, size, "%s_%.4s%.2s%.2s%.2s%.2s%.2s%03d", type, dt, dt + 5, dt + 8, dt + 11,
	         dt + 14, dt + 17, ms);
}

struct request_item {
	enum file_format fmt;
	int compress;
	const char *token; /* NULL: none */
};

/* An error of one field: 1 once answered, or a negative error code. */
static int bad_field(struct response *res, json_t *item, const char *field, const char *message)
{
	int rc = invalid(res, item, "err_validation_invalid_value", field, message);

	return rc ? rc : 1;
}

/* Reads the item into it (0), or answers the error (1, or a negative error code). */
static int read_item(struct response *res, json_t *item, struct request_item *it)
{
	const char *s = NULL;
	int r;

	memset(it, 0, sizeof(*it));
	if (!item)
		return 0;
	r = json_get_string(item, "type", &s);
	if (r < 0 || (r > 0 && strcasecmp(s, "MTA") != 0))
		return bad_field(res, item, "type", "type must be MTA");
	r = json_get_string(item, "fileFormat", &s);
	if (r < 0 || (r > 0 && *s && strcasecmp(s, "json") != 0 && strcasecmp(s, "key_value") != 0))
		return bad_field(res, item, "fileFormat", "fileFormat must be json or key_value");
	it->fmt = r > 0 && !strcasecmp(s, "json") ? FMT_JSON : FMT_KEY_VALUE;
	r = json_get_bool(item, "compress", &it->compress);
	if (r < 0)
		return bad_field(res, item, "compress", "compress must be true or false");
	r = json_get_string(item, "token", &s);
	if (r < 0)
		return bad_field(res, item, "token",
		                 "token must be the mc-siem-token of an earlier answer");
	if (r > 0 && *s)
		it->token = s;
	return 0;
}

int api_siem_get_logs(struct request *req, struct response *res)
{
	struct server *srv = req->srv;
	struct store *st = srv->store;
	int64_t account_id = req->who.account.id, now = now_ms(), hi;
	json_t *item = json_array_size(req->data) ? json_array_get(req->data, 0) : NULL;
	struct request_item it;
	struct siem_chain c;
	struct file_ctx f;
	struct err e = {0};
	char *next = NULL, *zipped = NULL, stem[64], name[80], header[128];
	char *body = NULL;
	size_t len = 0;
	int rc, type;

	memset(&f, 0, sizeof(f));
	buf_init(&f.out, FILE_CAP);
	buf_init(&f.prefix, 256);
	rc = read_item(res, item, &it);
	if (rc)
		return rc < 0 ? rc : 0;
	memset(&c, 0, sizeof(c));
	if (it.token) {
		rc = siem_token_open(srv->siem_key, it.token, strlen(it.token), account_id, &c);
		if (rc == -2)
			return invalid(res, item, "err_validation_invalid_value", "token",
			               "the token belongs to another account");
		if (rc)
			return invalid(res, item, "err_validation_invalid_value", "token",
			               "the token is not one this service made, or it was changed");
	} else {
		if ((rc = store_siem_horizon(st, &c.hi, &e)) != 0)
			goto fail;
		c.cutoff = now - RETENTION_MS;
	}
	if ((rc = pick(st, account_id, &c, &type, &e)) != 0)
		goto fail;
	if (type < 0) {
		/* hi is used up: whatever was committed since */
		if ((rc = store_siem_horizon(st, &hi, &e)) != 0)
			goto fail;
		if (hi > c.hi || c.cutoff < now - RETENTION_MS) {
			struct siem_chain n = c;
			n.hi = hi > c.hi ? hi : c.hi;
			if (n.cutoff < now - RETENTION_MS)
				n.cutoff = now - RETENTION_MS;
			if ((rc = pick(st, account_id, &n, &type, &e)) != 0)
				goto fail;
			if (type >= 0 || !it.token)
				c = n;
		}
	}
	if (type < 0) {
		/* isLastToken, with the token as it came (a fresh start token if none did) */
		next = it.token ? strdup(it.token) : siem_token_make(srv->siem_key, account_id, &c);
		if (!next) {
			rc = MC_ERR_NOMEM;
			goto out;
		}
		response_header(res, "mc-siem-token", next);
		rc = envelope(res, 1);
		goto out;
	}

	f.fmt = it.fmt;
	f.acc = req->who.account.code;
	f.sec = INT64_MIN;
	tz_cursor_open(&f.tz, req->who.account.timezone); /* unknown zone: UTC */
	if (f.fmt == FMT_JSON && (rc = buf_adds(&f.out, "{\"type\":\"MTA\",\"data\":[")) != 0)
		goto out;
	rc = store_siem_read(st, account_id, siem_types[type], c.pos[type], c.hi, c.cutoff,
	                     (size_t)srv->cfg->siem_file_max_events, file_event, &f, &e);
	if (rc)
		goto fail;
	if (!f.n) {
		/* the retention purge took the events pick saw: nothing to name a file after */
		response_call_error(res, API_UNAVAILABLE, "the log changed while it was read");
		rc = 0;
		goto out;
	}
	if (f.fmt == FMT_JSON && (rc = buf_adds(&f.out, "]}")) != 0)
		goto out;
	c.pos[type] = f.last_id;
	next = siem_token_make(srv->siem_key, account_id, &c);
	if (!next) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	file_stem(siem_types[type], f.first_at, stem, sizeof(stem));
	snprintf(name, sizeof(name), "%s.%s", stem, f.fmt == FMT_JSON ? "json" : "log");
	body = buf_detach(&f.out, &len);
	if (!body) {
		rc = MC_ERR_NOMEM;
		goto out;
	}
	if (it.compress) {
		rc = zip_one(name, body, len, f.first_at, &zipped, &len);
		free(body);
		body = NULL;
		if (rc)
			goto out;
		snprintf(name, sizeof(name), "%s.zip", stem);
		response_set_file(res, zipped, len, "application/octet-stream");
		zipped = NULL;
	} else {
		response_set_file(res, body, len,
		                  f.fmt == FMT_JSON ? "application/json" : "text/plain");
		body = NULL;
	}
	response_header(res, "mc-siem-token", next);
	snprintf(header, sizeof(header), "attachment; filename=\"%s\"", name);
	response_header(res, "Content-Disposition", header);
	rc = 0;
	goto out;
fail:
	response_call_error(res, api_error_from_mc(rc), e.msg[0] ? e.msg : NULL);
	rc = 0;
out:
	tz_cursor_close(&f.tz);
	buf_release(&f.out);
	buf_release(&f.prefix);
	free(body);
	free(zipped);
	free(next);
	return rc;
}
