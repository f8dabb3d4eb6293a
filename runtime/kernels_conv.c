/* kernels_conv.c — Conv and ConvTranspose (float32, 1 to 3 spatial axes, NCHW layout).
 *
 * Conv picks one of three paths per node:
 *   pointwise  1x1 kernel, stride 1, no padding: Y_g = W_g @ X_g, one sgemm per image and
 *              group straight on the input (no copy);
 *   depthwise  one input channel per group: a direct loop per output row that adds
 *              w * shifted input rows (vectorises along the row, width-3 kernels take
 *              nine taps per pass; im2col + a 1-row sgemm per channel would be far slower);
 *   general    im2col (the patch layout of ogq_im2col_f32, which the GPTQ pass also uses)
 *              then Y_g = W_g @ col with sgemm.
 * Threads (ogq_parallel_for over the linalg pool, ctx->threads at most):
 *   - large outputs: private tiles of output rows, each thread making the patches of its
 *     tile in its own scratch (~512 KB, still in cache when sgemm packs it) and running a
 *     single-threaded sgemm on it;
 *   - small outputs (few tiles): one shared patch matrix built in parallel over input
 *     channels, then one sgemm split over the threads (ogq_sgemm);
 *   - with a batch and outputs under 256 positions (e.g. 7x7), the patches of several
 *     images go side by side so that the sgemm is wide enough;
 *   - depthwise: tasks over (image, output channels).
 * The bias is written into Y first and sgemm accumulates with beta = 1 (OpenBLAS clears
 * C in a separate pass for beta = 0 anyway, so this is free).
 *
 * ConvTranspose: col = W_g^T @ X_g with sgemm, then col2im adds the columns into Y
 * (pre-filled with the bias), in parallel over output channels. Output size and pads
 * follow the ONNX formulas, including output_shape (which may imply negative padding),
 * output_padding and SAME auto_pad.
 */
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"
#include "linalg.h"

#define MAXS OGQ_CONV_MAX_SPATIAL

struct conv_attrs {
    bool transpose;
    enum ogq_auto_pad auto_pad;
    int64_t group;
    size_t n_kernel, n_strides, n_dil, n_pads, n_out_pad, n_out_shape;
    int64_t kernel[MAXS], strides[MAXS], dil[MAXS], pads[2 * MAXS];
    int64_t out_pad[MAXS], out_shape[MAXS + 2];
};

static enum ogq_status parse_attrs(const struct ogq_node *node, bool transpose,
                                   struct conv_attrs *a, struct ogq_error *err)
{
    memset(a, 0, sizeof *a);
    a->transpose = transpose;
    OGQ_TRY(ogq_read_auto_pad(node, &a->auto_pad, err));
    a->group = ogq_node_attr_int(node, "group", 1);
    if (a->group < 1)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "group must be >= 1, got %lld",
                               (long long)a->group);
    OGQ_TRY(ogq_read_ints_attr(node, "kernel_shape", MAXS, 1, a->kernel, &a->n_kernel, err));
    OGQ_TRY(ogq_read_ints_attr(node, "strides", MAXS, 1, a->strides, &a->n_strides, err));
    OGQ_TRY(ogq_read_ints_attr(node, "dilations", MAXS, 1, a->dil, &a->n_dil, err));
    /* ConvTranspose pads may be given with output_shape; negative pads are not valid. */
    OGQ_TRY(ogq_read_ints_attr(node, "pads", 2 * MAXS, 0, a->pads, &a->n_pads, err));
    if (transpose) {
        OGQ_TRY(ogq_read_ints_attr(node, "output_padding", MAXS, 0, a->out_pad, &a->n_out_pad, err));
        OGQ_TRY(
            ogq_read_ints_attr(node, "output_shape", MAXS + 2, 0, a->out_shape, &a->n_out_shape, err));
    }
    return OGQ_OK;
}

static enum ogq_status conv_prepare_common(const struct ogq_node *node, bool transpose,
                                           void **params, struct ogq_error *err)
{
    struct conv_attrs *a = malloc(sizeof *a);
    if (!a)
        return ogq_kernel_fail(node, OGQ_ERR_NOMEM, err, "out of memory");
    enum ogq_status st = parse_attrs(node, transpose, a, err);
    if (st != OGQ_OK) {
        free(a);
        return st;
    }
    *params = a;
    return OGQ_OK;
}

static enum ogq_status conv_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                    struct ogq_error *err)
{
    (void)opset;
    return conv_prepare_common(node, false, params, err);
}

static enum ogq_status convt_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                     struct ogq_error *err)
{
    (void)opset;
    return conv_prepare_common(node, true, params, err);
}

static void conv_release(void *params)
{
    free(params);
}

/* Checks attribute counts against nd and fills the parts of the geometry common to Conv
 * and ConvTranspose (kernel from W's dims, strides, dilations). */
static enum ogq_status geom_base(const struct ogq_node *node, const struct conv_attrs *a, int rank,
                                 const int64_t *w_dims, struct ogq_conv_geom *g,
                                 struct ogq_error *err)
{
    if (rank < 3 || rank > MAXS + 2)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "input rank %d is not supported (1 to %d spatial axes)", rank, MAXS);
    int nd = rank - 2;
    if ((a->n_kernel && a->n_kernel != (size_t)nd) ||
        (a->n_strides && a->n_strides != (size_t)nd) || (a->n_dil && a->n_dil != (size_t)nd) ||
        (a->n_pads && a->n_pads != 2 * (size_t)nd) || (a->n_out_pad && a->n_out_pad != (size_t)nd))
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                               "attribute lengths do not match %d spatial axes", nd);
    memset(g, 0, sizeof *g);
    g->nd = nd;
    for (int i = 0; i < nd; i++) {
        g->kernel[i] = w_dims[2 + i];
        if (a->n_kernel && a->kernel[i] != g->kernel[i])
            return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                                   "kernel_shape[%d] = %lld but the weight has %lld", i,
                                   (long long)a->kernel[i], (long long)g->kernel[i]);
        if (g->kernel[i] < 1)
            return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "empty kernel");
        g->stride[i] = a->n_strides ? a->strides[i] : 1;
        g->dilation[i] = a->n_dil ? a->dil[i] : 1;
    }
    return OGQ_OK;
}

static enum ogq_status conv_geom(const struct ogq_node *node, const struct conv_attrs *a, int rank,
                                 const int64_t *x_dims, const int64_t *w_dims,
                                 struct ogq_conv_geom *g, struct ogq_error *err)
{
    OGQ_TRY(geom_base(node, a, rank, w_dims, g, err));
    if (x_dims[1] != w_dims[1] * a->group || w_dims[0] % a->group != 0)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                               "channels do not match: input %lld, weight [%lld, %lld], "
                               "group %lld",
                               (long long)x_dims[1], (long long)w_dims[0], (long long)w_dims[1],
                               (long long)a->group);
    for (int i = 0; i < g->nd; i++)
        g->in[i] = x_dims[2 + i];
    if (!ogq_conv_geom_resolve(g, a->auto_pad, a->n_pads ? a->pads : NULL))
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                               "the kernel does not fit the (padded) input");
    return OGQ_OK;
}

enum ogq_status ogq_conv_node_geom(const struct ogq_node *node, int rank, const int64_t *x_dims,
                                   const int64_t *w_dims, struct ogq_conv_geom *g, int64_t *group,
                                   struct ogq_error *err)
{
    struct conv_attrs a;
    OGQ_TRY(parse_attrs(node, false, &a, err));
    OGQ_TRY(conv_geom(node, &a, rank, x_dims, w_dims, g, err));
    if (group)
        *group = a.group;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Conv */

enum conv_path { PATH_POINTWISE, PATH_DEPTHWISE, PATH_GENERAL };

static enum conv_path conv_path(const struct ogq_conv_geom *g, int64_t cg)
{
    bool pointwise = true;
    for (int i = 0; i < g->nd; i++)
        pointwise = pointwise && g->kernel[i] == 1 && g->stride[i] == 1 && g->pad[i] == 0 &&
                    g->out[i] == g->in[i];
    if (pointwise)
        return PATH_POINTWISE;
    return cg == 1 ? PATH_DEPTHWISE : PATH_GENERAL;
}

static enum ogq_status conv_check_inputs(struct ogq_kernel_ctx *ctx)
{
    if (ctx->n_inputs < 2 || ctx->n_inputs > 3 || !ctx->inputs[0] || !ctx->inputs[1])
        return OGQ_KFAIL(ctx, "expects inputs X, W and optional B");
    for (size_t i = 0; i < ctx->n_inputs; i++)
        if (ctx->inputs[i])
            OGQ_TRY(ogq_require_float(ctx, i));
    if (ctx->inputs[1]->rank != ctx->inputs[0]->rank)
        return OGQ_KFAIL(ctx, "X has rank %d but W has rank %d", ctx->inputs[0]->rank,
                         ctx->inputs[1]->rank);
    return OGQ_OK;
}

static const struct ogq_rt_tensor *bias_input(const struct ogq_kernel_ctx *ctx)
{
    return ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
}

static enum ogq_status conv_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(conv_check_inputs(ctx));
    const struct ogq_rt_tensor *x = ctx->inputs[0], *w = ctx->inputs[1], *b = bias_input(ctx);
    struct ogq_conv_geom g;
    OGQ_TRY(conv_geom(ctx->node, ctx->params, x->rank, x->dims, w->dims, &g, ctx->err));
    if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
        return OGQ_KFAIL(ctx, "bias must be 1-D with %lld values", (long long)w->dims[0]);
    int64_t dims[MAXS + 2] = {x->dims[0], w->dims[0]};
    for (int i = 0; i < g.nd; i++)
        dims[2 + i] = g.out[i];
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, x->rank, dims, ctx->node->name,
                                   ctx->err);
}

/* Output rows (see ogq_im2col_rows_f32) per im2col tile. The patch tile of K rows stays
 * near COL_TILE_BYTES, so it is still in cache when sgemm packs it, but spans at least
 * MIN_TILE_COLS output positions and at least `m` (the output channels): sgemm packs the
 * whole weight matrix again for every tile, which only pays off while the tile is wider
 * than the weight is tall. (Measured on ResNet-like layers, one thread: 20-30% less time
 * than one whole-image im2col.) */
#define COL_TILE_BYTES (512 * 1024)
#define MIN_TILE_COLS 128

static int64_t conv_tile_rows(const struct ogq_conv_geom *g, int64_t k, int64_t m)
{
    int64_t rows = 1;
    for (int i = 0; i + 1 < g->nd; i++)
        rows *= g->out[i];
    const int64_t ow = g->out[g->nd - 1];
    int64_t t = COL_TILE_BYTES / (k * ow * (int64_t)sizeof(float));
    int64_t min_cols = MIN_TILE_COLS > m ? MIN_TILE_COLS : m;
    int64_t min_rows = (min_cols + ow - 1) / ow;
    t = t < min_rows ? min_rows : t;
    return t < rows ? t : rows;
}

/* Images folded side by side into one sgemm: small outputs (late layers of a CNN, 7x7
 * or 14x14) make narrow sgemms, so with a batch the patches of several images form one
 * [K, images * out] matrix. Returns the images per chunk (1 = no folding). */
#define FOLD_MAX_COLS 256        /* fold only outputs smaller than this */
#define FOLD_TARGET_COLS 512     /* aim for this many sgemm columns */
#define FOLD_MAX_BYTES (4 << 20) /* patch matrix budget */

static int64_t conv_fold_images(int64_t n_img, int64_t os, int64_t k)
{
    if (n_img < 2 || os >= FOLD_MAX_COLS)
        return 1;
    int64_t nb = (FOLD_TARGET_COLS + os - 1) / os;
    int64_t by_bytes = FOLD_MAX_BYTES / (k * os * (int64_t)sizeof(float));
    nb = nb < by_bytes ? nb : by_bytes;
    nb = nb < n_img ? nb : n_img;
    return nb < 2 ? 1 : nb;
}

/* Y[m, 0:plane] = bias[m] (or 0) for `channels` rows `ld` floats apart. */
OGQ_HOT static void fill_bias(float *y, const float *bias, int64_t channels, int64_t plane,
                              int64_t ld)
{
    for (int64_t m = 0; m < channels; m++) {
        float v = bias ? bias[m] : 0.0f;
        float *p = y + m * ld;
        for (int64_t i = 0; i < plane; i++)
            p[i] = v;
    }
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

/* row[j] += w * src[j * s] for j in [0, n). */
static inline OGQ_INLINE void dw_tap1(float *restrict row, const float *restrict src, int64_t n,
                                      int64_t s, float w)
{
    if (s == 1) {
        for (int64_t j = 0; j < n; j++)
            row[j] += w * src[j];
    } else if (s == 2) {
        for (int64_t j = 0; j < n; j++)
            row[j] += w * src[2 * j];
    } else {
        for (int64_t j = 0; j < n; j++)
            row[j] += w * src[j * s];
    }
}

/* Three taps at once: row[j] += w0 * src[j*s] + w1 * src[j*s + d] + w2 * src[j*s + 2d]. */
static inline OGQ_INLINE void dw_tap3(float *restrict row, const float *restrict src, int64_t n,
                                      int64_t s, int64_t d, const float *w)
{
    const float w0 = w[0], w1 = w[1], w2 = w[2];
    const float *restrict s1 = src + d, *restrict s2 = src + 2 * d;
    if (s == 1) {
        for (int64_t j = 0; j < n; j++)
            row[j] += w0 * src[j] + w1 * s1[j] + w2 * s2[j];
    } else if (s == 2) {
        for (int64_t j = 0; j < n; j++)
            row[j] += w0 * src[2 * j] + w1 * s1[2 * j] + w2 * s2[2 * j];
    } else {
        for (int64_t j = 0; j < n; j++)
            row[j] += w0 * src[j * s] + w1 * s1[j * s] + w2 * s2[j * s];
    }
}

/* Nine taps (three rows a, b, c of three taps each) in one pass. */
static inline OGQ_INLINE void dw_tap9(float *restrict row, const float *restrict a,
                                      const float *restrict b, const float *restrict c, int64_t n,
                                      int64_t s, int64_t d, const float *wa, const float *wb,
                                      const float *wc)
{
    const float a0 = wa[0], a1 = wa[1], a2 = wa[2], b0 = wb[0], b1 = wb[1], b2 = wb[2];
    const float c0 = wc[0], c1 = wc[1], c2 = wc[2];
    const int64_t d2 = 2 * d;
    if (s == 1) {
        for (int64_t j = 0; j < n; j++)
            row[j] += (a0 * a[j] + a1 * a[j + d] + a2 * a[j + d2]) +
                      (b0 * b[j] + b1 * b[j + d] + b2 * b[j + d2]) +
                      (c0 * c[j] + c1 * c[j + d] + c2 * c[j + d2]);
    } else if (s == 2) {
        for (int64_t j = 0; j < n; j++)
            row[j] += (a0 * a[2 * j] + a1 * a[2 * j + d] + a2 * a[2 * j + d2]) +
                      (b0 * b[2 * j] + b1 * b[2 * j + d] + b2 * b[2 * j + d2]) +
                      (c0 * c[2 * j] + c1 * c[2 * j + d] + c2 * c[2 * j + d2]);
    } else {
        for (int64_t j = 0; j < n; j++)
            row[j] += (a0 * a[j * s] + a1 * a[j * s + d] + a2 * a[j * s + d2]) +
                      (b0 * b[j * s] + b1 * b[j * s + d] + b2 * b[j * s + d2]) +
                      (c0 * c[j * s] + c1 * c[j * s + d] + c2 * c[j * s + d2]);
    }
}

/* One depthwise job: output channels [m0, m1) of one image; output channel m reads input
 * channel m / mult. The geometry is promoted to 3 axes. */
struct dw_job {
    int64_t in[3], out[3], k[3], s[3], d[3], p[3];
    const float *x, *w;
    float *y; /* pre-filled with the bias */
    int64_t m0, m1, mult;
    const int64_t *wr; /* per kernel column: valid output-column range [lo, hi) */
    int64_t ia, ib;    /* output columns where every kernel column is inside the image */
};

#define DW_MAX_ROWS 16 /* kernel rows (kd, kh) gathered per output row */

/* Output columns [j0, j1) of one row where some kernel column falls outside the image:
 * scalar, bounds-checked. */
static inline OGQ_INLINE void dw_border(float *row, int64_t j0, int64_t j1, const float *const *src,
                                        const float *const *wk, int nt, const struct dw_job *jb)
{
    const int64_t sw = jb->s[2], dw = jb->d[2], pw = jb->p[2], w_in = jb->in[2];
    for (int64_t j = j0; j < j1; j++) {
        float acc = 0.0f;
        for (int t = 0; t < nt; t++)
            for (int64_t kw = 0; kw < jb->k[2]; kw++) {
                int64_t iw = j * sw + kw * dw - pw;
                if (iw >= 0 && iw < w_in)
                    acc += wk[t][kw] * src[t][iw];
            }
        row[j] += acc;
    }
}

static inline OGQ_INLINE void dw_impl(const struct dw_job *jb)
{
    const int64_t in_size = jb->in[0] * jb->in[1] * jb->in[2];
    const int64_t out_size = jb->out[0] * jb->out[1] * jb->out[2];
    const int64_t ks = jb->k[0] * jb->k[1] * jb->k[2], kw_n = jb->k[2], ow_n = jb->out[2];
    const int64_t sw = jb->s[2], dw = jb->d[2], pw = jb->p[2], ia = jb->ia, ib = jb->ib;
    const int64_t *wr = jb->wr;
    const bool rows_fit = jb->k[0] * jb->k[1] <= DW_MAX_ROWS;
    const float *src[DW_MAX_ROWS], *wk[DW_MAX_ROWS];
    for (int64_t m = jb->m0; m < jb->m1; m++) {
        const float *img = jb->x + (m / jb->mult) * in_size;
        const float *wm = jb->w + m * ks;
        float *ym = jb->y + m * out_size;
        for (int64_t od = 0; od < jb->out[0]; od++) {
            for (int64_t oh = 0; oh < jb->out[1]; oh++) {
                float *row = ym + (od * jb->out[1] + oh) * ow_n;
                int nt = 0;
                for (int64_t kd = 0; kd < jb->k[0]; kd++) {
                    int64_t id = od * jb->s[0] + kd * jb->d[0] - jb->p[0];
                    if (id < 0 || id >= jb->in[0])
                        continue;
                    for (int64_t kh = 0; kh < jb->k[1]; kh++) {
                        int64_t ih = oh * jb->s[1] + kh * jb->d[1] - jb->p[1];
                        if (ih < 0 || ih >= jb->in[1])
                            continue;
                        const float *sr = img + (id * jb->in[1] + ih) * jb->in[2];
                        const float *wkr = wm + (kd * jb->k[1] + kh) * kw_n;
                        if (rows_fit && kw_n == 3 && ia < ib) {
                            src[nt] = sr;
                            wk[nt] = wkr;
                            nt++;
                            continue;
                        }
                        /* General kernel width: one pass per kernel column. */
                        for (int64_t kw = 0; kw < kw_n; kw++) {
                            int64_t lo = wr[2 * kw], hi = wr[2 * kw + 1];
                            if (lo < hi)
                                dw_tap1(row + lo, sr + lo * sw + kw * dw - pw, hi - lo, sw,
                                        wkr[kw]);
                        }
                    }
                }
                if (nt == 0)
                    continue;
                /* Width-3 kernel: interior columns in passes of 9 or 3 taps, then the
                 * border columns. */
                int t = 0;
                for (; t + 3 <= nt; t += 3)
                    dw_tap9(row + ia, src[t] + ia * sw - pw, src[t + 1] + ia * sw - pw,
                            src[t + 2] + ia * sw - pw, ib - ia, sw, dw, wk[t], wk[t + 1],
                            wk[t + 2]);
                for (; t < nt; t++)
                    dw_tap3(row + ia, src[t] + ia * sw - pw, ib - ia, sw, dw, wk[t]);
                dw_border(row, 0, ia, src, wk, nt, jb);
                dw_border(row, ib, ow_n, src, wk, nt, jb);
            }
        }
    }
}

OGQ_HOT static void dw_base(const struct dw_job *jb)
{
    dw_impl(jb);
}
#if OGQ_HAVE_AVX2_CLONES
OGQ_HOT_AVX2 static void dw_avx2(const struct dw_job *jb)
{
    dw_impl(jb);
}
#endif

/* Fills the geometry and column ranges of a depthwise job (`wr`: 2 * kernel_w values). */
static void dw_setup(const struct ogq_conv_geom *g, int64_t *wr, struct dw_job *jb)
{
    int off = 3 - g->nd;
    for (int i = 0; i < 3; i++) {
        int j = i - off;
        jb->in[i] = j >= 0 ? g->in[j] : 1;
        jb->out[i] = j >= 0 ? g->out[j] : 1;
        jb->k[i] = j >= 0 ? g->kernel[j] : 1;
        jb->s[i] = j >= 0 ? g->stride[j] : 1;
        jb->d[i] = j >= 0 ? g->dilation[j] : 1;
        jb->p[i] = j >= 0 ? g->pad[j] : 0;
    }
    jb->wr = wr;
    jb->ia = 0;
    jb->ib = jb->out[2];
    for (int64_t kw = 0; kw < jb->k[2]; kw++) {
        valid_range(kw * jb->d[2] - jb->p[2], jb->s[2], jb->in[2], jb->out[2], &wr[2 * kw],
                    &wr[2 * kw + 1]);
        jb->ia = wr[2 * kw] > jb->ia ? wr[2 * kw] : jb->ia;
        jb->ib = wr[2 * kw + 1] < jb->ib ? wr[2 * kw + 1] : jb->ib;
    }
}

/* ---------------------------------------------------------------- Conv: parallel tasks */

/* Everything a Conv task needs; tasks index images, channel chunks or column tiles. */
struct conv_job {
    const struct ogq_conv_geom *g;
    const float *x, *w;
    float *y;
    float *scratch;
    int64_t c, m, cg, mg, k, is, os, ow, rows;
    int64_t gi;          /* current group */
    int64_t n_img;       /* images of the current chunk (folded) or of the batch */
    int64_t n0;          /* first image of the chunk */
    int64_t chunk;       /* channels (im2col, depthwise) or output rows (tiles) per task */
    int64_t per_img;     /* tasks per image */
    int64_t ld;          /* row stride of the patch matrix */
    int64_t tile_floats; /* per-thread scratch of the tile path */
    const float *bias;   /* NULL: no bias */
    struct dw_job dw;    /* depthwise template */
};

/* Depthwise: task = (image, chunk of output channels). */
static void dw_task(void *p, int64_t t, int tid)
{
    (void)tid;
    const struct conv_job *cj = p;
    struct dw_job jb = cj->dw;
    int64_t n = t / cj->per_img, part = t % cj->per_img;
    jb.x = cj->x + n * cj->c * cj->is;
    jb.y = cj->y + n * cj->m * cj->os;
    jb.m0 = part * cj->chunk;
    jb.m1 = jb.m0 + cj->chunk < cj->m ? jb.m0 + cj->chunk : cj->m;
    fill_bias(jb.y + jb.m0 * cj->os, cj->bias ? cj->bias + jb.m0 : NULL, jb.m1 - jb.m0, cj->os,
              cj->os);
#if OGQ_HAVE_AVX2_CLONES
    if (ogq_cpu_has_avx2()) {
        dw_avx2(&jb);
        return;
    }
#endif
    dw_base(&jb);
}

/* im2col of the whole output of group gi into the shared patch matrix (images of the
 * chunk side by side): task = (image, chunk of input channels). */
static void im2col_task(void *p, int64_t t, int tid)
{
    (void)tid;
    const struct conv_job *cj = p;
    int64_t b = t / cj->per_img, c0 = (t % cj->per_img) * cj->chunk;
    int64_t c1 = c0 + cj->chunk < cj->cg ? c0 + cj->chunk : cj->cg;
    const int64_t ks = cj->k / cj->cg;
    const float *im = cj->x + ((cj->n0 + b) * cj->c + cj->gi * cj->cg + c0) * cj->is;
    ogq_im2col_rows_f32(cj->g, c1 - c0, im, 0, cj->rows,
                        cj->scratch + c0 * ks * cj->ld + b * cj->os, cj->ld);
}

/* Folded images: Y[n0 + b] += result columns of image b (task = image). */
OGQ_HOT static void scatter_task(void *p, int64_t b, int tid)
{
    (void)tid;
    const struct conv_job *cj = p;
    const float *tmp = cj->scratch + cj->k * cj->ld;
    for (int64_t mm = 0; mm < cj->mg; mm++) {
        float *restrict dst = cj->y + ((cj->n0 + b) * cj->m + cj->gi * cj->mg + mm) * cj->os;
        const float *restrict src = tmp + mm * cj->ld + b * cj->os;
        for (int64_t j = 0; j < cj->os; j++)
            dst[j] += src[j];
    }
}

/* Private tiles: task = (image, tile of output rows) for group gi; each thread makes the
 * patches of its tile in its own scratch and runs a single-threaded sgemm on it. */
static void tile_task(void *p, int64_t t, int tid)
{
    const struct conv_job *cj = p;
    int64_t n = t / cj->per_img, r0 = (t % cj->per_img) * cj->chunk;
    int64_t r1 = r0 + cj->chunk < cj->rows ? r0 + cj->chunk : cj->rows, nc = (r1 - r0) * cj->ow;
    float *col = cj->scratch + (int64_t)tid * cj->tile_floats;
    const float *xg = cj->x + (n * cj->c + cj->gi * cj->cg) * cj->is;
    float *yg = cj->y + (n * cj->m + cj->gi * cj->mg) * cj->os + r0 * cj->ow;
    ogq_im2col_rows_f32(cj->g, cj->cg, xg, r0, r1, col, nc);
    /* The bias goes into this tile of Y while it is in cache (no bias: sgemm's beta = 0). */
    if (cj->bias)
        fill_bias(yg, cj->bias + cj->gi * cj->mg, cj->mg, nc, cj->os);
    ogq_sgemm(false, false, cj->mg, nc, cj->k, 1.0f, cj->w + cj->gi * cj->mg * cj->k, cj->k, col,
              nc, cj->bias ? 1.0f : 0.0f, yg, cj->os);
}

/* Channel chunks for parallel im2col / depthwise: about 4 tasks per thread. */
static int64_t channel_chunk(int64_t channels, int64_t other_tasks, int threads)
{
    int64_t want = 4 * (int64_t)threads;
    int64_t per = want / (other_tasks > 0 ? other_tasks : 1);
    per = per < 1 ? 1 : per;
    int64_t chunk = (channels + per - 1) / per;
    return chunk < 1 ? 1 : chunk;
}

/* How Conv runs a node, decided the same way by workspace() and run(). */
struct conv_plan {
    enum conv_path path;
    int64_t fold; /* images per folded sgemm (1 = none) */
    bool tiles;   /* private per-thread tiles (else one shared patch matrix) */
    int64_t tile_rows;
    int threads;
};

static void conv_make_plan(const struct ogq_conv_geom *g, int64_t n_img, int64_t cg, int64_t mg,
                           int threads, struct conv_plan *pl)
{
    const int64_t k = cg * ogq_conv_geom_kernel_size(g), os = ogq_conv_geom_out_size(g);
    pl->path = conv_path(g, cg);
    pl->threads = threads < 1 ? 1 : threads;
    pl->fold = pl->path == PATH_DEPTHWISE ? 1 : conv_fold_images(n_img, os, k);
    pl->tile_rows = conv_tile_rows(g, k, mg);
    int64_t rows = os / g->out[g->nd - 1];
    int64_t n_tiles = (rows + pl->tile_rows - 1) / pl->tile_rows;
    /* Tiles when there are enough of them to keep every thread busy (or one thread). */
    pl->tiles = pl->path == PATH_GENERAL && pl->fold == 1 &&
                (pl->threads == 1 || n_tiles * n_img >= 2 * pl->threads);
}

static size_t conv_workspace(const struct ogq_kernel_ctx *ctx)
{
    const struct conv_attrs *a = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0], *w = ctx->inputs[1];
    struct ogq_conv_geom g;
    struct ogq_error e;
    if (conv_geom(ctx->node, a, x->rank, x->dims, w->dims, &g, &e) != OGQ_OK)
        return 0;
    const int64_t cg = w->dims[1], mg = w->dims[0] / a->group;
    const int64_t k = cg * ogq_conv_geom_kernel_size(&g), os = ogq_conv_geom_out_size(&g);
    struct conv_plan pl;
    conv_make_plan(&g, x->dims[0], cg, mg, ctx->threads, &pl);
    if (pl.path == PATH_DEPTHWISE)
        return sizeof(int64_t) * 2 * (size_t)g.kernel[g.nd - 1];
    if (pl.fold > 1) /* patches + the sgemm result of one chunk */
        return sizeof(float) * (size_t)((k + mg) * pl.fold * os);
    if (pl.path == PATH_POINTWISE)
        return 0;
    if (pl.tiles)
        return sizeof(float) * (size_t)(pl.threads * k * pl.tile_rows * g.out[g.nd - 1]);
    return sizeof(float) * (size_t)(k * os);
}

static enum ogq_status conv_run(struct ogq_kernel_ctx *ctx)
{
    const struct conv_attrs *a = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0], *w = ctx->inputs[1], *b = bias_input(ctx);
    struct ogq_conv_geom g;
    OGQ_TRY(conv_geom(ctx->node, a, x->rank, x->dims, w->dims, &g, ctx->err));
    const int64_t n_img = x->dims[0], c = x->dims[1], m = w->dims[0], grp = a->group;
    const int64_t cg = c / grp, mg = m / grp, os = ogq_conv_geom_out_size(&g);
    const int64_t ow = g.out[g.nd - 1];
    struct conv_plan pl;
    conv_make_plan(&g, n_img, cg, mg, ctx->threads, &pl);
    struct conv_job cj = {.g = &g,
                          .x = x->data,
                          .w = w->data,
                          .y = ctx->outputs[0]->data,
                          .scratch = ctx->scratch,
                          .c = c,
                          .m = m,
                          .cg = cg,
                          .mg = mg,
                          .k = cg * ogq_conv_geom_kernel_size(&g),
                          .is = ogq_conv_geom_in_size(&g),
                          .os = os,
                          .ow = ow,
                          .rows = os / ow,
                          .n_img = n_img};
    const int th = pl.threads;
    cj.bias = b ? b->data : NULL;
    if (n_img == 0)
        return OGQ_OK;
    /* Depthwise and tile tasks write the bias themselves; the folded path accumulates
     * into Y; the shared path lets sgemm's beta = 0 clear Y when there is no bias. */
    if (pl.fold > 1 || (!pl.tiles && pl.path != PATH_DEPTHWISE && cj.bias))
        for (int64_t n = 0; n < n_img; n++)
            fill_bias(cj.y + n * m * os, cj.bias, m, os, os);
    if (pl.path == PATH_DEPTHWISE) {
        dw_setup(&g, ctx->scratch, &cj.dw);
        cj.dw.w = cj.w;
        cj.dw.mult = mg;
        cj.chunk = channel_chunk(m, n_img, th);
        cj.per_img = (m + cj.chunk - 1) / cj.chunk;
        ogq_parallel_for(n_img * cj.per_img, th, dw_task, &cj);
        return OGQ_OK;
    }
    if (pl.fold > 1) {
        /* Shared patch matrix of `fold` images side by side, one (split) sgemm. */
        for (cj.n0 = 0; cj.n0 < n_img; cj.n0 += pl.fold) {
            int64_t cnt = cj.n0 + pl.fold < n_img ? pl.fold : n_img - cj.n0;
            cj.ld = cnt * os;
            cj.chunk = channel_chunk(cg, cnt, th);
            cj.per_img = (cg + cj.chunk - 1) / cj.chunk;
            for (cj.gi = 0; cj.gi < grp; cj.gi++) {
                ogq_parallel_for(cnt * cj.per_img, th, im2col_task, &cj);
                ogq_sgemm(false, false, mg, cj.ld, cj.k, 1.0f, cj.w + cj.gi * mg * cj.k, cj.k,
                          cj.scratch, cj.ld, 0.0f, cj.scratch + cj.k * cj.ld, cj.ld);
                ogq_parallel_for(cnt, th, scatter_task, &cj);
            }
        }
        return OGQ_OK;
    }
    if (pl.tiles) {
        cj.chunk = pl.tile_rows;
        cj.per_img = (cj.rows + cj.chunk - 1) / cj.chunk;
        cj.tile_floats = cj.k * pl.tile_rows * ow;
        for (cj.gi = 0; cj.gi < grp; cj.gi++)
            ogq_parallel_for(n_img * cj.per_img, th, tile_task, &cj);
        return OGQ_OK;
    }
    for (int64_t n = 0; n < n_img; n++) {
        for (cj.gi = 0; cj.gi < grp; cj.gi++) {
            const float *xg = cj.x + (n * c + cj.gi * cg) * cj.is;
            const float *wg = cj.w + cj.gi * mg * cj.k;
            float *yg = cj.y + (n * m + cj.gi * mg) * os;
            const float *bmat = xg;
            int64_t ldb = cj.is;
            if (pl.path == PATH_GENERAL) { /* shared patch matrix, parallel im2col */
                cj.n0 = n;
                cj.ld = os;
                cj.chunk = channel_chunk(cg, 1, th);
                cj.per_img = (cg + cj.chunk - 1) / cj.chunk;
                ogq_parallel_for(cj.per_img, th, im2col_task, &cj);
                bmat = cj.scratch;
                ldb = os;
            }
            ogq_sgemm(false, false, mg, os, cj.k, 1.0f, wg, cj.k, bmat, ldb, cj.bias ? 1.0f : 0.0f,
                      yg, os);
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- ConvTranspose */

/* Geometry of the col2im step: in = the output image, out = the input grid. */
static enum ogq_status convt_geom(const struct ogq_kernel_ctx *ctx, struct ogq_conv_geom *g)
{
    const struct conv_attrs *a = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0], *w = ctx->inputs[1];
    OGQ_TRY(geom_base(ctx->node, a, x->rank, w->dims, g, ctx->err));
    if (x->dims[1] != w->dims[0] || w->dims[0] % a->group != 0)
        return OGQ_KFAIL(ctx, "channels do not match: input %lld, weight [%lld, ...], group %lld",
                         (long long)x->dims[1], (long long)w->dims[0], (long long)a->group);
    const int nd = g->nd;
    if (a->n_out_shape && a->n_out_shape != (size_t)nd && a->n_out_shape != (size_t)nd + 2)
        return OGQ_KFAIL(ctx, "output_shape has %zu values for %d spatial axes", a->n_out_shape,
                         nd);
    const int64_t *oshape = a->n_out_shape ? a->out_shape + (a->n_out_shape - (size_t)nd) : NULL;
    for (int i = 0; i < nd; i++) {
        int64_t in = x->dims[2 + i], s = g->stride[i];
        int64_t dk = (g->kernel[i] - 1) * g->dilation[i] + 1;
        int64_t op = a->n_out_pad ? a->out_pad[i] : 0;
        int64_t full = s * (in - 1) + op + dk; /* output size with no padding */
        int64_t out, pb;
        if (oshape || a->auto_pad == OGQ_AUTO_PAD_SAME_UPPER ||
            a->auto_pad == OGQ_AUTO_PAD_SAME_LOWER) {
            out = oshape ? oshape[i] : in * s;
            int64_t total = full - out;
            /* As the ONNX reference: the odd pad goes to the end for SAME_UPPER and to
             * the start otherwise (floor division). total may be negative with
             * output_shape: the extra outputs then receive only the bias. */
            int64_t half = floor_div(total, 2);
            pb = a->auto_pad == OGQ_AUTO_PAD_SAME_UPPER ? half : total - half;
        } else if (a->auto_pad == OGQ_AUTO_PAD_VALID) {
            pb = 0;
            out = full;
        } else {
            pb = a->n_pads ? a->pads[i] : 0;
            int64_t pe = a->n_pads ? a->pads[nd + i] : 0;
            out = full - pb - pe;
        }
        if (out < 1 || in < 1)
            return OGQ_KFAIL(ctx, "output size %lld along axis %d is not positive", (long long)out,
                             i);
        g->in[i] = out;
        g->out[i] = in;
        g->pad[i] = pb;
    }
    return OGQ_OK;
}

static enum ogq_status convt_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(conv_check_inputs(ctx));
    const struct conv_attrs *a = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0], *w = ctx->inputs[1], *b = bias_input(ctx);
    struct ogq_conv_geom g;
    OGQ_TRY(convt_geom(ctx, &g));
    int64_t m = w->dims[1] * a->group;
    if (b && (b->rank != 1 || b->dims[0] != m))
        return OGQ_KFAIL(ctx, "bias must be 1-D with %lld values", (long long)m);
    int64_t dims[MAXS + 2] = {x->dims[0], m};
    for (int i = 0; i < g.nd; i++)
        dims[2 + i] = g.in[i];
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, x->rank, dims, ctx->node->name,
                                   ctx->err);
}

static size_t convt_workspace(const struct ogq_kernel_ctx *ctx)
{
    struct ogq_conv_geom g;
    struct ogq_error e;
    struct ogq_kernel_ctx c = *ctx;
    c.err = &e;
    if (convt_geom(&c, &g) != OGQ_OK)
        return 0;
    return sizeof(float) * (size_t)(ctx->inputs[1]->dims[1] * ogq_conv_geom_kernel_size(&g) *
                                    ogq_conv_geom_out_size(&g));
}

struct convt_job {
    const struct ogq_conv_geom *g;
    const float *col;
    float *y;
    int64_t col_per_ch, y_per_ch, chunk, channels;
};

static void col2im_task(void *p, int64_t t, int tid)
{
    (void)tid;
    const struct convt_job *cj = p;
    int64_t c0 = t * cj->chunk, c1 = c0 + cj->chunk < cj->channels ? c0 + cj->chunk : cj->channels;
    ogq_col2im_add_f32(cj->g, c1 - c0, cj->col + c0 * cj->col_per_ch, cj->y + c0 * cj->y_per_ch);
}

static enum ogq_status convt_run(struct ogq_kernel_ctx *ctx)
{
    const struct conv_attrs *a = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0], *w = ctx->inputs[1], *b = bias_input(ctx);
    struct ogq_conv_geom g;
    OGQ_TRY(convt_geom(ctx, &g));
    const int64_t n_img = x->dims[0], c = x->dims[1], grp = a->group;
    const int64_t cg = c / grp, mg = w->dims[1], m = mg * grp;
    const int64_t ks = ogq_conv_geom_kernel_size(&g);
    const int64_t xs = ogq_conv_geom_out_size(&g); /* input grid */
    const int64_t ys = ogq_conv_geom_in_size(&g);  /* output image */
    const float *xv = x->data, *wv = w->data, *bv = b ? b->data : NULL;
    float *yv = ctx->outputs[0]->data, *col = ctx->scratch;
    for (int64_t n = 0; n < n_img; n++) {
        float *yn = yv + n * m * ys;
        fill_bias(yn, bv, m, ys, ys);
        for (int64_t gi = 0; gi < grp; gi++) {
            const float *xg = xv + (n * c + gi * cg) * xs, *wg = wv + gi * cg * mg * ks;
            /* col[mg * ks, xs] = W_g^T @ X_g, W_g viewed as [cg, mg * ks]. */
            ogq_sgemm(true, false, mg * ks, xs, cg, 1.0f, wg, mg * ks, xg, xs, 0.0f, col, xs);
            /* Output channels are independent in col2im: chunks in parallel. */
            struct convt_job cj = {
                &g, col, yn + gi * mg * ys, ks * xs, ys, channel_chunk(mg, 1, ctx->threads), mg};
            ogq_parallel_for((mg + cj.chunk - 1) / cj.chunk, ctx->threads, col2im_task, &cj);
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- family */

static const struct ogq_kernel kernels[] = {
    {"", "Conv", 1, INT_MAX, conv_prepare, conv_release, conv_infer, conv_workspace, conv_run,
     false},
    {"", "ConvTranspose", 1, INT_MAX, convt_prepare, conv_release, convt_infer, convt_workspace,
     convt_run, false},
};

const struct ogq_kernel_family ogq_family_conv = {"conv", kernels,
                                                  sizeof kernels / sizeof kernels[0]};
