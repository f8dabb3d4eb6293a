/* bench_gptq.c — time the GPTQ solver and the Hessian accumulation against the FLOP bound.
 *
 * usage: bench_gptq [--quick] [--threads N]
 *
 * Measures this machine's sgemm rate (4096³, best of 3), then for layer shapes rows×K
 * (768×768, 3072×768, 4096×4096, 11008×4096; 4-bit, group 128, with and without
 * act-order) the wall time of ogq_gptq_quantize, and for K = 4096 the Hessian
 * accumulation of 2048 and 16384 rows. Prints a markdown table with the FLOP count, the
 * achieved GFLOP/s and the ratio to the lower bound at the measured sgemm rate:
 *   GPTQ:    rows·K² (lazy trailing updates) + rows·K·B (in-block updates) + ⅔·K³
 *            (Cholesky + triangular inverse, in double — counted as float flops, so the
 *            bound is optimistic)
 *   Hessian: n·K² (one symmetric rank-n update).
 * --quick skips the 11008×4096 layer and the 16384-row Hessian.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "passes/gptq.h"
#include "passes/hessian.h"
#include "runtime/linalg.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t state = 88172645463325252ull;

static float randn(void)
{
    /* xorshift + Box-Muller: fast, deterministic. */
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    double u1 = ((double)(state >> 11) + 1.0) / 9007199254740993.0;
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    double u2 = (double)(state >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static double sgemm_gflops(void)
{
    const int64_t n = 4096;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    for (int64_t i = 0; i < n * n; i++)
        a[i] = randn(), b[i] = randn();
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        ogq_sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0;
        if (t < best)
            best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * (double)n * n * n / best / 1e9;
}

/* Correlated rows: x = z · M with a random mixing matrix, a few outlier channels. */
static float *make_rows(int64_t n, int64_t k)
{
    float *z = malloc(sizeof(float) * n * k), *mix = malloc(sizeof(float) * k * k);
    float *x = malloc(sizeof(float) * n * k);
    for (int64_t i = 0; i < n * k; i++)
        z[i] = randn();
    for (int64_t i = 0; i < k * k; i++)
        mix[i] = randn() / sqrtf((float)k) + (i % (k + 1) == 0 ? 1.0f : 0.0f);
    ogq_sgemm(false, false, n, k, k, 1.0f, z, k, mix, k, 0.0f, x, k);
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < 4; c++)
            x[r * k + c] *= 8.0f;
    free(z), free(mix);
    return x;
}

int main(int argc, char **argv)
{
    bool quick = false;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_gptq [--quick] [--threads N]\n");
            return 2;
        }
    }
    int nt = ogq_linalg_set_threads(threads);
    double peak = sgemm_gflops();
    printf("threads %d, measured sgemm (4096^3): %.1f GFLOP/s\n\n", nt, peak);

    printf("| step | shape | act-order | time (s) | GFLOP | GFLOP/s | bound (s) | time / bound |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    struct ogq_error err;
    /* Hessian accumulation. */
    const int64_t hk = 4096;
    int64_t hrows[2] = {2048, 16384};
    for (int h = 0; h < (quick ? 1 : 2); h++) {
        float *x = make_rows(hrows[h], hk);
        struct ogq_hessian hs;
        if (ogq_hessian_init(&hs, hk, &err) != OGQ_OK)
            return 1;
        double t0 = now();
        for (int64_t r = 0; r < hrows[h]; r += 2048)
            ogq_hessian_add_rows(&hs, x + r * hk, 2048, hk, &err);
        ogq_hessian_finalize(&hs);
        double t = now() - t0;
        double flop = (double)hrows[h] * hk * hk;
        printf("| Hessian | %lld rows x K=%lld | - | %.3f | %.1f | %.1f | %.3f | %.2f |\n",
               (long long)hrows[h], (long long)hk, t, flop / 1e9, flop / t / 1e9,
               flop / (peak * 1e9), t / (flop / (peak * 1e9)));
        ogq_hessian_fini(&hs);
        free(x);
    }
    /* GPTQ per layer. */
    int64_t shapes[4][2] = {{768, 768}, {3072, 768}, {4096, 4096}, {11008, 4096}};
    for (int s = 0; s < (quick ? 3 : 4); s++) {
        int64_t rows = shapes[s][0], k = shapes[s][1];
        float *x = make_rows(2048, k);
        struct ogq_hessian hs;
        if (ogq_hessian_init(&hs, k, &err) != OGQ_OK)
            return 1;
        ogq_hessian_add_rows(&hs, x, 2048, k, &err);
        ogq_hessian_finalize(&hs);
        free(x);
        float *w = malloc(sizeof(float) * rows * k);
        for (int64_t i = 0; i < rows * k; i++)
            w[i] = randn() * 0.02f;
        for (int act = 0; act < 2; act++) {
            struct ogq_gptq_opts o;
            ogq_gptq_opts_init(&o);
            o.grid.bits = 4;
            o.group_size = 128;
            o.act_order = act;
            o.static_groups = act;
            struct ogq_qweight q;
            double t0 = now();
            if (ogq_gptq_quantize(w, rows, k, hs.h, &o, &q, &err) != OGQ_OK) {
                fprintf(stderr, "bench_gptq: %s\n", err.msg);
                return 1;
            }
            double t = now() - t0;
            ogq_qweight_fini(&q);
            double flop = (double)rows * k * k + (double)rows * k * 128 + 2.0 / 3.0 * k * k * k;
            double bound = flop / (peak * 1e9);
            printf("| GPTQ 4-bit g128 | %lld x %lld | %s | %.3f | %.1f | %.1f | %.3f | %.2f |\n",
                   (long long)rows, (long long)k, act ? "yes" : "no", t, flop / 1e9,
                   flop / t / 1e9, bound, t / bound);
        }
        free(w);
        ogq_hessian_fini(&hs);
    }
    return 0;
}
