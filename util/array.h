/* array.h — growth helper for the plain (pointer, count, capacity) arrays used everywhere. */
#ifndef OGQ_ARRAY_H
#define OGQ_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

/* Ensures `*arr` (elements of `elem` bytes, capacity `*cap`) holds at least `need`
 * elements, growing geometrically. New space is not zeroed. False on overflow or
 * allocation failure, leaving the array unchanged. */
bool ogq_array_reserve(void **arr, size_t *cap, size_t need, size_t elem);

/* Typed convenience: OGQ_ARRAY_PUSH(arr, n, cap, value) → bool. */
#define OGQ_ARRAY_PUSH(arr, n, cap, value)                                                         \
    (ogq_array_reserve((void **)&(arr), &(cap), (n) + 1, sizeof *(arr))                            \
         ? ((arr)[(n)++] = (value), true)                                                          \
         : false)

#endif
