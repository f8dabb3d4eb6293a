/* test_refine.c — layer moments and gradient-based refinement against independent references.
 *
 * Properties checked (each test says which):
 *   - moments: the loss, teacher energy and per-q matrices from the moments equal the same
 *     quantities computed row by row in double from the raw rows (weighted, strided rows,
 *     transposed columns, augmented or not, with or without activation-quantization
 *     error, several q, more rows than one chunk); rows and columns paths agree;
 *   - soft quantizer: h in [0, 1] and clipped where σ(V)(ζ − γ) + γ leaves it, h(h⁻¹(f)) = f,
 *     dh/dV against finite differences; β schedule closed form; regulariser values and
 *     derivative against finite differences; GAQ fraction closed form;
 *   - objective: value against a direct double evaluation of the documented formula;
 *     gradients w.r.t. V, bias and scales against central finite differences (soft) and
 *     against the analytic straight-through formula built from raw rows (soft and STE);
 *   - hardening at step 0 reproduces the start codes, ties included (a problem where any
 *     other hardening would lower the loss, so a wrong code cannot hide behind the
 *     keep-the-start rule);
 *   - layer runs: refinement lowers the deployed loss of an RTN start and reports it
 *     consistently; a brute-force-optimal start is kept; never worse than the start over
 *     random cases (soft, STE, bias, scales, groups, act-quant moments with GAQ); a layer
 *     split over several row tasks on the worker pool gives bit-identical repeated runs.
 * The runs print their losses (start -> final) for the record.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/layer_moments.h"
#include "passes/refine.h"
#include "runtime/linalg.h"
#include "test_random.h"

#define TOL_MOM 1e-4       /* float chunk products vs double rows, relative to the energy */
#define TOL_EXACT 1e-12    /* the same double computation reached twice */
#define TOL_H 1e-12        /* h(h⁻¹(f)) round trip */
#define TOL_FD_SCALAR 1e-6 /* finite differences of smooth scalar functions */
#define TOL_GRAD 2e-5      /* float gradients vs double references, relative to the largest */
#define TOL_FD 1e-3        /* central differences (step 1e-3) of the objective vs its gradient */
#define TOL_VALUE 5e-5     /* objective value (float Ŵ, float moments) vs raw rows in double */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static double rand_uniform(void) { return test_uniform(&rng_state); }
static double rand_normal(void) { return test_normal(&rng_state); }

/* ------------------------------------------------------------ synthetic layer inputs */

/* Rows of one layer: student input a, its act-quant error d (or NULL), teacher input x
 * (may be the same array as a), all [n, ld]; row s has weight rw[s]. */
struct rows_data {
    int64_t n, k, ld;
    float *a, *d, *x;
    double *rw;
};

static void rows_free(struct rows_data *D)
{
    if (D->x != D->a)
        free(D->x);
    free(D->a);
    free(D->d);
    free(D->rw);
    memset(D, 0, sizeof *D);
}

/* Correlated teacher inputs (random mixing); the student's input is the teacher's plus a
 * perturbation of relative size `student_noise` (0: the same array), and d = Q(a) − a for
 * a uniform activation grid of step `act_step` (0: no delta). Weights in segments. */
static struct rows_data make_rows(int64_t n, int64_t k, int64_t ld, double student_noise,
                                  double act_step)
{
    struct rows_data D = {.n = n, .k = k, .ld = ld};
    double *mix = malloc((size_t)(k * k) * sizeof *mix);
    for (int64_t i = 0; i < k * k; i++)
        mix[i] = rand_normal() / sqrt((double)k) + (i % (k + 1) == 0 ? 1.0 : 0.0);
    D.x = calloc((size_t)(n * ld), sizeof *D.x);
    D.a = student_noise > 0.0 ? calloc((size_t)(n * ld), sizeof *D.a) : D.x;
    D.d = act_step > 0.0 ? calloc((size_t)(n * ld), sizeof *D.d) : NULL;
    D.rw = malloc((size_t)n * sizeof *D.rw);
    double *z = malloc((size_t)k * sizeof *z);
    for (int64_t s = 0; s < n; s++) {
        for (int64_t i = 0; i < k; i++)
            z[i] = rand_normal();
        for (int64_t j = 0; j < k; j++) {
            double acc = 0.3; /* a non-zero mean, so the bias coordinate matters */
            for (int64_t i = 0; i < k; i++)
                acc += z[i] * mix[i * k + j];
            D.x[s * ld + j] = (float)acc;
            if (D.a != D.x)
                D.a[s * ld + j] = (float)(acc + student_noise * rand_normal());
            if (D.d) {
                float av = D.a[s * ld + j];
                D.d[s * ld + j] = (float)(act_step * rint(av / act_step)) - av;
            }
        }
        D.rw[s] = 1.0;
    }
    free(z);
    free(mix);
    return D;
}

/* Segments [cuts[i], cuts[i+1]) get weight wts[i]. */
static void set_weights(struct rows_data *D, const int64_t *cuts, const double *wts, int nseg)
{
    for (int i = 0; i < nseg; i++)
        for (int64_t s = cuts[i]; s < cuts[i + 1]; s++)
            D->rw[s] = wts[i];
}

static enum ogq_status fill_moments_rows(struct ogq_layer_moments *m, const struct rows_data *D,
                                         const int64_t *cuts, const double *wts, int nseg)
{
    struct ogq_error err;
    for (int i = 0; i < nseg; i++) {
        int64_t o = cuts[i] * D->ld;
        enum ogq_status st = ogq_moments_add_rows(m, D->a + o, D->d ? D->d + o : NULL, D->x + o,
                                                  cuts[i + 1] - cuts[i], D->ld, wts[i], &err);
        if (st != OGQ_OK)
            return st;
    }
    return OGQ_OK;
}

/* The same rows transposed ([k, n], row stride n + 2) through add_cols. */
static enum ogq_status fill_moments_cols(struct ogq_layer_moments *m, const struct rows_data *D,
                                         const int64_t *cuts, const double *wts, int nseg)
{
    const int64_t n = D->n, k = D->k, ldt = n + 2;
    float *at = calloc((size_t)(k * ldt), sizeof *at), *xt = calloc((size_t)(k * ldt), sizeof *xt);
    float *dt = D->d ? calloc((size_t)(k * ldt), sizeof *dt) : NULL;
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < k; j++) {
            at[j * ldt + s] = D->a[s * D->ld + j];
            xt[j * ldt + s] = D->x[s * D->ld + j];
            if (dt)
                dt[j * ldt + s] = D->d[s * D->ld + j];
        }
    struct ogq_error err;
    enum ogq_status st = OGQ_OK;
    for (int i = 0; i < nseg && st == OGQ_OK; i++) {
        int64_t o = cuts[i];
        /* teacher == student keeps the same pointer, as a caller would pass it */
        const float *xs = D->x == D->a ? at + o : xt + o;
        st = ogq_moments_add_cols(m, at + o, dt ? dt + o : NULL, xs, cuts[i + 1] - cuts[i], ldt,
                                  wts[i], &err);
    }
    free(at);
    free(xt);
    free(dt);
    return st;
}

/* Weighted mean over rows of ‖Ŵ(a + q d) + b̂ − (W x + b)‖² in double, straight from rows.
 * w_hat / b_hat in double (NULL w_hat: zero), w / b float (NULL b: zero). */
static double direct_loss(const struct rows_data *D, const double *w_hat, const double *b_hat,
                          const float *w, const float *b, int64_t rows, double q)
{
    const int64_t k = D->k;
    double num = 0.0, den = 0.0;
    for (int64_t s = 0; s < D->n; s++) {
        const float *a = D->a + s * D->ld, *x = D->x + s * D->ld;
        const float *d = D->d ? D->d + s * D->ld : NULL;
        den += D->rw[s];
        for (int64_t r = 0; r < rows; r++) {
            double acc = (b_hat ? b_hat[r] : 0.0) - (b ? (double)b[r] : 0.0);
            for (int64_t c = 0; c < k; c++) {
                double xt = (double)a[c] + (d ? q * (double)d[c] : 0.0);
                acc += (w_hat ? w_hat[r * k + c] * xt : 0.0) - (double)w[r * k + c] * x[c];
            }
            num += D->rw[s] * acc * acc;
        }
    }
    return num / den;
}

/* E[x̃ x̃ᵀ] and E[x̃ xᵀ] (augmented when `augment`) straight from rows, in double. */
static void direct_moments(const struct rows_data *D, bool augment, double q, double *stt,
                           double *stx)
{
    const int64_t k = D->k, ka = k + augment;
    double den = 0.0;
    memset(stt, 0, (size_t)(ka * ka) * sizeof *stt);
    memset(stx, 0, (size_t)(ka * ka) * sizeof *stx);
    double *xt = malloc((size_t)ka * sizeof *xt), *xx = malloc((size_t)ka * sizeof *xx);
    for (int64_t s = 0; s < D->n; s++) {
        for (int64_t c = 0; c < k; c++) {
            xt[c] = D->a[s * D->ld + c] + (D->d ? q * D->d[s * D->ld + c] : 0.0);
            xx[c] = D->x[s * D->ld + c];
        }
        if (augment)
            xt[k] = xx[k] = 1.0;
        for (int64_t i = 0; i < ka; i++)
            for (int64_t j = 0; j < ka; j++) {
                stt[i * ka + j] += D->rw[s] * xt[i] * xt[j];
                stx[i * ka + j] += D->rw[s] * xt[i] * xx[j];
            }
        den += D->rw[s];
    }
    for (int64_t i = 0; i < ka * ka; i++) {
        stt[i] /= den;
        stx[i] /= den;
    }
    free(xt);
    free(xx);
}

static float *random_matrix(int64_t n, double sd)
{
    float *w = malloc((size_t)n * sizeof *w);
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)(sd * rand_normal());
    return w;
}

static double *to_double(const float *x, int64_t n)
{
    double *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i];
    return y;
}

/* ---------------------------------------------------------------- moments */

static void check_moments_case(bool augment, bool delta, bool cols, bool same_input)
{
    const int64_t n = 61, k = 7, rows = 3;
    struct rows_data D = make_rows(n, k, k + 3, same_input ? 0.0 : 0.05, delta ? 0.25 : 0.0);
    const int64_t cuts[4] = {0, 17, 40, 61};
    const double wts[3] = {0.5, 2.0, 1.3};
    set_weights(&D, cuts, wts, 3);
    struct ogq_layer_moments m;
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&m, k, augment, delta, &err), OGQ_OK);
    CU_ASSERT_EQUAL_FATAL(cols ? fill_moments_cols(&m, &D, cuts, wts, 3)
                               : fill_moments_rows(&m, &D, cuts, wts, 3),
                          OGQ_OK);
    CU_ASSERT_DOUBLE_EQUAL(m.weight, 17 * 0.5 + 23 * 2.0 + 21 * 1.3, 1e-9);

    float *w = random_matrix(rows * k, 1.0), *w_hat = malloc((size_t)(rows * k) * sizeof *w_hat);
    float *b = augment ? random_matrix(rows, 1.0) : NULL;
    float *b_hat = augment ? random_matrix(rows, 1.0) : NULL;
    for (int64_t i = 0; i < rows * k; i++)
        w_hat[i] = w[i] + (float)(0.3 * rand_normal());
    double *wh_d = to_double(w_hat, rows * k), *bh_d = augment ? to_double(b_hat, rows) : NULL;
    double *w_d = to_double(w, rows * k), *b_d = augment ? to_double(b, rows) : NULL;

    double energy = direct_loss(&D, NULL, NULL, w, b, rows, 0.0);
    CU_ASSERT(fabs(ogq_moments_teacher_energy(&m, w, b, rows) - energy) <= TOL_MOM * energy);
    const double qs[4] = {0.0, 0.3, 0.75, 1.0};
    const int64_t ka = k + augment;
    double *stt = malloc((size_t)(ka * ka) * sizeof *stt), *stx = malloc((size_t)(ka * ka) * 8);
    float *ftt = malloc((size_t)(ka * ka) * sizeof *ftt), *ftx = malloc((size_t)(ka * ka) * 4);
    for (int i = 0; i < 4; i++) {
        double ref = direct_loss(&D, wh_d, bh_d, w, b, rows, qs[i]);
        double got = ogq_moments_loss(&m, w_hat, b_hat, w, b, rows, qs[i]);
        CU_ASSERT(fabs(got - ref) <= TOL_MOM * energy);
        /* loss of the teacher itself: zero up to float moments (exactly 0 with a == x) */
        double self = ogq_moments_loss(&m, w, b, w, b, rows, qs[i]);
        double self_ref = direct_loss(&D, w_d, b_d, w, b, rows, qs[i]);
        CU_ASSERT(fabs(self - self_ref) <= TOL_MOM * energy);
        if (same_input && (!delta || qs[i] == 0.0))
            CU_ASSERT(fabs(self) <= TOL_EXACT * energy);
        ogq_moments_at(&m, qs[i], ftt, ftx);
        direct_moments(&D, augment, qs[i], stt, stx);
        double scale = 0.0, worst = 0.0;
        for (int64_t j = 0; j < ka * ka; j++)
            scale = fmax(scale, fabs(stt[j]));
        for (int64_t j = 0; j < ka * ka; j++) {
            worst = fmax(worst, fabs(ftt[j] - stt[j]));
            worst = fmax(worst, fabs(ftx[j] - stx[j]));
        }
        CU_ASSERT(worst <= TOL_MOM * scale);
    }
    if (!augment) /* a bias without the constant coordinate is a caller bug: NaN */
        CU_ASSERT(isnan(ogq_moments_loss(&m, w_hat, w, w, NULL, rows, 1.0)));
    free(stt);
    free(stx);
    free(ftt);
    free(ftx);
    free(w);
    free(w_hat);
    free(b);
    free(b_hat);
    free(wh_d);
    free(bh_d);
    free(w_d);
    free(b_d);
    ogq_moments_fini(&m);
    rows_free(&D);
}

static void test_moments_loss_matches_rows(void)
{
    for (int mask = 0; mask < 16; mask++)
        check_moments_case(mask & 1, mask & 2, mask & 4, mask & 8);
}

/* The rows and columns paths build the same double matrices (up to float chunk sums), and
 * more rows than one chunk (and weight rows over several loss tasks) still match the double
 * reference. */
static void test_moments_rows_cols_agree_and_chunks(void)
{
    const int64_t k = 4, n = 2 * OGQ_MOMENTS_CHUNK + 333, rows = 70; /* 3 loss row tasks */
    struct rows_data D = make_rows(n, k, k + 1, 0.1, 0.2);
    const int64_t cuts[3] = {0, 5000, n};
    const double wts[2] = {0.7, 1.9};
    set_weights(&D, cuts, wts, 2);
    struct ogq_layer_moments mr, mc;
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&mr, k, true, true, &err), OGQ_OK);
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&mc, k, true, true, &err), OGQ_OK);
    CU_ASSERT_EQUAL_FATAL(fill_moments_rows(&mr, &D, cuts, wts, 2), OGQ_OK);
    CU_ASSERT_EQUAL_FATAL(fill_moments_cols(&mc, &D, cuts, wts, 2), OGQ_OK);
    const int64_t ka = k + 1;
    double *mats_r[6] = {mr.aa, mr.ad, mr.dd, mr.ax, mr.dx, mr.xx};
    double *mats_c[6] = {mc.aa, mc.ad, mc.dd, mc.ax, mc.dx, mc.xx};
    double scale = 0.0, worst = 0.0;
    for (int i = 0; i < 6; i++)
        for (int64_t j = 0; j < ka * ka; j++) {
            scale = fmax(scale, fabs(mats_r[i][j]));
            worst = fmax(worst, fabs(mats_r[i][j] - mats_c[i][j]));
        }
    CU_ASSERT(worst <= TOL_MOM * scale);
    for (int64_t i = 0; i < ka; i++) /* ad is stored symmetrized */
        for (int64_t j = 0; j < ka; j++)
            CU_ASSERT_EQUAL(mr.ad[i * ka + j], mr.ad[j * ka + i]);
    float *w = random_matrix(rows * k, 1.0), *b = random_matrix(rows, 1.0);
    float *wh = random_matrix(rows * k, 1.0), *bh = random_matrix(rows, 1.0);
    double *wh_d = to_double(wh, rows * k), *bh_d = to_double(bh, rows);
    double energy = direct_loss(&D, NULL, NULL, w, b, rows, 0.0);
    double ref = direct_loss(&D, wh_d, bh_d, w, b, rows, 0.6);
    CU_ASSERT(fabs(ogq_moments_loss(&mr, wh, bh, w, b, rows, 0.6) - ref) <= TOL_MOM * energy);
    CU_ASSERT(fabs(ogq_moments_loss(&mc, wh, bh, w, b, rows, 0.6) - ref) <= TOL_MOM * energy);
    /* bad calls */
    CU_ASSERT_EQUAL(ogq_moments_add_rows(&mr, D.a, NULL, D.x, 3, k, 1.0, &err), OGQ_ERR_USAGE);
    CU_ASSERT_EQUAL(ogq_moments_add_rows(&mr, D.a, D.d, D.x, 3, k - 1, 1.0, &err), OGQ_ERR_USAGE);
    CU_ASSERT_EQUAL(ogq_moments_add_rows(&mr, D.a, D.d, D.x, 3, k, -1.0, &err), OGQ_ERR_USAGE);
    free(w);
    free(b);
    free(wh);
    free(bh);
    free(wh_d);
    free(bh_d);
    ogq_moments_fini(&mr);
    ogq_moments_fini(&mc);
    rows_free(&D);
}

/* ---------------------------------------------------------- quantizer building blocks */

static void test_soft_h(void)
{
    const double edge = log(1.0 / 11.0); /* σ(V)·1.2 − 0.1 = 0 at σ = 1/12 */
    for (double v = -20.0; v <= 20.0; v += 0.0625) {
        double h = ogq_soft_h(v);
        CU_ASSERT(h >= 0.0 && h <= 1.0);
        if (v < edge || v > -edge) {
            CU_ASSERT(h == 0.0 || h == 1.0);
            CU_ASSERT_EQUAL(ogq_soft_h_grad(v), 0.0);
        }
    }
    CU_ASSERT_EQUAL(ogq_soft_h(edge - 1e-6), 0.0);
    CU_ASSERT(ogq_soft_h(edge + 1e-3) > 0.0);
    CU_ASSERT_EQUAL(ogq_soft_h(-edge + 1e-6), 1.0);
    CU_ASSERT(ogq_soft_h(-edge - 1e-3) < 1.0);
    CU_ASSERT_DOUBLE_EQUAL(ogq_soft_h(0.0), 0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ogq_soft_h(1.0), 1.2 / (1.0 + exp(-1.0)) - 0.1, 1e-15);
    const double fs[8] = {0.0, 1e-4, 0.1, 0.3, 0.5, 0.77, 0.99, 1.0};
    for (int i = 0; i < 8; i++)
        CU_ASSERT_DOUBLE_EQUAL(ogq_soft_h(ogq_soft_v_init(fs[i])), fs[i], TOL_H);
    for (double v = -2.3; v <= 2.3; v += 0.1) {
        const double e = 1e-6;
        double fd = (ogq_soft_h(v + e) - ogq_soft_h(v - e)) / (2 * e);
        CU_ASSERT_DOUBLE_EQUAL(ogq_soft_h_grad(v), fd, TOL_FD_SCALAR);
    }
}

static void test_beta_and_regulariser(void)
{
    const int64_t total = 100;
    for (int64_t s = 0; s < 20; s++)
        CU_ASSERT_EQUAL(ogq_soft_beta(s, total), 20.0);
    CU_ASSERT_DOUBLE_EQUAL(ogq_soft_beta(99, total), 2.0, 1e-12);
    for (int64_t s = 20; s < total; s++) /* linear from 20 at step 20 to 2 at step 99 */
        CU_ASSERT_DOUBLE_EQUAL(ogq_soft_beta(s, total), 20.0 - 18.0 * (double)(s - 20) / 79.0,
                               1e-12);
    /* a total whose warm-up ends between steps: 7 steps, 0.2·7 = 1.4 */
    CU_ASSERT_EQUAL(ogq_soft_beta(0, 7), 20.0);
    CU_ASSERT_EQUAL(ogq_soft_beta(1, 7), 20.0);
    CU_ASSERT_DOUBLE_EQUAL(ogq_soft_beta(2, 7), 2.0 + 18.0 * (1.0 - 0.6 / 4.6), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ogq_soft_beta(6, 7), 2.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ogq_soft_beta(0, 1), 20.0, 0.0);

    const double betas[4] = {2.0, 3.7, 12.0, 20.0};
    for (int i = 0; i < 4; i++) {
        double b = betas[i];
        CU_ASSERT_DOUBLE_EQUAL(ogq_soft_reg(0.0, b), 0.0, 1e-15);
        CU_ASSERT_DOUBLE_EQUAL(ogq_soft_reg(1.0, b), 0.0, 1e-15);
        CU_ASSERT_DOUBLE_EQUAL(ogq_soft_reg(0.5, b), 1.0, 1e-15);
        CU_ASSERT_DOUBLE_EQUAL(ogq_soft_reg(0.3, b), 1.0 - pow(0.4, b), 1e-15);
        for (double h = 0.05; h < 1.0; h += 0.1) {
            const double e = 1e-6;
            double fd = (ogq_soft_reg(h + e, b) - ogq_soft_reg(h - e, b)) / (2 * e);
            CU_ASSERT_DOUBLE_EQUAL(ogq_soft_reg_grad(h, b), fd, TOL_FD_SCALAR);
        }
    }
}

static void test_gaq_schedule(void)
{
    struct ogq_gaq_config g = {.enabled = true,
                               .initial_q_fraction = 0.2,
                               .target_q_fraction = 0.9,
                               .start_step = 10,
                               .end_step = 30};
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 0, 50), 0.2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 10, 50), 0.2, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 15, 50), 0.2 + 0.7 * 0.25, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 20, 50), 0.55, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 30, 50), 0.9, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 49, 50), 0.9, 1e-15);
    g.end_step = -1; /* the last step: 40 of 41 */
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 25, 41), 0.2 + 0.7 * 0.5, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 40, 41), 0.9, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 39, 41), 0.2 + 0.7 * 29.0 / 30.0, 1e-15);
    g.enabled = false;
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 0, 41), 0.9, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(ogq_gaq_fraction(&g, 25, 41), 0.9, 0.0);
}

/* ------------------------------------------------------------------ objective */

/* MCT's defaults (refine_config.h); every run below must pass validation. */
static void cfg_defaults(struct ogq_refine_config *c)
{
    ogq_refine_config_init(c);
    struct ogq_error err;
    CU_ASSERT_EQUAL(ogq_refine_config_validate(c, &err), OGQ_OK);
    CU_ASSERT_EQUAL(c->optimizer.lr, 3e-2); /* the values the runs below were tuned with */
    CU_ASSERT_EQUAL(c->regularization_factor, 0.01);
}

/* A small layer for gradient checks: rows 3, cols 5, 3-bit grids in groups of 3 (two
 * groups), teacher bias, act-quant moments, weighted rows. */
struct grad_case {
    struct rows_data D;
    struct ogq_layer_moments m;
    struct ogq_qweight start;
    float *w, *b, *pre;
    struct ogq_refine_layer in;
};

static void grad_case_init(struct grad_case *gc, bool with_bias)
{
    const int64_t rows = 3, cols = 5, n = 40;
    memset(gc, 0, sizeof *gc);
    gc->D = make_rows(n, cols, cols, 0.05, 0.25);
    const int64_t cuts[3] = {0, 13, n};
    const double wts[2] = {0.6, 1.7};
    set_weights(&gc->D, cuts, wts, 2);
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&gc->m, cols, with_bias, true, &err), OGQ_OK);
    CU_ASSERT_EQUAL_FATAL(fill_moments_rows(&gc->m, &gc->D, cuts, wts, 2), OGQ_OK);
    gc->w = random_matrix(rows * cols, 1.0);
    gc->b = with_bias ? random_matrix(rows, 0.5) : NULL;
    gc->pre = malloc((size_t)(rows * cols) * sizeof *gc->pre);
    for (int64_t i = 0; i < rows * cols; i++)
        gc->pre[i] = gc->w[i] + (float)(0.1 * rand_normal());
    struct ogq_gptq_opts o;
    ogq_gptq_opts_init(&o);
    o.grid.bits = 3;
    o.group_size = 3;
    CU_ASSERT_EQUAL_FATAL(ogq_rtn_quantize(gc->pre, rows, cols, &o, &gc->start, &err), OGQ_OK);
    gc->in = (struct ogq_refine_layer){.w = gc->w,
                                       .bias = gc->b,
                                       .rows = rows,
                                       .cols = cols,
                                       .start = &gc->start,
                                       .prequant = gc->pre,
                                       .mom = &gc->m,
                                       .loss_weight = 1.7,
                                       .steps = 10};
}

static void grad_case_fini(struct grad_case *gc)
{
    rows_free(&gc->D);
    ogq_moments_fini(&gc->m);
    ogq_qweight_fini(&gc->start);
    free(gc->w);
    free(gc->b);
    free(gc->pre);
}

/* Ŵ of the documented quantizer and ∂Ŵ/∂v, ∂Ŵ/∂s, in double (independent of refine.c). */
static void reference_quantizer(const struct grad_case *gc, bool soft, const float *v,
                                const float *scales, double *w_hat, double *dv, double *ds,
                                double *h_out)
{
    const struct ogq_qweight *st = &gc->start;
    const int64_t rows = gc->in.rows, cols = gc->in.cols;
    const double maxq = (double)((1 << st->bits) - 1);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c, g = r * st->n_groups + st->g_idx[c];
            double s = scales[g], z = st->zeros[g], code;
            if (soft) {
                float t = gc->pre[i] / st->scales[g];
                double base = floor((double)t) + z, h = ogq_soft_h(v[i]);
                double cs = base + h;
                code = fmin(fmax(cs, 0.0), maxq);
                dv[i] = cs >= 0.0 && cs <= maxq ? s * ogq_soft_h_grad(v[i]) : 0.0;
                ds[i] = code - z;
                h_out[i] = h;
            } else {
                double t = (double)(v[i] / (float)s), rc = rint(t) + z;
                code = fmin(fmax(rc, 0.0), maxq);
                bool inside = rc >= 0.0 && rc <= maxq;
                dv[i] = inside ? 1.0 : 0.0;
                ds[i] = inside ? code - z - t : code - z;
                h_out[i] = 0.0;
            }
            w_hat[i] = s * (code - z);
        }
}

static double max_abs(const double *x, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

static void check_objective(bool soft)
{
    struct grad_case gc;
    grad_case_init(&gc, true);
    struct ogq_refine_config cfg;
    cfg_defaults(&cfg);
    cfg.rounding_type = soft ? OGQ_ROUNDING_SOFT : OGQ_ROUNDING_STE;
    cfg.regularization_factor = 0.3; /* large enough to matter in the gradient */
    const int64_t rows = 3, cols = 5, ka = cols + 1, ng = gc.start.n_groups, step = 5;
    const int64_t nw = rows * cols;
    float v[15], bias[3], scales[6], gv[15], gb[3], gs[6];
    for (int64_t i = 0; i < nw; i++)
        v[i] = soft ? (float)(1.8 * (2.0 * rand_uniform() - 1.0))
                    : gc.pre[i] + (float)(0.05 * rand_normal());
    for (int64_t r = 0; r < rows; r++)
        bias[r] = gc.b[r] + (float)(0.1 * rand_normal());
    for (int64_t i = 0; i < rows * ng; i++)
        scales[i] = gc.start.scales[i] * (float)(1.0 + 0.05 * rand_normal());
    double val = ogq_refine_objective(&cfg, &gc.in, v, bias, scales, step, gv, gb, gs);

    /* Value: lw · L / E + reg · mean R_β(h), all from raw rows in double. */
    const double q = ogq_gaq_fraction(&cfg.gradual_activation_quantization_config, step, 10);
    const double beta = ogq_soft_beta(step, 10);
    CU_ASSERT(q > 0.1 && q < 0.9 && beta > 2.5 && beta < 19.5); /* mid-schedule */
    double w_hat[15], dv[15], ds[15], h[15], bias_d[3];
    reference_quantizer(&gc, soft, v, scales, w_hat, dv, ds, h);
    for (int64_t r = 0; r < rows; r++)
        bias_d[r] = bias[r];
    double energy = direct_loss(&gc.D, NULL, NULL, gc.w, gc.b, rows, 0.0);
    double loss = direct_loss(&gc.D, w_hat, bias_d, gc.w, gc.b, rows, q);
    double reg = 0.0;
    for (int64_t i = 0; i < nw && soft; i++)
        reg += ogq_soft_reg(h[i], beta);
    double ref_val = 1.7 * loss / energy + 0.3 * reg / (double)nw;
    CU_ASSERT(fabs(val - ref_val) <= TOL_VALUE * fabs(ref_val));

    /* Gradient w.r.t. Ŵa from raw-row moments: lw/E · 2 (Ŵa S_t̃t̃ − Wa S_t̃xᵀ). */
    double stt[36], stx[36], gw[18];
    direct_moments(&gc.D, true, q, stt, stx);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < ka; j++) {
            double acc = 0.0;
            for (int64_t i = 0; i < ka; i++) {
                double wh = i < cols ? w_hat[r * cols + i] : bias_d[r];
                double wt = i < cols ? gc.w[r * cols + i] : gc.b[r];
                acc += wh * stt[i * ka + j] - wt * stx[j * ka + i];
            }
            gw[r * ka + j] = 1.7 / energy * 2.0 * acc;
        }
    double ref_v[15], ref_b[3], ref_s[6] = {0};
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c;
            ref_v[i] = gw[r * ka + c] * dv[i];
            if (soft)
                ref_v[i] +=
                    0.3 / (double)nw * ogq_soft_reg_grad(h[i], beta) * ogq_soft_h_grad(v[i]);
            ref_s[r * ng + gc.start.g_idx[c]] += gw[r * ka + c] * ds[i];
        }
        ref_b[r] = gw[r * ka + cols];
    }
    double sv = max_abs(ref_v, nw), sb = max_abs(ref_b, rows), ss = max_abs(ref_s, rows * ng);
    CU_ASSERT(sv > 0.0 && sb > 0.0 && ss > 0.0);
    for (int64_t i = 0; i < nw; i++)
        CU_ASSERT(fabs(gv[i] - ref_v[i]) <= TOL_GRAD * sv);
    for (int64_t r = 0; r < rows; r++)
        CU_ASSERT(fabs(gb[r] - ref_b[r]) <= TOL_GRAD * sb);
    for (int64_t i = 0; i < rows * ng; i++)
        CU_ASSERT(fabs(gs[i] - ref_s[i]) <= TOL_GRAD * ss);

    /* Central finite differences of the objective itself (bias always; V and scales where
     * the objective is differentiable, i.e. soft rounding). */
    const double e = 1e-3;
    for (int64_t r = 0; r < rows; r++) {
        float keep = bias[r];
        bias[r] = keep + (float)e;
        double fp = ogq_refine_objective(&cfg, &gc.in, v, bias, scales, step, NULL, NULL, NULL);
        float up = bias[r];
        bias[r] = keep - (float)e;
        double fm = ogq_refine_objective(&cfg, &gc.in, v, bias, scales, step, NULL, NULL, NULL);
        float dn = bias[r];
        bias[r] = keep;
        CU_ASSERT(fabs((fp - fm) / ((double)up - dn) - gb[r]) <= TOL_FD * sb);
    }
    if (soft) {
        for (int64_t i = 0; i < nw; i++) {
            float keep = v[i];
            v[i] = keep + (float)e;
            double fp = ogq_refine_objective(&cfg, &gc.in, v, bias, scales, step, NULL, NULL, NULL);
            float up = v[i];
            v[i] = keep - (float)e;
            double fm = ogq_refine_objective(&cfg, &gc.in, v, bias, scales, step, NULL, NULL, NULL);
            float dn = v[i];
            v[i] = keep;
            CU_ASSERT(fabs((fp - fm) / ((double)up - dn) - gv[i]) <= TOL_FD * sv);
        }
        for (int64_t i = 0; i < rows * ng; i++) {
            float keep = scales[i];
            scales[i] = keep * (float)(1.0 + e);
            double fp = ogq_refine_objective(&cfg, &gc.in, v, bias, scales, step, NULL, NULL, NULL);
            float up = scales[i];
            scales[i] = keep * (float)(1.0 - e);
            double fm = ogq_refine_objective(&cfg, &gc.in, v, bias, scales, step, NULL, NULL, NULL);
            float dn = scales[i];
            scales[i] = keep;
            CU_ASSERT(fabs((fp - fm) / ((double)up - dn) - gs[i]) <= TOL_FD * ss);
        }
    }
    grad_case_fini(&gc);
}

static void test_objective_gradient_soft(void)
{
    check_objective(true);
}

static void test_objective_gradient_ste(void)
{
    check_objective(false);
}

/* ------------------------------------------------------------------- layer runs */

static void qweight_alloc(struct ogq_qweight *q, int64_t rows, int64_t cols, int bits)
{
    memset(q, 0, sizeof *q);
    q->rows = rows;
    q->cols = cols;
    q->bits = bits;
    q->n_groups = 1;
    q->codes = malloc((size_t)(rows * cols));
    q->scales = malloc((size_t)rows * sizeof *q->scales);
    q->zeros = malloc((size_t)rows * sizeof *q->zeros);
    q->g_idx = calloc((size_t)cols, sizeof *q->g_idx);
    q->groups_contiguous = true;
}

/* Hardening with zero learning rates gives back the start codes exactly, ties included.
 * The inputs are one-hot rows (S = I, the loss is separable) and the teacher sits on the
 * other reachable neighbour of every start code, so any other hardening strictly lowers
 * the loss and would not be hidden by the keep-the-start rule. With learning rates the
 * codes do move there. */
static void test_hardening_reproduces_start(void)
{
    const int64_t rows = 4, cols = 8;
    struct rows_data D = {.n = cols, .k = cols, .ld = cols};
    D.a = D.x = calloc((size_t)(cols * cols), sizeof *D.a);
    D.rw = malloc((size_t)cols * sizeof *D.rw);
    for (int64_t i = 0; i < cols; i++) {
        D.a[i * cols + i] = 1.0f;
        D.rw[i] = 1.0;
    }
    struct ogq_layer_moments m;
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&m, cols, false, false, &err), OGQ_OK);
    const int64_t cuts[2] = {0, cols};
    const double wts[1] = {1.0};
    CU_ASSERT_EQUAL_FATAL(fill_moments_rows(&m, &D, cuts, wts, 1), OGQ_OK);

    struct ogq_qweight st;
    qweight_alloc(&st, rows, cols, 3);
    float pre[32], w[32];
    /* t = prequant / s: ties of both parities, near-ties, clamped values */
    const double ts[8] = {0.5, 1.5, -2.5, 2.4999, -0.5001, 0.1, -0.9, 3.75};
    for (int64_t r = 0; r < rows; r++) {
        st.scales[r] = 0.25f; /* a power of two: the ties are exact */
        st.zeros[r] = 4.0f;
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c;
            double t = ts[c] + (r == 3 ? 0.0 : r - 1); /* shift the pattern per row */
            pre[i] = (float)(0.25 * t);
            int code = ogq_grid_code(pre[i], 0.25f, 4.0f, 7);
            st.codes[i] = (uint8_t)code;
            int lo = (int)floor(t) + 4, hi = lo + 1;
            lo = lo < 0 ? 0 : lo > 7 ? 7 : lo;
            hi = hi < 0 ? 0 : hi > 7 ? 7 : hi;
            int other = code == hi ? lo : hi;
            w[i] = 0.25f * (float)(other - 4) + (float)(0.01 * (code > other ? -1 : 1));
        }
    }
    struct ogq_refine_config cfg;
    cfg_defaults(&cfg);
    cfg.optimizer.lr = 0.0;
    cfg.optimizer_rest.lr = 0.0;
    struct ogq_refine_layer in = {.w = w,
                                  .rows = rows,
                                  .cols = cols,
                                  .start = &st,
                                  .prequant = pre,
                                  .mom = &m,
                                  .loss_weight = 1.0,
                                  .steps = 3};
    struct ogq_refine_result res;
    CU_ASSERT_EQUAL_FATAL(ogq_refine_layer_run(&cfg, &in, &res, &err), OGQ_OK);
    CU_ASSERT(res.kept_start);
    CU_ASSERT_EQUAL(res.codes_changed, 0);
    CU_ASSERT_EQUAL(res.loss_final, res.loss_start);
    CU_ASSERT_EQUAL(memcmp(res.q.codes, st.codes, (size_t)(rows * cols)), 0);
    CU_ASSERT(res.bias == NULL);
    ogq_refine_result_fini(&res);

    cfg_defaults(&cfg); /* now with learning: the codes move to the teacher's neighbour */
    in.steps = 300;
    CU_ASSERT_EQUAL_FATAL(ogq_refine_layer_run(&cfg, &in, &res, &err), OGQ_OK);
    CU_ASSERT(!res.kept_start);
    CU_ASSERT(res.loss_final < 0.5 * res.loss_start);
    CU_ASSERT(res.codes_changed > 0);
    printf("\n    one-hot separable 4x8: loss %.4g -> %.4g, %lld codes changed ", res.loss_start,
           res.loss_final, (long long)res.codes_changed);
    ogq_refine_result_fini(&res);
    ogq_qweight_fini(&st);
    ogq_moments_fini(&m);
    rows_free(&D);
}

/* A result is consistent: loss_final is the moments loss of the dequantized result (and
 * matches raw rows), never above the start; kept ⇔ start copied; grids preserved. */
static void check_result(const struct ogq_refine_layer *in, const struct rows_data *D,
                         const struct ogq_refine_result *res)
{
    const struct ogq_qweight *st = in->start;
    const int64_t rows = in->rows, cols = in->cols, nw = rows * cols;
    float *deq = malloc((size_t)nw * sizeof *deq);
    ogq_qweight_dequantize(&res->q, deq);
    double again = ogq_moments_loss(in->mom, deq, res->bias, in->w, in->bias, rows, 1.0);
    CU_ASSERT(fabs(again - res->loss_final) <= TOL_EXACT * fabs(res->loss_final));
    double *deq_d = to_double(deq, nw), *b_d = res->bias ? to_double(res->bias, rows) : NULL;
    double energy = direct_loss(D, NULL, NULL, in->w, in->bias, rows, 0.0);
    double direct = direct_loss(D, deq_d, b_d, in->w, in->bias, rows, 1.0);
    CU_ASSERT(fabs(direct - res->loss_final) <= TOL_MOM * energy);
    ogq_qweight_dequantize(st, deq);
    double start = ogq_moments_loss(in->mom, deq, in->bias, in->w, in->bias, rows, 1.0);
    CU_ASSERT_EQUAL(start, res->loss_start);
    CU_ASSERT(res->loss_final <= res->loss_start);
    if (res->kept_start) {
        CU_ASSERT_EQUAL(res->loss_final, res->loss_start);
        CU_ASSERT_EQUAL(memcmp(res->q.codes, st->codes, (size_t)nw), 0);
        CU_ASSERT_EQUAL(
            memcmp(res->q.scales, st->scales, (size_t)(rows * st->n_groups) * sizeof(float)), 0);
        if (in->bias)
            CU_ASSERT_EQUAL(memcmp(res->bias, in->bias, (size_t)rows * sizeof(float)), 0);
        CU_ASSERT_EQUAL(res->codes_changed, 0);
    } else {
        CU_ASSERT(res->loss_final < res->loss_start);
    }
    int64_t changed = 0;
    for (int64_t i = 0; i < nw; i++)
        changed += res->q.codes[i] != st->codes[i];
    CU_ASSERT_EQUAL(changed, res->codes_changed);
    CU_ASSERT_EQUAL(res->q.n_groups, st->n_groups);
    CU_ASSERT_EQUAL(memcmp(res->q.zeros, st->zeros, (size_t)(rows * st->n_groups) * 4), 0);
    CU_ASSERT_EQUAL(memcmp(res->q.g_idx, st->g_idx, (size_t)cols * sizeof(int32_t)), 0);
    for (int64_t i = 0; i < rows * st->n_groups; i++)
        CU_ASSERT(res->q.scales[i] > 0.0f);
    CU_ASSERT((res->bias != NULL) == (in->bias != NULL));
    free(deq);
    free(deq_d);
    free(b_d);
}

static void test_run_lowers_rtn_loss(void)
{
    const int64_t rows = 16, cols = 32, n = 256;
    struct rows_data D = make_rows(n, cols, cols, 0.0, 0.0);
    struct ogq_layer_moments m;
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&m, cols, true, false, &err), OGQ_OK);
    const int64_t cuts[2] = {0, n};
    const double wts[1] = {1.0};
    CU_ASSERT_EQUAL_FATAL(fill_moments_rows(&m, &D, cuts, wts, 1), OGQ_OK);
    float *w = random_matrix(rows * cols, 1.0), *b = random_matrix(rows, 0.5);
    struct ogq_gptq_opts o;
    ogq_gptq_opts_init(&o);
    o.grid.bits = 3;
    struct ogq_qweight st;
    CU_ASSERT_EQUAL_FATAL(ogq_rtn_quantize(w, rows, cols, &o, &st, &err), OGQ_OK);
    struct ogq_refine_config cfg;
    cfg_defaults(&cfg);
    struct ogq_refine_layer in = {.w = w,
                                  .bias = b,
                                  .rows = rows,
                                  .cols = cols,
                                  .start = &st,
                                  .mom = &m,
                                  .loss_weight = 1.0,
                                  .steps = 400};
    struct ogq_refine_result res;
    CU_ASSERT_EQUAL_FATAL(ogq_refine_layer_run(&cfg, &in, &res, &err), OGQ_OK);
    CU_ASSERT(!res.kept_start);
    CU_ASSERT(res.loss_final < 0.9 * res.loss_start);
    CU_ASSERT(res.codes_changed > 0);
    CU_ASSERT(res.objective_last < res.objective_first);
    CU_ASSERT_DOUBLE_EQUAL(res.final_q, 1.0, 0.0);
    check_result(&in, &D, &res);
    printf("\n    RTN 3-bit 16x32 (soft, bias): loss %.4g -> %.4g (-%.1f%%), %lld codes changed ",
           res.loss_start, res.loss_final, 100.0 * (1.0 - res.loss_final / res.loss_start),
           (long long)res.codes_changed);
    ogq_refine_result_fini(&res);
    ogq_qweight_fini(&st);
    ogq_moments_fini(&m);
    rows_free(&D);
    free(w);
    free(b);
}

/* A layer large enough for several row blocks on the worker pool (forward passes and the
 * loss's row tasks): two runs give bit-identical results, consistent with raw rows. */
static void test_run_deterministic_multi_task(void)
{
    const int64_t rows = 80, cols = 260, n = 300;
    struct rows_data D = make_rows(n, cols, cols, 0.05, 0.3);
    struct ogq_layer_moments m;
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&m, cols, true, true, &err), OGQ_OK);
    const int64_t cuts[2] = {0, n};
    const double wts[1] = {1.0};
    CU_ASSERT_EQUAL_FATAL(fill_moments_rows(&m, &D, cuts, wts, 1), OGQ_OK);
    float *w = random_matrix(rows * cols, 1.0), *b = random_matrix(rows, 0.5);
    struct ogq_gptq_opts o;
    ogq_gptq_opts_init(&o);
    o.grid.bits = 4;
    o.group_size = 64;
    struct ogq_qweight st;
    CU_ASSERT_EQUAL_FATAL(ogq_rtn_quantize(w, rows, cols, &o, &st, &err), OGQ_OK);
    struct ogq_refine_config cfg;
    cfg_defaults(&cfg);
    cfg.quantization_parameter_learning = true;
    struct ogq_refine_layer in = {.w = w,
                                  .bias = b,
                                  .rows = rows,
                                  .cols = cols,
                                  .start = &st,
                                  .mom = &m,
                                  .loss_weight = 1.0,
                                  .steps = 40};
    struct ogq_refine_result r1, r2;
    CU_ASSERT_EQUAL_FATAL(ogq_refine_layer_run(&cfg, &in, &r1, &err), OGQ_OK);
    CU_ASSERT_EQUAL_FATAL(ogq_refine_layer_run(&cfg, &in, &r2, &err), OGQ_OK);
    CU_ASSERT_EQUAL(r1.loss_final, r2.loss_final);
    CU_ASSERT_EQUAL(r1.objective_last, r2.objective_last);
    CU_ASSERT_EQUAL(memcmp(r1.q.codes, r2.q.codes, (size_t)(rows * cols)), 0);
    CU_ASSERT_EQUAL(memcmp(r1.q.scales, r2.q.scales, (size_t)(rows * st.n_groups) * 4), 0);
    CU_ASSERT_EQUAL(memcmp(r1.bias, r2.bias, (size_t)rows * sizeof(float)), 0);
    check_result(&in, &D, &r1);
    printf("\n    80x260 4-bit g64 (soft, bias, scales, act-quant): loss %.4g -> %.4g%s ",
           r1.loss_start, r1.loss_final, r1.kept_start ? " (kept)" : "");
    ogq_refine_result_fini(&r1);
    ogq_refine_result_fini(&r2);
    ogq_qweight_fini(&st);
    ogq_moments_fini(&m);
    rows_free(&D);
    free(w);
    free(b);
}

/* 1×3 layer whose start codes are the brute-force optimum on the start grid: kept. */
static void test_run_keeps_optimal_start(void)
{
    const int64_t cols = 3, n = 20;
    struct rows_data D = make_rows(n, cols, cols, 0.0, 0.0);
    struct ogq_layer_moments m;
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&m, cols, false, false, &err), OGQ_OK);
    const int64_t cuts[2] = {0, n};
    const double wts[1] = {1.0};
    CU_ASSERT_EQUAL_FATAL(fill_moments_rows(&m, &D, cuts, wts, 1), OGQ_OK);
    float w[3] = {0.83f, -0.41f, 0.27f};
    struct ogq_gptq_opts o;
    ogq_gptq_opts_init(&o);
    o.grid.bits = 2;
    struct ogq_qweight st;
    CU_ASSERT_EQUAL_FATAL(ogq_rtn_quantize(w, 1, cols, &o, &st, &err), OGQ_OK);
    const float s = st.scales[0], z = st.zeros[0];
    double best = INFINITY;
    int best_codes[3] = {0};
    for (int c0 = 0; c0 < 4; c0++)
        for (int c1 = 0; c1 < 4; c1++)
            for (int c2 = 0; c2 < 4; c2++) {
                double wh[3] = {s * (c0 - z), s * (c1 - z), s * (c2 - z)};
                double l = direct_loss(&D, wh, NULL, w, NULL, 1, 1.0);
                if (l < best) {
                    best = l;
                    best_codes[0] = c0;
                    best_codes[1] = c1;
                    best_codes[2] = c2;
                }
            }
    float pre[3];
    for (int c = 0; c < 3; c++) {
        st.codes[c] = (uint8_t)best_codes[c];
        pre[c] = s * ((float)best_codes[c] - z + (float)(0.3 * (2.0 * rand_uniform() - 1.0)));
    }
    const enum ogq_rounding_type types[2] = {OGQ_ROUNDING_SOFT, OGQ_ROUNDING_STE};
    for (int t = 0; t < 2; t++) {
        struct ogq_refine_config cfg;
        cfg_defaults(&cfg);
        cfg.rounding_type = types[t];
        cfg.optimizer.lr = t ? 1e-2 : 3e-2;
        struct ogq_refine_layer in = {.w = w,
                                      .rows = 1,
                                      .cols = cols,
                                      .start = &st,
                                      .prequant = pre,
                                      .mom = &m,
                                      .loss_weight = 1.0,
                                      .steps = 200};
        struct ogq_refine_result res;
        CU_ASSERT_EQUAL_FATAL(ogq_refine_layer_run(&cfg, &in, &res, &err), OGQ_OK);
        CU_ASSERT(res.kept_start);
        CU_ASSERT_EQUAL(res.loss_final, res.loss_start);
        CU_ASSERT(fabs(res.loss_start - best) <= TOL_MOM * best + 1e-12);
        check_result(&in, &D, &res);
        ogq_refine_result_fini(&res);
    }
    ogq_qweight_fini(&st);
    ogq_moments_fini(&m);
    rows_free(&D);
}

/* Random layers and settings: never worse than the start, always consistent. */
static void test_run_never_worse(void)
{
    for (int trial = 0; trial < 8; trial++) {
        const int64_t rows = 6 + trial, cols = 16 + 2 * trial, n = 96;
        const bool bias = trial % 2 == 0, delta = trial >= 5, ste = trial % 3 == 1;
        struct rows_data D = make_rows(n, cols, cols + 1, delta ? 0.05 : 0.0, delta ? 0.3 : 0.0);
        const int64_t cuts[3] = {0, 40, n};
        const double wts[2] = {1.0, 0.4 + 0.3 * trial};
        set_weights(&D, cuts, wts, 2);
        struct ogq_layer_moments m;
        struct ogq_error err;
        CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&m, cols, bias, delta, &err), OGQ_OK);
        CU_ASSERT_EQUAL_FATAL(fill_moments_rows(&m, &D, cuts, wts, 2), OGQ_OK);
        float *w = random_matrix(rows * cols, 1.0), *b = bias ? random_matrix(rows, 0.5) : NULL;
        float *pre = malloc((size_t)(rows * cols) * sizeof *pre);
        for (int64_t i = 0; i < rows * cols; i++)
            pre[i] = w[i] + (float)(trial % 4 == 3 ? 0.2 * rand_normal() : 0.0);
        struct ogq_gptq_opts o;
        ogq_gptq_opts_init(&o);
        o.grid.bits = 2 + trial % 3;
        o.grid.sym = trial % 4 == 2;
        o.group_size = trial % 2 ? 8 : 0;
        struct ogq_qweight st;
        CU_ASSERT_EQUAL_FATAL(ogq_rtn_quantize(pre, rows, cols, &o, &st, &err), OGQ_OK);
        struct ogq_refine_config cfg;
        cfg_defaults(&cfg);
        cfg.rounding_type = ste ? OGQ_ROUNDING_STE : OGQ_ROUNDING_SOFT;
        if (ste)
            cfg.optimizer.lr = 1e-3;
        cfg.train_bias = trial % 4 != 0;
        cfg.quantization_parameter_learning = trial % 3 == 2;
        if (trial == 4) {
            cfg.has_optimizer_bias = true;
            cfg.optimizer_bias.lr = 1e-2;
            cfg.has_optimizer_quantization_parameter = true;
            cfg.optimizer_quantization_parameter.lr = 1e-3;
        }
        struct ogq_refine_layer in = {.w = w,
                                      .bias = b,
                                      .rows = rows,
                                      .cols = cols,
                                      .start = &st,
                                      .prequant = pre,
                                      .mom = &m,
                                      .loss_weight = 0.5 + trial,
                                      .steps = 200 + 50 * trial};
        struct ogq_refine_result res;
        CU_ASSERT_EQUAL_FATAL(ogq_refine_layer_run(&cfg, &in, &res, &err), OGQ_OK);
        check_result(&in, &D, &res);
        printf("\n    trial %d (%s%s%s%s, %d bits): loss %.4g -> %.4g%s ", trial,
               ste ? "STE" : "soft", bias && cfg.train_bias ? ", bias" : "",
               cfg.quantization_parameter_learning ? ", scales" : "", delta ? ", act-quant" : "",
               o.grid.bits, res.loss_start, res.loss_final, res.kept_start ? " (kept)" : "");
        printf("obj %g -> %g ", res.objective_first, res.objective_last);
        ogq_refine_result_fini(&res);
        ogq_qweight_fini(&st);
        ogq_moments_fini(&m);
        rows_free(&D);
        free(w);
        free(b);
        free(pre);
    }
}

/* Act-quant delta moments with GAQ (q 0.25 → 1 over steps 10..80 of 100): the result is
 * never worse on the deployed loss, which equals the raw-row loss at q = 1. */
static void test_run_act_quant_gaq(void)
{
    const int64_t rows = 12, cols = 24, n = 200;
    struct rows_data D = make_rows(n, cols, cols, 0.05, 0.4);
    struct ogq_layer_moments m;
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_moments_init(&m, cols, true, true, &err), OGQ_OK);
    const int64_t cuts[2] = {0, n};
    const double wts[1] = {1.0};
    CU_ASSERT_EQUAL_FATAL(fill_moments_rows(&m, &D, cuts, wts, 1), OGQ_OK);
    float *w = random_matrix(rows * cols, 1.0), *b = random_matrix(rows, 0.5);
    struct ogq_gptq_opts o;
    ogq_gptq_opts_init(&o);
    o.grid.bits = 3;
    struct ogq_qweight st;
    CU_ASSERT_EQUAL_FATAL(ogq_rtn_quantize(w, rows, cols, &o, &st, &err), OGQ_OK);
    struct ogq_refine_config cfg;
    cfg_defaults(&cfg);
    cfg.gradual_activation_quantization_config.initial_q_fraction = 0.25;
    cfg.gradual_activation_quantization_config.start_step = 10;
    cfg.gradual_activation_quantization_config.end_step = 80;
    struct ogq_refine_layer in = {.w = w,
                                  .bias = b,
                                  .rows = rows,
                                  .cols = cols,
                                  .start = &st,
                                  .mom = &m,
                                  .loss_weight = 1.0,
                                  .steps = 100};
    struct ogq_refine_result res;
    CU_ASSERT_EQUAL_FATAL(ogq_refine_layer_run(&cfg, &in, &res, &err), OGQ_OK);
    check_result(&in, &D, &res);
    CU_ASSERT_DOUBLE_EQUAL(res.final_q, 1.0, 0.0);
    printf("\n    act-quant + GAQ 12x24: loss %.4g -> %.4g%s ", res.loss_start, res.loss_final,
           res.kept_start ? " (kept)" : "");
    ogq_refine_result_fini(&res);

    /* bad inputs are refused */
    in.steps = 0;
    CU_ASSERT_EQUAL(ogq_refine_layer_run(&cfg, &in, &res, &err), OGQ_ERR_USAGE);
    in.steps = 10;
    in.bias = NULL; /* moments are augmented: a layer without bias does not match */
    CU_ASSERT_EQUAL(ogq_refine_layer_run(&cfg, &in, &res, &err), OGQ_ERR_USAGE);
    ogq_qweight_fini(&st);
    ogq_moments_fini(&m);
    rows_free(&D);
    free(w);
    free(b);
}

int main(void)
{
    ogq_linalg_set_threads(2); /* exercise the row tasks on the worker pool */
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("refine", NULL, NULL);
    CU_add_test(s, "moments loss == row-by-row double loss", test_moments_loss_matches_rows);
    CU_add_test(s, "moments: rows == cols paths, several chunks",
                test_moments_rows_cols_agree_and_chunks);
    CU_add_test(s, "soft h: range, clipping, inverse, derivative", test_soft_h);
    CU_add_test(s, "beta schedule and rounding regulariser", test_beta_and_regulariser);
    CU_add_test(s, "GAQ fraction schedule", test_gaq_schedule);
    CU_add_test(s, "objective and gradients, soft rounding", test_objective_gradient_soft);
    CU_add_test(s, "objective and gradients, STE", test_objective_gradient_ste);
    CU_add_test(s, "hardening at step 0 == start codes", test_hardening_reproduces_start);
    CU_add_test(s, "run lowers an RTN start's loss", test_run_lowers_rtn_loss);
    CU_add_test(s, "run keeps a brute-force optimal start", test_run_keeps_optimal_start);
    CU_add_test(s, "run deterministic over several row tasks", test_run_deterministic_multi_task);
    CU_add_test(s, "run never worse than the start", test_run_never_worse);
    CU_add_test(s, "run with act-quant moments and GAQ", test_run_act_quant_gaq);
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
