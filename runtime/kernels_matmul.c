/* kernels_matmul.c — the matmul kernel family (to be filled in). */
#include "kernel.h"

static const struct ogq_kernel kernels[] = {
    {0},
};

const struct ogq_kernel_family ogq_family_matmul = {"matmul", kernels, 0};
