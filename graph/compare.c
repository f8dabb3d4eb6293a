/* compare.c — structural equality of two models, for round-trip tests and tools. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_impl.h"
#include "onnx.pb-c.h"

static bool differ(char *why, size_t size, const char *fmt, ...)
{
    if (why && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static const char *vname(const struct ogq_value *v)
{
    return v ? v->name : "";
}

/* Opaque attributes (subgraphs, tensor lists, type protos) live only in their loaded
 * AttributeProto: compare the serialized bytes. */
static bool src_equal(const void *a, const void *b)
{
    if (!a || !b)
        return a == b;
    const ProtobufCMessage *ma = a, *mb = b;
    size_t na = protobuf_c_message_get_packed_size(ma);
    if (na != protobuf_c_message_get_packed_size(mb))
        return false;
    uint8_t *ba = malloc(na ? na : 1), *bb = malloc(na ? na : 1);
    bool eq = ba && bb && protobuf_c_message_pack(ma, ba) == na &&
              protobuf_c_message_pack(mb, bb) == na && memcmp(ba, bb, na) == 0;
    free(ba);
    free(bb);
    return eq;
}

static bool attr_equal(const struct ogq_attr *a, const struct ogq_attr *b)
{
    if (strcmp(a->name, b->name) != 0 || a->type != b->type)
        return false;
    switch (a->type) {
    case OGQ_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case OGQ_ATTR_INT: return a->i == b->i;
    case OGQ_ATTR_STRING:
        return a->s.len == b->s.len && (a->s.len == 0 || memcmp(a->s.data, b->s.data, a->s.len) == 0);
    case OGQ_ATTR_TENSOR: return ogq_tensor_equal(a->t, b->t);
    case OGQ_ATTR_FLOATS:
        return a->n == b->n && (a->n == 0 || memcmp(a->floats, b->floats, a->n * sizeof(float)) == 0);
    case OGQ_ATTR_INTS:
        return a->n == b->n && (a->n == 0 || memcmp(a->ints, b->ints, a->n * sizeof(int64_t)) == 0);
    case OGQ_ATTR_STRINGS:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++)
            if (a->strings[i].len != b->strings[i].len ||
                memcmp(a->strings[i].data, b->strings[i].data, a->strings[i].len) != 0)
                return false;
        return true;
    default:
        return src_equal(a->src, b->src);
    }
}

static bool value_equal(const struct ogq_value *a, const struct ogq_value *b, char *why,
                        size_t size)
{
    if (strcmp(a->name, b->name) != 0)
        return differ(why, size, "value name '%s' vs '%s'", a->name, b->name);
    if (a->is_graph_input != b->is_graph_input || a->is_graph_output != b->is_graph_output)
        return differ(why, size, "value '%s': input/output flags differ", a->name);
    if (a->has_type != b->has_type || a->is_tensor != b->is_tensor ||
        (a->has_type && a->is_tensor && !ogq_type_equal(&a->type, &b->type)))
        return differ(why, size, "value '%s': types differ", a->name);
    if ((a->initializer == NULL) != (b->initializer == NULL))
        return differ(why, size, "value '%s': initializer presence differs", a->name);
    if (a->initializer && !ogq_tensor_equal(a->initializer, b->initializer))
        return differ(why, size, "initializer '%s': data differs", a->name);
    if (a->n_uses != b->n_uses)
        return differ(why, size, "value '%s': %zu vs %zu uses", a->name, a->n_uses, b->n_uses);
    return true;
}

static bool node_equal(const struct ogq_node *a, const struct ogq_node *b, char *why, size_t size)
{
    if (strcmp(a->name, b->name) != 0 || strcmp(a->op_type, b->op_type) != 0 ||
        strcmp(a->domain, b->domain) != 0)
        return differ(why, size, "node '%s' (%s) vs '%s' (%s)", a->name, a->op_type, b->name,
                      b->op_type);
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs || a->n_attrs != b->n_attrs ||
        a->n_implicit != b->n_implicit)
        return differ(why, size, "node '%s': input/output/attribute counts differ", a->name);
    for (size_t i = 0; i < a->n_inputs; i++)
        if (strcmp(vname(a->inputs[i]), vname(b->inputs[i])) != 0)
            return differ(why, size, "node '%s': input %zu differs", a->name, i);
    for (size_t i = 0; i < a->n_outputs; i++)
        if (strcmp(vname(a->outputs[i]), vname(b->outputs[i])) != 0)
            return differ(why, size, "node '%s': output %zu differs", a->name, i);
    for (size_t i = 0; i < a->n_implicit; i++)
        if (strcmp(a->implicit_inputs[i]->name, b->implicit_inputs[i]->name) != 0)
            return differ(why, size, "node '%s': implicit input %zu differs", a->name, i);
    for (size_t i = 0; i < a->n_attrs; i++)
        if (!attr_equal(&a->attrs[i], &b->attrs[i]))
            return differ(why, size, "node '%s': attribute '%s' differs", a->name, a->attrs[i].name);
    return true;
}

static bool list_equal(struct ogq_value *const *a, size_t na, struct ogq_value *const *b,
                       size_t nb, const char *what, char *why, size_t size)
{
    if (na != nb)
        return differ(why, size, "%s: %zu vs %zu entries", what, na, nb);
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i]->name, b[i]->name) != 0)
            return differ(why, size, "%s #%zu: '%s' vs '%s'", what, i, a[i]->name, b[i]->name);
    return true;
}

bool ogq_model_equal(const struct ogq_model *a, const struct ogq_model *b, char *why,
                     size_t why_size)
{
    if (a->ir_version != b->ir_version)
        return differ(why, why_size, "ir_version %lld vs %lld", (long long)a->ir_version,
                      (long long)b->ir_version);
    if (!str_eq(a->producer_name, b->producer_name) ||
        !str_eq(a->producer_version, b->producer_version))
        return differ(why, why_size, "producer differs");
    if (a->n_opsets != b->n_opsets)
        return differ(why, why_size, "opset import count differs");
    for (size_t i = 0; i < a->n_opsets; i++)
        if (strcmp(a->opsets[i].domain, b->opsets[i].domain) != 0 ||
            a->opsets[i].version != b->opsets[i].version)
            return differ(why, why_size, "opset import #%zu differs", i);
    if (a->n_metadata != b->n_metadata)
        return differ(why, why_size, "metadata count differs");
    for (size_t i = 0; i < a->n_metadata; i++)
        if (strcmp(a->metadata[i].key, b->metadata[i].key) != 0 ||
            strcmp(a->metadata[i].value, b->metadata[i].value) != 0)
            return differ(why, why_size, "metadata '%s' differs", a->metadata[i].key);
    const struct ogq_graph *ga = a->graph, *gb = b->graph;
    if (!str_eq(ga->name, gb->name))
        return differ(why, why_size, "graph name differs");
    if (!list_equal(ga->inputs, ga->n_inputs, gb->inputs, gb->n_inputs, "inputs", why, why_size) ||
        !list_equal(ga->outputs, ga->n_outputs, gb->outputs, gb->n_outputs, "outputs", why, why_size) ||
        !list_equal(ga->initializers, ga->n_initializers, gb->initializers, gb->n_initializers,
                    "initializers", why, why_size) ||
        !list_equal(ga->value_infos, ga->n_value_infos, gb->value_infos, gb->n_value_infos,
                    "value_info", why, why_size))
        return false;
    if (ga->n_nodes != gb->n_nodes)
        return differ(why, why_size, "%zu vs %zu nodes", ga->n_nodes, gb->n_nodes);
    for (size_t i = 0; i < ga->n_nodes; i++)
        if (!node_equal(ga->nodes[i], gb->nodes[i], why, why_size))
            return false;
    if (ga->n_values != gb->n_values)
        return differ(why, why_size, "%zu vs %zu values", ga->n_values, gb->n_values);
    for (size_t i = 0; i < ga->n_values; i++) {
        const struct ogq_value *vb = ogq_graph_value(gb, ga->values[i]->name);
        if (!vb)
            return differ(why, why_size, "value '%s' is missing", ga->values[i]->name);
        if (!value_equal(ga->values[i], vb, why, why_size))
            return false;
    }
    return true;
}
