/* registry.c — lists every kernel family. To add a family: one line here and one
 * `extern` below; to add an op: one entry in its family file. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

extern const struct ogq_kernel_family ogq_family_elementwise;
extern const struct ogq_kernel_family ogq_family_activation;
extern const struct ogq_kernel_family ogq_family_matmul;
extern const struct ogq_kernel_family ogq_family_conv;
extern const struct ogq_kernel_family ogq_family_pool;
extern const struct ogq_kernel_family ogq_family_norm;
extern const struct ogq_kernel_family ogq_family_reduce;
extern const struct ogq_kernel_family ogq_family_shape;
extern const struct ogq_kernel_family ogq_family_qdq;

static const struct ogq_kernel_family *const families[] = {
    &ogq_family_elementwise, &ogq_family_activation, &ogq_family_matmul,
    &ogq_family_conv,        &ogq_family_pool,       &ogq_family_norm,
    &ogq_family_reduce,      &ogq_family_shape,      &ogq_family_qdq,
};

#define N_FAMILIES (sizeof families / sizeof families[0])

static bool same_domain(const char *a, const char *b)
{
    if (strcmp(a, "ai.onnx") == 0)
        a = "";
    if (strcmp(b, "ai.onnx") == 0)
        b = "";
    return strcmp(a, b) == 0;
}

const struct ogq_kernel *ogq_registry_find(const char *domain, const char *op_type, int64_t opset,
                                           char *why_buf, size_t why_size)
{
    int lo = 0, hi = 0;
    bool known = false;
    for (size_t f = 0; f < N_FAMILIES; f++) {
        for (size_t i = 0; i < families[f]->count; i++) {
            const struct ogq_kernel *k = &families[f]->kernels[i];
            if (strcmp(k->op_type, op_type) != 0 || !same_domain(k->domain, domain))
                continue;
            if (opset >= k->since_version && opset <= k->until_version)
                return k;
            if (!known || k->since_version < lo)
                lo = k->since_version;
            if (!known || k->until_version > hi)
                hi = k->until_version;
            known = true;
        }
    }
    if (why_buf && why_size) {
        if (!known)
            snprintf(why_buf, why_size, "op is not supported by the runtime");
        else if (hi == 2147483647)
            snprintf(why_buf, why_size, "opset %lld is not supported (supported from %d)",
                     (long long)opset, lo);
        else
            snprintf(why_buf, why_size, "opset %lld is not supported (supported %d to %d)",
                     (long long)opset, lo, hi);
    }
    return NULL;
}

size_t ogq_registry_count(void)
{
    size_t n = 0;
    for (size_t f = 0; f < N_FAMILIES; f++)
        n += families[f]->count;
    return n;
}

const struct ogq_kernel *ogq_registry_at(size_t i)
{
    for (size_t f = 0; f < N_FAMILIES; f++) {
        if (i < families[f]->count)
            return &families[f]->kernels[i];
        i -= families[f]->count;
    }
    return NULL;
}
