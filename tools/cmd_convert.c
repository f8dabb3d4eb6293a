/* cmd_convert.c — `onnx-gptq convert IN OUT`: load and save (a faithful round trip). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "graph/model_io.h"

static const char help[] =
    "usage: onnx-gptq convert IN OUT [--external-data] [--external-data-name NAME]\n"
    "\n"
    "Loads IN into the onnx-gptq IR and writes it to OUT, keeping every field.\n"
    "Weights above protobuf's 2 GiB limit go to a side file automatically.\n"
    "\n"
    "  --external-data            write tensors of 1 KiB and more to a side file\n"
    "                             (default name: OUT's file name + \".data\")\n"
    "  --external-data-name NAME  side file name, in OUT's folder\n"
    "  --no-external-data         never write a side file (fail above 2 GiB)\n";

int cmd_convert(int argc, char **argv)
{
    struct cli_args a;
    cli_args_init(&a, "convert", argc, argv);
    const char *in = NULL, *out = NULL;
    struct ogq_save_options opts;
    ogq_save_options_init(&opts);
    char name[64];
    for (const char *arg; (arg = cli_next(&a, name, sizeof name));) {
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            fputs(help, stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(arg, "--external-data") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            opts.external = OGQ_EXTERNAL_ALWAYS;
        } else if (strcmp(arg, "--no-external-data") == 0) {
            if (!cli_no_value(&a, arg))
                return CLI_EXIT_USAGE;
            opts.external = OGQ_EXTERNAL_NEVER;
        } else if (strcmp(arg, "--external-data-name") == 0) {
            if (!(opts.external_name = cli_value(&a, arg)))
                return CLI_EXIT_USAGE;
            opts.external = OGQ_EXTERNAL_ALWAYS;
        } else if (cli_is_option(arg)) {
            return cli_usage_error("convert", "unknown option '%s'", arg);
        } else if (!in) {
            in = arg;
        } else if (!out) {
            out = arg;
        } else {
            return cli_usage_error("convert", "unexpected argument '%s'", arg);
        }
    }
    if (!in || !out)
        return cli_usage_error("convert", "expected IN and OUT");
    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *m;
    if (ogq_model_load(in, &m, &err) != OGQ_OK)
        return cli_fail(&err, true);
    enum ogq_status st = ogq_model_save(m, out, &opts, &err);
    ogq_model_free(m);
    if (st != OGQ_OK)
        return cli_fail(&err, false);
    return CLI_EXIT_OK;
}
