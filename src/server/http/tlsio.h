/* HTTPS for the connection layer (conn.h): an OpenSSL server context made from the PEM
 * certificate chain and key of tls_cert / tls_key (TLS 1.2 and 1.3 only, the server's cipher
 * order), and non-blocking handshake, read and write calls whose "would block" results the
 * connection layer maps to its epoll interest (it registers every socket for both directions,
 * edge-triggered, so either want is simply waited for). */
#ifndef MCAPI_SERVER_HTTP_TLSIO_H
#define MCAPI_SERVER_HTTP_TLSIO_H

#include <stddef.h>
#include <sys/types.h>

struct err;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

/* A server context from PEM text (the chain: the server certificate first). NULL + e when
 * the certificate or key does not parse or they do not match. Free with tlsio_ctx_free. */
SSL_CTX *tlsio_ctx_new(const char *cert_pem, const char *key_pem, struct err *e);
void tlsio_ctx_free(SSL_CTX *ctx);

/* A server session on socket fd, or NULL. Freed with tlsio_free. */
SSL *tlsio_new(SSL_CTX *ctx, int fd);
void tlsio_free(SSL *s);

enum { TLSIO_AGAIN = -1, TLSIO_FAIL = -2 };

/* 1: the handshake is complete; TLSIO_AGAIN: wait for the socket; TLSIO_FAIL. */
int tlsio_handshake(SSL *s);
/* Bytes read (> 0), 0 at the end of the stream, TLSIO_AGAIN or TLSIO_FAIL. */
ssize_t tlsio_read(SSL *s, void *buf, size_t n);
/* Bytes written (> 0), TLSIO_AGAIN or TLSIO_FAIL. */
ssize_t tlsio_write(SSL *s, const void *buf, size_t n);
/* Sends close_notify, best effort (the socket's write side is shut down after it). */
void tlsio_shutdown(SSL *s);

#endif
