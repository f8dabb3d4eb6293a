/* layer_moments.h — second moments of (student input, teacher input) of one layer.
 *
 * Refinement minimises, per layer, the mean over calibration rows of
 *     ‖Ŵ x̃ + b̂ − (W x + b)‖²,   x̃ = a + q·d,
 * where x is the teacher's input row (float model), a the student's input row (model with
 * the already-quantized earlier layers), d = Q(a) − a the activation quantizer's error on
 * it and q the gradual-activation-quantization fraction. Expanding the square, the loss
 * and its gradient need only
 *     Σ a aᵀ, Σ (a dᵀ + d aᵀ), Σ d dᵀ, Σ a xᵀ, Σ d xᵀ, Σ x xᵀ
 * (k×k each), so full-batch gradients cost one k×k product per step and no activation is
 * stored. With `augment`, every a and x row gets a trailing 1 (and d a trailing 0), so
 * the bias is the last column of the augmented weight and the matrices are (k+1)².
 * Rows may carry weights (per-sample Hessian scores); all sums are weighted.
 *
 * Numerics: each chunk's products are float sgemm/ssyrk (chunks of at most
 * OGQ_MOMENTS_CHUNK rows), accumulated in double.
 */
#ifndef OGQ_LAYER_MOMENTS_H
#define OGQ_LAYER_MOMENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OGQ_MOMENTS_CHUNK 4096

struct ogq_layer_moments {
    int64_t k;       /* input features */
    int64_t ka;      /* k + augment: dimension of every matrix */
    bool augment;    /* trailing constant-1 coordinate (a bias is trained or evaluated) */
    bool has_delta;  /* activation-quantization moments ad, dd, dx present */
    double weight;   /* Σ row weights */
    /* [ka, ka] row-major, double. aa, dd, xx symmetric; ad = Σ (a dᵀ + d aᵀ) symmetric;
     * ax = Σ a xᵀ and dx = Σ d xᵀ general. ad, dd, dx are NULL without has_delta. */
    double *aa, *ad, *dd, *ax, *dx, *xx;
    float *scratch;  /* internal */
    int64_t scratch_cap;
};

enum ogq_status ogq_moments_init(struct ogq_layer_moments *m, int64_t k, bool augment,
                                 bool has_delta, struct ogq_error *err);
void ogq_moments_fini(struct ogq_layer_moments *m);

/* Adds n rows (row-major, row stride ld >= k) of a, d (NULL iff !has_delta) and x, each
 * row with weight `w` (>= 0). */
enum ogq_status ogq_moments_add_rows(struct ogq_layer_moments *m, const float *a, const float *d,
                                     const float *x, int64_t n, int64_t ld, double w,
                                     struct ogq_error *err);

/* Same with rows given transposed: [k, n] row-major, row stride ld >= n (im2col patches). */
enum ogq_status ogq_moments_add_cols(struct ogq_layer_moments *m, const float *at,
                                     const float *dt, const float *xt, int64_t n, int64_t ld,
                                     double w, struct ogq_error *err);

/* Mean over rows of ‖Ŵ x̃ + b̂ − (W x + b)‖² at fraction q, in double. w_hat and w are
 * [rows, k]; b_hat and b are [rows] or NULL (zero); biases need `augment`. */
double ogq_moments_loss(const struct ogq_layer_moments *m, const float *w_hat,
                        const float *b_hat, const float *w, const float *b, int64_t rows,
                        double q);

/* Mean over rows of ‖W x + b‖² (the teacher output energy, for normalisation). */
double ogq_moments_teacher_energy(const struct ogq_layer_moments *m, const float *w,
                                  const float *b, int64_t rows);

/* Writes S(q) = E[x̃ x̃ᵀ] (sxx_out, [ka, ka]) and E[x̃ xᵀ] (sx_out, [ka, ka]) at fraction q,
 * divided by the total weight, as float (the refinement's per-step matrices). */
void ogq_moments_at(const struct ogq_layer_moments *m, double q, float *stt_out, float *stx_out);

#ifdef __cplusplus
}
#endif

#endif
