/* conv_f32.c -- c, g and h of conv_kernels.h for float: conv_template.h over the float
 * GEMM. */
#include <stdlib.h>
#include <string.h>

#include "mg_common.h"
#include "gemm.h"
#include "conv_kernels.h"

typedef float real;
#define gemm_packed mg_sgemm_packed
#define pack_a mg_sgemm_pack_a
#define packed_a_size mg_sgemm_packed_a_size
#define gemm_direct mg_sgemm_direct
#define gemm_direct_t mg_sgemm_direct_t
#define direct_pack_b mg_sgemm_direct_pack_b
#define direct_packed_b_size mg_sgemm_direct_packed_b_size
#include "conv_template.h"

int mg_conv2d_forward_f32(const mg_conv_shape *s, const float *x, const float *w,
                          const float *bias, float *y, int num_threads)
{
    return conv2d_forward(s, x, w, bias, y, num_threads);
}

int mg_conv2d_backward_input_f32(const mg_conv_shape *s, const float *dy, const float *w,
                                 float *dx, int num_threads)
{
    return conv2d_backward_input(s, dy, w, dx, num_threads);
}

int mg_conv2d_backward_weight_f32(const mg_conv_shape *s, const float *x, const float *dy,
                                  float *dw, int num_threads)
{
    return conv2d_backward_weight(s, x, dy, dw, num_threads);
}
