/* rewrite_matmulnbits.c — MatMul with a 2-D constant weight → com.microsoft::MatMulNBits.
 *
 * Before:  A [.., K] → MatMul(A, B [K, N]) → Y
 * After:   A → MatMulNBits(A, B_packed, scales[, zero_points][, g_idx]) → Y
 *            attributes K, N, bits, block_size, accuracy_level
 *
 * ONNX Runtime's layout (contrib op, opset 1 of com.microsoft):
 *   B_packed     uint8 [N, k_blocks, block_size·bits/8]; within a block, element k sits at
 *                bit offset k·bits, low bits first (4-bit: low nibble first);
 *   scales       float [N, k_blocks];
 *   zero_points  uint8, packed the same way per row, each row padded to whole bytes
 *                ([N · ⌈k_blocks·bits/8⌉]); omitted when every zero point is the default
 *                2^(bits−1) (symmetric grids); with g_idx, float [N, k_blocks] instead —
 *                ONNX Runtime 1.31's CPU kernel computes wrong results for g_idx together
 *                with packed uint8 zero points, and is exact with float ones (the contrib
 *                spec allows zero points in A's dtype);
 *   g_idx        int32 [K], only when act-order left the groups non-contiguous.
 * block_size is the group size (a power of two >= 16); per-channel quantization uses one
 * block covering K (rounded up to a power of two). Padding positions past K hold the
 * zero-point code. k_blocks = ⌈K/block_size⌉ equals the number of GPTQ groups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite_util.h"
#include "target.h"

static int64_t pow2_at_least(int64_t v)
{
    int64_t p = 16;
    while (p < v)
        p *= 2;
    return p;
}

static void put_bits(uint8_t *row, int64_t i, int bits, int v)
{
    if (bits == 8) {
        row[i] = (uint8_t)v;
        return;
    }
    int shift = (int)(i % 2) * 4;
    row[i / 2] = (uint8_t)((row[i / 2] & ~(0xF << shift)) | ((v & 0xF) << shift));
}

enum ogq_status ogq_rewrite_matmulnbits(struct ogq_model *m, struct ogq_target *t,
                                        int64_t accuracy_level, struct ogq_error *err)
{
    struct ogq_graph *g = m->graph;
    const struct ogq_qweight *q = &t->q;
    const int64_t N = q->rows, K = q->cols, ng = q->n_groups;
    const int bits = q->bits;
    if (t->kind != OGQ_TARGET_MATMUL || (bits != 4 && bits != 8))
        return ogq_error_set(err, OGQ_ERR_INTERNAL, "node '%s': not a 4/8-bit MatMul target",
                             t->node->name);
    int64_t bs = t->group_size > 0 ? t->group_size : pow2_at_least(K);
    if (bs < 16 || (bs & (bs - 1)) != 0)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "node '%s': MatMulNBits needs a power-of-two group size >= 16, got %lld",
                             t->node->name, (long long)bs);
    const int64_t kb = (K + bs - 1) / bs, blob = bs * bits / 8;
    if (kb != ng)
        return ogq_error_set(err, OGQ_ERR_INTERNAL, "node '%s': %lld groups for %lld blocks",
                             t->node->name, (long long)ng, (long long)kb);
    int default_zero = 1 << (bits - 1);
    bool need_zp = false;
    for (int64_t i = 0; i < N * ng && !need_zp; i++)
        need_zp = (int)q->zeros[i] != default_zero;

    struct ogq_tensor *tb = NULL, *ts = NULL, *tz = NULL, *tg = NULL;
    int64_t bdims[3] = {N, kb, blob}, sdims[2] = {N, kb};
    const int64_t zrow = (kb * bits + 7) / 8, zdims[1] = {N * zrow}, gdims[1] = {K};
    enum ogq_status st = ogq_tensor_new(NULL, OGQ_DTYPE_UINT8, 3, bdims, &tb, err);
    if (st == OGQ_OK)
        st = ogq_tensor_new(NULL, OGQ_DTYPE_FLOAT, 2, sdims, &ts, err);
    const bool float_zp = need_zp && !q->groups_contiguous;
    if (st == OGQ_OK && float_zp)
        st = ogq_tensor_new(NULL, OGQ_DTYPE_FLOAT, 2, sdims, &tz, err);
    else if (st == OGQ_OK && need_zp)
        st = ogq_tensor_new(NULL, OGQ_DTYPE_UINT8, 1, zdims, &tz, err);
    if (st == OGQ_OK && !q->groups_contiguous)
        st = ogq_tensor_new(NULL, OGQ_DTYPE_INT32, 1, gdims, &tg, err);
    if (st != OGQ_OK)
        goto fail;
    uint8_t *bd = ogq_tensor_data(tb);
    float *sd = ogq_tensor_data(ts);
    for (int64_t n = 0; n < N; n++) {
        uint8_t *row = bd + n * kb * blob;
        for (int64_t k = 0; k < kb * bs; k++) {
            /* Padding past K: the code of zero (its own block's zero point). */
            int v = k < K ? q->codes[n * K + k] : (int)q->zeros[n * ng + (k / bs < ng ? k / bs : ng - 1)];
            put_bits(row, k, bits, v);
        }
        for (int64_t b = 0; b < kb; b++)
            sd[n * kb + b] = q->scales[n * ng + b];
        if (tz && float_zp) {
            float *zf = (float *)ogq_tensor_data(tz) + n * kb;
            for (int64_t b = 0; b < kb; b++)
                zf[b] = q->zeros[n * ng + b];
        } else if (tz) {
            uint8_t *zr = (uint8_t *)ogq_tensor_data(tz) + n * zrow;
            for (int64_t b = 0; b < kb; b++)
                put_bits(zr, b, bits, (int)q->zeros[n * ng + b]);
        }
    }
    if (tg)
        memcpy(ogq_tensor_data(tg), q->g_idx, (size_t)K * sizeof(int32_t));

    struct ogq_value *vb, *vs, *vz = NULL, *vg = NULL;
    const char *base = t->weight->name;
    st = ogq_add_initializer(g, base, "_packed", tb, &vb, err);
    tb = NULL;
    if (st == OGQ_OK) {
        st = ogq_add_initializer(g, base, "_scales", ts, &vs, err);
        ts = NULL;
    }
    if (st == OGQ_OK && tz) {
        st = ogq_add_initializer(g, base, "_zero_points", tz, &vz, err);
        tz = NULL;
    }
    if (st == OGQ_OK && tg) {
        st = ogq_add_initializer(g, base, "_g_idx", tg, &vg, err);
        tg = NULL;
    }
    if (st != OGQ_OK)
        goto fail;
    if (ogq_model_opset(m, "com.microsoft") == 0)
        OGQ_TRY(ogq_model_set_opset(m, "com.microsoft", 1, err));

    /* Swap the node: the MatMul goes, MatMulNBits produces the same output value. */
    struct ogq_node *mm = t->node;
    struct ogq_value *a = mm->inputs[0], *y = mm->outputs[0];
    char name[1024];
    snprintf(name, sizeof name, "%s", mm->name);
    struct ogq_node *next = NULL;
    ptrdiff_t pos = ogq_graph_node_index(g, mm);
    if (pos >= 0 && (size_t)pos + 1 < g->n_nodes)
        next = g->nodes[pos + 1];
    struct ogq_value *w = t->weight;
    ogq_graph_remove_node(g, mm);
    t->node = NULL;
    struct ogq_value *ins[5] = {a, vb, vs, vz, vg};
    size_t n_in = vg ? 5 : vz ? 4 : 3;
    struct ogq_node *nb;
    st = ogq_graph_insert_node(g, next, "MatMulNBits", "com.microsoft", name, ins, n_in, &y, 1, &nb,
                               err);
    if (st == OGQ_OK)
        st = ogq_node_set_attr_int(nb, "K", K, err);
    if (st == OGQ_OK)
        st = ogq_node_set_attr_int(nb, "N", N, err);
    if (st == OGQ_OK)
        st = ogq_node_set_attr_int(nb, "bits", bits, err);
    if (st == OGQ_OK)
        st = ogq_node_set_attr_int(nb, "block_size", bs, err);
    if (st == OGQ_OK)
        st = ogq_node_set_attr_int(nb, "accuracy_level", accuracy_level, err);
    if (st == OGQ_OK)
        ogq_drop_replaced_weight(g, w);
    return st;
fail:
    ogq_tensor_free(tb);
    ogq_tensor_free(ts);
    ogq_tensor_free(tz);
    ogq_tensor_free(tg);
    return st;
}
