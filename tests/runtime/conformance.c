/* conformance.c — runs ONNX's backend node tests (../shared/onnx-node-tests) through the
 * runtime and compares with the stored expected outputs.
 *
 * usage: conformance [--op OP[,OP...]] [--test NAME] [--verbose] DIR
 *
 * Each test ends as one of:
 *   PASS     outputs match (float: |x-y| <= atol + rtol*|y|, NaN == NaN; integers exact)
 *   FAIL     a claimed op produced a wrong answer or an unexpected error
 *   REFUSED  the runtime refused the test cleanly (an input/initializer dtype the runtime
 *            does not support, such as int16 or float8) — never a wrong answer
 *   SKIP     the test uses an op (or opset) the runtime does not claim
 * The closing line is "conformance: N passed, M failed, K skipped" (refused + unclaimed
 * counted as skipped, and listed separately just above). Exit status 1 on any FAIL.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/model_io.h"
#include "runtime/executor.h"
#include "runtime/registry.h"

#define RTOL 1e-3
#define ATOL 1e-5
#define MAX_IO 64

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool op_selected(const struct ogq_model *m, const char *ops)
{
    if (!ops)
        return true;
    for (size_t i = 0; i < m->graph->n_nodes; i++) {
        const char *op = m->graph->nodes[i]->op_type;
        const char *p = ops;
        size_t len = strlen(op);
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t plen = comma ? (size_t)(comma - p) : strlen(p);
            if (plen == len && strncmp(p, op, len) == 0)
                return true;
            p += plen + (comma ? 1 : 0);
        }
    }
    return false;
}

/* Returns NULL if every op is claimed, else a description of the first unclaimed op. */
static const char *unclaimed_op(const struct ogq_model *m, char *buf, size_t size)
{
    for (size_t i = 0; i < m->graph->n_nodes; i++) {
        const struct ogq_node *n = m->graph->nodes[i];
        int64_t opset = ogq_model_opset(m, n->domain);
        char why[200];
        if (!ogq_registry_find(n->domain, n->op_type, opset, why, sizeof why)) {
            snprintf(buf, size, "%s: %s", n->op_type, why);
            return buf;
        }
    }
    return NULL;
}

static bool compare(const struct ogq_rt_tensor *got, const struct ogq_rt_tensor *want, char *why,
                    size_t size)
{
    if (got->dtype != want->dtype) {
        snprintf(why, size, "dtype %s, expected %s", ogq_dtype_name(got->dtype),
                 ogq_dtype_name(want->dtype));
        return false;
    }
    if (got->rank != want->rank || memcmp(got->dims, want->dims, sizeof(int64_t) * (size_t)got->rank)) {
        char g[96], w[96];
        ogq_dims_format(got->dims, got->rank, g, sizeof g);
        ogq_dims_format(want->dims, want->rank, w, sizeof w);
        snprintf(why, size, "shape %s, expected %s", g, w);
        return false;
    }
    if (got->dtype == OGQ_DTYPE_FLOAT) {
        const float *a = got->data, *b = want->data;
        for (int64_t i = 0; i < got->numel; i++) {
            if (isnan(a[i]) && isnan(b[i]))
                continue;
            if (isinf(b[i]) && a[i] == b[i])
                continue;
            if (!(fabs((double)a[i] - b[i]) <= ATOL + RTOL * fabs((double)b[i]))) {
                snprintf(why, size, "element %lld: %.9g, expected %.9g", (long long)i, a[i], b[i]);
                return false;
            }
        }
        return true;
    }
    if (got->nbytes && memcmp(got->data, want->data, got->nbytes) != 0) {
        for (int64_t i = 0; i < got->numel; i++) {
            if (ogq_rt_get_int(got, i) != ogq_rt_get_int(want, i)) {
                snprintf(why, size, "element %lld: %lld, expected %lld", (long long)i,
                         (long long)ogq_rt_get_int(got, i), (long long)ogq_rt_get_int(want, i));
                return false;
            }
        }
        snprintf(why, size, "bytes differ");
        return false;
    }
    return true;
}

enum outcome { PASS, FAIL, REFUSED, SKIP };

static enum outcome run_test(const char *dir, const char *name, const char *ops, char *why,
                             size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *m = NULL;
    struct ogq_executor *e = NULL;
    struct ogq_tensor *ins[MAX_IO] = {0};
    enum outcome result = FAIL;
    if (ogq_model_load(path, &m, &err) != OGQ_OK) {
        snprintf(why, size, "load: %s", err.msg);
        return FAIL;
    }
    if (!op_selected(m, ops)) {
        ogq_model_free(m);
        return SKIP + 1; /* not selected: not counted */
    }
    char buf[300];
    if (unclaimed_op(m, buf, sizeof buf)) {
        snprintf(why, size, "%s", buf);
        ogq_model_free(m);
        return SKIP;
    }
    struct ogq_exec_options opts = {.threads = 1};
    if (ogq_executor_new(m, &opts, &e, &err) != OGQ_OK) {
        snprintf(why, size, "%s", err.msg);
        result = err.code == OGQ_ERR_UNSUPPORTED ? REFUSED : FAIL;
        goto out;
    }
    size_t n_in = ogq_executor_input_count(e);
    if (n_in > MAX_IO) {
        snprintf(why, size, "too many inputs");
        goto out;
    }
    for (size_t i = 0; i < n_in; i++) {
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%zu.pb", dir, name, i);
        if (ogq_tensor_load_pb(path, &ins[i], &err) != OGQ_OK) {
            snprintf(why, size, "input %zu: %s", i, err.msg);
            result = REFUSED; /* e.g. sequences/optionals, which are not TensorProtos */
            goto out;
        }
    }
    if (ogq_executor_run(e, (const struct ogq_tensor *const *)ins, &err) != OGQ_OK) {
        snprintf(why, size, "%s", err.msg);
        result = err.code == OGQ_ERR_UNSUPPORTED ? REFUSED : FAIL;
        goto out;
    }
    result = PASS;
    for (size_t i = 0; i < m->graph->n_outputs; i++) {
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/output_%zu.pb", dir, name, i);
        struct ogq_tensor *want_ir;
        if (ogq_tensor_load_pb(path, &want_ir, &err) != OGQ_OK) {
            snprintf(why, size, "expected output %zu: %s", i, err.msg);
            result = REFUSED;
            break;
        }
        struct ogq_rt_tensor want;
        void *owned = NULL;
        if (ogq_rt_tensor_from_ir(want_ir, true, &want, &owned, &err) != OGQ_OK) {
            snprintf(why, size, "expected output %zu: %s", i, err.msg);
            ogq_tensor_free(want_ir);
            result = REFUSED;
            break;
        }
        const struct ogq_rt_tensor *got = ogq_executor_output(e, i);
        char cwhy[256];
        if (!got) {
            snprintf(why, size, "output %zu was not produced", i);
            result = FAIL;
        } else if (!compare(got, &want, cwhy, sizeof cwhy)) {
            snprintf(why, size, "output %zu ('%s'): %s", i, m->graph->outputs[i]->name, cwhy);
            result = FAIL;
        }
        free(owned);
        ogq_tensor_free(want_ir);
        if (result != PASS)
            break;
    }
out:
    for (size_t i = 0; i < MAX_IO; i++)
        ogq_tensor_free(ins[i]);
    ogq_executor_free(e);
    ogq_model_free(m);
    return result;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *ops = NULL, *only = NULL;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--op") == 0 && i + 1 < argc)
            ops = argv[++i];
        else if (strcmp(argv[i], "--test") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else
            dir = argv[i];
    }
    if (!dir) {
        fprintf(stderr, "usage: conformance [--op OP,...] [--test NAME] [--verbose] DIR\n");
        return 2;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "conformance: cannot open %s\n", dir);
        return 2;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *ent; (ent = readdir(d));) {
        if (strncmp(ent->d_name, "test_", 5) != 0)
            continue;
        if (only && strcmp(ent->d_name, only) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                return 2;
            names = grown;
        }
        names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    size_t counts[4] = {0};
    for (size_t i = 0; i < n; i++) {
        char why[2048] = "";
        int r = (int)run_test(dir, names[i], ops, why, sizeof why);
        if (r <= SKIP) {
            counts[r]++;
            if (r == FAIL)
                printf("FAIL %s: %s\n", names[i], why);
            else if (verbose || r == REFUSED)
                printf("%s %s%s%s\n", r == PASS ? "PASS" : r == REFUSED ? "REFUSED" : "SKIP",
                       names[i], *why ? ": " : "", why);
        }
        free(names[i]);
    }
    free(names);
    printf("refused (unsupported dtype, clean error): %zu; unclaimed op: %zu\n", counts[REFUSED],
           counts[SKIP]);
    printf("conformance: %zu passed, %zu failed, %zu skipped\n", counts[PASS], counts[FAIL],
           counts[REFUSED] + counts[SKIP]);
    return counts[FAIL] ? 1 : 0;
}
