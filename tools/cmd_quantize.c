/* cmd_quantize.c — `onnx-gptq quantize MODEL --calib DATA -o OUT`: GPTQ (or RTN) weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "graph/model_io.h"
#include "passes/quantize.h"
#include "runtime/calib_data.h"
#include "util/atomic_file.h"
#include "util/json.h"

static const char help[] =
    "usage: onnx-gptq quantize MODEL --calib DATA -o OUT [options]\n"
    "\n"
    "Runs MODEL on the calibration DATA, quantizes the weight of every MatMul/Gemm/Conv\n"
    "with GPTQ, and writes OUT with integer weights + DequantizeLinear (or MatMulNBits).\n"
    "\n"
    "data:\n"
    "  --calib PATH          .npz keyed by input names, a folder of <input>.npy, or a\n"
    "                        folder of ONNX test_data_set_*/input_*.pb\n"
    "  --calib-samples N     use the first N samples (default: all)\n"
    "  --batch-size B        samples per calibration batch (default 8)\n"
    "quantization:\n"
    "  --method gptq|rtn     GPTQ (default) or round-to-nearest with the same grids\n"
    "  --bits N              2..8 (default 4)\n"
    "  --group-size G        columns per quantization group; 0 = per output channel\n"
    "                        (default 128; layers with fewer inputs stay float)\n"
    "  --sym / --asym        symmetric (signed, no zero point) or asymmetric grid (default)\n"
    "  --act-order           quantize columns in order of decreasing Hessian diagonal\n"
    "  --static-groups       with --act-order: groups fixed on the original column order\n"
    "                        (always on for QDQ output)\n"
    "  --damp F              dampening, fraction of mean diag(H) (default 0.01)\n"
    "  --block-size B        GPTQ lazy-update block (default 128)\n"
    "  --mse                 search the grid range minimising the quantization error\n"
    "  --sequential          calibrate each layer on the outputs of the quantized earlier\n"
    "                        layers (slower; one Hessian in memory at a time)\n"
    "activations (static QDQ, off by default):\n"
    "  --act-bits 8          per-tensor QuantizeLinear/DequantizeLinear on the inputs of\n"
    "                        every quantized layer (uint8 asymmetric; int8 with --act-sym)\n"
    "  --act-sym             symmetric int8 activations (zero point 0)\n"
    "  --act-calib M         range calibration: minmax (default), percentile, mse, entropy\n"
    "  --act-percentile P    for percentile: the percentile kept (default 99.99)\n"
    "  --act-outputs         also quantize the outputs of the quantized layers\n"
    "refinement (MCT GradientPTQ-style, after GPTQ/RTN; see README):\n"
    "  --refine              train each layer's rounding (and bias) against the float model\n"
    "  --refine-config F     JSON file with GradientPTQConfig settings (implies --refine)\n"
    "  --refine-set K=V      one setting by its dotted name, e.g. n_epochs=20,\n"
    "                        optimizer.lr=0.01, hessian_weights_config.per_sample=true\n"
    "                        (repeatable; applied after --refine-config; implies --refine)\n"
    "  --refine-epochs N     same as --refine-set n_epochs=N\n"
    "  --refine-steps N      same as --refine-set n_steps=N (gradient steps per layer)\n"
    "targets:\n"
    "  --include GLOB        only nodes whose name or op type matches (repeatable)\n"
    "  --exclude GLOB        skip nodes whose name or op type matches (repeatable)\n"
    "  --skip-first N        leave the first N target layers in float\n"
    "  --skip-last N         leave the last N target layers in float\n"
    "output:\n"
    "  -o, --output OUT      output model (required)\n"
    "  --format qdq|matmulnbits  DequantizeLinear weights (default), or ONNX Runtime's\n"
    "                        com.microsoft.MatMulNBits for 2-D MatMul weights (bits 4/8)\n"
    "  --accuracy-level N    MatMulNBits accuracy_level: 0 float32 compute (default),\n"
    "                        4 int8 activations (faster in ONNX Runtime, less accurate)\n"
    "  --external-data       write weights to OUT.data\n"
    "  --report FILE.json    per-layer report with totals, as JSON\n"
    "  --threads N           CPU threads (default: all cores)\n"
    "  --quiet               no progress and no table\n";

struct progress_state {
    bool tty;
    bool quiet;
};

static void progress_cb(void *user, const char *phase, size_t done, size_t total)
{
    struct progress_state *p = user;
    if (p->quiet || !p->tty)
        return;
    int width = 30;
    int filled = total ? (int)((double)done / (double)total * width) : width;
    fprintf(stderr, "\r%-10s [", phase);
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %zu/%zu", done, total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void print_table(const struct ogq_quant_report *r, const struct ogq_quantize_opts *o)
{
    const bool lockstep = o->refine || o->act_bits > 0;
    const char *method = o->method == OGQ_METHOD_GPTQ ? "gptq-loss" : "rtn-loss";
    printf("%-32s %-7s %-13s %-9s %-12s %-12s", "layer", "op", "shape", "bits/grp",
           o->refine ? "refined-loss" : method, o->refine ? method : "rtn-loss");
    if (o->refine)
        printf(" %-12s %-16s", "rtn-loss", "refinement");
    printf(" %s\n", "time");
    for (size_t i = 0; i < r->n_layers; i++) {
        const struct ogq_layer_report *l = &r->layers[i];
        if (!l->quantized)
            continue;
        char shape[64], bg[32];
        if (l->conv_groups > 1)
            snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)l->conv_groups,
                     (long long)l->rows, (long long)l->cols);
        else
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)l->rows, (long long)l->cols);
        if (l->group_size > 0)
            snprintf(bg, sizeof bg, "%d/%lld", l->bits, (long long)l->group_size);
        else
            snprintf(bg, sizeof bg, "%d/ch", l->bits);
        printf("%-32.32s %-7s %-13s %-9s %-12.4g %-12.4g", l->node, l->op, shape, bg, l->loss,
               o->refine ? l->loss_start : l->loss_rtn);
        if (o->refine) {
            char what[32];
            if (l->refine_kept_start)
                snprintf(what, sizeof what, "%s",
                         l->refine_rejected_validation ? "kept (held-out)" : "kept start");
            else
                snprintf(what, sizeof what, "%lld codes%s", (long long)l->codes_changed,
                         l->bias_refined ? "+bias" : "");
            printf(" %-12.4g %-16s", l->loss_rtn, what);
        }
        printf(" %.3fs\n", l->seconds);
    }
    for (size_t i = 0; i < r->n_layers; i++)
        if (!r->layers[i].quantized && r->layers[i].reason)
            printf("left in float: %s (%s): %s\n", r->layers[i].node, r->layers[i].op,
                   r->layers[i].reason);
    if (r->n_acts)
        printf("activations: %zu %s QuantizeLinear/DequantizeLinear pairs (%s)\n", r->n_acts,
               o->act_sym ? "int8" : "uint8", ogq_act_calib_method_name(o->act_calib));
    if (lockstep)
        printf("losses are mean ||Q x~ + b~ - (W x + b)||^2 per row against the float model, "
               "student inputs x~%s\n", o->refine ? "; refinement never keeps a worse layer" : "");
    printf("quantized %zu of %zu layers; proxy loss %.4g vs RTN %.4g (%.1f%%); weights %.2f MB -> "
           "%.2f MB; calibration %.2fs, solve %.2fs",
           r->n_quantized, r->n_layers, r->loss_total, r->loss_rtn_total,
           r->loss_rtn_total > 0 ? 100.0 * r->loss_total / r->loss_rtn_total : 100.0,
           (double)r->weight_bytes_before / 1e6, (double)r->weight_bytes_after / 1e6,
           r->seconds_calibration, r->seconds_solve);
    if (o->refine)
        printf(" (refine %.2fs, Hessian scores %.2fs)", r->seconds_refine,
               r->seconds_hessian_scores);
    printf(", total %.2fs\n", r->seconds_total);
}

static bool write_report(const char *path, const struct ogq_quant_report *r,
                         const struct ogq_quantize_opts *o, const char *model, const char *out)
{
    char *tmp;
    struct ogq_error err;
    FILE *f = ogq_temp_open(path, &tmp, &err);
    if (!f)
        return false;
    struct ogq_json j;
    ogq_json_init(&j, f, true);
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "model");
    ogq_json_string(&j, model);
    ogq_json_key(&j, "output");
    ogq_json_string(&j, out);
    ogq_json_key(&j, "settings");
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "method");
    ogq_json_string(&j, o->method == OGQ_METHOD_GPTQ ? "gptq" : "rtn");
    ogq_json_key(&j, "format");
    ogq_json_string(&j, o->format == OGQ_FORMAT_QDQ ? "qdq" : "matmulnbits");
    ogq_json_key(&j, "bits");
    ogq_json_int(&j, o->gptq.grid.bits);
    ogq_json_key(&j, "group_size");
    ogq_json_int(&j, o->gptq.group_size);
    ogq_json_key(&j, "symmetric");
    ogq_json_bool(&j, o->gptq.grid.sym);
    ogq_json_key(&j, "act_order");
    ogq_json_bool(&j, o->gptq.act_order);
    ogq_json_key(&j, "static_groups");
    ogq_json_bool(&j, o->gptq.static_groups || o->format == OGQ_FORMAT_QDQ);
    ogq_json_key(&j, "damp_percent");
    ogq_json_double(&j, o->gptq.percdamp);
    ogq_json_key(&j, "block_size");
    ogq_json_int(&j, o->gptq.block_size);
    ogq_json_key(&j, "mse");
    ogq_json_bool(&j, o->gptq.grid.mse);
    ogq_json_key(&j, "sequential");
    ogq_json_bool(&j, o->sequential);
    ogq_json_key(&j, "act_bits");
    ogq_json_int(&j, o->act_bits);
    if (o->act_bits) {
        ogq_json_key(&j, "act_symmetric");
        ogq_json_bool(&j, o->act_sym);
        ogq_json_key(&j, "act_calibration");
        ogq_json_string(&j, ogq_act_calib_method_name(o->act_calib));
        ogq_json_key(&j, "act_percentile");
        ogq_json_double(&j, o->act_percentile);
        ogq_json_key(&j, "act_outputs");
        ogq_json_bool(&j, o->act_outputs);
    }
    ogq_json_key(&j, "refine");
    if (o->refine)
        ogq_refine_config_write_json(&o->refine_cfg, &j);
    else
        ogq_json_null(&j);
    ogq_json_end_object(&j);
    ogq_json_key(&j, "layers");
    ogq_json_begin_array(&j);
    for (size_t i = 0; i < r->n_layers; i++) {
        const struct ogq_layer_report *l = &r->layers[i];
        ogq_json_begin_object(&j);
        ogq_json_key(&j, "node");
        ogq_json_string(&j, l->node);
        ogq_json_key(&j, "op");
        ogq_json_string(&j, l->op);
        ogq_json_key(&j, "weight");
        ogq_json_string(&j, l->weight);
        ogq_json_key(&j, "quantized");
        ogq_json_bool(&j, l->quantized);
        if (!l->quantized) {
            ogq_json_key(&j, "reason");
            ogq_json_string(&j, l->reason ? l->reason : "");
        } else {
            ogq_json_key(&j, "rows");
            ogq_json_int(&j, l->rows);
            ogq_json_key(&j, "cols");
            ogq_json_int(&j, l->cols);
            ogq_json_key(&j, "conv_groups");
            ogq_json_int(&j, l->conv_groups);
            ogq_json_key(&j, "bits");
            ogq_json_int(&j, l->bits);
            ogq_json_key(&j, "group_size");
            ogq_json_int(&j, l->group_size);
            ogq_json_key(&j, "damp_percent");
            ogq_json_double(&j, l->percdamp);
            ogq_json_key(&j, "damp_tries");
            ogq_json_int(&j, l->damp_tries);
            ogq_json_key(&j, "dead_columns");
            ogq_json_int(&j, l->dead_cols);
            ogq_json_key(&j, "loss");
            ogq_json_double(&j, l->loss);
            ogq_json_key(&j, "loss_rtn");
            ogq_json_double(&j, l->loss_rtn);
            if (o->refine || o->act_bits) {
                ogq_json_key(&j, "loss_start");
                ogq_json_double(&j, l->loss_start);
            }
            if (o->refine) {
                ogq_json_key(&j, "refine");
                ogq_json_begin_object(&j);
                ogq_json_key(&j, "kept_start");
                ogq_json_bool(&j, l->refine_kept_start);
                ogq_json_key(&j, "rejected_on_held_out_rows");
                ogq_json_int(&j, l->refine_rejected_validation);
                ogq_json_key(&j, "codes_changed");
                ogq_json_int(&j, l->codes_changed);
                ogq_json_key(&j, "bias_refined");
                ogq_json_bool(&j, l->bias_refined);
                ogq_json_key(&j, "hessian_weight");
                ogq_json_double(&j, l->hessian_weight);
                ogq_json_key(&j, "steps");
                ogq_json_int(&j, l->refine_steps);
                ogq_json_key(&j, "final_q");
                ogq_json_double(&j, l->final_q);
                ogq_json_key(&j, "seconds");
                ogq_json_double(&j, l->seconds_refine);
                ogq_json_end_object(&j);
            }
            ogq_json_key(&j, "seconds");
            ogq_json_double(&j, l->seconds);
        }
        ogq_json_end_object(&j);
    }
    ogq_json_end_array(&j);
    ogq_json_key(&j, "metadata"); /* as recorded in the model, activation pairs included */
    ogq_quantize_metadata_json(&j, o, r);
    ogq_json_key(&j, "totals");
    ogq_json_begin_object(&j);
    ogq_json_key(&j, "layers");
    ogq_json_int(&j, (int64_t)r->n_layers);
    ogq_json_key(&j, "quantized");
    ogq_json_int(&j, (int64_t)r->n_quantized);
    ogq_json_key(&j, "folded_constant_nodes");
    ogq_json_int(&j, (int64_t)r->folded_nodes);
    ogq_json_key(&j, "calibration_samples");
    ogq_json_int(&j, r->calib_samples);
    ogq_json_key(&j, "loss");
    ogq_json_double(&j, r->loss_total);
    ogq_json_key(&j, "loss_rtn");
    ogq_json_double(&j, r->loss_rtn_total);
    ogq_json_key(&j, "opset_before");
    ogq_json_int(&j, r->opset_before);
    ogq_json_key(&j, "opset_after");
    ogq_json_int(&j, r->opset_after);
    ogq_json_key(&j, "weight_bytes_before");
    ogq_json_int(&j, r->weight_bytes_before);
    ogq_json_key(&j, "weight_bytes_after");
    ogq_json_int(&j, r->weight_bytes_after);
    ogq_json_key(&j, "seconds_calibration");
    ogq_json_double(&j, r->seconds_calibration);
    ogq_json_key(&j, "seconds_solve");
    ogq_json_double(&j, r->seconds_solve);
    ogq_json_key(&j, "int32_biases");
    ogq_json_int(&j, (int64_t)r->int32_biases);
    ogq_json_key(&j, "seconds_act_calibration");
    ogq_json_double(&j, r->seconds_act_calibration);
    ogq_json_key(&j, "seconds_hessian_scores");
    ogq_json_double(&j, r->seconds_hessian_scores);
    ogq_json_key(&j, "seconds_refine");
    ogq_json_double(&j, r->seconds_refine);
    ogq_json_key(&j, "refine_steps_per_layer");
    ogq_json_int(&j, r->refine_steps);
    ogq_json_key(&j, "seconds_total");
    ogq_json_double(&j, r->seconds_total);
    ogq_json_end_object(&j);
    ogq_json_end_object(&j);
    fputc('\n', f);
    return ogq_temp_commit(f, tmp, path, !ferror(f), &err) == OGQ_OK;
}

#define MAX_GLOBS 64

/* All calibration batches, read up front (calibration data is small by design, and the
 * sequential mode reads it once per layer). */
struct batches {
    struct ogq_tensor ***b;
    size_t n, cap, n_inputs;
};

static void batches_free(struct batches *bs)
{
    for (size_t i = 0; i < bs->n; i++) {
        for (size_t k = 0; k < bs->n_inputs; k++)
            ogq_tensor_free(bs->b[i][k]);
        free(bs->b[i]);
    }
    free(bs->b);
}

static enum ogq_status read_batches(struct ogq_calib *src, size_t n_inputs, struct batches *bs,
                                    struct ogq_error *err)
{
    bs->n_inputs = n_inputs;
    for (;;) {
        struct ogq_tensor **b = calloc(n_inputs ? n_inputs : 1, sizeof *b);
        if (!b)
            return OGQ_NOMEM(err);
        bool done = false;
        enum ogq_status st = ogq_calib_next(src, b, &done, err);
        if (st != OGQ_OK || done) {
            free(b);
            return st;
        }
        if (bs->n == bs->cap) {
            size_t cap = bs->cap ? 2 * bs->cap : 16;
            struct ogq_tensor ***grown = realloc(bs->b, cap * sizeof *grown);
            if (!grown) {
                for (size_t k = 0; k < n_inputs; k++)
                    ogq_tensor_free(b[k]);
                free(b);
                return OGQ_NOMEM(err);
            }
            bs->b = grown;
            bs->cap = cap;
        }
        bs->b[bs->n++] = b;
    }
}

int cmd_quantize(int argc, char **argv)
{
    struct cli_args a;
    cli_args_init(&a, "quantize", argc, argv);
    const char *model_path = NULL, *calib_path = NULL, *out_path = NULL, *report_path = NULL;
    const char *include[MAX_GLOBS], *exclude[MAX_GLOBS];
    struct ogq_quantize_opts o;
    ogq_quantize_opts_init(&o);
    struct ogq_save_options so;
    ogq_save_options_init(&so);
    int64_t samples = 0, batch = 8, v;
    double d;
    bool quiet = false;
    char name[64];
    const char *refine_config_path = NULL;
    static char refine_sets[MAX_GLOBS][512];
    size_t n_refine_sets = 0;
    for (const char *arg; (arg = cli_next(&a, name, sizeof name));) {
        const char *val;
#define VALUE() (val = cli_value(&a, arg))
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(help, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(arg, "--calib") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            calib_path = val;
        } else if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            out_path = val;
        } else if (strcmp(arg, "--report") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            report_path = val;
        } else if (strcmp(arg, "--calib-samples") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 1, INT64_MAX, &samples))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--batch-size") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 1, 1 << 20, &batch))
                return CLI_EXIT_USAGE;
        } else if (strcmp(arg, "--method") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            if (strcmp(val, "gptq") == 0)
                o.method = OGQ_METHOD_GPTQ;
            else if (strcmp(val, "rtn") == 0)
                o.method = OGQ_METHOD_RTN;
            else
                return cli_usage_error("quantize", "--method must be gptq or rtn, got '%s'", val);
        } else if (strcmp(arg, "--format") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            if (strcmp(val, "qdq") == 0)
                o.format = OGQ_FORMAT_QDQ;
            else if (strcmp(val, "matmulnbits") == 0)
                o.format = OGQ_FORMAT_MATMULNBITS;
            else
                return cli_usage_error("quantize", "--format must be qdq or matmulnbits, got '%s'",
                                       val);
        } else if (strcmp(arg, "--bits") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 2, 8, &v))
                return CLI_EXIT_USAGE;
            o.gptq.grid.bits = (int)v;
        } else if (strcmp(arg, "--group-size") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 0, INT32_MAX, &v))
                return CLI_EXIT_USAGE;
            o.gptq.group_size = v;
        } else if (strcmp(arg, "--sym") == 0) {
            o.gptq.grid.sym = true;
        } else if (strcmp(arg, "--asym") == 0) {
            o.gptq.grid.sym = false;
        } else if (strcmp(arg, "--act-order") == 0) {
            o.gptq.act_order = true;
        } else if (strcmp(arg, "--static-groups") == 0) {
            o.gptq.static_groups = true;
        } else if (strcmp(arg, "--damp") == 0) {
            if (!VALUE() || !cli_parse_double("quantize", arg, val, 0.0, 10.0, &d))
                return CLI_EXIT_USAGE;
            o.gptq.percdamp = d;
        } else if (strcmp(arg, "--block-size") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 1, 1 << 16, &v))
                return CLI_EXIT_USAGE;
            o.gptq.block_size = v;
        } else if (strcmp(arg, "--mse") == 0) {
            o.gptq.grid.mse = true;
        } else if (strcmp(arg, "--sequential") == 0) {
            o.sequential = true;
        } else if (strcmp(arg, "--include") == 0 || strcmp(arg, "--exclude") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            bool inc = arg[2] == 'i';
            size_t *n = inc ? &o.n_include : &o.n_exclude;
            if (*n >= MAX_GLOBS)
                return cli_usage_error("quantize", "at most %d %s patterns", MAX_GLOBS, arg);
            (inc ? include : exclude)[(*n)++] = val;
        } else if (strcmp(arg, "--skip-first") == 0 || strcmp(arg, "--skip-last") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 0, INT32_MAX, &v))
                return CLI_EXIT_USAGE;
            if (arg[7] == 'f')
                o.skip_first = (int)v;
            else
                o.skip_last = (int)v;
        } else if (strcmp(arg, "--act-bits") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 8, 8, &v))
                return CLI_EXIT_USAGE;
            o.act_bits = (int)v;
        } else if (strcmp(arg, "--act-sym") == 0) {
            o.act_sym = true;
        } else if (strcmp(arg, "--act-calib") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            if (!ogq_act_calib_method_parse(val, &o.act_calib))
                return cli_usage_error("quantize",
                                       "--act-calib must be minmax, percentile, mse or entropy, "
                                       "got '%s'", val);
        } else if (strcmp(arg, "--act-percentile") == 0) {
            if (!VALUE() || !cli_parse_double("quantize", arg, val, 1e-9, 100.0, &d))
                return CLI_EXIT_USAGE;
            o.act_percentile = d;
        } else if (strcmp(arg, "--act-outputs") == 0) {
            o.act_outputs = true;
        } else if (strcmp(arg, "--refine") == 0) {
            o.refine = true;
        } else if (strcmp(arg, "--refine-config") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            if (refine_config_path)
                return cli_usage_error("quantize", "--refine-config given twice");
            refine_config_path = val;
            o.refine = true;
        } else if (strcmp(arg, "--refine-set") == 0 || strcmp(arg, "--refine-epochs") == 0 ||
                   strcmp(arg, "--refine-steps") == 0) {
            if (!VALUE())
                return CLI_EXIT_USAGE;
            if (n_refine_sets >= MAX_GLOBS)
                return cli_usage_error("quantize", "at most %d refinement settings", MAX_GLOBS);
            char *pair = refine_sets[n_refine_sets++];
            int len;
            if (arg[9] == 's' && arg[10] == 'e')
                len = snprintf(pair, sizeof refine_sets[0], "%s", val);
            else
                len = snprintf(pair, sizeof refine_sets[0], "%s=%s",
                               arg[9] == 'e' ? "n_epochs" : "n_steps", val);
            if (len < 0 || (size_t)len >= sizeof refine_sets[0])
                return cli_usage_error("quantize", "%s: value too long", arg);
            o.refine = true;
        } else if (strcmp(arg, "--accuracy-level") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 0, 4, &v))
                return CLI_EXIT_USAGE;
            o.accuracy_level = v;
        } else if (strcmp(arg, "--threads") == 0) {
            if (!VALUE() || !cli_parse_int("quantize", arg, val, 1, 1024, &v))
                return CLI_EXIT_USAGE;
            o.threads = (int)v;
        } else if (strcmp(arg, "--external-data") == 0) {
            so.external = OGQ_EXTERNAL_ALWAYS;
        } else if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) {
            quiet = true;
        } else if (cli_is_option(arg)) {
            return cli_usage_error("quantize", "unknown option '%s'", arg);
        } else if (!model_path) {
            model_path = arg;
        } else {
            return cli_usage_error("quantize", "unexpected argument '%s'", arg);
        }
#undef VALUE
    }
    /* Refinement settings: the file first, then each --refine-set in order. */
    struct ogq_error cerr;
    ogq_error_clear(&cerr);
    enum ogq_status cst = OGQ_OK;
    if (refine_config_path)
        cst = ogq_refine_config_load_json(&o.refine_cfg, refine_config_path, &cerr);
    for (size_t i = 0; cst == OGQ_OK && i < n_refine_sets; i++)
        cst = ogq_refine_config_set_pair(&o.refine_cfg, refine_sets[i], &cerr);
    if (cst == OGQ_OK && o.refine)
        cst = ogq_refine_config_validate(&o.refine_cfg, &cerr);
    if (cst != OGQ_OK)
        return cli_usage_error("quantize", "%s", cerr.msg);
    if (!model_path)
        return cli_usage_error("quantize", "missing MODEL");
    if (!calib_path)
        return cli_usage_error("quantize", "missing --calib DATA");
    if (!out_path)
        return cli_usage_error("quantize", "missing -o OUT");
    if (o.format == OGQ_FORMAT_MATMULNBITS) {
        if (o.gptq.grid.bits != 4 && o.gptq.grid.bits != 8)
            return cli_usage_error("quantize", "--format matmulnbits needs --bits 4 or 8");
        int64_t g = o.gptq.group_size;
        if (g != 0 && (g < 16 || (g & (g - 1)) != 0))
            return cli_usage_error("quantize",
                                   "--format matmulnbits needs a power-of-two --group-size >= 16 "
                                   "(or 0), got %lld", (long long)g);
    }
    o.include = include;
    o.exclude = exclude;
    struct progress_state ps = {.tty = isatty(2) != 0, .quiet = quiet};
    o.progress = progress_cb;
    o.progress_user = &ps;

    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *m = NULL;
    struct ogq_calib *src = NULL;
    struct batches bs = {0};
    struct ogq_quant_report rep = {0};
    int rc = CLI_EXIT_OK;
    if (ogq_model_load(model_path, &m, &err) != OGQ_OK)
        return cli_fail(&err, true);
    /* The inputs to feed: declared graph inputs that are not initializers. */
    const struct ogq_graph *g = m->graph;
    const struct ogq_value **ins = calloc(g->n_inputs ? g->n_inputs : 1, sizeof *ins);
    size_t n_ins = 0;
    if (!ins) {
        ogq_model_free(m);
        cli_error("out of memory");
        return CLI_EXIT_FAILURE;
    }
    for (size_t i = 0; i < g->n_inputs; i++)
        if (!g->inputs[i]->initializer)
            ins[n_ins++] = g->inputs[i];
    struct ogq_calib_options co;
    ogq_calib_options_init(&co);
    co.max_samples = samples;
    co.batch_size = batch;
    if (ogq_calib_open(calib_path, ins, n_ins, &co, &src, &err) != OGQ_OK ||
        read_batches(src, n_ins, &bs, &err) != OGQ_OK) {
        rc = cli_fail(&err, true);
        goto out;
    }
    if (!quiet && ogq_calib_note(src))
        fprintf(stderr, "onnx-gptq: note: %s\n", ogq_calib_note(src));
    struct ogq_calib_set set = {
        .n_batches = bs.n,
        .n_inputs = n_ins,
        .batches = (const struct ogq_tensor *const *const *)bs.b,
        .n_samples = ogq_calib_sample_count(src),
    };
    enum ogq_status st = ogq_quantize_model(m, &set, &o, &rep, &err);
    if (st != OGQ_OK) {
        ogq_error_prefix(&err, "%s", model_path);
        rc = cli_fail(&err, st == OGQ_ERR_FORMAT || st == OGQ_ERR_UNSUPPORTED);
        goto out;
    }
    if (ogq_model_save(m, out_path, &so, &err) != OGQ_OK) {
        rc = cli_fail(&err, false);
        goto out;
    }
    if (!quiet)
        print_table(&rep, &o);
    if (report_path && !write_report(report_path, &rep, &o, model_path, out_path)) {
        cli_error("%s: cannot write the report", report_path);
        rc = CLI_EXIT_FAILURE;
    }
out:
    ogq_quant_report_fini(&rep);
    batches_free(&bs);
    ogq_calib_free(src);
    free(ins);
    ogq_model_free(m);
    return rc;
}
