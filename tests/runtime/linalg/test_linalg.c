/* test_linalg.c — CUnit tests of the linear-algebra kernels (MatMul, Gemm, Einsum, Conv,
 * ConvTranspose, pools) and of the shared im2col/col2im routines.
 *
 * Every optimised path is compared with a naive reference written here (double
 * accumulation) on random inputs from a fixed seed, so a broken fast path fails:
 *   Conv: general im2col+sgemm, grouped, depthwise (width-3 fused and generic widths,
 *   channel multiplier), pointwise 1x1, strided + dilated + asymmetric padding, SAME/VALID,
 *   1-D and 3-D; ConvTranspose; MatMul batched/broadcast/vector cases; Gemm transposes
 *   and C broadcast; Einsum fast (batched sgemm) and general paths; Max/Average/Lp pools.
 * The ONNX node tests (the 'conformance' test) cover the spec examples.
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "runtime/executor.h"
#include "runtime/linalg.h"

/* |got - want| <= TOL_ABS + TOL_REL * |want| for float results of sums of at most a few
 * hundred products of values in [-1, 1] (float32 accumulation error is ~1e-5 there). */
#define TOL_ABS 1e-4
#define TOL_REL 1e-4

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float frand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xFFFFFF) / (float)0x800000 - 1.0f; /* [-1, 1) */
}

static int irand(int lo, int hi) /* [lo, hi] */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (int)((rng_state >> 33) % (uint64_t)(hi - lo + 1));
}

static float *rand_buf(int64_t n)
{
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static int64_t prod(const int64_t *d, int n)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        p *= d[i];
    return p;
}

/* Counts mismatches and reports the first few. */
static int compare(const char *what, const float *got, const double *want, int64_t n)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double tol = TOL_ABS + TOL_REL * fabs(want[i]);
        bool ok = fabs((double)got[i] - want[i]) <= tol || (isnan(got[i]) && isnan(want[i]));
        if (!ok && bad++ < 3)
            fprintf(stderr, "\n  %s: element %lld: got %.7g, want %.7g", what, (long long)i,
                    (double)got[i], want[i]);
    }
    return bad;
}

/* A one-node model: inputs x0..x{n-1}, outputs y0..y{m-1}. */
struct node_model {
    struct ogq_model *m;
    struct ogq_node *node;
};

static void nm_init(struct node_model *nm, const char *op, int64_t opset, int n_in, int n_out)
{
    struct ogq_error err;
    struct ogq_value *ins[8], *outs[4];
    CU_ASSERT_FATAL(ogq_model_new(&nm->m, &err) == OGQ_OK);
    CU_ASSERT_FATAL(ogq_model_set_opset(nm->m, "", opset, &err) == OGQ_OK);
    for (int i = 0; i < n_in; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        CU_ASSERT_FATAL(ogq_graph_add_value(nm->m->graph, name, &ins[i], &err) == OGQ_OK);
    }
    for (int i = 0; i < n_out; i++) {
        char name[16];
        snprintf(name, sizeof name, "y%d", i);
        CU_ASSERT_FATAL(ogq_graph_add_value(nm->m->graph, name, &outs[i], &err) == OGQ_OK);
    }
    CU_ASSERT_FATAL(ogq_graph_insert_node(nm->m->graph, NULL, op, "", "n", ins, (size_t)n_in, outs,
                                          (size_t)n_out, &nm->node, &err) == OGQ_OK);
}

static void nm_ints(struct node_model *nm, const char *name, const int64_t *v, size_t n)
{
    struct ogq_error err;
    if (n)
        CU_ASSERT_FATAL(ogq_node_set_attr_ints(nm->node, name, v, n, &err) == OGQ_OK);
}

static void nm_int(struct node_model *nm, const char *name, int64_t v)
{
    struct ogq_error err;
    CU_ASSERT_FATAL(ogq_node_set_attr_int(nm->node, name, v, &err) == OGQ_OK);
}

static void nm_str(struct node_model *nm, const char *name, const char *v)
{
    struct ogq_error err;
    CU_ASSERT_FATAL(ogq_node_set_attr_string(nm->node, name, v, &err) == OGQ_OK);
}

static void tensor(struct ogq_rt_tensor *t, enum ogq_dtype dt, int rank, const int64_t *dims,
                   void *data)
{
    struct ogq_error err;
    CU_ASSERT_FATAL(ogq_rt_tensor_set_shape(t, dt, rank, dims, "t", &err) == OGQ_OK);
    t->data = data;
}

/* Kernels run either through ogq_eval_node (one thread, exact-size scratch) or through an
 * executor with EXEC_THREADS threads (the worker pool, parallel tasks, split sgemms);
 * each suite sets the mode. */
#define EXEC_THREADS 2
static bool use_executor;

static enum ogq_status nm_run_executor(struct node_model *nm,
                                       const struct ogq_rt_tensor *const *ins, int n_in,
                                       struct ogq_rt_tensor *outs, struct ogq_error *err)
{
    struct ogq_graph *g = nm->m->graph;
    for (size_t i = 0; i < nm->node->n_inputs && g->n_inputs < nm->node->n_inputs; i++)
        OGQ_TRY(ogq_graph_add_input(g, nm->node->inputs[i], err));
    for (size_t i = 0; i < nm->node->n_outputs && g->n_outputs < nm->node->n_outputs; i++)
        OGQ_TRY(ogq_graph_add_output(g, nm->node->outputs[i], err));
    struct ogq_exec_options opts = {.threads = EXEC_THREADS};
    struct ogq_executor *e;
    OGQ_TRY(ogq_executor_new(nm->m, &opts, &e, err));
    enum ogq_status st = n_in == (int)ogq_executor_input_count(e)
                             ? ogq_executor_run_rt(e, ins, err)
                             : ogq_error_set(err, OGQ_ERR_USAGE, "omitted inputs");
    for (size_t i = 0; st == OGQ_OK && i < nm->node->n_outputs; i++) {
        const struct ogq_rt_tensor *t = ogq_executor_output(e, i);
        outs[i] = *t;
        outs[i].data = malloc(t->nbytes ? t->nbytes : 1);
        memcpy(outs[i].data, t->data, t->nbytes);
    }
    ogq_executor_free(e);
    return st;
}

/* Runs the node; on success the caller frees outs[i].data. */
static enum ogq_status nm_run(struct node_model *nm, struct ogq_rt_tensor *ins, int n_in,
                              struct ogq_rt_tensor *outs, struct ogq_error *err)
{
    const struct ogq_rt_tensor *ptrs[8];
    for (int i = 0; i < n_in; i++)
        ptrs[i] = ins[i].data || ins[i].numel == 0 ? &ins[i] : NULL;
    if (use_executor)
        return nm_run_executor(nm, ptrs, n_in, outs, err);
    return ogq_eval_node(nm->m, nm->node, ptrs, outs, err);
}

static void nm_free(struct node_model *nm)
{
    ogq_model_free(nm->m);
}

/* ---------------------------------------------------------------- im2col / col2im */

/* Random geometry over nd axes with small sizes; pads may be zero. */
static void rand_geom(struct ogq_conv_geom *g, int nd)
{
    for (;;) {
        memset(g, 0, sizeof *g);
        g->nd = nd;
        int64_t pads[2 * OGQ_CONV_MAX_SPATIAL];
        for (int i = 0; i < nd; i++) {
            g->in[i] = irand(1, 9);
            g->kernel[i] = irand(1, 4);
            g->stride[i] = irand(1, 3);
            g->dilation[i] = irand(1, 2);
            pads[i] = irand(0, 2);
            pads[nd + i] = irand(0, 2);
        }
        if (ogq_conv_geom_resolve(g, OGQ_AUTO_PAD_NOTSET, pads))
            return;
    }
}

static void test_im2col_reference(void)
{
    for (int iter = 0; iter < 200; iter++) {
        struct ogq_conv_geom g;
        rand_geom(&g, 1 + iter % 3);
        int64_t c = irand(1, 3), is = ogq_conv_geom_in_size(&g);
        int64_t os = ogq_conv_geom_out_size(&g), ks = ogq_conv_geom_kernel_size(&g);
        float *im = rand_buf(c * is), *col = rand_buf(c * ks * os);
        ogq_im2col_f32(&g, c, im, col);
        int bad = 0;
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t k = 0; k < ks; k++)
                for (int64_t o = 0; o < os; o++) {
                    /* Decode k and o row-major over the nd axes. */
                    int64_t kr = k, orr = o, pos = 0;
                    bool inside = true;
                    for (int i = g.nd - 1; i >= 0; i--) {
                        int64_t ki = kr % g.kernel[i], oi = orr % g.out[i];
                        kr /= g.kernel[i];
                        orr /= g.out[i];
                        int64_t p = oi * g.stride[i] + ki * g.dilation[i] - g.pad[i];
                        inside = inside && p >= 0 && p < g.in[i];
                        int64_t stride = 1;
                        for (int j = i + 1; j < g.nd; j++)
                            stride *= g.in[j];
                        pos += p * stride;
                    }
                    float want = inside ? im[ch * is + pos] : 0.0f;
                    bad += col[(ch * ks + k) * os + o] != want;
                }
        CU_ASSERT_EQUAL(bad, 0);
        free(im);
        free(col);
    }
}

/* <im2col(x), c> == <x, col2im(c)>: col2im is the exact adjoint. */
static void test_col2im_adjoint(void)
{
    for (int iter = 0; iter < 100; iter++) {
        struct ogq_conv_geom g;
        rand_geom(&g, 1 + iter % 3);
        int64_t c = irand(1, 3), is = ogq_conv_geom_in_size(&g);
        int64_t n_col = c * ogq_conv_geom_kernel_size(&g) * ogq_conv_geom_out_size(&g);
        float *x = rand_buf(c * is), *cv = rand_buf(n_col), *col = rand_buf(n_col);
        float *back = calloc((size_t)(c * is), sizeof(float));
        ogq_im2col_f32(&g, c, x, col);
        ogq_col2im_add_f32(&g, c, cv, back);
        double lhs = 0, rhs = 0;
        for (int64_t i = 0; i < n_col; i++)
            lhs += (double)col[i] * cv[i];
        for (int64_t i = 0; i < c * is; i++)
            rhs += (double)x[i] * back[i];
        CU_ASSERT(fabs(lhs - rhs) <= 1e-4 * (1.0 + fabs(lhs)));
        free(x);
        free(cv);
        free(col);
        free(back);
    }
}

static void test_geom_resolve(void)
{
    struct ogq_conv_geom g = {
        .nd = 2, .in = {7, 8}, .kernel = {3, 4}, .stride = {2, 3}, .dilation = {1, 2}};
    CU_ASSERT(ogq_conv_geom_resolve(&g, OGQ_AUTO_PAD_SAME_UPPER, NULL));
    /* out = ceil(in / s); total pad = (out-1)*s + dk - in: 4 -> (6+3-7=2), 3 -> (6+7-8=5) */
    CU_ASSERT(g.out[0] == 4 && g.out[1] == 3 && g.pad[0] == 1 && g.pad[1] == 2);
    CU_ASSERT(ogq_conv_geom_resolve(&g, OGQ_AUTO_PAD_SAME_LOWER, NULL));
    CU_ASSERT(g.pad[0] == 1 && g.pad[1] == 3);
    CU_ASSERT(ogq_conv_geom_resolve(&g, OGQ_AUTO_PAD_VALID, NULL));
    CU_ASSERT(g.out[0] == 3 && g.out[1] == 1 && g.pad[0] == 0);
    int64_t pads[4] = {1, 0, 2, 5};
    CU_ASSERT(ogq_conv_geom_resolve(&g, OGQ_AUTO_PAD_NOTSET, pads));
    CU_ASSERT(g.out[0] == (7 + 3 - 3) / 2 + 1 && g.out[1] == (8 + 5 - 7) / 3 + 1);
    g.in[1] = 2; /* dilated kernel 7 > 2 + pads 5 */
    CU_ASSERT(!ogq_conv_geom_resolve(&g, OGQ_AUTO_PAD_VALID, NULL));
}

/* ---------------------------------------------------------------- Conv */

struct conv_case {
    const char *name;
    int nd;
    int64_t n, c, m, group;
    int64_t in[3], k[3], s[3], d[3], pads[6];
    const char *auto_pad; /* NULL = NOTSET */
    bool bias;
};

/* Naive direct convolution in double, from the resolved geometry. */
static void conv_ref(const struct conv_case *cc, const struct ogq_conv_geom *g, const float *x,
                     const float *w, const float *b, double *y)
{
    int64_t cg = cc->c / cc->group, mg = cc->m / cc->group;
    int64_t is = ogq_conv_geom_in_size(g), os = ogq_conv_geom_out_size(g);
    int64_t ks = ogq_conv_geom_kernel_size(g);
    for (int64_t n = 0; n < cc->n; n++)
        for (int64_t m = 0; m < cc->m; m++)
            for (int64_t o = 0; o < os; o++) {
                double acc = b ? b[m] : 0.0;
                int64_t gi = m / mg;
                for (int64_t ci = 0; ci < cg; ci++)
                    for (int64_t k = 0; k < ks; k++) {
                        int64_t kr = k, orr = o, pos = 0, stride = 1;
                        bool inside = true;
                        for (int i = g->nd - 1; i >= 0; i--) {
                            int64_t ki = kr % g->kernel[i], oi = orr % g->out[i];
                            kr /= g->kernel[i];
                            orr /= g->out[i];
                            int64_t p = oi * g->stride[i] + ki * g->dilation[i] - g->pad[i];
                            inside = inside && p >= 0 && p < g->in[i];
                            pos += p * stride;
                            stride *= g->in[i];
                        }
                        if (inside)
                            acc += (double)w[(m * cg + ci) * ks + k] *
                                   x[(n * cc->c + gi * cg + ci) * is + pos];
                    }
                y[(n * cc->m + m) * os + o] = acc;
            }
}

static void run_conv_case(const struct conv_case *cc)
{
    struct node_model nm;
    int n_in = cc->bias ? 3 : 2;
    nm_init(&nm, "Conv", 22, n_in, 1);
    int nd = cc->nd;
    int64_t xd[5] = {cc->n, cc->c}, wd[5] = {cc->m, cc->c / cc->group}, bd[1] = {cc->m};
    for (int i = 0; i < nd; i++) {
        xd[2 + i] = cc->in[i];
        wd[2 + i] = cc->k[i];
    }
    nm_ints(&nm, "strides", cc->s, (size_t)nd);
    nm_ints(&nm, "dilations", cc->d, (size_t)nd);
    if (cc->auto_pad)
        nm_str(&nm, "auto_pad", cc->auto_pad);
    else
        nm_ints(&nm, "pads", cc->pads, 2 * (size_t)nd);
    nm_int(&nm, "group", cc->group);
    float *x = rand_buf(prod(xd, nd + 2)), *w = rand_buf(prod(wd, nd + 2)), *b = rand_buf(cc->m);
    struct ogq_rt_tensor ins[3], out[1];
    tensor(&ins[0], OGQ_DTYPE_FLOAT, nd + 2, xd, x);
    tensor(&ins[1], OGQ_DTYPE_FLOAT, nd + 2, wd, w);
    tensor(&ins[2], OGQ_DTYPE_FLOAT, 1, bd, b);
    struct ogq_error err;
    enum ogq_status st = nm_run(&nm, ins, n_in, out, &err);
    if (st != OGQ_OK)
        fprintf(stderr, "\n  %s: %s", cc->name, err.msg);
    CU_ASSERT_FATAL(st == OGQ_OK);
    struct ogq_conv_geom g;
    int64_t group;
    CU_ASSERT_FATAL(ogq_conv_node_geom(nm.node, nd + 2, xd, wd, &g, &group, &err) == OGQ_OK);
    CU_ASSERT(group == cc->group);
    CU_ASSERT(out[0].rank == nd + 2 && out[0].dims[0] == cc->n && out[0].dims[1] == cc->m);
    for (int i = 0; i < nd; i++)
        CU_ASSERT(out[0].dims[2 + i] == g.out[i]);
    double *want = malloc(sizeof(double) * (size_t)out[0].numel);
    conv_ref(cc, &g, x, w, cc->bias ? b : NULL, want);
    int bad = compare(cc->name, out[0].data, want, out[0].numel);
    if (bad)
        fprintf(stderr, "\n  %s: %d mismatches", cc->name, bad);
    CU_ASSERT_EQUAL(bad, 0);
    free(want);
    free(out[0].data);
    free(x);
    free(w);
    free(b);
    nm_free(&nm);
}

static void test_conv_paths(void)
{
    /* clang-format off */
    static const struct conv_case cases[] = {
        {"general 3x3 pad",
         2, 2, 5, 7, 1, {9, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"general big K",
         2, 1, 24, 16, 1, {12, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"images folded, 2 chunks",
         2, 7, 3, 4, 1, {9, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"pointwise folded grouped",
         2, 5, 6, 4, 2, {3, 5}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, NULL, true},
        {"two images unfolded",
         2, 2, 3, 4, 1, {17, 16}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"pointwise two images unfolded",
         2, 2, 5, 3, 1, {17, 16}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, NULL, false},
        {"parallel tiles",
         2, 1, 64, 16, 1, {40, 40}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"split sgemm by columns",
         2, 1, 32, 64, 1, {16, 16}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"split sgemm by rows",
         2, 1, 64, 128, 1, {6, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"general tiled",
         2, 1, 64, 8, 1, {23, 20}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"general tiled 3-D",
         3, 1, 16, 4, 1, {6, 7, 30}, {3, 3, 3}, {1, 1, 2}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, NULL,
         true},
        {"grouped", 2, 2, 6, 9, 3, {8, 7}, {3, 2}, {1, 2}, {1, 1}, {1, 0, 1, 1}, NULL, true},
        {"depthwise 3x3",
         2, 2, 6, 6, 6, {11, 13}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"depthwise 3x3 s2",
         2, 1, 4, 4, 4, {12, 13}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, NULL, false},
        {"depthwise 3x3 s3 d2",
         2, 1, 3, 3, 3, {14, 17}, {3, 3}, {3, 3}, {2, 2}, {2, 1, 0, 2}, NULL, true},
        {"depthwise mult 2",
         2, 1, 3, 6, 3, {9, 9}, {3, 3}, {1, 2}, {1, 1}, {0, 1, 2, 1}, NULL, true},
        {"depthwise 5x5",
         2, 1, 4, 4, 4, {10, 12}, {5, 5}, {1, 2}, {1, 1}, {2, 2, 2, 2}, NULL, true},
        {"depthwise 7x3 rows",
         2, 1, 2, 2, 2, {9, 10}, {7, 3}, {1, 1}, {1, 1}, {3, 1, 3, 1}, NULL, true},
        {"depthwise narrow",
         2, 1, 2, 2, 2, {5, 2}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL, true},
        {"depthwise 3-D",
         3, 1, 2, 4, 2, {4, 5, 6}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, NULL, true},
        {"single input channel",
         2, 2, 1, 5, 1, {8, 8}, {5, 5}, {1, 1}, {1, 1}, {2, 2, 2, 2}, NULL, true},
        {"pointwise 1x1", 2, 2, 8, 5, 1, {6, 7}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, NULL, true},
        {"pointwise grouped",
         2, 1, 8, 6, 2, {5, 4}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, NULL, false},
        {"1x1 stride 2", 2, 2, 8, 5, 1, {7, 8}, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}, NULL, true},
        {"1x1 padded", 2, 1, 3, 2, 1, {4, 4}, {1, 1}, {1, 1}, {1, 1}, {1, 0, 0, 1}, NULL, true},
        {"strided dilated asym pads",
         2, 2, 3, 4, 1, {13, 14}, {3, 2}, {3, 2}, {2, 3}, {1, 2, 2, 0}, NULL, true},
        {"same upper", 2, 1, 3, 4, 1, {7, 8}, {4, 3}, {2, 3}, {1, 1}, {0}, "SAME_UPPER", true},
        {"same lower", 2, 1, 3, 4, 1, {7, 8}, {4, 3}, {2, 1}, {1, 2}, {0}, "SAME_LOWER", true},
        {"valid", 2, 1, 3, 4, 1, {7, 8}, {3, 3}, {2, 2}, {1, 1}, {0}, "VALID", false},
        {"1-D", 1, 2, 3, 4, 1, {15}, {4}, {2}, {1}, {2, 1}, NULL, true},
        {"3-D",
         3, 1, 2, 3, 1, {5, 6, 7}, {3, 2, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 1, 1, 0}, NULL, true},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_conv_case(&cases[i]);
}

/* ---------------------------------------------------------------- ConvTranspose */

static void test_conv_transpose(void)
{
    /* group 2, strides, dilations, asymmetric pads and output_padding (2-D). */
    const int64_t n = 2, c = 4, grp = 2, mg = 3, h = 4, wdt = 5;
    const int64_t k[2] = {3, 2}, s[2] = {2, 3}, d[2] = {2, 1}, pads[4] = {1, 0, 2, 1};
    const int64_t op[2] = {1, 2};
    struct node_model nm;
    nm_init(&nm, "ConvTranspose", 22, 3, 1);
    nm_ints(&nm, "strides", s, 2);
    nm_ints(&nm, "dilations", d, 2);
    nm_ints(&nm, "pads", pads, 4);
    nm_ints(&nm, "output_padding", op, 2);
    nm_int(&nm, "group", grp);
    int64_t xd[4] = {n, c, h, wdt}, wd[4] = {c, mg, k[0], k[1]}, bd[1] = {mg * grp};
    float *x = rand_buf(prod(xd, 4)), *w = rand_buf(prod(wd, 4)), *b = rand_buf(bd[0]);
    struct ogq_rt_tensor ins[3], out[1];
    tensor(&ins[0], OGQ_DTYPE_FLOAT, 4, xd, x);
    tensor(&ins[1], OGQ_DTYPE_FLOAT, 4, wd, w);
    tensor(&ins[2], OGQ_DTYPE_FLOAT, 1, bd, b);
    struct ogq_error err;
    CU_ASSERT_FATAL(nm_run(&nm, ins, 3, out, &err) == OGQ_OK);
    int64_t oh = s[0] * (h - 1) + op[0] + (k[0] - 1) * d[0] + 1 - pads[0] - pads[2];
    int64_t ow = s[1] * (wdt - 1) + op[1] + (k[1] - 1) * d[1] + 1 - pads[1] - pads[3];
    CU_ASSERT_FATAL(out[0].rank == 4 && out[0].dims[1] == mg * grp && out[0].dims[2] == oh &&
                    out[0].dims[3] == ow);
    double *want = calloc((size_t)out[0].numel, sizeof(double));
    for (int64_t ni = 0; ni < n; ni++)
        for (int64_t m = 0; m < mg * grp; m++)
            for (int64_t i = 0; i < oh * ow; i++)
                want[(ni * mg * grp + m) * oh * ow + i] = b[m];
    /* Scatter: y[m][i*s + ki*d - pad] += x[ci][i] * w[ci][m % mg][ki]. */
    for (int64_t ni = 0; ni < n; ni++)
        for (int64_t ci = 0; ci < c; ci++) {
            int64_t gi = ci / (c / grp);
            for (int64_t mm = 0; mm < mg; mm++)
                for (int64_t y0 = 0; y0 < h; y0++)
                    for (int64_t x0 = 0; x0 < wdt; x0++)
                        for (int64_t k0 = 0; k0 < k[0]; k0++)
                            for (int64_t k1 = 0; k1 < k[1]; k1++) {
                                int64_t py = y0 * s[0] + k0 * d[0] - pads[0];
                                int64_t px = x0 * s[1] + k1 * d[1] - pads[1];
                                if (py < 0 || py >= oh || px < 0 || px >= ow)
                                    continue;
                                int64_t m = gi * mg + mm;
                                want[((ni * mg * grp + m) * oh + py) * ow + px] +=
                                    (double)x[((ni * c + ci) * h + y0) * wdt + x0] *
                                    w[((ci * mg + mm) * k[0] + k0) * k[1] + k1];
                            }
        }
    CU_ASSERT_EQUAL(compare("convtranspose", out[0].data, want, out[0].numel), 0);
    free(want);
    free(out[0].data);
    free(x);
    free(w);
    free(b);
    nm_free(&nm);
}

/* ---------------------------------------------------------------- MatMul / Gemm */

static void matmul_case(int ra, const int64_t *ad, int rb, const int64_t *bd)
{
    struct node_model nm;
    nm_init(&nm, "MatMul", 13, 2, 1);
    float *a = rand_buf(prod(ad, ra)), *b = rand_buf(prod(bd, rb));
    struct ogq_rt_tensor ins[2], out[1];
    tensor(&ins[0], OGQ_DTYPE_FLOAT, ra, ad, a);
    tensor(&ins[1], OGQ_DTYPE_FLOAT, rb, bd, b);
    struct ogq_error err;
    CU_ASSERT_FATAL(nm_run(&nm, ins, 2, out, &err) == OGQ_OK);
    /* numpy reference: promote 1-D operands, broadcast batch dims. */
    int64_t m = ra == 1 ? 1 : ad[ra - 2], k = ad[ra - 1], nn = rb == 1 ? 1 : bd[rb - 1];
    int bra = ra > 2 ? ra - 2 : 0, brb = rb > 2 ? rb - 2 : 0, br = bra > brb ? bra : brb;
    int64_t bdims[8], nb = 1;
    for (int i = 0; i < br; i++) {
        int ia = i - (br - bra), ib = i - (br - brb);
        int64_t x = ia >= 0 ? ad[ia] : 1, y = ib >= 0 ? bd[ib] : 1;
        bdims[i] = x > y ? x : y;
        nb *= bdims[i];
    }
    int rank = br + (ra > 1) + (rb > 1);
    CU_ASSERT_FATAL(out[0].rank == rank && out[0].numel == nb * m * nn);
    double *want = malloc(sizeof(double) * (size_t)(nb * m * nn));
    for (int64_t e = 0; e < nb; e++) {
        int64_t rem = e, oa = 0, ob = 0, sa = 1, sb = 1;
        for (int i = br - 1; i >= 0; i--) {
            int64_t idx = rem % bdims[i];
            rem /= bdims[i];
            int ia = i - (br - bra), ib = i - (br - brb);
            if (ia >= 0) {
                oa += (ad[ia] == 1 ? 0 : idx) * sa;
                sa *= ad[ia];
            }
            if (ib >= 0) {
                ob += (bd[ib] == 1 ? 0 : idx) * sb;
                sb *= bd[ib];
            }
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < nn; j++) {
                double acc = 0;
                for (int64_t p = 0; p < k; p++)
                    acc += (double)a[oa * m * k + i * k + p] * b[ob * k * nn + p * nn + j];
                want[(e * m + i) * nn + j] = acc;
            }
    }
    CU_ASSERT_EQUAL(compare("matmul", out[0].data, want, out[0].numel), 0);
    free(want);
    free(out[0].data);
    free(a);
    free(b);
    nm_free(&nm);
}

static void test_matmul_shapes(void)
{
    struct {
        int ra, rb;
        int64_t a[4], b[4];
    } cases[] = {
        {2, 2, {7, 9}, {9, 11}},             /* plain */
        {3, 2, {3, 5, 9}, {9, 6}},           /* batch folded into rows */
        {4, 2, {2, 3, 1, 9}, {9, 6}},        /* M = 1 rows folded */
        {2, 3, {5, 9}, {3, 9, 6}},           /* A broadcast against batched B */
        {4, 4, {2, 1, 3, 4}, {1, 5, 4, 6}},  /* two-sided broadcast */
        {3, 4, {5, 3, 4}, {2, 1, 4, 2}},     /* rank mismatch + broadcast */
        {1, 2, {9}, {9, 6}},                 /* vector @ matrix */
        {3, 1, {2, 3, 9}, {9}},              /* batch @ vector */
        {1, 3, {9}, {4, 9, 5}},              /* vector @ batch */
        {1, 1, {33}, {33}},                  /* dot */
        {3, 3, {4, 1, 9}, {4, 9, 7}},        /* batched M = 1 */
        {3, 3, {4, 7, 9}, {4, 9, 1}},        /* batched N = 1 */
        {4, 3, {2, 3, 17, 40}, {1, 40, 23}}, /* all-ones batch on B: one sgemm */
        {2, 2, {200, 70}, {70, 100}},        /* split into row blocks */
        {2, 2, {40, 120}, {120, 300}},       /* split into column blocks */
        {3, 3, {6, 40, 30}, {6, 30, 50}},    /* batch entries in parallel */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        matmul_case(cases[i].ra, cases[i].a, cases[i].rb, cases[i].b);
}

static void test_matmul_int(void)
{
    struct node_model nm;
    nm_init(&nm, "MatMul", 13, 2, 1);
    int64_t ad[3] = {2, 2, 3}, bd[2] = {3, 2};
    int64_t a[12] = {1, -2, 3, 4, 5, -6, INT64_MAX, 1, 0, -7, 8, 9}, b[6] = {1, 2, 3, 4, 5, 6};
    struct ogq_rt_tensor ins[2], out[1];
    tensor(&ins[0], OGQ_DTYPE_INT64, 3, ad, a);
    tensor(&ins[1], OGQ_DTYPE_INT64, 2, bd, b);
    struct ogq_error err;
    CU_ASSERT_FATAL(nm_run(&nm, ins, 2, out, &err) == OGQ_OK);
    CU_ASSERT_FATAL(out[0].dtype == OGQ_DTYPE_INT64 && out[0].numel == 8);
    const int64_t *y = out[0].data;
    CU_ASSERT(y[0] == 1 - 6 + 15 && y[1] == 2 - 8 + 18);
    CU_ASSERT(y[2] == 4 + 15 - 30 && y[3] == 8 + 20 - 36);
    /* INT64_MAX * 1 + 1 * 3 wraps (two's complement) */
    CU_ASSERT(y[4] == (int64_t)((uint64_t)INT64_MAX + 3u));
    CU_ASSERT(y[6] == -7 + 24 + 45 && y[7] == -14 + 32 + 54);
    free(out[0].data);
    nm_free(&nm);
}

static void gemm_case(bool ta, bool tb, float alpha, float beta, int rc, const int64_t *cdims)
{
    const int64_t m = 6, n = 5, k = 7;
    struct node_model nm;
    nm_init(&nm, "Gemm", 13, rc >= 0 ? 3 : 2, 1);
    nm_int(&nm, "transA", ta);
    nm_int(&nm, "transB", tb);
    struct ogq_error err;
    CU_ASSERT_FATAL(ogq_node_set_attr_float(nm.node, "alpha", alpha, &err) == OGQ_OK);
    CU_ASSERT_FATAL(ogq_node_set_attr_float(nm.node, "beta", beta, &err) == OGQ_OK);
    int64_t ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
    float *a = rand_buf(m * k), *b = rand_buf(k * n), *c = rand_buf(m * n);
    struct ogq_rt_tensor ins[3], out[1];
    tensor(&ins[0], OGQ_DTYPE_FLOAT, 2, ad, a);
    tensor(&ins[1], OGQ_DTYPE_FLOAT, 2, bd, b);
    if (rc >= 0)
        tensor(&ins[2], OGQ_DTYPE_FLOAT, rc, cdims, c);
    CU_ASSERT_FATAL(nm_run(&nm, ins, rc >= 0 ? 3 : 2, out, &err) == OGQ_OK);
    CU_ASSERT_FATAL(out[0].dims[0] == m && out[0].dims[1] == n);
    double want[30];
    int64_t cm = rc == 2 ? cdims[0] : 1, cn = rc >= 1 ? cdims[rc - 1] : 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t p = 0; p < k; p++)
                acc +=
                    (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            double cv = rc >= 0 ? c[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)] : 0.0;
            want[i * n + j] = alpha * acc + beta * cv;
        }
    CU_ASSERT_EQUAL(compare("gemm", out[0].data, want, m * n), 0);
    free(out[0].data);
    free(a);
    free(b);
    free(c);
    nm_free(&nm);
}

static void test_gemm(void)
{
    int64_t c_full[2] = {6, 5}, c_row[2] = {1, 5}, c_col[2] = {6, 1}, c_vec[1] = {5};
    int64_t c_one[1] = {1};
    gemm_case(false, false, 1.0f, 1.0f, 2, c_full);
    gemm_case(true, false, 0.5f, 2.0f, 2, c_row);
    gemm_case(false, true, 1.5f, -1.0f, 2, c_col);
    gemm_case(true, true, 1.0f, 0.25f, 1, c_vec);
    gemm_case(false, false, 2.0f, 1.0f, 0, c_one);
    gemm_case(true, true, 1.0f, 1.0f, 1, c_one);
    gemm_case(false, true, 1.0f, 0.0f, 2, c_full);
    gemm_case(false, false, 3.0f, 1.0f, -1, NULL);
}

/* ---------------------------------------------------------------- Einsum */

/* Naive einsum for equations "xyz,xyw->..." given as explicit label strings (no
 * ellipsis, at most 2 operands, labels a-z). */
static void einsum_ref(const char *ta, const int64_t *da, const float *a, const char *tb,
                       const int64_t *db, const float *b, const char *to, double *y, int64_t *ydims)
{
    int64_t size[26] = {0};
    for (size_t i = 0; i < strlen(ta); i++)
        size[ta[i] - 'a'] = da[i];
    for (size_t i = 0; tb && i < strlen(tb); i++)
        size[tb[i] - 'a'] = db[i];
    char all[27];
    int nl = 0;
    for (int l = 0; l < 26; l++)
        if (size[l])
            all[nl++] = (char)('a' + l);
    int64_t idx[26] = {0}, total = 1;
    for (int i = 0; i < nl; i++)
        total *= size[all[i] - 'a'];
    int64_t ny = 1;
    for (size_t i = 0; i < strlen(to); i++) {
        ydims[i] = size[to[i] - 'a'];
        ny *= ydims[i];
    }
    for (int64_t i = 0; i < ny; i++)
        y[i] = 0;
    for (int64_t t = 0; t < total; t++) {
        int64_t rem = t;
        for (int i = nl - 1; i >= 0; i--) {
            idx[all[i] - 'a'] = rem % size[all[i] - 'a'];
            rem /= size[all[i] - 'a'];
        }
        int64_t oa = 0, ob = 0, oy = 0;
        for (size_t i = 0; i < strlen(ta); i++)
            oa = oa * da[i] + idx[ta[i] - 'a'];
        for (size_t i = 0; tb && i < strlen(tb); i++)
            ob = ob * db[i] + idx[tb[i] - 'a'];
        for (size_t i = 0; i < strlen(to); i++)
            oy = oy * ydims[i] + idx[to[i] - 'a'];
        y[oy] += (double)a[oa] * (tb ? b[ob] : 1.0f);
    }
}

static void einsum_case(const char *eq, const char *ta, const int64_t *da, const char *tb,
                        const int64_t *db, const char *to)
{
    struct node_model nm;
    int n_in = tb ? 2 : 1;
    nm_init(&nm, "Einsum", 12, n_in, 1);
    nm_str(&nm, "equation", eq);
    int ra = (int)strlen(ta), rb = tb ? (int)strlen(tb) : 0;
    float *a = rand_buf(prod(da, ra)), *b = tb ? rand_buf(prod(db, rb)) : NULL;
    struct ogq_rt_tensor ins[2], out[1];
    tensor(&ins[0], OGQ_DTYPE_FLOAT, ra, da, a);
    if (tb)
        tensor(&ins[1], OGQ_DTYPE_FLOAT, rb, db, b);
    struct ogq_error err;
    enum ogq_status st = nm_run(&nm, ins, n_in, out, &err);
    if (st != OGQ_OK)
        fprintf(stderr, "\n  %s: %s", eq, err.msg);
    CU_ASSERT_FATAL(st == OGQ_OK);
    int64_t ydims[8];
    double *want = malloc(sizeof(double) * 4096);
    einsum_ref(ta, da, a, tb, db, b, to, want, ydims);
    CU_ASSERT_FATAL(out[0].rank == (int)strlen(to));
    for (int i = 0; i < out[0].rank; i++)
        CU_ASSERT(out[0].dims[i] == ydims[i]);
    int bad = compare(eq, out[0].data, want, out[0].numel);
    CU_ASSERT_EQUAL(bad, 0);
    free(want);
    free(out[0].data);
    free(a);
    free(b);
    nm_free(&nm);
}

static void test_einsum(void)
{
    int64_t d1[4] = {2, 3, 4, 5}, d2[4] = {2, 3, 6, 5}, d3[4] = {2, 3, 5, 6};
    einsum_case("bhid,bhjd->bhij", "bhid", d1, "bhjd", d2, "bhij"); /* transB, direct */
    einsum_case("bhij,bhjd->bhid", "bhij", d1, "bhjd", d3, "bhid"); /* A @ B, direct */
    int64_t e1[2] = {3, 4}, e2[2] = {4, 5}, e3[2] = {5, 4};
    einsum_case("ik,kj->ji", "ik", e1, "kj", e2, "ji"); /* permuted output */
    einsum_case("ik,jk", "ik", e1, "jk", e3, "ij");     /* implicit output, transB */
    einsum_case("ki,kj->ij", "ki", e2, "kj", e2, "ij"); /* transA */
    int64_t f1[3] = {2, 3, 4}, f2[3] = {3, 2, 5};
    einsum_case("ijk,jil->kl", "ijk", f1, "jil", f2, "kl"); /* permuted operands */
    einsum_case("bij->jb", "bij", f1, NULL, NULL, "jb");    /* general: sum + transpose */
    int64_t g1[2] = {4, 4};
    einsum_case("ii->i", "ii", g1, NULL, NULL, "i"); /* general: diagonal */
    int64_t h1[1] = {5}, h2[1] = {6};
    einsum_case("i,j->ij", "i", h1, "j", h2, "ij"); /* outer product (K = 1) */
    einsum_case("i,i", "i", h1, "i", h1, "");       /* dot */
}

/* ---------------------------------------------------------------- pools */

struct pool_case {
    const char *op;
    int nd;
    int64_t in[3], k[3], s[3], d[3], pads[6];
    bool ceil_mode, include_pad;
    int64_t p;
};

static void run_pool_case(const struct pool_case *pc)
{
    struct node_model nm;
    int nd = pc->nd;
    nm_init(&nm, pc->op, 22, 1, 1);
    nm_ints(&nm, "kernel_shape", pc->k, (size_t)nd);
    nm_ints(&nm, "strides", pc->s, (size_t)nd);
    nm_ints(&nm, "dilations", pc->d, (size_t)nd);
    nm_ints(&nm, "pads", pc->pads, 2 * (size_t)nd);
    nm_int(&nm, "ceil_mode", pc->ceil_mode);
    bool avg = strcmp(pc->op, "AveragePool") == 0, lp = strcmp(pc->op, "LpPool") == 0;
    if (avg)
        nm_int(&nm, "count_include_pad", pc->include_pad);
    if (lp)
        nm_int(&nm, "p", pc->p);
    const int64_t planes = 2 * 3;
    int64_t xd[5] = {2, 3};
    for (int i = 0; i < nd; i++)
        xd[2 + i] = pc->in[i];
    float *x = rand_buf(prod(xd, nd + 2));
    struct ogq_rt_tensor ins[1], out[1];
    tensor(&ins[0], OGQ_DTYPE_FLOAT, nd + 2, xd, x);
    struct ogq_error err;
    CU_ASSERT_FATAL(nm_run(&nm, ins, 1, out, &err) == OGQ_OK);
    /* Reference output sizes and values. */
    int64_t od[3], os = 1, is = 1;
    for (int i = 0; i < nd; i++) {
        int64_t dk = (pc->k[i] - 1) * pc->d[i] + 1;
        int64_t span = pc->in[i] + pc->pads[i] + pc->pads[nd + i] - dk;
        od[i] = (pc->ceil_mode ? (span + pc->s[i] - 1) / pc->s[i] : span / pc->s[i]) + 1;
        if (pc->ceil_mode && (od[i] - 1) * pc->s[i] >= pc->in[i] + pc->pads[i])
            od[i]--;
        CU_ASSERT(out[0].dims[2 + i] == od[i]);
        os *= od[i];
        is *= pc->in[i];
    }
    int64_t ks = prod(pc->k, nd);
    double *want = malloc(sizeof(double) * (size_t)(planes * os));
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t o = 0; o < os; o++) {
            double acc = lp || avg ? 0.0 : -INFINITY;
            int64_t cnt = 0;
            for (int64_t k = 0; k < ks; k++) {
                int64_t kr = k, orr = o, pos = 0, stride = 1;
                bool inside = true, in_pad = true;
                for (int i = nd - 1; i >= 0; i--) {
                    int64_t ki = kr % pc->k[i], oi = orr % od[i];
                    kr /= pc->k[i];
                    orr /= od[i];
                    int64_t p = oi * pc->s[i] + ki * pc->d[i] - pc->pads[i];
                    inside = inside && p >= 0 && p < pc->in[i];
                    in_pad = in_pad && p >= -pc->pads[i] && p < pc->in[i] + pc->pads[nd + i];
                    pos += p * stride;
                    stride *= pc->in[i];
                }
                cnt += pc->include_pad ? in_pad : inside;
                if (!inside)
                    continue;
                double v = x[pl * is + pos];
                if (lp)
                    acc += pow(fabs(v), (double)pc->p);
                else if (avg)
                    acc += v;
                else
                    acc = v > acc ? v : acc;
            }
            want[pl * os + o] = lp ? pow(acc, 1.0 / (double)pc->p) : avg ? acc / (double)cnt : acc;
        }
    int bad = compare(pc->op, out[0].data, want, planes * os);
    CU_ASSERT_EQUAL(bad, 0);
    free(want);
    free(out[0].data);
    free(x);
    nm_free(&nm);
}

static void test_pools(void)
{
    /* clang-format off */
    static const struct pool_case cases[] = {
        {"MaxPool", 2, {12, 13}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, false, false, 0},
        {"MaxPool", 2, {12, 13}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, false, 0},
        {"MaxPool", 2, {14, 15}, {3, 3}, {3, 3}, {2, 2}, {2, 1, 1, 2}, true, false, 0},
        {"MaxPool", 2, {9, 10}, {2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false, false, 0},
        {"MaxPool",
         3, {6, 7, 8}, {3, 3, 3}, {1, 2, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, false, false, 0},
        {"MaxPool",
         3, {6, 7, 8}, {4, 5, 3}, {1, 1, 1}, {1, 1, 1}, {1, 2, 1, 2, 2, 1}, false, false, 0},
        {"MaxPool", 1, {17}, {3}, {2}, {1}, {1, 1}, true, false, 0},
        {"AveragePool", 2, {12, 13}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, true, 0},
        {"AveragePool", 2, {12, 13}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, 0},
        {"AveragePool", 2, {11, 12}, {3, 3}, {1, 2}, {2, 2}, {1, 2, 2, 1}, false, true, 0},
        {"AveragePool", 2, {11, 12}, {5, 4}, {2, 2}, {1, 1}, {2, 2, 2, 1}, false, false, 0},
        {"AveragePool",
         3, {5, 6, 7}, {2, 3, 3}, {1, 2, 2}, {1, 1, 1}, {1, 1, 1, 0, 1, 1}, true, true, 0},
        {"LpPool", 2, {9, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, false, false, 2},
        {"LpPool", 2, {9, 10}, {3, 2}, {2, 1}, {1, 1}, {1, 0, 1, 1}, false, false, 1},
        {"LpPool", 2, {9, 10}, {3, 3}, {2, 2}, {1, 2}, {0, 0, 0, 0}, true, false, 3},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_pool_case(&cases[i]);
}

static void test_global_pools(void)
{
    const char *ops[3] = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"};
    for (int o = 0; o < 3; o++) {
        struct node_model nm;
        nm_init(&nm, ops[o], 22, 1, 1);
        int64_t xd[4] = {2, 3, 7, 5}; /* 35 values per plane: 2 vector blocks + tail */
        float *x = rand_buf(prod(xd, 4));
        struct ogq_rt_tensor ins[1], out[1];
        tensor(&ins[0], OGQ_DTYPE_FLOAT, 4, xd, x);
        struct ogq_error err;
        CU_ASSERT_FATAL(nm_run(&nm, ins, 1, out, &err) == OGQ_OK);
        CU_ASSERT(out[0].rank == 4 && out[0].dims[2] == 1 && out[0].dims[3] == 1);
        double want[6];
        for (int pl = 0; pl < 6; pl++) {
            double s = 0, m = -INFINITY, q = 0;
            for (int i = 0; i < 35; i++) {
                double v = x[pl * 35 + i];
                s += v;
                m = v > m ? v : m;
                q += v * v;
            }
            want[pl] = o == 0 ? s / 35 : o == 1 ? m : sqrt(q);
        }
        CU_ASSERT_EQUAL(compare(ops[o], out[0].data, want, 6), 0);
        free(out[0].data);
        free(x);
        nm_free(&nm);
    }
}

static void test_maxpool_indices(void)
{
    /* 1x1x4x5, 2x2 stride 2 with pads: indices row-major and column-major. */
    for (int order = 0; order < 2; order++) {
        struct node_model nm;
        nm_init(&nm, "MaxPool", 12, 1, 2);
        int64_t k[2] = {2, 2}, s[2] = {2, 2}, pads[4] = {0, 1, 0, 0};
        nm_ints(&nm, "kernel_shape", k, 2);
        nm_ints(&nm, "strides", s, 2);
        nm_ints(&nm, "pads", pads, 4);
        nm_int(&nm, "storage_order", order);
        int64_t xd[4] = {1, 2, 4, 5};
        float x[40];
        for (int i = 0; i < 40; i++)
            x[i] = (float)((i * 7) % 40);
        struct ogq_rt_tensor ins[1], out[2];
        tensor(&ins[0], OGQ_DTYPE_FLOAT, 4, xd, x);
        struct ogq_error err;
        CU_ASSERT_FATAL(nm_run(&nm, ins, 1, out, &err) == OGQ_OK);
        CU_ASSERT_FATAL(out[0].dims[2] == 2 && out[0].dims[3] == 3);
        CU_ASSERT_FATAL(out[1].dtype == OGQ_DTYPE_INT64);
        const float *y = out[0].data;
        const int64_t *ix = out[1].data;
        for (int pl = 0; pl < 2; pl++)
            for (int oh = 0; oh < 2; oh++)
                for (int ow = 0; ow < 3; ow++) {
                    float best = -INFINITY;
                    int64_t bi = -1;
                    for (int kh = 0; kh < 2; kh++)
                        for (int kw = 0; kw < 2; kw++) {
                            int h = oh * 2 + kh, w = ow * 2 + kw - 1;
                            if (w < 0 || w >= 5)
                                continue;
                            float v = x[pl * 20 + h * 5 + w];
                            if (v > best) {
                                best = v;
                                bi = pl * 20 + (order ? w * 4 + h : h * 5 + w);
                            }
                        }
                    int o = (pl * 2 + oh) * 3 + ow;
                    CU_ASSERT(y[o] == best);
                    CU_ASSERT(ix[o] == bi);
                }
        free(out[0].data);
        free(out[1].data);
        nm_free(&nm);
    }
}

/* ---------------------------------------------------------------- worker pool */

struct pf_state {
    int runs[257];
    int bad_tid;
    int inner[257];
};

static void pf_inner(void *p, int64_t i, int tid)
{
    struct pf_state *st = p;
    st->bad_tid += tid != 0; /* nested jobs run inline on the task's thread */
    (void)i;
}

static void pf_task(void *p, int64_t i, int tid)
{
    struct pf_state *st = p;
    st->runs[i]++;
    st->bad_tid += tid < 0 || tid >= EXEC_THREADS;
    struct pf_state local = {{0}, 0, {0}};
    ogq_parallel_for(3, EXEC_THREADS, pf_inner, &local);
    st->inner[i] = local.bad_tid == 0;
}

static void test_parallel_for(void)
{
    ogq_linalg_set_threads(EXEC_THREADS);
    for (int n = 0; n <= 257; n += 37) {
        struct pf_state st;
        memset(&st, 0, sizeof st);
        ogq_parallel_for(n, EXEC_THREADS, pf_task, &st);
        int once = 0, inner = 0;
        for (int i = 0; i < n; i++) {
            once += st.runs[i] == 1;
            inner += st.inner[i];
        }
        CU_ASSERT_EQUAL(once, n);
        CU_ASSERT_EQUAL(inner, n);
        CU_ASSERT_EQUAL(st.bad_tid, 0);
    }
    /* max_threads = 1 runs on the caller only */
    struct pf_state st;
    memset(&st, 0, sizeof st);
    ogq_parallel_for(50, 1, pf_task, &st);
    CU_ASSERT_EQUAL(st.bad_tid, 0);
}

/* ---------------------------------------------------------------- refusals */

static void test_refusals(void)
{
    struct ogq_error err;
    struct node_model nm;
    nm_init(&nm, "Conv", 22, 2, 1);
    nm_str(&nm, "auto_pad", "BOGUS");
    int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {1, 1, 2, 2};
    float x[9] = {0}, w[4] = {0};
    struct ogq_rt_tensor ins[2], out[1];
    tensor(&ins[0], OGQ_DTYPE_FLOAT, 4, xd, x);
    tensor(&ins[1], OGQ_DTYPE_FLOAT, 4, wd, w);
    CU_ASSERT(nm_run(&nm, ins, 2, out, &err) == OGQ_ERR_UNSUPPORTED);
    nm_free(&nm);

    nm_init(&nm, "Einsum", 12, 1, 1);
    nm_str(&nm, "equation", "i$->i");
    CU_ASSERT(nm_run(&nm, ins, 1, out, &err) == OGQ_ERR_UNSUPPORTED);
    nm_free(&nm);

    /* A kernel that does not fit the input is a format error, not a crash. */
    nm_init(&nm, "Conv", 22, 2, 1);
    int64_t big[4] = {1, 1, 4, 4};
    tensor(&ins[1], OGQ_DTYPE_FLOAT, 4, big, calloc(16, sizeof(float)));
    CU_ASSERT(nm_run(&nm, ins, 2, out, &err) == OGQ_ERR_FORMAT);
    free(ins[1].data);
    nm_free(&nm);
}

static int suite_eval_node(void)
{
    use_executor = false;
    return 0;
}

static int suite_executor(void)
{
    use_executor = true;
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("linalg (one thread)", suite_eval_node, NULL);
    CU_pSuite x = CU_add_suite("linalg (executor, 2 threads)", suite_executor, NULL);
    if (!s || !x) {
        CU_cleanup_registry();
        return CU_get_error();
    }
    CU_add_test(s, "im2col matches a naive gather", test_im2col_reference);
    CU_add_test(s, "col2im is the adjoint of im2col", test_col2im_adjoint);
    CU_add_test(s, "conv geometry: SAME/VALID/explicit pads", test_geom_resolve);
    CU_add_test(s, "clean refusals", test_refusals);
    CU_add_test(x, "parallel_for runs every task once", test_parallel_for);
    CU_pSuite both[2] = {s, x};
    for (int i = 0; i < 2; i++) {
        CU_add_test(both[i], "Conv paths vs naive", test_conv_paths);
        CU_add_test(both[i], "ConvTranspose vs naive scatter", test_conv_transpose);
        CU_add_test(both[i], "MatMul batched/broadcast/vector vs naive", test_matmul_shapes);
        CU_add_test(both[i], "MatMul int64 wraps", test_matmul_int);
        CU_add_test(both[i], "Gemm transposes and C broadcast", test_gemm);
        CU_add_test(both[i], "Einsum fast and general paths", test_einsum);
        CU_add_test(both[i], "windowed pools vs naive", test_pools);
        CU_add_test(both[i], "global pools", test_global_pools);
        CU_add_test(both[i], "MaxPool indices, both storage orders", test_maxpool_indices);
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
