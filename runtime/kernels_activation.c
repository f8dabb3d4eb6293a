/* kernels_activation.c — pointwise activations and softmax-like ops (float32). */
#include <math.h>

#include "kernel.h"
#include "kernel_util.h"

static enum ogq_status unary_float_infer(struct ogq_kernel_ctx *ctx)
{
    OGQ_TRY(ogq_require_float(ctx, 0));
    const struct ogq_rt_tensor *x = ctx->inputs[0];
    return ogq_rt_tensor_set_shape(ctx->outputs[0], x->dtype, x->rank, x->dims, ctx->node->name,
                                   ctx->err);
}

static enum ogq_status relu_run(struct ogq_kernel_ctx *ctx)
{
    const float *x = ctx->inputs[0]->data;
    float *y = ctx->outputs[0]->data;
    for (int64_t i = 0; i < ctx->outputs[0]->numel; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return OGQ_OK;
}

static const struct ogq_kernel kernels[] = {
    {"", "Relu", 6, INT_MAX, NULL, NULL, unary_float_infer, NULL, relu_run, false},
};

const struct ogq_kernel_family ogq_family_activation = {"activation", kernels,
                                                        sizeof kernels / sizeof kernels[0]};
