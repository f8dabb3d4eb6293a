/* hessian_scores.c — Hutchinson estimates of tr(JᵀJ) per compare point and sample, with
 * J u taken by central finite differences through the runtime (see hessian_scores.h).
 *
 * Loop: for each compare value l, install a transform on it; for each calibration batch
 * used and each probe p, run the model twice — once with v + εu, once with v − εu, where
 * u ~ N(0, I) is drawn from a generator keyed by (seed, l, batch, p) and ε = rel_eps·rms(v)
 * of that batch's unperturbed v — and add ‖(out₊ − out₋)/2ε‖² to each sample's score.
 * The transform only touches the compare value (the executor gives it a private buffer
 * when the data is shared), so nothing else in the graph moves.
 *
 * Numerics: v ± εu is rounded to float (the runtime computes in float32); the output
 * difference, its scaling and all sums are in double. With ε ≈ 1e-3·rms(v) the float
 * rounding of the outputs limits J u to about 1e-4 relative accuracy, far below the
 * Monte-Carlo spread of a few probes.
 */
#include "hessian_scores.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/executor.h"
#include "util/checked.h"

void ogq_hessian_scores_opts_init(struct ogq_hessian_scores_opts *o)
{
    memset(o, 0, sizeof *o);
    o->num_samples = 32;
    o->num_probes = 2;
    o->rel_eps = 1e-3;
    o->seed = 0;
    o->threads = 0;
}

/* ---------------------------------------------------------------- probes */

/* splitmix64 (Steele, Lea, Flood 2014): a full-period 64-bit generator whose output
 * function is also a good bijective mixer, used both to derive a probe's key and to
 * draw its numbers. */
static uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Key of probe p of value l on batch b: each index is folded in through the mixer so
 * that nearby tuples give unrelated streams. */
static uint64_t probe_key(uint64_t seed, uint64_t l, uint64_t b, uint64_t p)
{
    uint64_t s = seed;
    uint64_t k = splitmix64_next(&s);
    s = k ^ l;
    k = splitmix64_next(&s);
    s = k ^ b;
    k = splitmix64_next(&s);
    s = k ^ p;
    return splitmix64_next(&s);
}

/* Fills u[0..n) with standard normals (Box–Muller on 53-bit uniforms, in double). */
static void fill_normal(uint64_t key, float *u, int64_t n)
{
    uint64_t s = key;
    const double two_pi = 6.283185307179586476925286766559;
    for (int64_t i = 0; i < n; i += 2) {
        double a = (double)(splitmix64_next(&s) >> 11) * 0x1.0p-53; /* [0, 1) */
        double c = (double)(splitmix64_next(&s) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(1.0 - a)); /* 1 − a in (0, 1]: log is finite */
        u[i] = (float)(r * cos(two_pi * c));
        if (i + 1 < n)
            u[i + 1] = (float)(r * sin(two_pi * c));
    }
}

/* State shared with the transform for one probe's pair of runs. */
struct probe_ctx {
    double rel_eps;
    uint64_t key;
    int sign; /* +1: first run (computes ε and u), −1: second run (reuses them) */
    double eps;
    float *u; /* owned, u_cap entries */
    int64_t u_cap;
    int64_t numel; /* size of v in the + run */
    int applied;   /* transform calls in the current run */
};

static enum ogq_status perturb(void *user, const struct ogq_value *value, struct ogq_rt_tensor *t,
                               struct ogq_error *err)
{
    struct probe_ctx *c = user;
    if (t->dtype != OGQ_DTYPE_FLOAT)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "hessian scores: compare value '%s' is %s at run time, not float",
                             value->name, ogq_dtype_name(t->dtype));
    float *x = t->data;
    const int64_t n = t->numel;
    if (c->sign > 0) {
        double ss = 0.0;
        for (int64_t i = 0; i < n; i++)
            ss += (double)x[i] * (double)x[i];
        double rms = n > 0 ? sqrt(ss / (double)n) : 0.0;
        c->eps = rms > 0.0 ? c->rel_eps * rms : c->rel_eps;
        if (n > c->u_cap) {
            float *grown = realloc(c->u, (size_t)n * sizeof *grown);
            if (!grown)
                return OGQ_NOMEM(err);
            c->u = grown;
            c->u_cap = n;
        }
        fill_normal(c->key, c->u, n);
        c->numel = n;
    } else if (n != c->numel) {
        return ogq_error_set(err, OGQ_ERR_INTERNAL,
                             "hessian scores: '%s' has %lld elements in the - run, %lld in the "
                             "+ run",
                             value->name, (long long)n, (long long)c->numel);
    }
    const double step = c->sign > 0 ? c->eps : -c->eps;
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((double)x[i] + step * (double)c->u[i]);
    c->applied++;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- checks */

static enum ogq_status check_value(const struct ogq_model *m, const struct ogq_value *v, size_t l,
                                   struct ogq_error *err)
{
    if (!v)
        return ogq_error_set(err, OGQ_ERR_USAGE, "hessian scores: compare value %zu is NULL", l);
    if (ogq_graph_value(m->graph, v->name) != v)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "hessian scores: compare value '%s' is not a value of the model",
                             v->name);
    const char *not_output = NULL;
    if (v->is_graph_input)
        not_output = "a graph input";
    else if (v->initializer || v->is_sparse_initializer)
        not_output = "an initializer";
    else if (!v->producer)
        not_output = "not produced by any node";
    if (not_output)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "hessian scores: compare value '%s' is %s; it must be a node output",
                             v->name, not_output);
    if (!v->is_tensor)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "hessian scores: compare value '%s' is not a tensor", v->name);
    /* A declared non-float type is refused now; an undeclared one is checked at run time. */
    if (v->has_type && v->type.dtype != OGQ_DTYPE_UNDEFINED &&
        ogq_rt_storage_dtype(v->type.dtype) != OGQ_DTYPE_FLOAT)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "hessian scores: compare value '%s' is %s, not float", v->name,
                             ogq_dtype_name(v->type.dtype));
    return OGQ_OK;
}

/* Number of leading batches that cover `want` samples (all when want <= 0), and the
 * samples they hold. */
static enum ogq_status select_batches(const struct ogq_calib_set *c, int64_t want,
                                      size_t *n_batches, int64_t *n_samples, struct ogq_error *err)
{
    int64_t used = 0;
    size_t b = 0;
    for (; b < c->n_batches; b++) {
        if (want > 0 && used >= want)
            break;
        const struct ogq_tensor *x = c->batches[b][0];
        if (!x || x->rank < 1)
            return ogq_error_set(err, OGQ_ERR_USAGE,
                                 "hessian scores: calibration batch %zu: input 0 has no sample "
                                 "dimension (rank %d)",
                                 b, x ? x->rank : -1);
        used += x->dims[0];
    }
    *n_batches = b;
    *n_samples = used;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- compute */

/* Copies of the float outputs of the + run. */
struct out_copy {
    float *data;
    int64_t cap;
    int64_t numel;
    bool present;
};

static enum ogq_status copy_outputs(const struct ogq_executor *e, struct out_copy *oc, size_t n_out,
                                    struct ogq_error *err)
{
    for (size_t i = 0; i < n_out; i++) {
        const struct ogq_rt_tensor *t = ogq_executor_output(e, i);
        oc[i].present = t && t->dtype == OGQ_DTYPE_FLOAT;
        if (!oc[i].present)
            continue;
        if (t->numel > oc[i].cap) {
            float *grown = realloc(oc[i].data, (size_t)t->numel * sizeof *grown);
            if (!grown)
                return OGQ_NOMEM(err);
            oc[i].data = grown;
            oc[i].cap = t->numel;
        }
        oc[i].numel = t->numel;
        if (t->numel)
            memcpy(oc[i].data, t->data, (size_t)t->numel * sizeof(float));
    }
    return OGQ_OK;
}

/* Adds ‖(out₊ − out₋)/2ε‖² of every float output to acc[0..nb) (one entry per sample of
 * the batch): per dim-0 slice when dim 0 is the batch, evenly split otherwise. */
static enum ogq_status accumulate(const struct ogq_executor *e, const struct ogq_model *m,
                                  const struct out_copy *oc, size_t n_out, double eps, int64_t nb,
                                  double *acc, struct ogq_error *err)
{
    const double inv = 1.0 / (2.0 * eps);
    for (size_t i = 0; i < n_out; i++) {
        const struct ogq_rt_tensor *t = ogq_executor_output(e, i);
        bool present = t && t->dtype == OGQ_DTYPE_FLOAT;
        if (present != oc[i].present || (present && t->numel != oc[i].numel))
            return ogq_error_set(err, OGQ_ERR_INTERNAL,
                                 "hessian scores: output '%s' changed between the + and - runs",
                                 m->graph->outputs[i]->name);
        if (!present || t->numel == 0)
            continue;
        const float *q = t->data, *p = oc[i].data;
        if (t->rank >= 1 && t->dims[0] == nb) {
            const int64_t per = t->numel / nb;
            for (int64_t s = 0; s < nb; s++) {
                double sum = 0.0;
                for (int64_t j = s * per; j < (s + 1) * per; j++) {
                    double d = ((double)p[j] - (double)q[j]) * inv;
                    sum += d * d;
                }
                acc[s] += sum;
            }
        } else {
            double sum = 0.0;
            for (int64_t j = 0; j < t->numel; j++) {
                double d = ((double)p[j] - (double)q[j]) * inv;
                sum += d * d;
            }
            for (int64_t s = 0; s < nb; s++)
                acc[s] += sum / (double)nb;
        }
    }
    return OGQ_OK;
}

/* Scores of value l on every used batch (transform already installed). */
static enum ogq_status score_value(struct ogq_executor *e, const struct ogq_model *m,
                                   const struct ogq_value *v, size_t l,
                                   const struct ogq_calib_set *calib, size_t n_batches,
                                   const struct ogq_hessian_scores_opts *o, struct probe_ctx *pc,
                                   struct out_copy *oc, double *acc, double *row, size_t *done,
                                   size_t total, struct ogq_error *err)
{
    const size_t n_out = m->graph->n_outputs;
    int64_t off = 0;
    for (size_t b = 0; b < n_batches; b++) {
        const int64_t nb = calib->batches[b][0]->dims[0];
        if (nb > 0) {
            memset(acc, 0, (size_t)nb * sizeof *acc);
            for (int64_t p = 0; p < o->num_probes; p++) {
                pc->key = probe_key(o->seed, (uint64_t)l, (uint64_t)b, (uint64_t)p);
                pc->sign = 1;
                pc->applied = 0;
                OGQ_TRY(ogq_executor_run(e, calib->batches[b], err));
                if (pc->applied != 1)
                    return ogq_error_set(err, OGQ_ERR_INTERNAL,
                                         "hessian scores: compare value '%s' was produced %d "
                                         "times in one run",
                                         v->name, pc->applied);
                OGQ_TRY(copy_outputs(e, oc, n_out, err));
                pc->sign = -1;
                pc->applied = 0;
                OGQ_TRY(ogq_executor_run(e, calib->batches[b], err));
                if (pc->applied != 1)
                    return ogq_error_set(err, OGQ_ERR_INTERNAL,
                                         "hessian scores: compare value '%s' was produced %d "
                                         "times in one run",
                                         v->name, pc->applied);
                OGQ_TRY(accumulate(e, m, oc, n_out, pc->eps, nb, acc, err));
            }
            for (int64_t s = 0; s < nb; s++)
                row[off + s] = acc[s] / (double)o->num_probes;
        }
        off += nb;
        ++*done;
        if (o->progress)
            o->progress(o->progress_user, "hessian", *done, total);
    }
    return OGQ_OK;
}

enum ogq_status ogq_hessian_scores_compute(const struct ogq_model *m,
                                           const struct ogq_value *const *values, size_t n_values,
                                           const struct ogq_calib_set *calib,
                                           const struct ogq_hessian_scores_opts *opts,
                                           double **scores_out, int64_t *n_samples_out,
                                           struct ogq_error *err)
{
    *scores_out = NULL;
    *n_samples_out = 0;
    struct ogq_hessian_scores_opts o;
    if (opts)
        o = *opts;
    else
        ogq_hessian_scores_opts_init(&o);
    if (o.num_probes <= 0)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "hessian scores: num_probes must be positive, got %lld",
                             (long long)o.num_probes);
    if (!(o.rel_eps > 0.0) || !isfinite(o.rel_eps))
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "hessian scores: rel_eps must be positive and finite, got %g",
                             o.rel_eps);
    if (!calib || calib->n_batches == 0)
        return ogq_error_set(err, OGQ_ERR_USAGE, "hessian scores: no calibration batches");
    for (size_t l = 0; l < n_values; l++)
        OGQ_TRY(check_value(m, values[l], l, err));

    struct ogq_exec_options eo = {.threads = o.threads};
    struct ogq_executor *e = NULL;
    struct probe_ctx pc = {.rel_eps = o.rel_eps};
    struct out_copy *oc = NULL;
    double *acc = NULL, *scores = NULL;
    size_t n_batches = 0, done = 0, total = 0;
    const size_t n_out = m->graph->n_outputs;
    int64_t n_samples = 0, max_nb = 1;
    enum ogq_status st = ogq_executor_new(m, &eo, &e, err);
    if (st != OGQ_OK)
        goto out;
    if (ogq_executor_input_count(e) == 0 || calib->n_inputs != ogq_executor_input_count(e)) {
        st = ogq_error_set(err, OGQ_ERR_USAGE,
                           "hessian scores: calibration batches have %zu inputs, the model "
                           "needs %zu (at least one)",
                           calib->n_inputs, ogq_executor_input_count(e));
        goto out;
    }
    st = select_batches(calib, o.num_samples, &n_batches, &n_samples, err);
    if (st != OGQ_OK)
        goto out;
    for (size_t b = 0; b < n_batches; b++)
        if (calib->batches[b][0]->dims[0] > max_nb)
            max_nb = calib->batches[b][0]->dims[0];
    size_t cells = 0;
    if (!ogq_mul_size(n_values, (size_t)n_samples, &cells)) {
        st = OGQ_NOMEM(err);
        goto out;
    }
    oc = calloc(n_out ? n_out : 1, sizeof *oc);
    acc = malloc((size_t)max_nb * sizeof *acc);
    scores = calloc(cells ? cells : 1, sizeof *scores);
    if (!oc || !acc || !scores) {
        st = OGQ_NOMEM(err);
        goto out;
    }
    total = n_values * n_batches;
    for (size_t l = 0; l < n_values; l++) {
        st = ogq_executor_transform(e, values[l], perturb, &pc, err);
        if (st == OGQ_OK)
            st = score_value(e, m, values[l], l, calib, n_batches, &o, &pc, oc, acc,
                             scores + l * (size_t)n_samples, &done, total, err);
        /* Removal cannot fail once installation succeeded. */
        ogq_executor_transform(e, values[l], NULL, NULL, NULL);
        if (st != OGQ_OK)
            goto out;
    }
    *scores_out = scores;
    *n_samples_out = n_samples;
    scores = NULL;
out:
    ogq_executor_free(e);
    for (size_t i = 0; oc && i < n_out; i++)
        free(oc[i].data);
    free(oc);
    free(acc);
    free(pc.u);
    free(scores);
    return st;
}

/* ---------------------------------------------------------------- weights */

void ogq_hessian_layer_weights(const double *scores, size_t n_values, int64_t n_samples,
                               bool norm_scores, bool log_norm, bool scale_log_norm,
                               double *weights)
{
    for (size_t l = 0; l < n_values; l++)
        weights[l] = 0.0;
    if (n_values == 0)
        return;
    const size_t ns = n_samples > 0 ? (size_t)n_samples : 0;
    for (size_t s = 0; s < ns; s++) {
        double sum = 0.0;
        if (norm_scores)
            for (size_t l = 0; l < n_values; l++)
                sum += scores[l * ns + s];
        for (size_t l = 0; l < n_values; l++) {
            double x = scores[l * ns + s];
            /* A sample whose scores are all zero contributes zeros (MCT would give NaN). */
            if (norm_scores)
                x = sum > 0.0 ? x / sum : 0.0;
            weights[l] += x;
        }
    }
    if (ns > 0)
        for (size_t l = 0; l < n_values; l++)
            weights[l] /= (double)ns;
    if (!log_norm)
        return;
    double smallest = 0.0;
    for (size_t l = 0; l < n_values; l++)
        if (weights[l] > 0.0 && (smallest == 0.0 || weights[l] < smallest))
            smallest = weights[l];
    if (smallest == 0.0) { /* every mean is zero: no layer stands out */
        for (size_t l = 0; l < n_values; l++)
            weights[l] = 0.0;
        return;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (size_t l = 0; l < n_values; l++) {
        weights[l] = log10(weights[l] > 0.0 ? weights[l] : smallest);
        lo = fmin(lo, weights[l]);
        hi = fmax(hi, weights[l]);
    }
    const double range = hi - lo;
    for (size_t l = 0; l < n_values; l++) {
        weights[l] -= lo;
        if (scale_log_norm && range > 0.0)
            weights[l] /= range;
    }
}

void ogq_hessian_sample_weights(const double *scores, size_t n_values, int64_t n_samples,
                                double *weights)
{
    if (n_samples <= 0)
        return;
    const size_t ns = (size_t)n_samples;
    for (size_t l = 0; l < n_values; l++) {
        const double *row = scores + l * ns;
        double mean = 0.0;
        for (size_t s = 0; s < ns; s++)
            mean += row[s];
        mean /= (double)ns;
        for (size_t s = 0; s < ns; s++)
            weights[l * ns + s] = mean > 0.0 ? row[s] / mean : 1.0;
    }
}
