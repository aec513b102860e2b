/* get-siem-logs tokens and the splice of stored events (siem_token.h). */
#include "siem_token.h"

#include "common/seal.h"

#include <jansson.h>
#include <string.h>

#include "common/banned.h"

#define SIEM_TOKEN_VERSION 1

const char *const siem_types[SIEM_NTYPES] = {"receipt", "process", "delivery", "av",  "spam",
                                             "ttp_ap",  "ttp_ip",  "ttp_url",  "jrnl"};

char *siem_token_make(const unsigned char key[32], int64_t account_id, const struct siem_chain *c)
{
	json_t *p = json_array(), *o;
	char *tok;

	for (size_t i = 0; p && i < SIEM_NTYPES; i++)
		json_array_append_new(p, json_integer(c->pos[i]));
	o = p ? json_pack("{s:i, s:I, s:I, s:I, s:o}", "v", SIEM_TOKEN_VERSION, "a",
	                  (json_int_t)account_id, "h", (json_int_t)c->hi, "c",
	                  (json_int_t)c->cutoff, "p", p)
	      : NULL;
	tok = o ? seal_json(key, o, SIEM_TOKEN_MAKE) : NULL;
	json_decref(o);
	return tok;
}

static int int_member(json_t *o, const char *key, int64_t *v)
{
	json_t *m = json_object_get(o, key);

	if (!json_is_integer(m))
		return -1;
	*v = json_integer_value(m);
	return 0;
}

int siem_token_open(const unsigned char key[32], const char *token, size_t len, int64_t account_id,
                    struct siem_chain *c)
{
	json_t *o = NULL, *p;
	int64_t v = 0, a = 0;
	int rc = -1;

	if (seal_open_json(key, token, len, SIEM_TOKEN_MAX, &o) != 0)
		return -1;
	p = json_object_get(o, "p");
	if (!json_is_object(o) || int_member(o, "v", &v) || v != SIEM_TOKEN_VERSION ||
	    int_member(o, "a", &a) || int_member(o, "h", &c->hi) ||
	    int_member(o, "c", &c->cutoff) || !json_is_array(p) ||
	    json_array_size(p) != SIEM_NTYPES || c->hi < 0)
		goto out;
	for (size_t i = 0; i < SIEM_NTYPES; i++) {
		json_t *x = json_array_get(p, i);
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > c->hi)
			goto out;
		c->pos[i] = json_integer_value(x);
	}
	rc = a == account_id ? 0 : -2;
out:
	json_decref(o);
	return rc;
}

/* Skips a JSON string at p (at its opening quote); NULL if it does not end before end. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* The delivery events keep acc and at in their stored text: the file's own come first. */
const char *siem_members(const char *data, size_t len, const char **end_out)
{
	const char *p = data, *end = data + len;

	while (p < end && *p != '{')
		p++;
	if (p < end)
		p++;
	*end_out = end;
	for (;;) {
		const char *k = p, *q;
		size_t kl;
		if (p >= end || *p != '"' || !(q = skip_string(p, end)))
			return p;
		kl = (size_t)(q - k);
		if (!((kl == 5 && !memcmp(k, "\"acc\"", 5)) ||
		      (kl == 4 && !memcmp(k, "\"at\"", 4)) ||
		      (kl == 10 && !memcmp(k, "\"datetime\"", 10))))
			return p;
		if (q >= end || *q != ':')
			return p;
		q++;
		if (q < end && *q == '"') {
			q = skip_string(q, end);
			if (!q)
				return p;
		} else {
			while (q < end && *q != ',' && *q != '}' && *q != '{' && *q != '[')
				q++;
			if (q >= end || *q == '{' || *q == '[')
				return p;
		}
		if (*q == ',')
			q++;
		p = q;
	}
}
