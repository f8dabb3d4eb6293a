/* fuzz_json.c — libFuzzer target for the JSON parser behind --refine-config.
 *
 * Any input must parse or fail with a status, never crash, leak or read out of bounds;
 * a document that parses must give the same tree when parsed again from the same bytes
 * (the parser keeps no hidden state).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_parse.h"

/* Structural equality of two trees. */
static int same(const struct ogq_jvalue *a, const struct ogq_jvalue *b)
{
    if (a->type != b->type || a->n != b->n || a->b != b->b)
        return 0;
    if (a->type == OGQ_JSTRING)
        return a->str_len == b->str_len && memcmp(a->str, b->str, a->str_len) == 0;
    if (a->type == OGQ_JNUMBER)
        return strcmp(a->num_text, b->num_text) == 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->type == OGQ_JOBJECT && strcmp(a->keys[i], b->keys[i]) != 0)
            return 0;
        if (!same(&a->items[i], &b->items[i]))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ogq_error err;
    struct ogq_jvalue *a = NULL, *b = NULL;
    if (ogq_json_parse((const char *)data, size, &a, &err) != OGQ_OK)
        return 0;
    if (ogq_json_parse((const char *)data, size, &b, &err) != OGQ_OK || !same(a, b))
        abort();
    ogq_jvalue_free(a);
    ogq_jvalue_free(b);
    return 0;
}
