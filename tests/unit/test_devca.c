/* Unit tests for the development CA (server/tls/devca): file modes; the server certificate
 * verifying against the CA for every name under OpenSSL's strict RFC 5280 checks, and not
 * for other names; reuse of valid files byte for byte; reissue for a new name, a corrupted
 * or mismatched file, a certificate near its end; a new CA when its own end nears; refusal
 * of malformed names and loose key modes; devca_load_pem. Last, the front's TLS layer (OpenSSL,
 * http/tlsio.h) serves the chain and key as the server will, and tests/unit/devca_clients.sh drives
 * real clients (openssl, curl, Python with strict flags, Node.js, Java) against it. */
#include "server/tls/devca.h"
#include "common/err.h"
#include "tap.h"

#include <arpa/inet.h>
#include "server/http/tlsio.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400L

static char tmp[64];

static const char *const names[] = {
        "localhost",
        "127.0.0.1",
        "::1",
        "api.mimecast.com",
        "eu-api.mimecast.com",
        "de-api.mimecast.com",
        "us-api.mimecast.com",
        "usb-api.mimecast.com",
        "ca-api.mimecast.com",
        "za-api.mimecast.com",
        "au-api.mimecast.com",
        "je-api.mimecast.com",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* The four files' contents, to compare before and after a call. */
struct snap {
	char *f[4];
};

static void snap_take(const struct devca_paths *p, struct snap *s)
{
	const char *paths[4] = {p->ca_cert, p->ca_key, p->server_cert, p->server_key};

	for (int i = 0; i < 4; i++)
		if (devca_load_pem(paths[i], &s->f[i], NULL, NULL) != 0)
			s->f[i] = NULL;
}

static void snap_free(struct snap *s)
{
	for (int i = 0; i < 4; i++)
		devca_pem_free(s->f[i]);
}

static int same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static X509 *load_cert(const char *path, int index)
{
	FILE *f = fopen(path, "r");
	X509 *x = NULL;

	if (!f)
		return NULL;
	for (int i = 0; i <= index; i++) {
		X509_free(x);
		x = PEM_read_X509(f, NULL, NULL, NULL);
	}
	fclose(f);
	return x;
}

static int mode_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

/* The X509_V_* result of verifying the first certificate of chain for name (host or IP
 * literal) against the CA certificate in ca_path alone, as a strict TLS client would, at
 * time now: X509_V_OK if it passes. */
static int verify_for(const char *ca_path, const char *chain, const char *name, time_t now)
{
	X509 *ca = load_cert(ca_path, 0), *leaf = load_cert(chain, 0);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = -1;

	if (ca && leaf && st && ctx && X509_STORE_add_cert(st, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, st, leaf, NULL) == 1) {
		X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_X509_STRICT);
		X509_VERIFY_PARAM_set_time(p, now);
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
		if (strchr(name, ':') || (name[0] >= '0' && name[0] <= '9'))
			X509_VERIFY_PARAM_set1_ip_asc(p, name);
		else
			X509_VERIFY_PARAM_set1_host(p, name, 0);
		rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
		if (rc != X509_V_OK)
			printf("  (verify %s: %s)\n", name, X509_verify_cert_error_string(rc));
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(ca);
	X509_free(leaf);
	return rc;
}

static int verify_all(const struct devca_paths *p, const char *const *list, size_t n, time_t now)
{
	int ok = 1;

	for (size_t i = 0; i < n; i++)
		ok &= verify_for(p->ca_cert, p->server_cert, list[i], now) == X509_V_OK;
	return ok;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_create_and_verify(const char *dir, struct devca_paths *p)
{
	struct err e;
	X509 *ca, *leaf, *second;
	time_t now = time(NULL);

	err_clear(&e);
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	if (e.code)
		printf("  %s\n", e.msg);
	CHECK_INT(p->ca_created, 1);
	CHECK_INT(p->server_created, 1);
	CHECK(strstr(p->ca_cert, "/var/dev-ca.pem") != NULL);
	CHECK(strstr(p->server_key, "/var/dev-server.key") != NULL);
	CHECK_INT(mode_of(dir), 0700);
	CHECK_INT(mode_of(p->ca_cert), 0644);
	CHECK_INT(mode_of(p->ca_key), 0600);
	CHECK_INT(mode_of(p->server_cert), 0644);
	CHECK_INT(mode_of(p->server_key), 0600);

	CHECK(verify_all(p, names, NNAMES, now));
	CHECK_INT(verify_for(p->ca_cert, p->server_cert, "API.Mimecast.COM", now), X509_V_OK);
	CHECK_INT(verify_for(p->ca_cert, p->server_cert, "evil.example", now),
	          X509_V_ERR_HOSTNAME_MISMATCH);
	CHECK_INT(verify_for(p->ca_cert, p->server_cert, "x.api.mimecast.com", now),
	          X509_V_ERR_HOSTNAME_MISMATCH);
	CHECK_INT(verify_for(p->ca_cert, p->server_cert, "10.0.0.1", now),
	          X509_V_ERR_IP_ADDRESS_MISMATCH);
	CHECK_INT(verify_for(p->ca_cert, p->server_cert, "::2", now),
	          X509_V_ERR_IP_ADDRESS_MISMATCH);
	/* not before an hour ago, not after 397 days */
	CHECK_INT(verify_for(p->ca_cert, p->server_cert, "localhost", now - 7200),
	          X509_V_ERR_CERT_NOT_YET_VALID);
	CHECK_INT(verify_for(p->ca_cert, p->server_cert, "localhost", now + 397 * DAY),
	          X509_V_ERR_CERT_HAS_EXPIRED);

	/* what the certificates carry */
	ca = load_cert(p->ca_cert, 0);
	leaf = load_cert(p->server_cert, 0);
	second = load_cert(p->server_cert, 1);
	CHECK(ca && leaf && second);
	if (ca && leaf && second) {
		const ASN1_INTEGER *serial = X509_get0_serialNumber(leaf);
		char cn[128] = "";
		int days = 0, secs = 0;

		CHECK(X509_cmp(second, ca) == 0); /* chain: server, then CA */
		CHECK_INT(X509_check_ca(ca), 1);
		CHECK(X509_get_key_usage(ca) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
		CHECK(X509_get0_subject_key_id(ca) != NULL);
		CHECK(X509_get_extension_flags(ca) & EXFLAG_SS);
		X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn,
		                          sizeof(cn));
		CHECK(strncmp(cn, "mcapi development CA (", 22) == 0);
		CHECK(strlen(cn) <= 64 && cn[strlen(cn) - 1] == ')');
		CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca),
		                     X509_get0_notAfter(ca)) == 1 &&
		      days >= 3650);

		CHECK_INT(X509_check_ca(leaf), 0);
		CHECK(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
		CHECK(X509_get_extended_key_usage(leaf) == XKU_SSL_SERVER);
		CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
		                            X509_get0_subject_key_id(ca)) == 0);
		CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf),
		                     X509_get0_notAfter(leaf)) == 1 &&
		      (days < 397 || (days == 397 && secs == 0)));
		CHECK_INT(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
		CHECK_INT(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
		CHECK_INT(EVP_PKEY_get_bits(X509_get0_pubkey(leaf)), 256);
		CHECK(EVP_PKEY_is_a(X509_get0_pubkey(ca), "EC"));
		CHECK(serial->length == 16 && (serial->data[0] & 0x80) &&
		      serial->type == V_ASN1_INTEGER);
		CHECK(X509_cmp(leaf, ca) != 0 &&
		      ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(ca)) != 0);
	}
	X509_free(ca);
	X509_free(leaf);
	X509_free(second);

	/* the key files hold PKCS#8 keys that match the certificates */
	{
		char *pem = NULL;
		CHECK_INT(devca_load_pem(p->server_key, &pem, NULL, &e), 0);
		CHECK(pem && strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
		devca_pem_free(pem);
	}
}

static void test_reuse(const char *dir, struct devca_paths *p)
{
	struct snap a = {0}, b = {0};
	const char *more[NNAMES + 1];
	const char *subset[] = {"LOCALHOST", "::1"};
	struct err e;

	snap_take(p, &a);
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	CHECK_INT(p->ca_created, 0);
	CHECK_INT(p->server_created, 0);
	snap_take(p, &b);
	for (int i = 0; i < 4; i++)
		CHECK(same(a.f[i], b.f[i]));
	snap_free(&b);

	/* a subset of the names (any case, any order) is covered already */
	CHECK_INT(devca_ensure(dir, subset, 2, p, &e), 0);
	CHECK_INT(p->server_created, 0);
	snap_take(p, &b);
	CHECK(same(a.f[2], b.f[2]));
	snap_free(&b);

	/* a new name: the same CA, a new server certificate and key that carry it */
	memcpy(more, names, sizeof(names));
	more[NNAMES] = "mcapi.dev.example";
	CHECK_INT(devca_ensure(dir, more, NNAMES + 1, p, &e), 0);
	CHECK_INT(p->ca_created, 0);
	CHECK_INT(p->server_created, 1);
	snap_take(p, &b);
	CHECK(same(a.f[0], b.f[0]));
	CHECK(same(a.f[1], b.f[1]));
	CHECK(!same(a.f[2], b.f[2]));
	CHECK(!same(a.f[3], b.f[3]));
	CHECK(verify_all(p, more, NNAMES + 1, time(NULL)));
	snap_free(&b);
	snap_free(&a);
}

static void test_repair(const char *dir, struct devca_paths *p)
{
	struct snap a = {0}, b = {0};
	struct err e;
	char *pem = NULL;
	size_t len = 0;

	snap_take(p, &a);

	/* garbage in the chain file */
	write_text(p->server_cert, "not a certificate\n");
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	CHECK_INT(p->ca_created, 0);
	CHECK_INT(p->server_created, 1);
	CHECK_INT(mode_of(p->server_cert), 0644);
	CHECK(verify_all(p, names, NNAMES, time(NULL)));

	/* a chain file cut short: the server certificate parses, the CA after it does not */
	CHECK_INT(devca_load_pem(p->server_cert, &pem, &len, &e), 0);
	if (pem) {
		char *second = strstr(pem + 1, "-----BEGIN CERTIFICATE-----");
		if (second)
			second[40] = '\0';
		write_text(p->server_cert, pem);
		devca_pem_free(pem);
	}
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	CHECK_INT(p->server_created, 1);
	CHECK(verify_all(p, names, NNAMES, time(NULL)));

	/* the key of another certificate */
	snap_take(p, &b);
	{
		struct devca_paths q;
		char other[128];
		snprintf(other, sizeof(other), "%s/other", tmp);
		CHECK_INT(devca_ensure(other, names, 1, &q, &e), 0);
		CHECK(rename(q.server_key, p->server_key) == 0);
	}
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	CHECK_INT(p->server_created, 1);
	snap_free(&b);
	snap_take(p, &b);
	CHECK(same(a.f[0], b.f[0])); /* the CA never moved */
	CHECK(same(a.f[1], b.f[1]));
	snap_free(&b);

	/* an empty server key */
	write_text(p->server_key, "");
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	CHECK_INT(p->server_created, 1);
	CHECK_INT(mode_of(p->server_key), 0600);

	/* a key readable by others is refused, not replaced */
	CHECK(chmod(p->server_key, 0644) == 0);
	err_clear(&e);
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "chmod 600") != NULL);
	CHECK(strstr(e.msg, "dev-server.key") != NULL);
	CHECK(chmod(p->server_key, 0600) == 0);
	CHECK(chmod(p->ca_key, 0640) == 0);
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), MC_ERR_INVALID);
	CHECK(strstr(e.msg, "dev-ca.key") != NULL);
	CHECK(chmod(p->ca_key, 0600) == 0);
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	CHECK_INT(p->ca_created, 0);
	CHECK_INT(p->server_created, 0);

	/* a symbolic link is not followed */
	{
		char link_path[DEVCA_PATH_MAX + 8];
		snprintf(link_path, sizeof(link_path), "%s.real", p->server_cert);
		CHECK(rename(p->server_cert, link_path) == 0);
		CHECK(symlink(link_path, p->server_cert) == 0);
		CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), MC_ERR_INVALID);
		CHECK(strstr(e.msg, "symbolic link") != NULL);
		CHECK(unlink(p->server_cert) == 0);
		CHECK(rename(link_path, p->server_cert) == 0);
	}

	/* a CA whose key is lost: a new CA, and a server certificate from it */
	CHECK(unlink(p->ca_key) == 0);
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	CHECK_INT(p->ca_created, 1);
	CHECK_INT(p->server_created, 1);
	snap_take(p, &b);
	CHECK(!same(a.f[0], b.f[0]));
	CHECK(verify_all(p, names, NNAMES, time(NULL)));
	snap_free(&b);

	/* a corrupted CA certificate: a new CA */
	write_text(p->ca_cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	CHECK_INT(devca_ensure(dir, names, NNAMES, p, &e), 0);
	CHECK_INT(p->ca_created, 1);
	CHECK(verify_all(p, names, NNAMES, time(NULL)));

	/* no temporary file is left behind */
	{
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 4", dir);
		CHECK(system(cmd) == 0);
	}
	snap_free(&a);
}

/* Expiry, with the clock moved forward: the server certificate is renewed 30 days before
 * its end, the CA 30 days before its own. */
static void test_expiry(void)
{
	struct devca_paths p;
	struct snap a = {0}, b = {0};
	struct err e;
	char dir[128];
	time_t now = time(NULL);

	snprintf(dir, sizeof(dir), "%s/expiry", tmp);
	CHECK_INT(devca_ensure_at(dir, names, NNAMES, now, &p, &e), 0);
	snap_take(&p, &a);
	CHECK_INT(devca_ensure_at(dir, names, NNAMES, now + 360 * DAY, &p, &e), 0);
	CHECK_INT(p.server_created, 0);
	CHECK_INT(devca_ensure_at(dir, names, NNAMES, now + 370 * DAY, &p, &e), 0);
	CHECK_INT(p.ca_created, 0);
	CHECK_INT(p.server_created, 1);
	snap_take(&p, &b);
	CHECK(same(a.f[0], b.f[0]));
	CHECK(!same(a.f[2], b.f[2]));
	CHECK(verify_all(&p, names, NNAMES, now + 370 * DAY));
	snap_free(&b);

	CHECK_INT(devca_ensure_at(dir, names, NNAMES, now + 3600 * DAY, &p, &e), 0);
	CHECK_INT(p.ca_created, 0);
	CHECK_INT(devca_ensure_at(dir, names, NNAMES, now + 3640 * DAY, &p, &e), 0);
	CHECK_INT(p.ca_created, 1);
	CHECK_INT(p.server_created, 1);
	snap_take(&p, &b);
	CHECK(!same(a.f[0], b.f[0]));
	CHECK(verify_all(&p, names, NNAMES, now + 3640 * DAY));
	snap_free(&b);

	/* a server certificate never outlives its CA */
	CHECK_INT(
	        devca_ensure_at(dir, names, NNAMES, now + 3640 * DAY + (3652 - 100) * DAY, &p, &e),
	        0);
	{
		X509 *ca = load_cert(p.ca_cert, 0), *leaf = load_cert(p.server_cert, 0);
		CHECK(ca && leaf &&
		      ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(ca)) <= 0);
		X509_free(ca);
		X509_free(leaf);
	}
	snap_free(&a);
}

static void test_bad_input(void)
{
	struct devca_paths p;
	struct err e;
	char dir[128];
	const char *bad[] = {"",      "bad name",  "a..b",      ".example", "example.",
	                     "1.2.3", "256.0.0.1", "*.example", "ex/ample", "fe80::1%eth0",
	                     "héllo", "a\nb",      "[::1]"};
	char long_label[80], long_name[300];

	snprintf(dir, sizeof(dir), "%s/bad", tmp);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *one[] = {"localhost", bad[i]};
		err_clear(&e);
		CHECK_INT(devca_ensure(dir, one, 2, &p, &e), MC_ERR_INVALID);
		CHECK(strstr(e.msg, "neither a host name nor an IP address") != NULL);
	}
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	{
		const char *one[] = {long_label};
		CHECK_INT(devca_ensure(dir, one, 1, &p, &e), MC_ERR_INVALID);
	}
	for (size_t i = 0; i < 254; i++)
		long_name[i] = i % 2 ? '.' : 'a';
	long_name[254] = '\0';
	{
		const char *one[] = {long_name};
		CHECK_INT(devca_ensure(dir, one, 1, &p, &e), MC_ERR_INVALID);
	}
	CHECK_INT(devca_ensure(dir, names, 0, &p, &e), MC_ERR_INVALID);
	CHECK_INT(devca_ensure(dir, names, DEVCA_NAMES_MAX + 1, &p, &e), MC_ERR_INVALID);
	CHECK_INT(devca_ensure("", names, 1, &p, &e), MC_ERR_INVALID);
	CHECK(access(dir, F_OK) != 0); /* nothing was created for bad input */

	/* a name longer than a common name is fine: the CN falls back */
	{
		char host[120];
		const char *one[2];
		memset(host, 'b', 60);
		snprintf(host + 60, sizeof(host) - 60, ".mcapi.dev.example");
		one[0] = host;
		one[1] = "localhost";
		CHECK_INT(devca_ensure(dir, one, 2, &p, &e), 0);
		CHECK_INT(verify_for(p.ca_cert, p.server_cert, host, time(NULL)), X509_V_OK);
	}
	{
		char deep[DEVCA_PATH_MAX + 10];
		memset(deep, 'd', sizeof(deep) - 1);
		deep[sizeof(deep) - 1] = '\0';
		CHECK_INT(devca_ensure(deep, names, 1, &p, &e), MC_ERR_TOO_LARGE);
	}
	/* a trailing slash is not doubled */
	{
		char slash[140];
		snprintf(slash, sizeof(slash), "%s/", dir);
		CHECK_INT(devca_ensure(slash, names, 1, &p, &e), 0);
		CHECK(strstr(p.ca_cert, "//") == NULL);
	}
}

static void test_load_pem(void)
{
	char path[128], *pem = (char *)"x";
	size_t len = 1;
	struct err e;
	FILE *f;

	snprintf(path, sizeof(path), "%s/missing.pem", tmp);
	CHECK_INT(devca_load_pem(path, &pem, &len, &e), MC_ERR_NOT_FOUND);
	CHECK(pem == NULL && len == 0);
	snprintf(path, sizeof(path), "%s/nul.pem", tmp);
	f = fopen(path, "w");
	if (f) {
		fwrite("ab\0cd", 1, 5, f);
		fclose(f);
	}
	CHECK_INT(devca_load_pem(path, &pem, &len, &e), MC_ERR_INVALID);
	CHECK(pem == NULL);
	snprintf(path, sizeof(path), "%s/big.pem", tmp);
	f = fopen(path, "w");
	if (f) {
		for (int i = 0; i <= DEVCA_PEM_MAX; i++)
			fputc('a', f);
		fclose(f);
	}
	CHECK_INT(devca_load_pem(path, &pem, &len, &e), MC_ERR_TOO_LARGE);
	CHECK_INT(devca_load_pem(tmp, &pem, &len, &e), MC_ERR_INVALID); /* a directory */
	{
		/* an operator's file behind a symbolic link (as an ACME client keeps them) */
		char real[160], link_path[160];
		snprintf(real, sizeof(real), "%s/real.pem", tmp);
		snprintf(link_path, sizeof(link_path), "%s/link.pem", tmp);
		f = fopen(real, "w");
		if (f) {
			fputs("-----BEGIN X-----\n", f);
			fclose(f);
		}
		CHECK(symlink(real, link_path) == 0);
		CHECK_INT(devca_load_pem(link_path, &pem, &len, &e), 0);
		CHECK(pem && len == 18);
		devca_pem_free(pem);
	}
	devca_pem_free(NULL);
}

/* Processes starting at once: the lock on the directory lets exactly one make the CA, and
 * the others find it and the server certificate valid. */
static void test_concurrent(void)
{
	struct devca_paths p;
	struct err e;
	char dir[128];
	int created = 0, failed = 0;

	snprintf(dir, sizeof(dir), "%s/race", tmp);
	CHECK(mkdir(dir, 0700) == 0);
	for (int i = 0; i < 6; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			int rc = devca_ensure(dir, names, NNAMES, &p, NULL);
			_exit(rc ? 2 : p.ca_created + 4 * p.server_created);
		}
		CHECK(pid > 0);
	}
	for (int i = 0; i < 6; i++) {
		int status = 0;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) == 2)
			failed++;
		else if (WEXITSTATUS(status) == 5)
			created++;
		else if (WEXITSTATUS(status) != 0)
			failed++;
	}
	CHECK_INT(failed, 0);
	CHECK_INT(created, 1);
	CHECK_INT(devca_ensure(dir, names, NNAMES, &p, &e), 0);
	CHECK_INT(p.ca_created + p.server_created, 0);
	CHECK(verify_all(&p, names, NNAMES, time(NULL)));
}

/* A small HTTPS server on the front's TLS layer (http/tlsio.h): blocking, one connection at a
 * time, "ok" to every request, until stop is set. */
struct tls_srv {
	SSL_CTX *ctx;
	int lfd;
	atomic_int stop;
};

static void *tls_serve(void *arg)
{
	struct tls_srv *t = arg;
	static const char ok[] =
	        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

	while (!atomic_load(&t->stop)) {
		int fd = accept(t->lfd, NULL, NULL);
		SSL *s;
		char buf[4096];

		if (fd < 0)
			continue;
		if ((s = tlsio_new(t->ctx, fd)) != NULL && tlsio_handshake(s) == 1 &&
		    tlsio_read(s, buf, sizeof(buf)) > 0) {
			(void)tlsio_write(s, ok, sizeof(ok) - 1);
			tlsio_shutdown(s);
		}
		tlsio_free(s);
		close(fd);
	}
	return NULL;
}

/* The chain and key served from memory through the front's TLS layer, to real clients. */
static void test_tls_clients(const struct devca_paths *p)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct tls_srv t = {.lfd = -1};
	pthread_t th;
	char *cert = NULL, *key = NULL, cmd[4 * DEVCA_PATH_MAX];
	const char *src = getenv("MCAPI_SOURCE_DIR");
	struct err e;

	CHECK_INT(devca_load_pem(p->server_cert, &cert, NULL, &e), 0);
	CHECK_INT(devca_load_pem(p->server_key, &key, NULL, &e), 0);
	t.ctx = tlsio_ctx_new(cert, key, &e);
	CHECK(t.ctx != NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* close-on-exec: the clients' shell must not hold it open if this process dies */
	t.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t.ctx && t.lfd >= 0 && bind(t.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(t.lfd, 16) == 0 && getsockname(t.lfd, (struct sockaddr *)&sa, &sl) == 0 &&
	    pthread_create(&th, NULL, tls_serve, &t) == 0) {
		snprintf(cmd, sizeof(cmd), "sh '%s/tests/unit/devca_clients.sh' '%s' '%s' %u",
		         src ? src : ".", p->ca_cert, p->server_cert, (unsigned)ntohs(sa.sin_port));
		CHECK(system(cmd) == 0);
		atomic_store(&t.stop, 1);
		shutdown(t.lfd, SHUT_RDWR); /* wakes the accept */
		pthread_join(th, NULL);
	} else {
		CHECK(!"cannot start the test HTTPS server");
	}
	if (t.lfd >= 0)
		close(t.lfd);
	tlsio_ctx_free(t.ctx);
	devca_pem_free(cert);
	devca_pem_free(key);
}

int main(void)
{
	struct devca_paths p;
	char dir[128], cmd[160];

	signal(SIGPIPE, SIG_IGN); /* as mcapid: a client that hangs up must not kill the server */
	snprintf(tmp, sizeof(tmp), "/tmp/mcapi-devca-XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/var", tmp);
	CHECK_INT(DEVCA_MIMECAST_HOSTS, 9);
	CHECK_STR(devca_mimecast_hosts[0], "api.mimecast.com");
	CHECK_STR(devca_mimecast_hosts[8], "je-api.mimecast.com");
	CHECK_STR(devca_local_names[2], "::1");

	test_create_and_verify(dir, &p);
	test_tls_clients(&p);
	test_reuse(dir, &p);
	test_repair(dir, &p);
	test_expiry();
	test_concurrent();
	test_bad_input();
	test_load_pem();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		perror("rm");
	return tap_done();
}
