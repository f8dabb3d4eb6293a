/* load.c — ONNX ModelProto → IR, treating the file as hostile.
 *
 * Steps: map the file; check protobuf nesting depth (protobuf-c recurses); unpack
 * with protobuf-c; decode tensors (raw_data payloads are moved out of the message,
 * not copied; external data is memory-mapped); build values and nodes in two passes
 * (outputs first, so unsorted files still resolve); resolve subgraph references to
 * outer values; sort topologically. The unpacked message is kept in the model so that
 * save can write back every field the IR does not model.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/array.h"
#include "../util/checked.h"
#include "graph_impl.h"
#include "model_io.h"
#include "onnx.pb-c.h"
#include "wire_depth.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx-gptq assumes a little-endian host (ONNX raw_data is little-endian)"
#endif

/* Far beyond any real model, small enough that protobuf-c's recursion stays safe. */
#define MAX_MESSAGE_DEPTH 256
#define MAX_RANK 1024

struct ext_file {
    char *path; /* resolved real path */
    struct ogq_buffer *buf;
};

struct load_ctx {
    const char *dir;     /* external-data root, or NULL to refuse external data */
    char *dir_real;      /* realpath(dir), resolved lazily */
    struct ext_file *ext;
    size_t n_ext, cap_ext;
    struct ogq_error *err;
};

static void ctx_fini(struct load_ctx *c)
{
    for (size_t i = 0; i < c->n_ext; i++) {
        free(c->ext[i].path);
        ogq_buffer_unref(c->ext[i].buf);
    }
    free(c->ext);
    free(c->dir_real);
}

/* ---------------------------------------------------------------- external data */

static enum ogq_status parse_i64_field(const char *s, const char *key, const char *tname,
                                       int64_t *out, struct ogq_error *err)
{
    if (!s || !*s)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': external data '%s' is empty",
                             tname, key);
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || !ogq_mul_i64(v, 10, &v) || !ogq_add_i64(v, *p - '0', &v))
            return ogq_error_set(err, OGQ_ERR_FORMAT,
                                 "tensor '%s': external data '%s' is not a non-negative integer: '%s'",
                                 tname, key, s);
    }
    *out = v;
    return OGQ_OK;
}

/* Resolves `location` inside the model folder and maps it (cached per file). */
static enum ogq_status open_external(struct load_ctx *c, const char *location, const char *tname,
                                     struct ogq_buffer **out)
{
    struct ogq_error *err = c->err;
    if (!c->dir)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': external data is not allowed here", tname);
    if (!location || !*location)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': external data has no location",
                             tname);
    if (location[0] == '/' || location[0] == '\\' || strchr(location, ':'))
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': external data location '%s' is absolute", tname,
                             location);
    /* Reject any ".." component outright: a location must name a file below the folder. */
    for (const char *p = location; *p;) {
        size_t len = strcspn(p, "/\\");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return ogq_error_set(err, OGQ_ERR_FORMAT,
                                 "tensor '%s': external data location '%s' escapes the model folder",
                                 tname, location);
        p += len;
        if (*p)
            p++;
    }
    if (!c->dir_real) {
        c->dir_real = realpath(c->dir, NULL);
        if (!c->dir_real)
            return ogq_error_set(err, OGQ_ERR_IO, "cannot resolve model folder '%s': %s", c->dir,
                                 strerror(errno));
    }
    size_t need = strlen(c->dir_real) + 1 + strlen(location) + 1;
    char *joined = malloc(need);
    if (!joined)
        return OGQ_NOMEM(err);
    snprintf(joined, need, "%s/%s", c->dir_real, location);
    char *real = realpath(joined, NULL);
    int e = errno;
    free(joined);
    if (!real)
        return ogq_error_set(err, OGQ_ERR_IO,
                             "tensor '%s': external data file '%s' cannot be opened: %s", tname,
                             location, strerror(e));
    /* Symlinks are followed by realpath: the target must still be inside the folder. */
    size_t dlen = strlen(c->dir_real);
    bool inside = strncmp(real, c->dir_real, dlen) == 0 &&
                  (real[dlen] == '/' || (dlen == 1 && c->dir_real[0] == '/'));
    if (!inside) {
        free(real);
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': external data location '%s' resolves outside the model folder",
                             tname, location);
    }
    for (size_t i = 0; i < c->n_ext; i++) {
        if (strcmp(c->ext[i].path, real) == 0) {
            free(real);
            *out = c->ext[i].buf;
            return OGQ_OK;
        }
    }
    struct ogq_buffer *buf = NULL;
    enum ogq_status st = ogq_buffer_map_file(real, &buf, err);
    if (st != OGQ_OK) {
        free(real);
        ogq_error_prefix(err, "tensor '%s': external data '%s'", tname, location);
        return st;
    }
    struct ext_file f = {real, buf};
    if (!OGQ_ARRAY_PUSH(c->ext, c->n_ext, c->cap_ext, f)) {
        free(real);
        ogq_buffer_unref(buf);
        return OGQ_NOMEM(err);
    }
    *out = buf;
    return OGQ_OK;
}

static enum ogq_status decode_external(struct load_ctx *c, const Onnx__TensorProto *tp,
                                       const char *tname, int dtype, int rank,
                                       const int64_t *dims, struct ogq_tensor **out)
{
    struct ogq_error *err = c->err;
    const char *location = NULL, *offset_s = NULL, *length_s = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = tp->external_data[i];
        if (!kv->key)
            continue;
        if (strcmp(kv->key, "location") == 0)
            location = kv->value;
        else if (strcmp(kv->key, "offset") == 0)
            offset_s = kv->value;
        else if (strcmp(kv->key, "length") == 0)
            length_s = kv->value;
    }
    if (dtype == OGQ_DTYPE_STRING)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': STRING data cannot be external",
                             tname);
    int64_t numel;
    size_t need;
    if (!ogq_dims_product(dims, (size_t)rank, &numel) ||
        !ogq_dtype_storage_bytes(dtype, numel, &need))
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': dims are negative or their product overflows", tname);
    int64_t offset = 0, length = (int64_t)need;
    if (offset_s)
        OGQ_TRY(parse_i64_field(offset_s, "offset", tname, &offset, err));
    if (length_s)
        OGQ_TRY(parse_i64_field(length_s, "length", tname, &length, err));
    if ((uint64_t)length != need)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': external data length is %lld bytes but dims x %s need %zu",
                             tname, (long long)length, ogq_dtype_name(dtype), need);
    struct ogq_buffer *buf = NULL;
    OGQ_TRY(open_external(c, location, tname, &buf));
    int64_t end;
    if (!ogq_add_i64(offset, length, &end) || (uint64_t)end > buf->size)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': external data file '%s' has %zu bytes, shorter than offset %lld + length %lld",
                             tname, location, buf->size, (long long)offset, (long long)length);
    return ogq_tensor_new_view(tname, dtype, rank, dims, buf, (size_t)offset, need, out, err);
}

/* ---------------------------------------------------------------- tensors */

/* Copies `count` typed values into packed little-endian storage of `dtype`. */
static void pack_int32_field(int dtype, const int32_t *src, size_t count, uint8_t *dst)
{
    int bits = ogq_dtype_bits(dtype);
    for (size_t i = 0; i < count; i++) {
        uint32_t v = (uint32_t)src[i];
        if (bits <= 8) /* 8-bit types, and sub-byte types: one packed byte per int32 */
            dst[i] = (uint8_t)v;
        else if (bits == 16) {
            uint16_t h = (uint16_t)v;
            memcpy(dst + 2 * i, &h, 2);
        } else
            memcpy(dst + 4 * i, &v, 4);
    }
}

/* Decodes the typed data fields (float_data, int32_data, ...) into a new tensor. The
 * number of stored values is checked against dims before anything is allocated, so a
 * tiny file cannot make us allocate for a huge claimed shape. */
static enum ogq_status decode_typed(const Onnx__TensorProto *tp, const char *tname, int dtype,
                                    int rank, const int64_t *dims, int64_t numel64,
                                    struct ogq_tensor **out, struct ogq_error *err)
{
    size_t have = 0, want = 0;
    const void *src = NULL;
    size_t elem = 0;
    bool int32_field = false;
    size_t nbytes = 0;
    if (dtype != OGQ_DTYPE_STRING && !ogq_dtype_storage_bytes(dtype, numel64, &nbytes))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': byte size overflows", tname);
    size_t numel = (size_t)numel64;
    switch (dtype) {
    case OGQ_DTYPE_FLOAT:
    case OGQ_DTYPE_COMPLEX64:
        have = tp->n_float_data, src = tp->float_data, elem = 4;
        want = dtype == OGQ_DTYPE_FLOAT ? numel : 2 * numel;
        break;
    case OGQ_DTYPE_DOUBLE:
    case OGQ_DTYPE_COMPLEX128:
        have = tp->n_double_data, src = tp->double_data, elem = 8;
        want = dtype == OGQ_DTYPE_DOUBLE ? numel : 2 * numel;
        break;
    case OGQ_DTYPE_INT64:
        have = tp->n_int64_data, src = tp->int64_data, elem = 8, want = numel;
        break;
    case OGQ_DTYPE_UINT64:
        have = tp->n_uint64_data, src = tp->uint64_data, elem = 8, want = numel;
        break;
    case OGQ_DTYPE_UINT32:
        have = tp->n_uint64_data, want = numel;
        break;
    case OGQ_DTYPE_STRING:
        have = tp->n_string_data, want = numel;
        break;
    default:
        int32_field = true;
        have = tp->n_int32_data;
        want = ogq_dtype_bits(dtype) < 8 ? nbytes : numel;
        break;
    }
    size_t total_fields = tp->n_float_data + tp->n_double_data + tp->n_int64_data +
                          tp->n_uint64_data + tp->n_string_data + tp->n_int32_data;
    if (total_fields != have)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': data is stored in a field that does not match its type %s",
                             tname, ogq_dtype_name(dtype));
    if (have != want) {
        if (have == 0)
            return ogq_error_set(err, OGQ_ERR_FORMAT,
                                 "tensor '%s': has no data for %lld elements", tname,
                                 (long long)numel64);
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': has %zu stored values but dims x %s need %zu", tname,
                             have, ogq_dtype_name(dtype), want);
    }
    struct ogq_tensor *t = NULL;
    OGQ_TRY(ogq_tensor_new(tname, dtype, rank, dims, &t, err));
    *out = t; /* freed by the caller on failure */
    uint8_t *dst = ogq_tensor_data(t);
    if (dtype == OGQ_DTYPE_STRING) {
        for (size_t i = 0; i < numel; i++) {
            size_t len = tp->string_data[i].len;
            t->strings[i].data = malloc(len + 1);
            if (!t->strings[i].data)
                return OGQ_NOMEM(err);
            if (len)
                memcpy(t->strings[i].data, tp->string_data[i].data, len);
            t->strings[i].data[len] = 0;
            t->strings[i].len = len;
        }
    } else if (dtype == OGQ_DTYPE_UINT32) {
        for (size_t i = 0; i < numel; i++) {
            uint32_t v = (uint32_t)tp->uint64_data[i];
            memcpy(dst + 4 * i, &v, 4);
        }
    } else if (int32_field) {
        pack_int32_field(dtype, tp->int32_data, have, dst);
    } else if (have) {
        memcpy(dst, src, have * elem);
    }
    return OGQ_OK;
}

/* Decodes a TensorProto into a new tensor. A raw_data payload is moved out of `tp`. */
static enum ogq_status decode_tensor(struct load_ctx *c, Onnx__TensorProto *tp,
                                     struct ogq_tensor **out)
{
    struct ogq_error *err = c->err;
    const char *tname = tp->name ? tp->name : "";
    int dtype = tp->has_data_type ? tp->data_type : 0;
    if (!ogq_dtype_is_known(dtype))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': unknown data type %d", tname,
                             dtype);
    if (tp->n_dims > MAX_RANK)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': rank %zu exceeds %d", tname,
                             tp->n_dims, MAX_RANK);
    int rank = (int)tp->n_dims;
    for (int i = 0; i < rank; i++)
        if (tp->dims[i] < 0)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': dim %d is negative (%lld)",
                                 tname, i, (long long)tp->dims[i]);
    int64_t numel;
    if (!ogq_dims_product(tp->dims, (size_t)rank, &numel))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': product of dims overflows",
                             tname);
    if (tp->segment)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "tensor '%s': segmented tensors are not supported",
                             tname);
    struct ogq_tensor *t = NULL;
    enum ogq_status st;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        st = decode_external(c, tp, tname, dtype, rank, tp->dims, &t);
    } else if (tp->has_raw_data && tp->raw_data.len > 0) {
        if (dtype == OGQ_DTYPE_STRING)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': STRING data in raw_data",
                                 tname);
        size_t need;
        if (!ogq_dtype_storage_bytes(dtype, numel, &need))
            return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': byte size overflows", tname);
        if (tp->raw_data.len != need)
            return ogq_error_set(err, OGQ_ERR_FORMAT,
                                 "tensor '%s': raw_data has %zu bytes but dims x %s need %zu",
                                 tname, tp->raw_data.len, ogq_dtype_name(dtype), need);
        struct ogq_buffer *buf;
        OGQ_TRY(ogq_buffer_wrap(tp->raw_data.data, tp->raw_data.len, &buf, err));
        /* The payload now belongs to `buf`: detach it so protobuf-c does not free it. */
        tp->raw_data.data = NULL;
        tp->raw_data.len = 0;
        st = ogq_tensor_new_view(tname, dtype, rank, tp->dims, buf, 0, need, &t, err);
        ogq_buffer_unref(buf);
    } else {
        st = decode_typed(tp, tname, dtype, rank, tp->dims, numel, &t, err);
    }
    if (st == OGQ_OK && tp->doc_string) {
        t->doc_string = strdup(tp->doc_string);
        if (!t->doc_string)
            st = OGQ_NOMEM(err);
    }
    if (st != OGQ_OK) {
        ogq_tensor_free(t);
        return st;
    }
    t->src = tp;
    *out = t;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- types */

static enum ogq_status decode_type(const Onnx__TypeProto *tp, const char *vname,
                                   struct ogq_value *v, struct ogq_error *err)
{
    v->type_src = tp;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
        v->is_tensor = !tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET;
        v->has_type = tp != NULL;
        return OGQ_OK;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int dtype = tt->has_elem_type ? tt->elem_type : 0;
    if (dtype != 0 && !ogq_dtype_is_known(dtype))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "value '%s': unknown data type %d", vname, dtype);
    ogq_type_fini(&v->type);
    v->type.dtype = dtype;
    v->type.rank = -1;
    if (tt->shape) {
        if (tt->shape->n_dim > MAX_RANK)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "value '%s': rank %zu exceeds %d", vname,
                                 tt->shape->n_dim, MAX_RANK);
        int rank = (int)tt->shape->n_dim;
        struct ogq_dim *dims = rank ? calloc((size_t)rank, sizeof *dims) : NULL;
        if (rank && !dims)
            return OGQ_NOMEM(err);
        v->type.dims = dims;
        v->type.rank = rank;
        for (int i = 0; i < rank; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            dims[i].value = -1;
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
                if (d->dim_value < 0)
                    return ogq_error_set(err, OGQ_ERR_FORMAT, "value '%s': dim %d is negative (%lld)",
                                         vname, i, (long long)d->dim_value);
                dims[i].value = d->dim_value;
            } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                       d->dim_param && *d->dim_param) {
                dims[i].param = strdup(d->dim_param);
                if (!dims[i].param)
                    return OGQ_NOMEM(err);
            }
        }
    }
    v->has_type = true;
    v->is_tensor = true;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- attributes */

static enum ogq_status decode_attr(struct load_ctx *c, Onnx__AttributeProto *ap,
                                   const char *node_name, struct ogq_attr *a)
{
    struct ogq_error *err = c->err;
    if (!ap->name || !*ap->name)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "node '%s': an attribute has no name", node_name);
    a->name = strdup(ap->name);
    if (!a->name)
        return OGQ_NOMEM(err);
    a->src = ap;
    if (ap->ref_attr_name && *ap->ref_attr_name)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "node '%s': attribute '%s' refers to a function attribute outside a function",
                             node_name, ap->name);
    int type = ap->has_type ? (int)ap->type : 0;
    if (type == 0) { /* IR v1 files: infer the type from the field in use */
        if (ap->has_f) type = OGQ_ATTR_FLOAT;
        else if (ap->has_i) type = OGQ_ATTR_INT;
        else if (ap->has_s) type = OGQ_ATTR_STRING;
        else if (ap->t) type = OGQ_ATTR_TENSOR;
        else if (ap->g) type = OGQ_ATTR_GRAPH;
        else if (ap->n_floats) type = OGQ_ATTR_FLOATS;
        else if (ap->n_ints) type = OGQ_ATTR_INTS;
        else if (ap->n_strings) type = OGQ_ATTR_STRINGS;
        else if (ap->n_graphs) type = OGQ_ATTR_GRAPHS;
        else if (ap->n_tensors) type = OGQ_ATTR_TENSORS;
        else
            return ogq_error_set(err, OGQ_ERR_FORMAT, "node '%s': attribute '%s' has no type",
                                 node_name, ap->name);
    }
    a->type = (enum ogq_attr_type)type;
    switch (type) {
    case OGQ_ATTR_FLOAT: a->f = ap->f; break;
    case OGQ_ATTR_INT: a->i = ap->i; break;
    case OGQ_ATTR_STRING:
        a->s.data = malloc(ap->s.len + 1);
        if (!a->s.data)
            return OGQ_NOMEM(err);
        if (ap->s.len)
            memcpy(a->s.data, ap->s.data, ap->s.len);
        a->s.data[ap->s.len] = 0;
        a->s.len = ap->s.len;
        break;
    case OGQ_ATTR_TENSOR:
        if (!ap->t)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "node '%s': tensor attribute '%s' has no tensor",
                                 node_name, ap->name);
        OGQ_TRY(decode_tensor(c, ap->t, &a->t));
        break;
    case OGQ_ATTR_FLOATS:
        a->n = ap->n_floats;
        a->floats = malloc((a->n ? a->n : 1) * sizeof *a->floats);
        if (!a->floats)
            return OGQ_NOMEM(err);
        if (a->n)
            memcpy(a->floats, ap->floats, a->n * sizeof *a->floats);
        break;
    case OGQ_ATTR_INTS:
        a->n = ap->n_ints;
        a->ints = malloc((a->n ? a->n : 1) * sizeof *a->ints);
        if (!a->ints)
            return OGQ_NOMEM(err);
        if (a->n)
            memcpy(a->ints, ap->ints, a->n * sizeof *a->ints);
        break;
    case OGQ_ATTR_STRINGS:
        a->strings = calloc(ap->n_strings ? ap->n_strings : 1, sizeof *a->strings);
        if (!a->strings)
            return OGQ_NOMEM(err);
        a->n = ap->n_strings;
        for (size_t i = 0; i < a->n; i++) {
            a->strings[i].data = malloc(ap->strings[i].len + 1);
            if (!a->strings[i].data)
                return OGQ_NOMEM(err);
            if (ap->strings[i].len)
                memcpy(a->strings[i].data, ap->strings[i].data, ap->strings[i].len);
            a->strings[i].data[ap->strings[i].len] = 0;
            a->strings[i].len = ap->strings[i].len;
        }
        break;
    case OGQ_ATTR_GRAPH:
        if (!ap->g)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "node '%s': graph attribute '%s' has no graph",
                                 node_name, ap->name);
        break;
    case OGQ_ATTR_GRAPHS:
    case OGQ_ATTR_TENSORS:
    case OGQ_ATTR_SPARSE_TENSOR:
    case OGQ_ATTR_SPARSE_TENSORS:
    case OGQ_ATTR_TYPE_PROTO:
    case OGQ_ATTR_TYPE_PROTOS:
        break; /* kept opaque in `src` */
    default:
        return ogq_error_set(err, OGQ_ERR_FORMAT, "node '%s': attribute '%s' has unknown type %d",
                             node_name, ap->name, type);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- subgraph references */

/* A chain of name scopes for nested subgraphs, innermost first. */
struct scope {
    struct ogq_strmap names;
    const struct scope *parent;
};

static bool scope_has(const struct scope *s, const char *name)
{
    for (; s; s = s->parent)
        if (ogq_strmap_get(&s->names, name))
            return true;
    return false;
}

struct ref_ctx {
    struct ogq_graph *outer;
    struct ogq_node *node;
    struct ogq_error *err;
};

static enum ogq_status add_implicit(struct ref_ctx *r, const char *name)
{
    struct ogq_value *v = ogq_graph_value(r->outer, name);
    if (!v)
        return ogq_error_set(r->err, OGQ_ERR_FORMAT,
                             "node '%s' (%s): subgraph reads '%s', which names no value",
                             r->node->name, r->node->op_type, name);
    struct ogq_node *n = r->node;
    for (size_t i = 0; i < n->n_implicit; i++)
        if (n->implicit_inputs[i] == v)
            return OGQ_OK;
    struct ogq_value **grown = realloc(n->implicit_inputs, (n->n_implicit + 1) * sizeof *grown);
    if (!grown)
        return OGQ_NOMEM(r->err);
    n->implicit_inputs = grown;
    if (!ogq_value_add_use(v, n, -1 - (int)n->n_implicit))
        return OGQ_NOMEM(r->err);
    n->implicit_inputs[n->n_implicit++] = v;
    return OGQ_OK;
}

static enum ogq_status visit_subgraph(struct ref_ctx *r, const Onnx__GraphProto *sg,
                                      const struct scope *parent, int depth);

static enum ogq_status visit_node_subgraphs(struct ref_ctx *r, const Onnx__NodeProto *np,
                                            const struct scope *s, int depth)
{
    for (size_t a = 0; a < np->n_attribute; a++) {
        const Onnx__AttributeProto *ap = np->attribute[a];
        if (ap->g)
            OGQ_TRY(visit_subgraph(r, ap->g, s, depth + 1));
        for (size_t k = 0; k < ap->n_graphs; k++)
            OGQ_TRY(visit_subgraph(r, ap->graphs[k], s, depth + 1));
    }
    return OGQ_OK;
}

static bool tensor_is_external(const Onnx__TensorProto *t)
{
    return t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static enum ogq_status visit_subgraph(struct ref_ctx *r, const Onnx__GraphProto *sg,
                                      const struct scope *parent, int depth)
{
    if (depth > 64)
        return ogq_error_set(r->err, OGQ_ERR_FORMAT, "node '%s': subgraphs nested deeper than 64",
                             r->node->name);
    struct scope s = {.parent = parent};
    ogq_strmap_init(&s.names);
    enum ogq_status st = OGQ_OK;
    /* Names defined in this subgraph. The map borrows the protobuf's strings. */
    for (size_t i = 0; i < sg->n_input && st == OGQ_OK; i++)
        if (sg->input[i]->name && !ogq_strmap_put(&s.names, sg->input[i]->name, (void *)1))
            st = OGQ_NOMEM(r->err);
    for (size_t i = 0; i < sg->n_initializer && st == OGQ_OK; i++) {
        if (tensor_is_external(sg->initializer[i]))
            st = ogq_error_set(r->err, OGQ_ERR_UNSUPPORTED,
                               "node '%s': external data inside a subgraph is not supported",
                               r->node->name);
        else if (sg->initializer[i]->name &&
                 !ogq_strmap_put(&s.names, sg->initializer[i]->name, (void *)1))
            st = OGQ_NOMEM(r->err);
    }
    for (size_t i = 0; i < sg->n_sparse_initializer && st == OGQ_OK; i++) {
        const Onnx__SparseTensorProto *sp = sg->sparse_initializer[i];
        if (sp->values && sp->values->name && !ogq_strmap_put(&s.names, sp->values->name, (void *)1))
            st = OGQ_NOMEM(r->err);
    }
    for (size_t i = 0; i < sg->n_node && st == OGQ_OK; i++)
        for (size_t k = 0; k < sg->node[i]->n_output && st == OGQ_OK; k++)
            if (*sg->node[i]->output[k] && !ogq_strmap_put(&s.names, sg->node[i]->output[k], (void *)1))
                st = OGQ_NOMEM(r->err);
    for (size_t i = 0; i < sg->n_node && st == OGQ_OK; i++) {
        const Onnx__NodeProto *np = sg->node[i];
        for (size_t k = 0; k < np->n_input && st == OGQ_OK; k++)
            if (*np->input[k] && !scope_has(&s, np->input[k]))
                st = add_implicit(r, np->input[k]);
        if (st == OGQ_OK)
            st = visit_node_subgraphs(r, np, &s, depth);
    }
    for (size_t i = 0; i < sg->n_output && st == OGQ_OK; i++) {
        const char *name = sg->output[i]->name;
        if (name && *name && !scope_has(&s, name))
            st = add_implicit(r, name);
    }
    ogq_strmap_fini(&s.names);
    return st;
}

/* ---------------------------------------------------------------- unknown fields */

/* protobuf-c accepts an over-long encoding of field number 0 ("80 00") and keeps it as an
 * unknown field, but writes it back in the short form, which no parser (itself included)
 * accepts. Such a file is not valid protobuf: find it so the load fails instead of the
 * save producing an unreadable file. Returns the name of the message holding one, or NULL.
 * Recursion is bounded: protobuf-c already recursed this deep to unpack the message. */
static const char *find_field_zero(const ProtobufCMessage *msg)
{
    for (unsigned i = 0; i < msg->n_unknown_fields; i++)
        if (msg->unknown_fields[i].tag == 0)
            return msg->descriptor->name;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)msg;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
            continue; /* another member of the oneof is set */
        const char *found = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);
            for (size_t k = 0; k < n && !found; k++)
                found = find_field_zero(arr[k]);
        } else {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(const void *)(base + f->offset);
            if (sub)
                found = find_field_zero(sub);
        }
        if (found)
            return found;
    }
    return NULL;
}

/* ---------------------------------------------------------------- graph */

static enum ogq_status value_for_info(struct ogq_graph *g, const Onnx__ValueInfoProto *vi,
                                      const char *role, struct ogq_value **out,
                                      struct ogq_error *err)
{
    if (!vi->name || !*vi->name)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "a graph %s has no name", role);
    *out = ogq_graph_value(g, vi->name);
    return OGQ_OK;
}

static enum ogq_status build_graph(struct load_ctx *c, Onnx__GraphProto *gp, struct ogq_graph *g)
{
    struct ogq_error *err = c->err;
    if (gp->name && !(g->name = strdup(gp->name)))
        return OGQ_NOMEM(err);
    g->src = gp;

    /* Initializers. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "initializer #%zu has no name", i);
        if (ogq_graph_value(g, tp->name))
            return ogq_error_set(err, OGQ_ERR_FORMAT, "initializer '%s' is defined twice", tp->name);
        struct ogq_tensor *t;
        OGQ_TRY(decode_tensor(c, tp, &t));
        struct ogq_value *v = NULL;
        enum ogq_status st = ogq_graph_add_value(g, tp->name, &v, err);
        if (st != OGQ_OK) {
            ogq_tensor_free(t);
            return st;
        }
        v->initializer = t;
        if (!OGQ_ARRAY_PUSH(g->initializers, g->n_initializers, g->cap_initializers, v))
            return OGQ_NOMEM(err);
    }
    for (size_t i = 0; i < gp->n_sparse_initializer; i++) {
        const Onnx__SparseTensorProto *sp = gp->sparse_initializer[i];
        const char *name = sp->values ? sp->values->name : NULL;
        if (!name || !*name)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "sparse initializer #%zu has no name", i);
        if (ogq_graph_value(g, name))
            return ogq_error_set(err, OGQ_ERR_FORMAT, "initializer '%s' is defined twice", name);
        struct ogq_value *v = NULL;
        OGQ_TRY(ogq_graph_add_value(g, name, &v, err));
        v->is_sparse_initializer = true;
    }

    /* Graph inputs (IR < 4 lists initializers here too). */
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        struct ogq_value *v = NULL;
        OGQ_TRY(value_for_info(g, vi, "input", &v, err));
        if (v && v->is_graph_input)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "graph input '%s' is listed twice", vi->name);
        if (!v)
            OGQ_TRY(ogq_graph_add_value(g, vi->name, &v, err));
        v->is_graph_input = true;
        v->vi_src = vi;
        OGQ_TRY(decode_type(vi->type, vi->name, v, err));
        if (!OGQ_ARRAY_PUSH(g->inputs, g->n_inputs, g->cap_inputs, v))
            return OGQ_NOMEM(err);
    }

    /* Nodes, pass 1: create nodes and their outputs. */
    if (!ogq_array_reserve((void **)&g->nodes, &g->cap_nodes, gp->n_node, sizeof *g->nodes))
        return OGQ_NOMEM(err);
    for (size_t i = 0; i < gp->n_node; i++) {
        Onnx__NodeProto *np = gp->node[i];
        const char *nname = np->name ? np->name : "";
        if (!np->op_type || !*np->op_type)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "node #%zu ('%s') has no op_type", i, nname);
        struct ogq_node *n = calloc(1, sizeof *n);
        if (!n)
            return OGQ_NOMEM(err);
        g->nodes[g->n_nodes++] = n;
        n->src = np;
        n->name = strdup(nname);
        n->op_type = strdup(np->op_type);
        n->domain = strdup(np->domain ? np->domain : "");
        n->inputs = calloc(np->n_input ? np->n_input : 1, sizeof *n->inputs);
        n->outputs = calloc(np->n_output ? np->n_output : 1, sizeof *n->outputs);
        n->attrs = calloc(np->n_attribute ? np->n_attribute : 1, sizeof *n->attrs);
        if (!n->name || !n->op_type || !n->domain || !n->inputs || !n->outputs || !n->attrs)
            return OGQ_NOMEM(err);
        n->n_outputs = np->n_output;
        for (size_t k = 0; k < np->n_output; k++) {
            const char *oname = np->output[k];
            if (!*oname)
                continue; /* omitted optional output */
            struct ogq_value *v = ogq_graph_value(g, oname);
            if (v) {
                if (v->producer)
                    return ogq_error_set(err, OGQ_ERR_FORMAT,
                                         "node '%s' (%s): output '%s' is also produced by node '%s'",
                                         nname, np->op_type, oname, v->producer->name);
                return ogq_error_set(err, OGQ_ERR_FORMAT,
                                     "node '%s' (%s): output '%s' is also a graph input or initializer",
                                     nname, np->op_type, oname);
            }
            OGQ_TRY(ogq_graph_add_value(g, oname, &v, err));
            v->producer = n;
            v->producer_output = (int)k;
            n->outputs[k] = v;
        }
    }

    /* Nodes, pass 2: inputs, attributes, subgraph references. */
    for (size_t i = 0; i < gp->n_node; i++) {
        Onnx__NodeProto *np = gp->node[i];
        struct ogq_node *n = g->nodes[i];
        n->n_inputs = np->n_input;
        for (size_t k = 0; k < np->n_input; k++) {
            const char *iname = np->input[k];
            if (!*iname)
                continue; /* omitted optional input */
            struct ogq_value *v = ogq_graph_value(g, iname);
            if (!v)
                return ogq_error_set(err, OGQ_ERR_FORMAT,
                                     "node '%s' (%s): input '%s' names no value", n->name,
                                     n->op_type, iname);
            n->inputs[k] = v;
            if (!ogq_value_add_use(v, n, (int)k))
                return OGQ_NOMEM(err);
        }
        for (size_t a = 0; a < np->n_attribute; a++) {
            for (size_t b = 0; b < a; b++)
                if (np->attribute[a]->name && np->attribute[b]->name &&
                    strcmp(np->attribute[a]->name, np->attribute[b]->name) == 0)
                    return ogq_error_set(err, OGQ_ERR_FORMAT, "node '%s': attribute '%s' appears twice",
                                         n->name, np->attribute[a]->name);
            n->n_attrs++;
            OGQ_TRY(decode_attr(c, np->attribute[a], n->name, &n->attrs[a]));
            if (n->attrs[a].type == OGQ_ATTR_GRAPH || n->attrs[a].type == OGQ_ATTR_GRAPHS)
                n->has_subgraphs = true;
        }
        if (n->has_subgraphs) {
            struct ref_ctx r = {g, n, err};
            OGQ_TRY(visit_node_subgraphs(&r, np, NULL, 0));
        }
    }

    /* value_info: entries naming no value (stale annotations some exporters leave) are
     * dropped; everything else keeps its type and position. */
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        struct ogq_value *v = NULL;
        OGQ_TRY(value_for_info(g, vi, "value_info entry", &v, err));
        if (!v || v->has_value_info)
            continue;
        v->has_value_info = true;
        if (!v->vi_src) {
            v->vi_src = vi;
            OGQ_TRY(decode_type(vi->type, vi->name, v, err));
        }
        if (!OGQ_ARRAY_PUSH(g->value_infos, g->n_value_infos, g->cap_value_infos, v))
            return OGQ_NOMEM(err);
    }

    /* Graph outputs. */
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        struct ogq_value *v = NULL;
        OGQ_TRY(value_for_info(g, vi, "output", &v, err));
        if (!v)
            return ogq_error_set(err, OGQ_ERR_FORMAT, "graph output '%s' names no value", vi->name);
        v->is_graph_output = true;
        if (!v->vi_src) {
            v->vi_src = vi;
            OGQ_TRY(decode_type(vi->type, vi->name, v, err));
        }
        if (!OGQ_ARRAY_PUSH(g->outputs, g->n_outputs, g->cap_outputs, v))
            return OGQ_NOMEM(err);
    }
    return ogq_graph_topo_sort(g, err);
}

/* ---------------------------------------------------------------- model */

static char *dup_or_empty(const char *s, bool *ok)
{
    char *d = strdup(s ? s : "");
    if (!d)
        *ok = false;
    return d;
}

static enum ogq_status build_model(struct load_ctx *c, Onnx__ModelProto *mp, struct ogq_model *m)
{
    struct ogq_error *err = c->err;
    if (!mp->graph)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "model has no graph");
    if (mp->has_ir_version && mp->ir_version < 1)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "ir_version %lld is invalid",
                             (long long)mp->ir_version);
    bool ok = true;
    m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    m->producer_name = ogq_strdup_or_null(mp->producer_name, &ok);
    m->producer_version = ogq_strdup_or_null(mp->producer_version, &ok);
    if (!ok)
        return OGQ_NOMEM(err);
    m->opsets = calloc(mp->n_opset_import ? mp->n_opset_import : 1, sizeof *m->opsets);
    m->metadata = calloc(mp->n_metadata_props ? mp->n_metadata_props : 1, sizeof *m->metadata);
    if (!m->opsets || !m->metadata)
        return OGQ_NOMEM(err);
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *op = mp->opset_import[i];
        const char *dom = op->domain ? op->domain : "";
        for (size_t j = 0; j < m->n_opsets; j++)
            if (strcmp(m->opsets[j].domain, dom) == 0)
                return ogq_error_set(err, OGQ_ERR_FORMAT, "opset for domain '%s' is imported twice",
                                     dom);
        m->opsets[m->n_opsets].domain = dup_or_empty(dom, &ok);
        m->opsets[m->n_opsets].version = op->has_version ? op->version : 0;
        m->n_opsets++;
        if (!ok)
            return OGQ_NOMEM(err);
    }
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        m->metadata[m->n_metadata].key = dup_or_empty(mp->metadata_props[i]->key, &ok);
        m->metadata[m->n_metadata].value = dup_or_empty(mp->metadata_props[i]->value, &ok);
        m->n_metadata++;
        if (!ok)
            return OGQ_NOMEM(err);
    }
    return build_graph(c, mp->graph, m->graph);
}

static enum ogq_status load_unpacked(const uint8_t *data, size_t size, const char *dir,
                                     struct ogq_model **out, struct ogq_error *err)
{
    if (size == 0)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "file is empty");
    OGQ_TRY(ogq_wire_check_depth(data, size, OGQ_WIRE_MODEL, MAX_MESSAGE_DEPTH, err));
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    if (!mp)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "not a valid ONNX model (not protobuf, truncated, or fields of the wrong type)");
    const char *bad_msg = find_field_zero(&mp->base);
    if (bad_msg) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "not a valid ONNX model: field number 0 in %s", bad_msg);
    }
    struct ogq_model *m;
    enum ogq_status st = ogq_model_new(&m, err);
    if (st != OGQ_OK) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return st;
    }
    m->proto = mp;
    struct load_ctx c = {.dir = dir, .err = err};
    st = build_model(&c, mp, m);
    if (st == OGQ_OK && dir) {
        bool ok = true;
        m->dir = dup_or_empty(dir, &ok);
        m->external_files = calloc(c.n_ext ? c.n_ext : 1, sizeof *m->external_files);
        if (!ok || !m->external_files)
            st = OGQ_NOMEM(err);
        for (size_t i = 0; st == OGQ_OK && i < c.n_ext; i++) {
            m->external_files[i] = c.ext[i].path;
            c.ext[i].path = NULL;
            m->n_external_files++;
        }
    }
    ctx_fini(&c);
    if (st != OGQ_OK) {
        ogq_model_free(m);
        return st;
    }
    *out = m;
    return OGQ_OK;
}

enum ogq_status ogq_model_load_memory(const void *data, size_t size, const char *name,
                                      const char *dir, struct ogq_model **out,
                                      struct ogq_error *err)
{
    enum ogq_status st = load_unpacked(data, size, dir, out, err);
    if (st != OGQ_OK)
        ogq_error_prefix(err, "%s", name ? name : "(memory)");
    return st;
}

/* Folder part of `path` ("." when it has none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    size_t len = (size_t)(slash - path);
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, path, len);
        d[len] = 0;
    }
    return d;
}

enum ogq_status ogq_model_load(const char *path, struct ogq_model **out, struct ogq_error *err)
{
    struct ogq_buffer *file;
    OGQ_TRY(ogq_buffer_map_file(path, &file, err));
    char *dir = dir_of(path);
    if (!dir) {
        ogq_buffer_unref(file);
        return OGQ_NOMEM(err);
    }
    enum ogq_status st = load_unpacked(file->data, file->size, dir, out, err);
    ogq_buffer_unref(file); /* protobuf-c copied what it kept */
    free(dir);
    if (st != OGQ_OK) {
        ogq_error_prefix(err, "%s", path);
        return st;
    }
    (*out)->path = strdup(path);
    if (!(*out)->path) {
        ogq_model_free(*out);
        *out = NULL;
        return OGQ_NOMEM(err);
    }
    return OGQ_OK;
}

enum ogq_status ogq_tensor_load_pb(const char *path, struct ogq_tensor **out,
                                   struct ogq_error *err)
{
    struct ogq_buffer *file;
    OGQ_TRY(ogq_buffer_map_file(path, &file, err));
    enum ogq_status st = ogq_wire_check_depth(file->data, file->size, OGQ_WIRE_TENSOR,
                                              MAX_MESSAGE_DEPTH, err);
    Onnx__TensorProto *tp = NULL;
    if (st == OGQ_OK) {
        tp = onnx__tensor_proto__unpack(NULL, file->size, file->data);
        if (!tp)
            st = ogq_error_set(err, OGQ_ERR_FORMAT, "not a valid ONNX TensorProto");
        else if (find_field_zero(&tp->base))
            st = ogq_error_set(err, OGQ_ERR_FORMAT,
                               "not a valid ONNX TensorProto: field number 0");
    }
    ogq_buffer_unref(file);
    if (st == OGQ_OK) {
        struct load_ctx c = {.err = err};
        st = decode_tensor(&c, tp, out);
        if (st == OGQ_OK)
            (*out)->src = NULL; /* the message dies here */
        ctx_fini(&c);
    }
    if (tp)
        onnx__tensor_proto__free_unpacked(tp, NULL);
    if (st != OGQ_OK)
        ogq_error_prefix(err, "%s", path);
    return st;
}
