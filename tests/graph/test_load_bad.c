/* test_load_bad.c — the loader against hostile and unusual files.
 *
 * Each negative test writes one malformed model into a fresh temporary folder (built
 * with protobuf-c, or byte by byte where protobuf-c cannot express the damage), loads
 * it with ogq_model_load and asserts the status code and that the one-line message
 * names the file and the offending node/tensor/value. The assertions are specific
 * enough that removing the corresponding check from graph/load.c makes them fail.
 * Positive tests cover external data (memory-mapped), every typed data field, unsorted
 * nodes and subgraphs that read outer values.
 */
#include <stdarg.h>

#include "graph/graph.h"
#include "graph/model_io.h"
#include "onnx.pb-c.h"
#include "testutil.h"

/* ---------------------------------------------------------------- arena */

static void **arena;
static size_t n_arena, cap_arena;

static void *A(size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p)
        abort();
    if (n_arena == cap_arena) {
        cap_arena = cap_arena ? 2 * cap_arena : 256;
        void **g = realloc(arena, cap_arena * sizeof *g);
        if (!g)
            abort();
        arena = g;
    }
    arena[n_arena++] = p;
    return p;
}

static char *S(const char *s)
{
    char *d = A(strlen(s) + 1);
    memcpy(d, s, strlen(s) + 1);
    return d;
}

static void arena_free(void)
{
    for (size_t i = 0; i < n_arena; i++)
        free(arena[i]);
    free(arena);
    arena = NULL;
    n_arena = cap_arena = 0;
}

/* ---------------------------------------------------------------- per-test folder */

static char *dir;
static struct ogq_error err;
static struct ogq_model *model;

static int setup(void)
{
    dir = tu_mkdtemp();
    ogq_error_clear(&err);
    model = NULL;
    return dir ? 0 : 1;
}

static int teardown(void)
{
    ogq_model_free(model);
    model = NULL;
    if (dir)
        tu_rmtree(dir);
    free(dir);
    dir = NULL;
    arena_free();
    return 0;
}

/* CUnit runs suite setup/teardown once per suite; these tests want them per test. */
#define BEGIN()                                                                                    \
    do {                                                                                           \
        CU_ASSERT_FATAL(setup() == 0);                                                             \
    } while (0)
#define END() teardown()

/* ---------------------------------------------------------------- builders */

#define CAP 64

static Onnx__GraphProto *mk_graph(const char *name)
{
    Onnx__GraphProto *g = A(sizeof *g);
    onnx__graph_proto__init(g);
    g->name = S(name);
    g->node = A(CAP * sizeof *g->node);
    g->initializer = A(CAP * sizeof *g->initializer);
    g->input = A(CAP * sizeof *g->input);
    g->output = A(CAP * sizeof *g->output);
    g->value_info = A(CAP * sizeof *g->value_info);
    return g;
}

static Onnx__ModelProto *mk_model(int64_t ir_version)
{
    Onnx__ModelProto *m = A(sizeof *m);
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = ir_version;
    m->producer_name = S("test_load_bad");
    m->opset_import = A(CAP * sizeof *m->opset_import);
    Onnx__OperatorSetIdProto *op = A(sizeof *op);
    onnx__operator_set_id_proto__init(op);
    op->domain = S("");
    op->has_version = 1;
    op->version = 17;
    m->opset_import[m->n_opset_import++] = op;
    m->graph = mk_graph("g");
    return m;
}

/* Splits "a,b,,c" into names (empty entries are kept: omitted optional slots). */
static char **split(const char *list, size_t *n)
{
    *n = 0;
    if (!list || !*list)
        return A(sizeof(char *));
    char **out = A(CAP * sizeof *out);
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *s = A(len + 1);
        memcpy(s, p, len);
        out[(*n)++] = s;
        if (!p[len])
            break;
        p += len + 1;
    }
    return out;
}

static Onnx__NodeProto *add_node(Onnx__GraphProto *g, const char *op, const char *name,
                                 const char *inputs, const char *outputs)
{
    Onnx__NodeProto *n = A(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = S(op);
    n->name = S(name);
    n->input = split(inputs, &n->n_input);
    n->output = split(outputs, &n->n_output);
    n->attribute = A(CAP * sizeof *n->attribute);
    g->node[g->n_node++] = n;
    return n;
}

static Onnx__TypeProto *mk_type(int dtype, int rank, const int64_t *dims)
{
    Onnx__TypeProto *tp = A(sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = A(sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    if (rank >= 0) {
        Onnx__TensorShapeProto *sp = A(sizeof *sp);
        onnx__tensor_shape_proto__init(sp);
        sp->dim = A(((size_t)rank + 1) * sizeof *sp->dim);
        for (int i = 0; i < rank; i++) {
            Onnx__TensorShapeProto__Dimension *d = A(sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
            sp->dim[sp->n_dim++] = d;
        }
        tt->shape = sp;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    return tp;
}

static Onnx__ValueInfoProto *mk_vi(const char *name, int dtype, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = A(sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = S(name);
    if (dtype >= 0)
        vi->type = mk_type(dtype, rank, dims);
    return vi;
}

static void add_input(Onnx__GraphProto *g, const char *name, int dtype, int rank,
                      const int64_t *dims)
{
    g->input[g->n_input++] = mk_vi(name, dtype, rank, dims);
}

static void add_output(Onnx__GraphProto *g, const char *name, int dtype, int rank,
                       const int64_t *dims)
{
    g->output[g->n_output++] = mk_vi(name, dtype, rank, dims);
}

static Onnx__TensorProto *mk_tensor(const char *name, int dtype, int rank, const int64_t *dims)
{
    Onnx__TensorProto *t = A(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = S(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = A(((size_t)rank + 1) * sizeof *t->dims);
    if (rank)
        memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    return t;
}

static void set_raw(Onnx__TensorProto *t, const void *data, size_t len)
{
    t->has_raw_data = 1;
    t->raw_data.len = len;
    t->raw_data.data = A(len);
    memcpy(t->raw_data.data, data, len);
}

static Onnx__TensorProto *add_init(Onnx__GraphProto *g, Onnx__TensorProto *t)
{
    g->initializer[g->n_initializer++] = t;
    return t;
}

/* Sets external data entries on `t`; NULL values are left out. */
static void set_external(Onnx__TensorProto *t, const char *location, const char *offset,
                         const char *length)
{
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->external_data = A(3 * sizeof *t->external_data);
    const char *keys[3] = {"location", "offset", "length"};
    const char *vals[3] = {location, offset, length};
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        Onnx__StringStringEntryProto *kv = A(sizeof *kv);
        onnx__string_string_entry_proto__init(kv);
        kv->key = S(keys[i]);
        kv->value = S(vals[i]);
        t->external_data[t->n_external_data++] = kv;
    }
}

static Onnx__AttributeProto *add_attr(Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = A(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = S(name);
    if (type) {
        a->has_type = 1;
        a->type = (Onnx__AttributeProto__AttributeType)type;
    }
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void add_attr_graph(Onnx__NodeProto *n, const char *name, Onnx__GraphProto *g)
{
    add_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = g;
}

/* The baseline: x:float[2] → Add(x, W) → s → Relu → y, W a raw float[2] initializer. */
static Onnx__ModelProto *base_model(void)
{
    Onnx__ModelProto *m = mk_model(8);
    Onnx__GraphProto *g = m->graph;
    add_input(g, "x", 1, 1, (const int64_t[]){2});
    Onnx__TensorProto *w = add_init(g, mk_tensor("W", 1, 1, (const int64_t[]){2}));
    set_raw(w, (const float[]){1.0f, 2.0f}, 8);
    add_node(g, "Add", "add", "x,W", "s");
    add_node(g, "Relu", "relu", "s", "y");
    add_output(g, "y", 1, 1, (const int64_t[]){2});
    return m;
}

/* Packs `m` into <dir>/<file>; returns the path (static rotating buffer). */
static const char *write_model(const Onnx__ModelProto *m, const char *file)
{
    size_t size = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = A(size);
    CU_ASSERT_FATAL(onnx__model_proto__pack(m, buf) == size);
    const char *path = tu_path(dir, file);
    CU_ASSERT_FATAL(tu_write_file(path, buf, size));
    return path;
}

static uint8_t *pack(const Onnx__ModelProto *m, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = A(*size);
    CU_ASSERT_FATAL(onnx__model_proto__pack(m, buf) == *size);
    return buf;
}

static enum ogq_status load(const char *path)
{
    ogq_model_free(model);
    model = NULL;
    ogq_error_clear(&err);
    enum ogq_status st = ogq_model_load(path, &model, &err);
    if (st != OGQ_OK)
        CU_ASSERT_PTR_NULL(model);
    return st;
}

/* Loads `m` written as <dir>/bad.onnx and checks the failure. */
#define EXPECT_LOAD_FAILS(m, code, ...)                                                            \
    do {                                                                                           \
        const char *p_ = write_model((m), "bad.onnx");                                             \
        EXPECT_ERROR(load(p_), &err, (code), p_, __VA_ARGS__);                                     \
    } while (0)

/* ---------------------------------------------------------------- hand-written bytes */

struct bytes {
    uint8_t *data;
    size_t len, cap;
};

static void b_put(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *g = realloc(b->data, cap);
        if (!g)
            abort();
        b->data = g;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void b_varint(struct bytes *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        b_put(b, &c, 1);
    } while (v);
}

static void b_field_varint(struct bytes *b, unsigned field, uint64_t v)
{
    b_varint(b, (uint64_t)field << 3 | 0);
    b_varint(b, v);
}

static void b_field_bytes(struct bytes *b, unsigned field, const void *p, size_t n)
{
    b_varint(b, (uint64_t)field << 3 | 2);
    b_varint(b, n);
    b_put(b, p, n);
}

static void b_field_str(struct bytes *b, unsigned field, const char *s)
{
    b_field_bytes(b, field, s, strlen(s));
}

/* GraphProto bytes of `levels` If nodes nested through then_branch. */
static struct bytes nested_graph(int levels)
{
    struct bytes g = {0};
    b_field_str(&g, 2, "leaf"); /* GraphProto.name */
    for (int i = 0; i < levels; i++) {
        struct bytes attr = {0}, node = {0}, outer = {0};
        b_field_str(&attr, 1, "then_branch");                          /* name */
        b_field_varint(&attr, 20, 5);                                    /* type = GRAPH */
        b_field_bytes(&attr, 6, g.data, g.len);                          /* g */
        b_field_str(&node, 4, "If");                                     /* op_type */
        b_field_bytes(&node, 5, attr.data, attr.len);                    /* attribute */
        b_field_bytes(&outer, 1, node.data, node.len);                   /* GraphProto.node */
        free(attr.data);
        free(node.data);
        free(g.data);
        g = outer;
    }
    return g;
}

/* ModelProto bytes around a GraphProto. */
static struct bytes model_around(const struct bytes *graph)
{
    struct bytes m = {0}, op = {0};
    b_field_varint(&m, 1, 8); /* ir_version */
    b_field_bytes(&m, 7, graph->data, graph->len);
    b_field_varint(&op, 2, 17); /* OperatorSetIdProto.version */
    b_field_bytes(&m, 8, op.data, op.len);
    free(op.data);
    return m;
}

static const char *write_bytes(const struct bytes *b, const char *file)
{
    const char *path = tu_path(dir, file);
    CU_ASSERT_FATAL(tu_write_file(path, b->data, b->len));
    return path;
}

/* ================================================================ negative tests */

static void test_empty_file(void)
{
    BEGIN();
    const char *p = tu_path(dir, "empty.onnx");
    CU_ASSERT_FATAL(tu_write_file(p, "", 0));
    EXPECT_ERROR(load(p), &err, OGQ_ERR_FORMAT, p, "empty");
    /* The same through the memory API. */
    EXPECT_ERROR(ogq_model_load_memory("", 0, "mem.onnx", NULL, &model, &err), &err,
                 OGQ_ERR_FORMAT, "mem.onnx", "empty");
    END();
}

static void test_missing_file(void)
{
    BEGIN();
    const char *p = tu_path(dir, "nope.onnx");
    EXPECT_ERROR(load(p), &err, OGQ_ERR_IO, p);
    /* A folder is not a model, nor is a FIFO (and opening it must not block). */
    EXPECT_ERROR(load(dir), &err, OGQ_ERR_IO, dir);
    const char *fifo = tu_path(dir, "fifo.onnx");
    CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
    EXPECT_ERROR(load(fifo), &err, OGQ_ERR_IO, fifo, "not a regular file");
    END();
}

static void test_not_protobuf(void)
{
    BEGIN();
    static const char text[] = "not a model, just text\n";
    const char *p = tu_path(dir, "text.onnx");
    CU_ASSERT_FATAL(tu_write_file(p, text, sizeof text - 1));
    EXPECT_ERROR(load(p), &err, OGQ_ERR_FORMAT, p, "not a valid ONNX model");
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CU_ASSERT_FATAL(tu_write_file(p, junk, sizeof junk));
    EXPECT_ERROR(load(p), &err, OGQ_ERR_FORMAT, p, "not a valid ONNX model");
    END();
}

static void test_truncated(void)
{
    BEGIN();
    size_t size;
    uint8_t *full = pack(base_model(), &size);
    /* Cut inside the graph: a length prefix then promises more than there is. */
    const char *p = tu_path(dir, "cut.onnx");
    CU_ASSERT_FATAL(tu_write_file(p, full, size / 2));
    EXPECT_ERROR(load(p), &err, OGQ_ERR_FORMAT, p, "not a valid ONNX model");
    /* Every cut either fails cleanly with the file named, or (at a top-level field
     * boundary, e.g. before opset_import) is itself a well-formed model. */
    size_t failed = 0;
    for (size_t cut = 1; cut < size; cut++) {
        CU_ASSERT_FATAL(tu_write_file(p, full, cut));
        enum ogq_status st = load(p);
        CU_ASSERT(st == OGQ_OK || (st == OGQ_ERR_FORMAT && strstr(err.msg, p)));
        failed += st != OGQ_OK;
    }
    CU_ASSERT(failed >= size - 4);
    END();
}

static void test_wrong_wire_types(void)
{
    BEGIN();
    size_t gsize;
    const Onnx__GraphProto *g = base_model()->graph;
    gsize = onnx__graph_proto__get_packed_size(g);
    uint8_t *gbytes = A(gsize);
    onnx__graph_proto__pack(g, gbytes);

    /* ModelProto.ir_version (varint) sent as a string. */
    struct bytes b = {0};
    b_field_str(&b, 1, "eight");
    b_field_bytes(&b, 7, gbytes, gsize);
    EXPECT_ERROR(load(write_bytes(&b, "a.onnx")), &err, OGQ_ERR_FORMAT, "a.onnx",
                 "not a valid ONNX model");
    free(b.data);

    /* ModelProto.graph (a message) sent as a varint. */
    b = (struct bytes){0};
    b_field_varint(&b, 1, 8);
    b_field_varint(&b, 7, 1);
    EXPECT_ERROR(load(write_bytes(&b, "b.onnx")), &err, OGQ_ERR_FORMAT, "b.onnx",
                 "not a valid ONNX model");
    free(b.data);

    /* A node's op_type (string) sent as a fixed64 deep inside the graph. */
    struct bytes node = {0}, graph = {0};
    b_varint(&node, 4 << 3 | 1);
    b_put(&node, "\1\2\3\4\5\6\7\10", 8);
    b_field_bytes(&graph, 1, node.data, node.len);
    b = model_around(&graph);
    EXPECT_ERROR(load(write_bytes(&b, "c.onnx")), &err, OGQ_ERR_FORMAT, "c.onnx",
                 "not a valid ONNX model");
    free(b.data);
    free(node.data);
    free(graph.data);
    END();
}

static void test_no_graph_and_header(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    m->graph = NULL;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "no graph");
    m = base_model();
    m->ir_version = -3;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "ir_version -3");
    m = base_model();
    Onnx__OperatorSetIdProto *op = A(sizeof *op);
    onnx__operator_set_id_proto__init(op);
    op->domain = S("ai.onnx.ml");
    m->opset_import[m->n_opset_import++] = op;
    m->opset_import[m->n_opset_import++] = op;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "'ai.onnx.ml'", "twice");
    END();
}

static void test_input_names_no_value(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    m->graph->node[1]->input[0] = S("nope");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "'nope'", "names no value");
    /* A name that only appears in value_info is not a value either. */
    m = base_model();
    m->graph->value_info[m->graph->n_value_info++] = mk_vi("ghost", 1, -1, NULL);
    m->graph->node[1]->input[0] = S("ghost");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "'ghost'");
    /* Graph outputs too. */
    m = base_model();
    add_output(m->graph, "missing_out", 1, -1, NULL);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "graph output 'missing_out'");
    END();
}

static void test_cycle(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    /* add reads y (Relu's output), Relu reads add's output. */
    m->graph->node[0]->input[1] = S("y");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "cycle", "node 'add'");
    /* A node reading its own output. */
    m = base_model();
    m->graph->node[1]->input[0] = S("y");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "cycle", "node 'relu'");
    END();
}

static void test_duplicate_outputs(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    add_node(m->graph, "Neg", "neg", "x", "s");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'neg'", "'s'", "also produced by node 'add'");
    m = base_model();
    add_node(m->graph, "Neg", "neg", "x", "W");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'neg'", "'W'", "initializer");
    m = base_model();
    add_node(m->graph, "Neg", "neg", "s", "x");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'neg'", "'x'", "graph input");
    m = base_model();
    add_node(m->graph, "Split", "split", "x", "p,p");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'split'", "'p'");
    /* Initializers and inputs defined twice. */
    m = base_model();
    Onnx__TensorProto *w2 = add_init(m->graph, mk_tensor("W", 1, 1, (const int64_t[]){2}));
    set_raw(w2, (const float[]){1.0f, 2.0f}, 8);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "initializer 'W'", "twice");
    m = base_model();
    add_input(m->graph, "x", 1, -1, NULL);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "graph input 'x'", "twice");
    END();
}

static void test_missing_names(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    m->graph->initializer[0]->name = NULL;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "initializer #0", "no name");
    m = base_model();
    m->graph->input[0]->name = S("");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "input", "no name");
    m = base_model();
    m->graph->node[1]->op_type = S("");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node #1", "'relu'", "no op_type");
    END();
}

static void test_negative_dims(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    m->graph->initializer[0]->dims[0] = -2;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'W'", "negative");
    m = base_model();
    Onnx__TensorProto *t = add_init(m->graph, mk_tensor("E", 1, 2, (const int64_t[]){-1, 0}));
    (void)t;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'E'", "dim 0 is negative");
    m = base_model();
    m->graph->input[0]->type->tensor_type->shape->dim[0]->dim_value = -3;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "value 'x'", "dim 0 is negative");
    END();
}

static void test_dims_overflow(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    add_init(m->graph, mk_tensor("Big", 1, 3, (const int64_t[]){1LL << 31, 1LL << 31, 4}));
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'Big'", "product of dims overflows");
    /* The product fits int64 but the byte size does not fit size_t. */
    m = base_model();
    Onnx__TensorProto *t = add_init(m->graph, mk_tensor("Wide", 11, 1, (const int64_t[]){1LL << 62}));
    set_raw(t, "12345678", 8);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'Wide'", "overflows");
    /* Too many dims. */
    m = base_model();
    static int64_t ones[2000];
    for (int i = 0; i < 2000; i++)
        ones[i] = 1;
    t = add_init(m->graph, mk_tensor("Deep", 1, 2000, ones));
    set_raw(t, "1234", 4);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'Deep'", "rank 2000");
    END();
}

/* A tensor claiming a huge element count but carrying no data must be refused before
 * anything of that size is allocated (the loader used to calloc the claimed size first:
 * a 60-byte file could ask for terabytes). */
static void test_huge_tensor_without_data(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    add_init(m->graph, mk_tensor("Huge", 1, 2, (const int64_t[]){1LL << 30, 1LL << 30}));
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'Huge'", "no data");
    m = base_model();
    Onnx__TensorProto *t = add_init(m->graph, mk_tensor("HugeF", 1, 1, (const int64_t[]){1LL << 40}));
    t->n_float_data = 2;
    t->float_data = A(2 * sizeof(float));
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'HugeF'", "2 stored values");
    m = base_model();
    add_init(m->graph, mk_tensor("HugeS", 8, 1, (const int64_t[]){1LL << 40}));
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'HugeS'", "no data");
    END();
}

static void test_raw_data_size(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    set_raw(m->graph->initializer[0], "1234567", 7);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'W'", "raw_data has 7 bytes", "need 8");
    m = base_model();
    set_raw(m->graph->initializer[0], "123456789", 9);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'W'", "raw_data has 9 bytes");
    /* Sub-byte packing: int4 [3] needs 2 bytes. */
    m = base_model();
    Onnx__TensorProto *t = add_init(m->graph, mk_tensor("Q", 22, 1, (const int64_t[]){3}));
    set_raw(t, "123", 3);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'Q'", "raw_data has 3 bytes", "need 2");
    /* STRING data cannot be raw. */
    m = base_model();
    t = add_init(m->graph, mk_tensor("Str", 8, 1, (const int64_t[]){1}));
    set_raw(t, "ab", 2);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'Str'", "raw_data");
    END();
}

static void test_typed_data_mismatch(void)
{
    BEGIN();
    /* Too few values. */
    Onnx__ModelProto *m = base_model();
    Onnx__TensorProto *t = add_init(m->graph, mk_tensor("F", 1, 1, (const int64_t[]){3}));
    t->n_float_data = 2;
    t->float_data = A(2 * sizeof(float));
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'F'", "2 stored values", "need 3");
    /* Values in a field that does not match the type. */
    m = base_model();
    t = add_init(m->graph, mk_tensor("L", 7, 1, (const int64_t[]){2}));
    t->n_float_data = 2;
    t->float_data = A(2 * sizeof(float));
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'L'", "does not match its type INT64");
    /* Right field plus a stray one. */
    m = base_model();
    t = add_init(m->graph, mk_tensor("M", 7, 1, (const int64_t[]){1}));
    t->n_int64_data = 1;
    t->int64_data = A(sizeof(int64_t));
    t->n_int32_data = 1;
    t->int32_data = A(sizeof(int32_t));
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'M'", "does not match");
    /* Segments are not supported. */
    m = base_model();
    m->graph->initializer[0]->segment = A(sizeof(Onnx__TensorProto__Segment));
    onnx__tensor_proto__segment__init(m->graph->initializer[0]->segment);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_UNSUPPORTED, "tensor 'W'", "segment");
    END();
}

static void test_unknown_dtype(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    m->graph->initializer[0]->data_type = 99;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'W'", "unknown data type 99");
    m = base_model();
    m->graph->initializer[0]->has_data_type = 0;
    m->graph->initializer[0]->data_type = 0;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'W'", "unknown data type 0");
    m = base_model();
    m->graph->input[0]->type->tensor_type->elem_type = 99;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "value 'x'", "unknown data type 99");
    m = base_model();
    m->graph->output[0]->type->tensor_type->elem_type = -4;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "value 'y'", "unknown data type -4");
    END();
}

static void test_bad_attributes(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    add_attr(m->graph->node[1], "alpha", 1)->f = 1;
    add_attr(m->graph->node[1], "alpha", 1)->f = 2;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "'alpha'", "twice");
    m = base_model();
    add_attr(m->graph->node[1], "", 2);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "no name");
    m = base_model();
    add_attr(m->graph->node[1], "untyped", 0);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "'untyped'", "no type");
    m = base_model();
    add_attr(m->graph->node[1], "weird", 42);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "'weird'", "unknown type 42");
    m = base_model();
    add_attr(m->graph->node[1], "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "'value'", "no tensor");
    m = base_model();
    add_attr(m->graph->node[1], "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "'body'", "no graph");
    m = base_model();
    add_attr(m->graph->node[1], "ref", 2)->ref_attr_name = S("outer");
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'relu'", "'ref'", "function attribute");
    /* A tensor attribute is checked like an initializer. */
    m = base_model();
    Onnx__TensorProto *t = mk_tensor("cval", 1, 1, (const int64_t[]){4});
    set_raw(t, "12", 2);
    add_attr(m->graph->node[1], "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t = t;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'cval'", "raw_data has 2 bytes");
    END();
}

/* Writes `n` bytes of pattern into <dir>/<name>. */
static void write_data_file(const char *name, size_t n)
{
    uint8_t *buf = A(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 7 + 1);
    CU_ASSERT_FATAL(tu_write_file(tu_path(dir, name), buf, n));
}

static Onnx__ModelProto *external_model(const char *location, const char *offset,
                                        const char *length)
{
    Onnx__ModelProto *m = base_model();
    Onnx__TensorProto *w = m->graph->initializer[0];
    w->has_raw_data = 0;
    w->raw_data.len = 0;
    set_external(w, location, offset, length);
    return m;
}

static void test_external_location_absolute(void)
{
    BEGIN();
    write_data_file("w.bin", 8);
    char abs[4200];
    snprintf(abs, sizeof abs, "%s/w.bin", dir); /* exists, and inside the folder, still refused */
    EXPECT_LOAD_FAILS(external_model(abs, NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'", "absolute");
    EXPECT_LOAD_FAILS(external_model("/etc/passwd", NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "'/etc/passwd'", "absolute");
    EXPECT_LOAD_FAILS(external_model("C:\\w.bin", NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "absolute");
    END();
}

static void test_external_location_dotdot(void)
{
    BEGIN();
    write_data_file("w.bin", 8);
    CU_ASSERT_FATAL(mkdir(tu_path(dir, "sub"), 0700) == 0);
    /* Even a ".." that comes back inside the folder is refused. */
    EXPECT_LOAD_FAILS(external_model("sub/../w.bin", NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "escapes");
    EXPECT_LOAD_FAILS(external_model("../w.bin", NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "'../w.bin'", "escapes");
    EXPECT_LOAD_FAILS(external_model("sub\\..\\..\\w.bin", NULL, NULL), OGQ_ERR_FORMAT,
                      "tensor 'W'", "escapes");
    EXPECT_LOAD_FAILS(external_model("..", NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'", "escapes");
    END();
}

static void test_external_symlink_outside(void)
{
    BEGIN();
    char *other = tu_mkdtemp();
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    const char *target = tu_path(other, "secret.bin");
    CU_ASSERT_FATAL(tu_write_file(target, "12345678", 8));
    CU_ASSERT_FATAL(symlink(target, tu_path(dir, "link.bin")) == 0);
    EXPECT_LOAD_FAILS(external_model("link.bin", NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "'link.bin'", "outside the model folder");
    /* A symlinked folder leading out. */
    CU_ASSERT_FATAL(symlink(other, tu_path(dir, "out")) == 0);
    EXPECT_LOAD_FAILS(external_model("out/secret.bin", NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "outside the model folder");
    /* A symlink that stays inside is fine. */
    write_data_file("real.bin", 8);
    CU_ASSERT_FATAL(symlink("real.bin", tu_path(dir, "inside.bin")) == 0);
    const char *p = write_model(external_model("inside.bin", NULL, NULL), "ok.onnx");
    EXPECT_OK(load(p), &err);
    tu_rmtree(other);
    free(other);
    END();
}

static void test_external_missing_or_short(void)
{
    BEGIN();
    EXPECT_LOAD_FAILS(external_model("missing.bin", NULL, NULL), OGQ_ERR_IO, "tensor 'W'",
                      "'missing.bin'");
    EXPECT_LOAD_FAILS(external_model("", NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'", "no location");
    EXPECT_LOAD_FAILS(external_model(NULL, NULL, NULL), OGQ_ERR_FORMAT, "tensor 'W'", "no location");
    write_data_file("short.bin", 10);
    EXPECT_LOAD_FAILS(external_model("short.bin", "4", NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "'short.bin'", "shorter than offset 4 + length 8");
    EXPECT_LOAD_FAILS(external_model("short.bin", "3", "8"), OGQ_ERR_FORMAT, "tensor 'W'",
                      "shorter");
    EXPECT_LOAD_FAILS(external_model("short.bin", "9223372036854775800", NULL), OGQ_ERR_FORMAT,
                      "tensor 'W'", "shorter");
    EXPECT_LOAD_FAILS(external_model("short.bin", NULL, "4"), OGQ_ERR_FORMAT, "tensor 'W'",
                      "length is 4 bytes", "need 8");
    EXPECT_LOAD_FAILS(external_model("short.bin", "-1", NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "offset", "'-1'");
    EXPECT_LOAD_FAILS(external_model("short.bin", "1x", NULL), OGQ_ERR_FORMAT, "tensor 'W'",
                      "offset", "'1x'");
    EXPECT_LOAD_FAILS(external_model("short.bin", "99999999999999999999", NULL), OGQ_ERR_FORMAT,
                      "tensor 'W'", "offset");
    EXPECT_LOAD_FAILS(external_model("short.bin", NULL, ""), OGQ_ERR_FORMAT, "tensor 'W'",
                      "length", "empty");
    /* A folder is not a data file; neither is a FIFO (opening one must not block). */
    CU_ASSERT_FATAL(mkdir(tu_path(dir, "sub"), 0700) == 0);
    EXPECT_LOAD_FAILS(external_model("sub", NULL, NULL), OGQ_ERR_IO, "tensor 'W'", "'sub'");
    CU_ASSERT_FATAL(mkfifo(tu_path(dir, "pipe"), 0600) == 0);
    EXPECT_LOAD_FAILS(external_model("pipe", NULL, NULL), OGQ_ERR_IO, "tensor 'W'", "'pipe'",
                      "not a regular file");
    /* STRING tensors cannot be external. */
    Onnx__ModelProto *m = external_model("short.bin", NULL, NULL);
    m->graph->initializer[0]->data_type = 8;
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "tensor 'W'", "STRING");
    END();
}

static void test_external_refused_in_memory(void)
{
    BEGIN();
    write_data_file("w.bin", 8);
    size_t size;
    uint8_t *bytes = pack(external_model("w.bin", NULL, NULL), &size);
    EXPECT_ERROR(ogq_model_load_memory(bytes, size, "mem.onnx", NULL, &model, &err), &err,
                 OGQ_ERR_FORMAT, "mem.onnx", "tensor 'W'", "not allowed");
    CU_ASSERT_PTR_NULL(model);
    EXPECT_OK(ogq_model_load_memory(bytes, size, "mem.onnx", dir, &model, &err), &err);
    END();
}

static void test_external_in_subgraph(void)
{
    BEGIN();
    write_data_file("w.bin", 8);
    Onnx__ModelProto *m = base_model();
    add_input(m->graph, "cond", 9, 0, NULL);
    Onnx__GraphProto *then_g = mk_graph("then");
    Onnx__TensorProto *t = add_init(then_g, mk_tensor("Wt", 1, 1, (const int64_t[]){2}));
    set_external(t, "w.bin", NULL, NULL);
    add_output(then_g, "Wt", 1, 1, (const int64_t[]){2});
    Onnx__NodeProto *n = add_node(m->graph, "If", "branch", "cond", "o");
    add_attr_graph(n, "then_branch", then_g);
    add_attr_graph(n, "else_branch", then_g);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_UNSUPPORTED, "node 'branch'", "external data");
    END();
}

static void test_subgraph_unknown_name(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    add_input(m->graph, "cond", 9, 0, NULL);
    Onnx__GraphProto *then_g = mk_graph("then");
    add_node(then_g, "Identity", "inner", "nowhere", "t");
    add_output(then_g, "t", 1, -1, NULL);
    Onnx__NodeProto *n = add_node(m->graph, "If", "branch", "cond", "o");
    add_attr_graph(n, "then_branch", then_g);
    add_attr_graph(n, "else_branch", then_g);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'branch'", "'nowhere'");
    /* A subgraph output naming nothing. */
    m = base_model();
    add_input(m->graph, "cond", 9, 0, NULL);
    then_g = mk_graph("then");
    add_output(then_g, "void_out", 1, -1, NULL);
    n = add_node(m->graph, "If", "branch2", "cond", "o");
    add_attr_graph(n, "then_branch", then_g);
    EXPECT_LOAD_FAILS(m, OGQ_ERR_FORMAT, "node 'branch2'", "'void_out'");
    END();
}

static void test_deep_nesting(void)
{
    BEGIN();
    /* Far beyond the wire-depth limit: refused before protobuf-c recurses. */
    struct bytes g = nested_graph(3000);
    struct bytes m = model_around(&g);
    const char *p = write_bytes(&m, "deep.onnx");
    EXPECT_ERROR(load(p), &err, OGQ_ERR_FORMAT, p, "nest deeper than 256");
    /* The same through the memory API. */
    EXPECT_ERROR(ogq_model_load_memory(m.data, m.len, "deep-mem", NULL, &model, &err), &err,
                 OGQ_ERR_FORMAT, "deep-mem", "nest deeper");
    free(g.data);
    free(m.data);
    /* Within the wire limit but past the subgraph limit of 64. */
    g = nested_graph(70);
    m = model_around(&g);
    p = write_bytes(&m, "deep70.onnx");
    EXPECT_ERROR(load(p), &err, OGQ_ERR_FORMAT, p, "nested deeper than 64");
    free(g.data);
    free(m.data);
    /* 60 levels are fine. */
    g = nested_graph(60);
    m = model_around(&g);
    EXPECT_OK(load(write_bytes(&m, "deep60.onnx")), &err);
    if (model)
        CU_ASSERT_EQUAL(model->graph->n_nodes, 1);
    free(g.data);
    free(m.data);
    END();
}

static void test_deep_types(void)
{
    BEGIN();
    /* TypeProto sequence(sequence(...)) nested 1000 deep on a graph input. */
    struct bytes t = {0};
    b_field_bytes(&t, 1, "\x08\x01", 2); /* tensor_type { elem_type: FLOAT } */
    for (int i = 0; i < 1000; i++) {
        struct bytes seq = {0}, outer = {0};
        b_field_bytes(&seq, 1, t.data, t.len);     /* Sequence.elem_type */
        b_field_bytes(&outer, 4, seq.data, seq.len); /* TypeProto.sequence_type */
        free(seq.data);
        free(t.data);
        t = outer;
    }
    struct bytes vi = {0}, g = {0};
    b_field_str(&vi, 1, "x");
    b_field_bytes(&vi, 2, t.data, t.len);
    b_field_bytes(&g, 11, vi.data, vi.len); /* GraphProto.input */
    struct bytes m = model_around(&g);
    const char *p = write_bytes(&m, "types.onnx");
    EXPECT_ERROR(load(p), &err, OGQ_ERR_FORMAT, p, "nest deeper than");
    free(t.data);
    free(vi.data);
    free(g.data);
    free(m.data);
    END();
}

static void test_tensor_pb_bad(void)
{
    BEGIN();
    struct ogq_tensor *t = NULL;
    const char *p = tu_path(dir, "input_0.pb");
    CU_ASSERT_FATAL(tu_write_file(p, "\xff\xff\xff", 3));
    EXPECT_ERROR(ogq_tensor_load_pb(p, &t, &err), &err, OGQ_ERR_FORMAT, p, "TensorProto");
    Onnx__TensorProto *tp = mk_tensor("in", 1, 1, (const int64_t[]){3});
    set_raw(tp, "1234", 4);
    uint8_t buf[256];
    size_t n = onnx__tensor_proto__pack(tp, buf);
    CU_ASSERT_FATAL(tu_write_file(p, buf, n));
    EXPECT_ERROR(ogq_tensor_load_pb(p, &t, &err), &err, OGQ_ERR_FORMAT, p, "tensor 'in'",
                 "raw_data has 4 bytes");
    tp = mk_tensor("ext", 1, 1, (const int64_t[]){1});
    set_external(tp, "w.bin", NULL, NULL);
    write_data_file("w.bin", 4);
    n = onnx__tensor_proto__pack(tp, buf);
    CU_ASSERT_FATAL(tu_write_file(p, buf, n));
    EXPECT_ERROR(ogq_tensor_load_pb(p, &t, &err), &err, OGQ_ERR_FORMAT, p, "tensor 'ext'",
                 "not allowed");
    CU_ASSERT_PTR_NULL(t);
    /* And a good one, written back by ogq_tensor_save_pb. */
    tp = mk_tensor("good", 1, 1, (const int64_t[]){2});
    set_raw(tp, (const float[]){3.0f, -1.0f}, 8);
    n = onnx__tensor_proto__pack(tp, buf);
    CU_ASSERT_FATAL(tu_write_file(p, buf, n));
    EXPECT_OK(ogq_tensor_load_pb(p, &t, &err), &err);
    if (t) {
        CU_ASSERT_STRING_EQUAL(t->name, "good");
        CU_ASSERT_EQUAL(((float *)ogq_tensor_data(t))[1], -1.0f);
        const char *p2 = tu_path(dir, "copy.pb");
        EXPECT_OK(ogq_tensor_save_pb(t, p2, &err), &err);
        CU_ASSERT(tu_files_equal(p, p2));
        ogq_tensor_free(t);
    }
    END();
}

/* ================================================================ positive tests */

static const struct ogq_tensor *init(const char *name)
{
    const struct ogq_value *v = model ? ogq_graph_value(model->graph, name) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v->initializer);
    return v->initializer;
}

static void expect_bytes(const struct ogq_tensor *t, const void *want, size_t n)
{
    CU_ASSERT_EQUAL(t->nbytes, n);
    bool same = t->nbytes == n && (n == 0 || memcmp(ogq_tensor_data(t), want, n) == 0);
    CU_ASSERT(same);
    if (!same)
        fprintf(stderr, "\n  tensor '%s': bytes differ\n", t->name);
}

static void test_external_ok(void)
{
    BEGIN();
    /* w.bin: 64 bytes of padding, then W (2 floats), with W2 at offset 0 of the same file. */
    uint8_t file[72] = {0};
    float w[2] = {1.5f, -2.5f};
    memcpy(file + 64, w, 8);
    memcpy(file, (const float[]){7.0f, 8.0f}, 8);
    CU_ASSERT_FATAL(tu_write_file(tu_path(dir, "w.bin"), file, sizeof file));
    CU_ASSERT_FATAL(mkdir(tu_path(dir, "sub"), 0700) == 0);
    CU_ASSERT_FATAL(tu_write_file(tu_path(dir, "sub/v.bin"), (const int64_t[]){-9}, 8));

    Onnx__ModelProto *m = external_model("w.bin", "64", "8");
    Onnx__TensorProto *w2 = add_init(m->graph, mk_tensor("W2", 1, 1, (const int64_t[]){2}));
    set_external(w2, "w.bin", NULL, NULL);
    Onnx__TensorProto *v = add_init(m->graph, mk_tensor("V", 7, 0, NULL));
    set_external(v, "./sub/v.bin", "0", "8");
    const char *p = write_model(m, "model.onnx");
    EXPECT_OK(load(p), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);
    const struct ogq_tensor *tw = init("W"), *tw2 = init("W2"), *tv = init("V");
    expect_bytes(tw, w, 8);
    expect_bytes(tw2, (const float[]){7.0f, 8.0f}, 8);
    expect_bytes(tv, (const int64_t[]){-9}, 8);
    CU_ASSERT(tw->buf->is_mmap);
    CU_ASSERT_PTR_EQUAL(tw->buf, tw2->buf); /* one mapping per file */
    CU_ASSERT_EQUAL(tw->offset, 64);
    CU_ASSERT_EQUAL(tv->rank, 0);
    CU_ASSERT_EQUAL(model->n_external_files, 2);
    CU_ASSERT_STRING_EQUAL(model->path, p);

    /* Saving over either data file, or the model, is refused; elsewhere works. */
    EXPECT_ERROR(ogq_model_save(model, tu_path(dir, "w.bin"), NULL, &err), &err, OGQ_ERR_USAGE,
                 "w.bin", "external data");
    EXPECT_ERROR(ogq_model_save(model, tu_path(dir, "sub/v.bin"), NULL, &err), &err,
                 OGQ_ERR_USAGE, "v.bin");
    EXPECT_ERROR(ogq_model_save(model, p, NULL, &err), &err, OGQ_ERR_USAGE, p, "input model");
    struct ogq_save_options opts;
    ogq_save_options_init(&opts);
    opts.external = OGQ_EXTERNAL_ALWAYS;
    opts.min_external_bytes = 1;
    opts.external_name = "w.bin";
    EXPECT_ERROR(ogq_model_save(model, tu_path(dir, "other.onnx"), &opts, &err), &err,
                 OGQ_ERR_USAGE, "w.bin");
    CU_ASSERT(access(tu_path(dir, "other.onnx"), F_OK) != 0);
    opts.external_name = "../escape.bin";
    EXPECT_ERROR(ogq_model_save(model, tu_path(dir, "other.onnx"), &opts, &err), &err,
                 OGQ_ERR_USAGE, "../escape.bin");
    opts.external_name = "fresh.bin";
    const char *out = tu_path(dir, "other.onnx");
    EXPECT_OK(ogq_model_save(model, out, &opts, &err), &err);
    struct ogq_model *back = NULL;
    EXPECT_OK(ogq_model_load(out, &back, &err), &err);
    if (back) {
        CU_ASSERT(ogq_model_equal(model, back, NULL, 0));
        CU_ASSERT_EQUAL(back->n_external_files, 1);
        ogq_model_free(back);
    }
    /* Inline save of a model whose data was mapped. */
    const char *inl = tu_path(dir, "inline.onnx");
    EXPECT_OK(ogq_model_save(model, inl, NULL, &err), &err);
    EXPECT_OK(ogq_model_load(inl, &back, &err), &err);
    if (back) {
        CU_ASSERT(ogq_model_equal(model, back, NULL, 0));
        CU_ASSERT_EQUAL(back->n_external_files, 0);
        ogq_model_free(back);
    }
    END();
}

static void test_typed_fields(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    Onnx__GraphProto *g = m->graph;
    Onnx__TensorProto *t;

    t = add_init(g, mk_tensor("F", 1, 1, (const int64_t[]){3}));
    static float f[] = {1.5f, -2.0f, 3.25f};
    t->n_float_data = 3, t->float_data = f;

    t = add_init(g, mk_tensor("Fscalar", 1, 0, NULL));
    static float fs[] = {4.0f};
    t->n_float_data = 1, t->float_data = fs;

    t = add_init(g, mk_tensor("I8", 3, 1, (const int64_t[]){4}));
    static int32_t i8[] = {-1, 127, -128, 5};
    t->n_int32_data = 4, t->int32_data = i8;

    t = add_init(g, mk_tensor("U16", 4, 1, (const int64_t[]){2}));
    static int32_t u16[] = {65535, 258};
    t->n_int32_data = 2, t->int32_data = u16;

    t = add_init(g, mk_tensor("H", 10, 1, (const int64_t[]){2}));
    static int32_t h[] = {0x3c00, 0xc000};
    t->n_int32_data = 2, t->int32_data = h;

    t = add_init(g, mk_tensor("BF", 16, 1, (const int64_t[]){1}));
    static int32_t bf[] = {0x3f80};
    t->n_int32_data = 1, t->int32_data = bf;

    t = add_init(g, mk_tensor("B", 9, 1, (const int64_t[]){3}));
    static int32_t bo[] = {1, 0, 1};
    t->n_int32_data = 3, t->int32_data = bo;

    t = add_init(g, mk_tensor("I32", 6, 1, (const int64_t[]){2}));
    static int32_t i32[] = {-7, 2147483647};
    t->n_int32_data = 2, t->int32_data = i32;

    t = add_init(g, mk_tensor("I4", 22, 1, (const int64_t[]){3})); /* 2 packed bytes */
    static int32_t i4[] = {0x21, 0x0f};
    t->n_int32_data = 2, t->int32_data = i4;

    t = add_init(g, mk_tensor("L", 7, 2, (const int64_t[]){1, 2}));
    static int64_t l[] = {-5, 1LL << 40};
    t->n_int64_data = 2, t->int64_data = l;

    t = add_init(g, mk_tensor("D", 11, 1, (const int64_t[]){2}));
    static double d[] = {0.1, -1e300};
    t->n_double_data = 2, t->double_data = d;

    t = add_init(g, mk_tensor("C64", 14, 1, (const int64_t[]){1}));
    static float c64[] = {1.0f, -1.0f};
    t->n_float_data = 2, t->float_data = c64;

    t = add_init(g, mk_tensor("U64", 13, 1, (const int64_t[]){2}));
    static uint64_t u64[] = {UINT64_MAX, 7};
    t->n_uint64_data = 2, t->uint64_data = u64;

    t = add_init(g, mk_tensor("U32", 12, 1, (const int64_t[]){2}));
    static uint64_t u32[] = {0xffffffffu, 3};
    t->n_uint64_data = 2, t->uint64_data = u32;

    t = add_init(g, mk_tensor("S", 8, 1, (const int64_t[]){3}));
    static ProtobufCBinaryData s[] = {{2, (uint8_t *)"ab"}, {0, NULL}, {3, (uint8_t *)"x\0y"}};
    t->n_string_data = 3, t->string_data = s;

    add_init(g, mk_tensor("Empty", 1, 2, (const int64_t[]){0, 3}));

    const char *p = write_model(m, "typed.onnx");
    EXPECT_OK(load(p), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);
    expect_bytes(init("F"), f, sizeof f);
    expect_bytes(init("Fscalar"), fs, 4);
    CU_ASSERT_EQUAL(init("Fscalar")->rank, 0);
    expect_bytes(init("I8"), "\xff\x7f\x80\x05", 4);
    expect_bytes(init("U16"), "\xff\xff\x02\x01", 4);
    expect_bytes(init("H"), "\x00\x3c\x00\xc0", 4);
    expect_bytes(init("BF"), "\x80\x3f", 2);
    expect_bytes(init("B"), "\x01\x00\x01", 3);
    expect_bytes(init("I32"), i32, sizeof i32);
    expect_bytes(init("I4"), "\x21\x0f", 2);
    CU_ASSERT_EQUAL(init("I4")->numel, 3);
    expect_bytes(init("L"), l, sizeof l);
    expect_bytes(init("D"), d, sizeof d);
    expect_bytes(init("C64"), c64, sizeof c64);
    expect_bytes(init("U64"), u64, sizeof u64);
    expect_bytes(init("U32"), (const uint32_t[]){0xffffffffu, 3}, 8);
    const struct ogq_tensor *ts = init("S");
    CU_ASSERT_EQUAL(ts->numel, 3);
    CU_ASSERT_EQUAL(ts->strings[0].len, 2);
    CU_ASSERT(memcmp(ts->strings[0].data, "ab", 2) == 0);
    CU_ASSERT_EQUAL(ts->strings[1].len, 0);
    CU_ASSERT_EQUAL(ts->strings[2].len, 3);
    CU_ASSERT(memcmp(ts->strings[2].data, "x\0y", 3) == 0);
    CU_ASSERT_EQUAL(init("Empty")->numel, 0);
    CU_ASSERT_EQUAL(init("Empty")->nbytes, 0);

    /* Saved back as raw_data: same values. */
    const char *out = tu_path(dir, "typed-out.onnx");
    EXPECT_OK(ogq_model_save(model, out, NULL, &err), &err);
    struct ogq_model *back = NULL;
    EXPECT_OK(ogq_model_load(out, &back, &err), &err);
    if (back) {
        char why[256] = "";
        CU_ASSERT(ogq_model_equal(model, back, why, sizeof why));
        if (why[0])
            fprintf(stderr, "\n  %s\n", why);
        ogq_model_free(back);
    }
    END();
}

static void test_unsorted_nodes(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    Onnx__GraphProto *g = m->graph;
    /* Reverse: relu, add; plus an independent node in between and one at the end. */
    add_node(g, "Neg", "neg", "x", "nx");
    add_node(g, "Abs", "abs", "nx", "ax");
    add_output(g, "ax", 1, -1, NULL);
    Onnx__NodeProto *order[] = {g->node[3], g->node[1], g->node[2], g->node[0]}; /* abs relu neg add */
    memcpy(g->node, order, sizeof order);
    const char *p = write_model(m, "unsorted.onnx");
    EXPECT_OK(load(p), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);
    struct ogq_graph *ig = model->graph;
    CU_ASSERT_EQUAL_FATAL(ig->n_nodes, 4);
    /* Stable: neg (first ready in file order) → abs; add → relu. */
    CU_ASSERT_STRING_EQUAL(ig->nodes[0]->name, "neg");
    CU_ASSERT_STRING_EQUAL(ig->nodes[1]->name, "abs");
    CU_ASSERT_STRING_EQUAL(ig->nodes[2]->name, "add");
    CU_ASSERT_STRING_EQUAL(ig->nodes[3]->name, "relu");
    EXPECT_OK(ogq_graph_verify(ig, &err), &err);
    END();
}

static void test_subgraph_implicit_inputs(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    Onnx__GraphProto *g = m->graph;
    add_input(g, "cond", 9, 0, NULL);
    /* then: Identity(nx) where nx is made by "pre" (listed after the If in the file). */
    Onnx__GraphProto *then_g = mk_graph("then");
    add_node(then_g, "Identity", "t_id", "nx", "t_out");
    add_output(then_g, "t_out", 1, -1, NULL);
    /* else: a local value, plus a nested If whose branch reads W from the main graph. */
    Onnx__GraphProto *else_g = mk_graph("else");
    add_node(else_g, "Relu", "e_relu", "x", "local");
    Onnx__GraphProto *inner = mk_graph("inner");
    add_node(inner, "Add", "i_add", "local,W", "i_out");
    add_output(inner, "i_out", 1, -1, NULL);
    Onnx__NodeProto *nested = add_node(else_g, "If", "e_if", "cond", "e_out");
    add_attr_graph(nested, "then_branch", inner);
    add_attr_graph(nested, "else_branch", inner);
    add_output(else_g, "e_out", 1, -1, NULL);
    Onnx__NodeProto *ifn = add_node(g, "If", "if", "cond", "o");
    add_attr_graph(ifn, "then_branch", then_g);
    add_attr_graph(ifn, "else_branch", else_g);
    add_node(g, "Neg", "pre", "x", "nx");
    add_output(g, "o", 1, -1, NULL);
    /* The If node comes before "pre" in the file: the loader must order by the implicit
     * input. */
    CU_ASSERT_STRING_EQUAL(g->node[2]->name, "if");

    const char *p = write_model(m, "if.onnx");
    EXPECT_OK(load(p), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);
    struct ogq_graph *ig = model->graph;
    EXPECT_OK(ogq_graph_verify(ig, &err), &err);
    struct ogq_node *n = NULL;
    for (size_t i = 0; i < ig->n_nodes; i++)
        if (strcmp(ig->nodes[i]->name, "if") == 0)
            n = ig->nodes[i];
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT(n->has_subgraphs);
    CU_ASSERT_EQUAL_FATAL(n->n_implicit, 4);
    /* In order of discovery: nx (then), x and cond (else), W (nested); not `local`. */
    CU_ASSERT_STRING_EQUAL(n->implicit_inputs[0]->name, "nx");
    CU_ASSERT_STRING_EQUAL(n->implicit_inputs[1]->name, "x");
    CU_ASSERT_STRING_EQUAL(n->implicit_inputs[2]->name, "cond");
    CU_ASSERT_STRING_EQUAL(n->implicit_inputs[3]->name, "W");
    CU_ASSERT_PTR_NULL(ogq_graph_value(ig, "local"));
    struct ogq_value *nx = ogq_graph_value(ig, "nx");
    CU_ASSERT_PTR_NOT_NULL_FATAL(nx);
    CU_ASSERT_EQUAL(nx->n_uses, 1);
    CU_ASSERT_PTR_EQUAL(nx->uses[0].node, n);
    CU_ASSERT_EQUAL(nx->uses[0].input, -1);
    CU_ASSERT(ogq_graph_node_index(ig, nx->producer) < ogq_graph_node_index(ig, n));

    /* The implicit use keeps "pre" alive. */
    size_t removed = 99;
    ogq_graph_remove_dead(ig, &removed);
    CU_ASSERT_EQUAL(removed, 0);
    CU_ASSERT_PTR_NOT_NULL(ogq_graph_value(ig, "nx"));

    /* Round trip keeps the subgraphs (opaque) and the implicit inputs. */
    const char *out = tu_path(dir, "if-out.onnx");
    EXPECT_OK(ogq_model_save(model, out, NULL, &err), &err);
    struct ogq_model *back = NULL;
    EXPECT_OK(ogq_model_load(out, &back, &err), &err);
    if (back) {
        CU_ASSERT(ogq_model_equal(model, back, NULL, 0));
        ogq_model_free(back);
    }

    /* replace_uses follows implicit inputs too. */
    struct ogq_value *x = ogq_graph_value(ig, "x");
    size_t x_uses = x->n_uses;
    EXPECT_OK(ogq_graph_replace_uses(ig, nx, x, false, &err), &err);
    CU_ASSERT_PTR_EQUAL(n->implicit_inputs[0], x);
    CU_ASSERT_EQUAL(x->n_uses, x_uses + 1);
    CU_ASSERT_EQUAL(nx->n_uses, 0);
    EXPECT_OK(ogq_graph_verify(ig, &err), &err);
    /* Removing the If node drops all its implicit uses. */
    ogq_graph_remove_node(ig, n);
    CU_ASSERT_EQUAL(x->n_uses, 2); /* "add" and "pre" */
    EXPECT_OK(ogq_graph_verify(ig, &err), &err);
    END();
}

static void test_ir3_initializers_as_inputs(void)
{
    BEGIN();
    Onnx__ModelProto *m = base_model();
    m->ir_version = 3;
    add_input(m->graph, "W", 1, 1, (const int64_t[]){2});
    /* Duplicate and stale value_info entries are tolerated (first one kept). */
    m->graph->value_info[m->graph->n_value_info++] = mk_vi("s", 1, 1, (const int64_t[]){2});
    m->graph->value_info[m->graph->n_value_info++] = mk_vi("s", 7, -1, NULL);
    m->graph->value_info[m->graph->n_value_info++] = mk_vi("stale", 1, -1, NULL);
    const char *p = write_model(m, "ir3.onnx");
    EXPECT_OK(load(p), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);
    struct ogq_value *w = ogq_graph_value(model->graph, "W");
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT(w->is_graph_input);
    CU_ASSERT_PTR_NOT_NULL(w->initializer);
    CU_ASSERT_EQUAL(model->graph->n_inputs, 2);
    CU_ASSERT_EQUAL(model->graph->n_value_infos, 1);
    struct ogq_value *s = ogq_graph_value(model->graph, "s");
    CU_ASSERT(s->has_value_info);
    CU_ASSERT_EQUAL(s->type.dtype, OGQ_DTYPE_FLOAT);
    CU_ASSERT_EQUAL(model->ir_version, 3);
    EXPECT_OK(ogq_graph_verify(model->graph, &err), &err);
    END();
}

/* ---------------------------------------------------------------- fuzz regressions */

/* What fuzz/fuzz_load.c checks: a refusal is `want` with a message naming the input and
 * containing `needle`; an accepted model verifies, saves, and loads back equal. */
static void fuzz_case(const char *label, const void *data, size_t len, enum ogq_status want,
                      const char *needle)
{
    struct ogq_model *m = NULL;
    ogq_error_clear(&err);
    enum ogq_status st = ogq_model_load_memory(data, len, label, NULL, &m, &err);
    if (want != OGQ_OK) {
        EXPECT_ERROR(st, &err, want, label, needle);
        CU_ASSERT_PTR_NULL(m);
        return;
    }
    EXPECT_OK(st, &err);
    if (!m)
        return;
    EXPECT_OK(ogq_graph_verify(m->graph, &err), &err);
    const char *out = tu_path(dir, "fuzz-out.onnx");
    EXPECT_OK(ogq_model_save(m, out, NULL, &err), &err);
    struct ogq_model *back = NULL;
    EXPECT_OK(ogq_model_load(out, &back, &err), &err);
    if (back) {
        char why[256] = "";
        CU_ASSERT(ogq_model_equal(m, back, why, sizeof why));
        if (why[0])
            fprintf(stderr, "\n  %s: %s\n", label, why);
        ogq_model_free(back);
    }
    ogq_model_free(m);
}

/* Regression inputs found by fuzz/fuzz_load.c. */
static void test_fuzz_regressions(void)
{
    BEGIN();
    /* No ir_version: the saver wrote ir_version 0, which the loader then refused. Now an
     * absent ir_version stays absent. (Over-long tag for field 7, empty graph, unknown
     * field 10.) */
    static const uint8_t no_ir_version[] = {0xba, 0x00, 0x00, 0x50, 0x28};
    fuzz_case("no-ir-version", no_ir_version, sizeof no_ir_version, OGQ_OK, NULL);
    {
        struct ogq_model *m = NULL;
        EXPECT_OK(ogq_model_load_memory(no_ir_version, sizeof no_ir_version, "x", NULL, &m, &err),
                  &err);
        if (m) {
            CU_ASSERT_EQUAL(m->ir_version, 0);
            const char *out = tu_path(dir, "no-ir.onnx");
            EXPECT_OK(ogq_model_save(m, out, NULL, &err), &err);
            size_t n = 0;
            uint8_t *bytes = tu_read_file(out, &n);
            CU_ASSERT_PTR_NOT_NULL(bytes);
            CU_ASSERT(n > 0 && bytes[0] != 0x08); /* no field 1 (ir_version) written */
            free(bytes);
            ogq_model_free(m);
        }
    }
    /* Field number 0, encoded over-long ("80 00"): protobuf-c keeps it as an unknown field
     * but writes it back short, and then cannot read its own output. Refused on load, at
     * the top level, inside the graph, and deep inside an attribute. */
    static const uint8_t zero_top[] = {0x08, 0x08, 0x3a, 0x00, 0x80, 0x00, 0x04};
    fuzz_case("zero-top", zero_top, sizeof zero_top, OGQ_ERR_FORMAT, "field number 0");
    static const uint8_t zero_graph[] = {0x08, 0x08, 0x3a, 0x03, 0x80, 0x00, 0x04};
    fuzz_case("zero-graph", zero_graph, sizeof zero_graph, OGQ_ERR_FORMAT, "onnx.GraphProto");
    /* graph { node { op_type "Relu" attribute { name "a" type INT i 1 <field 0> } } } */
    static const uint8_t zero_attr[] = {0x08, 0x08, 0x3a, 0x17, 0x0a, 0x15, 0x22, 0x04, 'R', 'e',
                                        'l', 'u', 0x2a, 0x0d, 0x0a, 0x01, 'a', 0xa0, 0x01, 0x02,
                                        0x18, 0x01, 0x80, 0x00, 0x04, 0x40, 0x01};
    fuzz_case("zero-attr", zero_attr, sizeof zero_attr, OGQ_ERR_FORMAT, "onnx.AttributeProto");
    /* The same model without the bad field loads and round-trips. */
    static const uint8_t ok_attr[] = {0x08, 0x08, 0x3a, 0x14, 0x0a, 0x12, 0x22, 0x04, 'R', 'e',
                                      'l', 'u', 0x2a, 0x0a, 0x0a, 0x01, 'a', 0xa0, 0x01, 0x02,
                                      0x18, 0x01, 0x40, 0x01};
    fuzz_case("ok-attr", ok_attr, sizeof ok_attr, OGQ_OK, NULL);
    /* And in a TensorProto file. */
    static const uint8_t zero_tensor[] = {0x08, 0x01, 0x10, 0x01, 0x80, 0x00, 0x04, 0x4a, 0x04,
                                          0, 0, 0x80, 0x3f};
    const char *p = tu_path(dir, "zero.pb");
    CU_ASSERT_FATAL(tu_write_file(p, zero_tensor, sizeof zero_tensor));
    struct ogq_tensor *t = NULL;
    EXPECT_ERROR(ogq_tensor_load_pb(p, &t, &err), &err, OGQ_ERR_FORMAT, p, "field number 0");
    CU_ASSERT_PTR_NULL(t);
    END();
}

int main(void)
{
    static const struct tu_test bad[] = {
        TU_TEST(test_empty_file),
        TU_TEST(test_missing_file),
        TU_TEST(test_not_protobuf),
        TU_TEST(test_truncated),
        TU_TEST(test_wrong_wire_types),
        TU_TEST(test_no_graph_and_header),
        TU_TEST(test_input_names_no_value),
        TU_TEST(test_cycle),
        TU_TEST(test_duplicate_outputs),
        TU_TEST(test_missing_names),
        TU_TEST(test_negative_dims),
        TU_TEST(test_dims_overflow),
        TU_TEST(test_huge_tensor_without_data),
        TU_TEST(test_raw_data_size),
        TU_TEST(test_typed_data_mismatch),
        TU_TEST(test_unknown_dtype),
        TU_TEST(test_bad_attributes),
        TU_TEST(test_external_location_absolute),
        TU_TEST(test_external_location_dotdot),
        TU_TEST(test_external_symlink_outside),
        TU_TEST(test_external_missing_or_short),
        TU_TEST(test_external_refused_in_memory),
        TU_TEST(test_external_in_subgraph),
        TU_TEST(test_subgraph_unknown_name),
        TU_TEST(test_deep_nesting),
        TU_TEST(test_deep_types),
        TU_TEST(test_tensor_pb_bad),
        TU_TEST(test_fuzz_regressions),
    };
    static const struct tu_test good[] = {
        TU_TEST(test_external_ok),
        TU_TEST(test_typed_fields),
        TU_TEST(test_unsorted_nodes),
        TU_TEST(test_subgraph_implicit_inputs),
        TU_TEST(test_ir3_initializers_as_inputs),
    };
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (!tu_add_suite("hostile", bad, sizeof bad / sizeof bad[0]) ||
        !tu_add_suite("accepted", good, sizeof good / sizeof good[0])) {
        CU_cleanup_registry();
        return 2;
    }
    return tu_run();
}
