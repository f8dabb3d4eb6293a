/* linalg.h — the runtime's only door to BLAS/LAPACK (OpenBLAS). Row-major throughout. */
#ifndef OGQ_LINALG_H
#define OGQ_LINALG_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sets OpenBLAS's thread count (requested <= 0: all cores). Only the first call in the
 * process takes effect — OpenBLAS may stay single-threaded if its pool is grown after
 * the first BLAS call. Returns the count in effect. */
int ogq_linalg_set_threads(int requested);

/* C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, op = transpose when trans_*. */
void ogq_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc);

#ifdef __cplusplus
}
#endif

#endif
