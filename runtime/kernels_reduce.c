/* kernels_reduce.c — ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
 * ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp (every opset).
 *
 * Axes: an attribute up to opset 12 (ReduceSum) / 17 (the others), an optional input
 * from then on. Empty axes mean "all axes", or "no reduction" with noop_with_empty_axes
 * (the element map still applies then, as in the ONNX reference: ReduceSumSquare gives
 * x*x, ReduceL1 |x|).
 *
 * Layout: the input's axes are merged into alternating runs of kept / reduced axes (size-1
 * axes dropped), and the input is swept once in contiguous runs over the innermost merged
 * axis. When that axis is reduced, each run folds into one output element (16 partial
 * accumulators, so the loop vectorises and the sum is blocked); when it is kept, each run
 * is combined elementwise into a contiguous slice of the output. Reducing the last axes,
 * the leading axes, or everything are therefore all straight vector loops.
 *
 * Numerics: float sums accumulate in float32, like ONNX Runtime; the 16-lane partial sums
 * keep the error well inside the 1e-3 test tolerance. ReduceMax/Min propagate NaN like
 * numpy. ReduceLogSumExp subtracts the (finite) maximum first, as the ONNX reference does.
 * Integer types (int32/int64: Sum Mean Prod Max Min L1 SumSquare; int8/uint8/bool: Max Min)
 * wrap like the C unsigned types; the integer mean truncates toward zero.
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

enum rop {
    R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_SUMSQ, R_LOGSUM, R_LOGSUMEXP,
    R_EXPSUM, /* internal: sum of exp(x - m), second sweep of ReduceLogSumExp */
    R_FMAX,   /* internal: max over finite values, first sweep of ReduceLogSumExp */
};

struct reduce_params {
    enum rop op;
    bool keepdims;
    bool noop_empty;
    bool axes_input; /* axes come from input 1 (opset 13 for ReduceSum, 18 for the others) */
    size_t n_axes;   /* attribute axes */
    int64_t axes[OGQ_RT_MAX_RANK];
};

/* The reduction as seen by the sweep: merged axes, alternately kept and reduced. */
struct plan {
    int nd;
    int64_t dims[OGQ_RT_MAX_RANK];
    bool red[OGQ_RT_MAX_RANK];
    int64_t count; /* input elements folded into each output element */
    int out_rank;
    int64_t out_dims[OGQ_RT_MAX_RANK];
};

static enum ogq_status reduce_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                      struct ogq_error *err, enum rop op, int axes_input_since)
{
    struct reduce_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->op = op;
    p->keepdims = ogq_node_attr_int(node, "keepdims", 1) != 0;
    p->axes_input = opset >= axes_input_since;
    /* noop_with_empty_axes arrived together with the axes input. */
    p->noop_empty = p->axes_input && ogq_node_attr_int(node, "noop_with_empty_axes", 0) != 0;
    const int64_t *ax;
    size_t n;
    if (ogq_attr_ints(node, "axes", &ax, &n)) {
        if (p->axes_input) {
            free(p);
            return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                                   "axes is an input from opset %d, not an attribute",
                                   axes_input_since);
        }
        if (n > OGQ_RT_MAX_RANK) {
            free(p);
            return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "too many axes (%zu)", n);
        }
        memcpy(p->axes, ax, n * sizeof *ax);
        p->n_axes = n;
    }
    *params = p;
    return OGQ_OK;
}

#define REDUCE_PREPARE(NAME, OP, SINCE)                                                            \
    static enum ogq_status NAME(const struct ogq_node *node, int64_t opset, void **params,        \
                                struct ogq_error *err)                                             \
    {                                                                                              \
        return reduce_prepare(node, opset, params, err, OP, SINCE);                                \
    }

REDUCE_PREPARE(prep_sum, R_SUM, 13)
REDUCE_PREPARE(prep_mean, R_MEAN, 18)
REDUCE_PREPARE(prep_max, R_MAX, 18)
REDUCE_PREPARE(prep_min, R_MIN, 18)
REDUCE_PREPARE(prep_prod, R_PROD, 18)
REDUCE_PREPARE(prep_l1, R_L1, 18)
REDUCE_PREPARE(prep_l2, R_L2, 18)
REDUCE_PREPARE(prep_sumsq, R_SUMSQ, 18)
REDUCE_PREPARE(prep_logsum, R_LOGSUM, 18)
REDUCE_PREPARE(prep_logsumexp, R_LOGSUMEXP, 18)

/* Resolves the axes of this invocation into a plan (called by infer, workspace and run). */
static enum ogq_status make_plan(const struct ogq_kernel_ctx *ctx, struct plan *pl)
{
    const struct reduce_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t axes[OGQ_RT_MAX_RANK];
    size_t n_axes = 0;
    if (p->axes_input) {
        if (ctx->n_inputs > 1 && ctx->inputs[1])
            OGQ_TRY(ogq_read_ints(ctx, ctx->inputs[1], "axes", axes, OGQ_RT_MAX_RANK, &n_axes));
    } else {
        if (ctx->n_inputs > 1 && ctx->inputs[1])
            return OGQ_KFAIL(ctx, "axes is an attribute before opset %d, not an input",
                             p->op == R_SUM ? 13 : 18);
        n_axes = p->n_axes;
        memcpy(axes, p->axes, n_axes * sizeof *axes);
    }
    bool mask[OGQ_RT_MAX_RANK] = {false};
    if (n_axes == 0) {
        for (int d = 0; d < x->rank; d++)
            mask[d] = !p->noop_empty;
    }
    for (size_t i = 0; i < n_axes; i++) {
        int a;
        OGQ_TRY(ogq_normalize_axis(ctx, axes[i], x->rank, &a));
        mask[a] = true;
    }
    pl->count = 1;
    pl->out_rank = 0;
    pl->nd = 0;
    for (int d = 0; d < x->rank; d++) {
        if (mask[d]) {
            pl->count *= x->dims[d];
            if (p->keepdims)
                pl->out_dims[pl->out_rank++] = 1;
        } else {
            pl->out_dims[pl->out_rank++] = x->dims[d];
        }
        if (x->dims[d] == 1)
            continue;
        if (pl->nd > 0 && pl->red[pl->nd - 1] == mask[d]) {
            pl->dims[pl->nd - 1] *= x->dims[d];
        } else {
            pl->dims[pl->nd] = x->dims[d];
            pl->red[pl->nd] = mask[d];
            pl->nd++;
        }
    }
    if (pl->nd == 0) { /* one element: a scalar or all-ones shape */
        pl->nd = 1;
        pl->dims[0] = 1;
        pl->red[0] = true;
    }
    return OGQ_OK;
}

static bool op_supports(enum rop op, enum ogq_dtype dt)
{
    switch (dt) {
    case OGQ_DTYPE_FLOAT: return true;
    case OGQ_DTYPE_INT32:
    case OGQ_DTYPE_INT64:
        return op == R_SUM || op == R_MEAN || op == R_MAX || op == R_MIN || op == R_PROD ||
               op == R_L1 || op == R_SUMSQ;
    case OGQ_DTYPE_INT8:
    case OGQ_DTYPE_UINT8:
    case OGQ_DTYPE_BOOL: return op == R_MAX || op == R_MIN;
    default: return false;
    }
}

static enum ogq_status reduce_infer(struct ogq_kernel_ctx *ctx)
{
    const struct reduce_params *p = ctx->params;
    if (ctx->n_inputs < 1 || !ctx->inputs[0])
        return OGQ_KFAIL(ctx, "input 0 is missing");
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (!op_supports(p->op, x->dtype))
        return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err,
                               "input dtype %s is not supported", ogq_dtype_name(x->dtype));
    struct plan pl;
    OGQ_TRY(make_plan(ctx, &pl));
    return ogq_rt_tensor_set_shape(ctx->outputs[0], x->dtype, pl.out_rank, pl.out_dims,
                                   ctx->node->name, ctx->err);
}

static size_t reduce_workspace(const struct ogq_kernel_ctx *ctx)
{
    const struct reduce_params *p = ctx->params;
    if (p->op != R_LOGSUMEXP)
        return 0;
    return (size_t)ctx->outputs[0]->numel * sizeof(float);
}

/* ---------------------------------------------------------------- the sweep */

/* Walks the input in contiguous runs over the innermost merged axis, tracking the offset
 * of the output element (inner axis reduced) or slice (inner axis kept) each run feeds. */
struct runs {
    int nd;
    int64_t dims[OGQ_RT_MAX_RANK];
    int64_t ostr[OGQ_RT_MAX_RANK]; /* output strides, 0 along reduced axes */
    int64_t idx[OGQ_RT_MAX_RANK];
    int64_t len;    /* run length */
    int64_t n;      /* number of runs */
    int64_t o;      /* output offset of the current run */
    bool inner_red; /* innermost merged axis is reduced */
};

static void runs_init(struct runs *it, const struct plan *pl, int64_t numel)
{
    memset(it, 0, sizeof *it);
    it->nd = pl->nd;
    int64_t s = 1;
    for (int d = pl->nd - 1; d >= 0; d--) {
        it->dims[d] = pl->dims[d];
        it->ostr[d] = pl->red[d] ? 0 : s;
        if (!pl->red[d])
            s *= pl->dims[d];
    }
    it->len = pl->dims[pl->nd - 1];
    it->n = it->len ? numel / it->len : 0;
    it->inner_red = pl->red[pl->nd - 1];
}

static inline void runs_next(struct runs *it)
{
    for (int d = it->nd - 2; d >= 0; d--) {
        it->o += it->ostr[d];
        if (++it->idx[d] < it->dims[d])
            return;
        it->o -= it->ostr[d] * it->dims[d];
        it->idx[d] = 0;
    }
}

/* ---------------------------------------------------------------- float */

#define LANES 16
/* Fully unrolled lane loops keep the partial sums in vector registers. */
#define UNROLL_LANES _Pragma("GCC unroll 16")

/* NaN-propagating max/min (numpy semantics). */
#define MAXN(a, v) ((((v) > (a)) | ((v) != (v))) ? (v) : (a))
#define MINN(a, v) ((((v) < (a)) | ((v) != (v))) ? (v) : (a))
#define ADD(a, v) ((a) + (v))
#define MUL(a, v) ((a) * (v))
#define ID(v) (v)
#define ABS(v) fabsf(v)
#define SQ(v) ((v) * (v))
#define EXPM(v) expf((v) - c)
#define FINITE(v) (isinf(v) ? -INFINITY : (v))

/* Row reduction with LANES partial accumulators, then a pairwise fold; `c` is a constant
 * some maps use. */
#define ROW_REDUCE(NAME, INIT, COMBINE, MAP)                                                       \
    static float NAME(const float *restrict x, int64_t n, float c)                                \
    {                                                                                              \
        (void)c;                                                                                   \
        float acc[LANES];                                                                          \
        for (int j = 0; j < LANES; j++)                                                            \
            acc[j] = (INIT);                                                                       \
        int64_t i = 0;                                                                             \
        for (; i + LANES <= n; i += LANES)                                                         \
            UNROLL_LANES for (int j = 0; j < LANES; j++)                                           \
                acc[j] = COMBINE(acc[j], MAP(x[i + j]));                                           \
        for (int j = 0; i < n; i++, j++)                                                           \
            acc[j] = COMBINE(acc[j], MAP(x[i]));                                                   \
        for (int w = LANES / 2; w > 0; w /= 2)                                                     \
            for (int j = 0; j < w; j++)                                                            \
                acc[j] = COMBINE(acc[j], acc[j + w]);                                              \
        return acc[0];                                                                             \
    }

/* Max/min rows: a compare-and-select does not vectorise once unrolled, so the lanes are a
 * 64-float block updated by a plain loop (each lane is touched once per 64 elements, so the
 * block may live in memory). The select is the plain one (maxps/minps); NaN is tracked in
 * separate flags and returned at the end, as numpy propagates it. */
#define SEL_LANES 64
#define PMAX(a, v) ((v) > (a) ? (v) : (a))
#define PMIN(a, v) ((v) < (a) ? (v) : (a))
#define ROW_SELECT(NAME, INIT, PICK, MAP)                                                          \
    static float NAME(const float *restrict x, int64_t n, float c)                                \
    {                                                                                              \
        (void)c;                                                                                   \
        if (n < SEL_LANES) { /* short runs: skip the lane set-up */                                \
            float r = (INIT);                                                                      \
            int32_t any_nan = 0;                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                float v = MAP(x[i]);                                                               \
                r = PICK(r, v);                                                                    \
                any_nan |= v != v;                                                                 \
            }                                                                                      \
            return any_nan ? NAN : r;                                                              \
        }                                                                                          \
        float acc[SEL_LANES];                                                                      \
        int32_t nan[SEL_LANES];                                                                    \
        for (int j = 0; j < SEL_LANES; j++) {                                                      \
            acc[j] = (INIT);                                                                       \
            nan[j] = 0;                                                                            \
        }                                                                                          \
        int64_t i = 0;                                                                             \
        for (; i + SEL_LANES <= n; i += SEL_LANES)                                                 \
            for (int j = 0; j < SEL_LANES; j++) {                                                  \
                float v = MAP(x[i + j]);                                                           \
                acc[j] = PICK(acc[j], v);                                                          \
                nan[j] |= v != v;                                                                  \
            }                                                                                      \
        for (int w = SEL_LANES / 2; w > 0; w /= 2)                                                 \
            for (int j = 0; j < w; j++) {                                                          \
                acc[j] = PICK(acc[j], acc[j + w]);                                                 \
                nan[j] |= nan[j + w];                                                              \
            }                                                                                      \
        float r = acc[0];                                                                          \
        int32_t any_nan = nan[0];                                                                  \
        for (; i < n; i++) {                                                                       \
            float v = MAP(x[i]);                                                                   \
            r = PICK(r, v);                                                                        \
            any_nan |= v != v;                                                                     \
        }                                                                                          \
        return any_nan ? NAN : r;                                                                  \
    }

ROW_REDUCE(row_sum, 0.0f, ADD, ID)
ROW_REDUCE(row_asum, 0.0f, ADD, ABS)
ROW_REDUCE(row_sumsq, 0.0f, ADD, SQ)
ROW_REDUCE(row_expsum, 0.0f, ADD, EXPM)
ROW_REDUCE(row_prod, 1.0f, MUL, ID)
ROW_SELECT(row_max, -INFINITY, PMAX, ID)
ROW_SELECT(row_fmax, -INFINITY, PMAX, FINITE)
ROW_SELECT(row_min, INFINITY, PMIN, ID)

/* y[k] = COMBINE(y[k], MAP(x[k])); `m` holds the per-element constant of EXPM. */
#define VEC_COMBINE(NAME, COMBINE, MAP)                                                            \
    static void NAME(float *restrict y, const float *restrict x, int64_t n,                       \
                     const float *restrict m)                                                      \
    {                                                                                              \
        (void)m;                                                                                   \
        for (int64_t k = 0; k < n; k++) {                                                          \
            float c = m ? m[k] : 0.0f;                                                             \
            (void)c;                                                                               \
            y[k] = COMBINE(y[k], MAP(x[k]));                                                       \
        }                                                                                          \
    }

VEC_COMBINE(vec_sum, ADD, ID)
VEC_COMBINE(vec_asum, ADD, ABS)
VEC_COMBINE(vec_sumsq, ADD, SQ)
VEC_COMBINE(vec_expsum, ADD, EXPM)
VEC_COMBINE(vec_prod, MUL, ID)
VEC_COMBINE(vec_max, MAXN, ID)
VEC_COMBINE(vec_fmax, MAXN, FINITE)
VEC_COMBINE(vec_min, MINN, ID)

typedef float (*row_fn)(const float *restrict, int64_t, float);
typedef void (*vec_fn)(float *restrict, const float *restrict, int64_t, const float *restrict);

/* One sweep of `op` (a combining op: SUM L1 SUMSQ PROD MAX MIN FMAX EXPSUM) into y, which
 * holds the initial values. `m` is the per-output constant of EXPSUM. */
static void sweep_f32(const struct plan *pl, enum rop op, const float *restrict x, int64_t numel,
                      float *restrict y, const float *restrict m)
{
    row_fn row;
    vec_fn vec;
    switch (op) {
    case R_L1: row = row_asum, vec = vec_asum; break;
    case R_SUMSQ: row = row_sumsq, vec = vec_sumsq; break;
    case R_EXPSUM: row = row_expsum, vec = vec_expsum; break;
    case R_PROD: row = row_prod, vec = vec_prod; break;
    case R_MAX: row = row_max, vec = vec_max; break;
    case R_FMAX: row = row_fmax, vec = vec_fmax; break;
    case R_MIN: row = row_min, vec = vec_min; break;
    default: row = row_sum, vec = vec_sum; break;
    }
    struct runs it;
    runs_init(&it, pl, numel);
    for (int64_t r = 0; r < it.n; r++, runs_next(&it)) {
        const float *xr = x + r * it.len;
        if (!it.inner_red) {
            vec(y + it.o, xr, it.len, m ? m + it.o : NULL);
            continue;
        }
        float v = row(xr, it.len, m ? m[it.o] : 0.0f);
        float *a = &y[it.o];
        switch (op) {
        case R_PROD: *a *= v; break;
        case R_MAX:
        case R_FMAX: *a = MAXN(*a, v); break;
        case R_MIN: *a = MINN(*a, v); break;
        default: *a += v; break;
        }
    }
}

static enum ogq_status reduce_f32(struct ogq_kernel_ctx *ctx, const struct plan *pl)
{
    const struct reduce_params *p = ctx->params;
    const struct ogq_rt_tensor *xt = ctx->inputs[0];
    const float *x = xt->data;
    float *y = ctx->outputs[0]->data;
    int64_t out_n = ctx->outputs[0]->numel;
    enum rop core;
    float init = 0.0f;
    switch (p->op) {
    case R_MEAN:
    case R_LOGSUM: core = R_SUM; break;
    case R_L2: core = R_SUMSQ; break;
    case R_LOGSUMEXP: core = R_FMAX, init = -INFINITY; break;
    case R_MAX: core = R_MAX, init = -INFINITY; break;
    case R_MIN: core = R_MIN, init = INFINITY; break;
    case R_PROD: core = R_PROD, init = 1.0f; break;
    default: core = p->op; break;
    }
    for (int64_t i = 0; i < out_n; i++)
        y[i] = init;
    if (xt->numel > 0)
        sweep_f32(pl, core, x, xt->numel, y, NULL);
    switch (p->op) {
    case R_MEAN: {
        float n = (float)pl->count;
        for (int64_t i = 0; i < out_n; i++)
            y[i] = y[i] / n;
        break;
    }
    case R_L2:
        for (int64_t i = 0; i < out_n; i++)
            y[i] = sqrtf(y[i]);
        break;
    case R_LOGSUM:
        for (int64_t i = 0; i < out_n; i++)
            y[i] = logf(y[i]);
        break;
    case R_LOGSUMEXP: {
        float *s = ctx->scratch;
        for (int64_t i = 0; i < out_n; i++)
            s[i] = 0.0f;
        if (xt->numel > 0)
            sweep_f32(pl, R_EXPSUM, x, xt->numel, s, y);
        for (int64_t i = 0; i < out_n; i++)
            y[i] = logf(s[i]) + y[i];
        break;
    }
    default: break;
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- integer */

/* Integer reductions: run y is a slice (inner axis kept, stride 1) or one element (inner
 * axis reduced, stride 0). Arithmetic wraps through the unsigned type. */
#define DEFINE_INT_REDUCE(NAME, T, UT, TMIN, TMAX)                                                \
    static void NAME(const struct plan *pl, enum rop op, const T *restrict x, int64_t numel,     \
                     T *restrict y, int64_t out_n)                                                 \
    {                                                                                              \
        T init = op == R_PROD ? (T)1 : op == R_MAX ? (T)(TMIN) : op == R_MIN ? (T)(TMAX) : (T)0;   \
        for (int64_t i = 0; i < out_n; i++)                                                        \
            y[i] = init;                                                                           \
        struct runs it;                                                                            \
        runs_init(&it, pl, numel);                                                                 \
        int64_t ys = it.inner_red ? 0 : 1;                                                         \
        for (int64_t r = 0; r < it.n; r++, runs_next(&it)) {                                       \
            const T *xr = x + r * it.len;                                                          \
            T *yr = y + it.o;                                                                      \
            int64_t n = it.len;                                                                    \
            switch (op) {                                                                          \
            case R_MAX:                                                                            \
                for (int64_t k = 0; k < n; k++)                                                    \
                    yr[k * ys] = xr[k] > yr[k * ys] ? xr[k] : yr[k * ys];                          \
                break;                                                                             \
            case R_MIN:                                                                            \
                for (int64_t k = 0; k < n; k++)                                                    \
                    yr[k * ys] = xr[k] < yr[k * ys] ? xr[k] : yr[k * ys];                          \
                break;                                                                             \
            case R_PROD:                                                                           \
                for (int64_t k = 0; k < n; k++)                                                    \
                    yr[k * ys] = (T)((UT)yr[k * ys] * (UT)xr[k]);                                  \
                break;                                                                             \
            case R_L1:                                                                             \
                for (int64_t k = 0; k < n; k++)                                                    \
                    yr[k * ys] = (T)((UT)yr[k * ys] + (xr[k] < 0 ? 0u - (UT)xr[k] : (UT)xr[k])); \
                break;                                                                             \
            case R_SUMSQ:                                                                          \
                for (int64_t k = 0; k < n; k++)                                                    \
                    yr[k * ys] = (T)((UT)yr[k * ys] + (UT)xr[k] * (UT)xr[k]);                      \
                break;                                                                             \
            default:                                                                               \
                for (int64_t k = 0; k < n; k++)                                                    \
                    yr[k * ys] = (T)((UT)yr[k * ys] + (UT)xr[k]);                                  \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
        if (op == R_MEAN)                                                                          \
            for (int64_t i = 0; i < out_n; i++)                                                    \
                y[i] = pl->count > 0 ? (T)((int64_t)y[i] / pl->count) : (T)0;                      \
    }

DEFINE_INT_REDUCE(reduce_i64, int64_t, uint64_t, INT64_MIN, INT64_MAX)
DEFINE_INT_REDUCE(reduce_i32, int32_t, uint32_t, INT32_MIN, INT32_MAX)
DEFINE_INT_REDUCE(reduce_i8, int8_t, uint32_t, INT8_MIN, INT8_MAX)
DEFINE_INT_REDUCE(reduce_u8, uint8_t, uint32_t, 0, UINT8_MAX)

static enum ogq_status reduce_run(struct ogq_kernel_ctx *ctx)
{
    const struct reduce_params *p = ctx->params;
    struct plan pl;
    OGQ_TRY(make_plan(ctx, &pl));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    switch (x->dtype) {
    case OGQ_DTYPE_FLOAT: return reduce_f32(ctx, &pl);
    case OGQ_DTYPE_INT64: reduce_i64(&pl, p->op, x->data, x->numel, y->data, y->numel); break;
    case OGQ_DTYPE_INT32: reduce_i32(&pl, p->op, x->data, x->numel, y->data, y->numel); break;
    case OGQ_DTYPE_INT8: reduce_i8(&pl, p->op, x->data, x->numel, y->data, y->numel); break;
    case OGQ_DTYPE_UINT8:
    case OGQ_DTYPE_BOOL: /* 0/1 bytes: max is "any", min is "all" */
        reduce_u8(&pl, p->op, x->data, x->numel, y->data, y->numel);
        if (x->dtype == OGQ_DTYPE_BOOL && p->op == R_MIN && x->numel == 0)
            memset(y->data, 1, (size_t)y->numel); /* empty "all" is true */
        break;
    default:
        return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err,
                               "input dtype %s is not supported", ogq_dtype_name(x->dtype));
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- family */

#define REDUCE_ENTRY(OP, PREP)                                                                     \
    {"", OP, 1, INT_MAX, PREP, free, reduce_infer, reduce_workspace, reduce_run, false}

static const struct ogq_kernel kernels[] = {
    REDUCE_ENTRY("ReduceSum", prep_sum),
    REDUCE_ENTRY("ReduceMean", prep_mean),
    REDUCE_ENTRY("ReduceMax", prep_max),
    REDUCE_ENTRY("ReduceMin", prep_min),
    REDUCE_ENTRY("ReduceProd", prep_prod),
    REDUCE_ENTRY("ReduceL1", prep_l1),
    REDUCE_ENTRY("ReduceL2", prep_l2),
    REDUCE_ENTRY("ReduceSumSquare", prep_sumsq),
    REDUCE_ENTRY("ReduceLogSum", prep_logsum),
    REDUCE_ENTRY("ReduceLogSumExp", prep_logsumexp),
};

const struct ogq_kernel_family ogq_family_reduce = {"reduce", kernels,
                                                    sizeof kernels / sizeof kernels[0]};
