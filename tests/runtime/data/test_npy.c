/* test_npy.c — CUnit tests of the .npy/.npz reader and writer (incl. hostile files built
 * byte by byte here) and of the calibration data source (layouts, batching, errors). */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "graph/model_io.h"
#include "runtime/calib_data.h"
#include "runtime/npy.h"

/* ---------------------------------------------------------------- helpers */

static struct ogq_error err;
static char *tmpdir;

static bool check_error(enum ogq_status st, enum ogq_status code, const char *const *needles,
                        int line)
{
    bool ok = st == code && err.code == code && strchr(err.msg, '\n') == NULL;
    for (size_t i = 0; ok && needles[i]; i++)
        ok = strstr(err.msg, needles[i]) != NULL;
    if (!ok) {
        fprintf(stderr, "\nline %d: expected %s containing", line, ogq_status_name(code));
        for (size_t i = 0; needles[i]; i++)
            fprintf(stderr, " [%s]", needles[i]);
        fprintf(stderr, "\n   got %s: %s\n", ogq_status_name(st), err.msg);
    }
    return ok;
}

#define EXPECT_ERROR(st, code, ...)                                                                \
    CU_ASSERT(check_error((st), (code), (const char *const[]){__VA_ARGS__, NULL}, __LINE__))

#define EXPECT_OK(expr)                                                                            \
    do {                                                                                           \
        enum ogq_status st_ = (expr);                                                              \
        if (st_ != OGQ_OK)                                                                         \
            fprintf(stderr, "\nline %d: %s failed: %s\n", __LINE__, #expr, err.msg);               \
        CU_ASSERT_EQUAL_FATAL(st_, OGQ_OK);                                                        \
    } while (0)

static const char *path_in(const char *name)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT(size == 0 || fwrite(data, 1, size, f) == size);
    CU_ASSERT(fclose(f) == 0);
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

static void rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char child[4096];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                rmtree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* .npy bytes: magic, version, header text (padded to 16 with spaces and '\n' unless
 * `raw`), then data. */
static uint8_t *make_npy(int major, const char *dict, bool raw, const void *data, size_t len,
                         size_t *out_len)
{
    size_t prefix = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t hl = raw ? dl : (prefix + dl + 1 + 15) / 16 * 16 - prefix;
    uint8_t *p = malloc(prefix + hl + len + 1);
    memcpy(p, "\x93NUMPY", 6);
    p[6] = (uint8_t)major;
    p[7] = 0;
    if (major == 1) {
        p[8] = (uint8_t)hl;
        p[9] = (uint8_t)(hl >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            p[8 + i] = (uint8_t)(hl >> (8 * i));
    }
    memcpy(p + prefix, dict, dl);
    if (!raw) {
        memset(p + prefix + dl, ' ', hl - dl);
        p[prefix + hl - 1] = '\n';
    }
    if (len)
        memcpy(p + prefix + hl, data, len);
    *out_len = prefix + hl + len;
    return p;
}

/* The usual dict start: F4 "(2, 3), }" is a float32 C-order header. */
#define F4 "{'descr': '<f4', 'fortran_order': False, 'shape': "

/* Writes an .npy built by make_npy and loads it. */
static enum ogq_status load_npy_bytes(int major, const char *dict, const void *data, size_t len,
                                      struct ogq_tensor **t)
{
    size_t n;
    uint8_t *p = make_npy(major, dict, false, data, len, &n);
    write_file(path_in("x.npy"), p, n);
    free(p);
    ogq_error_clear(&err);
    return ogq_npy_load(path_in("x.npy"), t, &err);
}

static struct ogq_tensor *tensor_f32(const char *name, int rank, const int64_t *dims, float start)
{
    struct ogq_tensor *t = NULL;
    EXPECT_OK(ogq_tensor_new(name, OGQ_DTYPE_FLOAT, rank, dims, &t, &err));
    float *f = ogq_tensor_data(t);
    for (int64_t i = 0; i < t->numel; i++)
        f[i] = start + (float)i;
    return t;
}

/* ---- a zip builder for hostile archives ---- */

struct zmember {
    const char *name;
    const uint8_t *data;
    size_t len;
    int method; /* 0 stored, 8 deflate, other: stored bytes labelled with that method */
};

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Builds a plain zip; *local_offs receives each member's local header offset and
 * *cd_off the central directory offset. */
static uint8_t *make_zip(const struct zmember *m, size_t n, size_t *out_len, size_t *cd_off)
{
    size_t cap = 1024;
    for (size_t i = 0; i < n; i++)
        cap += 2 * m[i].len + 200 + 2 * strlen(m[i].name);
    uint8_t *z = calloc(1, cap);
    size_t pos = 0;
    size_t *offs = calloc(n + 1, sizeof *offs);
    size_t *csz = calloc(n + 1, sizeof *csz);
    uint32_t *crcs = calloc(n + 1, sizeof *crcs);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *payload = m[i].data;
        size_t plen = m[i].len;
        uint8_t *comp = NULL;
        if (m[i].method == 8) {
            z_stream s;
            memset(&s, 0, sizeof s);
            deflateInit2(&s, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
            comp = malloc(deflateBound(&s, (uLong)plen) + 16);
            s.next_in = (Bytef *)payload;
            s.avail_in = (uInt)plen;
            s.next_out = comp;
            s.avail_out = (uInt)deflateBound(&s, (uLong)plen) + 16;
            deflate(&s, Z_FINISH);
            plen = s.total_out;
            deflateEnd(&s);
            payload = comp;
        }
        crcs[i] = (uint32_t)crc32(0, m[i].data, (uInt)m[i].len);
        csz[i] = plen;
        offs[i] = pos;
        size_t nl = strlen(m[i].name);
        uint8_t *h = z + pos;
        put32(h, 0x04034b50);
        put16(h + 4, 20);
        put16(h + 8, (unsigned)m[i].method);
        put32(h + 14, crcs[i]);
        put32(h + 18, (uint32_t)plen);
        put32(h + 22, (uint32_t)m[i].len);
        put16(h + 26, (unsigned)nl);
        memcpy(h + 30, m[i].name, nl);
        memcpy(h + 30 + nl, payload, plen);
        pos += 30 + nl + plen;
        free(comp);
    }
    *cd_off = pos;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(m[i].name);
        uint8_t *c = z + pos;
        put32(c, 0x02014b50);
        put16(c + 4, 20);
        put16(c + 6, 20);
        put16(c + 10, (unsigned)m[i].method);
        put32(c + 16, crcs[i]);
        put32(c + 20, (uint32_t)csz[i]);
        put32(c + 24, (uint32_t)m[i].len);
        put16(c + 28, (unsigned)nl);
        put32(c + 42, (uint32_t)offs[i]);
        memcpy(c + 46, m[i].name, nl);
        pos += 46 + nl;
    }
    uint8_t *e = z + pos;
    put32(e, 0x06054b50);
    put16(e + 8, (unsigned)n);
    put16(e + 10, (unsigned)n);
    put32(e + 12, (uint32_t)(pos - *cd_off));
    put32(e + 16, (uint32_t)*cd_off);
    pos += 22;
    free(offs);
    free(csz);
    free(crcs);
    *out_len = pos;
    return z;
}

static uint8_t *small_npy(size_t *len)
{
    static const float v[6] = {1, 2, 3, 4, 5, 6};
    return make_npy(1, F4 "(2, 3), }", false, v, sizeof v, len);
}

static enum ogq_status open_and_load(const uint8_t *zip, size_t len, const char *key,
                                     struct ogq_tensor **t)
{
    write_file(path_in("z.npz"), zip, len);
    ogq_error_clear(&err);
    struct ogq_npz *z;
    enum ogq_status st = ogq_npz_open(path_in("z.npz"), &z, &err);
    if (st != OGQ_OK)
        return st;
    ptrdiff_t k = ogq_npz_find(z, key);
    st = k < 0 ? ogq_error_set(&err, OGQ_ERR_USAGE, "no key") : ogq_npz_load(z, (size_t)k, t, &err);
    ogq_npz_close(z);
    return st;
}

/* ---------------------------------------------------------------- .npy tests */

static void test_npy_roundtrip_dtypes(void)
{
    static const enum ogq_dtype dts[] = {
        OGQ_DTYPE_FLOAT, OGQ_DTYPE_DOUBLE, OGQ_DTYPE_FLOAT16, OGQ_DTYPE_INT64, OGQ_DTYPE_INT32,
        OGQ_DTYPE_INT16, OGQ_DTYPE_INT8,   OGQ_DTYPE_UINT8,   OGQ_DTYPE_BOOL,  OGQ_DTYPE_UINT64};
    static const int64_t shapes[][3] = {{2, 3, 4}, {0, 5, 0}, {7, 0, 0}};
    static const int ranks[] = {3, 2, 1};
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        for (size_t s = 0; s < 3; s++) {
            struct ogq_tensor *t, *u;
            EXPECT_OK(ogq_tensor_new("a", dts[d], ranks[s], shapes[s], &t, &err));
            uint8_t *p = ogq_tensor_data(t);
            for (size_t i = 0; i < t->nbytes; i++)
                p[i] = dts[d] == OGQ_DTYPE_BOOL ? (uint8_t)(i % 2) : (uint8_t)(i * 37 + 1);
            EXPECT_OK(ogq_npy_save(path_in("a.npy"), t, &err));
            EXPECT_OK(ogq_npy_load(path_in("a.npy"), &u, &err));
            CU_ASSERT(ogq_tensor_equal(t, u));
            CU_ASSERT_STRING_EQUAL(u->name, "a");
            CU_ASSERT(((uintptr_t)ogq_tensor_data(u) % 16) == 0 || u->nbytes == 0);
            ogq_tensor_free(t);
            ogq_tensor_free(u);
        }
    }
    /* Scalar, and the exact header numpy writes. */
    struct ogq_tensor *t, *u;
    EXPECT_OK(ogq_tensor_new("s", OGQ_DTYPE_FLOAT, 0, NULL, &t, &err));
    *(float *)ogq_tensor_data(t) = 2.5f;
    EXPECT_OK(ogq_npy_save(path_in("s.npy"), t, &err));
    size_t n;
    uint8_t *p = read_file(path_in("s.npy"), &n);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(n, 128 + 4);
    CU_ASSERT(memcmp(p + 10, F4 "(), }", 55) == 0);
    CU_ASSERT_EQUAL(p[127], '\n');
    free(p);
    EXPECT_OK(ogq_npy_load(path_in("s.npy"), &u, &err));
    CU_ASSERT(u->rank == 0 && u->numel == 1 && *(float *)ogq_tensor_data(u) == 2.5f);
    ogq_tensor_free(t);
    ogq_tensor_free(u);
    /* 1-D shape text has the trailing comma. */
    int64_t d3 = 3;
    t = tensor_f32("v", 1, &d3, 0);
    EXPECT_OK(ogq_npy_save(path_in("v.npy"), t, &err));
    p = read_file(path_in("v.npy"), &n);
    CU_ASSERT(p && strstr((char *)p + 10, "'shape': (3,), }") != NULL);
    free(p);
    ogq_tensor_free(t);
    /* Unwritable dtype. */
    EXPECT_OK(ogq_tensor_new("b", OGQ_DTYPE_BFLOAT16, 1, &d3, &t, &err));
    EXPECT_ERROR(ogq_npy_save(path_in("b.npy"), t, &err), OGQ_ERR_UNSUPPORTED, "bfloat16");
    CU_ASSERT(access(path_in("b.npy"), F_OK) != 0);
    ogq_tensor_free(t);
}

static void test_npy_versions_and_layouts(void)
{
    static const float v[6] = {1, 2, 3, 4, 5, 6};
    struct ogq_tensor *t;
    for (int major = 1; major <= 3; major++) {
        EXPECT_OK(load_npy_bytes(major, F4 "(2, 3), }", v, sizeof v, &t));
        CU_ASSERT(t->rank == 2 && t->dims[0] == 2 && t->dims[1] == 3);
        CU_ASSERT(memcmp(ogq_tensor_data(t), v, sizeof v) == 0);
        ogq_tensor_free(t);
    }
    /* Key order, double quotes, Python 2 'L' dims, no trailing comma. */
    EXPECT_OK(load_npy_bytes(
        1, "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}", v, sizeof v, &t));
    CU_ASSERT(t->dims[0] == 2 && t->dims[1] == 3);
    ogq_tensor_free(t);
    /* Fortran order: the file holds columns; we return rows. */
    EXPECT_OK(load_npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", v,
                             sizeof v, &t));
    static const float want[6] = {1, 3, 5, 2, 4, 6};
    CU_ASSERT(memcmp(ogq_tensor_data(t), want, sizeof want) == 0);
    ogq_tensor_free(t);
    /* Fortran, rank 3: element (i,j,k) at i + 2j + 4k. */
    float f3[24];
    for (int i = 0; i < 24; i++)
        f3[i] = (float)i;
    EXPECT_OK(load_npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2, 6), }", f3,
                             sizeof f3, &t));
    const float *g = ogq_tensor_data(t);
    bool ok = true;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 6; k++)
                ok = ok && g[(i * 2 + j) * 6 + k] == (float)(i + 2 * j + 4 * k);
    CU_ASSERT(ok);
    ogq_tensor_free(t);
    /* Big-endian data is swapped. */
    static const uint8_t be[8] = {0x3f, 0x80, 0, 0, 0x40, 0, 0, 0};
    EXPECT_OK(load_npy_bytes(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", be,
                             sizeof be, &t));
    CU_ASSERT(((float *)ogq_tensor_data(t))[0] == 1.0f && ((float *)ogq_tensor_data(t))[1] == 2.0f);
    ogq_tensor_free(t);
    static const uint8_t be64[8] = {0, 0, 0, 0, 0, 0, 1, 2};
    EXPECT_OK(load_npy_bytes(1, "{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", be64,
                             sizeof be64, &t));
    CU_ASSERT(t->dtype == OGQ_DTYPE_INT64 && *(int64_t *)ogq_tensor_data(t) == 0x102);
    ogq_tensor_free(t);
    /* Bools are normalised to 0/1. */
    static const uint8_t b[3] = {0, 2, 255};
    EXPECT_OK(load_npy_bytes(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", b,
                             sizeof b, &t));
    const uint8_t *bb = ogq_tensor_data(t);
    CU_ASSERT(t->dtype == OGQ_DTYPE_BOOL && bb[0] == 0 && bb[1] == 1 && bb[2] == 1);
    ogq_tensor_free(t);
    /* Unaligned data (16-byte padded header, offset 16+...) is copied to aligned memory. */
    EXPECT_OK(
        load_npy_bytes(1, "{'descr':'<f4','fortran_order':False,'shape':(6,)}", v, sizeof v, &t));
    CU_ASSERT(((uintptr_t)ogq_tensor_data(t) % 16) == 0);
    CU_ASSERT(memcmp(ogq_tensor_data(t), v, sizeof v) == 0);
    ogq_tensor_free(t);
}

static void test_npy_hostile(void)
{
    static const float v[6] = {1, 2, 3, 4, 5, 6};
    struct ogq_tensor *t = NULL;
    const char *ok_dict = F4 "(2, 3), }";
    /* bad magic */
    write_file(path_in("x.npy"), "\x93NUMPX\x01\x00\x10\x00{}", 12);
    EXPECT_ERROR(ogq_npy_load(path_in("x.npy"), &t, &err), OGQ_ERR_FORMAT, "x.npy", "bad magic");
    /* empty file and tiny file */
    write_file(path_in("x.npy"), "", 0);
    EXPECT_ERROR(ogq_npy_load(path_in("x.npy"), &t, &err), OGQ_ERR_FORMAT, "bad magic");
    write_file(path_in("x.npy"), "\x93NUMPY\x02\x00\xff", 9);
    EXPECT_ERROR(ogq_npy_load(path_in("x.npy"), &t, &err), OGQ_ERR_FORMAT, "bad magic");
    /* truncated header: header length beyond the file */
    size_t n;
    uint8_t *p = make_npy(1, ok_dict, false, v, sizeof v, &n);
    write_file(path_in("x.npy"), p, 40);
    EXPECT_ERROR(ogq_npy_load(path_in("x.npy"), &t, &err), OGQ_ERR_FORMAT, "x.npy",
                 "truncated .npy header");
    free(p);
    p = make_npy(2, ok_dict, false, v, sizeof v, &n);
    p[11] = 0x80; /* 2 GiB header length */
    write_file(path_in("x.npy"), p, n);
    EXPECT_ERROR(ogq_npy_load(path_in("x.npy"), &t, &err), OGQ_ERR_FORMAT, "truncated .npy header");
    free(p);
    /* unknown version */
    p = make_npy(1, ok_dict, false, v, sizeof v, &n);
    p[6] = 4;
    write_file(path_in("x.npy"), p, n);
    EXPECT_ERROR(ogq_npy_load(path_in("x.npy"), &t, &err), OGQ_ERR_UNSUPPORTED, "version 4.0");
    free(p);
    /* data shorter than the shape, and longer */
    EXPECT_ERROR(load_npy_bytes(1, ok_dict, v, sizeof v - 1, &t), OGQ_ERR_FORMAT,
                 "truncated (shape needs 24 bytes, 23 present)");
    EXPECT_ERROR(load_npy_bytes(1, F4 "(1,), }", v, 8, &t), OGQ_ERR_FORMAT, "4 unexpected bytes");
    /* shape overflow, huge dims, negative dims, rank */
    EXPECT_ERROR(load_npy_bytes(1, F4 "(4294967296, 4294967296), }", v, sizeof v, &t),
                 OGQ_ERR_FORMAT, "too large");
    EXPECT_ERROR(
        load_npy_bytes(
            1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3037000500, 3037000500), }", v,
            sizeof v, &t),
        OGQ_ERR_FORMAT, "x.npy");
    EXPECT_ERROR(load_npy_bytes(1, F4 "(99999999999999999999,), }", v, sizeof v, &t),
                 OGQ_ERR_FORMAT, "bad dim");
    EXPECT_ERROR(load_npy_bytes(1, F4 "(-1, 6), }", v, sizeof v, &t), OGQ_ERR_FORMAT, "bad dim");
    /* a legal empty array */
    EXPECT_OK(load_npy_bytes(1, F4 "(2, 0), }", v, 0, &t));
    CU_ASSERT(t->numel == 0 && t->rank == 2);
    ogq_tensor_free(t);
    t = NULL;
    char big[2048];
    size_t pos = (size_t)snprintf(big, sizeof big, F4 "(");
    for (int i = 0; i < 65; i++)
        pos += (size_t)snprintf(big + pos, sizeof big - pos, "1, ");
    snprintf(big + pos, sizeof big - pos, "), }");
    EXPECT_ERROR(load_npy_bytes(1, big, v, 4, &t), OGQ_ERR_FORMAT, "more than 64 dims");
    /* dict syntax and keys */
    EXPECT_ERROR(load_npy_bytes(1, "{'descr': '<f4', 'fortran_order': False}", v, 4, &t),
                 OGQ_ERR_FORMAT, "missing 'shape'");
    EXPECT_ERROR(load_npy_bytes(1, F4 "(1,), 'x': 1}", v, 4, &t), OGQ_ERR_FORMAT,
                 "unexpected or repeated key 'x'");
    EXPECT_ERROR(
        load_npy_bytes(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
                       v, 4, &t),
        OGQ_ERR_FORMAT, "repeated key 'descr'");
    EXPECT_ERROR(
        load_npy_bytes(1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", v, 4, &t),
        OGQ_ERR_FORMAT, "fortran_order");
    EXPECT_ERROR(load_npy_bytes(1, F4 "(1,)} junk", v, 4, &t), OGQ_ERR_FORMAT,
                 "text after the dict");
    EXPECT_ERROR(load_npy_bytes(1, F4 "(1,", v, 4, &t), OGQ_ERR_FORMAT, "malformed");
    EXPECT_ERROR(
        load_npy_bytes(1, "{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", v, 4, &t),
        OGQ_ERR_FORMAT, "bad key");
    EXPECT_ERROR(load_npy_bytes(1, "[1, 2]", v, 4, &t), OGQ_ERR_FORMAT, "expected a dict");
    /* unsupported dtypes */
    EXPECT_ERROR(
        load_npy_bytes(1, "{'descr': '<U4', 'fortran_order': False, 'shape': (1,)}", v, 16, &t),
        OGQ_ERR_UNSUPPORTED, "'<U4'");
    EXPECT_ERROR(
        load_npy_bytes(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", v, 8, &t),
        OGQ_ERR_UNSUPPORTED, "'|O'");
    EXPECT_ERROR(load_npy_bytes(1,
                                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
                                v, 4, &t),
                 OGQ_ERR_UNSUPPORTED, "structured");
    /* missing file */
    EXPECT_ERROR(ogq_npy_load(path_in("nope.npy"), &t, &err), OGQ_ERR_IO, "nope.npy");
}

/* ---------------------------------------------------------------- .npz tests */

static void test_npz_roundtrip(void)
{
    for (int force = 0; force < 2; force++) {
        int64_t d2[2] = {3, 5}, d1 = 4;
        struct ogq_tensor *a = tensor_f32("a", 2, d2, 0), *b, *s;
        EXPECT_OK(ogq_tensor_new("b", OGQ_DTYPE_INT64, 1, &d1, &b, &err));
        for (int i = 0; i < 4; i++)
            ((int64_t *)ogq_tensor_data(b))[i] = -i;
        EXPECT_OK(ogq_tensor_new("s", OGQ_DTYPE_BOOL, 0, NULL, &s, &err));
        *(uint8_t *)ogq_tensor_data(s) = 1;
        struct ogq_npz_writer *w;
        EXPECT_OK(ogq_npz_writer_open(path_in("o.npz"), force ? OGQ_NPZ_FORCE_ZIP64 : 0, &w, &err));
        EXPECT_OK(ogq_npz_writer_add(w, "a", a, &err));
        EXPECT_OK(ogq_npz_writer_add(w, "b/c", b, &err));
        EXPECT_OK(ogq_npz_writer_add(w, "s", s, &err));
        EXPECT_ERROR(ogq_npz_writer_add(w, "a", a, &err), OGQ_ERR_USAGE, "duplicate key 'a'");
        EXPECT_OK(ogq_npz_writer_commit(w, &err));
        struct ogq_npz *z;
        EXPECT_OK(ogq_npz_open(path_in("o.npz"), &z, &err));
        CU_ASSERT_EQUAL(ogq_npz_count(z), 3);
        CU_ASSERT_STRING_EQUAL(ogq_npz_key(z, 1), "b/c");
        CU_ASSERT_EQUAL(ogq_npz_find(z, "s"), 2);
        CU_ASSERT_EQUAL(ogq_npz_find(z, "zz"), -1);
        const struct ogq_tensor *want[3] = {a, b, s};
        for (size_t i = 0; i < 3; i++) {
            struct ogq_tensor *t;
            EXPECT_OK(ogq_npz_load(z, i, &t, &err));
            CU_ASSERT(ogq_tensor_equal(t, want[i]));
            CU_ASSERT(((uintptr_t)ogq_tensor_data(t) % 16) == 0);
            ogq_tensor_free(t);
        }
        ogq_npz_close(z);
        /* Deterministic bytes. */
        size_t n1, n2;
        uint8_t *f1 = read_file(path_in("o.npz"), &n1);
        const char *keys[3] = {"a", "b/c", "s"};
        if (!force) {
            EXPECT_OK(ogq_npz_save(path_in("o2.npz"), keys, want, 3, &err));
            uint8_t *f2 = read_file(path_in("o2.npz"), &n2);
            CU_ASSERT(f1 && f2 && n1 == n2 && memcmp(f1, f2, n1) == 0);
            free(f2);
        }
        free(f1);
        ogq_tensor_free(a);
        ogq_tensor_free(b);
        ogq_tensor_free(s);
    }
    /* An empty archive. */
    EXPECT_OK(ogq_npz_save(path_in("e.npz"), NULL, NULL, 0, &err));
    struct ogq_npz *z;
    EXPECT_OK(ogq_npz_open(path_in("e.npz"), &z, &err));
    CU_ASSERT_EQUAL(ogq_npz_count(z), 0);
    ogq_npz_close(z);
}

static void test_npz_deflate_and_members(void)
{
    size_t nl;
    uint8_t *npy = small_npy(&nl);
    struct zmember m[3] = {{"x.npy", npy, nl, 8},
                           {"dir/", (const uint8_t *)"", 0, 0},
                           {"readme.txt", (const uint8_t *)"hi", 2, 0}};
    size_t len, cd;
    uint8_t *zip = make_zip(m, 3, &len, &cd);
    struct ogq_tensor *t;
    EXPECT_OK(open_and_load(zip, len, "x", &t));
    CU_ASSERT(t->rank == 2 && t->dims[1] == 3 && ((float *)ogq_tensor_data(t))[5] == 6.0f);
    ogq_tensor_free(t);
    struct ogq_npz *z;
    EXPECT_OK(ogq_npz_open(path_in("z.npz"), &z, &err));
    CU_ASSERT_EQUAL(ogq_npz_count(z), 1); /* only .npy members are keys */
    ogq_npz_close(z);
    free(zip);
    free(npy);
}

static void test_npz_hostile(void)
{
    size_t nl, len, cd;
    uint8_t *npy = small_npy(&nl);
    struct zmember m[2] = {{"x.npy", npy, nl, 0}, {"y.npy", npy, nl, 8}};
    uint8_t *zip = make_zip(m, 2, &len, &cd);
    uint8_t *bad = malloc(len + 64);
    struct ogq_tensor *t = NULL;
    const size_t c0 = cd, c1 = cd + 46 + 5; /* central entries */

    /* unsupported compression method (bzip2 = 12) */
    memcpy(bad, zip, len);
    put16(bad + c0 + 10, 12);
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_UNSUPPORTED, "z.npz", "member 'x.npy'",
                 "compression method 12");
    /* the other member is still readable */
    EXPECT_OK(open_and_load(bad, len, "y", &t));
    ogq_tensor_free(t);
    /* encrypted */
    memcpy(bad, zip, len);
    put16(bad + c0 + 8, 1);
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_UNSUPPORTED, "encrypted");
    /* local header offset out of range */
    memcpy(bad, zip, len);
    put32(bad + c1 + 42, 0x7fffffff);
    EXPECT_ERROR(open_and_load(bad, len, "y", &t), OGQ_ERR_FORMAT, "member 'y.npy'",
                 "offset 2147483647 is out of range");
    put32(bad + c1 + 42, (uint32_t)cd - 10);
    EXPECT_ERROR(open_and_load(bad, len, "y", &t), OGQ_ERR_FORMAT, "out of range");
    put32(bad + c1 + 42, 3);
    EXPECT_ERROR(open_and_load(bad, len, "y", &t), OGQ_ERR_FORMAT, "bad local header signature");
    /* compressed size running past the member area */
    memcpy(bad, zip, len);
    put32(bad + c0 + 20, (uint32_t)len);
    put32(bad + c0 + 24, (uint32_t)len);
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "runs past");
    /* stored with csize != usize */
    memcpy(bad, zip, len);
    put32(bad + c0 + 24, 7);
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "different compressed");
    /* deflate: implausible uncompressed size, wrong size, corrupt data */
    memcpy(bad, zip, len);
    put32(bad + c1 + 24, 0xF0000000u);
    EXPECT_ERROR(open_and_load(bad, len, "y", &t), OGQ_ERR_FORMAT, "implausible sizes");
    put32(bad + c1 + 24, (uint32_t)nl + 1);
    EXPECT_ERROR(open_and_load(bad, len, "y", &t), OGQ_ERR_FORMAT, "member 'y.npy'", "deflate");
    put32(bad + c1 + 24, (uint32_t)nl - 1);
    EXPECT_ERROR(open_and_load(bad, len, "y", &t), OGQ_ERR_FORMAT, "deflate");
    memcpy(bad, zip, len);
    size_t y_data = 30 + 5 + nl + 30 + 5;
    bad[y_data] ^= 0xff;
    bad[y_data + 1] ^= 0xff;
    EXPECT_ERROR(open_and_load(bad, len, "y", &t), OGQ_ERR_FORMAT, "member 'y.npy'");
    /* CRC mismatch */
    memcpy(bad, zip, len);
    bad[30 + 5 + nl - 1] ^= 1;
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "CRC-32 mismatch");
    /* local name differs from the central one */
    memcpy(bad, zip, len);
    bad[30] = 'q';
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "does not match");
    /* member data that is not an .npy */
    memcpy(bad, zip, len);
    bad[30 + 5] = 'X';
    put32(bad + 14, (uint32_t)crc32(0, bad + 35, (uInt)nl));
    put32(bad + c0 + 16, (uint32_t)crc32(0, bad + 35, (uInt)nl));
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "member 'x.npy'", "bad magic");
    /* directory problems: truncated file, bad counts, offsets */
    EXPECT_ERROR(open_and_load(zip, len - 30, "x", &t), OGQ_ERR_FORMAT, "z.npz", "not a zip");
    EXPECT_ERROR(open_and_load(zip, 10, "x", &t), OGQ_ERR_FORMAT, "not a zip");
    memcpy(bad, zip, len);
    put16(bad + len - 22 + 10, 500);
    put16(bad + len - 22 + 8, 500);
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "claims 500 entries");
    memcpy(bad, zip, len);
    put32(bad + len - 22 + 16, (uint32_t)len);
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "lies outside the file");
    memcpy(bad, zip, len);
    put16(bad + len - 22 + 4, 1);
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_UNSUPPORTED, "multi-disk");
    memcpy(bad, zip, len);
    put16(bad + c0 + 28, 2000); /* name length beyond the directory */
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "overruns the directory");
    memcpy(bad, zip, len);
    bad[c1] = 'Q';
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT,
                 "entry 1 is truncated or corrupt");
    memcpy(bad, zip, len);
    put32(bad + c0 + 20, 0xFFFFFFFFu); /* ZIP64 marker without the extra field */
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "ZIP64 sizes are missing");
    memcpy(bad, zip, len);
    put32(bad + len - 22 + 16, 0xFFFFFFFFu);
    EXPECT_ERROR(open_and_load(bad, len, "x", &t), OGQ_ERR_FORMAT, "without a ZIP64 locator");
    /* duplicate names */
    struct zmember dup[2] = {{"x.npy", npy, nl, 0}, {"x.npy", npy, nl, 0}};
    free(zip);
    zip = make_zip(dup, 2, &len, &cd);
    EXPECT_ERROR(open_and_load(zip, len, "x", &t), OGQ_ERR_FORMAT, "duplicate member 'x.npy'");
    free(zip);
    /* ZIP64 writer output with a corrupted locator offset */
    struct ogq_tensor *a = tensor_f32("a", 0, NULL, 1);
    struct ogq_npz_writer *w;
    EXPECT_OK(ogq_npz_writer_open(path_in("z64.npz"), OGQ_NPZ_FORCE_ZIP64, &w, &err));
    EXPECT_OK(ogq_npz_writer_add(w, "a", a, &err));
    EXPECT_OK(ogq_npz_writer_commit(w, &err));
    ogq_tensor_free(a);
    size_t zl;
    uint8_t *z64 = read_file(path_in("z64.npz"), &zl);
    CU_ASSERT_FATAL(z64 != NULL);
    put32(z64 + zl - 22 - 20 + 8, 0x7ffffff0);
    EXPECT_ERROR(open_and_load(z64, zl, "a", &t), OGQ_ERR_FORMAT, "ZIP64 end of central directory");
    free(z64);
    free(bad);
    free(npy);
}

/* ---------------------------------------------------------------- calibration data */

/* A model input value built by hand: dims >= 0 fixed, -1 symbolic ("N"). */
struct fake_input {
    struct ogq_value v;
    struct ogq_dim dims[8];
};

static void fake(struct fake_input *f, const char *name, enum ogq_dtype dt, int rank,
                 const int64_t *dims)
{
    memset(f, 0, sizeof *f);
    f->v.name = (char *)name;
    f->v.has_type = rank >= -1;
    f->v.is_tensor = true;
    f->v.type.dtype = dt;
    f->v.type.rank = rank;
    f->v.type.dims = f->dims;
    for (int i = 0; i < rank; i++) {
        f->dims[i].value = dims[i];
        f->dims[i].param = dims[i] < 0 ? (char *)"N" : NULL;
    }
}

static enum ogq_status calib_open(const char *path, struct fake_input *in, size_t n, int64_t batch,
                                  int64_t max, struct ogq_calib **src)
{
    const struct ogq_value *v[4];
    for (size_t i = 0; i < n; i++)
        v[i] = &in[i].v;
    struct ogq_calib_options o;
    ogq_calib_options_init(&o);
    o.batch_size = batch;
    o.max_samples = max;
    ogq_error_clear(&err);
    return ogq_calib_open(path, v, n, &o, src, &err);
}

/* Drains a source, recording the dim-0 of input 0 per batch and the first float of each
 * row (input 0 must be float). Returns the number of batches. */
static int drain(struct ogq_calib *src, size_t n_in, int64_t *sizes, float *firsts, int max)
{
    int nb = 0, nr = 0;
    for (;;) {
        struct ogq_tensor *b[4] = {0};
        bool done;
        EXPECT_OK(ogq_calib_next(src, b, &done, &err));
        if (done)
            break;
        CU_ASSERT_FATAL(nb < max);
        struct ogq_tensor *t = b[0];
        int64_t rows = t->rank ? t->dims[0] : 1;
        sizes[nb++] = rows;
        int64_t per = rows ? t->numel / rows : 0;
        for (int64_t r = 0; r < rows && per; r++)
            firsts[nr++] = ((float *)ogq_tensor_data(t))[r * per];
        for (size_t i = 0; i < n_in; i++)
            ogq_tensor_free(b[i]);
    }
    return nb;
}

static void save_npz2(const char *path, struct ogq_tensor *a, const char *ka, struct ogq_tensor *b,
                      const char *kb)
{
    const char *keys[2] = {ka, kb};
    const struct ogq_tensor *ts[2] = {a, b};
    EXPECT_OK(ogq_npz_save(path, keys, ts, b ? 2 : 1, &err));
}

static void test_calib_npz_batches(void)
{
    int64_t dx[2] = {5, 3}, dy[1] = {5};
    struct ogq_tensor *x = tensor_f32("x", 2, dx, 0), *y;
    EXPECT_OK(ogq_tensor_new("y", OGQ_DTYPE_INT64, 1, dy, &y, &err));
    int64_t extra_d = 2;
    struct ogq_tensor *extra = tensor_f32("labels", 1, &extra_d, 0);
    const char *keys[3] = {"x", "y", "labels"};
    const struct ogq_tensor *ts[3] = {x, y, extra};
    EXPECT_OK(ogq_npz_save(path_in("c.npz"), keys, ts, 3, &err));
    struct fake_input in[2];
    int64_t sx[2] = {-1, 3}, sy[1] = {-1};
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 2, sx);
    fake(&in[1], "y", OGQ_DTYPE_INT64, 1, sy);
    struct ogq_calib *src;
    EXPECT_OK(calib_open(path_in("c.npz"), in, 2, 2, 0, &src));
    CU_ASSERT_EQUAL(ogq_calib_sample_count(src), 5);
    CU_ASSERT_EQUAL(ogq_calib_batch_size(src), 2);
    CU_ASSERT_STRING_EQUAL(ogq_calib_layout(src), "npz");
    CU_ASSERT(ogq_calib_note(src) && strstr(ogq_calib_note(src), "'labels'"));
    int64_t sizes[16];
    float firsts[16];
    CU_ASSERT_EQUAL(drain(src, 2, sizes, firsts, 16), 3);
    CU_ASSERT(sizes[0] == 2 && sizes[1] == 2 && sizes[2] == 1);
    CU_ASSERT(firsts[0] == 0 && firsts[1] == 3 && firsts[4] == 12);
    ogq_calib_rewind(src);
    CU_ASSERT_EQUAL(drain(src, 2, sizes, firsts, 16), 3);
    ogq_calib_free(src);
    /* cap */
    EXPECT_OK(calib_open(path_in("c.npz"), in, 2, 4, 3, &src));
    CU_ASSERT_EQUAL(ogq_calib_sample_count(src), 3);
    CU_ASSERT_EQUAL(drain(src, 2, sizes, firsts, 16), 1);
    CU_ASSERT_EQUAL(sizes[0], 3);
    ogq_calib_free(src);
    /* fixed batch dim of 1: one sample at a time, with a note */
    int64_t f1[2] = {1, 3};
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 2, f1);
    EXPECT_OK(calib_open(path_in("c.npz"), in, 2, 4, 0, &src));
    CU_ASSERT_EQUAL(ogq_calib_batch_size(src), 1);
    CU_ASSERT(ogq_calib_note(src) && strstr(ogq_calib_note(src), "batch size 4 changed to 1"));
    CU_ASSERT_EQUAL(drain(src, 2, sizes, firsts, 16), 5);
    ogq_calib_free(src);
    /* fixed batch 2 with 5 samples: error; with the cap at 4: fine */
    int64_t f2[2] = {2, 3};
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 2, f2);
    EXPECT_ERROR(calib_open(path_in("c.npz"), in, 2, 0, 0, &src), OGQ_ERR_FORMAT,
                 "fixed batch dimension of 2 but 5 samples");
    EXPECT_OK(calib_open(path_in("c.npz"), in, 2, 0, 4, &src));
    CU_ASSERT_EQUAL(drain(src, 2, sizes, firsts, 16), 2);
    ogq_calib_free(src);
    /* errors: missing input (lists keys), dtype, shape */
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 2, sx);
    struct fake_input in3[3];
    in3[0] = in[0];
    in3[0].v.type.dims = in3[0].dims;
    in3[1] = in[1];
    in3[1].v.type.dims = in3[1].dims;
    fake(&in3[2], "mask", OGQ_DTYPE_BOOL, 1, sy);
    EXPECT_ERROR(calib_open(path_in("c.npz"), in3, 3, 0, 0, &src), OGQ_ERR_FORMAT,
                 "c.npz: no array for input 'mask'", "'x', 'y', 'labels'");
    fake(&in[1], "y", OGQ_DTYPE_INT32, 1, sy);
    EXPECT_ERROR(calib_open(path_in("c.npz"), in, 2, 0, 0, &src), OGQ_ERR_FORMAT,
                 "input 'y': expected dtype int32, got int64");
    fake(&in[1], "y", OGQ_DTYPE_INT64, 1, sy);
    int64_t s4[2] = {-1, 4};
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 2, s4);
    EXPECT_ERROR(calib_open(path_in("c.npz"), in, 2, 0, 0, &src), OGQ_ERR_FORMAT,
                 "input 'x': expected shape [N,4]", "got [5,3]");
    int64_t s3[3] = {-1, 3, 1};
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 3, s3);
    EXPECT_ERROR(calib_open(path_in("c.npz"), in, 2, 0, 0, &src), OGQ_ERR_FORMAT,
                 "expected shape [N,3,1]");
    /* mismatched sample counts */
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 2, sx);
    fake(&in[1], "labels", OGQ_DTYPE_FLOAT, 1, sy);
    EXPECT_ERROR(calib_open(path_in("c.npz"), in, 2, 0, 0, &src), OGQ_ERR_FORMAT,
                 "input 'labels' has 2 samples but input 'x' has 5");
    /* stacks: x as [3] inputs -> 5 stacked samples, batch forced to 1 */
    int64_t st3[1] = {3};
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 1, st3);
    fake(&in[1], "y", OGQ_DTYPE_INT64, 0, NULL);
    EXPECT_OK(calib_open(path_in("c.npz"), in, 2, 3, 0, &src));
    CU_ASSERT_EQUAL(ogq_calib_batch_size(src), 1);
    CU_ASSERT(ogq_calib_note(src) && strstr(ogq_calib_note(src), "stack"));
    struct ogq_tensor *b[2];
    bool done;
    EXPECT_OK(ogq_calib_next(src, b, &done, &err));
    CU_ASSERT(!done && b[0]->rank == 1 && b[0]->dims[0] == 3 && b[1]->rank == 0);
    CU_ASSERT_STRING_EQUAL(b[0]->name, "x");
    ogq_tensor_free(b[0]);
    ogq_tensor_free(b[1]);
    ogq_calib_free(src);
    /* empty data */
    int64_t d0[2] = {0, 3};
    struct ogq_tensor *empty = tensor_f32("x", 2, d0, 0);
    save_npz2(path_in("e.npz"), empty, "x", NULL, NULL);
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 2, sx);
    EXPECT_ERROR(calib_open(path_in("e.npz"), in, 1, 0, 0, &src), OGQ_ERR_FORMAT,
                 "input 'x': no samples");
    ogq_tensor_free(empty);
    /* missing path, not a data file */
    EXPECT_ERROR(calib_open(path_in("missing.npz"), in, 1, 0, 0, &src), OGQ_ERR_IO, "missing.npz");
    write_file(path_in("junk.bin"), "hello", 5);
    EXPECT_ERROR(calib_open(path_in("junk.bin"), in, 1, 0, 0, &src), OGQ_ERR_FORMAT,
                 "not an .npz or .npy");
    ogq_tensor_free(x);
    ogq_tensor_free(y);
    ogq_tensor_free(extra);
}

static void test_calib_folders(void)
{
    /* (b) a folder of .npy files; input names with '/' use the sanitised file name */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path_in("npydir"));
    mkdir(dir, 0777);
    int64_t dx[3] = {4, 2, 2};
    struct ogq_tensor *x = tensor_f32("x", 3, dx, 0);
    char p[4200];
    snprintf(p, sizeof p, "%s/in_0.npy", dir);
    EXPECT_OK(ogq_npy_save(p, x, &err));
    snprintf(p, sizeof p, "%s/other.npy", dir);
    EXPECT_OK(ogq_npy_save(p, x, &err));
    struct fake_input in[2];
    int64_t sx[3] = {-1, 2, 2};
    fake(&in[0], "in/0", OGQ_DTYPE_FLOAT, 3, sx);
    struct ogq_calib *src;
    EXPECT_OK(calib_open(dir, in, 1, 3, 0, &src));
    CU_ASSERT_STRING_EQUAL(ogq_calib_layout(src), "npy folder");
    CU_ASSERT(ogq_calib_note(src) && strstr(ogq_calib_note(src), "'other.npy'"));
    int64_t sizes[16];
    float firsts[16];
    CU_ASSERT_EQUAL(drain(src, 1, sizes, firsts, 16), 2);
    CU_ASSERT(sizes[0] == 3 && sizes[1] == 1 && firsts[3] == 12);
    ogq_calib_free(src);
    fake(&in[1], "mask", OGQ_DTYPE_FLOAT, 3, sx);
    EXPECT_ERROR(calib_open(dir, in, 2, 0, 0, &src), OGQ_ERR_FORMAT,
                 "no .npy file for input 'mask'", "'in_0.npy', 'other.npy'");
    /* (e) a single .npy: one input only */
    EXPECT_OK(calib_open(p, in, 1, 0, 0, &src));
    CU_ASSERT_STRING_EQUAL(ogq_calib_layout(src), "npy");
    ogq_calib_free(src);
    EXPECT_ERROR(calib_open(p, in, 2, 0, 0, &src), OGQ_ERR_FORMAT,
                 "only feed a model with one input");

    /* (c) test_data_set_N folders, ordered numerically, batches spanning sets */
    char sets[4096];
    snprintf(sets, sizeof sets, "%s", path_in("sets"));
    mkdir(sets, 0777);
    const int order[3] = {10, 2, 0};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/test_data_set_%d", sets, order[k]);
        mkdir(p, 0777);
        int64_t d1[3] = {1, 2, 2};
        struct ogq_tensor *t = tensor_f32("whatever", 3, d1, (float)(100 * order[k]));
        snprintf(p, sizeof p, "%s/test_data_set_%d/input_0.pb", sets, order[k]);
        EXPECT_OK(ogq_tensor_save_pb(t, p, &err));
        snprintf(p, sizeof p, "%s/test_data_set_%d/output_0.pb", sets, order[k]);
        EXPECT_OK(ogq_tensor_save_pb(t, p, &err));
        ogq_tensor_free(t);
    }
    fake(&in[0], "data", OGQ_DTYPE_FLOAT, 3, sx);
    EXPECT_OK(calib_open(sets, in, 1, 2, 0, &src));
    CU_ASSERT_STRING_EQUAL(ogq_calib_layout(src), "test data sets");
    CU_ASSERT_EQUAL(ogq_calib_sample_count(src), 3);
    CU_ASSERT_EQUAL(drain(src, 1, sizes, firsts, 16), 2);
    CU_ASSERT(sizes[0] == 2 && sizes[1] == 1);
    CU_ASSERT(firsts[0] == 0 && firsts[1] == 200 && firsts[2] == 1000);
    ogq_calib_free(src);
    /* a cap stops reading sets */
    EXPECT_OK(calib_open(sets, in, 1, 0, 1, &src));
    CU_ASSERT_EQUAL(ogq_calib_sample_count(src), 1);
    ogq_calib_free(src);
    /* a single set folder */
    snprintf(p, sizeof p, "%s/test_data_set_2", sets);
    EXPECT_OK(calib_open(p, in, 1, 0, 0, &src));
    CU_ASSERT_STRING_EQUAL(ogq_calib_layout(src), "test data set");
    ogq_calib_free(src);
    /* a missing input_1.pb */
    fake(&in[1], "mask", OGQ_DTYPE_FLOAT, 3, sx);
    EXPECT_ERROR(calib_open(sets, in, 2, 0, 0, &src), OGQ_ERR_FORMAT,
                 "test_data_set_0: no input_1.pb for input 'mask'");
    /* sets whose sample shapes differ: batches are cut at the change */
    snprintf(p, sizeof p, "%s/test_data_set_3", sets);
    mkdir(p, 0777);
    int64_t dbig[3] = {2, 2, 5};
    struct ogq_tensor *t = tensor_f32("t", 3, dbig, 300);
    snprintf(p, sizeof p, "%s/test_data_set_3/input_0.pb", sets);
    EXPECT_OK(ogq_tensor_save_pb(t, p, &err));
    ogq_tensor_free(t);
    int64_t sfree[3] = {-1, 2, -1};
    fake(&in[0], "data", OGQ_DTYPE_FLOAT, 3, sfree);
    EXPECT_OK(calib_open(sets, in, 1, 8, 0, &src));
    CU_ASSERT_EQUAL(ogq_calib_sample_count(src), 5);
    CU_ASSERT_EQUAL(drain(src, 1, sizes, firsts, 16), 3);
    CU_ASSERT(sizes[0] == 2 && sizes[1] == 2 && sizes[2] == 1); /* sets 0,2 | 3 | 10 */
    ogq_calib_free(src);
    /* a fixed dim that the new set violates */
    fake(&in[0], "data", OGQ_DTYPE_FLOAT, 3, sx);
    EXPECT_ERROR(calib_open(sets, in, 1, 8, 0, &src), OGQ_ERR_FORMAT, "test_data_set_3",
                 "expected shape [N,2,2]", "got [2,2,5]");

    /* (d) a folder of .npz files */
    char zd[4096];
    snprintf(zd, sizeof zd, "%s", path_in("npzdir"));
    mkdir(zd, 0777);
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/part%d.npz", zd, k);
        struct ogq_tensor *u = tensor_f32("x", 3, dx, (float)(1000 * k));
        save_npz2(p, u, "x", NULL, NULL);
        ogq_tensor_free(u);
    }
    fake(&in[0], "x", OGQ_DTYPE_FLOAT, 3, sx);
    EXPECT_OK(calib_open(zd, in, 1, 3, 0, &src));
    CU_ASSERT_STRING_EQUAL(ogq_calib_layout(src), "npz folder");
    CU_ASSERT_EQUAL(drain(src, 1, sizes, firsts, 16), 3);
    CU_ASSERT(sizes[0] == 3 && sizes[1] == 3 && sizes[2] == 2);
    CU_ASSERT(firsts[3] == 12 && firsts[4] == 1000); /* batch 2 spans both files */
    ogq_calib_free(src);
    /* an empty folder */
    snprintf(p, sizeof p, "%s", path_in("emptydir"));
    mkdir(p, 0777);
    EXPECT_ERROR(calib_open(p, in, 1, 0, 0, &src), OGQ_ERR_FORMAT, "no calibration data found");
    ogq_tensor_free(x);
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    char tmpl[] = "/tmp/ogq-npy-XXXXXX";
    const char *base = getenv("TMPDIR");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/ogq-npy-XXXXXX", base && *base ? base : "/tmp");
    tmpdir = mkdtemp(base && *base ? buf : tmpl);
    if (!tmpdir)
        return 2;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite npy = CU_add_suite("npy", NULL, NULL);
    CU_pSuite calib = CU_add_suite("calib", NULL, NULL);
    if (!npy || !calib || !CU_add_test(npy, "npy_roundtrip_dtypes", test_npy_roundtrip_dtypes) ||
        !CU_add_test(npy, "npy_versions_and_layouts", test_npy_versions_and_layouts) ||
        !CU_add_test(npy, "npy_hostile", test_npy_hostile) ||
        !CU_add_test(npy, "npz_roundtrip", test_npz_roundtrip) ||
        !CU_add_test(npy, "npz_deflate_and_members", test_npz_deflate_and_members) ||
        !CU_add_test(npy, "npz_hostile", test_npz_hostile) ||
        !CU_add_test(calib, "calib_npz_batches", test_calib_npz_batches) ||
        !CU_add_test(calib, "calib_folders", test_calib_folders)) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    if (!getenv("KEEP_TMP"))
        rmtree(tmpdir);
    else
        fprintf(stderr, "kept %s\n", tmpdir);
    return failed ? 1 : 0;
}
