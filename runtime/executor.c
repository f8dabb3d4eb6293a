/* executor.c — plan and run a model; see executor.h for the contract.
 *
 * Every IR value gets a slot. Constant slots hold initializers (converted once) and the
 * outputs of Constant nodes (evaluated at plan time). Intermediate slots hold a pooled
 * buffer from the moment their producer runs until their last consumer has run; the
 * pool recycles buffers by size, so repeated shapes allocate nothing after the first
 * run. Reshape-like kernels alias their input's buffer (reference counted).
 */
#include "executor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "linalg.h"
#include "registry.h"
#include "util/array.h"

#define ALIGN 64
#define POOL_TRIM_BYTES ((size_t)256 << 20)

struct rt_buf {
    void *p;
    size_t cap;
    int refs;
};

enum slot_kind { SLOT_UNUSED, SLOT_CONST, SLOT_INPUT, SLOT_TEMP };

struct slot {
    const struct ogq_value *value;
    enum slot_kind kind;
    struct ogq_rt_tensor t;
    bool ready;
    void *const_owned;   /* converted constant data owned by the executor */
    struct rt_buf *buf;  /* pooled buffer currently held (TEMP, or a transformed input) */
    int last_use;        /* last node index reading it; INT32_MAX for graph outputs */
    const struct ogq_rt_tensor *override;
    ogq_transform_fn transform;
    void *transform_user;
};

struct exec_node {
    const struct ogq_node *node;
    const struct ogq_kernel *kernel;
    void *params;
    int64_t opset;
    int *in;   /* slot index per input, -1 when omitted */
    int *out;  /* slot index per output, -1 when omitted */
    const struct ogq_rt_tensor **in_t;
    struct ogq_rt_tensor **out_t;
    bool folded; /* evaluated at plan time */
};

struct observer {
    const struct ogq_node *node;
    ogq_observer_fn fn;
    void *user;
};

struct ogq_executor {
    const struct ogq_model *model;
    struct slot *slots;
    size_t n_slots;
    struct exec_node *nodes;
    size_t n_nodes;
    int *inputs;
    size_t n_inputs;
    int *outputs;
    size_t n_outputs;
    struct observer *obs;
    size_t n_obs, cap_obs;
    const struct ogq_node *stop_after;
    struct rt_buf **pool;
    size_t n_pool, cap_pool;
    size_t pool_bytes;
    size_t live_bytes, peak_bytes;
    void *scratch;
    size_t scratch_size;
    int threads;
};

/* ---------------------------------------------------------------- buffer pool */

static struct rt_buf *buf_acquire(struct ogq_executor *e, size_t nbytes, struct ogq_error *err)
{
    size_t want = (nbytes + ALIGN - 1) / ALIGN * ALIGN;
    if (want == 0)
        want = ALIGN;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < e->n_pool; i++) {
        size_t cap = e->pool[i]->cap;
        if (cap >= want && cap <= 2 * want + 4096 && (best == SIZE_MAX || cap < e->pool[best]->cap))
            best = i;
    }
    struct rt_buf *b;
    if (best != SIZE_MAX) {
        b = e->pool[best];
        e->pool[best] = e->pool[--e->n_pool];
        e->pool_bytes -= b->cap;
    } else {
        if (e->pool_bytes > POOL_TRIM_BYTES) { /* shapes changed a lot: drop stale buffers */
            for (size_t i = 0; i < e->n_pool; i++) {
                free(e->pool[i]->p);
                free(e->pool[i]);
            }
            e->n_pool = 0;
            e->pool_bytes = 0;
        }
        b = calloc(1, sizeof *b);
        if (b)
            b->p = aligned_alloc(ALIGN, want);
        if (!b || !b->p) {
            free(b);
            ogq_error_set(err, OGQ_ERR_NOMEM, "out of memory allocating a %zu-byte tensor", nbytes);
            return NULL;
        }
        b->cap = want;
    }
    b->refs = 1;
    e->live_bytes += b->cap;
    if (e->live_bytes > e->peak_bytes)
        e->peak_bytes = e->live_bytes;
    return b;
}

static void buf_release(struct ogq_executor *e, struct rt_buf *b)
{
    if (!b || --b->refs > 0)
        return;
    e->live_bytes -= b->cap;
    if (OGQ_ARRAY_PUSH(e->pool, e->n_pool, e->cap_pool, b)) {
        e->pool_bytes += b->cap;
    } else {
        free(b->p);
        free(b);
    }
}

static void slot_release(struct ogq_executor *e, struct slot *s)
{
    if (s->buf) {
        buf_release(e, s->buf);
        s->buf = NULL;
    }
    if (s->kind != SLOT_CONST) {
        s->ready = false;
        s->t.data = NULL;
    }
}

/* ---------------------------------------------------------------- plan */

static int slot_index(const struct ogq_executor *e, const struct ogq_value *v)
{
    /* Values are numbered by their position in graph->values; the map is built in plan. */
    for (size_t i = 0; i < e->n_slots; i++)
        if (e->slots[i].value == v)
            return (int)i;
    return -1;
}

struct problems {
    char text[OGQ_ERROR_MSG_MAX * 4];
    size_t len;
    size_t count;
};

static void problem_add(struct problems *p, const char *fmt, const char *a, const char *b,
                        const char *why)
{
    if (p->len < sizeof p->text) {
        int n = snprintf(p->text + p->len, sizeof p->text - p->len, "%s" , p->count ? "; " : "");
        if (n > 0)
            p->len += (size_t)n;
        if (p->len < sizeof p->text) {
            n = snprintf(p->text + p->len, sizeof p->text - p->len, fmt, a, b, why);
            if (n > 0)
                p->len += (size_t)n;
        }
    }
    if (p->len > sizeof p->text)
        p->len = sizeof p->text;
    p->count++;
}

static enum ogq_status run_node(struct ogq_executor *e, size_t i, struct ogq_error *err);

enum ogq_status ogq_executor_new(const struct ogq_model *model,
                                 const struct ogq_exec_options *opts, struct ogq_executor **out,
                                 struct ogq_error *err)
{
    const struct ogq_graph *g = model->graph;
    struct ogq_executor *e = calloc(1, sizeof *e);
    if (!e)
        return OGQ_NOMEM(err);
    e->model = model;
    e->threads = ogq_linalg_set_threads(opts ? opts->threads : 0);
    enum ogq_status st = OGQ_OK;
    struct problems probs = {.len = 0};

    /* Slots are indexed like graph->values; the scratch field of values is not ours to
     * use, so node inputs are resolved through a name map. */
    e->n_slots = g->n_values;
    e->slots = calloc(e->n_slots ? e->n_slots : 1, sizeof *e->slots);
    e->n_nodes = g->n_nodes;
    e->nodes = calloc(e->n_nodes ? e->n_nodes : 1, sizeof *e->nodes);
    if (!e->slots || !e->nodes) {
        st = OGQ_NOMEM(err);
        goto fail;
    }
    struct ogq_strmap index;
    ogq_strmap_init(&index);
    for (size_t i = 0; i < g->n_values; i++) {
        struct slot *s = &e->slots[i];
        s->value = g->values[i];
        s->last_use = -1;
        s->kind = SLOT_TEMP;
        if (!ogq_strmap_put(&index, g->values[i]->name, (void *)(intptr_t)(i + 1))) {
            ogq_strmap_fini(&index);
            st = OGQ_NOMEM(err);
            goto fail;
        }
    }

    /* Nodes: kernel lookup and attribute validation, collecting every problem. */
    for (size_t i = 0; i < g->n_nodes; i++) {
        const struct ogq_node *n = g->nodes[i];
        struct exec_node *x = &e->nodes[i];
        x->node = n;
        x->opset = ogq_model_opset(model, n->domain);
        if (x->opset == 0 && !*n->domain)
            x->opset = 1; /* no default-domain import: ONNX treats it as opset 1 */
        x->in = malloc((n->n_inputs ? n->n_inputs : 1) * sizeof *x->in);
        x->out = malloc((n->n_outputs ? n->n_outputs : 1) * sizeof *x->out);
        x->in_t = calloc(n->n_inputs ? n->n_inputs : 1, sizeof *x->in_t);
        x->out_t = calloc(n->n_outputs ? n->n_outputs : 1, sizeof *x->out_t);
        if (!x->in || !x->out || !x->in_t || !x->out_t) {
            ogq_strmap_fini(&index);
            st = OGQ_NOMEM(err);
            goto fail;
        }
        for (size_t k = 0; k < n->n_inputs; k++) {
            x->in[k] = n->inputs[k] ? (int)(intptr_t)ogq_strmap_get(&index, n->inputs[k]->name) - 1 : -1;
            if (x->in[k] >= 0)
                e->slots[x->in[k]].last_use = (int)i;
        }
        for (size_t k = 0; k < n->n_outputs; k++) {
            x->out[k] = n->outputs[k] ? (int)(intptr_t)ogq_strmap_get(&index, n->outputs[k]->name) - 1 : -1;
            if (x->out[k] >= 0)
                x->out_t[k] = &e->slots[x->out[k]].t;
        }
        char why[256];
        if (n->has_subgraphs) {
            problem_add(&probs, "'%s' (%s): %s", n->name, n->op_type,
                        "nodes with subgraphs (If/Loop/Scan) are not supported");
            continue;
        }
        x->kernel = ogq_registry_find(n->domain, n->op_type, x->opset, why, sizeof why);
        if (!x->kernel) {
            char op[300];
            snprintf(op, sizeof op, "%s%s%s", n->domain, *n->domain ? "::" : "", n->op_type);
            problem_add(&probs, "'%s' (%s): %s", n->name, op, why);
            continue;
        }
        if (x->kernel->prepare) {
            struct ogq_error perr;
            ogq_error_clear(&perr);
            if (x->kernel->prepare(n, x->opset, &x->params, &perr) != OGQ_OK) {
                /* prepare messages already start with "node 'x' (Op): ". */
                const char *m = perr.msg;
                const char *colon = strstr(m, "): ");
                problem_add(&probs, "'%s' (%s): %s", n->name, n->op_type, colon ? colon + 3 : m);
            }
        }
    }
    ogq_strmap_fini(&index);

    /* Constants: initializers (converted once) — only those some node reads. */
    for (size_t i = 0; i < g->n_values; i++) {
        struct slot *s = &e->slots[i];
        const struct ogq_value *v = s->value;
        if (!v->initializer)
            continue;
        s->kind = SLOT_CONST;
        if (s->last_use < 0 && !v->is_graph_output)
            continue;
        struct ogq_error cerr;
        ogq_error_clear(&cerr);
        if (ogq_rt_tensor_from_ir(v->initializer, true, &s->t, &s->const_owned, &cerr) != OGQ_OK) {
            if (cerr.code == OGQ_ERR_NOMEM) {
                st = ogq_error_set(err, OGQ_ERR_NOMEM, "%s", cerr.msg);
                goto fail;
            }
            problem_add(&probs, "initializer '%s'%s: %s", v->name, "", cerr.msg);
            continue;
        }
        s->ready = true;
    }
    if (probs.count) {
        st = ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "%zu unsupported node%s: %.*s", probs.count,
                           probs.count == 1 ? "" : "s", (int)probs.len, probs.text);
        goto fail;
    }

    /* Graph inputs to feed, graph outputs to keep. */
    e->inputs = calloc(g->n_inputs ? g->n_inputs : 1, sizeof *e->inputs);
    e->outputs = calloc(g->n_outputs ? g->n_outputs : 1, sizeof *e->outputs);
    if (!e->inputs || !e->outputs) {
        st = OGQ_NOMEM(err);
        goto fail;
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        if (g->inputs[i]->initializer)
            continue;
        int si = slot_index(e, g->inputs[i]);
        e->slots[si].kind = SLOT_INPUT;
        e->inputs[e->n_inputs++] = si;
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        int si = slot_index(e, g->outputs[i]);
        e->outputs[e->n_outputs++] = si;
        e->slots[si].last_use = INT32_MAX;
    }

    /* Constant nodes (no inputs): evaluate now, keep as constants. */
    for (size_t i = 0; i < e->n_nodes; i++) {
        struct exec_node *x = &e->nodes[i];
        if (ogq_node_present_inputs(x->node) != 0)
            continue;
        st = run_node(e, i, err);
        if (st != OGQ_OK)
            goto fail;
        for (size_t k = 0; k < x->node->n_outputs; k++) {
            if (x->out[k] < 0)
                continue;
            struct slot *s = &e->slots[x->out[k]];
            /* Move the pooled buffer into constant ownership. */
            void *copy = malloc(s->t.nbytes ? s->t.nbytes : 1);
            if (!copy) {
                st = OGQ_NOMEM(err);
                goto fail;
            }
            if (s->t.nbytes)
                memcpy(copy, s->t.data, s->t.nbytes);
            slot_release(e, s);
            s->kind = SLOT_CONST;
            s->const_owned = copy;
            s->t.data = copy;
            s->ready = true;
        }
        x->folded = true;
    }
    *out = e;
    return OGQ_OK;
fail:
    ogq_executor_free(e);
    return st;
}

void ogq_executor_free(struct ogq_executor *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_nodes; i++) {
        struct exec_node *x = &e->nodes[i];
        if (x->kernel && x->kernel->release && x->params)
            x->kernel->release(x->params);
        free(x->in);
        free(x->out);
        free(x->in_t);
        free(x->out_t);
    }
    for (size_t i = 0; i < e->n_slots; i++) {
        if (e->slots[i].buf)
            buf_release(e, e->slots[i].buf);
        free(e->slots[i].const_owned);
    }
    for (size_t i = 0; i < e->n_pool; i++) {
        free(e->pool[i]->p);
        free(e->pool[i]);
    }
    free(e->pool);
    free(e->slots);
    free(e->nodes);
    free(e->inputs);
    free(e->outputs);
    free(e->obs);
    free(e->scratch);
    free(e);
}

size_t ogq_executor_input_count(const struct ogq_executor *e)
{
    return e->n_inputs;
}

const struct ogq_value *ogq_executor_input(const struct ogq_executor *e, size_t i)
{
    return i < e->n_inputs ? e->slots[e->inputs[i]].value : NULL;
}

const struct ogq_rt_tensor *ogq_executor_output(const struct ogq_executor *e, size_t i)
{
    if (i >= e->n_outputs)
        return NULL;
    const struct slot *s = &e->slots[e->outputs[i]];
    return s->ready ? &s->t : NULL;
}

size_t ogq_executor_peak_bytes(const struct ogq_executor *e)
{
    return e->peak_bytes;
}

/* ---------------------------------------------------------------- hooks */

enum ogq_status ogq_executor_observe(struct ogq_executor *e, const struct ogq_node *node,
                                     ogq_observer_fn fn, void *user, struct ogq_error *err)
{
    struct observer o = {node, fn, user};
    if (!OGQ_ARRAY_PUSH(e->obs, e->n_obs, e->cap_obs, o))
        return OGQ_NOMEM(err);
    return OGQ_OK;
}

void ogq_executor_clear_observers(struct ogq_executor *e)
{
    e->n_obs = 0;
}

void ogq_executor_stop_after(struct ogq_executor *e, const struct ogq_node *node)
{
    e->stop_after = node;
}

enum ogq_status ogq_executor_override(struct ogq_executor *e, const struct ogq_value *value,
                                      const struct ogq_rt_tensor *t, struct ogq_error *err)
{
    int si = slot_index(e, value);
    if (si < 0 || e->slots[si].kind != SLOT_CONST || !value->initializer)
        return ogq_error_set(err, OGQ_ERR_USAGE, "override: '%s' is not an initializer",
                             value->name);
    struct slot *s = &e->slots[si];
    if (t && (t->rank != s->t.rank || t->dtype != s->t.dtype ||
              memcmp(t->dims, s->t.dims, sizeof(int64_t) * (size_t)t->rank) != 0))
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "override of '%s': dtype or shape differs from the initializer",
                             value->name);
    s->override = t;
    return OGQ_OK;
}

enum ogq_status ogq_executor_transform(struct ogq_executor *e, const struct ogq_value *value,
                                       ogq_transform_fn fn, void *user, struct ogq_error *err)
{
    int si = slot_index(e, value);
    if (si < 0 || e->slots[si].kind == SLOT_CONST)
        return ogq_error_set(err, OGQ_ERR_USAGE,
                             "transform: '%s' is not an activation (input or node output)",
                             value ? value->name : "(null)");
    e->slots[si].transform = fn;
    e->slots[si].transform_user = user;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- run */

/* Gives slot `s` a private writable copy of its data (for transforms of borrowed data). */
static enum ogq_status make_private(struct ogq_executor *e, struct slot *s, struct ogq_error *err)
{
    if (s->buf && s->buf->refs == 1)
        return OGQ_OK;
    struct rt_buf *b = buf_acquire(e, s->t.nbytes, err);
    if (!b)
        return OGQ_ERR_NOMEM;
    if (s->t.nbytes)
        memcpy(b->p, s->t.data, s->t.nbytes);
    if (s->buf)
        buf_release(e, s->buf);
    s->buf = b;
    s->t.data = b->p;
    return OGQ_OK;
}

static enum ogq_status apply_transform(struct ogq_executor *e, struct slot *s,
                                       struct ogq_error *err)
{
    if (!s->transform)
        return OGQ_OK;
    OGQ_TRY(make_private(e, s, err));
    return s->transform(s->transform_user, s->value, &s->t, err);
}

static enum ogq_status run_node(struct ogq_executor *e, size_t i, struct ogq_error *err)
{
    struct exec_node *x = &e->nodes[i];
    const struct ogq_node *n = x->node;
    for (size_t k = 0; k < n->n_inputs; k++) {
        if (x->in[k] < 0) {
            x->in_t[k] = NULL;
            continue;
        }
        struct slot *s = &e->slots[x->in[k]];
        if (!s->ready)
            return ogq_error_set(err, OGQ_ERR_INTERNAL, "node '%s' (%s): input '%s' is not computed",
                                 n->name, n->op_type, s->value->name);
        x->in_t[k] = s->override ? s->override : &s->t;
    }
    struct ogq_kernel_ctx ctx = {
        .node = n, .opset = x->opset, .params = x->params,
        .inputs = x->in_t, .n_inputs = n->n_inputs,
        .outputs = x->out_t, .n_outputs = n->n_outputs,
        .threads = e->threads, .err = err,
    };
    for (size_t k = 0; k < n->n_outputs; k++)
        if (x->out_t[k])
            memset(x->out_t[k], 0, sizeof *x->out_t[k]);
    OGQ_TRY(x->kernel->infer(&ctx));
    for (size_t k = 0; k < n->n_outputs; k++) {
        if (x->out[k] < 0)
            continue;
        struct slot *s = &e->slots[x->out[k]];
        if (k == 0 && x->kernel->output0_aliases_input0) {
            struct slot *src = &e->slots[x->in[0]];
            s->t.data = x->in_t[0]->data;
            if (src->buf && !src->override) {
                s->buf = src->buf;
                s->buf->refs++;
            }
        } else {
            s->buf = buf_acquire(e, s->t.nbytes, err);
            if (!s->buf)
                return OGQ_ERR_NOMEM;
            s->t.data = s->buf->p;
        }
        s->ready = true;
    }
    if (x->kernel->workspace) {
        size_t need = x->kernel->workspace(&ctx);
        if (need > e->scratch_size) {
            size_t cap = (need + ALIGN - 1) / ALIGN * ALIGN;
            void *p = aligned_alloc(ALIGN, cap);
            if (!p)
                return ogq_error_set(err, OGQ_ERR_NOMEM, "out of memory for %zu bytes of scratch",
                                     need);
            free(e->scratch);
            e->scratch = p;
            e->scratch_size = cap;
        }
        ctx.scratch = e->scratch;
        ctx.scratch_size = need;
    }
    if (x->kernel->run)
        OGQ_TRY(x->kernel->run(&ctx));
    for (size_t k = 0; k < n->n_outputs; k++)
        if (x->out[k] >= 0)
            OGQ_TRY(apply_transform(e, &e->slots[x->out[k]], err));
    return OGQ_OK;
}

static void release_all(struct ogq_executor *e)
{
    for (size_t i = 0; i < e->n_slots; i++)
        if (e->slots[i].kind != SLOT_CONST)
            slot_release(e, &e->slots[i]);
}

static enum ogq_status check_input(const struct ogq_value *v, const struct ogq_rt_tensor *t,
                                   struct ogq_error *err)
{
    if (!v->has_type || !v->is_tensor)
        return OGQ_OK;
    enum ogq_dtype want = ogq_rt_storage_dtype(v->type.dtype);
    if (v->type.dtype != OGQ_DTYPE_UNDEFINED && want != t->dtype)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "input '%s': expected dtype %s, got %s", v->name,
                             ogq_dtype_short_name(v->type.dtype), ogq_dtype_short_name(t->dtype));
    if (v->type.rank < 0)
        return OGQ_OK;
    bool ok = v->type.rank == t->rank;
    for (int d = 0; ok && d < t->rank; d++)
        ok = v->type.dims[d].value < 0 || v->type.dims[d].value == t->dims[d];
    if (!ok) {
        char want_s[256], got_s[256];
        size_t pos = 0;
        want_s[0] = 0;
        for (int d = 0; d < v->type.rank && pos < sizeof want_s; d++) {
            int w = v->type.dims[d].value >= 0
                        ? snprintf(want_s + pos, sizeof want_s - pos, "%s%lld", d ? "," : "",
                                   (long long)v->type.dims[d].value)
                        : snprintf(want_s + pos, sizeof want_s - pos, "%s%s", d ? "," : "",
                                   v->type.dims[d].param ? v->type.dims[d].param : "?");
            if (w < 0)
                break;
            pos += (size_t)w;
        }
        ogq_dims_format(t->dims, t->rank, got_s, sizeof got_s);
        return ogq_error_set(err, OGQ_ERR_FORMAT, "input '%s': expected shape [%s], got %s",
                             v->name, want_s, got_s);
    }
    return OGQ_OK;
}

static enum ogq_status execute(struct ogq_executor *e, struct ogq_error *err)
{
    for (size_t i = 0; i < e->n_nodes; i++) {
        struct exec_node *x = &e->nodes[i];
        if (x->folded)
            continue;
        OGQ_TRY(run_node(e, i, err));
        for (size_t o = 0; o < e->n_obs; o++) {
            if (e->obs[o].node && e->obs[o].node != x->node)
                continue;
            OGQ_TRY(e->obs[o].fn(e->obs[o].user, x->node, x->in_t, x->node->n_inputs,
                                 (const struct ogq_rt_tensor *const *)x->out_t,
                                 x->node->n_outputs, err));
        }
        /* Release what no later node reads: inputs at their last use, unused outputs. */
        for (size_t k = 0; k < x->node->n_inputs; k++) {
            int si = x->in[k];
            if (si >= 0 && e->slots[si].last_use == (int)i && e->slots[si].kind != SLOT_CONST)
                slot_release(e, &e->slots[si]);
        }
        for (size_t k = 0; k < x->node->n_outputs; k++) {
            int si = x->out[k];
            if (si >= 0 && e->slots[si].last_use < 0)
                slot_release(e, &e->slots[si]);
        }
        if (e->stop_after == x->node)
            break;
    }
    return OGQ_OK;
}

enum ogq_status ogq_executor_run_rt(struct ogq_executor *e,
                                    const struct ogq_rt_tensor *const *inputs,
                                    struct ogq_error *err)
{
    release_all(e);
    for (size_t i = 0; i < e->n_inputs; i++) {
        struct slot *s = &e->slots[e->inputs[i]];
        if (!inputs[i])
            return ogq_error_set(err, OGQ_ERR_USAGE, "input '%s' is not given", s->value->name);
        OGQ_TRY(check_input(s->value, inputs[i], err));
        s->t = *inputs[i];
        s->ready = true;
        OGQ_TRY(apply_transform(e, s, err));
    }
    enum ogq_status st = execute(e, err);
    if (st != OGQ_OK)
        release_all(e);
    return st;
}

enum ogq_status ogq_executor_run(struct ogq_executor *e, const struct ogq_tensor *const *inputs,
                                 struct ogq_error *err)
{
    release_all(e);
    for (size_t i = 0; i < e->n_inputs; i++) {
        struct slot *s = &e->slots[e->inputs[i]];
        const struct ogq_tensor *in = inputs[i];
        if (!in)
            return ogq_error_set(err, OGQ_ERR_USAGE, "input '%s' is not given", s->value->name);
        struct ogq_rt_tensor t;
        void *owned = NULL;
        enum ogq_status st = ogq_rt_tensor_from_ir(in, true, &t, &owned, err);
        if (st != OGQ_OK) {
            ogq_error_prefix(err, "input '%s'", s->value->name);
            release_all(e);
            return st;
        }
        if (owned) { /* converted: move into a pooled buffer so it is freed with the run */
            struct rt_buf *b = buf_acquire(e, t.nbytes, err);
            if (!b) {
                free(owned);
                release_all(e);
                return OGQ_ERR_NOMEM;
            }
            memcpy(b->p, owned, t.nbytes);
            free(owned);
            t.data = b->p;
            s->buf = b;
        }
        s->t = t;
        s->ready = true;
        st = check_input(s->value, &s->t, err);
        if (st == OGQ_OK)
            st = apply_transform(e, s, err);
        if (st != OGQ_OK) {
            release_all(e);
            return st;
        }
    }
    enum ogq_status st = execute(e, err);
    if (st != OGQ_OK)
        release_all(e);
    return st;
}

/* ---------------------------------------------------------------- single node */

enum ogq_status ogq_eval_node(const struct ogq_model *model, const struct ogq_node *node,
                              const struct ogq_rt_tensor *const *inputs,
                              struct ogq_rt_tensor *outputs, struct ogq_error *err)
{
    int64_t opset = ogq_model_opset(model, node->domain);
    if (opset == 0 && !*node->domain)
        opset = 1;
    char why[256];
    const struct ogq_kernel *k = ogq_registry_find(node->domain, node->op_type, opset, why,
                                                   sizeof why);
    if (!k || node->has_subgraphs)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "node '%s' (%s): %s", node->name,
                             node->op_type, k ? "has subgraphs" : why);
    void *params = NULL;
    if (k->prepare)
        OGQ_TRY(k->prepare(node, opset, &params, err));
    struct ogq_rt_tensor **outs = calloc(node->n_outputs ? node->n_outputs : 1, sizeof *outs);
    if (!outs) {
        if (k->release && params)
            k->release(params);
        return OGQ_NOMEM(err);
    }
    for (size_t i = 0; i < node->n_outputs; i++) {
        memset(&outputs[i], 0, sizeof outputs[i]);
        outs[i] = node->outputs[i] ? &outputs[i] : NULL;
    }
    struct ogq_kernel_ctx ctx = {
        .node = node, .opset = opset, .params = params,
        .inputs = inputs, .n_inputs = node->n_inputs,
        .outputs = outs, .n_outputs = node->n_outputs,
        .threads = 1, .err = err,
    };
    void *scratch = NULL;
    enum ogq_status st = k->infer(&ctx);
    for (size_t i = 0; st == OGQ_OK && i < node->n_outputs; i++) {
        if (!outs[i])
            continue;
        outs[i]->data = malloc(outs[i]->nbytes ? outs[i]->nbytes : 1);
        if (!outs[i]->data)
            st = OGQ_NOMEM(err);
        else if (i == 0 && k->output0_aliases_input0 && outs[i]->nbytes)
            memcpy(outs[i]->data, inputs[0]->data, outs[i]->nbytes);
    }
    if (st == OGQ_OK && k->workspace) {
        ctx.scratch_size = k->workspace(&ctx);
        if (ctx.scratch_size) {
            scratch = aligned_alloc(ALIGN, (ctx.scratch_size + ALIGN - 1) / ALIGN * ALIGN);
            if (!scratch)
                st = OGQ_NOMEM(err);
            ctx.scratch = scratch;
        }
    }
    if (st == OGQ_OK && k->run)
        st = k->run(&ctx);
    free(scratch);
    if (k->release && params)
        k->release(params);
    if (st != OGQ_OK)
        for (size_t i = 0; i < node->n_outputs; i++) {
            free(outputs[i].data);
            outputs[i].data = NULL;
        }
    free(outs);
    return st;
}
