/* quantize_internal.h — pieces of the quantization pass shared by its two drivers
 * (quantize.c: one-shot/sequential GPTQ; quantize_lockstep.c: teacher/student lockstep
 * with activation quantization and refinement). Internal to passes/. */
#ifndef OGQ_QUANTIZE_INTERNAL_H
#define OGQ_QUANTIZE_INTERNAL_H

#include "act_qdq.h"
#include "quantize.h"
#include "runtime/rt_tensor.h"
#include "target.h"

double ogq_now_seconds(void);

/* Grows *p (float array of *cap elements) to at least `need`; false when out of memory
 * (*p unchanged). */
bool ogq_grow_floats(float **p, size_t *cap, size_t need);

/* The checks every calibration observer makes on a target's input: float32, and for
 * row-major layouts (MatMul, Gemm without transA) a last dimension of K. */
enum ogq_status ogq_target_check_input(const struct ogq_target *t, const struct ogq_node *node,
                                       const struct ogq_rt_tensor *x, struct ogq_error *err);

void ogq_quantize_progress(const struct ogq_quantize_opts *o, const char *phase, size_t done,
                           size_t total);

/* Moves the per-conv-group results qs[0..groups) into t->q (rows·groups × cols). The
 * entries of qs are left empty (finalize them anyway). */
enum ogq_status ogq_target_merge_groups(struct ogq_target *t, struct ogq_qweight *qs,
                                        struct ogq_error *err);

/* Dequantized weight in the initializer's layout as a runtime tensor (data owned by
 * t->w_deq) for executor overrides. */
enum ogq_status ogq_target_make_override(struct ogq_target *t, struct ogq_rt_tensor *rt,
                                         struct ogq_error *err);

/* Lockstep mode (refinement and/or activation quantization): inserts the activation
 * placeholders (returned in *sites; the caller rewrites them to Q/DQ after the weights and
 * frees them), calibrates activation ranges, computes Hessian scores, then solves the
 * targets one by one on moments of (student input, teacher input), refining each. Fills
 * t->q of every target and the report; trained biases are written to the graph. */
enum ogq_status ogq_quantize_lockstep(struct ogq_model *m, struct ogq_target *ts, size_t n,
                                      const struct ogq_calib_set *c,
                                      const struct ogq_quantize_opts *o,
                                      struct ogq_quant_report *r, struct ogq_act_site **sites,
                                      size_t *n_sites, struct ogq_error *err);

#endif
