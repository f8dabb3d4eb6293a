/* vec_loop.h — a loop shape GCC's -O2 vectoriser accepts, shared by the elementwise and
 * activation kernels.
 *
 * VLOOP(n, body) runs `body` for k in [0, n): full blocks of VBLOCK iterations (the inner
 * fixed-length loop is what GCC 12 vectorises at -O2), then the scalar tail. The body is
 * variadic so that it may contain commas. Iterations must be independent: outputs never
 * alias inputs, which IVDEP tells GCC so it needs no run-time alias check (its -O2
 * vectoriser will not emit one; clang vectorises with alias checks at -O2).
 */
#ifndef OGQ_VEC_LOOP_H
#define OGQ_VEC_LOOP_H

#include <stdint.h>

#define VBLOCK 16

#if defined(__GNUC__) && !defined(__clang__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

#define VLOOP(n, ...)                                                                              \
    do {                                                                                           \
        int64_t n_v_ = (n), i_v_ = 0;                                                              \
        for (; i_v_ + VBLOCK <= n_v_; i_v_ += VBLOCK)                                              \
            IVDEP for (int j_v_ = 0; j_v_ < VBLOCK; j_v_++) {                                      \
                int64_t k = i_v_ + j_v_;                                                           \
                __VA_ARGS__;                                                                       \
            }                                                                                      \
        for (; i_v_ < n_v_; i_v_++) {                                                              \
            int64_t k = i_v_;                                                                      \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
    } while (0)

#endif
