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

static char tmp_dir[256];
static char out_path[300];

static void remove_tmp(void)
{
    char side[320];
    snprintf(side, sizeof side, "%s.data", out_path);
    unlink(out_path);
    unlink(side);
    rmdir(tmp_dir);
}

/* Output goes to tmpfs when there is one: the saver fsyncs every file. */
static void init_tmp(void)
{
    const char *base = getenv("OGQ_FUZZ_TMPDIR");
    struct stat st;
    if (!base)
        base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/ogq-fuzz-XXXXXX", base);
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(out_path, sizeof out_path, "%s/out.onnx", tmp_dir);
    atexit(remove_tmp);
}

static void fail(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_load: %s: %s\n", what, msg);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tmp_dir[0])
        init_tmp();
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
