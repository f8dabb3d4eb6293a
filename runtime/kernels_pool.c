/* kernels_pool.c — MaxPool, AveragePool, LpPool and their Global* forms (NCHW, 1 to 3
 * spatial axes).
 *
 * Windowed pools work one output row at a time (the geometry promoted to 3 axes): the row
 * is initialised, the input rows of the kernel taps that fall inside the image are
 * gathered, and the row is folded with them in loops along the output columns that
 * vectorise (each hot loop is compiled for the baseline ISA and for AVX2):
 *   width-3 kernels (the common 3x3): the interior columns, whose three taps are all
 *   inside the image, take three kernel rows (nine taps) per pass; the few border
 *   columns run a bounds-checked scalar loop;
 *   other widths: one pass per kernel tap over its precomputed in-range column span.
 * No divisions and no bounds checks in the vector loops. Planes run in parallel tasks.
 *   MaxPool      float, int8, uint8; padding never wins. With the Indices output a scalar
 *                path records the flat index of the first maximum (row-major, or
 *                column-major over the spatial axes for storage_order = 1).
 *   AveragePool  float32 sums; the divisor counts the taps inside the image, or with
 *                count_include_pad the taps inside the explicitly padded extent (taps that
 *                only exist because of ceil_mode are never counted).
 *   LpPool       (sum |x|^p)^(1/p), padding contributes 0.
 * Output sizes: floor or ceil ((in + pads - dilated kernel) / stride) + 1, where in ceil
 * mode a window starting past the input and its leading pad is dropped; SAME_* gives
 * ceil(in / stride) with the odd pad at the end (UPPER) or start (LOWER); VALID pads 0.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"
#include "linalg.h"

#define MAXS OGQ_CONV_MAX_SPATIAL

enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP };

struct pool_params {
    enum pool_kind kind;
    bool global;
    enum ogq_auto_pad auto_pad;
    bool ceil_mode, count_include_pad, col_major;
    float p; /* LpPool */
    size_t n_kernel, n_strides, n_dil, n_pads;
    int64_t kernel[MAXS], strides[MAXS], dil[MAXS], pads[2 * MAXS];
};

static enum ogq_status pool_prepare_kind(const struct ogq_node *node, enum pool_kind kind,
                                         bool global, void **params, struct ogq_error *err)
{
    struct pool_params *p = calloc(1, sizeof *p);
    if (!p)
        return ogq_kernel_fail(node, OGQ_ERR_NOMEM, err, "out of memory");
    p->kind = kind;
    p->global = global;
    p->p = 2.0f;
    enum ogq_status st = OGQ_OK;
    if (kind == POOL_LP) {
        const struct ogq_attr *a = ogq_node_attr(node, "p");
        if (a && a->type == OGQ_ATTR_INT)
            p->p = (float)a->i;
        else if (a && a->type == OGQ_ATTR_FLOAT)
            p->p = a->f;
        if (!(p->p > 0.0f) || !isfinite(p->p))
            st = ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "p = %g is not supported",
                                 (double)p->p);
    }
    if (st == OGQ_OK && !global) {
        st = ogq_read_auto_pad(node, &p->auto_pad, err);
        p->ceil_mode = ogq_node_attr_int(node, "ceil_mode", 0) != 0;
        p->count_include_pad = ogq_node_attr_int(node, "count_include_pad", 0) != 0;
        p->col_major = ogq_node_attr_int(node, "storage_order", 0) != 0;
        if (st == OGQ_OK)
            st = ogq_read_ints_attr(node, "kernel_shape", MAXS, 1, p->kernel, &p->n_kernel, err);
        if (st == OGQ_OK && p->n_kernel == 0)
            st = ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "missing 'kernel_shape'");
        if (st == OGQ_OK)
            st = ogq_read_ints_attr(node, "strides", MAXS, 1, p->strides, &p->n_strides, err);
        if (st == OGQ_OK)
            st = ogq_read_ints_attr(node, "dilations", MAXS, 1, p->dil, &p->n_dil, err);
        if (st == OGQ_OK)
            st = ogq_read_ints_attr(node, "pads", 2 * MAXS, 0, p->pads, &p->n_pads, err);
    }
    if (st != OGQ_OK) {
        free(p);
        return st;
    }
    *params = p;
    return OGQ_OK;
}

static enum ogq_status maxpool_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                       struct ogq_error *err)
{
    (void)opset;
    return pool_prepare_kind(node, POOL_MAX, false, params, err);
}

static enum ogq_status avgpool_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                       struct ogq_error *err)
{
    (void)opset;
    return pool_prepare_kind(node, POOL_AVG, false, params, err);
}

static enum ogq_status lppool_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                      struct ogq_error *err)
{
    (void)opset;
    return pool_prepare_kind(node, POOL_LP, false, params, err);
}

static enum ogq_status gmaxpool_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                        struct ogq_error *err)
{
    (void)opset;
    return pool_prepare_kind(node, POOL_MAX, true, params, err);
}

static enum ogq_status gavgpool_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                        struct ogq_error *err)
{
    (void)opset;
    return pool_prepare_kind(node, POOL_AVG, true, params, err);
}

static enum ogq_status glppool_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                       struct ogq_error *err)
{
    (void)opset;
    return pool_prepare_kind(node, POOL_LP, true, params, err);
}

static void pool_release(void *params)
{
    free(params);
}

/* ---------------------------------------------------------------- geometry */

/* Pool geometry promoted to 3 axes (leading axes of size 1). pe: pad after each axis. */
struct pool_geom {
    int nd;
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
};

static enum ogq_status pool_geom(const struct ogq_kernel_ctx *ctx, struct pool_geom *g)
{
    const struct pool_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int nd = x->rank - 2;
    if (nd < 1 || nd > MAXS)
        return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err,
                               "input rank %d is not supported (1 to %d spatial axes)", x->rank,
                               MAXS);
    if (p->n_kernel != (size_t)nd || (p->n_strides && p->n_strides != (size_t)nd) ||
        (p->n_dil && p->n_dil != (size_t)nd) || (p->n_pads && p->n_pads != 2 * (size_t)nd))
        return OGQ_KFAIL(ctx, "attribute lengths do not match %d spatial axes", nd);
    g->nd = nd;
    int off = 3 - nd;
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->out[i] = g->k[i] = g->s[i] = g->d[i] = 1;
        g->pb[i] = g->pe[i] = 0;
    }
    for (int j = 0; j < nd; j++) {
        int i = j + off;
        int64_t in = x->dims[2 + j], k = p->kernel[j];
        int64_t s = p->n_strides ? p->strides[j] : 1, d = p->n_dil ? p->dil[j] : 1;
        int64_t dk = (k - 1) * d + 1, out, pb, pe;
        if (in < 1)
            return OGQ_KFAIL(ctx, "empty spatial axis %d", j);
        if (p->auto_pad == OGQ_AUTO_PAD_SAME_UPPER || p->auto_pad == OGQ_AUTO_PAD_SAME_LOWER) {
            out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + dk - in;
            total = total < 0 ? 0 : total;
            pb = p->auto_pad == OGQ_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pe = total - pb;
        } else {
            bool valid = p->auto_pad == OGQ_AUTO_PAD_VALID;
            pb = p->n_pads && !valid ? p->pads[j] : 0;
            pe = p->n_pads && !valid ? p->pads[nd + j] : 0;
            int64_t span = in + pb + pe - dk;
            if (span < 0)
                return OGQ_KFAIL(ctx, "the kernel does not fit the (padded) input");
            out = (p->ceil_mode ? (span + s - 1) / s : span / s) + 1;
            if (p->ceil_mode && (out - 1) * s >= in + pb)
                out--; /* the last window would start past the input and its leading pad */
        }
        g->in[i] = in;
        g->out[i] = out;
        g->k[i] = k;
        g->s[i] = s;
        g->d[i] = d;
        g->pb[i] = pb;
        g->pe[i] = pe;
    }
    return OGQ_OK;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Output positions o in [lo, hi) read o * s + off inside [0, in). */
static void valid_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo, int64_t *hi)
{
    int64_t l = -floor_div(off, s), h = -floor_div(off - in, s);
    l = l < 0 ? 0 : l;
    h = h > out ? out : h;
    *lo = l;
    *hi = h < l ? l : h;
}

/* Taps of output position o along axis i that are counted by the average divisor. */
static int64_t tap_count(const struct pool_geom *g, int i, int64_t o, bool include_pad)
{
    int64_t lo = include_pad ? -g->pb[i] : 0;
    int64_t hi = include_pad ? g->in[i] + g->pe[i] : g->in[i];
    int64_t start = o * g->s[i] - g->pb[i], n = 0;
    for (int64_t t = 0; t < g->k[i]; t++) {
        int64_t pos = start + t * g->d[i];
        n += pos >= lo && pos < hi;
    }
    return n;
}

/* ---------------------------------------------------------------- infer */

static enum ogq_status pool_infer(struct ogq_kernel_ctx *ctx)
{
    const struct pool_params *p = ctx->params;
    if (ctx->n_inputs != 1 || !ctx->inputs[0])
        return OGQ_KFAIL(ctx, "expects 1 input");
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (p->kind == POOL_MAX && ctx->opset >= 12) {
        static const enum ogq_dtype ok[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT8, OGQ_DTYPE_UINT8};
        OGQ_TRY(ogq_require_input(ctx, 0, ok, 3));
    } else {
        OGQ_TRY(ogq_require_float(ctx, 0));
    }
    int64_t dims[OGQ_RT_MAX_RANK];
    if (p->global) {
        if (x->rank < 2)
            return OGQ_KFAIL(ctx, "input must have rank >= 2, got %d", x->rank);
        for (int d = 0; d < x->rank; d++)
            dims[d] = d < 2 ? x->dims[d] : 1;
    } else {
        struct pool_geom g;
        OGQ_TRY(pool_geom(ctx, &g));
        dims[0] = x->dims[0];
        dims[1] = x->dims[1];
        for (int j = 0; j < g.nd; j++)
            dims[2 + j] = g.out[3 - g.nd + j];
    }
    OGQ_TRY(ogq_rt_tensor_set_shape(ctx->outputs[0], x->dtype, x->rank, dims, ctx->node->name,
                                    ctx->err));
    if (ctx->n_outputs > 1 && ctx->outputs[1]) {
        if (p->kind != POOL_MAX || p->global)
            return OGQ_KFAIL(ctx, "has %zu outputs, expected 1", ctx->n_outputs);
        OGQ_TRY(ogq_rt_tensor_set_shape(ctx->outputs[1], OGQ_DTYPE_INT64, x->rank, dims,
                                        ctx->node->name, ctx->err));
    }
    return OGQ_OK;
}

/* Scratch: 2 * k_w int64 column-span bounds, then out_w float divisors. */
static size_t pool_workspace(const struct ogq_kernel_ctx *ctx)
{
    const struct pool_params *p = ctx->params;
    if (p->global)
        return 0;
    struct pool_geom g;
    struct ogq_error e;
    struct ogq_kernel_ctx c = *ctx;
    c.err = &e;
    if (pool_geom(&c, &g) != OGQ_OK)
        return 0;
    return sizeof(int64_t) * 2 * (size_t)g.k[2] + sizeof(float) * (size_t)g.out[2];
}

/* ---------------------------------------------------------------- windowed pools */

/* One windowed-pool job: every plane of the input. */
struct pool_job {
    const struct pool_geom *g;
    const void *x;
    void *y;
    int64_t planes;
    const int64_t *wr; /* per kernel column: valid output-column range [lo, hi) */
    int64_t ia, ib;    /* output columns where every kernel column is inside the image */
    const float *wdiv; /* AveragePool: counted taps per output column */
    bool include_pad;  /* AveragePool: count_include_pad */
    float p;           /* LpPool */
};

#define POOL_MAX_ROWS 16 /* kernel rows (kd, kh) gathered per output row */

/* Runs BODY (which indexes the input with j * S) with S a constant 1 or 2 when it can,
 * so those loops read contiguous or pairwise data. */
#define POOL_STRIDES(...)                                                                          \
    do {                                                                                           \
        if (sw == 1) {                                                                             \
            const int64_t S = 1;                                                                   \
            __VA_ARGS__                                                                            \
        } else if (sw == 2) {                                                                      \
            const int64_t S = 2;                                                                   \
            __VA_ARGS__                                                                            \
        } else {                                                                                   \
            const int64_t S = sw;                                                                  \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    } while (0)

/* Defines NAME_impl(job) for element type T: each output row starts at INIT, COMB folds
 * one input value `v` into `acc`, FINISH post-processes the row (`row`, `od`, `oh`).
 * Kernels of width 3 fold the interior columns of up to three kernel rows in one pass and
 * the border columns with a bounds-checked scalar loop; other widths run one pass per
 * kernel tap over its valid column span. */
#define POOL_IMPL(NAME, T, INIT, COMB, FINISH)                                                     \
    static inline OGQ_INLINE void NAME##_impl(const struct pool_job *jb)                           \
    {                                                                                              \
        const struct pool_geom *g = jb->g;                                                         \
        const T *xv = jb->x;                                                                       \
        T *yv = jb->y;                                                                             \
        const int64_t in_size = g->in[0] * g->in[1] * g->in[2];                                    \
        const int64_t out_size = g->out[0] * g->out[1] * g->out[2];                                \
        const int64_t ow_n = g->out[2], w_in = g->in[2], sw = g->s[2], dw = g->d[2];               \
        const int64_t pw = g->pb[2], kw_n = g->k[2], ia = jb->ia, ib = jb->ib;                     \
        const int64_t *wr = jb->wr;                                                                \
        const bool fused = kw_n == 3 && ia < ib && g->k[0] * g->k[1] <= POOL_MAX_ROWS;             \
        const T *src[POOL_MAX_ROWS];                                                               \
        for (int64_t pl = 0; pl < jb->planes; pl++) {                                              \
            const T *img = xv + pl * in_size;                                                      \
            T *yp = yv + pl * out_size;                                                            \
            for (int64_t od = 0; od < g->out[0]; od++) {                                           \
                for (int64_t oh = 0; oh < g->out[1]; oh++) {                                       \
                    T *row = yp + (od * g->out[1] + oh) * ow_n;                                    \
                    for (int64_t j = 0; j < ow_n; j++)                                             \
                        row[j] = (INIT);                                                           \
                    int nt = 0;                                                                    \
                    for (int64_t kd = 0; kd < g->k[0]; kd++) {                                     \
                        int64_t id = od * g->s[0] + kd * g->d[0] - g->pb[0];                       \
                        if (id < 0 || id >= g->in[0])                                              \
                            continue;                                                              \
                        for (int64_t kh = 0; kh < g->k[1]; kh++) {                                 \
                            int64_t ih = oh * g->s[1] + kh * g->d[1] - g->pb[1];                   \
                            if (ih < 0 || ih >= g->in[1])                                          \
                                continue;                                                          \
                            const T *sr = img + (id * g->in[1] + ih) * w_in;                       \
                            if (fused) {                                                           \
                                src[nt++] = sr;                                                    \
                                continue;                                                          \
                            }                                                                      \
                            for (int64_t kw = 0; kw < kw_n; kw++) {                                \
                                const int64_t lo = wr[2 * kw], n = wr[2 * kw + 1] - lo;            \
                                T *restrict r = row + lo;                                          \
                                const T *restrict a = sr + lo * sw + kw * dw - pw;                 \
                                POOL_STRIDES(for (int64_t j = 0; j < n; j++) {                     \
                                    T acc = r[j], v = a[j * S];                                    \
                                    COMB;                                                          \
                                    r[j] = acc;                                                    \
                                });                                                                \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                    if (nt > 0) {                                                                  \
                        const int64_t n = ib - ia;                                                 \
                        T *restrict r = row + ia;                                                  \
                        int t = 0;                                                                 \
                        for (; t + 3 <= nt; t += 3) {                                              \
                            const T *restrict a = src[t] + ia * sw - pw;                           \
                            const T *restrict b = src[t + 1] + ia * sw - pw;                       \
                            const T *restrict c = src[t + 2] + ia * sw - pw;                       \
                            POOL_STRIDES(for (int64_t j = 0; j < n; j++) {                         \
                                T acc = r[j], v;                                                   \
                                v = a[j * S];                                                      \
                                COMB;                                                              \
                                v = a[j * S + dw];                                                 \
                                COMB;                                                              \
                                v = a[j * S + 2 * dw];                                             \
                                COMB;                                                              \
                                v = b[j * S];                                                      \
                                COMB;                                                              \
                                v = b[j * S + dw];                                                 \
                                COMB;                                                              \
                                v = b[j * S + 2 * dw];                                             \
                                COMB;                                                              \
                                v = c[j * S];                                                      \
                                COMB;                                                              \
                                v = c[j * S + dw];                                                 \
                                COMB;                                                              \
                                v = c[j * S + 2 * dw];                                             \
                                COMB;                                                              \
                                r[j] = acc;                                                        \
                            });                                                                    \
                        }                                                                          \
                        for (; t < nt; t++) {                                                      \
                            const T *restrict a = src[t] + ia * sw - pw;                           \
                            POOL_STRIDES(for (int64_t j = 0; j < n; j++) {                         \
                                T acc = r[j], v;                                                   \
                                v = a[j * S];                                                      \
                                COMB;                                                              \
                                v = a[j * S + dw];                                                 \
                                COMB;                                                              \
                                v = a[j * S + 2 * dw];                                             \
                                COMB;                                                              \
                                r[j] = acc;                                                        \
                            });                                                                    \
                        }                                                                          \
                        for (int64_t j = 0; j < ow_n; j++) {                                       \
                            if (j == ia)                                                           \
                                j = ib; /* skip the interior */                                    \
                            if (j >= ow_n)                                                         \
                                break;                                                             \
                            T acc = row[j];                                                        \
                            for (int tt = 0; tt < nt; tt++)                                        \
                                for (int64_t kw = 0; kw < 3; kw++) {                               \
                                    int64_t iw = j * sw + kw * dw - pw;                            \
                                    if (iw < 0 || iw >= w_in)                                      \
                                        continue;                                                  \
                                    T v = src[tt][iw];                                             \
                                    COMB;                                                          \
                                }                                                                  \
                            row[j] = acc;                                                          \
                        }                                                                          \
                    }                                                                              \
                    FINISH;                                                                        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    OGQ_HOT static void NAME##_base(const struct pool_job *jb)                                     \
    {                                                                                              \
        NAME##_impl(jb);                                                                           \
    }                                                                                              \
    POOL_AVX2_CLONE(NAME)

#if OGQ_HAVE_AVX2_CLONES
#define POOL_AVX2_CLONE(NAME)                                                                      \
    OGQ_HOT_AVX2 static void NAME##_avx2(const struct pool_job *jb)                                \
    {                                                                                              \
        NAME##_impl(jb);                                                                           \
    }
#define POOL_PICK(NAME) (ogq_cpu_has_avx2() ? NAME##_avx2 : NAME##_base)
#else
#define POOL_AVX2_CLONE(NAME)
#define POOL_PICK(NAME) NAME##_base
#endif

typedef void (*pool_fn)(const struct pool_job *jb);

/* A task runs `fn` on planes [t * chunk, (t + 1) * chunk). */
struct pool_task {
    const struct pool_job *jb;
    pool_fn fn;
    size_t esize;
    int64_t chunk;
};

static void pool_task_run(void *p, int64_t t, int tid)
{
    (void)tid;
    const struct pool_task *pt = p;
    struct pool_job jb = *pt->jb;
    const struct pool_geom *g = jb.g;
    int64_t p0 = t * pt->chunk, p1 = p0 + pt->chunk < jb.planes ? p0 + pt->chunk : jb.planes;
    jb.x = (const char *)jb.x + (size_t)(p0 * g->in[0] * g->in[1] * g->in[2]) * pt->esize;
    jb.y = (char *)jb.y + (size_t)(p0 * g->out[0] * g->out[1] * g->out[2]) * pt->esize;
    jb.planes = p1 - p0;
    pt->fn(&jb);
}

/* AveragePool: divide by the counted taps (d and h counts times the column's count); a
 * window without counted taps gives 0 / 0 = NaN. */
#define AVG_FINISH                                                                                 \
    do {                                                                                           \
        const float dh =                                                                           \
            (float)(tap_count(g, 0, od, jb->include_pad) * tap_count(g, 1, oh, jb->include_pad));  \
        for (int64_t j = 0; j < ow_n; j++)                                                         \
            row[j] /= dh * jb->wdiv[j];                                                            \
    } while (0)

#define SQRT_FINISH                                                                                \
    do {                                                                                           \
        for (int64_t j = 0; j < ow_n; j++)                                                         \
            row[j] = sqrtf(row[j]);                                                                \
    } while (0)

#define POW_FINISH                                                                                 \
    do {                                                                                           \
        const float inv = 1.0f / jb->p;                                                            \
        for (int64_t j = 0; j < ow_n; j++)                                                         \
            row[j] = powf(row[j], inv);                                                            \
    } while (0)

POOL_IMPL(max_f32, float, -INFINITY, acc = v > acc ? v : acc, (void)0)
POOL_IMPL(max_i8, int8_t, INT8_MIN, acc = v > acc ? v : acc, (void)0)
POOL_IMPL(max_u8, uint8_t, 0, acc = v > acc ? v : acc, (void)0)
POOL_IMPL(avg_f32, float, 0.0f, acc += v, AVG_FINISH)
POOL_IMPL(lp2_f32, float, 0.0f, acc += v * v, SQRT_FINISH)
POOL_IMPL(lp1_f32, float, 0.0f, acc += fabsf(v), (void)0)
POOL_IMPL(lpp_f32, float, 0.0f, acc += powf(fabsf(v), jb->p), POW_FINISH)

/* Scalar MaxPool that also writes the Indices output. */
#define MAXPOOL_INDICES(T)                                                                         \
    do {                                                                                           \
        const T *xv = ctx->inputs[0]->data;                                                        \
        T *yv = ctx->outputs[0]->data;                                                             \
        int64_t *iv = ctx->outputs[1]->data;                                                       \
        /* Flat-index strides of the promoted axes: row-major, or column-major over the */         \
        /* real spatial axes (the promoted leading axes have size 1 and never move). */            \
        int64_t st[3] = {g.in[1] * g.in[2], g.in[2], 1};                                           \
        if (p->col_major) {                                                                        \
            int64_t s = 1;                                                                         \
            for (int i = 3 - g.nd; i < 3; i++) {                                                   \
                st[i] = s;                                                                         \
                s *= g.in[i];                                                                      \
            }                                                                                      \
        }                                                                                          \
        int64_t o = 0;                                                                             \
        for (int64_t pl = 0; pl < planes; pl++) {                                                  \
            const T *img = xv + pl * in_size;                                                      \
            for (int64_t od = 0; od < g.out[0]; od++)                                              \
                for (int64_t oh = 0; oh < g.out[1]; oh++)                                          \
                    for (int64_t ow = 0; ow < ow_n; ow++, o++) {                                   \
                        bool any = false;                                                          \
                        T best = 0;                                                                \
                        int64_t bi = 0;                                                            \
                        for (int64_t kd = 0; kd < g.k[0]; kd++) {                                  \
                            int64_t id = od * g.s[0] + kd * g.d[0] - g.pb[0];                      \
                            if (id < 0 || id >= g.in[0])                                           \
                                continue;                                                          \
                            for (int64_t kh = 0; kh < g.k[1]; kh++) {                              \
                                int64_t ih = oh * g.s[1] + kh * g.d[1] - g.pb[1];                  \
                                if (ih < 0 || ih >= g.in[1])                                       \
                                    continue;                                                      \
                                for (int64_t kw = 0; kw < g.k[2]; kw++) {                          \
                                    int64_t iw = ow * sw + kw * g.d[2] - g.pb[2];                  \
                                    if (iw < 0 || iw >= g.in[2])                                   \
                                        continue;                                                  \
                                    T v = img[(id * g.in[1] + ih) * g.in[2] + iw];                 \
                                    if (!any || v > best) {                                        \
                                        any = true;                                                \
                                        best = v;                                                  \
                                        bi = id * st[0] + ih * st[1] + iw * st[2];                 \
                                    }                                                              \
                                }                                                                  \
                            }                                                                      \
                        }                                                                          \
                        yv[o] = any ? best : (T)(LOWEST);                                          \
                        iv[o] = pl * in_size + bi;                                                 \
                    }                                                                              \
        }                                                                                          \
    } while (0)

static enum ogq_status window_pool_run(struct ogq_kernel_ctx *ctx)
{
    const struct pool_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct pool_geom g;
    OGQ_TRY(pool_geom(ctx, &g));
    const int64_t planes = x->dims[0] * x->dims[1];
    const int64_t in_size = g.in[0] * g.in[1] * g.in[2];
    const int64_t ow_n = g.out[2], sw = g.s[2];
    if (planes == 0)
        return OGQ_OK;
    if (ctx->n_outputs > 1 && ctx->outputs[1]) {
        switch (x->dtype) {
#define LOWEST -INFINITY
        case OGQ_DTYPE_FLOAT:
            MAXPOOL_INDICES(float);
            break;
#undef LOWEST
#define LOWEST INT8_MIN
        case OGQ_DTYPE_INT8:
            MAXPOOL_INDICES(int8_t);
            break;
#undef LOWEST
#define LOWEST 0
        case OGQ_DTYPE_UINT8:
            MAXPOOL_INDICES(uint8_t);
            break;
#undef LOWEST
        default:
            return OGQ_KFAIL(ctx, "unsupported dtype");
        }
        return OGQ_OK;
    }
    int64_t *wr = ctx->scratch;
    float *wdiv = (float *)(wr + 2 * g.k[2]);
    struct pool_job jb = {.g = &g,
                          .x = x->data,
                          .y = ctx->outputs[0]->data,
                          .planes = planes,
                          .wr = wr,
                          .ia = 0,
                          .ib = ow_n,
                          .wdiv = wdiv,
                          .include_pad = p->count_include_pad,
                          .p = p->p};
    for (int64_t kw = 0; kw < g.k[2]; kw++) {
        valid_range(kw * g.d[2] - g.pb[2], sw, g.in[2], ow_n, &wr[2 * kw], &wr[2 * kw + 1]);
        jb.ia = wr[2 * kw] > jb.ia ? wr[2 * kw] : jb.ia;
        jb.ib = wr[2 * kw + 1] < jb.ib ? wr[2 * kw + 1] : jb.ib;
    }
    pool_fn fn = NULL;
    switch (p->kind) {
    case POOL_MAX:
        fn = x->dtype == OGQ_DTYPE_FLOAT   ? POOL_PICK(max_f32)
             : x->dtype == OGQ_DTYPE_INT8  ? POOL_PICK(max_i8)
             : x->dtype == OGQ_DTYPE_UINT8 ? POOL_PICK(max_u8)
                                           : NULL;
        if (!fn)
            return OGQ_KFAIL(ctx, "unsupported dtype");
        break;
    case POOL_AVG:
        for (int64_t ow = 0; ow < ow_n; ow++)
            wdiv[ow] = (float)tap_count(&g, 2, ow, p->count_include_pad);
        fn = POOL_PICK(avg_f32);
        break;
    case POOL_LP:
        fn = p->p == 2.0f   ? POOL_PICK(lp2_f32)
             : p->p == 1.0f ? POOL_PICK(lp1_f32)
                            : POOL_PICK(lpp_f32);
        break;
    }
    /* Planes are independent: about four tasks per thread. */
    struct pool_task pt = {&jb, fn, ogq_rt_elem_size(x->dtype), 0};
    int64_t n_tasks = 4 * (int64_t)(ctx->threads > 1 ? ctx->threads : 1);
    n_tasks = n_tasks < planes ? n_tasks : planes;
    pt.chunk = (planes + n_tasks - 1) / n_tasks;
    ogq_parallel_for((planes + pt.chunk - 1) / pt.chunk, ctx->threads, pool_task_run, &pt);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- global pools */

/* Sum / max of n floats with 16 independent lanes (vectorises without -ffast-math). */
static float sum_f32(const float *x, int64_t n)
{
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] += x[i + j];
    float s = 0.0f;
    for (; i < n; i++)
        s += x[i];
    for (int j = 0; j < 16; j++)
        s += acc[j];
    return s;
}

static float max_f32(const float *x, int64_t n)
{
    float acc[16];
    for (int j = 0; j < 16; j++)
        acc[j] = -INFINITY;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    float m = -INFINITY;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    for (int j = 0; j < 16; j++)
        m = acc[j] > m ? acc[j] : m;
    return m;
}

static enum ogq_status global_pool_run(struct ogq_kernel_ctx *ctx)
{
    const struct pool_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    const int64_t planes = x->dims[0] * x->dims[1];
    const int64_t size = planes ? x->numel / planes : 0;
    if (planes == 0)
        return OGQ_OK;
#define GLOBAL_MAX(T, LOW)                                                                         \
    do {                                                                                           \
        const T *xv = x->data;                                                                     \
        T *yv = ctx->outputs[0]->data;                                                             \
        for (int64_t pl = 0; pl < planes; pl++) {                                                  \
            T m = (LOW);                                                                           \
            for (int64_t i = 0; i < size; i++)                                                     \
                m = xv[pl * size + i] > m ? xv[pl * size + i] : m;                                 \
            yv[pl] = m;                                                                            \
        }                                                                                          \
    } while (0)
    if (p->kind == POOL_MAX && x->dtype == OGQ_DTYPE_INT8) {
        GLOBAL_MAX(int8_t, INT8_MIN);
        return OGQ_OK;
    }
    if (p->kind == POOL_MAX && x->dtype == OGQ_DTYPE_UINT8) {
        GLOBAL_MAX(uint8_t, 0);
        return OGQ_OK;
    }
#undef GLOBAL_MAX
    const float *xv = x->data;
    float *yv = ctx->outputs[0]->data;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *src = xv + pl * size;
        switch (p->kind) {
        case POOL_MAX:
            yv[pl] = max_f32(src, size);
            break;
        case POOL_AVG:
            yv[pl] = sum_f32(src, size) / (float)size;
            break;
        case POOL_LP: {
            float s = 0.0f;
            for (int64_t i = 0; i < size; i++)
                s += p->p == 2.0f ? src[i] * src[i] : powf(fabsf(src[i]), p->p);
            yv[pl] = p->p == 2.0f ? sqrtf(s) : powf(s, 1.0f / p->p);
            break;
        }
        }
    }
    return OGQ_OK;
}

static enum ogq_status pool_run(struct ogq_kernel_ctx *ctx)
{
    const struct pool_params *p = ctx->params;
    return p->global ? global_pool_run(ctx) : window_pool_run(ctx);
}

/* ---------------------------------------------------------------- family */

static const struct ogq_kernel kernels[] = {
    {"", "MaxPool", 1, INT_MAX, maxpool_prepare, pool_release, pool_infer, pool_workspace, pool_run,
     false},
    {"", "AveragePool", 1, INT_MAX, avgpool_prepare, pool_release, pool_infer, pool_workspace,
     pool_run, false},
    {"", "LpPool", 2, INT_MAX, lppool_prepare, pool_release, pool_infer, pool_workspace, pool_run,
     false},
    {"", "GlobalMaxPool", 1, INT_MAX, gmaxpool_prepare, pool_release, pool_infer, NULL, pool_run,
     false},
    {"", "GlobalAveragePool", 1, INT_MAX, gavgpool_prepare, pool_release, pool_infer, NULL,
     pool_run, false},
    {"", "GlobalLpPool", 2, INT_MAX, glppool_prepare, pool_release, pool_infer, NULL, pool_run,
     false},
};

const struct ogq_kernel_family ogq_family_pool = {"pool", kernels,
                                                  sizeof kernels / sizeof kernels[0]};
