/* refine.c — gradient-based refinement of one quantized layer (see refine.h).
 *
 * Before:  codes/grids from GPTQ or RTN, the teacher weight W (and bias b), and the
 *          layer's moments (layer_moments.h).
 * After:   codes (and optionally bias and scales) that lower the deployed layer loss
 *          L(Ŵ, b̂, q = 1), or the start unchanged when they do not.
 *
 * Parameterisation. Each weight (r, c) uses the grid (s, z) = (scales, zeros)[r, g_idx[c]].
 *   soft rounding: base = ⌊t⌋ + z with t = prequant / s computed in float exactly as the grid
 *     quantizer computes it, fixed for the whole run (so V means the same thing when the
 *     scales are learned); Ŵ = s · (clamp(base + h(V), 0, maxq) − z). V starts at
 *     h⁻¹(t − ⌊t⌋), so hardening at step 0 gives the start code; where it would harden the
 *     other way (ties t = n + ½, which rint rounds to even; round-off of h ∘ h⁻¹; a
 *     prequant that rounds the other way) V starts just past the middle (|V| ~ 1e-7) on
 *     the start code's side. A start code that is neither clamp(base) nor clamp(base + 1)
 *     (prequant more than one step from it) cannot be represented; there V starts from
 *     prequant's own rounding.
 *   STE: v starts at prequant; Ŵ = s · (clamp(rint(v / s) + z, 0, maxq) − z) with float
 *     v / s as in the grid quantizer; the rounding passes gradients as the identity.
 * Derivatives of Ŵ used by the chain rule:
 *   soft: ∂Ŵ/∂V = s·h'(V) where base + h lies in [0, maxq] (0 where clamped);
 *         ∂Ŵ/∂s = clamp(base + h) − z (the base does not move with s);
 *   STE:  ∂Ŵ/∂v = 1 where rint(v/s) + z lies in [0, maxq], else 0;
 *         ∂Ŵ/∂s = (code − z) − v/s inside that range, code − z outside (LSQ's STE gradient).
 *
 * Objective at step t (q = GAQ fraction, β = regulariser temperature):
 *   loss_weight · L(Ŵ, b̂, q) / E  +  regularization_factor · mean R_β(h(V))
 * with E the teacher output energy (1 if it is 0) and L from the moments. The gradient of
 * L w.r.t. the augmented Ŵa = [Ŵ | b̂] is 2(Ŵa S_t̃t̃ − Wa S_t̃xᵀ). It is evaluated as
 *   2 (Δa S_t̃t̃(q) + P0 + q P1 + q² P2),  Δa = Ŵa − Wa,
 *   P0 = Wa (S_aa − S_axᵀ), P1 = Wa (S_ad − S_dxᵀ), P2 = Wa S_dd,
 * because Ŵa S_t̃t̃ and Wa S_t̃xᵀ nearly cancel: the P's are formed once (the differences of
 * moments in double, rounded to float, then one sgemm each), and each step costs one
 * float sgemm [rows, ka] × [ka, ka] on the small Δa, so the float error scales with the
 * quantization error rather than with the weights.
 *
 * Numerics: parameters, gradients and Adam state are float; per-element arithmetic
 * (quantizer, Adam) is double except the regulariser's power |2h − 1|^β (float); sums over weights
 * (regulariser, scale gradients) are double. Objective values (first and last step only — Adam does
 * not need them) and the deployed losses come from ogq_moments_loss, in double. The per-element
 * passes run over row blocks on the worker pool (ogq_parallel_for); every sum keeps a fixed order.
 * No randomness: the result depends only on the inputs (and BLAS's own blocking).
 */
#include "refine.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/linalg.h"

/* Learned scales stay above this fraction of their start value (they must stay > 0). */
#define SCALE_FLOOR_REL 1e-3
/* Smallest |V| tried when V must sit just past h = ½ (V = 0) to give the start code. */
#define V_NUDGE_MIN 1e-7
/* Weights per task of the per-element passes (split over the worker pool). */
#define EVAL_TASK_ELEMS 16384

/* --------------------------------------------------------------- building blocks */

static inline double sigmoid(double v)
{
    if (v >= 0.0)
        return 1.0 / (1.0 + exp(-v));
    double e = exp(v);
    return e / (1.0 + e);
}

double ogq_soft_h(double v)
{
    double h = sigmoid(v) * (OGQ_SOFT_ZETA - OGQ_SOFT_GAMMA) + OGQ_SOFT_GAMMA;
    return h < 0.0 ? 0.0 : h > 1.0 ? 1.0 : h;
}

double ogq_soft_h_grad(double v)
{
    double s = sigmoid(v);
    double h = s * (OGQ_SOFT_ZETA - OGQ_SOFT_GAMMA) + OGQ_SOFT_GAMMA;
    if (h <= 0.0 || h >= 1.0)
        return 0.0;
    return s * (1.0 - s) * (OGQ_SOFT_ZETA - OGQ_SOFT_GAMMA);
}

double ogq_soft_v_init(double f)
{
    f = f < 0.0 ? 0.0 : f > 1.0 ? 1.0 : f;
    double p = (f - OGQ_SOFT_GAMMA) / (OGQ_SOFT_ZETA - OGQ_SOFT_GAMMA);
    return log(p) - log1p(-p);
}

/* MCT's LinearTempDecay, with the decay ending at the last step (step total − 1) so the
 * last step has β = 2 exactly (MCT reaches 2 one step after its last). */
double ogq_soft_beta(int64_t step, int64_t total)
{
    double start = OGQ_SOFT_BETA_WARMUP * (double)total, last = (double)(total - 1);
    if ((double)step < start)
        return OGQ_SOFT_BETA_START;
    if (last <= start)
        return OGQ_SOFT_BETA_END;
    double rel = ((double)step - start) / (last - start);
    double f = 1.0 - rel > 0.0 ? 1.0 - rel : 0.0;
    return OGQ_SOFT_BETA_END + (OGQ_SOFT_BETA_START - OGQ_SOFT_BETA_END) * f;
}

double ogq_soft_reg(double h, double beta)
{
    return 1.0 - pow(fabs(2.0 * h - 1.0), beta);
}

double ogq_soft_reg_grad(double h, double beta)
{
    double e = 2.0 * h - 1.0;
    if (e == 0.0)
        return 0.0;
    double sgn = e > 0.0 ? 1.0 : -1.0;
    return -2.0 * beta * pow(fabs(e), beta - 1.0) * sgn;
}

double ogq_gaq_fraction(const struct ogq_gaq_config *g, int64_t step, int64_t total)
{
    if (!g->enabled)
        return g->target_q_fraction;
    int64_t end = g->end_step < 0 ? total - 1 : g->end_step;
    if (step >= end)
        return g->target_q_fraction;
    if (step <= g->start_step)
        return g->initial_q_fraction;
    double t = (double)(step - g->start_step) / (double)(end - g->start_step);
    return g->initial_q_fraction + (g->target_q_fraction - g->initial_q_fraction) * t;
}

void ogq_refine_result_fini(struct ogq_refine_result *r)
{
    ogq_qweight_fini(&r->q);
    free(r->bias);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ workspace */

struct refine_ws {
    const struct ogq_refine_config *cfg;
    const struct ogq_refine_layer *in;
    const struct ogq_qweight *st;
    const struct ogq_layer_moments *mom;
    int64_t rows, cols, ka, ng, total;
    int maxq;
    bool soft;
    double task_scale;   /* loss_weight / teacher energy */
    float *base;         /* [rows, cols] soft rounding: ⌊t⌋ + z */
    float *wa;           /* [rows, ka] teacher weight with the bias column */
    float *p0, *p1, *p2; /* [rows, ka] gradient constants (p1, p2 only with delta moments) */
    float *stt, *stx;    /* [ka, ka] moments at q_cur */
    double q_cur;
    float *delta;    /* [rows, ka] Ŵa − Wa */
    float *g;        /* [rows, ka] ∂(task term)/∂Ŵa */
    float *w_hat;    /* [rows, cols] */
    float *dw_dv;    /* [rows, cols] ∂Ŵ/∂v */
    float *dw_ds;    /* [rows, cols] ∂Ŵ/∂s */
    float *reg_g;    /* [rows, cols] ∂(regulariser term)/∂v */
    double *row_reg; /* [rows] regulariser sum per row */
};

static void ws_fini(struct refine_ws *ws)
{
    free(ws->base);
    free(ws->wa);
    free(ws->p0);
    free(ws->p1);
    free(ws->p2);
    free(ws->stt);
    free(ws->stx);
    free(ws->delta);
    free(ws->g);
    free(ws->w_hat);
    free(ws->dw_dv);
    free(ws->dw_ds);
    free(ws->reg_g);
    free(ws->row_reg);
    memset(ws, 0, sizeof *ws);
}

static enum ogq_status check_layer(const struct ogq_refine_layer *in, struct ogq_error *err)
{
    const struct ogq_qweight *st = in->start;
    const struct ogq_layer_moments *m = in->mom;
    if (!in->w || !st || !m || in->rows <= 0 || in->cols <= 0 || in->steps <= 0)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "refine: missing input or bad size (rows %lld, cols %lld, steps "
                             "%lld)",
                             (long long)in->rows, (long long)in->cols, (long long)in->steps);
    if (st->rows != in->rows || st->cols != in->cols || st->bits < 2 || st->bits > 8 ||
        st->n_groups <= 0)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "refine: start codes are %lld x %lld (%d bits), expected %lld x %lld",
                             (long long)st->rows, (long long)st->cols, st->bits,
                             (long long)in->rows, (long long)in->cols);
    if (m->k != in->cols || m->augment != (in->bias != NULL))
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "refine: moments have k %lld%s, layer has %lld inputs%s",
                             (long long)m->k, m->augment ? " (augmented)" : "", (long long)in->cols,
                             in->bias ? " and a bias" : "");
    for (int64_t c = 0; c < in->cols; c++)
        if (st->g_idx[c] < 0 || st->g_idx[c] >= st->n_groups)
            return ogq_error_set(err, OGQ_ERR_USAGE, "refine: g_idx[%lld] = %d out of range",
                                 (long long)c, (int)st->g_idx[c]);
    return OGQ_OK;
}

/* Wa · M for the [ka, ka] matrix M = (A − Bᵀ) / weight (B may be NULL), via `tmp`. */
static void teacher_times(const struct refine_ws *ws, const double *a, const double *b, float *tmp,
                          float *out)
{
    const int64_t ka = ws->ka;
    const double inv = ws->mom->weight > 0.0 ? 1.0 / ws->mom->weight : 0.0;
    for (int64_t i = 0; i < ka; i++)
        for (int64_t j = 0; j < ka; j++)
            tmp[i * ka + j] = (float)((a[i * ka + j] - (b ? b[j * ka + i] : 0.0)) * inv);
    ogq_sgemm(false, false, ws->rows, ka, ka, 1.0f, ws->wa, ka, tmp, ka, 0.0f, out, ka);
}

static enum ogq_status ws_init(struct refine_ws *ws, const struct ogq_refine_config *cfg,
                               const struct ogq_refine_layer *in, struct ogq_error *err)
{
    memset(ws, 0, sizeof *ws);
    OGQ_TRY(check_layer(in, err));
    const struct ogq_qweight *st = in->start;
    ws->cfg = cfg;
    ws->in = in;
    ws->st = st;
    ws->mom = in->mom;
    ws->rows = in->rows;
    ws->cols = in->cols;
    ws->ka = in->mom->ka;
    ws->ng = st->n_groups;
    ws->total = in->steps;
    ws->maxq = (1 << st->bits) - 1;
    ws->soft = cfg->rounding_type == OGQ_ROUNDING_SOFT;
    ws->q_cur = NAN;
    const int64_t rows = ws->rows, cols = ws->cols, ka = ws->ka;
    const size_t nw = (size_t)(rows * cols), na = (size_t)(rows * ka), nk = (size_t)(ka * ka);
    ws->base = malloc(nw * sizeof *ws->base);
    ws->wa = malloc(na * sizeof *ws->wa);
    ws->p0 = malloc(na * sizeof *ws->p0);
    if (ws->mom->has_delta) {
        ws->p1 = malloc(na * sizeof *ws->p1);
        ws->p2 = malloc(na * sizeof *ws->p2);
    }
    ws->stt = malloc(nk * sizeof *ws->stt);
    ws->stx = malloc(nk * sizeof *ws->stx);
    ws->delta = malloc(na * sizeof *ws->delta);
    ws->g = malloc(na * sizeof *ws->g);
    ws->w_hat = malloc(nw * sizeof *ws->w_hat);
    ws->dw_dv = malloc(nw * sizeof *ws->dw_dv);
    ws->dw_ds = malloc(nw * sizeof *ws->dw_ds);
    ws->reg_g = malloc(nw * sizeof *ws->reg_g);
    ws->row_reg = malloc((size_t)rows * sizeof *ws->row_reg);
    if (!ws->base || !ws->wa || !ws->p0 || (ws->mom->has_delta && (!ws->p1 || !ws->p2)) ||
        !ws->stt || !ws->stx || !ws->delta || !ws->g || !ws->w_hat || !ws->dw_dv || !ws->dw_ds ||
        !ws->reg_g || !ws->row_reg) {
        ws_fini(ws);
        return OGQ_NOMEM(err);
    }

    const float *pre = in->prequant ? in->prequant : in->w;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) {
            int64_t gi = r * ws->ng + st->g_idx[c];
            float t = pre[r * cols + c] / st->scales[gi]; /* as ogq_grid_code */
            /* Kept in [−1, maxq]: a base further out clamps to the same codes, and the int
             * conversions below stay defined. */
            float base = floorf(t) + st->zeros[gi];
            ws->base[r * cols + c] = fminf(fmaxf(base, -1.0f), (float)ws->maxq);
            ws->wa[r * ka + c] = in->w[r * cols + c];
        }
        if (in->bias)
            ws->wa[r * ka + cols] = in->bias[r];
    }

    double energy = ogq_moments_teacher_energy(ws->mom, in->w, in->bias, rows);
    if (!(energy > 0.0) || !isfinite(energy))
        energy = 1.0;
    ws->task_scale = in->loss_weight / energy;

    const struct ogq_layer_moments *m = ws->mom;
    teacher_times(ws, m->aa, m->ax, ws->stx, ws->p0);
    if (m->has_delta) {
        teacher_times(ws, m->ad, m->dx, ws->stx, ws->p1);
        teacher_times(ws, m->dd, NULL, ws->stx, ws->p2);
    }
    return OGQ_OK;
}

/* One evaluation's inputs, shared by the row-block tasks. */
struct eval_job {
    struct refine_ws *ws;
    const float *v, *bias, *scales;
    double q, beta, reg_scale;
    int64_t rows_per_task;
    float *grad_v, *grad_bias, *grad_scales;
};

/* Forward over rows of one task: Ŵ, Δa, the local derivatives of Ŵ and the regulariser
 * (its sum per row into row_reg, so the total is summed in a fixed order). */
static void forward_task(void *arg, int64_t task, int tid)
{
    (void)tid;
    const struct eval_job *jb = arg;
    struct refine_ws *ws = jb->ws;
    const struct ogq_qweight *st = ws->st;
    const float *w = ws->in->w, *tb = ws->in->bias, *v = jb->v;
    const int64_t cols = ws->cols, ka = ws->ka, ng = ws->ng;
    const double maxq = (double)ws->maxq, beta = jb->beta;
    const double span = OGQ_SOFT_ZETA - OGQ_SOFT_GAMMA;
    int64_t r0 = task * jb->rows_per_task, r1 = r0 + jb->rows_per_task;
    r1 = r1 < ws->rows ? r1 : ws->rows;
    for (int64_t r = r0; r < r1; r++) {
        double reg_sum = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            const int64_t i = r * cols + c, gi = r * ng + st->g_idx[c];
            const double s = jb->scales[gi], z = st->zeros[gi];
            double code, dv, ds;
            if (ws->soft) {
                /* h, h' and R_β, R'_β inline (one exp, one pow) — same formulas as
                 * ogq_soft_h / _h_grad / _reg / _reg_grad. */
                double sg = sigmoid(v[i]);
                double h = sg * span + OGQ_SOFT_GAMMA, hg = sg * (1.0 - sg) * span;
                if (h <= 0.0 || h >= 1.0) {
                    h = h <= 0.0 ? 0.0 : 1.0;
                    hg = 0.0;
                }
                double cs = (double)ws->base[i] + h;
                bool inside = cs >= 0.0 && cs <= maxq;
                code = cs < 0.0 ? 0.0 : cs > maxq ? maxq : cs;
                dv = inside ? s * hg : 0.0;
                ds = code - z;
                /* R_β = 1 − |2h − 1|^β is 0 where h is clipped to 0 or 1; elsewhere the power
                 * is taken in float (the costliest call of the step; the gradient is float). */
                double rg = 0.0;
                if (hg > 0.0) {
                    double e = 2.0 * h - 1.0, ae = fabs(e);
                    double p = (double)powf((float)ae, (float)beta);
                    reg_sum += 1.0 - p;
                    rg = ae > 0.0 ? -2.0 * beta * (p / ae) * (e > 0.0 ? 1.0 : -1.0) : 0.0;
                }
                ws->reg_g[i] = (float)(jb->reg_scale * rg * hg);
            } else {
                float t = v[i] / (float)s; /* as ogq_grid_code */
                double rc = (double)rintf(t) + z;
                bool inside = rc >= 0.0 && rc <= maxq;
                code = rc < 0.0 ? 0.0 : rc > maxq ? maxq : rc;
                dv = inside ? 1.0 : 0.0;
                ds = inside ? code - z - (double)t : code - z;
                ws->reg_g[i] = 0.0f;
            }
            double wh = s * (code - z);
            ws->w_hat[i] = (float)wh;
            ws->delta[r * ka + c] = (float)(wh - (double)w[i]);
            ws->dw_dv[i] = (float)dv;
            ws->dw_ds[i] = (float)ds;
        }
        if (tb)
            ws->delta[r * ka + cols] = (float)((double)jb->bias[r] - (double)tb[r]);
        ws->row_reg[r] = reg_sum;
    }
}

/* Backward over rows of one task: ∂(task)/∂Ŵa, then the chain rule to v, bias, scales. */
static void backward_task(void *arg, int64_t task, int tid)
{
    (void)tid;
    const struct eval_job *jb = arg;
    struct refine_ws *ws = jb->ws;
    const struct ogq_qweight *st = ws->st;
    const int64_t cols = ws->cols, ka = ws->ka, ng = ws->ng;
    const double f = 2.0 * ws->task_scale, q = jb->q;
    int64_t r0 = task * jb->rows_per_task, r1 = r0 + jb->rows_per_task;
    r1 = r1 < ws->rows ? r1 : ws->rows;
    for (int64_t r = r0; r < r1; r++) {
        float *gr = ws->g + r * ka;
        const float *p0 = ws->p0 + r * ka;
        const float *p1 = ws->p1 ? ws->p1 + r * ka : NULL, *p2 = ws->p2 ? ws->p2 + r * ka : NULL;
        for (int64_t j = 0; j < ka; j++) {
            double gj = (double)gr[j] + (double)p0[j];
            if (p1)
                gj += q * (double)p1[j] + q * q * (double)p2[j];
            gr[j] = (float)(f * gj);
        }
        if (jb->grad_v)
            for (int64_t c = 0; c < cols; c++) {
                const int64_t i = r * cols + c;
                jb->grad_v[i] =
                    (float)((double)gr[c] * (double)ws->dw_dv[i] + (double)ws->reg_g[i]);
            }
        if (jb->grad_bias)
            jb->grad_bias[r] = ws->in->bias ? gr[cols] : 0.0f;
        if (jb->grad_scales) {
            double acc[256]; /* per-group sums of one row, 256 groups at a time */
            for (int64_t g0 = 0; g0 < ng; g0 += 256) {
                int64_t g1 = g0 + 256 < ng ? g0 + 256 : ng;
                memset(acc, 0, sizeof acc);
                for (int64_t c = 0; c < cols; c++) {
                    int64_t g = st->g_idx[c];
                    if (g >= g0 && g < g1)
                        acc[g - g0] += (double)gr[c] * (double)ws->dw_ds[r * cols + c];
                }
                for (int64_t g = g0; g < g1; g++)
                    jb->grad_scales[r * ng + g] = (float)acc[g - g0];
            }
        }
    }
}

/* Objective at `step` for parameters (v, bias, scales); fills the requested gradients.
 * Returns the value when want_value (else 0). bias NULL: the teacher bias; scales NULL:
 * the start scales. */
static double ws_eval(struct refine_ws *ws, const float *v, const float *bias, const float *scales,
                      int64_t step, bool want_value, float *grad_v, float *grad_bias,
                      float *grad_scales)
{
    const struct ogq_refine_config *cfg = ws->cfg;
    const struct ogq_refine_layer *in = ws->in;
    const int64_t rows = ws->rows, cols = ws->cols, ka = ws->ka;
    struct eval_job jb = {
        .ws = ws,
        .v = v,
        .bias = bias ? bias : in->bias,
        .scales = scales ? scales : ws->st->scales,
        .q = ogq_gaq_fraction(&cfg->gradual_activation_quantization_config, step, ws->total),
        .beta = ogq_soft_beta(step, ws->total),
        .reg_scale = ws->soft ? cfg->regularization_factor / (double)(rows * cols) : 0.0,
        .grad_v = grad_v,
        .grad_bias = grad_bias,
        .grad_scales = grad_scales,
    };
    jb.rows_per_task = (EVAL_TASK_ELEMS + cols - 1) / cols;
    const int64_t tasks = (rows + jb.rows_per_task - 1) / jb.rows_per_task;
    const int threads = ogq_parallel_threads();

    if (!(jb.q == ws->q_cur)) {
        ogq_moments_at(ws->mom, jb.q, ws->stt, ws->stx);
        ws->q_cur = jb.q;
    }
    ogq_parallel_for(tasks, threads, forward_task, &jb);
    /* The one product per step: Δa S_t̃t̃ (the rest of the gradient is precomputed). */
    ogq_sgemm(false, false, rows, ka, ka, 1.0f, ws->delta, ka, ws->stt, ka, 0.0f, ws->g, ka);
    ogq_parallel_for(tasks, threads, backward_task, &jb);

    if (!want_value)
        return 0.0;
    double reg_sum = 0.0;
    for (int64_t r = 0; r < rows; r++)
        reg_sum += ws->row_reg[r];
    double loss = ogq_moments_loss(ws->mom, ws->w_hat, in->bias ? jb.bias : NULL, in->w, in->bias,
                                   rows, jb.q);
    double reg = ws->soft ? cfg->regularization_factor * reg_sum / (double)(rows * cols) : 0.0;
    return ws->task_scale * loss + reg;
}

double ogq_refine_objective(const struct ogq_refine_config *cfg, const struct ogq_refine_layer *in,
                            const float *v, const float *bias, const float *scales, int64_t step,
                            float *grad_v, float *grad_bias, float *grad_scales)
{
    struct refine_ws ws;
    if (ws_init(&ws, cfg, in, NULL) != OGQ_OK)
        return NAN;
    double val = ws_eval(&ws, v, bias, scales, step, true, grad_v, grad_bias, grad_scales);
    ws_fini(&ws);
    return val;
}

/* ------------------------------------------------------------------------ Adam */

struct adam {
    const struct ogq_adam_config *c;
    int64_t n;
    float *m, *v;
};

static enum ogq_status adam_init(struct adam *a, const struct ogq_adam_config *c, int64_t n,
                                 struct ogq_error *err)
{
    a->c = c;
    a->n = n;
    a->m = calloc((size_t)n, sizeof *a->m);
    a->v = calloc((size_t)n, sizeof *a->v);
    if (!a->m || !a->v)
        return OGQ_NOMEM(err);
    return OGQ_OK;
}

static void adam_fini(struct adam *a)
{
    free(a->m);
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* One Adam step t (1-based), Kingma & Ba Algorithm 1 with bias correction. */
static void adam_step(struct adam *a, int64_t t, float *theta, const float *grad)
{
    const double b1 = a->c->beta_1, b2 = a->c->beta_2, lr = a->c->lr, eps = a->c->eps;
    const double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    for (int64_t i = 0; i < a->n; i++) {
        double g = grad[i];
        double m = b1 * a->m[i] + (1.0 - b1) * g;
        double v = b2 * a->v[i] + (1.0 - b2) * g * g;
        a->m[i] = (float)m;
        a->v[i] = (float)v;
        theta[i] = (float)((double)theta[i] - lr * (m / c1) / (sqrt(v / c2) + eps));
    }
}

/* --------------------------------------------------------------------------- run */

static enum ogq_status qweight_copy(struct ogq_qweight *dst, const struct ogq_qweight *src,
                                    struct ogq_error *err)
{
    *dst = *src;
    dst->codes = malloc((size_t)(src->rows * src->cols));
    dst->scales = malloc((size_t)(src->rows * src->n_groups) * sizeof *dst->scales);
    dst->zeros = malloc((size_t)(src->rows * src->n_groups) * sizeof *dst->zeros);
    dst->g_idx = malloc((size_t)src->cols * sizeof *dst->g_idx);
    if (!dst->codes || !dst->scales || !dst->zeros || !dst->g_idx) {
        ogq_qweight_fini(dst);
        return OGQ_NOMEM(err);
    }
    memcpy(dst->codes, src->codes, (size_t)(src->rows * src->cols));
    memcpy(dst->scales, src->scales, (size_t)(src->rows * src->n_groups) * sizeof *dst->scales);
    memcpy(dst->zeros, src->zeros, (size_t)(src->rows * src->n_groups) * sizeof *dst->zeros);
    memcpy(dst->g_idx, src->g_idx, (size_t)src->cols * sizeof *dst->g_idx);
    return OGQ_OK;
}

/* Soft rounding: V with h(V) = t − ⌊t⌋, or, where step-0 hardening would then not give
 * the start code (ties that rint rounds to even, round-off of h ∘ h⁻¹, a prequant that
 * rounds the other way), V just past the middle on the start code's side. */
static void init_soft_v(const struct refine_ws *ws, float *v)
{
    const struct ogq_qweight *st = ws->st;
    const float *pre = ws->in->prequant ? ws->in->prequant : ws->in->w;
    const int maxq = ws->maxq;
    for (int64_t r = 0; r < ws->rows; r++)
        for (int64_t c = 0; c < ws->cols; c++) {
            const int64_t i = r * ws->cols + c, gi = r * ws->ng + st->g_idx[c];
            float t = pre[i] / st->scales[gi];
            float vi = (float)ogq_soft_v_init((double)t - floor((double)t));
            int b = (int)ws->base[i], code = st->codes[i];
            int lo = b < 0 ? 0 : b > maxq ? maxq : b;
            int hi = b + 1 < 0 ? 0 : b + 1 > maxq ? maxq : b + 1;
            if (lo != hi && (code == lo || code == hi)) {
                bool up = code == hi;
                /* Wrong side of ½: start just past the middle on the start code's side. */
                for (double d = V_NUDGE_MIN; (ogq_soft_h(vi) >= 0.5) != up && d < 1.0; d *= 2.0)
                    vi = (float)(up ? d : -d);
            }
            v[i] = vi;
        }
}

/* Hardened codes of the final parameters into `out` (whose scales are already final). */
static void harden(const struct refine_ws *ws, const float *v, struct ogq_qweight *out)
{
    const int maxq = ws->maxq;
    for (int64_t r = 0; r < ws->rows; r++)
        for (int64_t c = 0; c < ws->cols; c++) {
            const int64_t i = r * ws->cols + c, gi = r * ws->ng + out->g_idx[c];
            int code;
            if (ws->soft) {
                code = (int)ws->base[i] + (ogq_soft_h(v[i]) >= 0.5 ? 1 : 0);
                code = code < 0 ? 0 : code > maxq ? maxq : code;
            } else {
                code = ogq_grid_code(v[i], out->scales[gi], out->zeros[gi], maxq);
            }
            out->codes[i] = (uint8_t)code;
        }
}

enum ogq_status ogq_refine_layer_run(const struct ogq_refine_config *cfg,
                                     const struct ogq_refine_layer *in,
                                     struct ogq_refine_result *out, struct ogq_error *err)
{
    memset(out, 0, sizeof *out);
    struct refine_ws ws;
    OGQ_TRY(ws_init(&ws, cfg, in, err));
    const struct ogq_qweight *st = in->start;
    const int64_t rows = in->rows, cols = in->cols, ng = st->n_groups, nw = rows * cols;
    const bool train_bias = cfg->train_bias && in->bias;
    const bool learn_scales = cfg->quantization_parameter_learning;
    enum ogq_status status = OGQ_OK;
    struct adam opt_v = {0}, opt_b = {0}, opt_s = {0};
    float *v = malloc((size_t)nw * sizeof *v), *gv = malloc((size_t)nw * sizeof *gv);
    float *bias = NULL, *gb = NULL, *scales = NULL, *gs = NULL, *scale_min = NULL;
    float *deq = malloc((size_t)nw * sizeof *deq);
    if (!v || !gv || !deq)
        goto nomem;
    if (in->bias) {
        bias = malloc((size_t)rows * sizeof *bias);
        gb = malloc((size_t)rows * sizeof *gb);
        if (!bias || !gb)
            goto nomem;
        memcpy(bias, in->bias, (size_t)rows * sizeof *bias);
    }
    scales = malloc((size_t)(rows * ng) * sizeof *scales);
    gs = malloc((size_t)(rows * ng) * sizeof *gs);
    scale_min = malloc((size_t)(rows * ng) * sizeof *scale_min);
    if (!scales || !gs || !scale_min)
        goto nomem;
    for (int64_t i = 0; i < rows * ng; i++) {
        scales[i] = st->scales[i];
        float lo = (float)(SCALE_FLOOR_REL * fabs((double)st->scales[i]));
        scale_min[i] = lo > FLT_MIN ? lo : FLT_MIN;
    }
    if (ws.soft)
        init_soft_v(&ws, v);
    else
        memcpy(v, in->prequant ? in->prequant : in->w, (size_t)nw * sizeof *v);

    if ((status = adam_init(&opt_v, &cfg->optimizer, nw, err)) != OGQ_OK)
        goto fail;
    if (train_bias &&
        (status = adam_init(&opt_b,
                            cfg->has_optimizer_bias ? &cfg->optimizer_bias : &cfg->optimizer_rest,
                            rows, err)) != OGQ_OK)
        goto fail;
    if (learn_scales && (status = adam_init(&opt_s,
                                            cfg->has_optimizer_quantization_parameter
                                                ? &cfg->optimizer_quantization_parameter
                                                : &cfg->optimizer_rest,
                                            rows * ng, err)) != OGQ_OK)
        goto fail;

    for (int64_t step = 0; step < in->steps; step++) {
        bool first = step == 0, last = step == in->steps - 1;
        double val = ws_eval(&ws, v, bias, scales, step, first || last, gv, train_bias ? gb : NULL,
                             learn_scales ? gs : NULL);
        if (first)
            out->objective_first = val;
        if (last)
            out->objective_last = val;
        adam_step(&opt_v, step + 1, v, gv);
        if (train_bias)
            adam_step(&opt_b, step + 1, bias, gb);
        if (learn_scales) {
            adam_step(&opt_s, step + 1, scales, gs);
            for (int64_t i = 0; i < rows * ng; i++)
                if (!(scales[i] >= scale_min[i]))
                    scales[i] = scale_min[i];
        }
    }
    out->final_q =
        ogq_gaq_fraction(&cfg->gradual_activation_quantization_config, in->steps - 1, in->steps);

    /* Harden and compare with the start on the deployed loss. */
    if ((status = qweight_copy(&out->q, st, err)) != OGQ_OK)
        goto fail;
    memcpy(out->q.scales, scales, (size_t)(rows * ng) * sizeof *scales);
    harden(&ws, v, &out->q);
    ogq_qweight_dequantize(st, deq);
    out->loss_start = ogq_moments_loss(in->mom, deq, in->bias, in->w, in->bias, rows, 1.0);
    ogq_qweight_dequantize(&out->q, deq);
    out->loss_final = ogq_moments_loss(in->mom, deq, bias, in->w, in->bias, rows, 1.0);
    if (!(out->loss_final < out->loss_start)) {
        memcpy(out->q.codes, st->codes, (size_t)nw);
        memcpy(out->q.scales, st->scales, (size_t)(rows * ng) * sizeof *scales);
        if (bias)
            memcpy(bias, in->bias, (size_t)rows * sizeof *bias);
        out->loss_final = out->loss_start;
        out->kept_start = true;
    }
    for (int64_t i = 0; i < nw; i++)
        out->codes_changed += out->q.codes[i] != st->codes[i];
    out->bias = bias;
    bias = NULL;
    goto done;

nomem:
    status = OGQ_NOMEM(err);
fail:
    ogq_refine_result_fini(out);
done:
    adam_fini(&opt_v);
    adam_fini(&opt_b);
    adam_fini(&opt_s);
    free(v);
    free(gv);
    free(deq);
    free(bias);
    free(gb);
    free(scales);
    free(gs);
    free(scale_min);
    ws_fini(&ws);
    return status;
}
