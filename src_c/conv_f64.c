/* conv_f64.c -- c, g and h of conv_kernels.h for double: conv_template.h over the double
 * GEMM. */
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "gemm.h"
#include "conv_kernels.h"

typedef double real;
#define gemm_packed mg_dgemm_packed
#define pack_a mg_dgemm_pack_a
#define packed_a_size mg_dgemm_packed_a_size
#define gemm_direct mg_dgemm_direct
#define gemm_direct_t mg_dgemm_direct_t
#define direct_pack_b mg_dgemm_direct_pack_b
#define direct_packed_b_size mg_dgemm_direct_packed_b_size
#include "conv_template.h"

int mg_conv2d_forward_f64(const mg_conv_shape *s, const double *x, const double *w,
                          const double *bias, double *y, int num_threads)
{
    return conv2d_forward(s, x, w, bias, y, num_threads);
}

int mg_conv2d_backward_input_f64(const mg_conv_shape *s, const double *dy, const double *w,
                                 double *dx, int num_threads)
{
    return conv2d_backward_input(s, dy, w, dx, num_threads);
}

int mg_conv2d_backward_weight_f64(const mg_conv_shape *s, const double *x, const double *dy,
                                  double *dw, int num_threads)
{
    return conv2d_backward_weight(s, x, dy, dw, num_threads);
}
