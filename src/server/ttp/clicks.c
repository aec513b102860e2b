/* Click tokens and the click logger; see clicks.h. */
#include "clicks.h"

#include "common/date.h"
#include "common/err.h"
#include "common/log.h"
#include "common/seal.h"
#include "server/config.h"
#include "server/server.h"
#include "server/store/store.h"
#include "server/store/store_urls.h"
#include "server/ttp/urlcheck.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/banned.h"

#define QUEUE_MAX   65536 /* clicks waiting; beyond, a click is answered 503 at once */
#define MSG_CACHE   1024  /* messages remembered (their logged fields never change) */
#define HOSTS_BATCH 64    /* (account, host) managed-URL lists kept for one batch */

/* ---- tokens ---- */

char *click_token_make(const unsigned char key[32], const struct click_token *t)
{
	json_t *o;
	char *tok;

	/* short keys: every byte is in every link of every message */
	if (t->account_id > 0)
		o = json_pack("{s:s, s:s, s:I, s:I, s:s}", "u", t->url, "a", t->acode, "c",
		              (json_int_t)t->account_id, "m", (json_int_t)t->message_id, "r",
		              t->rcpt);
	else
		o = json_pack("{s:s, s:s}", "u", t->url, "a", t->acode);
	if (o && t->test_malicious)
		json_object_set_new(o, "x", json_integer(1));
	tok = o ? seal_json(key, o, CLICK_TOKEN_MAX) : NULL;
	json_decref(o);
	return tok;
}

int click_token_open(const unsigned char key[32], const char *token, size_t len,
                     struct click_token *out)
{
	json_t *o = NULL, *c, *m, *r, *x;
	const char *u = NULL, *a = NULL;
	int rc;

	/* not a memset of the whole: it is large (the URL), and every click opens one */
	out->url[0] = out->acode[0] = out->rcpt[0] = '\0';
	out->account_id = out->message_id = 0;
	out->test_malicious = 0;
	if ((rc = seal_open_json(key, token, len, CLICK_TOKEN_MAX, &o)) != 0)
		return MC_ERR_INVALID;
	rc = MC_ERR_INVALID;
	if (!json_is_object(o) || json_unpack(o, "{s:s, s:s}", "u", &u, "a", &a) != 0 ||
	    strlen(u) >= sizeof(out->url) || strlen(a) >= sizeof(out->acode))
		goto out;
	c = json_object_get(o, "c");
	m = json_object_get(o, "m");
	r = json_object_get(o, "r");
	x = json_object_get(o, "x");
	if (c || m || r) { /* the current form: all three */
		if (!json_is_integer(c) || !json_is_integer(m) || !json_is_string(r) ||
		    json_integer_value(c) <= 0 || json_integer_value(m) <= 0 ||
		    strlen(json_string_value(r)) >= sizeof(out->rcpt))
			goto out;
		out->account_id = json_integer_value(c);
		out->message_id = json_integer_value(m);
		snprintf(out->rcpt, sizeof(out->rcpt), "%s", json_string_value(r));
	}
	out->test_malicious = json_is_integer(x) && json_integer_value(x) == 1;
	snprintf(out->url, sizeof(out->url), "%s", u);
	snprintf(out->acode, sizeof(out->acode), "%s", a);
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int click_path_open(const unsigned char key[32], const char *path, struct click_token *out)
{
	size_t n;

	if (strncmp(path, "/s/", 3) != 0)
		return MC_ERR_INVALID;
	path += 3;
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--; /* "/s/<token>/": some mail clients add one */
	for (size_t i = 0; i < n; i++) {
		char ch = path[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return MC_ERR_INVALID; /* base64url only */
	}
	return n ? click_token_open(key, path, n, out) : MC_ERR_INVALID;
}

/* ---- the logger ---- */

struct msg_entry {
	int64_t account_id, id; /* 0 = empty */
	int found;              /* 0: the message is gone (retention) */
	int32_t route;
	char msg_id[MAIL_MSGID_SIZE];
	char env_from[MAIL_ADDR_SIZE];
	char subject[MAIL_SUBJECT_SIZE];
	char client_ip[64];
};

struct host_list {
	int64_t account_id;
	char host[MURL_DOMAIN_SIZE];
	struct managed_url *v;
	int n, cap;
};

struct clicks {
	struct server *srv;
	struct urllist *malicious;
	struct batcher *b;
	struct msg_entry *cache; /* MSG_CACHE, direct-mapped by message id */
	struct host_list hosts[HOSTS_BATCH];
	int nhosts;
	struct click_event *ev; /* cfg->click_batch */
	char **json;
};

static const char *route_name(int32_t r)
{
	return r == MAIL_OUTBOUND ? "Outbound" : r == MAIL_INTERNAL ? "Internal" : "Inbound";
}

/* Replaces each byte of s that does not start a well-formed UTF-8 sequence by '?': a message's
 * subject may hold anything, and one line jansson cannot encode must not fail the batch. */
static void utf8_clean(char *s)
{
	unsigned char *u = (unsigned char *)s;

	while (*u) {
		unsigned c = *u, min, cp;
		int k;
		if (c < 0x80) {
			u++;
			continue;
		}
		k = c >= 0xf0 && c <= 0xf4   ? 3
		    : c >= 0xe0 && c <= 0xef ? 2
		    : c >= 0xc2 && c <= 0xdf ? 1
		                             : -1;
		min = k == 3 ? 0x10000 : k == 2 ? 0x800 : 0x80;
		cp = k == 3 ? c & 7 : k == 2 ? c & 15 : c & 31;
		for (int i = 1; k > 0 && i <= k; i++) {
			if ((u[i] & 0xc0) != 0x80) {
				k = -1;
				break;
			}
			cp = cp << 6 | (u[i] & 0x3f);
		}
		if (k < 0 || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*u++ = '?';
			continue;
		}
		u += k + 1;
	}
}

static int msg_lookup(struct clicks *cl, int64_t account_id, int64_t id,
                      const struct msg_entry **out, struct err *e)
{
	struct msg_entry *m = &cl->cache[(uint64_t)id % MSG_CACHE];
	struct message msg;
	int rc;

	if (m->id == id && m->account_id == account_id) {
		*out = m;
		return 0;
	}
	rc = store_message_get(cl->srv->store, account_id, id, &msg, e);
	if (rc && rc != MC_ERR_NOT_FOUND)
		return rc;
	memset(m, 0, sizeof(*m));
	m->account_id = account_id;
	m->id = id;
	if (rc == 0) {
		m->found = 1;
		m->route = msg.route;
		memcpy(m->msg_id, msg.msg_id, sizeof(m->msg_id));
		memcpy(m->env_from, msg.env_from, sizeof(m->env_from));
		memcpy(m->subject, msg.subject, sizeof(m->subject));
		memcpy(m->client_ip, msg.client_ip, sizeof(m->client_ip));
		utf8_clean(m->msg_id);
		utf8_clean(m->env_from);
		utf8_clean(m->subject);
		utf8_clean(m->client_ip);
		message_release(&msg);
	}
	*out = m;
	return 0;
}

static int host_add(void *arg, const struct managed_url *u)
{
	struct host_list *h = arg;

	if (h->n == h->cap) {
		int cap = h->cap ? h->cap * 2 : 4;
		struct managed_url *g = realloc(h->v, (size_t)cap * sizeof(*g));
		if (!g)
			return MC_ERR_NOMEM;
		h->v = g;
		h->cap = cap;
	}
	h->v[h->n++] = *u;
	return 0;
}

static void hosts_reset(struct clicks *cl)
{
	for (int i = 0; i < cl->nhosts; i++) {
		free(cl->hosts[i].v);
		memset(&cl->hosts[i], 0, sizeof(cl->hosts[i]));
	}
	cl->nhosts = 0;
}

/* The managed URLs that can match a URL on host, read once per batch. */
static int host_lookup(struct clicks *cl, int64_t account_id, const char *host,
                       struct host_list *tmp, const struct host_list **out, struct err *e)
{
	struct host_list *h;
	int rc;

	for (int i = 0; i < cl->nhosts; i++)
		if (cl->hosts[i].account_id == account_id && !strcmp(cl->hosts[i].host, host)) {
			*out = &cl->hosts[i];
			return 0;
		}
	h = cl->nhosts < HOSTS_BATCH ? &cl->hosts[cl->nhosts] : tmp;
	memset(h, 0, sizeof(*h));
	h->account_id = account_id;
	snprintf(h->host, sizeof(h->host), "%s", host);
	rc = store_murl_for_host(cl->srv->store, account_id, host, host_add, h, e);
	if (rc) {
		free(h->v);
		memset(h, 0, sizeof(*h));
		return rc == MC_ERR_NOMEM ? err_set(e, rc, "out of memory") : rc;
	}
	if (h != tmp)
		cl->nhosts++;
	*out = h;
	return 0;
}

/* Decides c; fills *json with its event (malloc'd) when it is to be logged. */
static int decide(struct clicks *cl, struct click *c, char **json, struct err *e)
{
	struct url_parts u;
	const struct msg_entry *m = NULL;
	const struct host_list *hl = NULL;
	struct host_list tmp = {0};
	const struct managed_url *mu = NULL;
	int parsed, malicious = 0, rc = 0, idx;
	const char *category, *info;

	*json = NULL;
	c->action = CLICK_ALLOW;
	c->reason = "";
	parsed = url_parse(c->t.url, strlen(c->t.url), 1, &u) == 0;
	if (parsed && c->t.account_id > 0) {
		if ((rc = host_lookup(cl, c->t.account_id, u.host, &tmp, &hl, e)) != 0)
			return rc;
		idx = urlcheck_managed(hl->v, hl->n, &u);
		if (idx >= 0)
			mu = &hl->v[idx];
	}
	if (!mu || mu->action != MURL_PERMIT) /* a permitted URL is not scanned */
		malicious = c->t.test_malicious || (parsed && urllist_match(cl->malicious, &u));
	if (mu && mu->action == MURL_PERMIT) {
		category = "Allowed";
		info = "Managed URL Entry";
		c->reason = "managed";
	} else if (mu) {
		c->action = CLICK_BLOCK;
		category = "Blocked";
		info = "Managed URL Entry";
		c->reason = "managed";
	} else if (malicious) {
		c->action = CLICK_BLOCK;
		category = "Phishing & Fraud";
		info = "Blocked URL Category";
		c->reason = "malicious";
	} else {
		category = "Uncategorized";
		info = "Clean";
	}
	if (c->t.account_id > 0 && !(mu && mu->disable_log_click)) {
		json_t *o;
		if ((rc = msg_lookup(cl, c->t.account_id, c->t.message_id, &m, e)) != 0)
			goto out;
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		              "aCode", c->t.acode, "MsgId", m->msg_id, "Sender", m->env_from,
		              "Recipient", c->t.rcpt, "Route", route_name(m->route), "Subject",
		              m->subject, "URL", c->t.url, "UrlCategory", category, "ScanResult",
		              malicious ? "malicious" : "clean", "ScanResultInfo", info, "Action",
		              c->action == CLICK_BLOCK ? "block" : "allow", "SourceIP",
		              m->client_ip);
		*json = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!*json)
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
	}
out:
	free(tmp.v);
	return rc;
}

static int commit_once(struct clicks *cl, struct batch_item **items, int n, struct err *e);

/* A busy store (another writer held the lock past the busy timeout) gets the batch once more
 * before its clicks are answered 503. */
static int commit(void *arg, struct batch_item **items, int n)
{
	struct clicks *cl = arg;
	struct err e = {0};
	int rc = commit_once(cl, items, n, &e);

	if (rc == MC_ERR_UNAVAILABLE) {
		memset(&e, 0, sizeof(e));
		rc = commit_once(cl, items, n, &e);
	}
	if (rc) {
		char q[400];

		log_warn("msg=\"cannot log clicks\" clicks=%d error=%s", n,
		         log_quote(e.msg[0] ? e.msg : err_name(rc), q, sizeof(q)));
	}
	return rc;
}

static int commit_once(struct clicks *cl, struct batch_item **items, int n, struct err *ep)
{
	struct store *st = cl->srv->store;
	struct err e = {0};
	int nev = 0, began, rc;

	rc = store_tx_begin(st, &e);
	began = rc == 0;
	for (int i = 0; !rc && i < n; i++) {
		struct click *c = (struct click *)items[i];
		char *json = NULL;
		c->logged = 0;
		if ((rc = decide(cl, c, &json, &e)) != 0)
			break;
		if (json) {
			cl->json[nev] = json;
			cl->ev[nev] =
			        (struct click_event){c->t.account_id, c->t.message_id, c->at, json};
			c->logged = 1;
			nev++;
		}
	}
	if (!rc)
		rc = store_click_events_add(st, cl->ev, nev, &e);
	if (!rc && (rc = store_tx_commit(st, &e)) != 0)
		store_tx_rollback(st); /* safe whatever the commit left */
	else if (rc && began)
		store_tx_rollback(st);
	for (int i = 0; i < nev; i++)
		free(cl->json[i]);
	hosts_reset(cl);
	if (rc) {
		*ep = e;
		for (int i = 0; i < n; i++)
			((struct click *)items[i])->logged = 0;
	}
	return rc;
}

static void item_done(struct batch_item *it)
{
	struct click *c = (struct click *)it;
	c->done(c);
}

struct clicks *clicks_start(struct server *srv, struct err *e)
{
	struct clicks *cl = calloc(1, sizeof(*cl));
	int batch = srv->cfg->click_batch > 0 ? srv->cfg->click_batch : 1024;

	if (!cl || !(cl->cache = calloc(MSG_CACHE, sizeof(*cl->cache))) ||
	    !(cl->ev = calloc((size_t)batch, sizeof(*cl->ev))) ||
	    !(cl->json = calloc((size_t)batch, sizeof(*cl->json)))) {
		err_set(e, MC_ERR_NOMEM, "out of memory");
		goto fail;
	}
	cl->srv = srv;
	if (urllist_load(srv->cfg->malicious_urls, &cl->malicious, e) != 0)
		goto fail;
	if (!(cl->b = batcher_start(commit, cl, batch, QUEUE_MAX, e)))
		goto fail;
	return cl;
fail:
	if (cl) {
		urllist_free(cl->malicious);
		free(cl->cache);
		free(cl->ev);
		free(cl->json);
		free(cl);
	}
	return NULL;
}

int clicks_submit(struct clicks *cl, struct click *c)
{
	c->item.done = item_done;
	return batcher_submit(cl->b, &c->item);
}

void clicks_stats(struct clicks *cl, long long *batches, long long *clicks)
{
	batcher_stats(cl->b, batches, clicks);
}

void clicks_stop(struct clicks *cl)
{
	if (!cl)
		return;
	batcher_stop(cl->b);
	hosts_reset(cl);
	urllist_free(cl->malicious);
	free(cl->cache);
	free(cl->ev);
	free(cl->json);
	free(cl);
}
