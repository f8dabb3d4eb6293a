/* kernels_shape.c — shape and data-movement kernels: Constant, Identity, Dropout (inference),
 * Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Gather,
 * GatherElements, GatherND, Shape, Size, Expand, ConstantOfShape, Range, Tile, Pad, Resize,
 * Upsample, DepthToSpace, SpaceToDepth, Trilu, CumSum, ArgMax, ArgMin.
 *
 * Data movement copies elements by their byte size (1, 4 or 8), so every storage dtype except
 * the packed 4-bit ones is handled alike; pure views (Reshape, Flatten, Squeeze, Unsqueeze,
 * Identity, Dropout's output) alias their input instead of copying. Transpose, Slice, Expand,
 * DepthToSpace and SpaceToDepth all go through one strided copy that first merges axes, then
 * copies contiguous rows with memcpy, fills broadcast rows, or runs a register-blocked (SSE2)
 * transpose when the source's unit-stride axis is not the innermost output axis (the attention
 * and NCHW<->NHWC permutations end up there).
 *
 * Resize follows the ONNX reference implementation: coordinates and interpolation coefficients
 * are computed in double per axis, then applied separably one axis at a time (float32
 * accumulation) with edge clamping of the taps; nearest mode is a plain gather and works for
 * every dtype, linear/cubic need float data. Two choices where the reference and the spec
 * differ: pytorch_half_pixel maps a length-1 output to 0 (spec and ONNX Runtime), and Slice
 * clamps a negative-step start to [0, dim - 1] (spec and ONNX Runtime). Opset-10 Resize and
 * Upsample use ONNX Runtime's conventions (asymmetric coordinates; nearest floors when
 * upsampling and ceils when downsampling). Dropout's inference mask is all ones (spec and the
 * reference; ONNX Runtime writes zeros before opset 12).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The build is -O2, where GCC only vectorises loops whose trip count is a known multiple of
 * the vector width; the loops here run over runtime lengths. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#define MAXR OGQ_RT_MAX_RANK

#define KUNSUP(ctx, ...) ogq_kernel_fail((ctx)->node, OGQ_ERR_UNSUPPORTED, (ctx)->err, __VA_ARGS__)

/* ---------------------------------------------------------------- small helpers */

static const struct ogq_rt_tensor *in_at(const struct ogq_kernel_ctx *ctx, size_t i)
{
    return i < ctx->n_inputs ? ctx->inputs[i] : NULL;
}

static struct ogq_rt_tensor *out_at(const struct ogq_kernel_ctx *ctx, size_t i)
{
    return i < ctx->n_outputs ? ctx->outputs[i] : NULL;
}

/* Sets output k's shape; an omitted output is skipped. */
static enum ogq_status set_out(struct ogq_kernel_ctx *ctx, size_t k, enum ogq_dtype dtype,
                               int rank, const int64_t *dims)
{
    struct ogq_rt_tensor *t = out_at(ctx, k);
    if (!t)
        return OGQ_OK;
    return ogq_rt_tensor_set_shape(t, dtype, rank, dims, ctx->node->name, ctx->err);
}

static enum ogq_status need_input(struct ogq_kernel_ctx *ctx, size_t i)
{
    if (!in_at(ctx, i))
        return OGQ_KFAIL(ctx, "input %zu is missing", i);
    return OGQ_OK;
}

/* Byte size of one element of input i, which must be present and not a packed type. */
static enum ogq_status input_es(struct ogq_kernel_ctx *ctx, size_t i, size_t *es)
{
    OGQ_TRY(need_input(ctx, i));
    *es = ogq_rt_elem_size(ctx->inputs[i]->dtype);
    if (*es == 0)
        return KUNSUP(ctx, "input %zu has unsupported dtype %s", i,
                      ogq_dtype_name(ctx->inputs[i]->dtype));
    return OGQ_OK;
}

static int64_t prod(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= d[i];
    return p;
}

/* Row-major element strides of `dims`. */
static void dense_strides(int rank, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

/* Reads an optional 0-D/1-D integer input (absent: *n = 0, *present = false). */
static enum ogq_status read_opt_ints(struct ogq_kernel_ctx *ctx, size_t i, const char *what,
                                     int64_t *v, size_t max, size_t *n, bool *present)
{
    const struct ogq_rt_tensor *t = in_at(ctx, i);
    *n = 0;
    if (present)
        *present = t != NULL;
    if (!t)
        return OGQ_OK;
    return ogq_read_ints(ctx, t, what, v, max, n);
}

/* Normalizes `n` axes against `rank` into out[], failing on duplicates. */
static enum ogq_status normalize_axes(struct ogq_kernel_ctx *ctx, const int64_t *axes, size_t n,
                                      int rank, int *out)
{
    bool seen[MAXR + 1] = {false};
    for (size_t i = 0; i < n; i++) {
        OGQ_TRY(ogq_normalize_axis(ctx, axes[i], rank, &out[i]));
        if (seen[out[i]])
            return OGQ_KFAIL(ctx, "axis %lld is repeated", (long long)axes[i]);
        seen[out[i]] = true;
    }
    return OGQ_OK;
}

/* Runs `M(T)` with T the unsigned integer type of element size es (1, 2, 4 or 8). */
#define BY_ES(es, M)                                                                               \
    do {                                                                                           \
        switch (es) {                                                                              \
        case 1: M(uint8_t); break;                                                                 \
        case 2: M(uint16_t); break;                                                                \
        case 4: M(uint32_t); break;                                                                \
        default: M(uint64_t); break;                                                               \
        }                                                                                          \
    } while (0)

/* Fills n elements of size es with the element at `val`. */
static void fill_elems(void *dst, const void *val, int64_t n, size_t es)
{
#define FILL_T(T)                                                                                  \
    do {                                                                                           \
        T v_;                                                                                      \
        memcpy(&v_, val, sizeof v_);                                                               \
        T *d_ = dst;                                                                               \
        for (int64_t k_ = 0; k_ < n; k_++)                                                         \
            d_[k_] = v_;                                                                           \
    } while (0)
    BY_ES(es, FILL_T);
#undef FILL_T
}

/* dst[k] = src[k * stride] for k < n. */
static void gather_strided(void *dst, const void *src, int64_t stride, int64_t n, size_t es)
{
#define GS_T(T)                                                                                    \
    do {                                                                                           \
        T *d_ = dst;                                                                               \
        const T *s_ = src;                                                                         \
        for (int64_t k_ = 0; k_ < n; k_++)                                                         \
            d_[k_] = s_[k_ * stride];                                                              \
    } while (0)
    BY_ES(es, GS_T);
#undef GS_T
}

/* Transposes: dst[a * ldd + b] = src[a + b * lds] for a < A, b < B. Register micro-blocks
 * (SSE2 shuffles, which move bits unchanged) of M x M elements are walked in bands of 16 rows
 * of the shorter side, which keeps the number of concurrent memory streams small (measured
 * against the other orders on NCHW<->NHWC and attention shapes). */
#if defined(__SSE2__)
static inline void tr_block_u32(uint32_t *d, int64_t ldd, const uint32_t *s, int64_t lds)
{
    __m128i r0 = _mm_loadu_si128((const __m128i *)s);
    __m128i r1 = _mm_loadu_si128((const __m128i *)(s + lds));
    __m128i r2 = _mm_loadu_si128((const __m128i *)(s + 2 * lds));
    __m128i r3 = _mm_loadu_si128((const __m128i *)(s + 3 * lds));
    __m128i t0 = _mm_unpacklo_epi32(r0, r1), t1 = _mm_unpackhi_epi32(r0, r1);
    __m128i t2 = _mm_unpacklo_epi32(r2, r3), t3 = _mm_unpackhi_epi32(r2, r3);
    _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi64(t0, t2));
    _mm_storeu_si128((__m128i *)(d + ldd), _mm_unpackhi_epi64(t0, t2));
    _mm_storeu_si128((__m128i *)(d + 2 * ldd), _mm_unpacklo_epi64(t1, t3));
    _mm_storeu_si128((__m128i *)(d + 3 * ldd), _mm_unpackhi_epi64(t1, t3));
}

static inline void tr_block_u64(uint64_t *d, int64_t ldd, const uint64_t *s, int64_t lds)
{
    __m128i r0 = _mm_loadu_si128((const __m128i *)s);
    __m128i r1 = _mm_loadu_si128((const __m128i *)(s + lds));
    _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi64(r0, r1));
    _mm_storeu_si128((__m128i *)(d + ldd), _mm_unpackhi_epi64(r0, r1));
}

static inline void tr_block_u8(uint8_t *d, int64_t ldd, const uint8_t *s, int64_t lds)
{
    /* 16x16 bytes in four interleaving stages: pairs of rows (8-bit), quads (16-bit), eights
     * (32-bit), then all 16 rows (64-bit), after which register c holds column c. */
    __m128i r[16], a[16], b[16], c[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm_loadu_si128((const __m128i *)(s + i * lds));
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);     /* cols 0-7, rows 2i..2i+1 */
        a[2 * i + 1] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]); /* cols 8-15 */
    }
    for (int q = 0; q < 4; q++) { /* rows 4q..4q+3: b[4q + k] holds cols 4k..4k+3 */
        b[4 * q] = _mm_unpacklo_epi16(a[4 * q], a[4 * q + 2]);
        b[4 * q + 1] = _mm_unpackhi_epi16(a[4 * q], a[4 * q + 2]);
        b[4 * q + 2] = _mm_unpacklo_epi16(a[4 * q + 1], a[4 * q + 3]);
        b[4 * q + 3] = _mm_unpackhi_epi16(a[4 * q + 1], a[4 * q + 3]);
    }
    for (int h = 0; h < 2; h++) { /* rows 8h..8h+7: c[8h + m] holds cols 2m, 2m+1 */
        for (int k = 0; k < 4; k++) {
            c[8 * h + 2 * k] = _mm_unpacklo_epi32(b[8 * h + k], b[8 * h + 4 + k]);
            c[8 * h + 2 * k + 1] = _mm_unpackhi_epi32(b[8 * h + k], b[8 * h + 4 + k]);
        }
    }
    for (int m = 0; m < 8; m++) {
        _mm_storeu_si128((__m128i *)(d + (2 * m) * ldd), _mm_unpacklo_epi64(c[m], c[m + 8]));
        _mm_storeu_si128((__m128i *)(d + (2 * m + 1) * ldd), _mm_unpackhi_epi64(c[m], c[m + 8]));
    }
}
#endif

static void transpose_tiles(void *dst, int64_t ldd, const void *src, int64_t lds, int64_t A,
                            int64_t B, size_t es)
{
    int64_t M = 0; /* micro-block size, 0: scalar only */
#if defined(__SSE2__)
    M = es == 4 ? 4 : es == 8 ? 2 : es == 1 ? 16 : 0;
#endif
    int64_t Am = M ? A - A % M : 0, Bm = M ? B - B % M : 0;
#if defined(__SSE2__)
    int64_t BB = es == 8 ? 8 : 16; /* rows per band */
#define TR_SWEEP(T, BLOCK)                                                                         \
    do {                                                                                           \
        T *d_ = dst;                                                                               \
        const T *s_ = src;                                                                         \
        if (A < B) { /* few destination rows: write BB of them at a time */                       \
            for (int64_t a0 = 0; a0 < Am; a0 += BB) {                                              \
                int64_t a1 = a0 + BB < Am ? a0 + BB : Am;                                          \
                for (int64_t b = 0; b < Bm; b += M)                                                \
                    for (int64_t a = a0; a < a1; a += M)                                           \
                        BLOCK(d_ + a * ldd + b, ldd, s_ + a + b * lds, lds);                       \
            }                                                                                      \
            break;                                                                                 \
        }                                                                                          \
        for (int64_t b0 = 0; b0 < Bm; b0 += BB) { /* else read BB source rows at a time */         \
            int64_t b1 = b0 + BB < Bm ? b0 + BB : Bm;                                              \
            for (int64_t a = 0; a < Am; a += M)                                                    \
                for (int64_t b = b0; b < b1; b += M)                                               \
                    BLOCK(d_ + a * ldd + b, ldd, s_ + a + b * lds, lds);                           \
        }                                                                                          \
    } while (0)
    if (M && Am && Bm) {
        if (es == 4)
            TR_SWEEP(uint32_t, tr_block_u32);
        else if (es == 8)
            TR_SWEEP(uint64_t, tr_block_u64);
        else
            TR_SWEEP(uint8_t, tr_block_u8);
    }
#undef TR_SWEEP
#endif
#define TT_T(T)                                                                                    \
    do {                                                                                           \
        T *d_ = dst;                                                                               \
        const T *s_ = src;                                                                         \
        if (M) { /* what the blocks left: columns a >= Am, then rows b >= Bm */                    \
            for (int64_t a = Am; a < A; a++)                                                       \
                for (int64_t b = 0; b < B; b++)                                                    \
                    d_[a * ldd + b] = s_[a + b * lds];                                             \
            for (int64_t a = 0; a < Am && Bm < B; a++)                                             \
                for (int64_t b = Bm; b < B; b++)                                                   \
                    d_[a * ldd + b] = s_[a + b * lds];                                             \
            break;                                                                                 \
        }                                                                                          \
        for (int64_t a0 = 0; a0 < A; a0 += 16) {                                                   \
            int64_t a1 = a0 + 16 < A ? a0 + 16 : A;                                                \
            for (int64_t b0 = 0; b0 < B; b0 += 16) {                                               \
                int64_t b1 = b0 + 16 < B ? b0 + 16 : B;                                            \
                for (int64_t a = a0; a < a1; a++)                                                  \
                    for (int64_t b = b0; b < b1; b++)                                              \
                        d_[a * ldd + b] = s_[a + b * lds];                                         \
            }                                                                                      \
        }                                                                                          \
    } while (0)
    BY_ES(es, TT_T);
#undef TT_T
}

/* Copies the strided view of `src` (dims, element strides st — 0 for broadcast, negative for
 * reversed slices) into dense `dst`. */
static void strided_copy(void *dst, const void *src, size_t es, int rank, const int64_t *dims,
                         const int64_t *st)
{
    int64_t d[MAXR], s[MAXR];
    int r = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 0)
            return;
        if (dims[i] == 1)
            continue;
        if (r > 0 && s[r - 1] == st[i] * dims[i]) { /* outer axis continues the inner one */
            d[r - 1] *= dims[i];
            s[r - 1] = st[i];
            continue;
        }
        d[r] = dims[i];
        s[r] = st[i];
        r++;
    }
    char *o = dst;
    const char *in = src;
    if (r == 0) {
        memcpy(o, in, es);
        return;
    }
    int64_t n = d[r - 1], sn = s[r - 1];
    int j = -1; /* an outer axis with unit source stride: transpose tiles along it */
    if (sn != 0 && sn != 1)
        for (int a = 0; a < r - 1; a++)
            if (s[a] == 1)
                j = a;
    int64_t ds[MAXR];
    dense_strides(r, d, ds);
    int64_t outer = 1;
    for (int a = 0; a < r - 1; a++)
        if (a != j)
            outer *= d[a];
    int64_t idx[MAXR] = {0};
    int64_t so = 0, dof = 0;
    for (int64_t it = 0; it < outer; it++) {
        char *po = o + dof * (int64_t)es;
        const char *pi = in + so * (int64_t)es;
        if (sn == 1)
            memcpy(po, pi, (size_t)n * es);
        else if (sn == 0)
            fill_elems(po, pi, n, es);
        else if (j >= 0)
            transpose_tiles(po, ds[j], pi, sn, d[j], n, es);
        else
            gather_strided(po, pi, sn, n, es);
        for (int a = r - 2; a >= 0; a--) {
            if (a == j)
                continue;
            if (++idx[a] < d[a]) {
                so += s[a];
                dof += ds[a];
                break;
            }
            so -= s[a] * (d[a] - 1);
            dof -= ds[a] * (d[a] - 1);
            idx[a] = 0;
        }
    }
}

/* Releases params that are one malloc'd block. */
static void free_params(void *p)
{
    free(p);
}

/* ---------------------------------------------------------------- Constant */

struct const_params {
    struct ogq_rt_tensor t;
    void *owned;
};

static void const_release(void *p)
{
    struct const_params *c = p;
    if (c)
        free(c->owned);
    free(c);
}

static enum ogq_status const_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                     struct ogq_error *err)
{
    (void)opset;
    static const char *const names[] = {"value",        "value_float",  "value_floats",
                                        "value_int",    "value_ints",   "value_string",
                                        "value_strings", "sparse_value"};
    const struct ogq_attr *a = NULL;
    for (size_t i = 0; i < node->n_attrs; i++) {
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            if (strcmp(node->attrs[i].name, names[k]) != 0)
                continue;
            if (a)
                return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                                       "has more than one value attribute");
            a = &node->attrs[i];
        }
    }
    if (!a)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "has no value attribute");
    struct const_params *c = calloc(1, sizeof *c);
    if (!c)
        return OGQ_NOMEM(err);
    enum ogq_status st = OGQ_OK;
    int64_t n1 = (int64_t)a->n;
    if (strcmp(a->name, "value") == 0 && a->type == OGQ_ATTR_TENSOR && a->t) {
        struct ogq_error e2;
        ogq_error_clear(&e2);
        st = ogq_rt_tensor_from_ir(a->t, true, &c->t, &c->owned, &e2);
        if (st != OGQ_OK)
            st = ogq_kernel_fail(node, st, err, "%s", e2.msg);
    } else if (strcmp(a->name, "value_float") == 0 && a->type == OGQ_ATTR_FLOAT) {
        c->owned = malloc(sizeof(float));
        if (!c->owned)
            st = OGQ_NOMEM(err);
        else {
            memcpy(c->owned, &a->f, sizeof(float));
            st = ogq_rt_tensor_set_shape(&c->t, OGQ_DTYPE_FLOAT, 0, NULL, node->name, err);
        }
    } else if (strcmp(a->name, "value_int") == 0 && a->type == OGQ_ATTR_INT) {
        c->owned = malloc(sizeof(int64_t));
        if (!c->owned)
            st = OGQ_NOMEM(err);
        else {
            memcpy(c->owned, &a->i, sizeof(int64_t));
            st = ogq_rt_tensor_set_shape(&c->t, OGQ_DTYPE_INT64, 0, NULL, node->name, err);
        }
    } else if (strcmp(a->name, "value_floats") == 0 && a->type == OGQ_ATTR_FLOATS) {
        c->owned = malloc(a->n ? a->n * sizeof(float) : 1);
        if (!c->owned)
            st = OGQ_NOMEM(err);
        else {
            if (a->n)
                memcpy(c->owned, a->floats, a->n * sizeof(float));
            st = ogq_rt_tensor_set_shape(&c->t, OGQ_DTYPE_FLOAT, 1, &n1, node->name, err);
        }
    } else if (strcmp(a->name, "value_ints") == 0 && a->type == OGQ_ATTR_INTS) {
        c->owned = malloc(a->n ? a->n * sizeof(int64_t) : 1);
        if (!c->owned)
            st = OGQ_NOMEM(err);
        else {
            if (a->n)
                memcpy(c->owned, a->ints, a->n * sizeof(int64_t));
            st = ogq_rt_tensor_set_shape(&c->t, OGQ_DTYPE_INT64, 1, &n1, node->name, err);
        }
    } else {
        st = ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "attribute '%s' is not supported",
                             a->name);
    }
    if (st != OGQ_OK) {
        const_release(c);
        return st;
    }
    if (c->owned)
        c->t.data = c->owned;
    *params = c;
    return OGQ_OK;
}

static enum ogq_status const_infer(struct ogq_kernel_ctx *ctx)
{
    const struct const_params *c = ctx->params;
    return set_out(ctx, 0, c->t.dtype, c->t.rank, c->t.dims);
}

static enum ogq_status const_run(struct ogq_kernel_ctx *ctx)
{
    const struct const_params *c = ctx->params;
    struct ogq_rt_tensor *y = out_at(ctx, 0);
    if (y && c->t.nbytes)
        memcpy(y->data, c->t.data, c->t.nbytes);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- views: Identity, Dropout,
 * Reshape, Flatten, Squeeze, Unsqueeze (output 0 aliases input 0) */

static enum ogq_status view_run(struct ogq_kernel_ctx *ctx)
{
    (void)ctx; /* the executor aliased output 0 to input 0 */
    return OGQ_OK;
}

static enum ogq_status identity_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_input(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    return set_out(ctx, 0, x->dtype, x->rank, x->dims);
}

static enum ogq_status dropout_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                       struct ogq_error *err)
{
    (void)params;
    if (opset < 7 && ogq_node_attr_int(node, "is_test", 0) == 0 &&
        ogq_node_attr_float(node, "ratio", 0.5f) > 0.0f)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "training-mode dropout (is_test = 0) is not supported");
    return OGQ_OK;
}

static enum ogq_status dropout_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_input(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (ctx->opset >= 12 && in_at(ctx, 2)) {
        double training, ratio = 0.5;
        OGQ_TRY(ogq_read_scalar(ctx, ctx->inputs[2], "training_mode", &training));
        if (in_at(ctx, 1))
            OGQ_TRY(ogq_read_scalar(ctx, ctx->inputs[1], "ratio", &ratio));
        if (training != 0 && ratio > 0)
            return KUNSUP(ctx, "training-mode dropout with ratio %g is not supported", ratio);
    }
    if (out_at(ctx, 1) && ctx->opset < 10 && ogq_rt_elem_size(x->dtype) == 0)
        return KUNSUP(ctx, "mask of dtype %s is not supported", ogq_dtype_name(x->dtype));
    OGQ_TRY(set_out(ctx, 0, x->dtype, x->rank, x->dims));
    return set_out(ctx, 1, ctx->opset < 10 ? x->dtype : OGQ_DTYPE_BOOL, x->rank, x->dims);
}

static enum ogq_status dropout_run(struct ogq_kernel_ctx *ctx)
{
    struct ogq_rt_tensor *m = out_at(ctx, 1);
    if (!m || m->numel == 0)
        return OGQ_OK;
    /* Inference: nothing is dropped, the mask is all ones (in the input's dtype before
     * opset 10). */
    union {
        float f;
        int64_t i64;
        int32_t i32;
        uint8_t u8;
    } one;
    size_t es = ogq_rt_elem_size(m->dtype);
    switch (m->dtype) {
    case OGQ_DTYPE_FLOAT: one.f = 1.0f; break;
    case OGQ_DTYPE_INT64: one.i64 = 1; break;
    case OGQ_DTYPE_INT32: one.i32 = 1; break;
    default: one.u8 = 1; break;
    }
    fill_elems(m->data, &one, m->numel, es);
    return OGQ_OK;
}

static enum ogq_status reshape_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_input(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t shape[MAXR];
    size_t n;
    if (ctx->opset < 5) {
        const int64_t *v;
        if (!ogq_attr_ints(ctx->node, "shape", &v, &n))
            return OGQ_KFAIL(ctx, "attribute 'shape' is missing");
        if (n > MAXR)
            return KUNSUP(ctx, "rank %zu is above the runtime's limit", n);
        memcpy(shape, v, n * sizeof *v);
    } else {
        OGQ_TRY(ogq_read_ints(ctx, in_at(ctx, 1), "shape", shape, MAXR, &n));
    }
    bool allowzero = ctx->opset >= 14 && ogq_node_attr_int(ctx->node, "allowzero", 0) != 0;
    int infer_at = -1;
    int64_t known = 1;
    for (size_t i = 0; i < n; i++) {
        if (shape[i] == -1) {
            if (infer_at >= 0)
                return OGQ_KFAIL(ctx, "shape has more than one -1");
            infer_at = (int)i;
            continue;
        }
        if (shape[i] == 0 && !allowzero) {
            if ((int)i >= x->rank)
                return OGQ_KFAIL(ctx, "shape[%zu] = 0 copies a dim the input (rank %d) lacks", i,
                                 x->rank);
            shape[i] = x->dims[i];
        }
        if (shape[i] < 0 || (shape[i] > 0 && known > INT64_MAX / shape[i]))
            return OGQ_KFAIL(ctx, "shape[%zu] = %lld is invalid", i, (long long)shape[i]);
        known *= shape[i];
    }
    if (infer_at >= 0) {
        if (known == 0) {
            if (x->numel != 0)
                return OGQ_KFAIL(ctx, "cannot infer -1 with a zero-sized shape");
            shape[infer_at] = 0;
        } else {
            if (x->numel % known != 0)
                return OGQ_KFAIL(ctx, "cannot reshape %lld elements with -1",
                                 (long long)x->numel);
            shape[infer_at] = x->numel / known;
        }
    } else if (known != x->numel) {
        return OGQ_KFAIL(ctx, "cannot reshape %lld elements into %lld", (long long)x->numel,
                         (long long)known);
    }
    return set_out(ctx, 0, x->dtype, (int)n, shape);
}

static enum ogq_status flatten_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_input(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t axis = ogq_node_attr_int(ctx->node, "axis", 1);
    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis > x->rank)
        return OGQ_KFAIL(ctx, "axis %lld is out of range for rank %d",
                         (long long)ogq_node_attr_int(ctx->node, "axis", 1), x->rank);
    int64_t dims[2] = {prod(x->dims, 0, (int)axis), prod(x->dims, (int)axis, x->rank)};
    return set_out(ctx, 0, x->dtype, 2, dims);
}

/* Axes of Squeeze/Unsqueeze: attribute before opset 13, input from 13. */
static enum ogq_status squeeze_axes(struct ogq_kernel_ctx *ctx, int64_t *axes, size_t *n,
                                    bool *present)
{
    if (ctx->opset < 13) {
        const int64_t *v;
        *present = ogq_attr_ints(ctx->node, "axes", &v, n);
        if (!*present) {
            *n = 0;
            return OGQ_OK;
        }
        if (*n > MAXR)
            return OGQ_KFAIL(ctx, "too many axes");
        memcpy(axes, v, *n * sizeof *v);
        return OGQ_OK;
    }
    return read_opt_ints(ctx, 1, "axes", axes, MAXR, n, present);
}

static enum ogq_status squeeze_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_input(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t axes[MAXR];
    size_t n;
    bool present;
    OGQ_TRY(squeeze_axes(ctx, axes, &n, &present));
    bool drop[MAXR] = {false};
    if (!present) {
        for (int d = 0; d < x->rank; d++)
            drop[d] = x->dims[d] == 1;
    } else {
        int ax[MAXR];
        OGQ_TRY(normalize_axes(ctx, axes, n, x->rank, ax));
        for (size_t i = 0; i < n; i++) {
            if (x->dims[ax[i]] != 1)
                return OGQ_KFAIL(ctx, "cannot squeeze axis %d of size %lld", ax[i],
                                 (long long)x->dims[ax[i]]);
            drop[ax[i]] = true;
        }
    }
    int64_t dims[MAXR];
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!drop[d])
            dims[r++] = x->dims[d];
    return set_out(ctx, 0, x->dtype, r, dims);
}

static enum ogq_status unsqueeze_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_input(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t axes[MAXR];
    size_t n;
    bool present;
    OGQ_TRY(squeeze_axes(ctx, axes, &n, &present));
    if (!present)
        return OGQ_KFAIL(ctx, "axes are missing");
    int r = x->rank + (int)n;
    if (r > MAXR)
        return KUNSUP(ctx, "rank %d is above the runtime's limit of %d", r, MAXR);
    int ax[MAXR];
    OGQ_TRY(normalize_axes(ctx, axes, n, r, ax));
    bool ins[MAXR] = {false};
    for (size_t i = 0; i < n; i++)
        ins[ax[i]] = true;
    int64_t dims[MAXR];
    for (int d = 0, k = 0; d < r; d++)
        dims[d] = ins[d] ? 1 : x->dims[k++];
    return set_out(ctx, 0, x->dtype, r, dims);
}

/* ---------------------------------------------------------------- Transpose */

static enum ogq_status transpose_perm(struct ogq_kernel_ctx *ctx, int rank, int *perm)
{
    const int64_t *v;
    size_t n;
    if (!ogq_attr_ints(ctx->node, "perm", &v, &n)) {
        for (int d = 0; d < rank; d++)
            perm[d] = rank - 1 - d;
        return OGQ_OK;
    }
    if ((int)n != rank)
        return OGQ_KFAIL(ctx, "perm has %zu entries for rank %d", n, rank);
    bool seen[MAXR] = {false};
    for (int d = 0; d < rank; d++) {
        if (v[d] < 0 || v[d] >= rank || seen[v[d]])
            return OGQ_KFAIL(ctx, "perm is not a permutation of 0..%d", rank - 1);
        seen[v[d]] = true;
        perm[d] = (int)v[d];
    }
    return OGQ_OK;
}

static enum ogq_status transpose_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int perm[MAXR];
    OGQ_TRY(transpose_perm(ctx, x->rank, perm));
    int64_t dims[MAXR];
    for (int d = 0; d < x->rank; d++)
        dims[d] = x->dims[perm[d]];
    return set_out(ctx, 0, x->dtype, x->rank, dims);
}

static enum ogq_status transpose_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int perm[MAXR];
    OGQ_TRY(transpose_perm(ctx, x->rank, perm));
    int64_t ist[MAXR], st[MAXR];
    dense_strides(x->rank, x->dims, ist);
    for (int d = 0; d < x->rank; d++)
        st[d] = ist[perm[d]];
    strided_copy(y->data, x->data, ogq_rt_elem_size(x->dtype), y->rank, y->dims, st);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Concat */

static enum ogq_status concat_axis(struct ogq_kernel_ctx *ctx, int rank, int *axis)
{
    int64_t a = ogq_node_attr_int(ctx->node, "axis", ctx->opset < 4 ? 1 : INT64_MIN);
    if (a == INT64_MIN)
        return OGQ_KFAIL(ctx, "attribute 'axis' is missing");
    return ogq_normalize_axis(ctx, a, rank, axis);
}

static enum ogq_status concat_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x0 = ctx->inputs[0];
    int axis;
    OGQ_TRY(concat_axis(ctx, x0->rank, &axis));
    int64_t dims[MAXR];
    memcpy(dims, x0->dims, sizeof dims);
    dims[axis] = 0;
    for (size_t i = 0; i < ctx->n_inputs; i++) {
        const struct ogq_rt_tensor *t = ctx->inputs[i];
        if (!t)
            return OGQ_KFAIL(ctx, "input %zu is missing", i);
        if (t->dtype != x0->dtype || t->rank != x0->rank)
            return OGQ_KFAIL(ctx, "input %zu has dtype %s rank %d, input 0 has %s rank %d", i,
                             ogq_dtype_name(t->dtype), t->rank, ogq_dtype_name(x0->dtype),
                             x0->rank);
        for (int d = 0; d < t->rank; d++)
            if (d != axis && t->dims[d] != x0->dims[d])
                return OGQ_KFAIL(ctx, "input %zu differs from input 0 in dim %d", i, d);
        dims[axis] += t->dims[axis];
    }
    return set_out(ctx, 0, x0->dtype, x0->rank, dims);
}

static enum ogq_status concat_run(struct ogq_kernel_ctx *ctx)
{
    struct ogq_rt_tensor *y = ctx->outputs[0];
    if (y->numel == 0)
        return OGQ_OK;
    int axis;
    OGQ_TRY(concat_axis(ctx, y->rank, &axis));
    size_t es = ogq_rt_elem_size(y->dtype);
    int64_t outer = prod(y->dims, 0, axis);
    char *o = y->data;
    for (int64_t p = 0; p < outer; p++) {
        for (size_t i = 0; i < ctx->n_inputs; i++) {
            const struct ogq_rt_tensor *t = ctx->inputs[i];
            size_t blk = (size_t)prod(t->dims, axis, t->rank) * es;
            if (!blk)
                continue;
            memcpy(o, (const char *)t->data + (size_t)p * blk, blk);
            o += blk;
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Split */

#define MAX_SPLIT 1024

static enum ogq_status split_sizes(struct ogq_kernel_ctx *ctx, int *axis, int64_t *sizes)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    OGQ_TRY(ogq_normalize_axis(ctx, ogq_node_attr_int(ctx->node, "axis", 0), x->rank, axis));
    size_t nout = ctx->n_outputs, n = 0;
    if (nout == 0 || nout > MAX_SPLIT)
        return OGQ_KFAIL(ctx, "has %zu outputs", nout);
    bool have = false;
    if (ctx->opset >= 13) {
        OGQ_TRY(read_opt_ints(ctx, 1, "split", sizes, MAX_SPLIT, &n, &have));
    } else {
        const int64_t *v;
        have = ogq_attr_ints(ctx->node, "split", &v, &n);
        if (have) {
            if (n > MAX_SPLIT)
                return OGQ_KFAIL(ctx, "split has %zu entries", n);
            memcpy(sizes, v, n * sizeof *v);
        } else if (in_at(ctx, 1)) { /* Split-1 took the sizes as an optional input */
            OGQ_TRY(ogq_read_ints(ctx, ctx->inputs[1], "split", sizes, MAX_SPLIT, &n));
            have = true;
        }
    }
    int64_t dim = x->dims[*axis];
    if (have) {
        if (n != nout)
            return OGQ_KFAIL(ctx, "split has %zu entries for %zu outputs", n, nout);
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (sizes[i] < 0)
                return OGQ_KFAIL(ctx, "split[%zu] = %lld is negative", i, (long long)sizes[i]);
            sum += sizes[i];
        }
        if (sum != dim)
            return OGQ_KFAIL(ctx, "split sums to %lld, the axis has %lld", (long long)sum,
                             (long long)dim);
        return OGQ_OK;
    }
    int64_t parts = (int64_t)nout;
    if (ctx->opset >= 18) {
        int64_t no = ogq_node_attr_int(ctx->node, "num_outputs", (int64_t)nout);
        if (no != (int64_t)nout)
            return OGQ_KFAIL(ctx, "num_outputs = %lld but the node has %zu outputs",
                             (long long)no, nout);
    }
    /* Equal parts; when the axis does not divide evenly the last chunk is smaller. */
    int64_t chunk = dim % parts == 0 ? dim / parts : dim / parts + 1;
    for (int64_t i = 0; i < parts; i++)
        sizes[i] = chunk;
    sizes[parts - 1] = dim - chunk * (parts - 1);
    if (sizes[parts - 1] < 0)
        return OGQ_KFAIL(ctx, "cannot split %lld into %lld parts", (long long)dim,
                         (long long)parts);
    return OGQ_OK;
}

static enum ogq_status split_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int axis;
    int64_t sizes[MAX_SPLIT];
    OGQ_TRY(split_sizes(ctx, &axis, sizes));
    int64_t dims[MAXR];
    memcpy(dims, x->dims, sizeof dims);
    for (size_t k = 0; k < ctx->n_outputs; k++) {
        dims[axis] = sizes[k];
        OGQ_TRY(set_out(ctx, k, x->dtype, x->rank, dims));
    }
    return OGQ_OK;
}

static enum ogq_status split_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int axis;
    int64_t sizes[MAX_SPLIT];
    OGQ_TRY(split_sizes(ctx, &axis, sizes));
    size_t es = ogq_rt_elem_size(x->dtype);
    int64_t outer = prod(x->dims, 0, axis);
    size_t inner = (size_t)prod(x->dims, axis + 1, x->rank) * es;
    size_t row = (size_t)x->dims[axis] * inner;
    size_t off = 0;
    for (size_t k = 0; k < ctx->n_outputs; k++) {
        struct ogq_rt_tensor *y = ctx->outputs[k];
        size_t blk = (size_t)sizes[k] * inner;
        if (y && blk)
            for (int64_t p = 0; p < outer; p++)
                memcpy((char *)y->data + (size_t)p * blk,
                       (const char *)x->data + (size_t)p * row + off, blk);
        off += blk;
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Slice */

struct slice_plan {
    int64_t start[MAXR], step[MAXR], count[MAXR];
};

static enum ogq_status slice_plan(struct ogq_kernel_ctx *ctx, struct slice_plan *pl)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t starts[MAXR], ends[MAXR], axes[MAXR], steps[MAXR];
    size_t ns, ne, na = 0, nst = 0;
    bool has_axes = false, has_steps = false;
    if (ctx->opset < 10) {
        const int64_t *v;
        if (!ogq_attr_ints(ctx->node, "starts", &v, &ns) || ns > MAXR)
            return OGQ_KFAIL(ctx, "attribute 'starts' is missing or too long");
        memcpy(starts, v, ns * sizeof *v);
        if (!ogq_attr_ints(ctx->node, "ends", &v, &ne) || ne > MAXR)
            return OGQ_KFAIL(ctx, "attribute 'ends' is missing or too long");
        memcpy(ends, v, ne * sizeof *v);
        if (ogq_attr_ints(ctx->node, "axes", &v, &na)) {
            if (na > MAXR)
                return OGQ_KFAIL(ctx, "attribute 'axes' is too long");
            memcpy(axes, v, na * sizeof *v);
            has_axes = true;
        }
    } else {
        OGQ_TRY(ogq_read_ints(ctx, in_at(ctx, 1), "starts", starts, MAXR, &ns));
        OGQ_TRY(ogq_read_ints(ctx, in_at(ctx, 2), "ends", ends, MAXR, &ne));
        OGQ_TRY(read_opt_ints(ctx, 3, "axes", axes, MAXR, &na, &has_axes));
        OGQ_TRY(read_opt_ints(ctx, 4, "steps", steps, MAXR, &nst, &has_steps));
    }
    if (ne != ns || (has_axes && na != ns) || (has_steps && nst != ns))
        return OGQ_KFAIL(ctx, "starts, ends, axes and steps differ in length");
    if (!has_axes && (int)ns > x->rank)
        return OGQ_KFAIL(ctx, "%zu starts for rank %d", ns, x->rank);
    int ax[MAXR];
    if (has_axes)
        OGQ_TRY(normalize_axes(ctx, axes, na, x->rank, ax));
    else
        for (size_t i = 0; i < ns; i++)
            ax[i] = (int)i;
    for (int d = 0; d < x->rank; d++) {
        pl->start[d] = 0;
        pl->step[d] = 1;
        pl->count[d] = x->dims[d];
    }
    for (size_t i = 0; i < ns; i++) {
        int d = ax[i];
        int64_t dim = x->dims[d], step = has_steps ? steps[i] : 1;
        int64_t s = starts[i], e = ends[i];
        if (step == 0)
            return OGQ_KFAIL(ctx, "step 0 on axis %d", d);
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        /* A step longer than the axis takes one element: clamping it keeps the counts and
         * strides below from overflowing. */
        if (step > dim + 1)
            step = dim + 1;
        if (step < -dim - 1)
            step = -dim - 1;
        int64_t count;
        if (step > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            count = e > s ? (e - s - 1) / step + 1 : 0;
        } else {
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            count = s > e ? (s - e - 1) / -step + 1 : 0;
        }
        pl->start[d] = count ? s : 0;
        pl->step[d] = step;
        pl->count[d] = count;
    }
    return OGQ_OK;
}

static enum ogq_status slice_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    struct slice_plan pl;
    OGQ_TRY(slice_plan(ctx, &pl));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    return set_out(ctx, 0, x->dtype, x->rank, pl.count);
}

static enum ogq_status slice_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    if (y->numel == 0)
        return OGQ_OK;
    struct slice_plan pl;
    OGQ_TRY(slice_plan(ctx, &pl));
    size_t es = ogq_rt_elem_size(x->dtype);
    int64_t ist[MAXR], st[MAXR], off = 0;
    dense_strides(x->rank, x->dims, ist);
    for (int d = 0; d < x->rank; d++) {
        off += pl.start[d] * ist[d];
        st[d] = pl.step[d] * ist[d];
    }
    strided_copy(y->data, (const char *)x->data + off * (int64_t)es, es, x->rank, pl.count, st);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Gather */

static enum ogq_status gather_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    OGQ_TRY(need_input(ctx, 1));
    const struct ogq_rt_tensor *x = ctx->inputs[0], *ind = ctx->inputs[1];
    if (ind->dtype != OGQ_DTYPE_INT64 && ind->dtype != OGQ_DTYPE_INT32)
        return OGQ_KFAIL(ctx, "indices must be int32 or int64");
    int axis;
    OGQ_TRY(ogq_normalize_axis(ctx, ogq_node_attr_int(ctx->node, "axis", 0), x->rank, &axis));
    int r = x->rank - 1 + ind->rank;
    if (r > MAXR)
        return KUNSUP(ctx, "output rank %d is above the runtime's limit", r);
    int64_t dims[MAXR];
    int k = 0;
    for (int d = 0; d < axis; d++)
        dims[k++] = x->dims[d];
    for (int d = 0; d < ind->rank; d++)
        dims[k++] = ind->dims[d];
    for (int d = axis + 1; d < x->rank; d++)
        dims[k++] = x->dims[d];
    return set_out(ctx, 0, x->dtype, r, dims);
}

static size_t gather_workspace(const struct ogq_kernel_ctx *ctx)
{
    return (size_t)ctx->inputs[1]->numel * sizeof(int64_t);
}

/* Copies indices into idx[] with negative ones wrapped, failing on any out of [-n, n). */
static enum ogq_status load_indices(struct ogq_kernel_ctx *ctx, const struct ogq_rt_tensor *ind,
                                    int64_t n, int64_t *idx)
{
    for (int64_t j = 0; j < ind->numel; j++) {
        int64_t v = ind->dtype == OGQ_DTYPE_INT64 ? ((const int64_t *)ind->data)[j]
                                                  : ((const int32_t *)ind->data)[j];
        if (v < -n || v >= n)
            return OGQ_KFAIL(ctx, "index %lld is out of range for a dim of %lld", (long long)v,
                             (long long)n);
        idx[j] = v < 0 ? v + n : v;
    }
    return OGQ_OK;
}

static enum ogq_status gather_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0], *ind = ctx->inputs[1];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int axis;
    OGQ_TRY(ogq_normalize_axis(ctx, ogq_node_attr_int(ctx->node, "axis", 0), x->rank, &axis));
    int64_t n = x->dims[axis], m = ind->numel;
    int64_t *idx = ctx->scratch;
    OGQ_TRY(load_indices(ctx, ind, n, idx));
    if (y->numel == 0)
        return OGQ_OK;
    size_t es = ogq_rt_elem_size(x->dtype);
    int64_t pre = prod(x->dims, 0, axis), post = prod(x->dims, axis + 1, x->rank);
    if (post == 1) {
#define GATHER1_T(T)                                                                               \
    do {                                                                                           \
        for (int64_t p = 0; p < pre; p++) {                                                        \
            const T *s_ = (const T *)x->data + p * n;                                              \
            T *d_ = (T *)y->data + p * m;                                                          \
            for (int64_t j = 0; j < m; j++)                                                        \
                d_[j] = s_[idx[j]];                                                                \
        }                                                                                          \
    } while (0)
        BY_ES(es, GATHER1_T);
#undef GATHER1_T
        return OGQ_OK;
    }
    size_t blk = (size_t)post * es;
    if (post <= 8) { /* small slices: a loop beats a memcpy call each */
#define GATHERK_T(T)                                                                               \
    do {                                                                                           \
        T *d_ = y->data;                                                                           \
        for (int64_t p = 0; p < pre; p++) {                                                        \
            const T *s_ = (const T *)x->data + p * n * post;                                       \
            for (int64_t j = 0; j < m; j++, d_ += post)                                            \
                for (int64_t q = 0; q < post; q++)                                                 \
                    d_[q] = s_[idx[j] * post + q];                                                 \
        }                                                                                          \
    } while (0)
        BY_ES(es, GATHERK_T);
#undef GATHERK_T
        return OGQ_OK;
    }
    char *o = y->data;
    for (int64_t p = 0; p < pre; p++) {
        const char *s = (const char *)x->data + (size_t)(p * n) * blk;
        for (int64_t j = 0; j < m; j++, o += blk)
            memcpy(o, s + (size_t)idx[j] * blk, blk);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- GatherElements */

static enum ogq_status gather_elements_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    OGQ_TRY(need_input(ctx, 1));
    const struct ogq_rt_tensor *x = ctx->inputs[0], *ind = ctx->inputs[1];
    if (ind->dtype != OGQ_DTYPE_INT64 && ind->dtype != OGQ_DTYPE_INT32)
        return OGQ_KFAIL(ctx, "indices must be int32 or int64");
    if (ind->rank != x->rank || x->rank == 0)
        return OGQ_KFAIL(ctx, "indices rank %d differs from data rank %d", ind->rank, x->rank);
    int axis;
    OGQ_TRY(ogq_normalize_axis(ctx, ogq_node_attr_int(ctx->node, "axis", 0), x->rank, &axis));
    for (int d = 0; d < x->rank; d++)
        if (d != axis && ind->dims[d] > x->dims[d])
            return OGQ_KFAIL(ctx, "indices dim %d (%lld) exceeds the data's (%lld)", d,
                             (long long)ind->dims[d], (long long)x->dims[d]);
    return set_out(ctx, 0, x->dtype, ind->rank, ind->dims);
}

static enum ogq_status gather_elements_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0], *ind = ctx->inputs[1];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int axis, r = x->rank;
    OGQ_TRY(ogq_normalize_axis(ctx, ogq_node_attr_int(ctx->node, "axis", 0), r, &axis));
    if (y->numel == 0)
        return OGQ_OK;
    size_t es = ogq_rt_elem_size(x->dtype);
    int64_t xst[MAXR];
    dense_strides(r, x->dims, xst);
    int64_t n = x->dims[axis], sa = xst[axis], len = ind->dims[r - 1];
    int64_t sl = axis == r - 1 ? 0 : 1; /* step of the last axis in the data, unless gathered */
    int64_t rows = ind->numel / len, idx[MAXR] = {0}, base = 0;
    bool i64 = ind->dtype == OGQ_DTYPE_INT64;
    for (int64_t row = 0; row < rows; row++) {
        int64_t o = row * len;
#define GE_T(T)                                                                                    \
    do {                                                                                           \
        const T *xs_ = (const T *)x->data + base;                                                  \
        T *ys_ = (T *)y->data + o;                                                                 \
        for (int64_t k = 0; k < len; k++) {                                                       \
            int64_t v = i64 ? ((const int64_t *)ind->data)[o + k]                                  \
                            : ((const int32_t *)ind->data)[o + k];                                 \
            if (v < -n || v >= n)                                                                  \
                return OGQ_KFAIL(ctx, "index %lld is out of range for a dim of %lld",              \
                                 (long long)v, (long long)n);                                      \
            v += v < 0 ? n : 0;                                                                    \
            ys_[k] = xs_[k * sl + v * sa];                                                         \
        }                                                                                          \
    } while (0)
        BY_ES(es, GE_T);
#undef GE_T
        for (int a = r - 2; a >= 0; a--) {
            int64_t s = a == axis ? 0 : xst[a];
            if (++idx[a] < ind->dims[a]) {
                base += s;
                break;
            }
            base -= s * (ind->dims[a] - 1);
            idx[a] = 0;
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- GatherND */

static enum ogq_status gathernd_check(struct ogq_kernel_ctx *ctx, int *b, int64_t *k)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0], *ind = ctx->inputs[1];
    int64_t bd = ctx->opset >= 12 ? ogq_node_attr_int(ctx->node, "batch_dims", 0) : 0;
    if (ind->dtype != OGQ_DTYPE_INT64 && ind->dtype != OGQ_DTYPE_INT32)
        return OGQ_KFAIL(ctx, "indices must be int64");
    if (ind->rank < 1 || x->rank < 1 || bd < 0 || bd >= ind->rank || bd >= x->rank)
        return OGQ_KFAIL(ctx, "invalid ranks or batch_dims");
    *b = (int)bd;
    *k = ind->dims[ind->rank - 1];
    if (*k < 1 || *b + *k > x->rank)
        return OGQ_KFAIL(ctx, "indices' last dim %lld does not fit data rank %d", (long long)*k,
                         x->rank);
    for (int d = 0; d < *b; d++)
        if (ind->dims[d] != x->dims[d])
            return OGQ_KFAIL(ctx, "batch dim %d differs between data and indices", d);
    return OGQ_OK;
}

static enum ogq_status gathernd_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    OGQ_TRY(need_input(ctx, 1));
    const struct ogq_rt_tensor *x = ctx->inputs[0], *ind = ctx->inputs[1];
    int b;
    int64_t k;
    OGQ_TRY(gathernd_check(ctx, &b, &k));
    int r = ind->rank - 1 + x->rank - b - (int)k;
    if (r > MAXR)
        return KUNSUP(ctx, "output rank %d is above the runtime's limit", r);
    int64_t dims[MAXR];
    int n = 0;
    for (int d = 0; d < ind->rank - 1; d++)
        dims[n++] = ind->dims[d];
    for (int d = b + (int)k; d < x->rank; d++)
        dims[n++] = x->dims[d];
    return set_out(ctx, 0, x->dtype, r, dims);
}

static enum ogq_status gathernd_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0], *ind = ctx->inputs[1];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int b;
    int64_t k;
    OGQ_TRY(gathernd_check(ctx, &b, &k));
    size_t es = ogq_rt_elem_size(x->dtype);
    int64_t xst[MAXR];
    dense_strides(x->rank, x->dims, xst);
    int64_t batches = prod(x->dims, 0, b);
    int64_t per_batch = prod(ind->dims, b, ind->rank - 1);
    int64_t slice = prod(x->dims, b + (int)k, x->rank);
    int64_t xbatch = b > 0 ? xst[b - 1] : 0;
    size_t blk = (size_t)slice * es;
    char *o = y->data;
    for (int64_t bi = 0; bi < batches; bi++) {
        for (int64_t t = 0; t < per_batch; t++, o += blk) {
            int64_t pos = (bi * per_batch + t) * k, off = bi * xbatch;
            for (int64_t q = 0; q < k; q++) {
                int64_t dim = x->dims[b + q];
                int64_t v = ind->dtype == OGQ_DTYPE_INT64 ? ((const int64_t *)ind->data)[pos + q]
                                                          : ((const int32_t *)ind->data)[pos + q];
                if (v < -dim || v >= dim)
                    return OGQ_KFAIL(ctx, "index %lld is out of range for a dim of %lld",
                                     (long long)v, (long long)dim);
                off += (v < 0 ? v + dim : v) * xst[b + q];
            }
            if (blk)
                memcpy(o, (const char *)x->data + (size_t)off * es, blk);
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Shape, Size */

static void shape_range(const struct ogq_kernel_ctx *ctx, int rank, int64_t *s, int64_t *e)
{
    *s = 0;
    *e = rank;
    if (ctx->opset >= 15) {
        *s = ogq_node_attr_int(ctx->node, "start", 0);
        *e = ogq_node_attr_int(ctx->node, "end", rank);
    }
    if (*s < 0)
        *s += rank;
    if (*e < 0)
        *e += rank;
    *s = *s < 0 ? 0 : *s > rank ? rank : *s;
    *e = *e < 0 ? 0 : *e > rank ? rank : *e;
    if (*e < *s)
        *e = *s;
}

static enum ogq_status shape_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_input(ctx, 0));
    int64_t s, e;
    shape_range(ctx, ctx->inputs[0]->rank, &s, &e);
    int64_t n = e - s;
    return set_out(ctx, 0, OGQ_DTYPE_INT64, 1, &n);
}

static enum ogq_status shape_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t s, e;
    shape_range(ctx, x->rank, &s, &e);
    int64_t *y = ctx->outputs[0]->data;
    for (int64_t i = s; i < e; i++)
        y[i - s] = x->dims[i];
    return OGQ_OK;
}

static enum ogq_status size_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(need_input(ctx, 0));
    return set_out(ctx, 0, OGQ_DTYPE_INT64, 0, NULL);
}

static enum ogq_status size_run(struct ogq_kernel_ctx *ctx)
{
    *(int64_t *)ctx->outputs[0]->data = ctx->inputs[0]->numel;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Expand */

static enum ogq_status expand_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t shape[MAXR], dims[MAXR];
    size_t n;
    OGQ_TRY(ogq_read_ints(ctx, in_at(ctx, 1), "shape", shape, MAXR, &n));
    int r = x->rank > (int)n ? x->rank : (int)n;
    for (int d = 0; d < r; d++) {
        int xd = d - (r - x->rank), sd = d - (r - (int)n);
        int64_t a = xd >= 0 ? x->dims[xd] : 1, b = sd >= 0 ? shape[sd] : 1;
        if (b < 0)
            return OGQ_KFAIL(ctx, "shape has negative dim %lld", (long long)b);
        if (a == b || b == 1)
            dims[d] = a;
        else if (a == 1)
            dims[d] = b;
        else
            return OGQ_KFAIL(ctx, "cannot expand dim %lld to %lld", (long long)a, (long long)b);
    }
    return set_out(ctx, 0, x->dtype, r, dims);
}

static enum ogq_status expand_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int64_t st[MAXR];
    ogq_broadcast_strides(x, y->rank, y->dims, st);
    strided_copy(y->data, x->data, ogq_rt_elem_size(x->dtype), y->rank, y->dims, st);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- ConstantOfShape */

struct cos_params {
    enum ogq_dtype dtype;
    uint64_t value; /* the element's bytes */
};

static enum ogq_status cos_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                   struct ogq_error *err)
{
    (void)opset;
    struct cos_params *p = calloc(1, sizeof *p);
    if (!p)
        return OGQ_NOMEM(err);
    p->dtype = OGQ_DTYPE_FLOAT;
    const struct ogq_attr *a = ogq_node_attr(node, "value");
    if (a) {
        enum ogq_status st = OGQ_OK;
        if (a->type != OGQ_ATTR_TENSOR || !a->t || a->t->numel != 1) {
            st = ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                                 "attribute 'value' must be a one-element tensor");
        } else {
            struct ogq_rt_tensor t;
            void *owned = NULL;
            struct ogq_error e2;
            ogq_error_clear(&e2);
            st = ogq_rt_tensor_from_ir(a->t, true, &t, &owned, &e2);
            if (st != OGQ_OK) {
                st = ogq_kernel_fail(node, st, err, "%s", e2.msg);
            } else if (ogq_rt_elem_size(t.dtype) == 0) {
                st = ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "dtype %s is not supported",
                                     ogq_dtype_name(t.dtype));
            } else {
                p->dtype = t.dtype;
                memcpy(&p->value, t.data, ogq_rt_elem_size(t.dtype));
            }
            free(owned);
        }
        if (st != OGQ_OK) {
            free(p);
            return st;
        }
    }
    *params = p;
    return OGQ_OK;
}

static enum ogq_status cos_infer(struct ogq_kernel_ctx *ctx)
{
    const struct cos_params *p = ctx->params;
    int64_t dims[MAXR];
    size_t n;
    OGQ_TRY(ogq_read_ints(ctx, in_at(ctx, 0), "shape", dims, MAXR, &n));
    return set_out(ctx, 0, p->dtype, (int)n, dims);
}

static enum ogq_status cos_run(struct ogq_kernel_ctx *ctx)
{
    const struct cos_params *p = ctx->params;
    struct ogq_rt_tensor *y = ctx->outputs[0];
    fill_elems(y->data, &p->value, y->numel, ogq_rt_elem_size(p->dtype));
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Range */

static enum ogq_status range_count(struct ogq_kernel_ctx *ctx, int64_t *n)
{
    for (size_t i = 0; i < 3; i++) {
        OGQ_TRY(need_input(ctx, i));
        if (ctx->inputs[i]->numel != 1)
            return OGQ_KFAIL(ctx, "input %zu must be a scalar", i);
        if (ctx->inputs[i]->dtype != ctx->inputs[0]->dtype)
            return OGQ_KFAIL(ctx, "inputs differ in dtype");
    }
    enum ogq_dtype dt = ctx->inputs[0]->dtype;
    if (dt == OGQ_DTYPE_FLOAT) {
        float s = *(const float *)ctx->inputs[0]->data, l = *(const float *)ctx->inputs[1]->data;
        float d = *(const float *)ctx->inputs[2]->data;
        if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
            return OGQ_KFAIL(ctx, "invalid range %g..%g step %g", s, l, d);
        /* As ONNX Runtime: the difference in float, the division in double. */
        double c = ceil((double)(l - s) / (double)d);
        if (c > (double)INT32_MAX)
            return OGQ_KFAIL(ctx, "range of %g elements is too large", c);
        *n = c > 0 ? (int64_t)c : 0;
        return OGQ_OK;
    }
    if (dt != OGQ_DTYPE_INT64 && dt != OGQ_DTYPE_INT32)
        return KUNSUP(ctx, "dtype %s is not supported", ogq_dtype_name(dt));
    int64_t s = ogq_rt_get_int(ctx->inputs[0], 0), l = ogq_rt_get_int(ctx->inputs[1], 0);
    int64_t d = ogq_rt_get_int(ctx->inputs[2], 0);
    if (d == 0)
        return OGQ_KFAIL(ctx, "delta is 0");
    /* Ceil division in unsigned arithmetic: |limit - start| may not fit int64. */
    uint64_t span = d > 0 ? (l > s ? (uint64_t)l - (uint64_t)s : 0)
                          : (s > l ? (uint64_t)s - (uint64_t)l : 0);
    uint64_t ad = d > 0 ? (uint64_t)d : 0 - (uint64_t)d;
    uint64_t c = span ? (span - 1) / ad + 1 : 0;
    if (c > (uint64_t)INT64_MAX / 8)
        return OGQ_KFAIL(ctx, "range of %llu elements is too large", (unsigned long long)c);
    *n = (int64_t)c;
    return OGQ_OK;
}

static enum ogq_status range_infer(struct ogq_kernel_ctx *ctx)
{
    int64_t n;
    OGQ_TRY(range_count(ctx, &n));
    return set_out(ctx, 0, ctx->inputs[0]->dtype, 1, &n);
}

static enum ogq_status range_run(struct ogq_kernel_ctx *ctx)
{
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int64_t n = y->numel;
    switch (y->dtype) {
    case OGQ_DTYPE_FLOAT: {
        float s = *(const float *)ctx->inputs[0]->data, d = *(const float *)ctx->inputs[2]->data;
        float *o = y->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = s + (float)i * d;
        break;
    }
    case OGQ_DTYPE_INT64: {
        uint64_t s = (uint64_t)ogq_rt_get_int(ctx->inputs[0], 0);
        uint64_t d = (uint64_t)ogq_rt_get_int(ctx->inputs[2], 0);
        int64_t *o = y->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = (int64_t)(s + (uint64_t)i * d);
        break;
    }
    default: {
        uint32_t s = (uint32_t)ogq_rt_get_int(ctx->inputs[0], 0);
        uint32_t d = (uint32_t)ogq_rt_get_int(ctx->inputs[2], 0);
        int32_t *o = y->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = (int32_t)(s + (uint32_t)i * d);
        break;
    }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Tile */

static enum ogq_status tile_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t reps[MAXR], dims[MAXR];
    size_t n;
    OGQ_TRY(ogq_read_ints(ctx, in_at(ctx, 1), "repeats", reps, MAXR, &n));
    if ((int)n != x->rank)
        return OGQ_KFAIL(ctx, "repeats has %zu entries for rank %d", n, x->rank);
    for (int d = 0; d < x->rank; d++) {
        if (reps[d] < 0 || (reps[d] > 0 && x->dims[d] > INT64_MAX / reps[d]))
            return OGQ_KFAIL(ctx, "repeats[%d] = %lld is invalid", d, (long long)reps[d]);
        dims[d] = x->dims[d] * reps[d];
    }
    return set_out(ctx, 0, x->dtype, x->rank, dims);
}

static enum ogq_status tile_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    size_t es = ogq_rt_elem_size(x->dtype);
    int r = x->rank;
    if (y->numel == 0)
        return OGQ_OK;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return OGQ_OK;
    }
    const int64_t *d = x->dims, *D = y->dims;
    int64_t ys[MAXR];
    dense_strides(r, D, ys);
    char *o = y->data;
    /* 1. Each input row goes to its place in the output, then repeats along the last axis. */
    size_t row = (size_t)d[r - 1] * es;
    int64_t rows = prod(d, 0, r - 1), idx[MAXR] = {0}, off = 0;
    for (int64_t i = 0; i < rows; i++) {
        char *dst = o + (size_t)off * es;
        memcpy(dst, (const char *)x->data + (size_t)i * row, row);
        for (int64_t k = 1; k < D[r - 1] / d[r - 1]; k++)
            memcpy(dst + (size_t)k * row, dst, row);
        for (int a = r - 2; a >= 0; a--) {
            if (++idx[a] < d[a]) {
                off += ys[a];
                break;
            }
            off -= ys[a] * (d[a] - 1);
            idx[a] = 0;
        }
    }
    /* 2. Outward, axis by axis: the filled block along axis a is repeated. */
    for (int a = r - 2; a >= 0; a--) {
        size_t blk = (size_t)(d[a] * ys[a]) * es;
        int64_t reps = D[a] / d[a], n = prod(d, 0, a);
        memset(idx, 0, sizeof idx);
        off = 0;
        for (int64_t i = 0; i < n; i++) {
            char *dst = o + (size_t)off * es;
            for (int64_t k = 1; k < reps; k++)
                memcpy(dst + (size_t)k * blk, dst, blk);
            for (int b = a - 1; b >= 0; b--) {
                if (++idx[b] < d[b]) {
                    off += ys[b];
                    break;
                }
                off -= ys[b] * (d[b] - 1);
                idx[b] = 0;
            }
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Pad */

enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

static enum ogq_status pad_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                   struct ogq_error *err)
{
    (void)params;
    const char *m = ogq_node_attr_string(node, "mode", "constant");
    if (strcmp(m, "constant") != 0 && strcmp(m, "reflect") != 0 && strcmp(m, "edge") != 0 &&
        !(opset >= 19 && strcmp(m, "wrap") == 0))
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "mode '%s' is not supported", m);
    return OGQ_OK;
}

static enum pad_mode pad_mode(const struct ogq_kernel_ctx *ctx)
{
    const char *m = ogq_node_attr_string(ctx->node, "mode", "constant");
    return strcmp(m, "reflect") == 0 ? PAD_REFLECT
           : strcmp(m, "edge") == 0  ? PAD_EDGE
           : strcmp(m, "wrap") == 0  ? PAD_WRAP
                                     : PAD_CONSTANT;
}

/* Begin/end pads per axis of input 0. */
static enum ogq_status pad_amounts(struct ogq_kernel_ctx *ctx, int64_t *pb, int64_t *pe)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int r = x->rank;
    int64_t pads[2 * MAXR], axes[MAXR];
    size_t n, na = 0;
    bool has_axes = false;
    if (ctx->opset < 11) {
        const int64_t *v;
        if (!ogq_attr_ints(ctx->node, ctx->opset < 2 ? "paddings" : "pads", &v, &n))
            return OGQ_KFAIL(ctx, "attribute 'pads' is missing");
        if (n > 2 * MAXR)
            return OGQ_KFAIL(ctx, "too many pads");
        memcpy(pads, v, n * sizeof *v);
    } else {
        OGQ_TRY(ogq_read_ints(ctx, in_at(ctx, 1), "pads", pads, 2 * MAXR, &n));
        if (ctx->opset >= 18)
            OGQ_TRY(read_opt_ints(ctx, 3, "axes", axes, MAXR, &na, &has_axes));
    }
    int ax[MAXR];
    if (has_axes) {
        OGQ_TRY(normalize_axes(ctx, axes, na, r, ax));
    } else {
        na = (size_t)r;
        for (int d = 0; d < r; d++)
            ax[d] = d;
    }
    if (n != 2 * na)
        return OGQ_KFAIL(ctx, "%zu pads for %zu axes", n, na);
    for (int d = 0; d < r; d++)
        pb[d] = pe[d] = 0;
    for (size_t i = 0; i < na; i++) {
        pb[ax[i]] = pads[i];
        pe[ax[i]] = pads[na + i];
        const int64_t lim = (int64_t)1 << 48; /* keeps dim + pads from overflowing */
        if (pads[i] > lim || pads[i] < -lim || pads[na + i] > lim || pads[na + i] < -lim)
            return OGQ_KFAIL(ctx, "pads are too large");
    }
    return OGQ_OK;
}

static enum ogq_status pad_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t pb[MAXR], pe[MAXR], dims[MAXR];
    OGQ_TRY(pad_amounts(ctx, pb, pe));
    enum pad_mode mode = pad_mode(ctx);
    for (int d = 0; d < x->rank; d++) {
        dims[d] = x->dims[d] + pb[d] + pe[d];
        if (dims[d] < 0)
            return OGQ_KFAIL(ctx, "pads make dim %d negative", d);
        int64_t kept = x->dims[d] - (pb[d] < 0 ? -pb[d] : 0) - (pe[d] < 0 ? -pe[d] : 0);
        if (mode != PAD_CONSTANT && dims[d] > 0 && kept <= 0)
            return OGQ_KFAIL(ctx, "cannot pad an empty axis %d in this mode", d);
    }
    if (ctx->opset >= 11 && in_at(ctx, 2) && ctx->inputs[2]->dtype != x->dtype)
        return OGQ_KFAIL(ctx, "constant_value dtype differs from the data");
    return set_out(ctx, 0, x->dtype, x->rank, dims);
}

static size_t pad_workspace(const struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *y = ctx->outputs[0];
    int64_t s = 0;
    for (int d = 0; d < y->rank; d++)
        s += y->dims[d];
    return (size_t)s * sizeof(int64_t);
}

static enum ogq_status pad_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int r = x->rank;
    size_t es = ogq_rt_elem_size(x->dtype);
    if (y->numel == 0)
        return OGQ_OK;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return OGQ_OK;
    }
    int64_t pb[MAXR], pe[MAXR];
    OGQ_TRY(pad_amounts(ctx, pb, pe));
    enum pad_mode mode = pad_mode(ctx);
    /* The constant as the data's element. */
    uint64_t value = 0;
    if (ctx->opset >= 11 && in_at(ctx, 2)) {
        if (ctx->inputs[2]->numel != 1)
            return OGQ_KFAIL(ctx, "constant_value must be a scalar");
        memcpy(&value, ctx->inputs[2]->data, es);
    } else if (ctx->opset < 11) {
        float f = ogq_node_attr_float(ctx->node, "value", 0.0f);
        switch (x->dtype) {
        case OGQ_DTYPE_FLOAT: memcpy(&value, &f, 4); break;
        case OGQ_DTYPE_INT64: {
            int64_t v = (int64_t)f;
            memcpy(&value, &v, 8);
            break;
        }
        case OGQ_DTYPE_INT32: {
            int32_t v = (int32_t)f;
            memcpy(&value, &v, 4);
            break;
        }
        case OGQ_DTYPE_INT8: {
            int8_t v = (int8_t)f;
            memcpy(&value, &v, 1);
            break;
        }
        default: {
            uint8_t v = x->dtype == OGQ_DTYPE_BOOL ? f != 0 : (uint8_t)f;
            memcpy(&value, &v, 1);
            break;
        }
        }
    }
    /* Per axis: the input index each output index reads, -1 for the constant. Non-constant
     * modes pad the part that negative pads leave. */
    int64_t *map[MAXR];
    int64_t *p = ctx->scratch;
    for (int d = 0; d < r; d++) {
        map[d] = p;
        int64_t n = x->dims[d], lo = pb[d] < 0 ? -pb[d] : 0, hi = n - (pe[d] < 0 ? -pe[d] : 0);
        int64_t m = hi - lo;
        for (int64_t o = 0; o < y->dims[d]; o++) {
            int64_t v = o - pb[d];
            if (v >= lo && v < hi) {
                map[d][o] = v;
                continue;
            }
            int64_t u = v - lo;
            switch (mode) {
            case PAD_CONSTANT: u = -1 - lo; break;
            case PAD_EDGE: u = u < 0 ? 0 : m - 1; break;
            case PAD_WRAP: u = ((u % m) + m) % m; break;
            case PAD_REFLECT:
                if (m == 1) {
                    u = 0;
                } else {
                    int64_t period = 2 * (m - 1);
                    u = ((u % period) + period) % period;
                    if (u >= m)
                        u = period - u;
                }
                break;
            }
            map[d][o] = u + lo;
        }
        p += y->dims[d];
    }
    int64_t xs[MAXR];
    dense_strides(r, x->dims, xs);
    int64_t n = y->dims[r - 1];
    const int64_t *ml = map[r - 1];
    /* Output columns [c0, c1) read the input row contiguously. */
    int64_t c0 = pb[r - 1] > 0 ? pb[r - 1] : 0;
    int64_t c1 = c0 + (x->dims[r - 1] - (pb[r - 1] < 0 ? -pb[r - 1] : 0) -
                       (pe[r - 1] < 0 ? -pe[r - 1] : 0));
    if (c1 > n)
        c1 = n;
    int64_t rows = y->numel / n, idx[MAXR] = {0};
    char *o = y->data;
    for (int64_t row = 0; row < rows; row++, o += (size_t)n * es) {
        int64_t off = 0;
        bool pad_row = false;
        for (int a = 0; a < r - 1; a++) {
            int64_t v = map[a][idx[a]];
            if (v < 0)
                pad_row = true;
            off += v * xs[a];
        }
        if (pad_row) {
            fill_elems(o, &value, n, es);
        } else {
            const char *src = (const char *)x->data + (size_t)off * es;
#define PADROW_T(T)                                                                                \
    do {                                                                                           \
        T *d_ = (T *)o;                                                                            \
        const T *s_ = (const T *)src;                                                              \
        T v_;                                                                                      \
        memcpy(&v_, &value, sizeof v_);                                                            \
        for (int64_t k = 0; k < c0; k++)                                                           \
            d_[k] = ml[k] < 0 ? v_ : s_[ml[k]];                                                    \
        for (int64_t k = c1; k < n; k++)                                                           \
            d_[k] = ml[k] < 0 ? v_ : s_[ml[k]];                                                    \
    } while (0)
            BY_ES(es, PADROW_T);
#undef PADROW_T
            if (c1 > c0)
                memcpy(o + (size_t)c0 * es, src + (size_t)ml[c0] * es, (size_t)(c1 - c0) * es);
        }
        for (int a = r - 2; a >= 0; a--) {
            if (++idx[a] < y->dims[a])
                break;
            idx[a] = 0;
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Resize, Upsample */

enum rz_mode { RZ_NEAREST, RZ_LINEAR, RZ_CUBIC };
enum rz_coord {
    CT_HALF_PIXEL,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_CROP_AND_RESIZE,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
};
enum rz_nearest { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };
enum rz_keep { KA_STRETCH, KA_NOT_LARGER, KA_NOT_SMALLER };

struct resize_params {
    bool legacy;          /* Upsample or Resize-10: inputs (X, scales) */
    bool scales_attr;     /* Upsample-7: scales is an attribute */
    enum rz_mode mode;
    enum rz_coord coord;
    enum rz_nearest nearest;
    double cubic_a;
    bool exclude_outside;
    bool antialias;
    float extrapolation;
    enum rz_keep keep;
    size_t n_axes; /* 0: all axes */
    int64_t axes[MAXR];
    size_t n_scales;
    float scales[MAXR];
};

static int str_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static enum ogq_status resize_prepare_common(const struct ogq_node *node, int64_t opset,
                                             bool upsample, void **params, struct ogq_error *err)
{
    struct resize_params p = {0};
    p.legacy = upsample || opset < 11;
    p.cubic_a = -0.75;
    const char *mode = ogq_node_attr_string(node, "mode", "nearest");
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    int m = str_index(mode, modes, p.legacy ? 2 : 3);
    if (m < 0)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "mode '%s' is not supported", mode);
    p.mode = (enum rz_mode)m;
    if (p.legacy) {
        /* ONNX Runtime's conventions for these versions. */
        p.coord = CT_ASYMMETRIC;
        p.nearest = NM_SIMPLE;
        if (upsample && opset < 9) {
            p.scales_attr = true;
            const struct ogq_attr *a = ogq_node_attr(node, "scales");
            if (!a || a->type != OGQ_ATTR_FLOATS || a->n > MAXR)
                return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                                       "attribute 'scales' is missing or too long");
            p.n_scales = a->n;
            memcpy(p.scales, a->floats, a->n * sizeof(float));
        }
    } else {
        static const char *const coords[] = {"half_pixel",           "pytorch_half_pixel",
                                             "align_corners",        "asymmetric",
                                             "tf_crop_and_resize",   "half_pixel_symmetric",
                                             "tf_half_pixel_for_nn"};
        const char *c = ogq_node_attr_string(node, "coordinate_transformation_mode",
                                             "half_pixel");
        int ci = str_index(c, coords, 7);
        if (ci < 0 || (ci == CT_HALF_PIXEL_SYMMETRIC && opset < 19) ||
            (ci == CT_TF_HALF_PIXEL_FOR_NN && opset >= 13))
            return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                                   "coordinate_transformation_mode '%s' is not supported", c);
        p.coord = (enum rz_coord)ci;
        static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil"};
        const char *nm = ogq_node_attr_string(node, "nearest_mode", "round_prefer_floor");
        int ni = str_index(nm, nms, 4);
        if (ni < 0)
            return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                                   "nearest_mode '%s' is not supported", nm);
        p.nearest = (enum rz_nearest)ni;
        p.cubic_a = ogq_node_attr_float(node, "cubic_coeff_a", -0.75f);
        p.exclude_outside = ogq_node_attr_int(node, "exclude_outside", 0) != 0;
        p.extrapolation = ogq_node_attr_float(node, "extrapolation_value", 0.0f);
        if (opset >= 18) {
            p.antialias = ogq_node_attr_int(node, "antialias", 0) != 0;
            if (p.antialias && p.mode == RZ_NEAREST)
                return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                                       "antialias is not supported with mode 'nearest'");
            static const char *const keeps[] = {"stretch", "not_larger", "not_smaller"};
            const char *k = ogq_node_attr_string(node, "keep_aspect_ratio_policy", "stretch");
            int ki = str_index(k, keeps, 3);
            if (ki < 0)
                return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                                       "keep_aspect_ratio_policy '%s' is not supported", k);
            p.keep = (enum rz_keep)ki;
            const int64_t *v;
            size_t n;
            if (ogq_attr_ints(node, "axes", &v, &n)) {
                if (n == 0 || n > MAXR)
                    return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "invalid axes");
                p.n_axes = n;
                memcpy(p.axes, v, n * sizeof *v);
            }
        }
    }
    struct resize_params *out = malloc(sizeof *out);
    if (!out)
        return OGQ_NOMEM(err);
    *out = p;
    *params = out;
    return OGQ_OK;
}

static enum ogq_status resize_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                      struct ogq_error *err)
{
    return resize_prepare_common(node, opset, false, params, err);
}

static enum ogq_status upsample_prepare(const struct ogq_node *node, int64_t opset,
                                        void **params, struct ogq_error *err)
{
    return resize_prepare_common(node, opset, true, params, err);
}

/* Per axis of the input: output size, scale, roi and the taps of the interpolation. */
struct resize_plan {
    int rank;
    int64_t out[MAXR];
    double scale[MAXR];
    float roi_lo[MAXR], roi_hi[MAXR];
    bool active[MAXR]; /* false: the axis is copied unchanged */
    int taps[MAXR];
    int order[MAXR];   /* active axes, most shrinking first */
    int n_active;
};

static bool close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

#define RZ_MAX_TAPS 1024

/* Interpolation taps of an axis: 2 (nearest, linear), 4 (cubic), wider with antialias. */
static int resize_taps(const struct resize_params *p, double scale)
{
    if (p->mode == RZ_NEAREST)
        return 2;
    if (!p->antialias)
        return p->mode == RZ_LINEAR ? 2 : 4;
    double s = scale < 1.0 ? scale : 1.0;
    double start = floor((p->mode == RZ_LINEAR ? -1.0 : -2.0) / s) + 1;
    if (start < -RZ_MAX_TAPS)
        return RZ_MAX_TAPS + 1; /* refused by the caller */
    return (int)(2 - 2 * start);
}

static enum ogq_status resize_plan(struct ogq_kernel_ctx *ctx, struct resize_plan *pl)
{
    const struct resize_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int r = x->rank;
    pl->rank = r;
    const struct ogq_rt_tensor *roi = NULL, *scales = NULL, *sizes = NULL;
    if (p->legacy) {
        scales = p->scales_attr ? NULL : in_at(ctx, 1);
        if (!p->scales_attr && !scales)
            return OGQ_KFAIL(ctx, "scales are missing");
    } else {
        roi = in_at(ctx, 1);
        scales = in_at(ctx, 2);
        sizes = in_at(ctx, 3);
        if (scales && scales->numel == 0)
            scales = NULL;
        if (sizes && sizes->numel == 0)
            sizes = NULL;
        if (!scales == !sizes)
            return OGQ_KFAIL(ctx, "exactly one of scales and sizes must be given");
    }
    int ax[MAXR];
    size_t na = p->n_axes ? p->n_axes : (size_t)r;
    if (p->n_axes)
        OGQ_TRY(normalize_axes(ctx, p->axes, p->n_axes, r, ax));
    else
        for (int d = 0; d < r; d++)
            ax[d] = d;
    for (int d = 0; d < r; d++) {
        pl->out[d] = x->dims[d];
        pl->scale[d] = 1.0;
        pl->roi_lo[d] = 0.0f;
        pl->roi_hi[d] = 1.0f;
    }
    if (p->coord == CT_TF_CROP_AND_RESIZE) {
        if (!roi || roi->dtype != OGQ_DTYPE_FLOAT || roi->numel != (int64_t)(2 * na))
            return OGQ_KFAIL(ctx, "roi must hold %zu floats", 2 * na);
        const float *rv = roi->data;
        for (size_t i = 0; i < na; i++) {
            pl->roi_lo[ax[i]] = rv[i];
            pl->roi_hi[ax[i]] = rv[na + i];
        }
    }
    if (scales || p->scales_attr) {
        const float *sv = p->scales;
        size_t n = p->n_scales;
        if (scales) {
            if (scales->dtype != OGQ_DTYPE_FLOAT || scales->rank > 1)
                return OGQ_KFAIL(ctx, "scales must be a 1-D float tensor");
            sv = scales->data;
            n = (size_t)scales->numel;
        }
        if (n != na)
            return OGQ_KFAIL(ctx, "%zu scales for %zu axes", n, na);
        for (size_t i = 0; i < na; i++) {
            if (!(sv[i] > 0) || !isfinite(sv[i]))
                return OGQ_KFAIL(ctx, "scale %g is invalid", sv[i]);
            int d = ax[i];
            pl->scale[d] = sv[i];
            double o = floor(pl->scale[d] * (double)x->dims[d]);
            if (o > 4611686018427387904.0) /* 2^62: keeps the conversion defined */
                return OGQ_KFAIL(ctx, "scale %g makes axis %d too large", sv[i], d);
            pl->out[d] = (int64_t)o;
        }
    } else {
        int64_t sz[MAXR];
        size_t n;
        OGQ_TRY(ogq_read_ints(ctx, sizes, "sizes", sz, MAXR, &n));
        if (n != na)
            return OGQ_KFAIL(ctx, "%zu sizes for %zu axes", n, na);
        for (size_t i = 0; i < na; i++) {
            int d = ax[i];
            if (sz[i] < 0)
                return OGQ_KFAIL(ctx, "size %lld is negative", (long long)sz[i]);
            if (x->dims[d] == 0 && sz[i] != 0)
                return OGQ_KFAIL(ctx, "cannot resize an empty axis");
            pl->out[d] = sz[i];
            pl->scale[d] = x->dims[d] ? (double)sz[i] / (double)x->dims[d] : 1.0;
        }
        if (p->keep != KA_STRETCH) {
            double s = pl->scale[ax[0]];
            for (size_t i = 1; i < na; i++)
                s = p->keep == KA_NOT_LARGER ? fmin(s, pl->scale[ax[i]])
                                             : fmax(s, pl->scale[ax[i]]);
            for (size_t i = 0; i < na; i++) {
                int d = ax[i];
                pl->scale[d] = s;
                pl->out[d] = (int64_t)(s * (double)x->dims[d] + 0.5);
            }
        }
    }
    pl->n_active = 0;
    for (int d = 0; d < r; d++) {
        pl->active[d] = !(close_to(pl->scale[d], 1.0) && pl->out[d] == x->dims[d] &&
                          close_to(pl->roi_lo[d], 0.0) && close_to(pl->roi_hi[d], 1.0));
        if (pl->out[d] > 0 && x->dims[d] == 0)
            return OGQ_KFAIL(ctx, "cannot resize an empty axis");
        pl->taps[d] = resize_taps(p, pl->scale[d]);
        if (pl->active[d] && pl->taps[d] > RZ_MAX_TAPS)
            return KUNSUP(ctx, "antialias scale %g needs too many taps", pl->scale[d]);
        if (pl->active[d])
            pl->order[pl->n_active++] = d;
    }
    /* Passes that shrink the data most go first (insertion sort by out/in). On ties the
     * gathering last-axis pass goes where the data is smallest: first when upsampling, last
     * when downsampling. */
    for (int i = 1; i < pl->n_active; i++) {
        int d = pl->order[i], j = i;
        double rd = (double)pl->out[d] / (double)x->dims[d];
        while (j > 0) {
            int e = pl->order[j - 1];
            double re = (double)pl->out[e] / (double)x->dims[e];
            if (re < rd || (re == rd && rd < 1.0))
                break;
            pl->order[j] = e;
            j--;
        }
        pl->order[j] = d;
    }
    return OGQ_OK;
}

static bool resize_gather_path(const struct resize_params *p)
{
    return p->mode == RZ_NEAREST;
}

static enum ogq_status resize_infer(struct ogq_kernel_ctx *ctx)
{
    const struct resize_params *p = ctx->params;
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (!resize_gather_path(p) && x->dtype != OGQ_DTYPE_FLOAT)
        return KUNSUP(ctx, "interpolation of %s data is not supported", ogq_dtype_name(x->dtype));
    struct resize_plan pl;
    OGQ_TRY(resize_plan(ctx, &pl));
    return set_out(ctx, 0, x->dtype, x->rank, pl.out);
}

#define ALIGN64(n) (((n) + 63) & ~(size_t)63)

/* Scratch: per active axis a table of taps (index + weight), then two float buffers for the
 * intermediate results of the separable passes. Nearest gathers need one index map per axis. */
static void resize_layout(const struct ogq_kernel_ctx *ctx, const struct resize_plan *pl,
                          size_t *tables, size_t *buf)
{
    const struct resize_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    *tables = 0;
    *buf = 0;
    if (resize_gather_path(p)) {
        for (int d = 0; d < pl->rank; d++)
            *tables += ALIGN64((size_t)pl->out[d] * sizeof(int64_t));
        return;
    }
    int64_t cur[MAXR];
    memcpy(cur, x->dims, sizeof cur);
    for (int i = 0; i < pl->n_active; i++) {
        int d = pl->order[i];
        size_t n = (size_t)pl->out[d] * (size_t)pl->taps[d];
        *tables += ALIGN64(n * sizeof(int64_t)) + ALIGN64(n * sizeof(float));
        cur[d] = pl->out[d];
        if (i < pl->n_active - 1) {
            size_t numel = (size_t)prod(cur, 0, pl->rank);
            if (numel > *buf)
                *buf = numel;
        }
    }
    *buf = ALIGN64(*buf * sizeof(float));
}

static size_t resize_workspace(const struct ogq_kernel_ctx *ctx)
{
    struct resize_plan pl;
    struct ogq_error e;
    struct ogq_kernel_ctx c = *ctx;
    c.err = &e;
    if (resize_plan(&c, &pl) != OGQ_OK)
        return 0;
    size_t tables, buf;
    resize_layout(ctx, &pl, &tables, &buf);
    return tables + 2 * buf;
}

/* Source coordinate of output index j along an axis (double, as the reference computes it);
 * false when tf_crop_and_resize extrapolates. */
static bool resize_coord(enum rz_coord coord, int64_t j, int64_t in, int64_t out, double scale,
                         float lo, float hi, double *x)
{
    double out_f = scale * (double)in; /* the reference uses the unrounded output length */
    double jd = (double)j;
    switch (coord) {
    case CT_HALF_PIXEL: *x = (jd + 0.5) / scale - 0.5; break;
    case CT_PYTORCH_HALF_PIXEL:
        /* The spec (and ONNX Runtime) map a length-1 output to 0; the reference uses -0.5
         * when the unrounded length is 1, which only differs for cubic. */
        *x = out > 1 ? (jd + 0.5) / scale - 0.5 : 0.0;
        break;
    case CT_ALIGN_CORNERS:
        *x = out_f == 1.0 ? 0.0 : jd * (double)(in - 1) / (out_f - 1.0);
        break;
    case CT_ASYMMETRIC: *x = jd / scale; break;
    case CT_TF_HALF_PIXEL_FOR_NN: *x = (jd + 0.5) / scale; break;
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)out / out_f, center = (double)in / 2.0;
        *x = center * (1.0 - adj) + (jd + 0.5) / scale - 0.5;
        break;
    }
    case CT_TF_CROP_AND_RESIZE: {
        /* roi arithmetic in float32 as the reference does with its float32 roi. */
        double span = (double)(float)(hi - lo);
        if (out_f == 1.0)
            *x = span * (double)(in - 1) / 2.0;
        else
            *x = jd * span * (double)(in - 1) / (out_f - 1.0);
        *x += (double)(float)(lo * (float)(in - 1));
        if (*x < 0 || *x > (double)(in - 1))
            return false;
        break;
    }
    }
    return isfinite(*x); /* a NaN roi extrapolates too */
}

/* Left tap of position x: the reference prefers the left neighbour, so that the fractional
 * ratio is in (0, 1] (an integer x gives base x - 1 and ratio 1). */
static int64_t resize_base(double x, double *ratio)
{
    double fl = floor(x);
    if (x == fl) {
        *ratio = 1.0;
        return (int64_t)fl - 1;
    }
    *ratio = x - fl;
    return (int64_t)fl;
}

/* Weight of tap t (0..n-1, input index base + t + 1 - n/2) for fractional position ratio. */
static double resize_coeff(const struct resize_params *p, double ratio, double scale, int t,
                           int n)
{
    double A = p->cubic_a;
    if (p->mode == RZ_LINEAR && !p->antialias)
        return t == 0 ? 1.0 - ratio : ratio;
    if (p->mode == RZ_CUBIC && !p->antialias) {
        double r1 = ratio + 1, r0 = 1 - ratio, r2 = r0 + 1;
        switch (t) {
        case 0: return ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A;
        case 1: return ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1;
        case 2: return ((A + 2) * r0 - (A + 3)) * r0 * r0 + 1;
        default: return ((A * r2 - 5 * A) * r2 + 8 * A) * r2 - 4 * A;
        }
    }
    double s = scale < 1.0 ? scale : 1.0;
    double arg = s * ((double)(t + 1 - n / 2) - ratio);
    if (p->mode == RZ_LINEAR) {
        double c = 1 - fabs(arg);
        return c < 0 ? 0 : c > 1 ? 1 : c;
    }
    double z = fabs(arg), z2 = z * z, z3 = z * z2;
    if (z <= 1)
        return (A + 2) * z3 - (A + 3) * z2 + 1;
    if (z < 2)
        return A * z3 - 5 * A * z2 + 8 * A * z - 4 * A;
    return 0.0;
}

/* Nearest: which of the two taps (base, base + 1) is chosen. */
static int resize_nearest_tap(const struct resize_params *p, double ratio, double scale)
{
    if (ratio == 1.0)
        return 1;
    switch (p->nearest) {
    case NM_ROUND_PREFER_FLOOR: return ratio > 0.5;
    case NM_ROUND_PREFER_CEIL: return ratio >= 0.5;
    case NM_FLOOR: return 0;
    case NM_CEIL: return 1;
    case NM_SIMPLE: return scale < 1.0; /* ceil when downsampling, else floor */
    }
    return 0;
}

/* Fills the taps of axis d: idx[j*n + t] (clamped input index; idx[j*n] = -1 marks an
 * extrapolated output) and w[j*n + t]. */
static void resize_table(const struct resize_params *p, const struct resize_plan *pl, int d,
                         int64_t in, int64_t *idx, float *w)
{
    int n = pl->taps[d];
    double scale = pl->scale[d];
    for (int64_t j = 0; j < pl->out[d]; j++) {
        int64_t *ij = idx + j * n;
        float *wj = w + j * n;
        double x;
        if (!resize_coord(p->coord, j, in, pl->out[d], scale, pl->roi_lo[d], pl->roi_hi[d], &x)) {
            for (int t = 0; t < n; t++) {
                ij[t] = -1;
                wj[t] = 0;
            }
            continue;
        }
        double ratio;
        int64_t base = resize_base(x, &ratio);
        double sum = 0;
        double c[RZ_MAX_TAPS];
        for (int t = 0; t < n; t++) {
            int64_t src = base + t + 1 - n / 2;
            if (p->mode == RZ_NEAREST)
                c[t] = t == resize_nearest_tap(p, ratio, scale);
            else
                c[t] = resize_coeff(p, ratio, scale, t, n);
            if (p->exclude_outside && (src < 0 || src >= in))
                c[t] = 0;
            sum += c[t];
            ij[t] = src < 0 ? 0 : src >= in ? in - 1 : src;
        }
        /* Antialias weights are normalized; so are exclude_outside ones (an all-zero row
         * divides by 1, as the reference does). */
        double norm = p->antialias || p->exclude_outside ? (sum == 0 ? 1.0 : sum) : 1.0;
        for (int t = 0; t < n; t++)
            wj[t] = (float)(c[t] / norm);
    }
}

/* One separable pass: src [outer, in, inner] -> dst [outer, out, inner] along an axis. Rows
 * (inner > 1) are weighted sums of whole input rows; the last axis (inner == 1) gathers. */
static void resize_pass(const float *src, float *dst, int64_t outer, int64_t in, int64_t out,
                        int64_t inner, int n, const int64_t *idx, const float *w, float extrap)
{
    for (int64_t o = 0; o < outer; o++) {
        const float *s = src + o * in * inner;
        float *dd = dst + o * out * inner;
        if (inner == 1) {
            for (int64_t j = 0; j < out; j++) {
                const int64_t *ij = idx + j * n;
                const float *wj = w + j * n;
                if (ij[0] < 0) {
                    dd[j] = extrap;
                } else if (n == 2) {
                    dd[j] = wj[0] * s[ij[0]] + wj[1] * s[ij[1]];
                } else {
                    float acc = 0;
                    for (int t = 0; t < n; t++)
                        acc += wj[t] * s[ij[t]];
                    dd[j] = acc;
                }
            }
            continue;
        }
        for (int64_t j = 0; j < out; j++) {
            const int64_t *ij = idx + j * n;
            const float *wj = w + j * n;
            float *restrict row = dd + j * inner;
            if (ij[0] < 0) {
                for (int64_t i = 0; i < inner; i++)
                    row[i] = extrap;
                continue;
            }
            const float *restrict r0 = s + ij[0] * inner;
            const float *restrict r1 = s + ij[1] * inner;
            float w0 = wj[0], w1 = wj[1];
            if (n == 2) {
                for (int64_t i = 0; i < inner; i++)
                    row[i] = w0 * r0[i] + w1 * r1[i];
                continue;
            }
            if (n == 4) {
                const float *restrict r2 = s + ij[2] * inner;
                const float *restrict r3 = s + ij[3] * inner;
                float w2 = wj[2], w3 = wj[3];
                for (int64_t i = 0; i < inner; i++)
                    row[i] = w0 * r0[i] + w1 * r1[i] + w2 * r2[i] + w3 * r3[i];
                continue;
            }
            for (int64_t i = 0; i < inner; i++)
                row[i] = w0 * r0[i] + w1 * r1[i];
            for (int t = 2; t < n; t++) {
                const float *restrict rt = s + ij[t] * inner;
                float wt = wj[t];
                for (int64_t i = 0; i < inner; i++)
                    row[i] += wt * rt[i];
            }
        }
    }
}

/* Nearest (any dtype): out[...] = in[map_0[o_0], ..., map_{r-1}[o_{r-1}]]; a map entry of -1
 * gives the extrapolation value, -2 (exclude_outside) gives 0. */
static void resize_gather(const struct resize_params *p, const struct resize_plan *pl,
                          const struct ogq_rt_tensor *x, struct ogq_rt_tensor *y, char *scratch)
{
    int r = pl->rank;
    size_t es = ogq_rt_elem_size(x->dtype);
    uint64_t extrap = 0, zero = 0;
    if (x->dtype == OGQ_DTYPE_FLOAT) {
        memcpy(&extrap, &p->extrapolation, sizeof(float));
    } else { /* cast as C would, without UB for NaN or huge values; little-endian bytes */
        float e = p->extrapolation;
        int64_t v = e != e ? 0 : e >= 9.2e18f ? INT64_MAX : e <= -9.2e18f ? INT64_MIN : (int64_t)e;
        if (x->dtype == OGQ_DTYPE_BOOL)
            v = e != 0;
        memcpy(&extrap, &v, es);
    }
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return;
    }
    int64_t *map[MAXR];
    for (int d = 0; d < r; d++) {
        map[d] = (int64_t *)scratch;
        scratch += ALIGN64((size_t)pl->out[d] * sizeof(int64_t));
        if (!pl->active[d]) {
            for (int64_t j = 0; j < pl->out[d]; j++)
                map[d][j] = j;
            continue;
        }
        for (int64_t j = 0; j < pl->out[d]; j++) {
            double xx, ratio;
            if (!resize_coord(p->coord, j, x->dims[d], pl->out[d], pl->scale[d], pl->roi_lo[d],
                              pl->roi_hi[d], &xx)) {
                map[d][j] = -1;
                continue;
            }
            int64_t src = resize_base(xx, &ratio) + resize_nearest_tap(p, ratio, pl->scale[d]);
            if (p->exclude_outside && (src < 0 || src >= x->dims[d]))
                map[d][j] = -2; /* its weight is zeroed and the all-zero row stays 0 */
            else
                map[d][j] = src < 0 ? 0 : src >= x->dims[d] ? x->dims[d] - 1 : src;
        }
    }
    int64_t xs[MAXR];
    dense_strides(r, x->dims, xs);
    int64_t n = y->dims[r - 1], rows = y->numel / n, idx[MAXR] = {0};
    const int64_t *ml = map[r - 1];
    bool copy_rows = !pl->active[r - 1], plain = true;
    for (int64_t k = 0; k < n; k++)
        plain &= ml[k] >= 0;
    /* Integer upsampling of the last axis (map k -> k / f): each element repeated f times. */
    int64_t in_n = x->dims[r - 1], f = n % in_n == 0 ? n / in_n : 0;
    for (int64_t k = 0; f > 1 && k < n; k++)
        if (ml[k] != k / f)
            f = 0;
    size_t row_bytes = (size_t)n * es;
    int64_t prev_off = -1, prev_special = 1;
    char *o = y->data;
    for (int64_t row = 0; row < rows; row++, o += row_bytes) {
        int64_t off = 0, special = 0; /* -1: extrapolated row, -2: zero row */
        for (int a = 0; a < r - 1; a++) {
            int64_t v = map[a][idx[a]];
            if (v < 0)
                special = special == -1 ? -1 : v;
            off += v * xs[a];
        }
        for (int a = r - 2; a >= 0; a--) {
            if (++idx[a] < y->dims[a])
                break;
            idx[a] = 0;
        }
        if (row > 0 && off == prev_off && special == prev_special) {
            memcpy(o, o - row_bytes, row_bytes); /* upsampling repeats source rows */
            continue;
        }
        prev_off = off;
        prev_special = special;
        const char *src = (const char *)x->data + (size_t)off * es;
        if (special) {
            fill_elems(o, special == -1 ? &extrap : &zero, n, es);
        } else if (copy_rows) {
            memcpy(o, src, row_bytes);
        } else if (plain) {
#define RZROW_T(T)                                                                                 \
    do {                                                                                           \
        T *restrict d_ = (T *)o;                                                                   \
        const T *restrict s_ = (const T *)src;                                                     \
        if (f == 2) {                                                                              \
            for (int64_t k = 0; k < in_n; k++) {                                                   \
                d_[2 * k] = s_[k];                                                                 \
                d_[2 * k + 1] = s_[k];                                                             \
            }                                                                                      \
        } else if (f > 2) {                                                                        \
            for (int64_t k = 0; k < in_n; k++)                                                     \
                for (int64_t q = 0; q < f; q++)                                                    \
                    d_[k * f + q] = s_[k];                                                         \
        } else {                                                                                   \
            for (int64_t k = 0; k < n; k++)                                                        \
                d_[k] = s_[ml[k]];                                                                 \
        }                                                                                          \
    } while (0)
            BY_ES(es, RZROW_T);
#undef RZROW_T
        } else {
#define RZROW_T(T)                                                                                 \
    do {                                                                                           \
        T *d_ = (T *)o;                                                                            \
        const T *s_ = (const T *)src;                                                              \
        T e_;                                                                                      \
        memcpy(&e_, &extrap, sizeof e_);                                                           \
        for (int64_t k = 0; k < n; k++)                                                            \
            d_[k] = ml[k] >= 0 ? s_[ml[k]] : ml[k] == -1 ? e_ : (T)0;                              \
    } while (0)
            BY_ES(es, RZROW_T);
#undef RZROW_T
        }
    }
}

static enum ogq_status resize_run(struct ogq_kernel_ctx *ctx)
{
    const struct resize_params *p = ctx->params;
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    struct resize_plan pl;
    OGQ_TRY(resize_plan(ctx, &pl));
    if (y->numel == 0)
        return OGQ_OK;
    char *scratch = ctx->scratch;
    if (resize_gather_path(p)) {
        resize_gather(p, &pl, x, y, scratch);
        return OGQ_OK;
    }
    if (pl.n_active == 0) {
        memcpy(y->data, x->data, y->nbytes);
        return OGQ_OK;
    }
    size_t tables, buf;
    resize_layout(ctx, &pl, &tables, &buf);
    float *bufs[2] = {(float *)(scratch + tables), (float *)(scratch + tables + buf)};
    int64_t cur[MAXR];
    memcpy(cur, x->dims, sizeof cur);
    const float *src = x->data;
    char *tp = scratch;
    for (int i = 0; i < pl.n_active; i++) {
        int d = pl.order[i];
        size_t n = (size_t)pl.out[d] * (size_t)pl.taps[d];
        int64_t *idx = (int64_t *)tp;
        tp += ALIGN64(n * sizeof(int64_t));
        float *w = (float *)tp;
        tp += ALIGN64(n * sizeof(float));
        resize_table(p, &pl, d, x->dims[d], idx, w);
        float *dst = i == pl.n_active - 1 ? (float *)y->data : bufs[i % 2];
        resize_pass(src, dst, prod(cur, 0, d), cur[d], pl.out[d], prod(cur, d + 1, pl.rank),
                    pl.taps[d], idx, w, p->extrapolation);
        cur[d] = pl.out[d];
        src = dst;
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- DepthToSpace, SpaceToDepth */

/* Both are a 6-D strided view of the input copied densely: the output [N, C', H', W'] is seen
 * as [N, ., ., ., ., .] with the source strides of each block axis. */
static enum ogq_status d2s_check(struct ogq_kernel_ctx *ctx, bool to_space, int64_t *b)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    *b = ogq_node_attr_int(ctx->node, "blocksize", 0);
    if (x->rank != 4)
        return OGQ_KFAIL(ctx, "input must be 4-D, got rank %d", x->rank);
    if (*b <= 0)
        return OGQ_KFAIL(ctx, "blocksize must be positive");
    if (to_space ? x->dims[1] % (*b * *b) != 0
                 : x->dims[2] % *b != 0 || x->dims[3] % *b != 0)
        return OGQ_KFAIL(ctx, "dims are not divisible by the blocksize %lld", (long long)*b);
    return OGQ_OK;
}

static enum ogq_status d2s_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                   struct ogq_error *err)
{
    (void)params;
    const char *m = ogq_node_attr_string(node, "mode", "DCR");
    if (opset >= 11 && strcmp(m, "DCR") != 0 && strcmp(m, "CRD") != 0)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "mode '%s' is not supported", m);
    return OGQ_OK;
}

static enum ogq_status d2s_infer(struct ogq_kernel_ctx *ctx)
{
    int64_t b;
    OGQ_TRY(d2s_check(ctx, true, &b));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t dims[4] = {x->dims[0], x->dims[1] / (b * b), x->dims[2] * b, x->dims[3] * b};
    return set_out(ctx, 0, x->dtype, 4, dims);
}

static enum ogq_status d2s_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int64_t b;
    OGQ_TRY(d2s_check(ctx, true, &b));
    int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3], C2 = C / (b * b), HW = H * W;
    bool crd = ctx->opset >= 11 &&
               strcmp(ogq_node_attr_string(ctx->node, "mode", "DCR"), "CRD") == 0;
    /* Output viewed as [N, C', H, b, W, b]: in channel (i*b + j)*C' + c (DCR) or
     * c*b*b + i*b + j (CRD). */
    int64_t dims[6] = {x->dims[0], C2, H, b, W, b};
    int64_t st[6] = {C * HW, crd ? b * b * HW : HW, W, crd ? b * HW : b * C2 * HW, 1,
                     crd ? HW : C2 * HW};
    strided_copy(y->data, x->data, ogq_rt_elem_size(x->dtype), 6, dims, st);
    return OGQ_OK;
}

static enum ogq_status s2d_infer(struct ogq_kernel_ctx *ctx)
{
    int64_t b;
    OGQ_TRY(d2s_check(ctx, false, &b));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int64_t dims[4] = {x->dims[0], x->dims[1] * b * b, x->dims[2] / b, x->dims[3] / b};
    return set_out(ctx, 0, x->dtype, 4, dims);
}

static enum ogq_status s2d_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int64_t b;
    OGQ_TRY(d2s_check(ctx, false, &b));
    int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3];
    /* Output viewed as [N, b, b, C, H/b, W/b]: out channel (i*b + j)*C + c. */
    int64_t dims[6] = {x->dims[0], b, b, C, H / b, W / b};
    int64_t st[6] = {C * H * W, W, 1, H * W, b * W, b};
    strided_copy(y->data, x->data, ogq_rt_elem_size(x->dtype), 6, dims, st);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Trilu */

static enum ogq_status trilu_k(struct ogq_kernel_ctx *ctx, int64_t *k)
{
    *k = 0;
    if (!in_at(ctx, 1))
        return OGQ_OK;
    int64_t v[1];
    size_t n;
    OGQ_TRY(ogq_read_ints(ctx, ctx->inputs[1], "k", v, 1, &n));
    if (n != 1)
        return OGQ_KFAIL(ctx, "k must be a scalar");
    *k = v[0];
    return OGQ_OK;
}

static enum ogq_status trilu_infer(struct ogq_kernel_ctx *ctx)
{
    size_t es;
    OGQ_TRY(input_es(ctx, 0, &es));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    if (x->rank < 2)
        return OGQ_KFAIL(ctx, "input must have rank >= 2");
    int64_t k;
    OGQ_TRY(trilu_k(ctx, &k));
    return set_out(ctx, 0, x->dtype, x->rank, x->dims);
}

static enum ogq_status trilu_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int64_t k;
    OGQ_TRY(trilu_k(ctx, &k));
    bool upper = ogq_node_attr_int(ctx->node, "upper", 1) != 0;
    size_t es = ogq_rt_elem_size(x->dtype);
    int64_t N = x->dims[x->rank - 2], M = x->dims[x->rank - 1];
    int64_t mats = N * M != 0 ? x->numel / (N * M) : 0;
    /* Zero bytes are the zero of every dtype. Row i keeps columns j - i >= k (upper) or
     * j - i <= k (lower). */
    for (int64_t m = 0; m < mats; m++) {
        for (int64_t i = 0; i < N; i++) {
            size_t off = (size_t)((m * N + i) * M) * es;
            char *o = (char *)y->data + off;
            const char *s = (const char *)x->data + off;
            int64_t lim = upper ? i + k : i + k + 1; /* the first zero (lower) / kept (upper) */
            if (k > 0 && i >= INT64_MAX - k)
                lim = M;
            lim = lim < 0 ? 0 : lim > M ? M : lim;
            if (upper) {
                memset(o, 0, (size_t)lim * es);
                memcpy(o + (size_t)lim * es, s + (size_t)lim * es, (size_t)(M - lim) * es);
            } else {
                memcpy(o, s, (size_t)lim * es);
                memset(o + (size_t)lim * es, 0, (size_t)(M - lim) * es);
            }
        }
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- CumSum */

static enum ogq_status cumsum_axis(struct ogq_kernel_ctx *ctx, int *axis)
{
    int64_t v[1];
    size_t n;
    OGQ_TRY(ogq_read_ints(ctx, in_at(ctx, 1), "axis", v, 1, &n));
    if (n != 1)
        return OGQ_KFAIL(ctx, "axis must be a scalar");
    return ogq_normalize_axis(ctx, v[0], ctx->inputs[0]->rank, axis);
}

static enum ogq_status cumsum_infer(struct ogq_kernel_ctx *ctx)
{
    static const enum ogq_dtype ok[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT64, OGQ_DTYPE_INT32};
    OGQ_TRY(ogq_require_input(ctx, 0, ok, 3));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int axis;
    OGQ_TRY(cumsum_axis(ctx, &axis));
    return set_out(ctx, 0, x->dtype, x->rank, x->dims);
}

static enum ogq_status cumsum_run(struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int axis;
    OGQ_TRY(cumsum_axis(ctx, &axis));
    bool excl = ogq_node_attr_int(ctx->node, "exclusive", 0) != 0;
    bool rev = ogq_node_attr_int(ctx->node, "reverse", 0) != 0;
    int64_t outer = prod(x->dims, 0, axis), len = x->dims[axis];
    int64_t inner = prod(x->dims, axis + 1, x->rank);
    if (x->numel == 0)
        return OGQ_OK;
    /* Running sums along the axis, `inner` lanes at a time (vectorisable); integers wrap. */
#define CUMSUM_T(T, U)                                                                             \
    do {                                                                                           \
        const T *xs_ = x->data;                                                                    \
        T *ys_ = y->data;                                                                          \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *xb = xs_ + o * len * inner;                                                   \
            T *yb = ys_ + o * len * inner;                                                         \
            for (int64_t q = 0; q < len; q++) {                                                    \
                int64_t k = rev ? len - 1 - q : q, kp = rev ? k + 1 : k - 1;                       \
                T *restrict yr = yb + k * inner;                                                   \
                if (q == 0) {                                                                      \
                    const T *restrict xr = xb + k * inner;                                         \
                    for (int64_t i = 0; i < inner; i++)                                            \
                        yr[i] = excl ? (T)0 : xr[i];                                               \
                } else {                                                                           \
                    const T *restrict xr = xb + (excl ? kp : k) * inner;                           \
                    const T *restrict prev = yb + kp * inner;                                      \
                    for (int64_t i = 0; i < inner; i++)                                            \
                        yr[i] = (T)((U)prev[i] + (U)xr[i]);                                        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)
    switch (x->dtype) {
    case OGQ_DTYPE_FLOAT: CUMSUM_T(float, float); break;
    case OGQ_DTYPE_INT64: CUMSUM_T(int64_t, uint64_t); break;
    default: CUMSUM_T(int32_t, uint32_t); break;
    }
#undef CUMSUM_T
    return OGQ_OK;
}

/* ---------------------------------------------------------------- ArgMax, ArgMin */

static enum ogq_status arg_axis(struct ogq_kernel_ctx *ctx, int *axis)
{
    return ogq_normalize_axis(ctx, ogq_node_attr_int(ctx->node, "axis", 0),
                              ctx->inputs[0]->rank, axis);
}

static enum ogq_status arg_infer(struct ogq_kernel_ctx *ctx)
{
    static const enum ogq_dtype ok[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT64, OGQ_DTYPE_INT32,
                                        OGQ_DTYPE_INT8, OGQ_DTYPE_UINT8};
    OGQ_TRY(ogq_require_input(ctx, 0, ok, 5));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int axis;
    OGQ_TRY(arg_axis(ctx, &axis));
    if (x->dims[axis] == 0)
        return OGQ_KFAIL(ctx, "cannot reduce an empty axis");
    bool keep = ogq_node_attr_int(ctx->node, "keepdims", 1) != 0;
    int64_t dims[MAXR];
    int r = 0;
    for (int d = 0; d < x->rank; d++) {
        if (d == axis) {
            if (keep)
                dims[r++] = 1;
        } else {
            dims[r++] = x->dims[d];
        }
    }
    return set_out(ctx, 0, OGQ_DTYPE_INT64, r, dims);
}

static size_t arg_workspace(const struct ogq_kernel_ctx *ctx)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    int axis = (int)ogq_node_attr_int(ctx->node, "axis", 0);
    if (axis < 0)
        axis += x->rank;
    return (size_t)prod(x->dims, axis + 1, x->rank) * sizeof(int64_t);
}

/* Rows (inner == 1) are scanned with a running best; otherwise `inner` lanes are scanned
 * together along the axis, branch-free so that the loop vectorises. NaN wins as in numpy: the
 * first NaN, or the last one with select_last_index. Ties go to the first (last) index. */
#define ARG_BETTER(v, b, GT, GE, LAST)                                                             \
    ((LAST) ? ((v)GE(b) || (v) != (v)) : ((v)GT(b) || ((v) != (v) && (b) == (b))))

/* A float row: the extreme value first (a vectorisable reduction that also notes NaNs), then
 * the index of its first (last) occurrence. */
static int64_t arg_row_f32(const float *x, int64_t n, bool is_max, bool last)
{
    float m = x[0];
    int nan = 0;
    int64_t k0 = 1;
#if defined(__SSE2__)
    /* maxps/minps: NaNs are found separately, so their NaN rule does not matter. */
    if (n >= 8) {
        __m128 a0 = _mm_loadu_ps(x), a1 = _mm_loadu_ps(x + 4);
        __m128 u0 = _mm_cmpunord_ps(a0, a0), u1 = _mm_cmpunord_ps(a1, a1);
        int64_t k = 8;
        if (is_max) {
            for (; k + 8 <= n; k += 8) {
                __m128 v0 = _mm_loadu_ps(x + k), v1 = _mm_loadu_ps(x + k + 4);
                u0 = _mm_or_ps(u0, _mm_cmpunord_ps(v0, v0));
                u1 = _mm_or_ps(u1, _mm_cmpunord_ps(v1, v1));
                a0 = _mm_max_ps(a0, v0);
                a1 = _mm_max_ps(a1, v1);
            }
            a0 = _mm_max_ps(a0, a1);
        } else {
            for (; k + 8 <= n; k += 8) {
                __m128 v0 = _mm_loadu_ps(x + k), v1 = _mm_loadu_ps(x + k + 4);
                u0 = _mm_or_ps(u0, _mm_cmpunord_ps(v0, v0));
                u1 = _mm_or_ps(u1, _mm_cmpunord_ps(v1, v1));
                a0 = _mm_min_ps(a0, v0);
                a1 = _mm_min_ps(a1, v1);
            }
            a0 = _mm_min_ps(a0, a1);
        }
        nan = _mm_movemask_ps(_mm_or_ps(u0, u1));
        float lanes[4];
        _mm_storeu_ps(lanes, a0);
        m = lanes[0];
        for (int i = 1; i < 4; i++)
            m = is_max ? (lanes[i] > m ? lanes[i] : m) : (lanes[i] < m ? lanes[i] : m);
        k0 = k;
    }
#endif
    for (int64_t k = k0; k < n; k++) {
        float v = x[k];
        nan |= v != v;
        m = is_max ? (v > m ? v : m) : (v < m ? v : m);
    }
    nan |= x[0] != x[0];
    if (nan) {
        for (int64_t k = 0; k < n; k++)
            if (x[last ? n - 1 - k : k] != x[last ? n - 1 - k : k])
                return last ? n - 1 - k : k;
    }
    if (last) {
        for (int64_t k = n - 1; k > 0; k--)
            if (x[k] == m)
                return k;
        return 0;
    }
    for (int64_t k = 0; k < n; k++)
        if (x[k] == m)
            return k;
    return 0;
}

#define ARG_SCAN(T, GT, GE, LAST)                                                                  \
    do {                                                                                           \
        if (inner == 1 && x->dtype == OGQ_DTYPE_FLOAT) {                                           \
            for (int64_t o = 0; o < outer; o++)                                                    \
                out[o] = arg_row_f32((const float *)x->data + o * len, len, is_max, LAST);         \
            break;                                                                                 \
        }                                                                                          \
        if (inner == 1) {                                                                          \
            for (int64_t o = 0; o < outer; o++) {                                                  \
                const T *xr = (const T *)x->data + o * len;                                        \
                T b = xr[0];                                                                       \
                int64_t bi = 0;                                                                    \
                for (int64_t k = 1; k < len; k++) {                                                \
                    T v = xr[k];                                                                   \
                    if (ARG_BETTER(v, b, GT, GE, LAST)) {                                          \
                        b = v;                                                                     \
                        bi = k;                                                                    \
                    }                                                                              \
                }                                                                                  \
                out[o] = bi;                                                                       \
            }                                                                                      \
            break;                                                                                 \
        }                                                                                          \
        T *best = ctx->scratch;                                                                    \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *restrict xb = (const T *)x->data + o * len * inner;                           \
            int64_t *restrict ob = out + o * inner;                                                \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                best[i] = xb[i];                                                                   \
                ob[i] = 0;                                                                         \
            }                                                                                      \
            for (int64_t k = 1; k < len; k++) {                                                    \
                const T *restrict xr = xb + k * inner;                                             \
                for (int64_t i = 0; i < inner; i++) {                                              \
                    T v = xr[i], b = best[i];                                                      \
                    bool t = ARG_BETTER(v, b, GT, GE, LAST);                                       \
                    best[i] = t ? v : b;                                                           \
                    ob[i] = t ? k : ob[i];                                                         \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define ARG_T(T)                                                                                   \
    do {                                                                                           \
        if (is_max && last)                                                                        \
            ARG_SCAN(T, >, >=, true);                                                              \
        else if (is_max)                                                                           \
            ARG_SCAN(T, >, >=, false);                                                             \
        else if (last)                                                                             \
            ARG_SCAN(T, <, <=, true);                                                              \
        else                                                                                       \
            ARG_SCAN(T, <, <=, false);                                                             \
    } while (0)

static enum ogq_status arg_run(struct ogq_kernel_ctx *ctx, bool is_max)
{
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    struct ogq_rt_tensor *y = ctx->outputs[0];
    int axis;
    OGQ_TRY(arg_axis(ctx, &axis));
    bool last = ctx->opset >= 12 && ogq_node_attr_int(ctx->node, "select_last_index", 0) != 0;
    int64_t outer = prod(x->dims, 0, axis), len = x->dims[axis];
    int64_t inner = prod(x->dims, axis + 1, x->rank);
    int64_t *out = y->data;
    if (y->numel == 0)
        return OGQ_OK;
    switch (x->dtype) {
    case OGQ_DTYPE_FLOAT: ARG_T(float); break;
    case OGQ_DTYPE_INT64: ARG_T(int64_t); break;
    case OGQ_DTYPE_INT32: ARG_T(int32_t); break;
    case OGQ_DTYPE_INT8: ARG_T(int8_t); break;
    default: ARG_T(uint8_t); break;
    }
    return OGQ_OK;
}
#undef ARG_T
#undef ARG_SCAN
#undef ARG_BETTER

static enum ogq_status argmax_run(struct ogq_kernel_ctx *ctx) { return arg_run(ctx, true); }
static enum ogq_status argmin_run(struct ogq_kernel_ctx *ctx) { return arg_run(ctx, false); }

/* ---------------------------------------------------------------- family */

static const struct ogq_kernel kernels[] = {
    {"", "Constant", 1, INT_MAX, const_prepare, const_release, const_infer, NULL, const_run,
     false},
    {"", "Identity", 1, INT_MAX, NULL, NULL, identity_infer, NULL, view_run, true},
    {"", "Dropout", 1, INT_MAX, dropout_prepare, NULL, dropout_infer, NULL, dropout_run, true},
    {"", "Reshape", 1, INT_MAX, NULL, NULL, reshape_infer, NULL, view_run, true},
    {"", "Flatten", 1, INT_MAX, NULL, NULL, flatten_infer, NULL, view_run, true},
    {"", "Squeeze", 1, INT_MAX, NULL, NULL, squeeze_infer, NULL, view_run, true},
    {"", "Unsqueeze", 1, INT_MAX, NULL, NULL, unsqueeze_infer, NULL, view_run, true},
    {"", "Transpose", 1, INT_MAX, NULL, NULL, transpose_infer, NULL, transpose_run, false},
    {"", "Concat", 1, INT_MAX, NULL, NULL, concat_infer, NULL, concat_run, false},
    {"", "Split", 1, INT_MAX, NULL, NULL, split_infer, NULL, split_run, false},
    {"", "Slice", 1, INT_MAX, NULL, NULL, slice_infer, NULL, slice_run, false},
    {"", "Gather", 1, INT_MAX, NULL, NULL, gather_infer, gather_workspace, gather_run, false},
    {"", "GatherElements", 11, INT_MAX, NULL, NULL, gather_elements_infer, NULL,
     gather_elements_run, false},
    {"", "GatherND", 11, INT_MAX, NULL, NULL, gathernd_infer, NULL, gathernd_run, false},
    {"", "Shape", 1, INT_MAX, NULL, NULL, shape_infer, NULL, shape_run, false},
    {"", "Size", 1, INT_MAX, NULL, NULL, size_infer, NULL, size_run, false},
    {"", "Expand", 8, INT_MAX, NULL, NULL, expand_infer, NULL, expand_run, false},
    {"", "ConstantOfShape", 9, INT_MAX, cos_prepare, free_params, cos_infer, NULL, cos_run,
     false},
    {"", "Range", 11, INT_MAX, NULL, NULL, range_infer, NULL, range_run, false},
    {"", "Tile", 6, INT_MAX, NULL, NULL, tile_infer, NULL, tile_run, false},
    {"", "Pad", 1, INT_MAX, pad_prepare, NULL, pad_infer, pad_workspace, pad_run, false},
    {"", "Resize", 10, INT_MAX, resize_prepare, free_params, resize_infer, resize_workspace,
     resize_run, false},
    {"", "Upsample", 7, 10, upsample_prepare, free_params, resize_infer, resize_workspace,
     resize_run, false},
    {"", "DepthToSpace", 1, INT_MAX, d2s_prepare, NULL, d2s_infer, NULL, d2s_run, false},
    {"", "SpaceToDepth", 1, INT_MAX, NULL, NULL, s2d_infer, NULL, s2d_run, false},
    {"", "Trilu", 14, INT_MAX, NULL, NULL, trilu_infer, NULL, trilu_run, false},
    {"", "CumSum", 11, INT_MAX, NULL, NULL, cumsum_infer, NULL, cumsum_run, false},
    {"", "ArgMax", 1, INT_MAX, NULL, NULL, arg_infer, arg_workspace, argmax_run, false},
    {"", "ArgMin", 1, INT_MAX, NULL, NULL, arg_infer, arg_workspace, argmin_run, false},
};

const struct ogq_kernel_family ogq_family_shape = {"shape", kernels,
                                                   sizeof kernels / sizeof kernels[0]};
