/* linalg.h — the runtime's only door to BLAS/LAPACK (OpenBLAS). Row-major throughout.
 *
 * Also home of the convolution patch layout (im2col / col2im) shared by the Conv kernels
 * and the GPTQ pass, so that the Hessian of a Conv weight is built from exactly the
 * patches the runtime multiplies the weight with.
 */
#ifndef OGQ_LINALG_H
#define OGQ_LINALG_H

#include <stdbool.h>
#include <stdint.h>

#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_node;

/* Sets the runtime's thread count (requested <= 0: all cores): OpenBLAS's, and the size
 * of the worker pool behind ogq_parallel_for (requested - 1 detached workers that live
 * until exit). Only the first call in the process takes effect — OpenBLAS may stay
 * single-threaded if its pool is grown after the first BLAS call. Returns the count in
 * effect. Until it is called, ogq_parallel_for runs everything on the caller. */
int ogq_linalg_set_threads(int requested);

/* Runs fn(arg, task, tid) for every task in [0, n_tasks) on at most max_threads threads
 * of the pool (the caller is one of them) and returns when all are done. tid is in
 * [0, max_threads) and no two tasks with the same tid run at once, so tid can index
 * per-thread scratch (kernels pass ctx->threads, which their workspace() sized it for).
 * Tasks are handed out dynamically. While tasks run, BLAS calls made
 * from them are single-threaded; a parallel_for inside a task runs inline. Jobs are not
 * reentrant across caller threads: only one thread at a time may start them. */
typedef void (*ogq_task_fn)(void *arg, int64_t task, int tid);
void ogq_parallel_for(int64_t n_tasks, int max_threads, ogq_task_fn fn, void *arg);

/* Threads an ogq_parallel_for started here would use (1 inside a task or without pool). */
int ogq_parallel_threads(void);

/* C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, op = transpose when trans_*.
 * M == 1 or N == 1 goes to sgemv (same result up to summation order). beta == 0 ignores
 * C's previous contents. Large products are split into row or column blocks over the
 * worker pool (each element is still computed by one single sgemm, so the result does not
 * depend on the thread count beyond BLAS's own blocking). */
void ogq_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc);

/* y[M] = alpha * op(A) * x + beta * y, A is M x N row-major (op(A) is N x M when trans_a).
 * incx / incy are element strides of x and y. */
void ogq_sgemv(bool trans_a, int64_t m, int64_t n, float alpha, const float *a, int64_t lda,
               const float *x, int64_t incx, float beta, float *y, int64_t incy);

/* True when the CPU runs AVX2 code (kernels pick a multi-versioned loop with it) and the
 * environment does not set OGQ_NO_AVX2=1 (read once). */
bool ogq_cpu_has_avx2(void);

/* Function attributes for hot loops compiled twice, for the baseline ISA and for AVX2:
 * GCC at -O2 only vectorises loops without epilogues, so hot loops ask for the dynamic
 * cost model explicitly (clang vectorises at -O2 anyway). Use as
 *   OGQ_HOT static void f(...)            baseline clone
 *   OGQ_HOT_AVX2 static void f_avx2(...)  AVX2 clone (call only if ogq_cpu_has_avx2())
 * with the shared body in a `static inline OGQ_INLINE` function. */
#if defined(__GNUC__) && !defined(__clang__)
#define OGQ_HOT __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define OGQ_HOT
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define OGQ_HAVE_AVX2_CLONES 1
#define OGQ_HOT_AVX2 OGQ_HOT __attribute__((target("avx2")))
#else
#define OGQ_HAVE_AVX2_CLONES 0
#define OGQ_HOT_AVX2 OGQ_HOT
#endif
#if defined(__GNUC__)
#define OGQ_INLINE __attribute__((always_inline))
#else
#define OGQ_INLINE
#endif

/* ---------------------------------------------------------------- convolution patches */

#define OGQ_CONV_MAX_SPATIAL 3

/* Geometry of a convolution over nd = 1..3 spatial axes (the axes after N and C).
 * in/out: image and output spatial sizes; pad: padding before each axis (may be negative
 * for ConvTranspose's output_shape; padding after is implied by `out`). */
struct ogq_conv_geom {
    int nd;
    int64_t in[OGQ_CONV_MAX_SPATIAL];
    int64_t out[OGQ_CONV_MAX_SPATIAL];
    int64_t kernel[OGQ_CONV_MAX_SPATIAL];
    int64_t stride[OGQ_CONV_MAX_SPATIAL];
    int64_t dilation[OGQ_CONV_MAX_SPATIAL];
    int64_t pad[OGQ_CONV_MAX_SPATIAL];
};

enum ogq_auto_pad {
    OGQ_AUTO_PAD_NOTSET,
    OGQ_AUTO_PAD_SAME_UPPER,
    OGQ_AUTO_PAD_SAME_LOWER,
    OGQ_AUTO_PAD_VALID,
};

/* Products of the spatial sizes. */
int64_t ogq_conv_geom_in_size(const struct ogq_conv_geom *g);
int64_t ogq_conv_geom_out_size(const struct ogq_conv_geom *g);
int64_t ogq_conv_geom_kernel_size(const struct ogq_conv_geom *g);

/* Completes g->out and g->pad from g->nd/in/kernel/stride/dilation with ONNX Conv rules:
 * NOTSET uses `pads` (2*nd values, all begins then all ends; NULL = zeros), VALID pads
 * nothing, SAME_UPPER/SAME_LOWER give out = ceil(in / stride) with the odd pad at the
 * end / beginning. Returns false when an output size would be below 1. */
bool ogq_conv_geom_resolve(struct ogq_conv_geom *g, enum ogq_auto_pad auto_pad,
                           const int64_t *pads);

/* Geometry of a Conv node (any opset) for input X dims and weight W dims (rank 3..5,
 * the same for both): reads auto_pad, dilations, group, kernel_shape, pads, strides and
 * checks them against the shapes. Implemented in kernels_conv.c — it is the code the Conv
 * kernel itself runs. `group` may be NULL. Fails naming the node. */
enum ogq_status ogq_conv_node_geom(const struct ogq_node *node, int rank, const int64_t *x_dims,
                                   const int64_t *w_dims, struct ogq_conv_geom *g, int64_t *group,
                                   struct ogq_error *err);

/* im2col. `im` is `channels` images of the input spatial size, dense [C, in...]; `col`
 * receives the patch matrix, dense row-major [channels * kernel_size, out_size]:
 *   row    (c * kernel_size + kidx), kidx the row-major index of the kernel tap
 *          (kd, kh, kw), i.e. the column order of a Conv weight [M, C, k...] viewed as
 *          [M, C * kernel_size];
 *   column oidx, the row-major index of the output position;
 *   value  im[c][o * stride + k * dilation - pad] per axis, 0 outside the image.
 * So Conv output (one image, one group) = W[M, C*ks] @ col, and the GPTQ Hessian of the
 * weight over a batch is the sum of col @ col^T. */
void ogq_im2col_f32(const struct ogq_conv_geom *g, int64_t channels, const float *im, float *col);

/* The same for output rows [r0, r1) only, where a row is the out_w positions sharing the
 * leading output coordinates (row index = row-major index over out[0..nd-2]; 1-D: one
 * row): writes columns [r0 * out_w, r1 * out_w) of the full patch matrix as a
 * [channels * kernel_size, (r1 - r0) * out_w] block whose rows are `ld` floats apart
 * (ld >= (r1 - r0) * out_w). Lets callers tile the columns or put several images side
 * by side. */
void ogq_im2col_rows_f32(const struct ogq_conv_geom *g, int64_t channels, const float *im,
                         int64_t r0, int64_t r1, float *col, int64_t ld);

/* The adjoint of im2col: im[c][o * stride + k * dilation - pad] += col[row][oidx] for
 * every in-range position (others are dropped). `im` is accumulated into, not cleared.
 * ConvTranspose uses it with the roles of in/out swapped (in = its output image). */
void ogq_col2im_add_f32(const struct ogq_conv_geom *g, int64_t channels, const float *col,
                        float *im);

#ifdef __cplusplus
}
#endif

#endif
