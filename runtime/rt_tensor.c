#include "rt_tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked.h"

bool ogq_rt_dtype_supported(enum ogq_dtype dtype)
{
    switch (dtype) {
    case OGQ_DTYPE_FLOAT:
    case OGQ_DTYPE_INT64:
    case OGQ_DTYPE_INT32:
    case OGQ_DTYPE_INT8:
    case OGQ_DTYPE_UINT8:
    case OGQ_DTYPE_BOOL:
    case OGQ_DTYPE_INT4:
    case OGQ_DTYPE_UINT4: return true;
    default: return false;
    }
}

enum ogq_dtype ogq_rt_storage_dtype(enum ogq_dtype d)
{
    if (d == OGQ_DTYPE_FLOAT16 || d == OGQ_DTYPE_BFLOAT16 || d == OGQ_DTYPE_DOUBLE)
        return OGQ_DTYPE_FLOAT;
    return ogq_rt_dtype_supported(d) ? d : OGQ_DTYPE_UNDEFINED;
}

enum ogq_status ogq_rt_tensor_set_shape(struct ogq_rt_tensor *t, enum ogq_dtype dtype, int rank,
                                        const int64_t *dims, const char *what,
                                        struct ogq_error *err)
{
    if (rank < 0 || rank > OGQ_RT_MAX_RANK)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "%s: rank %d is above the runtime's limit of %d",
                             what, rank, OGQ_RT_MAX_RANK);
    int64_t numel;
    size_t nbytes;
    if (!ogq_dims_product(dims, (size_t)rank, &numel) ||
        !ogq_dtype_storage_bytes(dtype, numel, &nbytes))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "%s: shape has negative dims or overflows", what);
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->numel = numel;
    t->nbytes = nbytes;
    return OGQ_OK;
}

bool ogq_rt_same_shape(const struct ogq_rt_tensor *a, const struct ogq_rt_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

float ogq_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: value = mant * 2^-24 */
            float v = (float)mant * 5.9604644775390625e-8f;
            return (h & 0x8000) ? -v : v;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ogq_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        float a;
        memcpy(&a, &absx, 4);
        /* a * 2^24 rounded to nearest even gives the subnormal mantissa. */
        float m = rintf(a * 16777216.0f);
        return (uint16_t)(sign | (uint16_t)m);
    }
    /* Normal: re-bias the exponent and round the 13 dropped mantissa bits to nearest even. */
    uint32_t e = ((absx >> 23) - 112) << 10;
    uint32_t mant = absx & 0x7fffff;
    uint32_t h = e | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float ogq_bfloat16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ogq_float_to_bfloat16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* nan stays a quiet nan */
        return (uint16_t)((x >> 16) | 0x40);
    uint32_t rounding = 0x7fff + ((x >> 16) & 1);
    return (uint16_t)((x + rounding) >> 16);
}

int64_t ogq_rt_get_int(const struct ogq_rt_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case OGQ_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    case OGQ_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case OGQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case OGQ_DTYPE_UINT8:
    case OGQ_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    case OGQ_DTYPE_FLOAT: return (int64_t)((const float *)t->data)[i];
    default: return 0;
    }
}

enum ogq_status ogq_rt_tensor_from_ir(const struct ogq_tensor *src, bool borrow_if_possible,
                                      struct ogq_rt_tensor *out, void **owned,
                                      struct ogq_error *err)
{
    const char *name = src->name ? src->name : "(unnamed)";
    enum ogq_dtype st = ogq_rt_storage_dtype(src->dtype);
    *owned = NULL;
    if (st == OGQ_DTYPE_UNDEFINED)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                             "tensor '%s': dtype %s is not supported by the runtime", name,
                             ogq_dtype_name(src->dtype));
    OGQ_TRY(ogq_rt_tensor_set_shape(out, st, src->rank, src->dims, name, err));
    const void *in = ogq_tensor_data(src);
    if (st == src->dtype && borrow_if_possible) {
        out->data = (void *)in;
        return OGQ_OK;
    }
    void *data = malloc(out->nbytes ? out->nbytes : 1);
    if (!data)
        return OGQ_NOMEM(err);
    float *f = data;
    switch (src->dtype) {
    case OGQ_DTYPE_FLOAT16:
        for (int64_t i = 0; i < out->numel; i++) {
            uint16_t h;
            memcpy(&h, (const char *)in + 2 * i, 2);
            f[i] = ogq_half_to_float(h);
        }
        break;
    case OGQ_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < out->numel; i++) {
            uint16_t h;
            memcpy(&h, (const char *)in + 2 * i, 2);
            f[i] = ogq_bfloat16_to_float(h);
        }
        break;
    case OGQ_DTYPE_DOUBLE:
        for (int64_t i = 0; i < out->numel; i++) {
            double d;
            memcpy(&d, (const char *)in + 8 * i, 8);
            f[i] = (float)d;
        }
        break;
    default:
        if (out->nbytes)
            memcpy(data, in, out->nbytes);
    }
    out->data = data;
    *owned = data;
    return OGQ_OK;
}
