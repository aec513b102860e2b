/* Durable, atomic writes of small files (keys, credentials, profiles): a crash leaves
 * either no file / the old file, or the whole new one, never a part. */
#ifndef MCAPI_COMMON_FILE_H
#define MCAPI_COMMON_FILE_H

#include <stddef.h>
#include <sys/types.h>

struct err;

/* Writes data[0..len) to path through a temporary file beside it, created with mode and
 * fsync'd, then moved into place and the directory fsync'd. replace = 1 renames over an
 * existing file; replace = 0 links, so an existing path is never touched and the call
 * returns MC_ERR_EXISTS (an exclusive create that is atomic too). Returns 0, MC_ERR_EXISTS,
 * MC_ERR_NOMEM or MC_ERR_IO with a message naming path in e. The temporary file never
 * outlives the call. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int replace,
                      struct err *e);

/* write(2) until done (retrying EINTR); 0 or -1 with errno set. */
int file_write_all(int fd, const void *data, size_t len);

/* fsync(2) of the directory that holds path; 0 or -1 with errno set. */
int file_sync_dir_of(const char *path);

#endif
