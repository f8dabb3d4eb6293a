/* hessian_scores.h — Hessian-based importance of compare points, without a backward pass.
 *
 * For an activation v (a compare point: a quantized layer's output) and a sample n, the
 * score is tr(Jᵀ J) with J = ∂(model outputs)/∂v — the trace MCT estimates with
 * Hutchinson's method. Here E_u ‖J u‖² = tr(JᵀJ) for u ~ N(0, I), and J u is taken by
 * central finite differences through the rest of the graph:
 *     J u ≈ (f(v + εu) − f(v − εu)) / 2ε,   ε = rel_eps · rms(v) (per batch)
 * averaged over `num_probes` directions. Only float graph outputs count; dim 0 of every
 * output is taken as the sample dimension (an output without it counts for the batch as
 * a whole, split evenly).
 *
 * Cost: 2 · num_probes forward passes per compare point and calibration batch used.
 */
#ifndef OGQ_HESSIAN_SCORES_H
#define OGQ_HESSIAN_SCORES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calib_set.h"
#include "graph/graph.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_hessian_scores_opts {
    int64_t num_samples; /* use the first N calibration samples (whole batches); <= 0: all */
    int64_t num_probes;  /* random directions per sample, default 2 (the per-layer weights average over samples) */
    double rel_eps;      /* default 1e-3 */
    uint64_t seed;       /* probes are deterministic for a seed */
    int threads;
    ogq_progress_fn progress; /* may be NULL */
    void *progress_user;
};

void ogq_hessian_scores_opts_init(struct ogq_hessian_scores_opts *o);

/* Scores of `n_values` compare points (node outputs of `m`, float) on the calibration
 * samples: fills *scores_out with a malloc'd [n_values][*n_samples_out] array (caller
 * frees). Runs the model with the runtime; `m` is not modified. */
enum ogq_status ogq_hessian_scores_compute(const struct ogq_model *m,
                                           const struct ogq_value *const *values,
                                           size_t n_values, const struct ogq_calib_set *calib,
                                           const struct ogq_hessian_scores_opts *opts,
                                           double **scores_out, int64_t *n_samples_out,
                                           struct ogq_error *err);

/* MCT's per-layer weights from per-sample scores [n_values][n_samples]: the mean over
 * samples of each layer's scores, where norm_scores first divides each sample's scores by
 * their sum over layers; with log_norm, log10 of the means (zeros replaced by the
 * smallest non-zero mean) minus their minimum, and with scale_log_norm that divided by
 * its range. Writes weights[n_values]. */
void ogq_hessian_layer_weights(const double *scores, size_t n_values, int64_t n_samples,
                               bool norm_scores, bool log_norm, bool scale_log_norm,
                               double *weights);

/* Per-sample weights (per_sample): each layer's scores divided by their mean over samples
 * (so only the emphasis among samples changes; a layer with all-zero scores gets 1s). */
void ogq_hessian_sample_weights(const double *scores, size_t n_values, int64_t n_samples,
                                double *weights);

#ifdef __cplusplus
}
#endif

#endif
