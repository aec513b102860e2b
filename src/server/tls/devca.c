/* The development CA and server certificate; see devca.h. OpenSSL 3 (libcrypto) makes the
 * keys and certificates and judges the files found: a file is kept only if it would pass a
 * strict verification as it is, and a kept file is never rewritten, so the CA a developer
 * trusted stays byte for byte the same. New files go through file_write_atomic. */
#include "devca.h"

#include "common/crypto.h"
#include "common/err.h"
#include "common/file.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

#define DAY          86400L
#define RENEW_BEFORE (30 * DAY) /* a certificate this close to its end is replaced */
#define CA_DAYS      3652       /* ten years */
#define SERVER_DAYS  397        /* the most some clients (Apple's) accept */
#define BACKDATE     3600L      /* notBefore an hour back, for clients whose clock lags */
#define CN_MAX       64         /* ub-common-name of RFC 5280 */
#define DNS_MAX      253

const char *const devca_mimecast_hosts[DEVCA_MIMECAST_HOSTS] = {
        "api.mimecast.com",    "eu-api.mimecast.com",  "de-api.mimecast.com",
        "us-api.mimecast.com", "usb-api.mimecast.com", "ca-api.mimecast.com",
        "za-api.mimecast.com", "au-api.mimecast.com",  "je-api.mimecast.com",
};

const char *const devca_local_names[DEVCA_LOCAL_NAMES] = {"localhost", "127.0.0.1", "::1"};

/* Records the last OpenSSL error under what, and empties OpenSSL's error queue. */
static int ossl_fail(struct err *e, const char *what)
{
	char why[160] = "unknown error";
	unsigned long code = ERR_peek_last_error();

	if (code)
		ERR_error_string_n(code, why, sizeof(why));
	ERR_clear_error();
	return err_set(e, MC_ERR_CRYPTO, "%s: %s", what, why);
}

/* Never prompt for a pass phrase: an encrypted key is one this module did not write. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* ---- names ---- */

/* Copies name lower-cased into low (DNS_MAX + 1 bytes) if it is a host name: dot-separated
 * labels of 1 to 63 letters, digits, '-' or '_' (no wildcards), at most DNS_MAX bytes, the
 * last label not all digits (so "1.2.3" or "256.0.0.1" is a typo, not a host). */
static int dns_name_ok(const char *name, char *low)
{
	size_t len = strlen(name), label = 0;
	int digits_only = 1;

	if (len == 0 || len > DNS_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63)
				return 0;
			if (c == '\0' && digits_only)
				return 0;
			label = 0;
			digits_only = 1;
			low[i] = c;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (!(c >= '0' && c <= '9'))
			digits_only = 0;
		label++;
		low[i] = c;
	}
	return 1;
}

/* Makes the subject alternative names for names[0..n): IP literals as iPAddress, the rest
 * as dNSName, duplicates dropped. The caller owns *out. */
static int make_san(const char *const *names, size_t n, GENERAL_NAMES **out, struct err *e)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = NULL;
	int rc;

	*out = NULL;
	if (!gens)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];
		ASN1_OCTET_STRING *ip;
		int dup = 0;

		if (!name) {
			rc = err_set(e, MC_ERR_INVALID, "no name given for the server certificate");
			goto out;
		}
		gn = GENERAL_NAME_new();
		if (!gn) {
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			goto out;
		}
		ip = a2i_IPADDRESS(name);
		ERR_clear_error();
		if (ip) {
			GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
		} else {
			char low[DNS_MAX + 1];
			ASN1_IA5STRING *s;

			if (!dns_name_ok(name, low)) {
				rc = err_set(e, MC_ERR_INVALID,
				             "'%.100s' is neither a host name nor an IP address",
				             name);
				goto out;
			}
			s = ASN1_IA5STRING_new();
			if (!s || !ASN1_STRING_set(s, low, (int)strlen(low))) {
				ASN1_IA5STRING_free(s);
				rc = err_set(e, MC_ERR_NOMEM, "out of memory");
				goto out;
			}
			GENERAL_NAME_set0_value(gn, GEN_DNS, s);
		}
		for (int j = 0; j < sk_GENERAL_NAME_num(gens) && !dup; j++)
			dup = GENERAL_NAME_cmp(gn, sk_GENERAL_NAME_value(gens, j)) == 0;
		if (dup) {
			GENERAL_NAME_free(gn);
		} else if (!sk_GENERAL_NAME_push(gens, gn)) {
			rc = err_set(e, MC_ERR_NOMEM, "out of memory");
			goto out;
		}
		gn = NULL;
	}
	*out = gens;
	gens = NULL;
	rc = 0;
out:
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* 1 if cert's subject alternative names cover every one of names (already validated). */
static int covers(X509 *cert, const char *const *names, size_t n)
{
	const unsigned flags = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS;

	for (size_t i = 0; i < n; i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(names[i]);
		int ok;

		if (ip)
			ok = X509_check_ip_asc(cert, names[i], 0) == 1;
		else
			ok = X509_check_host(cert, names[i], 0, flags, NULL) == 1;
		ASN1_OCTET_STRING_free(ip);
		ERR_clear_error();
		if (!ok)
			return 0;
	}
	return 1;
}

/* ---- files ---- */

/* Reads the regular file at path (symbolic links refused) into a NUL-terminated *data of
 * *len bytes. secret = 1 refuses a file that group or others may access. Returns 0,
 * MC_ERR_NOT_FOUND (no message), MC_ERR_INVALID, MC_ERR_TOO_LARGE, MC_ERR_IO or
 * MC_ERR_NOMEM. */
/* follow: also through a symbolic link (the operator's own files: certificates of an ACME
 * client are links); the files devca writes itself are never followed. */
static int read_file(const char *path, int secret, int follow, char **data, size_t *len,
                     struct err *e)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW) | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return MC_ERR_NOT_FOUND;
	if (fd < 0 && errno == ELOOP)
		return err_set(e, MC_ERR_INVALID, "'%s' is a symbolic link", path);
	if (fd < 0)
		return err_set(e, MC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0) {
		rc = err_set(e, MC_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = err_set(e, MC_ERR_INVALID, "'%s' is not a regular file", path);
		goto out;
	}
	if (secret && (sb.st_mode & 077)) {
		rc = err_set(e, MC_ERR_INVALID,
		             "key file '%s' is accessible by group or others (mode %04o); "
		             "run chmod 600 on it",
		             path, (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	buf = malloc(DEVCA_PEM_MAX + 2);
	if (!buf) {
		rc = err_set(e, MC_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (got <= DEVCA_PEM_MAX) {
		ssize_t r = read(fd, buf + got, DEVCA_PEM_MAX + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(e, MC_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got > DEVCA_PEM_MAX) {
		rc = err_set(e, MC_ERR_TOO_LARGE, "'%s' is larger than %d bytes", path,
		             DEVCA_PEM_MAX);
		goto out;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
	rc = 0;
out:
	if (buf) {
		secure_zero(buf, DEVCA_PEM_MAX + 2);
		free(buf);
	}
	close(fd);
	return rc;
}

static void wipe_free(char *data, size_t len)
{
	if (data) {
		secure_zero(data, len);
		free(data);
	}
}

/* The PEM text of c1, then c2 (if not NULL), or of key (if not NULL) in a memory BIO; key
 * material goes to a BIO that wipes its buffer when freed. NULL on failure. */
static BIO *pem_of(X509 *c1, X509 *c2, EVP_PKEY *key)
{
	BIO *b = BIO_new(key ? BIO_s_secmem() : BIO_s_mem());
	int ok;

	if (!b)
		return NULL;
	if (key)
		ok = PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1;
	else
		ok = PEM_write_bio_X509(b, c1) == 1 && (!c2 || PEM_write_bio_X509(b, c2) == 1);
	if (!ok) {
		BIO_free(b);
		return NULL;
	}
	return b;
}

/* Writes the PEM of c1[, c2] or of key to path atomically: 0644 for certificates, 0600 for
 * a key. */
static int write_pem(const char *path, X509 *c1, X509 *c2, EVP_PKEY *key, struct err *e)
{
	BIO *b = pem_of(c1, c2, key);
	char *data = NULL;
	long n;
	int rc;

	if (!b)
		return ossl_fail(e, "cannot encode PEM");
	n = BIO_get_mem_data(b, &data);
	if (n <= 0 || !data)
		rc = ossl_fail(e, "cannot encode PEM");
	else
		rc = file_write_atomic(path, data, (size_t)n, key ? 0600 : 0644, 1, e);
	BIO_free(b);
	return rc;
}

/* Loads the key at path into *key; *key stays NULL if the file is missing or does not
 * parse (the caller makes a new one). Errors as read_file, except MC_ERR_NOT_FOUND. */
static int load_key(const char *path, EVP_PKEY **key, struct err *e)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *b;
	int rc;

	*key = NULL;
	rc = read_file(path, 1, 0, &pem, &len, e);
	if (rc == MC_ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc;
	b = BIO_new_mem_buf(pem, (int)len);
	if (b)
		*key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	ERR_clear_error();
	wipe_free(pem, len);
	return 0;
}

/* Loads the first certificate of path into *cert (NULL when missing or not parsed) and, if
 * raw is not NULL, the file's bytes into *raw (the caller frees them; NULL if missing). A
 * missing file is not an error. */
static int load_cert(const char *path, X509 **cert, char **raw, size_t *raw_len, struct err *e)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *b;
	int rc;

	*cert = NULL;
	rc = read_file(path, 0, 0, &pem, &len, e);
	if (rc == MC_ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc;
	b = BIO_new_mem_buf(pem, (int)len);
	if (b)
		*cert = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	ERR_clear_error();
	if (raw) {
		*raw = pem;
		*raw_len = len;
	} else {
		free(pem);
	}
	return 0;
}

/* ---- checks ---- */

/* 1 if cert verifies against the trust anchor ca at time now, with OpenSSL's strict RFC 5280
 * checks (and the CA's own signature); purpose 0 checks no purpose. */
static int verifies(X509 *ca, X509 *cert, int purpose, time_t now)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = 0;

	if (st && ctx && X509_STORE_add_cert(st, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, st, cert, NULL) == 1) {
		X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);

		X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_X509_STRICT |
		                                       X509_V_FLAG_CHECK_SS_SIGNATURE);
		X509_VERIFY_PARAM_set_time(p, now);
		if (purpose == 0 || X509_STORE_CTX_set_purpose(ctx, purpose) == 1)
			ok = X509_verify_cert(ctx) == 1;
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return ok;
}

/* 1 if cert is still valid RENEW_BEFORE after now. */
static int lasts(X509 *cert, time_t now)
{
	time_t limit = now + RENEW_BEFORE;

	return X509_cmp_time(X509_get0_notAfter(cert), &limit) > 0;
}

static int ca_usable(X509 *ca, EVP_PKEY *key, time_t now)
{
	int ok = X509_check_private_key(ca, key) == 1 && X509_check_ca(ca) == 1 &&
	         (X509_get_extension_flags(ca) & EXFLAG_KUSAGE) &&
	         (X509_get_key_usage(ca) & KU_KEY_CERT_SIGN) && X509_get0_subject_key_id(ca) &&
	         verifies(ca, ca, 0, now) && lasts(ca, now);

	ERR_clear_error();
	return ok;
}

/* 1 if the chain file (raw) is exactly leaf then ca, leaf matches key, verifies against ca
 * for a TLS server, lasts and covers names. */
static int server_usable(X509 *leaf, const char *raw, size_t raw_len, EVP_PKEY *key, X509 *ca,
                         const char *const *names, size_t nnames, time_t now)
{
	BIO *b = pem_of(leaf, ca, NULL);
	char *want = NULL;
	long n = b ? BIO_get_mem_data(b, &want) : 0;
	int ok = n > 0 && (size_t)n == raw_len && memcmp(want, raw, raw_len) == 0 &&
	         X509_check_private_key(leaf, key) == 1 &&
	         verifies(ca, leaf, X509_PURPOSE_SSL_SERVER, now) && lasts(leaf, now) &&
	         covers(leaf, names, nnames);

	BIO_free(b);
	ERR_clear_error();
	return ok;
}

/* ---- issuing ---- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* A version 3 certificate for key with a random 128-bit serial, subject O=mcapi development,
 * CN=cn, valid from an hour before now for days days; NULL on failure. */
static X509 *cert_start(EVP_PKEY *key, const char *cn, time_t now, int days)
{
	X509 *x = X509_new();
	BIGNUM *bn = BN_new();
	X509_NAME *name;
	int ok = x && bn && X509_set_version(x, X509_VERSION_3) == 1;

	/* the top bit set: never zero, always 16 bytes (17 in DER, within RFC 5280's 20) */
	ok = ok && BN_rand(bn, 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
	     X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE, &now) &&
	     X509_time_adj_ex(X509_getm_notAfter(x), days, -BACKDATE, &now);
	if (ok) {
		name = X509_get_subject_name(x);
		ok = X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
		                                (const unsigned char *)"mcapi development", -1, -1,
		                                0) == 1 &&
		     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		                                (const unsigned char *)cn, -1, -1, 0) == 1 &&
		     X509_set_pubkey(x, key) == 1;
	}
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static EVP_PKEY *new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* "mcapi development CA (<host name>)", the host name cut and tamed to fit CN_MAX. */
static void ca_common_name(char *cn, size_t size)
{
	const int room = CN_MAX - (int)strlen("mcapi development CA ()");
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (char *c = host; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_'))
			*c = '-';
	snprintf(cn, size, "mcapi development CA (%.*s)", room, host);
}

static int make_ca(time_t now, X509 **ca, EVP_PKEY **key, struct err *e)
{
	char cn[CN_MAX + 1];
	X509 *x = NULL;
	EVP_PKEY *k = new_key();

	ca_common_name(cn, sizeof(cn));
	if (!k || !(x = cert_start(k, cn, now, CA_DAYS)) ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    !add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(x, x, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, x, NID_authority_key_identifier, "keyid:always") ||
	    X509_sign(x, k, EVP_sha256()) <= 0) {
		X509_free(x);
		EVP_PKEY_free(k);
		return ossl_fail(e, "cannot make the development CA");
	}
	*ca = x;
	*key = k;
	return 0;
}

static int make_server(X509 *ca, EVP_PKEY *ca_key, GENERAL_NAMES *san, const char *first,
                       time_t now, X509 **cert, EVP_PKEY **key, struct err *e)
{
	const char *cn = strlen(first) <= CN_MAX ? first : "mcapi development server";
	X509 *x = NULL;
	EVP_PKEY *k = new_key();

	if (!k || !(x = cert_start(k, cn, now, SERVER_DAYS)) ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
	    /* never outlive the CA */
	    (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca)) > 0 &&
	     X509_set1_notAfter(x, X509_get0_notAfter(ca)) != 1) ||
	    !add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, ca, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, ca, NID_ext_key_usage, "serverAuth") ||
	    !add_ext(x, ca, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, ca, NID_authority_key_identifier, "keyid:always") ||
	    X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) != 1 ||
	    X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		X509_free(x);
		EVP_PKEY_free(k);
		return ossl_fail(e, "cannot make the development server certificate");
	}
	*cert = x;
	*key = k;
	return 0;
}

/* ---- the entry points ---- */

static int set_paths(const char *dir, struct devca_paths *out, struct err *e)
{
	size_t dlen = strlen(dir);
	const char *sep = dir[dlen - 1] == '/' ? "" : "/";
	struct {
		char *dst;
		const char *name;
	} p[] = {{out->ca_cert, DEVCA_CA_CERT},
	         {out->ca_key, DEVCA_CA_KEY},
	         {out->server_cert, DEVCA_SERVER_CERT},
	         {out->server_key, DEVCA_SERVER_KEY}};

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		int n = snprintf(p[i].dst, DEVCA_PATH_MAX, "%s%s%s", dir, sep, p[i].name);
		if (n < 0 || n >= DEVCA_PATH_MAX)
			return err_set(e, MC_ERR_TOO_LARGE,
			               "directory name '%.100s...' is too long", dir);
	}
	return 0;
}

int devca_ensure_at(const char *dir, const char *const *names, size_t nnames, time_t now,
                    struct devca_paths *out, struct err *e)
{
	GENERAL_NAMES *san = NULL;
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *leaf_key = NULL;
	char *raw = NULL;
	size_t raw_len = 0;
	int dfd = -1, rc;

	if (!dir || !*dir || !out)
		return err_set(e, MC_ERR_INVALID, "no directory for the development CA");
	memset(out, 0, sizeof(*out));
	if (nnames == 0 || nnames > DEVCA_NAMES_MAX || !names)
		return err_set(e, MC_ERR_INVALID, "the server certificate needs 1 to %d names",
		               DEVCA_NAMES_MAX);
	rc = make_san(names, nnames, &san, e);
	if (rc)
		goto out;
	rc = set_paths(dir, out, e);
	if (rc)
		goto out;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = err_set(e, MC_ERR_IO, "cannot create directory '%s': %s", dir,
		             strerror(errno));
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = err_set(e, MC_ERR_IO, "cannot open directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	while ((rc = flock(dfd, LOCK_EX)) != 0 && errno == EINTR)
		;
	if (rc != 0) {
		rc = err_set(e, MC_ERR_IO, "cannot lock directory '%s': %s", dir, strerror(errno));
		goto out;
	}

	rc = load_cert(out->ca_cert, &ca, NULL, NULL, e);
	if (rc == 0 && ca)
		rc = load_key(out->ca_key, &ca_key, e);
	if (rc)
		goto out;
	if (!ca || !ca_key || !ca_usable(ca, ca_key, now)) {
		X509_free(ca);
		EVP_PKEY_free(ca_key);
		ca = NULL;
		ca_key = NULL;
		rc = make_ca(now, &ca, &ca_key, e);
		if (rc)
			goto out;
		/* the key first: a crash between the two leaves a pair that does not match,
		 * which the next call replaces */
		rc = write_pem(out->ca_key, NULL, NULL, ca_key, e);
		if (rc == 0)
			rc = write_pem(out->ca_cert, ca, NULL, NULL, e);
		if (rc)
			goto out;
		out->ca_created = 1;
	}

	if (!out->ca_created) {
		rc = load_cert(out->server_cert, &leaf, &raw, &raw_len, e);
		if (rc == 0 && leaf)
			rc = load_key(out->server_key, &leaf_key, e);
		if (rc)
			goto out;
		if (leaf && leaf_key &&
		    server_usable(leaf, raw, raw_len, leaf_key, ca, names, nnames, now))
			goto done;
	}
	X509_free(leaf);
	EVP_PKEY_free(leaf_key);
	leaf = NULL;
	leaf_key = NULL;
	rc = make_server(ca, ca_key, san, names[0], now, &leaf, &leaf_key, e);
	if (rc)
		goto out;
	rc = write_pem(out->server_key, NULL, NULL, leaf_key, e);
	if (rc == 0)
		rc = write_pem(out->server_cert, leaf, ca, NULL, e);
	if (rc)
		goto out;
	out->server_created = 1;
done:
	rc = 0;
out:
	free(raw);
	X509_free(leaf);
	EVP_PKEY_free(leaf_key);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	GENERAL_NAMES_free(san);
	if (dfd >= 0)
		close(dfd); /* releases the lock */
	ERR_clear_error();
	return rc;
}

int devca_ensure(const char *dir, const char *const *names, size_t nnames, struct devca_paths *out,
                 struct err *e)
{
	return devca_ensure_at(dir, names, nnames, time(NULL), out, e);
}

int devca_load_pem(const char *path, char **pem, size_t *len, struct err *e)
{
	size_t n = 0;
	int rc;

	*pem = NULL;
	if (len)
		*len = 0;
	if (!path || !*path)
		return err_set(e, MC_ERR_INVALID, "no PEM file given");
	rc = read_file(path, 0, 1, pem, &n, e);
	if (rc == MC_ERR_NOT_FOUND)
		return err_set(e, rc, "'%s' does not exist", path);
	if (rc)
		return rc;
	if (memchr(*pem, '\0', n)) {
		wipe_free(*pem, n);
		*pem = NULL;
		return err_set(e, MC_ERR_INVALID, "'%s' holds a NUL byte: not a PEM file", path);
	}
	if (len)
		*len = n;
	return 0;
}

void devca_pem_free(char *pem)
{
	if (pem)
		wipe_free(pem, strlen(pem));
}
