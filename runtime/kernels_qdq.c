/* kernels_qdq.c — QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear (every opset the
 * runtime's dtypes allow) and the ONNX Runtime contrib op com.microsoft::MatMulNBits.
 *
 * Quantized dtypes: uint8, int8, uint4, int4 (4-bit tensors packed two per byte, low nibble
 * first) and int32 for DequantizeLinear input. int16/uint16/int2/uint2/float8/float4 are
 * refused. Scales are float32 (float16/bfloat16 scales arrive converted; DequantizeLinear
 * then rounds its output to that type, as its output has the scale's type).
 *
 * Granularity: per tensor (a one-element scale), per axis (1-D scale along `axis`), or
 * blocked (opset 21: `block_size` B along `axis`; scale shaped like x with that axis
 * shrunk to ceil(D/B)). Work is split into contiguous segments that share one scale (or
 * walk the scale array in step), so every inner loop is a plain vector loop.
 *
 * Numerics follow the ONNX reference: QuantizeLinear y = saturate(rint(x / scale) + zp),
 * computed as a float32 division (not a multiply by 1/scale), rounding half to even;
 * DequantizeLinear y = (float(x) - float(zp)) * scale. Zero points default to 0.
 *
 * MatMulNBits: Y = A @ dequant(B)^T (+ bias), with dequant(B)[n,k] = (q - zp[n,g]) *
 * scale[n,g], g = k / block_size or g_idx[k]; zero points default to 2^(bits-1). B is
 * dequantized a slab of rows at a time into scratch, each slab multiplied with sgemm,
 * all in float32 (accuracy_level is ignored).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"
#include "linalg.h"

/* The build is -O2, where GCC only vectorises loops whose trip count is a known multiple of
 * the vector width; the kernels here are loops over runtime lengths. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

/* Adding and subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to the nearest
 * integer, ties to even (IEEE round-to-nearest), and vectorises, unlike rintf. */
#define ROUND_MAGIC 12582912.0f

static bool is_int_qtype(int64_t dt)
{
    return dt == OGQ_DTYPE_UINT8 || dt == OGQ_DTYPE_INT8 || dt == OGQ_DTYPE_UINT4 ||
           dt == OGQ_DTYPE_INT4;
}

static void qrange(enum ogq_dtype dt, float *lo, float *hi)
{
    switch (dt) {
    case OGQ_DTYPE_INT8: *lo = -128.0f, *hi = 127.0f; break;
    case OGQ_DTYPE_UINT4: *lo = 0.0f, *hi = 15.0f; break;
    case OGQ_DTYPE_INT4: *lo = -8.0f, *hi = 7.0f; break;
    default: *lo = 0.0f, *hi = 255.0f; break;
    }
}

static inline int nibble(const uint8_t *p, int64_t i, bool is_signed)
{
    int v = (p[i >> 1] >> ((i & 1) * 4)) & 15;
    return is_signed ? (v ^ 8) - 8 : v;
}

/* ---------------------------------------------------------------- layout */

enum qkind { Q_TENSOR, Q_AXIS, Q_BLOCK };

struct qdq_params {
    int64_t axis;
    int64_t block;            /* 0: not blocked */
    enum ogq_dtype out_dtype; /* QuantizeLinear output_dtype attribute, UNDEFINED if absent */
    enum ogq_dtype round_to;  /* DequantizeLinear: FLOAT16/BFLOAT16 output, else FLOAT */
};

/* x viewed as [outer, d, inner] around the axis; nb blocks of `block` along d. */
struct qlayout {
    enum qkind kind;
    int64_t outer, d, inner, nb, block, numel;
};

static enum ogq_status make_layout(const struct ogq_kernel_ctx *ctx, const struct qdq_params *p,
                                   const struct ogq_rt_tensor *x, const struct ogq_rt_tensor *s,
                                   const struct ogq_rt_tensor *zp, struct qlayout *L)
{
    memset(L, 0, sizeof *L);
    L->numel = x->numel;
    if (zp && zp->numel != s->numel)
        return OGQ_KFAIL(ctx, "zero point has %lld values, scale %lld", (long long)zp->numel,
                         (long long)s->numel);
    if (s->numel == 1) {
        L->kind = Q_TENSOR;
        L->outer = L->d = 1;
        L->inner = x->numel;
        return OGQ_OK;
    }
    if (ctx->opset < 13)
        return OGQ_KFAIL(ctx, "scale must be a scalar before opset 13, has %lld values",
                         (long long)s->numel);
    int axis;
    OGQ_TRY(ogq_normalize_axis(ctx, p->axis, x->rank, &axis));
    L->outer = L->inner = 1;
    for (int k = 0; k < x->rank; k++) {
        if (k < axis)
            L->outer *= x->dims[k];
        else if (k > axis)
            L->inner *= x->dims[k];
    }
    L->d = x->dims[axis];
    if (p->block == 0) {
        if (s->rank != 1 || s->numel != L->d)
            return OGQ_KFAIL(ctx, "per-axis scale must have shape [%lld]", (long long)L->d);
        L->kind = Q_AXIS;
        return OGQ_OK;
    }
    L->kind = Q_BLOCK;
    L->block = p->block;
    L->nb = (L->d + p->block - 1) / p->block;
    bool ok = s->rank == x->rank;
    for (int k = 0; ok && k < x->rank; k++)
        ok = s->dims[k] == (k == axis ? L->nb : x->dims[k]);
    if (!ok)
        return OGQ_KFAIL(ctx, "blocked scale must match the input's shape with axis %d of "
                         "size %lld", axis, (long long)L->nb);
    if (zp) {
        ok = zp->rank == s->rank;
        for (int k = 0; ok && k < s->rank; k++)
            ok = zp->dims[k] == s->dims[k];
        if (!ok)
            return OGQ_KFAIL(ctx, "zero point shape differs from the scale's");
    }
    return OGQ_OK;
}

/* Zero points as floats (0 when absent), `n` values. */
static void zp_to_float(const struct ogq_rt_tensor *zp, float *out, int64_t n)
{
    if (!zp) {
        for (int64_t i = 0; i < n; i++)
            out[i] = 0.0f;
        return;
    }
    if (zp->dtype == OGQ_DTYPE_INT4 || zp->dtype == OGQ_DTYPE_UINT4) {
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)nibble(zp->data, i, zp->dtype == OGQ_DTYPE_INT4);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)ogq_rt_get_int(zp, i);
}

/* One unit of work: n contiguous elements from element e, whose scale / zero point start
 * at index si and advance with the element (step 1) or stay (step 0). */
struct qjob;
typedef void (*seg_fn)(const struct qjob *j, int64_t e, int64_t n, int64_t si, int step);

struct qjob {
    const float *s, *z;
    const void *x;
    void *y;
    enum ogq_dtype xdt, ydt;
    float qmin, qmax;
};

static void for_segments(const struct qlayout *L, const struct qjob *j, seg_fn fn)
{
    if (L->numel == 0)
        return;
    if (L->kind == Q_TENSOR) {
        fn(j, 0, L->numel, 0, 0);
        return;
    }
    if (L->inner > 1) {
        for (int64_t o = 0; o < L->outer; o++)
            for (int64_t dd = 0; dd < L->d; dd++) {
                int64_t e = (o * L->d + dd) * L->inner;
                if (L->kind == Q_AXIS)
                    fn(j, e, L->inner, dd, 0);
                else
                    fn(j, e, L->inner, (o * L->nb + dd / L->block) * L->inner, 1);
            }
        return;
    }
    /* The axis is the innermost one: rows of d elements. */
    for (int64_t o = 0; o < L->outer; o++) {
        int64_t e = o * L->d;
        if (L->kind == Q_AXIS) {
            fn(j, e, L->d, 0, 1);
            continue;
        }
        for (int64_t b = 0; b < L->nb; b++) {
            int64_t k0 = b * L->block;
            int64_t n = L->d - k0 < L->block ? L->d - k0 : L->block;
            fn(j, e + k0, n, o * L->nb + b, 0);
        }
    }
}

/* ---------------------------------------------------------------- QuantizeLinear */

static inline float quant1(float x, float s, float z, float qmin, float qmax)
{
    float v = x / s;
    float lo = qmin - z, hi = qmax - z;
    v = v > lo ? v : lo; /* also maps NaN to lo */
    v = v < hi ? v : hi;
    return ((v + ROUND_MAGIC) - ROUND_MAGIC) + z;
}

/* One scale for n values (per tensor, per axis, blocks along the last axis). */
#define DEFINE_QUANT_SCALAR(NAME, T)                                                               \
    static void NAME(T *restrict y, const float *restrict x, int64_t n, float s, float z,         \
                     float qmin, float qmax)                                                       \
    {                                                                                              \
        for (int64_t k = 0; k < n; k++)                                                            \
            y[k] = (T)(int)quant1(x[k], s, z, qmin, qmax);                                         \
    }

DEFINE_QUANT_SCALAR(quant_scalar_i8, int8_t)
DEFINE_QUANT_SCALAR(quant_scalar_u8, uint8_t)

static void quant_seg(const struct qjob *j, int64_t e, int64_t n, int64_t si, int step)
{
    const float *restrict x = (const float *)j->x + e;
    const float *restrict s = j->s + si, *restrict z = j->z + si;
    float qmin = j->qmin, qmax = j->qmax; /* locals: the byte stores may alias *j */
    if (!step) {
        if (qmin < 0.0f)
            quant_scalar_i8((int8_t *)j->y + e, x, n, s[0], z[0], qmin, qmax);
        else
            quant_scalar_u8((uint8_t *)j->y + e, x, n, s[0], z[0], qmin, qmax);
        return;
    }
    if (qmin < 0.0f) {
        int8_t *restrict y = (int8_t *)j->y + e;
        for (int64_t k = 0; k < n; k++)
            y[k] = (int8_t)(int)quant1(x[k], s[k], z[k], qmin, qmax);
    } else {
        uint8_t *restrict y = (uint8_t *)j->y + e;
        for (int64_t k = 0; k < n; k++)
            y[k] = (uint8_t)(int)quant1(x[k], s[k], z[k], qmin, qmax);
    }
}

static enum ogq_status q_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                 struct ogq_error *err)
{
    int64_t block = opset >= 21 ? ogq_node_attr_int(node, "block_size", 0) : 0;
    int64_t od = opset >= 21 ? ogq_node_attr_int(node, "output_dtype", 0) : 0;
    int64_t prec = opset >= 23 ? ogq_node_attr_int(node, "precision", 0) : 0;
    if (block < 0)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "block_size must be >= 0");
    if (od != 0 && !is_int_qtype(od))
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "output_dtype %s is not supported (uint8, int8, uint4, int4)",
                               ogq_dtype_name((int)od));
    if (prec != 0 && prec != OGQ_DTYPE_FLOAT)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "precision %s is not supported (float only)",
                               ogq_dtype_name((int)prec));
    struct qdq_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->axis = ogq_node_attr_int(node, "axis", 1);
    p->block = block;
    p->out_dtype = (enum ogq_dtype)od;
    *params = p;
    return OGQ_OK;
}

static enum ogq_status q_infer(struct ogq_kernel_ctx *ctx)
{
    const struct qdq_params *p = ctx->params;
    if (ctx->n_inputs < 2)
        return OGQ_KFAIL(ctx, "expects 2 or 3 inputs, got %zu", ctx->n_inputs);
    OGQ_TRY(ogq_require_float(ctx, 0));
    OGQ_TRY(ogq_require_float(ctx, 1));
    const struct ogq_rt_tensor *zp = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    enum ogq_dtype out = p->out_dtype ? p->out_dtype : OGQ_DTYPE_UINT8;
    if (zp) {
        if (!is_int_qtype(zp->dtype))
            return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err,
                                   "zero point dtype %s is not supported",
                                   ogq_dtype_name(zp->dtype));
        if (ctx->opset < 19 && zp->dtype != OGQ_DTYPE_UINT8 && zp->dtype != OGQ_DTYPE_INT8)
            return OGQ_KFAIL(ctx, "zero point dtype %s needs a newer opset",
                             ogq_dtype_name(zp->dtype));
        if (p->out_dtype && p->out_dtype != zp->dtype)
            return OGQ_KFAIL(ctx, "output_dtype %s differs from the zero point's %s",
                             ogq_dtype_name(p->out_dtype), ogq_dtype_name(zp->dtype));
        out = zp->dtype;
    }
    struct qlayout L;
    OGQ_TRY(make_layout(ctx, p, ctx->inputs[0], ctx->inputs[1], zp, &L));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    return ogq_rt_tensor_set_shape(ctx->outputs[0], out, x->rank, x->dims, ctx->node->name,
                                   ctx->err);
}

static size_t q_workspace(const struct ogq_kernel_ctx *ctx)
{
    size_t n = (size_t)ctx->inputs[1]->numel * sizeof(float);
    enum ogq_dtype dt = ctx->outputs[0]->dtype;
    if (dt == OGQ_DTYPE_INT4 || dt == OGQ_DTYPE_UINT4) /* unpacked values before packing */
        n += ((size_t)ctx->inputs[0]->numel + 63) / 64 * 64;
    return n;
}

static enum ogq_status q_run(struct ogq_kernel_ctx *ctx)
{
    const struct qdq_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0], *s = ctx->inputs[1];
    const struct ogq_rt_tensor *zp = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    struct ogq_rt_tensor *y = ctx->outputs[0];
    struct qlayout L;
    OGQ_TRY(make_layout(ctx, p, x, s, zp, &L));
    float *z = ctx->scratch;
    zp_to_float(zp, z, s->numel);
    bool packed = y->dtype == OGQ_DTYPE_INT4 || y->dtype == OGQ_DTYPE_UINT4;
    uint8_t *unpacked = (uint8_t *)(z + s->numel);
    struct qjob j = {.s = s->data, .z = z, .x = x->data, .y = packed ? unpacked : y->data};
    qrange(y->dtype, &j.qmin, &j.qmax);
    for_segments(&L, &j, quant_seg);
    if (packed) {
        uint8_t *out = y->data;
        int64_t pairs = x->numel / 2;
        for (int64_t i = 0; i < pairs; i++)
            out[i] = (uint8_t)((unpacked[2 * i] & 15) | (unpacked[2 * i + 1] << 4));
        if (x->numel & 1)
            out[pairs] = unpacked[x->numel - 1] & 15;
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- DequantizeLinear */

#define DEQUANT_SEG(T)                                                                             \
    do {                                                                                           \
        const T *restrict x = (const T *)j->x + e;                                                 \
        if (step) {                                                                                \
            for (int64_t k = 0; k < n; k++)                                                        \
                y[k] = ((float)x[k] - z[k]) * s[k];                                                \
        } else {                                                                                   \
            float sc = s[0], zz = z[0];                                                            \
            for (int64_t k = 0; k < n; k++)                                                        \
                y[k] = ((float)x[k] - zz) * sc;                                                    \
        }                                                                                          \
    } while (0)

static void dequant_seg(const struct qjob *j, int64_t e, int64_t n, int64_t si, int step)
{
    float *restrict y = (float *)j->y + e;
    const float *restrict s = j->s + si, *restrict z = j->z + si;
    switch (j->xdt) {
    case OGQ_DTYPE_INT8: DEQUANT_SEG(int8_t); break;
    case OGQ_DTYPE_INT32: DEQUANT_SEG(int32_t); break;
    case OGQ_DTYPE_INT4:
    case OGQ_DTYPE_UINT4: {
        const uint8_t *x = j->x;
        bool sg = j->xdt == OGQ_DTYPE_INT4;
        for (int64_t k = 0; k < n; k++)
            y[k] = ((float)nibble(x, e + k, sg) - z[k * step]) * s[k * step];
        break;
    }
    default: DEQUANT_SEG(uint8_t); break;
    }
}

static enum ogq_dtype declared_dtype(const struct ogq_value *v)
{
    if (!v)
        return OGQ_DTYPE_UNDEFINED;
    if (v->initializer)
        return v->initializer->dtype;
    return v->has_type ? v->type.dtype : OGQ_DTYPE_UNDEFINED;
}

static enum ogq_status dq_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                  struct ogq_error *err)
{
    int64_t block = opset >= 21 ? ogq_node_attr_int(node, "block_size", 0) : 0;
    int64_t od = opset >= 23 ? ogq_node_attr_int(node, "output_dtype", 0) : 0;
    if (block < 0)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "block_size must be >= 0");
    if (od != 0 && od != OGQ_DTYPE_FLOAT && od != OGQ_DTYPE_FLOAT16 && od != OGQ_DTYPE_BFLOAT16)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "output_dtype %s is not supported", ogq_dtype_name((int)od));
    struct qdq_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->axis = ogq_node_attr_int(node, "axis", 1);
    p->block = block;
    enum ogq_dtype out = od ? (enum ogq_dtype)od
                            : declared_dtype(node->n_inputs > 1 ? node->inputs[1] : NULL);
    p->round_to = out == OGQ_DTYPE_FLOAT16 || out == OGQ_DTYPE_BFLOAT16 ? out : OGQ_DTYPE_FLOAT;
    *params = p;
    return OGQ_OK;
}

static enum ogq_status dq_infer(struct ogq_kernel_ctx *ctx)
{
    const struct qdq_params *p = ctx->params;
    if (ctx->n_inputs < 2)
        return OGQ_KFAIL(ctx, "expects 2 or 3 inputs, got %zu", ctx->n_inputs);
    static const enum ogq_dtype xt[] = {OGQ_DTYPE_UINT8, OGQ_DTYPE_INT8, OGQ_DTYPE_INT32,
                                        OGQ_DTYPE_UINT4, OGQ_DTYPE_INT4};
    OGQ_TRY(ogq_require_input(ctx, 0, xt, 5));
    OGQ_TRY(ogq_require_float(ctx, 1));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    const struct ogq_rt_tensor *zp = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    if (zp && zp->dtype != x->dtype)
        return OGQ_KFAIL(ctx, "zero point dtype %s differs from the input's %s",
                         ogq_dtype_name(zp->dtype), ogq_dtype_name(x->dtype));
    struct qlayout L;
    OGQ_TRY(make_layout(ctx, p, x, ctx->inputs[1], zp, &L));
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, x->rank, x->dims,
                                   ctx->node->name, ctx->err);
}

static size_t dq_workspace(const struct ogq_kernel_ctx *ctx)
{
    return (size_t)ctx->inputs[1]->numel * sizeof(float);
}

static enum ogq_status dq_run(struct ogq_kernel_ctx *ctx)
{
    const struct qdq_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0], *s = ctx->inputs[1];
    const struct ogq_rt_tensor *zp = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    struct ogq_rt_tensor *y = ctx->outputs[0];
    struct qlayout L;
    OGQ_TRY(make_layout(ctx, p, x, s, zp, &L));
    float *z = ctx->scratch;
    zp_to_float(zp, z, s->numel);
    struct qjob j = {.s = s->data, .z = z, .x = x->data, .y = y->data, .xdt = x->dtype};
    for_segments(&L, &j, dequant_seg);
    float *yf = y->data;
    if (p->round_to == OGQ_DTYPE_FLOAT16)
        for (int64_t i = 0; i < y->numel; i++)
            yf[i] = ogq_half_to_float(ogq_float_to_half(yf[i]));
    else if (p->round_to == OGQ_DTYPE_BFLOAT16)
        for (int64_t i = 0; i < y->numel; i++)
            yf[i] = ogq_bfloat16_to_float(ogq_float_to_bfloat16(yf[i]));
    return OGQ_OK;
}

/* ---------------------------------------------------------------- DynamicQuantizeLinear */

static enum ogq_status dql_infer(struct ogq_kernel_ctx *ctx)
{
    if (ctx->n_inputs != 1)
        return OGQ_KFAIL(ctx, "expects 1 input, got %zu", ctx->n_inputs);
    OGQ_TRY(ogq_require_float(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    static const enum ogq_dtype dt[3] = {OGQ_DTYPE_UINT8, OGQ_DTYPE_FLOAT, OGQ_DTYPE_UINT8};
    for (size_t k = 0; k < ctx->n_outputs && k < 3; k++)
        if (ctx->outputs[k])
            OGQ_TRY(ogq_rt_tensor_set_shape(ctx->outputs[k], dt[k], k ? 0 : x->rank, x->dims,
                                            ctx->node->name, ctx->err));
    return OGQ_OK;
}

static enum ogq_status dql_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *xt = ctx->inputs[0];
    const float *restrict x = xt->data;
    int64_t n = xt->numel;
    /* The range always includes 0 (ONNX: min(0, min x), max(0, max x)). 64 lanes updated
     * by a plain loop, which vectorises to minps/maxps. */
    float mn[64] = {0}, mx[64] = {0};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 64; j++) {
            float v = x[i + j];
            mn[j] = v < mn[j] ? v : mn[j];
            mx[j] = v > mx[j] ? v : mx[j];
        }
    for (int w = 32; w > 0; w /= 2)
        for (int j = 0; j < w; j++) {
            mn[j] = mn[j + w] < mn[j] ? mn[j + w] : mn[j];
            mx[j] = mx[j + w] > mx[j] ? mx[j + w] : mx[j];
        }
    float lo = mn[0], hi = mx[0];
    for (; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    float scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
    float zp = 0.0f - lo / scale;
    zp = zp < 0.0f ? 0.0f : zp > 255.0f ? 255.0f : zp;
    zp = rintf(zp);
    if (ctx->outputs[0])
        quant_scalar_u8(ctx->outputs[0]->data, x, n, scale, zp, 0.0f, 255.0f);
    if (ctx->n_outputs > 1 && ctx->outputs[1])
        *(float *)ctx->outputs[1]->data = scale;
    if (ctx->n_outputs > 2 && ctx->outputs[2])
        *(uint8_t *)ctx->outputs[2]->data = (uint8_t)zp;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- MatMulNBits */

struct mnb_params {
    int64_t k, n, bits, block;
    int64_t kb;   /* blocks per column: ceil(K / block) */
    int64_t blob; /* bytes per block */
};

/* Rows of B dequantized per sgemm call: about 16 MB of scratch, at least 16 rows. */
#define MNB_SLAB_FLOATS ((int64_t)4 << 20)

static enum ogq_status mnb_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                   struct ogq_error *err)
{
    (void)opset;
    const struct ogq_attr *ka = ogq_node_attr(node, "K"), *na = ogq_node_attr(node, "N");
    const struct ogq_attr *ba = ogq_node_attr(node, "block_size");
    if (!ka || ka->type != OGQ_ATTR_INT || ka->i <= 0 || ka->i > INT32_MAX || !na ||
        na->type != OGQ_ATTR_INT || na->i <= 0 || na->i > INT32_MAX)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                               "K and N must be positive integers below 2^31");
    if (!ba || ba->type != OGQ_ATTR_INT || ba->i < 16 || ba->i > (1 << 20) ||
        (ba->i & (ba->i - 1)) != 0)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                               "block_size must be a power of two in [16, 2^20]");
    int64_t bits = ogq_node_attr_int(node, "bits", 4);
    if (bits != 4 && bits != 8)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "bits=%lld is not supported (4 or 8)", (long long)bits);
    struct mnb_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->k = ka->i;
    p->n = na->i;
    p->bits = bits;
    p->block = ba->i;
    p->kb = (p->k + p->block - 1) / p->block;
    p->blob = p->block * bits / 8;
    *params = p;
    return OGQ_OK;
}

static const struct ogq_rt_tensor *opt_input(const struct ogq_kernel_ctx *ctx, size_t i)
{
    return i < ctx->n_inputs ? ctx->inputs[i] : NULL;
}

static enum ogq_status mnb_infer(struct ogq_kernel_ctx *ctx)
{
    const struct mnb_params *p = ctx->params;
    if (ctx->n_inputs < 3)
        return OGQ_KFAIL(ctx, "expects 3 to 6 inputs, got %zu", ctx->n_inputs);
    OGQ_TRY(ogq_require_float(ctx, 0));
    static const enum ogq_dtype u8[] = {OGQ_DTYPE_UINT8};
    OGQ_TRY(ogq_require_input(ctx, 1, u8, 1));
    OGQ_TRY(ogq_require_float(ctx, 2));
    const struct ogq_rt_tensor *a = ctx->inputs[0], *b = ctx->inputs[1], *s = ctx->inputs[2];
    const struct ogq_rt_tensor *zp = opt_input(ctx, 3), *gi = opt_input(ctx, 4);
    const struct ogq_rt_tensor *bias = opt_input(ctx, 5);
    if (a->rank < 1 || a->dims[a->rank - 1] != p->k)
        return OGQ_KFAIL(ctx, "A's last dimension must be K=%lld", (long long)p->k);
    /* N * kb < 2^62 and blob <= 2^19 (prepare bounds them): compare without overflow. */
    if (b->numel % p->blob != 0 || b->numel / p->blob != p->n * p->kb)
        return OGQ_KFAIL(ctx, "B must hold N*ceil(K/block_size)*blob_size = %lld*%lld*%lld "
                         "bytes, has %lld", (long long)p->n, (long long)p->kb,
                         (long long)p->blob, (long long)b->numel);
    if (s->numel != p->n * p->kb)
        return OGQ_KFAIL(ctx, "scales must hold N*ceil(K/block_size) = %lld values, has %lld",
                         (long long)(p->n * p->kb), (long long)s->numel);
    if (zp) {
        int64_t want;
        if (zp->dtype == OGQ_DTYPE_UINT8)
            want = p->n * ((p->kb * p->bits + 7) / 8);
        else if (zp->dtype == OGQ_DTYPE_FLOAT)
            want = p->n * p->kb;
        else
            return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err,
                                   "zero point dtype %s is not supported",
                                   ogq_dtype_name(zp->dtype));
        if (zp->numel != want)
            return OGQ_KFAIL(ctx, "zero points must hold %lld values, has %lld",
                             (long long)want, (long long)zp->numel);
    }
    if (gi) {
        if (gi->dtype != OGQ_DTYPE_INT32 && gi->dtype != OGQ_DTYPE_INT64)
            return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err,
                                   "g_idx dtype %s is not supported", ogq_dtype_name(gi->dtype));
        if (gi->numel != p->k)
            return OGQ_KFAIL(ctx, "g_idx must hold K=%lld values", (long long)p->k);
        for (int64_t k = 0; k < p->k; k++) {
            int64_t g = ogq_rt_get_int(gi, k);
            if (g < 0 || g >= p->kb)
                return OGQ_KFAIL(ctx, "g_idx[%lld] = %lld is out of range [0, %lld)",
                                 (long long)k, (long long)g, (long long)p->kb);
        }
    }
    if (bias) {
        OGQ_TRY(ogq_require_float(ctx, 5));
        if (bias->numel != p->n)
            return OGQ_KFAIL(ctx, "bias must hold N=%lld values", (long long)p->n);
    }
    int64_t dims[OGQ_RT_MAX_RANK];
    memcpy(dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
    dims[a->rank - 1] = p->n;
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, a->rank, dims,
                                   ctx->node->name, ctx->err);
}

static int64_t mnb_slab_rows(const struct mnb_params *p)
{
    int64_t rows = MNB_SLAB_FLOATS / p->k;
    if (rows < 16)
        rows = 16;
    return rows < p->n ? rows : p->n;
}

static size_t mnb_workspace(const struct ogq_kernel_ctx *ctx)
{
    const struct mnb_params *p = ctx->params;
    /* Slab of dequantized rows, plus one row's scales and zero points (g_idx path) and the
     * group index as int32. */
    size_t floats = (size_t)(mnb_slab_rows(p) * p->k + 2 * p->kb);
    return floats * sizeof(float) + (size_t)p->k * sizeof(int32_t);
}

/* Zero point of block g in row n. */
static inline float mnb_zp(const struct mnb_params *p, const struct ogq_rt_tensor *zp, int64_t n,
                           int64_t g)
{
    if (!zp)
        return (float)(1 << (p->bits - 1));
    if (zp->dtype == OGQ_DTYPE_FLOAT)
        return ((const float *)zp->data)[n * p->kb + g];
    const uint8_t *z = zp->data;
    if (p->bits == 8)
        return (float)z[n * p->kb + g];
    int64_t stride = (p->kb + 1) / 2;
    return (float)nibble(z + n * stride, g, false);
}

/* Dequantizes row n of B (K values) into w. */
static void mnb_dequant_row(const struct mnb_params *p, const uint8_t *b, const float *scales,
                            const struct ogq_rt_tensor *zp, const int32_t *g_idx, float *srow,
                            float *zrow, int64_t n, float *restrict w)
{
    const uint8_t *row = b + n * p->kb * p->blob;
    const float *sc = scales + n * p->kb;
    if (g_idx) {
        for (int64_t g = 0; g < p->kb; g++) {
            srow[g] = sc[g];
            zrow[g] = mnb_zp(p, zp, n, g);
        }
        for (int64_t k = 0; k < p->k; k++) {
            int64_t blk = k / p->block, j = k % p->block;
            const uint8_t *q = row + blk * p->blob;
            float v = p->bits == 4 ? (float)nibble(q, j, false) : (float)q[j];
            w[k] = (v - zrow[g_idx[k]]) * srow[g_idx[k]];
        }
        return;
    }
    for (int64_t g = 0; g < p->kb; g++) {
        const uint8_t *restrict q = row + g * p->blob;
        float s = sc[g], z = mnb_zp(p, zp, n, g);
        int64_t k0 = g * p->block;
        int64_t cnt = p->k - k0 < p->block ? p->k - k0 : p->block;
        float *restrict wb = w + k0;
        if (p->bits == 8) {
            for (int64_t j = 0; j < cnt; j++)
                wb[j] = ((float)q[j] - z) * s;
            continue;
        }
        int64_t pairs = cnt / 2;
        for (int64_t j = 0; j < pairs; j++) {
            wb[2 * j] = ((float)(q[j] & 15) - z) * s;
            wb[2 * j + 1] = ((float)(q[j] >> 4) - z) * s;
        }
        if (cnt & 1)
            wb[cnt - 1] = ((float)(q[pairs] & 15) - z) * s;
    }
}

static enum ogq_status mnb_run(struct ogq_kernel_ctx *ctx)
{
    const struct mnb_params *p = ctx->params;
    const struct ogq_rt_tensor *a = ctx->inputs[0];
    const struct ogq_rt_tensor *zp = opt_input(ctx, 3), *gi = opt_input(ctx, 4);
    const struct ogq_rt_tensor *bias = opt_input(ctx, 5);
    float *y = ctx->outputs[0]->data;
    int64_t m = a->numel / p->k;
    int64_t slab = mnb_slab_rows(p);
    float *w = ctx->scratch;
    float *srow = w + slab * p->k, *zrow = srow + p->kb;
    int32_t *g_idx = NULL;
    if (gi) {
        g_idx = (int32_t *)(zrow + p->kb);
        for (int64_t k = 0; k < p->k; k++)
            g_idx[k] = (int32_t)ogq_rt_get_int(gi, k);
    }
    if (m == 0)
        return OGQ_OK;
    for (int64_t n0 = 0; n0 < p->n; n0 += slab) {
        int64_t rows = p->n - n0 < slab ? p->n - n0 : slab;
        for (int64_t r = 0; r < rows; r++)
            mnb_dequant_row(p, ctx->inputs[1]->data, ctx->inputs[2]->data, zp, g_idx, srow, zrow,
                            n0 + r, w + r * p->k);
        ogq_sgemm(false, true, m, rows, p->k, 1.0f, a->data, p->k, w, p->k, 0.0f, y + n0, p->n);
    }
    if (bias) {
        const float *bv = bias->data;
        for (int64_t i = 0; i < m; i++)
            for (int64_t n = 0; n < p->n; n++)
                y[i * p->n + n] += bv[n];
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- family */

static const struct ogq_kernel kernels[] = {
    {"", "QuantizeLinear", 10, INT_MAX, q_prepare, free, q_infer, q_workspace, q_run, false},
    {"", "DequantizeLinear", 10, INT_MAX, dq_prepare, free, dq_infer, dq_workspace, dq_run,
     false},
    {"", "DynamicQuantizeLinear", 11, INT_MAX, NULL, NULL, dql_infer, NULL, dql_run, false},
    {"com.microsoft", "MatMulNBits", 1, INT_MAX, mnb_prepare, free, mnb_infer, mnb_workspace,
     mnb_run, false},
};

const struct ogq_kernel_family ogq_family_qdq = {"qdq", kernels,
                                                 sizeof kernels / sizeof kernels[0]};
