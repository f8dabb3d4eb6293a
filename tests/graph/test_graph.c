/* test_graph.c — IR unit tests (mutation API, topological sort, verify, equality) and
 * util tests (strmap, checked math, dtype sizes, JSON, status messages). Graphs are
 * built with the C API only. */
#include <math.h>

#include "graph/graph.h"
#include "graph/model_io.h"
#include "testutil.h"
#include "util/checked.h"
#include "util/json.h"
#include "util/strmap.h"

/* ---------------------------------------------------------------- helpers */

static struct ogq_error err;

static struct ogq_model *new_model(void)
{
    struct ogq_model *m = NULL;
    ogq_error_clear(&err);
    EXPECT_OK(ogq_model_new(&m, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

static struct ogq_value *val(struct ogq_graph *g, const char *name)
{
    struct ogq_value *v = NULL;
    EXPECT_OK(ogq_graph_add_value(g, name, &v, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

static struct ogq_node *node(struct ogq_graph *g, struct ogq_node *before, const char *op,
                             const char *name, struct ogq_value **in, size_t nin,
                             struct ogq_value **out, size_t nout)
{
    struct ogq_node *n = NULL;
    EXPECT_OK(ogq_graph_insert_node(g, before, op, "", name, in, nin, out, nout, &n, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    return n;
}

static struct ogq_tensor *f32_tensor(const char *name, int rank, const int64_t *dims,
                                     float first)
{
    struct ogq_tensor *t = NULL;
    EXPECT_OK(ogq_tensor_new(name, OGQ_DTYPE_FLOAT, rank, dims, &t, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    float *d = ogq_tensor_data(t);
    for (int64_t i = 0; i < t->numel; i++)
        d[i] = first + (float)i;
    return t;
}

static bool has_use(const struct ogq_value *v, const struct ogq_node *n, int input)
{
    for (size_t i = 0; i < v->n_uses; i++)
        if (v->uses[i].node == n && v->uses[i].input == input)
            return true;
    return false;
}

static void expect_verify_ok(const struct ogq_graph *g)
{
    struct ogq_error e;
    ogq_error_clear(&e);
    EXPECT_OK(ogq_graph_verify(g, &e), &e);
}

/* x -> Relu(r) -> a -> Neg(n) -> y, with y the graph output and W an initializer read
 * by a MatMul(mm) that produces the second output z = MatMul(a, W). */
struct chain {
    struct ogq_model *m;
    struct ogq_graph *g;
    struct ogq_value *x, *a, *y, *w, *z;
    struct ogq_node *relu, *neg, *mm;
};

static void build_chain(struct chain *c)
{
    c->m = new_model();
    c->g = c->m->graph;
    EXPECT_OK(ogq_model_set_opset(c->m, "", 17, &err), &err);
    c->x = val(c->g, "x");
    EXPECT_OK(ogq_value_set_type(c->x, OGQ_DTYPE_FLOAT, 2, (const int64_t[]){2, 2}, &err), &err);
    EXPECT_OK(ogq_graph_add_input(c->g, c->x, &err), &err);
    c->a = val(c->g, "a");
    c->y = val(c->g, "y");
    c->w = val(c->g, "W");
    c->z = val(c->g, "z");
    EXPECT_OK(ogq_graph_set_initializer(c->g, c->w, f32_tensor(NULL, 2, (const int64_t[]){2, 2}, 1),
                                        &err),
              &err);
    c->relu = node(c->g, NULL, "Relu", "r", &c->x, 1, &c->a, 1);
    c->neg = node(c->g, NULL, "Neg", "n", &c->a, 1, &c->y, 1);
    c->mm = node(c->g, NULL, "MatMul", "mm", (struct ogq_value *[]){c->a, c->w}, 2, &c->z, 1);
    EXPECT_OK(ogq_graph_add_output(c->g, c->y, &err), &err);
    EXPECT_OK(ogq_graph_add_output(c->g, c->z, &err), &err);
    expect_verify_ok(c->g);
}

/* ---------------------------------------------------------------- IR tests */

static void test_add_value(void)
{
    struct ogq_model *m = new_model();
    struct ogq_graph *g = m->graph;
    struct ogq_value *v = val(g, "v");
    CU_ASSERT_PTR_EQUAL(ogq_graph_value(g, "v"), v);
    CU_ASSERT_PTR_NULL(ogq_graph_value(g, "w"));
    CU_ASSERT_PTR_NULL(v->producer);
    CU_ASSERT_EQUAL(v->type.rank, -1);
    struct ogq_value *dup = NULL;
    EXPECT_ERROR(ogq_graph_add_value(g, "v", &dup, &err), &err, OGQ_ERR_FORMAT, "'v'");
    CU_ASSERT_PTR_NULL(dup);
    EXPECT_ERROR(ogq_graph_add_value(g, "", &dup, &err), &err, OGQ_ERR_FORMAT, "empty name");
    CU_ASSERT_EQUAL(g->n_values, 1);

    char buf[64];
    ogq_graph_unique_name(g, "v", buf, sizeof buf);
    CU_ASSERT_STRING_NOT_EQUAL(buf, "v");
    CU_ASSERT_PTR_NULL(ogq_graph_value(g, buf));
    val(g, buf);
    char buf2[64];
    ogq_graph_unique_name(g, "v", buf2, sizeof buf2);
    CU_ASSERT_STRING_NOT_EQUAL(buf2, buf);
    ogq_graph_unique_name(g, "fresh", buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "fresh");
    ogq_graph_unique_name(g, "", buf, sizeof buf);
    CU_ASSERT(buf[0] != 0);
    /* A base longer than the buffer: the base is shortened, the suffix kept. */
    static const char long_base[] = "a_rather_long_value_name_that_does_not_fit";
    char small[32];
    ogq_graph_unique_name(g, long_base, small, sizeof small);
    CU_ASSERT_EQUAL(strlen(small), 31);
    val(g, small);
    char small2[32];
    ogq_graph_unique_name(g, long_base, small2, sizeof small2);
    CU_ASSERT_STRING_NOT_EQUAL(small, small2);
    CU_ASSERT_PTR_NULL(ogq_graph_value(g, small2));
    CU_ASSERT(strncmp(small2, long_base, 20) == 0);

    EXPECT_OK(ogq_value_set_type(v, OGQ_DTYPE_INT8, 3, (const int64_t[]){1, 2, 3}, &err), &err);
    CU_ASSERT(v->has_type && v->type_dirty && v->is_tensor);
    CU_ASSERT_EQUAL(v->type.dtype, OGQ_DTYPE_INT8);
    CU_ASSERT_EQUAL(v->type.rank, 3);
    CU_ASSERT_EQUAL(v->type.dims[2].value, 3);
    EXPECT_OK(ogq_value_set_type(v, OGQ_DTYPE_FLOAT, 2, NULL, &err), &err);
    CU_ASSERT_EQUAL(v->type.dims[1].value, -1);
    expect_verify_ok(g);
    ogq_model_free(m);
}

static void test_insert_node(void)
{
    struct chain c;
    build_chain(&c);
    CU_ASSERT_EQUAL(c.g->n_nodes, 3);
    CU_ASSERT_PTR_EQUAL(c.a->producer, c.relu);
    CU_ASSERT_EQUAL(c.a->producer_output, 0);
    CU_ASSERT_EQUAL(c.a->n_uses, 2);
    CU_ASSERT(has_use(c.a, c.neg, 0));
    CU_ASSERT(has_use(c.a, c.mm, 0));
    CU_ASSERT(has_use(c.w, c.mm, 1));
    CU_ASSERT_EQUAL(ogq_graph_node_index(c.g, c.neg), 1);

    /* Insert Abs between Relu and Neg: r -> abs -> ... (before `n`). */
    struct ogq_value *b = val(c.g, "b");
    struct ogq_node *abs = node(c.g, c.neg, "Abs", "abs", &c.a, 1, &b, 1);
    CU_ASSERT_EQUAL(ogq_graph_node_index(c.g, abs), 1);
    CU_ASSERT_EQUAL(ogq_graph_node_index(c.g, c.neg), 2);
    CU_ASSERT_PTR_EQUAL(b->producer, abs);
    CU_ASSERT_EQUAL(c.a->n_uses, 3);
    /* Omitted inputs and outputs are NULL. */
    struct ogq_value *e = val(c.g, "e");
    struct ogq_node *drop = node(c.g, NULL, "Dropout", "d", (struct ogq_value *[]){b, NULL, NULL},
                                 3, (struct ogq_value *[]){e, NULL}, 2);
    CU_ASSERT_EQUAL(ogq_node_present_inputs(drop), 1);
    CU_ASSERT_EQUAL(drop->n_inputs, 3);
    CU_ASSERT_EQUAL(drop->n_outputs, 2);
    expect_verify_ok(c.g);

    /* Outputs that are already defined are refused, and nothing changes. */
    size_t before = c.g->n_nodes, uses = c.x->n_uses;
    EXPECT_ERROR(ogq_graph_insert_node(c.g, NULL, "Relu", "", "bad", &c.x, 1, &c.a, 1, NULL, &err),
                 &err, OGQ_ERR_INTERNAL, "'bad'", "'a'");
    EXPECT_ERROR(ogq_graph_insert_node(c.g, NULL, "Relu", "", "bad2", &c.x, 1, &c.w, 1, NULL, &err),
                 &err, OGQ_ERR_INTERNAL, "'W'");
    EXPECT_ERROR(ogq_graph_insert_node(c.g, NULL, "Relu", "", "bad3", &c.a, 1, &c.x, 1, NULL, &err),
                 &err, OGQ_ERR_INTERNAL, "'x'");
    CU_ASSERT_EQUAL(c.g->n_nodes, before);
    CU_ASSERT_EQUAL(c.x->n_uses, uses);
    expect_verify_ok(c.g);
    ogq_model_free(c.m);
}

static void test_insert_node_bad_anchor(void)
{
    struct chain c, other;
    build_chain(&c);
    build_chain(&other);
    struct ogq_value *q = val(c.g, "q");
    EXPECT_ERROR(ogq_graph_insert_node(c.g, other.relu, "Relu", "", "orphan", &c.x, 1, &q, 1, NULL,
                                       &err),
                 &err, OGQ_ERR_INTERNAL, "anchor");
    CU_ASSERT_PTR_NULL(q->producer);
    CU_ASSERT_EQUAL(c.x->n_uses, 1);
    expect_verify_ok(c.g);
    ogq_model_free(c.m);
    ogq_model_free(other.m);
}

static void test_set_input(void)
{
    struct chain c;
    build_chain(&c);
    /* Point Neg at x instead of a. */
    EXPECT_OK(ogq_node_set_input(c.g, c.neg, 0, c.x, &err), &err);
    CU_ASSERT_PTR_EQUAL(c.neg->inputs[0], c.x);
    CU_ASSERT(has_use(c.x, c.neg, 0));
    CU_ASSERT(!has_use(c.a, c.neg, 0));
    CU_ASSERT_EQUAL(c.a->n_uses, 1);
    expect_verify_ok(c.g);
    /* Same value again: still exactly one use. */
    EXPECT_OK(ogq_node_set_input(c.g, c.neg, 0, c.x, &err), &err);
    CU_ASSERT_EQUAL(c.x->n_uses, 2);
    expect_verify_ok(c.g);
    /* Append an input, then omit it. */
    EXPECT_OK(ogq_node_set_input(c.g, c.neg, 1, c.w, &err), &err);
    CU_ASSERT_EQUAL(c.neg->n_inputs, 2);
    CU_ASSERT(has_use(c.w, c.neg, 1));
    expect_verify_ok(c.g);
    EXPECT_OK(ogq_node_set_input(c.g, c.neg, 1, NULL, &err), &err);
    CU_ASSERT_PTR_NULL(c.neg->inputs[1]);
    CU_ASSERT(!has_use(c.w, c.neg, 1));
    CU_ASSERT_EQUAL(ogq_node_present_inputs(c.neg), 1);
    /* Append an omitted input; then out of range. */
    EXPECT_OK(ogq_node_set_input(c.g, c.neg, 2, NULL, &err), &err);
    CU_ASSERT_EQUAL(c.neg->n_inputs, 3);
    EXPECT_ERROR(ogq_node_set_input(c.g, c.neg, 9, c.x, &err), &err, OGQ_ERR_INTERNAL, "'n'", "9");
    /* The same value read twice by one node. */
    EXPECT_OK(ogq_node_set_input(c.g, c.mm, 1, c.a, &err), &err);
    CU_ASSERT(has_use(c.a, c.mm, 0) && has_use(c.a, c.mm, 1));
    CU_ASSERT_EQUAL(c.w->n_uses, 0);
    expect_verify_ok(c.g);
    ogq_model_free(c.m);
}

static void test_replace_uses(void)
{
    struct chain c;
    build_chain(&c);
    struct ogq_value *a2 = val(c.g, "a2");
    node(c.g, c.neg, "Sigmoid", "s", &c.x, 1, &a2, 1);
    EXPECT_OK(ogq_graph_replace_uses(c.g, c.a, a2, false, &err), &err);
    CU_ASSERT_EQUAL(c.a->n_uses, 0);
    CU_ASSERT_EQUAL(a2->n_uses, 2);
    CU_ASSERT_PTR_EQUAL(c.neg->inputs[0], a2);
    CU_ASSERT_PTR_EQUAL(c.mm->inputs[0], a2);
    expect_verify_ok(c.g);
    /* from == to is a no-op. */
    EXPECT_OK(ogq_graph_replace_uses(c.g, a2, a2, true, &err), &err);
    CU_ASSERT_EQUAL(a2->n_uses, 2);

    /* Graph outputs move only when asked. */
    struct ogq_value *y2 = val(c.g, "y2");
    node(c.g, NULL, "Identity", "id", &c.y, 1, &y2, 1);
    EXPECT_OK(ogq_graph_replace_uses(c.g, c.y, c.z, false, &err), &err);
    CU_ASSERT(c.y->is_graph_output);
    CU_ASSERT_PTR_EQUAL(c.g->outputs[0], c.y);
    EXPECT_OK(ogq_graph_replace_uses(c.g, c.y, y2, true, &err), &err);
    CU_ASSERT(!c.y->is_graph_output);
    CU_ASSERT(y2->is_graph_output);
    CU_ASSERT_PTR_EQUAL(c.g->outputs[0], y2);
    CU_ASSERT_PTR_EQUAL(c.g->outputs[1], c.z);
    expect_verify_ok(c.g);
    /* Relu (a has no uses) and Neg (y is neither read nor an output) are now dead. */
    size_t removed = 0;
    ogq_graph_remove_dead(c.g, &removed);
    CU_ASSERT_EQUAL(removed, 2);
    CU_ASSERT_PTR_NULL(ogq_graph_value(c.g, "a"));
    CU_ASSERT_PTR_NULL(ogq_graph_value(c.g, "y"));
    CU_ASSERT_EQUAL(a2->n_uses, 1);
    CU_ASSERT_EQUAL(c.g->n_nodes, 3);
    expect_verify_ok(c.g);
    ogq_model_free(c.m);
}

static void test_set_initializer(void)
{
    struct chain c;
    build_chain(&c);
    CU_ASSERT_EQUAL(c.g->n_initializers, 1);
    CU_ASSERT_PTR_EQUAL(c.g->initializers[0], c.w);
    CU_ASSERT_STRING_EQUAL(c.w->initializer->name, "W");
    CU_ASSERT(!c.w->has_type); /* no declared type: none invented */

    /* A value with a producer cannot hold data (and the tensor is freed). */
    EXPECT_ERROR(ogq_graph_set_initializer(c.g, c.a, f32_tensor("t", 0, NULL, 0), &err), &err,
                 OGQ_ERR_INTERNAL, "'a'");
    CU_ASSERT_PTR_NULL(c.a->initializer);

    /* Replacing keeps the list position and frees the old tensor. */
    EXPECT_OK(ogq_graph_set_initializer(c.g, c.w, f32_tensor("other", 1, (const int64_t[]){4}, 7),
                                        &err),
              &err);
    CU_ASSERT_EQUAL(c.g->n_initializers, 1);
    CU_ASSERT_STRING_EQUAL(c.w->initializer->name, "W");
    CU_ASSERT_EQUAL(c.w->initializer->numel, 4);
    CU_ASSERT_EQUAL(((float *)ogq_tensor_data(c.w->initializer))[3], 10.0f);

    /* A new initializer that is also a graph input gets the tensor's type. */
    struct ogq_value *b = val(c.g, "B");
    EXPECT_OK(ogq_graph_add_input(c.g, b, &err), &err);
    EXPECT_ERROR(ogq_graph_add_input(c.g, b, &err), &err, OGQ_ERR_INTERNAL, "'B'");
    EXPECT_ERROR(ogq_graph_add_input(c.g, c.a, &err), &err, OGQ_ERR_INTERNAL, "'a'");
    EXPECT_OK(ogq_graph_set_initializer(c.g, b, f32_tensor(NULL, 1, (const int64_t[]){2}, 0), &err),
              &err);
    CU_ASSERT_EQUAL(c.g->n_initializers, 2);
    CU_ASSERT_PTR_EQUAL(c.g->initializers[1], b);
    CU_ASSERT(b->has_type && b->type_dirty);
    CU_ASSERT_EQUAL(b->type.dtype, OGQ_DTYPE_FLOAT);
    CU_ASSERT_EQUAL(b->type.rank, 1);
    CU_ASSERT_EQUAL(b->type.dims[0].value, 2);
    expect_verify_ok(c.g);
    /* The unused initializer B is a graph input, so remove_dead keeps it. */
    ogq_graph_remove_dead(c.g, NULL);
    CU_ASSERT_PTR_NOT_NULL(ogq_graph_value(c.g, "B"));
    ogq_model_free(c.m);
}

static void test_remove_node_and_value(void)
{
    struct chain c;
    build_chain(&c);
    /* Removing MatMul: a and W lose a use, z becomes an orphan (still an output). */
    ogq_graph_remove_node(c.g, c.mm);
    CU_ASSERT_EQUAL(c.g->n_nodes, 2);
    CU_ASSERT_EQUAL(c.a->n_uses, 1);
    CU_ASSERT_EQUAL(c.w->n_uses, 0);
    CU_ASSERT_PTR_NULL(c.z->producer);
    CU_ASSERT_EQUAL(c.z->producer_output, -1);
    /* Still-referenced values cannot be removed. */
    EXPECT_ERROR(ogq_graph_remove_value(c.g, c.z, &err), &err, OGQ_ERR_INTERNAL, "'z'");
    EXPECT_ERROR(ogq_graph_remove_value(c.g, c.a, &err), &err, OGQ_ERR_INTERNAL, "'a'");
    EXPECT_ERROR(ogq_graph_remove_value(c.g, c.x, &err), &err, OGQ_ERR_INTERNAL, "'x'");
    /* An unused initializer can. */
    EXPECT_OK(ogq_graph_remove_value(c.g, c.w, &err), &err);
    CU_ASSERT_EQUAL(c.g->n_initializers, 0);
    CU_ASSERT_PTR_NULL(ogq_graph_value(c.g, "W"));
    /* Removing a node twice (or a foreign node) is harmless. */
    size_t n = c.g->n_nodes;
    struct chain other;
    build_chain(&other);
    ogq_graph_remove_node(c.g, other.neg);
    CU_ASSERT_EQUAL(c.g->n_nodes, n);
    ogq_model_free(other.m);
    /* Drop z from the outputs by hand to make the graph valid again. */
    c.g->n_outputs = 1;
    c.z->is_graph_output = false;
    EXPECT_OK(ogq_graph_remove_value(c.g, c.z, &err), &err);
    expect_verify_ok(c.g);
    ogq_model_free(c.m);
}

static void test_remove_dead(void)
{
    struct chain c;
    build_chain(&c);
    /* A dead chain x -> Exp -> d1 -> Log -> d2, a dead node without outputs, an unused
     * initializer, and a loose value. */
    struct ogq_value *d1 = val(c.g, "d1"), *d2 = val(c.g, "d2");
    node(c.g, NULL, "Exp", "e", &c.x, 1, &d1, 1);
    node(c.g, NULL, "Log", "l", &d1, 1, &d2, 1);
    node(c.g, c.relu, "Print", "p", &c.x, 1, NULL, 0);
    struct ogq_value *u = val(c.g, "unused");
    EXPECT_OK(ogq_graph_set_initializer(c.g, u, f32_tensor(NULL, 0, NULL, 1), &err), &err);
    val(c.g, "loose");
    expect_verify_ok(c.g);
    size_t removed = 99;
    ogq_graph_remove_dead(c.g, &removed);
    CU_ASSERT_EQUAL(removed, 3);
    CU_ASSERT_EQUAL(c.g->n_nodes, 3);
    CU_ASSERT_PTR_NULL(ogq_graph_value(c.g, "d1"));
    CU_ASSERT_PTR_NULL(ogq_graph_value(c.g, "d2"));
    CU_ASSERT_PTR_NULL(ogq_graph_value(c.g, "unused"));
    CU_ASSERT_PTR_NULL(ogq_graph_value(c.g, "loose"));
    CU_ASSERT_EQUAL(c.g->n_initializers, 1);
    CU_ASSERT_EQUAL(c.x->n_uses, 1);
    CU_ASSERT_EQUAL(c.g->n_values, 5);
    expect_verify_ok(c.g);
    /* Nothing more to remove. */
    ogq_graph_remove_dead(c.g, &removed);
    CU_ASSERT_EQUAL(removed, 0);
    CU_ASSERT_EQUAL(c.g->n_values, 5);
    ogq_model_free(c.m);
}

static void test_topo_sort_stable(void)
{
    struct ogq_model *m = new_model();
    struct ogq_graph *g = m->graph;
    struct ogq_value *x = val(g, "x"), *a = val(g, "a"), *b = val(g, "b"), *cc = val(g, "c"),
                     *p = val(g, "p"), *q = val(g, "q");
    EXPECT_OK(ogq_graph_add_input(g, x, &err), &err);
    /* File order: C(reads a) P(independent) A(makes a, reads b) Q(independent) B(makes b). */
    struct ogq_node *nb = node(g, NULL, "Relu", "B", &x, 1, &b, 1);
    struct ogq_node *nq = node(g, nb, "Relu", "Q", &x, 1, &q, 1);
    struct ogq_node *na = node(g, nq, "Relu", "A", &b, 1, &a, 1);
    struct ogq_node *np = node(g, na, "Relu", "P", &x, 1, &p, 1);
    struct ogq_node *nc = node(g, np, "Relu", "C", &a, 1, &cc, 1);
    struct ogq_node *want_before[] = {nc, np, na, nq, nb};
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_PTR_EQUAL(g->nodes[i], want_before[i]);
    EXPECT_OK(ogq_graph_add_output(g, cc, &err), &err);
    struct ogq_error e;
    ogq_error_clear(&e);
    EXPECT_ERROR(ogq_graph_verify(g, &e), &e, OGQ_ERR_INTERNAL, "before it is produced");
    EXPECT_OK(ogq_graph_topo_sort(g, &err), &err);
    /* Stable: always the ready node that comes first in the current order. Ready at the
     * start: P(1), Q(3), B(4) → P, Q, B; B releases A, and A releases C. */
    struct ogq_node *want[] = {np, nq, nb, na, nc};
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_PTR_EQUAL(g->nodes[i], want[i]);
    expect_verify_ok(g);
    /* Sorting a sorted graph changes nothing. */
    EXPECT_OK(ogq_graph_topo_sort(g, &err), &err);
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_PTR_EQUAL(g->nodes[i], want[i]);
    ogq_model_free(m);
}

static void test_topo_sort_keeps_valid_order(void)
{
    /* A long chain already in order plus side branches must come back unchanged. */
    struct ogq_model *m = new_model();
    struct ogq_graph *g = m->graph;
    struct ogq_value *prev = val(g, "in");
    EXPECT_OK(ogq_graph_add_input(g, prev, &err), &err);
    struct ogq_node *nodes[200];
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d", i);
        struct ogq_value *v = val(g, name);
        struct ogq_value *in = i % 3 == 0 ? g->values[0] : prev;
        nodes[i] = node(g, NULL, "Relu", name, &in, 1, &v, 1);
        prev = v;
    }
    EXPECT_OK(ogq_graph_topo_sort(g, &err), &err);
    for (int i = 0; i < 200; i++)
        CU_ASSERT_PTR_EQUAL(g->nodes[i], nodes[i]);
    /* Reverse it completely: the sort restores a valid order. */
    for (int i = 0; i < 100; i++) {
        struct ogq_node *t = g->nodes[i];
        g->nodes[i] = g->nodes[199 - i];
        g->nodes[199 - i] = t;
    }
    EXPECT_OK(ogq_graph_topo_sort(g, &err), &err);
    expect_verify_ok(g);
    ogq_model_free(m);
}

static void test_topo_sort_cycle(void)
{
    struct ogq_model *m = new_model();
    struct ogq_graph *g = m->graph;
    struct ogq_value *x = val(g, "x"), *a = val(g, "a"), *b = val(g, "b"), *o = val(g, "o");
    EXPECT_OK(ogq_graph_add_input(g, x, &err), &err);
    node(g, NULL, "Relu", "ok", &x, 1, &o, 1);
    /* A reads b, B reads a: a cycle (insert_node does not check order). */
    node(g, NULL, "Add", "A", (struct ogq_value *[]){x, b}, 2, &a, 1);
    node(g, NULL, "Neg", "B", &a, 1, &b, 1);
    struct ogq_node *first = g->nodes[0], *second = g->nodes[1], *third = g->nodes[2];
    EXPECT_ERROR(ogq_graph_topo_sort(g, &err), &err, OGQ_ERR_FORMAT, "cycle", "node 'A'");
    /* The failed sort leaves the order alone. */
    CU_ASSERT_PTR_EQUAL(g->nodes[0], first);
    CU_ASSERT_PTR_EQUAL(g->nodes[1], second);
    CU_ASSERT_PTR_EQUAL(g->nodes[2], third);
    /* A node reading its own output is a cycle too. */
    struct ogq_model *m2 = new_model();
    struct ogq_value *s = val(m2->graph, "s");
    struct ogq_node *self = node(m2->graph, NULL, "Relu", "self", NULL, 0, &s, 1);
    EXPECT_OK(ogq_node_set_input(m2->graph, self, 0, s, &err), &err);
    EXPECT_ERROR(ogq_graph_topo_sort(m2->graph, &err), &err, OGQ_ERR_FORMAT, "cycle", "'self'");
    ogq_model_free(m2);
    ogq_model_free(m);
}

static void test_verify_detects_corruption(void)
{
    struct chain c;
    build_chain(&c);
    struct ogq_error e;
    ogq_error_clear(&e);

    /* A use pointing at the wrong input index. */
    c.a->uses[0].input = 5;
    EXPECT_ERROR(ogq_graph_verify(c.g, &e), &e, OGQ_ERR_INTERNAL, "verify", "'a'");
    c.a->uses[0].input = 0;
    expect_verify_ok(c.g);

    /* A use missing from the list. */
    struct ogq_use saved = c.a->uses[1];
    c.a->n_uses = 1;
    EXPECT_ERROR(ogq_graph_verify(c.g, &e), &e, OGQ_ERR_INTERNAL, "missing from its uses");
    c.a->n_uses = 2;
    CU_ASSERT_EQUAL(c.a->uses[1].node, saved.node);
    expect_verify_ok(c.g);

    /* A producer link that does not match the node's outputs. */
    c.y->producer_output = 3;
    EXPECT_ERROR(ogq_graph_verify(c.g, &e), &e, OGQ_ERR_INTERNAL, "'y'");
    c.y->producer_output = 0;

    /* Nodes out of order. */
    struct ogq_node *t = c.g->nodes[0];
    c.g->nodes[0] = c.g->nodes[1];
    c.g->nodes[1] = t;
    EXPECT_ERROR(ogq_graph_verify(c.g, &e), &e, OGQ_ERR_INTERNAL, "before it is produced");
    c.g->nodes[1] = c.g->nodes[0];
    c.g->nodes[0] = t;
    expect_verify_ok(c.g);

    /* An initializer that also has a producer. */
    c.a->initializer = c.w->initializer;
    EXPECT_ERROR(ogq_graph_verify(c.g, &e), &e, OGQ_ERR_INTERNAL, "'a'");
    c.a->initializer = NULL;

    /* An initializer tensor named differently from its value. */
    char *keep = c.w->initializer->name;
    c.w->initializer->name = (char *)"not_W";
    EXPECT_ERROR(ogq_graph_verify(c.g, &e), &e, OGQ_ERR_INTERNAL, "not_W");
    c.w->initializer->name = keep;

    /* Graph output flag cleared. */
    c.z->is_graph_output = false;
    EXPECT_ERROR(ogq_graph_verify(c.g, &e), &e, OGQ_ERR_INTERNAL, "'z'");
    c.z->is_graph_output = true;

    /* Name map out of step with the value list. */
    ogq_strmap_del(&c.g->by_name, "x");
    EXPECT_ERROR(ogq_graph_verify(c.g, &e), &e, OGQ_ERR_INTERNAL, "name map");
    CU_ASSERT(ogq_strmap_put(&c.g->by_name, c.x->name, c.x));
    expect_verify_ok(c.g);
    ogq_model_free(c.m);
}

static void test_attributes(void)
{
    struct chain c;
    build_chain(&c);
    struct ogq_node *n = c.neg;
    CU_ASSERT_PTR_NULL(ogq_node_attr(n, "alpha"));
    CU_ASSERT_EQUAL(ogq_node_attr_int(n, "axis", -7), -7);
    EXPECT_OK(ogq_node_set_attr_int(n, "axis", 3, &err), &err);
    EXPECT_OK(ogq_node_set_attr_float(n, "alpha", 0.5f, &err), &err);
    EXPECT_OK(ogq_node_set_attr_string(n, "mode", "nearest", &err), &err);
    EXPECT_OK(ogq_node_set_attr_ints(n, "perm", (const int64_t[]){2, 0, 1}, 3, &err), &err);
    EXPECT_OK(ogq_node_set_attr_floats(n, "scales", (const float[]){1.5f, 2.5f}, 2, &err), &err);
    EXPECT_OK(ogq_node_set_attr_ints(n, "empty", NULL, 0, &err), &err);
    EXPECT_OK(ogq_node_set_attr_tensor(n, "value", f32_tensor(NULL, 1, (const int64_t[]){3}, 4),
                                       &err),
              &err);
    CU_ASSERT_EQUAL(n->n_attrs, 7);
    CU_ASSERT_EQUAL(ogq_node_attr_int(n, "axis", 0), 3);
    CU_ASSERT_EQUAL(ogq_node_attr_float(n, "alpha", 0), 0.5f);
    CU_ASSERT_STRING_EQUAL(ogq_node_attr_string(n, "mode", "x"), "nearest");
    /* Wrong type → default. */
    CU_ASSERT_EQUAL(ogq_node_attr_int(n, "alpha", 42), 42);
    CU_ASSERT_EQUAL(ogq_node_attr_float(n, "axis", 1.25f), 1.25f);
    CU_ASSERT_STRING_EQUAL(ogq_node_attr_string(n, "axis", "def"), "def");
    const struct ogq_attr *perm = ogq_node_attr(n, "perm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(perm);
    CU_ASSERT_EQUAL(perm->type, OGQ_ATTR_INTS);
    CU_ASSERT_EQUAL(perm->n, 3);
    CU_ASSERT_EQUAL(perm->ints[0], 2);
    const struct ogq_attr *sc = ogq_node_attr(n, "scales");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    CU_ASSERT_EQUAL(sc->floats[1], 2.5f);
    const struct ogq_attr *val_attr = ogq_node_attr(n, "value");
    CU_ASSERT_PTR_NOT_NULL_FATAL(val_attr);
    CU_ASSERT_EQUAL(val_attr->type, OGQ_ATTR_TENSOR);
    CU_ASSERT_EQUAL(val_attr->t->numel, 3);
    /* Replacing changes the type in place and keeps the position. */
    EXPECT_OK(ogq_node_set_attr_string(n, "axis", "now a string", &err), &err);
    CU_ASSERT_EQUAL(n->n_attrs, 7);
    CU_ASSERT_STRING_EQUAL(n->attrs[0].name, "axis");
    CU_ASSERT_EQUAL(n->attrs[0].type, OGQ_ATTR_STRING);
    CU_ASSERT_EQUAL(n->attrs[0].s.len, strlen("now a string"));
    CU_ASSERT_EQUAL(ogq_node_attr_int(n, "axis", -1), -1);
    EXPECT_OK(ogq_node_set_attr_tensor(n, "value", f32_tensor(NULL, 0, NULL, 9), &err), &err);
    CU_ASSERT_EQUAL(ogq_node_attr(n, "value")->t->numel, 1);
    EXPECT_OK(ogq_node_set_attr_int(n, "perm", 1, &err), &err);
    CU_ASSERT_PTR_NULL(ogq_node_attr(n, "perm")->ints);
    /* Removal keeps the order of the others. */
    ogq_node_remove_attr(n, "alpha");
    ogq_node_remove_attr(n, "no such attribute");
    CU_ASSERT_EQUAL(n->n_attrs, 6);
    CU_ASSERT_PTR_NULL(ogq_node_attr(n, "alpha"));
    CU_ASSERT_STRING_EQUAL(n->attrs[1].name, "mode");
    CU_ASSERT_STRING_EQUAL(n->attrs[5].name, "value");

    /* Attributes survive save and load. */
    char *dir = tu_mkdtemp();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    const char *path = tu_path(dir, "attrs.onnx");
    EXPECT_OK(ogq_model_save(c.m, path, NULL, &err), &err);
    struct ogq_model *back = NULL;
    EXPECT_OK(ogq_model_load(path, &back, &err), &err);
    if (back) {
        char why[256] = "";
        CU_ASSERT(ogq_model_equal(c.m, back, why, sizeof why));
        if (why[0])
            fprintf(stderr, "\n  %s\n", why);
        const struct ogq_node *n2 = back->graph->nodes[1];
        CU_ASSERT_STRING_EQUAL(ogq_node_attr_string(n2, "axis", ""), "now a string");
        CU_ASSERT_EQUAL(ogq_node_attr(n2, "scales")->floats[0], 1.5f);
        CU_ASSERT_EQUAL(ogq_node_attr(n2, "empty")->n, 0);
        CU_ASSERT_EQUAL(ogq_node_attr(n2, "empty")->type, OGQ_ATTR_INTS);
        ogq_model_free(back);
    }
    tu_rmtree(dir);
    free(dir);
    ogq_model_free(c.m);
}

static void test_model_opsets_metadata(void)
{
    struct ogq_model *m = new_model();
    CU_ASSERT_EQUAL(m->ir_version, 10);
    CU_ASSERT_EQUAL(ogq_model_opset(m, ""), 0);
    EXPECT_OK(ogq_model_set_opset(m, "ai.onnx", 13, &err), &err);
    CU_ASSERT_EQUAL(ogq_model_opset(m, ""), 13);
    EXPECT_OK(ogq_model_set_opset(m, "", 17, &err), &err);
    CU_ASSERT_EQUAL(ogq_model_opset(m, "ai.onnx"), 17);
    CU_ASSERT_EQUAL(m->n_opsets, 1);
    EXPECT_OK(ogq_model_set_opset(m, "com.microsoft", 1, &err), &err);
    CU_ASSERT_EQUAL(m->n_opsets, 2);
    CU_ASSERT_EQUAL(ogq_model_opset(m, "com.microsoft"), 1);
    CU_ASSERT_PTR_NULL(ogq_model_metadata(m, "k"));
    EXPECT_OK(ogq_model_set_metadata(m, "k", "v1", &err), &err);
    EXPECT_OK(ogq_model_set_metadata(m, "k", "v2", &err), &err);
    EXPECT_OK(ogq_model_set_metadata(m, "j", "", &err), &err);
    CU_ASSERT_EQUAL(m->n_metadata, 2);
    CU_ASSERT_STRING_EQUAL(ogq_model_metadata(m, "k"), "v2");
    CU_ASSERT_STRING_EQUAL(ogq_model_metadata(m, "j"), "");
    ogq_model_free(m);
    ogq_model_free(NULL);
}

static void expect_differ(const struct ogq_model *a, const struct ogq_model *b, const char *needle)
{
    char why[256] = "";
    CU_ASSERT(!ogq_model_equal(a, b, why, sizeof why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, needle));
    if (!strstr(why, needle))
        fprintf(stderr, "\n  expected a difference naming [%s], got [%s]\n", needle, why);
}

static void test_model_equal(void)
{
    struct chain a, b;
    build_chain(&a);
    build_chain(&b);
    char why[256] = "";
    CU_ASSERT(ogq_model_equal(a.m, b.m, why, sizeof why));
    CU_ASSERT(ogq_model_equal(a.m, a.m, NULL, 0));

    ((float *)ogq_tensor_data(b.w->initializer))[2] += 1;
    expect_differ(a.m, b.m, "'W'");
    ((float *)ogq_tensor_data(b.w->initializer))[2] -= 1;
    CU_ASSERT(ogq_model_equal(a.m, b.m, NULL, 0));

    EXPECT_OK(ogq_node_set_attr_int(b.neg, "k", 1, &err), &err);
    expect_differ(a.m, b.m, "'n'");
    EXPECT_OK(ogq_node_set_attr_int(a.neg, "k", 2, &err), &err);
    expect_differ(a.m, b.m, "'k'");
    EXPECT_OK(ogq_node_set_attr_int(a.neg, "k", 1, &err), &err);
    CU_ASSERT(ogq_model_equal(a.m, b.m, NULL, 0));

    EXPECT_OK(ogq_model_set_opset(b.m, "", 18, &err), &err);
    expect_differ(a.m, b.m, "opset");
    EXPECT_OK(ogq_model_set_opset(b.m, "", 17, &err), &err);

    EXPECT_OK(ogq_model_set_metadata(b.m, "author", "me", &err), &err);
    expect_differ(a.m, b.m, "metadata");
    EXPECT_OK(ogq_model_set_metadata(a.m, "author", "you", &err), &err);
    expect_differ(a.m, b.m, "'author'");
    EXPECT_OK(ogq_model_set_metadata(a.m, "author", "me", &err), &err);
    CU_ASSERT(ogq_model_equal(a.m, b.m, NULL, 0));

    EXPECT_OK(ogq_value_set_type(b.a, OGQ_DTYPE_FLOAT, 1, (const int64_t[]){4}, &err), &err);
    expect_differ(a.m, b.m, "'a'");
    EXPECT_OK(ogq_value_set_type(a.a, OGQ_DTYPE_FLOAT, 1, (const int64_t[]){4}, &err), &err);
    CU_ASSERT(ogq_model_equal(a.m, b.m, NULL, 0));

    EXPECT_OK(ogq_node_set_input(b.g, b.neg, 0, b.x, &err), &err);
    expect_differ(a.m, b.m, "'n'");
    EXPECT_OK(ogq_node_set_input(b.g, b.neg, 0, b.a, &err), &err);
    CU_ASSERT(ogq_model_equal(a.m, b.m, NULL, 0));

    b.m->ir_version = 7;
    expect_differ(a.m, b.m, "ir_version");
    b.m->ir_version = a.m->ir_version;

    ogq_graph_remove_node(b.g, b.mm);
    expect_differ(a.m, b.m, "nodes");
    ogq_model_free(a.m);
    ogq_model_free(b.m);
}

/* A model built in memory saves, loads back equal, and saves to identical bytes. */
static void test_built_model_save_load(void)
{
    struct chain c;
    build_chain(&c);
    EXPECT_OK(ogq_value_set_type(c.y, OGQ_DTYPE_FLOAT, 2, (const int64_t[]){2, 2}, &err), &err);
    c.m->producer_name = strdup("test_graph");
    EXPECT_OK(ogq_model_set_metadata(c.m, "k", "v", &err), &err);
    char *dir = tu_mkdtemp();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    const char *p1 = tu_path(dir, "a.onnx"), *p2 = tu_path(dir, "b.onnx");
    EXPECT_OK(ogq_model_save(c.m, p1, NULL, &err), &err);
    struct ogq_model *back = NULL;
    EXPECT_OK(ogq_model_load(p1, &back, &err), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    char why[256] = "";
    CU_ASSERT(ogq_model_equal(c.m, back, why, sizeof why));
    CU_ASSERT_STRING_EQUAL(back->producer_name, "test_graph");
    EXPECT_OK(ogq_model_save(back, p2, NULL, &err), &err);
    CU_ASSERT(tu_files_equal(p1, p2));
    expect_verify_ok(back->graph);
    /* Saving over the file it was loaded from is refused. */
    EXPECT_ERROR(ogq_model_save(back, p1, NULL, &err), &err, OGQ_ERR_USAGE, p1);
    /* So is saving onto a folder, and NULL err is tolerated on failure. */
    EXPECT_ERROR(ogq_model_save(back, dir, NULL, &err), &err, OGQ_ERR_USAGE, dir);
    CU_ASSERT_EQUAL(ogq_model_save(back, tu_path(dir, "no/such/dir.onnx"), NULL, NULL), OGQ_ERR_IO);
    ogq_model_free(back);
    tu_rmtree(dir);
    free(dir);
    ogq_model_free(c.m);
}

static void test_tensor_basics(void)
{
    struct ogq_tensor *t = NULL;
    EXPECT_ERROR(ogq_tensor_new("neg", OGQ_DTYPE_FLOAT, 2, (const int64_t[]){2, -1}, &t, &err),
                 &err, OGQ_ERR_FORMAT, "'neg'");
    EXPECT_ERROR(ogq_tensor_new("big", OGQ_DTYPE_FLOAT, 2,
                                (const int64_t[]){INT64_MAX / 2, 4}, &t, &err),
                 &err, OGQ_ERR_FORMAT, "'big'");
    EXPECT_ERROR(ogq_tensor_new("bytes", OGQ_DTYPE_DOUBLE, 1, (const int64_t[]){INT64_MAX / 2}, &t,
                                &err),
                 &err, OGQ_ERR_FORMAT, "'bytes'");
    EXPECT_ERROR(ogq_tensor_new("dt", (enum ogq_dtype)99, 0, NULL, &t, &err), &err, OGQ_ERR_FORMAT,
                 "99");
    CU_ASSERT_PTR_NULL(t);

    EXPECT_OK(ogq_tensor_new("i4", OGQ_DTYPE_INT4, 1, (const int64_t[]){5}, &t, &err), &err);
    CU_ASSERT_EQUAL(t->nbytes, 3);
    CU_ASSERT_EQUAL(t->numel, 5);
    struct ogq_tensor *view = NULL;
    EXPECT_ERROR(ogq_tensor_new_view("v", OGQ_DTYPE_UINT8, 1, (const int64_t[]){4}, t->buf, 0, 4,
                                     &view, &err),
                 &err, OGQ_ERR_FORMAT, "'v'", "outside");
    EXPECT_ERROR(ogq_tensor_new_view("v", OGQ_DTYPE_UINT8, 1, (const int64_t[]){2}, t->buf, 0, 3,
                                     &view, &err),
                 &err, OGQ_ERR_FORMAT, "'v'", "3 bytes");
    EXPECT_ERROR(ogq_tensor_new_view("v", OGQ_DTYPE_UINT8, 1, (const int64_t[]){2}, t->buf,
                                     SIZE_MAX, 2, &view, &err),
                 &err, OGQ_ERR_FORMAT, "'v'");
    EXPECT_OK(ogq_tensor_new_view("v", OGQ_DTYPE_UINT8, 1, (const int64_t[]){2}, t->buf, 1, 2,
                                  &view, &err),
              &err);
    CU_ASSERT_EQUAL(t->buf->refcount, 2);
    struct ogq_tensor *clone = NULL;
    EXPECT_OK(ogq_tensor_clone(view, &clone, &err), &err);
    CU_ASSERT_EQUAL(t->buf->refcount, 3);
    CU_ASSERT(ogq_tensor_equal(view, clone));
    CU_ASSERT_STRING_EQUAL(clone->name, "v");
    ogq_tensor_free(view);
    ogq_tensor_free(t);
    CU_ASSERT_EQUAL(clone->buf->refcount, 1);
    ogq_tensor_free(clone);

    /* Strings. */
    struct ogq_tensor *s = NULL, *s2 = NULL;
    EXPECT_OK(ogq_tensor_new("s", OGQ_DTYPE_STRING, 1, (const int64_t[]){2}, &s, &err), &err);
    CU_ASSERT_PTR_NULL(s->buf);
    s->strings[0].data = (uint8_t *)strdup("ab");
    s->strings[0].len = 2;
    s->strings[1].data = (uint8_t *)strdup("");
    EXPECT_OK(ogq_tensor_clone(s, &s2, &err), &err);
    CU_ASSERT(ogq_tensor_equal(s, s2));
    s2->strings[0].data[1] = 'c';
    CU_ASSERT(!ogq_tensor_equal(s, s2));
    ogq_tensor_free(s);
    ogq_tensor_free(s2);

    char buf[32];
    ogq_dims_format((const int64_t[]){1, 3, 224}, 3, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "[1,3,224]");
    ogq_dims_format(NULL, 0, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "[]");
    ogq_dims_format((const int64_t[]){123456789, 123456789, 123456789}, 3, buf, 8);
    CU_ASSERT_EQUAL(strlen(buf), 7);
}

/* ---------------------------------------------------------------- util tests */

static void test_strmap_many(void)
{
    enum { N = 20000 };
    static char keys[N][16];
    struct ogq_strmap m;
    ogq_strmap_init(&m);
    CU_ASSERT_PTR_NULL(ogq_strmap_get(&m, "nothing"));
    CU_ASSERT(!ogq_strmap_del(&m, "nothing"));
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        CU_ASSERT_FATAL(ogq_strmap_put(&m, keys[i], (void *)(intptr_t)(i + 1)));
    }
    CU_ASSERT_EQUAL(m.live, N);
    /* Delete every odd key, then check all. */
    for (int i = 1; i < N; i += 2)
        CU_ASSERT(ogq_strmap_del(&m, keys[i]));
    CU_ASSERT(!ogq_strmap_del(&m, keys[1]));
    CU_ASSERT_EQUAL(m.live, N / 2);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        void *want = i % 2 ? NULL : (void *)(intptr_t)(i + 1);
        if (ogq_strmap_get(&m, keys[i]) != want)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* Replace values through a different key pointer with the same text. */
    char other[16];
    snprintf(other, sizeof other, "k%d", 10);
    CU_ASSERT(ogq_strmap_put(&m, other, (void *)(intptr_t)7));
    CU_ASSERT_EQUAL(m.live, N / 2);
    CU_ASSERT_PTR_EQUAL(ogq_strmap_get(&m, "k10"), (void *)(intptr_t)7);
    /* Churn: repeatedly delete and reinsert (tombstones must not fill the table). */
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i += 2)
            CU_ASSERT(ogq_strmap_del(&m, keys[i]));
        CU_ASSERT_EQUAL(m.live, 0);
        for (int i = 0; i < N; i += 2)
            CU_ASSERT(ogq_strmap_put(&m, keys[i], (void *)(intptr_t)(round + 1)));
    }
    CU_ASSERT(m.used < m.cap);
    CU_ASSERT_PTR_EQUAL(ogq_strmap_get(&m, keys[N - 2]), (void *)(intptr_t)20);
    CU_ASSERT_PTR_NULL(ogq_strmap_get(&m, keys[N - 1]));
    /* The empty string is an ordinary key (and not confused with a tombstone). */
    CU_ASSERT_PTR_NULL(ogq_strmap_get(&m, ""));
    CU_ASSERT(ogq_strmap_put(&m, "", (void *)(intptr_t)5));
    CU_ASSERT_PTR_EQUAL(ogq_strmap_get(&m, ""), (void *)(intptr_t)5);
    CU_ASSERT(ogq_strmap_del(&m, ""));
    CU_ASSERT_PTR_NULL(ogq_strmap_get(&m, ""));
    ogq_strmap_fini(&m);
    CU_ASSERT_EQUAL(m.cap, 0);
}

static void test_checked_math(void)
{
    size_t s;
    int64_t i;
    CU_ASSERT(ogq_mul_size(1u << 20, 1u << 20, &s) && s == (size_t)1 << 40);
    CU_ASSERT(!ogq_mul_size(SIZE_MAX / 2 + 1, 2, &s));
    CU_ASSERT(ogq_add_size(SIZE_MAX - 1, 1, &s) && s == SIZE_MAX);
    CU_ASSERT(!ogq_add_size(SIZE_MAX, 1, &s));
    CU_ASSERT(ogq_mul_i64(-3, 4, &i) && i == -12);
    CU_ASSERT(!ogq_mul_i64(INT64_MAX / 2 + 1, 2, &i));
    CU_ASSERT(!ogq_mul_i64(INT64_MIN, -1, &i));
    CU_ASSERT(ogq_add_i64(INT64_MAX - 1, 1, &i) && i == INT64_MAX);
    CU_ASSERT(!ogq_add_i64(INT64_MAX, 1, &i));
    CU_ASSERT(!ogq_add_i64(INT64_MIN, -1, &i));
    CU_ASSERT(ogq_dims_product(NULL, 0, &i) && i == 1);
    CU_ASSERT(ogq_dims_product((const int64_t[]){2, 3, 4}, 3, &i) && i == 24);
    CU_ASSERT(ogq_dims_product((const int64_t[]){0, INT64_MAX}, 2, &i) && i == 0);
    CU_ASSERT(!ogq_dims_product((const int64_t[]){2, -3}, 2, &i));
    CU_ASSERT(!ogq_dims_product((const int64_t[]){INT64_MAX, 2}, 2, &i));
    CU_ASSERT(!ogq_dims_product((const int64_t[]){1LL << 32, 1LL << 32}, 2, &i));

    CU_ASSERT(ogq_dtype_storage_bytes(OGQ_DTYPE_FLOAT, 3, &s) && s == 12);
    CU_ASSERT(ogq_dtype_storage_bytes(OGQ_DTYPE_INT4, 3, &s) && s == 2);
    CU_ASSERT(ogq_dtype_storage_bytes(OGQ_DTYPE_INT2, 5, &s) && s == 2);
    CU_ASSERT(ogq_dtype_storage_bytes(OGQ_DTYPE_COMPLEX128, 2, &s) && s == 32);
    CU_ASSERT(ogq_dtype_storage_bytes(OGQ_DTYPE_BOOL, 0, &s) && s == 0);
    CU_ASSERT(!ogq_dtype_storage_bytes(OGQ_DTYPE_STRING, 1, &s));
    CU_ASSERT(!ogq_dtype_storage_bytes(99, 1, &s));
    CU_ASSERT(!ogq_dtype_storage_bytes(OGQ_DTYPE_FLOAT, -1, &s));
    CU_ASSERT(!ogq_dtype_storage_bytes(OGQ_DTYPE_DOUBLE, INT64_MAX / 2, &s));
    CU_ASSERT(ogq_dtype_storage_bytes(OGQ_DTYPE_FLOAT, 1LL << 60, &s) && s == (size_t)1 << 62);
    CU_ASSERT(ogq_dtype_storage_bytes(OGQ_DTYPE_UINT4, INT64_MAX, &s) && s == (size_t)INT64_MAX / 2 + 1);
    CU_ASSERT(!ogq_dtype_is_known(0) && !ogq_dtype_is_known(OGQ_DTYPE_COUNT_) &&
              !ogq_dtype_is_known(-1));
    CU_ASSERT_STRING_EQUAL(ogq_dtype_name(OGQ_DTYPE_INT4), "INT4");
    CU_ASSERT_STRING_EQUAL(ogq_dtype_name(99), "UNKNOWN(99)");
    CU_ASSERT_STRING_EQUAL(ogq_dtype_short_name(OGQ_DTYPE_FLOAT), "float32");
    CU_ASSERT_STRING_EQUAL(ogq_dtype_short_name(-5), "unknown");
}

/* Captures JSON output in a string. */
static char *json_capture(void (*fn)(FILE *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fn(f);
    fclose(f);
    return buf;
}

static void write_escapes(FILE *f)
{
    ogq_json_write_escaped(f, "a\"b\\c\nd\re\tf\x01g\x1fh/\x7f\xc3\xa9");
}

static void write_doc(FILE *f)
{
    struct ogq_json j;
    ogq_json_init(&j, f, false);
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "s");
    ogq_json_string(&j, "x\"y");
    ogq_json_key(&j, "n");
    ogq_json_string(&j, NULL);
    ogq_json_key(&j, "arr");
    ogq_json_begin_array(&j);
    ogq_json_int(&j, -5);
    ogq_json_int(&j, INT64_MIN);
    ogq_json_double(&j, 0.5);
    ogq_json_double(&j, NAN);
    ogq_json_double(&j, INFINITY);
    ogq_json_bool(&j, true);
    ogq_json_null(&j);
    ogq_json_begin_object(&j);
    ogq_json_end_object(&j);
    ogq_json_begin_array(&j);
    ogq_json_end_array(&j);
    ogq_json_end_array(&j);
    ogq_json_key(&j, "k\n");
    ogq_json_bool(&j, false);
    ogq_json_end_object(&j);
}

static void write_pretty(FILE *f)
{
    struct ogq_json j;
    ogq_json_init(&j, f, true);
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "a");
    ogq_json_begin_array(&j);
    ogq_json_int(&j, 1);
    ogq_json_int(&j, 2);
    ogq_json_end_array(&j);
    ogq_json_key(&j, "b");
    ogq_json_begin_object(&j);
    ogq_json_end_object(&j);
    ogq_json_end_object(&j);
}

static void test_json(void)
{
    char *s = json_capture(write_escapes);
    CU_ASSERT_STRING_EQUAL(s, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh/\x7f\xc3\xa9\"");
    free(s);
    s = json_capture(write_doc);
    CU_ASSERT_STRING_EQUAL(s, "{\"s\":\"x\\\"y\",\"n\":\"\",\"arr\":[-5,-9223372036854775808,0.5,"
                              "null,null,true,null,{},[]],\"k\\n\":false}");
    free(s);
    s = json_capture(write_pretty);
    CU_ASSERT_STRING_EQUAL(s, "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
    free(s);
}

static void test_status_messages(void)
{
    struct ogq_error e;
    ogq_error_clear(&e);
    CU_ASSERT_EQUAL(e.code, OGQ_OK);
    CU_ASSERT_EQUAL(ogq_error_set(&e, OGQ_ERR_FORMAT, "tensor '%s'\nbad\r", "t"), OGQ_ERR_FORMAT);
    CU_ASSERT_STRING_EQUAL(e.msg, "tensor 't' bad ");
    ogq_error_prefix(&e, "%s", "model.onnx");
    CU_ASSERT_STRING_EQUAL(e.msg, "model.onnx: tensor 't' bad ");
    CU_ASSERT_EQUAL(ogq_error_set(NULL, OGQ_ERR_IO, "x"), OGQ_ERR_IO);
    ogq_error_prefix(NULL, "x");
    ogq_error_clear(NULL);
    /* Long messages and prefixes are truncated, never overflow. */
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ogq_error_set(&e, OGQ_ERR_IO, "%s", big);
    CU_ASSERT_EQUAL(strlen(e.msg), OGQ_ERROR_MSG_MAX - 1);
    ogq_error_prefix(&e, "%s", "p");
    CU_ASSERT(strncmp(e.msg, "p: aaa", 6) == 0);
    CU_ASSERT(strlen(e.msg) < OGQ_ERROR_MSG_MAX);
    ogq_error_prefix(&e, "%s", big);
    CU_ASSERT(strlen(e.msg) < OGQ_ERROR_MSG_MAX);
    CU_ASSERT_STRING_EQUAL(ogq_status_name(OGQ_ERR_FORMAT), "bad input");
    CU_ASSERT_STRING_EQUAL(ogq_status_name((enum ogq_status)77), "unknown status");
}

int main(void)
{
    static const struct tu_test ir[] = {
        TU_TEST(test_add_value),
        TU_TEST(test_insert_node),
        TU_TEST(test_insert_node_bad_anchor),
        TU_TEST(test_set_input),
        TU_TEST(test_replace_uses),
        TU_TEST(test_set_initializer),
        TU_TEST(test_remove_node_and_value),
        TU_TEST(test_remove_dead),
        TU_TEST(test_topo_sort_stable),
        TU_TEST(test_topo_sort_keeps_valid_order),
        TU_TEST(test_topo_sort_cycle),
        TU_TEST(test_verify_detects_corruption),
        TU_TEST(test_attributes),
        TU_TEST(test_model_opsets_metadata),
        TU_TEST(test_model_equal),
        TU_TEST(test_built_model_save_load),
        TU_TEST(test_tensor_basics),
    };
    static const struct tu_test util[] = {
        TU_TEST(test_strmap_many),
        TU_TEST(test_checked_math),
        TU_TEST(test_json),
        TU_TEST(test_status_messages),
    };
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (!tu_add_suite("ir", ir, sizeof ir / sizeof ir[0]) ||
        !tu_add_suite("util", util, sizeof util / sizeof util[0])) {
        CU_cleanup_registry();
        return 2;
    }
    return tu_run();
}
