/* quantize.h — the weight-quantization pass (GPTQ or round-to-nearest) over a model.
 *
 * Before:  X → MatMul(X, W) → ...            W float initializer
 * After:   X → MatMul(X, DequantizeLinear(Wq, scale[, zero_point])) → ...    (qdq)
 *     or:  X → com.microsoft::MatMulNBits(X, Wpacked, scales[, zero_points][, g_idx])
 *
 * Steps: constant folding (so Constant nodes and Reshape/Transpose/Cast chains of
 * initializers become plain initializers); target selection (MatMul/Gemm/Conv with a
 * constant, unshared weight; --include/--exclude/--skip-first/--skip-last); calibration
 * with the runtime, accumulating each target's Hessian H = 2/n Σ x xᵀ of its input rows
 * (Conv: im2col patches, one H per conv group) through executor observers; solving each
 * layer (GPTQ and, for the report, RTN); rewriting the graph; recording the settings in
 * metadata_props["onnx_gptq.quantization"].
 *
 * With activation quantization or refinement the pass runs in lockstep mode instead
 * (quantize_lockstep.c): float teacher and quantized student side by side, one layer at a
 * time on moments of (student input, teacher input); activation Q/DQ pairs and refined
 * codes/biases are written; see docs/refinement.md.
 *
 * One-shot mode keeps every target's Hessian at once (memory Σ K² doubles); sequential
 * mode handles one target at a time, computing its Hessian from inputs produced by the
 * already-quantized earlier layers (weights overridden in the executor), so at most one
 * Hessian (K² doubles + K² floats) plus one dequantized copy of each finished weight is
 * held — at the price of one calibration pass (up to that layer) per target.
 */
#ifndef OGQ_QUANTIZE_H
#define OGQ_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "act_calib.h"
#include "calib_set.h"
#include "gptq.h"
#include "graph/graph.h"
#include "refine_config.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ogq_quant_method { OGQ_METHOD_GPTQ = 0, OGQ_METHOD_RTN };
enum ogq_quant_format { OGQ_FORMAT_QDQ = 0, OGQ_FORMAT_MATMULNBITS };


struct ogq_quantize_opts {
    enum ogq_quant_method method;
    enum ogq_quant_format format;
    struct ogq_gptq_opts gptq; /* bits, sym, group size, damping, block, act order, MSE */
    bool sequential;
    const char *const *include; /* globs on node name or op type; NULL/0: all targets */
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    int skip_first, skip_last;  /* leave the first/last N targets (topological order) */
    int64_t accuracy_level;     /* MatMulNBits attribute; default 0 (float32 compute) */
    /* Static activation quantization (act_bits 0: off): per-tensor Q/DQ on the inputs (and
     * with act_outputs the outputs) of the quantized layers. */
    int act_bits;               /* 0 or 8 */
    bool act_sym;               /* int8 zero point 0; else uint8 asymmetric */
    enum ogq_act_calib_method act_calib;
    double act_percentile;      /* for OGQ_ACT_PERCENTILE; default 99.99 */
    bool act_outputs;
    /* Gradient-based refinement of every quantized layer (after GPTQ/RTN). */
    bool refine;
    struct ogq_refine_config refine_cfg;
    int threads;
    ogq_progress_fn progress;   /* may be NULL */
    void *progress_user;
};

void ogq_quantize_opts_init(struct ogq_quantize_opts *o);

struct ogq_layer_report {
    char *node;         /* node name (or "#index (Op)" when unnamed) */
    char *op;
    char *weight;
    int64_t rows, cols; /* solver shape: output channels × inputs (per conv group) */
    int64_t conv_groups;
    bool quantized;
    char *reason;       /* why it was left in float, or NULL */
    int bits;
    int64_t group_size; /* effective, in solver columns (<= 0: per channel) */
    double percdamp;    /* damping that succeeded (max over conv groups) */
    int damp_tries;
    int64_t dead_cols;
    double loss;        /* proxy loss of the result: ½tr(ΔHΔᵀ) = mean ‖(W − Q)x‖²; with
                         * refinement or activation quantization (the lockstep mode) the mean
                         * over rows of ‖Q x̃ + b̂ − (W x + b)‖², student input x̃, teacher x */
    double loss_rtn;    /* same for round-to-nearest (the baseline) */
    double loss_start;  /* lockstep mode: the same for GPTQ (or RTN) before refinement */
    bool refined;       /* refinement ran on this layer */
    bool refine_kept_start; /* ... and did not improve it: the start codes are kept */
    int64_t refine_rejected_validation; /* conv groups whose refinement was better on the
                                         * training rows but not on the held-out ones */
    int64_t refine_steps;
    int64_t codes_changed;  /* by refinement */
    bool bias_refined;      /* the layer's bias was trained */
    double hessian_weight;  /* layer loss weight from the Hessian scores (1 without) */
    double final_q;         /* GAQ fraction at the last step */
    double seconds_refine;
    double seconds;
};

/* One activation QuantizeLinear/DequantizeLinear pair. */
struct ogq_act_report {
    char *tensor;       /* the float activation quantized */
    bool is_output;     /* a quantized layer's output (else an input) */
    struct ogq_act_qparams qp;
    int64_t nonfinite;  /* NaN/Inf values seen in calibration (ignored) */
};

struct ogq_quant_report {
    struct ogq_layer_report *layers;
    size_t n_layers;
    size_t n_quantized;
    size_t folded_nodes;
    int64_t calib_samples;
    int64_t opset_before, opset_after;
    double seconds_calibration, seconds_solve, seconds_total;
    double seconds_act_calibration, seconds_hessian_scores, seconds_refine;
    struct ogq_act_report *acts;
    size_t n_acts;
    size_t int32_biases;    /* Gemm biases stored as int32 + DequantizeLinear (for QGemm) */
    int64_t refine_steps;   /* gradient steps per layer (refinement) */
    int64_t gaq_end_step;   /* resolved end step of the GAQ schedule */
    double loss_total, loss_rtn_total;
    int64_t weight_bytes_before, weight_bytes_after;
};

void ogq_quant_report_fini(struct ogq_quant_report *r);

/* Quantizes `m` in place. On failure `m` may be partly rewritten: the caller discards it
 * (the CLI never writes it). */
enum ogq_status ogq_quantize_model(struct ogq_model *m, const struct ogq_calib_set *calib,
                                   const struct ogq_quantize_opts *opts,
                                   struct ogq_quant_report *report, struct ogq_error *err);

/* Writes the metadata value recorded under metadata_props["onnx_gptq.quantization"]
 * (schema in README "Metadata") for settings `o` and the finished report `r`. */
struct ogq_json;
void ogq_quantize_metadata_json(struct ogq_json *j, const struct ogq_quantize_opts *o,
                                const struct ogq_quant_report *r);

/* Shell-style glob: '*' any run, '?' one character. */
bool ogq_glob_match(const char *pattern, const char *text);

#ifdef __cplusplus
}
#endif

#endif
