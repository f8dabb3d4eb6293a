/* linalg_lapack.h — dense factorizations for the passes (Cholesky, triangular inverse) and
 * the symmetric rank-k updates used to accumulate Hessians. Row-major, like linalg.h.
 * (Kept beside linalg.h while the kernel work lands; linalg.c and linalg_lapack.c are the
 * only files that include BLAS/LAPACK headers.) */
#ifndef OGQ_LINALG_LAPACK_H
#define OGQ_LINALG_LAPACK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* In-place lower Cholesky factor of the symmetric positive definite n×n matrix `a`
 * (row-major, lower triangle read and written; the strict upper triangle is left as is).
 * Returns 0 on success, or k > 0 if the leading minor of order k is not positive. */
int ogq_dpotrf_lower(int64_t n, double *a);

/* In-place inverse of the lower-triangular n×n matrix `a` (non-unit diagonal).
 * Returns 0 on success, k > 0 if a[k-1][k-1] is zero. */
int ogq_dtrtri_lower(int64_t n, double *a);

/* C[n×n] = alpha * Aᵀ A + beta * C for A [k×n] row-major, updating only the lower
 * triangle of C (float). */
void ogq_ssyrk_lower_t(int64_t n, int64_t k, float alpha, const float *a, float beta, float *c);

/* C[n×n] = alpha * A Aᵀ + beta * C for A [n×k] row-major (row stride lda), lower triangle. */
void ogq_ssyrk_lower_n(int64_t n, int64_t k, float alpha, const float *a, int64_t lda, float beta,
                       float *c);

/* Same in double with a float input converted by the caller. */
void ogq_dsyrk_lower_t(int64_t n, int64_t k, double alpha, const double *a, double beta,
                       double *c);

#ifdef __cplusplus
}
#endif

#endif
