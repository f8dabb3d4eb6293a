/* layer_moments.c — weighted second moments of (student input a, activation-quantization
 * error d, teacher input x) of one layer, and the layer loss evaluated from them.
 *
 * Accumulation: rows are packed a chunk at a time into float buffers laid out for BLAS
 * (augmented with the constant coordinate: 1 for a and x, 0 for d), each product of the
 * chunk is one float ssyrk / sgemm into a k×k float buffer, and that buffer is added,
 * times the call's row weight, into the double matrices. Chunks are at most
 * OGQ_MOMENTS_CHUNK rows (fewer for very wide layers, to bound the scratch), so every
 * float sum has at most that many terms. When x is the same array as a (a layer whose
 * input no earlier quantized layer changed) the a aᵀ product is reused for a xᵀ and
 * x xᵀ, which also makes the three moments exactly consistent (loss of Ŵ = W is 0).
 *
 * Loss: expanded as tr(Ŵ S_t̃t̃ Ŵᵀ) − 2 tr(Ŵ S_t̃x Wᵀ) + tr(W Sxx Wᵀ) over augmented
 * weights, entirely in double: for a block of weight rows, Y = Ŵ S is built panel by panel
 * of S with a register-tiled kernel (each element summed over S's rows in order, so it
 * vectorises without reassociation) and then dotted with the rows of Ŵ or W. Row blocks
 * run on the worker pool and are summed in a fixed order (the value does not depend on the
 * thread count). No clamping: round-off can make a near-zero loss slightly negative and
 * that is returned as is.
 */
#include "layer_moments.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/linalg.h"
#include "runtime/linalg_lapack.h"

/* Float elements per packed input buffer (a, d or x chunk); bounds the chunk for wide
 * layers. */
#define MOMENTS_PACK_FLOATS ((int64_t)1 << 22)
#define MOMENTS_MIN_CHUNK 256
/* Loss evaluation: weight rows per task (each task sweeps S once), rows of S per panel,
 * and the register tile of the panel product. */
#define LOSS_TASK_ROWS 32
#define LOSS_PANEL 64
#define LOSS_TILE_ROWS 4 /* panel_impl's register tile is 4 rows × 8 columns */

void ogq_moments_fini(struct ogq_layer_moments *m)
{
    free(m->aa);
    free(m->ad);
    free(m->dd);
    free(m->ax);
    free(m->dx);
    free(m->xx);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}

enum ogq_status ogq_moments_init(struct ogq_layer_moments *m, int64_t k, bool augment,
                                 bool has_delta, struct ogq_error *err)
{
    memset(m, 0, sizeof *m);
    if (k <= 0)
        return ogq_error_set(err, OGQ_ERR_USAGE, "layer moments: bad input width %lld",
                             (long long)k);
    m->k = k;
    m->ka = k + (augment ? 1 : 0);
    m->augment = augment;
    m->has_delta = has_delta;
    size_t n = (size_t)(m->ka * m->ka);
    m->aa = calloc(n, sizeof *m->aa);
    m->ax = calloc(n, sizeof *m->ax);
    m->xx = calloc(n, sizeof *m->xx);
    if (has_delta) {
        m->ad = calloc(n, sizeof *m->ad);
        m->dd = calloc(n, sizeof *m->dd);
        m->dx = calloc(n, sizeof *m->dx);
    }
    if (!m->aa || !m->ax || !m->xx || (has_delta && (!m->ad || !m->dd || !m->dx))) {
        ogq_moments_fini(m);
        return ogq_error_set(err, OGQ_ERR_NOMEM, "out of memory for %lld x %lld layer moments",
                             (long long)(k + augment), (long long)(k + augment));
    }
    return OGQ_OK;
}

/* Rows per chunk for this width. */
static int64_t chunk_rows(const struct ogq_layer_moments *m)
{
    int64_t len = MOMENTS_PACK_FLOATS / m->ka;
    if (len < MOMENTS_MIN_CHUNK)
        len = MOMENTS_MIN_CHUNK;
    return len < OGQ_MOMENTS_CHUNK ? len : OGQ_MOMENTS_CHUNK;
}

/* Scratch: packed a, d, x chunks of `len` rows and one ka×ka float product. */
static enum ogq_status ensure_scratch(struct ogq_layer_moments *m, int64_t len,
                                      struct ogq_error *err)
{
    int64_t need = 3 * len * m->ka + m->ka * m->ka;
    if (need <= m->scratch_cap)
        return OGQ_OK;
    float *s = realloc(m->scratch, (size_t)need * sizeof *s);
    if (!s)
        return OGQ_NOMEM(err);
    m->scratch = s;
    m->scratch_cap = need;
    return OGQ_OK;
}

/* dst += w · P for a product whose lower triangle only was computed (ssyrk). */
static void merge_lower(double *dst, const float *p, int64_t ka, double w)
{
    for (int64_t i = 0; i < ka; i++)
        for (int64_t j = 0; j <= i; j++) {
            double v = w * (double)p[i * ka + j];
            dst[i * ka + j] += v;
            if (j != i)
                dst[j * ka + i] += v;
        }
}

static void merge_general(double *dst, const float *p, int64_t ka, double w)
{
    for (int64_t i = 0; i < ka * ka; i++)
        dst[i] += w * (double)p[i];
}

/* dst += w · (P + Pᵀ): the symmetrized a dᵀ. */
static void merge_symmetrized(double *dst, const float *p, int64_t ka, double w)
{
    for (int64_t i = 0; i < ka; i++)
        for (int64_t j = 0; j < ka; j++)
            dst[i * ka + j] += w * ((double)p[i * ka + j] + (double)p[j * ka + i]);
}

/* Products of one packed chunk. Row layout (`cols` false): buffers are [len, ka] and the
 * moments are Aᵀ B; column layout: buffers are [ka, len] and the moments are A Bᵀ. */
static void chunk_products(struct ogq_layer_moments *m, const float *pa, const float *pd,
                           const float *px, float *p, int64_t len, bool cols, bool x_is_a, double w)
{
    const int64_t ka = m->ka;
    bool ta = !cols, tb = cols; /* op(A)·op(B) = Aᵀ B (rows) or A Bᵀ (cols) */
    int64_t ld = cols ? len : ka;

    if (cols)
        ogq_ssyrk_lower_n(ka, len, 1.0f, pa, ld, 0.0f, p);
    else
        ogq_ssyrk_lower_t(ka, len, 1.0f, pa, 0.0f, p);
    merge_lower(m->aa, p, ka, w);
    if (x_is_a) {
        merge_lower(m->ax, p, ka, w);
        merge_lower(m->xx, p, ka, w);
    } else {
        ogq_sgemm(ta, tb, ka, ka, len, 1.0f, pa, ld, px, ld, 0.0f, p, ka);
        merge_general(m->ax, p, ka, w);
        if (cols)
            ogq_ssyrk_lower_n(ka, len, 1.0f, px, ld, 0.0f, p);
        else
            ogq_ssyrk_lower_t(ka, len, 1.0f, px, 0.0f, p);
        merge_lower(m->xx, p, ka, w);
    }
    if (!m->has_delta)
        return;
    if (cols)
        ogq_ssyrk_lower_n(ka, len, 1.0f, pd, ld, 0.0f, p);
    else
        ogq_ssyrk_lower_t(ka, len, 1.0f, pd, 0.0f, p);
    merge_lower(m->dd, p, ka, w);
    ogq_sgemm(ta, tb, ka, ka, len, 1.0f, pa, ld, pd, ld, 0.0f, p, ka);
    merge_symmetrized(m->ad, p, ka, w);
    ogq_sgemm(ta, tb, ka, ka, len, 1.0f, pd, ld, px, ld, 0.0f, p, ka);
    merge_general(m->dx, p, ka, w);
}

static enum ogq_status check_add(const struct ogq_layer_moments *m, const float *d, int64_t n,
                                 int64_t ld, int64_t min_ld, double w, struct ogq_error *err)
{
    if (n < 0 || ld < min_ld || !(w >= 0.0) || isinf(w))
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "layer moments: bad rows (n %lld, stride %lld, need >= %lld, "
                             "weight %g)",
                             (long long)n, (long long)ld, (long long)min_ld, w);
    if ((d != NULL) != m->has_delta)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "layer moments: activation-quantization error %s but the moments "
                             "were created %s it",
                             d ? "given" : "missing", m->has_delta ? "with" : "without");
    return OGQ_OK;
}

enum ogq_status ogq_moments_add_rows(struct ogq_layer_moments *m, const float *a, const float *d,
                                     const float *x, int64_t n, int64_t ld, double w,
                                     struct ogq_error *err)
{
    OGQ_TRY(check_add(m, d, n, ld, m->k, w, err));
    if (n == 0 || w == 0.0)
        return OGQ_OK;
    const int64_t k = m->k, ka = m->ka, max_len = chunk_rows(m);
    int64_t len_cap = n < max_len ? n : max_len;
    OGQ_TRY(ensure_scratch(m, len_cap, err));
    float *pa = m->scratch, *pd = pa + len_cap * ka, *px = pd + len_cap * ka;
    float *prod = px + len_cap * ka;
    bool x_is_a = (x == a);
    for (int64_t r0 = 0; r0 < n; r0 += max_len) {
        int64_t len = n - r0 < max_len ? n - r0 : max_len;
        for (int64_t i = 0; i < len; i++) {
            const int64_t src = (r0 + i) * ld, dst = i * ka;
            memcpy(pa + dst, a + src, (size_t)k * sizeof *pa);
            if (!x_is_a)
                memcpy(px + dst, x + src, (size_t)k * sizeof *px);
            if (d)
                memcpy(pd + dst, d + src, (size_t)k * sizeof *pd);
            if (m->augment) {
                pa[dst + k] = 1.0f;
                px[dst + k] = 1.0f;
                pd[dst + k] = 0.0f;
            }
        }
        chunk_products(m, pa, pd, x_is_a ? pa : px, prod, len, false, x_is_a, w);
    }
    m->weight += w * (double)n;
    return OGQ_OK;
}

enum ogq_status ogq_moments_add_cols(struct ogq_layer_moments *m, const float *at, const float *dt,
                                     const float *xt, int64_t n, int64_t ld, double w,
                                     struct ogq_error *err)
{
    OGQ_TRY(check_add(m, dt, n, ld, n, w, err));
    if (n == 0 || w == 0.0)
        return OGQ_OK;
    const int64_t k = m->k, ka = m->ka, max_len = chunk_rows(m);
    int64_t len_cap = n < max_len ? n : max_len;
    OGQ_TRY(ensure_scratch(m, len_cap, err));
    float *pa = m->scratch, *pd = pa + len_cap * ka, *px = pd + len_cap * ka;
    float *prod = px + len_cap * ka;
    bool x_is_a = (xt == at);
    for (int64_t c0 = 0; c0 < n; c0 += max_len) {
        int64_t len = n - c0 < max_len ? n - c0 : max_len;
        /* Packed [ka, len]: row i holds feature i of the chunk's samples. */
        for (int64_t i = 0; i < k; i++) {
            const int64_t src = i * ld + c0, dst = i * len;
            memcpy(pa + dst, at + src, (size_t)len * sizeof *pa);
            if (!x_is_a)
                memcpy(px + dst, xt + src, (size_t)len * sizeof *px);
            if (dt)
                memcpy(pd + dst, dt + src, (size_t)len * sizeof *pd);
        }
        if (m->augment)
            for (int64_t j = 0; j < len; j++) {
                pa[k * len + j] = 1.0f;
                px[k * len + j] = 1.0f;
                pd[k * len + j] = 0.0f;
            }
        chunk_products(m, pa, pd, x_is_a ? pa : px, prod, len, true, x_is_a, w);
    }
    m->weight += w * (double)n;
    return OGQ_OK;
}

/* ------------------------------------------------------------------------------ loss */

/* Y[4, ka] += X[4, c0:c0+cp] · S[c0:c0+cp, :] for the panel s = S[c0:, :] (row stride
 * ka), X rows with stride ka. Each Y element is accumulated over c in increasing order (so
 * the result does not depend on the panel or tile sizes, nor on the ISA clone: no fused
 * multiply-add); a 4×8 tile of Y stays in eight 4-double vector registers across the
 * panel. */
typedef double loss_v4 __attribute__((vector_size(32)));

/* Unaligned vector load / store (macros: a function returning a vector would change the
 * ABI between the baseline and AVX2 clones). */
#define V4_LOAD(v, p) memcpy(&(v), (p), sizeof(loss_v4))
#define V4_STORE(p, v) memcpy((p), &(v), sizeof(loss_v4))

static inline OGQ_INLINE void panel_impl(int64_t ka, int64_t cp, const double *restrict x,
                                         const double *restrict s, double *restrict y)
{
    int64_t j0 = 0;
    for (; j0 + 8 <= ka; j0 += 8) {
        double *y0 = y + j0, *y1 = y0 + ka, *y2 = y1 + ka, *y3 = y2 + ka;
        loss_v4 a00, a01, a10, a11, a20, a21, a30, a31;
        V4_LOAD(a00, y0);
        V4_LOAD(a01, y0 + 4);
        V4_LOAD(a10, y1);
        V4_LOAD(a11, y1 + 4);
        V4_LOAD(a20, y2);
        V4_LOAD(a21, y2 + 4);
        V4_LOAD(a30, y3);
        V4_LOAD(a31, y3 + 4);
        for (int64_t c = 0; c < cp; c++) {
            loss_v4 s0, s1;
            V4_LOAD(s0, s + c * ka + j0);
            V4_LOAD(s1, s + c * ka + j0 + 4);
            const double x0 = x[c], x1 = x[ka + c], x2 = x[2 * ka + c], x3 = x[3 * ka + c];
            const loss_v4 b0 = {x0, x0, x0, x0}, b1 = {x1, x1, x1, x1};
            const loss_v4 b2 = {x2, x2, x2, x2}, b3 = {x3, x3, x3, x3};
            a00 += b0 * s0;
            a01 += b0 * s1;
            a10 += b1 * s0;
            a11 += b1 * s1;
            a20 += b2 * s0;
            a21 += b2 * s1;
            a30 += b3 * s0;
            a31 += b3 * s1;
        }
        V4_STORE(y0, a00);
        V4_STORE(y0 + 4, a01);
        V4_STORE(y1, a10);
        V4_STORE(y1 + 4, a11);
        V4_STORE(y2, a20);
        V4_STORE(y2 + 4, a21);
        V4_STORE(y3, a30);
        V4_STORE(y3 + 4, a31);
    }
    for (; j0 < ka; j0++)
        for (int b = 0; b < LOSS_TILE_ROWS; b++) {
            double acc = y[b * ka + j0];
            for (int64_t c = 0; c < cp; c++)
                acc += x[b * ka + c] * s[c * ka + j0];
            y[b * ka + j0] = acc;
        }
}

OGQ_HOT static void panel_base(int64_t ka, int64_t cp, const double *x, const double *s, double *y)
{
    panel_impl(ka, cp, x, s, y);
}
#if OGQ_HAVE_AVX2_CLONES
OGQ_HOT_AVX2 static void panel_avx2(int64_t ka, int64_t cp, const double *x, const double *s,
                                    double *y)
{
    panel_impl(ka, cp, x, s, y);
}
#endif

static void panel(int64_t ka, int64_t cp, const double *x, const double *s, double *y)
{
#if OGQ_HAVE_AVX2_CLONES
    if (ogq_cpu_has_avx2()) {
        panel_avx2(ka, cp, x, s, y);
        return;
    }
#endif
    panel_base(ka, cp, x, s, y);
}

static double dot(int64_t n, const double *x, const double *y)
{
    double s = 0.0;
    for (int64_t j = 0; j < n; j++)
        s += x[j] * y[j];
    return s;
}

/* Augmented row r of a weight (bias as the last coordinate, 0 when b is NULL). */
static void load_row(const struct ogq_layer_moments *m, const float *w, const float *b, int64_t r,
                     double *out)
{
    for (int64_t j = 0; j < m->k; j++)
        out[j] = (double)w[r * m->k + j];
    if (m->augment)
        out[m->k] = b ? (double)b[r] : 0.0;
}

struct quad_job {
    const struct ogq_layer_moments *m;
    const float *w_hat, *b_hat, *w, *b;
    int64_t rows;
    double q;
    double *partial; /* per task */
};

/* Rows [task·LOSS_TASK_ROWS, ...) of the quadratic forms: Ŵ S_t̃t̃, Ŵ S_t̃x and W Sxx are
 * built panel by panel of S (rows of S_t̃t̃ and S_t̃x combined for q per panel), then
 * dotted with the rows. */
static void quad_task(void *arg, int64_t task, int tid)
{
    (void)tid;
    struct quad_job *jb = arg;
    const struct ogq_layer_moments *m = jb->m;
    const int64_t ka = m->ka, r0 = task * LOSS_TASK_ROWS;
    const int64_t nr = jb->rows - r0 < LOSS_TASK_ROWS ? jb->rows - r0 : LOSS_TASK_ROWS;
    const int64_t nr_pad = (nr + LOSS_TILE_ROWS - 1) / LOSS_TILE_ROWS * LOSS_TILE_ROWS;
    const bool delta = m->has_delta && jb->q != 0.0, student = jb->w_hat != NULL;
    const double q = jb->q;
    /* hat, tch, ytt, ytx, yxx [nr_pad, ka], then panels of S_t̃t̃ and S_t̃x [LOSS_PANEL, ka]. */
    double *buf = calloc((size_t)((5 * nr_pad + 2 * LOSS_PANEL) * ka), sizeof *buf);
    if (!buf) {
        jb->partial[task] = NAN;
        return;
    }
    double *hat = buf, *tch = hat + nr_pad * ka, *ytt = tch + nr_pad * ka;
    double *ytx = ytt + nr_pad * ka, *yxx = ytx + nr_pad * ka;
    double *ptt = yxx + nr_pad * ka, *ptx = ptt + LOSS_PANEL * ka;
    for (int64_t i = 0; i < nr; i++) {
        if (student)
            load_row(m, jb->w_hat, jb->b_hat, r0 + i, hat + i * ka);
        load_row(m, jb->w, jb->b, r0 + i, tch + i * ka);
    }
    for (int64_t c0 = 0; c0 < ka; c0 += LOSS_PANEL) {
        const int64_t cp = ka - c0 < LOSS_PANEL ? ka - c0 : LOSS_PANEL;
        const double *stt = m->aa + c0 * ka, *stx = m->ax + c0 * ka;
        if (student && delta) {
            const double *aa = m->aa + c0 * ka, *ad = m->ad + c0 * ka, *dd = m->dd + c0 * ka;
            const double *ax = m->ax + c0 * ka, *dx = m->dx + c0 * ka;
            for (int64_t j = 0; j < cp * ka; j++) {
                ptt[j] = aa[j] + q * ad[j] + q * q * dd[j];
                ptx[j] = ax[j] + q * dx[j];
            }
            stt = ptt;
            stx = ptx;
        }
        for (int64_t i = 0; i < nr_pad; i += LOSS_TILE_ROWS) {
            panel(ka, cp, tch + i * ka + c0, m->xx + c0 * ka, yxx + i * ka);
            if (student) {
                panel(ka, cp, hat + i * ka + c0, stt, ytt + i * ka);
                panel(ka, cp, hat + i * ka + c0, stx, ytx + i * ka);
            }
        }
    }
    double total = 0.0;
    for (int64_t i = 0; i < nr; i++) {
        const double *t = tch + i * ka;
        total += dot(ka, t, yxx + i * ka);
        if (student)
            total += dot(ka, hat + i * ka, ytt + i * ka) - 2.0 * dot(ka, ytx + i * ka, t);
    }
    jb->partial[task] = total;
    free(buf);
}

/* Σ over rows of ŵᵀ S_t̃t̃ ŵ − 2 ŵᵀ S_t̃x w + wᵀ Sxx w (student terms only when w_hat),
 * unnormalised; row blocks on the worker pool, summed in block order (the result does not
 * depend on the thread count). NAN if out of memory. */
static double quad_sum(const struct ogq_layer_moments *m, const float *w_hat, const float *b_hat,
                       const float *w, const float *b, int64_t rows, double q)
{
    const int64_t tasks = (rows + LOSS_TASK_ROWS - 1) / LOSS_TASK_ROWS;
    struct quad_job jb = {
        .m = m, .w_hat = w_hat, .b_hat = b_hat, .w = w, .b = b, .rows = rows, .q = q};
    jb.partial = malloc((size_t)(tasks > 0 ? tasks : 1) * sizeof *jb.partial);
    if (!jb.partial)
        return NAN;
    ogq_parallel_for(tasks, ogq_parallel_threads(), quad_task, &jb);
    double total = 0.0;
    for (int64_t t = 0; t < tasks; t++)
        total += jb.partial[t];
    free(jb.partial);
    return total;
}

double ogq_moments_loss(const struct ogq_layer_moments *m, const float *w_hat, const float *b_hat,
                        const float *w, const float *b, int64_t rows, double q)
{
    if (!m->augment && (b_hat || b))
        return NAN; /* a bias needs the constant coordinate: a caller bug, made visible */
    if (m->weight <= 0.0)
        return 0.0;
    return quad_sum(m, w_hat, b_hat, w, b, rows, q) / m->weight;
}

double ogq_moments_teacher_energy(const struct ogq_layer_moments *m, const float *w, const float *b,
                                  int64_t rows)
{
    if (!m->augment && b)
        return NAN;
    if (m->weight <= 0.0)
        return 0.0;
    return quad_sum(m, NULL, NULL, w, b, rows, 1.0) / m->weight;
}

void ogq_moments_at(const struct ogq_layer_moments *m, double q, float *stt_out, float *stx_out)
{
    const int64_t n = m->ka * m->ka;
    const double inv = m->weight > 0.0 ? 1.0 / m->weight : 0.0;
    const bool delta = m->has_delta && q != 0.0;
    for (int64_t i = 0; i < n; i++) {
        double tt = m->aa[i], tx = m->ax[i];
        if (delta) {
            tt += q * m->ad[i] + q * q * m->dd[i];
            tx += q * m->dx[i];
        }
        stt_out[i] = (float)(tt * inv);
        stx_out[i] = (float)(tx * inv);
    }
}
