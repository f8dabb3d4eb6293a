#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ogq_error_clear(struct ogq_error *err)
{
    if (!err)
        return;
    err->code = OGQ_OK;
    err->msg[0] = '\0';
}

enum ogq_status ogq_error_set(struct ogq_error *err, enum ogq_status code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* One-line messages: fold any newline a caller let through (e.g. from a tensor name). */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

void ogq_error_prefix(struct ogq_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[OGQ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Truncation is acceptable: messages are capped at OGQ_ERROR_MSG_MAX. */
    size_t plen = strlen(prefix);
    if (plen + 2 >= sizeof err->msg)
        plen = sizeof err->msg - 3;
    size_t mlen = strlen(err->msg);
    if (plen + 2 + mlen >= sizeof err->msg)
        mlen = sizeof err->msg - plen - 3;
    memmove(err->msg + plen + 2, err->msg, mlen);
    err->msg[plen + 2 + mlen] = '\0';
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
}

const char *ogq_status_name(enum ogq_status code)
{
    switch (code) {
    case OGQ_OK: return "ok";
    case OGQ_ERR_USAGE: return "usage error";
    case OGQ_ERR_IO: return "i/o error";
    case OGQ_ERR_FORMAT: return "bad input";
    case OGQ_ERR_UNSUPPORTED: return "unsupported";
    case OGQ_ERR_NOMEM: return "out of memory";
    case OGQ_ERR_NUMERIC: return "numerical failure";
    case OGQ_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
