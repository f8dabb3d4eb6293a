#include "quant_grid.h"

#include <math.h>

void ogq_grid_opts_init(struct ogq_grid_opts *o)
{
    o->bits = 4;
    o->sym = false;
    o->mse = false;
    o->mse_norm = 2.4f;
    o->mse_grid = 100;
    o->mse_maxshrink = 0.8f;
}

/* Scale and zero for the range [xmin, xmax] (xmin <= 0 <= xmax). */
static void grid_from_range(const struct ogq_grid_opts *o, float xmin, float xmax, int maxq,
                            float *scale, float *zero)
{
    *scale = (xmax - xmin) / (float)maxq;
    *zero = o->sym ? (float)((maxq + 1) / 2) : rintf(-xmin / *scale);
}

void ogq_grid_find(const struct ogq_grid_opts *o, const float *x, int64_t n, int64_t stride,
                   float *scale, float *zero)
{
    int maxq = (1 << o->bits) - 1;
    float xmin = 0.0f, xmax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i * stride];
        if (v < xmin)
            xmin = v;
        if (v > xmax)
            xmax = v;
    }
    if (o->sym) {
        float m = fmaxf(fabsf(xmin), xmax);
        xmax = m;
        if (xmin < 0.0f)
            xmin = -m;
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    grid_from_range(o, xmin, xmax, maxq, scale, zero);
    if (!o->mse)
        return;
    /* Error in double: sums of n terms of |e|^2.4 lose ordering in float for large n. */
    double best = INFINITY;
    int steps = (int)(o->mse_maxshrink * (float)o->mse_grid);
    for (int i = 0; i < steps; i++) {
        float p = 1.0f - (float)i / (float)o->mse_grid;
        float s1, z1;
        grid_from_range(o, p * xmin, p * xmax, maxq, &s1, &z1);
        if (o->sym)
            z1 = *zero;
        double err = 0.0;
        for (int64_t k = 0; k < n; k++) {
            float v = x[k * stride];
            float q = ogq_grid_value(ogq_grid_code(v, s1, z1, maxq), s1, z1);
            err += pow(fabs((double)q - v), o->mse_norm);
        }
        if (err < best) {
            best = err;
            *scale = s1;
            *zero = z1;
        }
    }
}
