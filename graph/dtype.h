/* dtype.h — ONNX element types (values are TensorProto.DataType numbers). */
#ifndef OGQ_DTYPE_H
#define OGQ_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ogq_dtype {
    OGQ_DTYPE_UNDEFINED = 0,
    OGQ_DTYPE_FLOAT = 1,
    OGQ_DTYPE_UINT8 = 2,
    OGQ_DTYPE_INT8 = 3,
    OGQ_DTYPE_UINT16 = 4,
    OGQ_DTYPE_INT16 = 5,
    OGQ_DTYPE_INT32 = 6,
    OGQ_DTYPE_INT64 = 7,
    OGQ_DTYPE_STRING = 8,
    OGQ_DTYPE_BOOL = 9,
    OGQ_DTYPE_FLOAT16 = 10,
    OGQ_DTYPE_DOUBLE = 11,
    OGQ_DTYPE_UINT32 = 12,
    OGQ_DTYPE_UINT64 = 13,
    OGQ_DTYPE_COMPLEX64 = 14,
    OGQ_DTYPE_COMPLEX128 = 15,
    OGQ_DTYPE_BFLOAT16 = 16,
    OGQ_DTYPE_FLOAT8E4M3FN = 17,
    OGQ_DTYPE_FLOAT8E4M3FNUZ = 18,
    OGQ_DTYPE_FLOAT8E5M2 = 19,
    OGQ_DTYPE_FLOAT8E5M2FNUZ = 20,
    OGQ_DTYPE_UINT4 = 21,
    OGQ_DTYPE_INT4 = 22,
    OGQ_DTYPE_FLOAT4E2M1 = 23,
    OGQ_DTYPE_FLOAT8E8M0 = 24,
    OGQ_DTYPE_UINT2 = 25,
    OGQ_DTYPE_INT2 = 26,
    OGQ_DTYPE_COUNT_ /* one past the last known type */
};

/* True for every defined type other than UNDEFINED. */
bool ogq_dtype_is_known(int dtype);

/* Bits per element (2, 4, 8, 16, 32, 64, 128); 0 for STRING and unknown types. */
int ogq_dtype_bits(int dtype);

/* Bytes needed to store `numel` elements densely packed (sub-byte types: lowest bits
 * first, last byte padded). False on overflow or for STRING/unknown types. */
bool ogq_dtype_storage_bytes(int dtype, int64_t numel, size_t *out);

/* Upper-case ONNX name ("FLOAT", "INT4", ...) or "UNKNOWN(n)" text in a static buffer
 * for unknown values (not thread-safe in that case only). */
const char *ogq_dtype_name(int dtype);

/* Lower-case numpy-ish name used in reports ("float32", "int4"). */
const char *ogq_dtype_short_name(int dtype);

#ifdef __cplusplus
}
#endif

#endif
