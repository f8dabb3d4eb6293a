/* kernels_elementwise.c — numpy-broadcasting binary/variadic ops, comparisons, logic,
 * Where, Clip, Cast/CastLike and simple unary math (Exp and Erf are in kernels_activation.c,
 * next to the vectorised exp they use).
 *
 * Numerics: float math is done in float32 (as ONNX Runtime does) except where a result
 * must match numpy's promotion to float64 (Pow with mixed int/float operands). Integer
 * arithmetic wraps (two's complement, computed through unsigned types so it is never UB);
 * integer division and modulo by zero give 0 instead of trapping.
 * Layout: binary ops run over ogq_bcast_iter's contiguous inner runs, specialised for the
 * (contiguous, contiguous), (contiguous, scalar) and (scalar, contiguous) cases so that
 * the common shapes (same shape, scalar operand, bias over the last axes) are plain loops.
 * Loops are written as fixed-size blocks (VLOOP) because GCC's -O2 vectoriser only
 * vectorises loops whose trip count is a known multiple of the vector width.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"

/* ---------------------------------------------------------------- loop helpers */

/* Hot loops are also compiled for x86-64-v4 (AVX-512) and v3 (AVX2) and picked at load time
 * (GCC function multiversioning, an ifunc): the baseline x86-64 target has only SSE2.
 * -DOGQ_NO_VEC_CLONES builds the plain versions only (to test them on any machine). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) && \
    !defined(OGQ_NO_VEC_CLONES)
#define VEC_CLONES                                                                                 \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VEC_CLONES
#endif

#include "vec_loop.h"

/* y[i] = EXPR(x) over the whole input (same shape in and out). */
#define UNARY_LOOP(TX, TY, EXPR)                                                                   \
    do {                                                                                           \
        const TX *restrict xp_ = ctx->inputs[0]->data;                                             \
        TY *restrict yp_ = ctx->outputs[0]->data;                                                  \
        VLOOP(ctx->outputs[0]->numel, {                                                            \
            TX x = xp_[k];                                                                         \
            yp_[k] = (TY)(EXPR);                                                                   \
        });                                                                                        \
    } while (0)

/* y = EXPR(x0, x1) with numpy broadcasting of inputs IA and IB into output 0. */
#define BCAST2_IDX(TA, TB, TY, IA, IB, EXPR)                                                       \
    do {                                                                                           \
        const struct ogq_rt_tensor *ins_b2_[2] = {ctx->inputs[IA], ctx->inputs[IB]};               \
        const TA *a_b2_ = ins_b2_[0]->data;                                                        \
        const TB *b_b2_ = ins_b2_[1]->data;                                                        \
        TY *y_b2_ = ctx->outputs[0]->data;                                                         \
        struct ogq_bcast_iter it_b2_;                                                              \
        ogq_bcast_iter_init(&it_b2_, ctx->outputs[0], ins_b2_, 2);                                 \
        while (ogq_bcast_iter_next(&it_b2_)) {                                                     \
            const TA *restrict pa = a_b2_ + it_b2_.off[0];                                         \
            const TB *restrict pb = b_b2_ + it_b2_.off[1];                                         \
            TY *restrict py = y_b2_ + it_b2_.out;                                                  \
            if (it_b2_.step[0] && it_b2_.step[1]) {                                                \
                VLOOP(it_b2_.len, {                                                                \
                    TA x0 = pa[k];                                                                 \
                    TB x1 = pb[k];                                                                 \
                    py[k] = (TY)(EXPR);                                                            \
                });                                                                                \
            } else if (it_b2_.step[0]) {                                                           \
                const TB x1 = pb[0];                                                               \
                VLOOP(it_b2_.len, {                                                                \
                    TA x0 = pa[k];                                                                 \
                    py[k] = (TY)(EXPR);                                                            \
                });                                                                                \
            } else if (it_b2_.step[1]) {                                                           \
                const TA x0 = pa[0];                                                               \
                VLOOP(it_b2_.len, {                                                                \
                    TB x1 = pb[k];                                                                 \
                    py[k] = (TY)(EXPR);                                                            \
                });                                                                                \
            } else {                                                                               \
                const TA x0 = pa[0];                                                               \
                const TB x1 = pb[0];                                                               \
                const TY v_b2_ = (TY)(EXPR);                                                       \
                VLOOP(it_b2_.len, py[k] = v_b2_);                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define BCAST2(TA, TB, TY, EXPR) BCAST2_IDX(TA, TB, TY, 0, 1, EXPR)

/* ---------------------------------------------------------------- checks and conversions */

static const enum ogq_dtype arith_types[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT64, OGQ_DTYPE_INT32,
                                             OGQ_DTYPE_INT8, OGQ_DTYPE_UINT8};
#define N_ARITH (sizeof arith_types / sizeof arith_types[0])
static const enum ogq_dtype all_types[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT64, OGQ_DTYPE_INT32,
                                           OGQ_DTYPE_INT8,  OGQ_DTYPE_UINT8, OGQ_DTYPE_BOOL};
#define N_ALL (sizeof all_types / sizeof all_types[0])
static const enum ogq_dtype bool_type[] = {OGQ_DTYPE_BOOL};
static const enum ogq_dtype float_type[] = {OGQ_DTYPE_FLOAT};

/* Fails unless there are at least `n` inputs, all present, and an output 0. */
static enum ogq_status need_inputs(const struct ogq_kernel_ctx *ctx, size_t n)
{
    if (ctx->n_inputs < n)
        return OGQ_KFAIL(ctx, "expects %zu input%s, got %zu", n, n == 1 ? "" : "s",
                         ctx->n_inputs);
    for (size_t i = 0; i < n; i++)
        if (!ctx->inputs[i])
            return OGQ_KFAIL(ctx, "input %zu is missing", i);
    if (ctx->n_outputs < 1 || !ctx->outputs[0])
        return OGQ_KFAIL(ctx, "output 0 is missing");
    return OGQ_OK;
}

/* Input i has the same dtype as input 0. */
static enum ogq_status same_dtype(const struct ogq_kernel_ctx *ctx, size_t i)
{
    if (ctx->inputs[i]->dtype != ctx->inputs[0]->dtype)
        return OGQ_KFAIL(ctx, "input dtypes differ (%s vs %s)",
                         ogq_dtype_name(ctx->inputs[0]->dtype),
                         ogq_dtype_name(ctx->inputs[i]->dtype));
    return OGQ_OK;
}

static enum ogq_status unsupported_dtype(const struct ogq_kernel_ctx *ctx, enum ogq_dtype d)
{
    return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err, "dtype %s is not supported",
                           ogq_dtype_name(d));
}

/* Output 0 = broadcast of the first n inputs, with dtype `dt`. */
static enum ogq_status set_bcast_output(struct ogq_kernel_ctx *ctx, size_t n, enum ogq_dtype dt)
{
    int rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    OGQ_TRY(ogq_broadcast_shape(ctx, ctx->inputs, n, &rank, dims));
    return ogq_rt_tensor_set_shape(ctx->outputs[0], dt, rank, dims, ctx->node->name, ctx->err);
}

static enum ogq_status set_same_output(struct ogq_kernel_ctx *ctx, enum ogq_dtype dt)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    return ogq_rt_tensor_set_shape(ctx->outputs[0], dt, x->rank, x->dims, ctx->node->name,
                                   ctx->err);
}

/* Float to integer conversions: truncate toward zero. Out-of-range values (undefined in
 * C and in ONNX) saturate; NaN gives 0. Narrower integer types then wrap, as numpy and
 * ORT do on x86 for int8/uint8. */
static inline int64_t f2i64(double v)
{
    if (!(v == v))
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static inline int32_t f2i32(double v)
{
    if (!(v == v))
        return 0;
    if (v >= 2147483647.0)
        return INT32_MAX;
    if (v <= -2147483648.0)
        return INT32_MIN;
    return (int32_t)v;
}

static inline int8_t wrap_i8(int64_t v) { return (int8_t)(uint8_t)(uint64_t)v; }
static inline uint8_t wrap_u8(int64_t v) { return (uint8_t)(uint64_t)v; }
static inline int32_t wrap_i32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

/* ---------------------------------------------------------------- Add Sub Mul Div */

enum binop { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

static enum ogq_status arith_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 2));
    OGQ_TRY(same_dtype(ctx, 1));
    OGQ_TRY(ogq_require_input(ctx, 0, arith_types, N_ARITH));
    return set_bcast_output(ctx, 2, ctx->inputs[0]->dtype);
}

/* Integer division truncates toward zero (C and ONNX); x / 0 gives 0 and INT_MIN / -1
 * wraps, instead of trapping. */
#define IDIV(T, UT, a, b) ((b) == 0 ? (T)0 : (b) == -1 ? (T)(0 - (UT)(a)) : (T)((a) / (b)))

VEC_CLONES static enum ogq_status binary_run(struct ogq_kernel_ctx *ctx, enum binop op)
{
    switch (ctx->outputs[0]->dtype) {
    case OGQ_DTYPE_FLOAT:
        switch (op) {
        case OP_ADD: BCAST2(float, float, float, x0 + x1); break;
        case OP_SUB: BCAST2(float, float, float, x0 - x1); break;
        case OP_MUL: BCAST2(float, float, float, x0 * x1); break;
        case OP_DIV: BCAST2(float, float, float, x0 / x1); break;
        }
        break;
    case OGQ_DTYPE_INT64:
        switch (op) {
        case OP_ADD: BCAST2(int64_t, int64_t, int64_t, (uint64_t)x0 + (uint64_t)x1); break;
        case OP_SUB: BCAST2(int64_t, int64_t, int64_t, (uint64_t)x0 - (uint64_t)x1); break;
        case OP_MUL: BCAST2(int64_t, int64_t, int64_t, (uint64_t)x0 * (uint64_t)x1); break;
        case OP_DIV: BCAST2(int64_t, int64_t, int64_t, IDIV(int64_t, uint64_t, x0, x1)); break;
        }
        break;
    case OGQ_DTYPE_INT32:
        switch (op) {
        case OP_ADD: BCAST2(int32_t, int32_t, int32_t, (uint32_t)x0 + (uint32_t)x1); break;
        case OP_SUB: BCAST2(int32_t, int32_t, int32_t, (uint32_t)x0 - (uint32_t)x1); break;
        case OP_MUL: BCAST2(int32_t, int32_t, int32_t, (uint32_t)x0 * (uint32_t)x1); break;
        case OP_DIV: BCAST2(int32_t, int32_t, int32_t, IDIV(int32_t, uint32_t, x0, x1)); break;
        }
        break;
    case OGQ_DTYPE_INT8: /* promoted to int: no overflow; the narrowing wraps */
        switch (op) {
        case OP_ADD: BCAST2(int8_t, int8_t, int8_t, wrap_i8(x0 + x1)); break;
        case OP_SUB: BCAST2(int8_t, int8_t, int8_t, wrap_i8(x0 - x1)); break;
        case OP_MUL: BCAST2(int8_t, int8_t, int8_t, wrap_i8(x0 * x1)); break;
        case OP_DIV: BCAST2(int8_t, int8_t, int8_t, x1 == 0 ? 0 : wrap_i8(x0 / x1)); break;
        }
        break;
    case OGQ_DTYPE_UINT8:
        switch (op) {
        case OP_ADD: BCAST2(uint8_t, uint8_t, uint8_t, x0 + x1); break;
        case OP_SUB: BCAST2(uint8_t, uint8_t, uint8_t, x0 - x1); break;
        case OP_MUL: BCAST2(uint8_t, uint8_t, uint8_t, (unsigned)x0 * x1); break;
        case OP_DIV: BCAST2(uint8_t, uint8_t, uint8_t, x1 == 0 ? 0 : x0 / x1); break;
        }
        break;
    default:
        return unsupported_dtype(ctx, ctx->outputs[0]->dtype);
    }
    return OGQ_OK;
}

static enum ogq_status add_run(struct ogq_kernel_ctx *ctx) { return binary_run(ctx, OP_ADD); }
static enum ogq_status sub_run(struct ogq_kernel_ctx *ctx) { return binary_run(ctx, OP_SUB); }
static enum ogq_status mul_run(struct ogq_kernel_ctx *ctx) { return binary_run(ctx, OP_MUL); }
static enum ogq_status div_run(struct ogq_kernel_ctx *ctx) { return binary_run(ctx, OP_DIV); }

/* ---------------------------------------------------------------- Pow */

/* Base: FLOAT, INT32, INT64; exponent: FLOAT or any integer type. Output has the base's
 * dtype. Like the ONNX reference (numpy), mixed int/float operands are computed in
 * float64 and then converted back (truncated for integer bases). */
static const enum ogq_dtype pow_base_types[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT64,
                                                OGQ_DTYPE_INT32};

static enum ogq_status pow_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 2));
    OGQ_TRY(ogq_require_input(ctx, 0, pow_base_types, 3));
    OGQ_TRY(ogq_require_input(ctx, 1, arith_types, N_ARITH));
    return set_bcast_output(ctx, 2, ctx->inputs[0]->dtype);
}

/* b^e with wrapping integer arithmetic; negative exponents give the truncated real
 * result (1 or -1 for bases of magnitude 1, else 0). */
static inline int64_t ipow(int64_t b, int64_t e)
{
    if (e < 0)
        return b == 1 ? 1 : b == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, x = (uint64_t)b;
    while (e) {
        if (e & 1)
            r *= x;
        x *= x;
        e >>= 1;
    }
    return (int64_t)r;
}

/* Common scalar exponents without powf: 2 (x*x is correctly rounded), 3 and 4 (within
 * an ulp or two), 1, 0, -1, 0.5 (sqrt, with pow's +0 for -0 and +inf for -inf). A
 * 1-element exponent only adds size-1 axes, so the output is laid out like the base.
 * Returns false for other exponents. */
VEC_CLONES static bool pow_scalar(struct ogq_kernel_ctx *ctx)
{
    float e = ((const float *)ctx->inputs[1]->data)[0];
    if (e == 2.0f)
        UNARY_LOOP(float, float, x * x);
    else if (e == 3.0f)
        UNARY_LOOP(float, float, x * x * x);
    else if (e == 4.0f)
        UNARY_LOOP(float, float, (x * x) * (x * x));
    else if (e == 1.0f)
        UNARY_LOOP(float, float, x);
    else if (e == 0.0f)
        UNARY_LOOP(float, float, ((void)x, 1.0f)); /* pow(x, 0) = 1, even for NaN */
    else if (e == -1.0f)
        UNARY_LOOP(float, float, 1.0f / x);
    else if (e == 0.5f)
        UNARY_LOOP(float, float, x == -INFINITY ? INFINITY : sqrtf(x) + 0.0f);
    else
        return false;
    return true;
}

#define POW_FLOAT_INT(TE) BCAST2(float, TE, float, (float)pow((double)x0, (double)x1))
#define POW_INT_INT(TB, TE, WRAP) BCAST2(TB, TE, TB, WRAP(ipow((int64_t)x0, (int64_t)x1)))

static enum ogq_status pow_run(struct ogq_kernel_ctx *ctx)
{
    enum ogq_dtype bt = ctx->inputs[0]->dtype, et = ctx->inputs[1]->dtype;
    if (bt == OGQ_DTYPE_FLOAT) {
        switch (et) {
        case OGQ_DTYPE_FLOAT:
            if (ctx->inputs[1]->numel == 1 && pow_scalar(ctx))
                break;
            BCAST2(float, float, float, powf(x0, x1));
            break;
        case OGQ_DTYPE_INT64: POW_FLOAT_INT(int64_t); break;
        case OGQ_DTYPE_INT32: POW_FLOAT_INT(int32_t); break;
        case OGQ_DTYPE_INT8: POW_FLOAT_INT(int8_t); break;
        case OGQ_DTYPE_UINT8: POW_FLOAT_INT(uint8_t); break;
        default: return unsupported_dtype(ctx, et);
        }
    } else if (bt == OGQ_DTYPE_INT64) {
        switch (et) {
        case OGQ_DTYPE_FLOAT:
            BCAST2(int64_t, float, int64_t, f2i64(pow((double)x0, (double)x1)));
            break;
        case OGQ_DTYPE_INT64: POW_INT_INT(int64_t, int64_t, (int64_t)); break;
        case OGQ_DTYPE_INT32: POW_INT_INT(int64_t, int32_t, (int64_t)); break;
        case OGQ_DTYPE_INT8: POW_INT_INT(int64_t, int8_t, (int64_t)); break;
        case OGQ_DTYPE_UINT8: POW_INT_INT(int64_t, uint8_t, (int64_t)); break;
        default: return unsupported_dtype(ctx, et);
        }
    } else {
        switch (et) {
        case OGQ_DTYPE_FLOAT:
            BCAST2(int32_t, float, int32_t, f2i32(pow((double)x0, (double)x1)));
            break;
        case OGQ_DTYPE_INT64: POW_INT_INT(int32_t, int64_t, wrap_i32); break;
        case OGQ_DTYPE_INT32: POW_INT_INT(int32_t, int32_t, wrap_i32); break;
        case OGQ_DTYPE_INT8: POW_INT_INT(int32_t, int8_t, wrap_i32); break;
        case OGQ_DTYPE_UINT8: POW_INT_INT(int32_t, uint8_t, wrap_i32); break;
        default: return unsupported_dtype(ctx, et);
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Mod */

/* fmod=0: numpy's mod (result has the divisor's sign); fmod=1: C fmod (dividend's sign).
 * x mod 0 gives 0 for integers (numpy's convention, no trap). */
static enum ogq_status mod_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 2));
    OGQ_TRY(same_dtype(ctx, 1));
    OGQ_TRY(ogq_require_input(ctx, 0, arith_types, N_ARITH));
    return set_bcast_output(ctx, 2, ctx->inputs[0]->dtype);
}

static enum ogq_status mod_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                   struct ogq_error *err)
{
    (void)opset;
    (void)params;
    int64_t f = ogq_node_attr_int(node, "fmod", 0);
    if (f != 0 && f != 1)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "fmod must be 0 or 1, got %lld",
                               (long long)f);
    return OGQ_OK;
}

static inline float py_fmodf(float a, float b)
{
    float r = fmodf(a, b);
    if (r != 0.0f) {
        if ((r < 0.0f) != (b < 0.0f))
            r += b;
    } else {
        r = copysignf(0.0f, b);
    }
    return r;
}

/* Truncated remainder, safe for b == 0 and b == -1. */
#define IREM(a, b) ((b) == 0 || (b) == -1 ? 0 : (a) % (b))
/* Floored remainder: adjust when the signs of r and b differ. */
#define IMOD(T, a, b, r) ((r) != 0 && (((r) < 0) != ((b) < 0)) ? (T)((r) + (b)) : (T)(r))

static enum ogq_status mod_run(struct ogq_kernel_ctx *ctx)
{
    bool fm = ogq_node_attr_int(ctx->node, "fmod", 0) != 0;
    switch (ctx->outputs[0]->dtype) {
    case OGQ_DTYPE_FLOAT:
        if (fm)
            BCAST2(float, float, float, fmodf(x0, x1));
        else
            BCAST2(float, float, float, py_fmodf(x0, x1));
        break;
    case OGQ_DTYPE_INT64:
        if (fm)
            BCAST2(int64_t, int64_t, int64_t, IREM(x0, x1));
        else
            BCAST2(int64_t, int64_t, int64_t, IMOD(int64_t, x0, x1, IREM(x0, x1)));
        break;
    case OGQ_DTYPE_INT32:
        if (fm)
            BCAST2(int32_t, int32_t, int32_t, IREM(x0, x1));
        else
            BCAST2(int32_t, int32_t, int32_t, IMOD(int32_t, x0, x1, IREM(x0, x1)));
        break;
    case OGQ_DTYPE_INT8:
        if (fm)
            BCAST2(int8_t, int8_t, int8_t, IREM(x0, x1));
        else
            BCAST2(int8_t, int8_t, int8_t, IMOD(int8_t, x0, x1, IREM(x0, x1)));
        break;
    case OGQ_DTYPE_UINT8: BCAST2(uint8_t, uint8_t, uint8_t, x1 == 0 ? 0 : x0 % x1); break;
    default: return unsupported_dtype(ctx, ctx->outputs[0]->dtype);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- comparisons, logic */

enum cmpop { CMP_EQ, CMP_LT, CMP_GT, CMP_LE, CMP_GE };

static enum ogq_status cmp_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 2));
    OGQ_TRY(same_dtype(ctx, 1));
    OGQ_TRY(ogq_require_input(ctx, 0, all_types, N_ALL));
    return set_bcast_output(ctx, 2, OGQ_DTYPE_BOOL);
}

#define CMP_CASES(T)                                                                               \
    switch (op) {                                                                                  \
    case CMP_EQ: BCAST2(T, T, uint8_t, x0 == x1); break;                                           \
    case CMP_LT: BCAST2(T, T, uint8_t, x0 < x1); break;                                            \
    case CMP_GT: BCAST2(T, T, uint8_t, x0 > x1); break;                                            \
    case CMP_LE: BCAST2(T, T, uint8_t, x0 <= x1); break;                                           \
    case CMP_GE: BCAST2(T, T, uint8_t, x0 >= x1); break;                                           \
    }

VEC_CLONES static enum ogq_status cmp_run(struct ogq_kernel_ctx *ctx, enum cmpop op)
{
    switch (ctx->inputs[0]->dtype) {
    case OGQ_DTYPE_FLOAT: CMP_CASES(float); break;
    case OGQ_DTYPE_INT64: CMP_CASES(int64_t); break;
    case OGQ_DTYPE_INT32: CMP_CASES(int32_t); break;
    case OGQ_DTYPE_INT8: CMP_CASES(int8_t); break;
    case OGQ_DTYPE_UINT8:
    case OGQ_DTYPE_BOOL: CMP_CASES(uint8_t); break;
    default: return unsupported_dtype(ctx, ctx->inputs[0]->dtype);
    }
    return OGQ_OK;
}

static enum ogq_status equal_run(struct ogq_kernel_ctx *ctx) { return cmp_run(ctx, CMP_EQ); }
static enum ogq_status less_run(struct ogq_kernel_ctx *ctx) { return cmp_run(ctx, CMP_LT); }
static enum ogq_status greater_run(struct ogq_kernel_ctx *ctx) { return cmp_run(ctx, CMP_GT); }
static enum ogq_status less_eq_run(struct ogq_kernel_ctx *ctx) { return cmp_run(ctx, CMP_LE); }
static enum ogq_status greater_eq_run(struct ogq_kernel_ctx *ctx) { return cmp_run(ctx, CMP_GE); }

static enum ogq_status logic_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 2));
    OGQ_TRY(ogq_require_input(ctx, 0, bool_type, 1));
    OGQ_TRY(ogq_require_input(ctx, 1, bool_type, 1));
    return set_bcast_output(ctx, 2, OGQ_DTYPE_BOOL);
}

/* BOOL bytes are 0/1; `!= 0` keeps any other nonzero byte meaning true. */
VEC_CLONES static enum ogq_status and_run(struct ogq_kernel_ctx *ctx)
{
    BCAST2(uint8_t, uint8_t, uint8_t, (x0 != 0) & (x1 != 0));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status or_run(struct ogq_kernel_ctx *ctx)
{
    BCAST2(uint8_t, uint8_t, uint8_t, (x0 != 0) | (x1 != 0));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status xor_run(struct ogq_kernel_ctx *ctx)
{
    BCAST2(uint8_t, uint8_t, uint8_t, (x0 != 0) ^ (x1 != 0));
    return OGQ_OK;
}

static enum ogq_status not_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 1));
    OGQ_TRY(ogq_require_input(ctx, 0, bool_type, 1));
    return set_same_output(ctx, OGQ_DTYPE_BOOL);
}

VEC_CLONES static enum ogq_status not_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(uint8_t, uint8_t, x == 0);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Where */

static enum ogq_status where_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 3));
    OGQ_TRY(ogq_require_input(ctx, 0, bool_type, 1));
    OGQ_TRY(ogq_require_input(ctx, 1, all_types, N_ALL));
    if (ctx->inputs[2]->dtype != ctx->inputs[1]->dtype)
        return OGQ_KFAIL(ctx, "X and Y dtypes differ (%s vs %s)",
                         ogq_dtype_name(ctx->inputs[1]->dtype),
                         ogq_dtype_name(ctx->inputs[2]->dtype));
    return set_bcast_output(ctx, 3, ctx->inputs[1]->dtype);
}

/* Copies elements by size: Where never looks at the values of X and Y. The select is a
 * mask blend with both sides loaded unconditionally, so that the loops vectorise. */
#define WSEL(T, c, a, b) ((T)(((a) & (T)(0 - (T)((c) != 0))) | ((b) & (T)((T)((c) != 0) - 1))))

#define WHERE_LOOP(T)                                                                              \
    do {                                                                                           \
        const uint8_t *c_ = ctx->inputs[0]->data;                                                  \
        const T *a_ = ctx->inputs[1]->data, *b_ = ctx->inputs[2]->data;                            \
        T *y_ = ctx->outputs[0]->data;                                                             \
        struct ogq_bcast_iter it;                                                                  \
        ogq_bcast_iter_init(&it, ctx->outputs[0], ctx->inputs, 3);                                 \
        while (ogq_bcast_iter_next(&it)) {                                                         \
            const uint8_t *restrict pc = c_ + it.off[0];                                           \
            const T *restrict pa = a_ + it.off[1], *restrict pb = b_ + it.off[2];                  \
            T *restrict py = y_ + it.out;                                                          \
            int64_t sc = it.step[0], sa = it.step[1], sb = it.step[2];                             \
            if (sc && sa && sb) {                                                                  \
                VLOOP(it.len, py[k] = WSEL(T, pc[k], pa[k], pb[k]));                               \
            } else if (sc && sa) {                                                                 \
                const T vb = pb[0];                                                                \
                VLOOP(it.len, py[k] = WSEL(T, pc[k], pa[k], vb));                                  \
            } else if (sc && sb) {                                                                 \
                const T va = pa[0];                                                                \
                VLOOP(it.len, py[k] = WSEL(T, pc[k], va, pb[k]));                                  \
            } else if (sa && sb) {                                                                 \
                const uint8_t vc = pc[0];                                                          \
                VLOOP(it.len, py[k] = WSEL(T, vc, pa[k], pb[k]));                                  \
            } else {                                                                               \
                for (int64_t k = 0; k < it.len; k++)                                               \
                    py[k] = pc[k * sc] ? pa[k * sa] : pb[k * sb];                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

VEC_CLONES static enum ogq_status where_run(struct ogq_kernel_ctx *ctx)
{
    switch (ogq_rt_elem_size(ctx->outputs[0]->dtype)) {
    case 1: WHERE_LOOP(uint8_t); break;
    case 4: WHERE_LOOP(uint32_t); break;
    case 8: WHERE_LOOP(uint64_t); break;
    default: return unsupported_dtype(ctx, ctx->outputs[0]->dtype);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Min Max Sum Mean */

enum varop { VAR_MIN, VAR_MAX, VAR_SUM, VAR_MEAN };

static enum ogq_status variadic_infer(struct ogq_kernel_ctx *ctx, enum varop op)
{
    if (ctx->n_inputs < 1)
        return OGQ_KFAIL(ctx, "expects at least one input");
    OGQ_TRY(need_inputs(ctx, ctx->n_inputs));
    for (size_t i = 1; i < ctx->n_inputs; i++)
        OGQ_TRY(same_dtype(ctx, i));
    if (op == VAR_MIN || op == VAR_MAX)
        OGQ_TRY(ogq_require_input(ctx, 0, arith_types, N_ARITH));
    else
        OGQ_TRY(ogq_require_input(ctx, 0, float_type, 1));
    return set_bcast_output(ctx, ctx->n_inputs, ctx->inputs[0]->dtype);
}

static enum ogq_status min_infer(struct ogq_kernel_ctx *ctx)
{
    return variadic_infer(ctx, VAR_MIN);
}
static enum ogq_status max_infer(struct ogq_kernel_ctx *ctx)
{
    return variadic_infer(ctx, VAR_MAX);
}
static enum ogq_status sum_infer(struct ogq_kernel_ctx *ctx)
{
    return variadic_infer(ctx, VAR_SUM);
}
static enum ogq_status mean_infer(struct ogq_kernel_ctx *ctx)
{
    return variadic_infer(ctx, VAR_MEAN);
}

/* NaN-propagating min/max, like numpy's minimum/maximum (the ONNX reference). */
#define FMIN(a, b) ((a) < (b) || (a) != (a) ? (a) : (b))
#define FMAX(a, b) ((a) > (b) || (a) != (a) ? (a) : (b))
#define IMIN(a, b) ((a) < (b) ? (a) : (b))
#define IMAX(a, b) ((a) > (b) ? (a) : (b))

/* Output = input 0 broadcast, then y = EXPR(y, x_i) for each further input (ogq_bcast_iter
 * with the output itself as the first operand). Two inputs go straight through BCAST2. */
#define VARIADIC(T, EXPR)                                                                          \
    do {                                                                                           \
        if (ctx->n_inputs == 2) {                                                                  \
            BCAST2(T, T, T, EXPR);                                                                 \
            break;                                                                                 \
        }                                                                                          \
        struct ogq_rt_tensor *out_ = ctx->outputs[0];                                              \
        T *y_ = out_->data;                                                                        \
        struct ogq_bcast_iter it;                                                                  \
        const struct ogq_rt_tensor *first_[1] = {ctx->inputs[0]};                                  \
        ogq_bcast_iter_init(&it, out_, first_, 1);                                                 \
        while (ogq_bcast_iter_next(&it)) {                                                         \
            const T *restrict pa = (const T *)ctx->inputs[0]->data + it.off[0];                    \
            T *restrict py = y_ + it.out;                                                          \
            if (it.step[0])                                                                        \
                VLOOP(it.len, py[k] = pa[k]);                                                      \
            else                                                                                   \
                VLOOP(it.len, py[k] = pa[0]);                                                      \
        }                                                                                          \
        for (size_t i_ = 1; i_ < ctx->n_inputs; i_++) {                                            \
            const struct ogq_rt_tensor *pair_[2] = {out_, ctx->inputs[i_]};                        \
            const T *b_ = ctx->inputs[i_]->data;                                                   \
            ogq_bcast_iter_init(&it, out_, pair_, 2);                                              \
            while (ogq_bcast_iter_next(&it)) {                                                     \
                T *restrict py = y_ + it.out;                                                      \
                const T *restrict pb = b_ + it.off[1];                                             \
                if (it.step[1]) {                                                                  \
                    VLOOP(it.len, {                                                                \
                        T x0 = py[k], x1 = pb[k];                                                  \
                        py[k] = (T)(EXPR);                                                         \
                    });                                                                            \
                } else {                                                                           \
                    const T x1 = pb[0];                                                            \
                    VLOOP(it.len, {                                                                \
                        T x0 = py[k];                                                              \
                        py[k] = (T)(EXPR);                                                         \
                    });                                                                            \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

VEC_CLONES static enum ogq_status minmax_run(struct ogq_kernel_ctx *ctx, bool is_max)
{
    switch (ctx->outputs[0]->dtype) {
    case OGQ_DTYPE_FLOAT:
        if (is_max)
            VARIADIC(float, FMAX(x0, x1));
        else
            VARIADIC(float, FMIN(x0, x1));
        break;
    case OGQ_DTYPE_INT64:
        if (is_max)
            VARIADIC(int64_t, IMAX(x0, x1));
        else
            VARIADIC(int64_t, IMIN(x0, x1));
        break;
    case OGQ_DTYPE_INT32:
        if (is_max)
            VARIADIC(int32_t, IMAX(x0, x1));
        else
            VARIADIC(int32_t, IMIN(x0, x1));
        break;
    case OGQ_DTYPE_INT8:
        if (is_max)
            VARIADIC(int8_t, IMAX(x0, x1));
        else
            VARIADIC(int8_t, IMIN(x0, x1));
        break;
    case OGQ_DTYPE_UINT8:
        if (is_max)
            VARIADIC(uint8_t, IMAX(x0, x1));
        else
            VARIADIC(uint8_t, IMIN(x0, x1));
        break;
    default: return unsupported_dtype(ctx, ctx->outputs[0]->dtype);
    }
    return OGQ_OK;
}

static enum ogq_status min_run(struct ogq_kernel_ctx *ctx) { return minmax_run(ctx, false); }
static enum ogq_status max_run(struct ogq_kernel_ctx *ctx) { return minmax_run(ctx, true); }

VEC_CLONES static enum ogq_status sum_run(struct ogq_kernel_ctx *ctx)
{
    VARIADIC(float, x0 + x1);
    return OGQ_OK;
}

/* Sum in input order, then divide (not multiply by 1/n) as the reference does. */
VEC_CLONES static enum ogq_status mean_run(struct ogq_kernel_ctx *ctx)
{
    VARIADIC(float, x0 + x1);
    float n = (float)ctx->n_inputs;
    float *y = ctx->outputs[0]->data;
    VLOOP(ctx->outputs[0]->numel, y[k] = y[k] / n);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Clip */

/* Opset 6-10: min/max float attributes; opset 11+: optional scalar inputs 1 and 2 of the
 * input's dtype. y = min(max(x, lo), hi), so lo > hi gives hi (as numpy.clip); NaN in x
 * stays NaN. */
struct clip_params {
    float lo, hi;
};

static enum ogq_status clip_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                    struct ogq_error *err)
{
    if (opset >= 11)
        return OGQ_OK;
    struct clip_params *p = malloc(sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->lo = ogq_node_attr_float(node, "min", -FLT_MAX);
    p->hi = ogq_node_attr_float(node, "max", FLT_MAX);
    *params = p;
    return OGQ_OK;
}

static enum ogq_status clip_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 1));
    if (ctx->opset < 11) {
        OGQ_TRY(ogq_require_float(ctx, 0));
    } else {
        OGQ_TRY(ogq_require_input(ctx, 0, arith_types, N_ARITH));
        for (size_t i = 1; i < ctx->n_inputs && i < 3; i++) {
            const struct ogq_rt_tensor *b = ctx->inputs[i];
            if (!b)
                continue;
            OGQ_TRY(same_dtype(ctx, i));
            if (b->numel != 1)
                return OGQ_KFAIL(ctx, "%s must be a scalar, has %lld elements",
                                 i == 1 ? "min" : "max", (long long)b->numel);
        }
    }
    return set_same_output(ctx, ctx->inputs[0]->dtype);
}

#define CLIP_LOOP(T, LO_DEFAULT, HI_DEFAULT)                                                       \
    do {                                                                                           \
        T lo = LO_DEFAULT, hi = HI_DEFAULT;                                                        \
        if (ctx->n_inputs > 1 && ctx->inputs[1])                                                   \
            lo = ((const T *)ctx->inputs[1]->data)[0];                                             \
        if (ctx->n_inputs > 2 && ctx->inputs[2])                                                   \
            hi = ((const T *)ctx->inputs[2]->data)[0];                                             \
        UNARY_LOOP(T, T, (x < lo ? lo : x) > hi ? hi : (x < lo ? lo : x));                         \
    } while (0)

VEC_CLONES static enum ogq_status clip_run(struct ogq_kernel_ctx *ctx)
{
    if (ctx->opset < 11) {
        const struct clip_params *p = ctx->params;
        float lo = p->lo, hi = p->hi;
        UNARY_LOOP(float, float, (x < lo ? lo : x) > hi ? hi : (x < lo ? lo : x));
        return OGQ_OK;
    }
    switch (ctx->outputs[0]->dtype) {
    case OGQ_DTYPE_FLOAT: CLIP_LOOP(float, -INFINITY, INFINITY); break;
    case OGQ_DTYPE_INT64: CLIP_LOOP(int64_t, INT64_MIN, INT64_MAX); break;
    case OGQ_DTYPE_INT32: CLIP_LOOP(int32_t, INT32_MIN, INT32_MAX); break;
    case OGQ_DTYPE_INT8: CLIP_LOOP(int8_t, INT8_MIN, INT8_MAX); break;
    case OGQ_DTYPE_UINT8: CLIP_LOOP(uint8_t, 0, UINT8_MAX); break;
    default: return unsupported_dtype(ctx, ctx->outputs[0]->dtype);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Cast CastLike */

/* Targets: every ONNX type whose runtime storage exists. FLOAT16/BFLOAT16 round to that
 * precision (nearest even) and stay stored as FLOAT; DOUBLE is stored as FLOAT. Float to
 * integer truncates toward zero (see f2i64); INT4/UINT4 keep the low 4 bits (ml_dtypes,
 * which the ONNX reference uses, wraps: -9 -> 7). BOOL is "nonzero" (NaN is true).
 * The `saturate` and `round_mode` attributes only concern float8 targets, which are
 * refused. */
enum cast_target {
    CT_FLOAT, CT_HALF, CT_BF16, CT_I64, CT_I32, CT_I8, CT_U8, CT_BOOL, CT_I4, CT_U4
};

static bool cast_target_of(int64_t to, enum cast_target *out)
{
    switch (to) {
    case OGQ_DTYPE_FLOAT:
    case OGQ_DTYPE_DOUBLE: *out = CT_FLOAT; return true;
    case OGQ_DTYPE_FLOAT16: *out = CT_HALF; return true;
    case OGQ_DTYPE_BFLOAT16: *out = CT_BF16; return true;
    case OGQ_DTYPE_INT64: *out = CT_I64; return true;
    case OGQ_DTYPE_INT32: *out = CT_I32; return true;
    case OGQ_DTYPE_INT8: *out = CT_I8; return true;
    case OGQ_DTYPE_UINT8: *out = CT_U8; return true;
    case OGQ_DTYPE_BOOL: *out = CT_BOOL; return true;
    case OGQ_DTYPE_INT4: *out = CT_I4; return true;
    case OGQ_DTYPE_UINT4: *out = CT_U4; return true;
    default: return false;
    }
}

static enum ogq_dtype cast_storage(enum cast_target t)
{
    switch (t) {
    case CT_FLOAT:
    case CT_HALF:
    case CT_BF16: return OGQ_DTYPE_FLOAT;
    case CT_I64: return OGQ_DTYPE_INT64;
    case CT_I32: return OGQ_DTYPE_INT32;
    case CT_I8: return OGQ_DTYPE_INT8;
    case CT_U8: return OGQ_DTYPE_UINT8;
    case CT_BOOL: return OGQ_DTYPE_BOOL;
    case CT_I4: return OGQ_DTYPE_INT4;
    case CT_U4: return OGQ_DTYPE_UINT4;
    }
    return OGQ_DTYPE_UNDEFINED;
}

static enum ogq_status cast_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                    struct ogq_error *err)
{
    (void)opset;
    (void)params;
    const struct ogq_attr *a = ogq_node_attr(node, "to");
    if (!a || a->type != OGQ_ATTR_INT)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "missing integer attribute 'to'");
    enum cast_target t;
    if (!cast_target_of(a->i, &t))
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "cast to %s is not supported",
                               ogq_dtype_name((int)a->i));
    return OGQ_OK;
}

/* The ONNX type CastLike converts to: input 1's declared type when the graph knows it
 * (FLOAT16/BFLOAT16/DOUBLE are stored as FLOAT at run time), else its storage type. */
static int64_t castlike_to(const struct ogq_kernel_ctx *ctx)
{
    const struct ogq_value *v = ctx->node->n_inputs > 1 ? ctx->node->inputs[1] : NULL;
    if (v && v->has_type && v->is_tensor && v->type.dtype != OGQ_DTYPE_UNDEFINED &&
        ogq_rt_storage_dtype(v->type.dtype) == ctx->inputs[1]->dtype)
        return v->type.dtype;
    return ctx->inputs[1]->dtype;
}

static enum ogq_status cast_target_ctx(struct ogq_kernel_ctx *ctx, enum cast_target *t)
{
    int64_t to = strcmp(ctx->node->op_type, "CastLike") == 0
                     ? castlike_to(ctx)
                     : ogq_node_attr_int(ctx->node, "to", OGQ_DTYPE_UNDEFINED);
    if (!cast_target_of(to, t))
        return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err,
                               "cast to %s is not supported", ogq_dtype_name((int)to));
    return OGQ_OK;
}

static const enum ogq_dtype cast_src_types[] = {
    OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT64, OGQ_DTYPE_INT32, OGQ_DTYPE_INT8,
    OGQ_DTYPE_UINT8, OGQ_DTYPE_BOOL,  OGQ_DTYPE_INT4,  OGQ_DTYPE_UINT4};

static enum ogq_status cast_infer(struct ogq_kernel_ctx *ctx)
{
    bool like = strcmp(ctx->node->op_type, "CastLike") == 0;
    OGQ_TRY(need_inputs(ctx, like ? 2 : 1));
    OGQ_TRY(ogq_require_input(ctx, 0, cast_src_types,
                              sizeof cast_src_types / sizeof cast_src_types[0]));
    enum cast_target t;
    OGQ_TRY(cast_target_ctx(ctx, &t));
    return set_same_output(ctx, cast_storage(t));
}

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* float -> float16 -> float, round to nearest even, branch-free so that it vectorises
 * (same results as ogq_half_to_float(ogq_float_to_half(v)), checked by the unit tests).
 * Normal half range: drop 13 mantissa bits with an integer rounding add; subnormal half
 * range (below 2^-14): adding 0.75, whose ulp is 2^-24, rounds to the half quantum;
 * magnitudes above 65504 after rounding become inf; NaN passes through. */
static inline float round_half(float v)
{
    uint32_t u = f2u(v), a = u & 0x7FFFFFFFu;
    uint32_t rn = (a + 0xFFFu + ((a >> 13) & 1u)) & ~0x1FFFu;
    uint32_t sub = f2u((u2f(a) + 0.75f) - 0.75f);
    uint32_t r = a < 0x38800000u ? sub : rn;
    r = r > 0x477FE000u ? 0x7F800000u : r;
    r = a > 0x7F800000u ? a : r;
    return u2f(r | (u & 0x80000000u));
}

/* float -> bfloat16 -> float, round to nearest even; NaN passes through. */
static inline float round_bf16(float v)
{
    uint32_t u = f2u(v);
    uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    return u2f((u & 0x7FFFFFFFu) > 0x7F800000u ? u : r);
}

/* Element i of a packed 4-bit tensor (low nibble first). */
static inline int64_t get_nibble(const uint8_t *p, int64_t i, bool is_signed)
{
    int v = (p[i >> 1] >> ((i & 1) * 4)) & 0xF;
    return is_signed && v >= 8 ? v - 16 : v;
}

/* Element i of any cast source as an integer (floats truncated), for the 4-bit targets. */
static inline int64_t src_int(const struct ogq_rt_tensor *x, int64_t i)
{
    switch (x->dtype) {
    case OGQ_DTYPE_INT4: return get_nibble(x->data, i, true);
    case OGQ_DTYPE_UINT4: return get_nibble(x->data, i, false);
    case OGQ_DTYPE_FLOAT: return f2i64(((const float *)x->data)[i]);
    default: return ogq_rt_get_int(x, i);
    }
}

#define CAST_FROM_FLOAT_TO(TY, EXPR) UNARY_LOOP(float, TY, EXPR)

/* Cast from an integer source type TX (not 4-bit). */
#define CAST_FROM_INT(TX)                                                                          \
    switch (t) {                                                                                   \
    case CT_FLOAT: UNARY_LOOP(TX, float, (float)x); break;                                         \
    case CT_HALF: UNARY_LOOP(TX, float, round_half((float)x)); break;                              \
    case CT_BF16: UNARY_LOOP(TX, float, round_bf16((float)x)); break;                              \
    case CT_I64: UNARY_LOOP(TX, int64_t, (int64_t)x); break;                                       \
    case CT_I32: UNARY_LOOP(TX, int32_t, wrap_i32((int64_t)x)); break;                             \
    case CT_I8: UNARY_LOOP(TX, int8_t, wrap_i8((int64_t)x)); break;                                \
    case CT_U8: UNARY_LOOP(TX, uint8_t, wrap_u8((int64_t)x)); break;                               \
    case CT_BOOL: UNARY_LOOP(TX, uint8_t, x != 0); break;                                          \
    default: break;                                                                                \
    }

VEC_CLONES static enum ogq_status cast_run(struct ogq_kernel_ctx *ctx)
{
    enum cast_target t;
    OGQ_TRY(cast_target_ctx(ctx, &t));
    const struct ogq_rt_tensor *in = ctx->inputs[0];
    struct ogq_rt_tensor *out = ctx->outputs[0];
    int64_t n = out->numel;
    if (t == CT_I4 || t == CT_U4) { /* pack two per byte, low nibble first */
        uint8_t *p = out->data;
        if (out->nbytes)
            memset(p, 0, out->nbytes);
        for (int64_t i = 0; i < n; i++)
            p[i >> 1] |= (uint8_t)(((uint64_t)src_int(in, i) & 0xF) << ((i & 1) * 4));
        return OGQ_OK;
    }
    if (in->dtype == OGQ_DTYPE_INT4 || in->dtype == OGQ_DTYPE_UINT4) {
        bool s = in->dtype == OGQ_DTYPE_INT4;
        const uint8_t *p = in->data;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = get_nibble(p, i, s);
            switch (t) {
            case CT_FLOAT:
            case CT_HALF: /* every 4-bit value is exact in half and bfloat16 */
            case CT_BF16: ((float *)out->data)[i] = (float)v; break;
            case CT_I64: ((int64_t *)out->data)[i] = v; break;
            case CT_I32: ((int32_t *)out->data)[i] = (int32_t)v; break;
            case CT_I8: ((int8_t *)out->data)[i] = (int8_t)v; break;
            case CT_U8: ((uint8_t *)out->data)[i] = wrap_u8(v); break;
            case CT_BOOL: ((uint8_t *)out->data)[i] = v != 0; break;
            default: break;
            }
        }
        return OGQ_OK;
    }
    switch (in->dtype) {
    case OGQ_DTYPE_FLOAT:
        switch (t) {
        case CT_FLOAT: memcpy(out->data, in->data, (size_t)n * sizeof(float)); break;
        case CT_HALF: CAST_FROM_FLOAT_TO(float, round_half(x)); break;
        case CT_BF16: CAST_FROM_FLOAT_TO(float, round_bf16(x)); break;
        case CT_I64: CAST_FROM_FLOAT_TO(int64_t, f2i64(x)); break;
        case CT_I32: CAST_FROM_FLOAT_TO(int32_t, f2i32(x)); break;
        case CT_I8: CAST_FROM_FLOAT_TO(int8_t, wrap_i8(f2i64(x))); break;
        case CT_U8: CAST_FROM_FLOAT_TO(uint8_t, wrap_u8(f2i64(x))); break;
        case CT_BOOL: CAST_FROM_FLOAT_TO(uint8_t, x != 0.0f); break;
        default: break;
        }
        break;
    case OGQ_DTYPE_INT64: CAST_FROM_INT(int64_t); break;
    case OGQ_DTYPE_INT32: CAST_FROM_INT(int32_t); break;
    case OGQ_DTYPE_INT8: CAST_FROM_INT(int8_t); break;
    case OGQ_DTYPE_UINT8:
    case OGQ_DTYPE_BOOL: CAST_FROM_INT(uint8_t); break;
    default: return unsupported_dtype(ctx, in->dtype);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- unary math */

enum unop {
    U_SQRT, U_RECIP, U_LOG, U_FLOOR, U_CEIL, U_ROUND, U_SIN, U_COS,
    U_NEG, U_ABS, U_SIGN
};

/* Nearest-even rounding of |x| < 2^23 (sign kept). */
static inline float rint_small(float x)
{
    return copysignf((fabsf(x) + 8388608.0f) - 8388608.0f, x);
}

static enum ogq_status unary_float_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 1));
    OGQ_TRY(ogq_require_float(ctx, 0));
    return set_same_output(ctx, OGQ_DTYPE_FLOAT);
}

/* Neg: signed types; Abs and Sign: uint8 too. */
static enum ogq_status unary_numeric_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 1));
    size_t n = strcmp(ctx->node->op_type, "Neg") == 0 ? N_ARITH - 1 : N_ARITH;
    OGQ_TRY(ogq_require_input(ctx, 0, arith_types, n));
    return set_same_output(ctx, ctx->inputs[0]->dtype);
}

VEC_CLONES static enum ogq_status unary_run(struct ogq_kernel_ctx *ctx, enum unop op)
{
    switch (op) {
    case U_SQRT: UNARY_LOOP(float, float, sqrtf(x)); break;
    case U_RECIP: UNARY_LOOP(float, float, 1.0f / x); break;
    case U_LOG: UNARY_LOOP(float, float, logf(x)); break;
    /* |x| < 2^23: adding and removing 2^23 rounds to nearest even (the default rounding
     * mode), then floor/ceil step back by one where that went the wrong way; the sign is
     * x's (floor(-0.0) = -0, ceil(-0.5) = -0). Larger magnitudes, inf and NaN are x. */
    case U_FLOOR:
        UNARY_LOOP(float, float,
                   fabsf(x) < 8388608.0f ? copysignf(rint_small(x) > x ? rint_small(x) - 1.0f
                                                                       : rint_small(x), x)
                                         : x);
        break;
    case U_CEIL:
        UNARY_LOOP(float, float,
                   fabsf(x) < 8388608.0f ? copysignf(rint_small(x) < x ? rint_small(x) + 1.0f
                                                                       : rint_small(x), x)
                                         : x);
        break;
    case U_ROUND: UNARY_LOOP(float, float, fabsf(x) < 8388608.0f ? rint_small(x) : x); break;
    case U_SIN: UNARY_LOOP(float, float, sinf(x)); break;
    case U_COS: UNARY_LOOP(float, float, cosf(x)); break;
    case U_NEG:
    case U_ABS:
    case U_SIGN: {
        bool neg = op == U_NEG, abs_ = op == U_ABS;
        switch (ctx->inputs[0]->dtype) {
        case OGQ_DTYPE_FLOAT:
            if (neg)
                UNARY_LOOP(float, float, -x);
            else if (abs_)
                UNARY_LOOP(float, float, fabsf(x));
            else
                UNARY_LOOP(float, float, x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x);
            break;
        case OGQ_DTYPE_INT64:
            if (neg)
                UNARY_LOOP(int64_t, int64_t, 0 - (uint64_t)x);
            else if (abs_)
                UNARY_LOOP(int64_t, int64_t, x < 0 ? 0 - (uint64_t)x : (uint64_t)x);
            else
                UNARY_LOOP(int64_t, int64_t, (x > 0) - (x < 0));
            break;
        case OGQ_DTYPE_INT32:
            if (neg)
                UNARY_LOOP(int32_t, int32_t, 0 - (uint32_t)x);
            else if (abs_)
                UNARY_LOOP(int32_t, int32_t, x < 0 ? 0 - (uint32_t)x : (uint32_t)x);
            else
                UNARY_LOOP(int32_t, int32_t, (x > 0) - (x < 0));
            break;
        case OGQ_DTYPE_INT8:
            if (neg)
                UNARY_LOOP(int8_t, int8_t, wrap_i8(-x));
            else if (abs_)
                UNARY_LOOP(int8_t, int8_t, wrap_i8(x < 0 ? -x : x));
            else
                UNARY_LOOP(int8_t, int8_t, (x > 0) - (x < 0));
            break;
        case OGQ_DTYPE_UINT8:
            if (abs_)
                UNARY_LOOP(uint8_t, uint8_t, x);
            else
                UNARY_LOOP(uint8_t, uint8_t, x != 0);
            break;
        default: return unsupported_dtype(ctx, ctx->inputs[0]->dtype);
        }
        break;
    }
    }
    return OGQ_OK;
}

static enum ogq_status sqrt_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_SQRT); }
static enum ogq_status recip_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_RECIP); }
static enum ogq_status log_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_LOG); }
static enum ogq_status floor_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_FLOOR); }
static enum ogq_status ceil_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_CEIL); }
static enum ogq_status round_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_ROUND); }
static enum ogq_status sin_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_SIN); }
static enum ogq_status cos_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_COS); }
static enum ogq_status neg_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_NEG); }
static enum ogq_status abs_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_ABS); }
static enum ogq_status sign_run(struct ogq_kernel_ctx *ctx) { return unary_run(ctx, U_SIGN); }

/* IsNaN / IsInf: FLOAT in, BOOL out. */
static enum ogq_status is_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_inputs(ctx, 1));
    OGQ_TRY(ogq_require_float(ctx, 0));
    return set_same_output(ctx, OGQ_DTYPE_BOOL);
}

static enum ogq_status isnan_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, uint8_t, x != x);
    return OGQ_OK;
}

static enum ogq_status isinf_run(struct ogq_kernel_ctx *ctx)
{
    bool neg = ogq_node_attr_int(ctx->node, "detect_negative", 1) != 0;
    bool pos = ogq_node_attr_int(ctx->node, "detect_positive", 1) != 0;
    UNARY_LOOP(float, uint8_t, (pos && x == INFINITY) || (neg && x == -INFINITY));
    return OGQ_OK;
}

/* ---------------------------------------------------------------- family */

static const struct ogq_kernel kernels[] = {
    {"", "Add", 7, INT_MAX, NULL, NULL, arith_infer, NULL, add_run, false},
    {"", "Sub", 7, INT_MAX, NULL, NULL, arith_infer, NULL, sub_run, false},
    {"", "Mul", 7, INT_MAX, NULL, NULL, arith_infer, NULL, mul_run, false},
    {"", "Div", 7, INT_MAX, NULL, NULL, arith_infer, NULL, div_run, false},
    {"", "Pow", 7, INT_MAX, NULL, NULL, pow_infer, NULL, pow_run, false},
    {"", "Mod", 10, INT_MAX, mod_prepare, NULL, mod_infer, NULL, mod_run, false},
    {"", "Equal", 7, INT_MAX, NULL, NULL, cmp_infer, NULL, equal_run, false},
    {"", "Less", 7, INT_MAX, NULL, NULL, cmp_infer, NULL, less_run, false},
    {"", "Greater", 7, INT_MAX, NULL, NULL, cmp_infer, NULL, greater_run, false},
    {"", "LessOrEqual", 12, INT_MAX, NULL, NULL, cmp_infer, NULL, less_eq_run, false},
    {"", "GreaterOrEqual", 12, INT_MAX, NULL, NULL, cmp_infer, NULL, greater_eq_run, false},
    {"", "And", 7, INT_MAX, NULL, NULL, logic_infer, NULL, and_run, false},
    {"", "Or", 7, INT_MAX, NULL, NULL, logic_infer, NULL, or_run, false},
    {"", "Xor", 7, INT_MAX, NULL, NULL, logic_infer, NULL, xor_run, false},
    {"", "Not", 1, INT_MAX, NULL, NULL, not_infer, NULL, not_run, false},
    {"", "Where", 9, INT_MAX, NULL, NULL, where_infer, NULL, where_run, false},
    {"", "Min", 6, INT_MAX, NULL, NULL, min_infer, NULL, min_run, false},
    {"", "Max", 6, INT_MAX, NULL, NULL, max_infer, NULL, max_run, false},
    {"", "Sum", 6, INT_MAX, NULL, NULL, sum_infer, NULL, sum_run, false},
    {"", "Mean", 6, INT_MAX, NULL, NULL, mean_infer, NULL, mean_run, false},
    {"", "Clip", 6, INT_MAX, clip_prepare, free, clip_infer, NULL, clip_run, false},
    {"", "Cast", 6, INT_MAX, cast_prepare, NULL, cast_infer, NULL, cast_run, false},
    {"", "CastLike", 15, INT_MAX, NULL, NULL, cast_infer, NULL, cast_run, false},
    {"", "Sqrt", 6, INT_MAX, NULL, NULL, unary_float_infer, NULL, sqrt_run, false},
    {"", "Reciprocal", 6, INT_MAX, NULL, NULL, unary_float_infer, NULL, recip_run, false},
    {"", "Log", 6, INT_MAX, NULL, NULL, unary_float_infer, NULL, log_run, false},
    {"", "Floor", 6, INT_MAX, NULL, NULL, unary_float_infer, NULL, floor_run, false},
    {"", "Ceil", 6, INT_MAX, NULL, NULL, unary_float_infer, NULL, ceil_run, false},
    {"", "Round", 11, INT_MAX, NULL, NULL, unary_float_infer, NULL, round_run, false},
    {"", "Sin", 7, INT_MAX, NULL, NULL, unary_float_infer, NULL, sin_run, false},
    {"", "Cos", 7, INT_MAX, NULL, NULL, unary_float_infer, NULL, cos_run, false},
    {"", "Neg", 6, INT_MAX, NULL, NULL, unary_numeric_infer, NULL, neg_run, false},
    {"", "Abs", 6, INT_MAX, NULL, NULL, unary_numeric_infer, NULL, abs_run, false},
    {"", "Sign", 9, INT_MAX, NULL, NULL, unary_numeric_infer, NULL, sign_run, false},
    {"", "IsNaN", 9, INT_MAX, NULL, NULL, is_infer, NULL, isnan_run, false},
    {"", "IsInf", 10, INT_MAX, NULL, NULL, is_infer, NULL, isinf_run, false},
};

const struct ogq_kernel_family ogq_family_elementwise = {"elementwise", kernels,
                                                         sizeof kernels / sizeof kernels[0]};
