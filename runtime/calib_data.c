/* calib_data.c — calibration data sources (see calib_data.h for layouts and rules).
 *
 * Everything is loaded at open into "chunks" (one per file or test set), each holding
 * one array per model input and a common sample count. Iteration walks the chunks in
 * order: a batch that lies inside one chunk is a zero-copy view of its array; a batch
 * spanning chunks is concatenated into a fresh tensor.
 */
#include "calib_data.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "graph/model_io.h"
#include "npy.h"
#include "rt_tensor.h"

enum mode {
    MODE_BATCH,  /* axis 0 is the model's batch axis */
    MODE_STACK,  /* array[i] is one complete input */
    MODE_SINGLE, /* rank 0: the array is one sample */
};

struct in_desc {
    char *name;
    enum ogq_dtype dtype; /* UNDEFINED when not declared */
    int rank;             /* -1 when unknown */
    int64_t *dims;        /* -1 for symbolic/unknown dims */
    char shape[256];      /* declared shape for messages, e.g. "[N,3,224,224]" */
};

struct carr {
    struct ogq_tensor *t;
    enum mode mode;
};

struct chunk {
    struct carr *a; /* one per input */
    int64_t n;      /* samples */
    char *label;    /* file or set, for messages */
};

struct ogq_calib {
    struct in_desc *in;
    size_t n_in;
    struct chunk *chunks;
    size_t n_chunks, cap_chunks;
    int64_t loaded; /* samples in all chunks */
    int64_t total;  /* samples yielded (after the cap) */
    int64_t batch;  /* effective batch size */
    int64_t fixed;  /* a fixed declared batch dim (0: none) */
    int64_t max_samples;
    const char *layout;
    char note[512];
    /* iteration */
    size_t cur;
    int64_t row, yielded;
};

/* ---------------------------------------------------------------- small helpers */

void ogq_calib_options_init(struct ogq_calib_options *o)
{
    o->max_samples = 0;
    o->batch_size = 0;
}

static void add_note(struct ogq_calib *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void add_note(struct ogq_calib *s, const char *fmt, ...)
{
    size_t len = strlen(s->note);
    if (len + 3 >= sizeof s->note)
        return;
    if (len) {
        memcpy(s->note + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->note + len, sizeof s->note - len, fmt, ap);
    va_end(ap);
}

/* Appends "'a', 'b'" style items to a bounded list buffer. */
static void list_add(char *buf, size_t size, const char *item)
{
    size_t len = strlen(buf);
    if (len + 8 >= size)
        return;
    if (len + strlen(item) + 8 >= size) {
        snprintf(buf + len, size - len, "%s...", len ? ", " : "");
        buf[size - 1] = '\0';
        /* Mark full so that later items are dropped. */
        memset(buf + strlen(buf), 0, size - strlen(buf));
        return;
    }
    snprintf(buf + len, size - len, "%s'%s'", len ? ", " : "", item);
}

static bool list_full(const char *buf)
{
    size_t len = strlen(buf);
    return len >= 3 && strcmp(buf + len - 3, "...") == 0;
}

/* Name with every character outside [A-Za-z0-9._-] replaced by '_' (new string). */
static char *sanitize(const char *name)
{
    char *s = strdup(name);
    if (!s)
        return NULL;
    for (char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            *p = '_';
    }
    return s;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/')
        p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

static void format_dims(const int64_t *dims, int rank, char *buf, size_t size)
{
    ogq_dims_format(dims, rank, buf, size);
}

/* A sorted list of names. */
struct names {
    char **v;
    size_t n, cap;
};

static bool names_push(struct names *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return false;
    l->n++;
    return true;
}

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Entries of `dir` (without . and ..), sorted by name. */
static enum ogq_status list_dir(const char *dir, struct names *out, struct ogq_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return ogq_error_set(err, OGQ_ERR_IO, "%s: cannot read folder: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!names_push(out, e->d_name)) {
            closedir(d);
            names_free(out);
            return OGQ_NOMEM(err);
        }
    }
    closedir(d);
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return OGQ_OK;
}

/* ".../test_data_set_<N>": N, or -1 when the suffix is not a plain number. */
static long long set_number(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "test_data_set_", 14) != 0)
        return -1;
    const char *p = base + 14;
    if (!*p)
        return -1;
    long long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000000000LL)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static int cmp_set(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    long long nx = set_number(x), ny = set_number(y);
    if (nx >= 0 && ny >= 0 && nx != ny)
        return nx < ny ? -1 : 1;
    if ((nx >= 0) != (ny >= 0))
        return nx >= 0 ? -1 : 1;
    return strcmp(x, y);
}

/* "input_<i>.pb": i, or -1. */
static long long pb_input_index(const char *name)
{
    if (strncmp(name, "input_", 6) != 0 || !has_suffix(name, ".pb"))
        return -1;
    const char *p = name + 6, *e = name + strlen(name) - 3;
    if (p == e)
        return -1;
    long long v = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9' || v > 100000000LL)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* ---------------------------------------------------------------- chunks */

static void chunk_fini(struct chunk *c, size_t n_in)
{
    if (c->a)
        for (size_t i = 0; i < n_in; i++)
            ogq_tensor_free(c->a[i].t);
    free(c->a);
    free(c->label);
}

void ogq_calib_free(struct ogq_calib *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_chunks; i++)
        chunk_fini(&s->chunks[i], s->n_in);
    free(s->chunks);
    for (size_t i = 0; i < s->n_in; i++) {
        free(s->in[i].name);
        free(s->in[i].dims);
    }
    free(s->in);
    free(s);
}

/* A new empty chunk appended to s (arrays NULL until filled). */
static struct chunk *chunk_add(struct ogq_calib *s, const char *label, struct ogq_error *err)
{
    if (s->n_chunks == s->cap_chunks) {
        size_t cap = s->cap_chunks ? 2 * s->cap_chunks : 8;
        struct chunk *c = realloc(s->chunks, cap * sizeof *c);
        if (!c) {
            OGQ_NOMEM(err);
            return NULL;
        }
        s->chunks = c;
        s->cap_chunks = cap;
    }
    struct chunk *c = &s->chunks[s->n_chunks];
    memset(c, 0, sizeof *c);
    c->a = calloc(s->n_in ? s->n_in : 1, sizeof *c->a);
    c->label = strdup(label);
    if (!c->a || !c->label) {
        chunk_fini(c, s->n_in);
        OGQ_NOMEM(err);
        return NULL;
    }
    s->n_chunks++;
    return c;
}

/* Checks array `t` (taking ownership) for input i against the declared type and stores it
 * in chunk c; `label` names the file in messages. */
static enum ogq_status chunk_set(struct ogq_calib *s, struct chunk *c, size_t i,
                                 struct ogq_tensor *t, const char *label, struct ogq_error *err)
{
    const struct in_desc *d = &s->in[i];
    c->a[i].t = t;
    char got[256];
    format_dims(t->dims, t->rank, got, sizeof got);
    if (d->dtype != OGQ_DTYPE_UNDEFINED && t->dtype != d->dtype)
        return ogq_error_set(err, OGQ_ERR_FORMAT, "%s: input '%s': expected dtype %s, got %s",
                             label, d->name, ogq_dtype_short_name(d->dtype),
                             ogq_dtype_short_name(t->dtype));
    if (ogq_rt_storage_dtype(t->dtype) == OGQ_DTYPE_UNDEFINED || ogq_dtype_bits(t->dtype) < 8)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                             "%s: input '%s': dtype %s is not supported by the runtime", label,
                             d->name, ogq_dtype_short_name(t->dtype));
    enum mode m;
    bool ok = true;
    if (d->rank < 0) {
        m = t->rank == 0 ? MODE_SINGLE : MODE_BATCH;
    } else if (t->rank == d->rank + 1) {
        m = MODE_STACK;
        for (int k = 0; k < d->rank; k++)
            ok = ok && (d->dims[k] < 0 || d->dims[k] == t->dims[k + 1]);
    } else if (t->rank == d->rank) {
        m = d->rank == 0 ? MODE_SINGLE : MODE_BATCH;
        for (int k = 1; k < d->rank; k++)
            ok = ok && (d->dims[k] < 0 || d->dims[k] == t->dims[k]);
    } else {
        ok = false;
        m = MODE_BATCH;
    }
    if (!ok)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "%s: input '%s': expected shape %s (samples along axis 0%s), "
                             "got %s",
                             label, d->name, d->shape,
                             d->rank >= 0 ? ", or a stack of such arrays" : "", got);
    int64_t n = m == MODE_SINGLE ? 1 : t->dims[0];
    if (n == 0)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "%s: input '%s': no samples (axis 0 of shape %s is empty)", label,
                             d->name, got);
    c->a[i].mode = m;
    if (i > 0 && n != c->n)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "%s: input '%s' has %lld samples but input '%s' has %lld", label,
                             d->name, (long long)n, s->in[0].name, (long long)c->n);
    c->n = n;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- layouts */

/* One .npz file as a chunk. */
static enum ogq_status load_npz(struct ogq_calib *s, const char *path, bool note_extra,
                                struct ogq_error *err)
{
    struct ogq_npz *z;
    OGQ_TRY(ogq_npz_open(path, &z, err));
    struct chunk *c = chunk_add(s, path, err);
    if (!c) {
        ogq_npz_close(z);
        return OGQ_ERR_NOMEM;
    }
    enum ogq_status st = OGQ_OK;
    bool *used = calloc(ogq_npz_count(z) + 1, sizeof *used);
    if (!used)
        st = OGQ_NOMEM(err);
    for (size_t i = 0; st == OGQ_OK && i < s->n_in; i++) {
        ptrdiff_t k = ogq_npz_find(z, s->in[i].name);
        if (k < 0) {
            char *alt = sanitize(s->in[i].name);
            if (!alt) {
                st = OGQ_NOMEM(err);
                break;
            }
            k = ogq_npz_find(z, alt);
            free(alt);
        }
        if (k < 0) {
            char keys[400] = "";
            for (size_t j = 0; j < ogq_npz_count(z) && !list_full(keys); j++)
                list_add(keys, sizeof keys, ogq_npz_key(z, j));
            st = ogq_error_set(err, OGQ_ERR_FORMAT, "%s: no array for input '%s' (keys: %s)", path,
                               s->in[i].name, keys[0] ? keys : "none");
            break;
        }
        used[k] = true;
        struct ogq_tensor *t;
        st = ogq_npz_load(z, (size_t)k, &t, err);
        if (st == OGQ_OK)
            st = chunk_set(s, c, i, t, path, err);
    }
    if (st == OGQ_OK && note_extra) {
        char extra[300] = "";
        size_t n_extra = 0;
        for (size_t j = 0; j < ogq_npz_count(z); j++)
            if (!used[j]) {
                list_add(extra, sizeof extra, ogq_npz_key(z, j));
                n_extra++;
            }
        if (n_extra)
            add_note(s, "ignored %zu key%s of %s matching no model input: %s", n_extra,
                     n_extra == 1 ? "" : "s", path, extra);
    }
    free(used);
    ogq_npz_close(z);
    return st;
}

/* A folder of <input>.npy files (one chunk). */
static enum ogq_status load_npy_dir(struct ogq_calib *s, const char *dir, const struct names *files,
                                    struct ogq_error *err)
{
    struct chunk *c = chunk_add(s, dir, err);
    if (!c)
        return OGQ_ERR_NOMEM;
    bool *used = calloc(files->n + 1, sizeof *used);
    if (!used)
        return OGQ_NOMEM(err);
    enum ogq_status st = OGQ_OK;
    for (size_t i = 0; st == OGQ_OK && i < s->n_in; i++) {
        char *alt = sanitize(s->in[i].name);
        if (!alt) {
            st = OGQ_NOMEM(err);
            break;
        }
        ptrdiff_t found = -1;
        for (size_t pass = 0; pass < 2 && found < 0; pass++) {
            const char *want = pass ? alt : s->in[i].name;
            size_t wl = strlen(want);
            for (size_t j = 0; j < files->n && found < 0; j++)
                if (strlen(files->v[j]) == wl + 4 && strncmp(files->v[j], want, wl) == 0 &&
                    has_suffix(files->v[j], ".npy"))
                    found = (ptrdiff_t)j;
        }
        if (found < 0) {
            char list[400] = "";
            for (size_t j = 0; j < files->n && !list_full(list); j++)
                if (has_suffix(files->v[j], ".npy"))
                    list_add(list, sizeof list, files->v[j]);
            st = ogq_error_set(err, OGQ_ERR_FORMAT,
                               "%s: no .npy file for input '%s' (expected '%s.npy'; found: %s)",
                               dir, s->in[i].name, alt, list);
            free(alt);
            break;
        }
        free(alt);
        used[found] = true;
        char *p = join(dir, files->v[found]);
        if (!p) {
            st = OGQ_NOMEM(err);
            break;
        }
        struct ogq_tensor *t;
        st = ogq_npy_load(p, &t, err);
        if (st == OGQ_OK)
            st = chunk_set(s, c, i, t, p, err);
        free(p);
    }
    if (st == OGQ_OK) {
        char extra[300] = "";
        size_t n_extra = 0;
        for (size_t j = 0; j < files->n; j++)
            if (!used[j] && has_suffix(files->v[j], ".npy")) {
                list_add(extra, sizeof extra, files->v[j]);
                n_extra++;
            }
        if (n_extra)
            add_note(s, "ignored %zu file%s in %s matching no model input: %s", n_extra,
                     n_extra == 1 ? "" : "s", dir, extra);
    }
    free(used);
    return st;
}

/* One test_data_set folder (inputs by position) as a chunk. */
static enum ogq_status load_set(struct ogq_calib *s, const char *dir, bool note_extra,
                                struct ogq_error *err)
{
    struct chunk *c = chunk_add(s, dir, err);
    if (!c)
        return OGQ_ERR_NOMEM;
    for (size_t i = 0; i < s->n_in; i++) {
        char name[64];
        snprintf(name, sizeof name, "input_%zu.pb", i);
        char *p = join(dir, name);
        if (!p)
            return OGQ_NOMEM(err);
        if (!is_file(p)) {
            free(p);
            return ogq_error_set(err, OGQ_ERR_FORMAT,
                                 "%s: no %s for input '%s' (the model has %zu input%s, fed "
                                 "by position)",
                                 dir, name, s->in[i].name, s->n_in, s->n_in == 1 ? "" : "s");
        }
        struct ogq_tensor *t;
        enum ogq_status st = ogq_tensor_load_pb(p, &t, err);
        if (st == OGQ_OK)
            st = chunk_set(s, c, i, t, p, err);
        free(p);
        OGQ_TRY(st);
    }
    if (note_extra) {
        struct names l = {0};
        OGQ_TRY(list_dir(dir, &l, err));
        char extra[300] = "";
        size_t n_extra = 0;
        for (size_t j = 0; j < l.n; j++) {
            long long k = pb_input_index(l.v[j]);
            if (k >= 0 && (size_t)k >= s->n_in) {
                list_add(extra, sizeof extra, l.v[j]);
                n_extra++;
            }
        }
        names_free(&l);
        if (n_extra)
            add_note(s, "ignored %s in %s (the model has %zu input%s)", extra, dir, s->n_in,
                     s->n_in == 1 ? "" : "s");
    }
    return OGQ_OK;
}

static bool enough(const struct ogq_calib *s)
{
    return s->max_samples > 0 && s->loaded >= s->max_samples;
}

static enum ogq_status load_dir(struct ogq_calib *s, const char *dir, struct ogq_error *err)
{
    struct names l = {0};
    OGQ_TRY(list_dir(dir, &l, err));
    struct names sets = {0}, npy = {0}, npz = {0};
    bool has_pb = false;
    enum ogq_status st = OGQ_OK;
    for (size_t i = 0; st == OGQ_OK && i < l.n; i++) {
        const char *n = l.v[i];
        char *p = join(dir, n);
        if (!p) {
            st = OGQ_NOMEM(err);
            break;
        }
        if (strncmp(n, "test_data_set_", 14) == 0 && is_dir(p)) {
            if (!names_push(&sets, p))
                st = OGQ_NOMEM(err);
        } else if (pb_input_index(n) >= 0 && is_file(p)) {
            has_pb = true;
        } else if (has_suffix(n, ".npy") && is_file(p)) {
            if (!names_push(&npy, n))
                st = OGQ_NOMEM(err);
        } else if (has_suffix(n, ".npz") && is_file(p)) {
            if (!names_push(&npz, p))
                st = OGQ_NOMEM(err);
        }
        free(p);
    }
    if (st != OGQ_OK) {
        /* fall through to cleanup */
    } else if (sets.n) {
        s->layout = "test data sets";
        qsort(sets.v, sets.n, sizeof *sets.v, cmp_set);
        for (size_t i = 0; st == OGQ_OK && i < sets.n && !enough(s); i++) {
            st = load_set(s, sets.v[i], i == 0, err);
            if (st == OGQ_OK)
                s->loaded += s->chunks[s->n_chunks - 1].n;
        }
    } else if (has_pb) {
        s->layout = "test data set";
        st = load_set(s, dir, true, err);
        if (st == OGQ_OK)
            s->loaded += s->chunks[s->n_chunks - 1].n;
    } else if (npy.n) {
        s->layout = "npy folder";
        if (npz.n)
            add_note(s, "using the .npy files of %s; its .npz files are ignored", dir);
        st = load_npy_dir(s, dir, &npy, err);
        if (st == OGQ_OK)
            s->loaded += s->chunks[s->n_chunks - 1].n;
    } else if (npz.n) {
        s->layout = "npz folder";
        for (size_t i = 0; st == OGQ_OK && i < npz.n && !enough(s); i++) {
            st = load_npz(s, npz.v[i], i == 0, err);
            if (st == OGQ_OK)
                s->loaded += s->chunks[s->n_chunks - 1].n;
        }
    } else {
        st = ogq_error_set(err, OGQ_ERR_FORMAT,
                           "%s: no calibration data found (expected <input>.npy files, .npz "
                           "files, test_data_set_N folders or input_N.pb files)",
                           dir);
    }
    names_free(&l);
    names_free(&sets);
    names_free(&npy);
    names_free(&npz);
    return st;
}

static enum ogq_status load_file(struct ogq_calib *s, const char *path, struct ogq_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ogq_error_set(err, OGQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[6] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (got >= 2 && magic[0] == 'P' && magic[1] == 'K') {
        s->layout = "npz";
        OGQ_TRY(load_npz(s, path, true, err));
    } else if (got == 6 && memcmp(magic, "\x93NUMPY", 6) == 0) {
        s->layout = "npy";
        if (s->n_in != 1)
            return ogq_error_set(err, OGQ_ERR_FORMAT,
                                 "%s: a single .npy file can only feed a model with one input; "
                                 "this model has %zu (use an .npz or a folder of <input>.npy)",
                                 path, s->n_in);
        struct chunk *c = chunk_add(s, path, err);
        if (!c)
            return OGQ_ERR_NOMEM;
        struct ogq_tensor *t;
        OGQ_TRY(ogq_npy_load(path, &t, err));
        OGQ_TRY(chunk_set(s, c, 0, t, path, err));
    } else {
        return ogq_error_set(err, OGQ_ERR_FORMAT, "%s: not an .npz or .npy file (and not a folder)",
                             path);
    }
    s->loaded += s->chunks[s->n_chunks - 1].n;
    return OGQ_OK;
}

/* ---------------------------------------------------------------- batching rules */

static bool same_sample_shape(const struct ogq_tensor *a, const struct ogq_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int k = 1; k < a->rank; k++)
        if (a->dims[k] != b->dims[k])
            return false;
    return true;
}

/* Can a batch continue from chunk a into chunk b? */
static bool compatible(const struct ogq_calib *s, const struct chunk *a, const struct chunk *b)
{
    for (size_t i = 0; i < s->n_in; i++)
        if (a->a[i].mode != MODE_BATCH || b->a[i].mode != MODE_BATCH ||
            !same_sample_shape(a->a[i].t, b->a[i].t))
            return false;
    return true;
}

static enum ogq_status plan_batches(struct ogq_calib *s, int64_t requested, struct ogq_error *err)
{
    const char *fixed_in = NULL, *unbatched_in = NULL;
    for (size_t i = 0; i < s->n_in; i++) {
        const struct in_desc *d = &s->in[i];
        for (size_t c = 0; c < s->n_chunks; c++) {
            enum mode m = s->chunks[c].a[i].mode;
            if (m != MODE_BATCH) {
                if (!unbatched_in)
                    unbatched_in = d->name;
            } else if (d->rank >= 1 && d->dims[0] >= 0) {
                if (d->dims[0] == 0)
                    return ogq_error_set(err, OGQ_ERR_FORMAT,
                                         "input '%s' declares a batch dimension of 0", d->name);
                if (fixed_in && s->fixed != d->dims[0])
                    return ogq_error_set(err, OGQ_ERR_FORMAT,
                                         "inputs '%s' and '%s' declare different fixed batch "
                                         "dimensions (%lld and %lld)",
                                         fixed_in, d->name, (long long)s->fixed,
                                         (long long)d->dims[0]);
                s->fixed = d->dims[0];
                fixed_in = d->name;
            }
        }
    }
    if (fixed_in && unbatched_in && s->fixed != 1)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "input '%s' has a fixed batch of %lld samples but input '%s' is "
                             "given as a stack of complete inputs; give both as batches",
                             fixed_in, (long long)s->fixed, unbatched_in);
    s->total = s->loaded;
    if (s->max_samples > 0 && s->total > s->max_samples)
        s->total = s->max_samples;
    if (s->fixed > 1 && s->total % s->fixed != 0)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "input '%s' has a fixed batch dimension of %lld but %lld samples "
                             "are given (not a multiple of %lld)",
                             fixed_in, (long long)s->fixed, (long long)s->total,
                             (long long)s->fixed);
    if (unbatched_in)
        s->batch = 1;
    else if (fixed_in)
        s->batch = s->fixed;
    else
        s->batch = requested > 0 ? requested : 1;
    if (requested > 0 && requested != s->batch) {
        if (unbatched_in)
            add_note(s,
                     "batch size %lld changed to 1: input '%s' is given as a stack of "
                     "complete inputs",
                     (long long)requested, unbatched_in);
        else
            add_note(s,
                     "batch size %lld changed to %lld: input '%s' has a fixed batch "
                     "dimension",
                     (long long)requested, (long long)s->batch, fixed_in);
    }
    return OGQ_OK;
}

/* ---------------------------------------------------------------- open */

static enum ogq_status copy_inputs(struct ogq_calib *s, const struct ogq_value *const *inputs,
                                   size_t n, struct ogq_error *err)
{
    s->in = calloc(n ? n : 1, sizeof *s->in);
    if (!s->in)
        return OGQ_NOMEM(err);
    s->n_in = n;
    for (size_t i = 0; i < n; i++) {
        const struct ogq_value *v = inputs[i];
        struct in_desc *d = &s->in[i];
        if (!(d->name = strdup(v->name)))
            return OGQ_NOMEM(err);
        d->dtype = OGQ_DTYPE_UNDEFINED;
        d->rank = -1;
        if (!v->has_type || !v->is_tensor) {
            snprintf(d->shape, sizeof d->shape, "(any)");
            continue;
        }
        d->dtype = v->type.dtype;
        d->rank = v->type.rank;
        if (d->rank < 0) {
            snprintf(d->shape, sizeof d->shape, "(any)");
            continue;
        }
        d->dims = malloc((size_t)(d->rank ? d->rank : 1) * sizeof *d->dims);
        if (!d->dims)
            return OGQ_NOMEM(err);
        size_t pos = 0;
        d->shape[pos++] = '[';
        for (int k = 0; k < d->rank; k++) {
            d->dims[k] = v->type.dims[k].value;
            const char *sym = v->type.dims[k].param ? v->type.dims[k].param : "?";
            int w = d->dims[k] >= 0 ? snprintf(d->shape + pos, sizeof d->shape - pos, "%s%lld",
                                               k ? "," : "", (long long)d->dims[k])
                                    : snprintf(d->shape + pos, sizeof d->shape - pos, "%s%s",
                                               k ? "," : "", sym);
            if (w < 0 || (size_t)w >= sizeof d->shape - pos - 1) {
                pos = sizeof d->shape - 2;
                break;
            }
            pos += (size_t)w;
        }
        d->shape[pos++] = ']';
        d->shape[pos] = '\0';
    }
    return OGQ_OK;
}

enum ogq_status ogq_calib_open(const char *path, const struct ogq_value *const *inputs,
                               size_t n_inputs, const struct ogq_calib_options *opts,
                               struct ogq_calib **out, struct ogq_error *err)
{
    struct ogq_calib_options def;
    if (!opts) {
        ogq_calib_options_init(&def);
        opts = &def;
    }
    if (n_inputs == 0)
        return ogq_error_set(err, OGQ_ERR_USAGE, "%s: the model has no inputs to feed", path);
    struct ogq_calib *s = calloc(1, sizeof *s);
    if (!s)
        return OGQ_NOMEM(err);
    s->max_samples = opts->max_samples;
    enum ogq_status st = copy_inputs(s, inputs, n_inputs, err);
    struct stat sb;
    if (st == OGQ_OK && stat(path, &sb) != 0)
        st = ogq_error_set(err, OGQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (st == OGQ_OK)
        st = S_ISDIR(sb.st_mode) ? load_dir(s, path, err) : load_file(s, path, err);
    if (st == OGQ_OK)
        st = plan_batches(s, opts->batch_size, err);
    if (st != OGQ_OK) {
        ogq_calib_free(s);
        return st;
    }
    *out = s;
    return OGQ_OK;
}

enum ogq_status ogq_calib_open_executor(const char *path, const struct ogq_executor *e,
                                        const struct ogq_calib_options *opts,
                                        struct ogq_calib **out, struct ogq_error *err)
{
    size_t n = ogq_executor_input_count(e);
    const struct ogq_value **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return OGQ_NOMEM(err);
    for (size_t i = 0; i < n; i++)
        v[i] = ogq_executor_input(e, i);
    enum ogq_status st = ogq_calib_open(path, v, n, opts, out, err);
    free(v);
    return st;
}

/* ---------------------------------------------------------------- iteration */

int64_t ogq_calib_sample_count(const struct ogq_calib *s)
{
    return s->total;
}
int64_t ogq_calib_batch_size(const struct ogq_calib *s)
{
    return s->batch;
}
const char *ogq_calib_layout(const struct ogq_calib *s)
{
    return s->layout;
}
const char *ogq_calib_note(const struct ogq_calib *s)
{
    return s->note[0] ? s->note : NULL;
}

void ogq_calib_rewind(struct ogq_calib *s)
{
    s->cur = 0;
    s->row = 0;
    s->yielded = 0;
}

/* Bytes of one row (axis-0 slice) of t; t->dims[0] > 0. */
static size_t row_bytes(const struct ogq_tensor *t)
{
    return t->nbytes / (size_t)t->dims[0];
}

/* One input's tensor for rows [row, row + k) of chunk c: a view, or a clone for rank 0. */
static enum ogq_status view_rows(const struct ogq_calib *s, size_t i, const struct chunk *c,
                                 int64_t row, int64_t k, struct ogq_tensor **out,
                                 struct ogq_error *err)
{
    const struct carr *a = &c->a[i];
    const struct ogq_tensor *t = a->t;
    const char *name = s->in[i].name;
    if (a->mode == MODE_SINGLE) {
        struct ogq_tensor *c2;
        OGQ_TRY(ogq_tensor_clone(t, &c2, err));
        enum ogq_status st = ogq_tensor_set_name(c2, name, err);
        if (st != OGQ_OK) {
            ogq_tensor_free(c2);
            return st;
        }
        *out = c2;
        return OGQ_OK;
    }
    size_t rb = row_bytes(t);
    size_t off = t->offset + (size_t)row * rb;
    if (!t->buf) { /* no storage (no elements): a fresh empty tensor */
        if (a->mode == MODE_STACK)
            return ogq_tensor_new(name, t->dtype, t->rank - 1, t->dims + 1, out, err);
        int64_t d0[OGQ_NPY_MAX_RANK + 1];
        if (t->rank > (int)(sizeof d0 / sizeof d0[0]))
            return ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "input '%s': rank %d is too large", name,
                                 t->rank);
        memcpy(d0, t->dims, (size_t)t->rank * sizeof *d0);
        d0[0] = k;
        return ogq_tensor_new(name, t->dtype, t->rank, d0, out, err);
    }
    if (a->mode == MODE_STACK)
        return ogq_tensor_new_view(name, t->dtype, t->rank - 1, t->dims + 1, t->buf, off, rb, out,
                                   err);
    int64_t dims[OGQ_NPY_MAX_RANK + 1];
    if (t->rank > (int)(sizeof dims / sizeof dims[0]))
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "input '%s': rank %d is too large", name,
                             t->rank);
    memcpy(dims, t->dims, (size_t)t->rank * sizeof *dims);
    dims[0] = k;
    return ogq_tensor_new_view(name, t->dtype, t->rank, dims, t->buf, off, (size_t)k * rb, out,
                               err);
}

enum ogq_status ogq_calib_next(struct ogq_calib *s, struct ogq_tensor **batch, bool *done,
                               struct ogq_error *err)
{
    *done = false;
    if (s->yielded >= s->total) {
        *done = true;
        return OGQ_OK;
    }
    while (s->row >= s->chunks[s->cur].n) { /* total <= loaded: a chunk with rows remains */
        s->cur++;
        s->row = 0;
    }
    int64_t want = s->total - s->yielded;
    if (want > s->batch)
        want = s->batch;
    /* How far the batch reaches: chunks after the first must continue its sample shape. */
    const struct chunk *first = &s->chunks[s->cur];
    size_t c = s->cur, pieces = 0;
    int64_t r = s->row, got = 0;
    while (got < want) {
        if (r >= s->chunks[c].n) {
            c++;
            r = 0;
            if (!compatible(s, first, &s->chunks[c]))
                break;
            continue;
        }
        int64_t k = s->chunks[c].n - r;
        if (k > want - got)
            k = want - got;
        got += k;
        r += k;
        pieces++;
    }
    if (got < want && s->fixed > 1)
        return ogq_error_set(err, OGQ_ERR_FORMAT,
                             "%s: cannot form a batch of %lld samples: the next file has a "
                             "different sample shape",
                             first->label, (long long)s->fixed);
    for (size_t i = 0; i < s->n_in; i++)
        batch[i] = NULL;
    enum ogq_status st = OGQ_OK;
    for (size_t i = 0; st == OGQ_OK && i < s->n_in; i++) {
        if (pieces == 1) {
            st = view_rows(s, i, first, s->row, got, &batch[i], err);
            continue;
        }
        const struct ogq_tensor *t0 = first->a[i].t;
        int64_t dims[OGQ_NPY_MAX_RANK + 1];
        if (t0->rank > (int)(sizeof dims / sizeof dims[0])) {
            st = ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "input '%s': rank %d is too large",
                               s->in[i].name, t0->rank);
            break;
        }
        memcpy(dims, t0->dims, (size_t)t0->rank * sizeof *dims);
        dims[0] = got;
        st = ogq_tensor_new(s->in[i].name, t0->dtype, t0->rank, dims, &batch[i], err);
        if (st != OGQ_OK)
            break;
        uint8_t *dst = ogq_tensor_data(batch[i]);
        size_t rb = row_bytes(t0);
        int64_t left = got, row = s->row;
        for (size_t cc = s->cur; left > 0; cc++, row = 0) {
            const struct ogq_tensor *t = s->chunks[cc].a[i].t;
            int64_t k = s->chunks[cc].n - row;
            if (k > left)
                k = left;
            if (k > 0 && rb)
                memcpy(dst, (const uint8_t *)ogq_tensor_data(t) + (size_t)row * rb, (size_t)k * rb);
            dst += (size_t)k * rb;
            left -= k;
        }
    }
    if (st != OGQ_OK) {
        for (size_t i = 0; i < s->n_in; i++) {
            ogq_tensor_free(batch[i]);
            batch[i] = NULL;
        }
        return st;
    }
    /* Advance. */
    s->yielded += got;
    int64_t left = got;
    while (left > 0) {
        int64_t k = s->chunks[s->cur].n - s->row;
        if (k > left) {
            s->row += left;
            break;
        }
        left -= k;
        s->cur++;
        s->row = 0;
    }
    return OGQ_OK;
}
