/* cmd_eval.c — `onnx-gptq eval QUANT.onnx --teacher FLOAT.onnx --data DATA`: compares a
 * (quantized) student model with its float teacher on the CPU runtime.
 *
 * Both models are planned (two executors) and fed the same batches from
 * runtime/calib_data.h; the student must have exactly the teacher's graph inputs and
 * outputs (matched by name). Nothing is stored across batches: every metric is a
 * streaming sum accumulated in double (sums of squares and products, max abs error,
 * top-1 / accuracy counts, summed next-token NLL), so the memory used is that of one
 * batch of each model.
 *
 * Numerics: elements are widened to double before any arithmetic; log-softmax for the
 * perplexity is computed in double with the row max subtracted. argmax takes the first
 * maximum (as numpy does); a NaN counts as the maximum.
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
#include "util/json.h"

int cmd_eval(int argc, char **argv);

static const char help[] =
    "usage: onnx-gptq eval QUANT.onnx --teacher FLOAT.onnx --data DATA [options]\n"
    "\n"
    "Runs the student QUANT.onnx and the teacher FLOAT.onnx on the onnx-gptq CPU runtime\n"
    "over the same batches of DATA and compares their outputs. Both models must have the\n"
    "same graph input names and the same graph output names (outputs matched by name).\n"
    "DATA takes the layouts of 'onnx-gptq run --input' (.npz, .npy, folders of .npy/.npz,\n"
    "ONNX test data sets).\n"
    "\n"
    "Per graph output: SNR in dB = 10*log10(sum t^2 / sum (t - s)^2) (t teacher, s\n"
    "student; inf when equal), cosine similarity of the flattened outputs, max abs error\n"
    "and, for classifier-like float outputs ([N, C] or [N, T, C] with C >= 2), the share of\n"
    "rows (positions) where the student's argmax equals the teacher's.\n"
    "\n"
    "  --teacher FLOAT.onnx  the reference model (required)\n"
    "  --data DATA           the input data (required)\n"
    "  --labels L.npy        int64/int32 labels, shape [N] for an [N, C] first output or\n"
    "                        [N, T] for [N, T, C]; reports the top-1 accuracy of student\n"
    "                        and teacher. Negative labels (e.g. -100) are ignored.\n"
    "  --lm                  language model: the first output is logits [B, T, V] and the\n"
    "                        first int64 input holds token ids [B, T]; reports perplexity\n"
    "                        exp(mean NLL) of the next token (logits at t predict id t+1)\n"
    "  --batch-size B        samples per run (default 8; fixed batch dims impose their own)\n"
    "  --samples N           use only the first N samples\n"
    "  --threads N           compute threads (default 0: all cores)\n"
    "  --json                print one JSON object instead of the table\n"
    "\n"
    "JSON keys: student, teacher, data (paths); samples, batches, batch_size; outputs: a\n"
    "list of {name, dtype, elements, snr_db (null when infinite, i.e. exact_match, or\n"
    "undefined), exact_match (bool), cosine, max_abs_error, nonfinite (elements that are\n"
    "inf/NaN in either model), top1_agreement (null unless classifier-like),\n"
    "top1_positions}; accuracy: {output, labels (counted labels), student, teacher} or\n"
    "null; perplexity: {output, tokens (predicted tokens), student, teacher} or null.\n";

/* Streaming comparison of one graph output. */
struct out_stats {
    const char *name;
    size_t t_idx, s_idx; /* output index in the teacher / student executor */
    bool duplicate;      /* the teacher lists this output earlier: compared once */
    enum ogq_dtype dtype;
    int64_t elements, nonfinite;
    double sum_t2, sum_s2, sum_ts, sum_d2, max_abs;
    bool nan_diff;
    bool classifier; /* every batch so far was classifier-like */
    int64_t top1_agree, top1_positions;
};

/* Accuracy / perplexity sums for student [0] and teacher [1]. */
struct task_stats {
    int64_t correct[2], counted;  /* labels */
    double nll[2];                /* perplexity */
    int64_t tokens;
};

static bool classifier_like(const struct ogq_rt_tensor *t)
{
    return t->dtype == OGQ_DTYPE_FLOAT &&
           ((t->rank == 2 && t->dims[1] >= 2) || (t->rank == 3 && t->dims[2] >= 2));
}

/* First index of the maximum; a NaN wins (numpy's argmax). */
static int64_t argmax(const float *p, int64_t n)
{
    int64_t best = 0;
    float v = p[0];
    if (isnan(v))
        return 0;
    for (int64_t k = 1; k < n; k++) {
        if (isnan(p[k]))
            return k;
        if (p[k] > v) {
            v = p[k];
            best = k;
        }
    }
    return best;
}

static double element(const struct ogq_rt_tensor *t, int64_t i)
{
    if (t->dtype == OGQ_DTYPE_FLOAT)
        return ((const float *)t->data)[i];
    return (double)ogq_rt_get_int(t, i);
}

static enum ogq_status stats_add(struct out_stats *o, const struct ogq_rt_tensor *tt,
                                 const struct ogq_rt_tensor *st, struct ogq_error *err)
{
    if (!ogq_rt_same_shape(tt, st)) {
        char a[256], b[256];
        ogq_dims_format(st->dims, st->rank, a, sizeof a);
        ogq_dims_format(tt->dims, tt->rank, b, sizeof b);
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "output '%s': the student gives %s %s, the teacher %s %s", o->name,
                             ogq_dtype_short_name(st->dtype), a, ogq_dtype_short_name(tt->dtype),
                             b);
    }
    enum ogq_dtype dt = tt->dtype;
    if (dt != OGQ_DTYPE_FLOAT && dt != OGQ_DTYPE_INT64 && dt != OGQ_DTYPE_INT32 &&
        dt != OGQ_DTYPE_INT8 && dt != OGQ_DTYPE_UINT8 && dt != OGQ_DTYPE_BOOL)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "output '%s': dtype %s cannot be compared",
                             o->name, ogq_dtype_short_name(dt));
    o->dtype = dt;
    int64_t n = tt->numel;
    double st2 = 0, ss2 = 0, sts = 0, sd2 = 0, mx = o->max_abs;
    int64_t nonfinite = 0;
    bool nan_diff = false;
    if (dt == OGQ_DTYPE_FLOAT) {
        const float *tp = tt->data, *sp = st->data;
        for (int64_t i = 0; i < n; i++) {
            double t = tp[i], s = sp[i], d = t - s;
            st2 += t * t;
            ss2 += s * s;
            sts += t * s;
            sd2 += d * d;
            double ad = fabs(d);
            mx = ad > mx ? ad : mx;
            nan_diff |= isnan(d);
            nonfinite += !isfinite(t) || !isfinite(s);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            double t = element(tt, i), s = element(st, i), d = t - s;
            st2 += t * t;
            ss2 += s * s;
            sts += t * s;
            sd2 += d * d;
            mx = fabs(d) > mx ? fabs(d) : mx;
        }
    }
    o->elements += n;
    o->nonfinite += nonfinite;
    o->sum_t2 += st2;
    o->sum_s2 += ss2;
    o->sum_ts += sts;
    o->sum_d2 += sd2;
    o->max_abs = mx;
    o->nan_diff |= nan_diff;

    if (o->classifier && !classifier_like(tt))
        o->classifier = false;
    if (o->classifier && n > 0) {
        int64_t c = tt->dims[tt->rank - 1], rows = n / c, agree = 0;
        const float *tp = tt->data, *sp = st->data;
        for (int64_t r = 0; r < rows; r++)
            agree += argmax(tp + r * c, c) == argmax(sp + r * c, c);
        o->top1_agree += agree;
        o->top1_positions += rows;
    }
    return OGQ_OK;
}

static double stats_snr(const struct out_stats *o)
{
    if (o->sum_d2 == 0 && !o->nan_diff)
        return INFINITY;
    return 10.0 * log10(o->sum_t2 / o->sum_d2);
}

static double stats_cosine(const struct out_stats *o)
{
    if (o->sum_d2 == 0 && !o->nan_diff && o->nonfinite == 0)
        return 1.0; /* identical: exactly 1 (also for all-zero outputs) */
    if (o->sum_t2 == 0 || o->sum_s2 == 0)
        return 0.0;
    double c = o->sum_ts / (sqrt(o->sum_t2) * sqrt(o->sum_s2));
    return c > 1 ? 1 : c < -1 ? -1 : c;
}

static double stats_max_abs(const struct out_stats *o)
{
    return o->nan_diff ? NAN : o->max_abs;
}

/* Labels as int64 (the loaded tensor, int32 or int64). */
static int64_t label_at(const struct ogq_tensor *l, int64_t i)
{
    const void *p = ogq_tensor_data(l);
    if (l->dtype == OGQ_DTYPE_INT64)
        return ((const int64_t *)p)[i];
    return ((const int32_t *)p)[i];
}

/* Accuracy of `out` (model m: 0 student, 1 teacher) on the labels of rows
 * [row0, row0 + dims[0]). Shapes were checked by the caller. */
static enum ogq_status accuracy_add(struct task_stats *ts, int m, const struct ogq_rt_tensor *out,
                                    const struct ogq_tensor *labels, int64_t row0,
                                    const char *name, struct ogq_error *err)
{
    int64_t c = out->dims[out->rank - 1];
    int64_t per_row = out->rank == 3 ? out->dims[1] : 1;
    int64_t n = out->dims[0] * per_row;
    const float *p = out->data;
    int64_t correct = 0, counted = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t lab = label_at(labels, row0 * per_row + i);
        if (lab < 0)
            continue;
        if (lab >= c)
            return ogq_error_set(err, OGQ_ERR_FORMAT,
                                 "labels: label %lld at position %lld is out of range for output "
                                 "'%s' with %lld classes",
                                 (long long)lab, (long long)(row0 * per_row + i), name,
                                 (long long)c);
        counted++;
        correct += argmax(p + i * c, c) == lab;
    }
    ts->correct[m] += correct;
    if (m == 1)
        ts->counted += counted;
    return OGQ_OK;
}

/* Summed next-token NLL of `logits` [B, T, V] for `ids` [B, T]; log-softmax in double. */
static enum ogq_status nll_add(struct task_stats *ts, int m, const struct ogq_rt_tensor *logits,
                               const struct ogq_tensor *ids, struct ogq_error *err)
{
    int64_t b = logits->dims[0], t = logits->dims[1], v = logits->dims[2];
    const float *lp = logits->data;
    const int64_t *ip = ogq_tensor_data(ids);
    double nll = 0;
    int64_t tokens = 0;
    for (int64_t i = 0; i < b; i++) {
        for (int64_t j = 0; j + 1 < t; j++) {
            int64_t target = ip[i * t + j + 1];
            if (target < 0 || target >= v)
                return ogq_error_set(err, OGQ_ERR_FORMAT,
                                     "input '%s': token id %lld is out of range for a vocabulary "
                                     "of %lld",
                                     ids->name ? ids->name : "?", (long long)target,
                                     (long long)v);
            const float *row = lp + (i * t + j) * v;
            double mx = row[0];
            for (int64_t k = 1; k < v; k++)
                mx = row[k] > mx ? row[k] : mx;
            double sum = 0;
            for (int64_t k = 0; k < v; k++)
                sum += exp((double)row[k] - mx);
            nll += mx + log(sum) - (double)row[target];
            tokens++;
        }
    }
    ts->nll[m] += nll;
    if (m == 1)
        ts->tokens += tokens;
    return OGQ_OK;
}

static const char *dtype_name(const struct ogq_value *v)
{
    return v->has_type ? ogq_dtype_short_name(v->type.dtype) : "unknown";
}

/* Checks that both executors take the same inputs; fills perm[i] = the student's index of
 * teacher input i. */
static bool match_inputs(const struct ogq_executor *te, const struct ogq_executor *se,
                         const char *student_path, size_t *perm)
{
    size_t nt = ogq_executor_input_count(te), ns = ogq_executor_input_count(se);
    for (size_t i = 0; i < nt; i++) {
        const struct ogq_value *tv = ogq_executor_input(te, i);
        size_t j = 0;
        while (j < ns && strcmp(ogq_executor_input(se, j)->name, tv->name) != 0)
            j++;
        if (j == ns) {
            cli_error("%s: the student has no input '%s' (the teacher's inputs must be the "
                      "student's inputs)",
                      student_path, tv->name);
            return false;
        }
        const struct ogq_value *sv = ogq_executor_input(se, j);
        if (tv->has_type && sv->has_type && tv->type.dtype != sv->type.dtype) {
            cli_error("%s: input '%s' is %s in the student but %s in the teacher", student_path,
                      tv->name, dtype_name(sv), dtype_name(tv));
            return false;
        }
        if (tv->has_type && sv->has_type && tv->type.rank >= 0 && sv->type.rank >= 0 &&
            tv->type.rank != sv->type.rank) {
            cli_error("%s: input '%s' has rank %d in the student but %d in the teacher",
                      student_path, tv->name, sv->type.rank, tv->type.rank);
            return false;
        }
        perm[i] = j;
    }
    if (ns != nt) {
        for (size_t j = 0; j < ns; j++) {
            const char *name = ogq_executor_input(se, j)->name;
            bool found = false;
            for (size_t i = 0; i < nt && !found; i++)
                found = strcmp(ogq_executor_input(te, i)->name, name) == 0;
            if (!found) {
                cli_error("%s: student input '%s' is not an input of the teacher", student_path,
                          name);
                return false;
            }
        }
    }
    return true;
}

/* Matches the teacher's graph outputs to the student's by name. */
static bool match_outputs(const struct ogq_graph *tg, const struct ogq_graph *sg,
                          const char *student_path, struct out_stats *outs)
{
    for (size_t i = 0; i < tg->n_outputs; i++) {
        const char *name = tg->outputs[i]->name;
        outs[i].name = name;
        outs[i].t_idx = i;
        outs[i].classifier = true;
        for (size_t k = 0; k < i; k++)
            outs[i].duplicate |= tg->outputs[k] == tg->outputs[i];
        size_t j = 0;
        while (j < sg->n_outputs && strcmp(sg->outputs[j]->name, name) != 0)
            j++;
        if (j == sg->n_outputs) {
            cli_error("%s: the student has no output '%s' (outputs are matched by name)",
                      student_path, name);
            return false;
        }
        outs[i].s_idx = j;
    }
    for (size_t j = 0; j < sg->n_outputs; j++) {
        bool found = false;
        for (size_t i = 0; i < tg->n_outputs && !found; i++)
            found = strcmp(tg->outputs[i]->name, sg->outputs[j]->name) == 0;
        if (!found) {
            cli_error("%s: student output '%s' is not an output of the teacher", student_path,
                      sg->outputs[j]->name);
            return false;
        }
    }
    return true;
}

static void fmt_num(char *buf, size_t size, double v, const char *fmt)
{
    if (isnan(v))
        snprintf(buf, size, "nan");
    else if (isinf(v))
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, size, fmt, v);
}

struct report {
    const char *student, *teacher, *data;
    int64_t samples, batches, batch_size;
    const struct out_stats *outs;
    size_t n_outs;
    bool labels, lm;
    const char *task_output;
    const struct task_stats *ts;
};

static double ratio(int64_t a, int64_t b)
{
    return b > 0 ? (double)a / (double)b : NAN;
}

static double perplexity(const struct task_stats *ts, int m)
{
    return ts->tokens > 0 ? exp(ts->nll[m] / (double)ts->tokens) : NAN;
}

static void print_text(const struct report *r)
{
    printf("%lld samples in %lld batches (batch size %lld)\n", (long long)r->samples,
           (long long)r->batches, (long long)r->batch_size);
    int w = 6;
    for (size_t i = 0; i < r->n_outs; i++) {
        int len = (int)strlen(r->outs[i].name);
        w = len > w ? len : w;
    }
    printf("%-*s  %12s  %9s  %10s  %11s  %s\n", w, "output", "elements", "snr_db", "cosine",
           "max_abs_err", "top1_agree");
    for (size_t i = 0; i < r->n_outs; i++) {
        const struct out_stats *o = &r->outs[i];
        if (o->duplicate)
            continue;
        char snr[32], cos[32], mx[32], top1[48];
        fmt_num(snr, sizeof snr, stats_snr(o), "%.2f");
        fmt_num(cos, sizeof cos, stats_cosine(o), "%.6f");
        fmt_num(mx, sizeof mx, stats_max_abs(o), "%.4g");
        if (o->classifier && o->top1_positions > 0)
            snprintf(top1, sizeof top1, "%.4f (%lld/%lld)",
                     ratio(o->top1_agree, o->top1_positions), (long long)o->top1_agree,
                     (long long)o->top1_positions);
        else
            snprintf(top1, sizeof top1, "-");
        printf("%-*s  %12lld  %9s  %10s  %11s  %s\n", w, o->name, (long long)o->elements, snr,
               cos, mx, top1);
        if (o->nonfinite)
            printf("%-*s  (%lld elements are inf/NaN in one of the models)\n", w, "",
                   (long long)o->nonfinite);
    }
    if (r->labels) {
        char s[32], t[32];
        fmt_num(s, sizeof s, ratio(r->ts->correct[0], r->ts->counted), "%.4f");
        fmt_num(t, sizeof t, ratio(r->ts->correct[1], r->ts->counted), "%.4f");
        printf("accuracy of '%s' (%lld labels): student %s  teacher %s\n", r->task_output,
               (long long)r->ts->counted, s, t);
    }
    if (r->lm) {
        char s[32], t[32];
        fmt_num(s, sizeof s, perplexity(r->ts, 0), "%.4f");
        fmt_num(t, sizeof t, perplexity(r->ts, 1), "%.4f");
        printf("perplexity of '%s' (%lld tokens): student %s  teacher %s\n", r->task_output,
               (long long)r->ts->tokens, s, t);
    }
}

static void print_json(const struct report *r)
{
    struct ogq_json j;
    ogq_json_init(&j, stdout, true);
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "student");
    ogq_json_string(&j, r->student);
    ogq_json_key(&j, "teacher");
    ogq_json_string(&j, r->teacher);
    ogq_json_key(&j, "data");
    ogq_json_string(&j, r->data);
    ogq_json_key(&j, "samples");
    ogq_json_int(&j, r->samples);
    ogq_json_key(&j, "batches");
    ogq_json_int(&j, r->batches);
    ogq_json_key(&j, "batch_size");
    ogq_json_int(&j, r->batch_size);
    ogq_json_key(&j, "outputs");
    ogq_json_begin_array(&j);
    for (size_t i = 0; i < r->n_outs; i++) {
        const struct out_stats *o = &r->outs[i];
        if (o->duplicate)
            continue;
        ogq_json_begin_object(&j);
        ogq_json_key(&j, "name");
        ogq_json_string(&j, o->name);
        ogq_json_key(&j, "dtype");
        ogq_json_string(&j, ogq_dtype_short_name(o->dtype));
        ogq_json_key(&j, "elements");
        ogq_json_int(&j, o->elements);
        ogq_json_key(&j, "snr_db");
        ogq_json_double(&j, stats_snr(o)); /* non-finite -> null */
        ogq_json_key(&j, "exact_match");
        ogq_json_bool(&j, o->sum_d2 == 0 && !o->nan_diff);
        ogq_json_key(&j, "cosine");
        ogq_json_double(&j, stats_cosine(o));
        ogq_json_key(&j, "max_abs_error");
        ogq_json_double(&j, stats_max_abs(o));
        ogq_json_key(&j, "nonfinite");
        ogq_json_int(&j, o->nonfinite);
        ogq_json_key(&j, "top1_agreement");
        if (o->classifier && o->top1_positions > 0)
            ogq_json_double(&j, ratio(o->top1_agree, o->top1_positions));
        else
            ogq_json_null(&j);
        ogq_json_key(&j, "top1_positions");
        ogq_json_int(&j, o->classifier ? o->top1_positions : 0);
        ogq_json_end_object(&j);
    }
    ogq_json_end_array(&j);
    ogq_json_key(&j, "accuracy");
    if (r->labels) {
        ogq_json_begin_object(&j);
        ogq_json_key(&j, "output");
        ogq_json_string(&j, r->task_output);
        ogq_json_key(&j, "labels");
        ogq_json_int(&j, r->ts->counted);
        ogq_json_key(&j, "student");
        ogq_json_double(&j, ratio(r->ts->correct[0], r->ts->counted));
        ogq_json_key(&j, "teacher");
        ogq_json_double(&j, ratio(r->ts->correct[1], r->ts->counted));
        ogq_json_end_object(&j);
    } else {
        ogq_json_null(&j);
    }
    ogq_json_key(&j, "perplexity");
    if (r->lm) {
        ogq_json_begin_object(&j);
        ogq_json_key(&j, "output");
        ogq_json_string(&j, r->task_output);
        ogq_json_key(&j, "tokens");
        ogq_json_int(&j, r->ts->tokens);
        ogq_json_key(&j, "student");
        ogq_json_double(&j, perplexity(r->ts, 0));
        ogq_json_key(&j, "teacher");
        ogq_json_double(&j, perplexity(r->ts, 1));
        ogq_json_end_object(&j);
    } else {
        ogq_json_null(&j);
    }
    ogq_json_end_object(&j);
    fputc('\n', stdout);
}

/* Checks the first output of one batch against the labels (shape) and the running row. */
static enum ogq_status check_labels(const struct ogq_rt_tensor *out, const struct ogq_tensor *l,
                                    int64_t row0, const char *name, struct ogq_error *err)
{
    if (!classifier_like(out)) {
        char d[256];
        ogq_dims_format(out->dims, out->rank, d, sizeof d);
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "--labels: the first output '%s' (%s %s) is not float [N, C] or "
                             "[N, T, C] with C >= 2",
                             name, ogq_dtype_short_name(out->dtype), d);
    }
    if (out->rank == 2 && l->rank != 1)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "labels: expected shape [N] for output '%s' [N, C], got rank %d",
                             name, l->rank);
    if (out->rank == 3 && (l->rank != 2 || l->dims[1] != out->dims[1]))
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "labels: expected shape [N, %lld] for output '%s' [N, T, C] (T = "
                             "%lld)",
                             (long long)out->dims[1], name, (long long)out->dims[1]);
    if (row0 + out->dims[0] > l->dims[0])
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "labels: %lld labels, but output '%s' has more rows (%lld so far)",
                             (long long)l->dims[0], name, (long long)(row0 + out->dims[0]));
    return OGQ_OK;
}

/* Checks logits [B, T, V] against token ids [B, T]. */
static enum ogq_status check_lm(const struct ogq_rt_tensor *logits, const struct ogq_tensor *ids,
                                const char *name, struct ogq_error *err)
{
    char d[256], e[256];
    ogq_dims_format(logits->dims, logits->rank, d, sizeof d);
    if (logits->dtype != OGQ_DTYPE_FLOAT || logits->rank != 3 || logits->dims[2] < 1)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "--lm: the first output '%s' (%s %s) is not float logits [B, T, V]",
                             name, ogq_dtype_short_name(logits->dtype), d);
    if (ids->rank != 2 || ids->dims[0] != logits->dims[0] || ids->dims[1] != logits->dims[1]) {
        ogq_dims_format(ids->dims, ids->rank, e, sizeof e);
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "--lm: token ids '%s' %s do not match logits '%s' %s ([B, T] vs "
                             "[B, T, V])",
                             ids->name ? ids->name : "?", e, name, d);
    }
    return OGQ_OK;
}

int cmd_eval(int argc, char **argv)
{
    struct cli_args a;
    cli_args_init(&a, "eval", argc, argv);
    const char *student_path = NULL, *teacher_path = NULL, *data = NULL, *labels_path = NULL;
    bool lm = false, json = false;
    int64_t threads = 0, batch = 8, samples = 0;
    char name[64];
    for (const char *arg; (arg = cli_next(&a, name, sizeof name));) {
        const char *v;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            fputs(help, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(arg, "--teacher") == 0) {
            if (!(teacher_path = cli_value(&a, arg)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--data") == 0) {
            if (!(data = cli_value(&a, arg)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--labels") == 0) {
            if (!(labels_path = cli_value(&a, arg)))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--lm") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            lm = true;
        } else if (strcmp(arg, "--json") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            json = true;
        } else if (strcmp(arg, "--threads") == 0) {
            if (!(v = cli_value(&a, arg)) || !cli_parse_int("eval", arg, v, 0, 4096, &threads))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--batch-size") == 0) {
            if (!(v = cli_value(&a, arg)) ||
                !cli_parse_int("eval", arg, v, 1, INT64_C(1) << 40, &batch))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--samples") == 0) {
            if (!(v = cli_value(&a, arg)) ||
                !cli_parse_int("eval", arg, v, 1, INT64_MAX, &samples))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(arg)) {
            return cli_usage_error("eval", "unknown option '%s'", arg);
        } else if (!student_path) {
            student_path = arg;
        } else {
            return cli_usage_error("eval", "unexpected argument '%s'", arg);
        }
    }
    if (!student_path)
        return cli_usage_error("eval", "expected QUANT.onnx (the student model)");
    if (!teacher_path)
        return cli_usage_error("eval", "--teacher is required");
    if (!data)
        return cli_usage_error("eval", "--data is required");

    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *tm = NULL, *sm = NULL;
    struct ogq_executor *te = NULL, *se = NULL;
    struct ogq_calib *src = NULL;
    struct ogq_tensor **batch_t = NULL, *labels = NULL;
    const struct ogq_tensor **s_in = NULL;
    size_t *perm = NULL;
    struct out_stats *outs = NULL;
    struct task_stats ts = {0};
    int rc = CLI_EXIT_OK;
    size_t n_in = 0;

    if (ogq_model_load(teacher_path, &tm, &err) != OGQ_OK ||
        ogq_model_load(student_path, &sm, &err) != OGQ_OK) {
        rc = cli_fail(&err, true);
        goto done;
    }
    struct ogq_exec_options eo = {.threads = (int)threads};
    if (ogq_executor_new(tm, &eo, &te, &err) != OGQ_OK) {
        ogq_error_prefix(&err, "%s", teacher_path);
        rc = cli_fail(&err, true);
        goto done;
    }
    if (ogq_executor_new(sm, &eo, &se, &err) != OGQ_OK) {
        ogq_error_prefix(&err, "%s", student_path);
        rc = cli_fail(&err, true);
        goto done;
    }
    n_in = ogq_executor_input_count(te);
    if (n_in == 0) {
        cli_error("%s: the model has no inputs to feed", teacher_path);
        rc = CLI_EXIT_INPUT;
        goto done;
    }
    const struct ogq_graph *tg = tm->graph, *sg = sm->graph;
    size_t n_out = tg->n_outputs;
    perm = calloc(n_in, sizeof *perm);
    batch_t = calloc(n_in, sizeof *batch_t);
    s_in = calloc(n_in, sizeof *s_in);
    outs = calloc(n_out ? n_out : 1, sizeof *outs);
    if (!perm || !batch_t || !s_in || !outs) {
        OGQ_NOMEM(&err);
        rc = cli_fail(&err, false);
        goto done;
    }
    if (!match_inputs(te, se, student_path, perm) ||
        !match_outputs(tg, sg, student_path, outs)) {
        rc = CLI_EXIT_INPUT;
        goto done;
    }
    if ((labels_path || lm) && n_out == 0) {
        cli_error("%s: the model has no outputs", teacher_path);
        rc = CLI_EXIT_INPUT;
        goto done;
    }
    size_t ids_input = n_in;
    if (lm) {
        for (size_t i = 0; i < n_in && ids_input == n_in; i++) {
            const struct ogq_value *v = ogq_executor_input(te, i);
            if (v->has_type && v->type.dtype == OGQ_DTYPE_INT64)
                ids_input = i;
        }
        if (ids_input == n_in) {
            cli_error("%s: --lm needs an int64 input holding token ids; the model has none",
                      teacher_path);
            rc = CLI_EXIT_INPUT;
            goto done;
        }
    }

    struct ogq_calib_options co;
    ogq_calib_options_init(&co);
    co.batch_size = batch;
    co.max_samples = samples;
    if (ogq_calib_open_executor(data, te, &co, &src, &err) != OGQ_OK) {
        rc = cli_fail(&err, true);
        goto done;
    }
    if (ogq_calib_note(src))
        fprintf(stderr, "onnx-gptq: note: %s\n", ogq_calib_note(src));
    int64_t n_samples = ogq_calib_sample_count(src);

    if (labels_path) {
        if (ogq_npy_load(labels_path, &labels, &err) != OGQ_OK) {
            rc = cli_fail(&err, true);
            goto done;
        }
        if ((labels->dtype != OGQ_DTYPE_INT64 && labels->dtype != OGQ_DTYPE_INT32) ||
            labels->rank < 1 || labels->rank > 2) {
            char d[256];
            ogq_dims_format(labels->dims, labels->rank, d, sizeof d);
            cli_error("%s: labels must be int64 or int32 of shape [N] or [N, T], got %s %s",
                      labels_path, ogq_dtype_short_name(labels->dtype), d);
            rc = CLI_EXIT_INPUT;
            goto done;
        }
        /* With --samples the first N labels are used; otherwise the counts must agree. */
        if (labels->dims[0] < n_samples || (samples == 0 && labels->dims[0] != n_samples)) {
            cli_error("%s: %lld labels for %lld samples", labels_path,
                      (long long)labels->dims[0], (long long)n_samples);
            rc = CLI_EXIT_INPUT;
            goto done;
        }
    }

    int64_t n_batches = 0, row = 0;
    for (;;) {
        bool end;
        if (ogq_calib_next(src, batch_t, &end, &err) != OGQ_OK) {
            rc = cli_fail(&err, true);
            goto done;
        }
        if (end)
            break;
        for (size_t i = 0; i < n_in; i++)
            s_in[perm[i]] = batch_t[i];
        enum ogq_status st =
            ogq_executor_run(te, (const struct ogq_tensor *const *)batch_t, &err);
        if (st != OGQ_OK)
            ogq_error_prefix(&err, "%s: batch %lld", teacher_path, (long long)n_batches);
        if (st == OGQ_OK) {
            st = ogq_executor_run(se, (const struct ogq_tensor *const *)s_in, &err);
            if (st != OGQ_OK)
                ogq_error_prefix(&err, "%s: batch %lld", student_path, (long long)n_batches);
        }
        const struct ogq_rt_tensor *first_t = NULL, *first_s = NULL;
        for (size_t i = 0; st == OGQ_OK && i < n_out; i++) {
            const struct ogq_rt_tensor *tt = ogq_executor_output(te, outs[i].t_idx);
            const struct ogq_rt_tensor *stt = ogq_executor_output(se, outs[i].s_idx);
            if (!tt || !stt) {
                st = ogq_error_set(&err, OGQ_ERR_INTERNAL, "output '%s' was not produced",
                                   outs[i].name);
                break;
            }
            if (i == 0) {
                first_t = tt;
                first_s = stt;
            }
            if (!outs[i].duplicate)
                st = stats_add(&outs[i], tt, stt, &err);
        }
        if (st == OGQ_OK && labels) {
            st = check_labels(first_t, labels, row, outs[0].name, &err);
            if (st == OGQ_OK)
                st = accuracy_add(&ts, 0, first_s, labels, row, outs[0].name, &err);
            if (st == OGQ_OK)
                st = accuracy_add(&ts, 1, first_t, labels, row, outs[0].name, &err);
        }
        if (st == OGQ_OK && lm) {
            st = check_lm(first_t, batch_t[ids_input], outs[0].name, &err);
            if (st == OGQ_OK)
                st = nll_add(&ts, 0, first_s, batch_t[ids_input], &err);
            if (st == OGQ_OK)
                st = nll_add(&ts, 1, first_t, batch_t[ids_input], &err);
        }
        if (st == OGQ_OK && first_t)
            row += first_t->rank ? first_t->dims[0] : 1;
        for (size_t i = 0; i < n_in; i++) {
            ogq_tensor_free(batch_t[i]);
            batch_t[i] = NULL;
        }
        if (st != OGQ_OK) {
            rc = cli_fail(&err, true);
            goto done;
        }
        n_batches++;
    }
    if (labels && row != n_samples) {
        cli_error("%s: the first output '%s' has %lld rows over all batches for %lld samples; "
                  "labels cannot be matched to samples",
                  labels_path, outs[0].name, (long long)row, (long long)n_samples);
        rc = CLI_EXIT_INPUT;
        goto done;
    }

    struct report r = {
        .student = student_path,
        .teacher = teacher_path,
        .data = data,
        .samples = n_samples,
        .batches = n_batches,
        .batch_size = ogq_calib_batch_size(src),
        .outs = outs,
        .n_outs = n_out,
        .labels = labels != NULL,
        .lm = lm,
        .task_output = n_out ? outs[0].name : "",
        .ts = &ts,
    };
    if (json)
        print_json(&r);
    else
        print_text(&r);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write to standard output");
        rc = CLI_EXIT_FAILURE;
    }

done:
    if (batch_t)
        for (size_t i = 0; i < n_in; i++)
            ogq_tensor_free(batch_t[i]);
    free(batch_t);
    free(s_in);
    free(perm);
    free(outs);
    ogq_tensor_free(labels);
    ogq_calib_free(src);
    ogq_executor_free(se);
    ogq_executor_free(te);
    ogq_model_free(sm);
    ogq_model_free(tm);
    return rc;
}
