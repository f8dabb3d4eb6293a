/* checked.h — overflow-checked integer arithmetic for sizes read from hostile files. */
#ifndef OGQ_CHECKED_H
#define OGQ_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each returns true on success and false on overflow (then *out is unspecified). */
static inline bool ogq_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static inline bool ogq_add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static inline bool ogq_mul_i64(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static inline bool ogq_add_i64(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Product of `n` non-negative dims; false if any dim is negative or the product overflows int64. */
static inline bool ogq_dims_product(const int64_t *dims, size_t n, int64_t *out)
{
    int64_t p = 1;
    for (size_t i = 0; i < n; i++) {
        if (dims[i] < 0 || !ogq_mul_i64(p, dims[i], &p))
            return false;
    }
    *out = p;
    return true;
}

#endif
