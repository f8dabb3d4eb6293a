/* npy.c — NumPy .npy / .npz reader and writer (see npy.h for the contract).
 *
 * Reading maps the file and parses it in place: a .npy array whose data is 16-byte
 * aligned, little-endian, row-major and not BOOL becomes a view of the mapping; anything
 * else is copied (and byte-swapped, transposed or normalised) into a fresh buffer. The zip
 * reader trusts nothing from the file: every offset and size is checked against the file
 * (or the central directory's start) before it is used, entry counts are bounded by the
 * directory size, and inflated sizes by deflate's maximum ratio.
 */
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/atomic_file.h"
#include "util/checked.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

/* ---------------------------------------------------------------- dtype table */

struct npy_type {
    const char *code; /* descr without the byte-order character */
    enum ogq_dtype dtype;
    int size;      /* bytes per element */
    int swap_unit; /* bytes swapped together for big-endian data */
};

static const struct npy_type npy_types[] = {
    {"f2", OGQ_DTYPE_FLOAT16, 2, 2},   {"f4", OGQ_DTYPE_FLOAT, 4, 4},
    {"f8", OGQ_DTYPE_DOUBLE, 8, 8},    {"i1", OGQ_DTYPE_INT8, 1, 1},
    {"i2", OGQ_DTYPE_INT16, 2, 2},     {"i4", OGQ_DTYPE_INT32, 4, 4},
    {"i8", OGQ_DTYPE_INT64, 8, 8},     {"u1", OGQ_DTYPE_UINT8, 1, 1},
    {"u2", OGQ_DTYPE_UINT16, 2, 2},    {"u4", OGQ_DTYPE_UINT32, 4, 4},
    {"u8", OGQ_DTYPE_UINT64, 8, 8},    {"b1", OGQ_DTYPE_BOOL, 1, 1},
    {"c8", OGQ_DTYPE_COMPLEX64, 8, 4}, {"c16", OGQ_DTYPE_COMPLEX128, 16, 8},
};

#define N_NPY_TYPES (sizeof npy_types / sizeof npy_types[0])

bool ogq_npy_descr(enum ogq_dtype dtype, const char **descr)
{
    static const char *const names[] = {"<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8",
                                        "|u1", "<u2", "<u4", "<u8", "|b1", "<c8", "<c16"};
    for (size_t i = 0; i < N_NPY_TYPES; i++) {
        if (npy_types[i].dtype == dtype) {
            *descr = names[i];
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- little-endian access */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static uint8_t *wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}
static uint8_t *wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}
static uint8_t *wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

/* ---------------------------------------------------------------- .npy header */

static const uint8_t NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

struct npy_header {
    const struct npy_type *type;
    bool swap;    /* big-endian data */
    bool fortran; /* column-major data */
    int rank;
    int64_t dims[OGQ_NPY_MAX_RANK];
    size_t data_off;   /* from the start of the .npy bytes */
    size_t data_bytes; /* numel * size */
};

/* A tiny scanner for the header's Python-literal dict. */
struct lex {
    const char *s;
    size_t n, i;
};

static void lex_ws(struct lex *l)
{
    while (l->i < l->n &&
           (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n' || l->s[l->i] == '\r'))
        l->i++;
}

static bool lex_char(struct lex *l, char c)
{
    lex_ws(l);
    if (l->i < l->n && l->s[l->i] == c) {
        l->i++;
        return true;
    }
    return false;
}

static bool lex_peek(struct lex *l, char c)
{
    lex_ws(l);
    return l->i < l->n && l->s[l->i] == c;
}

/* A quoted string without escapes, copied into out[cap]. */
static bool lex_string(struct lex *l, char *out, size_t cap)
{
    lex_ws(l);
    if (l->i >= l->n || (l->s[l->i] != '\'' && l->s[l->i] != '"'))
        return false;
    char q = l->s[l->i++];
    size_t len = 0;
    while (l->i < l->n && l->s[l->i] != q) {
        char c = l->s[l->i++];
        if (c == '\\' || c == '\0' || len + 1 >= cap)
            return false;
        out[len++] = c;
    }
    if (l->i >= l->n)
        return false;
    l->i++;
    out[len] = '\0';
    return true;
}

static bool lex_word(struct lex *l, const char *w)
{
    lex_ws(l);
    size_t len = strlen(w);
    if (l->n - l->i < len || memcmp(l->s + l->i, w, len) != 0)
        return false;
    l->i += len;
    return true;
}

/* A non-negative decimal integer (Python 2 files may add an 'L'). */
static bool lex_dim(struct lex *l, int64_t *out)
{
    lex_ws(l);
    size_t start = l->i;
    int64_t v = 0;
    while (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9') {
        if (!ogq_mul_i64(v, 10, &v) || !ogq_add_i64(v, l->s[l->i] - '0', &v))
            return false;
        l->i++;
    }
    if (l->i == start)
        return false;
    if (l->i < l->n && l->s[l->i] == 'L')
        l->i++;
    *out = v;
    return true;
}

#define HFAIL(...) ogq_error_set(err, OGQ_ERR_FORMAT, __VA_ARGS__)

static enum ogq_status parse_descr(const char *d, const char *what, struct npy_header *h,
                                   struct ogq_error *err)
{
    const char *code = d;
    char order = '|';
    if (*code == '<' || *code == '>' || *code == '=' || *code == '|')
        order = *code++;
    for (size_t i = 0; i < N_NPY_TYPES; i++) {
        if (strcmp(code, npy_types[i].code) == 0) {
            h->type = &npy_types[i];
            h->swap = order == '>' && npy_types[i].swap_unit > 1;
            return OGQ_OK;
        }
    }
    return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                         "%s: unsupported .npy dtype '%s' (supported: float16/32/64, "
                         "int8/16/32/64, uint8/16/32/64, bool, complex64/128)",
                         what, d);
}

/* Parses the header of the .npy bytes p[0, size) into *h, checking that the data that
 * follows has exactly the size the header promises. */
static enum ogq_status parse_header(const uint8_t *p, size_t size, const char *what,
                                    struct npy_header *h, struct ogq_error *err)
{
    memset(h, 0, sizeof *h);
    if (size < 10 || memcmp(p, NPY_MAGIC, 6) != 0)
        return HFAIL("%s: not a .npy file (bad magic)", what);
    int major = p[6], minor = p[7];
    size_t prefix, hlen;
    if (major == 1 && minor == 0) {
        prefix = 10;
        hlen = rd16(p + 8);
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (size < 12)
            return HFAIL("%s: truncated .npy header", what);
        prefix = 12;
        hlen = rd32(p + 8);
    } else {
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                             "%s: unsupported .npy format version %d.%d (known: 1.0, 2.0, 3.0)",
                             what, major, minor);
    }
    if (hlen > size - prefix)
        return HFAIL("%s: truncated .npy header (%zu header bytes declared, %zu present)", what,
                     hlen, size - prefix);
    struct lex l = {(const char *)p + prefix, hlen, 0};
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    if (!lex_char(&l, '{'))
        return HFAIL("%s: malformed .npy header (expected a dict)", what);
    while (!lex_char(&l, '}')) {
        char key[32], descr[32];
        if (!lex_string(&l, key, sizeof key) || !lex_char(&l, ':'))
            return HFAIL("%s: malformed .npy header (bad key)", what);
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = true;
            if (lex_peek(&l, '[') || lex_peek(&l, '{'))
                return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                                     "%s: structured .npy dtypes are not supported", what);
            if (!lex_string(&l, descr, sizeof descr))
                return HFAIL("%s: malformed .npy header (bad 'descr')", what);
            OGQ_TRY(parse_descr(descr, what, h, err));
        } else if (strcmp(key, "fortran_order") == 0 && !seen_fortran) {
            seen_fortran = true;
            if (lex_word(&l, "True"))
                h->fortran = true;
            else if (!lex_word(&l, "False"))
                return HFAIL("%s: malformed .npy header (bad 'fortran_order')", what);
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = true;
            if (!lex_char(&l, '('))
                return HFAIL("%s: malformed .npy header (bad 'shape')", what);
            while (!lex_char(&l, ')')) {
                if (h->rank >= OGQ_NPY_MAX_RANK)
                    return HFAIL("%s: .npy shape has more than %d dims", what, OGQ_NPY_MAX_RANK);
                if (!lex_dim(&l, &h->dims[h->rank]))
                    return HFAIL("%s: malformed .npy header (bad dim in 'shape': negative, "
                                 "too large or not an integer)",
                                 what);
                h->rank++;
                if (!lex_char(&l, ',') && !lex_peek(&l, ')'))
                    return HFAIL("%s: malformed .npy header (bad 'shape')", what);
            }
        } else {
            return HFAIL("%s: malformed .npy header (unexpected or repeated key '%s')", what, key);
        }
        if (!lex_char(&l, ',') && !lex_peek(&l, '}'))
            return HFAIL("%s: malformed .npy header (expected ',' or '}')", what);
    }
    lex_ws(&l);
    while (l.i < l.n && l.s[l.i] == '\0') /* some writers pad with NULs */
        l.i++;
    if (l.i != l.n)
        return HFAIL("%s: malformed .npy header (text after the dict)", what);
    if (!seen_descr || !seen_fortran || !seen_shape)
        return HFAIL("%s: malformed .npy header (missing '%s')", what,
                     !seen_descr     ? "descr"
                     : !seen_fortran ? "fortran_order"
                                     : "shape");
    int64_t numel;
    size_t bytes;
    if (!ogq_dims_product(h->dims, (size_t)h->rank, &numel) ||
        !ogq_mul_size((size_t)numel, (size_t)h->type->size, &bytes))
        return HFAIL("%s: .npy shape is too large (element count overflows)", what);
    h->data_off = prefix + hlen;
    h->data_bytes = bytes;
    size_t avail = size - h->data_off;
    if (avail < bytes)
        return HFAIL("%s: .npy data is truncated (shape needs %zu bytes, %zu present)", what, bytes,
                     avail);
    if (avail > bytes)
        return HFAIL("%s: %zu unexpected bytes after the .npy data", what, avail - bytes);
    return OGQ_OK;
}

/* Copies column-major src into row-major dst (element size es). */
static void fortran_to_c(const uint8_t *src, uint8_t *dst, int rank, const int64_t *dims, size_t es,
                         int64_t numel)
{
    size_t fs[OGQ_NPY_MAX_RANK];
    int64_t idx[OGQ_NPY_MAX_RANK];
    size_t s = es;
    for (int k = 0; k < rank; k++) {
        fs[k] = s;
        s *= (size_t)dims[k];
        idx[k] = 0;
    }
    size_t off = 0;
    for (int64_t n = 0; n < numel; n++) {
        memcpy(dst + (size_t)n * es, src + off, es);
        for (int k = rank - 1; k >= 0; k--) {
            if (++idx[k] < dims[k]) {
                off += fs[k];
                break;
            }
            idx[k] = 0;
            off -= fs[k] * (size_t)(dims[k] - 1);
        }
    }
}

static void byteswap(uint8_t *p, size_t bytes, int unit)
{
    for (size_t i = 0; i + (size_t)unit <= bytes; i += (size_t)unit)
        for (int a = 0, b = unit - 1; a < b; a++, b--) {
            uint8_t t = p[i + (size_t)a];
            p[i + (size_t)a] = p[i + (size_t)b];
            p[i + (size_t)b] = t;
        }
}

enum ogq_status ogq_npy_decode(struct ogq_buffer *buf, size_t offset, size_t size, const char *what,
                               const char *name, struct ogq_tensor **out, struct ogq_error *err)
{
    size_t end;
    if (!ogq_add_size(offset, size, &end) || end > buf->size)
        return ogq_error_set(err, OGQ_ERR_INTERNAL, "%s: range outside its buffer", what);
    const uint8_t *base = (const uint8_t *)buf->data + offset;
    struct npy_header h;
    OGQ_TRY(parse_header(base, size, what, &h, err));
    const uint8_t *data = base + h.data_off;
    enum ogq_dtype dt = h.type->dtype;
    bool fortran = h.fortran && h.rank > 1;
    bool copy = h.swap || fortran || dt == OGQ_DTYPE_BOOL || ((uintptr_t)data % 16) != 0;
    struct ogq_tensor *t;
    enum ogq_status st;
    if (!copy) {
        st = ogq_tensor_new_view(name, dt, h.rank, h.dims, buf, offset + h.data_off, h.data_bytes,
                                 &t, err);
        if (st != OGQ_OK) {
            ogq_error_prefix(err, "%s", what);
            return st;
        }
        *out = t;
        return OGQ_OK;
    }
    st = ogq_tensor_new(name, dt, h.rank, h.dims, &t, err);
    if (st != OGQ_OK) {
        ogq_error_prefix(err, "%s", what);
        return st;
    }
    uint8_t *dst = ogq_tensor_data(t);
    if (h.data_bytes) {
        if (fortran)
            fortran_to_c(data, dst, h.rank, h.dims, (size_t)h.type->size, t->numel);
        else
            memcpy(dst, data, h.data_bytes);
        if (h.swap)
            byteswap(dst, h.data_bytes, h.type->swap_unit);
        if (dt == OGQ_DTYPE_BOOL)
            for (size_t i = 0; i < h.data_bytes; i++)
                dst[i] = dst[i] != 0;
    }
    *out = t;
    return OGQ_OK;
}

/* Base name of `path` without a trailing ".npy", into a new string. */
static char *stem(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    if (len > 4 && strcmp(b + len - 4, ".npy") == 0)
        len -= 4;
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, b, len);
        s[len] = '\0';
    }
    return s;
}

enum ogq_status ogq_npy_load(const char *path, struct ogq_tensor **out, struct ogq_error *err)
{
    struct ogq_buffer *buf;
    OGQ_TRY(ogq_buffer_map_file(path, &buf, err));
    char *name = stem(path);
    enum ogq_status st =
        name ? ogq_npy_decode(buf, 0, buf->size, path, name, out, err) : OGQ_NOMEM(err);
    free(name);
    ogq_buffer_unref(buf);
    return st;
}

/* ---------------------------------------------------------------- .npy writing */

/* Builds the complete .npy header (magic to '\n') for `t` into a new string. */
static enum ogq_status npy_header(const struct ogq_tensor *t, const char *what, uint8_t **out,
                                  size_t *out_len, struct ogq_error *err)
{
    const char *descr;
    if (t->dtype == OGQ_DTYPE_STRING || !ogq_npy_descr(t->dtype, &descr))
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "%s: dtype %s cannot be written to .npy",
                             what, ogq_dtype_short_name(t->dtype));
    size_t cap = 128 + (size_t)t->rank * 24;
    char *dict = malloc(cap);
    if (!dict)
        return OGQ_NOMEM(err);
    size_t n =
        (size_t)snprintf(dict, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int d = 0; d < t->rank; d++)
        n += (size_t)snprintf(dict + n, cap - n, "%s%lld", d ? ", " : "", (long long)t->dims[d]);
    n += (size_t)snprintf(dict + n, cap - n, "%s), }", t->rank == 1 ? "," : "");
    /* Pad with spaces so that data starts at a multiple of 64, then '\n' (as numpy).
     * Version 2.0 only when the header length does not fit version 1.0's 16 bits. */
    size_t prefix = 10;
    size_t total = (prefix + n + 1 + 63) / 64 * 64;
    if (total - prefix > 65535) {
        prefix = 12;
        total = (prefix + n + 1 + 63) / 64 * 64;
    }
    uint8_t *h = malloc(total);
    if (!h) {
        free(dict);
        return OGQ_NOMEM(err);
    }
    memcpy(h, NPY_MAGIC, 6);
    h[6] = prefix == 10 ? 1 : 2;
    h[7] = 0;
    size_t hlen = total - prefix;
    if (prefix == 10)
        wr16(h + 8, (uint16_t)hlen);
    else
        wr32(h + 8, (uint32_t)hlen);
    memcpy(h + prefix, dict, n);
    memset(h + prefix + n, ' ', total - prefix - n - 1);
    h[total - 1] = '\n';
    free(dict);
    *out = h;
    *out_len = total;
    return OGQ_OK;
}

enum ogq_status ogq_npy_save(const char *path, const struct ogq_tensor *t, struct ogq_error *err)
{
    uint8_t *h;
    size_t hlen;
    OGQ_TRY(npy_header(t, path, &h, &hlen, err));
    char *tmp;
    FILE *f = ogq_temp_open(path, &tmp, err);
    if (!f) {
        free(h);
        return err ? err->code : OGQ_ERR_IO;
    }
    bool ok = fwrite(h, 1, hlen, f) == hlen &&
              (t->nbytes == 0 || fwrite(ogq_tensor_data(t), 1, t->nbytes, f) == t->nbytes);
    free(h);
    return ogq_temp_commit(f, tmp, path, ok, err);
}

/* ---------------------------------------------------------------- zip constants */

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define LOCAL_LEN 30
#define CENTRAL_LEN 46
#define EOCD_LEN 22
#define EOCD64_LEN 56
#define LOCATOR64_LEN 20
#define DOS_DATE_1980 0x21     /* 1980-01-01: the fixed timestamp of written members */
#define MAX_DEFLATE_RATIO 1032 /* deflate cannot expand data more than this */

/* zlib's length arguments are 32-bit: feed large buffers in pieces. */
#define ZCHUNK ((size_t)1 << 30)

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    uLong c = crc;
    while (n) {
        size_t k = n < ZCHUNK ? n : ZCHUNK;
        c = crc32(c, p, (uInt)k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* ---------------------------------------------------------------- .npz reading */

struct npz_member {
    char *name; /* member name, NUL-terminated */
    char *key;  /* name without ".npy" */
    uint64_t local_off, csize, usize;
    uint32_t crc;
    uint16_t method, flags;
};

struct ogq_npz {
    char *path;
    struct ogq_buffer *buf;
    uint64_t cd_start; /* members' data must end before the central directory */
    struct npz_member *m;
    size_t n;
};

static void npz_free_members(struct ogq_npz *z)
{
    for (size_t i = 0; i < z->n; i++) {
        free(z->m[i].name);
        free(z->m[i].key);
    }
    free(z->m);
}

void ogq_npz_close(struct ogq_npz *z)
{
    if (!z)
        return;
    npz_free_members(z);
    ogq_buffer_unref(z->buf);
    free(z->path);
    free(z);
}

size_t ogq_npz_count(const struct ogq_npz *z)
{
    return z->n;
}
const char *ogq_npz_key(const struct ogq_npz *z, size_t i)
{
    return i < z->n ? z->m[i].key : NULL;
}
const char *ogq_npz_path(const struct ogq_npz *z)
{
    return z->path;
}

ptrdiff_t ogq_npz_find(const struct ogq_npz *z, const char *key)
{
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->m[i].key, key) == 0)
            return (ptrdiff_t)i;
    return -1;
}

#define ZFAIL(...) ogq_error_set(err, OGQ_ERR_FORMAT, __VA_ARGS__)

/* Locates the end of central directory record(s): fills the directory's start, size and
 * entry count. */
static enum ogq_status find_directory(const char *path, const uint8_t *p, size_t size,
                                      uint64_t *cd_off, uint64_t *cd_size, uint64_t *entries,
                                      uint64_t *dir_end, struct ogq_error *err)
{
    if (size < EOCD_LEN)
        return ZFAIL("%s: not a zip archive (too short)", path);
    size_t lo = size - EOCD_LEN > 65535 ? size - EOCD_LEN - 65535 : 0;
    size_t pos = size - EOCD_LEN;
    for (;;) {
        if (rd32(p + pos) == SIG_EOCD && pos + EOCD_LEN + rd16(p + pos + 20) <= size)
            break;
        if (pos == lo)
            return ZFAIL("%s: not a zip archive (no end of central directory record)", path);
        pos--;
    }
    const uint8_t *e = p + pos;
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != rd16(e + 10))
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                             "%s: multi-disk zip archives are not supported", path);
    *entries = rd16(e + 10);
    *cd_size = rd32(e + 12);
    *cd_off = rd32(e + 16);
    *dir_end = pos;
    /* ZIP64: a locator right before the record points at the 64-bit record. */
    if (pos >= LOCATOR64_LEN && rd32(p + pos - LOCATOR64_LEN) == SIG_LOCATOR64) {
        const uint8_t *loc = p + pos - LOCATOR64_LEN;
        uint64_t off64 = rd64(loc + 8);
        if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1)
            return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                                 "%s: multi-disk zip archives are not supported", path);
        if (off64 > pos - LOCATOR64_LEN || pos - LOCATOR64_LEN - off64 < EOCD64_LEN)
            return ZFAIL("%s: ZIP64 end of central directory offset out of range", path);
        const uint8_t *z = p + off64;
        if (rd32(z) != SIG_EOCD64)
            return ZFAIL("%s: bad ZIP64 end of central directory signature", path);
        if (rd32(z + 16) != 0 || rd32(z + 20) != 0 || rd64(z + 24) != rd64(z + 32))
            return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                                 "%s: multi-disk zip archives are not supported", path);
        *entries = rd64(z + 32);
        *cd_size = rd64(z + 40);
        *cd_off = rd64(z + 48);
        *dir_end = off64;
    } else if (*entries == 0xFFFF || *cd_size == 0xFFFFFFFFu || *cd_off == 0xFFFFFFFFu) {
        return ZFAIL("%s: ZIP64 archive without a ZIP64 locator", path);
    }
    if (*cd_off > *dir_end || *cd_size > *dir_end - *cd_off)
        return ZFAIL("%s: central directory (offset %llu, %llu bytes) lies outside the file", path,
                     (unsigned long long)*cd_off, (unsigned long long)*cd_size);
    if (*entries > *cd_size / CENTRAL_LEN)
        return ZFAIL("%s: central directory claims %llu entries in %llu bytes", path,
                     (unsigned long long)*entries, (unsigned long long)*cd_size);
    return OGQ_OK;
}

/* Applies the ZIP64 extended-information extra field of a central entry. */
static enum ogq_status read_zip64_extra(const char *path, const char *name, const uint8_t *x,
                                        size_t xlen, bool need_u, bool need_c, bool need_off,
                                        struct npz_member *m, struct ogq_error *err)
{
    while (xlen >= 4) {
        uint16_t id = rd16(x), len = rd16(x + 2);
        if ((size_t)len > xlen - 4)
            return ZFAIL("%s: member '%s': extra field overruns its entry", path, name);
        if (id == 0x0001) {
            const uint8_t *q = x + 4, *qe = q + len;
            if (need_u) {
                if (qe - q < 8)
                    goto short_field;
                m->usize = rd64(q);
                q += 8;
            }
            if (need_c) {
                if (qe - q < 8)
                    goto short_field;
                m->csize = rd64(q);
                q += 8;
            }
            if (need_off) {
                if (qe - q < 8)
                    goto short_field;
                m->local_off = rd64(q);
            }
            return OGQ_OK;
        }
        x += 4 + len;
        xlen -= 4 + (size_t)len;
    }
    if (need_u || need_c || need_off)
        return ZFAIL("%s: member '%s': ZIP64 sizes are missing", path, name);
    return OGQ_OK;
short_field:
    return ZFAIL("%s: member '%s': ZIP64 extra field is too short", path, name);
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

enum ogq_status ogq_npz_open(const char *path, struct ogq_npz **out, struct ogq_error *err)
{
    struct ogq_npz *z = calloc(1, sizeof *z);
    if (!z)
        return OGQ_NOMEM(err);
    enum ogq_status st;
    if (!(z->path = strdup(path))) {
        st = OGQ_NOMEM(err);
        goto fail;
    }
    if ((st = ogq_buffer_map_file(path, &z->buf, err)) != OGQ_OK)
        goto fail;
    const uint8_t *p = z->buf->data;
    uint64_t cd_off = 0, cd_size = 0, entries = 0, dir_end = 0;
    if ((st = find_directory(path, p, z->buf->size, &cd_off, &cd_size, &entries, &dir_end, err)) !=
        OGQ_OK)
        goto fail;
    z->cd_start = cd_off;
    z->m = calloc(entries ? (size_t)entries : 1, sizeof *z->m);
    if (!z->m) {
        st = OGQ_NOMEM(err);
        goto fail;
    }
    const uint8_t *c = p + cd_off, *ce = c + cd_size;
    for (uint64_t i = 0; i < entries; i++) {
        if (ce - c < CENTRAL_LEN || rd32(c) != SIG_CENTRAL) {
            st = ZFAIL("%s: central directory entry %llu is truncated or corrupt", path,
                       (unsigned long long)i);
            goto fail;
        }
        size_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
        if ((size_t)(ce - c) - CENTRAL_LEN < nlen + xlen + clen) {
            st = ZFAIL("%s: central directory entry %llu overruns the directory", path,
                       (unsigned long long)i);
            goto fail;
        }
        const char *nm = (const char *)c + CENTRAL_LEN;
        struct npz_member m = {0};
        m.flags = rd16(c + 8);
        m.method = rd16(c + 10);
        m.crc = rd32(c + 16);
        m.csize = rd32(c + 20);
        m.usize = rd32(c + 24);
        m.local_off = rd32(c + 42);
        uint16_t disk = rd16(c + 34);
        bool keep = memchr(nm, '\0', nlen) == NULL && ends_with(nm, nlen, ".npy");
        if (keep) {
            m.name = malloc(nlen + 1);
            m.key = malloc(nlen - 3);
            if (!m.name || !m.key) {
                free(m.name);
                free(m.key);
                st = OGQ_NOMEM(err);
                goto fail;
            }
            memcpy(m.name, nm, nlen);
            m.name[nlen] = '\0';
            memcpy(m.key, nm, nlen - 4);
            m.key[nlen - 4] = '\0';
            z->m[z->n++] = m; /* owned by z from here on */
            st = read_zip64_extra(path, m.name, c + CENTRAL_LEN + nlen, xlen,
                                  m.usize == 0xFFFFFFFFu, m.csize == 0xFFFFFFFFu,
                                  m.local_off == 0xFFFFFFFFu, &z->m[z->n - 1], err);
            if (st != OGQ_OK)
                goto fail;
            if (disk != 0 && disk != 0xFFFF) {
                st = ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                                   "%s: multi-disk zip archives are not supported", path);
                goto fail;
            }
            if (ogq_npz_find(z, m.key) != (ptrdiff_t)(z->n - 1)) {
                st = ZFAIL("%s: duplicate member '%s'", path, m.name);
                goto fail;
            }
        }
        c += CENTRAL_LEN + nlen + xlen + clen;
    }
    *out = z;
    return OGQ_OK;
fail:
    ogq_npz_close(z);
    return st;
}

/* Inflates raw deflate data src[0, clen) into exactly ulen bytes at dst. */
static bool inflate_all(const uint8_t *src, size_t clen, uint8_t *dst, size_t ulen,
                        const char **why)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
        *why = "cannot initialise zlib";
        return false;
    }
    size_t in_left = clen, out_left = ulen;
    s.next_in = (Bytef *)src;
    s.next_out = dst;
    int rc;
    do { /* Z_BUF_ERROR ends the loop when input runs out or output is full too early */
        if (s.avail_in == 0 && in_left) {
            s.avail_in = (uInt)(in_left < ZCHUNK ? in_left : ZCHUNK);
            in_left -= s.avail_in;
        }
        if (s.avail_out == 0 && out_left) {
            s.avail_out = (uInt)(out_left < ZCHUNK ? out_left : ZCHUNK);
            out_left -= s.avail_out;
        }
        rc = inflate(&s, Z_NO_FLUSH);
    } while (rc == Z_OK);
    bool ok = rc == Z_STREAM_END && s.total_out == ulen;
    if (!ok)
        *why = rc == Z_DATA_ERROR   ? "corrupt deflate data"
               : rc == Z_MEM_ERROR  ? "out of memory in zlib"
               : rc == Z_STREAM_END ? "deflate data does not match the recorded sizes"
                                    : "deflate data is truncated or larger than recorded";
    inflateEnd(&s);
    return ok;
}

enum ogq_status ogq_npz_load(struct ogq_npz *z, size_t i, struct ogq_tensor **out,
                             struct ogq_error *err)
{
    if (i >= z->n)
        return ogq_error_set(err, OGQ_ERR_USAGE, "%s: no member %zu", z->path, i);
    const struct npz_member *m = &z->m[i];
    char what[1024];
    snprintf(what, sizeof what, "%s: member '%s'", z->path, m->name);
    if (m->flags & 0x41)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED, "%s: encrypted members are not supported",
                             what);
    if (m->method != 0 && m->method != 8)
        return ogq_error_set(err, OGQ_ERR_UNSUPPORTED,
                             "%s: unsupported compression method %u (only stored and deflate)",
                             what, (unsigned)m->method);
    const uint8_t *p = z->buf->data;
    if (m->local_off > z->cd_start || z->cd_start - m->local_off < LOCAL_LEN)
        return ZFAIL("%s: local header offset %llu is out of range", what,
                     (unsigned long long)m->local_off);
    const uint8_t *lh = p + m->local_off;
    if (rd32(lh) != SIG_LOCAL)
        return ZFAIL("%s: bad local header signature", what);
    uint64_t nlen = rd16(lh + 26), xlen = rd16(lh + 28);
    uint64_t data_off = m->local_off + LOCAL_LEN + nlen + xlen;
    if (data_off > z->cd_start || m->csize > z->cd_start - data_off)
        return ZFAIL("%s: data (%llu bytes at offset %llu) runs past the end of the member area",
                     what, (unsigned long long)m->csize, (unsigned long long)data_off);
    if (nlen != strlen(m->name) || memcmp(lh + LOCAL_LEN, m->name, nlen) != 0)
        return ZFAIL("%s: local header name does not match the central directory", what);
    const uint8_t *data = p + data_off;
    if (m->method == 0) {
        if (m->csize != m->usize)
            return ZFAIL("%s: stored member has different compressed (%llu) and uncompressed "
                         "(%llu) sizes",
                         what, (unsigned long long)m->csize, (unsigned long long)m->usize);
        if (crc_update(0, data, m->csize) != m->crc)
            return ZFAIL("%s: CRC-32 mismatch (corrupt data)", what);
        return ogq_npy_decode(z->buf, data_off, m->csize, what, m->key, out, err);
    }
    if ((m->usize > 1024 && (m->usize - 1024) / MAX_DEFLATE_RATIO > m->csize) ||
        m->usize > SIZE_MAX - 1)
        return ZFAIL("%s: implausible sizes (%llu bytes compressed to %llu)", what,
                     (unsigned long long)m->usize, (unsigned long long)m->csize);
    uint8_t *u = malloc(m->usize ? m->usize : 1);
    if (!u)
        return ogq_error_set(err, OGQ_ERR_NOMEM, "%s: out of memory inflating %llu bytes", what,
                             (unsigned long long)m->usize);
    const char *why = NULL;
    if (!inflate_all(data, m->csize, u, m->usize, &why)) {
        free(u);
        return ZFAIL("%s: %s", what, why);
    }
    if (crc_update(0, u, m->usize) != m->crc) {
        free(u);
        return ZFAIL("%s: CRC-32 mismatch (corrupt data)", what);
    }
    struct ogq_buffer *b;
    enum ogq_status st = ogq_buffer_wrap(u, m->usize, &b, err);
    if (st != OGQ_OK) {
        free(u);
        return st;
    }
    st = ogq_npy_decode(b, 0, m->usize, what, m->key, out, err);
    ogq_buffer_unref(b);
    return st;
}

/* ---------------------------------------------------------------- .npz writing */

struct wmember {
    char *name;
    uint32_t crc;
    uint64_t size, local_off;
};

struct ogq_npz_writer {
    char *path, *tmp;
    FILE *f;
    unsigned flags;
    uint64_t pos;
    struct wmember *m;
    size_t n, cap;
};

void ogq_npz_writer_abort(struct ogq_npz_writer *w)
{
    if (!w)
        return;
    ogq_temp_discard(w->f, w->tmp);
    for (size_t i = 0; i < w->n; i++)
        free(w->m[i].name);
    free(w->m);
    free(w->path);
    free(w);
}

enum ogq_status ogq_npz_writer_open(const char *path, unsigned flags, struct ogq_npz_writer **out,
                                    struct ogq_error *err)
{
    struct ogq_npz_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return OGQ_NOMEM(err);
    }
    w->flags = flags;
    if (!(w->f = ogq_temp_open(path, &w->tmp, err))) {
        enum ogq_status st = err ? err->code : OGQ_ERR_IO;
        ogq_npz_writer_abort(w);
        return st;
    }
    *out = w;
    return OGQ_OK;
}

static bool put(struct ogq_npz_writer *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n)
        return false;
    w->pos += n;
    return true;
}

static bool name_is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

enum ogq_status ogq_npz_writer_add(struct ogq_npz_writer *w, const char *key,
                                   const struct ogq_tensor *t, struct ogq_error *err)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > 65535 - 4)
        return ogq_error_set(err, OGQ_ERR_USAGE, "%s: invalid key '%s'", w->path, key);
    char *name = malloc(klen + 5);
    if (!name)
        return OGQ_NOMEM(err);
    memcpy(name, key, klen);
    memcpy(name + klen, ".npy", 5);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->m[i].name, name) == 0) {
            free(name);
            return ogq_error_set(err, OGQ_ERR_USAGE, "%s: duplicate key '%s'", w->path, key);
        }
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        struct wmember *m = realloc(w->m, cap * sizeof *m);
        if (!m) {
            free(name);
            return OGQ_NOMEM(err);
        }
        w->m = m;
        w->cap = cap;
    }
    char what[1024];
    snprintf(what, sizeof what, "%s: key '%s'", w->path, key);
    uint8_t *h;
    size_t hlen;
    enum ogq_status st = npy_header(t, what, &h, &hlen, err);
    if (st != OGQ_OK) {
        free(name);
        return st;
    }
    const uint8_t *data = ogq_tensor_data(t);
    uint64_t size = (uint64_t)hlen + t->nbytes;
    uint32_t crc = crc_update(crc_update(0, h, hlen), data, t->nbytes);
    bool z64 = (w->flags & OGQ_NPZ_FORCE_ZIP64) || size >= 0xFFFFFFFFu;
    uint8_t lh[LOCAL_LEN + 20], *q = lh;
    q = wr32(q, SIG_LOCAL);
    q = wr16(q, z64 ? 45 : 20);
    q = wr16(q, name_is_ascii(name) ? 0 : 0x800);
    q = wr16(q, 0);             /* stored */
    q = wr16(q, 0);             /* time 00:00 */
    q = wr16(q, DOS_DATE_1980); /* date */
    q = wr32(q, crc);
    q = wr32(q, z64 ? 0xFFFFFFFFu : (uint32_t)size);
    q = wr32(q, z64 ? 0xFFFFFFFFu : (uint32_t)size);
    q = wr16(q, (uint16_t)(klen + 4));
    q = wr16(q, z64 ? 20 : 0);
    uint8_t *x = q;
    if (z64) {
        x = wr16(x, 0x0001);
        x = wr16(x, 16);
        x = wr64(x, size);
        x = wr64(x, size);
    }
    struct wmember *m = &w->m[w->n];
    m->name = name;
    m->crc = crc;
    m->size = size;
    m->local_off = w->pos;
    bool ok = put(w, lh, LOCAL_LEN) && put(w, name, klen + 4) && put(w, q, (size_t)(x - q)) &&
              put(w, h, hlen) && put(w, data, t->nbytes);
    free(h);
    w->n++; /* the name is owned by w now */
    if (!ok)
        return ogq_error_set(err, OGQ_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    return OGQ_OK;
}

enum ogq_status ogq_npz_writer_commit(struct ogq_npz_writer *w, struct ogq_error *err)
{
    bool force = w->flags & OGQ_NPZ_FORCE_ZIP64;
    uint64_t cd_start = w->pos;
    bool ok = true;
    for (size_t i = 0; ok && i < w->n; i++) {
        const struct wmember *m = &w->m[i];
        bool big_size = force || m->size >= 0xFFFFFFFFu;
        bool big_off = force || m->local_off >= 0xFFFFFFFFu;
        size_t nlen = strlen(m->name);
        uint8_t c[CENTRAL_LEN + 28], *q = c;
        q = wr32(q, SIG_CENTRAL);
        q = wr16(q, (big_size || big_off) ? 45 : 20); /* made by (MS-DOS attributes) */
        q = wr16(q, (big_size || big_off) ? 45 : 20); /* needed */
        q = wr16(q, name_is_ascii(m->name) ? 0 : 0x800);
        q = wr16(q, 0);
        q = wr16(q, 0);
        q = wr16(q, DOS_DATE_1980);
        q = wr32(q, m->crc);
        q = wr32(q, big_size ? 0xFFFFFFFFu : (uint32_t)m->size);
        q = wr32(q, big_size ? 0xFFFFFFFFu : (uint32_t)m->size);
        q = wr16(q, (uint16_t)nlen);
        uint16_t xlen =
            (uint16_t)((big_size || big_off) ? 4 + (big_size ? 16 : 0) + (big_off ? 8 : 0) : 0);
        q = wr16(q, xlen);
        q = wr16(q, 0); /* comment */
        q = wr16(q, 0); /* disk */
        q = wr16(q, 0); /* internal attributes */
        q = wr32(q, 0); /* external attributes */
        q = wr32(q, big_off ? 0xFFFFFFFFu : (uint32_t)m->local_off);
        uint8_t *x = q;
        if (xlen) {
            x = wr16(x, 0x0001);
            x = wr16(x, (uint16_t)(xlen - 4));
            if (big_size) {
                x = wr64(x, m->size);
                x = wr64(x, m->size);
            }
            if (big_off)
                x = wr64(x, m->local_off);
        }
        ok = put(w, c, CENTRAL_LEN) && put(w, m->name, nlen) && put(w, q, (size_t)(x - q));
    }
    uint64_t cd_size = w->pos - cd_start;
    bool z64 = force || w->n >= 0xFFFF || cd_start >= 0xFFFFFFFFu || cd_size >= 0xFFFFFFFFu;
    if (ok && z64) {
        uint8_t r[EOCD64_LEN + LOCATOR64_LEN], *q = r;
        uint64_t rec_off = w->pos;
        q = wr32(q, SIG_EOCD64);
        q = wr64(q, EOCD64_LEN - 12);
        q = wr16(q, 45);
        q = wr16(q, 45);
        q = wr32(q, 0);
        q = wr32(q, 0);
        q = wr64(q, w->n);
        q = wr64(q, w->n);
        q = wr64(q, cd_size);
        q = wr64(q, cd_start);
        q = wr32(q, SIG_LOCATOR64);
        q = wr32(q, 0);
        q = wr64(q, rec_off);
        q = wr32(q, 1);
        ok = put(w, r, sizeof r);
    }
    if (ok) {
        uint8_t e[EOCD_LEN], *q = e;
        uint16_t cnt = (z64 && (force || w->n >= 0xFFFF)) ? 0xFFFF : (uint16_t)w->n;
        q = wr32(q, SIG_EOCD);
        q = wr16(q, 0);
        q = wr16(q, 0);
        q = wr16(q, cnt);
        q = wr16(q, cnt);
        q = wr32(q, (force || cd_size >= 0xFFFFFFFFu) ? 0xFFFFFFFFu : (uint32_t)cd_size);
        q = wr32(q, (force || cd_start >= 0xFFFFFFFFu) ? 0xFFFFFFFFu : (uint32_t)cd_start);
        q = wr16(q, 0);
        ok = put(w, e, EOCD_LEN);
    }
    FILE *f = w->f;
    char *tmp = w->tmp;
    w->f = NULL;
    w->tmp = NULL;
    enum ogq_status st = ogq_temp_commit(f, tmp, w->path, ok, err);
    ogq_npz_writer_abort(w);
    return st;
}

enum ogq_status ogq_npz_save(const char *path, const char *const *keys,
                             const struct ogq_tensor *const *tensors, size_t n,
                             struct ogq_error *err)
{
    struct ogq_npz_writer *w;
    OGQ_TRY(ogq_npz_writer_open(path, 0, &w, err));
    for (size_t i = 0; i < n; i++) {
        enum ogq_status st = ogq_npz_writer_add(w, keys[i], tensors[i], err);
        if (st != OGQ_OK) {
            ogq_npz_writer_abort(w);
            return st;
        }
    }
    return ogq_npz_writer_commit(w, err);
}
