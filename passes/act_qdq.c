/* act_qdq.c — activation quantization placeholders and their QDQ rewrite (see act_qdq.h). */
#include "act_qdq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite_util.h"

static struct ogq_act_site *site_of_value(struct ogq_act_site *s, size_t n,
                                          const struct ogq_value *v)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].value == v)
            return &s[i];
    return NULL;
}

struct ogq_act_site *ogq_act_site_of_fq(struct ogq_act_site *s, size_t n,
                                        const struct ogq_value *v)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].fq == v)
            return &s[i];
    return NULL;
}

static struct ogq_node *node_after(const struct ogq_graph *g, const struct ogq_node *node)
{
    ptrdiff_t i = ogq_graph_node_index(g, node);
    return i >= 0 && (size_t)i + 1 < g->n_nodes ? g->nodes[i + 1] : NULL;
}

/* Appends a site for v with a fresh placeholder output (no node yet). */
static enum ogq_status new_site(struct ogq_graph *g, struct ogq_value *v, bool is_output,
                                struct ogq_act_site **sites, size_t *n, size_t *cap,
                                struct ogq_act_site **out, struct ogq_error *err)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        struct ogq_act_site *grown = realloc(*sites, nc * sizeof *grown);
        if (!grown)
            return OGQ_NOMEM(err);
        *sites = grown;
        *cap = nc;
    }
    struct ogq_act_site *s = &(*sites)[*n];
    memset(s, 0, sizeof *s);
    s->value = v;
    s->is_output = is_output;
    OGQ_TRY(ogq_act_hist_init(&s->hist, err));
    (*n)++; /* counted now so ogq_act_sites_free releases the histogram on failure */
    OGQ_TRY(ogq_add_fresh_value(g, v->name, "_dequantized", &s->fq, err));
    *out = s;
    return OGQ_OK;
}

static enum ogq_status add_placeholder(struct ogq_graph *g, struct ogq_act_site *s,
                                       struct ogq_node *before, struct ogq_error *err)
{
    char name[512];
    snprintf(name, sizeof name, "%s_ActQuantPlaceholder", s->value->name);
    char unique[600];
    ogq_graph_unique_name(g, name, unique, sizeof unique);
    return ogq_graph_insert_node(g, before, "Identity", "", unique, &s->value, 1, &s->fq, 1,
                                 &s->identity, err);
}

enum ogq_status ogq_act_sites_insert(struct ogq_graph *g, const struct ogq_target *ts, size_t n,
                                     bool outputs, struct ogq_act_site **sites_out,
                                     size_t *n_out, struct ogq_error *err)
{
    struct ogq_act_site *sites = NULL;
    size_t ns = 0, cap = 0;
    enum ogq_status st = OGQ_OK;
    /* Output sites first: every consumer of the output reads the quantized value. */
    for (size_t i = 0; st == OGQ_OK && outputs && i < n; i++) {
        struct ogq_value *v = ts[i].node->n_outputs ? ts[i].node->outputs[0] : NULL;
        if (!v || v->is_graph_output || v->n_uses == 0 || site_of_value(sites, ns, v))
            continue;
        struct ogq_act_site *s;
        st = new_site(g, v, true, &sites, &ns, &cap, &s, err);
        if (st == OGQ_OK)
            st = ogq_graph_replace_uses(g, v, s->fq, false, err);
        if (st == OGQ_OK)
            st = add_placeholder(g, s, node_after(g, ts[i].node), err);
    }
    /* Input sites: only the quantized targets are rerouted. */
    for (size_t i = 0; st == OGQ_OK && i < n; i++) {
        struct ogq_node *node = ts[i].node;
        struct ogq_value *v = node->inputs[0];
        struct ogq_act_site *s = ogq_act_site_of_fq(sites, ns, v);
        if (!s)
            s = site_of_value(sites, ns, v);
        if (!s) {
            st = new_site(g, v, false, &sites, &ns, &cap, &s, err);
            if (st == OGQ_OK)
                st = add_placeholder(g, s, node, err);
        }
        if (st == OGQ_OK && node->inputs[0] != s->fq)
            st = ogq_node_set_input(g, node, 0, s->fq, err);
        if (st == OGQ_OK)
            s->n_consumers++;
    }
    if (st != OGQ_OK) {
        ogq_act_sites_free(sites, ns);
        return st;
    }
    *sites_out = sites;
    *n_out = ns;
    return OGQ_OK;
}

static enum ogq_status scalar_tensor(enum ogq_dtype dt, struct ogq_tensor **out,
                                     struct ogq_error *err)
{
    return ogq_tensor_new(NULL, dt, 0, NULL, out, err);
}

enum ogq_status ogq_act_sites_rewrite(struct ogq_graph *g, struct ogq_act_site *sites, size_t n,
                                      struct ogq_error *err)
{
    for (size_t i = 0; i < n; i++) {
        struct ogq_act_site *s = &sites[i];
        const enum ogq_dtype zdt = s->qp.sym ? OGQ_DTYPE_INT8 : OGQ_DTYPE_UINT8;
        struct ogq_tensor *scale = NULL, *zp = NULL;
        OGQ_TRY(scalar_tensor(OGQ_DTYPE_FLOAT, &scale, err));
        *(float *)ogq_tensor_data(scale) = s->qp.scale;
        enum ogq_status st = scalar_tensor(zdt, &zp, err);
        if (st != OGQ_OK) {
            ogq_tensor_free(scale);
            return st;
        }
        if (s->qp.sym)
            *(int8_t *)ogq_tensor_data(zp) = (int8_t)s->qp.zero_point;
        else
            *(uint8_t *)ogq_tensor_data(zp) = (uint8_t)s->qp.zero_point;
        struct ogq_value *vscale, *vzp, *vq;
        OGQ_TRY(ogq_add_initializer(g, s->value->name, "_scale", scale, &vscale, err));
        OGQ_TRY(ogq_add_initializer(g, s->value->name, "_zero_point", zp, &vzp, err));
        OGQ_TRY(ogq_add_fresh_value(g, s->value->name, "_quantized", &vq, err));
        s->quantized = vq;
        struct ogq_node *before = node_after(g, s->identity);
        ogq_graph_remove_node(g, s->identity);
        s->identity = NULL;
        char name[512], unique[600];
        snprintf(name, sizeof name, "%s_QuantizeLinear", s->value->name);
        ogq_graph_unique_name(g, name, unique, sizeof unique);
        struct ogq_value *qin[3] = {s->value, vscale, vzp};
        struct ogq_node *qn, *dqn;
        OGQ_TRY(ogq_graph_insert_node(g, before, "QuantizeLinear", "", unique, qin, 3, &vq, 1,
                                      &qn, err));
        snprintf(name, sizeof name, "%s_DequantizeLinear", s->value->name);
        ogq_graph_unique_name(g, name, unique, sizeof unique);
        struct ogq_value *dqin[3] = {vq, vscale, vzp};
        OGQ_TRY(ogq_graph_insert_node(g, before, "DequantizeLinear", "", unique, dqin, 3, &s->fq,
                                      1, &dqn, err));
    }
    return OGQ_OK;
}

enum ogq_status ogq_act_quantize_gemm_biases(struct ogq_model *m, const struct ogq_target *ts,
                                             size_t n, const struct ogq_act_site *sites,
                                             size_t n_sites, size_t *n_done,
                                             struct ogq_error *err)
{
    struct ogq_graph *g = m->graph;
    *n_done = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ogq_target *t = &ts[i];
        const struct ogq_node *node = t->node;
        if (t->kind != OGQ_TARGET_GEMM || t->q.bits != 8 || t->q.n_groups != 1 ||
            node->n_inputs < 3 || !node->inputs[2])
            continue;
        if (ogq_node_attr_float(node, "alpha", 1.0f) != 1.0f ||
            ogq_node_attr_float(node, "beta", 1.0f) != 1.0f)
            continue;
        const struct ogq_act_site *site = NULL;
        for (size_t k = 0; k < n_sites; k++)
            if (sites[k].fq == node->inputs[0])
                site = &sites[k];
        struct ogq_value *b = node->inputs[2];
        const struct ogq_tensor *bt = b->initializer;
        if (!site || !bt || b->producer || b->n_uses != 1 || b->is_graph_input ||
            bt->dtype != OGQ_DTYPE_FLOAT || bt->rank != 1 || bt->numel != t->q.rows)
            continue;
        const int64_t rows = t->q.rows;
        const float *bf = ogq_tensor_data(bt);
        bool fits = true;
        for (int64_t r = 0; r < rows && fits; r++) {
            double sc = (double)site->qp.scale * (double)t->q.scales[r];
            double v = sc > 0.0 ? rint((double)bf[r] / sc) : 0.0;
            fits = sc > 0.0 && (float)sc > 0.0f && fabs(v) <= 2147483647.0;
        }
        if (!fits)
            continue;
        struct ogq_tensor *q = NULL, *scale = NULL;
        OGQ_TRY(ogq_tensor_new(NULL, OGQ_DTYPE_INT32, 1, &rows, &q, err));
        enum ogq_status st = ogq_tensor_new(NULL, OGQ_DTYPE_FLOAT, 1, &rows, &scale, err);
        if (st != OGQ_OK) {
            ogq_tensor_free(q);
            return st;
        }
        int32_t *qd = ogq_tensor_data(q);
        float *sd = ogq_tensor_data(scale);
        for (int64_t r = 0; r < rows; r++) {
            /* The scale is rounded to float first: DequantizeLinear multiplies by it. */
            sd[r] = (float)((double)site->qp.scale * (double)t->q.scales[r]);
            qd[r] = (int32_t)rint((double)bf[r] / (double)sd[r]);
        }
        struct ogq_value *vq, *vs, *vout;
        OGQ_TRY(ogq_add_initializer(g, b->name, "_quantized", q, &vq, err));
        OGQ_TRY(ogq_add_initializer(g, b->name, "_scale", scale, &vs, err));
        OGQ_TRY(ogq_add_fresh_value(g, b->name, "_dequantized", &vout, err));
        char name[512], unique[600];
        snprintf(name, sizeof name, "%s_DequantizeLinear", b->name);
        ogq_graph_unique_name(g, name, unique, sizeof unique);
        struct ogq_value *ins[2] = {vq, vs};
        struct ogq_node *dq;
        OGQ_TRY(ogq_graph_insert_node(g, t->node, "DequantizeLinear", "", unique, ins, 2, &vout,
                                      1, &dq, err));
        OGQ_TRY(ogq_node_set_attr_int(dq, "axis", 0, err));
        OGQ_TRY(ogq_node_set_input(g, t->node, 2, vout, err));
        /* ORT's selector reads `beta` without a default: spell out the ONNX default. */
        OGQ_TRY(ogq_node_set_attr_float(t->node, "beta", 1.0f, err));
        /* ORT's QGemm rewrite also needs the weight's zero point as an input; symmetric
         * weights have none (ONNX's default is 0), so give the explicit zeros. */
        struct ogq_node *wdq = node->inputs[1] ? node->inputs[1]->producer : NULL;
        if (wdq && strcmp(wdq->op_type, "DequantizeLinear") == 0 && wdq->n_inputs == 2 &&
            wdq->inputs[0]->initializer && wdq->inputs[1]->initializer) {
            const struct ogq_tensor *ws = wdq->inputs[1]->initializer;
            struct ogq_tensor *zp = NULL;
            OGQ_TRY(ogq_tensor_new(NULL, wdq->inputs[0]->initializer->dtype, ws->rank, ws->dims,
                                   &zp, err));
            struct ogq_value *vzp;
            OGQ_TRY(ogq_add_initializer(g, wdq->inputs[0]->name, "_zero_point", zp, &vzp, err));
            OGQ_TRY(ogq_node_set_input(g, wdq, 2, vzp, err));
        }
        (*n_done)++;
    }
    return OGQ_OK;
}

void ogq_act_sites_free(struct ogq_act_site *sites, size_t n)
{
    for (size_t i = 0; sites && i < n; i++)
        ogq_act_hist_fini(&sites[i].hist);
    free(sites);
}
