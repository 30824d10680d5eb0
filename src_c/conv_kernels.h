/* conv_kernels.h -- the book's three convolution operations (Goodfellow et al., ch. 9).
 *
 * With V the input (batch, C_in, H, W), K the kernel (C_out, C_in/groups, kH, kW) and
 * Z the output (batch, C_out, H_out, W_out):
 *
 *   c  forward (eq. 9.8, with padding p, dilation d and stride s):
 *        Z[n,i,y,x] = sum_{l,m,k} K[i,l,m,k] V[n, g(i)*C_in/groups + l, y*s_h - p_t + m*d_h,
 *                                                                     x*s_w - p_l + k*d_w]
 *      (positions outside the input read as zero)
 *   g  kernel gradient (eq. 9.11):   dK[i,l,m,k] = sum_{n,y,x} G[n,i,y,x] V[n, ..., same index]
 *   h  input gradient  (eq. 9.13):   dV[n,c,a,b] = sum over every (i,m,k,y,x) whose tap lands
 *                                    on (c,a,b) of K[i,l,m,k] G[n,i,y,x]
 *      h is also the transpose convolution: conv_transpose(X, K) = h(K, X).
 *
 * 1-d convolution is the 2-d case with H = kH = 1.
 *
 * Algorithm (im2col, made implicit): per image, the input unfolded into columns (one row
 * per kernel tap (l, m, k), one column per output position) turns each group's c into a
 * GEMM, and g and h too:
 *     c: Z_g = K_g . cols_g      g: dK_g += G_g . cols_g^T      h: cols_g = K_g^T . G_g
 * followed for h by col2im (the columns folded back onto the image, overlapping taps
 * summed). The column matrix of c and g is never written out: the image is copied once
 * into a zero-padded buffer and the GEMM's packing step gathers its panels straight from
 * it (gemm.h, caller-packed B). The weights are packed once per call.
 *
 * Threads: images are independent; threads take them one at a time, each with its own
 * buffers allocated once per call. When there are fewer images than threads, the
 * threads share each image's GEMMs instead. g sums over the batch in a fixed number of
 * contiguous chunks (each in image order), added in chunk order. Every output element is
 * therefore computed by the same operations in the same order whatever the thread count:
 * results are bitwise identical across thread counts and runs.
 *
 * The caller (src_c/conv.pyx) has validated every size; these functions trust them.
 * They return MG_OK, or MG_ENOMEM (mg_common.h) when a workspace could not be allocated.
 */
#ifndef MG_CONV_KERNELS_H
#define MG_CONV_KERNELS_H

#include <stddef.h>

typedef struct {
    ptrdiff_t batch;
    ptrdiff_t c_in, h_in, w_in;    /* input V */
    ptrdiff_t c_out, h_out, w_out; /* output Z */
    ptrdiff_t kh, kw;              /* kernel taps */
    ptrdiff_t sh, sw;              /* stride */
    ptrdiff_t pt, pl;              /* zero padding before the first row / column; the
                                      padding after is implied by h_out, w_out */
    ptrdiff_t dh, dw;              /* dilation: distance between taps */
    ptrdiff_t groups;
} mg_conv_shape;

/* c: y = conv(x, w) (+ bias[c_out] when bias != NULL) */
int mg_conv2d_forward_f32(const mg_conv_shape *s, const float *x, const float *w,
                          const float *bias, float *y, int num_threads);
int mg_conv2d_forward_f64(const mg_conv_shape *s, const double *x, const double *w,
                          const double *bias, double *y, int num_threads);

/* h: dx = gradient of sum(dy * conv(x, w)) with respect to x (dx is overwritten) */
int mg_conv2d_backward_input_f32(const mg_conv_shape *s, const float *dy, const float *w,
                                 float *dx, int num_threads);
int mg_conv2d_backward_input_f64(const mg_conv_shape *s, const double *dy, const double *w,
                                 double *dx, int num_threads);

/* g: dw = gradient of sum(dy * conv(x, w)) with respect to w (dw is overwritten) */
int mg_conv2d_backward_weight_f32(const mg_conv_shape *s, const float *x, const float *dy,
                                  float *dw, int num_threads);
int mg_conv2d_backward_weight_f64(const mg_conv_shape *s, const double *x, const double *dy,
                                  double *dw, int num_threads);

#endif /* MG_CONV_KERNELS_H */
