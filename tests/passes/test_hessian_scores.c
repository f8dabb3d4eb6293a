/* test_hessian_scores.c — Hutchinson/finite-difference scores against closed forms, and the
 * MCT weight normalisations against hand-computed values.
 *
 * Models are built in memory with the graph API (x is the only graph input, [N, K0]).
 * References:
 *   - y = (x·B)·A, compare point v = x·B: tr(JᵀJ) per sample is ‖A‖_F² exactly; the mean of
 *     P probes of ‖uA‖² has variance 2·tr((AAᵀ)²)/P, which sets the Monte-Carlo bound;
 *   - identities that hold for every probe (same seed, value index and shapes give the same
 *     u): scaling A by c scales scores by c², two outputs add, [A | A2] = A plus A2, ε does
 *     not matter for a linear map, and v ⊙ v (central differences of a quadratic are exact)
 *     equals v ⊙ C with C = 2v computed in the test;
 *   - Relu: samples whose activations are all negative score exactly 0, the others score
 *     the squared norm of the rows of A of their active units;
 *   - an output without the sample dimension (ReduceSum to a scalar) is split evenly.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "passes/hessian_scores.h"
#include "tests/graph/testutil.h"

#define TOL_FD 1e-3       /* identities exact in real arithmetic; float rounding of v ± εu */
#define MC_SIGMAS 5.0     /* Monte-Carlo bound in standard deviations of the probe mean */
#define MC_REL 0.15       /* mean over samples of many probes vs the exact trace */
#define TOL_WEIGHTS 1e-12 /* hand-computed weights: double arithmetic only */

static struct ogq_error err;

/* ---------------------------------------------------------------- data */

static uint64_t rng_state = 12345;

static double urand(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) * 0x1.0p-52 - 1.0;
}

static void fill_uniform(float *d, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)(scale * urand());
}

/* ---------------------------------------------------------------- model building */

static struct ogq_model *new_model(int64_t k0, struct ogq_value **x)
{
    struct ogq_model *m = NULL;
    ogq_error_clear(&err);
    EXPECT_OK(ogq_model_new(&m, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    EXPECT_OK(ogq_model_set_opset(m, "", 17, &err), &err);
    EXPECT_OK(ogq_graph_add_value(m->graph, "x", x, &err), &err);
    EXPECT_OK(ogq_value_set_type(*x, OGQ_DTYPE_FLOAT, 2, (const int64_t[]){-1, k0}, &err), &err);
    EXPECT_OK(ogq_graph_add_input(m->graph, *x, &err), &err);
    return m;
}

static struct ogq_value *init(struct ogq_model *m, const char *name, int rank, const int64_t *dims,
                              const float *data)
{
    struct ogq_tensor *t = NULL;
    struct ogq_value *v = NULL;
    EXPECT_OK(ogq_tensor_new(name, OGQ_DTYPE_FLOAT, rank, dims, &t, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    memcpy(ogq_tensor_data(t), data, (size_t)t->numel * sizeof(float));
    EXPECT_OK(ogq_graph_add_value(m->graph, name, &v, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    EXPECT_OK(ogq_graph_set_initializer(m->graph, v, t, &err), &err);
    return v;
}

static struct ogq_value *matrix(struct ogq_model *m, const char *name, int64_t r, int64_t c,
                                const float *data)
{
    return init(m, name, 2, (const int64_t[]){r, c}, data);
}

/* Appends `op` over `a`, `b` (b may be NULL) producing a new value `out`. */
static struct ogq_value *op2(struct ogq_model *m, const char *op, struct ogq_value *a,
                             struct ogq_value *b, const char *out)
{
    struct ogq_value *y = NULL;
    struct ogq_value *in[2] = {a, b};
    EXPECT_OK(ogq_graph_add_value(m->graph, out, &y, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    EXPECT_OK(ogq_graph_insert_node(m->graph, NULL, op, "", out, in, b ? 2 : 1, &y, 1, NULL, &err),
              &err);
    return y;
}

static void output(struct ogq_model *m, struct ogq_value *v)
{
    EXPECT_OK(ogq_graph_add_output(m->graph, v, &err), &err);
}

/* ---------------------------------------------------------------- calibration */

#define MAX_BATCHES 4

struct calib {
    struct ogq_tensor *t[MAX_BATCHES];
    const struct ogq_tensor *cols[MAX_BATCHES][1];
    const struct ogq_tensor *const *rows[MAX_BATCHES];
    struct ogq_calib_set set;
};

/* Batches of x with `sizes[b]` samples of width k0; data from `data` (concatenated) or
 * random when NULL. */
static void calib_init(struct calib *c, const int64_t *sizes, size_t n, int64_t k0,
                       const float *data)
{
    memset(c, 0, sizeof *c);
    int64_t off = 0;
    for (size_t b = 0; b < n; b++) {
        EXPECT_OK(ogq_tensor_new("x", OGQ_DTYPE_FLOAT, 2, (const int64_t[]){sizes[b], k0}, &c->t[b],
                                 &err),
                  &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c->t[b]);
        float *d = ogq_tensor_data(c->t[b]);
        if (data)
            memcpy(d, data + off * k0, (size_t)(sizes[b] * k0) * sizeof(float));
        else
            fill_uniform(d, sizes[b] * k0, 1.0);
        off += sizes[b];
        c->cols[b][0] = c->t[b];
        c->rows[b] = c->cols[b];
    }
    c->set.n_batches = n;
    c->set.n_inputs = 1;
    c->set.batches = c->rows;
    c->set.n_samples = off;
}

static void calib_fini(struct calib *c)
{
    for (size_t b = 0; b < MAX_BATCHES; b++)
        ogq_tensor_free(c->t[b]);
}

/* Computes scores of `values`, asserting success and the sample count. Caller frees. */
static double *scores_of(const struct ogq_model *m, struct ogq_value *const *values, size_t n,
                         const struct calib *c, const struct ogq_hessian_scores_opts *o,
                         int64_t expect_samples)
{
    double *s = NULL;
    int64_t ns = -1;
    ogq_error_clear(&err);
    EXPECT_OK(ogq_hessian_scores_compute(m, (const struct ogq_value *const *)values, n, &c->set, o,
                                         &s, &ns, &err),
              &err);
    CU_ASSERT_EQUAL(ns, expect_samples);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

static double rel_diff(double a, double b)
{
    double scale = fmax(fabs(a), fabs(b));
    return scale > 0 ? fabs(a - b) / scale : 0.0;
}

/* tr(M) and tr(M²) of M = A_S A_Sᵀ where A_S are the rows of A [k, n] with mask[i] set
 * (NULL: all rows): the mean and half the variance of ‖uA_S‖² for u ~ N(0, I). */
static void gram_traces(const float *a, int64_t k, int64_t n, const bool *mask, double *tr1,
                        double *tr2)
{
    *tr1 = *tr2 = 0.0;
    for (int64_t i = 0; i < k; i++) {
        if (mask && !mask[i])
            continue;
        for (int64_t j = 0; j < k; j++) {
            if (mask && !mask[j])
                continue;
            double mij = 0.0;
            for (int64_t c = 0; c < n; c++)
                mij += (double)a[i * n + c] * (double)a[j * n + c];
            if (i == j)
                *tr1 += mij;
            *tr2 += mij * mij;
        }
    }
}

/* ---------------------------------------------------------------- tests */

enum { K0 = 5, K = 8, NOUT = 6 };

/* y = (x·B)·A with v = x·B as compare point: E score = ‖A‖_F² for every sample. */
static void test_linear_trace(void)
{
    float b[K0 * K], a[K * NOUT];
    fill_uniform(b, K0 * K, 1.0);
    fill_uniform(a, K * NOUT, 1.0);
    struct ogq_value *x;
    struct ogq_model *m = new_model(K0, &x);
    struct ogq_value *v = op2(m, "MatMul", x, matrix(m, "B", K0, K, b), "v");
    output(m, op2(m, "MatMul", v, matrix(m, "A", K, NOUT, a), "y"));
    struct calib c;
    calib_init(&c, (const int64_t[]){3, 2}, 2, K0, NULL);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    o.num_samples = 0;
    o.num_probes = 256;
    o.seed = 7;
    double *s = scores_of(m, &v, 1, &c, &o, 5);
    double tr1, tr2;
    gram_traces(a, K, NOUT, NULL, &tr1, &tr2);
    const double sigma = sqrt(2.0 * tr2 / (double)o.num_probes);
    double mean = 0.0;
    for (int i = 0; i < 5; i++) {
        if (fabs(s[i] - tr1) > MC_SIGMAS * sigma)
            fprintf(stderr, "\n  sample %d: score %g, expected %g ± %g\n", i, s[i], tr1, sigma);
        CU_ASSERT(fabs(s[i] - tr1) <= MC_SIGMAS * sigma);
        mean += s[i] / 5.0;
    }
    CU_ASSERT(fabs(mean - tr1) <= MC_REL * tr1);
    CU_ASSERT(fabs(mean - tr1) <= MC_SIGMAS * sigma / sqrt(5.0));
    free(s);
    calib_fini(&c);
    ogq_model_free(m);
}

/* Builds x → v = x·B → y = v·W1 (and z = v·W2 when w2) as outputs. */
static struct ogq_model *linear_model(const float *b, const float *w1, int64_t n1, const float *w2,
                                      int64_t n2, struct ogq_value **v)
{
    struct ogq_value *x;
    struct ogq_model *m = new_model(K0, &x);
    *v = op2(m, "MatMul", x, matrix(m, "B", K0, K, b), "v");
    output(m, op2(m, "MatMul", *v, matrix(m, "W1", K, n1, w1), "y"));
    if (w2)
        output(m, op2(m, "MatMul", *v, matrix(m, "W2", K, n2, w2), "z"));
    return m;
}

/* Identities that hold probe by probe (the same u for the same seed, index and shape). */
static void test_fd_identities(void)
{
    enum { N2 = 3 };
    float b[K0 * K], a[K * NOUT], a2[K * N2], a3[K * NOUT], cat[K * (NOUT + N2)];
    fill_uniform(b, K0 * K, 1.0);
    fill_uniform(a, K * NOUT, 1.0);
    fill_uniform(a2, K * N2, 1.0);
    for (int i = 0; i < K * NOUT; i++)
        a3[i] = 3.0f * a[i];
    for (int i = 0; i < K; i++) {
        memcpy(cat + i * (NOUT + N2), a + i * NOUT, NOUT * sizeof(float));
        memcpy(cat + i * (NOUT + N2) + NOUT, a2 + i * N2, N2 * sizeof(float));
    }
    struct calib c;
    calib_init(&c, (const int64_t[]){4, 3}, 2, K0, NULL);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    o.num_probes = 3;
    o.seed = 99;
    struct ogq_value *v;
    struct ogq_model *ma = linear_model(b, a, NOUT, NULL, 0, &v);
    double *sa = scores_of(ma, &v, 1, &c, &o, 7);
    struct ogq_model *m3 = linear_model(b, a3, NOUT, NULL, 0, &v);
    double *s3 = scores_of(m3, &v, 1, &c, &o, 7);
    struct ogq_model *m2 = linear_model(b, a2, N2, NULL, 0, &v);
    double *s2 = scores_of(m2, &v, 1, &c, &o, 7);
    struct ogq_model *mtwo = linear_model(b, a, NOUT, a2, N2, &v);
    double *stwo = scores_of(mtwo, &v, 1, &c, &o, 7);
    struct ogq_model *mcat = linear_model(b, cat, NOUT + N2, NULL, 0, &v);
    double *scat = scores_of(mcat, &v, 1, &c, &o, 7);
    /* ε does not matter for a linear map. */
    struct ogq_hessian_scores_opts big = o;
    big.rel_eps = 0.1;
    double *sbig =
        scores_of(ma, (struct ogq_value *[]){ogq_graph_value(ma->graph, "v")}, 1, &c, &big, 7);
    for (int i = 0; i < 7; i++) {
        CU_ASSERT(sa[i] > 0.0);
        CU_ASSERT(rel_diff(s3[i], 9.0 * sa[i]) < TOL_FD);
        CU_ASSERT(rel_diff(stwo[i], sa[i] + s2[i]) < TOL_FD);
        CU_ASSERT(rel_diff(scat[i], sa[i] + s2[i]) < TOL_FD);
        CU_ASSERT(rel_diff(sbig[i], sa[i]) < TOL_FD);
    }
    /* Samples get independent probes: scores differ between samples. */
    CU_ASSERT(sa[0] != sa[1] && sa[3] != sa[4]);
    free(sa), free(s3), free(s2), free(stwo), free(scat), free(sbig);
    ogq_model_free(ma), ogq_model_free(m3), ogq_model_free(m2), ogq_model_free(mtwo);
    ogq_model_free(mcat);
    calib_fini(&c);
}

/* Central differences of a quadratic are exact for any ε: v ⊙ v scores like v ⊙ (2v). */
static void test_fd_quadratic(void)
{
    enum { N = 4 };
    float b[K0 * K], xs[N * K0], twice_v[N * K];
    fill_uniform(b, K0 * K, 1.0);
    fill_uniform(xs, N * K0, 1.0);
    for (int s = 0; s < N; s++)
        for (int j = 0; j < K; j++) {
            double acc = 0.0;
            for (int i = 0; i < K0; i++)
                acc += (double)xs[s * K0 + i] * (double)b[i * K + j];
            twice_v[s * K + j] = (float)(2.0 * acc);
        }
    struct calib c;
    calib_init(&c, (const int64_t[]){N}, 1, K0, xs);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    o.num_probes = 4;
    o.rel_eps = 0.2; /* large: a wrong difference formula would show its O(ε²) error */
    struct ogq_value *x, *vq, *vl;
    struct ogq_model *mq = new_model(K0, &x);
    vq = op2(mq, "MatMul", x, matrix(mq, "B", K0, K, b), "v");
    output(mq, op2(mq, "Mul", vq, vq, "y"));
    struct ogq_model *ml = new_model(K0, &x);
    vl = op2(ml, "MatMul", x, matrix(ml, "B", K0, K, b), "v");
    output(ml, op2(ml, "Mul", vl, matrix(ml, "C", N, K, twice_v), "y"));
    double *sq = scores_of(mq, &vq, 1, &c, &o, N);
    double *sl = scores_of(ml, &vl, 1, &c, &o, N);
    for (int i = 0; i < N; i++) {
        CU_ASSERT(sl[i] > 0.0);
        CU_ASSERT(rel_diff(sq[i], sl[i]) < TOL_FD);
    }
    free(sq), free(sl);
    ogq_model_free(mq), ogq_model_free(ml);
    calib_fini(&c);
}

/* v = x·2I → Relu → ·A: all-negative samples score 0, the others ‖A_active‖_F². */
static void test_relu_separation(void)
{
    enum { N = 4, KR = 6 };
    float two_i[KR * KR] = {0}, a[KR * NOUT];
    for (int i = 0; i < KR; i++)
        two_i[i * KR + i] = 2.0f;
    fill_uniform(a, KR * NOUT, 1.0);
    /* Magnitudes >= 0.5 keep every unit far from the kink: ε·|u| is about 1e-2 at most. */
    float xs[N * KR] = {
        -0.5f, -1.0f, -0.7f, -2.0f, -0.6f, -0.9f, /* all negative */
        0.5f,  1.0f,  0.7f,  2.0f,  0.6f,  0.9f,  /* all positive */
        0.8f,  -1.0f, 0.6f,  -0.5f, 1.5f,  -2.0f, /* mixed */
        -1.5f, -0.5f, -0.8f, -0.6f, -1.2f, -0.7f, /* all negative */
    };
    struct ogq_value *x;
    struct ogq_model *m = new_model(KR, &x);
    struct ogq_value *v = op2(m, "MatMul", x, matrix(m, "B", KR, KR, two_i), "v");
    struct ogq_value *r = op2(m, "Relu", v, NULL, "r");
    output(m, op2(m, "MatMul", r, matrix(m, "A", KR, NOUT, a), "y"));
    struct calib c;
    calib_init(&c, (const int64_t[]){N}, 1, KR, xs);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    o.num_probes = 128;
    double *s = scores_of(m, &v, 1, &c, &o, N);
    CU_ASSERT_EQUAL(s[0], 0.0);
    CU_ASSERT_EQUAL(s[3], 0.0);
    for (int i = 1; i <= 2; i++) {
        bool mask[KR];
        for (int j = 0; j < KR; j++)
            mask[j] = xs[i * KR + j] > 0.0f;
        double tr1, tr2;
        gram_traces(a, KR, NOUT, mask, &tr1, &tr2);
        double sigma = sqrt(2.0 * tr2 / (double)o.num_probes);
        CU_ASSERT(s[i] > 0.0);
        CU_ASSERT(fabs(s[i] - tr1) <= MC_SIGMAS * sigma);
    }
    /* The mixed sample has half the active units: a smaller score. */
    CU_ASSERT(s[2] < s[1]);
    free(s);
    calib_fini(&c);
    ogq_model_free(m);
}

/* Two branches: y1 = (x·B1)·A and y2 = ((x·B2)·A)·10. Scores of v2 are 100× those of v1
 * probe by probe when each is scored alone (same value index, same u). */
static void test_two_points_and_weights(void)
{
    enum { N = 4 };
    float b1[K0 * K], b2[K0 * K], a[K * NOUT], ten = 10.0f;
    fill_uniform(b1, K0 * K, 1.0);
    fill_uniform(b2, K0 * K, 1.0);
    fill_uniform(a, K * NOUT, 1.0);
    struct ogq_value *x;
    struct ogq_model *m = new_model(K0, &x);
    struct ogq_value *av = matrix(m, "A", K, NOUT, a);
    struct ogq_value *v1 = op2(m, "MatMul", x, matrix(m, "B1", K0, K, b1), "v1");
    struct ogq_value *v2 = op2(m, "MatMul", x, matrix(m, "B2", K0, K, b2), "v2");
    output(m, op2(m, "MatMul", v1, av, "y1"));
    struct ogq_value *t = op2(m, "MatMul", v2, av, "t");
    output(m, op2(m, "Mul", t, init(m, "ten", 0, NULL, &ten), "y2"));
    struct calib c;
    calib_init(&c, (const int64_t[]){N}, 1, K0, NULL);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    o.num_probes = 4;
    double *s1 = scores_of(m, &v1, 1, &c, &o, N);
    double *s2 = scores_of(m, &v2, 1, &c, &o, N);
    for (int i = 0; i < N; i++)
        CU_ASSERT(rel_diff(s2[i], 100.0 * s1[i]) < TOL_FD);
    /* Scored together, the first value is unaffected by the second (and vice versa): the
     * transform of one is gone when the next is scored. */
    double *s12 = scores_of(m, (struct ogq_value *[]){v1, v2}, 2, &c, &o, N);
    double *s21 = scores_of(m, (struct ogq_value *[]){v2, v1}, 2, &c, &o, N);
    CU_ASSERT(memcmp(s12, s1, N * sizeof(double)) == 0);
    CU_ASSERT(memcmp(s21, s2, N * sizeof(double)) == 0);
    /* Index 1 draws other probes but has the same expectations: v2 ≫ v1. */
    for (int i = 0; i < N; i++) {
        CU_ASSERT(s12[N + i] > 10.0 * s12[i]);
        CU_ASSERT(s21[N + i] * 10.0 < s21[i]);
    }

    /* Layer weights of [s1; s2], where s2 = 100·s1 sample by sample. */
    double sc[2 * N], w[2];
    memcpy(sc, s1, sizeof(double) * N);
    memcpy(sc + N, s2, sizeof(double) * N);
    double mean1 = 0.0;
    for (int i = 0; i < N; i++)
        mean1 += s1[i] / N;
    ogq_hessian_layer_weights(sc, 2, N, false, false, false, w);
    CU_ASSERT(rel_diff(w[0], mean1) < 1e-12);
    CU_ASSERT(rel_diff(w[1], 100.0 * mean1) < TOL_FD);
    ogq_hessian_layer_weights(sc, 2, N, true, false, false, w);
    CU_ASSERT(rel_diff(w[0], 1.0 / 101.0) < TOL_FD);
    CU_ASSERT(rel_diff(w[1], 100.0 / 101.0) < TOL_FD);
    ogq_hessian_layer_weights(sc, 2, N, false, true, false, w);
    CU_ASSERT_DOUBLE_EQUAL(w[0], 0.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(w[1], 2.0, TOL_FD);
    ogq_hessian_layer_weights(sc, 2, N, true, true, false, w);
    CU_ASSERT_DOUBLE_EQUAL(w[0], 0.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(w[1], 2.0, TOL_FD);
    ogq_hessian_layer_weights(sc, 2, N, false, true, true, w);
    CU_ASSERT_DOUBLE_EQUAL(w[0], 0.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(w[1], 1.0, 1e-12);
    free(s1), free(s2), free(s12), free(s21);
    calib_fini(&c);
    ogq_model_free(m);
}

static void expect_weights(const double *got, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fabs(got[i] - want[i]) > TOL_WEIGHTS)
            fprintf(stderr, "\n  weight %zu: got %.17g, want %.17g\n", i, got[i], want[i]);
        CU_ASSERT_DOUBLE_EQUAL(got[i], want[i], TOL_WEIGHTS);
    }
}

/* Hand-computed layer weights for every flag combination. */
static void test_layer_weights_by_hand(void)
{
    /* 3 layers × 2 samples: means 2, 0, 2.5. */
    const double s[] = {1, 3, /* L0 */ 0, 0, /* L1 */ 4, 1 /* L2 */};
    double w[4];
    ogq_hessian_layer_weights(s, 3, 2, false, false, false, w);
    expect_weights(w, (const double[]){2.0, 0.0, 2.5}, 3);
    /* scale_log_norm alone changes nothing (it applies to the log weights). */
    ogq_hessian_layer_weights(s, 3, 2, false, false, true, w);
    expect_weights(w, (const double[]){2.0, 0.0, 2.5}, 3);
    /* Per-sample sums 5 and 4: (0.2, 0, 0.8) and (0.75, 0, 0.25). */
    ogq_hessian_layer_weights(s, 3, 2, true, false, false, w);
    expect_weights(w, (const double[]){0.475, 0.0, 0.525}, 3);
    /* The zero mean becomes the smallest non-zero one (2): log10 (2, 2, 2.5) − log10 2. */
    ogq_hessian_layer_weights(s, 3, 2, false, true, false, w);
    expect_weights(w, (const double[]){0.0, 0.0, log10(1.25)}, 3);
    ogq_hessian_layer_weights(s, 3, 2, false, true, true, w);
    expect_weights(w, (const double[]){0.0, 0.0, 1.0}, 3);
    /* norm + log: means 0.475, 0 → 0.475, 0.525. */
    ogq_hessian_layer_weights(s, 3, 2, true, true, false, w);
    expect_weights(w, (const double[]){0.0, 0.0, log10(0.525 / 0.475)}, 3);
    ogq_hessian_layer_weights(s, 3, 2, true, true, true, w);
    expect_weights(w, (const double[]){0.0, 0.0, 1.0}, 3);

    /* 4 layers: means 1, 10, 1000, 0 → log10 0, 1, 3, 0 (zero → 1) → scaled by 3. */
    const double t[] = {0.5, 1.5, /* */ 10, 10, /* */ 2000, 0, /* */ 0, 0};
    ogq_hessian_layer_weights(t, 4, 2, false, true, false, w);
    expect_weights(w, (const double[]){0.0, 1.0, 3.0, 0.0}, 4);
    ogq_hessian_layer_weights(t, 4, 2, false, true, true, w);
    expect_weights(w, (const double[]){0.0, 1.0 / 3.0, 1.0, 0.0}, 4);
    /* Sample sums 2010.5 and 11.5. */
    double n0 = (0.5 / 2010.5 + 1.5 / 11.5) / 2, n1 = (10 / 2010.5 + 10 / 11.5) / 2,
           n2 = (2000 / 2010.5) / 2;
    ogq_hessian_layer_weights(t, 4, 2, true, false, false, w);
    expect_weights(w, (const double[]){n0, n1, n2, 0.0}, 4);
    double lo = log10(fmin(n0, fmin(n1, n2)));
    double l0 = log10(n0) - lo, l1 = log10(n1) - lo, l2 = log10(n2) - lo;
    double hi = fmax(l0, fmax(l1, l2));
    ogq_hessian_layer_weights(t, 4, 2, true, true, false, w);
    expect_weights(w, (const double[]){l0, l1, l2, 0.0}, 4);
    ogq_hessian_layer_weights(t, 4, 2, true, true, true, w);
    expect_weights(w, (const double[]){l0 / hi, l1 / hi, l2 / hi, 0.0}, 4);

    /* A sample whose scores are all zero contributes zeros to the normalised means. */
    const double z[] = {0, 1, /* */ 0, 3};
    ogq_hessian_layer_weights(z, 2, 2, true, false, false, w);
    expect_weights(w, (const double[]){0.125, 0.375}, 2);
    /* All-zero scores and equal means: no layer stands out, every weight is 0. */
    const double zero[] = {0, 0, 0, 0};
    ogq_hessian_layer_weights(zero, 2, 2, false, true, true, w);
    expect_weights(w, (const double[]){0.0, 0.0}, 2);
    const double same[] = {2, 4, 3, 3};
    ogq_hessian_layer_weights(same, 2, 2, false, true, true, w);
    expect_weights(w, (const double[]){0.0, 0.0}, 2);
}

static void test_sample_weights_by_hand(void)
{
    const double s[] = {1, 3, /* mean 2 */ 0, 0, /* all zero */ 4, 1 /* mean 2.5 */};
    double w[6];
    ogq_hessian_sample_weights(s, 3, 2, w);
    expect_weights(w, (const double[]){0.5, 1.5, 1.0, 1.0, 1.6, 0.4}, 6);
}

/* Same seed → identical scores; another seed → other probes. */
static void test_determinism(void)
{
    float b[K0 * K], a[K * NOUT];
    fill_uniform(b, K0 * K, 1.0);
    fill_uniform(a, K * NOUT, 1.0);
    struct ogq_value *v;
    struct ogq_model *m = linear_model(b, a, NOUT, NULL, 0, &v);
    struct calib c;
    calib_init(&c, (const int64_t[]){3, 3}, 2, K0, NULL);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    o.seed = 42;
    double *s1 = scores_of(m, &v, 1, &c, &o, 6);
    double *s2 = scores_of(m, &v, 1, &c, &o, 6);
    o.seed = 43;
    double *s3 = scores_of(m, &v, 1, &c, &o, 6);
    CU_ASSERT(memcmp(s1, s2, 6 * sizeof(double)) == 0);
    for (int i = 0; i < 6; i++)
        CU_ASSERT(s1[i] != s3[i]);
    free(s1), free(s2), free(s3);
    calib_fini(&c);
    ogq_model_free(m);
}

struct progress_log {
    size_t calls, last_done, total;
    bool ordered, phase_ok;
};

static void on_progress(void *user, const char *phase, size_t done, size_t total)
{
    struct progress_log *p = user;
    if (strcmp(phase, "hessian") != 0)
        p->phase_ok = false;
    if (done != p->last_done + 1)
        p->ordered = false;
    p->last_done = done;
    p->total = total;
    p->calls++;
}

/* Whole batches until num_samples are covered; batch-keyed probes give equal prefixes. */
static void test_batch_selection_and_progress(void)
{
    float b[K0 * K], a[K * NOUT];
    fill_uniform(b, K0 * K, 1.0);
    fill_uniform(a, K * NOUT, 1.0);
    struct ogq_value *v;
    struct ogq_model *m = linear_model(b, a, NOUT, NULL, 0, &v);
    struct ogq_value *y = ogq_graph_value(m->graph, "y");
    struct ogq_value *r = op2(m, "Relu", y, NULL, "r");
    output(m, r);
    struct calib c;
    calib_init(&c, (const int64_t[]){2, 3, 2}, 3, K0, NULL);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    struct progress_log log = {0, 0, 0, true, true};
    o.progress = on_progress;
    o.progress_user = &log;
    o.num_samples = 4; /* batches 0 and 1 */
    struct ogq_value *vals[] = {v, y};
    double *s4 = scores_of(m, vals, 2, &c, &o, 5);
    CU_ASSERT(log.ordered && log.phase_ok);
    CU_ASSERT_EQUAL(log.calls, 4);
    CU_ASSERT_EQUAL(log.total, 4);
    o.progress = NULL;
    o.num_samples = 0;
    double *sall = scores_of(m, vals, 2, &c, &o, 7);
    o.num_samples = 2;
    double *s2 = scores_of(m, vals, 2, &c, &o, 2);
    o.num_samples = 100;
    double *s100 = scores_of(m, vals, 2, &c, &o, 7);
    for (int l = 0; l < 2; l++) {
        CU_ASSERT(memcmp(s4 + l * 5, sall + l * 7, 5 * sizeof(double)) == 0);
        CU_ASSERT(memcmp(s2 + l * 2, sall + l * 7, 2 * sizeof(double)) == 0);
        for (int i = 0; i < 7; i++)
            CU_ASSERT(sall[l * 7 + i] > 0.0);
    }
    CU_ASSERT(memcmp(s100, sall, 14 * sizeof(double)) == 0);
    free(s4), free(sall), free(s2), free(s100);
    calib_fini(&c);
    ogq_model_free(m);
}

/* An output without the sample dimension (a scalar sum) is split evenly in its batch:
 * E score per sample = ‖A·1‖² (J u = Σ_{s,i} u_si·(A·1)_i over the batch's N samples). */
static void test_output_without_sample_dim(void)
{
    float b[K0 * K], a[K * NOUT];
    fill_uniform(b, K0 * K, 1.0);
    fill_uniform(a, K * NOUT, 1.0);
    struct ogq_value *x;
    struct ogq_model *m = new_model(K0, &x);
    struct ogq_value *v = op2(m, "MatMul", x, matrix(m, "B", K0, K, b), "v");
    struct ogq_value *y = op2(m, "MatMul", v, matrix(m, "A", K, NOUT, a), "y");
    struct ogq_value *total = op2(m, "ReduceSum", y, NULL, "total");
    EXPECT_OK(ogq_node_set_attr_int(total->producer, "keepdims", 0, &err), &err);
    output(m, total);
    struct calib c;
    calib_init(&c, (const int64_t[]){3, 2}, 2, K0, NULL);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    o.num_probes = 256;
    double *s = scores_of(m, &v, 1, &c, &o, 5);
    CU_ASSERT_EQUAL(s[0], s[1]);
    CU_ASSERT_EQUAL(s[1], s[2]);
    CU_ASSERT_EQUAL(s[3], s[4]);
    CU_ASSERT(s[0] != s[3]);
    double c2 = 0.0;
    for (int i = 0; i < K; i++) {
        double row = 0.0;
        for (int j = 0; j < NOUT; j++)
            row += a[i * NOUT + j];
        c2 += row * row;
    }
    /* The batch total is N·‖c‖²·χ²₁ per probe: relative spread √(2/P) per batch. */
    double sigma = c2 * sqrt(2.0 / (double)o.num_probes);
    CU_ASSERT(fabs(s[0] - c2) <= MC_SIGMAS * sigma);
    CU_ASSERT(fabs(s[3] - c2) <= MC_SIGMAS * sigma);
    free(s);
    calib_fini(&c);
    ogq_model_free(m);
}

static void expect_refused(const struct ogq_model *m, struct ogq_value *v, const struct calib *c,
                           const struct ogq_hessian_scores_opts *o, const char *needle)
{
    double *s = (double *)&err; /* must be reset to NULL */
    int64_t ns = -1;
    ogq_error_clear(&err);
    enum ogq_status st = ogq_hessian_scores_compute(m, (const struct ogq_value *const *)&v, 1,
                                                    &c->set, o, &s, &ns, &err);
    EXPECT_ERROR(st, &err, OGQ_ERR_USAGE, needle);
    CU_ASSERT_PTR_NULL(s);
}

static void test_errors(void)
{
    float b[K0 * K], a[K * NOUT];
    fill_uniform(b, K0 * K, 1.0);
    fill_uniform(a, K * NOUT, 1.0);
    struct ogq_value *v;
    struct ogq_model *m = linear_model(b, a, NOUT, NULL, 0, &v);
    struct ogq_value *y = ogq_graph_value(m->graph, "y");
    /* A non-float node output: declared (refused before running) and undeclared (found
     * when the transform sees it). */
    struct ogq_value *ci = op2(m, "Cast", y, NULL, "as_int");
    EXPECT_OK(ogq_node_set_attr_int(ci->producer, "to", OGQ_DTYPE_INT64, &err), &err);
    struct ogq_value *cd = op2(m, "Cast", y, NULL, "as_int_declared");
    EXPECT_OK(ogq_node_set_attr_int(cd->producer, "to", OGQ_DTYPE_INT64, &err), &err);
    EXPECT_OK(ogq_value_set_type(cd, OGQ_DTYPE_INT64, 2, NULL, &err), &err);
    output(m, ci);
    output(m, cd);
    struct calib c;
    calib_init(&c, (const int64_t[]){2}, 1, K0, NULL);
    struct ogq_hessian_scores_opts o;
    ogq_hessian_scores_opts_init(&o);
    expect_refused(m, ogq_graph_value(m->graph, "x"), &c, &o, "'x'");
    expect_refused(m, ogq_graph_value(m->graph, "x"), &c, &o, "graph input");
    expect_refused(m, ogq_graph_value(m->graph, "W1"), &c, &o, "'W1'");
    expect_refused(m, ogq_graph_value(m->graph, "W1"), &c, &o, "initializer");
    expect_refused(m, cd, &c, &o, "'as_int_declared'");
    expect_refused(m, ci, &c, &o, "'as_int'");
    /* A value of another model. */
    struct ogq_value *v_other;
    struct ogq_model *other = linear_model(b, a, NOUT, NULL, 0, &v_other);
    expect_refused(m, v_other, &c, &o, "'v'");
    o.num_probes = 0;
    expect_refused(m, v, &c, &o, "num_probes");
    ogq_hessian_scores_opts_init(&o);
    o.rel_eps = 0.0;
    expect_refused(m, v, &c, &o, "rel_eps");
    /* The defaults. */
    ogq_hessian_scores_opts_init(&o);
    CU_ASSERT_EQUAL(o.num_samples, 32);
    CU_ASSERT_EQUAL(o.num_probes, 2);
    CU_ASSERT_DOUBLE_EQUAL(o.rel_eps, 1e-3, 0.0);
    CU_ASSERT_EQUAL(o.seed, 0);
    CU_ASSERT_EQUAL(o.threads, 0);
    CU_ASSERT_PTR_NULL(o.progress);
    ogq_model_free(other);
    calib_fini(&c);
    ogq_model_free(m);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    static const struct tu_test tests[] = {
        TU_TEST(test_linear_trace),
        TU_TEST(test_fd_identities),
        TU_TEST(test_fd_quadratic),
        TU_TEST(test_relu_separation),
        TU_TEST(test_two_points_and_weights),
        TU_TEST(test_layer_weights_by_hand),
        TU_TEST(test_sample_weights_by_hand),
        TU_TEST(test_determinism),
        TU_TEST(test_batch_selection_and_progress),
        TU_TEST(test_output_without_sample_dim),
        TU_TEST(test_errors),
    };
    if (!tu_add_suite("hessian_scores", tests, sizeof tests / sizeof tests[0])) {
        CU_cleanup_registry();
        return 1;
    }
    return tu_run();
}
