/* rt_tensor.h — tensors as the calibration runtime sees them.
 *
 * Storage types: the runtime computes in float32. FLOAT16, BFLOAT16 and DOUBLE data is
 * converted to FLOAT when it enters the runtime (initializers at plan time, graph inputs
 * when fed), so kernels only ever see these dtypes:
 *   FLOAT, INT64, INT32, INT8, UINT8, BOOL (1 byte, 0/1), INT4/UINT4 (packed, two per
 *   byte, low nibble first — only as QuantizeLinear output / DequantizeLinear input).
 * A Cast to FLOAT16/BFLOAT16 rounds values to that precision and stores them as FLOAT.
 * Data is dense row-major. Rank is at most OGQ_RT_MAX_RANK.
 */
#ifndef OGQ_RT_TENSOR_H
#define OGQ_RT_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/dtype.h"
#include "graph/tensor.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OGQ_RT_MAX_RANK 8

struct ogq_rt_tensor {
    enum ogq_dtype dtype; /* a storage type listed above */
    int rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    int64_t numel;
    void *data;      /* borrowed: the executor, a caller or an initializer owns it */
    size_t nbytes;   /* storage bytes of numel elements */
};

/* True for the dtypes kernels may see. */
bool ogq_rt_dtype_supported(enum ogq_dtype dtype);

/* The storage dtype the runtime uses for an ONNX dtype (FLOAT for FLOAT16/BFLOAT16/DOUBLE,
 * itself for supported types, UNDEFINED for unsupported ones). */
enum ogq_dtype ogq_rt_storage_dtype(enum ogq_dtype onnx_dtype);

/* Sets dtype, rank, dims, numel and nbytes (data untouched). OGQ_ERR_FORMAT for a rank
 * above OGQ_RT_MAX_RANK, negative dims or overflow; `what` names the tensor in messages. */
enum ogq_status ogq_rt_tensor_set_shape(struct ogq_rt_tensor *t, enum ogq_dtype dtype, int rank,
                                        const int64_t *dims, const char *what,
                                        struct ogq_error *err);

/* Shape equality (dtype, rank, dims). */
bool ogq_rt_same_shape(const struct ogq_rt_tensor *a, const struct ogq_rt_tensor *b);

/* Converts an IR tensor to a runtime tensor whose data the caller frees with free():
 * FLOAT16/BFLOAT16/DOUBLE become FLOAT, other supported types are copied. When
 * `borrow_if_possible` is set and no conversion is needed, data points into `src`
 * (*owned set to NULL) instead of being copied. */
enum ogq_status ogq_rt_tensor_from_ir(const struct ogq_tensor *src, bool borrow_if_possible,
                                      struct ogq_rt_tensor *out, void **owned,
                                      struct ogq_error *err);

/* Element conversions used at the edges (float16 and bfloat16 <-> float32). Conversions to
 * the half types round to nearest even. */
float ogq_half_to_float(uint16_t h);
uint16_t ogq_float_to_half(float f);
float ogq_bfloat16_to_float(uint16_t h);
uint16_t ogq_float_to_bfloat16(float f);

/* Reads element i of an integer tensor (INT64/INT32/INT8/UINT8/BOOL) as int64. */
int64_t ogq_rt_get_int(const struct ogq_rt_tensor *t, int64_t i);

#ifdef __cplusplus
}
#endif

#endif
