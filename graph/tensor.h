/* tensor.h — a typed, shaped array whose bytes live in a shared buffer.
 *
 * Used for initializers, Constant/attribute tensors and (in the runtime) for
 * values computed at run time. Numeric data is dense, row-major, little-endian,
 * exactly as ONNX raw_data stores it (sub-byte types packed lowest bits first).
 * STRING tensors keep their elements in `strings` instead of `buf`.
 */
#ifndef OGQ_TENSOR_H
#define OGQ_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buffer.h"
#include "../util/status.h"
#include "dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_bytes {
    uint8_t *data; /* owned; NUL-terminated for convenience (not counted in len) */
    size_t len;
};

struct ogq_tensor {
    char *name;             /* owned; may be NULL */
    enum ogq_dtype dtype;
    int rank;
    int64_t *dims;          /* owned, `rank` entries (NULL when rank is 0) */
    int64_t numel;          /* product of dims (1 for a scalar) */
    struct ogq_buffer *buf; /* one reference owned; NULL for STRING tensors */
    size_t offset;          /* byte offset of the data inside buf */
    size_t nbytes;          /* storage bytes (ogq_dtype_storage_bytes) */
    struct ogq_bytes *strings; /* STRING only: `numel` owned elements */
    char *doc_string;       /* owned; may be NULL */
    /* Loader bookkeeping for faithful save: the TensorProto this came from (its payload
     * was moved out) or NULL. Owned by the model's retained protobuf, never freed here. */
    const void *src;
};

/* Pointer to the first data byte (numeric tensors). The data of a tensor loaded from a
 * file must be treated as read-only: to change values, create a new tensor. */
static inline void *ogq_tensor_data(const struct ogq_tensor *t)
{
    return t->buf ? (char *)t->buf->data + t->offset : NULL;
}

/* Creates a tensor of `dtype` and shape `dims` with zero-filled storage.
 * Fails (OGQ_ERR_FORMAT) on negative dims or overflowing sizes. Returns a new tensor
 * the caller frees with ogq_tensor_free. `name` may be NULL and is copied. */
enum ogq_status ogq_tensor_new(const char *name, enum ogq_dtype dtype, int rank,
                               const int64_t *dims, struct ogq_tensor **out,
                               struct ogq_error *err);

/* Creates a tensor viewing `nbytes` at `offset` of `buf` (takes a new reference on buf).
 * Checks that the bytes match dims×dtype and lie inside the buffer. */
enum ogq_status ogq_tensor_new_view(const char *name, enum ogq_dtype dtype, int rank,
                                    const int64_t *dims, struct ogq_buffer *buf, size_t offset,
                                    size_t nbytes, struct ogq_tensor **out,
                                    struct ogq_error *err);

/* Deep copy of metadata; shares the data buffer (new reference). Strings are copied. */
enum ogq_status ogq_tensor_clone(const struct ogq_tensor *t, struct ogq_tensor **out,
                                 struct ogq_error *err);

/* Frees `t` and drops its buffer reference. NULL is a no-op. */
void ogq_tensor_free(struct ogq_tensor *t);

/* Replaces the name (copied). */
enum ogq_status ogq_tensor_set_name(struct ogq_tensor *t, const char *name,
                                    struct ogq_error *err);

/* True when dtype, shape and bytes (or strings) are identical. */
bool ogq_tensor_equal(const struct ogq_tensor *a, const struct ogq_tensor *b);

/* Formats the shape as "[1,3,224,224]" into buf. */
void ogq_dims_format(const int64_t *dims, int rank, char *buf, size_t size);

/* strdup that tolerates NULL (returns NULL for NULL). Sets *ok false on allocation failure. */
char *ogq_strdup_or_null(const char *s, bool *ok);

#ifdef __cplusplus
}
#endif

#endif
