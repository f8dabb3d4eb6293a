/* kernels_elementwise.c — numpy-broadcasting binary ops and simple unary math.
 *
 * Float math is done in float32 (as ONNX Runtime does); integer ops in their own type.
 * Binary ops run over ogq_bcast_iter's contiguous inner runs, so the common cases (same
 * shape, scalar operand, bias over the last axis) are plain vectorisable loops.
 */
#include <math.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"

/* ---------------------------------------------------------------- binary arithmetic */

enum binop { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

static enum ogq_status binary_infer(struct ogq_kernel_ctx *ctx)
{
    if (ctx->n_inputs != 2 || !ctx->inputs[0] || !ctx->inputs[1])
        return OGQ_KFAIL(ctx, "expects 2 inputs");
    if (ctx->inputs[0]->dtype != ctx->inputs[1]->dtype)
        return OGQ_KFAIL(ctx, "input dtypes differ (%s vs %s)",
                         ogq_dtype_name(ctx->inputs[0]->dtype), ogq_dtype_name(ctx->inputs[1]->dtype));
    static const enum ogq_dtype ok[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT64, OGQ_DTYPE_INT32};
    OGQ_TRY(ogq_require_input(ctx, 0, ok, 3));
    int rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    OGQ_TRY(ogq_broadcast_shape(ctx, ctx->inputs, 2, &rank, dims));
    return ogq_rt_tensor_set_shape(ctx->outputs[0], ctx->inputs[0]->dtype, rank, dims,
                                   ctx->node->name, ctx->err);
}

#define BINARY_LOOP(T, EXPR)                                                                       \
    do {                                                                                           \
        const T *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;                              \
        T *y = ctx->outputs[0]->data;                                                              \
        struct ogq_bcast_iter it;                                                                  \
        ogq_bcast_iter_init(&it, ctx->outputs[0], ctx->inputs, 2);                                 \
        while (ogq_bcast_iter_next(&it)) {                                                         \
            const T *pa = a + it.off[0], *pb = b + it.off[1];                                      \
            T *py = y + it.out;                                                                    \
            int64_t sa = it.step[0], sb = it.step[1];                                              \
            for (int64_t k = 0; k < it.len; k++) {                                                 \
                T x0 = pa[k * sa], x1 = pb[k * sb];                                                \
                py[k] = (EXPR);                                                                    \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static enum ogq_status binary_run(struct ogq_kernel_ctx *ctx, enum binop op)
{
    switch (ctx->outputs[0]->dtype) {
    case OGQ_DTYPE_FLOAT:
        switch (op) {
        case OP_ADD: BINARY_LOOP(float, x0 + x1); break;
        case OP_SUB: BINARY_LOOP(float, x0 - x1); break;
        case OP_MUL: BINARY_LOOP(float, x0 * x1); break;
        case OP_DIV: BINARY_LOOP(float, x0 / x1); break;
        }
        break;
    case OGQ_DTYPE_INT64:
        switch (op) {
        case OP_ADD: BINARY_LOOP(int64_t, (int64_t)((uint64_t)x0 + (uint64_t)x1)); break;
        case OP_SUB: BINARY_LOOP(int64_t, (int64_t)((uint64_t)x0 - (uint64_t)x1)); break;
        case OP_MUL: BINARY_LOOP(int64_t, (int64_t)((uint64_t)x0 * (uint64_t)x1)); break;
        case OP_DIV: BINARY_LOOP(int64_t, x1 == 0 ? 0 : (x1 == -1 ? (int64_t)(0 - (uint64_t)x0) : x0 / x1)); break;
        }
        break;
    case OGQ_DTYPE_INT32:
        switch (op) {
        case OP_ADD: BINARY_LOOP(int32_t, (int32_t)((uint32_t)x0 + (uint32_t)x1)); break;
        case OP_SUB: BINARY_LOOP(int32_t, (int32_t)((uint32_t)x0 - (uint32_t)x1)); break;
        case OP_MUL: BINARY_LOOP(int32_t, (int32_t)((uint32_t)x0 * (uint32_t)x1)); break;
        case OP_DIV: BINARY_LOOP(int32_t, x1 == 0 ? 0 : (x1 == -1 ? (int32_t)(0 - (uint32_t)x0) : x0 / x1)); break;
        }
        break;
    default:
        return OGQ_KFAIL(ctx, "unsupported dtype");
    }
    return OGQ_OK;
}

static enum ogq_status add_run(struct ogq_kernel_ctx *ctx) { return binary_run(ctx, OP_ADD); }
static enum ogq_status sub_run(struct ogq_kernel_ctx *ctx) { return binary_run(ctx, OP_SUB); }
static enum ogq_status mul_run(struct ogq_kernel_ctx *ctx) { return binary_run(ctx, OP_MUL); }
static enum ogq_status div_run(struct ogq_kernel_ctx *ctx) { return binary_run(ctx, OP_DIV); }

/* ---------------------------------------------------------------- family */

static const struct ogq_kernel kernels[] = {
    {"", "Add", 7, INT_MAX, NULL, NULL, binary_infer, NULL, add_run, false},
    {"", "Sub", 7, INT_MAX, NULL, NULL, binary_infer, NULL, sub_run, false},
    {"", "Mul", 7, INT_MAX, NULL, NULL, binary_infer, NULL, mul_run, false},
    {"", "Div", 7, INT_MAX, NULL, NULL, binary_infer, NULL, div_run, false},
};

const struct ogq_kernel_family ogq_family_elementwise = {"elementwise", kernels,
                                                         sizeof kernels / sizeof kernels[0]};
