/* refine.h — gradient-based refinement of one quantized layer (MCT GradientPTQ-style).
 *
 * Starting point: the codes and grids of GPTQ (or RTN) and, for soft rounding, the
 * continuous value each weight had when it was rounded (GPTQ's error-compensated weight,
 * `prequant`). The student weight is
 *     soft rounding:  Ŵ = s · (clamp(⌊u⌋ + h(V), 0, maxq) − z),  u = prequant / s + z,
 *                     h(V) = clip(σ(V)(ζ − γ) + γ, 0, 1), ζ = 1.1, γ = −0.1,
 *                     V initialised so that h(V) = u − ⌊u⌋ (so hardening h ≥ 0.5 at step 0
 *                     reproduces the starting codes);
 *     STE:            Ŵ = s · (clamp(rint(ŵ_c / s) + z, 0, maxq) − z), ŵ_c initialised to
 *                     prequant and updated with the straight-through gradient.
 * Objective per step t (full batch, from the layer's moments, see layer_moments.h):
 *     loss_weight · L(Ŵ, b̂, q_t) / E‖W x + b‖²  +  regularization_factor · R_β(t)
 * with R = mean over weights of (1 − |2h − 1|^β) (soft rounding only), β = 20 for the
 * first 20 % of the steps then linear down to 2 (MCT's LinearTempDecay), and q_t the GAQ
 * fraction (linear from initial to target between start_step and end_step).
 * Adam updates V (lr: optimizer), the bias (optimizer_bias or optimizer_rest) when
 * train_bias, and the scales (optimizer_quantization_parameter or optimizer_rest) when
 * quantization_parameter_learning.
 * At the end rounding is hardened (h ≥ 0.5 → ⌊u⌋ + 1) and the result is compared with
 * the start on the deployed loss (q = 1): if it is not lower, the start is kept.
 */
#ifndef OGQ_REFINE_H
#define OGQ_REFINE_H

#include <stdbool.h>
#include <stdint.h>

#include "gptq.h"
#include "layer_moments.h"
#include "refine_config.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OGQ_SOFT_ZETA 1.1
#define OGQ_SOFT_GAMMA (-0.1)
#define OGQ_SOFT_BETA_START 20.0
#define OGQ_SOFT_BETA_END 2.0
#define OGQ_SOFT_BETA_WARMUP 0.2

struct ogq_refine_layer {
    const float *w;         /* teacher weight [rows, cols] */
    const float *bias;      /* teacher bias [rows], or NULL (no bias: none is trained) */
    int64_t rows, cols;
    const struct ogq_qweight *start; /* starting codes/grids [rows, cols] */
    const float *prequant;  /* [rows, cols] value each weight had when rounded; NULL: w */
    const struct ogq_layer_moments *mom; /* k == cols; augment == (bias != NULL) */
    double loss_weight;     /* Hessian-based layer weight (1 without) */
    int64_t steps;          /* gradient steps (> 0) */
};

struct ogq_refine_result {
    struct ogq_qweight q;   /* result (a copy of start when kept_start); owned */
    float *bias;            /* [rows] result bias, owned; NULL when the layer has none */
    double loss_start;      /* deployed loss (q = 1) of the start: start codes, teacher bias */
    double loss_final;      /* deployed loss of the result (<= loss_start) */
    double objective_first; /* training objective at the first and last step */
    double objective_last;
    bool kept_start;        /* refinement did not lower the loss: start kept */
    int64_t codes_changed;  /* codes that differ from the start */
    double final_q;         /* GAQ fraction at the last step */
};

void ogq_refine_result_fini(struct ogq_refine_result *r);

/* Refines one layer. cfg must have passed ogq_refine_config_validate. */
enum ogq_status ogq_refine_layer_run(const struct ogq_refine_config *cfg,
                                     const struct ogq_refine_layer *in,
                                     struct ogq_refine_result *out, struct ogq_error *err);

/* ---- building blocks, exposed for tests ---- */

/* Rectified sigmoid h(V), its derivative dh/dV (0 where clipped), and the V with h(V) = f
 * for f in (0, 1). */
double ogq_soft_h(double v);
double ogq_soft_h_grad(double v);
double ogq_soft_v_init(double f);

/* β of the rounding regulariser at `step` of `total`. */
double ogq_soft_beta(int64_t step, int64_t total);

/* Per-weight regulariser 1 − |2h − 1|^β and its derivative w.r.t. h. */
double ogq_soft_reg(double h, double beta);
double ogq_soft_reg_grad(double h, double beta);

/* GAQ fraction at `step` of `total` (end_step < 0: total − 1); target when disabled. */
double ogq_gaq_fraction(const struct ogq_gaq_config *g, int64_t step, int64_t total);

/* Training objective at `step` and its gradient w.r.t. the rounding variables V
 * ([rows, cols]) and the bias ([rows], may be NULL) — the function the optimiser
 * descends, exposed so tests can compare it with finite differences. `v` are the soft
 * rounding variables (soft) or the continuous weights (STE, gradient straight-through). */
double ogq_refine_objective(const struct ogq_refine_config *cfg, const struct ogq_refine_layer *in,
                            const float *v, const float *bias, const float *scales,
                            int64_t step, float *grad_v, float *grad_bias,
                            float *grad_scales);

#ifdef __cplusplus
}
#endif

#endif
