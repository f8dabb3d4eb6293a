/* upgrade_tool.c — test driver for the opset-upgrade pass:
 *   upgrade_tool IN.onnx OUT.onnx [TARGET]   load, ogq_opset_upgrade (default 21), save
 *   upgrade_tool --rules                     print the conversion table, one op per line:
 *                                            "Op v1 v2 ..." (its since_versions)
 * Exit status: 0 success, 1 bad arguments, 2 load/save failure, 3 the pass failed (the
 * message on stderr starts with the status name, e.g. "unsupported: ...").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/model_io.h"
#include "passes/opset_upgrade.h"

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--rules") == 0) {
        for (size_t i = 0; i < ogq_opset_upgrade_rule_count(); i++) {
            const int *since;
            size_t n;
            printf("%s", ogq_opset_upgrade_rule(i, &since, &n));
            for (size_t k = 0; k < n; k++)
                printf(" %d", since[k]);
            printf("\n");
        }
        return 0;
    }
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: upgrade_tool IN.onnx OUT.onnx [TARGET] | --rules\n");
        return 1;
    }
    long long target = argc == 4 ? strtoll(argv[3], NULL, 10) : 21;
    struct ogq_error err;
    ogq_error_clear(&err);
    struct ogq_model *m = NULL;
    if (ogq_model_load(argv[1], &m, &err) != OGQ_OK) {
        fprintf(stderr, "%s: %s\n", ogq_status_name(err.code), err.msg);
        return 2;
    }
    int rc = 0;
    if (ogq_opset_upgrade(m, target, &err) != OGQ_OK) {
        fprintf(stderr, "%s: %s\n", ogq_status_name(err.code), err.msg);
        rc = 3;
    } else if (ogq_model_save(m, argv[2], NULL, &err) != OGQ_OK) {
        fprintf(stderr, "%s: %s\n", ogq_status_name(err.code), err.msg);
        rc = 2;
    }
    ogq_model_free(m);
    return rc;
}
