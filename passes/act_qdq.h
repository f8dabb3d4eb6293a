/* act_qdq.h — static activation quantization sites (internal to passes/).
 *
 * While the pass calibrates and refines, every activation to be quantized is routed
 * through a placeholder Identity node:
 *     v → Identity → v_fq → (the quantized MatMul/Gemm/Conv consumers of v)
 * The teacher runs the graph as is (Identity is a no-op); the student installs an executor
 * transform on v_fq that fake-quantizes it, so both executors share one graph and only the
 * quantized layers see quantized inputs (a residual Add that also reads v keeps the float
 * value, as in the exported model). At the end each placeholder becomes the pair ONNX
 * Runtime's QDQ fusions recognise:
 *     v → QuantizeLinear(scale, zero_point) → v_quantized → DequantizeLinear → v_fq
 * with per-tensor scale (float) and zero point (uint8 asymmetric, int8 symmetric).
 *
 * Input sites: input 0 of every quantized target; only those consumers are rerouted.
 * Output sites (with `outputs`): output 0 of every quantized target, all consumers
 * rerouted; outputs that are graph outputs are left alone (their name is the interface).
 * A value that is both gets one site (all consumers).
 */
#ifndef OGQ_ACT_QDQ_H
#define OGQ_ACT_QDQ_H

#include <stdbool.h>
#include <stddef.h>

#include "act_calib.h"
#include "graph/graph.h"
#include "target.h"

struct ogq_act_site {
    struct ogq_value *value;    /* the float activation v */
    struct ogq_value *fq;       /* the placeholder's output, read by the rerouted consumers */
    struct ogq_node *identity;  /* placeholder node (replaced by Q/DQ at the end) */
    struct ogq_value *quantized; /* after the rewrite: QuantizeLinear's output */
    bool is_output;             /* a quantized target's output (else an input) */
    size_t n_consumers;         /* quantized targets reading fq (input sites) */
    size_t n_done;              /* of those, already solved (student transform once all) */
    bool student_on;            /* the student fake-quantizes this site */
    struct ogq_act_hist hist;
    struct ogq_act_qparams qp;
};

/* Inserts the placeholders for targets `ts` (node pointers stay valid). Fills a malloc'd
 * array (caller frees with ogq_act_sites_free). */
enum ogq_status ogq_act_sites_insert(struct ogq_graph *g, const struct ogq_target *ts, size_t n,
                                     bool outputs, struct ogq_act_site **sites_out,
                                     size_t *n_out, struct ogq_error *err);

/* The site whose placeholder output `v` is, or NULL. */
struct ogq_act_site *ogq_act_site_of_fq(struct ogq_act_site *sites, size_t n,
                                        const struct ogq_value *v);

/* Replaces every placeholder with QuantizeLinear → DequantizeLinear using site->qp. */
enum ogq_status ogq_act_sites_rewrite(struct ogq_graph *g, struct ogq_act_site *sites, size_t n,
                                      struct ogq_error *err);

/* ONNX Runtime fuses a QDQ Gemm into QGemm only when its bias comes from an int32
 * DequantizeLinear with scale s_x·s_w[n] (per-tensor activation, per-channel weight):
 * rewrites the float bias C of every such Gemm target (8-bit per-channel weights, input
 * site, constant bias [N] read only by it, alpha = beta = 1) to that form. The int32
 * rounding error is at most s_x·s_w/2 per output. Targets whose bias would overflow int32
 * keep the float bias. Call after ogq_act_sites_rewrite, with t->q still filled. */
enum ogq_status ogq_act_quantize_gemm_biases(struct ogq_model *m, const struct ogq_target *ts,
                                             size_t n, const struct ogq_act_site *sites,
                                             size_t n_sites, size_t *n_done,
                                             struct ogq_error *err);

void ogq_act_sites_free(struct ogq_act_site *sites, size_t n);

#endif
