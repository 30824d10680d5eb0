/* local_f64.c -- the locally connected / tiled kernels of local_kernels.h for double. */
#include <stdint.h>

typedef double real;
typedef int64_t lane_int;
#include "local_template.h"

void mg_local_pack_input_f64(const double *x, double *xp, ptrdiff_t n, ptrdiff_t np, ptrdiff_t c,
                             ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph, ptrdiff_t pw, int nt)
{
    ops()->pack_input(x, xp, n, np, c, h, w, ph, pw, nt);
}

void mg_local_unpack_input_f64(const double *xp, double *x, ptrdiff_t n, ptrdiff_t np,
                               ptrdiff_t c, ptrdiff_t h, ptrdiff_t w, ptrdiff_t ph,
                               ptrdiff_t pw, int nt)
{
    ops()->unpack_input(xp, x, n, np, c, h, w, ph, pw, nt);
}

void mg_local_pack_output_f64(const double *y, double *yp, ptrdiff_t n, ptrdiff_t np,
                              ptrdiff_t c, ptrdiff_t P, int nt)
{
    ops()->pack_output(y, yp, n, np, c, P, nt);
}

void mg_local_unpack_output_f64(const double *yp, double *y, ptrdiff_t n, ptrdiff_t np,
                                ptrdiff_t c, ptrdiff_t P, int nt)
{
    ops()->unpack_output(yp, y, n, np, c, P, nt);
}

int mg_local_forward_f64(const double *xp, const double *w, const double *b, double *yp,
                         const mg_local_shape *s, int nt)
{
    return local_forward(xp, w, b, yp, s, nt);
}

int mg_local_grad_input_f64(const double *gyp, const double *w, double *gxp, const mg_local_shape *s,
                            int nt)
{
    return local_grad_input(gyp, w, gxp, s, nt);
}

int mg_local_grad_weight_f64(const double *gyp, const double *xp, double *gw, double *gb,
                             const mg_local_shape *s, int nt)
{
    return local_grad_weight(gyp, xp, gw, gb, s, nt);
}
