/* kernels_matmul.c — MatMul, Gemm and Einsum.
 *
 * Float math is float32 through OpenBLAS sgemm (sgemv for vector cases):
 *   MatMul  numpy semantics. When B has no batch (or an all-ones batch) the whole batch of
 *           A is folded into the rows of one sgemm (split over the threads by
 *           ogq_sgemm); otherwise one sgemm per broadcast batch entry, the entries spread
 *           over the threads. int32/int64 use a plain loop with wrap-around arithmetic.
 *   Gemm    Y is first filled with beta * C (unidirectional broadcast), then one sgemm
 *           with beta = 1 accumulates alpha * op(A) op(B).
 *   Einsum  the equation is parsed at plan time. Two-operand contractions without
 *           repeated labels become one batched sgemm: labels are classed batch (both
 *           inputs and the output), m (A and out), n (B and out), k (A and B only);
 *           operands are used in place when their layout is already [batch, m|k, k|m]
 *           (transposes are sgemm flags), otherwise permuted into scratch, and the
 *           [batch, m, n] result is permuted into the output when needed. Everything
 *           else (one or 3+ operands, diagonals, single-operand sums, size-1 broadcast
 *           dims) runs a general strided loop accumulating in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kernel_util.h"
#include "linalg.h"

static enum ogq_status unsupported(const struct ogq_kernel_ctx *ctx, const char *what)
{
    return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err, "%s", what);
}

/* Iterates the broadcast batch of a batched matmul: for each output batch entry, the
 * matrix index into A and B. */
struct batch_iter {
    int rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    int64_t sa[OGQ_RT_MAX_RANK], sb[OGQ_RT_MAX_RANK]; /* strides in matrices, 0 = broadcast */
    int64_t idx[OGQ_RT_MAX_RANK];
    int64_t a, b; /* current matrix indices */
};

/* a_dims/b_dims: batch dims of A and B (ranks ra, rb); out: broadcast batch (rank r). */
static void batch_iter_init(struct batch_iter *it, int r, const int64_t *out, int ra,
                            const int64_t *a_dims, int rb, const int64_t *b_dims)
{
    memset(it, 0, sizeof *it);
    it->rank = r;
    int64_t sa = 1, sb = 1;
    for (int d = r - 1; d >= 0; d--) {
        it->dims[d] = out[d];
        int da = d - (r - ra), db = d - (r - rb);
        it->sa[d] = da >= 0 && a_dims[da] != 1 ? sa : 0;
        it->sb[d] = db >= 0 && b_dims[db] != 1 ? sb : 0;
        if (da >= 0)
            sa *= a_dims[da];
        if (db >= 0)
            sb *= b_dims[db];
    }
}

static void batch_iter_next(struct batch_iter *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        it->a += it->sa[d];
        it->b += it->sb[d];
        if (++it->idx[d] < it->dims[d])
            return;
        it->a -= it->sa[d] * it->dims[d];
        it->b -= it->sb[d] * it->dims[d];
        it->idx[d] = 0;
    }
}

/* ---------------------------------------------------------------- MatMul */

struct mm_shape {
    int64_t m, k, n;
    int ra, rb, r; /* batch ranks of A, B and the output */
    int64_t a_batch[OGQ_RT_MAX_RANK], b_batch[OGQ_RT_MAX_RANK], batch[OGQ_RT_MAX_RANK];
    int64_t na, nb, nbatch; /* batch element counts */
};

static enum ogq_status mm_shape(struct ogq_kernel_ctx *ctx, struct mm_shape *s)
{
    const struct ogq_rt_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    if (a->rank < 1 || b->rank < 1)
        return OGQ_KFAIL(ctx, "inputs must have rank >= 1 (got %d and %d)", a->rank, b->rank);
    s->m = a->rank == 1 ? 1 : a->dims[a->rank - 2];
    s->k = a->dims[a->rank - 1];
    int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    s->n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (kb != s->k)
        return OGQ_KFAIL(ctx, "inner dimensions differ (%lld vs %lld)", (long long)s->k,
                         (long long)kb);
    s->ra = a->rank > 2 ? a->rank - 2 : 0;
    s->rb = b->rank > 2 ? b->rank - 2 : 0;
    s->r = s->ra > s->rb ? s->ra : s->rb;
    memcpy(s->a_batch, a->dims, sizeof(int64_t) * (size_t)s->ra);
    memcpy(s->b_batch, b->dims, sizeof(int64_t) * (size_t)s->rb);
    s->na = s->nb = s->nbatch = 1;
    for (int d = 0; d < s->r; d++) {
        int da = d - (s->r - s->ra), db = d - (s->r - s->rb);
        int64_t x = da >= 0 ? s->a_batch[da] : 1, y = db >= 0 ? s->b_batch[db] : 1;
        if (x != y && x != 1 && y != 1)
            return OGQ_KFAIL(ctx, "batch dimensions cannot be broadcast (%lld vs %lld)",
                             (long long)x, (long long)y);
        s->batch[d] = x == 1 ? y : x;
        s->na *= x;
        s->nb *= y;
        s->nbatch *= s->batch[d];
    }
    return OGQ_OK;
}

static enum ogq_status matmul_infer(struct ogq_kernel_ctx *ctx)
{
    if (ctx->n_inputs != 2 || !ctx->inputs[0] || !ctx->inputs[1])
        return OGQ_KFAIL(ctx, "expects 2 inputs");
    static const enum ogq_dtype ok[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT32, OGQ_DTYPE_INT64};
    OGQ_TRY(ogq_require_input(ctx, 0, ok, 3));
    OGQ_TRY(ogq_require_input(ctx, 1, ok, 3));
    if (ctx->inputs[0]->dtype != ctx->inputs[1]->dtype)
        return OGQ_KFAIL(ctx, "input dtypes differ (%s vs %s)",
                         ogq_dtype_name(ctx->inputs[0]->dtype),
                         ogq_dtype_name(ctx->inputs[1]->dtype));
    struct mm_shape s;
    OGQ_TRY(mm_shape(ctx, &s));
    int64_t dims[OGQ_RT_MAX_RANK];
    int r = s.r;
    memcpy(dims, s.batch, sizeof(int64_t) * (size_t)r);
    if (ctx->inputs[0]->rank > 1)
        dims[r++] = s.m;
    if (ctx->inputs[1]->rank > 1)
        dims[r++] = s.n;
    return ogq_rt_tensor_set_shape(ctx->outputs[0], ctx->inputs[0]->dtype, r, dims, ctx->node->name,
                                   ctx->err);
}

#define MATMUL_INT_LOOP(T)                                                                         \
    do {                                                                                           \
        const T *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;                              \
        T *y = ctx->outputs[0]->data;                                                              \
        for (int64_t e = 0; e < s.nbatch; e++, batch_iter_next(&it)) {                             \
            const T *pa = a + it.a * s.m * s.k, *pb = b + it.b * s.k * s.n;                        \
            T *py = y + e * s.m * s.n;                                                             \
            for (int64_t i = 0; i < s.m; i++) {                                                    \
                for (int64_t j = 0; j < s.n; j++)                                                  \
                    py[i * s.n + j] = 0;                                                           \
                for (int64_t p = 0; p < s.k; p++) {                                                \
                    uint64_t x = (uint64_t)pa[i * s.k + p];                                        \
                    for (int64_t j = 0; j < s.n; j++)                                              \
                        py[i * s.n + j] =                                                          \
                            (T)((uint64_t)py[i * s.n + j] + x * (uint64_t)pb[p * s.n + j]);        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

struct mm_batch_job {
    const struct mm_shape *s;
    const float *a, *b;
    float *y;
    int64_t sa[OGQ_RT_MAX_RANK], sb[OGQ_RT_MAX_RANK]; /* matrix strides, 0 = broadcast */
};

/* Batch entry e: decode its index over the broadcast batch into A's and B's matrices. */
static void mm_batch_task(void *p, int64_t e, int tid)
{
    (void)tid;
    const struct mm_batch_job *jb = p;
    const struct mm_shape *s = jb->s;
    int64_t rem = e, ia = 0, ib = 0;
    for (int d = s->r - 1; d >= 0; d--) {
        int64_t i = rem % s->batch[d];
        rem /= s->batch[d];
        ia += i * jb->sa[d];
        ib += i * jb->sb[d];
    }
    ogq_sgemm(false, false, s->m, s->n, s->k, 1.0f, jb->a + ia * s->m * s->k, s->k,
              jb->b + ib * s->k * s->n, s->n, 0.0f, jb->y + e * s->m * s->n, s->n);
}

static enum ogq_status matmul_run(struct ogq_kernel_ctx *ctx)
{
    struct mm_shape s;
    OGQ_TRY(mm_shape(ctx, &s));
    if (ctx->outputs[0]->numel == 0)
        return OGQ_OK;
    struct batch_iter it;
    batch_iter_init(&it, s.r, s.batch, s.ra, s.a_batch, s.rb, s.b_batch);
    switch (ctx->outputs[0]->dtype) {
    case OGQ_DTYPE_INT32:
        MATMUL_INT_LOOP(int32_t);
        return OGQ_OK;
    case OGQ_DTYPE_INT64:
        MATMUL_INT_LOOP(int64_t);
        return OGQ_OK;
    case OGQ_DTYPE_FLOAT:
        break;
    default:
        return unsupported(ctx, "unsupported dtype");
    }
    const float *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;
    float *y = ctx->outputs[0]->data;
    if (s.nb == 1) {
        /* B is one matrix: A's batch rows are contiguous, so fold them into M. (When B
         * has a larger all-ones batch rank the output batch still equals A's.) */
        ogq_sgemm(false, false, s.na * s.m, s.n, s.k, 1.0f, a, s.k, b, s.n, 0.0f, y, s.n);
        return OGQ_OK;
    }
    /* One sgemm per batch entry, entries spread over the threads (each entry's sgemm then
     * runs single-threaded). */
    struct mm_batch_job jb = {&s, a, b, y, {0}, {0}};
    for (int d = 0; d < s.r; d++) {
        jb.sa[d] = it.sa[d];
        jb.sb[d] = it.sb[d];
    }
    if (s.nbatch >= ctx->threads) {
        ogq_parallel_for(s.nbatch, ctx->threads, mm_batch_task, &jb);
    } else { /* fewer entries than threads: each sgemm is split over the threads */
        for (int64_t e = 0; e < s.nbatch; e++)
            mm_batch_task(&jb, e, 0);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Gemm */

struct gemm_params {
    bool trans_a, trans_b;
    float alpha, beta;
    bool exact_c; /* opset < 7 with broadcast = 0: C must be M x N */
};

static enum ogq_status gemm_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                    struct ogq_error *err)
{
    struct gemm_params *p = calloc(1, sizeof *p);
    if (!p)
        return ogq_kernel_fail(node, OGQ_ERR_NOMEM, err, "out of memory");
    p->trans_a = ogq_node_attr_int(node, "transA", 0) != 0;
    p->trans_b = ogq_node_attr_int(node, "transB", 0) != 0;
    p->alpha = ogq_node_attr_float(node, "alpha", 1.0f);
    p->beta = ogq_node_attr_float(node, "beta", 1.0f);
    p->exact_c = opset < 7 && ogq_node_attr_int(node, "broadcast", 0) == 0;
    *params = p;
    return OGQ_OK;
}

static void gemm_release(void *params)
{
    free(params);
}

static enum ogq_status gemm_infer(struct ogq_kernel_ctx *ctx)
{
    const struct gemm_params *p = ctx->params;
    if (ctx->n_inputs < 2 || ctx->n_inputs > 3 || !ctx->inputs[0] || !ctx->inputs[1])
        return OGQ_KFAIL(ctx, "expects inputs A, B and optional C");
    for (size_t i = 0; i < ctx->n_inputs; i++)
        if (ctx->inputs[i])
            OGQ_TRY(ogq_require_float(ctx, i));
    const struct ogq_rt_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    const struct ogq_rt_tensor *c = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    if (a->rank != 2 || b->rank != 2)
        return OGQ_KFAIL(ctx, "A and B must be 2-D (got rank %d and %d)", a->rank, b->rank);
    int64_t m = p->trans_a ? a->dims[1] : a->dims[0], k = p->trans_a ? a->dims[0] : a->dims[1];
    int64_t kb = p->trans_b ? b->dims[1] : b->dims[0], n = p->trans_b ? b->dims[0] : b->dims[1];
    if (k != kb)
        return OGQ_KFAIL(ctx, "inner dimensions differ (%lld vs %lld)", (long long)k,
                         (long long)kb);
    if (c) {
        bool ok = c->rank <= 2;
        if (ok && c->rank >= 1)
            ok = c->dims[c->rank - 1] == n || (!p->exact_c && c->dims[c->rank - 1] == 1);
        if (ok && c->rank == 2)
            ok = c->dims[0] == m || (!p->exact_c && c->dims[0] == 1);
        if (ok && p->exact_c)
            ok = c->rank == 2;
        if (!ok)
            return OGQ_KFAIL(ctx, "C (rank %d) cannot be broadcast to [%lld, %lld]", c->rank,
                             (long long)m, (long long)n);
    }
    int64_t dims[2] = {m, n};
    return ogq_rt_tensor_set_shape(ctx->outputs[0], OGQ_DTYPE_FLOAT, 2, dims, ctx->node->name,
                                   ctx->err);
}

static enum ogq_status gemm_run(struct ogq_kernel_ctx *ctx)
{
    const struct gemm_params *p = ctx->params;
    const struct ogq_rt_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    const struct ogq_rt_tensor *c = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    float *y = ctx->outputs[0]->data;
    const int64_t m = ctx->outputs[0]->dims[0], n = ctx->outputs[0]->dims[1];
    const int64_t k = p->trans_a ? a->dims[0] : a->dims[1];
    if (m == 0 || n == 0)
        return OGQ_OK;
    float beta = 0.0f;
    if (c && p->beta != 0.0f) {
        const float *cv = c->data;
        const float bt = p->beta;
        const int64_t cm = c->rank == 2 ? c->dims[0] : 1;
        const int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        for (int64_t i = 0; i < m; i++) {
            const float *crow = cv + (cm == 1 ? 0 : i) * cn;
            float *yr = y + i * n;
            if (cn == 1)
                for (int64_t j = 0; j < n; j++)
                    yr[j] = bt * crow[0];
            else
                for (int64_t j = 0; j < n; j++)
                    yr[j] = bt * crow[j];
        }
        beta = 1.0f;
    }
    ogq_sgemm(p->trans_a, p->trans_b, m, n, k, p->alpha, a->data, a->dims[1], b->data, b->dims[1],
              beta, y, n);
    return OGQ_OK;
}

/* ---------------------------------------------------------------- Einsum */

#define EIN_MAX_OPS 16
#define EIN_LETTERS 52
#define EIN_MAX_LABELS (EIN_LETTERS + OGQ_RT_MAX_RANK)

struct ein_term {
    int n;                       /* letters */
    int8_t lab[OGQ_RT_MAX_RANK]; /* letter labels 0..51 */
    int ell;                     /* position of "..." among the letters, -1 if none */
};

struct ein_params {
    int n_ops;
    struct ein_term in[EIN_MAX_OPS];
    struct ein_term out;
    bool explicit_out;
};

static int ein_letter(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= 'A' && c <= 'Z')
        return c - 'A'; /* uppercase sorts first, as in ASCII (implicit output order) */
    return -1;
}

/* Parses one term from s[0..len) (whitespace already removed). */
static bool ein_parse_term(const char *s, size_t len, struct ein_term *t)
{
    t->n = 0;
    t->ell = -1;
    for (size_t i = 0; i < len;) {
        if (s[i] == '.') {
            if (t->ell >= 0 || len - i < 3 || s[i + 1] != '.' || s[i + 2] != '.')
                return false;
            t->ell = t->n;
            i += 3;
            continue;
        }
        int l = ein_letter(s[i]);
        if (l < 0 || t->n >= OGQ_RT_MAX_RANK)
            return false;
        t->lab[t->n++] = (int8_t)l;
        i++;
    }
    return true;
}

static enum ogq_status einsum_prepare(const struct ogq_node *node, int64_t opset, void **params,
                                      struct ogq_error *err)
{
    (void)opset;
    const struct ogq_attr *a = ogq_node_attr(node, "equation");
    if (!a || a->type != OGQ_ATTR_STRING)
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err, "missing 'equation' attribute");
    char eq[256];
    size_t len = 0;
    for (size_t i = 0; i < a->s.len; i++) {
        char ch = (char)a->s.data[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
            continue;
        if (len + 1 >= sizeof eq)
            return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "equation is too long");
        eq[len++] = ch;
    }
    eq[len] = 0;
    struct ein_params *p = calloc(1, sizeof *p);
    if (!p)
        return ogq_kernel_fail(node, OGQ_ERR_NOMEM, err, "out of memory");
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : len;
    bool ok = true;
    for (size_t start = 0, i = 0; ok && i <= lhs_len; i++) {
        if (i < lhs_len && eq[i] != ',')
            continue;
        if (p->n_ops >= EIN_MAX_OPS) {
            free(p);
            return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "more than %d operands",
                                   EIN_MAX_OPS);
        }
        ok = ein_parse_term(eq + start, i - start, &p->in[p->n_ops++]);
        start = i + 1;
    }
    if (ok && arrow) {
        p->explicit_out = true;
        ok = strstr(arrow + 2, "->") == NULL &&
             ein_parse_term(arrow + 2, strlen(arrow + 2), &p->out);
        bool seen[EIN_LETTERS] = {false};
        for (int i = 0; ok && i < p->out.n; i++) {
            ok = !seen[p->out.lab[i]];
            seen[p->out.lab[i]] = true;
        }
    }
    if (!ok) {
        free(p);
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "cannot parse equation '%s'", eq);
    }
    if ((size_t)p->n_ops != node->n_inputs) {
        int n = p->n_ops;
        free(p);
        return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                               "equation has %d operands but the node has %zu inputs", n,
                               node->n_inputs);
    }
    *params = p;
    return OGQ_OK;
}

static void einsum_release(void *params)
{
    free(params);
}

/* Labels resolved against the actual input ranks. Ellipsis dims get labels
 * EIN_LETTERS + j, right-aligned over the widest ellipsis. */
struct ein_plan {
    int n_ops;
    int rank[EIN_MAX_OPS];
    int8_t lab[EIN_MAX_OPS][OGQ_RT_MAX_RANK];
    int out_rank;
    int8_t out_lab[EIN_MAX_LABELS]; /* checked against OGQ_RT_MAX_RANK after filling */
    int64_t size[EIN_MAX_LABELS];   /* 0 = label unused */
    bool used[EIN_MAX_LABELS];
    /* fast path */
    bool fast;
    int nb, nm, nn, nk;
    int8_t lb[OGQ_RT_MAX_RANK], lm[OGQ_RT_MAX_RANK], ln[OGQ_RT_MAX_RANK], lk[OGQ_RT_MAX_RANK];
    int64_t B, M, N, K;
    bool a_direct, a_trans, b_direct, b_trans, out_direct;
};

static void ein_expand(const struct ein_term *t, int ell_rank, int widest, int8_t *lab)
{
    int r = 0;
    for (int i = 0; i <= t->n; i++) {
        if (i == t->ell)
            for (int j = 0; j < ell_rank; j++)
                lab[r++] = (int8_t)(EIN_LETTERS + widest - ell_rank + j);
        if (i < t->n)
            lab[r++] = t->lab[i];
    }
}

static bool seq_equal(const int8_t *x, int n, const int8_t *a, int na, const int8_t *b, int nb,
                      const int8_t *c, int nc)
{
    if (n != na + nb + nc)
        return false;
    return memcmp(x, a, (size_t)na) == 0 && memcmp(x + na, b, (size_t)nb) == 0 &&
           memcmp(x + na + nb, c, (size_t)nc) == 0;
}

static enum ogq_status ein_make_plan(const struct ogq_kernel_ctx *ctx, struct ein_plan *pl)
{
    const struct ein_params *p = ctx->params;
    memset(pl, 0, sizeof *pl);
    pl->n_ops = p->n_ops;
    int widest = 0;
    int ell_rank[EIN_MAX_OPS];
    for (int i = 0; i < p->n_ops; i++) {
        const struct ogq_rt_tensor *t = ctx->inputs[i];
        if (!t)
            return OGQ_KFAIL(ctx, "input %d is missing", i);
        int er = t->rank - p->in[i].n;
        if (er < 0 || (er > 0 && p->in[i].ell < 0))
            return OGQ_KFAIL(ctx, "input %d has rank %d, the equation term has %d labels", i,
                             t->rank, p->in[i].n);
        ell_rank[i] = er;
        if (er > widest)
            widest = er;
    }
    int count[EIN_MAX_LABELS] = {0};
    for (int i = 0; i < p->n_ops; i++) {
        const struct ogq_rt_tensor *t = ctx->inputs[i];
        pl->rank[i] = t->rank;
        ein_expand(&p->in[i], ell_rank[i], widest, pl->lab[i]);
        for (int d = 0; d < t->rank; d++) {
            int l = pl->lab[i][d];
            int64_t sz = t->dims[d];
            count[l]++;
            if (!pl->used[l]) {
                pl->used[l] = true;
                pl->size[l] = sz;
            } else if (pl->size[l] != sz) {
                /* size-1 dims broadcast (numpy semantics); others must agree */
                if (sz == 1 || pl->size[l] == 1)
                    pl->size[l] = sz > pl->size[l] ? sz : pl->size[l];
                else
                    return OGQ_KFAIL(ctx, "label '%c' has sizes %lld and %lld",
                                     l >= EIN_LETTERS ? '.'
                                     : l >= 26        ? 'a' + (l - 26)
                                                      : 'A' + l,
                                     (long long)pl->size[l], (long long)sz);
            }
        }
    }
    if (p->explicit_out) {
        if (widest > 0 && p->out.ell < 0)
            return unsupported(ctx, "ellipsis dims missing from the output are not supported");
        for (int i = 0; i < p->out.n; i++)
            if (!pl->used[p->out.lab[i]])
                return OGQ_KFAIL(ctx, "output label does not appear in any input");
        ein_expand(&p->out, p->out.ell >= 0 ? widest : 0, widest, pl->out_lab);
        pl->out_rank = p->out.n + (p->out.ell >= 0 ? widest : 0);
    } else {
        int r = 0;
        for (int j = 0; j < widest; j++)
            pl->out_lab[r++] = (int8_t)(EIN_LETTERS + j);
        for (int l = 0; l < EIN_LETTERS; l++)
            if (count[l] == 1)
                pl->out_lab[r++] = (int8_t)l;
        pl->out_rank = r;
    }
    if (pl->out_rank > OGQ_RT_MAX_RANK)
        return unsupported(ctx, "output rank is too large");

    /* Fast path: float, two operands, no label repeated in a term, sizes equal, every
     * label in the output or in both inputs. */
    if (p->n_ops != 2 || ctx->inputs[0]->dtype != OGQ_DTYPE_FLOAT)
        return OGQ_OK;
    bool in_a[EIN_MAX_LABELS] = {false}, in_b[EIN_MAX_LABELS] = {false};
    bool in_o[EIN_MAX_LABELS] = {false};
    for (int d = 0; d < pl->rank[0]; d++) {
        if (in_a[pl->lab[0][d]] || ctx->inputs[0]->dims[d] != pl->size[pl->lab[0][d]])
            return OGQ_OK;
        in_a[pl->lab[0][d]] = true;
    }
    for (int d = 0; d < pl->rank[1]; d++) {
        if (in_b[pl->lab[1][d]] || ctx->inputs[1]->dims[d] != pl->size[pl->lab[1][d]])
            return OGQ_OK;
        in_b[pl->lab[1][d]] = true;
    }
    for (int d = 0; d < pl->out_rank; d++)
        in_o[pl->out_lab[d]] = true;
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        if (pl->used[l] && !in_o[l] && !(in_a[l] && in_b[l]))
            return OGQ_OK;
    pl->B = pl->M = pl->N = pl->K = 1;
    for (int d = 0; d < pl->out_rank; d++) {
        int l = pl->out_lab[d];
        if (in_a[l] && in_b[l]) {
            pl->lb[pl->nb++] = (int8_t)l;
            pl->B *= pl->size[l];
        } else if (in_a[l]) {
            pl->lm[pl->nm++] = (int8_t)l;
            pl->M *= pl->size[l];
        } else {
            pl->ln[pl->nn++] = (int8_t)l;
            pl->N *= pl->size[l];
        }
    }
    for (int d = 0; d < pl->rank[0]; d++) {
        int l = pl->lab[0][d];
        if (!in_o[l]) {
            pl->lk[pl->nk++] = (int8_t)l;
            pl->K *= pl->size[l];
        }
    }
    const int8_t *la = pl->lab[0], *lbb = pl->lab[1];
    pl->a_direct = seq_equal(la, pl->rank[0], pl->lb, pl->nb, pl->lm, pl->nm, pl->lk, pl->nk);
    pl->a_trans =
        !pl->a_direct && seq_equal(la, pl->rank[0], pl->lb, pl->nb, pl->lk, pl->nk, pl->lm, pl->nm);
    pl->b_direct = seq_equal(lbb, pl->rank[1], pl->lb, pl->nb, pl->lk, pl->nk, pl->ln, pl->nn);
    pl->b_trans = !pl->b_direct &&
                  seq_equal(lbb, pl->rank[1], pl->lb, pl->nb, pl->ln, pl->nn, pl->lk, pl->nk);
    pl->out_direct =
        seq_equal(pl->out_lab, pl->out_rank, pl->lb, pl->nb, pl->lm, pl->nm, pl->ln, pl->nn);
    pl->fast = true;
    return OGQ_OK;
}

static enum ogq_status einsum_infer(struct ogq_kernel_ctx *ctx)
{
    const struct ein_params *p = ctx->params;
    static const enum ogq_dtype ok[] = {OGQ_DTYPE_FLOAT, OGQ_DTYPE_INT32, OGQ_DTYPE_INT64};
    for (int i = 0; i < p->n_ops; i++) {
        OGQ_TRY(ogq_require_input(ctx, (size_t)i, ok, 3));
        if (ctx->inputs[i]->dtype != ctx->inputs[0]->dtype)
            return OGQ_KFAIL(ctx, "input dtypes differ");
    }
    struct ein_plan pl;
    OGQ_TRY(ein_make_plan(ctx, &pl));
    int64_t dims[OGQ_RT_MAX_RANK];
    for (int d = 0; d < pl.out_rank; d++)
        dims[d] = pl.size[pl.out_lab[d]];
    return ogq_rt_tensor_set_shape(ctx->outputs[0], ctx->inputs[0]->dtype, pl.out_rank, dims,
                                   ctx->node->name, ctx->err);
}

/* Scratch layout (floats): [A permuted][B permuted][result before the output permute]. */
static void ein_scratch_sizes(const struct ein_plan *pl, size_t *sa, size_t *sb, size_t *sc)
{
    *sa = pl->a_direct || pl->a_trans ? 0 : (size_t)(pl->B * pl->M * pl->K);
    *sb = pl->b_direct || pl->b_trans ? 0 : (size_t)(pl->B * pl->K * pl->N);
    *sc = pl->out_direct ? 0 : (size_t)(pl->B * pl->M * pl->N);
}

static size_t ein_round(size_t floats)
{
    return (floats * sizeof(float) + 63) / 64 * 64;
}

static size_t einsum_workspace(const struct ogq_kernel_ctx *ctx)
{
    struct ein_plan pl;
    struct ogq_error e;
    struct ogq_kernel_ctx c = *ctx;
    c.err = &e;
    if (ein_make_plan(&c, &pl) != OGQ_OK || !pl.fast)
        return 0;
    size_t sa, sb, sc;
    ein_scratch_sizes(&pl, &sa, &sb, &sc);
    return ein_round(sa) + ein_round(sb) + ein_round(sc);
}

/* dst (dense, in the order of labels `order`) = src (labels `src_lab`, dense). */
static void ein_permute(const float *src, int rank, const int8_t *src_lab, const int64_t *size,
                        const int8_t *order, int n_order, float *dst)
{
    int64_t src_stride[EIN_MAX_LABELS] = {0};
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        src_stride[src_lab[d]] = s;
        s *= size[src_lab[d]];
    }
    int64_t dims[OGQ_RT_MAX_RANK] = {0}, st[OGQ_RT_MAX_RANK] = {0}, idx[OGQ_RT_MAX_RANK] = {0};
    int64_t total = 1;
    for (int d = 0; d < n_order; d++) {
        dims[d] = size[order[d]];
        st[d] = src_stride[order[d]];
        total *= dims[d];
    }
    if (total == 0)
        return;
    if (n_order == 0) {
        dst[0] = src[0];
        return;
    }
    const int64_t inner = dims[n_order - 1], is = st[n_order - 1];
    int64_t off = 0;
    for (int64_t done = 0; done < total; done += inner) {
        for (int64_t j = 0; j < inner; j++)
            dst[done + j] = src[off + j * is];
        for (int d = n_order - 2; d >= 0; d--) {
            off += st[d];
            if (++idx[d] < dims[d])
                break;
            off -= st[d] * dims[d];
            idx[d] = 0;
        }
    }
}

struct ein_batch_job {
    bool ta, tb;
    int64_t M, N, K;
    const float *a, *b;
    float *c;
};

static void ein_batch_task(void *p, int64_t e, int tid)
{
    (void)tid;
    const struct ein_batch_job *j = p;
    ogq_sgemm(j->ta, j->tb, j->M, j->N, j->K, 1.0f, j->a + e * j->M * j->K, j->ta ? j->M : j->K,
              j->b + e * j->K * j->N, j->tb ? j->K : j->N, 0.0f, j->c + e * j->M * j->N, j->N);
}

static void ein_fast(struct ogq_kernel_ctx *ctx, const struct ein_plan *pl)
{
    size_t sa, sb, sc;
    ein_scratch_sizes(pl, &sa, &sb, &sc);
    float *ws = ctx->scratch;
    float *pa = sa ? ws : NULL;
    float *pb = sb ? (float *)((char *)ws + ein_round(sa)) : NULL;
    float *pc = sc ? (float *)((char *)ws + ein_round(sa) + ein_round(sb)) : NULL;
    const float *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;
    float *y = ctx->outputs[0]->data;
    int8_t order[OGQ_RT_MAX_RANK * 3];
    bool ta = pl->a_trans, tb = pl->b_trans;
    if (pa) {
        memcpy(order, pl->lb, (size_t)pl->nb);
        memcpy(order + pl->nb, pl->lm, (size_t)pl->nm);
        memcpy(order + pl->nb + pl->nm, pl->lk, (size_t)pl->nk);
        ein_permute(a, pl->rank[0], pl->lab[0], pl->size, order, pl->nb + pl->nm + pl->nk, pa);
        a = pa;
    }
    if (pb) {
        memcpy(order, pl->lb, (size_t)pl->nb);
        memcpy(order + pl->nb, pl->lk, (size_t)pl->nk);
        memcpy(order + pl->nb + pl->nk, pl->ln, (size_t)pl->nn);
        ein_permute(b, pl->rank[1], pl->lab[1], pl->size, order, pl->nb + pl->nk + pl->nn, pb);
        b = pb;
    }
    float *c = pc ? pc : y;
    const int64_t M = pl->M, N = pl->N, K = pl->K;
    struct ein_batch_job jb = {ta, tb, M, N, K, a, b, c};
    if (pl->B >= ctx->threads) {
        ogq_parallel_for(pl->B, ctx->threads, ein_batch_task, &jb);
    } else { /* fewer entries than threads: each sgemm is split over the threads */
        for (int64_t e = 0; e < pl->B; e++)
            ein_batch_task(&jb, e, 0);
    }
    if (pc) {
        memcpy(order, pl->lb, (size_t)pl->nb);
        memcpy(order + pl->nb, pl->lm, (size_t)pl->nm);
        memcpy(order + pl->nb + pl->nm, pl->ln, (size_t)pl->nn);
        ein_permute(pc, pl->nb + pl->nm + pl->nn, order, pl->size, pl->out_lab, pl->out_rank, y);
    }
}

/* General path: out[o] = sum over the other labels of the product of the operands. */
#define EIN_GENERAL(T, ACC)                                                                        \
    do {                                                                                           \
        T *y = ctx->outputs[0]->data;                                                              \
        for (int64_t o = 0; o < n_out; o++) {                                                      \
            int64_t base[EIN_MAX_OPS];                                                             \
            for (int i = 0; i < pl.n_ops; i++) {                                                   \
                base[i] = 0;                                                                       \
                for (int d = 0; d < pl.out_rank; d++)                                              \
                    base[i] += oidx[d] * st[i][pl.out_lab[d]];                                     \
            }                                                                                      \
            ACC acc = 0;                                                                           \
            int64_t sidx[EIN_MAX_LABELS] = {0};                                                    \
            int64_t off[EIN_MAX_OPS];                                                              \
            memcpy(off, base, sizeof(int64_t) * (size_t)pl.n_ops);                                 \
            for (int64_t s = 0; s < n_sum; s++) {                                                  \
                ACC prod = 1;                                                                      \
                for (int i = 0; i < pl.n_ops; i++)                                                 \
                    prod = (ACC)(prod * (ACC)((const T *)ctx->inputs[i]->data)[off[i]]);           \
                acc = (ACC)(acc + prod);                                                           \
                for (int d = n_sl - 1; d >= 0; d--) {                                              \
                    int l = sl[d];                                                                 \
                    for (int i = 0; i < pl.n_ops; i++)                                             \
                        off[i] += st[i][l];                                                        \
                    if (++sidx[d] < pl.size[l])                                                    \
                        break;                                                                     \
                    for (int i = 0; i < pl.n_ops; i++)                                             \
                        off[i] -= st[i][l] * pl.size[l];                                           \
                    sidx[d] = 0;                                                                   \
                }                                                                                  \
            }                                                                                      \
            y[o] = (T)acc;                                                                         \
            for (int d = pl.out_rank - 1; d >= 0; d--) {                                           \
                if (++oidx[d] < pl.size[pl.out_lab[d]])                                            \
                    break;                                                                         \
                oidx[d] = 0;                                                                       \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static enum ogq_status einsum_run(struct ogq_kernel_ctx *ctx)
{
    struct ein_plan pl;
    OGQ_TRY(ein_make_plan(ctx, &pl));
    if (ctx->outputs[0]->numel == 0)
        return OGQ_OK;
    if (pl.fast) {
        ein_fast(ctx, &pl);
        return OGQ_OK;
    }
    /* Per-operand stride of each label: repeated labels add up (diagonals), size-1
     * broadcast dims contribute 0. */
    int64_t st[EIN_MAX_OPS][EIN_MAX_LABELS];
    memset(st, 0, sizeof st);
    for (int i = 0; i < pl.n_ops; i++) {
        const struct ogq_rt_tensor *t = ctx->inputs[i];
        int64_t s = 1;
        for (int d = t->rank - 1; d >= 0; d--) {
            if (t->dims[d] != 1)
                st[i][pl.lab[i][d]] += s;
            s *= t->dims[d];
        }
    }
    bool in_out[EIN_MAX_LABELS] = {false};
    for (int d = 0; d < pl.out_rank; d++)
        in_out[pl.out_lab[d]] = true;
    int8_t sl[EIN_MAX_LABELS];
    int n_sl = 0;
    int64_t n_sum = 1;
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        if (pl.used[l] && !in_out[l]) {
            sl[n_sl++] = (int8_t)l;
            n_sum *= pl.size[l];
        }
    const int64_t n_out = ctx->outputs[0]->numel;
    int64_t oidx[OGQ_RT_MAX_RANK] = {0};
    switch (ctx->outputs[0]->dtype) {
    case OGQ_DTYPE_FLOAT:
        EIN_GENERAL(float, double);
        break;
    case OGQ_DTYPE_INT32:
        EIN_GENERAL(int32_t, uint64_t);
        break; /* wraps like int math */
    case OGQ_DTYPE_INT64:
        EIN_GENERAL(int64_t, uint64_t);
        break;
    default:
        return unsupported(ctx, "unsupported dtype");
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- family */

static const struct ogq_kernel kernels[] = {
    {"", "MatMul", 1, INT_MAX, NULL, NULL, matmul_infer, NULL, matmul_run, false},
    {"", "Gemm", 1, INT_MAX, gemm_prepare, gemm_release, gemm_infer, NULL, gemm_run, false},
    {"", "Einsum", 12, INT_MAX, einsum_prepare, einsum_release, einsum_infer, einsum_workspace,
     einsum_run, false},
};

const struct ogq_kernel_family ogq_family_matmul = {"matmul", kernels,
                                                    sizeof kernels / sizeof kernels[0]};
