#include "rewrite_util.h"

#include <stdio.h>

enum ogq_status ogq_add_fresh_value(struct ogq_graph *g, const char *base, const char *suffix,
                                    struct ogq_value **out, struct ogq_error *err)
{
    char want[1024], name[1100];
    snprintf(want, sizeof want, "%s%s", base, suffix);
    ogq_graph_unique_name(g, want, name, sizeof name);
    return ogq_graph_add_value(g, name, out, err);
}

enum ogq_status ogq_add_initializer(struct ogq_graph *g, const char *base, const char *suffix,
                                    struct ogq_tensor *t, struct ogq_value **out,
                                    struct ogq_error *err)
{
    enum ogq_status st = ogq_add_fresh_value(g, base, suffix, out, err);
    if (st != OGQ_OK) {
        ogq_tensor_free(t);
        return st;
    }
    return ogq_graph_set_initializer(g, *out, t, err);
}

void ogq_drop_replaced_weight(struct ogq_graph *g, struct ogq_value *w)
{
    if (!w->is_graph_input || w->n_uses > 0)
        return;
    size_t k = 0;
    for (size_t i = 0; i < g->n_inputs; i++)
        if (g->inputs[i] != w)
            g->inputs[k++] = g->inputs[i];
    g->n_inputs = k;
    w->is_graph_input = false;
}
