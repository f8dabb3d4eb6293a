/* gptq.h — the GPTQ solver (Frantar et al., 2022, Algorithm 1) and the round-to-nearest
 * baseline, on plain arrays. No graph here: the pass feeds it a weight matrix and its
 * Hessian and rewrites the graph from the result.
 *
 * Layout: W is [rows, cols] row-major with rows = output channels and cols = input
 * features (a MatMul weight B [K, N] is passed as Bᵀ: rows = N, cols = K). H is the
 * [cols, cols] Hessian 2/n Σ x xᵀ of the layer input, symmetric, in double.
 *
 * Numerics: the Hessian, damping, Cholesky and triangular inverse are double; the
 * column loop and its lazy block updates are float32 on a transposed copy of W (so each
 * column is contiguous), the trailing updates one sgemm per block.
 */
#ifndef OGQ_GPTQ_H
#define OGQ_GPTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "quant_grid.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_gptq_opts {
    struct ogq_grid_opts grid;
    int64_t group_size;   /* <= 0: one grid per output row; else columns per group */
    double percdamp;      /* λ = percdamp · mean(diag H); default 0.01 */
    int64_t block_size;   /* lazy-batch block B; default 128 */
    bool act_order;       /* process columns by descending diag(H) */
    bool static_groups;   /* with act_order: groups fixed on the original column order */
    int max_damp_tries;   /* Cholesky retries, λ ×10 each time; default 6 */
    bool keep_prequant;   /* fill ogq_qweight.prequant (for refinement); default false */
};

void ogq_gptq_opts_init(struct ogq_gptq_opts *o);

/* A quantized weight matrix. Codes are unsigned (0..2^bits-1) in original column order;
 * column c uses grid g_idx[c] of its row: w ≈ scales[r*n_groups+g] * (code - zeros[...]). */
struct ogq_qweight {
    int64_t rows, cols;
    int bits;
    bool sym;
    int64_t group_size; /* as requested (<= 0: per row) */
    int64_t n_groups;
    uint8_t *codes;     /* rows*cols, owned */
    float *scales;      /* rows*n_groups, owned */
    float *zeros;       /* rows*n_groups, owned; integer values */
    int32_t *g_idx;     /* cols, owned */
    float *prequant;    /* rows*cols, owned, NULL unless opts.keep_prequant: the value each
                         * weight had when it was rounded (GPTQ: error-compensated; RTN: w) */
    bool groups_contiguous; /* g_idx[c] == c / group_size for every c */
    /* Solver report. */
    double percdamp_used; /* relative damping that succeeded */
    int damp_tries;       /* factorizations attempted (1 = first try succeeded) */
    int64_t dead_cols;    /* columns with H[c][c] == 0 (zeroed) */
};

/* Frees the arrays of `q` (not `q` itself). */
void ogq_qweight_fini(struct ogq_qweight *q);

/* GPTQ. W and H are borrowed and not modified. Fills `out` (caller finalizes it with
 * ogq_qweight_fini). Fails with OGQ_ERR_USAGE for bad options and OGQ_ERR_NUMERIC if the
 * damped Hessian is still not positive definite after every retry. */
enum ogq_status ogq_gptq_quantize(const float *w, int64_t rows, int64_t cols, const double *h,
                                  const struct ogq_gptq_opts *opts, struct ogq_qweight *out,
                                  struct ogq_error *err);

/* Round-to-nearest with the same grids (groups contiguous; act_order ignored). */
enum ogq_status ogq_rtn_quantize(const float *w, int64_t rows, int64_t cols,
                                 const struct ogq_gptq_opts *opts, struct ogq_qweight *out,
                                 struct ogq_error *err);

/* Writes the dequantized matrix [rows, cols]. */
void ogq_qweight_dequantize(const struct ogq_qweight *q, float *w_out);

/* Proxy loss ½·tr(Δ H Δᵀ) with Δ = W − Q, i.e. the mean over calibration rows x of
 * ‖(W − Q) x‖² (with H = 2/n Σ x xᵀ). Double accumulation. */
double ogq_proxy_loss(const float *w, const float *q, int64_t rows, int64_t cols,
                      const double *h);

#ifdef __cplusplus
}
#endif

#endif
