/* kernels_shape.c — the shape kernel family (to be filled in). */
#include "kernel.h"

static const struct ogq_kernel kernels[] = {
    {0},
};

const struct ogq_kernel_family ogq_family_shape = {"shape", kernels, 0};
