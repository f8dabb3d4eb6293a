/* kernels_reduce.c — the reduce kernel family (to be filled in). */
#include "kernel.h"

static const struct ogq_kernel kernels[] = {
    {0},
};

const struct ogq_kernel_family ogq_family_reduce = {"reduce", kernels, 0};
