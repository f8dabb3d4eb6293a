/* graph.c — IR construction, mutation helpers, topological sort and verification. */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/array.h"
#include "graph_impl.h"
#include "onnx.pb-c.h"

/* ---------------------------------------------------------------- types */

void ogq_type_fini(struct ogq_type *t)
{
    for (int i = 0; i < t->rank; i++)
        free(t->dims[i].param);
    free(t->dims);
    t->dims = NULL;
    t->rank = -1;
    t->dtype = OGQ_DTYPE_UNDEFINED;
}

bool ogq_type_equal(const struct ogq_type *a, const struct ogq_type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++) {
        if (a->dims[i].value != b->dims[i].value)
            return false;
        const char *pa = a->dims[i].param, *pb = b->dims[i].param;
        if ((pa == NULL) != (pb == NULL) || (pa && strcmp(pa, pb) != 0))
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- attributes */

void ogq_attr_fini(struct ogq_attr *a)
{
    free(a->name);
    free(a->s.data);
    ogq_tensor_free(a->t);
    free(a->floats);
    free(a->ints);
    if (a->strings) {
        for (size_t i = 0; i < a->n; i++)
            free(a->strings[i].data);
        free(a->strings);
    }
    memset(a, 0, sizeof *a);
}

/* Finds or appends attribute `name`, cleared and named, ready to be filled. */
static struct ogq_attr *attr_slot(struct ogq_node *node, const char *name, struct ogq_error *err)
{
    for (size_t i = 0; i < node->n_attrs; i++) {
        if (strcmp(node->attrs[i].name, name) == 0) {
            char *keep = node->attrs[i].name;
            node->attrs[i].name = NULL;
            ogq_attr_fini(&node->attrs[i]);
            node->attrs[i].name = keep;
            return &node->attrs[i];
        }
    }
    char *copy = strdup(name);
    struct ogq_attr *grown = copy ? realloc(node->attrs, (node->n_attrs + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(copy);
        OGQ_NOMEM(err);
        return NULL;
    }
    node->attrs = grown;
    struct ogq_attr *a = &node->attrs[node->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = copy;
    return a;
}

enum ogq_status ogq_node_set_attr_int(struct ogq_node *node, const char *name, int64_t v,
                                      struct ogq_error *err)
{
    struct ogq_attr *a = attr_slot(node, name, err);
    if (!a)
        return OGQ_ERR_NOMEM;
    a->type = OGQ_ATTR_INT;
    a->i = v;
    return OGQ_OK;
}

enum ogq_status ogq_node_set_attr_float(struct ogq_node *node, const char *name, float v,
                                        struct ogq_error *err)
{
    struct ogq_attr *a = attr_slot(node, name, err);
    if (!a)
        return OGQ_ERR_NOMEM;
    a->type = OGQ_ATTR_FLOAT;
    a->f = v;
    return OGQ_OK;
}

enum ogq_status ogq_node_set_attr_string(struct ogq_node *node, const char *name, const char *v,
                                         struct ogq_error *err)
{
    size_t len = strlen(v);
    char *copy = malloc(len + 1);
    if (!copy)
        return OGQ_NOMEM(err);
    memcpy(copy, v, len + 1);
    struct ogq_attr *a = attr_slot(node, name, err);
    if (!a) {
        free(copy);
        return OGQ_ERR_NOMEM;
    }
    a->type = OGQ_ATTR_STRING;
    a->s.data = (uint8_t *)copy;
    a->s.len = len;
    return OGQ_OK;
}

enum ogq_status ogq_node_set_attr_ints(struct ogq_node *node, const char *name, const int64_t *v,
                                       size_t n, struct ogq_error *err)
{
    int64_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return OGQ_NOMEM(err);
    if (n)
        memcpy(copy, v, n * sizeof *copy);
    struct ogq_attr *a = attr_slot(node, name, err);
    if (!a) {
        free(copy);
        return OGQ_ERR_NOMEM;
    }
    a->type = OGQ_ATTR_INTS;
    a->ints = copy;
    a->n = n;
    return OGQ_OK;
}

enum ogq_status ogq_node_set_attr_floats(struct ogq_node *node, const char *name, const float *v,
                                         size_t n, struct ogq_error *err)
{
    float *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return OGQ_NOMEM(err);
    if (n)
        memcpy(copy, v, n * sizeof *copy);
    struct ogq_attr *a = attr_slot(node, name, err);
    if (!a) {
        free(copy);
        return OGQ_ERR_NOMEM;
    }
    a->type = OGQ_ATTR_FLOATS;
    a->floats = copy;
    a->n = n;
    return OGQ_OK;
}

enum ogq_status ogq_node_set_attr_tensor(struct ogq_node *node, const char *name,
                                         struct ogq_tensor *t, struct ogq_error *err)
{
    struct ogq_attr *a = attr_slot(node, name, err);
    if (!a) {
        ogq_tensor_free(t);
        return OGQ_ERR_NOMEM;
    }
    a->type = OGQ_ATTR_TENSOR;
    a->t = t;
    return OGQ_OK;
}

void ogq_node_remove_attr(struct ogq_node *node, const char *name)
{
    for (size_t i = 0; i < node->n_attrs; i++) {
        if (strcmp(node->attrs[i].name, name) == 0) {
            ogq_attr_fini(&node->attrs[i]);
            memmove(&node->attrs[i], &node->attrs[i + 1],
                    (node->n_attrs - i - 1) * sizeof *node->attrs);
            node->n_attrs--;
            return;
        }
    }
}

const struct ogq_attr *ogq_node_attr(const struct ogq_node *node, const char *name)
{
    for (size_t i = 0; i < node->n_attrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0)
            return &node->attrs[i];
    return NULL;
}

int64_t ogq_node_attr_int(const struct ogq_node *node, const char *name, int64_t def)
{
    const struct ogq_attr *a = ogq_node_attr(node, name);
    return a && a->type == OGQ_ATTR_INT ? a->i : def;
}

float ogq_node_attr_float(const struct ogq_node *node, const char *name, float def)
{
    const struct ogq_attr *a = ogq_node_attr(node, name);
    return a && a->type == OGQ_ATTR_FLOAT ? a->f : def;
}

const char *ogq_node_attr_string(const struct ogq_node *node, const char *name, const char *def)
{
    const struct ogq_attr *a = ogq_node_attr(node, name);
    return a && a->type == OGQ_ATTR_STRING && a->s.data ? (const char *)a->s.data : def;
}

size_t ogq_node_present_inputs(const struct ogq_node *node)
{
    size_t n = node->n_inputs;
    while (n > 0 && node->inputs[n - 1] == NULL)
        n--;
    return n;
}

/* ---------------------------------------------------------------- values and nodes */

static void value_free(struct ogq_value *v)
{
    if (!v)
        return;
    free(v->name);
    ogq_type_fini(&v->type);
    free(v->uses);
    ogq_tensor_free(v->initializer);
    free(v);
}

static void node_free(struct ogq_node *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->inputs);
    free(n->outputs);
    for (size_t i = 0; i < n->n_attrs; i++)
        ogq_attr_fini(&n->attrs[i]);
    free(n->attrs);
    free(n->implicit_inputs);
    free(n);
}

bool ogq_value_add_use(struct ogq_value *v, struct ogq_node *node, int input)
{
    struct ogq_use u = {node, input};
    return OGQ_ARRAY_PUSH(v->uses, v->n_uses, v->cap_uses, u);
}

void ogq_value_remove_use(struct ogq_value *v, const struct ogq_node *node, int input)
{
    for (size_t i = 0; i < v->n_uses; i++) {
        if (v->uses[i].node == node && v->uses[i].input == input) {
            memmove(&v->uses[i], &v->uses[i + 1], (v->n_uses - i - 1) * sizeof *v->uses);
            v->n_uses--;
            return;
        }
    }
}

/* ---------------------------------------------------------------- graph */

struct ogq_graph *ogq_graph_new_empty(void)
{
    struct ogq_graph *g = calloc(1, sizeof *g);
    if (g)
        ogq_strmap_init(&g->by_name);
    return g;
}

void ogq_graph_free(struct ogq_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_nodes; i++)
        node_free(g->nodes[i]);
    for (size_t i = 0; i < g->n_values; i++)
        value_free(g->values[i]);
    free(g->nodes);
    free(g->values);
    free(g->inputs);
    free(g->outputs);
    free(g->initializers);
    free(g->value_infos);
    free(g->name);
    ogq_strmap_fini(&g->by_name);
    free(g);
}

struct ogq_value *ogq_graph_value(const struct ogq_graph *g, const char *name)
{
    return ogq_strmap_get(&g->by_name, name);
}

ptrdiff_t ogq_graph_node_index(const struct ogq_graph *g, const struct ogq_node *node)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i] == node)
            return (ptrdiff_t)i;
    return -1;
}

enum ogq_status ogq_graph_add_value(struct ogq_graph *g, const char *name, struct ogq_value **out,
                                    struct ogq_error *err)
{
    if (!name || !*name)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "a value has an empty name");
    if (ogq_graph_value(g, name))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "value name '%s' is defined twice", name);
    struct ogq_value *v = calloc(1, sizeof *v);
    if (!v)
        return OGQ_NOMEM(err);
    v->name = strdup(name);
    v->type.rank = -1;
    v->is_tensor = true;
    v->producer_output = -1;
    if (!v->name ||
        !ogq_array_reserve((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof *g->values) ||
        !ogq_strmap_put(&g->by_name, v->name, v)) {
        value_free(v);
        return OGQ_NOMEM(err);
    }
    g->values[g->n_values++] = v;
    *out = v;
    return OGQ_OK;
}

enum ogq_status ogq_graph_add_input(struct ogq_graph *g, struct ogq_value *v,
                                    struct ogq_error *err)
{
    if (v->producer || v->is_graph_input)
        return ogq_error_set(err, OGQ_ERR_INTERNAL,
                             "value '%s' cannot become a graph input: it has a producer or is one",
                             v->name);
    if (!OGQ_ARRAY_PUSH(g->inputs, g->n_inputs, g->cap_inputs, v))
        return OGQ_NOMEM(err);
    v->is_graph_input = true;
    return OGQ_OK;
}

enum ogq_status ogq_graph_add_output(struct ogq_graph *g, struct ogq_value *v,
                                     struct ogq_error *err)
{
    if (!OGQ_ARRAY_PUSH(g->outputs, g->n_outputs, g->cap_outputs, v))
        return OGQ_NOMEM(err);
    v->is_graph_output = true;
    return OGQ_OK;
}

void ogq_graph_unique_name(struct ogq_graph *g, const char *base, char *buf, size_t size)
{
    if (size == 0)
        return;
    snprintf(buf, size, "%s", base);
    while (!*buf || ogq_graph_value(g, buf)) {
        /* Shorten the base rather than the suffix, or a long base would make every
         * candidate the same truncated name (and this loop endless). */
        char suffix[32];
        int n = snprintf(suffix, sizeof suffix, "_%llu", (unsigned long long)++g->name_counter);
        size_t keep = strlen(base);
        if (keep + (size_t)n + 1 > size)
            keep = size > (size_t)n + 1 ? size - (size_t)n - 1 : 0;
        snprintf(buf, size, "%.*s%s", (int)keep, base, suffix);
    }
}

enum ogq_status ogq_value_set_type(struct ogq_value *v, enum ogq_dtype dtype, int rank,
                                   const int64_t *dims, struct ogq_error *err)
{
    struct ogq_dim *d = NULL;
    if (rank > 0) {
        d = calloc((size_t)rank, sizeof *d);
        if (!d)
            return OGQ_NOMEM(err);
        for (int i = 0; i < rank; i++)
            d[i].value = dims ? dims[i] : -1;
    }
    ogq_type_fini(&v->type);
    v->type.dtype = dtype;
    v->type.rank = rank;
    v->type.dims = d;
    v->has_type = true;
    v->is_tensor = true;
    v->type_dirty = true;
    return OGQ_OK;
}

enum ogq_status ogq_graph_insert_node(struct ogq_graph *g, struct ogq_node *before,
                                      const char *op_type, const char *domain, const char *name,
                                      struct ogq_value *const *inputs, size_t n_inputs,
                                      struct ogq_value *const *outputs, size_t n_outputs,
                                      struct ogq_node **out, struct ogq_error *err)
{
    for (size_t i = 0; i < n_outputs; i++)
        if (outputs[i] && (outputs[i]->producer || outputs[i]->initializer ||
                           outputs[i]->is_graph_input))
            return ogq_error_set(err, OGQ_ERR_INTERNAL,
                                 "insert node '%s': output '%s' is already defined", name,
                                 outputs[i]->name);
    ptrdiff_t pos = before ? ogq_graph_node_index(g, before) : (ptrdiff_t)g->n_nodes;
    if (pos < 0)
        return ogq_error_set(err, OGQ_ERR_INTERNAL, "insert node '%s': anchor not in graph", name);
    struct ogq_node *n = calloc(1, sizeof *n);
    if (!n)
        return OGQ_NOMEM(err);
    n->name = strdup(name ? name : "");
    n->op_type = strdup(op_type);
    n->domain = strdup(domain ? domain : "");
    n->inputs = calloc(n_inputs ? n_inputs : 1, sizeof *n->inputs);
    n->outputs = calloc(n_outputs ? n_outputs : 1, sizeof *n->outputs);
    if (!n->name || !n->op_type || !n->domain || !n->inputs || !n->outputs ||
        !ogq_array_reserve((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) {
        node_free(n);
        return OGQ_NOMEM(err);
    }
    for (size_t i = 0; i < n_inputs; i++) {
        if (inputs[i] && !ogq_value_add_use(inputs[i], n, (int)i)) {
            for (size_t j = 0; j < i; j++)
                if (inputs[j])
                    ogq_value_remove_use(inputs[j], n, (int)j);
            node_free(n);
            return OGQ_NOMEM(err);
        }
        n->inputs[i] = inputs[i];
    }
    n->n_inputs = n_inputs;
    for (size_t i = 0; i < n_outputs; i++) {
        n->outputs[i] = outputs[i];
        if (outputs[i]) {
            outputs[i]->producer = n;
            outputs[i]->producer_output = (int)i;
        }
    }
    n->n_outputs = n_outputs;
    memmove(&g->nodes[pos + 1], &g->nodes[pos], (g->n_nodes - (size_t)pos) * sizeof *g->nodes);
    g->nodes[pos] = n;
    g->n_nodes++;
    if (out)
        *out = n;
    return OGQ_OK;
}

enum ogq_status ogq_node_set_input(struct ogq_graph *g, struct ogq_node *node, size_t index,
                                   struct ogq_value *v, struct ogq_error *err)
{
    (void)g;
    if (index > node->n_inputs)
        return ogq_error_set(err, OGQ_ERR_INTERNAL, "node '%s': input index %zu out of range",
                             node->name, index);
    if (index == node->n_inputs) {
        struct ogq_value **grown = realloc(node->inputs, (node->n_inputs + 1) * sizeof *grown);
        if (!grown)
            return OGQ_NOMEM(err);
        node->inputs = grown;
        node->inputs[node->n_inputs++] = NULL;
    }
    if (v && !ogq_value_add_use(v, node, (int)index))
        return OGQ_NOMEM(err);
    if (node->inputs[index])
        ogq_value_remove_use(node->inputs[index], node, (int)index);
    node->inputs[index] = v;
    return OGQ_OK;
}

enum ogq_status ogq_graph_replace_uses(struct ogq_graph *g, struct ogq_value *from,
                                       struct ogq_value *to, bool graph_outputs,
                                       struct ogq_error *err)
{
    if (from == to)
        return OGQ_OK;
    if (!ogq_array_reserve((void **)&to->uses, &to->cap_uses, to->n_uses + from->n_uses,
                           sizeof *to->uses))
        return OGQ_NOMEM(err);
    for (size_t i = 0; i < from->n_uses; i++) {
        struct ogq_use u = from->uses[i];
        if (u.input >= 0)
            u.node->inputs[u.input] = to;
        else
            u.node->implicit_inputs[-1 - u.input] = to;
        to->uses[to->n_uses++] = u;
    }
    from->n_uses = 0;
    if (graph_outputs && from->is_graph_output) {
        for (size_t i = 0; i < g->n_outputs; i++)
            if (g->outputs[i] == from)
                g->outputs[i] = to;
        from->is_graph_output = false;
        to->is_graph_output = true;
    }
    return OGQ_OK;
}

enum ogq_status ogq_graph_set_initializer(struct ogq_graph *g, struct ogq_value *v,
                                          struct ogq_tensor *t, struct ogq_error *err)
{
    if (v->producer) {
        ogq_tensor_free(t);
        return ogq_error_set(err, OGQ_ERR_INTERNAL,
                             "value '%s' has a producer and cannot be an initializer", v->name);
    }
    enum ogq_status st = ogq_tensor_set_name(t, v->name, err);
    if (st != OGQ_OK) {
        ogq_tensor_free(t);
        return st;
    }
    if (!v->initializer) {
        if (!OGQ_ARRAY_PUSH(g->initializers, g->n_initializers, g->cap_initializers, v)) {
            ogq_tensor_free(t);
            return OGQ_NOMEM(err);
        }
    }
    ogq_tensor_free(v->initializer);
    v->initializer = t;
    /* The declared type now follows the tensor. */
    if (v->has_type || v->is_graph_input || v->has_value_info) {
        st = ogq_value_set_type(v, t->dtype, t->rank, t->dims, err);
        if (st != OGQ_OK)
            return st;
    }
    return OGQ_OK;
}

void ogq_graph_remove_node(struct ogq_graph *g, struct ogq_node *node)
{
    ptrdiff_t pos = ogq_graph_node_index(g, node);
    if (pos < 0)
        return;
    for (size_t i = 0; i < node->n_inputs; i++)
        if (node->inputs[i])
            ogq_value_remove_use(node->inputs[i], node, (int)i);
    for (size_t i = 0; i < node->n_implicit; i++)
        ogq_value_remove_use(node->implicit_inputs[i], node, -1 - (int)i);
    for (size_t i = 0; i < node->n_outputs; i++) {
        if (node->outputs[i]) {
            node->outputs[i]->producer = NULL;
            node->outputs[i]->producer_output = -1;
        }
    }
    memmove(&g->nodes[pos], &g->nodes[pos + 1], (g->n_nodes - (size_t)pos - 1) * sizeof *g->nodes);
    g->n_nodes--;
    node_free(node);
}

/* Removes `v` from a value-pointer list, keeping order. */
static void list_remove(struct ogq_value **list, size_t *n, const struct ogq_value *v)
{
    size_t w = 0;
    for (size_t r = 0; r < *n; r++)
        if (list[r] != v)
            list[w++] = list[r];
    *n = w;
}

enum ogq_status ogq_graph_remove_value(struct ogq_graph *g, struct ogq_value *v,
                                       struct ogq_error *err)
{
    if (v->producer || v->n_uses || v->is_graph_input || v->is_graph_output)
        return ogq_error_set(err, OGQ_ERR_INTERNAL, "value '%s' is still in use", v->name);
    list_remove(g->initializers, &g->n_initializers, v);
    list_remove(g->value_infos, &g->n_value_infos, v);
    list_remove(g->values, &g->n_values, v);
    ogq_strmap_del(&g->by_name, v->name);
    value_free(v);
    return OGQ_OK;
}

static bool node_is_dead(const struct ogq_node *n)
{
    for (size_t i = 0; i < n->n_outputs; i++) {
        const struct ogq_value *o = n->outputs[i];
        if (o && (o->n_uses || o->is_graph_output))
            return false;
    }
    return true;
}

void ogq_graph_remove_dead(struct ogq_graph *g, size_t *removed)
{
    size_t count = 0;
    /* Reverse topological order removes whole dead chains in one sweep. */
    for (size_t i = g->n_nodes; i-- > 0;) {
        if (node_is_dead(g->nodes[i])) {
            ogq_graph_remove_node(g, g->nodes[i]);
            count++;
        }
    }
    for (size_t i = g->n_values; i-- > 0;) {
        struct ogq_value *v = g->values[i];
        if (!v->producer && !v->n_uses && !v->is_graph_input && !v->is_graph_output)
            ogq_graph_remove_value(g, v, NULL);
    }
    if (removed)
        *removed = count;
}

/* ---------------------------------------------------------------- topological sort */

enum ogq_status ogq_graph_topo_sort(struct ogq_graph *g, struct ogq_error *err)
{
    size_t n = g->n_nodes;
    if (n == 0)
        return OGQ_OK;
    /* Kahn's algorithm over node indices; a min-index ready set keeps the sort stable. */
    size_t *pending = calloc(n, sizeof *pending);
    struct ogq_node **order = malloc(n * sizeof *order);
    unsigned char *done = calloc(n, 1);
    enum ogq_status st = OGQ_OK;
    if (!pending || !order || !done) {
        st = OGQ_NOMEM(err);
        goto out;
    }
    /* pending[i] = number of inputs of node i produced by a node not yet placed. */
    for (size_t i = 0; i < n; i++) {
        struct ogq_node *node = g->nodes[i];
        node->scratch = i;
        for (size_t k = 0; k < node->n_inputs; k++)
            if (node->inputs[k] && node->inputs[k]->producer)
                pending[i]++;
        for (size_t k = 0; k < node->n_implicit; k++)
            if (node->implicit_inputs[k]->producer)
                pending[i]++;
    }
    /* Simple O(n * passes) sweep: repeatedly take the first ready node. Graphs are in
     * topological order already in the common case, which makes this one pass. */
    size_t placed = 0, scan_from = 0;
    while (placed < n) {
        size_t pick = n;
        for (size_t i = scan_from; i < n; i++) {
            if (!done[i] && pending[i] == 0) {
                pick = i;
                break;
            }
        }
        if (pick == n && scan_from > 0) {
            scan_from = 0;
            continue;
        }
        if (pick == n) {
            size_t culprit = 0;
            while (done[culprit])
                culprit++;
            st = ogq_error_set(err, OGQ_ERR_FORMAT,
                               "graph has a cycle through node '%s' (%s)", g->nodes[culprit]->name,
                               g->nodes[culprit]->op_type);
            goto out;
        }
        done[pick] = 1;
        order[placed++] = g->nodes[pick];
        struct ogq_node *node = g->nodes[pick];
        size_t min_released = n;
        for (size_t k = 0; k < node->n_outputs; k++) {
            struct ogq_value *o = node->outputs[k];
            if (!o)
                continue;
            for (size_t u = 0; u < o->n_uses; u++) {
                size_t j = o->uses[u].node->scratch;
                if (pending[j] > 0) {
                    pending[j]--;
                    if (pending[j] == 0 && j < min_released)
                        min_released = (size_t)j;
                }
            }
        }
        scan_from = min_released < pick ? min_released : pick + 1;
        if (scan_from >= n)
            scan_from = 0;
    }
    memcpy(g->nodes, order, n * sizeof *order);
out:
    free(pending);
    free(order);
    free(done);
    return st;
}

/* ---------------------------------------------------------------- verify */

#define VERIFY_FAIL(...) return ogq_error_set(err, OGQ_ERR_INTERNAL, "verify: " __VA_ARGS__)

enum ogq_status ogq_graph_verify(const struct ogq_graph *g, struct ogq_error *err)
{
    if (g->by_name.live != g->n_values)
        VERIFY_FAIL("name map has %zu entries for %zu values", g->by_name.live, g->n_values);
    for (size_t i = 0; i < g->n_values; i++) {
        const struct ogq_value *v = g->values[i];
        if (ogq_graph_value(g, v->name) != v)
            VERIFY_FAIL("value '%s' is not found under its name", v->name);
        if (v->producer) {
            if (v->producer_output < 0 || (size_t)v->producer_output >= v->producer->n_outputs ||
                v->producer->outputs[v->producer_output] != v)
                VERIFY_FAIL("value '%s' names a producer that does not output it", v->name);
            if (v->initializer || v->is_graph_input)
                VERIFY_FAIL("value '%s' has a producer and is an initializer or input", v->name);
            if (ogq_graph_node_index(g, v->producer) < 0)
                VERIFY_FAIL("value '%s' is produced by a node not in the graph", v->name);
        }
        for (size_t u = 0; u < v->n_uses; u++) {
            const struct ogq_use *use = &v->uses[u];
            const struct ogq_node *n = use->node;
            bool ok = use->input >= 0
                          ? (size_t)use->input < n->n_inputs && n->inputs[use->input] == v
                          : (size_t)(-1 - use->input) < n->n_implicit &&
                                n->implicit_inputs[-1 - use->input] == v;
            if (!ok)
                VERIFY_FAIL("value '%s' lists a use by node '%s' that does not read it", v->name,
                            n->name);
        }
        if (v->initializer && v->initializer->name && strcmp(v->initializer->name, v->name) != 0)
            VERIFY_FAIL("initializer of '%s' is named '%s'", v->name, v->initializer->name);
    }
    /* Topological order and input/use symmetry. `defined` marks values usable so far. */
    struct ogq_strmap defined;
    ogq_strmap_init(&defined);
    enum ogq_status st = OGQ_OK;
    for (size_t i = 0; i < g->n_nodes && st == OGQ_OK; i++) {
        const struct ogq_node *n = g->nodes[i];
        for (size_t k = 0; k < n->n_inputs + n->n_implicit && st == OGQ_OK; k++) {
            bool implicit = k >= n->n_inputs;
            const struct ogq_value *v = implicit ? n->implicit_inputs[k - n->n_inputs] : n->inputs[k];
            if (!v)
                continue;
            int idx = implicit ? -1 - (int)(k - n->n_inputs) : (int)k;
            if (ogq_graph_value(g, v->name) != v)
                st = ogq_error_set(err, OGQ_ERR_INTERNAL,
                                   "verify: node '%s' reads value '%s' not in the graph", n->name,
                                   v->name);
            else if (v->producer && !ogq_strmap_get(&defined, v->name))
                st = ogq_error_set(err, OGQ_ERR_INTERNAL,
                                   "verify: node '%s' reads '%s' before it is produced", n->name,
                                   v->name);
            else {
                bool listed = false;
                for (size_t u = 0; u < v->n_uses && !listed; u++)
                    listed = v->uses[u].node == n && v->uses[u].input == idx;
                if (!listed)
                    st = ogq_error_set(err, OGQ_ERR_INTERNAL,
                                       "verify: node '%s' input %d ('%s') is missing from its uses",
                                       n->name, idx, v->name);
            }
        }
        for (size_t k = 0; k < n->n_outputs && st == OGQ_OK; k++) {
            const struct ogq_value *o = n->outputs[k];
            if (!o)
                continue;
            if (o->producer != n || o->producer_output != (int)k)
                st = ogq_error_set(err, OGQ_ERR_INTERNAL,
                                   "verify: output %zu of node '%s' ('%s') names another producer",
                                   k, n->name, o->name);
            else if (!ogq_strmap_put(&defined, o->name, (void *)o))
                st = OGQ_NOMEM(err);
        }
    }
    ogq_strmap_fini(&defined);
    OGQ_TRY(st);
    for (size_t i = 0; i < g->n_outputs; i++)
        if (!g->outputs[i]->is_graph_output || ogq_graph_value(g, g->outputs[i]->name) != g->outputs[i])
            VERIFY_FAIL("graph output '%s' is not flagged or not in the graph", g->outputs[i]->name);
    for (size_t i = 0; i < g->n_inputs; i++)
        if (!g->inputs[i]->is_graph_input)
            VERIFY_FAIL("graph input '%s' is not flagged", g->inputs[i]->name);
    for (size_t i = 0; i < g->n_initializers; i++)
        if (!g->initializers[i]->initializer)
            VERIFY_FAIL("initializer list holds '%s' without data", g->initializers[i]->name);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- model */

enum ogq_status ogq_model_new(struct ogq_model **out, struct ogq_error *err)
{
    struct ogq_model *m = calloc(1, sizeof *m);
    if (!m)
        return OGQ_NOMEM(err);
    m->ir_version = 10;
    m->graph = ogq_graph_new_empty();
    if (!m->graph) {
        free(m);
        return OGQ_NOMEM(err);
    }
    *out = m;
    return OGQ_OK;
}

void ogq_model_free(struct ogq_model *m)
{
    if (!m)
        return;
    ogq_graph_free(m->graph);
    for (size_t i = 0; i < m->n_opsets; i++)
        free(m->opsets[i].domain);
    free(m->opsets);
    for (size_t i = 0; i < m->n_metadata; i++) {
        free(m->metadata[i].key);
        free(m->metadata[i].value);
    }
    free(m->metadata);
    free(m->producer_name);
    free(m->producer_version);
    free(m->path);
    free(m->dir);
    for (size_t i = 0; i < m->n_external_files; i++)
        free(m->external_files[i]);
    free(m->external_files);
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, NULL);
    free(m);
}

static bool same_domain(const char *a, const char *b)
{
    if (strcmp(a, "ai.onnx") == 0)
        a = "";
    if (strcmp(b, "ai.onnx") == 0)
        b = "";
    return strcmp(a, b) == 0;
}

int64_t ogq_model_opset(const struct ogq_model *m, const char *domain)
{
    for (size_t i = 0; i < m->n_opsets; i++)
        if (same_domain(m->opsets[i].domain, domain))
            return m->opsets[i].version;
    return 0;
}

enum ogq_status ogq_model_set_opset(struct ogq_model *m, const char *domain, int64_t version,
                                    struct ogq_error *err)
{
    for (size_t i = 0; i < m->n_opsets; i++) {
        if (same_domain(m->opsets[i].domain, domain)) {
            m->opsets[i].version = version;
            return OGQ_OK;
        }
    }
    char *copy = strdup(domain);
    struct ogq_opset *grown = copy ? realloc(m->opsets, (m->n_opsets + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(copy);
        return OGQ_NOMEM(err);
    }
    m->opsets = grown;
    m->opsets[m->n_opsets].domain = copy;
    m->opsets[m->n_opsets].version = version;
    m->n_opsets++;
    return OGQ_OK;
}

const char *ogq_model_metadata(const struct ogq_model *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata; i++)
        if (strcmp(m->metadata[i].key, key) == 0)
            return m->metadata[i].value;
    return NULL;
}

enum ogq_status ogq_model_set_metadata(struct ogq_model *m, const char *key, const char *value,
                                       struct ogq_error *err)
{
    char *v = strdup(value);
    if (!v)
        return OGQ_NOMEM(err);
    for (size_t i = 0; i < m->n_metadata; i++) {
        if (strcmp(m->metadata[i].key, key) == 0) {
            free(m->metadata[i].value);
            m->metadata[i].value = v;
            return OGQ_OK;
        }
    }
    char *k = strdup(key);
    struct ogq_kv *grown = k ? realloc(m->metadata, (m->n_metadata + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(k);
        free(v);
        return OGQ_NOMEM(err);
    }
    m->metadata = grown;
    m->metadata[m->n_metadata].key = k;
    m->metadata[m->n_metadata].value = v;
    m->n_metadata++;
    return OGQ_OK;
}
