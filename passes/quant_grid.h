/* quant_grid.h — uniform integer quantization grids (the GPTQ reference quantizer).
 *
 * A grid for one row (or one group of a row) is (scale, zero, maxq): a weight w maps to the
 * code q = clamp(round_half_even(w / scale) + zero, 0, maxq) and back to scale * (q - zero).
 * Codes are unsigned 0..maxq (maxq = 2^bits - 1). Symmetric grids use zero = 2^(bits-1)
 * (so q - zero ∈ [-2^(bits-1), 2^(bits-1) - 1] fits the signed type); asymmetric grids
 * use zero = round(-min / scale) ∈ [0, maxq].
 *
 * Grid search follows the reference GPTQ quantizer: range [min(x,0), max(x,0)]
 * (symmetric: ±max|x|), an all-zero row gets [-1, 1]; with `mse` the range is shrunk by
 * p = 1, 0.99, ... down to 1 - maxshrink (grid steps of 1/grid) keeping the p with the
 * smallest Σ|q(x) - x|^norm.
 */
#ifndef OGQ_QUANT_GRID_H
#define OGQ_QUANT_GRID_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_grid_opts {
    int bits;          /* 2..8 */
    bool sym;          /* symmetric grid (signed storage) */
    bool mse;          /* shrink the range to minimise the norm-`norm` error */
    float mse_norm;    /* default 2.4 */
    int mse_grid;      /* default 100 */
    float mse_maxshrink; /* default 0.8 */
};

/* Defaults: 4 bits, asymmetric, no MSE search (norm 2.4, grid 100, maxshrink 0.8). */
void ogq_grid_opts_init(struct ogq_grid_opts *o);

/* Grid for `n` values x[0], x[stride], ...: writes *scale and *zero (zero is an integer
 * value in [0, maxq], stored as float). */
void ogq_grid_find(const struct ogq_grid_opts *o, const float *x, int64_t n, int64_t stride,
                   float *scale, float *zero);

/* Code of w on the grid (0..maxq). */
static inline int ogq_grid_code(float w, float scale, float zero, int maxq)
{
    float q = __builtin_rintf(w / scale) + zero; /* rint: round half to even */
    if (q < 0.0f)
        q = 0.0f;
    if (q > (float)maxq)
        q = (float)maxq;
    return (int)q;
}

/* Dequantized value of a code. */
static inline float ogq_grid_value(int code, float scale, float zero)
{
    return scale * ((float)code - zero);
}

#ifdef __cplusplus
}
#endif

#endif
