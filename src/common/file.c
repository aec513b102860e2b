/* Atomic file writes; see file.h. */
#include "file.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

int file_write_all(int fd, const void *data, size_t len)
{
	const char *c = data;

	while (len) {
		ssize_t w = write(fd, c, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		len -= (size_t)w;
	}
	return 0;
}

int file_sync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = -1, saved;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		saved = errno;
		close(fd);
		errno = saved;
	}
	free(dir);
	return rc;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int replace,
                      struct err *e)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	int fd = -1, rc;

	if (!tmp)
		return err_set(e, MC_ERR_NOMEM, "out of memory");
	snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 until fchmod */
	if (fd < 0) {
		rc = err_set(e, MC_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, mode) != 0 || file_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		rc = err_set(e, MC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = err_set(e, MC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (replace ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
		rc = !replace && errno == EEXIST ? MC_ERR_EXISTS
		                                 : err_set(e, MC_ERR_IO, "cannot create '%s': %s",
		                                           path, strerror(errno));
		goto out;
	}
	if (replace)
		tmp[0] = '\0'; /* renamed: nothing left to remove */
	if (file_sync_dir_of(path) != 0) {
		rc = err_set(e, MC_ERR_IO, "cannot sync the directory of '%s': %s", path,
		             strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlink(tmp);
	free(tmp);
	return rc;
}
