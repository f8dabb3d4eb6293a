#include "kernel_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum ogq_status ogq_kernel_fail(const struct ogq_node *node, enum ogq_status code,
                                struct ogq_error *err, const char *fmt, ...)
{
    char msg[OGQ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ogq_error_set(err, code, "node '%s' (%s): %s", node->name, node->op_type, msg);
}

enum ogq_status ogq_broadcast_shape(const struct ogq_kernel_ctx *ctx,
                                    const struct ogq_rt_tensor *const *ins, size_t n, int *rank,
                                    int64_t *dims)
{
    int r = 0;
    for (size_t i = 0; i < n; i++)
        if (ins[i] && ins[i]->rank > r)
            r = ins[i]->rank;
    for (int d = 0; d < r; d++)
        dims[d] = 1;
    for (size_t i = 0; i < n; i++) {
        const struct ogq_rt_tensor *t = ins[i];
        if (!t)
            continue;
        for (int d = 0; d < t->rank; d++) {
            int od = r - t->rank + d;
            int64_t a = dims[od], b = t->dims[d];
            if (a == b || b == 1)
                continue;
            if (a == 1) {
                dims[od] = b;
                continue;
            }
            return OGQ_KFAIL(ctx, "inputs cannot be broadcast together (dim %d: %lld vs %lld)", od,
                             (long long)a, (long long)b);
        }
    }
    *rank = r;
    return OGQ_OK;
}

void ogq_broadcast_strides(const struct ogq_rt_tensor *t, int out_rank, const int64_t *out_dims,
                           int64_t *strides)
{
    int64_t s = 1;
    for (int d = out_rank - 1; d >= 0; d--) {
        int td = d - (out_rank - t->rank);
        if (td < 0 || t->dims[td] == 1) {
            strides[d] = 0;
        } else {
            strides[d] = s;
        }
        if (td >= 0)
            s *= t->dims[td];
        (void)out_dims;
    }
}

void ogq_bcast_iter_init(struct ogq_bcast_iter *it, const struct ogq_rt_tensor *out,
                         const struct ogq_rt_tensor *const *ins, size_t n)
{
    memset(it, 0, sizeof *it);
    it->n = n;
    /* Merge adjacent axes where every operand is contiguous or broadcast alike, so that
     * the inner runs are as long as possible. */
    int64_t st[3][OGQ_RT_MAX_RANK];
    for (size_t i = 0; i < n; i++)
        ogq_broadcast_strides(ins[i], out->rank, out->dims, st[i]);
    int r = 0;
    int64_t dims[OGQ_RT_MAX_RANK];
    int64_t ms[3][OGQ_RT_MAX_RANK];
    for (int d = 0; d < out->rank; d++) {
        if (out->dims[d] == 1)
            continue; /* size-1 axes never move an offset */
        bool merge = r > 0;
        for (size_t i = 0; i < n && merge; i++)
            merge = ms[i][r - 1] == st[i][d] * out->dims[d];
        if (merge) {
            dims[r - 1] *= out->dims[d];
            for (size_t i = 0; i < n; i++)
                ms[i][r - 1] = st[i][d];
        } else {
            dims[r] = out->dims[d];
            for (size_t i = 0; i < n; i++)
                ms[i][r] = st[i][d];
            r++;
        }
    }
    if (r == 0) { /* a scalar or all-ones shape: one run of one element */
        dims[0] = 1;
        for (size_t i = 0; i < n; i++)
            ms[i][0] = 0;
        r = 1;
    }
    it->rank = r;
    memcpy(it->dims, dims, sizeof(int64_t) * (size_t)r);
    for (size_t i = 0; i < n; i++) {
        memcpy(it->strides[i], ms[i], sizeof(int64_t) * (size_t)r);
        it->step[i] = ms[i][r - 1];
    }
    it->len = dims[r - 1];
    it->total = out->numel;
    it->done = 0;
}

bool ogq_bcast_iter_next(struct ogq_bcast_iter *it)
{
    if (it->done >= it->total || it->total == 0)
        return false;
    int r = it->rank;
    /* Offsets of the current run from the odometer idx[0..r-2]. */
    it->out = it->done;
    for (size_t i = 0; i < it->n; i++) {
        int64_t o = 0;
        for (int d = 0; d < r - 1; d++)
            o += it->idx[d] * it->strides[i][d];
        it->off[i] = o;
    }
    it->done += it->len;
    for (int d = r - 2; d >= 0; d--) {
        if (++it->idx[d] < it->dims[d])
            break;
        it->idx[d] = 0;
    }
    return true;
}

enum ogq_status ogq_normalize_axis(const struct ogq_kernel_ctx *ctx, int64_t axis, int rank,
                                   int *out)
{
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        return OGQ_KFAIL(ctx, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)a;
    return OGQ_OK;
}

bool ogq_attr_ints(const struct ogq_node *node, const char *name, const int64_t **v, size_t *n)
{
    const struct ogq_attr *a = ogq_node_attr(node, name);
    if (!a || a->type != OGQ_ATTR_INTS)
        return false;
    *v = a->ints;
    *n = a->n;
    return true;
}

enum ogq_status ogq_read_ints(const struct ogq_kernel_ctx *ctx, const struct ogq_rt_tensor *t,
                              const char *what, int64_t *out, size_t max, size_t *n)
{
    if (!t)
        return OGQ_KFAIL(ctx, "%s is missing", what);
    if (t->dtype != OGQ_DTYPE_INT64 && t->dtype != OGQ_DTYPE_INT32)
        return OGQ_KFAIL(ctx, "%s must be int64 or int32, got %s", what,
                         ogq_dtype_name(t->dtype));
    if (t->rank > 1)
        return OGQ_KFAIL(ctx, "%s must be 1-D, got rank %d", what, t->rank);
    if ((uint64_t)t->numel > max)
        return OGQ_KFAIL(ctx, "%s has %lld values, more than %zu", what, (long long)t->numel, max);
    for (int64_t i = 0; i < t->numel; i++)
        out[i] = t->dtype == OGQ_DTYPE_INT64 ? ((const int64_t *)t->data)[i]
                                             : ((const int32_t *)t->data)[i];
    *n = (size_t)t->numel;
    return OGQ_OK;
}

enum ogq_status ogq_read_scalar(const struct ogq_kernel_ctx *ctx, const struct ogq_rt_tensor *t,
                                const char *what, double *out)
{
    if (!t)
        return OGQ_KFAIL(ctx, "%s is missing", what);
    if (t->numel != 1)
        return OGQ_KFAIL(ctx, "%s must hold one value, has %lld", what, (long long)t->numel);
    if (t->dtype == OGQ_DTYPE_FLOAT)
        *out = ((const float *)t->data)[0];
    else if (t->dtype == OGQ_DTYPE_INT4 || t->dtype == OGQ_DTYPE_UINT4) {
        int v = ((const uint8_t *)t->data)[0] & 0xF;
        *out = t->dtype == OGQ_DTYPE_INT4 && v >= 8 ? v - 16 : v;
    } else
        *out = (double)ogq_rt_get_int(t, 0);
    return OGQ_OK;
}

enum ogq_status ogq_require_input(const struct ogq_kernel_ctx *ctx, size_t i,
                                  const enum ogq_dtype *dtypes, size_t n)
{
    if (i >= ctx->n_inputs || !ctx->inputs[i])
        return OGQ_KFAIL(ctx, "input %zu is missing", i);
    for (size_t k = 0; k < n; k++)
        if (ctx->inputs[i]->dtype == dtypes[k])
            return OGQ_OK;
    return ogq_kernel_fail(ctx->node, OGQ_ERR_UNSUPPORTED, ctx->err,
                           "input %zu has unsupported dtype %s", i,
                           ogq_dtype_name(ctx->inputs[i]->dtype));
}

enum ogq_status ogq_require_float(const struct ogq_kernel_ctx *ctx, size_t i)
{
    static const enum ogq_dtype f[] = {OGQ_DTYPE_FLOAT};
    return ogq_require_input(ctx, i, f, 1);
}

size_t ogq_rt_elem_size(enum ogq_dtype dtype)
{
    switch (dtype) {
    case OGQ_DTYPE_FLOAT:
    case OGQ_DTYPE_INT32: return 4;
    case OGQ_DTYPE_INT64: return 8;
    case OGQ_DTYPE_INT8:
    case OGQ_DTYPE_UINT8:
    case OGQ_DTYPE_BOOL: return 1;
    default: return 0;
    }
}

enum ogq_status ogq_read_ints_attr(const struct ogq_node *node, const char *name, size_t max,
                                   int64_t min_value, int64_t *out, size_t *n,
                                   struct ogq_error *err)
{
    const int64_t *v;
    size_t cnt;
    *n = 0;
    if (!ogq_attr_ints(node, name, &v, &cnt))
        return OGQ_OK;
    if (cnt > max)
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err,
                               "attribute '%s' has %zu values; at most %zu are supported", name,
                               cnt, max);
    for (size_t i = 0; i < cnt; i++) {
        if (v[i] < min_value)
            return ogq_kernel_fail(node, OGQ_ERR_FORMAT, err,
                                   "attribute '%s' has value %lld (must be >= %lld)", name,
                                   (long long)v[i], (long long)min_value);
        out[i] = v[i];
    }
    *n = cnt;
    return OGQ_OK;
}

enum ogq_status ogq_read_auto_pad(const struct ogq_node *node, enum ogq_auto_pad *out,
                                  struct ogq_error *err)
{
    const char *ap = ogq_node_attr_string(node, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0)
        *out = OGQ_AUTO_PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0)
        *out = OGQ_AUTO_PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        *out = OGQ_AUTO_PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0)
        *out = OGQ_AUTO_PAD_VALID;
    else
        return ogq_kernel_fail(node, OGQ_ERR_UNSUPPORTED, err, "auto_pad '%s' is not supported",
                               ap);
    return OGQ_OK;
}
