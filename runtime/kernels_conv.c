/* kernels_conv.c — the conv kernel family (to be filled in). */
#include "kernel.h"

static const struct ogq_kernel kernels[] = {
    {0},
};

const struct ogq_kernel_family ogq_family_conv = {"conv", kernels, 0};
