/* main.c — `onnx-gptq` entry point: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ogq_version.h"

int cmd_run(int argc, char **argv); /* cmd_run.c */
int cmd_quantize(int argc, char **argv); /* cmd_quantize.c */
int cmd_eval(int argc, char **argv); /* cmd_eval.c */

static const char usage[] =
    "usage: onnx-gptq <command> [options]\n"
    "\n"
    "Low-bit post-training quantization of ONNX models (GPTQ).\n"
    "\n"
    "commands:\n"
    "  inspect MODEL [--json]          summarize a model\n"
    "  convert IN OUT [--external-data] load and save a model (round trip)\n"
    "  quantize MODEL --calib DATA -o OUT [options]\n"
    "                                  GPTQ low-bit weights (see quantize --help)\n"
    "  run MODEL --input DATA [--output OUT.npz]\n"
    "                                  run a model on the CPU runtime over input data\n"
    "  eval QUANT --teacher FLOAT --data DATA\n"
    "                                  compare a quantized model with its float teacher\n"
    "\n"
    "options:\n"
    "  -h, --help       show this help (or 'onnx-gptq COMMAND --help')\n"
    "  --version        print the version\n"
    "\n"
    "exit codes: 0 ok, 1 usage error, 2 bad or unsupported input, 3 failure while\n"
    "producing output (I/O, memory, numerics, internal error)\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"inspect", cmd_inspect},
    {"convert", cmd_convert},
    {"run", cmd_run},
    {"quantize", cmd_quantize},
    {"eval", cmd_eval},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("onnx-gptq %s\n", OGQ_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    cli_error("unknown command '%s' (see 'onnx-gptq --help')", cmd);
    return CLI_EXIT_USAGE;
}
