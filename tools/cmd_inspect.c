/* cmd_inspect.c — `onnx-gptq inspect MODEL [--json]`: what is in a model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph/model_io.h"
#include "util/json.h"

static const char help[] =
    "usage: onnx-gptq inspect MODEL [--json]\n"
    "\n"
    "Prints the IR version, producer, opset imports, inputs and outputs with dtypes and\n"
    "shapes, an op histogram, initializer count/parameters/bytes, and how many\n"
    "MatMul/Gemm/Conv nodes have constant weights (the quantization targets).\n"
    "\n"
    "  --json   machine-readable output on stdout\n";

struct op_count {
    const char *op; /* borrowed from a node */
    const char *domain;
    size_t count;
};

struct summary {
    struct op_count *ops;
    size_t n_ops;
    size_t n_initializers;
    int64_t parameters;
    size_t bytes;
    size_t half_initializers; /* float16/bfloat16: the runtime computes them in float32 */
    size_t targets_matmul, targets_gemm, targets_conv;
    size_t targets_via_constant; /* weight from a Constant node rather than an initializer */
    size_t subgraph_nodes;       /* nodes with If/Loop/Scan bodies (left untouched) */
};

static int op_cmp(const void *a, const void *b)
{
    const struct op_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    int c = strcmp(x->domain, y->domain);
    return c ? c : strcmp(x->op, y->op);
}

/* The weight of a MatMul/Gemm/Conv is input 1; it counts when it is constant. */
static int weight_kind(const struct ogq_node *n)
{
    if (n->n_inputs < 2 || !n->inputs[1])
        return 0;
    const struct ogq_value *w = n->inputs[1];
    /* An initializer also listed as a graph input (exporters' keep_initializers_as_inputs,
     * and every IR < 4 model) is still a weight: users feed only the real inputs. */
    if (w->initializer)
        return 1;
    if (w->producer && strcmp(w->producer->op_type, "Constant") == 0 && !*w->producer->domain)
        return 2;
    return 0;
}

static bool summarize(const struct ogq_model *m, struct summary *s)
{
    const struct ogq_graph *g = m->graph;
    memset(s, 0, sizeof *s);
    s->ops = calloc(g->n_nodes ? g->n_nodes : 1, sizeof *s->ops);
    if (!s->ops)
        return false;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const struct ogq_node *n = g->nodes[i];
        size_t k = 0;
        while (k < s->n_ops && !(strcmp(s->ops[k].op, n->op_type) == 0 &&
                                 strcmp(s->ops[k].domain, n->domain) == 0))
            k++;
        if (k == s->n_ops)
            s->ops[s->n_ops++] = (struct op_count){n->op_type, n->domain, 0};
        s->ops[k].count++;
        if (n->has_subgraphs)
            s->subgraph_nodes++;
        if (*n->domain)
            continue;
        int kind = weight_kind(n);
        if (!kind)
            continue;
        if (strcmp(n->op_type, "MatMul") == 0)
            s->targets_matmul++;
        else if (strcmp(n->op_type, "Gemm") == 0)
            s->targets_gemm++;
        else if (strcmp(n->op_type, "Conv") == 0)
            s->targets_conv++;
        else
            continue;
        if (kind == 2)
            s->targets_via_constant++;
    }
    qsort(s->ops, s->n_ops, sizeof *s->ops, op_cmp);
    for (size_t i = 0; i < g->n_initializers; i++) {
        const struct ogq_tensor *t = g->initializers[i]->initializer;
        s->n_initializers++;
        s->parameters += t->numel;
        s->bytes += t->nbytes;
        if (t->dtype == OGQ_DTYPE_FLOAT16 || t->dtype == OGQ_DTYPE_BFLOAT16)
            s->half_initializers++;
    }
    return true;
}

/* "[1,3,'batch',?]" style shape text. */
static void format_type(const struct ogq_value *v, char *buf, size_t size)
{
    if (!v->is_tensor) {
        snprintf(buf, size, "(non-tensor)");
        return;
    }
    const char *dt = v->has_type ? ogq_dtype_short_name(v->type.dtype) : "?";
    if (!v->has_type || v->type.rank < 0) {
        snprintf(buf, size, "%s [?]", dt);
        return;
    }
    size_t pos = (size_t)snprintf(buf, size, "%s [", dt);
    for (int i = 0; i < v->type.rank && pos < size; i++) {
        const struct ogq_dim *d = &v->type.dims[i];
        int n;
        if (d->value >= 0)
            n = snprintf(buf + pos, size - pos, "%s%lld", i ? "," : "", (long long)d->value);
        else if (d->param)
            n = snprintf(buf + pos, size - pos, "%s%s", i ? "," : "", d->param);
        else
            n = snprintf(buf + pos, size - pos, "%s?", i ? "," : "");
        if (n < 0)
            return;
        pos += (size_t)n;
    }
    if (pos < size)
        snprintf(buf + pos, size - pos, "]");
}

static void json_value_list(struct ogq_json *j, struct ogq_value *const *vals, size_t n,
                            bool skip_initializers)
{
    ogq_json_begin_array(j);
    for (size_t i = 0; i < n; i++) {
        const struct ogq_value *v = vals[i];
        if (skip_initializers && v->initializer)
            continue;
        ogq_json_begin_object(j);
        ogq_json_key(j, "name");
        ogq_json_string(j, v->name);
        ogq_json_key(j, "dtype");
        ogq_json_string(j, v->has_type && v->is_tensor ? ogq_dtype_short_name(v->type.dtype) : "unknown");
        ogq_json_key(j, "shape");
        if (!v->has_type || !v->is_tensor || v->type.rank < 0) {
            ogq_json_null(j);
        } else {
            ogq_json_begin_array(j);
            for (int d = 0; d < v->type.rank; d++) {
                if (v->type.dims[d].value >= 0)
                    ogq_json_int(j, v->type.dims[d].value);
                else if (v->type.dims[d].param)
                    ogq_json_string(j, v->type.dims[d].param);
                else
                    ogq_json_null(j);
            }
            ogq_json_end_array(j);
        }
        ogq_json_end_object(j);
    }
    ogq_json_end_array(j);
}

static void print_json(const struct ogq_model *m, const struct summary *s)
{
    const struct ogq_graph *g = m->graph;
    struct ogq_json j;
    ogq_json_init(&j, stdout, true);
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "model");
    ogq_json_string(&j, m->path ? m->path : "");
    ogq_json_key(&j, "ir_version");
    ogq_json_int(&j, m->ir_version);
    ogq_json_key(&j, "producer_name");
    ogq_json_string(&j, m->producer_name ? m->producer_name : "");
    ogq_json_key(&j, "producer_version");
    ogq_json_string(&j, m->producer_version ? m->producer_version : "");
    ogq_json_key(&j, "opset_imports");
    ogq_json_begin_object(&j);
    for (size_t i = 0; i < m->n_opsets; i++) {
        ogq_json_key(&j, *m->opsets[i].domain ? m->opsets[i].domain : "ai.onnx");
        ogq_json_int(&j, m->opsets[i].version);
    }
    ogq_json_end_object(&j);
    ogq_json_key(&j, "inputs");
    json_value_list(&j, g->inputs, g->n_inputs, true);
    ogq_json_key(&j, "outputs");
    json_value_list(&j, g->outputs, g->n_outputs, false);
    ogq_json_key(&j, "nodes");
    ogq_json_int(&j, (int64_t)g->n_nodes);
    ogq_json_key(&j, "op_histogram");
    ogq_json_begin_object(&j);
    for (size_t i = 0; i < s->n_ops; i++) {
        char key[512];
        snprintf(key, sizeof key, "%s%s%s", s->ops[i].domain, *s->ops[i].domain ? "::" : "",
                 s->ops[i].op);
        ogq_json_key(&j, key);
        ogq_json_int(&j, (int64_t)s->ops[i].count);
    }
    ogq_json_end_object(&j);
    ogq_json_key(&j, "initializers");
    ogq_json_int(&j, (int64_t)s->n_initializers);
    ogq_json_key(&j, "parameters");
    ogq_json_int(&j, s->parameters);
    ogq_json_key(&j, "initializer_bytes");
    ogq_json_int(&j, (int64_t)s->bytes);
    ogq_json_key(&j, "half_precision_initializers");
    ogq_json_int(&j, (int64_t)s->half_initializers);
    ogq_json_key(&j, "quantization_targets");
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "total");
    ogq_json_int(&j, (int64_t)(s->targets_matmul + s->targets_gemm + s->targets_conv));
    ogq_json_key(&j, "MatMul");
    ogq_json_int(&j, (int64_t)s->targets_matmul);
    ogq_json_key(&j, "Gemm");
    ogq_json_int(&j, (int64_t)s->targets_gemm);
    ogq_json_key(&j, "Conv");
    ogq_json_int(&j, (int64_t)s->targets_conv);
    ogq_json_key(&j, "weight_from_constant_node");
    ogq_json_int(&j, (int64_t)s->targets_via_constant);
    ogq_json_end_object(&j);
    ogq_json_key(&j, "nodes_with_subgraphs");
    ogq_json_int(&j, (int64_t)s->subgraph_nodes);
    ogq_json_key(&j, "metadata_props");
    ogq_json_begin_object(&j);
    for (size_t i = 0; i < m->n_metadata; i++) {
        ogq_json_key(&j, m->metadata[i].key);
        ogq_json_string(&j, m->metadata[i].value);
    }
    ogq_json_end_object(&j);
    ogq_json_end_object(&j);
    fputc('\n', stdout);
}

static void print_text(const struct ogq_model *m, const struct summary *s)
{
    const struct ogq_graph *g = m->graph;
    char buf[1024];
    printf("model:        %s\n", m->path ? m->path : "");
    printf("ir_version:   %lld\n", (long long)m->ir_version);
    printf("producer:     %s %s\n", m->producer_name ? m->producer_name : "",
           m->producer_version ? m->producer_version : "");
    printf("opsets:      ");
    for (size_t i = 0; i < m->n_opsets; i++)
        printf(" %s %lld%s", *m->opsets[i].domain ? m->opsets[i].domain : "ai.onnx",
               (long long)m->opsets[i].version, i + 1 < m->n_opsets ? "," : "");
    printf("\ninputs:\n");
    for (size_t i = 0; i < g->n_inputs; i++) {
        if (g->inputs[i]->initializer)
            continue;
        format_type(g->inputs[i], buf, sizeof buf);
        printf("  %-24s %s\n", g->inputs[i]->name, buf);
    }
    printf("outputs:\n");
    for (size_t i = 0; i < g->n_outputs; i++) {
        format_type(g->outputs[i], buf, sizeof buf);
        printf("  %-24s %s\n", g->outputs[i]->name, buf);
    }
    printf("nodes:        %zu\n", g->n_nodes);
    printf("ops:\n");
    for (size_t i = 0; i < s->n_ops; i++) {
        snprintf(buf, sizeof buf, "%s%s%s", s->ops[i].domain, *s->ops[i].domain ? "::" : "",
                 s->ops[i].op);
        printf("  %-24s %zu\n", buf, s->ops[i].count);
    }
    printf("initializers: %zu (%lld parameters, %zu bytes)\n", s->n_initializers,
           (long long)s->parameters, s->bytes);
    if (s->half_initializers)
        printf("              %zu in float16/bfloat16 (computed in float32 by the runtime)\n",
               s->half_initializers);
    printf("quantization targets: %zu with constant weights (MatMul %zu, Gemm %zu, Conv %zu)\n",
           s->targets_matmul + s->targets_gemm + s->targets_conv, s->targets_matmul,
           s->targets_gemm, s->targets_conv);
    if (s->targets_via_constant)
        printf("              %zu of them take the weight from a Constant node\n",
               s->targets_via_constant);
    if (s->subgraph_nodes)
        printf("subgraphs:    %zu nodes with If/Loop/Scan bodies (left as they are)\n",
               s->subgraph_nodes);
    for (size_t i = 0; i < m->n_metadata; i++)
        printf("metadata:     %s = %s\n", m->metadata[i].key, m->metadata[i].value);
}

int cmd_inspect(int argc, char **argv)
{
    struct cli_args a;
    cli_args_init(&a, "inspect", argc, argv);
    const char *path = NULL;
    bool json = false;
    char name[64];
    for (const char *arg; (arg = cli_next(&a, name, sizeof name));) {
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            fputs(help, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(arg, "--json") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            json = true;
        } else if (cli_is_option(arg)) {
            return cli_usage_error("inspect", "unknown option '%s'", arg);
        } else if (!path) {
            path = arg;
        } else {
            return cli_usage_error("inspect", "unexpected argument '%s'", arg);
        }
    }
    if (!path)
        return cli_usage_error("inspect", "missing MODEL");
    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *m;
    if (ogq_model_load(path, &m, &err) != OGQ_OK)
        return cli_fail(&err, true);
    struct summary s;
    if (!summarize(m, &s)) {
        ogq_model_free(m);
        cli_error("out of memory");
        return CLI_EXIT_FAILURE;
    }
    if (json)
        print_json(m, &s);
    else
        print_text(m, &s);
    free(s.ops);
    ogq_model_free(m);
    return CLI_EXIT_OK;
}
