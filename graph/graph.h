/* graph.h — the onnx-gptq graph IR.
 *
 * A model owns one main graph. A graph owns its values and nodes:
 *   value — a named tensor slot: its type, its producer (node + output index, or none
 *           for graph inputs and initializers), its uses (node + input index), and for
 *           initializers the constant tensor.
 *   node  — op_type/domain/name, ordered input and output values (NULL = an omitted
 *           optional input/output), decoded attributes, and the outer-scope values its
 *           If/Loop/Scan subgraphs read ("implicit inputs", tracked as uses so nothing
 *           they need is ever removed).
 * Nodes are kept in topological order. All mutation goes through the functions below,
 * which keep producer/use links exact; ogq_graph_verify checks every invariant.
 *
 * Subgraphs (GRAPH/GRAPHS attributes) are kept as the original protobuf and written
 * back unchanged: passes and the runtime skip them.
 *
 * Ownership words used below: "borrows" (caller keeps ownership), "takes ownership",
 * "returns a new X the caller frees with ...".
 */
#ifndef OGQ_GRAPH_H
#define OGQ_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/status.h"
#include "../util/strmap.h"
#include "dtype.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_node;

/* One dimension of a value's type: a known size, a symbolic name, or unknown. */
struct ogq_dim {
    int64_t value; /* >= 0 when known, -1 otherwise */
    char *param;   /* owned symbolic name ("batch") or NULL */
};

/* Tensor type of a value. rank < 0 means the rank is unknown. */
struct ogq_type {
    enum ogq_dtype dtype; /* UNDEFINED when unknown or not a tensor */
    int rank;
    struct ogq_dim *dims; /* owned, `rank` entries */
};

struct ogq_use {
    struct ogq_node *node;
    int input; /* input index, or -1 - k for implicit input k (subgraph reference) */
};

struct ogq_value {
    char *name; /* owned, unique in the graph, never empty */
    struct ogq_type type;
    bool has_type;  /* type came from the model or a pass */
    bool is_tensor; /* false for sequence/map/optional values (type kept only in type_src) */
    struct ogq_node *producer; /* NULL for graph inputs, initializers and orphans */
    int producer_output;
    struct ogq_use *uses;
    size_t n_uses, cap_uses;
    struct ogq_tensor *initializer; /* owned constant data, or NULL */
    bool is_sparse_initializer;     /* declared in sparse_initializer (kept opaque) */
    bool is_graph_input;
    bool is_graph_output;
    bool has_value_info;  /* listed in graph.value_info */
    const void *type_src; /* loaded TypeProto; written back while type_dirty is false */
    bool type_dirty;
    const void *vi_src;   /* loaded ValueInfoProto (doc_string, unknown fields) */
};

enum ogq_attr_type {
    OGQ_ATTR_UNDEFINED = 0,
    OGQ_ATTR_FLOAT = 1,
    OGQ_ATTR_INT = 2,
    OGQ_ATTR_STRING = 3,
    OGQ_ATTR_TENSOR = 4,
    OGQ_ATTR_GRAPH = 5,
    OGQ_ATTR_FLOATS = 6,
    OGQ_ATTR_INTS = 7,
    OGQ_ATTR_STRINGS = 8,
    OGQ_ATTR_TENSORS = 9,
    OGQ_ATTR_GRAPHS = 10,
    OGQ_ATTR_SPARSE_TENSOR = 11,
    OGQ_ATTR_SPARSE_TENSORS = 12,
    OGQ_ATTR_TYPE_PROTO = 13,
    OGQ_ATTR_TYPE_PROTOS = 14,
};

struct ogq_attr {
    char *name; /* owned */
    enum ogq_attr_type type;
    float f;
    int64_t i;
    struct ogq_bytes s;       /* STRING */
    struct ogq_tensor *t;     /* TENSOR, owned */
    float *floats;            /* FLOATS, owned, n entries */
    int64_t *ints;            /* INTS, owned, n entries */
    struct ogq_bytes *strings; /* STRINGS, owned, n entries */
    size_t n;
    /* The loaded AttributeProto, or NULL for attributes set by a pass. Types without a
     * decoded form (GRAPH(S), TENSORS, SPARSE_TENSOR(S), TYPE_PROTO(S)) live only here. */
    const void *src;
};

struct ogq_node {
    char *name;    /* owned; may be "" (ONNX names are optional) */
    char *op_type; /* owned */
    char *domain;  /* owned; "" is the default ai.onnx domain */
    struct ogq_value **inputs;  /* owned array of borrowed values; NULL = omitted */
    size_t n_inputs;
    struct ogq_value **outputs; /* owned array of borrowed values; NULL = omitted */
    size_t n_outputs;
    struct ogq_attr *attrs;
    size_t n_attrs;
    struct ogq_value **implicit_inputs; /* outer-scope values read by subgraphs */
    size_t n_implicit;
    bool has_subgraphs;
    const void *src; /* loaded NodeProto (doc_string, unknown fields) or NULL */
    size_t scratch;  /* free for graph algorithms (e.g. a node index); never persistent */
};

struct ogq_graph {
    struct ogq_node **nodes; /* topological order */
    size_t n_nodes, cap_nodes;
    struct ogq_value **values; /* every value, in creation order */
    size_t n_values, cap_values;
    struct ogq_strmap by_name;
    struct ogq_value **inputs; /* declared order (may include initializers, IR < 4) */
    size_t n_inputs, cap_inputs;
    struct ogq_value **outputs;
    size_t n_outputs, cap_outputs;
    struct ogq_value **initializers; /* save order */
    size_t n_initializers, cap_initializers;
    struct ogq_value **value_infos; /* values listed in value_info, in order */
    size_t n_value_infos, cap_value_infos;
    char *name;
    const void *src; /* loaded GraphProto: doc_string, sparse initializers, annotations, unknown fields */
    uint64_t name_counter; /* for ogq_graph_unique_name */
};

struct ogq_opset {
    char *domain; /* "" or "ai.onnx" for the default domain */
    int64_t version;
};

struct ogq_kv {
    char *key;
    char *value;
};

struct ogq_model {
    int64_t ir_version;
    char *producer_name;
    char *producer_version;
    struct ogq_opset *opsets;
    size_t n_opsets;
    struct ogq_kv *metadata;
    size_t n_metadata;
    struct ogq_graph *graph;
    char *path; /* file it was loaded from (for messages), or NULL */
    char *dir;  /* its folder: the root for external data */
    char **external_files; /* resolved paths of the external-data files it reads (owned) */
    size_t n_external_files;
    /* The loaded ModelProto with tensor payloads moved out, kept so that save writes
     * back every field the IR does not model (functions, training info, doc strings,
     * unknown fields of newer ONNX versions). Opaque; NULL for a model built in memory. */
    void *proto;
};

/* ---- model ---- */

/* Returns a new empty model (IR version 10, no opsets) with an empty graph. */
enum ogq_status ogq_model_new(struct ogq_model **out, struct ogq_error *err);

/* Frees the model, its graph, tensors and retained protobuf. NULL is a no-op. */
void ogq_model_free(struct ogq_model *m);

/* Opset version imported for `domain` ("" and "ai.onnx" are the same), or 0 if none. */
int64_t ogq_model_opset(const struct ogq_model *m, const char *domain);

/* Sets (adds or replaces) the opset version for `domain`. */
enum ogq_status ogq_model_set_opset(struct ogq_model *m, const char *domain, int64_t version,
                                    struct ogq_error *err);

/* Metadata value for `key`, or NULL. */
const char *ogq_model_metadata(const struct ogq_model *m, const char *key);

/* Sets (adds or replaces) a metadata_props entry; both strings are copied. */
enum ogq_status ogq_model_set_metadata(struct ogq_model *m, const char *key, const char *value,
                                       struct ogq_error *err);

/* ---- graph: lookup ---- */

/* Value named `name`, or NULL. */
struct ogq_value *ogq_graph_value(const struct ogq_graph *g, const char *name);

/* Index of `node` in g->nodes, or -1. O(n). */
ptrdiff_t ogq_graph_node_index(const struct ogq_graph *g, const struct ogq_node *node);

/* Attribute `name` of `node`, or NULL. */
const struct ogq_attr *ogq_node_attr(const struct ogq_node *node, const char *name);

/* Typed attribute getters: return `def` when absent; the _checked form reports a wrong type. */
int64_t ogq_node_attr_int(const struct ogq_node *node, const char *name, int64_t def);
float ogq_node_attr_float(const struct ogq_node *node, const char *name, float def);
/* Returns the string (NUL-terminated) or `def`. */
const char *ogq_node_attr_string(const struct ogq_node *node, const char *name, const char *def);

/* Number of non-omitted trailing-aware inputs: index of last present input + 1. */
size_t ogq_node_present_inputs(const struct ogq_node *node);

/* ---- graph: mutation ---- */

/* Creates a value named `name` (copied) with no producer. Fails if the name is taken or
 * empty. The graph owns the value. */
enum ogq_status ogq_graph_add_value(struct ogq_graph *g, const char *name,
                                    struct ogq_value **out, struct ogq_error *err);

/* Appends `v` to the graph's declared inputs (it must have no producer and not be an
 * input already). Initializers may be inputs too (IR < 4 style, or overridable defaults). */
enum ogq_status ogq_graph_add_input(struct ogq_graph *g, struct ogq_value *v,
                                    struct ogq_error *err);

/* Appends `v` to the graph's outputs (a value may be listed more than once). */
enum ogq_status ogq_graph_add_output(struct ogq_graph *g, struct ogq_value *v,
                                     struct ogq_error *err);

/* Writes a name not yet used in the graph, derived from `base`, into `buf` (`size` of at
 * least 32 bytes; a long base is shortened to make room for a numeric suffix). */
void ogq_graph_unique_name(struct ogq_graph *g, const char *base, char *buf, size_t size);

/* Sets the tensor type of `v` (copies `type`), marking it changed for save. */
enum ogq_status ogq_value_set_type(struct ogq_value *v, enum ogq_dtype dtype, int rank,
                                   const int64_t *dims, struct ogq_error *err);

/* Creates a node and inserts it before `before` (NULL: append at the end). Inputs may
 * contain NULL (omitted). Outputs must be values without a producer (or NULL).
 * The node's name, op_type and domain are copied. */
enum ogq_status ogq_graph_insert_node(struct ogq_graph *g, struct ogq_node *before,
                                      const char *op_type, const char *domain, const char *name,
                                      struct ogq_value *const *inputs, size_t n_inputs,
                                      struct ogq_value *const *outputs, size_t n_outputs,
                                      struct ogq_node **out, struct ogq_error *err);

/* Points input `index` of `node` at `v` (NULL = omitted), updating use lists.
 * `index` may equal n_inputs to append an input. */
enum ogq_status ogq_node_set_input(struct ogq_graph *g, struct ogq_node *node, size_t index,
                                   struct ogq_value *v, struct ogq_error *err);

/* Redirects every use of `from` to `to` (node inputs and implicit inputs). When
 * `graph_outputs` is true and `from` is a graph output, `to` takes its place in the
 * output list. Does not reorder nodes: the caller keeps topological order valid. */
enum ogq_status ogq_graph_replace_uses(struct ogq_graph *g, struct ogq_value *from,
                                       struct ogq_value *to, bool graph_outputs,
                                       struct ogq_error *err);

/* Makes `v` an initializer holding `t` (takes ownership of t, frees the old tensor).
 * `v` must have no producer. The tensor's name is set to the value's name. Values
 * that were not initializers are appended to the initializer list. */
enum ogq_status ogq_graph_set_initializer(struct ogq_graph *g, struct ogq_value *v,
                                          struct ogq_tensor *t, struct ogq_error *err);

/* Attribute setters (add or replace; copies all data; replaces any loaded form). */
enum ogq_status ogq_node_set_attr_int(struct ogq_node *node, const char *name, int64_t v,
                                      struct ogq_error *err);
enum ogq_status ogq_node_set_attr_float(struct ogq_node *node, const char *name, float v,
                                        struct ogq_error *err);
enum ogq_status ogq_node_set_attr_string(struct ogq_node *node, const char *name,
                                         const char *v, struct ogq_error *err);
enum ogq_status ogq_node_set_attr_ints(struct ogq_node *node, const char *name,
                                       const int64_t *v, size_t n, struct ogq_error *err);
enum ogq_status ogq_node_set_attr_floats(struct ogq_node *node, const char *name,
                                         const float *v, size_t n, struct ogq_error *err);
/* Takes ownership of `t`. */
enum ogq_status ogq_node_set_attr_tensor(struct ogq_node *node, const char *name,
                                         struct ogq_tensor *t, struct ogq_error *err);
/* Removes attribute `name` if present. */
void ogq_node_remove_attr(struct ogq_node *node, const char *name);

/* Removes `node` from the graph: its inputs lose the uses, its outputs lose their
 * producer (they stay in the graph as orphans until removed). Frees the node. */
void ogq_graph_remove_node(struct ogq_graph *g, struct ogq_node *node);

/* Removes `v` (and its initializer). It must have no producer and no uses, and must not
 * be a graph input or output. */
enum ogq_status ogq_graph_remove_value(struct ogq_graph *g, struct ogq_value *v,
                                       struct ogq_error *err);

/* Removes nodes none of whose outputs is used or a graph output, repeatedly, then every
 * value that has no producer, no use and is not a graph input/output (including unused
 * initializers). Sets *removed to the number of nodes removed (may be NULL). */
void ogq_graph_remove_dead(struct ogq_graph *g, size_t *removed);

/* Reorders g->nodes topologically, keeping the current order wherever it is already
 * valid (stable). Fails with OGQ_ERR_FORMAT naming a node on a cycle. */
enum ogq_status ogq_graph_topo_sort(struct ogq_graph *g, struct ogq_error *err);

/* Checks every IR invariant: unique names and name map, producer/use symmetry, each
 * node's inputs defined before it (topological order), initializers without producers,
 * graph outputs defined. Returns OGQ_ERR_INTERNAL with a description on failure. */
enum ogq_status ogq_graph_verify(const struct ogq_graph *g, struct ogq_error *err);

/* Structural equality of two models (for round-trip tests): header fields, opsets,
 * metadata, and graphs compared node by node, value by value, tensor bytes included.
 * On difference returns false and describes the first one in `why`. */
bool ogq_model_equal(const struct ogq_model *a, const struct ogq_model *b, char *why,
                     size_t why_size);

#ifdef __cplusplus
}
#endif

#endif
