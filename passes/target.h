/* target.h — one layer the quantization pass rewrites (internal to passes/). */
#ifndef OGQ_TARGET_H
#define OGQ_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "gptq.h"
#include "graph/graph.h"
#include "hessian.h"

enum ogq_target_kind { OGQ_TARGET_MATMUL, OGQ_TARGET_GEMM, OGQ_TARGET_CONV };

/* Solver view of the weight: W [rows, cols] with rows = outputs, cols = inputs, one matrix
 * per conv group (groups = 1 for MatMul/Gemm):
 *   MatMul  B [K, N]           → W = Bᵀ [N, K]
 *   Gemm    B [K, N] / [N, K]  → W = Bᵀ / B (transB)
 *   Conv    W [M, C/g, k...]   → group j: rows M/g, cols (C/g)·Πk (the im2col order) */
struct ogq_target {
    struct ogq_node *node;
    struct ogq_value *weight;
    enum ogq_target_kind kind;
    bool trans_a, trans_b;  /* Gemm */
    int64_t rows, cols;     /* per group */
    int64_t groups;         /* conv groups */
    int64_t kernel_size;    /* Conv: product of kernel dims (1 otherwise) */
    int64_t group_size;     /* solver group size in columns (<= 0: per channel) */
    struct ogq_hessian *h;  /* [groups] */
    float *w;               /* [groups][rows][cols] solver weights */
    struct ogq_qweight q;   /* all groups merged: rows·groups × cols */
    float *w_deq;           /* dequantized weight in the initializer's layout (sequential) */
    size_t report;          /* index into the report's layers */
};

/* Rewrites `t`'s node to use `t->q` as QDQ (DequantizeLinear feeding the op). */
enum ogq_status ogq_rewrite_qdq(struct ogq_model *m, struct ogq_target *t, struct ogq_error *err);

/* Replaces `t`'s MatMul by com.microsoft::MatMulNBits (2-D weight, bits 4 or 8). */
enum ogq_status ogq_rewrite_matmulnbits(struct ogq_model *m, struct ogq_target *t,
                                        int64_t accuracy_level, struct ogq_error *err);

/* Solver weights of every group (rows·groups × cols, row-major) read from the initializer;
 * NULL on allocation failure. The caller frees the result. */
float *ogq_target_solver_weights(const struct ogq_target *t);

/* Writes the dequantized weight in the initializer's own layout (w_out has as many floats
 * as the initializer). */
void ogq_target_dequantize(const struct ogq_target *t, float *w_out);

#endif
