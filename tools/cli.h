/* cli.h — shared helpers for the onnx-gptq subcommands (the only code that prints or exits). */
#ifndef OGQ_CLI_H
#define OGQ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

/* Exit codes (documented in README.md). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 1,    /* bad command line */
    CLI_EXIT_INPUT = 2,    /* an input file is missing, malformed or unsupported */
    CLI_EXIT_FAILURE = 3,  /* could not finish: output I/O, memory, numerics, internal error */
};

/* Prints "onnx-gptq: error: MSG" on stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Prints the error of `err` and returns the exit code for a failure while reading inputs
 * (`input_phase`) or while producing outputs. */
int cli_fail(const struct ogq_error *err, bool input_phase);

/* Usage error: prints the message plus a hint to run `onnx-gptq CMD --help`. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Argument cursor: handles "--opt value" and "--opt=value". */
struct cli_args {
    int argc;
    char **argv;
    int i;              /* next argument */
    const char *cmd;    /* subcommand name for messages */
    const char *inline_value; /* value after '=' in the current option, if any */
};

void cli_args_init(struct cli_args *a, const char *cmd, int argc, char **argv);

/* Next argument or NULL at the end. Sets inline_value for "--opt=value". For an option
 * the returned string is the option name without "=value". */
const char *cli_next(struct cli_args *a, char *namebuf, size_t size);

/* True if `arg` is an option (starts with '-' and is not "-"). */
bool cli_is_option(const char *arg);

/* Value of the current option: its inline value or the next argument. Prints a usage
 * error and returns NULL if there is none. */
const char *cli_value(struct cli_args *a, const char *opt);

/* For options that take no value: prints a usage error and returns false when one was
 * given inline ("--json=1"). */
bool cli_no_value(struct cli_args *a, const char *opt);

/* Strict numeric parsing: whole string, range-checked. Print a usage error on failure. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi,
                   int64_t *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                      double *out);

/* Subcommand entry points. */
int cmd_inspect(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_eval(int argc, char **argv);

#endif
