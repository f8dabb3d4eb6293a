/* kernel_util.h — helpers shared by kernel families: broadcasting, axes, attributes,
 * reading small integer tensors (shapes, axes, indices). */
#ifndef OGQ_KERNEL_UTIL_H
#define OGQ_KERNEL_UTIL_H

#include "kernel.h"
#include "linalg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Numpy multidirectional broadcast of the non-NULL inputs' shapes into rank/dims. */
enum ogq_status ogq_broadcast_shape(const struct ogq_kernel_ctx *ctx,
                                    const struct ogq_rt_tensor *const *ins, size_t n, int *rank,
                                    int64_t *dims);

/* Element strides of `t` viewed with the output's rank/dims: 0 along broadcast axes. */
void ogq_broadcast_strides(const struct ogq_rt_tensor *t, int out_rank, const int64_t *out_dims,
                           int64_t *strides);

/* Iterates an output of rank/dims in contiguous inner runs over the last axis, tracking
 * the matching offsets of up to 3 broadcast inputs.
 *   struct ogq_bcast_iter it; ogq_bcast_iter_init(&it, out, ins, n);
 *   while (ogq_bcast_iter_next(&it)) for (k < it.len) out[it.out + k] = f(a[it.off[0] + k*it.step[0]], ...)
 */
struct ogq_bcast_iter {
    int rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    int64_t strides[3][OGQ_RT_MAX_RANK];
    int64_t idx[OGQ_RT_MAX_RANK];
    size_t n;
    int64_t len;     /* length of the current inner run */
    int64_t step[3]; /* inner stride of each input: 0 or 1 */
    int64_t off[3];  /* offsets of the run's first element */
    int64_t out;     /* output offset of the run */
    int64_t total, done;
};
void ogq_bcast_iter_init(struct ogq_bcast_iter *it, const struct ogq_rt_tensor *out,
                         const struct ogq_rt_tensor *const *ins, size_t n);
bool ogq_bcast_iter_next(struct ogq_bcast_iter *it);

/* Normalizes a possibly negative axis into [0, rank); fails naming the node. */
enum ogq_status ogq_normalize_axis(const struct ogq_kernel_ctx *ctx, int64_t axis, int rank,
                                   int *out);

/* INTS attribute: returns true and sets v and n when present. */
bool ogq_attr_ints(const struct ogq_node *node, const char *name, const int64_t **v, size_t *n);

/* Copies INTS attribute `name` (absent: *n = 0) into out[max], each value >= min_value.
 * More than `max` values is OGQ_ERR_UNSUPPORTED, a smaller value OGQ_ERR_FORMAT. */
enum ogq_status ogq_read_ints_attr(const struct ogq_node *node, const char *name, size_t max,
                                   int64_t min_value, int64_t *out, size_t *n,
                                   struct ogq_error *err);

/* The node's auto_pad attribute (default NOTSET); unknown values are OGQ_ERR_UNSUPPORTED. */
enum ogq_status ogq_read_auto_pad(const struct ogq_node *node, enum ogq_auto_pad *out,
                                  struct ogq_error *err);

/* Reads a 0-D or 1-D INT64/INT32 tensor into `out` (at most `max` values). */
enum ogq_status ogq_read_ints(const struct ogq_kernel_ctx *ctx, const struct ogq_rt_tensor *t,
                              const char *what, int64_t *out, size_t max, size_t *n);

/* Reads a scalar (or 1-element) tensor of any supported dtype as double. */
enum ogq_status ogq_read_scalar(const struct ogq_kernel_ctx *ctx, const struct ogq_rt_tensor *t,
                                const char *what, double *out);

/* Fails unless input i is present with dtype among the `n` listed ones. */
enum ogq_status ogq_require_input(const struct ogq_kernel_ctx *ctx, size_t i,
                                  const enum ogq_dtype *dtypes, size_t n);

/* Fails unless input i is present and FLOAT. */
enum ogq_status ogq_require_float(const struct ogq_kernel_ctx *ctx, size_t i);

/* Byte size of one element of a storage dtype (INT4/UINT4: 0, they are packed). */
size_t ogq_rt_elem_size(enum ogq_dtype dtype);

#ifdef __cplusplus
}
#endif

#endif
