/* kernel.h — the contract between the executor and op kernels.
 *
 * A kernel family file (runtime/kernels_<family>.c) defines an array of
 * `struct ogq_kernel` entries and exports it through one `struct ogq_kernel_family`
 * listed in runtime/registry.c. Adding an op touches its family file only.
 *
 * Life cycle of a node:
 *   plan time:  prepare(node, opset) parses and validates attributes into a params block
 *               (or fails with a message naming what is unsupported; the executor
 *               collects these for every node before giving up).
 *   each run:   infer() sets every output's dtype and shape from the inputs (whose data
 *               is available, so shape tensors can be read); the executor allocates the
 *               outputs and `workspace()` bytes of scratch; run() computes.
 * Kernels never allocate memory in run(); they may only write their outputs and scratch.
 * Inputs are read-only (they may be initializers or shared buffers). An omitted
 * optional input is NULL. All errors name the node: use ogq_kernel_fail().
 */
#ifndef OGQ_KERNEL_H
#define OGQ_KERNEL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "rt_tensor.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_kernel_ctx {
    const struct ogq_node *node;
    int64_t opset;                  /* resolved opset version of the node's domain */
    const void *params;             /* from prepare(), may be NULL */
    const struct ogq_rt_tensor *const *inputs; /* n_inputs entries, NULL = omitted */
    size_t n_inputs;
    struct ogq_rt_tensor *const *outputs;      /* n_outputs entries, NULL = omitted */
    size_t n_outputs;
    void *scratch;                  /* workspace() bytes, 64-byte aligned */
    size_t scratch_size;
    int threads;                    /* threads the kernel may use (BLAS is set globally) */
    struct ogq_error *err;
};

struct ogq_kernel {
    const char *domain;  /* "" for ai.onnx, "com.microsoft", ... */
    const char *op_type;
    int since_version;   /* first opset this entry handles */
    int until_version;   /* last opset (INT_MAX: open-ended) */
    /* Validates attributes and input counts; may allocate *params (freed by release).
     * May be NULL when the op has nothing to check. */
    enum ogq_status (*prepare)(const struct ogq_node *node, int64_t opset, void **params,
                               struct ogq_error *err);
    void (*release)(void *params);
    /* Required: outputs' dtype and shape (ogq_rt_tensor_set_shape). */
    enum ogq_status (*infer)(struct ogq_kernel_ctx *ctx);
    /* Optional: scratch bytes needed by run() for these shapes. */
    size_t (*workspace)(const struct ogq_kernel_ctx *ctx);
    /* Required. */
    enum ogq_status (*run)(struct ogq_kernel_ctx *ctx);
    /* When true, output 0 may share input 0's buffer (same bytes, new shape), e.g.
     * Reshape/Squeeze/Identity: the executor aliases instead of calling run(). */
    bool output0_aliases_input0;
};

struct ogq_kernel_family {
    const char *name;
    const struct ogq_kernel *kernels;
    size_t count;
};

/* Fails with OGQ_ERR_FORMAT (or `code`) and "node 'NAME' (OP): message". */
enum ogq_status ogq_kernel_fail(const struct ogq_node *node, enum ogq_status code,
                                struct ogq_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Shorthand inside kernels. */
#define OGQ_KFAIL(ctx, ...) ogq_kernel_fail((ctx)->node, OGQ_ERR_FORMAT, (ctx)->err, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
