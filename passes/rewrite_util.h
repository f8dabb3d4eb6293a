/* rewrite_util.h — small graph edits shared by the rewrites (internal to passes/). */
#ifndef OGQ_REWRITE_UTIL_H
#define OGQ_REWRITE_UTIL_H

#include "graph/graph.h"
#include "target.h"

/* Creates an initializer named "<base><suffix>" (made unique) holding `t` (takes ownership,
 * also on failure). */
enum ogq_status ogq_add_initializer(struct ogq_graph *g, const char *base, const char *suffix,
                                    struct ogq_tensor *t, struct ogq_value **out,
                                    struct ogq_error *err);

/* Creates an empty value named "<base><suffix>" (made unique). */
enum ogq_status ogq_add_fresh_value(struct ogq_graph *g, const char *base, const char *suffix,
                                    struct ogq_value **out, struct ogq_error *err);

/* After a rewrite stopped using `w`: if it was also declared as a graph input (IR < 4
 * models, keep_initializers_as_inputs exports), it leaves the input list, because the
 * float weight no longer exists to be overridden. Dead-value removal frees it later. */
void ogq_drop_replaced_weight(struct ogq_graph *g, struct ogq_value *w);

/* Lowest default-domain opset the QDQ form of `t` needs (13 per-axis, 21 for 4-bit types
 * or blocks). */
int64_t ogq_qdq_required_opset(const struct ogq_target *t);

#endif
