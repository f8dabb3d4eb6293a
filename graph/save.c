/* save.c — IR → ModelProto → file, atomically.
 *
 * Messages are built fresh from the IR, but each one starts as a shallow copy of the
 * message it was loaded from (when there is one), so doc strings, fields this build's
 * onnx.proto does not know (kept by protobuf-c as unknown fields), functions, training
 * info and opaque attributes (subgraphs) are written back untouched. The built messages
 * only borrow IR memory; everything allocated here is tracked and freed after packing.
 * Packing streams straight into the output file, so no second copy of the weights is
 * ever held in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/array.h"
#include "../util/atomic_file.h"
#include "graph_impl.h"
#include "model_io.h"
#include "onnx.pb-c.h"

/* protobuf refuses messages of 2 GiB and more; keep a margin for the non-tensor fields. */
#define INLINE_LIMIT ((size_t)INT32_MAX - ((size_t)64 << 20))
#define DEFAULT_MIN_EXTERNAL 1024
#define SMALL_ALIGN 64
#define PAGE_ALIGN 4096
#define PAGE_ALIGN_FROM ((size_t)1 << 20)

void ogq_save_options_init(struct ogq_save_options *o)
{
    o->external = OGQ_EXTERNAL_AUTO;
    o->min_external_bytes = DEFAULT_MIN_EXTERNAL;
    o->external_name = NULL;
}

struct save_ctx {
    void **allocs;
    size_t n_allocs, cap_allocs;
    bool external;      /* write large tensors to the side file */
    size_t min_external;
    FILE *ext;          /* side file (temporary name) */
    const char *ext_location;
    uint64_t ext_offset;
    bool failed;        /* allocation or write failure while building */
    struct ogq_error *err;
};

static void *salloc(struct save_ctx *c, size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p || !OGQ_ARRAY_PUSH(c->allocs, c->n_allocs, c->cap_allocs, p)) {
        free(p);
        if (!c->failed)
            OGQ_NOMEM(c->err);
        c->failed = true;
        return NULL;
    }
    return p;
}

static char *sprint(struct save_ctx *c, const char *fmt, unsigned long long v)
{
    char *s = salloc(c, 32);
    if (s)
        snprintf(s, 32, fmt, v);
    return s;
}

static void ctx_fini(struct save_ctx *c)
{
    for (size_t i = 0; i < c->n_allocs; i++)
        free(c->allocs[i]);
    free(c->allocs);
}

/* Non-empty string or NULL (protobuf-c omits NULL strings). */
static char *opt_str(const char *s)
{
    return s && *s ? (char *)s : NULL;
}

/* ---------------------------------------------------------------- tensors */

static bool write_external(struct save_ctx *c, const struct ogq_tensor *t, Onnx__TensorProto *tp)
{
    size_t align = t->nbytes >= PAGE_ALIGN_FROM ? PAGE_ALIGN : SMALL_ALIGN;
    uint64_t pad = (align - c->ext_offset % align) % align;
    static const char zeros[PAGE_ALIGN];
    if (pad && fwrite(zeros, 1, (size_t)pad, c->ext) != pad)
        goto io_fail;
    c->ext_offset += pad;
    if (fwrite(ogq_tensor_data(t), 1, t->nbytes, c->ext) != t->nbytes)
        goto io_fail;
    Onnx__StringStringEntryProto **kv = salloc(c, 3 * sizeof *kv);
    Onnx__StringStringEntryProto *e = salloc(c, 3 * sizeof *e);
    if (!kv || !e)
        return false;
    const char *keys[3] = {"location", "offset", "length"};
    char *vals[3] = {(char *)c->ext_location, sprint(c, "%llu", c->ext_offset),
                     sprint(c, "%llu", (unsigned long long)t->nbytes)};
    for (int i = 0; i < 3; i++) {
        onnx__string_string_entry_proto__init(&e[i]);
        e[i].key = (char *)keys[i];
        e[i].value = vals[i];
        kv[i] = &e[i];
    }
    tp->n_external_data = 3;
    tp->external_data = kv;
    tp->has_data_location = 1;
    tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    c->ext_offset += t->nbytes;
    return !c->failed;
io_fail:
    if (!c->failed)
        ogq_error_set(c->err, OGQ_ERR_IO, "cannot write external data: %s", strerror(errno));
    c->failed = true;
    return false;
}

static Onnx__TensorProto *build_tensor(struct save_ctx *c, const struct ogq_tensor *t)
{
    Onnx__TensorProto *tp = salloc(c, sizeof *tp);
    if (!tp)
        return NULL;
    if (t->src)
        *tp = *(const Onnx__TensorProto *)t->src; /* keeps unknown fields */
    else
        onnx__tensor_proto__init(tp);
    /* Every data field is rewritten below. */
    tp->n_float_data = tp->n_int32_data = tp->n_string_data = tp->n_int64_data = 0;
    tp->n_double_data = tp->n_uint64_data = tp->n_external_data = 0;
    tp->float_data = NULL, tp->int32_data = NULL, tp->string_data = NULL;
    tp->int64_data = NULL, tp->double_data = NULL, tp->uint64_data = NULL;
    tp->external_data = NULL;
    tp->has_raw_data = 0;
    tp->raw_data.len = 0, tp->raw_data.data = NULL;
    tp->has_data_location = 0;
    tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    tp->segment = NULL;
    tp->name = opt_str(t->name);
    tp->doc_string = opt_str(t->doc_string);
    tp->n_dims = (size_t)t->rank;
    tp->dims = t->dims;
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    if (t->dtype == OGQ_DTYPE_STRING) {
        tp->n_string_data = (size_t)t->numel;
        tp->string_data = salloc(c, (size_t)t->numel * sizeof *tp->string_data);
        if (!tp->string_data)
            return NULL;
        for (int64_t i = 0; i < t->numel; i++) {
            tp->string_data[i].len = t->strings[i].len;
            tp->string_data[i].data = t->strings[i].data;
        }
    } else if (c->external && t->nbytes >= c->min_external) {
        if (!write_external(c, t, tp))
            return NULL;
    } else if (t->nbytes > 0) {
        tp->has_raw_data = 1;
        tp->raw_data.len = t->nbytes;
        tp->raw_data.data = ogq_tensor_data(t);
    }
    return tp;
}

/* ---------------------------------------------------------------- types and values */

static Onnx__TypeProto *build_type(struct save_ctx *c, const struct ogq_value *v)
{
    if (!v->type_dirty && v->type_src)
        return (Onnx__TypeProto *)v->type_src;
    if (!v->has_type)
        return NULL;
    Onnx__TypeProto *tp = salloc(c, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = salloc(c, sizeof *tt);
    if (!tp || !tt)
        return NULL;
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    if (v->type.dtype != OGQ_DTYPE_UNDEFINED) {
        tt->has_elem_type = 1;
        tt->elem_type = (int32_t)v->type.dtype;
    }
    if (v->type.rank >= 0) {
        Onnx__TensorShapeProto *sp = salloc(c, sizeof *sp);
        size_t rank = (size_t)v->type.rank;
        Onnx__TensorShapeProto__Dimension **dp = salloc(c, rank * sizeof *dp);
        Onnx__TensorShapeProto__Dimension *d = salloc(c, rank * sizeof *d);
        if (!sp || !dp || !d)
            return NULL;
        onnx__tensor_shape_proto__init(sp);
        for (size_t i = 0; i < rank; i++) {
            onnx__tensor_shape_proto__dimension__init(&d[i]);
            if (v->type.dims[i].value >= 0) {
                d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d[i].dim_value = v->type.dims[i].value;
            } else if (v->type.dims[i].param) {
                d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d[i].dim_param = v->type.dims[i].param;
            }
            dp[i] = &d[i];
        }
        sp->n_dim = rank;
        sp->dim = dp;
        tt->shape = sp;
    }
    return tp;
}

static Onnx__ValueInfoProto *build_value_info(struct save_ctx *c, const struct ogq_value *v)
{
    Onnx__ValueInfoProto *vi = salloc(c, sizeof *vi);
    if (!vi)
        return NULL;
    if (v->vi_src)
        *vi = *(const Onnx__ValueInfoProto *)v->vi_src;
    else
        onnx__value_info_proto__init(vi);
    vi->name = v->name;
    vi->type = build_type(c, v);
    return c->failed ? NULL : vi;
}

static Onnx__ValueInfoProto **build_value_infos(struct save_ctx *c, struct ogq_value *const *vals,
                                                size_t n)
{
    Onnx__ValueInfoProto **arr = salloc(c, n * sizeof *arr);
    for (size_t i = 0; arr && i < n; i++)
        if (!(arr[i] = build_value_info(c, vals[i])))
            return NULL;
    return arr;
}

/* ---------------------------------------------------------------- nodes */

static Onnx__AttributeProto *build_attr(struct save_ctx *c, const struct ogq_attr *a)
{
    if (a->src && a->type != OGQ_ATTR_TENSOR)
        return (Onnx__AttributeProto *)a->src; /* unchanged since load */
    Onnx__AttributeProto *ap = salloc(c, sizeof *ap);
    if (!ap)
        return NULL;
    if (a->src)
        *ap = *(const Onnx__AttributeProto *)a->src;
    else
        onnx__attribute_proto__init(ap);
    ap->name = a->name;
    ap->has_type = 1;
    ap->type = (Onnx__AttributeProto__AttributeType)a->type;
    switch (a->type) {
    case OGQ_ATTR_FLOAT: ap->has_f = 1, ap->f = a->f; break;
    case OGQ_ATTR_INT: ap->has_i = 1, ap->i = a->i; break;
    case OGQ_ATTR_STRING:
        ap->has_s = 1, ap->s.len = a->s.len, ap->s.data = a->s.data;
        break;
    case OGQ_ATTR_TENSOR:
        if (!(ap->t = build_tensor(c, a->t)))
            return NULL;
        break;
    case OGQ_ATTR_FLOATS: ap->n_floats = a->n, ap->floats = a->floats; break;
    case OGQ_ATTR_INTS: ap->n_ints = a->n, ap->ints = a->ints; break;
    case OGQ_ATTR_STRINGS:
        ap->n_strings = a->n;
        ap->strings = salloc(c, a->n * sizeof *ap->strings);
        if (!ap->strings)
            return NULL;
        for (size_t i = 0; i < a->n; i++)
            ap->strings[i].len = a->strings[i].len, ap->strings[i].data = a->strings[i].data;
        break;
    default:
        ogq_error_set(c->err, OGQ_ERR_INTERNAL, "attribute '%s' of type %d has no source",
                      a->name, (int)a->type);
        c->failed = true;
        return NULL;
    }
    return ap;
}

static Onnx__NodeProto *build_node(struct save_ctx *c, const struct ogq_node *n)
{
    Onnx__NodeProto *np = salloc(c, sizeof *np);
    if (!np)
        return NULL;
    if (n->src)
        *np = *(const Onnx__NodeProto *)n->src;
    else
        onnx__node_proto__init(np);
    np->name = opt_str(n->name);
    np->op_type = n->op_type;
    np->domain = opt_str(n->domain);
    np->n_input = n->n_inputs;
    np->input = salloc(c, n->n_inputs * sizeof *np->input);
    np->n_output = n->n_outputs;
    np->output = salloc(c, n->n_outputs * sizeof *np->output);
    np->n_attribute = n->n_attrs;
    np->attribute = salloc(c, n->n_attrs * sizeof *np->attribute);
    if (!np->input || !np->output || !np->attribute)
        return NULL;
    for (size_t i = 0; i < n->n_inputs; i++)
        np->input[i] = n->inputs[i] ? n->inputs[i]->name : "";
    for (size_t i = 0; i < n->n_outputs; i++)
        np->output[i] = n->outputs[i] ? n->outputs[i]->name : "";
    for (size_t i = 0; i < n->n_attrs; i++)
        if (!(np->attribute[i] = build_attr(c, &n->attrs[i])))
            return NULL;
    return np;
}

static Onnx__GraphProto *build_graph(struct save_ctx *c, const struct ogq_graph *g)
{
    Onnx__GraphProto *gp = salloc(c, sizeof *gp);
    if (!gp)
        return NULL;
    if (g->src)
        *gp = *(const Onnx__GraphProto *)g->src; /* sparse initializers, annotations, docs */
    else
        onnx__graph_proto__init(gp);
    gp->name = opt_str(g->name);
    gp->n_node = g->n_nodes;
    gp->node = salloc(c, g->n_nodes * sizeof *gp->node);
    for (size_t i = 0; gp->node && i < g->n_nodes; i++)
        if (!(gp->node[i] = build_node(c, g->nodes[i])))
            return NULL;
    gp->n_initializer = g->n_initializers;
    gp->initializer = salloc(c, g->n_initializers * sizeof *gp->initializer);
    for (size_t i = 0; gp->initializer && i < g->n_initializers; i++)
        if (!(gp->initializer[i] = build_tensor(c, g->initializers[i]->initializer)))
            return NULL;
    gp->n_input = g->n_inputs;
    gp->input = build_value_infos(c, g->inputs, g->n_inputs);
    gp->n_output = g->n_outputs;
    gp->output = build_value_infos(c, g->outputs, g->n_outputs);
    gp->n_value_info = g->n_value_infos;
    gp->value_info = build_value_infos(c, g->value_infos, g->n_value_infos);
    return c->failed ? NULL : gp;
}

static Onnx__ModelProto *build_model(struct save_ctx *c, const struct ogq_model *m)
{
    Onnx__ModelProto *mp = salloc(c, sizeof *mp);
    if (!mp)
        return NULL;
    if (m->proto)
        *mp = *(const Onnx__ModelProto *)m->proto; /* functions, training info, docs */
    else
        onnx__model_proto__init(mp);
    /* 0 means the loaded file had none (the loader refuses an explicit value below 1). */
    mp->has_ir_version = m->ir_version != 0;
    mp->ir_version = m->ir_version;
    mp->producer_name = opt_str(m->producer_name);
    mp->producer_version = opt_str(m->producer_version);
    mp->n_opset_import = m->n_opsets;
    mp->opset_import = salloc(c, m->n_opsets * sizeof *mp->opset_import);
    Onnx__OperatorSetIdProto *ops = salloc(c, m->n_opsets * sizeof *ops);
    mp->n_metadata_props = m->n_metadata;
    mp->metadata_props = salloc(c, m->n_metadata * sizeof *mp->metadata_props);
    Onnx__StringStringEntryProto *kvs = salloc(c, m->n_metadata * sizeof *kvs);
    if (!mp->opset_import || !ops || !mp->metadata_props || !kvs)
        return NULL;
    const Onnx__ModelProto *src = m->proto;
    for (size_t i = 0; i < m->n_opsets; i++) {
        /* Start from the loaded entry for the same domain at the same position, so an
         * omitted domain stays omitted (and unknown fields survive). */
        const Onnx__OperatorSetIdProto *old = src && i < src->n_opset_import ? src->opset_import[i] : NULL;
        bool same = old && strcmp(old->domain ? old->domain : "", m->opsets[i].domain) == 0;
        if (same) {
            ops[i] = *old;
        } else {
            onnx__operator_set_id_proto__init(&ops[i]);
            ops[i].domain = m->opsets[i].domain;
        }
        ops[i].has_version = !(same && !old->has_version && m->opsets[i].version == 0);
        ops[i].version = m->opsets[i].version;
        mp->opset_import[i] = &ops[i];
    }
    for (size_t i = 0; i < m->n_metadata; i++) {
        const Onnx__StringStringEntryProto *old =
            src && i < src->n_metadata_props ? src->metadata_props[i] : NULL;
        if (old && strcmp(old->key ? old->key : "", m->metadata[i].key) == 0 &&
            strcmp(old->value ? old->value : "", m->metadata[i].value) == 0) {
            kvs[i] = *old; /* unchanged: keep it exactly (presence, unknown fields) */
        } else {
            onnx__string_string_entry_proto__init(&kvs[i]);
            kvs[i].key = m->metadata[i].key;
            kvs[i].value = m->metadata[i].value;
        }
        mp->metadata_props[i] = &kvs[i];
    }
    mp->graph = build_graph(c, m->graph);
    return c->failed ? NULL : mp;
}

/* ---------------------------------------------------------------- files */

struct file_sink {
    ProtobufCBuffer base;
    FILE *f;
    bool failed;
};

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    struct file_sink *s = (struct file_sink *)b;
    if (!s->failed && len && fwrite(data, 1, len, s->f) != len)
        s->failed = true;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Fails if writing `target` would clobber the input model or data it reads. */
static enum ogq_status check_target(const struct ogq_model *m, const char *target,
                                    struct ogq_error *err)
{
    struct stat st;
    if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
        return ogq_error_set(err, OGQ_ERR_USAGE, "%s: is a directory", target);
    if (m->path && same_file(m->path, target))
        return ogq_error_set(err, OGQ_ERR_USAGE, "%s: refusing to overwrite the input model",
                             target);
    for (size_t i = 0; i < m->n_external_files; i++)
        if (same_file(m->external_files[i], target))
            return ogq_error_set(err, OGQ_ERR_USAGE,
                                 "%s: refusing to overwrite external data the input model reads",
                                 target);
    return OGQ_OK;
}

static size_t model_tensor_bytes(const struct ogq_model *m)
{
    size_t total = 0;
    const struct ogq_graph *g = m->graph;
    for (size_t i = 0; i < g->n_initializers; i++)
        total += g->initializers[i]->initializer->nbytes;
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t a = 0; a < g->nodes[i]->n_attrs; a++)
            if (g->nodes[i]->attrs[a].t)
                total += g->nodes[i]->attrs[a].t->nbytes;
    return total;
}

/* Builds and writes the model, with or without a side file. */
static enum ogq_status write_model(const struct ogq_model *m, const char *path,
                                   const char *ext_path, const char *ext_location,
                                   bool external, size_t min_external, bool allow_oversize,
                                   bool *oversize, struct ogq_error *err)
{
    struct save_ctx c = {.external = external, .min_external = min_external, .err = err,
                         .ext_location = ext_location};
    char *tmp_model = NULL, *tmp_ext = NULL;
    FILE *mf = NULL;
    enum ogq_status st = OGQ_OK;
    *oversize = false;
    if (external && !(c.ext = ogq_temp_open(ext_path, &tmp_ext, err))) {
        st = err->code;
        goto out;
    }
    Onnx__ModelProto *mp = build_model(&c, m);
    if (!mp) {
        st = err->code ? err->code : OGQ_ERR_INTERNAL;
        goto out;
    }
    size_t packed = protobuf_c_message_get_packed_size(&mp->base);
    if (packed > (size_t)INT32_MAX) {
        *oversize = true;
        if (!allow_oversize) {
            st = ogq_error_set(err, OGQ_ERR_USAGE,
                               "%s: model would be %zu bytes, over protobuf's 2 GiB limit; use external data",
                               path, packed);
            goto out;
        }
    }
    if (!(mf = ogq_temp_open(path, &tmp_model, err))) {
        st = err->code;
        goto out;
    }
    struct file_sink sink = {.base = {.append = sink_append}, .f = mf};
    protobuf_c_message_pack_to_buffer(&mp->base, &sink.base);
    if (sink.failed) {
        st = ogq_error_set(err, OGQ_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    /* The side file goes into place first: the model never names data that is not there. */
    if (c.ext) {
        st = ogq_temp_commit(c.ext, tmp_ext, ext_path, true, err);
        c.ext = NULL;
        tmp_ext = NULL;
        if (st != OGQ_OK)
            goto out;
    }
    st = ogq_temp_commit(mf, tmp_model, path, true, err);
    mf = NULL;
    tmp_model = NULL;
out:
    ogq_temp_discard(mf, tmp_model);
    ogq_temp_discard(c.ext, tmp_ext);
    ctx_fini(&c);
    return st;
}

enum ogq_status ogq_model_save(const struct ogq_model *m, const char *path,
                               const struct ogq_save_options *opts, struct ogq_error *err)
{
    struct ogq_error local_err;
    if (!err) /* the code below reads err->code after failures */
        err = &local_err;
    ogq_error_clear(err);
    struct ogq_save_options defaults;
    if (!opts) {
        ogq_save_options_init(&defaults);
        opts = &defaults;
    }
    size_t min_external = opts->min_external_bytes ? opts->min_external_bytes : DEFAULT_MIN_EXTERNAL;
    OGQ_TRY(check_target(m, path, err));

    /* Side file: "<output>.data" beside the output unless named. */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path + 1) : 0;
    char location[PATH_MAX];
    if (opts->external_name) {
        if (!*opts->external_name || strchr(opts->external_name, '/'))
            return ogq_error_set(err, OGQ_ERR_USAGE,
                                 "external data name '%s' must be a plain file name",
                                 opts->external_name);
        snprintf(location, sizeof location, "%s", opts->external_name);
    } else {
        snprintf(location, sizeof location, "%s.data", base);
    }
    char ext_path[PATH_MAX];
    if ((size_t)snprintf(ext_path, sizeof ext_path, "%.*s%s", (int)dlen, path, location) >=
        sizeof ext_path)
        return ogq_error_set(err, OGQ_ERR_USAGE, "%s: path too long", path);

    bool external = opts->external == OGQ_EXTERNAL_ALWAYS ||
                    (opts->external == OGQ_EXTERNAL_AUTO && model_tensor_bytes(m) > INLINE_LIMIT);
    if (external)
        OGQ_TRY(check_target(m, ext_path, err));
    bool oversize;
    enum ogq_status st = write_model(m, path, ext_path, location, external, min_external,
                                     false, &oversize, err);
    if (st != OGQ_OK && oversize && !external && opts->external == OGQ_EXTERNAL_AUTO) {
        ogq_error_clear(err);
        OGQ_TRY(check_target(m, ext_path, err));
        st = write_model(m, path, ext_path, location, true, min_external, false, &oversize, err);
    }
    return st;
}

enum ogq_status ogq_tensor_save_pb(const struct ogq_tensor *t, const char *path,
                                   struct ogq_error *err)
{
    struct ogq_error local_err;
    if (!err)
        err = &local_err;
    ogq_error_clear(err);
    struct save_ctx c = {.err = err};
    Onnx__TensorProto *tp = build_tensor(&c, t);
    enum ogq_status st = OGQ_OK;
    char *tmp = NULL;
    FILE *f = NULL;
    if (!tp) {
        st = err->code ? err->code : OGQ_ERR_INTERNAL;
    } else if (!(f = ogq_temp_open(path, &tmp, err))) {
        st = err->code;
    } else {
        struct file_sink sink = {.base = {.append = sink_append}, .f = f};
        protobuf_c_message_pack_to_buffer(&tp->base, &sink.base);
        st = ogq_temp_commit(f, tmp, path, !sink.failed, err);
    }
    ctx_fini(&c);
    return st;
}
