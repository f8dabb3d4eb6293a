/* const_fold.h — constant folding, so that every constant weight is an initializer.
 *
 * Before:  W (initializer) → Reshape(shape const) → Transpose → MatMul      Constant → Conv
 * After:   W' (initializer, reshaped and transposed) → MatMul              W (initializer) → Conv
 *
 * A node is folded when every input is a constant initializer and the runtime has a kernel
 * for it: it is evaluated with that kernel (so folding is exactly as correct as the
 * conformance-tested runtime) and its outputs become initializers. Constant nodes fold the
 * same way. Skipped: nodes producing graph outputs, inputs or outputs in a dtype the runtime
 * converts (float16/bfloat16/double — folding would change their stored type), and results
 * much larger than their inputs (Expand/Tile/ConstantOfShape blow-ups). Unused initializers
 * are removed afterwards. Initializers that are also listed as graph inputs (every IR < 4
 * model, and exports with keep_initializers_as_inputs) count as constants: they are the
 * model's weights, and a quantized model cannot take float replacements for them anyway.
 */
#ifndef OGQ_CONST_FOLD_H
#define OGQ_CONST_FOLD_H

#include <stddef.h>

#include "graph/graph.h"
#include "util/status.h"

/* Folds until nothing changes. *folded (may be NULL) receives the number of nodes folded. */
enum ogq_status ogq_fold_constants(struct ogq_model *m, size_t *folded, struct ogq_error *err);

/* True when `v` holds constant data for folding and quantization purposes. */
bool ogq_value_is_constant(const struct ogq_model *m, const struct ogq_value *v);

#endif
