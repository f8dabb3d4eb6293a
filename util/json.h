/* json.h — a small streaming JSON writer (for --json output and reports).
 *
 * Usage: ogq_json_begin_object(j); ogq_json_key(j, "n"); ogq_json_int(j, 3); ...
 * Commas and indentation are handled by the writer. Strings are escaped per RFC 8259;
 * non-finite floats are written as null (JSON has no NaN).
 */
#ifndef OGQ_JSON_H
#define OGQ_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OGQ_JSON_MAX_DEPTH 64

struct ogq_json {
    FILE *out;
    int depth;
    bool need_comma[OGQ_JSON_MAX_DEPTH];
    bool after_key;
    bool pretty;
};

void ogq_json_init(struct ogq_json *j, FILE *out, bool pretty);
void ogq_json_begin_object(struct ogq_json *j);
void ogq_json_end_object(struct ogq_json *j);
void ogq_json_begin_array(struct ogq_json *j);
void ogq_json_end_array(struct ogq_json *j);
void ogq_json_key(struct ogq_json *j, const char *key);
void ogq_json_string(struct ogq_json *j, const char *s);
void ogq_json_int(struct ogq_json *j, int64_t v);
void ogq_json_double(struct ogq_json *j, double v);
void ogq_json_bool(struct ogq_json *j, bool v);
void ogq_json_null(struct ogq_json *j);

/* Writes `s` as an escaped JSON string literal (with quotes) to `out`. */
void ogq_json_write_escaped(FILE *out, const char *s);

#ifdef __cplusplus
}
#endif

#endif
