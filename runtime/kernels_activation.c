/* kernels_activation.c — pointwise activations (Relu, Tanh, Sigmoid, LeakyRelu, Elu, Selu,
 * Celu, HardSigmoid, HardSwish, Gelu, Softplus, Softsign, Mish, Swish, ThresholdedRelu,
 * PRelu), Softmax/LogSoftmax, and the Exp and Erf ops (which share the vectorised exp).
 *
 * Numerics: float32 throughout. exp, tanh, erf/erfc and log1p use the branch-free
 * approximations below (a few ulp; see each), which the compiler vectorises; Elu, Selu and
 * Celu call libm's expm1f for accuracy near zero. Softmax subtracts the row maximum first.
 * Layout: Softmax runs over contiguous rows when the reduced axes are innermost (always
 * for opset < 13, which flattens to 2-D at `axis`); otherwise it sweeps whole rows of
 * the inner block at once so every loop stays contiguous.
 * Loops are written as fixed-size blocks (VLOOP) because GCC's -O2 vectoriser only
 * vectorises loops whose trip count is a known multiple of the vector width.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"

/* ---------------------------------------------------------------- loop helpers */

/* Hot loops are also compiled for x86-64-v4 (AVX-512) and v3 (AVX2, FMA) and picked at load
 * time (GCC function multiversioning, an ifunc): the baseline x86-64 target has only SSE2.
 * Contracting a*b + c into FMA is allowed there (the polynomials get shorter and more
 * accurate), so results can differ from the baseline build in the last bit.
 * -DOGQ_NO_VEC_CLONES builds the plain versions only (to test them on any machine). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) && \
    !defined(OGQ_NO_VEC_CLONES)
#define VEC_CLONES                                                                                 \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),             \
                   optimize("fp-contract=fast")))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define VEC_CLONES
#define ALWAYS_INLINE inline
#endif

#include "vec_loop.h"

/* y[k] = EXPR(x) over the whole input. */
#define UNARY_LOOP(T, EXPR)                                                                        \
    do {                                                                                           \
        const T *restrict xp_ = ctx->inputs[0]->data;                                              \
        T *restrict yp_ = ctx->outputs[0]->data;                                                   \
        VLOOP(ctx->outputs[0]->numel, {                                                            \
            T x = xp_[k];                                                                          \
            yp_[k] = (T)(EXPR);                                                                    \
        });                                                                                        \
    } while (0)

/* ---------------------------------------------------------------- vectorisable math */

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

/* c ? a : b on floats as a bit blend. Both operands are computed unconditionally, so the
 * vectoriser can if-convert the loop (a float select guarding arithmetic cannot be, under
 * the default -ftrapping-math). */
static inline float fsel(bool c, float a, float b)
{
    uint32_t m = (uint32_t)0 - (uint32_t)c;
    return u2f((f2u(a) & m) | (f2u(b) & ~m));
}

/* exp(x) = 2^n * exp(r), r = x - n*ln2 in [-ln2/2, ln2/2] (Cody-Waite split of ln2), exp(r)
 * by a degree-7 polynomial (Cephes coefficients); max error about 1.5 ulp. 2^n is applied
 * as two factors so that results down into the subnormal range and up to overflow (inf)
 * come out right. Written for the vectoriser: the clamp is a bit blend (fsel), n is read
 * from the float's bits (no float-to-int conversion, so no UB), and NaN needs no special
 * case because it flows through the arithmetic. */
static inline float fast_expf(float x)
{
    float xc = fsel(x < -110.0f, -110.0f, x);
    xc = fsel(xc > 89.0f, 89.0f, xc);
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = xc * 1.44269504088896341f + magic;
    float n = t - magic;
    int32_t ni = (int32_t)(f2u(t) - 0x4B400000u);
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t n1 = ni >> 1, n2 = ni - n1;
    return p * u2f((uint32_t)(n1 + 127) << 23) * u2f((uint32_t)(n2 + 127) << 23);
}

/* exp for arguments that are never large (softmax's x - max, exp(-|x|), erfc's exponent):
 * the same reduction and polynomial as fast_expf but one scale factor 2^n, valid for
 * x <= 88.37; results below FLT_MIN (x < -87.33) are flushed to zero by the final select,
 * which also covers -inf and huge negative x whose n is garbage. NaN flows through. */
static inline float fast_expf_small(float x)
{
    const float magic = 12582912.0f;
    float t = x * 1.44269504088896341f + magic;
    float n = t - magic;
    uint32_t ni = f2u(t) - 0x4B400000u;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    float y = p * u2f((ni + 127u) << 23);
    return fsel(x < -87.33f, 0.0f, y);
}

/* tanh as an odd/even rational minimax approximation x P(x^2) / Q(x^2) on [-c, c]
 * (Eigen's float tanh coefficients), with x clamped to c = 7.9053... (tanh(c) is within
 * 4 ulp of 1), and exactly +-1 from 9.02 on, where tanh rounds to 1 in float32. Max
 * relative error about 1.3e-7 plus rounding; NaN flows through the clamps. */
static inline float fast_tanhf(float x)
{
    const float c = 7.90531110763549805f;
    float one = copysignf(1.0f, x);
    bool sat = fabsf(x) > 9.02f;
    x = fsel(x > c, c, x);
    x = fsel(x < -c, -c, x);
    float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 - 8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return fsel(sat, one, x * p / q);
}

/* erfc(z) for z >= 0 as t exp(P(t) - z^2), t = 1/(1 + z/2), with the Chebyshev fit of
 * Numerical Recipes' erfcc (relative error below 1.2e-7 in exact arithmetic, a few ulp in
 * float32 plus the rounding of z^2). Relative accuracy holds all the way into the tail,
 * which is what Gelu's negative side needs. */
static inline float erfc_pos(float z)
{
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * fast_expf_small(p - z * z);
}

static inline float fast_erfcf(float z)
{
    float e = erfc_pos(fabsf(z));
    return fsel(z < 0.0f, 2.0f - e, e);
}

/* erf: odd Taylor series up to z^15 for |z| < 0.5 (1 - erfc would cancel), else
 * sign(z) (1 - erfc(|z|)). */
static inline float fast_erff(float z)
{
    float z2 = z * z;
    float p = -1.0f / 75600.0f;
    p = p * z2 + 1.0f / 9360.0f;
    p = p * z2 - 1.0f / 1320.0f;
    p = p * z2 + 1.0f / 216.0f;
    p = p * z2 - 1.0f / 42.0f;
    p = p * z2 + 1.0f / 10.0f;
    p = p * z2 - 1.0f / 3.0f;
    p = p * z2 + 1.0f;
    float small = 1.12837916709551257f * z * p; /* 2/sqrt(pi) */
    float big = copysignf(1.0f - erfc_pos(fabsf(z)), z);
    return fsel(fabsf(z) < 0.5f, small, big);
}

/* ---------------------------------------------------------------- params */

struct act_params {
    float alpha, beta, gamma;
    int64_t axis;     /* Softmax/LogSoftmax */
    bool tanh_approx; /* Gelu */
};

static enum ogq_status act_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                   struct ogq_error *err)
{
    struct act_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    const char *op = node->op_type;
    float alpha = 1.0f, beta = 0.0f, gamma = 0.0f;
    if (strcmp(op, "LeakyRelu") == 0) {
        alpha = 0.01f;
    } else if (strcmp(op, "Selu") == 0) {
        alpha = 1.67326319217681884765625f;
        gamma = 1.05070102214813232421875f;
    } else if (strcmp(op, "HardSigmoid") == 0) {
        alpha = 0.2f;
        beta = 0.5f;
    } else if (strcmp(op, "Gelu") == 0) {
        const char *a = ogq_node_attr_string(node, "approximate", "none");
        if (strcmp(a, "tanh") == 0) {
            p->tanh_approx = true;
        } else if (strcmp(a, "none") != 0) {
            free(p);
            return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                                   "approximate='%s' is not supported", a);
        }
    } else if (strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0) {
        p->axis = ogq_node_attr_int(node, "axis", opset < 13 ? 1 : -1);
    }
    p->alpha = ogq_node_attr_float(node, "alpha", alpha);
    p->beta = ogq_node_attr_float(node, "beta", beta);
    p->gamma = ogq_node_attr_float(node, "gamma", gamma);
    if (strcmp(op, "Celu") == 0 && p->alpha == 0.0f) {
        free(p);
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "alpha must be nonzero");
    }
    *params = p;
    return OGQ_OK;
}

static enum ogq_status float_infer(struct ogq_kernel_ctx *ctx)
{
    if (ctx->n_outputs < 1 || !ctx->outputs[0])
        return OGQ_KFAIL(ctx, "output 0 is missing");
    OGQ_TRY(ogq_require_float(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    return ogq_rt_tensor_set_shape(ctx->outputs[0], x->dtype, x->rank, x->dims, ctx->node->name,
                                   ctx->err);
}

/* ---------------------------------------------------------------- pointwise */

/* Relu also takes the signed integer types (opset 14). */
static enum ogq_status relu_infer(struct ogq_kernel_ctx *ctx)
{
    static const enum ogq_dtype ok[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT64, OGQ_DTYPE_INT32,
                                        OGQ_DTYPE_INT8};
    if (ctx->n_outputs < 1 || !ctx->outputs[0])
        return OGQ_KFAIL(ctx, "output 0 is missing");
    OGQ_TRY(ogq_require_input(ctx, 0, ok, sizeof ok / sizeof ok[0]));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    return ogq_rt_tensor_set_shape(ctx->outputs[0], x->dtype, x->rank, x->dims, ctx->node->name,
                                   ctx->err);
}

VEC_CLONES static enum ogq_status relu_run(struct ogq_kernel_ctx *ctx)
{
    switch (ctx->inputs[0]->dtype) {
    case OGQ_DTYPE_FLOAT: UNARY_LOOP(float, x < 0.0f ? 0.0f : x); break; /* NaN stays */
    case OGQ_DTYPE_INT64: UNARY_LOOP(int64_t, x > 0 ? x : 0); break;
    case OGQ_DTYPE_INT32: UNARY_LOOP(int32_t, x > 0 ? x : 0); break;
    case OGQ_DTYPE_INT8: UNARY_LOOP(int8_t, x > 0 ? x : 0); break;
    default: return OGQ_KFAIL(ctx, "unsupported dtype");
    }
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status tanh_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, fast_tanhf(x));
    return OGQ_OK;
}

/* With e = exp(-|x|) (never overflows): 1/(1+e) for x >= 0, e/(1+e) for x < 0, so that
 * the negative tail keeps its relative accuracy (down to FLT_MIN, then 0). */
static inline float sigmoid(float x)
{
    float e = fast_expf_small(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return fsel(x < 0.0f, e * s, s);
}

VEC_CLONES static enum ogq_status sigmoid_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, sigmoid(x));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status leaky_relu_run(struct ogq_kernel_ctx *ctx)
{
    const float a = ((const struct act_params *)ctx->params)->alpha;
    UNARY_LOOP(float, fsel(x < 0.0f, a * x, x));
    return OGQ_OK;
}

/* expm1f keeps small negative inputs accurate (exp(x) - 1 cancels). */
static enum ogq_status elu_run(struct ogq_kernel_ctx *ctx)
{
    const float a = ((const struct act_params *)ctx->params)->alpha;
    UNARY_LOOP(float, x < 0.0f ? a * expm1f(x) : x);
    return OGQ_OK;
}

static enum ogq_status selu_run(struct ogq_kernel_ctx *ctx)
{
    const struct act_params *p = ctx->params;
    const float a = p->alpha, g = p->gamma;
    UNARY_LOOP(float, x > 0.0f ? g * x : g * (a * expm1f(x)));
    return OGQ_OK;
}

static enum ogq_status celu_run(struct ogq_kernel_ctx *ctx)
{
    const float a = ((const struct act_params *)ctx->params)->alpha;
    UNARY_LOOP(float, x > 0.0f ? x : a * expm1f(x / a));
    return OGQ_OK;
}

/* max(0, min(1, alpha*x + beta)); NaN propagates. */
static inline float hard_sigmoid(float x, float a, float b)
{
    float v = a * x + b;
    v = fsel(v > 1.0f, 1.0f, v);
    return fsel(v < 0.0f, 0.0f, v);
}

VEC_CLONES static enum ogq_status hard_sigmoid_run(struct ogq_kernel_ctx *ctx)
{
    const struct act_params *p = ctx->params;
    const float a = p->alpha, b = p->beta;
    UNARY_LOOP(float, hard_sigmoid(x, a, b));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status hard_swish_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, x * hard_sigmoid(x, 1.0f / 6.0f, 0.5f));
    return OGQ_OK;
}

/* Both forms are rewritten so that no 1 + (something near -1) cancels for negative x:
 *   none: 0.5 x (1 + erf(x/sqrt2)) = 0.5 x erfc(-x/sqrt2)
 *   tanh: 0.5 x (1 + tanh(u))      = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) */
VEC_CLONES static enum ogq_status gelu_run(struct ogq_kernel_ctx *ctx)
{
    if (((const struct act_params *)ctx->params)->tanh_approx) {
        const float c2 = 2.0f * 0.7978845608028654f; /* 2 sqrt(2/pi) */
        UNARY_LOOP(float, x * sigmoid(c2 * (x + 0.044715f * x * x * x)));
    } else {
        UNARY_LOOP(float, 0.5f * x * fast_erfcf(x * -0.70710678118654752f));
    }
    return OGQ_OK;
}

/* log(u) for u in [1, 2] (Cephes logf: u = m 2^k with m in [sqrt(1/2), sqrt(2)), then a
 * degree-9 polynomial in m - 1; about 1 ulp). */
static inline float log_1_2(float u)
{
    uint32_t b = f2u(u);
    float k = (float)(int32_t)((b >> 23) - 126u);   /* u = m 2^k, m in [0.5, 1) */
    float m = u2f((b & 0x007FFFFFu) | 0x3F000000u);
    bool lo = m < 0.70710678118654752f;
    k = fsel(lo, k - 1.0f, k);
    float f = fsel(lo, m + m - 1.0f, m - 1.0f);
    float z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y = y - 2.12194440e-4f * k;
    y = y - 0.5f * z;
    return (f + y) + 0.693359375f * k;
}

/* log(1 + e) for e in [0, 1]: log(u) e / (u - 1) with u = 1 + e corrects the rounding of
 * u (the classic log1p trick); u == 1 means e is below half an ulp of 1, so log1p(e) = e. */
static inline float log1p_01(float e)
{
    float u = 1.0f + e;
    float d = u - 1.0f;
    float safe_d = fsel(d == 0.0f, 1.0f, d);
    return fsel(d == 0.0f, e, log_1_2(u) * (e / safe_d));
}

/* log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)). NaN flows through. */
static inline float softplus(float x)
{
    return (x < 0.0f ? 0.0f : x) + log1p_01(fast_expf_small(-fabsf(x)));
}

VEC_CLONES static enum ogq_status softplus_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, softplus(x));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status softsign_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, x / (1.0f + fabsf(x)));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status mish_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, x * fast_tanhf(softplus(x)));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status swish_run(struct ogq_kernel_ctx *ctx)
{
    const float a = ((const struct act_params *)ctx->params)->alpha;
    UNARY_LOOP(float, x * sigmoid(a * x));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status thresholded_relu_run(struct ogq_kernel_ctx *ctx)
{
    const float a = ((const struct act_params *)ctx->params)->alpha;
    UNARY_LOOP(float, x <= a ? 0.0f : x); /* NaN stays */
    return OGQ_OK;
}

/* Exp and Erf live here (not with the other unary math) to share the vectorised exp. */
VEC_CLONES static enum ogq_status exp_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, fast_expf(x));
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status erf_run(struct ogq_kernel_ctx *ctx)
{
    UNARY_LOOP(float, fast_erff(x));
    return OGQ_OK;
}

/* ---------------------------------------------------------------- PRelu */

/* slope broadcasts to X (unidirectionally): the output has X's shape. */
static enum ogq_status prelu_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(float_infer(ctx));
    if (ctx->n_inputs < 2)
        return OGQ_KFAIL(ctx, "expects 2 inputs");
    OGQ_TRY(ogq_require_float(ctx, 1));
    int rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    OGQ_TRY(ogq_broadcast_shape(ctx, ctx->inputs, 2, &rank, dims));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (rank != x->rank || memcmp(dims, x->dims, sizeof(int64_t) * (size_t)rank) != 0)
        return OGQ_KFAIL(ctx, "slope does not broadcast to the input's shape");
    return OGQ_OK;
}

VEC_CLONES static enum ogq_status prelu_run(struct ogq_kernel_ctx *ctx)
{
    const float *x = ctx->inputs[0]->data, *s = ctx->inputs[1]->data;
    float *y = ctx->outputs[0]->data;
    struct ogq_bcast_iter it;
    ogq_bcast_iter_init(&it, ctx->outputs[0], ctx->inputs, 2);
    while (ogq_bcast_iter_next(&it)) {
        const float *restrict px = x + it.off[0], *restrict ps = s + it.off[1];
        float *restrict py = y + it.out;
        if (it.step[1]) {
            VLOOP(it.len, py[k] = fsel(px[k] < 0.0f, ps[k] * px[k], px[k]));
        } else {
            const float a = ps[0];
            VLOOP(it.len, py[k] = fsel(px[k] < 0.0f, a * px[k], px[k]));
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Softmax LogSoftmax */

/* Opset < 13: the input is seen as 2-D [prod(dims[:axis]), prod(dims[axis:])] and each row
 * is normalised. Opset 13+: normalised along `axis` alone: [outer, n, inner]. */
static void softmax_geometry(const struct ogq_kernel_ctx *ctx, int axis, int64_t *outer,
                             int64_t *n, int64_t *inner)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t o = 1, m = 1, in = 1;
    for (int d = 0; d < axis; d++)
        o *= x->dims[d];
    if (ctx->opset < 13) {
        for (int d = axis; d < x->rank; d++)
            m *= x->dims[d];
    } else {
        m = x->dims[axis];
        for (int d = axis + 1; d < x->rank; d++)
            in *= x->dims[d];
    }
    *outer = o;
    *n = m;
    *inner = in;
}

static enum ogq_status softmax_axis(const struct ogq_kernel_ctx *ctx, int *axis)
{
    const struct act_params *p = ctx->params;
    return ogq_normalize_axis(ctx, p->axis, ctx->inputs[0]->rank, axis);
}

static enum ogq_status softmax_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(float_infer(ctx));
    int axis;
    return softmax_axis(ctx, &axis);
}

/* Scratch: the running max and sum over one [inner] block (strided case only). */
static size_t softmax_workspace(const struct ogq_kernel_ctx *ctx)
{
    int axis;
    if (softmax_axis(ctx, &axis) != OGQ_OK)
        return 0;
    int64_t outer, n, inner;
    softmax_geometry(ctx, axis, &outer, &n, &inner);
    return inner > 1 ? 2 * (size_t)inner * sizeof(float) : 0;
}

/* Row reductions keep LANES independent partial results (one vector at any width, so the
 * loops vectorise) and then combine them pairwise. */
#define LANES 16

#define FMAX_IGNORE_NAN(a, b) ((a) > (b) ? (a) : (b))

static ALWAYS_INLINE float row_max(const float *restrict x, int64_t n)
{
    float m = -INFINITY;
    int64_t i = 0;
    if (n >= LANES) { /* short rows (e.g. 2-way softmax over boxes) skip the lanes */
        float v[LANES];
        for (int j = 0; j < LANES; j++)
            v[j] = -INFINITY;
        for (; i + LANES <= n; i += LANES)
            for (int j = 0; j < LANES; j++)
                v[j] = FMAX_IGNORE_NAN(x[i + j], v[j]);
        for (int w = LANES / 2; w > 0; w /= 2)
            for (int j = 0; j < w; j++)
                v[j] = FMAX_IGNORE_NAN(v[j + w], v[j]);
        m = v[0];
    }
    for (; i < n; i++)
        m = FMAX_IGNORE_NAN(x[i], m);
    return m;
}

/* y = exp(x - m); returns its sum. (A NaN in x, which row_max skips, makes the sum NaN.) */
static ALWAYS_INLINE float row_exp_sum(const float *restrict x, float *restrict y, float m,
                                       int64_t n)
{
    float s = 0.0f;
    int64_t i = 0;
    if (n >= LANES) {
        float v[LANES] = {0};
        for (; i + LANES <= n; i += LANES)
            for (int j = 0; j < LANES; j++) {
                float e = fast_expf_small(x[i + j] - m);
                y[i + j] = e;
                v[j] += e;
            }
        for (int w = LANES / 2; w > 0; w /= 2)
            for (int j = 0; j < w; j++)
                v[j] += v[j + w];
        s = v[0];
    }
    for (; i < n; i++) {
        float e = fast_expf_small(x[i] - m);
        y[i] = e;
        s += e;
    }
    return s;
}

/* Contiguous rows of n. LogSoftmax also goes through exp(x - m) in y for the sum, then
 * overwrites y with x - m - log(sum). */
VEC_CLONES static void softmax_rows(const float *restrict x, float *restrict y, int64_t rows,
                                    int64_t n, bool log_)
{
    for (int64_t r = 0; r < rows; r++, x += n, y += n) {
        float m = row_max(x, n);
        float s = row_exp_sum(x, y, m, n);
        if (log_) {
            float ls = logf(s);
            VLOOP(n, y[k] = (x[k] - m) - ls);
        } else {
            float inv = 1.0f / s;
            VLOOP(n, y[k] *= inv);
        }
    }
}

/* One [n, inner] block normalised along n: every loop runs over a contiguous [inner]. */
VEC_CLONES static void softmax_strided(const float *restrict x, float *restrict y, int64_t n,
                                       int64_t inner, float *restrict mx, float *restrict sm,
                                       bool log_)
{
    memcpy(mx, x, (size_t)inner * sizeof(float));
    for (int64_t r = 1; r < n; r++) {
        const float *restrict xr = x + r * inner;
        VLOOP(inner, mx[k] = xr[k] > mx[k] ? xr[k] : mx[k]);
    }
    memset(sm, 0, (size_t)inner * sizeof(float));
    for (int64_t r = 0; r < n; r++) {
        const float *restrict xr = x + r * inner;
        float *restrict yr = y + r * inner;
        VLOOP(inner, {
            float e = fast_expf_small(xr[k] - mx[k]);
            yr[k] = e;
            sm[k] += e;
        });
    }
    if (log_) {
        for (int64_t k = 0; k < inner; k++)
            sm[k] = logf(sm[k]);
        for (int64_t r = 0; r < n; r++) {
            const float *restrict xr = x + r * inner;
            float *restrict yr = y + r * inner;
            VLOOP(inner, yr[k] = (xr[k] - mx[k]) - sm[k]);
        }
    } else {
        VLOOP(inner, sm[k] = 1.0f / sm[k]);
        for (int64_t r = 0; r < n; r++) {
            float *restrict yr = y + r * inner;
            VLOOP(inner, yr[k] *= sm[k]);
        }
    }
}

static enum ogq_status softmax_common(struct ogq_kernel_ctx *ctx, bool log_)
{
    int axis;
    OGQ_TRY(softmax_axis(ctx, &axis));
    int64_t outer, n, inner;
    softmax_geometry(ctx, axis, &outer, &n, &inner);
    const float *x = ctx->inputs[0]->data;
    float *y = ctx->outputs[0]->data;
    if (ctx->outputs[0]->numel == 0)
        return OGQ_OK;
    if (inner == 1) {
        softmax_rows(x, y, outer, n, log_);
        return OGQ_OK;
    }
    float *mx = ctx->scratch, *sm = mx + inner;
    for (int64_t o = 0; o < outer; o++)
        softmax_strided(x + o * n * inner, y + o * n * inner, n, inner, mx, sm, log_);
    return OGQ_OK;
}

static enum ogq_status softmax_run(struct ogq_kernel_ctx *ctx)
{
    return softmax_common(ctx, false);
}
static enum ogq_status log_softmax_run(struct ogq_kernel_ctx *ctx)
{
    return softmax_common(ctx, true);
}

/* ---------------------------------------------------------------- family */

#define ACT(op, since, run)                                                                        \
    {"", op, since, INT_MAX, act_prepare, free, float_infer, NULL, run, false}

static const struct ogq_kernel kernels[] = {
    {"", "Relu", 6, INT_MAX, NULL, NULL, relu_infer, NULL, relu_run, false},
    ACT("Tanh", 6, tanh_run),
    ACT("Sigmoid", 6, sigmoid_run),
    ACT("LeakyRelu", 6, leaky_relu_run),
    ACT("Elu", 6, elu_run),
    ACT("Selu", 6, selu_run),
    ACT("Celu", 12, celu_run),
    ACT("HardSigmoid", 6, hard_sigmoid_run),
    ACT("HardSwish", 14, hard_swish_run),
    ACT("Gelu", 20, gelu_run),
    ACT("Softplus", 1, softplus_run),
    ACT("Softsign", 1, softsign_run),
    ACT("Mish", 18, mish_run),
    ACT("Swish", 24, swish_run),
    ACT("ThresholdedRelu", 10, thresholded_relu_run),
    {"", "Exp", 6, INT_MAX, NULL, NULL, float_infer, NULL, exp_run, false},
    {"", "Erf", 9, INT_MAX, NULL, NULL, float_infer, NULL, erf_run, false},
    {"", "PRelu", 6, INT_MAX, NULL, NULL, prelu_infer, NULL, prelu_run, false},
    {"", "Softmax", 1, INT_MAX, act_prepare, free, softmax_infer, softmax_workspace, softmax_run,
     false},
    {"", "LogSoftmax", 1, INT_MAX, act_prepare, free, softmax_infer, softmax_workspace,
     log_softmax_run, false},
};

const struct ogq_kernel_family ogq_family_activation = {"activation", kernels,
                                                        sizeof kernels / sizeof kernels[0]};
