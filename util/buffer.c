#include "buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum ogq_status ogq_buffer_wrap(void *data, size_t size, struct ogq_buffer **out,
                                struct ogq_error *err)
{
    struct ogq_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return OGQ_NOMEM(err);
    b->data = data;
    b->size = size;
    b->refcount = 1;
    *out = b;
    return OGQ_OK;
}

enum ogq_status ogq_buffer_new(size_t size, struct ogq_buffer **out, struct ogq_error *err)
{
    /* calloc(0) may return NULL; always allocate at least one byte so data is valid. */
    void *data = calloc(size ? size : 1, 1);
    if (!data)
        return OGQ_NOMEM(err);
    enum ogq_status st = ogq_buffer_wrap(data, size, out, err);
    if (st != OGQ_OK)
        free(data);
    return st;
}

enum ogq_status ogq_buffer_map_file(const char *path, struct ogq_buffer **out,
                                    struct ogq_error *err)
{
    /* O_NONBLOCK: opening a FIFO (a hostile "model" or external-data file) must not
     * wait for a writer; it is refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return ogq_error_set(err, OGQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ogq_error_set(err, OGQ_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ogq_error_set(err, OGQ_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return ogq_buffer_new(0, out, err);
    }
    /* Private writable mapping: an accidental write never reaches the file, and
     * pages are shared with the page cache until then. */
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ogq_error_set(err, OGQ_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    struct ogq_buffer *b = calloc(1, sizeof *b);
    if (!b) {
        munmap(map, size);
        return OGQ_NOMEM(err);
    }
    b->data = map;
    b->size = size;
    b->refcount = 1;
    b->is_mmap = 1;
    *out = b;
    return OGQ_OK;
}

struct ogq_buffer *ogq_buffer_ref(struct ogq_buffer *buf)
{
    if (buf)
        buf->refcount++;
    return buf;
}

void ogq_buffer_unref(struct ogq_buffer *buf)
{
    if (!buf || --buf->refcount > 0)
        return;
    if (buf->is_mmap)
        munmap(buf->data, buf->size);
    else
        free(buf->data);
    free(buf);
}
