/* buffer.h — reference-counted immutable byte buffers (heap or memory-mapped).
 *
 * Tensor payloads live in buffers so that initializers can share one mmap of an
 * external-data file, and so that an IR copy or a saved model can reference the
 * same bytes without copying. A buffer is freed when its last reference drops.
 */
#ifndef OGQ_BUFFER_H
#define OGQ_BUFFER_H

#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_buffer {
    void *data;    /* heap: owned; mmap: the mapping (read-only by contract) */
    size_t size;   /* bytes */
    int refcount;
    int is_mmap;
};

/* Returns a new reference to a zero-filled heap buffer of `size` bytes (size 0 allowed). */
enum ogq_status ogq_buffer_new(size_t size, struct ogq_buffer **out, struct ogq_error *err);

/* Wraps `data` (allocated with malloc) and takes ownership of it. */
enum ogq_status ogq_buffer_wrap(void *data, size_t size, struct ogq_buffer **out,
                                struct ogq_error *err);

/* Maps the whole file at `path` read-only (copy-on-write private mapping).
 * An empty file gives a buffer of size 0. Returns a new reference. */
enum ogq_status ogq_buffer_map_file(const char *path, struct ogq_buffer **out,
                                    struct ogq_error *err);

/* Returns `buf` with one more reference (buf may be NULL). */
struct ogq_buffer *ogq_buffer_ref(struct ogq_buffer *buf);

/* Drops one reference; frees the buffer with its last reference. NULL is a no-op. */
void ogq_buffer_unref(struct ogq_buffer *buf);

#ifdef __cplusplus
}
#endif

#endif
