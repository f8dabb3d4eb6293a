/* test_act_calib.c — activation histograms and range calibration against direct references.
 *
 * Properties checked:
 *   - histogram: after many range doublings every bin count equals direct binning of the
 *     same values at the final range (bin found by searching the bin edges); counts sum to
 *     n; min/max exact; NaN/Inf counted and ignored; tiny first values survive huge later
 *     ones; values exactly at the old range edge;
 *   - minmax is the exact [min, max]; percentile is within one bin width of the sorted
 *     sample's quantile (x and |x|), and percentile 100 is exactly minmax;
 *   - mse: with rare huge outliers the range clips them and its MSE, measured on the raw
 *     samples, beats minmax and is close to a brute-force search over clip ranges; on
 *     uniform data the range stays near full;
 *   - entropy: N(0,1) int8 threshold between 2.5σ and max|x|, far below max with
 *     outliers; ReLU'd data gives lo == 0;
 *   - grid: scale / zero-point formulas, 0 exactly representable, and fake quant equal to
 *     a double reference of ONNX QuantizeLinear/DequantizeLinear (float division, round
 *     half to even, saturation) including exact ties;
 *   - method names round-trip; bad arguments are OGQ_ERR_USAGE.
 */
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "passes/act_calib.h"
#include "test_random.h"

#define NB OGQ_ACT_HIST_BINS
#define MSE_VS_BRUTE 1.05 /* histogram-chosen MSE range vs the best raw-sample grid point */
#define UNIFORM_KEEP 0.95 /* MSE range on uniform data keeps at least this much of it */
#define ENTROPY_LOW 2.5   /* N(0,1) entropy threshold lies above this many σ */
#define OUTLIER_CLIP 0.9  /* a clipping range ends below this fraction of the outlier */

/* ---------------------------------------------------------------- helpers */

static double urand(uint64_t *s) /* [0, 1) */
{
    return test_uniform(s);
}

static double grand(uint64_t *s) /* N(0, 1), Box-Muller */
{
    double u = 1.0 - urand(s), v = urand(s);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The bin of x at `range` by binary search over the edges −range + i·w (exact doubles). */
static int ref_bin(double x, double range)
{
    double w = 2.0 * range / NB;
    int lo = 0, hi = NB - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (-range + mid * w <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static double smallest_pow2_above(double a)
{
    double r = 1.0;
    while (r <= a)
        r *= 2.0;
    while (r / 2.0 > a)
        r /= 2.0;
    return r;
}

/* ONNX QuantizeLinear + DequantizeLinear written out in double: v = x / scale as a float
 * division, round half to even by hand, add zp, saturate, then (q − zp)·scale rounded to
 * float (the double product of two floats is exact, so one rounding, as in float). */
static float ref_fake_quant(const struct ogq_act_qparams *p, float x)
{
    if (isnan(x))
        return (float)((double)(p->qmin - p->zero_point) * p->scale); /* documented: qmin */
    double v = (double)(x / p->scale);
    double r = floor(v), f = v - r;
    if (f > 0.5 || (f == 0.5 && fmod(r, 2.0) != 0.0))
        r += 1.0;
    double q = r + p->zero_point;
    q = q < p->qmin ? p->qmin : (q > p->qmax ? p->qmax : q);
    return (float)((q - p->zero_point) * (double)p->scale);
}

static double raw_mse(const struct ogq_act_qparams *p, const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)ref_fake_quant(p, x[i]) - x[i];
        s += d * d;
    }
    return s / (double)n;
}

static void calibrate(const struct ogq_act_hist *h, enum ogq_act_calib_method m, double pct,
                      bool sym, struct ogq_act_qparams *p)
{
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_act_calibrate(h, m, pct, 8, sym, p, &err), OGQ_OK);
    CU_ASSERT(p->lo <= 0.0f && p->hi >= 0.0f && p->scale > 0.0f);
}

static void hist_of(struct ogq_act_hist *h, const float *x, int64_t n)
{
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_act_hist_init(h, &err), OGQ_OK);
    ogq_act_hist_add(h, x, n);
}

/* ---------------------------------------------------------------- histogram */

static void check_against_direct(const struct ogq_act_hist *h, const float *x, int64_t n)
{
    double *ref = calloc(NB, sizeof *ref), mn = INFINITY, mx = -INFINITY, amax = 0.0;
    int64_t finite = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            bad++;
            continue;
        }
        finite++;
        mn = fmin(mn, x[i]), mx = fmax(mx, x[i]), amax = fmax(amax, fabs(x[i]));
    }
    CU_ASSERT_EQUAL(h->n, finite);
    CU_ASSERT_EQUAL(h->nonfinite, bad);
    CU_ASSERT_EQUAL(h->min, mn);
    CU_ASSERT_EQUAL(h->max, mx);
    CU_ASSERT(h->range > amax && h->range <= 2.0 * amax);
    int64_t mism = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            ref[ref_bin(x[i], h->range)] += 1.0;
    double sum = 0.0;
    for (int b = 0; b < NB; b++) {
        mism += h->counts[b] != ref[b];
        sum += h->counts[b];
    }
    CU_ASSERT_EQUAL(mism, 0);
    CU_ASSERT_EQUAL(sum, (double)finite);
    free(ref);
}

static void test_hist_doubling_matches_direct_binning(void)
{
    /* Hand-picked: zeros before any range, first non-zero 0.3 (range 0.5), values exactly
     * at the current range (0.5, then 1, then -4 ...), signed zero, non-finite values. */
    const float head[] = {0.0f,  -0.0f,  0.3f,     -0.2f, NAN,   0.49f,     0.5f,
                          -0.5f, 1.0f,   INFINITY, -4.0f, 3.7f,  -INFINITY, 8.0f,
                          1e-3f, -1e-3f, 0.0f,     7.99f, -16.0f};
    const int64_t nh = (int64_t)(sizeof head / sizeof head[0]), n = 100000;
    float *x = malloc(sizeof *x * (size_t)(nh + n));
    memcpy(x, head, sizeof head);
    uint64_t s = 42;
    for (int64_t i = 0; i < n; i++) /* magnitudes growing to ~300: many more doublings */
        x[nh + i] = (float)((urand(&s) * 2.0 - 1.0) * pow(2.0, 8.0 * (double)i / (double)n) *
                            (i % 97 == 0 ? 1e-6 : 1.0));
    struct ogq_act_hist h;
    hist_of(&h, x, 0);
    CU_ASSERT_EQUAL(h.range, 0.0);
    /* Uneven batches, the first ones stopping right after awkward values. */
    int64_t cuts[] = {0, 1, 2, 3, 7, 9, 12, nh, nh + 1000, nh + 54321, nh + n};
    for (int k = 0; k + 1 < (int)(sizeof cuts / sizeof cuts[0]); k++) {
        ogq_act_hist_add(&h, x + cuts[k], cuts[k + 1] - cuts[k]);
        if (cuts[k + 1] == 3) /* 0.3 sets the first range */
            CU_ASSERT_EQUAL(h.range, 0.5);
    }
    check_against_direct(&h, x, nh + n);
    double amax = 0.0;
    for (int64_t i = 0; i < nh + n; i++)
        if (isfinite(x[i]))
            amax = fmax(amax, fabs(x[i]));
    CU_ASSERT_EQUAL(h.range, smallest_pow2_above(amax));
    CU_ASSERT_EQUAL(h.nonfinite, 3);
    ogq_act_hist_fini(&h);
    free(x);
}

static void test_hist_tiny_then_huge(void)
{
    /* A subnormal first value, then one ~2^100 times larger: ~230 doublings. */
    const float x[] = {1e-40f, -1e-40f, 0.0f, 3e30f, -2.5e30f, 1e-40f};
    struct ogq_act_hist h;
    hist_of(&h, x, 3);
    CU_ASSERT_EQUAL(h.range, smallest_pow2_above(1e-40f));
    check_against_direct(&h, x, 3);
    ogq_act_hist_add(&h, x + 3, 3);
    CU_ASSERT_EQUAL(h.range, smallest_pow2_above(3e30));
    CU_ASSERT_EQUAL(h.counts[NB / 2], 3.0); /* 1e-40 twice and 0 */
    CU_ASSERT_EQUAL(h.counts[NB / 2 - 1], 1.0);
    check_against_direct(&h, x, 6);
    ogq_act_hist_fini(&h);
}

/* ---------------------------------------------------------------- minmax, percentile */

static void test_minmax_and_degenerate(void)
{
    uint64_t s = 7;
    const int64_t n = 5000;
    float *x = malloc(sizeof *x * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(grand(&s) * 3.0 + 1.0);
    float mn = x[0], mx = x[0];
    for (int64_t i = 1; i < n; i++)
        mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
    struct ogq_act_hist h;
    struct ogq_act_qparams p;
    hist_of(&h, x, n);
    calibrate(&h, OGQ_ACT_MINMAX, 0, false, &p);
    CU_ASSERT_EQUAL(p.lo, mn);
    CU_ASSERT_EQUAL(p.hi, mx);
    CU_ASSERT_EQUAL(p.qmin, 0);
    CU_ASSERT_EQUAL(p.qmax, 255);
    calibrate(&h, OGQ_ACT_MINMAX, 0, true, &p);
    CU_ASSERT_EQUAL(p.lo, mn);
    CU_ASSERT_EQUAL(p.hi, mx);
    CU_ASSERT_EQUAL(p.scale, (float)(fmax(-(double)mn, mx) / 127.0));
    CU_ASSERT_EQUAL(p.zero_point, 0);
    /* Percentile 100 is minmax exactly (the outer bins are cut at the exact min/max). */
    calibrate(&h, OGQ_ACT_PERCENTILE, 100.0, false, &p);
    CU_ASSERT_EQUAL(p.lo, mn);
    CU_ASSERT_EQUAL(p.hi, mx);
    ogq_act_hist_fini(&h);
    /* Positive data: lo widened to 0, so zp = 0. */
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.0f + (float)urand(&s);
    hist_of(&h, x, n);
    calibrate(&h, OGQ_ACT_MINMAX, 0, false, &p);
    CU_ASSERT_EQUAL(p.lo, 0.0f);
    CU_ASSERT_EQUAL(p.zero_point, 0);
    ogq_act_hist_fini(&h);
    /* Empty and all-zero: [0, 1] for every method. */
    for (int k = 0; k < 2; k++) {
        memset(x, 0, sizeof *x * (size_t)n);
        hist_of(&h, x, k == 0 ? 0 : n);
        for (int m = OGQ_ACT_MINMAX; m <= OGQ_ACT_ENTROPY; m++) {
            calibrate(&h, (enum ogq_act_calib_method)m, 99.0, false, &p);
            CU_ASSERT_EQUAL(p.lo, 0.0f);
            CU_ASSERT_EQUAL(p.hi, 1.0f);
            CU_ASSERT_EQUAL(p.scale, 1.0f / 255.0f);
        }
        ogq_act_hist_fini(&h);
    }
    free(x);
}

/* The sample holding mass rank q·n: the ceil(q·n)-th smallest (1-based). */
static float sample_quantile(const float *sorted, int64_t n, double q)
{
    int64_t r = (int64_t)ceil(q * (double)n);
    r = r < 1 ? 1 : (r > n ? n : r);
    return sorted[r - 1];
}

static void check_percentiles(const float *x, int64_t n)
{
    float *sorted = malloc(sizeof *sorted * (size_t)n), *mag = malloc(sizeof *mag * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        sorted[i] = x[i], mag[i] = fabsf(x[i]);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_float);
    qsort(mag, (size_t)n, sizeof *mag, cmp_float);
    struct ogq_act_hist h;
    hist_of(&h, x, n);
    const double w = 2.0 * h.range / NB * (1.0 + 1e-9);
    const double pcts[] = {90.0, 99.0, 99.9, 99.99};
    for (int k = 0; k < 4; k++) {
        struct ogq_act_qparams p;
        double q = pcts[k] / 100.0;
        calibrate(&h, OGQ_ACT_PERCENTILE, pcts[k], false, &p);
        CU_ASSERT(fabs(p.lo - sample_quantile(sorted, n, 1.0 - q)) <= w);
        CU_ASSERT(fabs(p.hi - sample_quantile(sorted, n, q)) <= w);
        calibrate(&h, OGQ_ACT_PERCENTILE, pcts[k], true, &p);
        CU_ASSERT(fabs(p.hi - sample_quantile(mag, n, q)) <= w);
        CU_ASSERT_EQUAL(p.lo, -p.hi);
        CU_ASSERT_EQUAL(p.zero_point, 0);
    }
    ogq_act_hist_fini(&h);
    free(sorted), free(mag);
}

static void test_percentile_vs_sorted_sample(void)
{
    const int64_t n = 200000;
    uint64_t s = 99;
    float *x = malloc(sizeof *x * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(urand(&s) * 8.0 - 3.0); /* U(-3, 5) */
    check_percentiles(x, n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(grand(&s) * 2.0 + 0.5);
    check_percentiles(x, n);
    free(x);
}

/* ---------------------------------------------------------------- mse */

static void test_mse_clips_rare_outliers(void)
{
    const int64_t n = 1 << 18;
    uint64_t s = 2024;
    float *x = malloc(sizeof *x * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)grand(&s);
    x[1000] = 30.0f, x[77777] = -29.0f;
    struct ogq_act_hist h;
    hist_of(&h, x, n);
    for (int sym = 0; sym < 2; sym++) {
        struct ogq_act_qparams pm, pmse, pb;
        calibrate(&h, OGQ_ACT_MINMAX, 0, sym, &pm);
        calibrate(&h, OGQ_ACT_MSE, 0, sym, &pmse);
        CU_ASSERT(pmse.hi < OUTLIER_CLIP * 30.0f);
        CU_ASSERT(pmse.lo > -OUTLIER_CLIP * 29.0f);
        double e_mse = raw_mse(&pmse, x, n), e_mm = raw_mse(&pm, x, n);
        CU_ASSERT(e_mse <= e_mm);
        /* Brute force on the raw samples: T = k/60 of the full range (joint shrink). */
        double best = INFINITY;
        for (int k = 1; k <= 60; k++) {
            double a = k / 60.0;
            ogq_act_qparams_from_range(a * pm.lo, a * pm.hi, 8, sym, &pb);
            best = fmin(best, raw_mse(&pb, x, n));
        }
        CU_ASSERT(e_mse <= MSE_VS_BRUTE * best);
    }
    ogq_act_hist_fini(&h);
    /* Uniform data: nothing worth clipping. */
    const int64_t nu = 1 << 17;
    for (int64_t i = 0; i < nu; i++)
        x[i] = (float)(urand(&s) * 2.0 - 1.0);
    hist_of(&h, x, nu);
    for (int sym = 0; sym < 2; sym++) {
        struct ogq_act_qparams p;
        calibrate(&h, OGQ_ACT_MSE, 0, sym, &p);
        CU_ASSERT(p.hi - p.lo >= UNIFORM_KEEP * (h.max - h.min));
    }
    ogq_act_hist_fini(&h);
    /* Non-negative data with a rare outlier: lo stays 0, hi clips. */
    for (int64_t i = 0; i < n; i++)
        x[i] = fabsf((float)grand(&s));
    x[5] = 30.0f;
    hist_of(&h, x, n);
    struct ogq_act_qparams p;
    calibrate(&h, OGQ_ACT_MSE, 0, false, &p);
    CU_ASSERT_EQUAL(p.lo, 0.0f);
    CU_ASSERT_EQUAL(p.zero_point, 0);
    CU_ASSERT(p.hi < OUTLIER_CLIP * 30.0f);
    ogq_act_hist_fini(&h);
    free(x);
}

/* ---------------------------------------------------------------- entropy */

static void test_entropy_thresholds(void)
{
    const int64_t n = 1 << 18;
    uint64_t s = 5;
    float *x = malloc(sizeof *x * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)grand(&s);
    struct ogq_act_hist h;
    struct ogq_act_qparams p;
    hist_of(&h, x, n);
    double amax = fmax(-h.min, h.max);
    calibrate(&h, OGQ_ACT_ENTROPY, 0, true, &p);
    CU_ASSERT(p.hi > ENTROPY_LOW && p.hi < amax);
    CU_ASSERT_EQUAL(p.lo, -p.hi);
    /* Signed data on uint8: |x| with 128 levels, range cut to the data. */
    calibrate(&h, OGQ_ACT_ENTROPY, 0, false, &p);
    CU_ASSERT(p.lo < -ENTROPY_LOW && p.lo >= h.min);
    CU_ASSERT(p.hi > ENTROPY_LOW && p.hi <= h.max);
    ogq_act_hist_fini(&h);
    /* Two rare outliers: the threshold stays with the bulk. */
    x[10] = 30.0f, x[20] = -29.0f;
    hist_of(&h, x, n);
    calibrate(&h, OGQ_ACT_ENTROPY, 0, true, &p);
    CU_ASSERT(p.hi > ENTROPY_LOW && p.hi < 30.0f / 4.0f);
    ogq_act_hist_fini(&h);
    /* ReLU'd Gaussian on uint8: 256 levels on x, lo == 0. */
    for (int64_t i = 0; i < n; i++)
        x[i] = fmaxf(0.0f, (float)grand(&s));
    hist_of(&h, x, n);
    calibrate(&h, OGQ_ACT_ENTROPY, 0, false, &p);
    CU_ASSERT_EQUAL(p.lo, 0.0f);
    CU_ASSERT_EQUAL(p.zero_point, 0);
    CU_ASSERT(p.hi > ENTROPY_LOW && p.hi <= h.max);
    ogq_act_hist_fini(&h);
    free(x);
}

/* ---------------------------------------------------------------- grid, fake quant */

static void test_qparams_and_fake_quant(void)
{
    struct ogq_act_qparams p;
    ogq_act_qparams_from_range(-1.3, 2.7, 8, false, &p);
    CU_ASSERT_EQUAL(p.scale, (float)(4.0 / 255.0));
    CU_ASSERT_EQUAL(p.zero_point, (int32_t)rint(1.3 / (double)p.scale));
    CU_ASSERT_EQUAL(p.qmin, 0);
    CU_ASSERT_EQUAL(p.qmax, 255);
    float zero = 0.0f, y;
    ogq_act_fake_quant(&p, &zero, &y, 1);
    CU_ASSERT_EQUAL(y, 0.0f);
    /* Lo widened to contain 0. */
    ogq_act_qparams_from_range(0.5, 2.0, 8, false, &p);
    CU_ASSERT_EQUAL(p.lo, 0.0f);
    CU_ASSERT_EQUAL(p.zero_point, 0);
    ogq_act_qparams_from_range(-1.0, 2.7, 8, true, &p);
    CU_ASSERT_EQUAL(p.zero_point, 0);
    CU_ASSERT_EQUAL(p.scale, (float)(2.7 / 127.0));
    CU_ASSERT_EQUAL(p.qmin, -128);
    CU_ASSERT_EQUAL(p.qmax, 127);
    ogq_act_qparams_from_range(-1.0, 2.0, 4, true, &p);
    CU_ASSERT(p.qmin == -8 && p.qmax == 7 && p.scale == (float)(2.0 / 7.0));
    ogq_act_qparams_from_range(-1.0, 2.0, 4, false, &p);
    CU_ASSERT(p.qmin == 0 && p.qmax == 15 && p.scale == (float)(3.0 / 15.0) && p.zero_point == 5);
    ogq_act_qparams_from_range(0.0, 0.0, 8, false, &p);
    CU_ASSERT(p.hi == 1.0f && p.scale > 0.0f);

    /* Random values across and beyond several grids, against the double reference. */
    uint64_t s = 11;
    const double ranges[][2] = {{-1.3, 2.7}, {0.0, 6.0}, {-0.01, 0.003}, {-100.0, 0.0}};
    enum { N = 20000 };
    float *x = malloc(sizeof *x * N), *yq = malloc(sizeof *yq * N), *d = malloc(sizeof *d * N);
    for (int r = 0; r < 4; r++)
        for (int sym = 0; sym < 2; sym++)
            for (int bits = 4; bits <= 8; bits += 4) {
                ogq_act_qparams_from_range(ranges[r][0], ranges[r][1], bits, sym, &p);
                double span = ranges[r][1] - ranges[r][0];
                int ties = 0;
                for (int i = 0; i < N; i++) {
                    if (i % 4 == 0) { /* exact ties k + 1/2 where float division keeps them */
                        int k =
                            (int)(urand(&s) * (p.qmax - p.qmin + 6)) + p.qmin - 3 - p.zero_point;
                        x[i] = (float)((k + 0.5) * (double)p.scale);
                        ties += x[i] / p.scale == (float)(k + 0.5);
                    } else {
                        x[i] = (float)((urand(&s) * 1.6 - 0.3) * span + ranges[r][0]);
                    }
                }
                ogq_act_fake_quant(&p, x, yq, N);
                ogq_act_quant_delta(&p, x, d, N);
                int bad = 0, bad_d = 0;
                for (int i = 0; i < N; i++) {
                    bad += yq[i] != ref_fake_quant(&p, x[i]);
                    bad_d += d[i] != yq[i] - x[i];
                }
                CU_ASSERT_EQUAL(bad, 0);
                CU_ASSERT_EQUAL(bad_d, 0);
                CU_ASSERT(ties > N / 8);
                /* In place (y aliases x). */
                float keep = x[3];
                ogq_act_fake_quant(&p, x, x, N);
                CU_ASSERT_EQUAL(x[3], ref_fake_quant(&p, keep));
            }
    free(x), free(yq), free(d);

    /* Hand-checked ties with a power-of-two scale: 2.5 → 2, 3.5 → 4, -2.5 → -2. */
    struct ogq_act_qparams t = {.bits = 8,
                                .sym = true,
                                .lo = -16,
                                .hi = 16,
                                .scale = 0.125f,
                                .zero_point = 0,
                                .qmin = -128,
                                .qmax = 127};
    float in[] = {2.5f * 0.125f, 3.5f * 0.125f, -2.5f * 0.125f, 1000.0f, -1000.0f, INFINITY,
                  -INFINITY,     NAN,           -0.0f};
    float want[] = {0.25f,        0.5f,          -0.25f,        127 * 0.125f, -128 * 0.125f,
                    127 * 0.125f, -128 * 0.125f, -128 * 0.125f, 0.0f};
    float out[9];
    ogq_act_fake_quant(&t, in, out, 9);
    for (int i = 0; i < 9; i++)
        CU_ASSERT_EQUAL(out[i], want[i]);
    /* uint8 with zp 10: saturation at both ends, tie 0.5 + zp stays even. */
    t = (struct ogq_act_qparams){
        .bits = 8, .scale = 0.5f, .zero_point = 10, .qmin = 0, .qmax = 255};
    float in2[] = {-100.0f, 200.0f, 0.25f, 0.75f};
    float want2[] = {-5.0f, 122.5f, 0.0f, 1.0f}; /* 0.5 → 0, 1.5 → 2 (even) */
    ogq_act_fake_quant(&t, in2, out, 4);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(out[i], want2[i]);
}

/* ---------------------------------------------------------------- names, arguments */

static void test_names_and_bad_arguments(void)
{
    for (int m = OGQ_ACT_MINMAX; m <= OGQ_ACT_ENTROPY; m++) {
        enum ogq_act_calib_method back = OGQ_ACT_MINMAX;
        const char *name = ogq_act_calib_method_name((enum ogq_act_calib_method)m);
        CU_ASSERT(ogq_act_calib_method_parse(name, &back));
        CU_ASSERT_EQUAL((int)back, m);
    }
    CU_ASSERT_STRING_EQUAL(ogq_act_calib_method_name(OGQ_ACT_ENTROPY), "entropy");
    CU_ASSERT_STRING_EQUAL(ogq_act_calib_method_name(OGQ_ACT_PERCENTILE), "percentile");
    enum ogq_act_calib_method m;
    CU_ASSERT_FALSE(ogq_act_calib_method_parse("MSE", &m));
    CU_ASSERT_FALSE(ogq_act_calib_method_parse("", &m));
    CU_ASSERT_FALSE(ogq_act_calib_method_parse(NULL, &m));

    float x[] = {-1.0f, 0.5f, 2.0f};
    struct ogq_act_hist h;
    struct ogq_act_qparams p;
    struct ogq_error err;
    hist_of(&h, x, 3);
    const double bad_pct[] = {0.0, -1.0, 100.5, NAN};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(ogq_act_calibrate(&h, OGQ_ACT_PERCENTILE, bad_pct[i], 8, false, &p, &err),
                        OGQ_ERR_USAGE);
    CU_ASSERT_EQUAL(ogq_act_calibrate(&h, OGQ_ACT_PERCENTILE, 100.0, 8, false, &p, &err), OGQ_OK);
    CU_ASSERT_EQUAL(ogq_act_calibrate(&h, OGQ_ACT_MINMAX, 0, 1, false, &p, &err), OGQ_ERR_USAGE);
    CU_ASSERT_EQUAL(ogq_act_calibrate(&h, OGQ_ACT_MINMAX, 0, 9, true, &p, &err), OGQ_ERR_USAGE);
    CU_ASSERT_EQUAL(ogq_act_calibrate(&h, (enum ogq_act_calib_method)7, 0, 8, true, &p, &err),
                    OGQ_ERR_USAGE);
    CU_ASSERT_EQUAL(ogq_act_calibrate(&h, OGQ_ACT_MSE, 0, 2, true, &p, &err), OGQ_OK);
    CU_ASSERT(p.qmin == -2 && p.qmax == 1);
    ogq_act_hist_fini(&h);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("act_calib", NULL, NULL);
    CU_add_test(s, "histogram doubling == direct binning",
                test_hist_doubling_matches_direct_binning);
    CU_add_test(s, "histogram: subnormal then huge values", test_hist_tiny_then_huge);
    CU_add_test(s, "minmax exact, empty and all-zero", test_minmax_and_degenerate);
    CU_add_test(s, "percentile vs sorted sample", test_percentile_vs_sorted_sample);
    CU_add_test(s, "mse clips rare outliers, keeps uniform", test_mse_clips_rare_outliers);
    CU_add_test(s, "entropy thresholds", test_entropy_thresholds);
    CU_add_test(s, "qparams and ONNX fake quant", test_qparams_and_fake_quant);
    CU_add_test(s, "names and bad arguments", test_names_and_bad_arguments);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
