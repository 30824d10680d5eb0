/* pool_f32.c -- the pooling kernels of pool_kernels.h for float. */

/* Two code-generation switches for this file only:
 * - no-wrapv: Python's build flags (sysconfig CFLAGS) add -fwrapv, which makes signed
 *   overflow defined, so GCC can no longer prove that index arithmetic like o * s + t * d
 *   does not wrap and gives up vectorizing those loops (measured 2.5x slower). No index
 *   here can overflow: the wrapper checks that a plane has fewer than 2^31 elements.
 * - no-trapping-math: floating-point exceptions are never inspected here, so GCC may
 *   assume comparisons do not trap; it then if-converts (and vectorizes) the max loops
 *   that pick a value and its index with two conditions in a row. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-wrapv")
#endif

typedef float real;
#define POW powf
#define SQRT sqrtf
#include "pool_template.h"

int mg_max_pool2d_fwd_f32(const float *x, float *y, int64_t *yi, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, int nt)
{
    return max_pool2d_fwd(x, y, yi, P, H, W, rows, cols, nt);
}

int mg_max_pool2d_bwd_f32(const float *gy, const int64_t *yi, float *gx, int64_t P,
                          int64_t n_out, int64_t n_in, int nt)
{
    return max_pool2d_bwd(gy, yi, gx, P, n_out, n_in, nt);
}

int mg_sum_pool2d_fwd_f32(const float *x, float *y, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols,
                          const float *rfac, const float *cfac, double norm_p, int nt)
{
    return sum_pool2d_fwd(x, y, P, H, W, rows, cols, rfac, cfac, norm_p, nt);
}

int mg_sum_pool2d_bwd_f32(const float *gy, const float *x, const float *y, float *gx, int64_t P,
                          int H, int W, const mg_pool_axis *rows, const mg_pool_axis *cols,
                          const float *rfac, const float *cfac, double norm_p, int nt)
{
    return sum_pool2d_bwd(gy, x, y, gx, P, H, W, rows, cols, rfac, cfac, norm_p, nt);
}

int mg_max_unpool_fwd_f32(const float *x, const int64_t *idx, float *y, int64_t P,
                          int64_t n_in, int64_t n_out, int nt)
{
    return max_unpool_fwd(x, idx, y, P, n_in, n_out, nt);
}

int mg_max_unpool_bwd_f32(const float *gy, const int64_t *idx, float *gx, int64_t P,
                          int64_t n_in, int64_t n_out, int nt)
{
    return max_unpool_bwd(gy, idx, gx, P, n_in, n_out, nt);
}
