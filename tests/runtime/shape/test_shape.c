/* test_shape.c — CUnit tests of the shape kernel family beyond the ONNX node tests: the
 * strided-copy paths (Transpose over many permutations and dtypes, reversed and clamped
 * Slice, Expand, DepthToSpace), Pad modes with negative pads, Tile, Gather edge cases, the
 * views that alias their input, Resize/Upsample conventions, ArgMax with NaN and the clean
 * refusals (UNSUPPORTED) of what is not implemented.
 *
 * Each test builds a one-node model in memory, runs it through the executor and compares
 * with a naive reference computed here.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/tensor.h"
#include "runtime/executor.h"
#include "runtime/kernel_util.h"

#define MAXR OGQ_RT_MAX_RANK

/* ---------------------------------------------------------------- one-node models */

struct tm {
    struct ogq_model *m;
    struct ogq_node *node;
    struct ogq_executor *e;
    struct ogq_error err;
};

static struct ogq_value *tm_value(struct tm *t, const char *name)
{
    struct ogq_value *v = ogq_graph_value(t->m->graph, name);
    if (!v && ogq_graph_add_value(t->m->graph, name, &v, &t->err) != OGQ_OK)
        return NULL;
    return v;
}

static void tm_begin(struct tm *t, int64_t opset)
{
    memset(t, 0, sizeof *t);
    CU_ASSERT_FATAL(ogq_model_new(&t->m, &t->err) == OGQ_OK);
    CU_ASSERT_FATAL(ogq_model_set_opset(t->m, "", opset, &t->err) == OGQ_OK);
}

/* Feeds `name` as the next graph input. */
static void tm_input(struct tm *t, const char *name)
{
    struct ogq_value *v = tm_value(t, name);
    CU_ASSERT_FATAL(v && ogq_graph_add_input(t->m->graph, v, &t->err) == OGQ_OK);
}

/* A constant int64 initializer of rank 1 (or 0 when rank0). */
static void tm_ints(struct tm *t, const char *name, const int64_t *v, int64_t n, bool rank0)
{
    struct ogq_tensor *x;
    CU_ASSERT_FATAL(ogq_tensor_new(name, OGQ_DTYPE_INT64, rank0 ? 0 : 1, &n, &x, &t->err) ==
                    OGQ_OK);
    if (n)
        memcpy(ogq_tensor_data(x), v, (size_t)n * sizeof *v);
    struct ogq_value *val = tm_value(t, name);
    CU_ASSERT_FATAL(val && ogq_graph_set_initializer(t->m->graph, val, x, &t->err) == OGQ_OK);
}

/* The node: inputs by name ("" omitted), outputs y0..y{n_out-1}, all graph outputs. */
static void tm_node(struct tm *t, const char *op, const char *const *ins, size_t n_in,
                    size_t n_out)
{
    struct ogq_value *in[16] = {0}, *out[16] = {0};
    for (size_t i = 0; i < n_in; i++)
        in[i] = *ins[i] ? tm_value(t, ins[i]) : NULL;
    for (size_t k = 0; k < n_out; k++) {
        char name[32];
        snprintf(name, sizeof name, "y%zu", k);
        out[k] = tm_value(t, name);
    }
    CU_ASSERT_FATAL(ogq_graph_insert_node(t->m->graph, NULL, op, "", "n", in, n_in, out, n_out,
                                          &t->node, &t->err) == OGQ_OK);
    for (size_t k = 0; k < n_out; k++)
        CU_ASSERT_FATAL(ogq_graph_add_output(t->m->graph, out[k], &t->err) == OGQ_OK);
}

/* Plans and runs; returns the status (the message is in t->err). */
static enum ogq_status tm_run(struct tm *t, const struct ogq_rt_tensor *const *ins)
{
    struct ogq_exec_options o = {.threads = 1};
    enum ogq_status st = ogq_executor_new(t->m, &o, &t->e, &t->err);
    if (st != OGQ_OK)
        return st;
    return ogq_executor_run_rt(t->e, ins, &t->err);
}

static const struct ogq_rt_tensor *tm_out(struct tm *t, size_t k)
{
    return ogq_executor_output(t->e, k);
}

static void tm_end(struct tm *t)
{
    ogq_executor_free(t->e);
    ogq_model_free(t->m);
}

/* The inputs are a compound literal, whose commas the macro must take as variadic. */
#define RUN_OK(t, ...)                                                                             \
    do {                                                                                           \
        enum ogq_status st_ = tm_run((t), (__VA_ARGS__));                                          \
        if (st_ != OGQ_OK)                                                                         \
            fprintf(stderr, "\n%s:%d: run failed: %s\n", __FILE__, __LINE__, (t)->err.msg);        \
        CU_ASSERT_FATAL(st_ == OGQ_OK);                                                            \
    } while (0)

/* ---------------------------------------------------------------- tensors */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int64_t rnd_in(int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

/* A tensor with its own storage, filled with distinct-ish random bytes. */
static struct ogq_rt_tensor *tensor_new(enum ogq_dtype dt, int rank, const int64_t *dims)
{
    struct ogq_rt_tensor *t = calloc(1, sizeof *t);
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT_FATAL(ogq_rt_tensor_set_shape(t, dt, rank, dims, "t", NULL) == OGQ_OK);
    t->data = malloc(t->nbytes ? t->nbytes : 1);
    CU_ASSERT_FATAL(t->data != NULL);
    size_t es = ogq_rt_elem_size(dt);
    for (int64_t i = 0; i < t->numel; i++) {
        uint64_t v = rnd();
        if (dt == OGQ_DTYPE_FLOAT) {
            float f = (float)((int64_t)(v % 2001) - 1000) / 8.0f;
            memcpy((char *)t->data + i * 4, &f, 4);
        } else if (dt == OGQ_DTYPE_BOOL) {
            ((uint8_t *)t->data)[i] = (uint8_t)(v & 1);
        } else {
            memcpy((char *)t->data + (size_t)i * es, &v, es);
        }
    }
    return t;
}

static void tensor_free(struct ogq_rt_tensor *t)
{
    if (t)
        free(t->data);
    free(t);
}

static bool same_dims(const struct ogq_rt_tensor *t, int rank, const int64_t *dims)
{
    if (!t || t->rank != rank)
        return false;
    for (int d = 0; d < rank; d++)
        if (t->dims[d] != dims[d])
            return false;
    return true;
}

/* Element i of t as raw bytes (up to 8). */
static uint64_t elem(const struct ogq_rt_tensor *t, int64_t i)
{
    uint64_t v = 0;
    size_t es = ogq_rt_elem_size(t->dtype);
    memcpy(&v, (const char *)t->data + (size_t)i * es, es);
    return v;
}

/* Row-major index -> coordinates. */
static void unravel(int64_t i, int rank, const int64_t *dims, int64_t *c)
{
    for (int d = rank - 1; d >= 0; d--) {
        c[d] = dims[d] ? i % dims[d] : 0;
        i = dims[d] ? i / dims[d] : 0;
    }
}

static int64_t ravel(int rank, const int64_t *dims, const int64_t *c)
{
    int64_t i = 0;
    for (int d = 0; d < rank; d++)
        i = i * dims[d] + c[d];
    return i;
}

/* ---------------------------------------------------------------- Transpose */

static void check_transpose(enum ogq_dtype dt, int rank, const int64_t *dims, const int64_t *perm)
{
    struct tm t;
    tm_begin(&t, 13);
    tm_input(&t, "x");
    tm_node(&t, "Transpose", (const char *const[]){"x"}, 1, 1);
    if (perm)
        CU_ASSERT_FATAL(ogq_node_set_attr_ints(t.node, "perm", perm, (size_t)rank, &t.err) ==
                        OGQ_OK);
    struct ogq_rt_tensor *x = tensor_new(dt, rank, dims);
    RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
    const struct ogq_rt_tensor *y = tm_out(&t, 0);
    int64_t p[MAXR], od[MAXR];
    for (int d = 0; d < rank; d++) {
        p[d] = perm ? perm[d] : rank - 1 - d;
        od[d] = dims[p[d]];
    }
    CU_ASSERT_FATAL(same_dims(y, rank, od));
    bool ok = true;
    for (int64_t i = 0; i < y->numel && ok; i++) {
        int64_t oc[MAXR], ic[MAXR];
        unravel(i, rank, od, oc);
        for (int d = 0; d < rank; d++)
            ic[p[d]] = oc[d];
        ok = elem(y, i) == elem(x, ravel(rank, dims, ic));
    }
    CU_ASSERT(ok);
    if (!ok)
        fprintf(stderr, "\ntranspose mismatch: dtype %s rank %d\n", ogq_dtype_name(dt), rank);
    tensor_free(x);
    tm_end(&t);
}

static void test_transpose_random(void)
{
    static const enum ogq_dtype dts[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_UINT8, OGQ_DTYPE_INT64,
                                         OGQ_DTYPE_INT32, OGQ_DTYPE_BOOL};
    for (int it = 0; it < 120; it++) {
        int rank = (int)rnd_in(1, 6);
        int64_t dims[MAXR], perm[MAXR];
        for (int d = 0; d < rank; d++) {
            dims[d] = rnd_in(1, it % 3 == 0 ? 20 : 5);
            perm[d] = d;
        }
        for (int d = rank - 1; d > 0; d--) { /* Fisher-Yates */
            int j = (int)rnd_in(0, d);
            int64_t tmp = perm[d];
            perm[d] = perm[j];
            perm[j] = tmp;
        }
        check_transpose(dts[it % 5], rank, dims, it % 17 == 0 ? NULL : perm);
    }
}

static void test_transpose_fast_paths(void)
{
    /* The attention and layout permutations, with sizes that leave block remainders. */
    static const struct {
        int rank;
        int64_t dims[4], perm[4];
    } cases[] = {
        {4, {2, 37, 3, 19}, {0, 2, 1, 3}}, {4, {2, 37, 3, 19}, {0, 2, 3, 1}},
        {4, {2, 5, 35, 33}, {0, 1, 3, 2}}, {4, {2, 17, 9, 21}, {0, 3, 1, 2}},
        {4, {2, 21, 9, 17}, {0, 2, 3, 1}}, {2, {67, 45, 0, 0}, {1, 0}},
        {2, {16, 16, 0, 0}, {1, 0}},       {3, {3, 1, 40}, {2, 1, 0}},
    };
    static const enum ogq_dtype dts[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_UINT8, OGQ_DTYPE_INT64};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t k = 0; k < 3; k++)
            check_transpose(dts[k], cases[c].rank, cases[c].dims, cases[c].perm);
}

/* ---------------------------------------------------------------- Slice */

/* The spec's per-axis start/count for one slice. */
static void slice_ref(int64_t dim, int64_t s, int64_t e, int64_t step, int64_t *start,
                      int64_t *count)
{
    if (s < 0)
        s += dim;
    if (e < 0)
        e += dim;
    *count = 0;
    if (step > 0) {
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
        for (int64_t i = s; i < e; i += step > dim ? dim + 1 : step)
            ++*count;
    } else {
        s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
        e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
        for (int64_t i = s; i > e; i -= step < -dim ? dim + 1 : -step)
            ++*count;
    }
    *start = s;
}

static void test_slice_random(void)
{
    static const int64_t big[] = {INT64_MAX, INT64_MIN, -1000, 1000};
    static const int64_t steps[] = {1, 1, 2, 3, -1, -2, -3, INT64_MAX, INT64_MIN};
    for (int it = 0; it < 80; it++) {
        int rank = (int)rnd_in(1, 4);
        int64_t dims[MAXR];
        for (int d = 0; d < rank; d++)
            dims[d] = rnd_in(1, 6);
        int n = (int)rnd_in(1, rank);
        int64_t axes[MAXR], st[MAXR], en[MAXR], sp[MAXR];
        bool used[MAXR] = {false};
        for (int i = 0; i < n; i++) {
            int a;
            do
                a = (int)rnd_in(0, rank - 1);
            while (used[a]);
            used[a] = true;
            axes[i] = rnd() & 1 ? a - rank : a;
            st[i] = rnd() & 1 ? rnd_in(-dims[a] - 2, dims[a] + 2) : big[rnd() % 4];
            en[i] = rnd() & 1 ? rnd_in(-dims[a] - 2, dims[a] + 2) : big[rnd() % 4];
            sp[i] = steps[rnd() % 9];
        }
        struct tm t;
        tm_begin(&t, 13);
        tm_input(&t, "x");
        tm_ints(&t, "s", st, n, false);
        tm_ints(&t, "e", en, n, false);
        tm_ints(&t, "a", axes, n, false);
        tm_ints(&t, "p", sp, n, false);
        tm_node(&t, "Slice", (const char *const[]){"x", "s", "e", "a", "p"}, 5, 1);
        struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_INT32, rank, dims);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
        int64_t start[MAXR] = {0}, step[MAXR], count[MAXR];
        for (int d = 0; d < rank; d++) {
            step[d] = 1;
            count[d] = dims[d];
        }
        for (int i = 0; i < n; i++) {
            int a = (int)(axes[i] < 0 ? axes[i] + rank : axes[i]);
            step[a] = sp[i];
            slice_ref(dims[a], st[i], en[i], sp[i], &start[a], &count[a]);
        }
        const struct ogq_rt_tensor *y = tm_out(&t, 0);
        CU_ASSERT_FATAL(same_dims(y, rank, count));
        bool ok = true;
        for (int64_t i = 0; i < y->numel && ok; i++) {
            int64_t c[MAXR];
            unravel(i, rank, count, c);
            for (int d = 0; d < rank; d++)
                c[d] = start[d] + c[d] * step[d];
            ok = elem(y, i) == elem(x, ravel(rank, dims, c));
        }
        CU_ASSERT(ok);
        tensor_free(x);
        tm_end(&t);
    }
}

static void test_slice_huge_steps(void)
{
    /* Steps beyond the axis on an outer axis (source stride > 1): one element, no overflow. */
    int64_t dims[2] = {5, 3};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_FLOAT, 2, dims);
    static const int64_t cases[][3] = {{1, INT64_MAX, INT64_MAX}, {-2, INT64_MIN, INT64_MIN}};
    for (int c = 0; c < 2; c++) {
        struct tm t;
        tm_begin(&t, 13);
        tm_input(&t, "x");
        tm_ints(&t, "s", &cases[c][0], 1, false);
        tm_ints(&t, "e", &cases[c][1], 1, false);
        tm_ints(&t, "a", (const int64_t[]){0}, 1, false);
        tm_ints(&t, "p", &cases[c][2], 1, false);
        tm_node(&t, "Slice", (const char *const[]){"x", "s", "e", "a", "p"}, 5, 1);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
        const struct ogq_rt_tensor *y = tm_out(&t, 0);
        CU_ASSERT_FATAL(same_dims(y, 2, (const int64_t[]){1, 3}));
        int64_t row = c == 0 ? 1 : 3;
        CU_ASSERT(memcmp(y->data, (const float *)x->data + row * 3, 3 * sizeof(float)) == 0);
        tm_end(&t);
    }
    tensor_free(x);
}

/* ---------------------------------------------------------------- Pad */

static int64_t pad_src(int64_t v, int64_t lo, int64_t hi, int mode)
{
    if (v >= lo && v < hi)
        return v;
    int64_t m = hi - lo, u = v - lo;
    switch (mode) {
    case 0: return -1;
    case 1: /* reflect */
        if (m == 1)
            return lo;
        while (u < 0 || u >= m)
            u = u < 0 ? -u : 2 * (m - 1) - u;
        return lo + u;
    case 2: return u < 0 ? lo : hi - 1; /* edge */
    default: return lo + ((u % m) + m) % m; /* wrap */
    }
}

static void test_pad_modes(void)
{
    static const char *const modes[] = {"constant", "reflect", "edge", "wrap"};
    for (int it = 0; it < 60; it++) {
        int mode = it % 4, rank = (int)rnd_in(1, 3);
        int64_t dims[MAXR], pads[2 * MAXR], od[MAXR];
        for (int d = 0; d < rank; d++) {
            dims[d] = rnd_in(1, 5);
            /* negative pads crop; other modes keep at least one element */
            pads[d] = rnd_in(mode ? -(dims[d] - 1) / 2 : -dims[d], 4);
            pads[rank + d] = rnd_in(mode ? -(dims[d] - 1) / 2 : -2, 4);
            od[d] = dims[d] + pads[d] + pads[rank + d];
            if (od[d] < 0) {
                pads[rank + d] -= od[d];
                od[d] = 0;
            }
        }
        struct tm t;
        tm_begin(&t, 19);
        tm_input(&t, "x");
        tm_ints(&t, "p", pads, 2 * rank, false);
        tm_input(&t, "v");
        tm_node(&t, "Pad", (const char *const[]){"x", "p", "v"}, 3, 1);
        CU_ASSERT_FATAL(ogq_node_set_attr_string(t.node, "mode", modes[mode], &t.err) ==
                        OGQ_OK);
        struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_INT64, rank, dims);
        struct ogq_rt_tensor *v = tensor_new(OGQ_DTYPE_INT64, 0, NULL);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x, v});
        const struct ogq_rt_tensor *y = tm_out(&t, 0);
        CU_ASSERT_FATAL(same_dims(y, rank, od));
        bool ok = true;
        for (int64_t i = 0; i < y->numel && ok; i++) {
            int64_t c[MAXR];
            unravel(i, rank, od, c);
            bool pad = false;
            for (int d = 0; d < rank; d++) {
                int64_t lo = pads[d] < 0 ? -pads[d] : 0;
                int64_t hi = dims[d] - (pads[rank + d] < 0 ? -pads[rank + d] : 0);
                c[d] = pad_src(c[d] - pads[d], lo, hi, mode);
                pad |= c[d] < 0;
            }
            ok = elem(y, i) == (pad ? elem(v, 0) : elem(x, ravel(rank, dims, c)));
        }
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\npad mismatch: mode %s rank %d\n", modes[mode], rank);
        tensor_free(x);
        tensor_free(v);
        tm_end(&t);
    }
}

/* ---------------------------------------------------------------- Tile, Expand */

static void test_tile_expand(void)
{
    for (int it = 0; it < 40; it++) {
        int rank = (int)rnd_in(1, 4);
        int64_t dims[MAXR], reps[MAXR], od[MAXR], shape[MAXR];
        for (int d = 0; d < rank; d++) {
            dims[d] = rnd_in(1, 3);
            reps[d] = rnd_in(it % 7 == 0 ? 0 : 1, 3);
            od[d] = dims[d] * reps[d];
        }
        struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_FLOAT, rank, dims);
        struct tm t;
        tm_begin(&t, 13);
        tm_input(&t, "x");
        tm_ints(&t, "r", reps, rank, false);
        tm_node(&t, "Tile", (const char *const[]){"x", "r"}, 2, 1);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
        const struct ogq_rt_tensor *y = tm_out(&t, 0);
        CU_ASSERT_FATAL(same_dims(y, rank, od));
        bool ok = true;
        for (int64_t i = 0; i < y->numel && ok; i++) {
            int64_t c[MAXR];
            unravel(i, rank, od, c);
            for (int d = 0; d < rank; d++)
                c[d] %= dims[d];
            ok = elem(y, i) == elem(x, ravel(rank, dims, c));
        }
        CU_ASSERT(ok);
        tm_end(&t);

        /* Expand to a shape with extra leading axes, broadcasting the size-1 dims. */
        int extra = (int)rnd_in(0, 2), r2 = rank + extra;
        int64_t ed[MAXR];
        for (int d = 0; d < r2; d++) {
            int xd = d - extra;
            shape[d] = xd < 0 ? rnd_in(1, 3) : dims[xd] == 1 ? rnd_in(1, 4) : 1;
            ed[d] = xd >= 0 && dims[xd] != 1 ? dims[xd] : shape[d];
        }
        tm_begin(&t, 13);
        tm_input(&t, "x");
        tm_ints(&t, "s", shape, r2, false);
        tm_node(&t, "Expand", (const char *const[]){"x", "s"}, 2, 1);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
        y = tm_out(&t, 0);
        CU_ASSERT_FATAL(same_dims(y, r2, ed));
        ok = true;
        for (int64_t i = 0; i < y->numel && ok; i++) {
            int64_t c[MAXR], xc[MAXR];
            unravel(i, r2, ed, c);
            for (int d = 0; d < rank; d++)
                xc[d] = dims[d] == 1 ? 0 : c[d + extra];
            ok = elem(y, i) == elem(x, ravel(rank, dims, xc));
        }
        CU_ASSERT(ok);
        tm_end(&t);
        tensor_free(x);
    }
}

/* ---------------------------------------------------------------- views */

static void test_views_alias(void)
{
    int64_t dims[4] = {2, 1, 3, 4};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_FLOAT, 4, dims);
    static const char *const ops[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity",
                                      "Dropout"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        struct tm t;
        tm_begin(&t, 13);
        tm_input(&t, "x");
        size_t n_in = 1;
        if (k == 0) {
            tm_ints(&t, "s", (const int64_t[]){0, -1, 2}, 3, false);
            n_in = 2;
        } else if (k == 2 || k == 3) {
            tm_ints(&t, "s", (const int64_t[]){1}, 1, false);
            n_in = 2;
        }
        tm_node(&t, ops[k], (const char *const[]){"x", "s"}, n_in, k == 5 ? 2 : 1);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
        const struct ogq_rt_tensor *y = tm_out(&t, 0);
        CU_ASSERT_FATAL(y != NULL);
        CU_ASSERT(y->data == x->data); /* no copy */
        CU_ASSERT(y->numel == x->numel);
        if (k == 0)
            CU_ASSERT(same_dims(y, 3, (const int64_t[]){2, 6, 2}));
        if (k == 2)
            CU_ASSERT(same_dims(y, 3, (const int64_t[]){2, 3, 4}));
        if (k == 3)
            CU_ASSERT(same_dims(y, 5, (const int64_t[]){2, 1, 1, 3, 4}));
        if (k == 5) { /* the inference mask is all true */
            const struct ogq_rt_tensor *m = tm_out(&t, 1);
            CU_ASSERT_FATAL(m && m->dtype == OGQ_DTYPE_BOOL && m->numel == x->numel);
            bool ones = true;
            for (int64_t i = 0; i < m->numel; i++)
                ones &= ((const uint8_t *)m->data)[i] == 1;
            CU_ASSERT(ones);
        }
        tm_end(&t);
    }
    tensor_free(x);
}

/* ---------------------------------------------------------------- Gather, DepthToSpace */

static void test_gather(void)
{
    int64_t dims[3] = {3, 4, 2};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_INT64, 3, dims);
    for (int axis = -3; axis < 3; axis++) {
        int a = axis < 0 ? axis + 3 : axis;
        int64_t n = dims[a], idims[2] = {2, 3};
        struct ogq_rt_tensor *ind = tensor_new(OGQ_DTYPE_INT32, 2, idims);
        for (int64_t i = 0; i < 6; i++)
            ((int32_t *)ind->data)[i] = (int32_t)rnd_in(-n, n - 1);
        struct tm t;
        tm_begin(&t, 13);
        tm_input(&t, "x");
        tm_input(&t, "i");
        tm_node(&t, "Gather", (const char *const[]){"x", "i"}, 2, 1);
        CU_ASSERT_FATAL(ogq_node_set_attr_int(t.node, "axis", axis, &t.err) == OGQ_OK);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x, ind});
        const struct ogq_rt_tensor *y = tm_out(&t, 0);
        CU_ASSERT_FATAL(y && y->rank == 4);
        bool ok = true;
        for (int64_t i = 0; i < y->numel && ok; i++) {
            int64_t c[4], xc[3];
            unravel(i, 4, y->dims, c);
            int k = 0;
            for (int d = 0; d < 3; d++) {
                if (d == a) {
                    int64_t v = ((const int32_t *)ind->data)[c[k] * 3 + c[k + 1]];
                    xc[d] = v < 0 ? v + n : v;
                    k += 2;
                } else {
                    xc[d] = c[k++];
                }
            }
            ok = elem(y, i) == elem(x, ravel(3, dims, xc));
        }
        CU_ASSERT(ok);
        tm_end(&t);

        /* An index out of range is an error, not a read out of bounds. */
        ((int32_t *)ind->data)[5] = (int32_t)n;
        tm_begin(&t, 13);
        tm_input(&t, "x");
        tm_input(&t, "i");
        tm_node(&t, "Gather", (const char *const[]){"x", "i"}, 2, 1);
        CU_ASSERT_FATAL(ogq_node_set_attr_int(t.node, "axis", axis, &t.err) == OGQ_OK);
        CU_ASSERT(tm_run(&t, (const struct ogq_rt_tensor *const[]){x, ind}) == OGQ_ERR_FORMAT);
        CU_ASSERT(strstr(t.err.msg, "out of range") != NULL);
        tm_end(&t);
        tensor_free(ind);
    }
    tensor_free(x);
}

static void test_depth_space_roundtrip(void)
{
    int64_t dims[4] = {2, 3, 6, 4};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_FLOAT, 4, dims);
    for (int crd = 0; crd < 2; crd++) {
        struct tm t;
        tm_begin(&t, 13);
        tm_input(&t, "x");
        tm_node(&t, "SpaceToDepth", (const char *const[]){"x"}, 1, 1);
        CU_ASSERT_FATAL(ogq_node_set_attr_int(t.node, "blocksize", 2, &t.err) == OGQ_OK);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
        const struct ogq_rt_tensor *y = tm_out(&t, 0);
        CU_ASSERT_FATAL(same_dims(y, 4, (const int64_t[]){2, 12, 3, 2}));
        /* SpaceToDepth puts block offset (i, j) of channel c at channel (i*2 + j)*3 + c. */
        bool ok = true;
        for (int64_t i = 0; i < x->numel && ok; i++) {
            int64_t c[4];
            unravel(i, 4, dims, c);
            int64_t oc[4] = {c[0], ((c[2] % 2) * 2 + c[3] % 2) * 3 + c[1], c[2] / 2, c[3] / 2};
            ok = elem(y, ravel(4, y->dims, oc)) == elem(x, i);
        }
        CU_ASSERT(ok);
        struct ogq_rt_tensor mid = *y;
        struct tm t2;
        tm_begin(&t2, 13);
        tm_input(&t2, "x");
        tm_node(&t2, "DepthToSpace", (const char *const[]){"x"}, 1, 1);
        CU_ASSERT_FATAL(ogq_node_set_attr_int(t2.node, "blocksize", 2, &t2.err) == OGQ_OK);
        CU_ASSERT_FATAL(ogq_node_set_attr_string(t2.node, "mode", crd ? "CRD" : "DCR",
                                                 &t2.err) == OGQ_OK);
        RUN_OK(&t2, (const struct ogq_rt_tensor *const[]){&mid});
        const struct ogq_rt_tensor *z = tm_out(&t2, 0);
        CU_ASSERT_FATAL(same_dims(z, 4, dims));
        if (!crd) /* DCR is SpaceToDepth's inverse */
            CU_ASSERT(memcmp(z->data, x->data, x->nbytes) == 0);
        tm_end(&t2);
        tm_end(&t);
    }
    tensor_free(x);
}

/* ---------------------------------------------------------------- Resize, Upsample */

static void test_upsample_conventions(void)
{
    /* Upsample-9 nearest with non-integer scales: asymmetric, floor (ONNX Runtime). */
    int64_t dims[4] = {1, 1, 2, 3};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_FLOAT, 4, dims);
    for (int64_t i = 0; i < 6; i++)
        ((float *)x->data)[i] = (float)(i + 1);
    int64_t sd[1] = {4};
    struct ogq_rt_tensor *sc = tensor_new(OGQ_DTYPE_FLOAT, 1, sd);
    float scales[4] = {1, 1, 2, 1.5f};
    memcpy(sc->data, scales, sizeof scales);
    struct tm t;
    tm_begin(&t, 9);
    tm_input(&t, "x");
    tm_input(&t, "s");
    tm_node(&t, "Upsample", (const char *const[]){"x", "s"}, 2, 1);
    RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x, sc});
    const struct ogq_rt_tensor *y = tm_out(&t, 0);
    CU_ASSERT_FATAL(same_dims(y, 4, (const int64_t[]){1, 1, 4, 4}));
    static const float want_n[16] = {1, 1, 2, 3, 1, 1, 2, 3, 4, 4, 5, 6, 4, 4, 5, 6};
    CU_ASSERT(memcmp(y->data, want_n, sizeof want_n) == 0);
    tm_end(&t);

    /* Linear: x / scale clamped to the last pixel. */
    tm_begin(&t, 9);
    tm_input(&t, "x");
    tm_input(&t, "s");
    tm_node(&t, "Upsample", (const char *const[]){"x", "s"}, 2, 1);
    CU_ASSERT_FATAL(ogq_node_set_attr_string(t.node, "mode", "linear", &t.err) == OGQ_OK);
    RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x, sc});
    y = tm_out(&t, 0);
    CU_ASSERT_FATAL(same_dims(y, 4, (const int64_t[]){1, 1, 4, 4}));
    /* rows at 0, 0.5, 1, 1.5(->1); columns at 0, 2/3, 4/3, 2 */
    static const float row0[4] = {1, 1 + 2.0f / 3, 2 + 1.0f / 3, 3};
    bool ok = true;
    for (int r = 0; r < 4; r++) {
        float base = r == 0 ? 0 : r == 1 ? 1.5f : 3;
        for (int c = 0; c < 4; c++)
            ok &= fabsf(((const float *)y->data)[r * 4 + c] - (row0[c] + base)) < 1e-5f;
    }
    CU_ASSERT(ok);
    tm_end(&t);
    tensor_free(sc);
    tensor_free(x);
}

static void test_resize_nearest_ints(void)
{
    /* Nearest mode moves any dtype; 2x half_pixel upsampling repeats each element. */
    int64_t dims[3] = {2, 3, 5};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_INT64, 3, dims);
    struct tm t;
    tm_begin(&t, 19);
    tm_input(&t, "x");
    tm_ints(&t, "z", (const int64_t[]){6, 10}, 2, false);
    tm_node(&t, "Resize", (const char *const[]){"x", "", "", "z"}, 4, 1);
    CU_ASSERT_FATAL(ogq_node_set_attr_ints(t.node, "axes", (const int64_t[]){1, 2}, 2, &t.err) ==
                    OGQ_OK);
    RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
    const struct ogq_rt_tensor *y = tm_out(&t, 0);
    CU_ASSERT_FATAL(same_dims(y, 3, (const int64_t[]){2, 6, 10}));
    bool ok = true;
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t c[3];
        unravel(i, 3, y->dims, c);
        c[1] /= 2;
        c[2] /= 2;
        ok &= elem(y, i) == elem(x, ravel(3, dims, c));
    }
    CU_ASSERT(ok);
    tm_end(&t);
    tensor_free(x);
}

/* ---------------------------------------------------------------- ArgMax, CumSum */

static void test_argmax_nan(void)
{
    int64_t dims[2] = {2, 5};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_FLOAT, 2, dims);
    float v[10] = {1, NAN, 3, NAN, 3, 2, 7, 7, 1, -1};
    memcpy(x->data, v, sizeof v);
    for (int last = 0; last < 2; last++) {
        struct tm t;
        tm_begin(&t, 13);
        tm_input(&t, "x");
        tm_node(&t, "ArgMax", (const char *const[]){"x"}, 1, 1);
        CU_ASSERT_FATAL(ogq_node_set_attr_int(t.node, "axis", 1, &t.err) == OGQ_OK);
        CU_ASSERT_FATAL(ogq_node_set_attr_int(t.node, "select_last_index", last, &t.err) ==
                        OGQ_OK);
        RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
        const int64_t *y = tm_out(&t, 0)->data;
        /* NaN wins as in numpy (first or last NaN); ties go to the first or last index */
        CU_ASSERT_EQUAL(y[0], last ? 3 : 1);
        CU_ASSERT_EQUAL(y[1], last ? 2 : 1);
        tm_end(&t);
    }
    tensor_free(x);
}

static void test_cumsum_int_wrap(void)
{
    int64_t dims[1] = {3};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_INT32, 1, dims);
    int32_t v[3] = {INT32_MAX, 1, 5};
    memcpy(x->data, v, sizeof v);
    struct tm t;
    tm_begin(&t, 14);
    tm_input(&t, "x");
    tm_ints(&t, "a", (const int64_t[]){0}, 1, true);
    tm_node(&t, "CumSum", (const char *const[]){"x", "a"}, 2, 1);
    CU_ASSERT_FATAL(ogq_node_set_attr_int(t.node, "reverse", 1, &t.err) == OGQ_OK);
    RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x});
    const int32_t *y = tm_out(&t, 0)->data;
    CU_ASSERT_EQUAL(y[2], 5);
    CU_ASSERT_EQUAL(y[1], 6);
    CU_ASSERT_EQUAL(y[0], INT32_MIN + 5); /* wraps like ONNX Runtime, no UB */
    tm_end(&t);
    tensor_free(x);
}

/* ---------------------------------------------------------------- refusals */

static void test_refusals(void)
{
    int64_t dims[2] = {2, 3};
    struct ogq_rt_tensor *x = tensor_new(OGQ_DTYPE_FLOAT, 2, dims);
    struct ogq_rt_tensor *ratio = tensor_new(OGQ_DTYPE_FLOAT, 0, NULL);
    struct ogq_rt_tensor *train = tensor_new(OGQ_DTYPE_BOOL, 0, NULL);
    *(float *)ratio->data = 0.25f;
    *(uint8_t *)train->data = 1;
    struct tm t;

    /* Training-mode Dropout with a positive ratio: refused at run time (data). */
    tm_begin(&t, 13);
    tm_input(&t, "x");
    tm_input(&t, "r");
    tm_input(&t, "m");
    tm_node(&t, "Dropout", (const char *const[]){"x", "r", "m"}, 3, 1);
    CU_ASSERT(tm_run(&t, (const struct ogq_rt_tensor *const[]){x, ratio, train}) ==
              OGQ_ERR_UNSUPPORTED);
    CU_ASSERT(strstr(t.err.msg, "training") != NULL);
    tm_end(&t);

    /* ... and with ratio 0 it is the identity. */
    *(float *)ratio->data = 0.0f;
    tm_begin(&t, 13);
    tm_input(&t, "x");
    tm_input(&t, "r");
    tm_input(&t, "m");
    tm_node(&t, "Dropout", (const char *const[]){"x", "r", "m"}, 3, 1);
    RUN_OK(&t, (const struct ogq_rt_tensor *const[]){x, ratio, train});
    CU_ASSERT(memcmp(tm_out(&t, 0)->data, x->data, x->nbytes) == 0);
    tm_end(&t);

    /* Dropout-6 in training mode (is_test = 0): refused at plan time. */
    tm_begin(&t, 6);
    tm_input(&t, "x");
    tm_node(&t, "Dropout", (const char *const[]){"x"}, 1, 1);
    CU_ASSERT(tm_run(&t, (const struct ogq_rt_tensor *const[]){x}) == OGQ_ERR_UNSUPPORTED);
    tm_end(&t);

    /* Constant value_string, Resize nearest + antialias, Pad wrap before opset 19. */
    tm_begin(&t, 13);
    tm_node(&t, "Constant", NULL, 0, 1);
    CU_ASSERT_FATAL(ogq_node_set_attr_string(t.node, "value_string", "a", &t.err) == OGQ_OK);
    CU_ASSERT(tm_run(&t, NULL) == OGQ_ERR_UNSUPPORTED);
    tm_end(&t);

    tm_begin(&t, 18);
    tm_input(&t, "x");
    tm_ints(&t, "z", (const int64_t[]){1, 1}, 2, false);
    tm_node(&t, "Resize", (const char *const[]){"x", "", "", "z"}, 4, 1);
    CU_ASSERT_FATAL(ogq_node_set_attr_int(t.node, "antialias", 1, &t.err) == OGQ_OK);
    CU_ASSERT(tm_run(&t, (const struct ogq_rt_tensor *const[]){x}) == OGQ_ERR_UNSUPPORTED);
    tm_end(&t);

    tm_begin(&t, 18);
    tm_input(&t, "x");
    tm_ints(&t, "p", (const int64_t[]){0, 1, 0, 1}, 4, false);
    tm_node(&t, "Pad", (const char *const[]){"x", "p"}, 2, 1);
    CU_ASSERT_FATAL(ogq_node_set_attr_string(t.node, "mode", "wrap", &t.err) == OGQ_OK);
    CU_ASSERT(tm_run(&t, (const struct ogq_rt_tensor *const[]){x}) == OGQ_ERR_UNSUPPORTED);
    tm_end(&t);

    /* Linear interpolation of integers is refused, not truncated. */
    struct ogq_rt_tensor *xi = tensor_new(OGQ_DTYPE_UINT8, 2, dims);
    tm_begin(&t, 19);
    tm_input(&t, "x");
    tm_ints(&t, "z", (const int64_t[]){4, 6}, 2, false);
    tm_node(&t, "Resize", (const char *const[]){"x", "", "", "z"}, 4, 1);
    CU_ASSERT_FATAL(ogq_node_set_attr_string(t.node, "mode", "linear", &t.err) == OGQ_OK);
    CU_ASSERT(tm_run(&t, (const struct ogq_rt_tensor *const[]){xi}) == OGQ_ERR_UNSUPPORTED);
    tm_end(&t);

    tensor_free(xi);
    tensor_free(x);
    tensor_free(ratio);
    tensor_free(train);
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("shape", NULL, NULL);
    if (!s)
        return 2;
    CU_add_test(s, "transpose_random", test_transpose_random);
    CU_add_test(s, "transpose_fast_paths", test_transpose_fast_paths);
    CU_add_test(s, "slice_random", test_slice_random);
    CU_add_test(s, "slice_huge_steps", test_slice_huge_steps);
    CU_add_test(s, "pad_modes", test_pad_modes);
    CU_add_test(s, "tile_expand", test_tile_expand);
    CU_add_test(s, "views_alias", test_views_alias);
    CU_add_test(s, "gather", test_gather);
    CU_add_test(s, "depth_space_roundtrip", test_depth_space_roundtrip);
    CU_add_test(s, "upsample_conventions", test_upsample_conventions);
    CU_add_test(s, "resize_nearest_ints", test_resize_nearest_ints);
    CU_add_test(s, "argmax_nan", test_argmax_nan);
    CU_add_test(s, "cumsum_int_wrap", test_cumsum_int_wrap);
    CU_add_test(s, "refusals", test_refusals);
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
