#include "const_fold.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/executor.h"

/* Folding may grow data (Expand, Tile): allow results up to this many bytes beyond
 * GROWTH_FACTOR × the inputs. */
#define GROWTH_FACTOR 4
#define GROWTH_SLACK ((size_t)1 << 20)

bool ogq_value_is_constant(const struct ogq_model *m, const struct ogq_value *v)
{
    (void)m;
    return v->initializer != NULL;
}

static bool native_dtype(enum ogq_dtype d)
{
    return ogq_rt_storage_dtype(d) == d;
}

static bool foldable(const struct ogq_model *m, const struct ogq_node *n)
{
    if (*n->domain || n->has_subgraphs)
        return false;
    for (size_t i = 0; i < n->n_outputs; i++)
        if (n->outputs[i] && n->outputs[i]->is_graph_output)
            return false;
    for (size_t i = 0; i < n->n_inputs; i++) {
        const struct ogq_value *v = n->inputs[i];
        if (v && (!ogq_value_is_constant(m, v) || !native_dtype(v->initializer->dtype)))
            return false;
    }
    if (strcmp(n->op_type, "Cast") == 0 &&
        !native_dtype((enum ogq_dtype)ogq_node_attr_int(n, "to", 0)))
        return false;
    if (strcmp(n->op_type, "CastLike") == 0)
        return false; /* its output type is the second input's, possibly a converted one */
    return true;
}

/* Evaluates `n` and replaces it by initializers; *done tells whether it was folded. */
static enum ogq_status fold_node(struct ogq_model *m, struct ogq_node *n, bool *done,
                                 struct ogq_error *err)
{
    *done = false;
    size_t nin = n->n_inputs, nout = n->n_outputs;
    struct ogq_rt_tensor *ins = calloc(nin ? nin : 1, sizeof *ins);
    const struct ogq_rt_tensor **inp = calloc(nin ? nin : 1, sizeof *inp);
    void **owned = calloc(nin ? nin : 1, sizeof *owned);
    struct ogq_rt_tensor *outs = calloc(nout ? nout : 1, sizeof *outs);
    struct ogq_tensor **results = calloc(nout ? nout : 1, sizeof *results);
    enum ogq_status st = OGQ_OK;
    size_t in_bytes = 0;
    if (!ins || !inp || !owned || !outs || !results) {
        st = OGQ_NOMEM(err);
        goto out;
    }
    for (size_t i = 0; i < nin && st == OGQ_OK; i++) {
        if (!n->inputs[i])
            continue;
        st = ogq_rt_tensor_from_ir(n->inputs[i]->initializer, true, &ins[i], &owned[i], err);
        inp[i] = &ins[i];
        in_bytes += ins[i].nbytes;
    }
    if (st != OGQ_OK)
        goto out;
    struct ogq_error eval_err;
    ogq_error_clear(&eval_err);
    if (ogq_eval_node(m, n, inp, outs, &eval_err) != OGQ_OK) {
        if (eval_err.code == OGQ_ERR_NOMEM)
            st = ogq_error_set(err, OGQ_ERR_NOMEM, "%s", eval_err.msg);
        goto out; /* not foldable by our kernels: leave the node to the runtime */
    }
    size_t out_bytes = 0;
    for (size_t i = 0; i < nout; i++)
        out_bytes += n->outputs[i] ? outs[i].nbytes : 0;
    if (out_bytes > GROWTH_FACTOR * in_bytes + GROWTH_SLACK)
        goto out;
    for (size_t i = 0; i < nout && st == OGQ_OK; i++) {
        if (!n->outputs[i])
            continue;
        struct ogq_buffer *buf;
        st = ogq_buffer_wrap(outs[i].data, outs[i].nbytes, &buf, err);
        if (st != OGQ_OK)
            break;
        outs[i].data = NULL; /* now owned by buf */
        st = ogq_tensor_new_view(n->outputs[i]->name, outs[i].dtype, outs[i].rank, outs[i].dims,
                                 buf, 0, outs[i].nbytes, &results[i], err);
        ogq_buffer_unref(buf);
    }
    if (st != OGQ_OK)
        goto out;
    struct ogq_value **values = calloc(nout ? nout : 1, sizeof *values);
    if (!values) {
        st = OGQ_NOMEM(err);
        goto out;
    }
    memcpy(values, n->outputs, nout * sizeof *values);
    ogq_graph_remove_node(m->graph, n);
    for (size_t i = 0; i < nout && st == OGQ_OK; i++) {
        if (!values[i])
            continue;
        st = ogq_graph_set_initializer(m->graph, values[i], results[i], err);
        results[i] = NULL;
    }
    free(values);
    *done = st == OGQ_OK;
out:
    for (size_t i = 0; i < nin; i++)
        if (owned)
            free(owned[i]);
    for (size_t i = 0; i < nout; i++) {
        if (outs)
            free(outs[i].data);
        if (results)
            ogq_tensor_free(results[i]);
    }
    free(ins);
    free(inp);
    free(owned);
    free(outs);
    free(results);
    return st;
}

enum ogq_status ogq_fold_constants(struct ogq_model *m, size_t *folded, struct ogq_error *err)
{
    size_t count = 0;
    struct ogq_graph *g = m->graph;
    /* Topological order: one sweep folds whole constant chains. */
    for (size_t i = 0; i < g->n_nodes;) {
        struct ogq_node *n = g->nodes[i];
        bool done = false;
        if (foldable(m, n))
            OGQ_TRY(fold_node(m, n, &done, err));
        if (done)
            count++; /* the node was removed: index i now holds the next one */
        else
            i++;
    }
    if (count) {
        ogq_graph_remove_dead(g, NULL);
        OGQ_TRY(ogq_graph_verify(g, err));
    }
    if (folded)
        *folded = count;
    return OGQ_OK;
}
