#include "dtype.h"

#include <stdio.h>

#include "../util/checked.h"

struct dtype_info {
    const char *name;
    const char *short_name;
    int bits;
};

static const struct dtype_info infos[OGQ_DTYPE_COUNT_] = {
    [OGQ_DTYPE_UNDEFINED] = {"UNDEFINED", "undefined", 0},
    [OGQ_DTYPE_FLOAT] = {"FLOAT", "float32", 32},
    [OGQ_DTYPE_UINT8] = {"UINT8", "uint8", 8},
    [OGQ_DTYPE_INT8] = {"INT8", "int8", 8},
    [OGQ_DTYPE_UINT16] = {"UINT16", "uint16", 16},
    [OGQ_DTYPE_INT16] = {"INT16", "int16", 16},
    [OGQ_DTYPE_INT32] = {"INT32", "int32", 32},
    [OGQ_DTYPE_INT64] = {"INT64", "int64", 64},
    [OGQ_DTYPE_STRING] = {"STRING", "string", 0},
    [OGQ_DTYPE_BOOL] = {"BOOL", "bool", 8},
    [OGQ_DTYPE_FLOAT16] = {"FLOAT16", "float16", 16},
    [OGQ_DTYPE_DOUBLE] = {"DOUBLE", "float64", 64},
    [OGQ_DTYPE_UINT32] = {"UINT32", "uint32", 32},
    [OGQ_DTYPE_UINT64] = {"UINT64", "uint64", 64},
    [OGQ_DTYPE_COMPLEX64] = {"COMPLEX64", "complex64", 64},
    [OGQ_DTYPE_COMPLEX128] = {"COMPLEX128", "complex128", 128},
    [OGQ_DTYPE_BFLOAT16] = {"BFLOAT16", "bfloat16", 16},
    [OGQ_DTYPE_FLOAT8E4M3FN] = {"FLOAT8E4M3FN", "float8e4m3fn", 8},
    [OGQ_DTYPE_FLOAT8E4M3FNUZ] = {"FLOAT8E4M3FNUZ", "float8e4m3fnuz", 8},
    [OGQ_DTYPE_FLOAT8E5M2] = {"FLOAT8E5M2", "float8e5m2", 8},
    [OGQ_DTYPE_FLOAT8E5M2FNUZ] = {"FLOAT8E5M2FNUZ", "float8e5m2fnuz", 8},
    [OGQ_DTYPE_UINT4] = {"UINT4", "uint4", 4},
    [OGQ_DTYPE_INT4] = {"INT4", "int4", 4},
    [OGQ_DTYPE_FLOAT4E2M1] = {"FLOAT4E2M1", "float4e2m1", 4},
    [OGQ_DTYPE_FLOAT8E8M0] = {"FLOAT8E8M0", "float8e8m0", 8},
    [OGQ_DTYPE_UINT2] = {"UINT2", "uint2", 2},
    [OGQ_DTYPE_INT2] = {"INT2", "int2", 2},
};

bool ogq_dtype_is_known(int dtype)
{
    return dtype > OGQ_DTYPE_UNDEFINED && dtype < OGQ_DTYPE_COUNT_;
}

int ogq_dtype_bits(int dtype)
{
    return ogq_dtype_is_known(dtype) ? infos[dtype].bits : 0;
}

bool ogq_dtype_storage_bytes(int dtype, int64_t numel, size_t *out)
{
    int bits = ogq_dtype_bits(dtype);
    if (bits == 0 || numel < 0)
        return false;
    if (bits >= 8) /* whole bytes per element */
        return ogq_mul_size((size_t)numel, (size_t)bits / 8, out);
    /* Sub-byte types: 8 / bits elements per byte, the last byte padded. */
    size_t per_byte = (size_t)(8 / bits);
    *out = (size_t)numel / per_byte + ((size_t)numel % per_byte != 0);
    return true;
}

const char *ogq_dtype_name(int dtype)
{
    if (dtype >= 0 && dtype < OGQ_DTYPE_COUNT_)
        return infos[dtype].name;
    static char buf[32];
    snprintf(buf, sizeof buf, "UNKNOWN(%d)", dtype);
    return buf;
}

const char *ogq_dtype_short_name(int dtype)
{
    if (dtype >= 0 && dtype < OGQ_DTYPE_COUNT_)
        return infos[dtype].short_name;
    return "unknown";
}
