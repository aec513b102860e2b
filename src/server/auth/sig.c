/* Signature parsing, signing and verification; see sig.h. */
#include "sig.h"

#include "common/b64.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"

#include <string.h>
#include <strings.h>

#include "common/banned.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct sig_slice trim(const char *p, size_t n)
{
	while (n && is_space(*p)) {
		p++;
		n--;
	}
	while (n && is_space(p[n - 1]))
		n--;
	return (struct sig_slice){p, n};
}

int sig_parse_authorization(const char *value, struct sig_slice *access_key, struct sig_slice *sig)
{
	const char *p = value, *colon;

	if (!value)
		return MC_ERR_INVALID;
	while (is_space(*p))
		p++;
	if (strncasecmp(p, "MC", 2) != 0 || !is_space(p[2]))
		return MC_ERR_INVALID;
	p += 3;
	colon = strchr(p, ':');
	if (!colon)
		return MC_ERR_INVALID;
	*access_key = trim(p, (size_t)(colon - p));
	*sig = trim(colon + 1, strlen(colon + 1));
	if (!access_key->n || !sig->n)
		return MC_ERR_INVALID;
	return 0;
}

static int sign_with(const struct hmac_sha1_key *hk, const char *date, const char *req_id,
                     const char *uri, size_t uri_len, const char *app_key,
                     char out[SIG_B64_LEN + 1])
{
	unsigned char mac[HMAC_SHA1_LEN];
	char stack[1024];
	struct buf b;
	const char *msg = stack;
	size_t dl = strlen(date), rl = strlen(req_id), kl = strlen(app_key);
	size_t n = dl + rl + uri_len + kl + 3;
	int rc;

	buf_init(&b, 65536);
	if (n < sizeof(stack)) {
		char *w = stack;
		memcpy(w, date, dl), w += dl, *w++ = ':';
		memcpy(w, req_id, rl), w += rl, *w++ = ':';
		memcpy(w, uri, uri_len), w += uri_len, *w++ = ':';
		memcpy(w, app_key, kl);
	} else {
		if ((rc = buf_add(&b, date, dl)) || (rc = buf_addc(&b, ':')) ||
		    (rc = buf_add(&b, req_id, rl)) || (rc = buf_addc(&b, ':')) ||
		    (rc = buf_add(&b, uri, uri_len)) || (rc = buf_addc(&b, ':')) ||
		    (rc = buf_add(&b, app_key, kl)))
			goto out;
		msg = b.data;
	}
	rc = hmac_sha1_with(hk, msg, n, mac);
	if (rc == 0)
		b64_encode(mac, sizeof(mac), out);
out:
	buf_release(&b);
	return rc;
}

int sig_sign(const unsigned char *secret, size_t secret_len, const char *date, const char *req_id,
             const char *uri, size_t uri_len, const char *app_key, char out[SIG_B64_LEN + 1])
{
	struct hmac_sha1_key hk;
	int rc = hmac_sha1_key_init(&hk, secret, secret_len);

	if (rc == 0)
		rc = sign_with(&hk, date, req_id, uri, uri_len, app_key, out);
	secure_zero(&hk, sizeof(hk));
	return rc;
}

static int match(const struct hmac_sha1_key *hk, const char *date, const char *req_id,
                 const char *uri, size_t uri_len, const char *app_key, struct sig_slice sig)
{
	char want[SIG_B64_LEN + 1];

	if (sign_with(hk, date, req_id, uri, uri_len, app_key, want) != 0)
		return 0;
	return ct_equal(want, SIG_B64_LEN, sig.p, sig.n);
}

int sig_verify(const unsigned char *secret, size_t secret_len, const char *date, const char *req_id,
               const char *path, const char *query, const char *app_key, struct sig_slice sig)
{
	struct hmac_sha1_key hk;
	int ok = hmac_sha1_key_init(&hk, secret, secret_len) == 0 &&
	         sig_verify_key(&hk, date, req_id, path, query, app_key, sig);

	secure_zero(&hk, sizeof(hk));
	return ok;
}

int sig_verify_key(const struct hmac_sha1_key *hk, const char *date, const char *req_id,
                   const char *path, const char *query, const char *app_key, struct sig_slice sig)
{
	int ok = match(hk, date, req_id, path, strlen(path), app_key, sig);

	if (query) {
		/* One Go client signs path?query; accept that form too. */
		struct buf b;
		buf_init(&b, 16384);
		if (buf_adds(&b, path) == 0 && buf_addc(&b, '?') == 0 && buf_adds(&b, query) == 0)
			ok |= match(hk, date, req_id, b.data, b.len, app_key, sig);
		buf_release(&b);
	}
	return ok;
}
