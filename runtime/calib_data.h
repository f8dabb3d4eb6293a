/* calib_data.h — calibration data: batches of model inputs read from files.
 *
 * A source is opened for the inputs a planned model must be fed (ogq_executor_input) and
 * reads one of these layouts from PATH:
 *   (a) an .npz file whose keys are the model's input names;
 *   (b) a folder of .npy files named <input>.npy;
 *   (c) a folder of ONNX test_data_set_N folders, each with input_<i>.pb files (inputs
 *       by position; output_*.pb are ignored), or a single such set folder;
 *   (d) a folder of .npz files (each one as in (a));
 *   (e) a single .npy file, for a model with exactly one input.
 * Folder layouts are recognised in the order (c) sets, (c) single set, (b), (d). Names
 * are looked up exactly; if absent, the name with every character outside [A-Za-z0-9._-]
 * replaced by '_' is tried too (so input "x/0" may come from "x_0.npy"). Keys and files
 * that match no input are ignored; ogq_calib_note() says which.
 *
 * Samples. Each array holds a number of samples along its axis 0. For a model input
 * declared with rank R:
 *   - an array of rank R is a batch: axis 0 is the model's batch axis, one row is one
 *     sample (the declared dim 0 may be anything; the other fixed dims must match);
 *   - an array of rank R+1 is a stack of samples: array[i] is fed as is (its shape must
 *     match the declared type), one at a time;
 *   - a rank-0 array for a rank-0 input is a single sample.
 * Inputs of unknown rank take any array of rank >= 1 as a batch (rank 0: one sample).
 * Symbolic dims are free; fixed dims must match. Every input of a file (or test set) must
 * hold the same number of samples. Files and sets are read in a deterministic order
 * (.npz members by key, folders sorted by name, test_data_set_N by N), samples in order
 * within each; the optional cap (max_samples) keeps the first N.
 *
 * Batches. ogq_calib_next() yields up to batch_size samples concatenated along axis 0
 * (the last batch may be smaller). A batch spans files/sets when the per-sample shapes
 * agree and is cut short where they change (e.g. sets with different sequence lengths).
 * The effective batch size differs from the requested one when:
 *   - an input's declared dim 0 is fixed to D: every batch has exactly D samples (for the
 *     common D = 1: one sample at a time); the sample count must be a multiple of D;
 *   - samples come as stacks (rank R+1) or as rank-0 arrays: one sample at a time.
 * ogq_calib_batch_size() gives the effective size and ogq_calib_note() mentions the
 * change.
 *
 * Dtypes must equal the declared input dtype exactly (float64 data for a float32 input is
 * an error, not a silent conversion). Errors are one line, name the file (or set) and the
 * input, and say expected vs given; missing inputs list the available keys/files.
 *
 * All data is read at open (arrays of .npy files and stored .npz members stay memory-
 * mapped, not copied); files beyond the sample cap are not read.
 */
#ifndef OGQ_CALIB_DATA_H
#define OGQ_CALIB_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "executor.h"
#include "graph/graph.h"
#include "graph/tensor.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_calib;

struct ogq_calib_options {
    int64_t max_samples; /* <= 0: every sample */
    int64_t batch_size;  /* <= 0: 1 */
};

/* Defaults: every sample, batch size 1. */
void ogq_calib_options_init(struct ogq_calib_options *o);

/* Opens the data at `path` for the `n_inputs` model inputs `inputs` (borrowed during the
 * call only: names and types are copied). `opts` may be NULL for the defaults. Returns a
 * new source the caller frees with ogq_calib_free. Fails with OGQ_ERR_IO (unreadable
 * path), OGQ_ERR_FORMAT (bad files, missing inputs, wrong dtype/shape, no samples) or
 * OGQ_ERR_UNSUPPORTED (e.g. a compression method or dtype the runtime does not handle). */
enum ogq_status ogq_calib_open(const char *path, const struct ogq_value *const *inputs,
                               size_t n_inputs, const struct ogq_calib_options *opts,
                               struct ogq_calib **out, struct ogq_error *err);

/* Same, for the inputs of a planned executor (ogq_executor_input order). */
enum ogq_status ogq_calib_open_executor(const char *path, const struct ogq_executor *e,
                                        const struct ogq_calib_options *opts,
                                        struct ogq_calib **out, struct ogq_error *err);

/* Next batch: on success either *done is true (no tensors written) or batch[i] receives
 * a new tensor for input i (one per input, in the order given at open, named after the
 * input) that the caller frees with ogq_tensor_free. Batch tensors may share read-only
 * data with the source's files; they stay valid after ogq_calib_free. */
enum ogq_status ogq_calib_next(struct ogq_calib *src, struct ogq_tensor **batch, bool *done,
                               struct ogq_error *err);

/* Restarts from the first sample (for passes that read the data several times). */
void ogq_calib_rewind(struct ogq_calib *src);

/* Number of samples the source yields in total (after the cap). */
int64_t ogq_calib_sample_count(const struct ogq_calib *src);

/* Effective batch size (see above). */
int64_t ogq_calib_batch_size(const struct ogq_calib *src);

/* Layout found: "npz", "npy", "npy folder", "npz folder", "test data sets",
 * "test data set". Borrowed. */
const char *ogq_calib_layout(const struct ogq_calib *src);

/* A one-line remark for the user (ignored keys or files, a changed batch size), or NULL.
 * Borrowed, valid until ogq_calib_free. */
const char *ogq_calib_note(const struct ogq_calib *src);

/* Frees the source. NULL is a no-op. */
void ogq_calib_free(struct ogq_calib *src);

#ifdef __cplusplus
}
#endif

#endif
