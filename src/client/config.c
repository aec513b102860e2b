/* Profiles: an INI file of [name] sections with key = value lines (# and ; start comments),
 * kept in file order so that a rewrite changes only what was set. Resolution applies the
 * environment over the profile (docs/client.md, "Profiles"). Files are written atomically
 * with mode 0600 because they hold secret keys. */
#include "client_int.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/banned.h"

#define CONFIG_FILE_MAX  (1u << 20)
#define CONFIG_VALUE_MAX 4096

struct config_kv {
	char *key;
	char *value;
};

struct config_section {
	char *name;
	struct config_kv *kv;
	size_t n, alloc;
};

struct mcapi_config {
	struct config_section *sec;
	size_t n, alloc;
};

static int config_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

static void config_kv_free(struct config_kv *kv)
{
	if (kv->value) {
		secure_zero(kv->value, strlen(kv->value));
		free(kv->value);
	}
	free(kv->key);
}

MCAPI_EXPORT void mcapi_config_free(struct mcapi_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		for (size_t j = 0; j < cfg->sec[i].n; j++)
			config_kv_free(&cfg->sec[i].kv[j]);
		free(cfg->sec[i].kv);
		free(cfg->sec[i].name);
	}
	free(cfg->sec);
	free(cfg);
}

static struct config_section *config_find(const struct mcapi_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && i < cfg->n; i++)
		if (strcmp(cfg->sec[i].name, name) == 0)
			return &cfg->sec[i];
	return NULL;
}

static struct config_section *config_add_section(struct mcapi_config *cfg, const char *name,
                                                 size_t n)
{
	struct config_section *s;

	if (cfg->n == cfg->alloc) {
		size_t na = cfg->alloc ? cfg->alloc * 2 : 4;
		s = realloc(cfg->sec, na * sizeof(*s));
		if (!s)
			return NULL;
		cfg->sec = s;
		cfg->alloc = na;
	}
	s = &cfg->sec[cfg->n];
	memset(s, 0, sizeof(*s));
	s->name = strndup(name, n);
	if (!s->name)
		return NULL;
	cfg->n++;
	return s;
}

/* Sets key (k[0..kn)) to v[0..vn) in s, replacing an existing value. */
static int config_section_set(struct config_section *s, const char *k, size_t kn, const char *v,
                              size_t vn)
{
	struct config_kv *kv;
	char *nv = strndup(v, vn);

	if (!nv)
		return MCAPI_E_NOMEM;
	for (size_t i = 0; i < s->n; i++) {
		if (strlen(s->kv[i].key) == kn && memcmp(s->kv[i].key, k, kn) == 0) {
			secure_zero(s->kv[i].value, strlen(s->kv[i].value));
			free(s->kv[i].value);
			s->kv[i].value = nv;
			return 0;
		}
	}
	if (s->n == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 8;
		kv = realloc(s->kv, na * sizeof(*kv));
		if (!kv) {
			free(nv);
			return MCAPI_E_NOMEM;
		}
		s->kv = kv;
		s->alloc = na;
	}
	s->kv[s->n].key = strndup(k, kn);
	if (!s->kv[s->n].key) {
		free(nv);
		return MCAPI_E_NOMEM;
	}
	s->kv[s->n].value = nv;
	s->n++;
	return 0;
}

static void trim(const char **p, size_t *n)
{
	while (*n && isspace((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*p)[*n - 1]))
		(*n)--;
}

MCAPI_EXPORT int mcapi_config_parse(const char *text, size_t len, struct mcapi_config **out,
                                    char **errmsg)
{
	struct mcapi_config *cfg = calloc(1, sizeof(*cfg));
	struct config_section *cur = NULL;
	size_t pos = 0, lineno = 0;
	int rc;

	*out = NULL;
	if (!cfg)
		return client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *eq;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (memchr(line, '\0', n)) {
			rc = client_errf(errmsg, MCAPI_E_INVALID, "line %zu: NUL byte", lineno);
			goto fail;
		}
		trim(&line, &n);
		if (n == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[') {
			const char *name = line + 1;
			size_t nn = n - 1;
			if (line[n - 1] != ']') {
				rc = client_errf(errmsg, MCAPI_E_INVALID, "line %zu: missing ']'",
				                 lineno);
				goto fail;
			}
			nn--;
			trim(&name, &nn);
			if (!config_name_ok(name, nn)) {
				rc = client_errf(errmsg, MCAPI_E_INVALID,
				                 "line %zu: bad profile name (use letters, digits, "
				                 "'_', '-', '.')",
				                 lineno);
				goto fail;
			}
			cur = NULL;
			for (size_t i = 0; i < cfg->n; i++)
				if (strlen(cfg->sec[i].name) == nn &&
				    !memcmp(cfg->sec[i].name, name, nn))
					cur = &cfg->sec[i];
			if (!cur && !(cur = config_add_section(cfg, name, nn))) {
				rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
				goto fail;
			}
			continue;
		}
		eq = memchr(line, '=', n);
		if (!eq) {
			rc = client_errf(errmsg, MCAPI_E_INVALID,
			                 "line %zu: expected 'key = value'", lineno);
			goto fail;
		}
		if (!cur) {
			rc = client_errf(errmsg, MCAPI_E_INVALID,
			                 "line %zu: 'key = value' before any [profile]", lineno);
			goto fail;
		} else {
			const char *k = line, *v = eq + 1;
			size_t kn = (size_t)(eq - line), vn = n - kn - 1;
			trim(&k, &kn);
			trim(&v, &vn);
			if (!config_name_ok(k, kn)) {
				rc = client_errf(errmsg, MCAPI_E_INVALID, "line %zu: bad key",
				                 lineno);
				goto fail;
			}
			/* one level of matching quotes is removed: key = "a b" */
			if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
				v++;
				vn -= 2;
			}
			if (vn > CONFIG_VALUE_MAX) {
				rc = client_errf(errmsg, MCAPI_E_INVALID,
				                 "line %zu: value too long", lineno);
				goto fail;
			}
			if ((rc = config_section_set(cur, k, kn, v, vn)) != 0) {
				client_errf(errmsg, rc, "out of memory");
				goto fail;
			}
		}
	}
	*out = cfg;
	return 0;
fail:
	mcapi_config_free(cfg);
	return rc;
}

MCAPI_EXPORT char *mcapi_config_default_path(void)
{
	const char *p = getenv("MCAPI_CONFIG"), *base;
	char *out;
	size_t n;

	if (p && *p)
		return strdup(p);
	base = getenv("XDG_CONFIG_HOME");
	if (base && *base) {
		n = strlen(base) + sizeof("/mcapi/profiles");
		if ((out = malloc(n)))
			snprintf(out, n, "%s/mcapi/profiles", base);
		return out;
	}
	base = getenv("HOME");
	if (!base || !*base)
		return NULL;
	n = strlen(base) + sizeof("/.config/mcapi/profiles");
	if ((out = malloc(n)))
		snprintf(out, n, "%s/.config/mcapi/profiles", base);
	return out;
}

MCAPI_EXPORT int mcapi_config_load(const char *path, struct mcapi_config **out, char **errmsg)
{
	struct buf b;
	char chunk[4096];
	FILE *f = NULL;
	size_t n;
	int rc;

	*out = NULL;
	buf_init(&b, CONFIG_FILE_MAX);
	if (!path) {
		rc = client_errf(errmsg, MCAPI_E_INVALID,
		                 "no profile file (set MCAPI_CONFIG or HOME)");
		goto out;
	}
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT) {
			rc = mcapi_config_parse("", 0, out, errmsg);
			goto out;
		}
		rc = client_errf(errmsg, MCAPI_E_IO, "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_add(&b, chunk, n) != 0) {
			rc = client_errf(errmsg, MCAPI_E_INVALID, "'%s' is larger than %u bytes",
			                 path, CONFIG_FILE_MAX);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = client_errf(errmsg, MCAPI_E_IO, "cannot read '%s'", path);
		goto out;
	}
	rc = mcapi_config_parse(b.data ? b.data : "", b.len, out, errmsg);
	if (rc && errmsg && *errmsg)
		client_errf(errmsg, rc, "%s: %s", path, *errmsg);
out:
	secure_zero(chunk, sizeof(chunk));
	if (b.data)
		secure_zero(b.data, b.len);
	buf_release(&b);
	if (f)
		fclose(f);
	return rc;
}

MCAPI_EXPORT size_t mcapi_config_count(const struct mcapi_config *cfg)
{
	return cfg ? cfg->n : 0;
}

MCAPI_EXPORT const char *mcapi_config_name(const struct mcapi_config *cfg, size_t i)
{
	return cfg && i < cfg->n ? cfg->sec[i].name : NULL;
}

MCAPI_EXPORT int mcapi_config_has(const struct mcapi_config *cfg, const char *profile)
{
	return profile && config_find(cfg, profile) != NULL;
}

MCAPI_EXPORT const char *mcapi_config_get(const struct mcapi_config *cfg, const char *profile,
                                          const char *key)
{
	struct config_section *s = profile ? config_find(cfg, profile) : NULL;

	for (size_t i = 0; s && key && i < s->n; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].value;
	return NULL;
}

MCAPI_EXPORT int mcapi_config_set(struct mcapi_config *cfg, const char *profile, const char *key,
                                  const char *value)
{
	struct config_section *s;

	if (!cfg || !profile || !key || !config_name_ok(profile, strlen(profile)) ||
	    !config_name_ok(key, strlen(key)))
		return MCAPI_E_INVALID;
	if (value && (sign_bad_header_value(value) || strlen(value) > CONFIG_VALUE_MAX))
		return MCAPI_E_INVALID;
	s = config_find(cfg, profile);
	if (!value) {
		for (size_t i = 0; s && i < s->n; i++) {
			if (strcmp(s->kv[i].key, key) == 0) {
				config_kv_free(&s->kv[i]);
				memmove(&s->kv[i], &s->kv[i + 1],
				        (s->n - i - 1) * sizeof(s->kv[0]));
				s->n--;
				break;
			}
		}
		return 0;
	}
	if (!s && !(s = config_add_section(cfg, profile, strlen(profile))))
		return MCAPI_E_NOMEM;
	return config_section_set(s, key, strlen(key), value, strlen(value));
}

MCAPI_EXPORT int mcapi_config_delete(struct mcapi_config *cfg, const char *profile)
{
	struct config_section *s = profile ? config_find(cfg, profile) : NULL;
	size_t i;

	if (!s)
		return MCAPI_E_NOT_FOUND;
	for (size_t j = 0; j < s->n; j++)
		config_kv_free(&s->kv[j]);
	free(s->kv);
	free(s->name);
	i = (size_t)(s - cfg->sec);
	memmove(&cfg->sec[i], &cfg->sec[i + 1], (cfg->n - i - 1) * sizeof(cfg->sec[0]));
	cfg->n--;
	return 0;
}

/* mkdir -p of the directory part of path, mode 0700 for what it creates. */
static int config_mkdirs(const char *path)
{
	char *d = strdup(path);
	int rc = 0;

	if (!d)
		return -1;
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) != 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	free(d);
	return rc;
}

MCAPI_EXPORT int mcapi_config_save(const struct mcapi_config *cfg, const char *path, char **errmsg)
{
	struct buf b;
	struct err e = {0};
	int rc;

	buf_init(&b, CONFIG_FILE_MAX);
	if (!cfg || !path) {
		rc = client_errf(errmsg, MCAPI_E_INVALID, "no configuration or path");
		goto out;
	}
	if (buf_adds(&b, "# mcapi profiles (mode 0600: holds secret keys)\n")) {
		rc = client_errf(errmsg, MCAPI_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->n; i++) {
		if (buf_addf(&b, "\n[%s]\n", cfg->sec[i].name)) {
			rc = client_errf(errmsg, MCAPI_E_NOMEM, "profile file too large");
			goto out;
		}
		for (size_t j = 0; j < cfg->sec[i].n; j++) {
			if (buf_addf(&b, "%s = %s\n", cfg->sec[i].kv[j].key,
			             cfg->sec[i].kv[j].value)) {
				rc = client_errf(errmsg, MCAPI_E_NOMEM, "profile file too large");
				goto out;
			}
		}
	}
	if (config_mkdirs(path) != 0) {
		rc = client_errf(errmsg, MCAPI_E_IO, "cannot create the directory of '%s': %s",
		                 path, strerror(errno));
		goto out;
	}
	/* a temporary file, fsync, rename, fsync of the directory: never half a profile file */
	if (file_write_atomic(path, b.data, b.len, 0600, 1, &e) != 0) {
		rc = client_errf(errmsg, e.code == MC_ERR_NOMEM ? MCAPI_E_NOMEM : MCAPI_E_IO, "%s",
		                 e.msg);
		goto out;
	}
	rc = 0;
out:
	if (b.data)
		secure_zero(b.data, b.len);
	buf_release(&b);
	return rc;
}

/* A decimal in [lo, hi] or an error naming where it came from. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

MCAPI_EXPORT int mcapi_config_resolve(const struct mcapi_config *cfg, const char *profile,
                                      struct mcapi_options *o, char **errmsg)
{
	static const struct {
		const char *key, *env;
		size_t off;
	} strs[] = {
	        {"base_url", "MCAPI_BASE_URL", offsetof(struct mcapi_options, base_url)},
	        {"app_id", "MCAPI_APP_ID", offsetof(struct mcapi_options, app_id)},
	        {"app_key", "MCAPI_APP_KEY", offsetof(struct mcapi_options, app_key)},
	        {"access_key", "MCAPI_ACCESS_KEY", offsetof(struct mcapi_options, access_key)},
	        {"secret_key", "MCAPI_SECRET_KEY", offsetof(struct mcapi_options, secret_key)},
	        {"user_agent", "MCAPI_USER_AGENT", offsetof(struct mcapi_options, user_agent)},
	        {"ca_file", "MCAPI_CA_FILE", offsetof(struct mcapi_options, ca_file)},
	};
	static const struct {
		const char *key, *env;
		size_t off;
	} longs[] = {
	        {"timeout_ms", "MCAPI_TIMEOUT_MS", offsetof(struct mcapi_options, timeout_ms)},
	        {"connect_timeout_ms", "MCAPI_CONNECT_TIMEOUT_MS",
	         offsetof(struct mcapi_options, connect_timeout_ms)},
	        {"total_timeout_ms", "MCAPI_TOTAL_TIMEOUT_MS",
	         offsetof(struct mcapi_options, total_timeout_ms)},
	};
	const char *v, *env;
	int explicit_name = 1;
	long n;

	if (!o)
		return MCAPI_E_INVALID;
	mcapi_options_init(o);
	if (!profile || !*profile) {
		profile = getenv("MCAPI_PROFILE");
		if (!profile || !*profile) {
			profile = "default";
			explicit_name = 0;
		}
	}
	if (explicit_name && !mcapi_config_has(cfg, profile))
		return client_errf(errmsg, MCAPI_E_NOT_FOUND, "profile '%s' does not exist",
		                   profile);
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		v = mcapi_config_get(cfg, profile, strs[i].key);
		env = getenv(strs[i].env);
		if (env && *env)
			v = env;
		*(const char **)((char *)o + strs[i].off) = v;
	}
	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
		env = getenv(longs[i].env);
		v = env && *env ? env : mcapi_config_get(cfg, profile, longs[i].key);
		if (!v)
			continue;
		if (parse_long(v, 0, 3600000L, &n))
			return client_errf(errmsg, MCAPI_E_INVALID,
			                   "'%s' must be a number of ms (got '%s')", longs[i].key,
			                   v);
		*(long *)((char *)o + longs[i].off) = n;
	}
	env = getenv("MCAPI_MAX_RETRIES");
	v = env && *env ? env : mcapi_config_get(cfg, profile, "max_retries");
	if (v) {
		if (parse_long(v, 0, 100, &n))
			return client_errf(errmsg, MCAPI_E_INVALID,
			                   "'max_retries' must be 0..100 (got '%s')", v);
		o->max_retries = (int)n;
	}
	return 0;
}
