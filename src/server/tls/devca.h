/* The development certificate authority of `mcapid --dev`: a local CA (ECDSA P-256, ten
 * years) that the developer trusts once, and a server certificate it signs (397 days) for
 * the names the server answers to (localhost, loopback addresses, the Mimecast API hosts).
 * Both are kept in a directory as PEM files and reused while they are valid, so the trust
 * given to the CA survives restarts; only the server certificate is reissued when it nears
 * expiry or the names change. Certificates follow RFC 5280 strictly (key usages, SKI/AKI,
 * critical basic constraints), as OpenSSL's X509_STRICT, Python 3.13+, Go and Java demand. */
#ifndef MCAPI_SERVER_TLS_DEVCA_H
#define MCAPI_SERVER_TLS_DEVCA_H

#include <stddef.h>
#include <time.h>

struct err;

#define DEVCA_PATH_MAX  1024  /* capacity of each path in struct devca_paths */
#define DEVCA_NAMES_MAX 64    /* at most this many names per server certificate */
#define DEVCA_PEM_MAX   65536 /* devca_load_pem refuses larger files */

/* File names inside the directory given to devca_ensure. */
#define DEVCA_CA_CERT     "dev-ca.pem"     /* CA certificate, 0644: what clients trust */
#define DEVCA_CA_KEY      "dev-ca.key"     /* CA private key (PKCS#8 PEM), 0600 */
#define DEVCA_SERVER_CERT "dev-server.pem" /* server certificate then CA certificate, 0644 */
#define DEVCA_SERVER_KEY  "dev-server.key" /* server private key (PKCS#8 PEM), 0600 */

/* The public API host names of API.md §10: api.mimecast.com (discovery) and the regional
 * hosts eu-api, de-api, us-api, usb-api, ca-api, za-api, au-api, je-api .mimecast.com. */
#define DEVCA_MIMECAST_HOSTS 9
extern const char *const devca_mimecast_hosts[DEVCA_MIMECAST_HOSTS];

/* The loopback names: "localhost", "127.0.0.1", "::1". */
#define DEVCA_LOCAL_NAMES 3
extern const char *const devca_local_names[DEVCA_LOCAL_NAMES];

/* What devca_ensure leaves for its caller (a plain value: nothing to release). */
struct devca_paths {
	char ca_cert[DEVCA_PATH_MAX];     /* <dir>/dev-ca.pem */
	char ca_key[DEVCA_PATH_MAX];      /* <dir>/dev-ca.key */
	char server_cert[DEVCA_PATH_MAX]; /* <dir>/dev-server.pem: the chain to serve */
	char server_key[DEVCA_PATH_MAX];  /* <dir>/dev-server.key */
	int ca_created;     /* 1 if this call made a new CA: clients must be told to trust it */
	int server_created; /* 1 if this call issued a new server certificate */
};

/* Makes sure dir holds a valid development CA and a server certificate for names[0..nnames)
 * and fills out with the four paths. names are DNS names (ASCII, e.g. "localhost",
 * "eu-api.mimecast.com"; compared without regard to case) and IPv4/IPv6 literals
 * ("127.0.0.1", "::1"), which become dNSName and iPAddress subject alternative names.
 *
 * dir is created (mode 0700) if it does not exist; its parent must. The CA is kept if its
 * certificate parses, verifies as a self-signed CA, does not expire within 30 days and
 * matches its key; otherwise a new CA and a new server certificate are made. The server
 * certificate is kept if the chain file is exactly it followed by the CA certificate, it
 * verifies against the CA for TLS servers, does not expire within 30 days, matches its key
 * and covers every name (it may cover more); otherwise it is reissued with a new key for
 * exactly names. Files are replaced atomically (temporary file, fsync, rename), keys before
 * certificates, and an exclusive flock(2) on dir serialises concurrent callers.
 *
 * Returns 0; MC_ERR_INVALID if a name is malformed, nnames is 0 or above DEVCA_NAMES_MAX, a
 * key file is accessible by group or others (the message says to chmod 600 it), or a file is
 * not a regular file (symbolic links are not followed); MC_ERR_TOO_LARGE if a path does not
 * fit DEVCA_PATH_MAX or a file exceeds DEVCA_PEM_MAX; MC_ERR_IO, MC_ERR_NOMEM or
 * MC_ERR_CRYPTO otherwise. The message in e names the file or name at fault. Files that
 * are missing or do not parse are not errors: they are made anew. */
int devca_ensure(const char *dir, const char *const *names, size_t nnames, struct devca_paths *out,
                 struct err *e);

/* devca_ensure as if the clock read now (seconds since the epoch): for tests of expiry. */
int devca_ensure_at(const char *dir, const char *const *names, size_t nnames, time_t now,
                    struct devca_paths *out, struct err *e);

/* Reads the PEM file at path (a regular file, through symbolic links: operators' files, such
 * as an ACME client's, often are; at most DEVCA_PEM_MAX bytes, no NUL byte) into *pem,
 * NUL-terminated as the front's TLS layer wants (tlsio_ctx_new), and sets *len (may
 * be NULL) to its length. The caller owns *pem and releases it with devca_pem_free (which wipes it:
 * it may hold a key), once the TLS context is made. Returns 0, MC_ERR_NOT_FOUND,
 * MC_ERR_INVALID, MC_ERR_TOO_LARGE, MC_ERR_IO or MC_ERR_NOMEM; on error *pem is NULL. */
int devca_load_pem(const char *path, char **pem, size_t *len, struct err *e);

/* Wipes and frees a string from devca_load_pem; NULL is allowed. */
void devca_pem_free(char *pem);

#endif
