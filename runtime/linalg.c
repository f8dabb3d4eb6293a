/* linalg.c — BLAS entry points (the only file that includes cblas.h) and the convolution
 * patch routines (im2col / col2im) shared by the Conv kernels and GPTQ.
 *
 * im2col works on the geometry promoted to 3 spatial axes (missing leading axes have
 * size 1, kernel 1, stride 1, no padding), so 1-D, 2-D and 3-D share one loop nest whose
 * innermost loop runs along the output width: for each kernel tap the range of output
 * columns that read inside the image is computed once, the rest is zero-filled, and the
 * in-range part is a memcpy (stride 1) or a strided gather. No divisions in the hot loop.
 */
#include "linalg.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ogq_linalg_set_threads(int requested)
{
    static int in_effect = 0;
    if (in_effect > 0)
        return in_effect;
    int n = requested;
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    openblas_set_num_threads(n);
    in_effect = n;
    return n;
}

bool ogq_cpu_has_avx2(void)
{
#if OGQ_HAVE_AVX2_CLONES
    static int cached = -1; /* a benign race: every thread computes the same value */
    if (cached < 0) {
        /* OGQ_NO_AVX2=1 forces the baseline loops (tests run both clones). */
        const char *off = getenv("OGQ_NO_AVX2");
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && !(off && *off == '1') ? 1 : 0;
    }
    return cached == 1;
#else
    return false;
#endif
}

void ogq_sgemv(bool trans_a, int64_t m, int64_t n, float alpha, const float *a, int64_t lda,
               const float *x, int64_t incx, float beta, float *y, int64_t incy)
{
    int64_t ylen = trans_a ? n : m;
    if (ylen <= 0)
        return;
    if ((trans_a ? m : n) <= 0) { /* empty sum: y = beta * y */
        for (int64_t i = 0; i < ylen; i++)
            y[i * incy] = beta == 0.0f ? 0.0f : beta * y[i * incy];
        return;
    }
    if (beta == 0.0f) /* BLAS may compute 0 * y; NaN garbage in y must not leak */
        for (int64_t i = 0; i < ylen; i++)
            y[i * incy] = 0.0f;
    cblas_sgemv(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, alpha,
                a, (blasint)lda, x, (blasint)incx, beta, y, (blasint)incy);
}

void ogq_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    if (n == 1) {
        /* C[:,0] = op(A) @ op(B)[:,0]; op(A) is M x K. */
        const int64_t incb = trans_b ? 1 : ldb;
        if (trans_a) /* A is K x M */
            ogq_sgemv(true, k, m, alpha, a, lda, b, incb, beta, c, ldc);
        else
            ogq_sgemv(false, m, k, alpha, a, lda, b, incb, beta, c, ldc);
        return;
    }
    if (m == 1) {
        /* C[0,:] = op(B)^T @ op(A)[0,:]; op(B) is K x N. */
        const int64_t inca = trans_a ? lda : 1;
        if (trans_b) /* B is N x K */
            ogq_sgemv(false, n, k, alpha, b, ldb, a, inca, beta, c, 1);
        else
            ogq_sgemv(true, k, n, alpha, b, ldb, a, inca, beta, c, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

/* ---------------------------------------------------------------- convolution patches */

int64_t ogq_conv_geom_in_size(const struct ogq_conv_geom *g)
{
    int64_t n = 1;
    for (int i = 0; i < g->nd; i++)
        n *= g->in[i];
    return n;
}

int64_t ogq_conv_geom_out_size(const struct ogq_conv_geom *g)
{
    int64_t n = 1;
    for (int i = 0; i < g->nd; i++)
        n *= g->out[i];
    return n;
}

int64_t ogq_conv_geom_kernel_size(const struct ogq_conv_geom *g)
{
    int64_t n = 1;
    for (int i = 0; i < g->nd; i++)
        n *= g->kernel[i];
    return n;
}

bool ogq_conv_geom_resolve(struct ogq_conv_geom *g, enum ogq_auto_pad auto_pad, const int64_t *pads)
{
    if (g->nd < 1 || g->nd > OGQ_CONV_MAX_SPATIAL)
        return false;
    for (int i = 0; i < g->nd; i++) {
        int64_t in = g->in[i], s = g->stride[i];
        if (in < 1 || g->kernel[i] < 1 || s < 1 || g->dilation[i] < 1)
            return false;
        int64_t dk = (g->kernel[i] - 1) * g->dilation[i] + 1;
        switch (auto_pad) {
        case OGQ_AUTO_PAD_NOTSET: {
            int64_t pb = pads ? pads[i] : 0, pe = pads ? pads[g->nd + i] : 0;
            if (pb < 0 || pe < 0 || in + pb + pe < dk)
                return false;
            g->pad[i] = pb;
            g->out[i] = (in + pb + pe - dk) / s + 1;
            break;
        }
        case OGQ_AUTO_PAD_VALID:
            if (in < dk)
                return false;
            g->pad[i] = 0;
            g->out[i] = (in - dk) / s + 1;
            break;
        case OGQ_AUTO_PAD_SAME_UPPER:
        case OGQ_AUTO_PAD_SAME_LOWER: {
            int64_t out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + dk - in;
            if (total < 0)
                total = 0;
            g->out[i] = out;
            g->pad[i] = auto_pad == OGQ_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            break;
        }
        default:
            return false;
        }
    }
    return true;
}

/* Geometry promoted to exactly 3 spatial axes. */
struct geom3 {
    int64_t in[3], out[3], k[3], s[3], d[3], p[3];
};

static void promote(const struct ogq_conv_geom *g, struct geom3 *o)
{
    int off = 3 - g->nd;
    for (int i = 0; i < 3; i++) {
        int j = i - off;
        o->in[i] = j >= 0 ? g->in[j] : 1;
        o->out[i] = j >= 0 ? g->out[j] : 1;
        o->k[i] = j >= 0 ? g->kernel[j] : 1;
        o->s[i] = j >= 0 ? g->stride[j] : 1;
        o->d[i] = j >= 0 ? g->dilation[j] : 1;
        o->p[i] = j >= 0 ? g->pad[j] : 0;
    }
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Output positions o in [*lo, *hi) read image position o * s + off inside [0, in). */
static void valid_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo, int64_t *hi)
{
    int64_t l = -floor_div(off, s);      /* ceil(-off / s) */
    int64_t h = -floor_div(off - in, s); /* ceil((in - off) / s) */
    if (l < 0)
        l = 0;
    if (h > out)
        h = out;
    if (h < l)
        h = l;
    *lo = l;
    *hi = h;
}

/* im2col restricted to output rows [r0, r1) (a row is one (od, oh) pair, rows are
 * numbered od * out_h + oh): col is [channels * kernel_size, (r1 - r0) * out_w]. */
struct im2col_job {
    struct geom3 q;
    int64_t channels, r0, r1, ld;
    const float *im;
    float *col;
};

static inline OGQ_INLINE void im2col_impl(const struct im2col_job *jb)
{
    const struct geom3 *q = &jb->q;
    const int64_t in_size = q->in[0] * q->in[1] * q->in[2];
    const int64_t ow_n = q->out[2], sw = q->s[2], oh_n = q->out[1];
    const int64_t ld = jb->ld;
    float *row = jb->col;
    for (int64_t c = 0; c < jb->channels; c++) {
        const float *img = jb->im + c * in_size;
        for (int64_t kd = 0; kd < q->k[0]; kd++) {
            const int64_t offd = kd * q->d[0] - q->p[0];
            for (int64_t kh = 0; kh < q->k[1]; kh++) {
                const int64_t offh = kh * q->d[1] - q->p[1];
                for (int64_t kw = 0; kw < q->k[2]; kw++, row += ld) {
                    const int64_t offw = kw * q->d[2] - q->p[2];
                    int64_t w_lo, w_hi;
                    valid_range(offw, sw, q->in[2], ow_n, &w_lo, &w_hi);
                    int64_t od = jb->r0 / oh_n, oh = jb->r0 % oh_n;
                    for (int64_t r = jb->r0; r < jb->r1; r++) {
                        float *restrict dst = row + (r - jb->r0) * ow_n;
                        const int64_t id = od * q->s[0] + offd, ih = oh * q->s[1] + offh;
                        if (++oh == oh_n) {
                            oh = 0;
                            od++;
                        }
                        if (id < 0 || id >= q->in[0] || ih < 0 || ih >= q->in[1] || w_lo >= w_hi) {
                            for (int64_t j = 0; j < ow_n; j++)
                                dst[j] = 0.0f;
                            continue;
                        }
                        const float *restrict src =
                            img + (id * q->in[1] + ih) * q->in[2] + w_lo * sw + offw;
                        for (int64_t j = 0; j < w_lo; j++)
                            dst[j] = 0.0f;
                        const int64_t n = w_hi - w_lo;
                        float *restrict d = dst + w_lo;
                        if (sw == 1) {
                            memcpy(d, src, sizeof(float) * (size_t)n);
                        } else if (sw == 2) {
                            for (int64_t j = 0; j < n; j++)
                                d[j] = src[2 * j];
                        } else {
                            for (int64_t j = 0; j < n; j++)
                                d[j] = src[j * sw];
                        }
                        for (int64_t j = w_hi; j < ow_n; j++)
                            dst[j] = 0.0f;
                    }
                }
            }
        }
    }
}

OGQ_HOT static void im2col_base(const struct im2col_job *jb)
{
    im2col_impl(jb);
}
#if OGQ_HAVE_AVX2_CLONES
OGQ_HOT_AVX2 static void im2col_avx2(const struct im2col_job *jb)
{
    im2col_impl(jb);
}
#endif

void ogq_im2col_rows_f32(const struct ogq_conv_geom *g, int64_t channels, const float *im,
                         int64_t r0, int64_t r1, float *col, int64_t ld)
{
    struct im2col_job jb = {
        .channels = channels, .r0 = r0, .r1 = r1, .ld = ld, .im = im, .col = col};
    promote(g, &jb.q);
    if (r1 <= r0)
        return;
#if OGQ_HAVE_AVX2_CLONES
    if (ogq_cpu_has_avx2()) {
        im2col_avx2(&jb);
        return;
    }
#endif
    im2col_base(&jb);
}

void ogq_im2col_f32(const struct ogq_conv_geom *g, int64_t channels, const float *im, float *col)
{
    int64_t rows = 1;
    for (int i = 0; i + 1 < g->nd; i++)
        rows *= g->out[i];
    ogq_im2col_rows_f32(g, channels, im, 0, rows, col, rows * g->out[g->nd - 1]);
}

void ogq_col2im_add_f32(const struct ogq_conv_geom *g, int64_t channels, const float *col,
                        float *im)
{
    struct geom3 q;
    promote(g, &q);
    const int64_t in_plane = q.in[1] * q.in[2], in_size = q.in[0] * in_plane;
    const int64_t out_plane = q.out[1] * q.out[2], out_size = q.out[0] * out_plane;
    const int64_t ow_n = q.out[2], sw = q.s[2];
    const float *row = col;
    for (int64_t c = 0; c < channels; c++) {
        float *img = im + c * in_size;
        for (int64_t kd = 0; kd < q.k[0]; kd++) {
            const int64_t offd = kd * q.d[0] - q.p[0];
            int64_t d_lo, d_hi;
            valid_range(offd, q.s[0], q.in[0], q.out[0], &d_lo, &d_hi);
            for (int64_t kh = 0; kh < q.k[1]; kh++) {
                const int64_t offh = kh * q.d[1] - q.p[1];
                int64_t h_lo, h_hi;
                valid_range(offh, q.s[1], q.in[1], q.out[1], &h_lo, &h_hi);
                for (int64_t kw = 0; kw < q.k[2]; kw++, row += out_size) {
                    const int64_t offw = kw * q.d[2] - q.p[2];
                    int64_t w_lo, w_hi;
                    valid_range(offw, sw, q.in[2], ow_n, &w_lo, &w_hi);
                    if (w_lo >= w_hi)
                        continue;
                    const int64_t n = w_hi - w_lo;
                    for (int64_t od = d_lo; od < d_hi; od++) {
                        const int64_t id = od * q.s[0] + offd;
                        for (int64_t oh = h_lo; oh < h_hi; oh++) {
                            const int64_t ih = oh * q.s[1] + offh;
                            const float *r = row + od * out_plane + oh * ow_n + w_lo;
                            float *dst = img + (id * q.in[1] + ih) * q.in[2] + w_lo * sw + offw;
                            if (sw == 1) {
                                for (int64_t j = 0; j < n; j++)
                                    dst[j] += r[j];
                            } else {
                                for (int64_t j = 0; j < n; j++)
                                    dst[j * sw] += r[j];
                            }
                        }
                    }
                }
            }
        }
    }
}
