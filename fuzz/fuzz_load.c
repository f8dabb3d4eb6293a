/* fuzz_load.c — libFuzzer target for the hostile-input loader and the saver.
 *
 * Each input is loaded with ogq_model_load_memory (no folder: external data refused).
 * A refusal must come with a one-line message that names the input. An accepted model
 * must verify, survive remove_dead/topo_sort, save, and load back equal to what was
 * loaded (ogq_model_equal). Any violation aborts, so libFuzzer records the input.
 * Build and run: see fuzz/README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph/graph.h"
#include "graph/model_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *tmp_base;

/* A fresh folder per input, removed again before returning (libFuzzer's fork mode ends
 * jobs without running atexit handlers). Output goes to tmpfs when there is one: the
 * saver fsyncs every file. */
static void make_tmp(char *dir, size_t size, char *path, size_t path_size)
{
    if (!tmp_base) {
        struct stat st;
        tmp_base = getenv("OGQ_FUZZ_TMPDIR");
        if (!tmp_base)
            tmp_base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    }
    snprintf(dir, size, "%s/ogq-fuzz-XXXXXX", tmp_base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(path, path_size, "%s/out.onnx", dir);
}

static void remove_tmp(const char *dir, const char *path)
{
    char side[320];
    snprintf(side, sizeof side, "%s.data", path);
    unlink(path);
    unlink(side);
    rmdir(dir);
}

static void fail(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_load: %s: %s\n", what, msg);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *m = NULL;
    enum ogq_status st = ogq_model_load_memory(data, size, "fuzz-input", NULL, &m, &err);
    if (st != OGQ_OK) {
        if (m)
            fail("failed load returned a model", err.msg);
        if (st != err.code || (st != OGQ_ERR_FORMAT && st != OGQ_ERR_UNSUPPORTED &&
                               st != OGQ_ERR_NOMEM && st != OGQ_ERR_IO))
            fail("unexpected status", err.msg);
        if (strncmp(err.msg, "fuzz-input: ", 12) != 0 || !err.msg[12] || strchr(err.msg, '\n'))
            fail("message is not one line naming the input", err.msg);
        return 0;
    }
    if (ogq_graph_verify(m->graph, &err) != OGQ_OK)
        fail("verify after load", err.msg);

    /* Save and load back: the model must come back equal. */
    char tmp_dir[256], out_path[300];
    make_tmp(tmp_dir, sizeof tmp_dir, out_path, sizeof out_path);
    st = ogq_model_save(m, out_path, NULL, &err);
    if (st != OGQ_OK)
        fail("save", err.msg);
    struct ogq_model *back = NULL;
    if (ogq_model_load(out_path, &back, &err) != OGQ_OK)
        fail("reload of saved model", err.msg);
    char why[512] = "";
    if (!ogq_model_equal(m, back, why, sizeof why))
        fail("round trip differs", why);
    ogq_model_free(back);
    remove_tmp(tmp_dir, out_path);

    /* The mutation helpers keep the invariants on whatever the loader accepts. */
    size_t removed = 0;
    ogq_graph_remove_dead(m->graph, &removed);
    if (ogq_graph_verify(m->graph, &err) != OGQ_OK)
        fail("verify after remove_dead", err.msg);
    if (ogq_graph_topo_sort(m->graph, &err) != OGQ_OK)
        fail("topo_sort of a loaded graph", err.msg);
    if (ogq_graph_verify(m->graph, &err) != OGQ_OK)
        fail("verify after topo_sort", err.msg);
    ogq_model_free(m);
    return 0;
}
