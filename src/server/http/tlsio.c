/* OpenSSL for the connection layer; see tlsio.h. The error queue is cleared after each failed
 * call: it is per thread, and a worker serves many connections. */
#include "tlsio.h"

#include "common/err.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <string.h>

#include "common/banned.h"

SSL_CTX *tlsio_ctx_new(const char *cert_pem, const char *key_pem, struct err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *cb = NULL, *kb = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;

	if (!ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
	                                 SSL_OP_NO_COMPRESSION);
	/* a write may be retried with its buffer moved on (the connection's answer buffers) */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                              SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	cb = BIO_new_mem_buf(cert_pem, -1);
	kb = BIO_new_mem_buf(key_pem, -1);
	if (!cb || !kb)
		goto fail;
	if (!(x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) || SSL_CTX_use_certificate(ctx, x) != 1)
		goto fail;
	for (;;) { /* the rest of the chain */
		X509 *ca = PEM_read_bio_X509(cb, NULL, NULL, NULL);
		if (!ca)
			break;
		if (SSL_CTX_add_extra_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			goto fail;
		}
	}
	ERR_clear_error(); /* the end of the chain is a "no start line" error */
	if (!(k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) ||
	    SSL_CTX_use_PrivateKey(ctx, k) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return ctx;
fail:
	err_set(e, MC_ERR_CRYPTO, "cannot use the TLS certificate and key: %s",
	        ERR_reason_error_string(ERR_peek_last_error())
	                ? ERR_reason_error_string(ERR_peek_last_error())
	                : "unknown error");
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	SSL_CTX_free(ctx);
	return NULL;
}

void tlsio_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL *tlsio_new(SSL_CTX *ctx, int fd)
{
	SSL *s = SSL_new(ctx);

	if (s && SSL_set_fd(s, fd) != 1) {
		SSL_free(s);
		s = NULL;
	}
	if (s)
		SSL_set_accept_state(s);
	return s;
}

void tlsio_free(SSL *s)
{
	SSL_free(s);
}

static int map(SSL *s, int r)
{
	switch (SSL_get_error(s, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return TLSIO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		return TLSIO_FAIL;
	}
}

int tlsio_handshake(SSL *s)
{
	int r = SSL_do_handshake(s);
	int m;

	if (r == 1)
		return 1;
	m = map(s, r);
	return m == TLSIO_AGAIN ? TLSIO_AGAIN : TLSIO_FAIL;
}

ssize_t tlsio_read(SSL *s, void *buf, size_t n)
{
	int r = SSL_read(s, buf, n > INT_MAX ? INT_MAX : (int)n);

	return r > 0 ? r : map(s, r);
}

ssize_t tlsio_write(SSL *s, const void *buf, size_t n)
{
	int r = SSL_write(s, buf, n > INT_MAX ? INT_MAX : (int)n);
	int m;

	if (r > 0)
		return r;
	m = map(s, r);
	return m == TLSIO_AGAIN ? TLSIO_AGAIN : TLSIO_FAIL;
}

void tlsio_shutdown(SSL *s)
{
	if (SSL_shutdown(s) < 0)
		ERR_clear_error();
}
