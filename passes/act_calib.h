/* act_calib.h — activation range calibration for static per-tensor activation quantization.
 *
 * An observer feeds every value of an activation tensor to an ogq_act_hist; memory is a
 * fixed histogram (OGQ_ACT_HIST_BINS bins) plus exact min/max, whatever the number of
 * samples. The histogram covers [-range, range) with range a power of two that doubles
 * (merging bin pairs) when a larger |x| arrives, so one pass suffices.
 *
 * Ranges (always widened to contain 0, so zero is exactly representable):
 *   minmax      exact [min, max] of everything seen;
 *   percentile  asym: [quantile(1 - p/100), quantile(p/100)]; sym: ±quantile_|x|(p/100);
 *   mse         the clip range minimising the expected squared quantization error
 *               (rounding inside, clipping outside) over the histogram;
 *   entropy     the range minimising KL(P‖Q) between the clipped reference distribution P
 *               and its quantized version Q (TensorRT-style), on |x| for symmetric or
 *               signed data, on x for non-negative data.
 * The quantized grid then follows ONNX QuantizeLinear: q = saturate(rint(x / scale) + zp)
 * with uint8 (asym: scale = (hi - lo) / 255, zp = rint(-lo / scale)) or int8 (sym:
 * scale = max(|lo|, |hi|) / 127, zp = 0).
 */
#ifndef OGQ_ACT_CALIB_H
#define OGQ_ACT_CALIB_H

#include <stdbool.h>
#include <stdint.h>

#include "util/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OGQ_ACT_HIST_BINS 4096

enum ogq_act_calib_method {
    OGQ_ACT_MINMAX = 0,
    OGQ_ACT_PERCENTILE,
    OGQ_ACT_MSE,
    OGQ_ACT_ENTROPY,
};

struct ogq_act_hist {
    double min, max;   /* exact, of the finite values seen */
    double range;      /* bins cover [-range, range); 0 until the first non-zero value */
    double *counts;    /* OGQ_ACT_HIST_BINS, owned */
    int64_t n;         /* finite values seen */
    int64_t nonfinite; /* NaN/Inf values seen (ignored) */
};

enum ogq_status ogq_act_hist_init(struct ogq_act_hist *h, struct ogq_error *err);
void ogq_act_hist_fini(struct ogq_act_hist *h);
void ogq_act_hist_add(struct ogq_act_hist *h, const float *x, int64_t n);

/* Quantization parameters of one activation tensor. */
struct ogq_act_qparams {
    int bits;        /* 8 */
    bool sym;        /* int8 with zp 0; else uint8 */
    float lo, hi;    /* calibrated clip range (contains 0) */
    float scale;     /* > 0 */
    int32_t zero_point;
    int32_t qmin, qmax; /* storage range: 0..255 or -128..127 */
};

/* Range from the histogram and the grid for it. `percentile` is used by
 * OGQ_ACT_PERCENTILE only (in (0, 100], e.g. 99.99). Fails with OGQ_ERR_USAGE for bad
 * arguments; an empty or all-zero histogram gives the range [0, 1] (any scale is exact). */
enum ogq_status ogq_act_calibrate(const struct ogq_act_hist *h, enum ogq_act_calib_method m,
                                  double percentile, int bits, bool sym,
                                  struct ogq_act_qparams *out, struct ogq_error *err);

/* Grid for an explicit range (widened to contain 0). */
void ogq_act_qparams_from_range(double lo, double hi, int bits, bool sym,
                                struct ogq_act_qparams *out);

/* QuantizeLinear then DequantizeLinear, as ONNX defines them (x / scale in float, round
 * half to even, saturate): y may alias x. */
void ogq_act_fake_quant(const struct ogq_act_qparams *p, const float *x, float *y, int64_t n);

/* d = fakequant(x) - x (the GAQ direction: the student sees x + q·d). */
void ogq_act_quant_delta(const struct ogq_act_qparams *p, const float *x, float *d, int64_t n);

const char *ogq_act_calib_method_name(enum ogq_act_calib_method m); /* "minmax", ... */
bool ogq_act_calib_method_parse(const char *s, enum ogq_act_calib_method *m);

#ifdef __cplusplus
}
#endif

#endif
