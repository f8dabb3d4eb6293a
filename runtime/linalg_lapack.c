#include "linalg_lapack.h"

#include <cblas.h>

/* LAPACK's Fortran entry points (OpenBLAS ships them). Column-major: a row-major lower
 * triangle is a column-major upper triangle, so "lower" here calls uplo = 'U'. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dtrtri_(const char *uplo, const char *diag, const int *n, double *a, const int *lda,
                    int *info);

int ogq_dpotrf_lower(int64_t n, double *a)
{
    int nn = (int)n, info = 0;
    if (n == 0)
        return 0;
    dpotrf_("U", &nn, a, &nn, &info);
    return info;
}

int ogq_dtrtri_lower(int64_t n, double *a)
{
    int nn = (int)n, info = 0;
    if (n == 0)
        return 0;
    dtrtri_("U", "N", &nn, a, &nn, &info);
    return info;
}

void ogq_ssyrk_lower_t(int64_t n, int64_t k, float alpha, const float *a, float beta, float *c)
{
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, (blasint)n, (blasint)k, alpha, a,
                (blasint)n, beta, c, (blasint)n);
}

void ogq_dsyrk_lower_t(int64_t n, int64_t k, double alpha, const double *a, double beta,
                       double *c)
{
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (blasint)n, (blasint)k, alpha, a,
                (blasint)n, beta, c, (blasint)n);
}

void ogq_ssyrk_lower_n(int64_t n, int64_t k, float alpha, const float *a, int64_t lda, float beta,
                       float *c)
{
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, beta, c, (blasint)n);
}
