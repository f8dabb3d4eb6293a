/* target.c — moving a target's weight between the initializer layout and the solver layout.
 *
 *   MatMul B [K, N] and Gemm B [K, N] (transB = 0): W[n][k] = B[k][n]
 *   Gemm B [N, K] (transB = 1), Conv W [M, C/g, k...]: W is the initializer itself, row-major
 *   (conv group j owns rows j·M/g .. (j+1)·M/g − 1).
 */
#include <stdlib.h>
#include <string.h>

#include "target.h"

/* True when the initializer is stored as Wᵀ relative to the solver view. */
static bool transposed_layout(const struct ogq_target *t)
{
    return t->kind == OGQ_TARGET_MATMUL || (t->kind == OGQ_TARGET_GEMM && !t->trans_b);
}

void ogq_target_dequantize(const struct ogq_target *t, float *w_out)
{
    const struct ogq_qweight *q = &t->q;
    const int64_t rows = q->rows, cols = q->cols;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) {
            int64_t g = q->g_idx[c];
            float v = ogq_grid_value(q->codes[r * cols + c], q->scales[r * q->n_groups + g],
                                     q->zeros[r * q->n_groups + g]);
            if (transposed_layout(t))
                w_out[c * rows + r] = v;
            else
                w_out[r * cols + c] = v;
        }
    }
}

/* Solver weights of every group from the initializer (float32). */
float *ogq_target_solver_weights(const struct ogq_target *t)
{
    const float *src = ogq_tensor_data(t->weight->initializer);
    const int64_t rows = t->rows * t->groups, cols = t->cols;
    float *w = malloc((size_t)(rows * cols) * sizeof *w);
    if (!w)
        return NULL;
    if (transposed_layout(t)) {
        for (int64_t k = 0; k < cols; k++)
            for (int64_t n = 0; n < rows; n++)
                w[n * cols + k] = src[k * rows + n];
    } else {
        memcpy(w, src, (size_t)(rows * cols) * sizeof *w);
    }
    return w;
}
