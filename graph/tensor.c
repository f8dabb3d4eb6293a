#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/checked.h"

char *ogq_strdup_or_null(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

/* Allocates the struct with name and dims; validates dims and computes numel/nbytes. */
static enum ogq_status tensor_alloc(const char *name, enum ogq_dtype dtype, int rank,
                                    const int64_t *dims, struct ogq_tensor **out,
                                    struct ogq_error *err)
{
    const char *shown = name ? name : "(unnamed)";
    if (!ogq_dtype_is_known(dtype))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': unknown data type %d", shown,
                             (int)dtype);
    if (rank < 0)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': negative rank", shown);
    int64_t numel;
    if (!ogq_dims_product(dims, (size_t)rank, &numel))
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "tensor '%s': dims are negative or their product overflows", shown);
    size_t nbytes = 0;
    if (dtype != OGQ_DTYPE_STRING && !ogq_dtype_storage_bytes(dtype, numel, &nbytes))
        return ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': byte size overflows", shown);
    struct ogq_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return OGQ_NOMEM(err);
    bool ok = true;
    t->name = ogq_strdup_or_null(name, &ok);
    if (rank > 0) {
        t->dims = malloc((size_t)rank * sizeof *t->dims);
        if (t->dims)
            memcpy(t->dims, dims, (size_t)rank * sizeof *t->dims);
        else
            ok = false;
    }
    if (!ok) {
        ogq_tensor_free(t);
        return OGQ_NOMEM(err);
    }
    t->dtype = dtype;
    t->rank = rank;
    t->numel = numel;
    t->nbytes = nbytes;
    *out = t;
    return OGQ_OK;
}

enum ogq_status ogq_tensor_new(const char *name, enum ogq_dtype dtype, int rank,
                               const int64_t *dims, struct ogq_tensor **out,
                               struct ogq_error *err)
{
    struct ogq_tensor *t;
    OGQ_TRY(tensor_alloc(name, dtype, rank, dims, &t, err));
    enum ogq_status st;
    if (dtype == OGQ_DTYPE_STRING) {
        t->strings = calloc(t->numel ? (size_t)t->numel : 1, sizeof *t->strings);
        st = t->strings ? OGQ_OK : OGQ_NOMEM(err);
    } else {
        st = ogq_buffer_new(t->nbytes, &t->buf, err);
    }
    if (st != OGQ_OK) {
        ogq_tensor_free(t);
        return st;
    }
    *out = t;
    return OGQ_OK;
}

enum ogq_status ogq_tensor_new_view(const char *name, enum ogq_dtype dtype, int rank,
                                    const int64_t *dims, struct ogq_buffer *buf, size_t offset,
                                    size_t nbytes, struct ogq_tensor **out,
                                    struct ogq_error *err)
{
    const char *shown = name ? name : "(unnamed)";
    if (dtype == OGQ_DTYPE_STRING)
        return ogq_error_set(err, OGQ_ERR_INTERNAL, "tensor '%s': string views unsupported",
                             shown);
    struct ogq_tensor *t;
    OGQ_TRY(tensor_alloc(name, dtype, rank, dims, &t, err));
    size_t end;
    enum ogq_status st = OGQ_OK;
    if (nbytes != t->nbytes)
        st = ogq_error_set(err, OGQ_ERR_FORMAT,
                           "tensor '%s': data has %zu bytes but dims x %s need %zu", shown,
                           nbytes, ogq_dtype_name(dtype), t->nbytes);
    else if (!ogq_add_size(offset, nbytes, &end) || end > buf->size)
        st = ogq_error_set(err, OGQ_ERR_FORMAT, "tensor '%s': data range lies outside its buffer",
                           shown);
    if (st != OGQ_OK) {
        ogq_tensor_free(t);
        return st;
    }
    t->buf = ogq_buffer_ref(buf);
    t->offset = offset;
    *out = t;
    return OGQ_OK;
}

enum ogq_status ogq_tensor_clone(const struct ogq_tensor *src, struct ogq_tensor **out,
                                 struct ogq_error *err)
{
    struct ogq_tensor *t;
    OGQ_TRY(tensor_alloc(src->name, src->dtype, src->rank, src->dims, &t, err));
    bool ok = true;
    t->doc_string = ogq_strdup_or_null(src->doc_string, &ok);
    t->src = src->src;
    if (src->strings) {
        t->strings = calloc(t->numel ? (size_t)t->numel : 1, sizeof *t->strings);
        if (!t->strings)
            ok = false;
        for (int64_t i = 0; ok && i < t->numel; i++) {
            t->strings[i].data = malloc(src->strings[i].len + 1);
            if (!t->strings[i].data) {
                ok = false;
                break;
            }
            memcpy(t->strings[i].data, src->strings[i].data, src->strings[i].len + 1);
            t->strings[i].len = src->strings[i].len;
        }
    } else {
        t->buf = ogq_buffer_ref(src->buf);
        t->offset = src->offset;
    }
    if (!ok) {
        ogq_tensor_free(t);
        return OGQ_NOMEM(err);
    }
    *out = t;
    return OGQ_OK;
}

void ogq_tensor_free(struct ogq_tensor *t)
{
    if (!t)
        return;
    if (t->strings) {
        for (int64_t i = 0; i < t->numel; i++)
            free(t->strings[i].data);
        free(t->strings);
    }
    ogq_buffer_unref(t->buf);
    free(t->dims);
    free(t->name);
    free(t->doc_string);
    free(t);
}

enum ogq_status ogq_tensor_set_name(struct ogq_tensor *t, const char *name, struct ogq_error *err)
{
    bool ok = true;
    char *copy = ogq_strdup_or_null(name, &ok);
    if (!ok)
        return OGQ_NOMEM(err);
    free(t->name);
    t->name = copy;
    return OGQ_OK;
}

bool ogq_tensor_equal(const struct ogq_tensor *a, const struct ogq_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank || a->numel != b->numel)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    if (a->dtype == OGQ_DTYPE_STRING) {
        for (int64_t i = 0; i < a->numel; i++)
            if (a->strings[i].len != b->strings[i].len ||
                memcmp(a->strings[i].data, b->strings[i].data, a->strings[i].len) != 0)
                return false;
        return true;
    }
    return a->nbytes == b->nbytes &&
           (a->nbytes == 0 || memcmp(ogq_tensor_data(a), ogq_tensor_data(b), a->nbytes) == 0);
}

void ogq_dims_format(const int64_t *dims, int rank, char *buf, size_t size)
{
    size_t pos = 0;
    int n = snprintf(buf, size, "[");
    pos = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < rank && pos < size; i++) {
        n = snprintf(buf + pos, size - pos, "%s%lld", i ? "," : "", (long long)dims[i]);
        if (n < 0)
            break;
        pos += (size_t)n;
    }
    if (pos < size)
        snprintf(buf + pos, size - pos, "]");
}
