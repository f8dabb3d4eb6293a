/* executor.h — runs a float ONNX model on the CPU and lets passes observe it.
 *
 * Plan once (ogq_executor_new): every node is matched against the kernel registry and
 * its attributes validated; all unsupported nodes are reported together. Constant
 * initializers are converted to runtime storage once (float16/bfloat16/double become
 * float32; float32 data is used in place, not copied). Constant nodes are evaluated at
 * plan time.
 *
 * Run many times (ogq_executor_run): output shapes are inferred node by node from the
 * actual inputs (dynamic batch/sequence dims resolve at run time); each intermediate is
 * released right after its last consumer and its buffer recycled, so when shapes repeat
 * from batch to batch no memory is allocated after the first batch.
 *
 * Observer API — what passes build on:
 *   - ogq_executor_observe(): a callback per invocation of a chosen node (or all nodes)
 *     that borrows the node's input and output tensors (no copies) right after it ran;
 *   - ogq_executor_stop_after(): end the run right after a node (later nodes skipped);
 *   - ogq_executor_override(): use another tensor in place of an initializer for the
 *     following runs (e.g. run through already-quantized weights);
 *   - ogq_executor_transform(): rewrite a value in place right after it is produced or
 *     fed (e.g. fake-quantize an activation); never applied to initializers.
 * Callbacks run on the calling thread, in topological order.
 *
 * Threads: `threads` sets OpenBLAS's thread count once, at the first executor created
 * in the process (OpenBLAS does not reliably grow its pool later).
 */
#ifndef OGQ_EXECUTOR_H
#define OGQ_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "graph/graph.h"
#include "rt_tensor.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_executor;

struct ogq_exec_options {
    int threads; /* <= 0: all cores */
};

/* Observer callback: `inputs`/`outputs` are borrowed for the duration of the call
 * (NULL entries for omitted ones). Returning non-OK aborts the run with that status;
 * the callback should set `err`. */
typedef enum ogq_status (*ogq_observer_fn)(void *user, const struct ogq_node *node,
                                           const struct ogq_rt_tensor *const *inputs,
                                           size_t n_inputs,
                                           const struct ogq_rt_tensor *const *outputs,
                                           size_t n_outputs, struct ogq_error *err);

/* Transform callback: may modify `t->data` in place (same shape and dtype). */
typedef enum ogq_status (*ogq_transform_fn)(void *user, const struct ogq_value *value,
                                            struct ogq_rt_tensor *t, struct ogq_error *err);

/* Plans `model` (borrowed: it must outlive the executor and not change meanwhile).
 * Fails with OGQ_ERR_UNSUPPORTED listing every unsupported node as
 * "N unsupported nodes: 'a' (Op): reason; 'b' (Op): reason; ...". */
enum ogq_status ogq_executor_new(const struct ogq_model *model,
                                 const struct ogq_exec_options *opts, struct ogq_executor **out,
                                 struct ogq_error *err);

void ogq_executor_free(struct ogq_executor *e);

/* Graph inputs the caller must feed (declared inputs that are not initializers), in
 * declaration order. */
size_t ogq_executor_input_count(const struct ogq_executor *e);
const struct ogq_value *ogq_executor_input(const struct ogq_executor *e, size_t i);

/* Runs the model. `inputs` are borrowed, one per ogq_executor_input() in order, in any
 * ONNX dtype the runtime converts (FLOAT16/BFLOAT16/DOUBLE are converted to FLOAT).
 * Fails naming the input on a dtype or rank mismatch with the declared type. */
enum ogq_status ogq_executor_run(struct ogq_executor *e, const struct ogq_tensor *const *inputs,
                                 struct ogq_error *err);

/* Same, with inputs already in runtime storage form (borrowed). */
enum ogq_status ogq_executor_run_rt(struct ogq_executor *e,
                                    const struct ogq_rt_tensor *const *inputs,
                                    struct ogq_error *err);

/* Graph output i of the last run (valid until the next run or free), or NULL if the run
 * stopped before it was produced. */
const struct ogq_rt_tensor *ogq_executor_output(const struct ogq_executor *e, size_t i);

/* Registers `fn` for `node` (NULL: every node). Several observers may be registered;
 * they are called in registration order. */
enum ogq_status ogq_executor_observe(struct ogq_executor *e, const struct ogq_node *node,
                                     ogq_observer_fn fn, void *user, struct ogq_error *err);

/* Removes every observer. */
void ogq_executor_clear_observers(struct ogq_executor *e);

/* Ends each run right after `node` (NULL: run everything). */
void ogq_executor_stop_after(struct ogq_executor *e, const struct ogq_node *node);

/* Uses `t` (borrowed, FLOAT or another storage dtype, same shape as the initializer) in
 * place of initializer `value` until cleared with t == NULL. */
enum ogq_status ogq_executor_override(struct ogq_executor *e, const struct ogq_value *value,
                                      const struct ogq_rt_tensor *t, struct ogq_error *err);

/* Installs (fn != NULL) or removes a transform of `value`. A graph input is copied before
 * it is transformed, so caller data is never modified. */
enum ogq_status ogq_executor_transform(struct ogq_executor *e, const struct ogq_value *value,
                                       ogq_transform_fn fn, void *user, struct ogq_error *err);

/* Evaluates one node of `model` on `inputs` (borrowed, one per node input, NULL for omitted)
 * outside any plan — used by constant folding. Fills `outputs` (one per node output) with
 * data the caller frees with free(). OGQ_ERR_UNSUPPORTED when no kernel handles the node. */
enum ogq_status ogq_eval_node(const struct ogq_model *model, const struct ogq_node *node,
                              const struct ogq_rt_tensor *const *inputs,
                              struct ogq_rt_tensor *outputs, struct ogq_error *err);

/* Peak bytes of intermediate buffers held at once so far (for reports and benchmarks). */
size_t ogq_executor_peak_bytes(const struct ogq_executor *e);

#ifdef __cplusplus
}
#endif

#endif
