#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("onnx-gptq: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(const struct ogq_error *err, bool input_phase)
{
    cli_error("%s", err->msg[0] ? err->msg : ogq_status_name(err->code));
    switch (err->code) {
    case OGQ_ERR_USAGE: return CLI_EXIT_USAGE;
    case OGQ_ERR_FORMAT:
    case OGQ_ERR_UNSUPPORTED: return CLI_EXIT_INPUT;
    case OGQ_ERR_IO: return input_phase ? CLI_EXIT_INPUT : CLI_EXIT_FAILURE;
    default: return CLI_EXIT_FAILURE;
    }
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("onnx-gptq: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'onnx-gptq %s --help')\n", cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

void cli_args_init(struct cli_args *a, const char *cmd, int argc, char **argv)
{
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
    a->cmd = cmd;
    a->inline_value = NULL;
}

bool cli_is_option(const char *arg)
{
    return arg[0] == '-' && arg[1] != '\0';
}

const char *cli_next(struct cli_args *a, char *namebuf, size_t size)
{
    a->inline_value = NULL;
    if (a->i >= a->argc)
        return NULL;
    const char *arg = a->argv[a->i++];
    if (arg[0] == '-' && arg[1] == '-') {
        const char *eq = strchr(arg, '=');
        if (eq) {
            size_t len = (size_t)(eq - arg);
            if (len >= size)
                len = size - 1;
            memcpy(namebuf, arg, len);
            namebuf[len] = 0;
            a->inline_value = eq + 1;
            return namebuf;
        }
    }
    return arg;
}

const char *cli_value(struct cli_args *a, const char *opt)
{
    if (a->inline_value)
        return a->inline_value;
    if (a->i >= a->argc) {
        cli_usage_error(a->cmd, "option %s needs a value", opt);
        return NULL;
    }
    return a->argv[a->i++];
}

bool cli_no_value(struct cli_args *a, const char *opt)
{
    if (!a->inline_value)
        return true;
    cli_usage_error(a->cmd, "option %s takes no value", opt);
    return false;
}

bool cli_parse_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi,
                   int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) {
        cli_usage_error(cmd, "%s expects an integer, got '%s'", opt, s);
        return false;
    }
    if (v < lo || v > hi) {
        cli_usage_error(cmd, "%s must be between %lld and %lld, got %lld", opt, (long long)lo,
                        (long long)hi, v);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                      double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) {
        cli_usage_error(cmd, "%s expects a number, got '%s'", opt, s);
        return false;
    }
    if (v < lo || v > hi) {
        cli_usage_error(cmd, "%s must be between %g and %g, got %g", opt, lo, hi, v);
        return false;
    }
    *out = v;
    return true;
}
