/* quantize_lockstep.c — the pass's lockstep mode: activation quantization and refinement.
 *
 * Two executors share the (placeholder-augmented) graph:
 *   teacher  the float model as given;
 *   student  earlier layers' quantized weights (and refined biases) as overrides, and
 *            fake quantization of every activation site whose quantized consumers are all
 *            solved (executor transforms on the placeholders' outputs).
 * Layers are solved one at a time in topological order. For layer l both executors run
 * every calibration batch up to l; an observer keeps the teacher's input x, and the
 * student's observer adds the rows of (a, d = Q(a) − a, x) to the layer's moments (see
 * layer_moments.h), weighted per sample by the Hessian scores when per_sample is set.
 * From the moments alone:
 *   - GPTQ/RTN start from H = 2·E[x̃ x̃ᵀ] at q = 1 (the input the deployed layer sees);
 *   - refinement minimises the Hessian-weighted E‖Ŵx̃ + b̂ − (Wx + b)‖² with the student
 *     input annealed x̃ = a + q·d (gradual activation quantization);
 *   - the report's losses are that loss at q = 1 for RTN, the start and the result.
 * Why layer-wise and not MCT's network-wise training: the loss at each compare point is
 * then exact and full-batch from k×k statistics (no stored activations, deterministic),
 * every layer is trained on the inputs the final upstream layers really produce (so it
 * corrects upstream error, which MCT gets only through joint training), and the memory is
 * one layer's moments. What it gives up is the gradient of later compare points with
 * respect to earlier layers; the Hessian scores restore the cross-layer weighting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "const_fold.h"
#include "hessian_scores.h"
#include "layer_moments.h"
#include "quantize_internal.h"
#include "refine.h"
#include "runtime/executor.h"
#include "runtime/linalg.h"

/* ---------------------------------------------------------------- biases */

/* The layer's bias, if it is a constant float vector only this layer reads:
 * Conv B [M]; Gemm C [N] or [1, N] (alpha = beta = 1); MatMul followed by Add(const [N]). */
static struct ogq_value *find_bias(const struct ogq_model *m, const struct ogq_target *t)
{
    const struct ogq_node *n = t->node;
    const int64_t outs = t->rows * t->groups;
    struct ogq_value *b = NULL;
    if (t->kind == OGQ_TARGET_CONV || t->kind == OGQ_TARGET_GEMM) {
        b = n->n_inputs > 2 ? n->inputs[2] : NULL;
        if (t->kind == OGQ_TARGET_GEMM && (ogq_node_attr_float(n, "alpha", 1.0f) != 1.0f ||
                                           ogq_node_attr_float(n, "beta", 1.0f) != 1.0f))
            return NULL;
    } else {
        struct ogq_value *y = n->n_outputs ? n->outputs[0] : NULL;
        if (!y || y->n_uses != 1 || y->is_graph_output)
            return NULL;
        const struct ogq_node *add = y->uses[0].node;
        if (strcmp(add->op_type, "Add") != 0 || *add->domain || add->n_inputs != 2 ||
            y->uses[0].input < 0)
            return NULL;
        b = add->inputs[1 - y->uses[0].input];
    }
    /* A bias also declared as a graph input (IR < 4 exports) is a constant like the
     * weights; refining it changes the input's default value. */
    if (!b || !ogq_value_is_constant(m, b) || b->n_uses != 1)
        return NULL;
    const struct ogq_tensor *bt = b->initializer;
    if (!bt || bt->dtype != OGQ_DTYPE_FLOAT || bt->numel != outs)
        return NULL;
    if (bt->rank != 1 && !(bt->rank == 2 && bt->dims[0] == 1))
        return NULL;
    return b;
}

/* ---------------------------------------------------------------- observers */

struct layer_ctx {
    struct ogq_target *t;
    const struct ogq_act_site *site; /* quantizer of the layer's input, or NULL */
    bool fold_site;                  /* no GAQ: moments of Q(a) instead of (a, Q(a) − a) */
    struct ogq_layer_moments *mom;   /* [groups], every calibration row */
    struct ogq_layer_moments *val;   /* [groups], the validation rows again, or NULL */
    bool in_val;                     /* the current batch is a validation batch */
    const double *sample_w;          /* [n_samples] per-sample weights, or NULL */
    int64_t sample0, batch_samples;  /* current batch */
    float *x;                        /* teacher input of the current batch */
    int64_t x_numel;
    size_t x_cap;
    float *d;                        /* activation delta of the current batch */
    size_t d_cap;
    float *col;                      /* im2col of a, d, x (Conv) */
    size_t col_cap;
};

static enum ogq_status teacher_observe(void *user, const struct ogq_node *node,
                                       const struct ogq_rt_tensor *const *in, size_t n_in,
                                       const struct ogq_rt_tensor *const *out, size_t n_out,
                                       struct ogq_error *err)
{
    (void)n_in, (void)out, (void)n_out;
    struct layer_ctx *lc = user;
    const struct ogq_rt_tensor *x = in[0];
    OGQ_TRY(ogq_target_check_input(lc->t, node, x, err));
    if (!ogq_grow_floats(&lc->x, &lc->x_cap, (size_t)x->numel))
        return OGQ_NOMEM(err);
    memcpy(lc->x, x->data, (size_t)x->numel * sizeof *lc->x);
    lc->x_numel = x->numel;
    return OGQ_OK;
}

static double sample_weight(const struct layer_ctx *lc, int64_t s)
{
    return lc->sample_w ? lc->sample_w[lc->sample0 + s] : 1.0;
}

static enum ogq_status add_student_rows(struct layer_ctx *lc, const struct ogq_node *node,
                                        const struct ogq_rt_tensor *a, const float *ad,
                                        const float *dd, struct ogq_error *err);

static enum ogq_status student_observe(void *user, const struct ogq_node *node,
                                       const struct ogq_rt_tensor *const *in, size_t n_in,
                                       const struct ogq_rt_tensor *const *out, size_t n_out,
                                       struct ogq_error *err)
{
    (void)n_in, (void)out, (void)n_out;
    struct layer_ctx *lc = user;
    const struct ogq_rt_tensor *a = in[0];
    if (!a || a->dtype != OGQ_DTYPE_FLOAT || a->numel != lc->x_numel)
        return ogq_error_set(err, OGQ_ERR_INTERNAL,
                             "node '%s': student and teacher inputs differ in shape", node->name);
    const float *ad = a->data;
    const float *dd = NULL;
    if (lc->site) {
        if (!ogq_grow_floats(&lc->d, &lc->d_cap, (size_t)a->numel))
            return OGQ_NOMEM(err);
        if (lc->fold_site) { /* only q = 1 matters: the quantized input itself */
            ogq_act_fake_quant(&lc->site->qp, ad, lc->d, a->numel);
            ad = lc->d;
        } else {
            ogq_act_quant_delta(&lc->site->qp, ad, lc->d, a->numel);
            dd = lc->d;
        }
    }
    return add_student_rows(lc, node, a, ad, dd, err);
}

/* Rows (or transposed rows) of conv group j into the layer's moments, and again into the
 * validation moments during a validation batch. */
static enum ogq_status add_rows(struct layer_ctx *lc, int64_t j, bool transposed,
                                const float *a, const float *d, const float *x, int64_t n,
                                int64_t ld, double w, struct ogq_error *err)
{
    for (int pass = 0; pass < (lc->in_val ? 2 : 1); pass++) {
        struct ogq_layer_moments *m = pass ? &lc->val[j] : &lc->mom[j];
        OGQ_TRY(transposed ? ogq_moments_add_cols(m, a, d, x, n, ld, w, err)
                           : ogq_moments_add_rows(m, a, d, x, n, ld, w, err));
    }
    return OGQ_OK;
}

/* Adds one batch's rows of (a, d, x) to the layer's moments. */
static enum ogq_status add_student_rows(struct layer_ctx *lc, const struct ogq_node *node,
                                        const struct ogq_rt_tensor *a, const float *ad,
                                        const float *dd, struct ogq_error *err)
{
    const struct ogq_target *t = lc->t;
    const float *xd = lc->x;
    const int64_t bs = lc->batch_samples;
    if (t->kind == OGQ_TARGET_MATMUL || (t->kind == OGQ_TARGET_GEMM && !t->trans_a)) {
        const int64_t k = t->cols; /* checked on the teacher's (same-shaped) input */
        const int64_t rows = a->numel / k;
        const int64_t per = bs > 0 && rows % bs == 0 ? rows / bs : 0;
        if (!lc->sample_w || per == 0)
            return add_rows(lc, 0, false, ad, dd, xd, rows, k, 1.0, err);
        for (int64_t s = 0; s < bs; s++) {
            int64_t off = s * per * k;
            OGQ_TRY(add_rows(lc, 0, false, ad + off, dd ? dd + off : NULL, xd + off, per, k,
                             sample_weight(lc, s), err));
        }
        return OGQ_OK;
    }
    if (t->kind == OGQ_TARGET_GEMM) { /* transA: A is [K, M], one row per column */
        const int64_t mcols = a->dims[1];
        const int64_t per = bs > 0 && mcols % bs == 0 ? mcols / bs : 0;
        if (!lc->sample_w || per == 0)
            return add_rows(lc, 0, true, ad, dd, xd, mcols, mcols, 1.0, err);
        for (int64_t s = 0; s < bs; s++) {
            int64_t off = s * per;
            OGQ_TRY(add_rows(lc, 0, true, ad + off, dd ? dd + off : NULL, xd + off, per, mcols,
                             sample_weight(lc, s), err));
        }
        return OGQ_OK;
    }
    /* Conv: im2col patches of each image and conv group, for a, d and x alike. */
    const struct ogq_tensor *w = t->weight->initializer;
    struct ogq_conv_geom geom;
    int64_t group;
    OGQ_TRY(ogq_conv_node_geom(node, a->rank, a->dims, w->dims, &geom, &group, err));
    const int64_t cin = w->dims[1], outsz = ogq_conv_geom_out_size(&geom);
    const int64_t insz = ogq_conv_geom_in_size(&geom), patch = t->cols * outsz;
    if (!ogq_grow_floats(&lc->col, &lc->col_cap, (size_t)(3 * patch)))
        return OGQ_NOMEM(err);
    float *ca = lc->col, *cd = lc->col + patch, *cx = lc->col + 2 * patch;
    const int64_t c_total = a->dims[1];
    for (int64_t b = 0; b < a->dims[0]; b++) {
        double wb = a->dims[0] == bs ? sample_weight(lc, b) : 1.0;
        for (int64_t j = 0; j < t->groups; j++) {
            int64_t off = (b * c_total + j * cin) * insz;
            ogq_im2col_f32(&geom, cin, ad + off, ca);
            ogq_im2col_f32(&geom, cin, xd + off, cx);
            if (dd)
                ogq_im2col_f32(&geom, cin, dd + off, cd);
            OGQ_TRY(add_rows(lc, j, true, ca, dd ? cd : NULL, cx, outsz, outsz, wb, err));
        }
    }
    return OGQ_OK;
}

static enum ogq_status hist_observe(void *user, const struct ogq_node *node,
                                    const struct ogq_rt_tensor *const *in, size_t n_in,
                                    const struct ogq_rt_tensor *const *out, size_t n_out,
                                    struct ogq_error *err)
{
    (void)n_in, (void)out, (void)n_out;
    struct ogq_act_site *s = user;
    const struct ogq_rt_tensor *x = in[0];
    if (!x || x->dtype != OGQ_DTYPE_FLOAT)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                             "activation '%s' (into node '%s') is not float32; cannot quantize it",
                             s->value->name, node->name);
    ogq_act_hist_add(&s->hist, x->data, x->numel);
    return OGQ_OK;
}

static enum ogq_status fake_quant(void *user, const struct ogq_value *v, struct ogq_rt_tensor *t,
                                  struct ogq_error *err)
{
    (void)v, (void)err;
    const struct ogq_act_site *s = user;
    ogq_act_fake_quant(&s->qp, t->data, t->data, t->numel);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- phases */

static int64_t batch_samples(const struct ogq_calib_set *c, size_t b)
{
    const struct ogq_tensor *x = c->n_inputs ? c->batches[b][0] : NULL;
    return x && x->rank > 0 ? x->dims[0] : 1;
}

static enum ogq_status calibrate_activations(struct ogq_model *m, struct ogq_act_site *sites,
                                             size_t ns, const struct ogq_calib_set *c,
                                             const struct ogq_quantize_opts *o,
                                             struct ogq_quant_report *r, struct ogq_error *err)
{
    double t0 = ogq_now_seconds();
    struct ogq_exec_options eo = {.threads = o->threads};
    struct ogq_executor *e = NULL;
    OGQ_TRY(ogq_executor_new(m, &eo, &e, err));
    enum ogq_status st = OGQ_OK;
    for (size_t i = 0; st == OGQ_OK && i < ns; i++)
        st = ogq_executor_observe(e, sites[i].identity, hist_observe, &sites[i], err);
    for (size_t b = 0; st == OGQ_OK && b < c->n_batches; b++) {
        st = ogq_executor_run(e, c->batches[b], err);
        ogq_quantize_progress(o, "activation ranges", b + 1, c->n_batches);
    }
    ogq_executor_free(e);
    for (size_t i = 0; st == OGQ_OK && i < ns; i++) {
        st = ogq_act_calibrate(&sites[i].hist, o->act_calib, o->act_percentile, o->act_bits,
                               o->act_sym, &sites[i].qp, err);
        if (st != OGQ_OK)
            ogq_error_prefix(err, "activation '%s'", sites[i].value->name);
    }
    r->seconds_act_calibration = ogq_now_seconds() - t0;
    return st;
}

/* Layer weights [n] (per layer) or sample weights [n][samples] (per_sample). */
static enum ogq_status hessian_weights(const struct ogq_model *m, const struct ogq_target *ts,
                                       size_t n, const struct ogq_calib_set *c,
                                       const struct ogq_quantize_opts *o, double *layer_w,
                                       double **sample_w, struct ogq_quant_report *r,
                                       struct ogq_error *err)
{
    const struct ogq_refine_config *cfg = &o->refine_cfg;
    const struct ogq_hessian_weights_config *h = &cfg->hessian_weights_config;
    for (size_t i = 0; i < n; i++)
        layer_w[i] = 1.0;
    *sample_w = NULL;
    if (!o->refine || !cfg->use_hessian_based_weights || n == 0)
        return OGQ_OK;
    double t0 = ogq_now_seconds();
    const struct ogq_value **vals = calloc(n, sizeof *vals);
    if (!vals)
        return OGQ_NOMEM(err);
    for (size_t i = 0; i < n; i++)
        vals[i] = ts[i].node->outputs[0];
    struct ogq_hessian_scores_opts ho;
    ogq_hessian_scores_opts_init(&ho);
    ho.num_samples = h->per_sample ? 0 : h->hessians_num_samples;
    ho.num_probes = h->num_probes;
    ho.seed = cfg->seed;
    ho.threads = o->threads;
    ho.progress = o->progress;
    ho.progress_user = o->progress_user;
    double *scores = NULL;
    int64_t ns = 0;
    enum ogq_status st = ogq_hessian_scores_compute(m, vals, n, c, &ho, &scores, &ns, err);
    free(vals);
    if (st != OGQ_OK)
        return st;
    if (h->per_sample) {
        if (ns != c->n_samples) {
            free(scores);
            return ogq_error_set(err, OGQ_ERR_INTERNAL, "Hessian scores cover %lld of %lld samples",
                                 (long long)ns, (long long)c->n_samples);
        }
        *sample_w = malloc(n * (size_t)ns * sizeof **sample_w);
        if (!*sample_w) {
            free(scores);
            return OGQ_NOMEM(err);
        }
        ogq_hessian_sample_weights(scores, n, ns, *sample_w);
    } else {
        ogq_hessian_layer_weights(scores, n, ns, h->norm_scores, h->log_norm, h->scale_log_norm,
                                  layer_w);
        /* Each layer is trained on its own, so a weight only sets the balance of that
         * layer's loss against its rounding regulariser. MCT's weights are relative to the
         * least sensitive layer (log_norm makes its weight 0, which in a joint loss still
         * leaves it the gradients of later compare points, but here would switch its
         * refinement off): use 1 + weight, scaled to mean 1 across layers. */
        double mean = 0.0;
        for (size_t i = 0; i < n; i++)
            mean += 1.0 + layer_w[i];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++)
            layer_w[i] = (1.0 + layer_w[i]) / mean;
    }
    free(scores);
    r->seconds_hessian_scores = ogq_now_seconds() - t0;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- one layer */

/* Least-squares bias for fixed weights Ŵ: b* = b + E[W x] − E[Ŵ x̃] (q = 1), which zeroes
 * the mean of the layer's output error. Refinement's rounding trades squared error for a
 * systematic shift when it can, and averaging layers downstream (pooling, attention sums)
 * keep exactly that shift while they average random error away; this removes it. The
 * means come from the augmented moments' last row (the constant-1 coordinate). */
static void optimal_bias(const struct ogq_layer_moments *mo, const float *w, const float *b,
                         const float *wq, int64_t rows, float *out)
{
    const int64_t k = mo->k, ka = mo->ka;
    for (int64_t r = 0; r < rows; r++) {
        double shift = 0.0;
        for (int64_t j = 0; j < k; j++) {
            double mx = mo->xx[k * ka + j], mt = mo->aa[k * ka + j];
            if (mo->has_delta)
                mt += mo->ad[k * ka + j]; /* Σ (a dᵀ + d aᵀ) row k = Σ d (a_k = 1, d_k = 0) */
            shift += (double)w[r * k + j] * mx - (double)wq[r * k + j] * mt;
        }
        out[r] = (float)((double)b[r] + shift / mo->weight);
    }
}

struct solved_bias {
    struct ogq_value *value;
    float *data; /* refined, initializer layout; owned */
    struct ogq_rt_tensor rt;
};

/* Refinement holds out every fifth calibration batch (when there are at least five):
 * the rounding is trained on the others, and a refined layer is kept only if it is also
 * better on the held-out rows, so a small calibration set is not simply memorised. */
static bool is_validation_batch(size_t b, size_t n_batches)
{
    return n_batches >= 5 && b % 5 == 4;
}

/* m += alpha · other (same shape): moves rows between the full and the training set. */
static void moments_axpy(struct ogq_layer_moments *m, const struct ogq_layer_moments *other,
                         double alpha)
{
    const int64_t n = m->ka * m->ka;
    double *dst[6] = {m->aa, m->ad, m->dd, m->ax, m->dx, m->xx};
    double *const src[6] = {other->aa, other->ad, other->dd, other->ax, other->dx, other->xx};
    for (int i = 0; i < 6; i++)
        if (dst[i] && src[i])
            for (int64_t e = 0; e < n; e++)
                dst[i][e] += alpha * src[i][e];
    m->weight += alpha * other->weight;
}

/* Runs every calibration batch through both executors up to the layer (observers
 * installed), filling lc->mom. */
static enum ogq_status collect_moments(struct ogq_executor *te, struct ogq_executor *se,
                                       struct layer_ctx *lc, const struct ogq_calib_set *c,
                                       struct ogq_error *err)
{
    struct ogq_node *node = lc->t->node;
    ogq_executor_clear_observers(te);
    ogq_executor_clear_observers(se);
    OGQ_TRY(ogq_executor_observe(te, node, teacher_observe, lc, err));
    OGQ_TRY(ogq_executor_observe(se, node, student_observe, lc, err));
    ogq_executor_stop_after(te, node);
    ogq_executor_stop_after(se, node);
    lc->sample0 = 0;
    for (size_t b = 0; b < c->n_batches; b++) {
        lc->batch_samples = batch_samples(c, b);
        lc->x_numel = -1;
        lc->in_val = lc->val && is_validation_batch(b, c->n_batches);
        OGQ_TRY(ogq_executor_run(te, c->batches[b], err));
        OGQ_TRY(ogq_executor_run(se, c->batches[b], err));
        lc->sample0 += lc->batch_samples;
    }
    return OGQ_OK;
}

/* H = 2·E[x̃ x̃ᵀ] at q = 1 (top-left k×k of the moments) for GPTQ. */
static double *gptq_hessian(const struct ogq_layer_moments *mo)
{
    const int64_t k = mo->k, ka = mo->ka;
    double *h = malloc((size_t)(k * k) * sizeof *h);
    if (!h)
        return NULL;
    const double s = mo->weight > 0.0 ? 2.0 / mo->weight : 0.0;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < k; j++) {
            double v = mo->aa[i * ka + j];
            if (mo->has_delta)
                v += mo->ad[i * ka + j] + mo->dd[i * ka + j];
            h[i * k + j] = s * v;
        }
    return h;
}

static enum ogq_status solve_layer(struct ogq_target *t, struct layer_ctx *lc, const float *bias,
                                   float *bias_out, const struct ogq_quantize_opts *o,
                                   double layer_weight, int64_t steps, struct ogq_layer_report *l,
                                   struct ogq_error *err)
{
    const int64_t rows = t->rows, cols = t->cols;
    struct ogq_gptq_opts go = o->gptq;
    go.group_size = t->group_size;
    if (o->format == OGQ_FORMAT_QDQ || t->kind != OGQ_TARGET_MATMUL)
        go.static_groups = true; /* blocked DequantizeLinear needs contiguous groups */
    go.keep_prequant = o->refine;
    float *w = ogq_target_solver_weights(t);
    float *deq = malloc((size_t)(rows * cols) * sizeof *deq);
    struct ogq_qweight *qs = calloc((size_t)t->groups, sizeof *qs);
    enum ogq_status st = w && deq && qs ? OGQ_OK : OGQ_NOMEM(err);
    double loss_rtn = 0.0, loss_start = 0.0, loss = 0.0;
    for (int64_t j = 0; st == OGQ_OK && j < t->groups; j++) {
        const float *wj = w + j * rows * cols;
        const float *bj = bias ? bias + j * rows : NULL;
        struct ogq_layer_moments *mo = &lc->mom[j];
        if (!(mo->weight > 0.0)) {
            st = ogq_error_set(err, OGQ_ERR_USAGE, "node '%s': no calibration rows reached it",
                               t->node->name);
            break;
        }
        struct ogq_qweight rtn;
        st = ogq_rtn_quantize(wj, rows, cols, &go, &rtn, err);
        if (st != OGQ_OK)
            break;
        ogq_qweight_dequantize(&rtn, deq);
        loss_rtn += ogq_moments_loss(mo, deq, bj, wj, bj, rows, 1.0);
        if (o->method == OGQ_METHOD_RTN) {
            qs[j] = rtn;
        } else {
            ogq_qweight_fini(&rtn);
            double *h = gptq_hessian(mo);
            if (!h) {
                st = OGQ_NOMEM(err);
                break;
            }
            st = ogq_gptq_quantize(wj, rows, cols, h, &go, &qs[j], err);
            free(h);
            if (st != OGQ_OK) {
                ogq_error_prefix(err, "node '%s' (%s)", t->node->name, t->node->op_type);
                break;
            }
            if (qs[j].percdamp_used > l->percdamp)
                l->percdamp = qs[j].percdamp_used;
            if (qs[j].damp_tries > l->damp_tries)
                l->damp_tries = qs[j].damp_tries;
            l->dead_cols += qs[j].dead_cols;
        }
        ogq_qweight_dequantize(&qs[j], deq);
        double ls = ogq_moments_loss(mo, deq, bj, wj, bj, rows, 1.0);
        loss_start += ls;
        if (!o->refine) {
            loss += ls;
            continue;
        }
        double t0 = ogq_now_seconds();
        if (lc->val)
            moments_axpy(mo, &lc->val[j], -1.0); /* train on the other rows */
        struct ogq_refine_layer in = {
            .w = wj, .bias = bj, .rows = rows, .cols = cols, .start = &qs[j],
            .prequant = qs[j].prequant, .mom = mo, .loss_weight = layer_weight, .steps = steps,
        };
        struct ogq_refine_result res;
        st = ogq_refine_layer_run(&o->refine_cfg, &in, &res, err);
        if (st != OGQ_OK) {
            ogq_error_prefix(err, "refining node '%s' (%s)", t->node->name, t->node->op_type);
            break;
        }
        if (res.q.prequant == qs[j].prequant)
            res.q.prequant = NULL; /* a shallow copy of the start's: freed with the start */
        if (bj && o->refine_cfg.train_bias) {
            /* Closed-form bias on the chosen codes; kept only if it lowers the loss. */
            ogq_qweight_dequantize(&res.q, deq);
            const float *cur = res.bias ? res.bias : bj;
            float *bb = malloc((size_t)rows * sizeof *bb);
            if (!bb) {
                ogq_refine_result_fini(&res);
                st = OGQ_NOMEM(err);
                break;
            }
            optimal_bias(mo, wj, bj, deq, rows, bb);
            double lb = ogq_moments_loss(mo, deq, bb, wj, bj, rows, 1.0);
            double lcur = ogq_moments_loss(mo, deq, cur, wj, bj, rows, 1.0);
            if (lb < lcur && lb < res.loss_final) {
                free(res.bias);
                res.bias = bb;
                res.loss_final = lb;
                res.kept_start = false;
            } else {
                free(bb);
            }
        }
        l->final_q = res.final_q;
        bool use = !res.kept_start;
        const float *res_bias = res.bias && o->refine_cfg.train_bias ? res.bias : bj;
        if (lc->val) {
            const struct ogq_layer_moments *vm = &lc->val[j];
            if (use && vm->weight > 0.0) {
                ogq_qweight_dequantize(&qs[j], deq);
                double lv_start = ogq_moments_loss(vm, deq, bj, wj, bj, rows, 1.0);
                ogq_qweight_dequantize(&res.q, deq);
                double lv_res = ogq_moments_loss(vm, deq, res_bias, wj, bj, rows, 1.0);
                if (!(lv_res < lv_start)) {
                    use = false;
                    l->refine_rejected_validation++;
                }
            }
            moments_axpy(mo, vm, 1.0); /* every row again, for the reported loss */
        }
        l->seconds_refine += ogq_now_seconds() - t0;
        if (!use) {
            loss += ls;
            ogq_refine_result_fini(&res);
            continue;
        }
        ogq_qweight_dequantize(&res.q, deq);
        loss += ogq_moments_loss(mo, deq, res_bias, wj, bj, rows, 1.0);
        l->codes_changed += res.codes_changed;
        l->final_q = res.final_q;
        if (res_bias != bj) {
            memcpy(bias_out + j * rows, res_bias, (size_t)rows * sizeof *bias_out);
            l->bias_refined = true;
        }
        l->refine_kept_start = false;
        ogq_qweight_fini(&qs[j]);
        qs[j] = res.q;
        memset(&res.q, 0, sizeof res.q);
        ogq_refine_result_fini(&res);
    }
    if (st == OGQ_OK)
        st = ogq_target_merge_groups(t, qs, err);
    for (int64_t j = 0; qs && j < t->groups; j++)
        ogq_qweight_fini(&qs[j]);
    free(qs);
    free(deq);
    free(w);
    l->loss = loss;
    l->loss_rtn = loss_rtn;
    l->loss_start = loss_start;
    l->quantized = st == OGQ_OK;
    return st;
}

/* ---------------------------------------------------------------- driver */

static enum ogq_status set_bias_override(struct ogq_executor *se, struct solved_bias *sb,
                                         struct ogq_error *err)
{
    const struct ogq_tensor *bt = sb->value->initializer;
    OGQ_TRY(ogq_rt_tensor_set_shape(&sb->rt, OGQ_DTYPE_FLOAT, bt->rank, bt->dims, bt->name, err));
    sb->rt.data = sb->data;
    return ogq_executor_override(se, sb->value, &sb->rt, err);
}

/* Writes the refined biases into the graph (after the executors are gone). */
static enum ogq_status apply_biases(struct ogq_graph *g, struct solved_bias *sbs, size_t n,
                                    struct ogq_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!sbs[i].data)
            continue;
        const struct ogq_tensor *old = sbs[i].value->initializer;
        struct ogq_tensor *nt = NULL;
        OGQ_TRY(ogq_tensor_new(NULL, OGQ_DTYPE_FLOAT, old->rank, old->dims, &nt, err));
        memcpy(ogq_tensor_data(nt), sbs[i].data, (size_t)old->numel * sizeof(float));
        OGQ_TRY(ogq_graph_set_initializer(g, sbs[i].value, nt, err));
    }
    return OGQ_OK;
}

static enum ogq_status install_student_sites(struct ogq_executor *se, struct ogq_act_site *sites,
                                             size_t ns, const struct ogq_target *t,
                                             struct ogq_error *err)
{
    for (size_t i = 0; i < ns; i++) {
        struct ogq_act_site *s = &sites[i];
        if (s->student_on)
            continue;
        if (!s->is_output && s->fq == t->node->inputs[0])
            s->n_done++;
        /* An output site is quantized as soon as its producer is solved (downstream sees
         * the deployed value); an input site once all its quantized consumers are. */
        bool ready = s->is_output ? t->node->outputs[0] == s->value : s->n_done >= s->n_consumers;
        if (ready) {
            OGQ_TRY(ogq_executor_transform(se, s->fq, fake_quant, s, err));
            s->student_on = true;
        }
    }
    return OGQ_OK;
}

enum ogq_status ogq_quantize_lockstep(struct ogq_model *m, struct ogq_target *ts, size_t n,
                                      const struct ogq_calib_set *c,
                                      const struct ogq_quantize_opts *o,
                                      struct ogq_quant_report *r, struct ogq_act_site **sites_out,
                                      size_t *n_sites_out, struct ogq_error *err)
{
    struct ogq_act_site *sites = NULL;
    size_t ns = 0;
    *sites_out = NULL;
    *n_sites_out = 0;
    if (o->act_bits > 0) {
        OGQ_TRY(ogq_act_sites_insert(m->graph, ts, n, o->act_outputs, &sites, &ns, err));
        *sites_out = sites;
        *n_sites_out = ns;
        OGQ_TRY(calibrate_activations(m, sites, ns, c, o, r, err));
    }
    const struct ogq_refine_config *cfg = &o->refine_cfg;
    int64_t steps = cfg->n_steps > 0 ? cfg->n_steps : cfg->n_epochs * (int64_t)c->n_batches;
    r->refine_steps = o->refine ? steps : 0;
    r->gaq_end_step = cfg->gradual_activation_quantization_config.end_step >= 0
                          ? cfg->gradual_activation_quantization_config.end_step
                          : steps - 1;

    double *layer_w = calloc(n ? n : 1, sizeof *layer_w);
    double *sample_w = NULL;
    struct solved_bias *sbs = calloc(n ? n : 1, sizeof *sbs);
    struct ogq_rt_tensor *overrides = calloc(n ? n : 1, sizeof *overrides);
    struct layer_ctx lc;
    memset(&lc, 0, sizeof lc);
    struct ogq_executor *te = NULL, *se = NULL;
    struct ogq_exec_options eo = {.threads = o->threads};
    enum ogq_status st = layer_w && sbs && overrides ? OGQ_OK : OGQ_NOMEM(err);
    if (st == OGQ_OK)
        st = hessian_weights(m, ts, n, c, o, layer_w, &sample_w, r, err);
    if (st == OGQ_OK)
        st = ogq_executor_new(m, &eo, &te, err);
    if (st == OGQ_OK)
        st = ogq_executor_new(m, &eo, &se, err);
    double t_solve = 0.0, t_cal = 0.0;
    for (size_t i = 0; st == OGQ_OK && i < n; i++) {
        struct ogq_target *t = &ts[i];
        struct ogq_layer_report *l = &r->layers[t->report];
        struct ogq_value *bv = o->refine ? find_bias(m, t) : NULL;
        const float *bias = bv ? ogq_tensor_data(bv->initializer) : NULL;
        memset(&lc, 0, sizeof lc);
        lc.t = t;
        lc.site = ogq_act_site_of_fq(sites, ns, t->node->inputs[0]);
        if (lc.site && lc.site->student_on)
            lc.site = NULL; /* an upstream output site: the student input is quantized already */
        /* The (a, d) split is only needed to anneal q during refinement: without GAQ the
         * moments of Q(a) alone are exact and cost 2 k×k products instead of 4.5. */
        lc.fold_site = lc.site && !(o->refine && cfg->gradual_activation_quantization_config.enabled);
        lc.sample_w = sample_w ? sample_w + i * (size_t)c->n_samples : NULL;
        lc.mom = calloc((size_t)t->groups, sizeof *lc.mom);
        if (!lc.mom) {
            st = OGQ_NOMEM(err);
            break;
        }
        if (o->refine && is_validation_batch(4, c->n_batches)) {
            lc.val = calloc((size_t)t->groups, sizeof *lc.val);
            if (!lc.val)
                st = OGQ_NOMEM(err);
        }
        for (int64_t j = 0; st == OGQ_OK && j < t->groups; j++) {
            bool delta = lc.site && !lc.fold_site;
            st = ogq_moments_init(&lc.mom[j], t->cols, bv != NULL, delta, err);
            if (st == OGQ_OK && lc.val)
                st = ogq_moments_init(&lc.val[j], t->cols, bv != NULL, delta, err);
        }
        double t0 = ogq_now_seconds();
        if (st == OGQ_OK)
            st = collect_moments(te, se, &lc, c, err);
        t_cal += ogq_now_seconds() - t0;
        t0 = ogq_now_seconds();
        if (st == OGQ_OK && bv) {
            sbs[i].value = bv;
            sbs[i].data = malloc((size_t)bv->initializer->numel * sizeof(float));
            if (!sbs[i].data)
                st = OGQ_NOMEM(err);
            else
                memcpy(sbs[i].data, bias, (size_t)bv->initializer->numel * sizeof(float));
        }
        l->hessian_weight = layer_w[i];
        l->refined = o->refine;
        l->refine_kept_start = o->refine;
        l->refine_steps = o->refine ? steps : 0;
        if (st == OGQ_OK)
            st = solve_layer(t, &lc, bias, sbs[i].data, o, layer_w[i], steps, l, err);
        double t_layer = ogq_now_seconds() - t0;
        l->seconds = t_layer;
        t_solve += t_layer;
        for (int64_t j = 0; j < t->groups; j++) {
            ogq_moments_fini(&lc.mom[j]);
            if (lc.val)
                ogq_moments_fini(&lc.val[j]);
        }
        free(lc.mom);
        free(lc.val);
        free(lc.x);
        free(lc.d);
        free(lc.col);
        memset(&lc, 0, sizeof lc);
        /* Later layers see this layer as deployed. */
        if (st == OGQ_OK)
            st = ogq_target_make_override(t, &overrides[i], err);
        if (st == OGQ_OK)
            st = ogq_executor_override(se, t->weight, &overrides[i], err);
        if (st == OGQ_OK && sbs[i].data && l->bias_refined)
            st = set_bias_override(se, &sbs[i], err);
        if (st == OGQ_OK)
            st = install_student_sites(se, sites, ns, t, err);
        ogq_quantize_progress(o, o->refine ? "refine" : "quantize", i + 1, n);
    }
    ogq_executor_free(te);
    ogq_executor_free(se);
    r->seconds_calibration += t_cal;
    r->seconds_solve += t_solve;
    for (size_t i = 0; i < n; i++) {
        r->seconds_refine += r->layers[ts[i].report].seconds_refine;
        if (sbs && !r->layers[ts[i].report].bias_refined) {
            free(sbs[i].data);
            sbs[i].data = NULL;
        }
    }
    if (st == OGQ_OK)
        st = apply_biases(m->graph, sbs, n, err);
    for (size_t i = 0; sbs && i < n; i++)
        free(sbs[i].data);
    free(sbs);
    free(overrides);
    free(layer_w);
    free(sample_w);
    return st;
}
