/* atomic_file.h — write a file so that readers see either the old file or the complete new
 * one, never a partial write: write to a temporary file beside the target, then flush,
 * fsync and rename it into place.
 *
 *   char *tmp; FILE *f = ogq_temp_open(path, &tmp, err);   // NULL: err says why
 *   ... fwrite(..., f) ...
 *   st = ogq_temp_commit(f, tmp, path, writes_ok, err);    // or ogq_temp_discard(f, tmp)
 */
#ifndef OGQ_ATOMIC_FILE_H
#define OGQ_ATOMIC_FILE_H

#include <stdbool.h>
#include <stdio.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates "<dir>/.<name>.tmp-XXXXXX" next to `target` with the permissions a new file
 * would get (0666 & ~umask) and opens it for binary writing. *tmp_path receives its path
 * (malloc'd, owned by the caller until commit/discard). NULL on failure. */
FILE *ogq_temp_open(const char *target, char **tmp_path, struct ogq_error *err);

/* Flushes, fsyncs and closes `f`; when that and `ok` (the caller's own write status)
 * succeeded, renames `tmp_path` onto `target`. Otherwise removes the temporary file and
 * fails with OGQ_ERR_IO naming `target`. Takes ownership of `f` and `tmp_path`. */
enum ogq_status ogq_temp_commit(FILE *f, char *tmp_path, const char *target, bool ok,
                                struct ogq_error *err);

/* Closes `f` and removes and frees `tmp_path` (either may be NULL). */
void ogq_temp_discard(FILE *f, char *tmp_path);

#ifdef __cplusplus
}
#endif

#endif
