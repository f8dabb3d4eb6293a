/* model_io.h — reading and writing ONNX files.
 *
 * Loading treats every file as hostile: sizes, offsets, dims and names are checked,
 * external data must stay inside the model's folder, and every failure is a one-line
 * OGQ_ERR_FORMAT/OGQ_ERR_IO message that names the file and the offending tensor/node.
 */
#ifndef OGQ_MODEL_IO_H
#define OGQ_MODEL_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads `path` into a new model the caller frees with ogq_model_free. External data is
 * resolved relative to the file's folder and memory-mapped. Nodes come out in
 * topological order. */
enum ogq_status ogq_model_load(const char *path, struct ogq_model **out, struct ogq_error *err);

/* Loads a model from `size` bytes at `data` (borrowed; copied as needed). `name` is used
 * in messages. `dir` is the folder external data is resolved in; NULL refuses external
 * data. */
enum ogq_status ogq_model_load_memory(const void *data, size_t size, const char *name,
                                      const char *dir, struct ogq_model **out,
                                      struct ogq_error *err);

/* Reads one serialized TensorProto file (ONNX test_data_set_N/input_N.pb). Returns a new
 * tensor the caller frees with ogq_tensor_free. External data is refused. */
enum ogq_status ogq_tensor_load_pb(const char *path, struct ogq_tensor **out,
                                   struct ogq_error *err);

/* Serializes `t` as a TensorProto file (name kept). */
enum ogq_status ogq_tensor_save_pb(const struct ogq_tensor *t, const char *path,
                                   struct ogq_error *err);

enum ogq_external_mode {
    OGQ_EXTERNAL_AUTO = 0, /* inline, unless the model would pass protobuf's 2 GiB limit */
    OGQ_EXTERNAL_ALWAYS,   /* tensors of at least min_external_bytes go to the side file */
    OGQ_EXTERNAL_NEVER,    /* fail rather than write a side file */
};

struct ogq_save_options {
    enum ogq_external_mode external;
    size_t min_external_bytes; /* smaller tensors stay inline; 0 means the default 1024 */
    /* Name of the side file, relative to the output's folder; NULL: "<output file>.data". */
    const char *external_name;
};

/* Default options: AUTO, 1024-byte threshold, "<output>.data". */
void ogq_save_options_init(struct ogq_save_options *o);

/* Writes `m` to `path`. The model (and its side file) are written to temporary files in
 * the target folder and renamed into place, so a failure never leaves a partial output.
 * Refuses to overwrite the file the model was loaded from or any external-data file it
 * reads. `opts` may be NULL for the defaults. Output is deterministic: the same IR gives
 * the same bytes. */
enum ogq_status ogq_model_save(const struct ogq_model *m, const char *path,
                               const struct ogq_save_options *opts, struct ogq_error *err);

#ifdef __cplusplus
}
#endif

#endif
