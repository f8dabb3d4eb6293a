/* opset_upgrade.c — raises a model's ai.onnx opset, converting node by node.
 *
 * The table below lists every operator the pass knows with all its ai.onnx
 * since_versions up to OGQ_OPSET_UPGRADE_MAX (checked against onnx.defs by the tests) and
 * an optional converter. A converter rewrites one node from its definition at the model's
 * opset (`from`) straight to its definition at `target`, applying each changelog step that
 * lies in (from, target]. Ops without a converter only widened their type sets or added
 * attributes whose defaults keep the old behaviour, so the new opset import is all they
 * need.
 *
 * Two passes over the main graph: a dry run calls every converter with `dry` set (it only
 * validates, and every refusal is logged) and checks the nodes of subgraphs, which stay
 * opaque protobuf and so are accepted only when their op needs no rewriting; the rewrite
 * pass runs only when nothing was refused, so a refused model is left unchanged.
 * Converters therefore validate everything before their first mutation.
 *
 * Static facts: some rewrites depend on an input's rank or element type (Softmax axis,
 * legacy broadcasting, Clip/Pad scalars). They come from declared types, initializers and
 * a small conservative forward propagation over the original graph. When a fact is
 * unknown we use a rewrite that does not need it (Flatten/Reshape around Softmax,
 * CastLike for scalars) or refuse the node.
 *
 * Semantics choices where the spec leaves room are documented at each converter
 * (Resize-10 nearest rounding, Dropout/BatchNormalization test mode).
 */
#include "opset_upgrade.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "onnx.pb-c.h"
#include "util/array.h"
#include "util/strmap.h"

/* Element type and rank of a value; 0 / -1 when unknown. */
struct fact {
    int dtype;
    int rank;
};

/* An INT64 list initializer made by the pass, reused for equal lists (many Unsqueeze/Slice
 * nodes need the same axes). */
struct int_const {
    struct ogq_value *v;
    int64_t *vals;
    size_t n;
};

struct up {
    struct ogq_model *m;
    struct ogq_graph *g;
    int64_t from, target;
    bool dry;
    struct ogq_strmap facts; /* value name -> struct fact in `store` */
    struct fact *store;
    char *log; /* refusals collected by the dry run, "; "-separated */
    size_t log_len, log_cap;
    size_t n_refused;
    struct int_const *ints; /* made so far */
    size_t n_ints, cap_ints;
    struct ogq_error *err;
};

typedef enum ogq_status (*convert_fn)(struct up *u, struct ogq_node *n);

struct op_rule {
    const char *op;
    int since[10]; /* since_versions <= OGQ_OPSET_UPGRADE_MAX, ascending, 0-terminated */
    convert_fn convert;
    /* The converter changes nothing for from >= last_change (used for subgraph nodes,
     * which are never rewritten). */
    int last_change;
};

/* ------------------------------------------------------------------ small helpers */

static bool is_default_domain(const char *d)
{
    return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

static bool op_is(const struct ogq_node *n, const char *op)
{
    return strcmp(n->op_type, op) == 0;
}

static const char *label(const struct ogq_node *n)
{
    if (n->name && *n->name)
        return n->name;
    if (n->n_outputs && n->outputs[0])
        return n->outputs[0]->name;
    return "(unnamed)";
}

static struct ogq_value *input(const struct ogq_node *n, size_t i)
{
    return i < n->n_inputs ? n->inputs[i] : NULL;
}

static struct ogq_value *output(const struct ogq_node *n, size_t i)
{
    return i < n->n_outputs ? n->outputs[i] : NULL;
}

static enum ogq_status log_append(struct up *u, const char *s)
{
    size_t len = strlen(s);
    if (u->log_len + len + 1 > u->log_cap) {
        size_t cap = u->log_cap ? u->log_cap : 512;
        while (cap < u->log_len + len + 1)
            cap *= 2;
        char *grown = realloc(u->log, cap);
        if (!grown)
            return OGQ_NOMEM(u->err);
        u->log = grown;
        u->log_cap = cap;
    }
    memcpy(u->log + u->log_len, s, len + 1);
    u->log_len += len;
    return OGQ_OK;
}

/* Records that `n` (NULL: the model) cannot be converted. In the dry run this is logged
 * and the caller goes on with the next node; in the rewrite pass it cannot happen (the dry
 * run saw the same node) and is reported as a bug. */
static enum ogq_status refuse(struct up *u, const struct ogq_node *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static enum ogq_status refuse(struct up *u, const struct ogq_node *n, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!u->dry)
        return ogq_error_set(u->err, OGQ_ERR_INTERNAL,
                             "opset upgrade: node '%s' refused after the check pass: %s",
                             n ? label(n) : "(model)", why);
    char line[1024];
    if (n)
        snprintf(line, sizeof line, "%snode '%s' (%s, opset %lld): %s", u->n_refused ? "; " : "",
                 label(n), n->op_type, (long long)u->from, why);
    else
        snprintf(line, sizeof line, "%smodel: %s", u->n_refused ? "; " : "", why);
    OGQ_TRY(log_append(u, line));
    u->n_refused++;
    return OGQ_ERR_UNSUPPORTED;
}

/* Minimum IR version for an ai.onnx opset (ONNX versioning table). */
static int64_t min_ir_version(int64_t opset)
{
    if (opset >= 21)
        return 10;
    if (opset >= 19)
        return 9;
    if (opset >= 15)
        return 8;
    if (opset >= 12)
        return 7;
    if (opset == 11)
        return 6;
    if (opset == 10)
        return 5;
    if (opset == 9)
        return 4;
    return 3;
}

/* ------------------------------------------------------------------ attributes */

/* Attribute `name` when present with type `type`; *bad is set when present with another
 * type (a malformed model, refused by the caller). */
static const struct ogq_attr *attr_typed(const struct ogq_node *n, const char *name,
                                         enum ogq_attr_type type, bool *bad)
{
    const struct ogq_attr *a = ogq_node_attr(n, name);
    if (a && a->type != type) {
        *bad = true;
        return NULL;
    }
    return a;
}

/* String value of a STRING attribute (never NULL). */
static const char *attr_str(const struct ogq_attr *a, const char *def)
{
    return a ? (a->s.data ? (const char *)a->s.data : "") : def;
}

/* ------------------------------------------------------------------ constants */

/* The constant tensor behind `v`: an initializer (not one that is also a graph input,
 * which a caller may override, except in IR < 4 where every initializer had to be an
 * input), or the `value` of the Constant node producing it. */
static const struct ogq_tensor *const_tensor(const struct up *u, const struct ogq_value *v)
{
    if (!v)
        return NULL;
    if (v->initializer)
        return !v->is_graph_input || u->m->ir_version < 4 ? v->initializer : NULL;
    const struct ogq_node *p = v->producer;
    if (p && is_default_domain(p->domain) && op_is(p, "Constant")) {
        const struct ogq_attr *a = ogq_node_attr(p, "value");
        if (a && a->type == OGQ_ATTR_TENSOR)
            return a->t;
    }
    return NULL;
}

/* Reads an INT64/INT32 tensor. Returns 1 with a new array (caller frees), 0 when `t` is
 * not such a tensor, -1 when out of memory. */
static int tensor_ints(const struct ogq_tensor *t, int64_t **out, size_t *n)
{
    if (!t || (t->dtype != OGQ_DTYPE_INT64 && t->dtype != OGQ_DTYPE_INT32) || t->numel < 0)
        return 0;
    size_t count = (size_t)t->numel;
    int64_t *v = malloc((count ? count : 1) * sizeof *v);
    if (!v)
        return -1;
    const unsigned char *p = ogq_tensor_data(t);
    for (size_t i = 0; i < count; i++) {
        if (t->dtype == OGQ_DTYPE_INT64) {
            memcpy(&v[i], p + 8 * i, 8);
        } else {
            int32_t x;
            memcpy(&x, p + 4 * i, 4);
            v[i] = x;
        }
    }
    *out = v;
    *n = count;
    return 1;
}

/* Reads a FLOAT tensor; same returns as tensor_ints. */
static int tensor_floats(const struct ogq_tensor *t, float **out, size_t *n)
{
    if (!t || t->dtype != OGQ_DTYPE_FLOAT || t->numel < 0)
        return 0;
    size_t count = (size_t)t->numel;
    float *v = malloc((count ? count : 1) * sizeof *v);
    if (!v)
        return -1;
    if (count)
        memcpy(v, ogq_tensor_data(t), count * sizeof *v);
    *out = v;
    *n = count;
    return 1;
}

/* float -> IEEE half, round to nearest even (overflow to inf). */
static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0u));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        unsigned shift = (unsigned)(14 - e);
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = sign | ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry into the exponent is the correct rounding */
    return (uint16_t)h;
}

/* float -> bfloat16, round to nearest even. */
static uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* ------------------------------------------------------------------ static facts */

static struct fact fact_of(const struct up *u, const struct ogq_value *v)
{
    struct fact f = {0, -1};
    if (v) {
        const struct fact *p = ogq_strmap_get(&u->facts, v->name);
        if (p)
            f = *p;
    }
    return f;
}

/* Adds what is learnt about `v` without overriding what was declared. */
static void learn(struct up *u, const struct ogq_value *v, int dtype, int rank)
{
    struct fact *p = v ? ogq_strmap_get(&u->facts, v->name) : NULL;
    if (!p)
        return;
    if (p->dtype == 0 && dtype > 0)
        p->dtype = dtype;
    if (p->rank < 0 && rank >= 0)
        p->rank = rank;
}

static bool name_in(const char *op, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(op, list[i]) == 0)
            return true;
    return false;
}

/* Output 0 has the element type and rank of input 0. */
/* clang-format off */
static const char *const SAME_AS_INPUT[] = {
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
    "BatchNormalization", "Ceil", "Celu", "Clip", "Conv", "ConvTranspose", "Cos", "Cosh",
    "CumSum", "DepthToSpace", "Dropout", "Elu", "Erf", "Exp", "Floor", "Gelu",
    "GlobalAveragePool", "GlobalMaxPool", "GroupNormalization", "HardSigmoid", "HardSwish",
    "Hardmax", "Identity", "InstanceNormalization", "LRN", "LayerNormalization", "LeakyRelu",
    "Log", "LogSoftmax", "LpNormalization", "MaxPool", "MeanVarianceNormalization", "Mish",
    "Neg", "Not", "PRelu", "Pad", "Reciprocal", "Relu", "Resize", "Round", "Selu", "Shrink",
    "Sigmoid", "Sign", "Sin", "Sinh", "Slice", "Softmax", "Softplus", "Softsign",
    "SpaceToDepth", "Sqrt", "Tan", "Tanh", "ThresholdedRelu", "Tile", "Transpose", "Trilu",
    "Upsample", NULL};
/* Multidirectional broadcasting, element type of input 0. */
static const char *const BROADCAST_SAME[] = {
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "BitShift", NULL};
/* Broadcasting comparisons and logic: BOOL. */
static const char *const BROADCAST_BOOL[] = {
    "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", NULL};
/* clang-format on */

static int max_rank(const struct up *u, const struct ogq_node *n, size_t first)
{
    int r = -1;
    for (size_t i = first; i < n->n_inputs; i++) {
        int ri = fact_of(u, n->inputs[i]).rank;
        if (!n->inputs[i] || ri < 0)
            return -1;
        if (ri > r)
            r = ri;
    }
    return r;
}

/* Number of entries of an axes list given as attribute `name` (opset < `input_since`) or
 * as a constant input `index`; -1 when unknown or absent. */
static int axes_count(const struct up *u, const struct ogq_node *n, const char *name,
                      int input_since, size_t index)
{
    if (u->from < input_since) {
        const struct ogq_attr *a = ogq_node_attr(n, name);
        return a && a->type == OGQ_ATTR_INTS ? (int)a->n : -1;
    }
    const struct ogq_tensor *t = const_tensor(u, input(n, index));
    return t && t->rank == 1 ? (int)t->numel : -1;
}

static void infer_node(struct up *u, const struct ogq_node *n)
{
    const char *op = n->op_type;
    struct ogq_value *y = output(n, 0);
    struct fact x = fact_of(u, input(n, 0));
    if (!is_default_domain(n->domain) || !y)
        return;
    if (name_in(op, SAME_AS_INPUT)) {
        learn(u, y, x.dtype, x.rank);
    } else if (name_in(op, BROADCAST_SAME)) {
        learn(u, y, x.dtype, max_rank(u, n, 0));
    } else if (name_in(op, BROADCAST_BOOL)) {
        learn(u, y, OGQ_DTYPE_BOOL, max_rank(u, n, 0));
    } else if (strcmp(op, "Where") == 0) {
        learn(u, y, fact_of(u, input(n, 1)).dtype, max_rank(u, n, 0));
    } else if (strcmp(op, "IsNaN") == 0 || strcmp(op, "IsInf") == 0) {
        learn(u, y, OGQ_DTYPE_BOOL, x.rank);
    } else if (strcmp(op, "Cast") == 0) {
        const struct ogq_attr *a = ogq_node_attr(n, "to");
        learn(u, y,
              a && a->type == OGQ_ATTR_INT && a->i > 0 && a->i < OGQ_DTYPE_COUNT_ ? (int)a->i : 0,
              x.rank);
    } else if (strcmp(op, "CastLike") == 0) {
        learn(u, y, fact_of(u, input(n, 1)).dtype, x.rank);
    } else if (strcmp(op, "MatMul") == 0) {
        int ra = x.rank, rb = fact_of(u, input(n, 1)).rank, r = -1;
        if (ra >= 1 && rb >= 1)
            r = ra == 1 && rb == 1 ? 0 : ra == 1 ? rb - 1 : rb == 1 ? ra - 1 : (ra > rb ? ra : rb);
        learn(u, y, x.dtype, r);
    } else if (strcmp(op, "Gemm") == 0 || strcmp(op, "Flatten") == 0) {
        learn(u, y, x.dtype, 2);
    } else if (strcmp(op, "Shape") == 0) {
        learn(u, y, OGQ_DTYPE_INT64, 1);
    } else if (strcmp(op, "Size") == 0) {
        learn(u, y, OGQ_DTYPE_INT64, 0);
    } else if (strcmp(op, "NonZero") == 0) {
        learn(u, y, OGQ_DTYPE_INT64, 2);
    } else if (strcmp(op, "Range") == 0) {
        learn(u, y, x.dtype, 1);
    } else if (strcmp(op, "Concat") == 0) {
        for (size_t i = 0; i < n->n_inputs; i++) {
            struct fact f = fact_of(u, n->inputs[i]);
            learn(u, y, f.dtype, f.rank);
        }
    } else if (strcmp(op, "Gather") == 0) {
        int ri = fact_of(u, input(n, 1)).rank;
        learn(u, y, x.dtype, x.rank >= 1 && ri >= 0 ? x.rank + ri - 1 : -1);
    } else if (strcmp(op, "GatherElements") == 0) {
        learn(u, y, x.dtype, fact_of(u, input(n, 1)).rank);
    } else if (strcmp(op, "Unsqueeze") == 0) {
        int k = axes_count(u, n, "axes", 13, 1);
        learn(u, y, x.dtype, x.rank >= 0 && k >= 0 ? x.rank + k : -1);
    } else if (strcmp(op, "Squeeze") == 0) {
        int k = axes_count(u, n, "axes", 13, 1);
        learn(u, y, x.dtype, x.rank >= 0 && k > 0 ? x.rank - k : -1);
    } else if (strcmp(op, "Reshape") == 0) {
        int k = -1;
        if (u->from < 5) {
            const struct ogq_attr *a = ogq_node_attr(n, "shape");
            k = a && a->type == OGQ_ATTR_INTS ? (int)a->n : -1;
        } else {
            const struct ogq_tensor *t = const_tensor(u, input(n, 1));
            k = t && t->rank == 1 ? (int)t->numel : -1;
        }
        learn(u, y, x.dtype, k);
    } else if (strncmp(op, "Reduce", 6) == 0) {
        int since = strcmp(op, "ReduceSum") == 0 ? 13 : 18;
        int r = -1; /* keepdims=0 with axes: stays unknown (axes may repeat) */
        if (ogq_node_attr_int(n, "keepdims", 1) != 0) {
            r = x.rank;
        } else if (x.rank >= 0) {
            bool absent = u->from < since ? !ogq_node_attr(n, "axes") : !input(n, 1);
            if (absent)
                r = u->from >= since && ogq_node_attr_int(n, "noop_with_empty_axes", 0) ? x.rank
                                                                                        : 0;
        }
        learn(u, y, x.dtype, r);
    } else if (strcmp(op, "ArgMax") == 0 || strcmp(op, "ArgMin") == 0) {
        bool keep = ogq_node_attr_int(n, "keepdims", 1) != 0;
        learn(u, y, OGQ_DTYPE_INT64, x.rank >= 0 ? (keep ? x.rank : x.rank - 1) : -1);
    } else if (strcmp(op, "TopK") == 0) {
        learn(u, y, x.dtype, x.rank);
        learn(u, output(n, 1), OGQ_DTYPE_INT64, x.rank);
    } else if (strcmp(op, "Split") == 0) {
        for (size_t i = 0; i < n->n_outputs; i++)
            learn(u, n->outputs[i], x.dtype, x.rank);
    } else if (strcmp(op, "Constant") == 0) {
        const struct ogq_attr *a = ogq_node_attr(n, "value");
        if (a && a->type == OGQ_ATTR_TENSOR && a->t)
            learn(u, y, a->t->dtype, a->t->rank);
        else if (ogq_node_attr(n, "value_float"))
            learn(u, y, OGQ_DTYPE_FLOAT, 0);
        else if (ogq_node_attr(n, "value_floats"))
            learn(u, y, OGQ_DTYPE_FLOAT, 1);
        else if (ogq_node_attr(n, "value_int"))
            learn(u, y, OGQ_DTYPE_INT64, 0);
        else if (ogq_node_attr(n, "value_ints"))
            learn(u, y, OGQ_DTYPE_INT64, 1);
    } else if (strcmp(op, "DequantizeLinear") == 0) {
        learn(u, y, u->from < 19 ? OGQ_DTYPE_FLOAT : fact_of(u, input(n, 1)).dtype, x.rank);
    }
}

static enum ogq_status build_facts(struct up *u)
{
    struct ogq_graph *g = u->g;
    u->store = calloc(g->n_values ? g->n_values : 1, sizeof *u->store);
    if (!u->store)
        return OGQ_NOMEM(u->err);
    for (size_t i = 0; i < g->n_values; i++) {
        const struct ogq_value *v = g->values[i];
        struct fact *f = &u->store[i];
        f->dtype = 0;
        f->rank = -1;
        if (v->initializer) {
            f->dtype = v->initializer->dtype;
            f->rank = v->initializer->rank;
        } else if (v->has_type && v->is_tensor) {
            f->dtype = v->type.dtype;
            f->rank = v->type.rank >= 0 ? v->type.rank : -1;
        }
        if (!ogq_strmap_put(&u->facts, v->name, f))
            return OGQ_NOMEM(u->err);
    }
    for (size_t i = 0; i < g->n_nodes; i++)
        infer_node(u, g->nodes[i]);
    return OGQ_OK;
}

/* ------------------------------------------------------------------ graph edits */

static enum ogq_status new_value(struct up *u, const struct ogq_node *n, const char *suffix,
                                 struct ogq_value **out)
{
    char base[400], name[480];
    snprintf(base, sizeof base, "%.300s_%s", label(n), suffix);
    ogq_graph_unique_name(u->g, base, name, sizeof name);
    return ogq_graph_add_value(u->g, name, out, u->err);
}

/* A new initializer of `dtype` and shape `dims` holding `data` (its full byte size). */
static enum ogq_status new_const(struct up *u, const struct ogq_node *n, const char *suffix,
                                 enum ogq_dtype dtype, int rank, const int64_t *dims,
                                 const void *data, struct ogq_value **out)
{
    struct ogq_value *v;
    OGQ_TRY(new_value(u, n, suffix, &v));
    struct ogq_tensor *t;
    OGQ_TRY(ogq_tensor_new(NULL, dtype, rank, dims, &t, u->err));
    if (t->nbytes)
        memcpy(ogq_tensor_data(t), data, t->nbytes);
    OGQ_TRY(ogq_graph_set_initializer(u->g, v, t, u->err));
    *out = v;
    return OGQ_OK;
}

static enum ogq_status new_ints(struct up *u, const struct ogq_node *n, const char *suffix,
                                const int64_t *vals, size_t count, struct ogq_value **out)
{
    for (size_t i = 0; i < u->n_ints; i++) {
        const struct int_const *c = &u->ints[i];
        if (c->n == count && (!count || memcmp(c->vals, vals, count * sizeof *vals) == 0)) {
            *out = c->v;
            return OGQ_OK;
        }
    }
    int64_t dim = (int64_t)count;
    OGQ_TRY(new_const(u, n, suffix, OGQ_DTYPE_INT64, 1, &dim, vals, out));
    int64_t *copy = malloc((count ? count : 1) * sizeof *copy);
    if (!copy ||
        !ogq_array_reserve((void **)&u->ints, &u->cap_ints, u->n_ints + 1, sizeof *u->ints)) {
        free(copy);
        return OGQ_NOMEM(u->err);
    }
    if (count)
        memcpy(copy, vals, count * sizeof *copy);
    u->ints[u->n_ints++] = (struct int_const){*out, copy, count};
    return OGQ_OK;
}

/* Inserts `op` before `before` with fresh outputs. `name` NULL: derived from `n`. */
static enum ogq_status emit(struct up *u, struct ogq_node *before, const struct ogq_node *n,
                            const char *op, const char *suffix, struct ogq_value *const *in,
                            size_t n_in, struct ogq_value **out_value, struct ogq_node **out_node)
{
    struct ogq_value *y;
    OGQ_TRY(new_value(u, n, suffix, &y));
    char name[400];
    snprintf(name, sizeof name, "%.300s/%s", label(n), suffix);
    OGQ_TRY(ogq_graph_insert_node(u->g, before, op, "", name, in, n_in, &y, 1, out_node, u->err));
    *out_value = y;
    return OGQ_OK;
}

/* Removes an initializer we stopped using (never a graph input/output or one still read). */
static enum ogq_status drop_if_unused(struct up *u, struct ogq_value *v)
{
    if (!v || !v->initializer || v->producer || v->n_uses || v->is_graph_input ||
        v->is_graph_output)
        return OGQ_OK;
    ogq_strmap_del(&u->facts, v->name); /* the map borrows the name */
    return ogq_graph_remove_value(u->g, v, u->err);
}

/* Removes `old` and puts `op` (named `name`) in its place producing old's outputs. */
static enum ogq_status replace_node(struct up *u, struct ogq_node *old, const char *op,
                                    const char *name, struct ogq_value *const *in, size_t n_in,
                                    struct ogq_node **out)
{
    ptrdiff_t pos = ogq_graph_node_index(u->g, old);
    if (pos < 0)
        return ogq_error_set(u->err, OGQ_ERR_INTERNAL, "opset upgrade: node '%s' not in graph",
                             label(old));
    size_t n_out = old->n_outputs;
    struct ogq_value **outs = malloc((n_out ? n_out : 1) * sizeof *outs);
    char *name_copy = strdup(name);
    if (!outs || !name_copy) {
        free(outs);
        free(name_copy);
        return OGQ_NOMEM(u->err);
    }
    memcpy(outs, old->outputs, n_out * sizeof *outs);
    ogq_graph_remove_node(u->g, old);
    struct ogq_node *before = (size_t)pos < u->g->n_nodes ? u->g->nodes[pos] : NULL;
    enum ogq_status st =
        ogq_graph_insert_node(u->g, before, op, "", name_copy, in, n_in, outs, n_out, out, u->err);
    free(outs);
    free(name_copy);
    return st;
}

/* Turns INTS attribute `attr` into input `index` (an INT64 initializer) and removes it. */
static enum ogq_status ints_attr_to_input(struct up *u, struct ogq_node *n, const char *attr,
                                          size_t index)
{
    const struct ogq_attr *a = ogq_node_attr(n, attr);
    if (!a)
        return OGQ_OK;
    struct ogq_value *v;
    OGQ_TRY(new_ints(u, n, attr, a->ints, a->n, &v));
    while (n->n_inputs < index)
        OGQ_TRY(ogq_node_set_input(u->g, n, n->n_inputs, NULL, u->err));
    OGQ_TRY(ogq_node_set_input(u->g, n, index, v, u->err));
    ogq_node_remove_attr(n, attr);
    return OGQ_OK;
}

static enum ogq_status set_input_padded(struct up *u, struct ogq_node *n, size_t index,
                                        struct ogq_value *v)
{
    while (n->n_inputs < index)
        OGQ_TRY(ogq_node_set_input(u->g, n, n->n_inputs, NULL, u->err));
    return ogq_node_set_input(u->g, n, index, v, u->err);
}

static bool float_dtype(int dt)
{
    return dt == OGQ_DTYPE_FLOAT || dt == OGQ_DTYPE_DOUBLE || dt == OGQ_DTYPE_FLOAT16 ||
           dt == OGQ_DTYPE_BFLOAT16;
}

/* Dry-run check for new_scalar_like. */
static enum ogq_status check_scalar_like(struct up *u, struct ogq_node *n,
                                         const struct ogq_value *like, const char *what)
{
    int dt = fact_of(u, like).dtype;
    if (float_dtype(dt))
        return OGQ_OK;
    if (dt != 0)
        return refuse(u, n, "%s for a %s input is not defined", what, ogq_dtype_name(dt));
    if (u->target < 15)
        return refuse(u, n,
                      "%s needs the input's element type, which is unknown (and CastLike "
                      "needs opset 15)",
                      what);
    return OGQ_OK;
}

/* A scalar constant `x` of the element type of `like` (a float type): an initializer when
 * that type is known, else a FLOAT initializer cast by a CastLike node. */
static enum ogq_status new_scalar_like(struct up *u, struct ogq_node *n, const char *suffix,
                                       double x, struct ogq_value *like, struct ogq_value **out)
{
    int dt = fact_of(u, like).dtype;
    float f = (float)x;
    uint16_t h;
    switch (dt) {
    case OGQ_DTYPE_DOUBLE:
        return new_const(u, n, suffix, OGQ_DTYPE_DOUBLE, 0, NULL, &x, out);
    case OGQ_DTYPE_FLOAT16:
        h = f32_to_f16(f);
        return new_const(u, n, suffix, OGQ_DTYPE_FLOAT16, 0, NULL, &h, out);
    case OGQ_DTYPE_BFLOAT16:
        h = f32_to_bf16(f);
        return new_const(u, n, suffix, OGQ_DTYPE_BFLOAT16, 0, NULL, &h, out);
    case OGQ_DTYPE_FLOAT:
        return new_const(u, n, suffix, OGQ_DTYPE_FLOAT, 0, NULL, &f, out);
    default:
        break;
    }
    struct ogq_value *c;
    OGQ_TRY(new_const(u, n, suffix, OGQ_DTYPE_FLOAT, 0, NULL, &f, &c));
    struct ogq_value *in[2] = {c, like};
    char s[64];
    snprintf(s, sizeof s, "%s_cast", suffix);
    return emit(u, n, n, "CastLike", s, in, 2, out, NULL);
}

/* Makes input `index` of `n` (rank `rank`) carry `trailing` extra size-1 axes at the end:
 * an initializer is re-viewed with the new shape, anything else goes through Unsqueeze. */
static enum ogq_status append_unit_axes(struct up *u, struct ogq_node *n, size_t index, int rank,
                                        int trailing)
{
    struct ogq_value *b = n->inputs[index], *nb;
    const struct ogq_tensor *t = b->initializer && !b->is_graph_input ? b->initializer : NULL;
    if (t && t->dtype != OGQ_DTYPE_STRING) {
        int64_t dims[64];
        for (int i = 0; i < rank; i++)
            dims[i] = t->dims[i];
        for (int i = 0; i < trailing; i++)
            dims[rank + i] = 1;
        OGQ_TRY(new_value(u, n, "bcast", &nb));
        struct ogq_tensor *view;
        OGQ_TRY(ogq_tensor_new_view(NULL, t->dtype, rank + trailing, dims, t->buf, t->offset,
                                    t->nbytes, &view, u->err));
        OGQ_TRY(ogq_graph_set_initializer(u->g, nb, view, u->err));
    } else {
        int64_t axes[64];
        for (int i = 0; i < trailing; i++)
            axes[i] = rank + i;
        struct ogq_node *un;
        if (u->target >= 13) {
            struct ogq_value *av;
            OGQ_TRY(new_ints(u, n, "bcast_axes", axes, (size_t)trailing, &av));
            struct ogq_value *in[2] = {b, av};
            OGQ_TRY(emit(u, n, n, "Unsqueeze", "bcast", in, 2, &nb, &un));
        } else {
            OGQ_TRY(emit(u, n, n, "Unsqueeze", "bcast", &b, 1, &nb, &un));
            OGQ_TRY(ogq_node_set_attr_ints(un, "axes", axes, (size_t)trailing, u->err));
        }
    }
    OGQ_TRY(ogq_node_set_input(u->g, n, index, nb, u->err));
    return drop_if_unused(u, b);
}

/* ------------------------------------------------------------------ converters */

/* Opset 6 removed `consumed_inputs` (a memory hint) from every op that had it. */
static void drop_consumed_inputs(struct up *u, struct ogq_node *n)
{
    if (u->from < 6 && u->target >= 6)
        ogq_node_remove_attr(n, "consumed_inputs");
}

static enum ogq_status conv_legacy_v1(struct up *u, struct ogq_node *n)
{
    if (!u->dry)
        drop_consumed_inputs(u, n);
    return OGQ_OK;
}

/* Selu-1 had less precise defaults than Selu-6: pin them when absent. */
static enum ogq_status conv_selu(struct up *u, struct ogq_node *n)
{
    if (u->dry || u->from >= 6 || u->target < 6)
        return OGQ_OK;
    drop_consumed_inputs(u, n);
    if (!ogq_node_attr(n, "alpha"))
        OGQ_TRY(ogq_node_set_attr_float(n, "alpha", 1.6732f, u->err));
    if (!ogq_node_attr(n, "gamma"))
        OGQ_TRY(ogq_node_set_attr_float(n, "gamma", 1.0507f, u->err));
    return OGQ_OK;
}

/* Before opset 7 binary ops broadcast only with broadcast=1, B's shape matching a
 * contiguous run of A's dims starting at `axis` (default: the trailing dims). Numpy
 * broadcasting gives the same result once B carries trailing 1s after that run. */
static enum ogq_status conv_legacy_binary(struct up *u, struct ogq_node *n)
{
    if (u->from >= 7 || u->target < 7)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *bc = attr_typed(n, "broadcast", OGQ_ATTR_INT, &bad);
    const struct ogq_attr *ax = attr_typed(n, "axis", OGQ_ATTR_INT, &bad);
    if (bad)
        return refuse(u, n, "attribute 'broadcast' or 'axis' has the wrong type");
    int trailing = 0, rb = -1;
    if (bc && bc->i && ax) {
        int ra = fact_of(u, input(n, 0)).rank;
        rb = fact_of(u, input(n, 1)).rank;
        if (ra < 0 || rb < 0)
            return refuse(u, n,
                          "legacy broadcast with axis=%lld needs both input ranks, which "
                          "are unknown",
                          (long long)ax->i);
        int64_t a = ax->i < 0 ? ax->i + ra : ax->i;
        if (a < 0 || a + rb > ra || ra > 64)
            return refuse(u, n, "legacy broadcast axis %lld does not fit ranks %d and %d",
                          (long long)ax->i, ra, rb);
        trailing = (int)(ra - a - rb);
    }
    if (u->dry)
        return OGQ_OK;
    drop_consumed_inputs(u, n);
    ogq_node_remove_attr(n, "broadcast");
    ogq_node_remove_attr(n, "axis");
    if (trailing > 0)
        OGQ_TRY(append_unit_axes(u, n, 1, rb, trailing));
    return OGQ_OK;
}

/* Gemm < 7: `broadcast` allowed C to broadcast to (M, N) by trailing dims, which
 * unidirectional broadcasting (opset 7) includes. */
static enum ogq_status conv_gemm(struct up *u, struct ogq_node *n)
{
    if (u->dry || u->from >= 7 || u->target < 7)
        return OGQ_OK;
    ogq_node_remove_attr(n, "broadcast");
    return OGQ_OK;
}

/* PRelu < 7 did not define how a slope of another shape than X (or a single value)
 * broadcasts; opset 7 uses unidirectional numpy broadcasting. Only the unambiguous cases
 * are converted. */
static enum ogq_status conv_prelu(struct up *u, struct ogq_node *n)
{
    if (u->from >= 7 || u->target < 7)
        return OGQ_OK;
    const struct ogq_tensor *s = const_tensor(u, input(n, 1));
    int rx = fact_of(u, input(n, 0)).rank, rs = fact_of(u, input(n, 1)).rank;
    if (!(s && s->numel == 1) && !(rx >= 0 && rs == rx))
        return refuse(u, n,
                      "legacy PRelu slope broadcasting is only converted for a "
                      "single-element slope or one of X's rank");
    if (!u->dry)
        drop_consumed_inputs(u, n);
    return OGQ_OK;
}

/* Softmax/LogSoftmax/Hardmax < 13 coerce the input to 2-D at `axis` (default 1) and
 * normalise each row; 13 normalises along the single axis (default -1). Same result when
 * axis is the last axis; otherwise Flatten(axis) -> op(axis=1) -> Reshape(Shape(X)). */
static enum ogq_status conv_softmax(struct up *u, struct ogq_node *n)
{
    if (u->from >= 13 || u->target < 13)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *a = attr_typed(n, "axis", OGQ_ATTR_INT, &bad);
    if (bad)
        return refuse(u, n, "attribute 'axis' is not an int");
    struct ogq_value *x = input(n, 0), *y = output(n, 0);
    if (!x || !y)
        return refuse(u, n, "missing input or output");
    int64_t axis = a ? a->i : 1;
    int rank = fact_of(u, x).rank;
    if (rank >= 0 && (axis < -rank || axis >= rank))
        return refuse(u, n, "axis %lld out of range for rank %d", (long long)axis, rank);
    bool last = axis == -1 || (rank >= 0 && (axis < 0 ? axis + rank : axis) == rank - 1);
    if (u->dry)
        return OGQ_OK;
    if (last)
        return a ? OGQ_OK : ogq_node_set_attr_int(n, "axis", axis, u->err);

    struct ogq_value *flat, *shape, *rows;
    struct ogq_node *fn, *sn, *rn, *mn;
    OGQ_TRY(emit(u, n, n, "Flatten", "flatten", &x, 1, &flat, &fn));
    OGQ_TRY(ogq_node_set_attr_int(fn, "axis", axis, u->err));
    OGQ_TRY(emit(u, n, n, "Shape", "shape", &x, 1, &shape, &sn));
    OGQ_TRY(new_value(u, n, "rows", &rows));
    char *name = strdup(n->name ? n->name : "");
    char *op = strdup(n->op_type);
    char rname[400];
    snprintf(rname, sizeof rname, "%.300s/reshape", label(n));
    struct ogq_value *rin[2] = {rows, shape};
    enum ogq_status st =
        name && op ? replace_node(u, n, "Reshape", rname, rin, 2, &rn) : OGQ_NOMEM(u->err);
    if (st == OGQ_OK && u->target >= 14) /* the shape comes from Shape: 0 means 0 */
        st = ogq_node_set_attr_int(rn, "allowzero", 1, u->err);
    if (st == OGQ_OK)
        st = ogq_graph_insert_node(u->g, rn, op, "", name, &flat, 1, &rows, 1, &mn, u->err);
    if (st == OGQ_OK)
        st = ogq_node_set_attr_int(mn, "axis", 1, u->err);
    free(name);
    free(op);
    return st;
}

/* BatchNormalization: consumed_inputs (6), is_test (7) and spatial (9) went away; the
 * extra outputs mean training mode and changed meaning at 7 and 14. Test mode with the
 * single output Y is converted; spatial=0 and training outputs are refused. */
static enum ogq_status conv_batchnorm(struct up *u, struct ogq_node *n)
{
    if (u->from >= 14 || u->target < 6)
        return OGQ_OK;
    bool extra = false;
    for (size_t i = 1; i < n->n_outputs; i++)
        extra = extra || n->outputs[i];
    if (extra && ((u->from < 7 && u->target >= 7) || u->target >= 14))
        return refuse(u, n,
                      "training-mode outputs (mean/var/saved statistics) are not "
                      "converted");
    bool bad = false;
    const struct ogq_attr *sp = attr_typed(n, "spatial", OGQ_ATTR_INT, &bad);
    if (bad)
        return refuse(u, n, "attribute 'spatial' is not an int");
    if (u->from < 9 && u->target >= 9 && sp && sp->i != 1)
        return refuse(u, n,
                      "spatial=%lld (per-activation statistics) has no equivalent from "
                      "opset 9",
                      (long long)sp->i);
    if (u->dry)
        return OGQ_OK;
    drop_consumed_inputs(u, n);
    if (u->from < 7 && u->target >= 7)
        ogq_node_remove_attr(n, "is_test");
    if (u->from < 9 && u->target >= 9)
        ogq_node_remove_attr(n, "spatial");
    return OGQ_OK;
}

/* Dropout is the identity at inference in every version. consumed_inputs/is_test went
 * away at 6/7 (a single-output graph runs it in test mode), the mask became BOOL at 10,
 * and ratio became an input at 12. */
static enum ogq_status conv_dropout(struct up *u, struct ogq_node *n)
{
    if (u->from >= 12)
        return OGQ_OK;
    struct ogq_value *mask = output(n, 1);
    if (u->from < 10 && u->target >= 10 && mask &&
        (mask->n_uses || mask->is_graph_output || mask->has_type))
        return refuse(u, n,
                      "the mask output changes type from the input's to BOOL at "
                      "opset 10");
    bool bad = false;
    const struct ogq_attr *r = attr_typed(n, "ratio", OGQ_ATTR_FLOAT, &bad);
    if (bad)
        return refuse(u, n, "attribute 'ratio' is not a float");
    if (u->dry)
        return OGQ_OK;
    drop_consumed_inputs(u, n);
    if (u->from < 7 && u->target >= 7)
        ogq_node_remove_attr(n, "is_test");
    if (u->target >= 12 && r) {
        struct ogq_value *rv;
        float ratio = r->f;
        OGQ_TRY(new_const(u, n, "ratio", OGQ_DTYPE_FLOAT, 0, NULL, &ratio, &rv));
        OGQ_TRY(set_input_padded(u, n, 1, rv));
        ogq_node_remove_attr(n, "ratio");
    }
    return OGQ_OK;
}

/* QuantizeLinear-19 ties y_scale's type to x's; before, x could be INT32 with a FLOAT
 * scale, which has no opset-19 form. */
static enum ogq_status conv_quantize(struct up *u, struct ogq_node *n)
{
    if (u->from < 19 && u->target >= 19 && fact_of(u, input(n, 0)).dtype == OGQ_DTYPE_INT32)
        return refuse(u, n, "INT32 input with a FLOAT scale has no form from opset 19");
    return OGQ_OK;
}

/* Concat-1 had an optional axis defaulting to 1; required from 4. */
static enum ogq_status conv_concat(struct up *u, struct ogq_node *n)
{
    if (u->dry || u->from >= 4 || u->target < 4 || ogq_node_attr(n, "axis"))
        return OGQ_OK;
    return ogq_node_set_attr_int(n, "axis", 1, u->err);
}

static enum ogq_status conv_reshape(struct up *u, struct ogq_node *n)
{
    if (u->from >= 5 || u->target < 5)
        return OGQ_OK;
    bool bad = false;
    if (!attr_typed(n, "shape", OGQ_ATTR_INTS, &bad))
        return refuse(u, n, "attribute 'shape' is missing or not ints");
    if (u->dry)
        return OGQ_OK;
    drop_consumed_inputs(u, n);
    return ints_attr_to_input(u, n, "shape", 1);
}

static const struct {
    const char *name;
    int dtype;
} TYPE_NAMES[] = {
    {"FLOAT", OGQ_DTYPE_FLOAT},
    {"UINT8", OGQ_DTYPE_UINT8},
    {"INT8", OGQ_DTYPE_INT8},
    {"UINT16", OGQ_DTYPE_UINT16},
    {"INT16", OGQ_DTYPE_INT16},
    {"INT32", OGQ_DTYPE_INT32},
    {"INT64", OGQ_DTYPE_INT64},
    {"STRING", OGQ_DTYPE_STRING},
    {"BOOL", OGQ_DTYPE_BOOL},
    {"FLOAT16", OGQ_DTYPE_FLOAT16},
    {"DOUBLE", OGQ_DTYPE_DOUBLE},
    {"UINT32", OGQ_DTYPE_UINT32},
    {"UINT64", OGQ_DTYPE_UINT64},
    {"COMPLEX64", OGQ_DTYPE_COMPLEX64},
    {"COMPLEX128", OGQ_DTYPE_COMPLEX128},
};

/* Cast-1 named the target type with a string. */
static enum ogq_status conv_cast(struct up *u, struct ogq_node *n)
{
    if (u->from >= 6 || u->target < 6)
        return OGQ_OK;
    const struct ogq_attr *a = ogq_node_attr(n, "to");
    if (!a)
        return refuse(u, n, "attribute 'to' is missing");
    if (a->type == OGQ_ATTR_INT)
        return OGQ_OK;
    if (a->type != OGQ_ATTR_STRING)
        return refuse(u, n, "attribute 'to' is neither a string nor an int");
    const char *s = a->s.data ? (const char *)a->s.data : "";
    for (size_t i = 0; i < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0]; i++)
        if (strcasecmp(s, TYPE_NAMES[i].name) == 0)
            return u->dry ? OGQ_OK : ogq_node_set_attr_int(n, "to", TYPE_NAMES[i].dtype, u->err);
    return refuse(u, n, "unknown type name '%s' in attribute 'to'", s);
}

/* Clip: min/max attributes became optional inputs of the data's type at 11. Before 6 an
 * absent bound did not clip; from 6 it defaulted to ∓FLT_MAX, which differs from "no
 * bound" for infinities and DOUBLE data, so from 6 an absent bound is written as ∓FLT_MAX
 * (rounded to the data type: ∓inf for float16, so again exact). */
static enum ogq_status conv_clip(struct up *u, struct ogq_node *n)
{
    if (u->from >= 11 || u->target < 6)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *mn = attr_typed(n, "min", OGQ_ATTR_FLOAT, &bad);
    const struct ogq_attr *mx = attr_typed(n, "max", OGQ_ATTR_FLOAT, &bad);
    if (bad)
        return refuse(u, n, "attribute 'min' or 'max' is not a float");
    struct ogq_value *x = input(n, 0);
    bool keep_default = u->from >= 6;
    bool need_lo = mn || keep_default, need_hi = mx || keep_default;
    if (u->target >= 11 && (need_lo || need_hi))
        OGQ_TRY(check_scalar_like(u, n, x, "a Clip bound"));
    if (u->dry)
        return OGQ_OK;
    drop_consumed_inputs(u, n);
    if (u->target < 11)
        return OGQ_OK;
    struct ogq_value *lo = NULL, *hi = NULL;
    if (need_lo)
        OGQ_TRY(new_scalar_like(u, n, "min", mn ? mn->f : -FLT_MAX, x, &lo));
    if (need_hi)
        OGQ_TRY(new_scalar_like(u, n, "max", mx ? mx->f : FLT_MAX, x, &hi));
    if (lo || hi)
        OGQ_TRY(set_input_padded(u, n, 1, lo));
    if (hi)
        OGQ_TRY(set_input_padded(u, n, 2, hi));
    ogq_node_remove_attr(n, "min");
    ogq_node_remove_attr(n, "max");
    return OGQ_OK;
}

/* Pad: `paddings` was renamed `pads` at 2; pads and value became inputs at 11. */
static enum ogq_status conv_pad(struct up *u, struct ogq_node *n)
{
    if (u->from >= 11 || u->target < 2)
        return OGQ_OK;
    bool bad = false;
    const char *pads_name = u->from < 2 ? "paddings" : "pads";
    const struct ogq_attr *p = attr_typed(n, pads_name, OGQ_ATTR_INTS, &bad);
    const struct ogq_attr *val = attr_typed(n, "value", OGQ_ATTR_FLOAT, &bad);
    const struct ogq_attr *mode = attr_typed(n, "mode", OGQ_ATTR_STRING, &bad);
    if (bad || !p)
        return refuse(u, n, "attribute '%s' is missing or an attribute has the wrong type",
                      pads_name);
    bool constant = strcmp(attr_str(mode, "constant"), "constant") == 0;
    bool need_value = u->target >= 11 && constant && val && (val->f != 0.0f || signbit(val->f));
    if (need_value)
        OGQ_TRY(check_scalar_like(u, n, input(n, 0), "a Pad constant value"));
    if (u->dry)
        return OGQ_OK;
    if (u->target < 11) { /* from 1 to 2..10: rename only */
        if (u->from >= 2)
            return OGQ_OK;
        int64_t *copy = malloc((p->n ? p->n : 1) * sizeof *copy);
        if (!copy)
            return OGQ_NOMEM(u->err);
        if (p->n)
            memcpy(copy, p->ints, p->n * sizeof *copy);
        size_t cnt = p->n;
        ogq_node_remove_attr(n, "paddings");
        enum ogq_status st = ogq_node_set_attr_ints(n, "pads", copy, cnt, u->err);
        free(copy);
        return st;
    }
    float value = val ? val->f : 0.0f;
    OGQ_TRY(ints_attr_to_input(u, n, pads_name, 1));
    if (need_value) {
        struct ogq_value *cv;
        OGQ_TRY(new_scalar_like(u, n, "value", value, input(n, 0), &cv));
        OGQ_TRY(set_input_padded(u, n, 2, cv));
    }
    ogq_node_remove_attr(n, "value");
    return OGQ_OK;
}

/* Reduce*: axes attribute -> optional input (ReduceSum at 13, the others at 18). An empty
 * or absent axes list reduces everything in both forms (noop_with_empty_axes = 0). */
static enum ogq_status conv_reduce(struct up *u, struct ogq_node *n)
{
    int step = op_is(n, "ReduceSum") ? 13 : 18;
    if (u->from >= step || u->target < step)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *a = attr_typed(n, "axes", OGQ_ATTR_INTS, &bad);
    if (bad)
        return refuse(u, n, "attribute 'axes' is not ints");
    if (u->dry)
        return OGQ_OK;
    if (a && a->n == 0) {
        ogq_node_remove_attr(n, "axes");
        return OGQ_OK;
    }
    return ints_attr_to_input(u, n, "axes", 1);
}

/* Squeeze/Unsqueeze: axes attribute -> input at 13 (required for Unsqueeze). */
static enum ogq_status conv_squeeze(struct up *u, struct ogq_node *n)
{
    if (u->from >= 13 || u->target < 13)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *a = attr_typed(n, "axes", OGQ_ATTR_INTS, &bad);
    bool squeeze = op_is(n, "Squeeze");
    if (bad || (!a && !squeeze) || (a && a->n == 0 && !squeeze))
        return refuse(u, n, "attribute 'axes' is missing, empty or not ints");
    if (u->dry)
        return OGQ_OK;
    if (a && a->n == 0) { /* Squeeze with an empty list: every unit axis, like no axes */
        ogq_node_remove_attr(n, "axes");
        return OGQ_OK;
    }
    return ints_attr_to_input(u, n, "axes", 1);
}

/* Slice: starts/ends/axes attributes -> inputs at 10 (same clamping rules). */
static enum ogq_status conv_slice(struct up *u, struct ogq_node *n)
{
    if (u->from >= 10 || u->target < 10)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *s = attr_typed(n, "starts", OGQ_ATTR_INTS, &bad);
    const struct ogq_attr *e = attr_typed(n, "ends", OGQ_ATTR_INTS, &bad);
    attr_typed(n, "axes", OGQ_ATTR_INTS, &bad);
    if (bad || !s || !e)
        return refuse(u, n, "attributes 'starts'/'ends' are missing or not ints");
    if (u->dry)
        return OGQ_OK;
    OGQ_TRY(ints_attr_to_input(u, n, "starts", 1));
    OGQ_TRY(ints_attr_to_input(u, n, "ends", 2));
    return ints_attr_to_input(u, n, "axes", 3);
}

/* TopK: k attribute -> 1-element input at 10. */
static enum ogq_status conv_topk(struct up *u, struct ogq_node *n)
{
    if (u->from >= 10 || u->target < 10)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *k = attr_typed(n, "k", OGQ_ATTR_INT, &bad);
    if (bad || !k)
        return refuse(u, n, "attribute 'k' is missing or not an int");
    if (u->dry)
        return OGQ_OK;
    struct ogq_value *kv;
    OGQ_TRY(new_ints(u, n, "k", &k->i, 1, &kv));
    OGQ_TRY(set_input_padded(u, n, 1, kv));
    ogq_node_remove_attr(n, "k");
    return OGQ_OK;
}

/* Split: v1 took `split` as an attribute or a second input; it became an input again at
 * 13; from 18 a split without `split` must say num_outputs (equal chunks, as before). */
static enum ogq_status conv_split(struct up *u, struct ogq_node *n)
{
    if (u->from >= 18 || u->target < 2)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *a = attr_typed(n, "split", OGQ_ATTR_INTS, &bad);
    if (bad)
        return refuse(u, n, "attribute 'split' is not ints");
    int64_t *sizes = NULL;
    size_t n_sizes = 0;
    bool have = a != NULL;
    struct ogq_value *old_in = NULL;
    if (u->from < 2 && input(n, 1)) {
        old_in = input(n, 1);
        int r = tensor_ints(const_tensor(u, old_in), &sizes, &n_sizes);
        if (r < 0)
            return OGQ_NOMEM(u->err);
        if (r == 0 || u->target < 13) {
            free(sizes);
            return refuse(u, n,
                          "Split-1 with a 'split' input is only converted when constant "
                          "and to opset 13 or later");
        }
        have = true;
    } else if (a) {
        sizes = malloc((a->n ? a->n : 1) * sizeof *sizes);
        if (!sizes)
            return OGQ_NOMEM(u->err);
        if (a->n)
            memcpy(sizes, a->ints, a->n * sizeof *sizes);
        n_sizes = a->n;
    }
    if (u->from >= 13)
        have = input(n, 1) != NULL;
    enum ogq_status st = OGQ_OK;
    if (!u->dry) {
        if (old_in) {
            st = ogq_node_set_input(u->g, n, 1, NULL, u->err);
            if (st == OGQ_OK)
                st = drop_if_unused(u, old_in);
        }
        if (st == OGQ_OK && u->from < 13 && have && u->target >= 13) {
            struct ogq_value *sv;
            ogq_node_remove_attr(n, "split");
            st = new_ints(u, n, "split", sizes, n_sizes, &sv);
            if (st == OGQ_OK)
                st = set_input_padded(u, n, 1, sv);
        }
        if (st == OGQ_OK && !have && u->target >= 18)
            st = ogq_node_set_attr_int(n, "num_outputs", (int64_t)n->n_outputs, u->err);
    }
    free(sizes);
    return st;
}

/* Resize 10 -> 11 and 11/12 -> 13.
 * Resize-10 (like Upsample) maps output x to input x / scale ("asymmetric"); its nearest
 * rounding is not written down. ONNX Runtime floors when upsampling and takes the ceiling
 * when downsampling, per axis; we keep that with nearest_mode floor/ceil, which needs
 * constant scales that do not mix both directions. 13 dropped "tf_half_pixel_for_nn",
 * which has no equivalent, and made roi/scales optional (empty constants are dropped). */
static enum ogq_status conv_resize(struct up *u, struct ogq_node *n)
{
    if (u->from >= 13 || u->target < 11)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *mode = attr_typed(n, "mode", OGQ_ATTR_STRING, &bad);
    const struct ogq_attr *ctm =
        attr_typed(n, "coordinate_transformation_mode", OGQ_ATTR_STRING, &bad);
    if (bad)
        return refuse(u, n,
                      "attribute 'mode' or 'coordinate_transformation_mode' is not a "
                      "string");
    const char *mode_s = attr_str(mode, "nearest");
    const char *nearest_mode = NULL;
    if (u->from == 10) {
        if (strcmp(mode_s, "nearest") != 0 && strcmp(mode_s, "linear") != 0)
            return refuse(u, n, "Resize-10 mode '%s' is not defined", mode_s);
        if (strcmp(mode_s, "nearest") == 0) {
            float *s = NULL;
            size_t ns = 0;
            int r = tensor_floats(const_tensor(u, input(n, 1)), &s, &ns);
            if (r < 0)
                return OGQ_NOMEM(u->err);
            if (r == 0)
                return refuse(u, n,
                              "Resize-10 nearest with non-constant scales: the rounding "
                              "(floor up, ceil down) depends on their values");
            bool up = false, down = false;
            for (size_t i = 0; i < ns; i++) {
                up = up || s[i] > 1.0f;
                down = down || s[i] < 1.0f;
            }
            free(s);
            if (up && down)
                return refuse(u, n,
                              "Resize-10 nearest that upsamples some axes and "
                              "downsamples others has no single nearest_mode");
            nearest_mode = down ? "ceil" : "floor";
        }
    } else if (u->target >= 13 && strcmp(attr_str(ctm, ""), "tf_half_pixel_for_nn") == 0) {
        return refuse(u, n,
                      "coordinate_transformation_mode 'tf_half_pixel_for_nn' was "
                      "removed at opset 13 and has no equivalent");
    }
    if (u->dry)
        return OGQ_OK;
    if (u->from == 10) {
        struct ogq_value *scales = input(n, 1), *roi = NULL;
        if (u->target < 13) {
            int64_t zero = 0;
            OGQ_TRY(new_const(u, n, "roi", OGQ_DTYPE_FLOAT, 1, &zero, NULL, &roi));
        }
        OGQ_TRY(ogq_node_set_input(u->g, n, 1, roi, u->err));
        OGQ_TRY(set_input_padded(u, n, 2, scales));
        OGQ_TRY(
            ogq_node_set_attr_string(n, "coordinate_transformation_mode", "asymmetric", u->err));
        if (nearest_mode)
            OGQ_TRY(ogq_node_set_attr_string(n, "nearest_mode", nearest_mode, u->err));
        return OGQ_OK;
    }
    /* 11/12 -> 13+: drop empty constant roi/scales (scales only when sizes is given). */
    struct ogq_value *roi = input(n, 1), *scales = input(n, 2);
    const struct ogq_tensor *rt = const_tensor(u, roi), *st = const_tensor(u, scales);
    if (rt && rt->numel == 0) {
        OGQ_TRY(ogq_node_set_input(u->g, n, 1, NULL, u->err));
        OGQ_TRY(drop_if_unused(u, roi));
    }
    if (st && st->numel == 0 && input(n, 3)) {
        OGQ_TRY(ogq_node_set_input(u->g, n, 2, NULL, u->err));
        OGQ_TRY(drop_if_unused(u, scales));
    }
    return OGQ_OK;
}

/* Upsample (deprecated at 10) -> Resize with the same asymmetric mapping; its scales are
 * >= 1 by definition, so nearest rounds down (floor). */
static enum ogq_status conv_upsample(struct up *u, struct ogq_node *n)
{
    if (u->target < 10) {
        if ((u->from < 7 && u->target >= 7) || (u->from < 9 && u->target >= 9))
            return refuse(u, n, "upgrading Upsample is only done to opset 10 or later");
        return OGQ_OK;
    }
    bool bad = false;
    const struct ogq_attr *mode = attr_typed(n, "mode", OGQ_ATTR_STRING, &bad);
    const struct ogq_attr *sc = attr_typed(n, "scales", OGQ_ATTR_FLOATS, &bad);
    const struct ogq_attr *hs = attr_typed(n, "height_scale", OGQ_ATTR_FLOAT, &bad);
    const struct ogq_attr *ws = attr_typed(n, "width_scale", OGQ_ATTR_FLOAT, &bad);
    if (bad)
        return refuse(u, n, "an attribute has the wrong type");
    const char *mode_s = attr_str(mode, "nearest");
    bool nearest = strcmp(mode_s, "nearest") == 0;
    if (!nearest && strcmp(mode_s, "linear") != 0 &&
        !(u->from < 7 && strcmp(mode_s, "bilinear") == 0))
        return refuse(u, n, "Upsample mode '%s' is not defined", mode_s);
    float scales4[4] = {1.0f, 1.0f, 0.0f, 0.0f};
    const float *sv = NULL;
    size_t ns = 0;
    if (u->from >= 9) {
        if (!input(n, 1))
            return refuse(u, n, "input 'scales' is missing");
    } else if (u->from >= 7) {
        if (!sc)
            return refuse(u, n, "attribute 'scales' is missing");
        sv = sc->floats;
        ns = sc->n;
    } else {
        if (!hs || !ws)
            return refuse(u, n, "attributes 'height_scale'/'width_scale' are missing");
        scales4[2] = hs->f;
        scales4[3] = ws->f;
        sv = scales4;
        ns = 4;
    }
    for (size_t i = 0; i < ns; i++)
        if (!(sv[i] >= 1.0f))
            return refuse(u, n, "Upsample scale %g is below 1", (double)sv[i]);
    if (u->dry)
        return OGQ_OK;

    struct ogq_value *x = input(n, 0), *scales = input(n, 1), *roi = NULL;
    if (u->from < 9) {
        int64_t dim = (int64_t)ns;
        OGQ_TRY(new_const(u, n, "scales", OGQ_DTYPE_FLOAT, 1, &dim, sv, &scales));
    }
    if (u->target >= 11 && u->target < 13) {
        int64_t zero = 0;
        OGQ_TRY(new_const(u, n, "roi", OGQ_DTYPE_FLOAT, 1, &zero, NULL, &roi));
    }
    struct ogq_value *in3[3] = {x, roi, scales}, *in2[2] = {x, scales};
    char *name = strdup(n->name ? n->name : "");
    if (!name)
        return OGQ_NOMEM(u->err);
    struct ogq_node *r;
    enum ogq_status st = u->target >= 11 ? replace_node(u, n, "Resize", name, in3, 3, &r)
                                         : replace_node(u, n, "Resize", name, in2, 2, &r);
    free(name);
    OGQ_TRY(st);
    OGQ_TRY(ogq_node_set_attr_string(r, "mode", nearest ? "nearest" : "linear", u->err));
    if (u->target >= 11) {
        OGQ_TRY(
            ogq_node_set_attr_string(r, "coordinate_transformation_mode", "asymmetric", u->err));
        if (nearest)
            OGQ_TRY(ogq_node_set_attr_string(r, "nearest_mode", "floor", u->err));
    }
    return OGQ_OK;
}

/* Scatter (deprecated at 11) is ScatterElements under another name. */
static enum ogq_status conv_scatter(struct up *u, struct ogq_node *n)
{
    if (u->target < 11)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *ax = attr_typed(n, "axis", OGQ_ATTR_INT, &bad);
    if (bad)
        return refuse(u, n, "attribute 'axis' is not an int");
    if (u->dry)
        return OGQ_OK;
    int64_t axis = ax ? ax->i : 0;
    struct ogq_value *in[3] = {input(n, 0), input(n, 1), input(n, 2)};
    char *name = strdup(n->name ? n->name : "");
    if (!name)
        return OGQ_NOMEM(u->err);
    struct ogq_node *r;
    enum ogq_status st = replace_node(u, n, "ScatterElements", name, in, 3, &r);
    free(name);
    OGQ_TRY(st);
    return ogq_node_set_attr_int(r, "axis", axis, u->err);
}

/* ConvTranspose < 11 described SAME_UPPER/SAME_LOWER with the odd padding on the opposite
 * side from opset 11, and runtimes follow the newer text for all versions: refuse rather
 * than guess. */
static enum ogq_status conv_convtranspose(struct up *u, struct ogq_node *n)
{
    if (u->from >= 11 || u->target < 11)
        return OGQ_OK;
    const char *ap = ogq_node_attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0)
        return refuse(u, n,
                      "auto_pad=%s changed meaning at opset 11 (which side gets the odd "
                      "padding); use explicit pads",
                      ap);
    return OGQ_OK;
}

/* Recurrent ops < 7 had output_sequence and other differences: not converted. */
static enum ogq_status conv_rnn(struct up *u, struct ogq_node *n)
{
    if (u->from < 7 && u->target >= 7)
        return refuse(u, n, "%s before opset 7 is not converted", n->op_type);
    return OGQ_OK;
}

/* Tile-1 took (tiles, axis) inputs instead of repeats. */
static enum ogq_status conv_tile(struct up *u, struct ogq_node *n)
{
    if (u->from < 6 && u->target >= 6)
        return refuse(u, n, "Tile-1 (tiles/axis inputs) is not converted");
    return OGQ_OK;
}

/* RoiAlign-10 used what opset 16 calls coordinate_transformation_mode=output_half_pixel
 * (16 defaults to half_pixel). */
static enum ogq_status conv_roialign(struct up *u, struct ogq_node *n)
{
    if (u->dry || u->from >= 16 || u->target < 16)
        return OGQ_OK;
    return ogq_node_set_attr_string(n, "coordinate_transformation_mode", "output_half_pixel",
                                    u->err);
}

/* GroupNormalization-18 took scale/bias per group; 21 takes them per channel. Each group
 * value is repeated C/G times: directly for constant inputs when C is declared, else by
 * Unsqueeze -> Expand([1, C/G]) -> Reshape([-1]) with C/G computed from Shape(X). */
static enum ogq_status conv_groupnorm(struct up *u, struct ogq_node *n)
{
    if (u->from >= 21 || u->target < 21)
        return OGQ_OK;
    bool bad = false;
    const struct ogq_attr *ga = attr_typed(n, "num_groups", OGQ_ATTR_INT, &bad);
    if (bad || !ga || ga->i <= 0)
        return refuse(u, n, "attribute 'num_groups' is missing or invalid");
    struct ogq_value *x = input(n, 0);
    if (!x || !input(n, 1) || !input(n, 2))
        return refuse(u, n, "missing input");
    if (u->dry)
        return OGQ_OK;
    int64_t groups = ga->i, channels = -1;
    if (x->has_type && x->is_tensor && x->type.rank >= 2 && x->type.dims[1].value > 0)
        channels = x->type.dims[1].value;
    struct ogq_value *shape_cg = NULL; /* [1, C/G], built once for both inputs */
    for (size_t k = 1; k <= 2; k++) {
        struct ogq_value *p = n->inputs[k], *np;
        const struct ogq_tensor *t = const_tensor(u, p);
        int bits = t ? ogq_dtype_bits(t->dtype) : 0;
        if (t && channels > 0 && channels % groups == 0 && t->numel == groups && bits >= 8 &&
            t->rank == 1) {
            size_t es = (size_t)bits / 8, per = (size_t)(channels / groups);
            int64_t dim = channels;
            struct ogq_tensor *nt;
            OGQ_TRY(ogq_tensor_new(NULL, t->dtype, 1, &dim, &nt, u->err));
            const unsigned char *src = ogq_tensor_data(t);
            unsigned char *dst = ogq_tensor_data(nt);
            for (size_t c = 0; c < (size_t)channels; c++)
                memcpy(dst + c * es, src + (c / per) * es, es);
            OGQ_TRY(new_value(u, n, k == 1 ? "scale_c" : "bias_c", &np));
            OGQ_TRY(ogq_graph_set_initializer(u->g, np, nt, u->err));
        } else {
            if (!shape_cg) {
                struct ogq_value *c_shape, *gv, *cg, *one;
                struct ogq_node *sn, *tmp;
                OGQ_TRY(emit(u, n, n, "Shape", "channels", &x, 1, &c_shape, &sn));
                OGQ_TRY(ogq_node_set_attr_int(sn, "start", 1, u->err));
                OGQ_TRY(ogq_node_set_attr_int(sn, "end", 2, u->err));
                OGQ_TRY(new_ints(u, n, "groups", &groups, 1, &gv));
                struct ogq_value *din[2] = {c_shape, gv};
                OGQ_TRY(emit(u, n, n, "Div", "per_group", din, 2, &cg, &tmp));
                int64_t one_v = 1;
                OGQ_TRY(new_ints(u, n, "one", &one_v, 1, &one));
                struct ogq_value *cin[2] = {one, cg};
                OGQ_TRY(emit(u, n, n, "Concat", "expand_shape", cin, 2, &shape_cg, &tmp));
                OGQ_TRY(ogq_node_set_attr_int(tmp, "axis", 0, u->err));
            }
            int64_t one_v = 1, minus_one = -1;
            struct ogq_value *axes, *flat, *u1, *e1;
            struct ogq_node *tmp;
            const char *sfx = k == 1 ? "scale" : "bias";
            char s1[32], s2[32], s3[32];
            snprintf(s1, sizeof s1, "%s_unsqueeze", sfx);
            snprintf(s2, sizeof s2, "%s_expand", sfx);
            snprintf(s3, sizeof s3, "%s_per_channel", sfx);
            OGQ_TRY(new_ints(u, n, "axes", &one_v, 1, &axes));
            struct ogq_value *uin[2] = {p, axes};
            OGQ_TRY(emit(u, n, n, "Unsqueeze", s1, uin, 2, &u1, &tmp));
            struct ogq_value *ein[2] = {u1, shape_cg};
            OGQ_TRY(emit(u, n, n, "Expand", s2, ein, 2, &e1, &tmp));
            OGQ_TRY(new_ints(u, n, "flat", &minus_one, 1, &flat));
            struct ogq_value *rin[2] = {e1, flat};
            OGQ_TRY(emit(u, n, n, "Reshape", s3, rin, 2, &np, &tmp));
        }
        OGQ_TRY(ogq_node_set_input(u->g, n, k, np, u->err));
        OGQ_TRY(drop_if_unused(u, p));
    }
    return OGQ_OK;
}

/* ------------------------------------------------------------------ the table */

#define ALWAYS 1000 /* last_change for converters that always rewrite */

static const struct op_rule RULES[] = {
    {"Abs", {1, 6, 13}, conv_legacy_v1, 6},
    {"Acos", {7}, NULL, 0},
    {"Acosh", {9}, NULL, 0},
    {"Add", {1, 6, 7, 13, 14}, conv_legacy_binary, 7},
    {"And", {1, 7}, conv_legacy_binary, 7},
    {"ArgMax", {1, 11, 12, 13}, NULL, 0},
    {"ArgMin", {1, 11, 12, 13}, NULL, 0},
    {"Asin", {7}, NULL, 0},
    {"Asinh", {9}, NULL, 0},
    {"Atan", {7}, NULL, 0},
    {"Atanh", {9}, NULL, 0},
    {"AveragePool", {1, 7, 10, 11, 19}, NULL, 0},
    {"BatchNormalization", {1, 6, 7, 9, 14, 15}, conv_batchnorm, 14},
    {"BitShift", {11}, NULL, 0},
    {"Cast", {1, 6, 9, 13, 19, 21}, conv_cast, 6},
    {"CastLike", {15, 19, 21}, NULL, 0},
    {"Ceil", {1, 6, 13}, conv_legacy_v1, 6},
    {"Celu", {12}, NULL, 0},
    {"Clip", {1, 6, 11, 12, 13}, conv_clip, 11},
    {"Compress", {9, 11}, NULL, 0},
    {"Concat", {1, 4, 11, 13}, conv_concat, 4},
    {"Constant", {1, 9, 11, 12, 13, 19, 21}, NULL, 0},
    {"ConstantOfShape", {9, 20, 21}, NULL, 0},
    {"Conv", {1, 11}, NULL, 0},
    {"ConvInteger", {10}, NULL, 0},
    {"ConvTranspose", {1, 11}, conv_convtranspose, 11},
    {"Cos", {7}, NULL, 0},
    {"Cosh", {9}, NULL, 0},
    {"CumSum", {11, 14}, NULL, 0},
    {"DepthToSpace", {1, 11, 13}, NULL, 0},
    {"DequantizeLinear", {10, 13, 19, 21}, NULL, 0},
    {"Div", {1, 6, 7, 13, 14}, conv_legacy_binary, 7},
    {"Dropout", {1, 6, 7, 10, 12, 13}, conv_dropout, 12},
    {"DynamicQuantizeLinear", {11}, NULL, 0},
    {"Einsum", {12}, NULL, 0},
    {"Elu", {1, 6}, conv_legacy_v1, 6},
    {"Equal", {1, 7, 11, 13, 19}, conv_legacy_binary, 7},
    {"Erf", {9, 13}, NULL, 0},
    {"Exp", {1, 6, 13}, conv_legacy_v1, 6},
    {"Expand", {8, 13}, NULL, 0},
    {"Flatten", {1, 9, 11, 13, 21}, NULL, 0},
    {"Floor", {1, 6, 13}, conv_legacy_v1, 6},
    {"GRU", {1, 3, 7, 14}, conv_rnn, 7},
    {"Gather", {1, 11, 13}, NULL, 0},
    {"GatherElements", {11, 13}, NULL, 0},
    {"GatherND", {11, 12, 13}, NULL, 0},
    {"Gelu", {20}, NULL, 0},
    {"Gemm", {1, 6, 7, 9, 11, 13}, conv_gemm, 7},
    {"GlobalAveragePool", {1}, NULL, 0},
    {"GlobalMaxPool", {1}, NULL, 0},
    {"Greater", {1, 7, 9, 13}, conv_legacy_binary, 7},
    {"GreaterOrEqual", {12, 16}, NULL, 0},
    {"GroupNormalization", {18, 21}, conv_groupnorm, 21},
    {"HardSigmoid", {1, 6}, conv_legacy_v1, 6},
    {"HardSwish", {14}, NULL, 0},
    {"Hardmax", {1, 11, 13}, conv_softmax, 13},
    {"Identity", {1, 13, 14, 16, 19, 21}, NULL, 0},
    {"If", {1, 11, 13, 16, 19, 21}, NULL, 0},
    {"InstanceNormalization", {1, 6}, conv_legacy_v1, 6},
    {"IsInf", {10, 20}, NULL, 0},
    {"IsNaN", {9, 13, 20}, NULL, 0},
    {"LRN", {1, 13}, NULL, 0},
    {"LSTM", {1, 7, 14}, conv_rnn, 7},
    {"LayerNormalization", {17}, NULL, 0},
    {"LeakyRelu", {1, 6, 16}, conv_legacy_v1, 6},
    {"Less", {1, 7, 9, 13}, conv_legacy_binary, 7},
    {"LessOrEqual", {12, 16}, NULL, 0},
    {"Log", {1, 6, 13}, conv_legacy_v1, 6},
    {"LogSoftmax", {1, 11, 13}, conv_softmax, 13},
    {"LpNormalization", {1}, NULL, 0},
    {"MatMul", {1, 9, 13}, NULL, 0},
    {"MatMulInteger", {10}, NULL, 0},
    {"Max", {1, 6, 8, 12, 13}, conv_legacy_v1, 6},
    {"MaxPool", {1, 8, 10, 11, 12}, NULL, 0},
    {"Mean", {1, 6, 8, 13}, conv_legacy_v1, 6},
    {"MeanVarianceNormalization", {9, 13}, NULL, 0},
    {"Min", {1, 6, 8, 12, 13}, conv_legacy_v1, 6},
    {"Mish", {18}, NULL, 0},
    {"Mod", {10, 13}, NULL, 0},
    {"Mul", {1, 6, 7, 13, 14}, conv_legacy_binary, 7},
    {"Neg", {1, 6, 13}, conv_legacy_v1, 6},
    {"NonMaxSuppression", {10, 11}, NULL, 0},
    {"NonZero", {9, 13}, NULL, 0},
    {"Not", {1}, NULL, 0},
    {"Or", {1, 7}, conv_legacy_binary, 7},
    {"PRelu", {1, 6, 7, 9, 16}, conv_prelu, 7},
    {"Pad", {1, 2, 11, 13, 18, 19, 21}, conv_pad, 11},
    {"Pow", {1, 7, 12, 13, 15}, conv_legacy_binary, 7},
    {"QLinearConv", {10}, NULL, 0},
    {"QLinearMatMul", {10, 21}, NULL, 0},
    {"QuantizeLinear", {10, 13, 19, 21}, conv_quantize, 19},
    {"Range", {11}, NULL, 0},
    {"Reciprocal", {1, 6, 13}, conv_legacy_v1, 6},
    {"ReduceL1", {1, 11, 13, 18}, conv_reduce, 18},
    {"ReduceL2", {1, 11, 13, 18}, conv_reduce, 18},
    {"ReduceLogSum", {1, 11, 13, 18}, conv_reduce, 18},
    {"ReduceLogSumExp", {1, 11, 13, 18}, conv_reduce, 18},
    {"ReduceMax", {1, 11, 12, 13, 18, 20}, conv_reduce, 18},
    {"ReduceMean", {1, 11, 13, 18}, conv_reduce, 18},
    {"ReduceMin", {1, 11, 12, 13, 18, 20}, conv_reduce, 18},
    {"ReduceProd", {1, 11, 13, 18}, conv_reduce, 18},
    {"ReduceSum", {1, 11, 13}, conv_reduce, 13},
    {"ReduceSumSquare", {1, 11, 13, 18}, conv_reduce, 18},
    {"Relu", {1, 6, 13, 14}, conv_legacy_v1, 6},
    {"Reshape", {1, 5, 13, 14, 19, 21}, conv_reshape, 5},
    {"Resize", {10, 11, 13, 18, 19}, conv_resize, 13},
    {"ReverseSequence", {10}, NULL, 0},
    {"RoiAlign", {10, 16}, conv_roialign, 16},
    {"Round", {11}, NULL, 0},
    {"Scatter", {9, 11}, conv_scatter, ALWAYS},
    {"ScatterElements", {11, 13, 16, 18}, NULL, 0},
    {"ScatterND", {11, 13, 16, 18}, NULL, 0},
    {"Selu", {1, 6}, conv_selu, 6},
    {"Shape", {1, 13, 15, 19, 21}, NULL, 0},
    {"Shrink", {9}, NULL, 0},
    {"Sigmoid", {1, 6, 13}, conv_legacy_v1, 6},
    {"Sign", {9, 13}, NULL, 0},
    {"Sin", {7}, NULL, 0},
    {"Sinh", {9}, NULL, 0},
    {"Size", {1, 13, 19, 21}, NULL, 0},
    {"Slice", {1, 10, 11, 13}, conv_slice, 10},
    {"Softmax", {1, 11, 13}, conv_softmax, 13},
    {"Softplus", {1}, NULL, 0},
    {"Softsign", {1}, NULL, 0},
    {"SpaceToDepth", {1, 13}, NULL, 0},
    {"Split", {1, 2, 11, 13, 18}, conv_split, 18},
    {"Sqrt", {1, 6, 13}, conv_legacy_v1, 6},
    {"Squeeze", {1, 11, 13, 21}, conv_squeeze, 13},
    {"Sub", {1, 6, 7, 13, 14}, conv_legacy_binary, 7},
    {"Sum", {1, 6, 8, 13}, conv_legacy_v1, 6},
    {"Tan", {7}, NULL, 0},
    {"Tanh", {1, 6, 13}, conv_legacy_v1, 6},
    {"ThresholdedRelu", {10}, NULL, 0},
    {"Tile", {1, 6, 13}, conv_tile, 6},
    {"TopK", {1, 10, 11}, conv_topk, 10},
    {"Transpose", {1, 13, 21}, NULL, 0},
    {"Trilu", {14}, NULL, 0},
    {"Unsqueeze", {1, 11, 13, 21}, conv_squeeze, 13},
    {"Upsample", {1, 7, 9, 10}, conv_upsample, ALWAYS},
    {"Where", {9, 16}, NULL, 0},
    {"Xor", {1, 7}, conv_legacy_binary, 7},
};

#define N_RULES (sizeof RULES / sizeof RULES[0])

static const struct op_rule *find_rule(const char *op)
{
    size_t lo = 0, hi = N_RULES;
    while (lo < hi) { /* RULES is sorted by name */
        size_t mid = (lo + hi) / 2;
        int c = strcmp(RULES[mid].op, op);
        if (c == 0)
            return &RULES[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t ogq_opset_upgrade_rule_count(void)
{
    return N_RULES;
}

const char *ogq_opset_upgrade_rule(size_t i, const int **since, size_t *n_since)
{
    if (i >= N_RULES)
        return NULL;
    size_t n = 0;
    while (n < sizeof RULES[i].since / sizeof RULES[i].since[0] && RULES[i].since[n])
        n++;
    if (since)
        *since = RULES[i].since;
    if (n_since)
        *n_since = n;
    return RULES[i].op;
}

/* ------------------------------------------------------------------ driver */

/* Subgraph nodes are kept as stored: accept each default-domain node only when its op is
 * known, exists at `from`, and needs no rewriting. */
static enum ogq_status check_subgraph(struct up *u, const struct ogq_node *owner,
                                      const Onnx__GraphProto *gp, int depth)
{
    if (depth > 64)
        return refuse(u, owner, "subgraphs nested deeper than 64");
    enum ogq_status worst = OGQ_OK;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        enum ogq_status st = OGQ_OK;
        const char *op = np->op_type ? np->op_type : "";
        const char *nm = np->name && *np->name ? np->name
                         : np->n_output        ? np->output[0]
                                               : "(unnamed)";
        if (is_default_domain(np->domain)) {
            const struct op_rule *r = find_rule(op);
            if (!r)
                st = refuse(u, owner, "subgraph node '%s' (%s) has no conversion rule", nm, op);
            else if (u->from < r->since[0])
                st = refuse(u, owner, "subgraph node '%s' (%s) does not exist at opset %lld", nm,
                            op, (long long)u->from);
            else if (r->convert && u->from < r->last_change)
                st = refuse(u, owner,
                            "subgraph node '%s' (%s) would need rewriting, which is "
                            "not done inside subgraphs",
                            nm, op);
        }
        for (size_t a = 0; a < np->n_attribute && st != OGQ_ERR_NOMEM; a++) {
            const Onnx__AttributeProto *ap = np->attribute[a];
            enum ogq_status s2 = OGQ_OK;
            if (ap->g)
                s2 = check_subgraph(u, owner, ap->g, depth + 1);
            for (size_t k = 0; k < ap->n_graphs && s2 != OGQ_ERR_NOMEM; k++) {
                enum ogq_status s3 = check_subgraph(u, owner, ap->graphs[k], depth + 1);
                if (s3 != OGQ_OK)
                    s2 = s3;
            }
            if (s2 != OGQ_OK)
                st = s2;
        }
        if (st == OGQ_ERR_NOMEM)
            return st;
        if (st != OGQ_OK)
            worst = st;
    }
    return worst;
}

static enum ogq_status check_node(struct up *u, struct ogq_node *n)
{
    enum ogq_status worst = OGQ_OK;
    if (n->has_subgraphs) {
        for (size_t a = 0; a < n->n_attrs; a++) {
            const Onnx__AttributeProto *ap = n->attrs[a].src;
            if (!ap || (n->attrs[a].type != OGQ_ATTR_GRAPH && n->attrs[a].type != OGQ_ATTR_GRAPHS))
                continue;
            enum ogq_status st = OGQ_OK;
            if (ap->g)
                st = check_subgraph(u, n, ap->g, 1);
            for (size_t k = 0; k < ap->n_graphs && st != OGQ_ERR_NOMEM; k++) {
                enum ogq_status s2 = check_subgraph(u, n, ap->graphs[k], 1);
                if (s2 != OGQ_OK)
                    st = s2;
            }
            if (st == OGQ_ERR_NOMEM)
                return st;
            if (st != OGQ_OK)
                worst = st;
        }
    }
    if (!is_default_domain(n->domain))
        return worst;
    const struct op_rule *r = find_rule(n->op_type);
    enum ogq_status st = OGQ_OK;
    if (!r)
        st = refuse(u, n, "no conversion rule for this op");
    else if (u->from < r->since[0])
        st = refuse(u, n, "the op does not exist at this opset (introduced at %d)", r->since[0]);
    else if (r->convert)
        st = r->convert(u, n);
    return st != OGQ_OK ? st : worst;
}

/* Model-local functions keep their own ai.onnx import, which the checker requires to equal
 * the model's; their bodies are not rewritten, so such models are refused. Reads the
 * retained ModelProto (read-only). */
static enum ogq_status check_functions(struct up *u)
{
    const Onnx__ModelProto *mp = u->m->proto;
    enum ogq_status worst = OGQ_OK;
    for (size_t f = 0; mp && f < mp->n_functions; f++) {
        const Onnx__FunctionProto *fp = mp->functions[f];
        for (size_t k = 0; k < fp->n_opset_import; k++) {
            const Onnx__OperatorSetIdProto *op = fp->opset_import[k];
            if (!is_default_domain(op->domain) || op->version == u->target)
                continue;
            enum ogq_status st = refuse(u, NULL,
                                        "model-local function '%s' imports ai.onnx "
                                        "opset %lld; function bodies are not upgraded",
                                        fp->name ? fp->name : "", (long long)op->version);
            if (st == OGQ_ERR_NOMEM)
                return st;
            worst = st;
        }
    }
    return worst;
}

static enum ogq_status finish(struct up *u)
{
    OGQ_TRY(ogq_model_set_opset(u->m, "", u->target, u->err));
    int64_t ir = min_ir_version(u->target);
    if (u->m->ir_version < ir)
        u->m->ir_version = ir;
    return ogq_graph_verify(u->g, u->err);
}

enum ogq_status ogq_opset_upgrade(struct ogq_model *m, int64_t target, struct ogq_error *err)
{
    if (!m || !m->graph)
        return ogq_error_set(err, OGQ_ERR_USAGE, "opset upgrade: no model");
    int64_t from = ogq_model_opset(m, "");
    if (target < 1 || target < from)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "opset upgrade: target opset %lld is below the model's opset %lld "
                             "(downgrading is not supported)",
                             (long long)target, (long long)from);
    if (target > OGQ_OPSET_UPGRADE_MAX)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                             "opset upgrade: target opset %lld is above %d, the newest this "
                             "pass knows",
                             (long long)target, OGQ_OPSET_UPGRADE_MAX);
    struct up u = {.m = m, .g = m->graph, .from = from, .target = target, .err = err};
    if (from == 0) {
        for (size_t i = 0; i < u.g->n_nodes; i++)
            if (is_default_domain(u.g->nodes[i]->domain))
                return ogq_error_set(err, OGQ_ERR_FORMAT,
                                     "opset upgrade: node '%s' (%s) is in the ai.onnx domain "
                                     "but the model imports no ai.onnx opset",
                                     label(u.g->nodes[i]), u.g->nodes[i]->op_type);
    }
    if (from == 0 || from == target)
        return finish(&u);

    ogq_strmap_init(&u.facts);
    enum ogq_status st = OGQ_OK;
    struct ogq_node **snapshot = NULL;

    st = build_facts(&u);
    /* Dry run: validate every node, collecting all refusals. */
    u.dry = true;
    if (st == OGQ_OK) {
        enum ogq_status s = check_functions(&u);
        if (s != OGQ_OK && s != OGQ_ERR_UNSUPPORTED)
            st = s;
    }
    for (size_t i = 0; i < u.g->n_nodes && st == OGQ_OK; i++) {
        enum ogq_status s = check_node(&u, u.g->nodes[i]);
        if (s != OGQ_OK && s != OGQ_ERR_UNSUPPORTED)
            st = s;
    }
    if (st == OGQ_OK && u.n_refused)
        st = ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                           "opset upgrade %lld -> %lld: %zu node(s) cannot be converted "
                           "exactly: %s",
                           (long long)from, (long long)target, u.n_refused, u.log);
    /* Rewrite, over a snapshot: converters insert and replace nodes as they go. */
    if (st == OGQ_OK) {
        size_t count = u.g->n_nodes;
        snapshot = malloc((count ? count : 1) * sizeof *snapshot);
        if (!snapshot)
            st = OGQ_NOMEM(err);
        else
            memcpy(snapshot, u.g->nodes, count * sizeof *snapshot);
        u.dry = false;
        for (size_t i = 0; i < count && st == OGQ_OK; i++) {
            struct ogq_node *n = snapshot[i];
            if (!is_default_domain(n->domain))
                continue;
            const struct op_rule *r = find_rule(n->op_type);
            if (r && r->convert)
                st = r->convert(&u, n);
        }
    }
    if (st == OGQ_OK)
        st = finish(&u);
    free(snapshot);
    for (size_t i = 0; i < u.n_ints; i++)
        free(u.ints[i].vals);
    free(u.ints);
    free(u.log);
    free(u.store);
    ogq_strmap_fini(&u.facts);
    return st;
}
