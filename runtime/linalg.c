/* linalg.c — BLAS entry points (the only file that includes cblas.h), the runtime's
 * worker pool, and the convolution patch routines (im2col / col2im) shared by the Conv
 * kernels and GPTQ.
 *
 * Threads: ogq_linalg_set_threads() starts a small pool; ogq_parallel_for() hands tasks
 * to it. Large sgemms are split into one row or column block per thread, each a
 * single-threaded OpenBLAS call: measured on 2 cores this is as fast as OpenBLAS's own
 * threading on square-ish products and up to 1.6x faster on the narrow ones of
 * convolutions (e.g. 512x49x4608, 64x672x576).
 *
 * im2col works on the geometry promoted to 3 spatial axes (missing leading axes have
 * size 1, kernel 1, stride 1, no padding), so 1-D, 2-D and 3-D share one loop nest whose
 * innermost loop runs along the output width: for each kernel tap the range of output
 * columns that read inside the image is computed once, the rest is zero-filled, and the
 * in-range part is a memcpy (stride 1) or a strided gather. No divisions in the hot loop;
 * the loop nest is compiled for the baseline ISA and for AVX2. ogq_im2col_rows_f32 fills
 * a range of output rows into a block with any row stride, so Conv can tile the patch
 * matrix to stay in cache and put several images side by side.
 */
#include "linalg.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- worker pool */

/* The pool: `size` threads including the caller of ogq_parallel_for (workers have tids
 * 1..size-1). Idle workers spin briefly, then sleep on a condition variable. A job is
 * published by bumping `gen`; tasks are handed out with an atomic counter. While a job
 * runs OpenBLAS is set to one thread, so BLAS calls inside tasks run inline in the task's
 * thread (OpenBLAS's own threads would fight the pool for the cores). */
#define POOL_MAX 64
#define POOL_SPIN 20000 /* idle polls before sleeping (~20-50 us) */

static struct {
    int size;
    pthread_mutex_t mu;
    pthread_cond_t wake, idle;
    atomic_uint_fast64_t gen;
    atomic_int active; /* workers that have not finished the current job */
    atomic_int_fast64_t next;
    ogq_task_fn fn;
    void *arg;
    int64_t n_tasks;
    int max_tid;
} pool = {.size = 1,
          .mu = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .idle = PTHREAD_COND_INITIALIZER};

static _Thread_local bool in_task; /* nested parallel_for calls run inline */

static void cpu_relax(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_ia32_pause();
#endif
}

static void pool_run_tasks(int tid)
{
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
        if (i >= pool.n_tasks)
            return;
        pool.fn(pool.arg, i, tid);
    }
}

static void *pool_worker(void *p)
{
    const int tid = (int)(intptr_t)p;
    uint_fast64_t seen = 0;
    in_task = true;
    for (;;) {
        uint_fast64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen) {
            if (++spins < POOL_SPIN) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool.mu);
            while ((g = atomic_load(&pool.gen)) == seen)
                pthread_cond_wait(&pool.wake, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
            break;
        }
        seen = g;
        if (tid < pool.max_tid)
            pool_run_tasks(tid);
        if (atomic_fetch_sub(&pool.active, 1) == 1) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.idle);
            pthread_mutex_unlock(&pool.mu);
        }
    }
    return NULL;
}

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
    n = n > POOL_MAX ? POOL_MAX : n;
    openblas_set_num_threads(n);
    /* Workers are detached and live until the process exits; if one cannot be created
     * the pool just stays smaller. */
    int size = 1;
    for (; size < n; size++) {
        pthread_t t;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0)
            break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, pool_worker, (void *)(intptr_t)size);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
    }
    pool.size = size;
    in_effect = n;
    return n;
}

int ogq_parallel_threads(void)
{
    return in_task ? 1 : pool.size;
}

void ogq_parallel_for(int64_t n_tasks, int max_threads, ogq_task_fn fn, void *arg)
{
    int64_t t = pool.size < max_threads ? pool.size : max_threads;
    t = t < n_tasks ? t : n_tasks;
    if (t <= 1 || in_task) {
        for (int64_t i = 0; i < n_tasks; i++)
            fn(arg, i, 0);
        return;
    }
    openblas_set_num_threads(1);
    pool.fn = fn;
    pool.arg = arg;
    pool.n_tasks = n_tasks;
    pool.max_tid = (int)t;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.active, pool.size - 1);
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add(&pool.gen, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    in_task = true;
    pool_run_tasks(0);
    in_task = false;
    for (int spins = 0; atomic_load(&pool.active) > 0 && spins < POOL_SPIN; spins++)
        cpu_relax();
    pthread_mutex_lock(&pool.mu);
    while (atomic_load(&pool.active) > 0)
        pthread_cond_wait(&pool.idle, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    openblas_set_num_threads(pool.size);
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

static void blas_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

/* A product split into row or column blocks, one single-threaded sgemm per block. */
struct gemm_split {
    bool ta, tb, by_cols;
    int64_t m, n, k, chunk;
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
};

static void gemm_split_task(void *p, int64_t t, int tid)
{
    (void)tid;
    const struct gemm_split *g = p;
    int64_t lo = t * g->chunk, hi = lo + g->chunk;
    if (g->by_cols) { /* C[:, lo:hi] = op(A) op(B)[:, lo:hi] */
        hi = hi < g->n ? hi : g->n;
        blas_sgemm(g->ta, g->tb, g->m, hi - lo, g->k, g->alpha, g->a, g->lda,
                   g->b + (g->tb ? lo * g->ldb : lo), g->ldb, g->beta, g->c + lo, g->ldc);
    } else { /* C[lo:hi, :] = op(A)[lo:hi, :] op(B) */
        hi = hi < g->m ? hi : g->m;
        blas_sgemm(g->ta, g->tb, hi - lo, g->n, g->k, g->alpha, g->a + (g->ta ? lo : lo * g->lda),
                   g->lda, g->b, g->ldb, g->beta, g->c + lo * g->ldc, g->ldc);
    }
}

/* Products of at least this many multiply-adds are split over the pool: one block per
 * thread, so that every thread runs OpenBLAS's single-threaded kernel at full speed (its
 * own threading scales poorly on the narrow products of convolutions). */
#define SPLIT_MIN_MACS (1 << 20)
#define SPLIT_ALIGN 16

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
    const int t = ogq_parallel_threads();
    if (t > 1 && (double)m * (double)n * (double)k >= SPLIT_MIN_MACS) {
        /* Split the dimension whose blocks duplicate the smaller operand's packing: column
         * blocks all pack op(A) (M x K), row blocks all pack op(B) (K x N). */
        bool by_cols = m <= n;
        int64_t len = by_cols ? n : m;
        int64_t chunk = (len + t - 1) / t;
        chunk = (chunk + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
        if (chunk < len) {
            struct gemm_split g = {trans_a, trans_b, by_cols, m,   n,   k,   chunk, alpha,
                                   beta,    a,       b,       lda, ldb, ldc, c};
            ogq_parallel_for((len + chunk - 1) / chunk, t, gemm_split_task, &g);
            return;
        }
    }
    blas_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
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

OGQ_HOT void ogq_col2im_add_f32(const struct ogq_conv_geom *g, int64_t channels, const float *col,
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
