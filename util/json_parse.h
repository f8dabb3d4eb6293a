/* json_parse.h — a small, strict JSON (RFC 8259) parser into a DOM, for config files.
 *
 * Strict: no comments, no trailing commas, no leading zeros, no NaN/Infinity, no single
 * quotes, no raw control characters in strings, input must be valid UTF-8 (no surrogate
 * code points, no overlong forms), \uXXXX escapes must pair surrogates, duplicate keys
 * within one object are rejected, and nothing but whitespace may follow the top value.
 * Nesting is limited to OGQ_JSON_PARSE_MAX_DEPTH arrays/objects so hostile input cannot
 * exhaust the stack; the caller limits the input size (the parser allocates O(len)).
 *
 * Errors are OGQ_ERR_FORMAT with one line "line L, column C: <problem>" (1-based; the
 * column counts characters, i.e. UTF-8 code points, not bytes), or OGQ_ERR_NOMEM.
 */
#ifndef OGQ_JSON_PARSE_H
#define OGQ_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OGQ_JSON_PARSE_MAX_DEPTH 64

enum ogq_jtype {
    OGQ_JNULL = 0,
    OGQ_JBOOL,
    OGQ_JNUMBER,
    OGQ_JSTRING,
    OGQ_JARRAY,
    OGQ_JOBJECT,
};

/* One JSON value. A tree of these is owned by its root (see ogq_jvalue_free): every
 * pointer inside belongs to the tree. Members not listed for a type are zero/NULL. */
struct ogq_jvalue {
    enum ogq_jtype type;
    int line, col;            /* where the value starts (1-based; col counts code points) */
    bool b;                   /* OGQ_JBOOL */
    double num;               /* OGQ_JNUMBER: strtod of num_text (may be ±HUGE_VAL on overflow) */
    char *num_text;           /* OGQ_JNUMBER: the number exactly as written (NUL-terminated) */
    char *str;                /* OGQ_JSTRING: decoded UTF-8, NUL-terminated; may hold U+0000, so
                                 str_len is the true length */
    size_t str_len;           /* OGQ_JSTRING: bytes in str, without the terminator */
    size_t n;                 /* OGQ_JARRAY / OGQ_JOBJECT: number of items */
    struct ogq_jvalue *items; /* OGQ_JARRAY / OGQ_JOBJECT: n values, in document order */
    char **keys; /* OGQ_JOBJECT: n keys (decoded UTF-8; a key holding U+0000 is rejected) */
};

/* Parses `len` bytes at `text` (need not be NUL-terminated; a UTF-8 byte-order mark is
 * not accepted). Borrows `text`. On OGQ_OK, *out is a new tree the caller frees with
 * ogq_jvalue_free; on failure *out is NULL and `err` says where and why. */
enum ogq_status ogq_json_parse(const char *text, size_t len, struct ogq_jvalue **out,
                               struct ogq_error *err);

/* Frees a tree returned by ogq_json_parse (NULL is fine). Pass only a root: items
 * inside a tree are freed with it. */
void ogq_jvalue_free(struct ogq_jvalue *root);

/* Borrows `obj`; returns the member named `key` (a pointer into the tree, valid while
 * the tree lives), or NULL if `obj` is not an object or has no such key. */
const struct ogq_jvalue *ogq_jobject_get(const struct ogq_jvalue *obj, const char *key);

/* "null", "a boolean", "a number", "a string", "an array", "an object" (static). */
const char *ogq_jtype_name(enum ogq_jtype t);

#ifdef __cplusplus
}
#endif

#endif
