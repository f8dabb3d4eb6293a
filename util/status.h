/* status.h — status codes and the per-call error context.
 *
 * Every library function that can fail returns an `enum ogq_status` and, on
 * failure, writes a one-line human message into the caller's `struct ogq_error`.
 * There is no global error state: each caller owns its error context. Messages
 * name the file, node or tensor and say expected vs actual where that applies.
 */
#ifndef OGQ_STATUS_H
#define OGQ_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ogq_status {
    OGQ_OK = 0,
    OGQ_ERR_USAGE,       /* caller passed an invalid option or argument */
    OGQ_ERR_IO,          /* file could not be opened, read or written */
    OGQ_ERR_FORMAT,      /* input is malformed: not protobuf, bad sizes, broken graph */
    OGQ_ERR_UNSUPPORTED, /* well-formed input that we do not handle */
    OGQ_ERR_NOMEM,       /* allocation failed */
    OGQ_ERR_NUMERIC,     /* numerical failure (e.g. Cholesky after every retry) */
    OGQ_ERR_INTERNAL,    /* a bug: an invariant did not hold */
};

#define OGQ_ERROR_MSG_MAX 1024

struct ogq_error {
    enum ogq_status code;
    char msg[OGQ_ERROR_MSG_MAX];
};

/* Reset `err` to OGQ_OK with an empty message. `err` may be NULL. */
void ogq_error_clear(struct ogq_error *err);

/* Record a failure and return `code`, so callers can `return ogq_error_set(...)`.
 * `err` may be NULL (the message is then dropped). The first error set wins
 * only if the caller does not clear it; later calls overwrite. */
enum ogq_status ogq_error_set(struct ogq_error *err, enum ogq_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prepend "prefix: " to the current message (used to add a file or pass name). */
void ogq_error_prefix(struct ogq_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Short name of a status code ("io error", "bad input", ...). */
const char *ogq_status_name(enum ogq_status code);

/* Propagate a failing status from an expression. */
#define OGQ_TRY(expr)                                                                              \
    do {                                                                                           \
        enum ogq_status ogq_try_status_ = (expr);                                                  \
        if (ogq_try_status_ != OGQ_OK)                                                             \
            return ogq_try_status_;                                                                \
    } while (0)

#define OGQ_NOMEM(err) ogq_error_set((err), OGQ_ERR_NOMEM, "out of memory at %s:%d", __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif

#endif
