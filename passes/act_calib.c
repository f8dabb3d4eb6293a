/* act_calib.c — activation histograms and clip-range calibration (see act_calib.h).
 *
 * Histogram: B = OGQ_ACT_HIST_BINS bins of width w = 2·range/B over [-range, range); bin i
 * holds [(i − B/2)·w, (i − B/2 + 1)·w). range is a power of two, so x/w is exact in double
 * and the bin of x is floor(x/w) + B/2 with no rounding. It is set from the first non-zero
 * |x| as the smallest power of two above it (the data then spans at least half of
 * [0, range)), and doubled while |x| >= range: new bin B/4 + k = old bins 2k and 2k + 1,
 * so counts move whole and stay exact. Zero always falls in bin B/2, whatever the range,
 * which is why zeros seen before the range is known need no special storage.
 *
 * Calibration reads the histogram as a piecewise-uniform density whose outermost pieces
 * are cut to the exact [min, max]. All of it is double precision; only the final grid
 * (scale, zero point) is float/int, and every candidate range is scored on the grid that
 * ogq_act_qparams_from_range would really produce for it.
 */
#include "act_calib.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NB OGQ_ACT_HIST_BINS
#define HALF (NB / 2)

#define KL_BINS 2048  /* TensorRT's reference histogram size */
#define KL_EPS 1e-4   /* count given to an empty Q bin where P > 0 (as MXNet / ORT) */
#define MSE_STEPS 200 /* grid of clip factors α from 1 down to MSE_MIN_ALPHA */
#define MSE_MIN_ALPHA 0.01
#define MSE_REFINE 20 /* sub-steps of the local refinement around the best α */
#define MSE_ROUNDS 2  /* coordinate-descent rounds for signed asymmetric data */

/* ---------------------------------------------------------------- histogram */

enum ogq_status ogq_act_hist_init(struct ogq_act_hist *h, struct ogq_error *err)
{
    memset(h, 0, sizeof *h);
    h->counts = calloc(NB, sizeof *h->counts);
    if (!h->counts)
        return ogq_error_set(err, OGQ_ERR_NOMEM, "out of memory for a %d-bin activation histogram",
                             NB);
    return OGQ_OK;
}

void ogq_act_hist_fini(struct ogq_act_hist *h)
{
    free(h->counts);
    memset(h, 0, sizeof *h);
}

/* Doubles the range in place: new bin B/4 + k = old 2k + 2k+1. The upper half is written
 * upwards and the lower half downwards so no old bin is overwritten before it is read. */
static void hist_double(struct ogq_act_hist *h)
{
    double *c = h->counts;
    for (int j = HALF; j < 3 * NB / 4; j++)
        c[j] = c[2 * j - HALF] + c[2 * j - HALF + 1];
    for (int j = HALF - 1; j >= NB / 4; j--)
        c[j] = c[2 * j - HALF] + c[2 * j - HALF + 1];
    memset(c, 0, sizeof *c * (NB / 4));
    memset(c + 3 * NB / 4, 0, sizeof *c * (NB / 4));
    h->range *= 2.0;
}

/* Makes range > a (a > 0, finite). */
static void hist_cover(struct ogq_act_hist *h, double a)
{
    if (h->range == 0.0) {
        int e;
        frexp(a, &e); /* a = m·2^e, m in [0.5, 1): 2^(e-1) <= a < 2^e */
        h->range = ldexp(1.0, e);
        return;
    }
    while (a >= h->range)
        hist_double(h);
}

void ogq_act_hist_add(struct ogq_act_hist *h, const float *x, int64_t n)
{
    double inv_w = h->range > 0.0 ? HALF / h->range : 0.0; /* a power of two: exact */
    for (int64_t i = 0; i < n; i++) {
        double v = x[i], a = fabs(v);
        if (!isfinite(v)) {
            h->nonfinite++;
            continue;
        }
        if (h->n == 0) {
            h->min = h->max = v;
        } else {
            h->min = v < h->min ? v : h->min;
            h->max = v > h->max ? v : h->max;
        }
        h->n++;
        if (a >= h->range) {
            if (a == 0.0) { /* no range yet: zero is bin B/2 at every range */
                h->counts[HALF] += 1.0;
                continue;
            }
            hist_cover(h, a);
            inv_w = HALF / h->range;
        }
        /* |v| < range, so floor(v/w) is in [-B/2, B/2); the clamp is only a safety net. */
        int64_t b = (int64_t)floor(v * inv_w) + HALF;
        b = b < 0 ? 0 : (b >= NB ? NB - 1 : b);
        h->counts[b] += 1.0;
    }
}

/* ---------------------------------------------------------------- densities */

/* A piecewise-uniform density: count c[i] spread over [a[i], b[i]] (a point mass when
 * a[i] == b[i]). Empty pieces are skipped by every reader. */
struct dens {
    int m;
    double *c, *a, *b;
    double total;
    int first, last; /* non-empty pieces lie in [first, last]; first > last when empty */
};

static enum ogq_status dens_alloc(struct dens *d, int m, struct ogq_error *err)
{
    memset(d, 0, sizeof *d);
    d->m = m;
    d->c = calloc((size_t)m, sizeof *d->c);
    d->a = calloc((size_t)m, sizeof *d->a);
    d->b = calloc((size_t)m, sizeof *d->b);
    if (!d->c || !d->a || !d->b) {
        free(d->c), free(d->a), free(d->b);
        memset(d, 0, sizeof *d);
        return OGQ_NOMEM(err);
    }
    return OGQ_OK;
}

static void dens_free(struct dens *d)
{
    free(d->c), free(d->a), free(d->b);
    memset(d, 0, sizeof *d);
}

static void dens_finish(struct dens *d)
{
    d->total = 0.0;
    d->first = d->m;
    d->last = -1;
    for (int i = 0; i < d->m; i++) {
        if (d->c[i] <= 0.0)
            continue;
        if (d->b[i] < d->a[i]) /* only possible through round-off at the cut ends */
            d->b[i] = d->a[i];
        d->total += d->c[i];
        d->first = i < d->first ? i : d->first;
        d->last = i;
    }
}

/* x itself: every bin, the outer ones cut to [min, max]. */
static void dens_from_hist(struct dens *d, const struct ogq_act_hist *h)
{
    double w = h->range / HALF;
    for (int i = 0; i < NB; i++) {
        double lo = (i - HALF) * w, hi = lo + w;
        d->c[i] = h->counts[i];
        d->a[i] = lo > h->min ? lo : h->min;
        d->b[i] = hi < h->max ? hi : h->max;
    }
    dens_finish(d);
}

/* |x|: bin B/2 + k ([k·w, (k+1)·w)) and its mirror B/2 − 1 − k ((−(k+1)·w, −k·w]) both
 * give |x| in [k·w, (k+1)·w], cut to [min|x| bound, max|x|]. */
static void dens_fold(struct dens *d, const struct ogq_act_hist *h)
{
    double w = h->range / HALF;
    double top = fmax(fabs(h->min), fabs(h->max));
    double bottom = h->min > 0.0 ? h->min : (h->max < 0.0 ? -h->max : 0.0);
    for (int k = 0; k < HALF; k++) {
        double lo = k * w, hi = lo + w;
        d->c[k] = h->counts[HALF + k] + h->counts[HALF - 1 - k];
        d->a[k] = lo > bottom ? lo : bottom;
        d->b[k] = hi < top ? hi : top;
    }
    dens_finish(d);
}

/* x >= 0 only (used when min >= 0, so the lower half is empty). */
static void dens_positive(struct dens *d, const struct ogq_act_hist *h)
{
    double w = h->range / HALF;
    for (int k = 0; k < HALF; k++) {
        double lo = k * w, hi = lo + w;
        d->c[k] = h->counts[HALF + k];
        d->a[k] = lo > h->min ? lo : h->min;
        d->b[k] = hi < h->max ? hi : h->max;
    }
    dens_finish(d);
}

/* The value below which a fraction q of the mass lies, linear within a piece. The piece
 * holding mass rank q·total is the one containing the ceil(q·total)-th sample. */
static double dens_quantile(const struct dens *d, double q)
{
    double target = q * d->total, cum = 0.0;
    if (d->first > d->last)
        return 0.0;
    if (q <= 0.0)
        return d->a[d->first];
    for (int i = d->first; i <= d->last; i++) {
        double c = d->c[i];
        if (c <= 0.0)
            continue;
        if (cum + c >= target) {
            double f = (target - cum) / c;
            f = f < 0.0 ? 0.0 : (f > 1.0 ? 1.0 : f);
            return d->a[i] + f * (d->b[i] - d->a[i]);
        }
        cum += c;
    }
    return d->b[d->last];
}

/* ---------------------------------------------------------------- grid */

static void qrange(int bits, bool sym, int32_t *qmin, int32_t *qmax)
{
    if (sym) {
        *qmin = -(1 << (bits - 1));
        *qmax = (1 << (bits - 1)) - 1;
    } else {
        *qmin = 0;
        *qmax = (1 << bits) - 1;
    }
}

/* Non-finite bounds are sanitised (NaN → 0, ±inf → ±FLT_MAX) and out-of-range bits
 * clamped to 2..8, so the result is always a usable grid; [0, 0] becomes [0, 1], the same
 * grid an all-zero histogram gets. The scale is rounded to float once and kept >= FLT_MIN
 * (a range below FLT_MIN·qmax is represented with that smallest normal step). */
void ogq_act_qparams_from_range(double lo, double hi, int bits, bool sym,
                                struct ogq_act_qparams *out)
{
    bits = bits < 2 ? 2 : (bits > 8 ? 8 : bits);
    lo = isnan(lo) ? 0.0 : fmax(fmin(lo, 0.0), -FLT_MAX);
    hi = isnan(hi) ? 0.0 : fmin(fmax(hi, 0.0), FLT_MAX);
    if (lo == 0.0 && hi == 0.0)
        hi = 1.0;
    memset(out, 0, sizeof *out);
    out->bits = bits;
    out->sym = sym;
    out->lo = (float)lo;
    out->hi = (float)hi;
    qrange(bits, sym, &out->qmin, &out->qmax);
    double s = sym ? fmax(-lo, hi) / out->qmax : (hi - lo) / out->qmax;
    float sf = (float)s;
    out->scale = sf >= FLT_MIN ? sf : FLT_MIN;
    if (!sym) {
        double z = rint(-lo / (double)out->scale);
        z = z < out->qmin ? out->qmin : (z > out->qmax ? out->qmax : z);
        out->zero_point = (int32_t)z;
    }
}

/* ---------------------------------------------------------------- mse */

/* Ψ(y) = ∫_{−1/2}^{y} (t − round t)² dt, continuous: each whole period adds 1/12. */
static double sawtooth_sq_integral(double y)
{
    double n = floor(y + 0.5), r = y - n;
    return n / 12.0 + (r * r * r + 0.125) / 3.0;
}

/* A³ − B³ without cancellation for close A, B. */
static double cube_diff(double a, double b)
{
    return (a - b) * (a * a + a * b + b * b);
}

/* The grid of a candidate: points g0 + k·s for k = 0..qmax − qmin, saturating outside. */
struct grid {
    double g0, g1, s;
};

static struct grid grid_of(const struct ogq_act_qparams *p)
{
    struct grid g;
    g.s = p->scale;
    g.g0 = (double)(p->qmin - p->zero_point) * g.s;
    g.g1 = (double)(p->qmax - p->zero_point) * g.s;
    return g;
}

/* ∫_a^b (fq(x) − x)² dx for a < b: clipped tails are quadratic, the inside a sawtooth. */
static double piece_sq_error(double a, double b, const struct grid *g)
{
    double e = 0.0;
    if (a < g->g0) {
        double u = b < g->g0 ? b : g->g0;
        e += cube_diff(g->g0 - a, g->g0 - u) / 3.0;
    }
    if (b > g->g1) {
        double u = a > g->g1 ? a : g->g1;
        e += cube_diff(b - g->g1, u - g->g1) / 3.0;
    }
    double u = a > g->g0 ? a : g->g0, v = b < g->g1 ? b : g->g1;
    if (v > u) {
        double s = g->s;
        e += s * s * s *
             (sawtooth_sq_integral((v - g->g0) / s) - sawtooth_sq_integral((u - g->g0) / s));
    }
    return e;
}

static double point_sq_error(double x, const struct grid *g)
{
    double d;
    if (x <= g->g0)
        d = g->g0 - x;
    else if (x >= g->g1)
        d = x - g->g1;
    else {
        double y = (x - g->g0) / g->s;
        d = (y - floor(y + 0.5)) * g->s;
    }
    return d * d;
}

/* Σ_pieces c·E[(fq(x) − x)²], x uniform on the piece (the count-weighted total, not the
 * mean: only comparisons between candidates matter). */
static double dens_sq_error(const struct dens *d, const struct ogq_act_qparams *p)
{
    struct grid g = grid_of(p);
    double total = 0.0;
    for (int i = d->first; i <= d->last; i++) {
        double c = d->c[i];
        if (c <= 0.0)
            continue;
        double a = d->a[i], b = d->b[i];
        total += b > a ? c * piece_sq_error(a, b, &g) / (b - a) : c * point_sq_error(a, &g);
    }
    return total;
}

/* Which bound(s) the factor α scales, from the data range [lo0, hi0]. */
enum mse_axis { MSE_BOTH, MSE_LO, MSE_HI };

struct mse_search {
    const struct dens *d;
    int bits;
    bool sym;
    double lo0, hi0; /* full range */
    double lo, hi;   /* current best; the fixed bound in MSE_LO / MSE_HI */
};

static double mse_try(const struct mse_search *m, enum mse_axis ax, double alpha, double *lo,
                      double *hi)
{
    *lo = ax == MSE_HI ? m->lo : alpha * m->lo0;
    *hi = ax == MSE_LO ? m->hi : alpha * m->hi0;
    struct ogq_act_qparams p;
    ogq_act_qparams_from_range(*lo, *hi, m->bits, m->sym, &p);
    return dens_sq_error(m->d, &p);
}

/* α on MSE_STEPS points from 1 down to MSE_MIN_ALPHA, then MSE_REFINE + 1 points across
 * one grid step either side of the best; strict improvement only, so ties keep the wider
 * range. Updates m->lo, m->hi. Returns the best error. */
static double mse_line(struct mse_search *m, enum mse_axis ax)
{
    const double step = (1.0 - MSE_MIN_ALPHA) / (MSE_STEPS - 1);
    double best = INFINITY, best_alpha = 1.0, lo, hi;
    for (int k = 0; k < MSE_STEPS; k++) {
        double alpha = 1.0 - step * k, e = mse_try(m, ax, alpha, &lo, &hi);
        if (e < best)
            best = e, best_alpha = alpha;
    }
    double center = best_alpha;
    for (int k = 0; k <= MSE_REFINE; k++) {
        double alpha = center - step + 2.0 * step * k / MSE_REFINE;
        if (alpha < MSE_MIN_ALPHA || alpha > 1.0)
            continue;
        double e = mse_try(m, ax, alpha, &lo, &hi);
        if (e < best)
            best = e, best_alpha = alpha;
    }
    mse_try(m, ax, best_alpha, &m->lo, &m->hi);
    return best;
}

/* sym: T = α·max|x| (one line search). asym: [α·lo0, α·hi0] jointly, which for one-sided
 * data is the single non-zero bound; for signed data then MSE_ROUNDS rounds of coordinate
 * descent, each a line search of hi = β·hi0 with lo fixed and of lo = γ·lo0 with hi
 * fixed, on the same α grid. */
static enum ogq_status range_mse(const struct ogq_act_hist *h, int bits, bool sym, double *lo,
                                 double *hi, struct ogq_error *err)
{
    struct dens d;
    OGQ_TRY(dens_alloc(&d, NB, err));
    dens_from_hist(&d, h);
    struct mse_search m = {.d = &d, .bits = bits, .sym = sym};
    m.lo0 = fmin(h->min, 0.0);
    m.hi0 = fmax(h->max, 0.0);
    if (sym) {
        double t = fmax(-m.lo0, m.hi0);
        m.lo0 = -t, m.hi0 = t;
    }
    m.lo = m.lo0, m.hi = m.hi0;
    mse_line(&m, MSE_BOTH);
    if (!sym && m.lo0 < 0.0 && m.hi0 > 0.0) {
        for (int r = 0; r < MSE_ROUNDS; r++) {
            mse_line(&m, MSE_HI);
            mse_line(&m, MSE_LO);
        }
    }
    *lo = m.lo, *hi = m.hi;
    dens_free(&d);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- entropy */

/* Spreads the density over KL_BINS equal bins on [0, top], in proportion to overlap. */
static void resample(const struct dens *d, double top, double *out)
{
    const double w = top / KL_BINS;
    memset(out, 0, sizeof *out * KL_BINS);
    for (int i = d->first; i <= d->last; i++) {
        double c = d->c[i], a = d->a[i], b = d->b[i];
        if (c <= 0.0)
            continue;
        int j0 = (int)fmin(floor(a / w), KL_BINS - 1);
        int j1 = (int)fmin(floor(b / w), KL_BINS - 1);
        j0 = j0 < 0 ? 0 : j0;
        if (b <= a || j0 == j1) {
            out[j0] += c;
            continue;
        }
        for (int j = j0; j <= j1; j++) {
            double u = fmax(a, j * w), v = j == KL_BINS - 1 ? b : fmin(b, (j + 1) * w);
            if (v > u)
                out[j] += c * (v - u) / (b - a);
        }
    }
}

/* KL(P‖Q) for the first i bins of hist (TensorRT / MXNet / ORT calibration):
 *   P = hist[0..i) with the outlier mass (bins >= i) added to P[i−1];
 *   Q = hist[0..i) (without the outliers) merged into `levels` groups (group g holds bins
 *       [g·i/levels, (g+1)·i/levels)), each group's sum spread evenly over the bins of
 *       the group where P > 0; an empty Q bin where P > 0 gets KL_EPS.
 * Building Q from P instead would make i = levels (one bin per group) give Q == P and
 * KL = 0, a degenerate minimum. */
static double kl_at(const double *hist, double outliers, double total, int i, int levels)
{
    double qsum = 0.0, kl = 0.0;
    /* First pass: Q's total after smoothing. */
    for (int g = 0; g < levels; g++) {
        int s = (int)((int64_t)g * i / levels), e = (int)((int64_t)(g + 1) * i / levels);
        double sum = 0.0;
        int nz = 0;
        for (int k = s; k < e; k++) {
            double p = hist[k] + (k == i - 1 ? outliers : 0.0);
            sum += hist[k];
            nz += p > 0.0;
        }
        qsum += nz == 0 ? 0.0 : (sum > 0.0 ? sum : KL_EPS * nz);
    }
    if (!(qsum > 0.0))
        return INFINITY;
    for (int g = 0; g < levels; g++) {
        int s = (int)((int64_t)g * i / levels), e = (int)((int64_t)(g + 1) * i / levels);
        double sum = 0.0;
        int nz = 0;
        for (int k = s; k < e; k++) {
            double p = hist[k] + (k == i - 1 ? outliers : 0.0);
            sum += hist[k];
            nz += p > 0.0;
        }
        if (nz == 0)
            continue;
        double q = (sum > 0.0 ? sum / nz : KL_EPS) / qsum;
        for (int k = s; k < e; k++) {
            double p = (hist[k] + (k == i - 1 ? outliers : 0.0)) / total;
            if (p > 0.0)
                kl += p * log(p / q);
        }
    }
    return kl;
}

/* |x| (sym or signed data) or x (non-negative data, asym), first source bin replaced by
 * the second, resampled to KL_BINS bins over [0, max]; candidate thresholds
 * T = i·max/KL_BINS for i = levels..KL_BINS, with levels = 2^(bits−1) on |x| and 2^bits
 * on non-negative x; the smallest KL wins (ties: the smaller T). */
static enum ogq_status range_entropy(const struct ogq_act_hist *h, int bits, bool sym, double *lo,
                                     double *hi, struct ogq_error *err)
{
    bool on_abs = sym || h->min < 0.0;
    int levels = on_abs ? 1 << (bits - 1) : 1 << bits;
    double top = on_abs ? fmax(fabs(h->min), fabs(h->max)) : h->max;
    struct dens d;
    OGQ_TRY(dens_alloc(&d, HALF, err));
    if (on_abs)
        dens_fold(&d, h);
    else
        dens_positive(&d, h);
    double *hist = malloc(sizeof *hist * KL_BINS), *kl = malloc(sizeof *kl * (KL_BINS + 1));
    if (!hist || !kl) {
        free(hist), free(kl), dens_free(&d);
        return OGQ_NOMEM(err);
    }
    /* The first bin holds the exact zeros (ReLU outputs, padding), which every threshold
     * represents exactly; left as a spike it dominates the first group's KL term and drags
     * T towards the smallest candidate. Like NVIDIA's pytorch-quantization, give it the
     * next bin's count. */
    d.c[0] = d.c[1];
    dens_finish(&d);
    resample(&d, top, hist);
    double total = 0.0;
    for (int k = 0; k < KL_BINS; k++)
        total += hist[k];
    /* i falls from KL_BINS, so the outlier mass (bins >= i) accumulates on the way. */
    double above = 0.0, best = INFINITY;
    int best_i = KL_BINS;
    for (int i = KL_BINS; i >= levels; i--) {
        kl[i] = kl_at(hist, above, total, i, levels);
        above += hist[i - 1];
    }
    for (int i = levels; i <= KL_BINS; i++)
        if (kl[i] < best)
            best = kl[i], best_i = i;
    double t = top * best_i / KL_BINS;
    if (sym) {
        *lo = -t, *hi = t;
    } else if (on_abs) {
        *lo = fmax(h->min, -t), *hi = fmin(h->max, t);
    } else {
        *lo = 0.0, *hi = t;
    }
    free(kl), free(hist), dens_free(&d);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- calibrate */

enum ogq_status ogq_act_calibrate(const struct ogq_act_hist *h, enum ogq_act_calib_method m,
                                  double percentile, int bits, bool sym,
                                  struct ogq_act_qparams *out, struct ogq_error *err)
{
    if (!h || !h->counts || !out)
        return ogq_error_set(err, OGQ_ERR_USAGE, "activation calibration: missing histogram");
    if (bits < 2 || bits > 8)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "activation calibration: bits must be 2..8, got %d", bits);
    if ((int)m < (int)OGQ_ACT_MINMAX || (int)m > (int)OGQ_ACT_ENTROPY)
        return ogq_error_set(err, OGQ_ERR_USAGE, "activation calibration: unknown method %d",
                             (int)m);
    if (m == OGQ_ACT_PERCENTILE && !(percentile > 0.0 && percentile <= 100.0))
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "activation calibration: percentile must be in (0, 100], got %g",
                             percentile);
    if (h->n == 0 || (h->min == 0.0 && h->max == 0.0)) {
        ogq_act_qparams_from_range(0.0, 1.0, bits, sym, out);
        return OGQ_OK;
    }
    double lo0 = fmin(h->min, 0.0), hi0 = fmax(h->max, 0.0), lo = lo0, hi = hi0;
    switch (m) {
    case OGQ_ACT_MINMAX:
        break;
    case OGQ_ACT_PERCENTILE: {
        struct dens d;
        OGQ_TRY(dens_alloc(&d, sym ? HALF : NB, err));
        double q = percentile / 100.0;
        if (sym) {
            dens_fold(&d, h);
            hi = dens_quantile(&d, q);
            lo = -hi;
        } else {
            /* p < 50 would swap the two quantiles: keep them ordered. */
            dens_from_hist(&d, h);
            double a = dens_quantile(&d, 1.0 - q), b = dens_quantile(&d, q);
            lo = fmin(a, b), hi = fmax(a, b);
        }
        dens_free(&d);
        break;
    }
    case OGQ_ACT_MSE:
        OGQ_TRY(range_mse(h, bits, sym, &lo, &hi, err));
        break;
    case OGQ_ACT_ENTROPY:
        OGQ_TRY(range_entropy(h, bits, sym, &lo, &hi, err));
        break;
    }
    lo = fmin(lo, 0.0);
    hi = fmax(hi, 0.0);
    /* A method that clips everything to 0 (e.g. a percentile inside a spike of zeros)
     * would leave no grid for the non-zero values: fall back to the full range. */
    if (lo == 0.0 && hi == 0.0)
        lo = lo0, hi = hi0;
    ogq_act_qparams_from_range(lo, hi, bits, sym, out);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- names */

static const char *const method_names[] = {"minmax", "percentile", "mse", "entropy"};

const char *ogq_act_calib_method_name(enum ogq_act_calib_method m)
{
    return (int)m >= (int)OGQ_ACT_MINMAX && (int)m <= (int)OGQ_ACT_ENTROPY ? method_names[m]
                                                                           : "unknown";
}

bool ogq_act_calib_method_parse(const char *s, enum ogq_act_calib_method *m)
{
    if (!s)
        return false;
    for (int i = 0; i <= OGQ_ACT_ENTROPY; i++)
        if (strcmp(s, method_names[i]) == 0) {
            *m = (enum ogq_act_calib_method)i;
            return true;
        }
    return false;
}

/* ---------------------------------------------------------------- fake quant */

/* Last in the file: the pragma below applies to every function after it. At -O2 GCC only
 * vectorises loops of a known multiple of the vector width; these run over whole
 * activation tensors (the GAQ forward), so ask for it as runtime/kernels_qdq.c does.
 * Vector division, comparisons and adds round exactly as the scalar ones. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

/* ONNX QuantizeLinear rounding as runtime/kernels_qdq.c does it: adding and subtracting
 * 1.5·2^23 rounds a float below 2^22 in magnitude to nearest, ties to even. */
#define ROUND_MAGIC 12582912.0f

/* ONNX QuantizeLinear with saturation, clamping before rounding as the runtime does (the
 * bounds are integers, so it is the same as rounding first). NaN fails both comparisons
 * and lands on qmin, exactly as runtime/kernels_qdq.c maps it. */
static inline float fq1(float x, float s, float z, float lo, float hi)
{
    float v = x / s;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    float q = ((v + ROUND_MAGIC) - ROUND_MAGIC) + z;
    return (q - z) * s;
}

void ogq_act_fake_quant(const struct ogq_act_qparams *p, const float *x, float *y, int64_t n)
{
    const float s = p->scale, z = (float)p->zero_point;
    const float lo = (float)p->qmin - z, hi = (float)p->qmax - z;
    for (int64_t i = 0; i < n; i++)
        y[i] = fq1(x[i], s, z, lo, hi);
}

void ogq_act_quant_delta(const struct ogq_act_qparams *p, const float *x, float *d, int64_t n)
{
    const float s = p->scale, z = (float)p->zero_point;
    const float lo = (float)p->qmin - z, hi = (float)p->qmax - z;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        d[i] = fq1(v, s, z, lo, hi) - v;
    }
}
