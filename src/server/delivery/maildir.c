/* Maildir delivery (the local route): <root>/<domain>/<local part>/{tmp,new,cur}. A message
 * is written to tmp/ under a name no other writer can pick (time, pid, thread, a counter,
 * the host) with O_EXCL, fsync'd, renamed into new/ and new/ fsync'd: once this returns
 * "sent" the mail survives power loss, and a reader never sees a partial file. The bytes
 * are written exactly as given. Every system error goes through maildir_errno_status, the
 * one place that decides "try again later" from "this mailbox cannot work". A worker
 * delivering a batch leaves new/'s fsync out (maildir_deliver_batch) and makes it once per
 * directory (maildir_sync_new) before it records the batch's outcomes. */
#include "delivery_int.h"

#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/banned.h"

#define MAILDIR_PATH_MAX 4096

int maildir_errno_status(int err, const char *what, const char *path, struct deliv_result *res)
{
	int status = DELIV_DEFER, code = 451;
	const char *dsn = "4.3.0";

	switch (err) {
	case ENOSPC:
		code = 452, dsn = "4.3.1"; /* mail system full */
		break;
	case EDQUOT:
		code = 452, dsn = "4.2.2"; /* mailbox full: quotas are raised, disks cleaned */
		break;
	case EACCES:
	case EPERM:
	case ENOTDIR:
	case EISDIR:
	case ELOOP:
	case ENAMETOOLONG:
	case EINVAL:
	case EXDEV:
		status = DELIV_FAIL, code = 550, dsn = "5.2.0"; /* the mailbox cannot work */
		break;
	case EFBIG:
		status = DELIV_FAIL, code = 552, dsn = "5.3.4"; /* too big for this file system */
		break;
	default: /* EIO, EROFS, EMFILE, ENFILE, ENOMEM, ESTALE, ...: temporary */
		break;
	}
	return deliv_result_set(res, status, code, 0, "%s maildir: cannot %s \"%s\": %s", dsn, what,
	                        path, strerror(err));
}

/* Appends one path component to out at *n: lower-case, '/' and control bytes as '_', a
 * leading '.' as '_'. */
static int maildir_component(char *out, size_t size, size_t *n, const char *s, size_t len)
{
	if (len == 0)
		return MC_ERR_INVALID;
	if (*n + 1 + len >= size)
		return MC_ERR_TOO_LARGE;
	out[(*n)++] = '/';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		else if (c == '/' || c < 0x20 || c == 0x7f || (i == 0 && c == '.'))
			c = '_';
		out[(*n)++] = (char)c;
	}
	out[*n] = '\0';
	return 0;
}

int maildir_path(const char *root, const char *rcpt, char *out, size_t size)
{
	const char *at = strrchr(rcpt, '@');
	size_t n = strlen(root);
	int rc;

	if (!at)
		return MC_ERR_INVALID;
	if (n >= size)
		return MC_ERR_TOO_LARGE;
	memcpy(out, root, n + 1);
	if ((rc = maildir_component(out, size, &n, at + 1, strlen(at + 1))) != 0)
		return rc;
	return maildir_component(out, size, &n, rcpt, (size_t)(at - rcpt));
}

/* Copies src into dst (size bytes), truncated. */
static void maildir_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* fsync(2) of the directory dir; 0 or -1 with errno. */
static int maildir_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc, saved;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* mkdir -p of path (0700). A directory it creates is made durable by an fsync of its
 * parent. 0, or -1 with errno and the failing directory in failed. */
static int maildir_mkdirs(const char *path, char *failed, size_t size)
{
	char p[MAILDIR_PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p)) {
		maildir_copy(failed, size, path);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0700) == 0) {
			char *slash = strrchr(p, '/');

			if (slash && slash != p) {
				*slash = '\0';
				if (maildir_sync_dir(p) != 0) {
					maildir_copy(failed, size, p);
					return -1;
				}
				*slash = '/';
			}
		} else if (errno != EEXIST) {
			maildir_copy(failed, size, p);
			return -1;
		}
		p[i] = path[i];
	}
	return 0;
}

/* box/{tmp,new,cur}, each made if missing: 0, or -1 with errno and the failing directory in
 * failed. */
static int maildir_make_box(const char *box, char *failed, size_t size)
{
	static const char *const sub[] = {"tmp", "new", "cur"};
	char d[MAILDIR_PATH_MAX + 8];

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(d, sizeof(d), "%s/%s", box, sub[i]);
		if (maildir_mkdirs(d, failed, size) != 0)
			return -1;
	}
	return 0;
}

/* The host part of a Maildir file name: '/' and ':' written as \057 and \072. */
static void maildir_host(char *out, size_t size)
{
	char host[256];
	size_t n = 0;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *c = host; *c && n + 5 < size; c++) {
		if (*c == '/' || *c == ':') {
			n += (size_t)snprintf(out + n, size - n, "\\%03o", (unsigned char)*c);
		} else {
			out[n++] = *c;
		}
	}
	out[n] = '\0';
}

int maildir_deliver(const char *root, const char *rcpt, const char *data, size_t len,
                    struct deliv_result *res)
{
	return maildir_deliver_key(root, rcpt, data, len, 0, res);
}

static int maildir_put(const char *root, const char *rcpt, const char *data, size_t len,
                       uint64_t key, int sync_new, struct deliv_result *res);

int maildir_deliver_key(const char *root, const char *rcpt, const char *data, size_t len,
                        uint64_t key, struct deliv_result *res)
{
	return maildir_put(root, rcpt, data, len, key, 1, res);
}

int maildir_deliver_batch(const char *root, const char *rcpt, const char *data, size_t len,
                          uint64_t key, struct deliv_result *res)
{
	if (!key)
		return maildir_deliver_key(root, rcpt, data, len, key, res);
	return maildir_put(root, rcpt, data, len, key, 0, res);
}

int maildir_sync_new(const char *root, const char *rcpt, char *dir, size_t size,
                     struct deliv_result *res)
{
	char box[MAILDIR_PATH_MAX];

	memset(res, 0, sizeof(*res));
	if (maildir_path(root, rcpt, box, sizeof(box)) != 0)
		return deliv_result_set(res, DELIV_FAIL, 550, 0,
		                        "5.1.3 bad recipient address for a maildir \"%s\"", rcpt);
	snprintf(dir, size, "%s/new", box);
	if (maildir_sync_dir(dir) != 0)
		return maildir_errno_status(errno, "sync", box, res);
	return 0;
}

static int maildir_put(const char *root, const char *rcpt, const char *data, size_t len,
                       uint64_t key, int sync_new, struct deliv_result *res)
{
	static unsigned counter;
	char box[MAILDIR_PATH_MAX], failed[MAILDIR_PATH_MAX], name[512], host[256];
	char tmp[MAILDIR_PATH_MAX + 600], dst[MAILDIR_PATH_MAX + 600];
	struct timeval tv;
	int fd = -1, rc, err;

	memset(res, 0, sizeof(*res));
	rc = maildir_path(root, rcpt, box, sizeof(box));
	if (rc != 0)
		return deliv_result_set(res, DELIV_FAIL, 550, 0,
		                        "5.1.3 bad recipient address for a maildir \"%s\"", rcpt);
	gettimeofday(&tv, NULL);
	maildir_host(host, sizeof(host));
	if (key)
		snprintf(name, sizeof(name), "mcapi.R%llu.%s", (unsigned long long)key, host);
	else
		snprintf(name, sizeof(name), "%lld.M%06ldP%dT%dQ%u.%s", (long long)tv.tv_sec,
		         (long)tv.tv_usec, (int)getpid(), (int)gettid(),
		         __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED), host);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", box, name);
	snprintf(dst, sizeof(dst), "%s/new/%s", box, name);
	/* a keyed name is held by one lease at a time; a stale tmp file of a crash is replaced.
	 * The directories are made only when that fails (a first delivery): checking them
	 * every time was some 18 mkdir calls per message. */
	fd = open(tmp, O_WRONLY | O_CREAT | (key ? O_TRUNC : O_EXCL) | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (maildir_make_box(box, failed, sizeof(failed)) != 0)
			return maildir_errno_status(errno, "create", failed, res);
		fd = open(tmp, O_WRONLY | O_CREAT | (key ? O_TRUNC : O_EXCL) | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return maildir_errno_status(errno, "create", tmp, res);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = errno;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		err = errno;
		goto fail;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		err = errno;
		goto fail;
	}
	rc = rename(tmp, dst);
	if (rc != 0 && errno == ENOENT) {
		/* tmp/ is there but new/ is not: make what is missing, once */
		if (maildir_make_box(box, failed, sizeof(failed)) != 0) {
			err = errno;
			unlink(tmp);
			return maildir_errno_status(err, "create", failed, res);
		}
		rc = rename(tmp, dst);
	}
	if (rc != 0) {
		err = errno;
		goto fail;
	}
	snprintf(dst, sizeof(dst), "%s/new", box);
	if (!sync_new) {
		res->new_unsynced = 1;
	} else if (maildir_sync_dir(dst) != 0) {
		/* the file is in new/ but perhaps not durably: deliver again rather than lose it */
		err = errno;
		snprintf(dst, sizeof(dst), "%s/new/%s", box, name);
		unlink(dst);
		return maildir_errno_status(err, "sync", box, res);
	}
	res->sent = (int64_t)len;
	return deliv_result_set(res, DELIV_SENT, 250, 0, "2.0.0 delivered to maildir as new/%s",
	                        name);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return maildir_errno_status(err, "write", tmp, res);
}
