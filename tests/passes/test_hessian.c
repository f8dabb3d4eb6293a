/* test_hessian.c — Hessian accumulation against direct computations.
 *
 * Properties checked:
 *   - the running mean over uneven batches equals 2/n·XᵀX computed at once in double;
 *   - strided rows (ld > k) and transposed input (add_cols) give the same H;
 *   - a Conv layer's Hessian built from ogq_im2col_f32 patches (stride, padding,
 *     dilation, several images) equals H from patches extracted directly from the
 *     convolution's definition, y[m,o] = Σ_{c,t} W[m,c,t]·x[c, o·s + t·d − p].
 */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/hessian.h"
#include "runtime/linalg.h"

#define TOL_REL 1e-5 /* float products summed in float per chunk, then in double */

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static double max_rel_diff(const double *a, const double *b, int64_t n)
{
    double scale = 0.0, diff = 0.0;
    for (int64_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(b[i]));
        diff = fmax(diff, fabs(a[i] - b[i]));
    }
    return diff / (scale > 0 ? scale : 1.0);
}

static void direct_hessian(const float *x, int64_t n, int64_t k, double *h)
{
    memset(h, 0, sizeof(double) * (size_t)(k * k));
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++)
                h[i * k + j] += 2.0 / (double)n * x[r * k + i] * x[r * k + j];
}

static void test_running_mean_and_layouts(void)
{
    const int64_t n = 300, k = 17;
    unsigned seed = 1;
    float *x = malloc(sizeof(float) * (size_t)(n * k));
    for (int64_t i = 0; i < n * k; i++)
        x[i] = frand(&seed) * (i % k == 3 ? 10.0f : 1.0f);
    double *ref = malloc(sizeof(double) * (size_t)(k * k));
    direct_hessian(x, n, k, ref);
    struct ogq_hessian h;
    struct ogq_error err;
    /* Uneven batches, contiguous rows. */
    CU_ASSERT_EQUAL_FATAL(ogq_hessian_init(&h, k, &err), OGQ_OK);
    int64_t cuts[] = {0, 1, 50, 51, 299, 300};
    for (int i = 0; i + 1 < 6; i++)
        CU_ASSERT_EQUAL(ogq_hessian_add_rows(&h, x + cuts[i] * k, cuts[i + 1] - cuts[i], k, &err),
                        OGQ_OK);
    ogq_hessian_finalize(&h);
    CU_ASSERT_EQUAL(h.n, n);
    CU_ASSERT(max_rel_diff(h.h, ref, k * k) < TOL_REL);
    ogq_hessian_fini(&h);
    /* Strided rows: the same data inside wider rows. */
    float *wide = calloc((size_t)(n * (k + 5)), sizeof(float));
    for (int64_t r = 0; r < n; r++)
        memcpy(wide + r * (k + 5), x + r * k, sizeof(float) * (size_t)k);
    CU_ASSERT_EQUAL_FATAL(ogq_hessian_init(&h, k, &err), OGQ_OK);
    CU_ASSERT_EQUAL(ogq_hessian_add_rows(&h, wide, n, k + 5, &err), OGQ_OK);
    ogq_hessian_finalize(&h);
    CU_ASSERT(max_rel_diff(h.h, ref, k * k) < TOL_REL);
    ogq_hessian_fini(&h);
    /* Transposed input. */
    float *xt = malloc(sizeof(float) * (size_t)(n * k));
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < k; c++)
            xt[c * n + r] = x[r * k + c];
    CU_ASSERT_EQUAL_FATAL(ogq_hessian_init(&h, k, &err), OGQ_OK);
    CU_ASSERT_EQUAL(ogq_hessian_add_cols(&h, xt, n, n, &err), OGQ_OK);
    ogq_hessian_finalize(&h);
    CU_ASSERT(max_rel_diff(h.h, ref, k * k) < TOL_REL);
    /* Symmetric after finalize. */
    CU_ASSERT_DOUBLE_EQUAL(h.h[2 * k + 9], h.h[9 * k + 2], 0.0);
    ogq_hessian_fini(&h);
    free(x), free(ref), free(wide), free(xt);
}

static void test_conv_hessian_matches_direct_patches(void)
{
    /* 2 images, 3 channels, 9x7 input, 3x3 kernel, stride 2, dilation 2, pads 1/2. */
    const int64_t batch = 2, c = 3, ih = 9, iw = 7, kh = 3, kw = 3;
    struct ogq_conv_geom g = {.nd = 2,
                              .in = {ih, iw},
                              .kernel = {kh, kw},
                              .stride = {2, 2},
                              .dilation = {2, 2}};
    int64_t pads[4] = {1, 2, 2, 1}; /* begins (h, w), ends (h, w) */
    CU_ASSERT_FATAL(ogq_conv_geom_resolve(&g, OGQ_AUTO_PAD_NOTSET, pads));
    const int64_t oh = g.out[0], ow = g.out[1], positions = oh * ow, k = c * kh * kw;
    CU_ASSERT_EQUAL(oh, (ih + 1 + 2 - 2 * (kh - 1) - 1) / 2 + 1);
    unsigned seed = 7;
    float *x = malloc(sizeof(float) * (size_t)(batch * c * ih * iw));
    for (int64_t i = 0; i < batch * c * ih * iw; i++)
        x[i] = frand(&seed);
    /* Direct patches from the definition. */
    float *rows = calloc((size_t)(batch * positions * k), sizeof(float));
    for (int64_t b = 0; b < batch; b++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xo = 0; xo < ow; xo++)
                for (int64_t ch = 0; ch < c; ch++)
                    for (int64_t ty = 0; ty < kh; ty++)
                        for (int64_t tx = 0; tx < kw; tx++) {
                            int64_t iy = y * 2 + ty * 2 - pads[0], ix = xo * 2 + tx * 2 - pads[1];
                            float v = (iy >= 0 && iy < ih && ix >= 0 && ix < iw)
                                          ? x[((b * c + ch) * ih + iy) * iw + ix]
                                          : 0.0f;
                            rows[((b * oh + y) * ow + xo) * k + (ch * kh + ty) * kw + tx] = v;
                        }
    double *ref = malloc(sizeof(double) * (size_t)(k * k));
    direct_hessian(rows, batch * positions, k, ref);
    /* Through im2col, as the quantization pass does it. */
    struct ogq_hessian h;
    struct ogq_error err;
    CU_ASSERT_EQUAL_FATAL(ogq_hessian_init(&h, k, &err), OGQ_OK);
    float *col = malloc(sizeof(float) * (size_t)(k * positions));
    for (int64_t b = 0; b < batch; b++) {
        ogq_im2col_f32(&g, c, x + b * c * ih * iw, col);
        CU_ASSERT_EQUAL(ogq_hessian_add_cols(&h, col, positions, positions, &err), OGQ_OK);
    }
    ogq_hessian_finalize(&h);
    CU_ASSERT(max_rel_diff(h.h, ref, k * k) < TOL_REL);
    ogq_hessian_fini(&h);
    free(x), free(rows), free(ref), free(col);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("hessian", NULL, NULL);
    CU_add_test(s, "running mean, strided and transposed rows", test_running_mean_and_layouts);
    CU_add_test(s, "Conv im2col Hessian == direct patches", test_conv_hessian_matches_direct_patches);
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
