/* rewrite_qdq.c — weight → integer initializer + scale (+ zero point) → DequantizeLinear.
 *
 * Before:  W (float initializer) ──────────────────────────────→ MatMul/Gemm/Conv
 * After:   W_quantized (INT4/UINT4/INT8/UINT8), W_scale[, W_zero_point]
 *            → DequantizeLinear(axis, block_size) → W_dequantized → MatMul/Gemm/Conv
 *
 * The stored integers are exactly the codes GPTQ chose: symmetric grids store code − zero
 * in a signed type with no zero point (default 0), asymmetric grids store the code in an
 * unsigned type with the grid's zero point. Bits ≤ 4 use INT4/UINT4 (two per byte, first
 * element in the low nibble), 5–8 bits INT8/UINT8.
 * Layouts (K inputs, N outputs, g = group size):
 *   MatMul/Gemm B [K, N]:  per channel axis = 1, scale [N]; groups: axis = 0,
 *                          block_size = g, scale [⌈K/g⌉, N]
 *   Gemm B [N, K] (transB): per channel axis = 0, scale [N]; groups: axis = 1, scale [N, ⌈K/g⌉]
 *   Conv W [M, C, k...]:   per channel axis = 0, scale [M]; groups of b whole input
 *                          channels: axis = 1, block_size = b, scale [M, ⌈C/b⌉, k...] (each
 *                          group's scale repeated over the kernel taps)
 * Preconditions: groups are contiguous (static groups); the model's default-domain opset
 * is at least ogq_qdq_required_opset() (the pass upgrades it first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite_util.h"
#include "target.h"

static enum ogq_dtype storage_dtype(const struct ogq_qweight *q)
{
    if (q->bits <= 4)
        return q->sym ? OGQ_DTYPE_INT4 : OGQ_DTYPE_UINT4;
    return q->sym ? OGQ_DTYPE_INT8 : OGQ_DTYPE_UINT8;
}

int64_t ogq_qdq_required_opset(const struct ogq_target *t)
{
    if (t->q.bits <= 4 || t->group_size > 0)
        return 21; /* INT4/UINT4 and blocked DequantizeLinear */
    return 13;     /* per-axis DequantizeLinear */
}

/* Writes integer `v` as element i of a tensor of dtype d. */
static void put_int(uint8_t *data, enum ogq_dtype d, int64_t i, int v)
{
    if (d == OGQ_DTYPE_INT4 || d == OGQ_DTYPE_UINT4) {
        uint8_t nib = (uint8_t)(v & 0xF);
        if (i % 2 == 0)
            data[i / 2] = (uint8_t)((data[i / 2] & 0xF0) | nib);
        else
            data[i / 2] = (uint8_t)((data[i / 2] & 0x0F) | (nib << 4));
    } else {
        data[i] = (uint8_t)(v & 0xFF);
    }
}

enum ogq_status ogq_rewrite_qdq(struct ogq_model *m, struct ogq_target *t, struct ogq_error *err)
{
    struct ogq_graph *g = m->graph;
    const struct ogq_qweight *q = &t->q;
    const struct ogq_tensor *w = t->weight->initializer;
    const enum ogq_dtype dt = storage_dtype(q);
    const int64_t rows = q->rows, cols = q->cols, ng = q->n_groups;
    const bool transposed = t->kind == OGQ_TARGET_MATMUL ||
                            (t->kind == OGQ_TARGET_GEMM && !t->trans_b);
    const bool blocked = t->group_size > 0;
    if (blocked && !q->groups_contiguous)
        return ogq_error_set(err, OGQ_ERR_INTERNAL,
                             "node '%s': QDQ needs contiguous groups (use static groups)",
                             t->node->name);

    /* Integer data in the initializer's layout. */
    struct ogq_tensor *data = NULL, *scale = NULL, *zp = NULL;
    enum ogq_status st = ogq_tensor_new(NULL, dt, w->rank, w->dims, &data, err);
    if (st != OGQ_OK)
        return st;
    uint8_t *dd = ogq_tensor_data(data);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) {
            int code = q->codes[r * cols + c];
            int v = q->sym ? code - (int)q->zeros[r * ng + q->g_idx[c]] : code;
            put_int(dd, dt, transposed ? c * rows + r : r * cols + c, v);
        }
    }

    /* Scale (and zero point) shapes. */
    int64_t sdims[8];
    int srank;
    int64_t axis, block = 0;
    if (!blocked) {
        srank = 1;
        sdims[0] = rows;
        axis = transposed ? 1 : 0;
    } else if (transposed) { /* [⌈K/g⌉, N] */
        srank = 2;
        sdims[0] = ng;
        sdims[1] = rows;
        axis = 0;
        block = t->group_size;
    } else if (t->kind == OGQ_TARGET_GEMM) { /* [N, ⌈K/g⌉] */
        srank = 2;
        sdims[0] = rows;
        sdims[1] = ng;
        axis = 1;
        block = t->group_size;
    } else { /* Conv [M, ⌈C/b⌉, k...] */
        srank = w->rank;
        sdims[0] = rows;
        sdims[1] = ng;
        for (int i = 2; i < w->rank; i++)
            sdims[i] = w->dims[i];
        axis = 1;
        block = t->group_size / t->kernel_size;
    }
    st = ogq_tensor_new(NULL, OGQ_DTYPE_FLOAT, srank, sdims, &scale, err);
    if (st == OGQ_OK && !q->sym)
        st = ogq_tensor_new(NULL, dt, srank, sdims, &zp, err);
    if (st != OGQ_OK)
        goto fail;
    float *sd = ogq_tensor_data(scale);
    uint8_t *zd = zp ? ogq_tensor_data(zp) : NULL;
    const int64_t taps = (blocked && t->kind == OGQ_TARGET_CONV) ? t->kernel_size : 1;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t gi = 0; gi < ng; gi++) {
            float s = q->scales[r * ng + gi];
            int z = (int)q->zeros[r * ng + gi];
            for (int64_t k = 0; k < taps; k++) {
                int64_t i;
                if (!blocked)
                    i = r;
                else if (transposed)
                    i = gi * rows + r;
                else
                    i = (r * ng + gi) * taps + k;
                sd[i] = s;
                if (zd)
                    put_int(zd, dt, i, z);
            }
        }
    }

    /* New initializers and the DequantizeLinear node in front of the target. */
    struct ogq_value *vdata, *vscale, *vzp = NULL, *vout;
    st = ogq_add_initializer(g, t->weight->name, "_quantized", data, &vdata, err);
    data = NULL;
    if (st == OGQ_OK) {
        st = ogq_add_initializer(g, t->weight->name, "_scale", scale, &vscale, err);
        scale = NULL;
    }
    if (st == OGQ_OK && zp) {
        st = ogq_add_initializer(g, t->weight->name, "_zero_point", zp, &vzp, err);
        zp = NULL;
    }
    if (st == OGQ_OK)
        st = ogq_add_fresh_value(g, t->weight->name, "_dequantized", &vout, err);
    if (st != OGQ_OK)
        goto fail;
    char name[512];
    snprintf(name, sizeof name, "%s_DequantizeLinear", t->weight->name);
    struct ogq_value *ins[3] = {vdata, vscale, vzp};
    struct ogq_node *dq;
    st = ogq_graph_insert_node(g, t->node, "DequantizeLinear", "", name, ins, vzp ? 3 : 2, &vout, 1,
                               &dq, err);
    if (st == OGQ_OK)
        st = ogq_node_set_attr_int(dq, "axis", axis, err);
    if (st == OGQ_OK && block)
        st = ogq_node_set_attr_int(dq, "block_size", block, err);
    if (st == OGQ_OK)
        st = ogq_value_set_type(vout, OGQ_DTYPE_FLOAT, w->rank, w->dims, err);
    if (st == OGQ_OK)
        st = ogq_node_set_input(g, t->node, 1, vout, err);
    if (st == OGQ_OK)
        ogq_drop_replaced_weight(g, t->weight);
    return st;
fail:
    ogq_tensor_free(data);
    ogq_tensor_free(scale);
    ogq_tensor_free(zp);
    return st;
}
