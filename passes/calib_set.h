/* calib_set.h — calibration data as the passes see it: batches already in memory. */
#ifndef OGQ_CALIB_SET_H
#define OGQ_CALIB_SET_H

#include <stddef.h>
#include <stdint.h>

#include "graph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* n_batches batches, each one tensor per executor input (in the order of
 * ogq_executor_input()); dim 0 of every input is the batch (sample) dimension.
 * Borrowed by the passes. */
struct ogq_calib_set {
    size_t n_batches;
    size_t n_inputs;
    const struct ogq_tensor *const *const *batches; /* [batch][input] */
    int64_t n_samples;
};

typedef void (*ogq_progress_fn)(void *user, const char *phase, size_t done, size_t total);

#ifdef __cplusplus
}
#endif

#endif
