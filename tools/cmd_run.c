/* cmd_run.c — `onnx-gptq run MODEL --input DATA`: run a model on the CPU runtime over
 * calibration/test data and save or summarise its outputs.
 *
 * Inputs come from runtime/calib_data.h (all its layouts, batching rules and errors).
 * Each graph output is collected over the batches and concatenated along axis 0 (rank-0
 * outputs of several batches are stacked into a vector), converted back to the output's
 * declared dtype where the runtime computed it in float32 (float16, bfloat16, float64).
 * bfloat16 has no .npy type, so such outputs can only be summarised.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph/model_io.h"
#include "runtime/calib_data.h"
#include "runtime/executor.h"
#include "runtime/npy.h"
#include "runtime/rt_tensor.h"
#include "util/checked.h"

int cmd_run(int argc, char **argv);

static const char help[] =
    "usage: onnx-gptq run MODEL --input DATA [--output OUT.npz] [options]\n"
    "\n"
    "Runs MODEL on the onnx-gptq CPU runtime over every sample of DATA, in batches.\n"
    "\n"
    "DATA is an .npz keyed by input name, a folder of <input>.npy files, a folder of .npz\n"
    "files, ONNX test data (a folder of test_data_set_N/ folders holding input_N.pb, or one\n"
    "such folder; inputs by position), or one .npy file for a one-input model. Samples are\n"
    "taken along axis 0; an array with one more dim than the input is a stack of complete\n"
    "inputs. Dtypes must match the model's inputs exactly.\n"
    "\n"
    "  --input DATA       the input data (required)\n"
    "  --output OUT.npz   write the outputs keyed by output name, concatenated over batches\n"
    "                     along axis 0, in their declared dtypes. Without it, print the\n"
    "                     dtype, shape and min/max/mean of each output.\n"
    "  --batch-size B     samples per run (default 1; inputs with a fixed batch dim, or\n"
    "                     given as stacks, impose their own)\n"
    "  --samples N        use only the first N samples\n"
    "  --threads N        compute threads (default 0: all cores)\n";

/* One graph output collected over the batches. */
struct acc {
    const struct ogq_value *value;
    bool duplicate;       /* listed before: collected once */
    enum ogq_dtype dtype; /* as written */
    int rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    int64_t rows; /* sum of dim 0 (rank >= 1) or number of batches (rank 0) */
    uint8_t *data;
    size_t len, cap;
};

static enum ogq_dtype written_dtype(const struct ogq_value *v, enum ogq_dtype storage)
{
    enum ogq_dtype declared = v->has_type ? v->type.dtype : OGQ_DTYPE_UNDEFINED;
    if (storage == OGQ_DTYPE_FLOAT &&
        (declared == OGQ_DTYPE_FLOAT16 || declared == OGQ_DTYPE_BFLOAT16 ||
         declared == OGQ_DTYPE_DOUBLE))
        return declared;
    return storage;
}

static bool acc_reserve(struct acc *a, size_t more)
{
    size_t need;
    if (!ogq_add_size(a->len, more, &need))
        return false;
    if (need <= a->cap)
        return true;
    size_t cap = a->cap ? a->cap : 4096;
    while (cap < need)
        if (!ogq_mul_size(cap, 2, &cap))
            return false;
    uint8_t *p = realloc(a->data, cap);
    if (!p)
        return false;
    a->data = p;
    a->cap = cap;
    return true;
}

/* Appends one batch's value of output `a`. */
static enum ogq_status acc_add(struct acc *a, const struct ogq_rt_tensor *t, bool first,
                               struct ogq_error *err)
{
    const char *name = a->value->name;
    if (first) {
        a->dtype = written_dtype(a->value, t->dtype);
        if (ogq_dtype_bits(a->dtype) < 8)
            return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                                 "output '%s': dtype %s cannot be collected", name,
                                 ogq_dtype_short_name(a->dtype));
        a->rank = t->rank;
        memcpy(a->dims, t->dims, (size_t)t->rank * sizeof *t->dims);
    } else {
        bool same = t->rank == a->rank;
        for (int d = 1; same && d < t->rank; d++)
            same = t->dims[d] == a->dims[d];
        if (!same) {
            char was[256], now[256];
            ogq_dims_format(a->dims, a->rank, was, sizeof was);
            ogq_dims_format(t->dims, t->rank, now, sizeof now);
            return ogq_error_set(err, OGQ_ERR_FORMAT,
                                 "output '%s' changes shape between batches (%s, then %s); it "
                                 "cannot be concatenated along axis 0",
                                 name, was, now);
        }
    }
    size_t bytes;
    if (!ogq_dtype_storage_bytes(a->dtype, t->numel, &bytes) || !acc_reserve(a, bytes))
        return OGQ_NOMEM(err);
    uint8_t *dst = a->data + a->len;
    const float *f = t->data;
    if (a->dtype == t->dtype) {
        if (bytes)
            memcpy(dst, t->data, bytes);
    } else if (a->dtype == OGQ_DTYPE_FLOAT16) {
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h = ogq_float_to_half(f[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
    } else if (a->dtype == OGQ_DTYPE_BFLOAT16) {
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h = ogq_float_to_bfloat16(f[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
    } else { /* DOUBLE */
        for (int64_t i = 0; i < t->numel; i++) {
            double v = f[i];
            memcpy(dst + 8 * i, &v, 8);
        }
    }
    a->len += bytes;
    a->rows += t->rank ? t->dims[0] : 1;
    return OGQ_OK;
}

/* The collected value as a tensor (takes the data). */
static enum ogq_status acc_tensor(struct acc *a, int64_t batches, struct ogq_tensor **out,
                                  struct ogq_error *err)
{
    int rank = a->rank;
    int64_t dims[OGQ_RT_MAX_RANK];
    memcpy(dims, a->dims, sizeof dims);
    if (rank == 0 && batches > 1) {
        rank = 1;
        dims[0] = a->rows;
    } else if (rank > 0) {
        dims[0] = a->rows;
    }
    struct ogq_buffer *b;
    uint8_t *data = a->data ? a->data : malloc(1);
    if (!data)
        return OGQ_NOMEM(err);
    a->data = NULL;
    enum ogq_status st = ogq_buffer_wrap(data, a->len, &b, err);
    if (st != OGQ_OK) {
        free(data);
        return st;
    }
    st = ogq_tensor_new_view(a->value->name, a->dtype, rank, dims, b, 0, a->len, out, err);
    ogq_buffer_unref(b);
    return st;
}

static double element(const struct ogq_tensor *t, const uint8_t *p, int64_t i)
{
    switch (t->dtype) {
    case OGQ_DTYPE_FLOAT: {
        float v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case OGQ_DTYPE_DOUBLE: {
        double v;
        memcpy(&v, p + 8 * i, 8);
        return v;
    }
    case OGQ_DTYPE_FLOAT16:
    case OGQ_DTYPE_BFLOAT16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return t->dtype == OGQ_DTYPE_FLOAT16 ? ogq_half_to_float(h) : ogq_bfloat16_to_float(h);
    }
    case OGQ_DTYPE_INT64: {
        int64_t v;
        memcpy(&v, p + 8 * i, 8);
        return (double)v;
    }
    case OGQ_DTYPE_INT32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case OGQ_DTYPE_INT8:
        return (int8_t)p[i];
    case OGQ_DTYPE_UINT8:
    case OGQ_DTYPE_BOOL:
        return p[i];
    default:
        return NAN;
    }
}

static void print_summary(const struct ogq_tensor *t)
{
    char shape[256];
    ogq_dims_format(t->dims, t->rank, shape, sizeof shape);
    printf("%s  %s  %s", t->name, ogq_dtype_short_name(t->dtype), shape);
    const uint8_t *p = ogq_tensor_data(t);
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    int64_t finite = 0, nan = 0, inf = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = element(t, p, i);
        if (isnan(v)) {
            nan++;
            continue;
        }
        if (isinf(v))
            inf++;
        else
            finite++;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    if (finite + inf == 0)
        printf("  (no values)");
    else
        printf("  min=%.7g max=%.7g mean=%.7g", lo, hi, sum / (double)(finite + inf));
    if (nan)
        printf("  nan=%lld", (long long)nan);
    putchar('\n');
}

int cmd_run(int argc, char **argv)
{
    struct cli_args a;
    cli_args_init(&a, "run", argc, argv);
    const char *model_path = NULL, *input = NULL, *output = NULL;
    int64_t threads = 0, batch = 0, samples = 0;
    char name[64];
    for (const char *arg; (arg = cli_next(&a, name, sizeof name));) {
        const char *v;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            fputs(help, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(arg, "--input") == 0) {
            if (!(input = cli_value(&a, arg)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--output") == 0) {
            if (!(output = cli_value(&a, arg)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--threads") == 0) {
            if (!(v = cli_value(&a, arg)) || !cli_parse_int("run", arg, v, 0, 4096, &threads))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--batch-size") == 0) {
            if (!(v = cli_value(&a, arg)) ||
                !cli_parse_int("run", arg, v, 1, INT64_C(1) << 40, &batch))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--samples") == 0) {
            if (!(v = cli_value(&a, arg)) || !cli_parse_int("run", arg, v, 1, INT64_MAX, &samples))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(arg)) {
            return cli_usage_error("run", "unknown option '%s'", arg);
        } else if (!model_path) {
            model_path = arg;
        } else {
            return cli_usage_error("run", "unexpected argument '%s'", arg);
        }
    }
    if (!model_path)
        return cli_usage_error("run", "expected MODEL");
    if (!input)
        return cli_usage_error("run", "--input is required");

    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *m = NULL;
    struct ogq_executor *e = NULL;
    struct ogq_calib *src = NULL;
    struct ogq_tensor **batch_t = NULL, **outs = NULL;
    struct acc *accs = NULL;
    int rc = CLI_EXIT_OK;
    size_t n_in = 0, n_out = 0;

    if (ogq_model_load(model_path, &m, &err) != OGQ_OK) {
        rc = cli_fail(&err, true);
        goto done;
    }
    struct ogq_exec_options eo = {.threads = (int)threads};
    if (ogq_executor_new(m, &eo, &e, &err) != OGQ_OK) {
        ogq_error_prefix(&err, "%s", model_path);
        rc = cli_fail(&err, true);
        goto done;
    }
    n_in = ogq_executor_input_count(e);
    if (n_in == 0) {
        cli_error("%s: the model has no inputs to feed", model_path);
        rc = CLI_EXIT_INPUT;
        goto done;
    }
    struct ogq_calib_options co;
    ogq_calib_options_init(&co);
    co.batch_size = batch;
    co.max_samples = samples;
    if (ogq_calib_open_executor(input, e, &co, &src, &err) != OGQ_OK) {
        rc = cli_fail(&err, true);
        goto done;
    }
    if (ogq_calib_note(src))
        fprintf(stderr, "onnx-gptq: note: %s\n", ogq_calib_note(src));

    const struct ogq_graph *g = m->graph;
    n_out = g->n_outputs;
    batch_t = calloc(n_in, sizeof *batch_t);
    accs = calloc(n_out ? n_out : 1, sizeof *accs);
    outs = calloc(n_out ? n_out : 1, sizeof *outs);
    if (!batch_t || !accs || !outs) {
        OGQ_NOMEM(&err);
        rc = cli_fail(&err, false);
        goto done;
    }
    for (size_t i = 0; i < n_out; i++) {
        accs[i].value = g->outputs[i];
        for (size_t j = 0; j < i; j++)
            if (g->outputs[j] == g->outputs[i])
                accs[i].duplicate = true;
    }
    int64_t n_batches = 0;
    for (;;) {
        bool end;
        if (ogq_calib_next(src, batch_t, &end, &err) != OGQ_OK) {
            rc = cli_fail(&err, true);
            goto done;
        }
        if (end)
            break;
        enum ogq_status st = ogq_executor_run(e, (const struct ogq_tensor *const *)batch_t, &err);
        for (size_t i = 0; st == OGQ_OK && i < n_out; i++) {
            if (accs[i].duplicate)
                continue;
            const struct ogq_rt_tensor *t = ogq_executor_output(e, i);
            if (!t)
                st = ogq_error_set(&err, OGQ_ERR_INTERNAL, "output '%s' was not produced",
                                   g->outputs[i]->name);
            else
                st = acc_add(&accs[i], t, n_batches == 0, &err);
        }
        for (size_t i = 0; i < n_in; i++) {
            ogq_tensor_free(batch_t[i]);
            batch_t[i] = NULL;
        }
        if (st != OGQ_OK) {
            ogq_error_prefix(&err, "%s: batch %lld", model_path, (long long)n_batches);
            rc = cli_fail(&err, true);
            goto done;
        }
        n_batches++;
    }

    for (size_t i = 0; i < n_out; i++) {
        if (accs[i].duplicate)
            continue;
        if (acc_tensor(&accs[i], n_batches, &outs[i], &err) != OGQ_OK) {
            rc = cli_fail(&err, false);
            goto done;
        }
    }
    if (output) {
        struct ogq_npz_writer *w;
        if (ogq_npz_writer_open(output, 0, &w, &err) != OGQ_OK) {
            rc = cli_fail(&err, false);
            goto done;
        }
        for (size_t i = 0; i < n_out; i++) {
            if (accs[i].duplicate)
                continue;
            if (ogq_npz_writer_add(w, g->outputs[i]->name, outs[i], &err) != OGQ_OK) {
                ogq_npz_writer_abort(w);
                rc = cli_fail(&err, false);
                goto done;
            }
        }
        if (ogq_npz_writer_commit(w, &err) != OGQ_OK) {
            rc = cli_fail(&err, false);
            goto done;
        }
    } else {
        printf("%lld samples in %lld batches (batch size %lld, data: %s)\n",
               (long long)ogq_calib_sample_count(src), (long long)n_batches,
               (long long)ogq_calib_batch_size(src), ogq_calib_layout(src));
        for (size_t i = 0; i < n_out; i++)
            if (!accs[i].duplicate)
                print_summary(outs[i]);
    }

done:
    if (batch_t)
        for (size_t i = 0; i < n_in; i++)
            ogq_tensor_free(batch_t[i]);
    free(batch_t);
    if (accs)
        for (size_t i = 0; i < n_out; i++)
            free(accs[i].data);
    free(accs);
    if (outs)
        for (size_t i = 0; i < n_out; i++)
            ogq_tensor_free(outs[i]);
    free(outs);
    ogq_calib_free(src);
    ogq_executor_free(e);
    ogq_model_free(m);
    return rc;
}
