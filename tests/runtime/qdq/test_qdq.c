/* test_qdq.c — CUnit tests of the quantization kernels, run through the executor on
 * one-node models built in memory:
 *   - com.microsoft::MatMulNBits against A @ W_dq^T computed naively, where the test
 *     quantizes a known float W itself (4 and 8 bits, packed / float / default zero
 *     points, K not a multiple of the block, g_idx, bias, several B slabs) and refusals;
 *   - blocked DequantizeLinear of int4/uint4 data with odd element counts (packing), and
 *     QuantizeLinear to int4 (packing, half-to-even rounding, saturation). */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "runtime/executor.h"
#include "runtime/rt_tensor.h"

/* ---------------------------------------------------------------- one-node models */

struct tin {
    const char *name; /* NULL: omitted optional input */
    enum ogq_dtype dtype;
    int rank;
    int64_t dims[4];
    const void *data;
    bool feed; /* graph input fed at run time; otherwise an initializer */
};

struct iattr {
    const char *name;
    int64_t v;
};

static struct ogq_error err;

/* True when st is OGQ_OK; prints the error otherwise. */
static bool ok(enum ogq_status st)
{
    if (st != OGQ_OK)
        fprintf(stderr, "\n  unexpected failure: %s\n", err.msg);
    return st == OGQ_OK;
}

/* Builds and runs a model holding one node; on success copies output 0 into `out` (data
 * into `buf`, at most `cap` bytes). Returns the first failing status (plan or run). */
static enum ogq_status run_node(const char *domain, const char *op, int64_t opset,
                                const struct tin *ins, size_t n_in, const struct iattr *attrs,
                                size_t n_attrs, struct ogq_rt_tensor *out, void *buf, size_t cap)
{
    ogq_error_clear(&err);
    struct ogq_model *m = NULL;
    struct ogq_executor *e = NULL;
    enum ogq_status st = ogq_model_new(&m, &err);
    if (st != OGQ_OK)
        return st;
    struct ogq_graph *g = m->graph;
    struct ogq_value *vin[8] = {0}, *y = NULL;
    struct ogq_rt_tensor fed[8];
    const struct ogq_rt_tensor *feeds[8];
    size_t n_fed = 0;
    struct ogq_node *node = NULL;
    if ((st = ogq_model_set_opset(m, "", *domain ? 21 : opset, &err)) != OGQ_OK)
        goto out;
    if (*domain && (st = ogq_model_set_opset(m, domain, opset, &err)) != OGQ_OK)
        goto out;
    for (size_t i = 0; i < n_in; i++) {
        const struct tin *t = &ins[i];
        if (!t->name)
            continue;
        if ((st = ogq_graph_add_value(g, t->name, &vin[i], &err)) != OGQ_OK)
            goto out;
        if (t->feed) {
            if ((st = ogq_graph_add_input(g, vin[i], &err)) != OGQ_OK)
                goto out;
            if ((st = ogq_rt_tensor_set_shape(&fed[n_fed], t->dtype, t->rank, t->dims, t->name,
                                              &err)) != OGQ_OK)
                goto out;
            fed[n_fed].data = (void *)t->data;
            feeds[n_fed] = &fed[n_fed];
            n_fed++;
            continue;
        }
        struct ogq_tensor *tt;
        if ((st = ogq_tensor_new(t->name, t->dtype, t->rank, t->dims, &tt, &err)) != OGQ_OK)
            goto out;
        memcpy(ogq_tensor_data(tt), t->data, tt->nbytes);
        if ((st = ogq_graph_set_initializer(g, vin[i], tt, &err)) != OGQ_OK)
            goto out;
    }
    if ((st = ogq_graph_add_value(g, "Y", &y, &err)) != OGQ_OK)
        goto out;
    if ((st = ogq_graph_insert_node(g, NULL, op, domain, "n0", vin, n_in, &y, 1, &node, &err)) !=
        OGQ_OK)
        goto out;
    for (size_t i = 0; i < n_attrs; i++)
        if ((st = ogq_node_set_attr_int(node, attrs[i].name, attrs[i].v, &err)) != OGQ_OK)
            goto out;
    if ((st = ogq_graph_add_output(g, y, &err)) != OGQ_OK)
        goto out;
    struct ogq_exec_options opts = {.threads = 1};
    if ((st = ogq_executor_new(m, &opts, &e, &err)) != OGQ_OK)
        goto out;
    if ((st = ogq_executor_run_rt(e, feeds, &err)) != OGQ_OK)
        goto out;
    const struct ogq_rt_tensor *r = ogq_executor_output(e, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    *out = *r;
    CU_ASSERT_FATAL(r->nbytes <= cap);
    memcpy(buf, r->data, r->nbytes);
    out->data = buf;
out:
    ogq_executor_free(e);
    ogq_model_free(m);
    return st;
}

/* Deterministic pseudo-random numbers in [-1, 1). */
static uint64_t rng_state = 88172645463325252ull;
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void pack4(const int *v, int64_t n, uint8_t *out)
{
    memset(out, 0, (size_t)(n + 1) / 2);
    for (int64_t i = 0; i < n; i++)
        out[i / 2] |= (uint8_t)((v[i] & 15) << (i % 2 ? 4 : 0));
}

/* ---------------------------------------------------------------- MatMulNBits */

enum zp_kind { ZP_NONE, ZP_PACKED, ZP_FLOAT };

struct mnb_case {
    int64_t m, k, n, block;
    int bits;
    enum zp_kind zp;
    bool g_idx, bias;
    int a_rank; /* 2 or 3 */
};

/* Quantizes W [N, K] the straightforward way and checks the kernel against
 * A @ W_dq^T (+ bias) computed in double. */
static void check_mnb(const struct mnb_case *c)
{
    int64_t kb = (c->k + c->block - 1) / c->block, blob = c->block * c->bits / 8;
    int qmax = (1 << c->bits) - 1;
    float *a = malloc(sizeof(float) * (size_t)(c->m * c->k));
    float *w = malloc(sizeof(float) * (size_t)(c->n * c->k));
    float *wdq = malloc(sizeof(float) * (size_t)(c->n * c->k));
    uint8_t *b = calloc((size_t)(c->n * kb * blob), 1);
    float *scales = malloc(sizeof(float) * (size_t)(c->n * kb));
    float *zpf = malloc(sizeof(float) * (size_t)(c->n * kb));
    int64_t zstride = (kb * c->bits + 7) / 8;
    uint8_t *zpp = calloc((size_t)(c->n * zstride), 1);
    int32_t *gidx = malloc(sizeof(int32_t) * (size_t)c->k);
    float *bias = malloc(sizeof(float) * (size_t)c->n);
    float *y = malloc(sizeof(float) * (size_t)(c->m * c->n));
    CU_ASSERT_FATAL(a && w && wdq && b && scales && zpf && zpp && gidx && bias && y);
    for (int64_t i = 0; i < c->m * c->k; i++)
        a[i] = frand();
    for (int64_t i = 0; i < c->n * c->k; i++)
        w[i] = frand() * 0.5f + 0.1f;
    for (int64_t i = 0; i < c->n; i++)
        bias[i] = frand();
    for (int64_t k = 0; k < c->k; k++) /* act-order: a fixed permutation of the groups */
        gidx[k] = (int32_t)(c->g_idx ? (k * 7 + 3) % kb : k / c->block);
    /* Padding past K in the last block holds garbage the kernel must ignore. */
    memset(b, 0xA5, (size_t)(c->n * kb * blob));
    int far = 0;
    for (int64_t r = 0; r < c->n; r++) {
        const float *wr = w + r * c->k;
        for (int64_t g = 0; g < kb; g++) {
            float mn = 0.0f, mx = 0.0f, amax = 0.0f;
            for (int64_t k = 0; k < c->k; k++) {
                if (gidx[k] != g)
                    continue;
                mn = fminf(mn, wr[k]);
                mx = fmaxf(mx, wr[k]);
                amax = fmaxf(amax, fabsf(wr[k]));
            }
            float s, z;
            if (c->zp == ZP_NONE) { /* symmetric around the default 2^(bits-1) */
                z = (float)(1 << (c->bits - 1));
                s = amax > 0.0f ? amax / (float)((1 << (c->bits - 1)) - 1) : 1.0f;
            } else {
                s = mx > mn ? (mx - mn) / (float)qmax : 1.0f;
                z = fminf(fmaxf(rintf(-mn / s), 0.0f), (float)qmax);
                if (c->zp == ZP_FLOAT)
                    z += 0.25f; /* float zero points need not be integers */
            }
            scales[r * kb + g] = s;
            zpf[r * kb + g] = z;
            int zi = (int)z;
            if (c->bits == 8)
                zpp[r * zstride + g] = (uint8_t)zi;
            else
                zpp[r * zstride + g / 2] |= (uint8_t)(zi << (g % 2 ? 4 : 0));
        }
        for (int64_t k = 0; k < c->k; k++) {
            int64_t g = gidx[k];
            float s = scales[r * kb + g], z = zpf[r * kb + g];
            int q = (int)fminf(fmaxf(rintf(wr[k] / s + (float)(int)z), 0.0f), (float)qmax);
            uint8_t *blk = b + (r * kb + k / c->block) * blob;
            int64_t j = k % c->block;
            if (c->bits == 8) {
                blk[j] = (uint8_t)q;
            } else {
                blk[j / 2] &= (uint8_t)(j % 2 ? 0x0F : 0xF0);
                blk[j / 2] |= (uint8_t)(q << (j % 2 ? 4 : 0));
            }
            wdq[r * c->k + k] = ((float)q - z) * s;
            /* The test's own quantizer is sane: within one step of the weight. */
            far += fabsf(wdq[r * c->k + k] - wr[k]) > s * 1.01f;
        }
    }
    CU_ASSERT_EQUAL(far, 0);
    struct tin ins[6] = {
        {"A", OGQ_DTYPE_FLOAT, 2, {c->m, c->k}, a, true},
        {"B", OGQ_DTYPE_UINT8, 3, {c->n, kb, blob}, b, false},
        {"scales", OGQ_DTYPE_FLOAT, 1, {c->n * kb}, scales, false},
        {NULL, OGQ_DTYPE_UINT8, 0, {0}, NULL, false},
        {NULL, OGQ_DTYPE_INT32, 0, {0}, NULL, false},
        {NULL, OGQ_DTYPE_FLOAT, 0, {0}, NULL, false},
    };
    if (c->a_rank == 3) {
        ins[0].rank = 3;
        ins[0].dims[0] = 1;
        ins[0].dims[1] = c->m;
        ins[0].dims[2] = c->k;
    }
    if (c->zp == ZP_PACKED)
        ins[3] = (struct tin){"zp", OGQ_DTYPE_UINT8, 1, {c->n * zstride}, zpp, false};
    else if (c->zp == ZP_FLOAT)
        ins[3] = (struct tin){"zp", OGQ_DTYPE_FLOAT, 1, {c->n * kb}, zpf, false};
    if (c->g_idx)
        ins[4] = (struct tin){"g_idx", OGQ_DTYPE_INT32, 1, {c->k}, gidx, false};
    if (c->bias)
        ins[5] = (struct tin){"bias", OGQ_DTYPE_FLOAT, 1, {c->n}, bias, false};
    size_t n_in = c->bias ? 6 : c->g_idx ? 5 : c->zp != ZP_NONE ? 4 : 3;
    struct iattr attrs[] = {{"K", c->k}, {"N", c->n}, {"bits", c->bits}, {"block_size", c->block}};
    struct ogq_rt_tensor out;
    CU_ASSERT_FATAL(ok(run_node("com.microsoft", "MatMulNBits", 1, ins, n_in, attrs, 4, &out, y,
                                sizeof(float) * (size_t)(c->m * c->n))));
    CU_ASSERT_EQUAL(out.dtype, OGQ_DTYPE_FLOAT);
    CU_ASSERT_EQUAL(out.rank, c->a_rank);
    CU_ASSERT_EQUAL(out.dims[out.rank - 1], c->n);
    CU_ASSERT_EQUAL(out.dims[out.rank - 2], c->m);
    int bad = 0;
    for (int64_t i = 0; i < c->m; i++)
        for (int64_t r = 0; r < c->n; r++) {
            double ref = c->bias ? bias[r] : 0.0, mag = fabs(ref);
            for (int64_t k = 0; k < c->k; k++) {
                double p = (double)a[i * c->k + k] * wdq[r * c->k + k];
                ref += p;
                mag += fabs(p);
            }
            double got = y[i * c->n + r];
            if (fabs(got - ref) > 5e-5 * mag + 1e-6 && bad++ < 5)
                fprintf(stderr, "\n  y[%lld,%lld] = %.7g, expected %.7g", (long long)i,
                        (long long)r, got, ref);
        }
    CU_ASSERT_EQUAL(bad, 0);
    free(a), free(w), free(wdq), free(b), free(scales), free(zpf), free(zpp), free(gidx);
    free(bias), free(y);
}

static void test_mnb_4bit_packed_zp(void)
{
    /* K=70 is not a multiple of 16: 5 blocks, the last one padded; 5 blocks per row make
     * the packed zero-point rows 3 bytes with an unused high nibble. */
    check_mnb(&(struct mnb_case){5, 70, 37, 16, 4, ZP_PACKED, false, true, 2});
}

static void test_mnb_4bit_default_zp(void)
{
    check_mnb(&(struct mnb_case){3, 128, 20, 32, 4, ZP_NONE, false, false, 3});
}

static void test_mnb_8bit(void)
{
    check_mnb(&(struct mnb_case){4, 100, 9, 32, 8, ZP_PACKED, false, false, 2});
    check_mnb(&(struct mnb_case){2, 64, 7, 16, 8, ZP_NONE, false, true, 3});
}

static void test_mnb_float_zp_and_g_idx(void)
{
    check_mnb(&(struct mnb_case){3, 96, 11, 16, 4, ZP_FLOAT, false, false, 2});
    check_mnb(&(struct mnb_case){3, 96, 11, 16, 4, ZP_FLOAT, true, true, 2});
    check_mnb(&(struct mnb_case){2, 80, 6, 16, 4, ZP_PACKED, true, false, 2});
    check_mnb(&(struct mnb_case){2, 80, 6, 16, 4, ZP_NONE, true, false, 2});
}

static void test_mnb_slabs(void)
{
    /* 2048 x 2100 weights exceed one dequantization slab (4M floats): two sgemm calls. */
    check_mnb(&(struct mnb_case){2, 2048, 2100, 64, 4, ZP_PACKED, false, true, 2});
    /* A single row (M = 1), the decode-time shape. */
    check_mnb(&(struct mnb_case){1, 256, 300, 128, 4, ZP_NONE, false, false, 3});
}

static void test_mnb_refusals(void)
{
    float a[32] = {0}, s[2] = {1, 1};
    uint8_t b[32] = {0};
    struct tin ins[3] = {
        {"A", OGQ_DTYPE_FLOAT, 2, {1, 32}, a, true},
        {"B", OGQ_DTYPE_UINT8, 3, {1, 2, 8}, b, false},
        {"scales", OGQ_DTYPE_FLOAT, 1, {2}, s, false},
    };
    float y[4];
    struct ogq_rt_tensor out;
    struct iattr bits3[] = {{"K", 32}, {"N", 1}, {"bits", 3}, {"block_size", 16}};
    CU_ASSERT_EQUAL(run_node("com.microsoft", "MatMulNBits", 1, ins, 3, bits3, 4, &out, y,
                             sizeof y),
                    OGQ_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bits=3"));
    struct iattr bs24[] = {{"K", 32}, {"N", 1}, {"bits", 4}, {"block_size", 24}};
    CU_ASSERT_NOT_EQUAL(run_node("com.microsoft", "MatMulNBits", 1, ins, 3, bs24, 4, &out, y,
                                 sizeof y),
                        OGQ_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "block_size"));
    /* B of the wrong size for K=48 (3 blocks): a clean format error naming B. */
    struct iattr k48[] = {{"K", 48}, {"N", 1}, {"bits", 4}, {"block_size", 16}};
    float a48[48] = {0};
    ins[0] = (struct tin){"A", OGQ_DTYPE_FLOAT, 2, {1, 48}, a48, true};
    CU_ASSERT_EQUAL(run_node("com.microsoft", "MatMulNBits", 1, ins, 3, k48, 4, &out, y,
                             sizeof y),
                    OGQ_ERR_FORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "B must hold N*ceil(K/block_size)*blob_size = 1*3*8"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "n0"));
}

/* ---------------------------------------------------------------- Dequantize/Quantize int4 */

static void test_dq_int4_blocked_axis1(void)
{
    /* x int4 [3, 7] (21 values: the last byte is half used), blocks of 4 along axis 1:
     * scale and zero point [3, 2]. */
    int xv[21], zv[6];
    float s[6];
    for (int i = 0; i < 21; i++)
        xv[i] = (i * 5 + 3) % 16 - 8;
    for (int i = 0; i < 6; i++) {
        zv[i] = i - 3;
        s[i] = 0.5f + 0.25f * (float)i;
    }
    uint8_t xp[11], zp[3];
    pack4(xv, 21, xp);
    pack4(zv, 6, zp);
    struct tin ins[3] = {
        {"x", OGQ_DTYPE_INT4, 2, {3, 7}, xp, true},
        {"s", OGQ_DTYPE_FLOAT, 2, {3, 2}, s, false},
        {"zp", OGQ_DTYPE_INT4, 2, {3, 2}, zp, false},
    };
    struct iattr attrs[] = {{"axis", 1}, {"block_size", 4}};
    float y[21];
    struct ogq_rt_tensor out;
    CU_ASSERT_FATAL(ok(run_node("", "DequantizeLinear", 21, ins, 3, attrs, 2, &out, y, sizeof y)));
    CU_ASSERT_EQUAL(out.dtype, OGQ_DTYPE_FLOAT);
    CU_ASSERT_EQUAL(out.numel, 21);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 7; j++) {
            int g = i * 2 + j / 4;
            CU_ASSERT_DOUBLE_EQUAL(y[i * 7 + j], (float)(xv[i * 7 + j] - zv[g]) * s[g], 1e-6);
        }
}

static void test_dq_uint4_blocked_axis0(void)
{
    /* x uint4 [5, 3] (15 values), blocks of 2 along axis 0: scale/zero point [3, 3]
     * (9 zero points: odd too). Without a zero point as well. */
    int xv[15], zv[9];
    float s[9];
    for (int i = 0; i < 15; i++)
        xv[i] = (i * 7 + 1) % 16;
    for (int i = 0; i < 9; i++) {
        zv[i] = (i * 3) % 16;
        s[i] = 0.1f * (float)(i + 1);
    }
    uint8_t xp[8], zp[5];
    pack4(xv, 15, xp);
    pack4(zv, 9, zp);
    struct tin ins[3] = {
        {"x", OGQ_DTYPE_UINT4, 2, {5, 3}, xp, false},
        {"s", OGQ_DTYPE_FLOAT, 2, {3, 3}, s, false},
        {"zp", OGQ_DTYPE_UINT4, 2, {3, 3}, zp, false},
    };
    struct iattr attrs[] = {{"axis", 0}, {"block_size", 2}};
    float y[15];
    struct ogq_rt_tensor out;
    for (int with_zp = 0; with_zp < 2; with_zp++) {
        CU_ASSERT_FATAL(ok(run_node("", "DequantizeLinear", 21, ins, with_zp ? 3 : 2, attrs, 2,
                                    &out, y, sizeof y)));
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 3; j++) {
                int g = (i / 2) * 3 + j;
                float z = with_zp ? (float)zv[g] : 0.0f;
                CU_ASSERT_DOUBLE_EQUAL(y[i * 3 + j], ((float)xv[i * 3 + j] - z) * s[g], 1e-6);
            }
    }
    /* A scale whose blocked axis is not ceil(5/2) = 3 is a clean error. */
    ins[1].dims[0] = 2;
    CU_ASSERT_EQUAL(run_node("", "DequantizeLinear", 21, ins, 2, attrs, 2, &out, y, sizeof y),
                    OGQ_ERR_FORMAT);
}

static void test_q_int4_blocked_round_trip(void)
{
    /* x [3, 5] quantized to int4 in blocks of 2 along axis 1 (scale/zp [3, 3]); 15 values
     * pack into 8 bytes whose last high nibble must be 0. Values hit exact ties (round
     * half to even) and both saturation limits. */
    float x[15] = {0.25f, 0.75f, -0.25f, -0.75f, 9.0f,    /* ties at scale 0.5; saturates */
                   1.0f,  3.0f,  5.0f,   -5.0f,  -100.0f, /* ties at scale 2 */
                   0.3f,  -0.3f, 0.0f,   0.49f,  0.51f};
    float s[9] = {0.5f, 0.5f, 0.5f, 2.0f, 2.0f, 2.0f, 1.0f, 1.0f, 1.0f};
    int zv[9] = {0, 1, -1, 0, 0, 2, 0, 0, 0};
    uint8_t zp[5];
    pack4(zv, 9, zp);
    struct tin ins[3] = {
        {"x", OGQ_DTYPE_FLOAT, 2, {3, 5}, x, true},
        {"s", OGQ_DTYPE_FLOAT, 2, {3, 3}, s, false},
        {"zp", OGQ_DTYPE_INT4, 2, {3, 3}, zp, false},
    };
    struct iattr attrs[] = {{"axis", 1}, {"block_size", 2}};
    uint8_t y[8];
    struct ogq_rt_tensor out;
    CU_ASSERT_FATAL(ok(run_node("", "QuantizeLinear", 21, ins, 3, attrs, 2, &out, y, sizeof y)));
    CU_ASSERT_EQUAL(out.dtype, OGQ_DTYPE_INT4);
    CU_ASSERT_EQUAL(out.nbytes, 8);
    int want[15];
    for (int i = 0; i < 15; i++) {
        int g = (i / 5) * 3 + (i % 5) / 2;
        double v = rint((double)x[i] / s[g]) + zv[g];
        want[i] = (int)fmin(fmax(v, -8.0), 7.0);
    }
    /* Spot checks of the rule itself: 0.5 -> 0 and 1.5 -> 2 (ties to even), 18 -> 7. */
    CU_ASSERT_EQUAL(want[0], 0);
    CU_ASSERT_EQUAL(want[1], 2);
    CU_ASSERT_EQUAL(want[4], 7);
    uint8_t wp[8];
    pack4(want, 15, wp);
    CU_ASSERT_EQUAL(memcmp(y, wp, 8), 0);
    CU_ASSERT_EQUAL(y[7] >> 4, 0);
    /* Dequantizing gives back the grid values. */
    struct tin dins[3] = {
        {"x", OGQ_DTYPE_INT4, 2, {3, 5}, y, true},
        {"s", OGQ_DTYPE_FLOAT, 2, {3, 3}, s, false},
        {"zp", OGQ_DTYPE_INT4, 2, {3, 3}, zp, false},
    };
    float back[15];
    CU_ASSERT_FATAL(ok(run_node("", "DequantizeLinear", 21, dins, 3, attrs, 2, &out, back,
                                sizeof back)));
    for (int i = 0; i < 15; i++) {
        int g = (i / 5) * 3 + (i % 5) / 2;
        CU_ASSERT_DOUBLE_EQUAL(back[i], (float)(want[i] - zv[g]) * s[g], 1e-6);
    }
}

static void test_q_uint8_per_axis_and_refusals(void)
{
    /* Per-axis uint8 along axis 1 of [2, 3, 2] (opset 13), without a zero point. */
    float x[12], s[3] = {0.5f, 1.0f, 4.0f};
    for (int i = 0; i < 12; i++)
        x[i] = (float)(i * 37 % 23) - 5.5f;
    struct tin ins[2] = {
        {"x", OGQ_DTYPE_FLOAT, 3, {2, 3, 2}, x, true},
        {"s", OGQ_DTYPE_FLOAT, 1, {3}, s, false},
    };
    uint8_t y[12];
    struct ogq_rt_tensor out;
    CU_ASSERT_FATAL(ok(run_node("", "QuantizeLinear", 13, ins, 2, NULL, 0, &out, y, sizeof y)));
    CU_ASSERT_EQUAL(out.dtype, OGQ_DTYPE_UINT8);
    for (int i = 0; i < 12; i++) {
        double v = rint((double)x[i] / s[(i / 2) % 3]);
        CU_ASSERT_EQUAL(y[i], (int)fmin(fmax(v, 0.0), 255.0));
    }
    /* int16 output is refused cleanly, naming the dtype. */
    struct iattr od[] = {{"output_dtype", OGQ_DTYPE_INT16}};
    CU_ASSERT_EQUAL(run_node("", "QuantizeLinear", 21, ins, 2, od, 1, &out, y, sizeof y),
                    OGQ_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "INT16"));
    /* A per-axis scale before opset 13 is an error. */
    CU_ASSERT_EQUAL(run_node("", "QuantizeLinear", 10, ins, 2, NULL, 0, &out, y, sizeof y),
                    OGQ_ERR_FORMAT);
}


/* Per-tensor quantization must agree exactly with rint(x / scale) in float32 (a division,
 * not a multiply by 1/scale), including exact ties, near-ties and clamping. */
static void test_q_per_tensor_exact(void)
{
    enum { N = 60000 };
    float *x = malloc(sizeof(float) * N);
    uint8_t *y = malloc(N);
    CU_ASSERT_FATAL(x && y);
    const float scales[] = {0.0123f, 0.1f, 0.5f, 3.0f, 1e-3f, 0.0078125f, 7.3e-5f};
    const int zps[] = {0, 128, 255, 3};
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
        for (size_t zi = 0; zi < sizeof zps / sizeof zps[0]; zi++)
            for (int sgn = 0; sgn < 2; sgn++) {
                float sc = scales[si];
                int zp = sgn ? zps[zi] - 128 : zps[zi];
                for (int i = 0; i < N; i++) {
                    float k = (float)((int)(frand() * 300.0f));
                    switch (i % 512 < 8 ? i % 4 : 3) {
                    case 0: x[i] = (k + 0.5f) * sc; break; /* at or next to a tie */
                    case 1: x[i] = nextafterf((k + 0.5f) * sc, 1e30f); break;
                    case 2: x[i] = nextafterf((k + 0.5f) * sc, -1e30f); break;
                    default: x[i] = frand() * 300.0f * sc; break;
                    }
                }
                uint8_t zb = (uint8_t)zp;
                struct tin ins[3] = {
                    {"x", OGQ_DTYPE_FLOAT, 1, {N}, x, true},
                    {"s", OGQ_DTYPE_FLOAT, 0, {0}, &sc, false},
                    {"zp", sgn ? OGQ_DTYPE_INT8 : OGQ_DTYPE_UINT8, 0, {0}, &zb, false},
                };
                struct ogq_rt_tensor out;
                CU_ASSERT_FATAL(
                    ok(run_node("", "QuantizeLinear", 13, ins, 3, NULL, 0, &out, y, N)));
                int bad = 0;
                for (int i = 0; i < N; i++) {
                    float q = x[i] / sc; /* float32 division, as the reference */
                    float v = rintf(q) + (float)zp;
                    float lo = sgn ? -128.0f : 0.0f, hi = sgn ? 127.0f : 255.0f;
                    int want = (int)(v < lo ? lo : v > hi ? hi : v);
                    int got = sgn ? (int)(int8_t)y[i] : (int)y[i];
                    if (got != want && bad++ < 3)
                        fprintf(stderr, "\n  scale %g zp %d: x=%.9g -> %d, expected %d", sc, zp,
                                x[i], got, want);
                }
                CU_ASSERT_EQUAL(bad, 0);
            }
    free(x);
    free(y);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("qdq", NULL, NULL);
    if (!s)
        return 1;
    CU_add_test(s, "MatMulNBits 4-bit, packed zero points, K % block != 0, bias",
                test_mnb_4bit_packed_zp);
    CU_add_test(s, "MatMulNBits 4-bit, default zero point, rank-3 A", test_mnb_4bit_default_zp);
    CU_add_test(s, "MatMulNBits 8-bit", test_mnb_8bit);
    CU_add_test(s, "MatMulNBits float zero points and g_idx", test_mnb_float_zp_and_g_idx);
    CU_add_test(s, "MatMulNBits several slabs, M = 1", test_mnb_slabs);
    CU_add_test(s, "MatMulNBits refusals", test_mnb_refusals);
    CU_add_test(s, "DequantizeLinear int4 blocked along axis 1", test_dq_int4_blocked_axis1);
    CU_add_test(s, "DequantizeLinear uint4 blocked along axis 0", test_dq_uint4_blocked_axis0);
    CU_add_test(s, "QuantizeLinear int4 blocked, ties, saturation, round trip",
                test_q_int4_blocked_round_trip);
    CU_add_test(s, "QuantizeLinear uint8 per axis, refusals", test_q_uint8_per_axis_and_refusals);
    CU_add_test(s, "QuantizeLinear per tensor: exact rounding", test_q_per_tensor_exact);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
