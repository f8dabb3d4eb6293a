/* test_roundtrip.c — load → save → load on every model of the shared test data.
 *
 * For each model.onnx under <shared>/onnx-node-tests and each *.onnx under
 * <shared>/real-models: the reloaded model equals the original (ogq_model_equal), the
 * graph verifies, saving twice gives byte-identical files (determinism), and saving the
 * reloaded model gives the same bytes again (a fixpoint: nothing drifts). The same with
 * every tensor in an external-data side file. <shared> is argv[1], else $OGQ_SHARED_DIR;
 * when it does not exist the tests pass with a note (CUnit still reports them).
 */
#include <dirent.h>

#include "graph/graph.h"
#include "graph/model_io.h"
#include "testutil.h"

static const char *shared_dir;
static char *tmp_dir;

struct path_list {
    char **paths;
    size_t n, cap;
};

static struct path_list node_models, real_models;

static void list_push(struct path_list *l, const char *path)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        char **g = realloc(l->paths, l->cap * sizeof *g);
        if (!g)
            abort();
        l->paths = g;
    }
    l->paths[l->n] = strdup(path);
    if (!l->paths[l->n])
        abort();
    l->n++;
}

static void list_free(struct path_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Adds <root>/<sub>/<name> for every sub-folder, where <name> is `file` or, when `file`
 * is NULL, every *.onnx file in it. */
static void collect(struct path_list *l, const char *root, const char *file)
{
    DIR *d = opendir(root);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (file) {
            char full[4352];
            snprintf(full, sizeof full, "%s/%s", path, file);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
                list_push(l, full);
            continue;
        }
        DIR *sd = opendir(path);
        if (!sd)
            continue;
        struct dirent *f;
        while ((f = readdir(sd))) {
            if (!ends_with(f->d_name, ".onnx"))
                continue;
            char full[4352];
            snprintf(full, sizeof full, "%s/%s", path, f->d_name);
            list_push(l, full);
        }
        closedir(sd);
    }
    closedir(d);
    qsort(l->paths, l->n, sizeof *l->paths, cmp_str);
}

static bool have_shared(void)
{
    struct stat st;
    return shared_dir && stat(shared_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Checks one model; returns false (after printing why) on any failure. */
static bool check_model(const char *path, bool external)
{
    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *orig = NULL, *back = NULL, *again = NULL;
    bool ok = false;
    char why[OGQ_ERROR_MSG_MAX + 64] = "";
    struct ogq_save_options opts;
    ogq_save_options_init(&opts);
    if (external) {
        opts.external = OGQ_EXTERNAL_ALWAYS;
        opts.min_external_bytes = 1; /* every non-empty numeric tensor goes to the side file */
        opts.external_name = "weights.bin";
    }
    /* Same file names in three folders, so the bytes (including the external-data
     * location strings) are comparable. */
    const char *p1 = tu_path(tmp_dir, "1/model.onnx"), *p2 = tu_path(tmp_dir, "2/model.onnx"),
               *p3 = tu_path(tmp_dir, "3/model.onnx");
    const char *d1 = tu_path(tmp_dir, "1/weights.bin"), *d2 = tu_path(tmp_dir, "2/weights.bin"),
               *d3 = tu_path(tmp_dir, "3/weights.bin");

    if (ogq_model_load(path, &orig, &err) != OGQ_OK) {
        snprintf(why, sizeof why, "load: %s", err.msg);
        goto out;
    }
    if (ogq_graph_verify(orig->graph, &err) != OGQ_OK) {
        snprintf(why, sizeof why, "verify after load: %s", err.msg);
        goto out;
    }
    if (ogq_model_save(orig, p1, &opts, &err) != OGQ_OK) {
        snprintf(why, sizeof why, "save: %s", err.msg);
        goto out;
    }
    if (ogq_model_load(p1, &back, &err) != OGQ_OK) {
        snprintf(why, sizeof why, "reload: %s", err.msg);
        goto out;
    }
    if (ogq_graph_verify(back->graph, &err) != OGQ_OK) {
        snprintf(why, sizeof why, "verify after reload: %s", err.msg);
        goto out;
    }
    if (!ogq_model_equal(orig, back, why, sizeof why))
        goto out;
    if (external) {
        struct stat st;
        if (stat(d1, &st) != 0) {
            snprintf(why, sizeof why, "no external data file written");
            goto out;
        }
        for (size_t i = 0; i < back->graph->n_initializers; i++) {
            const struct ogq_tensor *t = back->graph->initializers[i]->initializer;
            if (t->dtype != OGQ_DTYPE_STRING && t->nbytes > 0 && !(t->buf && t->buf->is_mmap)) {
                snprintf(why, sizeof why, "initializer '%s' was not written externally",
                         back->graph->initializers[i]->name);
                goto out;
            }
        }
    }
    /* Determinism: the same IR gives the same bytes. */
    if (ogq_model_save(orig, p2, &opts, &err) != OGQ_OK) {
        snprintf(why, sizeof why, "second save: %s", err.msg);
        goto out;
    }
    if (!tu_files_equal(p1, p2) || (external && !tu_files_equal(d1, d2))) {
        snprintf(why, sizeof why, "two saves of the same model differ");
        goto out;
    }
    /* Fixpoint: saving what was loaded from our own output changes nothing. */
    if (ogq_model_save(back, p3, &opts, &err) != OGQ_OK) {
        snprintf(why, sizeof why, "save of the reloaded model: %s", err.msg);
        goto out;
    }
    if (!tu_files_equal(p1, p3) || (external && !tu_files_equal(d1, d3))) {
        snprintf(why, sizeof why, "saving the reloaded model gives different bytes");
        goto out;
    }
    if (ogq_model_load(p3, &again, &err) != OGQ_OK ||
        !ogq_model_equal(orig, again, why, sizeof why)) {
        if (!why[0])
            snprintf(why, sizeof why, "third load: %s", err.msg);
        goto out;
    }
    ok = true;
out:
    if (!ok)
        fprintf(stderr, "\n  FAIL %s%s: %s\n", path, external ? " (external data)" : "", why);
    ogq_model_free(orig);
    ogq_model_free(back);
    ogq_model_free(again);
    return ok;
}

static size_t total_checked, total_failed;

static void run_list(const struct path_list *l, bool external, size_t min_expected)
{
    if (!have_shared()) {
        fprintf(stderr, "\n  skipped: %s not found\n", shared_dir ? shared_dir : "(no shared dir)");
        return;
    }
    CU_ASSERT(l->n >= min_expected);
    size_t failed = 0;
    for (size_t i = 0; i < l->n; i++)
        if (!check_model(l->paths[i], external))
            failed++;
    CU_ASSERT_EQUAL(failed, 0);
    total_checked += l->n;
    total_failed += failed;
}

static void test_node_tests(void) { run_list(&node_models, false, 1000); }
static void test_real_models(void) { run_list(&real_models, false, 4); }
static void test_node_tests_external(void) { run_list(&node_models, true, 1000); }
static void test_real_models_external(void) { run_list(&real_models, true, 4); }

int main(int argc, char **argv)
{
    shared_dir = argc > 1 ? argv[1] : getenv("OGQ_SHARED_DIR");
    if (have_shared()) {
        char root[4096];
        snprintf(root, sizeof root, "%s/onnx-node-tests", shared_dir);
        collect(&node_models, root, "model.onnx");
        snprintf(root, sizeof root, "%s/real-models", shared_dir);
        collect(&real_models, root, NULL);
    }
    /* Thousands of saves, each fsynced: use tmpfs when nobody chose a folder. */
    struct stat st;
    if (!getenv("TMPDIR") && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 0);
    tmp_dir = tu_mkdtemp();
    if (!tmp_dir)
        return 2;
    for (int i = 1; i <= 3; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "%d", i);
        mkdir(tu_path(tmp_dir, sub), 0700);
    }
    static const struct tu_test tests[] = {
        TU_TEST(test_node_tests),
        TU_TEST(test_real_models),
        TU_TEST(test_node_tests_external),
        TU_TEST(test_real_models_external),
    };
    int rc = 2;
    if (CU_initialize_registry() == CUE_SUCCESS) {
        if (tu_add_suite("roundtrip", tests, sizeof tests / sizeof tests[0]))
            rc = tu_run();
        else
            CU_cleanup_registry();
    }
    printf("roundtrip: %zu node-test models, %zu real models; %zu round trips checked, %zu failed\n",
           node_models.n, real_models.n, total_checked, total_failed);
    tu_rmtree(tmp_dir);
    free(tmp_dir);
    list_free(&node_models);
    list_free(&real_models);
    return rc;
}
