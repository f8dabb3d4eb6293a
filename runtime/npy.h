/* npy.h — NumPy .npy and .npz files: reading into and writing from struct ogq_tensor.
 *
 * .npy: format versions 1.0, 2.0 and 3.0. The header dict must hold exactly 'descr',
 * 'fortran_order' and 'shape' (as numpy requires). Element types:
 *   '<f2' FLOAT16, '<f4' FLOAT, '<f8' DOUBLE, '|i1' INT8, '<i2' INT16, '<i4' INT32,
 *   '<i8' INT64, '|u1' UINT8, '<u2' UINT16, '<u4' UINT32, '<u8' UINT64, '|b1' BOOL,
 *   '<c8' COMPLEX64, '<c16' COMPLEX128
 * in any byte order ('<', '>', '=', '|'; big-endian data is byte-swapped on read).
 * Structured, object, string, datetime and other types are refused. Arrays stored with
 * fortran_order True are transposed to row-major on read (the result is the same array
 * numpy gives). BOOL bytes are normalised to 0/1. Whether the runtime can *compute* with a
 * dtype is not checked here (see rt_tensor.h): the reader returns what the file holds.
 *
 * .npz: a zip archive of .npy members, as np.savez / np.savez_compressed write it. The
 * central directory is parsed here; members must be stored (method 0) or deflated
 * (method 8, inflated with zlib); ZIP64 sizes and offsets are understood; encrypted,
 * multi-disk and other compression methods are refused when the member is read.
 * Keys are member names without the ".npy" suffix; members whose names do not end in
 * ".npy" (and folders) are not listed. Every member's CRC-32 is checked on read.
 *
 * All files are treated as hostile: header lengths, dict syntax, dims (negative,
 * overflowing products), data size vs file size, zip offsets and sizes (including
 * implausible compression ratios) are checked, and every failure is a one-line
 * OGQ_ERR_FORMAT / OGQ_ERR_UNSUPPORTED / OGQ_ERR_IO message that names the file (and the
 * member, for .npz).
 *
 * Writing: .npy version 1.0 (2.0 only if the header would not fit), header padded to 64
 * bytes as numpy does; .npz members are stored uncompressed with fixed timestamps
 * (1980-01-01 00:00), so the same tensors always give the same bytes. Files are written
 * to a temporary file next to the target and renamed into place, so a failure never
 * leaves a partial output.
 *
 * Ownership: loaded tensors are new tensors the caller frees with ogq_tensor_free. Their
 * data may be a view into a memory-mapped file (the .npy file, or a stored .npz member);
 * it is always aligned to at least 16 bytes and must be treated as read-only. Tensors
 * outlive the ogq_npz they came from.
 */
#ifndef OGQ_NPY_H
#define OGQ_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/tensor.h"
#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest rank accepted in a .npy header (numpy's own limit is 64). */
#define OGQ_NPY_MAX_RANK 64

/* ---- .npy ---- */

/* Reads the .npy file at `path`. The tensor is named after the file (its base name
 * without ".npy"). */
enum ogq_status ogq_npy_load(const char *path, struct ogq_tensor **out, struct ogq_error *err);

/* Decodes the .npy bytes [offset, offset + size) of `buf` (borrowed; the result may keep
 * a reference to it). `what` names the bytes in messages ("file.npz: member 'x.npy'"),
 * `name` (may be NULL) becomes the tensor's name. */
enum ogq_status ogq_npy_decode(struct ogq_buffer *buf, size_t offset, size_t size, const char *what,
                               const char *name, struct ogq_tensor **out, struct ogq_error *err);

/* True if `dtype` has a .npy descr (the types listed above); writes it to *descr. */
bool ogq_npy_descr(enum ogq_dtype dtype, const char **descr);

/* Writes `t` (borrowed) to `path` as .npy. OGQ_ERR_UNSUPPORTED for a dtype without a
 * .npy descr (BFLOAT16, INT4, FLOAT8*, STRING, ...). */
enum ogq_status ogq_npy_save(const char *path, const struct ogq_tensor *t, struct ogq_error *err);

/* ---- .npz reading ---- */

struct ogq_npz;

/* Opens `path` and reads its central directory (no member data is read yet). Fails on a
 * file that is not a zip archive, a broken directory or duplicate keys. */
enum ogq_status ogq_npz_open(const char *path, struct ogq_npz **out, struct ogq_error *err);

/* Number of keys and key i (archive order; borrowed, valid until ogq_npz_close). */
size_t ogq_npz_count(const struct ogq_npz *z);
const char *ogq_npz_key(const struct ogq_npz *z, size_t i);

/* Index of `key`, or -1. */
ptrdiff_t ogq_npz_find(const struct ogq_npz *z, const char *key);

/* Reads key i (decompressing and checking its CRC). The tensor is named after the key. */
enum ogq_status ogq_npz_load(struct ogq_npz *z, size_t i, struct ogq_tensor **out,
                             struct ogq_error *err);

/* The archive's path (borrowed). */
const char *ogq_npz_path(const struct ogq_npz *z);

/* Closes the archive. Tensors loaded from it stay valid. NULL is a no-op. */
void ogq_npz_close(struct ogq_npz *z);

/* ---- .npz writing ---- */

struct ogq_npz_writer;

enum ogq_npz_flags {
    OGQ_NPZ_FORCE_ZIP64 = 1, /* write ZIP64 records even for small archives (tests) */
};

/* Starts writing `path` (a temporary file until ogq_npz_writer_commit). */
enum ogq_status ogq_npz_writer_open(const char *path, unsigned flags, struct ogq_npz_writer **out,
                                    struct ogq_error *err);

/* Appends `t` (borrowed; its data is written now) as member "<key>.npy". Fails on an
 * empty or duplicate key or a dtype ogq_npy_descr does not know. */
enum ogq_status ogq_npz_writer_add(struct ogq_npz_writer *w, const char *key,
                                   const struct ogq_tensor *t, struct ogq_error *err);

/* Writes the central directory, syncs and renames the file into place, and frees `w`
 * (also on failure, leaving no file behind). */
enum ogq_status ogq_npz_writer_commit(struct ogq_npz_writer *w, struct ogq_error *err);

/* Discards the temporary file and frees `w`. NULL is a no-op. */
void ogq_npz_writer_abort(struct ogq_npz_writer *w);

/* Convenience: writes `n` tensors under `keys` to `path` in one go. */
enum ogq_status ogq_npz_save(const char *path, const char *const *keys,
                             const struct ogq_tensor *const *tensors, size_t n,
                             struct ogq_error *err);

#ifdef __cplusplus
}
#endif

#endif
