/* Locally connected (unshared) and tiled convolution: forward, grad-input,
 * grad-weight/bias, float32 and float64.
 *
 * The book (Goodfellow, Bengio, Courville, Deep Learning, ch. 9) writes both as
 *
 *   locally connected, eq. 9.9:  Z[i,j,k] = sum_{l,m,n} V[l, j*s+m, k*s+n] W[i,j,k,l,m,n]
 *   tiled,             eq. 9.10: Z[i,j,k] = sum_{l,m,n} V[l, j*s+m, k*s+n] K[i, j%t_h, k%t_w, l,m,n]
 *
 * (0-based indices, V the zero-padded input).  One family of kernels serves
 * both: the weight has shape (C_out, T_h, T_w, C_in, kH, kW) and output
 * location (j, k) uses kernel (j mod T_h, k mod T_w).  Locally connected is the
 * case T = output size (then j mod T_h = j), so the identity "tiled with t =
 * output size is locally connected" holds by construction.
 *
 * Data layout.  The kernels work on "batch-innermost" arrays: the padded input
 * X'[c][h][w][n] with n running over the batch padded with zeros to a multiple
 * of one SIMD vector (MG_LOCAL_BATCH_ALIGN elements).  Then every inner product
 * of eq. 9.9 runs over whole vectors of images at once, the only reuse a
 * locally connected layer has (each weight meets each image exactly once).
 * The output and its gradient are packed location-major, Y'[p][co][n], so
 * that the channels of one location are adjacent.  mg_local_pack_* and
 * mg_local_unpack_* convert from and to NCHW.
 */
#ifndef MG_LOCAL_KERNELS_H
#define MG_LOCAL_KERNELS_H

#include <stddef.h>

/* Batch lanes per vector: the packed batch size is a multiple of this. */
#define MG_LOCAL_VEC_BYTES 64
#define MG_LOCAL_BATCH_ALIGN_F32 (MG_LOCAL_VEC_BYTES / 4)
#define MG_LOCAL_BATCH_ALIGN_F64 (MG_LOCAL_VEC_BYTES / 8)

typedef struct {
    ptrdiff_t n, n_pad;         /* batch, batch padded to the vector width */
    ptrdiff_t c_in, h, w;       /* input (unpadded) */
    ptrdiff_t ph, pw;           /* zero padding on each side */
    ptrdiff_t hp, wp;           /* padded input: h + 2 ph, w + 2 pw */
    ptrdiff_t kh, kw, sh, sw;   /* kernel size and stride */
    ptrdiff_t c_out, h_out, w_out;
    ptrdiff_t th, tw;           /* kernel tiles (th = h_out, tw = w_out: locally connected) */
} mg_local_shape;

/* Layout conversions (all parallel, SIMD tile transposes):
 *   pack_input:    x (n, c, h, w)  ->  X' (c, h + 2ph, w + 2pw, np), zeros in the padding
 *                  and in the lanes >= n
 *   unpack_input:  X' -> x, the interior and lanes < n
 *   pack_output:   y (n, c, P)  ->  Y' (P, c, np), P = h_out * w_out
 *   unpack_output: Y' -> y */
void mg_local_pack_input_f32(const float *x, float *xp, ptrdiff_t n, ptrdiff_t np, ptrdiff_t c,
                             ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph, ptrdiff_t pw, int nt);
void mg_local_pack_input_f64(const double *x, double *xp, ptrdiff_t n, ptrdiff_t np,
                             ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph, ptrdiff_t pw,
                             int nt);
void mg_local_unpack_input_f32(const float *xp, float *x, ptrdiff_t n, ptrdiff_t np,
                               ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph,
                               ptrdiff_t pw, int nt);
void mg_local_unpack_input_f64(const double *xp, double *x, ptrdiff_t n, ptrdiff_t np,
                               ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph,
                               ptrdiff_t pw, int nt);
void mg_local_pack_output_f32(const float *y, float *yp, ptrdiff_t n, ptrdiff_t np,
                              ptrdiff_t c, ptrdiff_t P, int nt);
void mg_local_pack_output_f64(const double *y, double *yp, ptrdiff_t n, ptrdiff_t np,
                              ptrdiff_t c, ptrdiff_t P, int nt);
void mg_local_unpack_output_f32(const float *yp, float *y, ptrdiff_t n, ptrdiff_t np,
                                ptrdiff_t c, ptrdiff_t P, int nt);
void mg_local_unpack_output_f64(const double *yp, double *y, ptrdiff_t n, ptrdiff_t np,
                                ptrdiff_t c, ptrdiff_t P, int nt);

/* Forward.  xp: packed input (c_in, hp, wp, np); w: (c_out, th, tw, c_in, kh, kw);
 * b: (c_out, th, tw) or NULL; yp (out): (h_out * w_out, c_out, np).
 * Returns MG_OK, or MG_ENOMEM (mg_common.h) when its tap table cannot be allocated. */
int mg_local_forward_f32(const float *xp, const float *w, const float *b, float *yp,
                         const mg_local_shape *s, int num_threads);
int mg_local_forward_f64(const double *xp, const double *w, const double *b, double *yp,
                         const mg_local_shape *s, int num_threads);

/* Gradient w.r.t. the packed input.  gyp: (h_out * w_out, c_out, np);
 * gxp (out, overwritten): (c_in, hp, wp, np), padding included. */
int mg_local_grad_input_f32(const float *gyp, const float *w, float *gxp,
                            const mg_local_shape *s, int num_threads);
int mg_local_grad_input_f64(const double *gyp, const double *w, double *gxp,
                            const mg_local_shape *s, int num_threads);

/* Gradients w.r.t. the weight gw (c_out, th, tw, c_in, kh, kw) and the bias
 * gb (c_out, th, tw); either may be NULL to skip it.  Both are overwritten. */
int mg_local_grad_weight_f32(const float *gyp, const float *xp, float *gw, float *gb,
                             const mg_local_shape *s, int num_threads);
int mg_local_grad_weight_f64(const double *gyp, const double *xp, double *gw, double *gb,
                             const mg_local_shape *s, int num_threads);

#endif /* MG_LOCAL_KERNELS_H */
