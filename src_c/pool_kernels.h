/* Pooling kernels (max, average, Lp, max-unpooling), forward and backward.
 *
 * Layout: the input is P = N*C independent planes of H x W values (NCHW,
 * C-contiguous); every output plane is OH x OW.  A pooling window is described
 * separately along each axis (mg_pool_axis), because every pooling here is a
 * product of a row window and a column window -- which is what lets the kernels
 * work in two cheap, vectorizable passes (down the rows, then along a row).
 *
 * Indices (max pooling, unpooling) are int64 flat positions inside one plane,
 * h * W + w, as in PyTorch.
 *
 * Every function takes its OpenMP thread count as `nt` and returns MG_OK, or the
 * status flags of mg_common.h it met: MG_ENOMEM (a thread's row buffers could not be
 * allocated), MG_EINDEX (an index out of range, skipped); they never write outside
 * their buffers. Work and memory are bounded by the input and output sizes: the
 * per-thread buffers hold a few input rows, whatever the kernel size or stride.
 *
 * Deviations from PyTorch, by design (the ops' docstrings say so too):
 * - max pooling: a window holding NaN names its FIRST NaN (row-major) as the argmax;
 *   PyTorch names the last. Ties between equal numbers go to the first element in
 *   row-major order, in every configuration (padding, dilation, ceil_mode, overlapping
 *   windows, adaptive windows).
 * - max unpooling with repeated indices: the forward keeps the later input, and the
 *   backward sends the gradient only to that input (the true derivative); PyTorch
 *   gathers the gradient for every duplicate.
 * - Lp pooling, p != 1: where a whole window is zero (y = 0) the gradient
 *   x^(p-1) y^(1-p) is 0/0; it is taken as 0 (the minimum-norm subgradient), never NaN.
 *   p = 1 is the plain window sum, whose gradient is 1 for every element, an all-zero
 *   window included; PyTorch's formula (through sign(0) = 0) gives 0 there.
 * - a window that covers only padding is refused by the wrapper (it would have no
 *   element to take a maximum or an average of); PyTorch allows some such windows.
 */
#include "mg_common.h"
#ifndef MG_POOL_KERNELS_H
#define MG_POOL_KERNELS_H

#include <stdint.h>

/* One axis of a pooling geometry: output o reads the inputs
 *     start[o] + t * step,  t = 0 .. count[o]-1
 * which are exactly the taps of its window that fall inside the input
 * (padding taps are already dropped).  For a sliding window (regular = 1)
 * the full window of output o, padding included, is
 *     o * stride - pad + t * step,  t = 0 .. k-1,
 * which the forward kernels use to run one branch-free loop over a padded
 * row; adaptive windows (regular = 0) vary in size and only have start/count. */
typedef struct {
    int n_out;
    const int32_t *start;
    const int32_t *count;
    int step;
    int regular;
    int stride, k, pad;
} mg_pool_axis;


/* ---- max pooling --------------------------------------------------------
 * y[p, oh, ow] = max over the window of x[p, ., .]; NaN wins over numbers
 * (propagates).  Ties go to the first element in row-major order, NaNs to
 * the first NaN.  yi (may be NULL) receives the flat index of that element. */
int mg_max_pool2d_fwd_f32(const float *x, float *y, int64_t *yi, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, int nt);
int mg_max_pool2d_fwd_f64(const double *x, double *y, int64_t *yi, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols, int nt);

/* gx = 0; gx[p, yi[p, o]] += gy[p, o].  Returns MG_EINDEX (and skips the
 * element) if an index is outside [0, H*W). */
int mg_max_pool2d_bwd_f32(const float *gy, const int64_t *yi, float *gx, int64_t P,
                          int64_t n_out, int64_t n_in, int nt);
int mg_max_pool2d_bwd_f64(const double *gy, const int64_t *yi, double *gx, int64_t P,
                          int64_t n_out, int64_t n_in, int nt);

/* ---- average / Lp pooling ----------------------------------------------
 * y[p, oh, ow] = (sum over the window of f(x)) * rfac[oh] * cfac[ow], then
 * for Lp: y = y^(1/p).  f(x) = x for average pooling, x^p for Lp pooling
 * (norm_p > 0; norm_p == 0 means plain average).  The caller folds the
 * divisor (count_include_pad, divisor_override, the Lp window size) into the
 * per-row and per-column factors, since every such divisor is a product of a
 * row part and a column part. */
int mg_sum_pool2d_fwd_f32(const float *x, float *y, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols,
                          const float *rfac, const float *cfac, double norm_p, int nt);
int mg_sum_pool2d_fwd_f64(const double *x, double *y, int64_t P, int H, int W,
                          const mg_pool_axis *rows, const mg_pool_axis *cols,
                          const double *rfac, const double *cfac, double norm_p, int nt);

/* Backward of the above.  Average (norm_p == 0): gx[i] = sum over windows w
 * containing i of gy[w] * rfac * cfac.  Lp: gx[i] = x[i]^(p-1) * sum over
 * windows of gy[w] * rfac * cfac * y[w]^(1-p), with the window's term taken
 * as 0 where y[w] == 0 (an all-zero window: the subgradient 0, not NaN).
 * x and y are only read for Lp (may be NULL for average). */
int mg_sum_pool2d_bwd_f32(const float *gy, const float *x, const float *y, float *gx, int64_t P,
                          int H, int W, const mg_pool_axis *rows, const mg_pool_axis *cols,
                          const float *rfac, const float *cfac, double norm_p, int nt);
int mg_sum_pool2d_bwd_f64(const double *gy, const double *x, const double *y, double *gx,
                          int64_t P, int H, int W, const mg_pool_axis *rows,
                          const mg_pool_axis *cols, const double *rfac, const double *cfac,
                          double norm_p, int nt);

/* ---- max unpooling ------------------------------------------------------
 * Forward: y = 0; y[p, idx[p, k]] = x[p, k] (n_in values per plane into a plane
 * of n_out; when indices repeat, the later input wins).  Backward:
 * gx[p, k] = gy[p, idx[p, k]] for the input that won, 0 for the overwritten
 * ones -- the exact derivative.  An index outside
 * [0, n_out) is skipped and reported as MG_EINDEX. */
int mg_max_unpool_fwd_f32(const float *x, const int64_t *idx, float *y, int64_t P,
                          int64_t n_in, int64_t n_out, int nt);
int mg_max_unpool_fwd_f64(const double *x, const int64_t *idx, double *y, int64_t P,
                          int64_t n_in, int64_t n_out, int nt);
int mg_max_unpool_bwd_f32(const float *gy, const int64_t *idx, float *gx, int64_t P,
                          int64_t n_in, int64_t n_out, int nt);
int mg_max_unpool_bwd_f64(const double *gy, const int64_t *idx, double *gx, int64_t P,
                          int64_t n_in, int64_t n_out, int nt);

#endif /* MG_POOL_KERNELS_H */
