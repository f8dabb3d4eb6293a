/* test_random.h — the deterministic random numbers the passes tests share: xorshift64
 * (Marsaglia) for uniforms in [0, 1) with 53 random bits, Box-Muller for normals. */
#ifndef OGQ_TEST_RANDOM_H
#define OGQ_TEST_RANDOM_H

#include <math.h>
#include <stdint.h>

static inline uint64_t test_xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline double test_uniform(uint64_t *s)
{
    return (double)(test_xorshift(s) >> 11) * 0x1.0p-53;
}

/* N(0, 1) from two uniforms (the first kept away from 0 for the log). */
static inline double test_normal(uint64_t *s)
{
    double u1 = test_uniform(s), u2 = test_uniform(s);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
