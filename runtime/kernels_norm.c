/* kernels_norm.c — BatchNormalization (inference), LayerNormalization,
 * InstanceNormalization, GroupNormalization, RMSNormalization, LRN. Float32 only.
 *
 * Layout: every op normalizes contiguous rows of the row-major input — LayerNorm/RMSNorm
 * the trailing axes from `axis`, InstanceNorm one (n, c) plane, GroupNorm the C/G planes of
 * a group — so statistics and the normalization are straight vector loops.
 *
 * Numerics: mean and variance are computed in float32 in two passes (mean, then the sum
 * of squared deviations from it), each with 16 partial sums, which avoids the
 * cancellation of the one-pass E[x^2] - E[x]^2 form. Both passes work on x - x0 (x0 the
 * row's first value, exact for nearby values), so rows with a large offset (mean >> std)
 * keep full precision; errors stay far below the 1e-3 test tolerance. Statistics are held
 * in float32, as stash_type=1 (the default) asks; other stash types are refused.
 * BatchNormalization computes (x - mean) * (scale / sqrt(var + eps)) + bias with the
 * per-channel factor precomputed. Training mode (training_mode=1, is_test=0 before opset 7,
 * or the running-statistics outputs) is refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"

/* The build is -O2, where GCC only vectorises loops whose trip count is a known multiple of
 * the vector width; the kernels here are loops over runtime lengths. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#define LANES 16
/* Fully unrolled lane loops keep the partial sums in vector registers. */
#define UNROLL_LANES _Pragma("GCC unroll 16")

static float fold_lanes(float *acc)
{
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            acc[j] += acc[j + w];
    return acc[0];
}

/* Sum of (x - c). */
static float row_sum(const float *restrict x, int64_t n, float c)
{
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        UNROLL_LANES for (int j = 0; j < LANES; j++)
            acc[j] += x[i + j] - c;
    for (int j = 0; i < n; i++, j++)
        acc[j] += x[i] - c;
    return fold_lanes(acc);
}

/* Sum of ((x - c) - d)^2. */
static float row_sqdev(const float *restrict x, int64_t n, float c, float d)
{
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        UNROLL_LANES for (int j = 0; j < LANES; j++) {
            float t = (x[i + j] - c) - d;
            acc[j] += t * t;
        }
    for (int j = 0; i < n; i++, j++) {
        float t = (x[i] - c) - d;
        acc[j] += t * t;
    }
    return fold_lanes(acc);
}

/* Row statistics around a shift: the row's first value. x - shift is exact for values
 * near it, so a large common offset (mean >> std) costs no precision: the mean is
 * shift + off with off small and accurate, and x - mean is formed as (x - shift) - off. */
struct rstats {
    float shift, off, inv_std; /* mean = shift + off; inv_std = 1/sqrt(var + eps) */
};

static struct rstats row_stats(const float *x, int64_t n, float eps)
{
    struct rstats st = {0.0f, 0.0f, 0.0f};
    float var = 0.0f;
    if (n > 0) {
        st.shift = x[0];
        st.off = row_sum(x, n, st.shift) / (float)n;
        var = row_sqdev(x, n, st.shift, st.off) / (float)n;
    }
    st.inv_std = 1.0f / sqrtf(var + eps);
    return st;
}

/* y = (x - mean) * inv * s + b with scalar s and b. */
static void affine_scalar(float *restrict y, const float *restrict x, int64_t n,
                          const struct rstats *st, float s, float b)
{
    float a = st->inv_std * s, c = st->shift, d = st->off;
    for (int64_t k = 0; k < n; k++)
        y[k] = ((x[k] - c) - d) * a + b;
}

static enum ogq_status require_floats(const struct ogq_kernel_ctx *ctx, size_t required,
                                      size_t n)
{
    for (size_t i = 0; i < n && i < ctx->n_inputs; i++) {
        if (!ctx->inputs[i] && i >= required)
            continue;
        OGQ_TRY(ogq_require_float(ctx, i));
    }
    if (ctx->n_inputs < required)
        return OGQ_KFAIL(ctx, "expects at least %zu inputs, got %zu", required, ctx->n_inputs);
    return OGQ_OK;
}

static enum ogq_status check_stash_type(const struct ogq_node *node, struct ogq_error *err)
{
    int64_t st = ogq_node_attr_int(node, "stash_type", 1);
    if (st != OGQ_DTYPE_FLOAT)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "stash_type %lld is not supported (only 1, float)",
                               (long long)st);
    return OGQ_OK;
}

/* Fails when `node` has a present output at index >= n. */
static enum ogq_status only_outputs(const struct ogq_node *node, size_t n, struct ogq_error *err)
{
    for (size_t k = n; k < node->n_outputs; k++)
        if (node->outputs[k])
            return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                                   "output %zu (training statistics) is not supported", k);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- BatchNormalization */

static enum ogq_status bn_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                  struct ogq_error *err)
{
    (void)params;
    if (opset >= 14 && ogq_node_attr_int(node, "training_mode", 0) != 0)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "training_mode=1 is not supported (inference only)");
    if (opset < 7 && ogq_node_attr_int(node, "is_test", 0) == 0)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "is_test=0 (training) is not supported (inference only)");
    if (opset < 9 && ogq_node_attr_int(node, "spatial", 1) == 0)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "spatial=0 is not supported");
    return only_outputs(node, 1, err);
}

static enum ogq_status bn_infer(struct ogq_kernel_ctx *ctx)
{
    if (ctx->n_inputs != 5)
        return OGQ_KFAIL(ctx, "expects 5 inputs, got %zu", ctx->n_inputs);
    OGQ_TRY(require_floats(ctx, 5, 5));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (x->rank < 2)
        return OGQ_KFAIL(ctx, "input must have rank >= 2, got %d", x->rank);
    int64_t c = x->dims[1];
    for (size_t i = 1; i < 5; i++)
        if (ctx->inputs[i]->numel != c || ctx->inputs[i]->rank != 1)
            return OGQ_KFAIL(ctx, "input %zu must have shape [%lld]", i, (long long)c);
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, x->rank, x->dims,
                                   ctx->node->name, ctx->err);
}

static size_t bn_workspace(const struct ogq_kernel_ctx *ctx)
{
    return (size_t)ctx->inputs[0]->dims[1] * sizeof(float);
}

static enum ogq_status bn_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *xt = ctx->inputs[0];
    const float *x = xt->data, *s = ctx->inputs[1]->data, *b = ctx->inputs[2]->data;
    const float *mean = ctx->inputs[3]->data, *var = ctx->inputs[4]->data;
    float *y = ctx->outputs[0]->data;
    float eps = ogq_node_attr_float(ctx->node, "epsilon", 1e-5f);
    int64_t n = xt->dims[0], c = xt->dims[1];
    int64_t sp = 1;
    for (int d = 2; d < xt->rank; d++)
        sp *= xt->dims[d];
    float *a = ctx->scratch;
    for (int64_t k = 0; k < c; k++)
        a[k] = s[k] / sqrtf(var[k] + eps);
    if (sp == 1) { /* [N, C]: vectorise over channels */
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < c; k++)
                y[i * c + k] = (x[i * c + k] - mean[k]) * a[k] + b[k];
        return OGQ_OK;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++) {
            int64_t off = (i * c + k) * sp;
            float m = mean[k], f = a[k], bb = b[k];
            for (int64_t j = 0; j < sp; j++)
                y[off + j] = (x[off + j] - m) * f + bb;
        }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Layer/RMS normalization */

/* Checks that `t` broadcasts to the normalized shape x.dims[axis..] and returns a pointer
 * to its values laid out densely over that shape: `t`'s data when it already is, else an
 * expansion into `buf` (when buf is NULL, only reports via *needs_buf). */
static enum ogq_status norm_operand(const struct ogq_kernel_ctx *ctx, const struct ogq_rt_tensor *t,
                                    const char *what, int axis, float *buf, const float **out,
                                    bool *needs_buf)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (t->rank > x->rank)
        return OGQ_KFAIL(ctx, "%s has rank %d, more than the input's %d", what, t->rank, x->rank);
    int64_t d_norm = 1;
    for (int d = axis; d < x->rank; d++)
        d_norm *= x->dims[d];
    for (int j = 0; j < t->rank; j++) {
        int d = x->rank - t->rank + j;
        bool ok = t->dims[j] == 1 || (d >= axis && t->dims[j] == x->dims[d]);
        if (!ok)
            return OGQ_KFAIL(ctx, "%s dim %d (%lld) does not broadcast to the normalized shape",
                             what, j, (long long)t->dims[j]);
    }
    *needs_buf = t->numel != d_norm;
    if (!*needs_buf) {
        *out = t->data;
        return OGQ_OK;
    }
    if (!buf)
        return OGQ_OK;
    /* Expand over the normalized axes with broadcast strides. */
    int nr = x->rank - axis;
    int64_t dims[OGQ_RT_MAX_RANK], str[OGQ_RT_MAX_RANK], idx[OGQ_RT_MAX_RANK] = {0};
    int64_t s = 1;
    for (int k = nr - 1; k >= 0; k--) {
        int d = axis + k;
        int j = d - (x->rank - t->rank);
        dims[k] = x->dims[d];
        str[k] = (j >= 0 && t->dims[j] != 1) ? s : 0;
        if (j >= 0)
            s *= t->dims[j];
    }
    const float *src = t->data;
    for (int64_t i = 0; i < d_norm; i++) {
        int64_t o = 0;
        for (int k = 0; k < nr; k++)
            o += idx[k] * str[k];
        buf[i] = src[o];
        for (int k = nr - 1; k >= 0; k--) {
            if (++idx[k] < dims[k])
                break;
            idx[k] = 0;
        }
    }
    *out = buf;
    return OGQ_OK;
}

struct ln_params {
    int64_t axis;
    float eps;
    bool rms;
};

static enum ogq_status ln_prepare_common(const struct ogq_node *node, void **params,
                                         struct ogq_error *err, bool rms)
{
    OGQ_TRY(check_stash_type(node, err));
    struct ln_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->axis = ogq_node_attr_int(node, "axis", -1);
    p->eps = ogq_node_attr_float(node, "epsilon", 1e-5f);
    p->rms = rms;
    *params = p;
    return OGQ_OK;
}

static enum ogq_status ln_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                  struct ogq_error *err)
{
    (void)opset;
    return ln_prepare_common(node, params, err, false);
}

static enum ogq_status rms_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                   struct ogq_error *err)
{
    (void)opset;
    return ln_prepare_common(node, params, err, true);
}

static enum ogq_status ln_infer(struct ogq_kernel_ctx *ctx)
{
    const struct ln_params *p = ctx->params;
    OGQ_TRY(require_floats(ctx, 2, p->rms ? 2 : 3));
    for (size_t k = p->rms ? 1 : 3; k < ctx->n_outputs; k++)
        if (ctx->outputs[k])
            return OGQ_KFAIL(ctx, "has no output %zu", k);
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int axis;
    OGQ_TRY(ogq_normalize_axis(ctx, p->axis, x->rank, &axis));
    const float *dummy;
    bool nb;
    OGQ_TRY(norm_operand(ctx, ctx->inputs[1], "scale", axis, NULL, &dummy, &nb));
    if (!p->rms && ctx->n_inputs > 2 && ctx->inputs[2])
        OGQ_TRY(norm_operand(ctx, ctx->inputs[2], "bias", axis, NULL, &dummy, &nb));
    OGQ_TRY(ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, x->rank, x->dims,
                                    ctx->node->name, ctx->err));
    int64_t sdims[OGQ_RT_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        sdims[d] = d < axis ? x->dims[d] : 1;
    for (size_t k = 1; k < ctx->n_outputs && k < 3; k++)
        if (ctx->outputs[k])
            OGQ_TRY(ogq_rt_tensor_set_shape(ctx->outputs[k], OGQ_DTYPE_FLOAT, x->rank, sdims,
                                            ctx->node->name, ctx->err));
    return OGQ_OK;
}

static size_t ln_workspace(const struct ogq_kernel_ctx *ctx)
{
    const struct ln_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int axis = (int)(p->axis < 0 ? p->axis + x->rank : p->axis);
    int64_t d_norm = 1;
    for (int d = axis; d < x->rank; d++)
        d_norm *= x->dims[d];
    size_t n = 0;
    const struct ogq_rt_tensor *s = ctx->inputs[1];
    const struct ogq_rt_tensor *b = ctx->n_inputs > 2 && !p->rms ? ctx->inputs[2] : NULL;
    if (s->numel != d_norm)
        n += (size_t)d_norm;
    if (b && b->numel != d_norm)
        n += (size_t)d_norm;
    return n * sizeof(float);
}

static enum ogq_status ln_run(struct ogq_kernel_ctx *ctx)
{
    const struct ln_params *p = ctx->params;
    const struct ogq_rt_tensor *xt = ctx->inputs[0];
    int axis;
    OGQ_TRY(ogq_normalize_axis(ctx, p->axis, xt->rank, &axis));
    int64_t rows = 1, d_norm = 1;
    for (int d = 0; d < xt->rank; d++) {
        if (d < axis)
            rows *= xt->dims[d];
        else
            d_norm *= xt->dims[d];
    }
    float *buf = ctx->scratch;
    const float *s, *b = NULL;
    bool nb;
    OGQ_TRY(norm_operand(ctx, ctx->inputs[1], "scale", axis, buf, &s, &nb));
    if (nb)
        buf += d_norm;
    if (!p->rms && ctx->n_inputs > 2 && ctx->inputs[2])
        OGQ_TRY(norm_operand(ctx, ctx->inputs[2], "bias", axis, buf, &b, &nb));
    const float *x = xt->data;
    float *y = ctx->outputs[0]->data;
    float *mean_out = ctx->n_outputs > 1 && ctx->outputs[1] ? ctx->outputs[1]->data : NULL;
    float *inv_out = ctx->n_outputs > 2 && ctx->outputs[2] ? ctx->outputs[2]->data : NULL;
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * d_norm;
        float *restrict yr = y + r * d_norm;
        if (p->rms) {
            float ms = d_norm > 0 ? row_sqdev(xr, d_norm, 0.0f, 0.0f) / (float)d_norm : 0.0f;
            float inv = 1.0f / sqrtf(ms + p->eps);
            for (int64_t k = 0; k < d_norm; k++)
                yr[k] = xr[k] * inv * s[k];
            continue;
        }
        struct rstats st = row_stats(xr, d_norm, p->eps);
        float c = st.shift, d = st.off, inv = st.inv_std;
        if (b) {
            for (int64_t k = 0; k < d_norm; k++)
                yr[k] = ((xr[k] - c) - d) * inv * s[k] + b[k];
        } else {
            for (int64_t k = 0; k < d_norm; k++)
                yr[k] = ((xr[k] - c) - d) * inv * s[k];
        }
        if (mean_out)
            mean_out[r] = c + d;
        if (inv_out)
            inv_out[r] = inv;
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Instance/Group norm */

static enum ogq_status in_infer(struct ogq_kernel_ctx *ctx)
{
    if (ctx->n_inputs != 3)
        return OGQ_KFAIL(ctx, "expects 3 inputs, got %zu", ctx->n_inputs);
    OGQ_TRY(require_floats(ctx, 3, 3));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (x->rank < 3)
        return OGQ_KFAIL(ctx, "input must have rank >= 3, got %d", x->rank);
    for (size_t i = 1; i < 3; i++)
        if (ctx->inputs[i]->numel != x->dims[1] || ctx->inputs[i]->rank != 1)
            return OGQ_KFAIL(ctx, "input %zu must have shape [%lld]", i, (long long)x->dims[1]);
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, x->rank, x->dims,
                                   ctx->node->name, ctx->err);
}

static enum ogq_status in_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *xt = ctx->inputs[0];
    const float *x = xt->data, *s = ctx->inputs[1]->data, *b = ctx->inputs[2]->data;
    float *y = ctx->outputs[0]->data;
    float eps = ogq_node_attr_float(ctx->node, "epsilon", 1e-5f);
    int64_t n = xt->dims[0], c = xt->dims[1], sp = 1;
    for (int d = 2; d < xt->rank; d++)
        sp *= xt->dims[d];
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++) {
            int64_t off = (i * c + k) * sp;
            struct rstats st = row_stats(x + off, sp, eps);
            affine_scalar(y + off, x + off, sp, &st, s[k], b[k]);
        }
    return OGQ_OK;
}

struct gn_params {
    int64_t groups;
    float eps;
    bool per_group; /* opset 18-20: scale and bias per group; 21+: per channel */
};

static enum ogq_status gn_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                  struct ogq_error *err)
{
    if (opset >= 21)
        OGQ_TRY(check_stash_type(node, err));
    const struct ogq_attr *a = ogq_node_attr(node, "num_groups");
    if (!a || a->type != OGQ_ATTR_INT || a->i <= 0)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                               "num_groups must be a positive integer attribute");
    struct gn_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->groups = a->i;
    p->eps = ogq_node_attr_float(node, "epsilon", 1e-5f);
    p->per_group = opset < 21;
    *params = p;
    return OGQ_OK;
}

static enum ogq_status gn_infer(struct ogq_kernel_ctx *ctx)
{
    const struct gn_params *p = ctx->params;
    if (ctx->n_inputs != 3)
        return OGQ_KFAIL(ctx, "expects 3 inputs, got %zu", ctx->n_inputs);
    OGQ_TRY(require_floats(ctx, 3, 3));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (x->rank < 2)
        return OGQ_KFAIL(ctx, "input must have rank >= 2, got %d", x->rank);
    if (x->dims[1] % p->groups != 0)
        return OGQ_KFAIL(ctx, "%lld channels are not divisible into %lld groups",
                         (long long)x->dims[1], (long long)p->groups);
    int64_t want = p->per_group ? p->groups : x->dims[1];
    for (size_t i = 1; i < 3; i++)
        if (ctx->inputs[i]->numel != want)
            return OGQ_KFAIL(ctx, "input %zu must have %lld values (one per %s), has %lld", i,
                             (long long)want, p->per_group ? "group" : "channel",
                             (long long)ctx->inputs[i]->numel);
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, x->rank, x->dims,
                                   ctx->node->name, ctx->err);
}

static enum ogq_status gn_run(struct ogq_kernel_ctx *ctx)
{
    const struct gn_params *p = ctx->params;
    const struct ogq_rt_tensor *xt = ctx->inputs[0];
    const float *x = xt->data, *s = ctx->inputs[1]->data, *b = ctx->inputs[2]->data;
    float *y = ctx->outputs[0]->data;
    int64_t n = xt->dims[0], c = xt->dims[1], sp = 1;
    for (int d = 2; d < xt->rank; d++)
        sp *= xt->dims[d];
    int64_t cpg = c / p->groups;
    for (int64_t i = 0; i < n; i++)
        for (int64_t g = 0; g < p->groups; g++) {
            int64_t off = (i * c + g * cpg) * sp;
            struct rstats st = row_stats(x + off, cpg * sp, p->eps);
            for (int64_t k = 0; k < cpg; k++) {
                int64_t ch = g * cpg + k, o = off + k * sp;
                int64_t pi = p->per_group ? g : ch;
                affine_scalar(y + o, x + o, sp, &st, s[pi], b[pi]);
            }
        }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- LRN */

struct lrn_params {
    float alpha, beta, bias;
    int64_t size;
};

static enum ogq_status lrn_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                   struct ogq_error *err)
{
    (void)opset;
    const struct ogq_attr *a = ogq_node_attr(node, "size");
    if (!a || a->type != OGQ_ATTR_INT || a->i <= 0)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                               "size must be a positive integer attribute");
    struct lrn_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->size = a->i;
    p->alpha = ogq_node_attr_float(node, "alpha", 1e-4f);
    p->beta = ogq_node_attr_float(node, "beta", 0.75f);
    p->bias = ogq_node_attr_float(node, "bias", 1.0f);
    *params = p;
    return OGQ_OK;
}

static enum ogq_status lrn_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(require_floats(ctx, 1, 1));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (x->rank < 2)
        return OGQ_KFAIL(ctx, "input must have rank >= 2, got %d", x->rank);
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, x->rank, x->dims,
                                   ctx->node->name, ctx->err);
}

static size_t lrn_workspace(const struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t sp = 1;
    for (int d = 2; d < x->rank; d++)
        sp *= x->dims[d];
    return (size_t)sp * sizeof(float);
}

static enum ogq_status lrn_run(struct ogq_kernel_ctx *ctx)
{
    const struct lrn_params *p = ctx->params;
    const struct ogq_rt_tensor *xt = ctx->inputs[0];
    const float *x = xt->data;
    float *y = ctx->outputs[0]->data;
    float *restrict sq = ctx->scratch;
    int64_t n = xt->dims[0], c = xt->dims[1], sp = 1;
    for (int d = 2; d < xt->rank; d++)
        sp *= xt->dims[d];
    /* Window [ch - lo, ch + hi]: lo = floor((size-1)/2), hi = ceil((size-1)/2). */
    int64_t lo = (p->size - 1) / 2, hi = p->size - 1 - lo;
    float k = p->alpha / (float)p->size;
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi >= c ? c - 1 : ch + hi;
            for (int64_t j = 0; j < sp; j++)
                sq[j] = 0.0f;
            for (int64_t w = c0; w <= c1; w++) {
                const float *restrict xw = x + (i * c + w) * sp;
                for (int64_t j = 0; j < sp; j++)
                    sq[j] += xw[j] * xw[j];
            }
            const float *restrict xc = x + (i * c + ch) * sp;
            float *restrict yc = y + (i * c + ch) * sp;
            for (int64_t j = 0; j < sp; j++)
                yc[j] = xc[j] / powf(p->bias + k * sq[j], p->beta);
        }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- family */

static const struct ogq_kernel kernels[] = {
    {"", "BatchNormalization", 6, INT_MAX, bn_prepare, NULL, bn_infer, bn_workspace, bn_run,
     false},
    {"", "LayerNormalization", 17, INT_MAX, ln_prepare, free, ln_infer, ln_workspace, ln_run,
     false},
    {"", "RMSNormalization", 23, INT_MAX, rms_prepare, free, ln_infer, ln_workspace, ln_run,
     false},
    {"", "InstanceNormalization", 1, INT_MAX, NULL, NULL, in_infer, NULL, in_run, false},
    {"", "GroupNormalization", 18, INT_MAX, gn_prepare, free, gn_infer, NULL, gn_run, false},
    {"", "LRN", 1, INT_MAX, lrn_prepare, free, lrn_infer, lrn_workspace, lrn_run, false},
};

const struct ogq_kernel_family ogq_family_norm = {"norm", kernels,
                                                  sizeof kernels / sizeof kernels[0]};
