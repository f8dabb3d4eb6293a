/* gptq.c — GPTQ column-by-column quantization with error feedback.
 *
 * Steps (the paper's Algorithm 1 as the reference implementation runs it):
 *   1. dead inputs: H[c][c] == 0 → H[c][c] = 1 and column c of W zeroed;
 *   2. grids: per row from the whole row, or with static groups per original group;
 *   3. act-order: permute columns (and H) by descending diag(H);
 *   4. damping λ = percdamp·mean(diag H) on the diagonal; U = upper Cholesky factor of
 *      H⁻¹ (retry with λ×10 if H + λI is not positive definite);
 *   5. for each block of B columns: quantize column c, err = (w − q)/U[c][c],
 *      update the block's remaining columns with err·U[c][c+1:], then the trailing
 *      columns at once with one sgemm (the "lazy batch" update);
 *   6. undo the permutation; record g_idx.
 * Deviation from the reference, on purpose: a group's grid is fitted to its columns as
 * updated so far — blocks are aligned to whole groups and in-block updates are applied in
 * place — whereas the reference reads a stale pre-block copy when a group starts inside
 * a block. These are the weights that actually get quantized; the unit test checks the
 * result equals OBQ with an explicit inverse.
 *
 * U comes from one Cholesky factorization of the index-reversed H plus one triangular
 * inverse (⅔·K³ flops instead of ⁴⁄₃·K³): with J the reversal, J H J = L Lᵀ gives
 * H = M Mᵀ with M = J L J upper, so H⁻¹ = (M⁻¹)ᵀ M⁻¹ and U = M⁻¹ = J L⁻¹ J.
 */
#include "gptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/linalg.h"
#include "runtime/linalg_lapack.h"

void ogq_gptq_opts_init(struct ogq_gptq_opts *o)
{
    ogq_grid_opts_init(&o->grid);
    o->group_size = 128;
    o->percdamp = 0.01;
    o->block_size = 128;
    o->act_order = false;
    o->static_groups = false;
    o->max_damp_tries = 6;
    o->keep_prequant = false;
}

void ogq_qweight_fini(struct ogq_qweight *q)
{
    free(q->codes);
    free(q->scales);
    free(q->zeros);
    free(q->g_idx);
    free(q->prequant);
    memset(q, 0, sizeof *q);
}

static enum ogq_status check_opts(const struct ogq_gptq_opts *o, int64_t rows, int64_t cols,
                                  struct ogq_error *err)
{
    if (o->grid.bits < 2 || o->grid.bits > 8)
        return ogq_error_set(err, OGQ_ERR_USAGE, "bits must be 2..8, got %d", o->grid.bits);
    if (rows <= 0 || cols <= 0)
        return ogq_error_set(err, OGQ_ERR_USAGE, "weight matrix is empty (%lld x %lld)",
                             (long long)rows, (long long)cols);
    if (o->block_size <= 0)
        return ogq_error_set(err, OGQ_ERR_USAGE, "block size must be positive");
    if (!(o->percdamp >= 0.0) || !isfinite(o->percdamp))
        return ogq_error_set(err, OGQ_ERR_USAGE, "damping must be a non-negative number");
    if (o->grid.mse && (o->grid.mse_grid <= 0 || !(o->grid.mse_maxshrink > 0.0f)))
        return ogq_error_set(err, OGQ_ERR_USAGE, "bad MSE grid search settings");
    return OGQ_OK;
}

/* Allocates the result arrays for `n_groups` grids per row. */
static enum ogq_status qweight_alloc(struct ogq_qweight *q, int64_t rows, int64_t cols,
                                     int64_t n_groups, const struct ogq_gptq_opts *o,
                                     struct ogq_error *err)
{
    memset(q, 0, sizeof *q);
    q->rows = rows;
    q->cols = cols;
    q->bits = o->grid.bits;
    q->sym = o->grid.sym;
    q->group_size = o->group_size;
    q->n_groups = n_groups;
    q->codes = malloc((size_t)(rows * cols));
    q->scales = malloc((size_t)(rows * n_groups) * sizeof *q->scales);
    q->zeros = malloc((size_t)(rows * n_groups) * sizeof *q->zeros);
    q->g_idx = malloc((size_t)cols * sizeof *q->g_idx);
    if (o->keep_prequant)
        q->prequant = malloc((size_t)(rows * cols) * sizeof *q->prequant);
    if (!q->codes || !q->scales || !q->zeros || !q->g_idx || (o->keep_prequant && !q->prequant)) {
        ogq_qweight_fini(q);
        return OGQ_NOMEM(err);
    }
    return OGQ_OK;
}

static int64_t groups_for(const struct ogq_gptq_opts *o, int64_t cols)
{
    return o->group_size > 0 ? (cols + o->group_size - 1) / o->group_size : 1;
}

enum ogq_status ogq_rtn_quantize(const float *w, int64_t rows, int64_t cols,
                                 const struct ogq_gptq_opts *opts, struct ogq_qweight *out,
                                 struct ogq_error *err)
{
    OGQ_TRY(check_opts(opts, rows, cols, err));
    int64_t gs = opts->group_size > 0 ? opts->group_size : cols;
    int64_t ng = groups_for(opts, cols);
    OGQ_TRY(qweight_alloc(out, rows, cols, ng, opts, err));
    int maxq = (1 << opts->grid.bits) - 1;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t g = 0; g < ng; g++) {
            int64_t c0 = g * gs, c1 = c0 + gs < cols ? c0 + gs : cols;
            float s, z;
            ogq_grid_find(&opts->grid, w + r * cols + c0, c1 - c0, 1, &s, &z);
            out->scales[r * ng + g] = s;
            out->zeros[r * ng + g] = z;
            for (int64_t c = c0; c < c1; c++)
                out->codes[r * cols + c] = (uint8_t)ogq_grid_code(w[r * cols + c], s, z, maxq);
        }
    }
    for (int64_t c = 0; c < cols; c++)
        out->g_idx[c] = (int32_t)(c / gs);
    out->groups_contiguous = true;
    out->percdamp_used = 0.0;
    if (out->prequant)
        memcpy(out->prequant, w, (size_t)(rows * cols) * sizeof *w);
    return OGQ_OK;
}

/* Stable order of columns by descending diag(h). */
static int64_t *act_order_perm(const double *h, int64_t cols)
{
    int64_t *perm = malloc((size_t)cols * sizeof *perm);
    if (!perm)
        return NULL;
    for (int64_t i = 0; i < cols; i++)
        perm[i] = i;
    /* Insertion-free merge sort would do; a simple bottom-up merge keeps it stable. */
    int64_t *tmp = malloc((size_t)cols * sizeof *tmp);
    if (!tmp) {
        free(perm);
        return NULL;
    }
    for (int64_t width = 1; width < cols; width *= 2) {
        for (int64_t lo = 0; lo < cols; lo += 2 * width) {
            int64_t mid = lo + width < cols ? lo + width : cols;
            int64_t hi = lo + 2 * width < cols ? lo + 2 * width : cols;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) {
                double da = h[perm[a] * cols + perm[a]], db = h[perm[b] * cols + perm[b]];
                tmp[k++] = da >= db ? perm[a++] : perm[b++];
            }
            while (a < mid)
                tmp[k++] = perm[a++];
            while (b < hi)
                tmp[k++] = perm[b++];
        }
        memcpy(perm, tmp, (size_t)cols * sizeof *perm);
    }
    free(tmp);
    return perm;
}

/* U (upper, float, cols×cols row-major) with H⁻¹ = UᵀU, for H + λI. Returns 0 or the
 * LAPACK failure index. `work` is cols×cols doubles. */
static int inverse_cholesky_upper(const double *h, int64_t n, double damp, double *work, float *u)
{
    /* work = J (H + λI) J, lower triangle. */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++)
            work[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)] + (i == j ? damp : 0.0);
    int info = ogq_dpotrf_lower(n, work);
    if (info)
        return info;
    info = ogq_dtrtri_lower(n, work);
    if (info)
        return info;
    /* U[i][j] = Linv[n-1-i][n-1-j] for j >= i (Linv lower). */
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < i; j++)
            u[i * n + j] = 0.0f;
        for (int64_t j = i; j < n; j++)
            u[i * n + j] = (float)work[(n - 1 - i) * n + (n - 1 - j)];
    }
    return 0;
}

enum ogq_status ogq_gptq_quantize(const float *w, int64_t rows, int64_t cols, const double *h,
                                  const struct ogq_gptq_opts *opts, struct ogq_qweight *out,
                                  struct ogq_error *err)
{
    OGQ_TRY(check_opts(opts, rows, cols, err));
    const int64_t gs = opts->group_size > 0 ? opts->group_size : 0;
    /* Blocks hold whole groups, so a group's grid is fitted on fully updated weights
     * (with B = 128 and g = 128, the usual setting, this changes nothing). */
    int64_t B = opts->block_size;
    if (gs > 0 && !opts->static_groups)
        B = B >= gs ? B / gs * gs : gs;
    const int64_t n = cols;
    const int64_t ng = groups_for(opts, cols);
    const int maxq = (1 << opts->grid.bits) - 1;
    const bool act = opts->act_order;
    const bool static_groups = gs > 0 && opts->static_groups;
    enum ogq_status st = OGQ_OK;

    double *hd = malloc((size_t)(n * n) * sizeof *hd);      /* H, dead-fixed, permuted */
    double *work = malloc((size_t)(n * n) * sizeof *work);  /* factorization scratch */
    float *u = malloc((size_t)(n * n) * sizeof *u);         /* upper factor of H⁻¹ */
    float *wz = malloc((size_t)(rows * n) * sizeof *wz);    /* W with dead columns zeroed */
    float *wt = malloc((size_t)(rows * n) * sizeof *wt);    /* working Wᵀ, permuted */
    float *errb = malloc((size_t)(rows * B) * sizeof *errb); /* block errors, B × rows */
    uint8_t *codes_p = malloc((size_t)(rows * n));          /* codes, permuted column order */
    float *pre_p = opts->keep_prequant ? malloc((size_t)(rows * n) * sizeof *pre_p) : NULL;
    float *gscale = malloc((size_t)rows * sizeof *gscale);  /* current grid per row */
    float *gzero = malloc((size_t)rows * sizeof *gzero);
    unsigned char *dead = calloc((size_t)n, 1);
    int64_t *perm = NULL;
    if (!hd || !work || !u || !wz || !wt || !errb || !codes_p || !gscale || !gzero || !dead ||
        (opts->keep_prequant && !pre_p)) {
        st = OGQ_NOMEM(err);
        goto out;
    }
    st = qweight_alloc(out, rows, cols, ng, opts, err);
    if (st != OGQ_OK)
        goto out;

    /* 1. Dead inputs. */
    memcpy(hd, h, (size_t)(n * n) * sizeof *hd);
    memcpy(wz, w, (size_t)(rows * n) * sizeof *wz);
    for (int64_t c = 0; c < n; c++) {
        if (hd[c * n + c] == 0.0) {
            dead[c] = 1;
            hd[c * n + c] = 1.0;
            for (int64_t r = 0; r < rows; r++)
                wz[r * n + c] = 0.0f;
            out->dead_cols++;
        }
    }

    /* 2. Grids known up front: per row, or static groups on the original order. */
    if (gs == 0) {
        for (int64_t r = 0; r < rows; r++)
            ogq_grid_find(&opts->grid, wz + r * n, n, 1, &out->scales[r], &out->zeros[r]);
    } else if (static_groups) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g = 0; g < ng; g++) {
                int64_t c0 = g * gs, len = c0 + gs < n ? gs : n - c0;
                ogq_grid_find(&opts->grid, wz + r * n + c0, len, 1, &out->scales[r * ng + g],
                              &out->zeros[r * ng + g]);
            }
    }

    /* 3. Act-order permutation (identity otherwise). */
    if (act) {
        perm = act_order_perm(hd, n);
        if (!perm) {
            st = OGQ_NOMEM(err);
            goto out;
        }
        /* Permute H into work, then copy back. */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                work[i * n + j] = hd[perm[i] * n + perm[j]];
        memcpy(hd, work, (size_t)(n * n) * sizeof *hd);
    }
    for (int64_t j = 0; j < n; j++) {
        int64_t c = act ? perm[j] : j;
        for (int64_t r = 0; r < rows; r++)
            wt[j * rows + r] = wz[r * n + c];
    }

    /* 4. Damping and U = chol(H⁻¹) upper, retrying with more damping. */
    double mean_diag = 0.0;
    for (int64_t i = 0; i < n; i++)
        mean_diag += hd[i * n + i];
    mean_diag /= (double)n;
    double percdamp = opts->percdamp;
    int tries = 0, info = 1;
    int max_tries = opts->max_damp_tries > 0 ? opts->max_damp_tries : 1;
    while (tries < max_tries) {
        tries++;
        info = inverse_cholesky_upper(hd, n, percdamp * mean_diag, work, u);
        if (info == 0)
            break;
        percdamp = percdamp > 0.0 ? percdamp * 10.0 : 0.01;
    }
    if (info != 0) {
        st = ogq_error_set(err, OGQ_ERR_NUMERIC,
                           "Hessian is not positive definite even with damping %g (after %d tries)",
                           percdamp / 10.0, tries);
        goto out;
    }
    out->percdamp_used = percdamp;
    out->damp_tries = tries;

    /* 5. Column loop with lazy block updates. */
    for (int64_t i1 = 0; i1 < n; i1 += B) {
        int64_t i2 = i1 + B < n ? i1 + B : n;
        for (int64_t c = i1; c < i2; c++) {
            float *col = wt + c * rows;
            const float *scale_r, *zero_r;
            int64_t stride = 1;
            if (gs == 0) {
                scale_r = out->scales;
                zero_r = out->zeros;
            } else if (static_groups) {
                int64_t g = (act ? perm[c] : c) / gs;
                scale_r = out->scales + g;
                zero_r = out->zeros + g;
                stride = ng;
            } else {
                int64_t g = c / gs;
                if (c % gs == 0) {
                    int64_t len = c + gs < n ? gs : n - c;
                    for (int64_t r = 0; r < rows; r++)
                        ogq_grid_find(&opts->grid, wt + c * rows + r, len, rows,
                                      &out->scales[r * ng + g], &out->zeros[r * ng + g]);
                }
                scale_r = out->scales + g;
                zero_r = out->zeros + g;
                stride = ng;
            }
            float d = u[c * n + c];
            float *e = errb + (c - i1) * rows;
            uint8_t *cp = codes_p + c * rows;
            for (int64_t r = 0; r < rows; r++) {
                float s = scale_r[r * stride], z = zero_r[r * stride];
                int code = ogq_grid_code(col[r], s, z, maxq);
                cp[r] = (uint8_t)code;
                if (pre_p)
                    pre_p[c * rows + r] = col[r];
                e[r] = (col[r] - ogq_grid_value(code, s, z)) / d;
            }
            /* In-block update of the remaining columns of this block. */
            const float *urow = u + c * n;
            for (int64_t j = c + 1; j < i2; j++) {
                float f = urow[j];
                float *wj = wt + j * rows;
                for (int64_t r = 0; r < rows; r++)
                    wj[r] -= f * e[r];
            }
        }
        /* Trailing update: Wt[i2:, :] -= U[i1:i2, i2:]ᵀ · Err[i1:i2, :]. */
        if (i2 < n)
            ogq_sgemm(true, false, n - i2, rows, i2 - i1, -1.0f, u + i1 * n + i2, n, errb, rows,
                      1.0f, wt + i2 * rows, rows);
    }

    /* 6. Codes and group indices back in the original column order. */
    for (int64_t j = 0; j < n; j++) {
        int64_t c = act ? perm[j] : j;
        for (int64_t r = 0; r < rows; r++)
            out->codes[r * n + c] = codes_p[j * rows + r];
        if (pre_p)
            for (int64_t r = 0; r < rows; r++)
                out->prequant[r * n + c] = pre_p[j * rows + r];
        if (gs == 0)
            out->g_idx[c] = 0;
        else if (static_groups)
            out->g_idx[c] = (int32_t)(c / gs);
        else
            out->g_idx[c] = (int32_t)(j / gs);
    }
    out->groups_contiguous = true;
    for (int64_t c = 0; c < n; c++)
        if (gs > 0 && out->g_idx[c] != (int32_t)(c / gs))
            out->groups_contiguous = false;
out:
    if (st != OGQ_OK)
        ogq_qweight_fini(out);
    free(hd);
    free(work);
    free(u);
    free(wz);
    free(wt);
    free(errb);
    free(codes_p);
    free(pre_p);
    free(gscale);
    free(gzero);
    free(dead);
    free(perm);
    return st;
}

void ogq_qweight_dequantize(const struct ogq_qweight *q, float *w_out)
{
    for (int64_t r = 0; r < q->rows; r++)
        for (int64_t c = 0; c < q->cols; c++) {
            int64_t g = q->g_idx[c];
            w_out[r * q->cols + c] = ogq_grid_value(q->codes[r * q->cols + c],
                                                    q->scales[r * q->n_groups + g],
                                                    q->zeros[r * q->n_groups + g]);
        }
}

double ogq_proxy_loss(const float *w, const float *q, int64_t rows, int64_t cols, const double *h)
{
    /* T = Δ·H with one sgemm (float is ample for a report), then Σ Δ∘T in double. */
    float *d = calloc((size_t)(rows * cols), sizeof *d);
    float *hf = calloc((size_t)(cols * cols), sizeof *hf);
    float *t = calloc((size_t)(rows * cols), sizeof *t);
    double total = NAN;
    if (d && hf && t) {
        for (int64_t i = 0; i < rows * cols; i++)
            d[i] = w[i] - q[i];
        for (int64_t i = 0; i < cols * cols; i++)
            hf[i] = (float)h[i];
        ogq_sgemm(false, false, rows, cols, cols, 1.0f, d, cols, hf, cols, 0.0f, t, cols);
        total = 0.0;
        for (int64_t i = 0; i < rows * cols; i++)
            total += (double)d[i] * t[i];
        total *= 0.5;
    }
    free(d);
    free(hf);
    free(t);
    return total;
}
