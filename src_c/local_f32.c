/* local_f32.c -- the locally connected / tiled kernels of local_kernels.h for float. */
#include <stdint.h>

typedef float real;
typedef int32_t lane_int;
#include "local_template.h"

void mg_local_pack_input_f32(const float *x, float *xp, ptrdiff_t n, ptrdiff_t np, ptrdiff_t c,
                             ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph, ptrdiff_t pw, int nt)
{
    ops()->pack_input(x, xp, n, np, c, h, w, ph, pw, nt);
}

void mg_local_unpack_input_f32(const float *xp, float *x, ptrdiff_t n, ptrdiff_t np,
                               ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph,
                               ptrdiff_t pw, int nt)
{
    ops()->unpack_input(xp, x, n, np, c, h, w, ph, pw, nt);
}

void mg_local_pack_output_f32(const float *y, float *yp, ptrdiff_t n, ptrdiff_t np,
                              ptrdiff_t c, ptrdiff_t P, int nt)
{
    ops()->pack_output(y, yp, n, np, c, P, nt);
}

void mg_local_unpack_output_f32(const float *yp, float *y, ptrdiff_t n, ptrdiff_t np,
                                ptrdiff_t c, ptrdiff_t P, int nt)
{
    ops()->unpack_output(yp, y, n, np, c, P, nt);
}

int mg_local_forward_f32(const float *xp, const float *w, const float *b, float *yp,
                         const mg_local_shape *s, int nt)
{
    return local_forward(xp, w, b, yp, s, nt);
}

int mg_local_grad_input_f32(const float *gyp, const float *w, float *gxp, const mg_local_shape *s,
                            int nt)
{
    return local_grad_input(gyp, w, gxp, s, nt);
}

int mg_local_grad_weight_f32(const float *gyp, const float *xp, float *gw, float *gb,
                             const mg_local_shape *s, int nt)
{
    return local_grad_weight(gyp, xp, gw, gb, s, nt);
}
