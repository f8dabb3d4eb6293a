#include "atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *ogq_temp_open(const char *target, char **tmp_path, struct ogq_error *err)
{
    const char *slash = strrchr(target, '/');
    size_t dlen = slash ? (size_t)(slash - target + 1) : 0;
    const char *base = slash ? slash + 1 : target;
    size_t need = dlen + 1 + strlen(base) + 12 + 1;
    char *p = malloc(need);
    if (!p) {
        OGQ_NOMEM(err);
        return NULL;
    }
    snprintf(p, need, "%.*s.%s.tmp-XXXXXX", (int)dlen, target, base);
    int fd = mkstemp(p);
    if (fd < 0) {
        ogq_error_set(err, OGQ_ERR_IO, "%s: cannot create a temporary file next to it: %s", target,
                      strerror(errno));
        free(p);
        return NULL;
    }
    /* mkstemp creates 0600; give the file the permissions a plain fopen would. Failure is
     * not fatal: the file just stays private to the user. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        ogq_error_set(err, OGQ_ERR_IO, "%s: %s", p, strerror(errno));
        close(fd);
        unlink(p);
        free(p);
        return NULL;
    }
    *tmp_path = p;
    return f;
}

enum ogq_status ogq_temp_commit(FILE *f, char *tmp_path, const char *target, bool ok,
                                struct ogq_error *err)
{
    int e = ok ? 0 : errno;
    if (ok && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
        ok = false;
        e = errno;
    }
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp_path, target) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok)
        unlink(tmp_path);
    free(tmp_path);
    if (!ok)
        return ogq_error_set(err, OGQ_ERR_IO, "%s: write failed: %s", target,
                             e ? strerror(e) : "unknown error");
    return OGQ_OK;
}

void ogq_temp_discard(FILE *f, char *tmp_path)
{
    if (f)
        fclose(f);
    if (tmp_path) {
        unlink(tmp_path);
        free(tmp_path);
    }
}
