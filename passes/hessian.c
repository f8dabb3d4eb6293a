#include "hessian.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/linalg_lapack.h"

enum ogq_status ogq_hessian_init(struct ogq_hessian *hs, int64_t k, struct ogq_error *err)
{
    memset(hs, 0, sizeof *hs);
    hs->k = k;
    hs->h = calloc((size_t)(k * k), sizeof *hs->h);
    hs->batch = malloc((size_t)(k * k) * sizeof *hs->batch);
    if (!hs->h || !hs->batch) {
        ogq_hessian_fini(hs);
        return ogq_error_set(err, OGQ_ERR_NOMEM, "out of memory for a %lld x %lld Hessian",
                             (long long)k, (long long)k);
    }
    return OGQ_OK;
}

void ogq_hessian_fini(struct ogq_hessian *hs)
{
    free(hs->h);
    free(hs->batch);
    free(hs->packed);
    memset(hs, 0, sizeof *hs);
}

/* Folds the float XᵀX of m new rows (in hs->batch) into the running mean. */
static void merge_batch(struct ogq_hessian *hs, int64_t m)
{
    const int64_t k = hs->k;
    double n = (double)hs->n, total = n + (double)m;
    double keep = n / total, add = 2.0 / total;
    for (int64_t i = 0; i < k; i++) {
        double *hi = hs->h + i * k;
        const float *bi = hs->batch + i * k;
        for (int64_t j = 0; j <= i; j++)
            hi[j] = hi[j] * keep + add * bi[j];
    }
    hs->n += m;
}

/* Adds m contiguous rows (ssyrk needs ld == k). */
static void add_chunk(struct ogq_hessian *hs, const float *x, int64_t m)
{
    ogq_ssyrk_lower_t(hs->k, m, 1.0f, x, 0.0f, hs->batch);
    merge_batch(hs, m);
}

enum ogq_status ogq_hessian_add_cols(struct ogq_hessian *hs, const float *xt, int64_t m,
                                     int64_t ld, struct ogq_error *err)
{
    (void)err;
    for (int64_t c = 0; c < m; c += OGQ_HESSIAN_CHUNK) {
        int64_t len = m - c < OGQ_HESSIAN_CHUNK ? m - c : OGQ_HESSIAN_CHUNK;
        ogq_ssyrk_lower_n(hs->k, len, 1.0f, xt + c, ld, 0.0f, hs->batch);
        merge_batch(hs, len);
    }
    return OGQ_OK;
}

enum ogq_status ogq_hessian_add_rows(struct ogq_hessian *hs, const float *x, int64_t m,
                                     int64_t ld, struct ogq_error *err)
{
    const int64_t k = hs->k;
    if (ld == k) {
        for (int64_t r = 0; r < m; r += OGQ_HESSIAN_CHUNK) {
            int64_t len = m - r < OGQ_HESSIAN_CHUNK ? m - r : OGQ_HESSIAN_CHUNK;
            add_chunk(hs, x + r * k, len);
        }
        return OGQ_OK;
    }
    /* Strided rows: pack a chunk at a time into a contiguous buffer. */
    if (!hs->packed && !(hs->packed = malloc((size_t)(OGQ_HESSIAN_CHUNK * k) * sizeof(float))))
        return OGQ_NOMEM(err);
    for (int64_t r = 0; r < m; r += OGQ_HESSIAN_CHUNK) {
        int64_t len = m - r < OGQ_HESSIAN_CHUNK ? m - r : OGQ_HESSIAN_CHUNK;
        for (int64_t i = 0; i < len; i++)
            memcpy(hs->packed + i * k, x + (r + i) * ld, (size_t)k * sizeof(float));
        add_chunk(hs, hs->packed, len);
    }
    return OGQ_OK;
}

void ogq_hessian_finalize(struct ogq_hessian *hs)
{
    const int64_t k = hs->k;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = i + 1; j < k; j++)
            hs->h[i * k + j] = hs->h[j * k + i];
}
