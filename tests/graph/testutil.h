/* testutil.h — small helpers shared by the graph CUnit tests (header-only). */
#ifndef OGQ_TESTUTIL_H
#define OGQ_TESTUTIL_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/status.h"

/* Asserts that `st` failed with `code`, and that the message contains each of the
 * NULL-terminated needles and is one line. Prints the message when it does not. */
static inline bool tu_check_error(enum ogq_status st, const struct ogq_error *err,
                                  enum ogq_status code, const char *const *needles,
                                  const char *file, int line)
{
    bool ok = st == code && err->code == code && strchr(err->msg, '\n') == NULL;
    for (size_t i = 0; ok && needles[i]; i++)
        if (!strstr(err->msg, needles[i]))
            ok = false;
    if (!ok) {
        fprintf(stderr, "\n%s:%d: expected %s containing", file, line, ogq_status_name(code));
        for (size_t i = 0; needles[i]; i++)
            fprintf(stderr, " [%s]", needles[i]);
        fprintf(stderr, "\n   got %s (%d): %s\n", ogq_status_name(st), (int)st, err->msg);
    }
    return ok;
}

#define EXPECT_ERROR(st, err, code, ...)                                                           \
    CU_ASSERT(tu_check_error((st), (err), (code), (const char *const[]){__VA_ARGS__, NULL},       \
                             __FILE__, __LINE__))

/* Asserts OGQ_OK, printing the message otherwise. */
#define EXPECT_OK(expr, err)                                                                       \
    do {                                                                                           \
        enum ogq_status tu_st_ = (expr);                                                           \
        if (tu_st_ != OGQ_OK)                                                                      \
            fprintf(stderr, "\n%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, (err)->msg);   \
        CU_ASSERT_EQUAL(tu_st_, OGQ_OK);                                                           \
    } while (0)

/* A fresh temporary folder (caller frees the string and calls tu_rmtree). */
static inline char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t need = strlen(base) + 32;
    char *p = malloc(need);
    if (!p)
        return NULL;
    snprintf(p, need, "%s/ogq-test-XXXXXX", base);
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

/* Removes a folder tree (does not follow symlinks). */
static inline void tu_rmtree(const char *path)
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
                size_t need = strlen(path) + strlen(e->d_name) + 2;
                char *child = malloc(need);
                if (child) {
                    snprintf(child, need, "%s/%s", path, e->d_name);
                    tu_rmtree(child);
                    free(child);
                }
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* "<dir>/<name>" in a static rotating buffer (enough for a few live paths). */
static inline const char *tu_path(const char *dir, const char *name)
{
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static inline bool tu_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = (size == 0 || fwrite(data, 1, size, f) == size);
    return (fclose(f) == 0) && ok;
}

/* Reads a whole file into a new malloc'ed buffer; NULL on failure. */
static inline uint8_t *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *g = realloc(data, cap);
            if (!g) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = g;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    *size = len;
    return data;
}

static inline bool tu_files_equal(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    uint8_t *da = tu_read_file(a, &na), *db = tu_read_file(b, &nb);
    bool eq = da && db && na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return eq;
}

/* Runs the registered tests; returns the process exit status. */
static inline int tu_run(void)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return failed || run == 0 ? 1 : 0;
}

struct tu_test {
    const char *name;
    void (*fn)(void);
};

/* Adds a suite of tests; false on CUnit failure. */
static inline bool tu_add_suite(const char *name, const struct tu_test *tests, size_t n)
{
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    if (!s)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            return false;
    return true;
}

#define TU_TEST(fn) {#fn, fn}

#endif
