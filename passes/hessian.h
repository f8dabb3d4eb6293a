/* hessian.h — streaming H = 2/n Σ x xᵀ over the rows x of a layer's input.
 *
 * Memory is O(k²) whatever the number of rows. Each batch's XᵀX is one float ssyrk
 * (chunks of at most OGQ_HESSIAN_CHUNK rows keep float round-off small); the running
 * mean H ← H·n/(n+m) + 2/(n+m)·XᵀX is kept in double, so H stays well scaled however
 * many rows arrive. Only the lower triangle is updated until ogq_hessian_finalize.
 */
#ifndef OGQ_HESSIAN_H
#define OGQ_HESSIAN_H

#include <stdint.h>

#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OGQ_HESSIAN_CHUNK 4096

struct ogq_hessian {
    int64_t k;
    int64_t n;      /* rows accumulated */
    double *h;      /* k×k (lower triangle during accumulation) */
    float *batch;   /* k×k float scratch for one chunk's XᵀX */
    float *packed;  /* chunk×k scratch for strided rows, allocated on first need */
};

/* Allocates a zero Hessian of dimension k. */
enum ogq_status ogq_hessian_init(struct ogq_hessian *hs, int64_t k, struct ogq_error *err);
void ogq_hessian_fini(struct ogq_hessian *hs);

/* Adds m rows of x (row-major, row stride ld >= k floats). */
enum ogq_status ogq_hessian_add_rows(struct ogq_hessian *hs, const float *x, int64_t m,
                                     int64_t ld, struct ogq_error *err);

/* Adds m rows given transposed: xt is [k, m] row-major with row stride ld >= m (e.g. an
 * im2col patch matrix, one column per output position). */
enum ogq_status ogq_hessian_add_cols(struct ogq_hessian *hs, const float *xt, int64_t m,
                                     int64_t ld, struct ogq_error *err);

/* Mirrors the lower triangle into the upper one; H is then a full symmetric matrix. */
void ogq_hessian_finalize(struct ogq_hessian *hs);

#ifdef __cplusplus
}
#endif

#endif
