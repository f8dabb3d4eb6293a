/* test_elementwise.c — CUnit tests of the elementwise and activation kernels through the
 * executor: one-node models built in memory, checked against exact values or double
 * precision references. The ONNX node tests (conformance) cover the common cases; these
 * cover rounding, integer edge cases, broadcasting patterns, accuracy of the vectorised
 * exp/tanh, softmax layouts, and clean refusals. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "runtime/executor.h"
#include "runtime/kernel_util.h"

/* ---------------------------------------------------------------- one-node runner */

struct in_spec {
    enum ogq_dtype dtype; /* storage dtype; OGQ_DTYPE_UNDEFINED = omitted input */
    int rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    const void *data;
    enum ogq_dtype decl; /* declared ONNX type when it differs (e.g. FLOAT16), else 0 */
};

struct attr {
    const char *name;
    char kind; /* 'i', 'f', 's' */
    int64_t i;
    float f;
    const char *s;
};

struct result {
    enum ogq_status status;
    struct ogq_error err;
    struct ogq_rt_tensor t; /* output 0; data owned (malloc) */
};

static void result_free(struct result *r)
{
    free(r->t.data);
    r->t.data = NULL;
}

/* Builds `op` (opset `opset`) over the given inputs, runs it once and copies output 0. */
static struct result run_op(const char *op, int64_t opset, const struct in_spec *ins, size_t n_in,
                            const struct attr *attrs, size_t n_attrs)
{
    struct result r;
    memset(&r, 0, sizeof r);
    ogq_error_clear(&r.err);
    struct ogq_model *m = NULL;
    struct ogq_executor *e = NULL;
    struct ogq_value *vals[8] = {0};
    const struct ogq_rt_tensor *feeds[8] = {0};
    struct ogq_rt_tensor rts[8];
    size_t n_feeds = 0;
    struct ogq_error *err = &r.err;
    enum ogq_status st = ogq_model_new(&m, err);
    if (st == OGQ_OK)
        st = ogq_model_set_opset(m, "", opset, err);
    for (size_t i = 0; st == OGQ_OK && i < n_in; i++) {
        if (ins[i].dtype == OGQ_DTYPE_UNDEFINED)
            continue;
        char name[32];
        snprintf(name, sizeof name, "x%zu", i);
        st = ogq_graph_add_value(m->graph, name, &vals[i], err);
        if (st == OGQ_OK)
            st = ogq_value_set_type(vals[i], ins[i].decl ? ins[i].decl : ins[i].dtype,
                                    ins[i].rank, ins[i].dims, err);
        if (st == OGQ_OK)
            st = ogq_graph_add_input(m->graph, vals[i], err);
        if (st == OGQ_OK)
            st = ogq_rt_tensor_set_shape(&rts[n_feeds], ins[i].dtype, ins[i].rank, ins[i].dims,
                                         name, err);
        if (st == OGQ_OK) {
            rts[n_feeds].data = (void *)ins[i].data;
            feeds[n_feeds] = &rts[n_feeds];
            n_feeds++;
        }
    }
    struct ogq_value *y = NULL;
    struct ogq_node *node = NULL;
    if (st == OGQ_OK)
        st = ogq_graph_add_value(m->graph, "y", &y, err);
    if (st == OGQ_OK)
        st = ogq_graph_insert_node(m->graph, NULL, op, "", "n0", vals, n_in, &y, 1, &node, err);
    for (size_t i = 0; st == OGQ_OK && i < n_attrs; i++) {
        const struct attr *a = &attrs[i];
        if (a->kind == 'i')
            st = ogq_node_set_attr_int(node, a->name, a->i, err);
        else if (a->kind == 'f')
            st = ogq_node_set_attr_float(node, a->name, a->f, err);
        else
            st = ogq_node_set_attr_string(node, a->name, a->s, err);
    }
    if (st == OGQ_OK)
        st = ogq_graph_add_output(m->graph, y, err);
    struct ogq_exec_options opts = {.threads = 1};
    if (st == OGQ_OK)
        st = ogq_executor_new(m, &opts, &e, err);
    if (st == OGQ_OK)
        st = ogq_executor_run_rt(e, feeds, err);
    if (st == OGQ_OK) {
        const struct ogq_rt_tensor *o = ogq_executor_output(e, 0);
        r.t = *o;
        r.t.data = malloc(o->nbytes ? o->nbytes : 1);
        if (!r.t.data)
            st = OGQ_ERR_NOMEM;
        else if (o->nbytes)
            memcpy(r.t.data, o->data, o->nbytes);
    }
    ogq_executor_free(e);
    ogq_model_free(m);
    r.status = st;
    return r;
}

static struct in_spec in1(enum ogq_dtype dt, int64_t n, const void *data)
{
    struct in_spec s = {dt, 1, {n}, data, OGQ_DTYPE_UNDEFINED};
    return s;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define EXPECT_RUN_OK(r)                                                                           \
    do {                                                                                           \
        if ((r).status != OGQ_OK)                                                                  \
            fprintf(stderr, "\n  run failed: %s\n", (r).err.msg);                                  \
        CU_ASSERT_EQUAL_FATAL((r).status, OGQ_OK);                                                 \
    } while (0)

static bool same_float(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b;
}

static uint32_t lcg_state = 12345;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}
static float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)(lcg() & 0xFFFF) / 65535.0f;
}

/* ---------------------------------------------------------------- Cast */

static double rel_err(double got, double want)
{
    if (want == got)
        return 0.0;
    return fabs(got - want) / fmax(fabs(want), 1e-37);
}


static void test_cast_half_rounding(void)
{
    const float x[] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65519.0f, 65520.0f, 1e-8f,
                       3e-8f,           -2.5f,               NAN,      -INFINITY};
    const float want[] = {1.0f, 1.0f + 0x1p-9f, 65504.0f, INFINITY, 0.0f,
                          0x1p-24f, -2.5f, NAN, -INFINITY};
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, N_OF(x), x);
    struct attr to = {"to", 'i', OGQ_DTYPE_FLOAT16, 0, NULL};
    struct result r = run_op("Cast", 19, &in, 1, &to, 1);
    EXPECT_RUN_OK(r);
    CU_ASSERT_EQUAL(r.t.dtype, OGQ_DTYPE_FLOAT);
    for (size_t i = 0; i < N_OF(x); i++)
        CU_ASSERT(same_float(((float *)r.t.data)[i], want[i]));
    result_free(&r);

    const float xb[] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 0.1f};
    const float wb[] = {1.0f, 1.0f + 0x1p-6f, 0.10009765625f};
    in = in1(OGQ_DTYPE_FLOAT, 3, xb);
    to.i = OGQ_DTYPE_BFLOAT16;
    r = run_op("Cast", 19, &in, 1, &to, 1);
    EXPECT_RUN_OK(r);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(((float *)r.t.data)[i], wb[i]);
    result_free(&r);
}

/* The vectorised float16/bfloat16 rounding against rt_tensor's scalar conversions, over a
 * spread of bit patterns covering every exponent, both signs, NaN and inf. */
static void test_cast_half_matches_scalar(void)
{
    enum { N = 1 << 20 };
    uint32_t *bits = malloc(N * sizeof(uint32_t));
    CU_ASSERT_PTR_NOT_NULL_FATAL(bits);
    for (uint32_t i = 0; i < N; i++)
        bits[i] = i * 4099u + (i & 0xFFF);
    const uint32_t edges[] = {0x477FE000u, 0x477FEFFFu, 0x477FF000u, 0x477FF001u, 0x38800000u,
                              0x387FFFFFu, 0x33000000u, 0x33000001u, 0x7F7FFFFFu, 0x7F800000u,
                              0x7FC00000u, 0xFF800001u, 0x80000000u, 0x00000001u};
    for (size_t i = 0; i < N_OF(edges); i++)
        bits[i] = edges[i];
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, N, bits);
    struct attr to = {"to", 'i', OGQ_DTYPE_FLOAT16, 0, NULL};
    for (int pass = 0; pass < 2; pass++) {
        to.i = pass ? OGQ_DTYPE_BFLOAT16 : OGQ_DTYPE_FLOAT16;
        struct result r = run_op("Cast", 19, &in, 1, &to, 1);
        EXPECT_RUN_OK(r);
        size_t bad = 0;
        for (uint32_t i = 0; i < N; i++) {
            float x;
            memcpy(&x, &bits[i], sizeof x);
            float want = pass ? ogq_bfloat16_to_float(ogq_float_to_bfloat16(x))
                              : ogq_half_to_float(ogq_float_to_half(x));
            float got = ((float *)r.t.data)[i];
            if (!(same_float(got, want) && signbit(got) == signbit(want)) && bad++ < 5)
                fprintf(stderr, "\n  %s(0x%08x): %a, want %a\n", pass ? "bf16" : "half", bits[i],
                        got, want);
        }
        CU_ASSERT_EQUAL(bad, 0);
        result_free(&r);
    }
    free(bits);
}

static void test_round_and_pow_scalars(void)
{
    const float x[] = {0.5f,  1.5f,  2.5f,    -0.5f,     -2.5f, 8388607.5f, -8388607.5f, 1e30f,
                       -0.0f, 3.49f, INFINITY, -INFINITY, NAN,   0.0f,       -3.0f,       7.25f};
    const float wr[] = {0.0f, 2.0f, 2.0f,     -0.0f,     -2.0f, 8388608.0f, -8388608.0f, 1e30f,
                        -0.0f, 3.0f, INFINITY, -INFINITY, NAN,   0.0f,       -3.0f,       7.0f};
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, N_OF(x), x);
    struct result r = run_op("Round", 11, &in, 1, NULL, 0);
    EXPECT_RUN_OK(r);
    for (size_t i = 0; i < N_OF(x); i++) {
        float g = ((float *)r.t.data)[i];
        CU_ASSERT(same_float(g, wr[i]) && signbit(g) == signbit(wr[i]));
    }
    result_free(&r);

    const float exps[] = {2.0f, 3.0f, 4.0f, 1.0f, 0.0f, -1.0f, 0.5f, 1.5f};
    for (size_t e = 0; e < N_OF(exps); e++) {
        struct in_spec ins[2] = {in, {OGQ_DTYPE_FLOAT, 0, {0}, &exps[e], 0}};
        r = run_op("Pow", 15, ins, 2, NULL, 0);
        EXPECT_RUN_OK(r);
        for (size_t i = 0; i < N_OF(x); i++) {
            float g = ((float *)r.t.data)[i], w = powf(x[i], exps[e]);
            bool ok = same_float(g, w) ? signbit(g) == signbit(w) || w == 0.0f
                                       : rel_err(g, w) < 3e-7;
            CU_ASSERT(ok);
            if (!ok)
                fprintf(stderr, "\n  pow(%a, %g) = %a, want %a\n", x[i], exps[e], g, w);
        }
        result_free(&r);
    }
}

static void test_cast_float_to_int(void)
{
    const float x[] = {-2.7f, 2.7f, -0.5f, 200.0f, 300.0f, -1.0f, 3e9f, NAN};
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, N_OF(x), x);
    struct attr to = {"to", 'i', OGQ_DTYPE_INT32, 0, NULL};
    struct result r = run_op("Cast", 13, &in, 1, &to, 1);
    EXPECT_RUN_OK(r);
    const int32_t w32[] = {-2, 2, 0, 200, 300, -1, INT32_MAX, 0};
    CU_ASSERT_EQUAL(memcmp(r.t.data, w32, sizeof w32), 0);
    result_free(&r);

    to.i = OGQ_DTYPE_INT8;
    in.dims[0] = 6;
    r = run_op("Cast", 13, &in, 1, &to, 1);
    EXPECT_RUN_OK(r);
    const int8_t w8[] = {-2, 2, 0, -56, 44, -1};
    CU_ASSERT_EQUAL(memcmp(r.t.data, w8, sizeof w8), 0);
    result_free(&r);

    to.i = OGQ_DTYPE_UINT8;
    r = run_op("Cast", 13, &in, 1, &to, 1);
    EXPECT_RUN_OK(r);
    const uint8_t wu8[] = {254, 2, 0, 200, 44, 255};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wu8, sizeof wu8), 0);
    result_free(&r);

    const float xb[] = {0.0f, -0.0f, NAN, 0.1f, -3.0f};
    in = in1(OGQ_DTYPE_FLOAT, 5, xb);
    to.i = OGQ_DTYPE_BOOL;
    r = run_op("Cast", 13, &in, 1, &to, 1);
    EXPECT_RUN_OK(r);
    const uint8_t wb[] = {0, 0, 1, 1, 1};
    CU_ASSERT_EQUAL(r.t.dtype, OGQ_DTYPE_BOOL);
    CU_ASSERT_EQUAL(memcmp(r.t.data, wb, sizeof wb), 0);
    result_free(&r);

    const int64_t xi[] = {(int64_t)1 << 40 | 0x80, -1, 255};
    in = in1(OGQ_DTYPE_INT64, 3, xi);
    to.i = OGQ_DTYPE_INT8;
    r = run_op("Cast", 13, &in, 1, &to, 1);
    EXPECT_RUN_OK(r);
    const int8_t wi[] = {-128, -1, -1};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wi, sizeof wi), 0);
    result_free(&r);
}

static void test_cast_int4(void)
{
    const float x[] = {-9.0f, -8.0f, 7.0f, 1.9f, -1.9f};
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, 5, x);
    struct attr to = {"to", 'i', OGQ_DTYPE_INT4, 0, NULL};
    struct result r = run_op("Cast", 21, &in, 1, &to, 1);
    EXPECT_RUN_OK(r);
    CU_ASSERT_EQUAL(r.t.dtype, OGQ_DTYPE_INT4);
    CU_ASSERT_EQUAL(r.t.nbytes, 3);
    /* 7, -8, 7, 1, -1 packed low nibble first; the pad nibble is zero */
    const uint8_t want[] = {0x87, 0x17, 0x0F};
    CU_ASSERT_EQUAL(memcmp(r.t.data, want, 3), 0);

    struct in_spec back = {OGQ_DTYPE_INT4, 1, {5}, r.t.data, 0};
    to.i = OGQ_DTYPE_INT8;
    struct result r2 = run_op("Cast", 21, &back, 1, &to, 1);
    EXPECT_RUN_OK(r2);
    const int8_t w8[] = {7, -8, 7, 1, -1};
    CU_ASSERT_EQUAL(memcmp(r2.t.data, w8, 5), 0);
    result_free(&r2);
    result_free(&r);
}

static void test_castlike_declared_half(void)
{
    const float x[] = {1.0f + 0x1p-11f + 0x1p-20f, 0.1f};
    const float like[] = {0.0f};
    struct in_spec ins[2] = {in1(OGQ_DTYPE_FLOAT, 2, x), in1(OGQ_DTYPE_FLOAT, 1, like)};
    ins[1].decl = OGQ_DTYPE_FLOAT16;
    struct result r = run_op("CastLike", 19, ins, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    CU_ASSERT_EQUAL(((float *)r.t.data)[0], 1.0f + 0x1p-10f);
    CU_ASSERT_EQUAL(((float *)r.t.data)[1], 0.0999755859375f);
    result_free(&r);
}

/* ---------------------------------------------------------------- integer edge cases */

static void test_int_div_mod(void)
{
    const int64_t a[] = {INT64_MIN, 7, -7, 7, -7, 5};
    const int64_t b[] = {-1, 0, 3, -3, -3, 5};
    struct in_spec ins[2] = {in1(OGQ_DTYPE_INT64, 6, a), in1(OGQ_DTYPE_INT64, 6, b)};
    struct result r = run_op("Div", 14, ins, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    const int64_t wd[] = {INT64_MIN, 0, -2, -2, 2, 1};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wd, sizeof wd), 0);
    result_free(&r);

    r = run_op("Mod", 13, ins, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    const int64_t wm[] = {0, 0, 2, -2, -1, 0};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wm, sizeof wm), 0);
    result_free(&r);

    struct attr fm = {"fmod", 'i', 1, 0, NULL};
    r = run_op("Mod", 13, ins, 2, &fm, 1);
    EXPECT_RUN_OK(r);
    const int64_t wf[] = {0, 0, -1, 1, -1, 0};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wf, sizeof wf), 0);
    result_free(&r);

    const int8_t a8[] = {-128, 100, -100, -7};
    const int8_t b8[] = {-1, 100, 100, 2};
    struct in_spec i8[2] = {in1(OGQ_DTYPE_INT8, 4, a8), in1(OGQ_DTYPE_INT8, 4, b8)};
    r = run_op("Div", 14, i8, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    const int8_t w8[] = {-128, 1, -1, -3};
    CU_ASSERT_EQUAL(memcmp(r.t.data, w8, sizeof w8), 0);
    result_free(&r);
    r = run_op("Add", 14, i8, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    const int8_t wa[] = {127, -56, 0, -5};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wa, sizeof wa), 0);
    result_free(&r);

    const float fa[] = {-7.5f, 7.5f, 6.0f};
    const float fb[] = {2.0f, -2.0f, -3.0f};
    struct in_spec fi[2] = {in1(OGQ_DTYPE_FLOAT, 3, fa), in1(OGQ_DTYPE_FLOAT, 3, fb)};
    r = run_op("Mod", 13, fi, 2, &fm, 1);
    EXPECT_RUN_OK(r);
    CU_ASSERT_EQUAL(((float *)r.t.data)[0], -1.5f);
    CU_ASSERT_EQUAL(((float *)r.t.data)[1], 1.5f);
    result_free(&r);
}

static void test_neg_abs_wrap(void)
{
    const int64_t a[] = {INT64_MIN, -5, 5};
    struct in_spec in = in1(OGQ_DTYPE_INT64, 3, a);
    struct result r = run_op("Neg", 13, &in, 1, NULL, 0);
    EXPECT_RUN_OK(r);
    const int64_t wn[] = {INT64_MIN, 5, -5};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wn, sizeof wn), 0);
    result_free(&r);
    r = run_op("Abs", 13, &in, 1, NULL, 0);
    EXPECT_RUN_OK(r);
    const int64_t wa[] = {INT64_MIN, 5, 5};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wa, sizeof wa), 0);
    result_free(&r);
}

static void test_pow_int(void)
{
    const int32_t a[] = {3, -2, 2, 1, -1, 7};
    const int64_t b[] = {4, 3, -1, -5, -3, 0};
    struct in_spec ins[2] = {in1(OGQ_DTYPE_INT32, 6, a), in1(OGQ_DTYPE_INT64, 6, b)};
    struct result r = run_op("Pow", 15, ins, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    const int32_t want[] = {81, -8, 0, 1, -1, 1};
    CU_ASSERT_EQUAL(r.t.dtype, OGQ_DTYPE_INT32);
    CU_ASSERT_EQUAL(memcmp(r.t.data, want, sizeof want), 0);
    result_free(&r);
}

/* ---------------------------------------------------------------- broadcasting */

/* Offset in a tensor of `t_rank`/`t_dims` for an output multi-index (numpy rules). */
static int64_t bcast_offset(const int64_t *idx, int out_rank, int t_rank, const int64_t *t_dims)
{
    int64_t off = 0;
    for (int d = 0; d < t_rank; d++) {
        int od = out_rank - t_rank + d;
        off = off * t_dims[d] + (t_dims[d] == 1 ? 0 : idx[od]);
    }
    return off;
}

static void random_shape(int out_rank, const int64_t *out_dims, struct in_spec *s)
{
    s->rank = (int)(lcg() % (unsigned)(out_rank + 1));
    for (int d = 0; d < s->rank; d++) {
        int od = out_rank - s->rank + d;
        s->dims[d] = lcg() % 3 == 0 ? 1 : out_dims[od];
    }
}

static int64_t numel_of(const struct in_spec *s)
{
    int64_t n = 1;
    for (int d = 0; d < s->rank; d++)
        n *= s->dims[d];
    return n;
}

static void test_broadcast_random(void)
{
    static const int64_t sizes[] = {1, 2, 3, 5, 17, 33};
    for (int iter = 0; iter < 150; iter++) {
        int rank = 1 + (int)(lcg() % 4);
        int64_t dims[4];
        for (int d = 0; d < rank; d++)
            dims[d] = sizes[lcg() % N_OF(sizes)];
        struct in_spec s[3];
        float *data[3];
        uint8_t *cond = NULL;
        memset(s, 0, sizeof s);
        for (int i = 0; i < 3; i++) {
            random_shape(rank, dims, &s[i]);
            s[i].dtype = i == 0 ? OGQ_DTYPE_BOOL : OGQ_DTYPE_FLOAT;
            int64_t n = numel_of(&s[i]);
            data[i] = malloc((size_t)n * sizeof(float));
            CU_ASSERT_PTR_NOT_NULL_FATAL(data[i]);
            for (int64_t k = 0; k < n; k++)
                data[i][k] = frand(-4, 4);
            s[i].data = data[i];
            if (i == 0) {
                cond = malloc((size_t)n);
                CU_ASSERT_PTR_NOT_NULL_FATAL(cond);
                for (int64_t k = 0; k < n; k++)
                    cond[k] = data[0][k] > 0;
                s[0].data = cond;
            }
        }
        /* the broadcast shape of the three (dims may be 1 everywhere in one input) */
        int64_t od[4];
        for (int d = 0; d < rank; d++) {
            od[d] = 1;
            for (int i = 0; i < 3; i++) {
                int td = d - (rank - s[i].rank);
                if (td >= 0 && s[i].dims[td] != 1)
                    od[d] = s[i].dims[td];
            }
        }
        int out_rank = 0;
        for (int i = 0; i < 3; i++)
            out_rank = s[i].rank > out_rank ? s[i].rank : out_rank;
        int skip = rank - out_rank;
        int64_t total = 1;
        for (int d = skip; d < rank; d++)
            total *= od[d];

        struct result add = run_op("Add", 14, &s[1], 2, NULL, 0);
        struct result where = run_op("Where", 16, s, 3, NULL, 0);
        struct result mx = run_op("Max", 13, &s[1], 2, NULL, 0);
        s[0].dtype = OGQ_DTYPE_FLOAT; /* input 0 as a float operand of a 3-input Sum */
        s[0].data = data[0];
        struct result sum = run_op("Sum", 13, s, 3, NULL, 0);
        EXPECT_RUN_OK(add);
        EXPECT_RUN_OK(where);
        EXPECT_RUN_OK(mx);
        EXPECT_RUN_OK(sum);
        CU_ASSERT_EQUAL(where.t.numel, total);
        CU_ASSERT_EQUAL(sum.t.numel, total);
        bool ok = true;
        int64_t idx[4] = {0};
        for (int64_t k = 0; k < total && ok; k++) {
            int64_t rem = k;
            for (int d = rank - 1; d >= skip; d--) {
                idx[d - skip] = rem % od[d];
                rem /= od[d];
            }
            int orank = rank - skip;
            int64_t o0 = bcast_offset(idx, orank, s[0].rank, s[0].dims);
            int64_t o1 = bcast_offset(idx, orank, s[1].rank, s[1].dims);
            int64_t o2 = bcast_offset(idx, orank, s[2].rank, s[2].dims);
            float a = data[1][o1], b = data[2][o2], c = data[0][o0];
            ok = ok && ((float *)where.t.data)[k] == (cond[o0] ? a : b);
            int64_t n12 = add.t.numel;
            if (n12 == total) { /* Add/Max cover only inputs 1 and 2 */
                ok = ok && ((float *)add.t.data)[k] == a + b;
                ok = ok && ((float *)mx.t.data)[k] == (a > b ? a : b);
            }
            ok = ok && ((float *)sum.t.data)[k] == (c + a) + b;
        }
        CU_ASSERT(ok);
        result_free(&add);
        result_free(&where);
        result_free(&mx);
        result_free(&sum);
        for (int i = 0; i < 3; i++)
            free(data[i]);
        free(cond);
    }
}

static void test_where_min_nan(void)
{
    const uint8_t c[] = {1, 0, 1, 0};
    const int64_t x[] = {1, 2, 3, 4};
    const int64_t y[] = {-9};
    struct in_spec ins[3] = {in1(OGQ_DTYPE_BOOL, 4, c), in1(OGQ_DTYPE_INT64, 4, x),
                             in1(OGQ_DTYPE_INT64, 1, y)};
    struct result r = run_op("Where", 16, ins, 3, NULL, 0);
    EXPECT_RUN_OK(r);
    const int64_t want[] = {1, -9, 3, -9};
    CU_ASSERT_EQUAL(memcmp(r.t.data, want, sizeof want), 0);
    result_free(&r);

    const float a[] = {NAN, 1.0f, 2.0f};
    const float b[] = {0.0f, NAN, 3.0f};
    struct in_spec mm[2] = {in1(OGQ_DTYPE_FLOAT, 3, a), in1(OGQ_DTYPE_FLOAT, 3, b)};
    r = run_op("Min", 13, mm, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    CU_ASSERT(isnan(((float *)r.t.data)[0]));
    CU_ASSERT(isnan(((float *)r.t.data)[1]));
    CU_ASSERT_EQUAL(((float *)r.t.data)[2], 2.0f);
    result_free(&r);
}

/* ---------------------------------------------------------------- Clip */

static void test_clip_versions(void)
{
    const float x[] = {-3.0f, -0.5f, 0.5f, 3.0f, NAN};
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, 5, x);
    struct attr at[2] = {{"min", 'f', 0, -1.0f, NULL}, {"max", 'f', 0, 1.0f, NULL}};
    struct result r = run_op("Clip", 6, &in, 1, at, 2);
    EXPECT_RUN_OK(r);
    const float w6[] = {-1.0f, -0.5f, 0.5f, 1.0f, NAN};
    for (int i = 0; i < 5; i++)
        CU_ASSERT(same_float(((float *)r.t.data)[i], w6[i]));
    result_free(&r);

    const float hi[] = {0.0f};
    struct in_spec ins[3] = {in, {OGQ_DTYPE_UNDEFINED, 0, {0}, NULL, 0},
                             {OGQ_DTYPE_FLOAT, 0, {0}, hi, 0}};
    r = run_op("Clip", 13, ins, 3, NULL, 0);
    EXPECT_RUN_OK(r);
    const float w13[] = {-3.0f, -0.5f, 0.0f, 0.0f, NAN};
    for (int i = 0; i < 5; i++)
        CU_ASSERT(same_float(((float *)r.t.data)[i], w13[i]));
    result_free(&r);

    const int8_t xi[] = {-128, -5, 0, 5, 127};
    const int8_t lo = -4;
    struct in_spec ii[2] = {in1(OGQ_DTYPE_INT8, 5, xi), {OGQ_DTYPE_INT8, 0, {0}, &lo, 0}};
    r = run_op("Clip", 13, ii, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    const int8_t wi[] = {-4, -4, 0, 5, 127};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wi, 5), 0);
    result_free(&r);
}

/* ---------------------------------------------------------------- activations */

static void test_tanh_sigmoid_accuracy(void)
{
    enum { N = 40001 };
    float *x = malloc(N * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    for (int i = 0; i < N; i++)
        x[i] = -20.0f + 40.0f * (float)i / (N - 1);
    x[0] = 1e-30f;
    x[1] = -1e-7f;
    x[2] = 0.4999999f;
    x[3] = 0.5f;
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, N, x);
    struct result t = run_op("Tanh", 13, &in, 1, NULL, 0);
    struct result s = run_op("Sigmoid", 13, &in, 1, NULL, 0);
    EXPECT_RUN_OK(t);
    EXPECT_RUN_OK(s);
    double worst_t = 0, worst_s = 0;
    for (int i = 0; i < N; i++) {
        worst_t = fmax(worst_t, rel_err(((float *)t.t.data)[i], tanh((double)x[i])));
        worst_s = fmax(worst_s, rel_err(((float *)s.t.data)[i], 1.0 / (1.0 + exp(-(double)x[i]))));
    }
    CU_ASSERT(worst_t < 4e-7);
    CU_ASSERT(worst_s < 4e-7);
    result_free(&t);
    result_free(&s);
    free(x);

    const float sp[] = {INFINITY, -INFINITY, NAN, -0.0f, 100.0f, -100.0f, -200.0f};
    in = in1(OGQ_DTYPE_FLOAT, N_OF(sp), sp);
    t = run_op("Tanh", 13, &in, 1, NULL, 0);
    s = run_op("Sigmoid", 13, &in, 1, NULL, 0);
    EXPECT_RUN_OK(t);
    EXPECT_RUN_OK(s);
    const float wt[] = {1.0f, -1.0f, NAN, -0.0f, 1.0f, -1.0f, -1.0f};
    const float ws[] = {1.0f, 0.0f, NAN, 0.5f, 1.0f, 0.0f, 0.0f}; /* below FLT_MIN: 0 */
    for (size_t i = 0; i < N_OF(sp); i++) {
        CU_ASSERT(same_float(((float *)t.t.data)[i], wt[i]));
        CU_ASSERT(same_float(((float *)s.t.data)[i], ws[i]));
    }
    CU_ASSERT(signbit(((float *)t.t.data)[3]));
    result_free(&t);
    result_free(&s);
}

static void test_exp_erf_accuracy(void)
{
    enum { N = 60001 };
    float *x = malloc(N * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    for (int i = 0; i < N; i++)
        x[i] = -30.0f + 60.0f * (float)i / (N - 1);
    x[0] = 1e-20f;
    x[1] = -3e-5f;
    x[2] = 0.4999f;
    x[3] = -0.5001f;
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, N, x);
    struct result e = run_op("Exp", 13, &in, 1, NULL, 0);
    struct result f = run_op("Erf", 13, &in, 1, NULL, 0);
    EXPECT_RUN_OK(e);
    EXPECT_RUN_OK(f);
    double worst_e = 0, worst_f = 0;
    for (int i = 0; i < N; i++) {
        worst_e = fmax(worst_e, rel_err(((float *)e.t.data)[i], exp((double)x[i])));
        worst_f = fmax(worst_f, rel_err(((float *)f.t.data)[i], erf((double)x[i])));
    }
    CU_ASSERT(worst_e < 2e-7);
    CU_ASSERT(worst_f < 4e-7);
    result_free(&e);
    result_free(&f);
    free(x);

    const float sp[] = {INFINITY, -INFINITY, NAN, 89.0f, -104.0f, -120.0f};
    const float we[] = {INFINITY, 0.0f, NAN, INFINITY, 0x1p-149f, 0.0f};
    const float wf[] = {1.0f, -1.0f, NAN, 1.0f, -1.0f, -1.0f};
    in = in1(OGQ_DTYPE_FLOAT, N_OF(sp), sp);
    e = run_op("Exp", 13, &in, 1, NULL, 0);
    f = run_op("Erf", 13, &in, 1, NULL, 0);
    EXPECT_RUN_OK(e);
    EXPECT_RUN_OK(f);
    for (size_t i = 0; i < N_OF(sp); i++) {
        float g = ((float *)e.t.data)[i];
        /* exp(-104) is below half the smallest subnormal: 0 (or that subnormal) */
        CU_ASSERT(same_float(g, we[i]) || (i == 4 && g >= 0.0f && g <= 0x1p-149f));
        CU_ASSERT(same_float(((float *)f.t.data)[i], wf[i]));
    }
    result_free(&e);
    result_free(&f);
}

static void test_softplus_mish_accuracy(void)
{
    enum { N = 40001 };
    float *x = malloc(N * sizeof(float));
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    for (int i = 0; i < N; i++)
        x[i] = -40.0f + 80.0f * (float)i / (N - 1);
    x[0] = 1e-30f;
    x[1] = -1e-6f;
    x[2] = 100.0f;
    x[3] = -80.0f;
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, N, x);
    struct result sp = run_op("Softplus", 1, &in, 1, NULL, 0);
    struct result mi = run_op("Mish", 18, &in, 1, NULL, 0);
    EXPECT_RUN_OK(sp);
    EXPECT_RUN_OK(mi);
    double worst_s = 0, worst_m = 0;
    for (int i = 0; i < N; i++) {
        double xd = x[i], s = xd > 0 ? xd + log1p(exp(-xd)) : log1p(exp(xd));
        worst_s = fmax(worst_s, rel_err(((float *)sp.t.data)[i], s));
        worst_m = fmax(worst_m, rel_err(((float *)mi.t.data)[i], xd * tanh(s)));
    }
    CU_ASSERT(worst_s < 5e-7);
    CU_ASSERT(worst_m < 1e-6);
    if (worst_s >= 5e-7 || worst_m >= 1e-6)
        fprintf(stderr, "\n  softplus %g, mish %g\n", worst_s, worst_m);
    result_free(&sp);
    result_free(&mi);
    free(x);
}

static void test_gelu_negative_tail(void)
{
    const float x[] = {-5.1118059f, -3.0f, 0.0f, 2.0f, -10.0f};
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, 5, x);
    struct result r = run_op("Gelu", 20, &in, 1, NULL, 0);
    EXPECT_RUN_OK(r);
    /* erfc(z) has relative condition number ~2z^2: the float32 rounding of x/sqrt2 alone
     * costs about x^2 * 6e-8, so the bound grows with x^2. */
    for (int i = 0; i < 5; i++) {
        double xd = x[i], want = 0.5 * xd * erfc(-xd / sqrt(2.0));
        double got = ((float *)r.t.data)[i];
        CU_ASSERT(rel_err(got, want) < 1e-6 * fmax(1.0, xd * xd));
        if (!(rel_err(got, want) < 1e-6 * fmax(1.0, xd * xd)))
            fprintf(stderr, "\n  gelu(%g) = %.9g, want %.9g\n", xd, got, want);
    }
    result_free(&r);
    struct attr ap = {"approximate", 's', 0, 0, "tanh"};
    r = run_op("Gelu", 20, &in, 1, &ap, 1);
    EXPECT_RUN_OK(r);
    for (int i = 0; i < 5; i++) {
        double xd = x[i], u = sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd);
        double want = xd / (1.0 + exp(-2.0 * u));
        /* exp(-2u) has relative condition number |2u| (float32 rounding of u) */
        CU_ASSERT(rel_err(((float *)r.t.data)[i], want) < 1e-6 * fmax(1.0, fabs(2.0 * u)));
    }
    result_free(&r);
}

/* Double-precision softmax of x viewed as [outer, n, inner] along n. */
static void ref_softmax(const float *x, double *y, int64_t outer, int64_t n, int64_t inner,
                        bool log_)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *p = x + o * n * inner + i;
            double m = -INFINITY, s = 0;
            for (int64_t k = 0; k < n; k++)
                m = fmax(m, p[k * inner]);
            for (int64_t k = 0; k < n; k++)
                s += exp(p[k * inner] - m);
            for (int64_t k = 0; k < n; k++) {
                double v = p[k * inner] - m;
                y[o * n * inner + k * inner + i] = log_ ? v - log(s) : exp(v) / s;
            }
        }
}

static void test_softmax_layouts(void)
{
    /* [2, 3, L]: axis 2 (rows), axis 1 (strided, inner = L), opset-11 axis 1 (2-D rows). */
    for (int64_t L = 1; L <= 70; L += 3) {
        int64_t n = 2 * 3 * L;
        float *x = malloc((size_t)n * sizeof(float));
        double *ref = malloc((size_t)n * sizeof(double));
        CU_ASSERT_PTR_NOT_NULL_FATAL(x);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
        for (int64_t k = 0; k < n; k++)
            x[k] = frand(-20, 20);
        x[0] = -INFINITY;
        struct in_spec in = {OGQ_DTYPE_FLOAT, 3, {2, 3, L}, x, 0};
        for (int lg = 0; lg < 2; lg++) {
            const char *op = lg ? "LogSoftmax" : "Softmax";
            struct {
                int64_t opset, axis, outer, len, inner;
            } cases[] = {{13, 2, 6, L, 1}, {13, 1, 2, 3, L}, {13, 0, 1, 2, 3 * L},
                         {11, 1, 2, 3 * L, 1}, {11, 0, 1, n, 1}};
            for (size_t c = 0; c < N_OF(cases); c++) {
                struct attr ax = {"axis", 'i', cases[c].axis, 0, NULL};
                struct result r = run_op(op, cases[c].opset, &in, 1, &ax, 1);
                EXPECT_RUN_OK(r);
                ref_softmax(x, ref, cases[c].outer, cases[c].len, cases[c].inner, lg);
                double worst = 0;
                for (int64_t k = 0; k < n; k++) {
                    double g = ((float *)r.t.data)[k];
                    double e = lg ? fabs(g - ref[k]) / fmax(1.0, fabs(ref[k]))
                                  : fabs(g - ref[k]) / fmax(1e-30, ref[k]);
                    if (isinf(ref[k]) && g == ref[k])
                        e = 0;
                    worst = fmax(worst, e);
                }
                /* x - max rounds to half an ulp of up to 40 (1.2e-6), which exp turns into
                 * the same relative error; plus a few ulp for exp and the sum. */
                CU_ASSERT(worst < 3e-6);
                if (worst >= 3e-6)
                    fprintf(stderr, "\n  %s opset %lld axis %lld L %lld: error %g\n", op,
                            (long long)cases[c].opset, (long long)cases[c].axis, (long long)L,
                            worst);
                result_free(&r);
            }
        }
        free(x);
        free(ref);
    }
}

static void test_prelu_and_relu_int(void)
{
    const float x[] = {-2.0f, 3.0f, -4.0f, 5.0f, -6.0f, 7.0f};
    const float slope[] = {0.5f, 0.25f, 0.125f};
    struct in_spec ins[2] = {{OGQ_DTYPE_FLOAT, 2, {2, 3}, x, 0}, in1(OGQ_DTYPE_FLOAT, 3, slope)};
    struct result r = run_op("PRelu", 16, ins, 2, NULL, 0);
    EXPECT_RUN_OK(r);
    const float want[] = {-1.0f, 3.0f, -0.5f, 5.0f, -1.5f, 7.0f};
    CU_ASSERT_EQUAL(memcmp(r.t.data, want, sizeof want), 0);
    result_free(&r);

    const int32_t xi[] = {-5, 0, 7};
    struct in_spec in = in1(OGQ_DTYPE_INT32, 3, xi);
    r = run_op("Relu", 14, &in, 1, NULL, 0);
    EXPECT_RUN_OK(r);
    const int32_t wi[] = {0, 0, 7};
    CU_ASSERT_EQUAL(memcmp(r.t.data, wi, sizeof wi), 0);
    result_free(&r);
}

/* ---------------------------------------------------------------- refusals */

static void test_refusals(void)
{
    const float x[] = {1.0f, 2.0f};
    const int64_t xi[] = {1, 2};
    struct in_spec in = in1(OGQ_DTYPE_FLOAT, 2, x);
    struct attr to = {"to", 'i', OGQ_DTYPE_FLOAT8E4M3FN, 0, NULL};
    struct result r = run_op("Cast", 19, &in, 1, &to, 1);
    CU_ASSERT_EQUAL(r.status, OGQ_ERR_UNSUPPORTED);
    result_free(&r);
    to.i = OGQ_DTYPE_INT16;
    r = run_op("Cast", 19, &in, 1, &to, 1);
    CU_ASSERT_EQUAL(r.status, OGQ_ERR_UNSUPPORTED);
    result_free(&r);

    struct attr ap = {"approximate", 's', 0, 0, "erf"};
    r = run_op("Gelu", 20, &in, 1, &ap, 1);
    CU_ASSERT_EQUAL(r.status, OGQ_ERR_UNSUPPORTED);
    result_free(&r);

    struct in_spec in_i = in1(OGQ_DTYPE_INT64, 2, xi);
    r = run_op("Sqrt", 13, &in_i, 1, NULL, 0);
    CU_ASSERT_EQUAL(r.status, OGQ_ERR_UNSUPPORTED);
    result_free(&r);

    struct in_spec mixed[2] = {in, in_i};
    r = run_op("Add", 14, mixed, 2, NULL, 0);
    CU_ASSERT_EQUAL(r.status, OGQ_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err.msg, "n0"));
    result_free(&r);

    const float y3[] = {1.0f, 2.0f, 3.0f};
    struct in_spec bad[2] = {in, in1(OGQ_DTYPE_FLOAT, 3, y3)};
    r = run_op("Mul", 14, bad, 2, NULL, 0);
    CU_ASSERT_EQUAL(r.status, OGQ_ERR_FORMAT);
    result_free(&r);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("elementwise", NULL, NULL);
    if (!s) {
        CU_cleanup_registry();
        return CU_get_error();
    }
    CU_add_test(s, "cast to float16/bfloat16 rounds to nearest even", test_cast_half_rounding);
    CU_add_test(s, "vectorised half/bfloat16 rounding = scalar", test_cast_half_matches_scalar);
    CU_add_test(s, "cast float to integers and bool", test_cast_float_to_int);
    CU_add_test(s, "round half to even, pow scalar exponents", test_round_and_pow_scalars);
    CU_add_test(s, "cast to and from int4", test_cast_int4);
    CU_add_test(s, "castlike uses the declared float16 type", test_castlike_declared_half);
    CU_add_test(s, "integer div/mod edge cases", test_int_div_mod);
    CU_add_test(s, "neg/abs wrap at INT64_MIN", test_neg_abs_wrap);
    CU_add_test(s, "integer pow", test_pow_int);
    CU_add_test(s, "random broadcasting vs naive", test_broadcast_random);
    CU_add_test(s, "where int64, min NaN", test_where_min_nan);
    CU_add_test(s, "clip opset 6/13, int8", test_clip_versions);
    CU_add_test(s, "tanh/sigmoid accuracy and specials", test_tanh_sigmoid_accuracy);
    CU_add_test(s, "exp/erf accuracy and specials", test_exp_erf_accuracy);
    CU_add_test(s, "softplus/mish accuracy", test_softplus_mish_accuracy);
    CU_add_test(s, "gelu negative tail", test_gelu_negative_tail);
    CU_add_test(s, "softmax/logsoftmax layouts", test_softmax_layouts);
    CU_add_test(s, "prelu broadcast, int relu", test_prelu_and_relu_int);
    CU_add_test(s, "clean refusals", test_refusals);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
