/* bench_run.c — times the onnx-gptq runtime on one model (driver for bench_runtime.py).
 *
 * usage: bench_run MODEL [--dim NAME=SIZE]... [--threads N] [--warmup W] [--runs R]
 *                        [--seed S] [--output FILE] [--op-times]
 *
 * Loads and plans MODEL once (not timed), fills every graph input with seeded pseudo-random
 * data of its declared shape (symbolic dims come from --dim), runs W untimed warmup runs,
 * then R timed calls of ogq_executor_run_rt, and prints one line of key=value pairs:
 *   load_ms median_ms min_ms mean_ms runs threads peak_rss_mb executor_peak_mb
 * peak_rss_mb is the peak resident set of the whole process (model, weights, buffers,
 * OpenBLAS): VmHWM from /proc/self/status, which starts afresh at exec, else getrusage's
 * ru_maxrss (which on Linux also counts the address space of a forking parent — a large
 * Python parent inflates it). executor_peak_mb is ogq_executor_peak_bytes (intermediates
 * held at once).
 * --output writes graph output 0 of the last run as raw little-endian float32.
 * --op-times adds, per op type, the mean time per timed run, one line each:
 *   op=TYPE ms=M calls=C share=PERCENT
 * measured with an observer on every node: a node's time is the gap since the previous
 * callback, so it includes the executor's own work around the node (shape inference,
 * buffer recycling). The observer's cost is included in the latency printed with it.
 *
 * Input data: float inputs get uniform values in [-1, 1) from a counter-based splitmix64
 * stream, element i of input k being f(mix(seed ^ (k+1)*K1 + (i+1)*GOLDEN)), so that
 * bench_runtime.py regenerates exactly the same inputs with numpy for ONNX Runtime.
 * Integer inputs are zero-filled; BOOL inputs false.
 *
 * Exit status: 0 ok, 1 usage error, 2 the model cannot be loaded or planned (or an input
 * shape is unknown), 3 a failure while running.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "graph/model_io.h"
#include "runtime/executor.h"

#define MAX_DIMS 32
#define MAX_INPUTS 64
#define MAX_OP_TYPES 128

static const uint64_t GOLDEN = 0x9E3779B97F4A7C15ull;
static const uint64_t INPUT_KEY = 0xD1B54A32D192ED03ull;

struct dim_arg {
    char name[128];
    int64_t size;
};

static uint64_t splitmix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_uniform(float *x, int64_t n, uint64_t seed, size_t input_index)
{
    uint64_t base = seed ^ ((uint64_t)(input_index + 1) * INPUT_KEY);
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = splitmix64(base + (uint64_t)(i + 1) * GOLDEN);
        /* top 24 bits: exact in float32 */
        x[i] = (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Per-op-type time accumulated by the --op-times observer. */
struct op_times {
    double last;   /* time of the previous callback (or of the run's start) */
    bool counting; /* false during warmup */
    size_t n;
    struct {
        const char *op; /* borrowed from the model */
        double ms;
        int64_t calls;
    } ops[MAX_OP_TYPES];
};

static enum ogq_status time_node(void *user, const struct ogq_node *node,
                                 const struct ogq_rt_tensor *const *inputs, size_t n_inputs,
                                 const struct ogq_rt_tensor *const *outputs, size_t n_outputs,
                                 struct ogq_error *err)
{
    (void)inputs, (void)n_inputs, (void)outputs, (void)n_outputs, (void)err;
    struct op_times *t = user;
    double now = now_ms();
    double dt = now - t->last;
    t->last = now;
    if (!t->counting)
        return OGQ_OK;
    size_t k = 0;
    while (k < t->n && strcmp(t->ops[k].op, node->op_type) != 0)
        k++;
    if (k == t->n) {
        if (t->n == MAX_OP_TYPES)
            return OGQ_OK; /* more op types than slots: the rest go untimed */
        t->ops[t->n].op = node->op_type;
        t->ops[t->n].ms = 0;
        t->ops[t->n].calls = 0;
        t->n++;
    }
    t->ops[k].ms += dt;
    t->ops[k].calls++;
    return OGQ_OK;
}

static int cmp_op_ms(const void *a, const void *b)
{
    double x = ((const double *)a)[1], y = ((const double *)b)[1];
    return (x < y) - (x > y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Peak RSS in MiB: VmHWM of this process image, or ru_maxrss when /proc is unavailable. */
static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        long long kb = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %lld kB", &kb) == 1)
                break;
        fclose(f);
        if (kb >= 0)
            return (double)kb / 1024.0;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int usage(void)
{
    fputs("usage: bench_run MODEL [--dim NAME=SIZE]... [--threads N] [--warmup W] [--runs R]\n"
          "                 [--seed S] [--output FILE] [--op-times]\n",
          stderr);
    return 1;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Resolves the declared shape of input `v` into `t` (FLOAT storage unless integer/bool). */
static bool input_shape(const struct ogq_value *v, const struct dim_arg *dims, size_t n_dims,
                        struct ogq_rt_tensor *t)
{
    if (!v->has_type || v->type.rank < 0) {
        fprintf(stderr, "bench_run: input '%s' has no declared shape\n", v->name);
        return false;
    }
    int64_t shape[OGQ_RT_MAX_RANK];
    if (v->type.rank > OGQ_RT_MAX_RANK) {
        fprintf(stderr, "bench_run: input '%s' has rank %d\n", v->name, v->type.rank);
        return false;
    }
    for (int d = 0; d < v->type.rank; d++) {
        const struct ogq_dim *dim = &v->type.dims[d];
        shape[d] = dim->value;
        for (size_t k = 0; shape[d] < 0 && dim->param && k < n_dims; k++)
            if (strcmp(dims[k].name, dim->param) == 0)
                shape[d] = dims[k].size;
        if (shape[d] < 0) {
            fprintf(stderr, "bench_run: input '%s' dim %d ('%s') needs --dim NAME=SIZE\n",
                    v->name, d, dim->param ? dim->param : "?");
            return false;
        }
    }
    enum ogq_dtype dt = ogq_rt_storage_dtype(v->type.dtype);
    if (dt == OGQ_DTYPE_UNDEFINED) {
        fprintf(stderr, "bench_run: input '%s' has unsupported dtype %s\n", v->name,
                ogq_dtype_name(v->type.dtype));
        return false;
    }
    struct ogq_error err;
    if (ogq_rt_tensor_set_shape(t, dt, v->type.rank, shape, v->name, &err) != OGQ_OK) {
        fprintf(stderr, "bench_run: %s\n", err.msg);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *output_path = NULL;
    struct dim_arg dims[MAX_DIMS];
    size_t n_dims = 0;
    int64_t threads = 1, warmup = 3, runs = 10, seed = 0;
    bool op_times = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (model_path)
                return usage();
            model_path = a;
            continue;
        }
        if (strcmp(a, "--op-times") == 0) {
            op_times = true;
            continue;
        }
        if (!val)
            return usage();
        i++;
        bool ok = true;
        if (strcmp(a, "--dim") == 0) {
            const char *eq = strchr(val, '=');
            size_t len = eq ? (size_t)(eq - val) : 0;
            ok = len > 0 && len < sizeof dims[0].name && n_dims < MAX_DIMS &&
                 parse_i64(eq + 1, 0, INT64_C(1) << 40, &dims[n_dims].size);
            if (ok) {
                memcpy(dims[n_dims].name, val, len);
                dims[n_dims].name[len] = '\0';
                n_dims++;
            }
        } else if (strcmp(a, "--threads") == 0) {
            ok = parse_i64(val, 1, 1024, &threads);
        } else if (strcmp(a, "--warmup") == 0) {
            ok = parse_i64(val, 0, 1000000, &warmup);
        } else if (strcmp(a, "--runs") == 0) {
            ok = parse_i64(val, 1, 1000000, &runs);
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_i64(val, 0, INT64_MAX, &seed);
        } else if (strcmp(a, "--output") == 0) {
            output_path = val;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "bench_run: bad option %s %s\n", a, val);
            return usage();
        }
    }
    if (!model_path)
        return usage();

    int rc = 2; /* 2 while loading and planning (bad or unsupported model), then 3 */
    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *m = NULL;
    struct ogq_executor *e = NULL;
    struct ogq_rt_tensor ins[MAX_INPUTS];
    const struct ogq_rt_tensor *in_ptrs[MAX_INPUTS];
    size_t n_in = 0;
    double *times = NULL;
    struct op_times *ot = NULL;

    double t0 = now_ms();
    if (ogq_model_load(model_path, &m, &err) != OGQ_OK)
        goto fail_err;
    struct ogq_exec_options opts = {.threads = (int)threads};
    if (ogq_executor_new(m, &opts, &e, &err) != OGQ_OK)
        goto fail_err;
    double load_ms = now_ms() - t0;

    n_in = ogq_executor_input_count(e);
    if (n_in > MAX_INPUTS) {
        fprintf(stderr, "bench_run: %zu inputs (max %d)\n", n_in, MAX_INPUTS);
        n_in = 0;
        goto fail;
    }
    memset(ins, 0, sizeof ins);
    for (size_t k = 0; k < n_in; k++) {
        if (!input_shape(ogq_executor_input(e, k), dims, n_dims, &ins[k]))
            goto fail;
        ins[k].data = calloc(1, ins[k].nbytes ? ins[k].nbytes : 1);
        if (!ins[k].data) {
            fprintf(stderr, "bench_run: out of memory for input %zu\n", k);
            goto fail;
        }
        if (ins[k].dtype == OGQ_DTYPE_FLOAT)
            fill_uniform(ins[k].data, ins[k].numel, (uint64_t)seed, k);
        in_ptrs[k] = &ins[k];
    }

    rc = 3;
    times = malloc(sizeof(double) * (size_t)runs);
    if (!times) {
        fprintf(stderr, "bench_run: out of memory\n");
        goto fail;
    }
    if (op_times) {
        ot = calloc(1, sizeof *ot);
        if (!ot) {
            fprintf(stderr, "bench_run: out of memory\n");
            goto fail;
        }
        if (ogq_executor_observe(e, NULL, time_node, ot, &err) != OGQ_OK)
            goto fail_err;
    }
    for (int64_t r = 0; r < warmup; r++)
        if (ogq_executor_run_rt(e, in_ptrs, &err) != OGQ_OK)
            goto fail_err;
    if (ot)
        ot->counting = true;
    for (int64_t r = 0; r < runs; r++) {
        double s = now_ms();
        if (ot)
            ot->last = s;
        if (ogq_executor_run_rt(e, in_ptrs, &err) != OGQ_OK)
            goto fail_err;
        times[r] = now_ms() - s;
    }

    double sum = 0;
    for (int64_t r = 0; r < runs; r++)
        sum += times[r];
    qsort(times, (size_t)runs, sizeof(double), cmp_double);
    double median = runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);

    if (output_path) {
        const struct ogq_rt_tensor *out = ogq_executor_output(e, 0);
        if (!out || out->dtype != OGQ_DTYPE_FLOAT) {
            fprintf(stderr, "bench_run: graph output 0 is not a float tensor\n");
            goto fail;
        }
        FILE *f = fopen(output_path, "wb");
        bool written = f && fwrite(out->data, sizeof(float), (size_t)out->numel, f) ==
                                (size_t)out->numel;
        if (f && fclose(f) != 0)
            written = false;
        if (!written) {
            fprintf(stderr, "bench_run: cannot write output 0 to %s\n", output_path);
            goto fail;
        }
    }

    printf("load_ms=%.2f median_ms=%.3f min_ms=%.3f mean_ms=%.3f runs=%lld threads=%lld "
           "peak_rss_mb=%.1f executor_peak_mb=%.1f\n",
           load_ms, median, times[0], sum / (double)runs, (long long)runs, (long long)threads,
           peak_rss_mb(), (double)ogq_executor_peak_bytes(e) / 1048576.0);
    if (ot) {
        /* sort (index, ms) pairs by time, largest first */
        double order[MAX_OP_TYPES][2], total = 0;
        for (size_t k = 0; k < ot->n; k++) {
            order[k][0] = (double)k;
            order[k][1] = ot->ops[k].ms;
            total += ot->ops[k].ms;
        }
        qsort(order, ot->n, sizeof order[0], cmp_op_ms);
        for (size_t j = 0; j < ot->n; j++) {
            size_t k = (size_t)order[j][0];
            printf("op=%s ms=%.3f calls=%lld share=%.1f\n", ot->ops[k].op,
                   ot->ops[k].ms / (double)runs, (long long)(ot->ops[k].calls / runs),
                   total > 0 ? 100.0 * ot->ops[k].ms / total : 0.0);
        }
    }
    rc = 0;
    goto fail;

fail_err:
    fprintf(stderr, "bench_run: %s\n", err.msg);
fail:
    free(ot);
    free(times);
    for (size_t k = 0; k < n_in; k++)
        free(ins[k].data);
    ogq_executor_free(e);
    ogq_model_free(m);
    return rc;
}
