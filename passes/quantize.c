/* quantize.c — the weight-quantization pass: targets, calibration, solving, rewrite.
 * See quantize.h for the before/after sketch and the memory bounds of the two modes. */
#include "quantize.h"
#include "quantize_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "const_fold.h"
#include "opset_upgrade.h"
#include "ogq_version.h"
#include "runtime/executor.h"
#include "runtime/linalg.h"
#include "rewrite_util.h"
#include "target.h"
#include "refine.h"
#include "util/array.h"
#include "util/json.h"

#define METADATA_KEY "onnx_gptq.quantization"

void ogq_quantize_opts_init(struct ogq_quantize_opts *o)
{
    memset(o, 0, sizeof *o);
    o->method = OGQ_METHOD_GPTQ;
    o->format = OGQ_FORMAT_QDQ;
    ogq_gptq_opts_init(&o->gptq);
    o->accuracy_level = 0; /* ORT computes in float32; 4 = int8 activations, faster */
    o->act_bits = 0;
    o->act_calib = OGQ_ACT_MINMAX;
    o->act_percentile = 99.99;
    ogq_refine_config_init(&o->refine_cfg);
}

void ogq_quant_report_fini(struct ogq_quant_report *r)
{
    for (size_t i = 0; i < r->n_layers; i++) {
        free(r->layers[i].node);
        free(r->layers[i].op);
        free(r->layers[i].weight);
        free(r->layers[i].reason);
    }
    free(r->layers);
    for (size_t i = 0; i < r->n_acts; i++)
        free(r->acts[i].tensor);
    free(r->acts);
    memset(r, 0, sizeof *r);
}

bool ogq_glob_match(const char *p, const char *t)
{
    const char *star = NULL, *resume = NULL;
    while (*t) {
        if (*p == '*') {
            star = p++;
            resume = t;
        } else if (*p == '?' || *p == *t) {
            p++;
            t++;
        } else if (star) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

double ogq_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ogq_quantize_progress(const struct ogq_quantize_opts *o, const char *phase, size_t done,
                           size_t total)
{
    if (o->progress)
        o->progress(o->progress_user, phase, done, total);
}

/* ---------------------------------------------------------------- report */

static struct ogq_layer_report *report_add(struct ogq_quant_report *r, const struct ogq_node *n,
                                           size_t index, const struct ogq_value *w)
{
    struct ogq_layer_report *grown = realloc(r->layers, (r->n_layers + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    r->layers = grown;
    struct ogq_layer_report *l = &r->layers[r->n_layers];
    memset(l, 0, sizeof *l);
    char name[512];
    if (*n->name)
        snprintf(name, sizeof name, "%s", n->name);
    else
        snprintf(name, sizeof name, "#%zu (%s)", index, n->op_type);
    l->node = strdup(name);
    l->op = strdup(n->op_type);
    l->weight = strdup(w ? w->name : "");
    if (!l->node || !l->op || !l->weight) {
        free(l->node);
        free(l->op);
        free(l->weight);
        return NULL;
    }
    r->n_layers++;
    return l;
}

static bool report_skip(struct ogq_layer_report *l, const char *fmt, long long a, long long b)
{
    char why[256];
    snprintf(why, sizeof why, fmt, a, b);
    l->reason = strdup(why);
    return l->reason != NULL;
}

/* ---------------------------------------------------------------- targets */

static bool selected(const struct ogq_quantize_opts *o, const struct ogq_node *n)
{
    bool inc = o->n_include == 0;
    for (size_t i = 0; i < o->n_include && !inc; i++)
        inc = ogq_glob_match(o->include[i], n->name) || ogq_glob_match(o->include[i], n->op_type);
    for (size_t i = 0; i < o->n_exclude && inc; i++)
        if (ogq_glob_match(o->exclude[i], n->name) || ogq_glob_match(o->exclude[i], n->op_type))
            inc = false;
    return inc;
}

/* Fills t for node n, or returns false with l->reason set (OOM: returns false, no reason). */
static bool examine(const struct ogq_model *m, const struct ogq_quantize_opts *o,
                    struct ogq_node *n, struct ogq_target *t, struct ogq_layer_report *l)
{
    memset(t, 0, sizeof *t);
    t->node = n;
    t->groups = 1;
    t->kernel_size = 1;
    if (strcmp(n->op_type, "MatMul") == 0)
        t->kind = OGQ_TARGET_MATMUL;
    else if (strcmp(n->op_type, "Gemm") == 0)
        t->kind = OGQ_TARGET_GEMM;
    else
        t->kind = OGQ_TARGET_CONV;
    struct ogq_value *w = n->n_inputs > 1 ? n->inputs[1] : NULL;
    if (!w || !ogq_value_is_constant(m, w))
        return report_skip(l, "weight is not a constant initializer", 0, 0) && false;
    if (w->n_uses > 1)
        return report_skip(l, "weight is shared by %lld nodes", (long long)w->n_uses, 0) && false;
    const struct ogq_tensor *wt = w->initializer;
    if (wt->dtype != OGQ_DTYPE_FLOAT)
        return report_skip(l, "weight is not float32", 0, 0) && false;
    t->weight = w;
    if (t->kind == OGQ_TARGET_CONV) {
        if (wt->rank < 3 || wt->rank > 5)
            return report_skip(l, "Conv weight has rank %lld (1-D to 3-D convolutions only)",
                               wt->rank, 0) && false;
        int64_t group = ogq_node_attr_int(n, "group", 1);
        if (group < 1 || wt->dims[0] % group != 0)
            return report_skip(l, "Conv group %lld does not divide %lld output channels", group,
                               wt->dims[0]) && false;
        t->groups = group;
        t->rows = wt->dims[0] / group;
        for (int i = 2; i < wt->rank; i++)
            t->kernel_size *= wt->dims[i];
        t->cols = wt->dims[1] * t->kernel_size;
    } else {
        if (wt->rank != 2)
            return report_skip(l, "weight has rank %lld (2-D weights only)", wt->rank, 0) && false;
        t->trans_a = t->kind == OGQ_TARGET_GEMM && ogq_node_attr_int(n, "transA", 0);
        t->trans_b = t->kind == OGQ_TARGET_GEMM && ogq_node_attr_int(n, "transB", 0);
        bool bt = t->kind == OGQ_TARGET_GEMM && t->trans_b;
        t->rows = bt ? wt->dims[0] : wt->dims[1];
        t->cols = bt ? wt->dims[1] : wt->dims[0];
    }
    int64_t gs = o->gptq.group_size;
    if (gs > 0 && t->kind == OGQ_TARGET_CONV) {
        /* Conv groups are blocks of whole input channels: b channels × kernel taps. */
        int64_t b = gs / t->kernel_size > 0 ? gs / t->kernel_size : 1;
        gs = b >= wt->dims[1] ? 0 : b * t->kernel_size;
    } else if (gs > 0 && t->cols < gs) {
        return report_skip(l, "K = %lld is smaller than the group size %lld", t->cols, gs) && false;
    }
    t->group_size = gs;
    l->rows = t->rows;
    l->cols = t->cols;
    l->conv_groups = t->groups;
    l->bits = o->gptq.grid.bits;
    l->group_size = gs;
    return true;
}

static enum ogq_status find_targets(struct ogq_model *m, const struct ogq_quantize_opts *o,
                                    struct ogq_target **out, size_t *n_out,
                                    struct ogq_quant_report *r, struct ogq_error *err)
{
    struct ogq_graph *g = m->graph;
    struct ogq_target *ts = calloc(g->n_nodes ? g->n_nodes : 1, sizeof *ts);
    if (!ts)
        return OGQ_NOMEM(err);
    size_t n = 0;
    size_t *eligible_report = calloc(g->n_nodes ? g->n_nodes : 1, sizeof *eligible_report);
    if (!eligible_report) {
        free(ts);
        return OGQ_NOMEM(err);
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        struct ogq_node *node = g->nodes[i];
        if (*node->domain || (strcmp(node->op_type, "MatMul") != 0 &&
                              strcmp(node->op_type, "Gemm") != 0 &&
                              strcmp(node->op_type, "Conv") != 0))
            continue;
        struct ogq_layer_report *l =
            report_add(r, node, i, node->n_inputs > 1 ? node->inputs[1] : NULL);
        if (!l)
            goto nomem;
        if (!selected(o, node)) {
            if (!report_skip(l, "excluded by --include/--exclude", 0, 0))
                goto nomem;
            continue;
        }
        if (!examine(m, o, node, &ts[n], l)) {
            if (!l->reason)
                goto nomem;
            continue;
        }
        ts[n].report = r->n_layers - 1;
        eligible_report[n] = r->n_layers - 1;
        n++;
    }
    /* --skip-first / --skip-last over the eligible targets, in topological order. */
    size_t first = o->skip_first > 0 ? (size_t)o->skip_first : 0;
    size_t last = o->skip_last > 0 ? (size_t)o->skip_last : 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (i < first || i + last >= n) {
            if (!report_skip(&r->layers[eligible_report[i]],
                             i < first ? "skipped by --skip-first" : "skipped by --skip-last", 0,
                             0))
                goto nomem;
            continue;
        }
        ts[kept++] = ts[i];
    }
    free(eligible_report);
    *out = ts;
    *n_out = kept;
    return OGQ_OK;
nomem:
    free(eligible_report);
    free(ts);
    return OGQ_NOMEM(err);
}

static void targets_free(struct ogq_target *ts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ts[i].h) {
            for (int64_t j = 0; j < ts[i].groups; j++)
                ogq_hessian_fini(&ts[i].h[j]);
            free(ts[i].h);
        }
        free(ts[i].w);
        free(ts[i].w_deq);
        ogq_qweight_fini(&ts[i].q);
    }
    free(ts);
}

/* ---------------------------------------------------------------- calibration */

struct observer_ctx {
    struct ogq_target *t;
    float *col;      /* im2col buffer (Conv) */
    size_t col_cap;
};

bool ogq_grow_floats(float **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    float *q = realloc(*p, need * sizeof *q);
    if (!q)
        return false;
    *p = q;
    *cap = need;
    return true;
}

enum ogq_status ogq_target_check_input(const struct ogq_target *t, const struct ogq_node *node,
                                       const struct ogq_rt_tensor *x, struct ogq_error *err)
{
    if (!x || x->dtype != OGQ_DTYPE_FLOAT)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                             "node '%s' (%s): input is not float32; cannot calibrate", node->name,
                             node->op_type);
    bool rows = t->kind == OGQ_TARGET_MATMUL || (t->kind == OGQ_TARGET_GEMM && !t->trans_a);
    if (rows && (x->rank < 1 || x->dims[x->rank - 1] != t->cols))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "node '%s': input's last dim is not K = %lld",
                             node->name, (long long)t->cols);
    return OGQ_OK;
}

static enum ogq_status alloc_hessians(struct ogq_target *t, struct ogq_error *err)
{
    t->h = calloc((size_t)t->groups, sizeof *t->h);
    if (!t->h)
        return OGQ_NOMEM(err);
    for (int64_t j = 0; j < t->groups; j++)
        OGQ_TRY(ogq_hessian_init(&t->h[j], t->cols, err));
    return OGQ_OK;
}

static enum ogq_status observe_input(void *user, const struct ogq_node *node,
                                     const struct ogq_rt_tensor *const *inputs, size_t n_inputs,
                                     const struct ogq_rt_tensor *const *outputs, size_t n_outputs,
                                     struct ogq_error *err)
{
    (void)n_inputs, (void)outputs, (void)n_outputs;
    struct observer_ctx *oc = user;
    struct ogq_target *t = oc->t;
    const struct ogq_rt_tensor *x = inputs[0];
    OGQ_TRY(ogq_target_check_input(t, node, x, err));
    const float *xd = x->data;
    if (t->kind == OGQ_TARGET_MATMUL || (t->kind == OGQ_TARGET_GEMM && !t->trans_a))
        return ogq_hessian_add_rows(&t->h[0], xd, x->numel / t->cols, t->cols, err);
    if (t->kind == OGQ_TARGET_GEMM) /* transA: A is [K, M], i.e. the rows transposed */
        return ogq_hessian_add_cols(&t->h[0], xd, x->dims[1], x->dims[1], err);
    /* Conv: im2col patches of each image and conv group. */
    const struct ogq_tensor *w = t->weight->initializer;
    struct ogq_conv_geom geom;
    int64_t group;
    OGQ_TRY(ogq_conv_node_geom(node, x->rank, x->dims, w->dims, &geom, &group, err));
    int64_t cin = w->dims[1], out = ogq_conv_geom_out_size(&geom), in = ogq_conv_geom_in_size(&geom);
    if (!ogq_grow_floats(&oc->col, &oc->col_cap, (size_t)(t->cols * out)))
        return OGQ_NOMEM(err);
    int64_t c_total = x->dims[1];
    for (int64_t b = 0; b < x->dims[0]; b++) {
        for (int64_t j = 0; j < t->groups; j++) {
            const float *im = xd + (b * c_total + j * cin) * in;
            ogq_im2col_f32(&geom, cin, im, oc->col);
            OGQ_TRY(ogq_hessian_add_cols(&t->h[j], oc->col, out, out, err));
        }
    }
    return OGQ_OK;
}

/* Runs every calibration batch through `e` (observers installed by the caller). */
static enum ogq_status run_calibration(struct ogq_executor *e, const struct ogq_calib_set *c,
                                       const struct ogq_quantize_opts *o, const char *phase,
                                       struct ogq_error *err)
{
    for (size_t b = 0; b < c->n_batches; b++) {
        OGQ_TRY(ogq_executor_run(e, c->batches[b], err));
        ogq_quantize_progress(o, phase, b + 1, c->n_batches);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- solving */

enum ogq_status ogq_target_merge_groups(struct ogq_target *t, struct ogq_qweight *qs,
                                        struct ogq_error *err)
{
    const int64_t rows = t->rows, cols = t->cols, total_rows = rows * t->groups;
    struct ogq_qweight *q = &t->q;
    *q = qs[0];
    memset(&qs[0], 0, sizeof qs[0]);
    free(q->prequant); /* only the solver's consumers need it */
    q->prequant = NULL;
    if (t->groups == 1)
        return OGQ_OK;
    int64_t ng = q->n_groups;
    uint8_t *codes = realloc(q->codes, (size_t)(total_rows * cols));
    if (codes)
        q->codes = codes;
    float *sc = realloc(q->scales, (size_t)(total_rows * ng) * sizeof *sc);
    if (sc)
        q->scales = sc;
    float *zr = realloc(q->zeros, (size_t)(total_rows * ng) * sizeof *zr);
    if (zr)
        q->zeros = zr;
    if (!codes || !sc || !zr)
        return OGQ_NOMEM(err);
    for (int64_t j = 1; j < t->groups; j++) {
        memcpy(q->codes + j * rows * cols, qs[j].codes, (size_t)(rows * cols));
        memcpy(q->scales + j * rows * ng, qs[j].scales, (size_t)(rows * ng) * sizeof *sc);
        memcpy(q->zeros + j * rows * ng, qs[j].zeros, (size_t)(rows * ng) * sizeof *zr);
    }
    q->rows = total_rows;
    return OGQ_OK;
}

/* Quantizes every conv group of t from its Hessians, fills t->q (merged) and the report. */
static enum ogq_status solve_target(struct ogq_target *t, const struct ogq_quantize_opts *o,
                                    struct ogq_layer_report *l, struct ogq_error *err)
{
    double t0 = ogq_now_seconds();
    struct ogq_gptq_opts go = o->gptq;
    go.group_size = t->group_size;
    if (o->format == OGQ_FORMAT_QDQ || t->kind != OGQ_TARGET_MATMUL)
        go.static_groups = true; /* blocked DequantizeLinear needs contiguous groups */
    float *w = ogq_target_solver_weights(t);
    if (!w)
        return OGQ_NOMEM(err);
    const int64_t rows = t->rows, cols = t->cols;
    float *deq = malloc((size_t)(rows * cols) * sizeof *deq);
    struct ogq_qweight *qs = calloc((size_t)t->groups, sizeof *qs);
    enum ogq_status st = deq && qs ? OGQ_OK : OGQ_NOMEM(err);
    double loss = 0.0, loss_rtn = 0.0;
    for (int64_t j = 0; st == OGQ_OK && j < t->groups; j++) {
        const float *wj = w + j * rows * cols;
        ogq_hessian_finalize(&t->h[j]);
        struct ogq_qweight rtn;
        st = ogq_rtn_quantize(wj, rows, cols, &go, &rtn, err);
        if (st != OGQ_OK)
            break;
        ogq_qweight_dequantize(&rtn, deq);
        loss_rtn += ogq_proxy_loss(wj, deq, rows, cols, t->h[j].h);
        if (o->method == OGQ_METHOD_RTN) {
            qs[j] = rtn;
        } else {
            ogq_qweight_fini(&rtn);
            st = ogq_gptq_quantize(wj, rows, cols, t->h[j].h, &go, &qs[j], err);
            if (st != OGQ_OK) {
                ogq_error_prefix(err, "node '%s' (%s)", t->node->name, t->node->op_type);
                break;
            }
        }
        ogq_qweight_dequantize(&qs[j], deq);
        loss += ogq_proxy_loss(wj, deq, rows, cols, t->h[j].h);
        if (qs[j].percdamp_used > l->percdamp)
            l->percdamp = qs[j].percdamp_used;
        if (qs[j].damp_tries > l->damp_tries)
            l->damp_tries = qs[j].damp_tries;
        l->dead_cols += qs[j].dead_cols;
        ogq_hessian_fini(&t->h[j]); /* no longer needed: free memory early */
    }
    /* Merge the conv groups into one [rows·groups, cols] result (same g_idx: contiguous). */
    if (st == OGQ_OK)
        st = ogq_target_merge_groups(t, qs, err);
    for (int64_t j = 0; qs && j < t->groups; j++)
        ogq_qweight_fini(&qs[j]);
    free(qs);
    free(deq);
    free(w);
    l->loss = loss;
    l->loss_rtn = loss_rtn;
    l->seconds = ogq_now_seconds() - t0;
    l->quantized = st == OGQ_OK;
    return st;
}

/* Dequantized weight as a runtime tensor for executor overrides (sequential mode). */
enum ogq_status ogq_target_make_override(struct ogq_target *t, struct ogq_rt_tensor *rt,
                                         struct ogq_error *err)
{
    const struct ogq_tensor *w = t->weight->initializer;
    t->w_deq = malloc(w->nbytes ? w->nbytes : 1);
    if (!t->w_deq)
        return OGQ_NOMEM(err);
    ogq_target_dequantize(t, t->w_deq);
    OGQ_TRY(ogq_rt_tensor_set_shape(rt, OGQ_DTYPE_FLOAT, w->rank, w->dims, w->name, err));
    rt->data = t->w_deq;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- metadata */

void ogq_quantize_metadata_json(struct ogq_json *jw, const struct ogq_quantize_opts *o,
                                const struct ogq_quant_report *r)
{
#define j (*jw)
    const struct ogq_gptq_opts *g = &o->gptq;
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "tool");
    ogq_json_string(&j, "onnx-gptq");
    ogq_json_key(&j, "tool_version");
    ogq_json_string(&j, OGQ_VERSION);
    ogq_json_key(&j, "method");
    ogq_json_string(&j, o->method == OGQ_METHOD_GPTQ ? "gptq" : "rtn");
    ogq_json_key(&j, "format");
    ogq_json_string(&j, o->format == OGQ_FORMAT_QDQ ? "qdq" : "matmulnbits");
    ogq_json_key(&j, "bits");
    ogq_json_int(&j, g->grid.bits);
    ogq_json_key(&j, "group_size");
    ogq_json_int(&j, g->group_size);
    ogq_json_key(&j, "symmetric");
    ogq_json_bool(&j, g->grid.sym);
    ogq_json_key(&j, "act_order");
    ogq_json_bool(&j, g->act_order);
    ogq_json_key(&j, "static_groups");
    ogq_json_bool(&j, g->static_groups || o->format == OGQ_FORMAT_QDQ);
    ogq_json_key(&j, "damp_percent");
    ogq_json_double(&j, g->percdamp);
    ogq_json_key(&j, "block_size");
    ogq_json_int(&j, g->block_size);
    ogq_json_key(&j, "mse_grid");
    ogq_json_bool(&j, g->grid.mse);
    ogq_json_key(&j, "sequential");
    ogq_json_bool(&j, o->sequential || o->refine || o->act_bits > 0);
    ogq_json_key(&j, "calibration_samples");
    ogq_json_int(&j, r->calib_samples);

    const struct ogq_gaq_config *gaq = &o->refine_cfg.gradual_activation_quantization_config;
    const bool gaq_used = o->refine && gaq->enabled;
    const double final_q =
        gaq_used ? ogq_gaq_fraction(gaq, r->refine_steps - 1, r->refine_steps) : 1.0;
    ogq_json_key(&j, "activation_quantization");
    if (o->act_bits <= 0) {
        ogq_json_null(&j);
    } else {
        ogq_json_begin_object(&j);
        ogq_json_key(&j, "bits");
        ogq_json_int(&j, o->act_bits);
        ogq_json_key(&j, "symmetric");
        ogq_json_bool(&j, o->act_sym);
        ogq_json_key(&j, "dtype");
        ogq_json_string(&j, o->act_sym ? "int8" : "uint8");
        ogq_json_key(&j, "granularity");
        ogq_json_string(&j, "per_tensor");
        ogq_json_key(&j, "calibration_method");
        ogq_json_string(&j, ogq_act_calib_method_name(o->act_calib));
        if (o->act_calib == OGQ_ACT_PERCENTILE) {
            ogq_json_key(&j, "percentile");
            ogq_json_double(&j, o->act_percentile);
        }
        ogq_json_key(&j, "outputs_quantized");
        ogq_json_bool(&j, o->act_outputs);
        ogq_json_key(&j, "tensors");
        ogq_json_begin_array(&j);
        for (size_t i = 0; i < r->n_acts; i++) {
            const struct ogq_act_report *a = &r->acts[i];
            ogq_json_begin_object(&j);
            ogq_json_key(&j, "tensor");
            ogq_json_string(&j, a->tensor);
            ogq_json_key(&j, "role");
            ogq_json_string(&j, a->is_output ? "output" : "input");
            ogq_json_key(&j, "scale");
            ogq_json_double(&j, a->qp.scale);
            ogq_json_key(&j, "zero_point");
            ogq_json_int(&j, a->qp.zero_point);
            ogq_json_key(&j, "dtype");
            ogq_json_string(&j, a->qp.sym ? "int8" : "uint8");
            ogq_json_key(&j, "range");
            ogq_json_begin_array(&j);
            ogq_json_double(&j, a->qp.lo);
            ogq_json_double(&j, a->qp.hi);
            ogq_json_end_array(&j);
            ogq_json_key(&j, "calibration_method");
            ogq_json_string(&j, ogq_act_calib_method_name(o->act_calib));
            ogq_json_key(&j, "nonfinite_values_seen");
            ogq_json_int(&j, a->nonfinite);
            ogq_json_key(&j, "gradual_activation_quantization");
            if (!gaq_used) {
                ogq_json_null(&j);
            } else {
                ogq_json_begin_object(&j);
                ogq_json_key(&j, "initial_q_fraction");
                ogq_json_double(&j, gaq->initial_q_fraction);
                ogq_json_key(&j, "target_q_fraction");
                ogq_json_double(&j, gaq->target_q_fraction);
                ogq_json_key(&j, "start_step");
                ogq_json_int(&j, gaq->start_step);
                ogq_json_key(&j, "end_step");
                ogq_json_int(&j, r->gaq_end_step);
                ogq_json_key(&j, "steps");
                ogq_json_int(&j, r->refine_steps);
                ogq_json_key(&j, "final_q");
                ogq_json_double(&j, final_q);
                ogq_json_end_object(&j);
            }
            ogq_json_key(&j, "exported_q_fraction");
            ogq_json_double(&j, 1.0);
            ogq_json_end_object(&j);
        }
        ogq_json_end_array(&j);
        ogq_json_end_object(&j);
    }
    ogq_json_key(&j, "refinement");
    if (!o->refine) {
        ogq_json_null(&j);
    } else {
        ogq_json_begin_object(&j);
        ogq_json_key(&j, "config");
        ogq_refine_config_write_json(&o->refine_cfg, &j);
        ogq_json_key(&j, "steps_per_layer");
        ogq_json_int(&j, r->refine_steps);
        size_t improved = 0, kept = 0;
        for (size_t i = 0; i < r->n_layers; i++) {
            if (!r->layers[i].quantized || !r->layers[i].refined)
                continue;
            if (r->layers[i].refine_kept_start)
                kept++;
            else
                improved++;
        }
        ogq_json_key(&j, "layers_improved");
        ogq_json_int(&j, (int64_t)improved);
        ogq_json_key(&j, "layers_kept_start");
        ogq_json_int(&j, (int64_t)kept);
        ogq_json_end_object(&j);
    }
    ogq_json_end_object(&j);
#undef j
}

static enum ogq_status record_metadata(struct ogq_model *m, const struct ogq_quantize_opts *o,
                                       const struct ogq_quant_report *r, struct ogq_error *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return OGQ_NOMEM(err);
    struct ogq_json j;
    ogq_json_init(&j, f, false);
    ogq_quantize_metadata_json(&j, o, r);
    if (fclose(f) != 0 || !text) {
        free(text);
        return OGQ_NOMEM(err);
    }
    enum ogq_status st = ogq_model_set_metadata(m, METADATA_KEY, text, err);
    free(text);
    return st;
}

static enum ogq_status report_acts(struct ogq_quant_report *r, const struct ogq_act_site *s,
                                   size_t n, struct ogq_error *err)
{
    r->acts = calloc(n ? n : 1, sizeof *r->acts);
    if (!r->acts)
        return OGQ_NOMEM(err);
    for (size_t i = 0; i < n; i++) {
        struct ogq_act_report *a = &r->acts[r->n_acts];
        a->tensor = strdup(s[i].value->name);
        if (!a->tensor)
            return OGQ_NOMEM(err);
        r->n_acts++;
        a->is_output = s[i].is_output;
        a->qp = s[i].qp;
        a->nonfinite = s[i].hist.nonfinite;
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- driver */

static enum ogq_status calibrate_one_shot(struct ogq_model *m, struct ogq_target *ts, size_t n,
                                          const struct ogq_calib_set *c,
                                          const struct ogq_quantize_opts *o,
                                          struct ogq_quant_report *r, struct ogq_error *err)
{
    struct ogq_exec_options eo = {.threads = o->threads};
    struct ogq_executor *e = NULL;
    struct observer_ctx *ocs = calloc(n ? n : 1, sizeof *ocs);
    if (!ocs)
        return OGQ_NOMEM(err);
    enum ogq_status st = ogq_executor_new(m, &eo, &e, err);
    for (size_t i = 0; st == OGQ_OK && i < n; i++) {
        ocs[i].t = &ts[i];
        st = alloc_hessians(&ts[i], err);
        if (st == OGQ_OK)
            st = ogq_executor_observe(e, ts[i].node, observe_input, &ocs[i], err);
    }
    double t0 = ogq_now_seconds();
    if (st == OGQ_OK)
        st = run_calibration(e, c, o, "calibrate", err);
    r->seconds_calibration = ogq_now_seconds() - t0;
    ogq_executor_free(e);
    for (size_t i = 0; i < n; i++)
        free(ocs[i].col);
    free(ocs);
    t0 = ogq_now_seconds();
    for (size_t i = 0; st == OGQ_OK && i < n; i++) {
        st = solve_target(&ts[i], o, &r->layers[ts[i].report], err);
        ogq_quantize_progress(o, "quantize", i + 1, n);
    }
    r->seconds_solve = ogq_now_seconds() - t0;
    return st;
}

static enum ogq_status calibrate_sequential(struct ogq_model *m, struct ogq_target *ts, size_t n,
                                            const struct ogq_calib_set *c,
                                            const struct ogq_quantize_opts *o,
                                            struct ogq_quant_report *r, struct ogq_error *err)
{
    struct ogq_exec_options eo = {.threads = o->threads};
    struct ogq_executor *e = NULL;
    struct ogq_rt_tensor *overrides = calloc(n ? n : 1, sizeof *overrides);
    if (!overrides)
        return OGQ_NOMEM(err);
    enum ogq_status st = ogq_executor_new(m, &eo, &e, err);
    for (size_t i = 0; st == OGQ_OK && i < n; i++) {
        struct observer_ctx oc = {.t = &ts[i]};
        ogq_executor_clear_observers(e);
        st = alloc_hessians(&ts[i], err);
        if (st == OGQ_OK)
            st = ogq_executor_observe(e, ts[i].node, observe_input, &oc, err);
        ogq_executor_stop_after(e, ts[i].node);
        double t0 = ogq_now_seconds();
        if (st == OGQ_OK)
            st = run_calibration(e, c, o, "calibrate", err);
        r->seconds_calibration += ogq_now_seconds() - t0;
        free(oc.col);
        t0 = ogq_now_seconds();
        if (st == OGQ_OK)
            st = solve_target(&ts[i], o, &r->layers[ts[i].report], err);
        /* Later layers see this layer's quantized weight. */
        if (st == OGQ_OK)
            st = ogq_target_make_override(&ts[i], &overrides[i], err);
        if (st == OGQ_OK)
            st = ogq_executor_override(e, ts[i].weight, &overrides[i], err);
        r->seconds_solve += ogq_now_seconds() - t0;
        ogq_quantize_progress(o, "quantize", i + 1, n);
    }
    ogq_executor_free(e);
    free(overrides);
    return st;
}

/* QDQ weights need default-domain opset 13 (per-axis) or 21 (4-bit types, blocks) and IR
 * version 10 for the 4-bit types. Older models are upgraded; a node that blocks the upgrade
 * fails the pass with a message that names it and the alternatives. */
static enum ogq_status ensure_opset(struct ogq_model *m, const struct ogq_target *ts, size_t n,
                                    const struct ogq_quantize_opts *o, struct ogq_error *err)
{
    int64_t need = 0;
    for (size_t i = 0; i < n; i++) {
        if (o->format == OGQ_FORMAT_MATMULNBITS && ts[i].kind == OGQ_TARGET_MATMUL)
            continue;
        int64_t r = ogq_qdq_required_opset(&ts[i]);
        if (r > need)
            need = r;
    }
    int64_t have = ogq_model_opset(m, "");
    if (need == 0 || have >= need) {
        if (need >= 21 && m->ir_version < 10)
            m->ir_version = 10;
        return OGQ_OK;
    }
    enum ogq_status st = ogq_opset_upgrade(m, need, err);
    if (st != OGQ_OK)
        ogq_error_prefix(err, "the QDQ weights need opset %lld (model has %lld); try "
                              "--format matmulnbits, or --bits 8 --group-size 0 (opset 13), "
                              "or --exclude the blocking node",
                         (long long)need, (long long)have);
    return st;
}

static int64_t initializer_bytes(const struct ogq_graph *g)
{
    int64_t total = 0;
    for (size_t i = 0; i < g->n_initializers; i++)
        total += (int64_t)g->initializers[i]->initializer->nbytes;
    return total;
}

enum ogq_status ogq_quantize_model(struct ogq_model *m, const struct ogq_calib_set *calib,
                                   const struct ogq_quantize_opts *opts,
                                   struct ogq_quant_report *r, struct ogq_error *err)
{
    double t_start = ogq_now_seconds();
    memset(r, 0, sizeof *r);
    if (calib->n_batches == 0 || calib->n_samples == 0)
        return ogq_error_set(err, OGQ_ERR_USAGE, "calibration data is empty");
    if (opts->format == OGQ_FORMAT_MATMULNBITS && opts->gptq.grid.bits != 4 &&
        opts->gptq.grid.bits != 8)
        return ogq_error_set(err, OGQ_ERR_USAGE, "--format matmulnbits needs --bits 4 or 8");
    if (opts->act_bits != 0 && opts->act_bits != 8)
        return ogq_error_set(err, OGQ_ERR_USAGE, "--act-bits must be 8 (got %d)", opts->act_bits);
    if (opts->act_calib == OGQ_ACT_PERCENTILE &&
        !(opts->act_percentile > 0.0 && opts->act_percentile <= 100.0))
        return ogq_error_set(err, OGQ_ERR_USAGE, "--act-percentile must be in (0, 100], got %g",
                             opts->act_percentile);
    if (opts->refine)
        OGQ_TRY(ogq_refine_config_validate(&opts->refine_cfg, err));
    r->calib_samples = calib->n_samples;
    r->weight_bytes_before = initializer_bytes(m->graph);
    r->opset_before = ogq_model_opset(m, "");
    OGQ_TRY(ogq_fold_constants(m, &r->folded_nodes, err));
    struct ogq_target *ts = NULL;
    size_t n = 0;
    OGQ_TRY(find_targets(m, opts, &ts, &n, r, err));
    struct ogq_act_site *sites = NULL;
    size_t n_sites = 0;
    enum ogq_status st;
    if (opts->refine || opts->act_bits > 0)
        st = ogq_quantize_lockstep(m, ts, n, calib, opts, r, &sites, &n_sites, err);
    else if (opts->sequential)
        st = calibrate_sequential(m, ts, n, calib, opts, r, err);
    else
        st = calibrate_one_shot(m, ts, n, calib, opts, r, err);
    if (st == OGQ_OK)
        st = ensure_opset(m, ts, n, opts, err);
    for (size_t i = 0; st == OGQ_OK && i < n; i++) {
        struct ogq_target *t = &ts[i];
        if (opts->format == OGQ_FORMAT_MATMULNBITS && t->kind == OGQ_TARGET_MATMUL)
            st = ogq_rewrite_matmulnbits(m, t, opts->accuracy_level, err);
        else
            st = ogq_rewrite_qdq(m, t, err);
        if (st == OGQ_OK) {
            r->n_quantized++;
            r->loss_total += r->layers[t->report].loss;
            r->loss_rtn_total += r->layers[t->report].loss_rtn;
        }
    }
    if (st == OGQ_OK && n_sites) {
        st = ogq_act_sites_rewrite(m->graph, sites, n_sites, err);
        if (st == OGQ_OK && opts->format == OGQ_FORMAT_QDQ)
            st = ogq_act_quantize_gemm_biases(m, ts, n, sites, n_sites, &r->int32_biases, err);
        if (st == OGQ_OK)
            st = report_acts(r, sites, n_sites, err);
    }
    targets_free(ts, n);
    ogq_act_sites_free(sites, n_sites);
    if (st == OGQ_OK) {
        ogq_graph_remove_dead(m->graph, NULL);
        st = ogq_graph_verify(m->graph, err);
    }
    if (st == OGQ_OK)
        st = record_metadata(m, opts, r, err);
    r->opset_after = ogq_model_opset(m, "");
    r->weight_bytes_after = initializer_bytes(m->graph);
    r->seconds_total = ogq_now_seconds() - t_start;
    return st;
}
