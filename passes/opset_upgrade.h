/* opset_upgrade.h — raise a model's default-domain (ai.onnx) opset, rewriting every node
 * whose operator definition changed between the model's opset and the target.
 *
 * Why: the GPTQ pass writes INT4/UINT4 weights and blocked DequantizeLinear, which need
 * ai.onnx opset >= 21 and IR version >= 10, while real models come at opsets 7..17.
 */
#ifndef OGQ_OPSET_UPGRADE_H
#define OGQ_OPSET_UPGRADE_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Highest target opset the pass knows the operator changelog for. */
#define OGQ_OPSET_UPGRADE_MAX 21

/* Upgrades `m` (borrowed, modified in place) to ai.onnx opset `target`.
 *
 * Contract:
 *   - Every default-domain node of the main graph is converted from its definition at the
 *     model's opset to its definition at `target` with the same results: attributes that
 *     became inputs become initializers (INT64 lists, scalars of the data's type), removed
 *     legacy attributes are dropped when their value is the default, and ops whose
 *     semantics changed are rewritten (e.g. Softmax < 13 around Flatten/Reshape, Upsample
 *     to Resize, Scatter to ScatterElements). New values and nodes get unique names.
 *   - Nodes of other domains are left alone. Nodes inside subgraphs (If bodies, ...) are
 *     kept as stored, so they are accepted only when their op needs no rewriting.
 *   - A node whose op has no conversion rule, or whose conversion would not be exact,
 *     makes the call fail with OGQ_ERR_UNSUPPORTED; the message names every such node
 *     (name, op, opset, reason) and the model is left unchanged.
 *   - On success the ai.onnx opset import is `target` (added when the model had none and
 *     no default-domain node), ir_version is raised to the minimum that opset needs (10 for
 *     21) when lower, and the graph passes ogq_graph_verify.
 *   - `target` below the model's opset (or < 1): OGQ_ERR_USAGE. Above
 *     OGQ_OPSET_UPGRADE_MAX: OGQ_ERR_UNSUPPORTED. Equal: only ir_version may change.
 *   - Other failures (OGQ_ERR_NOMEM, OGQ_ERR_INTERNAL) may leave the model partly
 *     converted: the caller then frees it.
 */
enum ogq_status ogq_opset_upgrade(struct ogq_model *m, int64_t target, struct ogq_error *err);

/* The conversion table, for tests and listings: number of operators the pass knows, and
 * for rule `i` (< count) the op name and its ai.onnx since_versions up to
 * OGQ_OPSET_UPGRADE_MAX, ascending (borrowed, static). Returns NULL when i is out of range. */
size_t ogq_opset_upgrade_rule_count(void);
const char *ogq_opset_upgrade_rule(size_t i, const int **since, size_t *n_since);

#ifdef __cplusplus
}
#endif

#endif
