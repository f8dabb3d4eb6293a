/* registry.h — the one table of kernel families. */
#ifndef OGQ_REGISTRY_H
#define OGQ_REGISTRY_H

#include "kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel for (domain, op_type) at `opset`, or NULL. On NULL, *why says whether the op is
 * unknown or only the opset is out of range (static text plus a version range written
 * into why_buf). */
const struct ogq_kernel *ogq_registry_find(const char *domain, const char *op_type, int64_t opset,
                                           char *why_buf, size_t why_size);

/* Iteration over every kernel entry (for `--list-ops` style reports and tests). */
size_t ogq_registry_count(void);
const struct ogq_kernel *ogq_registry_at(size_t i);

#ifdef __cplusplus
}
#endif

#endif
