#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char tombstone_key[] = "";
#define TOMBSTONE tombstone_key

static uint64_t hash_str(const char *s)
{
    /* FNV-1a: short keys, no adversarial-collision concern worth more. */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void ogq_strmap_init(struct ogq_strmap *m)
{
    memset(m, 0, sizeof *m);
}

void ogq_strmap_fini(struct ogq_strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static struct ogq_strmap_slot *find_slot(const struct ogq_strmap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
        struct ogq_strmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMBSTONE && strcmp(s->key, key) == 0)
            return s;
    }
}

void *ogq_strmap_get(const struct ogq_strmap *m, const char *key)
{
    struct ogq_strmap_slot *s = find_slot(m, key);
    return s ? s->value : NULL;
}

static bool rehash(struct ogq_strmap *m, size_t new_cap)
{
    struct ogq_strmap_slot *slots = calloc(new_cap, sizeof *slots);
    if (!slots)
        return false;
    size_t mask = new_cap - 1;
    for (size_t j = 0; j < m->cap; j++) {
        struct ogq_strmap_slot *old = &m->slots[j];
        if (!old->key || old->key == TOMBSTONE)
            continue;
        size_t i = hash_str(old->key) & mask;
        while (slots[i].key)
            i = (i + 1) & mask;
        slots[i] = *old;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = new_cap;
    m->used = m->live;
    return true;
}

bool ogq_strmap_put(struct ogq_strmap *m, const char *key, void *value)
{
    struct ogq_strmap_slot *s = find_slot(m, key);
    if (s) {
        s->key = key;
        s->value = value;
        return true;
    }
    if ((m->used + 1) * 4 >= m->cap * 3) {
        size_t new_cap = m->cap ? m->cap : 16;
        while ((m->live + 1) * 2 >= new_cap)
            new_cap *= 2;
        if (!rehash(m, new_cap))
            return false;
    }
    size_t mask = m->cap - 1;
    size_t i = hash_str(key) & mask;
    while (m->slots[i].key && m->slots[i].key != TOMBSTONE)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->live++;
    return true;
}

bool ogq_strmap_del(struct ogq_strmap *m, const char *key)
{
    struct ogq_strmap_slot *s = find_slot(m, key);
    if (!s)
        return false;
    s->key = TOMBSTONE;
    s->value = NULL;
    m->live--;
    return true;
}
