/* graph_impl.h — IR internals shared by the graph/ sources (not part of the public API). */
#ifndef OGQ_GRAPH_IMPL_H
#define OGQ_GRAPH_IMPL_H

#include "graph.h"

void ogq_type_fini(struct ogq_type *t);
bool ogq_type_equal(const struct ogq_type *a, const struct ogq_type *b);
void ogq_attr_fini(struct ogq_attr *a);
bool ogq_value_add_use(struct ogq_value *v, struct ogq_node *node, int input);
void ogq_value_remove_use(struct ogq_value *v, const struct ogq_node *node, int input);
struct ogq_graph *ogq_graph_new_empty(void);
void ogq_graph_free(struct ogq_graph *g);

#endif
