#include "array.h"

#include <stdlib.h>

#include "checked.h"

bool ogq_array_reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t new_cap = *cap ? *cap : 4;
    while (new_cap < need) {
        if (!ogq_mul_size(new_cap, 2, &new_cap))
            return false;
    }
    size_t bytes;
    if (!ogq_mul_size(new_cap, elem, &bytes))
        return false;
    void *p = realloc(*arr, bytes);
    if (!p)
        return false;
    *arr = p;
    *cap = new_cap;
    return true;
}
