/* strmap.h — open-addressing hash map from strings to pointers.
 *
 * Keys are borrowed: the caller keeps each key alive while it is in the map
 * (the IR uses the value's own name). Deletion uses tombstones.
 */
#ifndef OGQ_STRMAP_H
#define OGQ_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ogq_strmap_slot {
    const char *key; /* NULL: empty; OGQ_STRMAP_TOMBSTONE: deleted */
    void *value;
};

struct ogq_strmap {
    struct ogq_strmap_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t used; /* live + tombstones */
    size_t live;
};

void ogq_strmap_init(struct ogq_strmap *m);
void ogq_strmap_fini(struct ogq_strmap *m);

/* Returns the value for `key`, or NULL. */
void *ogq_strmap_get(const struct ogq_strmap *m, const char *key);

/* Inserts or replaces. Returns false only on allocation failure. */
bool ogq_strmap_put(struct ogq_strmap *m, const char *key, void *value);

/* Removes `key` if present; returns whether it was. */
bool ogq_strmap_del(struct ogq_strmap *m, const char *key);

#ifdef __cplusplus
}
#endif

#endif
